//! The PostgreSQL store: several sealgate replicas on one database.
//!
//! The database holds the same named trees as sled, as rows of one table
//! (`sealgate_entries(tree, key, value)`, keys ordered bytewise as `bytea` compares), so the one
//! engine (`crate::engine`) runs over it with the semantics it has over sled: create-if-absent
//! pins, one audit hash chain, a pin and its audit event in one transaction.
//!
//! Transactions: every write transaction first locks the single row of `sealgate_writer`
//! (`SELECT … FOR UPDATE`, which CockroachDB supports too, unlike advisory locks), so writers
//! across all replicas run one at a time, and at READ COMMITTED every read after the lock sees
//! every earlier commit. The engine's transaction bodies are synchronous, so they run against a
//! replaying view: reads come from the body's own writes, then from the values fetched so far in
//! this database transaction. A key not fetched yet is answered as absent and noted; a run that
//! noted any is discarded whatever it returned, the noted keys are fetched inside the
//! transaction in one statement, and the body runs again. A run that read only fetched keys saw
//! the database as it is under the lock: its writes are applied (one upsert and one delete
//! statement, pipelined) and committed. So a pin costs one round trip for its reads (pin,
//! pending entry, audit head), and a [`crate::Store::pin_batch`] of any size two runs, not one
//! per entry; a read that depends on a value read before takes one run more. A body reads at
//! most [`MAX_TX_READS`] keys (`TxError::Unread` stops one that goes past), so the runs are
//! bounded and a runaway body fails closed.
//!
//! Failures close the gate: a refused or lost connection, no free pooled connection within the
//! connect timeout, a statement (or the wait for the writer lock) exceeding the statement
//! timeout, a server shutting down or read-only are [`StorageError::DatabaseUnavailable`]
//! (transient: the proxy answers 503). Nothing is acknowledged that is not committed: a COMMIT
//! whose answer is lost is reported as an error. A commit is durable when it returns (the
//! server's `synchronous_commit`), so [`crate::Store::flush`] has nothing to do. The pool drops
//! broken connections and opens new ones, so a database restart needs no sealgate restart.
//!
//! Schema: versioned migrations embedded in the binary ([`PgStore::migrate`]), recorded in
//! `sealgate_schema_migrations`. The rule between binaries and schemas: a binary knows the
//! migrations up to [`PgStore::SCHEMA_LATEST`] and runs on any schema from
//! [`PgStore::SCHEMA_REQUIRED`] up to that. A migration only adds (tables, columns with
//! defaults, indexes), so newer code reads an older schema until it needs what a migration
//! adds, and only then is [`PgStore::SCHEMA_REQUIRED`] raised; a schema newer than the binary
//! is refused, since the binary cannot know what it would misread. Upgrades run `sealgate
//! migrate` with the new binary first, then roll the replicas. The records themselves carry
//! the engine's own layout version ([`crate::SCHEMA_VERSION`]), checked as sled's is.

mod backend;
mod migrations;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::engine::{Engine, EngineStore};
use crate::{SCHEMA_VERSION, StorageError};

pub use backend::MAX_TX_READS;
pub(crate) use backend::PgBackend;
pub use migrations::MigrationReport;
use migrations::{SCHEMA_LATEST, SCHEMA_REQUIRED};

/// How to reach the database. The password is never printed (`Debug` redacts it, and the one
/// in the URL if any).
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user@host:port/database` (libpq's URL or `key=value` form).
    pub url: String,
    /// The password, overriding one in the URL.
    pub password: Option<String>,
    /// Connections kept at most, per replica.
    pub pool_size: usize,
    /// How long opening a connection, or waiting for a free pooled one, may take.
    pub connect_timeout: Duration,
    /// How long one statement may run, waits for the writer lock included.
    pub statement_timeout: Duration,
    /// TLS to the database.
    pub sslmode: SslMode,
    /// PEM file of the CAs that sign the server's certificate (with [`SslMode::VerifyFull`];
    /// the system's roots when absent).
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("sslmode", &self.sslmode)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `url` without the password of its user info (`postgres://user:secret@host` →
/// `postgres://user:<redacted>@host`); other forms are returned as they are unless they carry
/// a `password=` pair, which is then dropped whole.
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:<redacted>@{host}{}", redact_pairs(tail));
        }
        return format!("{scheme}://{authority}{}", redact_pairs(tail));
    }
    redact_pairs(url)
}

/// Drops anything after a `password=` (a query parameter or a `key=value` pair).
fn redact_pairs(text: &str) -> String {
    match text.find("password=") {
        Some(at) => format!("{}password=<redacted>", &text[..at]),
        None => text.to_owned(),
    }
}

/// TLS to the database, named as libpq names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, without checking its certificate (libpq's default):
    /// protects against a passive listener only.
    #[default]
    Prefer,
    /// TLS or no connection, without checking the server's certificate.
    Require,
    /// TLS, the certificate chained to [`PgOptions::ca_file`] (or the system's roots) and
    /// naming the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The name used in configuration: `disable`, `prefer`, `require`, `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, StorageError> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(StorageError::InvalidOptions(format!(
                "sslmode `{other}` is not one of disable, prefer, require, verify-full"
            ))),
        }
    }
}

/// The PostgreSQL store. Clones share one connection pool, whose connections are opened and
/// driven on the tokio runtime that called [`PgStore::connect`].
#[derive(Debug, Clone)]
pub struct PgStore {
    engine: Engine<PgBackend>,
}

impl PgStore {
    /// Opens a pool on the database and checks its schema: one not migrated yet (or older than
    /// [`PgStore::SCHEMA_REQUIRED`]) is [`StorageError::DatabaseNotMigrated`], one newer than this binary
    /// [`StorageError::DatabaseSchemaTooNew`]. Fails with
    /// [`StorageError::DatabaseUnavailable`] if the database cannot be reached.
    pub async fn connect(options: PgOptions) -> Result<Self, StorageError> {
        let backend = PgBackend::new(&options)?;
        migrations::check(&backend).await?;
        let store = Self {
            engine: Engine::new(backend),
        };
        // The layout of the records (the engine's, the same as sled's) is versioned apart from
        // the tables: checked and recorded as `SledStore::open` does.
        match store.engine.read_schema_version().await? {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StorageError::SchemaTooNew {
                    path: redact_url(&options.url).into(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(found) if found == SCHEMA_VERSION => {}
            _ => store.engine.write_schema_version().await?,
        }
        Ok(store)
    }

    /// Decodes every key and record of every tree; see [`crate::SledStore::verify_records`].
    pub async fn verify_records(&self) -> Result<u64, StorageError> {
        self.engine.verify_records().await
    }

    /// The newest database schema version this binary knows (its last migration).
    pub const SCHEMA_LATEST: u32 = SCHEMA_LATEST;

    /// The oldest database schema version this binary runs on: a newer binary reads an older
    /// schema down to this one (see the module docs).
    pub const SCHEMA_REQUIRED: u32 = SCHEMA_REQUIRED;

    /// Applies the migrations the database lacks, in order, in one transaction, and records
    /// them. Idempotent, and safe when several replicas run it at once (they take turns on a
    /// lock row; the later ones find nothing to do). Refuses a schema newer than this binary.
    pub async fn migrate(options: &PgOptions) -> Result<MigrationReport, StorageError> {
        let backend = PgBackend::new(options)?;
        migrations::migrate(&backend).await
    }
}

impl EngineStore for PgStore {
    type Backend = PgBackend;

    fn engine(&self) -> &Engine<PgBackend> {
        &self.engine
    }
}

#[cfg(test)]
mod tests;
