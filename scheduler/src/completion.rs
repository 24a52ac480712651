//! What trainers report about a held job: progress and phase changes, checkpoints (pruned to
//! the latest few and the best), artifacts, and how the attempt ended. Every report is checked
//! against the job's current lease first (fencing).

use skippy_eval::{Comparison, EvalConfig};

use crate::events::{EventKind, StatsRecord};
use crate::job::{CheckpointRecord, JobState, ResultRecord, now_ms};
use crate::leases::{LeaseClaim, Retry};
use crate::lineage;
use crate::scheduler::{Result, Scheduler, SchedulerError, State, push_event};
use crate::store::is_valid_artifact_name;

/// A progress report from a trainer.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// New state, if the job moved on.
    pub state: Option<JobState>,
    /// Percent.
    pub percent: f64,
    /// Status line.
    pub message: String,
    /// Steps done.
    pub steps_done: u64,
    /// Speed.
    pub steps_per_sec: f64,
    /// Diagnostics.
    pub stats: Option<StatsRecord>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained and evaluated; `metrics.json` attached.
    Done {
        /// The trainer core's metrics.json.
        metrics_json: String,
    },
    /// Failed for good.
    Failed(String),
    /// Stopped after a cancel.
    Cancelled,
    /// Handed back (trainer shutting down).
    HandedBack(String),
    /// The trainer cannot run it on its host (data missing there, disk full there): retried
    /// on another trainer.
    HostFailed(String),
}

impl Scheduler {
    /// Applies a trainer's progress report.
    pub async fn report(&self, claim: &LeaseClaim, report: Report) -> Result<bool> {
        let state_changed = {
            let mut st = self.lock();
            let job = st.leased_job(claim)?;
            let mut changed = false;
            if let Some(next) = report.state
                && next != job.state
            {
                if !next.is_running() {
                    return Err(SchedulerError::Invalid(format!(
                        "a progress report cannot move a job to {}; use CompleteJob",
                        next.name()
                    )));
                }
                job.transition(next, report.message.clone()).map_err(|e| SchedulerError::Conflict(e.to_string()))?;
                changed = true;
            }
            job.progress.percent = report.percent.clamp(0.0, 100.0);
            if !report.message.is_empty() {
                job.progress.message = report.message.chars().take(500).collect();
            }
            job.progress.steps_done = job.progress.steps_done.max(report.steps_done);
            if report.steps_per_sec.is_finite() && report.steps_per_sec >= 0.0 {
                job.progress.steps_per_sec = report.steps_per_sec;
            }
            let msg = job.progress.message.clone();
            st.ledger.observe_speed(report.steps_per_sec);
            if let Some(t) = st.trainers.get_mut(&claim.trainer_id) {
                t.last_seen_ms = now_ms();
                t.steps_per_sec = report.steps_per_sec;
            }
            let kind = if changed { EventKind::State } else { EventKind::Progress };
            push_event(&mut st, &claim.job_id, kind, msg, report.stats);
            changed
        };
        if state_changed {
            self.persist(&claim.job_id).await?;
        }
        Ok(self.lock().jobs.get(&claim.job_id).is_some_and(|j| j.cancel_requested))
    }

    /// Stores a checkpoint and prunes old ones (keeping the latest few and the best).
    pub async fn upload_checkpoint(
        &self,
        claim: &LeaseClaim,
        steps: u64,
        data: Vec<u8>,
        validation_sharpe: Option<f64>,
    ) -> Result<String> {
        {
            let mut st = self.lock();
            st.leased_job(claim)?;
        }
        let name = format!("ckpt-a{}-{:012}.safetensors", claim.attempt, steps);
        let (id, n) = (claim.job_id.clone(), name.clone());
        self.on_store(format!("storing checkpoint {name} of {}", claim.job_id), move |store| {
            store.write_checkpoint(&id, &n, &data)
        })
        .await?;
        let pruned = {
            let mut st = self.lock();
            let keep = self.config.keep_checkpoints.max(1);
            let job = st.leased_job(claim)?;
            job.checkpoints.retain(|c| c.name != name);
            job.checkpoints.push(CheckpointRecord {
                name: name.clone(),
                steps,
                validation_sharpe: validation_sharpe.filter(|v| v.is_finite()),
                at_ms: now_ms(),
            });
            let best = job
                .checkpoints
                .iter()
                .filter_map(|c| c.validation_sharpe.map(|v| (v, c.name.clone())))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, n)| n);
            let len = job.checkpoints.len();
            let mut pruned = Vec::new();
            let mut kept = Vec::new();
            for (i, c) in job.checkpoints.drain(..).enumerate() {
                if i + keep >= len || Some(&c.name) == best.as_ref() {
                    kept.push(c);
                } else {
                    pruned.push(c.name);
                }
            }
            job.checkpoints = kept;
            push_event(&mut st, &claim.job_id, EventKind::Checkpoint, format!("checkpoint at {steps} steps"), None);
            pruned
        };
        self.persist(&claim.job_id).await?;
        for old in pruned {
            let _ = self.store.remove_checkpoint(&claim.job_id, &old);
        }
        Ok(name)
    }

    /// Stores an artifact of a held job.
    pub async fn upload_artifact(
        &self,
        claim: &LeaseClaim,
        name: &str,
        data: Vec<u8>,
    ) -> Result<crate::job::ArtifactRecord> {
        if !is_valid_artifact_name(name) {
            return Err(SchedulerError::Invalid(format!(
                "invalid artifact name {:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'",
                name.chars().take(200).collect::<String>()
            )));
        }
        {
            let mut st = self.lock();
            st.leased_job(claim)?;
        }
        let (id, n, tag) = (claim.job_id.clone(), name.to_string(), attempt_tag(claim));
        let (record, staged) = self
            .on_store(format!("storing artifact {name} of {}", claim.job_id), move |store| {
                #[cfg(test)]
                tests::before_upload_write();
                store.stage_artifact(&id, &n, &tag, &data)
            })
            .await?;
        // Checked again and moved into place under the state lock: an attempt that lost its
        // lease while writing cannot replace what the newer attempt stored.
        let installed = {
            let mut st = self.lock();
            st.leased_job(claim).and_then(|job| {
                staged.install().map_err(|e| SchedulerError::storage(format!("installing artifact {name}"), e))?;
                job.artifacts.retain(|a| a.name != record.name);
                job.artifacts.push(record.clone());
                Ok(())
            })
        };
        if let Err(e) = installed {
            staged.discard();
            return Err(e);
        }
        self.on_store(format!("syncing the artifacts of {}", claim.job_id), move |_| staged.sync()).await?;
        self.persist(&claim.job_id).await?;
        Ok(record)
    }

    /// Ends an attempt.
    pub async fn complete(&self, claim: &LeaseClaim, outcome: Outcome, steps_done: u64) -> Result<()> {
        // Parsed once, here: it is checked, stored as sent, compared and summarised.
        let metrics = match &outcome {
            Outcome::Done { metrics_json } => Some(
                serde_json::from_str::<serde_json::Value>(metrics_json)
                    .map_err(|e| SchedulerError::Invalid(format!("metrics_json is not JSON: {e}")))?,
            ),
            _ => None,
        };
        let staged = match &outcome {
            Outcome::Done { metrics_json } => {
                {
                    let mut st = self.lock();
                    st.leased_job(claim)?;
                }
                let (id, json, tag) = (claim.job_id.clone(), metrics_json.clone(), attempt_tag(claim));
                let staged = self
                    .on_store(format!("storing results.json of {}", claim.job_id), move |store| {
                        store.stage_results(&id, &tag, &json)
                    })
                    .await?;
                Some(staged)
            }
            _ => None,
        };
        let result = self.end_attempt(claim, outcome, steps_done, metrics.as_ref(), staged.as_ref()).await;
        if let Some(staged) = staged {
            match &result {
                Ok(()) => {
                    let id = claim.job_id.clone();
                    self.on_store(format!("syncing results.json of {id}"), move |_| staged.sync()).await?;
                }
                Err(_) => staged.discard(),
            }
        }
        result?;
        self.persist(&claim.job_id).await
    }

    /// Applies how an attempt ended, under the state lock after checking the lease again; a
    /// finished job's staged `results.json` is moved into place there.
    async fn end_attempt(
        &self,
        claim: &LeaseClaim,
        outcome: Outcome,
        steps_done: u64,
        metrics: Option<&serde_json::Value>,
        results: Option<&crate::store::Staged>,
    ) -> Result<()> {
        let vs_champion = match metrics {
            Some(metrics) => self.compare_with_champion(&claim.job_id, metrics).await,
            None => None,
        };
        {
            let mut st = self.lock();
            let job = st.leased_job(claim)?;
            job.progress.steps_done = job.progress.steps_done.max(steps_done);
            let id = claim.job_id.clone();
            let failure = match &outcome {
                Outcome::Failed(reason) | Outcome::HostFailed(reason) => Some(reason.clone()),
                _ => None,
            };
            if matches!(outcome, Outcome::Done { .. } | Outcome::Failed(_) | Outcome::HostFailed(_)) {
                let limit = self.config.drain_after_failures;
                let drained = st
                    .trainers
                    .get_mut(&claim.trainer_id)
                    .and_then(|t| t.attempt_ended(&id, failure.as_deref(), limit));
                if let Some(reason) = drained {
                    tracing::warn!(trainer_id = %claim.trainer_id, %reason, "trainer drained");
                }
            }
            match outcome {
                Outcome::Done { .. } => {
                    let metrics = metrics.expect("parsed above for Done");
                    if let Some(results) = results {
                        results
                            .install()
                            .map_err(|e| SchedulerError::storage(format!("installing results.json of {id}"), e))?;
                    }
                    finish_done(&mut st, &id, metrics, vs_champion)?
                }
                Outcome::Failed(reason) => {
                    let job = st.jobs.get_mut(&id).expect("checked above");
                    job.error = reason.chars().take(4000).collect();
                    let error = job.error.clone();
                    job.progress.message = format!("failed: {error}");
                    job.transition(JobState::Failed, error.clone())
                        .map_err(|e| SchedulerError::Conflict(e.to_string()))?;
                    push_event(&mut st, &id, EventKind::State, format!("failed: {error}"), None);
                }
                Outcome::Cancelled => {
                    let job = st.jobs.get_mut(&id).expect("checked above");
                    job.progress.message = "cancelled".into();
                    job.transition(JobState::Cancelled, "stopped by the trainer after a cancel")
                        .map_err(|e| SchedulerError::Conflict(e.to_string()))?;
                    push_event(&mut st, &id, EventKind::State, "cancelled".into(), None);
                }
                Outcome::HandedBack(reason) => {
                    let reason =
                        format!("attempt {}: handed back by trainer {} ({reason})", claim.attempt, claim.trainer_id);
                    self.requeue_or_end(&mut st, &id, reason, Retry::HandedBack);
                    self.dispatch(&mut st);
                }
                Outcome::HostFailed(reason) => {
                    let reason = format!(
                        "attempt {}: trainer {} could not run it on its host ({reason})",
                        claim.attempt, claim.trainer_id
                    );
                    let retry = Retry::HostFailed { trainer_id: claim.trainer_id.clone() };
                    self.requeue_or_end(&mut st, &id, reason, retry);
                    self.dispatch(&mut st);
                }
            }
        }
        Ok(())
    }

    /// The paired comparison of a finishing job's test walk with its lineage's champion's, on the
    /// same bars (both `equity.csv`), with the job's own bootstrap settings. `None` without a
    /// champion, or when the two walks cannot be paired.
    async fn compare_with_champion(&self, id: &str, metrics: &serde_json::Value) -> Option<(String, Comparison)> {
        let fingerprints: Vec<(String, String)> = serde_json::from_value(metrics["data"].clone()).ok()?;
        let (champion, spec) = {
            let st = self.lock();
            let job = st.jobs.get(id).filter(|j| j.experiment.is_none())?;
            let (_, champion) = st.lineages.of(job, &fingerprints);
            (champion?, serde_json::from_str::<serde_json::Value>(&job.resolved_spec.to_string()).ok()?)
        };
        let evaluation = &spec["evaluation"];
        let cfg = EvalConfig {
            bars_per_year: metrics["evaluation"]["bars_per_year"].as_f64()?,
            bootstrap_samples: evaluation["bootstrap_samples"].as_u64().unwrap_or(1000) as usize,
            block_len: None,
            level: evaluation["level"].as_f64().unwrap_or(0.95),
            seed: spec["seed"].as_u64().unwrap_or(0),
        };
        let (new_dir, old_dir) = (self.store.job_dir(id), self.store.job_dir(&champion.id));
        let comparison = tokio::task::spawn_blocking(move || lineage::compare_walks(&new_dir, &old_dir, &cfg))
            .await
            .ok()
            .flatten()?;
        Some((champion.id, comparison))
    }
}

/// The name an attempt's uploads are staged under: its attempt and lease.
fn attempt_tag(claim: &LeaseClaim) -> String {
    let lease: String = claim.lease_id.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    format!("a{}-{lease}", claim.attempt)
}

/// Marks a job DONE with its headline result, generation and improvement within its lineage
/// (see [`lineage`]): the improvement is over the champion before it when `vs_champion` paired
/// the two walks and that job is still the champion, else over buy-and-hold on the same bars
/// (absent when `metrics.json` carries no comparison: no interval is made up).
fn finish_done(
    st: &mut State,
    id: &str,
    metrics: &serde_json::Value,
    vs_champion: Option<(String, Comparison)>,
) -> Result<()> {
    let portfolio = &metrics["evaluation"]["portfolio"];
    let sharpe = portfolio["strategy"]["sharpe"].as_f64().unwrap_or(0.0);
    let bh = portfolio["buy_and_hold"]["sharpe"].as_f64().unwrap_or(0.0);
    let validation = metrics["kept_model_validation_sharpe"].as_f64().filter(|v| v.is_finite());
    let fingerprints: Vec<(String, String)> = serde_json::from_value(metrics["data"].clone()).unwrap_or_default();
    // An experiment's runs are its cells, not generations of a lineage: compared with
    // buy-and-hold only, never a champion.
    let in_lineage = st.jobs.get(id).is_some_and(|job| job.experiment.is_none());
    let (last_generation, champion) = match st.jobs.get(id) {
        Some(job) if in_lineage => st.lineages.of(job, &fingerprints),
        _ => (0, None),
    };
    let improvement = match (&champion, vs_champion) {
        (Some(c), Some((paired, comparison))) if c.id == paired => {
            Some(lineage::improvement(&comparison, c.generation))
        }
        _ => serde_json::from_value::<Comparison>(portfolio["vs_buy_and_hold"].clone())
            .ok()
            .map(|c| lineage::improvement(&c, 0)),
    };
    let is_champion = match (validation, &champion) {
        _ if !in_lineage => false,
        (_, None) => true,
        (Some(v), Some(c)) => v > c.validation_sharpe,
        (None, Some(_)) => false,
    };
    let job = st.jobs.get_mut(id).expect("checked by the caller");
    job.data_fingerprints = fingerprints;
    job.result = Some(Box::new(ResultRecord {
        sharpe,
        buy_and_hold_sharpe: bh,
        generation: if in_lineage { last_generation + 1 } else { 0 },
        improvement,
        champion: is_champion,
        validation_sharpe: validation,
        stop_reason: metrics["stop_reason"].as_str().unwrap_or("completed").to_string(),
        edge_significant: portfolio["edge_significant"].as_bool().unwrap_or(false),
    }));
    job.progress.percent = 100.0;
    job.progress.message = "complete".into();
    job.transition(JobState::Done, "complete").map_err(|e| SchedulerError::Conflict(e.to_string()))?;
    let (lineage, fingerprints) = (job.lineage(), job.data_fingerprints.clone());
    if let (Some(result), true) = (job.result.clone(), in_lineage) {
        st.lineages.record(&lineage, &fingerprints, &std::sync::Arc::from(id), &result);
    }
    push_event(st, id, EventKind::State, "complete".into(), None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobRecord, JsonText, SubmittedSpec};

    /// A job of the BTC lineage in EVALUATING, ready to finish.
    fn evaluating(st: &mut State, id: &str) {
        let request = SubmittedSpec { algorithm: "ppo".into(), symbols: vec!["BTC".into()], ..Default::default() };
        let mut job = JobRecord::queued(id.into(), request, JsonText::null(), 1, 0);
        job.state = JobState::Evaluating;
        st.jobs.insert(id.into(), Box::new(job));
    }

    fn metrics(test: f64, validation: f64) -> serde_json::Value {
        serde_json::json!({
            "kept_model_validation_sharpe": validation,
            "data": [["BTC", "ab12"]],
            "evaluation": {"portfolio": {
                "strategy": {"sharpe": test},
                "buy_and_hold": {"sharpe": 0.5},
                "vs_buy_and_hold": comparison(test - 0.5),
            }},
        })
    }

    fn comparison(difference: f64) -> Comparison {
        let interval = skippy_eval::Interval { lo: difference - 1.0, hi: difference + 1.0, ..interval() };
        Comparison { difference, interval, significant: false }
    }

    fn interval() -> skippy_eval::Interval {
        serde_json::from_value(serde_json::json!({"lo": 0.0, "hi": 0.0, "level": 0.95})).unwrap()
    }

    /// Run by the next artifact upload on its storage thread, just before it writes.
    static BEFORE_UPLOAD_WRITE: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>> = std::sync::Mutex::new(None);

    pub(super) fn before_upload_write() {
        let hook = BEFORE_UPLOAD_WRITE.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
    }

    fn claim_of(grant: &crate::leases::Grant) -> LeaseClaim {
        LeaseClaim {
            job_id: grant.job.id.clone(),
            lease_id: grant.lease.lease_id.clone(),
            attempt: grant.lease.attempt,
            trainer_id: grant.lease.trainer_id.clone(),
        }
    }

    /// Fencing was check-then-write: an attempt whose lease was checked, then lost while it
    /// wrote, replaced the artifact the newer attempt had stored (the record was refused, the
    /// file was not). Its upload now lands under its own name and is never moved into place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_attempt_cannot_replace_what_the_newer_attempt_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (scheduler, _) = Scheduler::start(crate::config::Config::local(dir.path().into())).unwrap();
        let spec = SubmittedSpec {
            algorithm: "ppo".into(),
            total_steps: 1_000,
            symbols: vec!["BTC".into()],
            features: vec!["price".into()],
            ..Default::default()
        };
        let (job, _) = scheduler.submit(spec).await.unwrap();
        let id = job.record.id.clone();
        let wait = std::time::Duration::ZERO;
        let old = claim_of(&scheduler.acquire("t-old", "old", wait).await.unwrap().unwrap());

        let (s, runtime) = (scheduler.clone(), tokio::runtime::Handle::current());
        let (job_id, newer) = (id.clone(), std::sync::Arc::new(std::sync::Mutex::new(None)));
        let newer_claim = newer.clone();
        *BEFORE_UPLOAD_WRITE.lock().unwrap() = Some(Box::new(move || {
            // The old attempt passed its check; now it loses the lease and a newer attempt
            // stores the artifact before the old one's bytes land.
            s.requeue_or_end(&mut s.lock(), &job_id, "lease expired (test)".into(), Retry::HandedBack);
            runtime.block_on(async {
                let claim = claim_of(&s.acquire("t-new", "new", wait).await.unwrap().unwrap());
                s.upload_artifact(&claim, "report.md", b"newer attempt".to_vec()).await.unwrap();
                *newer_claim.lock().unwrap() = Some(claim);
            });
        }));
        let e = scheduler.upload_artifact(&old, "report.md", b"stale attempt".to_vec()).await.unwrap_err();
        assert!(matches!(e, SchedulerError::StaleLease { .. }), "{e}");
        let stored = std::fs::read(dir.path().join(&id).join("artifacts/report.md")).unwrap();
        assert_eq!(String::from_utf8_lossy(&stored), "newer attempt");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(&id).join("artifacts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, vec!["report.md"], "the stale attempt's staged file is gone");

        // The same for results.json: the stale attempt's completion is refused, writes nothing
        // visible, and results are served only once the job is DONE.
        let e =
            scheduler.complete(&old, Outcome::Done { metrics_json: "{\"stale\": 1}".into() }, 10).await.unwrap_err();
        assert!(matches!(e, SchedulerError::StaleLease { .. }), "{e}");
        assert!(!dir.path().join(&id).join("results.json").exists());
        assert_eq!(scheduler.results(&id).await.unwrap().1, "", "no results before DONE");
        let newer = newer.lock().unwrap().clone().unwrap();
        scheduler.complete(&newer, Outcome::Done { metrics_json: "{\"newer\": 1}".into() }, 10).await.unwrap();
        assert_eq!(scheduler.results(&id).await.unwrap().1, "{\"newer\": 1}");
    }

    #[test]
    fn the_champion_is_ranked_on_validation_never_on_the_test_bars() {
        let mut st = State::default();
        evaluating(&mut st, "tr_1_00000001");
        finish_done(&mut st, "tr_1_00000001", &metrics(1.0, 2.0), None).unwrap();
        let first = st.jobs["tr_1_00000001"].result.clone().unwrap();
        assert_eq!((first.generation, first.champion, first.validation_sharpe), (1, true, Some(2.0)));
        // The first generation is measured over buy-and-hold, with the trainer's interval.
        let over_bh = first.improvement.unwrap();
        assert_eq!((over_bh.sharpe_difference, over_bh.lo, over_bh.hi, over_bh.over_generation), (0.5, -0.5, 1.5, 0));

        // Better on the test bars, worse on validation: not the champion (the old code crowned it
        // by its test Sharpe). Compared with the champion's test result, shown once.
        evaluating(&mut st, "tr_1_00000002");
        // Its walk paired with the champion's: the improvement is over generation 1.
        let paired = Comparison { difference: 2.0, ..comparison(2.0) };
        finish_done(&mut st, "tr_1_00000002", &metrics(3.0, 1.5), Some(("tr_1_00000001".into(), paired))).unwrap();
        let second = st.jobs["tr_1_00000002"].result.clone().unwrap();
        assert_eq!((second.generation, second.champion), (2, false));
        let over_champion = second.improvement.unwrap();
        assert_eq!((over_champion.sharpe_difference, over_champion.over_generation), (2.0, 1));

        // Better on validation: the new champion, whatever its test result.
        evaluating(&mut st, "tr_1_00000003");
        // A comparison with a job that is no longer the champion is not used: over buy-and-hold.
        let stale = Some(("tr_1_00000002".into(), comparison(9.0)));
        finish_done(&mut st, "tr_1_00000003", &metrics(0.2, 2.5), stale).unwrap();
        let third = st.jobs["tr_1_00000003"].result.clone().unwrap();
        assert_eq!((third.generation, third.champion), (3, true));
        assert_eq!(third.improvement.unwrap().over_generation, 0);
    }
}
