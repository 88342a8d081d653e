//! Command-line surface of `fuzz` and `replay`, as clap `Args` the CLI flattens into its
//! subcommands. Feature switches mirror `run`'s so one configuration describes a registry.

use std::path::PathBuf;
use std::time::Duration;

use super::{Features, FuzzConfig, FuzzError, Layer, ReplayOutcome};
use crate::config::{exit, OfficialEnv, Target, TargetDefaults};

/// The target (the flags `run` takes too, resolved the same way) and the fuzzer's switches.
#[derive(Debug, Clone, clap::Args)]
pub struct FuzzTargetArgs {
    #[command(flatten)]
    pub registry: crate::config::TargetArgs,
    /// Maximum requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Optional features the registry lacks (comma list, the names `run` takes): the fuzzer
    /// avoids referrers, delete-manifest, delete-tag, delete-blob, mount (alias cross-mount)
    /// and upload-cancel; the others do not concern it. An unknown name is an error (exit 2).
    #[arg(
        long,
        env = "OCI_CONFORMANCE_DISABLE_FEATURES",
        value_delimiter = ',',
        value_enum
    )]
    pub disable_feature: Vec<crate::spec::Feature>,
    /// Spec version the answers are judged by: 1.0, 1.1, 1.1.1 or dev (main branch, the
    /// default), as for `run`
    #[arg(long, env = "OCI_CONFORMANCE_SPEC_VERSION")]
    pub spec_version: Option<String>,
    /// Deletes take effect lazily: do not require deleted content to answer 404.
    #[arg(long)]
    pub lazy_deletes: bool,
}

/// What `fuzz` and `replay` fall back to for the target flags.
const FUZZ_DEFAULTS: TargetDefaults = TargetDefaults {
    namespace: "fuzz",
    timeout: Duration::from_secs(10),
};

#[derive(Debug, Clone, clap::Args)]
pub struct FuzzArgs {
    #[command(flatten)]
    pub target: FuzzTargetArgs,
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
    /// Race N clients on the same repositories (N > 1): `--cases` then counts scenarios and
    /// `--layer`, `--max-ops`, `--probes` and `--shrink-iters` do not apply.
    #[arg(long, env = "OCI_CONFORMANCE_CONCURRENCY", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// A reproducer written by `fuzz`.
    pub file: PathBuf,
    #[command(flatten)]
    pub target: FuzzTargetArgs,
    /// Re-run it this many times and say how often it failed (races may need several tries;
    /// default 10 for a race reproducer, 1 otherwise).
    #[arg(long, env = "OCI_CONFORMANCE_REPLAY_TRIES",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tries: Option<u32>,
}

impl FuzzTargetArgs {
    pub fn features(&self) -> Result<Features, FuzzError> {
        let mut f = Features::without(&self.disable_feature);
        f.lazy_deletes = self.lazy_deletes;
        Ok(f)
    }
    /// The target flags, the official variables and the fuzzer's defaults, resolved and checked.
    pub fn resolve(&self) -> Result<Target, FuzzError> {
        let official = OfficialEnv::from_env().map_err(|e| FuzzError::Config(e.0))?;
        self.registry
            .resolve(&official, FUZZ_DEFAULTS)
            .map_err(|e| FuzzError::Config(e.0))
    }
    /// A config for `url` (the target's, or the embedded server's when it names none).
    pub fn config(&self, target: &Target, url: &str) -> Result<FuzzConfig, FuzzError> {
        let mut c = FuzzConfig::new(url);
        if let Some(s) = target.seed {
            c.seed = s;
        }
        c.rate = self.rate;
        c.timeout = target.timeout;
        c.namespace = target.namespace.clone();
        c.features = self.features()?;
        if let Some(v) = &self.spec_version {
            c.version = v.parse().map_err(FuzzError::Config)?;
        }
        c.tls = target.tls.clone();
        c.credentials = target.credentials.clone();
        Ok(c)
    }
}

impl FuzzArgs {
    pub fn config(&self, target: &Target, url: &str) -> Result<FuzzConfig, FuzzError> {
        let mut c = self.target.config(target, url)?;
        c.cases = self.cases;
        c.time = self.time.map(Duration::from_secs);
        c.layer = self.layer;
        c.out_dir = self.out.clone();
        c.max_ops = self.max_ops;
        c.probe_kinds = self.probes.clone();
        c.max_shrink_iters = self.shrink_iters;
        c.concurrency = self.concurrency as usize;
        c.verbose = true;
        Ok(c)
    }
}

/// Resolves the target flags, then runs `f` against the target's URL, or against an embedded
/// reference server (memory storage, every optional feature on) when it names none. Runs on
/// its own thread, so it is safe to call from inside an async `main`.
pub fn with_target<T: Send>(
    args: &FuzzTargetArgs,
    f: impl FnOnce(&Target, &str) -> T + Send,
) -> Result<T, FuzzError> {
    let target = args.resolve()?;
    let target = &target;
    std::thread::scope(|s| {
        s.spawn(|| match target.url.as_deref() {
            Some(u) => Ok(f(target, u)),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| FuzzError::Io(e.to_string()))?;
                let server = rt
                    .block_on(oci_reference_server::spawn(
                        oci_reference_server::Config::memory(),
                    ))
                    .map_err(|e| FuzzError::Config(format!("embedded reference server: {e}")))?;
                let out = f(target, &server.url());
                rt.block_on(server.shutdown());
                Ok(out)
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// `oci-conformance fuzz`: prints the seed first and a summary last. Exit code 0 when nothing
/// was found, 1 when findings were written, 2 when the run could not be done.
pub fn fuzz_command(a: &FuzzArgs) -> i32 {
    if a.concurrency > 1 {
        let r = with_target(&a.target, |t, url| {
            a.config(t, url).and_then(|c| super::race::run(&c))
        });
        return finish(r.and_then(|x| x), |s| s.findings.is_empty());
    }
    let r = with_target(&a.target, |t, url| {
        a.config(t, url).and_then(|c| super::run(&c))
    });
    finish(r.and_then(|x| x), |s| s.findings.is_empty())
}

/// Prints a fuzz summary and turns it into the exit code; the sequential layers and
/// `--concurrency` share the same codes.
fn finish<S: std::fmt::Display, E: std::fmt::Display>(
    r: Result<S, E>,
    clean: impl Fn(&S) -> bool,
) -> i32 {
    match r {
        Ok(s) => {
            print!("{s}");
            if clean(&s) {
                exit::OK
            } else {
                exit::FAILURES
            }
        }
        Err(e) => {
            eprintln!("fuzz: {}", crate::report::printable(&e.to_string()));
            exit::SETUP
        }
    }
}

/// `replay` of a race reproducer: exit code 1 when any try failed, 0 when none did.
fn race_replay_command(a: &ReplayArgs) -> i32 {
    let tries = a.tries.unwrap_or(10);
    let r = with_target(&a.target, |t, url| {
        a.target
            .config(t, url)
            .and_then(|c| super::race::replay(&a.file, &c, tries))
    });
    match r.and_then(|x| x) {
        Ok(rep) => {
            println!(
                "{}: {}",
                a.file.display(),
                crate::report::printable(&rep.to_string())
            );
            if rep.reproduced > 0 {
                exit::FAILURES
            } else {
                exit::OK
            }
        }
        Err(e) => {
            eprintln!("replay: {}", crate::report::printable(&e.to_string()));
            exit::SETUP
        }
    }
}

/// `oci-conformance replay FILE`: exit code 0 when it passes now, 1 when it still fails (with
/// `--tries N`, when it failed in any of the N tries).
pub fn replay_command(a: &ReplayArgs) -> i32 {
    if super::race::is_race_reproducer(&a.file) {
        return race_replay_command(a);
    }
    let tries = a.tries.unwrap_or(1);
    if tries > 1 {
        let r = with_target(&a.target, |t, url| {
            let c = a.target.config(t, url)?;
            let mut failed = 0u32;
            for _ in 0..tries {
                if let ReplayOutcome::Fails { .. } = super::replay(&a.file, &c)? {
                    failed += 1;
                }
            }
            Ok::<u32, FuzzError>(failed)
        });
        return match r.and_then(|x| x) {
            Ok(failed) => {
                println!("{}: failed in {failed} of {tries} tries", a.file.display());
                if failed > 0 {
                    exit::FAILURES
                } else {
                    exit::OK
                }
            }
            Err(e) => {
                eprintln!("replay: {}", crate::report::printable(&e.to_string()));
                exit::SETUP
            }
        };
    }
    let r = with_target(&a.target, |t, url| {
        a.target
            .config(t, url)
            .and_then(|c| super::replay(&a.file, &c))
    });
    match r.and_then(|x| x) {
        Ok(ReplayOutcome::Passes) => {
            println!(
                "{}: passes (the bug it reproduced is gone)",
                a.file.display()
            );
            exit::OK
        }
        Ok(ReplayOutcome::Fails {
            signature,
            same,
            message,
        }) => {
            let how = if same {
                "same signature"
            } else {
                "a different signature"
            };
            println!(
                "{}: still fails ({how}): {}",
                a.file.display(),
                crate::report::printable(&format!("{signature}: {message}"))
            );
            exit::FAILURES
        }
        Err(e) => {
            eprintln!("replay: {}", crate::report::printable(&e.to_string()));
            exit::SETUP
        }
    }
}
