//! No decision may use a price the agent has not seen: changing every bar after `t` leaves
//! every position decided up to `t` (and every return realised before `t`) unchanged.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skippy_market::catalog::Catalog;
use skippy_market::features::FeatureSet;
use skippy_trainer::backtest;
use skippy_trainer::dataset;
use skippy_trainer::ppo::ActorCritic;
use skippy_trainer::spec::TrainSpec;

#[test]
fn changing_future_bars_changes_no_earlier_decision() {
    let spec = TrainSpec::new(vec!["BTC".into()], vec![FeatureSet::Price, FeatureSet::Microstructure], 1, 1);
    let (bars, report) = Catalog::embedded().load("BTC").unwrap();
    let original = dataset::prepare(bars.clone(), report.clone(), &spec).unwrap();
    let test = original.segments.test.clone();
    let obs_dim = original.market.obs_dim(spec.env.window);
    // A random policy with large weights reacts to every input, so any leak would show.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut agent = ActorCritic::new(obs_dim, 3, &[64, 64], &mut rng);
    agent.policy.params.iter_mut().for_each(|p| *p *= 50.0);

    let before = backtest::run(&agent, &original.market, test.clone(), &spec.env, &original.bars.ts_ms);
    let distinct: std::collections::HashSet<i64> = before.positions.iter().map(|&p| p as i64).collect();
    assert!(distinct.len() >= 2, "the probe policy should trade");

    for cut in [test.start + 10, test.start + test.len() / 2, test.end - 5] {
        let mut future = bars.clone();
        for i in cut + 1..future.len() {
            let k = 1.0 + 0.3 * ((i * 7919) % 13) as f64 / 13.0;
            future.open[i] *= k;
            future.close[i] *= k * 0.97;
            future.high[i] = future.open[i].max(future.close[i]) * 1.05;
            future.low[i] = future.open[i].min(future.close[i]) * 0.95;
            future.volume[i] *= 3.0;
        }
        let changed = dataset::prepare(future, report.clone(), &spec).unwrap();
        assert_eq!(changed.segments, original.segments);
        let after = backtest::run(&agent, &changed.market, test.clone(), &spec.env, &changed.bars.ts_ms);
        let k = cut - test.start;
        assert_eq!(before.positions[..=k], after.positions[..=k], "a decision up to bar {cut} moved");
        assert_eq!(before.strategy[..k], after.strategy[..k], "a return realised before bar {cut} moved");
        assert_ne!(before.strategy[k..], after.strategy[k..], "the probe should see the changed future at all");
    }
}
