//! Replays the `csv_bars` fuzz target's committed seed corpus (`fuzz/corpus/csv_bars/`) and the
//! inputs the fuzzer found crashes with, through the same invariant checks as the target
//! (`fuzz/checks/csv_bars.rs`), so `cargo test` covers them without cargo-fuzz.

#[path = "../../../../fuzz/checks/csv_bars.rs"]
mod csv_bars;
#[path = "../../../../fuzz/checks/seeds.rs"]
mod seeds;

/// Every seed of a target.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    seeds::seeds(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"), target)
}

#[test]
fn the_csv_bars_seed_corpus_keeps_every_invariant() {
    let mut loaded = 0;
    for (name, bytes) in seeds("csv_bars") {
        eprintln!("replaying {name}");
        csv_bars::check(&bytes);
        loaded +=
            usize::from(skippy_market::csv_loader::parse_csv(&String::from_utf8_lossy(&bytes), "s", "BTC").is_ok());
    }
    assert!(loaded >= 3, "only {loaded} seeds load; the corpus should hold valid files as well as broken ones");
}
