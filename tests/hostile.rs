//! The harness against registries that misbehave on purpose, each test named after what went
//! wrong before: credentials sent to other hosts, control bytes printed raw, runs that took as
//! long as a hanging registry wanted.

mod support;

use oci_conformance::engine::Engine;
use oci_conformance::http::{Credentials, Http, Request, TlsOptions};
use oci_conformance::repository::CaseContext;
use oci_conformance::results::Outcome;
use oci_conformance::spec::Suite;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Request heads a server read, in order.
type Seen = Arc<Mutex<Vec<String>>>;
type Answer = Arc<dyn Fn(&str) -> String + Send + Sync>;

const USER: &str = "user";
const PASSWORD: &str = "pw-hostile-5e1f";

fn creds() -> Credentials {
    Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

fn basic() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    )
}

/// The value of header `name` in a request head, or "".
fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn reply(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one request (head, then a Content-Length body), records the head, writes the answer.
async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, answer: Answer, seen: Seen) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(n) if n > 0 && buf.len() < 1 << 20 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut left = header(&head, "content-length")
        .parse::<usize>()
        .unwrap_or(0)
        .saturating_sub(buf.len() - head_end);
    while left > 0 {
        match sock.read(&mut chunk).await {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
    seen.lock().unwrap().push(head.clone());
    let answer = answer(&head);
    if answer.is_empty() {
        // Hangs: holds the connection and never answers.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let _ = sock.write_all(answer.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A server on `host` (any loopback address) answering every request with `make(base)`'s
/// answer to its head (an empty answer: it never answers); one request per connection.
async fn serve<F>(host: &str, make: impl FnOnce(String) -> F) -> (String, Seen)
where
    F: Fn(&str) -> String + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer: Answer = Arc::new(make(base.clone()));
    let seen = Seen::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(handle(sock, answer.clone(), s.clone()));
        }
    });
    (base, seen)
}

/// Like [`serve`] on 127.0.0.1, but one port speaks both HTTPS (answered by `tls`) and plain
/// HTTP (answered by `plain`), told apart by the first byte (a TLS handshake starts with 0x16).
/// Returns the port, the CA file that signed its certificate, and the plain requests' heads.
async fn serve_both(
    dir: &std::path::Path,
    tls: impl Fn(&str, u16) -> String + Send + Sync + 'static,
    plain: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (u16, PathBuf, Seen) {
    use rustls_pki_types::pem::PemObject;
    let (ca, cert, key) = support::test_ca(dir);
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls: Answer = Arc::new(move |h: &str| tls(h, port));
    let plain: Answer = Arc::new(plain);
    let seen = Seen::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (tls, plain, s, acceptor) =
                (tls.clone(), plain.clone(), s.clone(), acceptor.clone());
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                if sock.peek(&mut first).await.is_err() {
                    return;
                }
                if first[0] == 0x16 {
                    if let Ok(stream) = acceptor.accept(sock).await {
                        handle(stream, tls, Seen::default()).await;
                    }
                } else {
                    handle(sock, plain, s).await;
                }
            });
        }
    });
    (port, ca, seen)
}

fn get(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        ..Request::default()
    }
}

/// A spec directory with the real catalog and `cases` (a JSON array) as its only cases.
fn spec_dir(cases: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("specs/requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        format!(r#"{{"area":"x","cases":{cases}}}"#),
    )
    .unwrap();
    dir
}

fn engine(http: Http, specs: &std::path::Path) -> Engine {
    Engine {
        http,
        ctx: CaseContext {
            namespace: "t".into(),
            namespace2: "t".into(),
            run_id: "r".into(),
            seed: 1,
            layout: Default::default(),
            spec_version: oci_conformance::spec::SpecVersion::Dev,
        },
        suite: Arc::new(Suite::load(specs).unwrap()),
    }
}

const PUSH_CASE: &str = r#"[{"id":"x/push","workflow":"push","title":"t","requirements":["R-001"],
    "level":"MUST","content":{"b":{"blob":{"size":64}}},"steps":[{"push":"b"}]}]"#;

/// A storage front-end on 127.0.0.2 (loopback, but another host to any client) that takes
/// uploads without asking for credentials.
async fn storage() -> (String, Seen) {
    serve("127.0.0.2", |_| {
        |_: &str| reply("201 Created", "Location: /v2/t/r/x/push/blobs/x\r\n", "")
    })
    .await
}

#[tokio::test]
async fn an_upload_location_on_another_host_got_the_basic_credentials() {
    let (store, store_seen) = storage().await;
    let (registry, registry_seen) = serve("127.0.0.1", move |_| {
        move |head: &str| {
            if header(head, "authorization") != basic() {
                reply(
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"r\"\r\n",
                    "",
                )
            } else {
                reply(
                    "202 Accepted",
                    &format!("Location: {store}/upload/1?state=x\r\n"),
                    "",
                )
            }
        }
    })
    .await;
    let specs = spec_dir(PUSH_CASE);
    let http = Http::new(&registry, Duration::from_secs(5), 1 << 20, Some(creds())).unwrap();
    let e = engine(http, specs.path());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);

    let to_registry = registry_seen.lock().unwrap().clone();
    assert!(to_registry[0].starts_with("POST "), "{to_registry:?}");
    assert_eq!(header(&to_registry[0], "authorization"), basic());
    let to_store = store_seen.lock().unwrap().clone();
    assert_eq!(to_store.len(), 1, "{to_store:?}");
    assert!(to_store[0].starts_with("PUT /upload/1?state=x&digest="));
    assert_eq!(header(&to_store[0], "authorization"), "", "{}", to_store[0]);
    // The transcript says why the PUT went without credentials, and shows none.
    let put = r.transcript.iter().find(|x| x.method == "PUT").unwrap();
    assert!(put.notes.iter().any(|n| n.contains("credentials withheld")));
    assert!(!put
        .request_headers
        .iter()
        .any(|(k, _)| k == "Authorization"));
}

#[tokio::test]
async fn an_upload_location_on_another_host_got_the_bearer_token() {
    let (store, store_seen) = storage().await;
    let (registry, _) = serve("127.0.0.1", move |base| {
        move |head: &str| {
            let auth = header(head, "authorization");
            if head.starts_with("GET /token?") {
                if auth == basic() {
                    reply("200 OK", "", r#"{"token":"tok-hostile-1"}"#)
                } else {
                    reply("401 Unauthorized", "", "")
                }
            } else if auth != "Bearer tok-hostile-1" {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"{base}/token\",service=\"t\",\
                     scope=\"repository:t/r/x/push:pull,push\"\r\n"
                );
                reply("401 Unauthorized", &challenge, "")
            } else {
                reply(
                    "202 Accepted",
                    &format!("Location: {store}/upload/1\r\n"),
                    "",
                )
            }
        }
    })
    .await;
    let specs = spec_dir(PUSH_CASE);
    let http = Http::new(&registry, Duration::from_secs(5), 1 << 20, Some(creds())).unwrap();
    let e = engine(http, specs.path());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);
    let to_store = store_seen.lock().unwrap().clone();
    assert_eq!(to_store.len(), 1, "{to_store:?}");
    assert_eq!(header(&to_store[0], "authorization"), "", "{}", to_store[0]);
}

#[test]
fn the_fuzzer_sent_credentials_to_another_host() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, store_seen) = rt.block_on(storage());
    let (registry, registry_seen) =
        rt.block_on(serve("127.0.0.1", |_| |_: &str| reply("200 OK", "", "")));
    let mut client = oci_conformance::fuzz::http::Client::new(
        &registry,
        Duration::from_secs(5),
        None,
        Some(creds()),
        TlsOptions::default(),
    )
    .unwrap();
    let ping = client.send(oci_conformance::fuzz::http::Req::new("GET", "/v2/"));
    assert_eq!(ping.status(), Some(200));
    let put = client.send(oci_conformance::fuzz::http::Req::new(
        "PUT",
        format!("{store}/upload/1"),
    ));
    assert_eq!(put.status(), Some(201));
    assert_eq!(
        header(&registry_seen.lock().unwrap()[0], "authorization"),
        basic()
    );
    let to_store = store_seen.lock().unwrap()[0].clone();
    assert_eq!(header(&to_store, "authorization"), "", "{to_store}");
}

#[tokio::test]
async fn a_redirect_from_https_to_http_on_the_same_port_kept_the_credentials() {
    // reqwest drops Authorization when the host or port changes, not when only the scheme
    // does: the password went out in clear text.
    let dir = tempfile::tempdir().unwrap();
    let (port, ca, plain_seen) = serve_both(
        dir.path(),
        |_, port| {
            reply(
                "307 Temporary Redirect",
                &format!("Location: http://127.0.0.1:{port}/v2/elsewhere\r\n"),
                "",
            )
        },
        |_| reply("200 OK", "", "ok"),
    )
    .await;
    let tls = TlsOptions {
        insecure: false,
        ca_cert: Some(ca),
    };
    let base = format!("https://127.0.0.1:{port}");
    let http = Http::with_tls(&base, Duration::from_secs(5), 1 << 20, Some(creds()), tls).unwrap();
    let ex = http.send(get(format!("{base}/v2/"))).await;
    assert_eq!(ex.status, Some(200), "{:?}", ex.error);
    let plain = plain_seen.lock().unwrap()[0].clone();
    assert!(plain.starts_with("GET /v2/elsewhere"), "{plain}");
    assert_eq!(header(&plain, "authorization"), "", "{plain}");
    assert!(
        ex.notes.iter().any(|n| n.contains("307"))
            && ex.notes.iter().any(|n| n.contains("credentials withheld")),
        "{:?}",
        ex.notes
    );
}

#[tokio::test]
async fn a_redirect_back_to_the_registry_carries_the_credentials_again() {
    // registry -> another host -> registry: the registry's own origin gets them on the last hop.
    let (registry, registry_seen) = serve("127.0.0.1", |_| {
        |head: &str| {
            if head.starts_with("GET /v2/final") && header(head, "authorization") == basic() {
                reply("200 OK", "", "ok")
            } else if head.starts_with("GET /v2/final") {
                reply(
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"r\"\r\n",
                    "",
                )
            } else {
                reply("200 OK", "", "")
            }
        }
    })
    .await;
    let r = registry.clone();
    let (other, other_seen) = serve("127.0.0.2", move |_| {
        move |_: &str| reply("302 Found", &format!("Location: {r}/v2/final\r\n"), "")
    })
    .await;
    let http = Http::new(&registry, Duration::from_secs(5), 1 << 20, Some(creds())).unwrap();
    let ex = http.send(get(format!("{other}/v2/start"))).await;
    assert_eq!(ex.status, Some(200), "{:?} {:?}", ex.error, ex.notes);
    assert_eq!(header(&other_seen.lock().unwrap()[0], "authorization"), "");
    assert_eq!(
        header(
            registry_seen.lock().unwrap().last().unwrap(),
            "authorization"
        ),
        basic()
    );
}

#[tokio::test]
async fn a_plain_http_token_realm_of_an_https_registry_got_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (realm, realm_seen) = serve("127.0.0.1", |_| {
        |_: &str| reply("200 OK", "", r#"{"token":"tok-hostile-2"}"#)
    })
    .await;
    let (port, ca, _) = serve_both(
        dir.path(),
        move |head, _| {
            if header(head, "authorization") == "Bearer tok-hostile-2" {
                reply("200 OK", "", "ok")
            } else {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"{realm}/token\",service=\"t\",\
                     scope=\"repository:ns/r:pull\"\r\n"
                );
                reply("401 Unauthorized", &challenge, "")
            }
        },
        |_| reply("400 Bad Request", "", ""),
    )
    .await;
    let base = format!("https://127.0.0.1:{port}");
    let url = format!("{base}/v2/ns/r/manifests/v1");
    let verified = TlsOptions {
        insecure: false,
        ca_cert: Some(ca),
    };
    let http = Http::with_tls(
        &base,
        Duration::from_secs(5),
        1 << 20,
        Some(creds()),
        verified,
    )
    .unwrap();
    let ex = http.send(get(url.clone())).await;
    let err = ex.error.clone().unwrap_or_default();
    assert!(
        err.contains("clear text") && err.contains("--insecure"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert!(
        realm_seen.lock().unwrap().is_empty(),
        "the realm got a request"
    );

    // --insecure says otherwise: the flow goes through.
    let insecure = TlsOptions {
        insecure: true,
        ca_cert: None,
    };
    let http = Http::with_tls(
        &base,
        Duration::from_secs(5),
        1 << 20,
        Some(creds()),
        insecure,
    )
    .unwrap();
    let ex = http.send(get(url)).await;
    assert_eq!(ex.status, Some(200), "{:?}", ex.error);
    assert_eq!(
        header(&realm_seen.lock().unwrap()[0], "authorization"),
        basic()
    );
}

fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_oci-conformance"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OCI_") {
            c.env_remove(k);
        }
    }
    c.env("OCI_CONFORMANCE_NO_PROGRESS", "1");
    c
}

/// Control characters a terminal acts on: C0 but line feed, DEL, C1 (CSI is U+009B).
fn terminal_controls(s: &str) -> Vec<char> {
    s.chars().filter(|c| c.is_control() && *c != '\n').collect()
}

#[test]
fn error_codes_and_messages_with_escape_sequences_reached_the_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _) = rt.block_on(serve("127.0.0.1", |_| {
        |head: &str| {
            if head.starts_with("GET /v2/ ") {
                return reply("200 OK", "", "{}");
            }
            // Clear the screen, retitle the window, ring the bell, return to the line start.
            let body = r#"{"errors":[{"code":"\u001b]0;owned\u0007\u001b[2J","message":"\u001b[31mred\r\u009b1mover"}]}"#;
            reply(
                "400 Bad Request",
                "Content-Type: application/json\r\nX-Why: \u{9b}31m\r\n",
                body,
            )
        }
    }));
    let specs = spec_dir(
        r#"[{"id":"x/missing","workflow":"pull","title":"t","requirements":["R-022"],"level":"MUST",
        "steps":[{"request":{"path":"/v2/${repo}/manifests/nope"},
                  "expect":{"status":[404],"error_codes":["MANIFEST_UNKNOWN"]}}]},
        {"id":"x/code","workflow":"pull","title":"t","requirements":["R-022"],"level":"MUST",
        "steps":[{"request":{"path":"/v2/${repo}/manifests/nope"},
                  "expect":{"status":[400],"error_codes":["MANIFEST_UNKNOWN"],
                            "headers":{"X-Why":{"equals":"no"}}}}]}]"#,
    );
    let reports = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--url", &url, "--report-dir"])
        .arg(reports.path())
        .env("OCI_CONFORMANCE_SPECS", specs.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAIL x/code"), "{stderr}");
    assert!(terminal_controls(&stdout).is_empty(), "{stdout:?}");
    assert!(terminal_controls(&stderr).is_empty(), "{stderr:?}");
    // Shown, not swallowed: the reader still sees what the registry sent.
    assert!(
        stderr.contains("\\x1b[2J") && stderr.contains("\\x9b"),
        "{stderr}"
    );
    for f in ["report.html", "junit.xml"] {
        let text = std::fs::read_to_string(reports.path().join(f)).unwrap();
        let controls: Vec<char> = terminal_controls(&text)
            .into_iter()
            .filter(|c| *c != '\t' && *c != '\r')
            .collect();
        assert!(controls.is_empty(), "{f}: {controls:?}");
    }
}

/// `n` cases that each GET one manifest.
fn manifest_cases(n: usize) -> tempfile::TempDir {
    let cases: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"x/get-{i}","workflow":"pull","title":"t","requirements":["R-022"],
                "level":"MUST","steps":[{{"request":{{"path":"/v2/${{repo}}/manifests/nope"}},
                "expect":{{"status":[404]}}}}]}}"#
            )
        })
        .collect();
    spec_dir(&format!("[{}]", cases.join(",")))
}

/// Runs the binary against a registry that answers `GET /v2/` and then hangs; returns the exit
/// code, stderr, the results JSON and how long the run took.
fn run_against_a_hanging_registry(args: &[&str]) -> (i32, String, serde_json::Value, Duration) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _) = rt.block_on(serve("127.0.0.1", |_| {
        |head: &str| {
            if head.starts_with("GET /v2/ ") {
                reply("200 OK", "", "{}")
            } else {
                String::new()
            }
        }
    }));
    let specs = manifest_cases(12);
    let reports = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = bin()
        .args(["run", "--url", &url, "--jobs", "2", "--report-dir"])
        .arg(reports.path())
        .args(args)
        .env("OCI_CONFORMANCE_SPECS", specs.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let results = std::fs::read_to_string(reports.path().join("results.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out.status.code().unwrap_or(-1), stderr, results, took)
}

fn outcomes(results: &serde_json::Value) -> Vec<(String, String)> {
    results["cases"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["outcome"].as_str().unwrap_or("").to_string(),
                        c["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_registry_that_hangs_after_the_ping_held_the_run_for_every_timeout() {
    // 12 cases, 2 at a time, 2 s each: 12 s without the stop, about 4 with it.
    let (code, stderr, results, took) =
        run_against_a_hanging_registry(&["--timeout", "2", "--stop-after-timeouts", "3"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr.contains("cases not run (reported as errors): the run stopped early: 3 requests in a row timed out"), "{stderr}");
    // One line for the cases not run, not one each.
    let fail_lines = stderr.lines().filter(|l| l.starts_with("FAIL")).count();
    assert!(fail_lines <= 6, "{stderr}");
    let all = outcomes(&results);
    assert_eq!(all.len(), 12, "{results}");
    let not_run: Vec<_> = all
        .iter()
        .filter(|(o, m)| o == "error" && m.contains("not run: the run stopped early"))
        .collect();
    assert!(not_run.len() >= 6, "{all:?}");
    // The ones that did time out say so.
    assert!(all
        .iter()
        .all(|(o, m)| (o == "fail" && m.contains("timed out")) || o == "error"));
}

#[test]
fn a_hanging_registry_kept_the_run_going_past_any_deadline() {
    let (code, stderr, results, took) = run_against_a_hanging_registry(&[
        "--timeout",
        "60",
        "--stop-after-timeouts",
        "0",
        "--deadline",
        "2",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let all = outcomes(&results);
    assert_eq!(all.len(), 12, "{results}");
    for (o, m) in &all {
        assert_eq!(o, "error", "{m}");
        assert!(m.contains("--deadline 2 s"), "{m}");
    }
}

/// A registry whose every answer is 200 with a body of `size` bytes of `a` (and its digest, as
/// a blob GET carries on main).
async fn big_bodies(size: usize) -> String {
    serve("127.0.0.1", move |_| {
        let body = "a".repeat(size);
        let headers = format!(
            "Content-Type: application/octet-stream\r\nDocker-Content-Digest: sha256:{}\r\n",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()))
        );
        move |_: &str| reply("200 OK", &headers, &body)
    })
    .await
    .0
}

#[tokio::test]
async fn every_large_body_was_kept_whole_in_memory() {
    use sha2::Digest;
    let size = 20 << 20;
    let url = big_bodies(size).await;
    let whole = "a".repeat(size);
    let sha256 = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&whole)));
    let sha512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&whole)));

    let http = Http::new(&url, Duration::from_secs(10), 64 << 20, None).unwrap();
    let ex = http.send(get(format!("{url}/v2/x/blobs/y"))).await;
    assert_eq!(ex.status, Some(200), "{:?}", ex.error);
    assert_eq!(ex.body.len(), oci_conformance::http::KEPT_BODY_BYTES);
    assert!(!ex.body_complete());
    assert_eq!(ex.body_size(), size as u64);
    assert_eq!(ex.body_digest("sha256"), sha256);
    assert_eq!(ex.body_digest("sha512"), sha512);
    assert!(ex.body_is(whole.as_bytes()));
    assert!(!ex.body_is(&whole.as_bytes()[1..]));
    assert!(ex.json().is_none());
    assert!(
        ex.notes.iter().any(|n| n.contains("only its first")),
        "{:?}",
        ex.notes
    );
    let kept = ex.slimmed();
    assert!(kept.body.len() <= 2048);
    assert_eq!(kept.response_size, Some(size as u64));
    assert_eq!(kept.response_digest.as_deref(), Some(sha256.as_str()));

    // The checks still see the whole body: its digest verifies, and the case's transcript keeps
    // a few KiB per exchange however large the answers.
    let specs = spec_dir(&format!(
        r#"[{{"id":"x/big","workflow":"pull","title":"t","requirements":["R-022"],"level":"MUST",
        "steps":[
          {{"request":{{"path":"/v2/${{repo}}/blobs/a"}},"expect":{{"status":[200],"body":{{"digest":"{sha256}"}}}}}},
          {{"request":{{"path":"/v2/${{repo}}/blobs/b"}},"expect":{{"status":[200],"body":{{"digest":"{sha512}"}}}}}},
          {{"request":{{"path":"/v2/${{repo}}/blobs/c"}},"expect":{{"status":[200]}}}}]}},
        {{"id":"x/big-wrong","workflow":"pull","title":"t","requirements":["R-022"],"level":"MUST",
        "steps":[{{"request":{{"path":"/v2/${{repo}}/blobs/a"}},
                   "expect":{{"status":[200],"body":{{"digest":"sha256:{}"}}}}}}]}}]"#,
        "0".repeat(64)
    ));
    let e = engine(http, specs.path());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);
    assert_eq!(r.transcript.len(), 3);
    for ex in &r.transcript {
        assert!(ex.body.len() <= 2048, "{} bytes kept", ex.body.len());
        assert_eq!(ex.response_size, Some(size as u64));
    }
    let (f, c) = &e.suite.cases[1];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Fail, "{:?}", r.message);
    assert!(r.message.unwrap().contains(&sha256));
}

#[test]
fn the_fuzzer_kept_every_response_body_of_a_case() {
    use oci_conformance::fuzz::http::{Answer, Client, Req};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let size = 12 << 20;
    let url = rt.block_on(big_bodies(size));
    let mut client = Client::new(
        &url,
        Duration::from_secs(10),
        None,
        None,
        TlsOptions::default(),
    )
    .unwrap();
    for _ in 0..3 {
        match client.send(Req::new("GET", "/v2/x/blobs/y")) {
            // The oracle judges the whole body...
            Answer::Response(r) => assert_eq!(r.body.len(), size),
            other => panic!("{}", other.describe()),
        }
    }
    // ...the case's transcript keeps only the first bytes of each.
    assert_eq!(client.transcript.len(), 3);
    for ex in &client.transcript {
        match &ex.answer {
            Answer::Response(r) => assert!(r.body.len() <= 4096, "{} bytes kept", r.body.len()),
            other => panic!("{}", other.describe()),
        }
    }
}

#[test]
fn a_plain_http_token_realm_is_one_clear_setup_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (realm, realm_seen) = rt.block_on(serve("127.0.0.1", |_| {
        |_: &str| reply("200 OK", "", r#"{"token":"tok-hostile-3"}"#)
    }));
    let (port, ca, _) = rt.block_on(serve_both(
        dir.path(),
        move |_, _| {
            let challenge =
                format!("WWW-Authenticate: Bearer realm=\"{realm}/token\",service=\"t\"\r\n");
            reply("401 Unauthorized", &challenge, "")
        },
        |_| reply("400 Bad Request", "", ""),
    ));
    let out = bin()
        .args([
            "run",
            "--url",
            &format!("https://127.0.0.1:{port}"),
            "--ca-cert",
        ])
        .arg(&ca)
        .args(["--username", USER, "--report-dir"])
        .arg(dir.path().join("reports"))
        .env("OCI_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("clear text") && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(!stderr.contains("refused the credentials"), "{stderr}");
    assert!(realm_seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_trusted_origin_gets_the_credentials_and_nothing_else_does() {
    let (store, store_seen) = storage().await;
    let (other, other_seen) = serve("127.0.0.3", |_| |_: &str| reply("200 OK", "", "")).await;
    let (registry, _) = serve("127.0.0.1", |_| |_: &str| reply("200 OK", "", "")).await;
    let trusted = reqwest::Url::parse(&store).unwrap();
    let http = Http::new(&registry, Duration::from_secs(5), 1 << 20, Some(creds()))
        .unwrap()
        .with_trusted_origins(vec![trusted]);
    let ex = http.send(get(format!("{store}/upload/1"))).await;
    assert!(ex.notes.is_empty(), "{:?}", ex.notes);
    assert_eq!(
        header(&store_seen.lock().unwrap()[0], "authorization"),
        basic()
    );
    let ex = http.send(get(format!("{other}/upload/1"))).await;
    assert!(ex.notes[0].contains("--trust-origin"), "{:?}", ex.notes);
    assert_eq!(header(&other_seen.lock().unwrap()[0], "authorization"), "");
}
