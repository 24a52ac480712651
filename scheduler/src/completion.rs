//! What trainers report about a held job: progress and phase changes, checkpoints (pruned to
//! the latest few and the best), artifacts, and how the attempt ended. Every report is checked
//! against the job's current lease first (fencing).

use skippy_eval::{Comparison, EvalConfig};

use crate::events::{EventKind, StatsRecord};
use crate::job::{CheckpointRecord, JobState, ResultRecord, now_ms};
use crate::leases::LeaseClaim;
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
        let (id, n) = (claim.job_id.clone(), name.to_string());
        let record = self
            .on_store(format!("storing artifact {name} of {}", claim.job_id), move |store| {
                store.write_artifact(&id, &n, &data)
            })
            .await?;
        {
            let mut st = self.lock();
            let job = st.leased_job(claim)?;
            job.artifacts.retain(|a| a.name != record.name);
            job.artifacts.push(record.clone());
        }
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
        if let Outcome::Done { metrics_json } = &outcome {
            {
                let mut st = self.lock();
                st.leased_job(claim)?;
            }
            let (id, json) = (claim.job_id.clone(), metrics_json.clone());
            self.on_store(format!("storing results.json of {}", claim.job_id), move |store| {
                store.write_results(&id, &json)
            })
            .await?;
        }
        let vs_champion = match &metrics {
            Some(metrics) => self.compare_with_champion(&claim.job_id, metrics).await,
            None => None,
        };
        {
            let mut st = self.lock();
            let job = st.leased_job(claim)?;
            job.progress.steps_done = job.progress.steps_done.max(steps_done);
            let id = claim.job_id.clone();
            match outcome {
                Outcome::Done { .. } => {
                    let metrics = metrics.as_ref().expect("parsed above for Done");
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
                    self.requeue_or_end(&mut st, &id, reason, true);
                    self.dispatch(&mut st);
                }
            }
        }
        self.persist(&claim.job_id).await
    }

    /// The paired comparison of a finishing job's test walk with its lineage's champion's, on the
    /// same bars (both `equity.csv`), with the job's own bootstrap settings. `None` without a
    /// champion, or when the two walks cannot be paired.
    async fn compare_with_champion(&self, id: &str, metrics: &serde_json::Value) -> Option<(String, Comparison)> {
        let fingerprints: Vec<(String, String)> = serde_json::from_value(metrics["data"].clone()).ok()?;
        let (champion, spec) = {
            let st = self.lock();
            let job = st.jobs.get(id)?;
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
    let (last_generation, champion) = match st.jobs.get(id) {
        Some(job) => st.lineages.of(job, &fingerprints),
        None => (0, None),
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
        (_, None) => true,
        (Some(v), Some(c)) => v > c.validation_sharpe,
        (None, Some(_)) => false,
    };
    let job = st.jobs.get_mut(id).expect("checked by the caller");
    job.data_fingerprints = fingerprints;
    job.result = Some(Box::new(ResultRecord {
        sharpe,
        buy_and_hold_sharpe: bh,
        generation: last_generation + 1,
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
    if let Some(result) = job.result.clone() {
        st.lineages.record(lineage, &fingerprints, id, &result);
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
