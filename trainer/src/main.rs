//! `skippy-trainer`.
fn main() {
    let cfg = skippy_trainer::ppo::PpoConfig::default();
    let r = skippy_trainer::bench::run(&cfg, 20_000_000, 40_960);
    println!("{r:?}");
}
