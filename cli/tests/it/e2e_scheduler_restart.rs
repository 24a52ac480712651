//! End to end, the scheduler dies: SIGKILL it while a job trains (with a checkpoint stored) and
//! two more wait in the queue, then start it again on the same ports and runs directory. The
//! trainer reconnects and finishes the job on the same attempt; a `skippy-train watch` started
//! before the kill rides through the restart, printing each phase once, and exits 0 at DONE;
//! the queued jobs survive and run.

use std::time::Duration;

use crate::support::{
    Cluster, SMALL_JOB, assert_gap_free, assert_in_order, history_states, job_of, state_name, wait_until,
};

/// Long enough (several seconds) to be training across the restart.
const STEPS: u64 = 150_000;

/// The scheduler's lease TTL in this test. A restarted scheduler gives a running job's trainer
/// one TTL to reconnect before it re-queues the job; the harness's 2 s could pass on a starved
/// machine (and so could a late heartbeat before the kill), and nothing here needs a lost trainer
/// to be noticed quickly. The trainer still reconnects at once; this only bounds how late it may.
const LEASE_TTL_MS: &str = "60000";

#[test]
fn a_killed_scheduler_restarts_and_jobs_watchers_and_the_queue_carry_on() {
    let mut cluster = Cluster::start_with(&[("--lease-ttl-ms", LEASE_TTL_MS)]);
    cluster.start_trainer("t-a", 2);

    let id = cluster.submit(&job_of(STEPS));
    // One trainer, one job at a time: these two wait behind it.
    let queued = [cluster.submit(SMALL_JOB), cluster.submit(SMALL_JOB)];
    let mut watch = cluster.spawn_cli(&["watch", &id]);

    cluster.wait_for_state(&id, &["TRAINING"], Duration::from_secs(60));
    wait_until("a checkpoint of the training job", Duration::from_secs(60), || {
        (!cluster.checkpoint_files(&id).is_empty()).then_some(())
    });
    wait_until("the watch to show TRAINING", Duration::from_secs(30), || {
        watch.stdout_text().contains("[TRAINING]").then_some(())
    });
    for q in &queued {
        let job = cluster.job(q).expect("GetJob");
        assert_eq!(state_name(job.state), "QUEUED", "{q} should wait behind {id}");
    }

    cluster.kill_scheduler();
    assert!(watch.exited().is_none(), "the watch ended with the scheduler:\n{}", watch.stdout_text());
    cluster.start_scheduler();

    // The trainer reconnects under its lease and finishes the job on the same attempt.
    let done = cluster.wait_for_state(&id, &["DONE"], Duration::from_secs(120));
    assert_eq!(done.attempt, 1, "the job was re-run instead of continued: {:?}", done.history);
    let (manifest, _) = cluster.settled(&id, "DONE");
    assert_eq!(history_states(&manifest), ["QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"]);

    // The watch survived: it reconnected, printed each phase once, and ended with the job.
    let status = watch.wait(Duration::from_secs(30));
    let (stdout, stderr) = (watch.stdout_text(), watch.stderr_text());
    assert_eq!(status.code(), Some(0), "watch exited with {status}:\n{stdout}\n{stderr}");
    assert!(stderr.contains("Lost the scheduler"), "the watch never noticed the restart:\n{stderr}");
    assert!(stderr.contains("Reconnected to the scheduler"), "{stderr}");
    assert_in_order(&stdout, &["[TRAINING]", "[EVALUATING]", "[DONE] 100%", "Training completed successfully!"]);
    for phase in ["[TRAINING]", "[EVALUATING]", "[DONE]"] {
        assert_eq!(stdout.matches(phase).count(), 1, "{phase} must be printed once:\n{stdout}");
    }
    for phase in ["[QUEUED]", "[PREFLIGHT]"] {
        assert!(stdout.matches(phase).count() <= 1, "{phase} printed twice:\n{stdout}");
    }
    assert!(!stdout.contains("[FAILED]") && !stdout.contains("[CANCELLED]"), "{stdout}");

    // The queued jobs were durable: both are there after the restart and run to the end.
    for q in &queued {
        cluster.wait_for_state(q, &["DONE"], Duration::from_secs(90));
        assert_eq!(cluster.status(q)["state"], "DONE");
    }

    // Every event log is still numbered 1, 2, 3, … without gaps.
    for job in [&id, &queued[0], &queued[1]] {
        assert_gap_free(job, &cluster.settled(job, "DONE").1);
    }
}
