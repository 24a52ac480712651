//! The committer: the thread that group-commits submissions to the journal (one fsync per
//! batch), then queues the jobs, wakes waiting trainers and answers the submitters; and that
//! starts the journal's compaction when most of it is spent.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Result, Scheduler, SchedulerError, push_event};
use crate::events::EventKind;
use crate::job::{JobRecord, JsonText, new_job_id};

/// A submission on its way to the journal.
pub(super) struct PendingSubmit {
    /// The job, resolved and admitted; the committer gives it its `seq` (and a new id on a
    /// collision).
    pub(super) job: JobRecord,
    /// Answered with the job's id (a fresh one if its first collided) once it is durable.
    pub(super) ack: oneshot::Sender<Result<String>>,
    /// Its id was reserved for it (an experiment's run or champion candidate): it keeps it.
    pub(super) planned: bool,
}

/// Starts the committer for `scheduler`, reading submissions from `rx`.
pub(super) fn spawn(scheduler: &Arc<Scheduler>, rx: mpsc::Receiver<PendingSubmit>) -> std::io::Result<()> {
    // A thread of its own: the fsync blocks it, and a submission reaches waiting
    // trainers without another hop through the runtime.
    // It holds the scheduler weakly, so it ends when the scheduler is dropped.
    let (scheduler, runtime) = (Arc::downgrade(scheduler), tokio::runtime::Handle::current());
    std::thread::Builder::new().name("skippy-committer".into()).spawn(move || commit_loop(scheduler, rx, runtime))?;
    Ok(())
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
                let (mut job, planned) = (p.job, p.planned);
                // Ids carry 32 random bits per second: at thousands of submissions a second a
                // collision is a matter of time, and would overwrite an acknowledged job.
                // An experiment's jobs come with ids reserved for them; no other job takes one.
                let reserved = |st: &super::State, job: &JobRecord| !planned && st.experiment_run_ids.contains(&job.id);
                while st.knows(&job.id) || ids.contains(&job.id) || reserved(&st, &job) {
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
                    for mut job in jobs {
                        st.admitted(&job, true);
                        let id = job.id.clone();
                        st.experiment_run_ids.remove(&id);
                        // The journal line holds the resolved spec; memory does not keep a copy
                        // while the job waits (read back when it is granted).
                        job.resolved_spec = JsonText::null();
                        st.enter(job);
                        push_event(&mut st, &id, EventKind::State, "queued".into(), None);
                    }
                    scheduler.dispatch(&mut st);
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
                        st.admitted(job, false);
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
