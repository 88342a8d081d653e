//! `oci-reference-server`: runs the registry. Every switch has a flag, an `OCI_SERVER_*`
//! environment fallback and a TOML key (`--config`); flags and env win over the file.

use anyhow::Context;
use clap::Parser;
use oci_reference_server::{Config, StorageConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A complete, fast OCI Distribution Specification registry"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "OCI_SERVER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Filesystem storage root (default ./data).
    #[arg(long, env = "OCI_SERVER_ROOT")]
    root: Option<PathBuf>,
    /// Keep everything in memory (lost on exit).
    #[arg(long, env = "OCI_SERVER_MEMORY", conflicts_with = "root")]
    memory: bool,
    /// TOML file with the same keys as the flags (snake_case); flags override it.
    #[arg(long, env = "OCI_SERVER_CONFIG")]
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
}

impl Cli {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut c = Config::default();
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
        // Flags can only switch features off (or set sizes): the file or defaults say "on".
        c.delete_manifests &= !self.no_delete_manifests;
        c.delete_tags &= !self.no_delete_tags;
        c.delete_blobs &= !self.no_delete_blobs;
        c.referrers &= !self.no_referrers;
        c.auto_mount &= !self.no_auto_mount;
        c.cross_mount &= !self.no_cross_mount;
        c.single_post &= !self.no_single_post;
        c.tag_param &= !self.no_tag_param;
        c.read_only |= self.read_only;
        c.sparse_manifests |= self.sparse_manifests;
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
        Ok(c)
    }
}

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
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Cli::parse().into_config()?;
    tracing::info!(?config, "starting");
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
    Ok(())
}
