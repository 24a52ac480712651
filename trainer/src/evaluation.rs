//! The honest out-of-sample evaluation of a trained model: per symbol and for the
//! equal-weight portfolio, the strategy's metrics next to buy-and-hold on the same test bars,
//! with bootstrap intervals for the Sharpe and for its difference from buy-and-hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skippy_eval::{Comparison, EvalConfig, Metrics};

use crate::backtest::{self, Backtest};
use crate::dataset::Dataset;
use crate::env::EnvConfig;
use crate::ppo::ActorCritic;
use crate::spec::EvaluationConfig;

/// Metrics of the model and of buy-and-hold on one set of bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// The model.
    pub strategy: Metrics,
    /// Buy-and-hold on the same bars.
    pub buy_and_hold: Metrics,
    /// Sharpe(model) − Sharpe(buy-and-hold), with a paired block-bootstrap interval.
    pub vs_buy_and_hold: Comparison,
    /// Whether the model's own Sharpe interval excludes 0 (an edge, not noise).
    pub edge_significant: bool,
    /// For synthetic markets: the best Sharpe of the generator's informed policies (which know
    /// the hidden regime and the true expected return) on the same bars and costs: the best
    /// achievable, to judge the model against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub informed_sharpe: Option<f64>,
    /// When the model's walk lost the whole equity (a short through a doubling; it stays flat at
    /// zero equity from there), unix ms; absent when it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wiped_out_ms: Option<i64>,
    /// First and last bar time of the segment (unix ms).
    pub from_ms: i64,
    /// Last bar time (unix ms).
    pub to_ms: i64,
}

/// The test-segment evaluation of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Per symbol.
    pub symbols: BTreeMap<String, SegmentReport>,
    /// Equal-weight portfolio of all symbols, rebalanced every bar.
    pub portfolio: SegmentReport,
    /// Bars per year used to annualise.
    pub bars_per_year: f64,
    /// Cost per unit of position change (fee plus half-spread, a fraction).
    pub cost: f64,
    /// Slippage per unit of position change, bps, on top of `cost`.
    #[serde(default)]
    pub slippage_bps: f64,
    /// How every interval was drawn (the bootstrap and its block length rule).
    #[serde(default)]
    pub bootstrap: String,
    /// The same policy walked again over the test bars at other costs (the walk is re-run, not
    /// re-priced: a policy that sees its position reacts to what a trade costs).
    #[serde(default)]
    pub cost_sensitivity: Vec<CostSensitivity>,
    /// Fixed policies on the same bars and costs, per symbol and for the portfolio: always short
    /// and flat (buy-and-hold, always long, is beside every row already).
    #[serde(default)]
    pub baselines: Vec<Baseline>,
}

/// Total costs per unit traded (bps) at which every evaluation re-runs its test walk.
pub const COST_SENSITIVITY_BPS: [f64; 5] = [0.0, 5.0, 10.0, 20.0, 40.0];

/// The portfolio's test result at one cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSensitivity {
    /// Total cost per unit of position change, bps (no separate slippage).
    pub cost_bps: f64,
    /// The policy's annualised Sharpe.
    pub sharpe: f64,
    /// Its total return (fraction).
    pub total_return: f64,
    /// Buy-and-hold's Sharpe at that cost.
    pub buy_and_hold_sharpe: f64,
    /// Buy-and-hold's total return.
    pub buy_and_hold_total_return: f64,
}

/// A fixed policy's result on the test bars of one symbol or of the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// `short` or `flat`.
    pub policy: backtest::FixedPolicy,
    /// A symbol, or `portfolio`.
    pub name: String,
    /// Annualised Sharpe.
    pub sharpe: f64,
    /// Total return (fraction).
    pub total_return: f64,
}

/// Which segment to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The validation segment (model selection).
    Validation,
    /// The test segment (the final score).
    Test,
}

/// Walks the model over `segment` of every symbol.
pub fn backtests(agent: &ActorCritic, data: &Dataset, env: &EnvConfig, segment: Segment) -> Vec<Backtest> {
    data.symbols
        .iter()
        .map(|s| {
            let range = match segment {
                Segment::Validation => s.segments.validation.clone(),
                Segment::Test => s.segments.test.clone(),
            };
            backtest::run(agent, &s.market, range, env, &s.bars.ts_ms)
        })
        .collect()
}

/// Equal-weight portfolio Sharpe of a set of backtests (the validation score).
pub fn portfolio_sharpe(runs: &[Backtest], bars_per_year: f64) -> f64 {
    portfolio_figures(runs.iter().map(|b| b.strategy.as_slice()), bars_per_year).0
}

/// Bars per year of a dataset (its symbols share one interval).
pub fn bars_per_year(data: &Dataset) -> f64 {
    data.symbols.iter().map(|s| s.bars_per_year).fold(0.0, f64::max)
}

/// Scores `agent` on the test segment of every symbol (then again at each cost of
/// [`COST_SENSITIVITY_BPS`]).
pub fn evaluate(
    agent: &ActorCritic,
    data: &Dataset,
    env: &EnvConfig,
    cfg: &EvaluationConfig,
    seed: u64,
) -> EvaluationReport {
    report(&|env: &EnvConfig| backtests(agent, data, env, Segment::Test), data, env, cfg, seed)
}

/// Scores a fixed policy on the test segment of every symbol, exactly as a model is scored.
pub fn evaluate_fixed(
    policy: backtest::FixedPolicy,
    data: &Dataset,
    env: &EnvConfig,
    cfg: &EvaluationConfig,
    seed: u64,
) -> EvaluationReport {
    report(&|env: &EnvConfig| fixed_backtests(policy, data, env), data, env, cfg, seed)
}

/// Walks a fixed policy over the test segment of every symbol.
fn fixed_backtests(policy: backtest::FixedPolicy, data: &Dataset, env: &EnvConfig) -> Vec<Backtest> {
    data.symbols
        .iter()
        .map(|s| backtest::run_fixed(policy, &s.market, s.segments.test.clone(), env, &s.bars.ts_ms))
        .collect()
}

/// The report of a policy whose test-segment walks (one per symbol of `data`) at settings
/// `env` are `walk(env)`.
fn report(
    walk: &dyn Fn(&EnvConfig) -> Vec<Backtest>,
    data: &Dataset,
    env: &EnvConfig,
    cfg: &EvaluationConfig,
    seed: u64,
) -> EvaluationReport {
    let runs = walk(env);
    let runs = runs.as_slice();
    let bpy = bars_per_year(data);
    let eval_cfg = EvalConfig {
        bars_per_year: bpy,
        bootstrap_samples: cfg.bootstrap_samples,
        block_len: None,
        level: cfg.level,
        seed,
    };
    let mut symbols = BTreeMap::new();
    for (s, run) in data.symbols.iter().zip(runs) {
        let cfg_s = EvalConfig { bars_per_year: s.bars_per_year, ..eval_cfg };
        let metrics = skippy_eval::evaluate(&run.strategy, &run.positions, &cfg_s);
        let mut rep = segment_report(metrics, &run.strategy, &run.buy_and_hold, &run.ts_ms, &cfg_s);
        rep.wiped_out_ms = run.wiped_out_ms;
        rep.informed_sharpe = s.synthetic.as_ref().map(|m| {
            let test = &s.segments.test;
            skippy_market::synthetic::INFORMED_THRESHOLDS
                .iter()
                .map(|k| m.informed_returns(test.start..test.end + 1, env.cost_per_unit(), k * env.cost_per_unit()))
                .map(|r| skippy_eval::sharpe_ratio(&r, s.bars_per_year))
                .fold(f64::NEG_INFINITY, f64::max)
        });
        symbols.insert(s.bars.symbol.clone(), rep);
    }
    // The symbols share one calendar (`Dataset::assemble`), so their walks cover the same bars
    // and the portfolio pairs its legs by time.
    assert!(runs.iter().all(|b| b.ts_ms == runs[0].ts_ms), "a portfolio's legs must cover the same bar times");
    let strat: Vec<&[f64]> = runs.iter().map(|b| b.strategy.as_slice()).collect();
    let bh: Vec<&[f64]> = runs.iter().map(|b| b.buy_and_hold.as_slice()).collect();
    let port = skippy_eval::portfolio_returns(&strat);
    let port_bh = skippy_eval::portfolio_returns(&bh);
    // Each symbol's positions, counted per symbol so a long and a short do not cancel out.
    let legs: Vec<&[f64]> = runs.iter().map(|b| b.positions.as_slice()).collect();
    let ts = runs.first().map(|b| b.ts_ms.as_slice()).unwrap_or_default();
    let metrics = skippy_eval::evaluate_portfolio(&port, &legs, &eval_cfg);
    let portfolio = segment_report(metrics, &port, &port_bh, ts, &eval_cfg);
    let cost_sensitivity = COST_SENSITIVITY_BPS
        .iter()
        .map(|&bps| {
            let runs = walk(&env.at_cost_bps(bps));
            let (sharpe, total_return) = portfolio_figures(runs.iter().map(|b| b.strategy.as_slice()), bpy);
            let (bh_sharpe, bh_return) = portfolio_figures(runs.iter().map(|b| b.buy_and_hold.as_slice()), bpy);
            CostSensitivity {
                cost_bps: bps,
                sharpe,
                total_return,
                buy_and_hold_sharpe: bh_sharpe,
                buy_and_hold_total_return: bh_return,
            }
        })
        .collect();
    let mut baselines = Vec::new();
    for policy in [backtest::FixedPolicy::Short, backtest::FixedPolicy::Flat] {
        let runs = fixed_backtests(policy, data, env);
        for (s, run) in data.symbols.iter().zip(&runs) {
            let (sharpe, total_return) = portfolio_figures(std::iter::once(run.strategy.as_slice()), s.bars_per_year);
            baselines.push(Baseline { policy, name: s.bars.symbol.clone(), sharpe, total_return });
        }
        if runs.len() > 1 {
            let (sharpe, total_return) = portfolio_figures(runs.iter().map(|b| b.strategy.as_slice()), bpy);
            baselines.push(Baseline { policy, name: "portfolio".into(), sharpe, total_return });
        }
    }
    EvaluationReport {
        symbols,
        portfolio,
        bars_per_year: bpy,
        cost: env.cost,
        slippage_bps: env.slippage_bps,
        bootstrap: skippy_eval::BOOTSTRAP_METHOD.to_string(),
        cost_sensitivity,
        baselines,
    }
}

/// The annualised Sharpe and total return of the equal-weight portfolio of `legs`.
fn portfolio_figures<'a>(legs: impl Iterator<Item = &'a [f64]>, bars_per_year: f64) -> (f64, f64) {
    let legs: Vec<&[f64]> = legs.collect();
    let returns = skippy_eval::portfolio_returns(&legs);
    let total: f64 = returns.iter().sum();
    (skippy_eval::sharpe_ratio(&returns, bars_per_year), total.exp_m1())
}

/// The report of one set of bars: the strategy's `strategy_m` (from its returns `strategy`)
/// next to buy-and-hold's returns `bh` on the same bars.
fn segment_report(strategy_m: Metrics, strategy: &[f64], bh: &[f64], ts: &[i64], cfg: &EvalConfig) -> SegmentReport {
    let bh_m = skippy_eval::buy_and_hold(bh, cfg);
    let vs = skippy_eval::paired_sharpe_difference(strategy, bh, cfg).expect("backtest series have equal lengths");
    SegmentReport {
        informed_sharpe: None,
        wiped_out_ms: None,
        edge_significant: skippy_eval::is_significant(&strategy_m.sharpe_ci),
        strategy: strategy_m,
        buy_and_hold: bh_m,
        vs_buy_and_hold: vs,
        from_ms: ts.first().copied().unwrap_or_default(),
        to_ms: ts.last().copied().unwrap_or_default(),
    }
}
