//! Feature computation as the trainer sees it: causality, finiteness, shapes, hand-checked
//! values, parsing of feature-set lists, and normalisation fitted on the training rows only.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use skippy_market::BarSeries;
use skippy_market::csv_loader::load_csv;
use skippy_market::features::{
    FeatureError, FeatureMatrix, FeatureSet, Normalizer, compute, max_lookback, parse_feature_sets,
};

const PRICE: FeatureSet = FeatureSet::Price;
const MICRO: FeatureSet = FeatureSet::Microstructure;

/// A seeded geometric random walk with consistent OHLC (open = previous close, high/low
/// enclose both), log-normal volume, and optionally trade counts and taker-buy volume.
fn random_walk(n: usize, seed: u64, trades: bool, taker: bool) -> BarSeries {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
    let mut s = BarSeries {
        symbol: "RW".into(),
        ts_ms: Vec::new(),
        open: Vec::new(),
        high: Vec::new(),
        low: Vec::new(),
        close: Vec::new(),
        volume: Vec::new(),
        trades: trades.then(Vec::new),
        taker_buy_volume: taker.then(Vec::new),
    };
    let mut price = 100.0f64;
    for i in 0..n {
        let open = price;
        price *= (0.002 * normal()).exp();
        let (hi, lo) = (open.max(price), open.min(price));
        let volume = 100.0 * (0.5 * normal()).exp();
        s.ts_ms.push(i as i64 * 300_000);
        s.open.push(open);
        s.high.push(hi * (0.001 * normal().abs()).exp());
        s.low.push(lo * (-0.001 * normal().abs()).exp());
        s.close.push(price);
        s.volume.push(volume);
        if let Some(t) = &mut s.trades {
            t.push((volume * 3.0).round());
        }
        let share = 0.5 + 0.2 * normal().tanh();
        if let Some(b) = &mut s.taker_buy_volume {
            b.push(volume * share);
        }
    }
    s
}

/// Replaces every bar after `t` with something drastically different (prices ×10 and
/// jumping, volumes 0 or ×1000, no trades, all-taker-buy), keeping the OHLC consistent.
fn scramble_after(series: &BarSeries, t: usize, seed: u64) -> BarSeries {
    let mut s = series.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in t + 1..s.len() {
        let base = series.close[i] * 10.0 * (1.0 + rng.random::<f64>());
        let close = base * (1.0 + 0.3 * rng.random::<f64>());
        s.open[i] = base;
        s.close[i] = close;
        s.high[i] = base.max(close) * 1.5;
        s.low[i] = base.min(close) * 0.5;
        s.volume[i] = if i % 3 == 0 { 0.0 } else { series.volume[i] * 1000.0 };
        if let Some(tr) = &mut s.trades {
            tr[i] = if i % 2 == 0 { 0.0 } else { 1e7 };
        }
        if let Some(b) = &mut s.taker_buy_volume {
            b[i] = s.volume[i];
        }
    }
    s
}

fn bits(m: &FeatureMatrix, t: usize) -> Vec<u32> {
    m.row(t).iter().map(|v| v.to_bits()).collect()
}

fn assert_all_finite(m: &FeatureMatrix) {
    assert_eq!(m.values.len(), m.rows * m.cols);
    for (i, v) in m.values.iter().enumerate() {
        assert!(v.is_finite(), "{} at row {} is {v}", m.names[i % m.cols], i / m.cols);
    }
}

/// A flat series of `n` bars with the given per-bar high, low, close (open = close).
fn flat_bars(n: usize, high: f64, low: f64, close: f64, volume: f64) -> BarSeries {
    BarSeries {
        symbol: "FLAT".into(),
        ts_ms: (0..n as i64).collect(),
        open: vec![close; n],
        high: vec![high; n],
        low: vec![low; n],
        close: vec![close; n],
        volume: vec![volume; n],
        trades: None,
        taker_buy_volume: None,
    }
}

fn value(m: &FeatureMatrix, name: &str, t: usize) -> f32 {
    m.column(name).unwrap_or_else(|| panic!("no column {name}"))[t]
}

#[test]
fn no_look_ahead_rows_up_to_t_are_bit_identical_when_later_bars_change() {
    let series = random_walk(2000, 1, true, true);
    for sets in [vec![PRICE], vec![MICRO], vec![PRICE, MICRO]] {
        let full = compute(&series, &sets);
        for t in [0, 10, 32, 63, 64, 65, 100, 777, 1500, 1998] {
            let changed = compute(&scramble_after(&series, t, t as u64), &sets);
            let truncated = compute(&series.slice(0..t + 1), &sets);
            for i in 0..=t {
                assert_eq!(bits(&full, i), bits(&changed, i), "{sets:?}: row {i}, changed after {t}");
                assert_eq!(bits(&full, i), bits(&truncated, i), "{sets:?}: row {i}, cut after {t}");
            }
            // The scrambled bars do change the later rows: the test has teeth.
            if t + 1 >= full.warmup && t + 1 < full.rows {
                assert_ne!(bits(&full, t + 1), bits(&changed, t + 1), "{sets:?}: row {}", t + 1);
            }
        }
    }
}

#[test]
fn values_are_finite_with_zero_volume_flat_bars_and_zero_trades() {
    let mut s = random_walk(600, 2, true, true);
    // A stretch of zero-volume bars with no trades, then a long stretch of frozen bars
    // (high == low == open == close), long enough to fill every window with constants.
    for i in 100..180 {
        s.volume[i] = 0.0;
        s.trades.as_mut().unwrap()[i] = 0.0;
        s.taker_buy_volume.as_mut().unwrap()[i] = 0.0;
    }
    let frozen = s.close[199];
    for i in 200..400 {
        s.open[i] = frozen;
        s.high[i] = frozen;
        s.low[i] = frozen;
        s.close[i] = frozen;
    }
    let m = compute(&s, &[PRICE, MICRO]);
    assert_all_finite(&m);
    // Deep inside the frozen stretch every volatility and spread estimate is exactly 0.
    for name in ["ret_1", "vol_16", "vol_64", "mom_ratio_16", "cs_spread"] {
        assert_eq!(value(&m, name, 399), 0.0, "{name}");
    }
    // The 32-bar mean of equal closes is the close up to one rounding of the sum.
    assert!(value(&m, "trend_32", 399).abs() < 1e-12);
    for name in ["roll_spread", "parkinson_vol", "gk_vol", "clv"] {
        assert_eq!(value(&m, name, 399), 0.0, "{name}");
    }
    // Sixty-four zero-volume bars in a row: constant log volume, z-score 0; imbalance 0.
    assert_eq!(value(&m, "volume_z", 170), 0.0);
    assert_eq!(value(&m, "trades_z", 170), 0.0);
    assert_eq!(value(&m, "taker_imbalance", 150), 0.0);
    assert_eq!(value(&m, "amihud", 170), 0.0);
}

#[test]
fn malformed_series_never_panic_and_give_finite_values() {
    let mut s = random_walk(300, 3, true, true);
    s.close[120] = 0.0;
    s.close[121] = -5.0;
    s.close[122] = f64::NAN;
    s.high[130] = f64::INFINITY;
    s.low[131] = 0.0;
    s.high[132] = 1.0; // below the low
    s.volume[140] = f64::NAN;
    s.volume[141] = -3.0;
    s.volume[142] = 1e300;
    s.trades.as_mut().unwrap()[150] = f64::INFINITY;
    s.taker_buy_volume.as_mut().unwrap()[160] = 1e9;
    s.open.truncate(250); // columns of the wrong length
    s.trades.as_mut().unwrap().truncate(10);
    let m = compute(&s, &[PRICE, MICRO]);
    assert_eq!((m.rows, m.cols), (300, 17));
    assert_all_finite(&m);

    for n in [0, 1, 2, 63, 64, 65] {
        let short = random_walk(n, 4, true, true);
        let m = compute(&short, &[MICRO, PRICE]);
        assert_eq!((m.rows, m.cols, m.warmup), (n, 17, 64));
        assert_all_finite(&m);
        assert!(m.values[..m.warmup.min(n) * m.cols].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn column_counts_and_order_follow_the_sets_and_optional_columns() {
    let price_names = ["ret_1", "ret_4", "ret_16", "ret_64", "vol_16", "vol_64", "trend_32", "mom_ratio_16"];
    let base = ["cs_spread", "roll_spread", "amihud", "parkinson_vol", "gk_vol", "volume_z", "clv"];
    let plain = random_walk(200, 5, false, false);
    assert_eq!(compute(&plain, &[PRICE]).names, price_names);
    assert_eq!(compute(&plain, &[MICRO]).names, base);

    let both = compute(&random_walk(200, 5, true, true), &[MICRO]);
    assert_eq!(both.cols, 9);
    assert_eq!(&both.names[..7], base);
    assert_eq!(&both.names[7..], ["trades_z", "taker_imbalance"]);
    assert_eq!(compute(&random_walk(200, 5, true, false), &[MICRO]).names.last().unwrap(), "trades_z");
    assert_eq!(compute(&random_walk(200, 5, false, true), &[MICRO]).cols, 8);

    let micro_first = compute(&plain, &[MICRO, PRICE]);
    assert_eq!(micro_first.cols, 15);
    assert_eq!(micro_first.names[0], "cs_spread");
    assert_eq!(micro_first.names[7], "ret_1");
    let none = compute(&plain, &[]);
    assert_eq!((none.rows, none.cols, none.warmup), (200, 0, 0));
    assert_eq!(none.column("ret_1"), None);
}

#[test]
fn warmup_equals_max_lookback_and_rows_before_it_are_zero() {
    let s = random_walk(500, 6, true, true);
    for sets in [vec![PRICE], vec![MICRO], vec![PRICE, MICRO], vec![MICRO, PRICE], vec![]] {
        let m = compute(&s, &sets);
        assert_eq!(m.warmup, max_lookback(&sets), "{sets:?}");
        for t in 0..m.warmup {
            assert!(m.row(t).iter().all(|&v| v == 0.0), "{sets:?}: row {t}");
        }
        // The first full row is real data: the warmup is not longer than it needs to be
        // for its longest column, which at that row has just enough history to be non-zero.
        if m.cols > 0 {
            assert!(m.row(m.warmup).iter().filter(|&&v| v != 0.0).count() >= m.cols - 1);
        }
    }
    assert_eq!(max_lookback(&[PRICE]), 64);
    assert_eq!(max_lookback(&[MICRO]), 63);
    assert_eq!(max_lookback(&[MICRO, PRICE]), 64);
    assert_eq!(max_lookback(&[]), 0);
    assert_eq!(max_lookback(&[PRICE]), skippy_market::features::lookback(PRICE));
}

#[test]
fn price_features_match_hand_computed_values() {
    let s = random_walk(100, 7, false, false);
    let c = &s.close;
    let m = compute(&s, &[PRICE]);
    let t = 80;
    let close = |i: usize| c[i];
    assert_eq!(value(&m, "ret_1", t), (close(t) / close(t - 1)).ln() as f32);
    assert_eq!(value(&m, "ret_4", t), (close(t) / close(t - 4)).ln() as f32);
    assert_eq!(value(&m, "ret_16", t), (close(t) / close(t - 16)).ln() as f32);
    assert_eq!(value(&m, "ret_64", t), (close(t) / close(t - 64)).ln() as f32);

    let r: Vec<f64> = (t - 15..=t).map(|i| (close(i) / close(i - 1)).ln()).collect();
    let mean = r.iter().sum::<f64>() / 16.0;
    let std = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 16.0).sqrt();
    let rms = (r.iter().map(|x| x * x).sum::<f64>() / 16.0).sqrt();
    let sma = (t - 31..=t).map(close).sum::<f64>() / 32.0;
    let close_to = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-5 * b.abs().max(1e-3);
    assert!(close_to(value(&m, "vol_16", t), std));
    assert!(close_to(value(&m, "trend_32", t), (close(t) / sma).ln()));
    let mom = (close(t) / close(t - 16)).ln() / (4.0 * rms);
    assert!(close_to(value(&m, "mom_ratio_16", t), mom), "{mom}");
    // Risk-adjusted momentum is bounded by sqrt(16) even for a perfectly steady climb.
    let mut steady = flat_bars(100, 100.0, 100.0, 100.0, 1.0);
    for i in 0..100 {
        let p = 100.0 * (0.001 * i as f64).exp();
        (steady.open[i], steady.high[i], steady.low[i], steady.close[i]) = (p, p, p, p);
    }
    let climb = compute(&steady, &[PRICE]);
    let ratio = value(&climb, "mom_ratio_16", 90);
    assert!((ratio - 4.0).abs() < 1e-4 && ratio <= 4.0, "{ratio}");
    assert!(value(&climb, "vol_16", 90).abs() < 1e-6);
}

#[test]
fn range_estimators_clv_and_corwin_schultz_match_hand_computed_values() {
    // Every bar: high 101, low 99, close 100.5 (open 100.5): a constant range, no movement.
    let m = compute(&flat_bars(100, 101.0, 99.0, 100.5, 10.0), &[MICRO]);
    let x = (101.0f64 / 99.0).ln();
    let t = 90;
    let near = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
    assert!(near(value(&m, "parkinson_vol", t), x / (4.0 * 2f64.ln()).sqrt()));
    assert!(near(value(&m, "gk_vol", t), (0.5 * x * x).sqrt()));
    assert!(near(value(&m, "clv", t), ((100.5 - 99.0) - (101.0 - 100.5)) / 2.0));
    // With no movement between bars, γ = one bar's squared range and β = twice that, so
    // α = x exactly and the whole range is read as spread: S = 2(e^x - 1)/(e^x + 1).
    let s = 2.0 * (x.exp() - 1.0) / (x.exp() + 1.0);
    assert!(near(value(&m, "cs_spread", t), s), "{} vs {s}", value(&m, "cs_spread", t));
    assert_eq!(value(&m, "roll_spread", t), 0.0);
    assert_eq!(value(&m, "amihud", t), 0.0);
    assert_eq!(value(&m, "volume_z", t), 0.0);

    // CLV at the extremes, and 0 when high == low.
    let mut s = flat_bars(70, 101.0, 99.0, 101.0, 1.0);
    s.close[68] = 99.0;
    s.open[68] = 99.0;
    (s.high[69], s.low[69], s.close[69], s.open[69]) = (99.0, 99.0, 99.0, 99.0);
    let m = compute(&s, &[MICRO]);
    assert_eq!(value(&m, "clv", 67), 1.0);
    assert_eq!(value(&m, "clv", 68), -1.0);
    assert_eq!(value(&m, "clv", 69), 0.0);

    // Corwin–Schultz is never negative on a random walk.
    let rw = compute(&random_walk(3000, 8, false, false), &[MICRO]);
    let cs = rw.column("cs_spread").unwrap();
    assert!(cs.iter().all(|&v| v >= 0.0));
    assert!(cs[rw.warmup..].iter().any(|&v| v > 0.0));
}

#[test]
fn roll_recovers_the_spread_of_a_bid_ask_bounce() {
    // Constant mid price 100, each close at the bid or the ask at random: Roll's model with a
    // relative spread of 0.2%. Expected estimate: the spread itself.
    let spread = 0.002;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 5000;
    let mut s = flat_bars(n, 100.0 * (1.0 + spread), 100.0 * (1.0 - spread), 100.0, 5.0);
    for i in 0..n {
        let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
        s.close[i] = 100.0 * (side * spread / 2.0).exp();
        s.open[i] = s.close[i];
    }
    let m = compute(&s, &[MICRO]);
    let roll = m.column("roll_spread").unwrap();
    let live = &roll[m.warmup..];
    let mean = live.iter().map(|&v| f64::from(v)).sum::<f64>() / live.len() as f64;
    assert!((mean - spread).abs() < 0.25 * spread, "mean Roll spread {mean}, true {spread}");
    let positive = live.iter().filter(|&&v| v > 0.0).count();
    assert!(positive as f64 > 0.9 * live.len() as f64, "{positive} of {}", live.len());
}

#[test]
fn amihud_activity_z_scores_and_taker_imbalance_match_hand_computed_values() {
    let n = 100;
    let mut s = flat_bars(n, 102.0, 99.0, 100.0, 10.0);
    for i in 0..n {
        s.close[i] = if i % 2 == 0 { 100.0 } else { 101.0 };
    }
    s.volume[n - 1] = 1000.0; // one unusually active bar at the end
    s.trades = Some(vec![50.0; n]);
    s.trades.as_mut().unwrap()[n - 1] = 5000.0;
    s.taker_buy_volume = Some(s.volume.iter().map(|v| 0.75 * v).collect());
    let m = compute(&s, &[MICRO]);
    let t = n - 2;
    let illiq =
        (t - 15..=t).map(|i| (s.close[i] / s.close[i - 1]).ln().abs() / (s.close[i] * s.volume[i])).sum::<f64>() / 16.0;
    let want = (1e6 * illiq).ln_1p();
    assert!((f64::from(value(&m, "amihud", t)) - want).abs() < 1e-6 * want, "{want}");
    // One outlier among 64 values has z = sqrt(63) whatever its size.
    assert!((f64::from(value(&m, "volume_z", n - 1)) - 63f64.sqrt()).abs() < 1e-4);
    assert!((f64::from(value(&m, "trades_z", n - 1)) - 63f64.sqrt()).abs() < 1e-4);
    assert_eq!(value(&m, "volume_z", t), 0.0);
    assert_eq!(value(&m, "taker_imbalance", t), 0.5);
    assert_eq!(value(&m, "taker_imbalance", n - 1), 0.5);
}

#[test]
fn parsing_feature_set_lists() {
    assert_eq!(parse_feature_sets("price,microstructure"), Ok(vec![PRICE, MICRO]));
    assert_eq!(parse_feature_sets(" Microstructure , PRICE "), Ok(vec![MICRO, PRICE]));
    assert_eq!(parse_feature_sets("price,price,microstructure,price"), Ok(vec![PRICE, MICRO]));
    assert_eq!(parse_feature_sets("price,"), Ok(vec![PRICE]));
    assert_eq!(" price\t".parse::<FeatureSet>(), Ok(PRICE));
    assert_eq!(FeatureSet::ALL.map(FeatureSet::name), ["price", "microstructure"]);

    let err = parse_feature_sets("price,volume").unwrap_err();
    assert!(matches!(&err, FeatureError::UnknownSet { name, .. } if name == "volume"));
    assert_eq!(err.to_string(), "unknown feature set 'volume'; valid feature sets: price, microstructure");
    for empty in ["", "  ", ",", " , "] {
        let err = parse_feature_sets(empty).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FeatureError::EmptyList { .. }), "{empty:?}");
        assert!(msg.contains("valid feature sets: price, microstructure"), "{msg}");
    }
    let err = "micro".parse::<FeatureSet>().unwrap_err().to_string();
    assert_eq!(err, "unknown feature set 'micro'; valid feature sets: price, microstructure");
}

#[test]
fn normalizer_fitted_on_training_rows_standardises_them() {
    let s = random_walk(3000, 10, true, true);
    let m = compute(&s, &[PRICE, MICRO]);
    let train = 0..2000;
    let norm = Normalizer::fit(&m, train.clone());
    assert_eq!(norm.names, m.names);
    assert!(norm.matches(&m));
    assert!(norm.std.iter().all(|&sd| sd > 0.0 && sd.is_finite()));

    let rows = m.warmup..train.end;
    let count = rows.len() as f64;
    for (j, name) in m.names.iter().enumerate() {
        // Unclipped z-scores of the fitted rows: mean 0, population std 1.
        let z: Vec<f64> = rows.clone().map(|t| f64::from((m.row(t)[j] - norm.mean[j]) / norm.std[j])).collect();
        let mean = z.iter().sum::<f64>() / count;
        let std = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count).sqrt();
        assert!(mean.abs() < 1e-3, "{name}: mean {mean}");
        assert!((std - 1.0).abs() < 1e-3, "{name}: std {std}");
        // After clipping the fitted rows are still close to standardised.
        let clipped = norm.apply(&m).column(name).unwrap();
        let c: Vec<f64> = rows.clone().map(|t| f64::from(clipped[t])).collect();
        let cm = c.iter().sum::<f64>() / count;
        assert!(cm.abs() < 0.1, "{name}: clipped mean {cm}");
    }
}

#[test]
fn normalizer_ignores_rows_outside_the_fit_range() {
    let s = random_walk(3000, 11, true, true);
    let train_end = 2000;
    let m = compute(&s, &[PRICE, MICRO]);
    let fitted = Normalizer::fit(&m, 0..train_end);

    // Later bars change drastically: features of the training rows, hence the statistics,
    // do not move by a single bit.
    let changed = compute(&scramble_after(&s, train_end - 1, 12), &[PRICE, MICRO]);
    assert_ne!(m, changed);
    assert_eq!(Normalizer::fit(&changed, 0..train_end), fitted);

    // Nor does garbage written directly into rows outside the range (or into the warmup).
    let mut poisoned = m.clone();
    for t in (0..poisoned.warmup).chain(train_end..poisoned.rows) {
        for j in 0..poisoned.cols {
            poisoned.values[t * poisoned.cols + j] = 1e6 * (j as f32 + 1.0);
        }
    }
    assert_eq!(Normalizer::fit(&poisoned, 0..train_end), fitted);
    // A range reaching past the end is cut at the last row.
    assert_eq!(Normalizer::fit(&m, 0..usize::MAX), Normalizer::fit(&m, 0..m.rows));
}

#[test]
fn normalizer_clips_at_five_and_keeps_warmup_rows_zero() {
    let s = random_walk(1000, 13, false, false);
    let m = compute(&s, &[PRICE]);
    let norm = Normalizer::fit(&m, 0..800);
    let mut out = vec![0.0f32; m.cols];
    let huge: Vec<f32> = norm.mean.iter().zip(&norm.std).map(|(mu, sd)| mu + 100.0 * sd).collect();
    norm.apply_row(&huge, &mut out);
    assert!(out.iter().all(|&v| v == 5.0), "{out:?}");
    let tiny: Vec<f32> = norm.mean.iter().zip(&norm.std).map(|(mu, sd)| mu - 100.0 * sd).collect();
    norm.apply_row(&tiny, &mut out);
    assert!(out.iter().all(|&v| v == -5.0), "{out:?}");
    norm.apply_row(&norm.mean, &mut out);
    assert!(out.iter().all(|&v| v == 0.0), "{out:?}");

    let applied = norm.apply(&m);
    assert_eq!((applied.rows, applied.cols, applied.warmup), (m.rows, m.cols, m.warmup));
    assert!(applied.values[..m.warmup * m.cols].iter().all(|&v| v == 0.0));
    assert!(applied.values.iter().all(|v| v.abs() <= 5.0));
    for t in [m.warmup, 500, 999] {
        let mut row = vec![0.0; m.cols];
        norm.apply_row(m.row(t), &mut row);
        assert_eq!(applied.row(t), &row[..]);
    }
}

/// The shipped Binance 5-minute BTCUSDT bars (with trade counts and taker-buy volume),
/// read by the crate's own CSV loader.
fn binance_btc_5m() -> BarSeries {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/binance-5m/binance_spot_BTCUSDT-5m_20230320-20230328_v2.10.0.csv");
    let (series, _report) = load_csv(&path, "BTC").expect("the shipped sample file loads");
    series
}

#[test]
fn real_binance_bars_give_plausible_microstructure() {
    let s = binance_btc_5m();
    assert_eq!(s.len(), 2576);
    assert!(s.trades.is_some() && s.taker_buy_volume.is_some());
    let micro = compute(&s, &[MICRO]);
    assert_eq!(micro.cols, 9);
    let m = compute(&s, &[MICRO, PRICE]);
    assert_eq!(m.cols, 17);
    assert_all_finite(&m);
    let live = |name: &str| m.column(name).unwrap()[m.warmup..].to_vec();
    let within = |name: &str, lo: f32, hi: f32| {
        let col = live(name);
        let (min, max) = col.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(min >= lo && max <= hi, "{name} in [{min}, {max}], expected within [{lo}, {hi}]");
    };
    // BTCUSDT 5-minute bars: relative spreads and per-bar volatilities of a few basis points
    // up to about a percent in the March 2023 turmoil.
    within("cs_spread", 0.0, 0.01);
    within("roll_spread", 0.0, 0.02);
    within("parkinson_vol", 1e-4, 0.02);
    within("gk_vol", 1e-4, 0.02);
    within("clv", -1.0, 1.0);
    within("taker_imbalance", -1.0, 1.0);
    within("volume_z", -8.0, 8.0);
    within("trades_z", -8.0, 8.0);
    within("amihud", 0.0, 1.0);
    within("vol_16", 1e-4, 0.02);
    // Buyers and sellers roughly balance over nine days.
    let imbalance = live("taker_imbalance");
    let mean = imbalance.iter().sum::<f32>() / imbalance.len() as f32;
    assert!(mean.abs() < 0.1, "mean taker imbalance {mean}");
    let cs = live("cs_spread");
    assert!(cs.iter().any(|&v| v > 0.0));
}

#[test]
fn thirty_five_thousand_bars_compute_quickly() {
    let s = random_walk(35_000, 14, true, true);
    let start = Instant::now();
    let m = compute(&s, &[PRICE, MICRO]);
    let elapsed = start.elapsed();
    assert_eq!((m.rows, m.cols), (35_000, 17));
    assert_all_finite(&m);
    // Milliseconds in an optimised build; the bound only catches a quadratic regression.
    assert!(elapsed.as_secs_f64() < 2.0, "took {elapsed:?}");
}
