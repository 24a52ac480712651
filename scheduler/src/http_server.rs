//! The one HTTP server of `skippy-scheduler` (`--http-addr`, `--metrics-addr`) and
//! `skippy-gateway`: hyper's HTTP/1.1 and HTTP/2, plain or over TLS, with a timer and limits, so
//! that no client can hold the process's sockets (and with them the file descriptors gRPC and
//! `runs/` need) by being slow or silent:
//!
//! - **Headers in time** (`--http-header-timeout-secs`, 10 s): a new connection must finish its TLS
//!   handshake and send a request's headers within it, and an HTTP/1.1 connection the next
//!   request's headers within it of the previous response (hyper's `header_read_timeout`).
//!   A client that sends half a request, or nothing, is disconnected.
//! - **Idle connections** (`--http-idle-timeout-secs`, 60 s): a connection with no request in
//!   flight for that long is closed (an HTTP/2 connection between streams). A response still being
//!   sent counts as in flight however long it lasts, so a server-sent event stream or a waiting
//!   real session is never cut by it.
//! - **A cap on connections** (`--http-max-connections`, 1024): beyond it, new connections wait
//!   in the kernel's backlog until one closes (a warning says when the cap is reached).
//!
//! Every request carries its peer's address ([`ConnectInfo`]), for the logs of refused
//! authentication.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// Default of `--http-header-timeout-secs`.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Default of `--http-idle-timeout-secs`.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default of `--http-max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// HTTP/2 pings on a connection quiet this long, to find peers that are gone.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How slow and idle HTTP clients are limited (the scheduler's and the gateway's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// Seconds a client has to send a request's headers (and finish a TLS handshake) after
    /// connecting, or after its previous response on a kept-alive connection; slower clients
    /// are disconnected.
    #[arg(
        long = "http-header-timeout-secs",
        env = "SKIPPY_HTTP_HEADER_TIMEOUT_SECS",
        default_value_t = DEFAULT_HEADER_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub header_timeout_secs: u64,
    /// Seconds an HTTP connection may stay open with no request in flight (a response still being
    /// sent, such as an event stream, keeps it open).
    #[arg(
        long = "http-idle-timeout-secs",
        env = "SKIPPY_HTTP_IDLE_TIMEOUT_SECS",
        default_value_t = DEFAULT_IDLE_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub idle_timeout_secs: u64,
    /// Most HTTP connections open at once; further clients wait to be accepted until one closes.
    #[arg(
        long = "http-max-connections",
        env = "SKIPPY_HTTP_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000)
    )]
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpLimits {
    fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) within `limits` until `shutdown`
/// resolves; then stops accepting, lets requests in flight finish (each connection is shut down
/// gracefully) and returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Turns true when the server stops: every connection then shuts down gracefully.
    let (stopping_tx, stopping) = watch::channel(false);
    // Every connection holds a receiver; the server is done when none is left.
    let (closed_tx, closed) = watch::channel(());
    let mut at_cap = false;
    tokio::pin!(shutdown);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                at_cap = false;
                permit
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "HTTP connection cap reached: new connections wait until one closes (--http-max-connections)"
                    );
                    at_cap = true;
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    _ = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, do not spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (tls, app, limits, mut stopping, closed) =
            (tls.clone(), app.clone(), limits.clone(), stopping.clone(), closed.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, peer, app, &limits, &mut stopping).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout(), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, app, &limits, &mut stopping).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            drop((permit, closed));
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(closed);
    closed_tx.closed().await;
}

/// How many requests of one connection are in flight, and whether it has had any.
#[derive(Debug, Clone, Copy, Default)]
struct Activity {
    /// Requests whose response has not been sent (or dropped) yet.
    in_flight: usize,
    /// Whether a request ever arrived.
    started: bool,
}

/// Serves one connection until it ends, it stays idle too long, or the server stops.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: &HttpLimits,
    stopping: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (activity, mut watched) = watch::channel(Activity::default());
    let activity = Arc::new(activity);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = InFlight::start(activity.clone());
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await?;
            Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _guard: guard })))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_INTERVAL);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    // Whether the connection was asked to close, and, when it was for being idle, when to drop it
    // if it has not closed by then.
    let mut closing = false;
    let mut give_up: Option<tokio::time::Instant> = None;
    loop {
        let dropped = async {
            match give_up {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = stopping.wait_for(|s| *s), if !closing => {
                // Requests in flight finish first (event streams end on the server's own signal).
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = quiet_for(&mut watched, limits), if !closing => {
                tracing::debug!(%peer, "closing an idle HTTP connection");
                connection.as_mut().graceful_shutdown();
                closing = true;
                give_up = Some(tokio::time::Instant::now() + limits.header_timeout());
            }
            _ = dropped => {
                tracing::debug!(%peer, "an idle HTTP connection did not close when asked: dropped");
                return;
            }
        }
    }
}

/// Resolves once a connection has had no request in flight for the header timeout (before its
/// first request) or the idle timeout (after).
async fn quiet_for(activity: &mut watch::Receiver<Activity>, limits: &HttpLimits) {
    loop {
        let Ok(started) = activity.wait_for(|a| a.in_flight == 0).await.map(|a| a.started) else {
            // The service is gone: the connection is ending anyway.
            return std::future::pending().await;
        };
        let period = if started { limits.idle_timeout() } else { limits.header_timeout() };
        if tokio::time::timeout(period, activity.wait_for(|a| a.in_flight > 0)).await.is_err() {
            return;
        }
    }
}

/// One request in flight, from its arrival until its response body is sent or dropped.
struct InFlight(Arc<watch::Sender<Activity>>);

impl InFlight {
    fn start(activity: Arc<watch::Sender<Activity>>) -> InFlight {
        activity.send_modify(|a| {
            a.in_flight += 1;
            a.started = true;
        });
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|a| a.in_flight -= 1);
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Warns when a listener serving plaintext is reachable from other machines: secrets sent to it
/// cross the network in the clear. `what` names it (`gRPC`, `HTTP`).
pub fn warn_if_plaintext_remote(what: &str, addr: SocketAddr, tls: bool) {
    if !tls && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "{what} is served without TLS on a non-loopback address: bearer secrets sent to it cross the network in \
             the clear (use --tls-cert/--tls-key, or a TLS proxy in front)"
        );
    }
}
