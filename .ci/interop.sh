#!/usr/bin/env bash
# Interop with clients we did not write: skopeo and podman (Debian), the Python oras client (PyPI).
#   .ci/interop.sh HOST:PORT [PYTHON]
# Builds an OCI image layout by hand (no network pulls), copies it into the registry with skopeo,
# inspects it, lists tags, copies it back and compares every digest and byte, deletes it; then
# pushes and pulls an artifact with oras; finally `podman search` must find the skopeo repository
# through the registry's /v2/_catalog. Exits non-zero on the first mismatch.
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

# --- skopeo ----------------------------------------------------------------------------------------
repo=interop/skopeo-$$
ref=docker://$reg/$repo
export REGISTRY_AUTH_FILE=$work/auth.json; echo '{}' > "$REGISTRY_AUTH_FILE"
skopeo --tmpdir "$work" copy --quiet --dest-tls-verify=false "oci:$layout:v1" "$ref:v1" || fail "skopeo copy into the registry"
ok "skopeo copy oci layout -> $repo:v1"

skopeo inspect --raw --tls-verify=false "$ref:v1" > "$work/pulled-manifest.json" || fail "skopeo inspect --raw"
[[ $(sha "$work/pulled-manifest.json") == "$manifest" ]] || fail "manifest bytes changed in transit"
ok "skopeo inspect --raw: manifest sha256:$manifest byte-identical"

skopeo inspect --tls-verify=false "$ref:v1" > "$work/inspect.json" || fail "skopeo inspect"
grep -q "sha256:$manifest" "$work/inspect.json" || fail "skopeo inspect does not report the manifest digest"
ok "skopeo inspect reports the digest"

skopeo list-tags --tls-verify=false "$ref" > "$work/tags.json" || fail "skopeo list-tags"
grep -q '"v1"' "$work/tags.json" || fail "tag v1 not listed: $(cat "$work/tags.json")"
ok "skopeo list-tags lists v1"

back=$work/back
skopeo --tmpdir "$work" copy --quiet --src-tls-verify=false "$ref:v1" "oci:$back:v1" || fail "skopeo copy back"
for d in "$manifest" "$config" "$layer"; do
  [[ -f $back/blobs/sha256/$d ]] || fail "round trip lost sha256:$d"
  cmp -s "$back/blobs/sha256/$d" "$layout/blobs/sha256/$d" || fail "round trip changed sha256:$d"
done
ok "skopeo copy back: manifest, config and layer byte-identical"

skopeo delete --tls-verify=false "$ref@sha256:$manifest" || fail "skopeo delete"
if skopeo inspect --raw --tls-verify=false "$ref:v1" >/dev/null 2>&1; then fail "manifest still served after delete"; fi
ok "skopeo delete: the manifest and its tag are gone"

# --- oras (Python SDK) -----------------------------------------------------------------------------
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
# --- podman search (the _catalog extension) ---------------------------------------------------------
# State in a temp dir, no daemon, no cgroups needed. The skopeo repository still links its blobs
# after the manifest delete above, so it is still a repository on every registry.
pm=$work/podman
podman_() { timeout 120 podman --root "$pm/root" --runroot "$pm/run" --storage-driver vfs \
  --cgroup-manager cgroupfs --events-backend none "$@"; }
podman_ search --tls-verify=false --limit 1000 --format '{{.Name}}' "$reg/$repo" > "$work/search.txt" \
  || fail "podman search $reg/$repo"
grep -qx "$reg/$repo" "$work/search.txt" || fail "podman search did not find $repo: $(cat "$work/search.txt")"
ok "podman search finds $repo (via /v2/_catalog)"
echo "interop: all checks passed"
