//! Command-line surface of `fuzz` and `replay`, as clap `Args` the CLI flattens into its
//! subcommands. Feature switches mirror `run`'s so one configuration describes a registry.

use std::path::PathBuf;
use std::time::Duration;

use super::{Features, FuzzConfig, Layer};

#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Registry base URL (default: the embedded reference server).
    #[arg(long, env = "OCI_CONFORMANCE_URL")]
    pub url: Option<String>,
    /// Seed of the run (printed at start; default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Maximum requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// First path component of the repositories the run creates.
    #[arg(long, default_value = "fuzz")]
    pub namespace: String,
    /// The registry has no referrers API.
    #[arg(long)]
    pub no_referrers: bool,
    /// The registry does not delete manifests.
    #[arg(long)]
    pub no_delete_manifests: bool,
    /// The registry does not delete tags.
    #[arg(long)]
    pub no_delete_tags: bool,
    /// The registry does not delete blobs.
    #[arg(long)]
    pub no_delete_blobs: bool,
    /// The registry does not mount across repositories (a 202 fallback is expected).
    #[arg(long)]
    pub no_cross_mount: bool,
    /// The registry cannot cancel uploads (end-14).
    #[arg(long)]
    pub no_upload_cancel: bool,
    /// Deletes take effect lazily: do not require deleted content to answer 404.
    #[arg(long)]
    pub lazy_deletes: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FuzzArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Maximum number of generated cases.
    #[arg(long, default_value_t = 256)]
    pub cases: u32,
    /// Maximum run time in seconds.
    #[arg(long)]
    pub time: Option<u64>,
    /// Which layer to fuzz.
    #[arg(long, value_enum, default_value_t = Layer::Both)]
    pub layer: Layer,
    /// Where reproducers are written.
    #[arg(long, default_value = "reports/fuzz")]
    pub out: PathBuf,
    /// Longest operation sequence of the model layer.
    #[arg(long, default_value_t = 10)]
    pub max_ops: usize,
    /// Only these request probe kinds (get-manifest, get-blob, put-manifest, chunks,
    /// close-upload, list-tags, referrers, delete).
    #[arg(long, value_delimiter = ',')]
    pub probes: Vec<String>,
    /// Shrinking budget per failure (0: report failures unshrunk, e.g. to measure throughput).
    #[arg(long, default_value_t = 2048)]
    pub shrink_iters: u32,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// A reproducer written by `fuzz`.
    pub file: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
}

impl TargetArgs {
    pub fn features(&self) -> Features {
        Features {
            referrers: !self.no_referrers,
            delete_manifests: !self.no_delete_manifests,
            delete_tags: !self.no_delete_tags,
            delete_blobs: !self.no_delete_blobs,
            cross_mount: !self.no_cross_mount,
            upload_cancel: !self.no_upload_cancel,
            lazy_deletes: self.lazy_deletes,
        }
    }
    /// A config for `url` (the caller resolves the default target).
    pub fn config(&self, url: &str) -> FuzzConfig {
        let mut c = FuzzConfig::new(url);
        if let Some(s) = self.seed {
            c.seed = s;
        }
        c.rate = self.rate;
        c.timeout = Duration::from_secs(self.timeout.max(1));
        c.namespace = self.namespace.clone();
        c.features = self.features();
        c
    }
}

impl FuzzArgs {
    pub fn config(&self, url: &str) -> FuzzConfig {
        let mut c = self.target.config(url);
        c.cases = self.cases;
        c.time = self.time.map(Duration::from_secs);
        c.layer = self.layer;
        c.out_dir = self.out.clone();
        c.max_ops = self.max_ops;
        c.probe_kinds = self.probes.clone();
        c.max_shrink_iters = self.shrink_iters;
        c.verbose = true;
        c
    }
}
