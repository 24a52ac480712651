//! The scheduler's protocol, driven over real gRPC on loopback by a scripted trainer:
//! submission, idempotency, long-poll dispatch, fencing, lease expiry and re-queue, cancel,
//! completion, watching, and a restart that loses nothing.

use std::path::Path;
use std::time::Duration;

use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use skippy_scheduler::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

/// How long any one step may take before the test gives up: generous, so that a slow, busy
/// machine passes; a fast one never waits for it.
const STEP: Duration = Duration::from_secs(30);

struct Running {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn start(runs: &Path, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::local(runs.to_path_buf());
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(skippy_scheduler::run(config, skippy_scheduler::Listeners::grpc(listener), async move {
        let _ = rx.await;
    }));
    Running { addr, stop: Some(tx), task }
}

async fn clients(addr: &str) -> (TrainingServiceClient<Channel>, TrainerServiceClient<Channel>) {
    let ch = Channel::from_shared(addr.to_string()).unwrap().connect().await.unwrap();
    (TrainingServiceClient::new(ch.clone()), TrainerServiceClient::new(ch))
}

fn spec(symbols: &[&str]) -> pb::JobSpec {
    pb::JobSpec { symbols: symbols.iter().map(|s| s.to_string()).collect(), total_steps: 4096, ..Default::default() }
}

async fn submit(c: &mut TrainingServiceClient<Channel>, s: pb::JobSpec) -> pb::Job {
    c.submit_job(pb::SubmitJobRequest { spec: Some(s) }).await.unwrap().into_inner().job.unwrap()
}

async fn acquire(t: &mut TrainerServiceClient<Channel>, trainer: &str, wait_ms: u32) -> Option<pb::JobGrant> {
    t.acquire_job(pb::AcquireJobRequest { trainer_id: trainer.into(), name: "test".into(), wait_ms })
        .await
        .unwrap()
        .into_inner()
        .grant
}

fn state(job: &pb::Job) -> pb::JobState {
    pb::JobState::try_from(job.state).unwrap()
}

/// Polls the job until `done` holds of it, for at most `STEP`; returns the job as it then is.
async fn poll_job(
    c: &mut TrainingServiceClient<Channel>,
    id: &str,
    what: &str,
    done: impl Fn(&pb::Job) -> bool,
) -> pb::Job {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let job = c.get_job(pb::GetJobRequest { job_id: id.into() }).await.unwrap().into_inner();
        if done(&job) {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "{id} not {what} within {STEP:?}: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_goes_from_submission_to_done_under_one_lease() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, mut t) = clients(&s.addr).await;

    let job = submit(&mut c, spec(&["btc", "SYN-EDGE"])).await;
    assert!(job.id.starts_with("tr_") && job.id.len() == "tr_1754727123_a1b2c3d4".len(), "{}", job.id);
    assert_eq!(state(&job), pb::JobState::Queued);
    assert_eq!(job.queue_position, 1);
    assert_eq!(job.spec.as_ref().unwrap().symbols, vec!["BTC", "SYN-EDGE"]);
    let resolved: serde_json::Value = serde_json::from_str(&job.resolved_spec_json).unwrap();
    assert_eq!(resolved["ppo"]["n_steps"], 2048, "defaults are resolved and recorded");
    // Acknowledged means on disk: a queued job is a line of the fsynced journal; its directory
    // and manifest come when it leaves the queue.
    let journal = std::fs::read_to_string(dir.path().join("submissions.journal")).unwrap_or_default();
    let manifest = dir.path().join(&job.id).join("manifest.json");
    assert!(journal.contains(&job.id), "an acknowledged job is in the journal");
    assert!(!manifest.exists(), "no directory while queued");

    let mut watch =
        c.watch_job(pb::WatchJobRequest { job_id: job.id.clone(), after_sequence: 0 }).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.kind, pb::EventKind::Snapshot as i32);

    let grant = acquire(&mut t, "t-1", 1000).await.expect("a queued job is granted at once");
    let lease = grant.lease.clone().unwrap();
    assert_eq!(lease.attempt, 1);
    assert!(grant.checkpoint.is_empty());
    let view = c.get_job(pb::GetJobRequest { job_id: job.id.clone() }).await.unwrap().into_inner();
    assert_eq!(state(&view), pb::JobState::Preflight);
    let deadline = std::time::Instant::now() + STEP;
    while !manifest.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(manifest.exists(), "a granted job has its manifest");
    assert_eq!(view.trainer_id, "t-1");

    // Fencing: another attempt number or trainer is refused.
    let stale = pb::Lease { attempt: 2, ..lease.clone() };
    let err = t.heartbeat(pb::HeartbeatRequest { lease: Some(stale), steps_done: 0 }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let hb =
        t.heartbeat(pb::HeartbeatRequest { lease: Some(lease.clone()), steps_done: 10 }).await.unwrap().into_inner();
    assert!(!hb.cancel_requested);

    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut commands = t.stream_events(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    let ev = |state: pb::JobState, percent: f64, msg: &str| pb::TrainerEvent {
        lease: Some(lease.clone()),
        state: state as i32,
        percent,
        message: msg.into(),
        steps_done: 100,
        steps_per_sec: 5000.0,
        stats: None,
    };
    tx.send(ev(pb::JobState::Training, 10.0, "PPO training in progress")).await.unwrap();
    tx.send(ev(pb::JobState::Unspecified, 50.0, "PPO training in progress")).await.unwrap();
    tx.send(ev(pb::JobState::Evaluating, 85.0, "evaluating results")).await.unwrap();
    let art = t
        .upload_artifact(pb::UploadArtifactRequest {
            lease: Some(lease.clone()),
            name: "metrics.json".into(),
            data: b"{}".to_vec(),
        })
        .await
        .unwrap()
        .into_inner()
        .artifact
        .unwrap();
    assert_eq!(art.size, 2);
    let err = t
        .upload_artifact(pb::UploadArtifactRequest {
            lease: Some(lease.clone()),
            name: "../escape".into(),
            data: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(!dir.path().join("escape").exists());

    let metrics = r#"{"stop_reason":"completed","data":[["BTC","ab"]],"evaluation":{"portfolio":{"strategy":{"sharpe":1.5},"buy_and_hold":{"sharpe":0.5},"vs_buy_and_hold":{"difference":1.0,"interval":{"lo":-0.4,"hi":2.4,"level":0.95},"significant":false},"edge_significant":true}}}"#;
    // The stream's reports land before completing: read the watch until EVALUATING arrives.
    let mut states = Vec::new();
    while states.last() != Some(&pb::JobState::Evaluating) {
        let e = tokio::time::timeout(STEP, watch.message())
            .await
            .unwrap_or_else(|_| panic!("no EVALUATING within {STEP:?}; states so far: {states:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the watch ended before EVALUATING; states so far: {states:?}"));
        if e.kind == pb::EventKind::State as i32 {
            states.push(pb::JobState::try_from(e.state).unwrap());
        }
    }
    t.complete_job(pb::CompleteJobRequest {
        lease: Some(lease.clone()),
        outcome: pb::Outcome::Done as i32,
        metrics_json: metrics.into(),
        steps_done: 4096,
        reason: String::new(),
    })
    .await
    .unwrap();
    drop(tx);
    let _ = commands.message().await;

    while let Some(e) = tokio::time::timeout(STEP, watch.message()).await.expect("the watch ends at DONE").unwrap() {
        if e.kind == pb::EventKind::State as i32 {
            states.push(pb::JobState::try_from(e.state).unwrap());
        }
    }
    assert_eq!(
        states,
        vec![
            pb::JobState::Queued,
            pb::JobState::Preflight,
            pb::JobState::Training,
            pb::JobState::Evaluating,
            pb::JobState::Done
        ],
        "the watch stream shows every phase and ends at DONE"
    );
    let results = c.get_results(pb::GetResultsRequest { job_id: job.id.clone() }).await.unwrap().into_inner();
    assert_eq!(results.metrics_json, metrics);
    let r = results.job.unwrap().result.unwrap();
    assert_eq!((r.sharpe, r.generation), (1.5, 1));
    // Generation 1 is measured over buy-and-hold: the trainer's paired difference and interval.
    let over = r.improvement.expect("an improvement");
    assert_eq!(
        (over.sharpe_difference, over.lo, over.hi, over.significant, over.over_generation),
        (1.0, -0.4, 2.4, false, 0)
    );
    assert_eq!(results.artifacts.len(), 1);

    // A finished job cannot be cancelled; reports under its old lease are refused.
    let err = c.cancel_job(pb::CancelJobRequest { job_id: job.id.clone() }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = t.heartbeat(pb::HeartbeatRequest { lease: Some(lease), steps_done: 0 }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    s.stop().await;
}

#[tokio::test]
async fn an_idle_trainer_gets_a_new_job_at_once_and_priorities_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, mut t) = clients(&s.addr).await;
    let mut t2 = t.clone();
    let waiting = tokio::spawn(async move { acquire(&mut t2, "t-idle", 10_000).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let job = submit(&mut c, spec(&["ETH"])).await;
    let grant = waiting.await.unwrap().expect("the waiting trainer gets the job");
    assert_eq!(grant.job.unwrap().id, job.id);
    assert!(started.elapsed() < Duration::from_secs(5));

    let low = submit(&mut c, spec(&["BTC"])).await;
    let high = submit(&mut c, pb::JobSpec { priority: 5, ..spec(&["BTC"]) }).await;
    let low2 = submit(&mut c, spec(&["BTC"])).await;
    let q = c.get_queue(pb::GetQueueRequest::default()).await.unwrap().into_inner();
    let order: Vec<(&str, u32)> = q.queued.iter().map(|j| (j.id.as_str(), j.queue_position)).collect();
    assert_eq!(order, vec![(high.id.as_str(), 1), (low.id.as_str(), 2), (low2.id.as_str(), 3)]);
    assert_eq!(q.running.len(), 1);
    assert_eq!(acquire(&mut t, "t-2", 0).await.unwrap().job.unwrap().id, high.id);
    s.stop().await;
}

#[tokio::test]
async fn bad_submissions_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, _) = clients(&s.addr).await;
    let cases = [
        (spec(&["DOGE"]), "DOGE"),
        (spec(&[]), "no symbols"),
        (pb::JobSpec { features: vec!["volume".into()], ..spec(&["BTC"]) }, "volume"),
        (pb::JobSpec { algorithm: "dqn".into(), ..spec(&["BTC"]) }, "dqn"),
        (spec(&["BTC", "btc"]), "twice"),
        (pb::JobSpec { overrides: [("ppo.gamma".to_string(), "2".to_string())].into(), ..spec(&["BTC"]) }, "gamma"),
        (pb::JobSpec { overrides: [("ppo.nope".to_string(), "1".to_string())].into(), ..spec(&["BTC"]) }, "nope"),
        (pb::JobSpec { max_duration_seconds: -1.0, ..spec(&["BTC"]) }, "max_duration_seconds"),
    ];
    for (bad, needle) in cases {
        let err = c.submit_job(pb::SubmitJobRequest { spec: Some(bad) }).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(needle), "{needle}: {}", err.message());
    }
    let err = c.get_job(pb::GetJobRequest { job_id: "../../etc/passwd".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed =
        c.list_jobs(pb::ListJobsRequest { limit: 10, state: 0, ..Default::default() }).await.unwrap().into_inner();
    assert!(listed.jobs.is_empty());
    let dirs = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(dirs, 0, "nothing stored for rejected submissions");
    s.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, _) = clients(&s.addr).await;
    let keyed = pb::JobSpec { idempotency_key: "nightly-2026-11-29".into(), ..spec(&["BTC"]) };
    let a = c.submit_job(pb::SubmitJobRequest { spec: Some(keyed.clone()) }).await.unwrap().into_inner();
    let b = c.submit_job(pb::SubmitJobRequest { spec: Some(keyed) }).await.unwrap().into_inner();
    assert!(a.created && !b.created);
    assert_eq!(a.job.unwrap().id, b.job.unwrap().id);
    assert_eq!(c.list_jobs(pb::ListJobsRequest::default()).await.unwrap().into_inner().jobs.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn an_expired_lease_requeues_the_job_and_fences_the_old_trainer() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |c| {
        c.lease_ttl_ms = 300;
        c.retry_backoff_ms = 50;
        c.max_attempts = 2;
    })
    .await;
    let (mut c, mut t) = clients(&s.addr).await;
    let job = submit(&mut c, spec(&["BTC"])).await;
    let first = acquire(&mut t, "t-dead", 0).await.unwrap();
    let old = first.lease.unwrap();
    // No heartbeats: the lease expires and the job is re-queued with the reason recorded.
    let second = acquire(&mut t, "t-alive", 5_000).await.expect("re-queued after the lease expired");
    let lease = second.lease.unwrap();
    assert_eq!((lease.job_id.as_str(), lease.attempt), (job.id.as_str(), 2));
    let err = t.heartbeat(pb::HeartbeatRequest { lease: Some(old.clone()), steps_done: 0 }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = t
        .complete_job(pb::CompleteJobRequest {
            lease: Some(old),
            outcome: pb::Outcome::Done as i32,
            metrics_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "a stale trainer cannot overwrite the result");
    // The second attempt dies too: after max_attempts the job fails with every reason.
    let view = poll_job(&mut c, &job.id, "terminal", |j| {
        matches!(state(j), pb::JobState::Done | pb::JobState::Failed | pb::JobState::Cancelled)
    })
    .await;
    assert_eq!(state(&view), pb::JobState::Failed);
    assert!(view.error.contains("attempt 1") && view.error.contains("attempt 2"), "{}", view.error);
    s.stop().await;
}

#[tokio::test]
async fn cancel_stops_queued_jobs_at_once_and_reaches_running_trainers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, mut t) = clients(&s.addr).await;
    let running = submit(&mut c, spec(&["BTC"])).await;
    let queued = submit(&mut c, spec(&["ETH"])).await;
    let lease = acquire(&mut t, "t-1", 0).await.unwrap().lease.unwrap();

    let v = c.cancel_job(pb::CancelJobRequest { job_id: queued.id.clone() }).await.unwrap().into_inner();
    assert_eq!(state(&v), pb::JobState::Cancelled);
    let again = c.cancel_job(pb::CancelJobRequest { job_id: queued.id.clone() }).await.unwrap().into_inner();
    assert_eq!(state(&again), pb::JobState::Cancelled, "cancel is idempotent");

    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut commands = t.stream_events(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    tx.send(pb::TrainerEvent {
        lease: Some(lease.clone()),
        state: pb::JobState::Training as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    poll_job(&mut c, &running.id, "TRAINING", |j| state(j) == pb::JobState::Training).await;
    // A stream under a forged (or stale) lease is told its lease is lost, and does not take the
    // job's commands away from the holder.
    let (forged_tx, forged_rx) = tokio::sync::mpsc::channel(8);
    let mut forged =
        t.stream_events(tokio_stream::wrappers::ReceiverStream::new(forged_rx)).await.unwrap().into_inner();
    let forged_lease = pb::Lease { lease_id: "forged".into(), trainer_id: "t-evil".into(), ..lease.clone() };
    forged_tx.send(pb::TrainerEvent { lease: Some(forged_lease), ..Default::default() }).await.unwrap();
    let cmd = tokio::time::timeout(STEP, forged.message()).await.unwrap().unwrap().unwrap();
    assert!(cmd.lease_lost && !cmd.cancel, "{cmd:?}");
    let v = c.cancel_job(pb::CancelJobRequest { job_id: running.id.clone() }).await.unwrap().into_inner();
    assert_eq!(state(&v), pb::JobState::Training, "a running job ends when its trainer stops");
    let cmd = tokio::time::timeout(STEP, commands.message()).await.unwrap().unwrap().unwrap();
    assert!(cmd.cancel, "the trainer learns of the cancel on its event stream");
    let hb =
        t.heartbeat(pb::HeartbeatRequest { lease: Some(lease.clone()), steps_done: 0 }).await.unwrap().into_inner();
    assert!(hb.cancel_requested, "and on its heartbeat");
    t.complete_job(pb::CompleteJobRequest {
        lease: Some(lease),
        outcome: pb::Outcome::Cancelled as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let v = c.get_job(pb::GetJobRequest { job_id: running.id.clone() }).await.unwrap().into_inner();
    assert_eq!(state(&v), pb::JobState::Cancelled);
    s.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_every_job_and_lets_the_running_trainer_continue() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |_| {}).await;
    let (mut c, mut t) = clients(&s.addr).await;
    let a = submit(&mut c, spec(&["BTC"])).await;
    let b = submit(&mut c, spec(&["ETH"])).await;
    let lease = acquire(&mut t, "t-1", 0).await.unwrap().lease.unwrap();
    t.upload_checkpoint(pb::UploadCheckpointRequest {
        lease: Some(lease.clone()),
        steps_done: 2048,
        data: vec![7; 100],
        validation_sharpe: Some(0.5),
    })
    .await
    .unwrap();
    let addr = s.addr.clone();
    s.stop().await;

    // Same port is not guaranteed free; a new scheduler on the same runs/ is what matters.
    let s = start(dir.path(), |_| {}).await;
    let _ = addr;
    let (mut c, mut t) = clients(&s.addr).await;
    let jobs = c.list_jobs(pb::ListJobsRequest::default()).await.unwrap().into_inner().jobs;
    let ids: std::collections::HashSet<_> = jobs.iter().map(|j| j.id.clone()).collect();
    assert!(ids.contains(&a.id) && ids.contains(&b.id));
    // The trainer that held `a` keeps its lease across the restart.
    t.heartbeat(pb::HeartbeatRequest { lease: Some(lease.clone()), steps_done: 3000 })
        .await
        .expect("lease survives the restart");
    // The other job is still queued and dispatches.
    let g = acquire(&mut t, "t-2", 0).await.unwrap();
    assert_eq!(g.job.unwrap().id, b.id);
    // Watch resumes by sequence across the restart, without repeats.
    let mut w =
        c.watch_job(pb::WatchJobRequest { job_id: a.id.clone(), after_sequence: 1 }).await.unwrap().into_inner();
    let snap = w.message().await.unwrap().unwrap();
    assert_eq!(snap.kind, pb::EventKind::Snapshot as i32);
    let next = w.message().await.unwrap().unwrap();
    assert_eq!(next.sequence, 2);
    s.stop().await;
}

#[tokio::test]
async fn an_unreadable_checkpoint_is_skipped_for_an_older_one_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), |c| c.retry_backoff_ms = 0).await;
    let (mut c, mut t) = clients(&s.addr).await;
    let job = submit(&mut c, spec(&["BTC"])).await;
    let lease = acquire(&mut t, "t-1", 0).await.unwrap().lease.unwrap();
    for (steps, byte) in [(1024, 1u8), (2048, 2u8)] {
        t.upload_checkpoint(pb::UploadCheckpointRequest {
            lease: Some(lease.clone()),
            steps_done: steps,
            data: vec![byte; 64],
            validation_sharpe: None,
        })
        .await
        .unwrap();
    }
    let handed_back = |lease: pb::Lease| pb::CompleteJobRequest {
        lease: Some(lease),
        outcome: pb::Outcome::HandedBack as i32,
        reason: "shutting down".into(),
        ..Default::default()
    };
    t.complete_job(handed_back(lease)).await.unwrap();

    // The newest checkpoint's file is gone (a damaged disk, a hand that tidied up): the next
    // attempt resumes from the older one, not from step 0, and the job's events say so.
    let checkpoints = dir.path().join(&job.id).join("checkpoints");
    let mut files: Vec<_> = std::fs::read_dir(&checkpoints).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let newest = files.iter().find(|p| std::fs::read(p).unwrap() == vec![2u8; 64]).expect("the newest checkpoint");
    std::fs::remove_file(newest).unwrap();
    let grant = acquire(&mut t, "t-2", 5_000).await.expect("handed back: queued again at once");
    assert_eq!(grant.checkpoint, vec![1u8; 64], "the older checkpoint");

    let mut watch =
        c.watch_job(pb::WatchJobRequest { job_id: job.id.clone(), after_sequence: 0 }).await.unwrap().into_inner();
    let mut said = None;
    while said.is_none() {
        let e = tokio::time::timeout(STEP, watch.message()).await.unwrap().unwrap().unwrap();
        said = e.message.contains("could not be read").then_some(e.message);
    }
    let said = said.unwrap();
    assert!(said.contains("resuming from the older checkpoint"), "{said}");

    // With none left readable, the attempt starts from step 0, and that is said too.
    let lease = grant.lease.unwrap();
    t.complete_job(handed_back(lease)).await.unwrap();
    for f in std::fs::read_dir(&checkpoints).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let grant = acquire(&mut t, "t-3", 5_000).await.expect("queued again");
    assert!(grant.checkpoint.is_empty());
    let mut said = None;
    while said.is_none() {
        let e = tokio::time::timeout(STEP, watch.message()).await.unwrap().unwrap().unwrap();
        said = e.message.contains("step 0").then_some(e.message);
    }
    s.stop().await;
}
