//! `skippy-train experiment`, and the experiment side of `status`, `results`, `watch`,
//! `cancel` and `list`: an experiment is created in one call, then followed over `WatchJobs`
//! (its runs' changes, as they happen) until every run has ended and the report is made.

use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use skippy_proto::json;
use skippy_proto::v1::{self as pb, JobState};

use crate::args::{ExperimentArgs, GlobalArgs};
use crate::client::{self, SchedulerClient, Subject};
use crate::exit::{self, Failure};
use crate::output::{self, Screen};
use crate::{render, watch};

/// Whether `id` names an experiment (`ex_…`) rather than a job.
pub fn is_experiment_id(id: &str) -> bool {
    id.starts_with("ex_")
}

/// The request of `experiment`'s flags.
pub fn experiment_spec(args: &ExperimentArgs) -> anyhow::Result<pb::ExperimentSpec> {
    Ok(pb::ExperimentSpec {
        base: Some(crate::commands::training_spec(&args.training)?),
        seeds: args.seeds,
        folds: args.folds,
        grid: args
            .grid
            .iter()
            .map(|(path, values)| pb::GridAxis { path: path.clone(), values: values.clone() })
            .collect(),
        promote: args.promote,
    })
}

/// The scheduler's estimate of an experiment's training, in words: `⏱️  About 2h 13m of
/// training in all: 20,000,000 steps at 2,500 steps/s a run (measured by the trainers), shared
/// among the runs that train at once`.
pub fn estimate_text(e: &pb::ExperimentEstimate) -> String {
    let speed = if e.measured { "measured by the trainers" } else { "assumed: no trainer has reported one yet" };
    let ms = (e.trainer_seconds.max(1.0) * 1000.0).min(i64::MAX as f64) as i64;
    format!(
        "⏱️  About {} of training in all: {} steps at {} steps/s a run ({speed}), shared among the runs that train \
         at once",
        render::age(ms),
        render::count(e.total_steps),
        render::rate(e.steps_per_sec)
    )
}

/// The champion candidate's line, when the experiment asked for one and has been reported.
pub fn candidate_text(e: &pb::Experiment) -> Option<String> {
    let c = e.candidate.as_ref()?;
    let jobs = if c.job_ids.is_empty() { String::new() } else { format!(": {}", c.job_ids.join(", ")) };
    Some(format!("🏆 {}{jobs}", c.note))
}

/// `experiment`: create, then follow until the report (unless `--detach`).
pub async fn run(sched: &SchedulerClient, global: &GlobalArgs, args: &ExperimentArgs) -> anyhow::Result<ExitCode> {
    let spec = experiment_spec(args)?;
    let configs: usize = args.grid.iter().map(|(_, v)| v.len()).product();
    if !global.json {
        output::print(&format!(
            "🧪 Experiment: {} × {} seeds × {} folds = {} runs of {} steps on {} ({})",
            plural(configs, "configuration"),
            args.seeds,
            args.folds,
            configs * args.seeds as usize * args.folds as usize,
            args.training.steps,
            args.training.symbols.join(","),
            args.training.features.join(","),
        ))?;
    }
    if args.dry_run {
        let mut client = sched.client.clone();
        let estimate = client
            .estimate_experiment(pb::EstimateExperimentRequest { spec: Some(spec) })
            .await
            .map_err(|s| sched.error(&s, Subject::Scheduler))?
            .into_inner();
        if global.json {
            output::print_json(&json::ExperimentEstimate::from(estimate))?;
        } else {
            output::print(&format!(
                "🔎 Dry run: the scheduler would accept these {} runs; nothing was queued.",
                estimate.runs
            ))?;
            output::print(&estimate_text(&estimate))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let created = submit(sched, spec).await?;
    let e = created.experiment.clone().unwrap_or_default();
    if global.json {
        output::print_json(&json::ExperimentSubmitted::from(created))?;
    } else {
        let verb = if created.created { "created" } else { "already exists (same idempotency key)" };
        output::print(&format!("✅ Experiment {} {verb}: {} runs queued", e.id, e.runs_total))?;
        if let Some(estimate) = &created.estimate {
            output::print(&estimate_text(estimate))?;
        }
    }
    if args.detach {
        if !global.json {
            output::print(&format!("\n💡 Follow it with: skippy-train watch {}", e.id))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    follow(sched, global, &e.id).await
}

/// `SubmitExperiment`, repeated after a broken connection (the idempotency key makes a repeat
/// return the experiment a first attempt may have created).
async fn submit(sched: &SchedulerClient, spec: pb::ExperimentSpec) -> anyhow::Result<pb::SubmitExperimentResponse> {
    let mut client = sched.client.clone();
    let mut pause = Duration::from_millis(250);
    let mut tries = 0;
    loop {
        tries += 1;
        match client.submit_experiment(pb::SubmitExperimentRequest { spec: Some(spec.clone()) }).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(status) if client::is_transient(&status) && tries < 3 => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
            Err(status) => return Err(sched.error(&status, Subject::Scheduler)),
        }
    }
}

/// `GetExperimentResults`.
async fn results(sched: &SchedulerClient, id: &str) -> anyhow::Result<pb::GetExperimentResultsResponse> {
    let mut client = sched.client.clone();
    Ok(client
        .get_experiment_results(pb::GetExperimentResultsRequest { experiment_id: id.to_string() })
        .await
        .map_err(|s| sched.error(&s, Subject::Scheduler))?
        .into_inner())
}

/// `GetExperiment`.
pub async fn get(sched: &SchedulerClient, id: &str) -> anyhow::Result<pb::Experiment> {
    let mut client = sched.client.clone();
    Ok(client
        .get_experiment(pb::GetExperimentRequest { experiment_id: id.to_string() })
        .await
        .map_err(|s| sched.error(&s, Subject::Scheduler))?
        .into_inner())
}

/// `watch` of an experiment, and the end of `experiment`: runs' changes as they happen, a bar
/// over every run's steps, a line per run that ends; then the report. Ctrl+C stops watching.
pub async fn follow(sched: &SchedulerClient, global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let interrupted = watch::ctrl_c();
    tokio::pin!(interrupted);
    tokio::select! {
        code = follow_runs(sched, global, id) => code,
        () = &mut interrupted => {
            let line = format!("⏸  Stopped watching; experiment {id} keeps running. Resume: skippy-train watch {id}");
            if global.json { output::notice(&line) } else { output::print(&line)? }
            Ok(ExitCode::from(exit::INTERRUPTED))
        }
    }
}

/// A run as the follower last saw it.
#[derive(Debug, Clone)]
struct Seen {
    cell: pb::ExperimentCell,
    state: i32,
    steps_done: u64,
    total_steps: u64,
}

async fn follow_runs(sched: &SchedulerClient, global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let mut screen = Screen::new(!global.no_color, global.json);
    let mut experiment = get(sched, id).await?;
    let mut runs = seen_runs(&experiment);
    let job_ids: Vec<String> = experiment.runs.iter().map(|r| r.job_id.clone()).collect();
    if !global.json {
        output::print("\n👀 Following the runs (Ctrl+C stops watching, not the experiment)…")?;
    }
    screen.start_bar(experiment.total_steps.max(1), experiment.steps_done);
    let mut pace = Pace::default();
    let mut client = sched.client.clone();
    let (mut epoch, mut after) = (String::new(), 0u64);
    'watch: while !all_ended(&runs) && experiment.state == pb::ExperimentState::Running as i32 {
        let request = pb::WatchJobsRequest {
            after_sequence: after,
            epoch: epoch.clone(),
            job_ids: job_ids.clone(),
            states_only: false,
        };
        let mut stream = match client.watch_jobs(request).await {
            Ok(s) => s.into_inner(),
            Err(status) if client::is_transient(&status) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(status) => return Err(sched.error(&status, Subject::Scheduler)),
        };
        loop {
            let message = match stream.message().await {
                Ok(Some(m)) => m,
                // The stream ended (its lifetime, a restart): resume from where it was.
                Ok(None) | Err(_) => continue 'watch,
            };
            epoch = message.epoch.clone();
            after = message.sequence;
            if message.kind == pb::JobsEventKind::Reset as i32 {
                experiment = get(sched, id).await?;
                runs = seen_runs(&experiment);
            } else if let Some(event) = message.event
                && let Some(run) = runs.get_mut(&event.job_id)
            {
                run.steps_done = run.steps_done.max(event.steps_done);
                let ended = JobState::try_from(event.state).is_ok_and(is_terminal)
                    && !JobState::try_from(run.state).is_ok_and(is_terminal);
                run.state = event.state;
                if ended {
                    let job = event.job.clone().unwrap_or_default();
                    if global.json {
                        output::print_json(&json::Event::from(event.clone()))?;
                    } else {
                        screen.print(&run_line(&event.job_id, run, &job))?;
                    }
                }
            }
            let steps: u64 = runs.values().map(|r| r.steps_done.min(r.total_steps.max(r.steps_done))).sum();
            pace.record(Instant::now(), steps);
            let line = pace.message(experiment.total_steps.saturating_sub(steps)) + &counts_line(&runs);
            screen.update_bar(steps, line);
            if all_ended(&runs) {
                break 'watch;
            }
        }
    }
    screen.end_bar();
    // The report follows the last run's end within moments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while experiment.state == pb::ExperimentState::Running as i32 {
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::new(
                exit::FAILURE,
                format!(
                    "every run of {id} has ended but the scheduler has not reported it; see skippy-train results {id}"
                ),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        experiment = get(sched, id).await?;
    }
    print_results(sched, global, id).await
}

/// How far back [`Pace`] looks.
const PACE_WINDOW: Duration = Duration::from_secs(60);

/// An experiment's pace: its runs' steps per second over the last [`PACE_WINDOW`] (the speeds of
/// the trainers holding its runs, summed), and the time the steps left take at that pace.
#[derive(Debug, Default)]
struct Pace {
    /// `(when, steps done by every run)`, oldest first; the oldest is the last one at or before
    /// the window's start.
    samples: VecDeque<(Instant, u64)>,
}

impl Pace {
    /// Notes that the runs had done `steps` at `at`. Fewer steps than before (a run resumed from
    /// an earlier checkpoint) start the measure again.
    fn record(&mut self, at: Instant, steps: u64) {
        if self.samples.back().is_some_and(|&(_, before)| steps < before) {
            self.samples.clear();
        }
        self.samples.push_back((at, steps));
        while self.samples.get(1).is_some_and(|&(t, _)| at.duration_since(t) >= PACE_WINDOW) {
            self.samples.pop_front();
        }
    }

    /// Steps per second over the window; 0 until it spans 2 seconds with steps done in it.
    fn steps_per_sec(&self) -> f64 {
        let (Some(&(t0, s0)), Some(&(t1, s1))) = (self.samples.front(), self.samples.back()) else { return 0.0 };
        let secs = t1.duration_since(t0).as_secs_f64();
        if secs < 2.0 || s1 <= s0 { 0.0 } else { (s1 - s0) as f64 / secs }
    }

    /// `94,336 steps/s • ~12m left • ` for `remaining` steps (what comes first on the bar, the
    /// run counts after it); empty without a pace yet.
    fn message(&self, remaining: u64) -> String {
        let rate = self.steps_per_sec();
        if rate <= 0.0 {
            return String::new();
        }
        let mut line = format!("{} steps/s • ", render::rate(rate));
        if let Some(left) = render::time_left(remaining, rate) {
            line.push_str(&format!("{left} • "));
        }
        line
    }
}

fn is_terminal(s: JobState) -> bool {
    matches!(s, JobState::Done | JobState::Failed | JobState::Cancelled)
}

fn seen_runs(e: &pb::Experiment) -> HashMap<String, Seen> {
    e.runs
        .iter()
        .map(|r| {
            let seen = Seen {
                cell: r.cell.clone().unwrap_or_default(),
                state: r.state,
                steps_done: r.steps_done,
                total_steps: r.total_steps,
            };
            (r.job_id.clone(), seen)
        })
        .collect()
}

fn all_ended(runs: &HashMap<String, Seen>) -> bool {
    runs.values().all(|r| JobState::try_from(r.state).is_ok_and(is_terminal))
}

/// `queued 3 · running 2 · done 1 · failed 0`.
fn counts_line(runs: &HashMap<String, Seen>) -> String {
    let mut c = [0usize; 5];
    for r in runs.values() {
        let i = match JobState::try_from(r.state) {
            Ok(JobState::Queued) => 0,
            Ok(JobState::Done) => 2,
            Ok(JobState::Failed) => 3,
            Ok(JobState::Cancelled) => 4,
            _ => 1,
        };
        c[i] += 1;
    }
    let mut line = format!("runs: {} queued · {} running · {} done · {} failed", c[0], c[1], c[2], c[3]);
    if c[4] > 0 {
        line.push_str(&format!(" · {} cancelled", c[4]));
    }
    line
}

/// The line of a run that ended.
fn run_line(job_id: &str, run: &Seen, job: &pb::Job) -> String {
    let cell = format!("config {}, seed {}, fold {}", run.cell.config, run.cell.seed_index, run.cell.fold);
    match JobState::try_from(run.state) {
        Ok(JobState::Done) => match &job.result {
            Some(r) => format!(
                "   ✓ {job_id} ({cell}): test Sharpe {:.2} vs buy-and-hold {:.2}",
                r.sharpe, r.buy_and_hold_sharpe
            ),
            None => format!("   ✓ {job_id} ({cell}) DONE"),
        },
        Ok(JobState::Failed) => {
            let why: String = job.error.chars().take(160).collect();
            format!("   ✗ {job_id} ({cell}) FAILED: {why}")
        }
        _ => format!("   ⊘ {job_id} ({cell}) cancelled"),
    }
}

/// `results` of an experiment (and the end of `experiment`/`watch`): the report, or why there
/// is none yet. Exit 0 when reported, 1 when FAILED, 3 when CANCELLED.
pub async fn print_results(sched: &SchedulerClient, global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let r = results(sched, id).await?;
    let e = r.experiment.clone().unwrap_or_default();
    let code = state_exit(&e);
    if global.json {
        output::print_json(&json::ExperimentResults::from(r))?;
        return Ok(ExitCode::from(code));
    }
    if r.report_json.trim().is_empty() {
        let state = json::ExperimentState::from_proto(e.state);
        let why = if e.verdict.is_empty() { String::new() } else { format!(": {}", e.verdict) };
        return match state {
            json::ExperimentState::Running => Err(Failure::new(
                exit::FAILURE,
                format!(
                    "experiment {id} has no report yet: {} of {} runs have ended. Follow it with: skippy-train watch {id}",
                    e.runs_done + e.runs_failed + e.runs_cancelled,
                    e.runs_total
                ),
            )
            .into()),
            _ => Err(Failure::new(code, format!("experiment {id} ended {state} without a report{why}")).into()),
        };
    }
    let report = skippy_contract::experiment::ExperimentReport::parse(&r.report_json)
        .map_err(|e| Failure::new(exit::FAILURE, format!("the report of {id} cannot be read: {e}")))?;
    output::print(&skippy_contract::experiment::report_text(&report))?;
    if let Some(line) = candidate_text(&e) {
        output::print(&format!("\n{line}"))?;
    }
    let names: Vec<&str> = r.artifacts.iter().map(|a| a.name.as_str()).collect();
    output::print(&format!(
        "\n📈 Charts: {} — skippy-train download {id}  (or GET /api/training/experiments/{id}/artifacts/<name>)",
        names.join(", ")
    ))?;
    Ok(ExitCode::from(code))
}

/// The files of experiment `id`'s report (none until it is reported), for `download`.
pub async fn artifacts(sched: &SchedulerClient, id: &str) -> anyhow::Result<Vec<pb::Artifact>> {
    Ok(results(sched, id).await?.artifacts)
}

fn state_exit(e: &pb::Experiment) -> u8 {
    match pb::ExperimentState::try_from(e.state) {
        Ok(pb::ExperimentState::Done) => exit::SUCCESS,
        Ok(pb::ExperimentState::Cancelled) => exit::CANCELLED,
        _ => exit::FAILURE,
    }
}

/// `status` of an experiment: its state, run counts, progress and each run.
pub async fn status(sched: &SchedulerClient, global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let e = get(sched, id).await?;
    if global.json {
        output::print_json(&json::Experiment::from(e))?;
        return Ok(ExitCode::SUCCESS);
    }
    output::print(&status_text(&e))?;
    Ok(ExitCode::SUCCESS)
}

/// The text of an experiment's status.
pub fn status_text(e: &pb::Experiment) -> String {
    let state = json::ExperimentState::from_proto(e.state);
    let pct = if e.total_steps > 0 { 100.0 * e.steps_done as f64 / e.total_steps as f64 } else { 0.0 };
    let mut out = format!(
        "Experiment {}  {state}  {pct:.0}% of {} steps\n  runs: {} · {} queued · {} running · {} done · {} failed · {} cancelled\n",
        e.id, e.total_steps, e.runs_total, e.runs_queued, e.runs_running, e.runs_done, e.runs_failed, e.runs_cancelled
    );
    if !e.verdict.is_empty() {
        out.push_str(&format!("  {}\n", e.verdict));
    }
    if let Some(line) = candidate_text(e) {
        out.push_str(&format!("  {line}\n"));
    }
    for c in &e.configs {
        let settings: Vec<String> = c.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let settings = if settings.is_empty() { "the base spec".to_string() } else { settings.join(" ") };
        out.push_str(&format!("  config {}: {settings}\n", c.index));
    }
    out.push_str("\n  JOB                       CONFIG SEED FOLD  STATE       VALIDATION   TEST  BUY&HOLD\n");
    for r in &e.runs {
        let cell = r.cell.clone().unwrap_or_default();
        let num = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}"));
        out.push_str(&format!(
            "  {:<25} {:>6} {:>4} {:>4}  {:<10} {:>10} {:>6} {:>9}\n",
            r.job_id,
            cell.config,
            cell.seed_index,
            cell.fold,
            json::JobState::from_proto(r.state).to_string(),
            num(r.validation_sharpe),
            num(r.test_sharpe),
            num(r.buy_and_hold_sharpe),
        ));
    }
    out
}

/// `cancel` of an experiment.
pub async fn cancel(sched: &SchedulerClient, global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let mut client = sched.client.clone();
    let e = client
        .cancel_experiment(pb::CancelExperimentRequest { experiment_id: id.to_string() })
        .await
        .map_err(|s| sched.error(&s, Subject::Scheduler))?
        .into_inner();
    if global.json {
        output::print_json(&json::Experiment::from(e))?;
    } else {
        output::print(&format!(
            "🛑 Experiment {id} cancelled: {} runs cancelled, {} done, {} still stopping",
            e.runs_cancelled, e.runs_done, e.runs_running
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `list --experiments`: experiments, newest first.
pub async fn list(sched: &SchedulerClient, global: &GlobalArgs, limit: u32, all: bool) -> anyhow::Result<ExitCode> {
    let mut client = sched.client.clone();
    let want = if all { usize::MAX } else { limit as usize };
    let (mut found, mut page_token) = (Vec::new(), String::new());
    loop {
        let page_size = (want - found.len()).min(1000) as u32;
        let page = client
            .list_experiments(pb::ListExperimentsRequest { page_size, page_token })
            .await
            .map_err(|s| sched.error(&s, Subject::Scheduler))?
            .into_inner();
        found.extend(page.experiments);
        page_token = page.next_page_token;
        if page_token.is_empty() || found.len() >= want {
            break;
        }
    }
    found.truncate(want);
    if global.json {
        let list = json::ExperimentList {
            experiments: found.into_iter().map(json::Experiment::from).collect(),
            next_cursor: None,
            next: None,
        };
        return output::print_json(&list).map(|()| ExitCode::SUCCESS);
    }
    if found.is_empty() {
        output::print("No experiments yet. Start one: skippy-train experiment --symbols BTC --seeds 5 --folds 4")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::from("EXPERIMENT                STATE      RUNS  DONE FAILED  SYMBOLS        VERDICT\n");
    for e in &found {
        let symbols = e.spec.as_ref().and_then(|s| s.base.as_ref()).map(|b| b.symbols.join(",")).unwrap_or_default();
        let verdict: String = e.verdict.chars().take(60).collect();
        out.push_str(&format!(
            "{:<25} {:<10} {:>4} {:>5} {:>6}  {:<14} {verdict}\n",
            e.id,
            json::ExperimentState::from_proto(e.state).to_string(),
            e.runs_total,
            e.runs_done,
            e.runs_failed,
            symbols
        ));
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    #[test]
    fn the_pace_is_measured_over_the_last_minute_and_gives_the_time_left() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut pace = Pace::default();
        pace.record(at(0), 0);
        assert_eq!(pace.message(1_000_000), "", "one sample: no pace");
        pace.record(at(1), 5_000);
        assert_eq!(pace.message(1_000_000), "", "under 2 seconds: no pace");
        pace.record(at(10), 100_000);
        assert_eq!(pace.steps_per_sec(), 10_000.0);
        assert_eq!(pace.message(1_200_000), "10,000 steps/s • ~2m left • ");
        // A minute later the first trainer's pace is forgotten: 200,000 steps in 60 s.
        pace.record(at(70), 300_000);
        pace.record(at(80), 400_000);
        assert_eq!(pace.samples.front().map(|&(_, s)| s), Some(100_000), "the last sample at the window's start");
        assert_eq!(pace.steps_per_sec(), 300_000.0 / 70.0);
        // Sparse progress still has a pace: the sample before the window is kept.
        pace.record(at(500), 900_000);
        assert_eq!(pace.steps_per_sec(), 500_000.0 / 420.0);
        assert_eq!(pace.message(0), "1,190 steps/s • ", "nothing left: no time left");
        // A run that went back to a checkpoint starts the measure again.
        pace.record(at(510), 800_000);
        assert_eq!(pace.message(100_000), "");
    }

    #[test]
    fn the_estimate_says_the_training_time_the_steps_and_whether_the_speed_was_measured() {
        let estimate = pb::ExperimentEstimate {
            total_steps: 20_000_000,
            trainer_seconds: 8_000.0,
            steps_per_sec: 2_500.0,
            measured: true,
            runs: 20,
        };
        assert_eq!(
            estimate_text(&estimate),
            "⏱️  About 2h 13m of training in all: 20,000,000 steps at 2,500 steps/s a run (measured by the \
             trainers), shared among the runs that train at once"
        );
        let assumed = pb::ExperimentEstimate { measured: false, trainer_seconds: 0.2, ..estimate };
        assert!(estimate_text(&assumed).contains("About 1s of training"), "{}", estimate_text(&assumed));
        assert!(estimate_text(&assumed).contains("(assumed: no trainer has reported one yet)"));
    }

    fn args(line: &[&str]) -> ExperimentArgs {
        match Cli::try_parse_from(line).unwrap().command {
            Command::Experiment(a) => a,
            other => panic!("not an experiment: {other:?}"),
        }
    }

    #[test]
    fn promote_asks_for_the_champion_candidate_and_its_line_names_the_jobs() {
        let plain = experiment_spec(&args(&["skippy-train", "experiment", "--symbols", "BTC"])).unwrap();
        assert!(!plain.promote, "not asked for by default");
        let spec = experiment_spec(&args(&["skippy-train", "experiment", "--symbols", "BTC", "--promote"])).unwrap();
        assert!(spec.promote);

        let mut e = pb::Experiment::default();
        assert_eq!(candidate_text(&e), None, "none before the report or without --promote");
        e.candidate = Some(pb::ExperimentCandidate {
            config: 1,
            job_ids: vec!["tr_1_00000001".into(), "tr_1_00000002".into()],
            note: "champion candidate: configuration 1".into(),
        });
        assert_eq!(candidate_text(&e).unwrap(), "🏆 champion candidate: configuration 1: tr_1_00000001, tr_1_00000002");
        assert!(status_text(&e).contains("tr_1_00000002"), "status shows it");
    }
}
