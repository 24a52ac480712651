//! Integration tests of the public metrics: hand-computed figures, annualisation,
//! degenerate inputs and the equal-weight portfolio.

use skippy_eval::{EvalConfig, Metrics, buy_and_hold, evaluate, portfolio_returns};

fn cfg(bars_per_year: f64) -> EvalConfig {
    EvalConfig { bootstrap_samples: 300, seed: 7, ..EvalConfig::new(bars_per_year) }
}

fn floats(m: &Metrics) -> [f64; 12] {
    [
        m.sharpe,
        m.sharpe_ci.lo,
        m.sharpe_ci.hi,
        m.sharpe_ci.level,
        m.sortino,
        m.max_drawdown,
        m.total_return,
        m.annual_return,
        m.annual_volatility,
        m.turnover,
        m.hit_rate,
        m.exposure,
    ]
}

#[test]
fn fractional_positions_are_counted_by_size_of_change() {
    // Half long, full long, flat, half short, half short.
    let r = [0.02, 0.01, 0.0, -0.01, 0.005];
    let p = [0.5, 1.0, 0.0, -0.5, -0.5];
    let m = evaluate(&r, &p, &cfg(365.0));
    // |Δp| = 0.5 + 0.5 + 1 + 0.5 + 0 = 2.5 over 5 bars.
    assert!((m.turnover - 2.5 / 5.0 * 365.0).abs() < 1e-12);
    assert_eq!(m.trades, 4);
    assert!((m.exposure - 0.8).abs() < 1e-12);
    // In market in bars 0, 1, 3, 4; positive net returns in 0, 1, 4.
    assert!((m.hit_rate - 0.75).abs() < 1e-12);
    // Cumulative: .02 .03 .03 .02 .025; the only fall is .03 → .02.
    assert!((m.max_drawdown - (1.0 - (-0.01f64).exp())).abs() < 1e-12);
    assert!((m.total_return - (0.025f64.exp() - 1.0)).abs() < 1e-12);
    // mean .005; deviations .015 .005 -.005 -.015 0 → ssd .0005, var .000125.
    let sharpe = 0.005 / 0.000125f64.sqrt() * 365f64.sqrt();
    assert!((m.sharpe - sharpe).abs() < 1e-9);
    // downside deviation sqrt(.0001 / 5).
    let sortino = 0.005 / (0.0001f64 / 5.0).sqrt() * 365f64.sqrt();
    assert!((m.sortino - sortino).abs() < 1e-9);
}

#[test]
fn hourly_and_daily_annualisation_differ_by_the_root_of_the_ratio() {
    let r = [0.003, -0.001, 0.002, -0.004, 0.005, 0.001, -0.002];
    let p = [1.0; 7];
    let hourly = evaluate(&r, &p, &cfg(8760.0));
    let daily = evaluate(&r, &p, &cfg(252.0));
    let factor = (8760.0f64 / 252.0).sqrt();
    assert!((hourly.sharpe / daily.sharpe - factor).abs() < 1e-12);
    assert!((hourly.sortino / daily.sortino - factor).abs() < 1e-12);
    assert!((hourly.annual_volatility / daily.annual_volatility - factor).abs() < 1e-12);
    assert!((hourly.turnover / daily.turnover - 8760.0 / 252.0).abs() < 1e-9);
    // Per-bar figures do not depend on the bar interval.
    assert_eq!(hourly.total_return, daily.total_return);
    assert_eq!(hourly.max_drawdown, daily.max_drawdown);
    assert_eq!(hourly.hit_rate, daily.hit_rate);
}

#[test]
fn zero_variance_and_empty_inputs_give_finite_zeros_that_serialise() {
    let flat = evaluate(&[0.0; 50], &[0.0; 50], &cfg(8760.0));
    let steady = buy_and_hold(&[0.001; 50], &cfg(8760.0));
    let empty = evaluate(&[], &[], &cfg(8760.0));
    for m in [&flat, &steady, &empty] {
        assert!(floats(m).iter().all(|x| x.is_finite()), "{m:?}");
        assert_eq!(m.sharpe, 0.0);
        assert_eq!(m.sortino, 0.0);
        assert_eq!((m.sharpe_ci.lo, m.sharpe_ci.hi), (0.0, 0.0));
        let json = serde_json::to_string(m).expect("finite metrics serialise");
        let back: Metrics = serde_json::from_str(&json).expect("and read back");
        assert_eq!(&back, m);
    }
    assert_eq!(empty.bars, 0);
    assert_eq!(empty.trades, 0);
    assert_eq!(flat.exposure, 0.0);
    assert!(steady.total_return > 0.0);
    assert_eq!(steady.hit_rate, 1.0);
}

#[test]
fn metrics_carry_the_bootstrap_interval_of_the_same_config() {
    let r: Vec<f64> = (0..500).map(|i| ((i * 37 % 101) as f64 - 50.0) * 1e-4).collect();
    let m = buy_and_hold(&r, &cfg(8760.0));
    assert_eq!(m.sharpe_ci, skippy_eval::sharpe_interval(&r, &cfg(8760.0)));
    assert!(m.sharpe_ci.contains(m.sharpe));
}

#[test]
fn portfolio_of_two_identical_series_is_that_series() {
    let r = [0.01, -0.03, 0.002, 0.0, 0.25, -0.4];
    assert_eq!(portfolio_returns(&[&r, &r]), r.to_vec());
    assert_eq!(portfolio_returns(&[&r]), r.to_vec());
}

#[test]
fn portfolio_of_offsetting_moves_is_rebalanced_each_bar() {
    // +10% and -10% simple returns average to 0 each bar.
    let up = [0.1f64.ln_1p(); 3];
    let down = [(-0.1f64).ln_1p(); 3];
    for r in portfolio_returns(&[&up, &down]) {
        assert!(r.abs() < 1e-15);
    }
}
