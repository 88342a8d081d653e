//! `oci-reference-server`: a complete OCI Distribution Specification registry.
//!
//! Start it in-process with [`spawn`] (tests, the harness's embedded target) or run the binary.

pub mod auth;
pub mod blobs;
pub mod catalog;
pub mod config;
mod connections;
pub mod digest;
pub mod errors;
pub mod glob;
pub mod index;
pub mod limits;
pub mod maintenance;
pub mod manifests;
pub mod referrers;
pub mod registry;
pub mod routes;
pub mod storage;
pub mod tags;
mod tls;
pub mod uploads;

pub use auth::{AccessRule, Action, AuthConfig, AuthMode, Htpasswd};
pub use config::{Config, StorageConfig, TlsConfig};
pub use errors::Error;
pub use limits::Limits;
pub use registry::Registry;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use errors::RegistryError;
use routes::Route;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::{FsStorage, MemoryStorage, Storage};

/// How long shutdown waits for in-flight requests before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Builds a response; header values are ours (ASCII), an invalid one is dropped, not a panic.
pub(crate) fn respond(
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Body,
) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.append(k, v);
        }
    }
    r
}

/// The router: one catch-all handler; [`routes::parse_path`] does the matching.
pub fn app(registry: Arc<Registry>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(registry)
}

/// Most request bytes read and discarded after an answer that did not need the body.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads and discards what is left of a request body (bounded in bytes and time). Answering
/// before the client finished sending (an error, a mount, a disabled feature) and then closing
/// would reset the connection under the client's feet: it would see a broken pipe instead of
/// our answer.
pub(crate) async fn drain(body: Body) {
    use futures_util::StreamExt;
    if axum::body::HttpBody::is_end_stream(&body) {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIME, async move {
        let mut s = body.into_data_stream();
        let mut n = 0u64;
        while let Some(Ok(chunk)) = s.next().await {
            n += chunk.len() as u64;
            if n > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

/// A request body that fails once no piece of it arrived for `limit`: a client that stops
/// sending mid-body cannot hold what its request holds (a session lock, a manifest buffer).
/// The timer is re-armed at most once per `limit`, not per frame, so fast uploads pay nothing.
struct TimedBody {
    inner: axum::body::BodyDataStream,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    last: tokio::time::Instant,
    limit: Duration,
    done: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl futures_util::Stream for TimedBody {
    type Item = Result<bytes::Bytes, BoxError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        if let Poll::Ready(item) = futures_util::StreamExt::poll_next_unpin(&mut this.inner, cx) {
            this.last = tokio::time::Instant::now();
            return Poll::Ready(item.map(|r| r.map_err(BoxError::from)));
        }
        loop {
            if std::future::Future::poll(this.sleep.as_mut(), cx).is_pending() {
                return Poll::Pending;
            }
            let due = this.last + this.limit;
            if tokio::time::Instant::now() >= due {
                this.done = true;
                return Poll::Ready(Some(Err(BoxError::from(format!(
                    "no request body data for {} s",
                    this.limit.as_secs()
                )))));
            }
            this.sleep.as_mut().reset(due);
        }
    }
}

fn timed_body(body: Body, limit: Duration) -> Body {
    if axum::body::HttpBody::is_end_stream(&body) {
        return body;
    }
    let now = tokio::time::Instant::now();
    Body::from_stream(TimedBody {
        inner: body.into_data_stream(),
        sleep: Box::pin(tokio::time::sleep_until(now + limit)),
        last: now,
        limit,
        done: false,
    })
}

async fn handle(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = timed_body(body, reg.config.limits.body_timeout);
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(String::from);
    let trace = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        (
            parts.method.clone(),
            parts.uri.path().to_string(),
            routes::loggable_query(parts.uri.query()),
        )
    });
    let mut body = Some(body);
    let mut resp = match dispatch(&reg, &parts, &mut body).await {
        Ok(r) => r,
        Err(e) => e.render(reg.config.error_bodies),
    };
    if !reg.config.digest_header {
        resp.headers_mut().remove("docker-content-digest");
    }
    if let (true, Some(host)) = (reg.config.absolute_locations, host) {
        let scheme = if reg.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let h = resp.headers_mut();
        let absolute = h
            .get(axum::http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .filter(|l| l.starts_with('/'))
            .and_then(|l| HeaderValue::from_str(&format!("{scheme}://{host}{l}")).ok());
        if let Some(v) = absolute {
            h.insert(axum::http::header::LOCATION, v);
        }
    }
    if let Some(w) = reg.config.warning.as_deref() {
        if let Ok(v) = HeaderValue::from_str(w) {
            resp.headers_mut().insert("warning", v);
        }
    }
    if let Some(rest) = body {
        drain(rest).await;
    }
    if let Some((method, path, query)) = trace {
        let query = query.unwrap_or_default();
        tracing::debug!(%method, %path, %query, status = resp.status().as_u16(), "request");
    } else if resp.status().is_server_error() {
        tracing::warn!(status = resp.status().as_u16(), "request failed");
    }
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// `body` is taken by the handler that consumes it; whatever is left is drained by `handle`.
async fn dispatch(
    reg: &Registry,
    parts: &axum::http::request::Parts,
    body: &mut Option<Body>,
) -> Result<Response, RegistryError> {
    if let Some(n) = reg.config.too_many_requests_every {
        let seen = reg
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if seen % n == 0 {
            let e = RegistryError::new(
                StatusCode::TOO_MANY_REQUESTS,
                errors::Code::TooManyRequests,
                "rate limit reached, retry later",
            );
            if reg.config.defects.contains(&config::Defect::NoRetryAfter) {
                return Err(e);
            }
            // Both of RFC 9110's forms, by turns, so clients are seen handling each.
            let retry_after = if (seen / n) % 2 == 1 {
                "1".to_string()
            } else {
                httpdate::fmt_http_date(
                    std::time::SystemTime::now() + std::time::Duration::from_secs(2),
                )
            };
            return Err(e.with_header("retry-after", retry_after));
        }
    }
    if let Some(a) = &reg.auth {
        // The realm lives outside `/v2/`, which `parse_path` would answer with 404.
        if a.config.mode == AuthMode::Token && parts.uri.path() == "/token" {
            return a.token_endpoint(parts, body).await;
        }
    }
    let route = routes::parse_path(parts.uri.path())?;
    if let (Some(n), Some(name)) = (reg.config.name_components, route.name()) {
        // A valid name this registry cannot hold: it does not exist, as such registries answer.
        if name.split('/').count() != n {
            return Err(crate::registry::name_unknown(name));
        }
    }
    let m = &parts.method;
    let caller = match &reg.auth {
        Some(a) => Some(
            a.check(
                &parts.headers,
                &parts.uri,
                auth::need(&route, m),
                auth::peer_of(parts),
            )
            .await?,
        ),
        None => None,
    };
    // What the caller may see beyond the request's own repository (catalog, mount sources).
    let may_see = |repo: &str| match (&reg.auth, &caller) {
        (Some(a), Some(c)) => a.may_see(c, repo),
        _ => true,
    };
    let may_mount_from = |repo: &str| match (&reg.auth, &caller) {
        (Some(a), Some(c)) => a.may_mount_from(c, repo),
        _ => true,
    };
    let query = routes::parse_query(parts.uri.query());
    let head = *m == Method::HEAD;
    let is_get = *m == Method::GET || head;
    // HEAD answers carry the headers GET would, `Content-Length` included, and no body.
    let head_of = |mut r: Response| {
        if head {
            if let Some(n) = axum::body::HttpBody::size_hint(r.body()).exact() {
                r.headers_mut()
                    .insert(axum::http::header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            *r.body_mut() = Body::empty();
        }
        r
    };
    let json = |v: &str| {
        head_of(respond(
            StatusCode::OK,
            vec![("content-type", "application/json".into())],
            Body::from(v.to_string()),
        ))
    };
    match &route {
        Route::Base if is_get => Ok(json("{}")),
        Route::Catalog
            if !reg.config.catalog || reg.config.has_defect(config::Defect::Catalog404) =>
        {
            Err(catalog::disabled())
        }
        Route::Catalog if is_get => Ok(head_of(catalog::list(reg, &query, &may_see).await?)),
        Route::Discover { .. } if !reg.config.discovery => Err(RegistryError::not_found(
            errors::Code::Unsupported,
            "extension discovery is disabled on this registry",
        )),
        Route::Discover { name } if is_get => Ok(json(&catalog::discover(reg, name.as_deref()))),
        Route::Manifest { name, reference } if is_get => {
            manifests::get(reg, name, reference, head).await
        }
        Route::Manifest { name, reference } if *m == Method::PUT => {
            manifests::put(reg, name, reference, &query, &parts.headers, body).await
        }
        Route::Manifest { name, reference } if *m == Method::DELETE => {
            manifests::delete(reg, name, reference).await
        }
        Route::Blob { name, digest } if is_get => {
            blobs::get(reg, name, digest, &parts.headers, head).await
        }
        Route::Blob { name, digest } if *m == Method::DELETE => {
            blobs::delete(reg, name, digest).await
        }
        Route::UploadStart { name } if *m == Method::POST => {
            uploads::start(reg, name, &query, body, &may_mount_from, &may_see).await
        }
        Route::Upload { name, id } if *m == Method::GET => uploads::status(reg, name, id).await,
        Route::Upload { name, id } if *m == Method::PATCH => {
            uploads::patch(reg, name, id, &parts.headers, body).await
        }
        Route::Upload { name, id } if *m == Method::PUT => {
            uploads::finish(reg, name, id, &query, &parts.headers, body).await
        }
        Route::Upload { name, id } if *m == Method::DELETE => uploads::cancel(reg, name, id).await,
        Route::Tags { name } if is_get => Ok(head_of(tags::list(reg, name, &query).await?)),
        Route::Referrers { name, digest } if is_get => {
            Ok(head_of(referrers::list(reg, name, digest, &query).await?))
        }
        other => Err(RegistryError::unsupported(format!(
            "method {m} not allowed on this endpoint"
        ))
        .with_header("allow", other.allowed_methods())),
    }
}

/// A server started by [`spawn`]. Dropping it stops the server too (without waiting).
pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
    registry: Arc<Registry>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` with TLS), no trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The shared state (for inspection in tests).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Stops accepting, lets in-flight requests finish (up to a grace period), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

/// Opens the configured backend (importing repository documents of earlier versions).
pub async fn open_registry(mut config: Config) -> Result<Arc<Registry>, Error> {
    let (storage, fs): (Arc<dyn Storage>, _) = match &config.storage {
        StorageConfig::S3(s3) => {
            let failed = |source| Error::Storage {
                path: s3.url().into(),
                source,
            };
            let st = storage::S3Storage::open(s3).map_err(failed)?;
            st.probe().await.map_err(failed)?;
            // Parts of a multipart upload have a minimum size: tell clients (they may still
            // send smaller chunks; the backend keeps them until a part is full).
            config.chunk_min_length.get_or_insert(storage::s3::MIN_PART);
            // Online garbage collection guards the window between "blob stored" and "blob
            // linked" with a lock only this process sees; another replica may be inside that
            // window. So it is off on shared storage: run `gc` while the replicas are stopped.
            config.limits.gc_interval = None;
            (Arc::new(st), None)
        }
        StorageConfig::Memory => (Arc::new(MemoryStorage::new()), None),
        StorageConfig::Filesystem(p) => {
            let fs = Arc::new(FsStorage::open(p).await.map_err(|source| Error::Storage {
                path: p.clone(),
                source,
            })?);
            (fs.clone(), Some((fs, p.clone())))
        }
    };
    let reg = Registry::load(config, storage)
        .await
        .map_err(|source| Error::Storage {
            path: "memory".into(),
            source,
        })?;
    if let Some((fs, path)) = fs {
        maintenance::import_documents(&reg, &fs)
            .await
            .map_err(|source| Error::Storage { path, source })?;
    }
    Ok(Arc::new(reg))
}

/// Binds `config.listen`, starts serving on the current tokio runtime and returns at once.
pub async fn spawn(config: Config) -> Result<RunningServer, Error> {
    let listen = config.listen;
    // Certificates are checked before anything else so a bad path fails fast and clearly.
    let acceptor = match &config.tls {
        Some(t) => Some(tls::acceptor(t)?),
        None => None,
    };
    let tls = acceptor.is_some();
    let registry = open_registry(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let app = app(registry.clone());
    let purge_reg = registry.clone();
    let mut purge_stop = stop.subscribe();
    let limits = registry.config.limits.clone();
    let task = tokio::spawn(async move {
        let purger = tokio::spawn(async move {
            let limits = purge_reg.config.limits.clone();
            // Expired sessions are looked for a few times per expiry period.
            let every =
                (limits.upload_expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
            let mut expire = tokio::time::interval(every);
            let mut collect = tokio::time::interval(
                limits
                    .gc_interval
                    .unwrap_or(Duration::from_secs(10 * 365 * 86400)),
            );
            collect.tick().await; // the first tick is immediate: no collection at start-up
            loop {
                tokio::select! {
                    _ = expire.tick() => {
                        if let Err(e) = purge_reg.purge_stale_uploads(limits.upload_expiry.as_secs()).await {
                            tracing::warn!(error = %e, "purging stale uploads failed");
                        }
                    }
                    _ = collect.tick(), if limits.gc_interval.is_some() => {
                        match purge_reg.collect_garbage(false).await {
                            Ok(r) => tracing::info!(blobs = r.blobs.len(), bytes = r.bytes, "garbage collected"),
                            Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
                        }
                    }
                    _ = purge_stop.changed() => break,
                }
            }
        });
        connections::serve(listener, acceptor, app, stopped, SHUTDOWN_GRACE, limits).await;
        purger.abort();
    });
    Ok(RunningServer {
        addr,
        tls,
        registry,
        stop: Some(stop),
        task: Some(task),
    })
}
