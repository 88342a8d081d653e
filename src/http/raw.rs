//! Raw HTTP/1.1: a request written to the socket exactly as the case gives it (for malformed
//! requests a well-behaved client refuses to produce) and its one response read back.

use super::auth::redact_header;
use super::{has_header, BodySink, Exchange, Failed, Failure, Request};
use std::sync::Arc;

/// What a raw request needs from the client that sends it.
pub(super) struct RawClient<'a> {
    /// The run's TLS configuration with HTTP/1.1 as the only protocol.
    pub tls: &'a Arc<rustls::ClientConfig>,
    pub max_body: usize,
    pub kept_body: usize,
}

/// The `Authorization` the client decided a raw request carries: the header's value, and what
/// the transcript shows instead of it.
pub(super) type Authorization = Option<(String, String)>;

impl RawClient<'_> {
    pub(super) async fn send(
        &self,
        req: &Request,
        ex: &mut Exchange,
        authorization: Authorization,
    ) -> Result<(), Failed> {
        let url = reqwest::Url::parse(&req.url)
            .map_err(|e| (Failure::NotSent, format!("invalid URL: {e}")))?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err((
                    Failure::NotSent,
                    format!("raw requests need http or https, not {other}"),
                ))
            }
        };
        let host = url
            .host_str()
            .ok_or((Failure::NotSent, "URL without host".to_string()))?;
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
        if let Some((value, shown)) = authorization {
            head.push_str(&format!("Authorization: {value}\r\n"));
            ex.request_headers.push(("Authorization".into(), shown));
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
            .map_err(|e| {
                (
                    Failure::Connect,
                    format!("cannot connect to {host}:{port}: {e}"),
                )
            })?;
        if !tls {
            return self.raw_roundtrip(tcp, head, req, ex).await;
        }
        let config = self.tls.clone();
        let name =
            rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| (Failure::NotSent, format!("TLS server name `{host}`: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| (Failure::Tls, format!("TLS handshake failed: {e}")))?;
        self.raw_roundtrip(stream, head, req, ex).await
    }

    /// Writes `head` and the body as they are and reads one response off the connection.
    async fn raw_roundtrip<S>(
        &self,
        mut stream: S,
        head: String,
        req: &Request,
        ex: &mut Exchange,
    ) -> Result<(), Failed>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| (Failure::NoAnswer, format!("write failed: {e}")))?;
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
                Err(e) => {
                    return Err((
                        Failure::NoAnswer,
                        format!("connection broken before a response: {e}"),
                    ))
                }
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > limit {
                return Err((
                    Failure::TooLarge,
                    format!("response exceeds the {} byte limit", self.max_body),
                ));
            }
        }
        let (status, headers, body_start) = raw_parse_head(&buf).ok_or_else(|| {
            // Nothing at all is a closed connection; something else is not HTTP.
            let kind = if buf.is_empty() {
                Failure::NoAnswer
            } else {
                Failure::Malformed
            };
            (kind, "no complete HTTP response head received".to_string())
        })?;
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
            body = dechunk(&body).ok_or((
                Failure::Malformed,
                "malformed chunked response body".to_string(),
            ))?;
        } else if let Some(n) = content_length(&headers) {
            body.truncate(n);
        }
        let mut sink = BodySink::new(self.kept_body, Some(body.len() as u64));
        sink.push(&body);
        sink.finish(ex);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded_and_incomplete_ones_are_not() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"3\r\nab").is_none());
        assert!(dechunk(b"zz\r\n").is_none());
    }
}
