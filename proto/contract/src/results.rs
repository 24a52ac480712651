//! A job's `metrics.json` as readers see it (the trainer's `artifacts` module writes it): the
//! out-of-sample evaluation per symbol and for the portfolio, next to buy-and-hold, and the one
//! text table every tool prints of it ([`table`]).
//!
//! The types are tolerant readers of the JSON, not the trainer's structs, so a CLI talks to a
//! scheduler of another version: unknown fields are ignored and missing figures read as 0. The
//! statistics every report shares, [`Interval`] and [`Comparison`], are defined here once:
//! `skippy_eval` computes them and writes them as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

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
    pub strategy: SeriesFigures,
    /// Buy-and-hold on the same bars.
    pub buy_and_hold: SeriesFigures,
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

/// SeriesFigures of one return series.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SeriesFigures {
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

/// A two-sided confidence interval `[lo, hi]` (`skippy_eval` builds them; every report and
/// `metrics.json` writes them in this form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound; never below `lo`.
    pub hi: f64,
    /// Confidence level the interval was built for, e.g. 0.95 for a 95% interval.
    pub level: f64,
    /// Mean block length in bars of the stationary bootstrap behind the interval: the
    /// Politis–White choice for the data, or the configured length when set. At least 1 (1 for
    /// fewer than two bars, where nothing is resampled); 0 only in results written before the
    /// length was recorded.
    pub block_len: f64,
}

impl Interval {
    /// Whether `x` lies in the closed interval `[lo, hi]`.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// Width `hi - lo` of the interval (0 when not finite).
    pub fn width(&self) -> f64 {
        let w = self.hi - self.lo;
        if w.is_finite() { w } else { 0.0 }
    }
}

/// The difference of the annualised Sharpe ratios of two strategies on the same bars, e.g. a
/// model against buy-and-hold or against the champion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Comparison {
    /// `sharpe(a) − sharpe(b)` on the full series.
    pub difference: f64,
    /// Paired stationary-bootstrap percentile interval of the difference; its block length is
    /// the larger of the two series'.
    pub interval: Interval,
    /// Whether the interval excludes 0: `a` is better (or worse, if the difference is negative)
    /// than `b` at the interval's confidence level, in a two-sided test.
    pub significant: bool,
}

impl MetricsFile {
    /// Parses `metrics.json`.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// The out-of-sample table every tool prints: per symbol (and the portfolio when there are
/// several) the policy, its rows named `strategy` (`PPO`, `short`, `model`), next to
/// buy-and-hold with the Sharpe's interval, the best achievable Sharpe when known and the
/// interval of the Sharpe difference; then the fixed policies, the cost sensitivity, and a
/// header line of what the figures assume (annualisation, costs, how intervals were drawn).
pub fn table(e: &Evaluation, strategy: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>19} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "out-of-sample (test)", "Sharpe", "95% CI", "Sortino", "max DD", "return", "turnover", "hit", "trades"
    );
    let mut rows: Vec<(&str, &Segment)> = e.symbols.iter().map(|(k, v)| (k.as_str(), v)).collect();
    if e.symbols.len() > 1 {
        rows.push(("portfolio", &e.portfolio));
    }
    for (name, seg) in rows {
        metrics_row(&mut out, &format!("{name} {strategy}"), &seg.strategy);
        metrics_row(&mut out, &format!("{name} buy-and-hold"), &seg.buy_and_hold);
        if let Some(best) = seg.informed_sharpe {
            let _ = writeln!(
                out,
                "{:<22} {:>+8.2}   (the generator's informed policy, same bars and costs)",
                format!("{name} best achievable"),
                best
            );
        }
        let d = &seg.vs_buy_and_hold;
        let _ = writeln!(
            out,
            "{:<22} {:>+8.2} [{:>+7.2}, {:>+7.2}] {}",
            "  Sharpe difference",
            d.difference,
            d.interval.lo,
            d.interval.hi,
            if d.significant { "significant" } else { "not significant" }
        );
    }
    if !e.baselines.is_empty() {
        let _ = writeln!(out, "{:<22} {:>8} {:>9}", "fixed policies", "Sharpe", "return");
        for b in &e.baselines {
            let policy = match b.policy.as_str() {
                "short" => "always short",
                "long" => "always long",
                other => other,
            };
            let _ = writeln!(
                out,
                "{:<22} {:>+8.2} {:>+8.1}%",
                format!("{} {policy}", b.name),
                b.sharpe,
                b.total_return * 100.0
            );
        }
    }
    if !e.cost_sensitivity.is_empty() {
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>9} {:>13} {:>9}",
            "cost per unit traded", "Sharpe", "return", "buy-and-hold", "return"
        );
        for c in &e.cost_sensitivity {
            let _ = writeln!(
                out,
                "{:<22} {:>+8.2} {:>+8.1}% {:>+13.2} {:>+8.1}%",
                format!("  {:.0} bps", c.cost_bps),
                c.sharpe,
                c.total_return * 100.0,
                c.buy_and_hold_sharpe,
                c.buy_and_hold_total_return * 100.0
            );
        }
    }
    let method = if e.bootstrap.is_empty() { "bootstrap" } else { e.bootstrap.as_str() };
    let _ = writeln!(
        out,
        "annualised over {:.0} bars/year; costs {:.1} bps per unit of position change + {:.1} bps slippage; \
         intervals: {method}",
        e.bars_per_year,
        e.cost * 1e4,
        e.slippage_bps
    );
    out
}

fn metrics_row(out: &mut String, name: &str, m: &SeriesFigures) {
    let _ = writeln!(
        out,
        "{:<22} {:>+8.2} [{:>+7.2}, {:>+7.2}] {:>+8.2} {:>7.1}% {:>+8.1}% {:>9.0} {:>6.1}% {:>7}",
        name,
        m.sharpe,
        m.sharpe_ci.lo,
        m.sharpe_ci.hi,
        m.sortino,
        m.max_drawdown * 100.0,
        m.total_return * 100.0,
        m.turnover,
        m.hit_rate * 100.0,
        m.trades
    );
}
