//! Job ids on arbitrary bytes; the invariants are in `checks/job_ids.rs`.
#![no_main]

#[path = "../checks/harness.rs"]
mod harness;
#[path = "../checks/job_ids.rs"]
mod job_ids;

libfuzzer_sys::fuzz_target!(|data: &[u8]| job_ids::check(data));
