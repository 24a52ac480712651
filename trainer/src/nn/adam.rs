//! Adam over a flat parameter vector (bias-corrected, as in `torch.optim.Adam`).

use serde::{Deserialize, Serialize};

/// Adam's state for one flat parameter vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// First-moment estimates.
    pub m: Vec<f32>,
    /// Second-moment estimates.
    pub v: Vec<f32>,
    /// Steps taken (for bias correction).
    pub t: u64,
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε added to the denominator (PPO uses 1e-5, not PyTorch's 1e-8).
    pub eps: f32,
}

impl Adam {
    /// Fresh state for `n` parameters.
    pub fn new(n: usize, eps: f32) -> Adam {
        Adam { m: vec![0.0; n], v: vec![0.0; n], t: 0, beta1: 0.9, beta2: 0.999, eps }
    }

    /// One step: `params -= lr · m̂ / (√v̂ + ε)`.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32) {
        self.step_scaled(params, grad, 1.0, lr);
    }

    /// One step on the gradient `grad_scale · grad` (gradient clipping without a copy).
    pub fn step_scaled(&mut self, params: &mut [f32], grad: &[f32], grad_scale: f32, lr: f32) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let k = AdamStep {
            b1: self.beta1,
            b2: self.beta2,
            eps: self.eps,
            step: lr / bc1,
            bc2_sqrt: bc2.sqrt(),
            grad_scale,
        };
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { k.apply_avx2(params, grad, &mut self.m, &mut self.v) };
            return;
        }
        k.apply(params, grad, &mut self.m, &mut self.v);
    }
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct AdamStep {
    b1: f32,
    b2: f32,
    eps: f32,
    step: f32,
    bc2_sqrt: f32,
    grad_scale: f32,
}

impl AdamStep {
    #[inline(always)]
    fn apply(&self, params: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
        let AdamStep { b1, b2, eps, step, bc2_sqrt, grad_scale } = *self;
        for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(m).zip(v) {
            let g = g * grad_scale;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step * *m / ((*v).sqrt() / bc2_sqrt + eps);
        }
    }

    /// [`Self::apply`] compiled for AVX2: same operations, wider vectors, same results.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(&self, params: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.apply(params, grad, m, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_about_lr() {
        let mut adam = Adam::new(3, 1e-5);
        let mut p = vec![1.0, -1.0, 0.0];
        adam.step(&mut p, &[0.5, -2.0, 0.0], 0.1);
        assert!((p[0] - 0.9).abs() < 1e-4);
        assert!((p[1] + 0.9).abs() < 1e-4);
        assert_eq!(p[2], 0.0);
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut adam = Adam::new(1, 1e-5);
        let mut p = vec![5.0f32];
        for _ in 0..2000 {
            let g = [2.0 * (p[0] - 2.0)];
            adam.step(&mut p, &g, 0.05);
        }
        assert!((p[0] - 2.0).abs() < 1e-2, "{}", p[0]);
    }
}
