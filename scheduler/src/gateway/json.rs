//! The gateway's JSON: request bodies (strict: unknown fields are refused) and responses that
//! mirror the protocol's messages with the names of the proto JSON mapping (`totalSteps`,
//! `queuePosition`, enums by name such as `"JOB_STATE_QUEUED"`).
//!
//! Integers in request bodies are accepted as JSON numbers or as decimal strings, as the proto
//! JSON mapping allows; responses write them as numbers. JSON strings that the protocol carries
//! as text (`metricsJson`, `resolvedSpecJson`) are parsed into objects (`metrics`,
//! `resolvedSpec`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::{self, DeserializeOwned, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skippy_proto::v1 as pb;

use super::errors::ApiError;

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// `POST /api/training/jobs`: a `JobSpec`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpecBody {
    /// Algorithm ("ppo"; empty means "ppo").
    #[serde(default)]
    pub algorithm: String,
    /// Environment steps (0: the default).
    #[serde(default, alias = "total_steps", deserialize_with = "int_or_default")]
    pub total_steps: u64,
    /// Catalog symbols.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Feature sets.
    #[serde(default)]
    pub features: Vec<String>,
    /// Seed (absent: drawn by the scheduler).
    #[serde(default, deserialize_with = "optional_int")]
    pub seed: Option<u64>,
    /// Higher runs first.
    #[serde(default, deserialize_with = "int_or_default")]
    pub priority: i32,
    /// Wall-duration budget in seconds (0: none beyond the server's cap).
    #[serde(default, alias = "max_duration_seconds", deserialize_with = "float_or_default")]
    pub max_duration_seconds: f64,
    /// Idempotency key.
    #[serde(default, alias = "idempotency_key")]
    pub idempotency_key: String,
    /// Overrides by dotted path; values are JSON, so numbers and booleans are taken as written.
    #[serde(default)]
    pub overrides: BTreeMap<String, Value>,
}

impl From<JobSpecBody> for pb::JobSpec {
    fn from(b: JobSpecBody) -> pb::JobSpec {
        pb::JobSpec {
            algorithm: b.algorithm,
            total_steps: b.total_steps,
            symbols: b.symbols,
            features: b.features,
            seed: b.seed,
            priority: b.priority,
            max_duration_seconds: b.max_duration_seconds,
            idempotency_key: b.idempotency_key,
            overrides: b
                .overrides
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        }
    }
}

/// `POST /api/training/real-session`: the old blocking call's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RealSessionBody {
    /// Wall-duration budget in hours (required, > 0).
    #[serde(default, deserialize_with = "optional_float")]
    pub duration: Option<f64>,
    /// Symbols (default BTC, ETH).
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// Environment steps (default 1,000,000).
    #[serde(default, alias = "totalSteps", deserialize_with = "optional_int")]
    pub steps: Option<u64>,
    /// Feature sets (default price).
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

/// `GET /api/training/jobs` query: `?limit=20&state=queued`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Most jobs (1–1000; default 20).
    pub limit: Option<String>,
    /// Only jobs in this state.
    pub state: Option<String>,
}

/// A JSON object request body: refused with 415 for a non-JSON content type (no content type is
/// taken as JSON), 413 over the body limit, and 400 with the place and the reason when it is not
/// an object or does not parse into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(value) = req.headers().get(CONTENT_TYPE) {
            let text = String::from_utf8_lossy(value.as_bytes()).to_string();
            let mime = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mime != "application/json" && !mime.ends_with("+json") {
                return Err(ApiError::unsupported_media_type(&text));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(ApiError::from_body)?;
        JsonBody::parse(&bytes)
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// Reads a body already within the size limit: 400 when it is not a JSON object or does not
    /// parse into `T`. What [`FromRequest`] runs after the content type and size checks; public
    /// so the fuzz targets under `fuzz/` and tests can feed it bytes without a server.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => return Err(ApiError::invalid("the request body is empty; send a JSON object")),
            // serde would read an array as a struct's fields in order: refuse it by name.
            Some(b'{') => {}
            Some(_) => return Err(ApiError::invalid("the request body must be a JSON object ({...})")),
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(bytes).map_err(ApiError::from_json)?;
        Ok(JsonBody(value))
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers as the proto JSON mapping reads them
// ---------------------------------------------------------------------------------------------

/// Reads an integer written as a JSON number (`20000`, `2e4`) or a decimal string (`"20000"`);
/// `null` reads as absent.
struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> IntVisitor<T> {
    fn fit<E: de::Error>(&self, v: i128, unexpected: Unexpected<'_>) -> Result<Option<T>, E> {
        T::try_from(v).map(Some).map_err(|_| E::invalid_value(unexpected, self))
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for IntVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer in range for {} (a JSON number or a decimal string)", std::any::type_name::<T>())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        self.fit(v as i128, Unexpected::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        self.fit(v as i128, Unexpected::Signed(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        // Exponent notation (`2e4`) arrives as a float; only whole values in range are integers.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.8e19 {
            self.fit(v as i128, Unexpected::Float(v))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
        if let Ok(v) = s.parse::<i128>() {
            return self.fit(v, Unexpected::Str(s));
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.8e19 => self.fit(v as i128, Unexpected::Str(s)),
            _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
        }
    }
}

/// An integer field whose absence (or `null`) is its zero value.
fn int_or_default<'de, D: Deserializer<'de>, T: TryFrom<i128> + Default>(d: D) -> Result<T, D::Error> {
    Ok(d.deserialize_option(IntVisitor::<T>(PhantomData))?.unwrap_or_default())
}

/// An optional integer field (`null` is absent).
fn optional_int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(IntVisitor::<T>(PhantomData))
}

/// Reads a float written as a JSON number or a numeric string; `null` reads as absent.
struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number (a JSON number or a numeric string)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(Some(v))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<f64>, E> {
        s.trim().parse::<f64>().map(Some).map_err(|_| E::invalid_value(Unexpected::Str(s), &self))
    }
}

/// A float field whose absence (or `null`) is 0.
fn float_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(d.deserialize_option(FloatVisitor)?.unwrap_or_default())
}

/// An optional float field.
fn optional_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_option(FloatVisitor)
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// An enum value by name (`"JOB_STATE_DONE"`), or its number when this build does not know it.
fn enum_name(name: Option<&'static str>, value: i32) -> Value {
    match name {
        Some(n) => Value::from(n),
        None => Value::from(value),
    }
}

fn job_state(value: i32) -> Value {
    enum_name(pb::JobState::try_from(value).ok().map(|s| s.as_str_name()), value)
}

/// Text that holds JSON, as the JSON it holds (`null` when empty, the text itself when it does
/// not parse).
fn embedded_json(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `JobSpec` as stored with the job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpecJson {
    algorithm: String,
    total_steps: u64,
    symbols: Vec<String>,
    features: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    priority: i32,
    max_duration_seconds: f64,
    idempotency_key: String,
    overrides: BTreeMap<String, String>,
}

impl From<pb::JobSpec> for JobSpecJson {
    fn from(s: pb::JobSpec) -> JobSpecJson {
        JobSpecJson {
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
}

/// `StateChange`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeJson {
    state: Value,
    at_ms: i64,
    reason: String,
}

/// `ResultSummary`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSummaryJson {
    sharpe: f64,
    buy_and_hold_sharpe: f64,
    generation: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    improvement: Option<ImprovementJson>,
    champion: bool,
    stop_reason: String,
    edge_significant: bool,
}

/// `Improvement`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImprovementJson {
    sharpe_difference: f64,
    lo: f64,
    hi: f64,
    level: f64,
    significant: bool,
    over_generation: u32,
}

/// `Job`, with `resolvedSpecJson` parsed into `resolvedSpec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobJson {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<JobSpecJson>,
    state: Value,
    percent: f64,
    message: String,
    steps_done: u64,
    total_steps: u64,
    steps_per_sec: f64,
    created_ms: i64,
    started_ms: i64,
    finished_ms: i64,
    queue_position: u32,
    attempt: u32,
    trainer_id: String,
    error: String,
    history: Vec<StateChangeJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultSummaryJson>,
    resolved_spec: Value,
    last_sequence: u64,
}

impl JobJson {
    /// The job's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl From<pb::Job> for JobJson {
    fn from(j: pb::Job) -> JobJson {
        JobJson {
            resolved_spec: embedded_json(&j.resolved_spec_json),
            state: job_state(j.state),
            id: j.id,
            spec: j.spec.map(JobSpecJson::from),
            percent: j.percent,
            message: j.message,
            steps_done: j.steps_done,
            total_steps: j.total_steps,
            steps_per_sec: j.steps_per_sec,
            created_ms: j.created_ms,
            started_ms: j.started_ms,
            finished_ms: j.finished_ms,
            queue_position: j.queue_position,
            attempt: j.attempt,
            trainer_id: j.trainer_id,
            error: j.error,
            history: j
                .history
                .into_iter()
                .map(|h| StateChangeJson { state: job_state(h.state), at_ms: h.at_ms, reason: h.reason })
                .collect(),
            result: j.result.map(|r| ResultSummaryJson {
                sharpe: r.sharpe,
                buy_and_hold_sharpe: r.buy_and_hold_sharpe,
                generation: r.generation,
                improvement: r.improvement.map(|i| ImprovementJson {
                    sharpe_difference: i.sharpe_difference,
                    lo: i.lo,
                    hi: i.hi,
                    level: i.level,
                    significant: i.significant,
                    over_generation: i.over_generation,
                }),
                champion: r.champion,
                stop_reason: r.stop_reason,
                edge_significant: r.edge_significant,
            }),
            last_sequence: j.last_sequence,
        }
    }
}

/// `SubmitJobResponse`: the job's fields, plus whether it is new.
#[derive(Debug, Serialize)]
pub struct SubmittedJson {
    /// The job.
    #[serde(flatten)]
    pub job: JobJson,
    /// False when the idempotency key returned an existing job.
    pub created: bool,
}

/// `ListJobsResponse`.
#[derive(Debug, Serialize)]
pub struct JobListJson {
    /// Newest first.
    pub jobs: Vec<JobJson>,
}

/// `Artifact`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactJson {
    name: String,
    size: u64,
    sha256: String,
}

impl From<pb::Artifact> for ArtifactJson {
    fn from(a: pb::Artifact) -> ArtifactJson {
        ArtifactJson { name: a.name, size: a.size, sha256: a.sha256 }
    }
}

/// `GetResultsResponse`, with `metricsJson` parsed into `metrics` (`null` until the job is done).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultsJson {
    /// The job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobJson>,
    /// metrics.json as written by the trainer.
    pub metrics: Value,
    /// Every artifact stored for the job.
    pub artifacts: Vec<ArtifactJson>,
}

impl From<pb::GetResultsResponse> for ResultsJson {
    fn from(r: pb::GetResultsResponse) -> ResultsJson {
        ResultsJson {
            job: r.job.map(JobJson::from),
            metrics: embedded_json(&r.metrics_json),
            artifacts: r.artifacts.into_iter().map(ArtifactJson::from).collect(),
        }
    }
}

/// `TrainerInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainerInfoJson {
    trainer_id: String,
    name: String,
    job_ids: Vec<String>,
    last_seen_ms: i64,
    steps_per_sec: f64,
}

/// `GetQueueResponse`.
#[derive(Debug, Serialize)]
pub struct QueueJson {
    /// Queued jobs in dispatch order.
    pub queued: Vec<JobJson>,
    /// Jobs held by trainers.
    pub running: Vec<JobJson>,
    /// Trainers seen recently.
    pub trainers: Vec<TrainerInfoJson>,
}

impl From<pb::GetQueueResponse> for QueueJson {
    fn from(q: pb::GetQueueResponse) -> QueueJson {
        QueueJson {
            queued: q.queued.into_iter().map(JobJson::from).collect(),
            running: q.running.into_iter().map(JobJson::from).collect(),
            trainers: q
                .trainers
                .into_iter()
                .map(|t| TrainerInfoJson {
                    trainer_id: t.trainer_id,
                    name: t.name,
                    job_ids: t.job_ids,
                    last_seen_ms: t.last_seen_ms,
                    steps_per_sec: t.steps_per_sec,
                })
                .collect(),
        }
    }
}

/// `TrainingStats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainingStatsJson {
    episode_reward: f64,
    policy_loss: f64,
    value_loss: f64,
    entropy: f64,
    approx_kl: f64,
    clip_fraction: f64,
    explained_variance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    best_validation_sharpe: Option<f64>,
}

/// `JobEvent`: one server-sent event of `/events`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEventJson {
    sequence: u64,
    job_id: String,
    at_ms: i64,
    state: Value,
    percent: f64,
    message: String,
    steps_done: u64,
    steps_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<TrainingStatsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<JobJson>,
    kind: Value,
}

impl From<pb::JobEvent> for JobEventJson {
    fn from(e: pb::JobEvent) -> JobEventJson {
        JobEventJson {
            sequence: e.sequence,
            job_id: e.job_id,
            at_ms: e.at_ms,
            state: job_state(e.state),
            percent: e.percent,
            message: e.message,
            steps_done: e.steps_done,
            steps_per_sec: e.steps_per_sec,
            stats: e.stats.map(|s| TrainingStatsJson {
                episode_reward: s.episode_reward,
                policy_loss: s.policy_loss,
                value_loss: s.value_loss,
                entropy: s.entropy,
                approx_kl: s.approx_kl,
                clip_fraction: s.clip_fraction,
                explained_variance: s.explained_variance,
                best_validation_sharpe: s.best_validation_sharpe,
            }),
            job: e.job.map(JobJson::from),
            kind: enum_name(pb::EventKind::try_from(e.kind).ok().map(|k| k.as_str_name()), e.kind),
        }
    }
}

/// `JobsEvent`: one server-sent event of `/api/training/events`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobsEventJson {
    sequence: u64,
    epoch: String,
    kind: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<JobEventJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
}

impl From<pb::JobsEvent> for JobsEventJson {
    fn from(e: pb::JobsEvent) -> JobsEventJson {
        JobsEventJson {
            sequence: e.sequence,
            epoch: e.epoch,
            kind: enum_name(pb::JobsEventKind::try_from(e.kind).ok().map(|k| k.as_str_name()), e.kind),
            event: e.event.map(JobEventJson::from),
            reason: e.reason,
        }
    }
}

/// `POST /api/training/real-session`'s answer: the finished job and its results.
#[derive(Debug, Serialize)]
pub struct RealSessionJson {
    /// The job, finished.
    pub job: JobJson,
    /// Its metrics and artifacts.
    pub results: ResultsJson,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<JobSpecBody, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_are_read_from_numbers_strings_and_exponents() {
        let s = spec(r#"{"totalSteps": "20000", "seed": 7, "priority": "-3"}"#).unwrap();
        assert_eq!((s.total_steps, s.seed, s.priority), (20000, Some(7), -3));
        let s = spec(r#"{"total_steps": 2e4, "seed": null, "maxDurationSeconds": "1.5"}"#).unwrap();
        assert_eq!((s.total_steps, s.seed, s.max_duration_seconds), (20000, None, 1.5));
    }

    #[test]
    fn bad_numbers_and_unknown_fields_say_what_and_where() {
        let e = spec(r#"{"totalSteps": "abc"}"#).unwrap_err();
        assert!(e.contains("\"abc\"") && e.contains("integer"), "{e}");
        let e = spec(r#"{"totalSteps": -1}"#).unwrap_err();
        assert!(e.contains("-1"), "{e}");
        let e = spec(r#"{"totalSteps": 1.5}"#).unwrap_err();
        assert!(e.contains("1.5"), "{e}");
        let e = spec(r#"{"priority": 3000000000}"#).unwrap_err();
        assert!(e.contains("3000000000"), "{e}");
        let e = spec(r#"{"totlSteps": 1}"#).unwrap_err();
        assert!(e.contains("unknown field `totlSteps`"), "{e}");
    }

    #[test]
    fn override_values_that_are_not_strings_keep_their_json_text() {
        let s = spec(r#"{"overrides": {"ppo.learning_rate": 0.0001, "env.long_only": true, "a": "b"}}"#).unwrap();
        let p = pb::JobSpec::from(s);
        assert_eq!(p.overrides["ppo.learning_rate"], "0.0001");
        assert_eq!(p.overrides["env.long_only"], "true");
        assert_eq!(p.overrides["a"], "b");
    }

    #[test]
    fn jobs_are_written_with_proto_json_names_and_enum_names() {
        let job = pb::Job {
            id: "tr_1_deadbeef".into(),
            state: pb::JobState::Queued as i32,
            queue_position: 1,
            total_steps: 20000,
            resolved_spec_json: r#"{"ppo":{"n_steps":2048}}"#.into(),
            ..Default::default()
        };
        let v = serde_json::to_value(JobJson::from(job)).unwrap();
        assert_eq!(v["state"], "JOB_STATE_QUEUED");
        assert_eq!(v["queuePosition"], 1);
        assert_eq!(v["totalSteps"], 20000);
        assert_eq!(v["resolvedSpec"]["ppo"]["n_steps"], 2048);
        assert!(v.get("result").is_none());
    }
}
