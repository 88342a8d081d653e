#!/usr/bin/env bash
# Bench: request-layer fuzz throughput against the embedded reference server (goal: 1,000 cases/s
# or more on an idle machine, release build).
#   .ci/bench-fuzz.sh [cases, default 20000] [harness binary, default target/release/oci-conformance]
# Shrinking is off so a finding (there should be none) cannot stall the count; prints the run's
# summary line (cases/s and requests/s).
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-20000}
bin=${2:-target/release/oci-conformance}
[[ -x $bin ]] || cargo build --release --quiet --bin oci-conformance
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" fuzz --layer request --seed 7 --cases "$cases" --time 120 --shrink-iters 0 --out "$out" 2>/dev/null |
  grep -E 'cases/s|^FAIL' || true
