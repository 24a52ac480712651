//! Admission: what a submission may ask for and whether the server has room for it.
//!
//! - Per job: `total_steps` and the wall-duration budget are capped (`--max-steps-per-job`,
//!   `--max-job-duration-secs`); a job that names no duration gets the cap. Asking for more is
//!   a bad request (400 / `INVALID_ARGUMENT`): retrying cannot help.
//! - Server-wide: at most `--max-queued-jobs` queued, and a compute budget of
//!   `--trainer-hours-per-day` over a rolling day, counting the training time of jobs that
//!   ran in it and the estimated time of running and queued ones. A full queue or a spent
//!   budget is 429 / `RESOURCE_EXHAUSTED`: it clears as work finishes.
//!
//! Estimates come from the speed trainers report (steps per second, smoothed); until one has
//! reported, [`ASSUMED_STEPS_PER_SEC`]. A job's estimate never exceeds its duration budget.

use crate::config::Config;
use crate::job::JobRecord;
use crate::scheduler::{SchedulerError, State};

/// Speed assumed before any trainer has reported one (a 2-core trainer does ~50k env-steps/s
/// of PPO; this leaves room for evaluation and slower machines).
pub const ASSUMED_STEPS_PER_SEC: f64 = 20_000.0;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What admission tracks between sweeps.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Submissions accepted but not yet queued (in the committer).
    pub admitting: usize,
    /// Trainer-seconds used or committed in the rolling day by the jobs the scheduler holds
    /// (recomputed from them by each sweep; a job that reaches the queue adds its estimate).
    pub committed_secs: f64,
    /// Estimated trainer-seconds of the submissions in the committer: kept apart because the
    /// sweep's recount cannot see them yet.
    pub admitting_secs: f64,
    /// Smoothed speed trainers reported.
    pub measured_steps_per_sec: Option<f64>,
}

impl Ledger {
    /// Folds one reported speed into the smoothed one.
    pub fn observe_speed(&mut self, steps_per_sec: f64) {
        if steps_per_sec.is_finite() && steps_per_sec > 0.0 {
            self.measured_steps_per_sec = Some(match self.measured_steps_per_sec {
                Some(s) => 0.9 * s + 0.1 * steps_per_sec,
                None => steps_per_sec,
            });
        }
    }

    /// The speed estimates use.
    pub fn speed(&self) -> f64 {
        self.measured_steps_per_sec.unwrap_or(ASSUMED_STEPS_PER_SEC)
    }
}

/// A job over one of this server's per-job caps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverLimit {
    /// More steps than `--max-steps-per-job`.
    #[error(
        "total_steps = {asked} is over this server's limit of {limit} steps per job by {} (--max-steps-per-job)",
        asked - limit
    )]
    Steps {
        /// Steps asked for.
        asked: u64,
        /// The cap.
        limit: u64,
    },
    /// A longer budget than `--max-job-duration-secs`.
    #[error(
        "max_duration_seconds = {asked} is over this server's limit of {limit} s per job by {} s (--max-job-duration-secs)",
        asked - limit
    )]
    Duration {
        /// Seconds asked for.
        asked: f64,
        /// The cap.
        limit: f64,
    },
}

/// The caps on one job; fills in the default duration. Errors say which limit and by how much.
pub(crate) fn check_job_limits(
    config: &Config,
    total_steps: u64,
    max_duration_seconds: &mut f64,
) -> Result<(), OverLimit> {
    if config.max_steps_per_job > 0 && total_steps > config.max_steps_per_job {
        return Err(OverLimit::Steps { asked: total_steps, limit: config.max_steps_per_job });
    }
    let cap = config.max_job_duration_secs as f64;
    if cap > 0.0 {
        if *max_duration_seconds > cap {
            return Err(OverLimit::Duration { asked: *max_duration_seconds, limit: cap });
        }
        if *max_duration_seconds == 0.0 {
            *max_duration_seconds = cap;
        }
    }
    Ok(())
}

/// Seconds of training a job is expected to take at `speed`, bounded by its duration budget.
pub(crate) fn estimate_secs(job: &JobRecord, speed: f64) -> f64 {
    let steps = job.request.total_steps.saturating_sub(job.progress.steps_done) as f64;
    let secs = steps / speed.max(1.0);
    if job.max_duration_seconds > 0.0 { secs.min(job.max_duration_seconds) } else { secs }
}

/// What some jobs should take, as admission estimates it: each job's steps at the speed
/// trainers have reported (or [`ASSUMED_STEPS_PER_SEC`]), capped by its duration budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The jobs it counts.
    pub jobs: usize,
    /// Environment steps asked for over every job.
    pub total_steps: u64,
    /// Trainer-seconds over every job's steps still to train (one job on one trainer slot for
    /// a second is one); for jobs not yet started, as an experiment's are, all of its steps.
    pub trainer_seconds: f64,
    /// The speed of one job the estimate assumes (env-steps per second).
    pub steps_per_sec: f64,
    /// Whether that speed was measured (trainers have reported one) or assumed.
    pub measured: bool,
}

impl State {
    /// The estimate of `jobs`, at the speed admission uses now.
    pub(crate) fn estimate(&self, jobs: &[JobRecord]) -> Estimate {
        let speed = self.ledger.speed();
        Estimate {
            jobs: jobs.len(),
            total_steps: jobs.iter().map(|j| j.request.total_steps).sum(),
            trainer_seconds: jobs.iter().map(|job| estimate_secs(job, speed)).sum(),
            steps_per_sec: speed,
            measured: self.ledger.measured_steps_per_sec.is_some(),
        }
    }

    /// Recounts the trainer-seconds used or committed in the day before `now_ms`: time spent
    /// training in that window by jobs that ran, plus the estimated rest of running and queued
    /// jobs.
    pub(crate) fn recount_budget(&mut self, now_ms: i64) {
        self.ledger.committed_secs = committed_secs(self, now_ms);
    }

    /// Whether a new job fits: the queue cap and the compute budget. On success the job is
    /// counted (`admitting`, `committed_secs`); [`State::admitted`] ends the first when it is
    /// queued.
    pub(crate) fn admit(&mut self, config: &Config, job: &JobRecord) -> Result<(), SchedulerError> {
        admit(config, self, job)
    }

    /// Whether all of an experiment's runs fit together, as [`State::admit`] asks of one job:
    /// all are counted, or none (the error gives the experiment's totals). Returns what they
    /// are estimated to take.
    pub(crate) fn admit_all(&mut self, config: &Config, jobs: &[JobRecord]) -> Result<Estimate, SchedulerError> {
        let estimate = self.fits_all(config, jobs)?;
        self.ledger.admitting += jobs.len();
        self.ledger.admitting_secs += estimate.trainer_seconds;
        Ok(estimate)
    }

    /// Whether [`State::admit_all`] would admit `jobs` now, and what they are estimated to
    /// take; counts nothing.
    pub(crate) fn fits_all(&self, config: &Config, jobs: &[JobRecord]) -> Result<Estimate, SchedulerError> {
        let estimate = self.estimate(jobs);
        let queued = self.queue.len() + self.ledger.admitting;
        if config.max_queued_jobs > 0 && queued + jobs.len() > config.max_queued_jobs {
            return Err(SchedulerError::Exhausted(format!(
                "the queue cannot take this experiment: its {} runs and the {queued} jobs queued exceed the limit \
                 of {} (--max-queued-jobs); run fewer seeds, folds or configurations, or submit when some have started",
                jobs.len(),
                config.max_queued_jobs
            )));
        }
        let needs = estimate.trainer_seconds;
        let budget = config.trainer_hours_per_day * 3600.0;
        let used = self.ledger.committed_secs + self.ledger.admitting_secs;
        if budget > 0.0 && used + needs > budget {
            return Err(SchedulerError::Exhausted(format!(
                "compute budget exceeded: this experiment's {} runs need about {} trainer-hours in all ({} steps \
                 at {:.0} steps/s), and {} of the {} trainer-hours per day are used or committed; {} over \
                 (--trainer-hours-per-day)",
                jobs.len(),
                hours(needs),
                estimate.total_steps,
                estimate.steps_per_sec,
                hours(used),
                config.trainer_hours_per_day,
                hours(used + needs - budget)
            )));
        }
        Ok(estimate)
    }

    /// Counts a run start-up re-queues for its experiment (it was admitted before the restart).
    pub(crate) fn readmit(&mut self, job: &JobRecord) {
        self.ledger.admitting += 1;
        self.ledger.admitting_secs += estimate_secs(job, self.ledger.speed());
    }

    /// A job counted by [`State::admit`] left the committer: queued (`stored`, its estimate
    /// moves to `committed_secs` with it), or refused by the store (its estimate is dropped).
    pub(crate) fn admitted(&mut self, job: &JobRecord, stored: bool) {
        let st = self;
        let needs = estimate_secs(job, st.ledger.speed());
        st.ledger.admitting = st.ledger.admitting.saturating_sub(1);
        st.ledger.admitting_secs =
            if st.ledger.admitting == 0 { 0.0 } else { (st.ledger.admitting_secs - needs).max(0.0) };
        if stored {
            st.ledger.committed_secs += needs;
        }
    }
}

fn committed_secs(st: &State, now_ms: i64) -> f64 {
    let window_start = now_ms - DAY_MS;
    let speed = st.ledger.speed();
    let ran = |started_ms: i64, end_ms: i64| {
        if started_ms > 0 { ((end_ms - started_ms.max(window_start)).max(0) as f64) / 1000.0 } else { 0.0 }
    };
    let held: f64 = st
        .jobs
        .values()
        .map(|job| {
            if job.state.is_terminal() {
                ran(job.started_ms, job.finished_ms)
            } else {
                ran(job.started_ms, now_ms) + estimate_secs(job, speed)
            }
        })
        .sum();
    // Finished jobs count for the time they ran within the window: only those that ended in it.
    let finished: f64 = st.finished.ended_since(window_start).map(|job| ran(job.started_ms, job.finished_ms)).sum();
    held + finished
}

fn admit(config: &Config, st: &mut State, job: &JobRecord) -> Result<(), SchedulerError> {
    let queued = st.queue.len() + st.ledger.admitting;
    if config.max_queued_jobs > 0 && queued >= config.max_queued_jobs {
        return Err(SchedulerError::Exhausted(format!(
            "the queue is full: {queued} jobs are queued and the limit is {} (--max-queued-jobs); \
             submit again when some have started",
            config.max_queued_jobs
        )));
    }
    let budget = config.trainer_hours_per_day * 3600.0;
    let needs = estimate_secs(job, st.ledger.speed());
    let used = st.ledger.committed_secs + st.ledger.admitting_secs;
    if budget > 0.0 && used + needs > budget {
        let speed = match st.ledger.measured_steps_per_sec {
            Some(s) => format!("{s:.0} steps/s as trainers measured"),
            None => format!("an assumed {ASSUMED_STEPS_PER_SEC:.0} steps/s (no trainer has reported yet)"),
        };
        return Err(SchedulerError::Exhausted(format!(
            "compute budget exceeded: this job needs about {} trainer-hours ({} steps at {speed}), \
             and {} of the {} trainer-hours per day are used or committed; {} over \
             (--trainer-hours-per-day)",
            hours(needs),
            job.request.total_steps,
            hours(used),
            config.trainer_hours_per_day,
            hours(used + needs - budget)
        )));
    }
    st.ledger.admitting += 1;
    st.ledger.admitting_secs += needs;
    Ok(())
}

/// Seconds as trainer-hours to three significant digits (a small budget's figures stay
/// readable: 0.00694, not 0.01).
fn hours(secs: f64) -> String {
    let h = secs / 3600.0;
    let decimals = if h > 0.0 { (2 - h.log10().floor() as i32).clamp(0, 8) as usize } else { 0 };
    format!("{h:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JsonText, SubmittedSpec};

    fn job(id: &str, total_steps: u64) -> JobRecord {
        let request = SubmittedSpec { total_steps, ..Default::default() };
        JobRecord::queued(id.into(), request, JsonText::of(&serde_json::json!({})).unwrap(), 1, 1)
    }

    /// The committer queues a job on its own thread while the sweep recounts the day from the
    /// jobs it holds: a submission in between must still count.
    #[test]
    fn a_job_in_the_committer_counts_through_a_recount() {
        let mut config = Config::local("runs".into());
        config.trainer_hours_per_day = 0.01; // 36 s; 500,000 steps at the assumed speed is 25 s
        let mut st = State::default();
        let first = job("a", 500_000);
        st.admit(&config, &first).unwrap();
        st.recount_budget(1_000); // the sweep runs now
        assert!(st.admit(&config, &job("b", 500_000)).is_err(), "counted while being committed");
        st.admitted(&first, true);
        st.jobs.insert(first.id.clone(), Box::new(first.clone()));
        let e = st.admit(&config, &job("c", 500_000)).unwrap_err().to_string();
        assert!(e.contains("about 0.00694 trainer-hours"), "{e}");
        assert!(e.contains("0.00694 of the 0.01 trainer-hours") && e.contains("; 0.00389 over"), "{e}");
        st.recount_budget(1_000);
        assert!(st.admit(&config, &job("d", 500_000)).is_err(), "counted once queued");
        // A submission the store refused gives its estimate back.
        let mut st = State::default();
        st.admit(&config, &first).unwrap();
        st.admitted(&first, false);
        assert_eq!((st.ledger.admitting, st.ledger.admitting_secs, st.ledger.committed_secs), (0, 0.0, 0.0));
        st.admit(&config, &first).unwrap();
    }

    #[test]
    fn job_limits_say_which_and_by_how_much_and_fill_in_the_duration() {
        let mut config = Config::local("runs".into());
        config.max_steps_per_job = 1_000_000;
        config.max_job_duration_secs = 3600;
        let mut d = 0.0;
        check_job_limits(&config, 1_000_000, &mut d).unwrap();
        assert_eq!(d, 3600.0, "no duration means the cap");
        let e = check_job_limits(&config, 1_500_000, &mut 0.0).unwrap_err().to_string();
        assert!(e.contains("limit of 1000000 steps per job by 500000") && e.contains("--max-steps-per-job"), "{e}");
        let e = check_job_limits(&config, 10, &mut 5400.0).unwrap_err().to_string();
        assert!(e.contains("limit of 3600 s per job by 1800 s"), "{e}");
        config.max_steps_per_job = 0;
        config.max_job_duration_secs = 0;
        let mut d = 0.0;
        check_job_limits(&config, u64::MAX, &mut d).unwrap();
        assert_eq!(d, 0.0, "0 means no cap");
    }

    #[test]
    fn hours_keep_three_significant_digits() {
        assert_eq!(hours(25.0), "0.00694");
        assert_eq!(hours(3600.0 * 1.5), "1.50");
        assert_eq!(hours(3600.0 * 123.4), "123");
        assert_eq!(hours(0.0), "0");
    }

    #[test]
    fn the_speed_is_smoothed_and_ignores_nonsense() {
        let mut l = Ledger::default();
        assert_eq!(l.speed(), ASSUMED_STEPS_PER_SEC);
        l.observe_speed(50_000.0);
        assert_eq!(l.speed(), 50_000.0);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            l.observe_speed(bad);
        }
        assert_eq!(l.speed(), 50_000.0);
        l.observe_speed(40_000.0);
        assert_eq!(l.speed(), 49_000.0);
    }
}
