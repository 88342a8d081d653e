//! `oci-reference-server`: runs the registry. Every switch has a flag, an `OCI_SERVER_*`
//! environment fallback and a TOML key (`--config`); flags and env win over the file.

use anyhow::Context;
use clap::Parser;
use oci_reference_server::config::{Defect, ErrorBodies};
use oci_reference_server::limits::FileLimits;
use oci_reference_server::{AccessRule, AuthConfig, Config, Htpasswd, StorageConfig, TlsConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A complete, fast OCI Distribution Specification registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "OCI_SERVER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Filesystem storage root (default ./data).
    #[arg(long, env = "OCI_SERVER_ROOT", global = true)]
    root: Option<PathBuf>,
    /// Keep everything in memory (lost on exit).
    #[arg(long, env = "OCI_SERVER_MEMORY", conflicts_with = "root")]
    memory: bool,
    /// Object storage, `s3://bucket[/prefix]`: any number of servers may share it (replicas).
    /// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the other AWS
    /// environment variables), never from flags.
    #[arg(
        long,
        env = "OCI_SERVER_STORAGE",
        conflicts_with = "root",
        global = true
    )]
    storage: Option<String>,
    /// S3 API endpoint, e.g. http://127.0.0.1:3900 (default: AWS, or AWS_ENDPOINT).
    #[arg(long, env = "OCI_SERVER_S3_ENDPOINT", global = true)]
    s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "OCI_SERVER_S3_REGION", global = true)]
    s3_region: Option<String>,
    /// Allow a plain-HTTP S3 endpoint (loopback test clusters).
    #[arg(long, env = "OCI_SERVER_S3_ALLOW_HTTP", global = true)]
    s3_allow_http: bool,
    /// TOML file with the same keys as the flags (snake_case); flags override it.
    #[arg(long, env = "OCI_SERVER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Refuse manifest deletion (405 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_NO_DELETE_MANIFESTS")]
    no_delete_manifests: bool,
    /// Refuse tag deletion (405 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_NO_DELETE_TAGS")]
    no_delete_tags: bool,
    /// Refuse blob deletion (405 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_NO_DELETE_BLOBS")]
    no_delete_blobs: bool,
    /// Disable the referrers API (404) and OCI-Subject.
    #[arg(long, env = "OCI_SERVER_NO_REFERRERS")]
    no_referrers: bool,
    /// Disable the _catalog extension (GET /v2/_catalog answers 404 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_NO_CATALOG")]
    no_catalog: bool,
    /// Mount without `from` opens an upload session instead of searching every repository.
    #[arg(long, env = "OCI_SERVER_NO_AUTO_MOUNT")]
    no_auto_mount: bool,
    /// Mount with `from` opens an upload session instead of mounting.
    #[arg(long, env = "OCI_SERVER_NO_CROSS_MOUNT")]
    no_cross_mount: bool,
    /// POST ?digest= opens an upload session instead of completing the upload.
    #[arg(long, env = "OCI_SERVER_NO_SINGLE_POST")]
    no_single_post: bool,
    /// Minimum non-final chunk size, advertised as OCI-Chunk-Min-Length.
    #[arg(long, env = "OCI_SERVER_CHUNK_MIN_LENGTH")]
    chunk_min_length: Option<u64>,
    /// Largest accepted manifest in bytes (413 above; default 4 MiB).
    #[arg(long, env = "OCI_SERVER_MAX_MANIFEST_SIZE")]
    max_manifest_size: Option<u64>,
    /// Refuse every write (405 UNSUPPORTED).
    #[arg(long, env = "OCI_SERVER_READ_ONLY")]
    read_only: bool,
    /// Accept manifests whose blobs or child manifests are missing.
    #[arg(long, env = "OCI_SERVER_SPARSE_MANIFESTS")]
    sparse_manifests: bool,
    /// Ignore ?tag= on manifest pushes by digest (no OCI-Tag).
    #[arg(long, env = "OCI_SERVER_NO_TAG_PARAM")]
    no_tag_param: bool,
    /// Most ?tag= values in one push (414 above; default 100).
    #[arg(long, env = "OCI_SERVER_MAX_TAGS_PER_PUSH")]
    max_tags_per_push: Option<usize>,
    /// Cap on tags per page (a capped page carries Link).
    #[arg(long, env = "OCI_SERVER_TAG_PAGE_SIZE")]
    tag_page_size: Option<usize>,
    /// Referrers per page (pages carry Link).
    #[arg(long, env = "OCI_SERVER_REFERRERS_PAGE_SIZE")]
    referrers_page_size: Option<usize>,
    /// Require authentication: `basic` (htpasswd users) or `token` (bearer tokens from /token).
    #[arg(long, env = "OCI_SERVER_AUTH", value_parser = ["basic", "token"])]
    auth: Option<String>,
    /// htpasswd file with bcrypt hashes (required with --auth).
    #[arg(long, env = "OCI_SERVER_HTPASSWD")]
    htpasswd: Option<PathBuf>,
    /// Access rule USERS:REPOSITORY-GLOB:ACTIONS (repeatable; `;` separates rules in the env
    /// variable). None: every user may do everything.
    #[arg(long = "access", env = "OCI_SERVER_ACCESS", value_delimiter = ';')]
    access: Vec<String>,
    /// Callers without credentials may pull every repository.
    #[arg(long, env = "OCI_SERVER_ANONYMOUS_PULL")]
    anonymous_pull: bool,
    /// Service name: Basic realm, token audience (default oci-reference-server).
    #[arg(long, env = "OCI_SERVER_AUTH_SERVICE")]
    auth_service: Option<String>,
    /// Token endpoint URL for the Bearer challenge (default: this server's /token).
    #[arg(long, env = "OCI_SERVER_AUTH_REALM")]
    auth_realm: Option<String>,
    /// Token lifetime in seconds (default 300).
    #[arg(long, env = "OCI_SERVER_TOKEN_TTL", value_parser = clap::value_parser!(u64).range(1..))]
    token_ttl: Option<u64>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "OCI_SERVER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, env = "OCI_SERVER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Most open connections (one more is answered 503 TOOMANYREQUESTS; default 1000).
    #[arg(long, env = "OCI_SERVER_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds to receive a request head, TLS handshake included; also the HTTP/1.1 keep-alive
    /// idle limit (default 30).
    #[arg(long, env = "OCI_SERVER_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<u64>,
    /// Seconds without a byte either way before a connection is closed (default 300).
    #[arg(long, env = "OCI_SERVER_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Longest wait in seconds for the next piece of a request body (default 60).
    #[arg(long, env = "OCI_SERVER_BODY_TIMEOUT")]
    body_timeout: Option<u64>,
    /// Bytes of manifest bodies buffered at once, all requests together (default 256 MiB; above
    /// it 429 TOOMANYREQUESTS).
    #[arg(long, env = "OCI_SERVER_MANIFEST_MEMORY")]
    manifest_memory: Option<u64>,
    /// Seconds allowed to receive a whole manifest body (default 120).
    #[arg(long, env = "OCI_SERVER_MANIFEST_BODY_TIMEOUT")]
    manifest_body_timeout: Option<u64>,
    /// Seconds an upload session may stay unused before it is purged (default 86400).
    #[arg(long, env = "OCI_SERVER_UPLOAD_EXPIRY")]
    upload_expiry: Option<u64>,
    /// Seconds between online garbage collections of unreferenced blobs (default 3600; 0: off).
    #[arg(long, env = "OCI_SERVER_GC_INTERVAL")]
    gc_interval: Option<u64>,
    /// Failed logins per client address per window before it is refused (default 20).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURES_PER_ADDRESS")]
    auth_failures_per_address: Option<u32>,
    /// Failed logins per user name per window before that user is refused from addresses
    /// it never logged in from (default 10).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURES_PER_USER")]
    auth_failures_per_user: Option<u32>,
    /// Seconds over which failed logins are counted (default 60).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURE_WINDOW")]
    auth_failure_window: Option<u64>,
    /// Start from a permissive profile: the other branch of every MAY and "either X or Y"
    /// (README: "Permissive and broken profiles"), for the spec's main branch or the versions
    /// before it. Other switches apply on top.
    #[arg(long, env = "OCI_SERVER_PROFILE", value_parser = ["permissive", "permissive-pre-main"])]
    profile: Option<String>,
    /// Tags and catalog pages cut by `n` carry no Link (clients continue with `last`).
    #[arg(long, env = "OCI_SERVER_NO_PAGE_LINKS")]
    no_page_links: bool,
    /// Error bodies: json (default), bare (code only) or text (text/plain).
    #[arg(long, env = "OCI_SERVER_ERROR_BODIES", value_enum)]
    error_bodies: Option<ErrorBodies>,
    /// Send no Docker-Content-Digest (a SHOULD before the spec's main branch).
    #[arg(long, env = "OCI_SERVER_NO_DIGEST_HEADER")]
    no_digest_header: bool,
    /// A mount with `from` finds the blob in any repository.
    #[arg(long, env = "OCI_SERVER_MOUNT_FROM_ANYWHERE")]
    mount_from_anywhere: bool,
    /// Disabled deletes answer 400 instead of 405.
    #[arg(long, env = "OCI_SERVER_DISABLED_STATUS_400")]
    disabled_status_400: bool,
    /// Ignore an unsatisfiable or reversed byte range (200) instead of answering 416.
    #[arg(long, env = "OCI_SERVER_IGNORE_UNSATISFIABLE_RANGE")]
    ignore_unsatisfiable_range: bool,
    /// `_oci/ext/discover` answers 404 UNSUPPORTED.
    #[arg(long, env = "OCI_SERVER_NO_DISCOVERY")]
    no_discovery: bool,
    /// Location headers are absolute URLs (default: absolute paths).
    #[arg(long, env = "OCI_SERVER_ABSOLUTE_LOCATIONS")]
    absolute_locations: bool,
    /// List tags in case-insensitive lexical order instead of ASCII order.
    #[arg(long, env = "OCI_SERVER_LEXICAL_TAGS")]
    lexical_tags: bool,
    /// A manifest or blob of an unknown repository is NAME_UNKNOWN, not MANIFEST_/BLOB_UNKNOWN.
    #[arg(long, env = "OCI_SERVER_NAME_UNKNOWN")]
    name_unknown: bool,
    /// Only repository names of exactly this many components exist (e.g. 2: `org/repo`, like
    /// registries that accept nothing deeper); others answer 404 NAME_UNKNOWN. 0: any depth
    #[arg(long, env = "OCI_SERVER_NAME_COMPONENTS")]
    name_components: Option<usize>,
    /// Every Nth request answers 429 TOOMANYREQUESTS, like a rate-limited registry, with
    /// `Retry-After` as seconds and as an HTTP-date by turns. 0: never
    #[arg(long, env = "OCI_SERVER_TOO_MANY_REQUESTS_EVERY")]
    too_many_requests_every: Option<u64>,
    /// Send this `Warning` header value on every answer (e.g. `299 - "text"`).
    #[arg(long, env = "OCI_SERVER_WARNING")]
    warning: Option<String>,
    /// Deliberate spec violations for testing clients and the harness (comma list).
    #[arg(long, env = "OCI_SERVER_DEFECTS", value_enum, value_delimiter = ',')]
    defect: Vec<Defect>,
    /// Print `USER:<bcrypt hash>` for the password read from stdin (one line), then exit.
    #[arg(long, value_name = "USER")]
    hash_password: Option<String>,
}

/// Offline maintenance of a filesystem root (stop the server first: these read the indexes
/// once and would not see its changes).
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Verify every repository index against the blob store; exit 1 if a problem remains.
    Check {
        /// Move unreadable indexes aside (into `damaged/`) and drop dangling entries.
        #[arg(long)]
        repair: bool,
    },
    /// Delete blobs that no repository references (the server also does this online).
    Gc {
        /// Only report what would be freed.
        #[arg(long)]
        dry_run: bool,
    },
}

async fn maintain(command: Command, config: Config) -> anyhow::Result<std::process::ExitCode> {
    match command {
        Command::Check { repair } => {
            let StorageConfig::Filesystem(root) = &config.storage else {
                anyhow::bail!("maintenance needs a filesystem root (--root)")
            };
            let problems = oci_reference_server::maintenance::check_root(root, repair)
                .await
                .with_context(|| format!("checking the repository index in {}", root.display()))?;
            let mut left = 0;
            for p in &problems {
                match &p.repaired {
                    Some(how) => println!("{}: {} (repaired: {how})", p.location, p.what),
                    None => {
                        left += 1;
                        println!("{}: {}", p.location, p.what);
                    }
                }
            }
            println!("{} problem(s), {} left unrepaired", problems.len(), left);
            Ok(if left == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
        Command::Gc { dry_run } => {
            let registry = oci_reference_server::open_registry(config)
                .await
                .context("opening the registry")?;
            let report = registry
                .collect_garbage(dry_run)
                .await
                .context("collecting garbage")?;
            for (d, size) in &report.blobs {
                println!("{d} {size}");
            }
            let verb = if dry_run { "would free" } else { "freed" };
            println!(
                "{verb} {} blob(s), {} bytes",
                report.blobs.len(),
                report.bytes
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

impl Cli {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut c = Config::default();
        match self.profile.as_deref() {
            Some("permissive") => c = c.permissive(),
            Some("permissive-pre-main") => c = c.permissive_pre_main(),
            _ => {}
        }
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            c.apply_toml(&text)
                .with_context(|| format!("in {}", path.display()))?;
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(r) = self.root {
            c.storage = StorageConfig::Filesystem(r);
        }
        if self.memory {
            c.storage = StorageConfig::Memory;
        }
        if let Some(url) = &self.storage {
            anyhow::ensure!(!self.memory, "--storage and --memory exclude each other");
            c.storage = StorageConfig::S3(
                oci_reference_server::storage::S3Config::parse_url(url)
                    .with_context(|| format!("--storage {url:?}: expected s3://bucket[/prefix]"))?,
            );
        }
        if let StorageConfig::S3(s3) = &mut c.storage {
            if let Some(e) = self.s3_endpoint {
                s3.endpoint = Some(e);
            }
            if let Some(r) = self.s3_region {
                s3.region = Some(r);
            }
            s3.allow_http |= self.s3_allow_http;
        } else if self.s3_endpoint.is_some() || self.s3_region.is_some() || self.s3_allow_http {
            anyhow::bail!("--s3-endpoint, --s3-region and --s3-allow-http need --storage s3://...");
        }
        // Flags can only switch features off (or set sizes): the file or defaults say "on".
        c.delete_manifests &= !self.no_delete_manifests;
        c.delete_tags &= !self.no_delete_tags;
        c.delete_blobs &= !self.no_delete_blobs;
        c.referrers &= !self.no_referrers;
        c.catalog &= !self.no_catalog;
        c.auto_mount &= !self.no_auto_mount;
        c.cross_mount &= !self.no_cross_mount;
        c.single_post &= !self.no_single_post;
        c.tag_param &= !self.no_tag_param;
        c.read_only |= self.read_only;
        c.sparse_manifests |= self.sparse_manifests;
        c.page_links &= !self.no_page_links;
        if let Some(b) = self.error_bodies {
            c.error_bodies = b;
        }
        c.digest_header &= !self.no_digest_header;
        c.mount_from_anywhere |= self.mount_from_anywhere;
        c.disabled_status_400 |= self.disabled_status_400;
        c.ignore_unsatisfiable_range |= self.ignore_unsatisfiable_range;
        c.discovery &= !self.no_discovery;
        c.absolute_locations |= self.absolute_locations;
        c.name_unknown |= self.name_unknown;
        c.lexical_tags |= self.lexical_tags;
        if let Some(n) = self.too_many_requests_every {
            c.too_many_requests_every = (n > 0).then_some(n);
        }
        if let Some(n) = self.name_components {
            c.name_components = (n > 0).then_some(n);
        }
        if let Some(w) = self.warning {
            c.warning = (!w.is_empty()).then_some(w);
        }
        for d in self.defect {
            if !c.defects.contains(&d) {
                c.defects.push(d);
            }
        }
        if let Some(n) = self.chunk_min_length {
            c.chunk_min_length = (n > 0).then_some(n);
        }
        if let Some(n) = self.max_manifest_size {
            c.max_manifest_size = n;
        }
        if let Some(n) = self.max_tags_per_push {
            c.max_tags_per_push = n;
        }
        if let Some(n) = self.tag_page_size {
            c.tag_page_size = (n > 0).then_some(n);
        }
        if let Some(n) = self.referrers_page_size {
            c.referrers_page_size = (n > 0).then_some(n);
        }
        if let Some(mode) = &self.auth {
            let mode = oci_reference_server::config::parse_auth_mode(mode)?;
            match (&mut c.auth, &self.htpasswd) {
                (Some(a), _) => a.mode = mode,
                (None, Some(_)) => c.auth = Some(AuthConfig::new(mode, Htpasswd::default())),
                (None, None) => anyhow::bail!(
                    "--auth needs --htpasswd FILE (OCI_SERVER_HTPASSWD), the users and their bcrypt hashes"
                ),
            }
        }
        let auth_flags = self.htpasswd.is_some()
            || !self.access.is_empty()
            || self.anonymous_pull
            || self.auth_service.is_some()
            || self.auth_realm.is_some()
            || self.token_ttl.is_some();
        match &mut c.auth {
            None if auth_flags => anyhow::bail!(
                "authentication options need --auth basic|token (or an [auth] table in the config file)"
            ),
            None => {}
            Some(a) => {
                if let Some(p) = &self.htpasswd {
                    a.users = Htpasswd::load(p)?;
                }
                if !self.access.is_empty() {
                    a.rules = self
                        .access
                        .iter()
                        .filter(|r| !r.trim().is_empty())
                        .map(|r| r.parse::<AccessRule>().map_err(anyhow::Error::msg))
                        .collect::<anyhow::Result<_>>()?;
                }
                a.anonymous_pull |= self.anonymous_pull;
                if let Some(s) = self.auth_service {
                    a.service = s;
                }
                if let Some(r) = self.auth_realm {
                    a.realm = Some(r);
                }
                if let Some(t) = self.token_ttl {
                    a.token_ttl = std::time::Duration::from_secs(t);
                }
                if a.users.is_empty() {
                    tracing::warn!("the htpasswd file has no users: only anonymous access works");
                }
            }
        }
        if let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) {
            c.tls = Some(TlsConfig { cert, key });
        }
        c.limits.apply(FileLimits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            body_timeout: self.body_timeout,
            manifest_memory: self.manifest_memory,
            manifest_body_timeout: self.manifest_body_timeout,
            upload_expiry: self.upload_expiry,
            gc_interval: self.gc_interval,
            auth_failures_per_address: self.auth_failures_per_address,
            auth_failures_per_user: self.auth_failures_per_user,
            auth_failure_window: self.auth_failure_window,
        })?;
        Ok(c)
    }
}

/// `--hash-password USER`: the password comes from stdin so it stays out of the process list
/// and shell history.
fn hash_password(user: &str) -> anyhow::Result<()> {
    if user.is_empty() || user.contains(':') {
        anyhow::bail!("user name must be non-empty and contain no ':'");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    println!("{user}:{}", Htpasswd::hash(password, 10));
    Ok(())
}

/// Raises the open-file limit to its hard maximum (each connection is a descriptor) and warns
/// when even that cannot hold `--max-connections` plus the files the server itself opens.
#[cfg(unix)]
fn raise_open_file_limit(connections: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    let needed = (connections as libc::rlim_t).saturating_add(64);
    if lim.rlim_cur < needed {
        tracing::warn!(
            limit = lim.rlim_cur,
            max_connections = connections,
            "the open-file limit is below max-connections + 64: lower --max-connections or raise the limit"
        );
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit(_connections: usize) {}

/// Registers SIGINT/SIGTERM handlers now (before we announce readiness, so an early signal
/// cannot hit the default action) and returns a future that resolves on the first of them.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut cli = Cli::parse();
    if let Some(user) = &cli.hash_password {
        hash_password(user)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let command = cli.command.take();
    let config = cli.into_config()?;
    if let Some(command) = command {
        return maintain(command, config).await;
    }
    tracing::info!(?config, "starting");
    raise_open_file_limit(config.limits.max_connections);
    let stop = shutdown_signal()?;
    let server = oci_reference_server::spawn(config)
        .await
        .context("starting the server")?;
    tracing::info!(url = %server.url(), "listening");
    // One plain line on stdout once the port is bound, for scripts that start us on port 0.
    println!("{}", server.url());
    stop.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(std::process::ExitCode::SUCCESS)
}
