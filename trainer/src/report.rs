//! The human-readable table of an evaluation: the strategy next to buy-and-hold, per symbol and
//! for the portfolio, with the Sharpe's confidence interval. One table for every tool: this is
//! `skippy_contract::results::table` over the report.

use crate::evaluation::EvaluationReport;

/// The metrics table printed at the end of a run.
pub fn metrics_table(report: &EvaluationReport) -> String {
    labelled_table(report, "PPO")
}

/// [`metrics_table`] with the strategy's rows named `strategy` (e.g. `short` for a fixed policy):
/// the one table of `skippy_contract::results`, over the report as `metrics.json` holds it.
pub fn labelled_table(report: &EvaluationReport, strategy: &str) -> String {
    let json = serde_json::to_value(report).expect("reports serialise");
    let view: skippy_contract::results::Evaluation = serde_json::from_value(json).expect("a report reads as its view");
    skippy_contract::results::table(&view, strategy)
}
