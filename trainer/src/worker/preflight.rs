//! A grant's inputs checked before any training: the resolved spec, the catalog, every symbol's
//! data, and the checkpoint of an earlier attempt. A failure here fails the job for good.

use std::path::Path;

use skippy_market::catalog::{Catalog, CatalogError};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::dataset::{Dataset, DatasetError};
use crate::spec::{SpecError, TrainSpec};

/// What a job trains on, checked.
#[derive(Debug)]
pub struct Inputs {
    /// The resolved spec.
    pub spec: TrainSpec,
    /// Its data, split and normalised.
    pub data: Dataset,
    /// The earlier attempt's state to resume from.
    pub resume: Option<Checkpoint>,
}

/// Why a grant's inputs cannot be trained on.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The resolved spec is not a training spec.
    #[error("resolved spec: {0}")]
    SpecJson(#[from] serde_json::Error),
    /// A spec value is out of range.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The data catalog could not be opened.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A symbol's data is missing or unusable.
    #[error(transparent)]
    Data(#[from] DatasetError),
    /// The earlier attempt's checkpoint does not load or belongs to another spec.
    #[error("checkpoint of the earlier attempt: {0}")]
    Checkpoint(#[from] CheckpointError),
}

impl PreflightError {
    /// Whether the failure belongs to this host rather than to the job: its data catalog lacks
    /// the symbol or cannot be read (another trainer's may not). Such a job is retried on
    /// another trainer instead of failing.
    pub fn is_host_local(&self) -> bool {
        matches!(self, PreflightError::Catalog(_) | PreflightError::Data(crate::dataset::DatasetError::Catalog(_)))
    }
}

/// Parses and validates the spec, loads its data from the catalog in `data_dir` (the embedded
/// one when `None`) and reads the checkpoint (empty: start fresh). Blocking: reads files.
pub fn check(spec_json: &str, data_dir: Option<&Path>, checkpoint: &[u8]) -> Result<Inputs, PreflightError> {
    let spec: TrainSpec = serde_json::from_str(spec_json)?;
    spec.validate()?;
    let catalog = Catalog::open_or_embedded(data_dir)?;
    let data = Dataset::load(&spec, &catalog)?;
    let resume = if checkpoint.is_empty() {
        None
    } else {
        let c = Checkpoint::from_bytes(checkpoint)?;
        c.check_spec(&spec)?;
        Some(c)
    };
    Ok(Inputs { spec, data, resume })
}

/// The preflight's estimate of the job's training time: `steps_left` at the speed trainers
/// have measured (`steps_per_sec`; 0 when none has yet), against the duration budget.
pub fn estimate(steps_left: u64, steps_per_sec: f64, max_duration: Option<std::time::Duration>) -> String {
    let budget = max_duration.map(|d| d.as_secs_f64());
    if !(steps_per_sec.is_finite() && steps_per_sec > 0.0) {
        return match budget {
            Some(b) => format!("inputs ok; no speed measured yet; training stops at {} at the latest", clock(b)),
            None => "inputs ok; no speed measured yet".to_string(),
        };
    }
    let secs = steps_left as f64 / steps_per_sec;
    let head = format!("inputs ok; {steps_left} steps at ~{steps_per_sec:.0} steps/s ≈ {}", clock(secs));
    match budget {
        Some(b) if secs > b => format!(
            "{head}, over the {} budget: training will stop at it after about {:.0}% of the steps",
            clock(b),
            100.0 * b / secs
        ),
        Some(b) => format!("{head}, within the {} budget", clock(b)),
        None => head,
    }
}

/// `1h02m`, `3m20s`, `45s`.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use skippy_market::features::FeatureSet;

    use super::*;

    fn spec(symbols: &[&str]) -> TrainSpec {
        TrainSpec::new(symbols.iter().map(|s| s.to_string()).collect(), vec![FeatureSet::Price], 4096, 1)
    }

    #[test]
    fn the_estimate_says_whether_the_budget_suffices() {
        use std::time::Duration;
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(
            estimate(1_000_000, 50_000.0, hour),
            "inputs ok; 1000000 steps at ~50000 steps/s ≈ 20s, within the 1h00m budget"
        );
        assert_eq!(
            estimate(400_000_000, 50_000.0, hour),
            "inputs ok; 400000000 steps at ~50000 steps/s ≈ 2h13m, over the 1h00m budget: training will stop at it after about 45% of the steps"
        );
        assert_eq!(estimate(10, 0.0, hour), "inputs ok; no speed measured yet; training stops at 1h00m at the latest");
        assert_eq!(estimate(6_000_000, 20_000.0, None), "inputs ok; 6000000 steps at ~20000 steps/s ≈ 5m00s");
    }

    #[test]
    fn a_good_spec_loads_its_data() {
        let json = serde_json::to_string(&spec(&["SYN-EDGE"])).expect("serialises");
        let inputs = check(&json, None, &[]).expect("valid inputs");
        assert_eq!(inputs.data.symbols.len(), 1);
        assert!(inputs.resume.is_none());
    }

    #[test]
    fn bad_inputs_say_what_is_wrong() {
        let err = check("{\"symbols\": 3}", None, &[]).expect_err("not a spec");
        assert!(err.to_string().starts_with("resolved spec: "), "{err}");

        let json = serde_json::to_string(&spec(&["NOPE"])).expect("serialises");
        let err = check(&json, None, &[]).expect_err("unknown symbol");
        assert!(err.to_string().contains("unknown symbol `NOPE`"), "{err}");
        assert!(err.is_host_local(), "this host's catalog lacks it; another trainer's may not");
        let empty = tempfile::tempdir().expect("temp dir");
        let json = serde_json::to_string(&spec(&["BTC"])).expect("serialises");
        let err = check(&json, Some(empty.path()), &[]).expect_err("an empty data directory");
        assert!(err.is_host_local(), "{err}");

        let mut zero = spec(&["SYN-EDGE"]);
        zero.total_steps = 0;
        let err = check(&serde_json::to_string(&zero).expect("serialises"), None, &[]).expect_err("no steps");
        assert!(err.to_string().contains("total_steps = 0"), "{err}");
        assert!(!err.is_host_local(), "the job's own fault fails it everywhere");

        let json = serde_json::to_string(&spec(&["SYN-EDGE"])).expect("serialises");
        let err = check(&json, None, b"not a checkpoint").expect_err("garbage checkpoint");
        assert!(err.to_string().starts_with("checkpoint of the earlier attempt: "), "{err}");
    }
}
