//! The dashboard in a real headless Chromium, against a real scheduler and trainer: the page
//! loads with the secret from the URL fragment (and drops it from the address bar), jobs
//! submitted through the REST API appear in the list and the queue, and the list shows every
//! phase of a job that runs in about a second (one server-sent event stream of every job's
//! changes, read with `fetch`) to DONE, and a job's page shows its phase history,
//! its metrics next to buy-and-hold and its equity and learning curves; without a secret it asks
//! for one. An experiment's page follows its runs live to its report and charts, and cancels
//! another from its button. Screenshots go to `target/test-artifacts/`.
//!
//! Chromium is Debian's `chromium`, driven over WebDriver by its `chromedriver` (package
//! `chromium-driver`) through `fantoccini`. Without them the test says so and passes, unless
//! `SKIPPY_REQUIRE_CHROMIUM=1` (as in CI) makes that a failure.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::support::{self, ADMIN_SECRET, Cluster};

/// Chromium's flags: headless, and nothing that reaches out to the (closed) network.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,1000",
];

/// Longest wait for anything on the page (a job's whole run included).
const PAGE: Duration = Duration::from_secs(180);

/// A job of `steps` steps that finishes in seconds (the end-to-end tests' planted-edge market).
fn job_body(steps: u64) -> String {
    json!({
        "symbols": ["SYN-EDGE"],
        "totalSteps": steps,
        "overrides": {"ppo.n_steps": 1024, "evaluation.bootstrap_samples": 100},
    })
    .to_string()
}

#[test]
fn the_dashboard_follows_jobs_from_submission_to_done_in_chromium() {
    let Some((chromium, chromedriver)) = browser() else { return };
    let shots = screenshot_dir();
    // No trainer yet: the jobs wait in the queue until the page has shown them there.
    let mut cluster = Cluster::start();
    let base = cluster.http_url();
    let (driver, rt, browser) = open_browser(&cluster, &chromium, &chromedriver);

    // The page loads with the secret in the fragment, which leaves the address bar at once.
    let (a, b, job_window) = rt.block_on(async {
        browser.goto(&format!("{base}/#token={ADMIN_SECRET}")).await.expect("opening the dashboard");
        wait_for_text(&browser, "#conn", "live").await;
        let url = browser.current_url().await.expect("the URL").to_string();
        assert!(!url.contains(ADMIN_SECRET) && !url.contains("token"), "the secret left the address bar: {url}");
        let kept = script(&browser, "return sessionStorage.getItem('skippy-train.admin-secret')").await;
        assert_eq!(kept, json!(ADMIN_SECRET), "the secret is kept in the tab's sessionStorage");
        wait_for_text(&browser, "#jobs-empty", "No jobs yet").await;

        // Two jobs through the REST API: both appear, queued in submission order.
        let a = submit(&base, &job_body(8_192)).await;
        let b = submit(&base, &job_body(32_768)).await;
        for id in [&a, &b] {
            wait_for_row_state(&browser, id, &["QUEUED"]).await;
        }
        wait_for_text(&browser, "#queue-list", &b).await;
        let queue = text(&browser, "#queue-list").await;
        let (at_a, at_b) = (queue.find(&a).expect("A is in the queue"), queue.find(&b).expect("B is in the queue"));
        assert!(at_a < at_b, "the queue lists {a} before {b}: {queue}");
        assert_eq!(text(&browser, "#stat-queued").await, "2");
        assert_no_banner(&browser).await;
        save_screenshot(&browser, &shots, "dashboard-1-queued.png", false).await;

        // Job B's page, in a window of its own, opened before any trainer exists: it follows B
        // live from QUEUED, however fast B then runs.
        let list_window = browser.window().await.expect("the list's window");
        let job_window = browser.new_window(false).await.expect("a second window").handle;
        browser.switch_to_window(job_window.clone()).await.expect("switching to the job's window");
        browser.goto(&format!("{base}/#token={ADMIN_SECRET}")).await.expect("opening the dashboard again");
        wait_for_text(&browser, "#conn", "live").await;
        script_with(&browser, "location.hash = '#/jobs/' + arguments[0]; return null", &b).await;
        wait_for_text(&browser, "#job-id", &b).await;
        wait_for_text(&browser, "#job-state", "QUEUED").await;
        browser.switch_to_window(list_window).await.expect("back to the list's window");
        (a, b, job_window)
    });

    // A trainer arrives: the list follows job A through every phase, from the one stream of
    // every job's changes, however fast the job runs (the row records each state it showed).
    cluster.start_trainer("t-dash", 1);
    rt.block_on(async {
        let mut shot_running = false;
        let deadline = Instant::now() + PAGE;
        let shown = loop {
            let shown = row(&browser, &a).await.unwrap_or_else(|| panic!("job {a} left the list"));
            let state = shown["state"].as_str().unwrap_or_default().to_string();
            if state == "TRAINING" && !shot_running {
                shot_running = true;
                save_screenshot(&browser, &shots, "dashboard-2-running.png", false).await;
            }
            if state == "DONE" {
                break shown;
            }
            assert!(!matches!(state.as_str(), "FAILED" | "CANCELLED"), "job {a} ended {state}: {shown}");
            assert!(Instant::now() < deadline, "job {a} did not reach DONE on the page within {PAGE:?}: {shown}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let phases = shown["phases"].as_str().unwrap_or_default();
        eprintln!("[dashboard] job {a} on the list page: {phases}");
        assert_eq!(
            phases, "QUEUED PREFLIGHT TRAINING EVALUATING DONE",
            "the list showed every phase of {a}, in order, from the stream: {shown}"
        );
        assert!(shown["events"].as_u64().unwrap_or(0) >= 4, "the list streamed the changes of {a}: {shown}");
        let row_text = text(&browser, &format!("tr[data-job-id='{a}']")).await;
        assert!(row_text.contains("DONE") && row_text.contains("100%"), "{row_text}");

        // Job B's page, open since B was queued: it follows B by its event stream alone.
        browser.switch_to_window(job_window).await.expect("switching to job B's window");
        wait_for_text(&browser, "#job-id", &b).await;
        let mut shot_live = false;
        let deadline = Instant::now() + PAGE;
        loop {
            let state = text(&browser, "#job-state").await;
            if state == "TRAINING" && !shot_live && exists(&browser, "#learning-chart path.line").await {
                shot_live = true;
                save_screenshot(&browser, &shots, "dashboard-3-job-live.png", true).await;
            }
            if state == "DONE" {
                break;
            }
            assert!(!matches!(state.as_str(), "FAILED" | "CANCELLED"), "job {b} ended {state}");
            assert!(Instant::now() < deadline, "job {b} did not reach DONE on its page within {PAGE:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let events: u64 = attr(&browser, "#view-job", "data-events").await.parse().unwrap_or(0);
        assert!(events > 3, "job {b}'s page received {events} events over its stream");

        // Its results: history, metrics next to buy-and-hold, both curves.
        wait_for_attr(&browser, "#view-job", "data-results", "loaded").await;
        let history = text(&browser, "#history-body").await;
        for phase in ["QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"] {
            assert!(history.contains(phase), "the phase history lacks {phase}: {history}");
        }
        let metrics = text(&browser, "#metrics").await;
        for words in [
            "SYN-EDGE",
            "PPO",
            "Buy-and-hold",
            "Sharpe difference",
            "Max drawdown",
            "Cost sensitivity",
            "40 bp per unit traded",
            "always short",
        ] {
            // (Headings are upper case by style, so innerText reads them so.)
            assert!(metrics.to_lowercase().contains(&words.to_lowercase()), "the metrics lack {words:?}: {metrics}");
        }
        let headline = text(&browser, "#headline").await.to_lowercase();
        assert!(headline.contains("sharpe (ppo)") && headline.contains("buy-and-hold"), "{headline}");
        let equity = count(&browser, "#equity-chart path.line").await;
        assert_eq!(equity, 2, "the equity chart draws PPO and buy-and-hold");
        assert_eq!(count(&browser, "#learning-chart path.line").await, 1, "the learning curve is drawn");
        assert!(count(&browser, "#validation-chart circle").await > 0, "validation Sharpes are drawn");
        assert!(text(&browser, "#learning-caption").await.contains("32 PPO updates"), "from learning_curve.csv");
        assert!(text(&browser, "#artifacts").await.contains("equity.csv"));
        assert_no_banner(&browser).await;
        save_screenshot(&browser, &shots, "dashboard-4-job-done.png", true).await;

        // Back to the list: both jobs DONE, with their Sharpe next to buy-and-hold.
        browser.find(Locator::Css("#crumbs a")).await.expect("the Jobs link").click().await.expect("clicking Jobs");
        for id in [&a, &b] {
            wait_for_row_state(&browser, id, &["DONE"]).await;
        }
        let shown = text(&browser, &format!("tr[data-job-id='{b}']")).await;
        assert!(shown.contains('.'), "the row shows the Sharpe figures: {shown}");
        assert_eq!(text(&browser, "#stat-done").await, "2");
        assert_no_banner(&browser).await;
        save_screenshot(&browser, &shots, "dashboard-5-list-done.png", false).await;

        // Without the secret the page asks for it; a wrong one is refused, the right one works.
        script(&browser, "sessionStorage.clear(); location.reload(); return null").await;
        wait_for_displayed(&browser, "#login").await;
        type_secret(&browser, "not-the-secret").await;
        wait_for_text(&browser, "#login-error", "refused").await;
        type_secret(&browser, ADMIN_SECRET).await;
        wait_for_row_state(&browser, &b, &["DONE"]).await;
        assert!(!displayed(&browser, "#login").await, "the secret form closes");
    });
    rt.block_on(async { browser.close().await.expect("closing the browser session") });
    drop(driver);
}

/// More jobs than a page: the list shows the newest 100 and offers the older ones, which come
/// a page at a time; the queue panel shows its first page and how many more wait, and the Queued
/// count is the queue's total. More experiments than the panel's page (20) likewise.
#[test]
fn the_dashboard_pages_through_more_jobs_than_a_page() {
    const JOBS: usize = 130;
    // One run each, submitted before the jobs: the list's first page is the jobs'.
    const EXPERIMENTS: usize = 21;
    const QUEUED: usize = JOBS + EXPERIMENTS;
    let Some((chromium, chromedriver)) = browser() else { return };
    let cluster = Cluster::start();
    let base = cluster.http_url();
    let (driver, rt, browser) = open_browser(&cluster, &chromium, &chromedriver);
    rt.block_on(async {
        let mut experiments = Vec::new();
        for _ in 0..EXPERIMENTS {
            experiments.push(post(&base, "/api/training/experiments", &experiment_body(1, 1)).await);
        }
        let mut ids = Vec::new();
        for _ in 0..JOBS {
            ids.push(submit(&base, &job_body(8_192)).await);
        }
        browser.goto(&format!("{base}/#token={ADMIN_SECRET}")).await.expect("opening the dashboard");
        wait_for_text(&browser, "#conn", "live").await;
        wait_for_text(&browser, "#stat-queued", &QUEUED.to_string()).await;
        wait_on_page(&browser, "the newest 100 jobs in the list", || async {
            count(&browser, "#jobs-body tr").await == 100
        })
        .await;
        assert!(
            row(&browser, &ids[JOBS - 1]).await.is_some() && row(&browser, &ids[0]).await.is_none(),
            "newest first"
        );
        assert_eq!(count(&browser, "#queue-list li:not(.more)").await, 100, "the queue's first page");
        assert!(text(&browser, "#queue-more").await.contains("and 51 more"), "{}", text(&browser, "#queue-list").await);
        assert!(displayed(&browser, "#jobs-more").await, "older jobs are offered");

        browser.find(Locator::Css("#jobs-more")).await.expect("the button").click().await.expect("a click");
        wait_on_page(&browser, "the older jobs below the others", || async {
            count(&browser, "#jobs-body tr").await == QUEUED
        })
        .await;
        assert!(row(&browser, &ids[0]).await.is_some(), "the oldest job is listed now");
        assert!(!displayed(&browser, "#jobs-more").await, "nothing older: the button goes");

        let experiment_row = |id: &str| format!("tr[data-experiment-id='{id}']");
        assert_eq!(count(&browser, "#experiments-body tr").await, 20, "the newest 20 experiments");
        assert!(exists(&browser, &experiment_row(&experiments[EXPERIMENTS - 1])).await, "newest first");
        assert!(!exists(&browser, &experiment_row(&experiments[0])).await, "the oldest on the next page");
        assert!(displayed(&browser, "#experiments-more").await, "older experiments are offered");
        // Back up the page (under the sticky top bar the button cannot be clicked).
        script(&browser, "window.scrollTo(0, 0)").await;
        browser.find(Locator::Css("#experiments-more")).await.expect("the button").click().await.expect("a click");
        wait_on_page(&browser, "the oldest experiment below the others", || async {
            exists(&browser, &experiment_row(&experiments[0])).await
        })
        .await;
        assert_eq!(count(&browser, "#experiments-body tr").await, EXPERIMENTS);
        assert!(!displayed(&browser, "#experiments-more").await, "nothing older: the button goes");
        assert_no_banner(&browser).await;
        browser.close().await.expect("closing the browser session");
    });
    drop(driver);
}

/// An experiment of `seeds` seeds × `folds` folds of one configuration, each run a job that
/// finishes in seconds.
fn experiment_body(seeds: u32, folds: u32) -> String {
    json!({
        "base": {
            "symbols": ["SYN-EDGE"],
            "totalSteps": 8_192,
            "overrides": {"ppo.n_steps": 1024, "evaluation.bootstrap_samples": 100},
        },
        "seeds": seeds,
        "folds": folds,
    })
    .to_string()
}

/// The experiment pages: both experiments are listed; the page of one, opened while its runs
/// wait for a trainer, cancels it with its button; the other's page, opened before any trainer
/// exists, follows its runs live (the event stream of their jobs) to DONE, then shows the
/// report (the verdict, each fold's configuration chosen on validation, the seeds' spread, the
/// deflated Sharpe ratio, the cost sensitivity, the missing runs) and both charts (fetched with
/// the secret); a run's job page links back to it, and the list shows its verdict.
#[test]
fn the_experiment_page_follows_its_runs_to_the_report_in_chromium() {
    let Some((chromium, chromedriver)) = browser() else { return };
    let shots = screenshot_dir();
    let mut cluster = Cluster::start();
    let base = cluster.http_url();
    let (driver, rt, browser) = open_browser(&cluster, &chromium, &chromedriver);
    let followed = rt.block_on(async {
        let followed = post(&base, "/api/training/experiments", &experiment_body(2, 2)).await;
        let cancelled = post(&base, "/api/training/experiments", &experiment_body(1, 2)).await;
        browser.goto(&format!("{base}/#token={ADMIN_SECRET}")).await.expect("opening the dashboard");
        wait_for_text(&browser, "#conn", "live").await;
        wait_for_text(&browser, &format!("tr[data-experiment-id='{followed}']"), "0 / 4 ended").await;
        wait_for_text(&browser, &format!("tr[data-experiment-id='{cancelled}']"), "RUNNING").await;

        // One experiment's page, from its row: Cancel cancels every run.
        let row_link = format!("tr[data-experiment-id='{cancelled}'] a");
        browser.find(Locator::Css(&row_link)).await.expect("the experiment's link").click().await.expect("a click");
        wait_for_text(&browser, "#exp-id", &cancelled).await;
        wait_for_text(&browser, "#exp-state", "RUNNING").await;
        wait_on_page(&browser, "its two runs, queued", || async {
            count(&browser, "#runs-body tr[data-state='QUEUED']").await == 2
        })
        .await;
        script(&browser, "window.confirm = () => true; return null").await;
        browser.find(Locator::Css("#exp-cancel")).await.expect("the Cancel button").click().await.expect("a click");
        wait_for_text(&browser, "#exp-state", "CANCELLED").await;
        wait_for_attr(&browser, "#view-experiment", "data-report", "none").await;
        assert_eq!(count(&browser, "#runs-body tr[data-state='CANCELLED']").await, 2, "every run is cancelled");
        assert!(!displayed(&browser, "#exp-cancel").await, "no Cancel once cancelled");
        assert!(text(&browser, "#exp-report").await.contains("cancelled"));

        // The other's page, before any trainer exists.
        script_with(&browser, "location.hash = '#/experiments/' + arguments[0]; return null", &followed).await;
        wait_for_text(&browser, "#exp-id", &followed).await;
        wait_on_page(&browser, "its four runs, queued", || async {
            count(&browser, "#runs-body tr[data-state='QUEUED']").await == 4
        })
        .await;
        assert!(displayed(&browser, "#exp-cancel").await && displayed(&browser, "#exp-live").await);
        assert_no_banner(&browser).await;
        followed
    });

    // A trainer arrives: the page follows the runs to the report.
    cluster.start_trainer("t-exp", 2);
    rt.block_on(async {
        let mut shot_running = false;
        let deadline = Instant::now() + PAGE;
        while attr(&browser, "#view-experiment", "data-report").await != "loaded" {
            if !shot_running && count(&browser, "#runs-body tr[data-state='DONE']").await > 0 {
                shot_running = true;
                save_screenshot(&browser, &shots, "dashboard-6-experiment-running.png", false).await;
            }
            let state = text(&browser, "#exp-state").await;
            assert!(!matches!(state.as_str(), "FAILED" | "CANCELLED"), "experiment {followed} ended {state}");
            assert!(Instant::now() < deadline, "no report within {PAGE:?}: {}", text(&browser, "body").await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(text(&browser, "#exp-state").await, "DONE");
        assert_eq!(text(&browser, "#exp-percent").await, "100%");
        let changes: u64 = attr(&browser, "#view-experiment", "data-changes").await.parse().unwrap_or(0);
        assert!(changes >= 4, "the page received its runs' changes live: {changes}");
        assert_eq!(count(&browser, "#runs-body tr[data-state='DONE']").await, 4);
        assert_eq!(count(&browser, "#runs-body tr.chosen").await, 4, "one configuration: chosen in every fold");
        let sharpes = script(
            &browser,
            "return [...document.querySelectorAll('#runs-body tr')].map((tr) => tr.children[7].textContent)",
        )
        .await;
        let sharpes: Vec<&str> = sharpes.as_array().expect("a list").iter().filter_map(Value::as_str).collect();
        assert!(sharpes.len() == 4 && sharpes.iter().all(|s| s.contains('.')), "every run's test Sharpe: {sharpes:?}");
        let verdict = text(&browser, "#exp-verdict").await;
        assert!(verdict.contains("edge"), "the verdict is shown: {verdict:?}");
        let report = text(&browser, "#exp-report").await.to_lowercase();
        for words in
            ["per fold", "config 0", "seed 1", "median", "deflated sharpe ratio", "cost sensitivity", "missing runs"]
        {
            assert!(report.contains(words), "the report lacks {words:?}: {report}");
        }
        for chart in ["#exp-walk-chart img", "#exp-seeds-chart img"] {
            let js = "const i = document.querySelector(arguments[0]); return !!i && i.complete && i.naturalWidth > 0";
            assert_eq!(script_with(&browser, js, chart).await, json!(true), "{chart} is drawn");
        }
        assert!(text(&browser, "#exp-artifacts").await.contains("experiment.json"));
        assert!(!displayed(&browser, "#exp-cancel").await, "no Cancel once it has ended");
        assert_no_banner(&browser).await;
        save_screenshot(&browser, &shots, "dashboard-7-experiment-report.png", true).await;

        // A run's page shows its cell and links back to the experiment.
        browser.find(Locator::Css("#runs-body tr a")).await.expect("a run's link").click().await.expect("a click");
        wait_for_text(&browser, "#job-state", "DONE").await;
        let cell = text(&browser, "#job-experiment").await;
        assert!(cell.contains(&followed) && cell.contains("fold 0"), "{cell}");
        browser.find(Locator::Css("#job-experiment a")).await.expect("the link back").click().await.expect("a click");
        wait_for_text(&browser, "#exp-id", &followed).await;
        wait_for_attr(&browser, "#view-experiment", "data-report", "loaded").await;

        // The list shows it ended, with its verdict.
        browser.find(Locator::Css("#crumbs a")).await.expect("the Jobs link").click().await.expect("a click");
        let row = format!("tr[data-experiment-id='{followed}']");
        wait_for_text(&browser, &row, "DONE").await;
        assert!(text(&browser, &row).await.contains(&verdict), "the list shows the verdict");
        assert_no_banner(&browser).await;
        save_screenshot(&browser, &shots, "dashboard-8-list-experiments.png", false).await;
        browser.close().await.expect("closing the browser session");
    });
    drop(driver);
}

// -------------------------------------------------------------------------------------------------
// Chromium and chromedriver
// -------------------------------------------------------------------------------------------------

/// Chromium and chromedriver, or `None` (with a notice) when either is missing and not required.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = support::which(&["chromium", "chromium-browser"]);
    let chromedriver = support::which(&["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            let notice = format!(
                "{missing} not found on PATH: the dashboard's browser test did not run (apt-get install chromium \
                 chromium-driver)"
            );
            support::not_run("SKIPPY_REQUIRE_CHROMIUM", &notice);
            None
        }
    }
}

/// `chromedriver` for `cluster`, a runtime to drive it from, and a headless Chromium session with
/// a fresh profile in the cluster's directory.
fn open_browser(
    cluster: &Cluster,
    chromium: &Path,
    chromedriver: &Path,
) -> (ChromeDriver, tokio::runtime::Runtime, Client) {
    let driver = ChromeDriver::start(chromedriver, cluster.dir());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let browser = rt.block_on(driver.session(chromium, &cluster.dir().join("chromium-profile")));
    (driver, rt, browser)
}

/// `chromedriver` on a free loopback port, in a process group of its own so that dropping it
/// ends the Chromium it started too.
struct ChromeDriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ChromeDriver {
    fn start(binary: &Path, dir: &Path) -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.join("chromedriver.log");
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let driver = ChromeDriver { child, url: format!("http://127.0.0.1:{port}"), log };
        support::wait_until("chromedriver to listen", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        driver
    }

    /// A browser session: headless Chromium with a fresh profile in `profile`.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("starting a Chromium session through chromedriver: {e}\n{}", self.log_text()))
    }

    fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---------- chromedriver log (last lines) ----------\n{}", self.log_text());
        }
        #[cfg(target_os = "linux")]
        {
            // The group is chromedriver's own (process_group(0)): it and the browser it started.
            let group = self.child.id() as i32;
            // SAFETY: kill(2) with a negative pid signals that process group and touches no memory.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// -------------------------------------------------------------------------------------------------
// The REST API
// -------------------------------------------------------------------------------------------------

/// `POST /api/training/jobs`; returns the new job's id.
async fn submit(base: &str, body: &str) -> String {
    post(base, "/api/training/jobs", body).await
}

/// `POST <path>` of a JSON `body` with the secret, answered 202; returns the new resource's id.
async fn post(base: &str, path: &str, body: &str) -> String {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = hyper::Request::post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {ADMIN_SECRET}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request");
    let response = client.request(request).await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("the response body").to_bytes();
    let created: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
    assert_eq!(status.as_u16(), 202, "{created}");
    created["id"].as_str().expect("the new id").to_string()
}

// -------------------------------------------------------------------------------------------------
// The page
// -------------------------------------------------------------------------------------------------

async fn script(browser: &Client, js: &str) -> Value {
    browser.execute(js, vec![]).await.unwrap_or_else(|e| panic!("running {js:?} in the page: {e}"))
}

/// The visible text of the first element matching `css` ("" when there is none).
async fn text(browser: &Client, css: &str) -> String {
    let js = "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : ''";
    let v = browser.execute(js, vec![json!(css)]).await.unwrap_or_else(|e| panic!("reading {css}: {e}"));
    v.as_str().unwrap_or_default().to_string()
}

async fn attr(browser: &Client, css: &str, name: &str) -> String {
    let js = "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null";
    let v = browser.execute(js, vec![json!(css), json!(name)]).await.unwrap_or_else(|e| panic!("reading {css}: {e}"));
    v.as_str().unwrap_or_default().to_string()
}

async fn count(browser: &Client, css: &str) -> usize {
    let v = script_with(browser, "return document.querySelectorAll(arguments[0]).length", css).await;
    v.as_u64().unwrap_or(0) as usize
}

async fn exists(browser: &Client, css: &str) -> bool {
    count(browser, css).await > 0
}

async fn displayed(browser: &Client, css: &str) -> bool {
    let js = "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0";
    script_with(browser, js, css).await.as_bool().unwrap_or(false)
}

async fn script_with(browser: &Client, js: &str, arg: &str) -> Value {
    browser.execute(js, vec![json!(arg)]).await.unwrap_or_else(|e| panic!("running {js:?} in the page: {e}"))
}

/// A job's row in the list: its state (the badge's text) and the events it got live.
async fn row(browser: &Client, id: &str) -> Option<Value> {
    let js = "const tr = document.querySelector(`tr[data-job-id='${arguments[0]}']`); if (!tr) return null; \
              return {state: tr.querySelector('.badge').textContent, events: Number(tr.dataset.events || 0), \
              phases: tr.dataset.phases || '', text: tr.innerText}";
    let v = script_with(browser, js, id).await;
    (!v.is_null()).then_some(v)
}

/// Polls `check` every 100 ms until it holds, failing after [`PAGE`] with the page's text.
async fn wait_on_page<F, Fut>(browser: &Client, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PAGE;
    while !check().await {
        if Instant::now() > deadline {
            let page = text(browser, "body").await;
            panic!("timed out after {PAGE:?} waiting for {what}; the page reads:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_text(browser: &Client, css: &str, words: &str) {
    let what = format!("{css} to read {words:?}");
    wait_on_page(browser, &what, move || async move { text(browser, css).await.contains(words) }).await;
}

async fn wait_for_attr(browser: &Client, css: &str, name: &str, value: &str) {
    let what = format!("{css}[{name}={value:?}]");
    wait_on_page(browser, &what, move || async move { attr(browser, css, name).await == value }).await;
}

async fn wait_for_displayed(browser: &Client, css: &str) {
    wait_on_page(browser, &format!("{css} to show"), move || async move { displayed(browser, css).await }).await;
}

async fn wait_for_row_state(browser: &Client, id: &str, states: &[&str]) {
    let what = format!("job {id} to show as {} in the list", states.join(" or "));
    wait_on_page(browser, &what, move || async move {
        row(browser, id).await.is_some_and(|r| states.contains(&r["state"].as_str().unwrap_or_default()))
    })
    .await;
}

async fn assert_no_banner(browser: &Client) {
    let banner = text(browser, "#banner").await;
    assert!(!displayed(browser, "#banner").await, "the page shows an error: {banner}");
}

async fn type_secret(browser: &Client, secret: &str) {
    let input = browser.find(Locator::Css("#login-secret")).await.expect("the secret field");
    input.clear().await.expect("clearing the secret field");
    input.send_keys(secret).await.expect("typing the secret");
    browser.find(Locator::Css("#login-form button")).await.expect("the button").click().await.expect("submitting");
}

// -------------------------------------------------------------------------------------------------
// Screenshots
// -------------------------------------------------------------------------------------------------

/// `target/test-artifacts/` (the target directory of this test binary).
fn screenshot_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_skippy-train"));
    let target = exe
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-artifacts");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Saves a screenshot of the page (the whole page when `full`: the window grows to fit it).
async fn save_screenshot(browser: &Client, dir: &Path, name: &str, full: bool) {
    let (width, height) = browser.get_window_size().await.expect("the window size");
    if full {
        let page = script(browser, "return document.documentElement.scrollHeight").await.as_u64().unwrap_or(height);
        let _ = browser.set_window_size(width as u32, page.clamp(600, 4000) as u32 + 120).await;
        tokio::time::sleep(Duration::from_millis(300)).await; // charts redraw on resize
    }
    let png = browser.screenshot().await.expect("a screenshot");
    if full {
        let _ = browser.set_window_size(width as u32, height as u32).await;
    }
    let path = dir.join(name);
    fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("[dashboard] screenshot: {}", path.display());
}
