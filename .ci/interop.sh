#!/usr/bin/env bash
# Interop with clients we did not write: skopeo, podman, buildah, umoci and containerd's ctr
# (Debian), the Python oras client (PyPI) and the Rust oci-client crate (tests/oci-client-interop).
#   .ci/interop.sh HOST:PORT [PYTHON]
# Builds an OCI image layout by hand (no network pulls), copies it into the registry with skopeo,
# inspects it, lists tags, copies it back and compares every digest and byte, deletes it; then
# pushes and pulls an artifact with oras; `podman search` must find the skopeo repository
# through the registry's /v2/_catalog. buildah, ctr and oci-client each push, pull back byte for
# byte, copy into a second repository by mounting, push and pull a two-platform index, and see a
# delete (made with skopeo: none of them deletes from a registry); umoci builds a layout offline
# (manifests without `mediaType`) that skopeo pushes and umoci unpacks again after the round trip.
# Exits non-zero on the first mismatch.
#   INTEROP_SERVER_LOG=FILE  the registry's request log (reference server, RUST_LOG=debug): each
#                            client's copy must show up there as a mount (`query=mount=…&from=…`)
# With auth and TLS (the registry's token flow over https):
#   INTEROP_CERT_DIR=DIR   skopeo trusts DIR/ca.crt (--cert-dir) instead of skipping certificate checks
#   INTEROP_CREDS=USER:PW  log in with these (skopeo --creds, podman --creds); then skopeo must also be
#                          refused without credentials and with a wrong password
#   INTEROP_CLIENTS        which clients run (default "skopeo oras podman buildah umoci ctr oci-client";
#                          oras speaks plain HTTP here)
set -euo pipefail
reg=${1:?usage: interop.sh HOST:PORT [PYTHON]}
py=${2:-python3}
case $reg in 127.*|localhost:*|\[::1\]:*) ;; *) echo "interop.sh: loopback registries only: $reg" >&2; exit 2 ;; esac

work=$(mktemp -d)
cpid= bl=
# containerd (ctr's daemon) stopped by its PID; buildah's lowercase-only layout copy removed too.
cleanup() {
  if [[ -n $cpid ]]; then kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true; fi
  rm -rf "$work" ${bl:+"$bl"}
}
trap cleanup EXIT
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

clients=${INTEROP_CLIENTS:-skopeo oras podman buildah umoci ctr oci-client}
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
# --- shared by the clients below --------------------------------------------------------------------
root=$(cd "$(dirname "$0")/.." && pwd)
# A blob mounted into REPO shows in the registry's request log as a POST with `mount=` and `from=`
# answered 201.
mounted() {
  [[ -n ${INTEROP_SERVER_LOG:-} ]] || return 0
  grep -F "path=/v2/$1/blobs/uploads/ query=" "$INTEROP_SERVER_LOG" | grep "[=&]mount=sha256" | grep "[=&]from=" \
    | grep -q "status=201" \
    || fail "the registry log shows no blob mounted into $1"
  ok "the registry log shows blobs mounted into $1 (mount=…&from=…)"
}
gone() { # REF: the registry no longer serves it
  if skopeo inspect --raw "${one[@]}" "docker://$1" >/dev/null 2>&1; then fail "$1 still served after delete"; fi
}
# A two-platform layout: the image above (amd64) and an arm64 one sharing its layer, listed in an
# image index with platforms (ref names amd64 and arm64).
multi=$work/multi
mkdir -p "$multi/blobs/sha256"
cp "$layout/blobs/sha256/"* "$multi/blobs/sha256/"
printf '{"architecture":"arm64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" > "$work/config2.json"
config2=$(sha "$work/config2.json"); cp "$work/config2.json" "$multi/blobs/sha256/$config2"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config2" "$(size "$work/config2.json")" "$layer" "$(size "$work/layer.tar.gz")" > "$work/manifest2.json"
manifest2=$(sha "$work/manifest2.json"); cp "$work/manifest2.json" "$multi/blobs/sha256/$manifest2"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"arm64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"arm64"}}]}' \
  "$manifest" "$(size "$work/manifest.json")" "$manifest2" "$(size "$work/manifest2.json")" > "$multi/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$multi/oci-layout"
index=$(sha "$multi/index.json"); cp "$multi/index.json" "$multi/blobs/sha256/$index"

# --- containerd's ctr ------------------------------------------------------------------------------
# Its own daemon: state, sockets and content under the temp dir, only the plugins a push and pull
# need, stopped by PID.
if has ctr; then
cd_=$work/containerd
mkdir -p "$cd_"
cat > "$cd_/config.toml" <<EOF
version = 2
root = "$cd_/root"
state = "$cd_/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$cd_/containerd.sock"
[ttrpc]
  address = "$cd_/containerd-ttrpc.sock"
[debug]
  address = "$cd_/debug.sock"
EOF
containerd --config "$cd_/config.toml" > "$cd_/log" 2>&1 &
cpid=$!
ctr_() { timeout 120 ctr -a "$cd_/containerd.sock" -n interop "$@"; }
for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_ version >/dev/null 2>&1 || { cat "$cd_/log" >&2; fail "containerd did not start"; }
if [[ -n ${INTEROP_CERT_DIR:-} ]]; then
  # ctr speaks plain HTTP to 127.0.0.1 unless a hosts.toml says https.
  mkdir -p "$cd_/hosts/$reg"
  printf 'server = "https://%s"\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "%s"\n' \
    "$reg" "$reg" "$INTEROP_CERT_DIR/ca.crt" > "$cd_/hosts/$reg/hosts.toml"
  cflags=(--hosts-dir "$cd_/hosts")
else
  cflags=(--plain-http)
fi
[[ -n ${INTEROP_CREDS:-} ]] && cflags+=(--user "$INTEROP_CREDS")
cref=$reg/interop/ctr-$$:multi
tar -C "$multi" -cf "$work/multi.tar" .
ctr_ images import --all-platforms --index-name "$cref" "$work/multi.tar" >/dev/null || fail "ctr images import"
ctr_ images push "${cflags[@]}" "$cref" >/dev/null || fail "ctr images push"
skopeo inspect --raw "${one[@]}" "docker://$cref" > "$work/ctr-index.json" || fail "the index ctr pushed is not served"
[[ $(sha "$work/ctr-index.json") == "$index" ]] || fail "ctr: index bytes changed in transit"
ok "ctr push: two-platform index sha256:$index byte-identical in the registry"
# Forget everything, pull it back, compare every blob.
ctr_ images rm "$cref" >/dev/null
for d in "$index" "$manifest" "$manifest2" "$config" "$config2" "$layer"; do ctr_ content rm "sha256:$d" >/dev/null 2>&1 || true; done
ctr_ images pull --all-platforms "${cflags[@]}" "$cref" >/dev/null || fail "ctr images pull"
for d in "$index" "$manifest" "$manifest2" "$config" "$config2" "$layer"; do
  ctr_ content get "sha256:$d" > "$work/ctr-blob" || fail "ctr pull lost sha256:$d"
  cmp -s "$work/ctr-blob" "$multi/blobs/sha256/$d" || fail "ctr pull changed sha256:$d"
done
ok "ctr pull --all-platforms: index, both manifests and configs, layer byte-identical"
# Pulled content remembers its source repository: a push to another one mounts from it.
ccopy=$reg/interop/ctr-$$-copy:multi
ctr_ images tag "$cref" "$ccopy" >/dev/null
ctr_ images push "${cflags[@]}" "$ccopy" >/dev/null || fail "ctr push of the copy"
skopeo inspect --raw "${one[@]}" "docker://$ccopy" > "$work/ctr-copy.json" || fail "the copy is not served"
[[ $(sha "$work/ctr-copy.json") == "$index" ]] || fail "ctr: the copy's index differs"
ok "ctr copy into interop/ctr-$$-copy"
mounted "interop/ctr-$$-copy"
skopeo delete "${one[@]}" "docker://${cref%:multi}@sha256:$index" || fail "delete of ctr's index"
ctr_ images rm "$cref" >/dev/null; ctr_ content rm "sha256:$index" >/dev/null 2>&1 || true
if ctr_ images pull --all-platforms "${cflags[@]}" "$cref" >/dev/null 2>&1; then fail "ctr still pulls a deleted index"; fi
gone "$cref"
ok "ctr: the deleted index is gone"
kill "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=
fi

# --- buildah ---------------------------------------------------------------------------------------
# Storage in temp dirs (vfs); a second, empty storage for pulls so nothing is served from cache.
if has buildah; then
buildah_() { local st=$1; shift; timeout 120 buildah --root "$work/$st/root" --runroot "$work/$st/run" --storage-driver vfs "$@"; }
if [[ -n ${INTEROP_CERT_DIR:-} ]]; then bflags=(--cert-dir "$INTEROP_CERT_DIR"); else bflags=(--tls-verify=false); fi
[[ -n ${INTEROP_CREDS:-} ]] && bflags+=(--creds "$INTEROP_CREDS")
bref=$reg/interop/buildah-$$
# buildah names an image pulled from a layout after its path, which must then be lowercase.
bl=${TMPDIR:-/tmp}/interop-buildah-$$-$RANDOM
mkdir -m 700 "$bl"
cp -a "$layout" "$bl/layout"; cp -a "$multi" "$bl/multi"
bimg=$(buildah_ b1 pull --quiet "oci:$bl/layout:v1") || fail "buildah pull of the layout"
buildah_ b1 push --quiet "${bflags[@]}" --digestfile "$work/b.digest" "$bimg" "docker://$bref:v1" \
  || fail "buildah push"
bdig=$(cat "$work/b.digest")
skopeo inspect --raw "${one[@]}" "docker://$bref:v1" > "$work/b-manifest.json" || fail "buildah's push is not served"
[[ sha256:$(sha "$work/b-manifest.json") == "$bdig" ]] || fail "buildah: manifest bytes changed in transit"
ok "buildah push: manifest $bdig byte-identical in the registry"
buildah_ b2 pull --quiet "${bflags[@]}" "docker://$bref:v1" >/dev/null || fail "buildah pull"
[[ $(buildah_ b2 images --digests --format '{{.Digest}}' "$bref:v1") == "$bdig" ]] || fail "buildah pulled another digest"
bctr=$(buildah_ b2 from --pull-never "$bref:v1") || fail "buildah from"
bmnt=$(buildah_ b2 mount "$bctr") || fail "buildah mount"
cmp -s "$bmnt/etc/motd" "$work/rootfs/etc/motd" && cmp -s "$bmnt/etc/noise.bin" "$work/rootfs/etc/noise.bin" \
  || fail "buildah pull: file contents changed"
buildah_ b2 umount "$bctr" >/dev/null; buildah_ b2 rm "$bctr" >/dev/null
ok "buildah pull: same digest, layer files byte-identical"
buildah_ b2 push --quiet "${bflags[@]}" "$bref:v1" "docker://$bref-copy:v1" || fail "buildah push of the copy"
skopeo inspect --raw "${one[@]}" "docker://$bref-copy:v1" >/dev/null || fail "buildah's copy is not served"
ok "buildah copy into interop/buildah-$$-copy"
mounted "interop/buildah-$$-copy"
buildah_ b1 manifest create "interop-list-$$" >/dev/null || fail "buildah manifest create"
for a in amd64 arm64; do buildah_ b1 manifest add "interop-list-$$" "oci:$bl/multi:$a" >/dev/null || fail "buildah manifest add $a"; done
buildah_ b1 manifest push --quiet --all "${bflags[@]}" --digestfile "$work/bm.digest" "interop-list-$$" "docker://$bref:multi" \
  || fail "buildah manifest push --all"
skopeo inspect --raw "${one[@]}" "docker://$bref:multi" > "$work/b-index.json" || fail "buildah's index is not served"
[[ sha256:$(sha "$work/b-index.json") == "$(cat "$work/bm.digest")" ]] || fail "buildah: index bytes changed in transit"
"${py}" -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifests"]; assert sorted(x["platform"]["architecture"] for x in m)==["amd64","arm64"], m' \
  "$work/b-index.json" || fail "buildah's index lost a platform"
buildah_ b3 pull --quiet "${bflags[@]}" --arch arm64 "docker://$bref:multi" >/dev/null || fail "buildah pull --arch arm64"
[[ $(buildah_ b3 inspect --type image --format '{{.OCIv1.Architecture}}' "$bref:multi") == arm64 ]] || fail "buildah pulled the wrong platform"
ok "buildah manifest push --all: two-platform index byte-identical; pull --arch arm64 gets the arm64 image"
skopeo delete "${one[@]}" "docker://$bref@$bdig" || fail "delete of buildah's image"
if buildah_ b4 pull --quiet "${bflags[@]}" "docker://$bref:v1" >/dev/null 2>&1; then fail "buildah still pulls a deleted image"; fi
ok "buildah: the deleted image is gone"
fi

# --- umoci -----------------------------------------------------------------------------------------
# umoci works offline: it builds the layout (its manifests have no `mediaType`); skopeo carries it.
if has umoci; then
ul=$work/umoci
umoci init --layout "$ul" && umoci new --image "$ul:v1" || fail "umoci init/new"
umoci unpack --image "$ul:v1" "$work/ubundle" >/dev/null || fail "umoci unpack"
cp -a "$work/rootfs/etc/." "$work/ubundle/rootfs/etc/"
umoci repack --image "$ul:v1" "$work/ubundle" || fail "umoci repack"
umoci config --image "$ul:v1" --config.cmd /bin/true || fail "umoci config"
umanifest=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$ul/index.json")
grep -q '"mediaType":"application/vnd.oci.image.manifest' "$ul/blobs/sha256/$umanifest" \
  && echo "interop: note: this umoci writes mediaType in its manifests"
uref=$reg/interop/umoci-$$
skopeo --tmpdir "$work" copy --quiet "${dst[@]}" "oci:$ul:v1" "docker://$uref:v1" || fail "push of umoci's layout"
skopeo inspect --raw "${one[@]}" "docker://$uref:v1" > "$work/u-manifest.json" || fail "umoci's image is not served"
[[ $(sha "$work/u-manifest.json") == "$umanifest" ]] || fail "umoci's manifest bytes changed in transit"
ok "umoci layout pushed: manifest sha256:$umanifest byte-identical"
skopeo --tmpdir "$work" copy --quiet "${src[@]}" "docker://$uref:v1" "oci:$work/uback:v1" || fail "pull of umoci's image"
umoci unpack --image "$work/uback:v1" "$work/ubundle2" >/dev/null || fail "umoci unpack of the pulled image"
cmp -s "$work/ubundle2/rootfs/etc/noise.bin" "$work/rootfs/etc/noise.bin" || fail "umoci: file contents changed"
ok "umoci unpacks the pulled image: files byte-identical"
skopeo --tmpdir "$work" copy --quiet "${src[@]}" "${dst[@]}" "docker://$uref:v1" "docker://$uref-copy:v1" \
  || fail "copy of umoci's image"
mounted "interop/umoci-$$-copy"
skopeo delete "${one[@]}" "docker://$uref@sha256:$umanifest" || fail "delete of umoci's image"
gone "$uref:v1"
ok "umoci's image deleted"
fi

# --- the oci-client crate --------------------------------------------------------------------------
# tests/oci-client-interop: its own workspace and lock file, built here only (a cold build takes
# minutes, so never in `cargo test --workspace`).
if has oci-client; then
oc=${INTEROP_OCI_CLIENT:-}
if [[ -z $oc ]]; then
  CARGO_TARGET_DIR=$root/target/oci-client-interop cargo build --quiet --locked \
    --manifest-path "$root/tests/oci-client-interop/Cargo.toml" || fail "building tests/oci-client-interop"
  oc=$root/target/oci-client-interop/debug/oci-client-interop
fi
orepo=interop/oci-client-$$
oenv=()
[[ -n ${INTEROP_CERT_DIR:-} ]] && oenv+=("INTEROP_CA_FILE=$INTEROP_CERT_DIR/ca.crt")
env "${oenv[@]}" timeout 120 "$oc" "$reg" "$orepo" > "$work/oc.out" || fail "oci-client"
grep '^interop:' "$work/oc.out"
odig=$(sed -n 's/^DIGEST //p' "$work/oc.out")
# With a token, oci-client cannot mount (see tests/oci-client-interop); without one it must.
if [[ -z ${INTEROP_CREDS:-} ]] || grep -qx 'MOUNTED true' "$work/oc.out"; then mounted "$orepo-copy"; fi
skopeo delete "${one[@]}" "docker://$reg/$orepo@$odig" || fail "delete of oci-client's image"
env "${oenv[@]}" timeout 60 "$oc" "$reg" "$orepo" gone "$odig" || fail "oci-client after delete"
fi

echo "interop: all checks passed"
