//! `skippy-train`: submit, watch and inspect training jobs. The commands, flags and exit codes
//! are documented in the library (`skippy_train`) and in `skippy-train --help`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use skippy_train::args::Cli;
use skippy_train::exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skippy-train: error: starting the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(skippy_train::run(cli));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skippy-train: error: {e:#}");
            ExitCode::from(exit::code_of(&e))
        }
    }
}
