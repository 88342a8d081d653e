//! The accept loop (plain HTTP and TLS): connection cap, header-read and idle timeouts, the
//! client address for the handlers, graceful shutdown.
//!
//! hyper enforces the header-read timeout; the idle timeout and the cap are ours because hyper
//! has none that covers HTTP/2 as well.

use crate::limits::Limits;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Connections over the cap still get their refusal written, this many at a time; beyond, they
/// are closed unanswered (a flood must not cost more than the refusals themselves).
const MAX_REFUSALS: usize = 64;
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer over the cap: 503 (the server, not this client, is out of room) with the spec's
/// retryable code.
fn refusal() -> Vec<u8> {
    let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"too many open connections; retry in a moment"}]}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves until `stopped` changes, then lets open connections finish for up to `grace`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: axum::Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
    limits: Limits,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // HTTP/2's default 64 KiB stream window caps a blob download at one window per round trip;
    // BDP-based windows let large blobs stream at full speed.
    builder
        .http2()
        .timer(TokioTimer::new())
        .adaptive_window(true)
        .max_frame_size(1 << 20);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSALS));
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
        let Ok(slot) = open.clone().try_acquire_owned() else {
            if let Ok(r) = refusing.clone().try_acquire_owned() {
                let acceptor = acceptor.clone();
                let handshake = limits.header_read_timeout;
                tokio::spawn(async move {
                    refuse(tcp, acceptor, handshake).await;
                    drop(r);
                });
            }
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: at the connection cap");
            continue;
        };
        let (acceptor, builder, app) = (acceptor.clone(), builder.clone(), app.clone());
        let watcher = graceful.watcher();
        let (handshake, idle) = (limits.header_read_timeout, limits.idle_timeout);
        tokio::spawn(async move {
            let _slot = slot;
            let last = Arc::new(AtomicU64::new(0));
            let clock = tokio::time::Instant::now();
            let tcp = Watched {
                io: tcp,
                last: last.clone(),
                clock,
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut app = app.clone();
                async move {
                    tower_service::Service::call(&mut app, req.map(axum::body::Body::new)).await
                }
            });
            let served = async {
                match acceptor {
                    Some(acceptor) => {
                        let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await
                        {
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
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    None => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                }
            };
            tokio::pin!(served);
            let check = (idle / 4).max(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = &mut served => break,
                    _ = tokio::time::sleep(check) => {
                        let since = Duration::from_millis(last.load(Ordering::Relaxed));
                        if clock.elapsed().saturating_sub(since) >= idle {
                            tracing::debug!(%peer, "closing idle connection");
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("grace period over; dropping open connections");
    }
}

/// Over the cap: a plain answer saying so (after the handshake, over TLS), then close.
async fn refuse(tcp: TcpStream, acceptor: Option<TlsAcceptor>, handshake: Duration) {
    let write = async {
        match acceptor {
            None => {
                let mut tcp = tcp;
                let _ = tcp.write_all(&refusal()).await;
                let _ = tcp.shutdown().await;
            }
            Some(a) => {
                if let Ok(Ok(mut tls)) = tokio::time::timeout(handshake, a.accept(tcp)).await {
                    let _ = tls.write_all(&refusal()).await;
                    let _ = tls.shutdown().await;
                }
            }
        }
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT + handshake, write).await;
}

/// A socket that records when bytes last moved (milliseconds since `clock`), for the idle
/// timeout.
struct Watched {
    io: TcpStream,
    last: Arc<AtomicU64>,
    clock: tokio::time::Instant,
}

impl Watched {
    fn touch(&self) {
        self.last
            .store(self.clock.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
