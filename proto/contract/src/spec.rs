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

/// How the job's shared calendar is cut, in time order, into training, validation and test
/// bars, with an embargo gap between segments.
///
/// Two layouts, chosen by [`folds`](Self::folds):
/// - **The single split** (`folds = 1`, the default): fractions `train` and `validation` of the
///   usable bars, the test segment getting the rest (70/15/15 by default).
/// - **Walk-forward fold `fold` of `folds`** (`folds ≥ 2`): the last `oos_fraction` of the
///   history is cut into `folds` consecutive test slices; fold `k` tests on the `k`-th, validates
///   on as many bars just before it and trains on every bar before that (an expanding window),
///   with the same embargo between segments. Stitched together, the folds' test slices are one
///   out-of-sample track record. `train` and `validation` belong to the single split and
///   `oos_fraction` to the folds; setting one for the other layout is refused.
///
/// The trainer's `dataset::split` documents the exact bar layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of the training segment (single split only).
    pub train: f64,
    /// Share of the validation segment, the test segment getting the rest (single split only).
    pub validation: f64,
    /// Bars left out between segments; `None`: the longest feature look-back plus the window,
    /// so no bar feeds both a training reward and a later segment's observation.
    pub embargo: Option<usize>,
    /// Walk-forward folds `K`: 1 is the single split; `K ≥ 2` cuts the last `oos_fraction` of
    /// the history into `K` test slices, one per fold.
    pub folds: usize,
    /// Which fold this job trains and tests, `0..folds` in time order (0 with one fold).
    pub fold: usize,
    /// Share of the history (its decision bars) that the `folds` test slices cover, at the end
    /// (walk-forward folds only).
    pub oos_fraction: f64,
}

impl SplitConfig {
    /// The single split's default training share.
    pub const DEFAULT_TRAIN: f64 = 0.70;
    /// The single split's default validation share.
    pub const DEFAULT_VALIDATION: f64 = 0.15;
    /// The walk-forward folds' default out-of-sample share: the last 40 % of the history.
    pub const DEFAULT_OOS_FRACTION: f64 = 0.4;
    /// Most walk-forward folds.
    pub const MAX_FOLDS: usize = 64;

    /// Whether this is a walk-forward fold (`folds ≥ 2`) rather than the single split.
    pub fn is_walk_forward(&self) -> bool {
        self.folds >= 2
    }
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            train: Self::DEFAULT_TRAIN,
            validation: Self::DEFAULT_VALIDATION,
            embargo: None,
            folds: 1,
            fold: 0,
            oos_fraction: Self::DEFAULT_OOS_FRACTION,
        }
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
    /// A fold number that is not one of the folds.
    #[error("split.fold = {fold} is out of range: with split.folds = {folds} the folds are 0..={last}", last = folds - 1)]
    Fold {
        /// The fold asked for.
        fold: usize,
        /// How many folds there are.
        folds: usize,
    },
    /// A split setting of the other layout (see [`SplitConfig`]): `name` was set to `value`.
    #[error("{name} = {value} {why}")]
    SplitLayout {
        /// Field.
        name: &'static str,
        /// Value.
        value: String,
        /// Which layout the field belongs to and what the other layout does instead.
        why: &'static str,
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
        range((1..=SplitConfig::MAX_FOLDS).contains(&s.folds), "split.folds", s.folds, "1..=64")?;
        if s.fold >= s.folds {
            return Err(SpecError::Fold { fold: s.fold, folds: s.folds });
        }
        range(
            s.oos_fraction.is_finite() && (0.05..=0.9).contains(&s.oos_fraction),
            "split.oos_fraction",
            s.oos_fraction,
            "in [0.05, 0.9]",
        )?;
        range(
            !s.is_walk_forward() || s.oos_fraction * (1.0 + 1.0 / s.folds as f64) <= 0.95,
            "split.oos_fraction",
            format!("{} with split.folds = {}", s.oos_fraction, s.folds),
            "the test slices and fold 0's validation slice (as long as a test slice) would leave \
             fold 0 under 5 % of the history to train on: oos_fraction × (1 + 1/folds) ≤ 0.95",
        )?;
        let layout = |name: &'static str, value: f64, why: &'static str| -> Result<(), SpecError> {
            Err(SpecError::SplitLayout { name, value: value.to_string(), why })
        };
        if s.is_walk_forward() {
            const WHY: &str = "belongs to the single split (split.folds = 1): walk-forward fold k trains on \
                               every bar before its validation slice, which is as long as its test slice";
            if s.train != SplitConfig::DEFAULT_TRAIN {
                return layout("split.train", s.train, WHY);
            }
            if s.validation != SplitConfig::DEFAULT_VALIDATION {
                return layout("split.validation", s.validation, WHY);
            }
        } else if s.oos_fraction != SplitConfig::DEFAULT_OOS_FRACTION {
            return layout(
                "split.oos_fraction",
                s.oos_fraction,
                "applies to walk-forward folds only (split.folds ≥ 2); with one fold the test segment \
                 is what split.train and split.validation leave",
            );
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
    fn walk_forward_folds_are_set_by_override_recorded_and_checked() {
        let spec = btc().with_overrides([("split.folds", "4"), ("split.fold", "3")]).expect("known fields");
        spec.validate().expect("fold 3 of 4 is valid");
        let json = serde_json::to_value(&spec).expect("serialises");
        assert_eq!(json["split"]["folds"], 4);
        assert_eq!(json["split"]["fold"], 3);
        assert_eq!(json["split"]["oos_fraction"], 0.4);
        let spec = spec.with_overrides([("split.oos_fraction", "0.25")]).expect("a number");
        spec.validate().expect("a quarter of the history out of sample");

        let err = |overrides: &[(&str, &str)]| {
            btc()
                .with_overrides(overrides.iter().copied())
                .expect("parses")
                .validate()
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err(&[("split.folds", "4"), ("split.fold", "4")]),
            "split.fold = 4 is out of range: with split.folds = 4 the folds are 0..=3"
        );
        assert_eq!(
            err(&[("split.fold", "1")]),
            "split.fold = 1 is out of range: with split.folds = 1 the folds are 0..=0"
        );
        assert_eq!(err(&[("split.folds", "0")]), "split.folds = 0 is out of range: 1..=64");
        assert_eq!(err(&[("split.folds", "65")]), "split.folds = 65 is out of range: 1..=64");
        assert_eq!(
            err(&[("split.folds", "2"), ("split.oos_fraction", "0.95")]),
            "split.oos_fraction = 0.95 is out of range: in [0.05, 0.9]"
        );
        // A setting of the other layout would be silently ignored: it is refused instead.
        assert!(
            err(&[("split.oos_fraction", "0.3")])
                .starts_with("split.oos_fraction = 0.3 applies to walk-forward folds only (split.folds ≥ 2)"),
        );
        assert!(
            err(&[("split.folds", "3"), ("split.train", "0.6")])
                .starts_with("split.train = 0.6 belongs to the single split (split.folds = 1)"),
        );
        assert!(
            err(&[("split.folds", "3"), ("split.validation", "0.2")])
                .starts_with("split.validation = 0.2 belongs to the single split"),
        );
        assert!(err(&[("split.folds", "2"), ("split.oos_fraction", "0.7")]).starts_with(
            "split.oos_fraction = 0.7 with split.folds = 2 is out of range: the test slices and fold 0's"
        ),);
        let wrong_type = btc().with_overrides([("split.folds", "four")]).expect_err("not a number");
        assert!(wrong_type.to_string().starts_with("override split.folds: invalid type"), "{wrong_type}");
    }

    #[test]
    fn a_spec_recorded_before_walk_forward_folds_reads_as_the_single_split() {
        let mut json = serde_json::to_value(btc()).expect("serialises");
        let split = json["split"].as_object_mut().expect("an object");
        for field in ["folds", "fold", "oos_fraction"] {
            split.remove(field);
        }
        let spec: TrainSpec = serde_json::from_value(json).expect("reads without the fold fields");
        assert_eq!(spec, btc());
        assert!(!spec.split.is_walk_forward());
        spec.validate().expect("the defaults are valid");
    }

    #[test]
    fn a_spec_recorded_before_the_data_section_reads_with_the_default_policy() {
        let mut json = serde_json::to_value(btc()).expect("serialises");
        json.as_object_mut().expect("an object").remove("data");
        let spec: TrainSpec = serde_json::from_value(json).expect("reads without `data`");
        assert_eq!(spec, btc());
    }
}
