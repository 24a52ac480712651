//! The integration tests of `skippy-trainer`, each file a module of this one test binary (`it`)
//! rather than a binary of its own: linking a test binary against the trainer and its
//! dependencies is most of what building the tests costs, and one binary links once.
//!
//! `cargo test -p skippy-trainer --test it` runs them all; `--test it offline_cli` one module's
//! (the filter matches the test path, `offline_cli::…`). The tests of every module run as threads
//! of one process: none may change process-wide state (environment variables, the current
//! directory) or rely on a fixed port or path. The one global is `worker_protocol`'s tracing
//! subscriber (installed with `try_init`, so the first call wins); it writes to the test harness's
//! capture, and only the worker logs.

mod learning;
mod no_lookahead;
mod offline_cli;
mod reproducibility;
mod worker_protocol;
