//! The trainer worker: connects to a scheduler, pulls jobs, trains them, streams progress and
//! uploads checkpoints and artifacts, until told to shut down.
//!
//! # Layout
//! - [`run`] and [`WorkerConfig`]: the entry point the `skippy-trainer` binary, the CLI's
//!   `--local` mode and tests share.
//! - `pull`: one job slot's loop of long-polling `AcquireJob` (`--concurrency N` runs N).
//! - `job`: one grant from preflight to completion.
//! - `preflight`: the grant's spec, data and checkpoint, checked before training.
//! - `observer`: the bridge from the blocking training thread to the async tasks, and the stop
//!   flags that cancels, shutdowns, timeouts and lost leases set.
//! - `heartbeat`, `events`, `checkpoints`: the tasks that run beside training.
//! - `connection` and `backoff`: the channel, the token, and how failed calls are retried.
//!
//! # Invariants
//! - A trainer holds no durable state: everything worth keeping is uploaded, and a trainer that
//!   dies loses only the work since its last checkpoint.
//! - A job whose lease is stale is dropped without reporting anything more.
//! - Training never waits on the network: progress that cannot be sent is dropped.
//! - [`run`] returns only when every job it held has been completed or handed back.

mod backoff;
mod checkpoints;
mod connection;
mod events;
mod heartbeat;
mod job;
mod observer;
mod preflight;
mod pull;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use skippy_market::catalog::Catalog;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use connection::ConnectError;

/// How a worker reaches its scheduler and runs its jobs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Scheduler URL, e.g. `http://127.0.0.1:50051`.
    pub scheduler: String,
    /// A name for people (the host name by default).
    pub name: String,
    /// Sent as `authorization: Bearer <token>` on every call when set; never logged.
    pub token: Option<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Catalog directory; `None` uses the embedded catalog.
    pub data_dir: Option<PathBuf>,
    /// Training threads per job.
    pub threads: usize,
    /// Time between periodic checkpoints.
    pub checkpoint_interval: Duration,
    /// PEM certificate(s) to trust for an `https://` scheduler besides the system's roots.
    pub ca_cert: Option<PathBuf>,
}

impl WorkerConfig {
    /// The defaults for `scheduler`: host name, no token, one job at a time, the embedded
    /// catalog, two threads, a checkpoint every 30 s.
    pub fn new(scheduler: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            scheduler: scheduler.into(),
            name: default_name(),
            token: None,
            concurrency: 1,
            data_dir: None,
            threads: 2,
            checkpoint_interval: Duration::from_secs(30),
            ca_cert: None,
        }
    }
}

impl fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("scheduler", &self.scheduler)
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("concurrency", &self.concurrency)
            .field("data_dir", &self.data_dir)
            .field("threads", &self.threads)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// The default trainer name: `$HOSTNAME`, else the kernel's host name, else `trainer`; made to
/// fit what the scheduler accepts ([`skippy_proto::trainer_names`]: other characters become `-`).
pub fn default_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    skippy_proto::trainer_names::sanitize(&host)
}

/// What every job slot of a worker shares.
#[derive(Debug)]
struct Worker {
    /// The scheduler's trainer service.
    client: connection::Client,
    /// The scheduler URL, for logs.
    scheduler: String,
    /// This process's incarnation id, fresh at every start.
    trainer_id: String,
    /// The name given to the scheduler.
    name: String,
    /// Catalog directory (`None`: embedded).
    data_dir: Option<PathBuf>,
    /// Training threads per job.
    threads: usize,
    /// Time between periodic checkpoints.
    checkpoint_interval: Duration,
    /// Whether the scheduler is currently unreachable, so an outage is logged once, not once
    /// per slot and retry.
    outage: AtomicBool,
}

/// Runs a worker until `shutdown` resolves, then interrupts every running job, uploads its final
/// checkpoint, hands it back, and returns.
pub async fn run(config: WorkerConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    anyhow::ensure!(config.concurrency >= 1, "concurrency must be at least 1");
    anyhow::ensure!(!config.checkpoint_interval.is_zero(), "the checkpoint interval must be positive");
    // Refused here, at start-up, rather than by the scheduler on every poll.
    skippy_proto::trainer_names::check("the trainer name (--name, SKIPPY_TRAINER_NAME)", &config.name)?;
    let ca_pem = match &config.ca_cert {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading the CA certificate {}", path.display()))?)
        }
        None => None,
    };
    let client = connection::connect(&config.scheduler, config.token.as_deref(), ca_pem.as_deref())?;
    if let Some(dir) = &config.data_dir {
        Catalog::open(dir).with_context(|| format!("data directory {}", dir.display()))?;
    }
    let trainer_id = format!("t-{}", uuid::Uuid::new_v4().simple());
    let worker = Arc::new(Worker {
        client,
        scheduler: config.scheduler.clone(),
        trainer_id: trainer_id.clone(),
        name: config.name.clone(),
        data_dir: config.data_dir.clone(),
        threads: config.threads.max(1),
        checkpoint_interval: config.checkpoint_interval,
        outage: AtomicBool::new(false),
    });
    let span = tracing::info_span!("trainer", trainer_id = %trainer_id);
    async move {
        tracing::info!(
            scheduler = %config.scheduler,
            name = %config.name,
            concurrency = config.concurrency,
            threads = worker.threads,
            data = %config.data_dir.as_ref().map_or("embedded catalog".to_string(), |d| d.display().to_string()),
            "trainer started"
        );
        let (stop, stopping) = watch::channel(false);
        let mut slots = JoinSet::new();
        for slot in 0..config.concurrency {
            slots
                .spawn(pull::pull_jobs(worker.clone(), stopping.clone()).instrument(tracing::info_span!("slot", slot)));
        }
        let mut crashed = false;
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down: no new jobs; running ones are handed back"),
            Some(ended) = slots.join_next() => {
                // Slots only end on shutdown; one that ended before was a bug.
                tracing::error!("a job slot ended unexpectedly: {ended:?}");
                crashed = true;
            }
        }
        stop.send_replace(true);
        while let Some(ended) = slots.join_next().await {
            if let Err(e) = ended {
                tracing::error!("a job slot crashed: {e}");
                crashed = true;
            }
        }
        anyhow::ensure!(!crashed, "a job slot of the trainer crashed");
        tracing::info!("trainer stopped");
        Ok(())
    }
    .instrument(span)
    .await
}
