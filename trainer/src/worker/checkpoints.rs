//! Uploads a job's checkpoints as training produces them. Only the newest matters: one that is
//! still retrying when a newer arrives is abandoned for the newer. When training has ended (the
//! slot closed) the final checkpoint is uploaded before the task ends.

use std::sync::Arc;

use skippy_proto::v1::{Lease, UploadCheckpointRequest};
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::connection::{CALL_TIMEOUT, Client, Failure, RETRY_BUDGET, classify, describe, with_timeout};
use super::observer::{CheckpointUpload, StopFlags};

/// What became of the checkpoints of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Steps of the newest checkpoint training produced.
    pub produced: Option<u64>,
    /// Steps of the newest checkpoint the scheduler stored.
    pub stored: Option<u64>,
}

impl Uploaded {
    /// Whether the last checkpoint produced was stored (or none was produced).
    pub fn up_to_date(&self) -> bool {
        self.produced == self.stored
    }
}

/// Uploads checkpoints from `slot` until it closes and the last one is stored, refused, or
/// given up on; stops at once when the lease is lost.
pub async fn upload_latest(
    mut client: Client,
    lease: Lease,
    mut slot: watch::Receiver<Option<Arc<CheckpointUpload>>>,
    flags: Arc<StopFlags>,
) -> Uploaded {
    let mut result = Uploaded::default();
    let mut outage = false;
    'next: while slot.changed().await.is_ok() {
        let Some(checkpoint) = slot.borrow_and_update().clone() else { continue };
        result.produced = Some(checkpoint.steps_done);
        if result.stored == Some(checkpoint.steps_done) {
            // The final checkpoint of a run that just stored a periodic one at the same step.
            continue;
        }
        let request = UploadCheckpointRequest {
            lease: Some(lease.clone()),
            steps_done: checkpoint.steps_done,
            data: checkpoint.data.clone(),
            validation_sharpe: checkpoint.validation_sharpe,
        };
        let started = Instant::now();
        let mut backoff = Backoff::default();
        loop {
            if flags.lease_lost() {
                return result;
            }
            let status = match with_timeout(CALL_TIMEOUT, client.upload_checkpoint(request.clone())).await {
                Ok(reply) => {
                    if outage {
                        tracing::info!("checkpoint uploads reach the scheduler again");
                        outage = false;
                    }
                    tracing::debug!(
                        steps_done = checkpoint.steps_done,
                        bytes = checkpoint.data.len(),
                        name = %reply.into_inner().name,
                        "checkpoint stored"
                    );
                    result.stored = Some(checkpoint.steps_done);
                    continue 'next;
                }
                Err(status) => status,
            };
            match classify(&status) {
                Failure::Stale => {
                    tracing::warn!("checkpoint refused: lease lost ({})", describe(&status));
                    flags.lose_lease();
                    return result;
                }
                Failure::Rejected => {
                    tracing::error!(steps_done = checkpoint.steps_done, "checkpoint refused ({})", describe(&status));
                    continue 'next;
                }
                Failure::Transient if started.elapsed() >= RETRY_BUDGET => {
                    tracing::error!(
                        steps_done = checkpoint.steps_done,
                        "giving up on a checkpoint after {}s ({})",
                        RETRY_BUDGET.as_secs(),
                        describe(&status)
                    );
                    continue 'next;
                }
                Failure::Transient => {
                    if !outage {
                        tracing::warn!("checkpoint upload failed ({}); retrying", describe(&status));
                        outage = true;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                    let newer = slot.borrow().as_ref().is_some_and(|latest| !Arc::ptr_eq(latest, &checkpoint));
                    if newer {
                        continue 'next;
                    }
                }
            }
        }
    }
    result
}
