//! The one HTTP client of the harness: bounded in time and size, recording a transcript of
//! every exchange with credentials redacted.

use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bodies longer than this are shown truncated in transcripts (they are still checked whole).
const PREVIEW_BYTES: usize = 2048;

/// Redirects followed for one request before it is a redirect loop.
const MAX_REDIRECTS: usize = 10;

/// Response bodies are kept whole for the checks up to this size (the cases' largest fixture is
/// 6 MiB). A larger body is hashed as it streams in and only its first bytes are kept, with its
/// size and digests, so what the harness holds stays bounded whatever a registry sends; raw-mode
/// answers (error answers to malformed requests) may not be larger.
pub const KEPT_BODY_BYTES: usize = 8 << 20;

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
    /// Requests sent again after a 429 or 503 with `Retry-After` (see [`retry_wait`]).
    retried: AtomicU32,
}

/// Retries of one request after 429/503 before its answer is taken as final.
const MAX_RETRIES: u32 = 5;
/// A longer `Retry-After` is not waited out: the answer is taken as final.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// How long a rate-limited answer (429, or 503, with `Retry-After` in seconds) asks the client to
/// wait before sending the request again; None for any other answer.
pub fn retry_wait(ex: &Exchange) -> Option<Duration> {
    if !matches!(ex.status, Some(429 | 503)) {
        return None;
    }
    let secs: u64 = ex.header("Retry-After")?.trim().parse().ok()?;
    Some(Duration::from_secs(secs)).filter(|w| *w <= MAX_RETRY_WAIT)
}

/// Starts the error of a token request the harness refused to make.
pub const CLEAR_TEXT_REALM: &str =
    "refusing to send the credentials in clear text to the token realm";

/// How the client checks the registry's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Accept any certificate (self-signed test registries); `--insecure`.
    pub insecure: bool,
    /// Also trust the certificates in this PEM file (a private CA); `--ca-cert`.
    pub ca_cert: Option<std::path::PathBuf>,
}

/// How one request authenticates.
#[derive(Clone, Default, PartialEq)]
pub enum RequestAuth {
    /// The run's credentials: Basic, or the token flow when the registry answers with a Bearer
    /// challenge (tokens cached per repository and action).
    #[default]
    Default,
    /// No credentials and no token flow: the registry's first answer is the answer.
    Anonymous,
    /// The run's user name with a wrong password, through the same flow as `Default` (no cache);
    /// a refusal from the token service is then the answer.
    WrongPassword,
    /// This bearer token as is; no other token is fetched.
    Bearer(String),
}

impl std::fmt::Debug for RequestAuth {
    // Hand-written so a token can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestAuth::Default => f.write_str("Default"),
            RequestAuth::Anonymous => f.write_str("Anonymous"),
            RequestAuth::WrongPassword => f.write_str("WrongPassword"),
            RequestAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
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
            .is_some_and(|b| b.len() > crate::report::CURL_INLINE_BYTES)
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
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with("timed out") || e.contains(": timed out"))
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

    /// Requests sent again because the registry answered 429/503 with `Retry-After`.
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

    /// Sends `req` and returns every exchange it took, the answer last. On a `401` with a
    /// `Bearer` challenge (the token flow both official suites implement) the refused attempt
    /// and the token request come first, then the retry with the token.
    pub async fn send_traced(&self, req: Request) -> Vec<Exchange> {
        let credentials = match &req.auth {
            RequestAuth::Default => self.credentials.clone(),
            RequestAuth::WrongPassword => self.credentials.as_ref().map(|c| Credentials {
                username: c.username.clone(),
                password: wrong_password(&c.password),
            }),
            RequestAuth::Anonymous | RequestAuth::Bearer(_) => None,
        };
        let bearer = match &req.auth {
            RequestAuth::Bearer(t) => Some(t.clone()),
            RequestAuth::Default => self.cached_token(&req),
            _ => None,
        };
        let first = self
            .exchange(&req, credentials.as_ref(), bearer.as_deref(), None)
            .await;
        // Only the registry's own challenges: a realm named by another host would get the
        // credentials.
        let follows_challenges =
            matches!(req.auth, RequestAuth::Default | RequestAuth::WrongPassword)
                && first
                    .answered_by
                    .as_ref()
                    .is_some_and(|u| self.may_receive_secrets(u, None));
        if !follows_challenges || first.status != Some(401) {
            return vec![first];
        }
        let Some(challenge) = first
            .headers("www-authenticate")
            .filter_map(Challenge::parse)
            .find(|c| c.is_bearer())
        else {
            return vec![first];
        };
        let mut trail = vec![first];
        // The challenge names what the registry checks first; a mount also needs pull on its
        // source, which not every registry's challenge mentions (clients add it themselves).
        let mut scopes = challenge.scopes();
        scopes.extend(self.forced_scopes.iter().cloned());
        for (resource, action) in needed_scopes(&req.method, &req.url) {
            if !scopes_cover(&scopes, &resource, &action) {
                scopes.push(format!("{resource}:{action}"));
            }
        }
        let (mut token_ex, token) = self.token(&challenge, &scopes, credentials.as_ref()).await;
        let Some(token) = token else {
            if req.auth == RequestAuth::Default {
                // The run's own credentials were refused: say so rather than leave a bare
                // status from another URL as the answer.
                let why = token_ex
                    .error
                    .take()
                    .or_else(|| {
                        token_ex
                            .status
                            .map(|s| format!("{} answered {s}", token_ex.url))
                    })
                    .unwrap_or_default();
                token_ex.error = Some(format!(
                    "got 401 with a Bearer challenge, but the token request failed: {why}"
                ));
            }
            trail.push(token_ex);
            return trail;
        };
        trail.push(token_ex);
        if req.auth == RequestAuth::Default {
            let mut cache = self.tokens.lock().expect("token cache");
            for s in &scopes {
                for key in scope_keys(s) {
                    cache.insert(key, token.clone());
                }
            }
        }
        trail.push(self.exchange(&req, None, Some(&token), None).await);
        trail
    }

    /// One cached token that covers every scope `req` needs, if there is one.
    fn cached_token(&self, req: &Request) -> Option<String> {
        let cache = self.tokens.lock().expect("token cache");
        // Registries without tokens never fill the cache: spare every request the URL parsing.
        if cache.is_empty() {
            return None;
        }
        let needed = needed_scopes(&req.method, &req.url);
        let lookup = |(resource, action): &(String, String)| {
            cache
                .get(&(resource.clone(), action.clone()))
                .or_else(|| cache.get(&(resource.clone(), "*".to_string())))
        };
        let first = lookup(needed.first()?)?;
        needed
            .iter()
            .all(|k| lookup(k) == Some(first))
            .then(|| first.clone())
    }

    /// A token for exactly `scopes` with the run's credentials (see [`Http::token`]).
    pub async fn run_token(&self, ch: &Challenge, scopes: &[String]) -> (Exchange, Option<String>) {
        self.token(ch, scopes, self.credentials.as_ref()).await
    }

    /// `GET /v2/` without credentials: the registry's challenge, if it sends one.
    pub async fn probe_challenge(&self) -> (Exchange, Option<Challenge>) {
        let url = format!("{}v2/", self.base);
        let req = Request {
            method: "GET".into(),
            url,
            ..Request::default()
        };
        let ex = self.exchange(&req, None, None, None).await;
        let ch = ex.headers("www-authenticate").find_map(Challenge::parse);
        (ex, ch)
    }

    /// Asks the challenge's realm for a token for exactly `scopes`, with `credentials` (or
    /// anonymously). The exchange is recorded with the token replaced by a placeholder.
    pub async fn token(
        &self,
        ch: &Challenge,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> (Exchange, Option<String>) {
        let realm = ch.param("realm").unwrap_or_default();
        let mut url = match reqwest::Url::parse(realm) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            _ => {
                let mut ex = new_exchange(&Request {
                    method: "GET".into(),
                    url: realm.to_string(),
                    ..Request::default()
                });
                ex.error = Some(format!(
                    "the challenge's realm `{realm}` is not an http(s) URL"
                ));
                return (ex, None);
            }
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = ch.param("service") {
                q.append_pair("service", s);
            }
            for scope in scopes {
                q.append_pair("scope", scope);
            }
        }
        let req = Request {
            method: "GET".into(),
            url: url.to_string(),
            ..Request::default()
        };
        if credentials.is_some()
            && url.scheme() == "http"
            && self.base.scheme() == "https"
            && !self.allow_http_realm
        {
            let mut ex = new_exchange(&req);
            ex.error = Some(format!(
                "{CLEAR_TEXT_REALM} `{realm}`: the registry uses HTTPS but its realm plain HTTP \
                 (--insecure allows it)"
            ));
            return (ex, None);
        }
        let mut ex = self.exchange(&req, credentials, None, Some(&url)).await;
        let mut answer = serde_json::from_slice::<serde_json::Value>(&ex.body).ok();
        let token = if ex.status.is_some_and(|s| (200..300).contains(&s)) {
            let token = answer
                .as_ref()
                .and_then(|v| v.get("token").or_else(|| v.get("access_token")))
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .map(String::from);
            if token.is_none() {
                ex.error = Some("token answer has no `token` or `access_token`".into());
            }
            token
        } else {
            None
        };
        // The answer holds the token itself: keep its shape, never its secrets.
        if let Some(o) = answer.as_mut().and_then(|v| v.as_object_mut()) {
            for k in ["token", "access_token", "refresh_token"] {
                if o.contains_key(k) {
                    o.insert(k.into(), "$OCI_TOKEN".into());
                }
            }
        }
        if let Some(v) = answer {
            ex.response_body = Some(v.to_string());
        }
        ex.body = Bytes::new();
        ex.response_digest = None;
        (ex, token)
    }

    /// Whether the run's secrets may go to `url`: only to the registry's own origin (scheme,
    /// host and port), to `realm`'s for a token request, and to origins the run was told to
    /// trust. Storage front-ends, redirect targets and other hosts get none.
    fn may_receive_secrets(&self, url: &reqwest::Url, realm: Option<&reqwest::Url>) -> bool {
        let origin = url.origin();
        origin == self.base.origin()
            || realm.is_some_and(|r| r.origin() == origin)
            || self.trusted_origins.iter().any(|t| t.origin() == origin)
    }

    /// The transcript's note for a request that went out without the run's credentials.
    fn withheld(&self, url: &reqwest::Url) -> String {
        format!(
            "credentials withheld: {} is neither the registry's origin ({}) nor its token realm \
             (--trust-origin adds one)",
            url.origin().ascii_serialization(),
            self.base.origin().ascii_serialization()
        )
    }

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
        // the run's deadline) and counted, never handed to a case as its answer.
        let mut tries = 0;
        loop {
            let ex = self.exchange_once(req, credentials, bearer, realm).await;
            let Some(wait) = retry_wait(&ex) else {
                return ex;
            };
            let past_deadline = self
                .limits
                .deadline
                .is_some_and(|(at, _)| Instant::now() + wait >= at);
            if tries >= MAX_RETRIES || past_deadline {
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
        let started = Instant::now();
        let mut ex = new_exchange(req);
        if let Some(why) = self.stopped() {
            ex.error = Some(format!("not sent: {RUN_STOPPED}: {why}"));
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
                    Err(_) => Err(format!(
                        "timed out after {} s (raw request)",
                        self.timeout.as_secs_f64()
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
                    Err(format!("cut short: {RUN_STOPPED}: {why}"))
                }
            },
        };
        if let Err(e) = result {
            ex.error = Some(e);
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
    ) -> Result<(), String> {
        let mut method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", req.method))?;
        let mut url = reqwest::Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
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
            let resp = rb.send().await.map_err(describe_reqwest_error)?;
            let status = resp.status().as_u16();
            let next = matches!(status, 301 | 302 | 303 | 307 | 308)
                .then(|| resp.headers().get(reqwest::header::LOCATION))
                .flatten()
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .filter(|n| n.scheme() == "http" || n.scheme() == "https");
            let Some(next) = next else { break resp };
            if hop == MAX_REDIRECTS {
                return Err(format!(
                    "redirect loop: still redirected after {MAX_REDIRECTS} redirects"
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
                        return Err(format!(
                            "response body exceeds the {} byte limit",
                            self.max_body
                        ));
                    }
                    body.push(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    body.finish(ex);
                    return Err(format!(
                        "connection broken while reading the body: {}",
                        describe_reqwest_error(e)
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

/// What a transcript shows for Basic credentials (the report's curl lines turn it into
/// `-u "$OCI_USERNAME:$OCI_PASSWORD"`).
fn basic_placeholder(req: &Request) -> String {
    if req.auth == RequestAuth::WrongPassword {
        BASIC_WRONG_PLACEHOLDER.into()
    } else {
        "Basic $OCI_CREDENTIALS".into()
    }
}

pub const BASIC_WRONG_PLACEHOLDER: &str = "Basic $OCI_CREDENTIALS (wrong password)";

/// A password that is certainly not the right one, derived so reruns send the same bytes.
fn wrong_password(password: &str) -> String {
    format!("not-{password}")
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

impl Http {
    async fn send_raw(
        &self,
        req: &Request,
        ex: &mut Exchange,
        credentials: Option<&Credentials>,
        bearer: Option<&str>,
    ) -> Result<(), String> {
        let url = reqwest::Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("raw requests need http or https, not {other}")),
        };
        let host = url.host_str().ok_or("URL without host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, target);
        let has = |name: &str| has_header(req, name);
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", url.authority()));
            ex.request_headers
                .push(("Host".into(), url.authority().into()));
        }
        for (k, v) in &req.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !has("authorization") && !self.may_receive_secrets(&url, None) {
            if bearer.is_some() || credentials.is_some() {
                ex.notes.push(self.withheld(&url));
            }
        } else if !has("authorization") {
            if let Some(t) = bearer {
                head.push_str(&format!("Authorization: Bearer {t}\r\n"));
                ex.request_headers
                    .push(("Authorization".into(), "Bearer $OCI_TOKEN".into()));
            } else if let Some(c) = credentials {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password));
                head.push_str(&format!("Authorization: Basic {token}\r\n"));
                ex.request_headers
                    .push(("Authorization".into(), basic_placeholder(req)));
            }
        }
        // One exchange per connection: the response of a malformed request may leave the
        // connection in any state, so it must never be reused.
        if !has("connection") {
            head.push_str("Connection: close\r\n");
            ex.request_headers
                .push(("Connection".into(), "close".into()));
        }
        head.push_str("\r\n");
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        if !tls {
            return self.raw_roundtrip(tcp, head, req, ex).await;
        }
        let config = self.raw_tls.clone();
        let name =
            rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("TLS server name `{host}`: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        self.raw_roundtrip(stream, head, req, ex).await
    }

    /// Writes `head` and the body as they are and reads one response off the connection.
    async fn raw_roundtrip<S>(
        &self,
        mut stream: S,
        head: String,
        req: &Request,
        ex: &mut Exchange,
    ) -> Result<(), String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        if let Some(b) = &req.body {
            // A server may answer (and close) before reading a lying body: not an error here.
            let _ = stream.write_all(b).await;
        }
        let _ = stream.flush().await;
        let limit = self.max_body.min(self.kept_body) + 64 * 1024;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(done) = raw_response_complete(&buf, &req.method) {
                if done {
                    break;
                }
            }
            let n = match stream.read(&mut chunk).await {
                Ok(n) => n,
                // A reset after a full response (e.g. unread request body) is still an answer.
                Err(e) if raw_status(&buf).is_some() => {
                    tracing::debug!("raw read ended: {e}");
                    break;
                }
                Err(e) => return Err(format!("connection broken before a response: {e}")),
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > limit {
                return Err(format!("response exceeds the {} byte limit", self.max_body));
            }
        }
        let (status, headers, body_start) =
            raw_parse_head(&buf).ok_or("no complete HTTP response head received")?;
        ex.status = Some(status);
        ex.response_headers = headers
            .iter()
            .map(|(k, v)| (k.clone(), redact_header(k, v)))
            .collect();
        let mut body = buf[body_start..].to_vec();
        let chunked = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        });
        if chunked {
            body = dechunk(&body).ok_or("malformed chunked response body")?;
        } else if let Some(n) = content_length(&headers) {
            body.truncate(n);
        }
        let mut sink = BodySink::new(self.kept_body, Some(body.len() as u64));
        sink.push(&body);
        sink.finish(ex);
        Ok(())
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

/// The run's one TLS client configuration, used by reqwest and by raw mode alike: the Mozilla
/// roots (webpki-roots) plus the certificates of `--ca-cert`, or any certificate with
/// `--insecure`; ALPN offers HTTP/2 and HTTP/1.1.
fn tls_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Client(format!("TLS setup: {e}")))?;
    let mut config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &tls.ca_cert {
            use rustls_pki_types::pem::PemObject;
            let bad = |e: &dyn std::fmt::Display| {
                HttpError::CaCert(path.display().to_string(), e.to_string())
            };
            let pem = std::fs::read(path).map_err(|e| bad(&e))?;
            let mut added = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                added += 1;
            }
            if added == 0 {
                return Err(bad(&"no PEM certificate in it"));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// `--insecure`: any certificate is accepted, but handshake signatures are still
/// checked (a broken handshake is a broken server, not a certificate question).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `/v2/<name>/(blobs|manifests|tags|referrers)/…` (a URL's path) → `<name>`: the unit
/// registries scope tokens to.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    for marker in ["/blobs/", "/manifests/", "/tags/", "/referrers/"] {
        if let Some(i) = rest.find(marker) {
            return Some(rest[..i].to_string()).filter(|n| !n.is_empty());
        }
    }
    None
}

/// The (resource, action) pairs a request needs, in the token scope's terms: reads `pull`,
/// deletes `delete`, every other write `push`, plus `pull` on a mount's `from` repository; the
/// catalog is `registry:catalog`.
fn needed_scopes(method: &str, url: &str) -> Vec<(String, String)> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return vec![];
    };
    if parsed.path().ends_with("/v2/_catalog") {
        return vec![("registry:catalog".into(), "*".into())];
    }
    let Some(repo) = repository_of(parsed.path()) else {
        return vec![];
    };
    let action = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => "pull",
        "DELETE" => "delete",
        _ => "push",
    };
    let mut needed = vec![(format!("repository:{repo}"), action.to_string())];
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if query.iter().any(|(k, _)| k == "mount") {
        if let Some((_, from)) = query.iter().find(|(k, _)| k == "from") {
            needed.push((format!("repository:{from}"), "pull".into()));
        }
    }
    needed
}

/// Whether one of `scopes` (`repository:a/b:pull,push`, …) grants `action` on `resource`
/// (`repository:a/b`); `*` grants every action.
pub fn scopes_cover(scopes: &[String], resource: &str, action: &str) -> bool {
    scopes
        .iter()
        .flat_map(|s| scope_keys(s))
        .any(|(r, a)| r == resource && (a == action || a == "*"))
}

/// `repository:a/b:pull,push` → the cache keys it grants.
fn scope_keys(scope: &str) -> Vec<(String, String)> {
    match scope.rsplit_once(':') {
        Some((resource, actions)) => actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| (resource.to_string(), a.to_string()))
            .collect(),
        None => vec![],
    }
}

/// One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or `Basic
/// realm="…"`. Quoted values may hold commas.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    /// Parameter names lowercased, in header order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        let mut params = Vec::new();
        // Each round consumes at least one character, so this ends with the header.
        while !rest.trim().is_empty() {
            rest = rest.trim_start_matches([' ', ',']);
            let (key, after) = rest.split_once('=')?;
            let (value, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            params.push((key.trim().to_ascii_lowercase(), value.to_string()));
            rest = next;
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            params,
        })
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer") && self.param("realm").is_some()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `scope` parameter, space-separated scopes.
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn raw_status(buf: &[u8]) -> Option<u16> {
    raw_parse_head(buf).map(|(s, _, _)| s)
}

type Head = (u16, Vec<(String, String)>, usize);

fn raw_parse_head(buf: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Some((
            resp.code?,
            resp.headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            n,
        )),
        _ => None,
    }
}

fn content_length(headers: &[(String, String)]) -> Option<usize> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// `Some(true)` once the whole response is in `buf`; `None` while it cannot tell yet (the
/// caller then reads on until the server closes).
fn raw_response_complete(buf: &[u8], method: &str) -> Option<bool> {
    let (status, headers, start) = raw_parse_head(buf)?;
    if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 || status < 200 {
        return Some(true);
    }
    let body = &buf[start..];
    if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    }) {
        return Some(dechunk(body).is_some());
    }
    content_length(&headers).map(|n| body.len() >= n)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    // Each round consumes at least one chunk header, so this ends with the input.
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
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

pub fn redact_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "set-cookie" {
        let scheme = value.split_whitespace().next().unwrap_or("");
        format!("{scheme} <redacted>")
    } else {
        value.to_string()
    }
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

    #[test]
    fn bearer_challenges_and_token_scopes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert!(c.is_bearer());
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("reg"));
        assert_eq!(c.scopes(), vec!["repository:a/b:pull,push"]);
        let basic = Challenge::parse(r#"Basic realm="x""#).unwrap();
        assert!(!basic.is_bearer());
        assert_eq!(basic.param("realm"), Some("x"));
        assert!(!Challenge::parse(r#"Bearer service="no-realm""#)
            .unwrap()
            .is_bearer());
        assert!(Challenge::parse(r#"Bearer realm="unterminated"#).is_none());
        assert_eq!(
            repository_of("/v2/a/b/blobs/uploads/x").as_deref(),
            Some("a/b")
        );
        assert_eq!(repository_of("/v2/").as_deref(), None);
        assert_eq!(
            needed_scopes("PATCH", "http://h/v2/a/b/blobs/uploads/x"),
            vec![("repository:a/b".to_string(), "push".to_string())]
        );
        assert_eq!(
            needed_scopes("HEAD", "http://h/v2/a/manifests/x"),
            vec![("repository:a".to_string(), "pull".to_string())]
        );
        assert_eq!(
            needed_scopes(
                "POST",
                "http://h/v2/a/blobs/uploads/?mount=sha256:x&from=b/c"
            ),
            vec![
                ("repository:a".to_string(), "push".to_string()),
                ("repository:b/c".to_string(), "pull".to_string())
            ]
        );
        assert!(needed_scopes("GET", "http://h/v2/").is_empty());
        assert_eq!(
            scope_keys("repository:a/b:pull,push"),
            vec![
                ("repository:a/b".to_string(), "pull".to_string()),
                ("repository:a/b".to_string(), "push".to_string())
            ]
        );
    }

    #[test]
    fn chunked_bodies_are_decoded_and_incomplete_ones_are_not() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"3\r\nab").is_none());
        assert!(dechunk(b"zz\r\n").is_none());
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_header("Authorization", "Bearer abc.def"),
            "Bearer <redacted>"
        );
        assert_eq!(redact_header("Location", "/v2/x"), "/v2/x");
    }
}
