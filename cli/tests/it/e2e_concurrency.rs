//! End to end, one trainer with `--concurrency 2`: it holds two jobs at once under its one
//! trainer id (the scheduler's queue view shows both TRAINING, both in its job list), and both
//! finish DONE.

use std::time::Duration;

use crate::support::{Cluster, history_entry, history_states, job_of, state_name, wait_until};

#[test]
fn one_trainer_with_two_slots_trains_two_jobs_at_once_and_finishes_both() {
    let mut cluster = Cluster::start();
    // 100 updates each: both train for a while, on one thread each.
    let job = job_of(102_400);
    let first = cluster.submit(&job);
    let second = cluster.submit(&job);
    // Queued before the trainer starts: each of its two slots takes one at its first poll.
    cluster.start_trainer_of("t-two", 2);

    let queue = wait_until("both jobs TRAINING at once", Duration::from_secs(120), || {
        let queue = cluster.queue().ok()?;
        let mut training = 0;
        for id in [&first, &second] {
            match queue.running.iter().find(|j| &j.id == id).map(|j| state_name(j.state)) {
                Some(state) if state == "TRAINING" => training += 1,
                Some(state) if state == "PREFLIGHT" => {}
                None if queue.queued.iter().any(|j| &j.id == id) => {}
                state => panic!("{id} is {state:?} (past training, or gone) before both trained at once: {queue:?}"),
            }
        }
        (training == 2).then_some(queue)
    });
    assert_eq!(queue.trainers.len(), 1, "one trainer: {:?}", queue.trainers);
    let trainer = &queue.trainers[0];
    assert_eq!(trainer.name, "t-two");
    let mut held = trainer.job_ids.clone();
    held.sort();
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(held, both, "the trainer holds both jobs");
    assert!(queue.running.iter().all(|j| j.trainer_id == trainer.trainer_id), "{:?}", queue.running);

    for id in [&first, &second] {
        cluster.wait_for_state(id, &["DONE"], Duration::from_secs(180));
        let (manifest, _) = cluster.settled(id, "DONE");
        assert_eq!(manifest["attempt"], 1, "one attempt: {}", manifest["history"]);
        assert_eq!(history_states(&manifest), ["QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"]);
        let reason = history_entry(&manifest, "PREFLIGHT")["reason"].as_str().unwrap_or_default().to_string();
        assert_eq!(reason, format!("attempt 1 on trainer t-two ({})", trainer.trainer_id));
        assert!(cluster.job_dir(id).join("artifacts").join("walk.csv").is_file(), "{id} stored walk.csv");
    }
}
