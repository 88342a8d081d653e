//! Temporary driver for `fuzz` / `replay` until the CLI (branch `harness`) lands on main and the
//! subcommands are wired there (`fuzz::cli::{fuzz_command, replay_command}`); then this goes.
//!   cargo run --release --example fuzz -- fuzz [--url http://127.0.0.1:5000] --cases 500 --time 60
//!   cargo run --release --example fuzz -- replay reports/fuzz/<file>.json [--url …]

use clap::{Parser, Subcommand};
use oci_conformance::fuzz::cli;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Property-based fuzzing of a registry (the embedded reference server without --url).
    Fuzz(cli::FuzzArgs),
    /// Re-run a reproducer written by `fuzz` and say whether it still fails.
    Replay(cli::ReplayArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().cmd {
        Cmd::Fuzz(a) => cli::fuzz_command(&a),
        Cmd::Replay(a) => cli::replay_command(&a),
    }
}
