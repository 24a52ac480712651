//! Collecting a rollout: `n_steps` batched steps of every environment under the current
//! policy, then GAE advantages per environment.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::agent::{ActWorkspace, ActorCritic};
use super::gae::{self, StepEnd};
use crate::env::{StepOutput, VecEnv};
use crate::nn::MlpWorkspace;

/// A rollout's transitions, environment-major (row `e * n_steps + t`).
#[derive(Debug, Clone)]
pub struct RolloutBuffer {
    /// Observation width.
    pub obs_dim: usize,
    /// Environments.
    pub n_envs: usize,
    /// Steps per environment.
    pub n_steps: usize,
    /// Observations, `len × obs_dim`.
    pub obs: Vec<f32>,
    /// Actions.
    pub actions: Vec<usize>,
    /// Log-probabilities of the actions when taken.
    pub log_probs: Vec<f32>,
    /// Values of the observations when taken.
    pub values: Vec<f32>,
    /// Scaled rewards.
    pub rewards: Vec<f32>,
    /// How each transition ended.
    pub ends: Vec<StepEnd>,
    /// Value of the cut state for truncated transitions.
    pub cut_values: Vec<f32>,
    /// GAE advantages.
    pub advantages: Vec<f32>,
    /// Return targets.
    pub returns: Vec<f32>,
}

/// Episode statistics gathered while collecting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeTracker {
    /// Running scaled reward of each environment's current episode.
    pub running: Vec<f64>,
    /// Rewards of recently finished episodes (newest last, at most 100).
    pub recent: Vec<f64>,
    /// Episodes finished so far.
    pub finished: u64,
}

impl EpisodeTracker {
    /// Mean reward of the recent episodes (0 before any finished).
    pub fn mean_recent(&self) -> f64 {
        if self.recent.is_empty() { 0.0 } else { self.recent.iter().sum::<f64>() / self.recent.len() as f64 }
    }
}

/// Reusable scratch of the collection loop.
#[derive(Debug, Clone)]
pub struct Collector {
    ws: ActWorkspace,
    value_ws: MlpWorkspace,
    policy_ws: MlpWorkspace,
    obs: Vec<f32>,
    actions: Vec<usize>,
    log_probs: Vec<f32>,
    values: Vec<f32>,
    step: StepOutput,
    /// Observations of cut states, gathered to value them in one batch after the rollout.
    cut_obs: Vec<f32>,
    cut_rows: Vec<usize>,
    cut_vals: Vec<f32>,
}

impl RolloutBuffer {
    /// An empty buffer for `n_envs × n_steps` transitions.
    pub fn new(obs_dim: usize, n_envs: usize, n_steps: usize) -> RolloutBuffer {
        let n = n_envs * n_steps;
        RolloutBuffer {
            obs_dim,
            n_envs,
            n_steps,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0; n],
            log_probs: vec![0.0; n],
            values: vec![0.0; n],
            rewards: vec![0.0; n],
            ends: vec![StepEnd::Continues; n],
            cut_values: vec![0.0; n],
            advantages: vec![0.0; n],
            returns: vec![0.0; n],
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl Collector {
    /// Scratch for `agent` acting in `env`.
    pub fn new(agent: &ActorCritic, env: &VecEnv) -> Collector {
        let n = env.n_envs();
        Collector {
            ws: agent.workspace(n),
            value_ws: MlpWorkspace::new(&agent.value, 256),
            policy_ws: MlpWorkspace::new(&agent.policy, 256),
            obs: vec![0.0; n * env.obs_dim()],
            actions: vec![0; n],
            log_probs: vec![0.0; n],
            values: vec![0.0; n],
            step: StepOutput::default(),
            cut_obs: Vec::new(),
            cut_rows: Vec::new(),
            cut_vals: Vec::new(),
        }
    }

    /// Fills `buf` with `n_steps` steps of every environment and computes advantages.
    #[allow(clippy::too_many_arguments)]
    pub fn collect(
        &mut self,
        agent: &ActorCritic,
        env: &mut VecEnv,
        buf: &mut RolloutBuffer,
        gamma: f32,
        lambda: f32,
        rng: &mut impl Rng,
        episodes: &mut EpisodeTracker,
    ) {
        let n = env.n_envs();
        let d = env.obs_dim();
        let steps = buf.n_steps;
        episodes.running.resize(n, 0.0);
        self.cut_obs.clear();
        self.cut_rows.clear();
        for t in 0..steps {
            env.observe(&mut self.obs);
            agent.act(&self.obs, n, &mut self.ws, rng, &mut self.actions, &mut self.log_probs);
            env.step(&self.actions, &mut self.step);
            for e in 0..n {
                let i = e * steps + t;
                buf.obs[i * d..(i + 1) * d].copy_from_slice(&self.obs[e * d..(e + 1) * d]);
                buf.actions[i] = self.actions[e];
                buf.log_probs[i] = self.log_probs[e];
                buf.rewards[i] = self.step.rewards[e];
                episodes.running[e] += self.step.rewards[e] as f64;
                if self.step.truncated[e] {
                    buf.ends[i] = StepEnd::Truncated;
                    self.cut_obs.extend_from_slice(&self.step.final_obs[e * d..(e + 1) * d]);
                    self.cut_rows.push(i);
                    episodes.recent.push(episodes.running[e]);
                    if episodes.recent.len() > 100 {
                        episodes.recent.remove(0);
                    }
                    episodes.finished += 1;
                    episodes.running[e] = 0.0;
                } else {
                    buf.ends[i] = StepEnd::Continues;
                    buf.cut_values[i] = 0.0;
                }
            }
        }
        // Values do not steer the rollout, so they are computed afterwards in large batches;
        // so are the log-probabilities the update compares against, with the update's own
        // arithmetic (actions were sampled from the same policy, rounded differently).
        let (policy_ws, value_ws) = (&mut self.policy_ws, &mut self.value_ws);
        let RolloutBuffer { obs, actions, log_probs, values, .. } = buf;
        rayon::join(
            || agent.log_probs_batched(obs, actions, policy_ws, log_probs),
            || agent.values_batched(obs, value_ws, values),
        );
        self.cut_vals.resize(self.cut_rows.len(), 0.0);
        agent.values_batched(&self.cut_obs, &mut self.value_ws, &mut self.cut_vals);
        for (&i, &v) in self.cut_rows.iter().zip(&self.cut_vals) {
            buf.cut_values[i] = v;
        }
        env.observe(&mut self.obs);
        agent.values(&self.obs, n, &mut self.ws, &mut self.values);
        for e in 0..n {
            let r = e * steps..(e + 1) * steps;
            gae::compute(
                &buf.rewards[r.clone()],
                &buf.values[r.clone()],
                &buf.ends[r.clone()],
                &buf.cut_values[r.clone()],
                self.values[e],
                gamma,
                lambda,
                &mut buf.advantages[r.clone()],
                &mut buf.returns[r],
            );
        }
    }
}
