//! The scheduler-wide stream of job changes, over real gRPC (`WatchJobs`) and HTTP
//! (`GET /api/training/events`) on loopback, with a scripted trainer driving the jobs:
//!
//! - a new watch starts with a reset; every phase of every job (new jobs included) follows, in
//!   one gap-free order, each state change carrying the job as of that change;
//! - a resume from a position misses nothing and repeats nothing; another epoch or a position
//!   never handed out gets a reset; filters by job and by kind;
//! - a watcher that stops reading while thousands of changes happen holds nothing up, and is
//!   told to read the jobs again (a reset) when it reads on;
//! - the SSE form: ids `<epoch>:<sequence>`, `Last-Event-ID` resumes, malformed positions are a
//!   400, and a stream past its lifetime ends cleanly.

use std::collections::BTreeMap;

use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::support::{self, Running, STEP, assert_error, http, start, start_with};

async fn client(s: &Running) -> TrainingServiceClient<Channel> {
    let ch = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    TrainingServiceClient::new(ch).max_decoding_message_size(usize::MAX)
}

async fn submit(c: &mut TrainingServiceClient<Channel>, symbol: &str) -> pb::Job {
    let spec = pb::JobSpec { symbols: vec![symbol.into()], total_steps: 4096, ..Default::default() };
    c.submit_job(pb::SubmitJobRequest { spec: Some(spec) }).await.unwrap().into_inner().job.unwrap()
}

async fn watch(c: &mut TrainingServiceClient<Channel>, request: pb::WatchJobsRequest) -> Streaming<pb::JobsEvent> {
    c.watch_jobs(request).await.unwrap().into_inner()
}

async fn next(stream: &mut Streaming<pb::JobsEvent>) -> pb::JobsEvent {
    tokio::time::timeout(STEP, stream.message())
        .await
        .expect("a message within the step")
        .expect("the stream is healthy")
        .expect("the stream goes on")
}

fn kind(e: &pb::JobsEvent) -> pb::JobsEventKind {
    pb::JobsEventKind::try_from(e.kind).unwrap()
}

fn state_of(e: &pb::JobsEvent) -> Option<pb::JobState> {
    let event = e.event.as_ref()?;
    (event.kind == pb::EventKind::State as i32).then(|| pb::JobState::try_from(event.state).unwrap())
}

/// Reads changes until `until` holds of one, returning every message read (that one included).
async fn read_until(
    stream: &mut Streaming<pb::JobsEvent>,
    until: impl Fn(&pb::JobsEvent) -> bool,
) -> Vec<pb::JobsEvent> {
    let mut seen = Vec::new();
    loop {
        let e = next(stream).await;
        let done = until(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn is_state(job_id: &str, state: pb::JobState) -> impl Fn(&pb::JobsEvent) -> bool + '_ {
    move |e| e.event.as_ref().is_some_and(|ev| ev.job_id == job_id) && state_of(e) == Some(state)
}

#[tokio::test]
async fn every_phase_of_every_job_arrives_in_one_order_and_a_resume_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut c = client(&s).await;
    let mut t: TrainerServiceClient<Channel> = s.trainer().await;

    let mut feed = watch(&mut c, pb::WatchJobsRequest::default()).await;
    let reset = next(&mut feed).await;
    assert_eq!(kind(&reset), pb::JobsEventKind::Reset, "a new watch starts with a reset: {reset:?}");
    assert!(reset.reason.contains("new watch"), "{}", reset.reason);
    let epoch = reset.epoch.clone();
    assert_eq!(epoch.len(), 16);

    // Five jobs (more than the three the old list page could follow at once), held by one
    // trainer, all running at the same time.
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(submit(&mut c, "SYN-EDGE").await.id);
    }
    let mut leases = Vec::new();
    for _ in 0..5 {
        let grant = t
            .acquire_job(pb::AcquireJobRequest { trainer_id: "t-feed".into(), name: "feed".into(), wait_ms: 5000 })
            .await
            .unwrap()
            .into_inner()
            .grant
            .expect("a queued job is granted");
        leases.push(grant.lease.unwrap());
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let _commands = t.stream_events(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap();
    let report = |lease: &pb::Lease, state: pb::JobState, steps_done: u64| pb::TrainerEvent {
        lease: Some(lease.clone()),
        state: state as i32,
        percent: 50.0,
        message: "working".into(),
        steps_done,
        steps_per_sec: 1000.0,
        stats: None,
    };
    for lease in &leases {
        tx.send(report(lease, pb::JobState::Training, 0)).await.unwrap();
        tx.send(report(lease, pb::JobState::Unspecified, 2048)).await.unwrap();
        tx.send(report(lease, pb::JobState::Evaluating, 4096)).await.unwrap();
    }
    let mut seen = Vec::new();
    for lease in &leases {
        // The stream itself says when a job's reports have landed: then it may complete.
        seen.extend(read_until(&mut feed, is_state(&lease.job_id, pb::JobState::Evaluating)).await);
        t.complete_job(pb::CompleteJobRequest {
            lease: Some(lease.clone()),
            outcome: pb::Outcome::Failed as i32,
            reason: "scripted end".into(),
            metrics_json: String::new(),
            steps_done: 4096,
        })
        .await
        .unwrap();
    }
    for id in &ids {
        if !seen.iter().any(is_state(id, pb::JobState::Failed)) {
            seen.extend(read_until(&mut feed, is_state(id, pb::JobState::Failed)).await);
        }
    }

    // One order: positions go up by one from the reset's (nothing is filtered here).
    for (i, e) in seen.iter().enumerate() {
        assert_eq!(kind(e), pb::JobsEventKind::Change, "{e:?}");
        assert_eq!(e.sequence, reset.sequence + 1 + i as u64, "gap-free positions");
        assert_eq!(e.epoch, epoch);
    }
    // Every job went through every phase, in order, each change carrying the job as it was.
    let mut phases: BTreeMap<&str, Vec<pb::JobState>> = BTreeMap::new();
    let mut last_sequence: BTreeMap<&str, u64> = BTreeMap::new();
    let mut progress = 0;
    for e in &seen {
        let event = e.event.as_ref().unwrap();
        let previous = last_sequence.insert(&event.job_id, event.sequence).unwrap_or(0);
        assert!(event.sequence > previous, "a job's own events keep their order: {e:?}");
        match state_of(e) {
            Some(state) => {
                phases.entry(&event.job_id).or_default().push(state);
                let job = event.job.as_ref().expect("a state change carries the job");
                assert_eq!(
                    (job.id.as_str(), job.state, job.last_sequence),
                    (event.job_id.as_str(), event.state, event.sequence)
                );
                assert_eq!(job.spec.as_ref().unwrap().symbols, ["SYN-EDGE"]);
                assert!(job.resolved_spec_json.is_empty(), "the feed leaves the resolved spec out");
            }
            None => {
                assert_eq!(event.kind, pb::EventKind::Progress as i32, "only states and progress: {e:?}");
                assert!(event.job.is_none());
                progress += 1;
            }
        }
    }
    use pb::JobState::*;
    for id in &ids {
        assert_eq!(phases[id.as_str()], [Queued, Preflight, Training, Evaluating, Failed], "job {id}");
    }
    assert!(progress >= 1, "progress reaches the stream too");

    // A resume from the middle continues exactly where it was: no reset, nothing missed or repeated.
    let middle = &seen[seen.len() / 2];
    let mut resumed = watch(
        &mut c,
        pb::WatchJobsRequest { after_sequence: middle.sequence, epoch: epoch.clone(), ..Default::default() },
    )
    .await;
    for expected in &seen[seen.len() / 2 + 1..] {
        let got = next(&mut resumed).await;
        assert_eq!((got.sequence, &got.event), (expected.sequence, &expected.event));
    }

    // Filters: one job's state changes only.
    let only = pb::WatchJobsRequest {
        after_sequence: reset.sequence,
        epoch: epoch.clone(),
        job_ids: vec![ids[2].clone()],
        states_only: true,
    };
    let mut filtered = watch(&mut c, only).await;
    let mut states = Vec::new();
    while states.len() < 5 {
        let e = next(&mut filtered).await;
        assert_eq!(e.event.as_ref().unwrap().job_id, ids[2]);
        states.push(state_of(&e).expect("states only"));
    }
    assert_eq!(states, [Queued, Preflight, Training, Evaluating, Failed]);

    // Another scheduler run's position, or one never handed out: a reset at the head.
    for (after_sequence, epoch) in [(3, "00000000deadbeef".to_string()), (1_000_000, epoch.clone())] {
        let mut stale = watch(&mut c, pb::WatchJobsRequest { after_sequence, epoch, ..Default::default() }).await;
        let first = next(&mut stale).await;
        assert_eq!(kind(&first), pb::JobsEventKind::Reset, "{first:?}");
        assert_eq!(first.sequence, seen.last().unwrap().sequence, "it continues from the head");
    }

    // Too many job ids is refused, saying how many.
    let err =
        c.watch_jobs(pb::WatchJobsRequest { job_ids: vec!["x".into(); 1001], ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("1001"), "{}", err.message());
    s.stop().await;
}

#[tokio::test]
async fn a_watcher_that_stops_reading_holds_nothing_up_and_is_reset_when_it_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut c = client(&s).await;
    // The stalled watcher on a connection of its own, with HTTP/2's smallest windows: what
    // piles up for it is then the scheduler's to bound, not the client's buffers.
    let small = Channel::from_shared(s.grpc.clone())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut idle = watch(&mut TrainingServiceClient::new(small), pb::WatchJobsRequest::default()).await;
    let reset = next(&mut idle).await;
    assert_eq!(kind(&reset), pb::JobsEventKind::Reset);

    // More changes than the scheduler keeps (4096), while `idle` reads nothing.
    let submitted = 6_000;
    let mut tasks = Vec::new();
    for part in 0..8 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..submitted / 8 + usize::from(part < submitted % 8) {
                submit(&mut c, "BTC").await;
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(STEP * 3, task).await.expect("submissions go on while a watcher stalls").unwrap();
    }
    // Another watcher, reading, is not held up either.
    let mut fresh = watch(&mut c, pb::WatchJobsRequest::default()).await;
    let fresh_reset = next(&mut fresh).await;
    assert_eq!(fresh_reset.sequence, submitted as u64, "{fresh_reset:?}");

    // The stalled watcher reads on: what was buffered for it, then a reset saying why.
    let mut buffered = 0;
    let told = loop {
        let e = next(&mut idle).await;
        if kind(&e) == pb::JobsEventKind::Reset {
            break e;
        }
        buffered += 1;
        assert!(buffered < submitted, "a stalled watcher must be reset, not fed everything");
    };
    assert!(told.reason.contains("fell more than 4096 changes behind"), "{}", told.reason);
    let newest = submit(&mut c, "ETH").await;
    let after = read_until(&mut idle, |e| e.event.as_ref().is_some_and(|ev| ev.job_id == newest.id)).await;
    assert!(after.iter().all(|e| e.sequence > told.sequence), "it goes on from the head");
    s.stop().await;
}

/// Reads server-sent events from `body` until `until` holds of one: (event name, id, data).
async fn read_sse(
    body: &mut reqwest::Response,
    buffer: &mut String,
    until: impl Fn(&str, &str, &serde_json::Value) -> bool,
) -> Vec<(String, String, serde_json::Value)> {
    let mut events = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = ("message".to_string(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().into();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().into();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data).unwrap();
            let done = until(&name, &id, &value);
            events.push((name, id, value));
            if done {
                return events;
            }
        }
        let chunk = tokio::time::timeout(STEP, body.chunk()).await.expect("an event within the step");
        let chunk = chunk.expect("the stream is healthy").expect("the stream goes on");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn the_sse_form_resumes_by_last_event_id_refuses_bad_positions_and_ends_after_its_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |config| config.event_stream_max_secs = 2).await;
    let url = s.url("/api/training/events");
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response;
    let mut buffer = String::new();
    let first = read_sse(&mut body, &mut buffer, |_, _, _| true).await.remove(0);
    let (name, reset_id, data) = first;
    assert_eq!(name, "reset", "{data}");
    assert_eq!(data["kind"], "RESET");
    let epoch = data["epoch"].as_str().unwrap().to_string();
    assert_eq!(reset_id, format!("{epoch}:{}", data["sequence"]));

    let mut c = client(&s).await;
    let job = submit(&mut c, "ETH").await;
    let got = read_sse(&mut body, &mut buffer, |_, _, v| v["event"]["jobId"] == job.id).await;
    let (name, id, change) = got.last().unwrap();
    assert_eq!(name, "message");
    assert_eq!(change["kind"], "CHANGE");
    assert_eq!(change["event"]["state"], "QUEUED");
    assert_eq!(change["event"]["job"]["spec"]["symbols"][0], "ETH");
    assert_eq!(*id, format!("{epoch}:{}", change["sequence"]));

    // The lifetime (2 s here) ends the stream cleanly.
    let ended =
        tokio::time::timeout(STEP, async { while body.chunk().await.expect("a clean end, not an error").is_some() {} })
            .await;
    assert!(ended.is_ok(), "the stream ends after its lifetime");

    // Resuming from the reset's position replays the change, without a reset.
    let mut body = http().get(&url).header("last-event-id", &reset_id).send().await.unwrap();
    let mut buffer = String::new();
    let again = read_sse(&mut body, &mut buffer, |_, _, _| true).await.remove(0);
    assert_eq!((again.0.as_str(), &again.2["event"]["jobId"]), ("message", &serde_json::json!(job.id)));

    // Bad positions and parameters are a 400 that says what and where; nothing streams.
    for (header, query, words) in [
        (Some("12"), "", &["Last-Event-ID", "<epoch>:<sequence>"][..]),
        (None, "?after=zz:1", &["after", "\"zz:1\""][..]),
        (None, "?after=abc:-1", &["after"][..]),
        (None, "?statesOnly=yes", &["statesOnly", "true or false"][..]),
        (None, "?since=3", &["since"][..]),
    ] {
        let mut request = http().get(format!("{url}{query}"));
        if let Some(h) = header {
            request = request.header("last-event-id", h);
        }
        let got = support::answer(request.send().await.unwrap()).await;
        assert_error(&got, 400, "invalid_argument", words);
    }
    s.stop().await;
}
