//! The bar columns the feature code reads, made safe for arithmetic whatever the input.
//!
//! A validated [`BarSeries`] passes through untouched (borrowed). A hand-built one may have
//! columns of the wrong length or non-finite values; those are repaired here once, so the
//! feature formulas never index out of bounds and per-bar quantities can be guarded simply.

use std::borrow::Cow;

use crate::BarSeries;

/// Equal-length OHLCV columns (plus the optional ones) of a series, `len` = number of closes.
pub(super) struct BarColumns<'a> {
    /// Open prices.
    pub open: Cow<'a, [f64]>,
    /// High prices.
    pub high: Cow<'a, [f64]>,
    /// Low prices.
    pub low: Cow<'a, [f64]>,
    /// Close prices.
    pub close: &'a [f64],
    /// Base volume; missing entries read as 0.
    pub volume: Cow<'a, [f64]>,
    /// Trade counts when the series has them; missing entries read as 0.
    pub trades: Option<Cow<'a, [f64]>>,
    /// Taker-buy base volume when the series has it; missing entries read as 0.
    pub taker_buy_volume: Option<Cow<'a, [f64]>>,
}

impl<'a> BarColumns<'a> {
    /// Borrows the columns of `series`, padding or truncating any whose length differs from
    /// the close column (opens, highs and lows fall back to the close, volumes to 0).
    pub fn new(series: &'a BarSeries) -> BarColumns<'a> {
        let close = series.close.as_slice();
        let fit = |column: &'a [f64], fallback: &dyn Fn(usize) -> f64| -> Cow<'a, [f64]> {
            if column.len() == close.len() {
                Cow::Borrowed(column)
            } else {
                Cow::Owned((0..close.len()).map(|t| column.get(t).copied().unwrap_or_else(|| fallback(t))).collect())
            }
        };
        let from_close = |t: usize| close[t];
        let zero = |_: usize| 0.0;
        BarColumns {
            open: fit(&series.open, &from_close),
            high: fit(&series.high, &from_close),
            low: fit(&series.low, &from_close),
            close,
            volume: fit(&series.volume, &zero),
            trades: series.trades.as_deref().map(|c| fit(c, &zero)),
            taker_buy_volume: series.taker_buy_volume.as_deref().map(|c| fit(c, &zero)),
        }
    }

    /// Number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// One-bar log returns `ln(close_t / close_{t-1})`, 0 at `t = 0` and wherever the ratio
    /// is not a finite positive number.
    pub fn log_returns(&self) -> Vec<f64> {
        let later = self.close.windows(2).map(|w| log_ratio(w[1], w[0]));
        std::iter::once(0.0).chain(later).take(self.len()).collect()
    }

    /// Per-bar log range `ln(high_t / low_t)`, 0 where it is not finite.
    pub fn log_ranges(&self) -> Vec<f64> {
        self.high.iter().zip(self.low.iter()).map(|(&h, &l)| log_ratio(h, l)).collect()
    }
}

/// `ln(a / b)`, or 0 when that is not finite (a zero, negative or non-finite price).
pub(super) fn log_ratio(a: f64, b: f64) -> f64 {
    finite_or_zero((a / b).ln())
}

/// `x` when finite, else 0: the guard every per-bar quantity passes through.
pub(super) fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_columns_are_padded_and_bad_prices_give_zero_returns() {
        let series = BarSeries {
            symbol: "X".into(),
            ts_ms: vec![0, 1, 2],
            open: vec![1.0],
            high: vec![],
            low: vec![1.0, 1.0, 1.0, 9.0],
            close: vec![1.0, 0.0, 2.0],
            volume: vec![5.0],
            trades: Some(vec![]),
            taker_buy_volume: None,
        };
        let bars = BarColumns::new(&series);
        assert_eq!(bars.len(), 3);
        assert_eq!(&*bars.open, &[1.0, 0.0, 2.0]);
        assert_eq!(&*bars.high, &[1.0, 0.0, 2.0]);
        assert_eq!(&*bars.low, &[1.0, 1.0, 1.0]);
        assert_eq!(&*bars.volume, &[5.0, 0.0, 0.0]);
        assert_eq!(bars.trades.as_deref(), Some(&[0.0, 0.0, 0.0][..]));
        assert_eq!(bars.log_returns(), vec![0.0, 0.0, 0.0]);
        assert_eq!(bars.log_ranges(), vec![0.0, 0.0, 2f64.ln()]);
    }
}
