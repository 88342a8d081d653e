//! The one HTTP client of the harness: bounded in time and size, recording a transcript of
//! every exchange with credentials redacted. The token flow and what may receive credentials
//! are in [`auth`]; deliberately malformed requests go over [`raw`] sockets; [`tls`] holds the
//! certificate checks both share.

pub mod auth;
mod raw;
pub mod tls;

pub use auth::{Challenge, Credentials, RequestAuth};
pub use tls::TlsOptions;

use auth::{basic_placeholder, redact_header};
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tls::tls_config;

/// Bodies longer than this are shown truncated in transcripts (they are still checked whole).
const PREVIEW_BYTES: usize = 2048;

/// Redirects followed for one request before it is a redirect loop.
const MAX_REDIRECTS: usize = 10;

/// Response bodies are kept whole for the checks up to this size (the cases' largest fixture is
/// 6 MiB). A larger body is hashed as it streams in and only its first bytes are kept, with its
/// size and digests, so what the harness holds stays bounded whatever a registry sends; raw-mode
/// answers (error answers to malformed requests) may not be larger.
pub const KEPT_BODY_BYTES: usize = 8 << 20;

/// Request bodies up to this size are kept in transcripts; the reports' curl lines show them
/// inline when they are UTF-8 text.
pub const CURL_INLINE_BYTES: usize = 4096;

/// Header values longer than this are cut in transcripts (checks see them whole).
const TRANSCRIPT_HEADER_BYTES: usize = 8 << 10;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL `{0}`: {1}")]
    Url(String, String),
    #[error("cannot build HTTP client: {0}")]
    Client(String),
    #[error("CA certificate file {0}: {1}")]
    CaCert(String, String),
}

/// Why an exchange has no (complete) answer, for callers that act on the kind of failure rather
/// than on [`Exchange::error`]'s text (which says the same for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request, or the reading of its answer, ran out of time.
    Timeout,
    /// No connection: refused, unreachable, or the name did not resolve.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The connection failed after it was made but before any answer arrived.
    NoAnswer,
    /// The answer started, but the connection broke before it ended.
    Broken,
    /// The answer was larger than the run allows.
    TooLarge,
    /// Still redirected after the most redirects the harness follows.
    RedirectLoop,
    /// Not sent, or cut short, because the run stopped early (see [`RUN_STOPPED`]).
    Stopped,
    /// The harness could not send the request as given (invalid method, URL or server name).
    NotSent,
    /// The answer was not well-formed HTTP (raw mode).
    Malformed,
}

/// A failed exchange: its kind and the transcript's sentence for it.
type Failed = (Failure, String);

/// Starts every error of a request the harness did not send, or cut short, because the run
/// stopped early (its deadline passed, or the registry stopped answering).
pub const RUN_STOPPED: &str = "the run stopped early";

/// The limits of a whole run, shared by every clone of its [`Http`]: an end time, and how many
/// requests in a row may time out before the registry counts as gone. Once either trips, no
/// further request is sent.
#[derive(Debug, Default)]
struct RunLimits {
    deadline: Option<(Instant, Duration)>,
    /// 0: never stop for timeouts.
    stop_after_timeouts: u32,
    timeouts_in_a_row: AtomicU32,
    stopped: OnceLock<String>,
    /// Requests sent again after a 429, or a 503 with `Retry-After`.
    retried: AtomicU32,
    /// Every 429 met, judged by the spec's rules for it.
    too_many: crate::rate_limit::TooManyRequests,
}

/// Retries of one request after 429/503 before the run gives up on the registry.
const MAX_RETRIES: u32 = 5;
/// Without a run deadline, the longest `Retry-After` waited out.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The first wait after a 429 that names none (doubled for each retry of the same request).
const BACKOFF: Duration = Duration::from_secs(1);

/// How long a rate-limited answer asks the client to wait before sending the request again:
/// a 503 with a valid `Retry-After`, or any 429 (without a valid `Retry-After`, a doubling
/// back-off from [`BACKOFF`]: the registry still asked to slow down). None: not rate-limited.
pub fn retry_wait(ex: &Exchange, tries: u32) -> Option<Duration> {
    let asked = ex
        .header("Retry-After")
        .and_then(|v| crate::rate_limit::parse_retry_after(v, std::time::SystemTime::now()).ok());
    match ex.status {
        Some(429) => Some(asked.unwrap_or(BACKOFF * 2u32.saturating_pow(tries))),
        Some(503) => asked,
        _ => None,
    }
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: reqwest::Url,
    max_body: usize,
    /// Response bodies are kept whole up to this size ([`KEPT_BODY_BYTES`] unless set).
    kept_body: usize,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// Bearer tokens from the registry's token service by scope (`repository:NAME`, action), so
    /// only the first request needing a scope pays the 401 round trip.
    tokens: Arc<Mutex<HashMap<(String, String), String>>>,
    /// The run's TLS configuration with HTTP/1.1 as the only protocol, for raw requests.
    raw_tls: Arc<rustls::ClientConfig>,
    /// `--insecure`: the credentials may go to a plain-HTTP token realm of an HTTPS registry.
    allow_http_realm: bool,
    /// `--trust-origin`: origins besides the registry's that may receive the credentials.
    trusted_origins: Vec<reqwest::Url>,
    limits: Arc<RunLimits>,
    /// `--rate`: shared by every clone, so the cap holds for the whole run.
    pacer: Option<Arc<crate::rate_limit::Pacer>>,
    /// What the registry acknowledged creating, for `--cleanup`; shared by every clone.
    created: Arc<crate::cleanup::Ledger>,
    /// Asked for in every token request of the run's flow (the official suite's
    /// `OCI_AUTH_SCOPE`, for registries whose challenge scope is unusable).
    forced_scopes: Vec<String>,
}

/// A request about to be sent.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// Send over a plain TCP socket exactly as written (no Content-Length computed), for
    /// deliberately malformed requests that a well-behaved HTTP client refuses to produce.
    pub raw: bool,
    pub auth: RequestAuth,
}

/// One request and what came back (or why nothing did).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    #[serde(skip)]
    pub request_bytes: Option<Bytes>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    #[serde(skip)]
    pub body: Bytes,
    pub error: Option<String>,
    /// The kind of failure `error` describes, when the request got no complete answer.
    #[serde(skip)]
    pub failure: Option<Failure>,
    pub elapsed_ms: u64,
    /// What the harness did on its own account: redirects it followed, credentials it withheld.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The URL that gave the answer, after redirects.
    #[serde(skip)]
    pub answered_by: Option<reqwest::Url>,
    /// Size of the request body, when there is one.
    pub request_size: Option<u64>,
    /// Size and sha256 digest of the whole response body, even when `body` holds only its
    /// first [`KEPT_BODY_BYTES`] (or, in a transcript, its first bytes).
    pub response_size: Option<u64>,
    pub response_digest: Option<String>,
    /// The sha512 digest of a body too large to keep (a kept body is hashed when asked).
    #[serde(skip)]
    pub response_sha512: Option<String>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.response_headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// RFC 9110 list semantics: every header line, comma-split, trimmed.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.headers(name)
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
    /// The body as JSON; None for a body that is not, or was too large to keep.
    pub fn json(&self) -> Option<serde_json::Value> {
        if !self.body_complete() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
    /// Whether `body` holds the whole response body.
    pub fn body_complete(&self) -> bool {
        self.response_size
            .is_none_or(|n| n == self.body.len() as u64)
    }
    /// The size of the whole response body.
    pub fn body_size(&self) -> u64 {
        self.response_size.unwrap_or(self.body.len() as u64)
    }
    /// The digest of the whole response body (`sha256:…` or `sha512:…`), kept or not.
    pub fn body_digest(&self, algorithm: &str) -> String {
        if self.body_complete() {
            return crate::content::digest_of(algorithm, &self.body);
        }
        let streamed = match algorithm {
            "sha512" => self.response_sha512.clone(),
            _ => self.response_digest.clone(),
        };
        streamed.unwrap_or_default()
    }
    /// Whether the whole response body is `want`: byte for byte when it was kept, else by size
    /// and sha256 digest.
    pub fn body_is(&self, want: &[u8]) -> bool {
        if self.body_complete() {
            return self.body == want;
        }
        self.body_size() == want.len() as u64
            && self.response_digest.as_deref() == Some(&crate::content::digest_of("sha256", want))
    }
    /// What a transcript keeps of this exchange: the body's first bytes (its size and digest
    /// are recorded), the request body only when a curl line can show it, header values cut at
    /// a few KiB; bounded whatever the registry sent, so a run's memory does not grow with it.
    pub fn slimmed(mut self) -> Exchange {
        if self.body.len() > PREVIEW_BYTES {
            // A copy: a slice would keep the whole allocation alive.
            self.body = Bytes::copy_from_slice(&self.body[..PREVIEW_BYTES]);
        }
        if self
            .request_bytes
            .as_ref()
            .is_some_and(|b| b.len() > CURL_INLINE_BYTES)
        {
            self.request_bytes = None;
        }
        for (_, v) in &mut self.response_headers {
            if v.len() > TRANSCRIPT_HEADER_BYTES {
                let cut = (0..=TRANSCRIPT_HEADER_BYTES)
                    .rev()
                    .find(|i| v.is_char_boundary(*i))
                    .unwrap_or(0);
                *v = format!("{}… <{} bytes in all>", &v[..cut], v.len());
            }
        }
        self
    }
    /// The request, or the reading of its answer, ran out of time.
    pub fn timed_out(&self) -> bool {
        self.failure == Some(Failure::Timeout)
    }
}

impl Http {
    pub fn new(
        base: &str,
        timeout: Duration,
        max_body: usize,
        credentials: Option<Credentials>,
    ) -> Result<Http, HttpError> {
        Self::with_tls(base, timeout, max_body, credentials, TlsOptions::default())
    }

    pub fn with_tls(
        base: &str,
        timeout: Duration,
        max_body: usize,
        credentials: Option<Credentials>,
        tls: TlsOptions,
    ) -> Result<Http, HttpError> {
        let base = parse_base(base)?;
        let tls_config = tls_config(&tls)?;
        let mut raw_tls = tls_config.clone();
        raw_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(64)
            // Redirects are followed in `send_once`, which decides per hop who gets the
            // credentials: reqwest keeps Authorization when only the scheme changes (an https
            // registry redirecting to http on the same port) and never re-adds it on a hop back
            // to the registry.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oci-conformance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(Http {
            client,
            base,
            max_body,
            kept_body: KEPT_BODY_BYTES,
            credentials,
            timeout,
            tokens: Arc::default(),
            raw_tls: Arc::new(raw_tls),
            allow_http_realm: tls.insecure,
            trusted_origins: Vec::new(),
            limits: Arc::default(),
            pacer: None,
            created: Arc::default(),
            forced_scopes: Vec::new(),
        })
    }

    /// Keeps response bodies whole up to `bytes` instead of [`KEPT_BODY_BYTES`].
    pub fn with_kept_body(mut self, bytes: usize) -> Http {
        self.kept_body = bytes;
        self
    }

    /// Lets the credentials go to these origins too (a registry's public name in its Locations).
    pub fn with_trusted_origins(mut self, origins: Vec<reqwest::Url>) -> Http {
        self.trusted_origins = origins;
        self
    }

    /// Adds these scopes to every token request the run's own flow makes.
    pub fn with_forced_scopes(mut self, scopes: Vec<String>) -> Http {
        self.forced_scopes = scopes;
        self
    }

    /// Bounds the run: no request is sent after `deadline` (counted from now) has passed, nor
    /// after `stop_after_timeouts` requests in a row timed out (0: no such limit).
    pub fn with_run_limits(mut self, deadline: Option<Duration>, stop_after_timeouts: u32) -> Http {
        self.limits = Arc::new(RunLimits {
            deadline: deadline.map(|d| (Instant::now() + d, d)),
            stop_after_timeouts,
            ..RunLimits::default()
        });
        self
    }

    /// Starts no more than `per_second` requests in any second (`--rate`; None: no cap).
    pub fn with_rate(mut self, per_second: Option<f64>) -> Http {
        self.pacer = per_second.map(|r| Arc::new(crate::rate_limit::Pacer::new(r)));
        self
    }

    /// The tags, manifests and blobs the registry acknowledged creating through this client.
    pub fn created(&self) -> &crate::cleanup::Ledger {
        &self.created
    }

    /// How many 429 answers the run met, and what was wrong with them.
    pub fn too_many_requests(&self) -> (u32, Vec<String>) {
        self.limits.too_many.verdict()
    }

    /// Requests sent again because the registry answered 429, or 503 with `Retry-After`.
    pub fn retried(&self) -> u32 {
        self.limits.retried.load(Ordering::SeqCst)
    }

    /// Why the run stopped early, once it has.
    pub fn stopped(&self) -> Option<&str> {
        self.limits.stopped.get().map(String::as_str)
    }

    fn stop(&self, why: String) {
        let _ = self.limits.stopped.set(why);
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// Resolves a path or a (relative or absolute) Location against the base URL.
    pub fn resolve(&self, target: &str) -> Result<reqwest::Url, String> {
        self.base
            .join(target)
            .map_err(|e| format!("cannot resolve `{target}` against {}: {e}", self.base))
    }

    /// Sends `req` and returns the answer (the last exchange of [`Http::send_traced`]).
    pub async fn send(&self, req: Request) -> Exchange {
        self.send_traced(req)
            .await
            .pop()
            .expect("send_traced returns at least one exchange")
    }
}

impl Http {
    /// One request and its answer, with these credentials or this token (never both), which go
    /// only where [`Http::may_receive_secrets`] allows (`realm`: this is a token request).
    async fn exchange(
        &self,
        req: &Request,
        credentials: Option<&Credentials>,
        bearer: Option<&str>,
        realm: Option<&reqwest::Url>,
    ) -> Exchange {
        // A rate limit is the registry's operations, not its conformance: waited out (within
        // the run's deadline) and counted, never handed to a case as its answer. Only the 429's
        // own form is judged, once for the run.
        let mut tries = 0;
        loop {
            let ex = self.exchange_once(req, credentials, bearer, realm).await;
            if ex.status == Some(429) {
                let at = reqwest::Url::parse(&ex.url)
                    .map(|u| format!("{} {}", ex.method, u.path()))
                    .unwrap_or_else(|_| ex.method.clone());
                self.limits
                    .too_many
                    .record(&at, ex.header("Retry-After"), ex.json().as_ref());
            }
            let Some(wait) = retry_wait(&ex, tries) else {
                self.created.observe(&ex);
                return ex;
            };
            let give_up = if tries >= MAX_RETRIES {
                Some(format!(
                    "the registry answered {} to the same request {} times in a row, waiting as \
                     it asked (--rate caps the requests per second)",
                    ex.status.unwrap_or_default(),
                    tries + 1
                ))
            } else {
                match self.limits.deadline {
                    Some((at, total)) if Instant::now() + wait >= at => Some(format!(
                        "the registry asked to wait {} s (Retry-After), past the run's deadline \
                         (--deadline {} s)",
                        wait.as_secs(),
                        total.as_secs()
                    )),
                    None if wait > MAX_RETRY_WAIT => Some(format!(
                        "the registry asked to wait {} s (Retry-After), longer than {} s",
                        wait.as_secs(),
                        MAX_RETRY_WAIT.as_secs()
                    )),
                    _ => None,
                }
            };
            if let Some(why) = give_up {
                // A 503 is an answer a case may judge; a 429 only says "not now", so the run
                // stops rather than fail cases on it.
                if ex.status == Some(429) {
                    self.stop(why.clone());
                    let mut ex = ex;
                    ex.error = Some(format!("{RUN_STOPPED}: {why}"));
                    return ex;
                }
                return ex;
            }
            tries += 1;
            self.limits.retried.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(wait).await;
        }
    }

    async fn exchange_once(
        &self,
        req: &Request,
        credentials: Option<&Credentials>,
        bearer: Option<&str>,
        realm: Option<&reqwest::Url>,
    ) -> Exchange {
        let mut ex = new_exchange(req);
        if let Some(pacer) = &self.pacer {
            let slot = pacer.reserve();
            if let Some((at, total)) = self.limits.deadline {
                if slot >= at {
                    self.stop(format!(
                        "its deadline (--deadline {} s) passed",
                        total.as_secs()
                    ));
                }
            }
            if self.stopped().is_none() {
                tokio::time::sleep_until(slot.into()).await;
            }
        }
        let started = Instant::now();
        if let Some(why) = self.stopped() {
            ex.error = Some(format!("not sent: {RUN_STOPPED}: {why}"));
            ex.failure = Some(Failure::Stopped);
            return ex;
        }
        let send = async {
            if req.raw {
                match tokio::time::timeout(
                    self.timeout,
                    self.send_raw(req, &mut ex, credentials, bearer),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err((
                        Failure::Timeout,
                        format!(
                            "timed out after {} s (raw request)",
                            self.timeout.as_secs_f64()
                        ),
                    )),
                }
            } else {
                self.send_once(req, &mut ex, credentials, bearer, realm)
                    .await
            }
        };
        let result = match self.limits.deadline {
            None => send.await,
            Some((at, total)) => match tokio::time::timeout_at(at.into(), send).await {
                Ok(r) => r,
                Err(_) => {
                    let why = format!("its deadline (--deadline {} s) passed", total.as_secs());
                    self.stop(why.clone());
                    Err((Failure::Stopped, format!("cut short: {RUN_STOPPED}: {why}")))
                }
            },
        };
        if let Err((kind, e)) = result {
            ex.error = Some(e);
            ex.failure = Some(kind);
        }
        if ex.timed_out() {
            let n = self.limits.timeouts_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
            let max = self.limits.stop_after_timeouts;
            if max > 0 && n >= max {
                self.stop(format!(
                    "{n} requests in a row timed out (--timeout {} s, --stop-after-timeouts {max})",
                    self.timeout.as_secs()
                ));
            }
        } else if ex.status.is_some() {
            self.limits.timeouts_in_a_row.store(0, Ordering::SeqCst);
        }
        if req.raw && ex.status.is_some() {
            ex.answered_by = reqwest::Url::parse(&req.url).ok();
        }
        ex.elapsed_ms = started.elapsed().as_millis() as u64;
        ex
    }

    async fn send_once(
        &self,
        req: &Request,
        ex: &mut Exchange,
        credentials: Option<&Credentials>,
        bearer: Option<&str>,
        realm: Option<&reqwest::Url>,
    ) -> Result<(), Failed> {
        let mut method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| (Failure::NotSent, format!("invalid method `{}`", req.method)))?;
        let mut url = reqwest::Url::parse(&req.url)
            .map_err(|e| (Failure::NotSent, format!("invalid URL: {e}")))?;
        let mut body = req.body.clone();
        let mut hop = 0;
        let mut resp = loop {
            let secrets = self.may_receive_secrets(&url, realm);
            let mut rb = self.client.request(method.clone(), url.clone());
            for (k, v) in &req.headers {
                // The case's own headers carry no run secret, but like every client the harness
                // does not pass Authorization or cookies on to another origin.
                let sensitive = ["authorization", "proxy-authorization", "cookie"]
                    .iter()
                    .any(|n| k.eq_ignore_ascii_case(n));
                let content = k.to_ascii_lowercase().starts_with("content-");
                if (hop > 0 && sensitive && !secrets) || (body.is_none() && content && hop > 0) {
                    continue;
                }
                rb = rb.header(k.as_str(), v.as_str());
            }
            if !has_header(req, "authorization") {
                if !secrets && (bearer.is_some() || credentials.is_some()) {
                    ex.notes.push(self.withheld(&url));
                } else if let Some(t) = bearer {
                    rb = rb.bearer_auth(t);
                    if hop == 0 {
                        ex.request_headers
                            .push(("Authorization".into(), "Bearer $OCI_TOKEN".into()));
                    }
                } else if let Some(c) = credentials {
                    rb = rb.basic_auth(&c.username, Some(&c.password));
                    if hop == 0 {
                        ex.request_headers
                            .push(("Authorization".into(), basic_placeholder(req)));
                    }
                }
            }
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            let resp = rb.send().await.map_err(|e| {
                let kind = reqwest_failure(&e).unwrap_or(Failure::NoAnswer);
                (kind, describe_reqwest_error(e))
            })?;
            let status = resp.status().as_u16();
            let next = matches!(status, 301 | 302 | 303 | 307 | 308)
                .then(|| resp.headers().get(reqwest::header::LOCATION))
                .flatten()
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .filter(|n| n.scheme() == "http" || n.scheme() == "https");
            let Some(next) = next else { break resp };
            if hop == MAX_REDIRECTS {
                return Err((
                    Failure::RedirectLoop,
                    format!("redirect loop: still redirected after {MAX_REDIRECTS} redirects"),
                ));
            }
            ex.notes
                .push(format!("{status}: followed the redirect to {next}"));
            // RFC 9110 §15.4: a 303 asks for a GET, and clients turn a POST into a GET on
            // 301 and 302 too; 307 and 308 repeat the request as it was.
            if (status == 303 && method != reqwest::Method::HEAD)
                || (matches!(status, 301 | 302) && method == reqwest::Method::POST)
            {
                method = reqwest::Method::GET;
                body = None;
            }
            url = next;
            hop += 1;
        };
        ex.answered_by = Some(url.clone());
        ex.status = Some(resp.status().as_u16());
        if hop > 0 {
            ex.url = format!("{} (redirected to {url})", req.url);
        }
        ex.response_headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    redact_header(k.as_str(), &String::from_utf8_lossy(v.as_bytes())),
                )
            })
            .collect();
        let mut body = BodySink::new(self.kept_body, resp.content_length());
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.size + chunk.len() as u64 > self.max_body as u64 {
                        return Err((
                            Failure::TooLarge,
                            format!("response body exceeds the {} byte limit", self.max_body),
                        ));
                    }
                    body.push(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    body.finish(ex);
                    let kind = match reqwest_failure(&e) {
                        Some(Failure::Timeout) => Failure::Timeout,
                        _ => Failure::Broken,
                    };
                    return Err((
                        kind,
                        format!(
                            "connection broken while reading the body: {}",
                            describe_reqwest_error(e)
                        ),
                    ));
                }
            }
        }
        body.finish(ex);
        Ok(())
    }
}

fn has_header(req: &Request, name: &str) -> bool {
    req.headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(name))
}

fn new_exchange(req: &Request) -> Exchange {
    Exchange {
        method: req.method.clone(),
        url: req.url.clone(),
        request_headers: req
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), redact_header(k, v)))
            .collect(),
        request_body: req.body.as_ref().map(|b| preview(b, b.len() as u64)),
        request_bytes: req.body.clone(),
        request_size: req.body.as_ref().map(|b| b.len() as u64),
        ..Exchange::default()
    }
}

/// A response body as it arrives: kept whole up to `keep` bytes; past that only its first
/// `keep` bytes are kept and the whole is hashed as it streams (sha256 and sha512, the
/// algorithms cases check).
struct BodySink {
    kept: Vec<u8>,
    keep: usize,
    size: u64,
    hashers: Option<(sha2::Sha256, sha2::Sha512)>,
}

impl BodySink {
    fn new(keep: usize, announced: Option<u64>) -> BodySink {
        let capacity = announced.map_or(0, |n| n.min(keep as u64) as usize);
        BodySink {
            kept: Vec::with_capacity(capacity),
            keep,
            size: 0,
            hashers: None,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.size += chunk.len() as u64;
        if self.hashers.is_none() && self.kept.len() + chunk.len() <= self.keep {
            self.kept.extend_from_slice(chunk);
            return;
        }
        let (sha256, sha512) = self.hashers.get_or_insert_with(|| {
            let mut h = (sha2::Sha256::new(), sha2::Sha512::new());
            h.0.update(&self.kept);
            h.1.update(&self.kept);
            h
        });
        sha256.update(chunk);
        sha512.update(chunk);
        let room = self.keep.saturating_sub(self.kept.len()).min(chunk.len());
        self.kept.extend_from_slice(&chunk[..room]);
    }

    fn finish(self, ex: &mut Exchange) {
        use sha2::Digest;
        ex.response_size = Some(self.size);
        match self.hashers {
            None => {
                ex.response_digest = Some(crate::content::digest_of("sha256", &self.kept));
            }
            Some((sha256, sha512)) => {
                ex.response_digest = Some(format!("sha256:{}", hex::encode(sha256.finalize())));
                ex.response_sha512 = Some(format!("sha512:{}", hex::encode(sha512.finalize())));
                ex.notes.push(format!(
                    "a {}-byte body: only its first {} bytes are kept for checks (JSON checks \
                     fail on it; sizes and digests are of the whole body)",
                    self.size,
                    self.kept.len()
                ));
            }
        }
        ex.response_body = (self.size > 0).then(|| preview(&self.kept, self.size));
        ex.body = self.kept.into();
    }
}

fn parse_base(base: &str) -> Result<reqwest::Url, HttpError> {
    let mut url =
        reqwest::Url::parse(base).map_err(|e| HttpError::Url(base.into(), e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(HttpError::Url(
            base.into(),
            "scheme must be http or https".into(),
        ));
    }
    if url.host_str().is_none() {
        return Err(HttpError::Url(base.into(), "no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpError::Url(
            "(credentials redacted)".into(),
            "put credentials in --username/--password, not in the URL".into(),
        ));
    }
    // A registry may live under a path prefix; keep it, as a directory.
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// The kind of a reqwest failure, where reqwest tells it. A TLS failure is a connect error
/// caused by a rustls error, or by the peer closing mid-handshake (a TCP connect never ends in
/// an unexpected EOF).
fn reqwest_failure(e: &reqwest::Error) -> Option<Failure> {
    use std::error::Error;
    if e.is_timeout() {
        return Some(Failure::Timeout);
    }
    if e.is_redirect() {
        return Some(Failure::RedirectLoop);
    }
    if !e.is_connect() {
        return None;
    }
    // io::Error hides the error it wraps from `source()`: unwrap those by hand.
    let mut src = e.source();
    while let Some(s) = src {
        let mut inner = Some(s);
        while let Some(i) = inner {
            if i.downcast_ref::<rustls::Error>().is_some() {
                return Some(Failure::Tls);
            }
            let io = i.downcast_ref::<std::io::Error>();
            if io.is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof) {
                return Some(Failure::Tls);
            }
            inner = io
                .and_then(|io| io.get_ref())
                .map(|x| x as &(dyn Error + 'static));
        }
        src = s.source();
    }
    Some(Failure::Connect)
}

fn describe_reqwest_error(e: reqwest::Error) -> String {
    use std::error::Error;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect loop"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The transcript's text for a body whose first bytes are `b` and whose size is `total`.
fn preview(b: &[u8], total: u64) -> String {
    let shown = &b[..b.len().min(PREVIEW_BYTES)];
    let text = match std::str::from_utf8(shown) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') =>
        {
            s.to_string()
        }
        _ => format!("<{total} bytes of binary data>"),
    };
    if total > shown.len() as u64 && !text.starts_with('<') {
        format!("{text}… <{total} bytes in all>")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base("http://127.0.0.1:5000").is_ok());
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("not a url").is_err());
        let e = parse_base("http://u:secret@127.0.0.1/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(
            parse_base("http://h/prefix").unwrap().as_str(),
            "http://h/prefix/"
        );
    }
}
