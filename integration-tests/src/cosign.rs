//! A cosign-compatible signer for tests: ECDSA P-256 keys, simple-signing payloads, and `.sig`
//! manifests pushed the way cosign pushes them (payload and config blobs, then the manifest under
//! `sha256-<hex>.sig`). Debian's skopeo and podman are built without sigstore support, so the
//! tests sign with this instead; the verifier is checked against real cosign output elsewhere
//! (`policies/tests/fixtures`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

use crate::OCI_MANIFEST;
use crate::client::{Reply, send};
use crate::oci::push_blob;

/// Media type of a simple-signing layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A signing key and its public half.
pub struct CosignKey {
    pair: EcdsaKeyPair,
    public_pem: String,
}

impl CosignKey {
    /// A fresh P-256 key.
    pub fn generate() -> Self {
        let key = rcgen::KeyPair::generate().expect("generate a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("ring reads rcgen's PKCS#8");
        Self {
            pair,
            public_pem: key.public_key_pem(),
        }
    }

    /// Writes the public key (what sealgate's `[trust.keys.*] path` names) and returns its path.
    pub fn write_public(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pub"));
        std::fs::write(&path, &self.public_pem).expect("write the public key");
        path
    }

    /// A signature layer over the simple-signing payload for `reference` at `digest`.
    pub fn sign(&self, docker_reference: &str, digest: &str) -> SignatureLayer {
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{docker_reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes();
        let signature = self
            .pair
            .sign(&SystemRandom::new(), &payload)
            .expect("sign")
            .as_ref()
            .to_vec();
        SignatureLayer {
            payload,
            signature: base64::engine::general_purpose::STANDARD.encode(signature),
        }
    }
}

/// One simple-signing layer.
#[derive(Clone)]
pub struct SignatureLayer {
    /// The signed bytes.
    pub payload: Vec<u8>,
    /// Base64 signature.
    pub signature: String,
}

/// Pushes a `.sig` manifest for `image_digest` holding `layers` (in order) through `base_url`;
/// returns the reply to the manifest PUT.
pub async fn push_signature(
    base_url: &str,
    name: &str,
    image_digest: &str,
    layers: &[SignatureLayer],
) -> Reply {
    let config =
        br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(base_url, name, config).await;
    let mut descriptors = Vec::new();
    for layer in layers {
        let digest = push_blob(base_url, name, &layer.payload).await;
        descriptors.push(serde_json::json!({
            "mediaType": SIMPLE_SIGNING,
            "size": layer.payload.len(),
            "digest": digest,
            "annotations": {"dev.cosignproject.cosign/signature": layer.signature},
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": descriptors,
    });
    let tag = format!("sha256-{}.sig", image_digest.trim_start_matches("sha256:"));
    let body = serde_json::to_vec(&manifest).expect("JSON");
    send(
        Method::PUT,
        &format!("{base_url}/v2/{name}/manifests/{tag}"),
        &[("content-type", OCI_MANIFEST)],
        Bytes::from(body),
    )
    .await
}
