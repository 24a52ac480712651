//! End-to-end tests of the `skippy-trainer` binary as a researcher runs it: the artifacts a
//! training run leaves, what it prints, determinism through the command line, the errors bad
//! input gets (and that they leave no output behind), resuming, the duration limit, `bench`,
//! and `backtest` of the fixed policies that check the accounting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// A small training budget: 8 PPO updates of 1024 steps, a second or two per run.
const SMALL: [&str; 4] = ["--steps", "8192", "--set", "ppo.n_steps=1024"];

/// Updates in a [`SMALL`] run.
const SMALL_UPDATES: u64 = 8;

/// Every file a finished run writes.
const ARTIFACTS: [&str; 12] = [
    "model.safetensors",
    "network.json",
    "normalization.json",
    "metrics.json",
    "equity.csv",
    "equity.svg",
    "walk.csv",
    "learning_curve.csv",
    "learning_curve.svg",
    "diagnostics.svg",
    "spec.json",
    "checkpoint.safetensors",
];

/// A temporary directory that is also the binary's working directory, so that nothing a test
/// starts can write into the repository.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("create a temporary directory") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `skippy-trainer <args>`, run in the scratch directory with no data directory inherited
    /// from the environment (so the embedded catalog is the default).
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_skippy-trainer"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SKIPPY_DATA_DIR")
            .output()
            .expect("the skippy-trainer binary starts")
    }

    /// `skippy-trainer train <args> --out <scratch>/<out>`.
    fn train(&self, out: &str, args: &[&str]) -> Output {
        let out = self.path(out);
        let mut all = vec!["train"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", utf8(&out)]);
        self.run(&all)
    }

    /// Trains and insists that it succeeded; returns stdout.
    fn train_ok(&self, out: &str, args: &[&str]) -> String {
        let output = self.train(out, args);
        assert_success(&output, args);
        String::from_utf8(output.stdout).expect("stdout is UTF-8")
    }

    /// Trains with input that must be refused; checks the exit code, that stdout is empty and
    /// that nothing was written to `--out`; returns stderr.
    fn train_refused(&self, args: &[&str]) -> String {
        let output = self.train("refused", args);
        let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
        assert_eq!(output.status.code(), Some(1), "train {args:?} should fail with exit code 1; stderr:\n{stderr}");
        assert!(stderr.contains("skippy-trainer: error: "), "no error line for {args:?}; stderr:\n{stderr}");
        assert!(output.stdout.is_empty(), "stdout of a refused run should be empty: {:?}", output.stdout);
        assert!(!self.path("refused").exists(), "a refused run ({args:?}) created its output directory");
        stderr
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "skippy-trainer {args:?} failed with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn assert_contains(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(haystack.contains(needle), "expected {needle:?} in:\n{haystack}");
    }
}

/// Tensor name → (dtype, shape) from a safetensors file, read the way any other reader
/// would: an 8-byte little-endian header length, then a JSON header whose data offsets must
/// exactly cover the rest of the file.
fn safetensors_tensors(path: &Path) -> (BTreeMap<String, (String, Vec<u64>)>, Value) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + len]).expect("the safetensors header is JSON");
    let data_len = (bytes.len() - 8 - len) as u64;
    let mut tensors = BTreeMap::new();
    let mut covered = 0;
    for (name, info) in header.as_object().expect("the header is an object") {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"].as_str().expect("dtype").to_string();
        let shape: Vec<u64> = info["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().unwrap()).collect();
        let offsets: Vec<u64> =
            info["data_offsets"].as_array().expect("offsets").iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(offsets[1] - offsets[0], shape.iter().product::<u64>() * 4, "{name}: size of its data");
        assert!(offsets[1] <= data_len, "{name}: data past the end of the file");
        covered += offsets[1] - offsets[0];
        tensors.insert(name.clone(), (dtype, shape));
    }
    assert_eq!(covered, data_len, "the tensors should cover the data section exactly");
    (tensors, header["__metadata__"].clone())
}

#[test]
fn a_small_run_writes_every_artifact_and_prints_the_out_of_sample_table() {
    let scratch = Scratch::new();
    let mut args = vec!["--symbols", "SYN-EDGE", "--seed", "3"];
    args.extend_from_slice(&SMALL);
    let stdout = scratch.train_ok("run", &args);
    let out = scratch.path("run");

    for name in ARTIFACTS {
        let path = out.join(name);
        assert!(
            path.is_file(),
            "{name} missing; the run wrote {:?}",
            std::fs::read_dir(&out).unwrap().collect::<Vec<_>>()
        );
        assert!(std::fs::metadata(&path).unwrap().len() > 0, "{name} is empty");
    }

    assert_contains(&stdout, &["out-of-sample (test)", "SYN-EDGE PPO", "SYN-EDGE buy-and-hold", "best achievable"]);

    let metrics = read_json(&out.join("metrics.json"));
    assert_eq!(metrics["stop_reason"], "completed");
    assert_eq!(metrics["total_steps"], 8192);
    assert!(metrics["steps_done"].as_u64().unwrap() >= 8192, "steps_done: {}", metrics["steps_done"]);
    let syn = &metrics["evaluation"]["symbols"]["SYN-EDGE"];
    let sharpe = syn["strategy"]["sharpe"].as_f64().expect("strategy.sharpe is a number");
    assert!(sharpe.is_finite());
    assert!(syn["buy_and_hold"]["sharpe"].as_f64().is_some(), "buy_and_hold: {}", syn["buy_and_hold"]);
    assert!(syn["informed_sharpe"].as_f64().is_some_and(f64::is_finite), "informed_sharpe: {}", syn["informed_sharpe"]);

    for name in ["equity.svg", "learning_curve.svg", "diagnostics.svg"] {
        let svg = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{name} starts with {:?}", &svg[..40]);
        assert!(svg.contains("</svg>"), "{name} is not a complete SVG");
    }

    let curve = std::fs::read_to_string(out.join("learning_curve.csv")).unwrap();
    let mut lines = curve.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    assert_eq!(header[0], "steps");
    assert!(header.contains(&"validation_sharpe"), "header: {header:?}");
    let steps: Vec<u64> = lines.map(|l| l.split(',').next().unwrap().parse().expect("steps is a number")).collect();
    assert_eq!(steps, (1..=SMALL_UPDATES).map(|u| u * 1024).collect::<Vec<_>>(), "one row per update");

    let equity = std::fs::read_to_string(out.join("equity.csv")).unwrap();
    let mut lines = equity.lines();
    assert_eq!(lines.next(), Some("bar,time_ms,portfolio,portfolio_buy_and_hold,SYN-EDGE,SYN-EDGE_buy_and_hold"));
    let first: Vec<&str> = lines.next().expect("a first data row").split(',').collect();
    assert_eq!(first[0], "0");
    for (i, value) in first.iter().enumerate().skip(2) {
        assert_eq!(value.parse::<f64>().unwrap(), 1.0, "column {i} of the first equity row: {first:?}");
    }
    assert!(lines.count() > 50, "the equity curve covers the test segment");

    let walk = std::fs::read_to_string(out.join("walk.csv")).unwrap();
    let mut lines = walk.lines();
    assert_eq!(
        lines.next(),
        Some(
            "time_ms,strategy,buy_and_hold,strategy_cost_0bps,strategy_cost_5bps,strategy_cost_10bps,\
             strategy_cost_20bps,strategy_cost_40bps"
        )
    );
    assert_eq!(lines.count() + 1, equity.lines().count() - 1, "a walk row per equity row after the start");

    let network = read_json(&out.join("network.json"));
    assert_eq!(network["obs_dim"], 33);
    assert_eq!(network["actions"], serde_json::json!(["short", "flat", "long"]));

    // 8 price columns × a 4-bar window + the position = 33 inputs; 64×64 hidden; 3 actions.
    let (tensors, metadata) = safetensors_tensors(&out.join("model.safetensors"));
    let shape = |name: &str| tensors.get(name).unwrap_or_else(|| panic!("no tensor {name} in {tensors:?}")).1.clone();
    assert_eq!(shape("policy.0.weight"), [64, 33]);
    assert_eq!(shape("policy.0.bias"), [64]);
    assert_eq!(shape("policy.1.weight"), [64, 64]);
    assert_eq!(shape("policy.2.weight"), [3, 64]);
    assert_eq!(shape("value.0.weight"), [64, 33]);
    assert_eq!(shape("value.2.weight"), [1, 64]);
    assert_eq!(shape("value.2.bias"), [1]);
    assert!(tensors.values().all(|(dtype, _)| dtype == "F32"), "{tensors:?}");
    let embedded: Value =
        serde_json::from_str(metadata["network"].as_str().expect("network config in the metadata")).unwrap();
    assert_eq!(embedded, network, "the model's metadata and network.json agree");

    // `backtest --model` walks the stored model.safetensors again: on the job's own bars it
    // reproduces the job's evaluation exactly; it walks any other bars of the same interval.
    let dir = out.to_str().unwrap();
    let out = scratch.run(&["backtest", "--model", dir, "--symbols", "SYN-EDGE", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let walked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(walked["evaluation"], metrics["evaluation"], "the same walk, the same figures");
    let out = scratch.run(&["backtest", "--model", dir, "--symbols", "SYN-RW"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("SYN-RW model") && text.contains("SYN-RW buy-and-hold"), "{text}");
    // A model fed another window is refused, saying what it takes.
    let out = scratch.run(&["backtest", "--model", dir, "--symbols", "SYN-EDGE", "--set", "env.window=8"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("takes 33 inputs") && err.contains("give 65 inputs"), "{err}");
}

#[test]
fn a_two_symbol_run_on_the_shipped_bars_reports_each_symbol_and_the_portfolio() {
    let scratch = Scratch::new();
    let mut args = vec!["--symbols", "BTC,ETH", "--features", "price,microstructure"];
    args.extend_from_slice(&SMALL);
    let stdout = scratch.train_ok("run", &args);
    let out = scratch.path("run");

    assert_contains(&stdout, &["BTC PPO", "ETH PPO", "portfolio PPO", "portfolio buy-and-hold"]);
    let metrics = read_json(&out.join("metrics.json"));
    let evaluation = &metrics["evaluation"];
    let symbols: Vec<&String> = evaluation["symbols"].as_object().expect("symbols").keys().collect();
    assert_eq!(symbols, ["BTC", "ETH"]);
    for report in [&evaluation["symbols"]["BTC"], &evaluation["symbols"]["ETH"], &evaluation["portfolio"]] {
        assert!(report["strategy"]["sharpe"].as_f64().is_some_and(f64::is_finite), "{report}");
        assert!(report["buy_and_hold"]["sharpe"].as_f64().is_some_and(f64::is_finite), "{report}");
        assert!(report.get("informed_sharpe").is_none(), "real data has no informed policy: {report}");
    }
    // (8 price + 7 microstructure columns) × a 4-bar window + the position.
    assert_eq!(read_json(&out.join("network.json"))["obs_dim"], (8 + 7) * 4 + 1);
    let (tensors, _) = safetensors_tensors(&out.join("model.safetensors"));
    assert_eq!(tensors["policy.0.weight"].1, [64, 61]);
}

#[test]
fn json_flag_prints_metrics_json_instead_of_the_table() {
    let scratch = Scratch::new();
    let stdout =
        scratch.train_ok("run", &["--symbols", "SYN-EDGE", "--steps", "2048", "--set", "ppo.n_steps=1024", "--json"]);
    let printed: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(printed, read_json(&scratch.path("run").join("metrics.json")));
    assert_eq!(printed["stop_reason"], "completed");
    assert!(!stdout.contains("out-of-sample (test)"), "the table is not printed with --json");
}

#[test]
fn the_same_seed_gives_identical_files_and_another_seed_a_different_model() {
    let scratch = Scratch::new();
    let run = |out: &str, seed: &str| {
        let mut args = vec!["--symbols", "SYN-EDGE", "--seed", seed];
        args.extend_from_slice(&SMALL);
        scratch.train_ok(out, &args);
        let read = |name: &str| std::fs::read(scratch.path(out).join(name)).unwrap();
        (read("metrics.json"), read("model.safetensors"))
    };
    let (metrics_a, model_a) = run("a", "11");
    let (metrics_b, model_b) = run("b", "11");
    let (_, model_c) = run("c", "12");
    assert!(metrics_a == metrics_b, "metrics.json differs between two runs of the same seed");
    assert!(model_a == model_b, "model.safetensors differs between two runs of the same seed");
    assert!(model_a != model_c, "seeds 11 and 12 trained byte-identical models");
}

#[test]
fn the_thread_count_does_not_change_the_model() {
    let scratch = Scratch::new();
    let run = |out: &str, threads: &str| {
        scratch.train_ok(
            out,
            &["--symbols", "SYN-EDGE", "--steps", "4096", "--set", "ppo.n_steps=1024", "--threads", threads],
        );
        std::fs::read(scratch.path(out).join("model.safetensors")).unwrap()
    };
    assert!(run("one", "1") == run("two", "2"), "--threads 1 and --threads 2 trained different models");
}

#[test]
fn an_unknown_feature_set_is_refused_with_the_valid_ones() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC", "--features", "price,volume"]);
    assert_contains(&stderr, &["'volume'", "price, microstructure"]);
}

#[test]
fn an_unknown_symbol_is_refused_with_the_available_ones() {
    let stderr = Scratch::new().train_refused(&["--symbols", "DOGE"]);
    assert_contains(&stderr, &["DOGE", "available: ", "BTC", "ETH", "SYN-EDGE"]);
}

#[test]
fn an_out_of_range_hyper_parameter_is_refused_by_name() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC", "--set", "ppo.gamma=2"]);
    assert_contains(&stderr, &["gamma = 2", "[0, 1]"]);
}

#[test]
fn an_unknown_set_key_is_refused_with_the_known_fields() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC", "--set", "ppo.nope=1"]);
    assert_contains(&stderr, &["unknown field \"nope\"", "learning_rate"]);
}

#[test]
fn a_set_without_an_equals_sign_is_refused() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC", "--set", "garbage"]);
    assert_contains(&stderr, &["garbage", "KEY=VALUE"]);
}

#[test]
fn zero_steps_are_refused() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC", "--steps", "0"]);
    assert_contains(&stderr, &["total_steps = 0"]);
}

#[test]
fn a_symbol_listed_twice_is_refused() {
    let stderr = Scratch::new().train_refused(&["--symbols", "BTC,BTC"]);
    assert_contains(&stderr, &["BTC is listed twice"]);
}

#[test]
fn a_broken_csv_is_refused_naming_the_file_and_line() {
    let scratch = Scratch::new();
    let data = scratch.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("BAD.csv"),
        "Date,open,high,low,close,volume\n\
         2020-01-01 00:00:00,1.0,2.0,0.5,1.5,10\n\
         2020-01-01 00:30:00,1.0,0.5,2.0,1.5,10\n",
    )
    .unwrap();
    let stderr = scratch.train_refused(&["--symbols", "BAD", "--data-dir", utf8(&data)]);
    assert_contains(&stderr, &["BAD.csv:3", "high 0.5 is below low 2"]);
}

/// A CryptoDataDownload-style file of `bars` half-hourly bars from 2020-01-01: a banner line,
/// the header on line 2, bar `k` on line `k + 3`, and then, on line `dup + 4`, a second row
/// for bar `dup`'s time with another close (later bars one line further down).
fn banner_file_with_a_conflicting_duplicate(bars: usize, dup: usize) -> String {
    let mut text = String::from("https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume\n");
    let start = 1_577_836_800; // 2020-01-01T00:00:00Z
    for k in 0..bars {
        let price = |i: usize| 100.0 + 10.0 * (i as f64 / 17.0).sin() + 0.01 * i as f64;
        let (open, close) = (price(k), price(k + 1));
        let (high, low) = (open.max(close) + 0.5, open.min(close) - 0.5);
        let unix = start + 1800 * k;
        text.push_str(&format!("{unix},,CDD/USD,{open},{high},{low},{close},10\n"));
        if k == dup {
            text.push_str(&format!("{unix},,CDD/USD,{open},{high},{low},{},10\n", (open + close) / 2.0));
        }
    }
    text
}

#[test]
fn a_downloaded_file_with_a_banner_and_a_conflicting_duplicate_is_refused_then_kept_last() {
    let scratch = Scratch::new();
    let data = scratch.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("CDD.csv"), banner_file_with_a_conflicting_duplicate(1500, 100)).unwrap();
    let mut args = vec!["--symbols", "CDD", "--data-dir", utf8(&data)];
    args.extend_from_slice(&SMALL);

    let stderr = scratch.train_refused(&args);
    assert_contains(
        &stderr,
        &["CDD.csv: 1 timestamp appears twice with different values: 2020-01-03T02:00:00Z on lines 103 and 104; \
             pass --on-duplicate keep-first or keep-last (data.on_duplicate) to accept them"],
    );

    let bogus = scratch.train_refused(&[args.as_slice(), &["--set", "data.on_duplicate=bogus"]].concat());
    assert_contains(
        &bogus,
        &["override data.on_duplicate: unknown variant `bogus`, expected one of `refuse`, `keep-first`, `keep-last`"],
    );
    let usage = scratch.train("usage", &[args.as_slice(), &["--on-duplicate", "bogus"]].concat());
    let usage_err = String::from_utf8_lossy(&usage.stderr);
    assert_eq!(usage.status.code(), Some(2), "{usage_err}");
    assert_contains(&usage_err, &["bogus", "refuse", "keep-first", "keep-last"]);

    args.extend_from_slice(&["--on-duplicate", "keep-last"]);
    let output = scratch.train("run", &args);
    assert_success(&output, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_contains(
        &stderr,
        &[
            "CDD: 1500 bars",
            "CDD: skipped the line before the header: \"https://www.CryptoDataDownload.com\"",
            "CDD: 1 row(s) dropped for sharing a time with the row kept but not its values (data.on_duplicate = keep-last)",
        ],
    );
    let spec = read_json(&scratch.path("run").join("spec.json"));
    assert_eq!(spec["data"]["on_duplicate"], "keep-last", "{spec}");
}

#[test]
fn a_missing_data_directory_is_refused() {
    let scratch = Scratch::new();
    let missing = scratch.path("no-such-dir");
    let stderr = scratch.train_refused(&["--symbols", "BTC", "--data-dir", utf8(&missing)]);
    assert_contains(&stderr, &["cannot read data directory", utf8(&missing)]);
}

#[test]
fn resuming_from_the_checkpoint_of_another_spec_is_refused() {
    let scratch = Scratch::new();
    let mut args = vec!["--symbols", "SYN-EDGE", "--steps", "2048", "--set", "ppo.n_steps=1024"];
    scratch.train_ok("seed-1", &[args.as_slice(), &["--seed", "1"]].concat());
    let checkpoint = scratch.path("seed-1").join("checkpoint.safetensors");
    args.extend_from_slice(&["--seed", "2", "--resume", utf8(&checkpoint)]);
    let stderr = scratch.train_refused(&args);
    assert_contains(&stderr, &["checkpoint belongs to another spec"]);
}

#[test]
fn a_zero_duration_limit_stops_at_once_and_still_evaluates() {
    let scratch = Scratch::new();
    let mut args = vec!["--symbols", "SYN-EDGE", "--max-duration-secs", "0"];
    args.extend_from_slice(&SMALL);
    let stdout = scratch.train_ok("run", &args);
    assert_contains(&stdout, &["out-of-sample (test)", "stopped by the duration limit after 0 of 8192 steps"]);
    let out = scratch.path("run");
    let metrics = read_json(&out.join("metrics.json"));
    assert_eq!(metrics["stop_reason"], "duration_limit");
    assert_eq!(metrics["steps_done"], 0);
    assert!(metrics["evaluation"]["symbols"]["SYN-EDGE"]["strategy"]["sharpe"].as_f64().is_some_and(f64::is_finite));
    for name in ARTIFACTS {
        assert!(out.join(name).is_file(), "{name} missing after a duration-limited run");
    }
}

#[test]
fn bench_json_reports_positive_throughput() {
    let scratch = Scratch::new();
    let args = ["bench", "--env-steps", "100000", "--train-steps", "4096", "--json"];
    let output = scratch.run(&args);
    assert_success(&output, &args);
    let report: Value = serde_json::from_slice(&output.stdout).expect("bench --json prints JSON");
    for field in ["env_steps_per_sec", "train_steps_per_sec"] {
        let v = report[field].as_f64().unwrap_or_else(|| panic!("{field} missing from {report}"));
        assert!(v.is_finite() && v > 0.0, "{field} = {v}");
    }
    assert_eq!(report["obs_dim"], 33);
    assert!(report["train_steps"].as_u64().is_some_and(|s| s >= 4096), "{report}");
}

#[test]
fn bench_jobs_reports_runs_at_once_against_one_alone() {
    let scratch = Scratch::new();
    let args = ["bench", "--jobs", "3", "--train-steps", "2048", "--repeats", "2", "--json"];
    let output = scratch.run(&args);
    assert_success(&output, &args);
    let report: Value = serde_json::from_slice(&output.stdout).expect("bench --jobs --json prints JSON");
    assert_eq!((report["jobs"].as_u64(), report["steps_per_run"].as_u64()), (Some(3), Some(2048)), "{report}");
    for field in ["alone_steps_per_sec", "aggregate_steps_per_sec", "speedup", "slowest_share"] {
        let v = report[field].as_f64().unwrap_or_else(|| panic!("{field} missing from {report}"));
        assert!(v.is_finite() && v > 0.0, "{field} = {v}");
    }
    assert!(report["slowest_share"].as_f64().is_some_and(|s| s <= 1.0), "{report}");
    let rounds = report["rounds"].as_array().expect("the rounds");
    assert_eq!(rounds.len(), 2);
    assert!(rounds.iter().all(|r| r["per_run_steps_per_sec"].as_array().is_some_and(|runs| runs.len() == 3)));

    let args = ["bench", "--jobs", "2", "--train-steps", "2048", "--repeats", "1"];
    let output = scratch.run(&args);
    assert_success(&output, &args);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_contains(&text, &["one run alone:", "2 runs at once:", "x one run alone", "slowest run:"]);
}

/// `skippy-trainer backtest --policy P --symbols BTC,ETH <extra> --json`: the evaluation.
fn fixed_policy(scratch: &Scratch, policy: &str, extra: &[&str]) -> Value {
    let mut args = vec!["backtest", "--policy", policy, "--symbols", "BTC,ETH", "--json"];
    args.extend_from_slice(extra);
    let out = scratch.run(&args);
    assert!(out.status.success(), "backtest --policy {policy} failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    v["evaluation"].clone()
}

#[test]
fn fixed_policies_check_the_accounting_long_plus_short_loses_without_costs() {
    let scratch = Scratch::new();
    let free = ["--set", "env.cost=0"];
    let (long, short, flat) = (
        fixed_policy(&scratch, "long", &free),
        fixed_policy(&scratch, "short", &free),
        fixed_policy(&scratch, "flat", &[]),
    );
    for part in ["BTC", "ETH"].map(|s| format!("/symbols/{s}")).into_iter().chain(["/portfolio".to_string()]) {
        let growth =
            |v: &Value| v.pointer(&format!("{part}/strategy/total_log_return")).and_then(Value::as_f64).unwrap();
        let (l, s) = (growth(&long), growth(&short));
        // A short is not the mirror of a long: over the same bars, without costs, the two log
        // growths sum to Σ ln(1 − (1 − eˣ)²) < 0 (the old accounting made it exactly 0).
        assert!(l + s < 0.0, "{part}: long {l} + short {s} = {} must be negative", l + s);
        assert!(l + s > -0.5, "{part}: long {l} + short {s}: about Σx² over months of 30-minute bars");
        assert_eq!(growth(&flat), 0.0, "{part}: flat neither gains nor loses");
    }
    // Always long, without costs, is buy-and-hold on the same bars.
    let btc = &long["symbols"]["BTC"];
    let (strategy, bh) = (&btc["strategy"], &btc["buy_and_hold"]);
    assert!((strategy["total_return"].as_f64().unwrap() - bh["total_return"].as_f64().unwrap()).abs() < 1e-9, "{btc}");
    assert_eq!(long["portfolio"]["strategy"]["exposure"], 1.0);
    assert_eq!(short["portfolio"]["strategy"]["exposure"], 1.0, "a short book is fully exposed, not flat");
    assert_eq!(flat["portfolio"]["strategy"]["trades"], 0);

    // Every evaluation re-runs its walk at 0, 5, 10, 20 and 40 bps; the row at the default cost
    // (10 bps) is the headline, and a policy that trades pays more the more a trade costs.
    let priced = fixed_policy(&scratch, "short", &[]);
    let costs = priced["cost_sensitivity"].as_array().expect("a cost-sensitivity table");
    let bps: Vec<f64> = costs.iter().map(|c| c["cost_bps"].as_f64().unwrap()).collect();
    assert_eq!(bps, [0.0, 5.0, 10.0, 20.0, 40.0]);
    assert_eq!(priced["cost"], 0.001, "10 bps by default");
    assert_eq!(costs[2]["total_return"], priced["portfolio"]["strategy"]["total_return"]);
    assert_eq!(costs[0]["total_return"], short["portfolio"]["strategy"]["total_return"], "0 bps is env.cost=0");
    let returns: Vec<f64> = costs.iter().map(|c| c["total_return"].as_f64().unwrap()).collect();
    assert!(returns.windows(2).all(|w| w[1] < w[0]), "{returns:?}");
    // Always short and flat sit beside every result, per symbol and for the portfolio.
    let baseline = |policy: &str, name: &str| {
        long["baselines"].as_array().unwrap().iter().find(|b| b["policy"] == policy && b["name"] == name).cloned()
    };
    let short_btc = baseline("short", "BTC").expect("always short on BTC");
    assert_eq!(short_btc["total_return"], short["symbols"]["BTC"]["strategy"]["total_return"]);
    assert_eq!(baseline("flat", "portfolio").expect("flat")["total_return"], 0.0);
    // Slippage adds to the cost per unit traded.
    let slipped = fixed_policy(&scratch, "short", &["--set", "env.cost=0", "--set", "env.slippage_bps=10"]);
    assert_eq!(slipped["portfolio"]["strategy"]["total_return"], priced["portfolio"]["strategy"]["total_return"]);
    assert_eq!(slipped["slippage_bps"], 10.0);

    // The table names the policy; a policy that does not exist is a usage error naming the choices.
    let out = scratch.run(&["backtest", "--policy", "short", "--symbols", "BTC"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("BTC short") && text.contains("BTC buy-and-hold"), "{text}");
    let out = scratch.run(&["backtest", "--policy", "sideways", "--symbols", "BTC"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sideways") && err.contains("long") && err.contains("short") && err.contains("flat"), "{err}");
}
