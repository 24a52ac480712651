//! The one mapping from scheduler errors to gRPC statuses.

use tonic::Status;

use crate::scheduler::SchedulerError;

/// Longest message sent back: a message quoting a caller's huge value must still fit in the
/// gRPC trailers (about 16 KiB), or the caller gets a protocol error instead of the answer.
const MAX_MESSAGE_BYTES: usize = 1024;

/// `msg`, cut to `MAX_MESSAGE_BYTES` on a character boundary and marked as cut.
pub fn bounded(msg: String) -> String {
    if msg.len() <= MAX_MESSAGE_BYTES {
        return msg;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &msg[..end], msg.len() - end)
}

impl From<SchedulerError> for Status {
    fn from(e: SchedulerError) -> Status {
        let msg = bounded(e.to_string());
        match e {
            SchedulerError::NotFound(_) | SchedulerError::NoExperiment(_) | SchedulerError::NoArtifact { .. } => {
                Status::not_found(msg)
            }
            SchedulerError::Invalid(_) => Status::invalid_argument(msg),
            SchedulerError::Conflict(_) | SchedulerError::StaleLease { .. } | SchedulerError::NotPlainFile { .. } => {
                Status::failed_precondition(msg)
            }
            SchedulerError::Storage { .. }
            | SchedulerError::StorageTask { .. }
            | SchedulerError::CommitTimeout(_)
            | SchedulerError::ShuttingDown => Status::unavailable(msg),
            SchedulerError::Exhausted(_) => Status::resource_exhausted(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("short".into()), "short");
        let long = format!("unknown field {:?}", "é".repeat(5000));
        let cut = bounded(long.clone());
        assert!(cut.len() < 1100 && cut.ends_with("bytes cut)"), "{}", cut.len());
        assert!(long.starts_with(cut.split('…').next().unwrap()));
        let status: Status = SchedulerError::Invalid(long).into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().len() < 1100);
    }
}
