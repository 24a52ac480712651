//! The REST gateway over real HTTP, in front of a real scheduler on loopback: every route, the
//! status codes of every kind of error, server-sent events, the blocking real-session call,
//! authorization passthrough, and a scheduler that cannot be reached.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_proto::v1::training_service_server::TrainingServiceServer;
use skippy_scheduler::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::support::*;

async fn acquire(t: &mut TrainerServiceClient<Channel>, wait_ms: u32) -> pb::JobGrant {
    t.acquire_job(pb::AcquireJobRequest { trainer_id: "t-gw".into(), name: "test".into(), wait_ms })
        .await
        .unwrap()
        .into_inner()
        .grant
        .expect("a queued job is granted")
}

async fn complete(t: &mut TrainerServiceClient<Channel>, grant: &pb::JobGrant, outcome: pb::Outcome, metrics: &str) {
    t.complete_job(pb::CompleteJobRequest {
        lease: grant.lease.clone(),
        outcome: outcome as i32,
        reason: if outcome == pb::Outcome::Failed { "preflight: no data".into() } else { String::new() },
        metrics_json: metrics.into(),
        steps_done: 1000,
    })
    .await
    .unwrap();
}

/// Job directories under `runs/`.
const SPEC: &str = r#"{"symbols":["BTC"],"totalSteps":20000,"features":["price"],"seed":1,"priority":0,
    "maxDurationSeconds":3600,"idempotencyKey":"k","overrides":{"ppo.learning_rate":"1e-4"}}"#;

const METRICS: &str = r#"{"stop_reason":"duration_limit","evaluation":{"portfolio":{"strategy":{"sharpe":1.25},"buy_and_hold":{"sharpe":0.5},"edge_significant":true}}}"#;

#[tokio::test]
async fn jobs_are_submitted_inspected_listed_queued_and_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;

    // Submit: 202, Location, the job.
    let r = http()
        .post(s.url("/api/training/jobs"))
        .header("content-type", "application/json")
        .body(SPEC)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, job) = answer(r).await;
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tr_") && id.len() == "tr_1754727123_a1b2c3d4".len(), "{id}");
    assert_eq!(location, format!("/api/training/jobs/{id}/status"));
    assert_eq!(job["created"], true);
    assert_eq!(job["state"], "QUEUED");
    assert_eq!(job["queuePosition"], 1);
    assert_eq!(job["totalSteps"], 20000);
    assert_eq!(job["spec"]["symbols"], json!(["BTC"]));
    assert_eq!(job["spec"]["seed"], 1);
    assert_eq!(job["spec"]["maxDurationSeconds"], 3600.0);
    assert_eq!(job["spec"]["overrides"]["ppo.learning_rate"], "1e-4");
    let learning_rate = job["resolvedSpec"]["ppo"]["learning_rate"].as_f64().unwrap();
    assert!((learning_rate - 1e-4).abs() < 1e-9, "the override is resolved: {}", job["resolvedSpec"]);
    assert_eq!(job["history"][0]["state"], "QUEUED");

    // The same idempotency key returns the same job.
    let (code, again) = post(&s.url("/api/training/jobs"), SPEC).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!((again["id"].as_str(), &again["created"]), (Some(id.as_str()), &json!(false)));
    // The same key with another spec is a conflict naming the first job, not that job.
    let other = SPEC.replace(r#""priority":0"#, r#""priority":4"#);
    assert_ne!(other, SPEC, "the test changes the spec");
    let conflict = post(&s.url("/api/training/jobs"), &other).await;
    assert_error(&conflict, 409, "failed_precondition", &["idempotency key \"k\"", &id, "different spec"]);

    // Integers as strings (the proto JSON mapping), snake_case names, override values as JSON.
    let (code, second) = post(
        &s.url("/api/training/jobs"),
        r#"{"symbols":["eth"],"total_steps":"30000","seed":"7","priority":"2","overrides":{"env.long_only":true}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{second}");
    let second_id = second["id"].as_str().unwrap().to_string();
    assert_eq!((&second["totalSteps"], &second["spec"]["seed"]), (&json!(30000), &json!(7)));
    assert_eq!(second["spec"]["symbols"], json!(["ETH"]));
    assert_eq!(second["spec"]["priority"], 2);
    assert_eq!(second["resolvedSpec"]["env"]["long_only"], true, "{}", second["resolvedSpec"]);

    // Status.
    let (code, status) = get(&s.url(&location)).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!((status["id"].as_str(), &status["state"]), (Some(id.as_str()), &json!("QUEUED")));
    // The higher priority runs first.
    assert_eq!(status["queuePosition"], 2);

    // List: newest first, limit, state filter.
    let (code, list) = get(&s.url("/api/training/jobs")).await;
    assert_eq!(code, StatusCode::OK);
    let ids: Vec<&str> = list["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![second_id.as_str(), id.as_str()]);
    let (_, list) = get(&s.url("/api/training/jobs?limit=1")).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(list["jobs"][0]["id"], second_id.as_str());
    let (_, list) = get(&s.url("/api/training/jobs?state=queued&limit=20")).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2);
    let (code, list) = get(&s.url("/api/training/jobs?state=JOB_STATE_DONE")).await;
    assert_eq!((code, list), (StatusCode::OK, json!({"jobs": []})));
    assert_error(&get(&s.url("/api/training/jobs?limit=abc")).await, 400, "invalid_argument", &["limit", "abc"]);
    assert_error(&get(&s.url("/api/training/jobs?limit=0")).await, 400, "invalid_argument", &["limit"]);
    assert_error(&get(&s.url("/api/training/jobs?limit=5000")).await, 400, "invalid_argument", &["5000"]);
    assert_error(&get(&s.url("/api/training/jobs?state=sleeping")).await, 400, "invalid_argument", &["sleeping"]);
    assert_error(&get(&s.url("/api/training/jobs?colour=red")).await, 400, "invalid_argument", &["colour"]);

    // Queue: dispatch order.
    let (code, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(code, StatusCode::OK);
    let queued: Vec<&str> = queue["queued"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(queued, vec![second_id.as_str(), id.as_str()]);
    assert_eq!((&queue["running"], &queue["trainers"]), (&json!([]), &json!([])));

    // Results of a job not done yet: no metrics.
    let (code, results) = get(&s.url(&format!("/api/training/jobs/{id}/results"))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!((&results["metrics"], &results["artifacts"]), (&Value::Null, &json!([])));
    assert_eq!(results["job"]["id"], id.as_str());

    // Cancel: 200 with the cancelled job, and again (idempotent).
    let (code, cancelled) = delete(&s.url(&format!("/api/training/jobs/{id}"))).await;
    assert_eq!(code, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "CANCELLED");
    let (code, again) = delete(&s.url(&format!("/api/training/jobs/{id}"))).await;
    assert_eq!((code, &again["state"]), (StatusCode::OK, &json!("CANCELLED")));
    let (_, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(queue["queued"].as_array().unwrap().len(), 1);

    // Unknown and malformed ids: 404 on every job route.
    for path in ["tr_1_deadbeef", "..%2F..%2Fetc"] {
        for route in ["status", "results", "events"] {
            let got = get(&s.url(&format!("/api/training/jobs/{path}/{route}"))).await;
            assert_error(&got, 404, "not_found", &["no job"]);
        }
        assert_error(&delete(&s.url(&format!("/api/training/jobs/{path}"))).await, 404, "not_found", &["no job"]);
    }
    assert_error(&get(&s.url("/api/training/jobs/tr_1_deadbeef/status")).await, 404, "not_found", &["tr_1_deadbeef"]);

    // Health is still served beside the gateway.
    let health = http().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!((health.status(), health.text().await.unwrap()), (StatusCode::OK, "ok\n".to_string()));
    s.stop().await;
    // Both jobs were stored, and a restarted scheduler has both.
    let mut expected = vec![id, second_id];
    expected.sort();
    assert_eq!(stored_jobs(dir.path()), expected);
    let s = start(dir.path()).await;
    let (_, list) = get(&s.url("/api/training/jobs")).await;
    let mut listed: Vec<&str> = list["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    listed.sort();
    assert_eq!(listed, expected);
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let jobs = s.url("/api/training/jobs");

    assert_error(&post(&jobs, r#"{"symbols": ["BTC"]"#).await, 400, "invalid_argument", &["parse", "line 1"]);
    assert_error(&post(&jobs, "").await, 400, "invalid_argument", &["empty"]);
    assert_error(&post(&jobs, r#"["BTC"]"#).await, 400, "invalid_argument", &["JSON object"]);
    assert_error(&post(&jobs, r#"{"totalSteps": "abc"}"#).await, 400, "invalid_argument", &["totalSteps", "abc"]);
    assert_error(&post(&jobs, r#"{"totalSteps": -5}"#).await, 400, "invalid_argument", &["totalSteps", "-5"]);
    assert_error(&post(&jobs, r#"{"symbols": "BTC"}"#).await, 400, "invalid_argument", &["symbols", "sequence"]);
    assert_error(&post(&jobs, r#"{"totlSteps": 1}"#).await, 400, "invalid_argument", &["unknown field", "totlSteps"]);
    assert_error(
        &post(&jobs, r#"{"symbols": ["DOGE"]}"#).await,
        400,
        "invalid_argument",
        &["unknown symbol", "DOGE", "BTC"],
    );
    assert_error(
        &post(&jobs, r#"{"symbols": ["BTC"], "features": ["astrology"]}"#).await,
        400,
        "invalid_argument",
        &["astrology"],
    );
    assert_error(
        &post(&jobs, r#"{"symbols": ["BTC"], "overrides": {"ppo.learning_rat": "1"}}"#).await,
        400,
        "invalid_argument",
        &["learning_rat"],
    );
    assert_error(
        &post(&jobs, r#"{"symbols": ["BTC"], "maxDurationSeconds": -1}"#).await,
        400,
        "invalid_argument",
        &["max_duration_seconds"],
    );

    // Too large: 413, whatever the content.
    let big = format!(r#"{{"symbols": ["BTC"], "idempotencyKey": "{}"}}"#, "x".repeat(1 << 20));
    assert_error(&post(&jobs, &big).await, 413, "payload_too_large", &["larger than"]);
    // Not JSON by its content type: 415. No content type is taken as JSON.
    let form = http().post(&jobs).header("content-type", "application/x-www-form-urlencoded").body("a=b");
    assert_error(&answer(form.send().await.unwrap()).await, 415, "unsupported_media_type", &["application/json"]);

    // Real sessions refuse bad durations before submitting anything.
    let session = s.url("/api/training/real-session");
    assert_error(&post(&session, "{}").await, 400, "invalid_argument", &["duration", "required"]);
    assert_error(&post(&session, r#"{"duration": -1}"#).await, 400, "invalid_argument", &["duration", "positive"]);
    assert_error(&post(&session, r#"{"duration": "soon"}"#).await, 400, "invalid_argument", &["duration", "soon"]);
    assert_error(&post(&session, r#"{"duration": 1, "turbo": true}"#).await, 400, "invalid_argument", &["turbo"]);
    assert_error(
        &post(&session, r#"{"duration": 1, "symbols": ["NOPE"]}"#).await,
        400,
        "invalid_argument",
        &["unknown symbol", "NOPE"],
    );

    // Unknown routes and methods: JSON errors too.
    assert_error(&get(&s.url("/api/training/nothing")).await, 404, "not_found", &["no route", "/api/training/nothing"]);
    let put = answer(http().put(&jobs).send().await.unwrap()).await;
    assert_error(&put, 405, "method_not_allowed", &["PUT"]);
    assert_error(
        &get(&s.url("/api/training/jobs/tr_1_deadbeef/events?after=x")).await,
        400,
        "invalid_argument",
        &["after"],
    );

    // Nothing was stored.
    let (code, list) = get(&jobs).await;
    assert_eq!((code, list), (StatusCode::OK, json!({"jobs": []})));
    s.stop().await;
    assert_eq!(stored_jobs(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn cancelling_a_finished_job_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut t = s.trainer().await;
    let (_, job) = post(&s.url("/api/training/jobs"), r#"{"symbols":["BTC"],"totalSteps":4096}"#).await;
    let id = job["id"].as_str().unwrap().to_string();
    let grant = acquire(&mut t, 5000).await;
    assert_eq!(grant.job.as_ref().unwrap().id, id);
    let (_, running) = get(&s.url(&format!("/api/training/jobs/{id}/status"))).await;
    assert_eq!((&running["state"], &running["trainerId"]), (&json!("PREFLIGHT"), &json!("t-gw")));
    let (_, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(queue["running"][0]["id"], id.as_str());
    assert_eq!(queue["trainers"][0]["trainerId"], "t-gw");

    complete(&mut t, &grant, pb::Outcome::Failed, "").await;
    let (_, failed) = get(&s.url(&format!("/api/training/jobs/{id}/status"))).await;
    assert_eq!(failed["state"], "FAILED");
    assert!(failed["error"].as_str().unwrap().contains("preflight: no data"), "{failed}");

    let got = delete(&s.url(&format!("/api/training/jobs/{id}"))).await;
    assert_error(&got, 409, "failed_precondition", &[&id, "FAILED"]);
    let (_, list) = get(&s.url("/api/training/jobs?state=failed")).await;
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    s.stop().await;
}

/// Reads server-sent events from a response.
struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: `id`, `event` name, `data` as JSON.
#[derive(Debug)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: Value,
}

impl EventReader {
    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(Sse { id, event, data: serde_json::from_str(&data).unwrap() });
            }
            let chunk =
                tokio::time::timeout(STEP, self.response.chunk()).await.expect("an event or the end").unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn rest(mut self) -> Vec<Sse> {
        let mut all = Vec::new();
        while let Some(e) = self.next().await {
            all.push(e);
        }
        all
    }
}

async fn open_events(s: &Running, id: &str, last_event_id: Option<&str>) -> EventReader {
    let mut request = http().get(s.url(&format!("/api/training/jobs/{id}/events")));
    if let Some(last) = last_event_id {
        request = request.header("last-event-id", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    EventReader { response, buffer: String::new() }
}

#[tokio::test]
async fn events_stream_the_snapshot_then_every_event_until_the_job_ends() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut t = s.trainer().await;
    let (_, job) = post(&s.url("/api/training/jobs"), r#"{"symbols":["BTC"],"totalSteps":4096}"#).await;
    let id = job["id"].as_str().unwrap().to_string();

    let mut events = open_events(&s, &id, None).await;
    let snapshot = events.next().await.unwrap();
    assert_eq!(snapshot.data["kind"], "SNAPSHOT");
    assert_eq!((snapshot.id.as_deref(), snapshot.event.as_deref()), (Some("0"), None));
    assert_eq!((&snapshot.data["jobId"], &snapshot.data["job"]["id"]), (&json!(id), &json!(id)));
    assert_eq!(snapshot.data["state"], "QUEUED");

    let grant = acquire(&mut t, 5000).await;
    complete(&mut t, &grant, pb::Outcome::Done, METRICS).await;
    let rest = events.rest().await;
    assert!(!rest.is_empty(), "events after the snapshot");
    for (i, e) in rest.iter().enumerate() {
        assert_eq!(e.id.as_deref(), Some((i + 1).to_string().as_str()), "sequences from 1 without gaps: {rest:?}");
        assert_eq!(e.data["sequence"], i + 1);
        assert_eq!(e.data["kind"], "STATE");
    }
    let states: Vec<&str> = rest.iter().map(|e| e.data["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"PREFLIGHT"), "{states:?}");
    let last = rest.last().unwrap();
    assert_eq!(last.data["state"], "DONE");
    assert_eq!(last.data["job"]["result"]["sharpe"], 1.25);
    assert_eq!(last.data["job"]["result"]["stopReason"], "duration_limit");

    // Resuming after an event id replays only what followed it, then ends (the job is over).
    let resumed = open_events(&s, &id, Some("1")).await.rest().await;
    assert_eq!(resumed[0].data["kind"], "SNAPSHOT");
    assert_eq!(resumed[0].data["state"], "DONE");
    let ids: Vec<&str> = resumed[1..].iter().map(|e| e.id.as_deref().unwrap()).collect();
    let expected: Vec<String> = (2..=rest.len()).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
    let bad = answer(
        http()
            .get(s.url(&format!("/api/training/jobs/{id}/events")))
            .header("last-event-id", "x1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&bad, 400, "invalid_argument", &["Last-Event-ID"]);
    // The header wins over `?after=`, but a malformed `after` beside it is still refused (it was
    // ignored until schemathesis sent `?after=18446744073709551616` with `Last-Event-ID: 0`).
    for after in ["18446744073709551616", "x"] {
        let url = s.url(&format!("/api/training/jobs/{id}/events?after={after}"));
        let bad = answer(http().get(url).header("last-event-id", "0").send().await.unwrap()).await;
        assert_error(&bad, 400, "invalid_argument", &["after", after]);
    }

    // Results of the done job: metrics parsed, the job done.
    let (code, results) = get(&s.url(&format!("/api/training/jobs/{id}/results"))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(results["metrics"]["evaluation"]["portfolio"]["strategy"]["sharpe"], 1.25);
    assert_eq!(results["job"]["state"], "DONE");
    s.stop().await;
}

#[tokio::test]
async fn a_real_session_waits_for_its_job_and_answers_with_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut t = s.trainer().await;
    let url = s.url("/api/training/real-session");
    let session = tokio::spawn(async move { post(&url, r#"{"duration": 0.001}"#).await });

    // The trainer's long poll returns when the session's job is queued.
    let grant = acquire(&mut t, 10_000).await;
    let job = grant.job.clone().unwrap();
    let spec = job.spec.clone().unwrap();
    assert_eq!(
        (spec.symbols, spec.features, spec.total_steps),
        (vec!["BTC".into(), "ETH".into()], vec!["price".into()], 1_000_000)
    );
    assert!((grant.max_duration_seconds - 3.6).abs() < 1e-9, "{}", grant.max_duration_seconds);
    assert!(!session.is_finished(), "the call waits for the job");

    complete(&mut t, &grant, pb::Outcome::Done, METRICS).await;
    let (code, body) = tokio::time::timeout(STEP, session).await.unwrap().unwrap();
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["job"]["id"], job.id.as_str());
    assert_eq!(body["job"]["state"], "DONE");
    assert_eq!(body["job"]["result"]["sharpe"], 1.25);
    assert_eq!(body["results"]["metrics"]["stop_reason"], "duration_limit");
    assert!(body["results"]["artifacts"].is_array());
    s.stop().await;
}

#[tokio::test]
async fn a_real_session_reports_a_failed_job_and_a_caller_that_leaves_cancels_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut t = s.trainer().await;

    // A job that fails: the call answers with the error and the job. A failed job is the answer
    // to the request, not a server fault: 422, not 500.
    let url = s.url("/api/training/real-session");
    let session = tokio::spawn(async move {
        post(&url, r#"{"duration": 0.01, "symbols": ["SYN-EDGE"], "steps": "5000", "features": ["price"]}"#).await
    });
    let grant = acquire(&mut t, 10_000).await;
    assert_eq!(grant.job.as_ref().unwrap().total_steps, 5000);
    complete(&mut t, &grant, pb::Outcome::Failed, "").await;
    let got = tokio::time::timeout(STEP, session).await.unwrap().unwrap();
    assert_error(&got, 422, "job_failed", &["failed", "preflight: no data"]);
    assert_eq!(got.1["job"]["state"], "FAILED");

    // A caller that goes away: the job stays queued for a trainer, not cancelled.
    let url = s.url("/api/training/real-session");
    let session = tokio::spawn(async move { post(&url, r#"{"duration": 0.01}"#).await });
    let grant = acquire(&mut t, 10_000).await;
    session.abort();
    let _ = session.await;
    // Give the gateway time to see the connection close: a cancel on disconnect would show here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lease = grant.lease.clone().unwrap();
    let hb = t.heartbeat(pb::HeartbeatRequest { lease: Some(lease), steps_done: 1 }).await.unwrap().into_inner();
    assert!(!hb.cancel_requested);
    complete(&mut t, &grant, pb::Outcome::Done, METRICS).await;
    let id = grant.job.unwrap().id;
    let (_, job) = get(&s.url(&format!("/api/training/jobs/{id}/status"))).await;
    assert_eq!(job["state"], "DONE");
    s.stop().await;
}

/// Serves `router` on a loopback port; returns its base URL.
async fn serve(router: axum::Router) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (url, tx)
}

#[tokio::test]
async fn an_unreachable_scheduler_is_503() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = skippy_scheduler::gateway::lazy_client(&format!("http://{addr}"), None).unwrap();
    let (url, _stop) = serve(skippy_scheduler::gateway::router(client)).await;

    assert_error(
        &get(&format!("{url}/api/training/queue")).await,
        503,
        "unavailable",
        &["could not reach the scheduler"],
    );
    assert_error(&post(&format!("{url}/api/training/jobs"), SPEC).await, 503, "unavailable", &[]);
    assert_error(&get(&format!("{url}/api/training/jobs/tr_1_deadbeef/events")).await, 503, "unavailable", &[]);
    assert_error(
        &post(&format!("{url}/api/training/real-session"), r#"{"duration":1}"#).await,
        503,
        "unavailable",
        &[],
    );
    // Even a malformed request: its secret is checked first, which takes the scheduler.
    assert_error(&post(&format!("{url}/api/training/jobs"), "{").await, 503, "unavailable", &[]);
}

#[tokio::test]
async fn the_authorization_header_reaches_the_scheduler() {
    // A scheduler whose client service demands a token, as the real one will with ADMIN_SECRET.
    let dir = tempfile::tempdir().unwrap();
    let (scheduler, _) = skippy_scheduler::Scheduler::start(Config::local(dir.path().to_path_buf())).unwrap();
    let service = TrainingServiceServer::with_interceptor(
        skippy_scheduler::grpc::clients::Clients::new(scheduler),
        |request: tonic::Request<()>| match request.metadata().get("authorization").map(|v| v.to_str()) {
            Some(Ok("Bearer s3cret")) => Ok(request),
            Some(_) => Err(tonic::Status::permission_denied("wrong token")),
            None => Err(tonic::Status::unauthenticated("missing authorization")),
        },
    );
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let (grpc_stop, grpc_stopped) = oneshot::channel::<()>();
    let grpc_task =
        tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc),
            async move {
                let _ = grpc_stopped.await;
            },
        ));
    let client = skippy_scheduler::gateway::local_client(grpc_addr).unwrap();
    let (url, _stop) = serve(skippy_scheduler::gateway::router(client)).await;
    let queue = format!("{url}/api/training/queue");

    assert_error(&get(&queue).await, 401, "unauthenticated", &["missing authorization"]);
    let wrong = http().get(&queue).header("authorization", "Bearer nope").send().await.unwrap();
    assert_error(&answer(wrong).await, 403, "permission_denied", &["wrong token"]);
    let right = http().get(&queue).header("authorization", "Bearer s3cret").send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let submit = http()
        .post(format!("{url}/api/training/jobs"))
        .header("authorization", "Bearer s3cret")
        .json(&json!({"symbols": ["BTC"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), StatusCode::ACCEPTED);
    let _ = grpc_stop.send(());
    let _ = tokio::time::timeout(STEP, grpc_task).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_standalone_gateway_serves_a_remote_scheduler_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_url = format!("http://{}", grpc.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let config = Config::local(dir.path().to_path_buf());
    let scheduler = tokio::spawn(skippy_scheduler::run(config, skippy_scheduler::Listeners::grpc(grpc), async {
        let _ = rx.await;
    }));
    let mut child = StandaloneGateway::start(&grpc_url, &["--http-header-timeout-secs", "1"]).await;
    let (url, port) = (child.url.clone(), child.port);
    let (code, job) = post(&format!("{url}/api/training/jobs"), r#"{"symbols":["BTC"]}"#).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    let (code, list) = get(&format!("{url}/api/training/jobs")).await;
    assert_eq!((code, &list["jobs"][0]["id"]), (StatusCode::OK, &job["id"]));
    // Its HTTP server is the scheduler's: half a request is cut off at the header timeout.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let connected = tokio::time::Instant::now();
    tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET /healthz HTTP/1.1\r\nHost: 127").await.unwrap();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(STEP, tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut sink)).await;
    assert!(closed.is_ok(), "the gateway closed the slow connection");
    assert!(connected.elapsed() >= Duration::from_millis(900), "not before the timeout: {:?}", connected.elapsed());

    child.terminate();
    // (Waits for the exit on a blocking thread; the guard's kill after that is a no-op.)
    let status = tokio::task::spawn_blocking(move || child.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = tx.send(());
    scheduler.await.unwrap().unwrap();
}
