//! Keeps a job's lease alive: a heartbeat every interval while the job runs, carrying the steps
//! done. The reply may ask for a cancel; a stale-lease refusal means the job is no longer ours;
//! an unreachable scheduler (restarting) is retried without stopping the training.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skippy_proto::v1::{HeartbeatRequest, Lease};
use tokio::time::MissedTickBehavior;

use super::backoff::Backoff;
use super::connection::{CALL_TIMEOUT, Client, Failure, classify, describe, with_timeout};
use super::observer::StopFlags;

/// Interval used when a grant names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Shortest interval accepted from a grant.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The heartbeat interval of a grant's `heartbeat_interval_ms` (0: the default).
pub fn interval_of(ms: u32) -> Duration {
    if ms == 0 { DEFAULT_INTERVAL } else { Duration::from_millis(ms.into()).max(MIN_INTERVAL) }
}

/// Sends heartbeats for `lease` until aborted, until the lease turns out to be stale, or until
/// the attempt's completion ended it.
pub async fn keep_alive(
    mut client: Client,
    lease: Lease,
    interval: Duration,
    steps_done: Arc<AtomicU64>,
    flags: Arc<StopFlags>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut backoff = Backoff::new(interval);
    let mut outage = false;
    loop {
        ticker.tick().await;
        loop {
            let request =
                HeartbeatRequest { lease: Some(lease.clone()), steps_done: steps_done.load(Ordering::Relaxed) };
            match with_timeout(CALL_TIMEOUT.min(interval * 4).max(Duration::from_secs(2)), client.heartbeat(request))
                .await
            {
                Ok(reply) => {
                    if outage {
                        tracing::info!("heartbeats reach the scheduler again");
                        outage = false;
                    }
                    backoff.reset();
                    if reply.into_inner().cancel_requested && !flags.cancelled() {
                        tracing::info!("the scheduler asks to cancel the job");
                        flags.request_cancel();
                    }
                    break;
                }
                Err(status) => match classify(&status) {
                    // The completion ended the lease: a heartbeat that crossed it is refused,
                    // and that is no loss.
                    Failure::Stale if flags.completing() => return,
                    Failure::Stale => {
                        tracing::warn!("lease lost ({}); stopping the job without completing it", describe(&status));
                        flags.lose_lease();
                        return;
                    }
                    Failure::Transient | Failure::Rejected => {
                        if !outage {
                            tracing::warn!("heartbeat failed ({}); training goes on, retrying", describe(&status));
                            outage = true;
                        }
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                },
            }
        }
    }
}
