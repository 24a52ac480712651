//! Feature sets by name: what a job may ask for. The columns themselves are computed by the
//! trainer's market crate (`skippy_market::features`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A named group of feature columns a job can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSet {
    /// Returns, volatility, trend and momentum from closes; see `skippy_market::features::price`.
    Price,
    /// Spread, liquidity, range volatility and activity from bars; see `skippy_market::features::microstructure`.
    Microstructure,
}

impl FeatureSet {
    /// Every feature set, in the canonical order.
    pub const ALL: [FeatureSet; 2] = [FeatureSet::Price, FeatureSet::Microstructure];

    /// The set's name as users write it: `price`, `microstructure`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureSet::Price => "price",
            FeatureSet::Microstructure => "microstructure",
        }
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FeatureSet {
    type Err = FeatureError;

    /// Parses a set name, ignoring case and surrounding whitespace.
    fn from_str(s: &str) -> Result<FeatureSet, FeatureError> {
        let wanted = s.trim();
        FeatureSet::ALL
            .into_iter()
            .find(|set| set.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| FeatureError::UnknownSet { name: wanted.to_string(), valid: valid_names() })
    }
}

/// What can be wrong with a requested list of feature sets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// A name that is not a feature set.
    #[error("unknown feature set '{name}'; valid feature sets: {valid}")]
    UnknownSet {
        /// The name as given (trimmed).
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// The list named no feature set at all.
    #[error("no feature sets given in '{list}'; valid feature sets: {valid}")]
    EmptyList {
        /// The list as given.
        list: String,
        /// The valid names, comma-separated.
        valid: String,
    },
}

/// `price, microstructure`: the valid names for error messages.
fn valid_names() -> String {
    FeatureSet::ALL.map(FeatureSet::name).join(", ")
}

/// Parses a comma-separated list such as `price,microstructure`: names are trimmed and
/// case-insensitive, duplicates are dropped keeping the first occurrence's order, and empty
/// items (`price,`) are ignored. An unknown name or a list with no names is an error that
/// lists the valid names.
pub fn parse_feature_sets(list: &str) -> Result<Vec<FeatureSet>, FeatureError> {
    let mut sets = Vec::new();
    for item in list.split(',').filter(|item| !item.trim().is_empty()) {
        let set: FeatureSet = item.parse()?;
        if !sets.contains(&set) {
            sets.push(set);
        }
    }
    if sets.is_empty() {
        return Err(FeatureError::EmptyList { list: list.to_string(), valid: valid_names() });
    }
    Ok(sets)
}
