//! TLS from certificate files: the scheduler serves gRPC and HTTP over TLS, clients that trust
//! the certificate get through (with their token), and plaintext gets nothing.

use std::sync::Arc;

use skippy_proto::v1 as pb;
use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;
use tonic::transport::Endpoint;

use crate::support::*;

const ADMIN: &str = "tls-test-admin-secret";

struct Certificate {
    dir: tempfile::TempDir,
    pem: String,
}

fn self_signed() -> Certificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = generated.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), generated.signing_key.serialize_pem()).unwrap();
    Certificate { dir, pem }
}

/// One HTTP/1.1 request over TLS, trusting `ca_pem`; the whole response.
async fn https(addr: &str, ca_pem: &str, request: &str) -> std::io::Result<String> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn grpc_and_http_are_served_over_tls_and_plaintext_gets_nothing() {
    let cert = self_signed();
    let runs = tempfile::tempdir().unwrap();
    let s = start_with(runs.path(), |c| {
        c.insecure_no_auth = false;
        c.admin_secret = Some(ADMIN.parse().unwrap());
        c.trainer_token = Some("tls-test-trainer-token".parse().unwrap());
        c.tls_cert = Some(cert.dir.path().join("cert.pem"));
        c.tls_key = Some(cert.dir.path().join("key.pem"));
    })
    .await;
    let grpc_addr = s.grpc.trim_start_matches("http://").to_string();
    let http_addr = s.http.trim_start_matches("http://").to_string();

    // gRPC over TLS, trusting the certificate, with the token.
    let endpoint =
        Endpoint::from_shared(format!("https://localhost:{}", grpc_addr.rsplit(':').next().unwrap())).unwrap();
    let endpoint = skippy_proto::tls::secure(endpoint, Some(cert.pem.as_bytes())).unwrap();
    let mut client = TrainingServiceClient::new(endpoint.connect().await.expect("a TLS connection"));
    let mut submit = tonic::Request::new(pb::SubmitJobRequest {
        spec: Some(pb::JobSpec { symbols: vec!["SYN-EDGE".into()], total_steps: 4096, ..Default::default() }),
    });
    submit.metadata_mut().insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let job = client.submit_job(submit).await.unwrap().into_inner().job.unwrap();

    // Plaintext gRPC on the same port: no answer.
    let plain = Endpoint::from_shared(s.grpc.clone()).unwrap().connect().await;
    if let Ok(channel) = plain {
        let r = TrainingServiceClient::new(channel).list_jobs(pb::ListJobsRequest::default()).await;
        assert!(r.is_err(), "plaintext gRPC was answered: {r:?}");
    }

    // HTTPS: health, and the REST routes with the token (through the in-process gateway).
    let health = https(&http_addr, &cert.pem, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
    let status = format!(
        "GET /api/training/jobs/{}/status HTTP/1.1\r\nHost: localhost\r\nauthorization: Bearer {ADMIN}\r\n\
         Connection: close\r\n\r\n",
        job.id
    );
    let response = https(&http_addr, &cert.pem, &status).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.contains(&job.id), "{response}");

    // Plaintext HTTP on the HTTPS port: no HTTP answer.
    let plain = http().get(format!("{}/healthz", s.http)).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()), "plaintext HTTP was served");

    // A client that does not trust the certificate is refused at the handshake.
    let other = self_signed();
    assert!(https(&http_addr, &other.pem, "GET /healthz HTTP/1.1\r\n\r\n").await.is_err());
    s.stop().await;
}

#[tokio::test]
async fn a_missing_certificate_file_is_named_at_start_up() {
    let runs = tempfile::tempdir().unwrap();
    let s = start_with(runs.path(), |c| {
        c.tls_cert = Some("/nonexistent/cert.pem".into());
        c.tls_key = Some("/nonexistent/key.pem".into());
    })
    .await;
    let err = tokio::time::timeout(STEP, s.task).await.unwrap().unwrap().unwrap_err();
    assert!(format!("{err:#}").contains("reading the TLS certificate /nonexistent/cert.pem"), "{err:#}");
}
