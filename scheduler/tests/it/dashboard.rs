//! The dashboard and the artifact route over real HTTP, in front of a real scheduler with
//! authentication on (no browser: the browser test is `cli/tests/it/e2e_dashboard.rs`): the page
//! and its assets are served without a secret, with their content types; an artifact's content
//! needs the admin secret, is served with its content type, a name that is not a plain
//! artifact name is refused (after the secret) before it reaches the scheduler, and a symbolic
//! link in `runs/` is refused, never followed. The experiment page: its modules are served and
//! call the experiment routes, and those routes answer with every field the page reads (a
//! contract: a renamed field would leave the page blank without failing anything else).

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use tonic::transport::Channel;

use crate::support::{
    Running, answer, assert_error, delete, experiment_results, finish_run, get, http, post, start, start_with_secrets,
    take,
};

const ADMIN: &str = "admin-s3cret-for-dashboard-tests";
const TRAINER: &str = "trainer-t0ken-for-dashboard-tests";

async fn start_secured(runs: &Path) -> Running {
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
    let s = start_secured(dir.path()).await;
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
    let s = start_secured(dir.path()).await;
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

#[tokio::test]
async fn the_experiment_page_is_served_and_calls_the_experiment_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let page = http().get(s.url("/dashboard/")).send().await.unwrap().text().await.unwrap();
    for id in ["view-experiment", "experiments-body", "runs-body", "exp-report", "exp-walk-chart", "exp-seeds-chart"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "the page lacks #{id}");
    }
    let script = |name: &str| {
        let path = format!("/dashboard/js/{name}");
        let (_, content_type, text) = skippy_scheduler::gateway::dashboard::ASSETS
            .iter()
            .find(|(p, _, _)| *p == path)
            .unwrap_or_else(|| panic!("{path} is an asset"));
        assert_eq!(*content_type, "text/javascript; charset=utf-8");
        *text
    };
    // What each module calls, as the server serves it.
    for (name, calls) in [
        ("api.js", &["'/api/training/experiments/'"][..]),
        ("experiments.js", &["'/api/training/experiments?limit='", "'#/experiments/'"][..]),
        (
            "experiment.js",
            &[
                "experimentPath(id)",
                "'/results'",
                "'/artifacts/'",
                "method: 'DELETE'",
                "'/api/training/events'",
                "'?jobIds='",
            ][..],
        ),
        ("report.js", &["URL.createObjectURL", "URL.revokeObjectURL"][..]),
        ("job.js", &["job.experiment", "experimentLink"][..]),
        ("main.js", &["experimentView"][..]),
    ] {
        let served = http().get(s.url(&format!("/dashboard/js/{name}"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(served, script(name), "{name} is served as embedded");
        for call in calls {
            assert!(served.contains(call), "{name} lacks {call}");
        }
    }

    // An experiment as the page finds it: in the list, its runs among the jobs and on the stream.
    let body = json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096}, "seeds": 2, "folds": 2}).to_string();
    let (code, created) = post(&s.url("/api/training/experiments"), &body).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (code, list) = get(&s.url("/api/training/experiments?limit=20")).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let listed = &list["experiments"][0];
    for field in ["id", "state", "stepsDone", "totalSteps", "runsTotal", "runsQueued", "runsRunning", "runsDone"] {
        assert!(!listed[field].is_null(), "the list gives {field}: {listed}");
    }
    assert_eq!((&listed["spec"]["seeds"], &listed["spec"]["folds"]), (&json!(2), &json!(2)), "{listed}");
    assert_eq!(listed["spec"]["base"]["symbols"], json!(["SYN-EDGE"]));
    assert_eq!(listed["configs"].as_array().map(Vec::len), Some(1), "{listed}");
    let runs: Vec<String> =
        created["runs"].as_array().unwrap().iter().map(|r| r["jobId"].as_str().unwrap().into()).collect();
    let (_, jobs) = get(&s.url("/api/training/jobs?limit=100")).await;
    assert!(jobs["jobs"].as_array().unwrap().iter().all(|j| j["experiment"]["experimentId"] == id.as_str()), "{jobs}");
    let events = http().get(s.url(&format!("/api/training/events?jobIds={}", runs.join(",")))).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    drop(events);

    // Its runs end (a fake trainer, each fold on its own slice of time) and it is reported.
    let (_, mut trainer) = crate::support::grpc_clients(&s).await;
    for _ in 0..runs.len() {
        let grant = take(&mut trainer, "t-dash").await;
        finish_run(&mut trainer, &grant, 0.5, 1.2, 0.001).await;
    }
    let results = experiment_results(&s, &id).await;
    let run = &results["experiment"]["runs"][0];
    for field in
        ["jobId", "seed", "state", "stepsDone", "totalSteps", "validationSharpe", "testSharpe", "buyAndHoldSharpe"]
    {
        assert!(!run[field].is_null(), "a run gives {field}: {run}");
    }
    assert_eq!(run["cell"], json!({"experimentId": id, "config": 0, "seedIndex": 0, "fold": 0}));
    let report = &results["report"];
    for pointer in [
        "/verdict",
        "/edge_survives",
        "/configurations_tried",
        "/level",
        "/bars_per_year",
        "/per_fold/1/chosen_config",
        "/per_fold/1/candidates/0/mean_validation_sharpe",
        "/per_fold/1/chosen/1/job_id",
        "/per_fold/1/chosen/1/test_sharpe",
        "/per_fold/1/buy_and_hold_sharpe",
        "/per_fold/1/test_from_ms",
        "/stitched/seed_sharpes/1",
        "/stitched/spread/median",
        "/stitched/spread/beating_buy_and_hold",
        "/stitched/averaged_sharpe",
        "/stitched/averaged_sharpe_ci/lo",
        "/stitched/buy_and_hold_sharpe",
        "/stitched/versus_buy_and_hold/difference",
        "/stitched/versus_buy_and_hold/interval/hi",
        "/stitched/versus_buy_and_hold/significant",
        "/stitched/deflated/probability",
        "/stitched/trials/configurations",
        "/stitched/cost_sensitivity/0/versus_buy_and_hold/interval/lo",
        "/missing",
        "/runs/3/chosen",
    ] {
        assert!(report.pointer(pointer).is_some_and(|v| !v.is_null()), "the report gives {pointer}: {report}");
    }
    // The charts the page shows, fetched with the secret as images.
    for chart in ["walk_forward.svg", "seeds.svg"] {
        assert!(results["artifacts"].as_array().unwrap().iter().any(|a| a["name"] == chart), "{results}");
        let r = http().get(s.url(&format!("/api/training/experiments/{id}/artifacts/{chart}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{chart}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{chart}");
        assert!(r.text().await.unwrap().contains("<svg"), "{chart}");
    }
    // A run's job page finds its way back.
    let (_, job) = get(&s.url(&format!("/api/training/jobs/{}/status", runs[0]))).await;
    assert_eq!(job["experiment"]["experimentId"], id.as_str(), "{job}");
    // Cancel is offered only while it runs: an ended experiment refuses it.
    let got = delete(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_error(&got, 409, "failed_precondition", &["already ended"]);
    s.stop().await;
}
