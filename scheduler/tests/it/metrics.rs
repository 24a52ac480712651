//! `/metrics` over real HTTP: the counters, the dispatch histogram and the state gauges move
//! with what really happened.

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::transport::Channel;

use crate::support::*;

async fn metrics(s: &Running) -> String {
    let r = http().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    r.text().await.unwrap()
}

/// The value of the sample named exactly `sample` (name plus labels).
fn value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {sample} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_follow_submissions_rejections_dispatch_and_watchers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| c.max_queued_jobs = 2).await;
    let jobs = s.url("/api/training/jobs");
    let body = r#"{"symbols":["SYN-EDGE"],"totalSteps":4096}"#;
    let first = post(&jobs, body).await.1["id"].as_str().unwrap().to_string();
    post(&jobs, body).await;
    assert_eq!(post(&jobs, body).await.0, 429);

    let before = metrics(&s).await;
    assert_eq!(value(&before, "skippy_submissions_total"), 2.0);
    assert_eq!(value(&before, "skippy_rejections_total"), 1.0);
    assert_eq!(value(&before, "skippy_queue_depth"), 2.0);
    assert_eq!(value(&before, r#"skippy_jobs{state="QUEUED"}"#), 2.0);
    assert_eq!(value(&before, "skippy_dispatch_seconds_count"), 0.0);

    // A trainer takes the first job; a client watches it.
    let mut trainer = s.trainer().await;
    let grant = trainer
        .acquire_job(pb::AcquireJobRequest { trainer_id: "t-metrics".into(), name: "m1".into(), wait_ms: 1000 })
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(grant.job.as_ref().unwrap().id, first);
    let lease = grant.lease.clone().unwrap();
    let channel = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    let mut watch = TrainingServiceClient::new(channel)
        .watch_job(pb::WatchJobRequest { job_id: first.clone(), after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().unwrap();

    let after = metrics(&s).await;
    assert_eq!(value(&after, "skippy_queue_depth"), 1.0);
    assert_eq!(value(&after, r#"skippy_jobs{state="PREFLIGHT"}"#), 1.0);
    assert_eq!(value(&after, "skippy_dispatch_seconds_count"), 1.0);
    assert_eq!(value(&after, "skippy_watch_streams"), 1.0);
    assert_eq!(value(&after, "skippy_trainers_connected"), 1.0);
    assert!(after.contains(r#"skippy_trainer_steps_per_second{trainer="m1",trainer_id="t-metrics"}"#), "{after}");
    assert!(after.trim_end().ends_with("# EOF"));
    assert_eq!(value(&after, "skippy_demand"), 2.0, "one queued and one running");

    // The trainer's own training metrics, from its progress reports, labelled by job.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let _commands = trainer.stream_events(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap();
    let stats = pb::TrainingStats {
        episode_reward: 0.25,
        policy_loss: -0.015,
        value_loss: 0.5,
        entropy: 1.0,
        approx_kl: 0.0078125,
        clip_fraction: 0.125,
        explained_variance: 0.75,
        best_validation_sharpe: Some(1.5),
    };
    tx.send(pb::TrainerEvent {
        lease: Some(lease.clone()),
        state: pb::JobState::Training as i32,
        percent: 40.0,
        message: "PPO training in progress".into(),
        steps_done: 2048,
        steps_per_sec: 4000.0,
        stats: Some(stats),
    })
    .await
    .unwrap();
    let job = format!(r#"{{job_id="{first}",trainer="m1"}}"#);
    // The report lands asynchronously: poll until it shows, with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let training = loop {
        let text = metrics(&s).await;
        if text.contains(&format!("skippy_job_entropy{job}")) || std::time::Instant::now() >= deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    for (name, expected) in [
        ("skippy_job_steps_done", 2048.0),
        ("skippy_job_progress_ratio", 0.4),
        ("skippy_job_steps_per_second", 4000.0),
        ("skippy_job_episode_reward", 0.25),
        ("skippy_job_policy_loss", -0.015),
        ("skippy_job_value_loss", 0.5),
        ("skippy_job_entropy", 1.0),
        ("skippy_job_approx_kl", 0.0078125),
        ("skippy_job_clip_fraction", 0.125),
        ("skippy_job_explained_variance", 0.75),
        ("skippy_job_best_validation_sharpe", 1.5),
    ] {
        assert_eq!(value(&training, &format!("{name}{job}")), expected, "{name}");
    }

    // A finished job's series go away with it.
    trainer
        .complete_job(pb::CompleteJobRequest {
            lease: Some(lease),
            outcome: pb::Outcome::Failed as i32,
            reason: "test".into(),
            metrics_json: String::new(),
            steps_done: 2048,
        })
        .await
        .unwrap();
    let done = metrics(&s).await;
    assert!(!done.contains(&job), "{done}");
    assert_eq!(value(&done, "skippy_demand"), 1.0);

    drop(watch);
    s.stop().await;
}
