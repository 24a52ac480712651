//! Seeded synthetic markets: one with a planted, learnable edge, one pure random walk.
//!
//! `SYN-EDGE` switches between two hidden regimes (a Markov chain, mean stay 400 bars):
//! a high-volatility *momentum* regime where the next bar's log return is `+φ` times the
//! last one, and a low-volatility *mean-reversion* regime where it is `-φ` times it. Shocks
//! are Student-t (fat tails) scaled by a GARCH(1,1) variance (volatility clustering); volume
//! rises with volatility; OHLC is consistent (open = previous close, high/low enclose both).
//! Because the regimes differ in volatility, the edge is learnable from causal features.
//!
//! `SYN-RW` is a pure random walk: i.i.d. Gaussian log returns at constant volatility, no edge.
//!
//! The generator knows the true conditional mean of every next return, so it can report the
//! best achievable Sharpe of the informed policy `sign(E[r_{t+1} | regime, r_t])` on any bars.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, StudentT};

use crate::BarSeries;
use crate::accounting::{cost_growth, log_growth, position_growth};

/// Which synthetic market to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticKind {
    /// Two hidden regimes (momentum / mean reversion) with a planted edge.
    Regimes,
    /// I.i.d. returns, no edge at all.
    RandomWalk,
}

/// Everything that determines a synthetic market.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Symbol name given to the series.
    pub symbol: String,
    /// The market's structure.
    pub kind: SyntheticKind,
    /// Number of bars.
    pub bars: usize,
    /// RNG seed: same spec, same bars.
    pub seed: u64,
    /// Bar interval in milliseconds (default 30 minutes, like the shipped data).
    pub interval_ms: i64,
    /// AR(1) coefficient magnitude of the planted edge (`Regimes` only).
    pub phi: f64,
}

/// Default number of bars of the named synthetic symbols (about 1.1 years of 30-minute bars).
pub const DEFAULT_BARS: usize = 100_000;
/// Default seed of the named synthetic symbols.
pub const DEFAULT_SEED: u64 = 7;

impl SyntheticSpec {
    /// The spec behind a catalog name: `SYN-EDGE` or `SYN-RW` (case-insensitive).
    pub fn named(symbol: &str) -> Option<SyntheticSpec> {
        let kind = match symbol.to_ascii_uppercase().as_str() {
            "SYN-EDGE" => SyntheticKind::Regimes,
            "SYN-RW" => SyntheticKind::RandomWalk,
            _ => return None,
        };
        Some(SyntheticSpec {
            symbol: symbol.to_ascii_uppercase(),
            kind,
            bars: DEFAULT_BARS,
            seed: DEFAULT_SEED,
            interval_ms: 30 * 60 * 1000,
            phi: 0.25,
        })
    }
}

/// The names of the synthetic symbols the catalog serves.
pub const SYMBOLS: [&str; 2] = ["SYN-EDGE", "SYN-RW"];

/// A generated market and what the generator knows about it.
#[derive(Debug, Clone)]
pub struct SyntheticMarket {
    /// The bars.
    pub series: BarSeries,
    /// Hidden regime of each bar (0 = momentum, 1 = mean reversion; always 0 for a random walk).
    pub regimes: Vec<u8>,
    /// True conditional mean of the log return of bar `t + 1`, known at bar `t`'s close.
    pub expected_next_return: Vec<f64>,
}

impl SyntheticMarket {
    /// Per-bar net log returns of the informed policy over bars `range`: at each close it
    /// moves to `sign(E[r_{t+1}])` when `|E[r_{t+1}]|` exceeds `threshold` (and otherwise
    /// keeps its position, saving the cost of trading on a weak signal), paying `cost` per
    /// unit of position change. One value per bar transition inside `range`.
    pub fn informed_returns(&self, range: std::ops::Range<usize>, cost: f64, threshold: f64) -> Vec<f64> {
        let close = &self.series.close;
        let end = range.end.min(close.len());
        let mut out = Vec::with_capacity(end.saturating_sub(range.start));
        let mut position = 0.0;
        for t in range.start..end.saturating_sub(1) {
            let mu = self.expected_next_return[t];
            let target = if mu.abs() > threshold { mu.signum() } else { position };
            // Priced exactly, as the environment prices the agent (`crate::accounting`).
            let growth = cost_growth(cost, target - position) * position_growth(target, close[t + 1] / close[t]);
            out.push(log_growth(growth));
            position = target;
        }
        out
    }
}

/// Signal thresholds, as multiples of the cost, over which the best informed policy is sought
/// (0: always follow the sign; larger: trade only on strong signals).
pub const INFORMED_THRESHOLDS: [f64; 6] = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0];

/// The synthetic market for a catalog symbol name (`SYN-EDGE`, `SYN-RW`), or `None`
/// when the name is not a synthetic symbol.
pub fn generate_named(symbol: &str) -> Option<SyntheticMarket> {
    SyntheticSpec::named(symbol).map(|spec| generate(&spec))
}

/// Generates the market a spec describes. Deterministic in the spec.
pub fn generate(spec: &SyntheticSpec) -> SyntheticMarket {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let n = spec.bars;
    // Student-t with 5 degrees of freedom has variance 5/3: scale shocks to unit variance.
    let student = StudentT::new(5.0).expect("5 degrees of freedom is valid");
    let t_scale = (3.0f64 / 5.0).sqrt();
    let start_ms: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z

    let (phi, vol) = match spec.kind {
        SyntheticKind::Regimes => ([spec.phi, -spec.phi], [0.006, 0.003]),
        SyntheticKind::RandomWalk => ([0.0, 0.0], [0.004, 0.004]),
    };
    let switch_prob = 1.0 / 400.0;
    // GARCH(1,1) on the standardised shock: variance multiplier h_t with mean 1.
    let (alpha, beta) = match spec.kind {
        SyntheticKind::Regimes => (0.08, 0.90),
        SyntheticKind::RandomWalk => (0.0, 0.0),
    };

    let mut series = BarSeries {
        symbol: spec.symbol.clone(),
        ts_ms: Vec::with_capacity(n),
        open: Vec::with_capacity(n),
        high: Vec::with_capacity(n),
        low: Vec::with_capacity(n),
        close: Vec::with_capacity(n),
        volume: Vec::with_capacity(n),
        trades: None,
        taker_buy_volume: None,
    };
    let mut regimes = Vec::with_capacity(n);
    let mut expected = Vec::with_capacity(n);

    let mut regime = 0usize;
    let mut h = 1.0f64;
    let mut last_shock = 0.0f64;
    let mut last_ret = 0.0f64;
    let mut price = 20_000.0f64;
    for i in 0..n {
        if i > 0 && rng.random::<f64>() < switch_prob {
            regime = 1 - regime;
        }
        h = (1.0 - alpha - beta) + alpha * last_shock * last_shock + beta * h;
        let sigma = vol[regime] * h.sqrt();
        let shock = match spec.kind {
            SyntheticKind::Regimes => student.sample(&mut rng) * t_scale,
            SyntheticKind::RandomWalk => StandardNormal.sample(&mut rng),
        };
        let ret = if i == 0 { 0.0 } else { phi[regime] * last_ret + sigma * shock };
        let open = price;
        price *= ret.exp();
        let close = price;
        let wick_up: f64 = StandardNormal.sample(&mut rng);
        let wick_down: f64 = StandardNormal.sample(&mut rng);
        let high = open.max(close) * (0.5 * sigma * wick_up.abs()).exp();
        let low = open.min(close) * (-0.5 * sigma * wick_down.abs()).exp();
        let vol_noise: f64 = StandardNormal.sample(&mut rng);
        let volume = 100.0 * (sigma / 0.004).powf(1.5) * (0.3 * vol_noise).exp();

        series.ts_ms.push(start_ms + i as i64 * spec.interval_ms);
        series.open.push(open);
        series.high.push(high);
        series.low.push(low);
        series.close.push(close);
        series.volume.push(volume);
        regimes.push(regime as u8);
        // The regime persists to the next bar with probability 1 - switch_prob.
        let stay = 1.0 - switch_prob;
        expected.push((stay * phi[regime] + switch_prob * phi[1 - regime]) * ret);

        last_shock = shock;
        last_ret = ret;
    }
    SyntheticMarket { series, regimes, expected_next_return: expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sharpe(r: &[f64]) -> f64 {
        let n = r.len() as f64;
        let m = r.iter().sum::<f64>() / n;
        let v = r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        m / v.sqrt()
    }

    #[test]
    fn same_spec_same_bars() {
        let a = generate_named("SYN-EDGE").unwrap();
        let b = generate_named("syn-edge").unwrap();
        assert_eq!(a.series, b.series);
        assert_eq!(a.series.len(), DEFAULT_BARS);
        assert!(generate_named("BTC").is_none());
    }

    #[test]
    fn ohlc_is_consistent_and_positive() {
        for name in SYMBOLS {
            let m = generate_named(name).unwrap();
            let s = &m.series;
            for i in 0..s.len() {
                assert!(s.low[i] > 0.0);
                assert!(s.high[i] >= s.open[i].max(s.close[i]));
                assert!(s.low[i] <= s.open[i].min(s.close[i]));
                assert!(s.volume[i] > 0.0);
                if i > 0 {
                    assert_eq!(s.open[i], s.close[i - 1]);
                }
            }
        }
    }

    #[test]
    fn planted_edge_is_real_and_random_walk_has_none() {
        let edge = generate_named("SYN-EDGE").unwrap();
        let rw = generate_named("SYN-RW").unwrap();
        let per_bar = sharpe(&edge.informed_returns(0..DEFAULT_BARS, 0.0005, 0.0));
        assert!(per_bar > 0.05, "informed per-bar Sharpe {per_bar}");
        // The random walk's informed policy is always flat: no edge to report.
        assert!(rw.expected_next_return.iter().all(|&e| e == 0.0));
    }

    #[test]
    fn returns_are_fat_tailed_and_volatility_clusters() {
        let m = generate_named("SYN-EDGE").unwrap();
        let c = &m.series.close;
        let r: Vec<f64> = c.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let kurt = r.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n / (var * var);
        assert!(kurt > 4.0, "kurtosis {kurt} should exceed the normal's 3");
        let a: Vec<f64> = r.iter().map(|x| x.abs()).collect();
        let am = a.iter().sum::<f64>() / n;
        let cov: f64 = a.windows(2).map(|w| (w[0] - am) * (w[1] - am)).sum::<f64>() / n;
        let av = a.iter().map(|x| (x - am).powi(2)).sum::<f64>() / n;
        assert!(cov / av > 0.1, "|r| autocorrelation {} shows no clustering", cov / av);
    }
}
