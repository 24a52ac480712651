//! Seeded moving-block bootstrap intervals for the annualised Sharpe ratio of one
//! series and for the difference of two Sharpe ratios on the same bars.
//!
//! # Method
//! A **moving-block bootstrap with a fixed block length** `b` (Künsch 1989):
//! each resample of a series of `n` bars is `ceil(n / b)` blocks of `b`
//! consecutive bars, each starting at a uniformly drawn bar in `0..=n-b`,
//! concatenated and cut to `n` bars. Blocks keep the short-range dependence
//! (volatility clustering) that an i.i.d. bootstrap would destroy. `b` is
//! [`EvalConfig::block_len`], by default `ceil(n^(1/3))`.
//!
//! Intervals are **percentile** intervals: the `(1 − level) / 2` and
//! `(1 + level) / 2` quantiles (linear interpolation between order
//! statistics) of the statistic over [`EvalConfig::bootstrap_samples`]
//! resamples.
//!
//! Draws come from a `ChaCha8Rng` seeded with [`EvalConfig::seed`], so the
//! same inputs and seed give bit-identical intervals. A paired comparison
//! applies the *same* resampled blocks to both series, so what they share (the
//! market of those bars) cancels out of the difference.
//!
//! Each resample costs two passes over `n` bars and no allocation: only the
//! block starts are stored, in one buffer reused across resamples.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::metrics::{EvalConfig, Interval};
use crate::stats::{Moments, finite, finite_input};

/// The difference of the annualised Sharpe ratios of two strategies on the
/// same bars, e.g. a model against buy-and-hold or against the champion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `sharpe(a) − sharpe(b)` on the full series.
    pub difference: f64,
    /// Paired moving-block bootstrap percentile interval of the difference.
    pub interval: Interval,
    /// Whether [`Self::interval`] excludes 0 (see [`is_significant`]): `a` is
    /// better (or worse, if the difference is negative) than `b` at the
    /// interval's confidence level, in a two-sided test.
    pub significant: bool,
}

/// Whether an interval excludes 0 (`lo > 0` or `hi < 0`): the quantity it
/// brackets differs from 0 at the interval's level, in a two-sided test. An
/// interval that merely touches 0 is not significant.
pub fn is_significant(interval: &Interval) -> bool {
    interval.lo > 0.0 || interval.hi < 0.0
}

/// Percentile bootstrap interval of the annualised Sharpe ratio of
/// `log_returns` (per-bar log returns; non-finite values count as 0).
///
/// Fewer than two bars give the degenerate interval `[0, 0]`, matching the
/// Sharpe ratio of 0 such a series has. The interval's `level` is the level
/// actually used (see [`EvalConfig::level`]).
pub fn sharpe_interval(log_returns: &[f64], cfg: &EvalConfig) -> Interval {
    let series = sanitised(log_returns);
    let level = cfg.resolved_level();
    if series.len() < 2 {
        return zero_interval(level);
    }
    let periods = cfg.periods();
    let mut resampler = BlockResampler::new(series.len(), cfg);
    let mut draws = Vec::with_capacity(cfg.samples());
    for _ in 0..cfg.samples() {
        resampler.redraw();
        draws.push(Moments::of(|| resampler.resample(&series)).sharpe(periods));
    }
    percentile_interval(draws, level)
}

/// Paired bootstrap comparison of the annualised Sharpe ratios of two
/// per-bar log-return series covering the same bars: every resample applies
/// the same blocks of bars to both series.
///
/// A series compared with itself gives a difference of exactly 0 and the
/// interval `[0, 0]`, which is not significant. Fewer than two bars give the
/// same. Non-finite values count as 0.
///
/// # Errors
/// [`EvalError::LengthMismatch`] if `a` and `b` have different lengths.
pub fn paired_sharpe_difference(a: &[f64], b: &[f64], cfg: &EvalConfig) -> Result<Comparison, EvalError> {
    if a.len() != b.len() {
        return Err(EvalError::LengthMismatch { a: a.len(), b: b.len() });
    }
    let (a, b) = (sanitised(a), sanitised(b));
    let level = cfg.resolved_level();
    let periods = cfg.periods();
    let sharpe = |s: &[f64]| Moments::of(|| s.iter().copied()).sharpe(periods);
    let difference = finite(sharpe(&a) - sharpe(&b));
    let interval = if a.len() < 2 {
        zero_interval(level)
    } else {
        let mut resampler = BlockResampler::new(a.len(), cfg);
        let mut draws = Vec::with_capacity(cfg.samples());
        for _ in 0..cfg.samples() {
            resampler.redraw();
            let sa = Moments::of(|| resampler.resample(&a)).sharpe(periods);
            let sb = Moments::of(|| resampler.resample(&b)).sharpe(periods);
            draws.push(finite(sa - sb));
        }
        percentile_interval(draws, level)
    };
    Ok(Comparison { difference, interval, significant: is_significant(&interval) })
}

/// A copy of `values` with non-finite entries replaced by 0.
fn sanitised(values: &[f64]) -> Vec<f64> {
    values.iter().copied().map(finite_input).collect()
}

/// The interval `[0, 0]` at `level`.
fn zero_interval(level: f64) -> Interval {
    Interval { lo: 0.0, hi: 0.0, level }
}

/// Draws block starts for resamples of a series of `n` bars and replays them
/// over any series of that length.
struct BlockResampler {
    /// Bars per series and per resample.
    n: usize,
    /// Bars per block, in `1..=n`.
    block: usize,
    /// Start bar of each block of the current resample; reused across resamples.
    starts: Vec<usize>,
    /// The seeded source of every draw.
    rng: ChaCha8Rng,
}

impl BlockResampler {
    /// A resampler for series of `n >= 1` bars, seeded from `cfg.seed`.
    fn new(n: usize, cfg: &EvalConfig) -> Self {
        let block = cfg.block_len_for(n);
        Self { n, block, starts: vec![0; n.div_ceil(block)], rng: ChaCha8Rng::seed_from_u64(cfg.seed) }
    }

    /// Draws the block starts of the next resample.
    fn redraw(&mut self) {
        let last_start = self.n.saturating_sub(self.block);
        for start in &mut self.starts {
            *start = self.rng.random_range(0..=last_start);
        }
    }

    /// The current resample of `series` (which has `n` bars), bar by bar.
    fn resample<'a>(&'a self, series: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        let block = self.block;
        self.starts.iter().flat_map(move |&s| series.get(s..s + block).unwrap_or(&[]).iter().copied()).take(self.n)
    }
}

/// The percentile interval at `level` of the bootstrap draws.
fn percentile_interval(mut draws: Vec<f64>, level: f64) -> Interval {
    draws.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let lo = quantile(&draws, tail);
    let hi = quantile(&draws, 1.0 - tail).max(lo);
    Interval { lo, hi, level }
}

/// The `q` quantile of sorted `values`, interpolating linearly between order
/// statistics; 0 for no values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let h = q.clamp(0.0, 1.0) * last as f64;
    let below = (h.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let (Some(&x0), Some(&x1)) = (sorted.get(below), sorted.get(above)) else {
        return 0.0;
    };
    finite(x0 + (h - below as f64) * (x1 - x0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_order_statistics() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.125), 1.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&[7.0], 0.025), 7.0);
    }

    #[test]
    fn resamples_are_made_of_whole_blocks_of_the_series() {
        let cfg = EvalConfig { block_len: Some(3), ..EvalConfig::new(1.0) };
        let series: Vec<f64> = (0..10).map(f64::from).collect();
        let mut r = BlockResampler::new(series.len(), &cfg);
        for _ in 0..50 {
            r.redraw();
            let sample: Vec<f64> = r.resample(&series).collect();
            assert_eq!(sample.len(), 10);
            for chunk in sample.chunks(3) {
                for pair in chunk.windows(2) {
                    assert_eq!(pair[1], pair[0] + 1.0, "{sample:?}");
                }
            }
        }
    }

    #[test]
    fn block_as_long_as_the_series_reproduces_it() {
        let cfg = EvalConfig { block_len: Some(1000), ..EvalConfig::new(1.0) };
        let series = [0.5, -0.25, 1.0];
        let mut r = BlockResampler::new(3, &cfg);
        r.redraw();
        assert_eq!(r.resample(&series).collect::<Vec<_>>(), series.to_vec());
    }

    #[test]
    fn touching_zero_is_not_significant() {
        let i = |lo, hi| Interval { lo, hi, level: 0.95 };
        assert!(is_significant(&i(0.1, 2.0)));
        assert!(is_significant(&i(-2.0, -0.1)));
        assert!(!is_significant(&i(0.0, 2.0)));
        assert!(!is_significant(&i(-1.0, 1.0)));
    }
}
