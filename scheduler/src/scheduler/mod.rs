//! The scheduler: the one owner of the queue, the leases and every job's state. gRPC handlers
//! (and later the REST gateway) convert and call these methods; none holds job logic.
//!
//! State lives behind one `std::sync::Mutex`, never held across an `.await`; disk writes happen
//! outside it. Submissions go through a committer task that batches them into one fsync.
//!
//! - this file: state, submission, queries, cancellation, watching;
//! - [`crate::leases`]: dispatch to waiting trainers, heartbeats, expiry;
//! - [`crate::completion`]: what trainers report: progress, checkpoints, artifacts, the end.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use crate::config::Config;
use crate::events::{EventKind, EventLog, EventRecord, StatsRecord};
use crate::job::{JobRecord, JobState, JsonText, SubmittedSpec, is_valid_job_id, new_job_id, now_ms};
use crate::leases::Waiter;
use crate::store::{JobStore, Recovered};
use skippy_contract::features::parse_feature_sets;
use skippy_contract::spec::TrainSpec;

/// Why a request was refused. Mapped to gRPC statuses in exactly one place (`grpc::status`).
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// No such job.
    #[error("no job {0}")]
    NotFound(String),
    /// The request is malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the job's state (e.g. cancelling a finished job).
    #[error("{0}")]
    Conflict(String),
    /// The caller's lease is not the job's current lease (fencing).
    #[error("stale lease for job {job_id}: {reason}")]
    StaleLease {
        /// Job.
        job_id: String,
        /// Why.
        reason: String,
    },
    /// A file under `runs/` could not be read or written; nothing was acknowledged.
    #[error("storage error: {what}: {source}")]
    Storage {
        /// What was being done, e.g. "cannot store the job under /var/lib/skippy/runs".
        what: String,
        /// What the operating system said (shared: one failed group commit answers many).
        source: std::sync::Arc<std::io::Error>,
    },
    /// A blocking storage task was lost (it panicked or the runtime is stopping).
    #[error("storage error: {what}: the task was lost ({source})")]
    StorageTask {
        /// What was being done.
        what: String,
        /// Why the task ended.
        source: tokio::task::JoinError,
    },
    /// An idempotent resubmission waited for the first submission of its key, which did not
    /// commit in time.
    #[error("an earlier submission with this idempotency key did not commit within {0:?}; retry")]
    CommitTimeout(std::time::Duration),
    /// The scheduler is shutting down.
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    /// A server-wide limit is reached (queue full, compute budget spent); try again later.
    #[error("{0}")]
    Exhausted(String),
}

/// Result type of scheduler operations.
pub type Result<T> = std::result::Result<T, SchedulerError>;

impl SchedulerError {
    /// A storage failure while doing `what`.
    pub fn storage(what: impl Into<String>, source: std::io::Error) -> SchedulerError {
        SchedulerError::Storage { what: what.into(), source: std::sync::Arc::new(source) }
    }
}

/// A job as shown to clients: the record plus its queue position.
#[derive(Debug, Clone)]
pub struct JobView {
    /// The record.
    pub record: JobRecord,
    /// 1-based position while queued, else 0.
    pub queue_position: u32,
}

/// What a trainer that is connected looks like.
#[derive(Debug, Clone, Default)]
pub struct TrainerSeen {
    /// Name.
    pub name: String,
    /// Last contact (unix ms).
    pub last_seen_ms: i64,
    /// Latest speed.
    pub steps_per_sec: f64,
}

/// The queue as clients see it.
#[derive(Debug, Clone)]
pub struct QueueView {
    /// Queued jobs in dispatch order.
    pub queued: Vec<JobView>,
    /// Jobs held by trainers.
    pub running: Vec<JobView>,
    /// Recently seen trainers: (incarnation id, what was seen, jobs held).
    pub trainers: Vec<(String, TrainerSeen, Vec<String>)>,
}

/// Commands pushed to a trainer's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainerCommand {
    /// The job was cancelled.
    Cancel,
    /// The trainer's lease is gone.
    LeaseLost,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) jobs: HashMap<String, JobRecord>,
    pub(crate) events: HashMap<String, EventLog>,
    /// Queued jobs in dispatch order: priority (high first), then submission order.
    pub(crate) queue: crate::queue::Queue,
    pub(crate) idempotency: HashMap<String, String>,
    pub(crate) waiters: VecDeque<Waiter>,
    pub(crate) trainers: HashMap<String, TrainerSeen>,
    pub(crate) commands: HashMap<String, mpsc::Sender<(String, TrainerCommand)>>,
    pub(crate) next_seq: u64,
    pub(crate) next_waiter: u64,
    pub(crate) shutting_down: bool,
    /// Jobs with events waiting for the event writer.
    pub(crate) dirty_events: Vec<String>,
    /// Wakes the event writer.
    pub(crate) events_pending: Arc<Notify>,
    /// Admission's counts: jobs being committed, the compute budget, trainers' speed.
    pub(crate) ledger: crate::budget::Ledger,
}

struct PendingSubmit {
    job: JobRecord,
    /// Answered with the job's id (a fresh one if its first collided) once it is durable.
    ack: oneshot::Sender<Result<String>>,
}

/// The scheduler component.
pub struct Scheduler {
    pub(crate) config: Config,
    pub(crate) store: Arc<JobStore>,
    pub(crate) state: Mutex<State>,
    submit_tx: mpsc::Sender<PendingSubmit>,
    /// Signalled after each committed batch (idempotent submissions wait on it).
    committed: Notify,
    /// Per-job locks ordering manifest writes (the latest snapshot is always written last).
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    symbols: Vec<String>,
    /// Turns true when shutdown begins: long-lived streams end on it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Every job's changes in one order, for clients that follow many jobs (`WatchJobs`).
    pub feed: Arc<crate::feed::Feed>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("runs_dir", &self.config.runs_dir).finish()
    }
}

impl Scheduler {
    /// Opens the store, recovers every job, and starts the committer. Returns the scheduler and
    /// what recovery found.
    pub fn start(config: Config) -> anyhow::Result<(Arc<Scheduler>, Recovered)> {
        let (store, recovered) = JobStore::open(&config.runs_dir)
            .with_context(|| format!("cannot open the job store in {}", config.runs_dir.display()))?;
        let symbols = skippy_contract::catalog::symbols(config.data_dir.as_deref())?;
        let (submit_tx, submit_rx) = mpsc::channel(4096);
        let mut state = State::default();
        let grace = now_ms() + config.lease_ttl_ms as i64;
        for mut job in recovered.jobs.iter().cloned() {
            let mut log = EventLog::default();
            // Numbering continues after the last event on disk: events recorded but never
            // written were never shown to anyone, so their numbers are free again.
            job.last_sequence = 0;
            for e in store.read_events(&job.id, 0).unwrap_or_default() {
                job.last_sequence = job.last_sequence.max(e.sequence);
                log.tail.push_back(e);
                if log.tail.len() > crate::events::TAIL_LEN {
                    log.tail.pop_front();
                }
            }
            if let Some(lease) = job.lease.as_mut() {
                // Running when the scheduler stopped: its trainer may still be at work. Give it
                // one lease period to reconnect before the job is re-queued.
                lease.expires_ms = grace;
            }
            if job.state == JobState::Queued {
                state.queue.push(crate::queue::Queue::entry(&job));
            }
            if let Some(key) = &job.idempotency_key {
                state.idempotency.insert(key.clone(), job.id.clone());
            }
            state.next_seq = state.next_seq.max(job.seq + 1);
            state.events.insert(job.id.clone(), log);
            state.jobs.insert(job.id.clone(), job);
        }
        let scheduler = Arc::new(Scheduler {
            config,
            store: Arc::new(store),
            state: Mutex::new(state),
            submit_tx,
            committed: Notify::new(),
            write_locks: Mutex::new(HashMap::new()),
            symbols,
            stopping: tokio::sync::watch::channel(false).0,
            metrics: Default::default(),
            feed: Default::default(),
        });
        // Jobs replayed from the journal have no events yet.
        {
            let mut st = scheduler.lock();
            let ids: Vec<String> = st.jobs.values().filter(|j| j.last_sequence == 0).map(|j| j.id.clone()).collect();
            for id in ids {
                push_event(&mut st, &id, EventKind::State, "queued".into(), None);
            }
        }
        {
            // A thread of its own: the fsync blocks it, and a submission reaches waiting
            // trainers without another hop through the runtime.
            // It holds the scheduler weakly, so it ends when the scheduler is dropped.
            let (scheduler, runtime) = (Arc::downgrade(&scheduler), tokio::runtime::Handle::current());
            std::thread::Builder::new()
                .name("skippy-committer".into())
                .spawn(move || commit_loop(scheduler, submit_rx, runtime))?;
        }
        Ok((scheduler, recovered))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Validates a submission, resolves its spec, stores it durably and queues it. The same
    /// idempotency key returns the first job (`created` false).
    pub async fn submit(&self, spec: SubmittedSpec) -> Result<(JobView, bool)> {
        let (record, key) = self.resolve(spec)?;
        if let Some(key) = &key {
            loop {
                let existing = {
                    let mut st = self.lock();
                    if st.shutting_down {
                        return Err(SchedulerError::ShuttingDown);
                    }
                    match st.idempotency.get(key).cloned() {
                        None => {
                            st.idempotency.insert(key.clone(), record.id.clone());
                            None
                        }
                        Some(id) => Some(st.jobs.get(&id).map(|_| id)),
                    }
                };
                match existing {
                    None => break,
                    Some(Some(id)) => return Ok((self.view(&id)?, false)),
                    // Reserved by a submission still being committed: wait for it.
                    Some(None) => {
                        let notified = self.committed.notified();
                        let wait = std::time::Duration::from_secs(5);
                        if tokio::time::timeout(wait, notified).await.is_err() {
                            return Err(SchedulerError::CommitTimeout(wait));
                        }
                    }
                }
            }
        }
        if let Err(e) = crate::budget::admit(&self.config, &mut self.lock(), &record) {
            self.metrics.rejections.inc();
            if let Some(key) = &key {
                self.lock().idempotency.remove(key);
            }
            return Err(e);
        }
        let (ack_tx, ack_rx) = oneshot::channel();
        let sent = self.submit_tx.send(PendingSubmit { job: record, ack: ack_tx }).await;
        let acked = match sent {
            Ok(()) => ack_rx.await.unwrap_or(Err(SchedulerError::ShuttingDown)),
            Err(_) => Err(SchedulerError::ShuttingDown),
        };
        match acked {
            Ok(id) => Ok((self.view(&id)?, true)),
            Err(e) => {
                if let Some(key) = &key {
                    self.lock().idempotency.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Turns a submission into a job record with every default resolved; refuses what can be
    /// refused without training (names, ranges).
    ///
    /// Public (hidden from the docs) only so the fuzz targets under `fuzz/` and the corpus replay
    /// test can run the submission checks without a server; it stores nothing.
    #[doc(hidden)]
    pub fn resolve(&self, spec: SubmittedSpec) -> Result<(JobRecord, Option<String>)> {
        let invalid = |m: String| SchedulerError::Invalid(m);
        let algorithm = if spec.algorithm.is_empty() { "ppo".to_string() } else { spec.algorithm.to_ascii_lowercase() };
        if algorithm != "ppo" {
            let shown: String = spec.algorithm.chars().take(64).collect();
            return Err(invalid(format!("unknown algorithm {shown:?}; valid algorithms: ppo")));
        }
        let symbols: Vec<String> = spec.symbols.iter().map(|s| s.trim().to_ascii_uppercase()).collect();
        for s in &symbols {
            if !self.symbols.contains(s) {
                let shown: String = s.chars().take(64).collect();
                return Err(invalid(format!(
                    "unknown symbol {shown:?}; available symbols: {}",
                    self.symbols.join(", ")
                )));
            }
        }
        // Names are short; a long one is named by its length, not quoted whole.
        if let Some(long) = spec.features.iter().find(|f| f.len() > 64) {
            return Err(invalid(format!(
                "a feature set name of {} bytes; valid feature sets: price, microstructure",
                long.len()
            )));
        }
        if let Some(long) = spec.overrides.keys().find(|k| k.len() > 200) {
            return Err(invalid(format!(
                "an override key of {} bytes; keys are dotted paths such as ppo.learning_rate",
                long.len()
            )));
        }
        let features_text = if spec.features.is_empty() { "price".to_string() } else { spec.features.join(",") };
        let features = parse_feature_sets(&features_text).map_err(|e| invalid(e.to_string()))?;
        let feature_names: Vec<String> = features.iter().map(|f| f.name().to_string()).collect();
        let total_steps = if spec.total_steps == 0 { 1_000_000 } else { spec.total_steps };
        let seed = spec.seed.unwrap_or_else(|| rand::random::<u32>() as u64);
        if !spec.max_duration_seconds.is_finite() || spec.max_duration_seconds < 0.0 {
            return Err(invalid(format!("max_duration_seconds = {} must be ≥ 0", spec.max_duration_seconds)));
        }
        let mut max_duration_seconds = spec.max_duration_seconds;
        crate::budget::check_job_limits(&self.config, total_steps, &mut max_duration_seconds)
            .map_err(|e| invalid(e.to_string()))?;
        if spec.idempotency_key.len() > 256 {
            return Err(invalid("idempotency_key is longer than 256 bytes".into()));
        }
        // These have fields of their own, checked above; an override would slip past the checks.
        for key in spec.overrides.keys() {
            let field = match key.as_str() {
                "total_steps" => "totalSteps",
                "symbols" => "symbols",
                "features" => "features",
                "seed" => "seed",
                _ => continue,
            };
            return Err(invalid(format!("override {key:?}: set it with the job's own `{field}` field")));
        }
        let base = TrainSpec::new(symbols.clone(), features, total_steps, seed);
        let resolved = base
            .with_overrides(spec.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| invalid(e.to_string()))?;
        resolved.validate().map_err(|e| invalid(e.to_string()))?;
        let key = (!spec.idempotency_key.is_empty()).then(|| spec.idempotency_key.clone());
        let request = SubmittedSpec {
            algorithm,
            symbols,
            features: feature_names,
            total_steps,
            seed: Some(seed),
            max_duration_seconds,
            ..spec
        };
        let resolved = crate::job::JsonText::of(&resolved).expect("specs serialise");
        let record = JobRecord::queued(new_job_id(), request, resolved, seed, now_ms());
        Ok((record, key))
    }

    /// A job with its queue position.
    pub fn view(&self, id: &str) -> Result<JobView> {
        if !is_valid_job_id(id) {
            return Err(SchedulerError::NotFound(id.chars().take(64).collect()));
        }
        let st = self.lock();
        let record = st.jobs.get(id).cloned().ok_or_else(|| SchedulerError::NotFound(id.into()))?;
        let queue_position = position(&st, &record);
        Ok(JobView { record, queue_position })
    }

    /// Jobs newest first, optionally in one state.
    pub fn list(&self, limit: usize, state: Option<JobState>) -> Vec<JobView> {
        let st = self.lock();
        let mut jobs: Vec<&JobRecord> = st.jobs.values().filter(|j| state.is_none_or(|s| j.state == s)).collect();
        jobs.sort_by(|a, b| (b.created_ms, b.seq, &b.id).cmp(&(a.created_ms, a.seq, &a.id)));
        jobs.into_iter().take(limit).map(|j| JobView { queue_position: position(&st, j), record: j.clone() }).collect()
    }

    /// The queue in dispatch order, the running jobs, and recently seen trainers.
    pub fn queue(&self) -> QueueView {
        let st = self.lock();
        let queued = st
            .queue
            .ids()
            .enumerate()
            .filter_map(|(i, id)| st.jobs.get(id).map(|j| JobView { record: j.clone(), queue_position: i as u32 + 1 }))
            .collect();
        let mut running: Vec<JobView> = st
            .jobs
            .values()
            .filter(|j| j.state.is_running())
            .map(|j| JobView { record: j.clone(), queue_position: 0 })
            .collect();
        running.sort_by_key(|v| v.record.created_ms);
        let horizon = now_ms() - 3 * self.config.lease_ttl_ms as i64;
        let mut trainers: Vec<(String, TrainerSeen, Vec<String>)> = st
            .trainers
            .iter()
            .filter(|(_, t)| t.last_seen_ms >= horizon)
            .map(|(id, t)| {
                let jobs = st
                    .jobs
                    .values()
                    .filter(|j| j.lease.as_ref().is_some_and(|l| &l.trainer_id == id))
                    .map(|j| j.id.clone())
                    .collect();
                (id.clone(), t.clone(), jobs)
            })
            .collect();
        trainers.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
        QueueView { queued, running, trainers }
    }

    /// Cancels a job: a queued one at once; a running one is asked to stop (its trainer learns
    /// of it on its event stream or next heartbeat). Cancelling a cancelled job is a no-op;
    /// cancelling a done or failed one is a conflict.
    pub async fn cancel(&self, id: &str) -> Result<JobView> {
        if !is_valid_job_id(id) {
            return Err(SchedulerError::NotFound(id.chars().take(64).collect()));
        }
        let persist = {
            let mut st = self.lock();
            let job = st.jobs.get_mut(id).ok_or_else(|| SchedulerError::NotFound(id.into()))?;
            match job.state {
                JobState::Cancelled => false,
                JobState::Done | JobState::Failed => {
                    return Err(SchedulerError::Conflict(format!(
                        "job {id} already ended {}; only queued or running jobs can be cancelled",
                        job.state.name()
                    )));
                }
                JobState::Queued => {
                    job.transition(JobState::Cancelled, "cancelled by client").expect("queued → cancelled is legal");
                    job.progress.message = "cancelled".into();
                    let entry = crate::queue::Queue::entry(job);
                    st.queue.remove(&entry);
                    push_event(&mut st, id, EventKind::State, "cancelled by client".into(), None);
                    true
                }
                _ => {
                    if !job.cancel_requested {
                        job.cancel_requested = true;
                        if let Some(tx) = st.commands.get(id) {
                            let _ = tx.try_send((id.to_string(), TrainerCommand::Cancel));
                        }
                        push_event(
                            &mut st,
                            id,
                            EventKind::Log,
                            "cancel requested; waiting for the trainer to stop".into(),
                            None,
                        );
                    }
                    true
                }
            }
        };
        if persist {
            self.persist(id).await?;
        }
        self.view(id)
    }

    /// Subscribes to a job's events after `after`: the current snapshot, the backlog, and a
    /// live receiver (which may overlap the backlog; skip sequences already seen).
    pub async fn watch(
        &self,
        id: &str,
        after: u64,
    ) -> Result<(JobView, Vec<EventRecord>, broadcast::Receiver<EventRecord>)> {
        let view = self.view(id)?;
        // Numbers are never reused, so a watcher cannot have seen more than the job has had.
        if after > view.record.last_sequence {
            return Err(SchedulerError::Invalid(format!(
                "after_sequence = {after} is past the job's last event ({})",
                view.record.last_sequence
            )));
        }
        let (rx, tail) = {
            let mut st = self.lock();
            let log = st.events.get_mut(id).ok_or_else(|| SchedulerError::NotFound(id.into()))?;
            (log.subscribe(), log.since(after))
        };
        let backlog = match tail {
            Some(events) => events,
            None => {
                let job = id.to_string();
                self.on_store(format!("reading the events of {id}"), move |store| store.read_events(&job, after))
                    .await?
            }
        };
        Ok((view, backlog, rx))
    }

    /// A job and its stored `results.json` (empty before it has one).
    pub async fn results(&self, id: &str) -> Result<(JobView, String)> {
        let view = self.view(id)?;
        let job = id.to_string();
        let metrics =
            self.on_store(format!("reading results.json of {id}"), move |store| store.read_results(&job)).await?;
        Ok((view, metrics))
    }

    /// Events after `after` (for a watcher that fell behind the live channel).
    pub async fn events_after(&self, id: &str, after: u64) -> Result<Vec<EventRecord>> {
        let tail = self.lock().events.get(id).and_then(|l| l.since(after));
        match tail {
            Some(e) => Ok(e),
            None => {
                let job = id.to_string();
                self.on_store(format!("reading the events of {id}"), move |store| store.read_events(&job, after)).await
            }
        }
    }

    /// Writes a job's manifest (durably), ordered per job: the latest state always lands last.
    pub(crate) async fn persist(&self, id: &str) -> Result<()> {
        self.persist_with(id, true).await
    }

    /// [`Self::persist`], optionally without fsync: for changes a crash may lose harmlessly
    /// (a grant: after a crash the job is queued again and the trainer fenced off).
    pub(crate) async fn persist_with(&self, id: &str, durable: bool) -> Result<()> {
        let lock = {
            let mut locks = self.write_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        let Some(snapshot) = self.lock().jobs.get(id).cloned() else { return Ok(()) };
        self.on_store(format!("writing the manifest of {id}"), move |store| {
            store.write_manifest_with(&snapshot, durable)
        })
        .await
    }

    /// Runs `f` on the store on a blocking thread; a failure says it was `what`.
    pub(crate) async fn on_store<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce(&JobStore) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(SchedulerError::storage(what, source)),
            Err(source) => Err(SchedulerError::StorageTask { what, source }),
        }
    }

    /// The event writer's step: appends every pending event to its job's `events.jsonl`, in
    /// sequence order (this is the only writer of event files), then publishes them.
    ///
    /// One exception keeps submissions cheap: a job that is still only a journal line gets no
    /// directory for its first event ("queued", number 1). That event is published at once and
    /// written with the job's next ones; a crash before then replays the job from the journal
    /// with the same first event, so no number is ever handed out twice.
    pub(crate) async fn flush_events(&self) {
        let batches: Vec<(String, Vec<EventRecord>, usize)> = {
            let mut st = self.lock();
            let dirty = std::mem::take(&mut st.dirty_events);
            let mut batches = Vec::with_capacity(dirty.len());
            for id in dirty {
                let Some(log) = st.events.get_mut(&id) else { continue };
                let events = std::mem::take(&mut log.unwritten);
                if events.is_empty() {
                    continue;
                }
                if log.deferred.is_empty() && events.iter().all(|e| e.sequence == 1) && self.store.is_journal_only(&id)
                {
                    log.deferred = events.clone();
                    self.feed.publish(&id, &events, &mut log.snapshots);
                    log.publish(events);
                    continue;
                }
                let published = log.deferred.len();
                let mut all = std::mem::take(&mut log.deferred);
                all.extend(events);
                batches.push((id, all, published));
            }
            batches
        };
        if batches.is_empty() {
            return;
        }
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            batches
                .into_iter()
                .map(|(id, events, published)| {
                    if let Err(e) = store.append_events(&id, &events) {
                        tracing::warn!(job_id = %id, error = %e, "could not append events");
                    }
                    (id, events, published)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut st = self.lock();
        for (id, mut events, published) in written {
            if let Some(log) = st.events.get_mut(&id) {
                let events = events.split_off(published);
                self.feed.publish(&id, &events, &mut log.snapshots);
                log.publish(events);
            }
        }
    }

    /// Runs the event writer until `stop` changes.
    pub(crate) async fn write_events(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let pending = self.lock().events_pending.clone();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = pending.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            self.flush_events().await;
        }
    }

    /// Stops accepting work: waiting trainers are answered empty, new submissions refused.
    pub(crate) fn begin_shutdown(&self) {
        {
            let mut st = self.lock();
            st.shutting_down = true;
            st.waiters.clear();
            st.commands.clear();
        }
        self.stopping.send_replace(true);
    }

    /// A receiver that changes when shutdown begins (streams select on it and end).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Whether a shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }
}

/// 1-based queue position of a queued job.
fn position(st: &State, job: &JobRecord) -> u32 {
    if job.state != JobState::Queued {
        return 0;
    }
    st.queue.position(job)
}

/// Records an event for a job (sequence, tail, live watchers, file queue).
pub(crate) fn push_event(st: &mut State, id: &str, kind: EventKind, message: String, stats: Option<StatsRecord>) {
    let Some(job) = st.jobs.get_mut(id) else { return };
    job.last_sequence += 1;
    // The job as of this change, for the scheduler-wide feed (which shows it once published),
    // without its resolved spec: the feed leaves it out, so it is not copied.
    let record = (kind == EventKind::State).then(|| {
        let spec = std::mem::replace(&mut job.resolved_spec, JsonText::null());
        let record = job.clone();
        job.resolved_spec = spec;
        record
    });
    let job = &st.jobs[id];
    let snapshot = record.map(|record| Arc::new(JobView { queue_position: position(st, &record), record }));
    let event = EventRecord {
        sequence: job.last_sequence,
        at_ms: now_ms(),
        kind,
        state: job.state,
        percent: job.progress.percent,
        message,
        steps_done: job.progress.steps_done,
        steps_per_sec: job.progress.steps_per_sec,
        stats,
    };
    let log = st.events.entry(id.to_string()).or_default();
    let dirty = log.unwritten.is_empty();
    if let Some(snapshot) = snapshot {
        log.snapshots.push((event.sequence, snapshot));
    }
    log.push(event);
    if dirty {
        st.dirty_events.push(id.to_string());
    }
    st.events_pending.notify_one();
}

/// Batches submissions into one journal fsync, then queues them and wakes waiting trainers.
/// Compacts the journal (in the background) when most of it is spent. Runs on its own thread
/// until every sender is gone.
fn commit_loop(
    scheduler: std::sync::Weak<Scheduler>,
    mut rx: mpsc::Receiver<PendingSubmit>,
    runtime: tokio::runtime::Handle,
) {
    let compacting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut batch = Vec::with_capacity(1024);
    while rx.blocking_recv_many(&mut batch, 1024) > 0 {
        let Some(scheduler) = scheduler.upgrade() else { return };
        let mut jobs: Vec<JobRecord> = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        {
            let mut st = scheduler.lock();
            let mut ids = std::collections::HashSet::with_capacity(batch.len());
            for p in batch.drain(..) {
                let mut job = p.job;
                // Ids carry 32 random bits per second: at thousands of submissions a second a
                // collision is a matter of time, and would overwrite an acknowledged job.
                while st.jobs.contains_key(&job.id) || ids.contains(&job.id) {
                    job.id = new_job_id();
                    if let Some(key) = &job.idempotency_key {
                        st.idempotency.insert(key.clone(), job.id.clone());
                    }
                }
                ids.insert(job.id.clone());
                job.seq = st.next_seq;
                st.next_seq += 1;
                jobs.push(job);
                acks.push(p.ack);
            }
        }
        let result = match scheduler.store.journal_submissions(&jobs) {
            Ok(()) => Ok(jobs),
            Err(e) => {
                let what = format!("cannot store the job under {}", scheduler.config.runs_dir.display());
                Err((jobs, what, std::sync::Arc::new(e)))
            }
        };
        match result {
            Ok(jobs) => {
                let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
                {
                    let mut st = scheduler.lock();
                    for job in jobs {
                        crate::budget::admitted(&mut st, &job, true);
                        let id = job.id.clone();
                        st.queue.push(crate::queue::Queue::entry(&job));
                        st.jobs.insert(id.clone(), job);
                        st.events.insert(id.clone(), EventLog::default());
                        push_event(&mut st, &id, EventKind::State, "queued".into(), None);
                    }
                    crate::leases::dispatch(&scheduler, &mut st);
                }
                scheduler.metrics.submissions.inc_by(acks.len() as u64);
                for (ack, id) in acks.into_iter().zip(ids) {
                    let _ = ack.send(Ok(id));
                }
                scheduler.committed.notify_waiters();
                if scheduler.store.journal_needs_compaction()
                    && !compacting.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let (store, compacting) = (scheduler.store.clone(), compacting.clone());
                    runtime.spawn_blocking(move || {
                        if let Err(e) = store.compact_journal() {
                            tracing::warn!(error = %e, "journal compaction failed");
                        }
                        compacting.store(false, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            }
            Err((jobs, what, source)) => {
                tracing::error!(error = %source, "submissions not stored: {what}");
                {
                    let mut st = scheduler.lock();
                    for job in &jobs {
                        crate::budget::admitted(&mut st, job, false);
                    }
                }
                for ack in acks {
                    let _ = ack.send(Err(SchedulerError::Storage { what: what.clone(), source: source.clone() }));
                }
                scheduler.committed.notify_waiters();
            }
        }
    }
}
