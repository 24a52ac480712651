//! Replays the `rest_json_bodies` and `job_ids` fuzz targets' committed seed corpora
//! (`fuzz/corpus/<target>/`) and the inputs the fuzzer found crashes with, through the same
//! invariant checks as the targets (`fuzz/checks/`), so `cargo test` covers them without
//! cargo-fuzz.

#[path = "../../fuzz/checks/harness.rs"]
mod harness;
#[path = "../../fuzz/checks/job_ids.rs"]
mod job_ids;
#[path = "../../fuzz/checks/rest_json_bodies.rs"]
mod rest_json_bodies;

use std::path::Path;

use skippy_scheduler::gateway::json::{JobSpecBody, JsonBody};
use skippy_scheduler::grpc::convert::spec_from_pb;

/// Every file of `fuzz/corpus/<target>/`, by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
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

#[test]
fn the_rest_json_bodies_seed_corpus_keeps_every_invariant() {
    let mut accepted = 0;
    for (name, bytes) in seeds("rest_json_bodies") {
        eprintln!("replaying {name}");
        rest_json_bodies::check(&bytes);
        if let Ok(JsonBody(body)) = JsonBody::<JobSpecBody>::parse(&bytes) {
            accepted += usize::from(harness::harness().scheduler.resolve(spec_from_pb(body.into())).is_ok());
        }
    }
    assert!(accepted >= 2, "only {accepted} job bodies are accepted; the corpus should hold valid bodies too");
}

#[test]
fn the_job_ids_seed_corpus_keeps_every_invariant() {
    for (name, bytes) in seeds("job_ids") {
        eprintln!("replaying {name}");
        job_ids::check(&bytes);
    }
}
