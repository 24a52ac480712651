//! The CSV bar loader: every accepted format, every rejected input, merging, and the real data.

use std::path::{Path, PathBuf};

use skippy_market::csv_loader::{
    ConflictingTime, DuplicatePolicy, LoadError, fingerprint, load_csv, merge, merge_with, parse_csv, parse_csv_with,
    parse_timestamp_ms,
};
use skippy_market::{BarSeries, Gap, LoadReport};

/// 2017-10-01T00:00:00Z in unix ms.
const OCT_1_2017: i64 = 1_506_816_000_000;
/// 2023-03-20T00:00:00Z in unix ms.
const MAR_20_2023: i64 = 1_679_270_400_000;
const HALF_HOUR: i64 = 1_800_000;
const FIVE_MIN: i64 = 300_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn real_data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(path)
}

fn parse(text: &str) -> (BarSeries, LoadReport) {
    match parse_csv(text, "BTC.csv", "BTC") {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected the text to load, got: {e}"),
    }
}

fn parse_err(text: &str) -> LoadError {
    match parse_csv(text, "BTC.csv", "BTC") {
        Ok((series, _)) => panic!("expected an error, loaded {} bars", series.len()),
        Err(e) => e,
    }
}

const HEADER: &str = "Date,Open,High,Low,Close,Volume";

/// A valid file of `HEADER` plus `rows` (lines 2, 3, ...).
fn with_header(rows: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const GOOD_1: &str = "2017-10-01 00:00:00,4367.1,4387.5,4365.0,4386.3,755.5";
const GOOD_2: &str = "2017-10-01 00:30:00,4386.6,4394.0,4367.0,4380.0,705.6";
const GOOD_3: &str = "2017-10-01 01:00:00,4380.0,4392.0,4375.0,4390.0,10.0";
/// `GOOD_2`'s time with another close (4381 instead of 4380).
const GOOD_2_AGAIN: &str = "2017-10-01 00:30:00,4386.6,4394.0,4367.0,4381.0,705.6";

/// Parses `text` under `policy`, insisting that it loads.
fn parse_with(text: &str, policy: DuplicatePolicy) -> (BarSeries, LoadReport) {
    match parse_csv_with(text, "BTC.csv", "BTC", policy) {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected the text to load under {policy}, got: {e}"),
    }
}

// ---- formats ----

#[test]
fn bitfinex_header_with_symbol_prefix_and_close_before_high() {
    let (s, report) = parse(
        "Date,BTC.open,BTC.close,BTC.high,BTC.low,BTC.volume\n\
         2017-10-01 00:00:00,4367.1,4386.3,4387.5,4365.0,755.5217587\n\
         2017-10-01 00:30:00,4386.6,4367.4,4394.0,4367.0,705.60946785\n",
    );
    assert_eq!(s.symbol, "BTC");
    assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR]);
    assert_eq!(s.open, [4367.1, 4386.6]);
    assert_eq!(s.close, [4386.3, 4367.4]);
    assert_eq!(s.high, [4387.5, 4394.0]);
    assert_eq!(s.low, [4365.0, 4367.0]);
    assert_eq!(s.volume, [755.5217587, 705.60946785]);
    assert_eq!(s.trades, None);
    assert_eq!(s.taker_buy_volume, None);
    assert_eq!(report.files, ["BTC.csv"]);
    assert_eq!(report.rows_read, 2);
    assert!(!report.reversed);
    assert!(report.gaps.is_empty());
}

#[test]
fn header_in_any_order_and_case_with_unknown_columns_ignored() {
    let (s, _) = parse(
        "VOLUME,Close,notes,LOW,High,OPEN,TIME\n\
         755.5,4386.3,first bar,4365.0,4387.5,4367.1,2017-10-01 00:00:00\n",
    );
    assert_eq!(s.ts_ms, [OCT_1_2017]);
    assert_eq!((s.open[0], s.high[0], s.low[0], s.close[0], s.volume[0]), (4367.1, 4387.5, 4365.0, 4386.3, 755.5));
}

#[test]
fn aliases_for_time_volume_trades_and_taker_volume() {
    for (time, vol, trades, taker) in [
        ("timestamp", "vol", "trades", "taker_buy_volume"),
        ("open_time", "volume", "count", "taker_buy_base_volume"),
        ("datetime", "Vol", "number_of_trades", "taker_buy_base_asset_volume"),
        ("Open Time", "Volume", "Number of trades", "Taker buy base asset volume"),
    ] {
        let text = format!(
            "{time},open,high,low,close,{vol},{trades},{taker}\n\
             2017-10-01T00:00:00Z,10,12,9,11,100,42,60\n"
        );
        let (s, _) = parse(&text);
        assert_eq!(s.ts_ms, [OCT_1_2017], "{text}");
        assert_eq!(s.volume, [100.0], "{text}");
        assert_eq!(s.trades, Some(vec![42.0]), "{text}");
        assert_eq!(s.taker_buy_volume, Some(vec![60.0]), "{text}");
    }
}

#[test]
fn wide_file_of_several_symbols_uses_the_requested_symbols_columns() {
    let text = "Date,BTC.open,BTC.high,BTC.low,BTC.close,BTC.volume,ETH.open,ETH.high,ETH.low,ETH.close,ETH.volume\n\
                2017-10-01 00:00:00,4367,4387,4365,4386,755,301,303,300,302,90\n";
    let (btc, _) = parse_csv(text, "wide.csv", "btc").expect("BTC columns");
    assert_eq!((btc.open[0], btc.close[0], btc.volume[0]), (4367.0, 4386.0, 755.0));
    let (eth, _) = parse_csv(text, "wide.csv", "ETH").expect("ETH columns");
    assert_eq!((eth.open[0], eth.close[0], eth.volume[0]), (301.0, 302.0, 90.0));
    let err = parse_csv(text, "wide.csv", "LTC").expect_err("no LTC columns");
    assert_eq!(err.to_string(), "wide.csv:1: columns `BTC.open` and `ETH.open` both look like the open column");
}

#[test]
fn separate_date_and_time_columns_are_joined() {
    let (s, _) = parse(
        "Date,Time,Open,High,Low,Close,Volume\n\
         2017-10-01,00:30:00,10,12,9,11,100\n",
    );
    assert_eq!(s.ts_ms, [OCT_1_2017 + HALF_HOUR]);
}

#[test]
fn headerless_kline_export_with_millisecond_times() {
    let (s, report) = load_csv(&fixture("kline_no_header.csv"), "BTCUSDT").expect("loads");
    assert_eq!(s.symbol, "BTCUSDT");
    assert_eq!(s.ts_ms, [MAR_20_2023, MAR_20_2023 + FIVE_MIN, MAR_20_2023 + 2 * FIVE_MIN, MAR_20_2023 + 3 * FIVE_MIN]);
    assert_eq!(s.open[0], 27972.87);
    assert_eq!(s.high[0], 28038.28);
    assert_eq!(s.low[0], 27941.97);
    assert_eq!(s.close[0], 27953.83);
    assert_eq!(s.volume, [1975.47751, 2818.82598, 1290.23401, 0.0]);
    assert_eq!(s.trades, Some(vec![43351.0, 62806.0, 31112.0, 0.0]));
    assert_eq!(s.taker_buy_volume, Some(vec![1073.70455, 1347.67972, 701.1124, 0.0]));
    assert_eq!(s.interval_ms(), Some(FIVE_MIN));
    assert_eq!(report.rows_read, 4);
    assert!(report.files[0].ends_with("kline_no_header.csv"));
}

#[test]
fn headerless_six_columns_with_unix_seconds() {
    let (s, _) = parse(
        "1506816000,10,12,9,11,100\n\
         1506817800,11,13,10,12,50\n",
    );
    assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR]);
    assert_eq!(s.close, [11.0, 12.0]);
    assert_eq!(s.trades, None);
}

#[test]
fn iso_timestamps_with_offsets_and_fractions_become_utc_ms() {
    let (s, _) = parse(&with_header(&[
        "2023-03-20T00:00:00+02:00,10,12,9,11,1",
        "2023-03-19T22:30:00Z,10,12,9,11,1",
        "2023-03-19T23:00:00.000Z,10,12,9,11,1",
        "2023-03-19 23:30:00.500,10,12,9,11,1",
        "2023-03-20T01:00:00-00:30,10,12,9,11,1",
    ]));
    let base = MAR_20_2023 - 2 * 3_600_000;
    assert_eq!(
        s.ts_ms,
        [base, base + HALF_HOUR, base + 2 * HALF_HOUR, base + 3 * HALF_HOUR + 500, base + 7 * HALF_HOUR]
    );
}

#[test]
fn unix_seconds_and_milliseconds_mixed_in_one_file() {
    let (s, _) =
        parse(&with_header(&["1506816000,10,12,9,11,1", "1506817800000,10,12,9,11,1", "1506819600,10,12,9,11,1"]));
    assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR, OCT_1_2017 + 2 * HALF_HOUR]);
    assert_eq!(parse_timestamp_ms("1506816000"), Some(OCT_1_2017));
    assert_eq!(parse_timestamp_ms("1506816000000"), Some(OCT_1_2017));
}

#[test]
fn newest_first_rows_are_reversed_and_reported() {
    let (s, report) = load_csv(&fixture("newest_first.csv"), "BTC").expect("loads");
    assert!(report.reversed);
    assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR, OCT_1_2017 + 2 * HALF_HOUR, OCT_1_2017 + 3 * HALF_HOUR]);
    assert_eq!(s.open, [4367.1, 4386.6, 4380.0, 4390.0]);
    assert_eq!(s.close, [4386.3, 4380.0, 4390.0, 4385.0]);
}

#[test]
fn comment_banner_and_blank_lines_before_the_header() {
    let (s, report) = load_csv(&fixture("banner.csv"), "BTCUSDT").expect("loads");
    assert_eq!(report.rows_read, 3);
    assert_eq!(s.ts_ms, [MAR_20_2023, MAR_20_2023 + FIVE_MIN, MAR_20_2023 + 2 * FIVE_MIN]);
    assert_eq!(s.trades, Some(vec![43351.0, 62806.0, 31112.0]));
    assert_eq!(s.taker_buy_volume, Some(vec![1073.70455, 1347.67972, 701.1124]));
}

#[test]
fn a_sites_banner_line_before_the_header_is_skipped_and_reported() {
    // As CryptoDataDownload writes its files, newest first.
    let text = format!(
        "https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume,tradecount\n{}",
        [(GOOD_3, 3), (GOOD_2, 2), (GOOD_1, 1)]
            .map(|(row, i)| {
                let (time, prices) = row.split_once(',').expect("a row");
                let unix = (OCT_1_2017 + (i - 1) * HALF_HOUR) / 1000;
                format!("{unix},{time},BTC/USD,{prices},{i}\n")
            })
            .concat()
    );
    let (s, report) = parse(&text);
    assert_eq!(report.banner.as_deref(), Some("https://www.CryptoDataDownload.com"));
    assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR, OCT_1_2017 + 2 * HALF_HOUR]);
    assert_eq!(s.close, [4386.3, 4380.0, 4390.0]);
    assert_eq!(s.trades, Some(vec![1.0, 2.0, 3.0]));
    assert_eq!(report.rows_read, 3);
    assert!(report.reversed);

    // Before a header-less export, with comments and blank lines around it; commas in it.
    let (s, report) =
        parse("# export\n\nData from Binance, 30m klines\n\n1506816000,10,12,9,11,100\n1506817800,11,13,10,12,50\n");
    assert_eq!(report.banner.as_deref(), Some("Data from Binance, 30m klines"));
    assert_eq!(s.close, [11.0, 12.0]);

    // A long one is cut to 200 characters; a file without one reports none.
    let long = "x".repeat(300);
    let (_, report) = parse(&format!("{long}\n{}", with_header(&[GOOD_1])));
    assert_eq!(report.banner, Some(format!("{}…", "x".repeat(200))));
    assert_eq!(parse(&with_header(&[GOOD_1])).1.banner, None);
}

#[test]
fn cryptodatadownloads_per_asset_volume_columns_read_as_the_base_volume() {
    // Their real header names a volume per asset: the base asset's is the bar's volume.
    let rows = "1506816000000,2017-10-01 00:00:00,BTC/USD,10,12,9,11,3,33000,7\n\
                1506817800000,2017-10-01 00:30:00,BTC/USD,11,13,10,12,5,60000,9\n";
    let text = format!(
        "https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume BTC,Volume USD,tradecount\n{rows}"
    );
    for symbol in ["BTC", "BTCUSD", "XBT"] {
        let (s, _) = parse_csv(&text, "f.csv", symbol).unwrap_or_else(|e| panic!("{symbol}: {e}"));
        assert_eq!(s.volume, [3.0, 5.0], "{symbol}");
        assert_eq!(s.trades, Some(vec![7.0, 9.0]));
    }
    // The quote asset first in the file: the one the symbol names still wins.
    let swapped = text.replace("Volume BTC,Volume USD", "Volume USD,Volume BTC");
    assert_eq!(parse_csv(&swapped, "f.csv", "BTCUSD").unwrap().0.volume, [33000.0, 60000.0]);
}

#[test]
fn errors_after_a_banner_line_name_the_files_own_lines() {
    let text =
        format!("https://www.CryptoDataDownload.com\n{}", with_header(&[GOOD_1, "2017-10-01 00:30:00,10,8,9,11,1"]));
    assert_eq!(parse_err(&text).to_string(), "BTC.csv:4: high 8 is below low 9");
    let text = format!("Data from somewhere\n{}", with_header(&[GOOD_1, GOOD_2, GOOD_2_AGAIN]));
    assert!(parse_err(&text).to_string().contains("2017-10-01T00:30:00Z on lines 4 and 5"), "{text}");
}

#[test]
fn only_one_leading_line_is_taken_for_a_banner() {
    // In the data, a stray line is an error on its own line.
    let err = parse_err(&with_header(&[GOOD_1, "https://www.CryptoDataDownload.com", GOOD_2]));
    assert_eq!(err.to_string(), "BTC.csv:3: row has 1 field(s), needs at least 6");
    // Two lines before the header: the first is refused as the header it would have to be.
    let err = parse_err(&format!("https://one.example\nhttps://two.example\n{}", with_header(&[GOOD_1])));
    assert!(matches!(err, LoadError::MissingColumns { line: 1, .. }), "{err:?}");
    // A banner, then a broken header: the header is what is wrong.
    let err = parse_err("https://www.CryptoDataDownload.com\nDate,Open,Close,Volume\n2017-10-01,1,2,3\n");
    assert_eq!(
        err.to_string(),
        "BTC.csv:2: missing required column(s) high, low; header seen: Date, Open, Close, Volume"
    );
    // A line as wide as the rows after it is a first row that does not parse, not a banner:
    // its bar is not dropped in silence.
    let err = parse_err("2017-13-01 00:00:00,10,12,9,11,1\n2017-10-01 00:30:00,10,12,9,11,1\n");
    assert!(matches!(err, LoadError::MissingColumns { line: 1, .. }), "{err:?}");
    // Nothing after it: the line was the header.
    let err = parse_err("https://www.CryptoDataDownload.com\n");
    assert!(matches!(err, LoadError::MissingColumns { line: 1, .. }), "{err:?}");
}

#[test]
fn semicolons_quotes_crlf_and_byte_order_mark() {
    let (s, _) = parse(
        "\u{feff}\"Date\";\"Open\";\"High\";\"Low\";\"Close\";\"Volume\"\r\n\
         \"2017-10-01 00:00:00\";\"10\";12;9;11;100\r\n",
    );
    assert_eq!(s.ts_ms, [OCT_1_2017]);
    assert_eq!((s.open[0], s.volume[0]), (10.0, 100.0));
}

#[test]
fn same_bars_in_different_formats_have_the_same_fingerprint() {
    let (iso, iso_report) = parse(&with_header(&[GOOD_1, GOOD_2]));
    let (unix, unix_report) = parse(
        "1506816000000,4367.1,4387.5,4365.0,4386.3,755.5\n\
         1506817800,4386.6,4394.0,4367.0,4380.0,705.60\n",
    );
    assert_eq!(iso, unix);
    assert_eq!(iso_report.fingerprint, unix_report.fingerprint);
    assert_eq!(iso_report.fingerprint, fingerprint(&iso));
    assert_eq!(iso_report.fingerprint.len(), 64);
    assert!(iso_report.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    let (other, other_report) = parse(&with_header(&[GOOD_1, GOOD_3]));
    assert_ne!(other, iso);
    assert_ne!(other_report.fingerprint, iso_report.fingerprint);
}

// ---- duplicates and gaps ----

#[test]
fn exact_duplicate_rows_are_dropped_and_counted() {
    for policy in [DuplicatePolicy::Refuse, DuplicatePolicy::KeepFirst, DuplicatePolicy::KeepLast] {
        let (s, report) = parse_with(&with_header(&[GOOD_1, GOOD_2, GOOD_2, GOOD_3, GOOD_1]), policy);
        assert_eq!(s.len(), 3);
        assert_eq!(report.rows_read, 5);
        assert_eq!(report.duplicates_dropped, 2);
        assert_eq!(report.duplicates_resolved, 0, "{policy}");
        assert_eq!(s.ts_ms, [OCT_1_2017, OCT_1_2017 + HALF_HOUR, OCT_1_2017 + 2 * HALF_HOUR]);
    }
}

#[test]
fn conflicting_duplicates_kept_first_or_last_by_line_and_counted() {
    let text = with_header(&[GOOD_1, GOOD_2, GOOD_3, GOOD_2_AGAIN]);
    let (first, report) = parse_with(&text, DuplicatePolicy::KeepFirst);
    assert_eq!(first.close, [4386.3, 4380.0, 4390.0]);
    assert_eq!((report.rows_read, report.duplicates_dropped, report.duplicates_resolved), (4, 0, 1));
    let (last, report) = parse_with(&text, DuplicatePolicy::KeepLast);
    assert_eq!(last.close, [4386.3, 4381.0, 4390.0]);
    assert_eq!(last.ts_ms, first.ts_ms);
    assert_eq!((report.rows_read, report.duplicates_dropped, report.duplicates_resolved), (4, 0, 1));
    assert_ne!(report.fingerprint, parse_with(&text, DuplicatePolicy::KeepFirst).1.fingerprint);

    // Newest first: "first" is still the line nearer the top (here the row closing at 4381).
    let newest_first = with_header(&[GOOD_3, GOOD_2_AGAIN, GOOD_2, GOOD_1]);
    let (s, report) = parse_with(&newest_first, DuplicatePolicy::KeepFirst);
    assert!(report.reversed);
    assert_eq!(s.close, [4386.3, 4381.0, 4390.0]);
    assert_eq!(parse_with(&newest_first, DuplicatePolicy::KeepLast).0.close, [4386.3, 4380.0, 4390.0]);

    // A copy of the kept row is a duplicate dropped; a row that differs from it is resolved.
    let (s, report) = parse_with(&with_header(&[GOOD_1, GOOD_2, GOOD_2_AGAIN, GOOD_2]), DuplicatePolicy::KeepLast);
    assert_eq!(s.close, [4386.3, 4380.0]);
    assert_eq!((report.duplicates_dropped, report.duplicates_resolved), (1, 1));
    assert_eq!(report.rows_read, s.len() + report.duplicates_dropped + report.duplicates_resolved);
}

#[test]
fn every_row_is_validated_even_one_a_policy_would_drop() {
    let err = parse_csv_with(
        &with_header(&[GOOD_1, GOOD_2, "2017-10-01 00:30:00,10,8,9,11,1"]),
        "BTC.csv",
        "BTC",
        DuplicatePolicy::KeepFirst,
    )
    .expect_err("an invalid bar");
    assert_eq!(err.to_string(), "BTC.csv:4: high 8 is below low 9");
}

#[test]
fn conflicting_duplicates_list_at_most_five_times_and_count_the_rest() {
    let rows: Vec<String> = (0..7)
        .flat_map(|i| {
            let unix = (OCT_1_2017 + i * HALF_HOUR) / 1000;
            [format!("{unix},10,12,9,11,1"), format!("{unix},10,12,9,11,2")]
        })
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let err = parse_err(&with_header(&rows));
    let LoadError::ConflictingDuplicates { conflicts, .. } = &err else { panic!("{err:?}") };
    assert_eq!(conflicts.len(), 7);
    assert_eq!(conflicts[6], ConflictingTime { ts_ms: OCT_1_2017 + 6 * HALF_HOUR, lines: vec![14, 15] });
    assert_eq!(
        err.to_string(),
        "BTC.csv: 7 timestamps appear twice with different values: 2017-10-01T00:00:00Z on lines 2 and 3, \
         2017-10-01T00:30:00Z on lines 4 and 5, 2017-10-01T01:00:00Z on lines 6 and 7, \
         2017-10-01T01:30:00Z on lines 8 and 9, 2017-10-01T02:00:00Z on lines 10 and 11, and 2 more; \
         pass --on-duplicate keep-first or keep-last (data.on_duplicate) to accept them"
    );
    let err = parse_err(&with_header(&[GOOD_1, GOOD_2, GOOD_2_AGAIN, GOOD_2]));
    assert!(
        err.to_string().starts_with(
            "BTC.csv: 1 timestamp appears 3 times with different values: 2017-10-01T00:30:00Z on lines 3, 4 and 5;"
        ),
        "{err}"
    );
}

#[test]
fn duplicate_policies_by_name() {
    for (name, policy) in [
        ("refuse", DuplicatePolicy::Refuse),
        ("keep-first", DuplicatePolicy::KeepFirst),
        ("keep-last", DuplicatePolicy::KeepLast),
    ] {
        assert_eq!(name.parse::<DuplicatePolicy>(), Ok(policy));
        assert_eq!(policy.to_string(), name);
        assert_eq!(serde_json::to_value(policy).expect("serialises"), name);
    }
    assert_eq!(DuplicatePolicy::default(), DuplicatePolicy::Refuse);
    let err = "keep_last".parse::<DuplicatePolicy>().expect_err("not a policy");
    assert_eq!(err.to_string(), "unknown duplicate policy \"keep_last\"; use refuse, keep-first or keep-last");
}

#[test]
fn concatenated_overlapping_exports_with_repeated_header_load() {
    let text = format!("{}{}", with_header(&[GOOD_1, GOOD_2]), with_header(&[GOOD_2, GOOD_3]));
    let (s, report) = parse(&text);
    assert_eq!(s.len(), 3);
    assert_eq!(report.rows_read, 4);
    assert_eq!(report.duplicates_dropped, 1);
}

#[test]
fn gaps_are_reported_with_the_number_of_missing_bars() {
    let (s, report) = parse(&with_header(&[
        "2017-10-01 00:00:00,10,12,9,11,1",
        "2017-10-01 00:30:00,10,12,9,11,1",
        "2017-10-01 01:00:00,10,12,9,11,1",
        "2017-10-01 02:30:00,10,12,9,11,1",
        "2017-10-01 03:00:00,10,12,9,11,1",
        "2017-10-01 04:00:00,10,12,9,11,1",
    ]));
    assert_eq!(s.interval_ms(), Some(HALF_HOUR));
    assert_eq!(
        report.gaps,
        [
            Gap { after_ms: OCT_1_2017 + 2 * HALF_HOUR, before_ms: OCT_1_2017 + 5 * HALF_HOUR, missing_bars: 2 },
            Gap { after_ms: OCT_1_2017 + 6 * HALF_HOUR, before_ms: OCT_1_2017 + 8 * HALF_HOUR, missing_bars: 1 },
        ]
    );
}

// ---- errors: each names the file and the line ----

#[test]
fn unparsable_number_names_column_and_text() {
    let err = parse_err(&with_header(&[GOOD_1, "2017-10-01 00:30:00,4386.6,abc,4367.0,4380.0,705.6"]));
    assert!(matches!(err, LoadError::BadNumber { line: 3, .. }), "{err:?}");
    assert_eq!(err.to_string(), "BTC.csv:3: column 3 `High`: \"abc\" is not a number");
    let empty = parse_err(&with_header(&["2017-10-01 00:00:00,4367.1,4387.5,4365.0,4386.3,"]));
    assert_eq!(empty.to_string(), "BTC.csv:2: column 6 `Volume`: \"\" is not a number");
}

#[test]
fn nan_and_infinity_are_rejected() {
    let err = parse_err(&with_header(&[GOOD_1, "2017-10-01 00:30:00,NaN,4394.0,4367.0,4380.0,705.6"]));
    assert_eq!(err.to_string(), "BTC.csv:3: column 2 `Open`: \"NaN\" is not a finite number");
    let err = parse_err(&with_header(&["2017-10-01 00:30:00,4386.6,4394.0,4367.0,4380.0,inf"]));
    assert_eq!(err.to_string(), "BTC.csv:2: column 6 `Volume`: \"inf\" is not a finite number");
}

#[test]
fn unparsable_timestamp_names_column_and_text() {
    let err = parse_err(&with_header(&[GOOD_1, "2017-13-01 00:30:00,4386.6,4394.0,4367.0,4380.0,705.6"]));
    assert!(matches!(err, LoadError::BadTimestamp { line: 3, .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("BTC.csv:3: column 1 `Date`: \"2017-13-01 00:30:00\" is not a timestamp"),
        "{err}"
    );
}

#[test]
fn conflicting_duplicate_names_both_lines() {
    let err = parse_err(&with_header(&[GOOD_1, GOOD_2, GOOD_3, GOOD_2_AGAIN]));
    assert_eq!(
        err.to_string(),
        "BTC.csv: 1 timestamp appears twice with different values: 2017-10-01T00:30:00Z on lines 3 and 5; \
         pass --on-duplicate keep-first or keep-last (data.on_duplicate) to accept them"
    );
}

#[test]
fn high_below_low() {
    let err = parse_err(&with_header(&[GOOD_1, "2017-10-01 00:30:00,4305,4300,4310,4305,1"]));
    assert_eq!(err.to_string(), "BTC.csv:3: high 4300 is below low 4310");
}

#[test]
fn high_below_open_or_close_and_low_above_open_or_close() {
    let cases = [
        ("2017-10-01 00:00:00,4400,4390,4300,4350,1", "BTC.csv:2: high 4390 is below open 4400"),
        ("2017-10-01 00:00:00,4350,4390,4300,4395.5,1", "BTC.csv:2: high 4390 is below close 4395.5"),
        ("2017-10-01 00:00:00,4290,4390,4300,4350,1", "BTC.csv:2: low 4300 is above open 4290"),
        ("2017-10-01 00:00:00,4350,4390,4300,4299,1", "BTC.csv:2: low 4300 is above close 4299"),
    ];
    for (row, message) in cases {
        assert_eq!(parse_err(&with_header(&[row])).to_string(), message);
    }
}

#[test]
fn non_positive_prices_and_negative_volumes() {
    let cases = [
        ("2017-10-01 00:00:00,0,12,9,11,1", "BTC.csv:2: open price 0 is not positive"),
        ("2017-10-01 00:00:00,10,12,-9,11,1", "BTC.csv:2: low price -9 is not positive"),
        ("2017-10-01 00:00:00,10,12,9,11,-3", "BTC.csv:2: volume -3 is negative"),
    ];
    for (row, message) in cases {
        assert_eq!(parse_err(&with_header(&[row])).to_string(), message);
    }
    let err = parse_err(
        "time,open,high,low,close,volume,trades,taker_buy_volume\n\
         1506816000,10,12,9,11,5,-1,2\n",
    );
    assert_eq!(err.to_string(), "BTC.csv:2: trades -1 is negative");
    let err = parse_err(
        "time,open,high,low,close,volume,trades,taker_buy_volume\n\
         1506816000,10,12,9,11,5,7,6\n",
    );
    assert_eq!(err.to_string(), "BTC.csv:2: taker buy volume 6 exceeds volume 5");
}

#[test]
fn missing_required_columns_lists_them_and_the_header_seen() {
    let err = parse_err("Date,Open,Close,Volume\n2017-10-01 00:00:00,1,2,3\n");
    assert!(matches!(&err, LoadError::MissingColumns { line: 1, missing, .. } if missing == &["high", "low"]));
    assert_eq!(
        err.to_string(),
        "BTC.csv:1: missing required column(s) high, low; header seen: Date, Open, Close, Volume"
    );
}

#[test]
fn missing_column_after_a_banner_names_the_header_line() {
    let err = parse_err("# banner\n\n# more\nopen,high,low,close,volume\n10,12,9,11,1\n");
    assert_eq!(
        err.to_string(),
        "BTC.csv:4: missing required column(s) time; header seen: open, high, low, close, volume"
    );
}

#[test]
fn errors_count_comment_lines() {
    let text = "# one\n# two\n\nDate,Open,High,Low,Close,Volume\n# inline note\n\
                2017-10-01 00:00:00,10,12,9,11,1\n2017-10-01 00:30:00,10,8,9,11,1\n";
    assert_eq!(parse_err(text).to_string(), "BTC.csv:7: high 8 is below low 9");
}

#[test]
fn rows_with_too_few_fields() {
    let err = parse_err(&with_header(&[GOOD_1, "2017-10-01 00:30:00,4386.6,4394.0"]));
    assert_eq!(err.to_string(), "BTC.csv:3: row has 3 field(s), needs at least 6");
    let kline =
        "1679270400000,1,2,0.5,1.5,10,1679270699999,15,3,4,6,0\n1679270700000,1,2,0.5,1.5,10,1679270699999,15\n";
    assert_eq!(parse_err(kline).to_string(), "BTC.csv:2: row has 8 field(s), needs at least 10");
}

#[test]
fn empty_files_are_errors() {
    assert_eq!(parse_err("").to_string(), "BTC.csv: no data rows (the file is empty or holds only comments)");
    assert_eq!(
        parse_err("# nothing here\n\n").to_string(),
        "BTC.csv: no data rows (the file is empty or holds only comments)"
    );
    assert_eq!(
        parse_err("# banner\nDate,Open,High,Low,Close,Volume\n\n").to_string(),
        "BTC.csv: no data rows (header on line 2, nothing after it)"
    );
}

#[test]
fn rows_neither_ascending_nor_descending_name_the_line() {
    let err = parse_err(&with_header(&[
        GOOD_1,
        GOOD_2,
        GOOD_3,
        "2017-10-01 02:00:00,10,12,9,11,1",
        "2017-10-01 01:30:00,10,12,9,11,1",
        "2017-10-01 02:30:00,10,12,9,11,1",
    ]));
    assert!(matches!(err, LoadError::OutOfOrder { line: 6, previous_line: 5, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "BTC.csv:6: bar at 2017-10-01T01:30:00Z is out of order after line 5 \
         (2017-10-01T02:00:00Z); the rows otherwise run oldest-first"
    );
    let newest_first = parse_err(&with_header(&[
        "2017-10-01 02:00:00,10,12,9,11,1",
        "2017-10-01 01:30:00,10,12,9,11,1",
        GOOD_3,
        GOOD_1,
        GOOD_2,
    ]));
    assert_eq!(
        newest_first.to_string(),
        "BTC.csv:6: bar at 2017-10-01T00:30:00Z is out of order after line 5 \
         (2017-10-01T00:00:00Z); the rows otherwise run newest-first"
    );
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let path = fixture("no_such_file.csv");
    let err = load_csv(&path, "BTC").expect_err("missing");
    assert!(matches!(&err, LoadError::Io { path: p, .. } if p == &path));
    assert!(err.to_string().starts_with(&format!("cannot read {}: ", path.display())), "{err}");
}

#[test]
fn non_utf8_file_names_the_line() {
    let err = load_csv(&fixture("not_utf8.csv"), "BTC").expect_err("not UTF-8");
    assert!(matches!(err, LoadError::NotUtf8 { line: 3, .. }), "{err:?}");
    assert!(err.to_string().ends_with("not_utf8.csv:3: not UTF-8 text"), "{err}");
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let rejected = [
        "\"",
        ",,,,,\n,,,,,",
        "\"\"\"\n1,2",
        "date,open,high,low,close,volume\n\"2017-10-01,1,2,3",
        "1e308,1,1,1,1,1",
        "date,open,high,low,close,volume\n2017-10-01,1e400,1,1,1,1",
        "\u{e9},\u{fc}\n1,2",
        "date;open\n1;2",
        "\u{feff}",
        "\r\n\r\n",
        "1,1",
        "date,open,high,low,close,volume\n2017-10-01,1,1,1,1,1\n2017-10-01,1,1,1,1,2",
    ];
    for text in rejected {
        assert!(parse_csv(text, "fuzz.csv", "X").is_err(), "{text:?}");
    }
    // Extreme but valid: nanosecond times at the edges of i64.
    let (s, _) = parse_csv("9223372036854775807,1,1,1,1,1", "edge.csv", "X").expect("loads");
    assert_eq!(s.ts_ms, [i64::MAX.div_euclid(1_000_000)]);
    let (s, _) = parse_csv("-9223372036854775808,1,1,1,1,1", "edge.csv", "X").expect("loads");
    assert_eq!(s.ts_ms, [i64::MIN.div_euclid(1_000_000)]);
}

#[test]
fn headerless_file_with_a_bad_first_row_names_the_field() {
    let err = parse_err("1506816000,abc,12,9,11,100\n");
    assert_eq!(err.to_string(), "BTC.csv:1: column 2 `open`: \"abc\" is not a number");
}

/// A small deterministic generator (xorshift64*), so the mutation test needs no seed file.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % below.max(1)
    }
}

#[test]
fn mutated_files_never_panic_and_whatever_loads_is_valid() {
    const BITS: &[&str] = &[
        ",", "\n", "\"", "#", "-", ".", "e", "0", "9", " ", "T", "Z", "+02:00", ":", "\r", "NaN", ";", "1e400",
        "\u{e9}", "",
    ];
    let sources = [
        std::fs::read_to_string(fixture("banner.csv")).expect("fixture"),
        std::fs::read_to_string(fixture("kline_no_header.csv")).expect("fixture"),
        std::fs::read_to_string(fixture("newest_first.csv")).expect("fixture"),
    ];
    let mut rng = Mutator(0x9e37_79b9_7f4a_7c15);
    let mut loaded = 0;
    for round in 0..3000 {
        let mut text: Vec<char> = sources[round % sources.len()].chars().collect();
        for _ in 0..1 + rng.next(4) {
            let at = rng.next(text.len() + 1);
            match rng.next(3) {
                0 => {
                    let end = (at + rng.next(12)).min(text.len());
                    text.drain(at..end);
                }
                1 => {
                    let bit = BITS[rng.next(BITS.len())];
                    text.splice(at..at, bit.chars());
                }
                _ => {
                    if at < text.len() {
                        let bit: Vec<char> = BITS[rng.next(BITS.len())].chars().collect();
                        text.splice(at..at + 1, bit);
                    }
                }
            }
        }
        let text: String = text.into_iter().collect();
        let Ok((s, report)) = parse_csv(&text, "fuzz.csv", "X") else {
            continue;
        };
        loaded += 1;
        let n = s.len();
        assert!(n > 0, "{text:?}");
        for column in [&s.open, &s.high, &s.low, &s.close, &s.volume] {
            assert_eq!(column.len(), n, "{text:?}");
        }
        assert_eq!(s.ts_ms.len(), n);
        assert!(s.ts_ms.windows(2).all(|w| w[1] > w[0]), "{text:?}");
        for i in 0..n {
            assert!(s.low[i] > 0.0 && s.low[i] <= s.open[i].min(s.close[i]), "{text:?}");
            assert!(s.high[i] >= s.open[i].max(s.close[i]), "{text:?}");
            assert!(s.volume[i] >= 0.0 && s.volume[i].is_finite(), "{text:?}");
        }
        assert_eq!(report.rows_read, n + report.duplicates_dropped);
        assert_eq!(report.fingerprint, fingerprint(&s));
    }
    assert!(loaded > 100, "only {loaded} mutations loaded: the test explores too little");
}

// ---- merge ----

fn three_bars() -> String {
    with_header(&[GOOD_1, GOOD_2, GOOD_3])
}

#[test]
fn merge_overlapping_files_drops_the_overlap() {
    let whole = parse_csv(&three_bars(), "all.csv", "BTC").expect("whole");
    let late = parse_csv(&with_header(&[GOOD_3, GOOD_2]), "late.csv", "BTC").expect("late");
    let early = parse_csv(&with_header(&[GOOD_1, GOOD_2]), "early.csv", "BTC").expect("early");
    let (series, report) = merge(vec![late, early]).expect("merges");
    assert_eq!(series, whole.0);
    assert_eq!(report.fingerprint, whole.1.fingerprint);
    assert_eq!(report.files, ["late.csv", "early.csv"]);
    assert_eq!(report.rows_read, 4);
    assert_eq!(report.duplicates_dropped, 1);
    assert!(report.reversed, "late.csv was newest-first");
}

#[test]
fn merge_conflicting_overlap_names_both_files() {
    let a = parse_csv(&with_header(&[GOOD_1, GOOD_2]), "a.csv", "BTC").expect("a");
    let b = parse_csv(&with_header(&[GOOD_2_AGAIN, GOOD_3]), "b.csv", "BTC").expect("b");
    let err = merge(vec![a, b]).expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "a.csv and b.csv disagree about the bar at 2017-10-01T00:30:00Z; pass --on-duplicate keep-first or \
         keep-last (data.on_duplicate) to keep the bar of the first or the last file in merge order"
    );
}

#[test]
fn merge_keeps_the_first_or_last_files_bar_under_a_policy() {
    let parts = || {
        let a = parse_csv(&with_header(&[GOOD_1, GOOD_2]), "a.csv", "BTC").expect("a");
        let b = parse_csv(&with_header(&[GOOD_2_AGAIN, GOOD_3]), "b.csv", "BTC").expect("b");
        let c = parse_csv(&with_header(&[GOOD_2, GOOD_3]), "c.csv", "BTC").expect("c");
        vec![a, b, c]
    };
    let (first, report) = merge_with(parts(), DuplicatePolicy::KeepFirst).expect("merges");
    assert_eq!(first.close, [4386.3, 4380.0, 4390.0]);
    // At 00:30 c.csv agrees with the bar kept (a.csv's) and b.csv does not; at 01:00 they agree.
    assert_eq!((report.duplicates_dropped, report.duplicates_resolved), (2, 1));
    let (last, report) = merge_with(parts(), DuplicatePolicy::KeepLast).expect("merges");
    assert_eq!(last.close, [4386.3, 4380.0, 4390.0], "c.csv is last and has a.csv's bar");
    assert_eq!((report.duplicates_dropped, report.duplicates_resolved), (2, 1));
    let mut two = parts();
    two.pop();
    let (last, report) = merge_with(two, DuplicatePolicy::KeepLast).expect("merges");
    assert_eq!(last.close, [4386.3, 4381.0, 4390.0]);
    assert_eq!((report.rows_read, report.duplicates_dropped, report.duplicates_resolved), (4, 0, 1));
    let err = merge(parts()).expect_err("refused by default");
    assert!(err.to_string().starts_with("a.csv and b.csv disagree about the bar at 2017-10-01T00:30:00Z;"), "{err}");
}

#[test]
fn merge_refuses_mixed_symbols_intervals_and_nothing() {
    let btc = parse_csv(&three_bars(), "btc.csv", "BTC").expect("btc");
    let eth = parse_csv(&three_bars(), "eth.csv", "ETH").expect("eth");
    assert_eq!(
        merge(vec![btc, eth]).expect_err("mixed").to_string(),
        "cannot merge BTC bars (btc.csv) with ETH bars (eth.csv)"
    );
    let half_hourly = parse_csv(&three_bars(), "30m.csv", "BTC").expect("30m");
    let five_minute = load_csv(&fixture("kline_no_header.csv"), "BTC").expect("5m");
    let err = merge(vec![half_hourly, five_minute]).expect_err("intervals");
    assert!(err.to_string().starts_with("cannot merge 30m.csv (30m bars) with "), "{err}");
    assert!(err.to_string().ends_with("kline_no_header.csv (5m bars)"), "{err}");
    assert!(matches!(merge(Vec::new()), Err(LoadError::NothingToMerge)));
}

#[test]
fn merge_keeps_trade_columns_only_when_every_file_has_them() {
    let with_trades = "time,open,high,low,close,volume,trades,taker_buy_volume\n\
                       1506816000,10,12,9,11,5,7,2\n1506817800,10,12,9,11,5,8,3\n";
    let a = parse_csv(with_trades, "a.csv", "BTC").expect("a");
    let b = parse_csv(&with_header(&[GOOD_3]), "b.csv", "BTC").expect("b");
    let (series, _) = merge(vec![a, b]).expect("merges");
    assert_eq!(series.len(), 3);
    assert_eq!(series.trades, None);
    assert_eq!(series.taker_buy_volume, None);
}

// ---- the real sample data ----

#[test]
fn real_bitfinex_btc_file() {
    let (s, report) = load_csv(&real_data("bitfinex-30m/BTC.csv"), "BTC").expect("loads");
    assert_eq!(s.len(), 35_019);
    assert_eq!(report.rows_read, 35_019);
    assert_eq!(report.duplicates_dropped, 0);
    assert!(!report.reversed);
    assert_eq!(s.interval_ms(), Some(HALF_HOUR));
    assert_eq!(s.bars_per_year(), Some(17_520.0));
    assert_eq!(s.ts_ms.first(), Some(&OCT_1_2017));
    assert_eq!(s.ts_ms.last(), Some(&1_569_888_000_000)); // 2019-10-01T00:00:00Z
    assert_eq!((s.open[0], s.close[0], s.high[0], s.low[0]), (4367.1, 4386.3, 4387.5, 4365.0));
    assert_eq!(s.trades, None);
    assert_eq!(report.gaps.len(), 9);
    // Every missing bar is in a gap: 35,041 half-hours from first to last, 35,019 present.
    let missing: i64 = report.gaps.iter().map(|g| g.missing_bars).sum();
    assert_eq!(missing, 35_041 - 35_019);
    let longest = report.gaps.iter().map(|g| g.before_ms - g.after_ms).max();
    assert_eq!(longest, Some(3 * 3_600_000));
    assert!(s.ts_ms.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn real_binance_file_keeps_microstructure_columns_and_reports_its_gap() {
    let path = real_data("binance-5m/binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0.csv");
    let (s, report) = load_csv(&path, "BTCUSDT").expect("loads");
    assert_eq!(s.len(), 2_576);
    assert_eq!(s.interval_ms(), Some(FIVE_MIN));
    assert_eq!(s.ts_ms.first(), Some(&MAR_20_2023));
    let trades = s.trades.as_ref().expect("trade counts");
    let taker = s.taker_buy_volume.as_ref().expect("taker buy volume");
    assert_eq!((trades[0], taker[0]), (43_351.0, 1073.70455));
    assert_eq!(trades.len(), 2_576);
    assert_eq!(s.volume.iter().filter(|&&v| v == 0.0).count(), 14);
    assert_eq!(report.gaps.len(), 1);
    let gap = &report.gaps[0];
    assert_eq!(gap.before_ms - gap.after_ms, 85 * 60_000);
    assert_eq!(gap.missing_bars, 16);
}
