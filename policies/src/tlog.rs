//! Transparency-log evidence, verified offline: a log entry (Rekor v1 or v2), its signed entry
//! timestamp (SET), its RFC 6962 inclusion proof and the signed checkpoint the proof ends in.
//!
//! What each piece proves:
//!
//! - The **SET** is the log's signature over `{body, integratedTime, logID, logIndex}`: a promise
//!   that the entry was (or will be) logged at `integratedTime`. It is the only thing that
//!   authenticates `integratedTime`, so [`VerifiedEntry::integrated_time`] is `Some` only when
//!   the SET verified.
//! - The **inclusion proof** recomputes the Merkle root from the entry's leaf hash; the
//!   **checkpoint** is the log's signature over that root and tree size (a C2SP signed note).
//!   A proof without a verified checkpoint proves nothing, because its root is unsigned.
//!
//! This module does not look inside the entry to see *what* was logged; [`TlogBody`] parses the
//! body so the caller can check that it binds the artifact digest, the signature and the key or
//! certificate it is verifying.
//!
//! Every input is hostile: parsing is fallible, lengths are checked, and nothing indexes in a way
//! that can panic.

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::crypto::{KeyAlgorithm, PublicKey, pem_blocks};
use crate::time::UnixTime;
use crate::trusted_root::{TransparencyLog, Validity, protojson};

/// The most audit-path hashes an inclusion proof may have: a tree of 2^64 leaves is 64 high.
const MAX_PROOF_HASHES: usize = 64;
/// The most signature lines a checkpoint may carry (the signed-note spec's own limit).
const MAX_NOTE_SIGNATURES: usize = 100;

/// Why transparency-log evidence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// The entry names a log that is not trusted.
    #[error("entry is from an unknown transparency log {log_id}")]
    UnknownLog {
        /// The entry's log ID, hex.
        log_id: String,
    },
    /// The entry was checked against a log with a different ID.
    #[error("entry names log {entry} but was checked against log {log}")]
    LogIdMismatch {
        /// The entry's log ID, hex.
        entry: String,
        /// The log's ID, hex.
        log: String,
    },
    /// The policy or caller asked for a SET and the entry carries none.
    #[error("entry carries no signed entry timestamp (inclusion promise)")]
    MissingSet,
    /// The SET does not verify with the log's key: body, integrated time, index or log ID were
    /// altered, or another key signed it.
    #[error("signed entry timestamp does not verify with the log's key")]
    SetInvalid,
    /// The policy or caller asked for an inclusion proof and the entry carries none.
    #[error("entry carries no inclusion proof")]
    MissingInclusionProof,
    /// The inclusion proof cannot be evaluated: index beyond the tree, or an audit path of the
    /// wrong length for the tree size.
    #[error("inclusion proof is invalid: {reason}")]
    InclusionProofInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The root recomputed from the entry and its audit path differs from the proof's root hash.
    #[error(
        "inclusion proof does not lead to its root hash (computed {computed}, expected {expected})"
    )]
    InclusionProofMismatch {
        /// The recomputed root, hex.
        computed: String,
        /// The proof's `rootHash`, hex.
        expected: String,
    },
    /// The inclusion proof has no checkpoint, so its root is not signed by the log.
    #[error("inclusion proof carries no checkpoint")]
    MissingCheckpoint,
    /// The checkpoint is not a well-formed signed note.
    #[error("checkpoint is malformed: {reason}")]
    CheckpointMalformed {
        /// What is wrong.
        reason: String,
    },
    /// No signature line of the checkpoint carries the log key's hint.
    #[error("no checkpoint signature is from the log's key (key hints seen: {hints})")]
    CheckpointKeyHintUnknown {
        /// The hints on the note's signature lines, hex, comma-separated.
        hints: String,
    },
    /// A signature line carries the log key's hint but does not verify.
    #[error("checkpoint signature does not verify with the log's key")]
    CheckpointSignatureInvalid,
    /// The checkpoint is signed but is for another tree than the proof's.
    #[error(
        "checkpoint (size {checkpoint_size}) does not match the inclusion proof (size {proof_size}) or its root hash"
    )]
    CheckpointRootMismatch {
        /// Tree size in the checkpoint.
        checkpoint_size: u64,
        /// Tree size in the proof.
        proof_size: u64,
    },
    /// The log's key was not valid at the entry's time.
    #[error("the log's key is not valid at {time}")]
    LogKeyNotValidAt {
        /// The time checked.
        time: UnixTime,
    },
    /// The entry claims to be integrated after `now`.
    #[error("entry integrated at {integrated}, which is after now ({now})")]
    IntegratedTimeInFuture {
        /// The entry's integrated time.
        integrated: UnixTime,
        /// The time the check ran at.
        now: UnixTime,
    },
    /// The policy requires an integrated time authenticated by a SET, and there is none (Rekor v2
    /// entries never have one; their time comes from an RFC 3161 timestamp).
    #[error("entry has no SET-signed integrated time")]
    NoSignedIntegratedTime,
    /// Neither a SET nor an inclusion proof with a checkpoint verified.
    #[error(
        "entry carries no verifiable log evidence (no SET, no inclusion proof with checkpoint)"
    )]
    NoLogEvidence,
    /// The entry's body has a kind or version this module does not parse.
    #[error("unsupported log entry kind {kind} {version}")]
    UnsupportedBody {
        /// The body's `kind`.
        kind: String,
        /// The body's `apiVersion`.
        version: String,
    },
    /// The entry, its body or a field is malformed.
    #[error("malformed log entry: {what}")]
    Malformed {
        /// What is wrong.
        what: String,
    },
}

fn malformed(what: impl Into<String>) -> TlogError {
    TlogError::Malformed { what: what.into() }
}

/// One transparency-log entry with whatever evidence came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// The entry's global index in the log (the one the SET signs).
    pub log_index: u64,
    /// The ID of the log that holds it.
    pub log_id: Vec<u8>,
    /// Entry kind, e.g. `hashedrekord` or `dsse`.
    pub kind: String,
    /// Entry kind version, e.g. `0.0.1`.
    pub version: String,
    /// When the log says it integrated the entry (absent for Rekor v2).
    pub integrated_time: Option<UnixTime>,
    /// The logged body: canonical JSON, the Merkle leaf.
    pub canonicalized_body: Vec<u8>,
    /// The SET (inclusion promise), a signature by the log key.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// Proof of inclusion in a tree the log signed.
    pub inclusion_proof: Option<InclusionProof>,
}

/// An RFC 6962 inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index in the tree the proof is for (a shard's own index in Rekor v1).
    pub log_index: u64,
    /// The tree's root hash.
    pub root_hash: [u8; 32],
    /// The tree's size.
    pub tree_size: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint (signed note) for that tree, verbatim.
    pub checkpoint: Option<String>,
}

// --- raw shapes ---------------------------------------------------------------------------------

/// `dev.sigstore.rekor.v1.TransparencyLogEntry` in protobuf-JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawTlogEntry {
    log_index: Option<protojson::U64>,
    log_id: Option<RawLogId>,
    kind_version: Option<RawKindVersion>,
    integrated_time: Option<protojson::U64>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: Option<String>,
}

impl RawTlogEntry {
    /// Whether the entry carries an inclusion promise (bundle v0.1 requires one).
    pub(crate) fn has_inclusion_promise(&self) -> bool {
        self.inclusion_promise
            .as_ref()
            .is_some_and(|p| p.signed_entry_timestamp.is_some())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Option<protojson::U64>,
    root_hash: Option<String>,
    tree_size: Option<protojson::U64>,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: Option<String>,
}

/// cosign's `dev.sigstore.cosign/bundle` annotation.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCosignBundle {
    signed_entry_timestamp: Option<String>,
    payload: Option<RawCosignPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCosignPayload {
    body: Option<String>,
    integrated_time: Option<protojson::U64>,
    log_index: Option<protojson::U64>,
    #[serde(rename = "logID")]
    log_id: Option<String>,
}

fn b64_field(value: Option<&str>, field: &str) -> Result<Vec<u8>, TlogError> {
    let value = value.ok_or_else(|| malformed(format!("{field} is missing")))?;
    protojson::bytes(value).ok_or_else(|| malformed(format!("{field} is not base64")))
}

fn hash32(bytes: Vec<u8>, field: &str) -> Result<[u8; 32], TlogError> {
    <[u8; 32]>::try_from(bytes).map_err(|b| {
        malformed(format!(
            "{field} is {} bytes, a SHA-256 hash is 32",
            b.len()
        ))
    })
}

impl TlogEntry {
    /// Parses one `verificationMaterial.tlogEntries[i]` object of a sigstore bundle.
    pub fn from_bundle_json(json: &[u8]) -> Result<Self, TlogError> {
        let raw: RawTlogEntry =
            serde_json::from_slice(json).map_err(|e| malformed(format!("tlog entry JSON: {e}")))?;
        Self::from_raw(raw)
    }

    pub(crate) fn from_raw(raw: RawTlogEntry) -> Result<Self, TlogError> {
        let log_id = b64_field(
            raw.log_id.as_ref().and_then(|l| l.key_id.as_deref()),
            "logId.keyId",
        )?;
        if log_id.is_empty() {
            return Err(malformed("logId.keyId is empty"));
        }
        let kv = raw
            .kind_version
            .ok_or_else(|| malformed("kindVersion is missing"))?;
        let (kind, version) = match (kv.kind, kv.version) {
            (Some(k), Some(v)) if !k.is_empty() && !v.is_empty() => (k, v),
            _ => return Err(malformed("kindVersion.kind or .version is missing")),
        };
        let canonicalized_body = b64_field(raw.canonicalized_body.as_deref(), "canonicalizedBody")?;
        if canonicalized_body.is_empty() {
            return Err(malformed("canonicalizedBody is empty"));
        }
        let signed_entry_timestamp = raw
            .inclusion_promise
            .and_then(|p| p.signed_entry_timestamp)
            .map(|s| b64_field(Some(&s), "inclusionPromise.signedEntryTimestamp"))
            .transpose()?;
        let inclusion_proof = raw.inclusion_proof.map(proof_from_raw).transpose()?;
        Ok(Self {
            log_index: raw.log_index.unwrap_or_default().0,
            log_id,
            kind,
            version,
            // proto3 leaves zero values out, so "0" and absent both mean "no integrated time".
            integrated_time: raw
                .integrated_time
                .map(|t| t.0)
                .filter(|&t| t != 0)
                .map(UnixTime),
            canonicalized_body,
            signed_entry_timestamp,
            inclusion_proof,
        })
    }

    /// Parses cosign's `dev.sigstore.cosign/bundle` layer annotation:
    /// `{"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": n,
    /// "logIndex": n, "logID": "<hex>"}}`. It carries a SET but no inclusion proof. The kind and
    /// version are read from the body.
    pub fn from_cosign_bundle_annotation(annotation: &str) -> Result<Self, TlogError> {
        let raw: RawCosignBundle = serde_json::from_str(annotation)
            .map_err(|e| malformed(format!("cosign bundle annotation JSON: {e}")))?;
        let set = b64_field(
            raw.signed_entry_timestamp.as_deref(),
            "SignedEntryTimestamp",
        )?;
        let payload = raw.payload.ok_or_else(|| malformed("Payload is missing"))?;
        let body = b64_field(payload.body.as_deref(), "Payload.body")?;
        let integrated_time = payload
            .integrated_time
            .ok_or_else(|| malformed("Payload.integratedTime is missing"))?;
        let log_index = payload
            .log_index
            .ok_or_else(|| malformed("Payload.logIndex is missing"))?;
        let log_id = payload
            .log_id
            .ok_or_else(|| malformed("Payload.logID is missing"))
            .and_then(|h| hex::decode(h).map_err(|_| malformed("Payload.logID is not hex")))?;
        if log_id.is_empty() {
            return Err(malformed("Payload.logID is empty"));
        }
        let head = BodyHead::parse(&body)?;
        Ok(Self {
            log_index: log_index.0,
            log_id,
            kind: head.kind,
            version: head.version,
            integrated_time: Some(UnixTime(integrated_time.0)),
            canonicalized_body: body,
            signed_entry_timestamp: Some(set),
            inclusion_proof: None,
        })
    }

    /// Parses the logged body, checking that its kind and version are the entry's.
    pub fn body(&self) -> Result<TlogBody, TlogError> {
        let body = TlogBody::parse(&self.canonicalized_body)?;
        let (kind, version) = body.kind_version();
        if kind != self.kind || version != self.version {
            return Err(malformed(format!(
                "body is {kind} {version} but the entry says {} {}",
                self.kind, self.version
            )));
        }
        Ok(body)
    }

    /// The RFC 6962 leaf hash of the body.
    pub fn leaf_hash(&self) -> [u8; 32] {
        leaf_hash(&self.canonicalized_body)
    }
}

fn proof_from_raw(raw: RawProof) -> Result<InclusionProof, TlogError> {
    let root_hash = hash32(
        b64_field(raw.root_hash.as_deref(), "inclusionProof.rootHash")?,
        "inclusionProof.rootHash",
    )?;
    if raw.hashes.len() > MAX_PROOF_HASHES {
        return Err(malformed(format!(
            "inclusionProof has {} hashes, at most {MAX_PROOF_HASHES} make sense",
            raw.hashes.len()
        )));
    }
    let hashes = raw
        .hashes
        .iter()
        .map(|h| {
            hash32(
                b64_field(Some(h), "inclusionProof.hashes[]")?,
                "inclusionProof.hashes[]",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InclusionProof {
        log_index: raw.log_index.unwrap_or_default().0,
        root_hash,
        tree_size: raw
            .tree_size
            .ok_or_else(|| malformed("inclusionProof.treeSize is missing"))?
            .0,
        hashes,
        checkpoint: raw.checkpoint.and_then(|c| c.envelope),
    })
}

// --- SET ----------------------------------------------------------------------------------------

/// Checks the entry's SET: the log's signature over the canonical JSON
/// `{"body":"<b64>","integratedTime":n,"logID":"<hex>","logIndex":n}` (keys sorted, no spaces),
/// with the body re-encoded as standard padded base64 as Rekor does.
pub fn verify_set(entry: &TlogEntry, log: &TransparencyLog) -> Result<(), TlogError> {
    let set = entry
        .signed_entry_timestamp
        .as_deref()
        .ok_or(TlogError::MissingSet)?;
    check_log_id(entry, log)?;
    let integrated = entry
        .integrated_time
        .ok_or_else(|| malformed("a SET without an integratedTime cannot be checked"))?;
    // Base64 and hex never need JSON escaping, so formatting is canonical.
    let payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        base64::engine::general_purpose::STANDARD.encode(&entry.canonicalized_body),
        integrated.as_secs(),
        hex::encode(&entry.log_id),
        entry.log_index,
    );
    log.key
        .verify(payload.as_bytes(), set)
        .map_err(|_| TlogError::SetInvalid)
}

fn check_log_id(entry: &TlogEntry, log: &TransparencyLog) -> Result<(), TlogError> {
    if entry.log_id == log.log_id {
        Ok(())
    } else {
        Err(TlogError::LogIdMismatch {
            entry: hex::encode(&entry.log_id),
            log: hex::encode(&log.log_id),
        })
    }
}

// --- Merkle inclusion ---------------------------------------------------------------------------

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root an audit path leads to, by the RFC 9162 §2.1.3.2 algorithm. Fails when the index is
/// outside the tree or the path is too long or too short for `(index, tree_size)`.
pub fn root_from_inclusion_proof(
    index: u64,
    tree_size: u64,
    leaf: [u8; 32],
    path: &[[u8; 32]],
) -> Result<[u8; 32], TlogError> {
    if index >= tree_size {
        return Err(TlogError::InclusionProofInvalid {
            reason: format!("leaf index {index} is not below tree size {tree_size}"),
        });
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut root = leaf;
    for p in path {
        if snode == 0 {
            return Err(TlogError::InclusionProofInvalid {
                reason: "audit path is longer than the tree is high".to_owned(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            root = node_hash(p, &root);
            // Skip the levels where this node is a left child without a right sibling.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            root = node_hash(&root, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(TlogError::InclusionProofInvalid {
            reason: "audit path is shorter than the tree is high".to_owned(),
        });
    }
    Ok(root)
}

/// Recomputes the root from the entry's leaf and audit path and compares it with `rootHash`.
/// Says nothing about who vouches for that root; see [`verify_inclusion_proof`].
fn check_merkle_path(entry: &TlogEntry, proof: &InclusionProof) -> Result<(), TlogError> {
    let computed = root_from_inclusion_proof(
        proof.log_index,
        proof.tree_size,
        entry.leaf_hash(),
        &proof.hashes,
    )?;
    if computed == proof.root_hash {
        Ok(())
    } else {
        Err(TlogError::InclusionProofMismatch {
            computed: hex::encode(computed),
            expected: hex::encode(proof.root_hash),
        })
    }
}

/// Checks the entry's inclusion proof and its checkpoint: the audit path leads to `rootHash`, the
/// checkpoint is signed by the log's key, and the checkpoint's tree size and root are the proof's.
pub fn verify_inclusion_proof(entry: &TlogEntry, log: &TransparencyLog) -> Result<(), TlogError> {
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or(TlogError::MissingInclusionProof)?;
    check_log_id(entry, log)?;
    check_merkle_path(entry, proof)?;
    let envelope = proof
        .checkpoint
        .as_deref()
        .ok_or(TlogError::MissingCheckpoint)?;
    let checkpoint = Checkpoint::parse(envelope)?;
    checkpoint.verify(log)?;
    if checkpoint.size != proof.tree_size || checkpoint.root_hash != proof.root_hash {
        return Err(TlogError::CheckpointRootMismatch {
            checkpoint_size: checkpoint.size,
            proof_size: proof.tree_size,
        });
    }
    Ok(())
}

// --- checkpoints (C2SP signed notes) ------------------------------------------------------------

/// A log checkpoint in C2SP signed-note form
/// (<https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md>,
/// <https://github.com/C2SP/C2SP/blob/main/signed-note.md>):
///
/// ```text
/// <origin>\n<tree size>\n<base64 root hash>\n[other lines\n]\n— <name> <base64(key hint || signature)>\n…
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, e.g. `rekor.sigstore.dev - 1193050959916656506`.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The tree's root hash.
    pub root_hash: [u8; 32],
    /// Extension lines after the root hash (Rekor v1 wrote `Timestamp: …`).
    pub other_lines: Vec<String>,
    /// The signature lines, in order (logs and witnesses).
    pub signatures: Vec<NoteSignature>,
    /// The signed text: every line before the blank line, each ending in `\n`.
    signed_text: String,
}

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The first four bytes of the key ID.
    pub key_hint: [u8; 4],
    /// The signature over the note text.
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// Parses a checkpoint envelope.
    pub fn parse(envelope: &str) -> Result<Self, TlogError> {
        let bad = |reason: &str| TlogError::CheckpointMalformed {
            reason: reason.to_owned(),
        };
        let (text, sig_block) = envelope
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line between the text and the signatures"))?;
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or_else(|| bad("empty origin line"))?;
        let size = lines
            .next()
            .filter(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("tree size is not a decimal number"))?;
        let root_hash = lines
            .next()
            .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or_else(|| bad("root hash is not 32 bytes of base64"))?;
        let other_lines: Vec<String> = lines.map(str::to_owned).collect();
        if other_lines.iter().any(String::is_empty) {
            return Err(bad("empty line inside the note text"));
        }
        let sig_lines = sig_block
            .strip_suffix('\n')
            .ok_or_else(|| bad("signature block does not end in a newline"))?;
        let mut signatures = Vec::new();
        for line in sig_lines.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(bad("too many signature lines"));
            }
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| bad("signature line does not start with an em dash"))?;
            let (name, sig) = rest
                .split_once(' ')
                .filter(|(name, sig)| !name.is_empty() && !sig.contains(' '))
                .ok_or_else(|| bad("signature line is not `— <name> <signature>`"))?;
            let sig = base64::engine::general_purpose::STANDARD
                .decode(sig)
                .map_err(|_| bad("signature is not base64"))?;
            let (hint, signature) = sig
                .split_first_chunk::<4>()
                .filter(|(_, s)| !s.is_empty())
                .ok_or_else(|| bad("signature shorter than its key hint"))?;
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_hint: *hint,
                signature: signature.to_vec(),
            });
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root_hash,
            other_lines,
            signatures,
            signed_text: format!("{text}\n"),
        })
    }

    /// The bytes the signatures are over.
    pub fn signed_text(&self) -> &str {
        &self.signed_text
    }

    /// Checks that a signature line with the log key's hint verifies. Lines from other keys
    /// (witness cosignatures) are ignored.
    pub fn verify(&self, log: &TransparencyLog) -> Result<(), TlogError> {
        let mut hint_matched = false;
        for sig in &self.signatures {
            if note_key_hint(&sig.name, &log.key) != Some(sig.key_hint) {
                continue;
            }
            hint_matched = true;
            if log
                .key
                .verify(self.signed_text.as_bytes(), &sig.signature)
                .is_ok()
            {
                return Ok(());
            }
        }
        if hint_matched {
            Err(TlogError::CheckpointSignatureInvalid)
        } else {
            Err(TlogError::CheckpointKeyHintUnknown {
                hints: self
                    .signatures
                    .iter()
                    .map(|s| hex::encode(s.key_hint))
                    .collect::<Vec<_>>()
                    .join(","),
            })
        }
    }
}

/// The signed-note key hint of `key` under the name `name`.
///
/// - Ed25519 (Rekor v2, witnesses): the signed-note key ID,
///   `SHA-256(name || "\n" || 0x01 || public key)[..4]`; Rekor v2's log ID is that whole hash.
/// - ECDSA and RSA (Rekor v1): `SHA-256(DER SubjectPublicKeyInfo)[..4]`, the log ID's first
///   four bytes; the name does not enter.
pub fn note_key_hint(name: &str, key: &PublicKey) -> Option<[u8; 4]> {
    let digest: [u8; 32] = match key.algorithm() {
        KeyAlgorithm::Ed25519 => {
            // An Ed25519 SubjectPublicKeyInfo ends in the 32 key bytes.
            let spki = key.spki_der();
            let raw = spki.get(spki.len().checked_sub(32)?..)?;
            let mut h = Sha256::new();
            h.update(name.as_bytes());
            h.update(b"\n\x01");
            h.update(raw);
            h.finalize().into()
        }
        _ => Sha256::digest(key.spki_der()).into(),
    };
    digest.first_chunk::<4>().copied()
}

// --- whole-entry verification -------------------------------------------------------------------

/// What [`verify_entry`] demands beyond "some evidence verifies".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlogPolicy {
    /// Require a verified SET.
    pub require_set: bool,
    /// Require a verified inclusion proof with a signed checkpoint.
    pub require_inclusion_proof: bool,
    /// Require an integrated time authenticated by a SET, and check the log key's validity at
    /// it. Turn this off only where a verified RFC 3161 timestamp supplies the time (Rekor v2),
    /// and then call [`VerifiedEntry::check_log_valid_at`] with that time.
    pub require_integrated_time: bool,
    /// Seconds an integrated time may lie ahead of `now` (clock skew between log and verifier).
    pub max_clock_skew: u64,
}

impl Default for TlogPolicy {
    /// Some evidence must verify, a SET-signed integrated time is required, no clock skew.
    fn default() -> Self {
        Self {
            require_set: false,
            require_inclusion_proof: false,
            require_integrated_time: true,
            max_clock_skew: 0,
        }
    }
}

/// A log entry whose evidence verified. Only [`verify_entry`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The log's ID.
    pub log_id: Vec<u8>,
    /// The entry's index in the log.
    pub log_index: u64,
    /// The integrated time, only when a SET vouches for it.
    pub integrated_time: Option<UnixTime>,
    /// Whether the SET verified.
    pub set_verified: bool,
    /// Whether the inclusion proof and its checkpoint verified.
    pub inclusion_verified: bool,
    /// Validity windows of the trusted logs with this ID.
    log_validity: Vec<Validity>,
}

impl VerifiedEntry {
    /// Checks that the log's key was valid at `time` (both ends inclusive). [`verify_entry`] does
    /// this at the integrated time; call it with an RFC 3161 time for entries without one.
    pub fn check_log_valid_at(&self, time: UnixTime) -> Result<(), TlogError> {
        if self.log_validity.iter().any(|v| v.contains(time)) {
            Ok(())
        } else {
            Err(TlogError::LogKeyNotValidAt { time })
        }
    }
}

/// Verifies a log entry against the trusted logs (a [`crate::trusted_root::TrustedRoot`]'s
/// `tlogs`, or a single [`TransparencyLog::from_public_key`]).
///
/// The log is found by ID. An integrated time after `now` (plus the allowed skew) is refused. A
/// SET, if present, must verify; an inclusion proof, if present, must lead to its root, and its
/// checkpoint, if present, must be signed by the log and match the proof. At least one of "SET"
/// and "proof with checkpoint" must have verified, plus what `policy` requires. The log key must
/// be valid at the SET-signed integrated time.
pub fn verify_entry(
    entry: &TlogEntry,
    logs: &[TransparencyLog],
    now: UnixTime,
    policy: &TlogPolicy,
) -> Result<VerifiedEntry, TlogError> {
    // Log IDs are key hashes, so logs sharing an ID share a key; only their windows differ.
    let candidates: Vec<&TransparencyLog> =
        logs.iter().filter(|l| l.log_id == entry.log_id).collect();
    let log = candidates
        .first()
        .copied()
        .ok_or_else(|| TlogError::UnknownLog {
            log_id: hex::encode(&entry.log_id),
        })?;
    if let Some(integrated) = entry.integrated_time
        && integrated.as_secs() > now.as_secs().saturating_add(policy.max_clock_skew)
    {
        return Err(TlogError::IntegratedTimeInFuture { integrated, now });
    }

    let set_verified = match entry.signed_entry_timestamp {
        Some(_) => {
            verify_set(entry, log)?;
            true
        }
        None => false,
    };
    let inclusion_verified = match &entry.inclusion_proof {
        Some(proof) if proof.checkpoint.is_some() => {
            verify_inclusion_proof(entry, log)?;
            true
        }
        // A bundle v0.1 proof has no checkpoint: its root is unsigned, so it is no evidence,
        // but a path that does not even lead to its root still marks the entry as corrupt.
        Some(proof) => {
            check_merkle_path(entry, proof)?;
            false
        }
        None => false,
    };
    if !set_verified && !inclusion_verified {
        return Err(TlogError::NoLogEvidence);
    }
    if policy.require_set && !set_verified {
        return Err(TlogError::MissingSet);
    }
    if policy.require_inclusion_proof && !inclusion_verified {
        return Err(match entry.inclusion_proof {
            Some(_) => TlogError::MissingCheckpoint,
            None => TlogError::MissingInclusionProof,
        });
    }

    let verified = VerifiedEntry {
        log_id: entry.log_id.clone(),
        log_index: entry.log_index,
        integrated_time: entry.integrated_time.filter(|_| set_verified),
        set_verified,
        inclusion_verified,
        log_validity: candidates.iter().map(|l| l.valid_for).collect(),
    };
    match verified.integrated_time {
        Some(t) => verified.check_log_valid_at(t)?,
        None if policy.require_integrated_time => return Err(TlogError::NoSignedIntegratedTime),
        None => {}
    }
    Ok(verified)
}

// --- bodies -------------------------------------------------------------------------------------

/// A digest algorithm named in a log body or a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256 (`sha256`, `SHA2_256`).
    Sha256,
    /// SHA-384 (`sha384`, `SHA2_384`).
    Sha384,
    /// SHA-512 (`sha512`, `SHA2_512`).
    Sha512,
}

impl HashAlgorithm {
    /// Reads Rekor's (`sha256`) or protobuf's (`SHA2_256`) name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" | "SHA2_256" => Some(Self::Sha256),
            "sha384" | "SHA2_384" => Some(Self::Sha384),
            "sha512" | "SHA2_512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The OCI name (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

/// A digest recorded in a log body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDigest {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest, of the algorithm's length.
    pub value: Vec<u8>,
}

/// The key or certificate a log body says verifies its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedVerifier {
    /// A DER SubjectPublicKeyInfo.
    PublicKey(Vec<u8>),
    /// A DER X.509 certificate.
    Certificate(Vec<u8>),
}

/// A signature recorded in a log body, with its verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSignature {
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// Who it verifies with.
    pub verifier: LoggedVerifier,
}

/// A parsed log body. The caller checks that it binds what it is verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlogBody {
    /// `hashedrekord` 0.0.1 (Rekor v1) or 0.0.2 (Rekor v2): a signature over a digest. For a
    /// DSSE envelope logged to Rekor v2, the digest is of the envelope's PAE.
    HashedRekord {
        /// `0.0.1` or `0.0.2`.
        version: String,
        /// The signed digest.
        digest: LoggedDigest,
        /// The signature and its key or certificate.
        signature: LoggedSignature,
    },
    /// `dsse` 0.0.1 (Rekor v1): a DSSE envelope.
    Dsse {
        /// Digest of the envelope's payload.
        payload_hash: LoggedDigest,
        /// Digest of the whole envelope as Rekor canonicalised it.
        envelope_hash: LoggedDigest,
        /// The envelope's signatures, each with its key or certificate.
        signatures: Vec<LoggedSignature>,
    },
}

/// Just a body's `kind` and `apiVersion`.
struct BodyHead {
    kind: String,
    version: String,
}

impl BodyHead {
    fn parse(body: &[u8]) -> Result<Self, TlogError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Head {
            kind: Option<String>,
            api_version: Option<String>,
        }
        let head: Head = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("body is not JSON: {e}")))?;
        match (head.kind, head.api_version) {
            (Some(kind), Some(version)) => Ok(Self { kind, version }),
            _ => Err(malformed("body has no kind or apiVersion")),
        }
    }
}

#[derive(Deserialize)]
struct RawBody {
    spec: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordV001Spec {
    data: Option<HashedRekordV001Data>,
    signature: Option<HashedRekordV001Signature>,
}

#[derive(Deserialize)]
struct HashedRekordV001Data {
    hash: Option<RawHexDigest>,
}

#[derive(Deserialize)]
struct RawHexDigest {
    algorithm: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordV001Signature {
    content: Option<String>,
    public_key: Option<RawContent>,
}

#[derive(Deserialize)]
struct RawContent {
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordV002Spec {
    hashed_rekord_v002: Option<HashedRekordV002>,
}

#[derive(Deserialize)]
struct HashedRekordV002 {
    data: Option<RawB64Digest>,
    signature: Option<RawV002Signature>,
}

#[derive(Deserialize)]
struct RawB64Digest {
    algorithm: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
struct RawV002Signature {
    content: Option<String>,
    verifier: Option<RawV002Verifier>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawV002Verifier {
    public_key: Option<RawRawBytes>,
    x509_certificate: Option<RawRawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRawBytes {
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV001Spec {
    envelope_hash: Option<RawHexDigest>,
    payload_hash: Option<RawHexDigest>,
    #[serde(default)]
    signatures: Vec<DsseV001Signature>,
}

#[derive(Deserialize)]
struct DsseV001Signature {
    signature: Option<String>,
    verifier: Option<String>,
}

impl TlogBody {
    /// Parses a canonicalized body: `hashedrekord` 0.0.1 and 0.0.2, `dsse` 0.0.1.
    pub fn parse(body: &[u8]) -> Result<Self, TlogError> {
        let head = BodyHead::parse(body)?;
        let raw: RawBody =
            serde_json::from_slice(body).map_err(|e| malformed(format!("body: {e}")))?;
        let spec = raw.spec.ok_or_else(|| malformed("body has no spec"))?;
        let spec_of = |what: &str| {
            let what = what.to_owned();
            move |e: serde_json::Error| malformed(format!("{what} spec: {e}"))
        };
        match (head.kind.as_str(), head.version.as_str()) {
            ("hashedrekord", "0.0.1") => {
                let spec: HashedRekordV001Spec =
                    serde_json::from_value(spec).map_err(spec_of("hashedrekord"))?;
                let hash = spec
                    .data
                    .and_then(|d| d.hash)
                    .ok_or_else(|| malformed("spec.data.hash is missing"))?;
                let sig = spec
                    .signature
                    .ok_or_else(|| malformed("spec.signature is missing"))?;
                let pem = b64_field(
                    sig.public_key.as_ref().and_then(|k| k.content.as_deref()),
                    "spec.signature.publicKey.content",
                )?;
                Ok(Self::HashedRekord {
                    version: head.version,
                    digest: hex_digest(&hash, "spec.data.hash")?,
                    signature: LoggedSignature {
                        signature: nonempty_b64(sig.content.as_deref(), "spec.signature.content")?,
                        verifier: pem_verifier(&pem, "spec.signature.publicKey.content")?,
                    },
                })
            }
            ("hashedrekord", "0.0.2") => {
                let spec: HashedRekordV002Spec =
                    serde_json::from_value(spec).map_err(spec_of("hashedrekord"))?;
                let inner = spec
                    .hashed_rekord_v002
                    .ok_or_else(|| malformed("spec.hashedRekordV002 is missing"))?;
                let data = inner
                    .data
                    .ok_or_else(|| malformed("spec.hashedRekordV002.data is missing"))?;
                let sig = inner
                    .signature
                    .ok_or_else(|| malformed("spec.hashedRekordV002.signature is missing"))?;
                let verifier = sig
                    .verifier
                    .ok_or_else(|| malformed("signature.verifier is missing"))?;
                let verifier = match (verifier.public_key, verifier.x509_certificate) {
                    (Some(k), None) => LoggedVerifier::PublicKey(nonempty_b64(
                        k.raw_bytes.as_deref(),
                        "verifier.publicKey.rawBytes",
                    )?),
                    (None, Some(c)) => LoggedVerifier::Certificate(nonempty_b64(
                        c.raw_bytes.as_deref(),
                        "verifier.x509Certificate.rawBytes",
                    )?),
                    _ => {
                        return Err(malformed(
                            "verifier must hold exactly one of publicKey and x509Certificate",
                        ));
                    }
                };
                let algorithm = digest_algorithm(data.algorithm.as_deref(), "data.algorithm")?;
                let value = b64_field(data.digest.as_deref(), "data.digest")?;
                Ok(Self::HashedRekord {
                    version: head.version,
                    digest: sized_digest(algorithm, value, "data.digest")?,
                    signature: LoggedSignature {
                        signature: nonempty_b64(sig.content.as_deref(), "signature.content")?,
                        verifier,
                    },
                })
            }
            ("dsse", "0.0.1") => {
                let spec: DsseV001Spec = serde_json::from_value(spec).map_err(spec_of("dsse"))?;
                let payload_hash = spec
                    .payload_hash
                    .ok_or_else(|| malformed("spec.payloadHash is missing"))?;
                let envelope_hash = spec
                    .envelope_hash
                    .ok_or_else(|| malformed("spec.envelopeHash is missing"))?;
                if spec.signatures.is_empty() {
                    return Err(malformed("spec.signatures is empty"));
                }
                let signatures = spec
                    .signatures
                    .iter()
                    .map(|s| {
                        let pem = b64_field(s.verifier.as_deref(), "spec.signatures[].verifier")?;
                        Ok(LoggedSignature {
                            signature: nonempty_b64(
                                s.signature.as_deref(),
                                "spec.signatures[].signature",
                            )?,
                            verifier: pem_verifier(&pem, "spec.signatures[].verifier")?,
                        })
                    })
                    .collect::<Result<Vec<_>, TlogError>>()?;
                Ok(Self::Dsse {
                    payload_hash: hex_digest(&payload_hash, "spec.payloadHash")?,
                    envelope_hash: hex_digest(&envelope_hash, "spec.envelopeHash")?,
                    signatures,
                })
            }
            _ => Err(TlogError::UnsupportedBody {
                kind: head.kind,
                version: head.version,
            }),
        }
    }

    /// The body's kind and version, e.g. `("hashedrekord", "0.0.1")`.
    pub fn kind_version(&self) -> (&str, &str) {
        match self {
            Self::HashedRekord { version, .. } => ("hashedrekord", version),
            Self::Dsse { .. } => ("dsse", "0.0.1"),
        }
    }
}

fn nonempty_b64(value: Option<&str>, field: &str) -> Result<Vec<u8>, TlogError> {
    let bytes = b64_field(value, field)?;
    if bytes.is_empty() {
        return Err(malformed(format!("{field} is empty")));
    }
    Ok(bytes)
}

fn digest_algorithm(name: Option<&str>, field: &str) -> Result<HashAlgorithm, TlogError> {
    let name = name.ok_or_else(|| malformed(format!("{field} is missing")))?;
    HashAlgorithm::from_name(name)
        .ok_or_else(|| malformed(format!("{field}: unsupported digest algorithm {name:?}")))
}

fn sized_digest(
    algorithm: HashAlgorithm,
    value: Vec<u8>,
    field: &str,
) -> Result<LoggedDigest, TlogError> {
    if value.len() != algorithm.digest_len() {
        return Err(malformed(format!(
            "{field} is {} bytes, {} is {}",
            value.len(),
            algorithm.as_str(),
            algorithm.digest_len()
        )));
    }
    Ok(LoggedDigest { algorithm, value })
}

fn hex_digest(raw: &RawHexDigest, field: &str) -> Result<LoggedDigest, TlogError> {
    let algorithm = digest_algorithm(raw.algorithm.as_deref(), &format!("{field}.algorithm"))?;
    let value = raw
        .value
        .as_deref()
        .ok_or_else(|| malformed(format!("{field}.value is missing")))
        .and_then(|v| hex::decode(v).map_err(|_| malformed(format!("{field}.value is not hex"))))?;
    sized_digest(algorithm, value, &format!("{field}.value"))
}

/// A PEM public key or certificate, as Rekor v1 bodies carry them (exactly one block).
fn pem_verifier(pem: &[u8], field: &str) -> Result<LoggedVerifier, TlogError> {
    let certs = pem_blocks(pem, "CERTIFICATE").map_err(|e| malformed(format!("{field}: {e}")))?;
    let keys = pem_blocks(pem, "PUBLIC KEY").map_err(|e| malformed(format!("{field}: {e}")))?;
    match (certs.as_slice(), keys.as_slice()) {
        ([cert], []) => Ok(LoggedVerifier::Certificate(cert.clone())),
        ([], [key]) => Ok(LoggedVerifier::PublicKey(key.clone())),
        _ => Err(malformed(format!(
            "{field} must be exactly one PEM certificate or public key"
        ))),
    }
}

#[cfg(test)]
mod tests;
