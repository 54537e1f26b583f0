#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite (Go module
# github.com/opencontainers/distribution-spec/conformance, a Ginkgo test binary) against
#   direct:   Debian's docker-registry (CNCF distribution 2.8) alone, and
#   sealgate: sealgate in front of a fresh one, with a permissive default scope
#             (mode = "audit", immutable_tags = false),
# with pull, push, content discovery and content management enabled, and prints for each run the
# specs run, passed and failed, and each failed spec with the message the suite gave.
#
# Usage: scripts/conformance.sh [--sealgate-bin PATH] [--only direct|sealgate]
#                               [--suite-bin PATH] [--suite-version VERSION] [--debug]
#   --sealgate-bin   sealgate binary (default: target/debug/sealgate, built with
#                    `cargo build -p sealgate` only when missing)
#   --only           run one of the two configurations
#   --suite-bin      a conformance test binary built elsewhere (`go test -c` in the module);
#                    skips the Go download and build
#   --suite-version  version of the Go module to build (default: SUITE_VERSION below; any
#                    version or commit the go command resolves); or CONFORMANCE_SUITE_VERSION
#   --debug          OCI_DEBUG=1: the suite logs every request and response
#
# Everything listens on 127.0.0.1 on free ports, in temp dirs; every process this script starts
# is killed when it exits. The Go module cache, the built suite and the reports of each run
# (junit.xml, report.html, the suite's output, the registry's and sealgate's logs) stay under
# .conformance/ (git-ignored): .conformance/runs/<time>/{direct,sealgate}/.
#
# Building the suite needs the go command and the Go module proxy. Debian bookworm's golang-go
# (Go 1.19) is installed when go is missing; a suite whose go.mod needs a newer Go is built with
# GOTOOLCHAIN=go1.27.3 when the installed go can switch toolchains (go >= 1.21).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$REPO/.conformance"
SUITE_MODULE="github.com/opencontainers/distribution-spec/conformance"
# The module has no tags of its own: the proxy serves pseudo-versions. The issue measured the
# v1.1.1 suite (74 specs). Of the two pseudo-versions known to be served, 2023-11-01 predates
# v1.1.0 (2024-02), so the default is the later one (2026-08-31), which comes after v1.1.1 and
# may hold specs added since: pass the v1.1.1 tag's commit (--suite-version) to pin it exactly.
SUITE_VERSION="${CONFORMANCE_SUITE_VERSION:-v0.0.0-20260831232431-97274622c111}"
# The one newer Go the module proxy serves for this workplace, for a go.mod that needs it.
GO_TOOLCHAIN_NEWER="go1.27.3"
SUITE_TIMEOUT="${CONFORMANCE_TIMEOUT:-1200}"

sealgate_bin=""
suite_bin=""
only=""
debug=0

usage() {
  sed -n '10,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --sealgate-bin) sealgate_bin="${2:?--sealgate-bin needs a path}"; shift 2 ;;
    --suite-bin) suite_bin="${2:?--suite-bin needs a path}"; shift 2 ;;
    --suite-version) SUITE_VERSION="${2:?--suite-version needs a version}"; shift 2 ;;
    --only)
      only="${2:?--only needs direct or sealgate}"
      [[ "$only" == direct || "$only" == sealgate ]] || usage
      shift 2 ;;
    --debug) debug=1; shift ;;
    -h|--help) usage ;;
    *) echo "conformance.sh: unknown argument $1" >&2; usage ;;
  esac
done

log() { echo "conformance: $*" >&2; }
die() { echo "conformance: $*" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Processes and temp dirs: everything started here is killed (by its pid) at exit.
pids=()
tmp_root="$(mktemp -d -t sealgate-conformance.XXXXXX)"
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until GET $1 answers $2 (HTTP status), or fails after $3 seconds; $4 is the process'
# pid and $5 its log, shown when it dies or never answers.
wait_http() {
  local url="$1" want="$2" seconds="$3" pid="$4" logfile="$5" got deadline
  deadline=$((SECONDS + seconds))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "the process behind $url exited before answering (log above: $logfile)"
    fi
    got="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
    [[ "$got" == "$want" ]] && return 0
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "GET $url answered '$got', not $want, within ${seconds}s (log above: $logfile)"
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Tools
need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2 (for $1)"
  if ! apt-get install -y "$2" >/dev/null 2>&1; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 is still missing after apt-get install $2"
}

need_apt curl curl
need_apt python3 python3
need_apt docker-registry docker-registry

# ---------------------------------------------------------------------------------------------
# The suite: downloaded through the Go module proxy into .conformance/, built once per version.
go_minor() { # 1.19.8 -> 19
  go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/'
}

build_suite() {
  need_apt go golang-go
  mkdir -p "$CACHE/bin"
  export GOPATH="$CACHE/gopath" GOMODCACHE="$CACHE/gopath/pkg/mod" GOCACHE="$CACHE/gocache"
  export GOFLAGS="-modcacherw"
  local out="$CACHE/bin/conformance-$SUITE_VERSION.test"
  if [[ -x "$out" ]]; then
    echo "$out"
    return 0
  fi
  log "go: $(go version)"
  log "downloading $SUITE_MODULE@$SUITE_VERSION (Go module proxy: $(go env GOPROXY))"
  local info dir
  # Run from a neutral directory: `go mod download` of a module path needs no go.mod.
  if ! info="$(cd "$tmp_root" && go mod download -json "$SUITE_MODULE@$SUITE_VERSION" 2>&1)"; then
    echo "$info" >&2
    die "could not download the suite: go mod download -json $SUITE_MODULE@$SUITE_VERSION failed (this needs the Go module proxy; elsewhere build it with go test -c in the module and pass --suite-bin)"
  fi
  dir="$(python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir", ""))' <<<"$info")"
  [[ -n "$dir" && -d "$dir" ]] || { echo "$info" >&2; die "go mod download gave no module directory"; }
  local resolved
  resolved="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["Version"])' <<<"$info")"
  local src="$CACHE/src/$resolved"
  rm -rf "$src"
  mkdir -p "$src"
  cp -R "$dir/." "$src/"
  chmod -R u+w "$src"
  # A go.mod that asks for a newer Go than this one: switch toolchains where go can (>= 1.21).
  local want_minor
  want_minor="$(sed -nE 's/^go 1\.([0-9]+).*/\1/p' "$src/go.mod" | head -n1)"
  if [[ -n "$want_minor" ]] && ((want_minor > $(go_minor))); then
    if (($(go_minor) >= 21)); then
      log "its go.mod says go 1.$want_minor: building with GOTOOLCHAIN=$GO_TOOLCHAIN_NEWER"
      export GOTOOLCHAIN="$GO_TOOLCHAIN_NEWER"
    else
      log "its go.mod says go 1.$want_minor and this go is $(go env GOVERSION), which cannot switch toolchains; trying anyway"
    fi
  fi
  log "building the suite in $src (go test -c)"
  (cd "$src" && go mod download && go test -c -o "$out.partial" .) >&2 \
    || die "could not build the suite: (cd $src && go test -c) failed"
  mv "$out.partial" "$out"
  echo "$out"
}

if [[ -n "$suite_bin" ]]; then
  [[ -x "$suite_bin" ]] || die "--suite-bin $suite_bin is not an executable file"
  suite_bin="$(cd "$(dirname "$suite_bin")" && pwd)/$(basename "$suite_bin")"
  suite_label="$suite_bin"
else
  suite_bin="$(build_suite)"
  suite_label="$SUITE_MODULE@$SUITE_VERSION"
fi

# ---------------------------------------------------------------------------------------------
# sealgate: the binary given, or this checkout's debug build (built only when missing).
if [[ "$only" != direct ]]; then
  if [[ -z "$sealgate_bin" ]]; then
    sealgate_bin="$REPO/target/debug/sealgate"
    if [[ ! -x "$sealgate_bin" ]]; then
      log "building sealgate (cargo build -p sealgate)"
      (cd "$REPO" && cargo build -p sealgate) >&2
    fi
  fi
  [[ -x "$sealgate_bin" ]] || die "sealgate binary $sealgate_bin is missing or not executable"
fi

# ---------------------------------------------------------------------------------------------
# docker-registry on a free loopback port, temp filesystem storage, deletes enabled
# (as shared/examples/registry-config.yml and integration-tests/src/registry.rs). Sets reg_url.
start_registry() { # start_registry DIR LOGFILE
  local dir="$1" logfile="$2" port
  port="$(free_port)"
  mkdir -p "$dir/storage"
  cat >"$dir/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: "$dir/storage"}
  delete: {enabled: true}
http: {addr: "127.0.0.1:$port"}
EOF
  docker-registry serve "$dir/registry.yml" >"$logfile" 2>&1 &
  pids+=("$!")
  reg_url="http://127.0.0.1:$port"
  wait_http "$reg_url/v2/" 200 20 "$!" "$logfile"
}

# sealgate in front of $1 with a permissive default scope. Sets sg_url.
start_sealgate() { # start_sealgate UPSTREAM_URL DIR LOGFILE
  local upstream="$1" dir="$2" logfile="$3" port
  port="$(free_port)"
  cat >"$dir/sealgate.toml" <<EOF
listen = "127.0.0.1:$port"

[storage]
path = "$dir/store"

[[upstream]]
name = "registry"
url = "$upstream"

# Nothing the suite pushes is signed: audit instead of enforcing, and let tags move.
[policy.default]
mode = "audit"
immutable_tags = false
EOF
  "$sealgate_bin" check-config --config "$dir/sealgate.toml" >/dev/null \
    || die "sealgate check-config refused $dir/sealgate.toml"
  "$sealgate_bin" serve --config "$dir/sealgate.toml" >"$logfile" 2>&1 &
  pids+=("$!")
  sg_url="http://127.0.0.1:$port"
  wait_http "$sg_url/readyz" 200 30 "$!" "$logfile"
}

# Stops the process started last (the registry of the direct run, before the next starts).
stop_last() {
  local pid="${pids[-1]}"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'pids[-1]'
}

# ---------------------------------------------------------------------------------------------
# One run of the suite against $2; reports (junit.xml, report.html) and its output go to $3.
run_suite() { # run_suite NAME URL OUTDIR
  local name="$1" url="$2" out="$3" rc=0
  log "$name: running the suite against $url"
  # In the background with its pid in pids, so that a signal to this script ends it too.
  (
    cd "$out"
    export OCI_ROOT_URL="$url"
    export OCI_NAMESPACE="conformance/myrepo"
    export OCI_CROSSMOUNT_NAMESPACE="conformance/other"
    export OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1
    export OCI_HIDE_SKIPPED_WORKFLOWS=0
    export OCI_DEBUG="$debug"
    export OCI_REPORT_DIR="$out"
    unset OCI_USERNAME OCI_PASSWORD OCI_DELETE_MANIFEST_BEFORE_BLOBS
    exec timeout "$SUITE_TIMEOUT" "$suite_bin"
  ) >"$out/suite.log" 2>&1 &
  pids+=("$!")
  wait "$!" || rc=$?
  unset 'pids[-1]'
  if [[ "$rc" == 124 ]]; then
    log "$name: the suite did not finish within ${SUITE_TIMEOUT}s (CONFORMANCE_TIMEOUT)"
  fi
  echo "$rc" >"$out/suite.rc"
}

# Prints the counts and the failed specs of one run from its junit.xml.
summarize() { # summarize NAME OUTDIR
  python3 - "$1" "$2" <<'PY'
import os, re, sys
import xml.etree.ElementTree as ET

name, out = sys.argv[1], sys.argv[2]
junit = os.path.join(out, "junit.xml")
rc = open(os.path.join(out, "suite.rc")).read().strip()
log = os.path.join(out, "suite.log")
ran = ""
if os.path.exists(log):
    # Ginkgo's own count, to cross-check the report ("Ran 74 of 79 Specs in ...").
    for line in open(log, errors="replace"):
        m = re.search(r"Ran \d+ of \d+ Specs?", line)
        if m:
            ran = m.group(0)
if not os.path.exists(junit):
    print(f"{name}: no junit.xml (suite exit code {rc}); its output: {log}")
    sys.exit(1)

root = ET.parse(junit).getroot()
cases = list(root.iter("testcase"))
passed, failed, skipped = [], [], []
for case in cases:
    label = case.get("name", "?")
    classname = case.get("classname")
    status = case.get("status")  # Ginkgo v2 reports say it outright
    problem = case.find("failure")
    if problem is None:
        problem = case.find("error")
    if case.find("skipped") is not None or status in ("skipped", "pending"):
        skipped.append(label)
    elif problem is not None or status in ("failed", "panicked", "interrupted", "aborted", "timedout"):
        message = ""
        if problem is not None:
            message = (problem.get("message") or "").strip()
            text = (problem.text or "").strip()
            if text and text not in message:
                message = (message + "\n" + text).strip() if message else text
        failed.append((label, message))
    else:
        passed.append(label)

# Ginkgo reports suite-level nodes ([BeforeSuite], [AfterSuite], ...) as test cases too: they are
# not specs, so they are not counted, but a failing one is listed.
suite_node = re.compile(r"^\[(Synchronized)?(Before|After)Suite\]|^\[Report(Before|After)Suite\]|^\[DeferCleanup")
n_passed = sum(1 for label in passed if not suite_node.match(label))
n_failed = sum(1 for label, _ in failed if not suite_node.match(label))
print(f"== {name}: {n_passed + n_failed} specs run, {n_passed} passed, {n_failed} failed, "
      f"{len(skipped)} skipped" + (f" (ginkgo: {ran})" if ran else "") + f"; suite exit code {rc}")
for label, message in failed:
    print(f"  FAIL {label}")
    for line in message.splitlines()[:12]:
        print(f"       {line}")
print(f"  reports: {out}/junit.xml, {out}/report.html; output: {log}")
print(f"{name}: {n_passed} passed, {n_failed} failed")
PY
}

# ---------------------------------------------------------------------------------------------
runs_dir="$CACHE/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$runs_dir"
log "suite: $suite_label"
log "reports under $runs_dir"
names=()

if [[ "$only" != sealgate ]]; then
  out="$runs_dir/direct"
  mkdir -p "$out"
  start_registry "$tmp_root/direct-registry" "$out/registry.log"
  log "direct: docker-registry at $reg_url"
  run_suite direct "$reg_url" "$out"
  stop_last
  names+=(direct)
fi

if [[ "$only" != direct ]]; then
  out="$runs_dir/sealgate"
  mkdir -p "$out" "$tmp_root/sealgate"
  start_registry "$tmp_root/sealgate-registry" "$out/registry.log"
  start_sealgate "$reg_url" "$tmp_root/sealgate" "$out/sealgate.log"
  log "sealgate: $sealgate_bin at $sg_url in front of docker-registry at $reg_url"
  run_suite sealgate "$sg_url" "$out"
  names+=(sealgate)
fi

echo
echo "OCI distribution-spec conformance: $suite_label"
status=0
for name in "${names[@]}"; do
  summarize "$name" "$runs_dir/$name" || status=1
done
exit "$status"
