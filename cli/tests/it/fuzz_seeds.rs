//! Replays the `artifact_names` fuzz target's committed seed corpus
//! (`fuzz/corpus/artifact_names/`) and the inputs the fuzzer found crashes with, through the same
//! invariant checks as the target (`fuzz/checks/artifact_names.rs`): the scheduler's store and
//! this crate's `download` name check, so `cargo test` covers them without cargo-fuzz.

#[path = "../../../fuzz/checks/artifact_names.rs"]
mod artifact_names;

use std::path::Path;

fn cli_accepts(name: &str) -> bool {
    skippy_train::download::check_name(name).is_ok()
}

#[test]
fn the_artifact_names_seed_corpus_keeps_every_invariant() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/artifact_names");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{} holds {} seeds; the corpus is missing", dir.display(), files.len());
    for path in files {
        eprintln!("replaying {}", path.display());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        artifact_names::check(&bytes, &cli_accepts);
    }
}
