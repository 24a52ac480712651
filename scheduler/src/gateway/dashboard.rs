//! The dashboard: one small web page (plain HTML, CSS and JavaScript modules, compiled into the
//! binary; no build step) served at `/` and `/dashboard/`, with its assets under `/dashboard/`.
//! The page routes its URL fragment: the list of experiments and jobs (`#/`), a job's page
//! (`#/jobs/<id>`) and an experiment's (`#/experiments/<id>`: its runs followed live, then its
//! report and charts).
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
//! GET /dashboard/js/<module>.js    its script: ES modules, main.js the entry (see ASSETS)
//! GET /dashboard/style.css         its style sheet
//! GET /dashboard/favicon.svg       its icon
//! ```
//!
//! Every file is one line of [`ASSETS`], routed and documented (in the generated OpenAPI
//! document) from that line; a new script module under `js/` needs nothing else.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page.
pub const INDEX_HTML: &str = include_str!("dashboard/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// The page's files: (path, content type, text). A new file is one line here.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/dashboard/js/main.js", JS, include_str!("dashboard/js/main.js")),
    ("/dashboard/js/api.js", JS, include_str!("dashboard/js/api.js")),
    ("/dashboard/js/artifacts.js", JS, include_str!("dashboard/js/artifacts.js")),
    ("/dashboard/js/auth.js", JS, include_str!("dashboard/js/auth.js")),
    ("/dashboard/js/charts.js", JS, include_str!("dashboard/js/charts.js")),
    ("/dashboard/js/dom.js", JS, include_str!("dashboard/js/dom.js")),
    ("/dashboard/js/experiment.js", JS, include_str!("dashboard/js/experiment.js")),
    ("/dashboard/js/experiments.js", JS, include_str!("dashboard/js/experiments.js")),
    ("/dashboard/js/feed.js", JS, include_str!("dashboard/js/feed.js")),
    ("/dashboard/js/format.js", JS, include_str!("dashboard/js/format.js")),
    ("/dashboard/js/job.js", JS, include_str!("dashboard/js/job.js")),
    ("/dashboard/js/list.js", JS, include_str!("dashboard/js/list.js")),
    ("/dashboard/js/model.js", JS, include_str!("dashboard/js/model.js")),
    ("/dashboard/js/paging.js", JS, include_str!("dashboard/js/paging.js")),
    ("/dashboard/js/queue.js", JS, include_str!("dashboard/js/queue.js")),
    ("/dashboard/js/report.js", JS, include_str!("dashboard/js/report.js")),
    ("/dashboard/js/results.js", JS, include_str!("dashboard/js/results.js")),
    ("/dashboard/js/runs.js", JS, include_str!("dashboard/js/runs.js")),
    ("/dashboard/js/table.js", JS, include_str!("dashboard/js/table.js")),
    ("/dashboard/style.css", "text/css; charset=utf-8", include_str!("dashboard/style.css")),
    ("/dashboard/favicon.svg", "image/svg+xml", include_str!("dashboard/favicon.svg")),
];

/// What the page may load and run: its own scripts, style sheet and API, nothing inline, nothing
/// from elsewhere, in no frame.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The paths that serve the page.
pub const PAGES: &[&str] = &["/", "/dashboard", "/dashboard/", "/dashboard/index.html"];

/// The dashboard's routes (any state: they use none): every path of [`PAGES`] and [`ASSETS`],
/// the same tables the OpenAPI document lists them from.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = PAGES.iter().fold(Router::new(), |router, path| router.route(path, get(index)));
    ASSETS.iter().fold(pages, |router, &(path, content_type, body)| {
        router.route(path, get(move || async move { asset(content_type, body) }))
    })
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

    fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
        ASSETS.iter().filter(|(_, content_type, _)| *content_type == JS).map(|&(path, _, body)| (path, body))
    }

    #[test]
    fn the_page_loads_only_its_own_assets_and_puts_no_secret_in_a_url() {
        for asset in ["/dashboard/js/main.js", "/dashboard/style.css", "/dashboard/favicon.svg"] {
            assert!(INDEX_HTML.contains(asset), "index.html references {asset}");
        }
        assert!(INDEX_HTML.contains(r#"<script type="module" src="/dashboard/js/main.js">"#), "main.js is a module");
        assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("style="), "nothing inline (CSP)");
        for (path, js) in scripts() {
            assert!(!js.contains("new EventSource"), "{path}: EventSource cannot send the authorization header");
            assert!(!js.contains("?token") && !js.contains("&token"), "{path}: the secret never goes in a query");
            assert!(!js.contains("innerHTML"), "{path}: text is set with textContent, never parsed as HTML");
            assert!(js.starts_with("// "), "{path} starts with a comment saying what it owns");
        }
    }

    #[test]
    fn every_module_is_served_and_every_import_resolves() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/gateway/dashboard/js");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the dashboard's js/ folder")
            .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut served: Vec<String> =
            scripts().map(|(path, _)| path.trim_start_matches("/dashboard/js/").to_string()).collect();
        served.sort();
        assert_eq!(files, served, "every file in {dir} is in ASSETS, and only those");
        for (path, js) in scripts() {
            for import in js.split("from './").skip(1) {
                let name = import.split('\'').next().unwrap_or_default();
                assert!(served.iter().any(|s| s == name), "{path} imports ./{name}, which is not served");
            }
        }
    }

    #[test]
    fn every_element_a_script_looks_up_is_on_the_page() {
        for (path, js) in scripts() {
            for lookup in js.split("$('").skip(1) {
                let id = lookup.split('\'').next().unwrap_or_default();
                assert!(INDEX_HTML.contains(&format!("id=\"{id}\"")), "{path} looks up #{id}, which index.html lacks");
            }
        }
    }

    #[test]
    fn only_format_js_knows_the_prefixed_enum_names() {
        for (path, js) in scripts().filter(|(path, _)| !path.ends_with("/format.js")) {
            for prefix in ["JOB_STATE_", "EVENT_KIND_", "EXPERIMENT_STATE_", "JOBS_EVENT_KIND_"] {
                assert!(!js.contains(prefix), "{path} spells {prefix}…: use format.js's plain names");
            }
        }
    }
}
