//! The secret is checked before anything else on REST: a caller without it (or with a wrong
//! one, or the trainer's token) gets 401 (403) from every route of the OpenAPI document that
//! takes the secret, however malformed its body, query, path or `Last-Event-ID`, and never the
//! 400 that would list what the route accepts. The routes come from the generated document, so a
//! new route is covered the day it is added. Both ways of serving REST are tried: the scheduler's
//! own port, and the standalone gateway's router in front of the scheduler's gRPC port.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

const ADMIN: &str = "admin-s3cret-for-auth-first";
const TRAINER: &str = "trainer-t0ken-for-auth-first";

/// Every (method, path template, takes a body) of the document whose operation takes the secret
/// (those open to anyone say `security: []`).
fn guarded_operations() -> Vec<(Method, String, bool)> {
    let doc: Value = serde_json::from_str(&skippy_scheduler::gateway::openapi::DOCUMENT).unwrap();
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            if operation.get("security").and_then(Value::as_array).is_some_and(Vec::is_empty) {
                continue;
            }
            found.push((method, path.clone(), operation.get("requestBody").is_some()));
        }
    }
    found
}

/// The requests a caller without the secret might send to one operation: each part malformed.
fn malformed(base: &str, method: &Method, template: &str, body: bool) -> Vec<reqwest::RequestBuilder> {
    // Path parameters that do not decode (invalid UTF-8) or are no plain name.
    let path = template.replace("{id}", "%FF%FE").replace("{name}", "..%2F..%2Fmanifest.json");
    let url = format!("{base}{path}");
    let query = "?limit=many&state=sideways&after=yesterday&jobIds=%FF&statesOnly=perhaps&unknown=1";
    let client = http();
    let mut requests = vec![
        client.request(method.clone(), format!("{url}{query}")),
        client.request(method.clone(), &url).header("last-event-id", "not a sequence"),
        client.request(method.clone(), format!("{url}?limit=1&limit=2")),
    ];
    if body {
        requests.push(client.request(method.clone(), &url).header("content-type", "application/json").body("{\"sym"));
        requests.push(
            client
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body(r#"{"symbols": 7, "totalSteps": "lots", "unknownField": true}"#),
        );
        requests.push(client.request(method.clone(), &url).header("content-type", "text/plain").body("hello"));
    }
    requests
}

/// Sends every malformed request of every guarded operation, with `authorization` set to each of
/// `presented` (none, wrong, the trainer's), and checks each answer.
async fn refused_before_reading(base: &str) {
    let operations = guarded_operations();
    let names: Vec<String> = operations.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    for expected in [
        "POST /api/training/jobs",
        "GET /api/training/jobs",
        "GET /api/training/jobs/{id}/events",
        "GET /api/training/jobs/{id}/artifacts/{name}",
        "GET /api/training/events",
        "POST /api/training/real-session",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is not among {names:?}");
    }
    let mut sent = 0;
    for (method, template, body) in &operations {
        for (presented, status, code) in [
            (None, 401, "unauthenticated"),
            (Some("Bearer wrong-secret-0123456789"), 401, "unauthenticated"),
            (Some("Basic YWRtaW46YWRtaW4="), 401, "unauthenticated"),
            (Some(&*format!("Bearer {TRAINER}")), 403, "permission_denied"),
        ] {
            for mut request in malformed(base, method, template, *body) {
                if let Some(value) = presented {
                    request = request.header("authorization", value);
                }
                let response = request.send().await.unwrap();
                let got = response.status();
                let text = response.text().await.unwrap();
                assert_eq!(got.as_u16(), status, "{method} {template} with {presented:?}: {text}");
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
                assert_eq!(body["error"]["code"], code, "{method} {template}: {text}");
                let leaks =
                    ["unknown field", "invalid type", "Failed to", "limit", "sequence", "symbols", "UTF-8", "plain"];
                for leak in leaks.into_iter().chain([ADMIN, TRAINER]) {
                    assert!(!text.contains(leak), "{method} {template} told a stranger {leak:?}: {text}");
                }
                sent += 1;
            }
        }
    }
    assert!(sent >= 100, "only {sent} requests were sent");
}

#[tokio::test]
async fn every_guarded_route_checks_the_secret_before_reading_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_secrets(dir.path(), ADMIN, TRAINER).await;
    refused_before_reading(&s.http).await;

    // With the secret, the same malformed requests are read and refused for what they are.
    let got = answer(
        http()
            .post(s.url("/api/training/jobs"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body("{\"sym")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&got, 400, "invalid_argument", &[]);
    let got = answer(http().get(s.url("/api/training/jobs?unknown=1")).bearer_auth(ADMIN).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_argument", &["unknown"]);
    // What stays open: the document, the dashboard, health.
    for open in ["/api/openapi.json", "/", "/dashboard/js/main.js", "/healthz"] {
        assert_eq!(http().get(s.url(open)).send().await.unwrap().status(), StatusCode::OK, "{open}");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_standalone_gateway_asks_the_scheduler_before_reading_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_secrets(dir.path(), ADMIN, TRAINER).await;
    let client = skippy_scheduler::gateway::lazy_client(&s.grpc, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(skippy_scheduler::http_server::serve(
        listener,
        None,
        skippy_scheduler::gateway::router(client),
        Default::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    refused_before_reading(&base).await;
    let got =
        answer(http().get(format!("{base}/api/training/jobs?unknown=1")).bearer_auth(ADMIN).send().await.unwrap());
    assert_error(&got.await, 400, "invalid_argument", &["unknown"]);
    let queue = http().get(format!("{base}/api/training/queue")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let _ = stop.send(());
    tokio::time::timeout(STEP, server).await.expect("the gateway stops").unwrap();
    s.stop().await;
}
