//! One job slot: ask the scheduler for work with a long poll, run what it grants, ask again.
//! An unreachable scheduler is retried with back-off (logged once per outage); a shutdown stops
//! the asking at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use skippy_proto::v1::AcquireJobRequest;
use tokio::sync::watch;

use super::Worker;
use super::backoff::Backoff;
use super::connection::{CALL_TIMEOUT, Failure, classify, describe, with_timeout};
use super::job;

/// How long the scheduler may hold an `AcquireJob` before answering "no work".
pub const WAIT_MS: u32 = 25_000;

/// Pulls and runs jobs until `shutdown` turns true (or its sender goes away).
pub async fn pull_jobs(worker: Arc<Worker>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let request =
            AcquireJobRequest { trainer_id: worker.trainer_id.clone(), name: worker.name.clone(), wait_ms: WAIT_MS };
        let mut client = worker.client.clone();
        let wait = Duration::from_millis(WAIT_MS.into()) + CALL_TIMEOUT;
        let answer = tokio::select! {
            answer = with_timeout(wait, client.acquire_job(request)) => answer,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match answer {
            Ok(reply) => {
                if worker.outage.swap(false, Ordering::Relaxed) {
                    tracing::info!(scheduler = %worker.scheduler, "connected to the scheduler");
                }
                backoff.reset();
                if let Some(grant) = reply.into_inner().grant {
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
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        }
    }
}
