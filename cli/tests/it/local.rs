//! `skippy-train ppo --local`: one command starts a scheduler and a trainer in-process, trains a
//! small job on the planted-edge synthetic market, prints the brief's watch lines, the summary
//! and the results table, and leaves the job's files in `--runs-dir`.

use std::process::Command;

#[test]
fn one_command_trains_evaluates_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skippy-train"))
        .args([
            "ppo",
            "--local",
            "--symbols",
            "SYN-EDGE",
            "--steps",
            "4096",
            "--set",
            "ppo.n_steps=1024",
            "--seed",
            "1",
        ])
        .current_dir(dir.path())
        .env_remove("SKIPPY_RUNS_DIR")
        .env_remove("SKIPPY_DATA_DIR")
        .env_remove("SKIPPY_JSON")
        .env_remove("SKIPPY_SCHEDULER")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let id =
        stdout.lines().find_map(|l| l.strip_prefix("✅ Job created: ")).expect("the job id is printed").to_string();
    assert!(id.starts_with("tr_") && id.len() == "tr_1754727123_a1b2c3d4".len(), "{id}");
    let expected_in_order = [
        "🚀 Starting PPO training job...",
        "   Symbols: SYN-EDGE",
        "⏳ Watching job progress (Ctrl+C to exit)...",
        "🏃 [TRAINING] ",
        "📊 [EVALUATING] ",
        "✅ [DONE] 100% • ",
        "✅ Training completed successfully!",
        "   Sharpe Ratio: ",
        "   Generation: ",
        "   Improvement: ",
        &format!("📊 Results of job {id}"),
        "out-of-sample (test)     Sharpe              95% CI",
        "SYN-EDGE PPO ",
        "SYN-EDGE buy-and-hold ",
        "SYN-EDGE best achievable ",
        "Artifacts (",
        "   model.safetensors ",
        "💡 The job's files are in runs",
    ];
    let mut rest = stdout.as_str();
    for want in expected_in_order {
        let at = rest.find(want).unwrap_or_else(|| panic!("{want:?} missing (in order) from:\n{stdout}"));
        rest = &rest[at + want.len()..];
    }
    assert!(!stdout.contains("skippy-train results"), "no pointer to a scheduler that is gone");
    assert!(dir.path().join("runs").join(&id).join("manifest.json").is_file());
}
