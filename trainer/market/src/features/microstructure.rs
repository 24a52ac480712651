//! The `microstructure` feature set: liquidity, spread and intrabar-volatility estimates from
//! bars, plus trade-count and order-flow columns when the data has them.
//!
//! Notation: bar `t` has open `O_t`, high `H_t`, low `L_t`, close `C_t`, base volume `V_t`;
//! `r_t = ln(C_t / C_{t-1})`. Windows are trailing and include bar `t`. Columns, in order:
//!
//! | column | formula (per bar, then window) | look-back |
//! | --- | --- | --- |
//! | `cs_spread` | Corwin–Schultz two-bar spread, negatives set to 0, mean over 16 | 16 |
//! | `roll_spread` | `2 sqrt(-cov(r_i, r_{i-1}))` over 32 pairs, 0 when cov >= 0 | 33 |
//! | `amihud` | `ln(1 + 1e6 * mean(|r_i| / (C_i V_i)))` over 16 (0-volume bars add 0) | 16 |
//! | `parkinson_vol` | `sqrt(mean(ln(H/L)²) / (4 ln 2))` over 16 | 15 |
//! | `gk_vol` | `sqrt(max(0, mean(½ ln(H/L)² - (2 ln 2 - 1) ln(C/O)²)))` over 16 | 15 |
//! | `volume_z` | z-score of `ln(1 + V_t)` against its mean/std over 64 | 63 |
//! | `clv` | `((C - L) - (H - C)) / (H - L)`, 0 when `H == L` | 0 |
//! | `trades_z` | z-score of `ln(1 + trades_t)` over 64 (only with trade counts) | 63 |
//! | `taker_imbalance` | `2 taker_buy_t / V_t - 1`, 0 when `V_t == 0` (only with taker volume) | 0 |
//!
//! So the set has 7 columns, 8 with one optional column and 9 with both. Every output is
//! finite: zero volumes, zero ranges and non-positive prices all map to documented values.
//! Gaps in the bar grid are ignored: windows count bars, not wall-clock time.

use super::bar_columns::{BarColumns, finite_or_zero, log_ratio};
use super::rolling;

/// The columns every series gets, in order.
pub const BASE_NAMES: [&str; 7] = ["cs_spread", "roll_spread", "amihud", "parkinson_vol", "gk_vol", "volume_z", "clv"];
/// Column added when the series has trade counts.
pub const TRADES_NAME: &str = "trades_z";
/// Column added when the series has taker-buy volume.
pub const TAKER_NAME: &str = "taker_imbalance";

/// Bars of history the set needs: the 64-bar z-scores read bars `t-63..=t`.
pub const LOOKBACK: usize = Z_WINDOW - 1;

const SPREAD_WINDOW: usize = 16;
const ROLL_WINDOW: usize = 32;
const AMIHUD_WINDOW: usize = 16;
const RANGE_VOL_WINDOW: usize = 16;
const Z_WINDOW: usize = 64;
/// Amihud's ratio is quoted per million units of quote currency traded.
const AMIHUD_SCALE: f64 = 1e6;
/// Below this rolling standard deviation a log series counts as constant: z-score 0.
const Z_MIN_STD: f64 = 1e-6;

// The declared look-back must cover every column's own.
const _: () = assert!(LOOKBACK > ROLL_WINDOW && LOOKBACK >= SPREAD_WINDOW);
const _: () = assert!(LOOKBACK >= AMIHUD_WINDOW && LOOKBACK >= RANGE_VOL_WINDOW - 1);

/// The `microstructure` columns over `bars`, one value per bar (meaningful from [`LOOKBACK`]).
pub(super) fn columns(bars: &BarColumns<'_>) -> Vec<(&'static str, Vec<f64>)> {
    let r = bars.log_returns();
    let log_range = bars.log_ranges();
    let mut out = vec![
        (BASE_NAMES[0], corwin_schultz(bars, &log_range)),
        (BASE_NAMES[1], roll(&r)),
        (BASE_NAMES[2], amihud(bars, &r)),
        (BASE_NAMES[3], parkinson(&log_range)),
        (BASE_NAMES[4], garman_klass(bars, &log_range)),
        (BASE_NAMES[5], log_z_scores(&bars.volume)),
        (BASE_NAMES[6], close_location(bars)),
    ];
    if let Some(trades) = &bars.trades {
        out.push((TRADES_NAME, log_z_scores(trades)));
    }
    if let Some(taker) = &bars.taker_buy_volume {
        out.push((TAKER_NAME, taker_imbalance(&bars.volume, taker)));
    }
    out
}

/// `cs_spread`: the high-low spread estimator of Corwin & Schultz (2012), "A Simple Way to
/// Estimate Bid-Ask Spreads from Daily High and Low Prices", *Journal of Finance* 67(2).
///
/// For the bar pair `(t-1, t)`:
/// `β = ln(H_{t-1}/L_{t-1})² + ln(H_t/L_t)²`,
/// `γ = ln(max(H_{t-1}, H_t) / min(L_{t-1}, L_t))²`,
/// `α = (sqrt(2β) - sqrt(β)) / (3 - 2 sqrt 2) - sqrt(γ / (3 - 2 sqrt 2))`,
/// `S = 2 (e^α - 1) / (1 + e^α)` (computed as `2 tanh(α/2)`, which cannot overflow).
/// As in the paper, negative two-bar estimates are set to 0 before averaging over 16 pairs.
/// The paper's overnight-gap adjustment is omitted: crypto markets trade around the clock.
fn corwin_schultz(bars: &BarColumns<'_>, log_range: &[f64]) -> Vec<f64> {
    let k = 3.0 - 2.0 * std::f64::consts::SQRT_2;
    let mut pair = vec![0.0; bars.len()];
    for t in 1..bars.len() {
        let beta = log_range[t - 1].powi(2) + log_range[t].powi(2);
        let high = bars.high[t - 1].max(bars.high[t]);
        let low = bars.low[t - 1].min(bars.low[t]);
        let gamma = log_ratio(high, low).powi(2);
        let alpha = ((2.0 * beta).sqrt() - beta.sqrt()) / k - (gamma / k).sqrt();
        pair[t] = finite_or_zero(2.0 * (alpha / 2.0).tanh()).max(0.0);
    }
    rolling::means(&pair, SPREAD_WINDOW)
}

/// `roll_spread`: the implicit effective spread of Roll (1984), "A Simple Implicit Measure of
/// the Effective Bid-Ask Spread in an Efficient Market", *Journal of Finance* 39(4).
///
/// Bid-ask bounce makes successive price changes negatively autocorrelated; with log prices,
/// `S = 2 sqrt(-cov(r_i, r_{i-1}))` over the last 32 pairs (a relative spread), and 0 when
/// the covariance is not negative (the estimator is undefined there).
fn roll(r: &[f64]) -> Vec<f64> {
    let mut lagged = vec![0.0; r.len()];
    if r.len() > 1 {
        lagged[1..].copy_from_slice(&r[..r.len() - 1]);
    }
    rolling::covariances(r, &lagged, ROLL_WINDOW)
        .into_iter()
        .map(|cov| if cov < 0.0 { 2.0 * (-cov).sqrt() } else { 0.0 })
        .collect()
}

/// `amihud`: the illiquidity ratio of Amihud (2002), "Illiquidity and Stock Returns:
/// Cross-Section and Time-Series Effects", *Journal of Financial Markets* 5(1).
///
/// `ILLIQ = mean(|r_i| / (C_i V_i))` over 16 bars, with `C_i V_i` the bar's quote (dollar)
/// volume; bars without volume add 0. The ratio is tiny and heavily right-skewed, so the
/// column is `ln(1 + 1e6 ILLIQ)`: price impact per million of quote currency, log-compressed.
fn amihud(bars: &BarColumns<'_>, r: &[f64]) -> Vec<f64> {
    let ratio: Vec<f64> = (0..bars.len())
        .map(|t| {
            let dollar_volume = bars.close[t] * bars.volume[t];
            if dollar_volume > 0.0 { finite_or_zero(r[t].abs() / dollar_volume) } else { 0.0 }
        })
        .collect();
    rolling::means(&ratio, AMIHUD_WINDOW)
        .into_iter()
        .map(|illiq| finite_or_zero((AMIHUD_SCALE * illiq.max(0.0)).ln_1p()))
        .collect()
}

/// `parkinson_vol`: the range-based volatility of Parkinson (1980), "The Extreme Value Method
/// for Estimating the Variance of the Rate of Return", *Journal of Business* 53(1).
///
/// `σ = sqrt(mean(ln(H_i/L_i)²) / (4 ln 2))` over 16 bars: a per-bar volatility.
fn parkinson(log_range: &[f64]) -> Vec<f64> {
    let squares: Vec<f64> = log_range.iter().map(|x| x * x).collect();
    let scale = 1.0 / (4.0 * std::f64::consts::LN_2);
    rolling::means(&squares, RANGE_VOL_WINDOW).into_iter().map(|m| (m.max(0.0) * scale).sqrt()).collect()
}

/// `gk_vol`: the OHLC volatility of Garman & Klass (1980), "On the Estimation of Security
/// Price Volatilities from Historical Data", *Journal of Business* 53(1).
///
/// Per bar `σ²_i = ½ ln(H_i/L_i)² - (2 ln 2 - 1) ln(C_i/O_i)²`, averaged over 16 bars; the
/// column is `sqrt(max(0, mean))` (single-bar terms can be negative, the mean rarely is).
fn garman_klass(bars: &BarColumns<'_>, log_range: &[f64]) -> Vec<f64> {
    let c = 2.0 * std::f64::consts::LN_2 - 1.0;
    let per_bar: Vec<f64> = (0..bars.len())
        .map(|t| {
            let body = log_ratio(bars.close[t], bars.open[t]);
            0.5 * log_range[t].powi(2) - c * body * body
        })
        .collect();
    rolling::means(&per_bar, RANGE_VOL_WINDOW).into_iter().map(|m| m.max(0.0).sqrt()).collect()
}

/// `volume_z` / `trades_z`: how unusual this bar's activity is. With `x_t = ln(1 + a_t)`
/// (`a` = volume or trade count; negative or non-finite counts read as 0),
/// `z_t = (x_t - mean(x)) / std(x)` over the 64 bars ending at `t` (population std). The
/// window includes bar `t`, which bounds `|z|` by `sqrt(63)`; a constant window gives 0.
/// (Log-volume standardisation as in Andersen (1996), "Return Volatility and Trading Volume:
/// An Information Flow Interpretation of Stochastic Volatility", *Journal of Finance* 51(1).)
fn log_z_scores(activity: &[f64]) -> Vec<f64> {
    let x: Vec<f64> = activity.iter().map(|&a| finite_or_zero(a.max(0.0).ln_1p())).collect();
    let mean = rolling::means(&x, Z_WINDOW);
    let var = rolling::variances(&x, Z_WINDOW);
    (0..x.len())
        .map(|t| {
            let std = var[t].sqrt();
            if std > Z_MIN_STD { finite_or_zero((x[t] - mean[t]) / std) } else { 0.0 }
        })
        .collect()
}

/// `clv`: the close-location value from Chaikin's accumulation/distribution line,
/// `((C - L) - (H - C)) / (H - L)`: +1 closing on the high, -1 on the low, 0 when `H == L`.
/// Clamped to `[-1, 1]` so inconsistent bars cannot leave the range.
fn close_location(bars: &BarColumns<'_>) -> Vec<f64> {
    (0..bars.len())
        .map(|t| {
            let (h, l, c) = (bars.high[t], bars.low[t], bars.close[t]);
            let range = h - l;
            if range > 0.0 { finite_or_zero(((c - l) - (h - c)) / range).clamp(-1.0, 1.0) } else { 0.0 }
        })
        .collect()
}

/// `taker_imbalance`: signed order flow, `2 taker_buy_t / V_t - 1 = (buy - sell) / V_t`,
/// in `[-1, 1]` (clamped), 0 when the bar has no volume. The per-bar order-imbalance input of
/// Easley, López de Prado & O'Hara (2012), "Flow Toxicity and Liquidity in a High-frequency
/// World", *Review of Financial Studies* 25(5), with exchange-reported taker side in place
/// of bulk classification.
fn taker_imbalance(volume: &[f64], taker_buy: &[f64]) -> Vec<f64> {
    volume
        .iter()
        .zip(taker_buy)
        .map(|(&v, &b)| if v > 0.0 { finite_or_zero(2.0 * b / v - 1.0).clamp(-1.0, 1.0) } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BarSeries;

    fn bars_of(high: &[f64], low: &[f64], close: &[f64]) -> BarSeries {
        let n = close.len();
        BarSeries {
            symbol: "T".into(),
            ts_ms: (0..n as i64).collect(),
            open: close.to_vec(),
            high: high.to_vec(),
            low: low.to_vec(),
            close: close.to_vec(),
            volume: vec![1.0; n],
            trades: None,
            taker_buy_volume: None,
        }
    }

    #[test]
    fn corwin_schultz_pair_matches_the_papers_formula() {
        let series = bars_of(&[101.0, 101.5], &[99.0, 99.2], &[100.0, 100.0]);
        let bars = BarColumns::new(&series);
        let cs = corwin_schultz(&bars, &bars.log_ranges());
        let k = 3.0 - 2.0 * 2f64.sqrt();
        let beta = (101.0f64 / 99.0).ln().powi(2) + (101.5f64 / 99.2).ln().powi(2);
        let gamma = (101.5f64 / 99.0).ln().powi(2);
        let alpha = ((2.0 * beta).sqrt() - beta.sqrt()) / k - (gamma / k).sqrt();
        let s = 2.0 * (alpha.exp() - 1.0) / (1.0 + alpha.exp());
        // One pair in a 16-wide window: the rolling mean is s / 16.
        assert!((cs[1] * SPREAD_WINDOW as f64 - s.max(0.0)).abs() < 1e-12);
    }

    #[test]
    fn corwin_schultz_never_overflows_on_absurd_ranges() {
        let series = bars_of(&[1e300, 1e300], &[1e-300, 1e-300], &[1.0, 1.0]);
        let bars = BarColumns::new(&series);
        let cs = corwin_schultz(&bars, &bars.log_ranges());
        assert!(cs.iter().all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn roll_is_zero_for_trending_changes() {
        // Positively autocorrelated changes: covariance >= 0, spread 0.
        let r: Vec<f64> = (0..100).map(|i| 0.001 * (i / 10) as f64).collect();
        assert!(roll(&r)[40..].iter().all(|&s| s == 0.0));
    }

    #[test]
    fn taker_imbalance_is_bounded_and_zero_without_volume() {
        let out = taker_imbalance(&[10.0, 0.0, 10.0, 10.0], &[7.5, 3.0, 50.0, 0.0]);
        assert_eq!(out, vec![0.5, 0.0, 1.0, -1.0]);
    }
}
