//! A scheduler that is shutting down says so on `GET /healthz` (503, draining) while the gRPC
//! calls in flight finish, so load balancers stop sending it work; its HTTP port closes only once
//! they have.

use reqwest::StatusCode;
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
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
