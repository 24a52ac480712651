//! `skippy-scheduler`: the job queue and store, served over gRPC.

use clap::Parser;
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
    let grpc = TcpListener::bind(cli.config.grpc_addr).await?;
    let http = TcpListener::bind(cli.config.http_addr).await?;
    skippy_scheduler::run(cli.config, grpc, Some(http), shutdown_signal()).await
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    skippy_proto::shutdown::requested("second signal: exiting now").await;
}
