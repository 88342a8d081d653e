//! The fuzzer's HTTP transport: one request at a time, every exchange recorded.
//!
//! The fuzz loop is synchronous because proptest's runner is; the client therefore owns a private
//! current-thread tokio runtime and blocks on each request. It must not be called from inside
//! another runtime's async context (use `spawn_blocking` or a plain thread).
//!
//! The requests themselves go through the harness's one HTTP client ([`crate::http::Http`]:
//! timeouts, body cap, credentials, redaction); this layer adds the rate limit, the per-case
//! transcript, the stale-connection retry and the synchronous interface.

use std::time::{Duration, Instant};

use reqwest::Url;

use super::FuzzError;
pub use crate::http::Failure;

/// A request as the fuzzer builds it: `target` is either a path relative to the base URL
/// (starting with `/`) or an absolute URL (an upload `Location` or a `Link` target).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, target: impl Into<String>) -> Self {
        Req {
            method: method.to_string(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A complete answer (the body is read to the end, capped).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of a list header, split on commas (RFC 9110 list semantics).
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What came back: an answer, or the harness client's typed transport failure (its kind, and
/// the transcript's sentence for it).
#[derive(Debug, Clone)]
pub enum Answer {
    Response(Resp),
    Failed(Failure, String),
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Response(r) => Some(r.status),
            Answer::Failed(..) => None,
        }
    }
    /// No answer within the timeout (the oracle's `timeout`, not a broken connection).
    pub fn timed_out(&self) -> bool {
        matches!(self, Answer::Failed(Failure::Timeout, _))
    }
    /// The registry could not be reached at all (refused, unresolvable, TLS handshake failed):
    /// a setup problem, not a finding.
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            Answer::Failed(Failure::Connect | Failure::Tls | Failure::NotSent, _)
        )
    }
    pub fn describe(&self) -> String {
        match self {
            Answer::Response(r) => format!("{}", r.status),
            Answer::Failed(Failure::Timeout, _) => "timeout".into(),
            Answer::Failed(_, e) => format!("connection error: {e}"),
        }
    }
}

/// One recorded request/answer pair, kept for reproducer files.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub req: Req,
    /// The absolute URL actually requested.
    pub url: String,
    pub answer: Answer,
}

/// Largest response body read: the oracle never needs more, and a misbehaving registry must not
/// make the fuzzer allocate without bound (a larger answer is reported as a broken exchange).
const MAX_BODY: usize = 16 << 20;

/// What a case transcript keeps of each response body.
const TRANSCRIPT_BODY: usize = 4096;

pub struct Client {
    rt: tokio::runtime::Runtime,
    http: crate::http::Http,
    timeout: Duration,
    credentials: Option<crate::http::Credentials>,
    tls: crate::http::TlsOptions,
    base: Url,
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    pub requests: u64,
    /// Transcript of the current case; cleared by the fuzz loop at each case start.
    pub transcript: Vec<Exchange>,
    /// Answers per operation, counted while the fuzz loop says which layer is running.
    pub coverage: super::coverage::Coverage,
}

impl Client {
    pub fn new(
        base: &str,
        timeout: Duration,
        rate: Option<f64>,
        credentials: Option<crate::http::Credentials>,
        tls: crate::http::TlsOptions,
    ) -> Result<Self, FuzzError> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| FuzzError::Config(format!("bad registry URL {base:?}: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FuzzError::Io(e.to_string()))?;
        let http = http_client(base.as_str(), timeout, &credentials, &tls)?;
        Ok(Client {
            rt,
            http,
            timeout,
            credentials,
            tls,
            base,
            min_interval: rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            last_sent: None,
            requests: 0,
            transcript: Vec::new(),
            coverage: Default::default(),
        })
    }

    fn fresh_pool(&mut self) {
        if let Ok(h) = http_client(
            self.base.as_str(),
            self.timeout,
            &self.credentials,
            &self.tls,
        ) {
            self.http = h;
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Resolves a request target to an absolute URL. Paths are appended verbatim to the base
    /// (the fuzzer percent-encodes what it generates), so nothing is normalised away.
    pub fn resolve(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else if target.starts_with('/') {
            format!("{}{}", self.base.as_str().trim_end_matches('/'), target)
        } else {
            self.base
                .join(target)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| target.to_string())
        }
    }

    pub fn send(&mut self, req: Req) -> Answer {
        if let (Some(iv), Some(last)) = (self.min_interval, self.last_sent) {
            let due = last + iv;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.last_sent = Some(Instant::now());
        self.requests += 1;
        let url = self.resolve(&req.target);
        let mut answer = self.perform(&url, &req);
        // A request that failed before any answer arrived, on a connection from the pool, may
        // have met a connection the server had already given up (e.g. after an early 413 it
        // closed without `Connection: close`). RFC 9112 §9.3.1 lets clients retry then; it is
        // retried once on a fresh connection, so the failure is charged to the request that
        // caused it. A registry that fails again on a fresh connection is still caught, and a
        // response cut short after it started is never retried: that is a finding.
        if matches!(&answer, Answer::Failed(Failure::NoAnswer, _)) {
            self.fresh_pool();
            self.requests += 1;
            answer = self.perform(&url, &req);
        }
        if matches!(&answer, Answer::Failed(f, _) if *f != Failure::Timeout) {
            // Never hand a connection in an unknown state to the next request.
            self.fresh_pool();
        }
        // Reproducers use the statuses and headers of a transcript, never its response bodies:
        // it keeps their first bytes only, so a case's memory does not grow with what the
        // registry sends.
        self.coverage.record(
            &req.method,
            &req.target,
            answer.status(),
            answer.timed_out(),
        );
        let kept = match &answer {
            Answer::Response(r) => Answer::Response(Resp {
                status: r.status,
                headers: r.headers.clone(),
                body: r.body[..r.body.len().min(TRANSCRIPT_BODY)].to_vec(),
            }),
            other => other.clone(),
        };
        self.transcript.push(Exchange {
            req,
            url,
            answer: kept,
        });
        answer
    }

    fn perform(&self, url: &str, req: &Req) -> Answer {
        // Always send a body (possibly empty) on other methods, so Content-Length is explicit,
        // as the spec asks of session-opening POSTs and cancel DELETEs.
        let body = if (req.method == "GET" || req.method == "HEAD") && req.body.is_empty() {
            None
        } else {
            Some(bytes::Bytes::from(req.body.clone()))
        };
        let request = crate::http::Request {
            method: req.method.clone(),
            url: url.to_string(),
            headers: req.headers.clone(),
            body,
            // The fuzzer's requests are well-formed HTTP; what it varies is their content.
            raw: false,
            auth: Default::default(),
        };
        let ex = self.rt.block_on(self.http.send(request));
        match (ex.status, ex.error, ex.failure) {
            (Some(status), None, None) => Answer::Response(Resp {
                status,
                headers: ex.response_headers,
                body: ex.body.to_vec(),
            }),
            (_, e, failure) => Answer::Failed(
                failure.unwrap_or(Failure::NoAnswer),
                e.unwrap_or_else(|| "no answer".into()),
            ),
        }
    }
}

fn http_client(
    base: &str,
    timeout: Duration,
    credentials: &Option<crate::http::Credentials>,
    tls: &crate::http::TlsOptions,
) -> Result<crate::http::Http, FuzzError> {
    crate::http::Http::with_tls(base, timeout, MAX_BODY, credentials.clone(), tls.clone())
        .map(|h| h.with_kept_body(MAX_BODY))
        .map_err(|e| FuzzError::Config(e.to_string()))
}
