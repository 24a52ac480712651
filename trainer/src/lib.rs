//! The trainer core of skippy-train: everything a training job computes.
//!
//! # Layout
//! - [`nn`]: hand-written MLPs (forward, analytic backward), orthogonal init, Adam.
//! - [`env`]: the vectorised trading environment over causal features.
//! - [`ppo`]: the PPO agent: rollout collection, GAE, the clipped-surrogate update.

pub mod bench;
pub mod env;
pub mod nn;
pub mod ppo;
