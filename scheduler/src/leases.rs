//! Leases: how a job is handed to a trainer and kept by it. Trainers long-poll for work (a
//! waiting trainer gets a new job the moment it is committed), keep the lease alive with
//! heartbeats, and lose it when they stop: the sweeper re-queues the job with back-off, or
//! fails it after the last attempt with every attempt's reason. A lease belongs to one trainer
//! incarnation and one attempt; anything reported under another lease is refused (fencing).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::events::EventKind;
use crate::job::{JobRecord, JobState, LeaseRecord, now_ms};
use crate::queue::Queue;
use crate::scheduler::{Result, Scheduler, SchedulerError, State, TrainerCommand, push_event};

/// A trainer waiting for work.
#[derive(Debug)]
pub struct Waiter {
    pub(crate) token: u64,
    pub(crate) trainer_id: String,
    pub(crate) name: String,
    pub(crate) tx: oneshot::Sender<Grant>,
}

/// A job handed to a trainer.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The job at the moment of the grant.
    pub job: JobRecord,
    /// The lease.
    pub lease: LeaseRecord,
    /// The job's checkpoints, newest first (file names).
    pub checkpoints: Vec<String>,
    /// The newest of them that could be read; empty when there is none (the attempt starts
    /// from step 0). Filled by [`Scheduler::acquire`].
    pub checkpoint: Vec<u8>,
    /// The trainers' measured speed (steps per second), 0 before any was measured.
    pub measured_steps_per_sec: f64,
}

/// What a trainer sends to prove it holds a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    /// Job.
    pub job_id: String,
    /// Lease id.
    pub lease_id: String,
    /// Attempt.
    pub attempt: u32,
    /// Trainer incarnation.
    pub trainer_id: String,
}

/// Why an attempt is being retried, which sets its back-off and what it counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// The lease expired or the attempt timed out: back-off doubling per attempt, FAILED after
    /// `--max-attempts`.
    Lost,
    /// The trainer handed the job back (it is stopping): the first hand-back runs again at
    /// once, later ones back off, doubling; FAILED after `--max-handbacks`.
    HandedBack,
    /// The trainer cannot run the job on its host (data missing there, disk full there): it is
    /// retried on another trainer, counted as an attempt.
    HostFailed {
        /// The trainer to avoid.
        trainer_id: String,
    },
}

/// Longest long-poll a trainer may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

impl Scheduler {
    /// Waits up to `wait` for a job for this trainer incarnation.
    pub async fn acquire(self: &Arc<Self>, trainer_id: &str, name: &str, wait: Duration) -> Result<Option<Grant>> {
        let Some(mut grant) = self.next_grant(trainer_id, name, wait).await? else { return Ok(None) };
        if grant.job.resolved_spec.is_null() {
            // A queued job's spec waits in its journal line: read back for the trainer, and kept
            // in memory while the job runs.
            let id = grant.job.id.clone();
            let read =
                self.on_store(format!("reading the resolved spec of {id}"), move |store| store.resolved_spec(&id));
            match read.await {
                Ok(spec) => {
                    let mut st = self.lock();
                    if let Some(job) = st.jobs.get_mut(&grant.job.id)
                        && job.lease.as_ref().is_some_and(|l| l.lease_id == grant.lease.lease_id)
                    {
                        job.resolved_spec = spec.clone();
                    }
                    grant.job.resolved_spec = spec;
                }
                Err(e) => {
                    // The trainer cannot run it without its spec: the job goes back to the queue.
                    tracing::error!(job_id = %grant.job.id, error = %e, "granted job's spec unreadable");
                    let mut st = self.lock();
                    undo_grant(&mut st, &grant);
                    return Err(e);
                }
            }
        }
        {
            // A lost grant is harmless (the job is queued again, the trainer fenced): no fsync
            // on the dispatch path, and the trainer does not wait for the write.
            let (scheduler, id) = (self.clone(), grant.job.id.clone());
            tokio::spawn(async move {
                if let Err(e) = scheduler.persist_with(&id, false).await {
                    tracing::warn!(job_id = %id, error = %e, "could not persist the grant");
                }
            });
        }
        grant.checkpoint = self.newest_readable_checkpoint(&grant).await;
        grant.measured_steps_per_sec = self.lock().ledger.measured_steps_per_sec.unwrap_or(0.0);
        Ok(Some(grant))
    }

    /// Gives the job `claim` holds a command channel: the trainer's event stream, where cancels
    /// and a lost lease are pushed. Only the job's current lease holder gets it, so a stale
    /// stream cannot take the channel from the trainer that holds the job. Returns whether a
    /// cancel is already pending.
    pub fn attach_commands(&self, claim: &LeaseClaim, tx: &mpsc::Sender<(String, TrainerCommand)>) -> Result<bool> {
        let mut st = self.lock();
        let cancelled = st.leased_job(claim)?.cancel_requested;
        st.commands.insert(claim.job_id.clone(), tx.clone());
        Ok(cancelled)
    }

    /// Removes job `job_id`'s command channel if it is still `tx` (the stream ended).
    pub fn detach_commands(&self, job_id: &str, tx: &mpsc::Sender<(String, TrainerCommand)>) {
        let mut st = self.lock();
        if st.commands.get(job_id).is_some_and(|c| c.same_channel(tx)) {
            st.commands.remove(job_id);
        }
    }

    /// The bytes of the newest of a grant's checkpoints that can be read. One that cannot (a
    /// damaged disk, a file removed by hand) is skipped for the next older one, and said in the
    /// job's events and the log: resuming from further back, or from step 0, is never silent.
    async fn newest_readable_checkpoint(&self, grant: &Grant) -> Vec<u8> {
        let id = &grant.job.id;
        for (i, name) in grant.checkpoints.iter().enumerate() {
            let (job, file) = (id.clone(), name.clone());
            let read =
                self.on_store(format!("reading checkpoint {name}"), move |store| store.read_checkpoint(&job, &file));
            let error = match read.await {
                Ok(bytes) => return bytes,
                Err(e) => e.to_string(),
            };
            let next = match grant.checkpoints.get(i + 1) {
                Some(older) => format!("the older checkpoint {older}"),
                None => "step 0 (no other checkpoint)".to_string(),
            };
            tracing::warn!(job_id = %id, checkpoint = %name, %error, "checkpoint unreadable");
            let mut st = self.lock();
            push_event(
                &mut st,
                id,
                EventKind::Log,
                format!("checkpoint {name} could not be read ({error}); resuming from {next}"),
                None,
            );
        }
        Vec::new()
    }

    /// Waits up to `wait` for a job to grant to trainer `trainer_id`.
    async fn next_grant(&self, trainer_id: &str, name: &str, wait: Duration) -> Result<Option<Grant>> {
        // Both end up in log lines, metric labels and the queue view: plain characters only.
        for (field, value) in [("trainer_id", trainer_id), ("name", name)] {
            skippy_proto::trainer_names::check(field, value).map_err(|e| SchedulerError::Invalid(e.to_string()))?;
        }
        let (token, rx) = {
            let mut st = self.lock();
            if st.shutting_down {
                return Err(SchedulerError::ShuttingDown);
            }
            seen(&mut st, trainer_id, name);
            if let Some(grant) = grant_next(self, &mut st, trainer_id, name) {
                return Ok(Some(grant));
            }
            if wait.is_zero() {
                return Ok(None);
            }
            let (tx, rx) = oneshot::channel();
            st.next_waiter += 1;
            let token = st.next_waiter;
            st.waiters.push_back(Waiter { token, trainer_id: trainer_id.into(), name: name.into(), tx });
            (token, rx)
        };
        let mut rx = rx;
        match tokio::time::timeout(wait.min(MAX_WAIT), &mut rx).await {
            Ok(Ok(grant)) => Ok(Some(grant)),
            Ok(Err(_)) => Ok(None), // shutting down: waiters dropped
            Err(_) => {
                let mut st = self.lock();
                st.waiters.retain(|w| w.token != token);
                // A grant may have landed between the timeout and taking the lock.
                Ok(rx.try_recv().ok())
            }
        }
    }

    /// Renews a lease; returns whether the job was cancelled and the new expiry.
    pub fn heartbeat(&self, claim: &LeaseClaim, steps_done: u64) -> Result<(bool, i64)> {
        let mut st = self.lock();
        let job = st.leased_job(claim)?;
        let ttl = self.config.lease_ttl();
        let expires = job.lease.as_mut().map_or(0, |lease| lease.renew(ttl));
        job.progress.steps_done = job.progress.steps_done.max(steps_done);
        let cancel = job.cancel_requested;
        if let Some(t) = st.trainers.get_mut(&claim.trainer_id) {
            t.last_seen_ms = now_ms();
        }
        Ok((cancel, expires))
    }

    /// Ends expired leases and timed-out jobs; dispatches jobs whose back-off elapsed.
    /// Returns the ids whose manifests changed.
    ///
    /// Runs ten times a second under the state lock, so the scan only reads: ids are cloned
    /// just for the jobs that need something done.
    pub(crate) fn sweep(&self) -> Vec<String> {
        enum Action {
            Fail(String),
            Requeue(String),
        }
        let now = now_ms();
        let cfg = &self.config;
        let (job_limit, queue_limit) = (cfg.job_timeout_secs as i64 * 1000, cfg.queue_timeout_secs as i64 * 1000);
        let mut st = self.lock();
        let actions: Vec<(String, Action)> = st
            .jobs
            .values()
            .filter(|j| j.lease.is_some() || ((job_limit > 0 || queue_limit > 0) && !j.state.is_terminal()))
            .filter_map(|job| {
                let queued_since = job.history.last().map(|h| h.at_ms).unwrap_or(job.created_ms);
                let action = if job_limit > 0 && now - job.created_ms > job_limit {
                    Action::Fail(format!("job timeout: not finished {} s after submission", cfg.job_timeout_secs))
                } else if queue_limit > 0 && job.state == JobState::Queued && now - queued_since > queue_limit {
                    Action::Fail(format!(
                        "queue timeout: waited longer than {} s for a trainer",
                        cfg.queue_timeout_secs
                    ))
                } else {
                    let l = job.lease.as_ref()?;
                    if l.expired() {
                        Action::Requeue(format!(
                            "attempt {}: lease expired (trainer {} sent no heartbeat for {} ms)",
                            l.attempt, l.trainer_id, cfg.lease_ttl_ms
                        ))
                    } else if cfg.attempt_timeout_secs > 0
                        && l.running_for() > Duration::from_secs(cfg.attempt_timeout_secs)
                    {
                        Action::Requeue(format!(
                            "attempt {}: ran longer than the attempt timeout of {} s",
                            l.attempt, cfg.attempt_timeout_secs
                        ))
                    } else {
                        return None;
                    }
                };
                Some((job.id.clone(), action))
            })
            .collect();
        if cfg.trainer_hours_per_day > 0.0 {
            st.recount_budget(now);
        }
        // Trainer ids are the trainers' own choice: one not heard from for a few lease periods
        // (its leases long expired) is forgotten, so the table cannot only grow.
        let horizon = now - crate::scheduler::TRAINER_HORIZON_LEASES * cfg.lease_ttl_ms as i64;
        st.trainers.retain(|_, t| t.last_seen_ms >= horizon);
        let mut changed = Vec::with_capacity(actions.len());
        for (id, action) in actions {
            match action {
                Action::Fail(reason) => fail(&mut st, &id, reason),
                Action::Requeue(reason) => {
                    self.metrics.lease_expiries.inc();
                    self.requeue_or_end(&mut st, &id, reason, Retry::Lost)
                }
            }
            changed.push(id);
        }
        self.dispatch(&mut st);
        changed
    }
}

impl Scheduler {
    /// Hands eligible queued jobs to waiting trainers (after a submission, a re-queue, a tick).
    pub(crate) fn dispatch(&self, st: &mut State) {
        while let Some(waiter) = st.waiters.pop_front() {
            if waiter.tx.is_closed() {
                continue;
            }
            match grant_next(self, st, &waiter.trainer_id, &waiter.name) {
                Some(grant) => {
                    if let Err(grant) = waiter.tx.send(grant) {
                        // The trainer left between the check and the send: undo the grant.
                        undo_grant(st, &grant);
                    }
                }
                None => {
                    st.waiters.push_front(waiter);
                    break;
                }
            }
        }
    }

    /// Ends an attempt that did not finish: cancelled if a cancel was pending, failed once its
    /// kind of retry is spent, otherwise back in the queue after a back-off (see [`Retry`]).
    pub(crate) fn requeue_or_end(&self, st: &mut State, id: &str, reason: String, retry: Retry) {
        requeue_or_end(self, st, id, reason, retry)
    }
}

fn undo_grant(st: &mut State, grant: &Grant) {
    let Some(job) = st.jobs.get_mut(&grant.job.id) else { return };
    job.attempt = job.attempt.saturating_sub(1);
    let _ = job.transition(JobState::Queued, "trainer left before taking the job");
    job.progress.percent = 0.0;
    let entry = Queue::entry(job);
    st.queue.push(entry);
}

/// Grants the first eligible queued job to a trainer.
fn grant_next(scheduler: &Scheduler, st: &mut State, trainer_id: &str, name: &str) -> Option<Grant> {
    let now = now_ms();
    if st.trainers.get(trainer_id).is_some_and(|t| t.drained.is_some()) {
        return None;
    }
    // A job this trainer could not run on its host goes to another one first; it comes back
    // to this one only when nothing else is queued for it (with a single trainer the job still
    // ends, FAILED after its attempts, instead of waiting forever).
    let jobs = &st.jobs;
    let ready = |id: &str| jobs.get(id).is_some_and(|j| j.not_before_ms <= now);
    let elsewhere = |id: &str| ready(id) && !jobs[id].avoid_trainers.iter().any(|t| t == trainer_id);
    let id = match st.queue.take_first(elsewhere) {
        Some(id) => id,
        None => st.queue.take_first(ready)?,
    };
    let job = st.jobs.get_mut(&id)?;
    job.attempt += 1;
    let queued_since = job.history.last().map_or(job.created_ms, |h| h.at_ms).max(job.not_before_ms);
    scheduler.metrics.dispatch_seconds.observe((now - queued_since).max(0) as f64 / 1000.0);
    let mut lease = LeaseRecord {
        lease_id: uuid::Uuid::new_v4().simple().to_string(),
        attempt: job.attempt,
        trainer_id: trainer_id.into(),
        trainer_name: name.into(),
        granted_ms: now,
        expires_ms: 0,
        deadline: None,
        granted_at: Some(tokio::time::Instant::now()),
    };
    lease.renew(scheduler.config.lease_ttl());
    job.transition(JobState::Preflight, format!("attempt {} on trainer {name} ({trainer_id})", job.attempt))
        .expect("queued → preflight is legal");
    job.lease = Some(Box::new(lease.clone()));
    job.progress.percent = 5.0;
    job.progress.message = "validating inputs".into();
    let checkpoints = job.checkpoints.iter().rev().map(|c| c.name.clone()).collect();
    let snapshot = job.clone();
    push_event(st, &id, EventKind::State, format!("attempt {} started on {name}", lease.attempt), None);
    // Persist the grant in the background (a crash before it lands re-queues the job, and
    // the trainer is fenced off: no harm).
    Some(Grant { job: snapshot, lease, checkpoints, checkpoint: Vec::new(), measured_steps_per_sec: 0.0 })
}

fn seen(st: &mut State, trainer_id: &str, name: &str) {
    let t = st.trainers.entry(trainer_id.into()).or_default();
    t.name = name.into();
    t.last_seen_ms = now_ms();
}

impl State {
    /// The job if `claim` is its current lease (fencing: anything else is stale).
    pub(crate) fn leased_job(&mut self, claim: &LeaseClaim) -> Result<&mut JobRecord> {
        leased_job(self, claim)
    }
}

fn leased_job<'a>(st: &'a mut State, claim: &LeaseClaim) -> Result<&'a mut JobRecord> {
    let stale = |reason: &str| SchedulerError::StaleLease { job_id: claim.job_id.clone(), reason: reason.into() };
    if let Some(done) = st.finished.get(&claim.job_id) {
        return Err(stale(&format!("the job is {} and held by no trainer", done.state.name())));
    }
    let job = st.jobs.get_mut(&claim.job_id).ok_or_else(|| SchedulerError::NotFound(claim.job_id.clone()))?;
    let Some(lease) = &job.lease else {
        return Err(stale(&format!("the job is {} and held by no trainer", job.state.name())));
    };
    if lease.lease_id != claim.lease_id || lease.attempt != claim.attempt || lease.trainer_id != claim.trainer_id {
        return Err(stale(&format!("the job is held under attempt {} by trainer {}", lease.attempt, lease.trainer_id)));
    }
    Ok(job)
}

fn fail(st: &mut State, id: &str, reason: String) {
    let Some(job) = st.jobs.get_mut(id) else { return };
    let queued = Queue::entry(job);
    job.error = if job.attempt_errors.is_empty() {
        reason.clone()
    } else {
        format!("{reason}; earlier attempts: {}", job.attempt_errors.join("; "))
    };
    if job.transition(JobState::Failed, reason.clone()).is_ok() {
        st.queue.remove(&queued);
        notify_lost(st, id);
        push_event(st, id, EventKind::State, reason, None);
    }
}

fn notify_lost(st: &mut State, id: &str) {
    if let Some(tx) = st.commands.get(id) {
        let _ = tx.try_send((id.to_string(), TrainerCommand::LeaseLost));
    }
}

fn requeue_or_end(scheduler: &Scheduler, st: &mut State, id: &str, reason: String, retry: Retry) {
    let Some(job) = st.jobs.get_mut(id) else { return };
    if job.cancel_requested {
        if job.transition(JobState::Cancelled, format!("cancelled ({reason})")).is_ok() {
            job.progress.message = "cancelled".into();
            notify_lost(st, id);
            push_event(st, id, EventKind::State, "cancelled".into(), None);
        }
        return;
    }
    job.record_attempt_error(&reason);
    let cfg = &scheduler.config;
    if let Retry::HandedBack = retry {
        job.handbacks += 1;
    }
    if let Retry::HostFailed { trainer_id } = &retry
        && !job.avoid_trainers.contains(trainer_id)
    {
        job.avoid_trainers.push(trainer_id.clone());
    }
    let gave_up = match retry {
        Retry::HandedBack => (job.handbacks > cfg.max_handbacks)
            .then(|| format!("handed back {} times (--max-handbacks {})", job.handbacks, cfg.max_handbacks)),
        Retry::Lost | Retry::HostFailed { .. } => {
            (job.attempt >= cfg.max_attempts).then(|| format!("gave up after {} attempts", job.attempt))
        }
    };
    if let Some(gave_up) = gave_up {
        let all = job.attempt_errors.join("; ");
        let message = format!("{gave_up}: {all}");
        job.error = message.clone();
        if job.transition(JobState::Failed, message.clone()).is_ok() {
            notify_lost(st, id);
            push_event(st, id, EventKind::State, message, None);
        }
        return;
    }
    let backoff = match retry {
        Retry::HandedBack if job.handbacks <= 1 => 0,
        Retry::HandedBack => (cfg.retry_backoff_ms << (job.handbacks - 2).min(6)).min(60_000) as i64,
        Retry::Lost | Retry::HostFailed { .. } => {
            let doublings = job.attempt.saturating_sub(1).min(6);
            (cfg.retry_backoff_ms << doublings).min(60_000) as i64
        }
    };
    job.not_before_ms = now_ms() + backoff;
    if job.transition(JobState::Queued, reason.clone()).is_ok() {
        job.progress.percent = 0.0;
        job.progress.message = format!("re-queued: {reason}");
        let entry = Queue::entry(job);
        st.queue.push(entry);
        scheduler.metrics.requeues.inc();
        notify_lost(st, id);
        push_event(st, id, EventKind::State, format!("re-queued: {reason}"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completion::Outcome;
    use crate::config::Config;
    use crate::job::SubmittedSpec;

    fn spec() -> SubmittedSpec {
        SubmittedSpec {
            algorithm: "ppo".into(),
            total_steps: 1_000,
            symbols: vec!["BTC".into()],
            features: vec!["price".into()],
            ..Default::default()
        }
    }

    fn claim_of(grant: &Grant) -> LeaseClaim {
        LeaseClaim {
            job_id: grant.job.id.clone(),
            lease_id: grant.lease.lease_id.clone(),
            attempt: grant.lease.attempt,
            trainer_id: grant.lease.trainer_id.clone(),
        }
    }

    async fn take(scheduler: &Arc<Scheduler>, trainer: &str) -> Option<LeaseClaim> {
        scheduler.acquire(trainer, trainer, Duration::ZERO).await.unwrap().map(|g| claim_of(&g))
    }

    async fn record(scheduler: &Scheduler, id: &str) -> JobRecord {
        scheduler.view(id).await.unwrap().record
    }

    /// The back-off a re-queued job waits, ms (then lifted, so the test goes on at once).
    fn backoff_then_lift(scheduler: &Scheduler, id: &str) -> i64 {
        let mut st = scheduler.lock();
        let job = st.jobs.get_mut(id).unwrap();
        let wait = job.not_before_ms - now_ms();
        job.not_before_ms = 0;
        wait
    }

    /// A trainer that keeps handing one job back (it cannot write its artifacts, say) used to
    /// loop it with no delay and no end, growing its error list without bound.
    #[tokio::test]
    async fn hand_backs_back_off_and_end_and_keep_only_the_last_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::local(dir.path().into());
        (config.max_handbacks, config.retry_backoff_ms) = (12, 60_000);
        let (scheduler, _) = Scheduler::start(config).unwrap();
        let id = scheduler.submit(spec()).await.unwrap().0.record.id;
        let long_reason = "disk trouble ".repeat(1_000); // 13 KB
        for handback in 1..=13u32 {
            let claim = take(&scheduler, "t-1").await.expect("the job is granted");
            let outcome = Outcome::HandedBack(long_reason.clone());
            scheduler.complete(&claim, outcome, 0).await.unwrap();
            let job = record(&scheduler, &id).await;
            if handback == 13 {
                assert_eq!(job.state, JobState::Failed);
                assert!(job.error.starts_with("handed back 13 times (--max-handbacks 12)"), "{}", &job.error[..80]);
                break;
            }
            assert_eq!(job.state, JobState::Queued);
            let wait = backoff_then_lift(&scheduler, &id);
            if handback == 1 {
                assert!(wait <= 0, "a trainer that stops hands its job back for another at once: {wait} ms");
            } else {
                assert!(wait > 50_000, "hand-back {handback} backs off: {wait} ms");
            }
        }
        let job = record(&scheduler, &id).await;
        assert_eq!(job.attempt_errors.len(), JobRecord::KEPT_ATTEMPT_ERRORS, "only the newest reasons are kept");
        assert!(job.attempt_errors.iter().all(|e| e.len() <= 4096), "each cut to 4 KiB");
    }

    /// A trainer whose host lacks the data used to turn every job it touched into a permanent
    /// FAILED; now the job goes to another trainer, and after three different jobs failed in a
    /// row the trainer is drained, as SLURM drains a bad node.
    #[tokio::test]
    async fn a_host_local_failure_goes_elsewhere_and_a_failing_trainer_is_drained() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::local(dir.path().into());
        config.drain_after_failures = 3;
        let (scheduler, _) = Scheduler::start(config).unwrap();
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(scheduler.submit(spec()).await.unwrap().0.record.id);
        }
        // The bad host cannot run the first job: re-queued, and not offered to it again.
        let claim = take(&scheduler, "t-bad").await.unwrap();
        assert_eq!(claim.job_id, ids[0]);
        let missing = Outcome::HostFailed("unknown symbol `BTC` in data directory /mnt/empty".into());
        scheduler.complete(&claim, missing, 0).await.unwrap();
        backoff_then_lift(&scheduler, &ids[0]);
        assert_eq!(record(&scheduler, &ids[0]).await.state, JobState::Queued, "retryable elsewhere, not FAILED");
        let claim = take(&scheduler, "t-bad").await.unwrap();
        assert_eq!(claim.job_id, ids[1], "the bad host is given the next job, not the one it could not run");
        let good = take(&scheduler, "t-good").await.unwrap();
        assert_eq!(good.job_id, ids[0], "another trainer gets it");
        scheduler.complete(&good, Outcome::Failed("not this test's business".into()), 0).await.unwrap();

        // Two more different jobs failed in a row: drained.
        scheduler.complete(&claim, Outcome::Failed("training crashed: CUDA error".into()), 0).await.unwrap();
        let claim = take(&scheduler, "t-bad").await.unwrap();
        assert_eq!(claim.job_id, ids[2]);
        scheduler.complete(&claim, Outcome::Failed("training crashed: CUDA error".into()), 0).await.unwrap();
        assert!(take(&scheduler, "t-bad").await.is_none(), "a drained trainer gets no job while one is queued");
        let queue = scheduler.queue(20, "", "").unwrap();
        let (_, bad, _) = queue.trainers.iter().find(|(id, _, _)| id == "t-bad").unwrap();
        let reason = bad.drained.as_deref().expect("shown as drained in the queue");
        assert!(reason.contains("3 different jobs in a row") && reason.contains("CUDA error"), "{reason}");
        assert_eq!(take(&scheduler, "t-good").await.unwrap().job_id, ids[3]);
    }

    /// Lease expiry runs on the monotonic clock, here paused and moved by hand: no sleep, and
    /// a wall clock that barely moves changes nothing.
    #[tokio::test]
    async fn a_lease_expires_one_ttl_after_its_last_heartbeat_on_the_monotonic_clock() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::local(dir.path().into());
        config.lease_ttl_ms = 10_000;
        config.retry_backoff_ms = 0;
        let ttl = config.lease_ttl();
        let (scheduler, _) = Scheduler::start(config).unwrap();
        let spec = SubmittedSpec {
            algorithm: "ppo".into(),
            total_steps: 1_000,
            symbols: vec!["BTC".into()],
            features: vec!["price".into()],
            ..Default::default()
        };
        let (job, _) = scheduler.submit(spec).await.unwrap();
        tokio::time::pause();
        let grant = scheduler.acquire("t-1", "one", Duration::ZERO).await.unwrap().expect("the queued job");
        assert_eq!(grant.job.id, job.record.id);
        let claim = LeaseClaim {
            job_id: grant.job.id.clone(),
            lease_id: grant.lease.lease_id.clone(),
            attempt: 1,
            trainer_id: "t-1".into(),
        };
        let state = |s: &Scheduler| s.live_view(&claim.job_id).unwrap().record.state;

        tokio::time::advance(ttl - Duration::from_millis(1)).await;
        scheduler.sweep();
        assert_eq!(state(&scheduler), JobState::Preflight, "one ms before the deadline the lease holds");
        scheduler.heartbeat(&claim, 10).unwrap();
        tokio::time::advance(ttl - Duration::from_millis(1)).await;
        scheduler.sweep();
        assert_eq!(state(&scheduler), JobState::Preflight, "a heartbeat renews it for a full period");

        tokio::time::advance(Duration::from_millis(2)).await;
        scheduler.sweep();
        let record = scheduler.view(&claim.job_id).await.unwrap().record;
        assert_eq!(record.state, JobState::Queued, "one ms past it the job is queued again");
        assert!(record.attempt_errors[0].contains("attempt 1: lease expired"), "{:?}", record.attempt_errors);
        let e = scheduler.heartbeat(&claim, 20).unwrap_err();
        assert!(matches!(e, SchedulerError::StaleLease { .. }), "the old holder is fenced off: {e}");
    }
}
