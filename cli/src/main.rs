//! `skippy-train`: the user's CLI. Arrives with the job system (issue 3).

fn main() -> std::process::ExitCode {
    eprintln!("skippy-train: the job system is not built yet; use `skippy-trainer train` to train offline");
    std::process::ExitCode::from(2)
}
