//! Retention: the directories of finished jobs removed by age (`--retain-days`) and count
//! (`--retain-jobs`), oldest finished first. Queued and running jobs are never touched (only
//! the finished index is read), and each lineage's champion and newest generation are kept
//! whatever the policy (see [`crate::lineage::Standings::kept`]): the next job of the lineage is
//! compared with the champion's walk, and its generation number follows the newest one.
//!
//! A removed job leaves the index, the listing and the idempotency table at once; the journal is
//! compacted before its directory goes (a journal line left beside no manifest would bring the
//! job back as queued at the next start), and every removal is logged.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Scheduler, State};
use crate::job::{JobState, now_ms};

/// A finished job retention removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The job.
    pub id: String,
    /// How it ended.
    pub state: JobState,
    /// When (unix ms).
    pub finished_ms: i64,
}

/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 3600 * 1000;

impl State {
    /// Takes out of memory the finished jobs beyond the policy at `now_ms` (oldest finished
    /// first) and returns them: those that finished more than `retain_days` days ago (0: no
    /// age limit), and all but the newest `retain_jobs` finished jobs (0: no count limit).
    /// Lineage champions and newest generations stay, as do the runs of a running experiment.
    pub(crate) fn prune_finished(&mut self, retain_days: u64, retain_jobs: usize, now_ms: i64) -> Vec<Pruned> {
        if retain_days == 0 && retain_jobs == 0 {
            return Vec::new();
        }
        let too_old = (retain_days > 0).then(|| now_ms - retain_days as i64 * DAY_MS);
        let over = if retain_jobs > 0 { self.finished.len().saturating_sub(retain_jobs) } else { 0 };
        let kept: HashSet<&str> = self.lineages.kept();
        let victims: Vec<Pruned> = self
            .finished
            .oldest_first()
            .enumerate()
            .take_while(|(i, job)| *i < over || too_old.is_some_and(|t| job.finished_ms < t))
            .filter(|(_, job)| !kept.contains(&*job.id))
            // A running experiment still needs its runs' files for its report (and a restart
            // would queue a missing run again).
            .filter(|(_, job)| {
                job.experiment
                    .as_ref()
                    .is_none_or(|cell| self.experiments.get(&cell.experiment_id).is_none_or(|e| e.state.is_terminal()))
            })
            .map(|(_, job)| Pruned { id: job.id.to_string(), state: job.state, finished_ms: job.finished_ms })
            .collect();
        for v in &victims {
            let Some(job) = self.finished.remove(&v.id) else { continue };
            self.listing.remove(&(job.created_ms, job.seq, job.id.clone()));
            if let Some(key) = &job.idempotency_key
                && self.idempotency.get(&**key).is_some_and(|id| *id == v.id)
            {
                self.idempotency.remove(&**key);
            }
        }
        if !victims.is_empty() {
            self.finished.forget_unused();
        }
        victims
    }
}

impl Scheduler {
    /// Applies the retention policy now: finished jobs beyond it leave memory, then their
    /// directories are removed (each one logged). Returns what was removed.
    pub async fn prune(self: &Arc<Self>) -> Vec<Pruned> {
        let (days, jobs) = (self.config.retain_days, self.config.retain_jobs);
        let victims = self.lock().prune_finished(days, jobs, now_ms());
        if victims.is_empty() {
            return victims;
        }
        // The journal may still hold a removed job's submission line: compacted first, so no
        // restart can replay it.
        if self.store.journal_has_spent_lines() {
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.compact_journal()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "retention: journal compaction failed; no directory removed this time");
                    return Vec::new();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention: journal compaction failed; no directory removed this time");
                    return Vec::new();
                }
            }
        }
        let store = self.store.clone();
        let removed = victims.clone();
        let failed = tokio::task::spawn_blocking(move || {
            removed
                .iter()
                .filter_map(|v| store.remove_job_dir(&v.id).err().map(|e| (v.id.clone(), e)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let now = now_ms();
        for v in &victims {
            match failed.iter().find(|(id, _)| *id == v.id) {
                Some((_, e)) => {
                    tracing::warn!(job_id = %v.id, error = %e, "retention: could not remove the job's directory")
                }
                None => tracing::info!(
                    job_id = %v.id,
                    state = v.state.name(),
                    finished_days_ago = format!("{:.1}", (now - v.finished_ms) as f64 / DAY_MS as f64),
                    "retention: finished job removed"
                ),
            }
        }
        tracing::info!(
            removed = victims.len() - failed.len(),
            failed = failed.len(),
            retain_days = days,
            retain_jobs = jobs,
            "retention: pruned finished jobs"
        );
        self.compact_finished_index().await;
        victims
    }

    /// Rewrites `runs/finished.index` once most of its lines are of jobs retention removed: a
    /// scheduler that runs for months keeps an index the size of what it keeps, not of every job
    /// it ever finished.
    async fn compact_finished_index(self: &Arc<Self>) {
        let kept = self.lock().finished.len();
        if !self.store.finished_index_mostly_stale(kept) {
            return;
        }
        let scheduler = self.clone();
        let store = self.store.clone();
        let rewritten = tokio::task::spawn_blocking(move || {
            store.rewrite_finished_index(|| {
                // Copies of the compact entries under the lock (shared strings: cheap); their
                // manifests are built after it.
                let jobs: Vec<crate::finished::FinishedJob> =
                    scheduler.lock().finished.oldest_first().cloned().collect();
                jobs.iter().map(|job| job.manifest()).collect()
            })
        })
        .await;
        match rewritten {
            Ok(Ok(lines)) => tracing::info!(lines, "retention: finished index rewritten"),
            Ok(Err(e)) => tracing::warn!(error = %e, "retention: the finished index could not be rewritten"),
            Err(e) => tracing::warn!(error = %e, "retention: the finished index could not be rewritten"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finished::FinishedJob;
    use crate::job::{JobRecord, JsonText, ResultRecord, SubmittedSpec};

    fn finished(st: &mut State, n: u64, state: JobState, finished_ms: i64, validation: Option<f64>) -> String {
        let id = format!("tr_1_{n:08x}");
        let request = SubmittedSpec {
            algorithm: "ppo".into(),
            symbols: vec!["BTC".into()],
            features: vec!["price".into()],
            idempotency_key: format!("key-{n}"),
            ..Default::default()
        };
        let mut job = JobRecord::queued(id.clone(), request, JsonText::null(), 1, finished_ms - 10);
        job.seq = n;
        job.state = state;
        job.finished_ms = finished_ms;
        if state == JobState::Done {
            let result = ResultRecord {
                sharpe: 0.0,
                buy_and_hold_sharpe: 0.0,
                generation: n as u32,
                improvement: None,
                champion: false,
                validation_sharpe: validation,
                stop_reason: "completed".into(),
                edge_significant: false,
            };
            st.lineages.record(&job.lineage(), &[], &std::sync::Arc::from(id.as_str()), &result);
            job.result = Some(Box::new(result));
        }
        st.idempotency.insert(format!("key-{n}"), id.clone());
        st.listing.insert(super::super::list_key(&job));
        st.finished.insert(FinishedJob::of(job));
        id
    }

    #[test]
    fn the_oldest_finished_go_first_and_champions_and_live_jobs_stay() {
        let mut st = State::default();
        let day = DAY_MS;
        let now = 100 * day;
        // 1: the champion (best validation), 2..=5 older than 30 days, 6..=8 recent; 8 is the
        // newest generation.
        let champion = finished(&mut st, 1, JobState::Done, now - 90 * day, Some(3.0));
        for n in 2..=5 {
            finished(
                &mut st,
                n,
                if n == 3 { JobState::Failed } else { JobState::Done },
                now - (60 - n as i64) * day,
                Some(1.0),
            );
        }
        for n in 6..=8 {
            finished(&mut st, n, JobState::Done, now - (9 - n as i64) * day, Some(0.5));
        }
        let queued = JobRecord::queued("tr_1_000000ff".into(), SubmittedSpec::default(), JsonText::null(), 1, 0);
        st.enter(queued);

        assert!(st.prune_finished(0, 0, now).is_empty(), "no policy, nothing removed");
        let pruned = st.prune_finished(30, 0, now);
        let ids: Vec<u64> = pruned.iter().map(|p| u64::from_str_radix(&p.id[5..], 16).unwrap()).collect();
        assert_eq!(ids, [2, 3, 4, 5], "older than 30 days, oldest first; the champion stays");
        assert!(st.finished.contains(&champion) && st.jobs.contains_key("tr_1_000000ff"));
        assert!(!st.idempotency.contains_key("key-2") && st.idempotency.contains_key("key-6"), "keys expire");
        assert_eq!(st.listing.len(), 5, "the champion, 6, 7, 8 and the queued job");

        let pruned = st.prune_finished(0, 2, now);
        assert_eq!(pruned.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["tr_1_00000006"]);
        assert_eq!(st.finished.len(), 3, "two newest plus the champion, kept beyond the count");
    }

    #[test]
    fn the_runs_of_a_running_experiment_stay_until_it_ends() {
        use crate::experiment::{Cell, ExperimentRecord, ExperimentRequest, ExperimentState};
        let mut st = State::default();
        let now = 100 * DAY_MS;
        let mut run = JobRecord::queued("tr_1_00000001".into(), SubmittedSpec::default(), JsonText::null(), 1, 0);
        run.state = JobState::Failed;
        run.finished_ms = now - 60 * DAY_MS;
        run.experiment = Some(Cell { experiment_id: "ex_1_00000001".into(), config: 0, seed_index: 0, fold: 0 });
        st.listing.insert(super::super::list_key(&run));
        st.finished.insert(FinishedJob::of(run));
        st.experiments.insert(
            "ex_1_00000001".into(),
            ExperimentRecord::new(
                "ex_1_00000001".into(),
                ExperimentRequest { base: SubmittedSpec::default(), seeds: 1, folds: 1, grid: vec![], promote: false },
                vec![Default::default()],
                vec![],
                0,
            ),
        );
        assert!(st.prune_finished(30, 0, now).is_empty(), "its experiment still needs it");
        st.experiments.get_mut("ex_1_00000001").unwrap().state = ExperimentState::Done;
        assert_eq!(st.prune_finished(30, 0, now).len(), 1, "once the experiment has ended it goes");
    }
}
