//! The one HTTP client of the harness: bounded in time and size, recording a transcript of
//! every exchange with credentials redacted.

use bytes::Bytes;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Bodies longer than this are shown truncated in transcripts (they are still checked whole).
const PREVIEW_BYTES: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL `{0}`: {1}")]
    Url(String, String),
    #[error("cannot build HTTP client: {0}")]
    Client(String),
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
    credentials: Option<Credentials>,
}

/// A request about to be sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

/// One request and what came back (or why nothing did).
#[derive(Debug, Clone, Serialize)]
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
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Http {
    pub fn new(
        base: &str,
        timeout: Duration,
        max_body: usize,
        credentials: Option<Credentials>,
    ) -> Result<Http, HttpError> {
        let base = parse_base(base)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(64)
            // reqwest drops Authorization on cross-host redirects, as the spec requires of clients.
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("oci-conformance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(Http {
            client,
            base,
            max_body,
            credentials,
        })
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

    pub async fn send(&self, req: Request) -> Exchange {
        let started = Instant::now();
        let mut ex = Exchange {
            method: req.method.clone(),
            url: req.url.clone(),
            request_headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), redact_header(k, v)))
                .collect(),
            request_body: req.body.as_ref().map(|b| preview(b)),
            request_bytes: req.body.clone(),
            status: None,
            response_headers: vec![],
            response_body: None,
            body: Bytes::new(),
            error: None,
            elapsed_ms: 0,
        };
        let result = self.send_inner(&req, &mut ex).await;
        if let Err(e) = result {
            ex.error = Some(e);
        }
        ex.elapsed_ms = started.elapsed().as_millis() as u64;
        ex
    }

    async fn send_inner(&self, req: &Request, ex: &mut Exchange) -> Result<(), String> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", req.method))?;
        let url = reqwest::Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
        let mut rb = self.client.request(method, url);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(c) = &self.credentials {
            if !req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            {
                rb = rb.basic_auth(&c.username, Some(&c.password));
                ex.request_headers
                    .push(("Authorization".into(), "Basic $OCI_CREDENTIALS".into()));
            }
        }
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        }
        let mut resp = rb.send().await.map_err(describe_reqwest_error)?;
        ex.status = Some(resp.status().as_u16());
        if resp.url().as_str() != req.url {
            ex.url = format!("{} (redirected to {})", req.url, resp.url());
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
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_body {
                        return Err(format!(
                            "response body exceeds the {} byte limit",
                            self.max_body
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    ex.body = body.into();
                    return Err(format!(
                        "connection broken while reading the body: {}",
                        describe_reqwest_error(e)
                    ));
                }
            }
        }
        ex.response_body = if body.is_empty() {
            None
        } else {
            Some(preview(&body))
        };
        ex.body = body.into();
        Ok(())
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

fn preview(b: &[u8]) -> String {
    let shown = &b[..b.len().min(PREVIEW_BYTES)];
    let text = match std::str::from_utf8(shown) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') =>
        {
            s.to_string()
        }
        _ => format!("<{} bytes of binary data>", b.len()),
    };
    if b.len() > PREVIEW_BYTES && !text.starts_with('<') {
        format!("{text}… <{} bytes in all>", b.len())
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
    fn credentials_are_redacted() {
        assert_eq!(
            redact_header("Authorization", "Bearer abc.def"),
            "Bearer <redacted>"
        );
        assert_eq!(redact_header("Location", "/v2/x"), "/v2/x");
    }
}
