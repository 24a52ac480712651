//! One granted job, start to end: preflight, training on a blocking thread with heartbeats, an
//! event stream and checkpoint uploads alongside, then artifacts and the completion that fits
//! how training ended (done, failed, cancelled, handed back, or nothing when the lease is lost).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skippy_proto::v1::{CompleteJobRequest, JobGrant, JobState, Lease, Outcome, TrainerEvent, UploadArtifactRequest};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::checkpoints;
use super::connection::{CallError, RETRY_BUDGET, retry};
use super::events;
use super::heartbeat;
use super::observer::{Bridge, Interrupt, StopFlags};
use super::preflight::{self, Inputs};
use super::{Worker, until};
use crate::artifacts;
use crate::dataset::Dataset;
use crate::spec::TrainSpec;
use crate::training::{self, RunOptions, StopReason, TrainOutcome};

/// Events buffered between the job and its stream; a full buffer drops progress, never blocks.
const EVENT_BUFFER: usize = 64;

/// How long the end of a job waits for its event stream to flush.
const EVENT_FLUSH: Duration = Duration::from_secs(5);

/// How an attempt ends.
#[derive(Debug)]
enum Ending {
    /// Trained and evaluated; artifacts stored.
    Done {
        /// `metrics.json`.
        metrics_json: String,
    },
    /// Failed for good.
    Failed(String),
    /// Stopped after a cancel.
    Cancelled,
    /// Handed back to the queue.
    HandedBack(String),
    /// This host cannot run it (its data, its disk): retried on another trainer.
    HostFailed(String),
    /// The lease is stale: report nothing.
    Dropped,
}

/// Runs `grant` to its end. Returns when the attempt is completed (or dropped).
pub async fn run(worker: &Worker, grant: JobGrant, shutdown: watch::Receiver<bool>) {
    let Some(lease) = grant.lease.clone() else {
        tracing::error!("the scheduler granted a job without a lease; ignoring the grant");
        return;
    };
    let span = tracing::info_span!("job", job_id = %lease.job_id, attempt = lease.attempt);
    Job::start(worker, lease, &grant, shutdown).run(grant).instrument(span).await;
}

/// Aborts a task when dropped, so that no task outlives the job that owns it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A job in progress.
struct Job<'a> {
    /// The process's shared state.
    worker: &'a Worker,
    /// Carried in every call.
    lease: Lease,
    /// Stop requests for the training thread.
    flags: Arc<StopFlags>,
    /// Latest steps done.
    steps_done: Arc<AtomicU64>,
    /// Events for the stream (this end is dropped to close it).
    events: Option<mpsc::Sender<TrainerEvent>>,
    /// Turns true when the worker shuts down.
    shutdown: watch::Receiver<bool>,
    /// When the attempt must end, and the limit that set it.
    deadline: Option<(Instant, Duration)>,
    /// Wall-duration budget of the training.
    max_duration: Option<Duration>,
}

impl<'a> Job<'a> {
    fn start(worker: &'a Worker, lease: Lease, grant: &JobGrant, shutdown: watch::Receiver<bool>) -> Job<'a> {
        let limit = Duration::from_millis(grant.attempt_timeout_ms);
        let deadline =
            (grant.attempt_timeout_ms > 0).then(|| Instant::now().checked_add(limit).map(|at| (at, limit))).flatten();
        let max_duration = (grant.max_duration_seconds > 0.0)
            .then(|| Duration::try_from_secs_f64(grant.max_duration_seconds).ok())
            .flatten();
        Job {
            worker,
            lease,
            flags: Arc::default(),
            steps_done: Arc::default(),
            events: None,
            shutdown,
            deadline,
            max_duration,
        }
    }

    async fn run(mut self, grant: JobGrant) {
        tracing::info!(
            total_steps = grant.job.as_ref().map(|j| j.total_steps),
            resume = !grant.checkpoint.is_empty(),
            attempt_timeout_ms = grant.attempt_timeout_ms,
            max_duration_seconds = grant.max_duration_seconds,
            "job granted"
        );
        let client = &self.worker.client;
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        self.events = Some(events_tx.clone());
        let forwarder = tokio::spawn(
            events::forward(client.clone(), self.lease.clone(), events_rx, self.flags.clone()).in_current_span(),
        );
        let _heartbeat = AbortOnDrop(tokio::spawn(
            heartbeat::keep_alive(
                client.clone(),
                self.lease.clone(),
                heartbeat::interval_of(grant.heartbeat_interval_ms),
                self.steps_done.clone(),
                self.flags.clone(),
            )
            .in_current_span(),
        ));

        self.report(JobState::Preflight, 5.0, "validating inputs").await;
        let data_dir = self.worker.data_dir.clone();
        let JobGrant { resolved_spec_json, checkpoint, measured_steps_per_sec, .. } = grant;
        let checked = self
            .supervise(tokio::task::spawn_blocking(move || {
                preflight::check(&resolved_spec_json, data_dir.as_deref(), &checkpoint)
            }))
            .await;
        let (ending, uploader) = match checked {
            Ok(Ok(inputs)) => {
                let done = inputs.resume.as_ref().map_or(0, |c| c.steps_done);
                let left = inputs.spec.total_steps.saturating_sub(done);
                let line = preflight::estimate(left, measured_steps_per_sec, self.max_duration);
                self.report(JobState::Unspecified, 8.0, &line).await;
                let (ending, uploader) = self.train(inputs, events_tx).await;
                (ending, Some(uploader))
            }
            Ok(Err(e)) => {
                drop(events_tx);
                tracing::warn!("preflight failed: {e}");
                if e.is_host_local() {
                    (Ending::HostFailed(e.to_string()), None)
                } else {
                    (Ending::Failed(e.to_string()), None)
                }
            }
            Err(e) => {
                drop(events_tx);
                (Ending::Failed(format!("preflight crashed: {}", panic_message(e))), None)
            }
        };

        // The final checkpoint is stored before the attempt ends, so a resume finds it.
        if let Some(uploader) = uploader {
            match uploader.await {
                Ok(uploaded) if !uploaded.up_to_date() && !self.flags.lease_lost() => tracing::warn!(
                    produced = uploaded.produced,
                    stored = uploaded.stored,
                    "the final checkpoint was not stored"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("checkpoint uploader crashed: {e}"),
            }
        }
        // Close the event stream so its last events arrive before the completion.
        self.events = None;
        let _ = tokio::time::timeout(EVENT_FLUSH, forwarder).await;
        self.complete(ending).await;
    }

    /// Trains (the run's first progress report is the TRAINING state change, at 10% or more when
    /// resuming); returns how the attempt should end and the checkpoint uploader to wait for.
    async fn train(
        &mut self,
        inputs: Inputs,
        events: mpsc::Sender<TrainerEvent>,
    ) -> (Ending, JoinHandle<checkpoints::Uploaded>) {
        let Inputs { spec, data, resume } = inputs;
        self.steps_done.store(resume.as_ref().map_or(0, |c| c.steps_done), Ordering::Relaxed);
        let (slot, slot_rx) = watch::channel(None);
        let uploader = tokio::spawn(
            checkpoints::upload_latest(self.worker.client.clone(), self.lease.clone(), slot_rx, self.flags.clone())
                .in_current_span(),
        );
        let bridge = Bridge::new(self.lease.clone(), self.flags.clone(), events, slot, self.steps_done.clone());
        let opts = RunOptions {
            max_duration: self.max_duration,
            checkpoint_interval: self.worker.checkpoint_interval,
            threads: self.worker.threads,
        };
        let span = tracing::Span::current();
        let training = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut bridge = bridge;
            let result = training::train(&spec, &data, resume, &opts, &mut bridge);
            (result, spec, data, bridge)
        });
        let (result, spec, data, mut bridge) = match self.supervise(training).await {
            Ok(finished) => finished,
            Err(e) => return (Ending::Failed(format!("training crashed: {}", panic_message(e))), uploader),
        };
        if let Some(state) = bridge.take_pending_state() {
            self.send(state).await;
        }
        if bridge.dropped() > 0 {
            tracing::debug!(dropped = bridge.dropped(), "progress events dropped while the stream was slow");
        }
        drop(bridge); // closes the checkpoint slot: the uploader stores the final one and ends
        if self.flags.lease_lost() {
            return (Ending::Dropped, uploader);
        }
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!("training failed: {e}");
                return (Ending::Failed(e.to_string()), uploader);
            }
        };
        let steps = outcome.checkpoint.steps_done;
        let ending = match outcome.stop {
            StopReason::Completed | StopReason::DurationLimit => {
                tracing::info!(steps_done = steps, stop = ?outcome.stop, "training finished; uploading artifacts");
                self.deliver(spec, data, outcome).await
            }
            StopReason::Cancelled => {
                tracing::info!(steps_done = steps, "training cancelled");
                Ending::Cancelled
            }
            StopReason::Interrupted => {
                let reason = match self.flags.interrupted() {
                    Some(Interrupt::Shutdown) => "trainer shutting down".to_string(),
                    Some(Interrupt::AttemptTimeout) => format!(
                        "attempt timeout after {}s",
                        self.deadline.map_or(0.0, |(_, limit)| limit.as_secs_f64())
                    ),
                    None => "training interrupted".to_string(),
                };
                tracing::info!(steps_done = steps, "training interrupted: {reason}");
                Ending::HandedBack(reason)
            }
        };
        (ending, uploader)
    }

    /// Writes the artifacts of a finished run and uploads every file.
    async fn deliver(&mut self, spec: TrainSpec, data: Dataset, outcome: TrainOutcome) -> Ending {
        self.report(JobState::Unspecified, 95.0, "uploading artifacts").await;
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, Vec<u8>)>> {
            let dir = tempfile::Builder::new().prefix("skippy-artifacts-").tempdir()?;
            let mut files = Vec::new();
            for path in artifacts::write(dir.path(), &spec, &data, &outcome)? {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                files.push((name, std::fs::read(&path)?));
            }
            Ok(files)
        })
        .await;
        let files = match written {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                tracing::error!("could not write the artifacts: {e}");
                return Ending::HostFailed(format!("trainer could not write the artifacts: {e}"));
            }
            Err(e) => return Ending::Failed(format!("writing the artifacts crashed: {}", panic_message(e))),
        };
        let mut metrics_json = String::new();
        for (name, data) in files {
            if name == artifacts::names::METRICS {
                metrics_json = String::from_utf8_lossy(&data).into_owned();
            }
            let bytes = data.len();
            let client = &self.worker.client;
            let request = UploadArtifactRequest { lease: Some(self.lease.clone()), name: name.clone(), data };
            let what = format!("uploading {name}");
            match retry(&what, RETRY_BUDGET, || {
                let mut client = client.clone();
                let request = request.clone();
                async move { client.upload_artifact(request).await }
            })
            .await
            {
                Ok(_) => tracing::debug!(artifact = %name, bytes, "artifact stored"),
                Err(CallError::Stale(status)) => {
                    tracing::warn!("artifact {name} refused: lease lost ({})", status.message());
                    self.flags.lose_lease();
                    return Ending::Dropped;
                }
                Err(e @ CallError::Rejected(_)) => return Ending::Failed(format!("artifact {name}: {e}")),
                Err(e @ CallError::Unreachable(_)) => {
                    return Ending::HandedBack(format!("could not upload artifact {name}: {e}"));
                }
            }
        }
        Ending::Done { metrics_json }
    }

    /// Reports how the attempt ended (nothing when the lease is lost).
    async fn complete(&self, ending: Ending) {
        if matches!(ending, Ending::Dropped) || self.flags.lease_lost() {
            tracing::warn!("lease lost: the job is dropped without completing it");
            return;
        }
        let steps_done = self.steps_done.load(Ordering::Relaxed);
        let (outcome, reason, metrics_json) = match ending {
            Ending::Done { metrics_json } => (Outcome::Done, String::new(), metrics_json),
            Ending::Failed(reason) => (Outcome::Failed, reason, String::new()),
            Ending::Cancelled => (Outcome::Cancelled, String::new(), String::new()),
            Ending::HandedBack(reason) => (Outcome::HandedBack, reason, String::new()),
            Ending::HostFailed(reason) => (Outcome::HostFailed, reason, String::new()),
            Ending::Dropped => return,
        };
        let request = CompleteJobRequest {
            lease: Some(self.lease.clone()),
            outcome: outcome as i32,
            reason,
            metrics_json,
            steps_done,
        };
        let client = &self.worker.client;
        // Heartbeats go on until the scheduler has the completion (the lease must not expire
        // while it is retried), but one refused after this point crossed the completion.
        self.flags.begin_completing();
        match retry("completing the job", RETRY_BUDGET, || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.complete_job(request).await }
        })
        .await
        {
            Ok(_) => tracing::info!(?outcome, reason = %request.reason, steps_done, "job completed"),
            Err(e) => tracing::error!(?outcome, "could not complete the job: {e}"),
        }
    }

    /// Awaits `work` while applying a shutdown or the attempt deadline to the stop flags.
    async fn supervise<T>(&mut self, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            let interrupted = self.flags.interrupted().is_some();
            tokio::select! {
                out = &mut work => return out,
                _ = self.shutdown.wait_for(|stop| *stop), if !interrupted => {
                    tracing::info!("shutting down: stopping the job to hand it back");
                    self.flags.interrupt(Interrupt::Shutdown);
                }
                _ = until(self.deadline.map(|(at, _)| at)), if !interrupted => {
                    tracing::warn!("attempt timeout: stopping the job to hand it back");
                    self.flags.interrupt(Interrupt::AttemptTimeout);
                }
            }
        }
    }

    /// Sends a state event (or a plain one for [`JobState::Unspecified`]).
    async fn report(&self, state: JobState, percent: f64, message: &str) {
        self.send(TrainerEvent {
            lease: Some(self.lease.clone()),
            state: state as i32,
            percent,
            message: message.to_string(),
            steps_done: self.steps_done.load(Ordering::Relaxed),
            steps_per_sec: 0.0,
            stats: None,
        })
        .await;
    }

    async fn send(&self, event: TrainerEvent) {
        if let Some(events) = &self.events {
            // The forwarder drains the buffer continuously, so this does not wait for the network.
            let _ = events.send(event).await;
        }
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string()),
        Err(e) => e.to_string(),
    }
}
