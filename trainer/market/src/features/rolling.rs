//! Trailing-window sums, means, variances and covariances in O(1) per bar.
//!
//! Every function returns one value per input index. Index `t` summarises the `window`
//! values ending at `t` (inclusive) and reads nothing after `t`, so the results are causal.
//! Indices `t < window - 1` hold partial-window values; callers mask them with the warmup.
//!
//! Running sums drift as values enter and leave; to keep the error bounded on long series
//! each sum is recomputed exactly once every `window` steps (an O(n) extra cost in total).
//! The recompute schedule depends only on `t`, never on the data, so causality holds.

/// Sum of the last `window` values at each index (partial sums before the window fills).
pub(super) fn sums(x: &[f64], window: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    if window == 0 {
        return out;
    }
    let mut sum = 0.0;
    for t in 0..x.len() {
        if t >= window && t % window == 0 {
            sum = x[t + 1 - window..=t].iter().sum();
        } else {
            sum += x[t];
            if t >= window {
                sum -= x[t - window];
            }
        }
        out[t] = sum;
    }
    out
}

/// Mean of the last `window` values at each index.
pub(super) fn means(x: &[f64], window: usize) -> Vec<f64> {
    let scale = 1.0 / window.max(1) as f64;
    let mut out = sums(x, window);
    for v in &mut out {
        *v *= scale;
    }
    out
}

/// Population variance of the last `window` values at each index, never negative.
pub(super) fn variances(x: &[f64], window: usize) -> Vec<f64> {
    let squares: Vec<f64> = x.iter().map(|v| v * v).collect();
    let mean = means(x, window);
    let mean_sq = means(&squares, window);
    mean.iter().zip(&mean_sq).map(|(m, m2)| (m2 - m * m).max(0.0)).collect()
}

/// Population covariance of the last `window` pairs `(x[i], y[i])` at each index.
pub(super) fn covariances(x: &[f64], y: &[f64], window: usize) -> Vec<f64> {
    let products: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let mx = means(x, window);
    let my = means(y, window);
    let mxy = means(&products, window);
    mxy.iter().zip(mx.iter().zip(&my)).map(|(p, (a, b))| p - a * b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_mean(x: &[f64], t: usize, w: usize) -> f64 {
        x[t + 1 - w..=t].iter().sum::<f64>() / w as f64
    }

    fn series(n: usize) -> Vec<f64> {
        // A deterministic, irregular sequence with both signs and a large offset.
        (0..n).map(|i| 1000.0 + ((i * 7919) % 113) as f64 * 0.37 - 20.0).collect()
    }

    #[test]
    fn rolling_means_match_naive_means() {
        let x = series(1000);
        for w in [1, 2, 5, 16, 64] {
            let m = means(&x, w);
            for (t, &mean) in m.iter().enumerate().skip(w - 1) {
                assert!((mean - naive_mean(&x, t, w)).abs() < 1e-9, "w={w} t={t}");
            }
        }
    }

    #[test]
    fn rolling_variance_and_covariance_match_naive() {
        let x = series(500);
        let y: Vec<f64> = x.iter().rev().copied().collect();
        let w = 16;
        let v = variances(&x, w);
        let c = covariances(&x, &y, w);
        for t in w - 1..x.len() {
            let mx = naive_mean(&x, t, w);
            let my = naive_mean(&y, t, w);
            let nv: f64 = x[t + 1 - w..=t].iter().map(|a| (a - mx).powi(2)).sum::<f64>() / w as f64;
            let nc: f64 = (t + 1 - w..=t).map(|i| (x[i] - mx) * (y[i] - my)).sum::<f64>() / w as f64;
            assert!((v[t] - nv).abs() < 1e-6, "variance at {t}: {} vs {nv}", v[t]);
            assert!((c[t] - nc).abs() < 1e-6, "covariance at {t}: {} vs {nc}", c[t]);
        }
    }

    #[test]
    fn constant_input_has_zero_variance_and_zero_window_is_harmless() {
        let x = vec![3.25; 300];
        assert!(variances(&x, 64)[63..].iter().all(|&v| (0.0..1e-12).contains(&v)));
        assert_eq!(sums(&x, 0), vec![0.0; 300]);
        assert!(means(&[], 4).is_empty());
    }

    #[test]
    fn a_huge_outlier_leaves_no_residue_after_it_leaves_the_window() {
        let mut x = vec![1e-3; 400];
        x[10] = 1e12;
        let w = 16;
        let v = variances(&x, w);
        // Once the outlier is out of the window and the sums were recomputed, exact zeros.
        assert!(v[3 * w..].iter().all(|&a| a < 1e-15), "residual variance {:?}", &v[3 * w..3 * w + 4]);
    }
}
