//! The database schema: ordered migrations embedded in the binary, and the check at connect.

use tokio_postgres::error::SqlState;

use super::PgBackend;
use super::backend::store_error;
use crate::StorageError;

/// One step of the schema.
struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Append only: an applied migration is never edited.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "entries and writer lock",
    sql: include_str!("migrations/0001_entries.sql"),
}];

/// Creates the migrations table and its lock row (version 0); safe to run again.
const BOOTSTRAP: &str = include_str!("migrations/0000_migrations.sql");

/// The newest schema version this binary knows (its last migration).
pub(crate) const SCHEMA_LATEST: u32 = 1;

/// The oldest schema version this binary runs on: raised only by a migration whose tables or
/// columns the code needs.
pub(crate) const SCHEMA_REQUIRED: u32 = 1;

const _: () = assert!(SCHEMA_REQUIRED <= SCHEMA_LATEST);
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_LATEST);

/// Attempts of the bootstrap, which loses a race to create the table when replicas start at
/// once (the server reports the loser a duplicate table, type or key) and then finds it made.
const BOOTSTRAP_ATTEMPTS: u32 = 5;

/// What [`super::PgStore::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version found (0: none).
    pub from: u32,
    /// The schema version now.
    pub to: u32,
    /// The migrations applied by this run, in order (empty when there was nothing to do).
    pub applied: Vec<u32>,
}

/// The newest migration applied; 0 when the database has no migrations table.
async fn applied_version(
    client: &impl deadpool_postgres::GenericClient,
) -> Result<u32, StorageError> {
    match client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM sealgate_schema_migrations",
            &[],
        )
        .await
    {
        Ok(row) => {
            let version: i32 = row
                .try_get(0)
                .map_err(|e| store_error("reading the schema version", &e))?;
            Ok(u32::try_from(version).unwrap_or(0))
        }
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(0),
        Err(e) => Err(store_error("reading the schema version", &e)),
    }
}

fn too_new(found: u32) -> StorageError {
    StorageError::DatabaseSchemaTooNew {
        found,
        supported: SCHEMA_LATEST,
    }
}

/// Refuses a database this binary cannot run on (see the module docs of [`super`]).
pub(super) async fn check(backend: &PgBackend) -> Result<(), StorageError> {
    let client = backend.client().await?;
    let found = applied_version(&client).await?;
    if found > SCHEMA_LATEST {
        return Err(too_new(found));
    }
    if found < SCHEMA_REQUIRED {
        return Err(StorageError::DatabaseNotMigrated {
            found,
            required: SCHEMA_REQUIRED,
        });
    }
    Ok(())
}

pub(super) async fn migrate(backend: &PgBackend) -> Result<MigrationReport, StorageError> {
    let mut client = backend.client().await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.batch_execute(BOOTSTRAP).await {
            Ok(()) => break,
            Err(e)
                if attempt < BOOTSTRAP_ATTEMPTS
                    && matches!(
                        e.code(),
                        Some(code) if *code == SqlState::UNIQUE_VIOLATION
                            || *code == SqlState::DUPLICATE_TABLE
                            || *code == SqlState::DUPLICATE_OBJECT
                            || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    ) => {}
            Err(e) => return Err(store_error("creating the migrations table", &e)),
        }
    }
    let tx = client
        .transaction()
        .await
        .map_err(|e| store_error("migrating", &e))?;
    // Row 0 is the lock: a second migrate waits here, then finds the migrations applied.
    tx.query(
        "SELECT version FROM sealgate_schema_migrations WHERE version = 0 FOR UPDATE",
        &[],
    )
    .await
    .map_err(|e| store_error("waiting for the migration lock", &e))?;
    let from = applied_version(&tx).await?;
    if from > SCHEMA_LATEST {
        return Err(too_new(from));
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| store_error("applying a migration", &e))?;
        let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO sealgate_schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &migration.name],
        )
        .await
        .map_err(|e| store_error("recording a migration", &e))?;
        applied.push(migration.version);
    }
    tx.commit()
        .await
        .map_err(|e| store_error("committing the migrations", &e))?;
    if !applied.is_empty() {
        tracing::info!(
            from,
            to = SCHEMA_LATEST,
            ?applied,
            "database schema migrated"
        );
    }
    Ok(MigrationReport {
        from,
        to: from.max(SCHEMA_LATEST),
        applied,
    })
}
