#!/usr/bin/env bash
# The sealgate demo: a real registry (Debian's docker-registry) on loopback, sealgate in front of
# it on an embedded sled store, and skopeo pushing through it: an unsigned push refused, a signed
# push accepted and pinned, a tag overwrite refused, the tag pulled at its pinned digest.
# Everything lives in .demo/ and every process started here is stopped on exit.
#
# Usage: scripts/demo.sh [--replicas N]
#   --replicas N   (2 to 16) the same demo on N sealgate replicas sharing one throwaway PostgreSQL
#                  (initdb in a temporary directory, as the user `postgres` when run as root, on a
#                  free loopback port), migrated with `sealgate migrate`; the steps go through
#                  different replicas (push through replica 1, sign through replica 2, ...), and
#                  the revocation is made through replica 1's admin API and refuses the next pull
#                  on every replica.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { echo "usage: $0 [--replicas N]   (N from 1 to 16; 1 is the default, on sled)" >&2; exit 64; }
replicas=1
while (($# > 0)); do
  case "$1" in
    --replicas) (($# >= 2)) || usage; replicas=$2; shift 2 ;;
    --replicas=*) replicas=${1#*=}; shift ;;
    *) usage ;;
  esac
done
if [[ ! "$replicas" =~ ^[1-9][0-9]?$ ]] || ((replicas > 16)); then usage; fi

if ((replicas > 1)); then
  scripts/install-deps.sh replicas
else
  scripts/install-deps.sh demo
fi
echo "==> building sealgate"
cargo build -q -p sealgate
sealgate="$root/target/debug/sealgate"

work="$root/.demo"
rm -rf "$work"
mkdir -p "$work"
pids=()
pg_pid=""   # the throwaway PostgreSQL (several replicas only)
pg_dir=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to disconnect).
  if [[ -n "$pg_pid" ]]; then kill -INT "$pg_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [[ -n "$pg_dir" ]]; then rm -rf "$pg_dir"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
# With several replicas, the steps that follow go through replica $1 (counted from 1, wrapping
# around): $sg is its address. With one, $sg stays the only sealgate.
addrs=()
via() {
  ((replicas > 1)) || return 0
  local i=$(((($1 - 1) % replicas) + 1))
  sg=${addrs[$((i - 1))]}
  echo "   (through replica $i, $sg)"
}

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

# Several replicas: a throwaway PostgreSQL 15, its schema migrated by `sealgate migrate`, then
# `replicas` sealgate processes on it, replica 1 at $sg. Each has an admin listener (the
# revocation step uses replica 1's). PostgreSQL refuses to run as root, so as root it runs as the
# unprivileged user `postgres` (Debian's package creates it), in a directory of its own outside
# the repository (which that user may not be able to reach).
start_replicas() {
  local pg_bin=/usr/lib/postgresql/15/bin pg_port as_pg=() i port admin_port addr
  pg_port=$(free_port)
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/sealgate-demo-pg.XXXXXX")
  # The database user's password: initdb reads it from a file, sealgate from its own copy.
  openssl rand -hex 24 >"$work/db-password"
  chmod 600 "$work/db-password"
  cp "$work/db-password" "$pg_dir/pwfile"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$pg_dir"
    as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
  step "a throwaway PostgreSQL 15 on 127.0.0.1:$pg_port (data in $pg_dir, log: .demo/postgres.log)"
  (cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U sealgate --pwfile="$pg_dir/pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C --no-instructions) >"$work/postgres.log" 2>&1 ||
    { tail -20 "$work/postgres.log" >&2; return 1; }
  rm -f "$pg_dir/pwfile"
  # The database, made in single-user mode before the server listens.
  echo 'CREATE DATABASE sealgate OWNER sealgate' |
    (cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/postgres" --single -D "$pg_dir/data" postgres) >>"$work/postgres.log" 2>&1
  # Loopback only; the socket directory is its own (not /var/run/postgresql).
  (cd "$pg_dir" && exec "${as_pg[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -h 127.0.0.1 -p "$pg_port" -k "$pg_dir") \
    >>"$work/postgres.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 100); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
    kill -0 "$pg_pid" 2>/dev/null || { tail -20 "$work/postgres.log" >&2; return 1; }
    sleep 0.1
  done
  "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port"

  openssl rand -hex 32 >"$work/admin.token"
  chmod 600 "$work/admin.token"
  logs=()
  for ((i = 1; i <= replicas; i++)); do
    if ((i == 1)); then port=$sg_port; else port=$(free_port); fi
    addrs+=("127.0.0.1:$port")
    admin_port=$(free_port)
    cat >"$work/sealgate-$i.toml" <<TOML
listen = "127.0.0.1:$port"
[storage]
backend = "postgres"
url = "postgres://sealgate@127.0.0.1:$pg_port/sealgate"
password_file = "$work/db-password"
pool_size = 4
sslmode = "disable"          # loopback, to a throwaway server without TLS
[admin]
listen = "127.0.0.1:$admin_port"
token_file = "$work/admin.token"
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
  done
  step "checking the configuration (replica 1's; the others differ in their ports)"
  show "$sealgate" check-config --config "$work/sealgate-1.toml"
  step "creating the schema"
  show "$sealgate" migrate --config "$work/sealgate-1.toml"
  for ((i = 1; i <= replicas; i++)); do
    step "starting sealgate replica $i on ${addrs[$((i - 1))]} (log: .demo/sealgate-$i.log)"
    "$sealgate" serve --config "$work/sealgate-$i.toml" >"$work/sealgate-$i.log" 2>&1 &
    pids+=($!)
    logs+=("$work/sealgate-$i.log")
  done
  for addr in "${addrs[@]}"; do wait_http "http://$addr/healthz"; done
}

# Several replicas: the CI key revoked at run time through replica 1's admin API (recorded in
# the database), then the same pull asked of every replica until it is refused, with the time it
# took (the replicas are to follow within a second; past 3 s the demo fails).
revoke_through_replica_1() {
  local fingerprint t0 i code
  step "the CI key is revoked through replica 1's admin API: the next pull on every replica is refused"
  fingerprint="sha256:$(openssl pkey -pubin -in "$work/ci.pub" -outform DER | sha256sum | cut -d' ' -f1)"
  show "$sealgate" admin --config "$work/sealgate-1.toml" revoke key "$fingerprint" --reason "demo: key leaked"
  t0=$(date +%s%N)
  for ((i = 1; i <= replicas; i++)); do
    via "$i"
    until code=$(curl -sS -o "$work/refusal.txt" -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$sg/v2/demo/app/manifests/v1") && [[ "$code" != 200 ]]; do
      if (($(date +%s%N) - t0 > 3000000000)); then
        echo "unexpected: replica $i still serves the revoked tag 3 s after the revocation" >&2; return 1
      fi
      sleep 0.05
    done
    echo "HTTP $code after $((($(date +%s%N) - t0) / 1000000)) ms: $(cat "$work/refusal.txt")"
  done
}

logs=("$work/sealgate.log")
if ((replicas == 1)); then
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
else
  start_replicas
fi
for ((i = 1; i <= replicas; i++)); do
  via "$i"
  show curl -sS "http://$sg/readyz"; echo
done
via 1

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
via 1
if skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app:v1" 2>"$work/err.txt"; then
  echo "unexpected: the unsigned push was accepted" >&2; exit 1
fi
sed 's/^/  skopeo: /' "$work/err.txt"

step "push image A by digest (content-addressed, creates no tag), sign it, then tag it"
via 1
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app@$digest_a"
via 2
sign demo/app "$digest_a"
via 3
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-a:v1" "docker://$sg/demo/app:v1"
echo "accepted and pinned"

step "a tag overwrite with image B (even signed) is refused"
via 2
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://$sg/demo/app@$digest_b"
sign demo/app "$digest_b"
if skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://$sg/demo/app:v1" 2>"$work/err.txt"; then
  echo "unexpected: the overwrite was accepted" >&2; exit 1
fi
sed 's/^/  skopeo: /' "$work/err.txt"

step "a pull of the tag is answered with the pinned digest"
for ((i = 1; i <= replicas; i++)); do
  via "$i"
  digest=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$sg/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
  echo "demo/app:v1 -> $digest"
  [[ "$digest" == "$digest_a" ]] || { echo "expected $digest_a" >&2; exit 1; }
done
via 2
show skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$sg/demo/app:v1" "oci:$work/pulled:v1"
show jq -r '.manifests[0].digest' "$work/pulled/index.json"

step "the registry's tag is moved behind sealgate's back (image B pushed straight to the registry)"
show skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/image-b:v1" "docker://127.0.0.1:$reg_port/demo/app:v1"
via "$replicas"
pulled=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$sg/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "through sealgate, demo/app:v1 -> $pulled (still the pin)"
[[ "$pulled" == "$digest_a" ]] || { echo "expected $digest_a" >&2; exit 1; }
wait_for_log() { for _ in $(seq 100); do grep -q "$1" "${logs[@]}" && return 0; sleep 0.1; done; echo "no log line $1" >&2; return 1; }
wait_for_log 'action=drift'
grep -h 'action=drift' "${logs[@]}" | sed 's/^.*reason=/  drift: /' | head -1

if ((replicas == 1)); then
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
else
  revoke_through_replica_1
fi

step "input that never reaches the registry"
via 1
show curl -sS "http://$sg/v2/demo/%2e%2e/secret/manifests/v1"; echo
show curl -sS "http://$sg/v2/Demo/App/manifests/v1"; echo

if ((replicas > 1)); then
  step "one audit hash chain for the whole fleet, verified through replica $replicas"
  show "$sealgate" admin --config "$work/sealgate-$replicas.toml" audit verify
  step "the replicas, as replica 1 sees them"
  show "$sealgate" admin --config "$work/sealgate-1.toml" status
fi

step "done; sealgate's decisions, as logged"
if ((replicas == 1)); then
  grep 'sealgate::decision' "$work/sealgate.log" | sed 's/^.*decision //' | cut -c1-220
else
  for ((i = 1; i <= replicas; i++)); do
    echo "replica $i:"
    grep 'sealgate::decision' "$work/sealgate-$i.log" | sed 's/^.*decision /  /' | cut -c1-220 || true
  done
fi
