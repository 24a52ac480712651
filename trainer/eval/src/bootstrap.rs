//! Seeded stationary-bootstrap intervals for the annualised Sharpe ratio of one
//! series and for the difference of two Sharpe ratios on the same bars, with
//! the mean block length chosen from the data.
//!
//! # Method
//! A **stationary bootstrap** (Politis & Romano 1994): each resample of a
//! series of `n` bars is a run of blocks of consecutive bars, each starting at
//! a uniformly drawn bar in `0..n`, with a length drawn from the geometric
//! distribution on `1, 2, …` of mean `b`, and **wrapping around** from the
//! last bar to the first (bar `n − 1` is followed by bar 0), concatenated and
//! cut to `n` bars. Blocks keep the short-range dependence of the returns that
//! an i.i.d. bootstrap would destroy; random lengths make the resample
//! stationary, and wrapping makes every bar equally likely to be drawn (a
//! moving-block bootstrap that does not wrap under-samples the first and last
//! `b` bars).
//!
//! The mean block length `b` is [`EvalConfig::block_len`] when set; by default
//! it is chosen from the data by the **Politis–White** (2004) rule with the
//! Patton–Politis–White (2009) correction ([`politis_white_block_len`]), which
//! estimates the `b` that minimises the mean squared error of the bootstrap
//! estimate of the variance of the mean: about 1 for returns with no
//! autocorrelation, longer the more autocorrelated they are. The rule is for the
//! mean, and the Sharpe ratio's sampling variance is essentially the mean's
//! (the standard deviation in its denominator varies far less, relative to its
//! size, than a near-zero mean does). A paired comparison uses the **larger** of
//! the two series' lengths: too short a block understates the variance of a
//! dependent series, while too long a block only costs some precision, and the
//! larger length also keeps a series compared with itself on the same blocks
//! as its own interval. (The rule on the difference `a − b` would ignore a
//! dependence the two series share, which still moves each Sharpe ratio.)
//! Every [`Interval`] records the length used in [`Interval::block_len`].
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
//! Each resample costs one or two draws per block (a block of one bar needs
//! no length draw when `b = 1`), a gather of the `n` bars drawn into a
//! contiguous buffer and two passes over it; the buffers are allocated once
//! per interval, never per resample. The block-length rule costs about
//! `(sqrt(n) + 6) · n` multiply-adds, once per interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::EvalError;
use crate::metrics::{EvalConfig, Interval};
use crate::stats::{Moments, finite, finite_input, quantile};

/// How every interval of this crate is computed, for a results header: the
/// bootstrap and the rule that chooses its mean block length (recorded per
/// interval in [`Interval::block_len`]).
pub const BOOTSTRAP_METHOD: &str =
    "stationary bootstrap (Politis-Romano), percentile intervals, mean block length by Politis-White (2004/2009)";

/// The difference of the annualised Sharpe ratios of two strategies on the same bars, e.g. a
/// model against buy-and-hold or against the champion: the contract's, so every report writes it
/// in one form. Its [`Comparison::significant`] is [`is_significant`] of its interval.
pub use skippy_contract::results::Comparison;

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
/// actually used (see [`EvalConfig::level`]), its `block_len` the mean block
/// length.
pub fn sharpe_interval(log_returns: &[f64], cfg: &EvalConfig) -> Interval {
    let series = sanitised(log_returns);
    let level = cfg.resolved_level();
    let block_len = mean_block_len(cfg, &[&series]);
    if series.len() < 2 {
        return zero_interval(level, block_len);
    }
    let periods = cfg.periods();
    let mut resampler = StationaryResampler::new(series.len(), block_len, cfg.seed);
    let mut resample = vec![0.0; series.len()];
    let mut draws = Vec::with_capacity(cfg.samples());
    for _ in 0..cfg.samples() {
        resampler.redraw();
        resampler.resample_into(&series, &mut resample);
        draws.push(Moments::of(|| resample.iter().copied()).sharpe(periods));
    }
    percentile_interval(draws, level, block_len)
}

/// Paired bootstrap comparison of the annualised Sharpe ratios of two
/// per-bar log-return series covering the same bars: every resample applies
/// the same blocks of bars to both series, with the larger of the two series'
/// Politis–White block lengths (or [`EvalConfig::block_len`]).
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
    let block_len = mean_block_len(cfg, &[&a, &b]);
    let interval = if a.len() < 2 {
        zero_interval(level, block_len)
    } else {
        let mut resampler = StationaryResampler::new(a.len(), block_len, cfg.seed);
        let (mut resample_a, mut resample_b) = (vec![0.0; a.len()], vec![0.0; b.len()]);
        let mut draws = Vec::with_capacity(cfg.samples());
        for _ in 0..cfg.samples() {
            resampler.redraw();
            resampler.resample_into(&a, &mut resample_a);
            resampler.resample_into(&b, &mut resample_b);
            let sa = Moments::of(|| resample_a.iter().copied()).sharpe(periods);
            let sb = Moments::of(|| resample_b.iter().copied()).sharpe(periods);
            draws.push(finite(sa - sb));
        }
        percentile_interval(draws, level, block_len)
    };
    Ok(Comparison { difference, interval, significant: is_significant(&interval) })
}

/// The mean block length for a stationary bootstrap of `series` by the
/// Politis–White (2004) rule, with the Patton–Politis–White (2009) correction:
/// the length that minimises the mean squared error of the bootstrap estimate
/// of the long-run variance of the series' mean. Non-finite values count as 0.
///
/// With `R(k)` the sample autocovariance at lag `k` (divisor `n`, around the
/// sample mean) and `ρ(k) = R(k) / R(0)`:
/// - `K_N = max(5, ceil(log10 n))`, `m_max = ceil(sqrt n) + K_N`;
/// - `m̂` is the smallest `m ≥ 1` such that the `K_N` autocorrelations at lags
///   `m … m + K_N − 1` are all below `2 · sqrt(log10(n) / n)` in absolute value
///   (the +1 offset of the authors' reference code); `M = min(2 m̂, m_max)`, or
///   `m_max` if no such `m` exists;
/// - `λ` is the flat-top kernel: 1 for `|t| ≤ ½`, `2 (1 − |t|)` for `½ < |t| ≤ 1`,
///   0 beyond;
/// - `G = Σ_{|k|≤M} λ(k/M) |k| R(k)`, `ĝ(0) = Σ_{|k|≤M} λ(k/M) R(k)`,
///   `D_SB = 2 ĝ(0)²`;
/// - `b = (2 G² / D_SB)^(1/3) · n^(1/3)`, clamped to
///   `[1, max(1, ceil(min(3 sqrt n, n / 3)))]`.
///
/// It agrees with Kevin Sheppard's `arch` (`optimal_block_length`,
/// `stationary`) to rounding, apart from the clamp below at 1, which `arch`
/// lacks. Andrew Patton's MATLAB `opt_block_length_REV_dec07` differs slightly
/// in the last digits: it estimates each lag's autocovariance on a common
/// window. Fewer than two bars, or a series that does not vary (see the
/// crate's rules for a negligible dispersion), give 1. Always finite.
pub fn politis_white_block_len(series: &[f64]) -> f64 {
    let n = series.len();
    if n < 2 {
        return 1.0;
    }
    // The rule is scale-free; scaling to a largest |value| of 1 keeps every
    // product below finite whatever the input.
    let scale = series.iter().fold(0.0f64, |m, &x| m.max(finite_input(x).abs()));
    if scale == 0.0 {
        return 1.0;
    }
    let value = |x: f64| finite_input(x) / scale;
    let moments = Moments::of(|| series.iter().map(|&x| value(x)));
    if moments.std == 0.0 {
        return 1.0;
    }
    let eps: Vec<f64> = series.iter().map(|&x| value(x) - moments.mean).collect();
    let nf = n as f64;
    let k_n = (nf.log10().ceil() as usize).max(5);
    let m_max = nf.sqrt().ceil() as usize + k_n;
    let acv: Vec<f64> = (0..=m_max).map(|k| autocovariance(&eps, k)).collect();
    let threshold = 2.0 * (nf.log10() / nf).sqrt();
    let insignificant = |k: usize| acv.get(k).is_none_or(|r| (r / acv[0]).abs() < threshold);
    let m_hat = (1..=m_max + 1 - k_n).find(|&m| (m..m + k_n).all(insignificant));
    let lag_window = m_hat.map_or(m_max, |m| (2 * m).min(m_max));
    let b = stationary_block_len(&acv, lag_window, n);
    let b_max = (3.0 * nf.sqrt()).min(nf / 3.0).ceil().max(1.0);
    if b.is_nan() { 1.0 } else { b.clamp(1.0, b_max) }
}

/// The sample autocovariance of the demeaned `eps` at `lag`, with divisor `n`:
/// `Σ_{t ≥ lag} eps[t] · eps[t − lag] / n`; 0 for a lag beyond the series.
fn autocovariance(eps: &[f64], lag: usize) -> f64 {
    let n = eps.len();
    let later = eps.get(lag..).unwrap_or(&[]);
    later.iter().zip(eps).map(|(x, y)| x * y).sum::<f64>() / n as f64
}

/// The flat-top (trapezoid) lag window of Politis & Romano (1995): 1 on
/// `|t| ≤ ½`, falling linearly to 0 at `|t| = 1`, 0 beyond.
fn flat_top(t: f64) -> f64 {
    let t = t.abs();
    if t <= 0.5 {
        1.0
    } else if t <= 1.0 {
        2.0 * (1.0 - t)
    } else {
        0.0
    }
}

/// `(2 G² / D_SB)^(1/3) · n^(1/3)` from the autocovariances `acv[0..=m]` and the
/// lag window `m` (see [`politis_white_block_len`]), before any clamp: NaN when
/// `G` and `ĝ(0)` are both 0, +∞ when only `ĝ(0)` is.
fn stationary_block_len(acv: &[f64], m: usize, n: usize) -> f64 {
    let (mut g, mut g0) = (0.0, acv.first().copied().unwrap_or(0.0));
    for (k, r) in acv.iter().enumerate().take(m + 1).skip(1) {
        // Lags k and −k contribute alike.
        let w = flat_top(k as f64 / m as f64);
        g += 2.0 * w * k as f64 * r;
        g0 += 2.0 * w * r;
    }
    let d_sb = 2.0 * g0 * g0;
    (2.0 * g * g / d_sb).cbrt() * (n as f64).cbrt()
}

/// The mean block length for bootstrapping `series` (all of the same length):
/// [`EvalConfig::block_len`] if set, else the largest of their Politis–White
/// lengths.
fn mean_block_len(cfg: &EvalConfig, series: &[&[f64]]) -> f64 {
    let n = series.first().map_or(0, |s| s.len());
    cfg.fixed_block_len(n).unwrap_or_else(|| series.iter().map(|s| politis_white_block_len(s)).fold(1.0, f64::max))
}

/// A copy of `values` with non-finite entries replaced by 0.
fn sanitised(values: &[f64]) -> Vec<f64> {
    values.iter().copied().map(finite_input).collect()
}

/// The interval `[0, 0]` at `level`.
fn zero_interval(level: f64, block_len: f64) -> Interval {
    Interval { lo: 0.0, hi: 0.0, level, block_len }
}

/// Draws the bars of stationary-bootstrap resamples of a series of `n` bars
/// and replays them over any series of that length.
struct StationaryResampler {
    /// `q = 1 − 1/b` for the mean block length `b`: the probability that a
    /// block goes on to the next bar. 0 when `b == 1`: every block is one bar.
    continue_prob: f64,
    /// `1 / ln q`, to draw block lengths by inverting the geometric distribution.
    inv_ln_continue: f64,
    /// The bar drawn for each of the `n` positions of the current resample;
    /// allocated once, so a resample never allocates.
    bars: Vec<usize>,
    /// The seeded source of every draw.
    rng: ChaCha8Rng,
}

impl StationaryResampler {
    /// A resampler for series of `n >= 1` bars with mean block length
    /// `block_len` (in `[1, n]`), seeded with `seed`.
    fn new(n: usize, block_len: f64, seed: u64) -> Self {
        let mut r =
            Self { continue_prob: 0.0, inv_ln_continue: 0.0, bars: vec![0; n], rng: ChaCha8Rng::seed_from_u64(seed) };
        r.set_block_len(block_len);
        r
    }

    /// Sets the mean block length (at least 1; NaN counts as 1).
    fn set_block_len(&mut self, block_len: f64) {
        let p = 1.0 / block_len.max(1.0);
        self.continue_prob = 1.0 - p;
        self.inv_ln_continue = 1.0 / (-p).ln_1p();
    }

    /// Draws the next resample: blocks with a uniform start and a geometric
    /// length, consecutive bars wrapping from the last bar to bar 0, the last
    /// block cut so the resample has `n` bars.
    fn redraw(&mut self) {
        let n = self.bars.len();
        let mut at = 0;
        while at < n {
            let start = self.rng.random_range(0..n);
            let len = self.block_length().min(n - at);
            let (head, tail) = self.bars[at..at + len].split_at_mut(len.min(n - start));
            head.iter_mut().zip(start..).for_each(|(slot, bar)| *slot = bar);
            tail.iter_mut().zip(0..).for_each(|(slot, bar)| *slot = bar);
            at += len;
        }
    }

    /// A geometric block length on `1, 2, …` with mean `b`:
    /// `1 + floor(ln U / ln q)` for `U` uniform in `(0, 1]`, which is 1 exactly
    /// when `U > q` (the common case for short blocks, decided without a logarithm).
    fn block_length(&mut self) -> usize {
        if self.continue_prob <= 0.0 {
            return 1;
        }
        let u = 1.0 - self.rng.random::<f64>();
        if u > self.continue_prob {
            return 1;
        }
        // The product is ≥ 0, so truncation is floor; `as` saturates (and reads NaN as 0).
        let extra = (u.ln() * self.inv_ln_continue) as usize;
        extra.saturating_add(1)
    }

    /// Writes the current resample of `series` into `out`, both of `n` bars:
    /// contiguous, so the statistic's two passes over it run at memory speed.
    fn resample_into(&self, series: &[f64], out: &mut [f64]) {
        for (slot, &bar) in out.iter_mut().zip(&self.bars) {
            *slot = series.get(bar).copied().unwrap_or(0.0);
        }
    }
}

/// The percentile interval at `level` of the bootstrap draws.
fn percentile_interval(mut draws: Vec<f64>, level: f64, block_len: f64) -> Interval {
    draws.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let lo = quantile(&draws, tail);
    let hi = quantile(&draws, 1.0 - tail).max(lo);
    Interval { lo, hi, level, block_len }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AR(1) series `x_t = φ x_{t−1} + (u_t − ½)` driven by SplitMix64
    /// uniforms, reproducible bit for bit in any language: the reference values
    /// below come from `arch` 8.0 (`optimal_block_length(x)["stationary"]`) on
    /// the same series built in Python.
    fn splitmix_ar1(n: usize, phi: f64, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                let u = (z >> 11) as f64 * 2f64.powi(-53);
                x = phi * x + (u - 0.5);
                x
            })
            .collect()
    }

    fn resampler(n: usize, block_len: f64) -> StationaryResampler {
        StationaryResampler::new(n, block_len, 7)
    }

    fn resample(r: &StationaryResampler, series: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; series.len()];
        r.resample_into(series, &mut out);
        out
    }

    #[test]
    fn flat_top_kernel_is_a_trapezoid() {
        for (t, w) in [(0.0, 1.0), (0.5, 1.0), (-0.5, 1.0), (0.75, 0.5), (-0.75, 0.5), (1.0, 0.0), (1.5, 0.0)] {
            assert_eq!(flat_top(t), w, "λ({t})");
        }
    }

    #[test]
    fn block_length_formula_matches_a_hand_computation() {
        // R = 1, 0.5, 0.25 with M = 2: λ(1/2) = 1 and λ(1) = 0, so
        // G = 2·1·1·0.5 = 1, ĝ(0) = 1 + 2·0.5 = 2, D_SB = 8,
        // b = (2·1/8)^(1/3) · 1000^(1/3) = 10 / 4^(1/3).
        let b = stationary_block_len(&[1.0, 0.5, 0.25], 2, 1000);
        assert!((b - 10.0 / 4f64.cbrt()).abs() < 1e-12, "{b}");
        // M = 4: λ = 1, 1, 0.5, 0 at lags 1..4, with R(3) = 0.125, R(4) = 0.0625:
        // G = 2(0.5 + 2·0.25 + 0.5·3·0.125) = 2.375, ĝ(0) = 1 + 2(0.5 + 0.25 + 0.0625) = 2.625.
        let b = stationary_block_len(&[1.0, 0.5, 0.25, 0.125, 0.0625], 4, 1000);
        let want = (2.0 * 2.375f64.powi(2) / (2.0 * 2.625f64.powi(2))).cbrt() * 10.0;
        assert!((b - want).abs() < 1e-12, "{b} vs {want}");
        // No dependence at all: G = 0, so b = 0 before the clamp.
        assert_eq!(stationary_block_len(&[1.0, 0.0, 0.0], 2, 1000), 0.0);
    }

    #[test]
    fn block_length_matches_the_arch_reference() {
        // (n, φ, seed, arch's b_SB); white noise of 5000 bars has b_SB = 0.381
        // in arch, which has no clamp at 1.
        for (n, phi, seed, want) in [
            (500, 0.5, 7, 8.68899499626716),
            (500, 0.0, 7, 2.0869424510813097),
            (5000, 0.5, 7, 20.712907403505245),
            (5000, 0.0, 7, 1.0),
            (200, 0.9, 3, 14.357207140544215),
        ] {
            let b = politis_white_block_len(&splitmix_ar1(n, phi, seed));
            assert!((b - want).abs() < 1e-9 * want, "n {n}, φ {phi}: {b} vs arch {want}");
        }
    }

    #[test]
    fn block_length_rule_is_scale_free_and_finite_on_any_input() {
        let x = splitmix_ar1(500, 0.5, 7);
        let b = politis_white_block_len(&x);
        let scaled: Vec<f64> = x.iter().map(|v| v * 1e300).collect();
        assert!((politis_white_block_len(&scaled) - b).abs() < 1e-9 * b);
        let tiny: Vec<f64> = x.iter().map(|v| v * 1e-300).collect();
        assert!((politis_white_block_len(&tiny) - b).abs() < 1e-9 * b);
        let awkward: [&[f64]; 8] = [
            &[],
            &[0.3],
            &[0.0; 100],
            &[0.001; 1000],
            &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
            &[f64::MAX, f64::MIN, f64::MAX, f64::MIN, 0.0],
            &[1.0, -1.0],
            &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0],
        ];
        for s in awkward {
            let b = politis_white_block_len(s);
            assert!(b.is_finite() && b >= 1.0 && b <= s.len().max(1) as f64, "{s:?}: {b}");
        }
        assert_eq!(politis_white_block_len(&[0.0; 100]), 1.0, "a constant series needs no blocks");
        // Strong dependence in a short series hits the cap, ceil(min(3 sqrt n, n / 3)) = 4
        // for 10 bars (`arch` gives the same).
        let alternating: Vec<f64> = (0..10).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert_eq!(politis_white_block_len(&alternating), 4.0);
        // A trend: `arch` gives 32.87216630155671 for 0, 1, …, 399.
        let trend: Vec<f64> = (0..400).map(f64::from).collect();
        assert!((politis_white_block_len(&trend) - 32.87216630155671).abs() < 1e-9);
    }

    #[test]
    fn resamples_are_runs_of_consecutive_bars_that_wrap_around() {
        // Bar i is followed by bar (i + 1) mod n when the block goes on
        // (probability q = 1 − 1/b) or a new block happens to start there (p / n).
        let n = 10;
        for mean in [1.0, 4.0] {
            let mut r = resampler(n, mean);
            let (mut steps, mut next, mut wraps) = (0usize, 0usize, 0usize);
            for _ in 0..5_000 {
                r.redraw();
                assert!(r.bars.iter().all(|&bar| bar < n), "{:?}", r.bars);
                for pair in r.bars.windows(2) {
                    steps += 1;
                    next += usize::from(pair[1] == (pair[0] + 1) % n);
                    wraps += usize::from(pair == [n - 1, 0]);
                }
            }
            let p = 1.0 / mean;
            let want = (1.0 - p) + p / n as f64;
            let seen = next as f64 / steps as f64;
            assert!((seen - want).abs() < 0.01, "mean {mean}: {seen} vs {want}");
            // The last bar runs on into bar 0 as often as any bar runs on into the next.
            let per_bar = next as f64 / n as f64;
            assert!((wraps as f64 - per_bar).abs() < 0.1 * per_bar, "mean {mean}: {wraps} wraps vs {per_bar}");
        }
    }

    #[test]
    fn block_lengths_are_geometric_with_the_mean_asked_for() {
        for mean in [1.0, 1.05, 2.5, 8.0, 5000.0] {
            let mut r = resampler(1, mean);
            let draws = 200_000;
            let (mut total, mut ones) = (0usize, 0usize);
            for _ in 0..draws {
                let len = r.block_length();
                assert!(len >= 1);
                total += len;
                ones += usize::from(len == 1);
            }
            let seen = total as f64 / draws as f64;
            assert!((seen - mean).abs() < 0.02 * mean, "mean {mean}: {seen}");
            let p_one = ones as f64 / draws as f64;
            assert!((p_one - 1.0 / mean).abs() < 0.01, "mean {mean}: P(L = 1) = {p_one}");
        }
    }

    #[test]
    fn every_bar_is_drawn_equally_often_the_last_ones_included() {
        // A moving-block bootstrap that does not wrap draws bar 19 only from
        // blocks starting at 15 (1 of 16 starts, against 5 of 16 for bar 10).
        let n = 20;
        let series: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut counts = vec![0usize; n];
        let mut r = resampler(n, 5.0);
        let resamples = 20_000;
        for _ in 0..resamples {
            r.redraw();
            for x in resample(&r, &series) {
                counts[x as usize] += 1;
            }
        }
        let expected = resamples as f64; // n draws per resample over n bars
        for (bar, &c) in counts.iter().enumerate() {
            assert!((c as f64 - expected).abs() < 0.05 * expected, "bar {bar}: {c} vs {expected}: {counts:?}");
        }
    }

    #[test]
    fn same_seed_draws_the_same_bars() {
        let (mut a, mut b) = (resampler(1000, 6.3), resampler(1000, 6.3));
        let mut c = StationaryResampler::new(1000, 6.3, 8);
        for _ in 0..10 {
            a.redraw();
            b.redraw();
            c.redraw();
            assert_eq!(a.bars, b.bars);
            assert_ne!(a.bars, c.bars);
        }
    }

    #[test]
    fn a_resample_does_not_allocate() {
        let mut r = resampler(500, 1.0);
        let buffer = (r.bars.as_ptr(), r.bars.capacity());
        for mean in [1.0, 3.0, 500.0] {
            r.set_block_len(mean);
            for _ in 0..100 {
                r.redraw();
                assert_eq!((r.bars.as_ptr(), r.bars.capacity()), buffer, "the buffer moved");
                assert_eq!(r.bars.len(), 500);
            }
        }
    }

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
    fn touching_zero_is_not_significant() {
        let i = |lo, hi| Interval { lo, hi, level: 0.95, block_len: 1.0 };
        assert!(is_significant(&i(0.1, 2.0)));
        assert!(is_significant(&i(-2.0, -0.1)));
        assert!(!is_significant(&i(0.0, 2.0)));
        assert!(!is_significant(&i(-1.0, 1.0)));
    }
}
