//! Sample statistics shared by the crate's modules: moments, the Sharpe ratio, quantiles of
//! sorted values and the rules that keep every figure finite.

/// A dispersion at or below this fraction of the largest absolute return is
/// treated as zero: it can only be floating-point noise in what is really a
/// constant series (real per-bar returns are never that uniform), and dividing
/// by it would turn rounding error into an enormous ratio.
pub(crate) const NEGLIGIBLE_DISPERSION: f64 = 1e-10;

/// Maps any `f64` onto a finite one: NaN becomes 0 and ±∞ saturate at
/// `f64::MAX` / `f64::MIN`, so a report can always be written as JSON.
pub(crate) fn finite(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(f64::MIN, f64::MAX) }
}

/// Replaces a non-finite input value (which a correct caller never produces)
/// by 0, i.e. "nothing happened in this bar".
pub(crate) fn finite_input(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Mean and sample standard deviation of a series, with degenerate cases
/// resolved: fewer than two values or a (numerically) constant series have
/// `std == 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    /// Number of values.
    pub(crate) n: usize,
    /// Arithmetic mean; 0 for an empty series.
    pub(crate) mean: f64,
    /// Sample standard deviation (divisor `n - 1`); 0 when it is undefined
    /// (`n < 2`) or negligible (see [`NEGLIGIBLE_DISPERSION`]).
    pub(crate) std: f64,
}

impl Moments {
    /// Computes the moments in two passes over `values()` (the two-pass form
    /// avoids the cancellation of the one-pass sum-of-squares formula). The
    /// closure is called twice and must yield the same values both times.
    pub(crate) fn of<I, F>(values: F) -> Self
    where
        F: Fn() -> I,
        I: Iterator<Item = f64>,
    {
        let mut n = 0usize;
        let mut sum = 0.0;
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        for v in values() {
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        if n == 0 {
            return Self { n, mean: 0.0, std: 0.0 };
        }
        let mean = finite(sum / n as f64);
        if n < 2 || min == max {
            return Self { n, mean, std: 0.0 };
        }
        let ssd: f64 = values().map(|v| (v - mean) * (v - mean)).sum();
        let std = (ssd / (n - 1) as f64).sqrt();
        let scale = min.abs().max(max.abs());
        let std = if std.is_finite() && std > NEGLIGIBLE_DISPERSION * scale { std } else { 0.0 };
        Self { n, mean, std }
    }

    /// The Sharpe ratio `mean / std × sqrt(periods)`; 0 when the standard
    /// deviation is zero (a flat policy), always finite.
    pub(crate) fn sharpe(&self, periods: f64) -> f64 {
        if self.std > 0.0 { finite(self.mean / self.std * periods.sqrt()) } else { 0.0 }
    }
}

/// The `q` quantile of sorted `values`, interpolating linearly between order
/// statistics; 0 for no values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let h = q.clamp(0.0, 1.0) * last as f64;
    let below = (h.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let (Some(&x0), Some(&x1)) = (sorted.get(below), sorted.get(above)) else {
        return 0.0;
    };
    finite(x0 + (h - below as f64) * (x1 - x0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: &[f64]) -> Moments {
        Moments::of(|| xs.iter().copied())
    }

    #[test]
    fn moments_of_a_small_series_match_hand_computation() {
        // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / 3.
        let m = moments(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.n, 4);
        assert_eq!(m.mean, 2.5);
        assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn degenerate_series_have_zero_std() {
        assert_eq!(moments(&[]).std, 0.0);
        assert_eq!(moments(&[]).mean, 0.0);
        assert_eq!(moments(&[0.3]).std, 0.0);
        assert_eq!(moments(&[0.001; 1000]).std, 0.0);
        // A "constant" series with one-ulp noise is still constant.
        let mut xs = vec![0.1 + 0.2; 999];
        xs.push(0.3);
        assert_eq!(moments(&xs).std, 0.0);
        assert_eq!(moments(&xs).sharpe(8760.0), 0.0);
    }

    #[test]
    fn finite_saturates_and_zeroes_nan() {
        assert_eq!(finite(f64::NAN), 0.0);
        assert_eq!(finite(f64::INFINITY), f64::MAX);
        assert_eq!(finite(f64::NEG_INFINITY), f64::MIN);
        assert_eq!(finite(-1.5), -1.5);
        assert_eq!(finite_input(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn huge_values_still_give_finite_moments() {
        let m = moments(&[f64::MAX, f64::MAX, -f64::MAX]);
        assert!(m.mean.is_finite() && m.std.is_finite());
        assert!(m.sharpe(8760.0).is_finite());
    }
}
