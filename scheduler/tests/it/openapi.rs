//! The OpenAPI document (generated from the gateway's routes and JSON types, served at `GET
//! /api/openapi.json`) against the servers it describes:
//!
//! - it is served as generated, as JSON, without the secret; its `$ref`s resolve, its path
//!   parameters are declared, its operation ids are unique and its links name real operations
//!   and parameters;
//! - the routes registered outside the gateway's API (`/healthz` beside it, read from their
//!   source) are documented too: the API's own routes and the dashboard's files are routed and
//!   documented from one list, so they cannot differ;
//! - on a real scheduler on loopback (with secrets), every documented operation is served (never
//!   a 405, never the "no route" 404) and answers one of its documented statuses with one of its
//!   documented content types; every method a path does not document is a 405; operations the
//!   document secures are a 401 without the secret, the open ones a 200; the request examples are
//!   accepted.
//!
//! `.ci/schemathesis.sh` then fuzzes the running binaries against the same document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use skippy_proto::v1 as pb;
use skippy_proto::v1::trainer_service_client::TrainerServiceClient;
use skippy_scheduler::gateway::openapi::DOCUMENT;
use tonic::transport::Channel;

use crate::support::{Running, STEP, http, start_with};

const ADMIN: &str = "admin-s3cret-for-openapi";
const TRAINER: &str = "trainer-t0ken-for-openapi";

/// Routes the HTTP servers register that the document leaves out on purpose, and why.
const UNDOCUMENTED: &[(&str, &str)] = &[(
    "/metrics",
    "Prometheus metrics (OpenMetrics text), served by skippy-scheduler on a listener of their own (--metrics-addr), not \
     part of the REST API",
)];

/// Methods tried on every documented path (HEAD is answered wherever GET is).
const METHODS: [Method; 6] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];

fn doc() -> Value {
    serde_json::from_str(&DOCUMENT).expect("openapi.json is JSON")
}

/// `value`, or what its `$ref` points at.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            doc.pointer(r.strip_prefix('#').expect("a local $ref")).unwrap_or_else(|| panic!("$ref {r} resolves"))
        }
        None => value,
    }
}

/// Every operation: (path, method, operation, path item).
fn operations(doc: &Value) -> Vec<(String, Method, &Value, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in &METHODS {
            if let Some(op) = item.get(method.as_str().to_ascii_lowercase()) {
                ops.push((path.clone(), method.clone(), op, item));
            }
        }
    }
    ops
}

/// The names of an operation's parameters of kind `location` (path-level ones included).
fn parameters(doc: &Value, item: &Value, op: &Value, location: &str) -> BTreeSet<String> {
    let all =
        item["parameters"].as_array().into_iter().flatten().chain(op["parameters"].as_array().into_iter().flatten());
    all.map(|p| resolve(doc, p))
        .filter(|p| p["in"] == location)
        .map(|p| p["name"].as_str().expect("a parameter name").to_string())
        .collect()
}

/// Whether the operation needs the bearer secret (the document's default unless it says `[]`).
fn secured(doc: &Value, op: &Value) -> bool {
    let security = op.get("security").unwrap_or(&doc["security"]);
    security.as_array().is_some_and(|s| !s.is_empty())
}

#[test]
fn the_document_is_well_formed() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "info.version follows the crate");

    // Every $ref resolves.
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.len() > 50, "{} refs", refs.len());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not a local $ref"));
        assert!(doc.pointer(pointer).is_some(), "$ref {r} does not resolve");
    }

    let ops = operations(&doc);
    let mut ids = BTreeMap::new();
    for (path, method, op, item) in &ops {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string(), (*op, *item)).is_none(), "operationId {id} is used twice");
        // Path parameters: exactly the template's.
        let template: BTreeSet<String> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).map(String::from).collect();
        assert_eq!(parameters(&doc, item, op, "path"), template, "{method} {path}: path parameters");
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
        let has = |code: &str| responses.contains_key(code);
        assert!(responses.keys().any(|c| c.starts_with('2')), "{method} {path}: no success response");
        if secured(&doc, op) {
            assert!(has("401") && has("403") && has("503"), "{method} {path}: 401, 403 and 503 are documented");
        }
        if op.get("requestBody").is_some() {
            assert!(has("400") && has("413") && has("415"), "{method} {path}: 400, 413 and 415 are documented");
        }
        for (code, response) in responses {
            assert!(code.len() == 3 && code.parse::<u16>().is_ok(), "{method} {path}: status {code}");
            let response = resolve(&doc, response);
            assert!(response["description"].is_string(), "{method} {path} {code}: no description");
            // Error bodies are the one error schema.
            if code.starts_with('4') || code.starts_with('5') {
                assert_eq!(response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
            }
        }
    }
    // Links name real operations and their parameters.
    for (path, method, op, _) in &ops {
        for (code, response) in op["responses"].as_object().unwrap() {
            for (name, link) in resolve(&doc, response)["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap();
                let (target_op, target_item) = ids.get(target).unwrap_or_else(|| {
                    panic!("{method} {path} {code} link {name}: no operation {target}");
                });
                let names = parameters(&doc, target_item, target_op, "path");
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    assert!(names.contains(parameter), "link {name} sets {parameter}, which {target} lacks");
                }
            }
        }
    }
}

/// The source files that add routes beside the gateway's API (whose routes are its
/// documentation's own list, `gateway::api` and the dashboard's tables): `/healthz` beside the
/// API, `/metrics` on its own listener, anything the binaries add.
fn router_sources() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    ["gateway/mod.rs", "telemetry.rs", "lib.rs", "bin/skippy-gateway.rs"].iter().map(|f| src.join(f)).collect()
}

/// The path of every `.route("…", …)` in `text` (and of `.route_service`; `.nest` and
/// `.nest_service` paths come back with a trailing `/*`).
fn routes_in(file: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
        for (at, _) in text.match_indices(call) {
            let argument = text[at + call.len()..].trim_start();
            let Some(literal) = argument.strip_prefix('"') else {
                let line = text[..at].lines().count();
                panic!("{}:{line}: a {call}…) whose path is not a string literal; list its paths here", file.display());
            };
            let path = &literal[..literal.find('"').expect("a closed string")];
            found.push(if call.starts_with(".nest") { format!("{path}/*") } else { path.to_string() });
        }
    }
    found
}

#[test]
fn every_route_beside_the_gateway_is_documented() {
    let doc = doc();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let mut registered = BTreeSet::new();
    for file in router_sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        registered.extend(routes_in(&file, &text));
    }
    assert!(registered.contains("/healthz"), "{registered:?}");
    for route in &registered {
        if UNDOCUMENTED.iter().any(|(r, _)| r == route) {
            continue;
        }
        match route.strip_suffix("/*") {
            Some(prefix) => assert!(
                documented.iter().any(|p| p.starts_with(&format!("{prefix}/"))),
                "routes nested under {prefix} are not documented"
            ),
            None => assert!(
                documented.contains(route),
                "the route {route} is served but not documented: document it in gateway::openapi's `Served` \
                 (or, if it is not part of the API, list it with a reason in UNDOCUMENTED in this test)"
            ),
        }
    }
}

async fn start_secured(runs: &Path) -> Running {
    start_with(runs, |config| {
        config.insecure_no_auth = false;
        config.admin_secret = Some(ADMIN.parse().unwrap());
        config.trainer_token = Some(TRAINER.parse().unwrap());
    })
    .await
}

fn trainer_request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {TRAINER}").parse().unwrap());
    request
}

/// The first example of the JSON request body of `op`.
fn body_example(doc: &Value, op: &Value) -> Option<Value> {
    let schema = resolve(doc, &op["requestBody"]["content"]["application/json"]["schema"]);
    schema["examples"].get(0).or_else(|| schema.get("example")).cloned()
}

/// Sends `method url` with `body`, with or without the secret.
async fn send(method: Method, url: &str, body: Option<&Value>, secret: bool) -> reqwest::Response {
    let mut request = http().request(method, url);
    if secret {
        request = request.bearer_auth(ADMIN);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// A job that ran through a real session (the request example), DONE with an artifact, and a
/// queued job (the submit example).
async fn jobs(s: &Running, doc: &Value) -> (String, String) {
    let ops = operations(doc);
    let op = |id: &str| ops.iter().find(|o| o.2["operationId"] == id).unwrap().2;

    let example = body_example(doc, op("realSession")).expect("realSession has an example");
    let url = s.url("/api/training/real-session");
    let session = tokio::spawn(async move {
        let r = send(Method::POST, &url, Some(&example), true).await;
        (r.status(), r.json::<Value>().await.unwrap())
    });
    let channel = Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    let mut trainer = TrainerServiceClient::new(channel);
    let acquire = pb::AcquireJobRequest { trainer_id: "t-openapi".into(), name: "openapi".into(), wait_ms: 10_000 };
    let grant = trainer.acquire_job(trainer_request(acquire)).await.unwrap().into_inner().grant.expect("a grant");
    let upload =
        pb::UploadArtifactRequest { lease: grant.lease.clone(), name: "equity.csv".into(), data: b"t,v\n".into() };
    trainer.upload_artifact(trainer_request(upload)).await.unwrap();
    let done = pb::CompleteJobRequest {
        lease: grant.lease.clone(),
        outcome: pb::Outcome::Done as i32,
        reason: String::new(),
        metrics_json: json!({"stop_reason": "duration_limit"}).to_string(),
        steps_done: 1000,
    };
    trainer.complete_job(trainer_request(done)).await.unwrap();
    let (status, body) = tokio::time::timeout(STEP, session).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "the realSession example runs: {body}");
    assert_eq!(body["results"]["artifacts"][0]["name"], "equity.csv");
    let done = body["job"]["id"].as_str().unwrap().to_string();

    let example = body_example(doc, op("submitJob")).expect("submitJob has an example");
    let r = send(Method::POST, &s.url("/api/training/jobs"), Some(&example), true).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "the submitJob example is accepted");
    let queued = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    (done, queued)
}

/// The media type of a response, without parameters.
fn essence(response: &reqwest::Response) -> String {
    let value = response.headers().get("content-type").map(|v| v.to_str().unwrap_or("?")).unwrap_or("");
    value.split(';').next().unwrap().trim().to_ascii_lowercase()
}

#[tokio::test]
async fn every_documented_operation_is_served_as_documented_and_nothing_else_is() {
    let doc = doc();
    let dir = tempfile::tempdir().unwrap();
    let s = start_secured(dir.path()).await;

    // The document itself: as compiled in, as JSON, without the secret.
    let r = send(Method::GET, &s.url("/api/openapi.json"), None, false).await;
    assert_eq!((r.status(), essence(&r)), (StatusCode::OK, "application/json".to_string()));
    assert_eq!(r.text().await.unwrap(), DOCUMENT.as_str());

    let (done, queued) = jobs(&s, &doc).await;
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let op = item.get(method.as_str().to_ascii_lowercase());
            // Cancel the queued job (200); everything else reads the done one.
            let id = if method == Method::DELETE { &queued } else { &done };
            let url = s.url(&path.replace("{id}", id).replace("{name}", "equity.csv").replace("{module}", "main.js"));
            // Bodies: `{}`, which each body route refuses (400) before calling the scheduler.
            let body = op.and_then(|op| op.get("requestBody")).map(|_| json!({}));
            let r = send(method.clone(), &url, body.as_ref(), true).await;
            let status = r.status();
            let media = essence(&r);
            let Some(op) = op else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not documented, so not served");
                continue;
            };
            tried += 1;
            // Streams are not read: the status and headers say enough.
            let text = if media == "text/event-stream" { String::new() } else { r.text().await.unwrap() };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {text}");
            assert!(!text.contains("\"no route "), "{method} {path} is documented but not routed: {text}");
            let response = op["responses"]
                .get(status.as_str())
                .unwrap_or_else(|| panic!("{method} {path} answered {status}, which is not documented: {text}"));
            let response = resolve(&doc, response);
            let types: Vec<&String> = response["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
            assert!(types.iter().any(|t| **t == media), "{method} {path} {status}: {media} is not one of {types:?}");
            if media == "application/json" && status.is_client_error() {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
            }

            // Without the secret: 401 where the document asks for it (with a body the route
            // accepts, so that it is not refused first), 2xx where it does not.
            let body = op.get("requestBody").map(|_| body_example(&doc, op).expect("a request example"));
            let r = send(method.clone(), &url, body.as_ref(), false).await;
            if secured(&doc, op) {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} without the secret");
            } else {
                assert!(r.status().is_success(), "{method} {path} is open: {}", r.status());
            }
        }
    }
    assert_eq!(tried, operations(&doc).len());

    // The "no route" message lists every documented API route.
    let r = send(Method::GET, &s.url("/api/nothing"), None, true).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let message = r.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
    for (path, method, _, _) in operations(&doc) {
        if path.starts_with("/api/") {
            assert!(message.contains(&path), "the no-route message lacks {method} {path}: {message}");
        }
    }
    s.stop().await;
}
