#!/usr/bin/env bash
# Interop with clients we did not write: skopeo and podman (Debian), the Python oras client (PyPI).
#   .ci/interop.sh HOST:PORT [PYTHON]
# Builds an OCI image layout by hand (no network pulls), copies it into the registry with skopeo,
# inspects it, lists tags, copies it back and compares every digest and byte, deletes it; then
# pushes and pulls an artifact with oras; finally `podman search` must find the skopeo repository
# through the registry's /v2/_catalog. Exits non-zero on the first mismatch.
# With auth and TLS (the registry's token flow over https):
#   INTEROP_CERT_DIR=DIR   skopeo trusts DIR/ca.crt (--cert-dir) instead of skipping certificate checks
#   INTEROP_CREDS=USER:PW  log in with these (skopeo --creds, podman --creds); then skopeo must also be
#                          refused without credentials and with a wrong password
#   INTEROP_CLIENTS        which clients run (default "skopeo oras podman"; oras speaks plain HTTP here)
set -euo pipefail
reg=${1:?usage: interop.sh HOST:PORT [PYTHON]}
py=${2:-python3}
case $reg in 127.*|localhost:*|\[::1\]:*) ;; *) echo "interop.sh: loopback registries only: $reg" >&2; exit 2 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "interop: FAIL: $*" >&2; exit 1; }
ok() { echo "interop: ok: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- an OCI image layout, written by hand -------------------------------------------------------
layout=$work/layout
mkdir -p "$layout/blobs/sha256" "$work/rootfs/etc"
printf 'hello from oci-conformance interop\n' > "$work/rootfs/etc/motd"
head -c 300000 /dev/urandom > "$work/rootfs/etc/noise.bin"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" etc
diffid=$(sha "$work/layer.tar")
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
layer=$(sha "$work/layer.tar.gz"); cp "$work/layer.tar.gz" "$layout/blobs/sha256/$layer"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" > "$work/config.json"
config=$(sha "$work/config.json"); cp "$work/config.json" "$layout/blobs/sha256/$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config" "$(size "$work/config.json")" "$layer" "$(size "$work/layer.tar.gz")" > "$work/manifest.json"
manifest=$(sha "$work/manifest.json"); cp "$work/manifest.json" "$layout/blobs/sha256/$manifest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$manifest" "$(size "$work/manifest.json")" > "$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

clients=${INTEROP_CLIENTS:-skopeo oras podman}
has() { [[ " $clients " == *" $1 "* ]]; }
# One flag set per direction: trust the test CA or skip verification; log in or not.
if [[ -n ${INTEROP_CERT_DIR:-} ]]; then
  src=(--src-cert-dir "$INTEROP_CERT_DIR"); dst=(--dest-cert-dir "$INTEROP_CERT_DIR"); one=(--cert-dir "$INTEROP_CERT_DIR")
else
  src=(--src-tls-verify=false); dst=(--dest-tls-verify=false); one=(--tls-verify=false)
fi
anon=("${one[@]}")
if [[ -n ${INTEROP_CREDS:-} ]]; then
  src+=(--src-creds "$INTEROP_CREDS"); dst+=(--dest-creds "$INTEROP_CREDS"); one+=(--creds "$INTEROP_CREDS")
fi

# --- skopeo ----------------------------------------------------------------------------------------
repo=interop/skopeo-$$
ref=docker://$reg/$repo
export REGISTRY_AUTH_FILE=$work/auth.json; echo '{}' > "$REGISTRY_AUTH_FILE"
if has skopeo; then
if [[ -n ${INTEROP_CREDS:-} ]]; then
  if skopeo --tmpdir "$work" copy --quiet "${anon[@]/--/--dest-}" "oci:$layout:v1" "$ref:v1" 2>/dev/null; then
    fail "skopeo pushed without credentials"
  fi
  ok "skopeo copy without credentials is refused"
  wrong=(--dest-creds "${INTEROP_CREDS%%:*}:not-the-password")
  if skopeo --tmpdir "$work" copy --quiet "${anon[@]/--/--dest-}" "${wrong[@]}" "oci:$layout:v1" "$ref:v1" 2>/dev/null; then
    fail "skopeo pushed with a wrong password"
  fi
  ok "skopeo copy with a wrong password is refused"
fi
skopeo --tmpdir "$work" copy --quiet "${dst[@]}" "oci:$layout:v1" "$ref:v1" || fail "skopeo copy into the registry"
ok "skopeo copy oci layout -> $repo:v1"

skopeo inspect --raw "${one[@]}" "$ref:v1" > "$work/pulled-manifest.json" || fail "skopeo inspect --raw"
[[ $(sha "$work/pulled-manifest.json") == "$manifest" ]] || fail "manifest bytes changed in transit"
ok "skopeo inspect --raw: manifest sha256:$manifest byte-identical"

skopeo inspect "${one[@]}" "$ref:v1" > "$work/inspect.json" || fail "skopeo inspect"
grep -q "sha256:$manifest" "$work/inspect.json" || fail "skopeo inspect does not report the manifest digest"
ok "skopeo inspect reports the digest"

skopeo list-tags "${one[@]}" "$ref" > "$work/tags.json" || fail "skopeo list-tags"
grep -q '"v1"' "$work/tags.json" || fail "tag v1 not listed: $(cat "$work/tags.json")"
ok "skopeo list-tags lists v1"
if [[ -n ${INTEROP_CREDS:-} ]]; then
  if skopeo inspect --raw "${anon[@]}" "$ref:v1" >/dev/null 2>&1; then fail "skopeo inspect without credentials succeeded"; fi
  ok "skopeo inspect without credentials is refused"
fi

back=$work/back
skopeo --tmpdir "$work" copy --quiet "${src[@]}" "$ref:v1" "oci:$back:v1" || fail "skopeo copy back"
for d in "$manifest" "$config" "$layer"; do
  [[ -f $back/blobs/sha256/$d ]] || fail "round trip lost sha256:$d"
  cmp -s "$back/blobs/sha256/$d" "$layout/blobs/sha256/$d" || fail "round trip changed sha256:$d"
done
ok "skopeo copy back: manifest, config and layer byte-identical"

skopeo delete "${one[@]}" "$ref@sha256:$manifest" || fail "skopeo delete"
if skopeo inspect --raw "${one[@]}" "$ref:v1" >/dev/null 2>&1; then fail "manifest still served after delete"; fi
ok "skopeo delete: the manifest and its tag are gone"
fi

# --- oras (Python SDK) -----------------------------------------------------------------------------
if has oras; then
"$py" - "$reg" "$work" <<'PY' || fail "oras push/pull"
import hashlib, os, sys
import oras.client
reg, work = sys.argv[1], sys.argv[2]
os.chdir(work)
data = os.urandom(70000)
with open("artifact.bin", "wb") as f:
    f.write(data)
client = oras.client.OrasClient(hostname=reg, insecure=True)
target = f"{reg}/interop/oras-{os.getpid()}:v1"
resp = client.push(target=target, files=["artifact.bin"])
assert resp.status_code in (200, 201), resp.status_code
tags = client.get_tags(target)
assert "v1" in tags, tags
os.makedirs("pulled", exist_ok=True)
files = client.pull(target=target, outdir="pulled")
got = open(files[0], "rb").read()
assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "artifact bytes changed"
manifest = client.get_manifest(target)
assert manifest["layers"][0]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
client.delete_tags(target, ["v1"])
print("interop: ok: oras push, get_tags, pull (bytes identical), get_manifest, delete_tags")
PY
fi
# --- podman search (the _catalog extension) ---------------------------------------------------------
# State in a temp dir, no daemon, no cgroups needed. The skopeo repository still links its blobs
# after the manifest delete above, so it is still a repository on every registry.
pm=$work/podman
podman_() { timeout 120 podman --root "$pm/root" --runroot "$pm/run" --storage-driver vfs \
  --cgroup-manager cgroupfs --events-backend none "$@"; }
if has podman; then
# Debian's podman 4.3 search has neither --cert-dir (it reads /etc/containers/certs.d, which CI
# must not touch) nor --creds: TLS without verification, credentials through an auth file.
pm_flags=(--tls-verify=false)
if [[ -n ${INTEROP_CREDS:-} ]]; then
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$reg" "$(printf '%s' "$INTEROP_CREDS" | base64 -w0)" > "$work/podman-auth.json"
  pm_flags+=(--authfile "$work/podman-auth.json")
fi
podman_ search "${pm_flags[@]}" --limit 1000 --format '{{.Name}}' "$reg/$repo" > "$work/search.txt" \
  || fail "podman search $reg/$repo"
grep -qx "$reg/$repo" "$work/search.txt" || fail "podman search did not find $repo: $(cat "$work/search.txt")"
ok "podman search finds $repo (via /v2/_catalog)"
fi
echo "interop: all checks passed"
