//! A job's events on their way out: recorded under the state lock ([`push_event`]: a number,
//! the tail, the file queue), then written to `events.jsonl` in order and published to watchers
//! and the feed by the one event writer ([`Scheduler::write_events`]).

use std::sync::Arc;

use super::{JobView, Scheduler, State, position};
use crate::events::{EventKind, EventLog, EventRecord, StatsRecord};
use crate::job::{JsonText, now_ms};

/// Threads that write one step's event files: one at a time, a real disk's fsyncs (a few
/// milliseconds each) let jobs finish faster than their last events are written, and finished
/// jobs wait in memory for them.
const EVENT_WRITERS: usize = 16;

impl Scheduler {
    /// The event writer's step: appends every pending event to its job's `events.jsonl`, in
    /// sequence order (this is the only writer of event files), then publishes them.
    ///
    /// One exception keeps submissions cheap: a job that is still only a journal line gets no
    /// directory for its first event ("queued", number 1). That event is published at once and
    /// written with the job's next ones; a crash before then replays the job from the journal
    /// with the same first event, so no number is ever handed out twice.
    pub(crate) async fn flush_events(&self) {
        let batches: Vec<(String, Vec<EventRecord>, usize)> = {
            let mut st = self.lock();
            let dirty = std::mem::take(&mut st.dirty_events);
            let mut batches = Vec::with_capacity(dirty.len());
            for id in dirty {
                let Some(log) = st.events.get_mut(&id) else { continue };
                let events = std::mem::take(&mut log.unwritten);
                if events.is_empty() {
                    continue;
                }
                if log.deferred.is_none()
                    && events.len() == 1
                    && events[0] == EventLog::first_queued(events[0].at_ms)
                    && self.store.is_journal_only(&id)
                {
                    log.deferred = Some(events[0].at_ms);
                    self.feed.publish(&id, &events, &mut log.snapshots);
                    // A queued job keeps nothing it does not need while it waits.
                    log.snapshots = Vec::new();
                    log.publish(events);
                    continue;
                }
                let mut all: Vec<EventRecord> = log.deferred.take().map(EventLog::first_queued).into_iter().collect();
                let published = all.len();
                all.extend(events);
                // Not yet written: the job stays in memory until they are published.
                log.in_flight = true;
                batches.push((id, all, published));
            }
            batches
        };
        if batches.is_empty() {
            return;
        }
        let ids: Vec<String> = batches.iter().map(|(id, _, _)| id.clone()).collect();
        let store = self.store.clone();
        // Jobs' files are independent: they are written (each fsynced) by several threads, whose
        // fsyncs the file system commits together, and published in the batch's order.
        let written = tokio::task::spawn_blocking(move || {
            let chunk = batches.len().div_ceil(EVENT_WRITERS).max(1);
            std::thread::scope(|scope| {
                let writers: Vec<_> = batches
                    .chunks(chunk)
                    .map(|jobs| {
                        let store = &store;
                        scope.spawn(move || {
                            for (id, events, _) in jobs {
                                if let Err(e) = store.append_events(id, events) {
                                    tracing::warn!(job_id = %id, error = %e, "could not append events");
                                }
                            }
                        })
                    })
                    .collect();
                for writer in writers {
                    let _ = writer.join();
                }
            });
            batches
        })
        .await
        .unwrap_or_default();
        let mut st = self.lock();
        for (id, mut events, published) in written {
            if let Some(log) = st.events.get_mut(&id) {
                let events = events.split_off(published);
                self.feed.publish(&id, &events, &mut log.snapshots);
                if log.snapshots.is_empty() {
                    log.snapshots = Vec::new();
                }
                log.publish(events);
            }
        }
        for id in ids {
            if let Some(log) = st.events.get_mut(&id) {
                log.in_flight = false;
            }
            // A finished job whose final manifest is written leaves memory now.
            self.retire(&mut st, &id);
        }
    }

    /// Runs the event writer until `stop` changes.
    pub(crate) async fn write_events(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let pending = self.lock().events_pending.clone();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = pending.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            self.flush_events().await;
            self.write_finished_index().await;
        }
    }

    /// Appends the finished index's lines of the jobs that left memory since the last call.
    pub(crate) async fn write_finished_index(&self) {
        if !self.store.finished_index_pending() {
            return;
        }
        let store = self.store.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.write_finished_index()).await {
            // The jobs' directories are read at the next start-up instead.
            tracing::warn!(error = %e, "could not append to the finished index");
        }
    }
}

/// Records an event for a job (sequence, tail, live watchers, file queue).
pub(crate) fn push_event(st: &mut State, id: &str, kind: EventKind, message: String, stats: Option<StatsRecord>) {
    let Some(job) = st.jobs.get_mut(id) else { return };
    job.last_sequence += 1;
    // The job as of this change, for the scheduler-wide feed (which shows it once published),
    // without its resolved spec: the feed leaves it out, so it is not copied.
    let record = (kind == EventKind::State).then(|| {
        let spec = std::mem::replace(&mut job.resolved_spec, JsonText::null());
        let record = job.clone();
        job.resolved_spec = spec;
        record
    });
    let job = &st.jobs[id];
    let snapshot = record.map(|record| Arc::new(JobView { queue_position: position(st, &record), record }));
    let event = EventRecord {
        sequence: job.last_sequence,
        at_ms: now_ms(),
        kind,
        state: job.state,
        percent: job.progress.percent,
        message,
        steps_done: job.progress.steps_done,
        steps_per_sec: job.progress.steps_per_sec,
        stats,
    };
    let log = st.events.entry(id.to_string()).or_default();
    let dirty = log.unwritten.is_empty();
    if let Some(snapshot) = snapshot {
        log.snapshots.push((event.sequence, snapshot));
    }
    log.push(event);
    if dirty {
        st.dirty_events.push(id.to_string());
    }
    st.events_pending.notify_one();
}
