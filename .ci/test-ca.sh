#!/usr/bin/env bash
# A throwaway CA and a server certificate for 127.0.0.1 and localhost, for TLS runs in CI:
#   .ci/test-ca.sh DIR   -> DIR/ca.pem, DIR/server.pem, DIR/server.key, DIR/certs/ca.crt (a
#                           containers-style cert dir for skopeo --cert-dir). Valid for 2 days.
set -euo pipefail
dir=${1:?usage: test-ca.sh DIR}
mkdir -p "$dir/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=oci-conformance CI CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$dir/ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
  -extfile "$dir/ext" -out "$dir/server.pem" 2>/dev/null
cp "$dir/ca.pem" "$dir/certs/ca.crt"
