//! Server-sent events: a job's `WatchJob` stream and the scheduler-wide `WatchJobs` stream.
//!
//! `GET /api/training/jobs/{id}/events`, one job:
//! Each `JobEvent` becomes `id: <sequence>` + `data: <JobEvent JSON>`; the first is the job's
//! snapshot. A `Last-Event-ID` header (what `EventSource` sends when it reconnects) or an
//! `?after=` query resumes after that sequence, without gaps or repeats. The stream ends when
//! the job ends (after its terminal event), when the scheduler ends the watch, or when the
//! gateway shuts down. A failure after the stream started arrives as an `event: error` whose
//! data is the usual error body.
//!
//! `GET /api/training/events`, every job (what the dashboard's list follows): each message is
//! `id: <epoch>:<sequence>` + `data: <JobsEvent JSON>`; a reset is also named (`event: reset`).
//! `Last-Event-ID` (or `?after=`) resumes after that position without gaps or repeats; a
//! position the scheduler no longer holds, or one from before a restart, starts with a reset.
//! `?jobIds=a,b` and `?statesOnly=true` filter. It runs until the client leaves, the gateway
//! shuts down, or the scheduler ends it (at shutdown, or cleanly after the stream's lifetime,
//! `--event-stream-max-secs`, when the client resumes from its last id).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use skippy_proto::json;
use skippy_proto::v1 as pb;
use tonic::Status;
use utoipa::{IntoParams, ToSchema};

use super::Gateway;
use super::errors::{ApiError, BadRequest, NotFound, PermissionDenied, Unauthenticated, Unavailable};
use super::routes::{JobId, grpc_request};

/// Query of the events route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event sequence number (absent or empty: from the start). At most the
    /// job's `lastSequence`; a later one is a 400. `Last-Event-ID` wins when both are given.
    #[param(value_type = Option<u64>, minimum = 0)]
    after: Option<String>,
}

/// One server-sent event, its fields as the SSE format names them (what the `text/event-stream`
/// of the events routes carries, one after another; a comment every 15 s keeps the connection
/// alive).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerSentEvent {
    /// `message` (the default, not written) for an event; `reset` for a reset of the
    /// scheduler-wide stream; `error` for a failure after the stream started.
    #[schema(pattern = "^(message|reset|error)$")]
    pub event: Option<String>,
    /// The position to resume after (`Last-Event-ID` or `?after=`): a job event's sequence, or
    /// `<epoch>:<sequence>` on the scheduler-wide stream.
    pub id: Option<String>,
    /// The event as JSON: a `JobEvent`, a `JobsEvent`, or for `event: error` an error body.
    pub data: String,
}

/// A job's events as server-sent events (WatchJob).
///
/// The first event is a snapshot of the job (`SNAPSHOT`), then every event after the resumption
/// point, live, without gaps or repeats. Each is `id: <sequence>` and `data: <Event as JSON>`.
/// The stream ends after the job's terminal event (at once for a job already ended), when the
/// scheduler ends the watch, or when the gateway shuts down. Unknown query parameters are a 400.
#[utoipa::path(
    get, path = "/api/training/jobs/{id}/events", operation_id = "watchJob", tag = "jobs",
    params(
        JobId, EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, minimum = 0, description = "What `EventSource` sends when it \
            reconnects: resume after this sequence, as `after` (which is still checked), which it wins over."),
    ),
    responses(
        (status = 200, description = "A stream of server-sent events, each described by the schema; `data` is \
            an `Event`.", body = ServerSentEvent, content_type = "text/event-stream"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn events(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    JobId(id): JobId,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    // Both are checked, so that a malformed `after` is a 400 beside a header too (not ignored).
    let after = query.after.as_deref().map(|text| parse_sequence("after", text)).transpose()?;
    let after = match headers.get("last-event-id") {
        Some(v) => parse_sequence("Last-Event-ID", v.to_str().unwrap_or("\u{fffd}"))?,
        None => after.unwrap_or(0),
    };
    let request = grpc_request(&headers, pb::WatchJobRequest { job_id: id, after_sequence: after })?;
    let stream = gw.client().watch_job(request).await?.into_inner();
    Ok(sse_response(relay(stream, to_event).take_until(gw.stopped())))
}

/// Query of the scheduler-wide events route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct JobsEventsQuery {
    /// Resume after this position, `<epoch>:<sequence>` as sent in an event's `id` (absent or
    /// empty: a new watch). `Last-Event-ID` wins when both are given.
    #[param(pattern = "^([0-9a-fA-F]{1,32}:[0-9]{1,20})?$")]
    after: Option<String>,
    /// Only these jobs, comma-separated (at most 1000; absent: every job).
    job_ids: Option<String>,
    /// `true`: state changes only, no progress.
    #[param(pattern = "^(true|false)$")]
    states_only: Option<String>,
}

/// Every job's changes as server-sent events (WatchJobs).
///
/// One stream for clients that follow many jobs (the dashboard's list): every state change of
/// every job, new jobs included, and each running job's progress at most twice a second, in one
/// scheduler-wide order. Each event's SSE `id` is its position, `<epoch>:<sequence>`, and its
/// data a `FeedEvent`. A new watch starts with a reset (`event: reset`): read the jobs (`GET
/// /api/training/jobs`, `/queue`), then apply the changes that follow, skipping those a job's
/// `lastSequence` already includes. Resuming with `Last-Event-ID` (or `after`) continues
/// without gaps or repeats; a position from before a scheduler restart (another epoch), or one
/// the scheduler no longer holds, starts with a reset.
#[utoipa::path(
    get, path = "/api/training/events", operation_id = "watchJobs", tag = "jobs",
    params(
        JobsEventsQuery,
        ("Last-Event-ID" = Option<String>, Header, pattern = "^([0-9a-fA-F]{1,32}:[0-9]{1,20})?$",
            description = "What `EventSource` sends when it reconnects: resume after this position, as `after` \
            (which is still checked), which it wins over."),
    ),
    responses(
        (status = 200, description = "A stream of server-sent events, each described by the schema; `data` is \
            a `FeedEvent`.", body = ServerSentEvent, content_type = "text/event-stream"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 503, response = Unavailable),
    )
)]
pub async fn jobs_events(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<JobsEventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let after = query.after.as_deref().map(|text| parse_position("after", text)).transpose()?;
    let (epoch, after_sequence) = match headers.get("last-event-id") {
        Some(v) => parse_position("Last-Event-ID", v.to_str().unwrap_or("\u{fffd}"))?,
        None => after.unwrap_or_default(),
    };
    let job_ids: Vec<String> = match query.job_ids.as_deref() {
        None => Vec::new(),
        Some(text) => text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    };
    let states_only = match query.states_only.as_deref().map(str::trim) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "statesOnly = {:?} must be true or false",
                other.chars().take(64).collect::<String>()
            )));
        }
    };
    let request = grpc_request(&headers, pb::WatchJobsRequest { after_sequence, epoch, job_ids, states_only })?;
    let stream = gw.client().watch_jobs(request).await?.into_inner();
    Ok(sse_response(relay(stream, to_jobs_event).take_until(gw.stopped())))
}

/// A position in the scheduler-wide stream: `<epoch>:<sequence>` (empty: none).
fn parse_position(what: &str, text: &str) -> Result<(String, u64), ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok((String::new(), 0));
    }
    let bad = || {
        ApiError::invalid(format!(
            "{what} = {:?} is not a position in the event stream (`<epoch>:<sequence>`, as sent in each event's id)",
            text.chars().take(64).collect::<String>()
        ))
    };
    let (epoch, sequence) = text.split_once(':').ok_or_else(bad)?;
    let epoch_ok = !epoch.is_empty() && epoch.len() <= 32 && epoch.bytes().all(|b| b.is_ascii_hexdigit());
    let sequence = sequence.parse::<u64>().map_err(|_| bad())?;
    if !epoch_ok {
        return Err(bad());
    }
    Ok((epoch.to_string(), sequence))
}

fn to_jobs_event(event: pb::JobsEvent) -> Event {
    let id = format!("{}:{}", event.epoch, event.sequence);
    let reset = event.kind == pb::JobsEventKind::Reset as i32;
    let out = Event::default().id(id.clone());
    let out = if reset { out.event("reset") } else { out };
    match out.json_data(json::FeedEvent::from(event)) {
        Ok(e) => e,
        Err(e) => error_event(Status::internal(format!("could not encode event {id}: {e}"))),
    }
}

/// A gRPC server stream as server-sent events, each message through `to_event`; a failure ends
/// it with an `error` event.
fn relay<T: Send + 'static>(
    stream: tonic::Streaming<T>,
    to_event: fn(T) -> Event,
) -> impl futures::Stream<Item = Event> + Send + 'static {
    futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match stream.message().await {
            Ok(Some(message)) => Some((to_event(message), Some(stream))),
            Ok(None) => None,
            Err(status) => Some((error_event(status), None)),
        }
    })
}

/// A stream of events as an SSE response, kept alive and passed on unbuffered by proxies.
fn sse_response(events: impl futures::Stream<Item = Event> + Send + 'static) -> Response {
    let mut response = Sse::new(events.map(Ok::<Event, Infallible>))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies such as nginx must pass events on as they come.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A sequence number from a header or the query.
fn parse_sequence(what: &str, text: &str) -> Result<u64, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse().map_err(|_| {
        ApiError::invalid(format!(
            "{what} = {:?} is not an event sequence number (a non-negative integer)",
            text.chars().take(64).collect::<String>()
        ))
    })
}

fn to_event(event: pb::JobEvent) -> Event {
    let sequence = event.sequence;
    match Event::default().id(sequence.to_string()).json_data(json::Event::from(event)) {
        Ok(e) => e,
        Err(e) => error_event(Status::internal(format!("could not encode event {sequence}: {e}"))),
    }
}

fn error_event(status: Status) -> Event {
    Event::default().event("error").data(ApiError::from(status).body().to_string())
}
