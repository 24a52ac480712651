//! The integration tests of `skippy-market`, each file a module of this one test binary (`it`)
//! rather than a binary of its own: one binary links once.
//!
//! `cargo test -p skippy-market --test it` runs them all; `--test it loader` one module's (the
//! filter matches the test path, `loader::…`). The tests of every module run as threads of one
//! process: none may change process-wide state (environment variables, the current directory).

mod catalog;
mod features;
mod fuzz_seeds;
mod loader;
