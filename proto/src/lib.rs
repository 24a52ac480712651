//! The `skippy.training.v1` protocol: generated messages, clients and servers, and the file
//! descriptor set for server reflection (so `grpcurl` works without `.proto` files); [`json`],
//! the one JSON form of its messages (REST, `--json`, the dashboard, `runs/`); [`trainer_names`],
//! what a trainer may call itself.

pub mod json;
pub mod trainer_names;

/// Version 1 of the protocol.
pub mod v1 {
    // Generated from the .proto comments, which write ids as `tr_<unix-seconds>_…`.
    #![allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]
    tonic::include_proto!("skippy.training.v1");

    /// The encoded `FileDescriptorSet` of `skippy/training/v1/training.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("skippy_training_v1_descriptor");
}

/// How every skippy server stops: gracefully on the first SIGINT or SIGTERM (Ctrl+C elsewhere),
/// at once on the second. The scheduler, the gateway and the trainer all use this.
pub mod shutdown {
    /// SIGINT and SIGTERM (Ctrl+C elsewhere), listened for from creation on.
    pub struct Signals {
        #[cfg(unix)]
        interrupt: tokio::signal::unix::Signal,
        #[cfg(unix)]
        terminate: tokio::signal::unix::Signal,
    }

    impl Signals {
        /// Starts listening (inside a Tokio runtime).
        pub fn new() -> std::io::Result<Signals> {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
            }
            #[cfg(not(unix))]
            Ok(Signals {})
        }

        /// Waits for the next signal.
        pub async fn recv(&mut self) {
            #[cfg(unix)]
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Resolves on the first signal; from then on a second one prints `on_second` and exits the
    /// process at once with status 130. Without signal handlers (an error creating them, said on
    /// stderr) it waits for Ctrl+C.
    pub async fn requested(on_second: &'static str) {
        let mut signals = match Signals::new() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("cannot listen for SIGTERM ({e}); stopping on Ctrl+C only");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        signals.recv().await;
        tokio::spawn(async move {
            signals.recv().await;
            eprintln!("{on_second}");
            std::process::exit(130);
        });
    }
}

/// How clients (the CLI, trainers, the standalone gateway) reach a scheduler over TLS.
pub mod tls {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

    /// `endpoint` as given for `http://` URLs; for `https://` ones, with TLS that trusts the
    /// system's roots and, when given, the PEM certificate(s) in `ca_pem` (a private CA or a
    /// self-signed scheduler certificate).
    pub fn secure(endpoint: Endpoint, ca_pem: Option<&[u8]>) -> Result<Endpoint, tonic::transport::Error> {
        if endpoint.uri().scheme_str() != Some("https") {
            return Ok(endpoint);
        }
        let mut config = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = ca_pem {
            config = config.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint.tls_config(config)
    }
}
