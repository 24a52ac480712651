//! Which columns hold what: the header's column names matched to the bar's roles (aliases, case,
//! symbol prefixes, separate date and time columns, the vendors' `Volume <asset>`), the
//! header-less exchange kline layout, and a data row read by that layout into a checked [`Row`].

use std::borrow::Cow;

use super::error::LoadError;
use super::row::{Row, validate};
use super::timestamps::parse_timestamp_ms;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The bar time (or, with a time column, its date).
    Time,
    /// The opening price.
    Open,
    /// The highest price.
    High,
    /// The lowest price.
    Low,
    /// The closing price.
    Close,
    /// The traded (base asset) volume.
    Volume,
    /// The number of trades.
    Trades,
    /// The taker-buy (base asset) volume.
    TakerBuy,
}

impl Role {
    /// The role as messages name it.
    fn name(self) -> &'static str {
        match self {
            Role::Time => "time",
            Role::Open => "open",
            Role::High => "high",
            Role::Low => "low",
            Role::Close => "close",
            Role::Volume => "volume",
            Role::Trades => "trades",
            Role::TakerBuy => "taker buy volume",
        }
    }

    /// Header names (lower case, spaces and dashes as `_`) for the role, most specific first.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Role::Time => &[
                "timestamp",
                "open_time",
                "opentime",
                "unix",
                "unix_time",
                "ts",
                "datetime",
                "date_time",
                "date",
                "time",
            ],
            Role::Open => &["open", "o", "open_price"],
            Role::High => &["high", "h", "high_price"],
            Role::Low => &["low", "l", "low_price"],
            Role::Close => &["close", "c", "close_price"],
            Role::Volume => &["volume", "vol", "v", "base_volume", "volume_base"],
            Role::Trades => {
                &["number_of_trades", "trades", "count", "num_trades", "trade_count", "tradecount", "n_trades"]
            }
            Role::TakerBuy => &["taker_buy_base_asset_volume", "taker_buy_volume", "taker_buy_base_volume"],
        }
    }
}

/// Where the bar time comes from.
#[derive(Debug, Clone, Copy)]
enum TimeColumns {
    /// One column.
    Single(usize),
    /// A date column and a time-of-day column, joined with a space.
    DateAndTime(usize, usize),
}

/// Which field of a row holds what, decided once from the header (or its absence).
#[derive(Debug)]
pub(super) struct Layout {
    /// Column labels for messages, as `column 4 `BTC.high``.
    labels: Vec<String>,
    /// The bar time.
    time: TimeColumns,
    /// Index of the open column.
    open: usize,
    /// Index of the high column.
    high: usize,
    /// Index of the low column.
    low: usize,
    /// Index of the close column.
    close: usize,
    /// Index of the volume column.
    volume: usize,
    /// Index of the trade count column, when present.
    pub(super) trades: Option<usize>,
    /// Index of the taker-buy volume column, when present.
    pub(super) taker_buy: Option<usize>,
    /// Fields a row needs: one past the last column read.
    needed: usize,
}

impl Layout {
    /// The exchange kline layout for a file without a header whose first row has `fields` fields.
    pub(super) fn headerless(fields: usize) -> Layout {
        const NAMES: [&str; 12] = [
            "open time",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "close time",
            "quote volume",
            "number of trades",
            "taker buy base volume",
            "taker buy quote volume",
            "ignore",
        ];
        let kline = fields >= 10;
        Layout {
            labels: (0..fields.max(NAMES.len()))
                .map(|i| column_label(i, NAMES.get(i).copied().unwrap_or("unnamed")))
                .collect(),
            time: TimeColumns::Single(0),
            open: 1,
            high: 2,
            low: 3,
            close: 4,
            volume: 5,
            trades: kline.then_some(8),
            taker_buy: kline.then_some(9),
            needed: if kline { 10 } else { 6 },
        }
    }

    /// The layout a header row describes.
    pub(super) fn from_header(names: &[String], symbol: &str, file: &str, line: usize) -> Result<Layout, LoadError> {
        let normalized: Vec<(Option<String>, String)> = names.iter().map(|name| normalize_column(name)).collect();
        let symbol = symbol.trim().to_lowercase();
        let base_of = |i: usize| normalized.get(i).map_or("", |(_, b)| b.as_str());
        let name_of = |i: usize| names.get(i).cloned().unwrap_or_default();

        // The columns that could hold `role`, in alias order; in a wide file of several
        // symbols, the requested symbol's columns win.
        let candidates = |role: Role| -> Vec<usize> {
            let mut found: Vec<usize> = Vec::new();
            for alias in role.aliases() {
                for (i, (_, base)) in normalized.iter().enumerate() {
                    if base == alias && !found.contains(&i) {
                        found.push(i);
                    }
                }
            }
            let own: Vec<usize> = found
                .iter()
                .copied()
                .filter(|&i| normalized.get(i).and_then(|(prefix, _)| prefix.as_deref()).is_some_and(|p| p == symbol))
                .collect();
            if own.is_empty() { found } else { own }
        };
        let pick = |role: Role| -> Result<Option<usize>, LoadError> {
            match candidates(role).as_slice() {
                [] => Ok(None),
                [only] => Ok(Some(*only)),
                [first, second, ..] => Err(LoadError::AmbiguousColumn {
                    file: file.to_string(),
                    line,
                    role: role.name().to_string(),
                    first: name_of(*first),
                    second: name_of(*second),
                }),
            }
        };

        let time = match candidates(Role::Time).as_slice() {
            [] => None,
            [date, time] if base_of(*date) == "date" && base_of(*time) == "time" => {
                Some(TimeColumns::DateAndTime(*date, *time))
            }
            // Several time columns (`unix` and `date`) name the same instant; alias order
            // puts the most precise first.
            [first, ..] => Some(TimeColumns::Single(*first)),
        };
        let (open, high, low, close, volume) =
            (pick(Role::Open)?, pick(Role::High)?, pick(Role::Low)?, pick(Role::Close)?, pick(Role::Volume)?);
        let volume = volume.or_else(|| asset_volume(&normalized, &symbol));
        let (Some(time), Some(open), Some(high), Some(low), Some(close), Some(volume)) =
            (time, open, high, low, close, volume)
        else {
            let missing = [
                (Role::Time, time.is_some()),
                (Role::Open, open.is_some()),
                (Role::High, high.is_some()),
                (Role::Low, low.is_some()),
                (Role::Close, close.is_some()),
                (Role::Volume, volume.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| !present)
            .map(|(role, _)| role.name().to_string())
            .collect();
            return Err(LoadError::MissingColumns { file: file.to_string(), line, missing, header: names.to_vec() });
        };
        let trades = pick(Role::Trades)?;
        let taker_buy = pick(Role::TakerBuy)?;
        let time_fields = match time {
            TimeColumns::Single(t) => [t, t],
            TimeColumns::DateAndTime(d, t) => [d, t],
        };
        let needed = time_fields
            .into_iter()
            .chain([open, high, low, close, volume])
            .chain(trades)
            .chain(taker_buy)
            .max()
            .unwrap_or(0)
            + 1;
        Ok(Layout {
            labels: names.iter().enumerate().map(|(i, n)| column_label(i, n)).collect(),
            time,
            open,
            high,
            low,
            close,
            volume,
            trades,
            taker_buy,
            needed,
        })
    }

    /// The label of column `index` for messages (`column 4 `BTC.high``).
    fn label(&self, index: usize) -> String {
        self.labels.get(index).cloned().unwrap_or_else(|| format!("column {}", index + 1))
    }

    /// Parses and validates one data row.
    pub(super) fn parse_row(&self, fields: &[Cow<'_, str>], file: &str, line: usize) -> Result<Row, LoadError> {
        if fields.len() < self.needed {
            return Err(LoadError::TooFewFields {
                file: file.to_string(),
                line,
                found: fields.len(),
                needed: self.needed,
            });
        }
        let field = |i: usize| fields.get(i).map(|f| f.as_ref()).unwrap_or("");
        let (time_text, time_column) = match self.time {
            TimeColumns::Single(i) => (Cow::Borrowed(field(i)), self.label(i)),
            TimeColumns::DateAndTime(d, t) => {
                (Cow::Owned(format!("{} {}", field(d), field(t))), format!("{} and {}", self.label(d), self.label(t)))
            }
        };
        let ts_ms = parse_timestamp_ms(&time_text).ok_or_else(|| LoadError::BadTimestamp {
            file: file.to_string(),
            line,
            column: time_column,
            text: time_text.to_string(),
        })?;
        let number = |i: usize| -> Result<f64, LoadError> {
            let text = field(i);
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                Ok(_) => Err(LoadError::NonFinite {
                    file: file.to_string(),
                    line,
                    column: self.label(i),
                    text: text.to_string(),
                }),
                Err(_) => Err(LoadError::BadNumber {
                    file: file.to_string(),
                    line,
                    column: self.label(i),
                    text: text.to_string(),
                }),
            }
        };
        let row = Row {
            line,
            ts_ms,
            open: number(self.open)?,
            high: number(self.high)?,
            low: number(self.low)?,
            close: number(self.close)?,
            volume: number(self.volume)?,
            trades: self.trades.map(&number).transpose()?,
            taker_buy: self.taker_buy.map(&number).transpose()?,
        };
        validate(&row, file)?;
        Ok(row)
    }
}

/// A header name as (prefix, base), lower case with spaces and dashes as `_`:
/// `BTC.open` -> (`btc`, `open`), `Open Time` -> (none, `open_time`).
fn normalize_column(name: &str) -> (Option<String>, String) {
    let lower = name.trim().to_lowercase().replace([' ', '-'], "_");
    match lower.rsplit_once('.') {
        Some((prefix, base)) => (Some(prefix.to_string()), base.to_string()),
        None => (None, lower),
    }
}

/// The base asset's volume among columns named `Volume <asset>` (CryptoDataDownload's
/// `Volume BTC,Volume USDT`), when no column is plainly the volume: the asset the symbol's name
/// holds earliest (`BTCUSDT` → `BTC`), else the first such column (those files list the base
/// asset first).
fn asset_volume(normalized: &[(Option<String>, String)], symbol: &str) -> Option<usize> {
    let assets: Vec<(usize, &str)> = normalized
        .iter()
        .enumerate()
        .filter_map(|(i, (_, base))| base.strip_prefix("volume_").filter(|a| !a.is_empty()).map(|a| (i, a)))
        .collect();
    let named = assets.iter().filter_map(|&(i, a)| symbol.find(a).map(|at| (at, i))).min();
    named.map(|(_, i)| i).or_else(|| assets.first().map(|&(i, _)| i))
}

/// `column 4 `BTC.high``: a column as messages name it.
fn column_label(index: usize, name: &str) -> String {
    format!("column {} `{name}`", index + 1)
}

/// True when the fields look like a data row rather than a header: they start with a time.
pub(super) fn looks_like_data(fields: &[Cow<'_, str>]) -> bool {
    fields.first().is_some_and(|first| parse_timestamp_ms(first).is_some())
}

/// True when a field of a line that is not a valid header still names a column (`Date`,
/// `BTC.close`): such a line is a broken header to report, not a banner to skip.
pub(super) fn names_a_column(names: &[String]) -> bool {
    const ROLES: [Role; 8] =
        [Role::Time, Role::Open, Role::High, Role::Low, Role::Close, Role::Volume, Role::Trades, Role::TakerBuy];
    names
        .iter()
        .map(|name| normalize_column(name).1)
        .any(|base| ROLES.iter().any(|role| role.aliases().contains(&base.as_str())))
}
