//! The dashboard and the artifact route over real HTTP, in front of a real scheduler with
//! authentication on (no browser: the browser test is `cli/tests/it/e2e_dashboard.rs`): the page
//! and its assets are served without a secret, with their content types; an artifact's content
//! needs the admin secret, is served with its content type, a name that is not a plain
//! artifact name is refused (after the secret) before it reaches the scheduler, and a symbolic
//! link in `runs/` is refused, never followed.

use std::path::Path;

use reqwest::StatusCode;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use tonic::transport::Channel;

use crate::support::{Running, answer, assert_error, http, start_with_secrets};

const ADMIN: &str = "admin-s3cret-for-dashboard-tests";
const TRAINER: &str = "trainer-t0ken-for-dashboard-tests";

async fn start(runs: &Path) -> Running {
    start_with_secrets(runs, ADMIN, TRAINER).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn trainer_request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", bearer(TRAINER).parse().unwrap());
    request
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let pages = [
        ("/", "text/html; charset=utf-8", "<title>skippy-train</title>"),
        ("/dashboard/", "text/html; charset=utf-8", "/dashboard/js/main.js"),
        ("/dashboard", "text/html; charset=utf-8", "/dashboard/style.css"),
        ("/dashboard/js/main.js", "text/javascript; charset=utf-8", "from './list.js'"),
        ("/dashboard/js/api.js", "text/javascript; charset=utf-8", "streamEvents"),
        ("/dashboard/js/format.js", "text/javascript; charset=utf-8", "plainName"),
        ("/dashboard/style.css", "text/css; charset=utf-8", ".badge"),
        ("/dashboard/favicon.svg", "image/svg+xml", "<svg"),
    ];
    for (path, content_type, words) in pages {
        let r = http().get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let headers = r.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        if content_type.starts_with("text/html") {
            let policy = headers["content-security-policy"].to_str().unwrap();
            assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
            assert_eq!(headers["referrer-policy"], "no-referrer");
        }
        let body = r.text().await.unwrap();
        assert!(body.contains(words), "{path} lacks {words:?}");
    }
    // Every embedded file, each script module among them, is served as embedded.
    for &(path, content_type, text) in skippy_scheduler::gateway::dashboard::ASSETS {
        let r = http().get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        assert_eq!(r.text().await.unwrap(), text, "{path}");
    }
    // The API behind it still wants the secret, and unknown pages stay JSON 404s.
    let got = answer(http().get(s.url("/api/training/jobs")).send().await.unwrap()).await;
    assert_error(&got, 401, "unauthenticated", &["ADMIN_SECRET"]);
    for missing in ["/dashboard/missing.js", "/dashboard/js/missing.js", "/dashboard/app.js"] {
        let got = answer(http().get(s.url(missing)).send().await.unwrap()).await;
        assert_error(&got, 404, "not_found", &[&format!("no route GET {missing}")]);
    }
    s.stop().await;
}

#[tokio::test]
async fn artifacts_are_served_to_the_admin_only_and_only_by_plain_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let admin = bearer(ADMIN);

    // A job whose trainer uploads two artifacts and finishes.
    let r = http()
        .post(s.url("/api/training/jobs"))
        .header("authorization", &admin)
        .header("content-type", "application/json")
        .body(r#"{"symbols": ["SYN-EDGE"], "totalSteps": 4096}"#)
        .send()
        .await
        .unwrap();
    let (code, job) = answer(r).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let channel = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    let mut trainer = TrainerServiceClient::new(channel);
    let acquire = pb::AcquireJobRequest { trainer_id: "t-dash".into(), name: "dash".into(), wait_ms: 5000 };
    let grant = trainer.acquire_job(trainer_request(acquire)).await.unwrap().into_inner().grant.expect("a grant");
    let csv = "bar,time_ms,portfolio,portfolio_buy_and_hold\n0,1000,1,1\n1,2000,1.01,0.99\n";
    for (name, data) in [("equity.csv", csv.as_bytes()), ("metrics.json", br#"{"stop_reason":"completed"}"#)] {
        let upload = pb::UploadArtifactRequest { lease: grant.lease.clone(), name: name.into(), data: data.to_vec() };
        trainer.upload_artifact(trainer_request(upload)).await.unwrap();
    }
    let complete = pb::CompleteJobRequest {
        lease: grant.lease.clone(),
        outcome: pb::Outcome::Done as i32,
        metrics_json: r#"{"stop_reason":"completed"}"#.into(),
        steps_done: 4096,
        reason: String::new(),
    };
    trainer.complete_job(trainer_request(complete)).await.unwrap();

    // The admin gets the content, with its content type.
    let url = |name: &str| s.url(&format!("/api/training/jobs/{id}/artifacts/{name}"));
    let r = http().get(url("equity.csv")).header("authorization", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(r.text().await.unwrap(), csv);
    let r = http().get(url("metrics.json")).header("authorization", &admin).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"stop_reason":"completed"}"#);

    // No secret, a wrong one, or the trainer's token: refused.
    let got = answer(http().get(url("equity.csv")).send().await.unwrap()).await;
    assert_error(&got, 401, "unauthenticated", &["ADMIN_SECRET"]);
    let got =
        answer(http().get(url("equity.csv")).header("authorization", bearer("wrong")).send().await.unwrap()).await;
    assert_error(&got, 401, "unauthenticated", &[]);
    let got =
        answer(http().get(url("equity.csv")).header("authorization", bearer(TRAINER)).send().await.unwrap()).await;
    assert_error(&got, 403, "permission_denied", &["trainer token"]);
    let body = got.1.to_string();
    assert!(!body.contains(ADMIN) && !body.contains(TRAINER), "a secret leaked: {body}");

    // Names that are not plain artifact names: 400 before the scheduler is asked for the file
    // (but after the secret: without it, 401 whatever the name); an artifact the job does not
    // list, or an unknown job: 404.
    // (A bare `..` never arrives: URL parsers resolve dot segments before sending.)
    for name in [".hidden", "..%2Fmanifest.json", "a%2Fb", "a%5Cb", "n%00ul", "%C3%A9.csv", "a%20b"] {
        let got = answer(http().get(url(name)).header("authorization", &admin).send().await.unwrap()).await;
        assert_error(&got, 400, "invalid_argument", &["is not a plain file name"]);
        let got = answer(http().get(url(name)).send().await.unwrap()).await;
        assert_error(&got, 401, "unauthenticated", &["ADMIN_SECRET"]);
    }
    let long = "n".repeat(500);
    let got = answer(http().get(url(&long)).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_argument", &["is not a plain file name"]);
    assert!(got.1.to_string().len() < 400, "the name is cut: {}", got.1);
    let got = answer(http().get(url("manifest.json")).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 404, "not_found", &["has no artifact \"manifest.json\"", "equity.csv"]);
    let other = s.url("/api/training/jobs/tr_1_00000000/artifacts/equity.csv");
    let got = answer(http().get(other).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 404, "not_found", &["no job tr_1_00000000"]);
    // Only GET.
    let got = answer(http().delete(url("equity.csv")).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 405, "method_not_allowed", &[]);

    // A symbolic link in runs/, in place of an artifact or of the artifacts folder, is refused,
    // never followed out of the job's directory.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "not for the API").unwrap();
    let artifacts = dir.path().join(&id).join("artifacts");
    std::fs::remove_file(artifacts.join("equity.csv")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), artifacts.join("equity.csv")).unwrap();
    let got = answer(http().get(url("equity.csv")).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 409, "failed_precondition", &["artifact equity.csv", "not a plain file", "refused"]);
    assert!(!got.1.to_string().contains("not for the API"), "{}", got.1);
    let r = http().get(url("metrics.json")).header("authorization", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the job's other artifacts are still served");
    std::fs::write(outside.path().join("metrics.json"), "{}").unwrap();
    std::fs::rename(&artifacts, dir.path().join(&id).join("artifacts.moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &artifacts).unwrap();
    let got = answer(http().get(url("metrics.json")).header("authorization", &admin).send().await.unwrap()).await;
    assert_error(&got, 409, "failed_precondition", &["artifact metrics.json", "not a plain file"]);
    s.stop().await;
}
