//! The integration tests of `skippy-train`, each file a module of this one test binary (`it`)
//! rather than a binary of its own: linking a test binary against the CLI, the scheduler, the
//! trainer and their dependencies is most of what building the tests costs, and one binary links
//! once.
//!
//! `cargo test -p skippy-train --test it` runs them all; `--test it e2e_watch` one module's (the
//! filter matches the test path, `e2e_watch::…`). The tests of every module run as threads of one
//! process: none may change process-wide state (environment variables, the current directory, a
//! global tracing subscriber) or rely on a fixed port or path. The end-to-end tests (`e2e_*`)
//! start their processes through [`support::Cluster`], which runs one cluster at a time, as when
//! each file was a binary of its own.

mod completions;
mod e2e_cancel;
mod e2e_concurrency;
mod e2e_dashboard;
mod e2e_event_sequences;
mod e2e_experiment;
mod e2e_lineage;
mod e2e_paging;
mod e2e_parallel;
mod e2e_scheduler_restart;
mod e2e_slurm;
mod e2e_soak;
mod e2e_submissions_survive_kills;
mod e2e_trainer_killed;
mod e2e_trainer_partitioned;
mod e2e_watch;
mod fake_scheduler;
// Both need the `local` feature (on by default): `fuzz_seeds` checks names with the scheduler's
// store, `local` runs `skippy-train ppo --local`.
#[cfg(feature = "local")]
mod fuzz_seeds;
#[cfg(feature = "local")]
mod local;
mod support;
