//! The scheduler: the one owner of the queue, the leases and every job's state. gRPC handlers
//! (and later the REST gateway) convert and call these methods; none holds job logic.
//!
//! State lives behind one `std::sync::Mutex`, never held across an `.await`; disk writes happen
//! outside it. Submissions go through a committer thread that batches them into one fsync.
//!
//! - this file: the [`Scheduler`] and its `State`, start-up and recovery, queries (view,
//!   results, artifacts), cancellation, a finished job leaving memory (`retire`), shutdown;
//! - `listing`: pages of jobs (newest first) and of the queue, with filters and cursors;
//! - `retention`: finished jobs' directories removed by age and count;
//! - `error`: [`SchedulerError`], the error of every operation;
//! - `jobs`: every job by id, and the tally of their states kept as they change;
//! - `submission`: a spec checked and resolved, admitted, and handed to the committer;
//! - `committer`: the thread that group-commits submissions to the journal and queues them;
//! - `experiments`: experiments created, recovered, followed, reported and cancelled;
//! - `event_writer`: events recorded (`push_event`), written in order and published;
//! - `persist`: manifest writes ordered per job, blocking store calls;
//! - `watch`: one job followed: snapshot, backlog, live events, catch-up after a lag;
//! - [`crate::leases`]: dispatch to waiting trainers, heartbeats, expiry;
//! - [`crate::completion`]: what trainers report: progress, checkpoints, artifacts, the end.

mod committer;
mod error;
mod event_writer;
mod experiments;
mod jobs;
mod listing;
mod persist;
mod retention;
mod submission;
mod watch;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::events::{EventKind, EventLog};
use crate::finished::{Finished, FinishedJob};
use crate::job::{JobRecord, JobState, is_valid_job_id};
use crate::leases::Waiter;
use crate::store::{JobStore, Recovered};
use committer::PendingSubmit;

pub use error::{Result, SchedulerError};
pub(crate) use event_writer::push_event;
pub use experiments::{ExperimentPage, ExperimentView, RunView, SubmittedExperiment};
pub(crate) use jobs::Jobs;
pub use listing::{JobFilter, JobPage, MAX_PAGE_SIZE, MAX_SCAN};
pub use retention::Pruned;
pub use watch::WatchItem;

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
    /// The different jobs it failed in a row (cleared by a job it finishes).
    pub failed_in_a_row: Vec<String>,
    /// Why it gets no more jobs, once it failed too many in a row (as SLURM drains a node).
    pub drained: Option<String>,
}

impl TrainerSeen {
    /// Counts an attempt that ended on this trainer; `failure` is why it failed, `None` when
    /// the job finished. After `limit` different jobs failed in a row (0: never) the trainer
    /// is drained; returns the reason when it just was.
    pub(crate) fn attempt_ended(&mut self, job_id: &str, failure: Option<&str>, limit: u32) -> Option<String> {
        let Some(failure) = failure else {
            self.failed_in_a_row.clear();
            return None;
        };
        if !self.failed_in_a_row.iter().any(|j| j == job_id) {
            self.failed_in_a_row.push(job_id.to_string());
        }
        if limit == 0 || self.drained.is_some() || self.failed_in_a_row.len() < limit as usize {
            return None;
        }
        let failure: String = failure.chars().take(300).collect();
        let reason = format!(
            "drained after failing {} different jobs in a row ({}); the last: {failure}; restart the trainer once its host is fixed",
            self.failed_in_a_row.len(),
            self.failed_in_a_row.join(", ")
        );
        self.drained = Some(reason.clone());
        Some(reason)
    }
}

/// The queue as clients see it: a page of it.
#[derive(Debug, Clone)]
pub struct QueueView {
    /// A page of the queued jobs, in dispatch order (summaries).
    pub queued: Vec<JobView>,
    /// How many jobs are queued in all.
    pub total_queued: usize,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// Jobs held by trainers (summaries).
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

/// Trainers seen within this many lease periods are shown; older ones are forgotten.
pub(crate) const TRAINER_HORIZON_LEASES: i64 = 3;

/// A job's place in the newest-first listing: creation time, submission number, id.
pub(crate) type ListKey = (i64, u64, Arc<str>);

/// `job`'s place in the listing.
pub(crate) fn list_key(job: &JobRecord) -> ListKey {
    (job.created_ms, job.seq, Arc::from(job.id.as_str()))
}

/// Everything the scheduler knows, behind [`Scheduler`]'s one mutex.
#[derive(Default)]
pub(crate) struct State {
    /// The jobs held in full, by id: queued and running ones, and finished ones until their
    /// final manifest and last events are written ([`Scheduler::retire`]).
    /// Boxed (as the logs): a table of boxes stays small however the table grows. The tally of
    /// their states is kept as they change ([`Jobs`]).
    pub(crate) jobs: Jobs,
    /// The event log of each job in `jobs`, by job id.
    pub(crate) events: HashMap<String, Box<EventLog>>,
    /// Every finished job, compact; the rest of each is its manifest.
    pub(crate) finished: Finished,
    /// Every job (in `jobs` or `finished`), newest first when read backwards: what lists page
    /// through.
    pub(crate) listing: BTreeSet<ListKey>,
    /// Each lineage's generation and champion, kept as jobs finish.
    pub(crate) lineages: crate::lineage::Standings,
    /// Queued jobs in dispatch order: priority (high first), then submission order.
    pub(crate) queue: crate::queue::Queue,
    /// The job of each idempotency key (reserved before the job is committed; forgotten when
    /// retention removes the job).
    pub(crate) idempotency: HashMap<String, String>,
    /// Trainers waiting in `AcquireJob`, oldest first.
    pub(crate) waiters: VecDeque<Waiter>,
    /// Trainers seen, by incarnation id (forgotten a few lease periods after their last
    /// contact).
    pub(crate) trainers: HashMap<String, TrainerSeen>,
    /// The command channel of each running job's trainer event stream, by job id.
    pub(crate) commands: HashMap<String, mpsc::Sender<(String, TrainerCommand)>>,
    /// The submission number the next committed job gets.
    pub(crate) next_seq: u64,
    /// The token last given to a waiting trainer (tokens count up from 1).
    pub(crate) next_waiter: u64,
    /// Set when shutdown begins: no new submissions or grants.
    pub(crate) shutting_down: bool,
    /// Jobs with events waiting for the event writer.
    pub(crate) dirty_events: Vec<String>,
    /// Wakes the event writer.
    pub(crate) events_pending: Arc<Notify>,
    /// Admission's counts: jobs being committed, the compute budget, trainers' speed.
    pub(crate) ledger: crate::budget::Ledger,
    /// Every experiment, by id (few: each stands for many jobs).
    pub(crate) experiments: HashMap<String, crate::experiment::ExperimentRecord>,
    /// Experiments newest first when read backwards: (created ms, id).
    pub(crate) experiment_listing: BTreeSet<(i64, String)>,
    /// The experiment of each idempotency key.
    pub(crate) experiment_keys: HashMap<String, String>,
    /// Ids of experiment runs on their way to the journal: no other job may take one.
    pub(crate) experiment_run_ids: std::collections::HashSet<String>,
}

impl State {
    /// Whether job `id` exists (held in full or finished).
    pub(crate) fn knows(&self, id: &str) -> bool {
        self.jobs.contains_key(id) || self.finished.contains(id)
    }

    /// Job `id`'s spec as submitted (held in full or finished).
    pub(crate) fn request_of(&self, id: &str) -> Option<crate::job::SubmittedSpec> {
        match self.jobs.get(id) {
            Some(job) => Some(job.request.clone()),
            None => self.finished.get(id).map(FinishedJob::request),
        }
    }

    /// Adds a job that has just entered the scheduler (committed or recovered) to the listing
    /// and, when queued, to the queue.
    pub(crate) fn enter(&mut self, job: JobRecord) {
        let key = list_key(&job);
        if job.state == JobState::Queued {
            self.queue.push(crate::queue::Queue::entry_with(&job, key.2.clone()));
        }
        self.listing.insert(key);
        self.events.entry(job.id.clone()).or_default();
        self.jobs.insert(job.id.clone(), Box::new(job));
    }
}

/// The scheduler component.
pub struct Scheduler {
    /// The configuration it was started with.
    pub(crate) config: Config,
    /// The files under `runs/`.
    pub(crate) store: Arc<JobStore>,
    /// All job state; never held across an `.await`.
    pub(crate) state: Mutex<State>,
    /// Submissions to the committer.
    submit_tx: mpsc::Sender<PendingSubmit>,
    /// Signalled after each committed batch (idempotent submissions wait on it).
    committed: Notify,
    /// Per-job locks ordering manifest writes (the latest snapshot is always written last).
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The symbols jobs may name (the catalog's).
    symbols: Vec<String>,
    /// Turns true when shutdown begins: long-lived streams end on it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Prometheus metrics.
    pub metrics: crate::telemetry::Telemetry,
    /// Every job's changes in one order, for clients that follow many jobs (`WatchJobs`).
    pub feed: Arc<crate::feed::Feed>,
    /// The experiments whose runs ended, to the reporter task.
    reporter: std::sync::OnceLock<mpsc::UnboundedSender<String>>,
    /// Held while an experiment's record is copied from memory and written, so the writes land
    /// in the order of the changes (a later copy is never overwritten by an earlier one).
    experiment_writes: tokio::sync::Mutex<()>,
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
        let (store, mut recovered) = JobStore::open(&config.runs_dir)
            .with_context(|| format!("cannot open the job store in {}", config.runs_dir.display()))?;
        let symbols = skippy_contract::catalog::symbols(config.data_dir.as_deref())?;
        let (submit_tx, submit_rx) = mpsc::channel(4096);
        let mut state = State::default();
        let grace = config.lease_ttl();
        for mut job in std::mem::take(&mut recovered.jobs) {
            if let Some(lease) = job.lease.as_mut() {
                // Running when the scheduler stopped: its trainer may still be at work. Give it
                // one lease period to reconnect before the job is re-queued.
                lease.renew(grace);
                // Its age so far is known only by the wall clock; from here on it is monotonic.
                lease.granted_at = tokio::time::Instant::now().checked_sub(lease.running_for());
            }
            if job.state == JobState::Queued && store.is_journal_only(&job.id) {
                // Read back from the journal when it is needed.
                job.resolved_spec = crate::job::JsonText::null();
            }
            if let Some(key) = &job.idempotency_key {
                state.idempotency.insert(key.clone(), job.id.clone());
            }
            state.next_seq = state.next_seq.max(job.seq + 1);
            state.enter(job);
        }
        // Lineages are ranked in the order their jobs finished, as they were when they ran.
        let mut finished = std::mem::take(&mut recovered.finished);
        finished.sort_by_key(|j| (j.finished_ms, j.seq));
        for job in finished {
            state.remember_finished(job);
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
            reporter: std::sync::OnceLock::new(),
            experiment_writes: tokio::sync::Mutex::new(()),
        });
        // Start-up parsed every manifest on several threads: what it freed goes back to the
        // system instead of staying in the threads' heaps.
        release_free_memory();
        // Jobs replayed from the journal have no events yet.
        {
            let mut st = scheduler.lock();
            let ids: Vec<String> = st.jobs.values().filter(|j| j.last_sequence == 0).map(|j| j.id.clone()).collect();
            for id in ids {
                push_event(&mut st, &id, EventKind::State, "queued".into(), None);
            }
        }
        committer::spawn(&scheduler, submit_rx)?;
        scheduler.spawn_reporter();
        scheduler.recover_experiments()?;
        // Start-up left the journal as it was (`JobStore::open` says why): one mostly spent is
        // compacted now, beside serving.
        if scheduler.store.journal_needs_compaction() {
            let store = scheduler.store.clone();
            std::thread::Builder::new().name("journal-compaction".into()).spawn(move || {
                if let Err(e) = store.compact_journal() {
                    tracing::warn!(error = %e, "journal compaction failed");
                }
            })?;
        }
        Ok((scheduler, recovered))
    }

    /// The state, locked; a lock poisoned by a panic is taken over rather than propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A job with its queue position: from memory while the scheduler holds it in full (its
    /// resolved spec read back from the journal while it is queued), else from its manifest.
    pub async fn view(&self, id: &str) -> Result<JobView> {
        if !is_valid_job_id(id) {
            return Err(SchedulerError::NotFound(id.chars().take(64).collect()));
        }
        /// Where the job is.
        enum Found {
            /// In memory, in full.
            Held(Box<JobView>),
            /// Finished: its manifest, with its index's last sequence.
            Finished(u64),
        }
        let found = {
            let st = self.lock();
            match (st.jobs.get(id), st.finished.get(id)) {
                (Some(record), _) => {
                    Found::Held(Box::new(JobView { queue_position: position(&st, record), record: (**record).clone() }))
                }
                (None, Some(job)) => Found::Finished(job.last_sequence),
                (None, None) => return Err(SchedulerError::NotFound(id.into())),
            }
        };
        let last_sequence = match found {
            Found::Finished(last) => last,
            Found::Held(view) => return self.with_spec(*view).await,
        };
        let job = id.to_string();
        let read = self.on_store(format!("reading the manifest of {id}"), move |store| store.read_job(&job)).await;
        let mut record = match read {
            Ok(record) => record,
            // Removed by retention meanwhile.
            Err(SchedulerError::Storage { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(SchedulerError::NotFound(id.into()));
            }
            Err(e) => return Err(e),
        };
        // What the index says: the events on disk (the manifest may count one a crash lost).
        record.last_sequence = last_sequence;
        Ok(JobView { record, queue_position: 0 })
    }

    /// `view` with its resolved spec, read back from the store when memory does not keep it.
    async fn with_spec(&self, mut view: JobView) -> Result<JobView> {
        if view.record.resolved_spec.is_null() {
            let id = view.record.id.clone();
            view.record.resolved_spec = self
                .on_store(format!("reading the resolved spec of {id}"), move |store| store.resolved_spec(&id))
                .await?;
        }
        Ok(view)
    }

    /// A job held in full, as it is now (no disk read: a queued job's resolved spec is `null`).
    pub(crate) fn live_view(&self, id: &str) -> Option<JobView> {
        let st = self.lock();
        let record = st.jobs.get(id)?;
        Some(JobView { queue_position: position(&st, record), record: (**record).clone() })
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
            let state = match (st.jobs.get(id), st.finished.get(id)) {
                (Some(job), _) => job.state,
                (None, Some(job)) => job.state,
                (None, None) => return Err(SchedulerError::NotFound(id.into())),
            };
            match state {
                JobState::Cancelled => false,
                JobState::Done | JobState::Failed => {
                    return Err(SchedulerError::Conflict(format!(
                        "job {id} already ended {}; only queued or running jobs can be cancelled",
                        state.name()
                    )));
                }
                JobState::Queued => {
                    let job = st.jobs.get_mut(id).expect("a queued job is held in full");
                    job.transition(JobState::Cancelled, "cancelled by client").expect("queued → cancelled is legal");
                    job.progress.message = "cancelled".into();
                    let entry = crate::queue::Queue::entry(job);
                    st.queue.remove(&entry);
                    push_event(&mut st, id, EventKind::State, "cancelled by client".into(), None);
                    true
                }
                _ => {
                    let job = st.jobs.get_mut(id).expect("a running job is held in full");
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
        self.view(id).await
    }

    /// A job and its stored `results.json`: empty unless the job is DONE (a file an attempt
    /// left behind without finishing the job is no result).
    pub async fn results(&self, id: &str) -> Result<(JobView, String)> {
        let view = self.view(id).await?;
        if view.record.state != JobState::Done {
            return Ok((view, String::new()));
        }
        let job = id.to_string();
        let metrics =
            self.on_store(format!("reading results.json of {id}"), move |store| store.read_results(&job)).await?;
        Ok((view, metrics))
    }

    /// One of a job's artifacts, opened for reading, and its size. An artifact the job does not
    /// list is not found, and the error names the ones it has.
    pub async fn open_artifact(&self, id: &str, name: &str) -> Result<(tokio::fs::File, u64)> {
        let view = self.view(id).await?;
        if !view.record.artifacts.iter().any(|a| a.name == name) {
            let known: Vec<&str> = view.record.artifacts.iter().map(|a| a.name.as_str()).collect();
            return Err(SchedulerError::NoArtifact {
                job_id: id.into(),
                name: name.chars().take(200).collect(),
                known: if known.is_empty() { "none yet".into() } else { known.join(", ") },
            });
        }
        let path = self
            .store
            .artifact_path(id, name)
            .ok_or_else(|| SchedulerError::Invalid(format!("{name:?} is not an artifact name")))?;
        let what = || format!("opening artifact {name} of {id}");
        let not_plain = || SchedulerError::NotPlainFile { job_id: id.into(), name: name.into() };
        // Nothing is followed out of the job's directory: a symbolic link in its place, in place
        // of `artifacts/` or of the file (put there by hand or by another process) is refused.
        let job_dir = self.store.job_dir(id);
        for dir in [job_dir.join("artifacts"), job_dir] {
            let meta = tokio::fs::symlink_metadata(&dir).await.map_err(|e| SchedulerError::storage(what(), e))?;
            if !meta.is_dir() {
                return Err(not_plain());
            }
        }
        let mut open = tokio::fs::OpenOptions::new();
        open.read(true);
        #[cfg(unix)]
        open.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let file = open.open(&path).await.map_err(|e| {
            #[cfg(unix)]
            if e.raw_os_error() == Some(libc::ELOOP) {
                return not_plain();
            }
            SchedulerError::storage(what(), e)
        })?;
        let meta = file.metadata().await.map_err(|e| SchedulerError::storage(what(), e))?;
        if !meta.is_file() {
            return Err(not_plain());
        }
        Ok((file, meta.len()))
    }

    /// Lets a finished job leave memory once both its final manifest and its last events are
    /// written: its record becomes a compact entry of the finished index, and its event log
    /// (tail, watchers' channel), command channel and manifest lock go. Called after each of the
    /// two writes; the second one retires the job.
    pub(crate) fn retire(&self, st: &mut State, id: &str) {
        let ready = st.jobs.get(id).is_some_and(|j| j.state.is_terminal())
            && st.events.get(id).is_some_and(|log| log.final_manifest && log.written());
        if !ready {
            return;
        }
        let job = st.jobs.remove(id).expect("checked above");
        if let Some(cell) = &job.experiment {
            self.check_experiment(&cell.experiment_id);
        }
        st.events.remove(id);
        st.commands.remove(id);
        st.finished.insert_record(*job);
        if let Some(entry) = st.finished.get(id) {
            self.store.note_finished(entry);
        }
        self.write_locks.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
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

impl State {
    /// Adds a finished job read at start-up: to the index, the listing, its idempotency key's
    /// table and its lineage's standing.
    fn remember_finished(&mut self, job: FinishedJob) {
        self.listing.insert((job.created_ms, job.seq, job.id.clone()));
        if let Some(key) = &job.idempotency_key {
            self.idempotency.insert(key.to_string(), job.id.to_string());
        }
        // An experiment's runs are its cells, not generations of a lineage.
        if let (JobState::Done, Some(result), None) = (job.state, &job.result, &job.experiment) {
            self.lineages.record(&job.shape.lineage, &job.fingerprints, &job.id, result);
        }
        self.next_seq = self.next_seq.max(job.seq + 1);
        self.finished.insert(job);
    }
}

/// Returns freed heap memory to the system (glibc keeps it otherwise, per thread arena).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// 1-based queue position of a queued job.
fn position(st: &State, job: &JobRecord) -> u32 {
    if job.state != JobState::Queued {
        return 0;
    }
    st.queue.position(job)
}

#[cfg(test)]
mod tests;
