//! The end-to-end harness: the real `skippy-scheduler`, `skippy-trainer` and `skippy-train`
//! binaries as processes on ephemeral loopback ports, over a temporary runs directory.
//!
//! - [`binary`] finds a binary next to the CLI's. Cargo only builds (and names in
//!   `CARGO_BIN_EXE_*`) the binaries of the package under test, so the scheduler and the trainer
//!   are built here, once per test process, with the same cargo, target directory and profile.
//! - [`Cluster`] owns the temporary directory, the scheduler and the trainers. Every process
//!   (and every CLI command) writes its output to files there; when a test fails, the cluster
//!   prints them all (and keeps the directory when `SKIPPY_E2E_KEEP` is set). One cluster runs
//!   at a time in the test process ([`one_cluster_at_a_time`]).
//! - [`Cluster::cli`] runs one `skippy-train` command to its end under a deadline;
//!   [`Cluster::spawn_cli`] starts one in the background.
//! - [`wait_until`] polls a condition until it holds or a deadline passes: no sleep that only
//!   hopes.
//! - [`which`] and [`not_run`]: a test that needs an outside tool (Chromium, SLURM) finds it,
//!   or says why it did not run, and fails instead where CI requires the tool.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;

/// A client channel that presents [`ADMIN_SECRET`].
pub type Authed = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, AdminBearer>;

/// Adds `authorization: Bearer ADMIN_SECRET`.
#[derive(Debug, Clone, Copy)]
pub struct AdminBearer;

impl tonic::service::Interceptor for AdminBearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let bearer = format!("Bearer {ADMIN_SECRET}").parse().expect("an ASCII header");
        request.metadata_mut().insert("authorization", bearer);
        Ok(request)
    }
}

/// An admin client of the scheduler at `url` on a channel of its own that connects on first
/// use (call inside a tokio runtime); large answers allowed (`GetQueue` returns the queue).
pub fn lazy_admin_client(url: &str, connect_timeout: Duration) -> TrainingServiceClient<Authed> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .expect("a valid URL")
        .connect_timeout(connect_timeout)
        .connect_lazy();
    TrainingServiceClient::with_interceptor(channel, AdminBearer).max_decoding_message_size(usize::MAX)
}

/// A small job: 8 PPO updates on the planted-edge synthetic market (a few seconds).
pub const SMALL_JOB: &[&str] = &[
    "--symbols",
    "SYN-EDGE",
    "--steps",
    "8192",
    "--set",
    "ppo.n_steps=1024",
    "--set",
    "evaluation.bootstrap_samples=100",
];

/// A job of `steps` steps with frequent updates (so progress and checkpoints come often).
pub fn job_of(steps: u64) -> Vec<String> {
    [
        "--symbols",
        "SYN-EDGE",
        "--steps",
        &steps.to_string(),
        "--set",
        "ppo.n_steps=1024",
        "--set",
        "evaluation.bootstrap_samples=100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Lease settings of every test scheduler: a lost trainer is noticed within about 2 s.
const SCHEDULER_FLAGS: &[&str] =
    &["--lease-ttl-ms", "2000", "--heartbeat-interval-ms", "200", "--retry-backoff-ms", "100"];

/// How long a process may take to become ready.
const READY: Duration = Duration::from_secs(30);

/// How long one CLI command may run unless the test says otherwise.
pub const CLI_DEADLINE: Duration = Duration::from_secs(120);

/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 200;

/// The path of the binary `name` of this workspace, next to the CLI's. The first call for the
/// scheduler or the trainer builds both (cargo decides whether anything is stale).
pub fn binary(name: &str) -> PathBuf {
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_skippy-train"));
    if name == "skippy-train" {
        return cli;
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = BUILT.get_or_init(build_siblings) {
        panic!("building the scheduler and the trainer for the end-to-end tests failed:\n{e}");
    }
    let path = cli.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} is missing after building it", path.display());
    path
}

/// Runs `cargo build` for `skippy-scheduler` and `skippy-trainer` into the CLI's target directory
/// and profile. Cargo's own lock orders it with any other build of the same directory.
fn build_siblings() -> Result<(), String> {
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_skippy-train"));
    let profile_dir = cli.parent().ok_or("the CLI binary has no directory")?;
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).ok_or("the profile directory has no name")?;
    let above = profile_dir.parent().ok_or("the profile directory has no parent")?;
    // target/<profile>/ or, when cross-compiling, target/<triple>/<profile>/.
    let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
        (above.to_path_buf(), None)
    } else {
        let triple = above.file_name().and_then(|n| n.to_str()).map(str::to_string);
        (above.parent().ok_or("no target directory above the triple")?.to_path_buf(), triple)
    };
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "skippy-scheduler", "--bin", "skippy-scheduler"])
        .args(["-p", "skippy-trainer", "--bin", "skippy-trainer"])
        .arg("--target-dir")
        .arg(&target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(triple) = triple {
        cmd.args(["--target", &triple]);
    }
    let started = Instant::now();
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} exited with {}:\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    eprintln!("[e2e] scheduler and trainer are up to date ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Polls `check` every 50 ms until it returns `Some`, or panics once `timeout` has passed,
/// naming `what` was awaited.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first of `names` found on `PATH`.
pub fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

/// Says why a test did not run (it then passes), unless `require_var=1` (as in CI, where the
/// tool is installed on purpose) makes that a failure.
#[track_caller]
pub fn not_run(require_var: &str, notice: &str) {
    assert!(std::env::var(require_var).as_deref() != Ok("1"), "{require_var}=1: {notice}");
    eprintln!("NOTICE: {notice}");
}

/// A free loopback port (the OS picks one; the listener is closed before the port is used).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0 for a free port")
        .port()
}

/// A command for `program` without the settings a developer's environment might carry into it
/// (`SKIPPY_*`, `ADMIN_SECRET`), logging at `info` without colour: add the test's own after.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("SKIPPY_")) {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("ADMIN_SECRET").env("NO_COLOR", "1").env("RUST_LOG", "info").stdin(Stdio::null());
    cmd
}

/// The secrets every cluster of these tests runs with: the scheduler checks them, the CLI and
/// the harness present the admin one, trainers the trainer one.
pub const ADMIN_SECRET: &str = "e2e-admin-secret";
/// See [`ADMIN_SECRET`].
pub const TRAINER_TOKEN: &str = "e2e-trainer-token";

/// Has the kernel SIGKILL the child when the thread that started it ends, so that no
/// scheduler or trainer outlives a test binary that was itself killed (its drops never run).
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which
    // is async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Elsewhere the [`Process`] guard is the only cleanup.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// A child process that is killed (SIGKILL) when dropped, with its output in files.
pub struct Process {
    /// For messages: `scheduler-1`, `trainer t-a`, `skippy-train watch …`.
    pub name: String,
    /// The process.
    child: Child,
    /// Its standard output.
    pub stdout: PathBuf,
    /// Its standard error (the same file as `stdout` for the servers).
    pub stderr: PathBuf,
    /// Its exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `cmd` with its stdout and stderr going to the given files (one file if equal).
    fn spawn(name: String, mut cmd: Command, stdout: PathBuf, stderr: PathBuf) -> Process {
        let out = File::create(&stdout).unwrap_or_else(|e| panic!("creating {}: {e}", stdout.display()));
        let err = if stderr == stdout {
            out.try_clone().expect("cloning a log file handle")
        } else {
            File::create(&stderr).unwrap_or_else(|e| panic!("creating {}: {e}", stderr.display()))
        };
        cmd.stdout(out).stderr(err);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        Process { name, child, stdout, stderr, status: None }
    }

    /// The process id.
    #[allow(dead_code)] // No test signals a harness process by its id today.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if it has ended (reaping it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name));
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end by itself.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        wait_until(&what, timeout, || self.exited())
    }

    /// SIGKILL, then reaps it.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().unwrap_or_else(|e| panic!("reaping {}: {e}", self.name)));
        }
    }

    /// Waits up to `timeout` until its standard output contains `needle`; panics (with its
    /// output) if it exits first.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let what = format!("{} to print {needle:?}", self.name);
        wait_until(&what, timeout, || {
            let stdout = self.stdout_text();
            if stdout.contains(needle) {
                return Some(());
            }
            if let Some(status) = self.exited() {
                panic!(
                    "{} exited ({status}) without printing {needle:?}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
                    self.name,
                    self.stderr_text()
                );
            }
            None
        });
    }

    /// Waits up to `timeout` for a CLI command started with [`Cluster::spawn_cli`] to end, and
    /// returns what it did.
    pub fn finish(&mut self, timeout: Duration) -> CliOutput {
        let status = self.wait(timeout);
        CliOutput {
            command: self.name.clone(),
            code: status.code(),
            stdout: self.stdout_text(),
            stderr: self.stderr_text(),
        }
    }

    /// Its standard output so far.
    pub fn stdout_text(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Its standard error so far.
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What one `skippy-train` command did.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Asserts exit code 0 and returns standard output.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success:\n{self}");
        &self.stdout
    }

    /// Standard output parsed as one JSON value (after asserting exit code 0).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok().trim()).unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{self}"))
    }
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Asserts that `text` contains each of `wanted`, in this order.
#[track_caller]
pub fn assert_in_order(text: &str, wanted: &[&str]) {
    let mut rest = text;
    for want in wanted {
        let at = rest.find(want).unwrap_or_else(|| panic!("{want:?} missing (in this order) from:\n{text}"));
        rest = &rest[at + want.len()..];
    }
}

/// A scheduler, its trainers and a temporary runs directory; every process dies with it.
pub struct Cluster {
    /// The temporary directory: `runs/`, logs, CLI output (kept after a failure on request).
    dir: Option<tempfile::TempDir>,
    /// The scheduler's runs directory.
    pub runs: PathBuf,
    /// The scheduler's gRPC port (the same across restarts).
    grpc_port: u16,
    /// The scheduler's HTTP port.
    http_port: u16,
    /// The scheduler, while running.
    scheduler: Option<Process>,
    /// The scheduler's flags after its ports and runs directory (the same at every start).
    scheduler_flags: Vec<String>,
    /// Scheduler starts so far (names its logs).
    scheduler_starts: u32,
    /// Trainers started, by name (killed ones stay, for their logs).
    trainers: Vec<Process>,
    /// Every file worth printing when a test fails, with a title.
    logs: RefCell<Vec<(String, PathBuf)>>,
    /// CLI commands run so far (names their output files).
    commands: Cell<u32>,
    /// Runs the gRPC calls of readiness checks and waits.
    rt: tokio::runtime::Runtime,
    /// This cluster's turn, held until it is dropped (after its processes are killed).
    _turn: MutexGuard<'static, ()>,
}

/// Waits until no other cluster of this process runs, and returns the turn of the caller's.
///
/// All the crate's integration tests are one binary (`tests/it/main.rs`) whose tests run as
/// threads, several at once. The end-to-end tests were binaries of their own, run one after
/// another, and their timing (leases of 2 s, kills at chosen moments, jobs that must end within
/// deadlines) assumes that no other cluster's scheduler and trainers compete with theirs for the
/// CPU: so clusters still run one at a time. A test that failed during its turn poisons the lock;
/// the next cluster runs all the same.
fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// A running scheduler with no trainers.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Like [`Cluster::start`], with `overrides` (`("--lease-ttl-ms", "60000")`, …) replacing
    /// the harness's value of a scheduler flag or adding one, for every start of the scheduler.
    pub fn start_with(overrides: &[(&str, &str)]) -> Cluster {
        let turn = one_cluster_at_a_time();
        let mut scheduler_flags: Vec<String> = SCHEDULER_FLAGS.iter().map(|f| f.to_string()).collect();
        for (flag, value) in overrides {
            match scheduler_flags.iter().position(|f| f == flag) {
                Some(at) => scheduler_flags[at + 1] = value.to_string(),
                None => scheduler_flags.extend([flag.to_string(), value.to_string()]),
            }
        }
        let dir = tempfile::Builder::new().prefix("skippy-e2e-").tempdir().expect("creating a temporary directory");
        let runs = dir.path().join("runs");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("starting a tokio runtime");
        let mut cluster = Cluster {
            dir: Some(dir),
            runs,
            grpc_port: free_port(),
            http_port: free_port(),
            scheduler: None,
            scheduler_flags,
            scheduler_starts: 0,
            trainers: Vec::new(),
            logs: RefCell::new(Vec::new()),
            commands: Cell::new(0),
            rt,
            _turn: turn,
        };
        cluster.start_scheduler();
        cluster
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("the directory lives as long as the cluster").path()
    }

    /// The scheduler's gRPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The scheduler's HTTP URL (the REST gateway and the dashboard).
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Starts the scheduler (again: same ports, runs directory and flags) and waits until it
    /// answers.
    pub fn start_scheduler(&mut self) {
        assert!(self.scheduler.is_none(), "the scheduler is already running");
        let flags = self.scheduler_flags.clone();
        self.scheduler_starts += 1;
        let name = format!("scheduler-{}", self.scheduler_starts);
        let log = self.dir().join(format!("{name}.log"));
        let mut cmd = clean_command(binary("skippy-scheduler"));
        cmd.arg("--grpc-addr")
            .arg(format!("127.0.0.1:{}", self.grpc_port))
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--runs-dir")
            .arg(&self.runs)
            .args(["--metrics-addr", "off"])
            .args(&flags);
        cmd.env("ADMIN_SECRET", ADMIN_SECRET).env("SKIPPY_TRAINER_TOKEN", TRAINER_TOKEN);
        self.logs.borrow_mut().push((name.clone(), log.clone()));
        self.scheduler = Some(Process::spawn(name, cmd, log.clone(), log));
        wait_until("the scheduler to answer GetQueue", READY, || {
            let scheduler = self.scheduler.as_mut().expect("just started");
            if let Some(status) = scheduler.exited() {
                panic!("the scheduler exited during start-up ({status}):\n{}", scheduler.stdout_text());
            }
            self.queue().ok()
        });
    }

    /// SIGKILLs the scheduler: no shutdown, no flush.
    pub fn kill_scheduler(&mut self) {
        let mut scheduler = self.scheduler.take().expect("the scheduler is running");
        scheduler.kill();
    }

    /// Starts a trainer named `name` (one job at a time, a checkpoint every second, `threads`
    /// training threads) and waits until the scheduler has seen it ask for work.
    pub fn start_trainer(&mut self, name: &str, threads: u32) {
        let url = self.url();
        self.start_trainer_at(name, threads, &url);
    }

    /// Starts a trainer named `name` that runs `jobs` jobs at once (`--concurrency`), each on one
    /// training thread, and waits until the scheduler has seen it ask for work.
    pub fn start_trainer_of(&mut self, name: &str, jobs: u32) {
        let url = self.url();
        self.start_trainer_with(name, &url, &["--threads", "1", "--concurrency", &jobs.to_string()]);
    }

    /// The trainer named `name`.
    pub fn trainer(&mut self, name: &str) -> &mut Process {
        let title = format!("trainer {name}");
        self.trainers.iter_mut().rev().find(|t| t.name == title).unwrap_or_else(|| panic!("no trainer {name}"))
    }

    /// A gRPC call to the scheduler (connecting afresh, with the admin secret), with a 5 s
    /// deadline.
    fn call<T, F, Fut>(&self, f: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(TrainingServiceClient<Authed>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let url = self.url();
        self.rt.block_on(async move {
            let call = async move {
                let channel = tonic::transport::Endpoint::from_shared(url)
                    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?
                    .connect()
                    .await
                    .map_err(|e| tonic::Status::unavailable(format!("connecting: {e}")))?;
                // Large answers allowed: `GetQueue` returns the whole queue (thousands of jobs in
                // some tests), and readiness must not depend on its size.
                let client =
                    TrainingServiceClient::with_interceptor(channel, AdminBearer).max_decoding_message_size(usize::MAX);
                f(client).await.map(tonic::Response::into_inner)
            };
            tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer within 5 s")))
        })
    }

    /// `GetQueue`.
    pub fn queue(&self) -> Result<pb::GetQueueResponse, tonic::Status> {
        self.call(|mut c| async move { c.get_queue(pb::GetQueueRequest::default()).await })
    }

    /// `GetJob`.
    pub fn job(&self, id: &str) -> Result<pb::Job, tonic::Status> {
        let job_id = id.to_string();
        self.call(|mut c| async move { c.get_job(pb::GetJobRequest { job_id }).await })
    }

    /// Waits until job `id` is in one of `states` (`"TRAINING"`, `"DONE"`, …); panics if it
    /// ends in another state first.
    pub fn wait_for_state(&self, id: &str, states: &[&str], timeout: Duration) -> pb::Job {
        let what = format!("job {id} to reach {}", states.join(" or "));
        wait_until(&what, timeout, || {
            let job = self.job(id).ok()?;
            let state = state_name(job.state);
            if states.contains(&state.as_str()) {
                return Some(job);
            }
            let ended = matches!(state.as_str(), "DONE" | "FAILED" | "CANCELLED");
            assert!(!ended, "job {id} ended {state} while waiting for {}: {}", states.join(" or "), job.error);
            None
        })
    }

    /// Runs `skippy-train --scheduler <url> ARGS` to its end (at most [`CLI_DEADLINE`]).
    pub fn cli<S: AsRef<str>>(&self, args: &[S]) -> CliOutput {
        self.cli_within(args, CLI_DEADLINE)
    }

    /// Runs `skippy-train --scheduler <url> ARGS` to its end, killing it after `deadline`.
    pub fn cli_within<S: AsRef<str>>(&self, args: &[S], deadline: Duration) -> CliOutput {
        self.spawn_cli(args).finish(deadline)
    }

    /// Starts `skippy-train --scheduler <url> ARGS` in the background.
    pub fn spawn_cli<S: AsRef<str>>(&self, args: &[S]) -> Process {
        let n = self.commands.get() + 1;
        self.commands.set(n);
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let name = format!("skippy-train {}", args.join(" "));
        let stdout = self.dir().join(format!("cli-{n:02}.stdout"));
        let stderr = self.dir().join(format!("cli-{n:02}.stderr"));
        self.logs.borrow_mut().push((format!("#{n} {name} (stdout)"), stdout.clone()));
        self.logs.borrow_mut().push((format!("#{n} {name} (stderr)"), stderr.clone()));
        let mut cmd = clean_command(binary("skippy-train"));
        cmd.arg("--scheduler").arg(self.url()).args(&args);
        cmd.env("ADMIN_SECRET", ADMIN_SECRET);
        Process::spawn(name, cmd, stdout, stderr)
    }

    /// Submits a job with `skippy-train --json ppo --detach ARGS`; returns its id.
    pub fn submit<S: AsRef<str>>(&self, job: &[S]) -> String {
        let mut args = vec!["--json", "ppo", "--detach"];
        args.extend(job.iter().map(AsRef::as_ref));
        let out = self.cli(&args);
        let v = out.json();
        assert_eq!(v["created"], true, "{out}");
        let id = v["id"].as_str().unwrap_or_else(|| panic!("no job id in:\n{out}"));
        id.to_string()
    }

    /// `skippy-train --json status ID`, parsed.
    pub fn status(&self, id: &str) -> Value {
        self.cli(&["--json", "status", id]).json()
    }

    /// `GET <path>` on the scheduler's REST gateway with the admin secret: (status, JSON body).
    pub fn rest(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.http("GET", path, None);
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        (status, value)
    }

    /// `METHOD <path>` on the scheduler's REST gateway with the admin secret and, if given, a
    /// JSON body: (status, the body's bytes).
    pub fn http(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let url = format!("{}{path}", self.http_url());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(&url)
                .header("authorization", format!("Bearer {ADMIN_SECRET}"));
            let bytes = match body {
                Some(json) => {
                    request = request.header("content-type", "application/json");
                    Bytes::from(serde_json::to_vec(json).expect("JSON"))
                }
                None => Bytes::new(),
            };
            let request = request.body(Full::new(bytes)).expect("a request");
            let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
                .await
                .unwrap_or_else(|_| panic!("{method} {url} took over 30 s"))
                .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.expect("the body").to_bytes();
            (status, body.to_vec())
        })
    }

    /// The directory of job `id` under `runs/`.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.runs.join(id)
    }

    /// `runs/<id>/manifest.json`, parsed.
    pub fn manifest(&self, id: &str) -> Value {
        let path = self.job_dir(id).join("manifest.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// Job `id`'s manifest and event log once both have caught up with `state`.
    ///
    /// `GetJob` shows a change as soon as the scheduler applies it; the manifest and
    /// `events.jsonl` are written a moment later by their own writers. This waits (at most 30 s)
    /// until the manifest records `state` and the event log holds all `last_sequence` events.
    pub fn settled(&self, id: &str, state: &str) -> (Value, Vec<Value>) {
        wait_until(&format!("the manifest and events of {id} to record {state}"), Duration::from_secs(30), || {
            let manifest: Value =
                serde_json::from_str(&fs::read_to_string(self.job_dir(id).join("manifest.json")).ok()?).ok()?;
            if manifest["state"] != state {
                return None;
            }
            // A line may be half-written: read again then.
            let text = fs::read_to_string(self.job_dir(id).join("events.jsonl")).ok()?;
            let events: Vec<Value> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>().ok()?;
            (manifest["lastSequence"].as_u64() == Some(events.len() as u64)).then_some((manifest, events))
        })
    }

    /// `runs/<id>/events.jsonl`, one value per line.
    pub fn events(&self, id: &str) -> Vec<Value> {
        let path = self.job_dir(id).join("events.jsonl");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{} line {}: not JSON ({e}): {line}", path.display(), i + 1))
            })
            .collect()
    }

    /// The checkpoint files stored under `runs/<id>/checkpoints/` (temporary files excluded).
    pub fn checkpoint_files(&self, id: &str) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.job_dir(id).join("checkpoints")) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n.ends_with(".safetensors"))
            .collect();
        names.sort();
        names
    }

    /// Prints every log (the last lines of each); keeps the directory if `SKIPPY_E2E_KEEP` is set.
    fn report_failure(&mut self) {
        eprintln!("\n========== end-to-end logs ==========");
        for (title, path) in self.logs.borrow().iter() {
            let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"));
            let lines: Vec<&str> = text.lines().collect();
            let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
            eprintln!("---------- {title} ({}) ----------", path.display());
            if skip > 0 {
                eprintln!("({skip} earlier lines not shown)");
            }
            for line in &lines[skip..] {
                eprintln!("{line}");
            }
        }
        let Some(dir) = self.dir.take() else { return };
        if std::env::var_os("SKIPPY_E2E_KEEP").is_some() {
            eprintln!("========== kept {} for a look ==========", dir.keep().display());
        } else {
            eprintln!("========== set SKIPPY_E2E_KEEP=1 to keep the runs directory and logs ==========");
        }
    }

    /// Like [`Cluster::start_trainer`], but the trainer reaches the scheduler at `url` (a proxy
    /// in front of it, say) instead of [`Cluster::url`].
    pub fn start_trainer_at(&mut self, name: &str, threads: u32, url: &str) {
        // One job at a time (the trainer's default is one per core): the tests count on where
        // each job runs.
        self.start_trainer_with(name, url, &["--threads", &threads.to_string(), "--concurrency", "1"]);
    }

    /// Starts trainer `name` on the scheduler at `url` with `flags` besides the harness's, and
    /// waits until the scheduler has seen it ask for work.
    fn start_trainer_with(&mut self, name: &str, url: &str, flags: &[&str]) {
        let mut cmd = clean_command(binary("skippy-trainer"));
        cmd.args(["--scheduler", url, "--name", name, "--checkpoint-interval-secs", "1"]).args(flags);
        cmd.env("SKIPPY_TRAINER_TOKEN", TRAINER_TOKEN);
        self.spawn_trainer(name, cmd);
        let what = format!("trainer {name} to ask the scheduler (at {url}) for work");
        wait_until(&what, READY, || {
            let trainer = self.trainers.last_mut().expect("just started");
            if let Some(status) = trainer.exited() {
                panic!("trainer {name} exited during start-up ({status}):\n{}", trainer.stdout_text());
            }
            let queue = self.queue().ok()?;
            queue.trainers.iter().any(|t| t.name == name).then_some(())
        });
    }

    /// Starts `cmd` (from [`clean_command`]) as trainer `name` of this cluster, without waiting
    /// for it: its output goes to `trainer-<name>.log` (printed if the test fails), it is killed
    /// with the cluster, and [`Cluster::trainer`] finds it by `name`.
    pub fn spawn_trainer(&mut self, name: &str, cmd: Command) -> &mut Process {
        let log = self.dir().join(format!("trainer-{name}.log"));
        let title = format!("trainer {name}");
        self.add_log(&title, &log);
        self.trainers.push(Process::spawn(title, cmd, log.clone(), log));
        self.trainers.last_mut().expect("just started")
    }

    /// Prints `path` with the other logs if the test fails (the output of a process the cluster
    /// did not start, say).
    pub fn add_log(&self, title: &str, path: &Path) {
        self.logs.borrow_mut().push((title.to_string(), path.to_path_buf()));
    }

    /// The scheduler's log so far (of its latest start).
    pub fn scheduler_log(&self) -> String {
        let name = format!("scheduler-{}", self.scheduler_starts);
        fs::read_to_string(self.dir().join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for trainer in &mut self.trainers {
            trainer.kill();
        }
        if let Some(scheduler) = &mut self.scheduler {
            scheduler.kill();
        }
        if std::thread::panicking() {
            self.report_failure();
        }
    }
}

/// A job state's short name: `"QUEUED"`, …, `"DONE"`.
pub fn state_name(state: i32) -> String {
    pb::JobState::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("JOB_STATE_").to_string())
        .unwrap_or_else(|_| format!("UNKNOWN({state})"))
}

/// The states of a manifest's history, oldest first.
pub fn history_states(manifest: &Value) -> Vec<String> {
    manifest["history"]
        .as_array()
        .expect("the manifest has a history")
        .iter()
        .map(|h| h["state"].as_str().expect("a history entry has a state").to_string())
        .collect()
}

/// The first history entry of a manifest in `state`.
pub fn history_entry<'a>(manifest: &'a Value, state: &str) -> &'a Value {
    manifest["history"]
        .as_array()
        .expect("the manifest has a history")
        .iter()
        .find(|h| h["state"] == state)
        .unwrap_or_else(|| panic!("no {state} in the history of {}", manifest["id"]))
}

/// Asserts that a DONE job's manifest records two attempts and nothing else: attempt 1 on trainer
/// `first`, stopped in training and re-queued for a reason containing `requeued_for`, then
/// attempt 2 on trainer `second` to DONE (after the re-queue). Returns the history entries.
#[track_caller]
pub fn assert_two_attempts<'a>(manifest: &'a Value, first: &str, requeued_for: &str, second: &str) -> &'a [Value] {
    assert_eq!(manifest["attempt"], 2);
    assert_eq!(
        history_states(manifest),
        ["QUEUED", "PREFLIGHT", "TRAINING", "QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"],
        "one re-queue and no other state change"
    );
    let history = manifest["history"].as_array().expect("a history");
    let reason = |i: usize| history[i]["reason"].as_str().expect("a reason");
    assert!(reason(1).starts_with(&format!("attempt 1 on trainer {first} ")), "{}", reason(1));
    assert!(reason(3).contains(requeued_for), "re-queued for another reason than {requeued_for:?}: {}", reason(3));
    assert!(reason(4).starts_with(&format!("attempt 2 on trainer {second} ")), "{}", reason(4));
    assert!(history_entry(manifest, "DONE")["atMs"].as_i64() > history[4]["atMs"].as_i64());
    history
}

/// Asserts that attempt 2 (granted to `trainer`) resumed from a checkpoint of `resume_from` of
/// `total_steps` steps: its TRAINING state event starts at the checkpoint's share of 10–85% (a
/// fresh start reports exactly 10%). Returns the index of the attempt's start in `events`.
#[track_caller]
pub fn assert_attempt_2_resumed(
    id: &str,
    events: &[Value],
    trainer: &str,
    resume_from: u64,
    total_steps: u64,
) -> usize {
    let started = format!("attempt 2 started on {trainer}");
    let granted = events
        .iter()
        .position(|e| e["kind"] == "STATE" && e["message"] == started.as_str())
        .unwrap_or_else(|| panic!("no start of attempt 2 in events.jsonl of {id}"));
    let training = events[granted..]
        .iter()
        .find(|e| e["kind"] == "STATE" && e["state"] == "TRAINING")
        .expect("attempt 2 entered TRAINING");
    let percent = training["percent"].as_f64().expect("a percent");
    let expected = 10.0 + 75.0 * resume_from as f64 / total_steps as f64;
    assert!(
        (percent - expected).abs() < 1e-6,
        "attempt 2 entered TRAINING at {percent}%, not at the checkpoint's {expected}% ({resume_from} steps): {training}"
    );
    granted
}

/// Asserts that an event log's sequences are 1, 2, 3, … in file order.
#[track_caller]
pub fn assert_gap_free(id: &str, events: &[Value]) {
    let sequences: Vec<u64> = events.iter().map(|e| e["sequence"].as_u64().expect("a sequence")).collect();
    let expected: Vec<u64> = (1..=sequences.len() as u64).collect();
    assert_eq!(sequences, expected, "events.jsonl of {id} must number its events 1, 2, 3, … without gaps");
}

/// A millisecond setting of every test scheduler (`--lease-ttl-ms`, `--heartbeat-interval-ms`,
/// `--retry-backoff-ms`), as the harness passes it (unless [`Cluster::start_with`] overrides it).
pub fn scheduler_flag_ms(flag: &str) -> Duration {
    let at = SCHEDULER_FLAGS.iter().position(|f| *f == flag).unwrap_or_else(|| panic!("no {flag} in the flags"));
    let value = SCHEDULER_FLAGS.get(at + 1).unwrap_or_else(|| panic!("{flag} has no value"));
    Duration::from_millis(value.parse().unwrap_or_else(|e| panic!("{flag} {value}: {e}")))
}
