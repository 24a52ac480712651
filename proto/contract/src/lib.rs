//! The job contract of skippy-train: what a training job is, as the scheduler, the trainers and
//! the CLI all read it. One of the system's two API boundaries (the other is `skippy-proto`,
//! the gRPC messages).
//!
//! # Layout
//! - [`spec`]: [`TrainSpec`], every default resolved and recorded; `--set` overrides by dotted
//!   path; validation of every range that can be checked without data; the split
//!   ([`spec::SplitConfig`]): one train/validation/test split, or walk-forward fold `k` of `K`.
//! - [`ppo`], [`env`](mod@env): the PPO hyper-parameters and the trading environment's settings.
//! - [`features`]: feature-set names (the columns are the trainer's).
//! - [`data`]: how data files are read (`data.on_duplicate`).
//! - [`duration`]: durations as people type them (`10m`, `1h30m`), for the CLI and the trainer.
//! - [`catalog`]: which symbols a data directory offers, without reading a bar.
//! - [`results`]: a job's `metrics.json` as readers see it, and the one table printed of it.
//! - [`experiment`]: an experiment's `experiment.json` as readers see it, and the one human
//!   report printed of it.
//!
//! No bars, no training code: the scheduler links this crate to check and resolve
//! submissions, not the trainer.

pub mod catalog;
pub mod data;
pub mod duration;
pub mod env;
pub mod experiment;
pub mod features;
pub mod ppo;
pub mod results;
pub mod spec;

pub use env::EnvConfig;
pub use ppo::PpoConfig;
pub use spec::TrainSpec;
