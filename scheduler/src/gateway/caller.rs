//! The caller's secret, checked before anything else of a request is read: a layer in front of
//! every `/api/training` route, so a caller without the secret learns nothing from its malformed
//! body, query, path or `Last-Event-ID` (it gets the 401 or 403 any other call gets, not a 400
//! listing the accepted fields). Only a body over the size limit may be refused first (413).
//!
//! Inside the scheduler the check is the scheduler's own ([`Auth`]); the standalone gateway,
//! which holds no secret, asks the scheduler: a `GetJob` of no job, carrying the caller's header,
//! is refused like any call (401, 403) or answered "not found" (the secret is good). The last
//! header the scheduler accepted is remembered for [`REMEMBERED`], so a client's calls cost one
//! extra call now and then, not each. Either way the scheduler checks every call again.
//!
//! Refusals are logged with the caller's address, rate-limited ([`FailureLog`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use skippy_proto::v1 as pb;
use tonic::Code;

use super::Gateway;
use super::errors::ApiError;
use super::routes::grpc_request;
use crate::auth::{Auth, FailureLog, Role};

/// How long a header the scheduler accepted is taken without asking again.
pub const REMEMBERED: Duration = Duration::from_secs(10);

/// Deadline of the scheduler's answer to a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How the gateway checks a caller's secret.
#[derive(Debug, Clone)]
pub enum CallerCheck {
    /// The scheduler's own check, in this process.
    Local(Auth),
    /// Ask the scheduler the gateway calls.
    Scheduler(Arc<Asked>),
}

impl CallerCheck {
    /// Checks with the scheduler the gateway calls (the standalone gateway).
    pub fn ask_scheduler() -> CallerCheck {
        CallerCheck::Scheduler(Arc::default())
    }
}

/// What asking the scheduler needs besides the client: the header it last accepted, and where
/// refusals are logged.
#[derive(Debug, Default)]
pub struct Asked {
    /// Digest of the last `authorization` value accepted (an absent header counts as empty), and
    /// when.
    accepted: Mutex<Option<([u8; 32], Instant)>>,
    /// Refusals, logged with the peer's address.
    failures: FailureLog,
}

/// The layer's function: the request goes on only with a secret the scheduler accepts.
pub async fn authenticate(State(gw): State<Gateway>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let authorization = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let checked = match &gw.check {
        CallerCheck::Local(auth) => auth.check_from(Role::Client, authorization, peer).map_err(ApiError::from),
        CallerCheck::Scheduler(asked) => ask(&gw, asked, request.headers(), peer).await,
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// Asks the scheduler whether the request's `authorization` header is good.
async fn ask(gw: &Gateway, asked: &Asked, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<(), ApiError> {
    let digest: [u8; 32] = Sha256::digest(headers.get(AUTHORIZATION).map_or(&b""[..], |v| v.as_bytes())).into();
    let remembered = *asked.accepted.lock().unwrap_or_else(|p| p.into_inner());
    if remembered.is_some_and(|(d, at)| d == digest && at.elapsed() < REMEMBERED) {
        return Ok(());
    }
    let mut call = grpc_request(headers, pb::GetJobRequest { job_id: String::new() })?;
    call.set_timeout(CHECK_TIMEOUT);
    let refused = match gw.client().get_job(call).await {
        Ok(_) => None,
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => Some(status),
    };
    match refused {
        None => {
            *asked.accepted.lock().unwrap_or_else(|p| p.into_inner()) = Some((digest, Instant::now()));
            Ok(())
        }
        Some(status) => {
            if matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied) {
                asked.failures.note(peer, &status);
            }
            Err(ApiError::from(status))
        }
    }
}
