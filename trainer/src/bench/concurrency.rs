//! `bench --jobs N`: N default-configuration PPO runs at once, each on one thread of its own (as a
//! worker with `--concurrency N` runs its jobs), next to one run alone on one thread, timed in
//! the same invocation: how much a machine's cores add up, and whether any run is starved.
//!
//! On Linux each run's thread also reads the CPU time it was given (`/proc/thread-self/schedstat`),
//! so that a machine shared with other work shows as such: the cores the runs got, and their
//! steps per CPU-second against the run alone's (what running together costs in caches and memory
//! bandwidth, whatever else ran).

use std::sync::{Arc, Barrier};
use std::time::Instant;

use serde::Serialize;

use super::{TimedRun, TrainingRun, default_market};
use crate::env::{EnvConfig, SymbolMarket};
use crate::ppo::PpoConfig;

/// What `bench --jobs N` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ConcurrencyReport {
    /// Runs at once.
    pub jobs: usize,
    /// Cores the process may use (`std::thread::available_parallelism`).
    pub cores: usize,
    /// Environment steps each run trains (whole updates).
    pub steps_per_run: usize,
    /// One run alone on one thread, env-steps/s (median of the rounds).
    pub alone_steps_per_sec: f64,
    /// The N runs together: all their steps over the time from their common start to the last
    /// one's end, env-steps/s (median of the rounds).
    pub aggregate_steps_per_sec: f64,
    /// Aggregate over alone (median of the rounds' ratios).
    pub speedup: f64,
    /// The slowest run's env-steps/s over the mean of the N runs' (1: none starved; the lowest
    /// of the rounds).
    pub slowest_share: f64,
    /// Share of a core the run alone got (its CPU time over its wall time; 1 on an idle machine);
    /// median of the rounds.
    pub alone_cores_used: Option<f64>,
    /// Cores' worth of CPU time the N runs got while they ran together (their CPU time over the
    /// wall time; at most `cores`, less when other work took some); median of the rounds.
    pub cores_used: Option<f64>,
    /// The N runs' env-steps per CPU-second over the run alone's (1: running together costs
    /// nothing per step); median of the rounds.
    pub cpu_efficiency: Option<f64>,
    /// Every round, in order.
    pub rounds: Vec<Round>,
}

/// One round: a run alone, then N at once.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The run alone, env-steps/s.
    pub alone_steps_per_sec: f64,
    /// The N runs' aggregate, env-steps/s.
    pub aggregate_steps_per_sec: f64,
    /// Each of the N runs' own env-steps/s.
    pub per_run_steps_per_sec: Vec<f64>,
    /// The run alone's env-steps per CPU-second (`None` where the CPU time cannot be read).
    pub alone_steps_per_cpu_sec: Option<f64>,
    /// The N runs' env-steps per CPU-second, all together.
    pub together_steps_per_cpu_sec: Option<f64>,
    /// The run alone's CPU time over its wall time.
    pub alone_cores_used: Option<f64>,
    /// The N runs' CPU time over their wall time.
    pub cores_used: Option<f64>,
}

impl Round {
    /// Steps per CPU-second together over alone.
    pub fn cpu_efficiency(&self) -> Option<f64> {
        Some(self.together_steps_per_cpu_sec? / self.alone_steps_per_cpu_sec?)
    }

    /// Aggregate over alone.
    pub fn speedup(&self) -> f64 {
        self.aggregate_steps_per_sec / self.alone_steps_per_sec
    }

    /// The slowest run's speed over the mean run's.
    pub fn slowest_share(&self) -> f64 {
        let runs = &self.per_run_steps_per_sec;
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        runs.iter().copied().fold(f64::INFINITY, f64::min) / mean
    }
}

/// Runs `rounds` rounds of: one run of `steps` alone on one thread, then `jobs` such runs at once,
/// each on one thread of its own.
pub fn run(cfg: &PpoConfig, jobs: usize, steps: usize, rounds: usize) -> ConcurrencyReport {
    let jobs = jobs.max(1);
    let env_cfg = EnvConfig::default();
    let (markets, obs_dim) = default_market(&env_cfg);
    let rounds: Vec<Round> = (0..rounds.max(1))
        .map(|_| {
            let alone = at_once(cfg, &env_cfg, &markets, obs_dim, 1, steps);
            let together = at_once(cfg, &env_cfg, &markets, obs_dim, jobs, steps);
            Round {
                alone_steps_per_sec: alone.aggregate_steps_per_sec(),
                aggregate_steps_per_sec: together.aggregate_steps_per_sec(),
                per_run_steps_per_sec: together.runs.iter().map(|r| r.timed.steps_per_sec()).collect(),
                alone_steps_per_cpu_sec: alone.steps_per_cpu_sec(),
                together_steps_per_cpu_sec: together.steps_per_cpu_sec(),
                alone_cores_used: alone.cores_used(),
                cores_used: together.cores_used(),
            }
        })
        .collect();
    let median_of = |f: &dyn Fn(&Round) -> Option<f64>| {
        let mut values: Vec<f64> = rounds.iter().map(f).collect::<Option<_>>()?;
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    };
    let median = |f: &dyn Fn(&Round) -> f64| median_of(&|r| Some(f(r))).expect("at least one round");
    ConcurrencyReport {
        jobs,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        steps_per_run: steps.div_ceil(cfg.rollout_len()).max(1) * cfg.rollout_len(),
        alone_steps_per_sec: median(&|r| r.alone_steps_per_sec),
        aggregate_steps_per_sec: median(&|r| r.aggregate_steps_per_sec),
        speedup: median(&Round::speedup),
        slowest_share: rounds.iter().map(Round::slowest_share).fold(f64::INFINITY, f64::min),
        alone_cores_used: median_of(&|r| r.alone_cores_used),
        cores_used: median_of(&|r| r.cores_used),
        cpu_efficiency: median_of(&Round::cpu_efficiency),
        rounds,
    }
}

/// Runs that started together.
struct Batch {
    /// Each run.
    runs: Vec<Measured>,
    /// From the first run's start to the last one's end, seconds.
    wall_secs: f64,
}

/// One run of a batch.
struct Measured {
    /// Its steps and time.
    timed: TimedRun,
    /// CPU time its thread was given while it trained (`None`: unknown).
    cpu_secs: Option<f64>,
    /// When it started.
    started: Instant,
    /// When it ended.
    ended: Instant,
}

impl Batch {
    fn steps(&self) -> usize {
        self.runs.iter().map(|r| r.timed.steps).sum()
    }

    fn aggregate_steps_per_sec(&self) -> f64 {
        self.steps() as f64 / self.wall_secs
    }

    fn cpu_secs(&self) -> Option<f64> {
        self.runs.iter().map(|r| r.cpu_secs).sum()
    }

    fn cores_used(&self) -> Option<f64> {
        Some(self.cpu_secs()? / self.wall_secs)
    }

    fn steps_per_cpu_sec(&self) -> Option<f64> {
        Some(self.steps() as f64 / self.cpu_secs()?)
    }
}

/// CPU time the calling thread has been given, in seconds (Linux; `None` elsewhere, or where the
/// kernel keeps no scheduler statistics).
fn thread_cpu_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// `n` runs of `steps`, each on a one-thread rayon pool of its own (as a job is trained), set up
/// first and then released together.
fn at_once(
    cfg: &PpoConfig,
    env_cfg: &EnvConfig,
    markets: &Arc<Vec<SymbolMarket>>,
    obs_dim: usize,
    n: usize,
    steps: usize,
) -> Batch {
    let ready = Barrier::new(n + 1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let ready = &ready;
                std::thread::Builder::new()
                    .name(format!("bench-run-{i}"))
                    .spawn_scoped(scope, move || {
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(1)
                            .thread_name(move |_| format!("bench-train-{i}"))
                            .build()
                            .expect("a training thread starts");
                        pool.install(|| {
                            let run = TrainingRun::new(cfg, env_cfg, markets, obs_dim);
                            ready.wait();
                            let (started, cpu_before) = (Instant::now(), thread_cpu_secs());
                            let timed = run.train(steps);
                            let cpu_secs = thread_cpu_secs().zip(cpu_before).map(|(after, before)| after - before);
                            Measured { timed, cpu_secs, started, ended: Instant::now() }
                        })
                    })
                    .expect("a bench thread starts")
            })
            .collect();
        ready.wait();
        let runs: Vec<Measured> = threads.into_iter().map(|t| t.join().expect("a bench run does not panic")).collect();
        let first = runs.iter().map(|r| r.started).min().expect("at least one run");
        let last = runs.iter().map(|r| r.ended).max().expect("at least one run");
        Batch { runs, wall_secs: (last - first).as_secs_f64() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reports_its_ratio_and_its_slowest_run_against_the_mean() {
        let round = Round {
            alone_steps_per_sec: 100.0,
            aggregate_steps_per_sec: 190.0,
            per_run_steps_per_sec: vec![20.0, 30.0],
            alone_steps_per_cpu_sec: Some(100.0),
            together_steps_per_cpu_sec: Some(95.0),
            alone_cores_used: Some(1.0),
            cores_used: Some(2.0),
        };
        assert!((round.speedup() - 1.9).abs() < 1e-12);
        assert!((round.slowest_share() - 0.8).abs() < 1e-12);
        assert_eq!(round.cpu_efficiency(), Some(0.95));
        assert_eq!(Round { alone_steps_per_cpu_sec: None, ..round }.cpu_efficiency(), None);
    }

    #[test]
    fn n_small_runs_at_once_each_train_the_steps_asked() {
        let cfg = PpoConfig { n_steps: 64, batch_size: 32, n_epochs: 1, ..PpoConfig::default() };
        let report = run(&cfg, 3, 128, 1);
        assert_eq!((report.jobs, report.steps_per_run, report.rounds.len()), (3, 128, 1));
        assert_eq!(report.rounds[0].per_run_steps_per_sec.len(), 3);
        assert!(report.speedup > 0.0 && report.slowest_share > 0.0 && report.slowest_share <= 1.0, "{report:?}");
    }
}
