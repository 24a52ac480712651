//! Request ids in the logs: the real `skippy-scheduler` with `--log-format json`. A REST call's
//! `x-request-id` comes back on the response and reaches the scheduler's log lines with the job
//! id; a trainer's call carries its trainer id; an id nobody sent is made up, never empty.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use tonic::transport::Channel;

/// How long the scheduler process may take to answer `/healthz`: generous, for a slow, busy
/// machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

const ADMIN: &str = "admin-secret-for-request-ids";
const TRAINER: &str = "trainer-token-for-request-ids";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The JSON log lines whose message is `message`.
fn lines_with<'a>(log: &'a [Value], message: &str) -> Vec<&'a Value> {
    log.iter().filter(|l| l["fields"]["message"] == message).collect()
}

/// The request span of a log line.
fn request_span(line: &Value) -> &Value {
    line["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
        .unwrap_or_else(|| panic!("no request span in {line}"))
}

#[tokio::test]
async fn a_request_id_follows_a_job_from_the_http_call_into_the_schedulers_log() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_port(), free_port());
    let log_path = dir.path().join("scheduler.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skippy-scheduler"))
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}"), "--http-addr", &format!("127.0.0.1:{http}")])
        .arg("--runs-dir")
        .arg(dir.path().join("runs"))
        .args(["--log-format", "json", "--metrics-addr", "off"])
        .env("ADMIN_SECRET", ADMIN)
        .env("SKIPPY_TRAINER_TOKEN", TRAINER)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let deadline = std::time::Instant::now() + START_DEADLINE;
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        // A scheduler that exited will never answer: fail at once, with its log.
        let exited = child.try_wait().unwrap();
        if exited.is_some() || std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the scheduler did not answer /healthz within {START_DEADLINE:?} (exited: {exited:?}); its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A REST submission with a request id: the response carries it back.
    let submit = |id: Option<&'static str>| {
        let mut post = client
            .post(format!("{base}/api/training/jobs"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(r#"{"symbols":["SYN-EDGE"],"totalSteps":4096}"#);
        if let Some(id) = id {
            post = post.header("x-request-id", id);
        }
        post.send()
    };
    let response = submit(Some("req-e2e-1")).await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-request-id"], "req-e2e-1");
    let job_id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // Without one, or with one that could forge log lines, the gateway makes one up.
    let response = submit(None).await.unwrap();
    let made_up = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made_up.len(), 32, "{made_up}");
    assert!(made_up.bytes().all(|b| b.is_ascii_hexdigit()), "{made_up}");

    // A trainer's call: its request id and trainer id reach the grant's log line.
    let channel = Channel::from_shared(format!("http://127.0.0.1:{grpc}")).unwrap().connect().await.unwrap();
    let mut trainer = TrainerServiceClient::new(channel);
    let mut acquire = tonic::Request::new(pb::AcquireJobRequest {
        trainer_id: "t-trace-1".into(),
        name: "tracer".into(),
        wait_ms: 5000,
    });
    acquire.metadata_mut().insert("authorization", format!("Bearer {TRAINER}").parse().unwrap());
    acquire.metadata_mut().insert("x-request-id", "req-trainer-7".parse().unwrap());
    let grant = trainer.acquire_job(acquire).await.unwrap().into_inner().grant.expect("a job is queued");
    assert_eq!(grant.job.unwrap().id, job_id, "first in, first out");

    // A graceful stop; the runtime keeps running meanwhile, so the clients' connections close
    // when the scheduler says it is going away.
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    let text = std::fs::read_to_string(&log_path).unwrap();
    let log: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}")))
        .collect();

    let queued = lines_with(&log, "job queued");
    assert_eq!(queued.len(), 2, "{text}");
    let first = queued.iter().find(|l| l["fields"]["job_id"] == job_id.as_str()).expect("the first job's line");
    let span = request_span(first);
    assert_eq!(span["request_id"], "req-e2e-1", "{first}");
    assert_eq!(span["job_id"], job_id.as_str(), "{first}");
    assert_eq!(span["path"], "/skippy.training.v1.TrainingService/SubmitJob", "{first}");
    let second = queued.iter().find(|l| l["fields"]["job_id"] != job_id.as_str()).unwrap();
    assert_eq!(request_span(second)["request_id"], made_up.as_str(), "{second}");

    let granted = lines_with(&log, "job granted");
    assert_eq!(granted.len(), 1, "{text}");
    let span = request_span(granted[0]);
    assert_eq!(span["request_id"], "req-trainer-7", "{}", granted[0]);
    assert_eq!(span["trainer_id"], "t-trace-1", "{}", granted[0]);
    assert_eq!(span["job_id"], job_id.as_str(), "{}", granted[0]);
    assert!(!text.contains(ADMIN) && !text.contains(TRAINER), "a secret reached the log");
}
