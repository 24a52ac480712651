//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the gateway's routes.
//!
//! The document is hand-written (`openapi.json` beside this file) and compiled in. It is checked
//! against the router by `scheduler/tests/it/openapi.rs` (every documented operation is served,
//! every route is documented) and against the running server by `.ci/schemathesis.sh`.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Serves [`DOCUMENT`] (no authentication: it holds no secret and no job).
pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_of_this_version() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "bump info.version in openapi.json");
    }
}
