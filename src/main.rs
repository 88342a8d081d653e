#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = oci_conformance::cli::Cli::parse();
    std::process::exit(oci_conformance::cli::main_with(cli));
}
