//! Sigstore bundles (`*.sigstore.json`, v0.1–v0.3): the signature, the verification material and
//! the log and timestamp evidence in one protobuf-JSON document, read by the sigstore project's
//! own parser (`sigstore-types`), which refuses duplicate fields, unknown enum values and DSSE
//! envelopes with other than one signature. The per-version shape rules (v0.1 promises, v0.2+
//! proofs, v0.3's single certificate) are applied when it is verified, by `sigstore-verify`,
//! against what the signer requires.

use sigstore_verify::types::{Bundle, SignatureContent};

/// At most this many transparency-log entries or RFC 3161 timestamps in one bundle: clients
/// write one of each; every extra one is signature checks an uploader chooses.
pub const MAX_BUNDLE_EVIDENCE: usize = 8;

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sigstore bundle: {0}")]
pub struct BundleError(String);

/// A parsed sigstore bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct SigstoreBundle {
    bundle: Bundle,
}

impl SigstoreBundle {
    /// Parses a bundle; refuses more than [`MAX_BUNDLE_EVIDENCE`] log entries or timestamps.
    pub fn from_json(json: &[u8]) -> Result<Self, BundleError> {
        let text =
            std::str::from_utf8(json).map_err(|_| BundleError("not UTF-8 JSON".to_owned()))?;
        let bundle = Bundle::from_json(text).map_err(|e| BundleError(e.to_string()))?;
        let material = &bundle.verification_material;
        let entries = material.tlog_entries.len();
        let stamps = material
            .timestamp_verification_data
            .rfc3161_timestamps
            .len();
        if entries.max(stamps) > MAX_BUNDLE_EVIDENCE {
            return Err(BundleError(format!(
                "{entries} log entries and {stamps} timestamps; at most \
                 {MAX_BUNDLE_EVIDENCE} of each are read"
            )));
        }
        Ok(Self { bundle })
    }

    /// The bundle as the sigstore crates read it.
    pub fn inner(&self) -> &Bundle {
        &self.bundle
    }

    /// The payload type and payload of a DSSE envelope; `None` for a message signature.
    pub fn dsse_payload(&self) -> Option<(&str, &[u8])> {
        match &self.bundle.content {
            SignatureContent::DsseEnvelope(e) => Some((&e.payload_type, e.payload.as_bytes())),
            _ => None,
        }
    }
}
