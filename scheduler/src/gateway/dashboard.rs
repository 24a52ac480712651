//! The dashboard: one small web page (plain HTML, CSS and JavaScript, compiled into the binary;
//! no build step) served at `/` and `/dashboard/`, with its assets under `/dashboard/`.
//!
//! The page itself is open: it holds nothing secret and calls the same `/api/training` routes as
//! any client, with `Authorization: Bearer <ADMIN_SECRET>`. It takes the secret from the URL
//! fragment (`/#token=…`, which browsers never send to the server, so it reaches no log), keeps
//! it in the tab's `sessionStorage` and removes it from the address bar; without one it asks
//! for it. Event streams are read with `fetch` (which can send the header), not `EventSource`.
//!
//! ```text
//! GET /                            the page
//! GET /dashboard/                  the page
//! GET /dashboard/app.js            its script
//! GET /dashboard/style.css         its style sheet
//! GET /dashboard/favicon.svg       its icon
//! ```

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page.
pub const INDEX_HTML: &str = include_str!("dashboard/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("dashboard/app.js");
/// Its style sheet.
pub const STYLE_CSS: &str = include_str!("dashboard/style.css");
/// Its icon.
pub const FAVICON_SVG: &str = include_str!("dashboard/favicon.svg");

/// What the page may load and run: its own script, style sheet and API, nothing inline, nothing
/// from elsewhere, in no frame.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes (any state: they use none).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard", get(index))
        .route("/dashboard/", get(index))
        .route("/dashboard/index.html", get(index))
        .route("/dashboard/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/dashboard/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/dashboard/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON_SVG) }))
}

async fn index() -> Response {
    let mut response = asset("text/html; charset=utf-8", INDEX_HTML);
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// An embedded file; revalidated on every load, so a new binary's page is never mixed with an
/// old script.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets_and_puts_no_secret_in_a_url() {
        for asset in ["/dashboard/app.js", "/dashboard/style.css", "/dashboard/favicon.svg"] {
            assert!(INDEX_HTML.contains(asset), "index.html references {asset}");
        }
        assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("style="), "nothing inline (CSP)");
        assert!(!APP_JS.contains("new EventSource"), "EventSource cannot send the authorization header");
        assert!(!APP_JS.contains("?token") && !APP_JS.contains("&token"), "the secret never goes in a query");
        assert!(!APP_JS.contains("innerHTML"), "text is set with textContent, never parsed as HTML");
    }
}
