//! `[storage]`: sled in a directory (one replica, the default) or PostgreSQL (several replicas
//! on one database). Validated here; the storage crate opens it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use serde::{Deserialize, Serialize};

use super::{EnvSource, invalid};
use crate::config_error::ConfigError;
use crate::credentials::Secret;

/// Variable holding the database password when `storage.password_file` is not set. It is read
/// here, never through the `SEALGATE_*` key overrides, so it cannot end up in `check-config`'s
/// output.
pub const PASSWORD_ENV: &str = "SEALGATE_STORAGE_PASSWORD";

/// Default `storage.pool_size`.
pub(crate) const DEFAULT_POOL_SIZE: usize = 16;

/// Highest `storage.pool_size` accepted: PostgreSQL's default `max_connections` is 100, shared
/// by every replica.
pub(crate) const MAX_POOL_SIZE: usize = 1024;

/// Default of `storage.connect_timeout` and `storage.statement_timeout`.
pub(crate) const DEFAULT_DB_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest `storage.stale_reads` accepted: past it, a revoked signer could stay admitted on a
/// replica cut off from the database.
pub(crate) const MAX_STALE_READS: Duration = Duration::from_secs(3600);

/// `[storage]` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sled` (default) or `postgres`.
    #[serde(default)]
    pub backend: Backend,
    /// sled: the directory, created if missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// postgres: `postgres://user@host:port/database`, without a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// postgres: a file holding the password (else `SEALGATE_STORAGE_PASSWORD`, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// postgres: connections per replica (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<usize>,
    /// postgres: how long to wait for a connection (default 5s).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// postgres: how long one statement may run (default 5s).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub statement_timeout: Option<Duration>,
    /// postgres: TLS to the database (default `prefer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
    /// postgres, `verify-full` only: CA certificates (PEM) the database's certificate must chain
    /// to (the system's roots when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// postgres: while the database is unreachable, serve pulls of pinned tags from what this
    /// replica last read, for at most this long. Off (fail closed) when absent.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub stale_reads: Option<Duration>,
}

/// `storage.backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// sled, embedded: one replica.
    #[default]
    Sled,
    /// PostgreSQL: any number of replicas on one database.
    Postgres,
}

/// `storage.sslmode`, as libpq names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, without checking its certificate.
    #[default]
    Prefer,
    /// TLS, without checking the certificate.
    Require,
    /// TLS; the certificate chains to `ca_file` (or the system's roots) and names the host.
    VerifyFull,
}

/// The validated `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// sled in this directory.
    Sled {
        /// The directory (relative paths as written: sealgate's working directory).
        path: PathBuf,
    },
    /// PostgreSQL.
    Postgres(PostgresConfig),
}

/// A validated PostgreSQL connection. `Debug` shows no password ([`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database`, no password.
    pub url: String,
    /// From `password_file` or `SEALGATE_STORAGE_PASSWORD`.
    pub password: Option<Secret>,
    /// Connections per replica.
    pub pool_size: usize,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Statement timeout.
    pub statement_timeout: Duration,
    /// TLS mode.
    pub sslmode: SslMode,
    /// CA file, resolved against the configuration's directory.
    pub ca_file: Option<PathBuf>,
    /// `stale_reads`, when set.
    pub stale_reads: Option<Duration>,
}

impl StorageConfig {
    /// `storage.stale_reads` (PostgreSQL only; `None`: off).
    pub fn stale_reads(&self) -> Option<Duration> {
        match self {
            Self::Sled { .. } => None,
            Self::Postgres(pg) => pg.stale_reads,
        }
    }

    /// The sled directory, for commands that work on a stopped sled store.
    pub fn sled_path(&self) -> Option<&Path> {
        match self {
            Self::Sled { path } => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

/// Validates `[storage]`; files are relative to `base`.
pub fn build(raw: &RawStorage, base: &Path, env: &EnvSource) -> Result<StorageConfig, ConfigError> {
    match raw.backend {
        Backend::Sled => {
            let postgres_only = [
                ("storage.url", raw.url.is_some()),
                ("storage.password_file", raw.password_file.is_some()),
                ("storage.pool_size", raw.pool_size.is_some()),
                ("storage.connect_timeout", raw.connect_timeout.is_some()),
                ("storage.statement_timeout", raw.statement_timeout.is_some()),
                ("storage.sslmode", raw.sslmode.is_some()),
                ("storage.ca_file", raw.ca_file.is_some()),
                ("storage.stale_reads", raw.stale_reads.is_some()),
            ];
            if let Some((key, _)) = postgres_only.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    *key,
                    "is a PostgreSQL setting; set storage.backend = \"postgres\" or remove it",
                ));
            }
            match &raw.path {
                Some(path) if !path.as_os_str().is_empty() => {
                    Ok(StorageConfig::Sled { path: path.clone() })
                }
                Some(_) => Err(invalid("storage.path", "must not be empty")),
                None => Err(invalid(
                    "storage.path",
                    "is required with storage.backend = \"sled\" (the store's directory)",
                )),
            }
        }
        Backend::Postgres => build_postgres(raw, base, env).map(StorageConfig::Postgres),
    }
}

fn build_postgres(
    raw: &RawStorage,
    base: &Path,
    env: &EnvSource,
) -> Result<PostgresConfig, ConfigError> {
    if raw.path.is_some() {
        return Err(invalid(
            "storage.path",
            "is the sled directory; with storage.backend = \"postgres\" remove it",
        ));
    }
    let url = raw.url.as_deref().ok_or_else(|| {
        invalid(
            "storage.url",
            "is required with storage.backend = \"postgres\", e.g. \
             \"postgres://sealgate@db.example:5432/sealgate\"",
        )
    })?;
    check_url(url)?;
    let password = match (&raw.password_file, env.var(PASSWORD_ENV)) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "storage.password_file",
                format_args!("and {PASSWORD_ENV} are both set; keep one"),
            ));
        }
        (Some(file), None) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    "storage.password_file",
                    format_args!("cannot read {}: {e}", path.display()),
                )
            })?;
            // A file written by `echo` or a Secret mount may end in a newline.
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(invalid(
                    "storage.password_file",
                    format_args!("{} is empty", path.display()),
                ));
            }
            Some(Secret::new(password.to_owned()))
        }
        (None, Some(password)) if !password.is_empty() => Some(Secret::new(password)),
        (None, _) => None,
    };
    let pool_size = raw.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
    if pool_size == 0 || pool_size > MAX_POOL_SIZE {
        return Err(invalid(
            "storage.pool_size",
            format_args!("{pool_size} is out of range 1..={MAX_POOL_SIZE}"),
        ));
    }
    let connect_timeout = raw.connect_timeout.unwrap_or(DEFAULT_DB_TIMEOUT);
    let statement_timeout = raw.statement_timeout.unwrap_or(DEFAULT_DB_TIMEOUT);
    for (key, value) in [
        ("storage.connect_timeout", connect_timeout),
        ("storage.statement_timeout", statement_timeout),
    ] {
        if value.is_zero() {
            return Err(invalid(key, "must be greater than zero"));
        }
    }
    let sslmode = raw.sslmode.unwrap_or_default();
    let ca_file = raw.ca_file.as_ref().map(|f| base.join(f));
    match (&ca_file, sslmode) {
        (Some(_), SslMode::Disable | SslMode::Prefer | SslMode::Require) => {
            return Err(invalid(
                "storage.ca_file",
                "is only used with storage.sslmode = \"verify-full\"; other modes do not check \
                 the database's certificate",
            ));
        }
        (Some(path), SslMode::VerifyFull) if !path.is_file() => {
            return Err(invalid(
                "storage.ca_file",
                format_args!("{} is not a readable file", path.display()),
            ));
        }
        _ => {}
    }
    if let Some(stale) = raw.stale_reads
        && (stale.is_zero() || stale > MAX_STALE_READS)
    {
        return Err(invalid(
            "storage.stale_reads",
            format_args!(
                "{} is out of range (0s, {}]; remove the key to fail closed",
                humantime::format_duration(stale),
                humantime::format_duration(MAX_STALE_READS)
            ),
        ));
    }
    Ok(PostgresConfig {
        url: url.to_owned(),
        password,
        pool_size,
        connect_timeout,
        statement_timeout,
        sslmode,
        ca_file,
        stale_reads: raw.stale_reads,
    })
}

/// `postgres://[user@]host[:port][/database]`. A password in the URL would be printed by
/// `check-config` and logged; query parameters would be a second place for what the
/// `storage.*` keys say.
fn check_url(url: &str) -> Result<(), ConfigError> {
    let bad = |why: &dyn fmt::Display| {
        invalid(
            "storage.url",
            format_args!(
                "{why}; expected postgres://user@host:port/database (password in \
                 storage.password_file or {PASSWORD_ENV})"
            ),
        )
    };
    let uri = url
        .parse::<Uri>()
        .map_err(|e| bad(&format_args!("{url:?} is not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("postgres" | "postgresql") => {}
        _ => return Err(bad(&"the scheme must be postgres://")),
    }
    let authority = uri.authority().ok_or_else(|| bad(&"the host is missing"))?;
    if let Some((userinfo, _)) = authority.as_str().rsplit_once('@')
        && userinfo.contains(':')
    {
        return Err(bad(&"the URL carries a password"));
    }
    if authority.host().is_empty() {
        return Err(bad(&"the host is missing"));
    }
    if uri.query().is_some() {
        return Err(bad(
            &"query parameters are not read; use the storage.* keys",
        ));
    }
    let database = uri.path().trim_start_matches('/');
    if database.contains('/') {
        return Err(bad(&format_args!("{database:?} is not a database name")));
    }
    Ok(())
}
