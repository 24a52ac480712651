//! `skippy-trainer`.
fn main() {}
