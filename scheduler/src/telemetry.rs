//! Prometheus metrics, served as OpenMetrics text on `/metrics` of a listener of their own
//! (`--metrics-addr`, loopback by default, and `--metrics-token` to ask scrapers for a bearer
//! token): they name running jobs and trainers, so they are not on the API's port.
//!
//! Counters and the dispatch histogram are updated where things happen; gauges describing the
//! current state (jobs by state, queue depth, trainers, speeds) are read from the scheduler's
//! state when rendered, so they can never drift from it. Rendering costs no scan of every job:
//! jobs by state come from the tally the job table keeps, the per-job series from the running
//! jobs only. A render is reused for [`RENDER_REUSED_FOR`], so any number of scrapers cost one
//! render a second.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::auth::Secret;
use crate::events::StatsRecord;
use crate::job::{JobState, now_ms};
use crate::scheduler::Scheduler;

/// How long one render of the metrics is served again.
pub const RENDER_REUSED_FOR: Duration = Duration::from_secs(1);

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label of per-state gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Label of per-trainer gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrainerLabel {
    trainer: String,
    trainer_id: String,
}

/// Label of per-job gauges (running jobs only, so the series end with the job).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job_id: String,
    trainer: String,
}

/// A per-job gauge family.
type JobGauges = Family<JobLabel, Gauge<f64, AtomicU64>>;

/// The training diagnostics of running jobs, from their trainers' latest progress reports.
#[derive(Debug, Default)]
struct TrainingGauges {
    steps_done: JobGauges,
    progress: JobGauges,
    steps_per_second: JobGauges,
    episode_reward: JobGauges,
    policy_loss: JobGauges,
    value_loss: JobGauges,
    entropy: JobGauges,
    approx_kl: JobGauges,
    clip_fraction: JobGauges,
    explained_variance: JobGauges,
    best_validation_sharpe: JobGauges,
}

impl TrainingGauges {
    /// Every family with its name and help.
    fn families(&self) -> [(&'static str, &'static str, &JobGauges); 11] {
        [
            ("job_steps_done", "Environment steps a running job has trained", &self.steps_done),
            ("job_progress_ratio", "Progress of a running job, 0 to 1", &self.progress),
            ("job_steps_per_second", "Training speed of a running job", &self.steps_per_second),
            (
                "job_episode_reward",
                "Mean recent episode reward of a running job (percent log return)",
                &self.episode_reward,
            ),
            ("job_policy_loss", "Clipped surrogate loss of a running job's latest PPO update", &self.policy_loss),
            ("job_value_loss", "Value loss of a running job's latest PPO update", &self.value_loss),
            ("job_entropy", "Policy entropy (nats) of a running job", &self.entropy),
            ("job_approx_kl", "Approximate KL between successive policies of a running job", &self.approx_kl),
            ("job_clip_fraction", "Fraction of clipped probability ratios of a running job", &self.clip_fraction),
            (
                "job_explained_variance",
                "Explained variance of a running job's value function",
                &self.explained_variance,
            ),
            (
                "job_best_validation_sharpe",
                "Best validation Sharpe a running job has reached",
                &self.best_validation_sharpe,
            ),
        ]
    }

    fn register(&self, registry: &mut Registry) {
        for (name, help, family) in self.families() {
            registry.register(name, help, family.clone());
        }
    }

    fn clear(&self) {
        for (_, _, family) in self.families() {
            family.clear();
        }
    }

    /// Sets one running job's series from its progress and latest diagnostics.
    fn set(&self, label: &JobLabel, progress: &crate::job::ProgressRecord, stats: Option<&StatsRecord>) {
        self.steps_done.get_or_create(label).set(progress.steps_done as f64);
        self.progress.get_or_create(label).set(progress.percent / 100.0);
        self.steps_per_second.get_or_create(label).set(progress.steps_per_sec);
        let Some(s) = stats else { return };
        self.episode_reward.get_or_create(label).set(s.episode_reward);
        self.policy_loss.get_or_create(label).set(s.policy_loss);
        self.value_loss.get_or_create(label).set(s.value_loss);
        self.entropy.get_or_create(label).set(s.entropy);
        self.approx_kl.get_or_create(label).set(s.approx_kl);
        self.clip_fraction.get_or_create(label).set(s.clip_fraction);
        self.explained_variance.get_or_create(label).set(s.explained_variance);
        if let Some(sharpe) = s.best_validation_sharpe {
            self.best_validation_sharpe.get_or_create(label).set(sharpe);
        }
    }
}

/// The scheduler's metrics.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    /// Submissions acknowledged.
    pub submissions: Counter,
    /// Submissions refused by admission (limits, queue, budget).
    pub rejections: Counter,
    /// Seconds from a job entering the queue to its grant.
    pub dispatch_seconds: Histogram,
    /// Leases that expired (trainer silent or attempt too long).
    pub lease_expiries: Counter,
    /// Jobs put back in the queue (expiry or hand-back).
    pub requeues: Counter,
    /// Open WatchJob streams.
    pub watch_streams: Gauge<i64, AtomicI64>,
    jobs: Family<StateLabel, Gauge<i64, AtomicI64>>,
    queue_depth: Gauge<i64, AtomicI64>,
    trainers: Gauge<i64, AtomicI64>,
    trainer_speed: Family<TrainerLabel, Gauge<f64, AtomicU64>>,
    measured_speed: Gauge<f64, AtomicU64>,
    demand: Gauge<i64, AtomicI64>,
    training: TrainingGauges,
    /// The last render and when it was made (see [`RENDER_REUSED_FOR`]).
    rendered: Mutex<Option<(Instant, Arc<String>)>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut m = Telemetry {
            registry: Registry::with_prefix("skippy"),
            submissions: Counter::default(),
            rejections: Counter::default(),
            // 100 µs to ~3 min.
            dispatch_seconds: Histogram::new(exponential_buckets(1e-4, 2.0, 21)),
            lease_expiries: Counter::default(),
            requeues: Counter::default(),
            watch_streams: Gauge::default(),
            jobs: Family::default(),
            queue_depth: Gauge::default(),
            trainers: Gauge::default(),
            trainer_speed: Family::default(),
            measured_speed: Gauge::default(),
            demand: Gauge::default(),
            training: TrainingGauges::default(),
            rendered: Mutex::new(None),
        };
        m.registry.register("submissions", "Submissions acknowledged (durably stored)", m.submissions.clone());
        m.registry.register(
            "rejections",
            "Submissions refused by a limit, the queue cap or the budget",
            m.rejections.clone(),
        );
        m.registry.register(
            "dispatch_seconds",
            "Time from a job entering the queue to a trainer's grant",
            m.dispatch_seconds.clone(),
        );
        m.registry.register(
            "lease_expiries",
            "Leases that expired or ran past the attempt timeout",
            m.lease_expiries.clone(),
        );
        m.registry.register("requeues", "Jobs put back in the queue (lease expiry or hand-back)", m.requeues.clone());
        m.registry.register("watch_streams", "Open WatchJob streams", m.watch_streams.clone());
        m.registry.register("jobs", "Jobs by state", m.jobs.clone());
        m.registry.register("queue_depth", "Jobs waiting for a trainer", m.queue_depth.clone());
        m.registry.register(
            "demand",
            "Jobs queued or running: the trainers that could be busy now (an autoscaling target)",
            m.demand.clone(),
        );
        m.registry.register("trainers_connected", "Trainers seen within three lease periods", m.trainers.clone());
        m.registry.register(
            "trainer_steps_per_second",
            "Latest training speed each trainer reported",
            m.trainer_speed.clone(),
        );
        m.registry.register(
            "measured_steps_per_second",
            "Smoothed training speed used for estimates",
            m.measured_speed.clone(),
        );
        m.training.register(&mut m.registry);
        m
    }
}

impl Scheduler {
    /// The metrics in the OpenMetrics text format: the render of the last [`RENDER_REUSED_FOR`],
    /// or a new one.
    pub fn metrics_text(&self) -> Arc<String> {
        // Held while rendering, so scrapers arriving meanwhile wait for this render, not make their own.
        let mut rendered = self.metrics.rendered.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some((at, text)) = rendered.as_ref()
            && now.saturating_duration_since(*at) < RENDER_REUSED_FOR
        {
            return text.clone();
        }
        let text = Arc::new(self.render_metrics());
        *rendered = Some((now, text.clone()));
        text
    }

    /// A fresh render of the metrics, gauges read from the current state.
    fn render_metrics(&self) -> String {
        let m = &self.metrics;
        {
            let mut st = self.lock();
            // Finished jobs are counted by their index, the jobs held in full by their tally.
            let finished: Vec<usize> = JobState::ALL.iter().map(|s| st.finished.count(*s)).collect();
            let tally = st.jobs.tally();
            for (state, finished) in JobState::ALL.into_iter().zip(finished) {
                let n = finished + tally.count(state);
                m.jobs.get_or_create(&StateLabel { state: state.name() }).set(n as i64);
            }
            let running_ids: Vec<String> = tally.running().map(str::to_string).collect();
            m.queue_depth.set(st.queue.len() as i64);
            m.training.clear();
            let mut running = 0;
            for job in running_ids.iter().filter_map(|id| st.jobs.get(id)) {
                let Some(lease) = &job.lease else { continue };
                running += 1;
                let label = JobLabel { job_id: job.id.clone(), trainer: lease.trainer_name.clone() };
                let stats = st.events.get(&job.id).and_then(|log| log.latest_stats());
                m.training.set(&label, &job.progress, stats);
            }
            m.demand.set((st.queue.len() + running) as i64);
            let horizon = now_ms() - crate::scheduler::TRAINER_HORIZON_LEASES * self.config.lease_ttl_ms as i64;
            m.trainer_speed.clear();
            let mut connected = 0;
            for (id, t) in st.trainers.iter().filter(|(_, t)| t.last_seen_ms >= horizon) {
                connected += 1;
                m.trainer_speed
                    .get_or_create(&TrainerLabel { trainer: t.name.clone(), trainer_id: id.clone() })
                    .set(t.steps_per_sec);
            }
            m.trainers.set(connected);
            m.measured_speed.set(st.ledger.measured_steps_per_sec.unwrap_or(0.0));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).expect("writing to a String");
        out
    }
}

/// The metrics listener's routes: `GET /metrics`, asking for `token` when one is set.
pub fn router(scheduler: Arc<Scheduler>, token: Option<&Secret>) -> Router {
    let token: Option<[u8; 32]> = token.map(|t| Sha256::digest(t.expose().as_bytes()).into());
    Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| async move {
            if let Some(expected) = &token {
                let presented = headers.get(AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
                let presented: [u8; 32] = Sha256::digest(presented.unwrap_or_default()).into();
                if !bool::from(presented.ct_eq(expected)) {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer")],
                        "the metrics need `authorization: Bearer <SKIPPY_METRICS_TOKEN>`\n",
                    )
                        .into_response();
                }
            }
            ([(CONTENT_TYPE, OPENMETRICS)], scheduler.metrics_text().as_str().to_owned()).into_response()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test(start_paused = true)]
    async fn a_render_is_reused_for_a_second_then_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let (scheduler, _) = Scheduler::start(Config::local(dir.path().to_path_buf())).unwrap();
        let first = scheduler.metrics_text();
        scheduler.metrics.submissions.inc();
        tokio::time::advance(RENDER_REUSED_FOR / 2).await;
        let again = scheduler.metrics_text();
        assert!(Arc::ptr_eq(&first, &again), "within the second: the same render");
        assert!(again.contains("skippy_submissions_total 0"), "{again}");
        tokio::time::advance(RENDER_REUSED_FOR).await;
        let fresh = scheduler.metrics_text();
        assert!(fresh.contains("skippy_submissions_total 1"), "{fresh}");
    }
}
