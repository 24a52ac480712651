//! Artifact names on arbitrary bytes, against the scheduler's store and the CLI's download; the
//! invariants are in `checks/artifact_names.rs`.
#![no_main]

#[path = "../checks/artifact_names.rs"]
mod artifact_names;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    artifact_names::check(data, &|name| skippy_train::download::check_name(name).is_ok())
});
