//! The scheduler-wide feed of job changes: what `WatchJobs` and `GET /api/training/events`
//! stream to clients that follow many jobs (the dashboard's list, its queue and trainer panels).
//!
//! Every state change of every job (a new job's QUEUED included) and its progress, at most one
//! progress event per job every [`PROGRESS_EVERY_MS`], enter one ring in the order they are
//! published, numbered by a scheduler-wide sequence. Entries are made when a job's events are
//! published (after `events.jsonl` has them), so the feed never shows an event a crash could
//! number again, and a job's events appear in its own order.
//!
//! Readers never hold the scheduler back: each one copies entries out of the ring at its own
//! pace, and the ring keeps the newest [`FEED_LEN`]. A reader that falls further behind than
//! that, or resumes a sequence of an earlier scheduler run (another epoch), is told to read the
//! jobs again (a RESET) and goes on from the ring's head.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::events::{EventKind, EventRecord};
use crate::scheduler::JobView;

/// Entries the feed keeps for readers that fall behind or reconnect.
pub const FEED_LEN: usize = 4096;

/// A job's progress enters the feed at most this often (state changes always do).
pub const PROGRESS_EVERY_MS: i64 = 500;

/// One job change in the feed.
#[derive(Debug)]
pub struct FeedEntry {
    /// Scheduler-wide position, from 1, gap-free.
    pub sequence: u64,
    /// The job.
    pub job_id: String,
    /// The job's event (its own sequence).
    pub event: EventRecord,
    /// For state changes: the job as of this event.
    pub job: Option<Arc<JobView>>,
}

/// What a reader gets from [`Feed::read_after`].
#[derive(Debug)]
pub enum Read {
    /// The entries after the reader's position (possibly none yet), oldest first.
    Entries(Vec<Arc<FeedEntry>>),
    /// The entries right after the reader's position are gone: it must start over from
    /// `head` with a fresh read of the jobs.
    Gap {
        /// The newest sequence, where the reader continues.
        head: u64,
    },
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Arc<FeedEntry>>,
    /// The newest sequence handed out (0: none yet).
    head: u64,
    /// When each running job's progress last entered the feed (dropped when the job ends).
    last_progress: HashMap<String, i64>,
}

/// The feed: a bounded ring of job changes and a signal of its head.
#[derive(Debug)]
pub struct Feed {
    epoch: String,
    ring: Mutex<Ring>,
    head: watch::Sender<u64>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            epoch: format!("{:016x}", rand::random::<u64>()),
            ring: Mutex::new(Ring::default()),
            head: watch::channel(0).0,
        }
    }
}

impl Feed {
    /// This scheduler run's epoch: sequences of another epoch mean nothing here.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a job's just-published events: every state change, with its snapshot from
    /// `snapshots` (by the job's event sequence), and progress no more often than
    /// [`PROGRESS_EVERY_MS`]. Checkpoint and log events stay in the job's own stream.
    pub fn publish(&self, job_id: &str, events: &[EventRecord], snapshots: &mut Vec<(u64, Arc<JobView>)>) {
        let head = {
            let mut ring = self.ring();
            let before = ring.head;
            for event in events {
                match event.kind {
                    EventKind::State => {
                        if event.state.is_terminal() {
                            ring.last_progress.remove(job_id);
                        }
                    }
                    EventKind::Progress => {
                        let last = ring.last_progress.get(job_id).copied();
                        if last.is_some_and(|at| event.at_ms - at < PROGRESS_EVERY_MS) {
                            continue;
                        }
                        ring.last_progress.insert(job_id.to_string(), event.at_ms);
                    }
                    EventKind::Checkpoint | EventKind::Log => continue,
                }
                let job =
                    snapshots.iter().position(|(seq, _)| *seq == event.sequence).map(|at| snapshots.swap_remove(at).1);
                ring.head += 1;
                let entry = FeedEntry { sequence: ring.head, job_id: job_id.to_string(), event: event.clone(), job };
                if ring.entries.len() == FEED_LEN {
                    ring.entries.pop_front();
                }
                ring.entries.push_back(Arc::new(entry));
            }
            (ring.head != before).then_some(ring.head)
        };
        if let Some(head) = head {
            self.head.send_replace(head);
        }
    }

    /// The newest sequence.
    pub fn head(&self) -> u64 {
        self.ring().head
    }

    /// A receiver that changes whenever entries are added.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Up to `max` entries after `after`, or a [`Read::Gap`] if the ring no longer holds the
    /// next one (or `after` is past the head: a position this run never handed out).
    pub fn read_after(&self, after: u64, max: usize) -> Read {
        let ring = self.ring();
        if after > ring.head {
            return Read::Gap { head: ring.head };
        }
        let oldest = ring.entries.front().map_or(ring.head + 1, |e| e.sequence);
        if after + 1 < oldest {
            return Read::Gap { head: ring.head };
        }
        let skip = (after + 1 - oldest) as usize;
        Read::Entries(ring.entries.iter().skip(skip).take(max).cloned().collect())
    }
}

/// Entries a reader takes from the ring at once.
const READ_BATCH: usize = 256;

/// The most job ids a reader may filter on.
pub const MAX_FILTER_JOBS: usize = 1000;

/// Which entries a reader wants.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only these jobs (empty: all).
    pub job_ids: std::collections::HashSet<String>,
    /// Only state changes.
    pub states_only: bool,
}

impl Filter {
    fn wants(&self, entry: &FeedEntry) -> bool {
        (self.job_ids.is_empty() || self.job_ids.contains(&entry.job_id))
            && (!self.states_only || entry.event.kind == EventKind::State)
    }
}

/// What a reader hands its client.
#[derive(Debug, Clone)]
pub enum Item {
    /// Read the jobs again, then apply what follows (which continues after `head`).
    Reset {
        /// The sequence the entries that follow continue from.
        head: u64,
        /// Why.
        reason: String,
    },
    /// A job change.
    Change(Arc<FeedEntry>),
}

/// One client's position in the feed.
#[derive(Debug)]
pub struct Reader {
    feed: Arc<Feed>,
    position: u64,
    reset: Option<String>,
    filter: Filter,
    changed: watch::Receiver<u64>,
}

impl Feed {
    /// A reader after `after` of `epoch`: from there when the ring still holds what follows it,
    /// otherwise from the head, starting with a reset that says why.
    pub fn reader(self: &Arc<Feed>, after: u64, epoch: &str, filter: Filter) -> Reader {
        // Subscribed before anything is read, so no entry added from here on goes unnoticed.
        let changed = self.subscribe();
        let head = self.head();
        let reset = if epoch.is_empty() {
            Some("a new watch: read the jobs, then apply the events that follow".to_string())
        } else if epoch != self.epoch {
            Some(format!(
                "epoch {:?} is not this scheduler run's ({}): the scheduler restarted; read the jobs again",
                epoch.chars().take(64).collect::<String>(),
                self.epoch
            ))
        } else if let Read::Gap { .. } = self.read_after(after, 0) {
            Some(if after > head {
                format!("sequence {after} was never handed out (the newest is {head}); read the jobs again")
            } else {
                format!("sequence {after} is older than the {FEED_LEN} changes kept; read the jobs again")
            })
        } else {
            None
        };
        let position = if reset.is_some() { head } else { after };
        Reader { feed: self.clone(), position, reset, filter, changed }
    }
}

impl Reader {
    /// The next items for the client, waiting until there are some. A reader that fell further
    /// behind than the ring gets a reset and goes on from the head.
    pub async fn next(&mut self) -> Vec<Item> {
        if let Some(reason) = self.reset.take() {
            return vec![Item::Reset { head: self.position, reason }];
        }
        loop {
            self.changed.borrow_and_update();
            match self.feed.read_after(self.position, READ_BATCH) {
                Read::Gap { head } => {
                    let reason = format!(
                        "this watch fell more than {FEED_LEN} changes behind after sequence {}; read the jobs again",
                        self.position
                    );
                    self.position = head;
                    return vec![Item::Reset { head, reason }];
                }
                Read::Entries(entries) if !entries.is_empty() => {
                    self.position = entries.last().map_or(self.position, |e| e.sequence);
                    let items: Vec<Item> =
                        entries.into_iter().filter(|e| self.filter.wants(e)).map(Item::Change).collect();
                    if !items.is_empty() {
                        return items;
                    }
                }
                Read::Entries(_) => {
                    if self.changed.changed().await.is_err() {
                        // The feed is gone (the scheduler was dropped): nothing more will come.
                        return std::future::pending().await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;

    fn event(sequence: u64, kind: EventKind, state: JobState, at_ms: i64) -> EventRecord {
        EventRecord {
            sequence,
            at_ms,
            kind,
            state,
            percent: 0.0,
            message: String::new(),
            steps_done: 0,
            steps_per_sec: 0.0,
            stats: None,
        }
    }

    fn sequences(read: Read) -> Vec<(u64, String, u64)> {
        match read {
            Read::Entries(e) => e.iter().map(|e| (e.sequence, e.job_id.clone(), e.event.sequence)).collect(),
            Read::Gap { head } => panic!("a gap (head {head}) where entries were expected"),
        }
    }

    #[test]
    fn state_changes_of_all_jobs_are_numbered_in_one_order_and_progress_is_throttled() {
        let feed = Feed::default();
        feed.publish("a", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        feed.publish("b", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        feed.publish(
            "a",
            &[
                event(2, EventKind::State, JobState::Training, 10),
                event(3, EventKind::Progress, JobState::Training, 20),
                event(4, EventKind::Progress, JobState::Training, 20 + PROGRESS_EVERY_MS - 1),
                event(5, EventKind::Checkpoint, JobState::Training, 30),
                event(6, EventKind::Progress, JobState::Training, 20 + PROGRESS_EVERY_MS),
                event(7, EventKind::State, JobState::Done, 40 + PROGRESS_EVERY_MS),
            ],
            &mut Vec::new(),
        );
        let all = sequences(feed.read_after(0, 100));
        let expected = [(1, "a", 1), (2, "b", 1), (3, "a", 2), (4, "a", 3), (5, "a", 6), (6, "a", 7)]
            .map(|(g, j, s)| (g, j.into(), s));
        assert_eq!(all, expected);
        assert_eq!(feed.head(), 6);
        assert_eq!(sequences(feed.read_after(4, 1)), [(5, "a".to_string(), 6)], "reads resume and are bounded");
        assert!(sequences(feed.read_after(6, 100)).is_empty(), "nothing after the head yet");
        assert!(feed.ring().last_progress.is_empty(), "an ended job leaves no throttle state behind");
    }

    #[test]
    fn a_reader_older_than_the_ring_or_past_its_head_gets_a_gap() {
        let feed = Feed::default();
        let events: Vec<EventRecord> =
            (1..=FEED_LEN as u64 + 10).map(|s| event(s, EventKind::State, JobState::Training, 0)).collect();
        feed.publish("a", &events, &mut Vec::new());
        let head = FEED_LEN as u64 + 10;
        assert!(matches!(feed.read_after(0, 10), Read::Gap { head: h } if h == head));
        assert!(matches!(feed.read_after(9, 10), Read::Gap { .. }), "entry 10 was dropped");
        assert_eq!(sequences(feed.read_after(10, 1))[0].0, 11, "entry 11 is the oldest kept");
        assert!(matches!(feed.read_after(head + 1, 10), Read::Gap { .. }), "a position never handed out");
    }

    fn items(items: Vec<Item>) -> Vec<String> {
        items
            .into_iter()
            .map(|i| match i {
                Item::Reset { head, .. } => format!("reset@{head}"),
                Item::Change(e) => format!("{}:{}#{}", e.sequence, e.job_id, e.event.sequence),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_reader_resumes_without_gaps_filters_and_is_reset_across_epochs_and_gaps() {
        let feed = Arc::new(Feed::default());
        feed.publish("a", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        let mut fresh = feed.reader(0, "", Filter::default());
        assert_eq!(items(fresh.next().await), ["reset@1"], "a new watch starts with a reset at the head");
        feed.publish("b", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        feed.publish("a", &[event(2, EventKind::Progress, JobState::Training, 0)], &mut Vec::new());
        assert_eq!(items(fresh.next().await), ["2:b#1", "3:a#2"]);

        let mut resumed = feed.reader(1, feed.epoch(), Filter::default());
        assert_eq!(items(resumed.next().await), ["2:b#1", "3:a#2"], "a resume misses nothing and repeats nothing");
        let only_a = Filter { job_ids: ["a".to_string()].into(), states_only: true };
        let mut filtered = feed.reader(0, feed.epoch(), only_a);
        assert_eq!(items(filtered.next().await), ["1:a#1"], "b and a's progress are filtered out");

        let mut other_run = feed.reader(3, "0000000000000000", Filter::default());
        assert_eq!(items(other_run.next().await), ["reset@3"]);
        let mut future = feed.reader(99, feed.epoch(), Filter::default());
        assert_eq!(items(future.next().await), ["reset@3"]);

        // A waiting reader wakes for the next entry.
        let waiting = tokio::spawn(async move { items(fresh.next().await) });
        tokio::task::yield_now().await;
        feed.publish("c", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        assert_eq!(waiting.await.unwrap(), ["4:c#1"]);

        // A reader that falls behind the ring is reset to the head, and goes on from there.
        let mut slow = feed.reader(4, feed.epoch(), Filter::default());
        let flood: Vec<EventRecord> =
            (2..=FEED_LEN as u64 + 2).map(|s| event(s, EventKind::State, JobState::Training, 0)).collect();
        feed.publish("c", &flood, &mut Vec::new());
        let head = feed.head();
        assert_eq!(items(slow.next().await), [format!("reset@{head}")]);
        feed.publish("d", &[event(1, EventKind::State, JobState::Queued, 0)], &mut Vec::new());
        assert_eq!(items(slow.next().await), [format!("{}:d#1", head + 1)]);
    }

    #[test]
    fn the_head_signal_moves_only_when_entries_are_added() {
        let feed = Feed::default();
        let rx = feed.subscribe();
        feed.publish("a", &[event(1, EventKind::Log, JobState::Training, 0)], &mut Vec::new());
        assert!(!rx.has_changed().unwrap(), "a log line is not a feed entry");
        feed.publish("a", &[event(2, EventKind::State, JobState::Training, 0)], &mut Vec::new());
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow(), 1);
    }
}
