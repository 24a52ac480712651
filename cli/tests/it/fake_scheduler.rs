//! The `skippy-train` binary against a scripted scheduler on loopback: the brief's output from
//! submission to summary across a dropped stream (no gaps, no duplicate lines), the exit codes
//! of FAILED / CANCELLED / unknown jobs, Ctrl+C while watching, the admin secret, the errors of
//! an unreachable scheduler, `--json`, and downloads with their checksum.

use std::collections::HashMap;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_server::{TrainingService, TrainingServiceServer};
use skippy_proto::v1::{EventKind, JobState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

const SUBMITTED: &str = "tr_1754727123_a1b2c3d4";
const FAILS: &str = "tr_1754727123_0000fa11";
const CANCELLED: &str = "tr_1754727123_0000cacc";
const ENDLESS: &str = "tr_1754727123_00e0d1e5";
const T0: i64 = 1_754_727_123_000;
const MIN: i64 = 60_000;
const MODEL: &[u8] = b"pretend these are safetensors bytes, long enough to come in two chunks";

/// What the fake saw.
#[derive(Default)]
struct Seen {
    /// `after_sequence` of every WatchJob call, by job.
    watches: HashMap<String, Vec<u64>>,
    /// Submitted specs.
    specs: Vec<pb::JobSpec>,
}

#[derive(Clone)]
struct Fake {
    /// When set, every call must carry `authorization: Bearer <secret>`.
    secret: Option<String>,
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    fn check(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let Some(secret) = &self.secret else { return Ok(()) };
        let got = metadata.get("authorization").and_then(|v| v.to_str().ok());
        if got == Some(format!("Bearer {secret}").as_str()) {
            Ok(())
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }
}

fn job(id: &str, state: JobState, seq: u64) -> pb::Job {
    pb::Job {
        id: id.into(),
        state: state as i32,
        spec: Some(pb::JobSpec {
            algorithm: "ppo".into(),
            total_steps: 1_000_000,
            symbols: vec!["BTC".into(), "ETH".into()],
            features: vec!["price".into(), "microstructure".into()],
            ..Default::default()
        }),
        total_steps: 1_000_000,
        created_ms: T0,
        queue_position: u32::from(state == JobState::Queued),
        last_sequence: seq,
        ..Default::default()
    }
}

fn event(
    id: &str,
    seq: u64,
    minutes: i64,
    state: JobState,
    kind: EventKind,
    percent: f64,
    message: &str,
) -> pb::JobEvent {
    pb::JobEvent {
        sequence: seq,
        job_id: id.into(),
        at_ms: T0 + minutes * MIN,
        state: state as i32,
        percent,
        message: message.into(),
        kind: kind as i32,
        ..Default::default()
    }
}

fn done_job() -> pb::Job {
    let mut j = job(SUBMITTED, JobState::Done, 7);
    j.percent = 100.0;
    j.started_ms = T0;
    j.steps_done = 1_000_000;
    j.result = Some(pb::ResultSummary {
        sharpe: 1.2534,
        buy_and_hold_sharpe: 0.5567,
        generation: 3,
        improvement: Some(pb::Improvement {
            sharpe_difference: 0.6967,
            lo: 0.12,
            hi: 1.31,
            level: 0.95,
            significant: true,
            over_generation: 2,
        }),
        champion: true,
        stop_reason: "completed".into(),
        edge_significant: true,
    });
    j
}

/// The log of the submitted job: it runs from QUEUED to DONE in 47 minutes.
fn log() -> Vec<pb::JobEvent> {
    let mut progress = event(SUBMITTED, 4, 10, JobState::Training, EventKind::Progress, 30.0, "");
    progress.steps_done = 266_667;
    progress.steps_per_sec = 11_000.0;
    let mut done = event(SUBMITTED, 7, 47, JobState::Done, EventKind::State, 100.0, "complete");
    done.job = Some(done_job());
    vec![
        event(SUBMITTED, 1, 0, JobState::Queued, EventKind::State, 0.0, "submitted"),
        event(SUBMITTED, 2, 0, JobState::Preflight, EventKind::State, 5.0, "validating inputs"),
        event(SUBMITTED, 3, 2, JobState::Training, EventKind::State, 15.0, "PPO training in progress"),
        progress,
        event(SUBMITTED, 5, 20, JobState::Training, EventKind::Checkpoint, 50.0, "checkpoint at 600,000 steps"),
        event(SUBMITTED, 6, 45, JobState::Evaluating, EventKind::State, 85.0, "evaluating results"),
        done,
    ]
}

fn snapshot(job: pb::Job, minutes: i64) -> pb::JobEvent {
    pb::JobEvent {
        sequence: job.last_sequence,
        job_id: job.id.clone(),
        at_ms: T0 + minutes * MIN,
        state: job.state,
        percent: job.percent,
        kind: EventKind::Snapshot as i32,
        job: Some(job),
        ..Default::default()
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::JobEvent, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::ArtifactChunk, Status>> + Send>>;

fn artifacts() -> Vec<pb::Artifact> {
    let sha: String = Sha256::digest(MODEL).iter().map(|b| format!("{b:02x}")).collect();
    vec![
        pb::Artifact { name: "model.safetensors".into(), size: MODEL.len() as u64, sha256: sha },
        pb::Artifact { name: "damaged.json".into(), size: 3, sha256: "00".repeat(32) },
    ]
}

#[tonic::async_trait]
impl TrainingService for Fake {
    async fn submit_job(&self, r: Request<pb::SubmitJobRequest>) -> Result<Response<pb::SubmitJobResponse>, Status> {
        self.check(r.metadata())?;
        let spec = r.into_inner().spec.unwrap_or_default();
        if spec.symbols.iter().any(|s| s == "DOGE") {
            return Err(Status::invalid_argument("unknown symbol \"DOGE\"; known: BTC, ETH, LTC"));
        }
        self.seen.lock().unwrap().specs.push(spec);
        Ok(Response::new(pb::SubmitJobResponse { job: Some(job(SUBMITTED, JobState::Queued, 1)), created: true }))
    }

    async fn get_job(&self, r: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        self.check(r.metadata())?;
        match r.into_inner().job_id.as_str() {
            SUBMITTED => Ok(Response::new(done_job())),
            id => Err(Status::not_found(format!("job {id} not found"))),
        }
    }

    async fn get_results(&self, r: Request<pb::GetResultsRequest>) -> Result<Response<pb::GetResultsResponse>, Status> {
        self.check(r.metadata())?;
        match r.into_inner().job_id.as_str() {
            SUBMITTED => Ok(Response::new(pb::GetResultsResponse {
                job: Some(done_job()),
                metrics_json: include_str!("../data/metrics-two-symbols.json").into(),
                artifacts: artifacts(),
            })),
            id => Err(Status::not_found(format!("job {id} not found"))),
        }
    }

    async fn list_jobs(&self, r: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        self.check(r.metadata())?;
        Ok(Response::new(pb::ListJobsResponse { jobs: vec![done_job()], next_page_token: String::new() }))
    }

    async fn cancel_job(&self, r: Request<pb::CancelJobRequest>) -> Result<Response<pb::Job>, Status> {
        self.check(r.metadata())?;
        match r.into_inner().job_id.as_str() {
            SUBMITTED => Err(Status::failed_precondition("job tr_1754727123_a1b2c3d4 is DONE; nothing to cancel")),
            id => Err(Status::not_found(format!("job {id} not found"))),
        }
    }

    async fn get_queue(&self, r: Request<pb::GetQueueRequest>) -> Result<Response<pb::GetQueueResponse>, Status> {
        self.check(r.metadata())?;
        Ok(Response::new(pb::GetQueueResponse::default()))
    }

    type WatchJobStream = EventStream;

    async fn watch_job(&self, r: Request<pb::WatchJobRequest>) -> Result<Response<EventStream>, Status> {
        self.check(r.metadata())?;
        let pb::WatchJobRequest { job_id, after_sequence } = r.into_inner();
        let attempt = {
            let mut seen = self.seen.lock().unwrap();
            let watches = seen.watches.entry(job_id.clone()).or_default();
            watches.push(after_sequence);
            watches.len()
        };
        let items: Vec<Result<pb::JobEvent, Status>> = match job_id.as_str() {
            // The first stream breaks after event 4; the second replays from event 4 itself
            // (a duplicate the CLI must drop) to the end.
            SUBMITTED if attempt == 1 => {
                let mut items: Vec<_> = vec![Ok(snapshot(job(SUBMITTED, JobState::Queued, 1), 0))];
                items.extend(log().into_iter().skip(1).take(3).map(Ok));
                items.push(Err(Status::unavailable("scheduler restarting")));
                items
            }
            SUBMITTED => {
                let mut j = job(SUBMITTED, JobState::Training, 6);
                j.started_ms = T0;
                let mut items: Vec<_> = vec![Ok(snapshot(j, 30))];
                let from = after_sequence.saturating_sub(1) as usize;
                items.extend(log().into_iter().skip(from).map(Ok));
                items
            }
            FAILS => {
                let mut j = job(FAILS, JobState::Training, 3);
                j.started_ms = T0;
                j.percent = 20.0;
                let mut failed = event(FAILS, 4, 5, JobState::Failed, EventKind::State, 20.0, "");
                let mut fj = j.clone();
                fj.state = JobState::Failed as i32;
                fj.error = "attempt 1: trainer ran out of memory".into();
                failed.job = Some(fj);
                vec![Ok(snapshot(j, 3)), Ok(failed)]
            }
            CANCELLED => {
                let mut j = job(CANCELLED, JobState::Cancelled, 2);
                j.started_ms = T0;
                j.finished_ms = T0 + MIN;
                vec![Ok(snapshot(j, 1))]
            }
            ENDLESS => {
                let mut j = job(ENDLESS, JobState::Training, 3);
                j.started_ms = T0;
                j.percent = 20.0;
                j.message = "PPO training in progress".into();
                let first = tokio_stream::iter(vec![Ok(snapshot(j, 3))]);
                return Ok(Response::new(Box::pin(tokio_stream::StreamExt::chain(first, tokio_stream::pending()))));
            }
            id => return Err(Status::not_found(format!("job {id} not found"))),
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    type WatchJobsStream = Pin<Box<dyn Stream<Item = Result<pb::JobsEvent, Status>> + Send>>;

    async fn watch_jobs(&self, _: Request<pb::WatchJobsRequest>) -> Result<Response<Self::WatchJobsStream>, Status> {
        Err(Status::unimplemented("the CLI follows single jobs"))
    }

    type DownloadArtifactStream = ChunkStream;

    async fn download_artifact(
        &self,
        r: Request<pb::DownloadArtifactRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        self.check(r.metadata())?;
        let name = r.into_inner().name;
        let data: &[u8] = match name.as_str() {
            "model.safetensors" => MODEL,
            "damaged.json" => b"{}\n",
            _ => return Err(Status::not_found("no such artifact")),
        };
        let (a, b) = data.split_at(data.len() / 2);
        let total = data.len() as u64;
        let chunks = vec![
            Ok(pb::ArtifactChunk { data: a.to_vec(), offset: 0, total_size: total }),
            Ok(pb::ArtifactChunk { data: b.to_vec(), offset: a.len() as u64, total_size: total }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    // Experiments are not faked: the CLI's experiment tests run the real scheduler.
    async fn submit_experiment(
        &self,
        _: Request<pb::SubmitExperimentRequest>,
    ) -> Result<Response<pb::SubmitExperimentResponse>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }

    async fn estimate_experiment(
        &self,
        _: Request<pb::EstimateExperimentRequest>,
    ) -> Result<Response<pb::ExperimentEstimate>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }

    async fn get_experiment(&self, _: Request<pb::GetExperimentRequest>) -> Result<Response<pb::Experiment>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }

    async fn get_experiment_results(
        &self,
        _: Request<pb::GetExperimentResultsRequest>,
    ) -> Result<Response<pb::GetExperimentResultsResponse>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }

    async fn list_experiments(
        &self,
        _: Request<pb::ListExperimentsRequest>,
    ) -> Result<Response<pb::ListExperimentsResponse>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }

    async fn cancel_experiment(
        &self,
        _: Request<pb::CancelExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        Err(Status::unimplemented("the fake scheduler has no experiments"))
    }
}

/// A fake scheduler on a loopback port.
struct Server {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

async fn serve(secret: Option<&str>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fake = Fake { secret: secret.map(str::to_string), seen: seen.clone() };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrainingServiceServer::new(fake))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Server { url, seen }
}

/// `skippy-train <args>` against `url`, with none of the CLI's variables inherited.
fn cli(url: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skippy-train"));
    cmd.args(args).env("SKIPPY_SCHEDULER", url).kill_on_drop(true);
    for var in ["ADMIN_SECRET", "SKIPPY_JSON", "NO_COLOR", "SKIPPY_RUNS_DIR", "SKIPPY_DATA_DIR"] {
        cmd.env_remove(var);
    }
    cmd
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(url: &str, args: &[&str]) -> Ran {
    let out = tokio::time::timeout(Duration::from_secs(60), cli(url, args).output())
        .await
        .expect("skippy-train finished within a minute")
        .expect("skippy-train starts");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppo_prints_the_briefs_output_across_a_dropped_stream() {
    let s = serve(None).await;
    let r = run(
        &s.url,
        &[
            "ppo",
            "--steps",
            "1000000",
            "--symbols",
            "BTC,ETH",
            "--features",
            "price,microstructure",
            "--set",
            "ppo.learning_rate=1e-4",
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "\
🚀 Starting PPO training job...
   Duration: 10 hours
   Symbols: BTC, ETH
   Features: price, microstructure
   Steps: 1,000,000
✅ Job created: {SUBMITTED}
   Queue position: 1

⏳ Watching job progress (Ctrl+C to exit)...
🕒 [QUEUED] 0% • waiting for a trainer (position 1) • 0m elapsed
🔍 [PREFLIGHT] 5% • validating inputs • 0m elapsed
🏃 [TRAINING] 15% • PPO training in progress • 2m elapsed
📊 [EVALUATING] 85% • evaluating results • 45m elapsed
✅ [DONE] 100% • complete • 47m elapsed

✅ Training completed successfully!
   Sharpe Ratio: 1.2534 (buy-and-hold 0.5567 on the same test bars)
   Generation: 3 (new champion)
   Improvement: +0.70 Sharpe over generation 2 [+0.12, +1.31], significant

💡 Use: skippy-train results {SUBMITTED} for detailed results
"
        )
    );
    assert!(r.stderr.contains("Lost the scheduler (scheduler restarting); reconnecting"), "{}", r.stderr);
    assert!(r.stderr.contains("Reconnected to the scheduler; resuming after event 4"), "{}", r.stderr);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.watches[SUBMITTED], [0, 4], "resumed after the last event shown");
    let spec = &seen.specs[0];
    assert_eq!(spec.algorithm, "ppo");
    assert_eq!(spec.total_steps, 1_000_000);
    assert_eq!(spec.max_duration_seconds, 36_000.0);
    assert_eq!(spec.overrides.get("ppo.learning_rate").map(String::as_str), Some("1e-4"));
    assert!(spec.idempotency_key.starts_with("cli-"), "a fresh idempotency key: {:?}", spec.idempotency_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_of_jobs_that_end_badly() {
    let s = serve(None).await;
    let failed = run(&s.url, &["watch", FAILS]).await;
    assert_eq!(failed.code, Some(1));
    assert_eq!(
        failed.stdout,
        "⏳ Watching job progress (Ctrl+C to exit)...\n\
         🏃 [TRAINING] 20% • PPO training in progress • 3m elapsed\n\
         ❌ [FAILED] 20% • failed • 5m elapsed\n\n\
         ❌ Training failed: attempt 1: trainer ran out of memory\n"
    );
    let cancelled = run(&s.url, &["watch", CANCELLED]).await;
    assert_eq!(cancelled.code, Some(3));
    assert!(
        cancelled
            .stdout
            .ends_with(&format!("🚫 [CANCELLED] 0% • cancelled • 1m elapsed\n\n🚫 Job {CANCELLED} was cancelled.\n"))
    );
    let missing = run(&s.url, &["status", "tr_1_deadbeef"]).await;
    assert_eq!((missing.code, missing.stdout.as_str()), (Some(4), ""));
    assert_eq!(missing.stderr, "skippy-train: error: no job tr_1_deadbeef\n");
    let refused = run(&s.url, &["cancel", SUBMITTED]).await;
    assert_eq!(refused.code, Some(1));
    assert_eq!(refused.stderr, "skippy-train: error: job tr_1754727123_a1b2c3d4 is DONE; nothing to cancel\n");
    let invalid = run(&s.url, &["ppo", "--symbols", "DOGE", "--detach"]).await;
    assert_eq!(invalid.code, Some(1));
    assert_eq!(invalid.stderr, "skippy-train: error: unknown symbol \"DOGE\"; known: BTC, ETH, LTC\n");
    let usage = run(&s.url, &["ppo", "--symbols", "BTC", "--duration", "soon"]).await;
    assert_eq!(usage.code, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_watching_and_leaves_the_job_running() {
    let s = serve(None).await;
    let mut child = cli(&s.url, &["watch", ENDLESS]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut shown = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap() {
        let training = line.starts_with("🏃 [TRAINING]");
        shown.push(line);
        if training {
            break;
        }
    }
    assert_eq!(shown.last().map(String::as_str), Some("🏃 [TRAINING] 20% • PPO training in progress • 3m elapsed"));
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    let rest = lines.next_line().await.unwrap();
    assert_eq!(
        rest.as_deref(),
        Some(
            format!("⏹  Stopped watching; job {ENDLESS} keeps running. Resume with: skippy-train watch {ENDLESS}")
                .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_secret_is_sent_and_its_absence_explained() {
    let s = serve(Some("s3cret")).await;
    let without = run(&s.url, &["queue"]).await;
    assert_eq!(without.code, Some(1));
    assert!(without.stderr.contains("requires a secret: set ADMIN_SECRET"), "{}", without.stderr);
    let wrong = run(&s.url, &["--admin-secret", "nope", "queue"]).await;
    assert!(wrong.stderr.contains("refused ADMIN_SECRET"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("nope"), "the secret is never printed");
    let mut cmd = cli(&s.url, &["queue"]);
    cmd.env("ADMIN_SECRET", "s3cret");
    let ok = cmd.output().await.unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8(ok.stdout).unwrap().starts_with("Queued: none\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_scheduler_is_one_clear_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let r = run(&url, &["list"]).await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.starts_with(&format!(
            "skippy-train: error: cannot reach the scheduler at {url}: is skippy-scheduler running? (set SKIPPY_SCHEDULER)"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output() {
    let s = serve(None).await;
    let r = run(&s.url, &["--json", "ppo", "--symbols", "BTC,ETH", "--detach"]).await;
    assert_eq!(r.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["created"], true);
    assert_eq!(v["id"], SUBMITTED, "the job's fields with `created`, as REST answers a submission");
    assert_eq!(v["state"], "QUEUED");
    assert_eq!(v["queuePosition"], 1);

    let r = run(&s.url, &["watch", SUBMITTED, "--json"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events: Vec<serde_json::Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = events.iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7], "every event once, in order");
    assert_eq!(events[0]["kind"], "SNAPSHOT");
    assert_eq!(events[6]["job"]["result"]["sharpe"], 1.2534);

    let r = run(&s.url, &["results", SUBMITTED, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["metrics"]["evaluation"]["portfolio"]["strategy"]["trades"], 2758);
    assert_eq!(v["artifacts"][0]["name"], "model.safetensors");
    let r = run(&s.url, &["list", "--json", "--state", "running,done"]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["jobs"].as_array().map(Vec::len), Some(1), "merged pages keep one copy of each job: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_table_and_downloads() {
    let s = serve(None).await;
    let r = run(&s.url, &["results", SUBMITTED]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains(include_str!("../data/metrics-two-symbols.table")), "{}", r.stdout);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let r = run(&s.url, &["download", SUBMITTED, "--out", out, "--name", "model.safetensors"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(std::fs::read(dir.path().join(SUBMITTED).join("model.safetensors")).unwrap(), MODEL);
    assert!(r.stdout.contains("✓ sha256"), "{}", r.stdout);

    let r = run(&s.url, &["download", SUBMITTED, "--out", out, "--name", "damaged.json"]).await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("arrived damaged"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(dir.path().join(SUBMITTED)).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["model.safetensors"], "nothing of the damaged file is left");

    let r = run(&s.url, &["download", SUBMITTED, "--out", out, "--name", "nope.bin"]).await;
    assert_eq!(r.code, Some(4));
    assert!(r.stderr.contains("no artifact \"nope.bin\""), "{}", r.stderr);
}
