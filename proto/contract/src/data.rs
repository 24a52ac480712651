//! How a job's data files are read: choices the files cannot make themselves.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What to do with rows (or files of one symbol) that give one bar time different values.
///
/// Written `refuse`, `keep-first` or `keep-last` in specs (`data.on_duplicate`) and on the
/// command line (`--on-duplicate`). "First" and "last" are in the order the data is read: the
/// earlier or later line of a file, whichever way its rows run; the earlier or later file of
/// a merge of several files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Refuse the data, naming each conflicting time and its lines: which row is right is
    /// for the user to decide, and a silent choice would change results.
    #[default]
    Refuse,
    /// Keep the row read first.
    KeepFirst,
    /// Keep the row read last (a later correction of the bar, as appended exports have).
    KeepLast,
}

impl DuplicatePolicy {
    /// Every policy's name, as specs and the command line write it.
    pub const NAMES: [&'static str; 3] = ["refuse", "keep-first", "keep-last"];

    /// The policy's name: `refuse`, `keep-first` or `keep-last`.
    pub fn name(self) -> &'static str {
        match self {
            DuplicatePolicy::Refuse => "refuse",
            DuplicatePolicy::KeepFirst => "keep-first",
            DuplicatePolicy::KeepLast => "keep-last",
        }
    }
}

impl std::fmt::Display for DuplicatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`DuplicatePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown duplicate policy {0:?}; use refuse, keep-first or keep-last")]
pub struct UnknownDuplicatePolicy(pub String);

impl FromStr for DuplicatePolicy {
    type Err = UnknownDuplicatePolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "refuse" => Ok(DuplicatePolicy::Refuse),
            "keep-first" => Ok(DuplicatePolicy::KeepFirst),
            "keep-last" => Ok(DuplicatePolicy::KeepLast),
            other => Err(UnknownDuplicatePolicy(other.to_string())),
        }
    }
}
