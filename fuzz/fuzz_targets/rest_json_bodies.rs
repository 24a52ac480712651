//! The REST request bodies, through the scheduler's submission checks, on arbitrary bytes; the
//! invariants are in `checks/rest_json_bodies.rs`.
#![no_main]

#[path = "../checks/harness.rs"]
mod harness;
#[path = "../checks/rest_json_bodies.rs"]
mod rest_json_bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rest_json_bodies::check(data));
