#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the load comparison need, only those that
# are missing, and for the tests the Python virtualenv .venv-ci (the Helm chart's tests, the
# /metrics parser, the oras client).
# Usage: scripts/install-deps.sh [test|demo|replicas|bench]
#   test      the demo's tools + containerd + podman + PostgreSQL 15 + .venv-ci   (scripts/test.sh, .ci/run)
#   demo      docker-registry, skopeo, umoci, jq, curl, openssl   (scripts/demo.sh)
#   replicas  the demo's tools + PostgreSQL 15, python3   (scripts/demo.sh --replicas N)
#   bench     the demo's tools + nginx, wrk, python3, procps   (benches/load/compare.sh)
set -euo pipefail
mode="${1:-test}"
case "$mode" in
  test | demo | replicas | bench) ;;
  *) echo "usage: $0 [test|demo|replicas|bench]" >&2; exit 64 ;;
esac

# command -> Debian package
declare -A wanted=(
  [docker-registry]=docker-registry   # the upstream: CNCF distribution 2.8
  [skopeo]=skopeo                     # push/pull client
  [umoci]=umoci                       # builds the demo image
  [jq]=jq
  [curl]=curl
  [openssl]=openssl                   # the demo signs like cosign does
)
if [[ "$mode" == test ]]; then
  wanted[containerd]=containerd       # mirror-mode client (ctr comes with it)
  wanted[ctr]=containerd
  wanted[podman]=podman               # push/pull client (containers/image, as skopeo, with its own storage)
fi
if [[ "$mode" == replicas ]]; then
  wanted[python3]=python3             # picks free loopback ports
fi
if [[ "$mode" == bench ]]; then
  wanted[nginx]=nginx                 # the plain reverse proxy sealgate is compared with
  wanted[wrk]=wrk                     # HTTP load generator
  wanted[python3]=python3             # picks free loopback ports
  wanted[pgrep]=procps                # finds nginx's workers (their CPU time is measured)
fi

missing=()
for cmd in "${!wanted[@]}"; do
  # (nginx lives in /usr/sbin, which is not on every user's PATH)
  command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]] || missing+=("${wanted[$cmd]}")
done
# PostgreSQL 15 (Debian 12's), for several replicas on one database: the tests and the demo run
# their own throwaway server from its binaries (initdb, postgres, which are not on PATH) as the
# unprivileged user `postgres` the package creates, in a temporary directory on a free loopback
# port.
pg_bin=/usr/lib/postgresql/15/bin
if [[ "$mode" == test || "$mode" == replicas ]]; then
  if [[ ! -x "$pg_bin/initdb" || ! -x "$pg_bin/postgres" ]] || ! id postgres >/dev/null 2>&1; then
    missing+=(postgresql-15)
  fi
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
apt_install() {
  echo "installing: $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# Files this script puts in place only while apt runs, removed however it ends.
undo=()
trap '((${#undo[@]} == 0)) || $sudo rm -f "${undo[@]}"' EXIT
if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  # Debian's nginx package starts its own service on installation, listening on every interface
  # (port 80). The benchmark runs its own nginx on loopback only, so that service is kept from
  # starting: a policy-rc.d that refuses every start while apt runs (Debian's documented way;
  # container images usually ship one already, which is then left alone).
  policy=/usr/sbin/policy-rc.d
  if [[ " ${missing[*]} " == *" nginx "* && ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# installed by sealgate scripts/install-deps.sh while apt runs\nexit 101\n' |
      $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    undo+=("$policy")
  fi
  # Debian's postgresql package would also create a cluster of its own ("15 main", a system
  # service on port 5432 started at every boot) that nothing here uses. postgresql-common reads
  # createcluster.d/*.conf when the package is configured: this one, present only while apt
  # runs, says not to create it.
  nocluster=/etc/postgresql-common/createcluster.d/00-sealgate-no-main-cluster.conf
  if [[ " ${missing[*]} " == *" postgresql-15 "* && ! -e "$nocluster" ]]; then
    $sudo mkdir -p "$(dirname "$nocluster")"
    printf '# installed by sealgate scripts/install-deps.sh while apt runs\ncreate_main_cluster = false\n' |
      $sudo tee "$nocluster" >/dev/null
    undo+=("$nocluster")
  fi
  apt_install "${missing[@]}"
  if [[ " ${missing[*]} " == *" nginx "* && -d /run/systemd/system ]]; then
    # Nor does it start at the next boot.
    $sudo systemctl disable --quiet nginx.service 2>/dev/null || true
    echo "nginx installed for the load comparison; its system service is disabled" >&2
  fi
fi

# The Helm chart's tests (helm/tests/test_chart.py) run Helm's own engine from PyPI
# (helm-python-sdk: Helm v4's Go SDK in a wheel, no helm binary) and validate the manifests with
# Kubernetes' schemas (kubernetes-validate); the integration test of /metrics parses sealgate's
# output with Prometheus' own Python parser (prometheus-client); the oras test pushes an artifact
# with a `subject` with the ORAS Python SDK (oras). They live in .venv-ci at the
# repository root (not system-wide: Debian's Python refuses pip installs outside a virtualenv).
# Pinned for repeatable CI; recreated only when the pins change or the virtualenv is broken.
if [[ "$mode" == test ]]; then
  venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-ci"
  requirements=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 prometheus-client==0.26.0 oras==0.2.43)
  stamp="$venv/.requirements"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]] ||
    ! "$venv/bin/python" -c 'import helm_python, kubernetes_validate, prometheus_client, oras' >/dev/null 2>&1; then
    echo "creating $venv: ${requirements[*]}" >&2
    # Debian's python3 makes virtualenvs only with python3-venv installed.
    if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
      apt_install python3-venv
      python3 -m venv --clear "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" >"$stamp"
  fi
fi
