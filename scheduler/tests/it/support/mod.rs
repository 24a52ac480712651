//! What the scheduler's integration tests share: a scheduler running in this process on
//! loopback (gRPC and HTTP), HTTP helpers, and what is stored under `runs/`.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_scheduler::{Config, Listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// Longest any single step of a test may take before it counts as hung.
pub const STEP: Duration = Duration::from_secs(20);

/// A scheduler running in this process.
pub struct Running {
    /// `http://127.0.0.1:port` of the gateway.
    pub http: String,
    /// `http://127.0.0.1:port` of the scheduler's gRPC listener.
    pub grpc: String,
    /// `http://127.0.0.1:port` of the metrics listener.
    pub metrics: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(STEP, self.task).await.expect("the scheduler stops").unwrap().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    pub async fn trainer(&self) -> TrainerServiceClient<Channel> {
        let ch = Channel::from_shared(self.grpc.clone()).unwrap().connect().await.unwrap();
        TrainerServiceClient::new(ch)
    }
}

/// Starts a scheduler (without authentication) storing in `runs`.
pub async fn start(runs: &Path) -> Running {
    start_with(runs, |_| {}).await
}

/// [`start`] with a configuration changed by `tweak`.
pub async fn start_with(runs: &Path, tweak: impl FnOnce(&mut Config)) -> Running {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = |l: &TcpListener| format!("http://{}", l.local_addr().unwrap());
    let (grpc_url, http_url, metrics_url) = (url(&grpc), url(&http), url(&metrics));
    let mut config = Config::local(runs.to_path_buf());
    tweak(&mut config);
    let (tx, rx) = oneshot::channel();
    let listeners = Listeners { grpc, http: Some(http), metrics: Some(metrics) };
    let task = tokio::spawn(skippy_scheduler::run(config, listeners, async move {
        let _ = rx.await;
    }));
    Running { http: http_url, grpc: grpc_url, metrics: metrics_url, stop: Some(tx), task }
}

/// [`start`] with authentication on: clients present `admin`, trainers `trainer`.
pub async fn start_with_secrets(runs: &Path, admin: &str, trainer: &str) -> Running {
    start_with(runs, |config| {
        config.insecure_no_auth = false;
        config.admin_secret = Some(admin.parse().unwrap());
        config.trainer_token = Some(trainer.parse().unwrap());
    })
    .await
}

/// An HTTP client with the step timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(STEP).build().unwrap()
}

/// Status and JSON body of a response.
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

pub async fn get(url: &str) -> (StatusCode, Value) {
    answer(http().get(url).send().await.unwrap()).await
}

pub async fn post(url: &str, body: &str) -> (StatusCode, Value) {
    answer(http().post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap())
        .await
}

pub async fn delete(url: &str) -> (StatusCode, Value) {
    answer(http().delete(url).send().await.unwrap()).await
}

/// Asserts an error response: its status, its code, and words its message must contain.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, code: &str, words: &[&str]) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for w in words {
        assert!(message.contains(w), "message {message:?} should mention {w:?}");
    }
}

/// Every job on disk: a directory of its own, or (while queued) a line of the journal.
pub fn stored_jobs(runs: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(runs)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with("tr_")).collect())
        .unwrap_or_default();
    let journal = std::fs::read_to_string(runs.join("submissions.journal")).unwrap_or_default();
    for line in journal.lines() {
        let id = serde_json::from_str::<Value>(line).unwrap()["id"].as_str().unwrap().to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort();
    ids
}

/// Client and trainer services of `s` (started without authentication), on one connection.
pub async fn grpc_clients(
    s: &Running,
) -> (skippy_proto::v1::training_service_client::TrainingServiceClient<Channel>, TrainerServiceClient<Channel>) {
    let ch = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    (skippy_proto::v1::training_service_client::TrainingServiceClient::new(ch.clone()), TrainerServiceClient::new(ch))
}

/// A `metrics.json` with as much as completion reads: the kept model's validation score, the
/// test Sharpe, and the data it was trained on.
pub fn metrics(validation: f64, sharpe: f64) -> String {
    serde_json::json!({
        "stop_reason": "completed",
        "kept_model_validation_sharpe": validation,
        "data": [["BTC", "ab12"]],
        "evaluation": {"portfolio": {"strategy": {"sharpe": sharpe}, "buy_and_hold": {"sharpe": 0.1}}},
    })
    .to_string()
}

/// A `walk.csv` of `bars` bars from `from_ms`, hourly: the policy earns `edge` a bar more than
/// buy-and-hold, whose returns alternate.
pub fn walk_csv(from_ms: i64, bars: usize, edge: f64) -> String {
    let mut csv = String::from("time_ms,strategy,buy_and_hold,strategy_cost_0bps,strategy_cost_10bps\n");
    for i in 0..bars {
        let bh = if i % 2 == 0 { 0.01 } else { -0.0095 };
        let noise = if i % 3 == 0 { 0.002 } else { -0.001 };
        let r = bh + edge + noise;
        csv.push_str(&format!("{},{r},{bh},{},{}\n", from_ms + i as i64 * 3_600_000, r + 0.0001, r - 0.0001));
    }
    csv
}

/// Completes experiment run `grant` DONE as a fake trainer: `walk.csv` over its fold's own 200
/// hourly bars (earning `edge` a bar over buy-and-hold), then `metrics.json` with `validation`
/// and a test Sharpe of `sharpe` on hourly bars.
pub async fn finish_run(
    t: &mut TrainerServiceClient<Channel>,
    grant: &skippy_proto::v1::JobGrant,
    validation: f64,
    sharpe: f64,
    edge: f64,
) {
    use skippy_proto::v1 as pb;
    let cell = grant.job.as_ref().and_then(|j| j.experiment.clone()).expect("a run carries its cell");
    let walk = walk_csv(1_700_000_000_000 + cell.fold as i64 * 200 * 3_600_000, 200, edge);
    let upload = pb::UploadArtifactRequest { lease: grant.lease.clone(), name: "walk.csv".into(), data: walk.into() };
    t.upload_artifact(upload).await.unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&metrics(validation, sharpe)).unwrap();
    m["evaluation"]["bars_per_year"] = serde_json::json!(8760.0);
    finish(t, grant, &m.to_string()).await;
}

/// Waits until experiment `id` is DONE and returns its results (`GET …/results`).
pub async fn experiment_results(s: &Running, id: &str) -> serde_json::Value {
    eventually("the report", || async {
        let (_, r) = get(&s.url(&format!("/api/training/experiments/{id}/results"))).await;
        (r["experiment"]["state"] == "DONE").then_some(r)
    })
    .await
}

/// Takes the next queued job as trainer `trainer` (waiting up to [`STEP`]) and returns its grant.
pub async fn take(t: &mut TrainerServiceClient<Channel>, trainer: &str) -> skippy_proto::v1::JobGrant {
    use skippy_proto::v1 as pb;
    let request = pb::AcquireJobRequest { trainer_id: trainer.into(), name: trainer.into(), wait_ms: 20_000 };
    t.acquire_job(request).await.unwrap().into_inner().grant.expect("a queued job to take")
}

/// Completes `grant` DONE with `metrics` (a fake trainer: no training).
pub async fn finish(t: &mut TrainerServiceClient<Channel>, grant: &skippy_proto::v1::JobGrant, metrics: &str) {
    use skippy_proto::v1 as pb;
    t.complete_job(pb::CompleteJobRequest {
        lease: grant.lease.clone(),
        outcome: pb::Outcome::Done as i32,
        metrics_json: metrics.into(),
        steps_done: 4096,
        reason: String::new(),
    })
    .await
    .unwrap();
}

/// Waits until `check` returns something, polling, for at most [`STEP`].
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A standalone `skippy-gateway` process in front of the scheduler at `grpc_url`, killed when
/// dropped.
pub struct StandaloneGateway {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub port: u16,
}

impl StandaloneGateway {
    /// Starts one on a free loopback port with `args` besides `--http-addr`, and returns once its
    /// `/healthz` answers (a fresh process: bounded retries, not a guess).
    pub async fn start(grpc_url: &str, args: &[&str]) -> StandaloneGateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_skippy-gateway"))
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("SKIPPY_SCHEDULER", grpc_url)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut gateway = StandaloneGateway { child, url: format!("http://127.0.0.1:{port}"), port };
        let deadline = tokio::time::Instant::now() + STEP;
        while http().get(format!("{}/healthz", gateway.url)).send().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the gateway did not start");
            assert!(gateway.child.try_wait().unwrap().is_none(), "the gateway exited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        gateway
    }

    /// Sends it SIGTERM.
    pub fn terminate(&self) {
        let kill = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
    }
}

impl Drop for StandaloneGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
