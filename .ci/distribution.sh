#!/usr/bin/env bash
# Start CNCF distribution (Debian's docker-registry 2.8.x) on loopback for the harness to test.
#   .ci/distribution.sh start PORT DIR [HTPASSWD]
#                                        -> prints the PID once GET /v2/ answers 200 (401 with
#                                           HTPASSWD: Basic auth from that bcrypt file) (10 s at most)
#   .ci/distribution.sh stop PID         -> stops a docker-registry this script started
# Our own config: filesystem storage in DIR, deletes on, no auth unless HTPASSWD, plain HTTP on
# 127.0.0.1 only.
set -euo pipefail
die() { echo "distribution.sh: $*" >&2; exit 2; }

case ${1:-} in
stop)
  pid=${2:?usage: distribution.sh stop PID}
  [[ -r /proc/$pid/cmdline ]] || exit 0
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'docker-registry serve' || die "PID $pid is not docker-registry"
  kill "$pid"
  for _ in $(seq 50); do [[ -e /proc/$pid ]] || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  exit 0 ;;
start) ;;
*) die "usage: distribution.sh start PORT DIR | stop PID" ;;
esac

port=${2:?port}; dir=${3:?dir}; htpasswd=${4:-}
ready=200
command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install docker-registry)"
mkdir -p "$dir/storage"
cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: oci-conformance-ci-only
YML
if [[ -n $htpasswd ]]; then
  [[ -r $htpasswd ]] || die "cannot read $htpasswd"
  printf 'auth:\n  htpasswd:\n    realm: oci-conformance-ci\n    path: %s\n' "$htpasswd" >> "$dir/config.yml"
  ready=401
fi
docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/registry.log" >&2; die "docker-registry exited during start-up"; }
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/v2/" || true)
  [[ $code == "$ready" ]] && { echo "$pid"; exit 0; }
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
die "docker-registry did not answer on 127.0.0.1:$port within 10 s"
