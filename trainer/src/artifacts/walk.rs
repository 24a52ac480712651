//! `walk.csv`: the equal-weight portfolio's test walk bar by bar, as net log returns: the
//! model's at the job's own costs, buy-and-hold's on the same bars and costs, and the model's
//! walk re-run at each total cost of [`COST_SENSITIVITY_BPS`] (as the evaluation's cost
//! sensitivity re-runs it). `equity.csv` holds the same walk as equity levels; this file is what
//! an experiment stitches its folds' out-of-sample records from, and reprices.

use std::fmt::Write as _;

use crate::backtest::Backtest;
use crate::dataset::Dataset;
use crate::env::EnvConfig;
use crate::evaluation::{self, COST_SENSITIVITY_BPS, Segment};
use crate::ppo::ActorCritic;

/// The name of the column of the model's walk at a total cost of `bps` per unit traded.
pub fn cost_column(bps: f64) -> String {
    format!("strategy_cost_{bps}bps")
}

/// The columns, in order: `time_ms,strategy,buy_and_hold,strategy_cost_0bps,…`.
pub fn columns() -> Vec<String> {
    let mut columns: Vec<String> = ["time_ms", "strategy", "buy_and_hold"].map(String::from).to_vec();
    columns.extend(COST_SENSITIVITY_BPS.iter().map(|&bps| cost_column(bps)));
    columns
}

/// `walk.csv` of `model` on the test bars of `data`, given its walks `runs` at `env` (one per
/// symbol, as [`evaluation::backtests`] returns them). One row per step; `time_ms` is the bar the
/// step's return was earned on; every value in full precision (`{}` of an f64 reads back to the
/// same number).
pub fn csv(model: &ActorCritic, data: &Dataset, env: &EnvConfig, runs: &[Backtest]) -> String {
    let strategy = portfolio(runs, |b| &b.strategy);
    let buy_and_hold = portfolio(runs, |b| &b.buy_and_hold);
    let repriced: Vec<Vec<f64>> = COST_SENSITIVITY_BPS
        .iter()
        .map(|&bps| {
            portfolio(&evaluation::backtests(model, data, &env.at_cost_bps(bps), Segment::Test), |b| &b.strategy)
        })
        .collect();
    let times = runs.first().map(|b| b.ts_ms.as_slice()).unwrap_or_default();
    let mut out = columns().join(",");
    out.push('\n');
    for (i, (t, (s, bh))) in times.iter().zip(strategy.iter().zip(&buy_and_hold)).enumerate() {
        let _ = write!(out, "{t},{s},{bh}");
        for walk in &repriced {
            let _ = write!(out, ",{}", walk[i]);
        }
        out.push('\n');
    }
    out
}

/// The equal-weight portfolio's per-step log returns of one series of every symbol's walk.
fn portfolio(runs: &[Backtest], series: impl Fn(&Backtest) -> &Vec<f64>) -> Vec<f64> {
    let legs: Vec<&[f64]> = runs.iter().map(|b| series(b).as_slice()).collect();
    skippy_eval::portfolio_returns(&legs)
}

#[cfg(test)]
mod tests {
    use skippy_market::catalog::Catalog;
    use skippy_market::features::FeatureSet;

    use super::*;
    use crate::artifacts::{self, names};
    use crate::spec::TrainSpec;
    use crate::training::{self, RunOptions};

    /// The named column of a CSV, parsed.
    fn column(csv: &str, name: &str) -> Vec<f64> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
        let at = header.iter().position(|c| *c == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
        lines.map(|l| l.split(',').nth(at).expect("a full row").parse().expect("a number")).collect()
    }

    #[test]
    fn the_header_is_the_one_the_scheduler_reads() {
        assert_eq!(
            columns().join(","),
            "time_ms,strategy,buy_and_hold,strategy_cost_0bps,strategy_cost_5bps,strategy_cost_10bps,\
             strategy_cost_20bps,strategy_cost_40bps"
        );
    }

    /// A short run on two symbols (a portfolio of two legs) at the default cost, 10 bps: one of
    /// the grid's.
    #[test]
    fn the_walk_compounds_to_the_equity_curve_and_its_own_cost_column_is_the_strategy() {
        let mut spec = TrainSpec::new(vec!["SYN-EDGE".into(), "SYN-RW".into()], vec![FeatureSet::Price], 2048, 5);
        spec.ppo.n_steps = 1024;
        spec.evaluation.bootstrap_samples = 100;
        let data = Dataset::load(&spec, &Catalog::embedded()).expect("the synthetic symbols load");
        let opts = RunOptions { threads: 1, ..RunOptions::default() };
        let outcome = training::train(&spec, &data, None, &opts, &mut ()).expect("a short run trains");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let written = artifacts::write(dir.path(), &spec, &data, &outcome).expect("the artifacts are written");
        assert!(written.contains(&dir.path().join(names::WALK_CSV)), "write returns walk.csv: {written:?}");
        let walk = std::fs::read_to_string(dir.path().join(names::WALK_CSV)).expect("walk.csv");
        let equity = std::fs::read_to_string(dir.path().join(names::EQUITY_CSV)).expect("equity.csv");

        let strategy = column(&walk, "strategy");
        let portfolio = column(&equity, "portfolio");
        assert_eq!(strategy.len() + 1, portfolio.len(), "one row per step; equity.csv adds the start");
        assert!(strategy.len() > 100, "the test segment has {} steps", strategy.len());
        let compounded = strategy.iter().sum::<f64>().exp();
        let last = *portfolio.last().expect("an equity row");
        assert!((compounded / last - 1.0).abs() < 1e-9, "exp(Σ strategy) = {compounded}, equity ends at {last}");

        // The step's bar: equity.csv's row i + 1 is the equity after step i.
        let times = column(&walk, "time_ms");
        assert_eq!(times, column(&equity, "time_ms")[1..]);
        let bh = column(&walk, "buy_and_hold");
        let bh_last = *column(&equity, "portfolio_buy_and_hold").last().expect("an equity row");
        assert!((bh.iter().sum::<f64>().exp() / bh_last - 1.0).abs() < 1e-9);

        assert_eq!(spec.env.cost_per_unit(), 10.0 * 1e-4, "the default cost is the grid's 10 bps");
        assert_eq!(column(&walk, "strategy_cost_10bps"), strategy, "the job's own cost is the same walk");
        assert_ne!(column(&walk, "strategy_cost_0bps"), column(&walk, "strategy_cost_40bps"), "the model trades");
        // The evaluation's cost sensitivity is the same walks, summed.
        let evaluation = outcome.evaluation.as_ref().expect("an evaluated run");
        for row in &evaluation.cost_sensitivity {
            let total = column(&walk, &cost_column(row.cost_bps)).iter().sum::<f64>().exp_m1();
            assert!((total - row.total_return).abs() < 1e-9, "{} bps: {total} vs {}", row.cost_bps, row.total_return);
        }
    }
}
