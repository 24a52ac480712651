//! The one mapping from scheduler errors to gRPC statuses.

use tonic::Status;

use crate::scheduler::SchedulerError;

impl From<SchedulerError> for Status {
    fn from(e: SchedulerError) -> Status {
        let msg = e.to_string();
        match e {
            SchedulerError::NotFound(_) => Status::not_found(msg),
            SchedulerError::Invalid(_) => Status::invalid_argument(msg),
            SchedulerError::Conflict(_) | SchedulerError::StaleLease { .. } => Status::failed_precondition(msg),
            SchedulerError::Storage(_) | SchedulerError::ShuttingDown => Status::unavailable(msg),
            SchedulerError::Exhausted(_) => Status::resource_exhausted(msg),
        }
    }
}
