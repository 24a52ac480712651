//! Experiments over real HTTP and gRPC, with fake trainers that complete runs at once: one run
//! per configuration × seed × fold, created all or nothing, budgets over the whole experiment,
//! runs recovered at start-up, cancelled together, and reported once they have all ended.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use skippy_proto::v1 as pb;
use skippy_scheduler::experiment::{
    Axis, Candidate, CandidateRun, ExperimentRecord, ExperimentRequest, ExperimentState, plan,
};
use skippy_scheduler::job::SubmittedSpec;
use skippy_scheduler::store::JobStore;

use crate::support::*;

fn experiment(seeds: u32, folds: u32, grid: Value) -> String {
    json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096}, "seeds": seeds, "folds": folds, "grid": grid})
        .to_string()
}

/// The experiment directories under `runs/experiments/`.
fn stored_experiments(runs: &std::path::Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(runs.join("experiments"))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_experiment_queues_one_run_per_cell_and_lists_them_as_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let body = experiment(2, 2, json!([{"path": "ppo.learning_rate", "values": [0.0001, "3e-4"]}]));
    let response = http().post(s.url("/api/training/experiments")).header("content-type", "application/json");
    let response = response.body(body).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (code, created) = answer(response).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ex_"), "{id}");
    assert_eq!(location, format!("/api/training/experiments/{id}/status"));
    assert_eq!((created["created"].as_bool(), created["runsTotal"].as_u64()), (Some(true), Some(8)), "{created}");
    assert_eq!(created["state"], "RUNNING");
    // What admission estimated: 8 runs of 4096 steps at the assumed speed (no trainer yet).
    let assumed = skippy_scheduler::budget::ASSUMED_STEPS_PER_SEC;
    let estimate = &created["estimate"];
    assert_eq!((&estimate["totalSteps"], &estimate["measured"]), (&json!(8 * 4096), &json!(false)), "{created}");
    assert_eq!(estimate["stepsPerSec"].as_f64(), Some(assumed));
    let seconds = estimate["trainerSeconds"].as_f64().unwrap();
    assert!((seconds - 8.0 * 4096.0 / assumed).abs() < 1e-9, "{seconds}");
    assert_eq!(created["configs"][1]["settings"]["ppo.learning_rate"], "3e-4", "{created}");
    let seed = created["spec"]["base"]["seed"].as_u64().expect("the first seed is drawn and recorded");

    let cells: BTreeSet<(u64, u64, u64)> = created["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let c = &r["cell"];
            assert_eq!(r["seed"].as_u64().unwrap(), seed + c["seedIndex"].as_u64().unwrap(), "{r}");
            (c["config"].as_u64().unwrap(), c["seedIndex"].as_u64().unwrap(), c["fold"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(cells.len(), 8, "every cell once");
    assert_eq!(stored_jobs(dir.path()).len(), 8);

    // The runs are ordinary jobs: listed by experiment, each with its cell and its fold's split.
    let (code, list) = get(&s.url(&format!("/api/training/jobs?experiment={id}&limit=5"))).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["jobs"].as_array().unwrap().len(), 5);
    let next = list["next"].as_str().expect("a next page");
    let (_, rest) = get(&s.url(next)).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 3, "{rest}");
    let last = &rest["jobs"][2];
    assert_eq!(last["experiment"], json!({"experimentId": id, "config": 1, "seedIndex": 1, "fold": 1}));
    let (_, job) = get(&s.url(&format!("/api/training/jobs/{}/status", last["id"].as_str().unwrap()))).await;
    assert_eq!(job["resolvedSpec"]["split"]["folds"], 2, "{job}");
    assert_eq!(job["resolvedSpec"]["split"]["fold"], 1);
    assert_eq!(job["resolvedSpec"]["ppo"]["learning_rate"], 3e-4);

    // A filter that is not an experiment id is a 400; an id the scheduler does not know, a 404.
    let not_an_id = get(&s.url("/api/training/jobs?experiment=%14")).await;
    assert_error(&not_an_id, 400, "invalid_argument", &["not an experiment id"]);
    let unknown = get(&s.url("/api/training/jobs?experiment=ex_1700000000_0123abcd")).await;
    assert_error(&unknown, 404, "not_found", &["no experiment ex_1700000000_0123abcd"]);

    let (_, status) = get(&s.url(&location)).await;
    assert_eq!((status["runsQueued"].as_u64(), status["runsDone"].as_u64()), (Some(8), Some(0)), "{status}");
    let (_, listed) = get(&s.url("/api/training/experiments")).await;
    assert_eq!(listed["experiments"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["experiments"][0]["runs"], json!([]), "lists carry no runs");
    s.stop().await;
}

#[tokio::test]
async fn a_bad_configuration_or_a_budget_it_exceeds_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| c.max_queued_jobs = 5).await;
    let url = s.url("/api/training/experiments");
    assert_error(
        &post(&url, &experiment(1, 1, json!([{"path": "ppo.learning_rate", "values": [0.0003, -1]}]))).await,
        400,
        "invalid_argument",
        &["configuration 1", "ppo.learning_rate"],
    );
    assert_error(
        &post(&url, &experiment(1, 1, json!([{"path": "split.fold", "values": [1]}]))).await,
        400,
        "invalid_argument",
        &["set by the experiment", "--folds"],
    );
    assert_error(
        &post(&url, &experiment(3, 2, json!([]))).await,
        429,
        "resource_exhausted",
        &["its 6 runs", "--max-queued-jobs"],
    );
    // The base is checked on the split its runs use: a setting of walk-forward folds is the
    // base's own, and one of the single split is the base's error, not a configuration's.
    let with_base = |overrides: Value| {
        json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096, "overrides": overrides}, "seeds": 1, "folds": 2})
            .to_string()
    };
    let refused = post(&url, &with_base(json!({"split.train": "0.6"}))).await;
    assert_error(&refused, 400, "invalid_argument", &["split.train"]);
    assert!(!refused.1.to_string().contains("configuration 0"), "the base's error: {}", refused.1);
    assert_eq!(stored_jobs(dir.path()), Vec::<String>::new(), "no run of a refused experiment is stored");
    assert_eq!(stored_experiments(dir.path()), Vec::<String>::new());
    let (code, body) = post(&url, &with_base(json!({"split.oos_fraction": "0.3"}))).await;
    assert_eq!(code, 202, "a walk-forward setting on a walk-forward experiment: {body}");
    assert_eq!(post(&url, &experiment(3, 1, json!([]))).await.0, 202, "three more runs fit");
    s.stop().await;
}

#[tokio::test]
async fn a_dry_run_checks_and_estimates_an_experiment_and_stores_and_counts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| c.max_queued_jobs = 6).await;
    let dry = s.url("/api/training/experiments?validateOnly=true");
    // 2 configurations × 2 seeds × 1 fold: 4 runs, which fit the queue of 6 once, not twice.
    let four = experiment(2, 1, json!([{"path": "ppo.ent_coef", "values": [0, 0.01]}]));
    for _ in 0..3 {
        let (code, estimate) = post(&dry, &four).await;
        assert_eq!(code, 200, "{estimate}");
        assert_eq!((&estimate["runs"], &estimate["totalSteps"]), (&json!(4), &json!(4 * 4096)), "{estimate}");
        assert_eq!(estimate["measured"], false, "no trainer has reported a speed: {estimate}");
        assert!(estimate["trainerSeconds"].as_f64().unwrap() > 0.0, "{estimate}");
    }
    assert_eq!(stored_experiments(dir.path()), Vec::<String>::new(), "a dry run stores nothing");
    assert_eq!(stored_jobs(dir.path()), Vec::<String>::new());

    // Dry runs took nothing from the queue: the experiment itself is admitted, and after it a
    // dry run of the same is refused as its creation would be.
    let keyed = |seeds: u32| {
        json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096, "idempotencyKey": "dry-1"}, "seeds": seeds,
            "folds": 1, "grid": [{"path": "ppo.ent_coef", "values": [0, 0.01]}]})
        .to_string()
    };
    let (code, created) = post(&s.url("/api/training/experiments"), &keyed(2)).await;
    assert_eq!(code, 202, "{created}");
    assert_error(&post(&dry, &four).await, 429, "resource_exhausted", &["its 4 runs", "--max-queued-jobs"]);
    // A key already used would not create a new experiment: the dry run says so.
    let id = created["id"].as_str().unwrap();
    assert_error(&post(&dry, &keyed(1)).await, 409, "failed_precondition", &["dry-1", id, "new key"]);
    let bad = experiment(1, 1, json!([{"path": "ppo.learning_rate", "values": [-1]}]));
    assert_error(&post(&dry, &bad).await, 400, "invalid_argument", &["configuration 0", "ppo.learning_rate"]);
    let unknown = post(&s.url("/api/training/experiments?validate=true"), &four).await;
    assert_error(&unknown, 400, "invalid_argument", &["validate"]);
    assert_eq!(stored_jobs(dir.path()).len(), 4, "only the experiment's runs");
    s.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_experiment_and_another_request_under_it_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let url = s.url("/api/training/experiments");
    let body = |seeds: u32| {
        json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096, "idempotencyKey": "exp-1"}, "seeds": seeds,
            "folds": 1})
        .to_string()
    };
    let (code, first) = post(&url, &body(2)).await;
    assert_eq!(code, 202, "{first}");
    let (code, again) = post(&url, &body(2)).await;
    assert_eq!((code.as_u16(), &again["id"], &again["created"]), (202, &first["id"], &json!(false)));
    assert!(first.get("estimate").is_some() && again.get("estimate").is_none(), "estimated when created: {again}");
    assert_error(&post(&url, &body(3)).await, 409, "failed_precondition", &["exp-1", "different request"]);
    assert_eq!(stored_jobs(dir.path()).len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn cancelling_an_experiment_cancels_every_run_not_yet_finished() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (code, created) = post(&s.url("/api/training/experiments"), &experiment(4, 1, json!([]))).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, mut trainer) = grpc_clients(&s).await;
    let done = take(&mut trainer, "t-1").await;
    finish(&mut trainer, &done, &metrics(0.5, 0.4)).await;
    let running = take(&mut trainer, "t-1").await;

    let (code, cancelled) = delete(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "CANCELLED");
    let state_of = |body: &Value, job: &str| {
        body["runs"].as_array().unwrap().iter().find(|r| r["jobId"] == job).unwrap()["state"].clone()
    };
    let done_id = done.job.as_ref().unwrap().id.clone();
    let running_id = running.job.as_ref().unwrap().id.clone();
    assert_eq!(state_of(&cancelled, &done_id), "DONE", "a finished run stays as it ended");
    assert_eq!(cancelled["runsCancelled"], 2, "both queued runs: {cancelled}");
    // The running run is asked to stop; its trainer learns of it on its next heartbeat.
    let beat = trainer
        .heartbeat(pb::HeartbeatRequest { lease: running.lease.clone(), steps_done: 10 })
        .await
        .unwrap()
        .into_inner();
    assert!(beat.cancel_requested, "{beat:?}");
    let (code, again) = delete(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!((code.as_u16(), &again["state"]), (200, &json!("CANCELLED")), "idempotent");
    let (_, job) = get(&s.url(&format!("/api/training/jobs/{running_id}/status"))).await;
    assert!(!job["state"].as_str().unwrap().is_empty());

    // The trainer stops it. The record then keeps how every run ended (what the experiment shows
    // once retention removes the jobs), the stopped run's too.
    let stopped = pb::CompleteJobRequest {
        lease: running.lease.clone(),
        outcome: pb::Outcome::Cancelled as i32,
        steps_done: 10,
        ..Default::default()
    };
    trainer.complete_job(stopped).await.unwrap();
    let manifest = dir.path().join("experiments").join(&id).join("manifest.json");
    let ends = eventually("every run's end recorded", || async {
        let record: Value = serde_json::from_slice(&std::fs::read(&manifest).ok()?).ok()?;
        let runs = record["runs"].as_array()?.clone();
        runs.iter().all(|r| r.get("ended").is_some()).then_some(runs)
    })
    .await;
    let end_of = |job: &str| ends.iter().find(|r| r["jobId"] == job).unwrap()["ended"]["state"].clone();
    assert_eq!((end_of(&done_id), end_of(&running_id)), (json!("DONE"), json!("CANCELLED")));
    s.stop().await;
}

#[tokio::test]
async fn a_repeated_cancel_finishes_one_that_stopped_part_way() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (code, created) = post(&s.url("/api/training/experiments"), &experiment(3, 1, json!([]))).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    s.stop().await;
    // What a cancel that stopped part way leaves: the experiment CANCELLED, its runs queued.
    let manifest = dir.path().join("experiments").join(&id).join("manifest.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    record["state"] = json!("CANCELLED");
    std::fs::write(&manifest, serde_json::to_vec(&record).unwrap()).unwrap();

    let s = start(dir.path()).await;
    let (_, before) = get(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!((&before["state"], &before["runsQueued"]), (&json!("CANCELLED"), &json!(3)), "{before}");
    let (code, again) = delete(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!((&again["runsQueued"], &again["runsCancelled"]), (&json!(0), &json!(3)), "{again}");
    s.stop().await;
}

/// The request of an experiment written to a store by hand: SYN-EDGE, 4096 steps, first seed
/// 11, 2 seeds × 2 folds, `ppo.ent_coef` over `values`.
fn stored_request(values: &[&str], promote: bool) -> ExperimentRequest {
    ExperimentRequest {
        base: SubmittedSpec {
            symbols: vec!["SYN-EDGE".into()],
            total_steps: 4096,
            seed: Some(11),
            ..Default::default()
        },
        seeds: 2,
        folds: 2,
        grid: vec![Axis { path: "ppo.ent_coef".into(), values: values.iter().map(|v| v.to_string()).collect() }],
        promote,
    }
}

/// Waits until every job of `ids` is served (queued again at start-up, for instance).
async fn jobs_answer(s: &Running, ids: &[String], what: &str) {
    eventually(what, || async {
        for id in ids {
            if get(&s.url(&format!("/api/training/jobs/{id}/status"))).await.0 != 200 {
                return None;
            }
        }
        Some(())
    })
    .await;
}

#[tokio::test]
async fn runs_recorded_but_not_journaled_are_queued_at_start_up_once() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash between the experiment's record and its runs' journal leaves.
    let (store, _) = JobStore::open(dir.path()).unwrap();
    let request = stored_request(&["0"], false);
    let mut n = 0;
    let runs = plan(1, 2, 2, 11, || {
        n += 1;
        format!("tr_1700000000_{n:08x}")
    });
    let configs = vec![[("ppo.ent_coef".to_string(), "0".to_string())].into()];
    let record = ExperimentRecord::new("ex_1700000000_0000abcd".into(), request, configs, runs, 1_700_000_000_000);
    store.write_experiment(&record).unwrap();
    drop(store);
    let expected: Vec<String> = record.runs.iter().map(|r| r.job_id.clone()).collect();

    for round in 0..2 {
        let s = start(dir.path()).await;
        // Queued as jobs (an experiment shows a run it does not hold yet as QUEUED, its plan).
        jobs_answer(&s, &expected, "the runs queued again").await;
        let (_, status) = get(&s.url("/api/training/experiments/ex_1700000000_0000abcd")).await;
        assert_eq!((&status["runsTotal"], &status["runsQueued"]), (&json!(4), &json!(4)), "round {round}: {status}");
        // No run has ended: the experiment is not reported. (Start-up asked the reporter to look
        // at it before the runs were queued again; it once took them for runs retention removed,
        // all ended, and reported the experiment FAILED while its runs went on.)
        assert_eq!(status["state"], "RUNNING", "round {round}: {status}");
        assert_eq!(stored_jobs(dir.path()), expected, "round {round}: the planned ids, once each");
        let (_, job) = get(&s.url("/api/training/jobs/tr_1700000000_00000004/status")).await;
        assert_eq!(job["experiment"]["fold"], 1, "{job}");
        assert_eq!(job["spec"]["seed"], 12, "{job}");
        s.stop().await;
    }
}

#[tokio::test]
async fn an_experiment_is_reported_once_every_run_has_ended() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let body = experiment(2, 2, json!([{"path": "ppo.ent_coef", "values": [0, 0.01]}]));
    let (code, created) = post(&s.url("/api/training/experiments"), &body).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, mut trainer) = grpc_clients(&s).await;
    let mut unreadable = String::new();
    for _ in 0..8 {
        let grant = take(&mut trainer, "t-1").await;
        let cell = grant.job.clone().unwrap().experiment.expect("a run carries its cell");
        if unreadable.is_empty() && cell.config == 0 {
            // One run ends DONE without the validation score the report needs.
            let walk = walk_csv(1_700_000_000_000 + cell.fold as i64 * 200 * 3_600_000, 200, 0.001);
            let upload =
                pb::UploadArtifactRequest { lease: grant.lease.clone(), name: "walk.csv".into(), data: walk.into() };
            trainer.upload_artifact(upload).await.unwrap();
            let mut m: Value = serde_json::from_str(&metrics(0.2, 1.5)).unwrap();
            m["kept_model_validation_sharpe"] = Value::Null;
            m["evaluation"]["bars_per_year"] = json!(8760.0);
            finish(&mut trainer, &grant, &m.to_string()).await;
            unreadable = grant.job.unwrap().id;
            continue;
        }
        // Configuration 1 validates better; each fold tests on its own slice of time.
        let validation = if cell.config == 1 { 1.0 } else { 0.2 };
        finish_run(&mut trainer, &grant, validation, 1.5, 0.001).await;
    }
    let results = experiment_results(&s, &id).await;
    let report = &results["report"];
    assert_eq!(report["schema"], "skippy.experiment/1", "{report}");
    let missing = &report["missing"][0];
    assert_eq!(missing["job_id"], unreadable.as_str(), "{report}");
    assert_eq!(
        missing["reason"],
        "it finished, but its results could not be read: metrics.json: kept_model_validation_sharpe is null, not a \
         number",
        "the file and the field"
    );
    assert_eq!(report["experiment_id"], id.as_str());
    for fold in 0..2 {
        assert_eq!(report["per_fold"][fold]["chosen_config"], 1, "chosen on validation: {report}");
    }
    assert!(!results["experiment"]["verdict"].as_str().unwrap().is_empty(), "{results}");
    let names: Vec<&str> =
        results["artifacts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"experiment.json") && names.contains(&"seeds.svg"), "{names:?}");
    let svg = http().get(s.url(&format!("/api/training/experiments/{id}/artifacts/seeds.svg"))).send().await.unwrap();
    assert_eq!(svg.status(), 200);
    assert!(svg.text().await.unwrap().contains("<svg"));
    // The runs stay out of the lineages: no generation, no champion.
    let (_, run) = get(
        &s.url(&format!("/api/training/jobs/{}/status", results["experiment"]["runs"][0]["jobId"].as_str().unwrap()))
    )
    .await;
    assert_eq!((&run["result"]["generation"], &run["result"]["champion"]), (&json!(0), &json!(false)), "{run}");
    s.stop().await;
}

/// Creates an experiment (2 seeds × 2 folds × 2 configurations, `promote` as given) and runs
/// its 8 runs with a fake trainer: configuration 1 validates better, and every run's walk earns
/// `edge` a bar over buy-and-hold. Returns the experiment's id and its results once reported.
async fn run_promoted_experiment(
    s: &Running,
    trainer: &mut skippy_proto::v1::trainer_service_client::TrainerServiceClient<tonic::transport::Channel>,
    edge: f64,
) -> (String, Value) {
    let mut body: Value =
        serde_json::from_str(&experiment(2, 2, json!([{"path": "ppo.ent_coef", "values": [0, 0.01]}]))).unwrap();
    body["promote"] = json!(true);
    body["base"]["seed"] = json!(40);
    let (code, created) = post(&s.url("/api/training/experiments"), &body.to_string()).await;
    assert_eq!(code, 202, "{created}");
    assert_eq!(created["spec"]["promote"], true, "{created}");
    assert!(created.get("candidate").is_none(), "no candidate before the report: {created}");
    let id = created["id"].as_str().unwrap().to_string();
    for _ in 0..8 {
        let grant = take(trainer, "t-1").await;
        let cell = grant.job.clone().unwrap().experiment.expect("a run carries its cell");
        let validation = if cell.config == 1 { 1.0 } else { 0.2 };
        finish_run(trainer, &grant, validation, 1.5, edge).await;
    }
    let results = experiment_results(s, &id).await;
    (id, results)
}

#[tokio::test]
async fn a_champion_candidate_joins_the_lineage_on_its_own_split_only_when_an_edge_survives() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (_, mut trainer) = grpc_clients(&s).await;

    // No edge: nothing is queued, and the experiment says why.
    let (_, results) = run_promoted_experiment(&s, &mut trainer, -0.001).await;
    assert_eq!(results["report"]["edge_survives"], false, "{}", results["report"]["verdict"]);
    let candidate = &results["experiment"]["candidate"];
    assert_eq!(candidate["jobIds"], json!([]), "{candidate}");
    assert!(candidate["note"].as_str().unwrap().contains("no edge survived"), "{candidate}");
    let (_, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(queue["totalQueued"], 0, "{queue}");

    // An edge that survives: the configuration chosen on the latest fold's validation, once per
    // seed, on the lineage's own split.
    let (id, results) = run_promoted_experiment(&s, &mut trainer, 0.001).await;
    assert_eq!(results["report"]["edge_survives"], true, "{}", results["report"]["verdict"]);
    let candidate = &results["experiment"]["candidate"];
    assert_eq!(candidate["config"], 1, "{candidate}");
    assert!(candidate["note"].as_str().unwrap().contains("champion candidate: configuration 1"), "{candidate}");
    let jobs: Vec<String> =
        candidate["jobIds"].as_array().unwrap().iter().map(|j| j.as_str().unwrap().to_string()).collect();
    assert_eq!(jobs.len(), 2, "one per seed: {candidate}");
    let (_, status) = get(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!(status["candidate"], *candidate, "the same on the experiment's own route");
    for (i, job_id) in jobs.iter().enumerate() {
        let (code, job) = get(&s.url(&format!("/api/training/jobs/{job_id}/status"))).await;
        assert_eq!(code, 200, "{job}");
        assert_eq!(job["state"], "QUEUED", "{job}");
        assert!(job.get("experiment").is_none(), "an ordinary job, not a run: {job}");
        assert_eq!(job["spec"]["seed"], 40 + i as u64, "{job}");
        assert_eq!(job["spec"]["overrides"]["ppo.ent_coef"], "0.01", "the chosen configuration: {job}");
        assert_eq!(job["resolvedSpec"]["split"]["folds"], 1, "the lineage's own split: {job}");
    }
    // They join the lineage and are ranked on validation as any job: the better one is champion.
    for validation in [0.5, 0.9] {
        let grant = take(&mut trainer, "t-1").await;
        assert!(jobs.contains(&grant.job.clone().unwrap().id), "a candidate job is granted");
        finish(&mut trainer, &grant, &metrics(validation, 1.0)).await;
    }
    let mut generations = Vec::new();
    for job_id in &jobs {
        let job = eventually("the candidate's result", || async {
            let (_, job) = get(&s.url(&format!("/api/training/jobs/{job_id}/status"))).await;
            (job["state"] == "DONE").then_some(job)
        })
        .await;
        generations.push((job["result"]["generation"].as_u64().unwrap(), job["result"]["champion"].clone()));
    }
    assert_eq!(generations, [(1, json!(true)), (2, json!(true))], "generations 1 and 2, each the best so far");
    s.stop().await;
}

#[tokio::test]
async fn a_candidate_recorded_but_not_journaled_is_queued_at_start_up_once() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash between the experiment's end (its record names the candidate) and the
    // candidate's journal leaves.
    let (store, _) = JobStore::open(dir.path()).unwrap();
    let request = stored_request(&["0", "0.01"], true);
    let candidate = Candidate {
        config: 1,
        runs: vec![
            CandidateRun { job_id: "tr_1700000000_0000c001".into(), seed: 11 },
            CandidateRun { job_id: "tr_1700000000_0000c002".into(), seed: 12 },
        ],
        note: "champion candidate: configuration 1".into(),
        queued: false,
    };
    let record = ExperimentRecord {
        id: "ex_1700000000_0000abce".into(),
        request,
        configs: vec![
            [("ppo.ent_coef".to_string(), "0".to_string())].into(),
            [("ppo.ent_coef".to_string(), "0.01".to_string())].into(),
        ],
        runs: Vec::new(),
        state: ExperimentState::Done,
        created_ms: 1_700_000_000_000,
        finished_ms: 1_700_000_100_000,
        verdict: "edge survives".into(),
        error: String::new(),
        artifacts: Vec::new(),
        candidate: Some(candidate),
    };
    store.write_experiment(&record).unwrap();
    drop(store);
    let expected = vec!["tr_1700000000_0000c001".to_string(), "tr_1700000000_0000c002".to_string()];
    for round in 0..2 {
        let s = start(dir.path()).await;
        jobs_answer(&s, &expected, "the candidate queued").await;
        assert_eq!(stored_jobs(dir.path()), expected, "round {round}: the planned ids, once each");
        let (_, job) = get(&s.url("/api/training/jobs/tr_1700000000_0000c002/status")).await;
        assert_eq!((&job["spec"]["seed"], &job["spec"]["overrides"]["ppo.ent_coef"]), (&json!(12), &json!("0.01")));
        assert!(job.get("experiment").is_none(), "{job}");
        s.stop().await;
        let (records, _) = JobStore::open(dir.path()).unwrap().0.read_experiments().unwrap();
        let candidate = records[0].candidate.as_ref().unwrap();
        assert!(candidate.queued, "round {round}: the record says the candidate is queued");
    }

    // A crash between the candidate's journal and its mark (or a record written before marks):
    // start-up finds every job of it in the store, queues nothing and marks it.
    let (store, _) = JobStore::open(dir.path()).unwrap();
    let (mut records, _) = store.read_experiments().unwrap();
    records[0].candidate.as_mut().unwrap().queued = false;
    store.write_experiment(&records[0]).unwrap();
    drop(store);
    let s = start(dir.path()).await;
    let manifest = dir.path().join("experiments").join(&record.id).join("manifest.json");
    eventually("the candidate marked queued", || async {
        let stored: Value = serde_json::from_slice(&std::fs::read(&manifest).ok()?).ok()?;
        (stored["candidate"]["queued"] == true).then_some(())
    })
    .await;
    assert_eq!(stored_jobs(dir.path()), expected, "nothing queued again");
    s.stop().await;

    // Retention removes the candidate's jobs once they have ended (here: none is left on disk).
    // A restart does not queue them again: they were queued once.
    let empty = tempfile::tempdir().unwrap();
    let (store, _) = JobStore::open(empty.path()).unwrap();
    let queued = Candidate { queued: true, ..candidate_of(&record) };
    store.write_experiment(&ExperimentRecord { candidate: Some(queued), ..record }).unwrap();
    drop(store);
    let mut submitted = Vec::new();
    for _ in 0..2 {
        let s = start(empty.path()).await;
        // A job submitted after start-up is journaled after anything start-up queued.
        let (code, job) = post(&s.url("/api/training/jobs"), r#"{"symbols":["SYN-EDGE"],"totalSteps":4096}"#).await;
        assert_eq!(code, 202, "{job}");
        submitted.push(job["id"].as_str().unwrap().to_string());
        jobs_answer(&s, &submitted, "the new job").await;
        let mut stored = stored_jobs(empty.path());
        stored.sort();
        submitted.sort();
        assert_eq!(stored, submitted, "nothing of the candidate is queued again");
        s.stop().await;
    }
}

/// `record`'s champion candidate.
fn candidate_of(record: &ExperimentRecord) -> Candidate {
    record.candidate.clone().unwrap()
}

/// Sends `method path` with a JSON `body` over a connection of its own and returns the socket
/// without reading the answer: dropping it is a client that hangs up mid-request.
async fn send_without_reading(s: &Running, method: &str, path: &str, body: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = s.http.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket
}

/// Waits (without sleeping) until `check` holds: a tight poll, to act inside a window of
/// milliseconds. Gives up after [`STEP`].
async fn as_soon_as(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {STEP:?}");
        tokio::task::yield_now().await;
    }
}

/// The experiment's record as stored, when it can be read.
fn stored_record(runs: &std::path::Path, id: &str) -> Option<Value> {
    let bytes = std::fs::read(runs.join("experiments").join(id).join("manifest.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_experiment_is_created_gets_it_whole_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    // 4 configurations × 64 seeds × 4 folds: 1024 runs, so that writing the record and journaling
    // the runs take long enough to hang up in.
    let body = json!({"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096, "idempotencyKey": "hang-up-1"},
        "seeds": 64, "folds": 4, "grid": [{"path": "ppo.ent_coef", "values": [0.0, 0.01, 0.02, 0.03]}]})
    .to_string();
    let socket = send_without_reading(&s, "POST", "/api/training/experiments", &body).await;
    // The client hangs up as soon as the experiment's directory appears: its record (the commit
    // point) is being written, and none of its runs is journaled yet.
    as_soon_as("the experiment's directory", || !stored_experiments(dir.path()).is_empty()).await;
    drop(socket);

    // Its retry, with the same key, gets the one experiment, every run of it queued.
    let url = s.url("/api/training/experiments");
    let (code, retried) = eventually("the retry answered", || async {
        let (code, body) = post(&url, &body).await;
        let creating = code == 409 && body["error"]["message"].as_str().unwrap_or("").contains("still being created");
        (!creating).then_some((code, body))
    })
    .await;
    assert_eq!((code.as_u16(), &retried["created"]), (202, &json!(false)), "{retried}");
    let id = retried["id"].as_str().unwrap().to_string();
    assert_eq!(stored_experiments(dir.path()), vec![id.clone()]);
    // The creation the client left goes on: every run is journaled, each once (the retry may
    // have answered while the last of them were on their way to the journal).
    eventually("every run journaled", || async { (stored_jobs(dir.path()).len() >= 1024).then_some(()) }).await;
    let (_, experiment) = get(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!((&experiment["state"], &experiment["runsQueued"]), (&json!("RUNNING"), &json!(1024)), "{experiment}");
    // Queued and never dispatched, every run lives in the journal only: a line each.
    let journal = std::fs::read_to_string(dir.path().join("submissions.journal")).unwrap_or_default();
    assert_eq!((stored_jobs(dir.path()).len(), journal.lines().count()), (1024, 1024), "no run lost or made twice");
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_experiment_is_cancelled_leaves_no_run_queued() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (code, created) = post(&s.url("/api/training/experiments"), &experiment(24, 4, json!([]))).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let socket = send_without_reading(&s, "DELETE", &format!("/api/training/experiments/{id}"), "").await;
    // The client hangs up once the experiment is marked cancelled, before its runs are.
    as_soon_as("the experiment marked cancelled", || {
        stored_record(dir.path(), &id).is_some_and(|r| r["state"] == "CANCELLED")
    })
    .await;
    drop(socket);

    let experiment = eventually("every run cancelled", || async {
        let (_, e) = get(&s.url(&format!("/api/training/experiments/{id}"))).await;
        (e["runsCancelled"] == 96).then_some(e)
    })
    .await;
    assert_eq!((&experiment["state"], &experiment["runsQueued"]), (&json!("CANCELLED"), &json!(0)), "{experiment}");
    let (_, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(queue["totalQueued"], 0, "{queue}");
    s.stop().await;
}
