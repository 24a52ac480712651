//! The one HTTP server of `skippy-scheduler` (`--http-addr`, `--metrics-addr`) and
//! `skippy-gateway`: hyper's HTTP/1.1 and HTTP/2, plain or over TLS, with a timer and limits, so
//! that no client can hold the process's sockets (and with them the file descriptors gRPC and
//! `runs/` need) by being slow or silent:
//!
//! - **Headers in time** (`--http-header-timeout-secs`, 10 s): a new connection must finish its TLS
//!   handshake and send a request's headers within it, and an HTTP/1.1 connection the next
//!   request's headers within it of the previous response (hyper's `header_read_timeout`).
//!   A client that sends half a request, or nothing, is disconnected.
//! - **Bodies in time** (`--http-body-timeout-secs`, 30 s): a request's whole body must arrive
//!   within it of its headers. A handler reading a body still incomplete then gets
//!   [`BodyTimedOut`] instead of waiting on (the gateway answers 408), and the connection, its
//!   request unread, closes after that answer. It bounds the whole body, not the gap between two
//!   of its bytes, so a client trickling a byte at a time is cut off too.
//! - **Idle connections** (`--http-idle-timeout-secs`, 60 s): a connection with no request in
//!   flight for that long is closed (an HTTP/2 connection between streams). A response still being
//!   sent counts as in flight however long it lasts, so a server-sent event stream or a waiting
//!   real session is never cut by it.
//! - **A cap on connections** (`--http-max-connections`, 1024): beyond it, new connections wait
//!   in the kernel's backlog until one closes (a warning says when the cap is reached).
//!
//! - **Shutdown**: [`serve`] stops accepting at once and lets the requests in flight finish (the
//!   scheduler keeps its HTTP port open itself until its gRPC calls have finished);
//!   [`serve_draining`] (`skippy-gateway`) keeps accepting while requests are in flight, within a
//!   bound, so that health checks reach the app, which says it is draining.
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
/// Default of `--http-body-timeout-secs`.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
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
    /// Seconds a client has to send a request's whole body once its headers have arrived; a
    /// request whose body is still incomplete then is answered 408 (Request Timeout) and its
    /// connection closed.
    #[arg(
        long = "http-body-timeout-secs",
        env = "SKIPPY_HTTP_BODY_TIMEOUT_SECS",
        default_value_t = DEFAULT_BODY_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub body_timeout_secs: u64,
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
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpLimits {
    fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
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
    serve_until(listener, tls, app, limits, shutdown, None).await;
}

/// How a draining server ended ([`serve_draining`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every request in flight finished and every connection closed within the bound.
    Finished,
    /// Some were still open at the bound (the caller ends them by exiting).
    TimedOut,
}

/// [`serve`] for a process that leaves a load balancer: once `shutdown` resolves the listener
/// stays open while requests are in flight, so that a health check still reaches `app` (which
/// answers that it is draining) and balancers see it go; once none is in flight, or `drain` after
/// `shutdown`, it stops accepting, shuts every connection down gracefully and returns when they
/// have closed, at most `drain` after `shutdown`.
pub async fn serve_draining(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
    drain: Duration,
) -> Drained {
    serve_until(listener, tls, app, limits, shutdown, Some(drain)).await
}

/// [`serve`] (no `drain`) and [`serve_draining`].
async fn serve_until(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
    drain: Option<Duration>,
) -> Drained {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Requests in flight on every connection together.
    let requests = Arc::new(watch::Sender::new(0usize));
    // Turns true when the server stops: every connection then shuts down gracefully.
    let (stopping_tx, stopping) = watch::channel(false);
    // Every connection holds a receiver; the server is done when none is left.
    let (closed_tx, closed) = watch::channel(());
    // Resolves with the time of `shutdown` once the server should stop accepting: at once, or
    // once no request is in flight (at most `drain` later).
    let stop = {
        let mut in_flight = requests.subscribe();
        async move {
            shutdown.await;
            let at = tokio::time::Instant::now();
            if let Some(drain) = drain {
                let open = *in_flight.borrow();
                if open > 0 {
                    tracing::info!(requests = open, ?drain, "draining: serving until the requests in flight finish");
                }
                let _ = tokio::time::timeout(drain, in_flight.wait_for(|n| *n == 0)).await;
            }
            at
        }
    };
    tokio::pin!(stop);
    let mut at_cap = false;
    let stopped_at = loop {
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
                    at = &mut stop => break at,
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
                        at = &mut stop => break at,
                    }
                }
            },
            at = &mut stop => break at,
        };
        let _ = tcp.set_nodelay(true);
        let (tls, app, limits, requests, mut stopping, closed) =
            (tls.clone(), app.clone(), limits.clone(), requests.clone(), stopping.clone(), closed.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, peer, app, &limits, requests, &mut stopping).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout(), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, app, &limits, requests, &mut stopping).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            drop((permit, closed));
        });
    };
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(closed);
    match drain {
        None => {
            closed_tx.closed().await;
            Drained::Finished
        }
        Some(drain) => match tokio::time::timeout_at(stopped_at + drain, closed_tx.closed()).await {
            Ok(()) => Drained::Finished,
            Err(_) => Drained::TimedOut,
        },
    }
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
    requests: Arc<watch::Sender<usize>>,
    stopping: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (activity, mut watched) = watch::channel(Activity::default());
    let activity = Arc::new(activity);
    let body_timeout = limits.body_timeout();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| DueBody::new(body, body_timeout));
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = InFlight::start(activity.clone(), requests.clone());
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

/// One request in flight, from its arrival until its response body is sent or dropped: counted
/// on its connection and on the server.
struct InFlight {
    connection: Arc<watch::Sender<Activity>>,
    server: Arc<watch::Sender<usize>>,
}

impl InFlight {
    fn start(connection: Arc<watch::Sender<Activity>>, server: Arc<watch::Sender<usize>>) -> InFlight {
        connection.send_modify(|a| {
            a.in_flight += 1;
            a.started = true;
        });
        server.send_modify(|n| *n += 1);
        InFlight { connection, server }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.connection.send_modify(|a| a.in_flight -= 1);
        self.server.send_modify(|n| *n -= 1);
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

/// A request body that must have arrived whole by a deadline (`--http-body-timeout-secs` after its
/// headers): a read that would wait past it fails with [`BodyTimedOut`] instead. What has arrived
/// by then is still read; the clock is armed only once a read has to wait, so a request whose
/// body is never read costs no timer.
struct DueBody<B> {
    body: B,
    /// When the whole body should have arrived.
    due: tokio::time::Instant,
    /// The timeout, for the error's message.
    timeout: Duration,
    /// Wakes a read waiting at the deadline; set by the first read that waits.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> DueBody<B> {
    fn new(body: B, timeout: Duration) -> DueBody<B> {
        DueBody { body, due: tokio::time::Instant::now() + timeout, timeout, timer: None }
    }
}

impl<B> HttpBody for DueBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let due = this.due;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut { timeout: this.timeout })))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body that had not arrived whole within `--http-body-timeout-secs` of its headers:
/// the error a handler's read of it gets (in its error's source chain), answered 408.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {}s of its headers (--http-body-timeout-secs)", timeout.as_secs())]
pub struct BodyTimedOut {
    /// The timeout it exceeded.
    pub timeout: Duration,
}

impl BodyTimedOut {
    /// The `BodyTimedOut` in `error`'s source chain (`error` included), if any: how a handler
    /// tells a body that came too slowly from one that is malformed.
    pub fn find<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e BodyTimedOut> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<BodyTimedOut>() {
                return Some(found);
            }
            next = e.source();
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    /// The body's next frame: `None` at its end.
    async fn frame<B: HttpBody + Unpin>(body: &mut B) -> Option<Result<http_body::Frame<B::Data>, B::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    /// A body fed by the test, a frame at a time.
    fn fed() -> (tokio::sync::mpsc::Sender<Bytes>, DueBody<Body>) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let frames = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
        (tx, DueBody::new(Body::from_stream(frames), Duration::from_secs(30)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_is_read_until_its_deadline_and_not_after_however_it_trickles() {
        let (tx, mut body) = fed();
        let started = tokio::time::Instant::now();
        // A byte every 10 s: each gap well within the timeout, the whole body not.
        for _ in 0..2 {
            tx.send(Bytes::from_static(b"{")).await.unwrap();
            assert_eq!(frame(&mut body).await.unwrap().unwrap().into_data().unwrap(), "{");
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        tx.send(Bytes::from_static(b"\"")).await.unwrap();
        assert!(frame(&mut body).await.unwrap().is_ok(), "what arrived in time is read");
        let late = frame(&mut body).await.unwrap().expect_err("the read waiting past the deadline fails");
        assert_eq!(started.elapsed(), Duration::from_secs(30), "at the deadline, not before");
        let found = BodyTimedOut::find(late.as_ref()).expect("a BodyTimedOut");
        assert_eq!(found.timeout, Duration::from_secs(30));
        assert!(late.to_string().contains("--http-body-timeout-secs"), "{late}");
    }

    #[tokio::test]
    async fn a_draining_server_serves_while_a_request_is_in_flight_and_gives_up_at_its_bound() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
        let app = Router::new().route("/ok", axum::routing::get(|| async { "ok" })).route(
            "/forever",
            axum::routing::get(move || async move {
                let _ = entered_tx.send(()).await;
                std::future::pending::<&str>().await
            }),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let drain = Duration::from_secs(1);
        let server = tokio::spawn(serve_draining(listener, None, app, HttpLimits::default(), shutdown, drain));
        let mut held = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut held, b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        entered.recv().await.expect("the request is in flight");

        stop_tx.send(()).unwrap();
        let stopped = tokio::time::Instant::now();
        // Still accepting, and serving, while the request is in flight.
        let mut other = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut other, b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut other, &mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");

        let drained = tokio::time::timeout(Duration::from_secs(60), server).await.expect("ends at its bound").unwrap();
        assert_eq!(drained, Drained::TimedOut);
        assert!(stopped.elapsed() >= drain, "not before its bound: {:?}", stopped.elapsed());
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrived_in_time_is_read_whole_even_if_read_late() {
        let (tx, mut body) = fed();
        tx.send(Bytes::from_static(b"{}")).await.unwrap();
        drop(tx);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(frame(&mut body).await.unwrap().unwrap().into_data().unwrap(), "{}");
        assert!(frame(&mut body).await.is_none(), "read whole");
    }
}
