//! The gateway's errors: the one mapping from gRPC statuses to HTTP codes, and the JSON error
//! body `{"error": {"code", "message"}}` every failed request gets.
//!
//! Everything the scheduler refuses arrives as a [`tonic::Status`] and goes through
//! [`http_status`]; the gateway's own refusals of malformed input are built as statuses too
//! (`invalid_argument`, `not_found`), so they pass the same mapping. Only what has no gRPC
//! meaning (a body over the size limit or too slow to arrive, a wrong content type, a wrong
//! method) is HTTP-only.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use skippy_proto::json;
use tonic::{Code, Status};
use utoipa::ToSchema;
use utoipa::openapi::{Ref, RefOr};

/// The one mapping from a gRPC status code to an HTTP status and the error body's `code`.
pub fn http_status(code: Code) -> (StatusCode, &'static str) {
    match code {
        Code::InvalidArgument => (StatusCode::BAD_REQUEST, "invalid_argument"),
        Code::OutOfRange => (StatusCode::BAD_REQUEST, "out_of_range"),
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
        Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        Code::FailedPrecondition => (StatusCode::CONFLICT, "failed_precondition"),
        Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
        Code::Aborted => (StatusCode::CONFLICT, "aborted"),
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
        Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
        Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "unimplemented"),
        Code::Ok | Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

/// A failed request: its HTTP status and the JSON body that says why.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status of the response.
    status: StatusCode,
    /// Machine-readable code (`not_found`, `invalid_argument`, …).
    code: &'static str,
    /// What was wrong, for people.
    message: String,
    /// The job concerned, where there is one (a real session whose job failed).
    job: Option<Box<json::Job>>,
}

/// The body of every error response: `{"error": {"code", "message"}}`, and `"job"` where there
/// is one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
    /// The job the error is about, when the gateway knows it (a real session whose job failed
    /// or was cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<json::Job>,
}

/// `{"code", "message"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (`not_found`, `invalid_argument`, …).
    pub code: String,
    /// What was wrong, for people: the value, and where.
    pub message: String,
}

/// The error responses every route shares, by name (`#/components/responses/<name>`), each an
/// [`ErrorBody`].
macro_rules! error_responses {
    ($($(#[doc = $doc:literal])+ $name:ident;)+) => {$(
        $(#[doc = $doc])+
        pub struct $name;

        impl<'s> utoipa::ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
                let description = [$($doc.trim()),+].join(" ");
                let content = utoipa::openapi::ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
                let response = utoipa::openapi::ResponseBuilder::new()
                    .description(description)
                    .content("application/json", content)
                    .build();
                (stringify!($name), response.into())
            }
        }
    )+};
}

error_responses! {
    /// Malformed or invalid input: the message says what and where; nothing was stored. Codes:
    /// `invalid_argument`, `out_of_range`.
    BadRequest;
    /// No `authorization` header, not `Bearer <token>`, or a wrong secret. Codes: `unauthenticated`.
    Unauthenticated;
    /// A trainer token on the client API. Codes: `permission_denied`.
    PermissionDenied;
    /// No such job (any id that names no job, however malformed). Codes: `not_found`.
    NotFound;
    /// The body did not arrive whole within `--http-body-timeout-secs` (30 s) of the request's
    /// headers; nothing was stored, and the connection closes after this answer. Codes:
    /// `request_timeout`.
    RequestTimeout;
    /// The body is over 64 KiB. Codes: `payload_too_large`.
    PayloadTooLarge;
    /// A `Content-Type` that is not JSON (`application/json` or `…+json`; no content type is
    /// taken as JSON). Codes: `unsupported_media_type`.
    UnsupportedMediaType;
    /// The queue is full (`--max-queued-jobs`) or the compute budget is spent
    /// (`--trainer-hours-per-day`); the message names the limit and by how much. Codes:
    /// `resource_exhausted`.
    TooManyRequests;
    /// The scheduler cannot be reached (the standalone gateway), is shutting down, or could not
    /// store the job. Codes: `unavailable`.
    Unavailable;
    /// The scheduler did not answer within 30 s. Codes: `deadline_exceeded`.
    GatewayTimeout;
}

impl From<Status> for ApiError {
    fn from(status: Status) -> ApiError {
        let (http, code) = http_status(status.code());
        let mut message = status.message().to_string();
        // Transport failures (the scheduler cannot be reached) carry the cause in the source
        // chain; statuses the scheduler sent have none.
        let mut source = std::error::Error::source(&status);
        let transport = source.is_some();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !message.contains(&text) {
                message = if message.is_empty() { text } else { format!("{message}: {text}") };
            }
            source = cause.source();
        }
        if transport {
            message = format!("could not reach the scheduler: {message}");
        }
        if message.is_empty() {
            message = status.code().description().to_string();
        }
        ApiError { status: http, code, message, job: None }
    }
}

impl ApiError {
    /// A malformed request (400), through the one mapping.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        Status::invalid_argument(message.into()).into()
    }

    /// A route that does not exist (404), through the one mapping.
    pub fn no_route(method: &str, path: &str) -> ApiError {
        let path: String = path.chars().take(200).collect();
        Status::not_found(format!("no route {method} {path}; routes: {}", super::route_list())).into()
    }

    /// A route that exists, called with a method it does not serve (405; HTTP-only).
    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        let path: String = path.chars().take(200).collect();
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("{path} does not serve {method} (the Allow header lists what it serves)"),
            job: None,
        }
    }

    /// A real session whose job ended FAILED (422; HTTP-only): the request was carried out and the
    /// training failed, which is no fault of the server's (not a 500) and not a malformed request.
    pub fn job_failed(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "job_failed", message: message.into(), job: None }
    }

    /// A body that is not JSON by its content type (415; HTTP-only).
    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: format!(
                "Content-Type {:?} is not JSON; send Content-Type: application/json",
                content_type.chars().take(100).collect::<String>()
            ),
            job: None,
        }
    }

    /// Attaches the job the error is about.
    pub fn with_job(mut self, job: json::Job) -> ApiError {
        self.job = Some(Box::new(job));
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A body that could not be read: too large (413), too slow to arrive (408) or broken off.
    pub fn from_body(rejection: BytesRejection) -> ApiError {
        if let Some(late) = crate::http_server::BodyTimedOut::find(&rejection) {
            ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                code: "request_timeout",
                message: late.to_string(),
                job: None,
            }
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                message: format!("the request body is larger than {} bytes", super::MAX_JSON_BODY_BYTES),
                job: None,
            }
        } else {
            ApiError::invalid(format!("could not read the request body: {}", rejection.body_text()))
        }
    }

    /// A body that is not the JSON the route expects (malformed, wrong types, unknown fields).
    pub fn from_json(rejection: JsonRejection) -> ApiError {
        ApiError::invalid(rejection.body_text())
    }

    /// A query string that does not parse (unknown parameters, bad encoding).
    pub fn from_query(rejection: QueryRejection) -> ApiError {
        ApiError::invalid(rejection.body_text())
    }

    /// A path segment that does not decode (bad percent-encoding, not UTF-8).
    pub fn from_path(rejection: PathRejection) -> ApiError {
        ApiError::invalid(rejection.body_text())
    }
}

impl ApiError {
    /// The error body, `{"error": {"code", "message"}}` (and `"job"` where there is one).
    pub fn body(&self) -> serde_json::Value {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message.clone() },
            job: self.job.as_deref().cloned(),
        };
        serde_json::to_value(body).unwrap_or_else(|_| serde_json::json!({"error": {"code": self.code}}))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, message = %self.message, "gateway request failed");
        }
        (self.status, axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_too_slow_to_arrive_is_a_408_and_a_broken_one_a_400() {
        use axum::body::{Body, Bytes};
        use axum::extract::{FromRequest, Request};
        let late = crate::http_server::BodyTimedOut { timeout: std::time::Duration::from_secs(30) };
        let read = |error: Box<dyn std::error::Error + Send + Sync>| async move {
            let body = Body::from_stream(futures::stream::iter([Err::<Bytes, _>(error)]));
            let rejection = Bytes::from_request(Request::new(body), &()).await.expect_err("the read fails");
            ApiError::from_body(rejection)
        };
        let e = read(Box::new(late)).await;
        assert_eq!((e.status, e.code), (StatusCode::REQUEST_TIMEOUT, "request_timeout"));
        assert!(e.message.contains("--http-body-timeout-secs"), "{}", e.message);
        let e = read("connection reset".into()).await;
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "invalid_argument"));
    }

    #[test]
    fn every_grpc_code_maps_to_its_http_status() {
        let table = [
            (Code::InvalidArgument, 400, "invalid_argument"),
            (Code::OutOfRange, 400, "out_of_range"),
            (Code::Unauthenticated, 401, "unauthenticated"),
            (Code::PermissionDenied, 403, "permission_denied"),
            (Code::NotFound, 404, "not_found"),
            (Code::FailedPrecondition, 409, "failed_precondition"),
            (Code::AlreadyExists, 409, "already_exists"),
            (Code::Aborted, 409, "aborted"),
            (Code::ResourceExhausted, 429, "resource_exhausted"),
            (Code::Unavailable, 503, "unavailable"),
            (Code::DeadlineExceeded, 504, "deadline_exceeded"),
            (Code::Unimplemented, 501, "unimplemented"),
            (Code::Internal, 500, "internal"),
            (Code::Unknown, 500, "internal"),
            (Code::DataLoss, 500, "internal"),
            (Code::Cancelled, 500, "internal"),
            (Code::Ok, 500, "internal"),
        ];
        for (code, http, name) in table {
            let (status, text) = http_status(code);
            assert_eq!((status.as_u16(), text), (http, name), "{code:?}");
        }
    }

    #[test]
    fn a_status_keeps_its_message_and_an_empty_one_gets_the_code_description() {
        let e = ApiError::from(Status::not_found("no job tr_1_deadbeef"));
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (StatusCode::NOT_FOUND, "not_found", "no job tr_1_deadbeef")
        );
        let e = ApiError::from(Status::new(Code::Internal, ""));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.is_empty());
        let e = ApiError::from(Status::unavailable("the scheduler is shutting down"));
        assert_eq!((e.status, e.message.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "the scheduler is shutting down"));
    }
}
