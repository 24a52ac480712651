//! Bad input over real HTTP (and the gRPC artifact calls): every row
//! of `scheduler/BAD_INPUT.md` is sent here for real. Each gets a clear error that says what
//! was wrong and where, nothing is stored, and the server answers normally afterwards. Rows
//! that once got a wrong answer (a 500, a panic, a job stored that should have been refused)
//! are asserted like the others; `BAD_INPUT.md` lists those fixed bugs.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// One request body sent to `POST /api/training/jobs` and what it must get.
struct Row {
    /// What is tried (as in the table).
    input: &'static str,
    /// The body, byte for byte.
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// Words the message must contain (what and where).
    words: &'static [&'static str],
}

fn row(input: &'static str, body: impl Into<Vec<u8>>, status: u16, words: &'static [&'static str]) -> Row {
    let code = match status {
        400 => "invalid_argument",
        404 => "not_found",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        _ => "?",
    };
    Row { input, body: body.into(), status, code, words }
}

/// Asserts an error answer like `assert_error`, naming the row on failure.
fn check(input: &str, got: &(StatusCode, Value), status: u16, code: &str, words: &[&str]) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "{input}: {body}");
    assert_eq!(body["error"]["code"], code, "{input}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for w in words {
        assert!(message.contains(w), "{input}: message {message:?} should mention {w:?}");
    }
}

/// The error message of an answer.
fn message(got: &(StatusCode, Value)) -> &str {
    got.1["error"]["message"].as_str().unwrap_or_default()
}

async fn post_bytes(url: &str, content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut request = http().post(url).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    answer(request.send().await.unwrap()).await
}

/// Sends `request` as raw bytes on a fresh connection (no URL normalisation, no encoding),
/// optionally closing the write side right after; returns the status and the body text.
async fn raw(base: &str, request: &[u8], half_close: bool) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    if half_close {
        socket.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    tokio::time::timeout(STEP, socket.read_to_end(&mut out)).await.expect("the server answers").unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {text}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn raw_json(input: &str, (status, body): (u16, String)) -> (StatusCode, Value) {
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{input}: not JSON ({e}): {body:?}"));
    (StatusCode::from_u16(status).unwrap(), value)
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&entry.path()));
        } else {
            out.push(entry.path().display().to_string());
        }
    }
    out
}

/// A valid submission works and is stored: the server still answers normally.
async fn still_serves(s: &Running, runs: &Path, stored_before: usize) {
    let (code, job) = post(&s.url("/api/training/jobs"), r#"{"symbols":["BTC"],"totalSteps":20000}"#).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["state"], "QUEUED");
    assert_eq!(stored_jobs(runs).len(), stored_before + 1);
}

#[tokio::test]
async fn bad_submissions_get_what_and_where_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let jobs = s.url("/api/training/jobs");
    let long = "A".repeat(10_000);
    let nested =
        format!(r#"{{"symbols": ["BTC"], "overrides": {{"ppo.hidden": {}1{}}}}}"#, "[".repeat(200), "]".repeat(200));

    let rows = vec![
        // Malformed JSON and bodies that are not an object.
        row("truncated JSON", r#"{"symbols": ["BTC"]"#, 400, &["parse", "EOF", "line 1 column 19"]),
        row("trailing garbage", r#"{"symbols": ["BTC"]} xyz"#, 400, &["trailing characters", "line 1 column 22"]),
        row("two objects", r#"{"symbols": ["BTC"]}{}"#, 400, &["trailing characters", "column 21"]),
        row("JSON array", r#"["BTC"]"#, 400, &["must be a JSON object"]),
        row("JSON string", r#""BTC""#, 400, &["must be a JSON object"]),
        row("JSON null", "null", 400, &["must be a JSON object"]),
        row("empty body", "", 400, &["request body is empty"]),
        row("whitespace-only body", " \n\t ", 400, &["request body is empty"]),
        row("raw bytes 0xff 0xfe", vec![0xff, 0xfe], 400, &["must be a JSON object"]),
        row(
            "0xff 0xfe inside a string",
            &b"{\"symbols\": [\"\xff\xfe\"]}"[..],
            400,
            &["symbols[0]", "invalid unicode code point"],
        ),
        row("lone UTF-16 surrogate escape", r#"{"symbols": ["\ud800"]}"#, 400, &["symbols[0]", "escape"]),
        row("200-deep nested arrays", nested, 400, &["overrides.ppo.hidden", "recursion limit"]),
        // Wrong types, unknown and duplicated fields, nulls.
        row(
            "totalSteps \"abc\"",
            r#"{"symbols": ["BTC"], "totalSteps": "abc"}"#,
            400,
            &["totalSteps", "\"abc\"", "integer"],
        ),
        row(
            "totalSteps {}",
            r#"{"symbols": ["BTC"], "totalSteps": {}}"#,
            400,
            &["totalSteps", "invalid type: map", "integer"],
        ),
        row("symbols \"BTC\"", r#"{"symbols": "BTC"}"#, 400, &["symbols", "\"BTC\"", "expected a sequence"]),
        row("symbols [null]", r#"{"symbols": [null]}"#, 400, &["symbols[0]", "null", "expected a string"]),
        row(
            "unknown field",
            r#"{"symbols": ["BTC"], "colour": 1}"#,
            400,
            &["unknown field `colour`", "expected one of", "totalSteps"],
        ),
        row("field given twice", r#"{"symbols": ["BTC"], "symbols": ["ETH"]}"#, 400, &["duplicate field `symbols`"]),
        row("symbols null", r#"{"symbols": null}"#, 400, &["symbols", "invalid type: null"]),
        row("features null", r#"{"symbols": ["BTC"], "features": null}"#, 400, &["features", "invalid type: null"]),
        row("algorithm null", r#"{"symbols": ["BTC"], "algorithm": null}"#, 400, &["algorithm", "invalid type: null"]),
        row("idempotencyKey null", r#"{"symbols": ["BTC"], "idempotencyKey": null}"#, 400, &["idempotencyKey", "null"]),
        row("overrides null", r#"{"symbols": ["BTC"], "overrides": null}"#, 400, &["overrides", "null", "map"]),
        // Numbers out of range.
        row("totalSteps 1e30", r#"{"symbols": ["BTC"], "totalSteps": 1e30}"#, 400, &["totalSteps", "1e+30", "u64"]),
        row(
            "totalSteps 2^64",
            r#"{"symbols": ["BTC"], "totalSteps": 18446744073709551616}"#,
            400,
            &["totalSteps", "1.8446744073709552e+19"],
        ),
        row(
            "totalSteps \"2^64\"",
            r#"{"symbols": ["BTC"], "totalSteps": "18446744073709551616"}"#,
            400,
            &["totalSteps", "\"18446744073709551616\""],
        ),
        row(
            "totalSteps 2^64-1",
            r#"{"symbols": ["BTC"], "totalSteps": 18446744073709551615}"#,
            400,
            &["total_steps = 18446744073709551615", "limit of 100000000 steps", "--max-steps-per-job"],
        ),
        row(
            "totalSteps 5000 digits",
            format!(r#"{{"symbols": ["BTC"], "totalSteps": {}}}"#, "9".repeat(5000)),
            400,
            &["totalSteps", "number out of range"],
        ),
        row("totalSteps -1", r#"{"symbols": ["BTC"], "totalSteps": -1}"#, 400, &["totalSteps", "`-1`", "u64"]),
        row("totalSteps 1.5", r#"{"symbols": ["BTC"], "totalSteps": 1.5}"#, 400, &["totalSteps", "1.5"]),
        row(
            "totalSteps NaN",
            r#"{"symbols": ["BTC"], "totalSteps": NaN}"#,
            400,
            &["totalSteps", "expected value", "column 36"],
        ),
        row(
            "totalSteps Infinity",
            r#"{"symbols": ["BTC"], "totalSteps": Infinity}"#,
            400,
            &["totalSteps", "expected value"],
        ),
        row(
            "maxDurationSeconds -Infinity",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": -Infinity}"#,
            400,
            &["maxDurationSeconds", "invalid number"],
        ),
        row(
            "maxDurationSeconds \"NaN\"",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": "NaN"}"#,
            400,
            &["max_duration_seconds = NaN", "must be ≥ 0"],
        ),
        row(
            "maxDurationSeconds \"inf\"",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": "inf"}"#,
            400,
            &["max_duration_seconds = inf", "must be ≥ 0"],
        ),
        row(
            "maxDurationSeconds -1",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": -1}"#,
            400,
            &["max_duration_seconds = -1", "must be ≥ 0"],
        ),
        row(
            "maxDurationSeconds 1e308",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": 1e308}"#,
            400,
            &["max_duration_seconds = 1000", "limit of 86400 s per job", "--max-job-duration-secs"],
        ),
        row(
            "maxDurationSeconds 1e999",
            r#"{"symbols": ["BTC"], "maxDurationSeconds": 1e999}"#,
            400,
            &["maxDurationSeconds", "number out of range"],
        ),
        row(
            "priority 2^31",
            r#"{"symbols": ["BTC"], "priority": 2147483648}"#,
            400,
            &["priority", "2147483648", "i32"],
        ),
        row(
            "priority -2^31-1",
            r#"{"symbols": ["BTC"], "priority": -2147483649}"#,
            400,
            &["priority", "-2147483649", "i32"],
        ),
        row("seed -1", r#"{"symbols": ["BTC"], "seed": -1}"#, 400, &["seed", "`-1`", "u64"]),
        // Symbols, features, algorithm.
        row("symbols []", r#"{"symbols": []}"#, 400, &["no symbols given", "e.g. BTC"]),
        row("no symbols at all", "{}", 400, &["no symbols given"]),
        row("symbol \"\"", r#"{"symbols": [""]}"#, 400, &["unknown symbol \"\"", "available symbols: BTC"]),
        row("symbol \"   \"", r#"{"symbols": ["   "]}"#, 400, &["unknown symbol \"\""]),
        row("symbols [BTC, BTC]", r#"{"symbols": ["BTC", "BTC"]}"#, 400, &["symbol BTC is listed twice"]),
        row("symbols [BTC, btc]", r#"{"symbols": ["BTC", "btc"]}"#, 400, &["symbol BTC is listed twice"]),
        row(
            "unknown symbol",
            r#"{"symbols": ["DOGE"]}"#,
            400,
            &["unknown symbol \"DOGE\"", "available symbols: BTC, EOS, ETH"],
        ),
        row("symbol with a NUL", r#"{"symbols": ["B\u0000TC"]}"#, 400, &["unknown symbol \"B\\0TC\""]),
        row(
            "symbol of 10,000 chars",
            format!(r#"{{"symbols": ["{long}"]}}"#),
            400,
            &["unknown symbol", "available symbols"],
        ),
        row(
            "unknown feature",
            r#"{"symbols": ["BTC"], "features": ["astrology"]}"#,
            400,
            &["unknown feature set 'astrology'", "price, microstructure"],
        ),
        row(
            "feature \"\"",
            r#"{"symbols": ["BTC"], "features": [""]}"#,
            400,
            &["no feature sets given", "price, microstructure"],
        ),
        row(
            "feature \"price,astro\"",
            r#"{"symbols": ["BTC"], "features": ["price,astro"]}"#,
            400,
            &["unknown feature set 'astro'"],
        ),
        row(
            "feature of 10,000 chars",
            format!(r#"{{"symbols": ["BTC"], "features": ["{long}"]}}"#),
            400,
            &["a feature set name of 10000 bytes", "price, microstructure"],
        ),
        row(
            "unknown algorithm",
            r#"{"symbols": ["BTC"], "algorithm": "dqn"}"#,
            400,
            &["unknown algorithm \"dqn\"", "valid algorithms: ppo"],
        ),
        // Overrides.
        row(
            "override unknown key",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.foo": "1"}}"#,
            400,
            &["override ppo.foo", "unknown field \"foo\"", "learning_rate"],
        ),
        row(
            "override key \"\"",
            r#"{"symbols": ["BTC"], "overrides": {"": "1"}}"#,
            400,
            &["unknown field \"\"", "known fields here: data, env"],
        ),
        row(
            "override below a number",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.learning_rate.x": 1}}"#,
            400,
            &["override ppo.learning_rate.x", "\"x\" is not inside an object"],
        ),
        row(
            "ppo.learning_rate = -1",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.learning_rate": -1}}"#,
            400,
            &["learning_rate = -1", "out of range: in (0, 1]"],
        ),
        row(
            "ppo.gamma = 2",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.gamma": 2}}"#,
            400,
            &["gamma = 2", "out of range: in [0, 1]"],
        ),
        row(
            "ppo.hidden = [100000]",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.hidden": [100000]}}"#,
            400,
            &["hidden = [100000]", "width 1..=1024"],
        ),
        row(
            "ppo.n_epochs = [1]",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.n_epochs": [1]}}"#,
            400,
            &["override", "invalid type: sequence, expected usize"],
        ),
        row(
            "ppo.n_epochs = {}",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.n_epochs": {"a": 1}}}"#,
            400,
            &["invalid type: map, expected usize"],
        ),
        row(
            "ppo.n_epochs = \"many\"",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.n_epochs": "many"}}"#,
            400,
            &["\"many\"", "expected usize"],
        ),
        row(
            "ppo.learning_rate = null",
            r#"{"symbols": ["BTC"], "overrides": {"ppo.learning_rate": null}}"#,
            400,
            &["invalid type: null, expected f32"],
        ),
        row("ppo = 1", r#"{"symbols": ["BTC"], "overrides": {"ppo": 1}}"#, 400, &["expected struct PpoConfig"]),
        row(
            "data.on_duplicate = bogus",
            r#"{"symbols": ["BTC"], "overrides": {"data.on_duplicate": "bogus"}}"#,
            400,
            &[
                "override data.on_duplicate: unknown variant `bogus`, expected one of `refuse`, `keep-first`, `keep-last`",
            ],
        ),
        // Keys and sizes.
        row(
            "idempotencyKey of 257 bytes",
            format!(r#"{{"symbols": ["BTC"], "idempotencyKey": "{}"}}"#, "k".repeat(257)),
            400,
            &["idempotency_key is longer than 256 bytes"],
        ),
        row(
            "body over 64 KiB",
            format!(r#"{{"symbols": ["BTC"], "idempotencyKey": "{}"}}"#, "x".repeat(70_000)),
            413,
            &["larger than 65536 bytes"],
        ),
        // Values too long to quote whole are cut, so the 400 still reaches the caller (a quoted
        // value over ~16 KiB once broke the gRPC trailers and became a 500).
        row(
            "override key of 10,000 characters",
            format!(r#"{{"symbols": ["BTC"], "overrides": {{"ppo.{}": 1}}}}"#, "A".repeat(10_000)),
            400,
            &["an override key of 10004 bytes"],
        ),
        row(
            "feature name of 20,000 characters",
            format!(r#"{{"symbols": ["BTC"], "features": ["{}"]}}"#, "A".repeat(20_000)),
            400,
            &["a feature set name of 20000 bytes", "price, microstructure"],
        ),
        // Fields with their own checks cannot be changed by an override behind them.
        row(
            "override total_steps",
            r#"{"symbols": ["BTC"], "overrides": {"total_steps": 10000000000}}"#,
            400,
            &["override \"total_steps\"", "`totalSteps`"],
        ),
        row(
            "override symbols",
            r#"{"symbols": ["BTC"], "overrides": {"symbols": "[\"DOGE\"]"}}"#,
            400,
            &["override \"symbols\"", "`symbols`"],
        ),
        row("override seed", r#"{"symbols": ["BTC"], "overrides": {"seed": 5}}"#, 400, &["override \"seed\""]),
    ];

    for r in &rows {
        let got = post_bytes(&jobs, Some("application/json"), r.body.clone()).await;
        check(r.input, &got, r.status, r.code, r.words);
    }
    // The long symbol is named, cut to 64 characters, not echoed whole.
    let got = post(&jobs, &format!(r#"{{"symbols": ["{long}"]}}"#)).await;
    assert!(message(&got).contains(&"A".repeat(64)) && !message(&got).contains(&"A".repeat(65)), "{}", got.1);
    assert!(message(&got).len() < 300, "{}", got.1);

    // Content types: not JSON is 415 (a `+json` type and no type at all are JSON).
    let body = br#"{"symbols": ["BTC"]}"#.to_vec();
    let got = post_bytes(&jobs, Some("text/plain"), body.clone()).await;
    check("content-type text/plain", &got, 415, "unsupported_media_type", &["\"text/plain\"", "application/json"]);
    let got = post_bytes(&jobs, Some(""), body.clone()).await;
    check("content-type empty", &got, 415, "unsupported_media_type", &["Content-Type \"\"", "application/json"]);
    let got = post_bytes(&jobs, Some("application/x-www-form-urlencoded"), b"symbols=BTC".to_vec()).await;
    check("form body", &got, 415, "unsupported_media_type", &["x-www-form-urlencoded"]);

    // A body shorter than its Content-Length, the connection closed: 400, nothing hangs.
    let request = b"POST /api/training/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 50\r\n\r\n{\"sy";
    let got = raw_json("short body", raw(&s.http, request, true).await);
    check("short body", &got, 400, "invalid_argument", &["could not read the request body"]);
    // A broken chunked encoding: 400.
    let request = b"POST /api/training/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n";
    let got = raw_json("bad chunk", raw(&s.http, request, false).await);
    check("bad chunk", &got, 400, "invalid_argument", &["could not read the request body"]);
    // Content-Length that is not a number: hyper refuses the request (400, empty body).
    let request = b"POST /api/training/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}";
    assert_eq!(raw(&s.http, request, false).await, (400, String::new()));

    // The real-session call refuses its bad bodies before submitting anything.
    let session = s.url("/api/training/real-session");
    check("session []", &post(&session, "[]").await, 400, "invalid_argument", &["must be a JSON object"]);
    check(
        "session NaN",
        &post(&session, r#"{"duration": "NaN"}"#).await,
        400,
        "invalid_argument",
        &["duration = NaN", "positive, finite"],
    );
    check(
        "session 1e300 h",
        &post(&session, r#"{"duration": 1e300}"#).await,
        400,
        "invalid_argument",
        &["duration", "positive, finite"],
    );
    check("session 0 h", &post(&session, r#"{"duration": 0}"#).await, 400, "invalid_argument", &["duration = 0"]);
    check(
        "session steps -1",
        &post(&session, r#"{"duration": 1, "steps": -1}"#).await,
        400,
        "invalid_argument",
        &["steps", "-1"],
    );

    // Nothing was stored, nothing is listed, and a valid submission still works.
    assert_eq!(stored_jobs(dir.path()), Vec::<String>::new());
    assert_eq!(get(&jobs).await, (StatusCode::OK, json!({"jobs": []})));
    still_serves(&s, dir.path(), 0).await;
    s.stop().await;
    assert_eq!(stored_jobs(dir.path()).len(), 1);
}

#[tokio::test]
async fn lenient_inputs_are_accepted_with_their_documented_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let jobs = s.url("/api/training/jobs");

    // totalSteps 0 means the default, 1,000,000.
    let (code, job) = post(&jobs, r#"{"symbols": ["BTC"], "totalSteps": 0}"#).await;
    assert_eq!((code, &job["totalSteps"]), (StatusCode::ACCEPTED, &json!(1_000_000)), "{job}");
    // null numbers are absent: defaults (the duration is the server's cap, the seed is drawn).
    let body =
        r#"{"symbols": ["BTC"], "totalSteps": null, "seed": null, "priority": null, "maxDurationSeconds": null}"#;
    let (code, job) = post(&jobs, body).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    assert_eq!((&job["totalSteps"], &job["spec"]["maxDurationSeconds"]), (&json!(1_000_000), &json!(86400.0)));
    assert!(job["spec"]["seed"].is_u64(), "{job}");
    // Lower-case symbols are upper-cased; features are case-insensitive and duplicates dropped.
    let (code, job) = post(&jobs, r#"{"symbols": ["btc", " eth "], "features": ["price", "PRICE", " price "]}"#).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    assert_eq!((&job["spec"]["symbols"], &job["spec"]["features"]), (&json!(["BTC", "ETH"]), &json!(["price"])));
    // An idempotency key of exactly 256 bytes is accepted.
    let body = format!(r#"{{"symbols": ["BTC"], "idempotencyKey": "{}"}}"#, "k".repeat(256));
    assert_eq!(post(&jobs, &body).await.0, StatusCode::ACCEPTED);
    // A `+json` content type, and none at all, are taken as JSON.
    let body = br#"{"symbols": ["ETH"]}"#.to_vec();
    assert_eq!(post_bytes(&jobs, Some("application/problem+json"), body.clone()).await.0, StatusCode::ACCEPTED);
    assert_eq!(post_bytes(&jobs, None, body).await.0, StatusCode::ACCEPTED);
    // The data-file policy is an override like any other, recorded in the resolved spec; without
    // it the resolved spec says `refuse`.
    let (code, job) = post(&jobs, r#"{"symbols": ["BTC"], "overrides": {"data.on_duplicate": "keep-last"}}"#).await;
    assert_eq!(
        (code, &job["resolvedSpec"]["data"]["on_duplicate"]),
        (StatusCode::ACCEPTED, &json!("keep-last")),
        "{job}"
    );
    let (_, job) = post(&jobs, r#"{"symbols": ["LTC"]}"#).await;
    assert_eq!(job["resolvedSpec"]["data"]["on_duplicate"], "refuse", "{job}");

    assert_eq!(stored_jobs(dir.path()).len(), 8);
    s.stop().await;
}

#[tokio::test]
async fn bad_job_ids_are_not_found_on_every_route_and_touch_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (_, job) = post(&s.url("/api/training/jobs"), r#"{"symbols": ["BTC"]}"#).await;
    let id = job["id"].as_str().unwrap().to_string();
    let long = "a".repeat(10_000);
    let traversal_to_job = format!("x%2F..%2F{id}");

    // (id as sent in the path, words of the 404 message)
    let ids: Vec<(&str, String)> = vec![
        ("..%2F..%2Fetc%2Fpasswd", "no job ../../etc/passwd".into()),
        ("tr_1_deadbeef%2F..%2Fx", "no job tr_1_deadbeef/../x".into()),
        (&traversal_to_job, format!("no job x/../{id}")),
        ("tr_1_d%C3%A9adbeef", "no job tr_1_déadbeef".into()),
        ("%E2%9C%93", "no job ✓".into()),
        ("%00", "no job \u{0}".into()),
        ("tr_1_DEADBEEF", "no job tr_1_DEADBEEF".into()),
        ("tr_1234567890123_deadbeef", "no job tr_1234567890123_deadbeef".into()),
        ("tr_1_deadbeef", "no job tr_1_deadbeef".into()),
        (&long, format!("no job {}", &long[..64])),
    ];
    for (path_id, words) in &ids {
        for route in ["status", "results", "events"] {
            let got = get(&s.url(&format!("/api/training/jobs/{path_id}/{route}"))).await;
            check(&format!("GET {route} of {:.40}", path_id), &got, 404, "not_found", &[words]);
            assert!(message(&got).len() < 100, "a long id is cut: {}", got.1);
        }
        let got = delete(&s.url(&format!("/api/training/jobs/{path_id}"))).await;
        check(&format!("DELETE {:.40}", path_id), &got, 404, "not_found", &[words]);
    }
    // Percent-encoded bytes that are not UTF-8: 400 naming the segment.
    for route in ["status", "results", "events"] {
        let got = get(&s.url(&format!("/api/training/jobs/%FF%FE/{route}"))).await;
        check(&format!("GET {route} of %FF%FE"), &got, 400, "invalid_argument", &["Invalid UTF-8 in `id`"]);
    }
    let got = delete(&s.url("/api/training/jobs/%FF%FE")).await;
    check("DELETE %FF%FE", &got, 400, "invalid_argument", &["Invalid UTF-8 in `id`"]);
    // `..` as sent by an HTTP client (normalised away by the client): no route.
    let got = get(&s.url("/api/training/jobs/../status")).await;
    check("GET jobs/../status via client", &got, 404, "not_found", &["no route GET /api/training/status"]);
    // `..` as sent raw (not normalised): the id "..", not found.
    let request = b"GET /api/training/jobs/../status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    check(
        "raw jobs/../status",
        &raw_json("raw ..", raw(&s.http, request, false).await),
        404,
        "not_found",
        &["no job .."],
    );
    let request = format!("DELETE /api/training/jobs/x/../{id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let got = raw_json("raw DELETE x/../id", raw(&s.http, request.as_bytes(), false).await);
    check("raw DELETE x/../id", &got, 404, "not_found", &["no route DELETE"]);
    // Raw bytes 0xff 0xfe in the request line: hyper refuses it (400, empty body).
    let request = b"GET /api/training/jobs/\xff\xfe/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(&s.http, request, false).await, (400, String::new()));
    // A 100,000-byte path: 414 from hyper (empty body).
    let request = format!(
        "GET /api/training/jobs/{}/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(100_000)
    );
    assert_eq!(raw(&s.http, request.as_bytes(), false).await, (414, String::new()));

    // The one real job was not touched by any of it.
    let (code, job) = get(&s.url(&format!("/api/training/jobs/{id}/status"))).await;
    assert_eq!((code, &job["state"]), (StatusCode::OK, &json!("QUEUED")));
    assert_eq!(stored_jobs(dir.path()), vec![id]);
    still_serves(&s, dir.path(), 1).await;
    s.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_and_headers_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (_, job) = post(&s.url("/api/training/jobs"), r#"{"symbols": ["BTC"]}"#).await;
    let id = job["id"].as_str().unwrap().to_string();

    let list: &[(&str, &[&str])] = &[
        ("limit=-1", &["limit = \"-1\"", "whole number from 1 to 1000"]),
        ("limit=abc", &["limit = \"abc\"", "from 1 to 1000"]),
        ("limit=1000000000000", &["limit = \"1000000000000\"", "from 1 to 1000"]),
        ("limit=0", &["limit = \"0\"", "from 1 to 1000"]),
        ("limit=%FF", &["limit = \"\u{fffd}\"", "from 1 to 1000"]),
        ("limit=1&limit=2", &["duplicate field `limit`"]),
        ("state=bogus", &["state = \"bogus\" is not a job state", "queued, preflight"]),
        ("state=JOB_STATE_UNSPECIFIED", &["state = \"JOB_STATE_UNSPECIFIED\" is not a job state"]),
        ("state=%FF", &["state = \"\u{fffd}\""]),
        (
            "colour=red",
            &["unknown field `colour`", "expected one of `limit`, `state`, `symbol`, `experiment`, `cursor`"],
        ),
        ("%ZZ", &["unknown field `%ZZ`"]),
        ("cursor=zz", &["page token \"zz\" is not one this list gave out", "next_page_token"]),
        ("cursor=%2E%2E%2Fetc", &["page token \"../etc\" is not one this list gave out"]),
        ("state=done,bogus", &["state = \"bogus\" is not a job state"]),
    ];
    for (query, words) in list {
        let got = get(&s.url(&format!("/api/training/jobs?{query}"))).await;
        check(&format!("list ?{query}"), &got, 400, "invalid_argument", words);
    }
    let queue: &[(&str, &[&str])] = &[
        ("limit=0", &["limit = \"0\"", "from 1 to 1000"]),
        ("limit=1001", &["limit = \"1001\"", "from 1 to 1000"]),
        ("cursor=6a6f627331", &["page token \"6a6f627331\" is not one this list gave out"]),
        ("state=queued", &["unknown field `state`", "expected one of `limit`, `symbol`, `cursor`"]),
    ];
    for (query, words) in queue {
        let got = get(&s.url(&format!("/api/training/queue?{query}"))).await;
        check(&format!("queue ?{query}"), &got, 400, "invalid_argument", words);
    }
    let events: &[(&str, &[&str])] = &[
        ("after=x", &["after = \"x\" is not an event sequence number", "non-negative integer"]),
        ("after=-1", &["after = \"-1\" is not an event sequence number"]),
        ("after=99999999999999999999", &["after = \"99999999999999999999\""]),
        ("after=1&after=2", &["duplicate field `after`"]),
        ("colour=red", &["unknown field `colour`", "expected `after`"]),
        // Past the job's last event (u64::MAX once overflowed `after + 1` and panicked).
        ("after=18446744073709551615", &["after_sequence = 18446744073709551615 is past the job's last event"]),
        ("after=5", &["after_sequence = 5 is past the job's last event (1)"]),
    ];
    for (query, words) in events {
        let got = get(&s.url(&format!("/api/training/jobs/{id}/events?{query}"))).await;
        check(&format!("events ?{query}"), &got, 400, "invalid_argument", words);
    }
    let events_url = s.url(&format!("/api/training/jobs/{id}/events"));
    for (value, words) in [(&b"x1"[..], "Last-Event-ID = \"x1\""), (&b"\xff"[..], "Last-Event-ID = \"\u{fffd}\"")] {
        let header = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let got = answer(http().get(&events_url).header("last-event-id", header).send().await.unwrap()).await;
        check("Last-Event-ID", &got, 400, "invalid_argument", &[words, "not an event sequence number"]);
    }
    // The scheduler-wide stream: positions are `<epoch>:<sequence>`, not a job's sequence.
    let all_events: &[(&str, &[&str])] = &[
        ("after=12", &["after = \"12\" is not a position in the event stream", "<epoch>:<sequence>"]),
        ("after=zz:1", &["after = \"zz:1\" is not a position"]),
        ("after=abc:-1", &["after = \"abc:-1\" is not a position"]),
        ("statesOnly=yes", &["statesOnly = \"yes\" must be true or false"]),
        ("colour=red", &["unknown field `colour`", "`jobIds`"]),
    ];
    for (query, words) in all_events {
        let got = get(&s.url(&format!("/api/training/events?{query}"))).await;
        check(&format!("all events ?{query}"), &got, 400, "invalid_argument", words);
    }
    let got =
        answer(http().get(s.url("/api/training/events")).header("last-event-id", "7").send().await.unwrap()).await;
    check("all events Last-Event-ID", &got, 400, "invalid_argument", &["Last-Event-ID = \"7\" is not a position"]);
    let many = vec![id.as_str(); 1001].join(",");
    let got = get(&s.url(&format!("/api/training/events?jobIds={many}"))).await;
    check("all events jobIds", &got, 400, "invalid_argument", &["job_ids names 1001 jobs; at most 1000"]);
    // Wrong method on a route, and a route that does not exist.
    let got = answer(http().put(s.url(&format!("/api/training/jobs/{id}/status"))).send().await.unwrap()).await;
    check("PUT status", &got, 405, "method_not_allowed", &["does not serve PUT"]);
    let got = answer(http().post(s.url("/api/training/jobs/x")).body("{}").send().await.unwrap()).await;
    check("POST jobs/x", &got, 405, "method_not_allowed", &["/api/training/jobs/x", "POST"]);
    let got = get(&s.url(&format!("/api/training/{}", "z".repeat(5000)))).await;
    check("long unknown route", &got, 404, "not_found", &["no route GET /api/training/zzz"]);
    assert!(!message(&got).contains(&"z".repeat(201)), "the path is cut to 200 characters: {}", got.1);

    // Nothing changed: the one job is still queued, and the server still serves.
    assert_eq!(get(&s.url(&format!("/api/training/jobs/{id}/status"))).await.1["state"], "QUEUED");
    assert_eq!(stored_jobs(dir.path()), vec![id]);
    still_serves(&s, dir.path(), 1).await;
    s.stop().await;
}

/// Artifact names over gRPC: `UploadArtifact` from the trainer holding the job (checked by
/// `is_valid_artifact_name`) and `DownloadArtifact` from clients (only names the job lists). The
/// HTTP route in front of `DownloadArtifact` is checked in `tests/it/dashboard.rs`.
#[tokio::test]
async fn artifact_names_that_could_escape_are_refused_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (_, job) = post(&s.url("/api/training/jobs"), r#"{"symbols": ["BTC"]}"#).await;
    let id = job["id"].as_str().unwrap().to_string();
    let mut trainer = s.trainer().await;
    let grant = trainer
        .acquire_job(pb::AcquireJobRequest { trainer_id: "t-bad".into(), name: "bad".into(), wait_ms: 5000 })
        .await
        .unwrap()
        .into_inner()
        .grant
        .expect("the job is granted");
    let names = ["../../etc/passwd", "..", "", ".hidden", "a/b", "a\\b", "nul\0byte", "é.bin"];
    let long = "n".repeat(10_000);
    for name in names.iter().copied().chain([long.as_str()]) {
        let request = pb::UploadArtifactRequest { lease: grant.lease.clone(), name: name.into(), data: b"x".to_vec() };
        let e = trainer.upload_artifact(request).await.expect_err(name);
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name:.40}: {e:?}");
        assert!(e.message().contains("invalid artifact name") && e.message().contains("1-128 letters"), "{e:?}");
        assert!(e.message().len() < 400, "the name is cut: {}", e.message().len());
    }
    let e = trainer
        .upload_artifact(pb::UploadArtifactRequest { lease: None, name: "a.bin".into(), data: vec![] })
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.message()), (tonic::Code::InvalidArgument, "lease is missing"));

    let channel = tonic::transport::Channel::from_shared(s.grpc.clone()).unwrap().connect().await.unwrap();
    let mut client = TrainingServiceClient::new(channel);
    for name in names.iter().copied().chain([long.as_str()]) {
        let request = pb::DownloadArtifactRequest { job_id: id.clone(), name: name.into() };
        let e = client.download_artifact(request).await.map(|_| ()).expect_err(name);
        assert_eq!(e.code(), tonic::Code::NotFound, "{name:.40}: {e:?}");
        assert!(e.message().contains(&format!("job {id} has no artifact")), "{e:?}");
        assert!(e.message().len() < 400, "the name is cut: {}", e.message().len());
    }
    let request = pb::DownloadArtifactRequest { job_id: "../../etc".into(), name: "passwd".into() };
    let e = client.download_artifact(request).await.map(|_| ()).unwrap_err();
    assert_eq!((e.code(), e.message()), (tonic::Code::NotFound, "no job ../../etc"));

    // Nothing was written: the job has no artifacts, and no file left the job directories.
    let (_, results) = get(&s.url(&format!("/api/training/jobs/{id}/results"))).await;
    assert_eq!(results["artifacts"], json!([]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for file in files(dir.path()) {
        assert!(!file.contains("/artifacts/"), "no artifact was written: {file}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_flood_of_submissions_fills_the_queue_to_its_limit_and_gets_429_after() {
    const LIMIT: usize = 50;
    const REQUESTS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| c.max_queued_jobs = LIMIT).await;
    let jobs = s.url("/api/training/jobs");
    let client = http();
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let (client, jobs) = (client.clone(), jobs.clone());
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"symbols": ["BTC"], "totalSteps": {}, "priority": {}}}"#, 1000 + i, i % 7);
            let response =
                client.post(&jobs).header("content-type", "application/json").body(body).send().await.unwrap();
            answer(response).await
        }));
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for task in tasks {
        let got = tokio::time::timeout(STEP, task).await.expect("every request is answered").unwrap();
        match got.0.as_u16() {
            202 => accepted.push(got.1["id"].as_str().unwrap().to_string()),
            429 => {
                check(
                    "flood",
                    &got,
                    429,
                    "resource_exhausted",
                    &["the queue is full", "the limit is 50", "--max-queued-jobs"],
                );
                refused += 1;
            }
            other => panic!("a flooded submit got {other}: {}", got.1),
        }
    }
    assert_eq!((accepted.len(), refused), (LIMIT, REQUESTS - LIMIT));
    accepted.sort();
    assert_eq!(stored_jobs(dir.path()), accepted);
    let (_, queue) = get(&s.url("/api/training/queue")).await;
    assert_eq!(queue["queued"].as_array().unwrap().len(), LIMIT);
    check("one more", &post(&jobs, r#"{"symbols": ["BTC"]}"#).await, 429, "resource_exhausted", &["the queue is full"]);
    s.stop().await;
    assert_eq!(stored_jobs(dir.path()).len(), LIMIT);
}
