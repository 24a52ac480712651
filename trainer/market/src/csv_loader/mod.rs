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
//!
//! # Modules
//! - `fields`: the separator and the splitting of a line into fields.
//! - `layout`: which column holds what, from the header or the kline layout; a row read by it.
//! - `timestamps`: a time value to unix ms ([`parse_timestamp_ms`]).
//! - `row`: one bar between reading and the series, and the checks of its values.
//! - `duplicates`: rows of one file that share a time.
//! - `merge`: several loads of one symbol joined ([`merge`], [`merge_with`]).
//! - `gaps` and `fingerprint`: what a report says of a series ([`find_gaps`], [`fingerprint`]).
//! - `error`: [`LoadError`] and the wording of its messages.
//!
//! This file holds the entry points that read a file ([`load_csv`], [`parse_csv`] and their
//! `_with` forms): lines, the header (or a banner before it), rows, order and the report.

mod duplicates;
mod error;
mod fields;
mod fingerprint;
mod gaps;
mod layout;
mod merge;
mod row;
mod timestamps;

use std::path::Path;

use crate::{BarSeries, LoadReport};
use duplicates::{Resolved, resolve_duplicates};
use fields::{detect_delimiter, split_fields};
use layout::{Layout, looks_like_data, names_a_column};
use row::{Row, series_of};

pub use error::{ConflictingTime, LoadError};
pub use fingerprint::fingerprint;
pub use gaps::find_gaps;
pub use merge::{merge, merge_with};
pub use timestamps::parse_timestamp_ms;

pub use skippy_contract::data::{DuplicatePolicy, UnknownDuplicatePolicy};

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

    let series = series_of(symbol.to_string(), &unique, has_trades, has_taker);
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

/// At most `max` characters of `text`, with `…` when some were cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
