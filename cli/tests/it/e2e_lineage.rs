//! End to end, a lineage: two jobs of the same algorithm, symbols and features on the same data
//! run one after the other. The first is generation 1, measured over buy-and-hold; the second is
//! generation 2, measured over the first (the champion) by pairing both jobs' stored test walks,
//! and `skippy-train results` says so in the brief's line shape.

use std::time::Duration;

use crate::support::{Cluster, SMALL_JOB};

#[test]
fn the_second_generation_is_measured_over_the_champion_on_the_same_bars() {
    let mut cluster = Cluster::start();
    cluster.start_trainer("t-a", 2);

    let first = cluster.submit(SMALL_JOB);
    let done = cluster.wait_for_state(&first, &["DONE"], Duration::from_secs(90));
    let r1 = done.result.expect("a result");
    let over_bh = r1.improvement.expect("an improvement");
    assert_eq!((r1.generation, r1.champion, over_bh.over_generation), (1, true, 0));
    assert!((over_bh.sharpe_difference - (r1.sharpe - r1.buy_and_hold_sharpe)).abs() < 1e-9, "{r1:?}");
    assert!(over_bh.lo <= over_bh.sharpe_difference && over_bh.sharpe_difference <= over_bh.hi, "{over_bh:?}");
    assert_eq!(over_bh.level, 0.95);

    // Another seed, so another model on the same test bars.
    let mut job: Vec<&str> = SMALL_JOB.to_vec();
    job.extend(["--seed", "77"]);
    let second = cluster.submit(&job);
    let done = cluster.wait_for_state(&second, &["DONE"], Duration::from_secs(90));
    let r2 = done.result.expect("a result");
    let over_champion = r2.improvement.expect("an improvement");
    assert_eq!((r2.generation, over_champion.over_generation), (2, 1), "{r2:?}");
    // The paired difference is of the two jobs' own test Sharpes, read back from their walks.
    assert!(
        (over_champion.sharpe_difference - (r2.sharpe - r1.sharpe)).abs() < 1e-6,
        "{} against {} - {}",
        over_champion.sharpe_difference,
        r2.sharpe,
        r1.sharpe
    );
    assert!(over_champion.lo <= over_champion.sharpe_difference && over_champion.sharpe_difference <= over_champion.hi);

    let results = cluster.cli(&["results", &second]);
    let text = results.ok();
    let line = text.lines().find(|l| l.contains("Improvement:")).unwrap_or_else(|| panic!("no Improvement in {text}"));
    assert!(line.contains(" Sharpe over generation 1 ["), "{line}");
    assert!(line.ends_with("], significant") || line.ends_with("], not significant"), "{line}");
}
