//! Invariants of the REST gateway's request bodies, from bytes to the job record the scheduler
//! would store: shared by the `rest_json_bodies` fuzz target and
//! `scheduler/tests/it/fuzz_seeds.rs`, which replays the committed seed corpus under `cargo test`.
//! A violation panics.
//!
//! Every input is read both as a `POST /api/training/jobs` body and as a
//! `POST /api/training/real-session` body, through `JsonBody::parse` (what the handlers run once
//! the content type and size are checked), and what parses goes through the scheduler's own
//! submission checks (`Scheduler::resolve`). Then:
//! - a refusal, at either step, is a 400 `invalid_argument` with a message, whose gRPC form fits
//!   the trailers (never a panic, never a 5xx);
//! - an accepted submission is a queued record with a valid job id, the catalog's symbols, steps
//!   and duration within the server's limits, the caller's seed, priority and key, and a resolved
//!   spec that a trainer reads back equal and valid;
//! - the record survives `manifest.json` (serialised and read back equal), converts to the
//!   protocol and the REST JSON, and its stored request resolves again to the same spec.

use serde_json::Value;
use skippy_contract::spec::TrainSpec;
use skippy_proto::json::{Job as JobJson, JobSpec as JobSpecBody};
use skippy_proto::v1 as pb;
use skippy_scheduler::gateway::errors::ApiError;
use skippy_scheduler::gateway::json::{JsonBody, RealSessionBody};
use skippy_scheduler::grpc::convert::{job_to_pb, spec_from_pb};
use skippy_scheduler::job::{JobRecord, JobState, SubmittedSpec, is_valid_job_id};
use skippy_scheduler::scheduler::{JobView, SchedulerError};

use super::harness::harness;

/// Longest gRPC status message (`grpc::status::bounded`: 1024 bytes plus the "cut" note).
const MAX_STATUS_MESSAGE: usize = 1100;

/// Reads `data` as both bodies and checks every invariant; panics on a violation.
pub fn check(data: &[u8]) {
    match JsonBody::<JobSpecBody>::parse(data) {
        Ok(JsonBody(body)) => check_submission(spec_from_pb(pb::JobSpec::from(body))),
        Err(e) => check_refusal(&e),
    }
    match JsonBody::<RealSessionBody>::parse(data) {
        Ok(JsonBody(body)) => match real_session_spec(body) {
            Ok(spec) => check_submission(spec_from_pb(spec)),
            Err(e) => check_refusal(&e),
        },
        Err(e) => check_refusal(&e),
    }
}

/// The spec `routes::real_session` submits for a body, as that handler builds it (inline there,
/// so repeated here: keep the two in step).
fn real_session_spec(body: RealSessionBody) -> Result<pb::JobSpec, ApiError> {
    let hours = match body.duration {
        Some(h) if h.is_finite() && h > 0.0 && h * 3600.0 < 1e12 => h,
        Some(h) => return Err(ApiError::invalid(format!("duration = {h} must be a positive, finite number of hours"))),
        None => return Err(ApiError::invalid("duration (hours of training, e.g. 0.1) is required")),
    };
    Ok(pb::JobSpec {
        symbols: body.symbols.unwrap_or_else(|| vec!["BTC".into(), "ETH".into()]),
        features: body.features.unwrap_or_else(|| vec!["price".into()]),
        total_steps: body.steps.unwrap_or(1_000_000),
        max_duration_seconds: hours * 3600.0,
        ..Default::default()
    })
}

/// A refused request answers 400 `invalid_argument` with a message.
fn check_refusal(e: &ApiError) {
    let body = e.body();
    assert_eq!(e.status().as_u16(), 400, "a malformed body is not a 400: {body}");
    assert_eq!(body["error"]["code"], "invalid_argument", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "a refusal without a message: {body}");
}

/// The scheduler's submission checks: a refusal is `Invalid` and maps to a 400; an acceptance
/// is a record that keeps every promise.
fn check_submission(spec: SubmittedSpec) {
    let h = harness();
    match h.scheduler.resolve(spec.clone()) {
        Ok((record, key)) => check_record(&spec, &record, key),
        Err(SchedulerError::Invalid(message)) => {
            assert!(!message.trim().is_empty(), "a submission refused without a reason");
            let status = tonic::Status::from(SchedulerError::Invalid(message));
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(status.message().len() <= MAX_STATUS_MESSAGE, "status message of {} bytes", status.message().len());
            check_refusal(&ApiError::from(status));
        }
        Err(other) => panic!("a submission was refused as something other than invalid: {other:?}"),
    }
}

fn check_record(submitted: &SubmittedSpec, record: &JobRecord, key: Option<String>) {
    let h = harness();
    let request = &record.request;
    assert!(is_valid_job_id(&record.id), "job id {:?}", record.id);
    assert_eq!((record.state, record.history.len(), record.attempt), (JobState::Queued, 1, 0));
    assert_eq!(request.algorithm, "ppo");

    // Symbols: the catalog's, as submitted (trimmed, upper case), in order.
    let catalog = skippy_contract::catalog::symbols(None).expect("the embedded names");
    let want: Vec<String> = submitted.symbols.iter().map(|s| s.trim().to_ascii_uppercase()).collect();
    assert_eq!(request.symbols, want);
    assert!(!request.symbols.is_empty(), "a job without symbols was accepted");
    assert!(request.symbols.iter().all(|s| catalog.contains(s)), "unknown symbol accepted: {:?}", request.symbols);
    assert!(!request.features.is_empty(), "a job without feature sets was accepted");

    // Steps, duration, seed, priority, key: the caller's, within the server's limits.
    let steps = if submitted.total_steps == 0 { 1_000_000 } else { submitted.total_steps };
    assert_eq!(request.total_steps, steps);
    let max_steps = h.config.max_steps_per_job;
    assert!(steps >= 1 && (max_steps == 0 || steps <= max_steps), "total_steps {steps} over {max_steps}");
    let cap = h.config.max_job_duration_secs as f64;
    let secs = record.max_duration_seconds;
    assert_eq!(secs.to_bits(), request.max_duration_seconds.to_bits());
    assert!(secs.is_finite() && secs >= 0.0, "max_duration_seconds {secs}");
    if cap > 0.0 {
        assert!(secs > 0.0 && secs <= cap, "max_duration_seconds {secs} with a cap of {cap}");
    }
    assert_eq!(request.seed, Some(record.seed));
    if let Some(seed) = submitted.seed {
        assert_eq!(record.seed, seed, "the caller's seed was not kept");
    }
    assert_eq!((record.priority, request.priority), (submitted.priority, submitted.priority));
    let want_key = (!submitted.idempotency_key.is_empty()).then(|| submitted.idempotency_key.clone());
    assert_eq!(key, want_key);
    assert_eq!(record.idempotency_key, want_key);
    assert!(submitted.idempotency_key.len() <= 256);
    assert_eq!(request.overrides, submitted.overrides);

    // What a trainer reads: the resolved spec, valid, and the job's own fields.
    let text = record.resolved_spec.to_string();
    let spec: TrainSpec =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the resolved spec does not read back: {e}\n{text}"));
    if let Err(e) = spec.validate() {
        panic!("an accepted spec does not validate: {e}\n{text}");
    }
    assert_eq!((&spec.symbols, spec.total_steps, spec.seed), (&request.symbols, steps, record.seed));
    let names: Vec<&str> = spec.features.iter().map(|f| f.name()).collect();
    assert_eq!(names, request.features.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(serde_json::to_string(&spec).expect("specs serialise"), text, "the resolved spec is not canonical");

    // manifest.json: written and read back equal.
    let manifest = serde_json::to_string(record).expect("records serialise");
    let back: JobRecord = serde_json::from_str(&manifest)
        .unwrap_or_else(|e| panic!("an accepted record does not read back from its manifest: {e}\n{manifest}"));
    assert_eq!(&back, record, "the manifest changes the record");

    // The protocol and the REST JSON.
    let job = job_to_pb(&JobView { record: record.clone(), queue_position: 1 });
    assert_eq!(job.id, record.id);
    let json = serde_json::to_value(JobJson::from(job)).expect("jobs serialise");
    assert_eq!(json["state"], "QUEUED");
    assert!(json["resolvedSpec"].is_object(), "resolvedSpec is not an object: {}", json["resolvedSpec"]);
    assert_eq!(json["spec"]["symbols"], Value::from(request.symbols.clone()));

    // The stored request, submitted again, resolves to the same spec.
    match h.scheduler.resolve(request.clone()) {
        Ok((again, _)) => assert_eq!(again.resolved_spec, record.resolved_spec, "resolving is not stable"),
        Err(e) => panic!("the stored request of an accepted job is refused: {e}"),
    }
}
