//! The committed seed corpus of a fuzz target, for the `fuzz_seeds` replay tests of each crate.

use std::path::Path;

/// Every file of `<fuzz_dir>/corpus/<target>/`, by path, sorted; fails when fewer than five (the
/// corpus is missing).
pub fn seeds(fuzz_dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(fuzz_dir).join("corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{} holds {} seeds; the corpus is missing", dir.display(), files.len());
    files
}
