//! The trading environment's settings: window, episode length, costs, the position set.

use serde::{Deserialize, Serialize};

/// Environment settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    /// Feature rows in one observation (bars `t − window + 1 ..= t`).
    pub window: usize,
    /// Steps per episode before truncation.
    pub episode_len: usize,
    /// Cost per unit of position change, as a fraction: the exchange's fee plus half the spread
    /// (10 bps = 0.001, a taker fee on the shipped exchanges).
    pub cost: f64,
    /// Slippage per unit of position change, in basis points: what a fill loses to the price
    /// moving against it, on top of `cost` (0 by default).
    pub slippage_bps: f64,
    /// Only flat and long positions.
    pub long_only: bool,
    /// Multiplier from log returns to rewards (100: rewards in percent), for the value scale.
    pub reward_scale: f32,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig { window: 4, episode_len: 256, cost: 0.001, slippage_bps: 0.0, long_only: false, reward_scale: 100.0 }
    }
}

impl EnvConfig {
    /// What one unit of position change costs, as a fraction: `cost` plus the slippage.
    pub fn cost_per_unit(&self) -> f64 {
        self.cost + self.slippage_bps * 1e-4
    }

    /// The same settings at a total cost of `bps` per unit traded (no separate slippage).
    pub fn at_cost_bps(&self, bps: f64) -> EnvConfig {
        EnvConfig { cost: bps * 1e-4, slippage_bps: 0.0, ..self.clone() }
    }

    /// Number of discrete actions.
    pub fn n_actions(&self) -> usize {
        if self.long_only { 2 } else { 3 }
    }

    /// The position an action means.
    pub fn position(&self, action: usize) -> i8 {
        if self.long_only { action.min(1) as i8 } else { action.min(2) as i8 - 1 }
    }
}
