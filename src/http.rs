//! The one HTTP client of the harness: bounded in time and size, recording a transcript of
//! every exchange with credentials redacted.

use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
    timeout: Duration,
    /// Bearer tokens from the registry's token service, by repository, so that only the first
    /// request to a repository pays the 401 round trip.
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

/// A request about to be sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// Send over a plain TCP socket exactly as written (no Content-Length computed), for
    /// deliberately malformed requests that a well-behaved HTTP client refuses to produce.
    pub raw: bool,
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
            timeout,
            tokens: Arc::default(),
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
        let result = if req.raw {
            match tokio::time::timeout(self.timeout, self.send_raw(&req, &mut ex)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "timed out after {} s (raw request)",
                    self.timeout.as_secs_f64()
                )),
            }
        } else {
            self.send_inner(&req, &mut ex).await
        };
        if let Err(e) = result {
            ex.error = Some(e);
        }
        ex.elapsed_ms = started.elapsed().as_millis() as u64;
        ex
    }

    /// Sends once; on a `401` with a `Bearer` challenge (the Docker token flow both official
    /// suites implement) fetches a token from the realm and sends once more with it.
    async fn send_inner(&self, req: &Request, ex: &mut Exchange) -> Result<(), String> {
        let repo = repository_of(&req.url);
        let cached = repo
            .as_ref()
            .and_then(|r| self.tokens.lock().expect("token cache").get(r).cloned());
        let original_headers = ex.request_headers.clone();
        self.send_once(req, ex, cached.as_deref()).await?;
        if ex.status != Some(401) {
            return Ok(());
        }
        let Some(challenge) = ex
            .response_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .find_map(|(_, v)| bearer_challenge(v))
        else {
            return Ok(());
        };
        let token = self.fetch_token(&challenge).await.map_err(|e| {
            format!("got 401 with a Bearer challenge, but the token request failed: {e}")
        })?;
        if let Some(r) = repo {
            self.tokens
                .lock()
                .expect("token cache")
                .insert(r, token.clone());
        }
        ex.request_headers = original_headers;
        ex.status = None;
        ex.response_headers.clear();
        ex.response_body = None;
        ex.body = Bytes::new();
        self.send_once(req, ex, Some(&token)).await
    }

    async fn fetch_token(&self, ch: &Challenge) -> Result<String, String> {
        let mut url =
            reqwest::Url::parse(&ch.realm).map_err(|e| format!("realm `{}`: {e}", ch.realm))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &ch.service {
                q.append_pair("service", s);
            }
            for scope in &ch.scopes {
                q.append_pair("scope", scope);
            }
        }
        let mut rb = self.client.get(url.clone());
        if let Some(c) = &self.credentials {
            rb = rb.basic_auth(&c.username, Some(&c.password));
        }
        let mut resp = rb.send().await.map_err(describe_reqwest_error)?;
        if !resp.status().is_success() {
            return Err(format!("{} answered {}", url.path(), resp.status()));
        }
        let mut body = Vec::new();
        // Token answers are small; a huge one is hostile.
        while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest_error)? {
            if body.len() + chunk.len() > 1 << 20 {
                return Err("token answer exceeds 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "token answer is not JSON".to_string())?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(String::from)
            .ok_or_else(|| "token answer has no `token` or `access_token`".into())
    }

    async fn send_once(
        &self,
        req: &Request,
        ex: &mut Exchange,
        bearer: Option<&str>,
    ) -> Result<(), String> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", req.method))?;
        let url = reqwest::Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
        let mut rb = self.client.request(method, url);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let case_auth = req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(t), false) = (bearer, case_auth) {
            rb = rb.bearer_auth(t);
            ex.request_headers
                .push(("Authorization".into(), "Bearer $OCI_TOKEN".into()));
        } else if let Some(c) = &self.credentials {
            if !case_auth {
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

impl Http {
    async fn send_raw(&self, req: &Request, ex: &mut Exchange) -> Result<(), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = reqwest::Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
        if url.scheme() != "http" {
            return Err("raw requests need a plain http:// registry (no TLS in raw mode)".into());
        }
        let host = url.host_str().ok_or("URL without host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, target);
        let has = |name: &str| {
            req.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", url.authority()));
            ex.request_headers
                .push(("Host".into(), url.authority().into()));
        }
        for (k, v) in &req.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(c) = &self.credentials {
            if !has("authorization") {
                let token = base64(format!("{}:{}", c.username, c.password).as_bytes());
                head.push_str(&format!("Authorization: Basic {token}\r\n"));
                ex.request_headers
                    .push(("Authorization".into(), "Basic $OCI_CREDENTIALS".into()));
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
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        if let Some(b) = &req.body {
            // A server may answer (and close) before reading a lying body: not an error here.
            let _ = stream.write_all(b).await;
        }
        let _ = stream.flush().await;
        let limit = self.max_body + 64 * 1024;
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
        ex.response_body = if body.is_empty() {
            None
        } else {
            Some(preview(&body))
        };
        ex.body = body.into();
        Ok(())
    }
}

/// `/v2/<name>/(blobs|manifests|tags|referrers)/…` → `<name>`: the unit registries scope
/// tokens to.
fn repository_of(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_string();
    let rest = path.strip_prefix("/v2/")?;
    for marker in ["/blobs/", "/manifests/", "/tags/", "/referrers/"] {
        if let Some(i) = rest.find(marker) {
            return Some(rest[..i].to_string()).filter(|n| !n.is_empty());
        }
    }
    None
}

#[derive(Debug, PartialEq)]
struct Challenge {
    realm: String,
    service: Option<String>,
    scopes: Vec<String>,
}

/// `Bearer realm="…",service="…",scope="repository:a:pull,push"`: quoted values may hold commas.
fn bearer_challenge(header: &str) -> Option<Challenge> {
    let (scheme, mut rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
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
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = next;
    }
    Some(Challenge {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scopes: params
            .remove("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
    })
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

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn bearer_challenges_and_token_scopes() {
        let c = bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("reg"));
        assert_eq!(c.scopes, vec!["repository:a/b:pull,push"]);
        assert!(bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(bearer_challenge(r#"Bearer service="no-realm""#).is_none());
        assert!(bearer_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert_eq!(
            repository_of("http://h/v2/a/b/blobs/uploads/x").as_deref(),
            Some("a/b")
        );
        assert_eq!(repository_of("http://h/v2/").as_deref(), None);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
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
