//! `skippy-trainer`: train a PPO trading policy offline (`train`), or measure throughput (`bench`).

mod offline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = offline::Cli::parse();
    match offline::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skippy-trainer: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
