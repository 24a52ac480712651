//! End to end, two trainers: two jobs submitted with `--detach` run at the same time, one on
//! each trainer, and both finish DONE.

use std::time::Duration;

use crate::support::{Cluster, SMALL_JOB, history_entry, history_states};

#[test]
fn two_jobs_run_at_once_on_two_trainers() {
    let mut cluster = Cluster::start();
    // One training thread each: two trainers share the machine.
    cluster.start_trainer("t-a", 1);
    cluster.start_trainer("t-b", 1);

    let first = cluster.submit(SMALL_JOB);
    let second = cluster.submit(SMALL_JOB);
    assert_ne!(first, second);
    for id in [&first, &second] {
        cluster.wait_for_state(id, &["DONE"], Duration::from_secs(90));
    }

    let (a, b) = (cluster.settled(&first, "DONE").0, cluster.settled(&second, "DONE").0);
    for m in [&a, &b] {
        assert_eq!(m["state"], "DONE");
        assert_eq!(m["attempt"], 1, "one attempt each: {}", m["history"]);
        assert_eq!(history_states(m), ["QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"]);
    }

    // The PREFLIGHT entry says which trainer took the job: "attempt 1 on trainer t-a (t-…)".
    let trainer_of = |m: &serde_json::Value| {
        let reason = history_entry(m, "PREFLIGHT")["reason"].as_str().expect("a reason").to_string();
        let name = ["t-a", "t-b"].into_iter().find(|n| reason.contains(&format!("on trainer {n} ")));
        name.unwrap_or_else(|| panic!("the PREFLIGHT reason names no trainer: {reason:?}"))
    };
    let (on_a, on_b) = (trainer_of(&a), trainer_of(&b));
    assert_ne!(on_a, on_b, "both jobs ran on {on_a}");

    // They overlapped: each started before the other finished.
    let at = |m: &serde_json::Value, state: &str| history_entry(m, state)["atMs"].as_i64().expect("a time");
    let (a_start, a_end) = (at(&a, "PREFLIGHT"), at(&a, "DONE"));
    let (b_start, b_end) = (at(&b, "PREFLIGHT"), at(&b, "DONE"));
    assert!(
        a_start < b_end && b_start < a_end,
        "the jobs did not overlap: {first} ran {a_start}..{a_end}, {second} ran {b_start}..{b_end}"
    );

    // The CLI agrees about where each ran.
    for (id, name) in [(&first, on_a), (&second, on_b)] {
        let status = cluster.status(id);
        assert_eq!(status["state"], "DONE");
        let reason = status["history"][1]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(name), "status --json of {id} names another trainer: {reason:?}");
    }
}
