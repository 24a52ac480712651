//! The data catalog: which symbols exist and where their bars come from.
//!
//! A catalog is either a data directory or the sample data compiled into the binary (the
//! default, so that jobs run from any working directory and in containers). In a data
//! directory a symbol's bars are any of, merged when there are several:
//! - `<SYM>.csv` (`BTC.csv`);
//! - a folder `<SYM>/` holding one or more `*.csv` files (not searched any deeper);
//! - exchange-export files such as `binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0.csv`,
//!   whose symbol is the part between the second `_` and the following `-` (`BTCUSDT`).
//!
//! Symbol names are upper case and lookups ignore case. The synthetic symbols (`SYN-EDGE`,
//! `SYN-RW`) exist in every catalog and are generated, not read. Files are only listed when
//! the catalog opens; they are read and validated by [`Catalog::load`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::csv_loader::{self, DuplicatePolicy, LoadError};
use crate::{BarSeries, LoadReport};

/// The synthetic symbols every catalog offers.
pub const SYNTHETIC_SYMBOLS: [&str; 2] = ["SYN-EDGE", "SYN-RW"];

/// How the embedded catalog describes itself.
const EMBEDDED_DESCRIPTION: &str = "embedded sample data (bitfinex 30m)";

/// The shipped sample bars: (symbol, name in messages, CSV text).
const EMBEDDED: [(&str, &str, &str); 5] = [
    ("BTC", "embedded:bitfinex-30m/BTC.csv", include_str!("../../data/bitfinex-30m/BTC.csv")),
    ("EOS", "embedded:bitfinex-30m/EOS.csv", include_str!("../../data/bitfinex-30m/EOS.csv")),
    ("ETH", "embedded:bitfinex-30m/ETH.csv", include_str!("../../data/bitfinex-30m/ETH.csv")),
    ("LTC", "embedded:bitfinex-30m/LTC.csv", include_str!("../../data/bitfinex-30m/LTC.csv")),
    ("XRP", "embedded:bitfinex-30m/XRP.csv", include_str!("../../data/bitfinex-30m/XRP.csv")),
];

/// Why a catalog could not be opened or a symbol not loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No data for the symbol, neither a file nor a synthetic market.
    #[error(
        "unknown symbol `{symbol}` in {source_desc}; available: {}",
        available.join(", ")
    )]
    UnknownSymbol {
        /// The symbol asked for, as given.
        symbol: String,
        /// Every symbol the catalog has, sorted.
        available: Vec<String>,
        /// Where the catalog looked ([`Catalog::describe`]).
        source_desc: String,
    },
    /// The symbol's files are there but do not load.
    #[error(transparent)]
    Load(#[from] LoadError),
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

/// Where a catalog's data lives.
#[derive(Debug, Clone)]
enum Origin {
    /// Compiled into the binary.
    Embedded,
    /// A data directory on disk.
    Directory(PathBuf),
}

/// One file of a symbol's bars.
#[derive(Clone)]
enum DataFile {
    /// Compiled in: its name in messages and its text.
    Embedded { name: &'static str, text: &'static str },
    /// On disk.
    Path(PathBuf),
}

impl std::fmt::Debug for DataFile {
    // The embedded text is megabytes; show only its name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataFile::Embedded { name, .. } => write!(f, "Embedded({name})"),
            DataFile::Path(path) => write!(f, "Path({})", path.display()),
        }
    }
}

/// The symbols a data source offers and the files behind each.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Where the data lives, for [`Catalog::describe`].
    origin: Origin,
    /// Upper-case symbol → its files, in the order they are merged (sorted by path).
    files: BTreeMap<String, Vec<DataFile>>,
}

impl Catalog {
    /// Lists the symbols in data directory `dir` (see the module docs for the layouts).
    /// Files other than `*.csv`, and hidden entries, are ignored.
    pub fn open(dir: &Path) -> Result<Catalog, CatalogError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |reason| CatalogError::Io { path, reason }
        };
        let metadata = std::fs::metadata(dir).map_err(io_error(dir))?;
        if !metadata.is_dir() {
            return Err(CatalogError::NotADirectory { path: dir.to_path_buf() });
        }
        let mut files: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
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
                    files.entry(name.to_uppercase()).or_default().extend(inner.into_iter().map(DataFile::Path));
                }
            } else if let Some(stem) = csv_stem(&name) {
                files.entry(symbol_of_file(stem)).or_default().push(DataFile::Path(path));
            }
        }
        for list in files.values_mut() {
            list.sort_by(|a, b| match (a, b) {
                (DataFile::Path(a), DataFile::Path(b)) => a.cmp(b),
                _ => std::cmp::Ordering::Equal,
            });
        }
        Ok(Catalog { origin: Origin::Directory(dir.to_path_buf()), files })
    }

    /// The shipped sample data, compiled in: BTC, ETH, EOS, LTC and XRP against USD, 30-minute
    /// Bitfinex bars from 2017-10-01 to 2019-10-01.
    pub fn embedded() -> Catalog {
        Catalog {
            origin: Origin::Embedded,
            files: EMBEDDED
                .iter()
                .map(|&(symbol, name, text)| (symbol.to_string(), vec![DataFile::Embedded { name, text }]))
                .collect(),
        }
    }

    /// The catalog of `dir`, or the embedded one when there is no directory.
    pub fn open_or_embedded(dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        match dir {
            Some(dir) => Catalog::open(dir),
            None => Ok(Catalog::embedded()),
        }
    }

    /// Every symbol, sorted, the synthetic ones included.
    pub fn symbols(&self) -> Vec<String> {
        let mut symbols: Vec<String> =
            self.files.keys().cloned().chain(SYNTHETIC_SYMBOLS.iter().map(|s| s.to_string())).collect();
        symbols.sort();
        symbols.dedup();
        symbols
    }

    /// Where the data comes from, for messages: the directory, or the embedded sample data.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Embedded => EMBEDDED_DESCRIPTION.to_string(),
            Origin::Directory(dir) => dir.display().to_string(),
        }
    }

    /// Reads, validates and (when there are several files) merges the bars of `symbol`, whose
    /// case does not matter, refusing bars that rows or files disagree about. Files win over a
    /// synthetic market of the same name.
    pub fn load(&self, symbol: &str) -> Result<(BarSeries, LoadReport), CatalogError> {
        self.load_with(symbol, DuplicatePolicy::Refuse)
    }

    /// [`Catalog::load`] with bars that rows of a file, or its files, disagree about handled by
    /// `on_duplicate` (files are merged in path order: `keep-first` keeps the bar of the file
    /// whose path sorts first).
    pub fn load_with(
        &self,
        symbol: &str,
        on_duplicate: DuplicatePolicy,
    ) -> Result<(BarSeries, LoadReport), CatalogError> {
        let key = symbol.trim().to_uppercase();
        if let Some(files) = self.files.get(&key) {
            let parts = files
                .iter()
                .map(|file| match file {
                    DataFile::Embedded { name, text } => csv_loader::parse_csv_with(text, name, &key, on_duplicate),
                    DataFile::Path(path) => csv_loader::load_csv_with(path, &key, on_duplicate),
                })
                .collect::<Result<Vec<_>, LoadError>>()?;
            return match <[_; 1]>::try_from(parts) {
                Ok([single]) => Ok(single),
                Err(parts) => Ok(csv_loader::merge_with(parts, on_duplicate)?),
            };
        }
        if key.starts_with("SYN-")
            && let Some(market) = crate::synthetic::generate_named(&key)
        {
            let mut series = market.series;
            series.symbol = key.clone();
            let report = LoadReport {
                files: vec![format!("synthetic:{key}")],
                rows_read: series.len(),
                duplicates_dropped: 0,
                duplicates_resolved: 0,
                reversed: false,
                gaps: csv_loader::find_gaps(&series),
                banner: None,
                fingerprint: csv_loader::fingerprint(&series),
            };
            return Ok((series, report));
        }
        Err(CatalogError::UnknownSymbol {
            symbol: symbol.to_string(),
            available: self.symbols(),
            source_desc: self.describe(),
        })
    }
}

/// The `*.csv` files directly inside `dir`, sorted.
fn csv_files_in(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let io_error = |reason| CatalogError::Io { path: dir.to_path_buf(), reason };
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
