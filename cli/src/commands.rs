//! One function per command: call the scheduler, print its answer (text or `--json`), and
//! return the exit code.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use skippy_proto::v1::{self as pb, JobState};

use crate::args::{GlobalArgs, JobArg, ListArgs, PpoArgs, QueueArgs, TrainingArgs};
use crate::client::{self, SchedulerClient, Subject};
use crate::exit::{self, Failure};
use crate::experiment;
use crate::metrics::MetricsFile;
use crate::output::{self, Screen};
use crate::render;
use skippy_proto::json;

use crate::view;
use crate::watch::{self, Outcome};

/// How `ppo` runs: against a scheduler that stays, or the in-process one of `--local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A scheduler that outlives the command: point at `results` afterwards.
    Remote,
    /// The `--local` scheduler, which stops with the command.
    Local,
}

/// How a `ppo` session ended.
#[derive(Debug)]
pub enum Session {
    /// `--detach`: submitted, not watched.
    Detached,
    /// Ctrl+C while watching (the job keeps running).
    Interrupted(String),
    /// The job ended; it is printed already (its last line and summary).
    Finished(Box<pb::Job>),
}

/// `ppo`: submit, then watch to the end (unless `--detach`).
pub async fn ppo(sched: &SchedulerClient, global: &GlobalArgs, args: &PpoArgs) -> anyhow::Result<ExitCode> {
    match submit_and_watch(sched, global, args, Mode::Remote, watch::ctrl_c()).await? {
        Session::Detached => Ok(ExitCode::SUCCESS),
        Session::Interrupted(id) => interrupted(global, &id),
        Session::Finished(job) => Ok(ExitCode::from(exit_code(&job))),
    }
}

/// Submits the job of `args` and follows it until it ends, `interrupt` resolves, or at once
/// with `--detach`. Prints the header, the submission, the live view and the end.
pub async fn submit_and_watch(
    sched: &SchedulerClient,
    global: &GlobalArgs,
    args: &PpoArgs,
    mode: Mode,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<Session> {
    let spec = job_spec(args)?;
    if !global.json {
        output::print(&render::header(&render::Header {
            steps: spec.total_steps,
            symbols: &spec.symbols,
            features: &spec.features,
            budget_secs: spec.max_duration_seconds,
        }))?;
    }
    let submitted = submit(sched, spec).await?;
    let job = submitted.job.unwrap_or_default();
    if global.json {
        output::print_json(&json::Submitted { job: view::job(&job), created: submitted.created })?;
    } else {
        output::print(&render::submitted(&job, submitted.created))?;
    }
    if args.detach {
        if !global.json {
            output::print(&format!("\n💡 Follow it with: skippy-train watch {}", job.id))?;
        }
        return Ok(Session::Detached);
    }
    if !global.json {
        output::print(&format!("\n{}", render::WATCHING))?;
    }
    let mut screen = Screen::new(!global.no_color, global.json);
    match watch::follow(sched, &job.id, &mut screen, global.json, interrupt).await? {
        Outcome::Interrupted => Ok(Session::Interrupted(job.id)),
        Outcome::Finished(end) => {
            if !global.json {
                print_end(&end, mode)?;
            }
            Ok(Session::Finished(end))
        }
    }
}

/// The request of `ppo`'s flags.
pub fn job_spec(args: &PpoArgs) -> anyhow::Result<pb::JobSpec> {
    let mut spec = training_spec(&args.training)?;
    // An explicit `--set data.on_duplicate=…` wins over `--on-duplicate`.
    if let Some(policy) = &args.on_duplicate {
        spec.overrides.entry("data.on_duplicate".to_string()).or_insert_with(|| policy.clone());
    }
    Ok(spec)
}

/// The spec of the training flags `ppo` and `experiment` share (an experiment's base spec).
pub fn training_spec(args: &TrainingArgs) -> anyhow::Result<pb::JobSpec> {
    let clean = |list: &[String]| -> Vec<String> {
        list.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    };
    let symbols = clean(&args.symbols);
    if symbols.is_empty() {
        return Err(Failure::new(exit::USAGE, "--symbols: name at least one symbol, e.g. --symbols BTC,ETH").into());
    }
    Ok(pb::JobSpec {
        algorithm: "ppo".into(),
        total_steps: args.steps,
        symbols,
        features: clean(&args.features),
        seed: args.seed,
        priority: args.priority,
        max_duration_seconds: args.duration.0,
        idempotency_key: args.idempotency_key.clone().unwrap_or_else(|| format!("cli-{}", uuid::Uuid::new_v4())),
        overrides: args.overrides.iter().cloned().collect(),
    })
}

/// `SubmitJob`, repeated after a broken connection: the idempotency key makes a repeat return
/// the job the first attempt may have created instead of a second one.
async fn submit(sched: &SchedulerClient, spec: pb::JobSpec) -> anyhow::Result<pb::SubmitJobResponse> {
    let mut client = sched.client.clone();
    let mut pause = Duration::from_millis(250);
    let mut tries = 0;
    loop {
        tries += 1;
        match client.submit_job(pb::SubmitJobRequest { spec: Some(spec.clone()) }).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(status) if client::is_transient(&status) && tries < 3 => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
            Err(status) => return Err(sched.error(&status, Subject::Scheduler)),
        }
    }
}

/// What follows the last state line: the summary, the failure, or the cancellation.
fn print_end(job: &pb::Job, mode: Mode) -> anyhow::Result<()> {
    match JobState::try_from(job.state) {
        Ok(JobState::Done) => {
            output::print(&render::summary(job))?;
            if mode == Mode::Remote {
                output::print(&render::results_hint(&job.id))?;
            }
        }
        Ok(JobState::Failed) => output::print(&render::failed(job))?,
        Ok(JobState::Cancelled) => output::print(&render::cancelled(&job.id))?,
        _ => {}
    }
    Ok(())
}

/// The exit code of a job that ended.
pub fn exit_code(job: &pb::Job) -> u8 {
    match JobState::try_from(job.state) {
        Ok(JobState::Done) => exit::SUCCESS,
        Ok(JobState::Cancelled) => exit::CANCELLED,
        _ => exit::FAILURE,
    }
}

fn interrupted(global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let line = render::stopped_watching(id);
    if global.json {
        output::notice(&line);
    } else {
        output::print(&line)?;
    }
    Ok(ExitCode::from(exit::INTERRUPTED))
}

/// `watch`: the live view of `ppo`, for any job.
pub async fn watch(sched: &SchedulerClient, global: &GlobalArgs, job: &JobArg) -> anyhow::Result<ExitCode> {
    if experiment::is_experiment_id(&job.id) {
        return experiment::follow(sched, global, &job.id).await;
    }
    if !global.json {
        output::print(render::WATCHING)?;
    }
    let mut screen = Screen::new(!global.no_color, global.json);
    match watch::follow(sched, &job.id, &mut screen, global.json, watch::ctrl_c()).await? {
        Outcome::Interrupted => interrupted(global, &job.id),
        Outcome::Finished(end) => {
            if !global.json {
                print_end(&end, Mode::Remote)?;
            }
            Ok(ExitCode::from(exit_code(&end)))
        }
    }
}

/// `status`.
pub async fn status(sched: &SchedulerClient, global: &GlobalArgs, job: &JobArg) -> anyhow::Result<ExitCode> {
    if experiment::is_experiment_id(&job.id) {
        return experiment::status(sched, global, &job.id).await;
    }
    let mut client = sched.client.clone();
    let j = client
        .get_job(pb::GetJobRequest { job_id: job.id.clone() })
        .await
        .map_err(|s| sched.error(&s, Subject::Job(&job.id)))?
        .into_inner();
    if global.json {
        output::print_json(&view::job(&j))?;
    } else {
        output::print(&render::status(&j, watch::now_ms()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `results`.
pub async fn results(sched: &SchedulerClient, global: &GlobalArgs, job: &JobArg) -> anyhow::Result<ExitCode> {
    if experiment::is_experiment_id(&job.id) {
        return experiment::print_results(sched, global, &job.id).await;
    }
    let r = get_results(sched, &job.id).await?;
    if global.json {
        output::print_json(&json::Results::from(r.clone()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let j = r.job.clone().unwrap_or_default();
    if r.metrics_json.trim().is_empty() && j.state != JobState::Done as i32 {
        return Err(no_results(&job.id, &j).into());
    }
    print_results(&r, true)?;
    Ok(ExitCode::SUCCESS)
}

/// `GetResults` for `id`.
pub async fn get_results(sched: &SchedulerClient, id: &str) -> anyhow::Result<pb::GetResultsResponse> {
    let mut client = sched.client.clone();
    Ok(client
        .get_results(pb::GetResultsRequest { job_id: id.to_string() })
        .await
        .map_err(|s| sched.error(&s, Subject::Job(id)))?
        .into_inner())
}

/// Prints the results table of a `GetResults` answer.
pub fn print_results(r: &pb::GetResultsResponse, download_hint: bool) -> anyhow::Result<()> {
    let metrics = MetricsFile::parse(&r.metrics_json).ok();
    output::print(&render::results(r, metrics.as_ref(), download_hint))?;
    Ok(())
}

fn no_results(id: &str, job: &pb::Job) -> Failure {
    match JobState::try_from(job.state) {
        Ok(JobState::Failed) => {
            Failure::new(exit::FAILURE, format!("job {id} FAILED, so it has no results: {}", job.error.trim()))
        }
        Ok(JobState::Cancelled) => {
            Failure::new(exit::CANCELLED, format!("job {id} was cancelled, so it has no results"))
        }
        _ => Failure::new(
            exit::FAILURE,
            format!(
                "job {id} has no results yet: it is {} ({}). Follow it with: skippy-train watch {id}",
                view::state_name(job.state),
                render::percent(job.percent)
            ),
        ),
    }
}

/// `list`: one page of `--limit` jobs (following the scheduler's cursors until it has them), or
/// every job with `--all`.
pub async fn list(sched: &SchedulerClient, global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    if args.experiments {
        return experiment::list(sched, global, args.limit, args.all).await;
    }
    let mut client = sched.client.clone();
    let states: Vec<i32> = args.state.iter().flat_map(|f| f.states()).map(|s| s as i32).collect();
    let want = if args.all { usize::MAX } else { args.limit as usize };
    let mut jobs = Vec::new();
    let mut page_token = String::new();
    loop {
        let page_size = if args.all { 1000 } else { (want - jobs.len()).min(1000) as u32 };
        let request = pb::ListJobsRequest {
            page_size,
            page_token,
            states: states.clone(),
            symbol: args.symbol.clone().unwrap_or_default(),
            experiment_id: args.experiment.clone().unwrap_or_default(),
            ..Default::default()
        };
        let page = client.list_jobs(request).await.map_err(|s| sched.error(&s, Subject::Scheduler))?.into_inner();
        jobs.extend(page.jobs);
        page_token = page.next_page_token;
        // A filtered page may be short, even empty, with more to come.
        if page_token.is_empty() || jobs.len() >= want {
            break;
        }
    }
    jobs.truncate(want);
    if global.json {
        let list = json::JobList { jobs: jobs.iter().map(view::job).collect(), next_cursor: None, next: None };
        output::print_json(&list)?;
    } else {
        output::print(&render::list(&jobs))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `queue`: the first `--limit` queued jobs and how many there are.
pub async fn queue(sched: &SchedulerClient, global: &GlobalArgs, args: &QueueArgs) -> anyhow::Result<ExitCode> {
    let mut client = sched.client.clone();
    let request = pb::GetQueueRequest { page_size: args.limit, ..Default::default() };
    let q = client.get_queue(request).await.map_err(|s| sched.error(&s, Subject::Scheduler))?.into_inner();
    if global.json {
        output::print_json(&json::Queue::from(q.clone()))?;
    } else {
        output::print(&render::queue(&q, watch::now_ms()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cancel`.
pub async fn cancel(sched: &SchedulerClient, global: &GlobalArgs, job: &JobArg) -> anyhow::Result<ExitCode> {
    if experiment::is_experiment_id(&job.id) {
        return experiment::cancel(sched, global, &job.id).await;
    }
    let mut client = sched.client.clone();
    let j = client
        .cancel_job(pb::CancelJobRequest { job_id: job.id.clone() })
        .await
        .map_err(|s| sched.error(&s, Subject::Job(&job.id)))?
        .into_inner();
    if global.json {
        output::print_json(&view::Cancelled { cancelled: j.state == JobState::Cancelled as i32, job: view::job(&j) })?;
    } else {
        output::print(&render::cancel(&j))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn request(flags: &[&str]) -> pb::JobSpec {
        let cli = Cli::try_parse_from([&["skippy-train", "ppo", "--symbols", "BTC"], flags].concat()).unwrap();
        let Command::Ppo(args) = cli.command else { panic!("not ppo") };
        job_spec(&args).unwrap()
    }

    #[test]
    fn on_duplicate_is_sent_as_the_data_on_duplicate_override() {
        assert_eq!(request(&[]).overrides.get("data.on_duplicate"), None);
        let spec = request(&["--on-duplicate", "keep-first"]);
        assert_eq!(spec.overrides.get("data.on_duplicate").map(String::as_str), Some("keep-first"));
        let spec = request(&["--on-duplicate", "keep-first", "--set", "data.on_duplicate=keep-last"]);
        assert_eq!(spec.overrides.get("data.on_duplicate").map(String::as_str), Some("keep-last"));
    }
}
