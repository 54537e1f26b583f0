//! Integration tests: sealgate between real clients and a real registry. One test binary with one
//! module per area (`tests/it/*.rs`), so build time does not grow with each file.
//!
//! Every test starts its own processes on free loopback ports, so tests run in parallel. They need
//! the built binary (`cargo build -p sealgate`) and docker-registry, skopeo, containerd (with
//! `ctr`), podman, curl and Debian's PostgreSQL server (`/usr/lib/postgresql/*/bin`, run by the
//! replica tests as user `postgres`), and `.venv-ci` (prometheus-client, oras) from
//! `scripts/install-deps.sh test`; a missing one fails the test with its install command.

#[path = "it/access.rs"]
mod access;
#[path = "it/admin.rs"]
mod admin;
#[path = "it/breaks.rs"]
mod breaks;
#[path = "it/bypass.rs"]
mod bypass;
#[path = "it/conformance.rs"]
mod conformance;
#[path = "it/containerd.rs"]
mod containerd;
#[path = "it/faults.rs"]
mod faults;
#[path = "it/fleet.rs"]
mod fleet;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/hostile.rs"]
mod hostile;
#[path = "it/large_blob.rs"]
mod large_blob;
#[path = "it/metrics.rs"]
mod metrics;
#[path = "it/oras.rs"]
mod oras;
#[path = "it/podman.rs"]
mod podman;
#[path = "it/pull_gate.rs"]
mod pull_gate;
#[path = "it/push_gate.rs"]
mod push_gate;
#[path = "it/replicas.rs"]
mod replicas;
#[path = "it/routing.rs"]
mod routing;
#[path = "it/shutdown.rs"]
mod shutdown;
#[path = "it/skopeo.rs"]
mod skopeo;
#[path = "it/tls.rs"]
mod tls;
#[path = "it/uploads.rs"]
mod uploads;
#[path = "it/upstream_auth.rs"]
mod upstream_auth;
