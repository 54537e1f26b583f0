#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, only those that are missing.
# Usage: scripts/install-deps.sh [test|demo]
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [docker-registry]=docker-registry   # the upstream: CNCF distribution 2.8
  [skopeo]=skopeo                     # push/pull client
  [umoci]=umoci                       # builds the demo image
  [jq]=jq
  [curl]=curl
  [openssl]=openssl                   # the demo signs like cosign does
)
if [[ "${1:-test}" == test ]]; then
  wanted[containerd]=containerd       # mirror-mode client (ctr comes with it)
  wanted[ctr]=containerd
fi

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing: ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
