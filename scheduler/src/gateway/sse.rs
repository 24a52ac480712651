//! `GET /api/training/jobs/{id}/events`: a job's `WatchJob` stream as server-sent events.
//!
//! Each `JobEvent` becomes `id: <sequence>` + `data: <JobEvent JSON>`; the first is the job's
//! snapshot. A `Last-Event-ID` header (what `EventSource` sends when it reconnects) or an
//! `?after=` query resumes after that sequence, without gaps or repeats. The stream ends when
//! the job ends (after its terminal event), when the scheduler ends the watch, or when the
//! gateway shuts down. A failure after the stream started arrives as an `event: error` whose
//! data is the usual error body.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use skippy_proto::v1 as pb;
use tonic::Status;

use super::Gateway;
use super::errors::ApiError;
use super::json::JobEventJson;
use super::routes::{JobId, grpc_request};

/// Query of the events route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this sequence (as `Last-Event-ID`; the header wins when both are given).
    after: Option<String>,
}

/// Streams a job's events.
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
    let events = futures::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        match stream.message().await {
            Ok(Some(event)) => Some((to_event(event), Some(stream))),
            Ok(None) => None,
            Err(status) => Some((error_event(status), None)),
        }
    });
    let events = events.take_until(gw.stopped());
    let mut response = Sse::new(events.map(Ok::<Event, Infallible>))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies such as nginx must pass events on as they come.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
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
    match Event::default().id(sequence.to_string()).json_data(JobEventJson::from(event)) {
        Ok(e) => e,
        Err(e) => error_event(Status::internal(format!("could not encode event {sequence}: {e}"))),
    }
}

fn error_event(status: Status) -> Event {
    Event::default().event("error").data(ApiError::from(status).body().to_string())
}
