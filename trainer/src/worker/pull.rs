//! One job slot: ask the scheduler for work with a long poll, run what it grants, ask again.
//! An unreachable scheduler is retried with back-off (logged once per outage); a shutdown stops
//! the asking at once; the worker's limits end the slot between jobs (each poll lasts no longer
//! than the limits allow, so none is abandoned).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use skippy_proto::v1::AcquireJobRequest;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Worker;
use super::backoff::Backoff;
use super::connection::{CALL_TIMEOUT, Failure, classify, describe, with_timeout};
use super::job;
use super::lifetime::End;

/// How long the scheduler may hold an `AcquireJob` before answering "no work".
pub const WAIT_MS: u32 = 25_000;

/// Pulls and runs jobs until `shutdown` turns true (or its sender goes away): then returns
/// `None`; or until a limit of the worker ends it between jobs: then returns which.
pub async fn pull_jobs(worker: Arc<Worker>, mut shutdown: watch::Receiver<bool>) -> Option<End> {
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            return None;
        }
        if let Some(end) = worker.lifetime.ended(Instant::now()) {
            return Some(end);
        }
        // The scheduler answers "no work" at the end of the wait, when a limit may be reached.
        let wait = worker.lifetime.wait(Instant::now(), Duration::from_millis(WAIT_MS.into()));
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(WAIT_MS).clamp(1, WAIT_MS);
        let request = AcquireJobRequest { trainer_id: worker.trainer_id.clone(), name: worker.name.clone(), wait_ms };
        let mut client = worker.client.clone();
        let answer = tokio::select! {
            answer = with_timeout(Duration::from_millis(wait_ms.into()) + CALL_TIMEOUT, client.acquire_job(request)) => answer,
            _ = shutdown.wait_for(|stop| *stop) => return None,
        };
        match answer {
            Ok(reply) => {
                if worker.outage.swap(false, Ordering::Relaxed) {
                    tracing::info!(scheduler = %worker.scheduler, "connected to the scheduler");
                }
                backoff.reset();
                if let Some(grant) = reply.into_inner().grant {
                    let _busy = worker.lifetime.busy();
                    job::run(&worker, grant, shutdown.clone()).await;
                }
            }
            Err(status) => {
                if !worker.outage.swap(true, Ordering::Relaxed) {
                    match classify(&status) {
                        Failure::Rejected => tracing::error!(
                            scheduler = %worker.scheduler,
                            "the scheduler refused to hand out work ({}); retrying",
                            describe(&status)
                        ),
                        Failure::Transient | Failure::Stale => tracing::warn!(
                            scheduler = %worker.scheduler,
                            "scheduler unreachable ({}); retrying with back-off",
                            describe(&status)
                        ),
                    }
                } else {
                    tracing::debug!("acquire failed again ({})", describe(&status));
                }
                let delay = worker.lifetime.wait(Instant::now(), backoff.next_delay());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            }
        }
    }
}
