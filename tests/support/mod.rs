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
