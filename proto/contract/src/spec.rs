//! What a training job is asked to do: the spec, with every default resolved and recorded.

use crate::data::DuplicatePolicy;
use crate::features::FeatureSet;
use serde::{Deserialize, Serialize};

use crate::env::EnvConfig;
use crate::ppo::PpoConfig;

/// A training job's full specification. Same spec and seed ⇒ same results on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Catalog symbols to train one policy on (`BTC`, `ETH`, `SYN-EDGE`).
    pub symbols: Vec<String>,
    /// Feature sets of the observation.
    pub features: Vec<FeatureSet>,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Seed of every random choice (network init, episode starts, sampling, shuffling).
    pub seed: u64,
    /// PPO hyper-parameters.
    #[serde(default)]
    pub ppo: PpoConfig,
    /// Trading environment settings.
    #[serde(default)]
    pub env: EnvConfig,
    /// Chronological train / validation / test split.
    #[serde(default)]
    pub split: SplitConfig,
    /// Validation and evaluation settings.
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    /// How the symbols' data files are read.
    #[serde(default)]
    pub data: DataConfig,
}

/// Choices about the data files that the files cannot make themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Rows of a file (or files of one symbol) that give one bar time different values:
    /// `refuse` (the default: the load fails, naming the lines), `keep-first` or `keep-last`
    /// (the earlier or later line of the file; the earlier or later file in path order).
    pub on_duplicate: DuplicatePolicy,
}

/// Fractions of each symbol's usable bars, in time order: train, then validation, then test,
/// with an embargo gap between segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of the training segment.
    pub train: f64,
    /// Share of the validation segment (the test segment gets the rest).
    pub validation: f64,
    /// Bars left out between segments; `None`: the longest feature look-back plus the window,
    /// so no bar feeds both a training reward and a later segment's observation.
    pub embargo: Option<usize>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { train: 0.70, validation: 0.15, embargo: None }
    }
}

/// How the model is validated during training and scored at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Validation passes over the run (evenly spaced in updates, plus one at the end); the
    /// best validation Sharpe picks the model that is kept.
    pub validations: usize,
    /// Bootstrap resamples for confidence intervals.
    pub bootstrap_samples: usize,
    /// Confidence level of the intervals.
    pub level: f64,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig { validations: 10, bootstrap_samples: 1000, level: 0.95 }
    }
}

/// A spec value out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// No symbols.
    #[error("no symbols given; name at least one, e.g. BTC")]
    NoSymbols,
    /// The same symbol twice.
    #[error("symbol {0} is listed twice")]
    DuplicateSymbol(String),
    /// No feature sets.
    #[error("no feature sets given; valid feature sets: price, microstructure")]
    NoFeatures,
    /// Steps out of range.
    #[error("total_steps = {0} is out of range: 1..=10000000000")]
    Steps(u64),
    /// A PPO hyper-parameter out of range.
    #[error(transparent)]
    Ppo(#[from] crate::ppo::ConfigError),
    /// An override that names no field or does not fit its type.
    #[error("override {key}: {reason}")]
    Override {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Another value out of range.
    #[error("{name} = {value} is out of range: {expected}")]
    Range {
        /// Field.
        name: &'static str,
        /// Value.
        value: String,
        /// Valid range.
        expected: &'static str,
    },
}

impl TrainSpec {
    /// A spec with every default: 64×64 PPO, a 4-bar window, 10 bps cost, 70/15/15 split.
    pub fn new(symbols: Vec<String>, features: Vec<FeatureSet>, total_steps: u64, seed: u64) -> TrainSpec {
        TrainSpec {
            symbols,
            features,
            total_steps,
            seed,
            ppo: PpoConfig::default(),
            env: EnvConfig::default(),
            split: SplitConfig::default(),
            evaluation: EvaluationConfig::default(),
            data: DataConfig::default(),
        }
    }

    /// Applies overrides by dotted path (`ppo.learning_rate` = `1e-4`), as the CLI's `--set`
    /// and the job spec's `overrides` give them. Values are JSON; a bare word is a string.
    /// Unknown fields are refused, naming the known ones; the result is not yet validated.
    pub fn with_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TrainSpec, SpecError> {
        let mut tree = serde_json::to_value(self).expect("specs serialise");
        for (key, value) in overrides {
            let parsed: serde_json::Value =
                serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
            let mut node = &mut tree;
            for part in key.split('.') {
                let Some(obj) = node.as_object_mut() else {
                    return Err(SpecError::Override {
                        key: key.into(),
                        reason: format!("{part:?} is not inside an object"),
                    });
                };
                let known = obj.keys().cloned().collect::<Vec<_>>().join(", ");
                node = obj.get_mut(part).ok_or_else(|| SpecError::Override {
                    key: key.into(),
                    reason: format!("unknown field {part:?}; known fields here: {known}"),
                })?;
            }
            *node = parsed;
            // Checked one override at a time, so a wrong type names its key.
            serde_json::from_value::<TrainSpec>(tree.clone())
                .map_err(|e| SpecError::Override { key: key.into(), reason: e.to_string() })?;
        }
        serde_json::from_value(tree).map_err(|e| SpecError::Override { key: "overrides".into(), reason: e.to_string() })
    }

    /// Checks every range that can be checked without data.
    pub fn validate(&self) -> Result<(), SpecError> {
        fn range(ok: bool, name: &'static str, value: impl ToString, expected: &'static str) -> Result<(), SpecError> {
            if ok { Ok(()) } else { Err(SpecError::Range { name, value: value.to_string(), expected }) }
        }
        if self.symbols.is_empty() {
            return Err(SpecError::NoSymbols);
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.symbols {
            range(!s.trim().is_empty() && s.len() <= 64, "symbol", format!("{s:?}"), "1 to 64 characters")?;
            if !seen.insert(s.to_ascii_uppercase()) {
                return Err(SpecError::DuplicateSymbol(s.clone()));
            }
        }
        range(self.symbols.len() <= 32, "symbols", self.symbols.len(), "at most 32 symbols")?;
        if self.features.is_empty() {
            return Err(SpecError::NoFeatures);
        }
        if self.total_steps == 0 || self.total_steps > 10_000_000_000 {
            return Err(SpecError::Steps(self.total_steps));
        }
        self.ppo.validate()?;
        let e = &self.env;
        range((1..=256).contains(&e.window), "env.window", e.window, "1..=256")?;
        range((1..=1_000_000).contains(&e.episode_len), "env.episode_len", e.episode_len, "1..=1000000")?;
        range(e.cost.is_finite() && (0.0..0.1).contains(&e.cost), "env.cost", e.cost, "in [0, 0.1)")?;
        range(
            e.slippage_bps.is_finite() && (0.0..1000.0).contains(&e.slippage_bps),
            "env.slippage_bps",
            e.slippage_bps,
            "in [0, 1000)",
        )?;
        range(
            e.reward_scale.is_finite() && e.reward_scale > 0.0 && e.reward_scale <= 1e6,
            "env.reward_scale",
            e.reward_scale,
            "in (0, 1e6]",
        )?;
        let s = &self.split;
        range(s.train.is_finite() && s.train >= 0.1 && s.train < 1.0, "split.train", s.train, "in [0.1, 1)")?;
        range(
            s.validation.is_finite() && s.validation >= 0.01 && s.train + s.validation <= 0.99,
            "split.validation",
            s.validation,
            "≥ 0.01, with train + validation ≤ 0.99",
        )?;
        if let Some(e) = s.embargo {
            range(e <= 100_000, "split.embargo", e, "0..=100000")?;
        }
        let v = &self.evaluation;
        range((1..=1000).contains(&v.validations), "evaluation.validations", v.validations, "1..=1000")?;
        range(
            (10..=100_000).contains(&v.bootstrap_samples),
            "evaluation.bootstrap_samples",
            v.bootstrap_samples,
            "10..=100000",
        )?;
        range(v.level > 0.5 && v.level < 1.0, "evaluation.level", v.level, "in (0.5, 1)")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> TrainSpec {
        TrainSpec::new(vec!["BTC".into()], vec![FeatureSet::Price], 1000, 1)
    }

    #[test]
    fn the_duplicate_policy_is_set_by_override_and_a_bad_one_names_the_choices() {
        assert_eq!(btc().data.on_duplicate, DuplicatePolicy::Refuse);
        let spec = btc().with_overrides([("data.on_duplicate", "keep-last")]).expect("a known policy");
        assert_eq!(spec.data.on_duplicate, DuplicatePolicy::KeepLast);
        assert_eq!(serde_json::to_value(&spec).expect("serialises")["data"]["on_duplicate"], "keep-last");
        let err = btc().with_overrides([("data.on_duplicate", "bogus")]).expect_err("no such policy");
        assert_eq!(
            err.to_string(),
            "override data.on_duplicate: unknown variant `bogus`, expected one of `refuse`, `keep-first`, `keep-last`"
        );
        let err = btc().with_overrides([("data.colour", "red")]).expect_err("no such field");
        assert_eq!(err.to_string(), "override data.colour: unknown field \"colour\"; known fields here: on_duplicate");
    }

    #[test]
    fn a_spec_recorded_before_the_data_section_reads_with_the_default_policy() {
        let mut json = serde_json::to_value(btc()).expect("serialises");
        json.as_object_mut().expect("an object").remove("data");
        let spec: TrainSpec = serde_json::from_value(json).expect("reads without `data`");
        assert_eq!(spec, btc());
    }
}
