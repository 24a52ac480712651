//! When a worker ends by itself, as a batch system wants of it: `--exit-when-idle` (no job
//! granted for that long and none running, so an array job gives its nodes back once the queue
//! is empty) and `--max-runtime` (no new job after that long; the running ones are finished).
//!
//! Both are checked by the job slots between jobs, never in the middle of one, and bound each
//! slot's long poll so that it ends when a limit may be reached: an `AcquireJob` is never
//! abandoned, so no grant is lost to a trainer that is leaving. The idle limit counts the jobs of
//! every slot; once one slot finds the worker idle, the decision holds for all of them (a job
//! granted to another slot's poll at that moment is still run, and no other is asked for).

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Limits on how long a worker runs by itself (none: until a signal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// End once no job has been granted for this long and none is running.
    pub exit_when_idle: Option<Duration>,
    /// Take no new job after this long since the start; end when the running ones are done.
    pub max_runtime: Option<Duration>,
}

/// Why a worker ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// No job for the `--exit-when-idle` duration.
    Idle(Duration),
    /// The `--max-runtime` duration has passed.
    MaxRuntime(Duration),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Idle(d) => write!(f, "no job granted for {} and none running (--exit-when-idle)", seconds(*d)),
            End::MaxRuntime(d) => write!(f, "running for {}: no new jobs (--max-runtime)", seconds(*d)),
        }
    }
}

/// `90s`, `0.5s`: a duration in the form the flags take.
fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// What the slots of one worker share to decide when it ends.
#[derive(Debug)]
pub struct Lifetime {
    /// The limits.
    limits: Limits,
    /// When the worker started.
    started: Instant,
    /// Jobs running and since when none has.
    activity: Mutex<Activity>,
}

/// The jobs of a worker, as its limits see them.
#[derive(Debug, Clone, Copy)]
struct Activity {
    /// Jobs running now.
    running: usize,
    /// When the last job ended (or the worker started).
    idle_since: Instant,
    /// Set once a slot found the worker idle for the limit: every slot ends at its next check.
    idle_end: Option<End>,
}

impl Lifetime {
    /// A worker's lifetime from `now`.
    pub fn new(limits: Limits, now: Instant) -> Lifetime {
        Lifetime {
            limits,
            started: now,
            activity: Mutex::new(Activity { running: 0, idle_since: now, idle_end: None }),
        }
    }

    /// When the run time is over (`None`: never).
    pub fn runtime_over_at(&self) -> Option<Instant> {
        self.limits.max_runtime.and_then(|limit| self.started.checked_add(limit))
    }

    /// Counts a granted job as running until the returned guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.job_started();
        Busy(self)
    }

    fn job_started(&self) {
        self.activity().running += 1;
    }

    fn job_ended(&self, now: Instant) {
        let mut activity = self.activity();
        activity.running = activity.running.saturating_sub(1);
        activity.idle_since = now;
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        // Plain data, consistent after every statement: a panic elsewhere leaves it usable.
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the worker should take no more jobs at `now`, and why.
    pub fn ended(&self, now: Instant) -> Option<End> {
        if let Some(limit) = self.limits.max_runtime.filter(|&limit| reached(now, self.started, limit)) {
            return Some(End::MaxRuntime(limit));
        }
        let mut activity = self.activity();
        if activity.idle_end.is_none()
            && let Some(limit) = self.limits.exit_when_idle
            && activity.running == 0
            && reached(now, activity.idle_since, limit)
        {
            activity.idle_end = Some(End::Idle(limit));
        }
        activity.idle_end
    }

    /// How long a slot may wait for work from `now` before [`Lifetime::ended`] must be asked
    /// again, at most `longest`: until the run time is over, until the idle limit is reached
    /// when no job runs, and at most the idle limit while one does (its end starts the count).
    pub fn wait(&self, now: Instant, longest: Duration) -> Duration {
        let mut wait = longest;
        if let Some(limit) = self.limits.max_runtime {
            wait = wait.min(left(now, self.started, limit));
        }
        if let Some(limit) = self.limits.exit_when_idle {
            let activity = *self.activity();
            let idle_for = match activity {
                Activity { idle_end: Some(_), .. } => Duration::ZERO,
                Activity { running: 0, idle_since, .. } => left(now, idle_since, limit),
                _ => limit,
            };
            wait = wait.min(idle_for);
        }
        wait
    }
}

/// Whether `limit` since `since` has passed at `now` (a limit past the clock's range never has).
fn reached(now: Instant, since: Instant, limit: Duration) -> bool {
    now.checked_duration_since(since).is_some_and(|passed| passed >= limit)
}

/// What is left at `now` of `limit` since `since`.
fn left(now: Instant, since: Instant, limit: Duration) -> Duration {
    limit.saturating_sub(now.saturating_duration_since(since))
}

/// A running job, counted until dropped.
#[derive(Debug)]
pub struct Busy<'a>(&'a Lifetime);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.job_ended(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONGEST: Duration = Duration::from_secs(25);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn without_limits_a_worker_never_ends_and_waits_the_longest() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits::default(), t0);
        assert_eq!(life.ended(t0 + secs(1_000_000)), None);
        assert_eq!(life.wait(t0 + secs(1_000_000), LONGEST), LONGEST);
    }

    #[test]
    fn an_idle_worker_ends_after_the_idle_limit_and_its_polls_end_then() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits { exit_when_idle: Some(secs(60)), max_runtime: None }, t0);
        assert_eq!(life.wait(t0, LONGEST), LONGEST);
        assert_eq!(life.wait(t0 + secs(50), LONGEST), secs(10));
        assert_eq!(life.ended(t0 + secs(59)), None);
        assert_eq!(life.ended(t0 + secs(60)), Some(End::Idle(secs(60))));
        assert_eq!(life.wait(t0 + secs(70), LONGEST), Duration::ZERO);
    }

    #[test]
    fn a_running_job_holds_the_idle_count_and_its_end_restarts_it() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits { exit_when_idle: Some(secs(10)), max_runtime: None }, t0);
        life.job_started();
        assert_eq!(life.ended(t0 + secs(100)), None, "a worker running a job is not idle");
        assert_eq!(life.wait(t0 + secs(100), LONGEST), secs(10), "another slot polls at most the idle limit");
        life.job_ended(t0 + secs(100));
        assert_eq!(life.ended(t0 + secs(109)), None);
        assert_eq!(life.wait(t0 + secs(104), LONGEST), secs(6));
        assert_eq!(life.ended(t0 + secs(110)), Some(End::Idle(secs(10))));
    }

    #[test]
    fn two_slots_are_idle_only_when_neither_runs_a_job() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits { exit_when_idle: Some(secs(10)), max_runtime: None }, t0);
        life.job_started();
        life.job_started();
        life.job_ended(t0 + secs(5));
        assert_eq!(life.ended(t0 + secs(50)), None);
        life.job_ended(t0 + secs(50));
        assert_eq!(life.ended(t0 + secs(59)), None);
        assert_eq!(life.ended(t0 + secs(60)), Some(End::Idle(secs(10))));
    }

    #[test]
    fn once_one_slot_finds_the_worker_idle_a_job_granted_at_that_moment_is_its_last() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits { exit_when_idle: Some(secs(10)), max_runtime: None }, t0);
        assert_eq!(life.ended(t0 + secs(10)), Some(End::Idle(secs(10))), "one slot's poll ended: idle");
        // Another slot's poll was answered with a job at that moment: it runs it…
        life.job_started();
        assert_eq!(life.ended(t0 + secs(11)), Some(End::Idle(secs(10))), "no other slot asks for work");
        assert_eq!(life.wait(t0 + secs(11), LONGEST), Duration::ZERO);
        life.job_ended(t0 + secs(50));
        // …and ends after it, as the rest did.
        assert_eq!(life.ended(t0 + secs(50)), Some(End::Idle(secs(10))));
    }

    #[test]
    fn the_run_time_limit_ends_a_busy_worker_too_and_bounds_its_polls() {
        let t0 = Instant::now();
        let life = Lifetime::new(Limits { exit_when_idle: None, max_runtime: Some(secs(3600)) }, t0);
        life.job_started();
        assert_eq!(life.wait(t0 + secs(3590), LONGEST), secs(10));
        assert_eq!(life.ended(t0 + secs(3599)), None);
        assert_eq!(life.ended(t0 + secs(3600)), Some(End::MaxRuntime(secs(3600))));
    }

    #[test]
    fn the_reasons_name_their_flag() {
        assert_eq!(
            End::Idle(Duration::from_millis(1500)).to_string(),
            "no job granted for 1.5s and none running (--exit-when-idle)"
        );
        assert_eq!(End::MaxRuntime(secs(600)).to_string(), "running for 600s: no new jobs (--max-runtime)");
    }
}
