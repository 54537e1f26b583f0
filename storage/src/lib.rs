//! sealgate-storage: the index behind a trait, with sled as the embedded default.
//!
//! This crate owns the key layout ([`trees`], [`keys`]) and the invariants about it. The API is
//! synchronous; the proxy decides where blocking work runs. It never decides trust: it stores
//! facts that `sealgate-policies` evaluates.

use std::path::{Path, PathBuf};

/// Names of the sled trees. Every tree the store uses is listed here and nowhere else.
pub mod trees {
    /// Store-wide metadata: the schema version.
    pub const META: &str = "meta";
}

/// Key builders. Keys are never formatted inline elsewhere.
pub mod keys {
    /// Key of the schema version in [`super::trees::META`].
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
}

/// Version of the on-disk layout this binary writes. A store with a higher version was written
/// by a newer sealgate and is refused; a lower one is migrated forward on open.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The directory could not be created or the database could not be opened.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The store directory.
        path: PathBuf,
        /// What sled said.
        #[source]
        source: sled::Error,
    },
    /// The store was written by a newer sealgate with a layout this binary does not know.
    #[error(
        "the store at {path} has schema version {found}, newer than this binary's {supported}; \
         run a sealgate at least as new as the one that wrote it"
    )]
    SchemaTooNew {
        /// The store directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Highest version this binary understands.
        supported: u32,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in tree {tree}: {what}")]
    Corrupt {
        /// The tree holding the record.
        tree: &'static str,
        /// What was wrong.
        what: String,
    },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Io(#[from] sled::Error),
}

/// Health information about a store, cheap to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// Schema version recorded on disk.
    pub schema_version: u32,
}

/// The operations the proxy needs from any backend (sled now; etcd for several replicas later).
pub trait Store: Send + Sync + 'static {
    /// Proves the store answers reads; used by `/readyz`.
    fn health(&self) -> Result<StoreHealth, StorageError>;
}

/// The embedded sled store. One process per directory: sled takes a file lock.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    meta: sled::Tree,
}

impl SledStore {
    /// Opens (creating if missing) the store in `path` and checks its schema version.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let open_err = |source| StorageError::Open {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new().path(path).open().map_err(open_err)?;
        let meta = db.open_tree(trees::META).map_err(open_err)?;
        let store = Self { db, meta };
        match store.read_schema_version()? {
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
                store
                    .meta
                    .insert(keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
                store.db.flush()?;
            }
        }
        Ok(store)
    }

    fn read_schema_version(&self) -> Result<Option<u32>, StorageError> {
        let Some(raw) = self.meta.get(keys::SCHEMA_VERSION)? else {
            return Ok(None);
        };
        let bytes: [u8; 4] = raw.as_ref().try_into().map_err(|_| StorageError::Corrupt {
            tree: trees::META,
            what: format!("schema version is {} bytes, expected 4", raw.len()),
        })?;
        Ok(Some(u32::from_be_bytes(bytes)))
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()?)
    }
}

impl Store for SledStore {
    fn health(&self) -> Result<StoreHealth, StorageError> {
        let schema_version = self.read_schema_version()?.ok_or(StorageError::Corrupt {
            tree: trees::META,
            what: "schema version missing".to_owned(),
        })?;
        Ok(StoreHealth { schema_version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_the_directory_and_records_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/store");
        let store = SledStore::open(&path).unwrap();
        assert!(path.is_dir());
        assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
    }

    #[test]
    fn reopening_keeps_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path()).unwrap());
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_from_a_newer_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .meta
                .insert(keys::SCHEMA_VERSION, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            store.db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StorageError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }

    #[test]
    fn a_path_that_is_a_file_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            SledStore::open(&file),
            Err(StorageError::Open { .. })
        ));
    }
}
