//! The CSV bar loader on arbitrary bytes; the invariants are in `checks/csv_bars.rs`.
#![no_main]

#[path = "../checks/csv_bars.rs"]
mod csv_bars;

libfuzzer_sys::fuzz_target!(|data: &[u8]| csv_bars::check(data));
