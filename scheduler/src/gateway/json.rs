//! The gateway's own JSON: the request bodies and query strings that have no message of their
//! own in the protocol, and how a body is read (strict: unknown fields are refused; 415 for a
//! content type that is not JSON, 400 with the place and the reason for a body that does not
//! parse). Every job, result, event and queue is written in the one JSON form of
//! [`skippy_proto::json`].

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skippy_proto::json::{self, optional_float, optional_int};
use utoipa::{IntoParams, ToSchema};

use super::errors::ApiError;

/// `POST /api/training/real-session`: the old blocking call's body. A job is submitted with
/// these values and the call waits for it to end.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"duration": 0.0005, "symbols": ["BTC"], "steps": 4096}))]
pub struct RealSessionBody {
    /// Training-time budget in hours, required and positive; the job's `maxDurationSeconds` is
    /// `duration × 3600`, so it may be at most this server's `--max-job-duration-secs`.
    #[serde(default, deserialize_with = "optional_float")]
    #[schema(required = true, value_type = f64, exclusive_minimum = 0)]
    pub duration: Option<f64>,
    /// Catalog symbols (default `["BTC", "ETH"]`).
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// Environment steps (default 1,000,000); `totalSteps` is another name of it.
    #[serde(default, alias = "totalSteps", deserialize_with = "optional_int")]
    #[schema(minimum = 0)]
    pub steps: Option<u64>,
    /// Feature sets (default `["price"]`).
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

/// `GET /api/training/jobs` query: `?limit=20&state=queued&symbol=BTC&cursor=…`. Unknown
/// parameters are a 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Most jobs in the page, 1 to 1000 (absent or empty: 20). A page may hold fewer (the
    /// server examines a bounded number of jobs per request) and still have a `next` link.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only jobs in these states, comma-separated (`queued`, … `cancelled`; case-insensitive,
    /// `JOB_STATE_QUEUED` forms too). Absent, empty or `all`: every state.
    pub state: Option<String>,
    /// Only jobs trained on this symbol (case-insensitive).
    pub symbol: Option<String>,
    /// Only the runs of this experiment (`ex_…`), in its order: configuration, seed, fold.
    pub experiment: Option<String>,
    /// Where the page starts: the previous page's `nextCursor` (with the same filters). Absent:
    /// the newest jobs.
    pub cursor: Option<String>,
}

/// `POST /api/training/experiments` query: `?validateOnly=true` for a dry run. Unknown
/// parameters are a 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SubmitExperimentQuery {
    /// `true`: check the experiment as creating it would (every run resolved, the whole
    /// experiment admitted) and answer only its estimate (200); nothing is stored or queued.
    pub validate_only: Option<bool>,
}

/// `GET /api/training/experiments` query: `?limit=20&cursor=…`. Unknown parameters are a 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExperimentListQuery {
    /// Most experiments in the page, 1 to 1000 (absent or empty: 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Where the page starts: the previous page's `nextCursor`.
    pub cursor: Option<String>,
}

/// `GET /api/training/queue` query: `?limit=20&symbol=BTC&cursor=…`. Unknown parameters are a
/// 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Most queued jobs in the page, 1 to 1000 (absent or empty: 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only queued jobs trained on this symbol (case-insensitive; positions stay the jobs'
    /// places in the whole queue).
    pub symbol: Option<String>,
    /// Where the page starts: the previous page's `nextCursor` (with the same `symbol`).
    pub cursor: Option<String>,
}

/// `POST /api/training/real-session`'s answer: the finished job and its results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RealSession {
    /// The job, finished.
    pub job: json::Job,
    /// Its metrics and artifacts.
    pub results: json::Results,
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
