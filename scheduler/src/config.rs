//! Scheduler configuration: flags and environment variables (clap), with defaults that suit a
//! single machine and a `local()` preset for the CLI's in-process run and tests.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::Secret;
use crate::http_server::HttpLimits;

/// Default of `--metrics-addr`: loopback, the Prometheus exporters' usual port range.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Scheduler settings. Every flag can also come from its `SKIPPY_…` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address of the gRPC server (clients and trainers).
    #[arg(long, env = "SKIPPY_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP server: the REST API, the dashboard and `/healthz`.
    #[arg(long, env = "SKIPPY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Address of Prometheus `/metrics`, a listener of its own (`off`: none). Loopback by default:
    /// the metrics name running jobs and trainers; open it to a scraper deliberately.
    #[arg(long, env = "SKIPPY_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: Listen,
    /// Bearer token a scraper must present on `/metrics` (Prometheus' `authorization`
    /// credentials); none by default.
    #[arg(long, env = "SKIPPY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// How slow and idle HTTP clients are limited (the REST port and the metrics port).
    #[command(flatten)]
    pub http_limits: HttpLimits,
    /// Directory of job manifests, events, checkpoints and artifacts.
    #[arg(long, env = "SKIPPY_RUNS_DIR", default_value = "./runs")]
    pub runs_dir: PathBuf,
    /// Data catalog directory, for checking symbols at submission (default: the shipped bars).
    #[arg(long, env = "SKIPPY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// How often trainers send heartbeats, in milliseconds.
    #[arg(long, env = "SKIPPY_HEARTBEAT_INTERVAL_MS", default_value_t = 500)]
    pub heartbeat_interval_ms: u32,
    /// A lease expires this long after its last heartbeat (ms); the job is then re-queued.
    #[arg(long, env = "SKIPPY_LEASE_TTL_MS", default_value_t = 10_000)]
    pub lease_ttl_ms: u32,
    /// Attempts before a job whose leases keep expiring is FAILED.
    #[arg(long, env = "SKIPPY_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: u32,
    /// Hand-backs of one job before it is FAILED: a trainer that stops hands its job back at
    /// once, but one that keeps handing the same job back (it cannot write its artifacts,
    /// say) backs off, doubling, and gives up after this many.
    #[arg(long, env = "SKIPPY_MAX_HANDBACKS", default_value_t = 10)]
    pub max_handbacks: u32,
    /// A trainer that fails this many different jobs in a row is drained: it gets no more
    /// jobs until it restarts (0: never drain).
    #[arg(long, env = "SKIPPY_DRAIN_AFTER_FAILURES", default_value_t = 3)]
    pub drain_after_failures: u32,
    /// Back-off before a re-queued job runs again, doubled per attempt (ms).
    #[arg(long, env = "SKIPPY_RETRY_BACKOFF_MS", default_value_t = 1_000)]
    pub retry_backoff_ms: u64,
    /// A job queued longer than this fails (seconds; 0: no limit).
    #[arg(long, env = "SKIPPY_QUEUE_TIMEOUT_SECS", default_value_t = 0)]
    pub queue_timeout_secs: u64,
    /// One attempt running longer than this is stopped and re-queued (seconds; 0: no limit).
    #[arg(long, env = "SKIPPY_ATTEMPT_TIMEOUT_SECS", default_value_t = 0)]
    pub attempt_timeout_secs: u64,
    /// A job not finished this long after submission fails (seconds; 0: no limit).
    #[arg(long, env = "SKIPPY_JOB_TIMEOUT_SECS", default_value_t = 0)]
    pub job_timeout_secs: u64,
    /// Most environment steps one job may ask for (0: no limit).
    #[arg(long, env = "SKIPPY_MAX_STEPS_PER_JOB", default_value_t = 100_000_000)]
    pub max_steps_per_job: u64,
    /// Longest training-duration budget one job may ask for, in seconds; a job that names none
    /// gets this one (0: no limit).
    #[arg(long, env = "SKIPPY_MAX_JOB_DURATION_SECS", default_value_t = 86_400)]
    pub max_job_duration_secs: u64,
    /// Most jobs waiting in the queue; more submissions get RESOURCE_EXHAUSTED / 429 (0: no limit).
    #[arg(long, env = "SKIPPY_MAX_QUEUED_JOBS", default_value_t = 100_000)]
    pub max_queued_jobs: usize,
    /// Compute budget: trainer-hours per rolling day, counting what ran and the estimated time
    /// of what is running and queued; submissions beyond it get 429 (0: no budget).
    #[arg(long, env = "SKIPPY_TRAINER_HOURS_PER_DAY", default_value_t = 0.0)]
    pub trainer_hours_per_day: f64,
    /// A scheduler-wide event stream (WatchJobs, GET /api/training/events) ends cleanly after
    /// this many seconds; its client resumes where it was (spreads long-lived connections over
    /// gateway replicas, bounds forgotten ones; 0: never).
    #[arg(long, env = "SKIPPY_EVENT_STREAM_MAX_SECS", default_value_t = 900)]
    pub event_stream_max_secs: u64,
    /// Secret clients present (`authorization: Bearer …`): the CLI, the REST API, grpcurl.
    /// Prefer the environment variable: flags show in process lists.
    #[arg(long, env = "ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<Secret>,
    /// Token trainers present; must differ from the admin secret.
    #[arg(long, env = "SKIPPY_TRAINER_TOKEN", hide_env_values = true)]
    pub trainer_token: Option<Secret>,
    /// Run without authentication (development only). The listeners must then be loopback
    /// addresses unless --insecure-allow-remote is given too.
    #[arg(long, env = "SKIPPY_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// With --insecure-no-auth: allow non-loopback listeners (only behind another guard).
    #[arg(long, env = "SKIPPY_INSECURE_ALLOW_REMOTE", requires = "insecure_no_auth")]
    pub insecure_allow_remote: bool,
    /// Serve gRPC and HTTP over TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "SKIPPY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SKIPPY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Checkpoints kept per job besides the best one.
    #[arg(long, env = "SKIPPY_KEEP_CHECKPOINTS", default_value_t = 3)]
    pub keep_checkpoints: usize,
    /// Remove the directories of jobs finished more than this many days ago (0: keep them).
    /// Queued and running jobs are never removed; nor is each lineage's champion or newest
    /// generation.
    #[arg(long, env = "SKIPPY_RETAIN_DAYS", default_value_t = 0)]
    pub retain_days: u64,
    /// Keep at most this many finished jobs, removing the directories of the oldest finished
    /// beyond it (0: no limit). Lineage champions and newest generations are kept besides.
    #[arg(long, env = "SKIPPY_RETAIN_JOBS", default_value_t = 0)]
    pub retain_jobs: usize,
}

impl Config {
    /// Settings for an in-process scheduler on loopback ports chosen by the caller, without
    /// authentication (set `admin_secret` and `trainer_token`, and clear `insecure_no_auth`,
    /// to have it).
    pub fn local(runs_dir: PathBuf) -> Config {
        Config {
            grpc_addr: "127.0.0.1:0".parse().expect("valid address"),
            http_addr: "127.0.0.1:0".parse().expect("valid address"),
            metrics_addr: Listen::Off,
            metrics_token: None,
            http_limits: HttpLimits::default(),
            runs_dir,
            data_dir: None,
            heartbeat_interval_ms: 500,
            lease_ttl_ms: 10_000,
            max_attempts: 3,
            max_handbacks: 10,
            drain_after_failures: 3,
            retry_backoff_ms: 1_000,
            queue_timeout_secs: 0,
            attempt_timeout_secs: 0,
            job_timeout_secs: 0,
            keep_checkpoints: 3,
            retain_days: 0,
            retain_jobs: 0,
            max_steps_per_job: 100_000_000,
            max_job_duration_secs: 86_400,
            max_queued_jobs: 100_000,
            trainer_hours_per_day: 0.0,
            event_stream_max_secs: 900,
            admin_secret: None,
            trainer_token: None,
            insecure_no_auth: true,
            insecure_allow_remote: false,
            tls_cert: None,
            tls_key: None,
        }
    }

    /// Lease time-to-live.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.lease_ttl_ms as u64)
    }
}

/// A listener's address, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Not served.
    Off,
    /// Served on this address.
    At(SocketAddr),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        match s.trim() {
            "off" | "" => Ok(Listen::Off),
            addr => addr
                .parse()
                .map(Listen::At)
                .map_err(|e| format!("{addr:?} is neither an address such as {DEFAULT_METRICS_ADDR} nor `off`: {e}")),
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::At(addr) => addr.fmt(f),
        }
    }
}
