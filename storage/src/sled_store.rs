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

use std::path::Path;

use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::engine::{Backend, Engine, Entries, Tx, TxError, store_via_engine};
use crate::layout::trees::Tree;
use crate::{SCHEMA_VERSION, StorageError};

/// The embedded sled store. One process per directory: sled takes a file lock.
#[derive(Debug, Clone)]
pub struct SledStore {
    engine: Engine<SledBackend>,
}

/// The sled database and its trees, opened once, in [`Tree::ALL`] order.
#[derive(Debug, Clone)]
pub(crate) struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl SledStore {
    /// Opens (creating if missing) the store in `path` and checks its schema version.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let open_err = |source| StorageError::Open {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new().path(path).open().map_err(open_err)?;
        let trees = Tree::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(open_err)?;
        let store = Self {
            engine: Engine::new(SledBackend { db, trees }),
        };
        match store.engine.read_schema_version()? {
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
            _ => store.engine.write_schema_version()?,
        }
        Ok(store)
    }

    /// Bytes the database occupies on disk; the same as [`crate::Store::size_on_disk`], callable
    /// without the trait in scope.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.engine.backend.size_on_disk()
    }

    /// Decodes every key and record of every tree (an offline `fsck`; the audit chain is
    /// checked by [`crate::Store::verify_audit`]). Returns the number of entries.
    pub fn verify_records(&self) -> Result<u64, StorageError> {
        self.engine.verify_records()
    }

    #[cfg(test)]
    pub(crate) fn engine(&self) -> &Engine<SledBackend> {
        &self.engine
    }
}

store_via_engine!(SledStore);

impl SledBackend {
    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.index()]
    }
}

/// A transaction's view: one transactional tree per [`Tree`], in [`Tree::ALL`] order.
struct SledTx<'a>(&'a [TransactionalTree]);

impl Tx for SledTx<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        Ok(self.0[tree.index()].get(key)?.map(|v| v.to_vec()))
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), TxError> {
        self.0[tree.index()].insert(key, value)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError> {
        self.0[tree.index()].remove(key)?;
        Ok(())
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let start = from.max(prefix);
        let mut out = Vec::new();
        for entry in self.tree(tree).range(start..) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn transaction<R>(
        &self,
        body: impl Fn(&dyn Tx) -> Result<R, TxError>,
    ) -> Result<R, StorageError> {
        let result = self.trees.as_slice().transaction(|views| {
            body(&SledTx(views)).map_err(|e| match e {
                TxError::Store(e) => ConflictableTransactionError::Abort(e),
                TxError::Backend(e) => e.into(),
            })
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StorageError::Io(e),
        })
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()?)
    }
}

#[cfg(test)]
mod tests;
