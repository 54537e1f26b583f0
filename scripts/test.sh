#!/usr/bin/env bash
# Runs the whole test suite: unit tests of every crate and the integration tests against a real
# docker-registry, skopeo and containerd, then the Helm chart's tests. Installs what it needs
# first (Debian packages, and the chart tests' Python virtualenv .venv-ci).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test
# The integration tests drive the real binary, so it must exist before they start.
cargo build -p sealgate
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found (cargo install cargo-nextest); falling back to cargo test" >&2
  cargo test --workspace --no-fail-fast "$@"
fi

# The Helm chart: linted and rendered by Helm's engine, manifests validated against Kubernetes'
# schemas, sealgate.toml checked by the binary built above (helm/tests/test_chart.py).
.venv-ci/bin/python helm/tests/test_chart.py
