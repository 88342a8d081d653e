//! Shared by the integration tests: the harness binary, and authenticating or TLS reference
//! servers.
#![allow(dead_code)] // each test binary uses its own part

use oci_reference_server::{AuthConfig, AuthMode, Config, Htpasswd, TlsConfig};
use std::path::{Path, PathBuf};

pub const USER: &str = "alice";
/// Distinctive, so a test can search reports for it.
pub const PASSWORD: &str = "pw-7f3a9c1e-never-in-a-report";

/// A fresh CA and a certificate for 127.0.0.1 and localhost signed by it, written as PEM files
/// into `dir`: (CA certificate, server certificate, server key).
pub fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "oci-conformance test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    let key = KeyPair::generate().expect("server key");
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write CA");
    std::fs::write(&paths.1, cert.pem()).expect("write certificate");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write key");
    paths
}

/// In-memory reference server config with `mode` auth for [`USER`]/[`PASSWORD`], who may do
/// everything; TLS when `tls_dir` is given (a test CA is made there).
pub fn auth_config(mode: AuthMode, tls_dir: Option<&Path>) -> (Config, Option<PathBuf>) {
    let mut c = Config::memory();
    c.auth = Some(AuthConfig::new(
        mode,
        Htpasswd::from_plain(&[(USER, PASSWORD)]),
    ));
    let ca = tls_dir.map(|dir| {
        let (ca, cert, key) = test_ca(dir);
        c.tls = Some(TlsConfig { cert, key });
        ca
    });
    (c, ca)
}

/// The harness binary, with none of the developer's own `OCI_*` variables steering it.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_oci-conformance"));
    // The developer's own environment must not steer the tests.
    for k in OFFICIAL_VARS {
        c.env_remove(k);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("OCI_CONFORMANCE_") {
            c.env_remove(k);
        }
    }
    c.env("OCI_CONFORMANCE_NO_PROGRESS", "1");
    c
}

const OFFICIAL_VARS: [&str; 14] = [
    "OCI_ROOT_URL",
    "OCI_REGISTRY",
    "OCI_TLS",
    "OCI_NAMESPACE",
    "OCI_REPO1",
    "OCI_CROSSMOUNT_NAMESPACE",
    "OCI_REPO2",
    "OCI_USERNAME",
    "OCI_PASSWORD",
    "OCI_TEST_PULL",
    "OCI_TEST_PUSH",
    "OCI_TEST_CONTENT_DISCOVERY",
    "OCI_TEST_CONTENT_MANAGEMENT",
    "OCI_VERSION",
];

/// Status, headers and body of an answer, as a fault-injecting proxy handles them.
pub type Answered = (u16, Vec<(String, String)>, bytes::Bytes);

/// A proxy in front of the reference server (which stays correct behind it) that injects `bug`
/// into what passes through: how the tests show a harness or fuzz check catches one deviation.
pub struct FaultyProxy<B> {
    pub bug: B,
    upstream: String,
    client: reqwest::Client,
}

impl<B> FaultyProxy<B> {
    /// Sends the request on to the reference server; 502 when it cannot be reached.
    pub async fn forward(
        &self,
        method: &axum::http::Method,
        path_query: &str,
        headers: &axum::http::HeaderMap,
        body: bytes::Bytes,
    ) -> Answered {
        let mut rb = self
            .client
            .request(method.clone(), format!("{}{path_query}", self.upstream))
            .body(body);
        for (k, v) in headers {
            if k != "host" && k != "content-length" {
                rb = rb.header(k, v);
            }
        }
        let Ok(up) = rb.send().await else {
            return (502, vec![], bytes::Bytes::new());
        };
        let status = up.status().as_u16();
        let headers = up
            .headers()
            .iter()
            .filter(|(k, _)| *k != "transfer-encoding")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        (status, headers, up.bytes().await.unwrap_or_default())
    }
}

/// A request as the proxy received it: its parts, its path with query, and its whole body.
pub async fn received(
    req: axum::extract::Request,
) -> (axum::http::request::Parts, String, bytes::Bytes) {
    let (parts, body) = req.into_parts();
    let path_query = parts
        .uri
        .path_and_query()
        .map_or("/".to_string(), |x| x.as_str().to_string());
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    (parts, path_query, body)
}

/// The answer the proxy sends back for a request with `method`.
pub fn respond(method: &axum::http::Method, answer: Answered) -> axum::response::Response {
    let (status, mut headers, body) = answer;
    let mut r = axum::response::Response::new(axum::body::Body::from(body));
    *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
    // The body may have changed; only a HEAD keeps the upstream's length (of the GET body).
    if method != axum::http::Method::HEAD {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
    }
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// The reference server behind a [`FaultyProxy`] with `bug`, whose requests `handler` serves;
/// `f` gets the runtime and the proxy's URL.
pub fn with_faulty_proxy<B, H, X, T>(
    bug: B,
    handler: H,
    f: impl FnOnce(&tokio::runtime::Runtime, &str) -> T,
) -> T
where
    B: Send + Sync + 'static,
    H: axum::handler::Handler<X, std::sync::Arc<FaultyProxy<B>>>,
    X: 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(oci_reference_server::spawn(Config::memory()))
        .expect("spawn reference server");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let proxy = std::sync::Arc::new(FaultyProxy {
        bug,
        upstream: server.url(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    });
    let app = axum::Router::new().fallback(handler).with_state(proxy);
    let task = rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let out = f(&rt, &url);
    task.abort();
    rt.block_on(server.shutdown());
    out
}
