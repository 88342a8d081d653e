//! Temporary driver for `fuzz` / `replay` until the CLI (branch `harness`) lands on main and the
//! subcommands are wired there; then this file goes away.
//!   cargo run --example fuzz -- fuzz --url http://127.0.0.1:5000 --cases 500 --time 60
//!   cargo run --example fuzz -- replay reports/fuzz/<file>.json --url http://127.0.0.1:5000

use clap::{Parser, Subcommand};
use oci_conformance::fuzz::{self, cli};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Fuzz(cli::FuzzArgs),
    Replay(cli::ReplayArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().cmd {
        Cmd::Fuzz(a) => {
            let Some(url) = a.target.url.clone() else {
                eprintln!("--url is required until the embedded reference server lands");
                return 2.into();
            };
            let cfg = a.config(&url);
            match fuzz::run(&cfg) {
                Ok(s) => {
                    print!("{s}");
                    if s.findings.is_empty() {
                        0.into()
                    } else {
                        1.into()
                    }
                }
                Err(e) => {
                    eprintln!("fuzz: {e}");
                    2.into()
                }
            }
        }
        Cmd::Replay(a) => {
            let url = a.target.url.clone().expect("--url");
            match fuzz::replay(&a.file, &a.target.config(&url)) {
                Ok(fuzz::ReplayOutcome::Passes) => {
                    println!("{}: passes now", a.file.display());
                    0.into()
                }
                Ok(fuzz::ReplayOutcome::Fails {
                    signature,
                    same,
                    message,
                }) => {
                    println!(
                        "{}: still fails ({}): {signature}: {message}",
                        a.file.display(),
                        if same {
                            "same signature"
                        } else {
                            "different signature"
                        }
                    );
                    1.into()
                }
                Err(e) => {
                    eprintln!("replay: {e}");
                    2.into()
                }
            }
        }
    }
}
