//! The `price` feature set: multi-horizon log returns, realised volatility, trend and
//! risk-adjusted momentum, all from closing prices up to and including bar `t`.
//!
//! Notation: `c_t` is the close of bar `t`, `r_t = ln(c_t / c_{t-1})` the one-bar log return.
//! Windows are trailing and include bar `t`. The set has exactly [`NAMES`]`.len() == 8`
//! columns, in this order:
//!
//! | column | formula | look-back |
//! | --- | --- | --- |
//! | `ret_1` | `ln(c_t / c_{t-1})` | 1 |
//! | `ret_4` | `ln(c_t / c_{t-4})` | 4 |
//! | `ret_16` | `ln(c_t / c_{t-16})` | 16 |
//! | `ret_64` | `ln(c_t / c_{t-64})` | 64 |
//! | `vol_16` | population std of `r_{t-15..=t}` | 16 |
//! | `vol_64` | population std of `r_{t-63..=t}` | 64 |
//! | `trend_32` | `ln(c_t / SMA_32(c)_t)`, `SMA_32` the mean of `c_{t-31..=t}` | 31 |
//! | `mom_ratio_16` | `ret_16 / (sqrt(16) * rms_16)`, `rms_16 = sqrt(mean(r²_{t-15..=t}))` | 16 |
//!
//! `mom_ratio_16` is risk-adjusted momentum: `sqrt(16) * mean(r) / rms(r)` over the window,
//! which equals the t-statistic of the mean return when the mean is small next to the
//! volatility (`rms² = std² + mean²`). Using the root-mean-square rather than the standard
//! deviation bounds it to `[-4, 4]` (Cauchy–Schwarz) instead of exploding on a run of equal
//! returns; it is 0 when every return in the window is 0.

use super::bar_columns::{BarColumns, finite_or_zero, log_ratio};
use super::rolling;

/// Column names of the `price` set, in order.
pub const NAMES: [&str; 8] = ["ret_1", "ret_4", "ret_16", "ret_64", "vol_16", "vol_64", "trend_32", "mom_ratio_16"];

/// Bars of history the set needs: `ret_64` and `vol_64` read `c_{t-64}`.
pub const LOOKBACK: usize = 64;

const TREND_WINDOW: usize = 32;
const MOMENTUM_WINDOW: usize = 16;

/// The eight `price` columns over `bars`, one value per bar (meaningful from [`LOOKBACK`]).
pub(super) fn columns(bars: &BarColumns<'_>) -> Vec<(&'static str, Vec<f64>)> {
    let n = bars.len();
    let close = bars.close;
    let r = bars.log_returns();

    let horizon_return = |k: usize| -> Vec<f64> {
        (0..n).map(|t| if t >= k { log_ratio(close[t], close[t - k]) } else { 0.0 }).collect()
    };
    let volatility = |w: usize| -> Vec<f64> { rolling::variances(&r, w).into_iter().map(f64::sqrt).collect() };

    let sma = rolling::means(close, TREND_WINDOW);
    let trend: Vec<f64> = close.iter().zip(&sma).map(|(&c, &m)| log_ratio(c, m)).collect();

    let ret_16 = horizon_return(MOMENTUM_WINDOW);
    let squares: Vec<f64> = r.iter().map(|x| x * x).collect();
    let mean_sq = rolling::means(&squares, MOMENTUM_WINDOW);
    let scale = (MOMENTUM_WINDOW as f64).sqrt();
    let momentum: Vec<f64> = ret_16
        .iter()
        .zip(&mean_sq)
        .map(|(&ret, &m2)| {
            let rms = m2.max(0.0).sqrt();
            if rms > 0.0 { finite_or_zero(ret / (scale * rms)).clamp(-scale, scale) } else { 0.0 }
        })
        .collect();

    vec![
        (NAMES[0], horizon_return(1)),
        (NAMES[1], horizon_return(4)),
        (NAMES[2], ret_16),
        (NAMES[3], horizon_return(64)),
        (NAMES[4], volatility(16)),
        (NAMES[5], volatility(64)),
        (NAMES[6], trend),
        (NAMES[7], momentum),
    ]
}
