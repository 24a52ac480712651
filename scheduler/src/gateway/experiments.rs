//! The experiment routes (`/api/training/experiments…`), thin adapters over the experiment RPCs
//! as the job routes are over theirs.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use skippy_proto::json;
use skippy_proto::v1 as pb;
use tonic::Status;
use utoipa::IntoParams;

use super::Gateway;
use super::errors::{
    ApiError, BadRequest, ErrorBody, GatewayTimeout, NotFound, PayloadTooLarge, PermissionDenied, TooManyRequests,
    Unauthenticated, Unavailable, UnsupportedMediaType,
};
use super::json::{ExperimentListQuery, JsonBody, SubmitExperimentQuery};
use super::routes::{next_link, page_limit, paged, unary};

/// The `{id}` of an experiment route, percent-decoded (any other text is simply not found).
#[derive(Debug, IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct ExperimentId(
    /// An experiment id (`ex_<unix seconds>_<8 hex digits>`).
    #[param(example = "ex_1754727123_a1b2c3d4")]
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for ExperimentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ExperimentId, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(ApiError::from_path)?;
        Ok(ExperimentId(id))
    }
}

/// Create an experiment (SubmitExperiment): one run per configuration × seed × fold.
///
/// Every run is checked and the whole experiment admitted before anything is stored; all its
/// runs are then durable before the answer (or none is). A budget the experiment would exceed
/// is a 429 giving its total. With `?validateOnly=true` the same checks run and only the
/// estimate is answered: nothing is stored or queued.
#[utoipa::path(
    post, path = "/api/training/experiments", operation_id = "submitExperiment", tag = "experiments",
    request_body = json::ExperimentSpec, params(SubmitExperimentQuery),
    responses(
        (status = 200, description = "A dry run (`validateOnly=true`): the experiment would be accepted, and \
            this is what its runs should take. Nothing was stored or queued.", body = json::ExperimentEstimate),
        (status = 202, description = "Created, every run queued durably; or the existing experiment of an \
            idempotency key already used.", body = json::ExperimentSubmitted,
            headers(("Location" = String, description = "The experiment's status route."))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 409, description = "The idempotency key was used for another request (in a dry run: for any \
            experiment). Codes: `failed_precondition`.", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType), (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn submit(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<SubmitExperimentQuery>, QueryRejection>,
    JsonBody(spec): JsonBody<json::ExperimentSpec>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    if query.validate_only.unwrap_or(false) {
        let request = unary(&headers, pb::EstimateExperimentRequest { spec: Some(spec.into()) })?;
        let estimate = gw.client().estimate_experiment(request).await?.into_inner();
        return Ok(Json(json::ExperimentEstimate::from(estimate)).into_response());
    }
    let request = unary(&headers, pb::SubmitExperimentRequest { spec: Some(spec.into()) })?;
    let response = gw.client().submit_experiment(request).await?.into_inner();
    let id = &response
        .experiment
        .as_ref()
        .ok_or_else(|| Status::internal("the scheduler answered without an experiment"))?
        .id;
    let location = HeaderValue::from_str(&format!("/api/training/experiments/{id}/status"))
        .map_err(|_| Status::internal(format!("the scheduler returned an unusable id {id:?}")))?;
    let body = json::ExperimentSubmitted::from(response);
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(body)).into_response())
}

/// List experiments, newest first, a page at a time (ListExperiments); without their runs.
#[utoipa::path(
    get, path = "/api/training/experiments", operation_id = "listExperiments", tag = "experiments",
    params(ExperimentListQuery),
    responses(
        (status = 200, description = "A page of experiments.", body = json::ExperimentList,
            headers(("Link" = String, description = "`<next page>; rel=\"next\"`, unless this is the last page."))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    )
)]
pub async fn list(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    query: Result<Query<ExperimentListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let limit = page_limit(query.limit.as_deref())?;
    let request = pb::ListExperimentsRequest { page_size: limit, page_token: query.cursor.unwrap_or_default() };
    let response = gw.client().list_experiments(unary(&headers, request)?).await?.into_inner();
    let mut list = json::ExperimentList::from(response);
    list.next = list.next_cursor.as_deref().map(|cursor| {
        next_link(
            "/api/training/experiments",
            &[("limit", if limit == 0 { String::new() } else { limit.to_string() }), ("cursor", cursor.to_string())],
        )
    });
    Ok(paged(list.next.clone(), Json(list)))
}

/// An experiment with every run's state (GetExperiment).
#[utoipa::path(
    get, path = "/api/training/experiments/{id}", operation_id = "getExperiment", tag = "experiments",
    params(ExperimentId),
    responses(
        (status = 200, description = "The experiment.", body = json::Experiment),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn get(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    ExperimentId(id): ExperimentId,
) -> Result<Json<json::Experiment>, ApiError> {
    let request = unary(&headers, pb::GetExperimentRequest { experiment_id: id })?;
    Ok(Json(gw.client().get_experiment(request).await?.into_inner().into()))
}

/// An experiment with every run's state (GetExperiment); the same as its own route.
#[utoipa::path(
    get, path = "/api/training/experiments/{id}/status", operation_id = "getExperimentStatus", tag = "experiments",
    params(ExperimentId),
    responses(
        (status = 200, description = "The experiment.", body = json::Experiment),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn status(
    state: State<Gateway>,
    headers: HeaderMap,
    id: ExperimentId,
) -> Result<Json<json::Experiment>, ApiError> {
    get(state, headers, id).await
}

/// An experiment's report and artifacts (GetExperimentResults).
#[utoipa::path(
    get, path = "/api/training/experiments/{id}/results", operation_id = "getExperimentResults",
    tag = "experiments", params(ExperimentId),
    responses(
        (status = 200, description = "The experiment, its report (`experiment.json`; `null` until every run has \
            ended) and its artifacts.", body = json::ExperimentResults),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn results(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    ExperimentId(id): ExperimentId,
) -> Result<Json<json::ExperimentResults>, ApiError> {
    let request = unary(&headers, pb::GetExperimentResultsRequest { experiment_id: id })?;
    Ok(Json(gw.client().get_experiment_results(request).await?.into_inner().into()))
}

/// Cancel an experiment (CancelExperiment): every run not yet finished is cancelled.
///
/// Cancelling a cancelled experiment again is a no-op (200).
#[utoipa::path(
    delete, path = "/api/training/experiments/{id}", operation_id = "cancelExperiment", tag = "experiments",
    params(ExperimentId),
    responses(
        (status = 200, description = "The experiment, cancelled.", body = json::Experiment),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied), (status = 404, response = NotFound),
        (status = 409, description = "The experiment already ended. Codes: `failed_precondition`.",
            body = ErrorBody),
        (status = 503, response = Unavailable), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn cancel(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    ExperimentId(id): ExperimentId,
) -> Result<Json<json::Experiment>, ApiError> {
    let request = unary(&headers, pb::CancelExperimentRequest { experiment_id: id })?;
    Ok(Json(gw.client().cancel_experiment(request).await?.into_inner().into()))
}

/// One of an experiment's report files (`experiment.json`, `walk_forward.svg`, `seeds.svg`).
#[utoipa::path(
    get, path = "/api/training/experiments/{id}/artifacts/{name}", operation_id = "getExperimentArtifact",
    tag = "experiments",
    params(
        ExperimentId,
        ("name" = String, Path, pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", example = "experiment.json",
            description = "An artifact name as listed by the experiment's results."),
    ),
    responses(
        (status = 200, description = "The file.",
            content((serde_json::Value = "application/json"), (String = "image/svg+xml"))),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, description = "No such experiment, or no artifact of that name (yet). Codes: `not_found`.",
            body = ErrorBody),
        (status = 409, description = "Not a plain file: refused. Codes: `failed_precondition`.", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn artifact(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, name)) = path.map_err(ApiError::from_path)?;
    // A job id here would serve a job's file under the experiment's route.
    if !crate::experiment::is_valid_experiment_id(&id) {
        return Err(Status::not_found(format!("no experiment {}", id.chars().take(64).collect::<String>())).into());
    }
    super::artifacts::serve(&gw, &headers, id, name).await
}
