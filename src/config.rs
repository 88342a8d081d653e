//! Flags, environment and the official suite's variables, resolved into one validated
//! [`RunConfig`] before anything runs.

use crate::spec::{SpecVersion, Workflow};
use std::path::PathBuf;
use std::time::Duration;

/// Process exit codes (documented in the README and `--help`).
pub mod exit {
    /// Every required case passed.
    pub const OK: i32 = 0;
    /// Conformance failures (or an expected failure that now passes).
    pub const FAILURES: i32 = 1;
    /// Setup or configuration error: bad flag, bad URL, unreachable registry, invalid spec file.
    pub const SETUP: i32 = 2;
    /// The selection matched no case.
    pub const NOTHING_SELECTED: i32 = 3;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where each case's repositories live (`--repository-layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepositoryLayout {
    /// `<namespace>/<run id>/<case id>`: every case in fresh repositories, all at once.
    #[default]
    Nested,
    /// `<first namespace component>/oc-<run id>-<short case id>`: fresh repositories of two
    /// components, for registries that accept nothing deeper.
    Flat,
    /// Exactly the two repositories named (namespace, crossmount namespace), one case at a
    /// time; cases that need a fresh repository are skipped.
    Fixed,
}

impl RepositoryLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryLayout::Nested => "nested",
            RepositoryLayout::Flat => "flat",
            RepositoryLayout::Fixed => "fixed",
        }
    }
}

#[derive(Clone)]
pub struct RunConfig {
    /// None: start the embedded reference server.
    pub url: Option<String>,
    pub namespace: String,
    pub namespace2: String,
    pub layout: RepositoryLayout,
    pub workflows: Vec<Workflow>,
    pub filters: Vec<String>,
    pub spec_version: SpecVersion,
    pub jobs: usize,
    pub report_dir: PathBuf,
    pub junit: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
    pub expected_failures: Option<PathBuf>,
    pub seed: u64,
    pub timeout: Duration,
    /// `--deadline`: the whole run's time limit (None: no limit).
    pub deadline: Option<Duration>,
    /// `--stop-after-timeouts`: requests in a row that may time out (0: no limit).
    pub stop_after_timeouts: u32,
    pub max_body: usize,
    /// `--rate`: most requests started per second (None: no cap).
    pub rate: Option<f64>,
    /// `--cleanup`: delete what the run created once it ends.
    pub cleanup: bool,
    pub disabled_features: Vec<crate::spec::Feature>,
    /// `--specs`; None: the case set built into the binary.
    pub specs: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: crate::http::TlsOptions,
    /// `--auth-scope` / `OCI_AUTH_SCOPE`: added to every token request.
    pub auth_scopes: Vec<String>,
    /// `--trust-origin`: other origins the credentials may go to.
    pub trusted_origins: Vec<reqwest::Url>,
    pub strict: bool,
    pub progress: bool,
}

impl std::fmt::Debug for RunConfig {
    // Hand-written so a password can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("layout", &self.layout)
            .field("workflows", &self.workflows)
            .field("spec_version", &self.spec_version)
            .field("jobs", &self.jobs)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Reads a boolean the way the official suite does (Go's strconv.ParseBool).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The official suite's variables, read once, so `run` drops into a job written for it.
#[derive(Debug, Default, Clone)]
pub struct OfficialEnv {
    pub root_url: Option<String>,
    pub namespace: Option<String>,
    pub crossmount_namespace: Option<String>,
    pub workflows: Option<Vec<Workflow>>,
    pub version: Option<String>,
    /// `OCI_TLS=insecure`: TLS without certificate verification.
    pub tls_insecure: bool,
}

impl OfficialEnv {
    pub fn from_env() -> Result<OfficialEnv, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let root_url = match (var("OCI_ROOT_URL"), var("OCI_REGISTRY")) {
            (Some(u), _) => Some(u),
            (None, Some(host)) => {
                // V2: OCI_TLS = enabled (default) | insecure | disabled
                let scheme = match var("OCI_TLS").as_deref() {
                    Some("disabled") | Some("false") | Some("0") => "http",
                    _ => "https",
                };
                Some(format!("{scheme}://{host}"))
            }
            _ => None,
        };
        let mut workflows = Vec::new();
        let mut any = false;
        for (k, w) in [
            ("OCI_TEST_PULL", Workflow::Pull),
            ("OCI_TEST_PUSH", Workflow::Push),
            ("OCI_TEST_CONTENT_DISCOVERY", Workflow::Discovery),
            ("OCI_TEST_CONTENT_MANAGEMENT", Workflow::Management),
        ] {
            if let Some(v) = var(k) {
                any = true;
                match parse_bool(&v) {
                    Some(true) => workflows.push(w),
                    Some(false) => {}
                    None => return Err(ConfigError(format!("{k}={v}: not a boolean"))),
                }
            }
        }
        Ok(OfficialEnv {
            root_url,
            namespace: var("OCI_NAMESPACE").or_else(|| var("OCI_REPO1")),
            crossmount_namespace: var("OCI_CROSSMOUNT_NAMESPACE").or_else(|| var("OCI_REPO2")),
            workflows: any.then_some(workflows),
            version: var("OCI_VERSION"),
            tls_insecure: var("OCI_TLS").as_deref() == Some("insecure"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_grammar() {
        for ok in [
            "a",
            "a/b",
            "a-b",
            "a--b",
            "a__b",
            "a.b",
            "oci-conformance/r1/x/y-2",
        ] {
            assert!(crate::contract::valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a_.b", "a b",
        ] {
            assert!(!crate::contract::valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn go_booleans() {
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
