//! Sigstore bundles (`*.sigstore.json`): the signature, the verification material and the log and
//! timestamp evidence in one protobuf-JSON document
//! (<https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto>).
//!
//! This module parses and applies the per-version shape rules; it verifies nothing. Verification
//! composes [`crate::tlog::verify_entry`], the certificate checks and the signature check.
//!
//! Version rules enforced here:
//!
//! - v0.1: every tlog entry carries an inclusion promise (SET); the material is a
//!   `x509CertificateChain` or a `publicKey`.
//! - v0.2: every tlog entry carries an inclusion proof with a checkpoint.
//! - v0.3: as v0.2, and a single `certificate` replaces `x509CertificateChain`.
//!
//! RFC 3161 timestamps are kept as DER (`rfc3161_timestamps`); [`crate::timestamp`] verifies them.

use serde::Deserialize;

use crate::tlog::{HashAlgorithm, RawTlogEntry, TlogEntry, TlogError};
use crate::trusted_root::protojson;

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not JSON, or a field has the wrong JSON type.
    #[error("bundle is not JSON of the expected shape: {0}")]
    Json(String),
    /// `mediaType` is missing or names a bundle version sealgate does not read.
    #[error("unsupported bundle media type {0:?}")]
    UnsupportedMediaType(String),
    /// A required field is absent or empty.
    #[error("bundle: {field} is missing")]
    Missing {
        /// Which field.
        field: &'static str,
    },
    /// A `bytes` field is not base64.
    #[error("bundle: {field} is not base64")]
    Base64 {
        /// Which field.
        field: &'static str,
    },
    /// Two alternatives of a oneof are both present.
    #[error("bundle: {what} holds more than one of its alternatives")]
    Ambiguous {
        /// Which oneof: `verificationMaterial` or the content.
        what: &'static str,
    },
    /// The verification material is not allowed in this bundle version.
    #[error("bundle: {material} is not allowed in a {version} bundle")]
    MaterialNotAllowed {
        /// The material found.
        material: &'static str,
        /// The bundle version.
        version: BundleVersion,
    },
    /// The message digest names an algorithm sealgate does not know, or has the wrong length.
    #[error("bundle: bad message digest: {0}")]
    MessageDigest(String),
    /// A v0.1 bundle's tlog entry has no inclusion promise.
    #[error("bundle v0.1: tlog entry {entry} has no inclusion promise (SET)")]
    MissingInclusionPromise {
        /// Index in `tlogEntries`.
        entry: usize,
    },
    /// A v0.2+ bundle's tlog entry has no inclusion proof.
    #[error("bundle {version}: tlog entry {entry} has no inclusion proof")]
    MissingInclusionProof {
        /// Index in `tlogEntries`.
        entry: usize,
        /// The bundle version.
        version: BundleVersion,
    },
    /// A v0.2+ bundle's inclusion proof has no checkpoint.
    #[error("bundle {version}: tlog entry {entry}'s inclusion proof has no checkpoint")]
    MissingCheckpoint {
        /// Index in `tlogEntries`.
        entry: usize,
        /// The bundle version.
        version: BundleVersion,
    },
    /// A tlog entry does not parse.
    #[error("bundle: tlog entry {entry}: {source}")]
    TlogEntry {
        /// Index in `tlogEntries`.
        entry: usize,
        /// Why.
        #[source]
        source: TlogError,
    },
}

/// The bundle format version, from the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BundleVersion {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`.
    V0_1,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.2`.
    V0_2,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.3` or
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`.
    V0_3,
}

impl BundleVersion {
    fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(Self::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(Self::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Self::V0_3),
            _ => None,
        }
    }
}

impl std::fmt::Display for BundleVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "v0.1",
            Self::V0_2 => "v0.2",
            Self::V0_3 => "v0.3",
        })
    }
}

/// What the signature verifies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMaterial {
    /// The signing certificate, DER (v0.3).
    Certificate(Vec<u8>),
    /// The signing certificate first, then possibly intermediates, DER (v0.1, v0.2).
    X509Chain(Vec<Vec<u8>>),
    /// A key the verifier already knows; the bundle only names it.
    PublicKey {
        /// An opaque hint for the verifier (may be empty).
        hint: String,
    },
}

/// A DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    /// The signature over the envelope's PAE.
    pub sig: Vec<u8>,
    /// The optional key ID (empty when absent).
    pub keyid: String,
}

/// A DSSE envelope (<https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseEnvelope {
    /// The payload bytes (decoded).
    pub payload: Vec<u8>,
    /// The payload type, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// At least one signature.
    pub signatures: Vec<DsseSignature>,
}

impl DsseEnvelope {
    /// The bytes the signatures are over: [`pae`] of the type and payload.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// DSSE v1 Pre-Authentication Encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    /// A signature over an artifact's digest.
    MessageSignature {
        /// The digest algorithm.
        digest_algorithm: HashAlgorithm,
        /// The artifact digest the bundle claims (for identification; the signature is over the
        /// artifact).
        digest: Vec<u8>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope (attestations, cosign v3 image signatures).
    Dsse(DsseEnvelope),
}

/// A parsed sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreBundle {
    /// The format version.
    pub version: BundleVersion,
    /// What verifies the signature.
    pub verification_material: VerificationMaterial,
    /// Transparency-log entries, with their evidence.
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 signed timestamps, DER `TimeStampResponse`/token bytes as found (not parsed).
    pub rfc3161_timestamps: Vec<Vec<u8>>,
    /// What was signed.
    pub content: BundleContent,
}

// --- raw shapes ---------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: Option<String>,
    verification_material: Option<RawMaterial>,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawDsse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    certificate: Option<RawRawBytes>,
    x509_certificate_chain: Option<RawChain>,
    public_key: Option<RawKeyHint>,
    #[serde(default)]
    tlog_entries: Vec<RawTlogEntry>,
    timestamp_verification_data: Option<RawTimestampData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRawBytes {
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawRawBytes>,
}

#[derive(Deserialize)]
struct RawKeyHint {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawSignedTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSignedTimestamp {
    signed_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: Option<String>,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDsse {
    payload: Option<String>,
    payload_type: Option<String>,
    #[serde(default)]
    signatures: Vec<RawDsseSignature>,
}

#[derive(Deserialize)]
struct RawDsseSignature {
    sig: Option<String>,
    keyid: Option<String>,
}

/// A required, non-empty base64 field.
fn bytes(value: Option<&str>, field: &'static str) -> Result<Vec<u8>, BundleError> {
    let value = value.ok_or(BundleError::Missing { field })?;
    let bytes = protojson::bytes(value).ok_or(BundleError::Base64 { field })?;
    if bytes.is_empty() {
        return Err(BundleError::Missing { field });
    }
    Ok(bytes)
}

impl SigstoreBundle {
    /// Parses a bundle and applies its version's shape rules.
    pub fn from_json(json: &[u8]) -> Result<Self, BundleError> {
        let raw: RawBundle =
            serde_json::from_slice(json).map_err(|e| BundleError::Json(e.to_string()))?;
        let media_type = raw.media_type.unwrap_or_default();
        let version = BundleVersion::from_media_type(&media_type)
            .ok_or(BundleError::UnsupportedMediaType(media_type))?;
        let material = raw.verification_material.ok_or(BundleError::Missing {
            field: "verificationMaterial",
        })?;

        let verification_material = match (
            material.certificate,
            material.x509_certificate_chain,
            material.public_key,
        ) {
            (Some(cert), None, None) => {
                if version < BundleVersion::V0_3 {
                    return Err(BundleError::MaterialNotAllowed {
                        material: "certificate",
                        version,
                    });
                }
                VerificationMaterial::Certificate(bytes(
                    cert.raw_bytes.as_deref(),
                    "verificationMaterial.certificate.rawBytes",
                )?)
            }
            (None, Some(chain), None) => {
                if version >= BundleVersion::V0_3 {
                    return Err(BundleError::MaterialNotAllowed {
                        material: "x509CertificateChain",
                        version,
                    });
                }
                if chain.certificates.is_empty() {
                    return Err(BundleError::Missing {
                        field: "verificationMaterial.x509CertificateChain.certificates",
                    });
                }
                VerificationMaterial::X509Chain(
                    chain
                        .certificates
                        .iter()
                        .map(|c| {
                            bytes(
                                c.raw_bytes.as_deref(),
                                "verificationMaterial.x509CertificateChain.certificates[].rawBytes",
                            )
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            (None, None, Some(key)) => VerificationMaterial::PublicKey {
                hint: key.hint.unwrap_or_default(),
            },
            (None, None, None) => {
                return Err(BundleError::Missing {
                    field: "verificationMaterial.certificate|x509CertificateChain|publicKey",
                });
            }
            _ => {
                return Err(BundleError::Ambiguous {
                    what: "verificationMaterial",
                });
            }
        };

        let mut tlog_entries = Vec::with_capacity(material.tlog_entries.len());
        for (entry, raw) in material.tlog_entries.into_iter().enumerate() {
            if version == BundleVersion::V0_1 && !raw.has_inclusion_promise() {
                return Err(BundleError::MissingInclusionPromise { entry });
            }
            let parsed = TlogEntry::from_raw(raw)
                .map_err(|source| BundleError::TlogEntry { entry, source })?;
            if version >= BundleVersion::V0_2 {
                match &parsed.inclusion_proof {
                    None => return Err(BundleError::MissingInclusionProof { entry, version }),
                    Some(p) if p.checkpoint.is_none() => {
                        return Err(BundleError::MissingCheckpoint { entry, version });
                    }
                    Some(_) => {}
                }
            }
            tlog_entries.push(parsed);
        }

        let rfc3161_timestamps = material
            .timestamp_verification_data
            .map(|t| t.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| {
                bytes(
                    t.signed_timestamp.as_deref(),
                    "timestampVerificationData.rfc3161Timestamps[].signedTimestamp",
                )
            })
            .collect::<Result<_, _>>()?;

        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(ms), None) => message_signature(ms)?,
            (None, Some(env)) => BundleContent::Dsse(dsse(env)?),
            (None, None) => {
                return Err(BundleError::Missing {
                    field: "messageSignature|dsseEnvelope",
                });
            }
            (Some(_), Some(_)) => return Err(BundleError::Ambiguous { what: "content" }),
        };

        Ok(Self {
            version,
            verification_material,
            tlog_entries,
            rfc3161_timestamps,
            content,
        })
    }
}

fn message_signature(raw: RawMessageSignature) -> Result<BundleContent, BundleError> {
    let digest = raw.message_digest.ok_or(BundleError::Missing {
        field: "messageSignature.messageDigest",
    })?;
    let name = digest.algorithm.ok_or(BundleError::Missing {
        field: "messageSignature.messageDigest.algorithm",
    })?;
    let digest_algorithm = HashAlgorithm::from_name(&name)
        .ok_or_else(|| BundleError::MessageDigest(format!("unsupported algorithm {name:?}")))?;
    let value = bytes(
        digest.digest.as_deref(),
        "messageSignature.messageDigest.digest",
    )?;
    if value.len() != digest_algorithm.digest_len() {
        return Err(BundleError::MessageDigest(format!(
            "{} bytes for {name}",
            value.len()
        )));
    }
    Ok(BundleContent::MessageSignature {
        digest_algorithm,
        digest: value,
        signature: bytes(raw.signature.as_deref(), "messageSignature.signature")?,
    })
}

fn dsse(raw: RawDsse) -> Result<DsseEnvelope, BundleError> {
    let payload_type = raw
        .payload_type
        .filter(|t| !t.is_empty())
        .ok_or(BundleError::Missing {
            field: "dsseEnvelope.payloadType",
        })?;
    // An empty payload is legal DSSE, so `bytes()` (which refuses empty) is not used here.
    let payload = raw
        .payload
        .as_deref()
        .ok_or(BundleError::Missing {
            field: "dsseEnvelope.payload",
        })
        .and_then(|p| {
            protojson::bytes(p).ok_or(BundleError::Base64 {
                field: "dsseEnvelope.payload",
            })
        })?;
    if raw.signatures.is_empty() {
        return Err(BundleError::Missing {
            field: "dsseEnvelope.signatures",
        });
    }
    let signatures = raw
        .signatures
        .into_iter()
        .map(|s| {
            Ok(DsseSignature {
                sig: bytes(s.sig.as_deref(), "dsseEnvelope.signatures[].sig")?,
                keyid: s.keyid.unwrap_or_default(),
            })
        })
        .collect::<Result<_, BundleError>>()?;
    Ok(DsseEnvelope {
        payload,
        payload_type,
        signatures,
    })
}

#[cfg(test)]
mod tests;
