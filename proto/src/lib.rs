//! The `skippy.training.v1` protocol: generated messages, clients and servers, and the file
//! descriptor set for server reflection (so `grpcurl` works without `.proto` files).

/// Version 1 of the protocol.
pub mod v1 {
    // Generated from the .proto comments, which write ids as `tr_<unix-seconds>_…`.
    #![allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]
    tonic::include_proto!("skippy.training.v1");

    /// The encoded `FileDescriptorSet` of `skippy/training/v1/training.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("skippy_training_v1_descriptor");
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
