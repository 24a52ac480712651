//! Invariants of the CSV bar loader (`skippy_market::csv_loader::parse_csv`), checked on any
//! input: shared by the `csv_bars` fuzz target and `trainer/market/tests/it/fuzz_seeds.rs`, which
//! replays the committed seed corpus under `cargo test`. A violation panics.
//!
//! - Loaded bars keep every promise of `BarSeries`: at least one bar, columns of one length,
//!   strictly increasing times that chrono can represent, finite positive prices with
//!   `low <= open, close <= high`, finite non-negative volumes, taker-buy volume within volume.
//! - The report adds up (rows read = bars + duplicates dropped + duplicates resolved, the last
//!   0 under the default policy), and its fingerprint and gaps are those of the bars; a skipped
//!   banner is one line of at most 200 characters (and `…` when cut).
//! - Parsing is deterministic, and bars written back as plain CSV (oldest first, or newest first
//!   with CRLF line ends) load to the same bars.
//! - Merging a load with itself gives the same bars, every one counted as a duplicate.
//! - A refusal is a message that starts with the source name, and the lines it names exist.

use skippy_market::BarSeries;
use skippy_market::csv_loader::{LoadError, find_gaps, fingerprint, merge, parse_csv};

/// The name the input is loaded under; every message must start with it.
pub const SOURCE: &str = "fuzz.csv";
/// The symbol asked for (the seeds use `BTC.open`-style wide headers too).
pub const SYMBOL: &str = "BTC";

/// Loads `data` (not UTF-8: lossily converted, as a UTF-8 file could hold the same text) and
/// checks every invariant; panics on a violation.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    match parse_csv(&text, SOURCE, SYMBOL) {
        Ok((series, report)) => {
            check_series(&series);
            assert_eq!(series.symbol, SYMBOL);
            assert_eq!(report.files, [SOURCE]);
            assert_eq!(report.duplicates_resolved, 0, "the default policy resolves no conflicting duplicate");
            assert_eq!(report.rows_read, series.len() + report.duplicates_dropped, "rows read vs kept + dropped");
            if let Some(banner) = &report.banner {
                assert!(banner.chars().count() <= 201 && !banner.contains('\n'), "banner {banner:?}");
            }
            assert!(report.rows_read <= lines, "more rows than lines");
            assert_eq!(report.fingerprint, fingerprint(&series));
            assert!(report.fingerprint.len() == 64 && report.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(report.gaps, find_gaps(&series));
            for gap in &report.gaps {
                assert!(gap.after_ms < gap.before_ms && gap.missing_bars >= 1, "{gap:?}");
                assert!(series.ts_ms.binary_search(&gap.after_ms).is_ok(), "{gap:?}");
                assert!(series.ts_ms.binary_search(&gap.before_ms).is_ok(), "{gap:?}");
            }

            let again = parse_csv(&text, SOURCE, SYMBOL).expect("a second parse of the same text fails");
            assert_eq!((&series, &report), (&again.0, &again.1), "parsing is not deterministic");

            if let Some(csv) = write_back(&series) {
                let (reloaded, rereport) = parse_csv(&csv, "written-back.csv", SYMBOL)
                    .unwrap_or_else(|e| panic!("bars written back do not load: {e}\n{csv}"));
                assert_eq!(reloaded, series, "bars written back load differently:\n{csv}");
                assert_eq!((rereport.duplicates_dropped, rereport.reversed), (0, false));
                assert_eq!(rereport.fingerprint, report.fingerprint);
                // The same file newest first, with CRLF line ends: the same bars, reported reversed.
                if series.len() >= 2 {
                    let mut lines: Vec<&str> = csv.lines().collect();
                    lines[1..].reverse();
                    let flipped = lines.join("\r\n");
                    let (again, flipped_report) = parse_csv(&flipped, "flipped.csv", SYMBOL)
                        .unwrap_or_else(|e| panic!("bars written back newest first do not load: {e}\n{flipped}"));
                    assert_eq!(again, series, "bars written back newest first load differently:\n{flipped}");
                    assert!(flipped_report.reversed, "a newest-first file is not reported reversed");
                }
            }

            let (merged, merged_report) =
                merge(vec![(series.clone(), report.clone()), (series.clone(), report.clone())])
                    .unwrap_or_else(|e| panic!("a load merged with itself fails: {e}"));
            assert_eq!(merged, series, "a load merged with itself changed");
            assert_eq!(merged_report.duplicates_dropped, 2 * report.duplicates_dropped + series.len());
            assert_eq!(merged_report.fingerprint, report.fingerprint);
        }
        Err(error) => check_error(&error, lines),
    }
}

/// Every promise `BarSeries` documents.
pub fn check_series(s: &BarSeries) {
    let n = s.len();
    assert!(n >= 1, "a loaded series has no bars");
    for (name, len) in [("ts_ms", s.ts_ms.len()), ("open", s.open.len()), ("high", s.high.len())]
        .into_iter()
        .chain([("low", s.low.len()), ("volume", s.volume.len())])
        .chain(s.trades.as_ref().map(|v| ("trades", v.len())))
        .chain(s.taker_buy_volume.as_ref().map(|v| ("taker_buy_volume", v.len())))
    {
        assert_eq!(len, n, "column {name} has {len} values for {n} bars");
    }
    assert!(s.ts_ms.windows(2).all(|w| w[0] < w[1]), "times not strictly increasing: {:?}", s.ts_ms);
    for i in 0..n {
        let (o, h, l, c, v) = (s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]);
        assert!(chrono::DateTime::from_timestamp_millis(s.ts_ms[i]).is_some(), "time {} out of range", s.ts_ms[i]);
        for p in [o, h, l, c] {
            assert!(p.is_finite() && p > 0.0, "bar {i}: price {p}");
        }
        assert!(l <= o && l <= c && o <= h && c <= h, "bar {i}: o {o} h {h} l {l} c {c}");
        assert!(v.is_finite() && v >= 0.0, "bar {i}: volume {v}");
        if let Some(t) = &s.trades {
            assert!(t[i].is_finite() && t[i] >= 0.0, "bar {i}: trades {}", t[i]);
        }
        if let Some(t) = &s.taker_buy_volume {
            assert!(t[i].is_finite() && t[i] >= 0.0, "bar {i}: taker buy {}", t[i]);
            assert!(t[i] <= v * (1.0 + 1e-9), "bar {i}: taker buy {} over volume {v}", t[i]);
        }
    }
}

/// The bars as a plain CSV the loader documents (`timestamp,open,...` header, unix
/// milliseconds, shortest round-trip floats), or `None` when a time cannot be written so that
/// it reads back exactly (unix time below 1e11 is read as seconds, and only millisecond
/// integers are exact).
fn write_back(s: &BarSeries) -> Option<String> {
    if !s.ts_ms.iter().all(|t| (100_000_000_000..100_000_000_000_000).contains(t)) {
        return None;
    }
    let mut out = String::from("timestamp,open,high,low,close,volume");
    if s.trades.is_some() {
        out.push_str(",trades");
    }
    if s.taker_buy_volume.is_some() {
        out.push_str(",taker_buy_volume");
    }
    out.push('\n');
    for i in 0..s.len() {
        out.push_str(&format!(
            "{},{},{},{},{},{}",
            s.ts_ms[i], s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]
        ));
        for column in [&s.trades, &s.taker_buy_volume].into_iter().flatten() {
            out.push_str(&format!(",{}", column[i]));
        }
        out.push('\n');
    }
    Some(out)
}

/// A refusal names the source and only lines that exist (earlier lines before later ones).
fn check_error(error: &LoadError, lines: usize) {
    let message = error.to_string();
    assert!(message.starts_with(SOURCE), "a refusal does not name the file: {message}");
    let named = match error {
        LoadError::NotUtf8 { line, .. }
        | LoadError::MissingColumns { line, .. }
        | LoadError::AmbiguousColumn { line, .. }
        | LoadError::TooFewFields { line, .. }
        | LoadError::BadNumber { line, .. }
        | LoadError::NonFinite { line, .. }
        | LoadError::BadTimestamp { line, .. }
        | LoadError::NonPositivePrice { line, .. }
        | LoadError::HighBelowLow { line, .. }
        | LoadError::HighBelowBody { line, .. }
        | LoadError::LowAboveBody { line, .. }
        | LoadError::NegativeValue { line, .. }
        | LoadError::TakerBuyAboveVolume { line, .. } => vec![*line],
        LoadError::ConflictingDuplicates { conflicts, .. } => {
            assert!(!conflicts.is_empty(), "{message}");
            let mut named = Vec::new();
            for conflict in conflicts {
                assert!(conflict.lines.len() >= 2, "{message}");
                assert!(conflict.lines.windows(2).all(|w| w[0] < w[1]), "{message}");
                named.extend_from_slice(&conflict.lines);
            }
            named
        }
        LoadError::OutOfOrder { line, previous_line, .. } => {
            assert!(previous_line < line, "{message}");
            vec![*line, *previous_line]
        }
        LoadError::NoRows { header_line, .. } => header_line.iter().copied().collect(),
        _ => Vec::new(),
    };
    for line in named {
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {message}");
    }
}
