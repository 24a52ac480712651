//! Where a job is **queued**: the jobs waiting for a trainer, in dispatch order — priority
//! (high first), then submission order. The order is a key built from the job record in one
//! place ([`Queue::entry`]), so entering, leaving and a job's position always agree. Positions
//! are counted in one pass over the queue, never one pass per job ([`Queue::positions`],
//! [`Queue::from`]).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::job::JobRecord;

/// A queued job's place: priority (reversed, so higher comes first), submission sequence, id.
/// Built from the record by [`Queue::entry`], so it can be taken while the record is borrowed
/// and used once the borrow ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry(Reverse<i32>, u64, Arc<str>);
type Key = Entry;

impl Entry {
    /// The place of job `id` submitted `seq`-th with `priority` (a page cursor's).
    pub(crate) fn at(priority: i32, seq: u64, id: &str) -> Entry {
        Entry(Reverse(priority), seq, Arc::from(id))
    }

    /// Priority, submission sequence and id.
    pub(crate) fn parts(&self) -> (i32, u64, &str) {
        (self.0.0, self.1, &self.2)
    }
}

/// The queued jobs, in dispatch order.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    entries: BTreeSet<Key>,
}

impl Queue {
    /// `job`'s place in the queue.
    pub(crate) fn entry(job: &JobRecord) -> Entry {
        Queue::entry_with(job, Arc::from(job.id.as_str()))
    }

    /// [`Queue::entry`] with the job's id already shared (a queued job's id is kept once for the
    /// queue and the listing).
    pub(crate) fn entry_with(job: &JobRecord, id: Arc<str>) -> Entry {
        Entry(Reverse(job.priority), job.seq, id)
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
        Some(key.2.to_string())
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

    /// The queued jobs after `cursor` (from the first when `None`), in dispatch order, each with
    /// its 1-based position in the whole queue.
    pub(crate) fn from(&self, cursor: Option<&Entry>) -> impl Iterator<Item = (u32, &Entry)> {
        let (before, rest) = match cursor {
            None => (0, self.entries.range::<Entry, _>(..)),
            Some(c) => (self.entries.range(..=c).count(), self.entries.range((Bound::Excluded(c), Bound::Unbounded))),
        };
        rest.enumerate().map(move |(i, e)| ((before + i + 1) as u32, e))
    }

    /// The 1-based positions of the queued ones among `entries`, by job id, counted in one pass
    /// over the queue (up to the last of them).
    pub(crate) fn positions(&self, mut entries: Vec<Entry>) -> HashMap<String, u32> {
        entries.sort();
        let mut wanted = entries.into_iter().peekable();
        let mut found = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            while wanted.next_if(|w| w < e).is_some() {}
            match wanted.peek() {
                None => break,
                Some(w) if w == e => {
                    found.insert(e.2.to_string(), i as u32 + 1);
                    wanted.next();
                }
                Some(_) => {}
            }
        }
        found
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
        assert_eq!(q.from(None).map(|(_, e)| e.parts().2).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!((q.position(&b), q.position(&a), q.position(&c)), (1, 2, 3));
        assert_eq!(q.take_first(|id| id != "b"), Some("a".to_string()));
        assert_eq!(q.position(&a), 0, "taken out");
        let entry = Queue::entry(&c);
        assert!(q.remove(&entry) && !q.remove(&entry));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn pages_and_positions_are_counted_in_one_pass() {
        let jobs: Vec<JobRecord> = (0..10).map(|i| job(&format!("j{i}"), if i == 7 { 9 } else { 0 }, i)).collect();
        let mut q = Queue::default();
        for j in &jobs {
            q.push(Queue::entry(j));
        }
        // j7 has the higher priority: first.
        let first: Vec<(u32, &str)> = q.from(None).take(3).map(|(p, e)| (p, e.parts().2)).collect();
        assert_eq!(first, [(1, "j7"), (2, "j0"), (3, "j1")]);
        let cursor = Queue::entry(&jobs[1]);
        let next: Vec<(u32, &str)> = q.from(Some(&cursor)).take(2).map(|(p, e)| (p, e.parts().2)).collect();
        assert_eq!(next, [(4, "j2"), (5, "j3")]);
        let wanted = vec![Queue::entry(&jobs[9]), Queue::entry(&jobs[7]), Queue::entry(&job("gone", 0, 4))];
        let positions = q.positions(wanted);
        assert_eq!((positions["j9"], positions["j7"], positions.get("gone")), (10, 1, None));
    }
}
