//! sealgate-policies: decides what sealgate trusts. It performs no I/O: no sockets, no disk, no
//! clock reads (time is passed in). The proxy fetches bytes and hands them here.
//!
//! # Layout
//!
//! - [`oci`]: validated OCI identifiers, shared with the proxy and the storage.
//! - [`crypto`]: public keys and signature checks (aws-lc-rs).
//! - [`x509`]: what is read out of certificates; [`pki`]: CA bundles, CRLs, chain checks (webpki).
//! - [`certificates`]: the certificates a trust configuration relies on, for expiry monitoring.
//! - [`cosign`]: cosign signature manifests and simple-signing payloads, verified with keys or PKI.
//! - [`identity`]: certificate identity constraints.
//! - [`config`]: the `[trust]` and `[policy]` tables as written; [`policy`]: compiled and validated.
//! - [`verdict`]: `evaluate(policy, subject, evidence, now) -> Verdict`.
//! - [`gate`]: the push, pull, blob, drift and delete decisions, from facts to plans.
//! - [`bundle`]: sigstore bundles, parsed by `sigstore-types`.
//! - [`sigstore`]: keyless (Fulcio + Rekor) and bundle verification on `sigstore-verify` (Rekor
//!   SETs, proofs and checkpoints, RFC 3161 timestamps, SCTs, trusted roots); cosign's legacy
//!   layers restated as v0.1 bundles; identity globs.
//! - [`statement`]: which in-toto statements count as image signatures (by `predicateType`).
//! - [`glob`]: repository and identity patterns.
//! - [`time`]: time as a value.

pub mod bundle;
pub mod certificates;
pub mod config;
pub mod cosign;
pub mod crypto;
pub mod gate;
pub mod glob;
pub mod identity;
pub mod oci;
pub mod pki;
pub mod policy;
pub mod sigstore;
pub mod statement;
pub mod time;
pub mod verdict;
pub mod x509;
