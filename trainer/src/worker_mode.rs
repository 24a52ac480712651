//! The worker mode of `skippy-trainer`: its flags, logging, and the signals that shut it down
//! (the first hands running jobs back; a second exits at once with code 130). A worker given
//! `--exit-when-idle` or `--max-runtime` also ends by itself, between jobs, with code 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use skippy_trainer::worker::{self, WorkerConfig};
use tracing_subscriber::EnvFilter;

/// Flags of the worker (every one can come from the environment).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Scheduler to pull jobs from.
    #[arg(long, env = "SKIPPY_SCHEDULER", default_value = "http://127.0.0.1:50051")]
    scheduler: String,
    /// Name shown in the scheduler's queue view [default: the host name].
    #[arg(long, env = "SKIPPY_TRAINER_NAME")]
    name: Option<String>,
    /// Trainer token, sent as a bearer token on every call (prefer the environment variable:
    /// flags are visible to other users of the machine).
    #[arg(long, env = "SKIPPY_TRAINER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM certificate(s) to trust for an https:// scheduler (a private CA or a self-signed
    /// scheduler certificate), besides the system's roots.
    #[arg(long, env = "SKIPPY_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Jobs to run at once, each on `--threads` training threads, all under one trainer id
    /// [default: the number of cores].
    #[arg(long, env = "SKIPPY_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: Option<u32>,
    /// Data directory with one CSV (or folder of CSVs) per symbol [default: the shipped sample bars].
    #[arg(long, env = "SKIPPY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Training threads per job (results do not depend on it); keep `--concurrency` ×
    /// `--threads` within the cores.
    #[arg(long, env = "SKIPPY_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
    /// Seconds between checkpoints uploaded while a job trains.
    #[arg(
        long,
        env = "SKIPPY_CHECKPOINT_INTERVAL_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    checkpoint_interval_secs: u64,
    /// End (exit code 0) once no job has been granted for this long and none is running, e.g.
    /// 30s, 10m, 1h30m: an array job of a batch system gives its nodes back when the queue is
    /// empty [default: never].
    #[arg(long, env = "SKIPPY_EXIT_WHEN_IDLE", value_name = "DURATION", value_parser = parse_duration)]
    exit_when_idle: Option<Duration>,
    /// Take no new job after this long, e.g. 3h50m; end (exit code 0) once the running ones are
    /// finished: set it below a batch job's time limit. A signal still hands them back at once
    /// [default: no limit].
    #[arg(long, env = "SKIPPY_MAX_RUNTIME", value_name = "DURATION", value_parser = parse_duration)]
    max_runtime: Option<Duration>,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, env = "SKIPPY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event, with the span fields (job_id, trainer_id, attempt).
    Json,
}

/// Runs the worker until SIGTERM or SIGINT, then hands running jobs back and exits.
pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let config = WorkerConfig {
        scheduler: args.scheduler,
        name: args.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(worker::default_name),
        token: args.token.filter(|t| !t.is_empty()),
        concurrency: args.concurrency.map_or_else(worker::default_concurrency, |n| n as usize),
        data_dir: args.data_dir,
        threads: args.threads as usize,
        checkpoint_interval: Duration::from_secs(args.checkpoint_interval_secs),
        ca_cert: args.ca_cert,
        limits: worker::Limits { exit_when_idle: args.exit_when_idle, max_runtime: args.max_runtime },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("skippy-worker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = async move {
            skippy_proto::shutdown::requested("skippy-trainer: second signal, exiting at once").await;
            tracing::info!("signal received: handing back running jobs (signal again to exit at once)");
        };
        worker::run(config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A positive duration as people type it: `30s`, `10m`, `1h30m`, `2.5h`, `1d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    skippy_contract::duration::parse_seconds(s)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("invalid duration {s:?}: use e.g. 30s, 10m, 1h30m or 2.5h"))
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_flags_take_durations_as_people_type_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Err("invalid duration \"10\": use e.g. 30s, 10m, 1h30m or 2.5h".into()));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1000000000000000d").is_err(), "beyond what a Duration holds");
    }
}
