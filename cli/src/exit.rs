//! Exit codes of `skippy-train`, and the error that carries one to `main`.

use std::fmt;

/// The job is DONE, or the command succeeded.
pub const SUCCESS: u8 = 0;
/// The job FAILED, or a scheduler or transport error.
pub const FAILURE: u8 = 1;
/// A usage error (clap uses the same code for bad flags).
pub const USAGE: u8 = 2;
/// The job was CANCELLED.
pub const CANCELLED: u8 = 3;
/// No such job (or artifact).
pub const NOT_FOUND: u8 = 4;
/// Interrupted (Ctrl+C) while watching; the job keeps running.
pub const INTERRUPTED: u8 = 130;

/// An error with the exit code it ends the program with. Anything else in an error chain
/// exits with [`FAILURE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// The one line the user reads.
    pub message: String,
}

impl Failure {
    /// An error that exits with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code an error ends the program with: the first [`Failure`] in its chain, else
/// [`FAILURE`].
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.chain().find_map(|e| e.downcast_ref::<Failure>()).map_or(FAILURE, |f| f.code)
}

/// Whether the error is a write to a closed pipe (`skippy-train list | head`): the reader
/// left, so the program ends quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn the_code_survives_context() {
        let err = anyhow::Error::new(Failure::new(NOT_FOUND, "no job tr_1_00000000")).context("status");
        assert_eq!(code_of(&err), NOT_FOUND);
        assert_eq!(format!("{err:#}"), "status: no job tr_1_00000000");
        assert_eq!(code_of(&anyhow::anyhow!("plain")), FAILURE);
    }

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let io: std::io::Result<()> = Err(std::io::ErrorKind::BrokenPipe.into());
        let err = io.context("writing the table").unwrap_err();
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
