//! The parts of a manifest or index the gates read, and what kind of thing it is.
//!
//! Only the fields the gates need are parsed; everything else passes through untouched, since
//! the bytes (not a re-serialisation) are what the digest covers. Every manifest is first checked
//! by [`agreement::check`]: what sealgate judges must be what a Go client (containerd, skopeo,
//! the registry) reads from the same bytes.
//!
//! [`ManifestShape`] is the adapter for what oci-spec's `ImageManifest` and `ImageIndex` cannot
//! read: one shape for both kinds, Docker schema 1 and 2, and descriptors without a `size` or a
//! valid digest, which Go clients and the registry accept and sealgate judges rather than refuses
//! as unparsable. A bad digest is reported where a gate reads it, naming the descriptor.
//! Documents sealgate builds itself (the referrers index) use oci-spec's types.

pub mod agreement;

use std::collections::BTreeMap;

use oci_spec::image::MediaType;
use sealgate_policies::cosign::SIMPLE_SIGNING_MEDIA_TYPE;
use sealgate_policies::oci::{Digest, DigestAlgorithm};
use sealgate_storage::Referrer;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::ProxyError;

/// Media types of a sigstore bundle layer (cosign v3 stores bundles as OCI referrers).
pub const BUNDLE_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// Media type of an in-toto attestation layer (cosign `.att`): verification material too.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The OCI image manifest media type, assumed when a manifest names none.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Docker schema 1, signed (the registry serves schema 1 manifests with their JWS).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Docker schema 1, unsigned.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// The sha256 digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::from_hash(DigestAlgorithm::Sha256, &Sha256::digest(bytes))
        .unwrap_or_else(|_| unreachable!("a sha256 hash is 32 bytes"))
}

/// The same digest as oci-spec's type, for the OCI documents sealgate builds.
pub fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .as_str()
        .parse()
        .unwrap_or_else(|_| unreachable!("a validated sha256 or sha512 digest is an OCI digest"))
}

/// The parts of a manifest the gates read.
#[derive(Debug, Deserialize)]
pub struct ManifestShape {
    /// `schemaVersion` (2 for OCI and Docker schema 2, 1 for Docker schema 1).
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: Option<u64>,
    /// `mediaType`, when the manifest states it.
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<MediaType>,
    /// `artifactType` (OCI 1.1).
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<MediaType>,
    /// The config descriptor of an image manifest.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Layers of an image manifest.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Children of an index.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// Annotations of the manifest itself.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// A Docker schema 1 manifest's JWS signatures, when present (only their presence matters).
    #[serde(default)]
    pub signatures: Option<serde::de::IgnoredAny>,
}

/// An OCI descriptor, as far as the gates read it.
#[derive(Debug, Deserialize)]
pub struct Descriptor {
    /// `mediaType`.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `digest`, unparsed (parsed where it is used, so a bad one is reported there).
    pub digest: String,
    /// `size`.
    #[serde(default)]
    pub size: u64,
    /// `artifactType` (OCI 1.1).
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<String>,
    /// `annotations`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// What makes a signature layer itself: several signers sign the same payload (same blob
    /// digest), so a cosign layer is its blob plus its signature and certificate annotations.
    pub fn layer_identity(&self) -> Option<Digest> {
        let digest: Digest = self.digest.parse().ok()?;
        let mut material = digest.to_string();
        for key in [
            sealgate_policies::cosign::ANNOTATION_SIGNATURE,
            sealgate_policies::cosign::ANNOTATION_CERTIFICATE,
        ] {
            material.push('\n');
            material.push_str(self.annotations.get(key).map_or("", String::as_str));
        }
        Some(sha256_digest(material.as_bytes()))
    }

    /// The digest, parsed; `what` names the descriptor in the error.
    pub fn parsed_digest(&self, what: &str) -> Result<Digest, ProxyError> {
        self.digest
            .parse()
            .map_err(|e| ProxyError::ManifestInvalid(format!("{what} digest: {e}")))
    }
}

impl ManifestShape {
    /// Parses manifest bytes; anything that is not a JSON object with these fields, or that Go's
    /// `encoding/json` could read differently ([`agreement::check`]), is `MANIFEST_INVALID`.
    pub fn parse(body: &[u8]) -> Result<Self, ProxyError> {
        agreement::check(body).map_err(|e| {
            ProxyError::ManifestInvalid(format!(
                "not a manifest that sealgate and Go clients (containerd, skopeo, the registry) \
                 read alike: {e}"
            ))
        })?;
        serde_json::from_slice(body)
            .map_err(|e| ProxyError::ManifestInvalid(format!("not a manifest or index: {e}")))
    }

    /// A signature artifact: every layer is signature material (a cosign simple-signing
    /// payload, a sigstore bundle or a DSSE attestation). It cannot be run, and clients need it
    /// to verify for themselves.
    pub fn is_signature(&self) -> bool {
        self.manifests.is_none()
            && !self.layers.is_empty()
            && self.layers.iter().all(|l| {
                l.media_type == SIMPLE_SIGNING_MEDIA_TYPE
                    || l.media_type == DSSE_MEDIA_TYPE
                    || BUNDLE_MEDIA_TYPES.contains(&l.media_type.as_str())
            })
    }

    /// Whether this can carry signatures sealgate verifies (cosign layers or bundles).
    pub fn has_verifiable_signatures(&self) -> bool {
        self.is_signature()
            && self.layers.iter().any(|l| {
                l.media_type == SIMPLE_SIGNING_MEDIA_TYPE
                    || BUNDLE_MEDIA_TYPES.contains(&l.media_type.as_str())
            })
    }

    /// The blobs an image manifest lists: its config and layers (none for an index).
    pub fn blobs(&self) -> Vec<Digest> {
        self.config
            .iter()
            .chain(&self.layers)
            .filter_map(|d| d.digest.parse().ok())
            .collect()
    }

    /// The children of an index (empty for a manifest).
    pub fn children(&self) -> Vec<Digest> {
        self.manifests
            .iter()
            .flatten()
            .filter_map(|d| d.digest.parse().ok())
            .collect()
    }

    /// The media type to serve the manifest with: its own `mediaType`, else what its shape
    /// says (OCI index, Docker schema 1, OCI manifest). Never the upstream's `Content-Type`,
    /// which could contradict the bytes and make a client read them as another kind.
    pub fn content_type(&self) -> &str {
        match &self.media_type {
            Some(m) if !m.as_ref().is_empty() => m.as_ref(),
            _ if self.manifests.is_some() => OCI_INDEX,
            _ if self.schema_version == Some(1) && self.signatures.is_some() => {
                DOCKER_SCHEMA1_SIGNED
            }
            _ if self.schema_version == Some(1) => DOCKER_SCHEMA1,
            _ => OCI_MANIFEST,
        }
    }

    /// The referrers-API descriptor of this manifest (`digest`, `size` of its bytes), as the
    /// spec builds it: `artifactType`, else the config's media type; the manifest's annotations.
    pub fn referrer(&self, digest: Digest, size: u64) -> Referrer {
        Referrer {
            media_type: self.content_type().to_owned(),
            digest,
            size,
            artifact_type: self
                .artifact_type
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| self.config.as_ref().map(|c| c.media_type.clone())),
            annotations: self.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_manifests_are_recognised_by_their_layers() {
        let sig = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:00"}]}"#,
        )
        .unwrap();
        assert!(sig.is_signature());
        assert!(sig.has_verifiable_signatures());
        let attestation = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"sha256:00"}]}"#,
        )
        .unwrap();
        assert!(attestation.is_signature());
        assert!(!attestation.has_verifiable_signatures());
        let image = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00"}]}"#,
        )
        .unwrap();
        assert!(!image.is_signature());
        // One runnable layer among signature layers makes it an image.
        let mixed = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:00"},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:01"}]}"#,
        )
        .unwrap();
        assert!(!mixed.is_signature());
        let empty = ManifestShape::parse(br#"{"schemaVersion":2,"layers":[]}"#).unwrap();
        assert!(!empty.is_signature());
        assert!(matches!(
            ManifestShape::parse(b"nope"),
            Err(ProxyError::ManifestInvalid(_))
        ));
    }

    #[test]
    fn r11_manifests_go_reads_differently_are_invalid() {
        let sig = r#"{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:00"}"#;
        let tar =
            r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00"}"#;
        for doc in [
            format!(r#"{{"schemaVersion":2,"layers":[{sig}],"Layers":[{tar}]}}"#),
            format!(r#"{{"schemaVersion":2,"layers":[{sig}],"layers":[{tar}]}}"#),
            format!(r#"{{"schemaVersion":2,"layers":[{sig}],"layer\u017f":[{tar}]}}"#),
            format!(r#"{{"schemaVersion":2,"manifests":[],"layers":[{tar}]}}"#),
        ] {
            // serde alone reads the first three as a signature.
            match ManifestShape::parse(doc.as_bytes()) {
                Err(ProxyError::ManifestInvalid(why)) => {
                    assert!(why.contains("Go clients"), "{why}");
                }
                other => panic!("{doc}: {other:?}"),
            }
        }
    }

    #[test]
    fn blobs_children_and_content_type() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let image = ManifestShape::parse(
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{a}","size":2}},
                "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{b}","size":3}},{{"mediaType":"x","digest":"bad"}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            image
                .blobs()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>(),
            [a.clone(), b.clone()]
        );
        assert!(image.children().is_empty());
        assert_eq!(image.content_type(), OCI_MANIFEST);
        let index = ManifestShape::parse(
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{a}","size":9}}]}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(index.children().len(), 1);
        assert!(index.blobs().is_empty());
        assert_eq!(index.content_type(), OCI_INDEX);
        let docker = ManifestShape::parse(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[]}"#,
        )
        .unwrap();
        assert_eq!(
            docker.content_type(),
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        // Docker schema 1 states no mediaType: signed or not by its `signatures`.
        let schema1 = ManifestShape::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap();
        assert_eq!(schema1.content_type(), DOCKER_SCHEMA1);
        let signed =
            ManifestShape::parse(br#"{"schemaVersion":1,"fsLayers":[],"signatures":[{}]}"#)
                .unwrap();
        assert_eq!(signed.content_type(), DOCKER_SCHEMA1_SIGNED);
    }

    #[test]
    fn oci_spec_refuses_manifests_the_shape_reads() {
        use oci_spec::image::{ImageIndex, ImageManifest};
        let a = format!("sha256:{}", "a".repeat(64));
        // No config, a descriptor without a size, a bad layer digest, Docker schema 1: Go
        // clients and the registry take them, so sealgate judges them instead of refusing.
        for doc in [
            format!(
                r#"{{"schemaVersion":2,"layers":[{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{a}","size":1}}]}}"#
            ),
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{a}"}},"layers":[]}}"#
            ),
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{a}","size":2}},"layers":[{{"mediaType":"x","digest":"bad","size":1}}]}}"#
            ),
            r#"{"schemaVersion":1,"fsLayers":[]}"#.to_owned(),
        ] {
            assert!(ManifestShape::parse(doc.as_bytes()).is_ok(), "{doc}");
            assert!(
                serde_json::from_str::<ImageManifest>(&doc).is_err(),
                "{doc}"
            );
            assert!(serde_json::from_str::<ImageIndex>(&doc).is_err(), "{doc}");
        }
    }

    #[test]
    fn media_types_and_digests_agree_with_oci_spec() {
        assert_eq!(MediaType::ImageManifest.as_ref(), OCI_MANIFEST);
        assert_eq!(MediaType::ImageIndex.as_ref(), OCI_INDEX);
        for digest in [
            sha256_digest(b"x"),
            format!("sha512:{}", "c".repeat(128)).parse().unwrap(),
        ] {
            assert_eq!(oci_digest(&digest).to_string(), digest.as_str());
        }
    }

    #[test]
    fn referrer_descriptor_prefers_artifact_type_then_config() {
        let a = format!("sha256:{}", "a".repeat(64));
        let with_config = ManifestShape::parse(
            format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.example.sbom","digest":"{a}","size":2}},"layers":[],"annotations":{{"k":"v"}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        let digest: Digest = a.parse().unwrap();
        let r = with_config.referrer(digest.clone(), 42);
        assert_eq!(
            r.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(r.size, 42);
        assert_eq!(r.annotations.get("k").map(String::as_str), Some("v"));
        let with_type = ManifestShape::parse(
            format!(r#"{{"schemaVersion":2,"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{a}","size":2}},"layers":[]}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            with_type.referrer(digest, 1).artifact_type.as_deref(),
            Some("application/vnd.dev.cosign.artifact.sig.v1+json")
        );
    }
}
