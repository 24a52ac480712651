//! Training checkpoints: everything needed to resume a run so that it ends exactly as an
//! uninterrupted run would — weights, optimiser state, RNG states, environment positions,
//! counters, the learning curve and the best model so far. Stored as one safetensors file:
//! the large vectors as tensors, the rest as JSON metadata.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::env::VecEnvState;
use crate::ppo::{ActorCritic, EpisodeTracker, Learner};
use crate::spec::TrainSpec;
use crate::tensors::{self, NamedTensor, TensorError};

/// One point of the learning curve (one PPO update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Environment steps done after this update.
    pub steps: u64,
    /// Mean reward of the last 100 finished episodes (percent log return per episode).
    pub episode_reward: f64,
    /// Update diagnostics.
    pub policy_loss: f32,
    /// Value loss.
    pub value_loss: f32,
    /// Entropy.
    pub entropy: f32,
    /// Approximate KL.
    pub approx_kl: f32,
    /// Clip fraction.
    pub clip_fraction: f32,
    /// Explained variance.
    pub explained_variance: f32,
    /// Learning rate.
    pub learning_rate: f32,
    /// Validation Sharpe, when validated after this update.
    pub validation_sharpe: Option<f64>,
}

/// The model with the best validation score so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestModel {
    /// The networks.
    pub agent: ActorCritic,
    /// Its validation portfolio Sharpe.
    pub validation_sharpe: f64,
    /// Steps done when it was validated.
    pub steps: u64,
}

/// A resumable training state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// SHA-256 of the spec it belongs to; resuming under another spec is refused.
    pub spec_hash: String,
    /// Networks and optimiser.
    pub learner: Learner,
    /// Environments.
    pub env: VecEnvState,
    /// The RNG of action sampling and minibatch shuffling.
    pub rng: ChaCha8Rng,
    /// Environment steps done.
    pub steps_done: u64,
    /// Updates done.
    pub updates_done: u64,
    /// Episode statistics.
    pub episodes: EpisodeTracker,
    /// Learning curve so far.
    pub curve: Vec<CurvePoint>,
    /// Best validated model so far.
    pub best: Option<BestModel>,
}

/// A checkpoint that could not be read or does not fit.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file's tensors.
    #[error("checkpoint: {0}")]
    Tensors(#[from] TensorError),
    /// The metadata JSON.
    #[error("checkpoint metadata: {0}")]
    Json(#[from] serde_json::Error),
    /// A tensor of the wrong size.
    #[error("checkpoint tensor {name} has {got} values, expected {want}")]
    Size {
        /// Tensor.
        name: String,
        /// Values found.
        got: usize,
        /// Values expected.
        want: usize,
    },
    /// Layer sizes whose parameter count does not fit in memory (a damaged or forged file).
    #[error("checkpoint network {name} has impossible layer sizes {sizes:?}")]
    Layers {
        /// Network.
        name: String,
        /// Its layer sizes.
        sizes: Vec<usize>,
    },
    /// Another spec's checkpoint.
    #[error("checkpoint belongs to another spec (hash {found}, this job's is {expected})")]
    SpecMismatch {
        /// The checkpoint's.
        found: String,
        /// This spec's.
        expected: String,
    },
}

/// SHA-256 of a spec's canonical JSON.
pub fn spec_hash(spec: &TrainSpec) -> String {
    let json = serde_json::to_vec(spec).expect("specs serialise");
    format!("{:x}", Sha256::digest(json))
}

/// The hashes older trainers gave `spec`, where their spec meant the same (the fields added
/// since at their defaults), so that a job checkpointed by an older trainer resumes on a newer
/// one during a rolling upgrade: the trainer from before walk-forward folds (`split.folds`,
/// `split.fold`, `split.oos_fraction`), and the one from before `env.slippage_bps` and `data`
/// as well.
fn legacy_spec_hashes(spec: &TrainSpec) -> Vec<String> {
    let single = crate::spec::SplitConfig::default();
    if (spec.split.folds, spec.split.fold, spec.split.oos_fraction) != (single.folds, single.fold, single.oos_fraction)
    {
        return Vec::new();
    }
    let json = serde_json::to_string(spec).expect("specs serialise");
    let folds = format!(
        ",\"folds\":{},\"fold\":{},\"oos_fraction\":{}",
        single.folds,
        single.fold,
        serde_json::to_string(&single.oos_fraction).expect("serialises")
    );
    let before_folds = json.replacen(&folds, "", 1);
    let mut hashes = vec![format!("{:x}", Sha256::digest(&before_folds))];
    if spec.env.slippage_bps == 0.0 && spec.data == crate::spec::DataConfig::default() {
        let data = format!(",\"data\":{}", serde_json::to_string(&spec.data).expect("serialises"));
        let before_slippage = before_folds.replacen("\"slippage_bps\":0.0,", "", 1).replacen(&data, "", 1);
        hashes.push(format!("{:x}", Sha256::digest(before_slippage)));
    }
    hashes
}

const META_KEY: &str = "skippy.checkpoint";

/// The parameter count of layer `sizes` read from a file, refused when it overflows (no size a
/// real network has; [`crate::nn::mlp::param_count`] would wrap or panic).
fn counted(name: &str, sizes: &[usize]) -> Result<usize, CheckpointError> {
    sizes
        .windows(2)
        .try_fold(0usize, |n, w| w[0].checked_mul(w[1])?.checked_add(w[1])?.checked_add(n))
        .ok_or_else(|| CheckpointError::Layers { name: name.into(), sizes: sizes.to_vec() })
}

impl Checkpoint {
    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut light = self.clone();
        let mut owned: Vec<(String, Vec<f32>)> = Vec::new();
        let mut take = |name: &str, v: &mut Vec<f32>| owned.push((name.to_string(), std::mem::take(v)));
        take("policy", &mut light.learner.agent.policy.params);
        take("value", &mut light.learner.agent.value.params);
        take("adam.policy.m", &mut light.learner.opt_policy.m);
        take("adam.policy.v", &mut light.learner.opt_policy.v);
        take("adam.value.m", &mut light.learner.opt_value.m);
        take("adam.value.v", &mut light.learner.opt_value.v);
        if let Some(best) = light.best.as_mut() {
            take("best.policy", &mut best.agent.policy.params);
            take("best.value", &mut best.agent.value.params);
        }
        let meta = serde_json::to_string(&light).expect("checkpoints serialise");
        let named: Vec<NamedTensor<'_>> =
            owned.iter().map(|(n, v)| NamedTensor { name: n.clone(), shape: vec![v.len()], data: v }).collect();
        tensors::write(&named, HashMap::from([(META_KEY.to_string(), meta)]))
    }

    /// Reads bytes written by [`Self::to_bytes`], checking every size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let (mut tensors, meta) = tensors::read(bytes)?;
        let json = meta.get(META_KEY).ok_or_else(|| TensorError::Missing(format!("metadata {META_KEY}")))?;
        let mut c: Checkpoint = serde_json::from_str(json)?;
        let mut put = |name: &str, want: usize, slot: &mut Vec<f32>| -> Result<(), CheckpointError> {
            let v = tensors.remove(name).ok_or_else(|| TensorError::Missing(format!("tensor {name}")))?;
            if v.len() != want {
                return Err(CheckpointError::Size { name: name.into(), got: v.len(), want });
            }
            *slot = v;
            Ok(())
        };
        let np = counted("policy", &c.learner.agent.policy.sizes)?;
        let nv = counted("value", &c.learner.agent.value.sizes)?;
        put("policy", np, &mut c.learner.agent.policy.params)?;
        put("value", nv, &mut c.learner.agent.value.params)?;
        put("adam.policy.m", np, &mut c.learner.opt_policy.m)?;
        put("adam.policy.v", np, &mut c.learner.opt_policy.v)?;
        put("adam.value.m", nv, &mut c.learner.opt_value.m)?;
        put("adam.value.v", nv, &mut c.learner.opt_value.v)?;
        if let Some(best) = c.best.as_mut() {
            let bp = counted("best.policy", &best.agent.policy.sizes)?;
            let bv = counted("best.value", &best.agent.value.sizes)?;
            put("best.policy", bp, &mut best.agent.policy.params)?;
            put("best.value", bv, &mut best.agent.value.params)?;
        }
        Ok(c)
    }

    /// Refuses a checkpoint of another spec.
    pub fn check_spec(&self, spec: &TrainSpec) -> Result<(), CheckpointError> {
        let expected = spec_hash(spec);
        if self.spec_hash != expected && !legacy_spec_hashes(spec).contains(&self.spec_hash) {
            return Err(CheckpointError::SpecMismatch { found: self.spec_hash.clone(), expected });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use skippy_market::features::FeatureSet;

    use super::*;

    #[test]
    fn a_checkpoint_of_a_trainer_before_slippage_and_data_policies_still_resumes() {
        // The spec of a BTC,ETH job and its hash as the trainer of cdacfd1 wrote them.
        let mut spec = TrainSpec::new(vec!["BTC".into(), "ETH".into()], vec![FeatureSet::Price], 200_000, 1);
        spec.env.cost = 0.001;
        let old = "3683a6d91468010cd74ad11ca9b756867bbe783387c28b73be8fb7abf67d1b63";
        assert!(legacy_spec_hashes(&spec).iter().any(|h| h == old));
        assert_ne!(spec_hash(&spec), old);
        // Only while the new fields keep their defaults: with slippage it is another spec.
        spec.env.slippage_bps = 5.0;
        assert!(!legacy_spec_hashes(&spec).iter().any(|h| h == old));
    }

    #[test]
    fn a_checkpoint_of_a_trainer_before_walk_forward_folds_still_resumes() {
        // The same job's hash as the trainer of 2828392 wrote it in its checkpoint
        // (`skippy-trainer train --symbols BTC,ETH --steps 200000 --seed 1`).
        let mut spec = TrainSpec::new(vec!["BTC".into(), "ETH".into()], vec![FeatureSet::Price], 200_000, 1);
        let before_folds = "aeebc673a55d64b6a63189b3f780de21a9da161ea288529878d30c8ff0154d94";
        assert_ne!(spec_hash(&spec), before_folds);
        assert!(legacy_spec_hashes(&spec).iter().any(|h| h == before_folds), "one fold is the old single split");
        // A walk-forward fold is another spec, which that trainer could not have run.
        spec.split.folds = 4;
        assert!(legacy_spec_hashes(&spec).is_empty());
    }

    #[test]
    fn layer_sizes_from_a_file_are_counted_without_overflow() {
        let sizes = [12, 64, 64, 3];
        assert_eq!(counted("policy", &sizes).unwrap(), crate::nn::mlp::param_count(&sizes));
        let forged = [usize::MAX / 2, 3, 1];
        let e = counted("policy", &forged).unwrap_err().to_string();
        assert!(e.contains("policy") && e.contains("impossible layer sizes"), "{e}");
        assert!(counted("value", &[1 << 40, 1 << 30]).is_err());
    }
}
