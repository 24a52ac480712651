//! Shell completions and the manual page come from the binary itself, with no scheduler.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skippy-train"))
        .args(args)
        // Nothing listens here: these commands must not try to connect.
        .env("SKIPPY_SCHEDULER", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completion_scripts_know_every_subcommand_and_flag() {
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for word in ["ppo", "status", "results", "list", "queue", "cancel", "watch", "download", "symbols", "ca-cert"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn the_manual_has_a_page_per_subcommand() {
    let man = run(&["man"]);
    assert!(man.contains(".TH skippy-train 1"), "{}", &man[..200.min(man.len())]);
    for sub in ["ppo", "status", "results", "list", "queue", "cancel", "watch", "download"] {
        assert!(man.contains(&format!(".TH skippy-train-{sub} 1")), "no page for {sub}");
    }
    assert!(man.contains("ADMIN_SECRET"), "the environment variables are documented");
}
