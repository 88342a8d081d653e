//! Property-based fuzzing of a registry's endpoint handling.
//!
//! Two layers, both driven by proptest so every failure is shrunk before it is reported:
//! * [`probe`]: single requests built from the spec's grammars, judged by a per-request oracle
//!   (allowed statuses, well-formed error bodies, never 5xx, always an answer, registry alive).
//! * [`model`]: random operation sequences applied both to the registry and to an in-memory
//!   model of what the spec says the registry must then hold, with invariants after each step.
//!
//! A run is reproducible from its seed; each minimal failure is written under `reports/fuzz/` as
//! a case file in the `specs/` format (grouped by a stable signature) that `replay` re-runs.
//!
//! Usage (the CLI flattens [`cli::FuzzArgs`] / [`cli::ReplayArgs`] into its subcommands and calls
//! [`cli::fuzz_command`] / [`cli::replay_command`]):
//! ```text
//! oci-conformance fuzz [--url URL] [--seed N] [--cases N] [--time SECS] [--rate REQ_PER_S]
//!                      [--layer request|model|both] [--out reports/fuzz] [--no-referrers]
//!                      [--no-delete-tags] [--no-delete-manifests] [--no-delete-blobs]
//!                      [--no-cross-mount] [--no-upload-cancel] [--lazy-deletes]
//!                      [--spec-version 1.1.1|dev] [--concurrency N]
//! oci-conformance replay reports/fuzz/<signature>.json [--url URL] [--tries N]
//! ```
//! With `--concurrency N` (N > 1) the run stages races instead: N clients on the same
//! repositories, judged by what must hold under any interleaving (see [`race`]).
//! Without `--url` the embedded reference server is the target. Exit codes: 0 nothing found /
//! replay passes, 1 findings written / replay still fails, 2 the run could not be done.
//!
//! Findings carry a level: MUST, or SHOULD when every requirement they cite is a SHOULD; crashes
//! (5xx, broken connection, timeout) are always MUST. Every repository a run touches is under
//! `<namespace>/<run id>/`, so runs never see each other's content.

pub mod cli;
pub mod coverage;
pub mod grammar;
pub mod http;
pub mod model;
pub mod oracle;
pub mod probe;
pub mod push;
pub mod race;
pub mod repro;
pub mod runner;

use crate::spec::Feature;
use std::path::PathBuf;
use std::time::Duration;

pub use runner::{replay, run, ReplayOutcome, RunSummary};

/// Errors that stop a fuzz run (as opposed to spec violations, which are its findings).
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("I/O: {0}")]
    Io(String),
    #[error("registry at {url} is not usable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("fixture setup failed: {0}")]
    Setup(String),
    #[error("reproducer {path}: {detail}")]
    Reproducer { path: String, detail: String },
}

impl From<std::io::Error> for FuzzError {
    fn from(e: std::io::Error) -> Self {
        FuzzError::Io(e.to_string())
    }
}

/// Optional registry behaviour the fuzzer may rely on. The names follow the reference server's
/// `Config` switches and `run`'s feature switches, so one configuration serves all three.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Features {
    pub referrers: bool,
    pub delete_manifests: bool,
    pub delete_tags: bool,
    pub delete_blobs: bool,
    pub cross_mount: bool,
    /// Uploads can be cancelled with `DELETE <location>` (end-14, main only).
    pub upload_cancel: bool,
    /// Deletes may take effect later: "deleted content answers 404" is not checked.
    pub lazy_deletes: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            referrers: true,
            delete_manifests: true,
            delete_tags: true,
            delete_blobs: true,
            cross_mount: true,
            upload_cancel: true,
            lazy_deletes: false,
        }
    }
}

impl Features {
    /// Everything on except the named features (the typed names `run` takes too, so a typo is
    /// refused by the command line before it gets here).
    pub fn without(disabled: &[Feature]) -> Features {
        let mut f = Features::default();
        for d in disabled {
            match d {
                Feature::Referrers => f.referrers = false,
                Feature::DeleteManifest => f.delete_manifests = false,
                Feature::DeleteTag => f.delete_tags = false,
                Feature::DeleteBlob => f.delete_blobs = false,
                Feature::Mount => f.cross_mount = false,
                Feature::UploadCancel => f.upload_cancel = false,
                // What the fuzzer does not depend on.
                _ => {}
            }
        }
        f
    }
}

/// Which layers a run exercises.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Request,
    Model,
    Both,
}

#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// Base URL of the registry, e.g. `http://127.0.0.1:5000`.
    pub url: String,
    /// The spec version answers are judged by (what it makes a MUST, e.g. `Docker-Content-Digest`
    /// on pulls, which only main requires).
    pub version: crate::spec::SpecVersion,
    pub seed: u64,
    /// Upper bound on generated cases (both layers together).
    pub cases: u32,
    /// Upper bound on wall-clock time.
    pub time: Option<Duration>,
    /// Maximum requests per second (None: as fast as the registry answers).
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub layer: Layer,
    /// Racing clients per scenario; above 1 the run is a race campaign ([`race`]) instead of
    /// the sequential layers.
    pub concurrency: usize,
    pub features: Features,
    /// Where reproducers go (`reports/fuzz` by default).
    pub out_dir: PathBuf,
    /// First path component of every repository the run creates.
    pub namespace: String,
    /// Only run request probes whose kind is listed (empty: all). Used by focused tests.
    pub probe_kinds: Vec<String>,
    /// Longest operation sequence of the model layer.
    pub max_ops: usize,
    /// Cases per proptest batch; each batch has its own seed derived from `seed`.
    pub batch: u32,
    /// Shrinking budget per failure.
    pub max_shrink_iters: u32,
    /// Print progress and findings to stderr.
    pub verbose: bool,
    /// End the campaign after the batch that found the first bug (budget tests measure how
    /// many cases finding it takes).
    pub stop_at_first_finding: bool,
    /// Basic credentials, as for `run`.
    pub credentials: Option<crate::http::Credentials>,
    /// Certificate checks for https:// registries, as for `run`.
    pub tls: crate::http::TlsOptions,
}

impl FuzzConfig {
    pub fn new(url: impl Into<String>) -> Self {
        FuzzConfig {
            url: url.into(),
            version: crate::spec::SpecVersion::Dev,
            seed: rand::random(),
            cases: 256,
            time: None,
            rate: None,
            timeout: Duration::from_secs(10),
            layer: Layer::Both,
            concurrency: 1,
            features: Features::default(),
            out_dir: PathBuf::from("reports/fuzz"),
            namespace: "fuzz".into(),
            probe_kinds: Vec::new(),
            max_ops: 10,
            batch: 64,
            max_shrink_iters: 2048,
            verbose: false,
            stop_at_first_finding: false,
            credentials: None,
            tls: Default::default(),
        }
    }
}
