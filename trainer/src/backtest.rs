//! Deterministic walk of a policy over a segment of bars: the most probable action at every
//! decision bar, fills at the next open, costs on every change. Used for validation during
//! training and for the final out-of-sample test.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::env::{EnvConfig, SymbolMarket};
use crate::ppo::ActorCritic;

/// A policy's walk over one segment, one entry per decision bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backtest {
    /// Net log return of each step (position change at the next open, costs paid).
    pub strategy: Vec<f64>,
    /// Position held over each step's bar.
    pub positions: Vec<f64>,
    /// Buy-and-hold on the same bars: long from the first step's open (paying the entry cost once).
    pub buy_and_hold: Vec<f64>,
    /// Open time of the bar each step ends on (unix ms).
    pub ts_ms: Vec<i64>,
    /// Open time of the first decision bar (where equity starts, before any step).
    pub start_ms: i64,
    /// When a step lost the whole equity (a short through a doubling), the time of that step's
    /// bar: from there the walk stays flat, at zero equity.
    pub wiped_out_ms: Option<i64>,
}

/// A fixed policy, walked by the same code as a model: a baseline anyone can check the
/// accounting with (`skippy-trainer backtest --policy …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedPolicy {
    /// Long every bar.
    Long,
    /// Short every bar.
    Short,
    /// Never in the market.
    Flat,
}

impl FixedPolicy {
    /// The position it holds.
    pub fn position(self) -> i8 {
        match self {
            FixedPolicy::Long => 1,
            FixedPolicy::Short => -1,
            FixedPolicy::Flat => 0,
        }
    }
}

/// Walks `agent` greedily over decision bars `range` of `market`, starting flat.
pub fn run(
    agent: &ActorCritic,
    market: &SymbolMarket,
    range: Range<usize>,
    env: &EnvConfig,
    ts_ms: &[i64],
) -> Backtest {
    let mut ws = agent.workspace(1);
    let mut obs = vec![0.0f32; market.obs_dim(env.window)];
    let mut action = [0usize];
    walk(market, range, env, ts_ms, |t, position| {
        market.observe(t, env.window, position, &mut obs);
        agent.greedy(&obs, 1, &mut ws, &mut action);
        env.position(action[0])
    })
}

/// Walks a fixed policy over decision bars `range` of `market`, starting flat.
pub fn run_fixed(
    policy: FixedPolicy,
    market: &SymbolMarket,
    range: Range<usize>,
    env: &EnvConfig,
    ts_ms: &[i64],
) -> Backtest {
    walk(market, range, env, ts_ms, |_, _| policy.position())
}

/// The walk: at each decision bar `t`, `decide(t, position held)` names the position to hold
/// from bar `t + 1`'s open.
fn walk(
    market: &SymbolMarket,
    range: Range<usize>,
    env: &EnvConfig,
    ts_ms: &[i64],
    mut decide: impl FnMut(usize, i8) -> i8,
) -> Backtest {
    let end = range.end.min(market.len().saturating_sub(1));
    let start = range.start.max(env.window.saturating_sub(1));
    let n = end.saturating_sub(start);
    let mut out = Backtest {
        strategy: Vec::with_capacity(n),
        positions: Vec::with_capacity(n),
        buy_and_hold: Vec::with_capacity(n),
        ts_ms: Vec::with_capacity(n),
        start_ms: ts_ms.get(start).copied().unwrap_or_default(),
        wiped_out_ms: None,
    };
    let cost = env.cost_per_unit();
    let mut position = 0i8;
    for t in start..end {
        // After losing the equity the walk stays flat: there is nothing left to trade.
        let (to, r) = match out.wiped_out_ms {
            Some(_) => (0, 0.0),
            None => {
                let to = decide(t, position);
                (to, market.step_log_return(t, position, to, cost))
            }
        };
        if crate::env::is_wiped_out(r) {
            out.wiped_out_ms = Some(ts_ms.get(t + 1).copied().unwrap_or_default());
        }
        out.strategy.push(r);
        out.positions.push(to as f64);
        let held = if t == start { 0 } else { 1 };
        out.buy_and_hold.push(market.step_log_return(t, held, 1, cost));
        out.ts_ms.push(ts_ms.get(t + 1).copied().unwrap_or_default());
        position = to;
    }
    out
}
