//! A store that cannot grow, on the real `skippy-scheduler`: the process runs under a file-size
//! limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored, so a write past it fails with `EFBIG` as a
//! full disk fails with `ENOSPC`: the same error path). Submissions then fail with a clear
//! error and the scheduler keeps serving; with room again (the limit lifted) submissions are
//! acknowledged again; after a SIGKILL and a restart exactly the acknowledged jobs exist. A `runs/` that cannot be created stops start-up with
//! its path in the message.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const ADMIN: &str = "admin-secret-for-disk-full";
const TRAINER: &str = "trainer-token-for-disk-full";

/// How long a scheduler process may take to answer `/healthz`: generous, for a slow, busy machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The journal may grow to this: room for a few dozen submissions.
const FILE_SIZE_LIMIT: u64 = 48 * 1024;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scheduler(runs: &Path, http: u16, size_limit: Option<u64>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skippy-scheduler"));
    cmd.args(["--grpc-addr", &format!("127.0.0.1:{}", free_port()), "--http-addr", &format!("127.0.0.1:{http}")])
        .arg("--runs-dir")
        .arg(runs)
        .args(["--metrics-addr", "off"])
        .env("ADMIN_SECRET", ADMIN)
        .env("SKIPPY_TRAINER_TOKEN", TRAINER)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        // A pipe, not a file: the limit would apply to a log file too.
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(limit) = size_limit {
        // SAFETY: between fork and exec only async-signal-safe calls: signal and setrlimit.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                // The soft limit only: the test lifts it again later, which needs no privilege.
                let mut rlimit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                if libc::getrlimit(libc::RLIMIT_FSIZE, &mut rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                rlimit.rlim_cur = limit;
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

/// A scheduler process, killed when dropped (a failing test leaves none behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the scheduler, drains its output on a thread, and waits for `/healthz`.
async fn start(mut cmd: Command, base: &str) -> (Killed, std::thread::JoinHandle<String>) {
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + START_DEADLINE;
    let exited = loop {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return (Killed(child), drain);
        }
        // A scheduler that exited will never answer: fail at once, with its output.
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the scheduler did not answer /healthz within {START_DEADLINE:?} (exited: {exited:?}):\n{}",
        drain.join().unwrap()
    );
}

/// Submits a small job with `seed`; its status and body.
async fn submit(client: &reqwest::Client, base: &str, seed: u64) -> (u16, Value) {
    let r = client
        .post(format!("{base}/api/training/jobs"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(format!(r#"{{"symbols":["SYN-EDGE"],"totalSteps":4096,"seed":{seed}}}"#))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn listed_ids(client: &reqwest::Client, base: &str) -> Vec<String> {
    let body: Value = client
        .get(format!("{base}/api/training/jobs?limit=1000"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> =
        body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().into()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_store_that_cannot_grow_fails_submissions_clearly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let http = free_port();
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let (child, drain) = start(scheduler(&runs, http, Some(FILE_SIZE_LIMIT)), &base).await;

    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    for i in 0..400 {
        let (status, body) = submit(&client, &base, i).await;
        match status {
            202 => {
                assert!(refusals.is_empty(), "a submission was acknowledged after a refusal: the journal grew back");
                acked.push(body["id"].as_str().unwrap().to_string());
            }
            _ => refusals.push((status, body)),
        }
        if refusals.len() == 5 {
            break;
        }
    }
    assert!(acked.len() >= 10, "only {} submissions fit in {FILE_SIZE_LIMIT} bytes", acked.len());
    assert_eq!(refusals.len(), 5, "the limit was never reached: {} acknowledged", acked.len());
    for (status, body) in &refusals {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("cannot store the job under") && message.contains("runs"), "{message}");
        assert!(message.contains("File too large"), "the system's reason is given: {message}");
    }

    // Still serving: the acknowledged jobs and nothing else.
    acked.sort();
    assert_eq!(listed_ids(&client, &base).await, acked);

    // Room again (the limit lifted while it runs): submissions are acknowledged again, and the
    // failed appends left nothing in the journal that could tear the next lines.
    let pid = child.0.id() as i32;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on our own child, with valid pointers.
    let lifted = unsafe {
        libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::prlimit(pid, libc::RLIMIT_FSIZE, &limit, std::ptr::null_mut())
    };
    assert_eq!(lifted, 0, "prlimit: {}", std::io::Error::last_os_error());
    for i in 0..5 {
        let (status, body) = submit(&client, &base, 1000 + i).await;
        assert_eq!(status, 202, "{body}");
        acked.push(body["id"].as_str().unwrap().to_string());
    }
    acked.sort();

    // A crash, then a restart: exactly the acknowledged jobs, and room for more.
    drop(child);
    let log = drain.join().unwrap();
    assert!(log.contains("submissions not stored"), "the failure is logged:\n{log}");
    let (_child, _drain) = start(scheduler(&runs, http, None), &base).await;
    assert_eq!(listed_ids(&client, &base).await, acked, "after the restart");
    let (status, body) = submit(&client, &base, 2000).await;
    assert_eq!(status, 202, "{body}");
}

#[test]
fn a_runs_directory_that_cannot_be_created_stops_start_up_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let runs = file.join("runs");
    let out = scheduler(&runs, free_port(), None).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&runs.display().to_string()), "the path is named: {text}");
    assert!(text.contains("Not a directory"), "{text}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory", "nothing was changed");
}
