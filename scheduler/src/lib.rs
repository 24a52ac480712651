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
//! - [`experiment`]: an experiment's record, ids and the plan of its runs.
//! - [`experiment_report`]: an experiment's report from its runs' files, once they have ended.
//! - [`completion`]: progress, checkpoints, artifacts and the end of an attempt.
//! - [`events`]: per-job event logs and live watchers.
//! - [`feed`]: every job's changes in one order, for clients that follow many jobs.
//! - [`telemetry`]: Prometheus metrics on `/metrics`, a listener of their own.
//! - [`grpc`]: the services, conversions and the error mapping.
//! - [`tls`]: optional TLS for both servers.
//! - [`http_server`]: the HTTP server (timeouts, a connection cap), here and in `skippy-gateway`.
//! - [`gateway`]: the REST gateway, a gRPC client of the services above.

pub mod auth;
pub mod budget;
pub mod completion;
pub mod config;
pub mod events;
pub mod experiment;
pub mod experiment_report;
pub mod feed;
pub mod finished;
pub mod finished_index;
pub mod gateway;
pub mod grpc;
pub mod http_server;
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

/// Largest message accepted from trainers: checkpoints and artifacts are uploaded in one message
/// each (`UploadCheckpoint`, `UploadArtifact`). Also the largest answer sent (results, job lists).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Largest message accepted from clients: what they send is a job spec or an id (the REST
/// gateway's bodies are at most 64 KiB).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 1 << 20;

/// Concurrent calls one gRPC connection may have in progress (more wait their turn): the
/// standalone gateway multiplexes its clients' calls over one connection, a trainer its job slots.
pub const GRPC_CALLS_PER_CONNECTION: usize = 256;

/// Concurrent HTTP/2 streams one gRPC connection may have open (watch streams last).
pub const GRPC_STREAMS_PER_CONNECTION: u32 = 1024;

/// Longest a gRPC call may take to answer (a stream, its first message): long polls last at most
/// `leases::MAX_WAIT`, uploads are single messages.
pub const GRPC_CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Pings on a quiet gRPC connection, and how long an unanswered one may take before the
/// connection is closed (a peer that vanished without closing it).
const GRPC_KEEPALIVE: Duration = Duration::from_secs(20);

/// The sockets the scheduler serves on, bound by the caller (tests bind port 0).
#[derive(Debug)]
pub struct Listeners {
    /// gRPC: clients, trainers, health, reflection.
    pub grpc: TcpListener,
    /// HTTP: the REST gateway, the dashboard, `/healthz` (none: not served).
    pub http: Option<TcpListener>,
    /// Prometheus `/metrics` (none: not served).
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// gRPC only.
    pub fn grpc(grpc: TcpListener) -> Listeners {
        Listeners { grpc, http: None, metrics: None }
    }
}

/// Runs the scheduler on `listeners` until `shutdown` resolves, then drains: health turns
/// NOT_SERVING (and `/healthz` answers 503 draining while gRPC calls in flight finish), waiting
/// trainers are released, events and manifests are flushed.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Listeners { grpc, http, metrics } = listeners;
    let mut bound = vec![grpc.local_addr()?];
    bound.extend(http.as_ref().map(|h| h.local_addr()).transpose()?);
    let auth = auth::Auth::from_config(&config, &bound)?;
    if let Some(token) = &config.metrics_token {
        auth::check_strength("SKIPPY_METRICS_TOKEN", token)?;
    }
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
    let metrics_addr = metrics.as_ref().map(|m| m.local_addr()).transpose()?;
    let shown = |addr: Option<std::net::SocketAddr>| addr.map_or("off".to_string(), |a| a.to_string());
    tracing::info!(
        jobs = held + finished,
        finished,
        replayed = recovered.replayed,
        quarantined = recovered.quarantined.len(),
        grpc = %bound[0],
        http = %shown(bound.get(1).copied()),
        metrics = %shown(metrics_addr),
        authentication = if auth.enabled() { "bearer tokens" } else { "NONE (--insecure-no-auth)" },
        tls = tls.is_some(),
        "scheduler started"
    );
    for (addr, what) in bound.iter().zip(["gRPC", "HTTP"]) {
        http_server::warn_if_plaintext_remote(what, *addr, tls.is_some());
    }
    if let Some(addr) = metrics_addr
        && scheduler.config.metrics_token.is_some()
    {
        http_server::warn_if_plaintext_remote("/metrics (with its token)", addr, false);
    }

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
        .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let clients = InterceptedService::new(clients, auth.guard(auth::Role::Client));
    let trainers = TrainerServiceServer::new(grpc::trainers::Trainers::new(scheduler.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let trainers = InterceptedService::new(trainers, auth.guard(auth::Role::Trainer));

    let mut builder = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(GRPC_CALLS_PER_CONNECTION)
        .max_concurrent_streams(GRPC_STREAMS_PER_CONNECTION)
        .timeout(GRPC_CALL_TIMEOUT)
        .http2_keepalive_interval(Some(GRPC_KEEPALIVE))
        .http2_keepalive_timeout(Some(GRPC_KEEPALIVE));
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
            turned_true(stop_rx.clone()),
        );

    let acceptor = tls.as_ref().map(tls::TlsFiles::acceptor).transpose()?;
    let limits = scheduler.config.http_limits.clone();
    // The HTTP port outlives the gRPC drain, answering `/healthz` with 503 draining meanwhile.
    let (http_stop_tx, http_stop_rx) = tokio::sync::watch::channel(false);
    let (http_server, in_process) = match http {
        None => (None, None),
        Some(listener) => {
            // The REST gateway is a client of the same service, over an in-process connection
            // (no port, no certificate name to match, the same authentication).
            let (channel, in_process) = in_process_channel(clients, stop_rx.clone());
            let app = gateway::router_with_shutdown(
                TrainingServiceClient::new(channel),
                stop_rx.clone(),
                gateway::caller::CallerCheck::Local(auth.clone()),
            );
            let server = http_server::serve(listener, acceptor, app, limits.clone(), turned_true(http_stop_rx));
            (Some(tokio::spawn(server)), Some(in_process))
        }
    };
    let metrics_server = metrics.map(|listener| {
        let app = telemetry::router(scheduler.clone(), scheduler.config.metrics_token.as_ref());
        tokio::spawn(http_server::serve(listener, None, app, limits, turned_true(stop_rx.clone())))
    });

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

    let served = grpc_server.await;
    stopper.abort();
    let _ = http_stop_tx.send(true);
    for server in [http_server, metrics_server].into_iter().flatten() {
        let _ = server.await;
    }
    if let Some(h) = in_process {
        let _ = h.await;
    }
    served?;
    let _ = background.await;
    // Events and progress in memory go to disk before the process ends.
    scheduler.flush_events().await;
    // Manifests are written on every state change; running jobs also carry progress.
    let ids: Vec<String> = scheduler.lock().jobs.tally().running().map(str::to_string).collect();
    for id in ids {
        let _ = scheduler.persist(&id).await;
    }
    scheduler.write_finished_index().await;
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

/// Resolves once `rx` turns true (or its sender is gone).
async fn turned_true(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
