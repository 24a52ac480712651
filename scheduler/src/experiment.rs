//! An experiment: one base spec trained with each configuration of a grid, each seed and each
//! walk-forward fold. Its runs are ordinary jobs tagged with their [`Cell`]; this module holds
//! the record persisted as `runs/experiments/<id>/manifest.json`, its ids, and the plan of its
//! runs ([`plan`]): what each run's spec is. The scheduler's side (creation, recovery,
//! cancellation, the report when every run has ended) is `scheduler::experiments`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::job::{ArtifactRecord, SubmittedSpec};

/// Seeds per configuration and fold when the request names none.
pub const DEFAULT_SEEDS: u32 = 5;
/// Walk-forward folds when the request names none.
pub const DEFAULT_FOLDS: u32 = 4;
/// Most seeds an experiment may ask for.
pub const MAX_SEEDS: u32 = 64;
/// Most axes of a grid.
pub const MAX_AXES: usize = 8;
/// Most values of one axis.
pub const MAX_VALUES: usize = 32;
/// Most runs (configurations × seeds × folds) of one experiment.
pub const MAX_RUNS: usize = 4096;

/// Overrides the experiment sets on each run itself: a request may not.
const RESERVED_PATHS: [&str; 3] = ["split.folds", "split.fold", "seed"];

/// A new experiment id: `ex_<unix-seconds>_<8 lowercase hex>`.
pub fn new_experiment_id() -> String {
    crate::job::new_id("ex")
}

/// Whether `id` has the experiment id shape (so it is safe as a directory name).
pub fn is_valid_experiment_id(id: &str) -> bool {
    crate::job::is_valid_id("ex", id)
}

/// Where a run sits in its experiment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    /// The experiment.
    pub experiment_id: String,
    /// Index of the configuration.
    pub config: u32,
    /// Index of the seed.
    pub seed_index: u32,
    /// The walk-forward fold.
    pub fold: u32,
}

/// Where an experiment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExperimentState {
    /// Some runs have not ended.
    Running,
    /// Every run has ended and the report is written.
    Done,
    /// Cancelled by a client.
    Cancelled,
    /// Every run has ended and no report could be made.
    Failed,
}

impl ExperimentState {
    /// Whether it has ended.
    pub fn is_terminal(self) -> bool {
        self != ExperimentState::Running
    }
}

/// A setting tried over several values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Axis {
    /// The `--set` path.
    pub path: String,
    /// Its values, as the overrides' text.
    pub values: Vec<String>,
}

/// What a client asked for, checked (the base's seed filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentRequest {
    /// The job every run starts from; `seed` is the first seed.
    pub base: SubmittedSpec,
    /// Seeds per configuration and fold.
    pub seeds: u32,
    /// Walk-forward folds.
    pub folds: u32,
    /// The grid.
    pub grid: Vec<Axis>,
    /// Queue the champion candidate once reported with an edge that survives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

/// An experiment's champion candidate: the configuration chosen on the latest fold's
/// validation, trained once per seed on the lineage's own split (the base's, one fold) as
/// ordinary jobs, which join the lineage and are ranked on validation as any job is. Recorded
/// with the experiment's end, before its jobs are journaled: until it is marked `queued`,
/// start-up queues any job it names that the store does not hold, as for runs (once queued, a
/// job the store lacks was removed by retention, and stays removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The configuration's index.
    pub config: u32,
    /// Its jobs and their seeds (none when nothing was queued).
    pub runs: Vec<CandidateRun>,
    /// What was done and why.
    pub note: String,
    /// Whether every job of it has been journaled.
    #[serde(default)]
    pub queued: bool,
}

/// One job of a champion candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateRun {
    /// Its job.
    pub job_id: String,
    /// The seed it trains with.
    pub seed: u64,
}

/// One run of the plan: its job and cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Its job.
    pub job_id: String,
    /// Index of the configuration.
    pub config: u32,
    /// Index of the seed.
    pub seed_index: u32,
    /// The seed.
    pub seed: u64,
    /// The walk-forward fold.
    pub fold: u32,
    /// How its job ended, recorded once the experiment has ended and every run with it: what
    /// the experiment shows of the run after retention removed the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<RunEnd>,
}

/// How a run's job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEnd {
    /// DONE, FAILED or CANCELLED.
    pub state: crate::job::JobState,
    /// Steps it trained.
    pub steps_done: u64,
    /// Steps it was asked for.
    pub total_steps: u64,
}

/// An experiment as stored (`runs/experiments/<id>/manifest.json`). Written before its runs
/// are journaled: it is the commit point of the creation, and start-up queues any run it names
/// that the store does not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentRecord {
    /// `ex_<unix-seconds>_<8 hex>`.
    pub id: String,
    /// As asked for.
    pub request: ExperimentRequest,
    /// The configurations: overrides each adds to the base.
    pub configs: Vec<BTreeMap<String, String>>,
    /// Every run, by configuration, then seed, then fold.
    pub runs: Vec<RunRecord>,
    /// Where it is.
    pub state: ExperimentState,
    /// Created (unix ms).
    pub created_ms: i64,
    /// Ended (unix ms; 0 while running).
    pub finished_ms: i64,
    /// The report's verdict line ("" before the report).
    #[serde(default)]
    pub verdict: String,
    /// Why no report was made, for FAILED.
    #[serde(default)]
    pub error: String,
    /// The report's files (`experiment.json`, plots).
    #[serde(default)]
    pub artifacts: Vec<ArtifactRecord>,
    /// The champion candidate, once reported, when the request asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Candidate>,
}

impl ExperimentRecord {
    /// A new experiment's record: running, nothing ended or reported yet.
    pub fn new(
        id: String,
        request: ExperimentRequest,
        configs: Vec<BTreeMap<String, String>>,
        runs: Vec<RunRecord>,
        created_ms: i64,
    ) -> ExperimentRecord {
        ExperimentRecord {
            id,
            request,
            configs,
            runs,
            state: ExperimentState::Running,
            created_ms,
            finished_ms: 0,
            verdict: String::new(),
            error: String::new(),
            artifacts: Vec::new(),
            candidate: None,
        }
    }

    /// The run's cell.
    pub fn cell(&self, run: &RunRecord) -> Cell {
        Cell { experiment_id: self.id.clone(), config: run.config, seed_index: run.seed_index, fold: run.fold }
    }

    /// The spec run `run` submits: the base with its configuration's settings, its seed and,
    /// with several folds, its fold. No idempotency key (the experiment has it).
    pub fn run_spec(&self, run: &RunRecord) -> SubmittedSpec {
        let mut spec = self.request.base.clone();
        spec.idempotency_key.clear();
        spec.seed = Some(run.seed);
        if let Some(settings) = self.configs.get(run.config as usize) {
            spec.overrides.extend(settings.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if self.request.folds > 1 {
            spec.overrides.insert("split.folds".into(), self.request.folds.to_string());
            spec.overrides.insert("split.fold".into(), run.fold.to_string());
        }
        spec
    }

    /// The spec a job of the champion candidate submits: the base with configuration
    /// `config`'s settings and `seed`, on the base's own split (no fold: the settings of
    /// walk-forward folds, `split.folds`, `split.fold` and `split.oos_fraction`, are left out).
    pub fn candidate_spec(&self, config: u32, seed: u64) -> SubmittedSpec {
        let mut spec = self.request.base.clone();
        spec.idempotency_key.clear();
        spec.seed = Some(seed);
        if let Some(settings) = self.configs.get(config as usize) {
            spec.overrides.extend(settings.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        spec.overrides.retain(|k, _| !matches!(k.as_str(), "split.folds" | "split.fold" | "split.oos_fraction"));
        spec
    }
}

/// Why an experiment request is refused; each names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Seeds out of range.
    #[error("seeds = {0} is out of range: 1..={MAX_SEEDS}")]
    Seeds(u32),
    /// Folds out of range.
    #[error("folds = {0} is out of range: 1..={max}", max = skippy_contract::spec::SplitConfig::MAX_FOLDS)]
    Folds(u32),
    /// Too many axes.
    #[error("the grid has {0} axes; at most {MAX_AXES}")]
    Axes(usize),
    /// An axis without values, or with too many.
    #[error("grid axis {path:?} has {values} values; each axis needs 1..={MAX_VALUES}")]
    Values {
        /// The axis.
        path: String,
        /// How many values it has.
        values: usize,
    },
    /// An axis named twice.
    #[error("grid axis {0:?} is named twice")]
    Duplicate(String),
    /// An axis or override the experiment sets itself.
    #[error("{what} {path:?} is set by the experiment for each run; use --seeds and --folds")]
    Reserved {
        /// "grid axis" or "override".
        what: &'static str,
        /// The path.
        path: String,
    },
    /// A path both in the base's overrides and the grid.
    #[error("{0:?} is both a base override (--set) and a grid axis; name it in one place")]
    Both(String),
    /// An empty or oversize path.
    #[error("grid axis path {0:?} is not a dotted spec path such as ppo.learning_rate")]
    Path(String),
    /// Too many runs.
    #[error("{configs} configurations × {seeds} seeds × {folds} folds = {runs} runs; at most {MAX_RUNS}")]
    Runs {
        /// Configurations.
        configs: usize,
        /// Seeds.
        seeds: u32,
        /// Folds.
        folds: u32,
        /// Their product.
        runs: usize,
    },
}

/// The checked request and its configurations: defaults filled in (5 seeds, 4 folds), the grid's
/// product in order (last axis fastest). The base is resolved by the caller (its seed drawn).
///
/// # Errors
/// A [`PlanError`] naming the field.
pub fn check(mut request: ExperimentRequest) -> Result<(ExperimentRequest, Vec<BTreeMap<String, String>>), PlanError> {
    if request.seeds == 0 {
        request.seeds = DEFAULT_SEEDS;
    }
    if request.folds == 0 {
        request.folds = DEFAULT_FOLDS;
    }
    if request.seeds > MAX_SEEDS {
        return Err(PlanError::Seeds(request.seeds));
    }
    if request.folds as usize > skippy_contract::spec::SplitConfig::MAX_FOLDS {
        return Err(PlanError::Folds(request.folds));
    }
    if request.grid.len() > MAX_AXES {
        return Err(PlanError::Axes(request.grid.len()));
    }
    for path in request.base.overrides.keys() {
        if RESERVED_PATHS.contains(&path.as_str()) {
            return Err(PlanError::Reserved { what: "override", path: path.clone() });
        }
    }
    let mut seen = BTreeSet::new();
    for axis in &request.grid {
        if axis.path.is_empty() || axis.path.len() > 200 {
            return Err(PlanError::Path(axis.path.chars().take(64).collect()));
        }
        if RESERVED_PATHS.contains(&axis.path.as_str()) {
            return Err(PlanError::Reserved { what: "grid axis", path: axis.path.clone() });
        }
        if !(1..=MAX_VALUES).contains(&axis.values.len()) {
            return Err(PlanError::Values { path: axis.path.clone(), values: axis.values.len() });
        }
        if !seen.insert(axis.path.as_str()) {
            return Err(PlanError::Duplicate(axis.path.clone()));
        }
        if request.base.overrides.contains_key(&axis.path) {
            return Err(PlanError::Both(axis.path.clone()));
        }
    }
    let configs_count: usize = request.grid.iter().map(|a| a.values.len()).product();
    let runs = configs_count * request.seeds as usize * request.folds as usize;
    if runs > MAX_RUNS {
        return Err(PlanError::Runs { configs: configs_count, seeds: request.seeds, folds: request.folds, runs });
    }
    let mut configs = vec![BTreeMap::new()];
    for axis in &request.grid {
        configs = configs
            .into_iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(axis.path.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    Ok((request, configs))
}

/// The runs of `configs` × `seeds` × `folds`, in that order, with ids from `new_id` and seeds
/// counting up from `first_seed`.
pub fn plan(
    configs: usize,
    seeds: u32,
    folds: u32,
    first_seed: u64,
    mut new_id: impl FnMut() -> String,
) -> Vec<RunRecord> {
    let mut runs = Vec::with_capacity(configs * seeds as usize * folds as usize);
    for config in 0..configs as u32 {
        for seed_index in 0..seeds {
            for fold in 0..folds {
                runs.push(RunRecord {
                    job_id: new_id(),
                    config,
                    seed_index,
                    seed: first_seed.wrapping_add(seed_index as u64),
                    fold,
                    ended: None,
                });
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(grid: Vec<(&str, Vec<&str>)>) -> ExperimentRequest {
        ExperimentRequest {
            base: SubmittedSpec { symbols: vec!["BTC".into()], ..Default::default() },
            seeds: 0,
            folds: 0,
            grid: grid
                .into_iter()
                .map(|(p, v)| Axis { path: p.into(), values: v.into_iter().map(String::from).collect() })
                .collect(),
            promote: false,
        }
    }

    #[test]
    fn the_grid_is_the_product_of_its_axes_last_axis_fastest_with_default_seeds_and_folds() {
        let (req, configs) =
            check(request(vec![("ppo.learning_rate", vec!["1e-4", "3e-4"]), ("ppo.ent_coef", vec!["0", "0.01"])]))
                .unwrap();
        assert_eq!((req.seeds, req.folds), (DEFAULT_SEEDS, DEFAULT_FOLDS));
        let shown: Vec<String> = configs.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(
            shown,
            [
                r#"{"ppo.ent_coef": "0", "ppo.learning_rate": "1e-4"}"#,
                r#"{"ppo.ent_coef": "0.01", "ppo.learning_rate": "1e-4"}"#,
                r#"{"ppo.ent_coef": "0", "ppo.learning_rate": "3e-4"}"#,
                r#"{"ppo.ent_coef": "0.01", "ppo.learning_rate": "3e-4"}"#,
            ]
        );
        let (_, none) = check(request(vec![])).unwrap();
        assert_eq!(none, vec![BTreeMap::new()], "no grid: the base alone");
    }

    #[test]
    fn a_plan_orders_runs_by_config_seed_fold_and_counts_seeds_up() {
        let mut n = 0;
        let runs = plan(2, 3, 2, 10, || {
            n += 1;
            format!("tr_1_{n:08x}")
        });
        assert_eq!(runs.len(), 12);
        assert_eq!((runs[0].config, runs[0].seed_index, runs[0].fold, runs[0].seed), (0, 0, 0, 10));
        assert_eq!((runs[1].config, runs[1].seed_index, runs[1].fold), (0, 0, 1));
        assert_eq!((runs[2].seed_index, runs[2].seed), (1, 11));
        assert_eq!((runs[6].config, runs[6].seed_index, runs[6].fold), (1, 0, 0));
    }

    #[test]
    fn a_run_spec_adds_its_configuration_seed_and_fold_to_the_base() {
        let (req, configs) = check(request(vec![("ppo.learning_rate", vec!["1e-4", "3e-4"])])).unwrap();
        let mut req = req;
        req.base.idempotency_key = "key".into();
        req.base.overrides.insert("env.cost".into(), "0.001".into());
        let runs = plan(configs.len(), req.seeds, req.folds, 7, || "tr_1_00000000".into());
        let record = ExperimentRecord::new("ex_1_00000000".into(), req, configs, runs.clone(), 0);
        let run = runs.iter().find(|r| r.config == 1 && r.seed_index == 2 && r.fold == 3).unwrap();
        let spec = record.run_spec(run);
        assert_eq!(spec.seed, Some(9));
        assert!(spec.idempotency_key.is_empty());
        let o: Vec<(&str, &str)> = spec.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            o,
            [("env.cost", "0.001"), ("ppo.learning_rate", "3e-4"), ("split.fold", "3"), ("split.folds", "4")]
        );
    }

    #[test]
    fn bad_requests_are_refused_naming_the_field() {
        let err = |r: ExperimentRequest| check(r).unwrap_err().to_string();
        let mut r = request(vec![]);
        r.seeds = 65;
        assert_eq!(err(r), "seeds = 65 is out of range: 1..=64");
        let mut r = request(vec![]);
        r.folds = 65;
        assert!(err(r).starts_with("folds = 65 is out of range"));
        assert!(err(request(vec![("split.fold", vec!["1"])])).contains("set by the experiment"));
        assert!(err(request(vec![("ppo.gamma", vec![])])).contains("has 0 values"));
        assert!(err(request(vec![("ppo.gamma", vec!["0.9"]), ("ppo.gamma", vec!["0.99"])])).contains("named twice"));
        let mut r = request(vec![("ppo.gamma", vec!["0.9"])]);
        r.base.overrides.insert("ppo.gamma".into(), "0.99".into());
        assert!(err(r).contains("both a base override"));
        let mut r = request(vec![]);
        r.base.overrides.insert("split.folds".into(), "3".into());
        assert!(err(r).contains("override \"split.folds\" is set by the experiment"));
        let values: Vec<&str> = vec!["1"; 32];
        let mut r = request(vec![("a.a", values.clone()), ("a.b", values)]);
        (r.seeds, r.folds) = (8, 1);
        assert!(err(r).contains("1024 configurations × 8 seeds × 1 folds = 8192 runs; at most 4096"));
    }

    #[test]
    fn experiment_ids_have_their_own_shape() {
        let id = new_experiment_id();
        assert!(is_valid_experiment_id(&id), "{id}");
        assert!(!is_valid_experiment_id("tr_1_00000000"));
        assert!(!is_valid_experiment_id("ex_1_0000000g"));
        assert!(!is_valid_experiment_id("ex_../_00000000"));
    }
}
