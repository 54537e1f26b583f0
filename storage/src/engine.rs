//! The store's operations, written once over a small key-value interface ([`Backend`]) that sled
//! and the in-memory test store both provide. Sharing the logic is what makes `MemStore` behave
//! like `SledStore`, hash chain included. A public store type wraps an [`Engine`] of its backend
//! and implements [`EngineStore`]; the one `impl Store` here does the rest, so the backends'
//! own types (sled's errors, its transactions) stay inside their modules.
//!
//! Every write is one transaction over all trees, so a record and its indexes, or a pin and its
//! audit event and the audit head, land together or not at all; the backend flushes to disk
//! before a write method returns.
//!
//! Facts that pull paths record over and over (index children, blob owners, referrers) are
//! first looked up outside any transaction: when everything is recorded already, nothing is
//! written and nothing is flushed, and no transaction is opened (sled runs them under one
//! process-wide lock). The transaction checks again, since another writer may have got there
//! in between.

use std::collections::BTreeSet;

use sealgate_policies::oci::{Digest, RepoName};

use crate::codec::{
    self, AuditHead, BlobOwner, IndexChildren, SigTagLayers, SignatureManifestLayers, TagLease,
};
use crate::layout::keys;
use crate::layout::trees::Tree;
use crate::{
    AuditError, AuditEvent, AuditRecord, AuditReport, ImportReport, MAX_PIN_HISTORY, ManifestKind,
    PendingTag, Pin, PinKey, PinMove, PinOutcome, PinRequest, PinnedTag, Referrer, ReplicaInfo,
    RevokedSigner, SCHEMA_VERSION, SignatureRecord, SignedSubject, StorageError, Store, StoreEntry,
    StoreHealth, StoredRevocation, UnixSecs,
};

/// Records read per page when walking a whole tree.
const PAGE: usize = 512;

/// Why a transaction body stopped. The store's own type, so that any backend can run the
/// engine's transaction bodies.
#[derive(Debug)]
pub(crate) enum TxError {
    /// The operation or the backend failed (a corrupt record, an I/O error): abort the
    /// transaction with this error.
    Store(StorageError),
    /// The backend found the transaction in conflict with another: run the body again.
    Conflict,
    /// The body read a key the backend has not fetched, and the backend stops the run there (a
    /// backend over the network runs the body against the values fetched so far, and stops one
    /// that reads more keys than it may fetch). Only such a backend's [`Tx`] returns it.
    Unread,
}

/// [`TxError::Unread`] out of a body run by a backend whose [`Tx`] never returns it: the body
/// made it up, which is a bug; the transaction fails rather than loop.
#[derive(Debug, thiserror::Error)]
#[error("a transaction body reported an unread key its backend never reports")]
pub(crate) struct StrayUnread;

impl From<StrayUnread> for StorageError {
    fn from(e: StrayUnread) -> Self {
        StorageError::Io(crate::BackendError::other(e))
    }
}

impl From<StorageError> for TxError {
    fn from(e: StorageError) -> Self {
        Self::Store(e)
    }
}

/// Reads and writes inside one transaction. Reads see the transaction's own writes.
pub(crate) trait Tx {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError>;
    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), TxError>;
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError>;
}

/// Key-value pairs read by a scan, in key order.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A transaction body: reads and writes through the [`Tx`] it is given, and nothing else.
pub(crate) type TxBody<'a, R> = dyn Fn(&dyn Tx) -> Result<R, TxError> + Send + Sync + 'a;

/// A key-value store of named trees with serializable multi-tree transactions.
///
/// Async so that a backend over the network waits without holding a thread; the transaction
/// bodies and their [`Tx`] stay synchronous (see [`Backend::transaction`]).
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// One value, outside any transaction.
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Up to `limit` entries whose key starts with `prefix` and is at least `from`, in key order.
    async fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError>;

    /// Runs `body` as one serializable transaction over every tree, retrying it on conflict.
    /// Its writes are applied only if it returns `Ok`.
    ///
    /// A backend may run `body` any number of times before one run commits: sled retries it on
    /// conflict, and a backend over the network (PostgreSQL) runs it first against the keys it
    /// has fetched, answering the others as absent, to learn which keys it reads; it discards
    /// such a run whatever it returned, fetches those keys and runs the body again (or stops a
    /// run at a read it will not fetch: [`Tx::get`] fails). So every body must be a pure
    /// function of what it reads through `tx` and of its captured inputs (no side effects, no
    /// state carried from one run to the next), must never panic whatever it reads (any
    /// combination of present and absent keys), and must return every [`TxError`] that `tx`
    /// gives it unchanged, with `?`: never swallow one or map it to another error, or the
    /// backend cannot tell a retry from a failure.
    async fn transaction<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, StorageError>;

    /// Makes every committed write durable.
    async fn flush(&self) -> Result<(), StorageError>;

    /// Whether other processes write the same data (see [`Store::shared`]).
    fn shared(&self) -> bool {
        false
    }

    /// Bytes the store occupies: on disk, or for a store in memory, an estimate of the data
    /// held.
    async fn size_on_disk(&self) -> Result<u64, StorageError>;
}

/// The smallest key greater than `key`: where the next page starts.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

fn corrupt(tree: Tree, what: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        tree: tree.name(),
        what: what.into(),
    }
}

/// The store's operations over a backend.
#[derive(Debug, Clone)]
pub(crate) struct Engine<B> {
    pub(crate) backend: B,
}

impl<B: Backend> Engine<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self { backend }
    }

    /// Calls `visit` on every entry under `prefix`, a page at a time.
    async fn for_each(
        &self,
        tree: Tree,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError> + Send,
    ) -> Result<(), StorageError> {
        let mut from = prefix.to_vec();
        loop {
            let page = self.backend.scan(tree, prefix, &from, PAGE).await?;
            for (key, value) in &page {
                visit(key, value)?;
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => from = successor(last),
                _ => return Ok(()),
            }
        }
    }

    pub(crate) async fn read_schema_version(&self) -> Result<Option<u32>, StorageError> {
        let Some(raw) = self.backend.get(Tree::Meta, keys::SCHEMA_VERSION).await? else {
            return Ok(None);
        };
        decode_schema_version(&raw).map(Some)
    }

    pub(crate) async fn write_schema_version(&self) -> Result<(), StorageError> {
        self.backend
            .transaction(&|tx| tx.insert(Tree::Meta, keys::SCHEMA_VERSION, schema_version_value()))
            .await?;
        self.backend.flush().await
    }

    pub(crate) async fn read_head(&self) -> Result<AuditHead, StorageError> {
        match self.backend.get(Tree::Meta, keys::AUDIT_HEAD).await? {
            Some(raw) => codec::decode_head(&raw),
            None => Ok(AuditHead::GENESIS),
        }
    }

    /// Decodes every record and key of every tree; returns how many entries there are.
    pub(crate) async fn verify_records(&self) -> Result<u64, StorageError> {
        let mut count = 0u64;
        for tree in Tree::ALL {
            let name = tree.name();
            self.for_each(tree, &[], |key, value| {
                count += 1;
                check_entry(tree, name, key, value)
            })
            .await?;
        }
        Ok(count)
    }
}

/// A public store type: a handle on an [`Engine`] over its backend. Every such type is a
/// [`Store`] through the one impl below, so a new backend implements [`Backend`] and wraps an
/// `Engine` of it; nothing else (callers, gates) changes.
pub(crate) trait EngineStore: Send + Sync + 'static {
    /// The backend the operations run over.
    type Backend: Backend;

    /// The engine over the store's backend.
    fn engine(&self) -> &Engine<Self::Backend>;
}

/// An engine is a store of its own backend (the engine's tests run it over a counting one).
impl<B: Backend> EngineStore for Engine<B> {
    type Backend = B;

    fn engine(&self) -> &Engine<B> {
        self
    }
}

/// The store's operations, written once for every backend.
#[async_trait::async_trait]
impl<S: EngineStore> Store for S {
    async fn health(&self) -> Result<StoreHealth, StorageError> {
        let schema_version = self
            .engine()
            .read_schema_version()
            .await?
            .ok_or_else(|| corrupt(Tree::Meta, "schema version missing"))?;
        // The write probe: the version is written again, as it is, and flushed. A store that
        // reads fine but cannot write (a full disk) is not healthy.
        if schema_version == SCHEMA_VERSION {
            self.engine().write_schema_version().await?;
        }
        Ok(StoreHealth { schema_version })
    }

    // ---- pins ----------------------------------------------------------------------------

    async fn pin(
        &self,
        key: &PinKey,
        pin: PinRequest,
        mutable: bool,
        event: AuditEvent,
    ) -> Result<(PinOutcome, AuditRecord), StorageError> {
        let pin_key = keys::pin(key);
        let result = self
            .engine()
            .backend
            .transaction(&|tx| pin_in(tx, &pin_key, pin.pin(), mutable, &event))
            .await?;
        self.engine().backend.flush().await?;
        Ok(result)
    }

    async fn pin_clearing_pending(
        &self,
        key: &PinKey,
        pin: PinRequest,
        mutable: bool,
        event: AuditEvent,
        cleared: &(dyn for<'p> Fn(&'p PendingTag) -> AuditEvent + Send + Sync),
    ) -> Result<PinnedTag, StorageError> {
        let pin_key = keys::pin(key);
        let result = self
            .engine()
            .backend
            .transaction(&|tx| {
                let (outcome, record) = pin_in(tx, &pin_key, pin.pin(), mutable, &event)?;
                let cleared = remove_pending_in(tx, &pin_key, cleared)?;
                Ok(PinnedTag {
                    outcome,
                    record,
                    cleared,
                })
            })
            .await?;
        self.engine().backend.flush().await?;
        Ok(result)
    }

    /// [`Store::pin`] with `mutable = false` for every entry, in order, in one transaction and
    /// with one flush. An empty batch opens no transaction and does not flush.
    async fn pin_batch(
        &self,
        entries: Vec<(PinKey, PinRequest, AuditEvent)>,
    ) -> Result<Vec<(PinOutcome, AuditRecord)>, StorageError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<(Vec<u8>, PinRequest, AuditEvent)> = entries
            .into_iter()
            .map(|(key, pin, event)| (keys::pin(&key), pin, event))
            .collect();
        let results = self
            .engine()
            .backend
            .transaction(&|tx| {
                entries
                    .iter()
                    .map(|(pin_key, pin, event)| pin_in(tx, pin_key, pin.pin(), false, event))
                    .collect()
            })
            .await?;
        self.engine().backend.flush().await?;
        Ok(results)
    }

    async fn get_pin(&self, key: &PinKey) -> Result<Option<Pin>, StorageError> {
        self.engine()
            .backend
            .get(Tree::Pins, &keys::pin(key))
            .await?
            .map(|raw| codec::decode(Tree::Pins, &raw))
            .transpose()
    }

    async fn pins(
        &self,
        upstream: &str,
        repository: Option<&RepoName>,
    ) -> Result<Vec<(PinKey, Pin)>, StorageError> {
        let prefix = match repository {
            Some(repository) => keys::repository_prefix(upstream, repository),
            None => keys::upstream_prefix(upstream),
        };
        let mut out = Vec::new();
        self.engine()
            .for_each(Tree::Pins, &prefix, |key, value| {
                out.push((
                    keys::parse_pin(Tree::Pins.name(), key)?,
                    codec::decode(Tree::Pins, value)?,
                ));
                Ok(())
            })
            .await?;
        out.sort_by(|(a, _), (b, _)| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        Ok(out)
    }

    /// Every pin: one walk of the whole tree. The admin API lists pins and computes a
    /// revocation's reach with it; the proxy's hot paths never call it.
    async fn all_pins(&self) -> Result<Vec<(PinKey, Pin)>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(Tree::Pins, &[], |key, value| {
                out.push((
                    keys::parse_pin(Tree::Pins.name(), key)?,
                    codec::decode(Tree::Pins, value)?,
                ));
                Ok(())
            })
            .await?;
        // Keys sort by component length first (`b` before `aa`); answer in name order.
        out.sort_by(|(a, _), (b, _)| {
            (&a.upstream, &a.repository, &a.tag).cmp(&(&b.upstream, &b.repository, &b.tag))
        });
        Ok(out)
    }

    async fn retire_pin(
        &self,
        key: &PinKey,
        event: AuditEvent,
    ) -> Result<Option<(Pin, AuditRecord)>, StorageError> {
        let pin_key = keys::pin(key);
        let removed = self
            .engine()
            .backend
            .transaction(&|tx| {
                let Some(raw) = tx.get(Tree::Pins, &pin_key)? else {
                    // Nothing to retire: nothing is decided, so nothing is audited.
                    return Ok(None);
                };
                // Decoded, not just removed: the caller gets the pin it retired, and bytes that are
                // not a pin are reported rather than silently dropped.
                let pin = codec::decode::<Pin>(Tree::Pins, &raw)?;
                tx.remove(Tree::Pins, &pin_key)?;
                let record = append_audit_in(tx, &event)?;
                Ok(Some((pin, record)))
            })
            .await?;
        if removed.is_some() {
            self.engine().backend.flush().await?;
        }
        Ok(removed)
    }

    // ---- signatures ----------------------------------------------------------------------

    async fn record_signature(&self, record: SignatureRecord) -> Result<bool, StorageError> {
        let key = keys::signature(
            &record.subject,
            &record.signature_manifest,
            record.layer_index,
        );
        let (new, written) = self
            .engine()
            .backend
            .transaction(&|tx| {
                let mut stored = record.clone();
                let existing = match tx.get(Tree::Signatures, &key)? {
                    Some(raw) => Some(codec::decode_signature(&raw)?),
                    None => None,
                };
                if let Some(existing) = &existing {
                    // First sight is a fact about the past; a re-record cannot move it.
                    stored.observed_at = existing.observed_at;
                    if *existing == stored {
                        return Ok((false, false));
                    }
                }
                tx.insert(Tree::Signatures, &key, codec::encode_signature(&stored)?)?;
                Ok((existing.is_none(), true))
            })
            .await?;
        if written {
            self.engine().backend.flush().await?;
        }
        Ok(new)
    }

    async fn signatures(&self, subject: &Digest) -> Result<Vec<SignatureRecord>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(
                Tree::Signatures,
                &keys::signatures_of(subject),
                |_, value| {
                    out.push(codec::decode_signature(value)?);
                    Ok(())
                },
            )
            .await?;
        Ok(out)
    }

    async fn sig_tag_layers(&self, key: &PinKey) -> Result<Vec<Digest>, StorageError> {
        Ok(
            match self
                .engine()
                .backend
                .get(Tree::SigTags, &keys::pin(key))
                .await?
            {
                Some(raw) => codec::decode::<SigTagLayers>(Tree::SigTags, &raw)?.layers,
                None => Vec::new(),
            },
        )
    }

    async fn set_sig_tag_layers(
        &self,
        key: &PinKey,
        layers: &[Digest],
    ) -> Result<(), StorageError> {
        let value = codec::encode(
            Tree::SigTags,
            &SigTagLayers {
                layers: layers.to_vec(),
            },
        )?;
        let key = keys::pin(key);
        self.engine()
            .backend
            .transaction(&|tx| tx.insert(Tree::SigTags, &key, value.clone()))
            .await?;
        self.engine().backend.flush().await
    }

    // ---- verified signature manifests -----------------------------------------------------

    async fn record_signature_manifest(
        &self,
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
        signed: &SignedSubject,
    ) -> Result<bool, StorageError> {
        let key = keys::signature_manifest(upstream, repository, manifest, &signed.subject);
        let stored = |raw: Option<Vec<u8>>| -> Result<Option<BTreeSet<Digest>>, StorageError> {
            raw.map(|raw| {
                codec::decode::<SignatureManifestLayers>(Tree::SignatureManifests, &raw)
                    .map(|l| l.layers.into_iter().collect())
            })
            .transpose()
        };
        let covers = |recorded: &Option<BTreeSet<Digest>>| {
            recorded
                .as_ref()
                .is_some_and(|r| signed.layers.iter().all(|l| r.contains(l)))
        };
        // Pull paths record what they verify on every first pull: skip the transaction when
        // nothing is new.
        if covers(&stored(
            self.engine()
                .backend
                .get(Tree::SignatureManifests, &key)
                .await?,
        )?) {
            return Ok(false);
        }
        let (new, written) = self
            .engine()
            .backend
            .transaction(&|tx| {
                let existing = stored(tx.get(Tree::SignatureManifests, &key)?)?;
                if covers(&existing) {
                    return Ok((false, false));
                }
                let new = existing.is_none();
                let mut layers = existing.unwrap_or_default();
                layers.extend(signed.layers.iter().cloned());
                let value = codec::encode(
                    Tree::SignatureManifests,
                    &SignatureManifestLayers {
                        layers: layers.into_iter().collect(),
                    },
                )?;
                tx.insert(Tree::SignatureManifests, &key, value)?;
                Ok((new, true))
            })
            .await?;
        if written {
            self.engine().backend.flush().await?;
        }
        Ok(new)
    }

    async fn signature_manifest_subjects(
        &self,
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
    ) -> Result<Vec<SignedSubject>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(
                Tree::SignatureManifests,
                &keys::signature_manifest_prefix(upstream, repository, manifest),
                |key, value| {
                    out.push(decode_signed_subject(key, value)?);
                    Ok(())
                },
            )
            .await?;
        // Keys sort by length first (sha256 before sha512); answer in digest order.
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(out)
    }

    // ---- indexes -------------------------------------------------------------------------

    async fn record_index(&self, index: &Digest, children: &[Digest]) -> Result<(), StorageError> {
        let children: Vec<Digest> = {
            // One entry per child, in a stable order.
            let unique: BTreeSet<&Digest> = children.iter().collect();
            unique.into_iter().cloned().collect()
        };
        let forward_key = keys::index_children(index);
        // The stored children, if any, and whether they are exactly `children`.
        let stored = |raw: Option<Vec<u8>>| -> Result<Option<(IndexChildren, bool)>, StorageError> {
            let Some(raw) = raw else { return Ok(None) };
            let old = codec::decode::<IndexChildren>(Tree::IndexChildren, &raw)?;
            let same = old.children.iter().collect::<BTreeSet<_>>()
                == children.iter().collect::<BTreeSet<_>>();
            Ok(Some((old, same)))
        };
        // The forward record and its reverse entries are written in one transaction, so an
        // identical forward record means the reverse entries are there too.
        if let Some((_, true)) = stored(
            self.engine()
                .backend
                .get(Tree::IndexChildren, &forward_key)
                .await?,
        )? {
            return Ok(());
        }
        let value = codec::encode(
            Tree::IndexChildren,
            &IndexChildren {
                children: children.clone(),
            },
        )?;
        let written = self
            .engine()
            .backend
            .transaction(&|tx| {
                // An index is content-addressed, so its children never change; should a caller
                // record different ones anyway, the reverse entries follow the latest record.
                match stored(tx.get(Tree::IndexChildren, &forward_key)?)? {
                    Some((_, true)) => return Ok(false),
                    Some((old, false)) => {
                        for child in old.children.iter().filter(|c| !children.contains(c)) {
                            tx.remove(Tree::IndexParents, &keys::index_parent(child, index))?;
                        }
                    }
                    None => {}
                }
                tx.insert(Tree::IndexChildren, &forward_key, value.clone())?;
                for child in &children {
                    tx.insert(
                        Tree::IndexParents,
                        &keys::index_parent(child, index),
                        Vec::new(),
                    )?;
                }
                Ok(true)
            })
            .await?;
        if written {
            self.engine().backend.flush().await?;
        }
        Ok(())
    }

    async fn indexes_containing(&self, child: &Digest) -> Result<Vec<Digest>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(
                Tree::IndexParents,
                &keys::index_parents_of(child),
                |key, _| {
                    out.push(keys::parse_index_parent(Tree::IndexParents.name(), key)?.1);
                    Ok(())
                },
            )
            .await?;
        // Keys sort by length first (sha256 before sha512); answer in digest order.
        out.sort();
        Ok(out)
    }

    // ---- blob owners ---------------------------------------------------------------------

    async fn record_blobs(
        &self,
        manifest: &Digest,
        kind: ManifestKind,
        blobs: &[Digest],
    ) -> Result<(), StorageError> {
        // One key per blob, in a stable order.
        let blob_keys: Vec<Vec<u8>> = blobs
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|blob| keys::blob_owner(blob, manifest))
            .collect();
        let recorded = |raw: Option<Vec<u8>>| -> Result<bool, StorageError> {
            match raw {
                Some(raw) => Ok(codec::decode::<BlobOwner>(Tree::BlobOwners, &raw)?.kind == kind),
                None => Ok(false),
            }
        };
        // Facts are never removed, so one recorded now stays recorded.
        let mut missing = Vec::new();
        for key in &blob_keys {
            if !recorded(self.engine().backend.get(Tree::BlobOwners, key).await?)? {
                missing.push(key);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let value = codec::encode(Tree::BlobOwners, &BlobOwner { kind })?;
        let written = self
            .engine()
            .backend
            .transaction(&|tx| {
                let mut written = false;
                for key in &missing {
                    // A manifest is content-addressed, so its kind should not change; should a
                    // caller classify it differently anyway, the latest record wins.
                    if !recorded(tx.get(Tree::BlobOwners, key)?)? {
                        tx.insert(Tree::BlobOwners, key, value.clone())?;
                        written = true;
                    }
                }
                Ok(written)
            })
            .await?;
        if written {
            self.engine().backend.flush().await?;
        }
        Ok(())
    }

    async fn blob_owners(
        &self,
        blob: &Digest,
    ) -> Result<Vec<(Digest, ManifestKind)>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(
                Tree::BlobOwners,
                &keys::blob_owners_of(blob),
                |key, value| {
                    let (_, manifest) = keys::parse_blob_owner(Tree::BlobOwners.name(), key)?;
                    let owner = codec::decode::<BlobOwner>(Tree::BlobOwners, value)?;
                    out.push((manifest, owner.kind));
                    Ok(())
                },
            )
            .await?;
        // Keys sort by length first (sha256 before sha512); answer in digest order.
        out.sort_by(|(a, _), (b, _)| a.cmp(b));
        Ok(out)
    }

    // ---- referrers -----------------------------------------------------------------------

    async fn record_referrer(
        &self,
        upstream: &str,
        repository: &RepoName,
        subject: &Digest,
        referrer: Referrer,
    ) -> Result<bool, StorageError> {
        let key = keys::referrer(upstream, repository, subject, &referrer.digest);
        let stored = |raw: Option<Vec<u8>>| -> Result<Option<Referrer>, StorageError> {
            raw.map(|raw| codec::decode::<Referrer>(Tree::Referrers, &raw))
                .transpose()
        };
        if stored(self.engine().backend.get(Tree::Referrers, &key).await?)?.as_ref()
            == Some(&referrer)
        {
            return Ok(false);
        }
        let value = codec::encode(Tree::Referrers, &referrer)?;
        let (new, written) = self
            .engine()
            .backend
            .transaction(&|tx| {
                let existing = stored(tx.get(Tree::Referrers, &key)?)?;
                if existing.as_ref() == Some(&referrer) {
                    return Ok((false, false));
                }
                // A referrer is content-addressed, so its descriptor should not change; should a
                // caller describe it differently anyway, the latest record wins.
                tx.insert(Tree::Referrers, &key, value.clone())?;
                Ok((existing.is_none(), true))
            })
            .await?;
        if written {
            self.engine().backend.flush().await?;
        }
        Ok(new)
    }

    async fn referrers(
        &self,
        upstream: &str,
        repository: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(
                Tree::Referrers,
                &keys::referrers_of(upstream, repository, subject),
                |key, value| {
                    out.push(decode_referrer(Tree::Referrers.name(), key, value)?);
                    Ok(())
                },
            )
            .await?;
        // Keys sort by length first (sha256 before sha512); answer in digest order.
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    // ---- quarantine ----------------------------------------------------------------------

    async fn put_pending(
        &self,
        pending: PendingTag,
        event: AuditEvent,
    ) -> Result<AuditRecord, StorageError> {
        let key = keys::pin(&pending.key);
        let value = codec::encode(Tree::Pending, &pending)?;
        let record = self
            .engine()
            .backend
            .transaction(&|tx| {
                if let Some(raw) = tx.get(Tree::Pending, &key)? {
                    let old = codec::decode::<PendingTag>(Tree::Pending, &raw)?;
                    tx.remove(
                        Tree::PendingByDigest,
                        &keys::pending_by_digest(&old.digest, &old.key),
                    )?;
                }
                tx.insert(Tree::Pending, &key, value.clone())?;
                tx.insert(
                    Tree::PendingByDigest,
                    &keys::pending_by_digest(&pending.digest, &pending.key),
                    Vec::new(),
                )?;
                append_audit_in(tx, &event)
            })
            .await?;
        self.engine().backend.flush().await?;
        Ok(record)
    }

    async fn pending(&self, key: &PinKey) -> Result<Option<PendingTag>, StorageError> {
        self.engine()
            .backend
            .get(Tree::Pending, &keys::pin(key))
            .await?
            .map(|raw| codec::decode(Tree::Pending, &raw))
            .transpose()
    }

    async fn pending_for_digest(&self, digest: &Digest) -> Result<Vec<PendingTag>, StorageError> {
        let mut keys_found = Vec::new();
        self.engine()
            .for_each(
                Tree::PendingByDigest,
                &keys::pending_by_digest_prefix(digest),
                |key, _| {
                    keys_found
                        .push(keys::parse_pending_by_digest(Tree::PendingByDigest.name(), key)?.1);
                    Ok(())
                },
            )
            .await?;
        let mut out = Vec::new();
        for key in keys_found {
            // Read outside a transaction: the tag may have been removed or re-pointed since the
            // index was read. Only what is pending for this digest now is returned.
            if let Some(pending) = self.pending(&key).await?
                && pending.digest == *digest
            {
                out.push(pending);
            }
        }
        Ok(out)
    }

    async fn remove_pending(
        &self,
        key: &PinKey,
        event: AuditEvent,
    ) -> Result<Option<(PendingTag, AuditRecord)>, StorageError> {
        let pin_key = keys::pin(key);
        let removed = self
            .engine()
            .backend
            .transaction(&|tx| remove_pending_in(tx, &pin_key, &|_| event.clone()))
            .await?;
        if removed.is_some() {
            self.engine().backend.flush().await?;
        }
        Ok(removed)
    }

    /// Pending tags whose quarantine has ended (`expires_at <= now`). Scans every pending tag:
    /// quarantine is short-lived, so the set stays small.
    async fn expired_pending(&self, now: UnixSecs) -> Result<Vec<PendingTag>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(Tree::Pending, &[], |_, value| {
                let pending: PendingTag = codec::decode(Tree::Pending, value)?;
                if pending.expires_at <= now {
                    out.push(pending);
                }
                Ok(())
            })
            .await?;
        Ok(out)
    }

    // ---- revocations ---------------------------------------------------------------------

    async fn record_revocation(
        &self,
        revocation: StoredRevocation,
        event: AuditEvent,
    ) -> Result<(bool, AuditRecord), StorageError> {
        let key = keys::revocation(&revocation.signer);
        let value = codec::encode(Tree::Revocations, &revocation)?;
        let result = self
            .engine()
            .backend
            .transaction(&|tx| {
                let new = match tx.get(Tree::Revocations, &key)? {
                    // The earlier record is replaced whole, but it must be one: bytes that are not a
                    // revocation are reported, not overwritten unseen.
                    Some(raw) => {
                        decode_revocation(Tree::Revocations.name(), &key, &raw)?;
                        false
                    }
                    None => true,
                };
                tx.insert(Tree::Revocations, &key, value.clone())?;
                // Every replica's trust is stale now, also after a restated revocation (its
                // reason or time may have changed).
                bump_generation_in(tx)?;
                // Every revocation is audited, including one that only restates an earlier one.
                let record = append_audit_in(tx, &event)?;
                Ok((new, record))
            })
            .await?;
        self.engine().backend.flush().await?;
        Ok(result)
    }

    // ---- fleet ---------------------------------------------------------------------------

    async fn fleet_generation(&self) -> Result<u64, StorageError> {
        match self
            .engine()
            .backend
            .get(Tree::Fleet, keys::FLEET_GENERATION)
            .await?
        {
            Some(raw) => decode_generation(&raw),
            None => Ok(0),
        }
    }

    async fn bump_generation(&self, event: AuditEvent) -> Result<(u64, AuditRecord), StorageError> {
        let result = self
            .engine()
            .backend
            .transaction(&|tx| {
                let generation = bump_generation_in(tx)?;
                Ok((generation, append_audit_in(tx, &event)?))
            })
            .await?;
        self.engine().backend.flush().await?;
        Ok(result)
    }

    async fn record_drift_once(
        &self,
        key: &PinKey,
        upstream_digest: &Digest,
        event: AuditEvent,
    ) -> Result<bool, StorageError> {
        let report = keys::drift_report(key, upstream_digest);
        // Every replica checking the tag sees the move: most find it reported already, without
        // a transaction.
        if self
            .engine()
            .backend
            .get(Tree::DriftReports, &report)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let new = self
            .engine()
            .backend
            .transaction(&|tx| {
                if tx.get(Tree::DriftReports, &report)?.is_some() {
                    return Ok(false);
                }
                tx.insert(Tree::DriftReports, &report, Vec::new())?;
                append_audit_in(tx, &event)?;
                Ok(true)
            })
            .await?;
        if new {
            self.engine().backend.flush().await?;
        }
        Ok(new)
    }

    async fn register_replica(&self, info: ReplicaInfo) -> Result<(), StorageError> {
        let key = keys::replica(&info.id);
        let value = codec::encode(Tree::Replicas, &info)?;
        self.engine()
            .backend
            .transaction(&|tx| tx.insert(Tree::Replicas, &key, value.clone()))
            .await?;
        self.engine().backend.flush().await
    }

    fn shared(&self) -> bool {
        self.engine().backend.shared()
    }

    async fn acquire_tag_lease(
        &self,
        key: &PinKey,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StorageError> {
        let lease_key = keys::pin(key);
        let mine = codec::encode(
            Tree::TagLeases,
            &TagLease {
                holder: holder.to_owned(),
                expires_at_ms: now_ms.saturating_add(ttl_ms),
            },
        )?;
        let taken = self
            .engine()
            .backend
            .transaction(&|tx| {
                if let Some(raw) = tx.get(Tree::TagLeases, &lease_key)? {
                    let held: TagLease = codec::decode(Tree::TagLeases, &raw)?;
                    if held.holder != holder && held.expires_at_ms > now_ms {
                        return Ok(false);
                    }
                }
                tx.insert(Tree::TagLeases, &lease_key, mine.clone())?;
                Ok(true)
            })
            .await?;
        if taken {
            self.engine().backend.flush().await?;
        }
        Ok(taken)
    }

    async fn release_tag_lease(&self, key: &PinKey, holder: &str) -> Result<(), StorageError> {
        let lease_key = keys::pin(key);
        let released = self
            .engine()
            .backend
            .transaction(&|tx| {
                let Some(raw) = tx.get(Tree::TagLeases, &lease_key)? else {
                    return Ok(false);
                };
                let held: TagLease = codec::decode(Tree::TagLeases, &raw)?;
                if held.holder != holder {
                    return Ok(false);
                }
                tx.remove(Tree::TagLeases, &lease_key)?;
                Ok(true)
            })
            .await?;
        if released {
            self.engine().backend.flush().await?;
        }
        Ok(())
    }

    async fn replicas(&self) -> Result<Vec<ReplicaInfo>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(Tree::Replicas, &[], |key, value| {
                out.push(decode_replica(Tree::Replicas.name(), key, value)?);
                Ok(())
            })
            .await?;
        // Keys sort by length first; answer in id order.
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Every revocation: one walk of the whole tree, which stays small (revocations are rare,
    /// made by hand).
    async fn revocations(&self) -> Result<Vec<StoredRevocation>, StorageError> {
        let mut out = Vec::new();
        self.engine()
            .for_each(Tree::Revocations, &[], |key, value| {
                out.push(decode_revocation(Tree::Revocations.name(), key, value)?);
                Ok(())
            })
            .await?;
        // Keys sort by component length first; answer keys first, then certificates, each in
        // string order of what names them.
        out.sort_by(|a, b| revocation_order(&a.signer).cmp(&revocation_order(&b.signer)));
        Ok(out)
    }

    // ---- audit ---------------------------------------------------------------------------

    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StorageError> {
        let record = self
            .engine()
            .backend
            .transaction(&|tx| append_audit_in(tx, &event))
            .await?;
        self.engine().backend.flush().await?;
        Ok(record)
    }

    async fn audit(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StorageError> {
        let Some(first) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let page = self
            .engine()
            .backend
            .scan(Tree::Audit, &[], &keys::audit(first), limit)
            .await?;
        page.into_iter()
            .map(|(key, value)| {
                let seq = keys::parse_audit(&key)
                    .ok_or_else(|| corrupt(Tree::Audit, "a key is not a sequence number"))?;
                let stored = codec::decode_audit(&value)?;
                if stored.seq != seq {
                    return Err(corrupt(
                        Tree::Audit,
                        format!("record at {seq} says it is {}", stored.seq),
                    ));
                }
                stored.into_record()
            })
            .collect()
    }

    /// Verifies the chain up to the head read at the start, so that appends running at the same
    /// time neither fail the check nor get half-checked.
    async fn verify_audit(&self) -> Result<AuditReport, AuditError> {
        let head = self.engine().read_head().await?;
        let mut expected = 1u64;
        let mut prev = codec::GENESIS;
        // From the very first key, so that stray keys before record 1 are seen too.
        let mut from = Vec::new();
        'pages: while expected <= head.seq {
            let page = self
                .engine()
                .backend
                .scan(Tree::Audit, &[], &from, PAGE)
                .await?;
            for (key, value) in &page {
                let Some(seq) = keys::parse_audit(key) else {
                    return Err(AuditError::Corrupt {
                        seq: expected,
                        what: format!("a key of {} bytes is not a sequence number", key.len()),
                    });
                };
                if seq > head.seq {
                    break 'pages;
                }
                if seq < expected {
                    return Err(AuditError::Corrupt {
                        seq,
                        what: "a record before the first sequence number".to_owned(),
                    });
                }
                if seq != expected {
                    return Err(AuditError::Gap {
                        expected,
                        found: seq,
                    });
                }
                let stored = codec::decode_audit(value).map_err(|e| audit_decode_error(seq, e))?;
                if stored.seq != seq {
                    return Err(AuditError::Reordered {
                        seq,
                        found: stored.seq,
                    });
                }
                // The hash over the stored bytes first: an edited byte is an edit even when
                // it also breaks the event's decoding.
                if !stored.hash_matches(&prev, seq) {
                    return Err(AuditError::Edited { seq });
                }
                stored.event().map_err(|e| audit_decode_error(seq, e))?;
                prev = stored.hash;
                expected += 1;
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => from = successor(last),
                _ => break,
            }
        }
        if expected <= head.seq || prev != head.hash {
            // Records the head accounts for are missing at the end, or the last one is not
            // the one the head names.
            return Err(AuditError::HeadMismatch);
        }
        // A record past the head is legitimate only if it was appended while this ran, in which
        // case the head has moved on (record and head are written in one transaction).
        let beyond = self
            .engine()
            .backend
            .scan(Tree::Audit, &[], &successor(&keys::audit(head.seq)), 1)
            .await?;
        if !beyond.is_empty() && self.engine().read_head().await? == head {
            return Err(AuditError::HeadMismatch);
        }
        Ok(AuditReport {
            events: head.seq,
            head: hex::encode(head.hash),
        })
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.engine().backend.flush().await
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.engine().backend.size_on_disk().await
    }

    async fn export_entries(&self) -> Result<Vec<StoreEntry>, StorageError> {
        let mut entries = Vec::new();
        for tree in Tree::ALL {
            self.engine()
                .for_each(tree, &[], |key, value| {
                    entries.push(StoreEntry {
                        tree: tree.name().to_owned(),
                        key: key.to_vec(),
                        value: value.to_vec(),
                    });
                    Ok(())
                })
                .await?;
        }
        Ok(entries)
    }

    async fn import_entries(&self, entries: Vec<StoreEntry>) -> Result<ImportReport, StorageError> {
        let engine = self.engine();
        let writes = import_writes(entries)?;
        for tree in Tree::ALL {
            let present = engine.backend.scan(tree, &[], &[], 2).await?;
            if present
                .iter()
                .any(|(key, _)| tree != Tree::Meta || key != keys::SCHEMA_VERSION)
            {
                return Err(StorageError::ImportRefused(format!(
                    "the store is not empty (tree {} has entries)",
                    tree.name()
                )));
            }
        }
        engine
            .backend
            .transaction(&|tx| {
                // A writer that got in since the check above appended to the audit log.
                if tx.get(Tree::Meta, keys::AUDIT_HEAD)?.is_some() {
                    return Err(StorageError::ImportRefused(
                        "the store was written to while importing".to_owned(),
                    )
                    .into());
                }
                for (tree, key, value) in &writes {
                    tx.insert(*tree, key, value.clone())?;
                }
                Ok(())
            })
            .await?;
        engine.backend.flush().await?;
        match self.verify_audit().await {
            Ok(audit) => Ok(ImportReport {
                entries: writes.len() as u64,
                audit,
            }),
            Err(e) => {
                // Undone, so that the store is empty again and the import can be retried.
                engine
                    .backend
                    .transaction(&|tx| {
                        for (tree, key, _) in &writes {
                            tx.remove(*tree, key)?;
                        }
                        Ok(())
                    })
                    .await?;
                engine.backend.flush().await?;
                Err(StorageError::ImportRefused(format!(
                    "the audit chain does not verify: {e}"
                )))
            }
        }
    }
}

/// An entry to import: its tree, key and value.
type ImportWrite = (Tree, Vec<u8>, Vec<u8>);

/// The entries of an export as writes: each tree known, each entry decoding as
/// [`Engine::verify_records`] would decode it, none given twice, the source's schema version
/// not newer than this binary's (and not written: the store keeps its own).
fn import_writes(entries: Vec<StoreEntry>) -> Result<Vec<ImportWrite>, StorageError> {
    let refused = StorageError::ImportRefused;
    let mut seen = BTreeSet::new();
    let mut writes = Vec::with_capacity(entries.len());
    for StoreEntry { tree, key, value } in entries {
        let Some(known) = Tree::ALL.into_iter().find(|t| t.name() == tree) else {
            return Err(refused(format!("unknown tree {tree:?}")));
        };
        check_entry(known, known.name(), &key, &value)
            .map_err(|e| refused(format!("an entry does not decode: {e}")))?;
        if !seen.insert((known.index(), key.clone())) {
            return Err(refused(format!("a key of tree {tree} is given twice")));
        }
        if known == Tree::Meta && key == keys::SCHEMA_VERSION {
            let found = decode_schema_version(&value)?;
            if found > SCHEMA_VERSION {
                return Err(refused(format!(
                    "the export has schema version {found}, newer than this binary's \
                     {SCHEMA_VERSION}"
                )));
            }
            continue;
        }
        writes.push((known, key, value));
    }
    Ok(writes)
}

/// [`SCHEMA_VERSION`] as the `meta` tree stores it.
pub(crate) fn schema_version_value() -> Vec<u8> {
    SCHEMA_VERSION.to_be_bytes().to_vec()
}

pub(crate) fn decode_schema_version(raw: &[u8]) -> Result<u32, StorageError> {
    let bytes: [u8; 4] = raw.try_into().map_err(|_| {
        corrupt(
            Tree::Meta,
            format!("schema version is {} bytes, expected 4", raw.len()),
        )
    })?;
    Ok(u32::from_be_bytes(bytes))
}

/// The fleet's trust generation as stored: a `u64`, big-endian.
fn decode_generation(raw: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| {
        corrupt(
            Tree::Fleet,
            format!("the generation is {} bytes, expected 8", raw.len()),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// A replica's record, checked against the id its key names.
fn decode_replica(
    name: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<ReplicaInfo, StorageError> {
    let id = keys::parse_replica(name, key)?;
    let info = codec::decode::<ReplicaInfo>(Tree::Replicas, value)?;
    if info.id != id {
        return Err(corrupt(Tree::Replicas, "record does not match its key"));
    }
    Ok(info)
}

/// A revocation record, checked against the signer its key names.
fn decode_revocation(
    name: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<StoredRevocation, StorageError> {
    let signer = keys::parse_revocation(name, key)?;
    let revocation = codec::decode::<StoredRevocation>(Tree::Revocations, value)?;
    if revocation.signer != signer {
        return Err(corrupt(Tree::Revocations, "record does not match its key"));
    }
    Ok(revocation)
}

/// Where a revocation comes in [`crate::Store::revocations`]: keys, then certificates.
fn revocation_order(signer: &RevokedSigner) -> (u8, &str, &str) {
    match signer {
        RevokedSigner::Key { fingerprint } => (0, fingerprint, ""),
        RevokedSigner::Cert { issuer, serial } => (1, issuer, serial),
    }
}

/// A referrer record, checked against the digest its key names.
fn decode_referrer(name: &'static str, key: &[u8], value: &[u8]) -> Result<Referrer, StorageError> {
    let key = keys::parse_referrer(name, key)?;
    let referrer = codec::decode::<Referrer>(Tree::Referrers, value)?;
    if referrer.digest != key.referrer {
        return Err(corrupt(Tree::Referrers, "record does not match its key"));
    }
    Ok(referrer)
}

/// A verified signature manifest's record, with the subject its key names.
fn decode_signed_subject(key: &[u8], value: &[u8]) -> Result<SignedSubject, StorageError> {
    let key = keys::parse_signature_manifest(Tree::SignatureManifests.name(), key)?;
    let layers = codec::decode::<SignatureManifestLayers>(Tree::SignatureManifests, value)?.layers;
    Ok(SignedSubject {
        subject: key.subject,
        layers,
    })
}

/// One entry of `tree`, decoded and cross-checked against its key.
fn check_entry(
    tree: Tree,
    name: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<(), StorageError> {
    let expect_empty = |what: &str| {
        if value.is_empty() {
            Ok(())
        } else {
            Err(corrupt(tree, format!("{what} entry has a value")))
        }
    };
    match tree {
        Tree::Meta if key == keys::SCHEMA_VERSION => decode_schema_version(value).map(drop),
        Tree::Meta if key == keys::AUDIT_HEAD => codec::decode_head(value).map(drop),
        Tree::Meta => Err(corrupt(
            tree,
            format!("unknown key {:?}", String::from_utf8_lossy(key)),
        )),
        Tree::Pins => {
            keys::parse_pin(name, key)?;
            codec::decode::<Pin>(tree, value).map(drop)
        }
        Tree::Signatures => {
            let (subject, manifest, index) = keys::parse_signature(name, key)?;
            let record = codec::decode_signature(value)?;
            if (
                record.subject,
                record.signature_manifest,
                record.layer_index,
            ) != (subject, manifest, index)
            {
                return Err(corrupt(tree, "record does not match its key"));
            }
            Ok(())
        }
        Tree::SigTags => {
            keys::parse_pin(name, key)?;
            codec::decode::<SigTagLayers>(tree, value).map(drop)
        }
        Tree::IndexChildren => {
            keys::parse_digest(name, key)?;
            codec::decode::<IndexChildren>(tree, value).map(drop)
        }
        Tree::IndexParents => {
            keys::parse_index_parent(name, key)?;
            expect_empty("an index relation")
        }
        Tree::BlobOwners => {
            keys::parse_blob_owner(name, key)?;
            codec::decode::<BlobOwner>(tree, value).map(drop)
        }
        Tree::Referrers => decode_referrer(name, key, value).map(drop),
        Tree::Pending => {
            let pin_key = keys::parse_pin(name, key)?;
            let pending = codec::decode::<PendingTag>(tree, value)?;
            if pending.key != pin_key {
                return Err(corrupt(tree, "record does not match its key"));
            }
            Ok(())
        }
        Tree::PendingByDigest => {
            keys::parse_pending_by_digest(name, key)?;
            expect_empty("a pending index")
        }
        Tree::Revocations => decode_revocation(name, key, value).map(drop),
        Tree::SignatureManifests => decode_signed_subject(key, value).map(drop),
        Tree::Fleet if key == keys::FLEET_GENERATION => decode_generation(value).map(drop),
        Tree::Fleet => Err(corrupt(
            tree,
            format!("unknown key {:?}", String::from_utf8_lossy(key)),
        )),
        Tree::DriftReports => {
            keys::parse_drift_report(name, key)?;
            expect_empty("a drift report")
        }
        Tree::Replicas => decode_replica(name, key, value).map(drop),
        Tree::TagLeases => {
            keys::parse_pin(name, key)?;
            codec::decode::<TagLease>(tree, value).map(drop)
        }
        Tree::Audit => {
            let seq = keys::parse_audit(key)
                .ok_or_else(|| corrupt(tree, "a key is not a sequence number"))?;
            let stored = codec::decode_audit(value)?;
            if stored.seq != seq {
                return Err(corrupt(
                    tree,
                    format!("record at {seq} says it is {}", stored.seq),
                ));
            }
            stored.event().map(drop)
        }
    }
}

fn audit_decode_error(seq: u64, e: StorageError) -> AuditError {
    match e {
        StorageError::Corrupt { what, .. } => AuditError::Corrupt { seq, what },
        other => AuditError::Storage(other),
    }
}

/// Pins `pin_key` inside `tx` as [`crate::Store::pin`] describes, and audits `event`.
fn pin_in(
    tx: &dyn Tx,
    pin_key: &[u8],
    pin: &Pin,
    mutable: bool,
    event: &AuditEvent,
) -> Result<(PinOutcome, AuditRecord), TxError> {
    let existing = match tx.get(Tree::Pins, pin_key)? {
        Some(raw) => Some(codec::decode::<Pin>(Tree::Pins, &raw)?),
        None => None,
    };
    let outcome = match existing {
        None => {
            tx.insert(Tree::Pins, pin_key, codec::encode(Tree::Pins, pin)?)?;
            PinOutcome::Created
        }
        Some(existing) if existing.digest == pin.digest => PinOutcome::Unchanged,
        Some(existing) if !mutable => PinOutcome::Conflict { existing },
        Some(existing) => {
            let mut moved = pin.clone();
            moved.history = existing.history;
            moved.history.push(PinMove {
                digest: existing.digest.clone(),
                replaced_at: pin.pinned_at,
            });
            let excess = moved.history.len().saturating_sub(MAX_PIN_HISTORY);
            moved.history.drain(..excess);
            tx.insert(Tree::Pins, pin_key, codec::encode(Tree::Pins, &moved)?)?;
            PinOutcome::Moved {
                previous: existing.digest,
            }
        }
    };
    // Every decision is audited, including the ones that change nothing.
    let record = append_audit_in(tx, event)?;
    Ok((outcome, record))
}

/// Removes the pending entry at `pin_key` inside `tx`, with its digest index entry, and audits
/// `event(&entry)`. `None`, and nothing audited, when there is no entry.
fn remove_pending_in(
    tx: &dyn Tx,
    pin_key: &[u8],
    event: &dyn Fn(&PendingTag) -> AuditEvent,
) -> Result<Option<(PendingTag, AuditRecord)>, TxError> {
    let Some(raw) = tx.get(Tree::Pending, pin_key)? else {
        // Nothing to remove: nothing is decided, so nothing is audited.
        return Ok(None);
    };
    let pending = codec::decode::<PendingTag>(Tree::Pending, &raw)?;
    tx.remove(Tree::Pending, pin_key)?;
    tx.remove(
        Tree::PendingByDigest,
        &keys::pending_by_digest(&pending.digest, &pending.key),
    )?;
    let record = append_audit_in(tx, &event(&pending))?;
    Ok(Some((pending, record)))
}

/// Moves the fleet's trust generation on by one inside `tx`; returns the new generation.
fn bump_generation_in(tx: &dyn Tx) -> Result<u64, TxError> {
    let current = match tx.get(Tree::Fleet, keys::FLEET_GENERATION)? {
        Some(raw) => decode_generation(&raw)?,
        None => 0,
    };
    let next = current
        .checked_add(1)
        .ok_or_else(|| corrupt(Tree::Fleet, "the generation cannot grow past u64::MAX"))?;
    tx.insert(
        Tree::Fleet,
        keys::FLEET_GENERATION,
        next.to_be_bytes().to_vec(),
    )?;
    Ok(next)
}

/// Appends `event` to the audit log inside `tx`, moving the head in the same transaction.
fn append_audit_in(tx: &dyn Tx, event: &AuditEvent) -> Result<AuditRecord, TxError> {
    let head = match tx.get(Tree::Meta, keys::AUDIT_HEAD)? {
        Some(raw) => codec::decode_head(&raw)?,
        None => AuditHead::GENESIS,
    };
    let (bytes, next, record) = codec::encode_audit(&head, event)?;
    let key = keys::audit(next.seq);
    if tx.get(Tree::Audit, &key)?.is_some() {
        // The head lags the log: never overwrite history. verify_audit reports this store.
        return Err(corrupt(
            Tree::Audit,
            format!("record {} exists beyond the audit head", next.seq),
        )
        .into());
    }
    tx.insert(Tree::Audit, &key, bytes)?;
    tx.insert(Tree::Meta, keys::AUDIT_HEAD, codec::encode_head(&next)?)?;
    Ok(record)
}

#[cfg(test)]
mod tests;
