//! A multi-layer perceptron (tanh hidden layers, linear output) over flat `f32` parameters,
//! with forward and analytic backward passes on row-major batches via `matrixmultiply`.
//!
//! Parameters of layer `l` are stored as `W_l` (`in × out`, row-major, so a batch forward is
//! `X · W`) followed by `b_l` (`out`). One flat vector makes Adam, gradient-norm clipping
//! and checkpointing one loop each.

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::tanh::tanh_in_place;

/// An MLP: `sizes[0]` inputs, hidden layers `sizes[1..n-1]` with tanh, `sizes[n-1]` linear outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
    /// All weights and biases, layer by layer (`W_l` then `b_l`).
    pub params: Vec<f32>,
}

/// Batches up to this size skip GEMM (see [`Mlp::forward`]).
pub const SMALL_BATCH: usize = 4;

/// A gradient with the same layout as [`Mlp::params`].
pub type MlpGrad = Vec<f32>;

/// Scratch space for forward and backward passes of up to `capacity` rows; reused across
/// calls so the hot loop never allocates.
#[derive(Debug, Clone)]
pub struct MlpWorkspace {
    capacity: usize,
    /// Output of every layer (post-tanh for hidden layers, raw for the last).
    acts: Vec<Vec<f32>>,
    /// Back-propagated deltas, ping-ponged between two buffers.
    delta: [Vec<f32>; 2],
}

impl MlpWorkspace {
    /// Largest batch this workspace holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Scratch space for `mlp` with batches of up to `capacity` rows.
    pub fn new(mlp: &Mlp, capacity: usize) -> MlpWorkspace {
        let widest = mlp.sizes.iter().copied().max().unwrap_or(0);
        MlpWorkspace {
            capacity,
            acts: mlp.sizes[1..].iter().map(|&w| vec![0.0; capacity * w]).collect(),
            delta: [vec![0.0; capacity * widest], vec![0.0; capacity * widest]],
        }
    }
}

impl Mlp {
    /// A network with orthogonal weights: gain √2 on hidden layers, `out_gain` on the output
    /// layer (0.01 for a policy head, 1 for a value head), zero biases.
    pub fn new(sizes: &[usize], out_gain: f32, rng: &mut impl Rng) -> Mlp {
        assert!(sizes.len() >= 2, "an MLP needs at least an input and an output size");
        let mut mlp = Mlp { sizes: sizes.to_vec(), params: vec![0.0; param_count(sizes)] };
        let layers = sizes.len() - 1;
        for l in 0..layers {
            let gain = if l + 1 == layers { out_gain } else { 2f32.sqrt() };
            let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
            let w = orthogonal(fan_in, fan_out, gain, rng);
            let (w_off, _) = mlp.layer_offsets(l);
            mlp.params[w_off..w_off + fan_in * fan_out].copy_from_slice(&w);
        }
        mlp
    }

    /// Number of layers with weights.
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Input width.
    pub fn input_size(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn output_size(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Offsets of `W_l` and `b_l` in [`Self::params`].
    pub fn layer_offsets(&self, l: usize) -> (usize, usize) {
        let mut off = 0;
        for i in 0..l {
            off += self.sizes[i] * self.sizes[i + 1] + self.sizes[i + 1];
        }
        (off, off + self.sizes[l] * self.sizes[l + 1])
    }

    /// Forward pass over `batch` rows of `x` (`batch × input_size`, row-major). Returns the
    /// outputs (`batch × output_size`); intermediate activations stay in `ws` for [`Self::backward`].
    ///
    /// Batches larger than [`SMALL_BATCH`] give bit-identical rows whatever the batch size
    /// (GEMM sums each dot product in the same order); smaller batches take a loop whose
    /// rounding may differ in the last bits.
    pub fn forward<'w>(&self, x: &[f32], batch: usize, ws: &'w mut MlpWorkspace) -> &'w [f32] {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { self.forward_avx2(x, batch, ws) };
            return &ws.acts[self.layers() - 1][..batch * self.output_size()];
        }
        self.forward_impl(x, batch, ws);
        &ws.acts[self.layers() - 1][..batch * self.output_size()]
    }

    /// [`Self::forward_impl`] compiled for AVX2 (wider vectors, the same operations and results).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&self, x: &[f32], batch: usize, ws: &mut MlpWorkspace) {
        self.forward_impl(x, batch, ws);
    }

    #[inline(always)]
    fn forward_impl(&self, x: &[f32], batch: usize, ws: &mut MlpWorkspace) {
        assert!(batch <= ws.capacity, "batch {batch} exceeds workspace capacity {}", ws.capacity);
        assert_eq!(x.len(), batch * self.input_size(), "input is not batch × input_size");
        let layers = self.layers();
        for l in 0..layers {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let (w_off, b_off) = self.layer_offsets(l);
            let w = &self.params[w_off..b_off];
            let b = &self.params[b_off..b_off + fan_out];
            let (before, rest) = ws.acts.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &before[l - 1][..batch * fan_in] };
            let out = &mut rest[0][..batch * fan_out];
            for row in out.chunks_exact_mut(fan_out) {
                row.copy_from_slice(b);
            }
            if batch <= SMALL_BATCH {
                // A few rows: a plain loop beats GEMM, which would pack all of W per call.
                for (x_row, o_row) in input.chunks_exact(fan_in).zip(out.chunks_exact_mut(fan_out)) {
                    for (&xi, w_row) in x_row.iter().zip(w.chunks_exact(fan_out)) {
                        for (o, &wv) in o_row.iter_mut().zip(w_row) {
                            *o += xi * wv;
                        }
                    }
                }
            } else {
                // out (batch × fan_out) += input (batch × fan_in) · W (fan_in × fan_out)
                unsafe {
                    matrixmultiply::sgemm(
                        batch,
                        fan_in,
                        fan_out,
                        1.0,
                        input.as_ptr(),
                        fan_in as isize,
                        1,
                        w.as_ptr(),
                        fan_out as isize,
                        1,
                        1.0,
                        out.as_mut_ptr(),
                        fan_out as isize,
                        1,
                    );
                }
            }
            if l + 1 < layers {
                tanh_in_place(out);
            }
        }
    }

    /// Backward pass for the batch last given to [`Self::forward`] with the same `x`: adds
    /// dLoss/dParams to `grad`, given `d_out` = dLoss/dOutputs (`batch × output_size`).
    pub fn backward(&self, x: &[f32], batch: usize, ws: &mut MlpWorkspace, d_out: &[f32], grad: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { self.backward_avx2(x, batch, ws, d_out, grad) };
            return;
        }
        self.backward_impl(x, batch, ws, d_out, grad);
    }

    /// [`Self::backward_impl`] compiled for AVX2 (wider vectors, the same operations and results).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn backward_avx2(&self, x: &[f32], batch: usize, ws: &mut MlpWorkspace, d_out: &[f32], grad: &mut [f32]) {
        self.backward_impl(x, batch, ws, d_out, grad);
    }

    #[inline(always)]
    fn backward_impl(&self, x: &[f32], batch: usize, ws: &mut MlpWorkspace, d_out: &[f32], grad: &mut [f32]) {
        assert_eq!(grad.len(), self.params.len(), "gradient layout differs from parameters");
        assert_eq!(d_out.len(), batch * self.output_size(), "d_out is not batch × output_size");
        let layers = self.layers();
        let [cur, next] = &mut ws.delta;
        cur[..d_out.len()].copy_from_slice(d_out);
        let (mut cur, mut next) = (cur, next);
        for l in (0..layers).rev() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let (w_off, b_off) = self.layer_offsets(l);
            let input: &[f32] = if l == 0 { x } else { &ws.acts[l - 1][..batch * fan_in] };
            let d = &cur[..batch * fan_out];
            let (gw, gb) = grad[w_off..b_off + fan_out].split_at_mut(fan_in * fan_out);
            // dW (fan_in × fan_out) += inputᵀ (fan_in × batch) · d (batch × fan_out)
            unsafe {
                matrixmultiply::sgemm(
                    fan_in,
                    batch,
                    fan_out,
                    1.0,
                    input.as_ptr(),
                    1,
                    fan_in as isize,
                    d.as_ptr(),
                    fan_out as isize,
                    1,
                    1.0,
                    gw.as_mut_ptr(),
                    fan_out as isize,
                    1,
                );
            }
            for row in d.chunks_exact(fan_out) {
                for (g, v) in gb.iter_mut().zip(row) {
                    *g += v;
                }
            }
            if l == 0 {
                break;
            }
            // d_input (batch × fan_in) = d (batch × fan_out) · Wᵀ (fan_out × fan_in)
            let w = &self.params[w_off..b_off];
            let d_in = &mut next[..batch * fan_in];
            unsafe {
                matrixmultiply::sgemm(
                    batch,
                    fan_out,
                    fan_in,
                    1.0,
                    d.as_ptr(),
                    fan_out as isize,
                    1,
                    w.as_ptr(),
                    1,
                    fan_out as isize,
                    0.0,
                    d_in.as_mut_ptr(),
                    fan_in as isize,
                    1,
                );
            }
            // Through tanh: dz = da · (1 − a²).
            for (g, a) in d_in.iter_mut().zip(&ws.acts[l - 1][..batch * fan_in]) {
                *g *= 1.0 - a * a;
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

/// Number of parameters of an MLP with these layer sizes.
pub fn param_count(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

/// A `fan_in × fan_out` row-major matrix whose rows or columns (whichever are fewer) are
/// orthonormal, times `gain`: what `torch.nn.init.orthogonal_` gives, transposed to our layout.
fn orthogonal(fan_in: usize, fan_out: usize, gain: f32, rng: &mut impl Rng) -> Vec<f32> {
    let (long, short) = (fan_in.max(fan_out), fan_in.min(fan_out));
    // `short` vectors of length `long`, orthonormalised by modified Gram–Schmidt (in f64).
    let mut q: Vec<Vec<f64>> =
        (0..short).map(|_| (0..long).map(|_| rng.sample::<f64, _>(StandardNormal)).collect()).collect();
    for i in 0..short {
        for j in 0..i {
            let dot: f64 = q[i].iter().zip(&q[j]).map(|(a, b)| a * b).sum();
            let (head, tail) = q.split_at_mut(i);
            for (a, b) in tail[0].iter_mut().zip(&head[j]) {
                *a -= dot * b;
            }
        }
        let norm = q[i].iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
        for a in &mut q[i] {
            *a /= norm;
        }
    }
    let mut w = vec![0.0f32; fan_in * fan_out];
    for (v, vec) in q.iter().enumerate() {
        for (u, &val) in vec.iter().enumerate() {
            // Vectors run along the longer dimension.
            let (i, o) = if fan_in >= fan_out { (u, v) } else { (v, u) };
            w[i * fan_out + o] = gain * val as f32;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Loss = Σ c_ij · y_ij for fixed random c: dLoss/dy = c.
    fn loss(mlp: &Mlp, x: &[f32], batch: usize, c: &[f32]) -> f64 {
        let mut ws = MlpWorkspace::new(mlp, batch);
        let y = mlp.forward(x, batch, &mut ws);
        y.iter().zip(c).map(|(a, b)| (*a as f64) * (*b as f64)).sum()
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut mlp = Mlp::new(&[5, 7, 6, 3], 1.0, &mut rng);
        // Non-zero biases so their gradients are exercised through tanh too.
        for p in &mut mlp.params {
            *p += 0.05 * rng.sample::<f32, _>(StandardNormal);
        }
        let batch = 4;
        let x: Vec<f32> = (0..batch * 5).map(|_| rng.sample(StandardNormal)).collect();
        let c: Vec<f32> = (0..batch * 3).map(|_| rng.sample(StandardNormal)).collect();
        let mut ws = MlpWorkspace::new(&mlp, batch);
        mlp.forward(&x, batch, &mut ws);
        let mut grad = vec![0.0; mlp.params.len()];
        mlp.backward(&x, batch, &mut ws, &c, &mut grad);

        let eps = 1e-2f32;
        let mut worst = 0.0f64;
        for i in 0..mlp.params.len() {
            let orig = mlp.params[i];
            mlp.params[i] = orig + eps;
            let up = loss(&mlp, &x, batch, &c);
            mlp.params[i] = orig - eps;
            let down = loss(&mlp, &x, batch, &c);
            mlp.params[i] = orig;
            let numeric = (up - down) / (2.0 * eps as f64);
            let err = (numeric - grad[i] as f64).abs() / (1e-2 + numeric.abs().max(grad[i].abs() as f64));
            worst = worst.max(err);
        }
        assert!(worst < 1e-2, "worst relative gradient error {worst}");
    }

    #[test]
    fn orthogonal_init_has_orthonormal_columns_times_gain() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (fi, fo) in [(33, 64), (64, 64), (64, 3)] {
            let w = orthogonal(fi, fo, 2.0, &mut rng);
            let short = fi.min(fo);
            for a in 0..short {
                for b in 0..short {
                    let dot: f32 = if fi >= fo {
                        (0..fi).map(|i| w[i * fo + a] * w[i * fo + b]).sum()
                    } else {
                        (0..fo).map(|o| w[a * fo + o] * w[b * fo + o]).sum()
                    };
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "({fi},{fo}) dot[{a},{b}] = {dot}");
                }
            }
        }
    }

    #[test]
    fn gemm_batches_of_any_size_give_identical_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mlp = Mlp::new(&[33, 64, 64, 3], 0.01, &mut rng);
        let batch = 256;
        let x: Vec<f32> = (0..batch * 33).map(|_| rng.sample(StandardNormal)).collect();
        let mut ws = MlpWorkspace::new(&mlp, batch);
        let all = mlp.forward(&x, batch, &mut ws).to_vec();
        for size in [SMALL_BATCH + 1, 7, 64, 100] {
            let mut ws_b = MlpWorkspace::new(&mlp, size);
            for start in (0..batch - size).step_by(size) {
                let part = mlp.forward(&x[start * 33..(start + size) * 33], size, &mut ws_b);
                assert_eq!(part, &all[start * 3..(start + size) * 3], "batch {size} at row {start}");
            }
        }
    }

    #[test]
    fn small_batch_loop_agrees_with_gemm() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mlp = Mlp::new(&[33, 64, 64, 3], 1.0, &mut rng);
        let batch = 16;
        let x: Vec<f32> = (0..batch * 33).map(|_| rng.sample(StandardNormal)).collect();
        let mut ws = MlpWorkspace::new(&mlp, batch);
        let all = mlp.forward(&x, batch, &mut ws).to_vec();
        let mut ws1 = MlpWorkspace::new(&mlp, 1);
        for b in 0..batch {
            let one = mlp.forward(&x[b * 33..(b + 1) * 33], 1, &mut ws1);
            for (u, v) in one.iter().zip(&all[b * 3..(b + 1) * 3]) {
                assert!((u - v).abs() < 1e-5, "row {b}: {u} vs {v}");
            }
        }
    }
}
