//! cosign's signature format: a `sha256-<hex>.sig` manifest (or an OCI 1.1 manifest with
//! `subject`, cosign's referrers mode) whose layers are simple-signing payloads, each signed in
//! the `dev.cosignproject.cosign/signature` annotation, optionally with a certificate, a chain
//! and a Rekor bundle. Spec: <https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md>.
//!
//! Everything here works on bytes the proxy already holds: the manifest and its layer blobs.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::crypto::PublicKey;
use crate::identity::{IdentityConstraints, IdentityMismatch};
use crate::oci::{Digest, DigestAlgorithm, RepoName, Tag};
use crate::pki::{CaBundle, ChainError};
use crate::time::UnixTime;
use crate::x509::{CertError, CertificateInfo};

/// Media type of a simple-signing layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The base64 signature over the layer's payload.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The signing certificate (PEM).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Intermediates and root (PEM) that came with the certificate.
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// The Rekor bundle (SET and entry) as JSON.
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// The `critical.type` of a cosign image signature.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Largest payload accepted: real ones are a few hundred bytes. The proxy refuses a
/// simple-signing layer that declares more before fetching its blob.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Most layers a signature manifest may have. cosign adds one per signature; a manifest with
/// more is refused whole rather than costing a signature check per layer and signer.
pub const MAX_SIGNATURE_LAYERS: usize = 64;

/// Most certificates a chain may hold (the chain annotation, a bundle's `x509CertificateChain`).
/// Real chains have one to three; path building over thousands of junk certificates is costly.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;

/// A signature manifest that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not a JSON image manifest.
    #[error("signature manifest is not an OCI image manifest: {0}")]
    Malformed(String),
    /// No layers.
    #[error("signature manifest has no layers")]
    NoLayers,
    /// More layers than [`MAX_SIGNATURE_LAYERS`].
    #[error("signature manifest has {0} layers, more than the {MAX_SIGNATURE_LAYERS} allowed")]
    TooManyLayers(usize),
}

/// Why one signature (layer) is not a valid signature for the subject by a signer. Each variant
/// is specific, so the proxy can say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureFailure {
    /// The layer is not a simple-signing payload.
    #[error("layer media type is {found:?}, not {SIMPLE_SIGNING_MEDIA_TYPE}")]
    WrongMediaType {
        /// The layer's media type.
        found: String,
    },
    /// The layer's blob is missing.
    #[error("payload blob {digest} was not provided")]
    PayloadMissing {
        /// The layer digest.
        digest: String,
    },
    /// The blob's bytes do not hash to the layer digest.
    #[error("payload blob does not match its layer digest {digest}")]
    PayloadTampered {
        /// The layer digest.
        digest: String,
    },
    /// No signature annotation, or not base64.
    #[error("signature annotation missing or not base64")]
    SignatureEncoding,
    /// The signature does not verify with the signer's key.
    #[error("signature does not verify with the signer's key")]
    SignatureMismatch,
    /// The payload is not simple-signing JSON.
    #[error("payload is not a simple-signing document: {0}")]
    PayloadMalformed(String),
    /// `critical.type` is not a cosign image signature.
    #[error("payload type is {found:?}, not {PAYLOAD_TYPE:?}")]
    PayloadType {
        /// The type found.
        found: String,
    },
    /// The payload signs another image (replay onto a different digest).
    #[error("signature is for {signed}, not for {subject}")]
    DigestMismatch {
        /// Digest in the payload.
        signed: String,
        /// Digest being checked.
        subject: String,
    },
    /// The payload's docker-reference names another repository or tag.
    #[error("signature names {signed:?}, expected repository {expected:?}")]
    ReferenceMismatch {
        /// `critical.identity.docker-reference`.
        signed: String,
        /// What was expected (repository, and tag when pushed by tag).
        expected: String,
    },
    /// A certificate-based signer but no certificate annotation.
    #[error("no signing certificate ({ANNOTATION_CERTIFICATE}) on this signature")]
    NoCertificate,
    /// The certificate or chain annotation does not parse.
    #[error("signing certificate: {0}")]
    Certificate(#[from] CertError),
    /// The chain holds more than [`MAX_CHAIN_CERTIFICATES`] certificates.
    #[error(
        "certificate chain has {0} certificates, more than the {MAX_CHAIN_CERTIFICATES} allowed"
    )]
    ChainTooLong(usize),
    /// The certificate does not chain to the configured root.
    #[error("certificate chain: {0}")]
    Chain(#[from] ChainError),
    /// The certificate's identity is not the one required.
    #[error(transparent)]
    Identity(#[from] IdentityMismatch),
    /// The signer requires transparency-log evidence and there is none.
    #[error("no transparency-log (Rekor) entry; this signer requires one")]
    TlogMissing,
    /// The transparency-log evidence does not verify.
    #[error("transparency log: {0}")]
    Tlog(sigstore_verify::TransparencyLogError),
    /// The log evidence verified but vouches for no signing time (no SET, no RFC 3161
    /// timestamp), which this signer needs.
    #[error("transparency log: the entry proves no signing time (no SET or timestamp)")]
    NoLoggedTime,
    /// The evidence proves a signing time after the time of evaluation.
    #[error("the evidence is dated {at}, after the evaluation time {now}")]
    SignedAfter {
        /// The proven time.
        at: UnixTime,
        /// The evaluation time.
        now: UnixTime,
    },
    /// The Fulcio certificate does not chain to a CA of the trusted root, or was not valid
    /// at the signing time.
    #[error("Fulcio certificate: {0}")]
    Fulcio(String),
    /// No Fulcio CA of the trusted root was valid when the certificate was used.
    #[error("no trusted certificate authority was valid at {at}")]
    CaNotValidAt {
        /// The signing time.
        at: UnixTime,
    },
    /// The signature covers an artifact whose bytes were not provided.
    #[error("the bundle signs the artifact bytes; provide the artifact")]
    ArtifactRequired,
    /// The bundle's verification material does not suit the signer.
    #[error("bundle carries {found}, but the signer needs {expected}")]
    MaterialMismatch {
        /// What the signer needs.
        expected: &'static str,
        /// What the bundle has.
        found: &'static str,
    },
    /// A bundle presents a root certificate; roots come only from trust configuration.
    #[error("the bundle includes a root certificate; roots must come from the trusted root")]
    PresentedRoot,
    /// The DSSE envelope is not a single-signature in-toto statement about the subject.
    #[error("DSSE envelope: {0}")]
    Statement(String),
    /// The bundle itself is malformed.
    #[error("bundle: {0}")]
    Bundle(String),
    /// An RFC 3161 timestamp on the signature does not verify.
    #[error("timestamp: {0}")]
    Timestamp(sigstore_verify::TimestampError),
    /// The Fulcio certificate's embedded SCTs do not verify against the trusted CT logs.
    #[error("certificate transparency: {0}")]
    Sct(String),
}

/// One signature layer, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignSignature {
    /// The layer's media type.
    pub media_type: String,
    /// The exact signed bytes (the layer blob), shared with whoever else holds the blob.
    pub payload: Bytes,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// `dev.sigstore.cosign/certificate`, PEM.
    pub certificate_pem: Option<String>,
    /// `dev.sigstore.cosign/chain`, PEM.
    pub chain_pem: Option<String>,
    /// `dev.sigstore.cosign/bundle`, JSON.
    pub rekor_bundle: Option<String>,
}

impl CosignSignature {
    /// Builds a signature from a layer's media type, blob and annotations. The blob is shared,
    /// not copied.
    pub fn from_layer(
        media_type: &str,
        payload: impl Into<Bytes>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Self, SignatureFailure> {
        if media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            return Err(SignatureFailure::WrongMediaType {
                found: media_type.to_owned(),
            });
        }
        let signature = signature_annotation(annotations)?;
        Ok(Self {
            media_type: media_type.to_owned(),
            payload: payload.into(),
            signature,
            certificate_pem: annotations.get(ANNOTATION_CERTIFICATE).cloned(),
            chain_pem: annotations.get(ANNOTATION_CHAIN).cloned(),
            rekor_bundle: annotations.get(ANNOTATION_BUNDLE).cloned(),
        })
    }
}

/// The signature a layer's `dev.cosignproject.cosign/signature` annotation carries, decoded.
/// Checked before the layer's payload is fetched or hashed: a layer without one cannot verify.
pub fn signature_annotation(
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, SignatureFailure> {
    let encoded = annotations
        .get(ANNOTATION_SIGNATURE)
        .ok_or(SignatureFailure::SignatureEncoding)?;
    // BYO-PKI signatures arrive line-wrapped.
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SignatureFailure::SignatureEncoding)
}

impl CosignSignature {
    /// The signing certificate annotation, parsed.
    pub fn certificate(&self) -> Result<CertificateInfo, SignatureFailure> {
        let pem = self
            .certificate_pem
            .as_deref()
            .ok_or(SignatureFailure::NoCertificate)?;
        Ok(CertificateInfo::from_pem(pem.as_bytes())?)
    }

    /// The chain annotation, parsed (empty when absent).
    pub fn chain(&self) -> Result<Vec<CertificateInfo>, SignatureFailure> {
        match &self.chain_pem {
            Some(pem) => {
                // Counted before anything is parsed.
                let count = pem.matches("-----BEGIN").count();
                if count > MAX_CHAIN_CERTIFICATES {
                    return Err(SignatureFailure::ChainTooLong(count));
                }
                Ok(CertificateInfo::all_from_pem(pem.as_bytes())?)
            }
            None => Ok(Vec::new()),
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
struct RawLayer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads every layer of a signature manifest. `blob` returns a layer blob by digest (the proxy
/// fetched them), shared rather than copied: many layers may list the same blob, and each result
/// holds a reference to it, not a copy. Each blob is checked against its digest, and one larger
/// than [`MAX_PAYLOAD_BYTES`] is refused before it is hashed. One bad layer does not hide the
/// others: each comes back with its own result.
pub fn parse_signature_manifest(
    manifest: &[u8],
    blob: &dyn Fn(&Digest) -> Option<Bytes>,
) -> Result<Vec<Result<CosignSignature, SignatureFailure>>, ManifestError> {
    let raw: RawManifest =
        serde_json::from_slice(manifest).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    if raw.layers.is_empty() {
        return Err(ManifestError::NoLayers);
    }
    if raw.layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(ManifestError::TooManyLayers(raw.layers.len()));
    }
    Ok(raw
        .layers
        .iter()
        .map(|layer| {
            if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
                return Err(SignatureFailure::WrongMediaType {
                    found: layer.media_type.clone(),
                });
            }
            // Before the blob: a layer that carries no signature cannot verify.
            signature_annotation(&layer.annotations)?;
            let digest: Digest =
                layer
                    .digest
                    .parse()
                    .map_err(|_| SignatureFailure::PayloadMissing {
                        digest: layer.digest.clone(),
                    })?;
            let bytes = blob(&digest).ok_or_else(|| SignatureFailure::PayloadMissing {
                digest: layer.digest.clone(),
            })?;
            if bytes.len() > MAX_PAYLOAD_BYTES {
                return Err(SignatureFailure::PayloadMalformed(format!(
                    "{} bytes, more than the {MAX_PAYLOAD_BYTES} a payload may have",
                    bytes.len()
                )));
            }
            if digest.algorithm() != DigestAlgorithm::Sha256
                || hex::encode(Sha256::digest(&bytes)) != digest.hex()
            {
                return Err(SignatureFailure::PayloadTampered {
                    digest: layer.digest.clone(),
                });
            }
            CosignSignature::from_layer(&layer.media_type, bytes, &layer.annotations)
        })
        .collect())
}

/// What a signature is checked against: the image digest, its repository, and the tag when it
/// is being pushed or pulled by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Repository in sealgate's namespace.
    pub repository: RepoName,
    /// The image manifest digest.
    pub digest: Digest,
    /// The tag, when the operation names one.
    pub tag: Option<Tag>,
}

/// How a payload's `docker-reference` is compared with the subject's repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceRule {
    /// Like containers-image's `remapIdentity`: a subject repository starting with `prefix` is
    /// expected to have been signed as `signed_prefix` + the rest (mirrored content).
    pub remap: Option<(String, String)>,
}

impl ReferenceRule {
    fn expected_path(&self, repository: &str) -> String {
        match &self.remap {
            Some((prefix, signed)) if repository.starts_with(prefix.as_str()) => {
                format!("{signed}{}", &repository[prefix.len()..])
            }
            _ => repository.to_owned(),
        }
    }

    /// Checks a signed `docker-reference` against the subject. The registry host is not
    /// compared (clients reach the same registry under many names); the repository path is, and
    /// a signed tag must equal the tag being pushed or pulled.
    pub fn check(&self, signed: &str, subject: &Subject) -> Result<(), SignatureFailure> {
        let expected = self.expected_path(subject.repository.as_str());
        let (path, tag) = split_reference(signed);
        let tag_ok = match (tag, &subject.tag) {
            (Some(signed_tag), Some(tag)) => signed_tag == tag.as_str(),
            _ => true,
        };
        if path == expected && tag_ok {
            return Ok(());
        }
        Err(SignatureFailure::ReferenceMismatch {
            signed: signed.to_owned(),
            expected: match &subject.tag {
                Some(tag) => format!("{expected}:{tag}"),
                None => expected,
            },
        })
    }
}

/// Splits `host[:port]/path[:tag][@digest]` into the repository path (docker.io-normalised) and
/// the tag.
fn split_reference(reference: &str) -> (String, Option<&str>) {
    let without_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    let (name, tag) = match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (without_digest, None),
    };
    let (host, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    let docker_hub = matches!(
        host,
        None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io")
    );
    let path = if docker_hub && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    (path, tag)
}

/// The simple-signing document cosign signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub manifest_digest: String,
}

#[derive(Deserialize)]
struct RawPayload {
    critical: RawCritical,
}

#[derive(Deserialize)]
struct RawCritical {
    identity: RawIdentity,
    image: RawImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawIdentity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parses a payload and checks it signs `subject`.
pub fn check_payload(
    payload: &[u8],
    subject: &Subject,
    rule: &ReferenceRule,
) -> Result<SimpleSigning, SignatureFailure> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(SignatureFailure::PayloadMalformed(format!(
            "{} bytes",
            payload.len()
        )));
    }
    let raw: RawPayload = serde_json::from_slice(payload)
        .map_err(|e| SignatureFailure::PayloadMalformed(e.to_string()))?;
    if raw.critical.kind != PAYLOAD_TYPE {
        return Err(SignatureFailure::PayloadType {
            found: raw.critical.kind,
        });
    }
    let signed = raw.critical.image.docker_manifest_digest;
    if signed != subject.digest.as_str() {
        return Err(SignatureFailure::DigestMismatch {
            signed,
            subject: subject.digest.to_string(),
        });
    }
    rule.check(&raw.critical.identity.docker_reference, subject)?;
    Ok(SimpleSigning {
        docker_reference: raw.critical.identity.docker_reference,
        manifest_digest: signed,
    })
}

/// Verifies a signature made with a configured public key. The signature is checked before the
/// payload is even parsed: nothing unauthenticated is interpreted.
pub fn verify_with_key(
    sig: &CosignSignature,
    key: &PublicKey,
    subject: &Subject,
    rule: &ReferenceRule,
) -> Result<SimpleSigning, SignatureFailure> {
    key.verify(&sig.payload, &sig.signature)
        .map_err(|_| SignatureFailure::SignatureMismatch)?;
    check_payload(&sig.payload, subject, rule)
}

/// A certificate-based signature that verified: the payload and the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedSignature {
    /// The payload.
    pub payload: SimpleSigning,
    /// The signing certificate.
    pub certificate: CertificateInfo,
}

/// Verifies a signature whose certificate must chain to `bundle` at `at` and match `identity`.
pub fn verify_with_pki(
    sig: &CosignSignature,
    bundle: &CaBundle,
    identity: &IdentityConstraints,
    at: UnixTime,
    subject: &Subject,
    rule: &ReferenceRule,
) -> Result<CertifiedSignature, SignatureFailure> {
    let leaf = sig.certificate()?;
    let chain = sig.chain()?;
    bundle.verify(&leaf, &chain, at)?;
    identity.check(&leaf)?;
    leaf.public_key
        .verify(&sig.payload, &sig.signature)
        .map_err(|_| SignatureFailure::SignatureMismatch)?;
    let payload = check_payload(&sig.payload, subject, rule)?;
    Ok(CertifiedSignature {
        payload,
        certificate: leaf,
    })
}

#[cfg(test)]
mod tests;
