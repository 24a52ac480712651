//! `GET /api/training/jobs/{id}/artifacts/{name}`: one stored artifact's content (`equity.csv`,
//! `learning_curve.csv`, `metrics.json`, the model, …), streamed from `DownloadArtifact`.
//!
//! The name must be a plain artifact name ([`is_valid_artifact_name`]: no path, no leading dot);
//! anything else is a 400 before the scheduler is called. The scheduler then serves only names
//! the job lists (404 otherwise). The content type follows the extension; the response is never
//! run as a page (`nosniff`, a sandboxing policy), whatever a trainer uploaded.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use skippy_proto::v1 as pb;
use tonic::Status;

use super::Gateway;
use super::errors::{ApiError, BadRequest, ErrorBody, PermissionDenied, Unauthenticated, Unavailable};
use super::routes::{JobId, grpc_request};
use crate::store::is_valid_artifact_name;

/// One artifact's content (DownloadArtifact).
///
/// Streamed from the scheduler. The content type follows the extension; the response is never
/// run as a page (`X-Content-Type-Options: nosniff` and a sandboxing `Content-Security-Policy`).
#[utoipa::path(
    get, path = "/api/training/jobs/{id}/artifacts/{name}", operation_id = "getArtifact", tag = "jobs",
    params(
        JobId,
        ("name" = String, Path, pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", example = "equity.csv",
            description = "An artifact name as listed by the job's results: 1 to 128 ASCII letters, digits, `.`, \
                `_` or `-`, not starting with `.` (anything else is a 400 before the scheduler is asked)."),
    ),
    responses(
        (status = 200, description = "The file, `Content-Disposition: inline; filename=\"<name>\"`.",
            content(
                (serde_json::Value = "application/json"), (String = "text/csv"), (String = "image/svg+xml"),
                (String = "text/plain"), (String = "image/png"), (Vec<u8> = "application/octet-stream"),
            )),
        (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = PermissionDenied),
        (status = 404, description = "No such job, or the job has no artifact of that name (the message lists \
            those it has). Codes: `not_found`.", body = ErrorBody),
        (status = 409, description = "What the job's directory holds under that name is not a plain file (a \
            symbolic link, say): refused, never followed. Codes: `failed_precondition`.", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn artifact(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, name)) = path.map_err(ApiError::from_path)?;
    serve(&gw, &headers, id, name).await
}

/// The content of artifact `name` of job (or experiment) `id`, streamed from the scheduler.
pub(super) async fn serve(gw: &Gateway, headers: &HeaderMap, id: String, name: String) -> Result<Response, ApiError> {
    if !is_valid_artifact_name(&name) {
        return Err(ApiError::invalid(format!(
            "artifact name {:?} is not a plain file name: use 1-128 letters, digits, '.', '_' or '-', not starting \
             with '.'",
            name.chars().take(64).collect::<String>()
        )));
    }
    let request = grpc_request(headers, pb::DownloadArtifactRequest { job_id: id, name: name.clone() })?;
    let mut stream = gw.client().download_artifact(request).await?.into_inner();
    // The first chunk is awaited here, so that a file the scheduler cannot read is an error
    // response rather than a cut-off body.
    let first = stream.message().await?;
    let chunks = futures::stream::unfold((first, Some(stream)), |(pending, stream)| async move {
        if let Some(chunk) = pending {
            return Some((Ok(chunk.data), (None, stream)));
        }
        let mut stream = stream?;
        match stream.message().await {
            Ok(Some(chunk)) => Some((Ok(chunk.data), (None, Some(stream)))),
            Ok(None) => None,
            Err(status) => Some((Err(std::io::Error::other(status.message().to_string())), (None, None))),
        }
    });
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
        .map_err(|_| Status::internal("an artifact name that passed validation is not a header value"))?;
    let response = (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type(&name))),
            (CONTENT_DISPOSITION, disposition),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            ),
        ],
        Body::from_stream(chunks),
    );
    Ok(response.into_response())
}

/// The content type of an artifact, by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("metrics.json"), "application/json");
        assert_eq!(content_type("equity.csv"), "text/csv; charset=utf-8");
        assert_eq!(content_type("learning_curve.SVG"), "image/svg+xml");
        assert_eq!(content_type("model.safetensors"), "application/octet-stream");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
