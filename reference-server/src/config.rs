//! Server configuration: every setting declared once in [`Settings`] (flag, environment
//! variable, TOML key), layered as defaults < TOML file < environment < flags, and resolved
//! into the checked [`Config`] the server runs with.

use crate::auth::{AccessRule, AuthConfig, AuthMode, Htpasswd};
use crate::errors::Error;
use crate::limits::{LimitSettings, Limits};
use crate::storage::S3Config;
use clap::builder::{BoolValueParser, TypedValueParser};
use clap::{ArgMatches, FromArgMatches};
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

    /// Applies a TOML document over `self`: only the keys it names change; unknown keys are an
    /// error (typos must not be silently ignored in a test target's configuration).
    pub fn apply_toml(&mut self, text: &str) -> Result<(), Error> {
        Settings::from_toml(text)?.apply(self)
    }
}

/// A starting point that other settings refine (see [`Config::permissive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Permissive,
    PermissivePreMain,
}

/// A switch given as a bare flag (`--read-only`) or as `true`/`false` in its variable.
const ON: &str = "true";

/// The value of a `--no-…` flag or its `OCI_SERVER_NO_…` variable is the negation of the
/// setting it names (`--no-catalog` is `catalog = false`).
fn negated() -> impl TypedValueParser<Value = bool> {
    BoolValueParser::new().map(|no| !no)
}

/// Every setting of the server, declared once: its flag, its `OCI_SERVER_*` variable, its TOML
/// key (the field name; `[auth]`, `[tls]` and `[limits]` are tables) and its help. Every field
/// is optional, so one layer names only what it sets: [`Settings::from_toml`] reads the file,
/// [`Settings::update_from`] lays the environment and flags over it (flags beat environment,
/// both beat the file), [`Settings::resolve`] applies them over the defaults and checks them.
#[derive(clap::Args, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "OCI_SERVER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Filesystem storage root (default ./data).
    #[arg(long, env = "OCI_SERVER_ROOT", global = true)]
    pub root: Option<PathBuf>,
    /// Keep everything in memory (lost on exit). TOML: `storage = "memory"`.
    #[arg(long, env = "OCI_SERVER_MEMORY", num_args = 0, default_missing_value = ON,
          conflicts_with_all = ["root", "storage"])]
    #[serde(skip)]
    pub memory: Option<bool>,
    /// Object storage, `s3://bucket[/prefix]`: any number of servers may share it (replicas).
    /// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the other AWS
    /// environment variables), never from flags. Also `memory` or `filesystem`.
    #[arg(
        long,
        env = "OCI_SERVER_STORAGE",
        conflicts_with = "root",
        global = true
    )]
    pub storage: Option<String>,
    /// S3 API endpoint, e.g. http://127.0.0.1:3900 (default: AWS, or AWS_ENDPOINT).
    #[arg(long, env = "OCI_SERVER_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "OCI_SERVER_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// Allow a plain-HTTP S3 endpoint (loopback test clusters).
    #[arg(long, env = "OCI_SERVER_S3_ALLOW_HTTP", global = true, num_args = 0,
          default_missing_value = ON)]
    pub s3_allow_http: Option<bool>,
    /// Start from a permissive profile: the other branch of every MAY and "either X or Y"
    /// (README: "Permissive and broken profiles"), for the spec's main branch or the versions
    /// before it. Other switches apply on top.
    #[arg(long, env = "OCI_SERVER_PROFILE", value_enum)]
    pub profile: Option<Profile>,
    /// Refuse manifest deletion (405 UNSUPPORTED).
    #[arg(long = "no-delete-manifests", env = "OCI_SERVER_NO_DELETE_MANIFESTS", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub delete_manifests: Option<bool>,
    /// Refuse tag deletion (405 UNSUPPORTED).
    #[arg(long = "no-delete-tags", env = "OCI_SERVER_NO_DELETE_TAGS", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub delete_tags: Option<bool>,
    /// Refuse blob deletion (405 UNSUPPORTED).
    #[arg(long = "no-delete-blobs", env = "OCI_SERVER_NO_DELETE_BLOBS", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub delete_blobs: Option<bool>,
    /// Disable the referrers API (404) and OCI-Subject.
    #[arg(long = "no-referrers", env = "OCI_SERVER_NO_REFERRERS", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub referrers: Option<bool>,
    /// Disable the _catalog extension (GET /v2/_catalog answers 404 UNSUPPORTED).
    #[arg(long = "no-catalog", env = "OCI_SERVER_NO_CATALOG", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub catalog: Option<bool>,
    /// Mount without `from` opens an upload session instead of searching every repository.
    #[arg(long = "no-auto-mount", env = "OCI_SERVER_NO_AUTO_MOUNT", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub auto_mount: Option<bool>,
    /// Mount with `from` opens an upload session instead of mounting.
    #[arg(long = "no-cross-mount", env = "OCI_SERVER_NO_CROSS_MOUNT", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub cross_mount: Option<bool>,
    /// POST ?digest= opens an upload session instead of completing the upload.
    #[arg(long = "no-single-post", env = "OCI_SERVER_NO_SINGLE_POST", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub single_post: Option<bool>,
    /// Minimum non-final chunk size, advertised as OCI-Chunk-Min-Length. 0: none
    #[arg(long, env = "OCI_SERVER_CHUNK_MIN_LENGTH")]
    pub chunk_min_length: Option<u64>,
    /// Largest accepted manifest in bytes (413 above; default 4 MiB).
    #[arg(long, env = "OCI_SERVER_MAX_MANIFEST_SIZE")]
    pub max_manifest_size: Option<u64>,
    /// Refuse every write (405 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_READ_ONLY", num_args = 0, default_missing_value = ON)]
    pub read_only: Option<bool>,
    /// Accept manifests whose blobs or child manifests are missing.
    #[arg(long, env = "OCI_SERVER_SPARSE_MANIFESTS", num_args = 0, default_missing_value = ON)]
    pub sparse_manifests: Option<bool>,
    /// Ignore ?tag= on manifest pushes by digest (no OCI-Tag).
    #[arg(long = "no-tag-param", env = "OCI_SERVER_NO_TAG_PARAM", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub tag_param: Option<bool>,
    /// Most ?tag= values in one push (414 above; default 100).
    #[arg(long, env = "OCI_SERVER_MAX_TAGS_PER_PUSH")]
    pub max_tags_per_push: Option<usize>,
    /// Cap on tags per page (a capped page carries Link). 0: no cap
    #[arg(long, env = "OCI_SERVER_TAG_PAGE_SIZE")]
    pub tag_page_size: Option<usize>,
    /// Referrers per page (pages carry Link). 0: one page
    #[arg(long, env = "OCI_SERVER_REFERRERS_PAGE_SIZE")]
    pub referrers_page_size: Option<usize>,
    /// Tags and catalog pages cut by `n` carry no Link (clients continue with `last`).
    #[arg(long = "no-page-links", env = "OCI_SERVER_NO_PAGE_LINKS", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub page_links: Option<bool>,
    /// Error bodies: json (default), bare (code only) or text (text/plain).
    #[arg(long, env = "OCI_SERVER_ERROR_BODIES", value_enum)]
    pub error_bodies: Option<ErrorBodies>,
    /// Send no Docker-Content-Digest (a SHOULD before the spec's main branch).
    #[arg(long = "no-digest-header", env = "OCI_SERVER_NO_DIGEST_HEADER", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub digest_header: Option<bool>,
    /// A mount with `from` finds the blob in any repository.
    #[arg(long, env = "OCI_SERVER_MOUNT_FROM_ANYWHERE", num_args = 0, default_missing_value = ON)]
    pub mount_from_anywhere: Option<bool>,
    /// Disabled deletes answer 400 instead of 405.
    #[arg(long, env = "OCI_SERVER_DISABLED_STATUS_400", num_args = 0, default_missing_value = ON)]
    pub disabled_status_400: Option<bool>,
    /// Ignore an unsatisfiable or reversed byte range (200) instead of answering 416.
    #[arg(long, env = "OCI_SERVER_IGNORE_UNSATISFIABLE_RANGE", num_args = 0,
          default_missing_value = ON)]
    pub ignore_unsatisfiable_range: Option<bool>,
    /// `_oci/ext/discover` answers 404 UNSUPPORTED.
    #[arg(long = "no-discovery", env = "OCI_SERVER_NO_DISCOVERY", num_args = 0,
          default_missing_value = ON, value_parser = negated())]
    pub discovery: Option<bool>,
    /// Location headers are absolute URLs (default: absolute paths).
    #[arg(long, env = "OCI_SERVER_ABSOLUTE_LOCATIONS", num_args = 0, default_missing_value = ON)]
    pub absolute_locations: Option<bool>,
    /// List tags in case-insensitive lexical order instead of ASCII order.
    #[arg(long, env = "OCI_SERVER_LEXICAL_TAGS", num_args = 0, default_missing_value = ON)]
    pub lexical_tags: Option<bool>,
    /// A manifest or blob of an unknown repository is NAME_UNKNOWN, not MANIFEST_/BLOB_UNKNOWN.
    #[arg(long, env = "OCI_SERVER_NAME_UNKNOWN", num_args = 0, default_missing_value = ON)]
    pub name_unknown: Option<bool>,
    /// Only repository names of exactly this many components exist (e.g. 2: `org/repo`, like
    /// registries that accept nothing deeper); others answer 404 NAME_UNKNOWN. 0: any depth
    #[arg(long, env = "OCI_SERVER_NAME_COMPONENTS")]
    pub name_components: Option<usize>,
    /// Every Nth request answers 429 TOOMANYREQUESTS, like a rate-limited registry, with
    /// `Retry-After` as seconds and as an HTTP-date by turns. 0: never
    #[arg(long, env = "OCI_SERVER_TOO_MANY_REQUESTS_EVERY")]
    pub too_many_requests_every: Option<u64>,
    /// Send this `Warning` header value on every answer (e.g. `299 - "text"`). Empty: none
    #[arg(long, env = "OCI_SERVER_WARNING")]
    pub warning: Option<String>,
    /// Deliberate spec violations for testing clients and the harness (comma list).
    #[arg(
        long = "defect",
        env = "OCI_SERVER_DEFECTS",
        value_enum,
        value_delimiter = ',',
        value_name = "DEFECT"
    )]
    pub defects: Option<Vec<Defect>>,
    /// The `[auth]` table.
    #[command(flatten)]
    #[serde(default)]
    pub auth: AuthSettings,
    /// The `[tls]` table.
    #[command(flatten)]
    #[serde(default)]
    pub tls: TlsSettings,
    /// The `[limits]` table.
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitSettings,
}

/// Authentication: `--auth` with `--htpasswd` (or `mode` and `htpasswd` in `[auth]`) turns it
/// on; the other keys refine it and are refused without it.
#[derive(clap::Args, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Require authentication: `basic` (htpasswd users) or `token` (bearer tokens from /token).
    #[arg(long = "auth", env = "OCI_SERVER_AUTH", value_enum)]
    pub mode: Option<AuthMode>,
    /// htpasswd file with bcrypt hashes (required with --auth).
    #[arg(long, env = "OCI_SERVER_HTPASSWD")]
    pub htpasswd: Option<PathBuf>,
    /// Access rule USERS:REPOSITORY-GLOB:ACTIONS (repeatable; `;` separates rules in the env
    /// variable). None: every user may do everything.
    #[arg(
        long = "access",
        env = "OCI_SERVER_ACCESS",
        value_delimiter = ';',
        value_name = "RULE"
    )]
    pub rules: Option<Vec<String>>,
    /// Callers without credentials may pull every repository.
    #[arg(long, env = "OCI_SERVER_ANONYMOUS_PULL", num_args = 0, default_missing_value = ON)]
    pub anonymous_pull: Option<bool>,
    /// Service name: Basic realm, token audience (default oci-reference-server).
    #[arg(
        long = "auth-service",
        env = "OCI_SERVER_AUTH_SERVICE",
        value_name = "NAME"
    )]
    pub service: Option<String>,
    /// Token endpoint URL for the Bearer challenge (default: this server's /token).
    #[arg(long = "auth-realm", env = "OCI_SERVER_AUTH_REALM", value_name = "URL")]
    pub realm: Option<String>,
    /// Token lifetime in seconds (default 300).
    #[arg(long, env = "OCI_SERVER_TOKEN_TTL", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_ttl: Option<u64>,
}

/// HTTPS: both files or neither.
#[derive(clap::Args, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(
        long = "tls-cert",
        env = "OCI_SERVER_TLS_CERT",
        requires = "key",
        value_name = "FILE"
    )]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(
        long = "tls-key",
        env = "OCI_SERVER_TLS_KEY",
        requires = "cert",
        value_name = "FILE"
    )]
    pub key: Option<PathBuf>,
}

impl Settings {
    /// The settings a TOML file names; unknown keys are an error.
    pub fn from_toml(text: &str) -> Result<Settings, Error> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Lays the environment and flags of `matches` (a command that flattens `Settings`) over
    /// `self`: each setting they name replaces this one. Where the data lives is one choice,
    /// so naming any of `--root`, `--memory`, `--storage` replaces the whole of `self`'s.
    pub fn update_from(mut self, matches: &ArgMatches) -> Result<Settings, clap::Error> {
        if ["root", "memory", "storage"]
            .iter()
            .any(|id| matches.contains_id(id))
        {
            (self.root, self.memory, self.storage) = (None, None, None);
        }
        self.update_from_arg_matches(matches)?;
        Ok(self)
    }

    /// The defaults with these settings applied, checked.
    pub fn resolve(self) -> Result<Config, Error> {
        let mut c = Config::default();
        self.apply(&mut c)?;
        Ok(c)
    }

    /// Sets what `self` names on `c` (its profile first, so the other settings refine it).
    /// A 0 (or empty warning) clears an optional size.
    fn apply(self, c: &mut Config) -> Result<(), Error> {
        // Destructured so that a setting added above but never applied does not compile.
        let Settings {
            listen,
            root,
            memory,
            storage,
            s3_endpoint,
            s3_region,
            s3_allow_http,
            profile,
            delete_manifests,
            delete_tags,
            delete_blobs,
            referrers,
            catalog,
            auto_mount,
            cross_mount,
            single_post,
            chunk_min_length,
            max_manifest_size,
            read_only,
            sparse_manifests,
            tag_param,
            max_tags_per_push,
            tag_page_size,
            referrers_page_size,
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
            name_components,
            too_many_requests_every,
            warning,
            defects,
            auth,
            tls,
            limits,
        } = self;
        match profile {
            None => {}
            Some(Profile::Permissive) => *c = c.clone().permissive(),
            Some(Profile::PermissivePreMain) => *c = c.clone().permissive_pre_main(),
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = $field { c.$field = v; } )* };
        }
        macro_rules! set_unless_zero {
            ($($field:ident),*) => { $( if let Some(v) = $field { c.$field = (v > 0).then_some(v); } )* };
        }
        set!(
            listen,
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
            name_unknown
        );
        set_unless_zero!(
            chunk_min_length,
            tag_page_size,
            referrers_page_size,
            name_components,
            too_many_requests_every
        );
        if let Some(w) = warning {
            c.warning = (!w.is_empty()).then_some(w);
        }
        if let Some(d) = defects {
            c.defects.clear();
            for d in d {
                if !c.defects.contains(&d) {
                    c.defects.push(d);
                }
            }
        }
        match (storage.as_deref(), memory, root) {
            (Some("memory"), _, _) | (None, Some(true), _) => c.storage = StorageConfig::Memory,
            (Some("filesystem") | None, _, Some(root)) => {
                c.storage = StorageConfig::Filesystem(root)
            }
            (Some("filesystem") | None, _, None) => {}
            (Some(url), _, _) if url.starts_with("s3://") => {
                let s3 = S3Config::parse_url(url).ok_or_else(|| {
                    Error::Config(format!("storage {url:?}: expected s3://bucket[/prefix]"))
                })?;
                c.storage = StorageConfig::S3(s3);
            }
            (Some(other), _, _) => {
                return Err(Error::Config(format!(
                    "storage must be \"memory\", \"filesystem\" or s3://bucket[/prefix], \
                     not {other:?}"
                )))
            }
        }
        if let StorageConfig::S3(s3) = &mut c.storage {
            s3.endpoint = s3_endpoint.or(s3.endpoint.take());
            s3.region = s3_region.or(s3.region.take());
            s3.allow_http = s3_allow_http.unwrap_or(s3.allow_http);
        } else if s3_endpoint.is_some() || s3_region.is_some() || s3_allow_http == Some(true) {
            return Err(Error::Config(
                "--s3-endpoint, --s3-region and --s3-allow-http (s3_endpoint, s3_region, \
                 s3_allow_http) need --storage s3://... (storage = \"s3://...\")"
                    .into(),
            ));
        }
        auth.apply(&mut c.auth)?;
        match (tls.cert, tls.key, &mut c.tls) {
            (None, None, _) => {}
            (Some(cert), Some(key), t) => *t = Some(TlsConfig { cert, key }),
            (cert, key, Some(t)) => {
                t.cert = cert.unwrap_or(t.cert.clone());
                t.key = key.unwrap_or(t.key.clone());
            }
            (_, _, None) => {
                return Err(Error::Config(
                    "HTTPS needs both --tls-cert and --tls-key ([tls] cert and key)".into(),
                ))
            }
        }
        c.limits.apply(limits)
    }
}

impl AuthSettings {
    fn apply(self, auth: &mut Option<AuthConfig>) -> Result<(), Error> {
        let AuthSettings {
            mode,
            htpasswd,
            rules,
            anonymous_pull,
            service,
            realm,
            token_ttl,
        } = self;
        if mode.is_none() && auth.is_none() {
            let named = htpasswd.is_some()
                || rules.is_some()
                || anonymous_pull.is_some()
                || service.is_some()
                || realm.is_some()
                || token_ttl.is_some();
            if named {
                return Err(Error::Config(
                    "authentication options need --auth basic|token (OCI_SERVER_AUTH, or \
                     mode in the [auth] table of the config file)"
                        .into(),
                ));
            }
            return Ok(());
        }
        let mut users = htpasswd.as_deref().map(Htpasswd::load).transpose()?;
        let a = match auth {
            Some(a) => a,
            None => {
                let (Some(mode), Some(users)) = (mode, users.take()) else {
                    return Err(Error::Config(
                        "--auth needs --htpasswd FILE (OCI_SERVER_HTPASSWD, [auth] htpasswd), \
                         the users and their bcrypt hashes"
                            .into(),
                    ));
                };
                auth.insert(AuthConfig::new(mode, users))
            }
        };
        if let Some(m) = mode {
            a.mode = m;
        }
        if let Some(u) = users {
            a.users = u;
        }
        if let Some(rules) = rules {
            a.rules = rules
                .iter()
                .filter(|r| !r.trim().is_empty())
                .map(|r| r.parse::<AccessRule>().map_err(Error::Config))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = anonymous_pull {
            a.anonymous_pull = v;
        }
        if let Some(s) = service {
            a.service = s;
        }
        if let Some(r) = realm {
            a.realm = Some(r);
        }
        if let Some(t) = token_ttl {
            if t == 0 {
                return Err(Error::Config("token_ttl must be at least 1 second".into()));
            }
            a.token_ttl = Duration::from_secs(t);
        }
        Ok(())
    }
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
            StorageConfig::S3(S3Config {
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

    /// What the binary does: a file layer, then the flags of a command flattening `Settings`.
    fn layered(file: &str, flags: &[&str]) -> Result<Config, Error> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let m = <Cli as clap::CommandFactory>::command()
            .try_get_matches_from(std::iter::once("server").chain(flags.iter().copied()))
            .map_err(|e| Error::Config(e.to_string()))?;
        Settings::from_toml(file)?
            .update_from(&m)
            .map_err(|e| Error::Config(e.to_string()))?
            .resolve()
    }

    #[test]
    fn flags_override_the_file_one_setting_at_a_time() {
        let file = "catalog = false\nread_only = true\nchunk_min_length = 1024\n\
                    delete_blobs = true\nstorage = \"s3://b\"\n[limits]\nbody_timeout = 5\n";
        let c = layered(file, &[]).unwrap();
        assert!(!c.catalog && c.read_only && c.delete_blobs);
        assert_eq!(c.chunk_min_length, Some(1024));
        assert!(matches!(c.storage, StorageConfig::S3(_)));
        let c = layered(
            file,
            &[
                "--no-delete-blobs",
                "--root",
                "/x",
                "--chunk-min-length",
                "0",
            ],
        )
        .unwrap();
        assert!(!c.catalog && c.read_only && !c.delete_blobs, "{c:?}");
        assert_eq!(c.chunk_min_length, None);
        assert_eq!(c.storage, StorageConfig::Filesystem("/x".into()));
        assert_eq!(c.limits.body_timeout, Duration::from_secs(5));
        let c = layered("storage = \"memory\"", &["--idle-timeout", "9"]).unwrap();
        assert_eq!(c.storage, StorageConfig::Memory);
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(9));
    }

    #[test]
    fn negated_flags_and_defaults() {
        let c = layered(
            "",
            &[
                "--no-catalog",
                "--read-only",
                "--defect",
                "ignore-range,ignore-range",
            ],
        )
        .unwrap();
        assert!(!c.catalog && c.read_only && c.delete_tags);
        assert_eq!(c.defects, [Defect::IgnoreRange]);
        let d = layered("", &[]).unwrap();
        assert!(d.catalog && !d.read_only && d.defects.is_empty());
        assert_eq!(d.listen, Config::default().listen);
        assert!(layered("", &["--no-catalog=false"]).is_err());
        assert!(layered("", &["--memory", "--root", "/x"]).is_err());
        assert!(layered("", &["--s3-region", "x"]).is_err());
        assert!(layered("", &["--token-ttl", "5"]).is_err());
        assert!(layered("", &["--storage", "s3://"]).is_err());
    }

    #[test]
    fn memory_config_uses_ephemeral_loopback_port() {
        let c = Config::memory();
        assert_eq!(c.listen.port(), 0);
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.max_manifest_size, 4 * 1024 * 1024);
    }
}
