//! From catalog symbols to what the environment trades on: bars are loaded, features computed
//! on each symbol's own bars, the symbols joined on the bar times they all share (one calendar),
//! that calendar split chronologically with an embargo, and features normalised with statistics
//! of the training segment only.
//!
//! One calendar for every symbol means a portfolio's legs are paired by time, never by position
//! from the end, and train / validation / test are cut at the same instants for every symbol:
//! one symbol's test period is never another's training period. A bar only some symbols have is
//! left out of the job (counted in [`Calendar::left_out`]); a symbol's features still see it,
//! and holding a position across it is priced exactly, by the gap from one shared bar's close to
//! the next one's open.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use skippy_market::catalog::{Catalog, CatalogError};
use skippy_market::features::{self, FeatureMatrix, Normalizer};
use skippy_market::{BarSeries, LoadReport};

use crate::env::SymbolMarket;
use crate::spec::{SplitConfig, TrainSpec};

/// Decision-bar ranges of the job's segments (indices into the shared calendar).
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

/// The bar times every symbol of a job shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// Shared bar times.
    pub bars: usize,
    /// The bar interval every symbol has (ms).
    pub interval_ms: i64,
    /// Per symbol, its bars at times another symbol lacks: left out of the job.
    pub left_out: BTreeMap<String, usize>,
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
        "{symbol} has {bars} bars{shared}, too few for the split: needs at least {needed} \
         ({warmup} warm-up, {embargo}-bar embargoes, ≥ {min_train} training and ≥ {MIN_EVAL_BARS} validation and test bars)"
    )]
    TooFewBars {
        /// Symbol (several, comma-separated, when the shared calendar is too short).
        symbol: String,
        /// Bars it has.
        bars: usize,
        /// " at times all of them share", for several symbols.
        shared: &'static str,
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
    /// Symbols of different bar intervals in one job.
    #[error(
        "the symbols have different bar intervals ({}); one job trades one interval: \
         resample the data or train them in separate jobs",
        .0.iter().map(|(s, ms)| format!("{s} {}", interval_name(*ms))).collect::<Vec<_>>().join(", ")
    )]
    MixedIntervals(Vec<(String, i64)>),
}

/// One symbol, ready to trade.
#[derive(Debug, Clone)]
pub struct SymbolData {
    /// The symbol's bars on the job's calendar (the bars at shared times).
    pub bars: BarSeries,
    /// What loading reported (gaps, duplicates, fingerprint) of the whole file.
    pub report: LoadReport,
    /// The split (the same for every symbol of a job).
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
    /// The shared bar times.
    pub calendar: Calendar,
}

impl Dataset {
    /// Loads and prepares every symbol of `spec` from `catalog`.
    pub fn load(spec: &TrainSpec, catalog: &Catalog) -> Result<Dataset, DatasetError> {
        let mut loaded = Vec::with_capacity(spec.symbols.len());
        for name in &spec.symbols {
            loaded.push(catalog.load_with(name, spec.data.on_duplicate)?);
        }
        Dataset::assemble(loaded, spec)
    }

    /// Joins loaded symbols on their shared bar times and prepares each: features (on the
    /// symbol's own bars), the split, normalisation.
    pub fn assemble(loaded: Vec<(BarSeries, LoadReport)>, spec: &TrainSpec) -> Result<Dataset, DatasetError> {
        let mut intervals = Vec::with_capacity(loaded.len());
        for (bars, _) in &loaded {
            let ms =
                bars.interval_ms().filter(|&ms| ms > 0).ok_or_else(|| DatasetError::NoInterval(bars.symbol.clone()))?;
            intervals.push((bars.symbol.clone(), ms));
        }
        if intervals.iter().any(|(_, ms)| *ms != intervals[0].1) {
            return Err(DatasetError::MixedIntervals(intervals));
        }
        let interval_ms = intervals.first().map(|(_, ms)| *ms).unwrap_or_default();
        let shared = shared_times(loaded.iter().map(|(b, _)| b.ts_ms.as_slice()));
        let mut left_out = BTreeMap::new();
        let mut joined = Vec::with_capacity(loaded.len());
        let mut lookback = 0;
        for (bars, report) in loaded {
            let matrix = features::compute(&bars, &spec.features);
            lookback = lookback.max(matrix.warmup);
            let rows: Vec<usize> = (0..bars.len()).filter(|&i| shared.contains(&bars.ts_ms[i])).collect();
            left_out.insert(bars.symbol.clone(), bars.len() - rows.len());
            joined.push((bars.select(&rows), report, select_rows(&matrix, &rows)));
        }
        // The first shared row every symbol has full feature history at.
        let warmup = joined.iter().map(|(_, _, m)| m.warmup).max().unwrap_or_default();
        let bars = shared.len();
        let min_train = spec.env.episode_len.min(256);
        let segments = split(bars, warmup, lookback, spec.env.window, min_train, &spec.split).map_err(|needed| {
            let several = joined.len() > 1;
            DatasetError::TooFewBars {
                symbol: joined.iter().map(|(b, _, _)| b.symbol.as_str()).collect::<Vec<_>>().join(", "),
                bars,
                shared: if several { " at times all of them share" } else { "" },
                needed,
                warmup,
                embargo: embargo(lookback, spec.env.window, &spec.split),
                min_train,
            }
        })?;
        let calendar = Calendar { bars, interval_ms, left_out };
        let symbols: Vec<SymbolData> = joined
            .into_iter()
            .map(|(bars, report, matrix)| prepared(bars, report, &matrix, &segments, interval_ms))
            .collect();
        let feature_names = symbols.first().map(|s| s.normalizer.names.clone()).unwrap_or_default();
        Ok(Dataset { symbols, feature_names, calendar })
    }

    /// Hex SHA-256 fingerprints of the loaded data, one per symbol, for manifests.
    pub fn fingerprints(&self) -> Vec<(String, String)> {
        self.symbols.iter().map(|s| (s.bars.symbol.clone(), s.report.fingerprint.clone())).collect()
    }
}

/// Prepares one symbol's bars on their own: features, split, normalisation.
pub fn prepare(bars: BarSeries, report: LoadReport, spec: &TrainSpec) -> Result<SymbolData, DatasetError> {
    let mut data = Dataset::assemble(vec![(bars, report)], spec)?;
    Ok(data.symbols.remove(0))
}

/// The bar times present in every series.
fn shared_times<'a>(mut series: impl Iterator<Item = &'a [i64]>) -> HashSet<i64> {
    let Some(first) = series.next() else { return HashSet::new() };
    let mut shared: HashSet<i64> = first.iter().copied().collect();
    for ts in series {
        let these: HashSet<i64> = ts.iter().copied().collect();
        shared.retain(|t| these.contains(t));
    }
    shared
}

/// Rows `rows` of `matrix`; its warm-up becomes the first selected row with full history.
fn select_rows(matrix: &FeatureMatrix, rows: &[usize]) -> FeatureMatrix {
    let cols = matrix.cols;
    let mut values = Vec::with_capacity(rows.len() * cols);
    for &i in rows {
        values.extend_from_slice(matrix.row(i));
    }
    FeatureMatrix {
        names: matrix.names.clone(),
        rows: rows.len(),
        cols,
        values,
        warmup: rows.iter().position(|&i| i >= matrix.warmup).unwrap_or(rows.len()),
    }
}

/// The symbol ready to trade on the split `segments` of the job's calendar.
fn prepared(
    bars: BarSeries,
    report: LoadReport,
    matrix: &FeatureMatrix,
    segments: &Segments,
    interval_ms: i64,
) -> SymbolData {
    let normalizer = Normalizer::fit(matrix, segments.train.clone());
    let normalised = normalizer.apply(matrix);
    let market = SymbolMarket {
        symbol: bars.symbol.clone(),
        features: normalised.values,
        n_features: normalised.cols,
        open: bars.open.clone(),
        close: bars.close.clone(),
    };
    let bars_per_year = 365.0 * 24.0 * 3600.0 * 1000.0 / interval_ms as f64;
    // A synthetic symbol's generator knows the true edge; keep it only if these are its bars
    // (a data file of the same name would take precedence in the catalog, and a join with
    // other symbols may leave some out).
    let synthetic = skippy_market::synthetic::generate_named(&bars.symbol).filter(|m| m.series.close == bars.close);
    SymbolData { bars, report, segments: segments.clone(), normalizer, market, bars_per_year, synthetic }
}

/// `90m`, `1h`, `1d`: a bar interval as people write it.
fn interval_name(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")];
    UNITS
        .iter()
        .find(|(unit, _)| ms % unit == 0)
        .map(|(unit, name)| format!("{}{name}", ms / unit))
        .unwrap_or_else(|| format!("{ms}ms"))
}

fn embargo(lookback: usize, window: usize, cfg: &SplitConfig) -> usize {
    cfg.embargo.unwrap_or(lookback + window)
}

/// Splits `bars` chronologically. Decision bars run from the first bar whose observation window
/// holds no warm-up row (`warmup + window − 1`: rows before `warmup` lack feature history) to
/// the second-to-last bar (each decision needs the next bar). The default embargo is the longest
/// feature `lookback` plus the window. `Err(needed)` gives the fewest bars that would do.
pub fn split(
    bars: usize,
    warmup: usize,
    lookback: usize,
    window: usize,
    min_train: usize,
    cfg: &SplitConfig,
) -> Result<Segments, usize> {
    let embargo = embargo(lookback, window, cfg);
    let first = warmup + window.max(1) - 1;
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
    use skippy_market::features::FeatureSet;

    use super::*;

    /// `symbol`: the SYN-RW bars without rows `drop`, renamed.
    fn bars_without(symbol: &str, drop: impl Fn(usize) -> bool) -> (BarSeries, LoadReport) {
        let all = skippy_market::synthetic::generate_named("SYN-RW").expect("SYN-RW").series;
        let rows: Vec<usize> = (0..all.len()).filter(|&i| !drop(i)).collect();
        let mut bars = all.select(&rows);
        bars.symbol = symbol.into();
        (bars, LoadReport::default())
    }

    fn spec(symbols: &[&str]) -> TrainSpec {
        TrainSpec::new(symbols.iter().map(|s| s.to_string()).collect(), vec![FeatureSet::Price], 1, 1)
    }

    #[test]
    fn symbols_are_joined_on_the_times_they_share_and_split_at_the_same_instants() {
        // A lacks every 7th bar, B every 5th bar of the first half: counted from the end, their
        // bars would be hours apart.
        let a = bars_without("A", |i| i % 7 == 3);
        let b = bars_without("B", |i| i % 5 == 1 && i < 2_000);
        let data = Dataset::assemble(vec![a.clone(), b.clone()], &spec(&["A", "B"])).unwrap();
        let (sa, sb) = (&data.symbols[0], &data.symbols[1]);
        assert_eq!(sa.bars.ts_ms, sb.bars.ts_ms, "one calendar");
        assert_eq!(sa.segments, sb.segments);
        assert_eq!(data.calendar.bars, sa.bars.len());
        let shared: HashSet<i64> = b.0.ts_ms.iter().copied().collect();
        let a_only = a.0.ts_ms.iter().filter(|t| !shared.contains(t)).count();
        assert!(a_only > 0);
        assert_eq!(data.calendar.left_out["A"], a_only);
        assert_eq!(data.calendar.left_out["B"], b.0.len() - sa.bars.len());
        // The environment sees each symbol's own prices at those times.
        let at = |bars: &BarSeries, t: i64| bars.ts_ms.iter().position(|&x| x == t).unwrap();
        for &i in &[sa.segments.test.start, sa.segments.test.end] {
            let t = sa.bars.ts_ms[i];
            assert_eq!(sa.market.close[i], a.0.close[at(&a.0, t)]);
            assert_eq!(sb.market.close[i], b.0.close[at(&b.0, t)]);
        }
    }

    #[test]
    fn a_single_symbol_keeps_every_bar() {
        let a = bars_without("A", |i| i % 7 == 3);
        let data = Dataset::assemble(vec![a.clone()], &spec(&["A"])).unwrap();
        assert_eq!(data.symbols[0].bars, a.0);
        assert_eq!(data.calendar.left_out["A"], 0);
    }

    #[test]
    fn symbols_of_different_intervals_are_refused() {
        let a = bars_without("A", |_| false);
        let b = bars_without("B", |i| i % 2 == 1);
        let err = Dataset::assemble(vec![a, b], &spec(&["A", "B"])).unwrap_err().to_string();
        assert!(err.contains("different bar intervals (A 30m, B 1h)"), "{err}");
    }

    #[test]
    fn symbols_sharing_too_few_times_say_so() {
        let a = bars_without("A", |i| i >= 1_000);
        let b = bars_without("B", |i| i < 900);
        let err = Dataset::assemble(vec![a, b], &spec(&["A", "B"])).unwrap_err().to_string();
        assert!(err.starts_with("A, B has 100 bars at times all of them share, too few"), "{err}");
    }

    #[test]
    fn no_observation_window_holds_a_warm_up_row() {
        let (bars, report) = bars_without("A", |_| false);
        let warmup = features::compute(&bars, &[FeatureSet::Price]).warmup;
        let spec = spec(&["A"]);
        let s = prepare(bars, report, &spec).unwrap();
        assert!(s.segments.train.start + 1 - spec.env.window >= warmup, "{:?} with warm-up {warmup}", s.segments);
    }

    #[test]
    fn segments_are_ordered_disjoint_and_embargoed() {
        let s = split(10_000, 64, 64, 4, 256, &SplitConfig::default()).unwrap();
        assert_eq!(s.embargo, 68);
        // The first decision's window (bars 64..=67) holds no warm-up row.
        assert_eq!(s.train.start, 67);
        assert_eq!(s.validation.start, s.train.end + 68);
        assert_eq!(s.test.start, s.validation.end + 68);
        assert_eq!(s.test.end, 9_999);
        let usable = (s.train.len() + s.validation.len() + s.test.len()) as f64;
        assert!((s.train.len() as f64 / usable - 0.70).abs() < 0.01);
        assert!((s.validation.len() as f64 / usable - 0.15).abs() < 0.01);
    }

    #[test]
    fn too_few_bars_says_how_many_are_needed() {
        let needed = split(300, 64, 64, 4, 256, &SplitConfig::default()).unwrap_err();
        assert!(needed > 300);
        assert!(split(needed, 64, 64, 4, 256, &SplitConfig::default()).is_ok(), "{needed} should suffice");
    }
}
