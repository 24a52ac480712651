//! Retention on a real scheduler over a temporary `runs/`: `--retain-jobs` and `--retain-days`
//! remove the directories of the oldest finished jobs (at start-up here; every minute while it
//! runs), never a queued or running job, nor a lineage's champion or newest generation; a removed
//! job's idempotency key is free again, and a restart does not bring a removed job back.

use std::path::Path;

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::*;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn submit(c: &mut TrainingServiceClient<Channel>, key: &str) -> pb::SubmitJobResponse {
    let spec = pb::JobSpec {
        symbols: vec!["BTC".into()],
        total_steps: 4096,
        idempotency_key: key.into(),
        ..Default::default()
    };
    c.submit_job(pb::SubmitJobRequest { spec: Some(spec) }).await.unwrap().into_inner()
}

/// Every job's id and state, newest first.
async fn listed(c: &mut TrainingServiceClient<Channel>) -> Vec<(String, i32)> {
    let page = c.list_jobs(pb::ListJobsRequest { page_size: 1000, ..Default::default() }).await.unwrap();
    page.into_inner().jobs.into_iter().map(|j| (j.id, j.state)).collect()
}

fn gone(runs: &Path, id: &str) -> bool {
    !runs.join(id).exists()
}

#[tokio::test]
async fn the_oldest_finished_jobs_go_and_live_jobs_champions_and_the_newest_generation_stay() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let policy = |c: &mut skippy_scheduler::Config| {
        c.retain_jobs = 3;
        // The running job's trainer does not heartbeat: its lease must outlast the test.
        c.lease_ttl_ms = 600_000;
    };
    let s = start_with(runs, policy).await;
    let (mut c, mut t) = grpc_clients(&s).await;
    // Six jobs of one lineage finish in order; the first is the champion (best on validation).
    let mut done = Vec::new();
    for (i, validation) in [5.0, 1.0, 2.0, 1.5, 0.5, 0.2].into_iter().enumerate() {
        let id = submit(&mut c, &format!("key-{i}")).await.job.unwrap().id;
        let grant = take(&mut t, "t-1").await;
        assert_eq!(grant.job.as_ref().unwrap().id, id);
        finish(&mut t, &grant, &metrics(validation, 1.0)).await;
        done.push(id);
    }
    // One job running, one queued.
    let running = submit(&mut c, "key-running").await.job.unwrap().id;
    take(&mut t, "t-1").await;
    let queued = submit(&mut c, "key-queued").await.job.unwrap().id;
    s.stop().await;

    // Retention runs at start-up: 6 finished, 3 kept, the champion besides.
    let s = start_with(runs, policy).await;
    let (mut c, _) = grpc_clients(&s).await;
    for id in &done[1..3] {
        eventually(&format!("job {id}'s directory removed"), || async { gone(runs, id).then_some(()) }).await;
    }
    let left: Vec<String> = listed(&mut c).await.into_iter().map(|(id, _)| id).collect();
    let mut expected = vec![queued.clone(), running.clone(), done[5].clone(), done[4].clone(), done[3].clone()];
    expected.push(done[0].clone());
    assert_eq!(left, expected, "the two oldest non-champions went");
    for id in [&done[0], &done[3], &running, &queued] {
        assert!(runs.join(id).exists() || id == &queued, "{id} is kept");
    }
    let e = c.get_job(pb::GetJobRequest { job_id: done[1].clone() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let running_now = c.get_job(pb::GetJobRequest { job_id: running.clone() }).await.unwrap().into_inner();
    assert_eq!(running_now.state, pb::JobState::Preflight as i32, "a running job is never touched");
    let queued_now = c.get_job(pb::GetJobRequest { job_id: queued.clone() }).await.unwrap().into_inner();
    assert_eq!(queued_now.state, pb::JobState::Queued as i32, "nor a queued one");

    // A removed job's idempotency key is free again; a kept job's still answers with its job.
    let again = submit(&mut c, "key-1").await;
    assert!(again.created, "key-1's job was removed: a new job");
    let kept = submit(&mut c, "key-3").await;
    assert!(!kept.created && kept.job.unwrap().id == done[3]);
    let new_key_job = again.job.unwrap().id;
    s.stop().await;

    // A restart does not bring the removed jobs back (their journal lines went first).
    let s = start_with(runs, |c| c.lease_ttl_ms = 600_000).await;
    let (mut c, mut t) = grpc_clients(&s).await;
    let ids: Vec<String> = listed(&mut c).await.into_iter().map(|(id, _)| id).collect();
    assert!(!ids.contains(&done[1]) && !ids.contains(&done[2]), "{ids:?}");
    assert_eq!(ids.len(), 7, "{ids:?}");
    // The lineage goes on: the newest generation was kept, so the next is 7, and the champion
    // (generation 1) still holds.
    let cancel = c.cancel_job(pb::CancelJobRequest { job_id: new_key_job }).await.unwrap().into_inner();
    assert_eq!(cancel.state, pb::JobState::Cancelled as i32);
    let grant = take(&mut t, "t-2").await;
    assert_eq!(grant.job.as_ref().unwrap().id, queued);
    finish(&mut t, &grant, &metrics(4.0, 1.0)).await;
    let result = c.get_job(pb::GetJobRequest { job_id: queued }).await.unwrap().into_inner().result.unwrap();
    assert_eq!((result.generation, result.champion), (7, false));
    s.stop().await;
}

#[tokio::test]
async fn jobs_finished_longer_ago_than_retain_days_go() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let s = start(runs).await;
    let (mut c, mut t) = grpc_clients(&s).await;
    let mut ids = Vec::new();
    // The second is better on validation: the champion and the newest; the first can go.
    for (i, validation) in [1.0, 2.0].into_iter().enumerate() {
        let id = submit(&mut c, &format!("k{i}")).await.job.unwrap().id;
        let grant = take(&mut t, "t-1").await;
        finish(&mut t, &grant, &metrics(validation, 1.0)).await;
        ids.push(id);
    }
    // A cancelled job, finished "ten days ago" too.
    let cancelled = submit(&mut c, "k-cancel").await.job.unwrap().id;
    c.cancel_job(pb::CancelJobRequest { job_id: cancelled.clone() }).await.unwrap();
    s.stop().await;
    // Both ended ten days ago, as far as their manifests say.
    for id in [&ids[0], &ids[1], &cancelled] {
        let path = runs.join(id).join("manifest.json");
        let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let ended = manifest["finishedMs"].as_i64().unwrap() - 10 * DAY_MS;
        manifest["finishedMs"] = ended.into();
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
    // Manifests edited by hand: the finished index, which start-up trusts over them, goes too
    // (it is rebuilt from the manifests).
    std::fs::remove_file(runs.join("finished.index")).unwrap();

    let s = start_with(runs, |c| c.retain_days = 7).await;
    for id in [&ids[0], &cancelled] {
        eventually(&format!("job {id}'s directory removed"), || async { gone(runs, id).then_some(()) }).await;
    }
    let (mut c, _) = grpc_clients(&s).await;
    let left: Vec<String> = listed(&mut c).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, vec![ids[1].clone()], "the champion stays");
    assert!(runs.join(&ids[1]).join("manifest.json").exists());
    s.stop().await;
}

#[tokio::test]
async fn an_ended_experiment_shows_its_removed_runs_as_they_ended() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let s = start(runs).await;
    let body = r#"{"base": {"symbols": ["SYN-EDGE"], "totalSteps": 4096}, "seeds": 2, "folds": 2}"#;
    let (code, created) = post(&s.url("/api/training/experiments"), body).await;
    assert_eq!(code, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, mut t) = grpc_clients(&s).await;
    let mut run_ids = Vec::new();
    for _ in 0..4 {
        let grant = take(&mut t, "t-1").await;
        run_ids.push(grant.job.clone().unwrap().id);
        finish_run(&mut t, &grant, 1.0, 1.5, 0.001).await;
    }
    experiment_results(&s, &id).await;
    s.stop().await;

    // Retention at start-up keeps one finished job: three runs go.
    let s = start_with(runs, |c| c.retain_jobs = 1).await;
    eventually("three runs' directories removed", || async {
        (run_ids.iter().filter(|r| gone(runs, r)).count() == 3).then_some(())
    })
    .await;
    let (code, e) = get(&s.url(&format!("/api/training/experiments/{id}"))).await;
    assert_eq!(code, 200, "{e}");
    assert_eq!(
        (&e["state"], &e["runsDone"], &e["runsQueued"]),
        (&serde_json::json!("DONE"), &serde_json::json!(4), &serde_json::json!(0)),
        "{e}"
    );
    for run in e["runs"].as_array().unwrap() {
        assert_eq!(run["state"], "DONE", "a removed run shows as it ended, not as queued: {run}");
    }
    s.stop().await;
}
