//! Integration tests of the bootstrap intervals: coverage, width, power,
//! determinism and the paired comparison.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skippy_eval::{EvalConfig, EvalError, is_significant, paired_sharpe_difference, sharpe_interval, sharpe_ratio};

/// `n` seeded normal draws with the given mean and standard deviation (Box–Muller).
fn normal(n: usize, mean: f64, std: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            mean + std * z
        })
        .collect()
}

/// `xs` shifted so that its sample mean is 0: noise with no edge at all.
fn demeaned(mut xs: Vec<f64>) -> Vec<f64> {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    xs.iter_mut().for_each(|x| *x -= mean);
    xs
}

fn hourly() -> EvalConfig {
    EvalConfig { seed: 42, ..EvalConfig::new(8760.0) }
}

#[test]
fn interval_contains_the_point_estimate() {
    for seed in 0..5 {
        let r = normal(2_000, 0.0003, 0.01, seed);
        let i = sharpe_interval(&r, &hourly());
        let s = sharpe_ratio(&r, 8760.0);
        assert!(i.contains(s), "seed {seed}: {s} outside {i:?}");
        assert_eq!(i.level, 0.95);
    }
}

#[test]
fn interval_narrows_as_the_sample_grows() {
    let short = sharpe_interval(&normal(500, 0.0005, 0.01, 1), &hourly());
    let long = sharpe_interval(&normal(20_000, 0.0005, 0.01, 1), &hourly());
    // The standard error shrinks like 1/sqrt(n): 40× the bars, about 1/6 the width.
    assert!(long.width() < short.width() / 3.0, "{short:?} vs {long:?}");
}

#[test]
fn strong_edge_excludes_zero() {
    // Per-bar Sharpe 0.1, i.e. about 9.4 a year on hourly bars.
    let r = normal(20_000, 0.001, 0.01, 3);
    let i = sharpe_interval(&r, &hourly());
    assert!(is_significant(&i) && i.lo > 0.0, "{i:?}");
    assert!(i.contains(sharpe_ratio(&r, 8760.0)));
}

#[test]
fn pure_noise_includes_zero() {
    for seed in 10..15 {
        let r = demeaned(normal(20_000, 0.0, 0.01, seed));
        let i = sharpe_interval(&r, &hourly());
        assert!(i.contains(0.0) && !is_significant(&i), "seed {seed}: {i:?}");
    }
}

#[test]
fn a_higher_level_gives_a_wider_interval() {
    let r = normal(3_000, 0.0002, 0.01, 5);
    let narrow = sharpe_interval(&r, &EvalConfig { level: 0.5, ..hourly() });
    let wide = sharpe_interval(&r, &EvalConfig { level: 0.99, ..hourly() });
    assert!(wide.lo < narrow.lo && narrow.hi < wide.hi);
    assert_eq!((narrow.level, wide.level), (0.5, 0.99));
}

#[test]
fn same_seed_gives_identical_intervals() {
    let r = normal(5_000, 0.0002, 0.01, 9);
    let a = sharpe_interval(&r, &hourly());
    let b = sharpe_interval(&r, &hourly());
    assert_eq!(a.lo.to_bits(), b.lo.to_bits());
    assert_eq!(a.hi.to_bits(), b.hi.to_bits());
    let other = sharpe_interval(&r, &EvalConfig { seed: 43, ..hourly() });
    assert_ne!(a, other);
    let p = paired_sharpe_difference(&r, &normal(5_000, 0.0, 0.01, 8), &hourly());
    let q = paired_sharpe_difference(&r, &normal(5_000, 0.0, 0.01, 8), &hourly());
    assert_eq!(p, q);
}

#[test]
fn short_series_give_degenerate_intervals() {
    for r in [vec![], vec![0.01]] {
        let i = sharpe_interval(&r, &hourly());
        assert_eq!((i.lo, i.hi), (0.0, 0.0));
        let c = paired_sharpe_difference(&r, &r, &hourly()).expect("same length");
        assert!(!c.significant);
    }
}

#[test]
fn paired_difference_of_a_series_with_itself_is_exactly_zero() {
    let r = normal(5_000, 0.0004, 0.01, 11);
    let c = paired_sharpe_difference(&r, &r, &hourly()).expect("same length");
    assert_eq!(c.difference, 0.0);
    assert_eq!((c.interval.lo, c.interval.hi), (0.0, 0.0));
    assert!(!c.significant);
}

#[test]
fn paired_test_detects_a_clearly_better_series() {
    // The same market, one strategy earning an extra 0.05% per bar on top of it.
    let market = normal(10_000, 0.0, 0.01, 12);
    let better: Vec<f64> = market.iter().map(|r| r + 0.0005).collect();
    let c = paired_sharpe_difference(&better, &market, &hourly()).expect("same length");
    assert!(c.significant && c.interval.lo > 0.0, "{c:?}");
    assert!(c.interval.contains(c.difference));
    let expected = sharpe_ratio(&better, 8760.0) - sharpe_ratio(&market, 8760.0);
    assert!((c.difference - expected).abs() < 1e-12);
    let reversed = paired_sharpe_difference(&market, &better, &hourly()).expect("same length");
    assert!(reversed.significant && reversed.interval.hi < 0.0);
}

#[test]
fn paired_test_does_not_flag_two_edgeless_series() {
    let a = demeaned(normal(10_000, 0.0, 0.01, 20));
    let b = demeaned(normal(10_000, 0.0, 0.01, 21));
    let c = paired_sharpe_difference(&a, &b, &hourly()).expect("same length");
    assert!(!c.significant, "{c:?}");
}

#[test]
fn paired_test_refuses_series_of_different_lengths() {
    let err = paired_sharpe_difference(&[0.1, 0.2, 0.3], &[0.1, 0.2], &hourly()).expect_err("lengths differ");
    assert_eq!(err, EvalError::LengthMismatch { a: 3, b: 2 });
    assert!(err.to_string().contains("3 bars"), "{err}");
}

#[test]
fn a_thousand_resamples_of_five_thousand_bars_are_fast() {
    let r = normal(5_000, 0.0002, 0.01, 30);
    let b = normal(5_000, 0.0, 0.01, 31);
    let start = Instant::now();
    let _ = sharpe_interval(&r, &hourly());
    let _ = paired_sharpe_difference(&r, &b, &hourly());
    let elapsed = start.elapsed();
    // Takes milliseconds; the bound is loose so only a gross regression
    // (allocation or quadratic work per resample) trips it.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}
