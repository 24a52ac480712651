//! `/metrics` over real HTTP, on its own listener: the counters, the dispatch histogram and the
//! state gauges move with what really happened; the API's port does not serve them; a token,
//! when set, is asked for; a render is reused for a second; no trainer name can break the text.

use std::time::Duration;

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::transport::Channel;

use crate::support::*;

async fn metrics(s: &Running) -> String {
    let r = http().get(format!("{}/metrics", s.metrics)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    r.text().await.unwrap()
}

/// Scrapes until every sample has its value (a render is reused for up to a second, and some
/// reports land asynchronously), with a generous deadline; returns that scrape.
async fn metrics_showing(s: &Running, samples: &[(&str, f64)]) -> String {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let text = metrics(s).await;
        if samples.iter().all(|(sample, expected)| sample_value(&text, sample) == Some(*expected)) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "the metrics never showed {samples:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample named exactly `sample` (name plus labels), if there is one.
fn sample_value(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))?.parse().ok()
}

/// The value of the sample named exactly `sample` (name plus labels).
fn value(text: &str, sample: &str) -> f64 {
    sample_value(text, sample).unwrap_or_else(|| panic!("no {sample} in:\n{text}"))
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

    let before = metrics_showing(&s, &[("skippy_submissions_total", 2.0), ("skippy_rejections_total", 1.0)]).await;
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

    let after =
        metrics_showing(&s, &[("skippy_queue_depth", 1.0), ("skippy_watch_streams", 1.0), ("skippy_demand", 2.0)])
            .await;
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
    // The report lands asynchronously.
    let training = metrics_showing(&s, &[(&format!("skippy_job_best_validation_sharpe{job}"), 1.5)]).await;
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
    let done = metrics_showing(&s, &[(r#"skippy_jobs{state="FAILED"}"#, 1.0)]).await;
    assert!(!done.contains(&job), "{done}");
    assert_eq!(value(&done, "skippy_demand"), 1.0);

    drop(watch);
    s.stop().await;
}

#[tokio::test]
async fn metrics_are_not_on_the_api_port_and_ask_for_their_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let token = "metrics-token-0123456789";
    let s = start_with(dir.path(), |c| c.metrics_token = Some(token.parse().unwrap())).await;
    // The API's port: no such route, with or without a secret.
    let got = get(&s.url("/metrics")).await;
    assert_error(&got, 404, "not_found", &["no route GET /metrics"]);

    let url = format!("{}/metrics", s.metrics);
    for wrong in [None, Some("Bearer wrong-token-0123456789"), Some(token)] {
        let mut r = http().get(&url);
        if let Some(w) = wrong {
            r = r.header("authorization", w);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{wrong:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let text = r.text().await.unwrap();
        assert!(text.contains("SKIPPY_METRICS_TOKEN") && !text.contains(token), "{text}");
    }
    let r = http().get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("skippy_queue_depth 0"));
    s.stop().await;
}

#[tokio::test]
async fn trainer_names_that_could_break_the_text_are_refused_and_the_rest_render_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut trainer = s.trainer().await;
    let acquire = |trainer_id: &str, name: &str| pb::AcquireJobRequest {
        trainer_id: trainer_id.into(),
        name: name.into(),
        wait_ms: 0,
    };
    for (trainer_id, name, words) in [
        ("t-1", "m1\"} 1\nskippy_forged 2", "name has the character '\"' at position 2"),
        ("t-1", "line\nbreak", "name has the character '\\n' at position 4"),
        ("t-1", "", "name is empty"),
        ("t-1", "space name", "name has the character ' ' at position 5"),
        ("t-\"1", "m1", "trainer_id has the character '\"' at position 2"),
        (&"t".repeat(129), "m1", "trainer_id is 129 bytes long"),
    ] {
        let e = trainer.acquire_job(acquire(trainer_id, name)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name:?}: {e:?}");
        assert!(e.message().contains(words), "{:?} lacks {words:?}", e.message());
        assert!(e.message().contains("A-Z, a-z, 0-9, '.', '_', ':' or '-'"), "{:?}", e.message());
    }
    trainer.acquire_job(acquire("t-rack:7_slot-2.a", "gpu-01.example:7")).await.unwrap();
    let text = metrics_showing(&s, &[("skippy_trainers_connected", 1.0)]).await;
    assert!(!text.contains("forged") && !text.contains("line"), "{text}");
    // Every line of the scrape is a comment or `name{labels} value`: nothing was broken.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        assert!(value.parse::<f64>().is_ok(), "{line:?}");
        let labels = series.split_once('{').map_or("", |(_, l)| l.trim_end_matches('}'));
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (_, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
            assert!(quoted.starts_with('"') && quoted.ends_with('"') && quoted.matches('"').count() == 2, "{line:?}");
        }
    }
    let queue = get(&s.url("/api/training/queue")).await.1;
    assert_eq!(queue["trainers"].as_array().unwrap().len(), 1, "the refused names were never seen: {queue}");
    s.stop().await;
}
