//! An experiment's report, `experiment.json`: its document, defined once for the writer
//! (`skippy_eval::experiment` computes it, the scheduler writes it) and every reader (CLI,
//! REST, dashboard), and the one human report every tool prints of it ([`report_text`]).
//!
//! Readers are tolerant, as in [`crate::results`]: unknown fields are ignored, missing ones read
//! as empty, 0 or absent, so a CLI reads the report of a scheduler of another version. The JSON
//! is snake_case, as the trainer's `metrics.json`.
//!
//! What each part means, and the honesty rules it keeps (nothing chosen on test data, a maximum
//! over looks deflated as one, every missing run named), is told where it is computed:
//! `skippy_eval::experiment`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::results::{Comparison, Interval};

/// The `schema` the writer puts in every `experiment.json`: what the file is, and its version.
pub const EXPERIMENT_SCHEMA: &str = "skippy.experiment/1";

/// The widest line [`report_text`] prints.
pub const REPORT_WIDTH: usize = 100;

/// `experiment.json`. The headline comes first: the verdict, whether an edge survives, and the
/// size of the experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentReport {
    /// What the file is: [`EXPERIMENT_SCHEMA`].
    pub schema: String,
    /// The experiment's id (`ex_…`).
    pub experiment_id: String,
    /// The verdict in plain words: "edge survives N seeds, K folds and M configurations: …",
    /// or "no significant edge: …" and why.
    pub verdict: String,
    /// Whether an edge survives seeds, folds and the configurations tried.
    pub edge_survives: bool,
    /// How many configurations were tried (the `N` the DSR deflates for).
    pub configurations_tried: usize,
    /// Seeds per configuration and fold.
    pub seeds: usize,
    /// Walk-forward folds.
    pub folds: usize,
    /// Runs in the grid (configurations × seeds × folds).
    pub runs_total: usize,
    /// Runs that finished with readable results.
    pub runs_done: usize,
    /// Seeds whose stitched record is complete and in the stitched figures.
    pub seeds_stitched: usize,
    /// Bars per year of every annualised figure.
    pub bars_per_year: f64,
    /// Confidence level of every interval.
    pub level: f64,
    /// How the intervals were drawn.
    pub bootstrap: String,
    /// Each configuration: its settings and what it did.
    pub configurations: Vec<Configuration>,
    /// Each fold: the choice on validation, and the chosen configuration's test results.
    pub per_fold: Vec<Fold>,
    /// The stitched out-of-sample record; absent when a fold has no finished run or no seed has
    /// every fold (the verdict says which).
    pub stitched: Option<Stitched>,
    /// Every cell without a finished, readable run.
    pub missing: Vec<MissingRun>,
    /// Seeds left out of the stitched figures, and why.
    pub excluded_seeds: Vec<ExcludedSeed>,
    /// Anything else odd about the runs (runs outside the grid, duplicated cells, costs left
    /// out, a deflation without the configurations' spread).
    pub notes: Vec<String>,
    /// Every run, by configuration, seed and fold.
    pub runs: Vec<Run>,
}

impl ExperimentReport {
    /// Parses `experiment.json`.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// One configuration of the experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Configuration {
    /// Its index.
    pub config: usize,
    /// Its settings (`--set` path → value).
    pub settings: BTreeMap<String, String>,
    /// Its runs that finished with readable results.
    pub runs_done: usize,
    /// Its own seeds with a run in every fold, stitched.
    pub stitched_seeds: usize,
    /// The Sharpe ratio of its own runs stitched over every fold and averaged over those seeds:
    /// one of the trials the DSR deflates for. Used only for that, never to choose.
    pub stitched_sharpe: Option<f64>,
}

/// One fold: the configurations on validation, the choice, and the chosen one on test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fold {
    /// The fold.
    pub fold: usize,
    /// The first bar of its test slice (ms since the epoch), if any run walked it.
    pub test_from_ms: Option<i64>,
    /// The last bar of its test slice.
    pub test_to_ms: Option<i64>,
    /// Bars in its test slice.
    pub test_bars: usize,
    /// Each configuration's mean validation Sharpe over its finished seeds.
    pub candidates: Vec<Candidate>,
    /// The configuration chosen: the highest mean validation Sharpe (ties: the lower index);
    /// none when no run of the fold finished.
    pub chosen_config: Option<usize>,
    /// The chosen configuration's run of each seed, finished or not.
    pub chosen: Vec<FoldSeed>,
    /// Buy-and-hold's Sharpe on the fold's test bars.
    pub buy_and_hold_sharpe: Option<f64>,
    /// The chosen configuration's mean test Sharpe over its finished seeds.
    pub mean_test_sharpe: Option<f64>,
}

/// A configuration as a candidate in one fold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Candidate {
    /// The configuration.
    pub config: usize,
    /// Its mean validation Sharpe over its finished seeds; none when none finished (or a figure
    /// was not a number), which rules it out.
    pub mean_validation_sharpe: Option<f64>,
    /// How many seeds that mean is over.
    pub seeds_done: usize,
}

/// One seed's run of a fold's chosen configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FoldSeed {
    /// The seed's index.
    pub seed_index: usize,
    /// The seed, when there is a run.
    pub seed: Option<u64>,
    /// The run's job id; empty when there is none.
    pub job_id: String,
    /// Its state (`"DONE"`, `"FAILED"`, …, or `"NO RUN"`).
    pub state: String,
    /// Its validation Sharpe, when it finished.
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe, when it finished.
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's on the same bars, when it finished.
    pub buy_and_hold_sharpe: Option<f64>,
}

/// The stitched out-of-sample record of the chosen configurations, over the complete seeds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stitched {
    /// The seeds in it, in the order of [`Self::seed_sharpes`].
    pub seed_indices: Vec<usize>,
    /// Its first bar (ms since the epoch).
    pub from_ms: i64,
    /// Its last bar.
    pub to_ms: i64,
    /// Folds stitched per seed.
    pub folds: usize,
    /// Bars of the stitched record.
    pub bars: usize,
    /// Each seed's stitched Sharpe ratio (annualised).
    pub seed_sharpes: Vec<f64>,
    /// Buy-and-hold's stitched Sharpe ratio on the same bars and costs.
    pub buy_and_hold_sharpe: f64,
    /// The distribution of [`Self::seed_sharpes`].
    pub spread: SeedSpread,
    /// The seed-averaged policy's Sharpe ratio (annualised).
    pub averaged_sharpe: f64,
    /// Its interval.
    pub averaged_sharpe_ci: Interval,
    /// The seed-averaged policy against buy-and-hold: the Sharpe difference and its paired
    /// block-bootstrap interval.
    pub versus_buy_and_hold: Comparison,
    /// The seed-averaged policy's Deflated Sharpe Ratio for the configurations tried.
    pub deflated: DeflatedSharpe,
    /// The stitched record's verdict (the report's adds the seeds left out).
    pub verdict: Verdict,
    /// What the DSR deflates for: the configurations tried and their Sharpe ratios' variance.
    pub trials: Trials,
    /// The seed-averaged policy at each cost of the walks.
    pub cost_sensitivity: Vec<CostSharpe>,
}

/// The distribution over seeds of the stitched out-of-sample Sharpe ratio (annualised).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedSpread {
    /// Seeds.
    pub seeds: usize,
    /// The lowest seed's Sharpe ratio.
    pub worst: f64,
    /// The first quartile (linear interpolation between seeds).
    pub lower_quartile: f64,
    /// The median.
    pub median: f64,
    /// The third quartile.
    pub upper_quartile: f64,
    /// The highest seed's Sharpe ratio: a maximum over seeds, never the result by itself.
    pub best: f64,
    /// Seeds whose Sharpe ratio is above buy-and-hold's on the same bars.
    pub beating_buy_and_hold: usize,
    /// `beating_buy_and_hold / seeds`.
    pub share_beating_buy_and_hold: f64,
}

/// A Deflated Sharpe Ratio with what it was computed from (`skippy_eval::deflated_sharpe`
/// computes it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeflatedSharpe {
    /// The return series' length, per-period Sharpe ratio, skewness and kurtosis.
    pub shape: ReturnShape,
    /// `N`: the independent trials the series was picked from (configurations tried).
    pub trials: usize,
    /// `V`: the variance of the trials' per-period Sharpe ratios.
    pub sharpe_variance: f64,
    /// `SR*`: the per-period Sharpe ratio the best of the trials would show by luck.
    pub benchmark: f64,
    /// The DSR, `PSR(SR*)`: the probability that the true Sharpe ratio exceeds `SR*`, i.e. that
    /// the edge is not luck.
    pub probability: f64,
}

/// What the Deflated Sharpe Ratio knows of a return series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnShape {
    /// Number of returns `T`.
    pub observations: usize,
    /// Per-period Sharpe ratio `SR` (mean over the sample standard deviation).
    pub sharpe: f64,
    /// Skewness `γ₃` (0 for a symmetric distribution).
    pub skewness: f64,
    /// Kurtosis `γ₄`, not excess: 3 for normal returns, more for fat tails.
    pub kurtosis: f64,
}

/// Whether an edge survives, and the sentence that says so or says why not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verdict {
    /// True only if the difference over buy-and-hold is positive with an interval that excludes
    /// 0, and the DSR reaches its threshold.
    pub edge: bool,
    /// The verdict in plain words, with the figures behind it.
    pub line: String,
}

impl Verdict {
    /// The verdict when there is no out-of-sample record over every fold to judge (a fold
    /// without a finished run, no seed complete): no edge, and `why` there is no record.
    pub fn without_record(why: &str) -> Verdict {
        Verdict { edge: false, line: format!("no significant edge: there is no out-of-sample record to judge: {why}") }
    }
}

/// How many configurations were tried and how their Sharpe ratios varied: what the Deflated
/// Sharpe Ratio deflates for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Trials {
    /// Configurations tried (1: none was chosen among others).
    pub configurations: usize,
    /// Variance of their per-period (not annualised) Sharpe ratios; unused with one.
    pub sharpe_variance: f64,
}

impl Trials {
    /// A single configuration: nothing to deflate for.
    pub const ONE: Trials = Trials { configurations: 1, sharpe_variance: 0.0 };
}

/// The stitched, seed-averaged policy repriced at one cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostSharpe {
    /// Cost per unit of position change, bps.
    pub cost_bps: f64,
    /// The policy's Sharpe at that cost.
    pub sharpe: f64,
    /// Against buy-and-hold at the job's own cost, on the same bars: the Sharpe difference and
    /// its paired interval.
    pub versus_buy_and_hold: Comparison,
}

/// A cell of the grid without a finished run whose results could be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MissingRun {
    /// The run's job id; empty when no run was given for the cell.
    pub job_id: String,
    /// Its configuration.
    pub config: usize,
    /// Its seed's index.
    pub seed_index: usize,
    /// The seed, when there is a run.
    pub seed: Option<u64>,
    /// Its fold.
    pub fold: usize,
    /// The job's state, or `"NO RUN"`.
    pub state: String,
    /// Why it is missing, in words.
    pub reason: String,
}

/// A seed left out of the stitched figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExcludedSeed {
    /// The seed's index.
    pub seed_index: usize,
    /// The folds whose chosen configuration has no finished run of this seed.
    pub missing_folds: Vec<usize>,
    /// Why, in words.
    pub reason: String,
}

/// One run, as the table of every run shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    /// Its job id.
    pub job_id: String,
    /// Its configuration.
    pub config: usize,
    /// Its seed's index.
    pub seed_index: usize,
    /// The seed.
    pub seed: u64,
    /// Its fold.
    pub fold: usize,
    /// Its state.
    pub state: String,
    /// Its validation Sharpe, when it finished.
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe, when it finished.
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's on the same bars, when it finished.
    pub buy_and_hold_sharpe: Option<f64>,
    /// Whether its configuration is its fold's chosen one.
    pub chosen: bool,
}

/// The human report of an experiment, as every tool prints it, no line wider than
/// [`REPORT_WIDTH`]: the verdict first; the configurations; per fold the choice on validation
/// and the chosen configuration's test Sharpe per seed next to buy-and-hold; the stitched
/// record (the seeds' spread, the seed-averaged policy against buy-and-hold with its interval,
/// the Deflated Sharpe Ratio and the configurations it deflates for); the cost sensitivity;
/// the missing runs and the seeds left out; every run; and how to read it.
pub fn report_text(r: &ExperimentReport) -> String {
    let mut out = String::new();
    let level = percent(if r.level > 0.0 { r.level } else { 0.95 });
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    push_wrapped(
        &mut out,
        &format!(
            "experiment {}: {} × {} × {} = {}, {} finished",
            r.experiment_id,
            plural(r.configurations_tried, "configuration"),
            plural(r.seeds, "seed"),
            plural(r.folds, "fold"),
            plural(r.runs_total, "run"),
            r.runs_done
        ),
        "",
        "  ",
    );
    let verdict = if r.verdict.is_empty() { "no verdict recorded" } else { r.verdict.as_str() };
    push_wrapped(&mut out, verdict, "verdict: ", "  ");

    if r.configurations.len() > 1 || r.configurations.iter().any(|c| !c.settings.is_empty()) {
        out.push_str("\nconfigurations\n");
        for c in &r.configurations {
            let settings: Vec<String> = c.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let settings = if settings.is_empty() { "(the base spec)".to_string() } else { settings.join(", ") };
            push_wrapped(&mut out, &settings, &format!("  config {:<3} ", c.config), "              ");
        }
    }

    for f in &r.per_fold {
        out.push('\n');
        let range = match (f.test_from_ms, f.test_to_ms) {
            (Some(a), Some(b)) => format!("test {} to {} UTC ({} bars)", utc(a), utc(b), f.test_bars),
            _ => "no test walk".to_string(),
        };
        let choice = match f.chosen_config {
            Some(c) => format!("config {c} chosen on validation"),
            None => "nothing to choose: no run finished".to_string(),
        };
        push_wrapped(&mut out, &format!("fold {}: {range}; {choice}", f.fold), "", "  ");
        if f.candidates.len() > 1 {
            let _ = writeln!(out, "  {:<18} {:>26} {:>8}", "config", "kept models' validation", "seeds");
            for c in &f.candidates {
                let name = if f.chosen_config == Some(c.config) {
                    format!("{} <- chosen", c.config)
                } else {
                    c.config.to_string()
                };
                let _ = writeln!(
                    out,
                    "  {name:<18} {:>26} {:>8}",
                    signed(c.mean_validation_sharpe),
                    format!("{}/{}", c.seeds_done, r.seeds)
                );
            }
        }
        if !f.chosen.is_empty() {
            let _ = writeln!(out, "  {:<6} {:>14} {:>14}   job", "seed", "test Sharpe", "buy-and-hold");
            for s in &f.chosen {
                let test = match s.test_sharpe {
                    Some(v) => format!("{v:+.2}"),
                    None => s.state.clone(),
                };
                let _ = writeln!(
                    out,
                    "  {:<6} {:>14} {:>14}   {}",
                    s.seed_index,
                    cut(&test, 14),
                    signed(s.buy_and_hold_sharpe),
                    cut(&s.job_id, 60)
                );
            }
            let _ = writeln!(
                out,
                "  {:<6} {:>14} {:>14}",
                "mean",
                signed(f.mean_test_sharpe),
                signed(f.buy_and_hold_sharpe)
            );
        }
    }

    out.push('\n');
    match &r.stitched {
        None => out.push_str("stitched out-of-sample record: none (see the verdict)\n"),
        Some(s) => stitched_text(&mut out, r, s, &level),
    }

    if !r.missing.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "missing runs ({}), never averaged in:", r.missing.len());
        for m in &r.missing {
            let job = if m.job_id.is_empty() { String::new() } else { format!(" {}", m.job_id) };
            push_wrapped(
                &mut out,
                &format!("config {} seed {} fold {}:{job} {}", m.config, m.seed_index, m.fold, m.reason),
                "  ",
                "    ",
            );
        }
    }
    if !r.excluded_seeds.is_empty() {
        out.push_str("left out of the stitched figures:\n");
        for e in &r.excluded_seeds {
            push_wrapped(&mut out, &format!("seed {}: {}", e.seed_index, e.reason), "  ", "    ");
        }
    }
    if !r.notes.is_empty() {
        out.push_str("notes:\n");
        for n in &r.notes {
            push_wrapped(&mut out, n, "  - ", "    ");
        }
    }

    if !r.runs.is_empty() {
        out.push('\n');
        let _ = writeln!(
            out,
            "{:<6} {:>4} {:>4} {:<10} {:>10} {:>8} {:>8}  job",
            "config", "seed", "fold", "state", "validation", "test", "b&h"
        );
        for run in &r.runs {
            let _ = writeln!(
                out,
                "{:<6} {:>4} {:>4} {:<10} {:>10} {:>8} {:>8}  {}{}",
                run.config,
                run.seed_index,
                run.fold,
                cut(&run.state, 10),
                signed(run.validation_sharpe),
                signed(run.test_sharpe),
                signed(run.buy_and_hold_sharpe),
                cut(&run.job_id, 40),
                if run.chosen { " *" } else { "" }
            );
        }
        out.push_str("(* the fold's configuration chosen on validation)\n");
    }

    out.push('\n');
    push_wrapped(
        &mut out,
        &format!(
            "each fold's configuration is chosen on validation only (the mean over seeds of each run's \
             kept model's validation Sharpe, the best of that run's validation looks, so optimistic, alike \
             for every configuration that looks as often); the chosen runs' test slices, stitched in time, \
             are one out-of-sample record per seed, and Sharpe ratios are annualised over {:.0} bars a \
             year. An edge counts only if the seed-averaged policy beats buy-and-hold with a {level} \
             interval above 0 and the deflated Sharpe ratio, which accounts for the {} tried, is at least \
             0.95.",
            r.bars_per_year,
            plural(r.configurations_tried.max(1), "configuration")
        ),
        "how to read: ",
        "  ",
    );
    out
}

/// The stitched section of [`report_text`].
fn stitched_text(out: &mut String, r: &ExperimentReport, s: &Stitched, level: &str) {
    let seeds = if r.seeds > 0 { r.seeds } else { s.seed_indices.len() };
    push_wrapped(
        out,
        &format!(
            "stitched out-of-sample record: {} folds, {} bars, {} to {} UTC, {} of {seeds} seeds",
            s.folds,
            s.bars,
            utc(s.from_ms),
            utc(s.to_ms),
            s.seed_indices.len()
        ),
        "",
        "  ",
    );
    let sp = &s.spread;
    let _ = writeln!(
        out,
        "  test Sharpe over seeds: median {:+.2}, quartiles {:+.2} to {:+.2}, worst {:+.2}, best {:+.2}",
        sp.median, sp.lower_quartile, sp.upper_quartile, sp.worst, sp.best
    );
    let per_seed: Vec<String> =
        s.seed_indices.iter().zip(&s.seed_sharpes).map(|(i, v)| format!("seed {i} {v:+.2}")).collect();
    push_wrapped(out, &per_seed.join(", "), "  per seed: ", "    ");
    let _ = writeln!(
        out,
        "  seeds beating buy-and-hold ({:+.2}): {} of {} ({:.0}%)",
        s.buy_and_hold_sharpe,
        sp.beating_buy_and_hold,
        sp.seeds,
        sp.share_beating_buy_and_hold * 100.0
    );
    let ci = &s.averaged_sharpe_ci;
    let _ = writeln!(
        out,
        "  seed-averaged policy: Sharpe {:+.2} [{:+.2}, {:+.2}]; buy-and-hold {:+.2} on the same bars",
        s.averaged_sharpe, ci.lo, ci.hi, s.buy_and_hold_sharpe
    );
    let d = &s.versus_buy_and_hold;
    push_wrapped(
        out,
        &format!(
            "{:+.2} [{:+.2}, {:+.2}] ({level} paired block bootstrap, mean block {:.1} bars): {}",
            d.difference,
            d.interval.lo,
            d.interval.hi,
            d.interval.block_len,
            if d.significant { "the interval excludes 0" } else { "the interval includes 0" }
        ),
        "  Sharpe difference over buy-and-hold: ",
        "    ",
    );
    let n = s.deflated.trials.max(s.trials.configurations).max(1);
    let luck = if n > 1 {
        format!(
            "; the best of {n} would show {:+.2} by luck alone",
            s.deflated.benchmark * r.bars_per_year.max(1.0).sqrt()
        )
    } else {
        String::new()
    };
    push_wrapped(
        out,
        &format!(
            "{:.3} for {n} configuration{} tried: a {:.1}% probability that the Sharpe ratio is not luck{luck}",
            s.deflated.probability,
            if n == 1 { "" } else { "s" },
            s.deflated.probability * 100.0
        ),
        "  deflated Sharpe ratio: ",
        "    ",
    );
    if !s.cost_sensitivity.is_empty() {
        out.push('\n');
        let _ = writeln!(
            out,
            "cost sensitivity of the seed-averaged policy (buy-and-hold at the job's cost: {:+.2})",
            s.buy_and_hold_sharpe
        );
        let _ = writeln!(out, "  {:<10} {:>8}   difference over buy-and-hold ({level})", "cost", "Sharpe");
        for c in &s.cost_sensitivity {
            let d = &c.versus_buy_and_hold;
            let _ = writeln!(
                out,
                "  {:<10} {:>+8.2}   {:+.2} [{:+.2}, {:+.2}]{}",
                format!("{} bps", c.cost_bps),
                c.sharpe,
                d.difference,
                d.interval.lo,
                d.interval.hi,
                if d.significant { "" } else { " (includes 0)" }
            );
        }
    }
}

/// A Sharpe ratio with its sign, or `-` when there is none.
fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:+.2}"))
}

/// A level as a percentage: `95%`.
fn percent(level: f64) -> String {
    format!("{:.0}%", level * 100.0)
}

/// `s` cut to `chars` characters.
fn cut(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// Appends `text` word-wrapped to [`REPORT_WIDTH`]: the first line after `first`, the others
/// after `rest`. A word longer than a line is cut into pieces.
fn push_wrapped(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let width = |s: &str| s.chars().count();
        if !empty && width(&line) + 1 + width(word) > REPORT_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        let mut word = word.to_string();
        // A word that cannot fit any line goes in pieces.
        while width(&line) + usize::from(!empty) + width(&word) > REPORT_WIDTH {
            let room = REPORT_WIDTH.saturating_sub(width(&line) + usize::from(!empty)).max(1);
            if !empty {
                line.push(' ');
            }
            let head: String = word.chars().take(room).collect();
            line.push_str(&head);
            out.push_str(&line);
            out.push('\n');
            word = word.chars().skip(room).collect();
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// Unix milliseconds as a UTC date and time, `2024-03-01 13:00`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_the_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(utc(1_709_298_000_000), "2024-03-01 13:00");
        assert_eq!(utc(-1), "1969-12-31 23:59");
        assert!(!utc(i64::MAX).is_empty() && !utc(i64::MIN).is_empty());
    }

    #[test]
    fn wrapping_keeps_every_line_within_the_width() {
        let mut out = String::new();
        let long = format!("{} {}", "word ".repeat(60), "x".repeat(250));
        push_wrapped(&mut out, &long, "verdict: ", "  ");
        assert!(out.starts_with("verdict: word word"));
        for line in out.lines() {
            assert!(line.chars().count() <= REPORT_WIDTH, "{} chars: {line}", line.chars().count());
        }
        assert_eq!(out.matches('x').count(), 250, "nothing is lost");
        let mut out = String::new();
        push_wrapped(&mut out, "", "  ", "  ");
        assert_eq!(out, "  \n");
    }

    #[test]
    fn a_report_missing_almost_everything_still_reads() {
        let r = ExperimentReport::parse(r#"{"experiment_id": "ex_1_00000000", "future_field": [1, 2]}"#).unwrap();
        assert_eq!(r.experiment_id, "ex_1_00000000");
        let text = report_text(&r);
        assert!(text.contains("verdict: no verdict recorded"), "{text}");
        assert!(text.contains("stitched out-of-sample record: none"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= REPORT_WIDTH, "{line}");
        }
    }
}
