//! Where a job is kept once it has **finished** (DONE, FAILED or CANCELLED): a compact entry per
//! job instead of its record. An entry holds what listing, filtering, paging, the day's compute
//! budget, retention and lineages need (id, state, times, the spec as submitted, the headline
//! result, and a status line and error cut short); the rest (history, resolved spec, checkpoints,
//! artifacts, every attempt's error) is the job's `manifest.json`, read when a client asks for the
//! job itself.
//!
//! What jobs share is kept once: the algorithm, symbols and features of a spec ([`SpecShape`])
//! and the data fingerprints are interned, so a hundred thousand jobs of a few lineages cost a
//! few hundred bytes each.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::job::{JobRecord, JobState, JsonText, ProgressRecord, ResultRecord, SubmittedSpec};

/// Longest status line or error an entry keeps (characters); the manifest has the whole text.
pub const SUMMARY_CHARS: usize = 200;

/// The parts of a spec many jobs share: one copy for all of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpecShape {
    /// Algorithm.
    pub algorithm: String,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Feature sets.
    pub features: Vec<String>,
    /// The lineage key of jobs of this shape ([`crate::job::lineage_key`]).
    pub lineage: String,
}

/// Data fingerprints (symbol, SHA-256) as a finished job's trainer reported them.
pub type Fingerprints = Arc<[(String, String)]>;

/// A finished job, compact.
#[derive(Debug, Clone)]
pub struct FinishedJob {
    /// Job id.
    pub id: Arc<str>,
    /// DONE, FAILED or CANCELLED.
    pub state: JobState,
    /// Attempts started.
    pub attempt: u32,
    /// Priority it was submitted with.
    pub priority: i32,
    /// Submission order.
    pub seq: u64,
    /// Created (unix ms).
    pub created_ms: i64,
    /// First started (unix ms, 0 if never).
    pub started_ms: i64,
    /// Finished (unix ms).
    pub finished_ms: i64,
    /// Sequence number of its last event on disk.
    pub last_sequence: u64,
    /// Algorithm, symbols, features (interned).
    pub shape: Arc<SpecShape>,
    /// Steps asked for.
    pub total_steps: u64,
    /// Seed.
    pub seed: Option<u64>,
    /// Wall budget (seconds).
    pub max_duration_seconds: f64,
    /// Overrides, if any.
    pub overrides: Option<Box<BTreeMap<String, String>>>,
    /// Idempotency key, if any (it expires with the job).
    pub idempotency_key: Option<Box<str>>,
    /// Last progress.
    pub percent: f64,
    /// Steps done.
    pub steps_done: u64,
    /// Last speed.
    pub steps_per_sec: f64,
    /// Last status line, cut to [`SUMMARY_CHARS`].
    pub message: Box<str>,
    /// Error of a failed job, cut to [`SUMMARY_CHARS`].
    pub error: Box<str>,
    /// Headline result of a done job.
    pub result: Option<Box<ResultRecord>>,
    /// Data fingerprints (interned; empty when the trainer reported none).
    pub fingerprints: Fingerprints,
    /// The experiment cell it is a run of (runs stay out of lineages).
    pub experiment: Option<Box<crate::experiment::Cell>>,
}

/// `text` cut to [`SUMMARY_CHARS`] characters, with an ellipsis when it was longer.
fn cut(text: &str) -> Box<str> {
    match text.char_indices().nth(SUMMARY_CHARS) {
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]).into_boxed_str(),
    }
}

/// What an entry is made of: the fields of a manifest it keeps. Start-up reads manifests into
/// this, so the rest (the resolved spec and the history above all) is skipped, not built; the
/// finished index ([`crate::finished_index`]) stores it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishedManifest {
    /// Job id.
    pub id: String,
    /// The spec as submitted.
    pub request: SubmittedSpec,
    /// How it ended.
    pub state: JobState,
    /// Priority.
    #[serde(default)]
    pub priority: i32,
    /// Idempotency key.
    #[serde(default, alias = "idempotency_key", skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Data fingerprints.
    #[serde(default, alias = "data_fingerprints", skip_serializing_if = "Vec::is_empty")]
    pub data_fingerprints: Vec<(String, String)>,
    /// Submission order.
    #[serde(default)]
    pub seq: u64,
    /// Created (unix ms).
    #[serde(alias = "created_ms")]
    pub created_ms: i64,
    /// First started.
    #[serde(default, alias = "started_ms")]
    pub started_ms: i64,
    /// Finished.
    #[serde(default, alias = "finished_ms")]
    pub finished_ms: i64,
    /// Attempts started.
    #[serde(default)]
    pub attempt: u32,
    /// Last progress.
    #[serde(default)]
    pub progress: ProgressRecord,
    /// Error of a failed job.
    #[serde(default)]
    pub error: String,
    /// Result of a done job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<ResultRecord>>,
    /// The last event's number.
    #[serde(default, alias = "last_sequence")]
    pub last_sequence: u64,
    /// The experiment cell it is a run of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<crate::experiment::Cell>,
}

impl From<JobRecord> for FinishedManifest {
    fn from(job: JobRecord) -> FinishedManifest {
        FinishedManifest {
            id: job.id,
            request: job.request,
            state: job.state,
            priority: job.priority,
            idempotency_key: job.idempotency_key,
            data_fingerprints: job.data_fingerprints,
            seq: job.seq,
            created_ms: job.created_ms,
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            attempt: job.attempt,
            progress: job.progress,
            error: job.error,
            result: job.result,
            last_sequence: job.last_sequence,
            experiment: job.experiment,
        }
    }
}

/// One copy of what many jobs share: spec shapes and fingerprint lists.
#[derive(Debug, Default)]
pub struct Interner {
    shapes: HashSet<Arc<SpecShape>>,
    fingerprints: HashSet<Fingerprints>,
}

impl Interner {
    /// The shared copy of `shape`.
    fn shape(&mut self, shape: SpecShape) -> Arc<SpecShape> {
        if let Some(shared) = self.shapes.get(&shape) {
            return shared.clone();
        }
        let shape = Arc::new(shape);
        self.shapes.insert(shape.clone());
        shape
    }

    /// The shared copy of `fingerprints`.
    fn fingerprints(&mut self, fingerprints: Vec<(String, String)>) -> Fingerprints {
        if let Some(shared) = self.fingerprints.get(fingerprints.as_slice()) {
            return shared.clone();
        }
        let shared: Fingerprints = fingerprints.into();
        self.fingerprints.insert(shared.clone());
        shared
    }

    /// `job` with the shared copies of its shape and fingerprints.
    fn share(&mut self, mut job: FinishedJob) -> FinishedJob {
        job.shape = match self.shapes.get(&job.shape) {
            Some(shape) => shape.clone(),
            None => {
                self.shapes.insert(job.shape.clone());
                job.shape
            }
        };
        job.fingerprints = match self.fingerprints.get(&job.fingerprints) {
            Some(f) => f.clone(),
            None => {
                self.fingerprints.insert(job.fingerprints.clone());
                job.fingerprints
            }
        };
        job
    }

    /// Drops the copies no job uses any more.
    fn forget_unused(&mut self) {
        self.shapes.retain(|s| Arc::strong_count(s) > 1);
        self.fingerprints.retain(|f| Arc::strong_count(f) > 1);
    }
}

impl FinishedJob {
    /// The compact entry of a finished job's record.
    pub fn of(job: JobRecord) -> FinishedJob {
        FinishedJob::from_manifest(FinishedManifest::from(job), &mut Interner::default())
    }

    /// The compact entry of what a finished job's manifest holds, sharing what `shared` has.
    pub fn from_manifest(job: FinishedManifest, shared: &mut Interner) -> FinishedJob {
        let SubmittedSpec { algorithm, total_steps, symbols, features, seed, max_duration_seconds, overrides, .. } =
            job.request;
        FinishedJob {
            id: job.id.into(),
            state: job.state,
            attempt: job.attempt,
            priority: job.priority,
            seq: job.seq,
            created_ms: job.created_ms,
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            last_sequence: job.last_sequence,
            shape: shared.shape(SpecShape {
                lineage: crate::job::lineage_key(&algorithm, &symbols, &features),
                algorithm,
                symbols,
                features,
            }),
            total_steps,
            seed,
            max_duration_seconds,
            overrides: (!overrides.is_empty()).then(|| Box::new(overrides)),
            idempotency_key: job.idempotency_key.map(String::into_boxed_str),
            percent: job.progress.percent,
            steps_done: job.progress.steps_done,
            steps_per_sec: job.progress.steps_per_sec,
            message: cut(&job.progress.message),
            error: cut(&job.error),
            result: job.result,
            fingerprints: shared.fingerprints(job.data_fingerprints),
            experiment: job.experiment.map(Box::new),
        }
    }
}

impl FinishedJob {
    /// The spec as submitted.
    pub fn request(&self) -> SubmittedSpec {
        let shape = &*self.shape;
        SubmittedSpec {
            algorithm: shape.algorithm.clone(),
            total_steps: self.total_steps,
            symbols: shape.symbols.clone(),
            features: shape.features.clone(),
            seed: self.seed,
            priority: self.priority,
            max_duration_seconds: self.max_duration_seconds,
            idempotency_key: self.idempotency_key.as_deref().unwrap_or_default().to_string(),
            overrides: self.overrides.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// What its manifest holds that the entry keeps (its line in the finished index).
    pub fn manifest(&self) -> FinishedManifest {
        FinishedManifest::from(self.summary())
    }

    /// The job as a list shows it: a record without history or resolved spec (those stay in the
    /// manifest), its status line and error cut short.
    pub fn summary(&self) -> JobRecord {
        let request = self.request();
        let mut record = JobRecord::queued(self.id.to_string(), request, JsonText::null(), self.seed.unwrap_or(0), 0);
        record.history.clear();
        record.code_version.clear();
        record.state = self.state;
        record.seq = self.seq;
        record.created_ms = self.created_ms;
        record.started_ms = self.started_ms;
        record.finished_ms = self.finished_ms;
        record.attempt = self.attempt;
        record.progress = ProgressRecord {
            percent: self.percent,
            message: self.message.to_string(),
            steps_done: self.steps_done,
            steps_per_sec: self.steps_per_sec,
        };
        record.error = self.error.to_string();
        record.result = self.result.clone();
        record.data_fingerprints = self.fingerprints.to_vec();
        record.last_sequence = self.last_sequence;
        record.experiment = self.experiment.as_deref().cloned();
        record
    }

    /// Whether the job was trained on `symbol` (upper case).
    pub fn has_symbol(&self, symbol: &str) -> bool {
        self.shape.symbols.iter().any(|s| s == symbol)
    }
}

/// Every finished job the scheduler keeps, compact.
#[derive(Debug, Default)]
pub struct Finished {
    /// By id (boxed: the table's slots stay small however it grows).
    jobs: HashMap<Arc<str>, Box<FinishedJob>>,
    /// In the order they finished, oldest first: retention and the day's compute budget.
    by_end: BTreeSet<(i64, u64, Arc<str>)>,
    /// Jobs by state: DONE, FAILED, CANCELLED.
    counts: [usize; 3],
    /// What the jobs share, one copy each.
    shared: Interner,
}

fn slot(state: JobState) -> Option<usize> {
    match state {
        JobState::Done => Some(0),
        JobState::Failed => Some(1),
        JobState::Cancelled => Some(2),
        _ => None,
    }
}

impl Finished {
    /// Adds a finished job (replacing an entry of the same id), sharing what it has in common
    /// with the jobs already kept.
    pub fn insert(&mut self, job: FinishedJob) {
        let job = self.shared.share(job);
        self.remove(&job.id);
        if let Some(i) = slot(job.state) {
            self.counts[i] += 1;
        }
        self.by_end.insert((job.finished_ms, job.seq, job.id.clone()));
        self.jobs.insert(job.id.clone(), Box::new(job));
    }

    /// Adds a job that has just finished, from its record.
    pub fn insert_record(&mut self, job: JobRecord) {
        let job = FinishedJob::from_manifest(FinishedManifest::from(job), &mut self.shared);
        self.insert(job);
    }

    /// The entry of job `id`.
    pub fn get(&self, id: &str) -> Option<&FinishedJob> {
        self.jobs.get(id).map(|job| &**job)
    }

    /// Whether job `id` is kept here.
    pub fn contains(&self, id: &str) -> bool {
        self.jobs.contains_key(id)
    }

    /// Takes job `id` out (retention).
    pub fn remove(&mut self, id: &str) -> Option<FinishedJob> {
        let job = self.jobs.remove(id)?;
        self.by_end.remove(&(job.finished_ms, job.seq, job.id.clone()));
        if let Some(i) = slot(job.state) {
            self.counts[i] -= 1;
        }
        Some(*job)
    }

    /// Drops interned shapes and fingerprints no job uses any more.
    pub fn forget_unused(&mut self) {
        self.shared.forget_unused();
    }

    /// Finished jobs in `state` (0 for a state that is not terminal).
    pub fn count(&self, state: JobState) -> usize {
        slot(state).map_or(0, |i| self.counts[i])
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The jobs in the order they finished, oldest first.
    pub fn oldest_first(&self) -> impl DoubleEndedIterator<Item = &FinishedJob> {
        self.by_end.iter().filter_map(|(_, _, id)| self.get(id))
    }

    /// The jobs that finished at or after `since_ms`.
    pub fn ended_since(&self, since_ms: i64) -> impl Iterator<Item = &FinishedJob> {
        let from: Arc<str> = Arc::from("");
        self.by_end.range((since_ms, 0, from)..).filter_map(|(_, _, id)| self.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: &str, state: JobState, finished_ms: i64, symbols: &[&str]) -> JobRecord {
        let request = SubmittedSpec {
            algorithm: "ppo".into(),
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            features: vec!["price".into()],
            total_steps: 4096,
            ..Default::default()
        };
        let mut job = JobRecord::queued(id.into(), request, JsonText::of(&serde_json::json!({"a": 1})).unwrap(), 7, 1);
        job.state = state;
        job.finished_ms = finished_ms;
        job.error = "x".repeat(5000);
        job
    }

    #[test]
    fn an_entry_keeps_the_summary_and_leaves_the_rest_on_disk() {
        let record = finished("tr_1_00000001", JobState::Failed, 10, &["BTC"]);
        let entry = FinishedJob::of(record.clone());
        let summary = entry.summary();
        assert_eq!((summary.id.as_str(), summary.state, summary.finished_ms), ("tr_1_00000001", JobState::Failed, 10));
        assert_eq!(summary.request.symbols, ["BTC"]);
        assert!(summary.history.is_empty() && summary.resolved_spec == JsonText::null(), "not kept");
        assert_eq!(summary.error.chars().count(), SUMMARY_CHARS + 1, "cut, with an ellipsis");
        assert!(summary.error.ends_with('…'));
    }

    #[test]
    fn jobs_share_their_shapes_and_leave_in_the_order_they_ended() {
        let mut index = Finished::default();
        for (i, end) in [30, 10, 20].into_iter().enumerate() {
            let state = if i == 1 { JobState::Cancelled } else { JobState::Done };
            index.insert(FinishedJob::of(finished(&format!("tr_1_0000000{i}"), state, end, &["BTC", "ETH"])));
        }
        let a = index.get("tr_1_00000000").unwrap();
        let b = index.get("tr_1_00000002").unwrap();
        assert!(Arc::ptr_eq(&a.shape, &b.shape), "one copy of the shared shape");
        let order: Vec<i64> = index.oldest_first().map(|j| j.finished_ms).collect();
        assert_eq!(order, [10, 20, 30]);
        assert_eq!(index.ended_since(20).count(), 2);
        assert_eq!((index.count(JobState::Done), index.count(JobState::Cancelled)), (2, 1));
        index.remove("tr_1_00000000");
        assert_eq!((index.count(JobState::Done), index.len()), (1, 2));
        assert_eq!(index.oldest_first().map(|j| j.finished_ms).collect::<Vec<_>>(), [10, 20]);
    }
}
