//! What the CLI reads of a job's `metrics.json` (written by the trainer's `artifacts` module):
//! the out-of-sample evaluation per symbol and for the portfolio, next to buy-and-hold.
//!
//! These are the CLI's own types over the JSON contract rather than the trainer's structs, so a
//! CLI talks to a scheduler of another version: unknown fields are ignored and missing figures
//! read as 0.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `metrics.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricsFile {
    /// Why training stopped: `completed`, `duration_limit`, ….
    pub stop_reason: Option<String>,
    /// Steps trained.
    pub steps_done: Option<u64>,
    /// Steps asked for.
    pub total_steps: Option<u64>,
    /// Steps at which the kept model was validated.
    pub kept_model_steps: Option<u64>,
    /// Its validation Sharpe.
    pub kept_model_validation_sharpe: Option<f64>,
    /// How many validations it was the best of (absent in older results).
    #[serde(default)]
    pub validations: Option<usize>,
    /// The test-segment evaluation (absent when the run stopped before evaluating).
    pub evaluation: Option<Evaluation>,
}

/// The test-segment evaluation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Evaluation {
    /// Per symbol, sorted by name.
    pub symbols: BTreeMap<String, Segment>,
    /// The equal-weight portfolio.
    pub portfolio: Segment,
    /// Bars per year used to annualise.
    pub bars_per_year: f64,
    /// Cost per unit of position change.
    pub cost: f64,
    /// Slippage per unit of position change, bps, on top of `cost`.
    pub slippage_bps: f64,
    /// How the intervals were drawn (empty in older results).
    pub bootstrap: String,
    /// The portfolio re-run over the test bars at other costs.
    pub cost_sensitivity: Vec<CostSensitivity>,
    /// Always-short and flat on the same bars and costs.
    pub baselines: Vec<Baseline>,
}

/// The portfolio's test result at one cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CostSensitivity {
    /// Total cost per unit traded, bps.
    pub cost_bps: f64,
    /// The policy's Sharpe.
    pub sharpe: f64,
    /// Its total return.
    pub total_return: f64,
    /// Buy-and-hold's Sharpe at that cost.
    pub buy_and_hold_sharpe: f64,
    /// Buy-and-hold's total return.
    pub buy_and_hold_total_return: f64,
}

/// A fixed policy's result on the test bars.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Baseline {
    /// `short` or `flat`.
    pub policy: String,
    /// A symbol, or `portfolio`.
    pub name: String,
    /// Sharpe.
    pub sharpe: f64,
    /// Total return.
    pub total_return: f64,
}

/// The model and buy-and-hold on one set of bars.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Segment {
    /// The model.
    pub strategy: Metrics,
    /// Buy-and-hold on the same bars.
    pub buy_and_hold: Metrics,
    /// Sharpe(model) − Sharpe(buy-and-hold) with its paired bootstrap interval.
    pub vs_buy_and_hold: Comparison,
    /// Whether the model's Sharpe interval excludes 0.
    pub edge_significant: bool,
    /// Synthetic markets only: the best achievable Sharpe (the generator's informed policy).
    pub informed_sharpe: Option<f64>,
    /// First bar of the segment, unix ms.
    pub from_ms: i64,
    /// Last bar of the segment, unix ms.
    pub to_ms: i64,
}

/// Metrics of one return series.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metrics {
    /// Annualised Sharpe.
    pub sharpe: f64,
    /// Its bootstrap interval.
    pub sharpe_ci: Interval,
    /// Annualised Sortino.
    pub sortino: f64,
    /// Largest drawdown, a fraction.
    pub max_drawdown: f64,
    /// Simple total return, a fraction.
    pub total_return: f64,
    /// Annual turnover.
    pub turnover: f64,
    /// Fraction of in-market bars with a positive return.
    pub hit_rate: f64,
    /// Position changes.
    pub trades: u64,
    /// Bars evaluated.
    pub bars: u64,
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

/// Sharpe difference between the model and buy-and-hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Comparison {
    /// The difference.
    pub difference: f64,
    /// Its interval.
    pub interval: Interval,
    /// Whether the interval excludes 0.
    pub significant: bool,
}

impl MetricsFile {
    /// Parses `metrics.json`.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}
