//! The one HTTP client of the harness, bounded in time and size, recording a transcript of
//! every exchange with credentials redacted. Layered one way: [`client`] (the [`Http`] client:
//! reqwest, redirects, retries, the token flow) uses [`auth`] (credentials, challenges, scopes,
//! redaction), `raw` (deliberately malformed requests over plain sockets) and [`tls`]
//! (certificate checks); this module holds what they all share: the request, the recorded
//! exchange and the typed transport failure.

pub mod auth;
pub mod client;
pub mod created;
mod raw;
pub mod tls;

pub use auth::{Challenge, Credentials, RequestAuth};
pub use client::{retry_wait, Http};
pub use tls::TlsOptions;

use auth::redact_header;
use bytes::Bytes;
use serde::Serialize;

/// Bodies longer than this are shown truncated in transcripts (they are still checked whole).
const PREVIEW_BYTES: usize = 2048;

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
