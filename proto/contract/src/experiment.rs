//! An experiment's `experiment.json` as readers see it (`skippy_eval::experiment` writes it),
//! and the one human report every tool prints of it ([`report_text`]).
//!
//! As in [`crate::results`], the types are tolerant readers of the JSON, not the writer's
//! structs: unknown fields are ignored, missing ones read as empty, 0 or absent, so a CLI reads
//! the report of a scheduler of another version.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::results::{Comparison, Interval};

/// The `schema` the writer puts in every `experiment.json`.
pub const EXPERIMENT_SCHEMA: &str = "skippy.experiment/1";

/// The widest line [`report_text`] prints.
pub const REPORT_WIDTH: usize = 100;

/// `experiment.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ExperimentReportFile {
    /// What the file is: [`EXPERIMENT_SCHEMA`].
    pub schema: String,
    /// The experiment's id.
    pub experiment_id: String,
    /// The verdict in plain words.
    pub verdict: String,
    /// Whether an edge survives seeds, folds and the configurations tried.
    pub edge_survives: bool,
    /// Configurations tried.
    pub configurations_tried: usize,
    /// Seeds per configuration and fold.
    pub seeds: usize,
    /// Walk-forward folds.
    pub folds: usize,
    /// Runs in the grid.
    pub runs_total: usize,
    /// Runs that finished with readable results.
    pub runs_done: usize,
    /// Seeds in the stitched figures.
    pub seeds_stitched: usize,
    /// Bars per year of every annualised figure.
    pub bars_per_year: f64,
    /// Confidence level of every interval.
    pub level: f64,
    /// How the intervals were drawn.
    pub bootstrap: String,
    /// Each configuration.
    pub configurations: Vec<Configuration>,
    /// Each fold.
    pub per_fold: Vec<Fold>,
    /// The stitched out-of-sample record (absent: see the verdict).
    pub stitched: Option<Stitched>,
    /// Cells without a finished, readable run.
    pub missing: Vec<MissingRun>,
    /// Seeds left out of the stitched figures.
    pub excluded_seeds: Vec<ExcludedSeed>,
    /// Anything else odd about the runs.
    pub notes: Vec<String>,
    /// Every run.
    pub runs: Vec<Run>,
}

impl ExperimentReportFile {
    /// Parses `experiment.json`.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// One configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Configuration {
    /// Its index.
    pub config: usize,
    /// Its settings (`--set` path → value).
    pub settings: BTreeMap<String, String>,
    /// Its runs that finished.
    pub runs_done: usize,
    /// Its seeds stitched over every fold.
    pub stitched_seeds: usize,
    /// Its own stitched, seed-averaged Sharpe: a trial of the deflation, never a choice.
    pub stitched_sharpe: Option<f64>,
}

/// One fold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Fold {
    /// The fold.
    pub fold: usize,
    /// First bar of its test slice, unix ms.
    pub test_from_ms: Option<i64>,
    /// Last bar of its test slice, unix ms.
    pub test_to_ms: Option<i64>,
    /// Bars in its test slice.
    pub test_bars: usize,
    /// Each configuration on validation.
    pub candidates: Vec<Candidate>,
    /// The configuration chosen on validation.
    pub chosen_config: Option<usize>,
    /// The chosen configuration's run of each seed.
    pub chosen: Vec<FoldSeed>,
    /// Buy-and-hold's Sharpe on the fold's test bars.
    pub buy_and_hold_sharpe: Option<f64>,
    /// The chosen configuration's mean test Sharpe.
    pub mean_test_sharpe: Option<f64>,
}

/// A configuration as a candidate in one fold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Candidate {
    /// The configuration.
    pub config: usize,
    /// Its mean validation Sharpe over its finished seeds.
    pub mean_validation_sharpe: Option<f64>,
    /// Over how many seeds.
    pub seeds_done: usize,
}

/// One seed's run of a fold's chosen configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FoldSeed {
    /// The seed's index.
    pub seed_index: usize,
    /// The seed.
    pub seed: Option<u64>,
    /// The run's job id (empty: no run).
    pub job_id: String,
    /// Its state.
    pub state: String,
    /// Its validation Sharpe.
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe.
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's on the same bars.
    pub buy_and_hold_sharpe: Option<f64>,
}

/// The stitched out-of-sample record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Stitched {
    /// The seeds in it.
    pub seed_indices: Vec<usize>,
    /// First bar, unix ms.
    pub from_ms: i64,
    /// Last bar, unix ms.
    pub to_ms: i64,
    /// Folds stitched.
    pub folds: usize,
    /// Bars.
    pub bars: usize,
    /// Each seed's stitched Sharpe, in the order of `seed_indices`.
    pub seed_sharpes: Vec<f64>,
    /// Buy-and-hold's stitched Sharpe on the same bars.
    pub buy_and_hold_sharpe: f64,
    /// The seeds' spread.
    pub spread: SeedSpread,
    /// The seed-averaged policy's Sharpe.
    pub averaged_sharpe: f64,
    /// Its interval.
    pub averaged_sharpe_ci: Interval,
    /// The seed-averaged policy against buy-and-hold.
    pub versus_buy_and_hold: Comparison,
    /// Its Deflated Sharpe Ratio.
    pub deflated: Deflated,
    /// The configurations the DSR deflates for.
    pub trials: Trials,
    /// The seed-averaged policy at each cost.
    pub cost_sensitivity: Vec<CostSharpe>,
}

/// The distribution of the seeds' stitched Sharpe ratios.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SeedSpread {
    /// Seeds.
    pub seeds: usize,
    /// The lowest.
    pub worst: f64,
    /// First quartile.
    pub lower_quartile: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub upper_quartile: f64,
    /// The highest.
    pub best: f64,
    /// Seeds above buy-and-hold.
    pub beating_buy_and_hold: usize,
    /// Their share.
    pub share_beating_buy_and_hold: f64,
}

/// A Deflated Sharpe Ratio.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Deflated {
    /// The trials it deflates for.
    pub trials: usize,
    /// The variance of their per-bar Sharpe ratios.
    pub sharpe_variance: f64,
    /// The per-bar Sharpe the best of the trials would show by luck.
    pub benchmark: f64,
    /// The probability that the Sharpe ratio is not luck.
    pub probability: f64,
}

/// The configurations the DSR deflates for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Trials {
    /// Configurations tried.
    pub configurations: usize,
    /// Variance of their per-bar Sharpe ratios.
    pub sharpe_variance: f64,
}

/// The seed-averaged policy at one cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CostSharpe {
    /// Cost per unit of position change, bps.
    pub cost_bps: f64,
    /// Its Sharpe.
    pub sharpe: f64,
    /// Against buy-and-hold at the job's own cost.
    pub versus_buy_and_hold: Comparison,
}

/// A cell without a finished, readable run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MissingRun {
    /// Its job id (empty: no run).
    pub job_id: String,
    /// Its configuration.
    pub config: usize,
    /// Its seed's index.
    pub seed_index: usize,
    /// The seed.
    pub seed: Option<u64>,
    /// Its fold.
    pub fold: usize,
    /// Its state.
    pub state: String,
    /// Why it is missing.
    pub reason: String,
}

/// A seed left out of the stitched figures.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ExcludedSeed {
    /// The seed's index.
    pub seed_index: usize,
    /// The folds it lacks.
    pub missing_folds: Vec<usize>,
    /// Why.
    pub reason: String,
}

/// One run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// Its validation Sharpe.
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe.
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's on the same bars.
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
pub fn report_text(r: &ExperimentReportFile) -> String {
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
            let _ = writeln!(out, "  {:<18} {:>26} {:>8}", "config", "validation Sharpe (mean)", "seeds");
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
            "each fold's configuration is chosen on validation only; the chosen runs' test slices, \
             stitched in time, are one out-of-sample record per seed, and Sharpe ratios are annualised \
             over {:.0} bars a year. An edge counts only if the seed-averaged policy beats buy-and-hold \
             with a {level} interval above 0 and the deflated Sharpe ratio, which accounts for the {} \
             tried, is at least 0.95.",
            r.bars_per_year,
            plural(r.configurations_tried.max(1), "configuration")
        ),
        "how to read: ",
        "  ",
    );
    out
}

/// The stitched section of [`report_text`].
fn stitched_text(out: &mut String, r: &ExperimentReportFile, s: &Stitched, level: &str) {
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
        let r = ExperimentReportFile::parse(r#"{"experiment_id": "ex_1_00000000", "future_field": [1, 2]}"#).unwrap();
        assert_eq!(r.experiment_id, "ex_1_00000000");
        let text = report_text(&r);
        assert!(text.contains("verdict: no verdict recorded"), "{text}");
        assert!(text.contains("stitched out-of-sample record: none"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= REPORT_WIDTH, "{line}");
        }
    }
}
