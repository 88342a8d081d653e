//! HTTPS: rustls with ALPN (`h2`, `http/1.1`) in front of the same router.
//!
//! axum::serve only speaks plain TCP, so TLS has its own accept loop. Handshakes run in the
//! connection's task, bounded in time, so a slow or non-TLS client never holds up the loop.

use crate::config::TlsConfig;
use crate::errors::Error;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves until `stopped` changes, then lets open connections finish for up to `grace`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // HTTP/2's default 64 KiB stream window caps a blob download at one window per round trip;
    // BDP-based windows let large blobs stream at TLS speed.
    builder
        .http2()
        .adaptive_window(true)
        .max_frame_size(1 << 20);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, app) = (acceptor.clone(), builder.clone(), app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("grace period over; dropping open TLS connections");
    }
}
