//! `skippy-loadgen`: the scheduler benchmark. Starts a scheduler (or drives a running one) and
//! prints durable submissions per second with many concurrent clients, submit-to-trainer
//! dispatch latency with idle trainers waiting, and the scheduler's resident memory with many
//! idle trainers and watch streams connected. Every request goes to loopback only.

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
}

struct Spawned {
    child: Child,
    url: String,
    _runs: tempfile::TempDir,
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
    let (grpc, http) = (free_port()?, free_port()?);
    let child = Command::new(bin)
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}"), "--http-addr", &format!("127.0.0.1:{http}")])
        .arg("--runs-dir")
        .arg(runs.path())
        .args(["--metrics-addr", "off"])
        .args(extra)
        .env("ADMIN_SECRET", ADMIN_SECRET)
        .env("SKIPPY_TRAINER_TOKEN", TRAINER_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let url = format!("http://127.0.0.1:{grpc}");
    for _ in 0..200 {
        if Channel::from_shared(url.clone())?.connect().await.is_ok() {
            return Ok(Spawned { child, url, _runs: runs });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the scheduler did not start on {url}")
}

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
    let bin = match &cli.scheduler_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("skippy-scheduler"),
    };

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
