//! `oci-reference-server`: runs the registry. Every switch has a flag, an `OCI_SERVER_*`
//! environment fallback and a TOML key (`--config`), all declared once in `config::Settings`;
//! flags and env win over the file.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use oci_reference_server::config::Settings;
use oci_reference_server::{Config, Htpasswd, StorageConfig};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A complete, fast OCI Distribution Specification registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML file with the same keys as the flags (snake_case); environment and flags override it.
    #[arg(long, env = "OCI_SERVER_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
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

/// Defaults < the `--config` file < environment < flags, resolved into one checked `Config`.
fn resolve(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<Config> {
    let settings = match &cli.config {
        None => cli.settings,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Settings::from_toml(&text)
                .with_context(|| format!("in {}", path.display()))?
                .update_from(matches)
                .unwrap_or_else(|e| e.exit())
        }
    };
    let config = settings.resolve()?;
    if config.auth.as_ref().is_some_and(|a| a.users.is_empty()) {
        tracing::warn!("the htpasswd file has no users: only anonymous access works");
    }
    Ok(config)
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
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(user) = &cli.hash_password {
        hash_password(user)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let command = cli.command.take();
    let config = resolve(cli, &matches)?;
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
