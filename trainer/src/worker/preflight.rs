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

#[cfg(test)]
mod tests {
    use skippy_market::features::FeatureSet;

    use super::*;

    fn spec(symbols: &[&str]) -> TrainSpec {
        TrainSpec::new(symbols.iter().map(|s| s.to_string()).collect(), vec![FeatureSet::Price], 4096, 1)
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

        let mut zero = spec(&["SYN-EDGE"]);
        zero.total_steps = 0;
        let err = check(&serde_json::to_string(&zero).expect("serialises"), None, &[]).expect_err("no steps");
        assert!(err.to_string().contains("total_steps = 0"), "{err}");

        let json = serde_json::to_string(&spec(&["SYN-EDGE"])).expect("serialises");
        let err = check(&json, None, b"not a checkpoint").expect_err("garbage checkpoint");
        assert!(err.to_string().starts_with("checkpoint of the earlier attempt: "), "{err}");
    }
}
