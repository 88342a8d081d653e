#!/usr/bin/env bash
# A three-node Garage cluster on 127.0.0.1 (replication factor 3), for the S3 backend's tests.
#   .ci/garage.sh start DIR   -> installs Garage if missing (cargo install --locked garage; it
#                                built in 100 minutes on a loaded 2-core machine), starts three nodes with
#                                their own directories and ports under DIR, lays the cluster out,
#                                creates a bucket and a key, and writes DIR/env: the endpoint,
#                                bucket, region and credentials as shell exports (`. DIR/env`).
#                                Prints nothing else on stdout. Credentials stay in DIR/env (mode
#                                600), never on the terminal.
#   .ci/garage.sh stop DIR    -> stops the nodes this script started (PIDs in DIR/pids).
# Garage (AGPL) is only ever run as a separate process here, never linked.
# Ports: GARAGE_PORT_BASE (default: a free range found at start) .. +12.
set -euo pipefail
die() { echo "garage.sh: $*" >&2; exit 2; }
say() { echo "garage.sh: $*" >&2; }

stop() {
  local dir=$1 pid
  [[ -r $dir/pids ]] || return 0
  while read -r pid; do
    [[ -r /proc/$pid/cmdline ]] || continue
    # Only a garage server started with one of this cluster's configs.
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir/node" || continue
    kill -CONT "$pid" 2>/dev/null || true # a node a test paused must still see the TERM
    kill "$pid" 2>/dev/null || true
  done < "$dir/pids"
  while read -r pid; do
    for _ in $(seq 50); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    [[ -e /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
  done < "$dir/pids"
  rm -f "$dir/pids"
}

case ${1:-} in
stop) stop "${2:?usage: garage.sh stop DIR}"; exit 0 ;;
start) ;;
*) die "usage: garage.sh start DIR | stop DIR" ;;
esac

dir=$(mkdir -p "${2:?usage: garage.sh start DIR}" && cd "$2" && pwd)
[[ -e $dir/pids ]] && die "$dir already holds a running cluster (garage.sh stop $dir first)"

if ! command -v garage >/dev/null; then
  command -v cargo >/dev/null || die "garage is missing and cargo is not installed"
  say "installing Garage (cargo install --locked garage; up to 100 minutes on 2 cores)"
  start=$SECONDS
  cargo install --locked garage >"$dir/install.log" 2>&1 || { tail -20 "$dir/install.log" >&2; die "cargo install garage failed"; }
  say "Garage built in $((SECONDS - start)) s"
fi
PATH=$HOME/.cargo/bin:$PATH
say "$(garage --version 2>/dev/null | head -1)"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=${GARAGE_PORT_BASE:-}
if [[ -z $base ]]; then
  for _ in $(seq 50); do
    cand=$((20000 + RANDOM % 30000))
    ok=1
    for off in $(seq 0 12); do port_free $((cand + off)) || { ok=0; break; }; done
    ((ok)) && { base=$cand; break; }
  done
  [[ -n $base ]] || die "no free port range found"
fi

secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
: > "$dir/pids"
trap 'stop "$dir"' ERR
for n in 1 2 3; do
  nd=$dir/node$n
  mkdir -p "$nd/meta" "$nd/data"
  rpc=$((base + 4 * (n - 1)))
  cat > "$nd/garage.toml" <<TOML
metadata_dir = "$nd/meta"
data_dir = "$nd/data"
db_engine = "sqlite"
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$((rpc + 1))"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((rpc + 2))"
TOML
  chmod 600 "$nd/garage.toml"
  RUST_LOG=${GARAGE_LOG:-warn} garage -c "$nd/garage.toml" server >"$nd/server.log" 2>&1 < /dev/null &
  echo $! >> "$dir/pids"
done

g() { garage -c "$dir/node1/garage.toml" "$@"; }
node_id() {
  local id
  for _ in $(seq 100); do
    id=$(garage -c "$dir/node$1/garage.toml" node id -q 2>/dev/null) && { echo "$id"; return 0; }
    sleep 0.2
  done
  cat "$dir/node$1/server.log" >&2
  die "node $1 did not answer within 20 s"
}
ids=()
for n in 1 2 3; do ids+=("$(node_id $n)"); done
g node connect "${ids[1]}" >/dev/null
g node connect "${ids[2]}" >/dev/null
# Zones decide where Garage sends a read: a consistent read goes to a quorum (2 of 3) only,
# the node itself first, then nodes of its own zone, then the lowest average ping. A hung node
# (the replica tests SIGSTOP node 3) is dropped only after five missed pings, over a minute;
# until then a read sent to it waits out Garage's RPC timeout (300 s). With one zone per node,
# node 1 chose between nodes 2 and 3 by a few noisy pings, and in a young cluster on a busy
# machine it often chose node 3. Nodes 1 and 2 share a zone, so node 1 (the tests' endpoint)
# reads from itself and node 2; every partition still lives on all three nodes.
zones=(dc1 dc1 dc2)
for n in 0 1 2; do g layout assign -z "${zones[$n]}" -c 1G "${ids[$n]%@*}" >/dev/null; done
g layout apply --version 1 >/dev/null

# A key we choose (garage key import), so nothing has to be parsed out of the CLI's tables.
key_id=GK$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
key_secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
bucket=${GARAGE_BUCKET:-oci-conformance}
for _ in $(seq 100); do g bucket create "$bucket" >/dev/null 2>&1 && break; sleep 0.2; done
g bucket info "$bucket" >/dev/null || die "bucket $bucket was not created"
g key import --yes -n oci-conformance "$key_id" "$key_secret" >/dev/null
g bucket allow --read --write --owner "$bucket" --key "$key_id" >/dev/null

umask 077
cat > "$dir/env" <<ENV
export GARAGE_DIR='$dir'
export GARAGE_ENDPOINT='http://127.0.0.1:$((base + 1))'
export GARAGE_ENDPOINTS='http://127.0.0.1:$((base + 1)),http://127.0.0.1:$((base + 5)),http://127.0.0.1:$((base + 9))'
export GARAGE_BUCKET='$bucket'
export GARAGE_NODE_PIDS='$(paste -sd, "$dir/pids")'
export AWS_REGION='garage'
export AWS_ACCESS_KEY_ID='$key_id'
export AWS_SECRET_ACCESS_KEY='$key_secret'
ENV
trap - ERR
say "3 nodes up (S3 on 127.0.0.1:$((base + 1)), :$((base + 5)), :$((base + 9))), bucket $bucket; . $dir/env"
