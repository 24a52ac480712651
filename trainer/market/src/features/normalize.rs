//! Z-score normalisation with statistics fitted on the training segment only.
//!
//! The statistics come from rows the model trains on; applying them to later rows never feeds
//! those rows back into the statistics, so evaluation bars cannot leak into training.

use super::{FeatureMatrix, Normalizer};

/// Normalised values are clipped to `[-CLIP, CLIP]` so rare outliers cannot dominate a net.
pub const CLIP: f32 = 5.0;
/// Columns whose standard deviation is below this (absolutely) are treated as constant.
const MIN_STD: f64 = 1e-8;
/// Columns whose standard deviation is below this fraction of `|mean|` are constant up to
/// `f32` rounding (about 6e-8 relative), and are treated as constant too.
const MIN_RELATIVE_STD: f64 = 1e-7;

impl Normalizer {
    /// Fits per-column mean and population standard deviation over the rows of `m` in
    /// `rows ∩ [m.warmup, m.rows)`: the warmup's zeros never enter the statistics.
    ///
    /// Constant columns (std below `1e-8`, or below `1e-7 * |mean|`) get std 1, so they
    /// normalise to 0 rather than to noise. Non-finite values are skipped. When no row is in
    /// range every mean is 0 and every std 1 (the identity transform).
    pub fn fit(m: &FeatureMatrix, rows: std::ops::Range<usize>) -> Normalizer {
        let cols = m.cols;
        let start = rows.start.max(m.warmup);
        let end = rows.end.min(m.rows).min(m.values.len() / cols.max(1));
        let mut count = vec![0u64; cols];
        let mut sum = vec![0.0f64; cols];
        for row in fitted_rows(m, start, end) {
            for ((c, s), &v) in count.iter_mut().zip(&mut sum).zip(row) {
                if v.is_finite() {
                    *c += 1;
                    *s += f64::from(v);
                }
            }
        }
        let mean: Vec<f64> = sum.iter().zip(&count).map(|(&s, &c)| if c > 0 { s / c as f64 } else { 0.0 }).collect();
        // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] - E[x]².
        let mut sq = vec![0.0f64; cols];
        for row in fitted_rows(m, start, end) {
            for ((q, mu), &v) in sq.iter_mut().zip(&mean).zip(row) {
                if v.is_finite() {
                    let d = f64::from(v) - mu;
                    *q += d * d;
                }
            }
        }
        let std = sq
            .iter()
            .zip(&count)
            .zip(&mean)
            .map(|((&q, &c), &mu)| {
                let s = if c > 0 { (q / c as f64).sqrt() } else { 0.0 };
                let constant = s < MIN_STD || s < MIN_RELATIVE_STD * mu.abs();
                if constant || !(s as f32).is_finite() { 1.0 } else { s as f32 }
            })
            .collect();
        Normalizer { names: m.names.clone(), mean: mean.iter().map(|&v| v as f32).collect(), std }
    }

    /// Normalises one row: `out[i] = clip((row[i] - mean[i]) / std[i], -5, 5)`, and 0 for a
    /// non-finite input (matching [`Normalizer::fit`], which skips them). Columns are matched by position; entries of `out` beyond the shorter
    /// of `row` and the fitted columns are left untouched.
    pub fn apply_row(&self, row: &[f32], out: &mut [f32]) {
        for (((o, &x), &mu), &sd) in out.iter_mut().zip(row).zip(&self.mean).zip(&self.std) {
            let z = (x - mu) / sd;
            *o = if x.is_finite() && !z.is_nan() { z.clamp(-CLIP, CLIP) } else { 0.0 };
        }
    }

    /// A normalised copy of `m`: rows from `m.warmup` on pass through [`Normalizer::apply_row`];
    /// warmup rows stay all zeros.
    pub fn apply(&self, m: &FeatureMatrix) -> FeatureMatrix {
        let mut values = vec![0.0f32; m.values.len()];
        if m.cols > 0 {
            let rows = m.values.chunks_exact(m.cols).zip(values.chunks_exact_mut(m.cols));
            for (row, out) in rows.take(m.rows).skip(m.warmup) {
                self.apply_row(row, out);
            }
        }
        FeatureMatrix { names: m.names.clone(), rows: m.rows, cols: m.cols, values, warmup: m.warmup }
    }

    /// True when this normaliser was fitted on columns with the same names, in the same
    /// order, as `m` has: the check to make before applying it to another matrix.
    pub fn matches(&self, m: &FeatureMatrix) -> bool {
        self.names == m.names
    }
}

/// Rows `start..end` of `m` as slices (none when the range is empty or `m` has no columns).
fn fitted_rows(m: &FeatureMatrix, start: usize, end: usize) -> impl Iterator<Item = &[f32]> {
    let cols = m.cols.max(1);
    let take = if m.cols == 0 { 0 } else { end.saturating_sub(start) };
    m.values.chunks_exact(cols).skip(start).take(take)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(values: Vec<f32>, cols: usize, warmup: usize) -> FeatureMatrix {
        FeatureMatrix {
            names: (0..cols).map(|i| format!("c{i}")).collect(),
            rows: values.len() / cols,
            cols,
            values,
            warmup,
        }
    }

    #[test]
    fn warmup_rows_are_excluded_from_the_fit() {
        // Column 0: warmup rows hold 1000 (would skew the mean); fitted rows 1, 3.
        let m = matrix(vec![1000.0, 7.0, 1.0, 7.0, 3.0, 7.0], 2, 1);
        let n = Normalizer::fit(&m, 0..3);
        assert_eq!(n.mean, vec![2.0, 7.0]);
        assert_eq!(n.std, vec![1.0, 1.0]);
        let mut out = [9.0; 2];
        n.apply_row(&[3.0, 7.0], &mut out);
        assert_eq!(out, [1.0, 0.0]);
    }

    #[test]
    fn empty_ranges_and_empty_matrices_give_the_identity() {
        let m = matrix(vec![1.0, 2.0, 3.0, 4.0], 2, 0);
        let n = Normalizer::fit(&m, 5..9);
        assert_eq!((n.mean.clone(), n.std.clone()), (vec![0.0, 0.0], vec![1.0, 1.0]));
        #[allow(clippy::reversed_empty_ranges)] // deliberately inverted: fit must not panic
        let inverted = Normalizer::fit(&m, 2..1);
        assert_eq!(inverted, n);
        let empty = FeatureMatrix { names: vec![], rows: 3, cols: 0, values: vec![], warmup: 0 };
        let n0 = Normalizer::fit(&empty, 0..3);
        assert!(n0.mean.is_empty());
        assert_eq!(n0.apply(&empty), empty);
    }

    #[test]
    fn constant_columns_normalise_to_zero() {
        let m = matrix(vec![123.456; 50], 1, 0);
        let n = Normalizer::fit(&m, 0..50);
        assert_eq!(n.std, vec![1.0]);
        assert!(n.apply(&m).values.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn non_finite_values_are_skipped_and_map_to_zero() {
        let m = matrix(vec![1.0, f32::NAN, 3.0, f32::INFINITY], 1, 0);
        let n = Normalizer::fit(&m, 0..4);
        assert_eq!(n.mean, vec![2.0]);
        let out = n.apply(&m).values;
        assert_eq!(out, vec![-1.0, 0.0, 1.0, 0.0]);
    }
}
