//! Why bars could not be loaded: [`LoadError`], one variant per refusal, and the wording of
//! its messages (times as RFC 3339, intervals as traders write them, lists of lines).

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat};

/// A bar time that several rows of one file give different values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictingTime {
    /// The time (unix ms).
    pub ts_ms: i64,
    /// Every line holding that time, ascending.
    pub lines: Vec<usize>,
}

/// How a refusal of conflicting bars tells the user what to do instead.
const ACCEPT_DUPLICATES: &str = "pass --on-duplicate keep-first or keep-last (data.on_duplicate)";

/// Why bars could not be loaded. Messages name the file and, where one applies, the line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said (kept in the message, so it is not also a `source`).
        reason: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{file}:{line}: not UTF-8 text")]
    NotUtf8 {
        /// The file.
        file: String,
        /// The line holding the first invalid byte.
        line: usize,
    },
    /// The file holds no data rows.
    #[error("{file}: no data rows{}", describe_empty(*.header_line))]
    NoRows {
        /// The file.
        file: String,
        /// The line of the header, when there was one.
        header_line: Option<usize>,
    },
    /// The header lacks columns every bar needs.
    #[error(
        "{file}:{line}: missing required column(s) {}; header seen: {}",
        missing.join(", "),
        header.join(", ")
    )]
    MissingColumns {
        /// The file.
        file: String,
        /// The header line.
        line: usize,
        /// The roles no column matched (`open`, `volume`, ...).
        missing: Vec<String>,
        /// The header's column names as written.
        header: Vec<String>,
    },
    /// Two header columns claim the same role and nothing says which one to use.
    #[error("{file}:{line}: columns `{first}` and `{second}` both look like the {role} column")]
    AmbiguousColumn {
        /// The file.
        file: String,
        /// The header line.
        line: usize,
        /// The role (`close`, `volume`, ...).
        role: String,
        /// One column's name.
        first: String,
        /// The other column's name.
        second: String,
    },
    /// A row has fewer fields than the columns the loader reads.
    #[error("{file}:{line}: row has {found} field(s), needs at least {needed}")]
    TooFewFields {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// Fields in the row.
        found: usize,
        /// Fields needed to reach every column read.
        needed: usize,
    },
    /// A value that should be a number is not one.
    #[error("{file}:{line}: {column}: {text:?} is not a number")]
    BadNumber {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The column, as `column 3 `BTC.high``.
        column: String,
        /// The text found.
        text: String,
    },
    /// A number is NaN or infinite.
    #[error("{file}:{line}: {column}: {text:?} is not a finite number")]
    NonFinite {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The column, as `column 3 `BTC.high``.
        column: String,
        /// The text found.
        text: String,
    },
    /// A time value is neither ISO-8601 nor unix time.
    #[error(
        "{file}:{line}: {column}: {text:?} is not a timestamp (expected ISO-8601 such as \
         2017-10-01 00:00:00 or 2023-03-20T00:00:00+02:00, or unix seconds or milliseconds)"
    )]
    BadTimestamp {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The column, as `column 1 `Date``.
        column: String,
        /// The text found.
        text: String,
    },
    /// A price is zero or negative.
    #[error("{file}:{line}: {field} price {value} is not positive")]
    NonPositivePrice {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// `open`, `high`, `low` or `close`.
        field: &'static str,
        /// The price.
        value: f64,
    },
    /// High is below low.
    #[error("{file}:{line}: high {high} is below low {low}")]
    HighBelowLow {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The high.
        high: f64,
        /// The low.
        low: f64,
    },
    /// High is below the open or the close.
    #[error("{file}:{line}: high {high} is below {field} {value}")]
    HighBelowBody {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The high.
        high: f64,
        /// `open` or `close`.
        field: &'static str,
        /// The open or close.
        value: f64,
    },
    /// Low is above the open or the close.
    #[error("{file}:{line}: low {low} is above {field} {value}")]
    LowAboveBody {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The low.
        low: f64,
        /// `open` or `close`.
        field: &'static str,
        /// The open or close.
        value: f64,
    },
    /// A volume or trade count is negative.
    #[error("{file}:{line}: {field} {value} is negative")]
    NegativeValue {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// `volume`, `trades` or `taker buy volume`.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// Taker-buy volume exceeds the bar's total volume.
    #[error("{file}:{line}: taker buy volume {taker_buy} exceeds volume {volume}")]
    TakerBuyAboveVolume {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The taker-buy volume.
        taker_buy: f64,
        /// The total volume.
        volume: f64,
    },
    /// Rows with the same time but different values, under
    /// [`DuplicatePolicy::Refuse`](super::DuplicatePolicy::Refuse).
    #[error("{file}: {}; {ACCEPT_DUPLICATES} to accept them", describe_conflicts(conflicts))]
    ConflictingDuplicates {
        /// The file.
        file: String,
        /// Every such time, in the order of its first line.
        conflicts: Vec<ConflictingTime>,
    },
    /// A row breaks the file's time order (which is neither ascending nor descending).
    #[error(
        "{file}:{line}: bar at {} is out of order after line {previous_line} ({}); \
         the rows otherwise run {}",
        format_time(*.ts_ms),
        format_time(*.previous_ts_ms),
        if *.newest_first { "newest-first" } else { "oldest-first" }
    )]
    OutOfOrder {
        /// The file.
        file: String,
        /// The row's line.
        line: usize,
        /// The row's time (unix ms).
        ts_ms: i64,
        /// The line of the row before it (duplicates dropped).
        previous_line: usize,
        /// That row's time (unix ms).
        previous_ts_ms: i64,
        /// The order the rest of the file follows.
        newest_first: bool,
    },
    /// [`merge`](super::merge) was given nothing.
    #[error("no bar files to merge")]
    NothingToMerge,
    /// [`merge`](super::merge) was given bars of different symbols.
    #[error("cannot merge {first_symbol} bars ({first_file}) with {second_symbol} bars ({second_file})")]
    MixedSymbols {
        /// The first part's files.
        first_file: String,
        /// The first part's symbol.
        first_symbol: String,
        /// The offending part's files.
        second_file: String,
        /// The offending part's symbol.
        second_symbol: String,
    },
    /// [`merge`](super::merge) was given bars of different intervals.
    #[error(
        "cannot merge {first_file} ({} bars) with {second_file} ({} bars)",
        format_interval(*.first_interval_ms),
        format_interval(*.second_interval_ms)
    )]
    IntervalMismatch {
        /// The first part's files.
        first_file: String,
        /// Its bar interval.
        first_interval_ms: i64,
        /// The offending part's files.
        second_file: String,
        /// Its bar interval.
        second_interval_ms: i64,
    },
    /// Two files hold different bars for the same time, under
    /// [`DuplicatePolicy::Refuse`](super::DuplicatePolicy::Refuse).
    #[error(
        "{first_file} and {second_file} disagree about the bar at {}{}; {ACCEPT_DUPLICATES} \
         to keep the bar of the first or the last file in merge order",
        format_time(*.ts_ms),
        describe_more_bars(*.more)
    )]
    ConflictingOverlap {
        /// The file merged first.
        first_file: String,
        /// The file merged later.
        second_file: String,
        /// The time both have (unix ms).
        ts_ms: i64,
        /// Further times that files disagree about.
        more: usize,
    },
}

/// ` (header on line 3, nothing after it)`, or what an empty file holds.
fn describe_empty(header_line: Option<usize>) -> String {
    match header_line {
        Some(line) => format!(" (header on line {line}, nothing after it)"),
        None => " (the file is empty or holds only comments)".to_string(),
    }
}

/// Most conflicting times a message lists.
const CONFLICTS_SHOWN: usize = 5;

/// `2 timestamps appear twice with different values: 2019-01-01T00:00:00Z on lines 17 and 18,
/// …`, listing at most [`CONFLICTS_SHOWN`] times.
fn describe_conflicts(conflicts: &[ConflictingTime]) -> String {
    let n = conflicts.len();
    let repeats = match conflicts.first().map(|c| c.lines.len()) {
        Some(k) if conflicts.iter().all(|c| c.lines.len() == k) => {
            if k == 2 {
                "twice".to_string()
            } else {
                format!("{k} times")
            }
        }
        _ => "more than once".to_string(),
    };
    let (noun, verb) = if n == 1 { ("timestamp", "appears") } else { ("timestamps", "appear") };
    let mut text = format!("{n} {noun} {verb} {repeats} with different values: ");
    for (i, conflict) in conflicts.iter().take(CONFLICTS_SHOWN).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{} on lines {}", format_time(conflict.ts_ms), list_lines(&conflict.lines));
    }
    if n > CONFLICTS_SHOWN {
        let _ = write!(text, ", and {} more", n - CONFLICTS_SHOWN);
    }
    text
}

/// ` (and 3 more bars)`, or nothing for none.
fn describe_more_bars(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (and 1 more bar)".to_string(),
        n => format!(" (and {n} more bars)"),
    }
}

/// `17 and 18`, `3, 5 and 9`.
fn list_lines(lines: &[usize]) -> String {
    match lines {
        [] => String::new(),
        [only] => only.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(usize::to_string).collect();
            format!("{} and {last}", rest.join(", "))
        }
    }
}

/// A unix-ms time as RFC 3339 UTC (`2017-10-01T00:00:00Z`), or the raw number when out of range.
fn format_time(ts_ms: i64) -> String {
    match DateTime::from_timestamp_millis(ts_ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{ts_ms} ms"),
    }
}

/// An interval in the unit traders use: `30m`, `5m`, `1h`, `1d`, `90s`, `250ms`.
fn format_interval(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    for (size, unit) in UNITS {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_traders_write_them() {
        assert_eq!(format_interval(1_800_000), "30m");
        assert_eq!(format_interval(300_000), "5m");
        assert_eq!(format_interval(3_600_000), "1h");
        assert_eq!(format_interval(86_400_000), "1d");
        assert_eq!(format_interval(90_000), "90s");
        assert_eq!(format_interval(250), "250ms");
    }
}
