//! Job events: what `WatchJob` streams and `events.jsonl` keeps. Each job has a gap-free
//! sequence; live watchers subscribe to a broadcast and catch up from the in-memory tail (or
//! the file) when they fall behind, so a slow watcher never slows the job or other watchers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::job::JobState;

/// What kind of event (written by its plain name, `"STATE"`, as in every JSON the system
/// writes; the lower-case names of older `events.jsonl` files read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The job changed state.
    #[serde(alias = "state")]
    State,
    /// Training progress.
    #[serde(alias = "progress")]
    Progress,
    /// A checkpoint was stored.
    #[serde(alias = "checkpoint")]
    Checkpoint,
    /// A log line.
    #[serde(alias = "log")]
    Log,
}

/// Training diagnostics of a progress event: the protocol's JSON form.
pub type StatsRecord = skippy_proto::json::TrainingStats;

/// One event, as stored (a line of `events.jsonl`, which reads as a
/// [`skippy_proto::json::Event`]) and streamed. The snake_case names of older files read too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Gap-free, from 1.
    pub sequence: u64,
    /// Kind.
    pub kind: EventKind,
    /// When (unix ms).
    #[serde(alias = "at_ms")]
    pub at_ms: i64,
    /// State after the event.
    pub state: JobState,
    /// Percent.
    pub percent: f64,
    /// Status line.
    pub message: String,
    /// Steps done.
    #[serde(alias = "steps_done")]
    pub steps_done: u64,
    /// Speed.
    #[serde(alias = "steps_per_sec")]
    pub steps_per_sec: f64,
    /// Diagnostics (progress events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsRecord>,
}

/// Events kept in memory per watched job for watchers to catch up from.
pub const TAIL_LEN: usize = 2048;

/// A job's live event channel and, while someone watches it, its recent tail.
///
/// An event becomes visible (tail, live watchers) only once it is in `events.jsonl`: a
/// watcher never sees a sequence number that a crash could hand out again.
///
/// Most jobs are never watched: the tail is kept only from the first watcher on, and a watcher
/// reads older events from the file ([`EventLog::since`] says when it must). The log leaves
/// memory with the job.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Recent written events, oldest first; kept only while the job has (had) a watcher.
    pub tail: VecDeque<EventRecord>,
    /// Live subscribers; made by the first watcher (most jobs are never watched).
    live: Option<broadcast::Sender<EventRecord>>,
    /// Events recorded but not yet appended to `events.jsonl`.
    pub unwritten: Vec<EventRecord>,
    /// A queued job's first event, published but not yet written while the job has no
    /// directory (see `Scheduler::flush_events`): kept as its time, the rest of it is always
    /// the same ([`EventLog::first_queued`]).
    pub deferred: Option<i64>,
    /// The job as of each unpublished state change (by its sequence), for the scheduler-wide
    /// feed ([`crate::feed`]).
    pub snapshots: Vec<(u64, std::sync::Arc<crate::scheduler::JobView>)>,
    /// The diagnostics of the newest event that carried them (the metrics' training gauges).
    latest_stats: Option<Box<StatsRecord>>,
    /// The job finished and its final manifest is written: it leaves memory once its events
    /// are written too.
    pub final_manifest: bool,
    /// Events are being written (taken from `unwritten`, not yet published).
    pub in_flight: bool,
}

impl EventLog {
    /// Records an event; it is written and then published by the event writer.
    pub fn push(&mut self, event: EventRecord) {
        if let Some(stats) = &event.stats {
            self.latest_stats = Some(Box::new(stats.clone()));
        }
        self.unwritten.push(event);
    }

    /// Makes written events visible: sent to live watchers (and kept in the tail while the job
    /// is watched).
    pub fn publish(&mut self, events: Vec<EventRecord>) {
        let Some(live) = &self.live else { return };
        for event in events {
            if self.tail.len() == TAIL_LEN {
                self.tail.pop_front();
            }
            self.tail.push_back(event.clone());
            // No receivers is fine: the watchers left.
            let _ = live.send(event);
        }
    }

    /// The diagnostics of the newest event that carries them (recorded or published).
    pub fn latest_stats(&self) -> Option<&StatsRecord> {
        self.latest_stats.as_deref()
    }

    /// A receiver of events published from now on.
    pub fn subscribe(&mut self) -> broadcast::Receiver<EventRecord> {
        self.live.get_or_insert_with(|| broadcast::channel(256).0).subscribe()
    }

    /// Events after `after` if the tail still holds all of them; `None`: read `events.jsonl`
    /// (and add [`EventLog::deferred`]).
    pub fn since(&self, after: u64) -> Option<Vec<EventRecord>> {
        match self.tail.front() {
            Some(first) if first.sequence <= after.saturating_add(1) => {
                Some(self.tail.iter().filter(|e| e.sequence > after).cloned().collect())
            }
            _ => None,
        }
    }

    /// Whether every event recorded is written and published.
    pub fn written(&self) -> bool {
        self.unwritten.is_empty() && self.deferred.is_none() && !self.in_flight
    }

    /// A queued job's first event, made at `at_ms` ("queued", sequence 1).
    pub fn first_queued(at_ms: i64) -> EventRecord {
        EventRecord {
            sequence: 1,
            kind: EventKind::State,
            at_ms,
            state: JobState::Queued,
            percent: 0.0,
            message: "queued".into(),
            steps_done: 0,
            steps_per_sec: 0.0,
            stats: None,
        }
    }

    /// The published event not yet written, if any (see [`EventLog::deferred`]).
    pub fn deferred_event(&self) -> Option<EventRecord> {
        self.deferred.map(EventLog::first_queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_jsonl_line_is_the_one_json_form_and_older_lines_still_read() {
        let event = EventRecord {
            sequence: 3,
            kind: EventKind::Progress,
            at_ms: 1_700_000_000_000,
            state: JobState::Training,
            percent: 40.0,
            message: "training".into(),
            steps_done: 4096,
            steps_per_sec: 9000.0,
            stats: Some(StatsRecord { entropy: 0.6, best_validation_sharpe: Some(0.4), ..Default::default() }),
        };
        let line = serde_json::to_string(&event).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!((&v["kind"], &v["state"], &v["stepsDone"]), (&"PROGRESS".into(), &"TRAINING".into(), &4096.into()));
        assert_eq!(v["stats"]["bestValidationSharpe"], 0.4);
        // What the REST gateway and `watch --json` write reads the same line.
        let api: skippy_proto::json::Event = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (api.sequence, api.kind, api.state),
            (3, skippy_proto::json::EventKind::Progress, skippy_proto::json::JobState::Training)
        );
        assert_eq!(serde_json::from_str::<EventRecord>(&line).unwrap(), event);

        let old = r#"{"sequence":1,"at_ms":5,"kind":"state","state":"QUEUED","percent":0.0,"message":"queued","steps_done":0,"steps_per_sec":0.0,"stats":{"episode_reward":1.0,"policy_loss":0.0,"value_loss":0.0,"entropy":0.5,"approx_kl":0.0,"clip_fraction":0.0,"explained_variance":0.0}}"#;
        let read: EventRecord = serde_json::from_str(old).unwrap();
        assert_eq!((read.kind, read.at_ms, read.stats.map(|s| s.entropy)), (EventKind::State, 5, Some(0.5)));
    }
}
