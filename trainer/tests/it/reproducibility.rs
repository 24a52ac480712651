//! Same spec and seed give the same results; a run resumed from a checkpoint ends exactly as
//! the uninterrupted run; results do not depend on the number of threads.

use skippy_market::catalog::Catalog;
use skippy_market::features::FeatureSet;
use skippy_trainer::checkpoint::Checkpoint;
use skippy_trainer::dataset::Dataset;
use skippy_trainer::spec::TrainSpec;
use skippy_trainer::training::{self, Observer, Progress, RunOptions, StopReason, TrainOutcome};

/// Stops the run (as a shutdown would) after `stop_after` updates, if set.
struct StopAfter {
    stop_after: Option<usize>,
    asked: usize,
    progress: Vec<Progress>,
}

impl Observer for StopAfter {
    fn progress(&mut self, p: &Progress) {
        self.progress.push(p.clone());
    }
    fn stop_requested(&mut self) -> Option<StopReason> {
        self.asked += 1;
        (Some(self.asked - 1) == self.stop_after).then_some(StopReason::Interrupted)
    }
    fn checkpoint(&mut self, _: &Checkpoint) {}
}

fn spec(seed: u64) -> TrainSpec {
    let mut spec = TrainSpec::new(vec!["SYN-EDGE".into(), "SYN-RW".into()], vec![FeatureSet::Price], 12 * 1024, seed);
    spec.ppo.n_steps = 512;
    spec.ppo.n_envs = 2;
    spec.evaluation.validations = 4;
    spec.evaluation.bootstrap_samples = 200;
    spec
}

fn run(spec: &TrainSpec, resume: Option<Checkpoint>, stop_after: Option<usize>, threads: usize) -> TrainOutcome {
    let data = Dataset::load(spec, &Catalog::embedded()).unwrap();
    let opts = RunOptions { threads, ..RunOptions::default() };
    let mut obs = StopAfter { stop_after, asked: 0, progress: Vec::new() };
    training::train(spec, &data, resume, &opts, &mut obs).unwrap()
}

#[test]
fn same_spec_and_seed_give_identical_results() {
    let a = run(&spec(7), None, None, 2);
    let b = run(&spec(7), None, None, 2);
    assert_eq!(a.checkpoint.to_bytes(), b.checkpoint.to_bytes());
    assert_eq!(a.evaluation, b.evaluation);
    let c = run(&spec(8), None, None, 2);
    assert_ne!(a.checkpoint.learner.agent, c.checkpoint.learner.agent, "another seed should train another model");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let one = run(&spec(3), None, None, 1);
    let two = run(&spec(3), None, None, 2);
    assert_eq!(one.checkpoint.to_bytes(), two.checkpoint.to_bytes());
    assert_eq!(one.evaluation, two.evaluation);
}

#[test]
fn resuming_from_a_checkpoint_ends_exactly_as_the_uninterrupted_run() {
    let s = spec(5);
    let whole = run(&s, None, None, 2);
    assert_eq!(whole.checkpoint.updates_done, 12);

    let first = run(&s, None, Some(5), 2);
    assert_eq!(first.stop, StopReason::Interrupted);
    assert!(first.evaluation.is_none(), "an interrupted run is not evaluated");
    assert_eq!(first.checkpoint.updates_done, 5);
    // Through bytes, as a checkpoint travels between trainers.
    let restored = Checkpoint::from_bytes(&first.checkpoint.to_bytes()).unwrap();
    assert_eq!(restored, first.checkpoint);

    let resumed = run(&s, Some(restored), None, 2);
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(resumed.checkpoint.to_bytes(), whole.checkpoint.to_bytes());
    assert_eq!(resumed.evaluation, whole.evaluation);
}

#[test]
fn a_checkpoint_of_another_spec_is_refused() {
    let a = run(&spec(5), None, Some(2), 2);
    let data = Dataset::load(&spec(6), &Catalog::embedded()).unwrap();
    let mut obs = StopAfter { stop_after: None, asked: 0, progress: Vec::new() };
    let err = training::train(&spec(6), &data, Some(a.checkpoint), &RunOptions::default(), &mut obs).unwrap_err();
    assert!(err.to_string().contains("another spec"), "{err}");
}

#[test]
fn progress_walks_the_phases_with_bounded_percentages() {
    let data = Dataset::load(&spec(2), &Catalog::embedded()).unwrap();
    let mut obs = StopAfter { stop_after: None, asked: 0, progress: Vec::new() };
    training::train(&spec(2), &data, None, &RunOptions::default(), &mut obs).unwrap();
    let phases: Vec<_> = obs.progress.iter().map(|p| p.phase).collect();
    use skippy_trainer::training::Phase::*;
    assert_eq!(phases.first(), Some(&Training));
    assert_eq!(&phases[phases.len() - 2..], &[Evaluating, Done]);
    let pct: Vec<f64> = obs.progress.iter().map(|p| p.percent).collect();
    assert!(pct.windows(2).all(|w| w[0] <= w[1]), "percent went backwards: {pct:?}");
    assert!(obs.progress.iter().filter(|p| p.phase == Training).all(|p| (10.0..=85.0).contains(&p.percent)));
    assert_eq!(pct.last(), Some(&100.0));
}

#[test]
fn cancelling_stops_between_updates_and_keeps_a_checkpoint() {
    struct CancelAt(usize, usize, usize);
    impl Observer for CancelAt {
        fn progress(&mut self, _: &Progress) {}
        fn stop_requested(&mut self) -> Option<StopReason> {
            self.1 += 1;
            (self.1 > self.0).then_some(StopReason::Cancelled)
        }
        fn checkpoint(&mut self, _: &Checkpoint) {
            self.2 += 1;
        }
    }
    let data = Dataset::load(&spec(2), &Catalog::embedded()).unwrap();
    let mut obs = CancelAt(3, 0, 0);
    let out = training::train(&spec(2), &data, None, &RunOptions::default(), &mut obs).unwrap();
    assert_eq!(out.stop, StopReason::Cancelled);
    assert_eq!(out.checkpoint.updates_done, 3);
    assert!(obs.2 >= 1, "a final checkpoint is handed to the observer");
    assert!(out.evaluation.is_none());
}
