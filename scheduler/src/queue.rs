//! Where a job is **queued**: the jobs waiting for a trainer, in dispatch order — priority
//! (high first), then submission order. The order is a key built from the job record in one
//! place ([`Queue::key`]), so entering, leaving and a job's position always agree.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::ops::Bound;

use crate::job::JobRecord;

/// A queued job's place: priority (reversed, so higher comes first), submission sequence, id.
/// Built from the record by [`Queue::entry`], so it can be taken while the record is borrowed
/// and used once the borrow ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry(Reverse<i32>, u64, String);
type Key = Entry;

/// The queued jobs, in dispatch order.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    entries: BTreeSet<Key>,
}

impl Queue {
    /// `job`'s place in the queue.
    pub(crate) fn entry(job: &JobRecord) -> Entry {
        Entry(Reverse(job.priority), job.seq, job.id.clone())
    }

    /// Puts a job in its place (again: a re-queued job keeps its submission order).
    pub(crate) fn push(&mut self, entry: Entry) {
        self.entries.insert(entry);
    }

    /// Takes a job out; false when it was not queued.
    pub(crate) fn remove(&mut self, entry: &Entry) -> bool {
        self.entries.remove(entry)
    }

    /// Takes out and returns the id of the first job, in dispatch order, that `eligible` accepts.
    pub(crate) fn take_first(&mut self, mut eligible: impl FnMut(&str) -> bool) -> Option<String> {
        let key = self.entries.iter().find(|Entry(_, _, id)| eligible(id)).cloned()?;
        self.entries.remove(&key);
        Some(key.2)
    }

    /// Ids in dispatch order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|Entry(_, _, id)| id.as_str())
    }

    /// 1-based position of a queued `job` (0 when it is not queued).
    pub(crate) fn position(&self, job: &JobRecord) -> u32 {
        let key = Self::entry(job);
        if !self.entries.contains(&key) {
            return 0;
        }
        // Most lookups are of jobs near the back (just submitted): count the shorter side.
        let behind = self.entries.range((Bound::Excluded(&key), Bound::Unbounded)).count();
        (self.entries.len() - behind) as u32
    }

    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JsonText, SubmittedSpec};

    fn job(id: &str, priority: i32, seq: u64) -> JobRecord {
        let mut job = JobRecord::queued(id.into(), SubmittedSpec::default(), JsonText::null(), 1, 0);
        job.priority = priority;
        job.seq = seq;
        job
    }

    #[test]
    fn priority_first_then_submission_order() {
        let (a, b, c) = (job("a", 0, 1), job("b", 5, 2), job("c", 0, 3));
        let mut q = Queue::default();
        for j in [&a, &b, &c] {
            q.push(Queue::entry(j));
        }
        assert_eq!(q.ids().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!((q.position(&b), q.position(&a), q.position(&c)), (1, 2, 3));
        assert_eq!(q.take_first(|id| id != "b"), Some("a".to_string()));
        assert_eq!(q.position(&a), 0, "taken out");
        let entry = Queue::entry(&c);
        assert!(q.remove(&entry) && !q.remove(&entry));
        assert_eq!(q.len(), 1);
    }
}
