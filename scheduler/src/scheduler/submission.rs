//! Submission: a submitted spec checked and resolved into a job record ([`Scheduler::resolve`]),
//! then admitted, reserved under its idempotency key and handed to the committer
//! ([`Scheduler::submit`]), which answers once the job is durable.

use tokio::sync::oneshot;

use super::committer::PendingSubmit;
use super::{JobView, Result, Scheduler, SchedulerError};
use crate::job::{JobRecord, SubmittedSpec, new_job_id, now_ms};
use skippy_contract::features::parse_feature_sets;
use skippy_contract::spec::TrainSpec;

impl Scheduler {
    /// Validates a submission, resolves its spec, stores it durably and queues it. The same
    /// idempotency key with the same spec returns the first job (`created` false); with another
    /// spec it is a conflict.
    pub async fn submit(&self, spec: SubmittedSpec) -> Result<(JobView, bool)> {
        let named_seed = spec.seed;
        let (record, key) = self.resolve(spec)?;
        if let Some(key) = &key {
            loop {
                let existing = {
                    let mut st = self.lock();
                    if st.shutting_down {
                        return Err(SchedulerError::ShuttingDown);
                    }
                    match st.idempotency.get(key).cloned() {
                        None => {
                            st.idempotency.insert(key.clone(), record.id.clone());
                            None
                        }
                        Some(id) => Some(
                            st.request_of(&id).map(|first| (id, same_request(&first, &record.request, named_seed))),
                        ),
                    }
                };
                match existing {
                    None => break,
                    Some(Some((id, true))) => return Ok((self.view(&id).await?, false)),
                    // A key names one request: reusing it for another is a client bug, not a
                    // retry, and answering with the first job would hide it.
                    Some(Some((id, false))) => {
                        return Err(SchedulerError::Conflict(format!(
                            "idempotency key {key:?} was used for job {id} with a different spec; \
                             a retry must send the same spec, a new job needs a new key"
                        )));
                    }
                    // Reserved by a submission still being committed: wait for it.
                    Some(None) => {
                        let notified = self.committed.notified();
                        let wait = std::time::Duration::from_secs(5);
                        if tokio::time::timeout(wait, notified).await.is_err() {
                            return Err(SchedulerError::CommitTimeout(wait));
                        }
                    }
                }
            }
        }
        let admitted = self.lock().admit(&self.config, &record);
        if let Err(e) = admitted {
            self.metrics.rejections.inc();
            if let Some(key) = &key {
                self.lock().idempotency.remove(key);
            }
            return Err(e);
        }
        // The queued job keeps its resolved spec only in the journal: the answer shows this copy.
        let resolved_spec = record.resolved_spec.clone();
        let (ack_tx, ack_rx) = oneshot::channel();
        let sent = self.submit_tx.send(PendingSubmit { job: record, ack: ack_tx, planned: false }).await;
        let acked = match sent {
            Ok(()) => ack_rx.await.unwrap_or(Err(SchedulerError::ShuttingDown)),
            Err(_) => Err(SchedulerError::ShuttingDown),
        };
        match acked {
            Ok(id) => {
                let mut view = match self.live_view(&id) {
                    Some(view) => view,
                    // Already granted and finished: read it as any finished job.
                    None => return Ok((self.view(&id).await?, true)),
                };
                if view.record.resolved_spec.is_null() {
                    view.record.resolved_spec = resolved_spec;
                }
                Ok((view, true))
            }
            Err(e) => {
                if let Some(key) = &key {
                    self.lock().idempotency.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Turns a submission into a job record with every default resolved; refuses what can be
    /// refused without training (names, ranges).
    ///
    /// Public (hidden from the docs) only so the fuzz targets under `fuzz/` and the corpus replay
    /// test can run the submission checks without a server; it stores nothing.
    #[doc(hidden)]
    pub fn resolve(&self, spec: SubmittedSpec) -> Result<(JobRecord, Option<String>)> {
        let invalid = |m: String| SchedulerError::Invalid(m);
        let algorithm = if spec.algorithm.is_empty() { "ppo".to_string() } else { spec.algorithm.to_ascii_lowercase() };
        if algorithm != "ppo" {
            let shown: String = spec.algorithm.chars().take(64).collect();
            return Err(invalid(format!("unknown algorithm {shown:?}; valid algorithms: ppo")));
        }
        let symbols: Vec<String> = spec.symbols.iter().map(|s| s.trim().to_ascii_uppercase()).collect();
        for s in &symbols {
            if !self.symbols.contains(s) {
                let shown: String = s.chars().take(64).collect();
                return Err(invalid(format!(
                    "unknown symbol {shown:?}; available symbols: {}",
                    self.symbols.join(", ")
                )));
            }
        }
        // Names are short; a long one is named by its length, not quoted whole.
        if let Some(long) = spec.features.iter().find(|f| f.len() > 64) {
            return Err(invalid(format!(
                "a feature set name of {} bytes; valid feature sets: price, microstructure",
                long.len()
            )));
        }
        if let Some(long) = spec.overrides.keys().find(|k| k.len() > 200) {
            return Err(invalid(format!(
                "an override key of {} bytes; keys are dotted paths such as ppo.learning_rate",
                long.len()
            )));
        }
        let features_text = if spec.features.is_empty() { "price".to_string() } else { spec.features.join(",") };
        let features = parse_feature_sets(&features_text).map_err(|e| invalid(e.to_string()))?;
        let feature_names: Vec<String> = features.iter().map(|f| f.name().to_string()).collect();
        let total_steps = if spec.total_steps == 0 { 1_000_000 } else { spec.total_steps };
        let seed = spec.seed.unwrap_or_else(|| rand::random::<u32>() as u64);
        if !spec.max_duration_seconds.is_finite() || spec.max_duration_seconds < 0.0 {
            return Err(invalid(format!("max_duration_seconds = {} must be ≥ 0", spec.max_duration_seconds)));
        }
        let mut max_duration_seconds = spec.max_duration_seconds;
        crate::budget::check_job_limits(&self.config, total_steps, &mut max_duration_seconds)
            .map_err(|e| invalid(e.to_string()))?;
        if spec.idempotency_key.len() > 256 {
            return Err(invalid("idempotency_key is longer than 256 bytes".into()));
        }
        // These have fields of their own, checked above; an override would slip past the checks.
        for key in spec.overrides.keys() {
            let field = match key.as_str() {
                "total_steps" => "totalSteps",
                "symbols" => "symbols",
                "features" => "features",
                "seed" => "seed",
                _ => continue,
            };
            return Err(invalid(format!("override {key:?}: set it with the job's own `{field}` field")));
        }
        let base = TrainSpec::new(symbols.clone(), features, total_steps, seed);
        let resolved = base
            .with_overrides(spec.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| invalid(e.to_string()))?;
        resolved.validate().map_err(|e| invalid(e.to_string()))?;
        let key = (!spec.idempotency_key.is_empty()).then(|| spec.idempotency_key.clone());
        let request = SubmittedSpec {
            algorithm,
            symbols,
            features: feature_names,
            total_steps,
            seed: Some(seed),
            max_duration_seconds,
            ..spec
        };
        let resolved = crate::job::JsonText::of(&resolved).expect("specs serialise");
        let record = JobRecord::queued(new_job_id(), request, resolved, seed, now_ms());
        Ok((record, key))
    }
}

/// Whether a resubmission under an idempotency key asks for what the first did: the same spec,
/// and the same seed when it names one (without one, the first job's drawn seed stands).
fn same_request(first: &SubmittedSpec, again: &SubmittedSpec, named_seed: Option<u64>) -> bool {
    let unseeded = |s: &SubmittedSpec| SubmittedSpec { seed: None, ..s.clone() };
    unseeded(first) == unseeded(again) && named_seed.is_none_or(|seed| first.seed == Some(seed))
}
