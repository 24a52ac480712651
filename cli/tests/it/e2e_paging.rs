//! End to end, lists that grow, with the real binaries on loopback: `skippy-train list` shows a
//! page, `--all` every job over as many pages as it takes, `--state` and `--symbol` filter at the
//! scheduler; `skippy-train queue` shows the first 20 queued jobs and how many there are. And
//! retention on the real scheduler: `--retain-jobs` removes the oldest finished jobs at start-up
//! (never a queued one, nor the lineage's champion) and logs each one it removes.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;

use crate::support::{Cluster, TRAINER_TOKEN, lazy_admin_client, wait_until};

/// More jobs than one page holds (1,000).
const JOBS: usize = 1_050;

/// A trainer's bearer token.
#[derive(Debug, Clone, Copy)]
struct TrainerBearer;

impl tonic::service::Interceptor for TrainerBearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", format!("Bearer {TRAINER_TOKEN}").parse().unwrap());
        Ok(request)
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["jobs"].as_array().expect("a job list").iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn list_and_queue_page_through_many_jobs_and_retention_removes_and_logs_the_oldest_finished() {
    let mut cluster = Cluster::start_with(&[("--retain-jobs", "2"), ("--lease-ttl-ms", "600000")]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = cluster.url();

    // Four jobs finish (a fake trainer: no training); the first is the best on validation.
    let finished: Vec<String> = rt.block_on(async {
        let mut c = lazy_admin_client(&url, Duration::from_secs(5));
        let channel = tonic::transport::Endpoint::from_shared(url.clone()).unwrap().connect().await.unwrap();
        let mut t = TrainerServiceClient::with_interceptor(channel, TrainerBearer);
        let mut finished = Vec::new();
        for validation in [3.0, 1.0, 2.0, 0.5] {
            let spec = pb::JobSpec { symbols: vec!["BTC".into()], total_steps: 4096, ..Default::default() };
            let job = c.submit_job(pb::SubmitJobRequest { spec: Some(spec) }).await.unwrap().into_inner().job.unwrap();
            let request = pb::AcquireJobRequest { trainer_id: "t-fake".into(), name: "fake".into(), wait_ms: 10_000 };
            let grant = t.acquire_job(request).await.unwrap().into_inner().grant.expect("the job");
            let metrics = serde_json::json!({
                "stop_reason": "completed",
                "kept_model_validation_sharpe": validation,
                "data": [["BTC", "ab"]],
                "evaluation": {"portfolio": {"strategy": {"sharpe": 1.0}, "buy_and_hold": {"sharpe": 0.0}}},
            });
            let complete = pb::CompleteJobRequest {
                lease: grant.lease,
                outcome: pb::Outcome::Done as i32,
                metrics_json: metrics.to_string(),
                ..Default::default()
            };
            t.complete_job(complete).await.unwrap();
            finished.push(job.id);
        }
        finished
    });

    // Then more queued jobs than a page holds, a third of them on ETH.
    let queued: Vec<String> = rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let mut c = lazy_admin_client(&url, Duration::from_secs(5));
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in (task..JOBS).step_by(16) {
                        let symbol = if i % 3 == 0 { "ETH" } else { "BTC" };
                        let spec =
                            pb::JobSpec { symbols: vec![symbol.into()], total_steps: 4096, ..Default::default() };
                        let r = c.submit_job(pb::SubmitJobRequest { spec: Some(spec) }).await.unwrap().into_inner();
                        ids.push(r.job.unwrap().id);
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let eth = (0..JOBS).filter(|i| i % 3 == 0).count();

    // `list` shows a page; `--all` every job, each once.
    let page = cluster.cli(&["--json", "list", "--limit", "7"]).json();
    assert_eq!(ids(&page).len(), 7);
    assert!(page.get("nextCursor").is_none(), "the CLI prints jobs, not cursors: {page}");
    let all = cluster.cli(&["--json", "list", "--all"]).json();
    let listed = ids(&all);
    assert_eq!(listed.len(), JOBS + 4, "every job over two pages");
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), listed.len(), "each once");
    assert_eq!(&listed[JOBS..], finished.iter().rev().cloned().collect::<Vec<_>>(), "newest first");
    assert_eq!(listed[..JOBS].iter().collect::<HashSet<_>>(), queued.iter().collect::<HashSet<_>>());
    // Filters go to the scheduler.
    let eth_jobs = cluster.cli(&["--json", "list", "--all", "--symbol", "eth", "--state", "queued"]).json();
    assert_eq!(ids(&eth_jobs).len(), eth);
    let done = cluster.cli(&["--json", "list", "--state", "done"]).json();
    assert_eq!(ids(&done), finished.iter().rev().cloned().collect::<Vec<_>>());
    let text = cluster.cli(&["list", "--limit", "3", "--symbol", "ETH"]);
    assert_eq!(text.ok().lines().count(), 4, "a header and three jobs:\n{text}");

    // `queue`: the first 20 in dispatch order and how many there are.
    let text = cluster.cli(&["queue"]);
    let out = text.ok();
    assert!(out.contains(&format!("Queued ({JOBS}):")), "{text}");
    assert!(out.contains(&format!("… and {} more", JOBS - 20)), "{text}");
    let rows = out.lines().filter(|l| l.contains("tr_") && l.trim_start().starts_with(char::is_numeric)).count();
    assert_eq!(rows, 20, "{text}");
    let q = cluster.cli(&["--json", "queue", "--limit", "3"]).json();
    assert_eq!((q["queued"].as_array().unwrap().len(), q["totalQueued"].as_u64()), (3, Some(JOBS as u64)));
    assert_eq!(q["queued"][2]["queuePosition"], 3);

    // Retention runs at the next start: 4 finished, 2 kept plus the champion (the first).
    cluster.kill_scheduler();
    cluster.start_scheduler();
    let removed = &finished[1];
    wait_until("retention to log what it removed", Duration::from_secs(30), || {
        let log = cluster.scheduler_log();
        log.lines().any(|l| l.contains("retention: finished job removed") && l.contains(removed.as_str())).then_some(())
    });
    assert!(!cluster.job_dir(removed).exists(), "its directory is gone");
    let done = cluster.cli(&["--json", "list", "--state", "done"]).json();
    let kept: Vec<String> = [&finished[3], &finished[2], &finished[0]].iter().map(|s| s.to_string()).collect();
    assert_eq!(ids(&done), kept, "the two newest and the champion");
    let queue = cluster.cli(&["--json", "queue", "--limit", "1"]).json();
    assert_eq!(queue["totalQueued"].as_u64(), Some(JOBS as u64), "no queued job is touched");
    let log = cluster.scheduler_log();
    let removals = log.lines().filter(|l| l.contains("retention: finished job removed")).count();
    assert_eq!(removals, 1, "{log}");
}
