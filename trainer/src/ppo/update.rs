//! The PPO update: epochs of shuffled minibatches over the rollout, the clipped surrogate
//! objective, the (optionally clipped) value loss, the entropy bonus, per-minibatch advantage
//! normalisation, global gradient-norm clipping, and Adam.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::agent::{ActorCritic, log_sum_exp};
use super::config::PpoConfig;
use super::rollout::RolloutBuffer;
use crate::nn::{Adam, Mlp, MlpWorkspace};

/// Diagnostics of one update, averaged over its minibatches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Clipped surrogate loss.
    pub policy_loss: f32,
    /// Value loss (½ mean squared error).
    pub value_loss: f32,
    /// Mean policy entropy (nats).
    pub entropy: f32,
    /// Approximate KL(old ‖ new), `E[(r − 1) − ln r]`.
    pub approx_kl: f32,
    /// Fraction of samples whose ratio left `[1 − ε, 1 + ε]`.
    pub clip_fraction: f32,
    /// Explained variance of the rollout's values about its returns (before the update).
    pub explained_variance: f32,
    /// Gradient norm before clipping, averaged.
    pub grad_norm: f32,
    /// Learning rate used.
    pub learning_rate: f32,
    /// Epochs run (fewer than configured when `target_kl` stopped the update).
    pub epochs: usize,
}

/// One minibatch gathered from the rollout.
#[derive(Debug, Clone, Default)]
pub struct Minibatch {
    /// Observations, `len × obs_dim`.
    pub obs: Vec<f32>,
    /// Actions taken.
    pub actions: Vec<usize>,
    /// Log-probabilities of those actions under the rollout policy.
    pub old_log_probs: Vec<f32>,
    /// Values under the rollout value net.
    pub old_values: Vec<f32>,
    /// GAE advantages (raw; normalised inside the loss when configured).
    pub advantages: Vec<f32>,
    /// Return targets.
    pub returns: Vec<f32>,
}

impl Minibatch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Fills this minibatch with rollout rows `idx`.
    pub fn gather(&mut self, buf: &RolloutBuffer, idx: &[usize]) {
        let d = buf.obs_dim;
        self.obs.clear();
        self.actions.clear();
        self.old_log_probs.clear();
        self.old_values.clear();
        self.advantages.clear();
        self.returns.clear();
        for &i in idx {
            self.obs.extend_from_slice(&buf.obs[i * d..(i + 1) * d]);
            self.actions.push(buf.actions[i]);
            self.old_log_probs.push(buf.log_probs[i]);
            self.old_values.push(buf.values[i]);
            self.advantages.push(buf.advantages[i]);
            self.returns.push(buf.returns[i]);
        }
    }
}

/// What one minibatch's loss evaluation found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinibatchStats {
    /// Total loss `policy − ent_coef·entropy + vf_coef·value`.
    pub loss: f32,
    /// Policy (clipped surrogate) loss.
    pub policy_loss: f32,
    /// Value loss.
    pub value_loss: f32,
    /// Mean entropy.
    pub entropy: f32,
    /// Approximate KL.
    pub approx_kl: f32,
    /// Fraction of clipped ratios.
    pub clip_fraction: f32,
    /// Largest |ratio − 1| in the minibatch (exactly 0 before any step of an update).
    pub max_ratio_deviation: f32,
}

/// Scratch of the policy half of the loss.
#[derive(Debug, Clone)]
pub struct PolicyWorkspace {
    net: MlpWorkspace,
    d_logits: Vec<f32>,
}

/// Scratch of the value half of the loss.
#[derive(Debug, Clone)]
pub struct ValueWorkspace {
    net: MlpWorkspace,
    d_values: Vec<f32>,
}

/// Scratch reused across minibatches so the update never allocates in its loop.
#[derive(Debug, Clone)]
pub struct LossWorkspace {
    /// Policy half.
    pub policy: PolicyWorkspace,
    /// Value half.
    pub value: ValueWorkspace,
}

impl LossWorkspace {
    /// Scratch for minibatches of up to `capacity` samples.
    pub fn new(agent: &ActorCritic, capacity: usize) -> LossWorkspace {
        LossWorkspace {
            policy: PolicyWorkspace {
                net: MlpWorkspace::new(&agent.policy, capacity),
                d_logits: vec![0.0; capacity * agent.n_actions()],
            },
            value: ValueWorkspace { net: MlpWorkspace::new(&agent.value, capacity), d_values: vec![0.0; capacity] },
        }
    }
}

/// Evaluates the PPO loss on a minibatch and adds its gradient to `grad_pi` / `grad_v`.
pub fn minibatch_loss(
    agent: &ActorCritic,
    mb: &Minibatch,
    cfg: &PpoConfig,
    ws: &mut LossWorkspace,
    grad_pi: &mut [f32],
    grad_v: &mut [f32],
) -> MinibatchStats {
    let mut stats = policy_loss(&agent.policy, mb, cfg, &mut ws.policy, grad_pi);
    stats.value_loss = value_loss(&agent.value, mb, cfg, &mut ws.value, grad_v);
    stats.loss = stats.policy_loss - cfg.ent_coef * stats.entropy + cfg.vf_coef * stats.value_loss;
    stats
}

/// The policy half: clipped surrogate and entropy bonus; adds their gradient to `grad`.
/// Returns the statistics with `value_loss` and `loss` left at 0.
pub fn policy_loss(
    policy: &Mlp,
    mb: &Minibatch,
    cfg: &PpoConfig,
    ws: &mut PolicyWorkspace,
    grad: &mut [f32],
) -> MinibatchStats {
    let n = mb.len();
    let k = policy.output_size();
    let inv_n = 1.0 / n as f32;

    // Per-minibatch advantage normalisation (unbiased std, as torch's `.std()`).
    let (adv_mean, adv_scale) = if cfg.normalize_advantage && n > 1 {
        let mean = mb.advantages.iter().sum::<f32>() * inv_n;
        let var = mb.advantages.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / (n as f32 - 1.0);
        (mean, 1.0 / (var.sqrt() + 1e-8))
    } else {
        (0.0, 1.0)
    };

    let mut stats = MinibatchStats::default();
    let logits = policy.forward(&mb.obs, n, &mut ws.net);
    let d_logits = &mut ws.d_logits[..n * k];
    let eps = cfg.clip_range;
    for i in 0..n {
        let z = &logits[i * k..(i + 1) * k];
        let a = mb.actions[i];
        let lse = log_sum_exp(z);
        let log_p = z[a] - lse;
        let log_ratio = log_p - mb.old_log_probs[i];
        let ratio = log_ratio.exp();
        let adv = (mb.advantages[i] - adv_mean) * adv_scale;
        let surr1 = ratio * adv;
        let surr2 = ratio.clamp(1.0 - eps, 1.0 + eps) * adv;
        stats.policy_loss -= surr1.min(surr2);
        // d(−min(surr1, surr2))/d log_p: the unclipped branch carries the gradient.
        let g_logp = if surr1 <= surr2 { -adv * ratio } else { 0.0 };

        let mut entropy = 0.0f32;
        for &zj in z {
            let lp = zj - lse;
            entropy -= lp.exp() * lp;
        }
        stats.entropy += entropy;
        stats.approx_kl += (ratio - 1.0) - log_ratio;
        if (ratio - 1.0).abs() > eps {
            stats.clip_fraction += 1.0;
        }
        stats.max_ratio_deviation = stats.max_ratio_deviation.max((ratio - 1.0).abs());

        let d = &mut d_logits[i * k..(i + 1) * k];
        for (j, (dj, &zj)) in d.iter_mut().zip(z).enumerate() {
            let lp = zj - lse;
            let p = lp.exp();
            let onehot = if j == a { 1.0 } else { 0.0 };
            // d log_p/dz_j = 1[j=a] − p_j;  dH/dz_j = −p_j (ln p_j + H).
            *dj = inv_n * (g_logp * (onehot - p) + cfg.ent_coef * p * (lp + entropy));
        }
    }
    policy.backward(&mb.obs, n, &mut ws.net, d_logits, grad);
    stats.policy_loss *= inv_n;
    stats.entropy *= inv_n;
    stats.approx_kl *= inv_n;
    stats.clip_fraction *= inv_n;
    stats
}

/// The value half: ½ mean squared error to the returns (optionally clipped around the old
/// values); adds `vf_coef ×` its gradient to `grad` and returns the loss.
pub fn value_loss(value: &Mlp, mb: &Minibatch, cfg: &PpoConfig, ws: &mut ValueWorkspace, grad: &mut [f32]) -> f32 {
    let n = mb.len();
    let inv_n = 1.0 / n as f32;
    let values = value.forward(&mb.obs, n, &mut ws.net);
    let d_values = &mut ws.d_values[..n];
    let mut total = 0.0f32;
    for i in 0..n {
        let (v, ret) = (values[i], mb.returns[i]);
        let err = v - ret;
        let (loss, dv) = match cfg.clip_range_vf {
            None => (err * err, err),
            Some(c) => {
                let old = mb.old_values[i];
                let clipped = old + (v - old).clamp(-c, c);
                let err_c = clipped - ret;
                if err * err >= err_c * err_c {
                    (err * err, err)
                } else {
                    let inside = if (v - old).abs() < c { 1.0 } else { 0.0 };
                    (err_c * err_c, err_c * inside)
                }
            }
        };
        total += 0.5 * loss;
        d_values[i] = cfg.vf_coef * dv * inv_n;
    }
    value.backward(&mb.obs, n, &mut ws.net, d_values, grad);
    total * inv_n
}

/// The agent with its optimiser state: what an update changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learner {
    /// The networks.
    pub agent: ActorCritic,
    /// Adam state of the policy parameters.
    pub opt_policy: Adam,
    /// Adam state of the value parameters.
    pub opt_value: Adam,
}

impl Learner {
    /// Fresh optimiser state for `agent`.
    pub fn new(agent: ActorCritic, cfg: &PpoConfig) -> Learner {
        let opt_policy = Adam::new(agent.policy.params.len(), cfg.adam_eps);
        let opt_value = Adam::new(agent.value.params.len(), cfg.adam_eps);
        Learner { agent, opt_policy, opt_value }
    }

    /// Runs one PPO update over a filled rollout (advantages computed) at learning rate `lr`.
    pub fn update(&mut self, buf: &RolloutBuffer, cfg: &PpoConfig, lr: f32, rng: &mut impl Rng) -> UpdateStats {
        let n = buf.len();
        let bs = cfg.batch_size.min(n);
        let mut ws = LossWorkspace::new(&self.agent, bs);
        let mut mb = Minibatch::default();
        let mut grad_pi = vec![0.0f32; self.agent.policy.params.len()];
        let mut grad_v = vec![0.0f32; self.agent.value.params.len()];
        let mut indices: Vec<usize> = (0..n).collect();
        let mut stats = UpdateStats {
            explained_variance: explained_variance(&buf.values, &buf.returns),
            learning_rate: lr,
            ..Default::default()
        };
        let mut batches = 0usize;
        'epochs: for _ in 0..cfg.n_epochs {
            indices.shuffle(rng);
            let mut epoch_kl = 0.0f32;
            let mut epoch_batches = 0usize;
            // Full minibatches only, as SB3 and CleanRL with divisible sizes; a ragged tail
            // would give a few samples a minibatch of their own with noisy normalisation.
            for chunk in indices.chunks_exact(bs) {
                mb.gather(buf, chunk);
                // The policy and value networks are independent until the global gradient
                // norm: each half runs on its own core.
                let Learner { agent, opt_policy, opt_value } = self;
                let LossWorkspace { policy: ws_pi, value: ws_v } = &mut ws;
                let (mut s, v_loss) = rayon::join(
                    || {
                        grad_pi.fill(0.0);
                        policy_loss(&agent.policy, &mb, cfg, ws_pi, &mut grad_pi)
                    },
                    || {
                        grad_v.fill(0.0);
                        value_loss(&agent.value, &mb, cfg, ws_v, &mut grad_v)
                    },
                );
                s.value_loss = v_loss;
                let norm = global_norm(&[&grad_pi, &grad_v]);
                let scale = if norm > cfg.max_grad_norm { cfg.max_grad_norm / (norm + 1e-6) } else { 1.0 };
                // Two small vector loops: cheaper here than another hand-off between threads.
                opt_policy.step_scaled(&mut agent.policy.params, &grad_pi, scale, lr);
                opt_value.step_scaled(&mut agent.value.params, &grad_v, scale, lr);
                stats.policy_loss += s.policy_loss;
                stats.value_loss += s.value_loss;
                stats.entropy += s.entropy;
                stats.approx_kl += s.approx_kl;
                stats.clip_fraction += s.clip_fraction;
                stats.grad_norm += norm;
                epoch_kl += s.approx_kl;
                epoch_batches += 1;
                batches += 1;
            }
            stats.epochs += 1;
            if let Some(target) = cfg.target_kl
                && epoch_batches > 0
                && epoch_kl / epoch_batches as f32 > 1.5 * target
            {
                break 'epochs;
            }
        }
        let inv = 1.0 / batches.max(1) as f32;
        stats.policy_loss *= inv;
        stats.value_loss *= inv;
        stats.entropy *= inv;
        stats.approx_kl *= inv;
        stats.clip_fraction *= inv;
        stats.grad_norm *= inv;
        stats
    }
}

/// L2 norm over several gradient slices together.
pub fn global_norm(parts: &[&[f32]]) -> f32 {
    parts.iter().flat_map(|p| p.iter()).map(|g| g * g).sum::<f32>().sqrt()
}

/// `1 − Var(returns − values) / Var(returns)`; 0 when the returns have no variance.
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f32 {
    let n = returns.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean = |xs: &mut dyn Iterator<Item = f64>| xs.sum::<f64>() / n;
    let mr = mean(&mut returns.iter().map(|&r| r as f64));
    let var_r = mean(&mut returns.iter().map(|&r| (r as f64 - mr).powi(2)));
    let diffs = || returns.iter().zip(values).map(|(&r, &v)| r as f64 - v as f64);
    let md = mean(&mut diffs());
    let var_d = mean(&mut diffs().map(|d| (d - md).powi(2)));
    if var_r <= 0.0 { 0.0 } else { (1.0 - var_d / var_r) as f32 }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;
    use crate::env::{EnvConfig, SymbolMarket, VecEnv};
    use crate::ppo::{Collector, EpisodeTracker};

    fn random_market(n: usize, f: usize, seed: u64) -> SymbolMarket {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut close = vec![100.0f64];
        for _ in 1..n {
            let r: f64 = StandardNormal.sample(&mut rng);
            close.push(close.last().unwrap() * (0.01 * r).exp());
        }
        let mut open = vec![100.0];
        open.extend_from_slice(&close[..n - 1]);
        let features = (0..n * f).map(|_| StandardNormal.sample(&mut rng)).collect();
        SymbolMarket { symbol: "R".into(), features, n_features: f, open, close }
    }

    fn rollout(cfg: &PpoConfig, seed: u64) -> (ActorCritic, RolloutBuffer) {
        let env_cfg = EnvConfig { episode_len: 50, ..Default::default() };
        let markets = Arc::new(vec![random_market(2000, 8, seed)]);
        let mut env = VecEnv::new(env_cfg, markets, vec![0..1900], cfg.n_envs, seed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let agent = ActorCritic::new(env.obs_dim(), 3, &cfg.hidden, &mut rng);
        let mut buf = RolloutBuffer::new(env.obs_dim(), cfg.n_envs, cfg.n_steps);
        let mut collector = Collector::new(&agent, &env);
        collector.collect(
            &agent,
            &mut env,
            &mut buf,
            cfg.gamma,
            cfg.gae_lambda,
            &mut rng,
            &mut EpisodeTracker::default(),
        );
        (agent, buf)
    }

    #[test]
    fn ratio_is_exactly_one_on_the_first_minibatch() {
        let cfg = PpoConfig { n_steps: 256, n_envs: 4, ..Default::default() };
        let (agent, buf) = rollout(&cfg, 11);
        let mut mb = Minibatch::default();
        let idx: Vec<usize> = (0..cfg.batch_size).map(|i| (i * 37) % buf.len()).collect();
        mb.gather(&buf, &idx);
        let mut ws = LossWorkspace::new(&agent, cfg.batch_size);
        let mut gp = vec![0.0; agent.policy.params.len()];
        let mut gv = vec![0.0; agent.value.params.len()];
        let s = minibatch_loss(&agent, &mb, &cfg, &mut ws, &mut gp, &mut gv);
        assert_eq!(s.max_ratio_deviation, 0.0, "the rollout and the update disagree on log-probs");
        assert_eq!(s.approx_kl, 0.0);
        assert_eq!(s.clip_fraction, 0.0);
    }

    /// The hand-derived gradient of the whole PPO loss (surrogate, entropy, clipped value loss)
    /// against central finite differences, in a region where ratios are away from the clip kinks.
    #[test]
    fn loss_gradient_matches_finite_differences() {
        let cfg = PpoConfig {
            n_steps: 64,
            n_envs: 1,
            hidden: vec![8, 8],
            ent_coef: 0.05,
            clip_range_vf: Some(0.5),
            ..Default::default()
        };
        let (mut agent, buf) = rollout(&cfg, 5);
        // Move the policy off the rollout policy so ratios ≠ 1 and some clip.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for p in agent.policy.params.iter_mut().chain(agent.value.params.iter_mut()) {
            let noise: f32 = StandardNormal.sample(&mut rng);
            *p += 0.3 * noise;
        }
        let mut mb = Minibatch::default();
        mb.gather(&buf, &(0..16).collect::<Vec<_>>());
        let mut ws = LossWorkspace::new(&agent, 16);
        let loss_of = |a: &ActorCritic, ws: &mut LossWorkspace| {
            let mut gp = vec![0.0; a.policy.params.len()];
            let mut gv = vec![0.0; a.value.params.len()];
            minibatch_loss(a, &mb, &cfg, ws, &mut gp, &mut gv)
        };
        let mut gp = vec![0.0; agent.policy.params.len()];
        let mut gv = vec![0.0; agent.value.params.len()];
        let base = minibatch_loss(&agent, &mb, &cfg, &mut ws, &mut gp, &mut gv);
        assert!(
            base.clip_fraction > 0.0 && base.clip_fraction < 1.0,
            "want some clipped samples, got {}",
            base.clip_fraction
        );

        let eps = 2e-3f32;
        let (mut checked, mut bad) = (0, Vec::new());
        for net in 0..2 {
            let len = if net == 0 { agent.policy.params.len() } else { agent.value.params.len() };
            for i in 0..len {
                let analytic = if net == 0 { gp[i] } else { gv[i] } as f64;
                fn params(a: &mut ActorCritic, net: usize) -> &mut Vec<f32> {
                    if net == 0 { &mut a.policy.params } else { &mut a.value.params }
                }
                let orig = params(&mut agent, net)[i];
                params(&mut agent, net)[i] = orig + eps;
                let up = loss_of(&agent, &mut ws);
                params(&mut agent, net)[i] = orig - eps;
                let down = loss_of(&agent, &mut ws);
                params(&mut agent, net)[i] = orig;
                // Skip parameters whose nudge moved a sample across a clip boundary.
                if up.clip_fraction != base.clip_fraction || down.clip_fraction != base.clip_fraction {
                    continue;
                }
                let numeric = (up.loss as f64 - down.loss as f64) / (2.0 * eps as f64);
                checked += 1;
                let err = (numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs()));
                if err > 0.05 {
                    bad.push((net, i, numeric, analytic));
                }
            }
        }
        assert!(checked > 150, "only {checked} parameters checked");
        assert!(
            bad.len() * 100 <= checked,
            "{} of {checked} gradients disagree: {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
    }

    #[test]
    fn an_update_changes_the_policy_and_reports_diagnostics() {
        let cfg = PpoConfig { n_steps: 256, n_envs: 2, ..Default::default() };
        let (agent, buf) = rollout(&cfg, 3);
        let mut learner = Learner::new(agent.clone(), &cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = learner.update(&buf, &cfg, 3e-4, &mut rng);
        assert_ne!(learner.agent.policy.params, agent.policy.params);
        assert_eq!(s.epochs, 10);
        assert!(s.approx_kl > 0.0 && s.approx_kl.is_finite());
        assert!(s.entropy > 1.0 && s.entropy <= 3f32.ln() + 1e-6, "entropy {}", s.entropy);
        assert!(s.value_loss.is_finite() && s.grad_norm > 0.0);
    }
}
