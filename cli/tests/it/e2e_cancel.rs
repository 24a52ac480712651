//! End to end, cancellation: `skippy-train cancel` stops a training job early and
//! leaves its checkpoint; cancelling again is a no-op; a job that ended cannot be cancelled.

use std::time::Duration;

use crate::support::{Cluster, SMALL_JOB, job_of};

/// Steps of the job that is cancelled: minutes of training, far more than the test waits for.
const LONG_JOB_STEPS: u64 = 2_000_000;

#[test]
fn cancel_stops_a_training_job_and_is_idempotent_but_refused_once_a_job_ended() {
    let mut cluster = Cluster::start();
    cluster.start_trainer("t-a", 2);

    // A job that ended DONE first (the one trainer is then free for the long one).
    let mut args = vec!["ppo"];
    args.extend_from_slice(SMALL_JOB);
    let small = cluster.cli(&args);
    small.ok();
    let done = small.stdout.lines().find_map(|l| l.strip_prefix("✅ Job created: ")).expect("a job id").to_string();

    // A job far too long to finish during the test.
    let id = cluster.submit(&job_of(LONG_JOB_STEPS));
    cluster.wait_for_state(&id, &["TRAINING"], Duration::from_secs(60));

    // No bound on how fast: the generous deadline only keeps a broken cancel from hanging the
    // test; the job ends CANCELLED (not DONE: `wait_for_state` fails on another end) well short
    // of its steps.
    let cancel = cluster.cli(&["cancel", &id]);
    assert!(cancel.ok().contains(&format!("job {id}")), "{cancel}");
    let job = cluster.wait_for_state(&id, &["CANCELLED"], Duration::from_secs(60));
    assert!(job.steps_done < LONG_JOB_STEPS, "stopped early: {} steps", job.steps_done);

    let status = cluster.status(&id);
    assert_eq!(status["state"], "CANCELLED");
    let (manifest, _) = cluster.settled(&id, "CANCELLED");
    assert_eq!(manifest["state"], "CANCELLED");
    assert!(manifest["finishedMs"].as_i64() > Some(0));

    // What was trained is kept: a checkpoint under runs/<id>/checkpoints/.
    let checkpoints = cluster.checkpoint_files(&id);
    assert!(!checkpoints.is_empty(), "no checkpoint in {}", cluster.job_dir(&id).join("checkpoints").display());

    // Cancelling again succeeds and changes nothing.
    let again = cluster.cli(&["cancel", &id]);
    assert!(again.ok().contains(&format!("🚫 Job {id} cancelled.")), "{again}");
    assert_eq!(cluster.status(&id)["state"], "CANCELLED");

    // `results` of a cancelled job: exit 3 and a sentence.
    let results = cluster.cli(&["results", &id]);
    assert_eq!(results.code, Some(3), "{results}");
    assert!(results.stderr.contains("was cancelled"), "{results}");

    // A job that ended DONE cannot be cancelled, and stays DONE.
    let refused = cluster.cli(&["cancel", &done]);
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(refused.stderr.contains("already ended DONE"), "{refused}");
    assert_eq!(cluster.status(&done)["state"], "DONE");

    // The trainer is free again: it takes and finishes the next job.
    let next = cluster.submit(SMALL_JOB);
    cluster.wait_for_state(&next, &["DONE"], Duration::from_secs(60));
}
