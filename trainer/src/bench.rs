//! Throughput benchmarks: environment steps per second alone, and end-to-end PPO training
//! (rollout + update) in the default configuration.

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::env::{EnvConfig, StepOutput, SymbolMarket, VecEnv};
use crate::ppo::{ActorCritic, Collector, EpisodeTracker, Learner, PpoConfig, RolloutBuffer};

/// Figures a benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Observation width.
    pub obs_dim: usize,
    /// Environment steps per second, environment alone (batched, fixed actions).
    pub env_steps_per_sec: f64,
    /// Environment steps per second of end-to-end PPO training (median of the repeats).
    pub train_steps_per_sec: f64,
    /// Slowest and fastest repeat.
    pub train_steps_per_sec_range: (f64, f64),
    /// Timed repeats of the training benchmark.
    pub repeats: usize,
    /// Share of training time spent collecting rollouts.
    pub rollout_share: f64,
    /// Steps trained.
    pub train_steps: usize,
}

/// A random-walk market with `n_features` standard-normal feature columns.
pub fn random_market(bars: usize, n_features: usize, seed: u64) -> SymbolMarket {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut close = Vec::with_capacity(bars);
    let mut price = 100.0f64;
    for _ in 0..bars {
        let r: f64 = StandardNormal.sample(&mut rng);
        price *= (0.005 * r).exp();
        close.push(price);
    }
    let mut open = vec![100.0];
    open.extend_from_slice(&close[..bars - 1]);
    let features = (0..bars * n_features).map(|_| StandardNormal.sample(&mut rng)).collect();
    SymbolMarket { symbol: "BENCH".into(), features, n_features, open, close }
}

/// Runs both benchmarks: `env_steps` environment steps, then `repeats` times `train_steps` of
/// PPO with `cfg` (shared machines are noisy: the median and the range are reported).
pub fn run(cfg: &PpoConfig, env_steps: usize, train_steps: usize, repeats: usize) -> BenchReport {
    let env_cfg = EnvConfig::default();
    // 8 features × a 4-bar window + the position = the default 33-dim observation.
    let markets = Arc::new(vec![random_market(20_000, 8, 1)]);
    let obs_dim = markets[0].obs_dim(env_cfg.window);

    let n_envs = 64;
    let mut env =
        VecEnv::new(env_cfg.clone(), markets.clone(), vec![0..19_000], n_envs, 1).expect("bench market is valid");
    let mut out = StepOutput::default();
    let mut obs = vec![0.0f32; n_envs * obs_dim];
    let actions: Vec<usize> = (0..n_envs).map(|e| e % 3).collect();
    let rounds = env_steps.div_ceil(n_envs);
    let started = Instant::now();
    for _ in 0..rounds {
        env.step(&actions, &mut out);
        env.observe(&mut obs);
    }
    let env_steps_per_sec = (rounds * n_envs) as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(&obs);

    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("two threads start");
    let mut runs: Vec<(f64, f64, usize)> = (0..repeats.max(1))
        .map(|_| pool.install(|| time_training(cfg, &env_cfg, &markets, obs_dim, train_steps)))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, rollout_share, steps) = runs[runs.len() / 2];
    BenchReport {
        obs_dim,
        env_steps_per_sec,
        train_steps_per_sec: median,
        train_steps_per_sec_range: (runs[0].0, runs[runs.len() - 1].0),
        repeats: runs.len(),
        rollout_share,
        train_steps: steps,
    }
}

/// One timed training run: (steps/s, share of time in rollouts, steps).
fn time_training(
    cfg: &PpoConfig,
    env_cfg: &EnvConfig,
    markets: &Arc<Vec<SymbolMarket>>,
    obs_dim: usize,
    train_steps: usize,
) -> (f64, f64, usize) {
    let mut env =
        VecEnv::new(env_cfg.clone(), markets.clone(), vec![0..19_000], cfg.n_envs, 2).expect("bench market is valid");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let agent = ActorCritic::new(obs_dim, 3, &cfg.hidden, &mut rng);
    let mut learner = Learner::new(agent, cfg);
    let mut collector = Collector::new(&learner.agent, &env);
    let mut buf = RolloutBuffer::new(obs_dim, cfg.n_envs, cfg.n_steps);
    let mut episodes = EpisodeTracker::default();
    let updates = train_steps.div_ceil(cfg.rollout_len()).max(1);
    let mut rollout_secs = 0.0;
    let started = Instant::now();
    for _ in 0..updates {
        let t0 = Instant::now();
        collector.collect(&learner.agent, &mut env, &mut buf, cfg.gamma, cfg.gae_lambda, &mut rng, &mut episodes);
        rollout_secs += t0.elapsed().as_secs_f64();
        learner.update(&buf, cfg, cfg.learning_rate, &mut rng);
    }
    let total = started.elapsed().as_secs_f64();
    let steps = updates * cfg.rollout_len();
    (steps as f64 / total, rollout_secs / total, steps)
}
