//! Record encoding: versioned JSON, and the audit chain's hash. The formats are described in
//! [`crate::layout`]; this module is the only code that produces or reads them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use sealgate_policies::oci::Digest;

use crate::layout::trees::Tree;
use crate::{
    AuditEvent, AuditRecord, CertFacts, ManifestKind, SignatureFormat, SignatureRecord,
    StorageError, UnixSecs,
};

/// The version this binary writes for every record type, and the newest it reads.
pub(crate) const RECORD_VERSION: u32 = 1;

/// `hash(0)`: what the first audit record chains from.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// A record body with its version in front: `{"v":1, …body's fields}`.
#[derive(Serialize)]
struct Versioned<'a, T> {
    v: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// The version of a record, read before anything else.
#[derive(Deserialize)]
struct Probe {
    v: Option<u64>,
}

fn corrupt(tree: Tree, what: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        tree: tree.name(),
        what: what.into(),
    }
}

/// Encodes `body` as a current-version record of `tree`.
pub(crate) fn encode<T: Serialize>(tree: Tree, body: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(&Versioned {
        v: RECORD_VERSION,
        body,
    })
    .map_err(|source| StorageError::Encode {
        tree: tree.name(),
        source,
    })
}

/// Decodes a record of `tree`, checking its version first.
///
/// Every type has only version 1 so far. When a type gets a version 2, the old shape stays here
/// as a private `…V1` type and this function (or a type-specific one) converts it forward.
pub(crate) fn decode<T: DeserializeOwned>(tree: Tree, bytes: &[u8]) -> Result<T, StorageError> {
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(tree, format!("not a JSON record: {e}")))?;
    match probe.v {
        None => Err(corrupt(tree, "record has no version field")),
        Some(v) if v == u64::from(RECORD_VERSION) => serde_json::from_slice(bytes)
            .map_err(|e| corrupt(tree, format!("version {v} record: {e}"))),
        Some(found) => Err(StorageError::RecordVersion {
            tree: tree.name(),
            found,
            supported: RECORD_VERSION,
        }),
    }
}

/// [`SignatureRecord`] on disk: the evidence is base64 rather than a JSON array of numbers.
#[derive(Serialize, Deserialize)]
struct SignatureDisk {
    subject: Digest,
    format: SignatureFormat,
    signature_manifest: Digest,
    layer_index: u32,
    signer: String,
    key_fingerprint: Option<String>,
    certificate: Option<CertFacts>,
    observed_at: UnixSecs,
    evidence: String,
}

pub(crate) fn encode_signature(record: &SignatureRecord) -> Result<Vec<u8>, StorageError> {
    encode(
        Tree::Signatures,
        &SignatureDisk {
            subject: record.subject.clone(),
            format: record.format.clone(),
            signature_manifest: record.signature_manifest.clone(),
            layer_index: record.layer_index,
            signer: record.signer.clone(),
            key_fingerprint: record.key_fingerprint.clone(),
            certificate: record.certificate.clone(),
            observed_at: record.observed_at,
            evidence: BASE64.encode(&record.evidence),
        },
    )
}

pub(crate) fn decode_signature(bytes: &[u8]) -> Result<SignatureRecord, StorageError> {
    let disk: SignatureDisk = decode(Tree::Signatures, bytes)?;
    let evidence = BASE64
        .decode(&disk.evidence)
        .map_err(|e| corrupt(Tree::Signatures, format!("evidence is not base64: {e}")))?;
    Ok(SignatureRecord {
        subject: disk.subject,
        format: disk.format,
        signature_manifest: disk.signature_manifest,
        layer_index: disk.layer_index,
        signer: disk.signer,
        key_fingerprint: disk.key_fingerprint,
        certificate: disk.certificate,
        observed_at: disk.observed_at,
        evidence,
    })
}

/// A replica's lease on a tag (`tag_leases`).
#[derive(Serialize, Deserialize)]
pub(crate) struct TagLease {
    /// The holder's id (a replica instance).
    pub(crate) holder: String,
    /// Milliseconds since the epoch after which another holder may take it.
    pub(crate) expires_at_ms: u64,
}

/// The layers last accepted for a `.sig` tag.
#[derive(Serialize, Deserialize)]
pub(crate) struct SigTagLayers {
    pub(crate) layers: Vec<Digest>,
}

/// The layer blobs sealgate read while verifying a signature manifest (the subject is in the
/// key).
#[derive(Serialize, Deserialize)]
pub(crate) struct SignatureManifestLayers {
    pub(crate) layers: Vec<Digest>,
}

/// An index's children.
#[derive(Serialize, Deserialize)]
pub(crate) struct IndexChildren {
    pub(crate) children: Vec<Digest>,
}

/// What a "`manifest` lists `blob`" fact says besides its key: the manifest's kind.
#[derive(Serialize, Deserialize)]
pub(crate) struct BlobOwner {
    pub(crate) kind: ManifestKind,
}

/// The audit head as stored in `meta`.
#[derive(Serialize, Deserialize)]
struct HeadDisk {
    seq: u64,
    hash: String,
}

/// The last audit record's sequence number and hash (`0` and [`GENESIS`] for an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuditHead {
    pub(crate) seq: u64,
    pub(crate) hash: [u8; 32],
}

impl AuditHead {
    pub(crate) const GENESIS: AuditHead = AuditHead {
        seq: 0,
        hash: GENESIS,
    };
}

pub(crate) fn encode_head(head: &AuditHead) -> Result<Vec<u8>, StorageError> {
    encode(
        Tree::Meta,
        &HeadDisk {
            seq: head.seq,
            hash: hex::encode(head.hash),
        },
    )
}

pub(crate) fn decode_head(bytes: &[u8]) -> Result<AuditHead, StorageError> {
    let disk: HeadDisk = decode(Tree::Meta, bytes)?;
    Ok(AuditHead {
        seq: disk.seq,
        hash: hash_from_hex(Tree::Meta, &disk.hash)?,
    })
}

fn hash_from_hex(tree: Tree, text: &str) -> Result<[u8; 32], StorageError> {
    let mut hash = [0; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|e| corrupt(tree, format!("hash {text:?}: {e}")))?;
    Ok(hash)
}

/// `sha256(prev ‖ seq as u64 big-endian ‖ event)`.
pub(crate) fn chain_hash(prev: &[u8; 32], seq: u64, event: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(seq.to_be_bytes());
    hasher.update(event);
    hasher.finalize().into()
}

/// An audit record on disk. `event` is kept as the exact bytes written at append time.
#[derive(Serialize, Deserialize)]
struct AuditDisk {
    seq: u64,
    prev_hash: String,
    hash: String,
    event: Box<RawValue>,
}

/// An audit record as read, before its event is decoded.
pub(crate) struct StoredAudit {
    pub(crate) seq: u64,
    pub(crate) prev_hash: [u8; 32],
    pub(crate) hash: [u8; 32],
    event: Box<RawValue>,
}

impl StoredAudit {
    /// The bytes the hash covers.
    pub(crate) fn event_bytes(&self) -> &[u8] {
        self.event.get().as_bytes()
    }

    /// Whether the record's hash matches its predecessor, position and content.
    pub(crate) fn hash_matches(&self, prev: &[u8; 32], seq: u64) -> bool {
        self.prev_hash == *prev && chain_hash(prev, seq, self.event_bytes()) == self.hash
    }

    pub(crate) fn event(&self) -> Result<AuditEvent, StorageError> {
        decode(Tree::Audit, self.event_bytes())
    }

    pub(crate) fn into_record(self) -> Result<AuditRecord, StorageError> {
        Ok(AuditRecord {
            event: self.event()?,
            seq: self.seq,
            prev_hash: hex::encode(self.prev_hash),
            hash: hex::encode(self.hash),
        })
    }
}

/// Builds the record that follows `head`: its bytes, the new head and the record as returned.
pub(crate) fn encode_audit(
    head: &AuditHead,
    event: &AuditEvent,
) -> Result<(Vec<u8>, AuditHead, AuditRecord), StorageError> {
    let seq = head
        .seq
        .checked_add(1)
        .ok_or_else(|| corrupt(Tree::Meta, "audit sequence number exhausted"))?;
    let raw = serde_json::value::to_raw_value(&Versioned {
        v: RECORD_VERSION,
        body: event,
    })
    .map_err(|source| StorageError::Encode {
        tree: Tree::Audit.name(),
        source,
    })?;
    let hash = chain_hash(&head.hash, seq, raw.get().as_bytes());
    let disk = AuditDisk {
        seq,
        prev_hash: hex::encode(head.hash),
        hash: hex::encode(hash),
        event: raw,
    };
    let bytes = encode(Tree::Audit, &disk)?;
    let record = AuditRecord {
        seq,
        prev_hash: disk.prev_hash,
        hash: disk.hash,
        event: event.clone(),
    };
    Ok((bytes, AuditHead { seq, hash }, record))
}

pub(crate) fn decode_audit(bytes: &[u8]) -> Result<StoredAudit, StorageError> {
    let disk: AuditDisk = decode(Tree::Audit, bytes)?;
    Ok(StoredAudit {
        seq: disk.seq,
        prev_hash: hash_from_hex(Tree::Audit, &disk.prev_hash)?,
        hash: hash_from_hex(Tree::Audit, &disk.hash)?,
        event: disk.event,
    })
}

#[cfg(test)]
mod tests;
