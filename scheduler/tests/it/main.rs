//! The integration tests of `skippy-scheduler`, each file a module of this one test binary (`it`)
//! rather than a binary of its own: linking a test binary against the scheduler and its
//! dependencies is most of what building the tests costs, and one binary links once.
//!
//! `cargo test -p skippy-scheduler --test it` runs them all; `--test it bad_input` one module's
//! (the filter matches the test path, `bad_input::…`). The tests of every module run as threads of
//! one process: none may change process-wide state (environment variables, the current
//! directory, a global tracing subscriber) or rely on a fixed port or path.

mod auth;
mod auth_first;
mod bad_input;
mod budgets;
mod config_docs;
mod dashboard;
mod disk_full;
mod draining;
mod experiments;
mod finished_jobs;
mod fuzz_seeds;
mod gateway;
mod metrics;
mod openapi;
mod paging;
mod protocol;
mod request_ids;
mod retention;
mod slow_clients;
mod support;
mod tls;
mod watch_jobs;
