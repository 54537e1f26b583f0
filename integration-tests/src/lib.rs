//! Harness for sealgate's integration tests: real processes on loopback, real clients.
//!
//! The tests in `tests/it/` start Debian's `docker-registry` (CNCF distribution 2.8) as the
//! upstream, the built `sealgate` binary in front of it, and drive both with real clients (skopeo,
//! containerd's `ctr`, curl) or with the small HTTP helpers here. An in-process fake upstream exists
//! only for the hostile-input and fault tests, where a real registry cannot misbehave on demand.
//!
//! The harness must not skip anything: a missing tool or binary is a test failure that says how to
//! install it. Every process it starts is owned by a guard that kills and reaps it on drop, also
//! when a test panics. Nothing listens beyond `127.0.0.1`, and nothing reaches the internet.
//!
//! # Layout
//!
//! - [`Registry`]: the real upstream, with `stop`/`restart` for fault tests; [`RegistryAuth`] makes
//!   it demand Basic credentials or tokens from a [`token_server::TokenServer`].
//! - [`Sealgate`] and [`SealgateBuilder`]: the binary under test, its config, its memory figures;
//!   [`registry_behind_sealgate`] starts the usual pair.
//! - [`Containerd`]: a private containerd daemon used as a node pulling through a mirror.
//! - [`Podman`]: podman with its own storage and configuration in a temp dir.
//! - [`RecordingUpstream`]: a fake upstream that records what reaches it, or stalls;
//!   [`ScriptedUpstream`]: one that answers fixed bytes and headers per path (it can lie).
//! - [`FaultyUpstream`]: a fake upstream answering HTML server errors, or stopping mid-body.
//! - [`Tmpfs`]: a small filesystem to fill, for the disk-full tests (needs root).
//! - [`OciLayout`]: writes OCI image layouts (images and multi-arch indexes) for skopeo to read.
//! - [`oci`]: distribution-API steps (open an upload session, push a blob or a tiny image, HEAD a
//!   manifest digest).
//! - [`send`], [`send_streaming`], [`raw_request`]: HTTP helpers; [`GeneratedBody`] streams large
//!   pseudo-random bodies without holding them in memory.
//! - [`require_tool`], [`run_tool`], [`skopeo`]: external command-line tools; [`skopeo_push`] and
//!   [`push_sample_image`] copy images to a plain-HTTP registry or sealgate, [`skopeo_raw_digest`]
//!   hashes the manifest skopeo reads back.
//! - [`self_signed_cert`], [`self_signed_cert_named`]: throwaway certificates for the TLS
//!   listener; [`TestCa`]: a CA issuing server certificates (a TLS upstream, with
//!   [`Registry::start_with_tls`]) and client certificates (mTLS).

mod child;
mod client;
mod containerd;
pub mod cosign;
mod faulty;
mod layout;
mod loopback;
pub mod oci;
mod podman;
mod recording;
mod registry;
mod scripted;
mod sealgate;
mod tls;
mod tmpfs;
pub mod token_server;
mod tools;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

pub use client::{
    GeneratedBody, RawReply, Reply, STREAMING_HEADERS_TIMEOUT, TestBody, empty_body, raw_request,
    read_body_hashed, send, send_streaming, try_send,
};
pub use containerd::Containerd;
pub use faulty::{ERROR_PAGE, Fault, FaultyUpstream};
pub use layout::{ImageDescriptor, OciLayout, Platform, sample_layer, tar_layer};
pub use podman::Podman;
pub use recording::{RecordedRequest, RecordingUpstream, UpstreamBehaviour};
pub use registry::{Registry, RegistryAuth};
pub use scripted::{ScriptedAnswer, ScriptedUpstream};
pub use sealgate::{
    PasswordSource, Sealgate, SealgateBuilder, registry_behind_sealgate, sealgate_binary,
};
pub use tls::{SelfSignedCert, TestCa, self_signed_cert, self_signed_cert_named};
pub use tmpfs::Tmpfs;
pub use tools::{
    push_sample_image, require_tool, run_tool, skopeo, skopeo_push, skopeo_raw_digest,
};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of a Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// One `Accept` header line per manifest media type, the way skopeo and containerd send them.
pub const MANIFEST_ACCEPT: [(&str, &str); 4] = [
    ("accept", OCI_MANIFEST),
    ("accept", OCI_INDEX),
    ("accept", DOCKER_MANIFEST),
    ("accept", DOCKER_MANIFEST_LIST),
];

/// A TCP port on `127.0.0.1` that was free a moment ago and that this process has not handed out
/// before (see [`sealgate_storage::testing::free_port`]).
pub fn free_port() -> u16 {
    sealgate_storage::testing::free_port().expect("bind 127.0.0.1:0")
}

/// The OCI digest of `bytes`: `sha256:<lowercase hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A string unique to this call, this process and this moment, mixed into generated content so
/// that every test run pushes blobs the registry has never seen.
pub fn unique_salt() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

/// The OCI error codes in a `{"errors":[{"code":…}]}` body, in order; empty when the body is not
/// such a document.
pub fn oci_error_codes(body: &[u8]) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    doc.get("errors")
        .and_then(serde_json::Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("code").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
