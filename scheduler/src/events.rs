//! Job events: what `WatchJob` streams and `events.jsonl` keeps. Each job has a gap-free
//! sequence; live watchers subscribe to a broadcast and catch up from the in-memory tail (or
//! the file) when they fall behind, so a slow watcher never slows the job or other watchers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::job::JobState;

/// What kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The job changed state.
    State,
    /// Training progress.
    Progress,
    /// A checkpoint was stored.
    Checkpoint,
    /// A log line.
    Log,
}

/// Training diagnostics of a progress event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsRecord {
    /// Mean recent episode reward.
    pub episode_reward: f64,
    /// Policy loss.
    pub policy_loss: f64,
    /// Value loss.
    pub value_loss: f64,
    /// Entropy.
    pub entropy: f64,
    /// Approximate KL.
    pub approx_kl: f64,
    /// Clip fraction.
    pub clip_fraction: f64,
    /// Explained variance.
    pub explained_variance: f64,
    /// Best validation Sharpe.
    pub best_validation_sharpe: Option<f64>,
}

/// One event, as stored and streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Gap-free, from 1.
    pub sequence: u64,
    /// When (unix ms).
    pub at_ms: i64,
    /// Kind.
    pub kind: EventKind,
    /// State after the event.
    pub state: JobState,
    /// Percent.
    pub percent: f64,
    /// Status line.
    pub message: String,
    /// Steps done.
    pub steps_done: u64,
    /// Speed.
    pub steps_per_sec: f64,
    /// Diagnostics (progress events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsRecord>,
}

/// Events kept in memory per job for watchers to catch up from.
pub const TAIL_LEN: usize = 2048;

/// A job's live event channel and recent tail.
///
/// An event becomes visible (tail, live watchers) only once it is in `events.jsonl`: a
/// watcher never sees a sequence number that a crash could hand out again.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Recent written events, oldest first.
    pub tail: VecDeque<EventRecord>,
    /// Live subscribers; made by the first watcher (most jobs are never watched).
    live: Option<broadcast::Sender<EventRecord>>,
    /// Events recorded but not yet appended to `events.jsonl`.
    pub unwritten: Vec<EventRecord>,
    /// Published events still to be written: a queued job's first event, while the job has no
    /// directory (see `Scheduler::flush_events`).
    pub deferred: Vec<EventRecord>,
    /// The job as of each unpublished state change (by its sequence), for the scheduler-wide
    /// feed ([`crate::feed`]).
    pub snapshots: Vec<(u64, std::sync::Arc<crate::scheduler::JobView>)>,
}

impl EventLog {
    /// Records an event; it is written and then published by the event writer.
    pub fn push(&mut self, event: EventRecord) {
        self.unwritten.push(event);
    }

    /// Makes written events visible: kept in the tail and sent to live watchers.
    pub fn publish(&mut self, events: Vec<EventRecord>) {
        for event in events {
            if self.tail.len() == TAIL_LEN {
                self.tail.pop_front();
            }
            self.tail.push_back(event.clone());
            if let Some(live) = &self.live {
                // No receivers is fine: nobody is watching.
                let _ = live.send(event);
            }
        }
    }

    /// The diagnostics of the newest event that carries them (recorded or published).
    pub fn latest_stats(&self) -> Option<&StatsRecord> {
        self.unwritten.iter().rev().chain(self.tail.iter().rev()).find_map(|e| e.stats.as_ref())
    }

    /// A receiver of events published from now on.
    pub fn subscribe(&mut self) -> broadcast::Receiver<EventRecord> {
        self.live.get_or_insert_with(|| broadcast::channel(256).0).subscribe()
    }

    /// Events after `after` if the tail still holds all of them.
    pub fn since(&self, after: u64) -> Option<Vec<EventRecord>> {
        match self.tail.front() {
            Some(first) if first.sequence > after.saturating_add(1) => None,
            _ => Some(self.tail.iter().filter(|e| e.sequence > after).cloned().collect()),
        }
    }
}
