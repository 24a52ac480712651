//! Experiments: many ordinary jobs under one record ([`crate::experiment`]).
//!
//! - **Creation** ([`Scheduler::submit_experiment`]): the request is checked and every run's
//!   spec resolved (a bad grid value is refused naming its configuration), the whole experiment
//!   admitted against the queue cap and the compute budget at once, then its record written
//!   durably: that write is the commit point. Its runs then go to the journal through the
//!   committer, with ids reserved for them; the answer comes once every run is durable.
//! - **Recovery** ([`Scheduler::recover_experiments`]): at start-up, a running experiment's
//!   runs that the store does not hold (a crash between the record and the journal) are queued
//!   again under their planned ids: no run is lost, none is duplicated.
//! - **Following**: an experiment's view is computed from its runs' jobs as they are now.
//! - **The end**: when a run leaves memory ([`Scheduler::retire`]) its experiment is checked by
//!   the reporter task; once every run has ended, the report is made from the runs' files
//!   ([`crate::experiment_report`]) and the record marked DONE (or FAILED when nothing could be
//!   reported).
//! - **The champion candidate** (`promote`): when the report finds an edge that survives, the
//!   configuration chosen on the latest fold's validation is queued once per seed on the
//!   lineage's own split, as ordinary jobs that join the lineage. Its jobs are named in the
//!   record's end (under reserved ids) before they are journaled; start-up queues any the
//!   store lacks.
//! - **Cancellation** cancels every run not yet finished.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::committer::PendingSubmit;
use super::{JobFilter, JobPage, Result, Scheduler, SchedulerError, State};
use crate::budget::Estimate;
use crate::experiment::{
    self, Candidate, CandidateRun, ExperimentRecord, ExperimentRequest, ExperimentState, RunEnd, RunRecord,
    is_valid_experiment_id,
};
use crate::job::{ArtifactRecord, JobRecord, JobState, new_job_id, now_ms};

/// One run as its experiment shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    /// The planned run.
    pub run: RunRecord,
    /// Its job's state.
    pub state: JobState,
    /// Steps done.
    pub steps_done: u64,
    /// Steps asked for.
    pub total_steps: u64,
    /// The kept model's validation Sharpe (DONE).
    pub validation_sharpe: Option<f64>,
    /// Its test Sharpe (DONE).
    pub test_sharpe: Option<f64>,
    /// Buy-and-hold's on the same bars (DONE).
    pub buy_and_hold_sharpe: Option<f64>,
}

/// An experiment as clients see it: its record and its runs as they are now.
#[derive(Debug, Clone)]
pub struct ExperimentView {
    /// The record.
    pub record: ExperimentRecord,
    /// Every run (empty in lists).
    pub runs: Vec<RunView>,
    /// Runs per kind of state: queued, running, done, failed, cancelled.
    pub counts: [u32; 5],
    /// Steps done over every run.
    pub steps_done: u64,
    /// Steps asked for over every run.
    pub total_steps: u64,
}

/// The answer to an experiment's submission.
#[derive(Debug, Clone)]
pub struct SubmittedExperiment {
    /// The experiment: new, or the first one of its idempotency key.
    pub view: ExperimentView,
    /// False when the idempotency key returned an existing experiment.
    pub created: bool,
    /// What its runs should take, as admission estimated it (a new experiment only).
    pub estimate: Option<Estimate>,
}

/// A page of experiments.
#[derive(Debug, Clone)]
pub struct ExperimentPage {
    /// Newest first, without runs.
    pub experiments: Vec<ExperimentView>,
    /// The next page's token.
    pub next: Option<String>,
}

impl State {
    /// Run `run`'s job as it is now; one retention removed reads as it ended (as its plan if that
    /// was not recorded).
    fn run_view(&self, run: &RunRecord) -> RunView {
        let mut view = RunView {
            run: run.clone(),
            state: JobState::Queued,
            steps_done: 0,
            total_steps: 0,
            validation_sharpe: None,
            test_sharpe: None,
            buy_and_hold_sharpe: None,
        };
        let result = if let Some(job) = self.jobs.get(&run.job_id) {
            view.state = job.state;
            view.steps_done = job.progress.steps_done;
            view.total_steps = job.request.total_steps;
            job.result.as_deref()
        } else if let Some(job) = self.finished.get(&run.job_id) {
            view.state = job.state;
            view.steps_done = job.steps_done;
            view.total_steps = job.total_steps;
            job.result.as_deref()
        } else {
            // Removed by retention after the experiment ended: as it ended.
            if let Some(end) = run.ended {
                view.state = end.state;
                view.steps_done = end.steps_done;
                view.total_steps = end.total_steps;
            }
            None
        };
        if let (Some(r), JobState::Done) = (result, view.state) {
            view.validation_sharpe = r.validation_sharpe;
            view.test_sharpe = Some(r.sharpe);
            view.buy_and_hold_sharpe = Some(r.buy_and_hold_sharpe);
        }
        view
    }

    /// Experiment `id` as it is now, with its runs (`with_runs`) or only their counts.
    fn experiment_view(&self, id: &str, with_runs: bool) -> Option<ExperimentView> {
        let record = self.experiments.get(id)?;
        let mut view =
            ExperimentView { record: record.clone(), runs: Vec::new(), counts: [0; 5], steps_done: 0, total_steps: 0 };
        for run in &record.runs {
            let r = self.run_view(run);
            let kind = match r.state {
                JobState::Queued => 0,
                JobState::Done => 2,
                JobState::Failed => 3,
                JobState::Cancelled => 4,
                _ => 1,
            };
            view.counts[kind] += 1;
            view.steps_done += r.steps_done;
            view.total_steps += r.total_steps;
            if with_runs {
                view.runs.push(r);
            }
        }
        Some(view)
    }

    /// How each run of experiment `id` ended, in its order (none for a run still going).
    fn run_ends(&self, id: &str) -> Vec<Option<RunEnd>> {
        let Some(e) = self.experiments.get(id) else { return Vec::new() };
        e.runs
            .iter()
            .map(|r| {
                let v = self.run_view(r);
                v.state.is_terminal().then_some(RunEnd {
                    state: v.state,
                    steps_done: v.steps_done,
                    total_steps: v.total_steps,
                })
            })
            .collect()
    }

    /// Whether every run of experiment `id` has ended.
    fn experiment_runs_ended(&self, id: &str) -> bool {
        self.experiments.get(id).is_some_and(|e| {
            e.runs.iter().all(|r| match (self.jobs.get(&r.job_id), self.finished.get(&r.job_id)) {
                (Some(job), _) => job.state.is_terminal(),
                (None, Some(_)) => true,
                // Not held: on its way to the journal (creation, recovery), or removed by
                // retention after it ended.
                (None, None) => !self.experiment_run_ids.contains(&r.job_id),
            })
        })
    }

    /// Adds an experiment to the table, its listing and its idempotency key's entry.
    fn enter_experiment(&mut self, record: ExperimentRecord) {
        self.experiment_listing.insert((record.created_ms, record.id.clone()));
        if !record.request.base.idempotency_key.is_empty() {
            self.experiment_keys.insert(record.request.base.idempotency_key.clone(), record.id.clone());
        }
        self.experiments.insert(record.id.clone(), record);
    }
}

/// Whether a resubmission under an idempotency key asks for what the first did (the base's
/// seed compared only when the resubmission names one).
fn same_request(first: &ExperimentRequest, again: &ExperimentRequest, named_seed: Option<u64>) -> bool {
    let unseeded = |r: &ExperimentRequest| {
        let mut r = r.clone();
        r.base.seed = None;
        r
    };
    unseeded(first) == unseeded(again) && named_seed.is_none_or(|s| first.base.seed == Some(s))
}

impl Scheduler {
    /// Creates an experiment: checks it, resolves every run, admits them all, records the
    /// experiment durably, then journals its runs. Answers once every run is durable; the same
    /// idempotency key with the same request returns the first experiment (`created` false).
    ///
    /// The creation runs in a task of its own, so a caller that leaves (a client that hangs up,
    /// a gateway's deadline) never leaves it half done: its reservations held and its record
    /// written without its runs.
    pub async fn submit_experiment(self: &Arc<Self>, request: ExperimentRequest) -> Result<SubmittedExperiment> {
        let scheduler = self.clone();
        tokio::spawn(async move { scheduler.create_experiment(request).await })
            .await
            .map_err(|source| SchedulerError::StorageTask { what: "creating an experiment".into(), source })?
    }

    /// Checks `request` as [`Self::submit_experiment`] does (every run resolved, the whole
    /// experiment admitted) and answers what its runs would take: a dry run that stores,
    /// queues and reserves nothing. An idempotency key already used is a conflict naming its
    /// experiment, since submitting under it would not create this one.
    pub fn estimate_experiment(&self, request: ExperimentRequest) -> Result<Estimate> {
        let (request, configs) = self.checked_request(request)?;
        {
            let st = self.lock();
            if st.shutting_down {
                return Err(SchedulerError::ShuttingDown);
            }
            let key = &request.base.idempotency_key;
            if let Some(first) = st.experiment_keys.get(key).filter(|_| !key.is_empty()) {
                return Err(SchedulerError::Conflict(format!(
                    "idempotency key {key:?} already belongs to experiment {first}: submitting under it would not \
                     create a new experiment; use a new key"
                )));
            }
        }
        let first_seed = request.base.seed.unwrap_or_default();
        let runs = experiment::plan(configs.len(), request.seeds, request.folds, first_seed, String::new);
        let record = ExperimentRecord::new(String::new(), request, configs, runs, now_ms());
        let jobs = self.run_jobs(&record)?;
        self.lock().fits_all(&self.config, &jobs)
    }

    /// `request` checked (its grid expanded into configurations, its first seed drawn when it
    /// names none) and its base spec resolved on the split its runs use: the base's errors are
    /// the request's, not a configuration's.
    fn checked_request(
        &self,
        request: ExperimentRequest,
    ) -> Result<(ExperimentRequest, Vec<std::collections::BTreeMap<String, String>>)> {
        let invalid = SchedulerError::Invalid;
        let (mut request, configs) = experiment::check(request).map_err(|e| invalid(e.to_string()))?;
        request.base.seed = Some(request.base.seed.unwrap_or_else(|| rand::random::<u32>() as u64));
        if request.base.idempotency_key.len() > 256 {
            return Err(invalid("idempotency_key is longer than 256 bytes".into()));
        }
        let mut base = request.base.clone();
        base.idempotency_key.clear();
        if request.folds > 1 {
            base.overrides.insert("split.folds".into(), request.folds.to_string());
            base.overrides.insert("split.fold".into(), "0".into());
        }
        self.resolve(base)?;
        Ok((request, configs))
    }

    /// [`Self::submit_experiment`]'s work.
    async fn create_experiment(&self, request: ExperimentRequest) -> Result<SubmittedExperiment> {
        let named_seed = request.base.seed;
        let (request, configs) = self.checked_request(request)?;
        let first_seed = request.base.seed.unwrap_or_default();
        let key = request.base.idempotency_key.clone();

        let id = experiment::new_experiment_id();
        // Ids for the runs, reserved: no other job takes one before the runs are committed.
        let runs = {
            let mut st = self.lock();
            if st.shutting_down {
                return Err(SchedulerError::ShuttingDown);
            }
            if !key.is_empty() {
                if let Some(first) = st.experiment_keys.get(&key).cloned() {
                    let same = st.experiments.get(&first).map(|e| same_request(&e.request, &request, named_seed));
                    drop(st);
                    return match same {
                        Some(true) => {
                            Ok(SubmittedExperiment { view: self.experiment(&first)?, created: false, estimate: None })
                        }
                        Some(false) => Err(SchedulerError::Conflict(format!(
                            "idempotency key {key:?} was used for experiment {first} with a different request; a \
                             retry must send the same request, a new experiment needs a new key"
                        ))),
                        None => Err(SchedulerError::Conflict(format!(
                            "idempotency key {key:?} belongs to experiment {first}, still being created; retry"
                        ))),
                    };
                }
                st.experiment_keys.insert(key.clone(), id.clone());
            }
            let mut taken = std::collections::HashSet::new();
            let runs = experiment::plan(configs.len(), request.seeds, request.folds, first_seed, || {
                loop {
                    let id = new_job_id();
                    if !st.knows(&id) && !st.experiment_run_ids.contains(&id) && taken.insert(id.clone()) {
                        break id;
                    }
                }
            });
            st.experiment_run_ids.extend(taken);
            runs
        };
        let record = ExperimentRecord::new(id.clone(), request, configs, runs, now_ms());
        let unreserve = |st: &mut State| {
            for run in &record.runs {
                st.experiment_run_ids.remove(&run.job_id);
            }
            if !key.is_empty() {
                st.experiment_keys.remove(&key);
            }
        };
        let jobs = match self.run_jobs(&record) {
            Ok(jobs) => jobs,
            Err(e) => {
                unreserve(&mut self.lock());
                return Err(e);
            }
        };
        let admitted = self.lock().admit_all(&self.config, &jobs);
        let estimate = match admitted {
            Ok(estimate) => estimate,
            Err(e) => {
                self.metrics.rejections.inc();
                unreserve(&mut self.lock());
                return Err(e);
            }
        };
        // The commit point: from here the experiment exists, and start-up completes its runs.
        let stored = record.clone();
        if let Err(e) = self.on_store(format!("storing experiment {id}"), move |s| s.write_experiment(&stored)).await {
            let mut st = self.lock();
            for job in &jobs {
                st.admitted(job, false);
            }
            unreserve(&mut st);
            return Err(e);
        }
        self.lock().enter_experiment(record.clone());
        tracing::info!(experiment_id = %id, runs = jobs.len(), "experiment recorded");
        if let Err(e) = self.queue_runs(jobs).await {
            // Not every run is durable: the experiment ends here, what was queued is cancelled.
            self.end_experiment_unqueued(&id, &e).await;
            return Err(e);
        }
        // A cancel while the runs were on their way to the journal did not find them.
        self.cancel_runs_if_cancelled(&id).await;
        Ok(SubmittedExperiment { view: self.experiment(&id)?, created: true, estimate: Some(estimate) })
    }

    /// Cancels the unfinished runs of experiment `id` if it was cancelled.
    async fn cancel_runs_if_cancelled(&self, id: &str) {
        let cancelled = self.lock().experiments.get(id).is_some_and(|e| e.state == ExperimentState::Cancelled);
        if !cancelled {
            return;
        }
        match self.cancel_unfinished_runs(id).await {
            Ok(()) => self.record_run_ends(id).await,
            Err(e) => tracing::error!(experiment_id = %id, error = %e,
                "the runs of a cancelled experiment could not all be cancelled"),
        }
    }

    /// Records how the runs of ended experiment `id` ended, for those not recorded yet (a
    /// cancelled experiment's, once the cancel reached them).
    async fn record_run_ends(&self, id: &str) {
        let _writing = self.experiment_writes.lock().await;
        let record = {
            let mut st = self.lock();
            let ends = st.run_ends(id);
            let Some(e) = st.experiments.get_mut(id).filter(|e| e.state.is_terminal()) else { return };
            let mut changed = false;
            for (run, end) in e.runs.iter_mut().zip(ends) {
                if run.ended.is_none() && end.is_some() {
                    run.ended = end;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
            e.clone()
        };
        if let Err(e) = self.on_store(format!("storing experiment {id}"), move |s| s.write_experiment(&record)).await {
            tracing::warn!(experiment_id = %id, error = %e, "how the experiment's runs ended could not be stored");
        }
    }

    /// The job record of each of `record`'s runs, resolved as any submission is; the first that
    /// does not resolve is refused naming its configuration.
    fn run_jobs(&self, record: &ExperimentRecord) -> Result<Vec<JobRecord>> {
        record
            .runs
            .iter()
            .map(|run| {
                let (mut job, _) = self.resolve(record.run_spec(run)).map_err(|e| match e {
                    SchedulerError::Invalid(m) => {
                        let settings = record.configs.get(run.config as usize).cloned().unwrap_or_default();
                        SchedulerError::Invalid(format!("configuration {} {settings:?}: {m}", run.config))
                    }
                    other => other,
                })?;
                job.id = run.job_id.clone();
                job.created_ms = record.created_ms;
                job.history[0].at_ms = record.created_ms;
                job.experiment = Some(record.cell(run));
                Ok(job)
            })
            .collect()
    }

    /// Hands `jobs` (admitted) to the committer and waits until every one is durable.
    async fn queue_runs(&self, jobs: Vec<JobRecord>) -> Result<()> {
        let mut acks = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (ack, rx) = oneshot::channel();
            if self.submit_tx.send(PendingSubmit { job, ack, planned: true }).await.is_err() {
                return Err(SchedulerError::ShuttingDown);
            }
            acks.push(rx);
        }
        let mut first_error = None;
        for rx in acks {
            match rx.await.unwrap_or(Err(SchedulerError::ShuttingDown)) {
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// An experiment whose runs could not all be journaled: its queued runs are cancelled and
    /// it is FAILED, so a restart does not queue the rest.
    async fn end_experiment_unqueued(&self, id: &str, why: &SchedulerError) {
        let runs: Vec<String> = {
            let st = self.lock();
            st.experiments.get(id).map(|e| e.runs.iter().map(|r| r.job_id.clone()).collect()).unwrap_or_default()
        };
        for run in &runs {
            let _ = self.cancel(run).await;
        }
        {
            let mut st = self.lock();
            for run in &runs {
                st.experiment_run_ids.remove(run);
            }
        }
        self.finish_experiment(id, ExperimentState::Failed, format!("its runs could not all be stored: {why}"), None)
            .await;
    }

    /// Marks experiment `id` ended in `state` (with `verdict` or `error`, and its report's
    /// artifacts) and stores its record.
    async fn finish_experiment(
        &self,
        id: &str,
        state: ExperimentState,
        message: String,
        artifacts: Option<Vec<ArtifactRecord>>,
    ) {
        self.finish_experiment_with(id, state, message, artifacts, None).await;
    }

    /// [`Self::finish_experiment`], recording its champion candidate too. True once the record
    /// is stored with this end (not when the experiment had already ended).
    async fn finish_experiment_with(
        &self,
        id: &str,
        state: ExperimentState,
        message: String,
        artifacts: Option<Vec<ArtifactRecord>>,
        candidate: Option<Candidate>,
    ) -> bool {
        let _writing = self.experiment_writes.lock().await;
        let record = {
            let mut st = self.lock();
            let ends = st.run_ends(id);
            let Some(e) = st.experiments.get_mut(id) else { return false };
            // An experiment ends once: a cancel never overwrites a report, nor a report a cancel.
            if e.state.is_terminal() {
                return false;
            }
            for (run, end) in e.runs.iter_mut().zip(ends) {
                run.ended = run.ended.or(end);
            }
            e.state = state;
            e.finished_ms = now_ms();
            match state {
                ExperimentState::Done => e.verdict = message,
                _ => e.error = message,
            }
            if let Some(a) = artifacts {
                e.artifacts = a;
            }
            if candidate.is_some() {
                e.candidate = candidate;
            }
            e.clone()
        };
        let what = format!("storing experiment {id}");
        match self.on_store(what, move |s| s.write_experiment(&record)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(experiment_id = %id, error = %e, "the experiment's end could not be stored");
                false
            }
        }
    }

    /// Experiment `id` with every run as it is now.
    pub fn experiment(&self, id: &str) -> Result<ExperimentView> {
        if !is_valid_experiment_id(id) {
            return Err(SchedulerError::NoExperiment(id.chars().take(64).collect()));
        }
        self.lock().experiment_view(id, true).ok_or_else(|| SchedulerError::NoExperiment(id.into()))
    }

    /// Experiments, newest first, a page of `page_size` after `token` (the last page's last id).
    pub fn list_experiments(&self, page_size: usize, token: &str) -> Result<ExperimentPage> {
        let st = self.lock();
        let after = if token.is_empty() {
            None
        } else {
            let id = token.strip_prefix("ex-after:").filter(|id| is_valid_experiment_id(id));
            let key = id.and_then(|id| st.experiments.get(id).map(|e| (e.created_ms, e.id.clone())));
            Some(key.ok_or_else(|| {
                SchedulerError::Invalid(format!(
                    "page token {:?} is not one this list gave out (pass the previous page's next_page_token)",
                    token.chars().take(64).collect::<String>()
                ))
            })?)
        };
        let mut keys = st.experiment_listing.iter().rev();
        let mut page = Vec::with_capacity(page_size.min(st.experiment_listing.len()));
        if let Some(after) = &after {
            keys.by_ref().find(|k| *k == after);
        }
        for (_, id) in keys.by_ref().take(page_size) {
            page.extend(st.experiment_view(id, false));
        }
        let next = match (page.last(), keys.next()) {
            (Some(last), Some(_)) => Some(format!("ex-after:{}", last.record.id)),
            _ => None,
        };
        Ok(ExperimentPage { experiments: page, next })
    }

    /// The runs of experiment `id` as a job list (in plan order), a page at a time.
    pub fn experiment_jobs(&self, id: &str, page_size: usize, token: &str, filter: &JobFilter) -> Result<JobPage> {
        if !is_valid_experiment_id(id) {
            return Err(SchedulerError::Invalid(format!(
                "experiment filter {:?} is not an experiment id (ex_<unix>_<8 hex>)",
                id.chars().take(64).collect::<String>()
            )));
        }
        let st = self.lock();
        let e = st.experiments.get(id).ok_or_else(|| SchedulerError::NoExperiment(id.to_string()))?;
        let start = if token.is_empty() {
            0
        } else {
            token
                .strip_prefix("runs-from:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= e.runs.len())
                .ok_or_else(|| {
                    SchedulerError::Invalid(format!(
                        "page token {:?} is not one this list gave out",
                        token.chars().take(64).collect::<String>()
                    ))
                })?
        };
        let mut records = Vec::new();
        let mut at = start;
        while at < e.runs.len() && records.len() < page_size {
            records.extend(st.summary_if(&e.runs[at].job_id, filter));
            at += 1;
        }
        let next = (at < e.runs.len()).then(|| format!("runs-from:{at}"));
        Ok(JobPage { jobs: st.views(records), next })
    }

    /// Cancels every run of experiment `id` not yet finished, and the experiment with them.
    /// Cancelling a cancelled experiment again cancels any run still unfinished (a first cancel
    /// that failed part way is finished by a retry); an ended one is a conflict.
    ///
    /// The work runs in a task of its own: a caller that leaves does not stop it half way.
    pub async fn cancel_experiment(self: &Arc<Self>, id: &str) -> Result<ExperimentView> {
        let view = self.experiment(id)?;
        match view.record.state {
            ExperimentState::Done | ExperimentState::Failed => {
                return Err(SchedulerError::Conflict(format!(
                    "experiment {id} already ended {:?}; only a running experiment can be cancelled",
                    view.record.state
                )));
            }
            ExperimentState::Running | ExperimentState::Cancelled => {}
        }
        let (scheduler, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            if view.record.state == ExperimentState::Running {
                // First the experiment, so no report is made of what the cancelled runs leave.
                scheduler.finish_experiment(&id, ExperimentState::Cancelled, "cancelled by client".into(), None).await;
            }
            let now = scheduler.experiment(&id)?;
            if now.record.state != ExperimentState::Cancelled {
                // Reported meanwhile (or its end could not be stored): nothing is cancelled.
                return Err(SchedulerError::Conflict(format!(
                    "experiment {id} ended {:?} before the cancel; only a running experiment can be cancelled",
                    now.record.state
                )));
            }
            scheduler.cancel_unfinished_runs(&id).await?;
            scheduler.record_run_ends(&id).await;
            tracing::info!(experiment_id = %id, "experiment cancelled");
            scheduler.experiment(&id)
        })
        .await
        .map_err(|source| SchedulerError::StorageTask { what: "cancelling an experiment".into(), source })?
    }

    /// Cancels every run of experiment `id` that has not ended (one not yet journaled is left
    /// to whoever journals it: see [`Self::cancel_runs_if_cancelled`]).
    async fn cancel_unfinished_runs(&self, id: &str) -> Result<()> {
        let runs: Vec<String> = {
            let st = self.lock();
            let Some(e) = st.experiments.get(id) else { return Ok(()) };
            e.runs.iter().filter(|r| !st.run_view(r).state.is_terminal()).map(|r| r.job_id.clone()).collect()
        };
        for run in &runs {
            match self.cancel(run).await {
                Ok(_) | Err(SchedulerError::Conflict(_)) | Err(SchedulerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The report's text (`experiment.json`, empty until made) with the experiment.
    pub async fn experiment_results(&self, id: &str) -> Result<(ExperimentView, String)> {
        let view = self.experiment(id)?;
        if !view.record.artifacts.iter().any(|a| a.name == crate::experiment_report::REPORT) {
            return Ok((view, String::new()));
        }
        let path = self.store.experiment_artifact_path(id, crate::experiment_report::REPORT).expect("a valid name");
        let text = self
            .on_store(format!("reading the report of experiment {id}"), move |_| std::fs::read_to_string(path))
            .await?;
        Ok((view, text))
    }

    /// One of an experiment's report files, opened for reading, and its size.
    pub async fn open_experiment_artifact(&self, id: &str, name: &str) -> Result<(tokio::fs::File, u64)> {
        let view = self.experiment(id)?;
        if !view.record.artifacts.iter().any(|a| a.name == name) {
            let known: Vec<&str> = view.record.artifacts.iter().map(|a| a.name.as_str()).collect();
            return Err(SchedulerError::NoArtifact {
                job_id: id.into(),
                name: name.chars().take(200).collect(),
                known: if known.is_empty() {
                    "none yet (the report comes once every run has ended)".into()
                } else {
                    known.join(", ")
                },
            });
        }
        let path = self
            .store
            .experiment_artifact_path(id, name)
            .ok_or_else(|| SchedulerError::Invalid(format!("{name:?} is not an artifact name")))?;
        let what = || format!("opening artifact {name} of experiment {id}");
        let mut open = tokio::fs::OpenOptions::new();
        open.read(true);
        #[cfg(unix)]
        open.custom_flags(libc::O_NOFOLLOW);
        let file = open.open(&path).await.map_err(|e| SchedulerError::storage(what(), e))?;
        let meta = file.metadata().await.map_err(|e| SchedulerError::storage(what(), e))?;
        if !meta.is_file() {
            return Err(SchedulerError::NotPlainFile { job_id: id.into(), name: name.into() });
        }
        Ok((file, meta.len()))
    }

    /// Start-up: every stored experiment back in memory; a running one's runs the store does
    /// not hold are queued again under their planned ids, and each running one is checked for
    /// its end (a crash may have come between its last run and its report).
    pub(super) fn recover_experiments(self: &Arc<Self>) -> anyhow::Result<()> {
        let (records, unreadable) = self.store.read_experiments()?;
        for (name, why) in unreadable {
            tracing::error!(experiment = %name, "an experiment's record cannot be read and is skipped: {why}");
        }
        let mut missing = Vec::new();
        let mut missing_candidates = Vec::new();
        let mut journaled_candidates = Vec::new();
        let mut to_check = Vec::new();
        {
            let mut st = self.lock();
            for record in records {
                if record.state == ExperimentState::Running {
                    to_check.push(record.id.clone());
                    for run in &record.runs {
                        if !st.knows(&run.job_id) {
                            missing.push((record.clone(), run.clone()));
                        }
                    }
                } else if record.runs.iter().any(|r| r.ended.is_none()) {
                    // Ended, with runs whose end is not recorded yet: the reporter records them.
                    to_check.push(record.id.clone());
                }
                // A champion candidate recorded with the experiment's end but not (all) journaled;
                // one whose jobs are all in the store is marked queued.
                if let Some(c) = record.candidate.as_ref().filter(|c| !c.queued) {
                    let runs: Vec<CandidateRun> = c.runs.iter().filter(|r| !st.knows(&r.job_id)).cloned().collect();
                    if runs.is_empty() {
                        journaled_candidates.push(record.id.clone());
                    } else {
                        missing_candidates.push((record.id.clone(), Candidate { runs, ..c.clone() }));
                    }
                }
                st.enter_experiment(record);
            }
        }
        let mut jobs = Vec::with_capacity(missing.len());
        let mut candidate_ids = Vec::new();
        let mut refused_candidates = Vec::new();
        for (id, candidate) in &mut missing_candidates {
            let planned: Vec<String> = candidate.runs.iter().map(|r| r.job_id.clone()).collect();
            let made = self.candidate_jobs(id, candidate);
            candidate_ids.extend(made.iter().map(|j| j.id.clone()));
            let refused: Vec<String> = planned.into_iter().filter(|p| !made.iter().any(|j| &j.id == p)).collect();
            refused_candidates.push((id.clone(), refused, candidate.note.clone()));
            jobs.extend(made);
        }
        for (record, run) in &missing {
            let mut one = record.clone();
            one.runs = vec![run.clone()];
            match self.run_jobs(&one) {
                Ok(mut j) => jobs.append(&mut j),
                // The catalog or the limits changed since: the run cannot be made again.
                Err(e) => tracing::error!(experiment_id = %record.id, job_id = %run.job_id, error = %e,
                    "a run of the experiment cannot be queued again"),
            }
        }
        {
            let mut st = self.lock();
            for job in &jobs {
                st.experiment_run_ids.insert(job.id.clone());
                st.readmit(job);
            }
        }
        if !jobs.is_empty() {
            tracing::info!(jobs = jobs.len(), "queueing experiments' jobs that were recorded but not journaled");
        }
        let scheduler = self.clone();
        let experiments: BTreeSet<String> = missing.iter().map(|(record, _)| record.id.clone()).collect();
        tokio::spawn(async move {
            for id in &journaled_candidates {
                scheduler.mark_candidate_queued(id, None).await;
            }
            if jobs.is_empty() {
                return;
            }
            match scheduler.queue_runs(jobs).await {
                Ok(()) => {
                    for (id, refused, note) in &refused_candidates {
                        scheduler.mark_candidate_queued(id, Some((refused, note))).await;
                    }
                }
                Err(e) => {
                    // Runs keep their reserved ids: the experiment waits for them, and the next
                    // start queues them. The candidate's jobs are queued by the next start too.
                    scheduler.release_ids(&candidate_ids);
                    tracing::error!(error = %e, "experiment runs could not be queued again");
                }
            }
            for id in &experiments {
                scheduler.cancel_runs_if_cancelled(id).await;
                scheduler.check_experiment(id);
            }
        });
        for id in to_check {
            self.check_experiment(&id);
        }
        Ok(())
    }

    /// Asks the reporter to look at experiment `id` (a run of it ended).
    pub(crate) fn check_experiment(&self, id: &str) {
        if let Some(tx) = self.reporter.get() {
            let _ = tx.send(id.to_string());
        }
    }

    /// Experiment `id`'s champion candidate, when its request asked for one: with an edge that
    /// survives, the configuration chosen on the latest fold's validation, one job per seed (the
    /// experiment's seeds) under ids reserved now; otherwise the note says why there is none.
    fn plan_candidate(&self, id: &str, report: &crate::experiment_report::Made) -> Option<Candidate> {
        let mut st = self.lock();
        let record = st.experiments.get(id).filter(|e| e.request.promote)?.clone();
        let Some(config) = report.latest_choice.filter(|_| report.reported) else {
            let note = "no champion candidate: no run of the latest fold finished".to_string();
            return Some(Candidate { config: 0, runs: Vec::new(), note, queued: true });
        };
        let config = config as u32;
        if !report.edge_survives {
            let note = "no champion candidate: no edge survived, so nothing joins the lineage".to_string();
            return Some(Candidate { config, runs: Vec::new(), note, queued: true });
        }
        let first_seed = record.request.base.seed.unwrap_or(0);
        let mut runs = Vec::with_capacity(record.request.seeds as usize);
        for i in 0..record.request.seeds as u64 {
            let job_id = loop {
                let id = new_job_id();
                if !st.knows(&id) && !st.experiment_run_ids.contains(&id) {
                    break id;
                }
            };
            st.experiment_run_ids.insert(job_id.clone());
            runs.push(CandidateRun { job_id, seed: first_seed.wrapping_add(i) });
        }
        let note = format!(
            "champion candidate: configuration {config} (chosen on the latest fold's validation), queued on the \
             lineage's own split, one job per seed; it joins the lineage ranked on validation as any job"
        );
        Some(Candidate { config, runs, note, queued: false })
    }

    /// The job records of `candidate`'s runs, resolved as any submission is. A run that does
    /// not resolve is dropped from `candidate` (its id released), and its note says why: the
    /// record never names a job that was not made.
    fn candidate_jobs(&self, id: &str, candidate: &mut Candidate) -> Vec<JobRecord> {
        let Some(record) = self.lock().experiments.get(id).cloned() else { return Vec::new() };
        let mut jobs = Vec::new();
        let mut refused = Vec::new();
        candidate.runs.retain(|run| match self.resolve(record.candidate_spec(candidate.config, run.seed)) {
            Ok((mut job, _)) => {
                job.id = run.job_id.clone();
                jobs.push(job);
                true
            }
            Err(e) => {
                tracing::error!(experiment_id = %id, job_id = %run.job_id, error = %e,
                    "a job of the champion candidate cannot be made");
                refused.push((run.job_id.clone(), e.to_string()));
                false
            }
        });
        if let Some((_, why)) = refused.first() {
            let _ = write!(
                candidate.note,
                "; {} of its {} jobs could not be made on the lineage's split: {why}",
                refused.len(),
                refused.len() + candidate.runs.len()
            );
            let mut st = self.lock();
            for (job_id, _) in &refused {
                st.experiment_run_ids.remove(job_id);
            }
        }
        jobs
    }

    /// Journals the champion candidate's jobs (counted in the budget, not checked against it:
    /// the experiment's request asked for them), then records that they are queued. Jobs that
    /// could not be journaled give their ids back; a restart queues them from the record.
    async fn queue_candidate(&self, id: &str, jobs: Vec<JobRecord>) {
        if jobs.is_empty() {
            return;
        }
        {
            let mut st = self.lock();
            for job in &jobs {
                st.readmit(job);
            }
        }
        let (n, ids): (usize, Vec<String>) = (jobs.len(), jobs.iter().map(|j| j.id.clone()).collect());
        match self.queue_runs(jobs).await {
            Ok(()) => {
                tracing::info!(experiment_id = %id, jobs = n, "champion candidate queued");
                self.mark_candidate_queued(id, None).await;
            }
            Err(e) => {
                self.release_ids(&ids);
                tracing::error!(experiment_id = %id, error = %e, "the champion candidate could not be queued");
            }
        }
    }

    /// Records that experiment `id`'s champion candidate is journaled, so a restart never
    /// queues it again (once retention removed its jobs, say). `refused`: jobs of it that start-up
    /// could not make, left out of the record with `note` saying why.
    async fn mark_candidate_queued(&self, id: &str, refused: Option<(&[String], &str)>) {
        let _writing = self.experiment_writes.lock().await;
        let record = {
            let mut st = self.lock();
            let Some(e) = st.experiments.get_mut(id) else { return };
            let Some(c) = e.candidate.as_mut().filter(|c| !c.queued) else { return };
            if let Some((refused, note)) = refused.filter(|(r, _)| !r.is_empty()) {
                c.runs.retain(|r| !refused.contains(&r.job_id));
                c.note = note.to_string();
            }
            c.queued = true;
            e.clone()
        };
        let what = format!("storing experiment {id}");
        if let Err(e) = self.on_store(what, move |s| s.write_experiment(&record)).await {
            tracing::error!(experiment_id = %id, error = %e, "that the champion candidate is queued could not be stored");
        }
    }

    /// Gives back reserved ids of jobs that were not journaled: they neither hold an
    /// experiment's end nor keep other jobs from taking them.
    fn release_ids(&self, ids: &[String]) {
        let mut st = self.lock();
        for id in ids {
            if !st.knows(id) {
                st.experiment_run_ids.remove(id);
            }
        }
    }

    /// Starts the reporter: the task that makes an experiment's report once its runs have ended.
    pub(super) fn spawn_reporter(self: &Arc<Self>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let _ = self.reporter.set(tx);
        let scheduler = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let Some(scheduler) = scheduler.upgrade() else { return };
                scheduler.report_if_ended(&id).await;
            }
        });
    }

    /// Makes experiment `id`'s report if it is running and every run has ended; for an ended
    /// one, records how its runs ended (a run still training when it was cancelled ends later).
    async fn report_if_ended(&self, id: &str) {
        let record = {
            let st = self.lock();
            match st.experiments.get(id) {
                Some(e) if e.state == ExperimentState::Running && st.experiment_runs_ended(id) => Some(e.clone()),
                Some(e) if e.state.is_terminal() && e.runs.iter().any(|r| r.ended.is_none()) => None,
                _ => return,
            }
        };
        let Some(record) = record else {
            self.record_run_ends(id).await;
            return;
        };
        let runs: Vec<RunView> = {
            let st = self.lock();
            record.runs.iter().map(|r| st.run_view(r)).collect()
        };
        let store = self.store.clone();
        let made = tokio::task::spawn_blocking(move || crate::experiment_report::make(&store, &record, &runs)).await;
        match made {
            Ok(Ok(report)) => {
                tracing::info!(experiment_id = %id, verdict = %report.verdict, "experiment reported");
                let state = if report.reported { ExperimentState::Done } else { ExperimentState::Failed };
                let mut candidate = self.plan_candidate(id, &report);
                let jobs = candidate.as_mut().map(|c| self.candidate_jobs(id, c)).unwrap_or_default();
                // The record names the candidate's jobs before they are journaled: start-up
                // queues any the store lacks.
                // (A client that cancelled it meanwhile ended it first: no candidate is queued.)
                if self.finish_experiment_with(id, state, report.verdict, Some(report.artifacts), candidate).await {
                    self.queue_candidate(id, jobs).await;
                } else {
                    self.release_ids(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
                }
            }
            Ok(Err(e)) => {
                tracing::error!(experiment_id = %id, error = %e, "the experiment's report could not be written");
                self.finish_experiment(
                    id,
                    ExperimentState::Failed,
                    format!("the report could not be written: {e}"),
                    None,
                )
                .await;
            }
            Err(e) => tracing::error!(experiment_id = %id, error = %e, "the experiment's report task failed"),
        }
    }
}
