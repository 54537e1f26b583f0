#!/usr/bin/env bash
# Tag pulls through several sealgate replicas on one PostgreSQL: req/s of a pinned tag's manifest
# GET (wrk) against Debian's docker-registry directly, against 1 replica, and against 2 replicas
# at once (one wrk per replica, run concurrently; their req/s summed), all on loopback. For each
# sealgate run it also counts the database transactions the replicas committed
# (pg_stat_database.xact_commit of sealgate's database), next to the same count over an idle
# window of the same length: a hot pinned tag is answered from the pull path's caches (pin and
# verdict, for up to `pull.verdict_ttl`, 30 s by default), not from the database per pull.
#
# On a 2-core machine wrk, PostgreSQL, the registry and the replicas share the same cores: the
# 2-replica figure measures what a second replica costs, not how replicas scale.
#
# Usage: benches/load/replicas.sh        (from a fresh checkout; installs what it needs)
# Knobs (environment): LOAD_ROUNDS (3; the median is reported), LOAD_DURATION (wrk, 10s),
# LOAD_CONNECTIONS (32), LOAD_THREADS (2) (LOAD_DURATION in seconds: "10s"), LOAD_WORK (work directory, target/load-replicas).
#
# Every server listens on 127.0.0.1 only and is stopped on exit; PostgreSQL's data directory (a
# temporary directory outside the repository, which the `postgres` user may not reach) is removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started_at=$(date +%s)

rounds=${LOAD_ROUNDS:-3}
duration=${LOAD_DURATION:-10s}
connections=${LOAD_CONNECTIONS:-32}
threads=${LOAD_THREADS:-2}
work=${LOAD_WORK:-$root/target/load-replicas}
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
pg_bin=/usr/lib/postgresql/15/bin

step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - started_at))" "$*" >&2; }
die() { printf 'replicas.sh: %s\n' "$*" >&2; exit 1; }

step "installing what the run needs (scripts/install-deps.sh bench, then replicas)"
scripts/install-deps.sh bench
scripts/install-deps.sh replicas

step "building sealgate (release)"
cargo build --release -p sealgate
sealgate_bin="$root/target/release/sealgate"

if [[ -n "${LOAD_WORK:-}" && -d "$work" && ! -e "$work/.load-replicas" && -n "$(ls -A "$work")" ]]; then
  die "$work exists and was not made by replicas.sh; choose another LOAD_WORK"
fi
rm -rf "$work"
mkdir -p "$work"
touch "$work/.load-replicas"
pids=()
pg_dir=""
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work/registry" "$work/images" "$work/rootfs-small"
  [[ -n "$pg_dir" ]] && rm -rf "$pg_dir"
  if ((status != 0)); then
    echo "replicas.sh: failed (exit $status); logs are in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ready NAME PID URL LOG: until URL answers 2xx (30 s), or fail showing the server's log.
wait_ready() {
  local name=$1 pid=$2 url=$3 log=$4
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited during startup; its log ($log):" >&2
      tail -n 40 "$log" >&2 || true
      exit 1
    fi
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not answer $url within 30 s; its log ($log):" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}

# ---------------------------------------------------------------------------------------------
step "starting docker-registry on 127.0.0.1"
reg_port=$(free_port)
reg="127.0.0.1:$reg_port"
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: "$work/registry"}
http: {addr: "$reg"}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
pids+=("$reg_pid")
wait_ready docker-registry "$reg_pid" "http://$reg/v2/" "$work/registry.log"

# A throwaway PostgreSQL 15, as scripts/demo.sh --replicas makes it: as root, run as the
# unprivileged `postgres` user (PostgreSQL refuses root), in a directory of its own.
pg_port=$(free_port)
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/sealgate-bench-pg.XXXXXX")
openssl rand -hex 24 >"$work/db-password"
chmod 600 "$work/db-password"
cp "$work/db-password" "$pg_dir/pwfile"
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres:postgres "$pg_dir"
  as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
step "a throwaway PostgreSQL 15 on 127.0.0.1:$pg_port (data in $pg_dir)"
(cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U sealgate --pwfile="$pg_dir/pwfile" \
  --auth=scram-sha-256 -E UTF8 --locale=C --no-instructions) >"$work/postgres.log" 2>&1 ||
  { tail -20 "$work/postgres.log" >&2; die "initdb failed"; }
rm -f "$pg_dir/pwfile"
echo 'CREATE DATABASE sealgate OWNER sealgate' |
  (cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/postgres" --single -D "$pg_dir/data" postgres) >>"$work/postgres.log" 2>&1
# Default settings (fsync on): the server a deployment would run, on this machine's disk.
(cd "$pg_dir" && exec "${as_pg[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -h 127.0.0.1 -p "$pg_port" -k "$pg_dir") \
  >>"$work/postgres.log" 2>&1 &
pg_pid=$!
pids+=("$pg_pid")
for _ in $(seq 100); do
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
  kill -0 "$pg_pid" 2>/dev/null || { tail -20 "$work/postgres.log" >&2; die "PostgreSQL exited"; }
  sleep 0.1
done
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || die "PostgreSQL did not start"
# Transactions committed in sealgate's database so far.
xact_commits() {
  PGPASSWORD=$(cat "$work/db-password") "$pg_bin/psql" -XAtq -h 127.0.0.1 -p "$pg_port" -U sealgate -d postgres \
    -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'sealgate'"
}

# Two replicas on the database, each enforcing one CI key (as compare.sh's sealgate does).
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ci.key" 2>/dev/null
openssl ec -in "$work/ci.key" -pubout -out "$work/ci.pub" 2>/dev/null
declare -A host=([direct]=$reg)
for i in 1 2; do
  port=$(free_port)
  host[replica$i]="127.0.0.1:$port"
  cat >"$work/sealgate-$i.toml" <<TOML
listen = "127.0.0.1:$port"
[storage]
backend = "postgres"
url = "postgres://sealgate@127.0.0.1:$pg_port/sealgate"
password_file = "$work/db-password"
pool_size = 4
sslmode = "disable"          # loopback, to a throwaway server without TLS
[trust.keys.ci]
path = "ci.pub"
[policy.default]
mode = "enforce"
signers = ["ci"]
[log]
level = "warn"
[[upstream]]
name = "local"
url = "http://$reg"
TOML
done
"$sealgate_bin" check-config --config "$work/sealgate-1.toml" >"$work/sealgate-effective.toml" ||
  die "sealgate rejected $work/sealgate-1.toml"
step "sealgate migrate"
"$sealgate_bin" migrate --config "$work/sealgate-1.toml" >&2
sg_pids=()
for i in 1 2; do
  "$sealgate_bin" serve --config "$work/sealgate-$i.toml" >"$work/sealgate-$i.log" 2>&1 &
  sg_pids+=($!)
  pids+=($!)
done
for i in 1 2; do
  wait_ready "sealgate replica $i" "${sg_pids[$((i - 1))]}" "http://${host[replica$i]}/readyz" "$work/sealgate-$i.log"
done
sg=${host[replica1]}
echo "docker-registry $reg, PostgreSQL 127.0.0.1:$pg_port, replicas ${host[replica1]} and ${host[replica2]}" >&2

# ---------------------------------------------------------------------------------------------
# Content, as compare.sh pushes it. upload_blob HOST REPO FILE -> digest.
upload_blob() {
  local at=$1 repo=$2 file=$3 digest location
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$at/v2/$repo/blobs/uploads/" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  [[ -n "$location" ]] || die "no upload Location from $at for $repo"
  [[ "$location" == http* ]] || location="http://$at$location"
  if [[ "$location" == *\?* ]]; then location="$location&digest=$digest"; else location="$location?digest=$digest"; fi
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$file" -o /dev/null "$location"
  echo "$digest"
}
put_manifest() { # host repo reference file
  curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$4" -o /dev/null "http://$1/v2/$2/manifests/$3"
}
# sign REPO DIGEST: what `cosign sign --key ci.key` pushes, made with openssl and curl, pushed
# through replica 1, which verifies and records it in the shared database.
sign() {
  local repo=$1 digest=$2 payload="$work/payload.json" config="$work/sig-config.json" sig pd cd
  printf '{"critical":{"identity":{"docker-reference":"%s/%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
    "$sg" "$repo" "$digest" >"$payload"
  printf '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}' >"$config"
  sig=$(openssl dgst -sha256 -sign "$work/ci.key" "$payload" | base64 -w0)
  pd=$(upload_blob "$sg" "$repo" "$payload")
  cd=$(upload_blob "$sg" "$repo" "$config")
  jq -n --arg pd "$pd" --arg cd "$cd" --arg sig "$sig" --argjson ps "$(stat -c%s "$payload")" --argjson cs "$(stat -c%s "$config")" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", size: $cs, digest: $cd},
    layers: [{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", size: $ps, digest: $pd,
              annotations: {"dev.cosignproject.cosign/signature": $sig}}]}' >"$work/sig-manifest.json"
  put_manifest "$sg" "$repo" "sha256-${digest#sha256:}.sig" "$work/sig-manifest.json" ||
    die "sealgate refused the signature of $repo@$digest (see $work/sealgate-1.log)"
}
skopeo_push() { skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$1" "$2"; }
manifest_digest() { # host repo reference
  curl -fsS -o /dev/null -D - -H "$accept" "http://$1/v2/$2/manifests/$3" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

step "a small image pushed through replica 1 by digest, signed, then tagged (pinned in PostgreSQL)"
mkdir -p "$work/images"
small="$work/images/small"
umoci init --layout "$small" >/dev/null
umoci new --image "$small:v1" >/dev/null
mkdir -p "$work/rootfs-small/etc"
echo "sealgate replicas bench, $(date -u +%FT%TZ)" >"$work/rootfs-small/etc/motd"
umoci insert --image "$small:v1" "$work/rootfs-small/etc/motd" /etc/motd >/dev/null
small_digest=$(jq -r '.manifests[0].digest' "$small/index.json")
skopeo_push "oci:$small:v1" "docker://$sg/bench/app@$small_digest"
sign bench/app "$small_digest"
skopeo_push "oci:$small:v1" "docker://$sg/bench/app:v1"
for t in direct replica1 replica2; do
  got=$(manifest_digest "${host[$t]}" bench/app v1) || die "GET bench/app:v1 via $t failed"
  [[ "$got" == "$small_digest" ]] || die "bench/app:v1 via $t is $got, expected $small_digest"
done

# ---------------------------------------------------------------------------------------------
# run_wrk NAME TARGET DURATION -> "req/s requests"; refuses a run with non-2xx answers.
run_wrk() {
  local name=$1 target=$2 d=$3 out
  out="$work/wrk-$name-$target.txt"
  wrk -t"$threads" -c"$connections" -d"$d" -H "$accept" "http://${host[$target]}/v2/bench/app/manifests/v1" \
    >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed against $target"; }
  if grep -q 'Non-2xx or 3xx responses' "$out"; then
    cat "$out" >&2
    die "$target answered errors during the run (see above)"
  fi
  awk '$1 == "Requests/sec:" { rps = $2 } $2 == "requests" && $3 == "in" { n = $1 }
    END { if (rps == "" || n == "") exit 1; print rps, n }' "$out" || die "could not parse $out"
}
# PostgreSQL's backends report their counts when idle, at the latest 10 s after a transaction
# (PGSTAT_IDLE_INTERVAL): wait that long before reading them.
settle() { sleep 11; }
mkdir -p "$work/results"
record() { echo "$2" >>"$work/results/$1"; }
median_of() {
  sort -g "$1" | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

step "warm-up: 2 s of wrk per target"
for t in direct replica1 replica2; do run_wrk warmup "$t" 2s >/dev/null; done
settle

secs=${duration%s}
for r in $(seq "$rounds"); do
  step "round $r of $rounds (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  # The database's background traffic from the two replicas, over an idle window as long as a run.
  x0=$(xact_commits)
  sleep "$secs"
  settle
  x1=$(xact_commits)
  record idle_xact $((x1 - x0))

  read -r rps _ <<<"$(run_wrk "direct-$r" direct "$duration")"
  record direct_rps "$rps"
  printf '  direct            %10s req/s\n' "$rps" >&2

  x0=$(xact_commits)
  read -r rps n <<<"$(run_wrk "one-$r" replica1 "$duration")"
  settle
  x1=$(xact_commits)
  record one_rps "$rps"
  record one_req "$n"
  record one_xact $((x1 - x0))
  printf '  1 replica         %10s req/s  (%s requests; %s database transactions)\n' "$rps" "$n" "$((x1 - x0))" >&2

  x0=$(xact_commits)
  run_wrk "two-$r" replica1 "$duration" >"$work/results/two-$r-a" &
  a=$!
  run_wrk "two-$r" replica2 "$duration" >"$work/results/two-$r-b" &
  b=$!
  wait "$a" || die "wrk against replica 1 failed"
  wait "$b" || die "wrk against replica 2 failed"
  settle
  x1=$(xact_commits)
  read -r rps_a n_a <"$work/results/two-$r-a"
  read -r rps_b n_b <"$work/results/two-$r-b"
  rps=$(awk -v a="$rps_a" -v b="$rps_b" 'BEGIN{printf "%.2f", a + b}')
  record two_rps "$rps"
  record two_req $((n_a + n_b))
  record two_xact $((x1 - x0))
  printf '  2 replicas        %10s req/s  (%s + %s; %s requests; %s database transactions)\n' \
    "$rps" "$rps_a" "$rps_b" "$((n_a + n_b))" "$((x1 - x0))" >&2
done

# ---------------------------------------------------------------------------------------------
m() { median_of "$work/results/$1"; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
table="$work/last-run.md"
{
  echo "Run: $(date -u +'%F %H:%M UTC'), $cpu, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo);"
  echo "sealgate $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?') (release), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'),"
  echo "$(docker-registry --version | awk '{print $3}') docker-registry, $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'); $rounds rounds (median), wrk -t$threads -c$connections -d$duration per target"
  echo "(2 replicas: two such wrk at once); total runtime $(($(date +%s) - started_at)) s."
  echo
  echo "| tag pull (manifest GET of a pinned tag) | req/s | requests | database transactions |"
  echo "|---|---:|---:|---:|"
  printf '| registry direct | %.0f | | |\n' "$(m direct_rps)"
  printf '| 1 replica | %.0f | %s | %s |\n' "$(m one_rps)" "$(m one_req)" "$(m one_xact)"
  printf '| 2 replicas at once (sum) | %.0f | %s | %s |\n' "$(m two_rps)" "$(m two_req)" "$(m two_xact)"
  printf '| (both replicas idle, %s) | | | %s |\n' "$duration" "$(m idle_xact)"
  echo
  echo "Database transactions: pg_stat_database.xact_commit of sealgate's database, from before a run"
  echo "to 11 s after it (when every backend has reported; the same span idle: run + 11 s), read from another database."
  echo "Per round: direct $(paste -sd/ "$work/results/direct_rps"), 1 replica $(paste -sd/ "$work/results/one_rps"),"
  echo "2 replicas $(paste -sd/ "$work/results/two_rps") req/s; transactions $(paste -sd/ "$work/results/one_xact") (1), $(paste -sd/ "$work/results/two_xact") (2), $(paste -sd/ "$work/results/idle_xact") (idle)."
} >"$table"
step "results (also in $table)"
cat "$table"
