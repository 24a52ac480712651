//! The bar series type: OHLCV columns (plus optional trade counts and taker volume) in time order.

use serde::{Deserialize, Serialize};

/// A validated series of bars for one symbol, oldest first, strictly increasing timestamps.
///
/// Stored column-wise because features and the environment scan one column at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarSeries {
    /// Symbol name as the catalog knows it (`BTC`, `SYN-EDGE`).
    pub symbol: String,
    /// Bar open times, unix milliseconds UTC, strictly increasing.
    pub ts_ms: Vec<i64>,
    /// Open prices, all > 0.
    pub open: Vec<f64>,
    /// High prices, >= max(open, close, low).
    pub high: Vec<f64>,
    /// Low prices, > 0.
    pub low: Vec<f64>,
    /// Close prices, all > 0.
    pub close: Vec<f64>,
    /// Traded volume in base units, >= 0.
    pub volume: Vec<f64>,
    /// Number of trades per bar, when the source has it (exchange kline exports).
    pub trades: Option<Vec<f64>>,
    /// Taker-buy base volume per bar, when the source has it.
    pub taker_buy_volume: Option<Vec<f64>>,
}

impl BarSeries {
    /// Number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// True when the series has no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// The bar interval in milliseconds: the most common spacing between consecutive bars
    /// (gaps make some spacings larger, so the mode is used, not the mean). `None` with < 2 bars.
    pub fn interval_ms(&self) -> Option<i64> {
        if self.ts_ms.len() < 2 {
            return None;
        }
        let mut diffs: Vec<i64> = self.ts_ms.windows(2).map(|w| w[1] - w[0]).collect();
        diffs.sort_unstable();
        let mut best = (diffs[0], 0usize);
        let mut run = (diffs[0], 0usize);
        for &d in &diffs {
            if d == run.0 {
                run.1 += 1;
            } else {
                run = (d, 1);
            }
            if run.1 > best.1 {
                best = run;
            }
        }
        Some(best.0)
    }

    /// Bars per year for annualising metrics: crypto trades around the clock, so this is
    /// 365 days of bars at [`Self::interval_ms`] (hourly bars give 8760).
    pub fn bars_per_year(&self) -> Option<f64> {
        self.interval_ms().filter(|&ms| ms > 0).map(|ms| 365.0 * 24.0 * 3600.0 * 1000.0 / ms as f64)
    }

    /// A copy of the bars at indices `rows`, in that order (same symbol, same optional columns);
    /// the whole series when `rows` is all of it.
    pub fn select(&self, rows: &[usize]) -> BarSeries {
        if rows.len() == self.len() && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return self.clone();
        }
        let pick = |v: &Vec<f64>| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        BarSeries {
            symbol: self.symbol.clone(),
            ts_ms: rows.iter().map(|&i| self.ts_ms[i]).collect(),
            open: pick(&self.open),
            high: pick(&self.high),
            low: pick(&self.low),
            close: pick(&self.close),
            volume: pick(&self.volume),
            trades: self.trades.as_ref().map(pick),
            taker_buy_volume: self.taker_buy_volume.as_ref().map(pick),
        }
    }

    /// A copy of bars `range` (same symbol, same optional columns).
    pub fn slice(&self, range: std::ops::Range<usize>) -> BarSeries {
        BarSeries {
            symbol: self.symbol.clone(),
            ts_ms: self.ts_ms[range.clone()].to_vec(),
            open: self.open[range.clone()].to_vec(),
            high: self.high[range.clone()].to_vec(),
            low: self.low[range.clone()].to_vec(),
            close: self.close[range.clone()].to_vec(),
            volume: self.volume[range.clone()].to_vec(),
            trades: self.trades.as_ref().map(|v| v[range.clone()].to_vec()),
            taker_buy_volume: self.taker_buy_volume.as_ref().map(|v| v[range].to_vec()),
        }
    }
}

/// A hole in the bar grid: consecutive bars further apart than one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Open time of the bar before the gap (unix ms).
    pub after_ms: i64,
    /// Open time of the bar after the gap (unix ms).
    pub before_ms: i64,
    /// Number of whole bars missing.
    pub missing_bars: i64,
}

/// What loading found besides the bars themselves: things worth telling the user, not errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Files the bars came from.
    pub files: Vec<String>,
    /// Rows read (data rows, excluding comments and header).
    pub rows_read: usize,
    /// Rows dropped because the bar kept for their time has exactly the same values.
    pub duplicates_dropped: usize,
    /// Rows dropped because another row for the same time, with different values, was kept
    /// under [`DuplicatePolicy::KeepFirst`] or [`DuplicatePolicy::KeepLast`] (the default
    /// policy refuses such a file instead). `rows_read` = bars + `duplicates_dropped` + this.
    ///
    /// [`DuplicatePolicy::KeepFirst`]: crate::csv_loader::DuplicatePolicy::KeepFirst
    /// [`DuplicatePolicy::KeepLast`]: crate::csv_loader::DuplicatePolicy::KeepLast
    #[serde(default)]
    pub duplicates_resolved: usize,
    /// True when the file was newest-first and was reversed.
    pub reversed: bool,
    /// Holes in the bar grid.
    pub gaps: Vec<Gap>,
    /// The line skipped before the header, as sites such as CryptoDataDownload put one
    /// (`https://www.CryptoDataDownload.com`), cut to 200 characters; of the first file that
    /// had one when several were merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// Hex SHA-256 over the loaded bars (a data fingerprint for manifests).
    pub fingerprint: String,
}
