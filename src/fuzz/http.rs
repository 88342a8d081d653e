//! The fuzzer's HTTP transport: one request at a time, every exchange recorded.
//!
//! The fuzz loop is synchronous because proptest's runner is; the client therefore owns a private
//! current-thread tokio runtime and blocks on each request. It must not be called from inside
//! another runtime's async context (use `spawn_blocking` or a plain thread).
//!
//! Until the engine's client lands on main this is the only HTTP code in the fuzzer; when it does,
//! `Client::send` is the single place to swap.

use std::time::{Duration, Instant};

use reqwest::Url;

use super::FuzzError;

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

/// What came back: an answer, or a transport failure (timeout, reset, malformed HTTP).
#[derive(Debug, Clone)]
pub enum Answer {
    Response(Resp),
    Timeout,
    Broken(String),
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Response(r) => Some(r.status),
            _ => None,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Answer::Response(r) => format!("{}", r.status),
            Answer::Timeout => "timeout".into(),
            Answer::Broken(e) => format!("connection error: {e}"),
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

/// Responses larger than this are truncated: the oracle never needs more, and a misbehaving
/// registry must not make the fuzzer allocate without bound.
const MAX_BODY: usize = 8 << 20;

pub struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    timeout: Duration,
    base: Url,
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    pub requests: u64,
    /// Transcript of the current case; cleared by the fuzz loop at each case start.
    pub transcript: Vec<Exchange>,
}

impl Client {
    pub fn new(base: &str, timeout: Duration, rate: Option<f64>) -> Result<Self, FuzzError> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| FuzzError::Config(format!("bad registry URL {base:?}: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FuzzError::Io(e.to_string()))?;
        let http = http_client(timeout)?;
        Ok(Client {
            rt,
            http,
            timeout,
            base,
            min_interval: rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            last_sent: None,
            requests: 0,
            transcript: Vec::new(),
        })
    }

    fn fresh_pool(&mut self) {
        if let Ok(h) = http_client(self.timeout) {
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
        if matches!(&answer, Answer::Broken(e) if e.contains("(SendRequest)") && !e.contains("reading a body"))
        {
            self.fresh_pool();
            self.requests += 1;
            answer = self.perform(&url, &req);
        }
        if matches!(answer, Answer::Broken(_)) {
            // Never hand a connection in an unknown state to the next request.
            self.fresh_pool();
        }
        self.transcript.push(Exchange {
            req,
            url,
            answer: answer.clone(),
        });
        answer
    }

    fn perform(&self, url: &str, req: &Req) -> Answer {
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(e) => return Answer::Broken(format!("bad method: {e}")),
        };
        let parsed = match Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Answer::Broken(format!("bad URL {url}: {e}")),
        };
        let mut rb = self.http.request(method, parsed);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        // Always send a body (possibly empty) so Content-Length is explicit, as the spec asks
        // of session-opening POSTs and cancel DELETEs.
        if req.method != "GET" && req.method != "HEAD" || !req.body.is_empty() {
            rb = rb.body(req.body.clone());
        }
        self.rt.block_on(async move {
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => return Answer::Timeout,
                Err(e) => return Answer::Broken(error_chain(&e)),
            };
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            let mut resp = resp;
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if body.len() < MAX_BODY {
                            body.extend_from_slice(&c);
                        }
                    }
                    Ok(None) => break,
                    Err(e) if e.is_timeout() => return Answer::Timeout,
                    Err(e) => return Answer::Broken(error_chain(&e)),
                }
            }
            Answer::Response(Resp {
                status,
                headers,
                body,
            })
        })
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, FuzzError> {
    reqwest::Client::builder()
        .timeout(timeout)
        // Pool reuse keeps throughput honest on loopback (see `Client::send` for how a
        // connection the server dropped is told apart from a request that broke it).
        .pool_max_idle_per_host(4)
        .build()
        .map_err(|e| FuzzError::Config(e.to_string()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
