//! From catalog symbols to what the environment trades on: bars are loaded, features computed,
//! each symbol split chronologically with an embargo, and features normalised with statistics
//! of the training segment only.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use skippy_market::catalog::{Catalog, CatalogError};
use skippy_market::features::{self, Normalizer};
use skippy_market::{BarSeries, LoadReport};

use crate::env::SymbolMarket;
use crate::spec::{SplitConfig, TrainSpec};

/// Decision-bar ranges of one symbol's segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segments {
    /// Bars the policy trains on.
    pub train: Range<usize>,
    /// Bars that pick the checkpoint kept.
    pub validation: Range<usize>,
    /// Bars the kept model is scored on, once.
    pub test: Range<usize>,
    /// Bars left out between segments.
    pub embargo: usize,
}

/// Fewest decision bars in the validation and the test segment.
pub const MIN_EVAL_BARS: usize = 50;

/// Why a dataset could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The catalog could not provide a symbol.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Too few bars for the split.
    #[error(
        "{symbol} has {bars} bars, too few for the split: needs at least {needed} \
         ({warmup} warm-up, {embargo}-bar embargoes, ≥ {min_train} training and ≥ {MIN_EVAL_BARS} validation and test bars)"
    )]
    TooFewBars {
        /// Symbol.
        symbol: String,
        /// Bars it has.
        bars: usize,
        /// Bars needed.
        needed: usize,
        /// Feature warm-up.
        warmup: usize,
        /// Embargo.
        embargo: usize,
        /// Fewest training bars.
        min_train: usize,
    },
    /// A series without a bar interval.
    #[error("{0}: cannot tell the bar interval (fewer than two bars)")]
    NoInterval(String),
}

/// One symbol, ready to trade.
#[derive(Debug, Clone)]
pub struct SymbolData {
    /// The raw bars.
    pub bars: BarSeries,
    /// What loading reported (gaps, duplicates, fingerprint).
    pub report: LoadReport,
    /// The split.
    pub segments: Segments,
    /// Normalisation statistics (fitted on the training segment).
    pub normalizer: Normalizer,
    /// The environment's view: normalised features and prices.
    pub market: SymbolMarket,
    /// Bars per year, for annualising.
    pub bars_per_year: f64,
    /// The generator's knowledge, when the symbol is a synthetic market (for the reference
    /// "best achievable" Sharpe next to the model's).
    pub synthetic: Option<skippy_market::synthetic::SyntheticMarket>,
}

/// Every symbol of a job.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Symbols in spec order.
    pub symbols: Vec<SymbolData>,
    /// Names of the feature columns.
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// Loads and prepares every symbol of `spec` from `catalog`.
    pub fn load(spec: &TrainSpec, catalog: &Catalog) -> Result<Dataset, DatasetError> {
        let mut symbols = Vec::with_capacity(spec.symbols.len());
        for name in &spec.symbols {
            let (bars, report) = catalog.load(name)?;
            symbols.push(prepare(bars, report, spec)?);
        }
        let feature_names = symbols.first().map(|s| s.normalizer.names.clone()).unwrap_or_default();
        Ok(Dataset { symbols, feature_names })
    }

    /// Hex SHA-256 fingerprints of the loaded data, one per symbol, for manifests.
    pub fn fingerprints(&self) -> Vec<(String, String)> {
        self.symbols.iter().map(|s| (s.bars.symbol.clone(), s.report.fingerprint.clone())).collect()
    }
}

/// Prepares one symbol's bars: features, split, normalisation.
pub fn prepare(bars: BarSeries, report: LoadReport, spec: &TrainSpec) -> Result<SymbolData, DatasetError> {
    let matrix = features::compute(&bars, &spec.features);
    let segments = split(bars.len(), matrix.warmup, spec.env.window, spec.env.episode_len.min(256), &spec.split)
        .map_err(|needed| {
            let embargo = embargo(matrix.warmup, spec.env.window, &spec.split);
            DatasetError::TooFewBars {
                symbol: bars.symbol.clone(),
                bars: bars.len(),
                needed,
                warmup: matrix.warmup,
                embargo,
                min_train: spec.env.episode_len.min(256),
            }
        })?;
    let normalizer = Normalizer::fit(&matrix, segments.train.clone());
    let normalised = normalizer.apply(&matrix);
    let bars_per_year = bars.bars_per_year().ok_or_else(|| DatasetError::NoInterval(bars.symbol.clone()))?;
    let market = SymbolMarket {
        symbol: bars.symbol.clone(),
        features: normalised.values,
        n_features: normalised.cols,
        open: bars.open.clone(),
        close: bars.close.clone(),
    };
    // A synthetic symbol's generator knows the true edge; keep it only if these are its bars
    // (a data file of the same name would take precedence in the catalog).
    let synthetic = skippy_market::synthetic::generate_named(&bars.symbol).filter(|m| m.series.close == bars.close);
    Ok(SymbolData { bars, report, segments, normalizer, market, bars_per_year, synthetic })
}

fn embargo(warmup: usize, window: usize, cfg: &SplitConfig) -> usize {
    cfg.embargo.unwrap_or(warmup + window)
}

/// Splits `bars` chronologically. Decision bars run from the first bar with full feature
/// history and a full window to the second-to-last bar (each decision needs the next bar).
/// `Err(needed)` gives the fewest bars that would do.
pub fn split(
    bars: usize,
    warmup: usize,
    window: usize,
    min_train: usize,
    cfg: &SplitConfig,
) -> Result<Segments, usize> {
    let embargo = embargo(warmup, window, cfg);
    let first = warmup.max(window.saturating_sub(1));
    let fixed = first + 2 * embargo + 1;
    let usable = bars.saturating_sub(fixed);
    let train_len = (usable as f64 * cfg.train).floor() as usize;
    let val_len = (usable as f64 * cfg.validation).floor() as usize;
    let test_len = usable.saturating_sub(train_len + val_len);
    if train_len < min_train || val_len < MIN_EVAL_BARS || test_len < MIN_EVAL_BARS {
        let shortest = cfg.validation.min(1.0 - cfg.train - cfg.validation).max(1e-3);
        let by_eval = (MIN_EVAL_BARS as f64 / shortest).ceil() as usize;
        let by_train = (min_train as f64 / cfg.train).ceil() as usize;
        return Err(fixed + by_eval.max(by_train) + 2);
    }
    let train = first..first + train_len;
    let validation = train.end + embargo..train.end + embargo + val_len;
    let test = validation.end + embargo..bars - 1;
    Ok(Segments { train, validation, test, embargo })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_ordered_disjoint_and_embargoed() {
        let s = split(10_000, 64, 4, 256, &SplitConfig::default()).unwrap();
        assert_eq!(s.embargo, 68);
        assert_eq!(s.train.start, 64);
        assert_eq!(s.validation.start, s.train.end + 68);
        assert_eq!(s.test.start, s.validation.end + 68);
        assert_eq!(s.test.end, 9_999);
        let usable = (s.train.len() + s.validation.len() + s.test.len()) as f64;
        assert!((s.train.len() as f64 / usable - 0.70).abs() < 0.01);
        assert!((s.validation.len() as f64 / usable - 0.15).abs() < 0.01);
    }

    #[test]
    fn too_few_bars_says_how_many_are_needed() {
        let needed = split(300, 64, 4, 256, &SplitConfig::default()).unwrap_err();
        assert!(needed > 300);
        assert!(split(needed, 64, 4, 256, &SplitConfig::default()).is_ok(), "{needed} should suffice");
    }
}
