//! Causal features computed from bars: the `price` and `microstructure` feature sets.

use std::ops::Range;

use serde::{Deserialize, Serialize};

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

#[allow(dead_code)]
fn _interface(_: Range<usize>) {}
