//! The REST routes, each a thin adapter: read the request, call one `TrainingService` RPC (with
//! the caller's `authorization` header as metadata), write the answer as JSON. No job logic
//! lives here; the scheduler validates and decides.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, OriginalUri, Path, Query, State};
use axum::http::header::{AUTHORIZATION, LINK, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use skippy_proto::v1 as pb;
use tonic::Status;
use tonic::metadata::AsciiMetadataValue;
use utoipa::IntoParams;

use super::Gateway;
use super::errors::{ApiError, ErrorBody};
use skippy_proto::json;

use super::errors::{
    BadRequest, GatewayTimeout, NotFound, PayloadTooLarge, PermissionDenied, RequestTimeout, TooManyRequests,
    Unauthenticated, Unavailable, UnsupportedMediaType,
};
use super::json::{JsonBody, ListQuery, QueueQuery, RealSession, RealSessionBody};

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
        let mut value = AsciiMetadataValue::try_from(value.as_bytes())
            .map_err(|_| Status::unauthenticated("the authorization header is not valid ASCII"))?;
        // Never indexed by HTTP/2 header compression, never shown by a Debug.
        value.set_sensitive(true);
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
pub(super) fn unary<T>(headers: &HeaderMap, message: T) -> Result<tonic::Request<T>, ApiError> {
    let mut request = grpc_request(headers, message)?;
    request.set_timeout(UNARY_TIMEOUT);
    Ok(request)
}

/// The `{id}` of a job route, percent-decoded. Whether it names a job is the scheduler's call
/// (a malformed id is simply not found).
#[derive(Debug, IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct JobId(
    /// A job id (`tr_<unix seconds>_<8 hex digits>`), percent-decoded. Any other text is simply
    /// not found (404); a segment that is not UTF-8 once decoded is a 400.
    #[param(example = "tr_1754727123_a1b2c3d4")]
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<JobId, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(ApiError::from_path)?;
        Ok(JobId(id))
    }
}

/// Queue a job (SubmitJob).
///
/// Names and ranges are checked at submission; nothing is stored for a refused job.
#[utoipa::path(
    post, path = "/api/training/jobs", operation_id = "submitJob", tag = "jobs",
    request_body = json::JobSpec,
    responses(
        (status = 202, description = "Queued (durably: in the fsynced submission journal), or the existing job of an \
            idempotency key already used.", body = json::Submitted,
            headers(("Location" = String, description = "The job's status route."))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn submit(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<json::JobSpec>,
) -> Result<Response, ApiError> {
    let request = unary(&headers, pb::SubmitJobRequest { spec: Some(spec.into()) })?;
    let response = gw.client().submit_job(request).await?.into_inner();
    let job = response.job.ok_or_else(|| Status::internal("the scheduler answered SubmitJob without a job"))?;
    let location = format!("/api/training/jobs/{}/status", job.id);
    let location = HeaderValue::from_str(&location)
        .map_err(|_| Status::internal(format!("the scheduler returned an unusable job id {:?}", job.id)))?;
    let body = json::Submitted { job: job.into(), created: response.created };
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(body)).into_response())
}

/// List jobs, newest first, a page at a time (ListJobs).
///
/// Each job is its summary (no `history`, `resolvedSpec` null; a job's own route has them). The
/// answer's `next` link (also in a `Link: <…>; rel="next"` header) and `nextCursor` lead to the
/// next page; both are absent on the last one. Unknown query parameters, a parameter given twice
/// and a cursor this list did not give out are a 400; so is an `experiment` filter that is not an
/// experiment id. A well-formed experiment id the scheduler does not know is a 404.
#[utoipa::path(
    get, path = "/api/training/jobs", operation_id = "listJobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs.", body = json::JobList,
            headers(("Link" = String, description = "`<next page>; rel=\"next\"`, unless this is the last page."))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
pub async fn list(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let limit = page_limit(query.limit.as_deref())?;
    let mut states = Vec::new();
    for text in query.state.as_deref().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let state = parse_state(text)?;
        if state == pb::JobState::Unspecified {
            states.clear();
            break;
        }
        states.push(state);
    }
    let symbol = query.symbol.as_deref().unwrap_or("").trim().to_ascii_uppercase();
    let request = pb::ListJobsRequest {
        page_size: limit,
        page_token: query.cursor.clone().unwrap_or_default(),
        states: states.iter().map(|s| *s as i32).collect(),
        symbol: symbol.clone(),
        experiment_id: query.experiment.clone().unwrap_or_default(),
        ..Default::default()
    };
    let response = gw.client().list_jobs(unary(&headers, request)?).await?.into_inner();
    let mut list = json::JobList::from(response);
    let state_names: Vec<String> =
        states.iter().map(|s| json::JobState::from_proto(*s as i32).name().to_ascii_lowercase()).collect();
    list.next = list.next_cursor.as_deref().map(|cursor| {
        next_link(
            "/api/training/jobs",
            &[
                ("limit", if limit == 0 { String::new() } else { limit.to_string() }),
                ("state", state_names.join(",")),
                ("symbol", symbol.clone()),
                ("experiment", query.experiment.clone().unwrap_or_default()),
                ("cursor", cursor.to_string()),
            ],
        )
    });
    Ok(paged(list.next.clone(), Json(list)))
}

/// A state filter: `queued`, `QUEUED` or `JOB_STATE_QUEUED` (`all` for none).
fn parse_state(text: &str) -> Result<pb::JobState, ApiError> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(pb::JobState::Unspecified);
    }
    match json::JobState::parse(text) {
        Some(s) if s != json::JobState::Unspecified => Ok(s.to_proto()),
        _ => Err(ApiError::invalid(format!(
            "state = {:?} is not a job state; use one of queued, preflight, training, evaluating, done, failed, \
             cancelled, all",
            text.chars().take(64).collect::<String>()
        ))),
    }
}

/// A page size from the `limit` parameter: 0 (the server's default) when absent or empty.
pub(super) fn page_limit(text: Option<&str>) -> Result<u32, ApiError> {
    match text.map(str::trim) {
        None | Some("") => Ok(0),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "limit = {:?} must be a whole number from 1 to 1000",
                text.chars().take(64).collect::<String>()
            ))),
        },
    }
}

/// The URL of the next page: `path` with the parameters that are not empty, percent-encoded.
pub(super) fn next_link(path: &str, params: &[(&str, String)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let query: Vec<String> =
        params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("{path}?{}", query.join("&"))
}

/// A page's answer, with a `Link` header to the next page when there is one.
pub(super) fn paged(next: Option<String>, body: impl IntoResponse) -> Response {
    let link = next.and_then(|next| HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok());
    match link {
        Some(link) => ([(LINK, link)], body).into_response(),
        None => body.into_response(),
    }
}

/// A job (GetJob).
#[utoipa::path(
    get, path = "/api/training/jobs/{id}/status", operation_id = "getJob", tag = "jobs", params(JobId),
    responses(
        (status = 200, description = "The job.", body = json::Job),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn status(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<json::Job>, ApiError> {
    let job = gw.client().get_job(unary(&headers, pb::GetJobRequest { job_id: id })?).await?.into_inner();
    Ok(Json(job.into()))
}

/// A job's metrics and artifacts (GetResults).
#[utoipa::path(
    get, path = "/api/training/jobs/{id}/results", operation_id = "getResults", tag = "jobs", params(JobId),
    responses(
        (status = 200, description = "The job, its metrics (`null` until it is done) and its artifacts.",
            body = json::Results),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn results(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<json::Results>, ApiError> {
    let results = gw.client().get_results(unary(&headers, pb::GetResultsRequest { job_id: id })?).await?.into_inner();
    Ok(Json(results.into()))
}

/// Cancel a job (CancelJob).
///
/// A queued job is cancelled at once; a running one is asked to stop (it keeps a checkpoint).
/// The job is not deleted: it stays readable, CANCELLED, on every route. Cancelling a cancelled
/// job again is a no-op (200).
#[utoipa::path(
    delete, path = "/api/training/jobs/{id}", operation_id = "cancelJob", tag = "jobs", params(JobId),
    responses(
        (status = 200, description = "The job, cancelled (or being stopped).", body = json::Job),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 409, description = "The job already ended DONE or FAILED. Codes: `failed_precondition`.",
            body = ErrorBody),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn cancel(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
) -> Result<Json<json::Job>, ApiError> {
    let job = gw.client().cancel_job(unary(&headers, pb::CancelJobRequest { job_id: id })?).await?.into_inner();
    Ok(Json(job.into()))
}

/// The queue, a page at a time, with the running jobs and trainers (GetQueue).
///
/// `queued` is a page of the queue in dispatch order (100 jobs unless `limit` says otherwise)
/// and `totalQueued` how many are queued in all; `next` (and a `Link` header) leads to the next
/// page. Jobs are summaries, as in the job list.
#[utoipa::path(
    get, path = "/api/training/queue", operation_id = "getQueue", tag = "jobs", params(QueueQuery),
    responses(
        (status = 200, description = "A page of the queued jobs in dispatch order and their total, the running jobs, \
            the trainers seen recently.", body = json::Queue,
            headers(("Link" = String, description = "`<next page>; rel=\"next\"`, unless this is the last page."))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
pub async fn queue(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let limit = page_limit(query.limit.as_deref())?;
    let symbol = query.symbol.as_deref().unwrap_or("").trim().to_ascii_uppercase();
    let request =
        pb::GetQueueRequest { page_size: limit, page_token: query.cursor.unwrap_or_default(), symbol: symbol.clone() };
    let response = gw.client().get_queue(unary(&headers, request)?).await?.into_inner();
    let mut queue = json::Queue::from(response);
    queue.next = queue.next_cursor.as_deref().map(|cursor| {
        next_link(
            "/api/training/queue",
            &[
                ("limit", if limit == 0 { String::new() } else { limit.to_string() }),
                ("symbol", symbol.clone()),
                ("cursor", cursor.to_string()),
            ],
        )
    });
    Ok(paged(queue.next.clone(), Json(queue)))
}

/// Submit a job and wait for it to end (the old blocking call).
///
/// Submits a job (SubmitJob) and waits for its end (WatchJob), then answers with its results.
/// A caller that goes away leaves the job running; so does a gateway that shuts down (503
/// naming the job).
#[utoipa::path(
    post, path = "/api/training/real-session", operation_id = "realSession", tag = "jobs",
    request_body = RealSessionBody,
    responses(
        (status = 200, description = "The job, DONE, and its results.", body = RealSession),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 409, description = "The job was cancelled before it finished; `job` in the body is the job. \
            Codes: `aborted`.", body = ErrorBody),
        (status = 408, response = RequestTimeout), (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The job ended FAILED (for example, preflight found too few bars for the \
            split, or its attempts ran out): the request was carried out and the training failed, which is not a \
            server fault. `job` in the body is the job, with the reason in its `error`. Codes: `job_failed`.",
            body = ErrorBody),
        (status = 429, response = TooManyRequests), (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
pub async fn real_session(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RealSessionBody>,
) -> Result<Json<RealSession>, ApiError> {
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
            let mut results = json::Results::from(results);
            let job = results.job.take().unwrap_or_else(|| finished.into());
            Ok(Json(RealSession { job, results }))
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
    json::JobState::from_proto(state).is_terminal()
}

/// Any path that is no route: a JSON 404.
pub async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::no_route(method.as_str(), uri.path())
}

/// A route called with a method it does not serve: a JSON 405.
pub async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_secret_is_passed_on_as_sensitive_metadata() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer 0123456789abcdef"));
        let request = grpc_request(&headers, ()).expect("an ASCII header");
        let value = request.metadata().get("authorization").expect("passed on");
        assert!(value.is_sensitive(), "never indexed by HPACK");
        assert!(!format!("{:?}", request.metadata()).contains("0123456789abcdef"));
    }
}
