//! Why the scheduler refused a request: [`SchedulerError`], the one error type of every
//! scheduler operation, and the [`Result`] they return.

/// Why a request was refused. Mapped to gRPC statuses in exactly one place (`grpc::status`).
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// No such job.
    #[error("no job {0}")]
    NotFound(String),
    /// No such experiment.
    #[error("no experiment {0}")]
    NoExperiment(String),
    /// The job has no artifact of that name.
    #[error("job {job_id} has no artifact {name:?}; artifacts: {known}")]
    NoArtifact {
        /// Job.
        job_id: String,
        /// The name asked for (at most 200 characters of it).
        name: String,
        /// The artifacts it has, or "none yet".
        known: String,
    },
    /// What is stored under the artifact's name is not a plain file of the job's own directory (a
    /// symbolic link, a device, …): refused, never followed.
    #[error("artifact {name} of job {job_id} is not a plain file in the job's directory (a symbolic link?): refused")]
    NotPlainFile {
        /// Job.
        job_id: String,
        /// The artifact's name.
        name: String,
    },
    /// The request is malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the job's state (e.g. cancelling a finished job).
    #[error("{0}")]
    Conflict(String),
    /// The caller's lease is not the job's current lease (fencing).
    #[error("stale lease for job {job_id}: {reason}")]
    StaleLease {
        /// Job.
        job_id: String,
        /// Why.
        reason: String,
    },
    /// A file under `runs/` could not be read or written; nothing was acknowledged.
    #[error("storage error: {what}: {source}")]
    Storage {
        /// What was being done, e.g. "cannot store the job under /var/lib/skippy/runs".
        what: String,
        /// What the operating system said (shared: one failed group commit answers many).
        source: std::sync::Arc<std::io::Error>,
    },
    /// A blocking storage task was lost (it panicked or the runtime is stopping).
    #[error("storage error: {what}: the task was lost ({source})")]
    StorageTask {
        /// What was being done.
        what: String,
        /// Why the task ended.
        source: tokio::task::JoinError,
    },
    /// An idempotent resubmission waited for the first submission of its key, which did not
    /// commit in time.
    #[error("an earlier submission with this idempotency key did not commit within {0:?}; retry")]
    CommitTimeout(std::time::Duration),
    /// The scheduler is shutting down.
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    /// A server-wide limit is reached (queue full, compute budget spent); try again later.
    #[error("{0}")]
    Exhausted(String),
}

/// Result type of scheduler operations.
pub type Result<T> = std::result::Result<T, SchedulerError>;

impl SchedulerError {
    /// A storage failure while doing `what`.
    pub fn storage(what: impl Into<String>, source: std::io::Error) -> SchedulerError {
        SchedulerError::Storage { what: what.into(), source: std::sync::Arc::new(source) }
    }
}
