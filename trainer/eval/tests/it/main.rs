//! The integration tests of `skippy-eval`, each file a module of this one test binary (`it`)
//! rather than a binary of its own: one binary links once.
//!
//! `cargo test -p skippy-eval --test it` runs them all; `--test it bootstrap` one module's (the
//! filter matches the test path, `bootstrap::…`). The tests of every module run as threads of one
//! process: none may change process-wide state (environment variables, the current directory).

mod bootstrap;
mod experiment;
mod metrics;
mod plot;
