//! sealgate-storage: the index behind a trait, with sled as the embedded default and PostgreSQL
//! ([`PgStore`]) for several replicas sharing one database.
//!
//! This crate owns the key layout ([`layout`]: [`trees`], [`keys`]) and the invariants about it.
//! The API is async ([`Store`] is an `async_trait`, usable as `Arc<dyn Store>`), so that a
//! backend over the network waits without holding a thread. sled's reads and transactions are
//! in-memory or page-cache fast and run inline; only its flush, which waits for the disk, runs
//! on tokio's blocking pool, so calls that write need a tokio runtime. It never
//! decides trust: it stores facts (pins, signatures seen, quarantine, which manifests list a
//! blob, referrers, the audit log) that `sealgate-policies` and the proxy evaluate against the
//! trust configuration in force.
//!
//! Guarantees every backend keeps:
//! - Only a decision pins: every write that makes a tag pullable ([`Store::pin`],
//!   [`Store::pin_clearing_pending`], [`Store::pin_batch`]) takes a [`PinRequest`], which is
//!   made only from the proof `sealgate-policies` mints for the digest it pins.
//! - A pin is create-if-absent (compare-and-swap); the pin and the audit event of the decision
//!   are written in one transaction and are durable when [`Store::pin`] returns
//!   ([`Store::pin_batch`]: a whole batch of pins and their events in one transaction). Only
//!   [`Store::retire_pin`] removes a pin, again together with its audit event.
//! - The audit log is append-only and hash-chained ([`layout`] gives the hash), so a deleted,
//!   edited or moved record, or a rolled-back head, is found by [`Store::verify_audit`].
//! - Every record carries its version; a newer binary reads an older store, and a record or
//!   store from a newer binary is refused with a typed error rather than misread.
//! - Stored bytes never cause a panic: anything undecodable is [`StorageError::Corrupt`].
//!
//! One engine implements [`Store`] over every backend (named trees of ordered keys with
//! multi-tree transactions), so sled, PostgreSQL and the in-memory test store keep these
//! guarantees the same way, and one test suite runs over all three. On PostgreSQL they hold
//! across replicas: writers take turns on a lock row, so the create-if-absent pin and the audit
//! head are decided once for the whole fleet (see [`PgStore`]).

mod codec;
mod engine;
mod error;
pub mod layout;
#[cfg(any(test, feature = "test-util"))]
mod mem_store;
mod pg_store;
mod records;
mod sled_store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use sealgate_policies::oci::{Digest, RepoName};

pub use error::{AuditError, BackendError, StorageError};
pub use layout::{keys, trees};
#[cfg(any(test, feature = "test-util"))]
pub use mem_store::MemStore;
pub use pg_store::{MAX_TX_READS, MigrationReport, PgOptions, PgStore, SslMode};
pub use records::{
    AuditEvent, AuditRecord, AuditReport, CertFacts, ImportReport, MAX_PIN_HISTORY, ManifestKind,
    PendingTag, Pin, PinKey, PinMove, PinOutcome, PinRequest, PinnedTag, Referrer, ReplicaInfo,
    RevokedSigner, SignatureFormat, SignatureRecord, SignedSubject, StoreEntry, StoredRevocation,
    UnixSecs,
};
pub use sled_store::SledStore;

/// Version of the on-disk layout this binary writes. A store with a higher version was written
/// by a newer sealgate and is refused; a lower one is migrated forward on open.
pub const SCHEMA_VERSION: u32 = 1;

/// Health information about a store, cheap to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// Schema version recorded on disk.
    pub schema_version: u32,
}

/// The operations the proxy needs from any backend (sled, PostgreSQL). No backend's type
/// appears here: errors are [`StorageError`] and [`AuditError`].
///
/// Methods that back an acknowledged response (every write) return only once their writes are
/// durable. Each call is its own transaction: two calls in a row are never one, whatever
/// backend runs them.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Proves the store answers reads and that a write reaches the disk (it writes the schema
    /// version again, unchanged, and flushes); used by `/readyz`.
    async fn health(&self) -> Result<StoreHealth, StorageError>;

    /// Pins `key` to `pin.digest()` unless it is pinned already, and appends `event` to the
    /// audit log, in one transaction, durable on return. The event is written whatever the
    /// outcome, so every decision is audited.
    ///
    /// Pinning is what makes a tag pullable, so it takes a [`PinRequest`], not a [`Pin`]: the
    /// request is made only from a gate's `PinWarrant` or an `Admitted` proof, and its digest is
    /// theirs. That is the guarantee: whatever is pinned was decided by `sealgate-policies` for
    /// exactly that digest (verified by the signers recorded, or let through unverified by a
    /// warn/audit scope, which the warrant says), and code that skips the decision does not
    /// compile. The store does not re-verify; it trusts the proof's type, not its caller.
    ///
    /// - absent: [`PinOutcome::Created`], [`PinRequest::pin`] stored as given;
    /// - pinned to the same digest: [`PinOutcome::Unchanged`], the stored pin is kept as is;
    /// - pinned to another digest and `mutable` is false: [`PinOutcome::Conflict`] with the
    ///   stored pin, which stays;
    /// - pinned to another digest and `mutable`: [`PinOutcome::Moved`]; the pin is stored with
    ///   the old pin's history plus the old digest (replaced at its `pinned_at`), capped at
    ///   [`MAX_PIN_HISTORY`].
    async fn pin(
        &self,
        key: &PinKey,
        pin: PinRequest,
        mutable: bool,
        event: AuditEvent,
    ) -> Result<(PinOutcome, AuditRecord), StorageError>;

    /// [`Store::pin`], and then, in the same transaction, removes the tag's pending
    /// (quarantine) entry if it has one, appending `cleared(&entry)` to the audit log after the
    /// pin's event. Durable on return.
    ///
    /// Whatever the outcome the tag is pinned afterwards, and a pinned tag is answered from its
    /// pin: an entry left pending would only wait to be promoted over the pin (a mutable tag) or
    /// to fail against it (an immutable one). Every place that pins a tag in the request path
    /// calls this, so an unsigned push held before a signed one cannot outlive it.
    ///
    /// (`for<'p>` is spelled out: `async_trait` would otherwise tie the elided lifetime of
    /// `&PendingTag` to the call instead of leaving the closure free over it.)
    async fn pin_clearing_pending(
        &self,
        key: &PinKey,
        pin: PinRequest,
        mutable: bool,
        event: AuditEvent,
        cleared: &(dyn for<'p> Fn(&'p PendingTag) -> AuditEvent + Send + Sync),
    ) -> Result<PinnedTag, StorageError>;

    /// Pins many tags at once: for each entry in order, what [`Store::pin`] does with
    /// `mutable = false` (create if absent; the same digest is [`PinOutcome::Unchanged`];
    /// another digest is [`PinOutcome::Conflict`] and the stored pin stays), each entry's event
    /// appended to the audit log, so the hash chain has one record per entry. Returns one
    /// outcome and record per entry, in order. A key given twice is decided against the first
    /// (as two calls to `pin` would be).
    ///
    /// For importing pins (migrating from another gate, restoring from an export), not for the
    /// request path. An import makes tags pullable as much as a push does, so each entry is a
    /// [`PinRequest`] too: pins exported by another gate are decided again here (verified, or
    /// let through by the scope's mode) before they are imported, never copied as they were.
    /// No production code imports yet; the store's tests and the benches use an unverified
    /// warrant that only their `test-util` builds can make. The whole batch is one transaction, durable on return with one flush:
    /// all of it is written or none (an error writes nothing). Pinning one at a time costs a
    /// flush per pin; a batch pays one. An empty batch writes nothing.
    ///
    /// Callers chunk: the transaction holds the store's lock while it runs, and with sled that
    /// stalls every other write *and read* of the store (sled 0.34 runs reads under the same
    /// process-wide lock once transactions are in use). Measured in `benches/README.md`:
    /// calls of 10,000 entries suit an offline import; beside a serving gate, 1,000 or fewer.
    async fn pin_batch(
        &self,
        entries: Vec<(PinKey, PinRequest, AuditEvent)>,
    ) -> Result<Vec<(PinOutcome, AuditRecord)>, StorageError>;

    /// The pin of `key`, if any.
    async fn get_pin(&self, key: &PinKey) -> Result<Option<Pin>, StorageError>;

    /// Pins of one upstream, or of one repository of it, sorted by repository and tag.
    async fn pins(
        &self,
        upstream: &str,
        repository: Option<&RepoName>,
    ) -> Result<Vec<(PinKey, Pin)>, StorageError>;

    /// Every pin of every upstream, sorted by upstream, repository and tag.
    async fn all_pins(&self) -> Result<Vec<(PinKey, Pin)>, StorageError>;

    /// Removes the pin of `key` and appends `event`, in one transaction, durable on return.
    /// `None` (and no audit record) if the tag was not pinned.
    ///
    /// This is the only way to free a tag (an administrator does it): afterwards [`Store::pin`]
    /// treats it as never pinned. The removed pin is returned whole, history included; the
    /// audit log keeps every earlier decision about the tag. A pending entry or `.sig` layers
    /// recorded under the same key are not touched.
    async fn retire_pin(
        &self,
        key: &PinKey,
        event: AuditEvent,
    ) -> Result<Option<(Pin, AuditRecord)>, StorageError>;

    /// Records a verified signature, keyed by (subject, signature manifest, layer index).
    /// Recording it again updates the other fields but keeps the first `observed_at`. Returns
    /// whether it was new. Durable on return.
    async fn record_signature(&self, record: SignatureRecord) -> Result<bool, StorageError>;

    /// Signatures recorded for `subject`, by signature manifest and layer index.
    async fn signatures(&self, subject: &Digest) -> Result<Vec<SignatureRecord>, StorageError>;

    /// Records that `manifest`, seen in `repository` of `upstream`, is a signature manifest
    /// sealgate verified for `signed.subject`, having read `signed.layers`. Recording the same
    /// manifest and subject again adds the layers not recorded yet (a fact only grows); when
    /// every layer is recorded already it writes nothing and does not flush. Returns whether
    /// the (manifest, subject) pair was new. Durable on return.
    async fn record_signature_manifest(
        &self,
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
        signed: &SignedSubject,
    ) -> Result<bool, StorageError>;

    /// What `manifest` was recorded as by [`Store::record_signature_manifest`] in exactly
    /// `repository` of `upstream` (not another upstream's, nor `a/b`'s for `a`): one entry per
    /// subject, in subject-digest order; empty when sealgate never verified it there.
    async fn signature_manifest_subjects(
        &self,
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
    ) -> Result<Vec<SignedSubject>, StorageError>;

    /// The layer digests last accepted for a cosign `.sig` tag (empty if none). The append-only
    /// check is the proxy's.
    async fn sig_tag_layers(&self, key: &PinKey) -> Result<Vec<Digest>, StorageError>;

    /// Replaces the layer digests accepted for a `.sig` tag. Durable on return.
    async fn set_sig_tag_layers(&self, key: &PinKey, layers: &[Digest])
    -> Result<(), StorageError>;

    /// Records that image index `index` lists `children`. Durable on return. When exactly these
    /// children (in any order, duplicates aside) are recorded already, it writes nothing and
    /// does not flush (pull paths call it on every index they see); other children replace the
    /// recorded ones.
    async fn record_index(&self, index: &Digest, children: &[Digest]) -> Result<(), StorageError>;

    /// The indexes recorded as listing `child`, in digest order.
    async fn indexes_containing(&self, child: &Digest) -> Result<Vec<Digest>, StorageError>;

    /// Records that `manifest` (of `kind`) lists `blobs` (config and layers). A fact, not a
    /// trust decision: content-addressed, so it never changes. Idempotent; durable on return;
    /// when every fact is already recorded it writes nothing and does not flush (pull paths
    /// call it often). Should `manifest` be recorded again with another kind, the latest kind
    /// replaces the earlier one for the blobs given.
    async fn record_blobs(
        &self,
        manifest: &Digest,
        kind: ManifestKind,
        blobs: &[Digest],
    ) -> Result<(), StorageError>;

    /// Manifests recorded as listing `blob`, in digest order, with their kind.
    async fn blob_owners(&self, blob: &Digest)
    -> Result<Vec<(Digest, ManifestKind)>, StorageError>;

    /// Records that `referrer` refers to `subject` in `repository` of `upstream`. Idempotent
    /// (recording the same referrer again changes nothing and does not flush); returns whether
    /// it was new; durable on return. A referrer with the same digest but another descriptor
    /// replaces the stored one (and is not new).
    async fn record_referrer(
        &self,
        upstream: &str,
        repository: &RepoName,
        subject: &Digest,
        referrer: Referrer,
    ) -> Result<bool, StorageError>;

    /// Referrers of `subject` in `repository` of `upstream`, in referrer-digest order. Only
    /// that upstream and exactly that repository: not another upstream's, nor `a/b`'s for `a`.
    async fn referrers(
        &self,
        upstream: &str,
        repository: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, StorageError>;

    /// Quarantines a tag (replacing any pending entry for the same key) and appends `event`,
    /// in one transaction, durable on return.
    async fn put_pending(
        &self,
        pending: PendingTag,
        event: AuditEvent,
    ) -> Result<AuditRecord, StorageError>;

    /// The pending entry of `key`, if any.
    async fn pending(&self, key: &PinKey) -> Result<Option<PendingTag>, StorageError>;

    /// Pending entries that would point at `digest`.
    async fn pending_for_digest(&self, digest: &Digest) -> Result<Vec<PendingTag>, StorageError>;

    /// Removes the pending entry of `key` and appends `event`, in one transaction, durable on
    /// return. `None` (and no audit record) if there was no entry.
    async fn remove_pending(
        &self,
        key: &PinKey,
        event: AuditEvent,
    ) -> Result<Option<(PendingTag, AuditRecord)>, StorageError>;

    /// Pending entries whose quarantine has ended: `expires_at <= now`.
    async fn expired_pending(&self, now: UnixSecs) -> Result<Vec<PendingTag>, StorageError>;

    /// Records `revocation` (replacing an earlier one of the same signer), moves the fleet's
    /// trust generation on by one ([`Store::fleet_generation`]) and appends `event`, in one
    /// transaction, durable on return. Returns whether it was new. The event is written, and
    /// the generation moves, on a replacement too.
    async fn record_revocation(
        &self,
        revocation: StoredRevocation,
        event: AuditEvent,
    ) -> Result<(bool, AuditRecord), StorageError>;

    /// The fleet's trust generation: 0 on a new store, one more after each
    /// [`Store::record_revocation`] and [`Store::bump_generation`] made by any replica on this
    /// store. A replica that reads a number other than the one its verdicts were computed under
    /// reloads its trust before serving from them.
    async fn fleet_generation(&self) -> Result<u64, StorageError>;

    /// Moves the fleet's trust generation on by one and appends `event`, in one transaction,
    /// durable on return; for a reload of the trust configuration. Returns the new generation
    /// and the audit record.
    async fn bump_generation(&self, event: AuditEvent) -> Result<(u64, AuditRecord), StorageError>;

    /// Reports drift once for the whole fleet: when the upstream tag of `key` was not seen
    /// moved to `upstream_digest` before, records that it was and appends `event`, in one
    /// transaction, durable on return, and returns true; otherwise writes nothing (no event,
    /// no flush) and returns false. Of several replicas seeing the same move, exactly one gets
    /// true. A (tag, digest) reported once stays reported, also after the tag is back in sync.
    async fn record_drift_once(
        &self,
        key: &PinKey,
        upstream_digest: &Digest,
        event: AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Registers a replica, or refreshes its record (same id): a heartbeat. Durable on return;
    /// not audited (it decides nothing).
    async fn register_replica(&self, info: ReplicaInfo) -> Result<(), StorageError>;

    /// Every registered replica, in id order, however long ago it was last seen (the reader
    /// judges staleness by `last_seen`).
    async fn replicas(&self) -> Result<Vec<ReplicaInfo>, StorageError>;

    /// Whether other processes may write this store at the same time (PostgreSQL: several
    /// replicas). A store that only one process opens (sled locks its directory) needs no
    /// fleet-wide tag leases: the process's own tag locks serialise its writers.
    fn shared(&self) -> bool;

    /// Takes the fleet-wide lease on the tag `key` for `holder` until `now_ms + ttl_ms`
    /// (milliseconds since the epoch): returns true when `holder` holds it now (it was free,
    /// expired, or already `holder`'s, whose expiry is then moved), false when another holder's
    /// lease has not expired. Durable on return; not audited (it decides nothing). A holder
    /// keeps the lease from reading a tag's pin to writing it, so replicas do not both forward
    /// a push to one tag.
    async fn acquire_tag_lease(
        &self,
        key: &PinKey,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StorageError>;

    /// Gives back `holder`'s lease on `key`; a lease held by another (ours expired and was
    /// taken) is left alone.
    async fn release_tag_lease(&self, key: &PinKey, holder: &str) -> Result<(), StorageError>;

    /// Every recorded revocation, keys first then certificates, each in key order: keys by
    /// fingerprint, certificates by issuer then serial (compared as strings).
    async fn revocations(&self) -> Result<Vec<StoredRevocation>, StorageError>;

    /// Appends `event` to the audit log; durable on return.
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StorageError>;

    /// Up to `limit` audit records with `seq > after_seq`, in order.
    async fn audit(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StorageError>;

    /// Walks the whole audit log: sequence numbers from 1 without gaps, each record at its own
    /// place, each hash matching its content and predecessor, and the head naming the last
    /// record. Records appended while it runs are left for the next check.
    async fn verify_audit(&self) -> Result<AuditReport, AuditError>;

    /// Makes every write so far durable (the write methods already do).
    async fn flush(&self) -> Result<(), StorageError>;

    /// Bytes the store occupies (on disk for sled; an estimate of the data held for MemStore).
    async fn size_on_disk(&self) -> Result<u64, StorageError>;

    /// Every entry of every tree, tree by tree in a fixed order, each in key order: the whole
    /// store, to move it to another backend ([`Store::import_entries`]). Read a page at a time
    /// outside any transaction, so export a store nothing writes to (a stopped gate) or the copy
    /// may mix two moments (the import's audit check would then refuse it).
    async fn export_entries(&self) -> Result<Vec<StoreEntry>, StorageError>;

    /// Writes an export into this store, which must be empty (nothing written but its schema
    /// version), then verifies the audit chain. Refused with [`StorageError::ImportRefused`]
    /// when the store is not empty, a tree is unknown, an entry is given twice or does not
    /// decode, the export is of a newer sealgate, or the chain does not verify after the
    /// import; nothing stays imported then. The entries are written in one transaction
    /// (durable on return); the source's schema version is checked, not copied.
    async fn import_entries(&self, entries: Vec<StoreEntry>) -> Result<ImportReport, StorageError>;
}
