//! Slow and idle HTTP clients cannot hold the scheduler's sockets: against the real binary, 1,000
//! connections that send half a request (or nothing) are closed by the server once the header
//! timeout has passed, while an authenticated request keeps answering and an unauthenticated
//! malformed one is refused for its secret; the connection cap makes new clients wait for a free
//! slot; an event stream outlives the idle timeout while it is open. Authenticated requests whose
//! body arrives too slowly (half of it, or a byte at a time) are answered 408 and closed once the
//! body timeout has passed, storing nothing, while other requests keep answering.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::*;

const ADMIN: &str = "admin-s3cret-for-slow-clients";
const TRAINER: &str = "trainer-t0ken-for-slow-clients";

/// Connections the slow-client test holds open at once.
const SLOW_CLIENTS: usize = 1000;

/// How long a scheduler process may take to start answering: generous, for a slow, busy machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Kills the scheduler if the test ends early.
struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How many connections this process can hold, both ends being ours to count, after raising the
/// soft limit on open files as far as the hard limit allows (only ever raised: the one
/// process-wide change these tests make, harmless to the others).
fn connections_we_can_hold(wanted: usize) -> usize {
    // Each connection is one descriptor here and one in the scheduler, which inherits the limit;
    // the rest of this test binary needs some too.
    let needed = (wanted + 512) as libc::rlim_t;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit write and read the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < needed {
            limit.rlim_cur = needed.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    let possible = (limit.rlim_cur as usize).saturating_sub(512).min(wanted);
    if possible < wanted {
        eprintln!("NOTE: the open-file limit ({}) allows {possible} slow clients, not {wanted}", limit.rlim_cur);
    }
    possible
}

/// Starts the real scheduler with `flags`; returns it and its HTTP URL once it answers.
async fn scheduler(runs: &Path, flags: &[&str]) -> (Scheduler, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_skippy-scheduler"))
        .args(["--grpc-addr", &format!("127.0.0.1:{}", free_port()), "--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", "off"])
        .args(flags)
        .arg("--runs-dir")
        .arg(runs)
        .env("ADMIN_SECRET", ADMIN)
        .env("SKIPPY_TRAINER_TOKEN", TRAINER)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Scheduler(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + START_DEADLINE;
    while !http().get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(child.0.try_wait().unwrap().is_none(), "the scheduler exited");
        assert!(Instant::now() < deadline, "the scheduler did not answer within {START_DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_are_cut_off_at_the_header_timeout_while_real_requests_answer() {
    let count = connections_we_can_hold(SLOW_CLIENTS);
    let dir = tempfile::tempdir().unwrap();
    let (_scheduler, base) =
        scheduler(dir.path(), &["--http-header-timeout-secs", "1", "--http-idle-timeout-secs", "1"]).await;
    let addr = base.trim_start_matches("http://").to_string();

    // Every tenth client sends nothing at all; the others half a request.
    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let connected = Instant::now();
        if i % 10 != 0 {
            let half = "GET /api/training/queue HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: Bear";
            stream.write_all(half.as_bytes()).await.unwrap();
        }
        clients.push((stream, connected));
    }

    // Meanwhile the server answers: an authenticated request, and an unauthenticated malformed
    // one refused for its secret, not its body.
    let queue = http().get(format!("{base}/api/training/queue")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let refused = answer(
        http()
            .post(format!("{base}/api/training/jobs"))
            .header("content-type", "application/json")
            .body("{\"symbols\": [")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&refused, 401, "unauthenticated", &["ADMIN_SECRET"]);

    // Every slow client is closed by the server, and not before its timeout.
    let waits = clients.into_iter().map(|(mut stream, connected)| async move {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await; // EOF or a reset: closed either way
        connected.elapsed()
    });
    let held = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(waits))
        .await
        .expect("the server closed every slow connection");
    let shortest = held.iter().min().unwrap();
    assert!(*shortest >= Duration::from_millis(900), "a slow client was cut off before the 1 s timeout: {shortest:?}");
    let longest = held.iter().max().unwrap();
    eprintln!("{count} slow clients closed between {shortest:?} and {longest:?} after connecting");

    let queue = http().get(format!("{base}/api/training/queue")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK, "and the server still answers");
}

/// Connections of the slow-body test: each holds a request (and, without the timeout, a handler).
const SLOW_BODIES: usize = 300;

/// Every how many slow bodies one trickles a byte at a time instead of stopping at half.
const TRICKLE_EVERY: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_answered_408_at_the_body_timeout_while_real_requests_answer() {
    let count = connections_we_can_hold(SLOW_BODIES);
    let dir = tempfile::tempdir().unwrap();
    // Headers and idle connections get ten minutes: only the body timeout can end these requests.
    let flags =
        ["--http-body-timeout-secs", "2", "--http-header-timeout-secs", "600", "--http-idle-timeout-secs", "600"];
    let (_scheduler, base) = scheduler(dir.path(), &flags).await;
    let addr = base.trim_start_matches("http://").to_string();

    // Authenticated submissions whose headers arrive whole and whose body does not: most stop
    // half-way through a small body; every tenth promises a larger one and sends it a byte every
    // 200 ms (each gap far shorter than the timeout; the whole would take hours).
    let mut clients = Vec::with_capacity(count);
    let mut tricklers = tokio::task::JoinSet::new();
    let mut silent = Vec::new();
    for i in 0..count {
        let body = r#"{"symbols": ["SYN-EDGE"], "totalSteps": 4096}"#;
        let trickles = i % TRICKLE_EVERY == 0;
        let length = if trickles { 60_000 } else { body.len() };
        let head = format!(
            "POST /api/training/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: Bearer {ADMIN}\r\n\
             content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let sent = Instant::now();
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        if trickles {
            tricklers.spawn(async move {
                // Until the server closes the connection (a write then fails).
                while writer.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        } else {
            // Kept open (dropping it would end the request), sending nothing more.
            silent.push(writer);
        }
        clients.push(async move {
            let mut answer = Vec::new();
            let _ = reader.read_to_end(&mut answer).await; // to EOF (or a reset): the server closed it
            (sent.elapsed(), String::from_utf8_lossy(&answer).into_owned(), trickles)
        });
    }

    // Meanwhile the server answers authenticated requests, a submission with a whole body too.
    let queue = http().get(format!("{base}/api/training/queue")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let whole = http()
        .post(format!("{base}/api/training/jobs"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(r#"{"symbols": ["SYN-EDGE"], "totalSteps": 4096}"#)
        .send()
        .await
        .unwrap();
    let (code, job) = answer(whole).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");

    // Every slow body is answered 408, and the connection closed, once the timeout has passed and
    // not before.
    let answered = tokio::time::timeout(Duration::from_secs(90), futures::future::join_all(clients))
        .await
        .expect("every slow body is answered and its connection closed");
    for (held, answer, trickles) in &answered {
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a slow body (trickling: {trickles}) after {held:?} got: {:?}",
            answer.chars().take(300).collect::<String>()
        );
        assert!(answer.contains("request_timeout") && answer.contains("--http-body-timeout-secs"), "{answer}");
    }
    let shortest = answered.iter().map(|a| a.0).min().unwrap();
    let longest = answered.iter().map(|a| a.0).max().unwrap();
    assert!(shortest >= Duration::from_millis(1900), "a slow body was cut off before the 2 s timeout: {shortest:?}");
    eprintln!("{count} slow bodies answered 408 between {shortest:?} and {longest:?} after their headers");
    tricklers.abort_all();
    drop(silent);

    // None of them was stored; the server still answers.
    let (code, list) =
        answer(http().get(format!("{base}/api/training/jobs")).bearer_auth(ADMIN).send().await.unwrap()).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [job["id"].as_str().unwrap()], "only the whole submission was stored");
}

#[tokio::test]
async fn the_connection_cap_makes_new_clients_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| {
        c.http_limits.max_connections = 4;
        c.http_limits.header_timeout_secs = 600;
    })
    .await;
    let addr = s.http.trim_start_matches("http://").to_string();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    let url = s.url("/healthz");
    let mut fifth = tokio::spawn(async move { http().get(url).send().await.map(|r| r.status()) });
    // While the four hold every slot, the fifth is not served. (A negative check: a busy machine
    // could only make it pass when it should not, never fail when it should pass.)
    assert!(tokio::time::timeout(Duration::from_millis(500), &mut fifth).await.is_err(), "served beyond the cap");
    drop(silent.pop());
    let status = tokio::time::timeout(STEP, fifth).await.expect("served once a slot is free").unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(silent);
    s.stop().await;
}

#[tokio::test]
async fn an_event_stream_outlives_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), |c| {
        c.http_limits.header_timeout_secs = 1;
        c.http_limits.idle_timeout_secs = 1;
    })
    .await;
    let mut events = http().get(s.url("/api/training/events")).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let first = events.chunk().await.unwrap().expect("the reset event");
    assert!(String::from_utf8_lossy(&first).contains("reset"), "{first:?}");
    // Well past both timeouts, with nothing sent either way (the keep-alive comment comes every
    // 15 s): time passing is what is tested here.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, job) = post(&s.url("/api/training/jobs"), r#"{"symbols":["SYN-EDGE"],"totalSteps":4096}"#).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + STEP;
    let mut seen = String::new();
    while !seen.contains(&id) {
        let chunk = tokio::time::timeout_at(deadline, events.chunk()).await.expect("the job's event arrives");
        let chunk = chunk.expect("the stream is still open").expect("the stream did not end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(events);
    s.stop().await;
}
