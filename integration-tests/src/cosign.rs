//! A cosign-compatible signer for tests: ECDSA P-256 keys, simple-signing payloads, and `.sig`
//! manifests pushed the way cosign pushes them (payload and config blobs, then the manifest under
//! `sha256-<hex>.sig`). Debian's skopeo and podman are built without sigstore support, so the
//! tests sign with this instead; the verifier is checked against real cosign output elsewhere
//! (`policies/tests/fixtures`).

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use bytes::Bytes;
use http::Method;

use crate::OCI_MANIFEST;
use crate::client::{Reply, send};
use crate::oci::push_blob;

/// Media type of a simple-signing layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A signing key and its public half.
pub struct CosignKey {
    pair: EcdsaKeyPair,
    public_pem: String,
    public_der: Vec<u8>,
}

impl CosignKey {
    /// A fresh P-256 key.
    pub fn generate() -> Self {
        let key = rcgen::KeyPair::generate().expect("generate a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
            .expect("aws-lc-rs reads rcgen's PKCS#8");
        Self {
            pair,
            public_pem: key.public_key_pem(),
            public_der: rcgen::PublicKeyData::subject_public_key_info(&key),
        }
    }

    /// The key's fingerprint as sealgate names it (`sha256:` of the DER SubjectPublicKeyInfo),
    /// for `[[trust.revoked_keys]]`.
    pub fn fingerprint(&self) -> String {
        crate::sha256_digest(&self.public_der)
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

impl CosignKey {
    /// A sigstore bundle v0.3 the way `cosign sign`/`cosign attest --new-bundle-format` make one
    /// with a key and no transparency log: a DSSE envelope over an in-toto statement with
    /// `predicate_type` whose subject is `digest`.
    pub fn dsse_bundle(&self, predicate_type: &str, digest: &str) -> Vec<u8> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let statement = serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "image", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": predicate_type,
            "predicate": {},
        }))
        .expect("JSON");
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            statement.len()
        )
        .into_bytes();
        pae.extend_from_slice(&statement);
        let signature = self.pair.sign(&SystemRandom::new(), &pae).expect("sign");
        serde_json::to_vec(&serde_json::json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": ""}},
            "dsseEnvelope": {
                "payload": b64(&statement),
                "payloadType": payload_type,
                "signatures": [{"sig": b64(signature.as_ref()), "keyid": ""}],
            },
        }))
        .expect("JSON")
    }
}

/// Media type of a sigstore bundle v0.3 (layer and artifact type of cosign v3's referrers).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Pushes `bundle` the way cosign v3 stores it: a referrer of the image (`image_digest`,
/// `image_len` bytes) with the bundle as its one layer, annotated with `predicate_type` (an
/// unsigned hint). Returns the referrer's digest and size, and the reply to its PUT (by digest).
pub async fn push_bundle_referrer(
    base_url: &str,
    name: &str,
    image_digest: &str,
    image_len: usize,
    bundle: &[u8],
    predicate_type: &str,
) -> (String, usize, Reply) {
    let bundle_digest = push_blob(base_url, name, bundle).await;
    let layer =
        serde_json::json!({"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": bundle_digest});
    let annotations = serde_json::json!({"dev.sigstore.bundle.predicateType": predicate_type});
    let image = (image_digest, image_len);
    push_referrer(base_url, name, image, BUNDLE_V03, layer, Some(annotations)).await
}

/// Pushes an OCI 1.1 referrer of `image` (digest, size) by its own digest: an empty config,
/// `layer` (whose blob is already pushed), `artifact_type` and the manifest's `annotations`.
/// Returns the referrer's digest and size, and the reply to its PUT.
async fn push_referrer(
    base_url: &str,
    name: &str,
    (image_digest, image_len): (&str, usize),
    artifact_type: &str,
    layer: serde_json::Value,
    annotations: Option<serde_json::Value>,
) -> (String, usize, Reply) {
    let config_digest = push_blob(base_url, name, b"{}").await;
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": config_digest},
        "layers": [layer],
        "subject": {"mediaType": OCI_MANIFEST, "size": image_len, "digest": image_digest},
    });
    if let Some(annotations) = annotations {
        manifest["annotations"] = annotations;
    }
    let body = Bytes::from(serde_json::to_vec(&manifest).expect("JSON"));
    let digest = crate::sha256_digest(&body);
    let reply = crate::oci::put_manifest(base_url, name, &digest, &body).await;
    (digest, body.len(), reply)
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

/// Artifact type of a cosign signature stored as an OCI 1.1 referrer.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// Pushes `layer` the way cosign's OCI 1.1 mode stores it: a manifest with the signature layer
/// whose `subject` is the image (`image_digest`, `image_len` bytes), pushed by its own digest.
/// Returns the referrer's digest and the reply to the manifest PUT.
pub async fn push_signature_referrer(
    base_url: &str,
    name: &str,
    image_digest: &str,
    image_len: usize,
    layer: &SignatureLayer,
) -> (String, Reply) {
    let payload_digest = push_blob(base_url, name, &layer.payload).await;
    let layer = serde_json::json!({
        "mediaType": SIMPLE_SIGNING, "size": layer.payload.len(), "digest": payload_digest,
        "annotations": {"dev.cosignproject.cosign/signature": layer.signature},
    });
    let image = (image_digest, image_len);
    let (digest, _, reply) =
        push_referrer(base_url, name, image, SIGNATURE_ARTIFACT_TYPE, layer, None).await;
    (digest, reply)
}

/// Pushes a tiny image through `base_url` the way the push gate wants it: by digest, then its
/// `.sig` signed by `key` for `registry.example/<name>`, then the tag (which pins it). Asserts
/// each step was accepted; returns the digest and the manifest bytes.
pub async fn push_signed_tiny_image(
    base_url: &str,
    name: &str,
    tag: &str,
    key: &CosignKey,
) -> (String, Bytes) {
    let (digest, manifest) = crate::oci::tiny_image(base_url, name, &crate::unique_salt()).await;
    let by_digest = crate::oci::put_manifest(base_url, name, &digest, &manifest).await;
    assert_eq!(
        by_digest.status,
        http::StatusCode::CREATED,
        "{}",
        by_digest.text()
    );
    let signed = push_signature(
        base_url,
        name,
        &digest,
        &[key.sign(&format!("registry.example/{name}"), &digest)],
    )
    .await;
    assert_eq!(
        signed.status,
        http::StatusCode::CREATED,
        "{}",
        signed.text()
    );
    let tagged = crate::oci::put_manifest(base_url, name, tag, &manifest).await;
    assert_eq!(
        tagged.status,
        http::StatusCode::CREATED,
        "{}",
        tagged.text()
    );
    (digest, manifest)
}
