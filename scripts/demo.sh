#!/usr/bin/env bash
# The sealgate demo: a real registry (Debian's docker-registry) on loopback, sealgate in front of
# it on an embedded sled store, and skopeo pushing through it: an unsigned push refused, a signed
# push accepted and pinned, a tag overwrite refused, the tag pulled at its pinned digest.
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
sg="127.0.0.1:$sg_port"

step "a signing key for CI (cosign's format: an ECDSA P-256 key pair)"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ci.key" 2>/dev/null
openssl ec -in "$work/ci.key" -pubout -out "$work/ci.pub" 2>/dev/null
cat "$work/ci.pub"

cat >"$work/sealgate.toml" <<TOML
listen = "$sg"
[storage]
path = "$work/sealgate-store"
[trust.keys.ci]
path = "ci.pub"
[policy.default]
mode = "enforce"
signers = ["ci"]
[pull]
drift_check_interval = "0s"   # compare with the registry's tag on every pull (default 5m)
[[upstream]]
name = "local"
url = "http://127.0.0.1:$reg_port"
namespaces = ["docker.io"]
TOML
step "checking the configuration"
show "$sealgate" check-config --config "$work/sealgate.toml"
step "starting sealgate on $sg (log: .demo/sealgate.log)"
"$sealgate" serve --config "$work/sealgate.toml" >"$work/sealgate.log" 2>&1 &
sealgate_pid=$!
pids+=("$sealgate_pid")
wait_http "http://$sg/healthz"
show curl -sS "http://$sg/readyz"; echo

build_image() { # layout-dir message
  umoci init --layout "$1" >/dev/null
  umoci new --image "$1:v1" >/dev/null
  mkdir -p "$work/rootfs-$2/etc"
  echo "$2, $(date -u +%FT%TZ)" >"$work/rootfs-$2/etc/motd"
  umoci insert --image "$1:v1" "$work/rootfs-$2/etc/motd" /etc/motd >/dev/null
  jq -r '.manifests[0].digest' "$1/index.json"
}
push_blob() { # repo file -> digest
  local digest location
  digest="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$sg/v2/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "http://$sg${location}&digest=$digest" -o /dev/null
  echo "$digest"
}
sign() { # repo digest: what `cosign sign --key ci.key` does, with openssl and curl
  local repo=$1 digest=$2 payload="$work/payload.json" config="$work/sig-config.json" sig
  printf '{"critical":{"identity":{"docker-reference":"%s/%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
    "$sg" "$repo" "$digest" >"$payload"
  printf '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}' >"$config"
  sig=$(openssl dgst -sha256 -sign "$work/ci.key" "$payload" | base64 -w0)
  local pd cd
  pd=$(push_blob "$repo" "$payload"); cd=$(push_blob "$repo" "$config")
  jq -n --arg pd "$pd" --arg cd "$cd" --arg sig "$sig" --argjson ps "$(stat -c%s "$payload")" --argjson cs "$(stat -c%s "$config")" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", size: $cs, digest: $cd},
    layers: [{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", size: $ps, digest: $pd,
              annotations: {"dev.cosignproject.cosign/signature": $sig}}]}' >"$work/sig-manifest.json"
  curl -sS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$work/sig-manifest.json" \
    -w 'HTTP %{http_code}\n' -o /dev/null "http://$sg/v2/$repo/manifests/sha256-${digest#sha256:}.sig"
}

step "two small OCI images built with umoci"
digest_a=$(build_image "$work/image-a" "hello from image A")
digest_b=$(build_image "$work/image-b" "hello from image B")
echo "image A: $digest_a"; echo "image B: $digest_b"

step "an unsigned push by tag is refused"
if skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app:v1" 2>"$work/err.txt"; then
  echo "unexpected: the unsigned push was accepted" >&2; exit 1
fi
sed 's/^/  skopeo: /' "$work/err.txt"

step "push image A by digest (content-addressed, creates no tag), sign it, then tag it"
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app@$digest_a"
sign demo/app "$digest_a"
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app:v1"
echo "accepted and pinned"

step "a tag overwrite with image B (even signed) is refused"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://$sg/demo/app@$digest_b"
sign demo/app "$digest_b"
if skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://$sg/demo/app:v1" 2>"$work/err.txt"; then
  echo "unexpected: the overwrite was accepted" >&2; exit 1
fi
sed 's/^/  skopeo: /' "$work/err.txt"

step "a pull of the tag is answered with the pinned digest"
digest=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$sg/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "demo/app:v1 -> $digest"
[[ "$digest" == "$digest_a" ]] || { echo "expected $digest_a" >&2; exit 1; }
show skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$sg/demo/app:v1" "oci:$work/pulled:v1"
show jq -r '.manifests[0].digest' "$work/pulled/index.json"

step "the registry's tag is moved behind sealgate's back (image B pushed straight to the registry)"
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://127.0.0.1:$reg_port/demo/app:v1"
pulled=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$sg/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "through sealgate, demo/app:v1 -> $pulled (still the pin)"
[[ "$pulled" == "$digest_a" ]] || { echo "expected $digest_a" >&2; exit 1; }
wait_for_log() { for _ in $(seq 100); do grep -q "$1" "$work/sealgate.log" && return 0; sleep 0.1; done; echo "no log line $1" >&2; return 1; }
wait_for_log 'action=drift'
grep 'action=drift' "$work/sealgate.log" | sed 's/^.*reason=/  drift: /' | head -1

step "the CI key is revoked and the configuration reloaded (SIGHUP): the same pull is refused"
fingerprint="sha256:$(openssl pkey -pubin -in "$work/ci.pub" -outform DER | sha256sum | cut -d' ' -f1)"
cat >>"$work/sealgate.toml" <<TOML
[[trust.revoked_keys]]
fingerprint = "$fingerprint"
reason = "demo: key leaked"
at = "2026-01-01T00:00:00Z"
TOML
kill -HUP "$sealgate_pid"
wait_for_log 'reloaded: '
grep 'reloaded: ' "$work/sealgate.log" | sed 's/^.*reloaded: /  reloaded: /'
show curl -sS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$sg/v2/demo/app/manifests/v1"; echo

step "input that never reaches the registry"
show curl -sS "http://$sg/v2/demo/%2e%2e/secret/manifests/v1"; echo
show curl -sS "http://$sg/v2/Demo/App/manifests/v1"; echo

step "done; sealgate's decisions, as logged"
grep 'sealgate::decision' "$work/sealgate.log" | sed 's/^.*decision //' | cut -c1-220
