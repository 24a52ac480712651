//! A scheduler that is shutting down says so on `GET /healthz` (503, draining) while the gRPC
//! calls in flight finish, so load balancers stop sending it work; its HTTP port closes only once
//! they have. The standalone gateway does the same on SIGTERM for its HTTP requests in flight.

use std::time::Duration;

use reqwest::StatusCode;
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::support::*;

#[tokio::test]
async fn healthz_says_draining_while_calls_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path()).await;
    let health = healthz(&s.http).await;
    assert_eq!(health, (StatusCode::OK, "ok\n".to_string()));

    // A call held in flight: an upload whose request never ends (the server waits for its end).
    let channel = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let (upload, messages) = mpsc::channel::<pb::UploadCheckpointRequest>(1);
    upload.send(pb::UploadCheckpointRequest::default()).await.unwrap();
    let path = PathAndQuery::from_static("/skippy.training.v1.TrainerService/UploadCheckpoint");
    let codec = tonic_prost::ProstCodec::<pb::UploadCheckpointRequest, pb::UploadCheckpointResponse>::default();
    let mut held =
        std::pin::pin!(grpc.client_streaming(tonic::Request::new(ReceiverStream::new(messages)), path, codec));
    // One poll sends it; a call answered on the same connection after it proves the server has it.
    assert!(futures::poll!(held.as_mut()).is_pending());
    TrainingServiceClient::new(channel).get_queue(pb::GetQueueRequest::default()).await.unwrap();

    let stop = s.stop.take().unwrap();
    let task = s.task;
    let _ = stop.send(());
    let deadline = tokio::time::Instant::now() + STEP;
    let (status, text) = loop {
        let got = healthz(&s.http).await;
        if got.0 == StatusCode::SERVICE_UNAVAILABLE || tokio::time::Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{text}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("draining"), "{text}");
    assert!(!task.is_finished(), "the scheduler waits for the call in flight");

    // The call ends: the scheduler finishes stopping, and its HTTP port with it.
    drop(upload);
    let _ = tokio::time::timeout(STEP, held).await.expect("the held call ends");
    tokio::time::timeout(STEP, task).await.expect("the scheduler stops").unwrap().unwrap();
    assert!(http().get(format!("{}/healthz", s.http)).send().await.is_err(), "the HTTP port is closed");
}

/// `GET /healthz`: its status and body.
async fn healthz(base: &str) -> (StatusCode, String) {
    let r = http().get(format!("{base}/healthz")).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_gateway_drains_on_sigterm_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    // Generous bounds: only the drain ends the held request, and nothing cuts it short.
    let mut gateway = StandaloneGateway::start(
        &s.grpc,
        &["--shutdown-grace-secs", "300", "--http-body-timeout-secs", "600", "--http-idle-timeout-secs", "600"],
    )
    .await;
    let (url, port) = (gateway.url.clone(), gateway.port);
    assert_eq!(healthz(&url).await, (StatusCode::OK, "ok\n".to_string()));

    // An event stream open before the signal.
    let mut events = http().get(format!("{url}/api/training/events")).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    tokio::time::timeout(STEP, events.chunk()).await.expect("the first event").unwrap().expect("not ended yet");

    // A submission in flight: its headers ask to continue, and the gateway's "100 Continue" says its
    // handler is reading the body; half of it follows, the rest after the signal.
    let body = r#"{"symbols": ["BTC"], "totalSteps": 4096}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /api/training/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        body.len()
    );
    held.write_all(head.as_bytes()).await.unwrap();
    let mut continued = Vec::new();
    while !continued.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let read = tokio::time::timeout(STEP, held.read(&mut byte)).await.expect("the gateway answers").unwrap();
        assert_eq!(read, 1, "the gateway closed the request: {}", String::from_utf8_lossy(&continued));
        continued.push(byte[0]);
    }
    assert!(continued.starts_with(b"HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&continued));
    held.write_all(first.as_bytes()).await.unwrap();

    gateway.terminate();

    // The port stays open, answering /healthz 503 draining; new API requests are refused the same way.
    let deadline = tokio::time::Instant::now() + STEP;
    let (status, text) = loop {
        let got = healthz(&url).await;
        if got.0 == StatusCode::SERVICE_UNAVAILABLE || tokio::time::Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(health["error"]["code"], "unavailable", "{text}");
    assert!(health["error"]["message"].as_str().unwrap().starts_with("draining"), "{text}");
    let refused = get(&format!("{url}/api/training/queue")).await;
    assert_error(&refused, 503, "unavailable", &["draining"]);

    // The event stream ends, cleanly (not cut off).
    while let Some(_event) =
        tokio::time::timeout(STEP, events.chunk()).await.expect("the event stream ends").expect("cleanly")
    {}
    assert!(gateway.child.try_wait().unwrap().is_none(), "the gateway waits for the submission in flight");

    // The submission in flight finishes: accepted, and stored by the scheduler.
    held.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, held.read_to_end(&mut answer)).await.expect("answered and closed").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let job = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let job: serde_json::Value = serde_json::from_str(job).unwrap();
    let (code, stored) = get(&s.url(&format!("/api/training/jobs/{}/status", job["id"].as_str().unwrap()))).await;
    assert_eq!((code, &stored["state"]), (StatusCode::OK, &serde_json::json!("QUEUED")), "{stored}");

    // Then the gateway exits, 0, and its port is closed.
    let exited = tokio::task::spawn_blocking(move || {
        let status = gateway.child.wait();
        (status, gateway)
    });
    let (status, _gateway) = tokio::time::timeout(STEP, exited).await.expect("the gateway exits").unwrap();
    assert!(status.unwrap().success(), "exit status 0");
    assert!(http().get(format!("{url}/healthz")).send().await.is_err(), "the HTTP port is closed");
    s.stop().await;
}
