//! End to end, the happy path: a scheduler and a trainer as processes; `skippy-train ppo`
//! submits a small job and watches it to DONE with the brief's lines; `results`, `status --json`
//! and `download` show it; `runs/<id>/` holds its manifest, events and artifacts.

use std::time::Duration;

use crate::support::{CLI_DEADLINE, Cluster, SMALL_JOB, assert_gap_free, assert_in_order, history_states};

#[test]
fn ppo_watches_a_job_to_done_and_its_results_and_files_are_all_there() {
    let mut cluster = Cluster::start();

    // Submit and watch with no trainer yet: the job waits QUEUED, so the watch is open before
    // any trainer can take it and every phase from QUEUED on is shown, however fast the trainer.
    let mut args = vec!["ppo"];
    args.extend_from_slice(SMALL_JOB);
    let mut cli = cluster.spawn_cli(&args);
    cli.wait_for_stdout("[QUEUED]", Duration::from_secs(60));
    cluster.start_trainer("t-a", 2);
    let run = cli.finish(CLI_DEADLINE);
    let stdout = run.ok();
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("✅ Job created: "))
        .unwrap_or_else(|| panic!("no job id printed:\n{run}"))
        .trim()
        .to_string();
    assert_in_order(
        stdout,
        &[
            "🚀 Starting PPO training job",
            "✅ Job created: tr_",
            "Queue position:",
            "⏳ Watching job progress",
            "[QUEUED]",
            "[PREFLIGHT]",
            "[TRAINING]",
            "[EVALUATING]",
            "[DONE] 100%",
            "Training completed successfully!",
            "Sharpe Ratio:",
            "Generation: 1",
            &format!("💡 Use: skippy-train results {id}"),
        ],
    );
    for phase in ["[QUEUED]", "[PREFLIGHT]", "[TRAINING]", "[EVALUATING]", "[DONE]"] {
        assert_eq!(stdout.matches(phase).count(), 1, "{phase} must be printed once:\n{run}");
    }

    // `results`: the per-symbol table next to buy-and-hold, and the artifacts.
    let results = cluster.cli(&["results", &id]);
    assert_in_order(
        results.ok(),
        &[
            &format!("📊 Results of job {id}"),
            "DONE • Symbols: SYN-EDGE",
            "out-of-sample (test)",
            "SYN-EDGE PPO ",
            "SYN-EDGE buy-and-hold ",
            "Artifacts (",
        ],
    );
    for artifact in ["model.safetensors", "metrics.json", "equity.svg"] {
        assert!(results.stdout.contains(&format!("   {artifact} ")), "{artifact} not listed:\n{results}");
    }

    // `status --json`.
    let status = cluster.status(&id);
    assert_eq!(status["id"], id.as_str());
    assert_eq!(status["state"], "DONE");
    assert_eq!(status["percent"], 100.0);
    assert_eq!(status["result"]["generation"], 1);

    // One JSON form: REST answers the same job with the same fields and the same spellings.
    let (code, rest) = cluster.rest(&format!("/api/training/jobs/{id}/status"));
    assert_eq!(code, 200, "{rest}");
    assert_eq!(field_paths(&rest), field_paths(&status), "REST and `status --json` name the job's fields alike");
    assert_eq!(rest["state"], status["state"]);
    assert_eq!(rest["history"], status["history"]);
    assert_eq!(rest["result"], status["result"]);

    // `download`: the bytes the scheduler stored.
    let out = cluster.dir().join("downloads");
    let download = cluster.cli(&["download", &id, "--out", out.to_str().expect("a UTF-8 path")]);
    download.ok();
    let downloaded = std::fs::read(out.join(&id).join("metrics.json")).expect("download wrote metrics.json");
    let stored = std::fs::read(cluster.job_dir(&id).join("artifacts/metrics.json")).expect("the stored metrics.json");
    assert!(downloaded == stored, "the downloaded metrics.json differs from runs/{id}/artifacts/metrics.json");
    assert!(out.join(&id).join("model.safetensors").is_file(), "{download}");

    // runs/<id>/manifest.json: the whole history and the resolved spec.
    let (manifest, events) = cluster.settled(&id, "DONE");
    assert_eq!(manifest["state"], "DONE");
    assert_eq!(history_states(&manifest), ["QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE"]);
    let spec = &manifest["resolvedSpec"];
    assert_eq!(spec["symbols"], serde_json::json!(["SYN-EDGE"]));
    assert_eq!(spec["total_steps"], 8192);
    assert_eq!(spec["ppo"]["n_steps"], 1024);
    assert_eq!(spec["evaluation"]["bootstrap_samples"], 100);
    assert!(spec["ppo"]["learning_rate"].is_number(), "defaults are resolved: {spec}");
    assert!(spec["seed"].is_u64(), "the drawn seed is recorded: {spec}");

    // runs/<id>/events.jsonl: every event, numbered from 1 without gaps, ending at DONE.
    assert_gap_free(&id, &events);
    assert_eq!(events.last().map(|e| &e["state"]), Some(&serde_json::json!("DONE")));
    assert_eq!(manifest["lastSequence"], events.len() as u64);

    // The trainer is free again.
    let queue = cluster.queue().expect("GetQueue");
    assert!(queue.running.is_empty() && queue.queued.is_empty(), "{queue:?}");
}

/// Every field path of a JSON document (`result.improvement.lo`; array items as `[]`).
fn field_paths(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    out.insert(path.clone());
                    walk(v, &path, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, &format!("{at}[]"), out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", &mut out);
    out
}
