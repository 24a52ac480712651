//! The trading environment: one position per step in {short, flat, long} (or {flat, long}),
//! decided on bar `t`'s close and filled at bar `t + 1`'s open, never at a price the agent has
//! already seen. Several environments step together ([`VecEnv`]) for throughput; a multi-symbol
//! job draws each episode's symbol at random, so one policy learns from every symbol.
//!
//! Accounting of the step from bar `t` to `t + 1`, with the old position `p₀` and the new `p₁`,
//! exact in the equity's growth factor: the old position carries over the gap to the next open
//! (`1 + p₀ · (open_{t+1} / close_t − 1)`), the trade fills there and pays its cost on the whole
//! equity (`1 − cost · |p₁ − p₀|`), and the new position carries over the bar
//! (`1 + p₁ · (close_{t+1} / open_{t+1} − 1)`). The step's log return is the log of their product.
//! A short is priced by what it really earns: over a move of log return `x` it grows by
//! `2 − eˣ`, not `e⁻ˣ`, so long plus short over the same bars loses `Σ −ln(1 − (1 − eˣ)²)`.
//! A product at or below [`WIPED_OUT`] (a short whose price more than doubled) has lost the
//! equity: the step's log return is `ln(WIPED_OUT)`, the episode ends, and a backtest says so.
//! The factors are `skippy_market::accounting`'s, which also prices the synthetic markets'
//! informed policies.

use std::ops::Range;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use skippy_market::accounting::{WIPED_OUT, cost_growth, is_wiped_out, log_growth, position_growth};

pub use skippy_contract::env::EnvConfig;

/// One symbol's market as the environment sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMarket {
    /// Symbol name.
    pub symbol: String,
    /// Normalised features, row-major `bars × n_features`.
    pub features: Vec<f32>,
    /// Feature columns.
    pub n_features: usize,
    /// Open prices.
    pub open: Vec<f64>,
    /// Close prices.
    pub close: Vec<f64>,
}

impl SymbolMarket {
    /// Number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// True when there are no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// Observation width for a window.
    pub fn obs_dim(&self, window: usize) -> usize {
        window * self.n_features + 1
    }

    /// Writes the observation at decision bar `t` (needs `t + 1 ≥ window`) holding `position`.
    #[inline]
    pub fn observe(&self, t: usize, window: usize, position: i8, out: &mut [f32]) {
        let f = self.n_features;
        let first = t + 1 - window;
        out[..window * f].copy_from_slice(&self.features[first * f..(t + 1) * f]);
        out[window * f] = position as f32;
    }

    /// Net log return of moving from position `from` to `to` at bar `t + 1`'s open and holding
    /// it to that bar's close (see the module docs): at least `ln(WIPED_OUT)`, reached when
    /// the step loses the equity.
    #[inline]
    pub fn step_log_return(&self, t: usize, from: i8, to: i8, cost: f64) -> f64 {
        let gap = self.open[t + 1] / self.close[t];
        let bar = self.close[t + 1] / self.open[t + 1];
        log_growth(
            position_growth(from as f64, gap)
                * cost_growth(cost, f64::from(to - from))
                * position_growth(to as f64, bar),
        )
    }
}

/// Where one environment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvState {
    /// Index of the symbol of this episode.
    pub symbol: usize,
    /// Current decision bar.
    pub t: usize,
    /// Steps taken in this episode.
    pub steps: usize,
    /// Position held.
    pub position: i8,
}

/// The part of a [`VecEnv`] that changes: saved in checkpoints so a resumed run continues
/// exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VecEnvState {
    /// Each environment's position in its episode.
    pub envs: Vec<EnvState>,
    /// The RNG drawing episode starts and symbols.
    pub rng: ChaCha8Rng,
}

/// Errors building an environment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// A symbol's training range cannot hold a single step.
    #[error("{symbol}: training range {start}..{end} has no decision bars with a {window}-bar window")]
    EmptyRange {
        /// Symbol.
        symbol: String,
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Window.
        window: usize,
    },
    /// Symbols disagree on the feature count.
    #[error("symbol {symbol} has {got} feature columns, the others {want}")]
    FeatureMismatch {
        /// Symbol.
        symbol: String,
        /// Its column count.
        got: usize,
        /// The first symbol's column count.
        want: usize,
    },
    /// No symbols at all.
    #[error("no symbols to trade")]
    NoSymbols,
}

/// Several trading environments stepped together over shared market data.
#[derive(Debug, Clone)]
pub struct VecEnv {
    cfg: EnvConfig,
    markets: Arc<Vec<SymbolMarket>>,
    /// Decision bars episodes may use, per symbol (the training segment).
    ranges: Vec<Range<usize>>,
    state: VecEnvState,
}

/// What one batched step produced, one entry per environment (buffers reused across steps).
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// Scaled rewards.
    pub rewards: Vec<f32>,
    /// Unscaled net log returns.
    pub log_returns: Vec<f64>,
    /// The episode hit its time limit or the end of its range (always a truncation: a trading
    /// episode has no terminal state).
    pub truncated: Vec<bool>,
    /// For truncated environments, the observation of the state where the episode was cut
    /// (row-major `n_envs × obs_dim`; rows of other environments are stale).
    pub final_obs: Vec<f32>,
}

impl VecEnv {
    /// `n_envs` environments over `markets`, each symbol's episodes drawn from its `ranges`
    /// entry (decision bars; clipped to bars with a full window and a next bar).
    pub fn new(
        cfg: EnvConfig,
        markets: Arc<Vec<SymbolMarket>>,
        ranges: Vec<Range<usize>>,
        n_envs: usize,
        seed: u64,
    ) -> Result<VecEnv, EnvError> {
        let first = markets.first().ok_or(EnvError::NoSymbols)?;
        let mut clipped = Vec::with_capacity(ranges.len());
        for (m, r) in markets.iter().zip(&ranges) {
            if m.n_features != first.n_features {
                return Err(EnvError::FeatureMismatch {
                    symbol: m.symbol.clone(),
                    got: m.n_features,
                    want: first.n_features,
                });
            }
            let start = r.start.max(cfg.window.saturating_sub(1));
            let end = r.end.min(m.len().saturating_sub(1));
            if start >= end {
                return Err(EnvError::EmptyRange {
                    symbol: m.symbol.clone(),
                    start: r.start,
                    end: r.end,
                    window: cfg.window,
                });
            }
            clipped.push(start..end);
        }
        let mut env = VecEnv {
            cfg,
            markets,
            ranges: clipped,
            state: VecEnvState { envs: Vec::with_capacity(n_envs), rng: ChaCha8Rng::seed_from_u64(seed) },
        };
        for _ in 0..n_envs {
            let s = env.new_episode();
            env.state.envs.push(s);
        }
        Ok(env)
    }

    fn new_episode(&mut self) -> EnvState {
        let symbol = self.state.rng.random_range(0..self.markets.len());
        let r = &self.ranges[symbol];
        let latest = r.end.saturating_sub(self.cfg.episode_len).max(r.start);
        let t = self.state.rng.random_range(r.start..=latest);
        EnvState { symbol, t, steps: 0, position: 0 }
    }

    /// Number of environments.
    pub fn n_envs(&self) -> usize {
        self.state.envs.len()
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.markets[0].obs_dim(self.cfg.window)
    }

    /// The environment settings.
    pub fn config(&self) -> &EnvConfig {
        &self.cfg
    }

    /// The changing state, for checkpoints.
    pub fn state(&self) -> &VecEnvState {
        &self.state
    }

    /// Restores a state saved by [`Self::state`] (same markets and environment count).
    pub fn restore(&mut self, state: VecEnvState) {
        self.state = state;
    }

    /// Writes every environment's observation (row-major `n_envs × obs_dim`).
    pub fn observe(&self, out: &mut [f32]) {
        let d = self.obs_dim();
        for (e, s) in self.state.envs.iter().enumerate() {
            self.markets[s.symbol].observe(s.t, self.cfg.window, s.position, &mut out[e * d..(e + 1) * d]);
        }
    }

    /// Applies one action per environment; truncated episodes restart at once (their cut
    /// state's observation is in `out.final_obs`).
    pub fn step(&mut self, actions: &[usize], out: &mut StepOutput) {
        let n = self.n_envs();
        let d = self.obs_dim();
        out.rewards.resize(n, 0.0);
        out.log_returns.resize(n, 0.0);
        out.truncated.resize(n, false);
        out.final_obs.resize(n * d, 0.0);
        for e in 0..n {
            let s = self.state.envs[e];
            let m = &self.markets[s.symbol];
            let to = self.cfg.position(actions[e]);
            let r = m.step_log_return(s.t, s.position, to, self.cfg.cost_per_unit());
            out.log_returns[e] = r;
            out.rewards[e] = r as f32 * self.cfg.reward_scale;
            let next = EnvState { symbol: s.symbol, t: s.t + 1, steps: s.steps + 1, position: to };
            let cut = is_wiped_out(r) || next.steps >= self.cfg.episode_len || next.t >= self.ranges[s.symbol].end;
            out.truncated[e] = cut;
            if cut {
                m.observe(next.t, self.cfg.window, to, &mut out.final_obs[e * d..(e + 1) * d]);
                self.state.envs[e] = self.new_episode();
            } else {
                self.state.envs[e] = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(n: usize) -> SymbolMarket {
        let close: Vec<f64> = (0..n).map(|i| 100.0 * (1.0 + 0.01 * (i as f64).sin())).collect();
        let mut open = vec![close[0]];
        open.extend(close.iter().take(n - 1).map(|c| c * 1.001));
        SymbolMarket {
            symbol: "T".into(),
            features: (0..n * 2).map(|i| i as f32).collect(),
            n_features: 2,
            open,
            close,
        }
    }

    #[test]
    fn fills_at_the_next_open_and_charges_cost_on_changes() {
        let m = market(10);
        let t = 3;
        let (gap, bar) = (m.open[4] / m.close[3], m.close[4] / m.open[4]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(m.step_log_return(t, 0, 1, 0.001), (bar * 0.999).ln()));
        assert!(close(m.step_log_return(t, 1, 1, 0.001), (gap * bar).ln()));
        // Long over the gap, then short over the bar: a short earns 2 − bar, not 1 / bar.
        assert!(close(m.step_log_return(t, 1, -1, 0.001), (gap * (1.0 - 0.002) * (2.0 - bar)).ln()));
        assert_eq!(m.step_log_return(t, 0, 0, 0.001), 0.0);
    }

    #[test]
    fn long_plus_short_over_the_same_bars_loses_the_square_of_each_move() {
        // Without costs, a short is not the mirror of a long: over every path the log growths of
        // always-long and always-short sum to Σ ln(1 − (1 − eˣ)²) < 0 (booking a short as −x made
        // the sum 0 and every bar spent short earned about x² for free).
        let m = market(200);
        let (mut long, mut short, mut expected) = (0.0, 0.0, 0.0);
        for t in 1..198 {
            long += m.step_log_return(t, 1, 1, 0.0);
            short += m.step_log_return(t, -1, -1, 0.0);
            for x in [(m.open[t + 1] / m.close[t]).ln(), (m.close[t + 1] / m.open[t + 1]).ln()] {
                expected += (1.0 - x.exp_m1().powi(2)).ln();
            }
        }
        assert!(long + short < 0.0, "long {long} + short {short} must lose");
        assert!((long + short - expected).abs() < 1e-9, "{} vs {expected}", long + short);
    }

    #[test]
    fn a_short_through_a_doubling_loses_the_equity_and_ends_the_episode() {
        let mut m = market(20);
        m.open[6] = m.close[5] * 2.5; // a gap of +150% against the short held into it
        let r = m.step_log_return(5, -1, -1, 0.0);
        assert_eq!(r, WIPED_OUT.ln(), "the equity is gone, not negative");
        let cfg = EnvConfig { window: 2, episode_len: 100, ..Default::default() };
        let mut env = VecEnv::new(cfg, Arc::new(vec![m]), vec![0..19], 1, 1).unwrap();
        let mut state = env.state().clone();
        state.envs[0] = EnvState { symbol: 0, t: 5, steps: 3, position: -1 };
        env.restore(state);
        let mut out = StepOutput::default();
        env.step(&[0], &mut out);
        assert!(out.truncated[0], "a wiped-out episode ends");
        assert_eq!(out.log_returns[0], WIPED_OUT.ln());
    }

    #[test]
    fn observation_is_the_window_up_to_t_plus_position() {
        let m = market(10);
        let mut out = vec![0.0; m.obs_dim(3)];
        m.observe(5, 3, -1, &mut out);
        // Rows 3, 4, 5 of a 2-column matrix holding 0, 1, 2, ...
        assert_eq!(out, vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0, -1.0]);
    }

    #[test]
    fn episodes_truncate_at_their_length_and_restart() {
        let cfg = EnvConfig { window: 2, episode_len: 5, ..Default::default() };
        let mut env = VecEnv::new(cfg, Arc::new(vec![market(200)]), vec![0..150], 3, 1).unwrap();
        let mut out = StepOutput::default();
        let mut ends = 0;
        for step in 1..=20 {
            env.step(&[2, 1, 0], &mut out);
            let cut = out.truncated.iter().filter(|&&c| c).count();
            assert_eq!(cut, if step % 5 == 0 { 3 } else { 0 }, "step {step}");
            ends += cut;
            for s in &env.state().envs {
                assert!(s.t < 150 && s.t >= 1);
            }
        }
        assert_eq!(ends, 12);
    }

    #[test]
    fn rejects_empty_ranges_and_mismatched_features() {
        let cfg = EnvConfig::default();
        let e = VecEnv::new(cfg.clone(), Arc::new(vec![market(10)]), vec![5..5], 1, 0).unwrap_err();
        assert!(matches!(e, EnvError::EmptyRange { .. }), "{e}");
        let mut m2 = market(10);
        m2.n_features = 3;
        let e = VecEnv::new(cfg, Arc::new(vec![market(10), m2]), vec![0..9, 0..9], 1, 0).unwrap_err();
        assert!(e.to_string().contains("3 feature columns"), "{e}");
    }
}
