//! HTTPS: a test CA made with rcgen, HTTP/1.1 and HTTP/2 over TLS, handshake failures, bad files.

use crate::common::*;
use oci_reference_server::{spawn, AuthConfig, AuthMode, Config, Error, Htpasswd, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::{Client, Version};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "oci-reference-server test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        // The chain as servers usually ship it: leaf first, then the CA.
        std::fs::write(&cert, leaf_cert.pem() + &ca_cert.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
            cert,
            key,
        }
    }

    fn config(&self) -> Config {
        let mut c = Config::memory();
        c.tls = Some(TlsConfig {
            cert: self.cert.clone(),
            key: self.key.clone(),
        });
        c
    }

    fn client(&self) -> reqwest::ClientBuilder {
        Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(20))
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

#[tokio::test]
async fn https_serves_http1_and_http2() {
    let pki = Pki::new();
    let server = spawn(pki.config()).await.unwrap();
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let h1 = pki.client().http1_only().build().unwrap();
    let r = h1.get(format!("{url}/v2/")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.status(), 200);
    // ALPN picks h2 when the client offers it.
    let h2 = pki.client().build().unwrap();
    let r = h2.get(format!("{url}/v2/")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.status(), 200);
    // A whole push and pull over h2.
    let data = vec![42u8; 3 << 20];
    let d = sha256(&data);
    let r = h2
        .post(format!("{url}/v2/r/blobs/uploads/?digest={d}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = h1
        .get(format!("{url}/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), data);
    // "localhost" is in the certificate too.
    let port = server.addr().port();
    let named = pki
        .client()
        .resolve("localhost", server.addr())
        .build()
        .unwrap();
    let r = named
        .get(format!("https://localhost:{port}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::timeout(Duration::from_secs(15), server.shutdown())
        .await
        .expect("graceful shutdown");
}

#[tokio::test]
async fn failed_handshakes_do_not_stop_the_server() {
    let pki = Pki::new();
    let server = spawn(pki.config()).await.unwrap();
    let port = server.addr().port();
    let plain = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let untrusting = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let good = pki.client().build().unwrap();
    for _ in 0..3 {
        let r = plain
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await;
        assert!(r.is_err(), "plain HTTP to the TLS port: {r:?}");
        let r = untrusting.get(format!("{}/v2/", server.url())).send().await;
        assert!(r.is_err(), "a client not trusting the CA must fail");
        // Raw garbage and an idle connection that never handshakes.
        let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, b"\x16\x03\x01\xff\xffgarbage")
            .await
            .unwrap();
        let _idle = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let r = good
            .get(format!("{}/v2/", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn token_realm_uses_https() {
    let pki = Pki::new();
    let mut c = pki.config();
    c.auth = Some(AuthConfig::new(
        AuthMode::Token,
        Htpasswd::from_plain(&[("alice", "pw")]),
    ));
    let server = spawn(c).await.unwrap();
    let client = pki.client().build().unwrap();
    let url = server.url();
    let r = client
        .get(format!("{url}/v2/r/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let ch = header(&r, "www-authenticate").unwrap();
    let realm = format!("{url}/token");
    assert!(ch.contains(&format!("realm=\"{realm}\"")), "{ch}");
    let r = client
        .get(&realm)
        .query(&[("scope", "repository:r:pull")])
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tok = r.json().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .get(format!("{url}/v2/r/tags/list"))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "authorized; the repository does not exist");
}

async fn config_error(c: Config) -> String {
    match spawn(c).await {
        Err(e @ Error::Config(_)) => e.to_string(),
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("expected a configuration error, the server started"),
    }
}

fn with_files(pki: &Pki, cert: &Path, key: &Path) -> Config {
    let mut c = pki.config();
    c.tls = Some(TlsConfig {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    });
    c
}

#[tokio::test]
async fn bad_certificate_or_key_files_are_clear_errors() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.pem");
    let e = config_error(with_files(&pki, &missing, &pki.key)).await;
    assert!(
        e.contains("missing.pem") && e.contains("certificate"),
        "{e}"
    );
    let e = config_error(with_files(&pki, &pki.cert, &missing)).await;
    assert!(e.contains("missing.pem") && e.contains("key"), "{e}");
    // A key where the certificate should be, and the other way round.
    let e = config_error(with_files(&pki, &pki.key, &pki.key)).await;
    assert!(e.contains("key.pem") && e.contains("no certificate"), "{e}");
    let e = config_error(with_files(&pki, &pki.cert, &pki.cert)).await;
    assert!(
        e.contains("cert.pem") && e.contains("no private key"),
        "{e}"
    );
    let junk = pki.write("junk.pem", "-----BEGIN CERTIFICATE-----\n!!!\n");
    let e = config_error(with_files(&pki, &junk, &pki.key)).await;
    assert!(e.contains("junk.pem"), "{e}");
    let other = pki.write("other.pem", &KeyPair::generate().unwrap().serialize_pem());
    let e = config_error(with_files(&pki, &pki.cert, &other)).await;
    assert!(e.contains("other.pem") && e.contains("does not fit"), "{e}");
}
