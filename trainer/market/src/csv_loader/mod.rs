//! Reads OHLCV bars from CSV files as people have them, and validates them.
//!
//! # What is accepted
//! - A header row naming the columns, in any order and any case, with or without a symbol
//!   prefix (`BTC.open`, `Open`, `OPEN`). Aliases: `date`/`time`/`timestamp`/`open_time`/
//!   `datetime` for the bar time, `vol`/`volume`, `number_of_trades`/`trades`/`count`,
//!   `taker_buy_base_asset_volume`/`taker_buy_volume`/`taker_buy_base_volume`. Separate
//!   `date` and `time` columns are joined. Unknown columns are ignored. When a wide file holds
//!   several symbols (`BTC.close`, `ETH.close`), the columns prefixed with the requested
//!   symbol are used.
//! - No header at all: exchange kline exports (Binance), whose columns are open time, open,
//!   high, low, close, volume, close time, quote volume, number of trades, taker buy base
//!   volume, taker buy quote volume, ignore. A file is header-less when its first row starts
//!   with a timestamp (unix time or ISO-8601). Rows of ten or more fields carry trade counts and
//!   taker-buy volume; shorter rows are read as time, open, high, low, close, volume.
//! - `#` comment lines and blank lines anywhere; a UTF-8 byte-order mark; CRLF line ends;
//!   `,`, `;` or tab as the separator (chosen from the first row); quoted fields.
//! - One banner line before the header, as sites such as CryptoDataDownload put one
//!   (`https://www.CryptoDataDownload.com`): a first line that is neither a header nor a data
//!   row, names no column, and has another number of fields than the line after it. It is
//!   skipped and reported in [`LoadReport::banner`]; line numbers stay those of the file.
//! - Rows oldest-first or newest-first (newest-first is reversed and reported).
//! - Timestamps as ISO-8601 with or without an offset (no offset means UTC), with fractional
//!   seconds, or as unix time whose unit is decided per value by magnitude: below 1e11
//!   seconds, below 1e14 milliseconds, below 1e17 microseconds, above that nanoseconds.
//!
//! # What is rejected
//! Every problem is an error naming the file and its 1-based line (comment lines count):
//! unparsable numbers and timestamps, non-finite values, non-positive prices, negative
//! volumes, OHLC bars that contradict themselves, rows out of order, missing columns, short
//! rows, a second line before the header that is not one, files with no data. Nothing is
//! half-loaded: any error means no series. Holes in the bar grid are reported in
//! [`LoadReport::gaps`], not treated as errors.
//!
//! # Rows that share a time
//! Exact duplicates (same time and same values; columns the loader does not read are not
//! compared) are dropped and counted in [`LoadReport::duplicates_dropped`]. Rows with the same
//! time and different values follow a [`DuplicatePolicy`]: by default the file is refused,
//! naming every such time and its lines; `keep-first` or `keep-last` keep the row on the
//! earlier or the later line of the file (in a newest-first file too: "first" is the line
//! nearer the top, not a time order, since both rows have the same time) and count the others
//! in [`LoadReport::duplicates_resolved`]. Every row is validated, kept or not. The kept bar
//! takes the place of its time's first row in the file's order. [`merge`] applies the same
//! policy to bars that several files of one symbol hold, "first" being the earlier file in
//! merge order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat};

use sha2::{Digest, Sha256};

use crate::{BarSeries, Gap, LoadReport};

pub use skippy_contract::data::{DuplicatePolicy, UnknownDuplicatePolicy};

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
    /// Rows with the same time but different values, under [`DuplicatePolicy::Refuse`].
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
    /// [`merge`] was given nothing.
    #[error("no bar files to merge")]
    NothingToMerge,
    /// [`merge`] was given bars of different symbols.
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
    /// [`merge`] was given bars of different intervals.
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
    /// Two files hold different bars for the same time, under [`DuplicatePolicy::Refuse`].
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

/// At most `max` characters of `text`, with `…` when some were cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
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

/// Reads a CSV file of bars for `symbol`, refusing conflicting duplicate rows. The path, as
/// given, names the file in messages.
pub fn load_csv(path: &Path, symbol: &str) -> Result<(BarSeries, LoadReport), LoadError> {
    load_csv_with(path, symbol, DuplicatePolicy::Refuse)
}

/// [`load_csv`] with rows that share a time and differ handled by `on_duplicate`.
pub fn load_csv_with(
    path: &Path,
    symbol: &str,
    on_duplicate: DuplicatePolicy,
) -> Result<(BarSeries, LoadReport), LoadError> {
    let bytes = std::fs::read(path).map_err(|reason| LoadError::Io { path: path.to_path_buf(), reason })?;
    let source = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes().iter().take(valid).filter(|&&b| b == b'\n').count();
        LoadError::NotUtf8 { file: source.clone(), line }
    })?;
    parse_csv_with(&text, &source, symbol, on_duplicate)
}

/// Parses CSV `text` into validated bars for `symbol`, refusing conflicting duplicate rows;
/// `source` names the file in messages.
pub fn parse_csv(text: &str, source: &str, symbol: &str) -> Result<(BarSeries, LoadReport), LoadError> {
    parse_csv_with(text, source, symbol, DuplicatePolicy::Refuse)
}

/// A first line that may be a site's banner rather than a broken header: skipped when the
/// next line shows it is not the file's first row.
struct BannerCandidate {
    /// The line's text.
    text: String,
    /// Its fields: a banner has another number than the header or row after it.
    fields: usize,
    /// What reading it as a header said, the error if it was one after all.
    error: LoadError,
}

/// [`parse_csv`] with rows that share a time and differ handled by `on_duplicate`.
pub fn parse_csv_with(
    text: &str,
    source: &str,
    symbol: &str,
    on_duplicate: DuplicatePolicy,
) -> Result<(BarSeries, LoadReport), LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut layout: Option<Layout> = None;
    let mut header: Option<(usize, Vec<String>)> = None;
    let mut delimiter = ',';
    let mut rows: Vec<Row> = Vec::new();
    let mut candidate: Option<BannerCandidate> = None;
    let mut banner: Option<String> = None;

    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if layout.is_none() {
            delimiter = detect_delimiter(trimmed);
        }
        let fields = split_fields(content, delimiter);
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        // A header or a first row as wide as the line before it: that line was a broken
        // header, not a banner.
        if let Some(previous) = candidate.take() {
            if previous.fields == fields.len() {
                return Err(previous.error);
            }
            banner = Some(cut(&previous.text, 200));
        }
        let current = match &layout {
            Some(current) => current,
            None => {
                let found = if looks_like_data(&fields) {
                    Layout::headerless(fields.len())
                } else {
                    let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
                    match Layout::from_header(&names, symbol, source, line) {
                        Ok(found) => {
                            header = Some((line, names));
                            found
                        }
                        // Decided on the next line; a line naming a column is a header.
                        Err(error) if banner.is_none() && !names_a_column(&names) => {
                            candidate =
                                Some(BannerCandidate { text: trimmed.to_string(), fields: fields.len(), error });
                            continue;
                        }
                        Err(error) => return Err(error),
                    }
                };
                layout.insert(found)
            }
        };
        if let Some((_, names)) = &header
            && fields.len() == names.len()
            && fields.iter().zip(names).all(|(f, n)| f.as_ref() == n.as_str())
        {
            continue; // the header repeated, as when files were concatenated
        }
        rows.push(current.parse_row(&fields, source, line)?);
    }

    // Nothing after the one line that was neither header nor data: it was the header.
    if let Some(only) = candidate {
        return Err(only.error);
    }
    if rows.is_empty() {
        return Err(LoadError::NoRows { file: source.to_string(), header_line: header.map(|(line, _)| line) });
    }
    let has_trades = layout.as_ref().is_some_and(|l| l.trades.is_some());
    let has_taker = layout.as_ref().is_some_and(|l| l.taker_buy.is_some());
    let rows_read = rows.len();

    let Resolved { mut unique, dropped: duplicates_dropped, resolved: duplicates_resolved } =
        resolve_duplicates(rows, on_duplicate)
            .map_err(|conflicts| LoadError::ConflictingDuplicates { file: source.to_string(), conflicts })?;

    // The file's order is whichever way most consecutive rows go; the first row against it
    // is the one named.
    let ascending = unique.windows(2).filter(|w| matches!(w, [a, b] if b.ts_ms > a.ts_ms)).count();
    let newest_first = ascending * 2 < unique.len().saturating_sub(1);
    for pair in unique.windows(2) {
        if let [previous, row] = pair
            && (row.ts_ms > previous.ts_ms) == newest_first
        {
            return Err(LoadError::OutOfOrder {
                file: source.to_string(),
                line: row.line,
                ts_ms: row.ts_ms,
                previous_line: previous.line,
                previous_ts_ms: previous.ts_ms,
                newest_first,
            });
        }
    }
    if newest_first {
        unique.reverse();
    }

    let series = BarSeries {
        symbol: symbol.to_string(),
        ts_ms: unique.iter().map(|r| r.ts_ms).collect(),
        open: unique.iter().map(|r| r.open).collect(),
        high: unique.iter().map(|r| r.high).collect(),
        low: unique.iter().map(|r| r.low).collect(),
        close: unique.iter().map(|r| r.close).collect(),
        volume: unique.iter().map(|r| r.volume).collect(),
        trades: has_trades.then(|| unique.iter().map(|r| r.trades.unwrap_or(0.0)).collect()),
        taker_buy_volume: has_taker.then(|| unique.iter().map(|r| r.taker_buy.unwrap_or(0.0)).collect()),
    };
    let report = LoadReport {
        files: vec![source.to_string()],
        rows_read,
        duplicates_dropped,
        duplicates_resolved,
        reversed: newest_first,
        gaps: find_gaps(&series),
        banner,
        fingerprint: fingerprint(&series),
    };
    Ok((series, report))
}

/// A file's rows with one per time.
struct Resolved {
    /// One row per time, in the order of each time's first line.
    unique: Vec<Row>,
    /// Rows dropped as exact copies of the row kept.
    dropped: usize,
    /// Rows dropped for differing from the row kept.
    resolved: usize,
}

/// Reduces rows that share a time to one, as the module docs say: the kept row takes the
/// place (and the line, for messages about order) of its time's first row. Under
/// [`DuplicatePolicy::Refuse`], the times whose rows differ are the error.
fn resolve_duplicates(rows: Vec<Row>, policy: DuplicatePolicy) -> Result<Resolved, Vec<ConflictingTime>> {
    let mut slot_of: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
    let mut unique: Vec<Row> = Vec::with_capacity(rows.len());
    // Later rows of a time already seen, with the slot of its first row, in line order.
    let mut repeats: Vec<(usize, Row)> = Vec::new();
    for row in rows {
        match slot_of.get(&row.ts_ms) {
            Some(&slot) => repeats.push((slot, row)),
            None => {
                slot_of.insert(row.ts_ms, unique.len());
                unique.push(row);
            }
        }
    }
    // Stable: each slot's repeats stay in line order.
    repeats.sort_by_key(|&(slot, _)| slot);
    let (mut dropped, mut resolved) = (0, 0);
    let mut conflicts = Vec::new();
    for group in repeats.chunk_by(|a, b| a.0 == b.0) {
        let Some(&(slot, _)) = group.first() else { continue };
        let Some(&first) = unique.get(slot) else { continue };
        let kept = match (policy, group.last()) {
            (DuplicatePolicy::KeepLast, Some((_, last))) => Row { line: first.line, ..*last },
            _ => first,
        };
        let rows = std::iter::once(&first).chain(group.iter().map(|(_, row)| row));
        let differing = rows.filter(|row| !row.same_bar(&kept)).count();
        if policy == DuplicatePolicy::Refuse && differing > 0 {
            let lines = std::iter::once(first.line).chain(group.iter().map(|(_, row)| row.line)).collect();
            conflicts.push(ConflictingTime { ts_ms: first.ts_ms, lines });
            continue;
        }
        dropped += group.len() - differing;
        resolved += differing;
        if let Some(place) = unique.get_mut(slot) {
            *place = kept;
        }
    }
    if conflicts.is_empty() { Ok(Resolved { unique, dropped, resolved }) } else { Err(conflicts) }
}

/// Joins several loads of one symbol (files covering different, possibly overlapping, time
/// ranges) into one series ordered by time. Bars present in several parts that agree exactly
/// are kept once (counted in `duplicates_dropped`); disagreeing bars are an error. Trade
/// counts and taker-buy volume are kept only when every part has them.
pub fn merge(parts: Vec<(BarSeries, LoadReport)>) -> Result<(BarSeries, LoadReport), LoadError> {
    merge_with(parts, DuplicatePolicy::Refuse)
}

/// [`merge`] with bars that parts disagree about handled by `on_duplicate`: refused, or the
/// bar of the first or the last part that has the time kept (the others counted in
/// `duplicates_resolved`). The parts' order is the merge order.
pub fn merge_with(
    parts: Vec<(BarSeries, LoadReport)>,
    on_duplicate: DuplicatePolicy,
) -> Result<(BarSeries, LoadReport), LoadError> {
    let Some((first, first_report)) = parts.first() else {
        return Err(LoadError::NothingToMerge);
    };
    let first_interval = parts.iter().find_map(|(s, r)| s.interval_ms().map(|i| (i, r)));
    for (series, report) in &parts {
        if series.symbol != first.symbol {
            return Err(LoadError::MixedSymbols {
                first_file: first_report.files.join(", "),
                first_symbol: first.symbol.clone(),
                second_file: report.files.join(", "),
                second_symbol: series.symbol.clone(),
            });
        }
        if let (Some((want, want_report)), Some(interval)) = (first_interval, series.interval_ms())
            && interval != want
        {
            return Err(LoadError::IntervalMismatch {
                first_file: want_report.files.join(", "),
                first_interval_ms: want,
                second_file: report.files.join(", "),
                second_interval_ms: interval,
            });
        }
    }
    let has_trades = parts.iter().all(|(s, _)| s.trades.is_some());
    let has_taker = parts.iter().all(|(s, _)| s.taker_buy_volume.is_some());

    // Every bar as (time, part, index), ordered by time then by part.
    let mut order: Vec<(i64, usize, usize)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, (s, _))| s.ts_ms.iter().enumerate().map(move |(i, &t)| (t, p, i)))
        .collect();
    order.sort_unstable();

    let bar = |p: usize, i: usize| -> Option<Row> {
        let (s, _) = parts.get(p)?;
        Some(Row {
            line: 0,
            ts_ms: *s.ts_ms.get(i)?,
            open: *s.open.get(i)?,
            high: *s.high.get(i)?,
            low: *s.low.get(i)?,
            close: *s.close.get(i)?,
            volume: *s.volume.get(i)?,
            trades: if has_trades { s.trades.as_ref().and_then(|v| v.get(i).copied()) } else { None },
            taker_buy: if has_taker { s.taker_buy_volume.as_ref().and_then(|v| v.get(i).copied()) } else { None },
        })
    };
    let files_of = |p: usize| parts.get(p).map(|(_, r)| r.files.join(", ")).unwrap_or_default();

    let mut kept: Vec<Row> = Vec::with_capacity(order.len());
    let (mut overlap_dropped, mut overlap_resolved) = (0, 0);
    // Under `Refuse`: the first disagreement (its parts and time), and how many more.
    let mut disagreement: Option<(usize, usize, i64)> = None;
    let mut more_disagreements = 0;
    // Each time's bars, from every part that has it, in part order.
    for same_time in order.chunk_by(|a, b| a.0 == b.0) {
        if let &[(_, p, i)] = same_time {
            kept.extend(bar(p, i));
            continue;
        }
        let rows: Vec<(usize, Row)> = same_time.iter().filter_map(|&(_, p, i)| Some((p, bar(p, i)?))).collect();
        let (Some(&(first_part, first_row)), Some(&(_, last_row))) = (rows.first(), rows.last()) else {
            continue;
        };
        let chosen = if on_duplicate == DuplicatePolicy::KeepLast { last_row } else { first_row };
        let differing = rows.iter().filter(|(_, row)| !row.same_bar(&chosen)).count();
        if on_duplicate == DuplicatePolicy::Refuse && differing > 0 {
            match disagreement {
                None => {
                    let other = rows.iter().find(|(_, row)| !row.same_bar(&first_row)).map_or(first_part, |&(p, _)| p);
                    disagreement = Some((first_part, other, first_row.ts_ms));
                }
                Some(_) => more_disagreements += 1,
            }
            continue;
        }
        overlap_dropped += rows.len() - 1 - differing;
        overlap_resolved += differing;
        kept.push(chosen);
    }
    if let Some((first_part, second_part, ts_ms)) = disagreement {
        return Err(LoadError::ConflictingOverlap {
            first_file: files_of(first_part),
            second_file: files_of(second_part),
            ts_ms,
            more: more_disagreements,
        });
    }

    let series = BarSeries {
        symbol: first.symbol.clone(),
        ts_ms: kept.iter().map(|r| r.ts_ms).collect(),
        open: kept.iter().map(|r| r.open).collect(),
        high: kept.iter().map(|r| r.high).collect(),
        low: kept.iter().map(|r| r.low).collect(),
        close: kept.iter().map(|r| r.close).collect(),
        volume: kept.iter().map(|r| r.volume).collect(),
        trades: has_trades.then(|| kept.iter().map(|r| r.trades.unwrap_or(0.0)).collect()),
        taker_buy_volume: has_taker.then(|| kept.iter().map(|r| r.taker_buy.unwrap_or(0.0)).collect()),
    };
    let report = LoadReport {
        files: parts.iter().flat_map(|(_, r)| r.files.clone()).collect(),
        rows_read: parts.iter().map(|(_, r)| r.rows_read).sum(),
        duplicates_dropped: parts.iter().map(|(_, r)| r.duplicates_dropped).sum::<usize>() + overlap_dropped,
        duplicates_resolved: parts.iter().map(|(_, r)| r.duplicates_resolved).sum::<usize>() + overlap_resolved,
        reversed: parts.iter().any(|(_, r)| r.reversed),
        gaps: find_gaps(&series),
        banner: parts.iter().find_map(|(_, r)| r.banner.clone()),
        fingerprint: fingerprint(&series),
    };
    Ok((series, report))
}

/// Holes in the bar grid: consecutive bars further apart than [`BarSeries::interval_ms`].
pub fn find_gaps(series: &BarSeries) -> Vec<Gap> {
    let Some(interval) = series.interval_ms().filter(|&i| i > 0) else {
        return Vec::new();
    };
    series
        .ts_ms
        .windows(2)
        .filter_map(|w| match w {
            [after, before] if before.saturating_sub(*after) > interval => Some(Gap {
                after_ms: *after,
                before_ms: *before,
                missing_bars: (before.saturating_sub(*after) - 1) / interval,
            }),
            _ => None,
        })
        .collect()
}

/// The data fingerprint: lowercase hex SHA-256 over the bars.
///
/// Hashed, all little-endian: the tag `skippy-bars-v1`, the bar count (u64), one byte each
/// saying whether trade counts and taker-buy volume are present, then per bar the time (i64)
/// and open, high, low, close, volume (and trades, taker-buy volume when present) as f64 bits
/// (with -0 as +0). The symbol name is not hashed: the same bars give the same fingerprint.
pub fn fingerprint(series: &BarSeries) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"skippy-bars-v1");
    hasher.update((series.ts_ms.len() as u64).to_le_bytes());
    hasher.update([u8::from(series.trades.is_some()), u8::from(series.taker_buy_volume.is_some())]);
    let value = |column: &[f64], i: usize| {
        let v = column.get(i).copied().unwrap_or(0.0) + 0.0;
        v.to_bits().to_le_bytes()
    };
    for (i, ts) in series.ts_ms.iter().enumerate() {
        hasher.update(ts.to_le_bytes());
        for column in [&series.open, &series.high, &series.low, &series.close, &series.volume] {
            hasher.update(value(column, i));
        }
        for column in [&series.trades, &series.taker_buy_volume].into_iter().flatten() {
            hasher.update(value(column, i));
        }
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Parses one time value as the loader does, to unix milliseconds UTC.
///
/// ISO-8601 with `T` or a space, optional fractional seconds, optional offset (`Z`, `+02:00`,
/// `+0200`, `+02`; none means UTC), or a date alone (midnight UTC). Plain numbers are unix time
/// in seconds (below 1e11), milliseconds (below 1e14), microseconds (below 1e17) or
/// nanoseconds, decided per value. `None` when the text is none of these or out of range.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || first == '-' || first == '+' || first == '.') {
        return None;
    }
    let ms = parse_unix(text).or_else(|| parse_iso(text))?;
    DateTime::from_timestamp_millis(ms).map(|_| ms)
}

fn parse_unix(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        let magnitude = v.unsigned_abs();
        return if magnitude >= 100_000_000_000_000_000 {
            Some(v.div_euclid(1_000_000))
        } else if magnitude >= 100_000_000_000_000 {
            Some(v.div_euclid(1000))
        } else if magnitude >= 100_000_000_000 {
            Some(v)
        } else {
            v.checked_mul(1000)
        };
    }
    let v = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
    let magnitude = v.abs();
    let ms = if magnitude >= 1e17 {
        v / 1e6
    } else if magnitude >= 1e14 {
        v / 1e3
    } else if magnitude >= 1e11 {
        v
    } else {
        v * 1e3
    };
    // Beyond ±1e16 ms (year 318,857) nothing is a real bar time; the bound keeps `as` exact.
    (ms.abs() < 1e16).then(|| ms.round() as i64)
}

fn parse_iso(text: &str) -> Option<i64> {
    const NAIVE: [&str; 8] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%Y.%m.%d %H:%M:%S%.f",
        "%Y.%m.%d %H:%M",
    ];
    const OFFSET: [&str; 4] =
        ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z"];
    const DATE: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];

    // A trailing ` UTC` means what no offset means.
    let text = text.strip_suffix(" UTC").or_else(|| text.strip_suffix("UTC")).unwrap_or(text).trim_end();
    for format in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in OFFSET {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    // An offset of hours alone (`+02`), as databases write it.
    if let Some(sign_at) = text.len().checked_sub(3)
        && sign_at > 10
        && let Some(tail) = text.get(sign_at..)
        && (tail.starts_with('+') || tail.starts_with('-'))
        && tail.get(1..).is_some_and(|h| h.bytes().all(|b| b.is_ascii_digit()))
        && let Some(ms) = parse_iso(&format!("{text}:00"))
    {
        return Some(ms);
    }
    for format in DATE {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return Some(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis());
        }
    }
    None
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Time,
    Open,
    High,
    Low,
    Close,
    Volume,
    Trades,
    TakerBuy,
}

impl Role {
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
struct Layout {
    /// Column labels for messages, as `column 4 `BTC.high``.
    labels: Vec<String>,
    /// The bar time.
    time: TimeColumns,
    /// Index of each price and volume column.
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    /// Index of the trade count column, when present.
    trades: Option<usize>,
    /// Index of the taker-buy volume column, when present.
    taker_buy: Option<usize>,
    /// Fields a row needs: one past the last column read.
    needed: usize,
}

/// One parsed, validated data row.
#[derive(Debug, Clone, Copy)]
struct Row {
    line: usize,
    ts_ms: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    trades: Option<f64>,
    taker_buy: Option<f64>,
}

impl Row {
    /// Same time and the same values (the line may differ).
    fn same_bar(&self, other: &Row) -> bool {
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

impl Layout {
    /// The exchange kline layout for a file without a header whose first row has `fields` fields.
    fn headerless(fields: usize) -> Layout {
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
    fn from_header(names: &[String], symbol: &str, file: &str, line: usize) -> Result<Layout, LoadError> {
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

    fn label(&self, index: usize) -> String {
        self.labels.get(index).cloned().unwrap_or_else(|| format!("column {}", index + 1))
    }

    /// Parses and validates one data row.
    fn parse_row(&self, fields: &[Cow<'_, str>], file: &str, line: usize) -> Result<Row, LoadError> {
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

/// Checks one bar's values against each other.
fn validate(row: &Row, file: &str) -> Result<(), LoadError> {
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

fn column_label(index: usize, name: &str) -> String {
    format!("column {} `{name}`", index + 1)
}

/// True when the fields look like a data row rather than a header: they start with a time.
fn looks_like_data(fields: &[Cow<'_, str>]) -> bool {
    fields.first().is_some_and(|first| parse_timestamp_ms(first).is_some())
}

/// True when a field of a line that is not a valid header still names a column (`Date`,
/// `BTC.close`): such a line is a broken header to report, not a banner to skip.
fn names_a_column(names: &[String]) -> bool {
    const ROLES: [Role; 8] =
        [Role::Time, Role::Open, Role::High, Role::Low, Role::Close, Role::Volume, Role::Trades, Role::TakerBuy];
    names
        .iter()
        .map(|name| normalize_column(name).1)
        .any(|base| ROLES.iter().any(|role| role.aliases().contains(&base.as_str())))
}

/// The separator of a file, judged from its first row: `,` when it has one, else `;`, else tab.
fn detect_delimiter(line: &str) -> char {
    [',', ';', '\t'].into_iter().find(|&d| line.contains(d)).unwrap_or(',')
}

/// Splits one line into trimmed fields; a field may be double-quoted (`""` is a quote).
fn split_fields(line: &str, delimiter: char) -> Vec<Cow<'_, str>> {
    if !line.contains('"') {
        return line.split(delimiter).map(|f| Cow::Borrowed(f.trim())).collect();
    }
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c != '"' {
                    field.push(c);
                } else if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    break;
                }
            }
        }
        let mut ended = true;
        for c in chars.by_ref() {
            if c == delimiter {
                ended = false;
                break;
            }
            field.push(c);
        }
        fields.push(Cow::Owned(field.trim().to_string()));
        if ended {
            return fields;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_accepted_form() {
        let midnight = 1_506_816_000_000; // 2017-10-01T00:00:00Z
        for text in [
            "2017-10-01 00:00:00",
            "2017-10-01T00:00:00",
            "2017-10-01T00:00:00Z",
            "2017-10-01 00:00:00Z",
            "2017-10-01T02:00:00+02:00",
            "2017-10-01T02:00:00+0200",
            "2017-10-01 02:00:00+02",
            "2017-09-30T22:00:00-02:00",
            "2017-10-01 00:00",
            "2017-10-01",
            "2017/10/01 00:00:00",
            "2017-10-01 00:00:00 UTC",
            "1506816000",
            "1506816000000",
            "1506816000000000",
            "1506816000000000000",
            "1506816000.0",
        ] {
            assert_eq!(parse_timestamp_ms(text), Some(midnight), "{text}");
        }
        assert_eq!(parse_timestamp_ms("2017-10-01T00:00:00.250Z"), Some(midnight + 250));
        assert_eq!(parse_timestamp_ms("2017-10-01 00:00:00.5"), Some(midnight + 500));
        assert_eq!(parse_timestamp_ms("1506816000.5"), Some(midnight + 500));
        for bad in ["", "abc", "2017-13-01", "nan", "inf", "1e300", "2017-10-01T25:00", "-", "+"] {
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn quoted_fields_are_unquoted() {
        let fields = split_fields(r#""a", "b,c" ,"d""e",f,"#, ',');
        let fields: Vec<&str> = fields.iter().map(|f| f.as_ref()).collect();
        assert_eq!(fields, ["a", "b,c", "d\"e", "f", ""]);
        let unterminated = split_fields("\"abc", ',');
        assert_eq!(unterminated.len(), 1);
        assert_eq!(unterminated.first().map(|f| f.as_ref()), Some("abc"));
    }

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
