//! The one JSON form of the protocol's messages: what the REST gateway answers and reads, what
//! `skippy-train … --json` prints, what the dashboard reads, and the dialect of the files under
//! `runs/` (`events.jsonl` lines read as [`Event`]).
//!
//! The dialect: camelCase field names (`totalSteps`, `queuePosition`), enums by their plain
//! names (`"QUEUED"`, `"DONE"`, `"PROGRESS"`), times as unix milliseconds, JSON that the
//! protocol carries as text (`resolved_spec_json`, `metrics_json`) embedded as JSON
//! (`resolvedSpec`, `metrics`). Integers in what is read are accepted as JSON numbers or as
//! decimal strings, as the proto JSON mapping allows; what is written uses numbers.
//!
//! Every type derives [`utoipa::ToSchema`]: the gateway's OpenAPI document is generated from
//! these types, so the document and the JSON cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::v1 as pb;

// ---------------------------------------------------------------------------------------------
// Enums by plain name
// ---------------------------------------------------------------------------------------------

/// Strips the proto prefix of an enum value's name: `JOB_STATE_DONE` → `DONE`.
fn plain(name: &'static str, prefix: &str) -> &'static str {
    name.strip_prefix(prefix).unwrap_or(name)
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    /// Not set (also what a state unknown to this build reads as).
    Unspecified,
    /// Waiting for a trainer.
    Queued,
    /// A trainer checks the spec and loads the data.
    Preflight,
    /// Training.
    Training,
    /// Evaluating out of sample.
    Evaluating,
    /// Finished with results.
    Done,
    /// Failed (every attempt's reason in `error`).
    Failed,
    /// Cancelled by a client.
    Cancelled,
}

impl JobState {
    /// The state of the protocol's number (unknown numbers read as `Unspecified`).
    pub fn from_proto(value: i32) -> JobState {
        match pb::JobState::try_from(value).unwrap_or(pb::JobState::Unspecified) {
            pb::JobState::Unspecified => JobState::Unspecified,
            pb::JobState::Queued => JobState::Queued,
            pb::JobState::Preflight => JobState::Preflight,
            pb::JobState::Training => JobState::Training,
            pb::JobState::Evaluating => JobState::Evaluating,
            pb::JobState::Done => JobState::Done,
            pb::JobState::Failed => JobState::Failed,
            pb::JobState::Cancelled => JobState::Cancelled,
        }
    }

    /// The protocol's value.
    pub fn to_proto(self) -> pb::JobState {
        match self {
            JobState::Unspecified => pb::JobState::Unspecified,
            JobState::Queued => pb::JobState::Queued,
            JobState::Preflight => pb::JobState::Preflight,
            JobState::Training => pb::JobState::Training,
            JobState::Evaluating => pb::JobState::Evaluating,
            JobState::Done => pb::JobState::Done,
            JobState::Failed => pb::JobState::Failed,
            JobState::Cancelled => pb::JobState::Cancelled,
        }
    }

    /// The plain name, as written in JSON: `"QUEUED"`, …
    pub fn name(self) -> &'static str {
        plain(self.to_proto().as_str_name(), "JOB_STATE_")
    }

    /// Reads a state by name, in any case, with or without the proto prefix (`done`, `DONE`,
    /// `JOB_STATE_DONE`).
    pub fn parse(text: &str) -> Option<JobState> {
        let upper = text.trim().to_ascii_uppercase();
        let name = if upper.starts_with("JOB_STATE_") { upper } else { format!("JOB_STATE_{upper}") };
        pb::JobState::from_str_name(&name).map(|s| JobState::from_proto(s as i32))
    }

    /// Done, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of event of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// Not set.
    Unspecified,
    /// The job as it is when a watch starts (first event of a watch).
    Snapshot,
    /// The job changed state.
    State,
    /// Training progress.
    Progress,
    /// A checkpoint was stored.
    Checkpoint,
    /// A log line.
    Log,
}

impl EventKind {
    /// The kind of the protocol's number (unknown numbers read as `Unspecified`).
    pub fn from_proto(value: i32) -> EventKind {
        match pb::EventKind::try_from(value).unwrap_or(pb::EventKind::Unspecified) {
            pb::EventKind::Unspecified => EventKind::Unspecified,
            pb::EventKind::Snapshot => EventKind::Snapshot,
            pb::EventKind::State => EventKind::State,
            pb::EventKind::Progress => EventKind::Progress,
            pb::EventKind::Checkpoint => EventKind::Checkpoint,
            pb::EventKind::Log => EventKind::Log,
        }
    }

    /// The plain name, as written in JSON: `"PROGRESS"`, …
    pub fn name(self) -> &'static str {
        let proto = match self {
            EventKind::Unspecified => pb::EventKind::Unspecified,
            EventKind::Snapshot => pb::EventKind::Snapshot,
            EventKind::State => pb::EventKind::State,
            EventKind::Progress => pb::EventKind::Progress,
            EventKind::Checkpoint => pb::EventKind::Checkpoint,
            EventKind::Log => pb::EventKind::Log,
        };
        plain(proto.as_str_name(), "EVENT_KIND_")
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of event of the scheduler-wide feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeedEventKind {
    /// Not set.
    Unspecified,
    /// The reader fell out of the feed (or its resume point is from another run): reload the
    /// jobs, then follow from this event.
    Reset,
    /// A job changed (`event` holds it).
    Change,
}

impl FeedEventKind {
    /// The kind of the protocol's number (unknown numbers read as `Unspecified`).
    pub fn from_proto(value: i32) -> FeedEventKind {
        match pb::JobsEventKind::try_from(value).unwrap_or(pb::JobsEventKind::Unspecified) {
            pb::JobsEventKind::Unspecified => FeedEventKind::Unspecified,
            pb::JobsEventKind::Reset => FeedEventKind::Reset,
            pb::JobsEventKind::Change => FeedEventKind::Change,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Text that holds JSON, as the JSON it holds (`null` when empty, the text itself when it does
/// not parse).
pub fn embedded_json(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// What a client asks to train (`POST /api/training/jobs`), and the spec as submitted in a
/// job. Unknown fields are refused; unset fields take the documented defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"symbols": ["BTC"], "features": ["price"], "totalSteps": 4096, "seed": 7}))]
pub struct JobSpec {
    /// Algorithm; only "ppo" exists. Empty means "ppo".
    #[serde(default)]
    pub algorithm: String,
    /// Environment steps to train for (0: the default, 1,000,000).
    #[serde(default, alias = "total_steps", deserialize_with = "int_or_default")]
    #[schema(minimum = 0, example = 20000)]
    pub total_steps: u64,
    /// Catalog symbols to train one policy on.
    #[serde(default)]
    #[schema(example = json!(["BTC", "ETH"]))]
    pub symbols: Vec<String>,
    /// Feature sets: "price", "microstructure" (default ["price"]).
    #[serde(default)]
    #[schema(example = json!(["price"]))]
    pub features: Vec<String>,
    /// Seed of every random choice; absent means one is drawn and recorded.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_int")]
    #[schema(minimum = 0)]
    pub seed: Option<u64>,
    /// Higher runs first; equal priorities run first-in-first-out.
    #[serde(default, deserialize_with = "int_or_default")]
    pub priority: i32,
    /// Wall-duration budget of the training in seconds (0: none beyond the server's cap).
    #[serde(default, alias = "max_duration_seconds", deserialize_with = "float_or_default")]
    #[schema(minimum = 0)]
    pub max_duration_seconds: f64,
    /// Submitting twice with the same key returns the first job instead of a new one.
    #[serde(default, alias = "idempotency_key")]
    pub idempotency_key: String,
    /// Overrides of the resolved spec by dotted path (`{"ppo.learning_rate": 0.0001}`); values
    /// are JSON, so numbers and booleans are taken as written. A submitted job shows them as the
    /// text it stored.
    #[serde(default)]
    #[schema(value_type = Object, additional_properties = true)]
    pub overrides: BTreeMap<String, Value>,
}

impl From<pb::JobSpec> for JobSpec {
    fn from(s: pb::JobSpec) -> JobSpec {
        JobSpec {
            algorithm: s.algorithm,
            total_steps: s.total_steps,
            symbols: s.symbols,
            features: s.features,
            seed: s.seed,
            priority: s.priority,
            max_duration_seconds: s.max_duration_seconds,
            idempotency_key: s.idempotency_key,
            overrides: s.overrides.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        }
    }
}

impl From<JobSpec> for pb::JobSpec {
    fn from(s: JobSpec) -> pb::JobSpec {
        pb::JobSpec {
            algorithm: s.algorithm,
            total_steps: s.total_steps,
            symbols: s.symbols,
            features: s.features,
            seed: s.seed,
            priority: s.priority,
            max_duration_seconds: s.max_duration_seconds,
            idempotency_key: s.idempotency_key,
            overrides: s
                .overrides
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        }
    }
}

/// One entry of a job's state history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// The state entered.
    pub state: JobState,
    /// When, unix ms.
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}

/// A Sharpe difference against a baseline on the same test bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Improvement {
    /// Sharpe(model) − Sharpe(baseline).
    #[serde(alias = "sharpe_difference")]
    pub sharpe_difference: f64,
    /// The paired bootstrap interval of the difference: lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Confidence level of the interval (0.95).
    pub level: f64,
    /// Whether the interval excludes 0.
    pub significant: bool,
    /// The generation of the champion it is measured over; 0: buy-and-hold.
    #[serde(alias = "over_generation")]
    pub over_generation: u32,
}

impl From<pb::Improvement> for Improvement {
    fn from(i: pb::Improvement) -> Improvement {
        Improvement {
            sharpe_difference: i.sharpe_difference,
            lo: i.lo,
            hi: i.hi,
            level: i.level,
            significant: i.significant,
            over_generation: i.over_generation,
        }
    }
}

impl From<Improvement> for pb::Improvement {
    fn from(i: Improvement) -> pb::Improvement {
        pb::Improvement {
            sharpe_difference: i.sharpe_difference,
            lo: i.lo,
            hi: i.hi,
            level: i.level,
            significant: i.significant,
            over_generation: i.over_generation,
        }
    }
}

/// The headline of a finished job's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultSummary {
    /// Out-of-sample Sharpe of the model (equal-weight portfolio of the job's symbols).
    pub sharpe: f64,
    /// Buy-and-hold Sharpe on the same bars.
    pub buy_and_hold_sharpe: f64,
    /// Generation in the lineage (1 = first).
    pub generation: u32,
    /// The Sharpe difference over the lineage's champion before this job (over buy-and-hold
    /// when there is none), with its paired bootstrap interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub improvement: Option<Improvement>,
    /// Became the lineage's champion (ranked on validation, never on the test bars).
    pub champion: bool,
    /// Why training stopped: "completed" or "duration_limit".
    pub stop_reason: String,
    /// Whether the model's Sharpe interval excludes 0.
    pub edge_significant: bool,
}

impl From<pb::ResultSummary> for ResultSummary {
    fn from(r: pb::ResultSummary) -> ResultSummary {
        ResultSummary {
            sharpe: r.sharpe,
            buy_and_hold_sharpe: r.buy_and_hold_sharpe,
            generation: r.generation,
            improvement: r.improvement.map(Improvement::from),
            champion: r.champion,
            stop_reason: r.stop_reason,
            edge_significant: r.edge_significant,
        }
    }
}

/// A training job as the scheduler knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id: `tr_<unix-seconds>_<8 lowercase hex>`.
    #[schema(example = "tr_1754727123_a1b2c3d4")]
    pub id: String,
    /// The spec as submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
    /// Current state.
    pub state: JobState,
    /// Overall progress, 0–100.
    pub percent: f64,
    /// Human-readable status line.
    pub message: String,
    /// Environment steps done.
    pub steps_done: u64,
    /// Environment steps asked for (resolved).
    pub total_steps: u64,
    /// Recent training speed.
    pub steps_per_sec: f64,
    /// Submission time, unix ms.
    pub created_ms: i64,
    /// First time a trainer started it, unix ms (0 if never).
    pub started_ms: i64,
    /// End time, unix ms (0 while not finished).
    pub finished_ms: i64,
    /// 1-based position in the queue while QUEUED (0 otherwise).
    pub queue_position: u32,
    /// Attempts started so far.
    pub attempt: u32,
    /// Trainer incarnation holding the job ("" when none).
    pub trainer_id: String,
    /// Why it failed ("" unless FAILED).
    pub error: String,
    /// Every state entered, oldest first.
    pub history: Vec<StateChange>,
    /// The headline result (DONE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultSummary>,
    /// The resolved spec: every default filled in. Its keys are the `--set` / `overrides`
    /// paths (`ppo.learning_rate`), written as the spec's own fields.
    #[schema(value_type = Option<Object>)]
    pub resolved_spec: Value,
    /// Sequence number of the job's latest event.
    pub last_sequence: u64,
    /// The experiment cell the job is a run of (absent for a plain job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentCell>,
}

impl From<pb::Job> for Job {
    fn from(j: pb::Job) -> Job {
        Job {
            resolved_spec: embedded_json(&j.resolved_spec_json),
            state: JobState::from_proto(j.state),
            id: j.id,
            spec: j.spec.map(JobSpec::from),
            percent: j.percent,
            message: j.message,
            steps_done: j.steps_done,
            total_steps: j.total_steps,
            steps_per_sec: j.steps_per_sec,
            created_ms: j.created_ms,
            started_ms: j.started_ms,
            finished_ms: j.finished_ms,
            queue_position: j.queue_position,
            attempt: j.attempt,
            trainer_id: j.trainer_id,
            error: j.error,
            history: j
                .history
                .into_iter()
                .map(|h| StateChange { state: JobState::from_proto(h.state), at_ms: h.at_ms, reason: h.reason })
                .collect(),
            result: j.result.map(ResultSummary::from),
            last_sequence: j.last_sequence,
            experiment: j.experiment.map(ExperimentCell::from),
        }
    }
}

/// The answer to a submission: the job's fields, plus whether it is new.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// False when the idempotency key returned an existing job.
    pub created: bool,
}

/// A page of jobs, newest first. Each job is its summary: `history` is empty and
/// `resolvedSpec` is `null` (a job's own route has both).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<Job>,
    /// The cursor of the next page (absent on the last page): pass it as `cursor`, with the same
    /// filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The next page's URL (REST only; absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "/api/training/jobs?limit=20&cursor=6a31…")]
    pub next: Option<String>,
}

impl From<pb::ListJobsResponse> for JobList {
    fn from(r: pb::ListJobsResponse) -> JobList {
        JobList {
            jobs: r.jobs.into_iter().map(Job::from).collect(),
            next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
            next: None,
        }
    }
}

/// A stored artifact of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

impl From<pb::Artifact> for Artifact {
    fn from(a: pb::Artifact) -> Artifact {
        Artifact { name: a.name, size: a.size, sha256: a.sha256 }
    }
}

/// A job's results: the job, `metrics.json` as the trainer wrote it (`null` until the job is
/// done), and every artifact stored for it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The evaluation report (`metrics.json`, its own versioned schema; `null` until DONE).
    #[schema(value_type = Option<Object>)]
    pub metrics: Value,
    /// Every artifact stored for the job.
    pub artifacts: Vec<Artifact>,
}

impl From<pb::GetResultsResponse> for Results {
    fn from(r: pb::GetResultsResponse) -> Results {
        Results {
            job: r.job.map(Job::from),
            metrics: embedded_json(&r.metrics_json),
            artifacts: r.artifacts.into_iter().map(Artifact::from).collect(),
        }
    }
}

/// A trainer seen recently.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainerInfo {
    /// Trainer incarnation.
    pub trainer_id: String,
    /// Its name (host and process).
    pub name: String,
    /// Jobs it holds.
    pub job_ids: Vec<String>,
    /// Last heard from, unix ms.
    pub last_seen_ms: i64,
    /// Its recent training speed.
    pub steps_per_sec: f64,
    /// Why it gets no more jobs (it failed several different jobs in a row); absent while it
    /// does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub drained: String,
}

impl From<pb::TrainerInfo> for TrainerInfo {
    fn from(t: pb::TrainerInfo) -> TrainerInfo {
        TrainerInfo {
            trainer_id: t.trainer_id,
            name: t.name,
            job_ids: t.job_ids,
            last_seen_ms: t.last_seen_ms,
            steps_per_sec: t.steps_per_sec,
            drained: t.drained,
        }
    }
}

/// The queue: a page of the queued jobs in dispatch order, with how many are queued in all, the
/// running jobs and the trainers. Jobs are summaries, as in [`JobList`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// A page of the queued jobs, in dispatch order.
    pub queued: Vec<Job>,
    /// How many jobs are queued in all.
    #[serde(default)]
    pub total_queued: u64,
    /// Jobs held by trainers.
    pub running: Vec<Job>,
    /// Trainers seen recently.
    pub trainers: Vec<TrainerInfo>,
    /// The cursor of the next page of queued jobs (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The next page's URL (REST only; absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl From<pb::GetQueueResponse> for Queue {
    fn from(q: pb::GetQueueResponse) -> Queue {
        Queue {
            queued: q.queued.into_iter().map(Job::from).collect(),
            total_queued: q.total_queued,
            running: q.running.into_iter().map(Job::from).collect(),
            trainers: q.trainers.into_iter().map(TrainerInfo::from).collect(),
            next_cursor: (!q.next_page_token.is_empty()).then_some(q.next_page_token),
            next: None,
        }
    }
}

/// Training diagnostics carried by progress events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingStats {
    /// Mean reward of recent episodes.
    #[serde(alias = "episode_reward")]
    pub episode_reward: f64,
    /// Clipped surrogate loss of the latest update.
    #[serde(alias = "policy_loss")]
    pub policy_loss: f64,
    /// Value loss of the latest update.
    #[serde(alias = "value_loss")]
    pub value_loss: f64,
    /// Policy entropy (nats).
    pub entropy: f64,
    /// Approximate KL between successive policies.
    #[serde(alias = "approx_kl")]
    pub approx_kl: f64,
    /// Fraction of clipped probability ratios.
    #[serde(alias = "clip_fraction")]
    pub clip_fraction: f64,
    /// Explained variance of the value function.
    #[serde(alias = "explained_variance")]
    pub explained_variance: f64,
    /// Best validation Sharpe so far.
    #[serde(default, alias = "best_validation_sharpe", skip_serializing_if = "Option::is_none")]
    pub best_validation_sharpe: Option<f64>,
}

impl From<pb::TrainingStats> for TrainingStats {
    fn from(s: pb::TrainingStats) -> TrainingStats {
        TrainingStats {
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

impl From<TrainingStats> for pb::TrainingStats {
    fn from(s: TrainingStats) -> pb::TrainingStats {
        pb::TrainingStats {
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

/// One event of a job (sequence numbers from 1, no gaps). A line of `runs/<id>/events.jsonl`
/// reads as one (without `jobId` and `job`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Position in the job's event log.
    pub sequence: u64,
    /// What kind of event.
    pub kind: EventKind,
    /// The job ("" in `events.jsonl`, which is the job's own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub job_id: String,
    /// When, unix ms.
    pub at_ms: i64,
    /// State after the event.
    pub state: JobState,
    /// Overall percent after the event.
    pub percent: f64,
    /// Human-readable line.
    pub message: String,
    /// Steps done.
    pub steps_done: u64,
    /// Training speed.
    pub steps_per_sec: f64,
    /// Diagnostics (progress events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<TrainingStats>,
    /// The whole job, on snapshot and state events of a watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
}

impl From<pb::JobEvent> for Event {
    fn from(e: pb::JobEvent) -> Event {
        Event {
            sequence: e.sequence,
            kind: EventKind::from_proto(e.kind),
            job_id: e.job_id,
            at_ms: e.at_ms,
            state: JobState::from_proto(e.state),
            percent: e.percent,
            message: e.message,
            steps_done: e.steps_done,
            steps_per_sec: e.steps_per_sec,
            stats: e.stats.map(TrainingStats::from),
            job: e.job.map(Job::from),
        }
    }
}

/// One event of the scheduler-wide feed (`GET /api/training/events`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedEvent {
    /// Position in the feed of this scheduler run.
    pub sequence: u64,
    /// The scheduler run the sequence belongs to; resume with `<epoch>:<sequence>`.
    pub epoch: String,
    /// RESET or CHANGE.
    pub kind: FeedEventKind,
    /// The job's event, for CHANGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// Why, for RESET.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl From<pb::JobsEvent> for FeedEvent {
    fn from(e: pb::JobsEvent) -> FeedEvent {
        FeedEvent {
            sequence: e.sequence,
            epoch: e.epoch,
            kind: FeedEventKind::from_proto(e.kind),
            event: e.event.map(Event::from),
            reason: e.reason,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers as the proto JSON mapping reads them
// ---------------------------------------------------------------------------------------------

/// Reads an integer written as a JSON number (`20000`, `2e4`) or a decimal string (`"20000"`);
/// `null` reads as absent.
struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> IntVisitor<T> {
    fn fit<E: de::Error>(&self, v: i128, unexpected: Unexpected<'_>) -> Result<Option<T>, E> {
        T::try_from(v).map(Some).map_err(|_| E::invalid_value(unexpected, self))
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for IntVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer in range for {} (a JSON number or a decimal string)", std::any::type_name::<T>())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        self.fit(v as i128, Unexpected::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        self.fit(v as i128, Unexpected::Signed(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        // Exponent notation (`2e4`) arrives as a float; only whole values in range are integers.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.8e19 {
            self.fit(v as i128, Unexpected::Float(v))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
        if let Ok(v) = s.parse::<i128>() {
            return self.fit(v, Unexpected::Str(s));
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.8e19 => self.fit(v as i128, Unexpected::Str(s)),
            _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
        }
    }
}

/// An integer field whose absence (or `null`) is its zero value.
pub fn int_or_default<'de, D: Deserializer<'de>, T: TryFrom<i128> + Default>(d: D) -> Result<T, D::Error> {
    Ok(d.deserialize_option(IntVisitor::<T>(PhantomData))?.unwrap_or_default())
}

/// An optional integer field (`null` is absent).
pub fn optional_int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(IntVisitor::<T>(PhantomData))
}

/// Reads a float written as a JSON number or a numeric string; `null` reads as absent.
struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number (a JSON number or a numeric string)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(Some(v))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<f64>, E> {
        s.trim().parse::<f64>().map(Some).map_err(|_| E::invalid_value(Unexpected::Str(s), &self))
    }
}

/// A float field whose absence (or `null`) is 0.
pub fn float_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(d.deserialize_option(FloatVisitor)?.unwrap_or_default())
}

/// An optional float field (`null` is absent).
pub fn optional_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_option(FloatVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<JobSpec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_are_read_from_numbers_strings_and_exponents() {
        let s = spec(r#"{"totalSteps": "20000", "seed": 7, "priority": "-3"}"#).unwrap();
        assert_eq!((s.total_steps, s.seed, s.priority), (20000, Some(7), -3));
        let s = spec(r#"{"total_steps": 2e4, "seed": null, "maxDurationSeconds": "1.5"}"#).unwrap();
        assert_eq!((s.total_steps, s.seed, s.max_duration_seconds), (20000, None, 1.5));
    }

    #[test]
    fn bad_numbers_and_unknown_fields_say_what_and_where() {
        let e = spec(r#"{"totalSteps": "abc"}"#).unwrap_err();
        assert!(e.contains("\"abc\"") && e.contains("integer"), "{e}");
        let e = spec(r#"{"totalSteps": -1}"#).unwrap_err();
        assert!(e.contains("-1"), "{e}");
        let e = spec(r#"{"totalSteps": 1.5}"#).unwrap_err();
        assert!(e.contains("1.5"), "{e}");
        let e = spec(r#"{"priority": 3000000000}"#).unwrap_err();
        assert!(e.contains("3000000000"), "{e}");
        let e = spec(r#"{"totlSteps": 1}"#).unwrap_err();
        assert!(e.contains("unknown field `totlSteps`"), "{e}");
    }

    #[test]
    fn override_values_that_are_not_strings_keep_their_json_text() {
        let s = spec(r#"{"overrides": {"ppo.learning_rate": 0.0001, "env.long_only": true, "a": "b"}}"#).unwrap();
        let p = pb::JobSpec::from(s);
        assert_eq!(p.overrides["ppo.learning_rate"], "0.0001");
        assert_eq!(p.overrides["env.long_only"], "true");
        assert_eq!(p.overrides["a"], "b");
    }

    #[test]
    fn jobs_are_written_in_camel_case_with_plain_enum_names() {
        let job = pb::Job {
            id: "tr_1_deadbeef".into(),
            state: pb::JobState::Queued as i32,
            queue_position: 1,
            total_steps: 20000,
            resolved_spec_json: r#"{"ppo":{"n_steps":2048}}"#.into(),
            history: vec![pb::StateChange { state: pb::JobState::Queued as i32, at_ms: 5, reason: "submitted".into() }],
            ..Default::default()
        };
        let v = serde_json::to_value(Job::from(job)).unwrap();
        assert_eq!(v["state"], "QUEUED");
        assert_eq!(v["history"][0]["state"], "QUEUED");
        assert_eq!(v["history"][0]["atMs"], 5);
        assert_eq!(v["queuePosition"], 1);
        assert_eq!(v["totalSteps"], 20000);
        assert_eq!(v["resolvedSpec"]["ppo"]["n_steps"], 2048);
        assert!(v.get("result").is_none());
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back.state, JobState::Queued);
    }

    #[test]
    fn every_state_and_kind_has_its_plain_name_both_ways() {
        for n in 0..8 {
            let s = JobState::from_proto(n);
            assert_eq!(s.to_proto() as i32, n);
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
            assert_eq!(JobState::parse(&s.name().to_lowercase()), Some(s));
            assert_eq!(JobState::parse(pb::JobState::try_from(n).unwrap().as_str_name()), Some(s));
        }
        assert_eq!(JobState::from_proto(42), JobState::Unspecified);
        assert_eq!(JobState::parse("finished"), None);
        for n in 0..6 {
            let k = EventKind::from_proto(n);
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        assert_eq!(serde_json::to_value(FeedEventKind::from_proto(1)).unwrap(), "RESET");
    }
}

// ---------------------------------------------------------------------------------------------
// Experiments
// ---------------------------------------------------------------------------------------------

/// Where an experiment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExperimentState {
    /// Not set (also what a state unknown to this build reads as).
    Unspecified,
    /// Some runs have not ended.
    Running,
    /// Every run has ended and the report is written.
    Done,
    /// Cancelled by a client.
    Cancelled,
    /// Every run has ended and no fold has a finished run to report on.
    Failed,
}

impl ExperimentState {
    /// The state of the protocol's number (unknown numbers read as `Unspecified`).
    pub fn from_proto(value: i32) -> ExperimentState {
        match pb::ExperimentState::try_from(value).unwrap_or(pb::ExperimentState::Unspecified) {
            pb::ExperimentState::Unspecified => ExperimentState::Unspecified,
            pb::ExperimentState::Running => ExperimentState::Running,
            pb::ExperimentState::Done => ExperimentState::Done,
            pb::ExperimentState::Cancelled => ExperimentState::Cancelled,
            pb::ExperimentState::Failed => ExperimentState::Failed,
        }
    }

    /// The protocol's value.
    pub fn to_proto(self) -> pb::ExperimentState {
        match self {
            ExperimentState::Unspecified => pb::ExperimentState::Unspecified,
            ExperimentState::Running => pb::ExperimentState::Running,
            ExperimentState::Done => pb::ExperimentState::Done,
            ExperimentState::Cancelled => pb::ExperimentState::Cancelled,
            ExperimentState::Failed => pb::ExperimentState::Failed,
        }
    }

    /// Whether it has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, ExperimentState::Done | ExperimentState::Cancelled | ExperimentState::Failed)
    }
}

impl fmt::Display for ExperimentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(plain(self.to_proto().as_str_name(), "EXPERIMENT_STATE_"))
    }
}

/// Where a run sits in its experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentCell {
    /// The experiment: `ex_<unix-seconds>_<8 lowercase hex>`.
    #[schema(example = "ex_1754727123_a1b2c3d4")]
    pub experiment_id: String,
    /// Index of the configuration (0-based).
    pub config: u32,
    /// Index of the seed (0-based).
    pub seed_index: u32,
    /// The walk-forward fold (0-based, in time order).
    pub fold: u32,
}

impl From<pb::ExperimentCell> for ExperimentCell {
    fn from(c: pb::ExperimentCell) -> ExperimentCell {
        ExperimentCell { experiment_id: c.experiment_id, config: c.config, seed_index: c.seed_index, fold: c.fold }
    }
}

impl From<ExperimentCell> for pb::ExperimentCell {
    fn from(c: ExperimentCell) -> pb::ExperimentCell {
        pb::ExperimentCell { experiment_id: c.experiment_id, config: c.config, seed_index: c.seed_index, fold: c.fold }
    }
}

/// A setting tried over several values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"path": "ppo.learning_rate", "values": ["1e-4", "3e-4"]}))]
pub struct GridAxis {
    /// A `--set` path of the spec.
    pub path: String,
    /// The values (JSON; numbers and booleans are taken as written), at least one.
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<Value>,
}

/// The text the protocol carries for a JSON value: strings as they are, the rest as JSON.
fn value_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// What a client asks to run (`POST /api/training/experiments`): `base` trained with each
/// configuration of the grid, each seed and each walk-forward fold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"base": {"symbols": ["BTC", "ETH"], "totalSteps": 100000}, "seeds": 5, "folds": 4,
    "grid": [{"path": "ppo.learning_rate", "values": [0.0001, 0.0003]}]}))]
pub struct ExperimentSpec {
    /// The job every run starts from. Its `seed` is the first seed (absent: drawn); its
    /// `idempotencyKey` keys the experiment.
    pub base: JobSpec,
    /// Seeds per configuration and fold (0: the default, 5).
    #[serde(default, deserialize_with = "int_or_default")]
    pub seeds: u32,
    /// Walk-forward folds (0: the default, 4; 1: the single split).
    #[serde(default, deserialize_with = "int_or_default")]
    pub folds: u32,
    /// The configurations: the product of the axes' values (none: the base alone).
    #[serde(default)]
    pub grid: Vec<GridAxis>,
    /// Once reported with an edge that survives, queue the champion candidate: the configuration
    /// chosen on the latest fold's validation, one job per seed on the lineage's own split
    /// (ranked on validation in the lineage as any job is). Nothing is queued without an edge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

impl From<pb::ExperimentSpec> for ExperimentSpec {
    fn from(s: pb::ExperimentSpec) -> ExperimentSpec {
        ExperimentSpec {
            base: s.base.map(JobSpec::from).unwrap_or_default(),
            seeds: s.seeds,
            folds: s.folds,
            grid: s
                .grid
                .into_iter()
                .map(|a| GridAxis { path: a.path, values: a.values.into_iter().map(Value::String).collect() })
                .collect(),
            promote: s.promote,
        }
    }
}

impl From<ExperimentSpec> for pb::ExperimentSpec {
    fn from(s: ExperimentSpec) -> pb::ExperimentSpec {
        pb::ExperimentSpec {
            base: Some(s.base.into()),
            seeds: s.seeds,
            folds: s.folds,
            grid: s
                .grid
                .into_iter()
                .map(|a| pb::GridAxis { path: a.path, values: a.values.into_iter().map(value_text).collect() })
                .collect(),
            promote: s.promote,
        }
    }
}

/// One configuration of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentConfig {
    /// Its index.
    pub index: u32,
    /// `--set` path → value, as stored.
    pub settings: BTreeMap<String, String>,
}

/// One run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentRun {
    /// Its job.
    pub job_id: String,
    /// Its cell.
    pub cell: ExperimentCell,
    /// The seed it trains with.
    pub seed: u64,
    /// The job's state.
    pub state: JobState,
    /// Steps done.
    pub steps_done: u64,
    /// Steps asked for.
    pub total_steps: u64,
    /// The kept model's validation Sharpe, once DONE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe, once DONE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's Sharpe on the same bars, once DONE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buy_and_hold_sharpe: Option<f64>,
}

impl From<pb::ExperimentRun> for ExperimentRun {
    fn from(r: pb::ExperimentRun) -> ExperimentRun {
        ExperimentRun {
            state: JobState::from_proto(r.state),
            job_id: r.job_id,
            cell: r.cell.map(ExperimentCell::from).unwrap_or(ExperimentCell {
                experiment_id: String::new(),
                config: 0,
                seed_index: 0,
                fold: 0,
            }),
            seed: r.seed,
            steps_done: r.steps_done,
            total_steps: r.total_steps,
            validation_sharpe: r.validation_sharpe,
            test_sharpe: r.test_sharpe,
            buy_and_hold_sharpe: r.buy_and_hold_sharpe,
        }
    }
}

/// An experiment as the scheduler knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    /// `ex_<unix-seconds>_<8 lowercase hex>`.
    #[schema(example = "ex_1754727123_a1b2c3d4")]
    pub id: String,
    /// As submitted (the base's seed filled in).
    pub spec: ExperimentSpec,
    /// Where it is.
    pub state: ExperimentState,
    /// Creation time, unix ms.
    pub created_ms: i64,
    /// End time, unix ms (0 while running).
    pub finished_ms: i64,
    /// The configurations tried.
    pub configs: Vec<ExperimentConfig>,
    /// Every run, by configuration, then seed, then fold (empty in lists).
    pub runs: Vec<ExperimentRun>,
    /// Runs in all.
    pub runs_total: u32,
    /// Runs queued.
    pub runs_queued: u32,
    /// Runs held by trainers.
    pub runs_running: u32,
    /// Runs DONE.
    pub runs_done: u32,
    /// Runs FAILED.
    pub runs_failed: u32,
    /// Runs CANCELLED.
    pub runs_cancelled: u32,
    /// Environment steps done over every run.
    pub steps_done: u64,
    /// Environment steps asked for over every run.
    pub total_steps: u64,
    /// The report's verdict line, once reported ("" before).
    pub verdict: String,
    /// The champion candidate, once reported, when the spec asked for one (`promote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<ExperimentCandidate>,
}

/// An experiment's champion candidate: the configuration chosen on the latest fold's
/// validation, trained once per seed on the lineage's own split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentCandidate {
    /// The configuration's index.
    pub config: u32,
    /// Its jobs, one per seed (empty when nothing was queued).
    pub job_ids: Vec<String>,
    /// What was done and why: queued, or why not.
    pub note: String,
}

impl From<pb::Experiment> for Experiment {
    fn from(e: pb::Experiment) -> Experiment {
        Experiment {
            state: ExperimentState::from_proto(e.state),
            id: e.id,
            spec: e.spec.map(ExperimentSpec::from).unwrap_or_default(),
            created_ms: e.created_ms,
            finished_ms: e.finished_ms,
            configs: e
                .configs
                .into_iter()
                .map(|c| ExperimentConfig { index: c.index, settings: c.settings.into_iter().collect() })
                .collect(),
            runs: e.runs.into_iter().map(ExperimentRun::from).collect(),
            runs_total: e.runs_total,
            runs_queued: e.runs_queued,
            runs_running: e.runs_running,
            runs_done: e.runs_done,
            runs_failed: e.runs_failed,
            runs_cancelled: e.runs_cancelled,
            steps_done: e.steps_done,
            total_steps: e.total_steps,
            verdict: e.verdict,
            candidate: e.candidate.map(|c| ExperimentCandidate { config: c.config, job_ids: c.job_ids, note: c.note }),
        }
    }
}

/// The answer to an experiment's submission: the experiment, whether it is new, and what its
/// runs should take.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExperimentSubmitted {
    /// The experiment.
    #[serde(flatten)]
    pub experiment: Experiment,
    /// False when the idempotency key returned an existing experiment.
    pub created: bool,
    /// What its runs should take, as the scheduler's admission estimated it; absent when the
    /// idempotency key returned an existing experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<ExperimentEstimate>,
}

/// What an experiment's runs should take to train (evaluation not included): each run's steps
/// at the speed trainers have reported (smoothed) or, before any has, an assumed speed; a run's
/// duration budget caps its share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentEstimate {
    /// Environment steps over every run.
    pub total_steps: u64,
    /// Trainer-seconds over every run: one run on one trainer slot for a second is one. The
    /// wall time is this divided by the runs that train at once.
    pub trainer_seconds: f64,
    /// The speed of one run the estimate assumes (env-steps per second).
    pub steps_per_sec: f64,
    /// True when trainers have reported that speed; false when it is assumed.
    pub measured: bool,
    /// The runs it counts (configurations × seeds × folds).
    pub runs: u32,
}

impl From<pb::ExperimentEstimate> for ExperimentEstimate {
    fn from(e: pb::ExperimentEstimate) -> ExperimentEstimate {
        ExperimentEstimate {
            total_steps: e.total_steps,
            trainer_seconds: e.trainer_seconds,
            steps_per_sec: e.steps_per_sec,
            measured: e.measured,
            runs: e.runs,
        }
    }
}

impl From<pb::SubmitExperimentResponse> for ExperimentSubmitted {
    fn from(r: pb::SubmitExperimentResponse) -> ExperimentSubmitted {
        ExperimentSubmitted {
            experiment: r.experiment.unwrap_or_default().into(),
            created: r.created,
            estimate: r.estimate.map(ExperimentEstimate::from),
        }
    }
}

/// A page of experiments, newest first, without their runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentList {
    /// Newest first.
    pub experiments: Vec<Experiment>,
    /// The cursor of the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The next page's URL (REST only; absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl From<pb::ListExperimentsResponse> for ExperimentList {
    fn from(r: pb::ListExperimentsResponse) -> ExperimentList {
        ExperimentList {
            experiments: r.experiments.into_iter().map(Experiment::from).collect(),
            next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
            next: None,
        }
    }
}

/// An experiment's results: the experiment, its report (`experiment.json`, `null` until every
/// run has ended) and its artifacts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResults {
    /// The experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
    /// The report (`experiment.json`, its own versioned schema; `null` until reported).
    #[schema(value_type = Option<Object>)]
    pub report: Value,
    /// The experiment's artifacts.
    pub artifacts: Vec<Artifact>,
}

impl From<pb::GetExperimentResultsResponse> for ExperimentResults {
    fn from(r: pb::GetExperimentResultsResponse) -> ExperimentResults {
        ExperimentResults {
            experiment: r.experiment.map(Experiment::from),
            report: if r.report_json.is_empty() { Value::Null } else { embedded_json(&r.report_json) },
            artifacts: r.artifacts.into_iter().map(Artifact::from).collect(),
        }
    }
}
