//! Human-readable tables of an evaluation: the strategy next to buy-and-hold, per symbol and
//! for the portfolio, with the Sharpe's confidence interval.

use std::fmt::Write as _;

use skippy_eval::Metrics;

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
    let _ = writeln!(
        out,
        "annualised over {:.0} bars/year; costs {:.1} bps per unit of position change",
        report.bars_per_year,
        report.cost * 1e4
    );
    out
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
