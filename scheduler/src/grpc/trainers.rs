//! `TrainerService`: the RPCs trainers pull work through, as thin adapters over [`Scheduler`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_server::TrainerService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{job_to_pb, state_from_pb, stats_from_pb};
use crate::completion::{Outcome, Report};
use crate::leases::LeaseClaim;
use crate::scheduler::{JobView, Scheduler, SchedulerError, TrainerCommand};

/// The trainer service.
#[derive(Debug, Clone)]
pub struct Trainers {
    scheduler: Arc<Scheduler>,
}

impl Trainers {
    /// Serves `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>) -> Trainers {
        Trainers { scheduler }
    }
}

fn claim(lease: Option<pb::Lease>) -> Result<LeaseClaim, Status> {
    let l = lease.ok_or_else(|| Status::invalid_argument("lease is missing"))?;
    crate::trace::record_job(&l.job_id);
    crate::trace::record_trainer(&l.trainer_id);
    Ok(LeaseClaim { job_id: l.job_id, lease_id: l.lease_id, attempt: l.attempt, trainer_id: l.trainer_id })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl TrainerService for Trainers {
    async fn acquire_job(
        &self,
        request: Request<pb::AcquireJobRequest>,
    ) -> Result<Response<pb::AcquireJobResponse>, Status> {
        let r = request.into_inner();
        crate::trace::record_trainer(&r.trainer_id);
        let wait = Duration::from_millis(r.wait_ms as u64);
        let Some(grant) = self.scheduler.acquire(&r.trainer_id, &r.name, wait).await? else {
            return Ok(Response::new(pb::AcquireJobResponse { grant: None }));
        };
        crate::trace::record_job(&grant.job.id);
        let cfg = &self.scheduler.config;
        let lease = pb::Lease {
            job_id: grant.job.id.clone(),
            lease_id: grant.lease.lease_id.clone(),
            attempt: grant.lease.attempt,
            trainer_id: grant.lease.trainer_id.clone(),
        };
        tracing::info!(job_id = %lease.job_id, trainer_id = %lease.trainer_id, attempt = lease.attempt, "job granted");
        Ok(Response::new(pb::AcquireJobResponse {
            grant: Some(pb::JobGrant {
                lease: Some(lease),
                resolved_spec_json: grant.job.resolved_spec.to_string(),
                max_duration_seconds: grant.job.max_duration_seconds,
                job: Some(job_to_pb(&JobView { record: grant.job, queue_position: 0 })),
                checkpoint: grant.checkpoint,
                heartbeat_interval_ms: cfg.heartbeat_interval_ms,
                lease_ttl_ms: cfg.lease_ttl_ms,
                attempt_timeout_ms: cfg.attempt_timeout_secs * 1000,
                measured_steps_per_sec: grant.measured_steps_per_sec,
            }),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let r = request.into_inner();
        let (cancel, expires) = self.scheduler.heartbeat(&claim(r.lease)?, r.steps_done)?;
        Ok(Response::new(pb::HeartbeatResponse { cancel_requested: cancel, lease_expires_ms: expires }))
    }

    type StreamEventsStream = BoxStream<pb::TrainerCommand>;

    async fn stream_events(
        &self,
        request: Request<Streaming<pb::TrainerEvent>>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel::<(String, TrainerCommand)>(16);
        let scheduler = self.scheduler.clone();
        tokio::spawn(async move {
            let mut registered: Option<String> = None;
            let mut stopping = scheduler.stopping();
            loop {
                let event = tokio::select! {
                    e = inbound.next() => e,
                    _ = stopping.changed() => break,
                };
                let Some(Ok(event)) = event else { break };
                let Ok(claim) = claim(event.lease.clone()) else { break };
                if registered.as_deref() != Some(claim.job_id.as_str()) {
                    // Only the job's current lease holder gets its commands: a stale stream
                    // must not take the channel from the trainer that holds the job.
                    let Ok(cancelled) = scheduler.attach_commands(&claim, &tx) else {
                        let _ = tx.send((claim.job_id.clone(), TrainerCommand::LeaseLost)).await;
                        break;
                    };
                    if cancelled {
                        let _ = tx.send((claim.job_id.clone(), TrainerCommand::Cancel)).await;
                    }
                    registered = Some(claim.job_id.clone());
                }
                let report = Report {
                    state: state_from_pb(event.state),
                    percent: if event.percent.is_finite() { event.percent } else { 0.0 },
                    message: event.message,
                    steps_done: event.steps_done,
                    steps_per_sec: event.steps_per_sec,
                    stats: event.stats.as_ref().map(stats_from_pb),
                };
                match scheduler.report(&claim, report).await {
                    Ok(_) => {}
                    Err(SchedulerError::StaleLease { .. }) | Err(SchedulerError::NotFound(_)) => {
                        let _ = tx.send((claim.job_id.clone(), TrainerCommand::LeaseLost)).await;
                        break;
                    }
                    Err(e) => tracing::debug!(error = %e, "progress report refused"),
                }
            }
            if let Some(id) = registered {
                scheduler.detach_commands(&id, &tx);
            }
        });
        let out = ReceiverStream::new(rx).map(|(job_id, cmd)| {
            Ok(pb::TrainerCommand {
                job_id,
                cancel: cmd == TrainerCommand::Cancel,
                lease_lost: cmd == TrainerCommand::LeaseLost,
            })
        });
        Ok(Response::new(Box::pin(out)))
    }

    async fn upload_checkpoint(
        &self,
        request: Request<pb::UploadCheckpointRequest>,
    ) -> Result<Response<pb::UploadCheckpointResponse>, Status> {
        let r = request.into_inner();
        let name =
            self.scheduler.upload_checkpoint(&claim(r.lease)?, r.steps_done, r.data, r.validation_sharpe).await?;
        Ok(Response::new(pb::UploadCheckpointResponse { name }))
    }

    async fn upload_artifact(
        &self,
        request: Request<pb::UploadArtifactRequest>,
    ) -> Result<Response<pb::UploadArtifactResponse>, Status> {
        let r = request.into_inner();
        let a = self.scheduler.upload_artifact(&claim(r.lease)?, &r.name, r.data).await?;
        Ok(Response::new(pb::UploadArtifactResponse { artifact: Some(super::convert::artifact_to_pb(&a)) }))
    }

    async fn complete_job(
        &self,
        request: Request<pb::CompleteJobRequest>,
    ) -> Result<Response<pb::CompleteJobResponse>, Status> {
        let r = request.into_inner();
        let claim = claim(r.lease)?;
        let outcome = match pb::Outcome::try_from(r.outcome).unwrap_or(pb::Outcome::Unspecified) {
            pb::Outcome::Done => Outcome::Done { metrics_json: r.metrics_json },
            pb::Outcome::Failed => Outcome::Failed(r.reason),
            pb::Outcome::Cancelled => Outcome::Cancelled,
            pb::Outcome::HandedBack => Outcome::HandedBack(r.reason),
            pb::Outcome::HostFailed => Outcome::HostFailed(r.reason),
            pb::Outcome::Unspecified => return Err(Status::invalid_argument("outcome is missing")),
        };
        self.scheduler.complete(&claim, outcome, r.steps_done).await?;
        tracing::info!(job_id = %claim.job_id, trainer_id = %claim.trainer_id, attempt = claim.attempt, "attempt completed");
        let view = self.scheduler.view(&claim.job_id).await?;
        Ok(Response::new(pb::CompleteJobResponse { job: Some(job_to_pb(&view)) }))
    }
}
