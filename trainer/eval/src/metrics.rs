//! Trading metrics of one return series: Sharpe (with its bootstrap interval),
//! Sortino, drawdown, returns, turnover, hit rate; buy-and-hold and the
//! equal-weight portfolio.
//!
//! # Conventions
//! - Inputs are per-bar **log** returns, net of transaction costs, and the
//!   position held during each bar (−1 short, 0 flat, 1 long, fractions allowed).
//! - Annualisation uses [`EvalConfig::bars_per_year`]: crypto trades 24/7, so
//!   hourly bars annualise with 8,760 bars per year (see
//!   [`EvalConfig::for_bar_interval`]), not with 252 trading days.
//! - Before the first bar the strategy is flat: entering a position in bar 0
//!   counts as a trade and as turnover. A position still open after the last
//!   bar is not closed.
//! - A non-finite input value (NaN or ±∞, which a correct caller never
//!   produces) counts as 0: no return, or flat.
//! - Every `f64` in the result is finite: NaN would become 0 and an
//!   overflowing figure saturates at `f64::MAX` / `f64::MIN`.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::bootstrap;
use crate::stats::{Moments, NEGLIGIBLE_DISPERSION, finite, finite_input};

/// Seconds in the 365-day year of a market that trades around the clock.
pub const SECONDS_PER_YEAR: u64 = 365 * 24 * 60 * 60;

/// Default number of bootstrap resamples behind every interval.
pub const DEFAULT_BOOTSTRAP_SAMPLES: usize = 1000;

/// Most bootstrap resamples per interval; more would only cost time (the
/// percentiles are stable to a few thousand) and risk exhausting memory.
pub const MAX_BOOTSTRAP_SAMPLES: usize = 100_000;

/// Default confidence level of every interval.
pub const DEFAULT_LEVEL: f64 = 0.95;

/// A two-sided confidence interval `[lo, hi]`: the contract's, so every report writes it in one
/// form. Its [`Interval::block_len`] is the mean block length of the stationary bootstrap behind
/// it (see [`crate::bootstrap::BOOTSTRAP_METHOD`]): the Politis–White choice for the data, or
/// [`EvalConfig::block_len`] when set.
pub use skippy_contract::results::Interval;

/// How a return series is evaluated: annualisation and bootstrap settings.
///
/// The fields are public so a job manifest can record the resolved values.
/// The evaluation functions never fail on a bad configuration; they fall back
/// field by field as each field documents. Call [`EvalConfig::validate`] at
/// the boundary to reject a bad configuration instead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Bars per year, the annualisation factor: 8,760 for hourly bars of a
    /// 24/7 market, 365 for daily ones. If it is not finite and above 0 the
    /// figures are left per bar (a factor of 1).
    pub bars_per_year: f64,
    /// Number of bootstrap resamples per interval (default
    /// [`DEFAULT_BOOTSTRAP_SAMPLES`]); 0 falls back to the default and more
    /// than [`MAX_BOOTSTRAP_SAMPLES`] counts as that many.
    pub bootstrap_samples: usize,
    /// Mean length in bars of the stationary bootstrap's blocks (it need not be
    /// a whole number). `None` (the default) chooses it from the data by the
    /// Politis–White rule (see [`bootstrap::politis_white_block_len`]); a fixed
    /// length below 1 (or NaN) counts as 1 and one above the series' `n` bars
    /// as `n`.
    pub block_len: Option<f64>,
    /// Confidence level of the intervals, strictly between 0 and 1 (default
    /// [`DEFAULT_LEVEL`]); anything else falls back to the default.
    pub level: f64,
    /// Seed of the bootstrap's random draws: same seed and inputs, same
    /// intervals.
    pub seed: u64,
}

impl EvalConfig {
    /// A configuration with the given annualisation factor and default
    /// bootstrap settings (1,000 resamples, automatic block length, 95%, seed 0).
    pub fn new(bars_per_year: f64) -> Self {
        Self {
            bars_per_year,
            bootstrap_samples: DEFAULT_BOOTSTRAP_SAMPLES,
            block_len: None,
            level: DEFAULT_LEVEL,
            seed: 0,
        }
    }

    /// A default configuration for bars of `bar_seconds` seconds in a market
    /// that trades 24/7 over a 365-day year (3,600 s gives 8,760 bars a year).
    ///
    /// # Errors
    /// [`EvalError::ZeroBarInterval`] if `bar_seconds` is 0.
    pub fn for_bar_interval(bar_seconds: u64) -> Result<Self, EvalError> {
        if bar_seconds == 0 {
            return Err(EvalError::ZeroBarInterval);
        }
        Ok(Self::new(SECONDS_PER_YEAR as f64 / bar_seconds as f64))
    }

    /// Checks every field, so a caller can refuse a bad configuration instead
    /// of relying on the documented fallbacks.
    ///
    /// # Errors
    /// The first invalid field: [`EvalError::InvalidBarsPerYear`],
    /// [`EvalError::ZeroBootstrapSamples`],
    /// [`EvalError::TooManyBootstrapSamples`], [`EvalError::InvalidBlockLength`] or
    /// [`EvalError::InvalidLevel`].
    pub fn validate(&self) -> Result<(), EvalError> {
        if !(self.bars_per_year.is_finite() && self.bars_per_year > 0.0) {
            return Err(EvalError::InvalidBarsPerYear(self.bars_per_year));
        }
        if self.bootstrap_samples == 0 {
            return Err(EvalError::ZeroBootstrapSamples);
        }
        if self.bootstrap_samples > MAX_BOOTSTRAP_SAMPLES {
            return Err(EvalError::TooManyBootstrapSamples(self.bootstrap_samples));
        }
        if let Some(b) = self.block_len.filter(|b| !(b.is_finite() && *b >= 1.0)) {
            return Err(EvalError::InvalidBlockLength(b));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(EvalError::InvalidLevel(self.level));
        }
        Ok(())
    }

    /// The annualisation factor actually used (see [`Self::bars_per_year`]).
    pub(crate) fn periods(&self) -> f64 {
        if self.bars_per_year.is_finite() && self.bars_per_year > 0.0 { self.bars_per_year } else { 1.0 }
    }

    /// The number of resamples actually used (see [`Self::bootstrap_samples`]).
    pub(crate) fn samples(&self) -> usize {
        if self.bootstrap_samples == 0 {
            DEFAULT_BOOTSTRAP_SAMPLES
        } else {
            self.bootstrap_samples.min(MAX_BOOTSTRAP_SAMPLES)
        }
    }

    /// The confidence level actually used (see [`Self::level`]).
    pub(crate) fn resolved_level(&self) -> f64 {
        if self.level > 0.0 && self.level < 1.0 { self.level } else { DEFAULT_LEVEL }
    }

    /// The fixed mean block length actually used for a series of `n` bars, if
    /// [`Self::block_len`] sets one: in `[1, max(n, 1)]`, NaN counting as 1.
    pub(crate) fn fixed_block_len(&self, n: usize) -> Option<f64> {
        let b = self.block_len?;
        Some(if b.is_nan() { 1.0 } else { b.clamp(1.0, n.max(1) as f64) })
    }
}

/// The out-of-sample report of one return series, as written to `results.json`.
///
/// All figures are finite; an empty series gives all zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Annualised Sharpe ratio: mean / sample standard deviation of the per-bar
    /// log returns × sqrt(bars per year), with no risk-free rate. 0 when the
    /// returns do not vary (a flat policy) or there are fewer than two bars.
    pub sharpe: f64,
    /// Stationary-bootstrap percentile interval of [`Self::sharpe`] (see
    /// [`bootstrap::sharpe_interval`]); [`bootstrap::is_significant`] tells
    /// whether it excludes 0.
    pub sharpe_ci: Interval,
    /// Annualised Sortino ratio: mean per-bar log return / downside deviation
    /// × sqrt(bars per year), where the downside deviation is the root mean
    /// square of `min(r, 0)` over all bars. 0 when there is no downside.
    pub sortino: f64,
    /// Largest peak-to-trough fall of the equity curve, as a positive fraction
    /// of the peak (0.23 is a 23% drawdown); the curve starts at its peak 1.0.
    pub max_drawdown: f64,
    /// Simple return over all bars: `exp(Σ log returns) − 1`.
    pub total_return: f64,
    /// Log growth over all bars: `Σ log returns` (what long plus short over the same bars,
    /// without costs, must leave negative).
    #[serde(default)]
    pub total_log_return: f64,
    /// Compound annual growth rate: `exp(mean log return × bars per year) − 1`.
    pub annual_return: f64,
    /// Annualised volatility: sample standard deviation of the per-bar log
    /// returns × sqrt(bars per year).
    pub annual_volatility: f64,
    /// Annual turnover: `Σ |Δposition| / bars × bars per year`, i.e. how many
    /// times a year the full position is traded (entering from flat in bar 0
    /// counts).
    pub turnover: f64,
    /// Fraction of in-market bars (position ≠ 0) whose net return is above 0;
    /// 0 when the strategy is never in the market.
    pub hit_rate: f64,
    /// Number of bars whose position differs from the previous bar's (the
    /// position before bar 0 is flat).
    pub trades: u64,
    /// Number of bars evaluated.
    pub bars: u64,
    /// Fraction of bars with a position ≠ 0.
    pub exposure: f64,
}

/// Evaluates a strategy from its per-bar net log returns and the position held
/// in each bar.
///
/// The two slices should have the same length; if not, only the bars both
/// cover (the common prefix, `min` of the lengths) are evaluated. See the
/// module docs for the conventions (flat start, non-finite inputs).
pub fn evaluate(log_returns: &[f64], positions: &[f64], cfg: &EvalConfig) -> Metrics {
    let n = log_returns.len().min(positions.len());
    let returns: Vec<f64> = log_returns[..n].iter().copied().map(finite_input).collect();
    let positions = &positions[..n];
    if n == 0 {
        return empty_metrics(cfg);
    }
    let periods = cfg.periods();
    let nf = n as f64;

    let moments = Moments::of(|| returns.iter().copied());
    let sharpe = moments.sharpe(periods);
    let sharpe_ci = bootstrap::sharpe_interval(&returns, cfg);

    let max_abs = returns.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / nf).sqrt();
    let sortino = if downside.is_finite() && downside > NEGLIGIBLE_DISPERSION * max_abs {
        finite(moments.mean / downside * periods.sqrt())
    } else {
        0.0
    };

    let mut cum = 0.0f64;
    let mut peak = 0.0f64;
    let mut max_drawdown = 0.0f64;
    for r in &returns {
        cum += r;
        peak = peak.max(cum);
        max_drawdown = max_drawdown.max(-(cum - peak).exp_m1());
    }

    let mut previous = 0.0;
    let mut traded = 0.0;
    let mut trades = 0u64;
    let mut in_market = 0u64;
    let mut hits = 0u64;
    for (&r, &p) in returns.iter().zip(positions) {
        let p = finite_input(p);
        traded += (p - previous).abs();
        if p != previous {
            trades += 1;
        }
        if p != 0.0 {
            in_market += 1;
            if r > 0.0 {
                hits += 1;
            }
        }
        previous = p;
    }

    Metrics {
        sharpe,
        sharpe_ci,
        sortino,
        max_drawdown: finite(max_drawdown),
        total_return: finite(cum.exp_m1()),
        total_log_return: finite(cum),
        annual_return: finite((moments.mean * periods).exp_m1()),
        annual_volatility: finite(moments.std * periods.sqrt()),
        turnover: finite(traded / nf * periods),
        hit_rate: if in_market == 0 { 0.0 } else { hits as f64 / in_market as f64 },
        trades,
        bars: n as u64,
        exposure: in_market as f64 / nf,
    }
}

/// The annualised Sharpe ratio of per-bar log returns alone, exactly as
/// [`Metrics::sharpe`] computes it (0 for fewer than two bars or no variation;
/// non-finite returns count as 0; a `bars_per_year` that is not finite and
/// above 0 leaves the ratio per bar).
pub fn sharpe_ratio(log_returns: &[f64], bars_per_year: f64) -> f64 {
    let cfg = EvalConfig::new(bars_per_year);
    Moments::of(|| log_returns.iter().copied().map(finite_input)).sharpe(cfg.periods())
}

/// Evaluates an equal-weight portfolio from its per-bar log returns and each symbol's positions
/// (`legs`, one slice per symbol, aligned with `log_returns` on the same bars).
///
/// Return figures are [`evaluate`]'s. Activity is counted per symbol, so a long in one symbol
/// and a short in another never cancel out: exposure is the mean gross exposure
/// (`Σ |position| / symbols`), turnover the symbols' weighted position changes summed
/// (`Σ |Δposition| / symbols`, annualised), trades every symbol's position changes, and the
/// hit rate counts the bars with any exposure.
pub fn evaluate_portfolio(log_returns: &[f64], legs: &[&[f64]], cfg: &EvalConfig) -> Metrics {
    let n = legs.iter().map(|l| l.len()).fold(log_returns.len(), usize::min);
    let weight = 1.0 / legs.len().max(1) as f64;
    let gross: Vec<f64> = (0..n).map(|t| legs.iter().map(|l| finite_input(l[t]).abs()).sum::<f64>() * weight).collect();
    let mut m = evaluate(&log_returns[..n], &gross, cfg);
    if n == 0 {
        return m;
    }
    let (mut traded, mut trades) = (0.0, 0u64);
    for leg in legs {
        let mut previous = 0.0;
        for &p in &leg[..n] {
            let p = finite_input(p);
            traded += (p - previous).abs() * weight;
            trades += u64::from(p != previous);
            previous = p;
        }
    }
    let in_market: Vec<usize> = (0..n).filter(|&t| gross[t] != 0.0).collect();
    let hits = in_market.iter().filter(|&&t| finite_input(log_returns[t]) > 0.0).count();
    m.exposure = gross.iter().sum::<f64>() / n as f64;
    m.turnover = finite(traded / n as f64 * cfg.periods());
    m.trades = trades;
    m.hit_rate = if in_market.is_empty() { 0.0 } else { hits as f64 / in_market.len() as f64 };
    m
}

/// The report of an empty series: zeros, with a degenerate interval at 0.
fn empty_metrics(cfg: &EvalConfig) -> Metrics {
    Metrics {
        sharpe: 0.0,
        sharpe_ci: Interval { lo: 0.0, hi: 0.0, level: cfg.resolved_level(), block_len: 1.0 },
        sortino: 0.0,
        max_drawdown: 0.0,
        total_return: 0.0,
        total_log_return: 0.0,
        annual_return: 0.0,
        annual_volatility: 0.0,
        turnover: 0.0,
        hit_rate: 0.0,
        trades: 0,
        bars: 0,
        exposure: 0.0,
    }
}

/// Evaluates buy-and-hold: long (position 1) in every bar, with no costs, so
/// its returns are the asset's own log returns. Entering in bar 0 counts as
/// its one trade.
pub fn buy_and_hold(log_returns_of_asset: &[f64], cfg: &EvalConfig) -> Metrics {
    let positions = vec![1.0; log_returns_of_asset.len()];
    evaluate(log_returns_of_asset, &positions, cfg)
}

/// Per-bar log returns of an equal-weight portfolio of the given symbols,
/// rebalanced to equal weights at the start of every bar: each bar's simple
/// returns are averaged across symbols and turned back into a log return,
/// `ln(mean_i exp(r_i))`. Rebalancing costs are not charged here; pass
/// net-of-cost returns.
///
/// Symbols with different lengths are aligned on their **last** bars: the
/// result has the length of the shortest series and covers the final bars of
/// every series, on the assumption that all series end at the same bar (as
/// test segments cut from the end of the data do). No symbols, or an empty
/// symbol, gives an empty result. Non-finite values count as 0.
pub fn portfolio_returns(per_symbol_log_returns: &[&[f64]]) -> Vec<f64> {
    let Some(n) = per_symbol_log_returns.iter().map(|s| s.len()).min() else {
        return Vec::new();
    };
    let count = per_symbol_log_returns.len() as f64;
    let tails: Vec<&[f64]> = per_symbol_log_returns.iter().map(|s| &s[s.len() - n..]).collect();
    (0..n)
        .map(|t| {
            // log-sum-exp around the largest return keeps exp from overflowing.
            let top = tails.iter().map(|s| finite_input(s[t])).fold(f64::NEG_INFINITY, f64::max);
            let mean_growth = tails.iter().map(|s| (finite_input(s[t]) - top).exp()).sum::<f64>() / count;
            finite(top + mean_growth.ln())
        })
        .collect()
}

/// The equity curve of a log-return series: `n + 1` values, starting at 1.0
/// before the first bar, then `exp(cumulative log return)` after each bar.
/// Non-finite returns count as 0; values saturate at `f64::MAX`.
pub fn equity_curve(log_returns: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(log_returns.len() + 1);
    out.push(1.0);
    let mut cum = 0.0f64;
    for &r in log_returns {
        cum += finite_input(r);
        out.push(finite(cum.exp()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn cfg() -> EvalConfig {
        EvalConfig { bootstrap_samples: 200, ..EvalConfig::new(252.0) }
    }

    fn all_finite(m: &Metrics) -> bool {
        [
            m.sharpe,
            m.sharpe_ci.lo,
            m.sharpe_ci.hi,
            m.sharpe_ci.level,
            m.sharpe_ci.block_len,
            m.sortino,
            m.max_drawdown,
            m.total_return,
            m.annual_return,
            m.annual_volatility,
            m.turnover,
            m.hit_rate,
            m.exposure,
        ]
        .iter()
        .all(|x| x.is_finite())
    }

    #[test]
    fn a_long_and_a_short_in_a_portfolio_are_exposure_and_turnover_not_flat() {
        // Long BTC and short ETH all the time: the signed average is 0 (it read as flat), but the
        // book is fully invested and entered two positions.
        let cfg = EvalConfig::new(252.0);
        let returns = [0.01, -0.005, 0.002, 0.003];
        let (long, short) = ([1.0; 4], [-1.0; 4]);
        let m = evaluate_portfolio(&returns, &[&long, &short], &cfg);
        assert!((m.exposure - 1.0).abs() < EPS, "gross exposure {}", m.exposure);
        assert_eq!(m.trades, 2, "one entry per symbol");
        assert!((m.turnover - 252.0 / 4.0).abs() < EPS, "two half-weight entries over 4 bars: {}", m.turnover);
        assert!((m.hit_rate - 0.75).abs() < EPS, "in the market every bar, up in 3 of 4");
        // One symbol long, then switching to short while the other stays flat.
        let (a, flat) = ([1.0, 1.0, -1.0, -1.0], [0.0; 4]);
        let m = evaluate_portfolio(&returns, &[&a, &flat], &cfg);
        assert!((m.exposure - 0.5).abs() < EPS);
        assert_eq!(m.trades, 2);
        assert!((m.turnover - (0.5 + 1.0) / 4.0 * 252.0).abs() < EPS, "{}", m.turnover);
        assert_eq!(m.sharpe, evaluate(&returns, &[1.0; 4], &cfg).sharpe, "return figures are evaluate's");
    }

    #[test]
    fn hand_computed_metrics_of_a_tiny_series() {
        let r = [0.01, -0.02, 0.03, 0.0];
        let p = [1.0, 1.0, -1.0, 0.0];
        let m = evaluate(&r, &p, &cfg());
        // mean 0.005; deviations .005 -.025 .025 -.005; ssd = 0.0013; var = 0.0013/3.
        let std = (0.0013f64 / 3.0).sqrt();
        assert!((m.sharpe - 0.005 / std * 252f64.sqrt()).abs() < EPS);
        assert!((m.annual_volatility - std * 252f64.sqrt()).abs() < EPS);
        // downside deviation sqrt(0.0004 / 4) = 0.01.
        assert!((m.sortino - 0.005 / 0.01 * 252f64.sqrt()).abs() < 1e-9);
        // cumulative 0.01, -0.01, 0.02, 0.02; drawdown from 0.01 to -0.01.
        assert!((m.max_drawdown - (1.0 - (-0.02f64).exp())).abs() < EPS);
        assert!((m.total_return - (0.02f64.exp() - 1.0)).abs() < EPS);
        assert!((m.annual_return - ((0.005 * 252.0f64).exp() - 1.0)).abs() < 1e-9);
        // |Δp|: 1 (enter) + 0 + 2 (flip) + 1 (exit) = 4 over 4 bars.
        assert!((m.turnover - 252.0).abs() < EPS);
        assert_eq!(m.trades, 3);
        // in market in bars 0..3, winners 0.01 and 0.03.
        assert!((m.hit_rate - 2.0 / 3.0).abs() < EPS);
        assert!((m.exposure - 0.75).abs() < EPS);
        assert_eq!(m.bars, 4);
    }

    #[test]
    fn flat_policy_gives_finite_zeros() {
        let m = evaluate(&[0.0; 100], &[0.0; 100], &cfg());
        assert_eq!(m.sharpe, 0.0);
        assert_eq!(m.sortino, 0.0);
        assert_eq!(m.sharpe_ci.lo, 0.0);
        assert_eq!(m.sharpe_ci.hi, 0.0);
        assert_eq!(m.trades, 0);
        assert_eq!(m.hit_rate, 0.0);
        assert_eq!(m.exposure, 0.0);
        assert_eq!(m.max_drawdown, 0.0);
        assert!(all_finite(&m));
    }

    #[test]
    fn empty_input_gives_zeros() {
        let m = evaluate(&[], &[], &cfg());
        assert_eq!(m.bars, 0);
        assert_eq!(m.sharpe, 0.0);
        assert_eq!(m.turnover, 0.0);
        assert!(all_finite(&m));
        assert_eq!(m.sharpe_ci.level, 0.95);
    }

    #[test]
    fn mismatched_lengths_use_the_common_prefix() {
        let m = evaluate(&[0.01, 0.02, 0.5], &[1.0, 1.0], &cfg());
        assert_eq!(m.bars, 2);
        assert!((m.total_return - (0.03f64.exp() - 1.0)).abs() < EPS);
    }

    #[test]
    fn non_finite_and_extreme_inputs_stay_finite() {
        let r = [f64::NAN, f64::INFINITY, 1e308, 1e308, -f64::MAX, f64::NEG_INFINITY];
        let p = [f64::NAN, 1.0, f64::INFINITY, -1.0, 0.5, 1.0];
        let m = evaluate(&r, &p, &cfg());
        assert!(all_finite(&m), "{m:?}");
        assert!(serde_json::to_string(&m).is_ok());
        for block_len in [Some(0.0), Some(f64::NAN), Some(f64::INFINITY), Some(-3.0), None] {
            let bad = EvalConfig { bars_per_year: f64::NAN, level: 7.0, bootstrap_samples: 0, block_len, seed: 1 };
            let m = evaluate(&[0.01, -0.02, 0.03], &[1.0; 3], &bad);
            assert!(all_finite(&m), "{block_len:?}: {m:?}");
            assert_eq!(m.sharpe_ci.level, 0.95);
            assert!((1.0..=3.0).contains(&m.sharpe_ci.block_len), "{block_len:?}: {m:?}");
        }
    }

    #[test]
    fn buy_and_hold_is_long_throughout() {
        let r = [0.01, -0.005, 0.002];
        let m = buy_and_hold(&r, &cfg());
        assert_eq!(m.trades, 1);
        assert_eq!(m.exposure, 1.0);
        assert!((m.turnover - 252.0 / 3.0).abs() < EPS);
        assert_eq!(m, evaluate(&r, &[1.0; 3], &cfg()));
    }

    #[test]
    fn portfolio_of_two_assets_averages_simple_returns() {
        let a = [0.1f64.ln_1p(), 0.0];
        let b = [(-0.05f64).ln_1p(), 0.2f64.ln_1p()];
        let p = portfolio_returns(&[&a, &b]);
        assert!((p[0] - 0.025f64.ln_1p()).abs() < EPS);
        assert!((p[1] - 0.1f64.ln_1p()).abs() < EPS);
    }

    #[test]
    fn portfolio_aligns_on_the_last_bars() {
        let long = [9.0, 0.01, 0.02];
        let short = [0.01, 0.02];
        assert_eq!(portfolio_returns(&[&long, &short]), vec![0.01, 0.02]);
        assert!(portfolio_returns(&[]).is_empty());
        assert!(portfolio_returns(&[&long, &[]]).is_empty());
    }

    #[test]
    fn portfolio_with_huge_returns_does_not_overflow() {
        let p = portfolio_returns(&[&[1000.0], &[1000.0]]);
        assert!((p[0] - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn equity_curve_starts_at_one() {
        let e = equity_curve(&[0.1, -0.1]);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0], 1.0);
        assert!((e[1] - 0.1f64.exp()).abs() < EPS);
        assert!((e[2] - 1.0).abs() < EPS);
        assert_eq!(equity_curve(&[]), vec![1.0]);
    }

    #[test]
    fn config_checks_and_bar_intervals() {
        assert_eq!(EvalConfig::for_bar_interval(3600).map(|c| c.bars_per_year), Ok(8760.0));
        assert_eq!(EvalConfig::for_bar_interval(0), Err(EvalError::ZeroBarInterval));
        assert_eq!(EvalConfig::new(8760.0).validate(), Ok(()));
        assert_eq!(EvalConfig::new(-1.0).validate(), Err(EvalError::InvalidBarsPerYear(-1.0)));
        let c = EvalConfig { level: 1.0, ..EvalConfig::new(365.0) };
        assert_eq!(c.validate(), Err(EvalError::InvalidLevel(1.0)));
        let c = EvalConfig { block_len: Some(0.0), ..EvalConfig::new(365.0) };
        assert_eq!(c.validate(), Err(EvalError::InvalidBlockLength(0.0)));
        let c = EvalConfig { block_len: Some(0.5), ..EvalConfig::new(365.0) };
        assert_eq!(c.validate(), Err(EvalError::InvalidBlockLength(0.5)));
        let c = EvalConfig { block_len: Some(f64::INFINITY), ..EvalConfig::new(365.0) };
        assert_eq!(c.validate(), Err(EvalError::InvalidBlockLength(f64::INFINITY)));
        let c = EvalConfig { block_len: Some(f64::NAN), ..EvalConfig::new(365.0) };
        assert!(matches!(c.validate(), Err(EvalError::InvalidBlockLength(b)) if b.is_nan()));
        assert_eq!(EvalConfig { block_len: Some(7.5), ..EvalConfig::new(365.0) }.validate(), Ok(()));
        let c = EvalConfig { bootstrap_samples: usize::MAX, ..EvalConfig::new(365.0) };
        assert_eq!(c.validate(), Err(EvalError::TooManyBootstrapSamples(usize::MAX)));
        assert_eq!(c.samples(), MAX_BOOTSTRAP_SAMPLES);
    }

    #[test]
    fn a_fixed_block_length_is_clamped_to_the_series() {
        let c = EvalConfig::new(1.0);
        assert_eq!(c.fixed_block_len(100), None, "None leaves the choice to Politis–White");
        let fixed = |b| EvalConfig { block_len: Some(b), ..c };
        assert_eq!(fixed(7.5).fixed_block_len(100), Some(7.5));
        assert_eq!(fixed(50.0).fixed_block_len(20), Some(20.0));
        assert_eq!(fixed(f64::INFINITY).fixed_block_len(20), Some(20.0));
        assert_eq!(fixed(0.0).fixed_block_len(20), Some(1.0));
        assert_eq!(fixed(f64::NAN).fixed_block_len(20), Some(1.0));
        assert_eq!(fixed(5.0).fixed_block_len(0), Some(1.0));
    }
}
