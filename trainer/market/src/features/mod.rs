//! Causal features computed from bars: the `price` and `microstructure` feature sets.
//!
//! # Layout
//! - [`price`]: multi-horizon returns, realised volatility, trend and momentum (8 columns).
//! - [`microstructure`]: spread, illiquidity and range-volatility estimators, activity
//!   z-scores and order flow (7 columns, plus one each for trade counts and taker volume).
//! - [`normalize`]: the [`Normalizer`], fitted on the training segment only.
//! - `rolling`: trailing-window statistics in O(1) per bar.
//! - `bar_columns`: the input columns, repaired once so no formula can index out of bounds.
//!
//! # Architecture invariants
//! - Row `t` of a [`FeatureMatrix`] depends on bars `0..=t` only: changing any later bar
//!   leaves it bit-identical (`tests/it/features.rs` checks this).
//! - Rows before [`max_lookback`] of the chosen sets are all zeros, and the matrix's
//!   `warmup` equals that number, known before any data is read.
//! - Every value is finite, whatever the input (zero volume, `high == low`, bad prices).

use serde::{Deserialize, Serialize};

use crate::BarSeries;

mod bar_columns;
pub mod microstructure;
pub mod normalize;
pub mod price;
mod rolling;

use bar_columns::BarColumns;

pub use skippy_contract::features::{FeatureError, FeatureSet, parse_feature_sets};

/// Bars of history feature set `set` needs before its first full row.
pub fn lookback(set: FeatureSet) -> usize {
    match set {
        FeatureSet::Price => price::LOOKBACK,
        FeatureSet::Microstructure => microstructure::LOOKBACK,
    }
}

/// The warmup a matrix of `sets` will have: the longest look-back among them (0 for none).
/// Known without data, so a chronological split can embargo that many bars.
pub fn max_lookback(sets: &[FeatureSet]) -> usize {
    sets.iter().map(|&s| lookback(s)).max().unwrap_or(0)
}

/// Computes the feature matrix of `series` with the columns of each set in `sets`, in the
/// order given (a set listed twice appears twice).
///
/// Row `t` uses bars `0..=t` only. Rows `t < max_lookback(sets)` are all zeros, also when
/// the series is shorter than that (then every row is zero). Values are finite `f32`s.
/// Runs in O(bars × columns).
pub fn compute(series: &BarSeries, sets: &[FeatureSet]) -> FeatureMatrix {
    let bars = BarColumns::new(series);
    let mut columns: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for set in sets {
        match set {
            FeatureSet::Price => columns.extend(price::columns(&bars)),
            FeatureSet::Microstructure => columns.extend(microstructure::columns(&bars)),
        }
    }
    let rows = bars.len();
    let cols = columns.len();
    let warmup = max_lookback(sets);
    let mut values = vec![0.0f32; rows * cols];
    for (j, (_, column)) in columns.iter().enumerate() {
        for t in warmup..rows {
            values[t * cols + j] = to_finite_f32(column[t]);
        }
    }
    FeatureMatrix { names: columns.iter().map(|(name, _)| (*name).to_string()).collect(), rows, cols, values, warmup }
}

/// `x` as an `f32`, 0 when not finite and saturated at ±`f32::MAX` when out of range.
fn to_finite_f32(x: f64) -> f32 {
    if x.is_finite() { x.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32 } else { 0.0 }
}

/// A feature matrix over a bar series: one row per bar, one column per feature.
///
/// Row `t` is computed from bars `0..=t` only. Rows before [`FeatureMatrix::warmup`]
/// lack enough history and hold zeros; nothing may train or trade on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMatrix {
    /// Column names, e.g. `ret_1`, `cs_spread`.
    pub names: Vec<String>,
    /// Number of rows (= bars).
    pub rows: usize,
    /// Number of columns (= `names.len()`).
    pub cols: usize,
    /// Row-major values, `rows * cols` long.
    pub values: Vec<f32>,
    /// First row with full history: the longest look-back of any column.
    pub warmup: usize,
}

impl FeatureMatrix {
    /// Row `t` as a slice of `cols` values.
    pub fn row(&self, t: usize) -> &[f32] {
        &self.values[t * self.cols..(t + 1) * self.cols]
    }

    /// Position of the column called `name`, if there is one.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// A copy of the column called `name` (one value per row), or `None` when there is none.
    pub fn column(&self, name: &str) -> Option<Vec<f32>> {
        let j = self.column_index(name).filter(|&j| j < self.cols)?;
        Some(self.values.chunks_exact(self.cols).take(self.rows).map(|row| row[j]).collect())
    }
}

/// Per-column mean and standard deviation, fitted on the training segment only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Column names the statistics belong to.
    pub names: Vec<String>,
    /// Per-column mean over the fitted rows.
    pub mean: Vec<f32>,
    /// Per-column standard deviation over the fitted rows (never 0).
    pub std: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serde_uses_them() {
        for set in FeatureSet::ALL {
            assert_eq!(set.name().parse::<FeatureSet>(), Ok(set));
            assert_eq!(set.to_string(), set.name());
            let json = serde_json::to_string(&set).unwrap();
            assert_eq!(json, format!("\"{}\"", set.name()));
        }
    }

    #[test]
    fn max_lookback_is_the_longest_of_the_sets() {
        assert_eq!(max_lookback(&[]), 0);
        assert_eq!(max_lookback(&[FeatureSet::Price]), price::LOOKBACK);
        assert_eq!(max_lookback(&[FeatureSet::Microstructure]), microstructure::LOOKBACK);
        assert_eq!(max_lookback(&FeatureSet::ALL), 64);
    }

    #[test]
    fn f32_conversion_is_always_finite() {
        assert_eq!(to_finite_f32(f64::NAN), 0.0);
        assert_eq!(to_finite_f32(f64::INFINITY), 0.0);
        assert_eq!(to_finite_f32(1e300), f32::MAX);
        assert_eq!(to_finite_f32(-1e300), -f32::MAX);
        assert_eq!(to_finite_f32(0.5), 0.5);
    }
}
