#!/usr/bin/env bash
# Starts the reference server with token auth over TLS for CI runs, with a CA and a password made
# here (nothing secret is checked in):
#   .ci/auth-server.sh BIN DIR PORT  -> prints the server's PID once GET /v2/ answers 401 (10 s)
# BIN is the oci-reference-server binary. DIR receives the test CA (see test-ca.sh), `password`
# (user alice; readable by the owner only), `htpasswd` and `server.log`.
set -euo pipefail
bin=${1:?usage: auth-server.sh BIN DIR PORT}; dir=${2:?dir}; port=${3:?port}
"$(dirname "$0")/test-ca.sh" "$dir"
(umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password")
"$bin" --hash-password alice < "$dir/password" > "$dir/htpasswd"
"$bin" --listen "127.0.0.1:$port" --memory --auth token --htpasswd "$dir/htpasswd" \
  --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" > "$dir/server.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; echo "auth-server.sh: the server exited" >&2; exit 2; }
  [[ $(curl -s --cacert "$dir/ca.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/v2/") == 401 ]] \
    && { echo "$pid"; exit 0; }
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
echo "auth-server.sh: no answer on 127.0.0.1:$port within 10 s" >&2
exit 2
