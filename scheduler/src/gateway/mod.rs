//! The REST gateway: the brief's HTTP routes, mapped onto the same `TrainingService` RPCs.
//!
//! The gateway is a gRPC *client* of the scheduler, so it holds no job logic and can run on its
//! own against a remote scheduler (`skippy-gateway`) as well as inside `skippy-scheduler`
//! (which serves it on `--http-addr`, connected to its own gRPC listener).
//!
//! ```text
//! POST   /api/training/jobs                 SubmitJob    202 + Location + job
//! GET    /api/training/jobs?limit&state     ListJobs     {"jobs": [...]}
//! GET    /api/training/jobs/{id}/status     GetJob
//! GET    /api/training/jobs/{id}/results    GetResults   {"job", "metrics", "artifacts"}
//! GET    /api/training/jobs/{id}/events     WatchJob     server-sent events
//! GET    /api/training/jobs/{id}/artifacts/{name}  DownloadArtifact  the file's content
//! DELETE /api/training/jobs/{id}            CancelJob
//! GET    /api/training/queue                GetQueue
//! POST   /api/training/real-session         SubmitJob + WatchJob (+ GetResults): waits
//! GET    /api/openapi.json                  this table as an OpenAPI 3.1 document (no secret needed)
//! GET    /  and /dashboard/…                the dashboard (a static page; no secret needed)
//! GET    /healthz                           `ok`, or a 503 saying draining once shutdown began (no secret needed)
//! ```
//!
//! Every `/api/training` route checks the caller's secret before it reads anything else of the
//! request ([`caller`]), and once shutdown has begun answers a new request 503 draining (the
//! requests already in flight go on), so that a drain ends.
//!
//! - [`caller`]: the secret checked first, in a layer before any extractor.
//! - [`routes`]: the handlers, one RPC each; the caller's `authorization` header is passed on.
//! - [`sse`]: the events route.
//! - [`artifacts`]: an artifact's content.
//! - [`dashboard`]: the web page, its script modules and style sheet (embedded).
//! - [`json`]: the request bodies and queries of its own (jobs, results and events are written in
//!   the one JSON form of [`skippy_proto::json`]).
//! - [`openapi`]: the OpenAPI document, generated from the routes and their types.
//! - [`errors`]: the one mapping from gRPC status to HTTP status and the JSON error body.

pub mod artifacts;
pub mod caller;
pub mod dashboard;
pub mod errors;
pub mod experiments;
pub mod json;
pub mod openapi;
pub mod routes;
pub mod sse;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted (every body is a small JSON object); larger is a 413.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The scheduler's client service (cloning shares the one connection).
    client: TrainingServiceClient<Channel>,
    /// Turns true when the gateway shuts down: event streams and waiting real sessions end on
    /// it, so a graceful shutdown does not wait for jobs, and `/healthz` says draining. `None`:
    /// never.
    stopping: Option<watch::Receiver<bool>>,
    /// How a caller's secret is checked before anything else.
    check: caller::CallerCheck,
}

impl Gateway {
    /// A client for one call.
    pub(crate) fn client(&self) -> TrainingServiceClient<Channel> {
        self.client.clone()
    }

    /// Whether shutdown has begun.
    fn is_stopping(&self) -> bool {
        self.stopping.as_ref().is_some_and(|s| *s.borrow())
    }

    /// Resolves when the gateway begins to shut down.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let stopping = self.stopping.clone();
        async move {
            match stopping {
                // A dropped sender also means the owner is gone.
                Some(mut rx) => {
                    let _ = rx.wait_for(|s| *s).await;
                }
                None => std::future::pending().await,
            }
        }
    }
}

/// The gateway's routes over `client`, checking callers' secrets with the scheduler it calls.
pub fn router(client: TrainingServiceClient<Channel>) -> Router {
    build(Gateway { client, stopping: None, check: caller::CallerCheck::ask_scheduler() })
}

/// [`router`] checking callers with `check`, whose event streams and waiting real sessions end
/// (and whose `/healthz` says draining) when `stopping` turns true, so a graceful HTTP shutdown
/// is not held up by them.
pub fn router_with_shutdown(
    client: TrainingServiceClient<Channel>,
    stopping: watch::Receiver<bool>,
    check: caller::CallerCheck,
) -> Router {
    build(Gateway { client, stopping: Some(stopping), check })
}

/// The API's routes and their OpenAPI description, from one list: each handler's
/// `#[utoipa::path]` gives both its route and its documentation, so neither can go without the
/// other.
pub fn api() -> OpenApiRouter<Gateway> {
    jobs_api().merge(open_api())
}

/// Every route of the API as a 404 lists them: `POST/GET /api/training/jobs, …`, from the same
/// table that routes and documents them.
pub fn route_list() -> &'static str {
    static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let (_, doc) = api().split_for_parts();
        doc.paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/api/"))
            .map(|(path, item)| {
                let methods: Vec<&str> = [
                    ("POST", item.post.is_some()),
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, has)| has.then_some(m))
                .collect();
                format!("{} {path}", methods.join("/"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}

/// The routes that take the client secret: every `/api/training` route.
fn jobs_api() -> OpenApiRouter<Gateway> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(utoipa_axum::routes!(routes::submit, routes::list))
        .routes(utoipa_axum::routes!(routes::cancel))
        .routes(utoipa_axum::routes!(routes::status))
        .routes(utoipa_axum::routes!(routes::results))
        .routes(utoipa_axum::routes!(sse::events))
        .routes(utoipa_axum::routes!(artifacts::artifact))
        .routes(utoipa_axum::routes!(sse::jobs_events))
        .routes(utoipa_axum::routes!(routes::queue))
        .routes(utoipa_axum::routes!(routes::real_session))
        .routes(utoipa_axum::routes!(experiments::submit, experiments::list))
        .routes(utoipa_axum::routes!(experiments::get, experiments::cancel))
        .routes(utoipa_axum::routes!(experiments::status))
        .routes(utoipa_axum::routes!(experiments::results))
        .routes(utoipa_axum::routes!(experiments::artifact))
}

/// The API's routes open to anyone: its description.
fn open_api() -> OpenApiRouter<Gateway> {
    OpenApiRouter::new().routes(utoipa_axum::routes!(openapi::document))
}

fn build(mut gateway: Gateway) -> Router {
    // Results and long job lists can exceed tonic's default 4 MiB.
    gateway.client = gateway.client.max_decoding_message_size(crate::MAX_MESSAGE_BYTES);
    let (jobs, _) = jobs_api().split_for_parts();
    // The secret first (the outer layer), then the draining refusal.
    let jobs = jobs
        .route_layer(axum::middleware::from_fn_with_state(gateway.clone(), refuse_while_draining))
        .route_layer(axum::middleware::from_fn_with_state(gateway.clone(), caller::authenticate));
    let (open, _) = open_api().split_for_parts();
    let health = {
        let gateway = gateway.clone();
        get(move || healthz(gateway.clone()))
    };
    jobs.merge(open)
        .merge(dashboard::routes())
        .route("/healthz", health)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::trace::http_request_span))
        .with_state(gateway)
}

/// What `/healthz` and a new API request answer (503) once shutdown has begun.
const DRAINING: &str = "draining: shutting down; requests in flight finish, new ones belong elsewhere";

/// `GET /healthz`: `ok`, or a 503 saying draining once shutdown has begun (so load balancers
/// send elsewhere while requests in flight finish).
async fn healthz(gateway: Gateway) -> Result<&'static str, errors::ApiError> {
    if gateway.is_stopping() {
        return Err(tonic::Status::unavailable(DRAINING).into());
    }
    Ok("ok\n")
}

/// The layer that refuses new API requests (503 draining) once shutdown has begun, so that only
/// the requests already in flight hold the drain up.
async fn refuse_while_draining(
    axum::extract::State(gateway): axum::extract::State<Gateway>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if gateway.is_stopping() {
        return axum::response::IntoResponse::into_response(errors::ApiError::from(tonic::Status::unavailable(
            DRAINING,
        )));
    }
    next.run(request).await
}

/// A client of the scheduler at `url` (`http://host:port`, or `https://` with TLS trusting the
/// system's roots and `ca_pem`) that connects on first use, so the gateway starts whether or
/// not the scheduler is up (calls meanwhile are 503).
pub fn lazy_client(
    url: &str,
    ca_pem: Option<&[u8]>,
) -> Result<TrainingServiceClient<Channel>, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    Ok(TrainingServiceClient::new(skippy_proto::tls::secure(endpoint, ca_pem)?.connect_lazy()))
}

/// A lazy client of the scheduler listening on `addr` in this process (an unspecified address
/// such as `0.0.0.0` is reached over loopback).
pub fn local_client(addr: SocketAddr) -> Result<TrainingServiceClient<Channel>, tonic::transport::Error> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    lazy_client(&format!("http://{}", SocketAddr::new(ip, addr.port())), None)
}
