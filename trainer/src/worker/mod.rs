//! The trainer worker: connects to a scheduler, pulls jobs, trains them, streams progress and
//! uploads checkpoints and artifacts, until told to shut down.
//!
//! # Layout
//! - [`run`] and [`WorkerConfig`]: the entry point the `skippy-trainer` binary, the CLI's
//!   `--local` mode and tests share.
//! - `pull`: one job slot's loop of long-polling `AcquireJob` (`--concurrency N` runs N).
//! - `lifetime`: when a worker ends by itself (`--exit-when-idle`, `--max-runtime`).
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
//! - The slots are one trainer to the scheduler: one trainer id holding up to `concurrency`
//!   leases, each job training on its own `threads` (one by default).
//! - A worker ends by itself only between jobs, and never abandons an `AcquireJob` to do so.

mod backoff;
mod checkpoints;
mod connection;
mod events;
mod heartbeat;
mod job;
mod lifetime;
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
pub use lifetime::{End, Limits};

/// How a worker reaches its scheduler and runs its jobs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Scheduler URL, e.g. `http://127.0.0.1:50051`.
    pub scheduler: String,
    /// A name for people (the host name by default).
    pub name: String,
    /// Sent as `authorization: Bearer <token>` on every call when set; never logged.
    pub token: Option<String>,
    /// Jobs run at once (job slots, each acquiring and running one job at a time).
    pub concurrency: usize,
    /// Catalog directory; `None` uses the embedded catalog.
    pub data_dir: Option<PathBuf>,
    /// Training threads per job.
    pub threads: usize,
    /// Time between periodic checkpoints.
    pub checkpoint_interval: Duration,
    /// PEM certificate(s) to trust for an `https://` scheduler besides the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// When the worker ends by itself (by default only a shutdown ends it).
    pub limits: Limits,
}

impl WorkerConfig {
    /// The defaults of `skippy-trainer` for `scheduler`: host name, no token, as many jobs at
    /// once as there are cores ([`default_concurrency`]) each on one training thread, the
    /// embedded catalog, a checkpoint every 30 s, no limit on how long it runs.
    pub fn new(scheduler: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            scheduler: scheduler.into(),
            name: default_name(),
            token: None,
            concurrency: default_concurrency(),
            data_dir: None,
            threads: 1,
            checkpoint_interval: Duration::from_secs(30),
            ca_cert: None,
            limits: Limits::default(),
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
            .field("limits", &self.limits)
            .finish()
    }
}

/// Jobs a worker runs at once unless told otherwise: one per core the process may use
/// (`std::thread::available_parallelism`, which counts a container's CPU quota and affinity),
/// each training on one thread.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(256)
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
    /// When the worker ends by itself.
    lifetime: lifetime::Lifetime,
}

/// Runs a worker until `shutdown` resolves, then interrupts every running job, uploads its final
/// checkpoint, hands it back, and returns `None`; or until its [`Limits`] end it, between jobs,
/// and returns why.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<End>> {
    anyhow::ensure!(config.concurrency >= 1, "concurrency must be at least 1");
    anyhow::ensure!(!config.checkpoint_interval.is_zero(), "the checkpoint interval must be positive");
    anyhow::ensure!(
        !config.limits.exit_when_idle.is_some_and(|d| d.is_zero()),
        "the idle time before exiting must be positive"
    );
    anyhow::ensure!(!config.limits.max_runtime.is_some_and(|d| d.is_zero()), "the maximum run time must be positive");
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
        lifetime: lifetime::Lifetime::new(config.limits, tokio::time::Instant::now()),
    });
    let span = tracing::info_span!("trainer", trainer_id = %trainer_id);
    async move {
        tracing::info!(
            scheduler = %config.scheduler,
            name = %config.name,
            concurrency = config.concurrency,
            threads = worker.threads,
            data = %config.data_dir.as_ref().map_or("embedded catalog".to_string(), |d| d.display().to_string()),
            exit_when_idle = ?config.limits.exit_when_idle,
            max_runtime = ?config.limits.max_runtime,
            "trainer started"
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let training_threads = config.concurrency.saturating_mul(worker.threads);
        if training_threads > cores {
            tracing::warn!(
                concurrency = config.concurrency,
                threads = worker.threads,
                cores,
                "{training_threads} training threads on {cores} cores: jobs running together slow each other down"
            );
        }
        let (stop, stopping) = watch::channel(false);
        let mut slots = JoinSet::new();
        for slot in 0..config.concurrency {
            slots
                .spawn(pull::pull_jobs(worker.clone(), stopping.clone()).instrument(tracing::info_span!("slot", slot)));
        }
        let mut crashed = false;
        let mut ended = None;
        let runtime_over = worker.lifetime.runtime_over_at();
        let mut announced = false;
        tokio::pin!(shutdown);
        let interrupted = loop {
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutting down: no new jobs; running ones are handed back");
                    break true;
                }
                _ = until(runtime_over), if !announced => {
                    announced = true;
                    if let Some(limit) = config.limits.max_runtime {
                        tracing::info!("{}: running jobs are finished first", End::MaxRuntime(limit));
                    }
                }
                next = slots.join_next() => match next {
                    // Every slot ended by itself: a limit of the worker was reached.
                    None => break false,
                    Some(Ok(Some(end))) => ended = Some(end),
                    // Slots only end on shutdown or by a limit; one that ended otherwise was a bug.
                    Some(other) => {
                        tracing::error!("a job slot ended unexpectedly: {other:?}");
                        crashed = true;
                        break true;
                    }
                },
            }
        };
        stop.send_replace(true);
        while let Some(slot) = slots.join_next().await {
            if let Err(e) = slot {
                tracing::error!("a job slot crashed: {e}");
                crashed = true;
            }
        }
        anyhow::ensure!(!crashed, "a job slot of the trainer crashed");
        let ended = ended.filter(|_| !interrupted);
        match ended {
            Some(end) => tracing::info!("trainer stopped: {end}"),
            None => tracing::info!("trainer stopped"),
        }
        Ok(ended)
    }
    .instrument(span)
    .await
}

/// Sleeps until `at`, or forever when there is none.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
