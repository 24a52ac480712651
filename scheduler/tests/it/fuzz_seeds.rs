//! Replays the `rest_json_bodies` and `job_ids` fuzz targets' committed seed corpora
//! (`fuzz/corpus/<target>/`) and the inputs the fuzzer found crashes with, through the same
//! invariant checks as the targets (`fuzz/checks/`), so `cargo test` covers them without
//! cargo-fuzz.

#[path = "../../../fuzz/checks/harness.rs"]
mod harness;
#[path = "../../../fuzz/checks/job_ids.rs"]
mod job_ids;
#[path = "../../../fuzz/checks/rest_json_bodies.rs"]
mod rest_json_bodies;
#[path = "../../../fuzz/checks/seeds.rs"]
mod seeds;

use skippy_proto::json::JobSpec as JobSpecBody;
use skippy_scheduler::gateway::json::JsonBody;
use skippy_scheduler::grpc::convert::spec_from_pb;

/// Every seed of a target.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    seeds::seeds(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz"), target)
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
