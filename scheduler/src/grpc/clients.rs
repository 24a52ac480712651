//! `TrainingService`: the client-facing RPCs, as thin adapters over [`Scheduler`].

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_server::TrainingService;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{
    artifact_to_pb, estimate_to_pb, experiment_request_from_pb, experiment_to_pb, job_to_pb, jobs_event_to_pb,
    spec_from_pb, state_from_pb, watch_item_to_pb,
};
use crate::scheduler::Scheduler;

/// Bytes per `ArtifactChunk`.
const CHUNK: usize = 256 * 1024;

/// The client service.
#[derive(Debug, Clone)]
pub struct Clients {
    scheduler: Arc<Scheduler>,
}

impl Clients {
    /// Serves `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>) -> Clients {
        Clients { scheduler }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A page size asked for: 0 is `default`, more than the largest page is the largest (AIP-158);
/// the next page token says whether there is more.
fn page_size(asked: u32, default: usize) -> usize {
    match asked as usize {
        0 => default,
        n => n.min(crate::scheduler::MAX_PAGE_SIZE),
    }
}

#[tonic::async_trait]
impl TrainingService for Clients {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let spec = request.into_inner().spec.ok_or_else(|| Status::invalid_argument("spec is missing"))?;
        let (view, created) = self.scheduler.submit(spec_from_pb(spec)).await?;
        crate::trace::record_job(&view.record.id);
        if created {
            tracing::info!(job_id = %view.record.id, priority = view.record.priority, "job queued");
        }
        Ok(Response::new(pb::SubmitJobResponse { job: Some(job_to_pb(&view)), created }))
    }

    async fn get_job(&self, request: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let id = request.into_inner().job_id;
        crate::trace::record_job(&id);
        let view = self.scheduler.view(&id).await?;
        Ok(Response::new(job_to_pb(&view)))
    }

    async fn get_results(
        &self,
        request: Request<pb::GetResultsRequest>,
    ) -> Result<Response<pb::GetResultsResponse>, Status> {
        let id = request.into_inner().job_id;
        crate::trace::record_job(&id);
        let (view, metrics_json) = self.scheduler.results(&id).await?;
        let artifacts = view.record.artifacts.iter().map(artifact_to_pb).collect();
        Ok(Response::new(pb::GetResultsResponse { job: Some(job_to_pb(&view)), metrics_json, artifacts }))
    }

    async fn list_jobs(&self, request: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        let r = request.into_inner();
        let page_size = page_size(if r.page_size == 0 { r.limit } else { r.page_size }, 20);
        let mut states = Vec::with_capacity(r.states.len() + 1);
        for v in r.states.iter().copied().chain((r.state != 0).then_some(r.state)) {
            states.push(state_from_pb(v).ok_or_else(|| Status::invalid_argument(format!("unknown state {v}")))?);
        }
        let filter = crate::scheduler::JobFilter::new(states, &r.symbol);
        let page = if r.experiment_id.is_empty() {
            self.scheduler.list(page_size, &r.page_token, &filter)?
        } else {
            self.scheduler.experiment_jobs(&r.experiment_id, page_size, &r.page_token, &filter)?
        };
        Ok(Response::new(pb::ListJobsResponse {
            jobs: page.jobs.iter().map(job_to_pb).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn cancel_job(&self, request: Request<pb::CancelJobRequest>) -> Result<Response<pb::Job>, Status> {
        let id = request.into_inner().job_id;
        crate::trace::record_job(&id);
        let view = self.scheduler.cancel(&id).await?;
        tracing::info!(job_id = %id, state = view.record.state.name(), "cancel requested");
        Ok(Response::new(job_to_pb(&view)))
    }

    async fn get_queue(&self, request: Request<pb::GetQueueRequest>) -> Result<Response<pb::GetQueueResponse>, Status> {
        let r = request.into_inner();
        let page_size = page_size(r.page_size, 100);
        let q = self.scheduler.queue(page_size, &r.page_token, &r.symbol)?;
        Ok(Response::new(pb::GetQueueResponse {
            queued: q.queued.iter().map(job_to_pb).collect(),
            running: q.running.iter().map(job_to_pb).collect(),
            trainers: q
                .trainers
                .into_iter()
                .map(|(id, t, jobs)| pb::TrainerInfo {
                    trainer_id: id,
                    name: t.name,
                    job_ids: jobs,
                    last_seen_ms: t.last_seen_ms,
                    steps_per_sec: t.steps_per_sec,
                    drained: t.drained.unwrap_or_default(),
                })
                .collect(),
            total_queued: q.total_queued as u64,
            next_page_token: q.next.unwrap_or_default(),
        }))
    }

    type WatchJobStream = BoxStream<pb::JobEvent>;

    async fn watch_job(&self, request: Request<pb::WatchJobRequest>) -> Result<Response<Self::WatchJobStream>, Status> {
        let r = request.into_inner();
        crate::trace::record_job(&r.job_id);
        let items = self.scheduler.watch(&r.job_id, r.after_sequence).await?;
        let events = ReceiverStream::new(items).map(move |item| Ok(watch_item_to_pb(&r.job_id, item)));
        Ok(Response::new(Box::pin(events)))
    }

    type WatchJobsStream = BoxStream<pb::JobsEvent>;

    async fn watch_jobs(
        &self,
        request: Request<pb::WatchJobsRequest>,
    ) -> Result<Response<Self::WatchJobsStream>, Status> {
        let r = request.into_inner();
        if r.job_ids.len() > crate::feed::MAX_FILTER_JOBS {
            return Err(Status::invalid_argument(format!(
                "job_ids names {} jobs; at most {} may be watched by id (none: every job)",
                r.job_ids.len(),
                crate::feed::MAX_FILTER_JOBS
            )));
        }
        let filter = crate::feed::Filter { job_ids: r.job_ids.into_iter().collect(), states_only: r.states_only };
        let mut reader = self.scheduler.feed.reader(r.after_sequence, &r.epoch, filter);
        let epoch = self.scheduler.feed.epoch().to_string();
        let (tx, rx) = mpsc::channel(64);
        let mut stopping = self.scheduler.stopping();
        let scheduler = self.scheduler.clone();
        let lifetime = match scheduler.config.event_stream_max_secs {
            0 => None,
            secs => Some(std::time::Duration::from_secs(secs)),
        };
        tokio::spawn(async move {
            scheduler.metrics.watch_streams.inc();
            // The stream ends cleanly after its lifetime; the client resumes where it was.
            let expired = async move {
                match lifetime {
                    Some(lifetime) => tokio::time::sleep(lifetime).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expired);
            // A slow client fills its channel and then waits here, holding nothing but its
            // place in the feed: the scheduler and other watchers never wait for it.
            'stream: while !*stopping.borrow() {
                let items = tokio::select! {
                    items = reader.next() => items,
                    _ = tx.closed() => break,
                    _ = stopping.changed() => break,
                    _ = &mut expired => break,
                };
                for item in items {
                    if tx.send(Ok(jobs_event_to_pb(&epoch, item))).await.is_err() {
                        break 'stream;
                    }
                }
            }
            scheduler.metrics.watch_streams.dec();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type DownloadArtifactStream = BoxStream<pb::ArtifactChunk>;

    async fn download_artifact(
        &self,
        request: Request<pb::DownloadArtifactRequest>,
    ) -> Result<Response<Self::DownloadArtifactStream>, Status> {
        let r = request.into_inner();
        crate::trace::record_job(&r.job_id);
        let (mut file, total) = if crate::experiment::is_valid_experiment_id(&r.job_id) {
            self.scheduler.open_experiment_artifact(&r.job_id, &r.name).await?
        } else {
            self.scheduler.open_artifact(&r.job_id, &r.name).await?
        };
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut offset = 0u64;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = match file.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(Status::unavailable(format!("reading artifact: {e}")))).await;
                        break;
                    }
                };
                buf.truncate(n);
                let chunk = pb::ArtifactChunk { data: buf, offset, total_size: total };
                offset += n as u64;
                if tx.send(Ok(chunk)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn submit_experiment(
        &self,
        request: Request<pb::SubmitExperimentRequest>,
    ) -> Result<Response<pb::SubmitExperimentResponse>, Status> {
        let spec = request.into_inner().spec.ok_or_else(|| Status::invalid_argument("spec is missing"))?;
        let submitted = self.scheduler.submit_experiment(experiment_request_from_pb(spec)).await?;
        let view = &submitted.view;
        if submitted.created {
            tracing::info!(experiment_id = %view.record.id, runs = view.record.runs.len(), "experiment queued");
        }
        Ok(Response::new(pb::SubmitExperimentResponse {
            experiment: Some(experiment_to_pb(view)),
            created: submitted.created,
            estimate: submitted.estimate.as_ref().map(estimate_to_pb),
        }))
    }

    async fn estimate_experiment(
        &self,
        request: Request<pb::EstimateExperimentRequest>,
    ) -> Result<Response<pb::ExperimentEstimate>, Status> {
        let spec = request.into_inner().spec.ok_or_else(|| Status::invalid_argument("spec is missing"))?;
        // Resolving every run is CPU work (up to 4096 of them): off the runtime's workers.
        let scheduler = self.scheduler.clone();
        let estimate =
            tokio::task::spawn_blocking(move || scheduler.estimate_experiment(experiment_request_from_pb(spec)))
                .await
                .map_err(|e| Status::internal(format!("estimating the experiment stopped: {e}")))??;
        Ok(Response::new(estimate_to_pb(&estimate)))
    }

    async fn get_experiment(
        &self,
        request: Request<pb::GetExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        let view = self.scheduler.experiment(&request.into_inner().experiment_id)?;
        Ok(Response::new(experiment_to_pb(&view)))
    }

    async fn get_experiment_results(
        &self,
        request: Request<pb::GetExperimentResultsRequest>,
    ) -> Result<Response<pb::GetExperimentResultsResponse>, Status> {
        let (view, report_json) = self.scheduler.experiment_results(&request.into_inner().experiment_id).await?;
        let artifacts = view.record.artifacts.iter().map(artifact_to_pb).collect();
        Ok(Response::new(pb::GetExperimentResultsResponse {
            experiment: Some(experiment_to_pb(&view)),
            report_json,
            artifacts,
        }))
    }

    async fn list_experiments(
        &self,
        request: Request<pb::ListExperimentsRequest>,
    ) -> Result<Response<pb::ListExperimentsResponse>, Status> {
        let r = request.into_inner();
        let page = self.scheduler.list_experiments(page_size(r.page_size, 20), &r.page_token)?;
        Ok(Response::new(pb::ListExperimentsResponse {
            experiments: page.experiments.iter().map(experiment_to_pb).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn cancel_experiment(
        &self,
        request: Request<pb::CancelExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        let view = self.scheduler.cancel_experiment(&request.into_inner().experiment_id).await?;
        Ok(Response::new(experiment_to_pb(&view)))
    }
}
