//! Opening the store `[storage]` names: sled in a directory, or PostgreSQL (whose schema
//! `sealgate migrate` applies, or `serve --migrate` at start).

use std::sync::Arc;

use sealgate_storage::{MigrationReport, PgOptions, PgStore, SledStore, StorageError, Store};

use crate::config::{PostgresConfig, SslMode, StorageConfig};

/// An open store of either backend.
#[derive(Debug, Clone)]
pub enum OpenedStore {
    /// sled: one replica owns the directory.
    Sled(SledStore),
    /// PostgreSQL: any number of replicas.
    Postgres(PgStore),
}

impl OpenedStore {
    /// Opens the configured store. With `migrate`, PostgreSQL migrations are applied first (sled
    /// migrates its layout on open either way).
    pub async fn open(storage: &StorageConfig, migrate: bool) -> Result<Self, StorageError> {
        match storage {
            StorageConfig::Sled { path } => SledStore::open(path).map(Self::Sled),
            StorageConfig::Postgres(pg) => {
                let options = pg_options(pg);
                if migrate {
                    let report = PgStore::migrate(&options).await?;
                    tracing::info!("{}", migration_summary(&report));
                }
                PgStore::connect(options).await.map(Self::Postgres)
            }
        }
    }

    /// The store, as the server uses it.
    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Self::Sled(store) => Arc::new(store),
            Self::Postgres(store) => Arc::new(store),
        }
    }

    /// Decodes every key and record; returns how many there are.
    pub async fn verify_records(&self) -> Result<u64, StorageError> {
        match self {
            Self::Sled(store) => store.verify_records().await,
            Self::Postgres(store) => store.verify_records().await,
        }
    }

    /// Where the store is, for messages: the sled directory or the database URL (it carries
    /// no password: the configuration refuses one).
    pub fn describe(storage: &StorageConfig) -> String {
        match storage {
            StorageConfig::Sled { path } => path.display().to_string(),
            StorageConfig::Postgres(pg) => pg.url.clone(),
        }
    }
}

/// Applies the PostgreSQL migrations the database lacks (`sealgate migrate`); with sled, says
/// there is nothing to apply.
pub async fn migrate(storage: &StorageConfig) -> Result<String, StorageError> {
    match storage {
        StorageConfig::Sled { path } => Ok(format!(
            "storage.backend is sled ({}): its layout is migrated when sealgate opens it; \
             nothing to do",
            path.display()
        )),
        StorageConfig::Postgres(pg) => {
            let report = PgStore::migrate(&pg_options(pg)).await?;
            Ok(format!("{}: {}", pg.url, migration_summary(&report)))
        }
    }
}

fn migration_summary(report: &MigrationReport) -> String {
    if report.applied.is_empty() {
        format!("schema version {}, up to date", report.to)
    } else {
        let applied: Vec<String> = report.applied.iter().map(u32::to_string).collect();
        format!(
            "schema version {} -> {} (applied {})",
            report.from,
            report.to,
            applied.join(", ")
        )
    }
}

/// The storage crate's options for a validated `[storage]` of backend postgres.
pub fn pg_options(pg: &PostgresConfig) -> PgOptions {
    PgOptions {
        url: pg.url.clone(),
        password: pg.password.as_ref().map(|p| p.expose().to_owned()),
        pool_size: pg.pool_size,
        connect_timeout: pg.connect_timeout,
        statement_timeout: pg.statement_timeout,
        sslmode: match pg.sslmode {
            SslMode::Disable => sealgate_storage::SslMode::Disable,
            SslMode::Prefer => sealgate_storage::SslMode::Prefer,
            SslMode::Require => sealgate_storage::SslMode::Require,
            SslMode::VerifyFull => sealgate_storage::SslMode::VerifyFull,
        },
        ca_file: pg.ca_file.clone(),
    }
}
