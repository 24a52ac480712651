//! `skippy-trainer`: with no subcommand, the worker that pulls training jobs from a scheduler;
//! `train` runs one job offline, `bench` measures throughput.

mod offline;
mod worker_mode;

use std::process::ExitCode;

use clap::Parser;

/// Train PPO trading agents on crypto bars: pull jobs from a scheduler (no subcommand), or run
/// one locally (`train`).
#[derive(Debug, Parser)]
#[command(name = "skippy-trainer", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    /// An offline command; without one the trainer runs as a worker.
    #[command(subcommand)]
    command: Option<offline::Command>,
    /// The worker's flags.
    #[command(flatten)]
    worker: worker_mode::WorkerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => offline::run(command),
        None => worker_mode::run(cli.worker),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skippy-trainer: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
