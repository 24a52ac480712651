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
use crate::spec::{SpecError, SplitConfig, TrainSpec};

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
    /// A spec value that [`TrainSpec::validate`] would have refused.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A walk-forward fold's segment too short for the bars there are.
    #[error(transparent)]
    FoldTooShort(Box<FoldTooShort>),
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

/// A walk-forward fold's segment too short for the bars there are: which fold, which segment,
/// how many bars it would have and needs, and how much history would fit every fold.
#[derive(Debug, thiserror::Error)]
#[error(
    "{symbol} has {bars} bars{shared}, too few for walk-forward fold {fold} of split.folds = {folds} \
     (the last {oos_percent} % of the history in {folds} test slices; {warmup} warm-up, {embargo}-bar embargoes): \
     its {segment} segment would have {segment_bars} bars and needs at least {min}; {remedy}",
    oos_percent = (oos_fraction * 1000.0).round() / 10.0,
    remedy = match needed {
        Some(n) => format!("{n} bars would fit every fold, or use fewer folds or another split.oos_fraction"),
        None => "no length of history would: use fewer folds or a smaller split.oos_fraction".into(),
    }
)]
pub struct FoldTooShort {
    /// Symbol (several, comma-separated, when the shared calendar is too short).
    pub symbol: String,
    /// Bars it has.
    pub bars: usize,
    /// " at times all of them share", for several symbols.
    pub shared: &'static str,
    /// The fold (`0..folds`).
    pub fold: usize,
    /// `split.folds`.
    pub folds: usize,
    /// `split.oos_fraction`.
    pub oos_fraction: f64,
    /// `training`, `validation` or `test`.
    pub segment: &'static str,
    /// Decision bars that segment would have.
    pub segment_bars: usize,
    /// Fewest decision bars it must have.
    pub min: usize,
    /// Bars of history that would fit every fold, if any would.
    pub needed: Option<usize>,
    /// Feature warm-up.
    pub warmup: usize,
    /// Embargo.
    pub embargo: usize,
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
        let segments = split(bars, warmup, lookback, spec.env.window, min_train, &spec.split).map_err(|shortfall| {
            let symbol = joined.iter().map(|(b, _, _)| b.symbol.as_str()).collect::<Vec<_>>().join(", ");
            let shared = if joined.len() > 1 { " at times all of them share" } else { "" };
            let embargo = embargo(lookback, spec.env.window, &spec.split);
            match shortfall {
                SplitShortfall::NoSuchFold => {
                    DatasetError::Spec(SpecError::Fold { fold: spec.split.fold, folds: spec.split.folds })
                }
                SplitShortfall::TooFewBars { needed } => {
                    DatasetError::TooFewBars { symbol, bars, shared, needed, warmup, embargo, min_train }
                }
                SplitShortfall::FoldTooShort { fold, segment, bars: segment_bars, min, needed } => {
                    DatasetError::FoldTooShort(Box::new(FoldTooShort {
                        symbol,
                        bars,
                        shared,
                        fold,
                        folds: spec.split.folds,
                        oos_fraction: spec.split.oos_fraction,
                        segment,
                        segment_bars,
                        min,
                        needed,
                        warmup,
                        embargo,
                    }))
                }
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

/// Why the bars cannot be split as the spec asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitShortfall {
    /// The single split: the fewest bars that would do.
    TooFewBars {
        /// Bars needed.
        needed: usize,
    },
    /// A walk-forward fold's segment is shorter than it must be.
    FoldTooShort {
        /// The fold (`0..folds`).
        fold: usize,
        /// The segment: `training`, `validation` or `test`.
        segment: &'static str,
        /// Decision bars the segment would have.
        bars: usize,
        /// Fewest decision bars it must have.
        min: usize,
        /// Fewest bars of history with which every fold fits; `None` if no number does.
        needed: Option<usize>,
    },
    /// `cfg.fold` is not one of the folds (a spec that skipped [`TrainSpec::validate`]).
    NoSuchFold,
}

/// Splits `bars` chronologically. Decision bars run from the first bar whose observation window
/// holds no warm-up row (`first = warmup + window − 1`: rows before `warmup` lack feature
/// history) to the second-to-last bar (each decision needs the next bar); `e` is the embargo,
/// by default the longest feature `lookback` plus the window. A decision range `a..b` trades on
/// the prices of bars `a..=b`, so `e ≥ 1` bars between segments keep them apart, and the default
/// keeps every observation of a later segment clear of the bars an earlier one earned rewards on.
///
/// **The single split** (`cfg.folds == 1`), over the `u = bars − first − 2e − 1` usable bars:
///
/// ```text
/// first                                                                        bars − 1
///   [ train: ⌊train·u⌋ ] e [ validation: ⌊validation·u⌋ ] e [ test: the rest ]
/// ```
///
/// **Walk-forward fold `k` of `K`** (`cfg.folds == K ≥ 2`, `cfg.fold == k`): of the
/// `n = bars − 1 − first` decision bars, the last `m = ⌊oos_fraction · n⌋` are cut into `K`
/// consecutive test slices, slice `k` being bars `s + ⌊k·m/K⌋ .. s + ⌊(k+1)·m/K⌋` with
/// `s = bars − 1 − m` (their lengths differ by at most one bar; together they are exactly the
/// last `m` decision bars). Fold `k` tests on slice `k`; validates on as many bars, ending an
/// embargo before the slice; and trains on every bar from `first` to an embargo before its
/// validation slice — an expanding window. With `K = 4`:
///
/// ```text
/// first                                       s                                  bars − 1
///   |                                         |<----- last oos_fraction of n ------>|
///   |                                         |  test 0 | test 1  | test 2 | test 3 |
/// k=0 [ train ..................] e [ val ] e [ test 0 ]
/// k=1 [ train ............................] e [ val ] e [ test 1 ]
/// k=2 [ train ......................................] e [ val ] e [ test 2 ]
/// k=3 [ train ................................................] e [ val ] e [ test 3 ]
/// ```
///
/// Within a fold the segments are disjoint and embargoed as in the single split, so no test bar
/// of a fold is ever in its training or validation window. Across folds, a later fold trains and
/// validates on earlier folds' test bars: they are its past, as they would be for a model
/// retrained then. Fold 0 has the shortest training window; every fold of the layout is checked,
/// not only `cfg.fold`, so the folds of an experiment either all fit or all fail alike.
///
/// # Errors
/// [`SplitShortfall`]: for the single split the fewest bars that would do; for folds the first
/// too-short segment (which fold, its bars, the bars it needs) and the history that would do.
pub fn split(
    bars: usize,
    warmup: usize,
    lookback: usize,
    window: usize,
    min_train: usize,
    cfg: &SplitConfig,
) -> Result<Segments, SplitShortfall> {
    let embargo = embargo(lookback, window, cfg);
    let first = warmup + window.max(1) - 1;
    if cfg.is_walk_forward() {
        return walk_forward_fold(bars, first, embargo, min_train, cfg);
    }
    let fixed = first + 2 * embargo + 1;
    let usable = bars.saturating_sub(fixed);
    let train_len = (usable as f64 * cfg.train).floor() as usize;
    let val_len = (usable as f64 * cfg.validation).floor() as usize;
    let test_len = usable.saturating_sub(train_len + val_len);
    if train_len < min_train || val_len < MIN_EVAL_BARS || test_len < MIN_EVAL_BARS {
        let shortest = cfg.validation.min(1.0 - cfg.train - cfg.validation).max(1e-3);
        let by_eval = (MIN_EVAL_BARS as f64 / shortest).ceil() as usize;
        let by_train = (min_train as f64 / cfg.train).ceil() as usize;
        return Err(SplitShortfall::TooFewBars { needed: fixed + by_eval.max(by_train) + 2 });
    }
    let train = first..first + train_len;
    let validation = train.end + embargo..train.end + embargo + val_len;
    let test = validation.end + embargo..bars - 1;
    Ok(Segments { train, validation, test, embargo })
}

/// Fold `cfg.fold` of the walk-forward layout of [`split`], after checking every fold.
fn walk_forward_fold(
    bars: usize,
    first: usize,
    embargo: usize,
    min_train: usize,
    cfg: &SplitConfig,
) -> Result<Segments, SplitShortfall> {
    let check = |bars: usize| -> Result<Vec<Segments>, (usize, &'static str, usize, usize)> {
        let folds = fold_layout(bars, first, embargo, cfg);
        for (k, s) in folds.iter().enumerate() {
            for (segment, len, min) in [
                ("training", s.train.len(), min_train),
                // The validation slice is as long as the test slice: the test slice is the cause.
                ("test", s.test.len(), MIN_EVAL_BARS),
                ("validation", s.validation.len(), MIN_EVAL_BARS),
            ] {
                if len < min {
                    return Err((k, segment, len, min));
                }
            }
        }
        Ok(folds)
    };
    if cfg.fold >= cfg.folds {
        return Err(SplitShortfall::NoSuchFold);
    }
    match check(bars) {
        Ok(mut folds) => Ok(folds.swap_remove(cfg.fold)),
        Err((fold, segment, have, min)) => {
            // Of `n` decision bars, fold 0 trains on `n − m − ⌊m/K⌋ − 2e` (m = ⌊f·n⌋), which lies
            // within 3 bars above `n·(1 − f − f/K) − 2e`, and each test slice has at least
            // `⌊m/K⌋` bars, 50 or more exactly when `f·n ≥ 50·K`. Every `n` from `highest` on
            // therefore fits, none below `lowest` does, and a short scan finds the first that
            // does above the bars there are.
            let (f, k) = (cfg.oos_fraction, cfg.folds as f64);
            let share = 1.0 - f - f / k;
            let needed = (share > 0.0).then(|| {
                let by_eval = MIN_EVAL_BARS as f64 * k / f;
                let by_train = (min_train + 2 * embargo) as f64;
                let lowest = first + 1 + ((by_train - 3.0) / share).max(by_eval).floor() as usize;
                let highest = first + 2 + (by_train / share).max(by_eval).ceil() as usize;
                (lowest.max(bars + 1)..=highest.max(bars + 1)).find(|&b| check(b).is_ok())
            });
            Err(SplitShortfall::FoldTooShort { fold, segment, bars: have, min, needed: needed.flatten() })
        }
    }
}

/// The segments of every fold of the walk-forward layout of [`split`] (some may be too short or
/// empty: [`walk_forward_fold`] checks them).
fn fold_layout(bars: usize, first: usize, embargo: usize, cfg: &SplitConfig) -> Vec<Segments> {
    let end = bars.saturating_sub(1).max(first);
    let n = end - first;
    let folds = cfg.folds;
    let oos = ((n as f64 * cfg.oos_fraction).floor() as usize).min(n);
    let oos_start = end - oos;
    (0..folds)
        .map(|k| {
            let test = oos_start + k * oos / folds..oos_start + (k + 1) * oos / folds;
            let val_end = test.start.saturating_sub(embargo).max(first);
            let validation = val_end.saturating_sub(test.len()).max(first)..val_end;
            let train = first..validation.start.saturating_sub(embargo).max(first);
            Segments { train, validation, test, embargo }
        })
        .collect()
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
        let Err(SplitShortfall::TooFewBars { needed }) = split(300, 64, 64, 4, 256, &SplitConfig::default()) else {
            panic!("300 bars are too few")
        };
        assert!(needed > 300);
        assert!(split(needed, 64, 64, 4, 256, &SplitConfig::default()).is_ok(), "{needed} should suffice");
    }

    /// The single split as the code cut it before walk-forward folds existed (commit 2828392),
    /// kept verbatim as the reference one fold must reproduce.
    fn split_before_folds(
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

    #[test]
    fn one_fold_is_the_single_split_bit_for_bit() {
        // Cut points of the code before folds, on the defaults: pinned.
        let s = split(10_000, 64, 64, 4, 256, &SplitConfig::default()).unwrap();
        assert_eq!(s, Segments { train: 67..6_924, validation: 6_992..8_461, test: 8_529..9_999, embargo: 68 });
        // And the same cuts (or the same shortfall) as the old code everywhere.
        let configs = [
            SplitConfig::default(),
            SplitConfig { train: 0.6, validation: 0.2, embargo: Some(0), ..SplitConfig::default() },
            SplitConfig { train: 0.5, validation: 0.01, embargo: Some(7), ..SplitConfig::default() },
            SplitConfig { train: 0.8, validation: 0.19, embargo: Some(300), ..SplitConfig::default() },
        ];
        for cfg in &configs {
            for bars in (0..3_000).chain((3_000..100_001).step_by(997)) {
                for (warmup, lookback, window, min_train) in [(64, 64, 4, 256), (0, 0, 1, 1), (100, 64, 16, 64)] {
                    let new = split(bars, warmup, lookback, window, min_train, cfg);
                    match split_before_folds(bars, warmup, lookback, window, min_train, cfg) {
                        Ok(old) => assert_eq!(new, Ok(old), "{bars} bars, {cfg:?}"),
                        Err(needed) => {
                            assert_eq!(new, Err(SplitShortfall::TooFewBars { needed }), "{bars} bars, {cfg:?}")
                        }
                    }
                }
            }
        }
    }

    /// Every fold of a `folds`-fold layout over `bars` bars (warm-up 64, look-back 64, window 4,
    /// at least 256 training bars).
    fn folds(bars: usize, folds: usize, oos_fraction: f64, embargo: Option<usize>) -> Vec<Segments> {
        (0..folds)
            .map(|fold| {
                let cfg = SplitConfig { folds, fold, oos_fraction, embargo, ..SplitConfig::default() };
                split(bars, 64, 64, 4, 256, &cfg).unwrap_or_else(|e| panic!("fold {fold} of {folds}: {e:?}"))
            })
            .collect()
    }

    #[test]
    fn walk_forward_test_slices_are_consecutive_disjoint_and_cover_the_last_oos_fraction() {
        for (bars, k, f, embargo) in [
            (10_000, 4, 0.4, None),
            (10_000, 2, 0.4, Some(0)),
            (35_087, 5, 0.3, None),
            (100_000, 64, 0.5, Some(12)),
            (7_001, 3, 0.61, None),
        ] {
            let layout = folds(bars, k, f, embargo);
            let first = 67;
            let n = bars - 1 - first;
            let oos = (n as f64 * f).floor() as usize;
            assert_eq!(layout[0].test.start, bars - 1 - oos, "the slices start where the last {f} begins");
            assert_eq!(layout[k - 1].test.end, bars - 1, "the last slice ends at the last decision bar");
            for pair in layout.windows(2) {
                assert_eq!(pair[0].test.end, pair[1].test.start, "consecutive, no gap, no overlap");
            }
            let covered: usize = layout.iter().map(|s| s.test.len()).sum();
            assert_eq!(covered, oos);
            let (shortest, longest) = (
                layout.iter().map(|s| s.test.len()).min().unwrap(),
                layout.iter().map(|s| s.test.len()).max().unwrap(),
            );
            assert!(longest - shortest <= 1, "slices of {shortest}..={longest} bars");
        }
    }

    #[test]
    fn each_fold_is_embargoed_and_never_trains_or_validates_on_its_own_test_bars() {
        for (bars, k, embargo) in
            [(10_000, 4, None), (20_000, 8, Some(1)), (10_000, 3, Some(0)), (50_000, 5, Some(500))]
        {
            let layout = folds(bars, k, 0.4, embargo);
            let e = embargo.unwrap_or(68);
            for (fold, s) in layout.iter().enumerate() {
                assert_eq!(s.embargo, e);
                assert_eq!(s.train.start, 67, "an expanding window from the first decision bar");
                assert_eq!(s.train.end + e, s.validation.start, "fold {fold}: embargo after training");
                assert_eq!(s.validation.end + e, s.test.start, "fold {fold}: embargo before the test");
                assert_eq!(s.validation.len(), s.test.len(), "fold {fold}: validation as long as its test slice");
                // A decision range a..b trades on the prices of bars a..=b: with an embargo of
                // at least one bar no price is shared; without one, the segments still share
                // only the boundary bar's close as the next segment's first observation.
                for bar in s.test.clone() {
                    assert!(!s.train.contains(&bar) && !s.validation.contains(&bar), "fold {fold}: bar {bar}");
                }
                if e > 0 {
                    assert!(s.train.end < s.validation.start && s.validation.end < s.test.start);
                }
            }
            for pair in layout.windows(2) {
                assert!(pair[1].train.end > pair[0].train.end, "the window expands");
            }
        }
    }

    #[test]
    fn a_fold_too_short_says_which_fold_how_many_bars_and_how_many_would_do() {
        // Fold 0's training window is the shortest.
        let cfg = SplitConfig { folds: 4, fold: 2, ..SplitConfig::default() };
        let Err(SplitShortfall::FoldTooShort { fold, segment, bars, min, needed: Some(needed) }) =
            split(700, 64, 64, 4, 256, &cfg)
        else {
            panic!("700 bars are too few for 4 folds")
        };
        assert_eq!((fold, segment, min), (0, "training", 256));
        // 632 decision bars: 252 out of sample in slices of 63, fold 0 training on 632 − 252 − 63 − 2·68.
        assert_eq!(bars, 181);
        assert!(needed > 700);
        let fits = |b| (0..4).all(|fold| split(b, 64, 64, 4, 256, &SplitConfig { fold, ..cfg.clone() }).is_ok());
        assert!(fits(needed), "{needed} bars fit every fold");
        assert!(!fits(needed - 1), "{needed} is the fewest above 700");
        // Short test slices: many folds over a small share.
        let cfg = SplitConfig { folds: 8, oos_fraction: 0.1, ..SplitConfig::default() };
        let Err(SplitShortfall::FoldTooShort { fold, segment, bars, min, needed: Some(needed) }) =
            split(3_000, 64, 64, 4, 256, &cfg)
        else {
            panic!("slices of 36 bars are too short")
        };
        assert_eq!((fold, segment, bars, min), (0, "test", 36, MIN_EVAL_BARS));
        assert!(split(needed, 64, 64, 4, 256, &cfg).is_ok());
        assert!(split(needed - 1, 64, 64, 4, 256, &cfg).is_err());
        // The fewest bars found is right across many layouts.
        for k in 2..=6 {
            for f in [0.1, 0.25, 0.4, 0.55] {
                for bars in [400, 1_000, 2_500] {
                    let cfg = SplitConfig { folds: k, oos_fraction: f, ..SplitConfig::default() };
                    if let Err(SplitShortfall::FoldTooShort { needed, .. }) = split(bars, 64, 64, 4, 256, &cfg) {
                        let needed = needed.expect("the share left to train is positive");
                        let fits = |b| {
                            (0..k).all(|fold| split(b, 64, 64, 4, 256, &SplitConfig { fold, ..cfg.clone() }).is_ok())
                        };
                        assert!(fits(needed), "{k} folds, {f}: {needed}");
                        assert!(!(bars + 1..needed).any(fits), "{k} folds, {f}: fewer than {needed} would do");
                    }
                }
            }
        }
    }

    #[test]
    fn folds_of_several_symbols_are_cut_at_the_same_instants_and_stitch_in_time() {
        let a = bars_without("A", |i| i % 7 == 3);
        let b = bars_without("B", |i| i % 5 == 1 && i < 2_000);
        let mut previous_end: Option<i64> = None;
        for fold in 0..4 {
            let mut spec = spec(&["A", "B"]);
            spec.split = SplitConfig { folds: 4, fold, ..SplitConfig::default() };
            let data = Dataset::assemble(vec![a.clone(), b.clone()], &spec).unwrap();
            let (sa, sb) = (&data.symbols[0], &data.symbols[1]);
            assert_eq!(sa.segments, sb.segments, "fold {fold}");
            assert_eq!(sa.bars.ts_ms, sb.bars.ts_ms);
            let test = &sa.segments.test;
            // The walk's returns are stamped with the bar each is earned on: t + 1 for t in test.
            let (first_ts, last_ts) = (sa.bars.ts_ms[test.start + 1], sa.bars.ts_ms[test.end]);
            if let Some(end) = previous_end {
                assert_eq!(sa.bars.ts_ms[test.start], end, "fold {fold} starts where fold {} ended", fold - 1);
            }
            assert!(first_ts <= last_ts);
            previous_end = Some(last_ts);
        }
        assert_eq!(previous_end, a.0.ts_ms.iter().rev().find(|t| b.0.ts_ms.contains(t)).copied());
    }

    #[test]
    fn a_fold_that_is_not_one_of_the_folds_is_an_error_not_a_panic() {
        let cfg = SplitConfig { folds: 3, fold: 3, ..SplitConfig::default() };
        assert_eq!(split(10_000, 64, 64, 4, 256, &cfg), Err(SplitShortfall::NoSuchFold));
        let mut spec = spec(&["A"]);
        spec.split = cfg;
        let err = Dataset::assemble(vec![bars_without("A", |_| false)], &spec).unwrap_err();
        assert_eq!(err.to_string(), "split.fold = 3 is out of range: with split.folds = 3 the folds are 0..=2");
    }

    #[test]
    fn a_data_set_too_short_for_its_folds_names_the_fold_the_bars_and_what_would_do() {
        let a = bars_without("A", |i| i >= 700);
        let mut spec = spec(&["A"]);
        spec.split = SplitConfig { folds: 4, fold: 3, ..SplitConfig::default() };
        let err = Dataset::assemble(vec![a], &spec).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "A has 700 bars, too few for walk-forward fold 0 of split.folds = 4 (the last 40 % of the history in 4 \
                 test slices; "
            ),
            "{err}"
        );
        assert!(err.contains("its training segment would have 181 bars and needs at least 256; "), "{err}");
        assert!(err.contains(" bars would fit every fold, or use fewer folds or another split.oos_fraction"), "{err}");
    }
}
