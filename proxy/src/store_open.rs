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

/// First line of an export file: what it is, and how many entries follow.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportHeader {
    sealgate_store_export: u32,
    entries: u64,
}

/// One line per entry: tree name, key and value, base64.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportLine {
    tree: String,
    key: String,
    value: String,
}

/// Format version of export files this binary writes and reads.
const EXPORT_FORMAT: u32 = 1;

/// Why `sealgate store export` or `import` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The store could not be opened, read or written, or refused the import.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The export file could not be read or written.
    #[error("{}: {source}", .path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The export file is not one this binary wrote (or it was cut or edited).
    #[error("{}: line {line}: {what}", .path.display())]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
}

/// Writes every entry of the configured store to `output` (JSON lines, written to a temporary
/// file and renamed, so a failed export leaves no partial file). The store should be stopped
/// (sled) or quiet (PostgreSQL): entries are read a page at a time.
pub async fn export(
    storage: &StorageConfig,
    output: &std::path::Path,
) -> Result<String, TransferError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let store = OpenedStore::open(storage, false).await?.into_store();
    let audit = store.verify_audit().await.map_err(|e| {
        StorageError::ImportRefused(format!("the source's audit chain does not verify: {e}"))
    })?;
    let entries = store.export_entries().await?;
    let file_error = |source| TransferError::File {
        path: output.to_owned(),
        source,
    };
    // Written beside the target and renamed: a failed export leaves no partial file under
    // the name an import would read.
    let partial = {
        let mut name = output.as_os_str().to_owned();
        name.push(format!(".partial-{}", std::process::id()));
        std::path::PathBuf::from(name)
    };
    let written = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)?;
        let mut out = std::io::BufWriter::new(file);
        let header = ExportHeader {
            sealgate_store_export: EXPORT_FORMAT,
            entries: entries.len() as u64,
        };
        write_line(&mut out, &header)?;
        for entry in &entries {
            write_line(
                &mut out,
                &ExportLine {
                    tree: entry.tree.clone(),
                    key: b64.encode(&entry.key),
                    value: b64.encode(&entry.value),
                },
            )?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, output)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(file_error(source));
    }
    Ok(format!(
        "exported {} entries of {} to {} (audit log of {} events, head {})",
        entries.len(),
        OpenedStore::describe(storage),
        output.display(),
        audit.events,
        audit.head
    ))
}

fn write_line(out: &mut impl std::io::Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Reads an export into the configured store, which must be empty; the store checks every
/// record and the audit chain before keeping anything.
pub async fn import(
    storage: &StorageConfig,
    input: &std::path::Path,
) -> Result<String, TransferError> {
    use base64::Engine as _;
    use std::io::BufRead as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let format = |line: usize, what: String| TransferError::Format {
        path: input.to_owned(),
        line,
        what,
    };
    let file = std::fs::File::open(input).map_err(|source| TransferError::File {
        path: input.to_owned(),
        source,
    })?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: ExportHeader = match lines.next() {
        Some(Ok(text)) => serde_json::from_str(&text)
            .map_err(|e| format(1, format!("not a sealgate store export: {e}")))?,
        Some(Err(source)) => {
            return Err(TransferError::File {
                path: input.to_owned(),
                source,
            });
        }
        None => return Err(format(1, "empty file".to_owned())),
    };
    if header.sealgate_store_export != EXPORT_FORMAT {
        return Err(format(
            1,
            format!(
                "export format {} (this sealgate reads {EXPORT_FORMAT})",
                header.sealgate_store_export
            ),
        ));
    }
    let mut entries = Vec::new();
    for (index, text) in lines.enumerate() {
        let number = index + 2;
        let text = text.map_err(|source| TransferError::File {
            path: input.to_owned(),
            source,
        })?;
        let line: ExportLine = serde_json::from_str(&text)
            .map_err(|e| format(number, format!("not an entry: {e}")))?;
        let decode = |what: &str, value: &str| {
            b64.decode(value)
                .map_err(|e| format(number, format!("{what} is not base64: {e}")))
        };
        entries.push(sealgate_storage::StoreEntry {
            key: decode("key", &line.key)?,
            value: decode("value", &line.value)?,
            tree: line.tree,
        });
    }
    if entries.len() as u64 != header.entries {
        return Err(format(
            entries.len() + 1,
            format!(
                "{} entries where the header says {}: the file is cut or edited",
                entries.len(),
                header.entries
            ),
        ));
    }
    let store = OpenedStore::open(storage, false).await?.into_store();
    let report = store.import_entries(entries).await?;
    Ok(format!(
        "imported {} entries into {}; audit log of {} events verifies, head {}",
        report.entries,
        OpenedStore::describe(storage),
        report.audit.events,
        report.audit.head
    ))
}
