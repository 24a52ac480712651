//! The actor-critic: separate policy and value MLPs over the same observation. The policy
//! outputs logits of a categorical distribution over the discrete position actions.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::nn::{Mlp, MlpWorkspace};

/// Policy and value networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorCritic {
    /// Observation → action logits (output layer initialised with gain 0.01: a near-uniform start).
    pub policy: Mlp,
    /// Observation → state value (output layer gain 1).
    pub value: Mlp,
}

/// Scratch for acting on a batch of observations.
#[derive(Debug, Clone)]
pub struct ActWorkspace {
    pi: MlpWorkspace,
    v: MlpWorkspace,
}

impl ActorCritic {
    /// Fresh networks with orthogonal initialisation.
    pub fn new(obs_dim: usize, n_actions: usize, hidden: &[usize], rng: &mut impl Rng) -> ActorCritic {
        let sizes = |out: usize| {
            let mut s = vec![obs_dim];
            s.extend_from_slice(hidden);
            s.push(out);
            s
        };
        let policy = Mlp::new(&sizes(n_actions), 0.01, rng);
        let value = Mlp::new(&sizes(1), 1.0, rng);
        ActorCritic { policy, value }
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.policy.input_size()
    }

    /// Number of discrete actions.
    pub fn n_actions(&self) -> usize {
        self.policy.output_size()
    }

    /// Scratch for batches of up to `capacity` observations.
    pub fn workspace(&self, capacity: usize) -> ActWorkspace {
        ActWorkspace { pi: MlpWorkspace::new(&self.policy, capacity), v: MlpWorkspace::new(&self.value, capacity) }
    }

    /// Samples an action for each of `n` observations; writes the actions and their
    /// log-probabilities.
    pub fn act(
        &self,
        obs: &[f32],
        n: usize,
        ws: &mut ActWorkspace,
        rng: &mut impl Rng,
        actions: &mut [usize],
        log_probs: &mut [f32],
    ) {
        let k = self.n_actions();
        let logits = self.policy.forward(obs, n, &mut ws.pi);
        for i in 0..n {
            let z = &logits[i * k..(i + 1) * k];
            let lse = log_sum_exp(z);
            let u: f32 = rng.random();
            let mut acc = 0.0f32;
            let mut a = k - 1;
            for (j, &zj) in z.iter().enumerate() {
                acc += (zj - lse).exp();
                if u < acc {
                    a = j;
                    break;
                }
            }
            actions[i] = a;
            log_probs[i] = z[a] - lse;
        }
    }

    /// State values of `n` observations.
    pub fn values(&self, obs: &[f32], n: usize, ws: &mut ActWorkspace, out: &mut [f32]) {
        out[..n].copy_from_slice(self.value.forward(obs, n, &mut ws.v));
    }

    /// State values of any number of observations, in batches of the workspace's capacity
    /// (bit-identical to one at a time: each output row depends on its input row only).
    pub fn values_batched(&self, obs: &[f32], ws: &mut MlpWorkspace, out: &mut [f32]) {
        let d = self.obs_dim();
        let cap = ws.capacity();
        for (o, x) in out.chunks_mut(cap).zip(obs.chunks(cap * d)) {
            let n = o.len();
            o.copy_from_slice(self.value.forward(x, n, ws));
        }
    }

    /// Log-probabilities of `actions` at `obs` (any number of rows), computed in large
    /// batches: the same arithmetic the update uses, so its first probability ratio is exactly 1.
    pub fn log_probs_batched(&self, obs: &[f32], actions: &[usize], ws: &mut MlpWorkspace, out: &mut [f32]) {
        let d = self.obs_dim();
        let k = self.n_actions();
        let cap = ws.capacity();
        for ((o, x), a) in out.chunks_mut(cap).zip(obs.chunks(cap * d)).zip(actions.chunks(cap)) {
            let n = o.len();
            let logits = self.policy.forward(x, n, ws);
            for i in 0..n {
                let z = &logits[i * k..(i + 1) * k];
                o[i] = z[a[i]] - log_sum_exp(z);
            }
        }
    }

    /// The most probable action for each of `n` observations (deterministic evaluation).
    pub fn greedy(&self, obs: &[f32], n: usize, ws: &mut ActWorkspace, actions: &mut [usize]) {
        let k = self.n_actions();
        let logits = self.policy.forward(obs, n, &mut ws.pi);
        for i in 0..n {
            let z = &logits[i * k..(i + 1) * k];
            let mut best = 0;
            for j in 1..k {
                if z[j] > z[best] {
                    best = j;
                }
            }
            actions[i] = best;
        }
    }
}

/// `ln Σ exp(z)`, computed stably.
pub fn log_sum_exp(z: &[f32]) -> f32 {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + z.iter().map(|&v| (v - m).exp()).sum::<f32>().ln()
}
