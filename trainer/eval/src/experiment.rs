//! An experiment's report: its runs (configurations × seeds × walk-forward folds) read as one
//! result, with nothing chosen on test data, every figure next to its uncertainty and to
//! buy-and-hold on the same bars, and every missing run named.
//!
//! # What goes in
//! The scheduler reads each run's `metrics.json` and `walk.csv` ([`parse_walk_csv`]) and hands
//! [`experiment_report`] an [`ExperimentInput`]: the grid (configurations, seeds, folds) and,
//! per run, its cell, its state and, for a run that finished with readable files, its
//! [`RunOutcome`]. This module does no IO: the caller writes the report as `experiment.json`
//! (serde, snake_case, [`EXPERIMENT_SCHEMA`]) and the charts ([`walk_forward_svg`],
//! [`seeds_strip_svg`]) beside it.
//!
//! # What comes out ([`ExperimentReport`])
//! - **Per fold** ([`Fold`]): every configuration's mean validation Sharpe over its
//!   finished seeds, the configuration chosen on that alone (the highest; ties go to the lower
//!   index), and the chosen configuration's test Sharpe per seed next to buy-and-hold's on the
//!   same bars. Test figures are looked at only after the choice.
//! - **Stitched** ([`Stitched`]): per seed, the chosen configuration's run of each fold,
//!   stitched in time into one out-of-sample record ([`crate::stitch`]); over the seeds whose
//!   record is complete, [`crate::walk_forward_report`]: the seeds' spread, the seed-averaged
//!   policy against buy-and-hold with the paired block-bootstrap interval, its Deflated Sharpe
//!   Ratio for the number of configurations tried, and the verdict; and the seed-averaged
//!   policy's Sharpe at each cost of the walks ([`CostSharpe`]).
//! - **What is missing**: every cell without a finished, readable run ([`MissingRun`]), every
//!   seed left out of the stitched figures and why ([`ExcludedSeed`]), and [`ExperimentReport::notes`]
//!   on anything else that was odd. A fold without any finished run leaves no stitched
//!   section at all, and the verdict says so: fewer runs are never averaged silently.
//! - **Every run** ([`Run`]) with its job id, cell, state and Sharpe ratios.
//!
//! # Honesty rules, and where they are kept
//! - Nothing is chosen on test data: [`Fold::chosen_config`] is computed from validation
//!   Sharpe ratios only, before any test figure.
//! - A maximum over several looks is labelled as one: with `N` configurations, each fold's
//!   choice is the best of `N`, and the Deflated Sharpe Ratio deflates the stitched result for
//!   `N` trials whose spread is the spread of the configurations' own stitched, seed-averaged
//!   Sharpe ratios ([`Configuration::stitched_sharpe`]). The verdict says so.
//! - The verdict reads "edge survives …" only when the seed-averaged policy beats buy-and-hold
//!   with an interval that excludes 0 **and** the DSR reaches [`crate::DSR_THRESHOLD`];
//!   otherwise "no significant edge", with the reason.
//!
//! # Invariants
//! [`experiment_report`] never panics, whatever the input (runs outside the grid, duplicated
//! cells, walks over other bars, non-finite figures), and every `f64` it writes is finite, so
//! the report always serialises to JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What comes out: the document of `experiment.json`, defined once in the contract for this
/// writer and every reader.
pub use skippy_contract::experiment::{
    Candidate, Configuration, CostSharpe, EXPERIMENT_SCHEMA, ExcludedSeed, ExperimentReport, Fold, FoldSeed,
    MissingRun, Run, Stitched,
};

use crate::bootstrap::{BOOTSTRAP_METHOD, paired_sharpe_difference};
use crate::metrics::{EvalConfig, equity_curve, portfolio_returns, sharpe_ratio};
use crate::plot::{Series, line_chart_svg, strip_chart_svg};
use crate::walk_forward::{
    FoldWalk, TrackRecord, Trials, Verdict, stitch, trials_from_annualised_sharpes, walk_forward_report,
};

/// The most cells (configurations × seeds × folds) a report covers; a larger grid gets a
/// report without figures that says so.
pub const MAX_CELLS: usize = 1_000_000;

/// The job state of a run that finished.
const DONE: &str = "DONE";

/// The state written for a cell no run was given for.
const NO_RUN: &str = "NO RUN";

/// How a cost column of `walk.csv` is named: `strategy_cost_<bps>bps`.
const COST_PREFIX: &str = "strategy_cost_";

// ---------------------------------------------------------------------------------------------
// walk.csv
// ---------------------------------------------------------------------------------------------

/// One run's test walk, parsed from its `walk.csv`: per bar of the fold's test slice, the
/// equal-weight portfolio's net log returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Walk {
    /// Each bar's time (ms since the epoch), strictly increasing.
    pub ts_ms: Vec<i64>,
    /// The policy's per-bar net log returns at the job's own cost.
    pub strategy: Vec<f64>,
    /// Buy-and-hold's per-bar net log returns on the same bars and costs.
    pub buy_and_hold: Vec<f64>,
    /// The costs the policy was repriced at, in bps per unit of position change, in the order
    /// of the file's columns.
    pub cost_bps: Vec<f64>,
    /// The policy's per-bar net log returns at each of [`Walk::cost_bps`] (per cost, per bar).
    pub strategy_at_cost: Vec<Vec<f64>>,
}

/// Why a `walk.csv` cannot be read; each variant names the line (1 is the header) and, where
/// there is one, the column (1-based) and its name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WalkCsvError {
    /// Nothing but blank lines.
    #[error("walk.csv is empty: no header line")]
    Empty,
    /// A column every walk has is not in the header.
    #[error("walk.csv line {line}: the header has no column `{column}`")]
    MissingColumn {
        /// The header's line.
        line: usize,
        /// The column missing.
        column: &'static str,
    },
    /// A column (or a cost) named twice in the header.
    #[error("walk.csv line {line}, column {column}: `{name}` is named twice in the header")]
    DuplicateColumn {
        /// The header's line.
        line: usize,
        /// The second column of that name, 1-based.
        column: usize,
        /// Its name.
        name: String,
    },
    /// A column that starts like a cost column but names no cost.
    #[error(
        "walk.csv line {line}, column {column}: `{name}` is not a cost column \
         (`strategy_cost_<bps>bps`, with bps a number of at least 0)"
    )]
    BadCostColumn {
        /// The header's line.
        line: usize,
        /// The column, 1-based.
        column: usize,
        /// Its name.
        name: String,
    },
    /// A row with another number of fields than the header.
    #[error("walk.csv line {line}: {found} fields, but the header has {expected}")]
    FieldCount {
        /// The row's line.
        line: usize,
        /// The header's fields.
        expected: usize,
        /// The row's fields.
        found: usize,
    },
    /// A field that does not hold what its column holds.
    #[error("walk.csv line {line}, column {column} (`{name}`): `{value}` is not {expected}")]
    BadValue {
        /// The row's line.
        line: usize,
        /// The column, 1-based.
        column: usize,
        /// The column's name.
        name: String,
        /// The field (cut to 40 characters).
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
    /// A bar time that does not follow the row before it.
    #[error(
        "walk.csv line {line}, column {column} (`time_ms`): {ts_ms} does not follow the row before it ({previous_ms})"
    )]
    Unordered {
        /// The row's line.
        line: usize,
        /// The `time_ms` column, 1-based.
        column: usize,
        /// Its time.
        ts_ms: i64,
        /// The time of the row before it.
        previous_ms: i64,
    },
}

/// Parses a run's `walk.csv`: a header naming the columns, then one row per test bar. Columns
/// are found by name, in any order: `time_ms` (integer ms), `strategy`, `buy_and_hold` and any
/// number of `strategy_cost_<bps>bps` (finite numbers); other columns are ignored. Blank lines
/// are skipped, `\r\n` line ends and a byte-order mark are accepted, fields may be padded with
/// spaces. A header without rows is an empty walk.
///
/// # Errors
/// [`WalkCsvError`], naming the line and the column: no header, a required column missing or
/// a column named twice, a malformed cost column, a row with the wrong number of fields, a
/// field that is not a number (or not a finite one), times that do not increase.
pub fn parse_walk_csv(text: &str) -> Result<Walk, WalkCsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or(WalkCsvError::Empty)?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let (mut time, mut strategy, mut buy_and_hold) = (None, None, None);
    let mut costs: Vec<(usize, f64)> = Vec::new();
    for (i, &name) in names.iter().enumerate() {
        let duplicate = || WalkCsvError::DuplicateColumn { line: header_line, column: i + 1, name: name.to_string() };
        let slot = match name {
            "time_ms" => &mut time,
            "strategy" => &mut strategy,
            "buy_and_hold" => &mut buy_and_hold,
            _ => {
                if let Some(rest) = name.strip_prefix(COST_PREFIX) {
                    let bps = rest
                        .strip_suffix("bps")
                        .and_then(|n| n.parse::<f64>().ok())
                        .filter(|b| b.is_finite() && *b >= 0.0)
                        .ok_or_else(|| WalkCsvError::BadCostColumn {
                            line: header_line,
                            column: i + 1,
                            name: name.to_string(),
                        })?;
                    if costs.iter().any(|&(_, b)| b == bps) {
                        return Err(duplicate());
                    }
                    costs.push((i, bps));
                }
                continue;
            }
        };
        if slot.replace(i).is_some() {
            return Err(duplicate());
        }
    }
    let required = |slot: Option<usize>, column| slot.ok_or(WalkCsvError::MissingColumn { line: header_line, column });
    let time = required(time, "time_ms")?;
    let strategy = required(strategy, "strategy")?;
    let buy_and_hold = required(buy_and_hold, "buy_and_hold")?;

    let mut walk = Walk {
        cost_bps: costs.iter().map(|&(_, b)| b).collect(),
        strategy_at_cost: vec![Vec::new(); costs.len()],
        ..Walk::default()
    };
    for (line, row) in lines {
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(WalkCsvError::FieldCount { line, expected: names.len(), found: fields.len() });
        }
        let bad = |i: usize, expected| WalkCsvError::BadValue {
            line,
            column: i + 1,
            name: names[i].to_string(),
            value: fields[i].chars().take(40).collect(),
            expected,
        };
        let number =
            |i: usize| fields[i].parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(i, "a finite number"));
        let ts_ms = fields[time].parse::<i64>().map_err(|_| bad(time, "a whole number of milliseconds"))?;
        if let Some(&previous_ms) = walk.ts_ms.last()
            && ts_ms <= previous_ms
        {
            return Err(WalkCsvError::Unordered { line, column: time + 1, ts_ms, previous_ms });
        }
        walk.ts_ms.push(ts_ms);
        walk.strategy.push(number(strategy)?);
        walk.buy_and_hold.push(number(buy_and_hold)?);
        for (j, &(i, _)) in costs.iter().enumerate() {
            walk.strategy_at_cost[j].push(number(i)?);
        }
    }
    Ok(walk)
}

// ---------------------------------------------------------------------------------------------
// What goes in
// ---------------------------------------------------------------------------------------------

/// One run of the experiment as the scheduler knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInput {
    /// Its job id (`tr_…`).
    pub job_id: String,
    /// Its configuration: an index into [`ExperimentInput::configs`].
    pub config: usize,
    /// Which of the experiment's seeds it trains with (0-based).
    pub seed_index: usize,
    /// The seed itself.
    pub seed: u64,
    /// Its walk-forward fold (0-based).
    pub fold: usize,
    /// The job's state as the JSON form writes it: `"DONE"`, `"FAILED"`, `"CANCELLED"`, ….
    pub state: String,
    /// What it produced: `Some` only for a `DONE` run whose files were readable.
    pub outcome: Option<RunOutcome>,
    /// Why a `DONE` run's files could not be read (the file and the field), when they could not;
    /// the report names it with the missing cell.
    pub unreadable: Option<String>,
}

/// What a finished run produced, read from its `metrics.json` and `walk.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The kept model's validation Sharpe (annualised): the only figure that chooses.
    pub validation_sharpe: f64,
    /// Its test Sharpe on the fold's test slice (the portfolio's, annualised).
    pub test_sharpe: f64,
    /// Buy-and-hold's Sharpe on the same bars and costs.
    pub buy_and_hold_sharpe: f64,
    /// The test walk, bar by bar.
    pub walk: Walk,
}

/// An experiment, as [`experiment_report`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentInput {
    /// The experiment's id (`ex_…`).
    pub experiment_id: String,
    /// Each configuration's settings (`--set` path → value), by index. None at all counts as
    /// one configuration: the base spec alone.
    pub configs: Vec<BTreeMap<String, String>>,
    /// Seeds per configuration and fold.
    pub seeds: usize,
    /// Walk-forward folds.
    pub folds: usize,
    /// Bars per year, to annualise every Sharpe ratio computed here.
    pub bars_per_year: f64,
    /// Every run, in any order.
    pub runs: Vec<RunInput>,
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// The report of an experiment. Bootstrap settings (samples, level, seed, block length) come
/// from `cfg`; every Sharpe ratio is annualised with [`ExperimentInput::bars_per_year`].
///
/// Never panics: what cannot be computed is left out and said (see the module docs).
pub fn experiment_report(input: &ExperimentInput, cfg: &EvalConfig) -> ExperimentReport {
    let cfg = EvalConfig { bars_per_year: input.bars_per_year, ..*cfg };
    let bars_per_year = cfg.periods();
    let configurations = input.configs.len().max(1);
    let (seeds, folds) = (input.seeds, input.folds);
    let mut notes = Vec::new();
    let runs_done = input.runs.iter().filter(|r| finished(r).is_some()).count();
    let runs_total = configurations.checked_mul(seeds).and_then(|n| n.checked_mul(folds));
    let mut report = ExperimentReport {
        schema: EXPERIMENT_SCHEMA.to_string(),
        experiment_id: input.experiment_id.clone(),
        verdict: String::new(),
        edge_survives: false,
        configurations_tried: configurations,
        seeds,
        folds,
        runs_total: runs_total.unwrap_or(usize::MAX),
        runs_done,
        seeds_stitched: 0,
        bars_per_year,
        level: cfg.resolved_level(),
        bootstrap: BOOTSTRAP_METHOD.to_string(),
        configurations: Vec::new(),
        per_fold: Vec::new(),
        stitched: None,
        missing: Vec::new(),
        excluded_seeds: Vec::new(),
        notes: Vec::new(),
        runs: Vec::new(),
    };
    report.runs = run_rows(input);
    if runs_total.is_none_or(|n| n > MAX_CELLS) {
        report.verdict = Verdict::without_record(&format!(
            "{configurations} configurations × {seeds} seeds × {folds} folds is more than the {MAX_CELLS} runs a \
             report covers"
        ))
        .line;
        return report;
    }
    let grid = Grid::new(input, configurations, &mut notes);
    notes.extend(unequal_looks(&input.configs));

    report.missing = missing_runs(&grid);
    report.per_fold = (0..folds).map(|k| fold_report(&grid, k, &mut notes)).collect();
    for row in &mut report.runs {
        row.chosen = report.per_fold.get(row.fold).and_then(|f| f.chosen_config) == Some(row.config);
    }
    let trials: Vec<(Option<f64>, usize)> =
        (0..configurations).map(|c| configuration_sharpe(&grid, c, bars_per_year)).collect();
    report.configurations = trials
        .iter()
        .enumerate()
        .map(|(c, &(stitched_sharpe, stitched_seeds))| Configuration {
            config: c,
            settings: input.configs.get(c).cloned().unwrap_or_default(),
            runs_done: grid.outcomes().filter(|&((config, _, _), _)| config == c).count(),
            stitched_seeds,
            stitched_sharpe,
        })
        .collect();
    let trials = deflation_trials(&report.configurations, bars_per_year, &mut notes);

    let chosen: Vec<Option<usize>> = report.per_fold.iter().map(|f| f.chosen_config).collect();
    match stitched_report(&grid, &chosen, trials, &cfg, &mut notes) {
        Ok((stitched, excluded)) => {
            let mut line = stitched.verdict.line.clone();
            if !excluded.is_empty() {
                let names: Vec<String> = excluded.iter().map(|e| e.seed_index.to_string()).collect();
                let _ = write!(
                    line,
                    "; {} of {seeds} seeds left out of these figures for a missing fold (seed{} {})",
                    excluded.len(),
                    if excluded.len() == 1 { "" } else { "s" },
                    names.join(", ")
                );
            }
            report.verdict = line;
            report.edge_survives = stitched.verdict.edge;
            report.seeds_stitched = stitched.seed_indices.len();
            report.stitched = Some(stitched);
            report.excluded_seeds = excluded;
        }
        Err((why, excluded)) => {
            report.verdict = Verdict::without_record(&why).line;
            report.excluded_seeds = excluded;
        }
    }
    report.notes = notes;
    report
}

/// A note when the configurations validate a different number of times (`evaluation.validations`
/// set per configuration): each run's validation figure is the best of its looks, so the choice
/// on validation favours the configurations that look more often.
fn unequal_looks(configs: &[BTreeMap<String, String>]) -> Option<String> {
    const KEY: &str = "evaluation.validations";
    let looks: std::collections::BTreeSet<&str> =
        configs.iter().map(|c| c.get(KEY).map_or("the default", String::as_str)).collect();
    (looks.len() > 1).then(|| {
        let looks: Vec<&str> = looks.into_iter().collect();
        format!(
            "the configurations validate a different number of times ({KEY}: {}): a run's validation figure is \
             the best of its looks, so the choice on validation favours the configurations that look more often",
            looks.join(", ")
        )
    })
}

/// A run's outcome if it finished with readable results.
fn finished(run: &RunInput) -> Option<&RunOutcome> {
    run.outcome.as_ref().filter(|_| run.state == DONE)
}

/// `x` if it is a finite number.
fn finite_or_none(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The runs placed in their cells (configuration, seed, fold).
struct Grid<'a> {
    /// Configurations.
    configurations: usize,
    /// Seeds.
    seeds: usize,
    /// Folds.
    folds: usize,
    /// The run of each cell that has one.
    cells: BTreeMap<(usize, usize, usize), &'a RunInput>,
}

impl<'a> Grid<'a> {
    /// Places `input`'s runs; a run outside the grid, or a second run of a cell, is noted
    /// (of two runs of a cell, the first finished one is kept).
    fn new(input: &'a ExperimentInput, configurations: usize, notes: &mut Vec<String>) -> Self {
        let mut cells: BTreeMap<(usize, usize, usize), &'a RunInput> = BTreeMap::new();
        for run in &input.runs {
            if run.config >= configurations || run.seed_index >= input.seeds || run.fold >= input.folds {
                notes.push(format!(
                    "run {} (config {}, seed {}, fold {}) is outside the grid of {configurations} configurations, \
                     {} seeds and {} folds; left out",
                    run.job_id, run.config, run.seed_index, run.fold, input.seeds, input.folds
                ));
                continue;
            }
            let key = (run.config, run.seed_index, run.fold);
            match cells.get(&key) {
                None => {
                    cells.insert(key, run);
                }
                Some(kept) => {
                    let replace = finished(kept).is_none() && finished(run).is_some();
                    let (used, other) = if replace { (run, *kept) } else { (*kept, run) };
                    notes.push(format!(
                        "config {}, seed {}, fold {} has two runs ({} and {}); {} is used",
                        key.0, key.1, key.2, used.job_id, other.job_id, used.job_id
                    ));
                    if replace {
                        cells.insert(key, run);
                    }
                }
            }
        }
        Grid { configurations, seeds: input.seeds, folds: input.folds, cells }
    }

    /// The run of a cell.
    fn run(&self, config: usize, seed: usize, fold: usize) -> Option<&'a RunInput> {
        self.cells.get(&(config, seed, fold)).copied()
    }

    /// The outcome of a cell whose run finished with readable results.
    fn outcome(&self, config: usize, seed: usize, fold: usize) -> Option<&'a RunOutcome> {
        self.run(config, seed, fold).and_then(finished)
    }

    /// Every finished cell's outcome.
    fn outcomes(&self) -> impl Iterator<Item = ((usize, usize, usize), &'a RunOutcome)> + '_ {
        self.cells.iter().filter_map(|(&key, run)| finished(run).map(|o| (key, o)))
    }

    /// A seed's value, from any of its runs.
    fn seed_value(&self, seed: usize) -> Option<u64> {
        self.cells.iter().find(|&(&(_, s, _), _)| s == seed).map(|(_, run)| run.seed)
    }

    /// What a cell's state reads as: the job's state, `DONE, results unreadable`, or `NO RUN`.
    fn state(&self, config: usize, seed: usize, fold: usize) -> String {
        match self.run(config, seed, fold) {
            None => NO_RUN.to_string(),
            Some(run) if run.state == DONE && run.outcome.is_none() => "DONE, results unreadable".to_string(),
            Some(run) if run.state.is_empty() => "UNKNOWN".to_string(),
            Some(run) => run.state.clone(),
        }
    }
}

/// Every run as a row, by configuration, seed, fold and job id.
fn run_rows(input: &ExperimentInput) -> Vec<Run> {
    let mut rows: Vec<Run> = input
        .runs
        .iter()
        .map(|run| {
            let outcome = finished(run);
            Run {
                job_id: run.job_id.clone(),
                config: run.config,
                seed_index: run.seed_index,
                seed: run.seed,
                fold: run.fold,
                state: run.state.clone(),
                validation_sharpe: outcome.and_then(|o| finite_or_none(o.validation_sharpe)),
                test_sharpe: outcome.and_then(|o| finite_or_none(o.test_sharpe)),
                buy_and_hold_sharpe: outcome.and_then(|o| finite_or_none(o.buy_and_hold_sharpe)),
                chosen: false,
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.config, a.seed_index, a.fold, &a.job_id).cmp(&(b.config, b.seed_index, b.fold, &b.job_id)));
    rows
}

/// Every cell without a finished, readable run, by configuration, seed and fold.
fn missing_runs(grid: &Grid<'_>) -> Vec<MissingRun> {
    let mut missing = Vec::new();
    for c in 0..grid.configurations {
        for s in 0..grid.seeds {
            for k in 0..grid.folds {
                if grid.outcome(c, s, k).is_some() {
                    continue;
                }
                let run = grid.run(c, s, k);
                let reason = match run {
                    None => "no run was given for this cell".to_string(),
                    Some(r) if r.state == DONE => match &r.unreadable {
                        Some(why) => format!("it finished, but its results could not be read: {why}"),
                        None => "it finished, but its results could not be read".to_string(),
                    },
                    Some(r) => {
                        format!("it ended {}", if r.state.is_empty() { "in an unknown state" } else { &r.state })
                    }
                };
                missing.push(MissingRun {
                    job_id: run.map(|r| r.job_id.clone()).unwrap_or_default(),
                    config: c,
                    seed_index: s,
                    seed: run.map(|r| r.seed),
                    fold: k,
                    state: run.map_or_else(|| NO_RUN.to_string(), |r| r.state.clone()),
                    reason,
                });
            }
        }
    }
    missing
}

/// Fold `k`: the candidates on validation, the choice, and the chosen configuration's runs.
fn fold_report(grid: &Grid<'_>, k: usize, notes: &mut Vec<String>) -> Fold {
    let candidates: Vec<Candidate> = (0..grid.configurations)
        .map(|c| {
            let values: Vec<f64> =
                (0..grid.seeds).filter_map(|s| grid.outcome(c, s, k)).map(|o| o.validation_sharpe).collect();
            let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
            if mean.is_some_and(|m| !m.is_finite()) {
                notes.push(format!(
                    "fold {k}, config {c}: a validation Sharpe is not a finite number; the configuration is not a \
                     candidate in this fold"
                ));
            }
            Candidate { config: c, mean_validation_sharpe: mean.and_then(finite_or_none), seeds_done: values.len() }
        })
        .collect();
    // Validation only: the highest mean, the lower index on a tie.
    let mut chosen_config: Option<(usize, f64)> = None;
    for candidate in &candidates {
        if let Some(mean) = candidate.mean_validation_sharpe
            && chosen_config.is_none_or(|(_, best)| mean > best)
        {
            chosen_config = Some((candidate.config, mean));
        }
    }
    let chosen_config = chosen_config.map(|(c, _)| c);

    let chosen: Vec<FoldSeed> = chosen_config
        .map(|c| {
            (0..grid.seeds)
                .map(|s| {
                    let run = grid.run(c, s, k);
                    let outcome = grid.outcome(c, s, k);
                    FoldSeed {
                        seed_index: s,
                        seed: run.map(|r| r.seed),
                        job_id: run.map(|r| r.job_id.clone()).unwrap_or_default(),
                        state: grid.state(c, s, k),
                        validation_sharpe: outcome.and_then(|o| finite_or_none(o.validation_sharpe)),
                        test_sharpe: outcome.and_then(|o| finite_or_none(o.test_sharpe)),
                        buy_and_hold_sharpe: outcome.and_then(|o| finite_or_none(o.buy_and_hold_sharpe)),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let tests: Vec<f64> = chosen.iter().filter_map(|s| s.test_sharpe).collect();
    let mean_test_sharpe = (!tests.is_empty()).then(|| tests.iter().sum::<f64>() / tests.len() as f64);

    // The fold's test slice, from the chosen configuration's walks first, else from any run.
    let chosen_walks = chosen_config.into_iter().flat_map(|c| (0..grid.seeds).map(move |s| (c, s)));
    let any_walks = (0..grid.configurations).flat_map(|c| (0..grid.seeds).map(move |s| (c, s)));
    let walk = chosen_walks.chain(any_walks).find_map(|(c, s)| grid.outcome(c, s, k)).map(|o| &o.walk);
    Fold {
        fold: k,
        test_from_ms: walk.and_then(|w| w.ts_ms.first().copied()),
        test_to_ms: walk.and_then(|w| w.ts_ms.last().copied()),
        test_bars: walk.map_or(0, |w| w.ts_ms.len()),
        candidates,
        chosen_config,
        buy_and_hold_sharpe: chosen.iter().find_map(|s| s.buy_and_hold_sharpe),
        chosen,
        mean_test_sharpe: mean_test_sharpe.and_then(finite_or_none),
    }
}

/// Which series of a walk to stitch: the policy at the job's cost, or at one of the costs.
#[derive(Debug, Clone, Copy)]
enum Leg {
    /// [`Walk::strategy`].
    AtJobCost,
    /// The column of [`Walk::strategy_at_cost`] at this many bps.
    AtCost(f64),
}

/// The walks of one seed stitched in time: the policy's returns (as `leg` picks them) and
/// buy-and-hold's.
///
/// `walks` are every fold's, in fold order, so [`stitch`]'s errors name the folds rightly.
///
/// # Errors
/// Why not, in words: a walk without the cost column, or [`stitch`]'s error.
fn stitch_walks(walks: &[(usize, &Walk)], leg: Leg) -> Result<TrackRecord, String> {
    let mut fold_walks = Vec::with_capacity(walks.len());
    for &(fold, walk) in walks {
        let strategy = match leg {
            Leg::AtJobCost => walk.strategy.as_slice(),
            Leg::AtCost(bps) => walk
                .cost_bps
                .iter()
                .position(|&b| b == bps)
                .and_then(|j| walk.strategy_at_cost.get(j))
                .map(Vec::as_slice)
                .ok_or_else(|| format!("fold {fold}'s walk has no column at {bps} bps"))?,
        };
        fold_walks.push(FoldWalk { ts_ms: &walk.ts_ms, strategy, buy_and_hold: &walk.buy_and_hold });
    }
    stitch(&fold_walks).map_err(|e| e.to_string())
}

/// Seed `s`'s walks of the configuration `chosen[k]` of each fold `k`, or the folds without one.
fn seed_walks<'a>(grid: &Grid<'a>, chosen: &[usize], s: usize) -> Result<Vec<(usize, &'a Walk)>, Vec<usize>> {
    let mut walks = Vec::with_capacity(chosen.len());
    let mut missing = Vec::new();
    for (k, &c) in chosen.iter().enumerate() {
        match grid.outcome(c, s, k) {
            Some(o) => walks.push((k, &o.walk)),
            None => missing.push(k),
        }
    }
    if missing.is_empty() { Ok(walks) } else { Err(missing) }
}

/// The stitched, seed-averaged annualised Sharpe ratio of configuration `c`'s own runs, and
/// over how many seeds (those with every fold, on the first such seed's bars).
fn configuration_sharpe(grid: &Grid<'_>, c: usize, bars_per_year: f64) -> (Option<f64>, usize) {
    if grid.folds == 0 {
        return (None, 0);
    }
    let chosen = vec![c; grid.folds];
    let mut records: Vec<TrackRecord> = Vec::new();
    for s in 0..grid.seeds {
        let Ok(walks) = seed_walks(grid, &chosen, s) else { continue };
        let Ok(record) = stitch_walks(&walks, Leg::AtJobCost) else { continue };
        if records.first().is_none_or(|first| first.ts_ms == record.ts_ms) {
            records.push(record);
        }
    }
    if records.is_empty() {
        return (None, 0);
    }
    let legs: Vec<&[f64]> = records.iter().map(|r| r.strategy.as_slice()).collect();
    (Some(sharpe_ratio(&portfolio_returns(&legs), bars_per_year)), records.len())
}

/// What the DSR deflates for: every configuration tried, with the variance of the stitched
/// Sharpe ratios of those that have one.
fn deflation_trials(configurations: &[Configuration], bars_per_year: f64, notes: &mut Vec<String>) -> Trials {
    let n = configurations.len();
    if n <= 1 {
        return Trials::ONE;
    }
    let sharpes: Vec<f64> = configurations.iter().filter_map(|c| c.stitched_sharpe).collect();
    if sharpes.len() < n {
        notes.push(format!(
            "the deflation counts all {n} configurations tried, but only {} have a stitched Sharpe ratio (a run \
             missing in every seed of the others); their spread is taken from those",
            sharpes.len()
        ));
    }
    if sharpes.len() < 2 {
        notes.push(
            "with fewer than two configurations' Sharpe ratios their spread is unknown: the DSR is not deflated \
             (it is the probability that the Sharpe ratio is above 0)"
                .to_string(),
        );
    }
    Trials {
        configurations: n,
        sharpe_variance: trials_from_annualised_sharpes(&sharpes, bars_per_year).sharpe_variance,
    }
}

/// States counted, as `3 FAILED, 1 CANCELLED`.
fn tally(states: impl Iterator<Item = String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for state in states {
        *counts.entry(state).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
    parts.join(", ")
}

/// A seed whose chosen runs stitch into a complete record.
struct StitchedSeed<'a> {
    /// The seed's index.
    seed: usize,
    /// Its walk of each fold, in fold order.
    walks: Vec<(usize, &'a Walk)>,
    /// Those walks stitched.
    record: TrackRecord,
}

/// The stitched report of the chosen configurations over the complete seeds, with the seeds
/// left out; or why there is none, with the seeds left out.
fn stitched_report(
    grid: &Grid<'_>,
    chosen: &[Option<usize>],
    trials: Trials,
    cfg: &EvalConfig,
    notes: &mut Vec<String>,
) -> Result<(Stitched, Vec<ExcludedSeed>), (String, Vec<ExcludedSeed>)> {
    if grid.folds == 0 {
        return Err(("the experiment has no folds".to_string(), Vec::new()));
    }
    if grid.seeds == 0 {
        return Err(("the experiment has no seeds".to_string(), Vec::new()));
    }
    let empty: Vec<String> = chosen
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_none())
        .map(|(k, _)| {
            let states = (0..grid.configurations).flat_map(|c| (0..grid.seeds).map(move |s| (c, s)));
            format!("fold {k} has no finished run ({})", tally(states.map(|(c, s)| grid.state(c, s, k))))
        })
        .collect();
    if !empty.is_empty() {
        return Err((empty.join("; "), Vec::new()));
    }
    let chosen: Vec<usize> = chosen.iter().flatten().copied().collect();

    let mut excluded = Vec::new();
    let mut kept: Vec<StitchedSeed<'_>> = Vec::new();
    for s in 0..grid.seeds {
        let walks = match seed_walks(grid, &chosen, s) {
            Ok(walks) => walks,
            Err(missing_folds) => {
                let why: Vec<String> = missing_folds
                    .iter()
                    .map(|&k| {
                        let job = grid.run(chosen[k], s, k).map(|r| format!(" ({})", r.job_id)).unwrap_or_default();
                        format!("fold {k} (config {}): {}{job}", chosen[k], grid.state(chosen[k], s, k))
                    })
                    .collect();
                excluded.push(ExcludedSeed { seed_index: s, missing_folds, reason: why.join("; ") });
                continue;
            }
        };
        let record = match stitch_walks(&walks, Leg::AtJobCost) {
            Ok(record) => record,
            Err(e) => {
                excluded.push(ExcludedSeed {
                    seed_index: s,
                    missing_folds: Vec::new(),
                    reason: format!("its walks cannot be stitched: {e}"),
                });
                continue;
            }
        };
        if let Some(StitchedSeed { seed: first, record: first_record, .. }) = kept.first()
            && first_record.ts_ms != record.ts_ms
        {
            let at = record.ts_ms.iter().zip(&first_record.ts_ms).position(|(a, b)| a != b);
            excluded.push(ExcludedSeed {
                seed_index: s,
                missing_folds: Vec::new(),
                reason: format!(
                    "its test bars differ from seed {first}'s ({} bars against {}, first differing at bar {})",
                    record.ts_ms.len(),
                    first_record.ts_ms.len(),
                    at.unwrap_or(record.ts_ms.len().min(first_record.ts_ms.len()))
                ),
            });
            continue;
        }
        kept.push(StitchedSeed { seed: s, walks, record });
    }
    if kept.is_empty() {
        let why: Vec<String> = excluded.iter().map(|e| format!("seed {}: {}", e.seed_index, e.reason)).collect();
        return Err((
            format!("no seed has a finished run of each fold's chosen configuration ({})", why.join("; ")),
            excluded,
        ));
    }

    let records: Vec<TrackRecord> = kept.iter().map(|k| k.record.clone()).collect();
    let walk_forward = walk_forward_report(&records, grid.folds, trials, cfg)
        .map_err(|e| (format!("the seeds' records cannot be compared: {e}"), excluded.clone()))?;
    let first = &records[0];

    let mut cost_sensitivity = Vec::new();
    let costs = kept[0].walks.first().map(|(_, w)| w.cost_bps.clone()).unwrap_or_default();
    'costs: for bps in costs {
        let mut at_cost = Vec::with_capacity(kept.len());
        for StitchedSeed { seed: s, walks, .. } in &kept {
            match stitch_walks(walks, Leg::AtCost(bps)) {
                Ok(record) if record.ts_ms == first.ts_ms => at_cost.push(record.strategy),
                Ok(_) => {
                    notes.push(format!("cost {bps} bps left out: seed {s}'s walks at that cost cover other bars"));
                    continue 'costs;
                }
                Err(e) => {
                    notes.push(format!("cost {bps} bps left out: seed {s}: {e}"));
                    continue 'costs;
                }
            }
        }
        let legs: Vec<&[f64]> = at_cost.iter().map(Vec::as_slice).collect();
        let averaged_at_cost = portfolio_returns(&legs);
        let Ok(versus_buy_and_hold) = paired_sharpe_difference(&averaged_at_cost, &first.buy_and_hold, cfg) else {
            notes.push(format!("cost {bps} bps left out: its series does not cover the record's bars"));
            continue;
        };
        cost_sensitivity.push(CostSharpe {
            cost_bps: bps,
            sharpe: sharpe_ratio(&averaged_at_cost, cfg.bars_per_year),
            versus_buy_and_hold,
        });
    }

    Ok((Stitched { seed_indices: kept.iter().map(|k| k.seed).collect(), cost_sensitivity, ..walk_forward }, excluded))
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// Milliseconds in the mean Gregorian year, to put bar times on a calendar axis.
const MS_PER_YEAR: f64 = 365.2425 * 86_400_000.0;

/// The stitched out-of-sample equity of the report's chosen configurations (from `input`'s
/// walks, as the report chose them): one curve per seed in the stitched figures, their mean
/// (the seed-averaged policy) and buy-and-hold on the same bars, over calendar time. A report
/// without a stitched record gives a chart that says so.
pub fn walk_forward_svg(input: &ExperimentInput, report: &ExperimentReport) -> String {
    let title = format!("{}: stitched out-of-sample equity", report.experiment_id);
    let (x_label, y_label) = ("year (UTC)", "equity (start = 1)");
    let none = |why: &str| line_chart_svg(&format!("{title} ({why})"), x_label, y_label, &[], &[]);
    let Some(stitched) = &report.stitched else {
        return none("none: see the verdict");
    };
    let Some(chosen) = report.per_fold.iter().map(|f| f.chosen_config).collect::<Option<Vec<usize>>>() else {
        return none("none: a fold without a chosen configuration");
    };
    let mut notes = Vec::new();
    let grid = Grid::new(input, input.configs.len().max(1), &mut notes);
    let records: Vec<(usize, TrackRecord)> = stitched
        .seed_indices
        .iter()
        .filter_map(|&s| {
            let walks = seed_walks(&grid, &chosen, s).ok()?;
            Some((s, stitch_walks(&walks, Leg::AtJobCost).ok()?))
        })
        .collect();
    let Some((_, first)) = records.first() else {
        return none("none: the report's runs are not in the input");
    };
    let ts = &first.ts_ms;
    let gap = if ts.len() > 1 { ts[1] - ts[0] } else { 0 };
    let x: Vec<f64> = std::iter::once(ts.first().map_or(0, |t| t - gap))
        .chain(ts.iter().copied())
        .map(|t| 1970.0 + t as f64 / MS_PER_YEAR)
        .collect();
    let mut series: Vec<Series> = records
        .iter()
        .map(|(s, r)| {
            let seed = grid.seed_value(*s).map(|v| format!(" ({v})")).unwrap_or_default();
            Series::new(format!("seed {s}{seed}"), equity_curve(&r.strategy))
        })
        .collect();
    let legs: Vec<&[f64]> =
        records.iter().filter(|(_, r)| r.ts_ms == *ts).map(|(_, r)| r.strategy.as_slice()).collect();
    series.push(Series::new("seed average", equity_curve(&portfolio_returns(&legs))));
    series.push(Series::new("buy-and-hold", equity_curve(&first.buy_and_hold)));
    line_chart_svg(&title, x_label, y_label, &x, &series)
}

/// A strip plot of the chosen configurations' test Sharpe ratios: one column per fold (its
/// chosen configuration named), one dot per seed in its own colour, and buy-and-hold's Sharpe on
/// the fold's bars marked with a black bar. A missing run is a missing dot.
pub fn seeds_strip_svg(report: &ExperimentReport) -> String {
    let categories: Vec<String> = report
        .per_fold
        .iter()
        .map(|f| match f.chosen_config {
            Some(c) => format!("fold {} (config {c})", f.fold),
            None => format!("fold {} (no run)", f.fold),
        })
        .collect();
    let seeds = report.per_fold.iter().flat_map(|f| f.chosen.iter().map(|s| s.seed_index + 1)).max().unwrap_or(0);
    let series: Vec<Series> = (0..seeds)
        .map(|s| {
            let values = report
                .per_fold
                .iter()
                .map(|f| f.chosen.iter().find(|r| r.seed_index == s).and_then(|r| r.test_sharpe).unwrap_or(f64::NAN))
                .collect();
            Series::new(format!("seed {s}"), values)
        })
        .collect();
    let buy_and_hold = Series::new(
        "buy-and-hold",
        report.per_fold.iter().map(|f| f.buy_and_hold_sharpe.unwrap_or(f64::NAN)).collect(),
    );
    strip_chart_svg(
        &format!("{}: test Sharpe per seed and fold", report.experiment_id),
        "fold (configuration chosen on validation)",
        "test Sharpe (annualised)",
        &categories,
        &series,
        Some(&buy_and_hold),
    )
}
