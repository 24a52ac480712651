//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the gateway's routes, generated.
//!
//! Nothing here is written by hand twice: each JSON route's path, method, parameters and
//! responses come from its handler's `#[utoipa::path]` (which [`super::api`] also uses to route
//! it), and every body's schema from the types the handler reads and writes
//! ([`skippy_proto::json`], [`super::json`], [`super::errors::ErrorBody`]). The dashboard's
//! files and `/healthz` are added from the same tables their routers are built from. The
//! document is checked against the running server by `scheduler/tests/it/openapi.rs` and fuzzed by
//! `.ci/schemathesis.sh`.

use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::path::{OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HttpMethod, ObjectBuilder, Ref, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use skippy_proto::json;

use super::errors::{
    BadRequest, GatewayTimeout, NotFound, PayloadTooLarge, PermissionDenied, RequestTimeout, TooManyRequests,
    Unauthenticated, Unavailable, UnsupportedMediaType,
};

/// What [`super::api`]'s routes do not say themselves: the title, the authentication, the tags,
/// the shared error responses, and the routes served outside the JSON API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "skippy-train REST API",
        description = "The REST gateway of the skippy-train scheduler: the `TrainingService` gRPC calls over HTTP, \
            with the same bearer secret. Served by `skippy-scheduler` on `--http-addr` and by `skippy-gateway`. \
            Every body uses one JSON form, the same as `skippy-train … --json` prints: camelCase names \
            (`totalSteps`, `queuePosition`), enums by their plain names (`\"QUEUED\"`, `\"PROGRESS\"`), times in \
            unix milliseconds; integers in request bodies may also be decimal strings. Every error is \
            `{\"error\": {\"code\", \"message\"}}`. Limits that depend on the server's flags (steps per job, \
            duration per job, queue length, compute budget) are checked at submission and refused with a 400 \
            or 429 that names the limit.",
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "jobs", description = "Training jobs."),
        (name = "experiments", description = "Experiments: one base spec over configurations × seeds × \
            walk-forward folds, each run an ordinary job, reported with selection on validation only."),
        (name = "meta", description = "This document and health; no authentication."),
        (name = "dashboard", description = "The web dashboard's page and assets; no authentication (the page asks \
            for the secret and sends it to the API)."),
    ),
    security(("bearerAuth" = [])),
    components(schemas(json::Event, json::FeedEvent), responses(
        BadRequest, Unauthenticated, PermissionDenied, NotFound, RequestTimeout, PayloadTooLarge, UnsupportedMediaType,
        TooManyRequests, Unavailable, GatewayTimeout
    )),
    modifiers(&Served),
)]
pub struct ApiDoc;

/// Adds the bearer scheme and the routes outside the JSON API (the dashboard, `/healthz`).
struct Served;

impl Modify for Served {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`authorization: Bearer <ADMIN_SECRET>`, the scheduler's client secret. No or a wrong secret \
                         is a 401; the trainer token is a 403.",
                    ))
                    .build(),
            ),
        );
        let pages = super::dashboard::PAGES.iter().map(|path| (*path, "The dashboard page.", "text/html", "dashboard"));
        let files = super::dashboard::ASSETS.iter().map(|(path, content_type, _)| {
            (*path, "A file of the dashboard (embedded in the binary).", *content_type, "dashboard")
        });
        let health = [(
            "/healthz",
            "Health: `ok` and a newline while the server runs; a 503 saying draining once it is shutting down.",
            "text/plain",
            "meta",
        )];
        let text = |description: &str, mime: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    mime,
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                )
                .build()
        };
        for (path, summary, content_type, tag) in pages.chain(files).chain(health) {
            let mime = content_type.split(';').next().unwrap_or(content_type).trim();
            let mut operation = OperationBuilder::new()
                .operation_id(Some(operation_id(path)))
                .summary(Some(summary))
                .tag(tag)
                .securities(Some(Vec::<utoipa::openapi::security::SecurityRequirement>::new()))
                .response("200", text(summary, mime));
            if tag == "meta" {
                let draining = ResponseBuilder::new()
                    .description(
                        "Draining: shutdown has begun; requests in flight finish, new ones belong elsewhere. Codes: \
                         `unavailable`.",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build(),
                    )
                    .build();
                operation = operation.response("503", draining);
            }
            let operation = operation.build();
            doc.paths.paths.insert(path.to_string(), PathItem::new(HttpMethod::Get, operation));
        }
    }
}

/// An operation id from a path: `/dashboard/js/main.js` → `get_dashboard_js_main_js`, `/` →
/// `get_root`.
fn operation_id(path: &str) -> String {
    let words: Vec<String> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let dir = if path.len() > 1 && path.ends_with('/') { "_dir" } else { "" };
    if words.is_empty() { "get_root".to_string() } else { format!("get_{}{dir}", words.join("_")) }
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", operation_id = "getOpenApi", tag = "meta", security(),
    responses((status = 200, description = "The OpenAPI document of these routes.", body = Object))
)]
pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// The document, as served: generated once from the routes and their types.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let (_, doc) = super::api().split_for_parts();
    doc.to_pretty_json().expect("the OpenAPI document serialises")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_of_this_version() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["paths"]["/api/training/jobs"]["post"]["operationId"], "submitJob");
        assert_eq!(doc["components"]["schemas"]["JobState"]["enum"][1], "QUEUED");
        assert!(doc["components"]["responses"]["BadRequest"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
        assert!(doc["paths"]["/healthz"]["get"].is_object());
        // A JSON artifact (metrics.json, spec.json) is any JSON document, not a string.
        let artifact = &doc["paths"]["/api/training/jobs/{id}/artifacts/{name}"]["get"]["responses"]["200"];
        let json = &artifact["content"]["application/json"]["schema"];
        assert_ne!(json["type"], "string", "{json}");
    }
}
