//! Optional TLS from certificate files (`--tls-cert`, `--tls-key`, PEM): tonic's rustls for
//! the gRPC server, and a rustls acceptor for HTTP, whose handshakes [`crate::http_server`] runs
//! in each connection's own task, within its header timeout.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Identity, ServerTlsConfig};

/// A server certificate chain and its key, read and checked at start-up.
#[derive(Clone)]
pub struct TlsFiles {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsFiles(<certificate and key>)")
    }
}

impl TlsFiles {
    /// Reads both files; says which one is missing or unreadable.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<TlsFiles> {
        let cert_pem =
            std::fs::read(cert).with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading the TLS key {}", key.display()))?;
        let files = TlsFiles { cert_pem, key_pem };
        files.acceptor().with_context(|| format!("TLS certificate {} with key {}", cert.display(), key.display()))?;
        Ok(files)
    }

    /// The gRPC server's TLS settings.
    pub fn grpc(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }

    /// A rustls acceptor for the HTTP server (HTTP/1.1 and HTTP/2).
    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&self.cert_pem).collect::<Result<_, _>>().context("no PEM certificate")?;
        anyhow::ensure!(!certs.is_empty(), "the certificate file holds no PEM certificate");
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).context("no PEM private key")?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
