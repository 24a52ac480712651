//! What a finished run leaves in its output directory: the kept model as safetensors with its
//! network config, normalisation statistics, `metrics.json`, the equity and learning curves as
//! CSV and SVG, the test walk's per-bar returns (`walk`), the resolved spec, and a resumable
//! checkpoint.

pub mod walk;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skippy_eval::{Series, line_chart_svg};

use crate::dataset::Dataset;
use crate::evaluation::{self, EvaluationReport, Segment};
use crate::nn::Mlp;
use crate::ppo::ActorCritic;
use crate::spec::TrainSpec;
use crate::tensors::{self, NamedTensor};
use crate::training::{StopReason, TrainOutcome};

/// File names of the artifacts.
pub mod names {
    /// Kept model weights.
    pub const MODEL: &str = "model.safetensors";
    /// Network configuration.
    pub const NETWORK: &str = "network.json";
    /// Normalisation statistics.
    pub const NORMALIZATION: &str = "normalization.json";
    /// Evaluation results.
    pub const METRICS: &str = "metrics.json";
    /// Equity curves.
    pub const EQUITY_CSV: &str = "equity.csv";
    /// Equity chart.
    pub const EQUITY_SVG: &str = "equity.svg";
    /// The test walk's per-bar net log returns: the model's, buy-and-hold's, the model's at
    /// each cost of the evaluation's cost sensitivity.
    pub const WALK_CSV: &str = "walk.csv";
    /// Learning curve.
    pub const CURVE_CSV: &str = "learning_curve.csv";
    /// Learning curve chart.
    pub const CURVE_SVG: &str = "learning_curve.svg";
    /// Update diagnostics chart.
    pub const DIAGNOSTICS_SVG: &str = "diagnostics.svg";
    /// The resolved spec.
    pub const SPEC: &str = "spec.json";
    /// Final checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
}

/// The content of `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsFile<'a> {
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// Steps trained.
    pub steps_done: u64,
    /// Steps asked for.
    pub total_steps: u64,
    /// Steps at which the kept model was validated.
    pub kept_model_steps: Option<u64>,
    /// Its validation Sharpe: the best of `validations` looks at the validation bars, so a
    /// maximum (optimistic by construction; the test Sharpe is the honest figure).
    pub kept_model_validation_sharpe: Option<f64>,
    /// How many validations the kept model was the best of.
    pub validations: usize,
    /// Data fingerprints (symbol, SHA-256).
    pub data: Vec<(String, String)>,
    /// Test-segment segments per symbol (decision-bar ranges of the shared calendar).
    pub segments: HashMap<String, crate::dataset::Segments>,
    /// The bar times the symbols share, and the bars each had at other times (left out).
    pub calendar: &'a crate::dataset::Calendar,
    /// The evaluation.
    pub evaluation: Option<&'a EvaluationReport>,
}

/// Writes every artifact of `outcome` into `dir` (created if missing); returns the paths.
pub fn write(dir: &Path, spec: &TrainSpec, data: &Dataset, outcome: &TrainOutcome) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    let network = network_config(&outcome.model, spec, data);
    put(names::SPEC, &json(spec))?;
    put(names::MODEL, &model_bytes(&outcome.model, &network))?;
    put(names::NETWORK, &json(&network))?;
    let norms: HashMap<&str, _> = data.symbols.iter().map(|s| (s.bars.symbol.as_str(), &s.normalizer)).collect();
    put(names::NORMALIZATION, &json(&norms))?;
    let best = outcome.checkpoint.best.as_ref();
    let metrics = MetricsFile {
        stop_reason: outcome.stop,
        steps_done: outcome.checkpoint.steps_done,
        total_steps: spec.total_steps,
        kept_model_steps: best.map(|b| b.steps),
        kept_model_validation_sharpe: best.map(|b| b.validation_sharpe),
        validations: outcome.checkpoint.curve.iter().filter(|p| p.validation_sharpe.is_some()).count(),
        data: data.fingerprints(),
        segments: data.symbols.iter().map(|s| (s.bars.symbol.clone(), s.segments.clone())).collect(),
        calendar: &data.calendar,
        evaluation: outcome.evaluation.as_ref(),
    };
    put(names::METRICS, &json(&metrics))?;
    if outcome.evaluation.is_some() {
        let runs = evaluation::backtests(&outcome.model, data, &spec.env, Segment::Test);
        let (csv, svg) = equity(&runs, data);
        put(names::EQUITY_CSV, csv.as_bytes())?;
        put(names::EQUITY_SVG, svg.as_bytes())?;
        put(names::WALK_CSV, walk::csv(&outcome.model, data, &spec.env, &runs).as_bytes())?;
    }
    let (csv, curve_svg, diag_svg) = learning_curve(&outcome.checkpoint.curve);
    put(names::CURVE_CSV, csv.as_bytes())?;
    put(names::CURVE_SVG, curve_svg.as_bytes())?;
    put(names::DIAGNOSTICS_SVG, diag_svg.as_bytes())?;
    put(names::CHECKPOINT, &outcome.checkpoint.to_bytes())?;
    Ok(written)
}

fn json(v: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("artifacts serialise");
    out.push(b'\n');
    out
}

/// What a reader of `model.safetensors` needs to rebuild the networks.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkConfig {
    /// Observation width: `window × features + 1` (the last input is the position, −1/0/1).
    pub obs_dim: usize,
    /// Hidden widths (tanh).
    pub hidden: Vec<usize>,
    /// Actions, in logit order.
    pub actions: Vec<&'static str>,
    /// Bars of features per observation, oldest first.
    pub window: usize,
    /// Feature columns, in order.
    pub features: Vec<String>,
    /// Tensor naming.
    pub layout: &'static str,
}

fn network_config(model: &ActorCritic, spec: &TrainSpec, data: &Dataset) -> NetworkConfig {
    let actions = if spec.env.long_only { vec!["flat", "long"] } else { vec!["short", "flat", "long"] };
    NetworkConfig {
        obs_dim: model.obs_dim(),
        hidden: spec.ppo.hidden.clone(),
        actions,
        window: spec.env.window,
        features: data.feature_names.clone(),
        layout: "{policy,value}.{layer}.weight is [out, in] (PyTorch nn.Linear), .bias is [out]; tanh between layers",
    }
}

/// What `model.safetensors` says of its networks (its `network` metadata, as [`NetworkConfig`]
/// wrote it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelInfo {
    /// Observation width.
    pub obs_dim: usize,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Actions, in logit order.
    pub actions: Vec<String>,
    /// Bars of features per observation.
    pub window: usize,
    /// Feature columns, in order.
    pub features: Vec<String>,
}

/// A `model.safetensors` that cannot be walked.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not a safetensors file of f32 tensors.
    #[error(transparent)]
    Tensors(#[from] crate::tensors::TensorError),
    /// Its `network` metadata is missing or unreadable.
    #[error("its \"network\" metadata is missing or not a network description: {0}")]
    Network(String),
    /// A tensor is missing or has the wrong size for the network described.
    #[error("tensor {name} has {got} values; the network described needs {want}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Values found (0: missing).
        got: usize,
        /// Values needed.
        want: usize,
    },
}

/// Reads a `model.safetensors` written by [`model_bytes`] back into networks.
pub fn read_model(bytes: &[u8]) -> Result<(ActorCritic, ModelInfo), ModelError> {
    let (tensors, meta) = crate::tensors::read(bytes)?;
    let text = meta.get("network").ok_or_else(|| ModelError::Network("absent".into()))?;
    let info: ModelInfo = serde_json::from_str(text).map_err(|e| ModelError::Network(e.to_string()))?;
    let too_big =
        info.obs_dim > 1 << 20 || info.hidden.len() > 16 || info.hidden.iter().any(|&h| h == 0 || h > 1 << 16);
    if too_big || info.obs_dim == 0 || !(2..=3).contains(&info.actions.len()) {
        return Err(ModelError::Network(format!("{info:?} is not a network this trainer writes")));
    }
    let mlp = |prefix: &str, outputs: usize| -> Result<Mlp, ModelError> {
        let mut sizes = vec![info.obs_dim];
        sizes.extend_from_slice(&info.hidden);
        sizes.push(outputs);
        let mut params = Vec::with_capacity(crate::nn::mlp::param_count(&sizes));
        for l in 0..sizes.len() - 1 {
            let (fi, fo) = (sizes[l], sizes[l + 1]);
            let tensor = |name: String, want: usize| match tensors.get(&name) {
                Some(t) if t.len() == want => Ok(t),
                other => Err(ModelError::Shape { name, got: other.map_or(0, Vec::len), want }),
            };
            // Stored [out, in] (PyTorch); kept [in, out].
            let w = tensor(format!("{prefix}.{l}.weight"), fi * fo)?;
            params.extend((0..fi).flat_map(|i| (0..fo).map(move |o| w[o * fi + i])));
            params.extend_from_slice(tensor(format!("{prefix}.{l}.bias"), fo)?);
        }
        Ok(Mlp { sizes, params })
    };
    let agent = ActorCritic { policy: mlp("policy", info.actions.len())?, value: mlp("value", 1)? };
    Ok((agent, info))
}

/// The kept model as safetensors, weights in PyTorch's `[out, in]` layout.
pub fn model_bytes(model: &ActorCritic, network: &NetworkConfig) -> Vec<u8> {
    let mut owned: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (prefix, mlp) in [("policy", &model.policy), ("value", &model.value)] {
        push_layers(prefix, mlp, &mut owned);
    }
    let named: Vec<NamedTensor<'_>> =
        owned.iter().map(|(n, s, d)| NamedTensor { name: n.clone(), shape: s.clone(), data: d }).collect();
    let meta = HashMap::from([("network".to_string(), serde_json::to_string(network).expect("config serialises"))]);
    tensors::write(&named, meta)
}

fn push_layers(prefix: &str, mlp: &Mlp, out: &mut Vec<(String, Vec<usize>, Vec<f32>)>) {
    for l in 0..mlp.layers() {
        let (fi, fo) = (mlp.sizes[l], mlp.sizes[l + 1]);
        let (w_off, b_off) = mlp.layer_offsets(l);
        let w = &mlp.params[w_off..b_off];
        let mut t = vec![0.0f32; fi * fo];
        for i in 0..fi {
            for o in 0..fo {
                t[o * fi + i] = w[i * fo + o];
            }
        }
        out.push((format!("{prefix}.{l}.weight"), vec![fo, fi], t));
        out.push((format!("{prefix}.{l}.bias"), vec![fo], mlp.params[b_off..b_off + fo].to_vec()));
    }
}

/// `equity.csv` and `equity.svg` of the test walk `runs` (one per symbol of `data`). Every row
/// is a bar time all the symbols have (the job's shared calendar); row 0 is the starting equity,
/// stamped with the bar the first decision is made on.
fn equity(runs: &[crate::backtest::Backtest], data: &Dataset) -> (String, String) {
    let strat: Vec<&[f64]> = runs.iter().map(|b| b.strategy.as_slice()).collect();
    let bh: Vec<&[f64]> = runs.iter().map(|b| b.buy_and_hold.as_slice()).collect();
    let port = skippy_eval::equity_curve(&skippy_eval::portfolio_returns(&strat));
    let port_bh = skippy_eval::equity_curve(&skippy_eval::portfolio_returns(&bh));
    let per_symbol: Vec<(Vec<f64>, Vec<f64>)> = runs
        .iter()
        .map(|b| (skippy_eval::equity_curve(&b.strategy), skippy_eval::equity_curve(&b.buy_and_hold)))
        .collect();
    let mut csv = String::from("bar,time_ms,portfolio,portfolio_buy_and_hold");
    for s in &data.symbols {
        let _ = write!(csv, ",{0},{0}_buy_and_hold", s.bars.symbol);
    }
    csv.push('\n');
    let times: Vec<i64> =
        runs.first().map(|b| std::iter::once(b.start_ms).chain(b.ts_ms.iter().copied()).collect()).unwrap_or_default();
    for (i, t) in times.iter().enumerate().take(port.len()) {
        let _ = write!(csv, "{i},{t},{},{}", port[i], port_bh[i]);
        for (s, b) in &per_symbol {
            let _ = write!(csv, ",{},{}", s[i], b[i]);
        }
        csv.push('\n');
    }
    let start = times.first().copied().unwrap_or_default();
    let x: Vec<f64> = times.iter().map(|t| (t - start) as f64 / 86_400_000.0).collect();
    let mut series = vec![Series::new("PPO portfolio", port), Series::new("buy-and-hold portfolio", port_bh)];
    if data.symbols.len() > 1 {
        for (s, (e, _)) in data.symbols.iter().zip(per_symbol) {
            series.push(Series::new(format!("PPO {}", s.bars.symbol), e));
        }
    }
    let svg = line_chart_svg("Out-of-sample equity (test segment)", "days", "equity (start = 1)", &x, &series);
    (csv, svg)
}

fn learning_curve(curve: &[crate::checkpoint::CurvePoint]) -> (String, String, String) {
    let mut csv = String::from(
        "steps,episode_reward,policy_loss,value_loss,entropy,approx_kl,clip_fraction,explained_variance,learning_rate,validation_sharpe\n",
    );
    for p in curve {
        let v = p.validation_sharpe.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            p.steps,
            p.episode_reward,
            p.policy_loss,
            p.value_loss,
            p.entropy,
            p.approx_kl,
            p.clip_fraction,
            p.explained_variance,
            p.learning_rate,
            v
        );
    }
    let x: Vec<f64> = curve.iter().map(|p| p.steps as f64).collect();
    let val: Vec<f64> = curve.iter().map(|p| p.validation_sharpe.unwrap_or(f64::NAN)).collect();
    let reward = line_chart_svg(
        "Learning curve",
        "environment steps",
        "mean episode reward (% log return) / validation Sharpe",
        &x,
        &[
            Series::new("episode reward", curve.iter().map(|p| p.episode_reward).collect()),
            Series::new("validation Sharpe", val),
        ],
    );
    let diag = line_chart_svg(
        "PPO diagnostics",
        "environment steps",
        "value",
        &x,
        &[
            Series::new("entropy", curve.iter().map(|p| p.entropy as f64).collect()),
            Series::new("clip fraction", curve.iter().map(|p| p.clip_fraction as f64).collect()),
            Series::new("approx KL × 100", curve.iter().map(|p| p.approx_kl as f64 * 100.0).collect()),
            Series::new("explained variance", curve.iter().map(|p| p.explained_variance as f64).collect()),
        ],
    );
    (csv, reward, diag)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn info() -> NetworkConfig {
        NetworkConfig {
            obs_dim: 9,
            hidden: vec![5, 4],
            actions: vec!["short", "flat", "long"],
            window: 2,
            features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            layout: "",
        }
    }

    #[test]
    fn a_written_model_reads_back_as_the_same_networks() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let agent = ActorCritic::new(9, 3, &[5, 4], &mut rng);
        let (back, read) = read_model(&model_bytes(&agent, &info())).unwrap();
        assert_eq!(back, agent);
        assert_eq!((read.obs_dim, read.window, read.actions.len()), (9, 2, 3));
    }

    #[test]
    fn a_model_that_does_not_fit_its_description_is_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let agent = ActorCritic::new(9, 3, &[6, 4], &mut rng);
        let err = read_model(&model_bytes(&agent, &info())).unwrap_err().to_string();
        assert!(err.starts_with("tensor policy.0.weight has 54 values; the network described needs 45"), "{err}");
        assert!(read_model(b"junk").is_err());
    }
}
