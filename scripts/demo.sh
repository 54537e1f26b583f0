#!/usr/bin/env bash
# The sealgate demo: a real registry (Debian's docker-registry) on loopback, sealgate in front of
# it on an embedded sled store, and skopeo pushing and pulling an image through sealgate.
# Everything lives in .demo/ and every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh demo
echo "==> building sealgate"
cargo build -q -p sealgate
sealgate="$root/target/debug/sealgate"

work="$root/.demo"
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

reg_port=$(free_port)
sed -e "s#@DIR@#$work/registry#" -e "s#@PORT@#$reg_port#" >"$work/registry.yml" <<'YML'
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: "@DIR@"}
  delete: {enabled: true}
http: {addr: "127.0.0.1:@PORT@"}
YML
step "starting docker-registry (CNCF distribution) on 127.0.0.1:$reg_port"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$reg_port/v2/"

sg_port=$(free_port)
cat >"$work/sealgate.toml" <<TOML
listen = "127.0.0.1:$sg_port"
[storage]
path = "$work/sealgate-store"
[[upstream]]
name = "local"
url = "http://127.0.0.1:$reg_port"
namespaces = ["docker.io"]
TOML
step "checking the configuration"
show "$sealgate" check-config --config "$work/sealgate.toml"
step "starting sealgate on 127.0.0.1:$sg_port (log: .demo/sealgate.log)"
"$sealgate" serve --config "$work/sealgate.toml" >"$work/sealgate.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sg_port/healthz"
show curl -sS "http://127.0.0.1:$sg_port/readyz"; echo

step "building a small OCI image with umoci"
layout="$work/image"
umoci init --layout "$layout" >/dev/null
umoci new --image "$layout:v1" >/dev/null
mkdir -p "$work/rootfs/etc"
echo "hello from sealgate's demo, $(date -u +%FT%TZ)" >"$work/rootfs/etc/motd"
umoci insert --image "$layout:v1" "$work/rootfs/etc/motd" /etc/motd >/dev/null

step "pushing it through sealgate with skopeo"
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
  "oci:$layout:v1" "docker://127.0.0.1:$sg_port/demo/app:v1"

step "the tag, read back through sealgate"
show skopeo inspect --tls-verify=false --format '{{.Name}}@{{.Digest}} layers={{len .Layers}}' \
  "docker://127.0.0.1:$sg_port/demo/app:v1"
digest=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://127.0.0.1:$sg_port/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
direct=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://127.0.0.1:$reg_port/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "through sealgate: $digest"
echo "directly:         $direct"
[[ "$digest" == "$direct" ]] || { echo "digests differ" >&2; exit 1; }

step "pulling it back out through sealgate"
show skopeo --insecure-policy copy --quiet --src-tls-verify=false \
  "docker://127.0.0.1:$sg_port/demo/app:v1" "oci:$work/pulled:v1"
show jq -r '.manifests[0].digest' "$work/pulled/index.json"

step "input that never reaches the registry"
show curl -sS "http://127.0.0.1:$sg_port/v2/demo/%2e%2e/secret/manifests/v1"; echo
show curl -sS "http://127.0.0.1:$sg_port/v2/Demo/App/manifests/v1"; echo
show curl -sS "http://127.0.0.1:$sg_port/v2/demo/app/blobs/sha256:abc"; echo

step "done; the last requests as sealgate logged them"
tail -n 5 "$work/sealgate.log"
