//! PPO hyper-parameters: defaults equal to the common reference implementations
//! (Stable-Baselines3 / CleanRL), every one overridable, validated in one place.

use serde::{Deserialize, Serialize};

/// PPO hyper-parameters. Defaults follow the reference implementations: 64×64 tanh policy
/// and value MLPs, n_steps 2048, minibatch 64, 10 epochs, lr 3e-4 annealed linearly to 0,
/// γ 0.99, λ 0.95, clip 0.2, vf 0.5, max-grad-norm 0.5, Adam ε 1e-5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Hidden layer widths of both the policy and the value MLP.
    pub hidden: Vec<usize>,
    /// Transitions collected per environment between updates.
    pub n_steps: usize,
    /// Environments stepped together (the rollout holds `n_steps × n_envs` transitions).
    pub n_envs: usize,
    /// Minibatch size of the update.
    pub batch_size: usize,
    /// Passes over the rollout per update.
    pub n_epochs: usize,
    /// Adam learning rate at the start.
    pub learning_rate: f32,
    /// Anneal the learning rate linearly to 0 over the run.
    pub anneal_lr: bool,
    /// Discount factor γ.
    pub gamma: f32,
    /// GAE λ.
    pub gae_lambda: f32,
    /// Clip range ε of the surrogate objective.
    pub clip_range: f32,
    /// Clip range of the value update around the old value (`None`: unclipped, as in SB3).
    pub clip_range_vf: Option<f32>,
    /// Entropy bonus coefficient.
    pub ent_coef: f32,
    /// Value loss coefficient.
    pub vf_coef: f32,
    /// Global gradient-norm clip.
    pub max_grad_norm: f32,
    /// Adam ε.
    pub adam_eps: f32,
    /// Normalise advantages per minibatch.
    pub normalize_advantage: bool,
    /// Stop an update's epochs early when the approximate KL exceeds this (`None`: never).
    pub target_kl: Option<f32>,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            hidden: vec![64, 64],
            n_steps: 2048,
            n_envs: 1,
            batch_size: 64,
            n_epochs: 10,
            learning_rate: 3e-4,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: 0.2,
            clip_range_vf: None,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            adam_eps: 1e-5,
            normalize_advantage: true,
            target_kl: None,
        }
    }
}

/// A hyper-parameter outside its valid range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("hyper-parameter {name} = {value} is out of range: {expected}")]
pub struct ConfigError {
    /// Parameter name as spelled in the spec.
    pub name: &'static str,
    /// The offending value, formatted.
    pub value: String,
    /// What would be valid.
    pub expected: &'static str,
}

impl PpoConfig {
    /// Transitions per rollout.
    pub fn rollout_len(&self) -> usize {
        self.n_steps * self.n_envs
    }

    /// Checks every parameter's range; the first violation is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(
            ok: bool,
            name: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Result<(), ConfigError> {
            if ok { Ok(()) } else { Err(ConfigError { name, value: value.to_string(), expected }) }
        }
        let h = &self.hidden;
        check(
            !h.is_empty() && h.len() <= 4 && h.iter().all(|&w| (1..=1024).contains(&w)),
            "hidden",
            format!("{h:?}"),
            "1 to 4 layers of width 1..=1024",
        )?;
        check((1..=1 << 20).contains(&self.n_steps), "n_steps", self.n_steps, "1..=1048576")?;
        check((1..=256).contains(&self.n_envs), "n_envs", self.n_envs, "1..=256")?;
        check(self.rollout_len() <= 1 << 22, "n_steps × n_envs", self.rollout_len(), "at most 4194304")?;
        check(
            self.batch_size >= 2 && self.batch_size <= self.rollout_len(),
            "batch_size",
            self.batch_size,
            "2..=n_steps × n_envs",
        )?;
        check((1..=100).contains(&self.n_epochs), "n_epochs", self.n_epochs, "1..=100")?;
        check(
            self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "learning_rate",
            self.learning_rate,
            "in (0, 1]",
        )?;
        check((0.0..=1.0).contains(&self.gamma), "gamma", self.gamma, "in [0, 1]")?;
        check((0.0..=1.0).contains(&self.gae_lambda), "gae_lambda", self.gae_lambda, "in [0, 1]")?;
        check(self.clip_range > 0.0 && self.clip_range < 1.0, "clip_range", self.clip_range, "in (0, 1)")?;
        if let Some(c) = self.clip_range_vf {
            check(c.is_finite() && c > 0.0, "clip_range_vf", c, "positive")?;
        }
        check((0.0..=1.0).contains(&self.ent_coef), "ent_coef", self.ent_coef, "in [0, 1]")?;
        check(
            self.vf_coef.is_finite() && (0.0..=100.0).contains(&self.vf_coef),
            "vf_coef",
            self.vf_coef,
            "in [0, 100]",
        )?;
        check(
            self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0,
            "max_grad_norm",
            self.max_grad_norm,
            "positive",
        )?;
        check(
            self.adam_eps.is_finite() && self.adam_eps > 0.0 && self.adam_eps < 1.0,
            "adam_eps",
            self.adam_eps,
            "in (0, 1)",
        )?;
        if let Some(k) = self.target_kl {
            check(k.is_finite() && k > 0.0, "target_kl", k, "positive")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_defaults_and_valid() {
        let c = PpoConfig::default();
        assert_eq!((c.n_steps, c.batch_size, c.n_epochs), (2048, 64, 10));
        assert_eq!(c.hidden, vec![64, 64]);
        assert_eq!((c.learning_rate, c.gamma, c.gae_lambda, c.clip_range), (3e-4, 0.99, 0.95, 0.2));
        assert_eq!((c.vf_coef, c.max_grad_norm, c.adam_eps), (0.5, 0.5, 1e-5));
        c.validate().unwrap();
    }

    #[test]
    fn out_of_range_values_are_named() {
        let c = PpoConfig { gamma: 1.5, ..Default::default() };
        let e = c.validate().unwrap_err();
        assert_eq!(e.name, "gamma");
        assert!(e.to_string().contains("gamma = 1.5"), "{e}");
        let c = PpoConfig { batch_size: 4096, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().name, "batch_size");
        let c = PpoConfig { learning_rate: f32::NAN, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().name, "learning_rate");
    }
}
