//! The [`Http`] client: requests through reqwest with per-hop credential decisions, redirects,
//! rate-limit retries, run limits (deadline, timeouts in a row, `--rate`), and the token flow
//! (a `401` with a Bearer challenge, a token from the realm, the request again). What it sends
//! for credentials and to whom is decided with [`super::auth`]; raw requests go through `raw`.

use super::auth::{
    basic_placeholder, needed_scopes, redact_header, scope_keys, scopes_cover, wrong_password,
    Challenge, Credentials, RequestAuth, CLEAR_TEXT_REALM,
};
use super::tls::{tls_config, TlsOptions};
use super::{
    has_header, new_exchange, raw, BodySink, Exchange, Failed, Failure, HttpError, Request,
    KEPT_BODY_BYTES, RUN_STOPPED,
};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Redirects followed for one request before it is a redirect loop.
const MAX_REDIRECTS: usize = 10;

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
    created: Arc<super::created::Ledger>,
    /// Asked for in every token request of the run's flow (the official suite's
    /// `OCI_AUTH_SCOPE`, for registries whose challenge scope is unusable).
    forced_scopes: Vec<String>,
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
    pub fn created(&self) -> &super::created::Ledger {
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
        let authorization = if req.raw {
            self.raw_authorization(req, &mut ex, credentials, bearer)
        } else {
            None
        };
        let send = async {
            if req.raw {
                match tokio::time::timeout(
                    self.timeout,
                    self.raw_client().send(req, &mut ex, authorization),
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

    fn raw_client(&self) -> raw::RawClient<'_> {
        raw::RawClient {
            tls: &self.raw_tls,
            max_body: self.max_body,
            kept_body: self.kept_body,
        }
    }

    /// The `Authorization` of a raw request: none when it sets its own, or when its URL may
    /// not receive the run's secrets (the transcript says they were withheld); else the token,
    /// or the credentials as Basic.
    fn raw_authorization(
        &self,
        req: &Request,
        ex: &mut Exchange,
        credentials: Option<&Credentials>,
        bearer: Option<&str>,
    ) -> raw::Authorization {
        if has_header(req, "authorization") {
            return None;
        }
        let url = reqwest::Url::parse(&req.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())?;
        if !self.may_receive_secrets(&url, None) {
            if bearer.is_some() || credentials.is_some() {
                ex.notes.push(self.withheld(&url));
            }
            return None;
        }
        if let Some(t) = bearer {
            return Some((format!("Bearer {t}"), "Bearer $OCI_TOKEN".into()));
        }
        let c = credentials?;
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        Some((format!("Basic {token}"), basic_placeholder(req)))
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

/// The token flow: the rules are [`super::auth`]'s (who may receive the secrets aside), the
/// requests are the client's.
impl Http {
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
            .flat_map(Challenge::parse_all)
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
    pub(super) fn may_receive_secrets(
        &self,
        url: &reqwest::Url,
        realm: Option<&reqwest::Url>,
    ) -> bool {
        let origin = url.origin();
        origin == self.base.origin()
            || realm.is_some_and(|r| r.origin() == origin)
            || self.trusted_origins.iter().any(|t| t.origin() == origin)
    }

    /// The transcript's note for a request that went out without the run's credentials.
    pub(super) fn withheld(&self, url: &reqwest::Url) -> String {
        format!(
            "credentials withheld: {} is neither the registry's origin ({}) nor its token realm \
             (--trust-origin adds one)",
            url.origin().ascii_serialization(),
            self.base.origin().ascii_serialization()
        )
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
