//! `skippy-scheduler`: the job queue and store, served over gRPC.

use anyhow::Context as _;
use clap::Parser;
use skippy_scheduler::Listeners;
use skippy_scheduler::config::Listen;
use tokio::net::TcpListener;

/// The skippy-train scheduler: owns the job queue and runs/, serves clients and trainers.
#[derive(Debug, Parser)]
#[command(name = "skippy-scheduler", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    config: skippy_scheduler::Config,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, env = "SKIPPY_LOG_FORMAT", value_enum, default_value_t)]
    log_format: skippy_scheduler::logging::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    skippy_scheduler::logging::init(cli.log_format);
    let bind = async |addr| TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"));
    let grpc = bind(cli.config.grpc_addr).await?;
    let http = Some(bind(cli.config.http_addr).await?);
    let metrics = match cli.config.metrics_addr {
        Listen::At(addr) => Some(bind(addr).await.context("--metrics-addr (`off` serves no metrics)")?),
        Listen::Off => None,
    };
    skippy_scheduler::run(cli.config, Listeners { grpc, http, metrics }, shutdown_signal()).await
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    skippy_proto::shutdown::requested("second signal: exiting now").await;
}
