//! Server configuration: defaults, TOML file, and the switches for every optional behaviour.

use crate::auth::{AccessRule, AuthConfig, AuthMode, Htpasswd};
use crate::errors::Error;
use crate::limits::{FileLimits, Limits};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// PEM files: the certificate chain (leaf first) and its key (PKCS#8, PKCS#1 or SEC1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageConfig {
    Memory,
    Filesystem(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub storage: StorageConfig,
    /// Off: DELETE on `/manifests/<digest>` answers 405 `UNSUPPORTED`.
    pub delete_manifests: bool,
    /// Off: DELETE on `/manifests/<tag>` answers 405 `UNSUPPORTED`.
    pub delete_tags: bool,
    /// Off: DELETE on `/blobs/<digest>` answers 405 `UNSUPPORTED`.
    pub delete_blobs: bool,
    /// Off: the referrers endpoint answers 404 and pushes get no `OCI-Subject`.
    pub referrers: bool,
    /// The `_catalog` extension (`GET /v2/_catalog`, listed by `_oci/ext/discover`); off: 404
    /// `UNSUPPORTED`.
    pub catalog: bool,
    /// Mount without `from`: 201 when any repository links the blob (no auth, so "anywhere").
    pub auto_mount: bool,
    /// Mount with `from`: off turns every mount into a 202 upload session.
    pub cross_mount: bool,
    /// POST `?digest=` with a body completes the upload (201); off opens a session (202).
    pub single_post: bool,
    /// Advertised as `OCI-Chunk-Min-Length`. A PATCH cannot say whether it is the last chunk,
    /// so a short chunk is accepted; it is only refused (416) once another chunk follows it,
    /// which proves it was not the final one.
    pub chunk_min_length: Option<u64>,
    /// Larger manifests are refused with 413 (checked on `Content-Length` and while reading).
    pub max_manifest_size: u64,
    /// Every write answers 405 `UNSUPPORTED` (chosen over 403 `DENIED`: the operation is not
    /// offered at all, not refused to this caller).
    pub read_only: bool,
    /// Accept manifests whose blobs or child manifests are missing.
    pub sparse_manifests: bool,
    /// PUT by digest with `?tag=` tags the manifest and answers `OCI-Tag`; off ignores `tag`.
    pub tag_param: bool,
    /// More `?tag=` values than this: 414.
    pub max_tags_per_push: usize,
    /// Caps the tags page size; a capped page ends with a `Link` to the next one.
    pub tag_page_size: Option<usize>,
    /// Pages the referrers list (with `Link`), so clients' pagination can be tested.
    pub referrers_page_size: Option<usize>,
    /// None: no authentication (every request is served).
    pub auth: Option<AuthConfig>,
    /// None: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Timeouts, caps and budgets against clients that hold on to the server.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            storage: StorageConfig::Filesystem(PathBuf::from("./data")),
            delete_manifests: true,
            delete_tags: true,
            delete_blobs: true,
            referrers: true,
            catalog: true,
            auto_mount: true,
            cross_mount: true,
            single_post: true,
            chunk_min_length: None,
            max_manifest_size: 4 * 1024 * 1024,
            read_only: false,
            sparse_manifests: false,
            tag_param: true,
            max_tags_per_push: 100,
            tag_page_size: None,
            referrers_page_size: None,
            auth: None,
            tls: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// In-memory storage on an ephemeral loopback port: what tests and the harness embed.
    pub fn memory() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: StorageConfig::Memory,
            ..Config::default()
        }
    }

    /// Applies a TOML document over `self`; unknown keys are an error (typos must not be
    /// silently ignored in a test target's configuration).
    pub fn apply_toml(&mut self, text: &str) -> Result<(), Error> {
        let f: FileConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        if let Some(v) = f.listen {
            self.listen = v
                .parse()
                .map_err(|e| Error::Config(format!("listen {v:?}: {e}")))?;
        }
        match (f.storage.as_deref(), f.root) {
            (Some("memory"), _) => self.storage = StorageConfig::Memory,
            (Some("filesystem") | None, Some(root)) => {
                self.storage = StorageConfig::Filesystem(root)
            }
            (Some("filesystem") | None, None) => {}
            (Some(other), _) => {
                return Err(Error::Config(format!(
                    "storage must be \"memory\" or \"filesystem\", not {other:?}"
                )))
            }
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { self.$field = v; } )* };
        }
        set!(
            delete_manifests,
            delete_tags,
            delete_blobs,
            referrers,
            catalog,
            auto_mount,
            cross_mount,
            single_post,
            max_manifest_size,
            read_only,
            sparse_manifests,
            tag_param,
            max_tags_per_push
        );
        if let Some(v) = f.chunk_min_length {
            self.chunk_min_length = (v > 0).then_some(v);
        }
        if let Some(v) = f.tag_page_size {
            self.tag_page_size = (v > 0).then_some(v);
        }
        if let Some(v) = f.referrers_page_size {
            self.referrers_page_size = (v > 0).then_some(v);
        }
        if let Some(a) = f.auth {
            self.auth = Some(a.into_config()?);
        }
        if let Some(t) = f.tls {
            self.tls = Some(TlsConfig {
                cert: t.cert,
                key: t.key,
            });
        }
        if let Some(l) = f.limits {
            self.limits.apply(l)?;
        }
        Ok(())
    }
}

/// `basic` or `token` (flag, environment and TOML spelling).
pub fn parse_auth_mode(s: &str) -> Result<AuthMode, Error> {
    match s {
        "basic" => Ok(AuthMode::Basic),
        "token" => Ok(AuthMode::Token),
        other => Err(Error::Config(format!(
            "auth mode must be \"basic\" or \"token\", not {other:?}"
        ))),
    }
}

/// The `[auth]` table: complete on its own (`mode` and `htpasswd` are required), so the file
/// never depends on flags to make sense.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    mode: String,
    htpasswd: PathBuf,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    anonymous_pull: bool,
    service: Option<String>,
    realm: Option<String>,
    token_ttl: Option<u64>,
}

impl FileAuth {
    fn into_config(self) -> Result<AuthConfig, Error> {
        let mut a = AuthConfig::new(
            parse_auth_mode(&self.mode)?,
            Htpasswd::load(&self.htpasswd)?,
        );
        a.rules = self
            .rules
            .iter()
            .map(|r| r.parse::<AccessRule>().map_err(Error::Config))
            .collect::<Result<_, _>>()?;
        a.anonymous_pull = self.anonymous_pull;
        if let Some(s) = self.service {
            a.service = s;
        }
        a.realm = self.realm;
        if let Some(t) = self.token_ttl {
            if t == 0 {
                return Err(Error::Config(
                    "auth token_ttl must be at least 1 second".into(),
                ));
            }
            a.token_ttl = Duration::from_secs(t);
        }
        Ok(a)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
}

/// The TOML file: every key optional, same names as the `Config` fields, plus `storage`
/// (`"memory"` or `"filesystem"`) and `root`. A size of 0 means "unset" for the optional sizes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    storage: Option<String>,
    root: Option<PathBuf>,
    delete_manifests: Option<bool>,
    delete_tags: Option<bool>,
    delete_blobs: Option<bool>,
    referrers: Option<bool>,
    catalog: Option<bool>,
    auto_mount: Option<bool>,
    cross_mount: Option<bool>,
    single_post: Option<bool>,
    chunk_min_length: Option<u64>,
    max_manifest_size: Option<u64>,
    read_only: Option<bool>,
    sparse_manifests: Option<bool>,
    tag_param: Option<bool>,
    max_tags_per_push: Option<usize>,
    tag_page_size: Option<usize>,
    referrers_page_size: Option<usize>,
    auth: Option<FileAuth>,
    tls: Option<FileTls>,
    limits: Option<FileLimits>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_only_what_it_names() {
        let mut c = Config::memory();
        c.apply_toml("delete_blobs = false\nchunk_min_length = 1024\nroot = \"/tmp/x\"\n")
            .unwrap();
        assert!(!c.delete_blobs);
        assert!(c.catalog);
        c.apply_toml("catalog = false").unwrap();
        assert!(!c.catalog);
        assert!(c.delete_tags);
        assert_eq!(c.chunk_min_length, Some(1024));
        assert_eq!(c.storage, StorageConfig::Filesystem("/tmp/x".into()));
    }

    #[test]
    fn toml_rejects_unknown_keys_and_bad_storage() {
        assert!(Config::default().apply_toml("delete_blob = false").is_err());
        assert!(Config::default().apply_toml("storage = \"s3\"").is_err());
        assert!(Config::default().apply_toml("listen = \"nope\"").is_err());
    }

    #[test]
    fn toml_auth_and_tls_tables() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("htpasswd");
        std::fs::write(&h, format!("alice:{}\n", Htpasswd::hash("pw", 4))).unwrap();
        let mut c = Config::memory();
        c.apply_toml(&format!(
            "[auth]\nmode = \"token\"\nhtpasswd = {:?}\nrules = [\"alice:team/*:pull,push\"]\nanonymous_pull = true\ntoken_ttl = 60\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
            h.display().to_string()
        ))
        .unwrap();
        let a = c.auth.as_ref().unwrap();
        assert_eq!(a.mode, AuthMode::Token);
        assert_eq!(a.rules.len(), 1);
        assert!(a.anonymous_pull);
        assert_eq!(a.token_ttl, Duration::from_secs(60));
        assert_eq!(a.users.users().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(c.tls.as_ref().unwrap().key, PathBuf::from("k.pem"));
        let bad_rule = format!(
            "[auth]\nmode = \"basic\"\nhtpasswd = {:?}\nrules = [\"alice:x\"]\n",
            h.display().to_string()
        );
        assert!(Config::memory().apply_toml(&bad_rule).is_err());
        assert!(Config::memory()
            .apply_toml("[auth]\nmode = \"basic\"\n")
            .is_err());
        assert!(Config::memory()
            .apply_toml("[tls]\ncert = \"c\"\n")
            .is_err());
    }

    #[test]
    fn memory_config_uses_ephemeral_loopback_port() {
        let c = Config::memory();
        assert_eq!(c.listen.port(), 0);
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.max_manifest_size, 4 * 1024 * 1024);
    }
}
