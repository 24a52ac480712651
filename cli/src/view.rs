//! The `--json` output: stable, snake_case views of the protocol's messages. States and event
//! kinds are their proto names without the prefix (`"QUEUED"`, `"PROGRESS"`); times are unix
//! milliseconds; JSON carried as strings by the protocol (the resolved spec, `metrics.json`) is
//! embedded as JSON.

use std::collections::BTreeMap;

use serde::Serialize;
use skippy_proto::v1 as pb;

/// A job state's name: `"QUEUED"`, …, or `"UNKNOWN(n)"` for a state this CLI does not know.
pub fn state_name(state: i32) -> String {
    match pb::JobState::try_from(state) {
        Ok(s) => s.as_str_name().trim_start_matches("JOB_STATE_").to_string(),
        Err(_) => format!("UNKNOWN({state})"),
    }
}

/// An event kind's name: `"SNAPSHOT"`, `"STATE"`, `"PROGRESS"`, `"CHECKPOINT"`, `"LOG"`.
pub fn kind_name(kind: i32) -> String {
    match pb::EventKind::try_from(kind) {
        Ok(k) => k.as_str_name().trim_start_matches("EVENT_KIND_").to_string(),
        Err(_) => format!("UNKNOWN({kind})"),
    }
}

/// A JSON document carried in a string field: parsed when it parses, the string otherwise,
/// null when empty.
fn embedded_json(text: &str) -> serde_json::Value {
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// A training job.
#[derive(Debug, Serialize)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// `"QUEUED"`, `"PREFLIGHT"`, `"TRAINING"`, `"EVALUATING"`, `"DONE"`, `"FAILED"`, `"CANCELLED"`.
    pub state: String,
    /// Overall progress, 0–100.
    pub percent: f64,
    /// Human-readable status line.
    pub message: String,
    /// Environment steps done.
    pub steps_done: u64,
    /// Environment steps asked for.
    pub total_steps: u64,
    /// Recent training speed.
    pub steps_per_sec: f64,
    /// Submission time.
    pub created_ms: i64,
    /// First start on a trainer (0: never).
    pub started_ms: i64,
    /// End time (0: not finished).
    pub finished_ms: i64,
    /// 1-based queue position while QUEUED (0 otherwise).
    pub queue_position: u32,
    /// Attempts started.
    pub attempt: u32,
    /// Trainer holding it ("" when none).
    pub trainer_id: String,
    /// Why it failed ("" unless FAILED).
    pub error: String,
    /// The spec as submitted.
    pub spec: Option<SpecView>,
    /// The resolved spec (every default filled in).
    pub resolved_spec: serde_json::Value,
    /// The headline result (DONE only).
    pub result: Option<ResultView>,
    /// Every state entered, oldest first.
    pub history: Vec<StateChangeView>,
    /// Sequence number of the job's latest event.
    pub last_sequence: u64,
}

impl From<&pb::Job> for JobView {
    fn from(j: &pb::Job) -> Self {
        Self {
            id: j.id.clone(),
            state: state_name(j.state),
            percent: j.percent,
            message: j.message.clone(),
            steps_done: j.steps_done,
            total_steps: j.total_steps,
            steps_per_sec: j.steps_per_sec,
            created_ms: j.created_ms,
            started_ms: j.started_ms,
            finished_ms: j.finished_ms,
            queue_position: j.queue_position,
            attempt: j.attempt,
            trainer_id: j.trainer_id.clone(),
            error: j.error.clone(),
            spec: j.spec.as_ref().map(SpecView::from),
            resolved_spec: embedded_json(&j.resolved_spec_json),
            result: j.result.as_ref().map(ResultView::from),
            history: j.history.iter().map(StateChangeView::from).collect(),
            last_sequence: j.last_sequence,
        }
    }
}

/// A job spec as submitted.
#[derive(Debug, Serialize)]
pub struct SpecView {
    /// Algorithm (`"ppo"`).
    pub algorithm: String,
    /// Steps asked for (0: the default).
    pub total_steps: u64,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Feature sets.
    pub features: Vec<String>,
    /// Seed, when given.
    pub seed: Option<u64>,
    /// Priority.
    pub priority: i32,
    /// Training wall budget in seconds (0: none beyond the scheduler's cap).
    pub max_duration_seconds: f64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// `--set` overrides, sorted by key.
    pub overrides: BTreeMap<String, String>,
}

impl From<&pb::JobSpec> for SpecView {
    fn from(s: &pb::JobSpec) -> Self {
        Self {
            algorithm: s.algorithm.clone(),
            total_steps: s.total_steps,
            symbols: s.symbols.clone(),
            features: s.features.clone(),
            seed: s.seed,
            priority: s.priority,
            max_duration_seconds: s.max_duration_seconds,
            idempotency_key: s.idempotency_key.clone(),
            overrides: s.overrides.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// A finished job's headline result.
#[derive(Debug, Serialize)]
pub struct ResultView {
    /// Out-of-sample Sharpe of the model (portfolio).
    pub sharpe: f64,
    /// Buy-and-hold Sharpe on the same bars.
    pub buy_and_hold_sharpe: f64,
    /// Generation in the lineage (1 = first).
    pub generation: u32,
    /// The Sharpe over the lineage's previous champion (or buy-and-hold) on the same test bars,
    /// with its paired bootstrap interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub improvement: Option<ImprovementView>,
    /// Whether it became the lineage's champion.
    pub champion: bool,
    /// `"completed"` or `"duration_limit"`.
    pub stop_reason: String,
    /// Whether the Sharpe's interval excludes 0.
    pub edge_significant: bool,
}

impl From<&pb::ResultSummary> for ResultView {
    fn from(r: &pb::ResultSummary) -> Self {
        Self {
            sharpe: r.sharpe,
            buy_and_hold_sharpe: r.buy_and_hold_sharpe,
            generation: r.generation,
            improvement: r.improvement.as_ref().map(|i| ImprovementView {
                sharpe_difference: i.sharpe_difference,
                lo: i.lo,
                hi: i.hi,
                level: i.level,
                significant: i.significant,
                over_generation: i.over_generation,
            }),
            champion: r.champion,
            stop_reason: r.stop_reason.clone(),
            edge_significant: r.edge_significant,
        }
    }
}

/// A Sharpe difference against a baseline on the same test bars.
#[derive(Debug, Serialize)]
pub struct ImprovementView {
    /// Sharpe(model) − Sharpe(baseline).
    pub sharpe_difference: f64,
    /// Lower end of the paired bootstrap interval.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Confidence level.
    pub level: f64,
    /// The interval excludes 0.
    pub significant: bool,
    /// The champion's generation it is over; 0: buy-and-hold.
    pub over_generation: u32,
}

/// One entry of a job's state history.
#[derive(Debug, Serialize)]
pub struct StateChangeView {
    /// The state entered.
    pub state: String,
    /// When.
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}

impl From<&pb::StateChange> for StateChangeView {
    fn from(c: &pb::StateChange) -> Self {
        Self { state: state_name(c.state), at_ms: c.at_ms, reason: c.reason.clone() }
    }
}

/// `ppo`'s submission answer.
#[derive(Debug, Serialize)]
pub struct SubmittedView {
    /// False when the idempotency key returned an existing job.
    pub created: bool,
    /// The job.
    pub job: JobView,
}

/// One event of a watch (JSON Lines while watching).
#[derive(Debug, Serialize)]
pub struct EventView {
    /// Position in the job's event log.
    pub sequence: u64,
    /// `"SNAPSHOT"`, `"STATE"`, `"PROGRESS"`, `"CHECKPOINT"`, `"LOG"`.
    pub kind: String,
    /// The job.
    pub job_id: String,
    /// When.
    pub at_ms: i64,
    /// State after the event.
    pub state: String,
    /// Overall percent after the event.
    pub percent: f64,
    /// Human-readable line.
    pub message: String,
    /// Steps done.
    pub steps_done: u64,
    /// Training speed.
    pub steps_per_sec: f64,
    /// Training diagnostics (progress events).
    pub stats: Option<StatsView>,
    /// The job (snapshots and terminal events).
    pub job: Option<JobView>,
}

impl From<&pb::JobEvent> for EventView {
    fn from(e: &pb::JobEvent) -> Self {
        Self {
            sequence: e.sequence,
            kind: kind_name(e.kind),
            job_id: e.job_id.clone(),
            at_ms: e.at_ms,
            state: state_name(e.state),
            percent: e.percent,
            message: e.message.clone(),
            steps_done: e.steps_done,
            steps_per_sec: e.steps_per_sec,
            stats: e.stats.as_ref().map(StatsView::from),
            job: e.job.as_ref().map(JobView::from),
        }
    }
}

/// Training diagnostics.
#[derive(Debug, Serialize)]
pub struct StatsView {
    /// Mean reward of recent episodes.
    pub episode_reward: f64,
    /// Clipped surrogate loss.
    pub policy_loss: f64,
    /// Value loss.
    pub value_loss: f64,
    /// Policy entropy.
    pub entropy: f64,
    /// Approximate KL.
    pub approx_kl: f64,
    /// Clipped fraction.
    pub clip_fraction: f64,
    /// Explained variance.
    pub explained_variance: f64,
    /// Best validation Sharpe so far.
    pub best_validation_sharpe: Option<f64>,
}

impl From<&pb::TrainingStats> for StatsView {
    fn from(s: &pb::TrainingStats) -> Self {
        Self {
            episode_reward: s.episode_reward,
            policy_loss: s.policy_loss,
            value_loss: s.value_loss,
            entropy: s.entropy,
            approx_kl: s.approx_kl,
            clip_fraction: s.clip_fraction,
            explained_variance: s.explained_variance,
            best_validation_sharpe: s.best_validation_sharpe,
        }
    }
}

/// `list`.
#[derive(Debug, Serialize)]
pub struct ListView {
    /// Newest first.
    pub jobs: Vec<JobView>,
}

/// `queue`.
#[derive(Debug, Serialize)]
pub struct QueueView {
    /// Queued jobs in dispatch order.
    pub queued: Vec<JobView>,
    /// Jobs held by trainers.
    pub running: Vec<JobView>,
    /// Trainers seen recently.
    pub trainers: Vec<TrainerView>,
}

impl From<&pb::GetQueueResponse> for QueueView {
    fn from(q: &pb::GetQueueResponse) -> Self {
        Self {
            queued: q.queued.iter().map(JobView::from).collect(),
            running: q.running.iter().map(JobView::from).collect(),
            trainers: q.trainers.iter().map(TrainerView::from).collect(),
        }
    }
}

/// A connected trainer.
#[derive(Debug, Serialize)]
pub struct TrainerView {
    /// Incarnation id.
    pub trainer_id: String,
    /// Name it gave.
    pub name: String,
    /// Jobs it holds.
    pub job_ids: Vec<String>,
    /// Last contact.
    pub last_seen_ms: i64,
    /// Latest training speed.
    pub steps_per_sec: f64,
}

impl From<&pb::TrainerInfo> for TrainerView {
    fn from(t: &pb::TrainerInfo) -> Self {
        Self {
            trainer_id: t.trainer_id.clone(),
            name: t.name.clone(),
            job_ids: t.job_ids.clone(),
            last_seen_ms: t.last_seen_ms,
            steps_per_sec: t.steps_per_sec,
        }
    }
}

/// `results`.
#[derive(Debug, Serialize)]
pub struct ResultsView {
    /// The job.
    pub job: JobView,
    /// `metrics.json` as the trainer wrote it (null before the job is DONE).
    pub metrics: serde_json::Value,
    /// Every stored artifact.
    pub artifacts: Vec<ArtifactView>,
}

impl From<&pb::GetResultsResponse> for ResultsView {
    fn from(r: &pb::GetResultsResponse) -> Self {
        Self {
            job: r.job.as_ref().map(JobView::from).unwrap_or_else(|| JobView::from(&pb::Job::default())),
            metrics: embedded_json(&r.metrics_json),
            artifacts: r.artifacts.iter().map(ArtifactView::from).collect(),
        }
    }
}

/// A stored artifact.
#[derive(Debug, Serialize)]
pub struct ArtifactView {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

impl From<&pb::Artifact> for ArtifactView {
    fn from(a: &pb::Artifact) -> Self {
        Self { name: a.name.clone(), size: a.size, sha256: a.sha256.clone() }
    }
}

/// `cancel`.
#[derive(Debug, Serialize)]
pub struct CancelView {
    /// Whether the job is already CANCELLED (false: a trainer is stopping it).
    pub cancelled: bool,
    /// The job after the request.
    pub job: JobView,
}

/// `download`.
#[derive(Debug, Serialize)]
pub struct DownloadView {
    /// The job.
    pub job_id: String,
    /// Directory the files were written to.
    pub dir: String,
    /// The files.
    pub files: Vec<DownloadedView>,
}

/// One downloaded file.
#[derive(Debug, Serialize)]
pub struct DownloadedView {
    /// Artifact name.
    pub name: String,
    /// Where it was written.
    pub path: String,
    /// Bytes written.
    pub size: u64,
    /// Hex SHA-256 of what was written.
    pub sha256: String,
    /// Whether the size and SHA-256 match what the scheduler listed (false when it listed none).
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_kinds_by_short_name() {
        assert_eq!(state_name(pb::JobState::Queued as i32), "QUEUED");
        assert_eq!(state_name(pb::JobState::Cancelled as i32), "CANCELLED");
        assert_eq!(state_name(42), "UNKNOWN(42)");
        assert_eq!(kind_name(pb::EventKind::Snapshot as i32), "SNAPSHOT");
    }

    #[test]
    fn job_json_has_stable_field_names() {
        let job = pb::Job {
            id: "tr_1754727123_a1b2c3d4".into(),
            state: pb::JobState::Queued as i32,
            queue_position: 2,
            resolved_spec_json: r#"{"total_steps":1000}"#.into(),
            spec: Some(pb::JobSpec {
                symbols: vec!["BTC".into()],
                overrides: [("ppo.learning_rate".to_string(), "1e-4".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(JobView::from(&job)).unwrap();
        assert_eq!(v["id"], "tr_1754727123_a1b2c3d4");
        assert_eq!(v["state"], "QUEUED");
        assert_eq!(v["percent"], 0.0);
        assert_eq!(v["queue_position"], 2);
        assert_eq!(v["resolved_spec"]["total_steps"], 1000);
        assert_eq!(v["spec"]["overrides"]["ppo.learning_rate"], "1e-4");
        assert_eq!(v["result"], serde_json::Value::Null);
    }
}
