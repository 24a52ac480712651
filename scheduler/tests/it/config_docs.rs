//! The README's configuration reference names every flag of `skippy-scheduler`,
//! `skippy-gateway` and `skippy-trainer` (read from their real `--help`), so the documentation
//! cannot fall behind.

use std::process::Command;

/// Long flags in a `--help` text, without `--help` and `--version`.
fn flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
        .filter_map(|word| word.strip_prefix("--"))
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect::<String>())
        .filter(|name| !name.is_empty() && name != "help" && name != "version")
        .map(|name| format!("--{name}"))
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn undocumented(binary: &str) -> Vec<String> {
    let out = Command::new(binary).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let reference =
        &readme[readme.find("## Configuration reference").expect("the README has a configuration reference")..];
    let found = flags(&help);
    assert!(found.len() >= 5, "too few flags found in:\n{help}");
    found.into_iter().filter(|f| !reference.contains(&format!("`{f}`"))).collect()
}

#[test]
fn every_scheduler_and_gateway_flag_is_in_the_readme() {
    for binary in [env!("CARGO_BIN_EXE_skippy-scheduler"), env!("CARGO_BIN_EXE_skippy-gateway")] {
        let missing = undocumented(binary);
        assert!(missing.is_empty(), "{binary}: flags missing from the README's configuration reference: {missing:?}");
    }
}

/// The trainer is another package: `cargo test --workspace` (CI) builds it beside these.
#[test]
fn every_trainer_flag_is_in_the_readme() {
    let trainer = std::path::Path::new(env!("CARGO_BIN_EXE_skippy-scheduler")).with_file_name("skippy-trainer");
    if !trainer.is_file() {
        eprintln!("SKIPPED: {} is not built (cargo test --workspace builds it)", trainer.display());
        return;
    }
    let missing = undocumented(trainer.to_str().unwrap());
    assert!(missing.is_empty(), "skippy-trainer: flags missing from the README's configuration reference: {missing:?}");
}

#[test]
fn flags_are_read_from_help_text() {
    let help = "  --grpc-addr <GRPC_ADDR>\n      --tls-cert <TLS_CERT> (with --tls-key)\n  -h, --help\n";
    assert_eq!(flags(help), ["--grpc-addr", "--tls-cert", "--tls-key"]);
}
