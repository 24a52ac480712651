//! What the scheduler keeps in memory: a queued job without its resolved spec, a finished job
//! as a compact entry once its manifest and events are written, trainers forgotten a few lease
//! periods after their last contact.

use std::time::Duration;

use super::*;
use crate::completion::Outcome;
use crate::job::SubmittedSpec;
use crate::leases::LeaseClaim;

fn spec(symbols: &[&str]) -> SubmittedSpec {
    SubmittedSpec {
        algorithm: "ppo".into(),
        total_steps: 4096,
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        overrides: [("ppo.learning_rate".to_string(), "0.0001".to_string())].into(),
        ..Default::default()
    }
}

async fn started() -> (tempfile::TempDir, Arc<Scheduler>) {
    let dir = tempfile::tempdir().unwrap();
    let (scheduler, _) = Scheduler::start(Config::local(dir.path().into())).unwrap();
    (dir, scheduler)
}

const METRICS: &str = r#"{"stop_reason":"completed","kept_model_validation_sharpe":1.0,"data":[["BTC","ab"]],
    "evaluation":{"portfolio":{"strategy":{"sharpe":1.5},"buy_and_hold":{"sharpe":0.5}}}}"#;

#[tokio::test]
async fn a_queued_job_keeps_its_resolved_spec_only_in_the_journal_and_gets_it_back_when_needed() {
    let (_dir, scheduler) = started().await;
    let (submitted, _) = scheduler.submit(spec(&["BTC"])).await.unwrap();
    let id = submitted.record.id.clone();
    let text = submitted.record.resolved_spec.to_string();
    assert!(text.contains("\"learning_rate\":0.0001"), "the answer has the spec: {text}");
    assert!(scheduler.lock().jobs[&id].resolved_spec.is_null(), "memory keeps no copy while the job waits");
    scheduler.flush_events().await;
    {
        // Its first event is published and kept as a time until it is written with the next.
        let st = scheduler.lock();
        let log = &st.events[&id];
        assert!(log.deferred.is_some() && log.tail.is_empty() && log.unwritten.is_empty());
        assert_eq!(log.snapshots.capacity(), 0, "nothing kept for the feed once published");
    }
    assert_eq!(scheduler.view(&id).await.unwrap().record.resolved_spec.to_string(), text, "GetJob reads it back");

    let grant = scheduler.acquire("t-1", "one", Duration::ZERO).await.unwrap().expect("the queued job");
    assert_eq!(grant.job.resolved_spec.to_string(), text, "the trainer gets it");
    assert_eq!(scheduler.lock().jobs[&id].resolved_spec.to_string(), text, "kept while the job runs");
    scheduler.persist(&id).await.unwrap();
    let manifest = scheduler.store.read_job(&id).unwrap();
    assert_eq!(manifest.resolved_spec.to_string(), text, "and its manifest has it");
}

#[tokio::test]
async fn a_finished_job_leaves_memory_once_its_manifest_and_events_are_written() {
    let (_dir, scheduler) = started().await;
    let (job, _) = scheduler.submit(spec(&["BTC"])).await.unwrap();
    let id = job.record.id;
    let grant = scheduler.acquire("t-1", "one", Duration::ZERO).await.unwrap().expect("the queued job");
    let claim =
        LeaseClaim { job_id: id.clone(), lease_id: grant.lease.lease_id.clone(), attempt: 1, trainer_id: "t-1".into() };
    let (tx, _rx) = tokio::sync::mpsc::channel(4);
    scheduler.attach_commands(&claim, &tx).unwrap();
    scheduler.complete(&claim, Outcome::Done { metrics_json: METRICS.into() }, 4096).await.unwrap();
    scheduler.flush_events().await;
    {
        let st = scheduler.lock();
        assert!(!st.jobs.contains_key(&id) && !st.events.contains_key(&id), "no record, no event log in memory");
        assert!(!st.commands.contains_key(&id), "no command channel");
        let entry = st.finished.get(&id).expect("a compact entry");
        assert_eq!((entry.state, entry.last_sequence), (JobState::Done, 3));
        assert_eq!(entry.result.as_ref().map(|r| r.generation), Some(1));
    }
    assert!(scheduler.write_locks.lock().unwrap().is_empty(), "no manifest lock");
    // The rest is on disk: the whole job, its history and spec.
    let view = scheduler.view(&id).await.unwrap();
    assert_eq!(view.record.history.len(), 3);
    assert!(view.record.resolved_spec.to_string().contains("learning_rate"));
    // A report under the old lease is stale, as before.
    let e = scheduler.heartbeat(&claim, 1).unwrap_err();
    assert!(matches!(e, SchedulerError::StaleLease { .. }), "{e}");
    // The lineage goes on from the compact index: the next job is generation 2.
    scheduler.submit(spec(&["BTC"])).await.unwrap();
    let grant = scheduler.acquire("t-1", "one", Duration::ZERO).await.unwrap().expect("the second job");
    let claim = LeaseClaim {
        job_id: grant.job.id.clone(),
        lease_id: grant.lease.lease_id,
        attempt: 1,
        trainer_id: "t-1".into(),
    };
    scheduler.complete(&claim, Outcome::Done { metrics_json: METRICS.into() }, 4096).await.unwrap();
    let second = scheduler.view(&claim.job_id).await.unwrap().record.result.unwrap();
    assert_eq!((second.generation, second.champion), (2, false), "a tie on validation does not take the title");
}

#[tokio::test]
async fn trainers_gone_for_a_few_lease_periods_are_forgotten() {
    let (_dir, scheduler) = started().await;
    for trainer in ["t-old", "t-new"] {
        assert!(scheduler.acquire(trainer, trainer, Duration::ZERO).await.unwrap().is_none());
    }
    let ttl = scheduler.config.lease_ttl_ms as i64;
    scheduler.lock().trainers.get_mut("t-old").unwrap().last_seen_ms -= TRAINER_HORIZON_LEASES * ttl + 1;
    scheduler.sweep();
    let st = scheduler.lock();
    assert!(!st.trainers.contains_key("t-old"), "gone longer than {TRAINER_HORIZON_LEASES} lease periods");
    assert!(st.trainers.contains_key("t-new"));
}
