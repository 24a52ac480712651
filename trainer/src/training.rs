//! The training run of a job: PPO updates over the vectorised environment, validation passes
//! that pick the model kept, checkpoints, progress reports at a bounded rate, cooperative
//! stopping between updates, and finally the one out-of-sample evaluation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{BestModel, Checkpoint, CheckpointError, CurvePoint, spec_hash};
use crate::dataset::Dataset;
use crate::env::{EnvError, VecEnv};
use crate::evaluation::{self, EvaluationReport, Segment};
use crate::ppo::{ActorCritic, Collector, EpisodeTracker, Learner, RolloutBuffer, UpdateStats};
use crate::spec::TrainSpec;

/// Job phases, in order (`Failed` and `Cancelled` are the job system's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// Checking inputs and loading data.
    Preflight,
    /// PPO updates.
    Training,
    /// Scoring on the test segment.
    Evaluating,
    /// Finished.
    Done,
}

/// A progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Overall percent: preflight 5, training 10–85 by steps, evaluating 85–99, done 100.
    pub percent: f64,
    /// Environment steps done.
    pub steps_done: u64,
    /// Steps the job asked for.
    pub total_steps: u64,
    /// Recent training speed.
    pub steps_per_sec: f64,
    /// Mean reward of recent episodes.
    pub episode_reward: f64,
    /// The latest update's diagnostics.
    pub update: Option<UpdateStats>,
    /// Best validation Sharpe so far.
    pub best_validation_sharpe: Option<f64>,
    /// A human-readable line.
    pub message: String,
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All requested steps done.
    Completed,
    /// The wall-duration budget ran out: training stopped early and the model was still evaluated.
    DurationLimit,
    /// Cancelled by the user: no evaluation; a final checkpoint is kept.
    Cancelled,
    /// Handed back (shutdown): no evaluation; resume from the final checkpoint.
    Interrupted,
}

/// What the caller sees of a run as it goes; the seam between the trainer core and whoever
/// drives it (the offline command, the trainer worker).
pub trait Observer {
    /// Called at most every [`PROGRESS_INTERVAL`], and at every phase change.
    fn progress(&mut self, progress: &Progress);
    /// Asked between updates: `Some` stops the run (`Cancelled` or `Interrupted`).
    fn stop_requested(&mut self) -> Option<StopReason>;
    /// Called with a checkpoint at most every `checkpoint_interval` and when stopping.
    fn checkpoint(&mut self, checkpoint: &Checkpoint);
}

/// A run nobody watches: no progress shown, never stopped early, checkpoints dropped.
impl Observer for () {
    fn progress(&mut self, _: &Progress) {}
    fn stop_requested(&mut self) -> Option<StopReason> {
        None
    }
    fn checkpoint(&mut self, _: &Checkpoint) {}
}

/// Shortest time between two progress reports of the same phase.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Run options that do not change results.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Wall-duration budget; training stops cleanly at it and still evaluates.
    pub max_duration: Option<Duration>,
    /// Time between periodic checkpoints.
    pub checkpoint_interval: Duration,
    /// Worker threads for the update (results do not depend on it).
    pub threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { max_duration: None, checkpoint_interval: Duration::from_secs(30), threads: 2 }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Why it stopped.
    pub stop: StopReason,
    /// Final state (resumable).
    pub checkpoint: Checkpoint,
    /// The model kept: best on validation (or the final one if never validated).
    pub model: ActorCritic,
    /// Test-segment evaluation of the kept model (absent when cancelled or interrupted).
    pub evaluation: Option<EvaluationReport>,
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The environment refused the data.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The checkpoint to resume from does not fit.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The thread pool could not start.
    #[error("could not start training threads: {0}")]
    Threads(String),
}

/// Number of PPO updates a spec asks for.
pub fn total_updates(spec: &TrainSpec) -> u64 {
    spec.total_steps.div_ceil(spec.ppo.rollout_len() as u64).max(1)
}

/// Trains `spec` on `data` (fresh, or from `resume`), then evaluates the kept model.
pub fn train(
    spec: &TrainSpec,
    data: &Dataset,
    resume: Option<Checkpoint>,
    opts: &RunOptions,
    observer: &mut (dyn Observer + Send),
) -> Result<TrainOutcome, TrainError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .thread_name(|i| format!("skippy-train-{i}"))
        .build()
        .map_err(|e| TrainError::Threads(e.to_string()))?;
    pool.install(|| train_in_pool(spec, data, resume, opts, observer))
}

fn train_in_pool(
    spec: &TrainSpec,
    data: &Dataset,
    resume: Option<Checkpoint>,
    opts: &RunOptions,
    observer: &mut (dyn Observer + Send),
) -> Result<TrainOutcome, TrainError> {
    let cfg = &spec.ppo;
    let markets = Arc::new(data.symbols.iter().map(|s| s.market.clone()).collect::<Vec<_>>());
    let ranges = data.symbols.iter().map(|s| s.segments.train.clone()).collect();
    let mut env = VecEnv::new(spec.env.clone(), markets, ranges, cfg.n_envs, spec.seed ^ 0x5eed_0e17)?;
    let mut state = match resume {
        Some(c) => {
            c.check_spec(spec)?;
            env.restore(c.env.clone());
            c
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
            let agent = ActorCritic::new(env.obs_dim(), spec.env.n_actions(), &cfg.hidden, &mut rng);
            Checkpoint {
                spec_hash: spec_hash(spec),
                learner: Learner::new(agent, cfg),
                env: env.state().clone(),
                rng,
                steps_done: 0,
                updates_done: 0,
                episodes: EpisodeTracker::default(),
                curve: Vec::new(),
                best: None,
            }
        }
    };

    let total = total_updates(spec);
    let validate_every = (total / spec.evaluation.validations as u64).max(1);
    let bpy = evaluation::bars_per_year(data);
    let mut collector = Collector::new(&state.learner.agent, &env);
    let mut buf = RolloutBuffer::new(env.obs_dim(), cfg.n_envs, cfg.n_steps);
    let started = Instant::now();
    let mut last_report: Option<Instant> = None;
    let mut last_checkpoint = Instant::now();
    let (mut speed_t, mut speed_steps, mut steps_per_sec) = (Instant::now(), state.steps_done, 0.0);
    let mut last_update: Option<UpdateStats> = None;

    let progress =
        |state: &Checkpoint, phase: Phase, steps_per_sec: f64, update: Option<UpdateStats>, message: String| {
            let percent = match phase {
                Phase::Preflight => 5.0,
                Phase::Training => 10.0 + 75.0 * (state.steps_done as f64 / spec.total_steps as f64).min(1.0),
                Phase::Evaluating => 85.0,
                Phase::Done => 100.0,
            };
            Progress {
                phase,
                percent,
                steps_done: state.steps_done,
                total_steps: spec.total_steps,
                steps_per_sec,
                episode_reward: state.episodes.mean_recent(),
                update,
                best_validation_sharpe: state.best.as_ref().map(|b| b.validation_sharpe),
                message,
            }
        };
    observer.progress(&progress(&state, Phase::Training, 0.0, None, "PPO training in progress".into()));

    let mut stop = StopReason::Completed;
    while state.updates_done < total {
        if let Some(reason) = observer.stop_requested() {
            stop = reason;
            break;
        }
        if opts.max_duration.is_some_and(|d| started.elapsed() >= d) {
            stop = StopReason::DurationLimit;
            break;
        }
        let frac = if cfg.anneal_lr { 1.0 - state.updates_done as f32 / total as f32 } else { 1.0 };
        let lr = cfg.learning_rate * frac;
        collector.collect(
            &state.learner.agent,
            &mut env,
            &mut buf,
            cfg.gamma,
            cfg.gae_lambda,
            &mut state.rng,
            &mut state.episodes,
        );
        let stats = state.learner.update(&buf, cfg, lr, &mut state.rng);
        state.updates_done += 1;
        state.steps_done += cfg.rollout_len() as u64;
        state.env = env.state().clone();

        let validation_sharpe = (state.updates_done % validate_every == 0 || state.updates_done == total)
            .then(|| validate(&mut state, data, spec, bpy));
        state.curve.push(CurvePoint {
            steps: state.steps_done,
            episode_reward: state.episodes.mean_recent(),
            policy_loss: stats.policy_loss,
            value_loss: stats.value_loss,
            entropy: stats.entropy,
            approx_kl: stats.approx_kl,
            clip_fraction: stats.clip_fraction,
            explained_variance: stats.explained_variance,
            learning_rate: lr,
            validation_sharpe,
        });

        let now = Instant::now();
        let dt = now.duration_since(speed_t).as_secs_f64();
        if dt >= 1.0 || steps_per_sec == 0.0 {
            steps_per_sec = (state.steps_done - speed_steps) as f64 / dt.max(1e-9);
            (speed_t, speed_steps) = (now, state.steps_done);
        }
        last_update = Some(stats);
        if last_report.is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL) {
            last_report = Some(now);
            let msg = "PPO training in progress".to_string();
            observer.progress(&progress(&state, Phase::Training, steps_per_sec, last_update.clone(), msg));
        }
        if now.duration_since(last_checkpoint) >= opts.checkpoint_interval {
            last_checkpoint = now;
            observer.checkpoint(&state);
        }
    }
    observer.checkpoint(&state);

    if matches!(stop, StopReason::Cancelled | StopReason::Interrupted) {
        let model = state.best.as_ref().map_or_else(|| state.learner.agent.clone(), |b| b.agent.clone());
        return Ok(TrainOutcome { stop, checkpoint: state, model, evaluation: None });
    }
    if stop == StopReason::DurationLimit && state.curve.last().is_none_or(|p| p.validation_sharpe.is_none()) {
        // Stopped between validations: the final model still competes.
        let v = validate(&mut state, data, spec, bpy);
        if let Some(p) = state.curve.last_mut() {
            p.validation_sharpe = Some(v);
        }
    }
    observer.progress(&progress(
        &state,
        Phase::Evaluating,
        steps_per_sec,
        last_update.clone(),
        "evaluating results".into(),
    ));
    let model = state.best.as_ref().map_or_else(|| state.learner.agent.clone(), |b| b.agent.clone());
    let report = evaluation::evaluate(&model, data, &spec.env, &spec.evaluation, spec.seed);
    observer.progress(&progress(&state, Phase::Done, steps_per_sec, last_update, "complete".into()));
    Ok(TrainOutcome { stop, checkpoint: state, model, evaluation: Some(report) })
}

/// Scores the current policy on the validation segments; keeps it if it is the best so far.
fn validate(state: &mut Checkpoint, data: &Dataset, spec: &TrainSpec, bpy: f64) -> f64 {
    let runs = evaluation::backtests(&state.learner.agent, data, &spec.env, Segment::Validation);
    let sharpe = evaluation::portfolio_sharpe(&runs, bpy);
    if state.best.as_ref().is_none_or(|b| sharpe > b.validation_sharpe) {
        state.best =
            Some(BestModel { agent: state.learner.agent.clone(), validation_sharpe: sharpe, steps: state.steps_done });
    }
    sharpe
}
