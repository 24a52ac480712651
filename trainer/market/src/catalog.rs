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

pub use skippy_contract::catalog::{EMBEDDED_DESCRIPTION, SYNTHETIC_SYMBOLS};

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
    /// The data directory could not be listed.
    #[error(transparent)]
    List(#[from] skippy_contract::catalog::ListError),
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
        let files = skippy_contract::catalog::list_dir(dir)?
            .into_iter()
            .map(|(symbol, paths)| (symbol, paths.into_iter().map(DataFile::Path).collect()))
            .collect();
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
        skippy_contract::catalog::with_synthetic(self.files.keys().cloned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_symbols_are_the_contracts() {
        let names: Vec<&str> = EMBEDDED.iter().map(|(symbol, _, _)| *symbol).collect();
        assert_eq!(names, skippy_contract::catalog::EMBEDDED_SYMBOLS);
        assert_eq!(Catalog::embedded().symbols(), skippy_contract::catalog::symbols(None).unwrap());
    }
}
