//! End to end, a trainer dies: SIGKILL the trainer of a training job after its first
//! checkpoint; its lease expires, the job is re-queued, and a second trainer resumes it from the
//! checkpoint and finishes it DONE on attempt 2.

use std::time::Duration;

use crate::support::{
    Cluster, assert_attempt_2_resumed, assert_gap_free, assert_two_attempts, job_of, state_name, wait_until,
};

/// Long enough (about 10 s on two threads) that it cannot finish before the kill, which comes
/// right after the first checkpoint (at most about 1 s into training).
const STEPS: u64 = 200_000;

#[test]
fn a_killed_trainers_job_is_requeued_and_resumed_from_its_checkpoint_by_another() {
    let mut cluster = Cluster::start();
    cluster.start_trainer("t-a", 2);
    let id = cluster.submit(&job_of(STEPS));

    // Attempt 1 trains on t-a until a checkpoint is stored; then t-a dies.
    cluster.wait_for_state(&id, &["TRAINING"], Duration::from_secs(60));
    wait_until("the first checkpoint of attempt 1", Duration::from_secs(60), || {
        (!cluster.checkpoint_files(&id).is_empty()).then_some(())
    });
    cluster.trainer("t-a").kill();
    let job = cluster.job(&id).expect("GetJob");
    assert_eq!(state_name(job.state), "TRAINING", "the job must still be training when its trainer dies");
    assert!(job.steps_done < STEPS, "attempt 1 trained {} of {STEPS} steps before the kill", job.steps_done);

    // The lease expires (2 s without a heartbeat) and the job goes back to the queue.
    let requeued = cluster.wait_for_state(&id, &["QUEUED"], Duration::from_secs(15));
    assert_eq!(requeued.attempt, 1);
    // Attempt 1's checkpoints, now that nothing more can arrive for it.
    let manifest = cluster.manifest(&id);
    let stored: Vec<u64> = manifest["checkpoints"]
        .as_array()
        .expect("a checkpoint list")
        .iter()
        .map(|c| c["steps"].as_u64().expect("checkpoint steps"))
        .collect();
    let resume_from = *stored.iter().max().expect("attempt 1 stored a checkpoint");
    assert!(resume_from > 0 && resume_from < STEPS, "checkpoint at {resume_from} steps");

    // t-b takes the job, resumes it and finishes it.
    cluster.start_trainer("t-b", 2);
    let done = cluster.wait_for_state(&id, &["DONE"], Duration::from_secs(120));
    assert_eq!(done.attempt, 2);

    let (manifest, events) = cluster.settled(&id, "DONE");
    assert_eq!(manifest["state"], "DONE");
    assert_two_attempts(&manifest, "t-a", "attempt 1: lease expired", "t-b");
    assert!(
        manifest["attemptErrors"][0].as_str().is_some_and(|e| e.contains("lease expired")),
        "{}",
        manifest["attemptErrors"]
    );

    // Attempt 2 resumed: its TRAINING state event starts past 10% (a fresh start reports
    // exactly 10%), at the checkpoint's steps; t-b says so in its log.
    assert_gap_free(&id, &events);
    assert_attempt_2_resumed(&id, &events, "t-b", resume_from, STEPS);
    assert!(cluster.trainer("t-b").stdout_text().contains("resume=true"), "t-b did not resume from a checkpoint");

    // Attempt 2 stored checkpoints of its own, beyond attempt 1's.
    let own: Vec<String> = cluster.checkpoint_files(&id).into_iter().filter(|n| n.starts_with("ckpt-a2-")).collect();
    assert!(!own.is_empty(), "no checkpoint of attempt 2: {:?}", cluster.checkpoint_files(&id));
    assert_eq!(cluster.status(&id)["state"], "DONE");
}
