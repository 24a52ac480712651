//! The trainer core of skippy-train: everything a training job computes.
//!
//! # Layout
//! - [`spec`]: what a job asks for, with defaults resolved.
//! - [`dataset`]: catalog symbols → features → chronological split → normalised markets.
//! - [`env`](mod@env): the vectorised trading environment.
//! - [`nn`]: hand-written MLPs (forward, analytic backward), orthogonal init, Adam.
//! - [`ppo`]: the PPO agent: rollout collection, GAE, the clipped-surrogate update.
//! - [`training`]: the run: updates, validation, checkpoints, progress, stopping.
//! - [`backtest`] and [`evaluation`]: deterministic walks and the out-of-sample report.
//! - [`checkpoint`], [`tensors`], [`artifacts`]: what a run leaves on disk.
//! - [`bench`](mod@bench): throughput benchmarks.
//! - [`worker`]: the trainer process that pulls jobs from a scheduler and runs them.

pub mod artifacts;
pub mod backtest;
pub mod bench;
pub mod checkpoint;
pub mod dataset;
pub mod env;
pub mod evaluation;
pub mod nn;
pub mod ppo;
pub mod report;
pub use skippy_contract::spec;
pub mod tensors;
pub mod training;
pub mod worker;
