//! `skippy-gateway`: the REST gateway on its own, in front of a scheduler reached over gRPC
//! (`skippy-scheduler` serves the same routes itself on `--http-addr`).
//!
//! On SIGTERM (or SIGINT) it drains: `/healthz` answers 503 draining and new API requests are
//! refused with 503 while the requests in flight finish (event streams and waiting real sessions
//! end at once, cleanly), with the port still open so that load balancers see it go; then it
//! stops accepting and exits, 0, or 1 if requests were still open after `--shutdown-grace-secs`.
//! A second signal exits at once.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

/// The skippy-train REST gateway: HTTP/JSON routes onto a scheduler's gRPC service.
#[derive(Debug, Parser)]
#[command(name = "skippy-gateway", version, long_about = None)]
struct Cli {
    /// Address to serve HTTP on.
    #[arg(long, env = "SKIPPY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// The scheduler's gRPC URL.
    #[arg(long, env = "SKIPPY_SCHEDULER", default_value = "http://127.0.0.1:50051")]
    scheduler: String,
    /// PEM certificate(s) to trust for an https:// scheduler, besides the system's roots.
    #[arg(long, env = "SKIPPY_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "SKIPPY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SKIPPY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// How slow and idle HTTP clients are limited.
    #[command(flatten)]
    limits: skippy_scheduler::http_server::HttpLimits,
    /// Seconds a shutdown waits for the requests in flight, serving meanwhile (`/healthz` answers
    /// 503 draining); requests still open then are cut off and the gateway exits with status 1.
    #[arg(
        long,
        env = "SKIPPY_SHUTDOWN_GRACE_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    shutdown_grace_secs: u64,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, env = "SKIPPY_LOG_FORMAT", value_enum, default_value_t)]
    log_format: skippy_scheduler::logging::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    skippy_scheduler::logging::init(cli.log_format);
    let ca_pem = match &cli.ca_cert {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading the CA certificate {}", path.display()))?)
        }
        None => None,
    };
    let client = skippy_scheduler::gateway::lazy_client(&cli.scheduler, ca_pem.as_deref())
        .with_context(|| format!("--scheduler {:?} is not a URL such as http://127.0.0.1:50051", cli.scheduler))?;
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(skippy_scheduler::tls::TlsFiles::load(cert, key)?.acceptor()?),
        _ => None,
    };
    let listener = TcpListener::bind(cli.http_addr).await.with_context(|| format!("binding {}", cli.http_addr))?;
    let bound = listener.local_addr()?;
    tracing::info!(http = %bound, scheduler = %cli.scheduler, "gateway started");
    skippy_scheduler::http_server::warn_if_plaintext_remote("HTTP", bound, tls.is_some());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let check = skippy_scheduler::gateway::caller::CallerCheck::ask_scheduler();
    let app = skippy_scheduler::gateway::router_with_shutdown(client, stop_rx, check);
    let shutdown = async move {
        skippy_proto::shutdown::requested("second signal: exiting now").await;
        tracing::info!("shutting down: draining the requests in flight");
        // Event streams end, `/healthz` and new API requests answer 503 draining.
        let _ = stop_tx.send(true);
    };
    let grace = Duration::from_secs(cli.shutdown_grace_secs);
    let drained = skippy_scheduler::http_server::serve_draining(listener, tls, app, cli.limits, shutdown, grace).await;
    if drained == skippy_scheduler::http_server::Drained::TimedOut {
        eprintln!("requests still open {grace:?} after the shutdown signal (--shutdown-grace-secs): exiting");
        return Ok(ExitCode::FAILURE);
    }
    tracing::info!("gateway stopped");
    Ok(ExitCode::SUCCESS)
}
