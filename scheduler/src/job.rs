//! The job domain: ids, states and the one state machine every path (submission, leases,
//! recovery, cancellation) goes through, and the job record persisted as `manifest.json`.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A fresh job id: `tr_<unix-seconds>_<8 lowercase hex>`.
pub fn new_job_id() -> String {
    new_id("tr")
}

/// Whether `id` has the job id shape (so it is safe as a directory name under `runs/`).
pub fn is_valid_job_id(id: &str) -> bool {
    is_valid_id("tr", id)
}

/// A fresh id of the ids' one shape: `<prefix>_<unix-seconds>_<8 lowercase hex>` (jobs `tr`,
/// experiments `ex`).
pub(crate) fn new_id(prefix: &str) -> String {
    let secs = now_ms() / 1000;
    let suffix: u32 = rand::rng().random();
    format!("{prefix}_{secs}_{suffix:08x}")
}

/// Whether `id` is `<prefix>_<unix-seconds>_<8 lowercase hex>` (so it is safe as a directory
/// name).
pub(crate) fn is_valid_id(prefix: &str, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else { return false };
    let Some((secs, hex)) = rest.split_once('_') else { return false };
    !secs.is_empty()
        && secs.len() <= 12
        && secs.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 8
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    /// Waiting for a trainer.
    Queued,
    /// A trainer checks inputs, data and budget.
    Preflight,
    /// PPO updates run.
    Training,
    /// Scoring on the test bars.
    Evaluating,
    /// Finished with results.
    Done,
    /// Ended without results.
    Failed,
    /// Cancelled by a client.
    Cancelled,
}

impl JobState {
    /// Every state, in the order of the life of a job (and of the declaration: `state as usize`
    /// is its index here).
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Preflight,
        JobState::Training,
        JobState::Evaluating,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// Done, failed or cancelled: nothing changes any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }

    /// Held by a trainer.
    pub fn is_running(self) -> bool {
        matches!(self, JobState::Preflight | JobState::Training | JobState::Evaluating)
    }

    /// The legal transitions, all in one place.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        match (self, next) {
            (Queued, Preflight | Failed | Cancelled) => true,
            // A running job moves forward (events may be lost across a scheduler restart, so
            // steps may be skipped), back to the queue (lease lost, handed back), or ends.
            (Preflight, Training | Evaluating | Done | Failed | Cancelled | Queued) => true,
            (Training, Training | Evaluating | Done | Failed | Cancelled | Queued) => true,
            (Evaluating, Done | Failed | Cancelled | Queued) => true,
            _ => false,
        }
    }

    /// Upper-case name, as printed (`QUEUED`).
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Preflight => "PREFLIGHT",
            JobState::Training => "TRAINING",
            JobState::Evaluating => "EVALUATING",
            JobState::Done => "DONE",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
        }
    }
}

/// One entry of the state history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// State entered.
    pub state: JobState,
    /// When (unix ms).
    #[serde(alias = "at_ms")]
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}

/// The lease a trainer holds on a running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRecord {
    /// Unique per grant.
    #[serde(alias = "lease_id")]
    pub lease_id: String,
    /// Attempt it is for.
    pub attempt: u32,
    /// Trainer incarnation.
    #[serde(alias = "trainer_id")]
    pub trainer_id: String,
    /// Trainer name.
    #[serde(alias = "trainer_name")]
    pub trainer_name: String,
    /// Granted at (unix ms).
    #[serde(alias = "granted_ms")]
    pub granted_ms: i64,
    /// Expires at (unix ms) unless renewed by a heartbeat: what is shown and persisted.
    #[serde(alias = "expires_ms")]
    pub expires_ms: i64,
    /// The same deadline on the scheduler's monotonic clock, which is what expiry obeys: a
    /// wall clock stepped by NTP or by hand expires no lease early and keeps none alive. Not
    /// persisted: a restarted scheduler gives every lease one period from its start.
    #[serde(skip)]
    pub deadline: Option<tokio::time::Instant>,
    /// When it was granted, on the monotonic clock (the attempt timeout counts from it).
    #[serde(skip)]
    pub granted_at: Option<tokio::time::Instant>,
}

impl LeaseRecord {
    /// Renews the lease for `ttl` from now; returns the new expiry in unix ms.
    pub fn renew(&mut self, ttl: std::time::Duration) -> i64 {
        self.deadline = Some(tokio::time::Instant::now() + ttl);
        self.expires_ms = now_ms() + ttl.as_millis() as i64;
        self.expires_ms
    }

    /// Whether the lease ran out (monotonic; the wall clock only for a lease never renewed
    /// by this scheduler).
    pub fn expired(&self) -> bool {
        match self.deadline {
            Some(deadline) => tokio::time::Instant::now() > deadline,
            None => now_ms() > self.expires_ms,
        }
    }

    /// How long the attempt has run (monotonic when granted by this scheduler).
    pub fn running_for(&self) -> std::time::Duration {
        match self.granted_at {
            Some(at) => at.elapsed(),
            None => std::time::Duration::from_millis((now_ms() - self.granted_ms).max(0) as u64),
        }
    }
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRecord {
    /// File name under `checkpoints/`.
    pub name: String,
    /// Steps done.
    pub steps: u64,
    /// Best validation Sharpe at the time.
    #[serde(alias = "validation_sharpe")]
    pub validation_sharpe: Option<f64>,
    /// Stored at (unix ms).
    #[serde(alias = "at_ms")]
    pub at_ms: i64,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRecord {
    /// File name under `artifacts/`.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// The headline of a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultRecord {
    /// Portfolio Sharpe of the model on the test bars.
    pub sharpe: f64,
    /// Buy-and-hold Sharpe on the same bars.
    #[serde(alias = "buy_and_hold_sharpe")]
    pub buy_and_hold_sharpe: f64,
    /// Generation in the lineage.
    pub generation: u32,
    /// Sharpe difference over the champion before it (or buy-and-hold) on the same test bars,
    /// with its paired bootstrap interval. Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub improvement: Option<crate::lineage::Improvement>,
    /// Became the champion: its validation score beat every earlier job of the lineage on the
    /// same data (the test result never picks a champion).
    pub champion: bool,
    /// Validation score of the kept model (its portfolio Sharpe on the validation bars): what
    /// ranks the jobs of a lineage. Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "validation_sharpe")]
    pub validation_sharpe: Option<f64>,
    /// Why training stopped.
    #[serde(alias = "stop_reason")]
    pub stop_reason: String,
    /// The model's Sharpe interval excludes 0.
    #[serde(alias = "edge_significant")]
    pub edge_significant: bool,
}

/// Progress as last reported (not persisted on every report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressRecord {
    /// Percent.
    pub percent: f64,
    /// Status line.
    pub message: String,
    /// Steps done.
    #[serde(alias = "steps_done")]
    pub steps_done: u64,
    /// Speed.
    #[serde(alias = "steps_per_sec")]
    pub steps_per_sec: f64,
}

/// A JSON document kept as its text (cheap to clone and to pass on).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(Box<serde_json::value::RawValue>);

impl JsonText {
    /// `null`: a placeholder where the document is left out.
    pub fn null() -> JsonText {
        JsonText(serde_json::value::RawValue::NULL.to_owned())
    }

    /// Serialises `value`.
    pub fn of<T: Serialize>(value: &T) -> serde_json::Result<JsonText> {
        serde_json::value::to_raw_value(value).map(JsonText)
    }

    /// Whether this is the `null` placeholder.
    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

/// Everything the scheduler knows about a job: `runs/<id>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// The spec as submitted (proto JSON-ish form, for display and the API).
    pub request: SubmittedSpec,
    /// The resolved spec: every default filled in; what trainers run. Kept as its JSON text:
    /// it is only ever passed on, and a record is cloned for every view of it. In memory, a
    /// queued job holds `null` here: the text is in its journal line (or manifest) and is read
    /// back when it is needed ([`crate::store::JobStore::resolved_spec`]); manifests always
    /// have it.
    #[serde(alias = "resolved_spec")]
    pub resolved_spec: JsonText,
    /// Seed used (drawn at submission when none was given).
    pub seed: u64,
    /// Priority.
    pub priority: i32,
    /// Wall budget of the training (seconds; 0 = none).
    #[serde(alias = "max_duration_seconds")]
    pub max_duration_seconds: f64,
    /// Idempotency key, if any.
    #[serde(alias = "idempotency_key")]
    pub idempotency_key: Option<String>,
    /// Version of the code that accepted it.
    #[serde(alias = "code_version")]
    pub code_version: String,
    /// Data fingerprints (symbol, SHA-256), as reported by the trainer.
    #[serde(alias = "data_fingerprints")]
    pub data_fingerprints: Vec<(String, String)>,
    /// Current state.
    pub state: JobState,
    /// Every state entered.
    pub history: Vec<StateChange>,
    /// Submission order (breaks priority ties first-in-first-out).
    pub seq: u64,
    /// Created (unix ms).
    #[serde(alias = "created_ms")]
    pub created_ms: i64,
    /// First started (unix ms, 0 if never).
    #[serde(alias = "started_ms")]
    pub started_ms: i64,
    /// Finished (unix ms, 0 while not).
    #[serde(alias = "finished_ms")]
    pub finished_ms: i64,
    /// Attempts started.
    pub attempt: u32,
    /// Why the latest attempts that did not finish ended: the last
    /// [`JobRecord::KEPT_ATTEMPT_ERRORS`], each at most 4 KiB.
    #[serde(alias = "attempt_errors")]
    pub attempt_errors: Vec<String>,
    /// Hand-backs so far (a trainer that stopped, or could not run the job on its host).
    #[serde(default)]
    pub handbacks: u32,
    /// Trainers (incarnations) that could not run this job on their host: it goes elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid_trainers: Vec<String>,
    /// Not dispatched before this time (re-queue back-off; unix ms).
    #[serde(alias = "not_before_ms")]
    pub not_before_ms: i64,
    /// The current lease, while running (boxed, as `result`: most jobs in memory have none,
    /// and each pays for the field's size).
    pub lease: Option<Box<LeaseRecord>>,
    /// A client asked to cancel.
    #[serde(alias = "cancel_requested")]
    pub cancel_requested: bool,
    /// Latest progress.
    pub progress: ProgressRecord,
    /// Stored checkpoints (after pruning).
    pub checkpoints: Vec<CheckpointRecord>,
    /// Stored artifacts.
    pub artifacts: Vec<ArtifactRecord>,
    /// Error of a failed job.
    pub error: String,
    /// Result of a done job.
    pub result: Option<Box<ResultRecord>>,
    /// Sequence number of the latest event.
    #[serde(alias = "last_sequence")]
    pub last_sequence: u64,
    /// The experiment cell it is a run of (none for a plain job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<crate::experiment::Cell>,
}

impl JobRecord {
    /// A freshly submitted job: queued at `now_ms`, nothing run. The committer gives it its
    /// submission number (`seq`).
    pub fn queued(id: String, request: SubmittedSpec, resolved_spec: JsonText, seed: u64, now_ms: i64) -> JobRecord {
        JobRecord {
            id,
            resolved_spec,
            seed,
            priority: request.priority,
            max_duration_seconds: request.max_duration_seconds,
            idempotency_key: (!request.idempotency_key.is_empty()).then(|| request.idempotency_key.clone()),
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            data_fingerprints: Vec::new(),
            state: JobState::Queued,
            history: vec![StateChange { state: JobState::Queued, at_ms: now_ms, reason: "submitted".into() }],
            seq: 0,
            created_ms: now_ms,
            started_ms: 0,
            finished_ms: 0,
            attempt: 0,
            attempt_errors: Vec::new(),
            handbacks: 0,
            avoid_trainers: Vec::new(),
            not_before_ms: 0,
            lease: None,
            cancel_requested: false,
            progress: ProgressRecord { percent: 0.0, message: "queued".into(), steps_done: 0, steps_per_sec: 0.0 },
            checkpoints: Vec::new(),
            artifacts: Vec::new(),
            error: String::new(),
            result: None,
            last_sequence: 0,
            experiment: None,
            request,
        }
    }
}

/// The submitted spec, as the client gave it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmittedSpec {
    /// Algorithm.
    pub algorithm: String,
    /// Steps.
    #[serde(alias = "total_steps")]
    pub total_steps: u64,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Feature sets.
    pub features: Vec<String>,
    /// Seed, if given.
    pub seed: Option<u64>,
    /// Priority.
    pub priority: i32,
    /// Wall budget, seconds.
    #[serde(alias = "max_duration_seconds")]
    pub max_duration_seconds: f64,
    /// Idempotency key.
    #[serde(alias = "idempotency_key")]
    pub idempotency_key: String,
    /// Overrides.
    pub overrides: std::collections::BTreeMap<String, String>,
}

/// An illegal state transition (a bug or a stale request; never applied).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("job {id} cannot go from {from} to {to}")]
pub struct IllegalTransition {
    /// Job.
    pub id: String,
    /// Current state.
    pub from: &'static str,
    /// Requested state.
    pub to: &'static str,
}

impl JobRecord {
    /// How many attempt errors a job keeps (the newest).
    pub const KEPT_ATTEMPT_ERRORS: usize = 10;

    /// Records why an attempt did not finish: cut to 4 KiB, and only the newest
    /// [`Self::KEPT_ATTEMPT_ERRORS`] kept (a job handed back a thousand times stays small).
    pub fn record_attempt_error(&mut self, reason: &str) {
        let mut end = reason.len().min(4096);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.attempt_errors.push(reason[..end].to_string());
        let extra = self.attempt_errors.len().saturating_sub(Self::KEPT_ATTEMPT_ERRORS);
        self.attempt_errors.drain(..extra);
    }

    /// Moves the job to `next` through the state machine, recording why.
    pub fn transition(&mut self, next: JobState, reason: impl Into<String>) -> Result<(), IllegalTransition> {
        if !self.state.can_become(next) {
            return Err(IllegalTransition { id: self.id.clone(), from: self.state.name(), to: next.name() });
        }
        let now = now_ms();
        if next == self.state {
            return Ok(());
        }
        self.state = next;
        self.history.push(StateChange { state: next, at_ms: now, reason: reason.into() });
        if next.is_running() && self.started_ms == 0 {
            self.started_ms = now;
        }
        if next.is_terminal() {
            self.finished_ms = now;
            self.lease = None;
        }
        if next == JobState::Queued {
            self.lease = None;
        }
        Ok(())
    }

    /// The job as a list shows it: without its history and resolved spec (a job's own view has
    /// them) or the lists only the job's own views show (checkpoints, artifacts, every
    /// attempt's error).
    pub fn summary(&self) -> JobRecord {
        JobRecord {
            id: self.id.clone(),
            request: self.request.clone(),
            resolved_spec: JsonText::null(),
            code_version: String::new(),
            data_fingerprints: Vec::new(),
            history: Vec::new(),
            attempt_errors: Vec::new(),
            checkpoints: Vec::new(),
            artifacts: Vec::new(),
            lease: self.lease.clone(),
            progress: self.progress.clone(),
            error: self.error.clone(),
            result: self.result.clone(),
            idempotency_key: self.idempotency_key.clone(),
            avoid_trainers: Vec::new(),
            experiment: self.experiment.clone(),
            ..*self
        }
    }

    /// The lineage key: jobs with the same algorithm, symbols and features form a lineage.
    pub fn lineage(&self) -> String {
        lineage_key(&self.request.algorithm, &self.request.symbols, &self.request.features)
    }
}

/// The lineage key of jobs of `algorithm` on `symbols` with `features` (in any order).
pub fn lineage_key(algorithm: &str, symbols: &[String], features: &[String]) -> String {
    let mut symbols: Vec<String> = symbols.iter().map(|s| s.to_ascii_uppercase()).collect();
    symbols.sort();
    let mut features = features.to_vec();
    features.sort();
    format!("{}|{}|{}", algorithm, symbols.join(","), features.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_is_written_in_the_one_json_form_and_older_ones_still_read() {
        let spec = SubmittedSpec { symbols: vec!["BTC".into()], total_steps: 4096, ..Default::default() };
        let job = JobRecord::queued("tr_1_deadbeef".into(), spec, JsonText::null(), 7, 1_000);
        let text = serde_json::to_string(&job).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!((&v["state"], &v["lastSequence"], &v["createdMs"]), (&"QUEUED".into(), &0.into(), &1000.into()));
        assert_eq!((&v["history"][0]["atMs"], &v["request"]["totalSteps"]), (&1000.into(), &4096.into()));
        assert!(v.get("last_sequence").is_none(), "{v}");
        assert_eq!(serde_json::from_str::<JobRecord>(&text).unwrap(), job);

        // A manifest of an earlier version: snake_case names.
        let old = text
            .replace("lastSequence", "last_sequence")
            .replace("createdMs", "created_ms")
            .replace("atMs", "at_ms")
            .replace("totalSteps", "total_steps")
            .replace("attemptErrors", "attempt_errors");
        assert_eq!(serde_json::from_str::<JobRecord>(&old).unwrap(), job);
    }

    #[test]
    fn job_ids_have_the_documented_shape() {
        let id = new_job_id();
        assert!(is_valid_job_id(&id), "{id}");
        assert!(is_valid_job_id("tr_1754727123_a1b2c3d4"));
        for bad in [
            "",
            "tr_",
            "tr_1_abc",
            "tr_x_a1b2c3d4",
            "tr_1_A1B2C3D4",
            "../etc",
            "tr_1_a1b2c3d4/..",
            "tr_1754727123_a1b2c3d4x",
        ] {
            assert!(!is_valid_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn terminal_states_are_final_and_cancel_is_reachable_from_every_live_state() {
        use JobState::*;
        let all = [Queued, Preflight, Training, Evaluating, Done, Failed, Cancelled];
        for s in all {
            if s.is_terminal() {
                assert!(all.iter().all(|&n| !s.can_become(n)), "{s:?} must be final");
            } else {
                assert!(s.can_become(Cancelled) && s.can_become(Failed), "{s:?}");
            }
        }
        assert!(!Queued.can_become(Done));
        assert!(!Done.can_become(Cancelled), "a job cannot be both done and cancelled");
    }
}
