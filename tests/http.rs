//! The HTTP layer against purpose-built loopback servers: raw mode sends exactly what the case
//! wrote, credentials never follow a redirect to another host, and oversized answers are cut off.

use oci_conformance::engine::Engine;
use oci_conformance::http::{Credentials, Failure, Http, Request};
use oci_conformance::repository::CaseContext;
use oci_conformance::results::Outcome;
use oci_conformance::spec::Suite;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Serves one canned response per connection and hands over the raw request bytes it read
/// (until the client stops sending for 200 ms, or 1 MiB).
async fn recording_server(host: &str, response: Vec<u8>) -> (String, mpsc::Receiver<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut seen = Vec::new();
            let mut buf = [0u8; 8192];
            while seen.len() < 1 << 20 {
                match tokio::time::timeout(Duration::from_millis(200), sock.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let _ = sock.write_all(&response).await;
            let _ = sock.shutdown().await;
            let _ = tx.send(seen).await;
        }
    });
    (format!("http://{addr}"), rx)
}

fn request(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: vec![],
        body: None,
        raw: false,
        auth: Default::default(),
    }
}

#[tokio::test]
async fn raw_requests_go_out_byte_for_byte_with_the_lying_content_length() {
    let body = r#"{"errors":[{"code":"SIZE_INVALID","message":"length"}]}"#;
    let chunked = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let (url, mut seen) = recording_server("127.0.0.1", chunked.into_bytes()).await;

    let specs = tempfile::tempdir().unwrap();
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs/requirements.json");
    std::fs::copy(real, specs.path().join("requirements.json")).unwrap();
    std::fs::write(
        specs.path().join("raw.json"),
        r#"{"area":"raw","cases":[{"id":"push/raw/short-content-length","workflow":"push",
        "title":"t","requirements":["R-001"],"level":"MUST","steps":[{"request":{
          "method":"PUT","path":"/v2/${repo}/blobs/uploads/x","raw":true,
          "query":[["digest","sha256:0000000000000000000000000000000000000000000000000000000000000000"]],
          "headers":{"Content-Length":"3","Content-Type":"application/octet-stream"},
          "body":{"text":"hello"}},
          "expect":{"status":[400],"error_codes":["SIZE_INVALID"]}}]}]}"#,
    )
    .unwrap();
    let engine = Engine {
        http: Http::new(&url, Duration::from_secs(5), 1 << 20, None).unwrap(),
        ctx: CaseContext {
            namespace: "t".into(),
            namespace2: "t".into(),
            run_id: "r".into(),
            seed: 1,
            layout: Default::default(),
            spec_version: oci_conformance::spec::SpecVersion::Dev,
        },
        suite: Arc::new(Suite::load(specs.path()).unwrap()),
    };
    let (f, c) = &engine.suite.cases[0];
    let r = engine.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);

    let sent = String::from_utf8(seen.recv().await.unwrap()).unwrap();
    assert!(sent.starts_with("PUT /v2/t/"), "{sent}");
    assert!(sent.contains("?digest=sha256%3A0000") || sent.contains("?digest=sha256:0000"));
    assert_eq!(sent.matches("Content-Length").count(), 1, "{sent}");
    assert!(sent.contains("Content-Length: 3\r\n"), "{sent}");
    assert!(sent.ends_with("\r\n\r\nhello"), "{sent}");
}

#[tokio::test]
async fn raw_mode_against_a_hanging_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((_sock, _)) = listener.accept().await else {
            return;
        };
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let http = Http::new(
        &format!("http://{addr}"),
        Duration::from_millis(300),
        1 << 20,
        None,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut req = request(format!("http://{addr}/v2/"));
    req.raw = true;
    let ex = http.send(req).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(ex.failure, Some(Failure::Timeout), "{:?}", ex.error);
    assert!(ex.error.unwrap().contains("timed out"));
}

/// Callers (the fuzzer's retry, the run's stop after timeouts) act on the kind of a failure, so
/// each kind is told apart by what happened, in both client modes, not by the error's text.
#[tokio::test]
async fn transport_failures_have_a_kind() {
    async fn send(http: &Http, url: &str, raw: bool) -> oci_conformance::http::Exchange {
        let mut req = request(format!("{url}/v2/"));
        req.raw = raw;
        http.send(req).await
    }

    // Nothing listens on the port: no connection.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // Accepts and hangs: a timeout.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hanging.accept().await {
            held.push(sock);
        }
    });
    // Only the hanging server needs a short timeout; the others get a long one, so that on a
    // loaded machine a slow answer is not taken for a timeout (each must fail for its own reason).
    let client = |url: &str| {
        let timeout = if url == hanging_url.as_str() {
            500
        } else {
            10_000
        };
        Http::new(url, Duration::from_millis(timeout), 1 << 20, None).unwrap()
    };
    // Closes without a byte: no answer. Promises 100 bytes and sends 5: broken.
    let (silent_url, _s) = recording_server("127.0.0.1", Vec::new()).await;
    let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello".to_vec();
    let (cut_url, _c) = recording_server("127.0.0.1", cut).await;
    let garbage = b"SSH-2.0-OpenSSH\r\n\r\n".to_vec();
    let (garbage_url, _g) = recording_server("127.0.0.1", garbage).await;

    for raw in [false, true] {
        let kind = |ex: &oci_conformance::http::Exchange| (ex.failure, ex.error.clone());
        let ex = send(&client(&closed_url), &closed_url, raw).await;
        assert_eq!(
            ex.failure,
            Some(Failure::Connect),
            "raw {raw}: {:?}",
            kind(&ex)
        );
        let ex = send(&client(&hanging_url), &hanging_url, raw).await;
        assert_eq!(
            ex.failure,
            Some(Failure::Timeout),
            "raw {raw}: {:?}",
            kind(&ex)
        );
        assert!(ex.timed_out());
        let ex = send(&client(&silent_url), &silent_url, raw).await;
        assert_eq!(
            ex.failure,
            Some(Failure::NoAnswer),
            "raw {raw}: {:?}",
            kind(&ex)
        );
        assert!(!ex.timed_out());
        // TLS to a server that closes, or answers in another protocol, fails in the handshake.
        for plain in [&silent_url, &garbage_url] {
            let https = plain.replace("http://", "https://");
            let ex = send(&client(&https), &https, raw).await;
            assert_eq!(ex.failure, Some(Failure::Tls), "raw {raw}: {:?}", kind(&ex));
        }
    }
    let ex = send(&client(&cut_url), &cut_url, false).await;
    assert_eq!(ex.failure, Some(Failure::Broken), "{:?}", ex.error);
    let ex = send(&client(&garbage_url), &garbage_url, true).await;
    assert_eq!(ex.failure, Some(Failure::Malformed), "{:?}", ex.error);
    // An answer is no failure.
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    let (ok_url, _o) = recording_server("127.0.0.1", ok).await;
    for raw in [false, true] {
        let ex = send(&client(&ok_url), &ok_url, raw).await;
        assert_eq!((ex.status, ex.failure), (Some(200), None), "{:?}", ex.error);
    }
}

#[tokio::test]
async fn authorization_is_not_forwarded_to_another_host_on_redirect() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    // 127.0.0.2 is loopback too, but another host as far as the client can tell.
    let (other, mut other_seen) = recording_server("127.0.0.2", ok.clone()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {other}/elsewhere\r\nContent-Length: 0\r\n\r\n"
    );
    let (first, mut first_seen) = recording_server("127.0.0.1", redirect.into_bytes()).await;
    let creds = Credentials {
        username: "user".into(),
        password: "s3cret".into(),
    };
    let http = Http::new(&first, Duration::from_secs(5), 1 << 20, Some(creds)).unwrap();
    let ex = http.send(request(format!("{first}/v2/"))).await;
    assert_eq!(ex.status, Some(200), "{:?}", ex.error);

    let to_first = String::from_utf8(first_seen.recv().await.unwrap()).unwrap();
    assert!(
        to_first
            .to_ascii_lowercase()
            .contains("authorization: basic"),
        "{to_first}"
    );
    let to_other = String::from_utf8(other_seen.recv().await.unwrap()).unwrap();
    assert!(to_other.starts_with("GET /elsewhere"), "{to_other}");
    assert!(
        !to_other.to_ascii_lowercase().contains("authorization"),
        "{to_other}"
    );
    // And the transcript never holds the password.
    let transcript = serde_json::to_string(&ex).unwrap();
    assert!(!transcript.contains("s3cret") && !transcript.contains("dXNlcjpzM2NyZXQ"));
}

#[tokio::test]
async fn an_oversized_response_is_an_error_not_an_allocation() {
    let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 3_000_000));
    let (url, _seen) = recording_server("127.0.0.1", big).await;
    let http = Http::new(&url, Duration::from_secs(5), 1 << 20, None).unwrap();
    let ex = http.send(request(format!("{url}/v2/"))).await;
    assert_eq!(ex.failure, Some(Failure::TooLarge));
    let err = ex.error.expect("must fail");
    assert!(err.contains("limit"), "{err}");
    assert!(ex.body.len() <= 1 << 20);

    let mut req = request(format!("{url}/v2/"));
    req.raw = true;
    let ex = http.send(req).await;
    assert_eq!(ex.failure, Some(Failure::TooLarge));
    assert!(ex.error.expect("raw must fail too").contains("limit"));
}

/// A registry behind the Docker token flow: `/token` hands out `tok-1` for Basic user:s3cret,
/// everything else wants `Bearer tok-1` and challenges otherwise. One request per connection.
async fn token_registry() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (b, f) = (base.clone(), fetches.clone());
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match sock.read(&mut buf).await {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let auth = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .map(|l| l[14..].trim().to_string())
                .unwrap_or_default();
            let response = if head.starts_with("GET /token?") {
                f.fetch_add(1, Ordering::SeqCst);
                let scoped = head.contains("scope=repository%3Ans%2Fr%3Apull");
                if auth == "Basic dXNlcjpzM2NyZXQ=" && scoped {
                    let body = r#"{"token":"tok-1"}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .into()
                }
            } else if auth == "Bearer tok-1" {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into()
            } else {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{b}/token\",\
                     service=\"test\",scope=\"repository:ns/r:pull\"\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                )
            };
            let _ = sock.write_all(response.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (base, fetches)
}

#[tokio::test]
async fn bearer_token_flow_fetches_once_per_repository_and_never_records_secrets() {
    let (base, fetches) = token_registry().await;
    let creds = Credentials {
        username: "user".into(),
        password: "s3cret".into(),
    };
    let http = Http::new(&base, Duration::from_secs(5), 1 << 20, Some(creds)).unwrap();
    let url = format!("{base}/v2/ns/r/manifests/v1");
    let ex = http.send(request(url.clone())).await;
    assert_eq!(ex.status, Some(200), "{:?}", ex.error);
    assert_eq!(&ex.body[..], b"ok");
    let ex2 = http.send(request(url)).await;
    assert_eq!(ex2.status, Some(200));
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the token is reused for the same repository"
    );
    for e in [&ex, &ex2] {
        let text = serde_json::to_string(e).unwrap();
        assert!(
            !text.contains("tok-1") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(oci_conformance::report::curl_line(e).contains("$OCI_TOKEN"));
    }

    // Wrong credentials: the token service refuses, and the message says so.
    let bad = Credentials {
        username: "user".into(),
        password: "wrong".into(),
    };
    let http = Http::new(&base, Duration::from_secs(5), 1 << 20, Some(bad)).unwrap();
    let ex = http
        .send(request(format!("{base}/v2/ns/r/manifests/v1")))
        .await;
    assert!(ex.error.unwrap().contains("token request failed"));
}
