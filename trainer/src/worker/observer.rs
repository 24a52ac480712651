//! The bridge between the blocking training run and the async job tasks: progress goes out as
//! trainer events without ever blocking training, checkpoints land in a "latest" slot that the
//! uploader drains, and stop requests come in through flags the async side sets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use skippy_proto::v1::{JobState, Lease, TrainerEvent, TrainingStats};
use tokio::sync::{mpsc, watch};

use crate::checkpoint::Checkpoint;
use crate::training::{Observer, Phase, Progress, StopReason};

/// Why a job was interrupted (handed back) rather than finished or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The trainer is shutting down.
    Shutdown,
    /// The attempt ran past the scheduler's attempt timeout.
    AttemptTimeout,
}

/// Stop requests of one job, set by the async tasks and read by the training thread between
/// updates. Lease loss wins over everything; a cancel wins over an interrupt.
#[derive(Debug, Default)]
pub struct StopFlags {
    /// The client cancelled the job.
    cancel: AtomicBool,
    /// The lease is stale: the job is no longer ours and nothing more may be reported.
    lease_lost: AtomicBool,
    /// 0: none; else an [`Interrupt`] (the first one sticks).
    interrupt: AtomicU8,
    /// The attempt's end is being reported: the lease ends with it, so a heartbeat refused
    /// from now on says nothing about the job.
    completing: AtomicBool,
}

impl StopFlags {
    /// Records a cancel (a heartbeat reply or a command said so).
    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Records that the lease is stale.
    pub fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
    }

    /// Records that the attempt's completion is about to be sent.
    pub fn begin_completing(&self) {
        self.completing.store(true, Ordering::SeqCst);
    }

    /// Whether the attempt's completion was sent (or is being sent).
    pub fn completing(&self) -> bool {
        self.completing.load(Ordering::SeqCst)
    }

    /// Records an interrupt; the first one is kept.
    pub fn interrupt(&self, why: Interrupt) {
        let code = match why {
            Interrupt::Shutdown => 1,
            Interrupt::AttemptTimeout => 2,
        };
        let _ = self.interrupt.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether a cancel was requested.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Whether the lease is stale.
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.load(Ordering::SeqCst)
    }

    /// The interrupt, if any.
    pub fn interrupted(&self) -> Option<Interrupt> {
        match self.interrupt.load(Ordering::SeqCst) {
            1 => Some(Interrupt::Shutdown),
            2 => Some(Interrupt::AttemptTimeout),
            _ => None,
        }
    }

    /// What the training run should do now.
    pub fn stop_reason(&self) -> Option<StopReason> {
        if self.lease_lost() {
            Some(StopReason::Interrupted)
        } else if self.cancelled() {
            Some(StopReason::Cancelled)
        } else {
            self.interrupted().map(|_| StopReason::Interrupted)
        }
    }
}

/// A serialised checkpoint waiting to be uploaded.
#[derive(Debug)]
pub struct CheckpointUpload {
    /// Steps done at the checkpoint.
    pub steps_done: u64,
    /// The safetensors bytes.
    pub data: Vec<u8>,
    /// Best validation Sharpe so far, so the scheduler's pruning keeps the best.
    pub validation_sharpe: Option<f64>,
}

/// The newest checkpoint of a job (none before the first); only the newest is worth uploading.
pub type CheckpointSlot = watch::Sender<Option<Arc<CheckpointUpload>>>;

/// The [`Observer`] a job's training run reports to.
#[derive(Debug)]
pub struct Bridge {
    /// Carried in every event.
    lease: Lease,
    /// Stop requests.
    flags: Arc<StopFlags>,
    /// Events for the stream to the scheduler (bounded; full means the event is dropped).
    events: mpsc::Sender<TrainerEvent>,
    /// Where checkpoints go.
    checkpoints: CheckpointSlot,
    /// Latest steps done, for heartbeats.
    steps_done: Arc<AtomicU64>,
    /// The phase last reported, to tell phase changes (which carry a state) from progress.
    phase: Phase,
    /// A state change the full buffer refused, sent before anything else next time.
    pending_state: Option<TrainerEvent>,
    /// Progress events dropped because the event buffer was full.
    dropped: u64,
}

impl Bridge {
    /// A bridge for a run after preflight: the run's first report (training, at the steps it
    /// resumed from) goes out as the TRAINING state change.
    pub fn new(
        lease: Lease,
        flags: Arc<StopFlags>,
        events: mpsc::Sender<TrainerEvent>,
        checkpoints: CheckpointSlot,
        steps_done: Arc<AtomicU64>,
    ) -> Bridge {
        Bridge {
            lease,
            flags,
            events,
            checkpoints,
            steps_done,
            phase: Phase::Preflight,
            pending_state: None,
            dropped: 0,
        }
    }

    /// Progress events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// A state change that could not be queued yet, for the caller to send when training ended.
    pub fn take_pending_state(&mut self) -> Option<TrainerEvent> {
        self.pending_state.take()
    }

    /// Queues an event without blocking; a refused state change is kept for later, refused
    /// progress is dropped (a later event carries the full progress state).
    fn offer(&mut self, event: TrainerEvent) {
        if let Err(e) = self.events.try_send(event) {
            let event = e.into_inner();
            if event.state != JobState::Unspecified as i32 {
                self.pending_state = Some(event);
            } else {
                self.dropped += 1;
            }
        }
    }
}

/// The event for a progress report; `state` is set when the phase changed.
pub fn progress_event(lease: &Lease, p: &Progress, state: JobState) -> TrainerEvent {
    let u = p.update.as_ref();
    TrainerEvent {
        lease: Some(lease.clone()),
        state: state as i32,
        percent: p.percent,
        message: p.message.clone(),
        steps_done: p.steps_done,
        steps_per_sec: p.steps_per_sec,
        stats: Some(TrainingStats {
            episode_reward: p.episode_reward,
            policy_loss: u.map_or(0.0, |u| u.policy_loss.into()),
            value_loss: u.map_or(0.0, |u| u.value_loss.into()),
            entropy: u.map_or(0.0, |u| u.entropy.into()),
            approx_kl: u.map_or(0.0, |u| u.approx_kl.into()),
            clip_fraction: u.map_or(0.0, |u| u.clip_fraction.into()),
            explained_variance: u.map_or(0.0, |u| u.explained_variance.into()),
            best_validation_sharpe: p.best_validation_sharpe,
        }),
    }
}

impl Observer for Bridge {
    fn progress(&mut self, p: &Progress) {
        self.steps_done.store(p.steps_done, Ordering::Relaxed);
        if let Some(pending) = self.pending_state.take() {
            self.offer(pending);
        }
        if p.phase == Phase::Done {
            // DONE is the scheduler's to declare once CompleteJob has the results.
            return;
        }
        let state = if p.phase == self.phase {
            JobState::Unspecified
        } else {
            self.phase = p.phase;
            match p.phase {
                Phase::Preflight => JobState::Preflight,
                Phase::Training => JobState::Training,
                Phase::Evaluating | Phase::Done => JobState::Evaluating,
            }
        };
        let event = progress_event(&self.lease, p, state);
        if self.pending_state.is_some() && state == JobState::Unspecified {
            self.dropped += 1;
        } else {
            self.offer(event);
        }
    }

    fn stop_requested(&mut self) -> Option<StopReason> {
        self.flags.stop_reason()
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.steps_done.store(checkpoint.steps_done, Ordering::Relaxed);
        let upload = CheckpointUpload {
            steps_done: checkpoint.steps_done,
            data: checkpoint.to_bytes(),
            validation_sharpe: checkpoint.best.as_ref().map(|b| b.validation_sharpe),
        };
        self.checkpoints.send_replace(Some(Arc::new(upload)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_loss_beats_cancel_beats_interrupt() {
        let flags = StopFlags::default();
        assert_eq!(flags.stop_reason(), None);
        flags.interrupt(Interrupt::Shutdown);
        flags.interrupt(Interrupt::AttemptTimeout);
        assert_eq!(flags.interrupted(), Some(Interrupt::Shutdown), "the first interrupt sticks");
        assert_eq!(flags.stop_reason(), Some(StopReason::Interrupted));
        flags.request_cancel();
        assert_eq!(flags.stop_reason(), Some(StopReason::Cancelled));
        flags.lose_lease();
        assert_eq!(flags.stop_reason(), Some(StopReason::Interrupted));
    }

    fn progress(phase: Phase, steps: u64) -> Progress {
        Progress {
            phase,
            percent: 10.0,
            steps_done: steps,
            total_steps: 100,
            steps_per_sec: 1.0,
            episode_reward: 0.0,
            update: None,
            best_validation_sharpe: Some(0.5),
            message: "m".into(),
        }
    }

    #[test]
    fn phase_changes_carry_a_state_and_a_full_buffer_drops_progress_without_blocking() {
        let (tx, mut rx) = mpsc::channel(2);
        let (slot, _) = watch::channel(None);
        let steps = Arc::new(AtomicU64::new(0));
        let mut bridge = Bridge::new(Lease::default(), Arc::default(), tx, slot, steps.clone());
        bridge.progress(&progress(Phase::Training, 1));
        bridge.progress(&progress(Phase::Evaluating, 2));
        bridge.progress(&progress(Phase::Evaluating, 3));
        bridge.progress(&progress(Phase::Done, 4));
        assert_eq!(bridge.dropped(), 1);
        assert_eq!(steps.load(Ordering::Relaxed), 4);
        let first = rx.try_recv().expect("first event");
        assert_eq!(first.state, JobState::Training as i32);
        let second = rx.try_recv().expect("second event");
        assert_eq!(second.state, JobState::Evaluating as i32);
        assert_eq!(second.stats.and_then(|s| s.best_validation_sharpe), Some(0.5));
        assert!(rx.try_recv().is_err(), "the third was dropped and DONE is never sent");
    }

    #[test]
    fn a_state_change_refused_by_a_full_buffer_is_kept_not_dropped() {
        let (tx, mut rx) = mpsc::channel(1);
        let (slot, _) = watch::channel(None);
        let mut bridge = Bridge::new(Lease::default(), Arc::default(), tx, slot, Arc::default());
        bridge.progress(&progress(Phase::Training, 1));
        bridge.progress(&progress(Phase::Evaluating, 2));
        assert_eq!(rx.try_recv().expect("the first report").state, JobState::Training as i32);
        bridge.progress(&progress(Phase::Done, 3));
        assert_eq!(rx.try_recv().expect("the state change, on the next report").state, JobState::Evaluating as i32);
        assert!(bridge.take_pending_state().is_none());

        bridge.progress(&progress(Phase::Evaluating, 4));
        bridge.progress(&progress(Phase::Training, 5));
        assert_eq!(bridge.take_pending_state().map(|e| e.state), Some(JobState::Training as i32));
    }
}
