//! Throughput benchmarks: environment steps per second alone, and end-to-end PPO training
//! (rollout + update) in the default configuration; [`concurrency`]: many single-threaded runs
//! at once against one alone.

pub mod concurrency;

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
    let (markets, obs_dim) = default_market(&env_cfg);

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
        .map(|_| {
            pool.install(|| {
                let timed = TrainingRun::new(cfg, &env_cfg, &markets, obs_dim).train(train_steps);
                (timed.steps_per_sec(), timed.rollout_share(), timed.steps)
            })
        })
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

/// The default bench market: one random-walk symbol of 20,000 bars with 8 feature columns (×
/// a 4-bar window + the position: the default 33-dim observation), and that observation width.
pub fn default_market(env_cfg: &EnvConfig) -> (Arc<Vec<SymbolMarket>>, usize) {
    let markets = Arc::new(vec![random_market(20_000, 8, 1)]);
    let obs_dim = markets[0].obs_dim(env_cfg.window);
    (markets, obs_dim)
}

/// A PPO training run set up (environment, agent, buffers) and ready to be timed.
pub struct TrainingRun {
    /// The PPO settings.
    cfg: PpoConfig,
    /// The environment.
    env: VecEnv,
    /// The agent and its optimiser.
    learner: Learner,
    /// Collects rollouts.
    collector: Collector,
    /// One rollout.
    buf: RolloutBuffer,
    /// Finished episodes.
    episodes: EpisodeTracker,
    /// Every random draw.
    rng: ChaCha8Rng,
}

/// What a timed run did.
#[derive(Debug, Clone, Copy)]
pub struct TimedRun {
    /// Environment steps trained.
    pub steps: usize,
    /// Seconds it took.
    pub secs: f64,
    /// Of which collecting rollouts.
    pub rollout_secs: f64,
}

impl TimedRun {
    /// Environment steps per second.
    pub fn steps_per_sec(&self) -> f64 {
        self.steps as f64 / self.secs
    }

    /// Share of the time spent collecting rollouts.
    pub fn rollout_share(&self) -> f64 {
        self.rollout_secs / self.secs
    }
}

impl TrainingRun {
    /// A fresh run of `cfg` on `markets` (seeded: every run does the same work).
    pub fn new(cfg: &PpoConfig, env_cfg: &EnvConfig, markets: &Arc<Vec<SymbolMarket>>, obs_dim: usize) -> TrainingRun {
        let env = VecEnv::new(env_cfg.clone(), markets.clone(), vec![0..19_000], cfg.n_envs, 2)
            .expect("bench market is valid");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let agent = ActorCritic::new(obs_dim, 3, &cfg.hidden, &mut rng);
        let learner = Learner::new(agent, cfg);
        let collector = Collector::new(&learner.agent, &env);
        let buf = RolloutBuffer::new(obs_dim, cfg.n_envs, cfg.n_steps);
        TrainingRun { cfg: cfg.clone(), env, learner, collector, buf, episodes: EpisodeTracker::default(), rng }
    }

    /// Trains for at least `steps` environment steps (whole updates), timed, on the calling
    /// thread's rayon pool.
    pub fn train(mut self, steps: usize) -> TimedRun {
        let cfg = &self.cfg;
        let updates = steps.div_ceil(cfg.rollout_len()).max(1);
        let mut rollout_secs = 0.0;
        let started = Instant::now();
        for _ in 0..updates {
            let t0 = Instant::now();
            self.collector.collect(
                &self.learner.agent,
                &mut self.env,
                &mut self.buf,
                cfg.gamma,
                cfg.gae_lambda,
                &mut self.rng,
                &mut self.episodes,
            );
            rollout_secs += t0.elapsed().as_secs_f64();
            self.learner.update(&self.buf, cfg, cfg.learning_rate, &mut self.rng);
        }
        TimedRun { steps: updates * cfg.rollout_len(), secs: started.elapsed().as_secs_f64(), rollout_secs }
    }
}
