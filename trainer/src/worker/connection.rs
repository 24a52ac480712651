//! The link to the scheduler: one lazily connected HTTP/2 channel that reconnects by itself, the
//! trainer token on every call, and how a failed call is classified and retried.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use super::backoff::Backoff;

/// A client of the scheduler's trainer service; cheap to clone (clones share the connection).
pub type Client = TrainerServiceClient<InterceptedService<Channel, BearerToken>>;

/// How long a single call may take before it counts as a transport failure (a long poll adds
/// its wait to this).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an upload or a completion is retried while the scheduler is unreachable.
pub const RETRY_BUDGET: Duration = Duration::from_secs(120);

/// Why a worker could not be set up to reach its scheduler.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The scheduler address is not a usable URL.
    #[error("scheduler address {url:?} is not a valid URL ({reason}); expected e.g. http://127.0.0.1:50051")]
    InvalidUrl {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS is not built into this trainer.
    /// TLS could not be set up for an `https://` scheduler.
    #[error("TLS for scheduler {url:?}: {reason}")]
    Tls {
        /// The address given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The token cannot be sent as a header value (the token itself is not shown).
    #[error("the trainer token contains characters that cannot be sent in a header (only visible ASCII is allowed)")]
    InvalidToken,
}

/// Opens the channel to `scheduler` (connecting on first use, reconnecting after failures) and
/// wraps it so that every call carries `authorization: Bearer <token>` when a token is set. An
/// `https://` scheduler is reached over TLS, trusting the system's roots and `ca_pem`.
pub fn connect(scheduler: &str, token: Option<&str>, ca_pem: Option<&[u8]>) -> Result<Client, ConnectError> {
    let url = if scheduler.contains("://") { scheduler.to_string() } else { format!("http://{scheduler}") };
    let endpoint = Endpoint::from_shared(url)
        .map_err(|e| ConnectError::InvalidUrl { url: scheduler.to_string(), reason: error_chain(&e) })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let endpoint = skippy_proto::tls::secure(endpoint, ca_pem)
        .map_err(|e| ConnectError::Tls { url: scheduler.to_string(), reason: error_chain(&e) })?;
    let token = BearerToken::new(token)?;
    Ok(TrainerServiceClient::with_interceptor(endpoint.connect_lazy(), token))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out += &format!(": {s}");
        source = s.source();
    }
    out
}

/// The `authorization` header value of every call, or none; its `Debug` never shows the token.
#[derive(Clone)]
pub struct BearerToken {
    /// `Bearer <token>`, marked sensitive so HTTP/2 header compression never indexes it.
    header: Option<MetadataValue<Ascii>>,
}

impl BearerToken {
    /// The header for `token` (none when `None` or empty).
    pub fn new(token: Option<&str>) -> Result<BearerToken, ConnectError> {
        let header = match token.filter(|t| !t.is_empty()) {
            Some(t) => {
                let mut value =
                    MetadataValue::try_from(format!("Bearer {t}")).map_err(|_| ConnectError::InvalidToken)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(BearerToken { header })
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.header.is_some() { "BearerToken(<redacted>)" } else { "BearerToken(None)" })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.header {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// What a failed call means for the job that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The scheduler is away or restarting, or the network failed: try again later.
    Transient,
    /// The lease is no longer valid (expired or superseded): stop and drop the job.
    Stale,
    /// The scheduler refused the call for good (authentication, a malformed request).
    Rejected,
}

/// Classifies a failed call's status.
pub fn classify(status: &Status) -> Failure {
    match status.code() {
        Code::FailedPrecondition | Code::NotFound => Failure::Stale,
        Code::Unavailable
        | Code::Unknown
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted => Failure::Transient,
        _ => Failure::Rejected,
    }
}

/// A short description of a failed call for logs: the code and the message.
pub fn describe(status: &Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}: {}", status.code(), status.message())
    }
}

/// A call that failed for good after [`retry`].
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The lease is stale: the job is no longer this trainer's.
    #[error("lease is no longer valid ({})", describe(.0))]
    Stale(Status),
    /// The scheduler refused the call.
    #[error("refused by the scheduler ({})", describe(.0))]
    Rejected(Status),
    /// The scheduler stayed unreachable for the whole retry budget.
    #[error("scheduler unreachable for {}s ({})", RETRY_BUDGET.as_secs(), describe(.0))]
    Unreachable(Status),
}

/// Runs `call` (with [`CALL_TIMEOUT`]) until it succeeds, retrying transient failures with
/// back-off for at most `budget`; stale leases and refusals end it at once.
pub async fn retry<T, F, Fut>(what: &str, budget: Duration, mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let started = Instant::now();
    let mut backoff = Backoff::default();
    let mut warned = false;
    loop {
        let status = match with_timeout(CALL_TIMEOUT, call()).await {
            Ok(value) => {
                if warned {
                    tracing::info!("{what}: succeeded after retrying");
                }
                return Ok(value);
            }
            Err(status) => status,
        };
        match classify(&status) {
            Failure::Stale => return Err(CallError::Stale(status)),
            Failure::Rejected => return Err(CallError::Rejected(status)),
            Failure::Transient if started.elapsed() >= budget => return Err(CallError::Unreachable(status)),
            Failure::Transient => {
                if !warned {
                    tracing::warn!("{what}: scheduler unreachable ({}); retrying", describe(&status));
                    warned = true;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Runs a call with a deadline; running past it is `DEADLINE_EXCEEDED` (a transient failure).
pub async fn with_timeout<T>(limit: Duration, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(Status::deadline_exceeded(format!("no answer from the scheduler within {}s", limit.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_leases_are_told_apart_from_outages_and_refusals() {
        assert_eq!(classify(&Status::failed_precondition("stale lease")), Failure::Stale);
        assert_eq!(classify(&Status::not_found("no such job")), Failure::Stale);
        assert_eq!(classify(&Status::unavailable("restarting")), Failure::Transient);
        assert_eq!(classify(&Status::deadline_exceeded("slow")), Failure::Transient);
        assert_eq!(classify(&Status::unauthenticated("bad token")), Failure::Rejected);
        assert_eq!(classify(&Status::invalid_argument("bad name")), Failure::Rejected);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = BearerToken::new(Some("hunter2")).expect("a visible-ASCII token");
        assert!(!format!("{token:?}").contains("hunter2"));
        assert!(matches!(BearerToken::new(Some("bad\ntoken")), Err(ConnectError::InvalidToken)));
        assert!(BearerToken::new(Some("")).expect("empty means none").header.is_none());
    }

    #[tokio::test]
    async fn addresses_without_a_scheme_get_http_and_https_is_refused() {
        assert!(connect("127.0.0.1:50051", None, None).is_ok());
        assert!(connect("http://127.0.0.1:50051", Some("t"), None).is_ok());
        assert!(connect("https://scheduler:50051", None, None).is_ok(), "https is TLS, set up lazily");
        assert!(matches!(connect("http://bad host:1", None, None), Err(ConnectError::InvalidUrl { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_gives_up_on_a_stale_lease_at_once_and_on_an_outage_after_its_budget() {
        let mut calls = 0;
        let r: Result<(), _> = retry("test", RETRY_BUDGET, || {
            calls += 1;
            async { Err(Status::failed_precondition("superseded")) }
        })
        .await;
        assert!(matches!(r, Err(CallError::Stale(_))));
        assert_eq!(calls, 1);

        let started = tokio::time::Instant::now();
        let r: Result<(), _> =
            retry("test", Duration::from_secs(10), || async { Err(Status::unavailable("down")) }).await;
        assert!(matches!(r, Err(CallError::Unreachable(_))));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(16), "waited {waited:?}");

        let mut calls = 0;
        let r = retry("test", RETRY_BUDGET, || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(Status::unavailable("down")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.expect("third call succeeds"), 3);
    }
}
