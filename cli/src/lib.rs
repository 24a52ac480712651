//! `skippy-train`, the user's command-line tool: submit PPO training jobs to a skippy-train
//! scheduler over gRPC, follow them live, and read their results.
//!
//! ```text
//! skippy-train ppo --steps 1000000 --symbols BTC,ETH --features price,microstructure
//! skippy-train status|results|watch|cancel <job-id>
//! skippy-train list [--limit 20] [--state running,done]
//! skippy-train queue
//! skippy-train download <job-id> [--out DIR] [--name FILE ...]
//! ```
//!
//! Global flags (each with its environment variable): `--scheduler` / `SKIPPY_SCHEDULER`,
//! `--admin-secret` / `ADMIN_SECRET`, `--json` / `SKIPPY_JSON`, `--no-color` / `NO_COLOR`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | the job is DONE, or the command succeeded |
//! | 1 | the job FAILED, or a scheduler or transport error |
//! | 2 | usage error (bad flag or value) |
//! | 3 | the job was CANCELLED |
//! | 4 | no such job (or artifact) |
//! | 130 | interrupted while watching (the job keeps running) |
//!
//! # Layout
//! - [`args`]: the command line (clap), with the parsers of flag values.
//! - [`client`]: the gRPC client (admin secret attached) and the one mapping from a gRPC status
//!   to the error a user reads; [`exit`]: exit codes and the error that carries one.
//! - [`commands`]: one function per command: call the scheduler, print the answer.
//! - [`experiment`]: the `experiment` command, and experiments in `status`, `results`, `watch`,
//!   `cancel` and `list`.
//! - [`watch`]: following a job over `WatchJob`: dedupe by sequence, reconnect, progress bar.
//! - [`download`]: artifact downloads with size and SHA-256 checks.
//! - [`local`]: `ppo --local`, an in-process scheduler and trainer (cargo feature `local`).
//! - [`render`]: every human-readable line and table, as pure functions.
//! - [`view`]: the `--json` shapes; [`metrics`]: what the CLI reads of `metrics.json`.
//! - [`output`]: writing to stdout around a live progress bar; a closed pipe is an error, not a
//!   panic.

// Flag docs are clap's help text, shown as written (`DIR/<id>/`), not Markdown.
#[allow(rustdoc::invalid_html_tags)]
pub mod args;
pub mod client;
pub mod commands;
pub mod download;
pub mod exit;
pub mod experiment;
pub mod local;
pub use skippy_contract::results as metrics;
pub mod output;
pub mod render;
pub mod view;
pub mod watch;

use std::process::ExitCode;

use args::{Cli, Command};
use client::SchedulerClient;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Completions { shell } => return print_completions(*shell),
        Command::Man => return print_man(),
        _ => {}
    }
    if let Command::Ppo(args) = &cli.command
        && args.local
    {
        return local::run(global, args).await;
    }
    let sched = SchedulerClient::connect(global)?;
    match &cli.command {
        Command::Ppo(args) => commands::ppo(&sched, global, args).await,
        Command::Experiment(args) => experiment::run(&sched, global, args).await,
        Command::Status(job) => commands::status(&sched, global, job).await,
        Command::Results(job) => commands::results(&sched, global, job).await,
        Command::List(args) => commands::list(&sched, global, args).await,
        Command::Queue(args) => commands::queue(&sched, global, args).await,
        Command::Cancel(job) => commands::cancel(&sched, global, job).await,
        Command::Watch(job) => commands::watch(&sched, global, job).await,
        Command::Download(args) => download::run(&sched, global, args).await,
        Command::Completions { .. } | Command::Man => unreachable!("answered above without a scheduler"),
    }
}

/// `skippy-train completions SHELL`: the completion script on stdout.
fn print_completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    clap_complete::generate(shell, &mut Cli::command(), "skippy-train", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `skippy-train man`: the manual page (roff) on stdout, its subcommands' pages after it.
fn print_man() -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        // The process ends right after: leaking the few page names is the simple way to give
        // clap the `'static` names it wants.
        let name: &'static str = Box::leak(format!("skippy-train-{}", sub.get_name()).into_boxed_str());
        clap_mangen::Man::new(sub.clone().name(name)).render(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
