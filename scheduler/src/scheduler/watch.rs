//! Following one job (`WatchJob`): its snapshot, the events the watcher has not seen, then live
//! events until the job ends or the watcher leaves. A watcher that falls behind the live channel
//! catches up from the log: no gaps, no repeats. The gRPC adapter only converts what arrives.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::{JobView, Result, Scheduler, SchedulerError};
use crate::events::{EventKind, EventRecord};

/// What a watcher receives, in order: one snapshot, then events.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// The job as it is when the watch begins; `sequence` is the last event the watcher has
    /// (its `after`, or the job's last event if that is older).
    Snapshot {
        /// The job.
        view: JobView,
        /// The sequence the snapshot stands at.
        sequence: u64,
    },
    /// One event; `job` is the final job with the event that ends it (the stream ends there).
    Event {
        /// The event.
        event: EventRecord,
        /// The finished job, with a terminal state change.
        job: Option<JobView>,
    },
}

impl Scheduler {
    /// Follows job `id` from after event `after`. Items arrive on the returned receiver until
    /// the job ends, the receiver is dropped, or the scheduler stops.
    pub async fn watch(self: &Arc<Self>, id: &str, after: u64) -> Result<mpsc::Receiver<WatchItem>> {
        let (view, backlog, live) = self.subscribe(id, after).await?;
        let (tx, rx) = mpsc::channel(64);
        let scheduler = self.clone();
        tokio::spawn(async move {
            scheduler.metrics.watch_streams.inc();
            scheduler.follow(view, after, backlog, live, tx).await;
            scheduler.metrics.watch_streams.dec();
        });
        Ok(rx)
    }

    /// The snapshot, the backlog after `after`, and a live receiver (which may overlap the
    /// backlog: sequences already seen are skipped). A finished job that has left memory has no
    /// live receiver: its events are all in its file.
    async fn subscribe(
        &self,
        id: &str,
        after: u64,
    ) -> Result<(JobView, Vec<EventRecord>, Option<broadcast::Receiver<EventRecord>>)> {
        let view = self.view(id).await?;
        // Numbers are never reused, so a watcher cannot have seen more than the job has had.
        if after > view.record.last_sequence {
            return Err(SchedulerError::Invalid(format!(
                "after_sequence = {after} is past the job's last event ({})",
                view.record.last_sequence
            )));
        }
        // Subscribed before the backlog is read: an event published meanwhile comes live.
        let live = self.lock().events.get_mut(id).map(|log| log.subscribe());
        let backlog = self.events_after(id, after).await?;
        Ok((view, backlog, live))
    }

    /// Events after `after`: from the in-memory tail when it reaches back that far, else from
    /// `events.jsonl` (and the events published before the file had them).
    async fn events_after(&self, id: &str, after: u64) -> Result<Vec<EventRecord>> {
        let (tail, deferred) = match self.lock().events.get(id) {
            Some(log) => (log.since(after), log.deferred_event()),
            None => (None, None),
        };
        if let Some(events) = tail {
            return Ok(events);
        }
        let job = id.to_string();
        let mut events =
            self.on_store(format!("reading the events of {id}"), move |store| store.read_events(&job, after)).await?;
        let last = events.last().map_or(0, |e| e.sequence);
        events.extend(deferred.into_iter().filter(|e| e.sequence > after.max(last)));
        Ok(events)
    }

    /// Sends the snapshot, the backlog, then live events.
    async fn follow(
        &self,
        view: JobView,
        after: u64,
        backlog: Vec<EventRecord>,
        live: Option<broadcast::Receiver<EventRecord>>,
        tx: mpsc::Sender<WatchItem>,
    ) {
        let id = view.record.id.clone();
        let (state, last_sequence) = (view.record.state, view.record.last_sequence);
        if tx.send(WatchItem::Snapshot { view, sequence: after.min(last_sequence) }).await.is_err() {
            return;
        }
        let mut follower = Follower { scheduler: self, id: &id, tx: &tx, last: after };
        if follower.send_all(backlog).await.is_break() {
            return;
        }
        if state.is_terminal() && follower.last >= last_sequence {
            return;
        }
        // A finished job out of memory: its file had every event.
        let Some(mut live) = live else { return };
        let mut stopping = self.stopping();
        if *stopping.borrow() {
            return;
        }
        loop {
            let next = tokio::select! {
                r = live.recv() => r,
                _ = tx.closed() => return,
                _ = stopping.changed() => return,
            };
            let events = match next {
                Ok(e) if e.sequence <= follower.last => continue,
                Ok(e) if e.sequence == follower.last + 1 => vec![e],
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    match self.events_after(&id, follower.last).await {
                        Ok(events) => events,
                        Err(_) => return,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if follower.send_all(events).await.is_break() {
                return;
            }
        }
    }
}

/// Where one watcher stands.
struct Follower<'a> {
    scheduler: &'a Scheduler,
    id: &'a str,
    tx: &'a mpsc::Sender<WatchItem>,
    /// The last sequence sent.
    last: u64,
}

impl Follower<'_> {
    /// Sends the events after `last`, in order; breaks when the watcher left or the job ended.
    async fn send_all(&mut self, events: Vec<EventRecord>) -> std::ops::ControlFlow<()> {
        for event in events {
            if event.sequence <= self.last {
                continue;
            }
            self.last = event.sequence;
            let terminal = event.kind == EventKind::State && event.state.is_terminal();
            let job = if terminal { self.scheduler.view(self.id).await.ok() } else { None };
            if self.tx.send(WatchItem::Event { event, job }).await.is_err() || terminal {
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}
