#!/usr/bin/env bash
# The load comparison: Debian's docker-registry (CNCF distribution) measured directly, behind a
# plain nginx reverse proxy, and behind sealgate (release build, enforcing a signing key), all on
# loopback, in one run, alternating the three targets round after round:
#
#   - manifest GET by tag and by digest: wrk, req/s and p50/p99 latency;
#   - GET of a 1 GiB blob: curl throughput, and sealgate's peak RSS growth during it;
#   - push of a ~50 MiB image with skopeo (new content every time): wall time;
#
# Blob GETs and pushes are repeated LOAD_REPEAT times per target and round (alternating the
# targets), and the round keeps their median. It then prints the median of the rounds per
# target and the ratios sealgate/direct and sealgate/nginx next to the targets of the benchmarks
# issue, as a markdown table (also written to target/load-compare/last-run.md), with the CPU
# time the servers spent. benches/README.md explains the figures.
#
# Usage: benches/load/compare.sh        (from a fresh checkout; installs what it needs)
# Knobs (environment): LOAD_ROUNDS (3), LOAD_DURATION (wrk, 10s), LOAD_CONNECTIONS (32),
# LOAD_THREADS (wrk, 2), LOAD_BLOB_MIB (1024), LOAD_PUSH_MIB (50), LOAD_REPEAT (3, blob GETs
# and pushes per target and round), LOAD_QUIET_WAIT (120: seconds to wait, before a round, for
# other processes to leave the CPU), LOAD_WORK (work directory, target/load-compare),
# LOAD_STRICT=1 (exit 1 when a target is missed).
#
# Every server listens on 127.0.0.1 only; every process started here is stopped on exit, and the
# bulky data (registry storage, the blob, the images) is deleted; logs and results stay in the
# work directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started_at=$(date +%s)

rounds=${LOAD_ROUNDS:-3}
duration=${LOAD_DURATION:-10s}
connections=${LOAD_CONNECTIONS:-32}
threads=${LOAD_THREADS:-2}
blob_mib=${LOAD_BLOB_MIB:-1024}
push_mib=${LOAD_PUSH_MIB:-50}
repeat=${LOAD_REPEAT:-3}
work=${LOAD_WORK:-$root/target/load-compare}
strict=${LOAD_STRICT:-0}
quiet_wait=${LOAD_QUIET_WAIT:-120}
targets=(direct nginx sealgate)
# One Accept line listing every manifest type a client takes (distribution splits on commas).
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - started_at))" "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

step "installing what the comparison needs (scripts/install-deps.sh bench)"
scripts/install-deps.sh bench
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

step "building sealgate (release)"
cargo build --release -p sealgate
sealgate_bin="$root/target/release/sealgate"

# The work directory is wiped at start: a LOAD_WORK only when this script made it (marked) or
# it is empty.
if [[ -n "${LOAD_WORK:-}" && -d "$work" && ! -e "$work/.load-compare" && -n "$(ls -A "$work")" ]]; then
  die "$work exists and was not made by compare.sh; choose another LOAD_WORK"
fi
rm -rf "$work"
mkdir -p "$work"
touch "$work/.load-compare"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work/registry" "$work/blob" "$work/images" "$work/nginx-tmp" "$work/rootfs-small"
  if ((status != 0)); then
    echo "compare.sh: failed (exit $status); logs are in $work" >&2
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

# Every listening socket of PID must be bound to 127.0.0.1.
check_loopback_only() { # name pid
  command -v ss >/dev/null 2>&1 || return 0
  local wide
  wide=$(ss -Hltnp | grep -F "pid=$2," | awk '$4 !~ /^127\.0\.0\.1:/ {print $4}' || true)
  [[ -z "$wide" ]] || die "$1 (pid $2) listens beyond loopback: $wide"
}

# ---------------------------------------------------------------------------------------------
step "starting docker-registry, nginx and sealgate on 127.0.0.1"
reg_port=$(free_port)
nginx_port=$(free_port)
sg_port=$(free_port)
reg="127.0.0.1:$reg_port"
ngx="127.0.0.1:$nginx_port"
sg="127.0.0.1:$sg_port"
declare -A host=([direct]=$reg [nginx]=$ngx [sealgate]=$sg)

cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: "$work/registry"}
  delete: {enabled: true}
http: {addr: "$reg"}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
pids+=("$reg_pid")
wait_ready docker-registry "$reg_pid" "http://$reg/v2/" "$work/registry.log"

# A plain reverse proxy: HTTP/1.1 with a kept-alive upstream pool, no buffering either way, no
# body size limit, the client's Host passed through (distribution builds upload Locations from it).
mkdir -p "$work/nginx-tmp"
nginx_user=""
if [[ $(id -u) -eq 0 ]]; then nginx_user="user $(id -un) $(id -gn);"; fi
cat >"$work/nginx.conf" <<NGINX
$nginx_user
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp/body;
  proxy_temp_path $work/nginx-tmp/proxy;
  fastcgi_temp_path $work/nginx-tmp/fastcgi;
  uwsgi_temp_path $work/nginx-tmp/uwsgi;
  scgi_temp_path $work/nginx-tmp/scgi;
  upstream registry {
    server $reg;
    keepalive 64;
  }
  server {
    listen $ngx;
    client_max_body_size 0;
    location / {
      proxy_pass http://registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 900s;
      proxy_send_timeout 900s;
    }
  }
}
NGINX
"$nginx_bin" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" >"$work/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
wait_ready nginx "$nginx_pid" "http://$ngx/v2/" "$work/nginx-error.log"

# sealgate enforcing one CI key (like scripts/demo.sh): the small image and the blob's image are
# signed and pinned through it, so tag pulls take the real gate (pin, cached verdict, cached
# manifest). The pushes measured go to bench/push/**, an audit scope (see benches/README.md).
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ci.key" 2>/dev/null
openssl ec -in "$work/ci.key" -pubout -out "$work/ci.pub" 2>/dev/null
cat >"$work/sealgate.toml" <<TOML
listen = "$sg"
[storage]
path = "$work/sealgate-store"
[trust.keys.ci]
path = "ci.pub"
[policy.default]
mode = "enforce"
signers = ["ci"]
[[policy.scope]]
repositories = "bench/push/**"
mode = "audit"
signers = ["ci"]
[log]
level = "warn"
[[upstream]]
name = "local"
url = "http://$reg"
TOML
"$sealgate_bin" check-config --config "$work/sealgate.toml" >"$work/sealgate-effective.toml" ||
  die "sealgate rejected $work/sealgate.toml"
"$sealgate_bin" serve --config "$work/sealgate.toml" >"$work/sealgate.log" 2>&1 &
sg_pid=$!
pids+=("$sg_pid")
wait_ready sealgate "$sg_pid" "http://$sg/readyz" "$work/sealgate.log"

check_loopback_only docker-registry "$reg_pid"
check_loopback_only nginx "$nginx_pid"
check_loopback_only sealgate "$sg_pid"
nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
[[ -n "$nginx_workers" ]] || die "nginx (pid $nginx_pid) has no worker processes"
# The server processes on each target's path, whose CPU time is charged to its requests.
declare -A path_pids=([direct]="$reg_pid" [nginx]="$nginx_workers $reg_pid" [sealgate]="$sg_pid $reg_pid")
echo "docker-registry $reg (pid $reg_pid), nginx $ngx (pid $nginx_pid), sealgate $sg (pid $sg_pid)" >&2

# ---------------------------------------------------------------------------------------------
# Content. upload_blob HOST REPO FILE -> digest (monolithic upload streamed from the file).
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
# sign REPO DIGEST: what `cosign sign --key ci.key` pushes, made with openssl and curl (as in
# scripts/demo.sh), pushed through sealgate, which verifies and records it.
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
    die "sealgate refused the signature of $repo@$digest (see $work/sealgate.log)"
}
skopeo_push() { # source destination
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$1" "$2"
}
# Status and Docker-Content-Digest of a manifest GET.
manifest_digest() { # host repo reference
  curl -fsS -o /dev/null -D - -H "$accept" "http://$1/v2/$2/manifests/$3" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

step "a small signed image, pushed through sealgate by digest, signed, then tagged (pinned)"
mkdir -p "$work/images"
small="$work/images/small"
umoci init --layout "$small" >/dev/null
umoci new --image "$small:v1" >/dev/null
mkdir -p "$work/rootfs-small/etc"
echo "sealgate load comparison, $(date -u +%FT%TZ)" >"$work/rootfs-small/etc/motd"
umoci insert --image "$small:v1" "$work/rootfs-small/etc/motd" /etc/motd >/dev/null
small_digest=$(jq -r '.manifests[0].digest' "$small/index.json")
skopeo_push "oci:$small:v1" "docker://$sg/bench/app@$small_digest"
sign bench/app "$small_digest"
skopeo_push "oci:$small:v1" "docker://$sg/bench/app:v1"
for t in "${targets[@]}"; do
  got=$(manifest_digest "${host[$t]}" bench/app v1) || die "GET bench/app:v1 via $t failed"
  [[ "$got" == "$small_digest" ]] || die "bench/app:v1 via $t is $got, expected $small_digest"
done
echo "bench/app:v1 -> $small_digest (pinned in sealgate)" >&2

step "a ${blob_mib} MiB blob, uploaded once into the registry, listed by a signed, pinned manifest"
head -c "${blob_mib}M" /dev/urandom >"$work/blob"
blob_size=$(stat -c%s "$work/blob")
blob_digest=$(upload_blob "$reg" bench/big "$work/blob")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$blob_digest" >"$work/big-config.json"
big_config=$(upload_blob "$reg" bench/big "$work/big-config.json")
jq -n --arg cd "$big_config" --argjson cs "$(stat -c%s "$work/big-config.json")" \
  --arg ld "$blob_digest" --argjson ls "$blob_size" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", size: $cs, digest: $cd},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", size: $ls, digest: $ld}]}' \
  >"$work/big-manifest.json"
big_digest="sha256:$(sha256sum "$work/big-manifest.json" | cut -d' ' -f1)"
put_manifest "$sg" bench/big "$big_digest" "$work/big-manifest.json" || die "sealgate refused bench/big@$big_digest"
sign bench/big "$big_digest"
put_manifest "$sg" bench/big v1 "$work/big-manifest.json" || die "sealgate refused bench/big:v1"
echo "bench/big:v1 -> $big_digest, layer $blob_digest ($blob_size bytes)" >&2

step "$((rounds * repeat * ${#targets[@]})) distinct ~${push_mib} MiB images for the pushes (5 random layers each)"
# Distinct content per push: skopeo skips a blob the repository already has and mounts one its
# blob-info cache saw elsewhere on the same registry, so only new content measures an upload.
layer_kib=$((push_mib * 1024 / 5))
for r in $(seq "$rounds"); do
  for k in $(seq "$repeat"); do
   for t in "${targets[@]}"; do
    layout="$work/images/push-$t-$r-$k"
    umoci init --layout "$layout" >/dev/null
    umoci new --image "$layout:v1" >/dev/null
    for l in 1 2 3 4 5; do
      mkdir -p "$work/images/rootfs/data"
      head -c "${layer_kib}K" /dev/urandom >"$work/images/rootfs/data/layer$l.bin"
      umoci insert --image "$layout:v1" "$work/images/rootfs/data/layer$l.bin" "/data/layer$l.bin" >/dev/null
    done
   done
  done
done
rm -rf "$work/images/rootfs"
push_bytes=$(du -sb "$work/images/push-direct-1-1/blobs" | cut -f1)
echo "each image: $((push_bytes / 1024 / 1024)) MiB of blobs" >&2

# ---------------------------------------------------------------------------------------------
# Measurements. Results: one line per round in $work/results/<metric>.<target>.
mkdir -p "$work/results"
record() { echo "$3" >>"$work/results/$1.$2"; }
median_of() { # file -> median of its lines
  sort -g "$1" | awk '{v[NR] = $1} END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# CPU accounting, in clock ticks (utime + stime, /proc/<pid>/stat; the comm field is cut first).
hz=$(getconf CLK_TCK)
ticks() { # pid... -> their CPU time, summed
  local p v sum=0
  for p in "$@"; do
    v=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    sum=$((sum + v))
  done
  echo "$sum"
}
# This script and every child it waited for (wrk, curl, skopeo), plus the servers: everything the
# comparison itself runs. The rest of the machine's busy time is someone else's.
# shellcheck disable=SC2086 # word splitting of pid lists is meant
own_ticks() {
  echo $(($(sed 's/^.*) //' "/proc/$$/stat" | awk '{print $12 + $13 + $14 + $15}') + $(ticks $reg_pid $sg_pid $nginx_pid $nginx_workers)))
}
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4}' /proc/stat; } # user + nice + system
# other_pct BUSY0 OWN0 START_S -> % of the machine's CPU used by other processes since then
other_pct() {
  awk -v b="$(($(busy_ticks) - $1))" -v o="$(($(own_ticks) - $2))" -v s="$3" -v now="$(date +%s.%N)" \
    -v hz="$hz" -v n="$(nproc)" 'BEGIN { v = (b - o) / ((now - s) * hz * n) * 100; printf "%.0f", v < 0 ? 0 : v }'
}

# Before a round: wait (at most LOAD_QUIET_WAIT s) until other processes use ≤ 10 % of the CPU
# over 2 s, so that a build or a benchmark running beside this one does not skew the round.
wait_quiet() {
  local waited=0 busy own start other
  while :; do
    busy=$(busy_ticks) own=$(own_ticks) start=$(date +%s.%N)
    sleep 2
    other=$(other_pct "$busy" "$own" "$start")
    ((other <= 10)) && return 0
    if ((waited >= quiet_wait)); then
      echo "  the machine is still busy (other processes: $other % of the CPU); measuring anyway" >&2
      return 0
    fi
    echo "  other processes use $other % of the CPU; waiting for them (${waited}/${quiet_wait} s)" >&2
    waited=$((waited + 2))
  done
}

# run_wrk NAME TARGET URL DURATION -> "req/s p50_ms p99_ms requests"; refuses a run with non-2xx
# answers.
run_wrk() {
  local name=$1 target=$2 url=$3 d=$4 out
  out="$work/wrk-$name-$target-$(date +%s%N).txt"
  wrk -t"$threads" -c"$connections" -d"$d" --latency -H "$accept" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed against $target ($url)"; }
  if grep -q 'Non-2xx or 3xx responses' "$out"; then
    cat "$out" >&2
    die "$target answered errors to $url during the run (see above)"
  fi
  grep -q 'Socket errors' "$out" && echo "warning: socket errors against $target: $(grep 'Socket errors' "$out")" >&2
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return v + 0
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    $2 == "requests" && $3 == "in" { n = $1 }
    END {
      if (rps == "" || p50 == "" || p99 == "" || n == "") exit 1
      printf "%s %.3f %.3f %s\n", rps, p50, p99, n
    }' "$out" || die "could not parse $out"
}

status_kib() { # pid field -> kB
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# fetch_blob TARGET -> bytes/s; for sealgate also records its RSS growth during the download.
fetch_blob() {
  local t=$1 url="http://${host[$1]}/v2/bench/big/blobs/$blob_digest" out speed code size rss_before hwm
  if [[ "$t" == sealgate ]]; then
    # Reset the peak (VmHWM) to the current RSS, so the peak after the download is this download's.
    echo 5 >"/proc/$sg_pid/clear_refs" 2>/dev/null || echo "warning: cannot reset VmHWM; growth is an upper bound" >&2
    rss_before=$(status_kib "$sg_pid" VmRSS)
  fi
  out=$(curl -sS -o /dev/null -w '%{speed_download} %{http_code} %{size_download}' "$url") ||
    die "blob GET via $t failed"
  read -r speed code size <<<"$out"
  [[ "$code" == 200 && "$size" == "$blob_size" ]] || die "blob GET via $t: HTTP $code, $size of $blob_size bytes"
  if [[ "$t" == sealgate ]]; then
    hwm=$(status_kib "$sg_pid" VmHWM)
    record rss_growth_kib sealgate "$((hwm - rss_before))"
    record rss_peak_kib sealgate "$hwm"
  fi
  echo "$speed"
}

step "warm-up: each target serves the tag, the digest and the blob once; 2 s of wrk each"
for t in "${targets[@]}"; do
  run_wrk warmup-tag "$t" "http://${host[$t]}/v2/bench/app/manifests/v1" 2s >/dev/null
  run_wrk warmup-digest "$t" "http://${host[$t]}/v2/bench/app/manifests/$small_digest" 2s >/dev/null
done
fetch_blob direct >/dev/null
rss_start=$(status_kib "$sg_pid" VmRSS)

for r in $(seq "$rounds"); do
  # The order rotates every round, so no target always runs first (or right after a push).
  shift_by=$(((r - 1) % ${#targets[@]}))
  order=("${targets[@]:shift_by}" "${targets[@]:0:shift_by}")
  step "round $r of $rounds (order: ${order[*]})"
  wait_quiet
  round_busy=$(busy_ticks) round_own=$(own_ticks) round_start=$(date +%s.%N)
  for test in tag digest; do
    ref=v1
    [[ "$test" == digest ]] && ref=$small_digest
    for t in "${order[@]}"; do
      # shellcheck disable=SC2086
      before=$(ticks ${path_pids[$t]})
      out=$(run_wrk "$test" "$t" "http://${host[$t]}/v2/bench/app/manifests/$ref" "$duration")
      # shellcheck disable=SC2086
      after=$(ticks ${path_pids[$t]})
      read -r rps p50 p99 requests <<<"$out"
      cpu_us=$(awk -v d="$((after - before))" -v hz="$hz" -v n="$requests" 'BEGIN{printf "%.0f", d / hz * 1e6 / n}')
      record "${test}_rps" "$t" "$rps"
      record "${test}_p50" "$t" "$p50"
      record "${test}_p99" "$t" "$p99"
      record "${test}_cpu" "$t" "$cpu_us"
      printf '  manifest by %-6s %-8s %10s req/s  p50 %8s ms  p99 %8s ms  server CPU %5s µs/req\n' \
        "$test" "$t" "$rps" "$p50" "$p99" "$cpu_us" >&2
    done
  done
  rm -f "$work"/results/*.round
  for k in $(seq "$repeat"); do
    for t in "${order[@]}"; do
      # shellcheck disable=SC2086
      before=$(ticks ${path_pids[$t]})
      speed=$(fetch_blob "$t")
      # shellcheck disable=SC2086
      after=$(ticks ${path_pids[$t]})
      cpu_s=$(awk -v d="$((after - before))" -v hz="$hz" -v b="$blob_size" 'BEGIN{printf "%.3f", d / hz / (b / 1073741824)}')
      echo "$speed" >>"$work/results/blob.$t.round"
      echo "$cpu_s" >>"$work/results/blobcpu.$t.round"
      printf '  blob GET %s/%s     %-8s %10.1f MiB/s                              server CPU %5s s/GiB\n' \
        "$k" "$repeat" "$t" "$(awk -v s="$speed" 'BEGIN{print s / 1048576}')" "$cpu_s" >&2
    done
  done
  for k in $(seq "$repeat"); do
    for t in "${order[@]}"; do
      # shellcheck disable=SC2086
      before=$(ticks ${path_pids[$t]})
      begin=$(date +%s.%N)
      skopeo_push "oci:$work/images/push-$t-$r-$k:v1" "docker://${host[$t]}/bench/push/$t-r$r-$k:v1" ||
        die "push via $t failed"
      end=$(date +%s.%N)
      # shellcheck disable=SC2086
      after=$(ticks ${path_pids[$t]})
      wall=$(awk -v a="$begin" -v b="$end" 'BEGIN{printf "%.3f", b - a}')
      cpu_s=$(awk -v d="$((after - before))" -v hz="$hz" 'BEGIN{printf "%.2f", d / hz}')
      echo "$wall" >>"$work/results/push.$t.round"
      echo "$cpu_s" >>"$work/results/pushcpu.$t.round"
      printf '  push %s/%s         %-8s %10s s                                  server CPU %5s s\n' \
        "$k" "$repeat" "$t" "$wall" "$cpu_s" >&2
    done
  done
  for t in "${targets[@]}"; do
    record blob_bps "$t" "$(median_of "$work/results/blob.$t.round")"
    record blob_cpu "$t" "$(median_of "$work/results/blobcpu.$t.round")"
    record push_s "$t" "$(median_of "$work/results/push.$t.round")"
    record push_cpu "$t" "$(median_of "$work/results/pushcpu.$t.round")"
  done
  other=$(other_pct "$round_busy" "$round_own" "$round_start")
  record other_pct all "$other"
  echo "  other processes used $other % of the machine's CPU during this round" >&2
done
rss_end=$(status_kib "$sg_pid" VmRSS)

# ---------------------------------------------------------------------------------------------
median() { median_of "$work/results/$1.$2"; } # metric target
fmt() { awk -v v="$1" -v f="$2" 'BEGIN{printf f, v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
# verdict RATIO OP LIMIT -> met/missed
verdict() {
  if awk -v r="$1" -v l="$3" -v op="$2" 'BEGIN{ exit !((op == ">=" && r >= l) || (op == "<=" && r <= l)) }'; then
    echo "met"
  else
    echo "**missed**"
  fi
}

declare -A m
for metric in tag_rps tag_p50 tag_p99 tag_cpu digest_rps digest_p50 digest_p99 digest_cpu blob_bps blob_cpu push_s push_cpu; do
  for t in "${targets[@]}"; do m[$metric.$t]=$(median "$metric" "$t"); done
done
for t in "${targets[@]}"; do m[blob_mibs.$t]=$(awk -v s="${m[blob_bps.$t]}" 'BEGIN{print s / 1048576}'); done
rss_growth_mib=$(awk -v k="$(sort -g "$work/results/rss_growth_kib.sealgate" | tail -1)" 'BEGIN{printf "%.1f", k / 1024}')
rss_peak_mib=$(awk -v k="$(sort -g "$work/results/rss_peak_kib.sealgate" | tail -1)" 'BEGIN{printf "%.1f", k / 1024}')

row() { # label metric format [target-op target-limit target-text]
  local label=$1 metric=$2 f=$3 d n s rd rn
  d=${m[$metric.direct]} n=${m[$metric.nginx]} s=${m[$metric.sealgate]}
  rd=$(ratio "$s" "$d") rn=$(ratio "$s" "$n")
  local target="" outcome=""
  if [[ $# -ge 6 ]]; then target=$6; outcome=$(verdict "$rd" "$4" "$5"); fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(fmt "$d" "$f")" "$(fmt "$n" "$f")" \
    "$(fmt "$s" "$f")" "$rd" "$rn" "$target" "$outcome"
}

runtime=$(($(date +%s) - started_at))
other_max=$(sort -g "$work/results/other_pct.all" | tail -1)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
table="$work/last-run.md"
{
  echo "Run: $(date -u +'%F %H:%M UTC'), $cpu, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo);"
  echo "sealgate $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?') (release), $(docker-registry --version | awk '{print $3}') docker-registry,"
  echo "nginx $("$nginx_bin" -v 2>&1 | sed 's#.*nginx/##'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), skopeo $(skopeo --version | awk '{print $3}');"
  echo "$rounds rounds (median), wrk -t$threads -c$connections -d$duration; blob $blob_mib MiB and push of $((push_bytes / 1024 / 1024)) MiB"
  echo "(5 layers) $repeat× per target and round (median); total runtime ${runtime} s."
  echo
  echo "| measurement | direct | nginx | sealgate | sealgate / direct | sealgate / nginx | target | |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  row "manifest GET by tag, req/s" tag_rps "%.0f" ">=" 1.5 "≥ 1.5× direct"
  row "manifest GET by tag, p50 ms" tag_p50 "%.2f"
  row "manifest GET by tag, p99 ms" tag_p99 "%.2f" "<=" 1.0 "≤ direct"
  row "manifest GET by tag, server CPU µs/request" tag_cpu "%.0f"
  row "manifest GET by digest, req/s" digest_rps "%.0f"
  row "manifest GET by digest, p50 ms" digest_p50 "%.2f"
  row "manifest GET by digest, p99 ms" digest_p99 "%.2f"
  row "manifest GET by digest, server CPU µs/request" digest_cpu "%.0f"
  row "blob GET ($blob_mib MiB), MiB/s" blob_mibs "%.0f" ">=" 0.9 "≥ 0.9× direct"
  row "blob GET, server CPU s/GiB" blob_cpu "%.2f"
  printf '| sealgate RSS growth during a blob GET, MiB (max) | | | %s | | | ≤ 32 MiB | %s |\n' \
    "$rss_growth_mib" "$(verdict "$rss_growth_mib" "<=" 32)"
  row "push (skopeo, $((push_bytes / 1024 / 1024)) MiB), s" push_s "%.2f" "<=" 1.1 "≤ 1.1× direct"
  row "push, server CPU s" push_cpu "%.2f"
  echo
  echo "Server CPU: the CPU time of the processes on the target's path (registry; nginx workers +"
  echo "registry; sealgate + registry) divided by the requests served (or GiB sent), or per push."
  echo "sealgate RSS: $((rss_start / 1024)) MiB after warm-up, $((rss_end / 1024)) MiB at the end, peak during a blob GET $rss_peak_mib MiB."
  echo "Other processes on the machine used at most $other_max % of its CPU in a round (rounds: $(paste -sd/ "$work/results/other_pct.all") %)."
} >"$table"

step "results (also in $table)"
cat "$table"
missed=$(grep -c 'missed\*\*' "$table" || true)
if ((other_max > 10)); then
  echo >&2
  echo "warning: other processes used up to $other_max % of the CPU during a round; the figures are disturbed" >&2
fi
if ((missed > 0)); then
  echo >&2
  echo "$missed target(s) missed" >&2
  if [[ "$strict" == 1 ]]; then exit 1; fi
fi
