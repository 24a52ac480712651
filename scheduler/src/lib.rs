//! `skippy-scheduler`: owns the job queue and `runs/`, and serves clients and trainers over gRPC.
//!
//! # Layout
//! - [`config`]: flags and environment.
//! - [`auth`]: bearer tokens for clients and trainers.
//! - [`budget`]: admission: per-job caps, the queue cap, the compute budget.
//! - [`job`]: ids, states, the state machine, the job record (`manifest.json`).
//! - [`store`]: files under `runs/`, atomic and durable writes, the submission journal, recovery.
//! - [`scheduler`]: the one owner of all job state ([`Scheduler`]): start-up, queries, cancel,
//!   watch, shutdown; in its modules `scheduler::submission` (a spec checked, resolved and
//!   admitted), `scheduler::committer` (the thread that group-commits submissions to the
//!   journal), `scheduler::event_writer` (events recorded, written in order, published),
//!   `scheduler::persist` (manifest writes ordered per job), `scheduler::listing` (pages of
//!   jobs and of the queue), `scheduler::retention` (finished jobs removed by age and count)
//!   and `scheduler::error` ([`SchedulerError`](scheduler::SchedulerError)).
//! - [`leases`]: handing jobs to trainers, heartbeats, expiry and re-queueing.
//! - [`finished`]: finished jobs, kept compact (the rest of each is its manifest).
//! - [`completion`]: progress, checkpoints, artifacts and the end of an attempt.
//! - [`events`]: per-job event logs and live watchers.
//! - [`feed`]: every job's changes in one order, for clients that follow many jobs.
//! - [`telemetry`]: Prometheus metrics on `/metrics`.
//! - [`grpc`]: the services, conversions and the error mapping.
//! - [`tls`]: optional TLS for both servers.
//! - [`gateway`]: the REST gateway, a gRPC client of the services above.

pub mod auth;
pub mod budget;
pub mod completion;
pub mod config;
pub mod events;
pub mod feed;
pub mod finished;
pub mod gateway;
pub mod grpc;
pub mod job;
pub mod leases;
pub mod lineage;
pub mod logging;
mod queue;
pub mod scheduler;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod trace;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skippy_proto::v1::trainer_service_server::TrainerServiceServer;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use skippy_proto::v1::training_service_server::TrainingServiceServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
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
    let auth = auth::Auth::from_config(&config, &bound)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::TlsFiles::load(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
    };
    let (scheduler, recovered) = Scheduler::start(config)?;
    for (dir, reason) in &recovered.quarantined {
        tracing::warn!(dir = %dir, %reason, "unreadable job directory moved to runs/_quarantine");
    }
    for id in &recovered.repaired_event_logs {
        tracing::warn!(job_id = %id, "torn last line of events.jsonl cut");
    }
    let (held, finished) = {
        let st = scheduler.lock();
        (st.jobs.len(), st.finished.len())
    };
    tracing::info!(
        jobs = held + finished,
        finished,
        replayed = recovered.replayed,
        quarantined = recovered.quarantined.len(),
        grpc = %grpc.local_addr()?,
        authentication = if auth.enabled() { "bearer tokens" } else { "NONE (--insecure-no-auth)" },
        tls = tls.is_some(),
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
    let mut builder = tonic::transport::Server::builder().http2_keepalive_interval(Some(Duration::from_secs(20)));
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.grpc())?;
    }
    let grpc_server = builder
        .layer(trace::RequestSpanLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(clients.clone())
        .add_service(trainers)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
            grpc_stop,
        );

    let (http_server, in_process) = match http {
        None => (None, None),
        Some(listener) => {
            // The REST gateway is a client of the same service, over an in-process connection
            // (no port, no certificate name to match, the same authentication).
            let (channel, in_process) = in_process_channel(clients, stop_rx.clone());
            let metrics = scheduler.clone();
            let app = gateway::router_with_shutdown(TrainingServiceClient::new(channel), stop_rx.clone())
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
            let mut rx = stop_rx.clone();
            let stopped = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let server = match &tls {
                Some(tls) => {
                    let listener = tls::TlsListener::new(listener, tls.acceptor()?)?;
                    tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await })
                }
                None => tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await }),
            };
            (Some(server), Some(in_process))
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
    if let Some(h) = in_process {
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

/// How often the retention policy (`--retain-days`, `--retain-jobs`) is applied.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// The sweeper (lease expiry, timeouts, back-off dispatch), retention and the event writer.
async fn background_tasks(scheduler: Arc<Scheduler>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let writer = {
        let scheduler = scheduler.clone();
        let stop = stop.clone();
        tokio::spawn(async move { scheduler.write_events(stop).await })
    };
    let mut sweep = tokio::time::interval(Duration::from_millis(100));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Retention runs at start-up and then every minute.
    let mut retention = tokio::time::interval(RETENTION_EVERY);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            _ = retention.tick() => {
                scheduler.prune().await;
            }
        }
    }
    let _ = writer.await;
}

/// A channel to `service` served in this process over in-memory pipes, and the task serving it
/// (it ends when `stop` turns true).
fn in_process_channel(
    service: InterceptedService<TrainingServiceServer<grpc::clients::Clients>, auth::Guard>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (tonic::transport::Channel, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<tokio::io::DuplexStream>(16);
    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::io::Error>);
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = tonic::transport::Server::builder()
            .layer(trace::RequestSpanLayer)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stopped)
            .await
        {
            tracing::error!(error = %e, "the in-process gRPC server failed");
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://in-process.invalid").connect_with_connector_lazy(
        tower::service_fn(move |_: tonic::transport::Uri| {
            let tx = tx.clone();
            async move {
                let (client, server) = tokio::io::duplex(256 * 1024);
                tx.send(server).await.map_err(|_| std::io::Error::other("the scheduler is stopping"))?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(client))
            }
        }),
    );
    (channel, server)
}
