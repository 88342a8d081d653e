#!/usr/bin/env bash
# Start the Rust `container-registry` crate's binary (0.3.1) on loopback for the harness to test:
# a small registry we did not write that accepts only two-component names (`org/app`).
#   .ci/container-registry.sh install       -> cargo-installs it (with its `bin` feature) unless
#                                              a container-registry 0.3.1 is already on PATH
#   .ci/container-registry.sh start PORT DIR PASSWORD_FILE
#                                           -> prints the PID once GET /v2/ answers 401 (Basic
#                                              auth: any user name, the password in the file)
#                                              (10 s at most); storage in DIR/storage
#   .ci/container-registry.sh stop PID      -> stops a container-registry this script started
# Its only configuration is the command line: --bind, --storage and --password (a single
# password that any user name may present).
set -euo pipefail
die() { echo "container-registry.sh: $*" >&2; exit 2; }
version=0.3.1

case ${1:-} in
install)
  if command -v container-registry >/dev/null \
    && cargo install --list | grep -qx "container-registry v$version:"; then
    exit 0
  fi
  cargo install --quiet --locked container-registry --version "$version" --features bin
  exit 0 ;;
stop)
  pid=${2:?usage: container-registry.sh stop PID}
  [[ -r /proc/$pid/cmdline ]] || exit 0
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'container-registry --bind' \
    || die "PID $pid is not a container-registry"
  kill "$pid"
  for _ in $(seq 50); do [[ -e /proc/$pid ]] || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  exit 0 ;;
start) ;;
*) die "usage: container-registry.sh install | start PORT DIR PASSWORD_FILE | stop PID" ;;
esac

port=${2:?port}; dir=${3:?dir}; pwfile=${4:?password file}
command -v container-registry >/dev/null || die "container-registry is not installed (.ci/container-registry.sh install)"
[[ -r $pwfile ]] || die "cannot read $pwfile"
mkdir -p "$dir"
# The binary takes its password only as an argument; this is a throwaway one on loopback.
container-registry --bind "127.0.0.1:$port" --storage "$dir/storage" --password "$(cat "$pwfile")" \
  > "$dir/registry.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/registry.log" >&2; die "container-registry exited during start-up"; }
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/v2/" || true)
  [[ $code == 401 ]] && { echo "$pid"; exit 0; }
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
die "container-registry did not answer on 127.0.0.1:$port within 10 s"
