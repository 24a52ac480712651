//! Proximal Policy Optimisation (clipped surrogate), written against the well-known
//! implementation details: GAE(λ) with termination and truncation kept apart, per-minibatch
//! advantage normalisation, clipped surrogate, optional value clipping, entropy bonus, global
//! gradient clipping, Adam (ε 1e-5), linear learning-rate annealing, orthogonal init.
//!
//! - [`config`] — hyper-parameters, defaults, validation.
//! - [`agent`] — the actor-critic networks.
//! - [`rollout`] — collecting transitions from the vectorised environment.
//! - [`gae`] — advantages.
//! - [`update`] — the loss, its gradient, and the optimiser step.

pub mod agent;
pub use skippy_contract::ppo as config;
pub mod gae;
pub mod rollout;
pub mod update;

pub use agent::ActorCritic;
pub use config::PpoConfig;
pub use rollout::{Collector, EpisodeTracker, RolloutBuffer};
pub use update::{Learner, UpdateStats};
