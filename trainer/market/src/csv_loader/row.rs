//! One bar as the loader holds it between reading and the series: its values, the line it came
//! from, the checks of its values against each other, and the series a list of them makes.

use super::error::LoadError;
use crate::BarSeries;

/// One parsed, validated data row (or, in [`merge_with`](super::merge_with), one bar of a part).
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    /// The row's 1-based line in its file (0 for a bar of an already loaded part).
    pub(super) line: usize,
    /// The bar time (unix ms).
    pub(super) ts_ms: i64,
    /// Opening price.
    pub(super) open: f64,
    /// Highest price.
    pub(super) high: f64,
    /// Lowest price.
    pub(super) low: f64,
    /// Closing price.
    pub(super) close: f64,
    /// Traded volume.
    pub(super) volume: f64,
    /// Trade count, when the file has the column.
    pub(super) trades: Option<f64>,
    /// Taker-buy volume, when the file has the column.
    pub(super) taker_buy: Option<f64>,
}

impl Row {
    /// Same time and the same values (the line may differ).
    pub(super) fn same_bar(&self, other: &Row) -> bool {
        self.ts_ms == other.ts_ms
            && self.open == other.open
            && self.high == other.high
            && self.low == other.low
            && self.close == other.close
            && self.volume == other.volume
            && self.trades == other.trades
            && self.taker_buy == other.taker_buy
    }
}

/// Checks one bar's values against each other.
pub(super) fn validate(row: &Row, file: &str) -> Result<(), LoadError> {
    let file = || file.to_string();
    let line = row.line;
    for (field, value) in [("open", row.open), ("high", row.high), ("low", row.low), ("close", row.close)] {
        if value <= 0.0 {
            return Err(LoadError::NonPositivePrice { file: file(), line, field, value });
        }
    }
    if row.high < row.low {
        return Err(LoadError::HighBelowLow { file: file(), line, high: row.high, low: row.low });
    }
    for (field, value) in [("open", row.open), ("close", row.close)] {
        if row.high < value {
            return Err(LoadError::HighBelowBody { file: file(), line, high: row.high, field, value });
        }
        if row.low > value {
            return Err(LoadError::LowAboveBody { file: file(), line, low: row.low, field, value });
        }
    }
    for (field, value) in [("volume", Some(row.volume)), ("trades", row.trades), ("taker buy volume", row.taker_buy)] {
        if let Some(value) = value
            && value < 0.0
        {
            return Err(LoadError::NegativeValue { file: file(), line, field, value });
        }
    }
    if let Some(taker_buy) = row.taker_buy
        && taker_buy > row.volume * (1.0 + 1e-9)
    {
        return Err(LoadError::TakerBuyAboveVolume { file: file(), line, taker_buy, volume: row.volume });
    }
    Ok(())
}

/// The series of `rows` (in their order) for `symbol`; the trade count and taker-buy columns
/// only when `has_trades` and `has_taker` say every row has them.
pub(super) fn series_of(symbol: String, rows: &[Row], has_trades: bool, has_taker: bool) -> BarSeries {
    BarSeries {
        symbol,
        ts_ms: rows.iter().map(|r| r.ts_ms).collect(),
        open: rows.iter().map(|r| r.open).collect(),
        high: rows.iter().map(|r| r.high).collect(),
        low: rows.iter().map(|r| r.low).collect(),
        close: rows.iter().map(|r| r.close).collect(),
        volume: rows.iter().map(|r| r.volume).collect(),
        trades: has_trades.then(|| rows.iter().map(|r| r.trades.unwrap_or(0.0)).collect()),
        taker_buy_volume: has_taker.then(|| rows.iter().map(|r| r.taker_buy.unwrap_or(0.0)).collect()),
    }
}
