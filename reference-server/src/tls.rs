//! HTTPS: rustls with ALPN (`h2`, `http/1.1`) in front of the same router. The accept loop
//! (shared with plain HTTP) is in `connections`; handshakes run in each connection's task,
//! bounded by the header-read timeout, so a slow or non-TLS client never holds up the loop.

use crate::config::TlsConfig;
use crate::errors::Error;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

fn pem_error(what: &str, path: &Path, e: rustls_pki_types::pem::Error) -> Error {
    let why = match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!("no {what} found"),
        rustls_pki_types::pem::Error::Io(e) => e.to_string(),
        other => format!("not a valid PEM file ({other})"),
    };
    Error::Config(format!("TLS {what} file {}: {why}", path.display()))
}

/// Loads the PEM chain and key and builds the acceptor; every failure names the file.
pub(crate) fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert)
        .map_err(|e| pem_error("certificate", &cfg.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error("certificate", &cfg.cert, e))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "TLS certificate file {}: no certificate found",
            cfg.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key)
        .map_err(|e| pem_error("private key", &cfg.key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::Config(format!(
                "TLS key {} does not fit certificate {}: {e}",
                cfg.key.display(),
                cfg.cert.display()
            ))
        })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
