//! `skippy-scheduler`: owns the job queue and `runs/`, and serves clients and trainers over gRPC.
//!
//! # Layout
//! - [`config`]: flags and environment.
//! - [`auth`]: bearer tokens for clients and trainers.
//! - [`budget`]: admission: per-job caps, the queue cap, the compute budget.
//! - [`job`]: ids, states, the state machine, the job record (`manifest.json`).
//! - [`store`]: files under `runs/`, atomic and durable writes, the submission journal, recovery.
//! - [`scheduler`]: the one owner of all job state: submission, queries, cancel, watch.
//! - [`leases`]: handing jobs to trainers, heartbeats, expiry and re-queueing.
//! - [`completion`]: progress, checkpoints, artifacts and the end of an attempt.
//! - [`events`]: per-job event logs and live watchers.
//! - [`metrics`]: Prometheus metrics on `/metrics`.
//! - [`grpc`]: the services, conversions and the error mapping.
//! - [`gateway`]: the REST gateway, a gRPC client of the services above.

pub mod auth;
pub mod budget;
pub mod completion;
pub mod config;
pub mod events;
pub mod gateway;
pub mod grpc;
pub mod job;
pub mod leases;
pub mod metrics;
pub mod scheduler;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skippy_proto::v1::trainer_service_server::TrainerServiceServer;
use skippy_proto::v1::training_service_server::TrainingServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;
pub use scheduler::Scheduler;

/// Largest message accepted (checkpoints and artifacts are uploaded in one message).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Runs the scheduler on `grpc` (and `http`, if given) until `shutdown` resolves, then drains:
/// health turns NOT_SERVING, waiting trainers are released, events and manifests are flushed.
pub async fn run(
    config: Config,
    grpc: TcpListener,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut bound = vec![grpc.local_addr()?];
    bound.extend(http.as_ref().map(|h| h.local_addr()).transpose()?);
    let auth = auth::Auth::from_config(&config, &bound).map_err(anyhow::Error::msg)?;
    let (scheduler, recovered) = Scheduler::start(config)?;
    for (dir, reason) in &recovered.quarantined {
        tracing::warn!(dir = %dir, %reason, "unreadable job directory moved to runs/_quarantine");
    }
    for id in &recovered.repaired_event_logs {
        tracing::warn!(job_id = %id, "torn last line of events.jsonl cut");
    }
    tracing::info!(
        jobs = recovered.jobs.len(),
        replayed = recovered.replayed,
        quarantined = recovered.quarantined.len(),
        grpc = %grpc.local_addr()?,
        authentication = if auth.enabled() { "bearer tokens" } else { "NONE (--insecure-no-auth)" },
        "scheduler started"
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<TrainingServiceServer<grpc::clients::Clients>>().await;
    health_reporter.set_serving::<TrainerServiceServer<grpc::trainers::Trainers>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(skippy_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(skippy_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let grpc_addr = grpc.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let background = tokio::spawn(background_tasks(scheduler.clone(), stop_rx.clone()));

    let clients = TrainingServiceServer::new(grpc::clients::Clients::new(scheduler.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let clients = InterceptedService::new(clients, auth.guard(auth::Role::Client));
    let trainers = TrainerServiceServer::new(grpc::trainers::Trainers::new(scheduler.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let trainers = InterceptedService::new(trainers, auth.guard(auth::Role::Trainer));

    let grpc_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let grpc_server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(clients)
        .add_service(trainers)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
            grpc_stop,
        );

    let http_server = match http {
        None => None,
        Some(listener) => {
            let mut rx = stop_rx.clone();
            // The REST gateway calls this scheduler over its own gRPC listener.
            let metrics = scheduler.clone();
            let app = gateway::router_with_shutdown(gateway::local_client(grpc_addr)?, stop_rx.clone())
                .route("/healthz", axum::routing::get(|| async { "ok\n" }))
                .route(
                    "/metrics",
                    axum::routing::get(move || async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            metrics.render_metrics(),
                        )
                    }),
                );
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
            }))
        }
    };

    let stopper = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            health_reporter.set_not_serving::<TrainingServiceServer<grpc::clients::Clients>>().await;
            health_reporter.set_not_serving::<TrainerServiceServer<grpc::trainers::Trainers>>().await;
            scheduler.begin_shutdown();
            let _ = stop_tx.send(true);
        })
    };

    grpc_server.await?;
    stopper.abort();
    if let Some(h) = http_server {
        let _ = h.await;
    }
    let _ = background.await;
    // Events and progress in memory go to disk before the process ends.
    scheduler.flush_events().await;
    // Manifests are written on every state change; running jobs also carry progress.
    let ids: Vec<String> =
        scheduler.lock().jobs.values().filter(|j| j.state.is_running()).map(|j| j.id.clone()).collect();
    for id in ids {
        let _ = scheduler.persist(&id).await;
    }
    let store = scheduler.store.clone();
    tokio::task::spawn_blocking(move || store.compact_journal()).await??;
    tracing::info!("scheduler stopped");
    Ok(())
}

/// The sweeper (lease expiry, timeouts, back-off dispatch) and the event writer.
async fn background_tasks(scheduler: Arc<Scheduler>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let writer = {
        let scheduler = scheduler.clone();
        let stop = stop.clone();
        tokio::spawn(async move { scheduler.write_events(stop).await })
    };
    let mut sweep = tokio::time::interval(Duration::from_millis(100));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = sweep.tick() => {
                for id in scheduler.sweep() {
                    if let Err(e) = scheduler.persist(&id).await {
                        tracing::warn!(job_id = %id, error = %e, "could not persist");
                    }
                }
            }
        }
    }
    let _ = writer.await;
}
