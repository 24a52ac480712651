//! The trainer worker against a fake scheduler speaking the trainer protocol: what a finished,
//! failed, cancelled, handed-back, timed-out or stale job reports, that the worker reaches a
//! scheduler that was not up when it started, that its limits (`--exit-when-idle`,
//! `--max-runtime`) end it between jobs, and that with `--concurrency 2` it holds two jobs at
//! once and hands both back when it shuts down.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skippy_market::catalog::Catalog;
use skippy_market::features::FeatureSet;
use skippy_proto::v1::trainer_service_server::{TrainerService, TrainerServiceServer};
use skippy_proto::v1::{
    AcquireJobRequest, AcquireJobResponse, CompleteJobRequest, CompleteJobResponse, HeartbeatRequest,
    HeartbeatResponse, Job, JobGrant, JobState, Lease, Outcome, TrainerCommand, TrainerEvent, UploadArtifactRequest,
    UploadArtifactResponse, UploadCheckpointRequest, UploadCheckpointResponse,
};
use skippy_trainer::checkpoint::Checkpoint;
use skippy_trainer::dataset::Dataset;
use skippy_trainer::spec::TrainSpec;
use skippy_trainer::training::{self, Observer, Progress, RunOptions, StopReason};
use skippy_trainer::worker::{self, End, Limits, WorkerConfig};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// The token the worker is configured with; every call must carry it.
const TOKEN: &str = "s3cret-token";

/// Steps of the jobs the cancel tests stop: far more than any machine trains within
/// [`CANCEL_DEADLINE`] (20 minutes at the grant's 40,000 steps/s), so the job ends within it
/// only because the cancel stopped the training.
const CANCELLED_JOB_STEPS: u64 = 50_000_000;

/// How long a cancelled job may take to complete: generous, for a slow, busy machine.
const CANCEL_DEADLINE: Duration = Duration::from_secs(60);

/// A call the fake scheduler received.
#[derive(Debug, Clone)]
enum Call {
    Acquire(AcquireJobRequest),
    Heartbeat(HeartbeatRequest),
    Event(TrainerEvent),
    Checkpoint(UploadCheckpointRequest),
    Artifact(UploadArtifactRequest),
    Complete(CompleteJobRequest),
}

/// One received call and the `authorization` header it came with.
#[derive(Debug, Clone)]
struct Entry {
    auth: Option<String>,
    call: Call,
}

/// What the fake scheduler knows and how it answers.
#[derive(Default)]
struct Shared {
    /// Every call, in arrival order.
    log: Mutex<Vec<Entry>>,
    /// Bumped at every call, so tests wait on calls instead of sleeping.
    version: watch::Sender<usize>,
    /// Jobs waiting for a trainer.
    grants: Mutex<VecDeque<JobGrant>>,
    /// Wakes a waiting `AcquireJob` when a grant is queued.
    granted: Notify,
    /// Heartbeat replies ask for a cancel.
    cancel: AtomicBool,
    /// Heartbeats are refused as stale (the lease expired).
    stale: AtomicBool,
    /// Heartbeats fail as if the scheduler were restarting.
    unavailable: AtomicBool,
    /// Senders of the open event streams' commands.
    commands: Mutex<Vec<mpsc::Sender<Result<TrainerCommand, Status>>>>,
    /// While true, `CompleteJob` is recorded but not answered: the job is still running.
    completions_held: watch::Sender<bool>,
}

#[derive(Clone, Default)]
struct FakeScheduler {
    shared: Arc<Shared>,
}

impl FakeScheduler {
    fn record(&self, auth: Option<String>, call: Call) {
        self.shared.log.lock().expect("log lock").push(Entry { auth, call });
        self.shared.version.send_modify(|v| *v += 1);
    }

    fn grant(&self, grant: JobGrant) {
        self.shared.grants.lock().expect("grants lock").push_back(grant);
        self.shared.granted.notify_one();
    }

    fn calls(&self) -> Vec<Entry> {
        self.shared.log.lock().expect("log lock").clone()
    }

    /// Waits (at most `limit`) until `check` finds what it looks for in the calls so far.
    async fn wait_for<T>(&self, what: &str, limit: Duration, mut check: impl FnMut(&[Entry]) -> Option<T>) -> T {
        let mut version = self.shared.version.subscribe();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = check(&self.shared.log.lock().expect("log lock")) {
                return found;
            }
            if tokio::time::timeout_at(deadline, version.changed()).await.is_err() {
                panic!("timed out after {limit:?} waiting for {what}; calls:\n{}", summary(&self.calls()));
            }
        }
    }

    async fn completion(&self, limit: Duration) -> CompleteJobRequest {
        self.wait_for("CompleteJob", limit, |log| completions(log).into_iter().next()).await
    }

    /// Waits until the worker has reported training progress past `steps`.
    async fn training_past(&self, steps: u64) {
        self.wait_for("training progress", Duration::from_secs(30), |log| {
            events(log).iter().any(|e| e.steps_done >= steps).then_some(())
        })
        .await;
    }

    async fn send_command(&self, command: TrainerCommand) {
        let senders = self.shared.commands.lock().expect("commands lock").clone();
        assert!(!senders.is_empty(), "no event stream is open");
        for s in senders {
            let _ = s.send(Ok(command.clone())).await;
        }
    }
}

fn auth_of<T>(request: &Request<T>) -> Option<String> {
    request.metadata().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[tonic::async_trait]
impl TrainerService for FakeScheduler {
    async fn acquire_job(&self, request: Request<AcquireJobRequest>) -> Result<Response<AcquireJobResponse>, Status> {
        let auth = auth_of(&request);
        let request = request.into_inner();
        self.record(auth, Call::Acquire(request.clone()));
        let wait = Duration::from_millis(request.wait_ms.min(60_000).into());
        let deadline = Instant::now() + wait;
        loop {
            if let Some(mut grant) = self.shared.grants.lock().expect("grants lock").pop_front() {
                if let Some(lease) = grant.lease.as_mut() {
                    lease.trainer_id = request.trainer_id.clone();
                }
                return Ok(Response::new(AcquireJobResponse { grant: Some(grant) }));
            }
            if tokio::time::timeout_at(deadline, self.shared.granted.notified()).await.is_err() {
                return Ok(Response::new(AcquireJobResponse { grant: None }));
            }
        }
    }

    async fn heartbeat(&self, request: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        self.record(auth_of(&request), Call::Heartbeat(request.into_inner()));
        if self.shared.stale.load(Ordering::SeqCst) {
            return Err(Status::failed_precondition("lease expired"));
        }
        if self.shared.unavailable.load(Ordering::SeqCst) {
            return Err(Status::unavailable("scheduler restarting"));
        }
        Ok(Response::new(HeartbeatResponse {
            cancel_requested: self.shared.cancel.load(Ordering::SeqCst),
            lease_expires_ms: 0,
        }))
    }

    type StreamEventsStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<TrainerCommand, Status>> + Send>>;

    async fn stream_events(
        &self,
        request: Request<Streaming<TrainerEvent>>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let auth = auth_of(&request);
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        self.shared.commands.lock().expect("commands lock").push(tx);
        let fake = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(event)) = inbound.message().await {
                fake.record(auth.clone(), Call::Event(event));
            }
            // The trainer closed its side: end ours.
            fake.shared.commands.lock().expect("commands lock").clear();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn upload_checkpoint(
        &self,
        request: Request<UploadCheckpointRequest>,
    ) -> Result<Response<UploadCheckpointResponse>, Status> {
        let request_steps = request.get_ref().steps_done;
        self.record(auth_of(&request), Call::Checkpoint(request.into_inner()));
        Ok(Response::new(UploadCheckpointResponse { name: format!("checkpoint-{request_steps}.safetensors") }))
    }

    async fn upload_artifact(
        &self,
        request: Request<UploadArtifactRequest>,
    ) -> Result<Response<UploadArtifactResponse>, Status> {
        self.record(auth_of(&request), Call::Artifact(request.into_inner()));
        Ok(Response::new(UploadArtifactResponse { artifact: None }))
    }

    async fn complete_job(
        &self,
        request: Request<CompleteJobRequest>,
    ) -> Result<Response<CompleteJobResponse>, Status> {
        self.record(auth_of(&request), Call::Complete(request.into_inner()));
        let _ = self.shared.completions_held.subscribe().wait_for(|held| !*held).await;
        Ok(Response::new(CompleteJobResponse { job: None }))
    }
}

fn events(log: &[Entry]) -> Vec<TrainerEvent> {
    log.iter().filter_map(|e| if let Call::Event(ev) = &e.call { Some(ev.clone()) } else { None }).collect()
}

fn completions(log: &[Entry]) -> Vec<CompleteJobRequest> {
    log.iter().filter_map(|e| if let Call::Complete(c) = &e.call { Some(c.clone()) } else { None }).collect()
}

fn checkpoints(log: &[Entry]) -> Vec<UploadCheckpointRequest> {
    log.iter().filter_map(|e| if let Call::Checkpoint(c) = &e.call { Some(c.clone()) } else { None }).collect()
}

fn artifacts(log: &[Entry]) -> Vec<UploadArtifactRequest> {
    log.iter().filter_map(|e| if let Call::Artifact(a) = &e.call { Some(a.clone()) } else { None }).collect()
}

fn count(log: &[Entry], pred: impl Fn(&Call) -> bool) -> usize {
    log.iter().filter(|e| pred(&e.call)).count()
}

/// The job states the worker reported, in order.
fn states(log: &[Entry]) -> Vec<JobState> {
    events(log).iter().map(|e| e.state()).filter(|s| *s != JobState::Unspecified).collect()
}

fn summary(log: &[Entry]) -> String {
    log.iter()
        .map(|e| match &e.call {
            Call::Acquire(a) => format!("acquire wait_ms={}", a.wait_ms),
            Call::Heartbeat(h) => format!("heartbeat steps={}", h.steps_done),
            Call::Event(ev) => {
                format!("event {:?} {:.0}% steps={} {}", ev.state(), ev.percent, ev.steps_done, ev.message)
            }
            Call::Checkpoint(c) => format!("checkpoint steps={} bytes={}", c.steps_done, c.data.len()),
            Call::Artifact(a) => format!("artifact {} bytes={}", a.name, a.data.len()),
            Call::Complete(c) => format!("complete {:?} {:?}", c.outcome(), c.reason),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small spec: one synthetic symbol, price features, 1024-step rollouts.
fn spec(symbols: &[&str], total_steps: u64) -> TrainSpec {
    let mut spec =
        TrainSpec::new(symbols.iter().map(|s| s.to_string()).collect(), vec![FeatureSet::Price], total_steps, 7);
    spec.ppo.n_steps = 1024;
    spec.evaluation.bootstrap_samples = 100;
    spec
}

fn grant(job_id: &str, spec: &TrainSpec) -> JobGrant {
    JobGrant {
        lease: Some(Lease {
            job_id: job_id.into(),
            lease_id: format!("lease-{job_id}"),
            attempt: 1,
            trainer_id: String::new(),
        }),
        job: Some(Job { id: job_id.into(), total_steps: spec.total_steps, ..Job::default() }),
        resolved_spec_json: serde_json::to_string(spec).expect("specs serialise"),
        checkpoint: Vec::new(),
        heartbeat_interval_ms: 50,
        lease_ttl_ms: 5_000,
        attempt_timeout_ms: 0,
        max_duration_seconds: 0.0,
        measured_steps_per_sec: 40_000.0,
    }
}

async fn serve_on(listener: TcpListener, fake: FakeScheduler) -> JoinHandle<()> {
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TrainerServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("the fake scheduler serves");
    })
}

/// A worker started on `addr`, and the trigger of its shutdown.
struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<Option<End>>>,
}

impl RunningWorker {
    fn start(addr: SocketAddr) -> RunningWorker {
        RunningWorker::start_with(addr, 1, Limits::default())
    }

    /// A worker of `concurrency` slots that ends by itself at `limits`.
    fn start_with(addr: SocketAddr, concurrency: usize, limits: Limits) -> RunningWorker {
        // The worker's logs, shown when a test fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("skippy_trainer=debug")),
            )
            .with_test_writer()
            .try_init();
        let config = WorkerConfig {
            scheduler: format!("http://{addr}"),
            name: "test-trainer".into(),
            token: Some(TOKEN.into()),
            concurrency,
            data_dir: None,
            threads: 1,
            checkpoint_interval: Duration::from_millis(200),
            ca_cert: None,
            limits,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(worker::run(config, async move {
            let _ = stopped.await;
        }));
        RunningWorker { stop: Some(stop), handle }
    }

    /// Resolves the shutdown future and waits (at most `limit`) for `run` to return.
    async fn shut_down(mut self, limit: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(limit, self.handle)
            .await
            .unwrap_or_else(|_| panic!("worker::run did not return within {limit:?} of the shutdown"))
            .expect("the worker task does not panic")
            .expect("worker::run succeeds");
    }

    /// Waits (at most `limit`) for the worker to end by itself, without a shutdown; returns why.
    async fn ends_by_itself(mut self, limit: Duration) -> End {
        let ended = tokio::time::timeout(limit, &mut self.handle)
            .await
            .unwrap_or_else(|_| panic!("the worker did not end by itself within {limit:?}"))
            .expect("the worker task does not panic")
            .expect("worker::run succeeds");
        ended.expect("a worker that ends by itself says why")
    }
}

async fn start() -> (FakeScheduler, RunningWorker) {
    let (fake, addr) = serve().await;
    (fake, RunningWorker::start(addr))
}

/// A fake scheduler serving on a loopback port, and its address.
async fn serve() -> (FakeScheduler, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let fake = FakeScheduler::default();
    serve_on(listener, fake.clone()).await;
    (fake, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_job_reports_its_phases_uploads_artifacts_and_completes_done() {
    let (fake, worker) = start().await;
    let spec = spec(&["SYN-EDGE"], 4096);
    fake.grant(grant("tr_1_00000001", &spec));
    let done = fake.completion(Duration::from_secs(60)).await;
    let log = fake.calls();
    assert_eq!(done.outcome(), Outcome::Done, "{}", summary(&log));
    assert_eq!(done.steps_done, 4096);
    let lease = done.lease.as_ref().expect("the completion carries the lease");
    assert_eq!(lease.job_id, "tr_1_00000001");
    let metrics: serde_json::Value = serde_json::from_str(&done.metrics_json).expect("metrics_json is JSON");
    assert_eq!(metrics["stop_reason"], "completed");
    assert!(metrics["evaluation"]["symbols"]["SYN-EDGE"]["strategy"]["sharpe"].as_f64().is_some_and(f64::is_finite));

    assert_eq!(states(&log), [JobState::Preflight, JobState::Training, JobState::Evaluating], "{}", summary(&log));
    let evs = events(&log);
    // Preflight states its estimate from the speed the grant carries.
    let estimate = "inputs ok; 4096 steps at ~40000 steps/s ≈ 0s";
    assert!(evs.iter().any(|e| e.message == estimate), "no {estimate:?} in:\n{}", summary(&log));
    assert!(evs.iter().all(|e| e.lease.as_ref() == Some(lease)), "every event carries the lease");
    let progress = evs
        .iter()
        .find(|e| e.state() == JobState::Unspecified && e.steps_done > 0 && e.stats.is_some())
        .unwrap_or_else(|| panic!("a progress event with stats:\n{}", summary(&log)));
    assert!(progress.percent >= 10.0 && progress.percent <= 85.0, "training percent {}", progress.percent);

    assert!(count(&log, |c| matches!(c, Call::Heartbeat(_))) >= 1, "heartbeats:\n{}", summary(&log));
    let names: Vec<String> = artifacts(&log).into_iter().map(|a| a.name).collect();
    for name in ["metrics.json", "model.safetensors", "checkpoint.safetensors", "spec.json", "equity.csv", "walk.csv"] {
        assert!(names.iter().any(|n| n == name), "artifact {name} missing from {names:?}");
    }
    let metrics_artifact = artifacts(&log).into_iter().find(|a| a.name == "metrics.json").expect("metrics.json");
    assert_eq!(String::from_utf8(metrics_artifact.data).expect("UTF-8"), done.metrics_json);
    assert_eq!(completions(&log).len(), 1);

    // Every call carried the token, and the worker introduced itself with a fresh incarnation id.
    assert!(log.iter().all(|e| e.auth.as_deref() == Some(&format!("Bearer {TOKEN}"))), "a call without the token");
    let Some(Call::Acquire(first)) = log.first().map(|e| &e.call) else { panic!("the first call is AcquireJob") };
    assert_eq!(first.name, "test-trainer");
    assert_eq!(first.wait_ms, 25_000);
    let hex = first.trainer_id.strip_prefix("t-").expect("trainer ids start with t-");
    assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()), "trainer id {}", first.trainer_id);
    assert_eq!(lease.trainer_id, first.trainer_id);

    // After the job the worker asks for the next one.
    fake.wait_for("the next AcquireJob", Duration::from_secs(5), |log| {
        (count(log, |c| matches!(c, Call::Acquire(_))) >= 2).then_some(())
    })
    .await;
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_naming_an_unknown_symbol_fails_with_a_reason_naming_it() {
    let (fake, worker) = start().await;
    fake.grant(grant("tr_1_00000002", &spec(&["SYN-EDGE", "NOSUCHCOIN"], 4096)));
    let failed = fake.completion(Duration::from_secs(30)).await;
    // This trainer's catalog lacks the symbol; another trainer's may not.
    assert_eq!(failed.outcome(), Outcome::HostFailed);
    assert!(failed.reason.contains("unknown symbol `NOSUCHCOIN`"), "reason: {}", failed.reason);
    let log = fake.calls();
    assert_eq!(states(&log), [JobState::Preflight], "{}", summary(&log));
    assert!(artifacts(&log).is_empty() && checkpoints(&log).is_empty(), "{}", summary(&log));
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_in_a_heartbeat_reply_stops_training_and_completes_cancelled_with_a_checkpoint() {
    let (fake, worker) = start().await;
    fake.grant(grant("tr_1_00000003", &spec(&["SYN-EDGE"], CANCELLED_JOB_STEPS)));
    fake.training_past(2048).await;
    fake.shared.cancel.store(true, Ordering::SeqCst);
    // No bound on how fast: the job is far too long to end within the deadline by itself, and
    // only a cancel completes it CANCELLED.
    let cancelled = fake.completion(CANCEL_DEADLINE).await;
    assert_eq!(cancelled.outcome(), Outcome::Cancelled);
    assert!(cancelled.steps_done < CANCELLED_JOB_STEPS, "stopped early: {} steps", cancelled.steps_done);
    let log = fake.calls();
    assert!(artifacts(&log).is_empty(), "a cancelled job uploads no artifacts");
    let last = checkpoints(&log).pop().expect("a checkpoint was uploaded");
    let checkpoint = Checkpoint::from_bytes(&last.data).expect("the checkpoint loads");
    assert!(checkpoint.steps_done >= 2048 && checkpoint.steps_done == last.steps_done);
    assert_eq!(cancelled.steps_done, checkpoint.steps_done);
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_command_on_the_event_stream_stops_training() {
    let (fake, worker) = start().await;
    fake.grant(grant("tr_1_00000004", &spec(&["SYN-EDGE"], CANCELLED_JOB_STEPS)));
    fake.training_past(1024).await;
    fake.send_command(TrainerCommand { job_id: "tr_1_00000004".into(), cancel: true, lease_lost: false }).await;
    let cancelled = fake.completion(CANCEL_DEADLINE).await;
    assert_eq!(cancelled.outcome(), Outcome::Cancelled);
    assert!(cancelled.steps_done < CANCELLED_JOB_STEPS, "stopped early: {} steps", cancelled.steps_done);
    assert!(!checkpoints(&fake.calls()).is_empty(), "a checkpoint was uploaded");
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_hands_the_running_job_back_after_storing_its_checkpoint() {
    let (fake, worker) = start().await;
    fake.grant(grant("tr_1_00000005", &spec(&["SYN-EDGE"], 50_000_000)));
    fake.training_past(2048).await;
    worker.shut_down(Duration::from_secs(10)).await;
    let log = fake.calls();
    let done = completions(&log);
    assert_eq!(done.len(), 1, "{}", summary(&log));
    assert_eq!(done[0].outcome(), Outcome::HandedBack);
    assert_eq!(done[0].reason, "trainer shutting down");
    let completed_at = log.iter().position(|e| matches!(e.call, Call::Complete(_))).expect("completion");
    let stored_at = log.iter().rposition(|e| matches!(e.call, Call::Checkpoint(_))).expect("a checkpoint");
    assert!(stored_at < completed_at, "the final checkpoint is stored before the hand-back");
    let Call::Checkpoint(last) = &log[stored_at].call else { unreachable!() };
    assert_eq!(last.steps_done, done[0].steps_done);
    assert!(last.steps_done >= 2048);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_past_its_timeout_is_handed_back() {
    let (fake, worker) = start().await;
    let mut g = grant("tr_1_00000006", &spec(&["SYN-EDGE"], 50_000_000));
    g.attempt_timeout_ms = 700;
    fake.grant(g);
    let handed_back = fake.completion(Duration::from_secs(10)).await;
    assert_eq!(handed_back.outcome(), Outcome::HandedBack);
    assert_eq!(handed_back.reason, "attempt timeout after 0.7s");
    assert!(!checkpoints(&fake.calls()).is_empty(), "a checkpoint was uploaded");
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lease_stops_the_job_without_completing_it_and_the_worker_moves_on() {
    let (fake, worker) = start().await;
    fake.grant(grant("tr_1_00000007", &spec(&["SYN-EDGE"], 50_000_000)));
    fake.training_past(1024).await;
    fake.shared.stale.store(true, Ordering::SeqCst);
    fake.wait_for("the next AcquireJob", Duration::from_secs(10), |log| {
        (count(log, |c| matches!(c, Call::Acquire(_))) >= 2).then_some(())
    })
    .await;
    let log = fake.calls();
    assert!(completions(&log).is_empty(), "a stale lease is never completed:\n{}", summary(&log));
    assert!(artifacts(&log).is_empty());
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_failing_while_the_scheduler_restarts_do_not_stop_training() {
    let (fake, worker) = start().await;
    fake.shared.unavailable.store(true, Ordering::SeqCst);
    fake.grant(grant("tr_1_00000008", &spec(&["SYN-EDGE"], 4096)));
    let done = fake.completion(Duration::from_secs(60)).await;
    assert_eq!(done.outcome(), Outcome::Done, "{}", summary(&fake.calls()));
    worker.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_before_its_scheduler_connects_once_it_is_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let worker = RunningWorker::start(addr);
    // Let the worker find nobody there a few times.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fake = FakeScheduler::default();
    fake.grant(grant("tr_1_00000009", &spec(&["NOSUCHCOIN"], 4096)));
    let listener = TcpListener::bind(addr).await.expect("rebind the port");
    serve_on(listener, fake.clone()).await;
    let failed = fake.completion(Duration::from_secs(20)).await;
    assert_eq!(failed.outcome(), Outcome::HostFailed);
    assert!(failed.reason.contains("NOSUCHCOIN"));
    worker.shut_down(Duration::from_secs(5)).await;
}

/// Stops a run after its first update, keeping the checkpoint it hands over.
#[derive(Default)]
struct StopAfterOneUpdate {
    steps: u64,
    checkpoint: Option<Vec<u8>>,
}

impl Observer for StopAfterOneUpdate {
    fn progress(&mut self, progress: &Progress) {
        self.steps = progress.steps_done;
    }

    fn stop_requested(&mut self) -> Option<StopReason> {
        (self.steps > 0).then_some(StopReason::Interrupted)
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.checkpoint = Some(checkpoint.to_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_with_a_checkpoint_resumes_from_it() {
    let spec = spec(&["SYN-EDGE"], 4096);
    let earlier = tokio::task::spawn_blocking({
        let spec = spec.clone();
        move || {
            let data = Dataset::load(&spec, &Catalog::embedded()).expect("data");
            let mut observer = StopAfterOneUpdate::default();
            let opts = RunOptions { threads: 1, ..RunOptions::default() };
            let outcome = training::train(&spec, &data, None, &opts, &mut observer).expect("an earlier attempt");
            assert_eq!(outcome.stop, StopReason::Interrupted);
            observer.checkpoint.expect("the interrupted run left a checkpoint")
        }
    })
    .await
    .expect("the earlier attempt runs");
    let (fake, worker) = start().await;
    let mut g = grant("tr_1_0000000a", &spec);
    g.checkpoint = earlier;
    fake.grant(g);
    let done = fake.completion(Duration::from_secs(60)).await;
    let log = fake.calls();
    assert_eq!(done.outcome(), Outcome::Done, "{}", summary(&log));
    let training = events(&log).into_iter().find(|e| e.state() == JobState::Training).expect("a TRAINING event");
    assert_eq!(training.steps_done, 1024, "training resumes after the earlier attempt's update");
    assert!(training.percent > 10.0, "percent {} counts the resumed steps", training.percent);

    // A checkpoint of another spec fails the job in preflight.
    let mut other = spec.clone();
    other.seed += 1;
    let mut g = grant("tr_1_0000000b", &other);
    g.checkpoint = checkpoints(&log).pop().expect("a checkpoint").data;
    fake.grant(g);
    let failed =
        fake.wait_for("the second completion", Duration::from_secs(30), |log| completions(log).get(1).cloned()).await;
    assert_eq!(failed.outcome(), Outcome::Failed);
    assert!(failed.reason.starts_with("checkpoint of the earlier attempt: "), "reason: {}", failed.reason);
    worker.shut_down(Duration::from_secs(5)).await;
}

/// Serves `fake` from a runtime of its own, so that shutting that runtime down kills every
/// connection at once, as a scheduler process that dies does.
fn serve_in_own_runtime(listener: std::net::TcpListener, fake: FakeScheduler) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    listener.set_nonblocking(true).expect("non-blocking listener");
    runtime.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        tonic::transport::Server::builder()
            .add_service(TrainerServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("the fake scheduler serves");
    });
    runtime
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_keeps_training_through_a_scheduler_restart_and_reconnects_its_streams() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let fake = FakeScheduler::default();
    let first = serve_in_own_runtime(listener, fake.clone());
    let worker = RunningWorker::start(addr);
    fake.grant(grant("tr_1_0000000c", &spec(&["SYN-EDGE"], 50_000_000)));
    fake.training_past(1024).await;

    first.shutdown_background();
    let down_at = fake.calls().len();
    // While the scheduler is away, training goes on (and nothing reaches it).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = serve_in_own_runtime(std::net::TcpListener::bind(addr).expect("rebind"), fake.clone());

    let steps_before = events(&fake.calls()[..down_at]).iter().map(|e| e.steps_done).max().unwrap_or(0);
    fake.wait_for("heartbeats and progress on the new connection", Duration::from_secs(20), |log| {
        let after = &log[down_at..];
        let beats = count(after, |c| matches!(c, Call::Heartbeat(_)));
        let progressed = events(after).iter().any(|e| e.steps_done > steps_before);
        (beats > 0 && progressed).then_some(())
    })
    .await;
    let log = fake.calls();
    assert!(completions(&log).is_empty(), "the job was not given up:\n{}", summary(&log));

    fake.shared.cancel.store(true, Ordering::SeqCst);
    let cancelled = fake.completion(Duration::from_secs(10)).await;
    assert_eq!(cancelled.outcome(), Outcome::Cancelled);
    worker.shut_down(Duration::from_secs(5)).await;
    second.shutdown_background();
}

/// Every `AcquireJob` the worker sent, in order.
fn acquires(log: &[Entry]) -> Vec<AcquireJobRequest> {
    log.iter().filter_map(|e| if let Call::Acquire(a) = &e.call { Some(a.clone()) } else { None }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_ends_by_itself_once_no_job_was_granted_for_its_idle_limit() {
    let (fake, addr) = serve().await;
    let idle = Duration::from_millis(300);
    let started = Instant::now();
    let worker = RunningWorker::start_with(addr, 2, Limits { exit_when_idle: Some(idle), max_runtime: None });
    assert_eq!(worker.ends_by_itself(Duration::from_secs(30)).await, End::Idle(idle));
    assert!(started.elapsed() >= idle, "ended after {:?}, before its idle limit", started.elapsed());
    // Both slots asked, each poll lasting no longer than the idle limit allowed: the worker left
    // when the scheduler had answered every one, abandoning none.
    let asked = acquires(&fake.calls());
    assert!(asked.len() >= 2, "{}", summary(&fake.calls()));
    assert!(asked.iter().all(|a| a.wait_ms >= 1 && a.wait_ms <= 300), "{}", summary(&fake.calls()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_limit_waits_for_the_running_job_and_counts_from_its_end() {
    let (fake, addr) = serve().await;
    fake.grant(grant("tr_1_00000011", &spec(&["SYN-EDGE"], 4096)));
    let idle = Duration::from_millis(200);
    let worker = RunningWorker::start_with(addr, 1, Limits { exit_when_idle: Some(idle), max_runtime: None });
    assert_eq!(worker.ends_by_itself(Duration::from_secs(60)).await, End::Idle(idle));
    let log = fake.calls();
    let done = completions(&log);
    assert_eq!(done.len(), 1, "{}", summary(&log));
    assert_eq!(done[0].outcome(), Outcome::Done, "the job ran to its end: {}", summary(&log));
    let completed_at = log.iter().position(|e| matches!(e.call, Call::Complete(_))).expect("completion");
    assert!(
        log[completed_at..].iter().any(|e| matches!(e.call, Call::Acquire(_))),
        "after its job the worker asked for work again before ending idle: {}",
        summary(&log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_max_runtime_a_worker_finishes_its_job_takes_no_other_and_ends() {
    let (fake, addr) = serve().await;
    fake.grant(grant("tr_1_00000021", &spec(&["SYN-EDGE"], 4096)));
    // The job does not end (its completion is not answered) until the run time is over.
    fake.shared.completions_held.send_replace(true);
    let max_runtime = Duration::from_secs(1);
    let worker = RunningWorker::start_with(addr, 1, Limits { exit_when_idle: None, max_runtime: Some(max_runtime) });
    let first_acquire = fake
        .wait_for("the first AcquireJob", Duration::from_secs(30), |log| (!acquires(log).is_empty()).then(Instant::now))
        .await;
    fake.completion(Duration::from_secs(60)).await;
    // The worker's clock started before its first call: its run time is over by then.
    tokio::time::sleep_until(first_acquire + max_runtime).await;
    fake.grant(grant("tr_1_00000022", &spec(&["SYN-EDGE"], 4096)));
    fake.shared.completions_held.send_replace(false);

    assert_eq!(worker.ends_by_itself(Duration::from_secs(30)).await, End::MaxRuntime(max_runtime));
    let log = fake.calls();
    let done = completions(&log);
    assert_eq!(done.len(), 1, "{}", summary(&log));
    assert_eq!(done[0].outcome(), Outcome::Done, "the running job was finished, not handed back: {}", summary(&log));
    assert_eq!(acquires(&log).len(), 1, "no work asked for after the run time: {}", summary(&log));
    assert_eq!(fake.shared.grants.lock().expect("grants lock").len(), 1, "the second job was not taken");
}

/// The job id of an event.
fn job_of(event: &TrainerEvent) -> &str {
    event.lease.as_ref().map_or("", |l| l.job_id.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_two_slots_trains_two_jobs_at_once_under_one_id_and_hands_both_back_on_shutdown() {
    let (fake, addr) = serve().await;
    let worker = RunningWorker::start_with(addr, 2, Limits::default());
    let ids = ["tr_1_00000031", "tr_1_00000032"];
    for id in ids {
        fake.grant(grant(id, &spec(&["SYN-EDGE"], 50_000_000)));
    }
    // Both train at once: each has reported progress while neither has ended.
    fake.wait_for("both jobs training", Duration::from_secs(60), |log| {
        let evs = events(log);
        ids.iter().all(|id| evs.iter().any(|e| job_of(e) == *id && e.steps_done >= 1024)).then_some(())
    })
    .await;
    let log = fake.calls();
    assert!(completions(&log).is_empty(), "neither job ended:\n{}", summary(&log));
    let trainer_ids: std::collections::BTreeSet<String> = acquires(&log).into_iter().map(|a| a.trainer_id).collect();
    assert_eq!(trainer_ids.len(), 1, "one trainer id for both slots: {trainer_ids:?}");
    for id in ids {
        let training = events(&log).into_iter().find(|e| job_of(e) == id && e.state() == JobState::Training);
        let lease = training.and_then(|e| e.lease).unwrap_or_else(|| panic!("{id} reported TRAINING"));
        assert!(trainer_ids.contains(&lease.trainer_id), "{id} is held by the worker's one trainer id");
    }

    worker.shut_down(Duration::from_secs(20)).await;
    let log = fake.calls();
    let mut handed_back: Vec<String> = completions(&log)
        .into_iter()
        .map(|c| {
            assert_eq!((c.outcome(), c.reason.as_str()), (Outcome::HandedBack, "trainer shutting down"));
            let id = c.lease.as_ref().map(|l| l.job_id.clone()).unwrap_or_default();
            let stored = checkpoints(&log).into_iter().filter(|k| k.lease == c.lease).map(|k| k.steps_done).max();
            assert_eq!(stored, Some(c.steps_done), "{id}'s final checkpoint is stored before its hand-back");
            id
        })
        .collect();
    handed_back.sort();
    assert_eq!(handed_back, ids, "every held job is handed back once:\n{}", summary(&log));
}

#[tokio::test]
async fn a_name_the_scheduler_would_refuse_stops_the_worker_at_start_up_and_the_default_fits() {
    // Nothing listens there: the worker must refuse before it calls anything.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    for bad in ["gpu \"7\"", "a\nlevel=ERROR forged", ""] {
        let config = WorkerConfig { name: bad.into(), ..WorkerConfig::new(format!("http://{nowhere}")) };
        let run = tokio::time::timeout(Duration::from_secs(20), worker::run(config, std::future::pending()));
        let e = run.await.expect("refused at once").unwrap_err().to_string();
        assert!(e.contains("--name") && e.contains("it must be 1 to 128 characters"), "{bad:?}: {e}");
    }
    let name = worker::default_name();
    assert_eq!(skippy_proto::trainer_names::check("name", &name), Ok(()), "the default name {name:?} fits");
}
