//! The Probabilistic and the Deflated Sharpe Ratio: how likely a measured Sharpe ratio is to
//! reflect a real edge, given how long, how skewed and how fat-tailed the record is, and how
//! many things were tried before it was picked.
//!
//! # Why a Sharpe ratio needs deflating
//! A Sharpe ratio measured on `T` returns is an estimate, and an estimate of the *best* of `N`
//! strategies is biased upwards: among 100 strategies that have no edge at all, the best one
//! shows a Sharpe ratio well above 0 by luck alone. Bailey and López de Prado answer both
//! problems with one probability.
//!
//! **Probabilistic Sharpe Ratio** (Bailey & López de Prado 2012, "The Sharpe Ratio Efficient
//! Frontier"): the probability that the true Sharpe ratio exceeds a benchmark `SR*`, given the
//! estimate `SR` from `T` returns of skewness `γ₃` and kurtosis `γ₄`:
//!
//! ```text
//! PSR(SR*) = Φ( (SR − SR*) · √(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4 · SR²) )
//! ```
//!
//! The denominator is the standard error of a Sharpe ratio under non-normal returns (Mertens
//! 2002): negative skewness and fat tails (`γ₄ > 3`) widen it, so the same `SR` is less
//! convincing for a strategy that earns steadily and loses suddenly.
//!
//! **Deflated Sharpe Ratio** (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio:
//! Correcting for Selection Bias, Backtest Overfitting and Non-Normality"): the PSR against
//! the Sharpe ratio the best of `N` independent trials would show *by luck*, whose expectation
//! (from the extreme-value distribution of the maximum of `N` normals) is
//!
//! ```text
//! SR* = √V · ( (1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)) )
//! ```
//!
//! with `V` the variance of the trials' Sharpe ratios and `γ` the Euler–Mascheroni constant.
//! One trial (`N = 1`) involves no selection: `SR* = 0` and the DSR is `PSR(0)`, the
//! probability that the Sharpe ratio is above zero at all. The DSR falls as `N` grows: the
//! more was tried, the higher the bar.
//!
//! # Conventions
//! - Every Sharpe ratio *inside* these formulas is **per period** (per bar), not annualised:
//!   divide an annualised ratio by `√(bars per year)` and an annualised variance by the bars
//!   per year. The structs here hold per-period figures.
//! - `SR` is the mean over the sample standard deviation (divisor `T − 1`), as everywhere in
//!   this crate; skewness and kurtosis are the moment estimates `m₃/m₂^{3/2}` and `m₄/m₂²`
//!   (divisor `T`). Kurtosis is the plain one: 3 for normal returns (excess kurtosis 0).
//! - A series that does not vary has `SR = 0`, and is taken to be normal (`γ₃ = 0`, `γ₄ = 3`).
//!
//! # The paper's example
//! `N = 100` trials whose annualised Sharpe ratios vary with `V = 1/2`; the best shows an
//! annualised 2.5 over `T = 1,250` daily returns (250 a year) with `γ₃ = −3`, `γ₄ = 10`. Per
//! day: `SR = 2.5/√250 ≈ 0.1581`, `V = 0.5/250`, so `SR* ≈ 0.1132` (an annualised 1.79 is what
//! the best of 100 would show by luck) and `DSR ≈ 0.9004`: a 10 % chance that the edge is luck,
//! not enough at the 95 % level, although the undeflated `PSR(0)` is 0.999997. The tests
//! pin this example, to SciPy's figures.

use crate::normal;
use crate::stats::{Moments, finite, finite_input};

/// The Euler–Mascheroni constant γ.
pub const EULER_MASCHERONI: f64 = 0.577_215_664_901_532_9;

/// What the PSR needs to know of a return series: its length, per-period Sharpe ratio,
/// skewness and kurtosis (see the module's conventions); [`return_shape`] measures it. The
/// contract's, as reports write it.
pub use skippy_contract::experiment::ReturnShape;

/// The shape of `returns` (per-period log returns; non-finite values count as 0).
pub fn return_shape(returns: &[f64]) -> ReturnShape {
    let values = || returns.iter().copied().map(finite_input);
    let moments = Moments::of(values);
    let normal = ReturnShape { observations: moments.n, sharpe: 0.0, skewness: 0.0, kurtosis: 3.0 };
    if moments.std == 0.0 {
        return normal;
    }
    let n = moments.n as f64;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for r in values() {
        let d = r - moments.mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
    ReturnShape {
        observations: moments.n,
        sharpe: moments.sharpe(1.0),
        skewness: finite(m3 / m2.powf(1.5)),
        kurtosis: finite(m4 / (m2 * m2)),
    }
}

/// The Probabilistic Sharpe Ratio `PSR(benchmark)`: the probability that the true per-period
/// Sharpe ratio of the series of `shape` exceeds `benchmark` (per period). See the module docs.
///
/// Fewer than two returns say nothing: 0.5. Always in `[0, 1]`.
pub fn probabilistic_sharpe_ratio(shape: &ReturnShape, benchmark: f64) -> f64 {
    if shape.observations < 2 || !benchmark.is_finite() {
        return 0.5;
    }
    let sr = shape.sharpe;
    // `1 − γ₃·SR + (γ₄ − 1)/4 · SR²` is never negative for moment estimates (γ₄ ≥ γ₃² + 1);
    // only rounding could make it so.
    let variance = (1.0 - shape.skewness * sr + (shape.kurtosis - 1.0) / 4.0 * sr * sr).max(f64::MIN_POSITIVE);
    let z = (sr - benchmark) * ((shape.observations - 1) as f64).sqrt() / variance.sqrt();
    if z.is_nan() { 0.5 } else { normal::cdf(z) }
}

/// The expected maximum of the per-period Sharpe ratios of `trials` independent trials whose
/// Sharpe ratios have variance `sharpe_variance` (per period) and no edge: the `SR*` of the
/// Deflated Sharpe Ratio. 0 for one trial (or none, or a variance that is not positive).
pub fn expected_maximum_sharpe(trials: usize, sharpe_variance: f64) -> f64 {
    if trials < 2 || !(sharpe_variance.is_finite() && sharpe_variance > 0.0) {
        return 0.0;
    }
    let n = trials as f64;
    let g = EULER_MASCHERONI;
    let z = (1.0 - g) * normal::quantile(1.0 - 1.0 / n) + g * normal::quantile(1.0 - 1.0 / (n * std::f64::consts::E));
    finite(sharpe_variance.sqrt() * z)
}

/// The sample variance (divisor `n − 1`) of the trials' per-period Sharpe ratios, the `V` of
/// [`expected_maximum_sharpe`]; 0 for fewer than two. Non-finite values count as 0.
pub fn sharpe_variance(per_period_sharpes: &[f64]) -> f64 {
    let m = Moments::of(|| per_period_sharpes.iter().copied().map(finite_input));
    m.std * m.std
}

/// A Deflated Sharpe Ratio with what it was computed from, as a report records it: the
/// contract's.
pub use skippy_contract::experiment::DeflatedSharpe;

/// The Deflated Sharpe Ratio of `returns` (per-period log returns) picked as the best of
/// `trials` trials whose per-period Sharpe ratios vary with variance `sharpe_variance`
/// ([`sharpe_variance`] computes it from the trials' ratios).
pub fn deflated_sharpe_ratio(returns: &[f64], trials: usize, sharpe_variance: f64) -> DeflatedSharpe {
    deflated_sharpe_of(return_shape(returns), trials, sharpe_variance)
}

/// [`deflated_sharpe_ratio`] of a series known only by its `shape`.
pub fn deflated_sharpe_of(shape: ReturnShape, trials: usize, sharpe_variance: f64) -> DeflatedSharpe {
    let trials = trials.max(1);
    let sharpe_variance = if sharpe_variance.is_finite() { sharpe_variance.max(0.0) } else { 0.0 };
    let benchmark = expected_maximum_sharpe(trials, sharpe_variance);
    DeflatedSharpe {
        shape,
        trials,
        sharpe_variance,
        benchmark,
        probability: probabilistic_sharpe_ratio(&shape, benchmark),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_example() {
        // Bailey & López de Prado (2014), section 5: SR 2.5 annualised, N = 100, V = 1/2
        // annualised, T = 1,250 daily returns, skewness −3, kurtosis 10.
        let days = 250.0_f64;
        let shape = ReturnShape { observations: 1250, sharpe: 2.5 / days.sqrt(), skewness: -3.0, kurtosis: 10.0 };
        let dsr = deflated_sharpe_of(shape, 100, 0.5 / days);
        assert!((dsr.benchmark - PAPER_BENCHMARK).abs() < 1e-14, "SR* = {}", dsr.benchmark);
        assert!((dsr.probability - PAPER_DSR).abs() < 1e-13, "DSR = {}", dsr.probability);
        // The paper's rounded figures.
        assert_eq!(format!("{:.4}", dsr.benchmark), "0.1132");
        assert_eq!(format!("{:.4}", dsr.probability), "0.9004");
        assert!(probabilistic_sharpe_ratio(&shape, 0.0) > 0.999_99, "undeflated, it looks certain");
    }

    #[test]
    fn psr_and_dsr_match_scipy() {
        for &(n, sr, skew, kurt, benchmark, want) in PSR_CASES {
            let shape = ReturnShape { observations: n, sharpe: sr, skewness: skew, kurtosis: kurt };
            let got = probabilistic_sharpe_ratio(&shape, benchmark);
            assert!((got - want).abs() < 1e-13, "PSR{:?} at {benchmark}: {got} against {want}", shape);
        }
        for &(trials, variance, want) in EXPECTED_MAXIMA {
            let got = expected_maximum_sharpe(trials, variance);
            assert!((got - want).abs() < 1e-13 * want.abs().max(1.0), "SR*({trials}, {variance}) = {got}, not {want}");
        }
    }

    #[test]
    fn the_shape_of_a_series_matches_scipy() {
        let returns = reference_returns();
        let shape = return_shape(&returns);
        assert_eq!(shape.observations, returns.len());
        assert!((shape.sharpe - SERIES_SHARPE).abs() < 1e-13, "{}", shape.sharpe);
        assert!((shape.skewness - SERIES_SKEWNESS).abs() < 1e-12, "{}", shape.skewness);
        assert!((shape.kurtosis - SERIES_KURTOSIS).abs() < 1e-12, "{}", shape.kurtosis);
        let dsr = deflated_sharpe_ratio(&returns, 20, 0.002);
        assert!((dsr.probability - SERIES_DSR).abs() < 1e-12, "{}", dsr.probability);
    }

    #[test]
    fn one_trial_has_no_selection_to_deflate() {
        let returns = reference_returns();
        for variance in [0.0, 1e-4, 0.5] {
            let dsr = deflated_sharpe_ratio(&returns, 1, variance);
            assert_eq!(dsr.benchmark, 0.0);
            assert_eq!(dsr.probability, probabilistic_sharpe_ratio(&return_shape(&returns), 0.0));
        }
        assert_eq!(deflated_sharpe_ratio(&returns, 0, 0.5).trials, 1, "no trials counts as one");
    }

    #[test]
    fn the_more_trials_the_higher_the_bar_and_the_lower_the_dsr() {
        let returns = reference_returns();
        for variance in [1e-6, 1e-4, 2e-3] {
            let mut previous = deflated_sharpe_ratio(&returns, 1, variance);
            for trials in (2..=20).chain([50, 100, 1_000, 10_000, 1_000_000]) {
                let dsr = deflated_sharpe_ratio(&returns, trials, variance);
                assert!(dsr.benchmark > previous.benchmark, "SR* rises with N: {trials} trials, V {variance}");
                assert!(dsr.probability <= previous.probability, "DSR falls with N: {trials} trials, V {variance}");
                previous = dsr;
            }
        }
        // And with the spread of the trials: a wider spread makes luck go further.
        let narrow = deflated_sharpe_ratio(&returns, 10, 1e-5);
        let wide = deflated_sharpe_ratio(&returns, 10, 1e-3);
        assert!(wide.benchmark > narrow.benchmark && wide.probability < narrow.probability);
    }

    #[test]
    fn psr_rises_with_the_sharpe_ratio_and_the_length_and_is_even_at_the_benchmark() {
        let shape = |n, sr| ReturnShape { observations: n, sharpe: sr, skewness: -0.5, kurtosis: 6.0 };
        assert_eq!(probabilistic_sharpe_ratio(&shape(500, 0.07), 0.07), 0.5);
        let mut previous = 0.0;
        for i in -20..=20 {
            let psr = probabilistic_sharpe_ratio(&shape(500, i as f64 / 100.0), 0.0);
            assert!(psr > previous && (0.0..=1.0).contains(&psr));
            previous = psr;
        }
        let short = probabilistic_sharpe_ratio(&shape(100, 0.05), 0.0);
        let long = probabilistic_sharpe_ratio(&shape(10_000, 0.05), 0.0);
        assert!(long > short);
        // Negative skewness and fat tails make the same Sharpe ratio less convincing.
        let normal = ReturnShape { observations: 500, sharpe: 0.1, skewness: 0.0, kurtosis: 3.0 };
        let crashy = ReturnShape { skewness: -2.0, kurtosis: 12.0, ..normal };
        assert!(probabilistic_sharpe_ratio(&crashy, 0.0) < probabilistic_sharpe_ratio(&normal, 0.0));
    }

    #[test]
    fn degenerate_series_say_nothing_and_stay_finite() {
        for returns in [vec![], vec![0.01], vec![0.002; 300], vec![f64::NAN, f64::INFINITY, 0.0]] {
            let dsr = deflated_sharpe_ratio(&returns, 10, 1e-3);
            assert_eq!(dsr.shape.sharpe, 0.0);
            assert!(dsr.probability <= 0.5, "{returns:?}: {}", dsr.probability);
            assert!(serde_json::to_string(&dsr).is_ok());
        }
        assert_eq!(expected_maximum_sharpe(10, f64::NAN), 0.0);
        assert_eq!(expected_maximum_sharpe(10, -1.0), 0.0);
        assert_eq!(sharpe_variance(&[0.1]), 0.0);
        assert!((sharpe_variance(&[0.1, 0.2, 0.3]) - 0.01).abs() < 1e-15);
    }

    /// The series of `tests/data/deflated_sharpe_reference.py`: returns with an edge, negative
    /// skewness and fat tails, from a formula any language reproduces exactly.
    fn reference_returns() -> Vec<f64> {
        (0..2_000)
            .map(|t| {
                let t = t as f64;
                let wave = 0.004 * (0.37 * t).sin() + 0.003 * (1.91 * t).cos();
                let crash = if (t as u64) % 97 == 13 { -0.03 } else { 0.0 };
                0.0012 + wave + crash
            })
            .collect()
    }

    // Generated by `python3 trainer/eval/tests/data/deflated_sharpe_reference.py` (SciPy 1.17.1, mpmath 1.3.0).
    const PAPER_BENCHMARK: f64 = 0.11317200186513214;
    const PAPER_DSR: f64 = 0.9003968344493903;
    const PSR_CASES: &[(usize, f64, f64, f64, f64, f64)] = &[
        (24, 0.458, -2.448, 10.164, 0.0, 0.913361083860933),
        (1250, 0.1, 0.0, 3.0, 0.0, 0.9997885119312112),
        (1250, 0.1, 0.0, 3.0, 0.05, 0.9610209524228209),
        (500, -0.05, 0.5, 4.0, 0.0, 0.13518677028460635),
        (10000, 0.01, -1.0, 20.0, 0.02, 0.1599280714275303),
        (17520, 0.03, -0.2, 9.0, 0.012, 0.9911833802911132),
    ];
    const EXPECTED_MAXIMA: &[(usize, f64, f64)] = &[
        (2, 1.0, 0.5197553442805939),
        (10, 1.0, 1.57459830134575),
        (100, 1.0, 2.5306028932016846),
        (1000, 0.25, 1.6275607568263615),
        (100, 0.002, 0.11317200186513214),
        (7, 3e-05, 0.007595676546557498),
    ];
    const SERIES_SHARPE: f64 = 0.1904510781120603;
    const SERIES_SKEWNESS: f64 = -2.670394586118265;
    const SERIES_KURTOSIS: f64 = 19.016756117141142;
    const SERIES_DSR: f64 = 0.9998669073025985;
}
