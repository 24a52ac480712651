//! `skippy-loadgen`: the scheduler benchmark. Starts a scheduler (or drives a running one) and
//! prints durable submissions per second with many concurrent clients, submit-to-trainer
//! dispatch latency with idle trainers waiting, and the scheduler's resident memory with many
//! idle trainers and watch streams connected. Every request goes to loopback only.
//!
//! Two more modes measure what a long-lived scheduler holds:
//! - `--queued N`: the resident memory N queued jobs cost (no trainer connected), per job;
//! - `--finished N`: fake trainers speaking the real trainer protocol (`AcquireJob`, then
//!   `CompleteJob` with a small `metrics.json` at once, no training) drive N jobs to DONE; then
//!   the scheduler's resident memory, and the time from a restart (SIGKILL, then a new
//!   scheduler on the same `runs/`) to serving (the first `ListJobs` and `GetQueue` answered).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::transport::Channel;

/// Benchmark a skippy-scheduler.
#[derive(Debug, Parser)]
#[command(name = "skippy-loadgen", version, about)]
struct Cli {
    /// Concurrent submitting clients (one connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of submitting.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Dispatch latency samples.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Idle trainers waiting during the latency test.
    #[arg(long, default_value_t = 4)]
    waiting_trainers: usize,
    /// Idle trainers (long polls) for the memory test.
    #[arg(long, default_value_t = 1000)]
    idle_trainers: usize,
    /// Watch streams for the memory test.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// The scheduler binary to start (default: next to this one).
    #[arg(long)]
    scheduler_bin: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Instead of the default benchmark: the memory of this many queued jobs.
    #[arg(long, conflicts_with = "finished")]
    queued: Option<usize>,
    /// Instead of the default benchmark: drive this many jobs to DONE with fake trainers, then
    /// measure memory and the time from a restart to serving.
    #[arg(long)]
    finished: Option<usize>,
    /// Fake trainers for `--finished`.
    #[arg(long, default_value_t = 8)]
    trainers: usize,
    /// Most jobs queued at once while `--finished` submits (submitters wait beyond it).
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// The store for `--finished` (kept afterwards; default: a temporary directory). Jobs already
    /// in it count towards N: a second run only adds the difference, then measures.
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    /// With `--finished`: after the restart, kill the scheduler again, flush and drop the
    /// kernel's page cache (`sync`, then `3` into `/proc/sys/vm/drop_caches`: Linux, as root) and
    /// time a second restart, which reads `runs/` from the disk itself, as after a reboot.
    #[arg(long, requires = "finished")]
    drop_caches: bool,
    /// Append the log of every scheduler this tool starts to this file, at `info` (`RUST_LOG`
    /// when set): its start-up line says where the time of a restart went. Default: warnings
    /// only, on the terminal.
    #[arg(long)]
    scheduler_log: Option<PathBuf>,
    /// Extra arguments for the scheduler (repeatable), e.g. `--scheduler-arg=--retain-jobs=5000`.
    #[arg(long = "scheduler-arg", allow_hyphen_values = true)]
    scheduler_args: Vec<String>,
}

struct Spawned {
    child: Child,
    url: String,
    _runs: Option<tempfile::TempDir>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn spawn_scheduler(bin: &PathBuf, extra: &[&str]) -> anyhow::Result<Spawned> {
    let runs = tempfile::tempdir()?;
    let path = runs.path().to_path_buf();
    spawn_scheduler_in(bin, &path, Some(runs), extra).await
}

async fn spawn_scheduler_in(
    bin: &PathBuf,
    runs_dir: &std::path::Path,
    owned: Option<tempfile::TempDir>,
    extra: &[&str],
) -> anyhow::Result<Spawned> {
    let (grpc, http) = (free_port()?, free_port()?);
    let mut command = Command::new(bin);
    command
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}"), "--http-addr", &format!("127.0.0.1:{http}")])
        .arg("--runs-dir")
        .arg(runs_dir)
        .args(["--metrics-addr", "off"])
        .args(extra)
        .env("ADMIN_SECRET", ADMIN_SECRET)
        .env("SKIPPY_TRAINER_TOKEN", TRAINER_TOKEN);
    match SCHEDULER_LOG.get() {
        Some(path) => {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening --scheduler-log {}", path.display()))?;
            command
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
                .stdout(log.try_clone()?)
                .stderr(log);
        }
        None => {
            command.env("RUST_LOG", "warn").stdout(Stdio::null());
        }
    }
    let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
    let url = format!("http://127.0.0.1:{grpc}");
    for _ in 0..2400 {
        if Channel::from_shared(url.clone())?.connect().await.is_ok() {
            return Ok(Spawned { child, url, _runs: owned });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the scheduler did not start on {url}")
}

/// `--scheduler-log`: where the schedulers this tool starts write their log.
static SCHEDULER_LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The secrets of the schedulers this tool starts: it measures with authentication on.
const ADMIN_SECRET: &str = "loadgen-admin-secret";
const TRAINER_TOKEN: &str = "loadgen-trainer-token";

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone, Copy)]
struct Bearer(&'static str);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {}", self.0).parse().map_err(|_| tonic::Status::internal("bad token"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

async fn connect(url: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url.to_string())?.connect().await?)
}

fn spec() -> pb::JobSpec {
    pb::JobSpec { symbols: vec!["SYN-EDGE".into()], total_steps: 4096, ..Default::default() }
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS not found")?;
    Ok(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[derive(Debug, serde::Serialize)]
struct Report {
    clients: usize,
    submissions: u64,
    submissions_per_sec: f64,
    dispatch_samples: usize,
    dispatch_p50_ms: f64,
    dispatch_p99_ms: f64,
    submit_ack_p50_ms: f64,
    submit_ack_p99_ms: f64,
    unary_rpc_p50_ms: f64,
    unary_rpc_p99_ms: f64,
    idle_trainers: usize,
    watchers: usize,
    rss_idle_mib: f64,
    rss_loaded_mib: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(path) = &cli.scheduler_log {
        let _ = SCHEDULER_LOG.set(path.clone());
    }
    let bin = match &cli.scheduler_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("skippy-scheduler"),
    };
    if let Some(n) = cli.queued {
        return queued_memory(&cli, &bin, n).await;
    }
    if let Some(n) = cli.finished {
        return finished_jobs(&cli, &bin, n).await;
    }

    // 1. Dispatch latency: trainers wait in AcquireJob; time from submit to grant. A trainer
    // keeps its grants (leases long enough to outlast the test) and waits again at once, so
    // nothing but the dispatch itself is measured.
    let s = spawn_scheduler(&bin, &["--lease-ttl-ms", "3600000"]).await?;
    let ch = connect(&s.url).await?;
    let mut client = TrainingServiceClient::with_interceptor(ch.clone(), Bearer(ADMIN_SECRET));
    let (grant_tx, mut grant_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    for i in 0..cli.waiting_trainers {
        let mut t = TrainerServiceClient::with_interceptor(connect(&s.url).await?, Bearer(TRAINER_TOKEN));
        let tx = grant_tx.clone();
        tokio::spawn(async move {
            loop {
                let r = t
                    .acquire_job(pb::AcquireJobRequest {
                        trainer_id: format!("t-bench-{i}"),
                        name: "bench".into(),
                        wait_ms: 30_000,
                    })
                    .await;
                match r {
                    Ok(resp) => {
                        if let Some(g) = resp.into_inner().grant {
                            let _ = tx.send((g.job.map(|j| j.id).unwrap_or_default(), Instant::now()));
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::with_capacity(cli.samples);
    let mut acks = Vec::with_capacity(cli.samples);
    for _ in 0..cli.samples {
        let start = Instant::now();
        let job =
            client.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await?.into_inner().job.unwrap_or_default();
        acks.push(start.elapsed().as_secs_f64() * 1000.0);
        let (id, at) =
            tokio::time::timeout(Duration::from_secs(10), grant_rx.recv()).await?.context("trainers gone")?;
        if id != job.id {
            bail!("granted {id}, expected {}", job.id);
        }
        latencies.push(at.duration_since(start).as_secs_f64() * 1000.0);
        // Let the trainer re-enter its long poll.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    latencies.sort_by(f64::total_cmp);
    acks.sort_by(f64::total_cmp);
    // The floor under both: a trivial unary call on the same connection, same pacing.
    let mut gets = Vec::with_capacity(cli.samples);
    for _ in 0..cli.samples {
        let start = Instant::now();
        let _ = client.list_jobs(pb::ListJobsRequest { limit: 1, ..Default::default() }).await?;
        gets.push(start.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gets.sort_by(f64::total_cmp);

    drop(s);

    // 2. Durable submissions per second with concurrent clients.
    let s = spawn_scheduler(&bin, &[]).await?;
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(cli.seconds);
    let mut tasks = Vec::new();
    for _ in 0..cli.clients {
        let mut c = TrainingServiceClient::with_interceptor(connect(&s.url).await?, Bearer(ADMIN_SECRET));
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let submissions = count.load(Ordering::Relaxed);
    drop(s);

    // 3. Memory with idle trainers and watch streams.
    let s = spawn_scheduler(&bin, &[]).await?;
    let pid = s.child.id();
    let mut c = TrainingServiceClient::with_interceptor(connect(&s.url).await?, Bearer(ADMIN_SECRET));
    let mut jobs = Vec::new();
    for _ in 0..10 {
        jobs.push(
            c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await?.into_inner().job.unwrap_or_default().id,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_mib(pid)?;
    let connections = 100usize;
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(connect(&s.url).await?);
    }
    let mut streams = Vec::new();
    for i in 0..cli.watchers {
        let mut c = TrainingServiceClient::with_interceptor(channels[i % connections].clone(), Bearer(ADMIN_SECRET));
        let job_id = jobs[i % jobs.len()].clone();
        let mut stream = c.watch_job(pb::WatchJobRequest { job_id, after_sequence: 0 }).await?.into_inner();
        let _ = stream.message().await?;
        streams.push(stream);
    }
    let mut polls = Vec::new();
    for i in 0..cli.idle_trainers {
        let mut t = TrainerServiceClient::with_interceptor(channels[i % connections].clone(), Bearer(TRAINER_TOKEN));
        polls.push(tokio::spawn(async move {
            let _ = t
                .acquire_job(pb::AcquireJobRequest {
                    trainer_id: format!("t-idle-{i}"),
                    name: "idle".into(),
                    wait_ms: 60_000,
                })
                .await;
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_loaded = rss_mib(pid)?;
    for p in &polls {
        p.abort();
    }
    drop(streams);
    drop(s);

    let report = Report {
        clients: cli.clients,
        submissions,
        submissions_per_sec: submissions as f64 / elapsed,
        dispatch_samples: latencies.len(),
        dispatch_p50_ms: percentile(&latencies, 0.50),
        dispatch_p99_ms: percentile(&latencies, 0.99),
        submit_ack_p50_ms: percentile(&acks, 0.50),
        submit_ack_p99_ms: percentile(&acks, 0.99),
        unary_rpc_p50_ms: percentile(&gets, 0.50),
        unary_rpc_p99_ms: percentile(&gets, 0.99),
        idle_trainers: cli.idle_trainers,
        watchers: cli.watchers,
        rss_idle_mib: rss_idle,
        rss_loaded_mib: rss_loaded,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "durable submissions: {:>9.0}/s ({} in {:.1} s, {} clients, each fsynced before its ack)",
            report.submissions_per_sec, submissions, elapsed, cli.clients
        );
        println!(
            "dispatch latency:    p50 {:.2} ms, p99 {:.2} ms ({} samples, {} idle trainers waiting)",
            report.dispatch_p50_ms,
            report.dispatch_p99_ms,
            latencies.len(),
            cli.waiting_trainers
        );
        println!(
            "  for reference:    submit acknowledged p50 {:.2} ms, p99 {:.2} ms; a trivial unary call (ListJobs) p50 {:.2} ms, p99 {:.2} ms",
            report.submit_ack_p50_ms, report.submit_ack_p99_ms, report.unary_rpc_p50_ms, report.unary_rpc_p99_ms
        );
        println!(
            "scheduler memory:    {:.1} MiB idle, {:.1} MiB with {} idle trainers and {} watch streams",
            rss_idle, rss_loaded, cli.idle_trainers, cli.watchers
        );
    }
    Ok(())
}

/// `--queued N`: the resident memory of N queued jobs, per job (no trainer takes them).
async fn queued_memory(cli: &Cli, bin: &PathBuf, n: usize) -> anyhow::Result<()> {
    let extra: Vec<&str> = cli.scheduler_args.iter().map(String::as_str).collect();
    let mut args = vec!["--max-queued-jobs", "0"];
    args.extend(extra);
    let s = spawn_scheduler(bin, &args).await?;
    let pid = s.child.id();
    // Large answers allowed: an older scheduler answers GetQueue with the whole queue.
    let mut c = TrainingServiceClient::with_interceptor(connect(&s.url).await?, Bearer(ADMIN_SECRET))
        .max_decoding_message_size(usize::MAX);
    // Warm up: the first submissions allocate what every later one reuses, and fill the
    // scheduler-wide feed's ring (4,096 changes, a fixed cost): what follows is per job.
    submit_many(&s.url, WARM_UP, cli.clients).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_mib(pid)?;
    let started = Instant::now();
    submit_many(&s.url, n, cli.clients).await?;
    let elapsed = started.elapsed().as_secs_f64();
    // The event writer and the journal settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_mib(pid)?;
    let per_job = (after - before) * 1024.0 * 1024.0 / n as f64;
    let queue = c.get_queue(pb::GetQueueRequest::default()).await?.into_inner();
    let answer_bytes = prost::Message::encoded_len(&queue);
    if cli.json {
        let report = serde_json::json!({
            "queued": n, "warm_up": WARM_UP, "submit_seconds": elapsed, "rss_before_mib": before, "rss_after_mib": after,
            "bytes_per_queued_job": per_job, "get_queue_answer_bytes": answer_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "queued jobs:      {n} submitted in {elapsed:.1} s ({:.0}/s), after {WARM_UP} to warm up",
            n as f64 / elapsed
        );
        println!("scheduler memory: {before:.1} MiB before, {after:.1} MiB after: {per_job:.0} bytes per queued job");
        println!("GetQueue answer:  {answer_bytes} bytes");
    }
    Ok(())
}

/// Jobs submitted before `--queued` measures.
const WARM_UP: usize = 5_000;

/// Submits `n` jobs from `clients` concurrent clients.
async fn submit_many(url: &str, n: usize, clients: usize) -> anyhow::Result<()> {
    let left = Arc::new(AtomicU64::new(n as u64));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let mut c = TrainingServiceClient::with_interceptor(connect(url).await?, Bearer(ADMIN_SECRET));
        let left = left.clone();
        tasks.push(tokio::spawn(async move {
            while left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)).is_ok() {
                c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// A small `metrics.json`, as much of one as the scheduler reads at completion.
fn metrics_json(i: u64) -> String {
    // A spread of validation scores: the lineage's champion changes now and then.
    let validation = ((i.wrapping_mul(2_654_435_761) % 1000) as f64) / 250.0 - 1.0;
    serde_json::json!({
        "kept_model_validation_sharpe": validation,
        "stop_reason": "completed",
        "data": [["SYN-EDGE", "0000000000000000000000000000000000000000000000000000000000000000"]],
        "evaluation": {
            "bars_per_year": 17520.0,
            "portfolio": {
                "strategy": {"sharpe": validation * 0.8},
                "buy_and_hold": {"sharpe": 0.3},
                "edge_significant": false,
                "vs_buy_and_hold": {"difference": validation * 0.8 - 0.3, "significant": false,
                    "interval": {"lo": -1.0, "hi": 1.0, "level": 0.95}},
            },
        },
    })
    .to_string()
}

/// A fake trainer: takes jobs and completes each at once, until `done` reaches `target`.
async fn fake_trainer(url: String, index: usize, done: Arc<AtomicU64>, target: u64) -> anyhow::Result<()> {
    let mut t = TrainerServiceClient::with_interceptor(connect(&url).await?, Bearer(TRAINER_TOKEN));
    let trainer_id = format!("t-fake-{index}-{:08x}", rand::random::<u32>());
    while done.load(Ordering::SeqCst) < target {
        let request = pb::AcquireJobRequest { trainer_id: trainer_id.clone(), name: "fake".into(), wait_ms: 500 };
        let Some(grant) = t.acquire_job(request).await?.into_inner().grant else { continue };
        let lease = grant.lease.context("a grant without a lease")?;
        let n = done.load(Ordering::SeqCst);
        let request = pb::CompleteJobRequest {
            lease: Some(lease),
            outcome: pb::Outcome::Done as i32,
            metrics_json: metrics_json(n),
            steps_done: 4096,
            reason: String::new(),
        };
        t.complete_job(request).await?;
        done.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

/// Jobs already under `runs` (directories named like job ids).
fn jobs_on_disk(runs: &std::path::Path) -> usize {
    std::fs::read_dir(runs)
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("tr_")).count())
        .unwrap_or(0)
}

/// Bytes under `path` (file sizes) and the disk blocks they take.
fn disk_usage(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut stack = vec![path.to_path_buf()];
    let (mut bytes, mut blocks) = (0, 0);
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.filter_map(Result::ok) {
            let Ok(m) = e.metadata() else { continue };
            blocks += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                bytes += m.len();
            }
        }
    }
    (bytes, blocks)
}

/// `--finished N`: drive N jobs to DONE, then measure memory and the time a restart takes to
/// serve.
async fn finished_jobs(cli: &Cli, bin: &PathBuf, n: usize) -> anyhow::Result<()> {
    let (runs, owned) = match &cli.runs_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), None)
        }
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut args: Vec<&str> = vec!["--lease-ttl-ms", "600000", "--max-queued-jobs", "0"];
    args.extend(cli.scheduler_args.iter().map(String::as_str));
    // Serving, not just listening: with a large runs/ it is still reading it when the port opens.
    let (_, _, s) = start_serving(bin, &runs, &args).await?;
    let pid = s.child.id();
    let already = jobs_on_disk(&runs);
    let todo = n.saturating_sub(already) as u64;
    eprintln!("{already} jobs already in {}; driving {todo} more to DONE", runs.display());

    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut trainers = Vec::new();
    for i in 0..cli.trainers.max(1) {
        trainers.push(tokio::spawn(fake_trainer(s.url.clone(), i, done.clone(), todo)));
    }
    let submitted = Arc::new(AtomicU64::new(0));
    let mut submitters = Vec::new();
    for _ in 0..cli.clients.clamp(1, 16) {
        let mut c = TrainingServiceClient::with_interceptor(connect(&s.url).await?, Bearer(ADMIN_SECRET));
        let (submitted, done, window) = (submitted.clone(), done.clone(), cli.window as u64);
        submitters.push(tokio::spawn(async move {
            loop {
                // Keep at most `window` jobs queued: memory is measured with the queue short.
                while submitted.load(Ordering::SeqCst) >= done.load(Ordering::SeqCst) + window {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if submitted.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| (v < todo).then_some(v + 1)).is_err()
                {
                    return anyhow::Ok(());
                }
                c.submit_job(pb::SubmitJobRequest { spec: Some(spec()) }).await?;
            }
        }));
    }
    let mut last_report = Instant::now();
    while done.load(Ordering::SeqCst) < todo {
        // A trainer that stopped early failed: its error is reported below.
        if trainers.iter().any(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            let d = done.load(Ordering::SeqCst);
            eprintln!(
                "  {d} done in {:.0} s ({:.0}/s), scheduler at {:.1} MiB",
                started.elapsed().as_secs_f64(),
                d as f64 / started.elapsed().as_secs_f64(),
                rss_mib(pid).unwrap_or(0.0)
            );
        }
    }
    for t in trainers {
        t.await??;
    }
    for t in submitters {
        t.await??;
    }
    let drive_secs = started.elapsed().as_secs_f64();
    // Finished jobs leave memory once their last events and manifest are written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_running = rss_mib(pid)?;
    drop(s);

    let (bytes, blocks) = disk_usage(&runs);
    let on_disk = jobs_on_disk(&runs);

    // The restart: a new scheduler on the same runs/, timed until it answers ListJobs and
    // GetQueue (the previous one was killed by `drop`: SIGKILL).
    let (restart_secs, listed, s) = start_serving(bin, &runs, &args).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_restarted = rss_mib(s.child.id())?;
    drop(s);
    // Again, with nothing of runs/ in the page cache.
    let cold_restart_secs = if cli.drop_caches {
        drop_page_cache()?;
        let (secs, _, s) = start_serving(bin, &runs, &args).await?;
        drop(s);
        Some(secs)
    } else {
        None
    };
    drop(owned);

    if cli.json {
        let report = serde_json::json!({
            "finished": on_disk, "driven": todo, "drive_seconds": drive_secs,
            "rss_after_finishing_mib": rss_running, "restart_to_serving_seconds": restart_secs,
            "rss_after_restart_mib": rss_restarted, "runs_bytes": bytes, "runs_disk_bytes": blocks,
            "cold_restart_to_serving_seconds": cold_restart_secs,
            "first_page": listed,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "finished jobs:      {on_disk} on disk ({todo} driven to DONE in {drive_secs:.0} s, {:.0}/s, {} fake trainers)",
            todo as f64 / drive_secs.max(1e-9),
            cli.trainers
        );
        println!("scheduler memory:   {rss_running:.1} MiB after the last one finished");
        println!("restart to serving: {restart_secs:.2} s (SIGKILL, then ListJobs and GetQueue answered)");
        if let Some(cold) = cold_restart_secs {
            println!(
                "restart, cold cache: {cold:.2} s (SIGKILL, page cache dropped, then ListJobs and GetQueue answered)"
            );
        }
        println!("after the restart:  {rss_restarted:.1} MiB");
        println!(
            "runs/ on disk:      {:.1} MiB of files, {:.1} MiB of blocks ({:.1} KiB per job)",
            bytes as f64 / 1048576.0,
            blocks as f64 / 1048576.0,
            blocks as f64 / 1024.0 / on_disk.max(1) as f64
        );
    }
    Ok(())
}

/// Starts a scheduler on `runs` and times it until it has answered `ListJobs` and `GetQueue`:
/// the seconds, the jobs on the first page, and the scheduler.
async fn start_serving(bin: &PathBuf, runs: &std::path::Path, args: &[&str]) -> anyhow::Result<(f64, usize, Spawned)> {
    let started = Instant::now();
    let s = spawn_scheduler_in(bin, runs, None, args).await?;
    let mut c = TrainingServiceClient::with_interceptor(connect(&s.url).await?, Bearer(ADMIN_SECRET));
    let listed = loop {
        match c.list_jobs(pb::ListJobsRequest::default()).await {
            Ok(r) => break r.into_inner().jobs.len(),
            Err(_) if started.elapsed() < Duration::from_secs(600) => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    c.get_queue(pb::GetQueueRequest::default()).await?;
    Ok((started.elapsed().as_secs_f64(), listed, s))
}

/// Writes dirty pages out and drops the page cache, dentries and inodes (Linux, as root).
fn drop_page_cache() -> anyhow::Result<()> {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .context("--drop-caches: writing /proc/sys/vm/drop_caches (Linux, as root)")
}
