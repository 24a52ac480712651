//! Request spans: every gRPC call and every HTTP request runs in a span carrying its request id
//! (the caller's `x-request-id`, or a fresh one) and, once the handler knows them, the job and
//! trainer it concerns. With `--log-format json` each log line lists its spans' fields, so one
//! id finds everything a request did, through the gateway and into the scheduler.
//!
//! - [`RequestSpanLayer`] wraps the gRPC server;
//! - [`http_request_span`] is the gateway's middleware: it also puts the id on the request (so
//!   the gateway's gRPC call forwards it) and on the response;
//! - [`record_job`] and [`record_trainer`] fill in the span's ids from a handler.

use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

/// The header (and gRPC metadata key) of the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id taken from a caller; a longer or odder one is replaced.
const MAX_REQUEST_ID: usize = 64;

/// The caller's request id if it is short and printable (`[A-Za-z0-9._:-]`), else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    let given = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| {
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    });
    match given {
        Some(id) => id.to_string(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// The span of one request; `job_id` and `trainer_id` are filled in by the handler.
fn request_span(kind: &'static str, method: &str, path: &str, request_id: &str) -> tracing::Span {
    tracing::info_span!("request", kind, method, path, request_id, job_id = Empty, trainer_id = Empty)
}

/// Records the job the current request concerns (as the caller sent it: see `shown`).
pub fn record_job(job_id: &str) {
    tracing::Span::current().record("job_id", shown(job_id).as_ref());
}

/// Records the trainer process the current request comes from.
pub fn record_trainer(trainer_id: &str) {
    tracing::Span::current().record("trainer_id", shown(trainer_id).as_ref());
}

/// An id from a peer as it may appear in a log line: itself when it is a plain id, else
/// escaped and cut, so no peer can forge log lines or flood them.
fn shown(id: &str) -> std::borrow::Cow<'_, str> {
    let plain = id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if plain { id.into() } else { format!("{:?}", id.chars().take(64).collect::<String>()).into() }
}

/// A tower layer running each gRPC call in its request span.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpanLayer;

impl<S> tower::Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> RequestSpan<S> {
        RequestSpan { inner }
    }
}

/// See [`RequestSpanLayer`].
#[derive(Debug, Clone)]
pub struct RequestSpan<S> {
    inner: S,
}

impl<S, B> tower::Service<axum::http::Request<B>> for RequestSpan<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let id = request_id(request.headers());
        let span = request_span("grpc", "POST", request.uri().path(), &id);
        // The handler may run (and record into the span) as soon as `call` is made.
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}

/// The gateway's middleware: runs the request in its span, sets `x-request-id` on the request
/// (the gRPC call forwards it) and on the response.
pub async fn http_request_span(mut request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    request.headers_mut().insert(REQUEST_ID, value.clone());
    let span = request_span("http", request.method().as_str(), request.uri().path(), &id);
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_request_id_is_kept_only_when_short_and_printable() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("req-42.a_b:c"));
        assert_eq!(request_id(&headers), "req-42.a_b:c");
        for bad in ["", "has space", "quote\"", "{}", &"x".repeat(65)] {
            headers.insert(REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let fresh = request_id(&headers);
            assert_eq!(fresh.len(), 32, "{bad:?} replaced by a fresh id, got {fresh}");
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }

    #[test]
    fn ids_from_peers_cannot_forge_log_lines() {
        assert_eq!(shown("tr_1795951883_2bca0570"), "tr_1795951883_2bca0570");
        assert_eq!(shown("a\nlevel=ERROR forged"), "\"a\\nlevel=ERROR forged\"");
        assert_eq!(shown(&"y".repeat(1000)).len(), 66);
    }
}
