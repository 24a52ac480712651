//! `skippy-scheduler`: the job queue and store, served over gRPC.

use clap::Parser;
use tokio::net::TcpListener;

/// The skippy-train scheduler: owns the job queue and runs/, serves clients and trainers.
#[derive(Debug, Parser)]
#[command(name = "skippy-scheduler", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    config: skippy_scheduler::Config,
    /// Log format: human or json.
    #[arg(long, env = "SKIPPY_LOG_FORMAT", default_value = "human")]
    log_format: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if cli.log_format == "json" {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let grpc = TcpListener::bind(cli.config.grpc_addr).await?;
    let http = TcpListener::bind(cli.config.http_addr).await?;
    skippy_scheduler::run(cli.config, grpc, Some(http), shutdown_signal()).await
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
