//! Integration tests of the bootstrap intervals: coverage, width, power,
//! determinism, the paired comparison and the block length they record.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skippy_eval::{
    BOOTSTRAP_METHOD, EvalConfig, EvalError, is_significant, paired_sharpe_difference, politis_white_block_len,
    sharpe_interval, sharpe_ratio,
};

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

/// An AR(1) series `x_t = φ x_{t−1} + e_t` with seeded normal innovations of
/// standard deviation 0.01.
fn ar1(n: usize, phi: f64, seed: u64) -> Vec<f64> {
    let mut x = 0.0;
    normal(n, 0.0, 0.01, seed)
        .into_iter()
        .map(|e| {
            x = phi * x + e;
            x
        })
        .collect()
}

fn hourly() -> EvalConfig {
    EvalConfig { seed: 42, ..EvalConfig::new(8760.0) }
}

#[test]
fn the_block_length_grows_with_the_autocorrelation() {
    // For an AR(1) the rule aims at (2 G² / D_SB)^(1/3) n^(1/3) with
    // G = 2 γ0 φ / (1 − φ)² and ĝ(0) = γ0 (1 + φ) / (1 − φ): for φ = 0.5,
    // (16 / 9)^(1/3) · 5000^(1/3) ≈ 20.7 bars.
    let white: Vec<f64> = (0..5).map(|seed| politis_white_block_len(&normal(5_000, 0.0, 0.01, seed))).collect();
    let ar: Vec<f64> = (0..5).map(|seed| politis_white_block_len(&ar1(5_000, 0.5, seed))).collect();
    let strong: Vec<f64> = (0..5).map(|seed| politis_white_block_len(&ar1(5_000, 0.9, seed))).collect();
    for ((w, a), s) in white.iter().zip(&ar).zip(&strong) {
        assert!((1.0..3.0).contains(w), "white noise: {white:?}");
        assert!((13.0..32.0).contains(a), "AR(1) 0.5: {ar:?}");
        assert!(s > a, "AR(1) 0.9 {strong:?} vs 0.5 {ar:?}");
    }
}

#[test]
fn intervals_record_the_block_length_they_used() {
    let noise = normal(3_000, 0.0002, 0.01, 40);
    let dependent = ar1(3_000, 0.5, 41);
    let i = sharpe_interval(&dependent, &hourly());
    assert_eq!(i.block_len, politis_white_block_len(&dependent));
    assert!(i.block_len > 5.0, "{i:?}");
    // A paired comparison takes the larger of the two lengths, whichever side it is on.
    let c = paired_sharpe_difference(&noise, &dependent, &hourly()).expect("same length");
    assert_eq!(c.interval.block_len, i.block_len);
    let c = paired_sharpe_difference(&dependent, &noise, &hourly()).expect("same length");
    assert_eq!(c.interval.block_len, i.block_len);
    // A fixed length is used as given, up to the length of the series.
    let fixed = EvalConfig { block_len: Some(7.5), ..hourly() };
    assert_eq!(sharpe_interval(&noise, &fixed).block_len, 7.5);
    let too_long = EvalConfig { block_len: Some(1e9), ..hourly() };
    assert_eq!(sharpe_interval(&noise, &too_long).block_len, 3_000.0);
    assert_eq!(sharpe_interval(&[], &hourly()).block_len, 1.0);
    assert!(BOOTSTRAP_METHOD.contains("stationary bootstrap") && BOOTSTRAP_METHOD.contains("Politis-White"));
}

#[test]
fn blocks_keep_the_coverage_that_an_iid_bootstrap_loses_on_dependent_returns() {
    // AR(1) returns with φ = 0.5 and a true Sharpe of 0: the variance of their
    // mean is 3× what independent bars would give, so single-bar resampling
    // (a fixed block length of 1) makes intervals too narrow. 200 seeded trials.
    let cfg = EvalConfig { bootstrap_samples: 200, ..hourly() };
    let trials = 200;
    let rate = |block_len: Option<f64>| {
        let covered = (0..trials)
            .filter(|&trial| {
                let r = ar1(1_000, 0.5, 5_000 + trial);
                sharpe_interval(&r, &EvalConfig { seed: trial, block_len, ..cfg }).contains(0.0)
            })
            .count();
        covered as f64 / trials as f64
    };
    let (politis_white, iid) = (rate(None), rate(Some(1.0)));
    assert!(politis_white >= 0.84, "Politis–White blocks cover 0 in {politis_white}");
    assert!(iid <= 0.8 && politis_white - iid >= 0.1, "i.i.d. {iid} vs Politis–White {politis_white}");
}

#[test]
fn a_block_length_round_trips_through_json_and_old_results_still_read() {
    let i = sharpe_interval(&ar1(1_000, 0.5, 42), &hourly());
    let json = serde_json::to_string(&i).expect("serialises");
    assert!(json.contains("\"block_len\""), "{json}");
    assert_eq!(serde_json::from_str::<skippy_eval::Interval>(&json).expect("parses"), i);
    let old: skippy_eval::Interval = serde_json::from_str(r#"{"lo":-1.5,"hi":2.0,"level":0.95}"#).expect("parses");
    assert_eq!(old.block_len, 0.0, "results written before the length was recorded");
}

#[test]
fn intervals_of_an_edgeless_strategy_cover_zero_at_their_level() {
    // i.i.d. normal returns with a true Sharpe of 0 (not demeaned: each
    // sample's own Sharpe varies). 200 seeded trials, so the count is fixed;
    // a 95% interval should hold 0 in about 190 of them (binomial sd ≈ 3).
    let cfg = EvalConfig { bootstrap_samples: 200, ..hourly() };
    let trials = 200;
    let covered = (0..trials)
        .filter(|&trial| {
            let r = normal(500, 0.0, 0.01, 1_000 + trial);
            sharpe_interval(&r, &EvalConfig { seed: trial, ..cfg }).contains(0.0)
        })
        .count();
    let rate = covered as f64 / trials as f64;
    assert!((0.89..=0.99).contains(&rate), "covered 0 in {covered} of {trials}");
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
    assert_eq!(a.block_len.to_bits(), b.block_len.to_bits());
    let dependent = ar1(5_000, 0.5, 9);
    assert_eq!(sharpe_interval(&dependent, &hourly()), sharpe_interval(&dependent, &hourly()));
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
