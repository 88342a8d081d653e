#!/usr/bin/env bash
# Bench: the harness's peak memory against a registry whose every answer is a large body.
#   .ci/bench-harness-memory.sh [MiB per body, default 60] [harness binary, default target/debug]
# Starts the hostile registry (python3, on a free loopback port), runs the whole suite against it
# under /usr/bin/time -v, and prints the peak RSS. Before bodies were kept as a bounded prefix
# (with size and digests) this reached gigabytes; it should stay near 150 MB whatever the size.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-60}
bin=${2:-target/debug/oci-conformance}
[[ -x $bin ]] || cargo build --quiet
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$port" "$mib" <<'PY' &
import http.server, socketserver, sys
size, chunk = int(sys.argv[2]) << 20, b"a" * (1 << 20)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            got = self.rfile.read(min(n, 1 << 20))
            if not got: break
            n -= len(got)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = 0 if self.command == "HEAD" else size
        while left > 0:
            self.wfile.write(chunk[:min(left, len(chunk))]); left -= len(chunk)
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = answer
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
/usr/bin/time -v "$bin" run --url "http://127.0.0.1:$port" --no-progress --report-dir "$work" \
  >"$work/out" 2>"$work/err" || true
echo "bodies of $mib MiB: $(tail -1 "$work/out")"
grep -E 'Maximum resident set size|Elapsed' "$work/err"
