//! A small, hand-written neural-network kit for PPO: MLPs over `f32` slices with analytic
//! backward passes, orthogonal initialisation, and Adam. General tensor libraries spend more
//! time in per-operation overhead than in arithmetic at these sizes (64×64); this does not.

pub mod adam;
pub mod mlp;
pub mod tanh;

pub use adam::Adam;
pub use mlp::{Mlp, MlpGrad, MlpWorkspace};
