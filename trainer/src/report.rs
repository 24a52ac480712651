//! Human-readable tables of an evaluation: the strategy next to buy-and-hold, per symbol and
//! for the portfolio, with the Sharpe's confidence interval.

use std::fmt::Write as _;

use skippy_eval::Metrics;

use crate::backtest::FixedPolicy;
use crate::evaluation::{EvaluationReport, SegmentReport};

/// The metrics table printed at the end of a run.
pub fn metrics_table(report: &EvaluationReport) -> String {
    labelled_table(report, "PPO")
}

/// [`metrics_table`] with the strategy's rows named `strategy` (e.g. `short` for a fixed policy).
pub fn labelled_table(report: &EvaluationReport, strategy: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>19} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "out-of-sample (test)", "Sharpe", "95% CI", "Sortino", "max DD", "return", "turnover", "hit", "trades"
    );
    let mut rows: Vec<(&str, &SegmentReport)> = report.symbols.iter().map(|(k, v)| (k.as_str(), v)).collect();
    if report.symbols.len() > 1 {
        rows.push(("portfolio", &report.portfolio));
    }
    for (name, seg) in rows {
        row(&mut out, &format!("{name} {strategy}"), &seg.strategy);
        row(&mut out, &format!("{name} buy-and-hold"), &seg.buy_and_hold);
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
    if !report.baselines.is_empty() {
        let _ = writeln!(out, "{:<22} {:>8} {:>9}", "fixed policies", "Sharpe", "return");
        for b in &report.baselines {
            let policy = match b.policy {
                FixedPolicy::Long => "always long",
                FixedPolicy::Short => "always short",
                FixedPolicy::Flat => "flat",
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
    if !report.cost_sensitivity.is_empty() {
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>9} {:>13} {:>9}",
            "cost per unit traded", "Sharpe", "return", "buy-and-hold", "return"
        );
        for c in &report.cost_sensitivity {
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
    let _ = writeln!(out, "{}", header(report));
    out
}

/// What the figures assume: annualisation, costs, how the intervals were drawn.
pub fn header(report: &EvaluationReport) -> String {
    let method = if report.bootstrap.is_empty() { "bootstrap" } else { report.bootstrap.as_str() };
    format!(
        "annualised over {:.0} bars/year; costs {:.1} bps per unit of position change + {:.1} bps slippage; \
         intervals: {method}",
        report.bars_per_year,
        report.cost * 1e4,
        report.slippage_bps
    )
}

fn row(out: &mut String, name: &str, m: &Metrics) {
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
