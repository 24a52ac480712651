//! The data catalog: symbol resolution in each directory layout, lookups, and the embedded data.

use std::fs;
use std::path::{Path, PathBuf};

use skippy_market::DuplicatePolicy;
use skippy_market::catalog::{Catalog, CatalogError};
use skippy_market::csv_loader::{LoadError, fingerprint, load_csv};

const HEADER: &str = "Date,Open,High,Low,Close,Volume\n";
const OCT_1_2017: i64 = 1_506_816_000_000;
const HALF_HOUR: i64 = 1_800_000;

fn real_data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(path)
}

/// `count` valid half-hourly bars starting `start` half-hours after 2017-10-01, as CSV rows.
fn bars(start: i64, count: i64) -> String {
    let mut text = String::from(HEADER);
    for i in start..start + count {
        let ts = (OCT_1_2017 + i * HALF_HOUR) / 1000;
        let price = 100.0 + i as f64;
        text.push_str(&format!("{ts},{price},{},{},{price},1\n", price + 1.0, price - 1.0));
    }
    text
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create folder");
    }
    fs::write(path, text).expect("write fixture");
}

#[test]
fn flat_files_one_per_symbol() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("BTC.csv"), &bars(0, 5));
    write(&dir.path().join("eth.CSV"), &bars(0, 3));
    write(&dir.path().join("README.md"), "not data");
    write(&dir.path().join(".hidden.csv"), "not data either");
    let catalog = Catalog::open(dir.path()).expect("opens");
    assert_eq!(catalog.symbols(), ["BTC", "ETH", "SYN-EDGE", "SYN-RW"]);
    assert_eq!(catalog.describe(), dir.path().display().to_string());

    let (btc, report) = catalog.load("BTC").expect("BTC loads");
    assert_eq!(btc.symbol, "BTC");
    assert_eq!(btc.len(), 5);
    assert_eq!(report.files, [dir.path().join("BTC.csv").display().to_string()]);
    let (eth, _) = catalog.load("eth").expect("ETH loads");
    assert_eq!(eth.symbol, "ETH");
    assert_eq!(eth.len(), 3);
}

#[test]
fn folder_per_symbol_is_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("btc/2017-10-a.csv"), &bars(0, 4));
    write(&dir.path().join("btc/2017-10-b.csv"), &bars(3, 4)); // overlaps one bar
    write(&dir.path().join("btc/notes.txt"), "ignored");
    write(&dir.path().join("btc/deeper/old.csv"), "ignored: only one level is read");
    write(&dir.path().join("empty/readme.txt"), "a folder without CSV is no symbol");
    let catalog = Catalog::open(dir.path()).expect("opens");
    assert_eq!(catalog.symbols(), ["BTC", "SYN-EDGE", "SYN-RW"]);

    let (series, report) = catalog.load("BTC").expect("loads");
    assert_eq!(series.symbol, "BTC");
    assert_eq!(series.len(), 7);
    assert_eq!(series.ts_ms.first(), Some(&OCT_1_2017));
    assert_eq!(series.ts_ms.last(), Some(&(OCT_1_2017 + 6 * HALF_HOUR)));
    assert_eq!(report.files.len(), 2);
    assert!(report.files[0].ends_with("2017-10-a.csv"), "{:?}", report.files);
    assert!(report.files[1].ends_with("2017-10-b.csv"), "{:?}", report.files);
    assert_eq!(report.rows_read, 8);
    assert_eq!(report.duplicates_dropped, 1);
    assert_eq!(report.fingerprint, fingerprint(&series));
}

#[test]
fn files_that_disagree_are_refused_unless_a_policy_picks_the_first_or_last_in_path_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("btc/a.csv"), &bars(0, 4));
    // b.csv's first bar is a.csv's last, with another volume.
    write(&dir.path().join("btc/b.csv"), &bars(3, 4).replacen(",1\n", ",2\n", 1));
    let catalog = Catalog::open(dir.path()).expect("opens");
    let err = catalog.load("BTC").expect_err("the files disagree");
    assert!(matches!(err, CatalogError::Load(LoadError::ConflictingOverlap { more: 0, .. })), "{err:?}");
    assert!(err.to_string().contains("pass --on-duplicate keep-first or keep-last"), "{err}");
    for (policy, volume) in [(DuplicatePolicy::KeepFirst, 1.0), (DuplicatePolicy::KeepLast, 2.0)] {
        let (series, report) = catalog.load_with("btc", policy).expect("a policy picks one");
        assert_eq!(series.len(), 7);
        assert_eq!(series.volume[3], volume, "{policy}");
        assert_eq!((report.duplicates_dropped, report.duplicates_resolved), (0, 1));
    }
}

#[test]
fn exchange_export_names_give_the_symbol_and_are_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("binance_spot_BTCUSDT-30m_20171001-20171001_v2.10.0.csv"), &bars(0, 3));
    write(&dir.path().join("binance_spot_BTCUSDT-30m_20171001-20171002_v2.10.0.csv"), &bars(3, 3));
    write(&dir.path().join("binance_spot_ETHUSDT-30m_20171001-20171002_v2.10.0.metadata.json"), "{}");
    let catalog = Catalog::open(dir.path()).expect("opens");
    assert_eq!(catalog.symbols(), ["BTCUSDT", "SYN-EDGE", "SYN-RW"]);
    let (series, report) = catalog.load("btcusdt").expect("loads");
    assert_eq!(series.symbol, "BTCUSDT");
    assert_eq!(series.len(), 6);
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.duplicates_dropped, 0);
    assert!(report.gaps.is_empty());
}

#[test]
fn real_binance_directory() {
    let catalog = Catalog::open(&real_data("binance-5m")).expect("opens");
    assert_eq!(catalog.symbols(), ["BTCUSDT", "ETHUSDT", "SYN-EDGE", "SYN-RW"]);
    let (eth, report) = catalog.load("EthUsdt").expect("loads");
    assert_eq!(eth.symbol, "ETHUSDT");
    assert_eq!(eth.len(), 2_576);
    assert!(eth.trades.is_some());
    assert!(eth.taker_buy_volume.is_some());
    assert_eq!(report.gaps.len(), 1);
}

#[test]
fn unknown_symbol_lists_the_available_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("BTC.csv"), &bars(0, 2));
    let catalog = Catalog::open(dir.path()).expect("opens");
    let err = catalog.load("doge").expect_err("no DOGE");
    match &err {
        CatalogError::UnknownSymbol { symbol, available, source_desc } => {
            assert_eq!(symbol, "doge");
            assert_eq!(available, &["BTC", "SYN-EDGE", "SYN-RW"]);
            assert_eq!(source_desc, &dir.path().display().to_string());
        }
        other => panic!("expected UnknownSymbol, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("unknown symbol `doge` in {}; available: BTC, SYN-EDGE, SYN-RW", dir.path().display())
    );
    assert!(matches!(catalog.load("SYN-NOPE"), Err(CatalogError::UnknownSymbol { .. })));
}

#[test]
fn lookup_ignores_case_and_surrounding_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("Btc.csv"), &bars(0, 2));
    let catalog = Catalog::open(dir.path()).expect("opens");
    let reference = catalog.load("BTC").expect("BTC").0;
    for name in ["btc", "Btc", " bTc "] {
        let (series, _) = catalog.load(name).expect(name);
        assert_eq!(series, reference, "{name}");
    }
}

#[test]
fn bad_file_reports_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("BTC.csv");
    write(&path, &format!("{HEADER}1506816000,10,12,9,11,1\n1506817800,10,8,9,11,1\n"));
    let catalog = Catalog::open(dir.path()).expect("listing does not read files");
    let err = catalog.load("BTC").expect_err("invalid bar");
    assert!(matches!(err, CatalogError::Load(LoadError::HighBelowLow { line: 3, .. })));
    assert_eq!(err.to_string(), format!("{}:3: high 8 is below low 9", path.display()));
}

#[test]
fn missing_or_non_directory_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let err = Catalog::open(&missing).expect_err("missing");
    assert!(
        matches!(&err, CatalogError::List(skippy_contract::catalog::ListError::Io { path, .. }) if path == &missing)
    );
    assert!(err.to_string().starts_with(&format!("cannot read data directory {}: ", missing.display())), "{err}");
    let file = dir.path().join("BTC.csv");
    write(&file, &bars(0, 2));
    let err = Catalog::open(&file).expect_err("a file");
    assert_eq!(err.to_string(), format!("data directory {} is not a directory", file.display()));
}

#[test]
fn embedded_catalog_is_the_default_and_loads_btc_and_eth() {
    let catalog = Catalog::open_or_embedded(None).expect("embedded");
    assert_eq!(catalog.describe(), "embedded sample data (bitfinex 30m)");
    assert_eq!(catalog.symbols(), ["BTC", "EOS", "ETH", "LTC", "SYN-EDGE", "SYN-RW", "XRP"]);

    let (btc, report) = catalog.load("btc").expect("BTC");
    assert_eq!(btc.symbol, "BTC");
    assert_eq!(btc.len(), 35_019);
    assert_eq!(btc.interval_ms(), Some(HALF_HOUR));
    assert_eq!(report.gaps.len(), 9);
    assert_eq!(report.files, ["embedded:bitfinex-30m/BTC.csv"]);
    // The same bars as the file on disk.
    let (on_disk, disk_report) = load_csv(&real_data("bitfinex-30m/BTC.csv"), "BTC").expect("file loads");
    assert_eq!(btc, on_disk);
    assert_eq!(report.fingerprint, disk_report.fingerprint);

    let (eth, report) = catalog.load("ETH").expect("ETH");
    assert_eq!(eth.symbol, "ETH");
    assert_eq!(eth.len(), 35_011);
    assert_eq!(report.gaps.len(), 13);
    assert_ne!(report.fingerprint, disk_report.fingerprint);
}

#[test]
fn open_or_embedded_with_a_directory_opens_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("LTC.csv"), &bars(0, 2));
    let catalog = Catalog::open_or_embedded(Some(dir.path())).expect("opens");
    assert_eq!(catalog.symbols(), ["LTC", "SYN-EDGE", "SYN-RW"]);
    assert_eq!(catalog.describe(), dir.path().display().to_string());
}

#[test]
fn synthetic_symbols_come_from_the_generator() {
    let catalog = Catalog::embedded();
    match skippy_market::synthetic::generate_named("SYN-EDGE") {
        Some(market) => {
            let (series, report) = catalog.load("syn-edge").expect("synthetic loads");
            assert_eq!(series.symbol, "SYN-EDGE");
            assert_eq!(series.ts_ms, market.series.ts_ms);
            assert_eq!(series.close, market.series.close);
            assert_eq!(report.files, ["synthetic:SYN-EDGE"]);
            assert_eq!(report.rows_read, series.len());
            assert_eq!(report.fingerprint, fingerprint(&series));
        }
        // The generator does not know the name (yet): the catalog says so, listing it anyway.
        None => match catalog.load("syn-edge") {
            Err(CatalogError::UnknownSymbol { available, .. }) => {
                assert!(available.contains(&"SYN-EDGE".to_string()));
            }
            other => panic!("expected UnknownSymbol, got {other:?}"),
        },
    }
}
