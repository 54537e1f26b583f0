//! The store's errors.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The directory could not be created or the database could not be opened.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The store directory.
        path: PathBuf,
        /// What the backend said.
        #[source]
        source: BackendError,
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
    /// A stored record or key could not be decoded.
    #[error("corrupt record in tree {tree}: {what}")]
    Corrupt {
        /// The tree holding the record.
        tree: &'static str,
        /// What was wrong.
        what: String,
    },
    /// A record carries a version this binary cannot read: a newer sealgate wrote it.
    #[error(
        "a record in tree {tree} has version {found}; this binary reads versions up to \
         {supported}: run a sealgate at least as new as the one that wrote it"
    )]
    RecordVersion {
        /// The tree holding the record.
        tree: &'static str,
        /// The version found.
        found: u64,
        /// The newest version this binary reads.
        supported: u32,
    },
    /// A record could not be serialised (a bug: every record type serialises).
    #[error("cannot encode a record for tree {tree}: {source}")]
    Encode {
        /// The tree the record was meant for.
        tree: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Io(#[from] BackendError),
    /// The store closed itself after an I/O error (a full disk) and cannot be reopened yet; it
    /// is retried by later calls and recovers without a restart once the disk accepts writes.
    #[error(
        "the store at {path} is closed after an I/O error and reopens once the disk accepts \
         writes again: {reason}"
    )]
    Unavailable {
        /// The store directory.
        path: PathBuf,
        /// The error that closed it, and the last reopen error.
        reason: String,
    },
    /// The database server could not be reached or did not answer in time: the connection was
    /// refused or lost, no pooled connection came free, a statement (or the wait for the writer
    /// lock) timed out, the server is shutting down or in recovery. Transient: the pool
    /// reconnects by itself. A write that fails with it is not acknowledged; when the connection
    /// broke during its commit (`context` says so) it may or may not have been committed.
    #[error("the database is unavailable ({context}): {source}")]
    DatabaseUnavailable {
        /// What the store was doing.
        context: &'static str,
        /// What the database client said.
        #[source]
        source: BackendError,
    },
    /// The database has no sealgate schema yet, or an older one than this binary needs.
    #[error(
        "the database has sealgate schema version {found} and this binary needs at least \
         {required}: run `sealgate migrate --config <file>` first"
    )]
    DatabaseNotMigrated {
        /// The newest migration applied (0: none).
        found: u32,
        /// The oldest schema version this binary runs on.
        required: u32,
    },
    /// The database's schema was migrated by a newer sealgate than this one.
    #[error(
        "the database has sealgate schema version {found}, newer than this binary's {supported}; \
         run a sealgate at least as new as the one that migrated it"
    )]
    DatabaseSchemaTooNew {
        /// The newest migration applied.
        found: u32,
        /// The newest migration this binary knows.
        supported: u32,
    },
    /// The options for a database backend are unusable (a malformed URL, an unreadable CA file).
    #[error("invalid database options: {0}")]
    InvalidOptions(String),
    /// An import was refused: the target store is not empty, or the entries do not make a valid
    /// store (a record that does not decode, an audit chain that does not verify). Nothing was
    /// imported.
    #[error("import refused: {0}")]
    ImportRefused(String),
}

impl StorageError {
    /// Whether retrying later may succeed: an I/O failure (a full disk, a failing device), a
    /// store closed by one, or a database out of reach. Corrupt records, newer schemas and the
    /// like are not transient.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io(e) if e.device)
            || matches!(
                self,
                Self::Unavailable { .. } | Self::DatabaseUnavailable { .. }
            )
    }

    /// An I/O error from the backend: the database that returned it may hold writes that never
    /// reached the disk, so it is closed and reopened.
    pub(crate) fn closes_store(&self) -> bool {
        matches!(self, Self::Io(e) if e.device)
    }
}

/// An error reported by the backend's database, kept whole as the error's source without
/// naming the backend's type. It reads (`Display`, `source`) exactly as the backend's error.
#[derive(Debug)]
pub struct BackendError {
    /// Whether the device (or the connection to the database) failed rather than the request:
    /// retrying later may succeed.
    device: bool,
    /// The backend's own error.
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl BackendError {
    /// A failure of the device or the connection (a full disk, a failing device): transient.
    pub(crate) fn device(inner: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            device: true,
            inner: Box::new(inner),
        }
    }

    /// Any other failure of the backend (a bug, an unsupported operation): not transient.
    pub(crate) fn other(inner: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            device: false,
            inner: Box::new(inner),
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for BackendError {
    // Transparent: the chain goes on with the backend error's own source, so logs read as
    // they did when the backend's error was the source itself.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// Why [`crate::Store::verify_audit`] rejected the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A sequence number is missing: a record was deleted.
    #[error("audit log gap: expected record {expected}, found {found}")]
    Gap {
        /// The sequence number that should come next.
        expected: u64,
        /// The sequence number found instead.
        found: u64,
    },
    /// A record's hash does not match its content or its predecessor: it was edited (or a
    /// record before it was replaced).
    #[error("audit record {seq} was edited: its hash does not match its content and chain")]
    Edited {
        /// The first record that fails the check.
        seq: u64,
    },
    /// A record sits at another record's place: records were moved or swapped.
    #[error("audit record at position {seq} is record {found}: the log was reordered")]
    Reordered {
        /// The position (key) checked.
        seq: u64,
        /// The sequence number the record there carries.
        found: u64,
    },
    /// The recorded head (last sequence number and hash) does not match the last record: the
    /// log was truncated, extended outside the store, or the head was rolled back.
    #[error(
        "audit head does not match the last record: the log was truncated or its head rewritten"
    )]
    HeadMismatch,
    /// A record cannot be decoded.
    #[error("audit record {seq} is corrupt: {what}")]
    Corrupt {
        /// The record's sequence number (its position).
        seq: u64,
        /// What was wrong.
        what: String,
    },
    /// The store failed while reading the log.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
