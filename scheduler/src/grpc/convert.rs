//! Conversions between the scheduler's records and the protocol's messages, at the boundary.

use skippy_proto::v1 as pb;

use crate::events::{EventKind, EventRecord, StatsRecord};
use crate::job::{ArtifactRecord, JobState, SubmittedSpec};
use crate::scheduler::JobView;

/// Domain state → proto enum.
pub fn state_to_pb(s: JobState) -> pb::JobState {
    match s {
        JobState::Queued => pb::JobState::Queued,
        JobState::Preflight => pb::JobState::Preflight,
        JobState::Training => pb::JobState::Training,
        JobState::Evaluating => pb::JobState::Evaluating,
        JobState::Done => pb::JobState::Done,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

/// Proto enum value → domain state (`None` for unspecified or unknown values).
pub fn state_from_pb(v: i32) -> Option<JobState> {
    Some(match pb::JobState::try_from(v).ok()? {
        pb::JobState::Unspecified => return None,
        pb::JobState::Queued => JobState::Queued,
        pb::JobState::Preflight => JobState::Preflight,
        pb::JobState::Training => JobState::Training,
        pb::JobState::Evaluating => JobState::Evaluating,
        pb::JobState::Done => JobState::Done,
        pb::JobState::Failed => JobState::Failed,
        pb::JobState::Cancelled => JobState::Cancelled,
    })
}

/// A submitted proto spec → the domain's.
pub fn spec_from_pb(s: pb::JobSpec) -> SubmittedSpec {
    SubmittedSpec {
        algorithm: s.algorithm,
        total_steps: s.total_steps,
        symbols: s.symbols,
        features: s.features,
        seed: s.seed,
        priority: s.priority,
        max_duration_seconds: s.max_duration_seconds,
        idempotency_key: s.idempotency_key,
        overrides: s.overrides.into_iter().collect(),
    }
}

fn spec_to_pb(s: &SubmittedSpec) -> pb::JobSpec {
    pb::JobSpec {
        algorithm: s.algorithm.clone(),
        total_steps: s.total_steps,
        symbols: s.symbols.clone(),
        features: s.features.clone(),
        seed: s.seed,
        priority: s.priority,
        max_duration_seconds: s.max_duration_seconds,
        idempotency_key: s.idempotency_key.clone(),
        overrides: s.overrides.clone().into_iter().collect(),
    }
}

/// A job view → the proto job.
pub fn job_to_pb(v: &JobView) -> pb::Job {
    let j = &v.record;
    pb::Job {
        id: j.id.clone(),
        spec: Some(spec_to_pb(&j.request)),
        state: state_to_pb(j.state) as i32,
        percent: j.progress.percent,
        message: j.progress.message.clone(),
        steps_done: j.progress.steps_done,
        total_steps: j.request.total_steps,
        steps_per_sec: j.progress.steps_per_sec,
        created_ms: j.created_ms,
        started_ms: j.started_ms,
        finished_ms: j.finished_ms,
        queue_position: v.queue_position,
        attempt: j.attempt,
        trainer_id: j.lease.as_ref().map(|l| l.trainer_id.clone()).unwrap_or_default(),
        error: j.error.clone(),
        history: j
            .history
            .iter()
            .map(|h| pb::StateChange { state: state_to_pb(h.state) as i32, at_ms: h.at_ms, reason: h.reason.clone() })
            .collect(),
        result: j.result.as_ref().map(|r| pb::ResultSummary {
            sharpe: r.sharpe,
            buy_and_hold_sharpe: r.buy_and_hold_sharpe,
            generation: r.generation,
            improvement: r.improvement.map(pb::Improvement::from),
            champion: r.champion,
            stop_reason: r.stop_reason.clone(),
            edge_significant: r.edge_significant,
        }),
        // A summary (a list's job) has none: "".
        resolved_spec_json: if j.resolved_spec.is_null() { String::new() } else { j.resolved_spec.to_string() },
        last_sequence: j.last_sequence,
        experiment: j.experiment.as_ref().map(|c| pb::ExperimentCell {
            experiment_id: c.experiment_id.clone(),
            config: c.config,
            seed_index: c.seed_index,
            fold: c.fold,
        }),
    }
}

/// An artifact as the API lists it.
pub fn artifact_to_pb(a: &ArtifactRecord) -> pb::Artifact {
    pb::Artifact { name: a.name.clone(), size: a.size, sha256: a.sha256.clone() }
}

/// Stats → proto.
pub fn stats_to_pb(s: &StatsRecord) -> pb::TrainingStats {
    s.clone().into()
}

/// Proto stats → domain (non-finite values become 0).
pub fn stats_from_pb(s: &pb::TrainingStats) -> StatsRecord {
    let f = |v: f64| if v.is_finite() { v } else { 0.0 };
    StatsRecord {
        episode_reward: f(s.episode_reward),
        policy_loss: f(s.policy_loss),
        value_loss: f(s.value_loss),
        entropy: f(s.entropy),
        approx_kl: f(s.approx_kl),
        clip_fraction: f(s.clip_fraction),
        explained_variance: f(s.explained_variance),
        best_validation_sharpe: s.best_validation_sharpe.filter(|v| v.is_finite()),
    }
}

/// An event → proto (terminal events carry the job).
pub fn event_to_pb(job_id: &str, e: &EventRecord, job: Option<pb::Job>) -> pb::JobEvent {
    pb::JobEvent {
        sequence: e.sequence,
        job_id: job_id.to_string(),
        at_ms: e.at_ms,
        state: state_to_pb(e.state) as i32,
        percent: e.percent,
        message: e.message.clone(),
        steps_done: e.steps_done,
        steps_per_sec: e.steps_per_sec,
        stats: e.stats.as_ref().map(stats_to_pb),
        job,
        kind: match e.kind {
            EventKind::State => pb::EventKind::State,
            EventKind::Progress => pb::EventKind::Progress,
            EventKind::Checkpoint => pb::EventKind::Checkpoint,
            EventKind::Log => pb::EventKind::Log,
        } as i32,
    }
}

/// A watched job's snapshot or event → proto.
pub fn watch_item_to_pb(job_id: &str, item: crate::scheduler::WatchItem) -> pb::JobEvent {
    match item {
        crate::scheduler::WatchItem::Snapshot { view, sequence } => pb::JobEvent {
            sequence,
            job_id: job_id.to_string(),
            at_ms: crate::job::now_ms(),
            state: state_to_pb(view.record.state) as i32,
            percent: view.record.progress.percent,
            message: view.record.progress.message.clone(),
            steps_done: view.record.progress.steps_done,
            steps_per_sec: view.record.progress.steps_per_sec,
            stats: None,
            job: Some(job_to_pb(&view)),
            kind: pb::EventKind::Snapshot as i32,
        },
        crate::scheduler::WatchItem::Event { event, job } => event_to_pb(job_id, &event, job.as_ref().map(job_to_pb)),
    }
}

/// A feed item → proto (a state change carries the job as of that change, without its
/// resolved spec).
pub fn jobs_event_to_pb(epoch: &str, item: crate::feed::Item) -> pb::JobsEvent {
    match item {
        crate::feed::Item::Reset { head, reason } => pb::JobsEvent {
            sequence: head,
            epoch: epoch.to_string(),
            kind: pb::JobsEventKind::Reset as i32,
            event: None,
            reason,
        },
        crate::feed::Item::Change(entry) => {
            let job = entry.job.as_ref().map(|view| pb::Job { resolved_spec_json: String::new(), ..job_to_pb(view) });
            pb::JobsEvent {
                sequence: entry.sequence,
                epoch: epoch.to_string(),
                kind: pb::JobsEventKind::Change as i32,
                event: Some(event_to_pb(&entry.job_id, &entry.event, job)),
                reason: String::new(),
            }
        }
    }
}

/// An experiment request from the proto.
pub fn experiment_request_from_pb(s: pb::ExperimentSpec) -> crate::experiment::ExperimentRequest {
    crate::experiment::ExperimentRequest {
        base: spec_from_pb(s.base.unwrap_or_default()),
        seeds: s.seeds,
        folds: s.folds,
        grid: s.grid.into_iter().map(|a| crate::experiment::Axis { path: a.path, values: a.values }).collect(),
        promote: s.promote,
    }
}

/// Admission's estimate → the proto estimate.
pub fn estimate_to_pb(e: &crate::budget::Estimate) -> pb::ExperimentEstimate {
    pb::ExperimentEstimate {
        total_steps: e.total_steps,
        trainer_seconds: e.trainer_seconds,
        steps_per_sec: e.steps_per_sec,
        measured: e.measured,
        runs: u32::try_from(e.jobs).unwrap_or(u32::MAX),
    }
}

/// An experiment view → the proto experiment.
pub fn experiment_to_pb(v: &crate::scheduler::ExperimentView) -> pb::Experiment {
    use crate::experiment::ExperimentState as S;
    let e = &v.record;
    let cell = |r: &crate::experiment::RunRecord| pb::ExperimentCell {
        experiment_id: e.id.clone(),
        config: r.config,
        seed_index: r.seed_index,
        fold: r.fold,
    };
    pb::Experiment {
        id: e.id.clone(),
        spec: Some(pb::ExperimentSpec {
            base: Some(spec_to_pb(&e.request.base)),
            seeds: e.request.seeds,
            folds: e.request.folds,
            grid: e
                .request
                .grid
                .iter()
                .map(|a| pb::GridAxis { path: a.path.clone(), values: a.values.clone() })
                .collect(),
            promote: e.request.promote,
        }),
        state: match e.state {
            S::Running => pb::ExperimentState::Running,
            S::Done => pb::ExperimentState::Done,
            S::Cancelled => pb::ExperimentState::Cancelled,
            S::Failed => pb::ExperimentState::Failed,
        } as i32,
        created_ms: e.created_ms,
        finished_ms: e.finished_ms,
        configs: e
            .configs
            .iter()
            .enumerate()
            .map(|(i, c)| pb::ExperimentConfig { index: i as u32, settings: c.clone().into_iter().collect() })
            .collect(),
        runs: v
            .runs
            .iter()
            .map(|r| pb::ExperimentRun {
                job_id: r.run.job_id.clone(),
                cell: Some(cell(&r.run)),
                seed: r.run.seed,
                state: state_to_pb(r.state) as i32,
                steps_done: r.steps_done,
                total_steps: r.total_steps,
                validation_sharpe: r.validation_sharpe,
                test_sharpe: r.test_sharpe,
                buy_and_hold_sharpe: r.buy_and_hold_sharpe,
            })
            .collect(),
        runs_total: e.runs.len() as u32,
        runs_queued: v.counts[0],
        runs_running: v.counts[1],
        runs_done: v.counts[2],
        runs_failed: v.counts[3],
        runs_cancelled: v.counts[4],
        steps_done: v.steps_done,
        total_steps: v.total_steps,
        verdict: if e.verdict.is_empty() { e.error.clone() } else { e.verdict.clone() },
        candidate: e.candidate.as_ref().map(|c| pb::ExperimentCandidate {
            config: c.config,
            job_ids: c.runs.iter().map(|r| r.job_id.clone()).collect(),
            note: c.note.clone(),
        }),
    }
}
