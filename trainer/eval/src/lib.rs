//! Out-of-sample evaluation: metrics of a position series, bootstrap intervals, plots.
//!
//! The trainer runs a policy over bars it never trained on and hands this crate,
//! per symbol, the per-bar net log returns of the strategy (after transaction
//! costs) and the position held in each bar. This crate turns them into the
//! numbers and charts of a job's `results.json`, next to buy-and-hold on the
//! same bars.
//!
//! # Layout
//! - [`metrics`]: the report of one return series ([`Metrics`]: annualised
//!   Sharpe with its bootstrap interval, Sortino, drawdown, returns,
//!   turnover, hit rate, trades, exposure), buy-and-hold, the equal-weight
//!   portfolio and the equity curve; [`EvalConfig`] holds the knobs.
//! - [`bootstrap`]: the seeded stationary bootstrap behind every interval
//!   ([`BOOTSTRAP_METHOD`]: random-length blocks that wrap around the end of
//!   the series, their mean length chosen from the data by the Politis–White
//!   rule, [`politis_white_block_len`]): the percentile interval of one Sharpe
//!   ratio and the paired interval of the difference of two Sharpe ratios on
//!   the same bars ([`Comparison`]). Every [`Interval`] records the mean block
//!   length it was built with.
//! - [`walk_forward`]: an experiment's statistics: each seed's walk-forward folds stitched into
//!   one out-of-sample record ([`stitch`]), the spread of its Sharpe ratio over seeds, the
//!   seed-averaged policy against buy-and-hold (paired bootstrap), its Deflated Sharpe Ratio,
//!   and the verdict ([`walk_forward_report`]).
//! - [`experiment`]: an experiment's report ([`experiment_report`]): its runs' `walk.csv`
//!   files read ([`parse_walk_csv`]), each fold's configuration chosen on validation only, the
//!   chosen runs stitched per seed into the walk-forward statistics, the cost sensitivity, every
//!   missing run named, and the charts ([`walk_forward_svg`], [`seeds_strip_svg`]); pure
//!   computation, the scheduler does the IO.
//! - [`deflated_sharpe`]: the Probabilistic and the Deflated Sharpe Ratio (Bailey & López de
//!   Prado 2012, 2014): the probability that a Sharpe ratio is not luck, given the skewness,
//!   kurtosis and length of its record and the number of trials it was the best of.
//! - [`normal`]: the standard normal Φ and Φ⁻¹ the deflated Sharpe ratio needs.
//! - [`plot`]: self-contained SVG line charts (equity curves, learning curves) and strip plots
//!   ([`strip_chart_svg`]) returned as strings for the caller to write.
//! - `stats` (private): moments, the Sharpe ratio and the rules that keep
//!   every figure finite, shared by `metrics` and `bootstrap`.
//!
//! # Example
//! ```
//! use skippy_eval::{
//!     EvalConfig, Series, buy_and_hold, equity_curve, evaluate, line_chart_svg,
//!     paired_sharpe_difference,
//! };
//!
//! let cfg = EvalConfig::for_bar_interval(3600)?; // hourly bars: 8,760 a year
//! let market = [0.010, -0.020, 0.015, 0.003, -0.004, 0.020];
//! let positions = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
//! // Net returns as the trainer computes them (here without costs).
//! let strategy: Vec<f64> = market.iter().zip(&positions).map(|(r, p)| r * p).collect();
//!
//! let model = evaluate(&strategy, &positions, &cfg);
//! let benchmark = buy_and_hold(&market, &cfg);
//! assert_eq!(model.trades, 5); // every change of position, entry included
//! assert!(model.max_drawdown < benchmark.max_drawdown);
//! let versus = paired_sharpe_difference(&strategy, &market, &cfg)?;
//! let report = serde_json::to_string(&(model, benchmark, versus))?;
//! let chart = line_chart_svg(
//!     "equity",
//!     "bar",
//!     "equity (start = 1)",
//!     &[], // x = bar index
//!     &[
//!         Series::new("model", equity_curve(&strategy)),
//!         Series::new("buy & hold", equity_curve(&market)),
//!     ],
//! );
//! # assert!(report.contains("sharpe_ci") && chart.contains("buy &amp; hold"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Invariants
//! - No input makes a function panic, and every `f64` in a [`Metrics`],
//!   [`Interval`] or [`Comparison`] is finite, so reports always serialise
//!   to JSON.
//! - Same inputs and same [`EvalConfig::seed`] give bit-identical results.
//! - A bootstrap allocates once per interval, never per resample.

pub mod bootstrap;
pub mod deflated_sharpe;
pub mod experiment;
pub mod metrics;
pub mod normal;
pub mod plot;
mod stats;
pub mod walk_forward;

pub use bootstrap::{
    BOOTSTRAP_METHOD, Comparison, is_significant, paired_sharpe_difference, politis_white_block_len, sharpe_interval,
};
pub use deflated_sharpe::{DeflatedSharpe, deflated_sharpe_ratio};
pub use experiment::{
    EXPERIMENT_SCHEMA, ExperimentInput, ExperimentReport, RunInput, RunOutcome, Walk, WalkCsvError, experiment_report,
    parse_walk_csv, seeds_strip_svg, walk_forward_svg,
};
pub use metrics::{
    DEFAULT_BOOTSTRAP_SAMPLES, DEFAULT_LEVEL, EvalConfig, Interval, MAX_BOOTSTRAP_SAMPLES, Metrics, SECONDS_PER_YEAR,
    buy_and_hold, equity_curve, evaluate, evaluate_portfolio, portfolio_returns, sharpe_ratio,
};
pub use plot::{Series, line_chart_svg, strip_chart_svg};
pub use walk_forward::{
    DSR_THRESHOLD, FoldWalk, SeedSpread, TrackRecord, Trials, Verdict, WalkForwardError, stitch,
    trials_from_annualised_sharpes, walk_forward_report,
};

/// What can go wrong when evaluating; each variant carries the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A paired comparison was given two series that do not cover the same bars.
    #[error("paired series must cover the same bars: first has {a} bars, second has {b}")]
    LengthMismatch {
        /// Number of bars in the first series.
        a: usize,
        /// Number of bars in the second series.
        b: usize,
    },
    /// [`EvalConfig::bars_per_year`] is not a finite number above zero.
    #[error("bars_per_year must be a finite number above 0, got {0}")]
    InvalidBarsPerYear(f64),
    /// A bar interval of zero seconds cannot be annualised.
    #[error("bar interval must be at least 1 second, got 0")]
    ZeroBarInterval,
    /// [`EvalConfig::level`] is not strictly between 0 and 1.
    #[error("confidence level must be strictly between 0 and 1, got {0}")]
    InvalidLevel(f64),
    /// [`EvalConfig::bootstrap_samples`] is zero, which would give no interval at all.
    #[error("bootstrap_samples must be at least 1, got 0")]
    ZeroBootstrapSamples,
    /// [`EvalConfig::bootstrap_samples`] is above [`MAX_BOOTSTRAP_SAMPLES`].
    #[error("bootstrap_samples must be at most {max}, got {0}", max = MAX_BOOTSTRAP_SAMPLES)]
    TooManyBootstrapSamples(usize),
    /// [`EvalConfig::block_len`] is set to a mean block length that is not a
    /// finite number of at least 1 bar (`Some(0.0)`, say).
    #[error("block_len must be a finite mean length of at least 1 bar, got {0}")]
    InvalidBlockLength(f64),
}
