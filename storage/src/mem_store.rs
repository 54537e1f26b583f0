//! An in-memory [`crate::Store`] for unit tests (feature `test-util`). It runs the same
//! operations as [`crate::SledStore`] over sorted maps, with transactions serialised by one
//! mutex, so pins, quarantine and the audit hash chain behave the same. Nothing is durable.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::StorageError;
use crate::engine::{
    self, Backend, Engine, EngineStore, Entries, StrayUnread, Tx, TxBody, TxError,
};
use crate::layout::keys;
use crate::layout::trees::Tree;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory store with [`crate::SledStore`]'s semantics. Clones share the same data.
#[derive(Debug, Clone)]
pub struct MemStore {
    engine: Engine<MemBackend>,
}

impl MemStore {
    /// An empty store at the current schema version.
    pub fn new() -> Self {
        let backend = MemBackend::default();
        backend.lock()[Tree::Meta.index()].insert(
            keys::SCHEMA_VERSION.to_vec(),
            engine::schema_version_value(),
        );
        Self {
            engine: Engine::new(backend),
        }
    }

    /// Decodes every key and record of every tree; see [`crate::SledStore::verify_records`].
    pub async fn verify_records(&self) -> Result<u64, StorageError> {
        self.engine.verify_records().await
    }
}

impl EngineStore for MemStore {
    type Backend = MemBackend;

    fn engine(&self) -> &Engine<MemBackend> {
        &self.engine
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

/// One sorted map per [`Tree`], in [`Tree::ALL`] order, behind one lock.
#[derive(Debug, Clone)]
pub(crate) struct MemBackend {
    trees: Arc<Mutex<Vec<Map>>>,
}

impl Default for MemBackend {
    fn default() -> Self {
        Self {
            trees: Arc::new(Mutex::new(vec![Map::new(); Tree::ALL.len()])),
        }
    }
}

impl MemBackend {
    fn lock(&self) -> MutexGuard<'_, Vec<Map>> {
        // A panic while holding the lock cannot leave half a transaction behind: writes are
        // staged and applied after the body returns, so the maps are always consistent.
        self.trees.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes staged by a transaction: `None` removes.
type Staged = Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

struct MemTx<'a> {
    base: &'a [Map],
    staged: RefCell<Staged>,
}

impl Tx for MemTx<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        if let Some(staged) = self.staged.borrow()[tree.index()].get(key) {
            return Ok(staged.clone());
        }
        Ok(self.base[tree.index()].get(key).cloned())
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), TxError> {
        self.staged.borrow_mut()[tree.index()].insert(key.to_vec(), Some(value));
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError> {
        self.staged.borrow_mut()[tree.index()].insert(key.to_vec(), None);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Backend for MemBackend {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock()[tree.index()].get(key).cloned())
    }

    async fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let start = from.max(prefix).to_vec();
        Ok(self.lock()[tree.index()]
            .range(start..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    async fn transaction<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, StorageError> {
        let mut trees = self.lock();
        loop {
            let tx = MemTx {
                base: &trees,
                staged: RefCell::new(vec![BTreeMap::new(); Tree::ALL.len()]),
            };
            match body(&tx) {
                Ok(result) => {
                    let staged = tx.staged.into_inner();
                    for (map, writes) in trees.iter_mut().zip(staged) {
                        for (key, value) in writes {
                            match value {
                                Some(value) => map.insert(key, value),
                                None => map.remove(&key),
                            };
                        }
                    }
                    return Ok(result);
                }
                Err(TxError::Store(e)) => return Err(e),
                // Not produced by this backend (the lock excludes conflicts); retry as sled does.
                Err(TxError::Conflict) => continue,
                Err(TxError::Unread) => return Err(StrayUnread.into()),
            }
        }
    }

    async fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// The bytes of every key and value held, without the maps' own overhead.
    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        let bytes: usize = self
            .lock()
            .iter()
            .flat_map(|map| map.iter())
            .map(|(key, value)| key.len() + value.len())
            .sum();
        Ok(u64::try_from(bytes).unwrap_or(u64::MAX))
    }
}
