//! The REST routes, each a thin adapter: read the request, call one `TrainingService` RPC (with
//! the caller's `authorization` header as metadata), write the answer as JSON. No job logic
//! lives here; the scheduler validates and decides.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, OriginalUri, Path, Query, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use skippy_proto::v1 as pb;
use tonic::Status;
use tonic::metadata::AsciiMetadataValue;

use super::Gateway;
use super::errors::ApiError;
use super::json::{
    JobJson, JobListJson, JobSpecBody, JsonBody, ListQuery, QueueJson, RealSessionBody, RealSessionJson, ResultsJson,
    SubmittedJson,
};

/// Deadline of every unary call to the scheduler.
const UNARY_TIMEOUT: Duration = Duration::from_secs(30);

/// Defaults of the real-session call (the brief's blocking API).
const REAL_SESSION_SYMBOLS: [&str; 2] = ["BTC", "ETH"];
const REAL_SESSION_FEATURES: [&str; 1] = ["price"];
const REAL_SESSION_STEPS: u64 = 1_000_000;

/// A gRPC request carrying the caller's `authorization` header, for the scheduler to check, and
/// the request id.
pub fn grpc_request<T>(headers: &HeaderMap, message: T) -> Result<tonic::Request<T>, ApiError> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = AsciiMetadataValue::try_from(value.as_bytes())
            .map_err(|_| Status::unauthenticated("the authorization header is not valid ASCII"))?;
        request.metadata_mut().insert("authorization", value);
    }
    // Set by the request-span middleware: the scheduler's log lines carry the same id.
    if let Some(id) =
        headers.get(crate::trace::REQUEST_ID).and_then(|v| AsciiMetadataValue::try_from(v.as_bytes()).ok())
    {
        request.metadata_mut().insert(crate::trace::REQUEST_ID, id);
    }
    Ok(request)
}

/// [`grpc_request`] with the unary deadline.
fn unary<T>(headers: &HeaderMap, message: T) -> Result<tonic::Request<T>, ApiError> {
    let mut request = grpc_request(headers, message)?;
    request.set_timeout(UNARY_TIMEOUT);
    Ok(request)
}

/// The `{id}` of a job route, percent-decoded. Whether it names a job is the scheduler's call
/// (a malformed id is simply not found).
#[derive(Debug)]
pub struct JobId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<JobId, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(ApiError::from_path)?;
        Ok(JobId(id))
    }
}

/// `POST /api/training/jobs`: queues a job; `202 Accepted`, `Location` of its status, the job.
pub async fn submit(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<JobSpecBody>,
) -> Result<Response, ApiError> {
    let request = unary(&headers, pb::SubmitJobRequest { spec: Some(spec.into()) })?;
    let response = gw.client().submit_job(request).await?.into_inner();
    let job = response.job.ok_or_else(|| Status::internal("the scheduler answered SubmitJob without a job"))?;
    let location = format!("/api/training/jobs/{}/status", job.id);
    let location = HeaderValue::from_str(&location)
        .map_err(|_| Status::internal(format!("the scheduler returned an unusable job id {:?}", job.id)))?;
    let body = SubmittedJson { job: job.into(), created: response.created };
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(body)).into_response())
}

/// `GET /api/training/jobs?limit=20&state=queued`: jobs, newest first.
pub async fn list(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobListJson>, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let limit = match query.limit.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(format!(
                    "limit = {:?} must be a whole number from 1 to 1000",
                    text.chars().take(64).collect::<String>()
                )));
            }
        },
    };
    let state = match query.state.as_deref().map(str::trim) {
        None | Some("") => pb::JobState::Unspecified,
        Some(text) => parse_state(text)?,
    };
    let request = unary(&headers, pb::ListJobsRequest { limit, state: state as i32 })?;
    let response = gw.client().list_jobs(request).await?.into_inner();
    Ok(Json(JobListJson { jobs: response.jobs.into_iter().map(JobJson::from).collect() }))
}

/// A state filter: `queued`, `QUEUED` or `JOB_STATE_QUEUED` (`all` for none).
fn parse_state(text: &str) -> Result<pb::JobState, ApiError> {
    let upper = text.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(pb::JobState::Unspecified);
    }
    let name = if upper.starts_with("JOB_STATE_") { upper } else { format!("JOB_STATE_{upper}") };
    match pb::JobState::from_str_name(&name) {
        Some(s) if s != pb::JobState::Unspecified => Ok(s),
        _ => Err(ApiError::invalid(format!(
            "state = {:?} is not a job state; use one of queued, preflight, training, evaluating, done, failed, \
             cancelled, all",
            text.chars().take(64).collect::<String>()
        ))),
    }
}

/// `GET /api/training/jobs/{id}/status`: one job.
pub async fn status(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<JobJson>, ApiError> {
    let job = gw.client().get_job(unary(&headers, pb::GetJobRequest { job_id: id })?).await?.into_inner();
    Ok(Json(job.into()))
}

/// `GET /api/training/jobs/{id}/results`: the job, its metrics (`null` until done), artifacts.
pub async fn results(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<ResultsJson>, ApiError> {
    let results = gw.client().get_results(unary(&headers, pb::GetResultsRequest { job_id: id })?).await?.into_inner();
    Ok(Json(results.into()))
}

/// `DELETE /api/training/jobs/{id}`: cancels a job (idempotent; a finished job is a 409).
pub async fn cancel(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<JobJson>, ApiError> {
    let job = gw.client().cancel_job(unary(&headers, pb::CancelJobRequest { job_id: id })?).await?.into_inner();
    Ok(Json(job.into()))
}

/// `GET /api/training/queue`: queued jobs in dispatch order, running jobs, trainers.
pub async fn queue(State(gw): State<Gateway>, headers: HeaderMap) -> Result<Json<QueueJson>, ApiError> {
    let queue = gw.client().get_queue(unary(&headers, pb::GetQueueRequest {})?).await?.into_inner();
    Ok(Json(queue.into()))
}

/// `POST /api/training/real-session` `{"duration": hours}`: the brief's blocking call, now a
/// job it submits and waits for. Answers with the finished job and its results, or with the
/// error of a job that failed (422) or was cancelled (409), the job attached. A caller that goes
/// away leaves the job running.
pub async fn real_session(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RealSessionBody>,
) -> Result<Json<RealSessionJson>, ApiError> {
    let hours = match body.duration {
        Some(h) if h.is_finite() && h > 0.0 && h * 3600.0 < 1e12 => h,
        Some(h) => return Err(ApiError::invalid(format!("duration = {h} must be a positive, finite number of hours"))),
        None => return Err(ApiError::invalid("duration (hours of training, e.g. 0.1) is required")),
    };
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let spec = pb::JobSpec {
        symbols: body.symbols.unwrap_or_else(|| owned(&REAL_SESSION_SYMBOLS)),
        features: body.features.unwrap_or_else(|| owned(&REAL_SESSION_FEATURES)),
        total_steps: body.steps.unwrap_or(REAL_SESSION_STEPS),
        max_duration_seconds: hours * 3600.0,
        ..Default::default()
    };
    let mut client = gw.client();
    let submitted = client.submit_job(unary(&headers, pb::SubmitJobRequest { spec: Some(spec) })?).await?.into_inner();
    let job = submitted.job.ok_or_else(|| Status::internal("the scheduler answered SubmitJob without a job"))?;
    tracing::info!(job_id = %job.id, hours, "real session submitted; waiting for the job to end");
    let finished = tokio::select! {
        r = wait_for_end(&gw, &headers, &job.id) => r?,
        _ = gw.stopped() => {
            return Err(Status::unavailable(format!(
                "the gateway is shutting down; job {} continues: GET /api/training/jobs/{}/status",
                job.id, job.id
            ))
            .into());
        }
    };
    let id = finished.id.clone();
    match pb::JobState::try_from(finished.state) {
        Ok(pb::JobState::Done) => {
            let results =
                client.get_results(unary(&headers, pb::GetResultsRequest { job_id: id })?).await?.into_inner();
            let mut results = ResultsJson::from(results);
            let job = results.job.take().unwrap_or_else(|| finished.into());
            Ok(Json(RealSessionJson { job, results }))
        }
        Ok(pb::JobState::Cancelled) => {
            Err(ApiError::from(Status::aborted(format!("job {id} was cancelled before it finished")))
                .with_job(finished.into()))
        }
        // A failed job is the answer to the request, not a fault of the server: 422 with the job.
        Ok(pb::JobState::Failed) => {
            let why = if finished.error.is_empty() { "no reason given".to_string() } else { finished.error.clone() };
            Err(ApiError::job_failed(format!("job {id} failed: {why}")).with_job(finished.into()))
        }
        _ => Err(ApiError::from(Status::internal(format!("job {id} ended in state {}", finished.state)))
            .with_job(finished.into())),
    }
}

/// Watches a job until its terminal event and returns the job as it ended.
async fn wait_for_end(gw: &Gateway, headers: &HeaderMap, id: &str) -> Result<pb::Job, ApiError> {
    let request = grpc_request(headers, pb::WatchJobRequest { job_id: id.to_string(), after_sequence: 0 })?;
    let mut stream = gw.client().watch_job(request).await?.into_inner();
    while let Some(event) = stream.message().await? {
        if let Some(job) = event.job
            && is_terminal(job.state)
        {
            return Ok(job);
        }
    }
    // The watch ended early (the scheduler is stopping): the job may still have ended.
    let job = gw.client().get_job(unary(headers, pb::GetJobRequest { job_id: id.to_string() })?).await?.into_inner();
    if is_terminal(job.state) {
        return Ok(job);
    }
    Err(ApiError::from(Status::unavailable(format!(
        "the scheduler ended the watch before job {id} finished; the job continues: GET /api/training/jobs/{id}/status"
    )))
    .with_job(job.into()))
}

fn is_terminal(state: i32) -> bool {
    matches!(pb::JobState::try_from(state), Ok(pb::JobState::Done | pb::JobState::Failed | pb::JobState::Cancelled))
}

/// Any path that is no route: a JSON 404.
pub async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::no_route(method.as_str(), uri.path())
}

/// A route called with a method it does not serve: a JSON 405.
pub async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
