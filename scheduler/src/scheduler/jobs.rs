//! Every job by id, with a tally kept as jobs change: how many are in each state, and which are
//! running. Reading is a plain map (`Deref`); every change goes through [`Jobs::insert`],
//! [`Jobs::remove`] or [`Jobs::get_mut`]. The job handed out by `get_mut` is re-counted by the
//! next call of any of them (or of [`Jobs::tally`]): by then the borrow has ended, so whatever the
//! caller did to it is final. The tally cannot drift from the jobs, and nothing (the metrics above
//! all) has to scan every job under the lock to count them.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;

use crate::job::{JobRecord, JobState};

/// The jobs, and their tally.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    map: HashMap<String, Box<JobRecord>>,
    tally: Tally,
    /// The job `get_mut` lent last and its state then, to re-count once the loan is over.
    lent: Option<(String, JobState)>,
}

/// How many jobs are in each state, and which are running.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Jobs per state, indexed as [`JobState::ALL`] (`state as usize`).
    by_state: [usize; JobState::ALL.len()],
    /// Ids of jobs in a running state (preflight, training, evaluating).
    running: BTreeSet<String>,
}

impl Tally {
    /// Jobs in `state`.
    pub(crate) fn count(&self, state: JobState) -> usize {
        self.by_state[index(state)]
    }

    /// Ids of the running jobs.
    pub(crate) fn running(&self) -> impl Iterator<Item = &str> {
        self.running.iter().map(String::as_str)
    }

    fn add(&mut self, id: &str, state: JobState) {
        self.by_state[index(state)] += 1;
        if state.is_running() {
            self.running.insert(id.to_string());
        }
    }

    fn remove(&mut self, id: &str, state: JobState) {
        self.by_state[index(state)] -= 1;
        if state.is_running() {
            self.running.remove(id);
        }
    }
}

fn index(state: JobState) -> usize {
    state as usize
}

impl Jobs {
    /// Adds (or replaces) a job.
    pub(crate) fn insert(&mut self, id: String, job: Box<JobRecord>) {
        self.recount();
        self.tally.add(&id, job.state);
        if let Some(old) = self.map.insert(id.clone(), job) {
            self.tally.remove(&id, old.state);
        }
    }

    /// Removes a job.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Box<JobRecord>> {
        self.recount();
        let job = self.map.remove(id)?;
        self.tally.remove(id, job.state);
        Some(job)
    }

    /// A job to change; re-counted by the next call.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut JobRecord> {
        self.recount();
        let job = self.map.get_mut(id)?;
        self.lent = Some((job.id.clone(), job.state));
        Some(job)
    }

    /// The tally, with the last job lent re-counted.
    pub(crate) fn tally(&mut self) -> &Tally {
        self.recount();
        &self.tally
    }

    /// Re-counts the job [`Jobs::get_mut`] lent last, if its state changed meanwhile.
    fn recount(&mut self) {
        let Some((id, before)) = self.lent.take() else { return };
        let Some(job) = self.map.get(&id) else { return };
        if job.state != before {
            self.tally.remove(&id, before);
            self.tally.add(&id, job.state);
        }
    }
}

impl Deref for Jobs {
    type Target = HashMap<String, Box<JobRecord>>;

    fn deref(&self) -> &HashMap<String, Box<JobRecord>> {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JsonText, SubmittedSpec};

    fn job(id: &str) -> Box<JobRecord> {
        Box::new(JobRecord::queued(id.into(), SubmittedSpec::default(), JsonText::null(), 1, 0))
    }

    #[test]
    fn the_tally_follows_every_change() {
        let mut jobs = Jobs::default();
        jobs.insert("a".into(), job("a"));
        jobs.insert("b".into(), job("b"));
        assert_eq!(jobs.tally().count(JobState::Queued), 2);
        jobs.get_mut("a").unwrap().transition(JobState::Preflight, "granted").unwrap();
        assert_eq!((jobs.tally().count(JobState::Queued), jobs.tally().count(JobState::Preflight)), (1, 1));
        assert_eq!(jobs.tally().running().collect::<Vec<_>>(), ["a"]);
        let a = jobs.get_mut("a").unwrap();
        a.transition(JobState::Training, "training").unwrap();
        a.transition(JobState::Done, "complete").unwrap();
        assert_eq!(jobs.tally().count(JobState::Done), 1);
        assert_eq!(jobs.tally().count(JobState::Preflight), 0);
        assert_eq!(jobs.tally().running().count(), 0);
        jobs.insert("a".into(), job("a"));
        assert_eq!((jobs.tally().count(JobState::Queued), jobs.tally().count(JobState::Done)), (2, 0), "replaced");
        jobs.remove("b");
        assert_eq!(jobs.tally().count(JobState::Queued), 1);
        assert!(JobState::ALL.iter().enumerate().all(|(i, s)| index(*s) == i));
        let recount = JobState::ALL.map(|s| jobs.values().filter(|j| j.state == s).count());
        assert_eq!(recount, JobState::ALL.map(|s| jobs.tally().count(s)), "the tally equals a full count");
    }
}
