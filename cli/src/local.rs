//! `skippy-train ppo --local`: the one-command local run. Starts a scheduler (store:
//! `--runs-dir`, default `./runs`) and one trainer in this process on a loopback port, submits
//! and watches the job as usual, prints its results table, and shuts both down: the trainer
//! first (so it hands back or finishes its job), then the scheduler.
//!
//! Built with the `local` cargo feature (on by default: it links the scheduler and trainer
//! crates); a build without it (`--no-default-features`) refuses `--local` with "local mode
//! unavailable" and exit code 1.

#[cfg(not(feature = "local"))]
/// `ppo --local` in a build without the in-process scheduler and trainer.
pub async fn run(
    _global: &crate::args::GlobalArgs,
    _args: &crate::args::PpoArgs,
) -> anyhow::Result<std::process::ExitCode> {
    Err(crate::exit::Failure::new(
        crate::exit::FAILURE,
        "local mode unavailable: this skippy-train was built without the `local` feature \
         (cargo build -p skippy-train --features local); start skippy-scheduler and skippy-trainer \
         and drop --local instead",
    )
    .into())
}

#[cfg(feature = "local")]
pub use enabled::run;

#[cfg(feature = "local")]
mod enabled {
    use std::process::ExitCode;
    use std::time::Duration;

    use anyhow::Context as _;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use crate::args::{GlobalArgs, PpoArgs};
    use crate::client::SchedulerClient;
    use crate::commands::{self, Mode, Session};
    use crate::exit;
    use crate::output;
    use crate::watch;

    /// How long the trainer gets to hand back or finish its job at shutdown.
    const TRAINER_GRACE: Duration = Duration::from_secs(30);
    /// How long the scheduler gets to flush and stop.
    const SCHEDULER_GRACE: Duration = Duration::from_secs(10);

    /// What ended first.
    enum First {
        /// The submit-and-watch session.
        Session(anyhow::Result<Session>),
        /// The scheduler task, unexpectedly.
        Scheduler(Result<anyhow::Result<()>, tokio::task::JoinError>),
        /// The trainer task, unexpectedly.
        Trainer(Result<anyhow::Result<()>, tokio::task::JoinError>),
    }

    /// `ppo --local`.
    pub async fn run(global: &GlobalArgs, args: &PpoArgs) -> anyhow::Result<ExitCode> {
        init_logging(!global.no_color);
        let runs_dir = args.runs_dir.clone();
        std::fs::create_dir_all(&runs_dir).with_context(|| format!("creating {}", runs_dir.display()))?;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for the local scheduler")?;
        let url = format!("http://{}", grpc.local_addr()?);

        let (stop_scheduler, scheduler_stopped) = oneshot::channel::<()>();
        // Real authentication even here: secrets of this run only, never shown.
        let (admin, trainer_token) =
            (skippy_scheduler::auth::Secret::generate(), skippy_scheduler::auth::Secret::generate());
        let mut config = skippy_scheduler::Config::local(runs_dir.clone());
        config.insecure_no_auth = false;
        config.admin_secret = Some(admin.clone());
        config.trainer_token = Some(trainer_token.clone());
        let mut scheduler: JoinHandle<anyhow::Result<()>> =
            tokio::spawn(skippy_scheduler::run(config, skippy_scheduler::Listeners::grpc(grpc), async move {
                let _ = scheduler_stopped.await;
            }));

        let (stop_trainer, trainer_stopped) = oneshot::channel::<()>();
        let worker = skippy_trainer::worker::WorkerConfig {
            scheduler: url.clone(),
            name: "local".to_string(),
            token: Some(trainer_token.expose().to_string()),
            concurrency: 1,
            data_dir: args.data_dir.clone(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            checkpoint_interval: Duration::from_secs(60),
            ca_cert: None,
            limits: skippy_trainer::worker::Limits::default(),
        };
        // Without limits the trainer ends only when told to.
        let mut trainer: JoinHandle<anyhow::Result<()>> = tokio::spawn(async move {
            skippy_trainer::worker::run(worker, async move {
                let _ = trainer_stopped.await;
            })
            .await
            .map(drop)
        });

        let sched =
            SchedulerClient::connect_to(&url, Some(&crate::args::Secret::new(admin.expose().to_string())), None)?;
        let session = commands::submit_and_watch(&sched, global, args, Mode::Local, watch::ctrl_c());
        let first = tokio::select! {
            r = session => First::Session(r),
            r = &mut scheduler => First::Scheduler(r),
            r = &mut trainer => First::Trainer(r),
        };

        let outcome = conclude(first, &sched, global, &runs_dir).await;

        // The trainer first: it hands its job back to a scheduler that still listens.
        let _ = stop_trainer.send(());
        if !trainer.is_finished() {
            match tokio::time::timeout(TRAINER_GRACE, &mut trainer).await {
                Ok(Ok(Err(e))) => output::notice(&format!("local trainer: {e:#}")),
                Err(_) => output::notice("the local trainer did not stop in time"),
                _ => {}
            }
        }
        let _ = stop_scheduler.send(());
        if !scheduler.is_finished() {
            match tokio::time::timeout(SCHEDULER_GRACE, &mut scheduler).await {
                Ok(Ok(Err(e))) => output::notice(&format!("local scheduler: {e:#}")),
                Err(_) => output::notice("the local scheduler did not stop in time"),
                _ => {}
            }
        }
        outcome
    }

    /// Prints the end of the run (the results table of a DONE job) and picks the exit code.
    async fn conclude(
        first: First,
        sched: &SchedulerClient,
        global: &GlobalArgs,
        runs_dir: &std::path::Path,
    ) -> anyhow::Result<ExitCode> {
        match first {
            First::Session(Ok(Session::Finished(job))) => {
                if !global.json && job.state == skippy_proto::v1::JobState::Done as i32 {
                    let results = commands::get_results(sched, &job.id).await?;
                    output::print("")?;
                    commands::print_results(&results, false)?;
                    let job_dir = runs_dir.join(&job.id);
                    let files = if job_dir.join("artifacts").is_dir() { job_dir.join("artifacts") } else { job_dir };
                    output::print(&format!("\n💡 The job's files are in {}", files.display()))?;
                }
                Ok(ExitCode::from(commands::exit_code(&job)))
            }
            First::Session(Ok(Session::Interrupted(id))) => {
                // A second Ctrl+C while shutting down exits at once.
                tokio::spawn(async {
                    watch::ctrl_c().await;
                    output::notice("stopping at once");
                    std::process::exit(i32::from(exit::INTERRUPTED));
                });
                let line = format!(
                    "⏹  Stopped; shutting down the local scheduler and trainer. Job {id} is handed back and stays \
                     queued in {0}: the next scheduler on {0} (or the next `skippy-train ppo --local`) resumes it \
                     from its last checkpoint.",
                    runs_dir.display()
                );
                if global.json {
                    output::notice(&line)
                } else {
                    output::print(&line)?
                }
                Ok(ExitCode::from(exit::INTERRUPTED))
            }
            First::Session(Ok(Session::Detached)) => Ok(ExitCode::SUCCESS),
            First::Session(Err(e)) => Err(e),
            First::Scheduler(r) => Err(ended_early("scheduler", r)),
            First::Trainer(r) => Err(ended_early("trainer", r)),
        }
    }

    fn ended_early(what: &str, r: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
        match r {
            Ok(Ok(())) => anyhow::anyhow!("the local {what} stopped unexpectedly"),
            Ok(Err(e)) => e.context(format!("the local {what} failed")),
            Err(e) => anyhow::anyhow!("the local {what} crashed: {e}"),
        }
    }

    /// Logs of the in-process scheduler and trainer on stderr: warnings and errors unless
    /// `RUST_LOG` says otherwise.
    fn init_logging(color: bool) {
        use std::io::IsTerminal as _;
        use tracing_subscriber::EnvFilter;
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(color && std::io::stderr().is_terminal())
            .try_init();
    }
}

#[cfg(all(test, not(feature = "local")))]
mod tests {
    use clap::Parser as _;

    use crate::args::{Cli, Command};

    #[tokio::test]
    async fn local_mode_says_it_is_unavailable() {
        let cli = Cli::try_parse_from(["skippy-train", "ppo", "--local", "--symbols", "BTC"]).unwrap();
        let Command::Ppo(args) = &cli.command else { panic!("not ppo") };
        let err = super::run(&cli.global, args).await.unwrap_err();
        assert!(format!("{err:#}").starts_with("local mode unavailable"), "{err:#}");
        assert_eq!(crate::exit::code_of(&err), crate::exit::FAILURE);
    }
}
