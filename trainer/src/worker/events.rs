//! A job's event stream: trainer events go up a bidirectional `StreamEvents` call and the
//! scheduler's commands (cancel, lease lost) come down it. A broken stream is reopened with
//! back-off; events produced meanwhile are dropped, but the new stream starts with the latest
//! one (which carries the full progress state, and any state change that was not sent).

use std::sync::Arc;
use std::time::Duration;

use skippy_proto::v1::{JobState, Lease, TrainerCommand, TrainerEvent};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::backoff::Backoff;
use super::connection::{Client, Failure, classify, describe};
use super::observer::StopFlags;

/// Events queued on one stream before further progress events are dropped.
const STREAM_BUFFER: usize = 16;

/// How long a closing stream waits for the scheduler to end its side.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A stream that lived this long was healthy: the back-off starts over after it breaks.
const HEALTHY: Duration = Duration::from_secs(10);

/// Forwards `events` of `lease`'s job until the sender side closes (the job ended), applying
/// commands to `flags`. Ends early when the lease is lost.
pub async fn forward(client: Client, lease: Lease, mut events: mpsc::Receiver<TrainerEvent>, flags: Arc<StopFlags>) {
    let mut backoff = Backoff::default();
    let mut outage = false;
    let mut relay = Relay::default();
    loop {
        let (out, out_rx) = mpsc::channel(STREAM_BUFFER);
        // A new stream starts with where the job is (the scheduler also learns whom to send
        // commands to from a stream's first event).
        relay.resume(&out);
        let mut call_client = client.clone();
        let mut call = Box::pin(async move { call_client.stream_events(ReceiverStream::new(out_rx)).await });
        let mut commands: Option<Streaming<TrainerCommand>> = None;
        let opened_at = tokio::time::Instant::now();
        let broken: Status = loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => relay.offer(&out, event),
                    None => {
                        // The job ended: half-close, and let the scheduler end its side.
                        drop(out);
                        if let Some(mut commands) = commands {
                            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                                while let Ok(Some(command)) = commands.message().await {
                                    apply(&lease, &command, &flags);
                                }
                            })
                            .await;
                        }
                        return;
                    }
                },
                opened = &mut call, if commands.is_none() => match opened {
                    Ok(response) => {
                        commands = Some(response.into_inner());
                        if outage {
                            tracing::info!("event stream reopened");
                            outage = false;
                        }
                    }
                    Err(status) => break status,
                },
                command = next_command(&mut commands) => match command {
                    Ok(Some(command)) => apply(&lease, &command, &flags),
                    Ok(None) => break Status::unavailable("the scheduler ended the event stream"),
                    Err(status) => break status,
                },
            }
        };
        if classify(&broken) == Failure::Stale {
            tracing::warn!("event stream refused: lease lost ({})", describe(&broken));
            flags.lose_lease();
            return;
        }
        if flags.lease_lost() {
            return;
        }
        if commands.is_some() && opened_at.elapsed() >= HEALTHY {
            backoff.reset();
        }
        if !outage {
            tracing::warn!("event stream broke ({}); reopening", describe(&broken));
            outage = true;
        }
        // Wait out the back-off, still draining events so training never waits on us.
        let pause = tokio::time::sleep(backoff.next_delay());
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                event = events.recv() => match event {
                    Some(event) => relay.missed(event),
                    None => return,
                },
            }
        }
    }
}

/// What the forwarder remembers across streams.
#[derive(Debug, Default)]
struct Relay {
    /// The job's latest event: its full progress state.
    latest: Option<TrainerEvent>,
    /// A state change not yet queued on a stream; it rides on the next event.
    pending_state: Option<i32>,
}

impl Relay {
    /// Queues `event` on the stream (with a pending state change, unless it brings a newer one).
    /// A refused state change stays pending; refused progress is dropped.
    fn offer(&mut self, out: &mpsc::Sender<TrainerEvent>, mut event: TrainerEvent) {
        if event.state == JobState::Unspecified as i32 {
            if let Some(state) = self.pending_state.take() {
                event.state = state;
            }
        } else {
            self.pending_state = None;
        }
        self.latest = Some(event.clone());
        if let Err(TrySendError::Full(event) | TrySendError::Closed(event)) = out.try_send(event)
            && event.state != JobState::Unspecified as i32
        {
            self.pending_state = Some(event.state);
        }
    }

    /// Notes an event produced while no stream was open.
    fn missed(&mut self, event: TrainerEvent) {
        if event.state != JobState::Unspecified as i32 {
            self.pending_state = Some(event.state);
        }
        self.latest = Some(event);
    }

    /// Queues the latest event on a new stream.
    fn resume(&mut self, out: &mpsc::Sender<TrainerEvent>) {
        if let Some(latest) = self.latest.clone() {
            self.offer(out, latest);
        }
    }
}

async fn next_command(commands: &mut Option<Streaming<TrainerCommand>>) -> Result<Option<TrainerCommand>, Status> {
    match commands {
        Some(commands) => commands.message().await,
        None => std::future::pending().await,
    }
}

fn apply(lease: &Lease, command: &TrainerCommand, flags: &StopFlags) {
    if !command.job_id.is_empty() && command.job_id != lease.job_id {
        tracing::debug!(other_job = %command.job_id, "ignoring a command for another job");
        return;
    }
    if command.lease_lost && !flags.lease_lost() {
        tracing::warn!("the scheduler says the lease is lost; stopping the job without completing it");
        flags.lose_lease();
    }
    if command.cancel && !flags.cancelled() {
        tracing::info!("the scheduler asks to cancel the job");
        flags.request_cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(state: JobState, steps_done: u64) -> TrainerEvent {
        TrainerEvent { state: state as i32, steps_done, ..TrainerEvent::default() }
    }

    fn received(rx: &mut mpsc::Receiver<TrainerEvent>) -> Vec<(JobState, u64)> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|e| (e.state(), e.steps_done)).collect()
    }

    #[test]
    fn a_full_stream_drops_progress_but_carries_a_state_change_on_the_next_event() {
        let (out, mut rx) = mpsc::channel(1);
        let mut relay = Relay::default();
        relay.offer(&out, event(JobState::Training, 0));
        relay.offer(&out, event(JobState::Unspecified, 1));
        assert_eq!(received(&mut rx), [(JobState::Training, 0)]);
        relay.offer(&out, event(JobState::Unspecified, 2));
        relay.offer(&out, event(JobState::Evaluating, 3));
        assert_eq!(received(&mut rx), [(JobState::Unspecified, 2)]);
        relay.offer(&out, event(JobState::Unspecified, 4));
        assert_eq!(received(&mut rx), [(JobState::Evaluating, 4)]);
    }

    #[test]
    fn a_new_stream_starts_with_the_latest_event_and_any_unsent_state_change() {
        let (out, mut rx) = mpsc::channel(4);
        let mut relay = Relay::default();
        relay.resume(&out);
        assert!(received(&mut rx).is_empty(), "nothing to resume before the first event");
        relay.offer(&out, event(JobState::Training, 0));
        relay.missed(event(JobState::Evaluating, 5));
        relay.missed(event(JobState::Unspecified, 6));
        relay.resume(&out);
        assert_eq!(received(&mut rx), [(JobState::Training, 0), (JobState::Evaluating, 6)]);
        relay.resume(&out);
        assert_eq!(received(&mut rx), [(JobState::Evaluating, 6)], "a repeated state is harmless");
    }
}
