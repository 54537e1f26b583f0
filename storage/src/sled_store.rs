//! The embedded store: sled 0.34.
//!
//! Durability: every method that backs an acknowledged response runs its writes as one
//! transaction and then calls `Db::flush` before returning. sled seals a transaction's writes as
//! one batch in its log, so recovery replays all of them or none. What `Db::flush` guarantees is
//! narrower than its name suggests (checked with `strace` on sled 0.34.7): it writes the log
//! buffer and waits for it with `sync_file_range`, while the `fsync` of the file (metadata, the
//! device's write cache) runs on sled's own thread every 500 ms. So an acknowledged write
//! survives a crash of the process (the SIGKILL test in `tests/crash.rs` proves that), but a
//! power loss can take the last ~0.5 s of acknowledged writes with it.
//!
//! Concurrency: sled 0.34 runs transactions under one process-wide write lock (its
//! `concurrency_control`), so transactions are serial and a read-then-write inside one (the
//! pin's compare-and-swap, the audit head) cannot interleave with another. Reads outside a
//! transaction take the read side of that lock, so they wait while a transaction runs: a long
//! [`crate::Store::pin_batch`] stalls lookups (measured in `benches/README.md`).
//!
//! A failed write closes the database, and the store reopens it by itself (checked on sled 0.34.7
//! against a full tmpfs): once a write or flush hits an I/O error (ENOSPC), sled keeps that
//! error as a global one and fails every later write of the same `Db`, even after space was
//! freed, until the process restarts; and the failed transaction stays visible to reads of that
//! `Db` although it never reached the disk. So the first I/O error drops the `Db` (nothing reads
//! the unwritten state afterwards) and the store is reopened from what is on disk: at once, or,
//! while the disk is still full (sled's open writes too, and fails), by a later call at most
//! once per [`REOPEN_INTERVAL`]. While it is closed every call fails with
//! [`StorageError::Unavailable`]: the gates fail closed rather than serve from a store that
//! lost writes. Reopening finds the last durable state: a write that failed is gone, every
//! acknowledged one is there.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use sled::Transactional as _;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use crate::engine::{
    self, Backend, Engine, EngineStore, Entries, StrayUnread, Tx, TxBody, TxError,
};
use crate::layout::keys;
use crate::layout::trees::Tree;
use crate::{BackendError, SCHEMA_VERSION, StorageError};

/// Least time between two attempts to reopen a closed store: a reopen replays sled's log, which
/// takes a while on a large store, and fails as long as the disk is full.
pub(crate) const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// How long a reopen waits for the directory lock of the dropped database: sled's background
/// threads may hold it for a moment after the last handle is gone.
const LOCK_RELEASE_WAIT: Duration = Duration::from_millis(500);

/// The embedded sled store. One process per directory: sled takes a file lock. Clones share
/// one database.
#[derive(Debug, Clone)]
pub struct SledStore {
    engine: Engine<SledBackend>,
}

/// The database, shared by the clones of a store, and closed and reopened after I/O errors.
#[derive(Debug, Clone)]
pub(crate) struct SledBackend {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The store directory, for reopening.
    path: PathBuf,
    /// Operations run under the read side; closing and reopening take the write side, so no
    /// operation runs on a database being replaced.
    state: RwLock<State>,
}

#[derive(Debug)]
struct State {
    /// The open database; `None` after an I/O error until a reopen succeeds.
    open: Option<Open>,
    /// Bumped by each reopen, so that an error seen on a database already replaced does not
    /// close its successor.
    generation: u64,
    /// Why the store is closed (the write error, then the last reopen error).
    closed_because: String,
    /// No reopen is attempted before this.
    next_attempt: Instant,
}

/// The sled database and its trees, opened once, in [`Tree::ALL`] order.
#[derive(Debug)]
struct Open {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Open {
    fn at(path: &Path) -> Result<Self, sled::Error> {
        let db = sled::Config::new().path(path).open()?;
        let trees = Tree::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, trees })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.index()]
    }
}

impl SledStore {
    /// Opens (creating if missing) the store in `path` and checks its schema version.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let open = Open::at(path).map_err(|e| StorageError::Open {
            path: path.to_owned(),
            source: backend_error(e),
        })?;
        // Checked here, synchronously, before the store exists: nothing else runs on it yet.
        let meta = open.tree(Tree::Meta);
        let found = meta
            .get(keys::SCHEMA_VERSION)
            .map_err(io)?
            .map(|raw| engine::decode_schema_version(&raw))
            .transpose()?;
        match found {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StorageError::SchemaTooNew {
                    path: path.to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(found) if found == SCHEMA_VERSION => {}
            // A new store, or an older layout: record the current version (there are no older
            // layouts to migrate yet) and make it durable before anything else is written.
            _ => {
                meta.insert(keys::SCHEMA_VERSION, engine::schema_version_value())
                    .map_err(io)?;
                open.db.flush().map_err(io)?;
            }
        }
        Ok(Self {
            engine: Engine::new(SledBackend {
                shared: Arc::new(Shared {
                    path: path.to_owned(),
                    state: RwLock::new(State {
                        open: Some(open),
                        generation: 0,
                        closed_because: String::new(),
                        next_attempt: Instant::now(),
                    }),
                }),
            }),
        })
    }

    /// Bytes the database occupies on disk; the same as [`crate::Store::size_on_disk`], callable
    /// without the trait in scope.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.engine.backend.size_now()
    }

    /// Decodes every key and record of every tree (an offline `fsck`; the audit chain is
    /// checked by [`crate::Store::verify_audit`]). Returns the number of entries.
    pub async fn verify_records(&self) -> Result<u64, StorageError> {
        self.engine.verify_records().await
    }

    /// Whether the database is open: false from an I/O error until a reopen succeeds.
    pub fn is_open(&self) -> bool {
        self.engine.backend.shared.read().open.is_some()
    }
}

impl EngineStore for SledStore {
    type Backend = SledBackend;

    fn engine(&self) -> &Engine<SledBackend> {
        &self.engine
    }
}

/// sled's error as the store's: an I/O error is the device's (transient: it closes the
/// database, see the module docs), anything else is not.
fn backend_error(e: sled::Error) -> BackendError {
    match e {
        sled::Error::Io(_) => BackendError::device(e),
        _ => BackendError::other(e),
    }
}

fn io(e: sled::Error) -> StorageError {
    StorageError::Io(backend_error(e))
}

fn tx_error(e: UnabortableTransactionError) -> TxError {
    match e {
        UnabortableTransactionError::Conflict => TxError::Conflict,
        UnabortableTransactionError::Storage(e) => TxError::Store(io(e)),
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves the state as consistent as it was: every
        // change to it is a single assignment.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unavailable(&self, state: &State) -> StorageError {
        StorageError::Unavailable {
            path: self.path.clone(),
            reason: state.closed_because.clone(),
        }
    }

    /// Closes the database of `generation` after `error` (unless it was replaced already), then
    /// tries to reopen it at once.
    fn close(&self, generation: u64, error: &StorageError) {
        let mut state = self.write();
        if state.generation != generation || state.open.is_none() {
            return;
        }
        // Dropping the last handle stops sled's threads and releases the directory lock.
        state.open = None;
        state.closed_because = error.to_string();
        self.reopen(&mut state);
    }

    /// Reopens a closed database, unless that was tried less than [`REOPEN_INTERVAL`] ago.
    fn recover(&self) -> Result<(), StorageError> {
        let mut state = self.write();
        if state.open.is_some() {
            return Ok(());
        }
        if Instant::now() < state.next_attempt {
            return Err(self.unavailable(&state));
        }
        self.reopen(&mut state);
        match state.open {
            Some(_) => Ok(()),
            None => Err(self.unavailable(&state)),
        }
    }

    fn reopen(&self, state: &mut State) {
        let deadline = Instant::now() + LOCK_RELEASE_WAIT;
        let result = loop {
            match Open::at(&self.path) {
                // The lock of the dropped database may be held a moment longer; sled reports
                // that as an `Other` I/O error with this text.
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other,
            }
        };
        match result {
            Ok(open) => {
                state.open = Some(open);
                state.generation += 1;
                state.closed_because.clear();
            }
            Err(e) => {
                let first = state
                    .closed_because
                    .split("; reopening failed: ")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                state.closed_because = format!("{first}; reopening failed: {e}");
                state.next_attempt = Instant::now() + REOPEN_INTERVAL;
            }
        }
    }
}

impl SledBackend {
    /// Runs `op` on the open database, reopening a closed one first (see the module docs). An
    /// I/O error closes the database before it is returned. `op` gets the database's
    /// generation too, for [`SledBackend::flush_db`].
    fn with<R>(
        &self,
        op: impl FnOnce(&Open, u64) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let shared = &self.shared;
        if shared.read().open.is_none() {
            shared.recover()?;
        }
        let state = shared.read();
        let Some(open) = &state.open else {
            // Closed again in between by another caller's error.
            return Err(shared.unavailable(&state));
        };
        let generation = state.generation;
        let result = op(open, generation);
        drop(state);
        if let Err(e) = &result
            && e.closes_store()
        {
            shared.close(generation, e);
        }
        result
    }

    /// Bytes on disk: sled sums its files' sizes, which needs no waiting.
    fn size_now(&self) -> Result<u64, StorageError> {
        self.with(|open, _| open.db.size_on_disk().map_err(io))
    }

    /// Flushes `db`, of `generation`, on tokio's blocking pool (the caller runs in a tokio
    /// runtime), without holding the state lock (a guard of it cannot be held across an
    /// `await`). An I/O error closes that database, as [`SledBackend::with`] does, unless it was
    /// replaced in the meantime.
    ///
    /// Not sled's `flush_async`: it runs the flush on sled's own I/O pool, and under concurrent
    /// transactions every thread of that pool can end up waiting in a flush for log writes
    /// queued on the same pool, which never run (50 racing pins hung that way in the engine's
    /// tests). A blocking flush on another pool leaves sled's free to write the log.
    async fn flush_db(&self, db: sled::Db, generation: u64) -> Result<(), StorageError> {
        // The handle goes with the closure: it must not keep the database open past a close
        // (sled releases its lock only when the last handle is gone).
        let result = match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => flushed.map(drop).map_err(io),
            Err(e) => Err(StorageError::Io(BackendError::other(e))),
        };
        if let Err(e) = &result
            && e.closes_store()
        {
            self.shared.close(generation, e);
        }
        result
    }
}

/// A transaction's view: one transactional tree per [`Tree`], in [`Tree::ALL`] order.
struct SledTx<'a>(&'a [TransactionalTree]);

impl Tx for SledTx<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        Ok(self.0[tree.index()]
            .get(key)
            .map_err(tx_error)?
            .map(|v| v.to_vec()))
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), TxError> {
        self.0[tree.index()].insert(key, value).map_err(tx_error)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError> {
        self.0[tree.index()].remove(key).map_err(tx_error)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Backend for SledBackend {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.with(|open, _| Ok(open.tree(tree).get(key).map_err(io)?.map(|v| v.to_vec())))
    }

    async fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let start = from.max(prefix);
        self.with(|open, _| {
            let mut out = Vec::new();
            for entry in open.tree(tree).range(start..) {
                if out.len() >= limit {
                    break;
                }
                let (key, value) = entry.map_err(io)?;
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key.to_vec(), value.to_vec()));
            }
            Ok(out)
        })
    }

    async fn transaction<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, StorageError> {
        let (committed, db, generation) = self.with(|open, generation| {
            let result = open.trees.as_slice().transaction(|views| {
                body(&SledTx(views)).map_err(|e| match e {
                    TxError::Store(e) => ConflictableTransactionError::Abort(e),
                    TxError::Conflict => ConflictableTransactionError::Conflict,
                    TxError::Unread => ConflictableTransactionError::Abort(StrayUnread.into()),
                })
            });
            let committed = result.map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => io(e),
            })?;
            Ok((committed, open.db.clone(), generation))
        })?;
        // Flushed on the database that committed it: were the flush left to the caller's own
        // call, the database could be replaced in between (after another caller's error), and
        // that flush would succeed on the new one while this write is lost.
        self.flush_db(db, generation).await?;
        Ok(committed)
    }

    async fn flush(&self) -> Result<(), StorageError> {
        let (db, generation) = self.with(|open, generation| Ok((open.db.clone(), generation)))?;
        self.flush_db(db, generation).await
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.size_now()
    }
}

#[cfg(test)]
mod tests;
