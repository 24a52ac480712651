//! The scheduler: the one owner of the queue, the leases and every job's state. gRPC handlers
//! (and later the REST gateway) convert and call these methods; none holds job logic.
//!
//! State lives behind one `std::sync::Mutex`, never held across an `.await`; disk writes happen
//! outside it. Submissions go through a committer thread that batches them into one fsync.
//!
//! - this file: the [`Scheduler`] and its `State`, start-up and recovery, queries (view, list,
//!   queue, results, artifacts), cancellation, shutdown;
//! - `error`: [`SchedulerError`], the error of every operation;
//! - `jobs`: every job by id, and the tally of their states kept as they change;
//! - `submission`: a spec checked and resolved, admitted, and handed to the committer;
//! - `committer`: the thread that group-commits submissions to the journal and queues them;
//! - `event_writer`: events recorded (`push_event`), written in order and published;
//! - `persist`: manifest writes ordered per job, blocking store calls;
//! - `watch`: one job followed: snapshot, backlog, live events, catch-up after a lag;
//! - [`crate::leases`]: dispatch to waiting trainers, heartbeats, expiry;
//! - [`crate::completion`]: what trainers report: progress, checkpoints, artifacts, the end.

mod committer;
mod error;
mod event_writer;
mod jobs;
mod persist;
mod submission;
mod watch;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::events::{EventKind, EventLog};
use crate::job::{JobRecord, JobState, is_valid_job_id, now_ms};
use crate::leases::Waiter;
use crate::store::{JobStore, Recovered};
use committer::PendingSubmit;

pub use error::{Result, SchedulerError};
pub(crate) use event_writer::push_event;
pub(crate) use jobs::Jobs;
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

/// Everything the scheduler knows, behind [`Scheduler`]'s one mutex.
#[derive(Default)]
pub(crate) struct State {
    /// Every job, by id, and how many are in each state.
    pub(crate) jobs: Jobs,
    /// Each job's event log, by job id.
    pub(crate) events: HashMap<String, EventLog>,
    /// Queued jobs in dispatch order: priority (high first), then submission order.
    pub(crate) queue: crate::queue::Queue,
    /// The job of each idempotency key (reserved before the job is committed).
    pub(crate) idempotency: HashMap<String, String>,
    /// Trainers waiting in `AcquireJob`, oldest first.
    pub(crate) waiters: VecDeque<Waiter>,
    /// Trainers seen, by incarnation id.
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
        let grace = config.lease_ttl();
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
                lease.renew(grace);
                // Its age so far is known only by the wall clock; from here on it is monotonic.
                lease.granted_at = tokio::time::Instant::now().checked_sub(lease.running_for());
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
        committer::spawn(&scheduler, submit_rx)?;
        Ok((scheduler, recovered))
    }

    /// The state, locked; a lock poisoned by a panic is taken over rather than propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A job and its stored `results.json`: empty unless the job is DONE (a file an attempt
    /// left behind without finishing the job is no result).
    pub async fn results(&self, id: &str) -> Result<(JobView, String)> {
        let view = self.view(id)?;
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
        let view = self.view(id)?;
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
