//! The data catalog's names: which symbols a data directory (or the sample data shipped in the
//! trainer) offers, and which files hold each, without reading a bar. The scheduler checks a
//! submission's symbols against these names; the trainer's `skippy_market::catalog` reads the
//! files.
//!
//! In a data directory a symbol's bars are any of, merged when there are several:
//! - `<SYM>.csv` (`BTC.csv`);
//! - a folder `<SYM>/` holding one or more `*.csv` files (not searched any deeper);
//! - exchange-export files such as `binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0.csv`,
//!   whose symbol is the part between the second `_` and the following `-` (`BTCUSDT`).
//!
//! Symbol names are upper case and lookups ignore case. The synthetic symbols (`SYN-EDGE`,
//! `SYN-RW`) exist in every catalog and are generated, not read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The synthetic symbols every catalog offers.
pub const SYNTHETIC_SYMBOLS: [&str; 2] = ["SYN-EDGE", "SYN-RW"];

/// The symbols of the sample bars compiled into the trainer (30-minute Bitfinex bars,
/// 2017-10-01 to 2019-10-01).
pub const EMBEDDED_SYMBOLS: [&str; 5] = ["BTC", "EOS", "ETH", "LTC", "XRP"];

/// How the embedded catalog describes itself.
pub const EMBEDDED_DESCRIPTION: &str = "embedded sample data (bitfinex 30m)";

/// Why a data directory could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The data directory could not be read.
    #[error("cannot read data directory {}: {reason}", path.display())]
    Io {
        /// The directory or the entry that failed.
        path: PathBuf,
        /// What the operating system said (kept in the message, so it is not also a `source`).
        reason: std::io::Error,
    },
    /// The data directory is a file.
    #[error("data directory {} is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
}

/// Every symbol of the data directory `dir` (the embedded sample data's when `None`), sorted,
/// the synthetic ones included.
pub fn symbols(dir: Option<&Path>) -> Result<Vec<String>, ListError> {
    Ok(match dir {
        Some(dir) => with_synthetic(list_dir(dir)?.into_keys()),
        None => with_synthetic(EMBEDDED_SYMBOLS.iter().map(|s| s.to_string())),
    })
}

/// `listed` and the synthetic symbols, sorted, each once: a catalog's symbols.
pub fn with_synthetic(listed: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut all: Vec<String> = listed.into_iter().chain(SYNTHETIC_SYMBOLS.iter().map(|s| s.to_string())).collect();
    all.sort();
    all.dedup();
    all
}

/// The symbols in data directory `dir` and their files, each list sorted by path (the order
/// they are merged in). Files other than `*.csv`, and hidden entries, are ignored.
pub fn list_dir(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>, ListError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |reason| ListError::Io { path, reason }
    };
    let metadata = std::fs::metadata(dir).map_err(io_error(dir))?;
    if !metadata.is_dir() {
        return Err(ListError::NotADirectory { path: dir.to_path_buf() });
    }
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follows symbolic links; a broken one named `*.csv` is kept so that loading it
        // says what is wrong.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            let inner = csv_files_in(&path)?;
            if !inner.is_empty() {
                files.entry(name.to_uppercase()).or_default().extend(inner);
            }
        } else if let Some(stem) = csv_stem(&name) {
            files.entry(symbol_of_file(stem)).or_default().push(path);
        }
    }
    for list in files.values_mut() {
        list.sort();
    }
    Ok(files)
}

/// The `*.csv` files directly inside `dir`, sorted.
fn csv_files_in(dir: &Path) -> Result<Vec<PathBuf>, ListError> {
    let io_error = |reason| ListError::Io { path: dir.to_path_buf(), reason };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let is_csv = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|n| !n.starts_with('.') && csv_stem(&n).is_some());
        if is_csv && !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The name without a `.csv` extension (any case), or `None` for other files.
fn csv_stem(name: &str) -> Option<&str> {
    let split = name.len().checked_sub(4)?;
    let (stem, extension) = (name.get(..split)?, name.get(split..)?);
    (extension.eq_ignore_ascii_case(".csv") && !stem.is_empty()).then_some(stem)
}

/// The symbol a CSV file (by its stem) holds: `BTCUSDT` for exchange exports named like
/// `binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0`, otherwise the whole stem; upper case.
fn symbol_of_file(stem: &str) -> String {
    let mut parts = stem.splitn(3, '_');
    if let (Some(_exchange), Some(_market), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && let Some((symbol, _interval)) = rest.split_once('-')
        && !symbol.is_empty()
        && symbol.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return symbol.to_uppercase();
    }
    stem.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_from_file_names() {
        assert_eq!(symbol_of_file("binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0"), "BTCUSDT");
        assert_eq!(symbol_of_file("btc"), "BTC");
        assert_eq!(symbol_of_file("BTC-USD"), "BTC-USD");
        assert_eq!(symbol_of_file("btc_usd_daily"), "BTC_USD_DAILY");
        assert_eq!(csv_stem("BTC.CSV"), Some("BTC"));
        assert_eq!(csv_stem(".csv"), None);
        assert_eq!(csv_stem("x.json"), None);
        assert_eq!(csv_stem("é.csv"), Some("é"));
    }
}
