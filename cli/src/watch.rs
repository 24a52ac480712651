//! Following a job live over the server-streaming `WatchJob` RPC (never by polling).
//!
//! The first message of a watch is the job's snapshot; then come its events, numbered without
//! gaps. [`Tracker`] (pure, unit-tested) turns them into what the user sees: one line per state
//! change and a progress bar while TRAINING, dropping every event it has already shown. [`follow`]
//! drives it: when the stream breaks (a transport error, a scheduler restart) it reconnects with
//! back-off and asks for the events after the last one shown, so no line is lost or printed twice.

use std::future::Future;
use std::time::{Duration, Instant};

use skippy_proto::v1::{self as pb, EventKind, JobState};
use tonic::Streaming;

use crate::client::{self, SchedulerClient, Subject};
use crate::output::Screen;
use crate::render;

/// What the screen should do for an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Print a line (above the bar).
    Line(String),
    /// Show a progress bar of `total` steps at `position`.
    BarStart {
        /// Steps asked for.
        total: u64,
        /// Steps done.
        position: u64,
    },
    /// Move the bar.
    BarUpdate {
        /// Steps done.
        position: u64,
        /// Speed and diagnostics.
        message: String,
    },
    /// Remove the bar.
    BarEnd,
}

/// How a followed job ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The final state (DONE, FAILED or CANCELLED).
    pub state: i32,
    /// The job as the terminal event (or the snapshot) carried it.
    pub job: Option<pb::Job>,
}

/// The state of one watch: what was shown so far.
#[derive(Debug)]
pub struct Tracker {
    /// Sequence of the last event shown: the resume point after a reconnect.
    last_sequence: u64,
    /// Whether the first snapshot arrived (later ones come from reconnects).
    seen_snapshot: bool,
    /// The state of the last line printed (`0` before the first).
    state: i32,
    /// Submission time: elapsed times count from here until a trainer starts the job.
    created_ms: i64,
    /// First start on a trainer: elapsed times count from here.
    started_ms: i64,
    /// Steps asked for: the bar's length.
    total_steps: u64,
    /// The latest copy of the job seen.
    job: Option<pb::Job>,
    /// Set once a terminal state was shown.
    ended: Option<Ended>,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// A watch that has shown nothing.
    pub fn new() -> Self {
        Self {
            last_sequence: 0,
            seen_snapshot: false,
            state: JobState::Unspecified as i32,
            created_ms: 0,
            started_ms: 0,
            total_steps: 0,
            job: None,
            ended: None,
        }
    }

    /// The sequence to resume after.
    pub fn after_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// Whether the first snapshot arrived.
    pub fn has_snapshot(&self) -> bool {
        self.seen_snapshot
    }

    /// The end, once a terminal state was shown.
    pub fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref()
    }

    /// The latest copy of the job seen.
    pub fn job(&self) -> Option<&pb::Job> {
        self.job.as_ref()
    }

    /// Takes in one message of the stream. `None` when it shows nothing new: an event already
    /// shown, a reconnect's snapshot, anything after the end.
    pub fn on_event(&mut self, ev: &pb::JobEvent, now_ms: i64) -> Option<Vec<Action>> {
        if let Some(job) = &ev.job {
            self.absorb(job);
        }
        if ev.kind == EventKind::Snapshot as i32 {
            return self.on_snapshot(ev, now_ms);
        }
        if self.ended.is_some() || (ev.sequence != 0 && ev.sequence <= self.last_sequence) {
            return None;
        }
        self.last_sequence = self.last_sequence.max(ev.sequence);
        let at = if ev.at_ms > 0 { ev.at_ms } else { now_ms };
        let mut actions = Vec::new();
        if ev.state != JobState::Unspecified as i32 && ev.state != self.state {
            let message = if ev.kind == EventKind::State as i32 || ev.kind == EventKind::Progress as i32 {
                ev.message.as_str()
            } else {
                ""
            };
            actions.extend(self.enter(ev.state, ev.percent, message, at, ev.steps_done));
        }
        if ev.kind == EventKind::Progress as i32 && self.state == JobState::Training as i32 {
            actions.push(Action::BarUpdate {
                position: ev.steps_done,
                message: render::bar_message(
                    ev.steps_per_sec,
                    self.total_steps.saturating_sub(ev.steps_done),
                    ev.stats.as_ref(),
                ),
            });
        }
        if ev.kind == EventKind::Log as i32 && !ev.message.trim().is_empty() {
            actions.push(Action::Line(format!("   · {}", ev.message.trim())));
        }
        if render::is_terminal(ev.state) {
            self.ended = Some(Ended { state: ev.state, job: ev.job.clone() });
        }
        Some(actions)
    }

    fn on_snapshot(&mut self, ev: &pb::JobEvent, now_ms: i64) -> Option<Vec<Action>> {
        if self.seen_snapshot {
            // A reconnect: the events after `last_sequence` follow and are shown as they come.
            return None;
        }
        self.seen_snapshot = true;
        let job = ev.job.clone().unwrap_or_else(|| pb::Job {
            id: ev.job_id.clone(),
            state: ev.state,
            percent: ev.percent,
            message: ev.message.clone(),
            steps_done: ev.steps_done,
            steps_per_sec: ev.steps_per_sec,
            ..Default::default()
        });
        self.last_sequence = self.last_sequence.max(ev.sequence).max(job.last_sequence);
        let at = if ev.at_ms > 0 { ev.at_ms } else { now_ms };
        let mut message = job.message.clone();
        if job.state == JobState::Queued as i32 && message.trim().is_empty() && job.queue_position > 0 {
            message = format!("waiting for a trainer (position {})", job.queue_position);
        }
        let mut actions = self.enter(job.state, job.percent, &message, at, job.steps_done);
        if job.state == JobState::Training as i32 && job.steps_per_sec > 0.0 {
            actions.push(Action::BarUpdate {
                position: job.steps_done,
                message: render::bar_message(job.steps_per_sec, self.total_steps.saturating_sub(job.steps_done), None),
            });
        }
        if render::is_terminal(job.state) {
            self.ended = Some(Ended { state: job.state, job: Some(job) });
        }
        Some(actions)
    }

    /// Remembers what a copy of the job says about times and size.
    fn absorb(&mut self, job: &pb::Job) {
        if job.created_ms > 0 {
            self.created_ms = job.created_ms;
        }
        if job.started_ms > 0 {
            self.started_ms = job.started_ms;
        }
        if job.total_steps > 0 {
            self.total_steps = job.total_steps;
        }
        self.job = Some(job.clone());
    }

    /// The line (and bar changes) for entering `state`.
    fn enter(&mut self, state: i32, percent: f64, message: &str, at_ms: i64, steps_done: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state == JobState::Training as i32 && state != self.state {
            actions.push(Action::BarEnd);
        }
        let running = matches!(
            JobState::try_from(state),
            Ok(JobState::Preflight | JobState::Training | JobState::Evaluating | JobState::Done)
        );
        if self.started_ms == 0 && running {
            self.started_ms = at_ms;
        }
        let since = if self.started_ms > 0 { self.started_ms } else { self.created_ms };
        let elapsed = if since > 0 { at_ms - since } else { 0 };
        actions.push(Action::Line(render::phase_line(state, percent, message, elapsed)));
        if state == JobState::Training as i32 {
            actions.push(Action::BarStart { total: self.total_steps, position: steps_done });
        }
        self.state = state;
        actions
    }
}

/// How a watch ended.
#[derive(Debug)]
pub enum Outcome {
    /// The job reached a terminal state; the job as it ended.
    Finished(Box<pb::Job>),
    /// The user pressed Ctrl+C (or the interrupt future resolved); the job keeps running.
    Interrupted,
}

/// Tries before the first snapshot: a scheduler that is not there is an error, not a wait.
const FIRST_CONNECT_TRIES: u32 = 3;
/// After the watch started, how long to keep reconnecting before giving up.
const RECONNECT_FOR: Duration = Duration::from_secs(300);
/// Longest pause between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows `job_id` until it ends or `interrupt` resolves, printing the live view (or, with
/// `json`, every new event as one JSON line).
pub async fn follow(
    sched: &SchedulerClient,
    job_id: &str,
    screen: &mut Screen,
    json: bool,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let mut client = sched.client.clone();
    let mut tracker = Tracker::new();
    let mut stream: Option<Streaming<pb::JobEvent>> = None;
    let mut delay: Option<Duration> = None;
    let mut backoff = Duration::from_millis(200);
    let mut failures = 0u32;
    let mut lost_since: Option<Instant> = None;
    let interrupt = std::pin::pin!(interrupt);
    let mut interrupt = interrupt;

    enum Step {
        Opened(Box<Streaming<pb::JobEvent>>),
        Message(Option<Box<pb::JobEvent>>),
    }

    loop {
        let after_sequence = tracker.after_sequence();
        let next = async {
            match stream.as_mut() {
                Some(s) => s.message().await.map(|m| Step::Message(m.map(Box::new))),
                None => {
                    if let Some(d) = delay {
                        tokio::time::sleep(d).await;
                    }
                    let request = pb::WatchJobRequest { job_id: job_id.to_string(), after_sequence };
                    client.watch_job(request).await.map(|r| Step::Opened(Box::new(r.into_inner())))
                }
            }
        };
        let step = tokio::select! {
            biased;
            () = &mut interrupt => {
                screen.end_bar();
                return Ok(Outcome::Interrupted);
            }
            step = next => step,
        };
        let broken = match step {
            Ok(Step::Opened(s)) => {
                stream = Some(*s);
                delay = None;
                if lost_since.take().is_some() {
                    screen.notice(&format!(
                        "🔌 Reconnected to the scheduler; resuming after event {}",
                        tracker.after_sequence()
                    ));
                }
                continue;
            }
            Ok(Step::Message(Some(ev))) => {
                failures = 0;
                backoff = Duration::from_millis(200);
                if let Some(actions) = tracker.on_event(&ev, now_ms()) {
                    if json {
                        screen.print(&serde_json::to_string(&skippy_proto::json::Event::from((*ev).clone()))?)?;
                    } else {
                        apply(screen, actions)?;
                    }
                }
                if let Some(end) = tracker.ended().cloned() {
                    screen.end_bar();
                    return Ok(Outcome::Finished(Box::new(final_job(sched, job_id, end, &tracker).await)));
                }
                continue;
            }
            // The stream ended before the job did (a scheduler shutting down): resume.
            Ok(Step::Message(None)) => "the scheduler closed the stream".to_string(),
            Err(status) if client::is_transient(&status) => {
                failures += 1;
                if !tracker.has_snapshot() && failures >= FIRST_CONNECT_TRIES {
                    return Err(sched.error(&status, Subject::Job(job_id)));
                }
                status.message().to_string()
            }
            Err(status) => return Err(sched.error(&status, Subject::Job(job_id))),
        };
        stream = None;
        let since = *lost_since.get_or_insert_with(|| {
            if tracker.has_snapshot() {
                screen.notice(&format!("⚠️  Lost the scheduler ({broken}); reconnecting…"));
            }
            Instant::now()
        });
        if since.elapsed() > RECONNECT_FOR {
            anyhow::bail!(
                "lost the scheduler at {} for {} minutes; job {job_id} keeps running. Resume with: skippy-train watch {job_id}",
                sched.url,
                RECONNECT_FOR.as_secs() / 60
            );
        }
        delay = Some(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The job as it ended, with its result: from the terminal event, else asked for once.
async fn final_job(sched: &SchedulerClient, job_id: &str, end: Ended, tracker: &Tracker) -> pb::Job {
    if let Some(job) = end.job.filter(|j| j.state == end.state) {
        return job;
    }
    let mut client = sched.client.clone();
    match client.get_job(pb::GetJobRequest { job_id: job_id.to_string() }).await {
        Ok(r) => r.into_inner(),
        Err(_) => {
            let mut job = tracker.job().cloned().unwrap_or_default();
            job.id = job_id.to_string();
            job.state = end.state;
            job
        }
    }
}

fn apply(screen: &mut Screen, actions: Vec<Action>) -> std::io::Result<()> {
    for action in actions {
        match action {
            Action::Line(line) => screen.print(&line)?,
            Action::BarStart { total, position } => screen.start_bar(total, position),
            Action::BarUpdate { position, message } => screen.update_bar(position, message),
            Action::BarEnd => screen.end_bar(),
        }
    }
    Ok(())
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A future that resolves at the first Ctrl+C (never, if the handler cannot be installed).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "tr_1754727123_a1b2c3d4";
    const T0: i64 = 1_754_727_123_000;
    const MIN: i64 = 60_000;

    fn job(state: JobState, seq: u64) -> pb::Job {
        pb::Job {
            id: ID.into(),
            state: state as i32,
            created_ms: T0,
            total_steps: 1_000_000,
            queue_position: u32::from(state == JobState::Queued),
            last_sequence: seq,
            ..Default::default()
        }
    }

    fn snapshot(job: pb::Job, at_ms: i64) -> pb::JobEvent {
        pb::JobEvent {
            sequence: job.last_sequence,
            job_id: ID.into(),
            at_ms,
            state: job.state,
            percent: job.percent,
            kind: EventKind::Snapshot as i32,
            job: Some(job),
            ..Default::default()
        }
    }

    fn state(seq: u64, at_ms: i64, state: JobState, percent: f64, message: &str) -> pb::JobEvent {
        pb::JobEvent {
            sequence: seq,
            job_id: ID.into(),
            at_ms,
            state: state as i32,
            percent,
            message: message.into(),
            kind: EventKind::State as i32,
            ..Default::default()
        }
    }

    fn progress(seq: u64, at_ms: i64, steps: u64) -> pb::JobEvent {
        pb::JobEvent {
            sequence: seq,
            job_id: ID.into(),
            at_ms,
            state: JobState::Training as i32,
            percent: 10.0 + 75.0 * steps as f64 / 1e6,
            steps_done: steps,
            steps_per_sec: 12_345.4,
            kind: EventKind::Progress as i32,
            stats: Some(pb::TrainingStats { episode_reward: 0.1234, ..Default::default() }),
            ..Default::default()
        }
    }

    /// Feeds events and returns the printed lines (bar actions as `<bar …>` markers).
    fn lines(tracker: &mut Tracker, events: &[pb::JobEvent]) -> Vec<String> {
        let mut out = Vec::new();
        for ev in events {
            for a in tracker.on_event(ev, T0).unwrap_or_default() {
                out.push(match a {
                    Action::Line(l) => l,
                    Action::BarStart { total, position } => format!("<bar {position}/{total}>"),
                    Action::BarUpdate { position, message } => format!("<bar {position}: {message}>"),
                    Action::BarEnd => "<bar end>".into(),
                });
            }
        }
        out
    }

    fn done_job() -> pb::Job {
        let mut j = job(JobState::Done, 7);
        j.started_ms = T0;
        j.result = Some(pb::ResultSummary {
            sharpe: 1.2534,
            generation: 3,
            improvement: Some(pb::Improvement {
                sharpe_difference: 0.6967,
                lo: 0.12,
                hi: 1.31,
                level: 0.95,
                significant: true,
                over_generation: 2,
            }),
            ..Default::default()
        });
        j
    }

    fn full_run() -> Vec<pb::JobEvent> {
        let mut done = state(7, T0 + 47 * MIN, JobState::Done, 100.0, "complete");
        done.job = Some(done_job());
        vec![
            snapshot(job(JobState::Queued, 1), T0),
            state(2, T0, JobState::Preflight, 5.0, "validating inputs"),
            state(3, T0 + 2 * MIN, JobState::Training, 10.0, "PPO training in progress"),
            progress(4, T0 + 3 * MIN, 100_000),
            progress(5, T0 + 20 * MIN, 500_000),
            state(6, T0 + 45 * MIN, JobState::Evaluating, 85.0, "evaluating results"),
            done,
        ]
    }

    #[test]
    fn one_line_per_state_and_a_bar_while_training() {
        let mut t = Tracker::new();
        assert_eq!(
            lines(&mut t, &full_run()),
            [
                "🕒 [QUEUED] 0% • waiting for a trainer (position 1) • 0m elapsed",
                "🔍 [PREFLIGHT] 5% • validating inputs • 0m elapsed",
                "🏃 [TRAINING] 10% • PPO training in progress • 2m elapsed",
                "<bar 0/1000000>",
                "<bar 100000: 12,345 steps/s • ~1m left • episode reward +0.123>",
                "<bar 500000: 12,345 steps/s • ~40s left • episode reward +0.123>",
                "<bar end>",
                "📊 [EVALUATING] 85% • evaluating results • 45m elapsed",
                "✅ [DONE] 100% • complete • 47m elapsed",
            ]
        );
        let end = t.ended().expect("ended");
        assert_eq!(end.state, JobState::Done as i32);
        assert_eq!(end.job.as_ref().and_then(|j| j.result.as_ref()).map(|r| r.generation), Some(3));
        assert_eq!(t.after_sequence(), 7);
    }

    #[test]
    fn a_reconnect_shows_neither_gaps_nor_duplicates() {
        let run = full_run();
        let mut t = Tracker::new();
        let before = lines(&mut t, &run[..4]);
        assert_eq!(t.after_sequence(), 4);
        // The stream broke; the reconnect asks for events after 4 and the server replays from
        // there after a fresh snapshot. A sloppy server repeating event 4 changes nothing.
        let mut replay = vec![snapshot(job(JobState::Training, 6), T0 + 46 * MIN), run[3].clone()];
        replay.extend_from_slice(&run[4..]);
        let after = lines(&mut t, &replay);
        let mut straight = Tracker::new();
        assert_eq!([before, after].concat(), lines(&mut straight, &run));
    }

    #[test]
    fn the_snapshot_of_a_running_job_shows_where_it_is() {
        let mut j = job(JobState::Training, 12);
        j.started_ms = T0;
        j.percent = 47.5;
        j.steps_done = 500_000;
        j.steps_per_sec = 9_000.0;
        j.message = "PPO training in progress".into();
        let mut t = Tracker::new();
        // Replayed history (≤ the snapshot's sequence) is not shown again.
        let evs =
            [snapshot(j, T0 + 12 * MIN), state(3, T0 + MIN, JobState::Training, 10.0, "x"), progress(13, T0, 600_000)];
        assert_eq!(
            lines(&mut t, &evs),
            [
                "🏃 [TRAINING] 47% • PPO training in progress • 12m elapsed",
                "<bar 500000/1000000>",
                "<bar 500000: 9,000 steps/s • ~55s left>",
                "<bar 600000: 12,345 steps/s • ~32s left • episode reward +0.123>",
            ]
        );
        assert_eq!(t.after_sequence(), 13);
    }

    #[test]
    fn watching_a_finished_job_ends_at_its_snapshot() {
        let mut t = Tracker::new();
        let mut j = done_job();
        j.percent = 100.0;
        j.finished_ms = T0 + 47 * MIN;
        assert_eq!(lines(&mut t, &[snapshot(j, T0 + 47 * MIN)]), ["✅ [DONE] 100% • complete • 47m elapsed"]);
        assert!(t.ended().is_some());
        assert_eq!(lines(&mut t, &[state(8, T0, JobState::Failed, 0.0, "late")]), Vec::<String>::new());
    }

    #[test]
    fn failure_and_requeue_lines() {
        let mut t = Tracker::new();
        let mut requeued =
            state(4, T0 + 30 * MIN, JobState::Queued, 40.0, "lease expired on trainer t-3f2a; re-queued");
        requeued.kind = EventKind::State as i32;
        let mut log = state(5, T0 + 31 * MIN, JobState::Queued, 40.0, "resuming from the checkpoint at 400,000 steps");
        log.kind = EventKind::Log as i32;
        let failed = state(6, T0 + 32 * MIN, JobState::Failed, 40.0, "");
        let evs = [
            snapshot(job(JobState::Queued, 1), T0),
            state(2, T0 + MIN, JobState::Preflight, 5.0, ""),
            state(3, T0 + 2 * MIN, JobState::Training, 10.0, ""),
            requeued,
            log,
            failed,
        ];
        assert_eq!(
            lines(&mut t, &evs),
            [
                "🕒 [QUEUED] 0% • waiting for a trainer (position 1) • 0m elapsed",
                "🔍 [PREFLIGHT] 5% • validating inputs • 0m elapsed",
                "🏃 [TRAINING] 10% • PPO training in progress • 1m elapsed",
                "<bar 0/1000000>",
                "<bar end>",
                "🕒 [QUEUED] 40% • lease expired on trainer t-3f2a; re-queued • 29m elapsed",
                "   · resuming from the checkpoint at 400,000 steps",
                "❌ [FAILED] 40% • failed • 31m elapsed",
            ]
        );
        assert_eq!(t.ended().map(|e| e.state), Some(JobState::Failed as i32));
    }
}
