//! An experiment's report, made once every run has ended: each DONE run's `results.json`
//! (`metrics.json`: its validation score, test Sharpe, bars per year) and `walk.csv` (its test
//! walk's per-bar returns) are read, and `skippy_eval::experiment` chooses a configuration per
//! fold on validation, stitches the folds and reports (see there). Written as the experiment's
//! artifacts: `experiment.json`, `walk_forward.svg` and `seeds.svg`.

use std::io;

use skippy_eval::EvalConfig;
use skippy_eval::experiment::{ExperimentInput, RunInput, RunOutcome, parse_walk_csv};

use crate::experiment::ExperimentRecord;
use crate::job::{ArtifactRecord, JobState};
use crate::scheduler::RunView;
use crate::store::JobStore;

/// The report's file.
pub const REPORT: &str = "experiment.json";
/// The stitched out-of-sample equity chart.
pub const WALK_FORWARD_SVG: &str = "walk_forward.svg";
/// The strip plot of test Sharpe per seed per fold.
pub const SEEDS_SVG: &str = "seeds.svg";

/// What making a report left.
#[derive(Debug, Clone)]
pub struct Made {
    /// Whether a stitched result could be reported (else the experiment is FAILED).
    pub reported: bool,
    /// The verdict line, or why nothing could be reported.
    pub verdict: String,
    /// Whether the edge survives seeds, folds and configurations.
    pub edge_survives: bool,
    /// The configuration chosen on the latest fold's validation, if any run of it finished.
    pub latest_choice: Option<usize>,
    /// The files written.
    pub artifacts: Vec<ArtifactRecord>,
}

/// Reads the runs' files, makes the report and writes its files.
///
/// # Errors
/// Only a failure to write the report's files; a run whose files cannot be read is reported as
/// a missing cell.
pub fn make(store: &JobStore, record: &ExperimentRecord, runs: &[RunView]) -> io::Result<Made> {
    let mut bars_per_year = None;
    let mut inputs = Vec::with_capacity(runs.len());
    for view in runs {
        let run = &view.run;
        let (outcome, unreadable) = match (view.state == JobState::Done).then(|| read_outcome(store, &run.job_id)) {
            Some(Ok((outcome, bpy))) => {
                bars_per_year.get_or_insert(bpy);
                (Some(outcome), None)
            }
            Some(Err(why)) => {
                tracing::warn!(experiment_id = %record.id, job_id = %run.job_id, "a finished run's results cannot be read: {why}");
                (None, Some(why))
            }
            None => (None, None),
        };
        inputs.push(RunInput {
            job_id: run.job_id.clone(),
            config: run.config as usize,
            seed_index: run.seed_index as usize,
            seed: run.seed,
            fold: run.fold as usize,
            state: view.state.name().to_string(),
            outcome,
            unreadable,
        });
    }
    let input = ExperimentInput {
        experiment_id: record.id.clone(),
        configs: record.configs.clone(),
        seeds: record.request.seeds as usize,
        folds: record.request.folds as usize,
        bars_per_year: bars_per_year.unwrap_or(365.0),
        runs: inputs,
    };
    let cfg = EvalConfig { seed: record.request.base.seed.unwrap_or(0), ..EvalConfig::new(input.bars_per_year) };
    let report = skippy_eval::experiment::experiment_report(&input, &cfg);
    let mut json = serde_json::to_vec_pretty(&report).map_err(io::Error::other)?;
    json.push(b'\n');
    let mut artifacts = vec![store.write_experiment_artifact(&record.id, REPORT, &json)?];
    if report.stitched.is_some() {
        let walk = skippy_eval::experiment::walk_forward_svg(&input, &report);
        artifacts.push(store.write_experiment_artifact(&record.id, WALK_FORWARD_SVG, walk.as_bytes())?);
    }
    let strip = skippy_eval::experiment::seeds_strip_svg(&report);
    artifacts.push(store.write_experiment_artifact(&record.id, SEEDS_SVG, strip.as_bytes())?);
    Ok(Made {
        reported: report.stitched.is_some(),
        verdict: report.verdict.clone(),
        edge_survives: report.edge_survives,
        latest_choice: report.per_fold.last().and_then(|f| f.chosen_config),
        artifacts,
    })
}

/// A DONE run's outcome and its bars per year, or why its files cannot be read: the file, and
/// the field or what reading it said.
fn read_outcome(store: &JobStore, job_id: &str) -> Result<(RunOutcome, f64), String> {
    // The trainer's `metrics.json`, kept as the job's `results.json`.
    let text = store.read_results(job_id).map_err(|e| format!("metrics.json: {e}"))?;
    if text.trim().is_empty() {
        return Err("metrics.json is missing (the job has no results.json)".into());
    }
    let metrics: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("metrics.json: {e}"))?;
    let number = |path: &str| {
        let pointer = format!("/{}", path.replace('.', "/"));
        match metrics.pointer(&pointer) {
            Some(v) => v.as_f64().ok_or_else(|| format!("metrics.json: {path} is {v}, not a number")),
            None => Err(format!("metrics.json: {path} is missing")),
        }
    };
    let validation_sharpe = number("kept_model_validation_sharpe")?;
    let test_sharpe = number("evaluation.portfolio.strategy.sharpe")?;
    let buy_and_hold_sharpe = number("evaluation.portfolio.buy_and_hold.sharpe")?;
    let bars_per_year = number("evaluation.bars_per_year")?;
    let walk_path = store.artifact_path(job_id, "walk.csv").ok_or("walk.csv: not a valid artifact path")?;
    let walk = std::fs::read_to_string(&walk_path)
        .map_err(|e| format!("walk.csv: {e}"))
        .and_then(|t| parse_walk_csv(&t).map_err(|e| format!("walk.csv: {e}")))?;
    Ok((RunOutcome { validation_sharpe, test_sharpe, buy_and_hold_sharpe, walk }, bars_per_year))
}
