//! The records the store keeps and the answers it gives. Their on-disk encoding is in `codec`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sealgate_policies::gate::PinWarrant;
use sealgate_policies::oci::{Digest, RepoName, Tag};
use sealgate_policies::verdict::Admitted;

/// Seconds since the Unix epoch. The store never reads a clock: callers pass time in.
pub type UnixSecs = u64;

/// A tag of a repository behind one upstream: what a pin, a pending tag or a `.sig` tag is
/// about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PinKey {
    /// The upstream's name in the configuration.
    pub upstream: String,
    /// The repository.
    pub repository: RepoName,
    /// The tag.
    pub tag: Tag,
}

/// An earlier digest of a mutable tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinMove {
    /// The digest the tag pointed at.
    pub digest: Digest,
    /// When the tag moved away from it.
    pub replaced_at: UnixSecs,
}

/// What a tag is pinned to, and why it was admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The manifest digest the tag points at.
    pub digest: Digest,
    /// When the tag was pinned to this digest.
    pub pinned_at: UnixSecs,
    /// The identity that pushed (`None` in passthrough auth).
    pub pushed_by: Option<String>,
    /// The signer names that admitted it.
    pub signers: Vec<String>,
    /// Earlier digests of a mutable tag, oldest first; at most [`MAX_PIN_HISTORY`] are kept
    /// (the audit log has every move).
    pub history: Vec<PinMove>,
}

/// What [`crate::Store::pin`] is asked to store: a [`Pin`] whose digest comes from the proof
/// that lets it be pinned, so a tag is only made pullable by a decision about that digest.
///
/// It is made only from a [`PinWarrant`] (the gate's plan for a push, a first pull, a release
/// or a followed drift: the digest verified, or let through by a warn/audit scope) or an
/// [`Admitted`] proof; both are minted only by `sealgate-policies`, bound to one digest. There
/// is no way to make one from a bare digest or a [`Pin`], nor to change its digest afterwards:
///
/// ```compile_fail,E0451
/// # use sealgate_storage::{Pin, PinRequest};
/// fn forge(pin: Pin) -> PinRequest {
///     PinRequest { pin } // private field
/// }
/// ```
///
/// ```compile_fail,E0624
/// # use sealgate_policies::gate::PinWarrant;
/// # use sealgate_policies::config::Mode;
/// # use sealgate_policies::oci::Digest;
/// fn forge(digest: &Digest) -> PinWarrant {
///     PinWarrant::new(digest, None, Mode::Enforce) // only the gate mints one
/// }
/// ```
///
/// The history is never the caller's: the store keeps it ([`crate::Store::pin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRequest {
    pin: Pin,
}

impl PinRequest {
    /// Pins the warrant's digest at `pinned_at`, pushed by `pushed_by`, admitted by `signers`.
    pub fn new(
        warrant: PinWarrant,
        pinned_at: UnixSecs,
        pushed_by: Option<String>,
        signers: Vec<String>,
    ) -> Self {
        Self::of(warrant.digest(), pinned_at, pushed_by, signers)
    }

    /// Pins the digest `proof` admits; otherwise as [`PinRequest::new`].
    pub fn admitted(
        proof: Admitted,
        pinned_at: UnixSecs,
        pushed_by: Option<String>,
        signers: Vec<String>,
    ) -> Self {
        Self::of(proof.digest(), pinned_at, pushed_by, signers)
    }

    fn of(
        digest: &Digest,
        pinned_at: UnixSecs,
        pushed_by: Option<String>,
        signers: Vec<String>,
    ) -> Self {
        Self {
            pin: Pin {
                digest: digest.clone(),
                pinned_at,
                pushed_by,
                signers,
                history: Vec::new(),
            },
        }
    }

    /// The digest to pin: the proof's.
    pub fn digest(&self) -> &Digest {
        &self.pin.digest
    }

    /// The pin as it is stored when the tag was not pinned (no history).
    pub fn pin(&self) -> &Pin {
        &self.pin
    }
}

/// Longest [`Pin::history`] kept: a tag such as `latest` moves on every build, and a pin is
/// rewritten whole on each move. The oldest entries are dropped first.
pub const MAX_PIN_HISTORY: usize = 100;

/// What [`crate::Store::pin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The tag was not pinned; it is now.
    Created,
    /// The tag was already pinned to this digest; nothing changed.
    Unchanged,
    /// A mutable tag moved from `previous`; the move is in the pin's history.
    Moved {
        /// The digest the tag pointed at before.
        previous: Digest,
    },
    /// An immutable tag is pinned to another digest; nothing changed.
    Conflict {
        /// The pin that stays.
        existing: Pin,
    },
}

/// What [`crate::Store::pin_clearing_pending`] did: the pin's outcome and its audit record,
/// and the pending entry it removed, if any, with that removal's audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedTag {
    /// What happened to the pin, as [`crate::Store::pin`] reports it.
    pub outcome: PinOutcome,
    /// The audit record of the pin decision.
    pub record: AuditRecord,
    /// The pending entry the tag had, now removed, and the audit record of its removal.
    pub cleared: Option<(PendingTag, AuditRecord)>,
}

/// How a signature reached sealgate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureFormat {
    /// A layer of a cosign `.sig` manifest (simple signing payload plus annotations).
    CosignLayer,
    /// A Sigstore bundle attached as a referrer.
    SigstoreBundle,
}

/// Facts about the certificate a signature was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    /// The identity (SAN) the certificate was issued to.
    pub subject: String,
    /// The OIDC issuer (Fulcio extension) or the certificate issuer.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// End of validity.
    pub not_after: UnixSecs,
}

/// A signature sealgate saw and verified at intake. It is a fact, not a verdict: the evidence is
/// kept so the signature can be re-verified against the trust configuration in force later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRecord {
    /// The image manifest digest it signs.
    pub subject: Digest,
    /// The format it came in.
    pub format: SignatureFormat,
    /// Digest of the `.sig` or referrer manifest it came in.
    pub signature_manifest: Digest,
    /// Position of the layer in that manifest.
    pub layer_index: u32,
    /// The signer name that verified it at intake.
    pub signer: String,
    /// Fingerprint of the key, for key-based signers.
    pub key_fingerprint: Option<String>,
    /// The certificate, for keyless or PKI signers.
    pub certificate: Option<CertFacts>,
    /// When sealgate first saw it; recording the same signature again keeps the first value.
    pub observed_at: UnixSecs,
    /// The raw material, to re-verify against current trust.
    pub evidence: Vec<u8>,
}

/// What kind of manifest lists a blob.
///
/// Stored as `"image"` or `"signature"` (see [`crate::layout`]). A new kind is a new record
/// version: an older binary must refuse it by version rather than read it as corrupt.
///
/// The kind is what the manifest's shape says (its layers' media types), which any pusher
/// chooses: it is information, never a reason to serve anything. What sealgate verified as a
/// signature manifest is in [`crate::Store::signature_manifest_subjects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    /// An image (or any artifact that is not a signature): its config and layers.
    Image,
    /// Shaped like a signature artifact (cosign `.sig` manifest, signature referrer, bundle).
    Signature,
}

/// A signature manifest sealgate verified itself: the subject at least one of its layers is a
/// valid signature of (under the trust in force then), and the layer blobs sealgate read and
/// checked against their digests while verifying it. Only such a manifest is served as a
/// signature artifact, and only its `layers` are served as signature blobs; both only while the
/// subject is admitted (the proxy decides that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSubject {
    /// The manifest the signatures are about.
    pub subject: Digest,
    /// Layer blobs of the signature manifest that sealgate read while verifying it.
    pub layers: Vec<Digest>,
}

/// An OCI descriptor of a manifest whose `subject` is another manifest (OCI 1.1 referrer).
///
/// Its serde shape is the store's record shape (snake_case field names, see
/// [`crate::layout`]), not the OCI wire shape (`mediaType`, `artifactType`): the referrers
/// response is built from these fields, not by serialising this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referrer {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The referrer manifest's size in bytes.
    pub size: u64,
    /// The referrer's `artifactType` (or its config's media type, as the spec derives it).
    pub artifact_type: Option<String>,
    /// The referrer manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What a revocation names.
///
/// Stored with serde's default (externally tagged) enum shape, as part of
/// [`StoredRevocation`]: `{"Key":{"fingerprint":"…"}}` or
/// `{"Cert":{"issuer":"…","serial":"…"}}` (see [`crate::layout`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevokedSigner {
    /// A public key, by fingerprint (`sha256:<hex>` of its DER SubjectPublicKeyInfo).
    Key {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// A certificate, by issuer DN (RFC 4514 as sealgate prints it) and serial (lower-case hex,
    /// no colons or leading zeros).
    Cert {
        /// The issuer's distinguished name.
        issuer: String,
        /// The serial number.
        serial: String,
    },
}

/// A revocation recorded at runtime (by the admin API). The proxy merges these with the
/// configuration's revocations; the store keeps them as given, normalising and rejecting
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRevocation {
    /// What is revoked; at most one revocation is kept per signer.
    pub signer: RevokedSigner,
    /// Why.
    pub reason: String,
    /// When it takes effect (seconds since the epoch).
    pub at: UnixSecs,
    /// Who revoked it (the admin identity), if known.
    pub by: Option<String>,
}

/// A tag held in quarantine until its signature arrives (or it expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTag {
    /// The tag.
    pub key: PinKey,
    /// The manifest digest it would point at.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// When the quarantine ends; the tag is expired from this second on.
    pub expires_at: UnixSecs,
    /// The identity that pushed (`None` in passthrough auth).
    pub pushed_by: Option<String>,
}

/// One decision, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it was decided.
    pub at: UnixSecs,
    /// `"push"`, `"pull"`, `"signature"`, `"quarantine"`, `"promote"`, `"expire"`, `"delete"`, …
    pub action: String,
    /// `"allow"`, `"deny"`, `"warn"`, `"audit"`, …
    pub outcome: String,
    /// The upstream's name.
    pub upstream: String,
    /// The repository as requested.
    pub repository: String,
    /// The tag or digest as requested.
    pub reference: String,
    /// The manifest digest, when known.
    pub digest: Option<String>,
    /// Why.
    pub reason: String,
    /// Who asked, when known.
    pub identity: Option<String>,
    /// The signers that admitted it.
    pub signers: Vec<String>,
    /// The request id, to join with the access log.
    pub request_id: Option<String>,
}

/// An event in the audit log, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// Hash of the previous record (32 zero bytes before the first), hex.
    pub prev_hash: String,
    /// `sha256(prev_hash ‖ seq as u64 big-endian ‖ event bytes)`, hex; see [`crate::layout`].
    pub hash: String,
    /// The event.
    pub event: AuditEvent,
}

/// A replica of sealgate running on the store, as it last registered itself
/// ([`crate::Store::register_replica`]): what it runs with, so that replicas whose trust or
/// policy differ from the others' can be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaInfo {
    /// The replica's id, unique in the fleet (the key: registering it again replaces it).
    pub id: String,
    /// The sealgate version it runs.
    pub version: String,
    /// Digest of the policy in force.
    pub policy_digest: String,
    /// Digest of the trust configuration in force.
    pub trust_digest: String,
    /// When it started (seconds since the epoch).
    pub started_at: UnixSecs,
    /// When it last registered (seconds since the epoch).
    pub last_seen: UnixSecs,
}

/// The result of [`crate::Store::verify_audit`] on an intact log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Number of records verified (the last sequence number).
    pub events: u64,
    /// Hash of the last record, or of the genesis (64 zeros) when the log is empty, hex.
    /// Writing it down elsewhere lets a later check prove the log was not rewritten whole.
    pub head: String,
}

/// One raw entry of a store, as [`crate::Store::export_entries`] gives it and
/// [`crate::Store::import_entries`] takes it: a tree ([`crate::trees`]), a key and the stored
/// bytes, unchanged (the audit records and head included, so the hash chain survives a move).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntry {
    /// The tree's name, one of [`crate::trees`].
    pub tree: String,
    /// The key, as [`crate::keys`] builds it.
    pub key: Vec<u8>,
    /// The stored record.
    pub value: Vec<u8>,
}

/// What [`crate::Store::import_entries`] wrote and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries written (the source's schema version is not one: the store keeps its own).
    pub entries: u64,
    /// The audit chain as verified after the import.
    pub audit: AuditReport,
}
