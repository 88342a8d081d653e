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
    /// A bucket shared by any number of server processes (replicas).
    S3(crate::storage::S3Config),
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
    /// Off: a tags or catalog page cut by `n` carries no `Link` (the spec's MAY: clients go on
    /// with `last=<last entry>`).
    pub page_links: bool,
    /// The body of every error answer (R-143: a 4xx body may be in any format).
    pub error_bodies: ErrorBodies,
    /// Off: no `Docker-Content-Digest` anywhere (only a SHOULD before the spec's main branch).
    pub digest_header: bool,
    /// A mount with `from` finds the blob in any repository (R-068: `from` may be treated as
    /// optional), not only in `from`.
    pub mount_from_anywhere: bool,
    /// Disabled deletes answer 400 `UNSUPPORTED` instead of 405 (the spec allows either).
    pub disabled_status_400: bool,
    /// A valid but unsatisfiable or reversed byte range is ignored (200, whole blob) instead of
    /// 416: RFC 9110 lets a server ignore `Range`.
    pub ignore_unsatisfiable_range: bool,
    /// Off: `_oci/ext/discover` answers 404 `UNSUPPORTED` (registries may offer no extensions).
    pub discovery: bool,
    /// Sent as `Warning` on every answer (R-149: informational warnings are optional).
    pub warning: Option<String>,
    /// `Location` headers are absolute URLs (R-040: absolute or relative).
    pub absolute_locations: bool,
    /// Tags in case-insensitive lexical order (1.1's rule) instead of ASCII order (which main
    /// allows too): `a`, `B`, `c` rather than `B`, `a`, `c`.
    pub lexical_tags: bool,
    /// A manifest or blob of a repository that does not exist is 404 `NAME_UNKNOWN` instead of
    /// `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` (the spec's error table allows either).
    pub name_unknown: bool,
    /// Only repository names of exactly this many components exist (as on registries that
    /// accept only `org/repo`): any other valid name answers 404 `NAME_UNKNOWN`. None: any depth.
    pub name_components: Option<usize>,
    /// Every Nth request answers 429 `TOOMANYREQUESTS`, as a rate-limited registry does, with
    /// `Retry-After` in both of RFC 9110's forms by turns: `1` (seconds), then an HTTP-date two
    /// seconds ahead. None: no rate limit.
    pub too_many_requests_every: Option<u64>,
    /// Deliberate spec violations, so tests can prove the harness catches them.
    pub defects: Vec<Defect>,
}

/// What error answers carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorBodies {
    /// `{"errors":[{"code","message","detail"}]}`.
    #[default]
    Json,
    /// `{"errors":[{"code"}]}`: `message` and `detail` are optional.
    Bare,
    /// `text/plain`: `CODE: message`.
    Text,
}

/// A deliberate violation of the spec (never in a real deployment): the harness must fail it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// `Range` on blob GET is ignored (misses R-029's SHOULD).
    IgnoreRange,
    /// The 429s of `too_many_requests_every` carry no `Retry-After` (misses R-148's SHOULD).
    NoRetryAfter,
    /// Manifest pushes answer `OCI-Subject`, yet the referrers API answers 404.
    Referrers404,
    /// A tags page cut by `n` holds one entry fewer than `n` and no `Link`.
    ShortPages,
    /// Extension discovery lists `_catalog`, yet `/v2/_catalog` answers 404.
    Catalog404,
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
            page_links: true,
            error_bodies: ErrorBodies::Json,
            digest_header: true,
            mount_from_anywhere: false,
            disabled_status_400: false,
            ignore_unsatisfiable_range: false,
            discovery: true,
            warning: None,
            absolute_locations: false,
            lexical_tags: false,
            name_unknown: false,
            name_components: None,
            too_many_requests_every: None,
            defects: Vec::new(),
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

    /// Takes the other branch of every MAY, OPTIONAL and "either X or Y" the spec's main branch
    /// leaves to registries (see the README's table): a conformant registry that the harness
    /// must never fail. [`Config::permissive_pre_main`] covers the branches only older spec
    /// versions allow, and the alternatives one profile cannot take at once.
    pub fn permissive(self) -> Self {
        Config {
            page_links: false,
            error_bodies: ErrorBodies::Text,
            cross_mount: false,
            auto_mount: false,
            single_post: false,
            tag_param: false,
            delete_tags: false,
            chunk_min_length: Some(5 << 20),
            referrers_page_size: Some(1),
            ignore_unsatisfiable_range: true,
            absolute_locations: true,
            warning: Some("299 - \"this registry is permissive\"".into()),
            ..self
        }
    }

    /// The other permissive profile: the remaining alternatives, and what only spec versions
    /// before main allow (no `Docker-Content-Digest`, a SHOULD there).
    pub fn permissive_pre_main(self) -> Self {
        Config {
            error_bodies: ErrorBodies::Bare,
            digest_header: false,
            name_unknown: true,
            lexical_tags: true,
            mount_from_anywhere: true,
            disabled_status_400: true,
            delete_manifests: false,
            delete_blobs: false,
            catalog: false,
            discovery: false,
            chunk_min_length: Some(64 << 10),
            tag_page_size: Some(2),
            page_links: false,
            referrers_page_size: Some(2),
            ignore_unsatisfiable_range: true,
            ..self
        }
    }

    pub fn has_defect(&self, d: Defect) -> bool {
        self.defects.contains(&d)
    }

    /// Applies a TOML document over `self`; unknown keys are an error (typos must not be
    /// silently ignored in a test target's configuration).
    pub fn apply_toml(&mut self, text: &str) -> Result<(), Error> {
        let f: FileConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        // The profile first, so the file's other keys refine it.
        match f.profile.as_deref() {
            None => {}
            Some("permissive") => *self = self.clone().permissive(),
            Some("permissive-pre-main") => *self = self.clone().permissive_pre_main(),
            Some(other) => {
                return Err(Error::Config(format!(
                    "profile must be \"permissive\" or \"permissive-pre-main\", not {other:?}"
                )))
            }
        }
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
            (Some(url), _) if url.starts_with("s3://") => {
                let s3 = crate::storage::S3Config::parse_url(url).ok_or_else(|| {
                    Error::Config(format!("storage {url:?}: expected s3://bucket[/prefix]"))
                })?;
                self.storage = StorageConfig::S3(s3);
            }
            (Some(other), _) => {
                return Err(Error::Config(format!(
                    "storage must be \"memory\", \"filesystem\" or s3://bucket[/prefix], \
                     not {other:?}"
                )))
            }
        }
        if let StorageConfig::S3(s3) = &mut self.storage {
            s3.endpoint = f.s3_endpoint.or(s3.endpoint.take());
            s3.region = f.s3_region.or(s3.region.take());
            s3.allow_http = f.s3_allow_http.unwrap_or(s3.allow_http);
        } else if f.s3_endpoint.is_some() || f.s3_region.is_some() || f.s3_allow_http.is_some() {
            return Err(Error::Config(
                "s3_endpoint, s3_region and s3_allow_http need storage = \"s3://...\"".into(),
            ));
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
            max_tags_per_push,
            page_links,
            error_bodies,
            digest_header,
            mount_from_anywhere,
            disabled_status_400,
            ignore_unsatisfiable_range,
            discovery,
            absolute_locations,
            lexical_tags,
            name_unknown,
            defects
        );
        if let Some(w) = f.warning {
            self.warning = (!w.is_empty()).then_some(w);
        }
        if let Some(v) = f.chunk_min_length {
            self.chunk_min_length = (v > 0).then_some(v);
        }
        if let Some(v) = f.tag_page_size {
            self.tag_page_size = (v > 0).then_some(v);
        }
        if let Some(v) = f.too_many_requests_every {
            self.too_many_requests_every = (v > 0).then_some(v);
        }
        if let Some(v) = f.name_components {
            self.name_components = (v > 0).then_some(v);
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
/// (`"memory"`, `"filesystem"` or `"s3://bucket[/prefix]"`), `root`, and for S3 `s3_endpoint`,
/// `s3_region`, `s3_allow_http` (credentials only from the environment). A size of 0 means
/// "unset" for the optional sizes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    storage: Option<String>,
    root: Option<PathBuf>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_allow_http: Option<bool>,
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
    profile: Option<String>,
    page_links: Option<bool>,
    error_bodies: Option<ErrorBodies>,
    digest_header: Option<bool>,
    mount_from_anywhere: Option<bool>,
    disabled_status_400: Option<bool>,
    ignore_unsatisfiable_range: Option<bool>,
    discovery: Option<bool>,
    warning: Option<String>,
    absolute_locations: Option<bool>,
    lexical_tags: Option<bool>,
    name_unknown: Option<bool>,
    name_components: Option<usize>,
    too_many_requests_every: Option<u64>,
    defects: Option<Vec<Defect>>,
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
        c.apply_toml("catalog = false\nname_components = 2\ntoo_many_requests_every = 9")
            .unwrap();
        assert_eq!(c.name_components, Some(2));
        assert_eq!(c.too_many_requests_every, Some(9));
        assert!(!c.catalog);
        assert!(c.delete_tags);
        assert_eq!(c.chunk_min_length, Some(1024));
        assert_eq!(c.storage, StorageConfig::Filesystem("/tmp/x".into()));
    }

    #[test]
    fn toml_selects_an_s3_bucket() {
        let mut c = Config::memory();
        c.apply_toml(
            "storage = \"s3://reg/a/b/\"\ns3_endpoint = \"http://127.0.0.1:3900\"\n\
             s3_region = \"garage\"\ns3_allow_http = true\n",
        )
        .unwrap();
        assert_eq!(
            c.storage,
            StorageConfig::S3(crate::storage::S3Config {
                bucket: "reg".into(),
                prefix: "a/b".into(),
                endpoint: Some("http://127.0.0.1:3900".into()),
                region: Some("garage".into()),
                allow_http: true,
            })
        );
        assert!(Config::memory().apply_toml("storage = \"s3://\"").is_err());
        assert!(Config::memory()
            .apply_toml("s3_endpoint = \"http://x\"")
            .is_err());
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
    fn toml_limits_table() {
        let mut c = Config::memory();
        c.apply_toml("[limits]\nmax_connections = 7\nbody_timeout = 5\ngc_interval = 0\n")
            .unwrap();
        assert_eq!(c.limits.max_connections, 7);
        assert_eq!(c.limits.body_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.gc_interval, None);
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(30));
        assert!(Config::memory()
            .apply_toml("[limits]\nidle_timeout = 0\n")
            .is_err());
        assert!(Config::memory().apply_toml("[limits]\nidle = 5\n").is_err());
    }

    #[test]
    fn memory_config_uses_ephemeral_loopback_port() {
        let c = Config::memory();
        assert_eq!(c.listen.port(), 0);
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.max_manifest_size, 4 * 1024 * 1024);
    }
}
