//! sealgate: a registry-side reverse proxy that enforces signed pushes and pulls.
//!
//! This crate is the I/O shell: it listens, parses OCI requests, talks to upstream registries
//! and the store, and turns every failure into an OCI error. Trust decisions belong to
//! `sealgate-policies` (pure), the index and its key layout to `sealgate-storage`.
//!
//! # Layout
//!
//! From the top down: each module imports only modules listed below it (there is no import
//! circle; `farm-studio look` draws the graph).
//!
//! - `main.rs`: the CLI (serve, check-config, verify, admin).
//! - [`admin`]: the admin API (its own listener; `handlers`) and the `sealgate admin` client.
//! - [`server`]: the listener, TLS, the tower stack, graceful shutdown.
//! - [`gateway`]: per-request dispatch (health, route parsing, access, forwarding); the gates
//!   hook in here.
//! - [`pull`]: the pull gate: tags answered from pins, pull-time re-verification, mirror pins on
//!   first verified pull, blob gating. [`drift`]: pinned tags whose upstream tag moved, checked
//!   in the background and followed where the scope says so.
//! - [`push`]: the push gate: what each tag may hold, tag immutability, signature intake,
//!   quarantine; `push::request` (the request and its shared steps), protected deletes
//!   (`push::delete`).
//! - [`verdicts`]: verdicts on digests from the index, the upstream's signatures and parent
//!   indexes.
//! - [`referrers`]: the referrers API, answered by sealgate. [`facts`]: the facts recorded about
//!   a manifest.
//! - [`signatures`]: reading signature material and manifests from an upstream, within fixed
//!   bounds.
//! - [`tags`]: `tags/list` with `n` and `last`, paginated by sealgate.
//! - [`uploads`]: chunked uploads: chunk order checked against the upstream's offset (416),
//!   superseded session states never sent upstream.
//! - [`scrape`]: the `/metrics` page, rendered from the state.
//! - [`expiry`]: the loop dropping quarantined tags whose TTL passed.
//! - [`reload`]: re-reading trust and policy without a restart (SIGHUP).
//! - [`state`]: application state ([`state::AppState`]: configuration and policy in force, store,
//!   upstreams, caches, counters; the per-tag push locks; the pull caches).
//! - [`upstream`]: the pooled client, namespace routing, header hygiene, `Location` rewriting.
//! - [`verify`]: `sealgate verify`, the trust engine on evidence files, offline.
//! - [`config`]: the TOML file plus `SEALGATE_*` overrides, validated into a [`config::Config`].
//! - [`upstream_auth`]: the registry token flow with sealgate's own upstream credentials.
//! - [`manifest`]: manifests as read from an upstream; `manifest::agreement` refuses JSON that
//!   Go's `encoding/json` would read differently.
//! - [`access`]: `[auth]`: passthrough, or sealgate authenticating clients (tokens, client
//!   certificates) and authorising them per repository.
//! - [`admin_config`]: `[admin]`, built by [`config`].
//! - [`decisions`]: decision logging (`sealgate::decision` lines, counted in the metrics).
//! - [`store_io`]: what the gates read from the store.
//! - [`error`]: the error type and its single mapping to responses (OCI errors, and the admin
//!   API's).
//! - [`metrics`]: the counters updated on the request path.
//! - [`tls`]: the listener's certificate (reloaded without a restart) and client certificates.
//! - [`warning`]: the `Warning` header of warn mode.
//! - [`upload_sessions`]: the upload session states the upstream superseded.
//! - [`cache`]: verdicts and verified manifests held in memory.
//! - [`body`]: streaming bodies with idle timeouts; cut transfers logged and counted; whole blobs
//!   checked against their digest as they stream.
//! - [`content_range`]: an upload chunk's `Content-Range`.
//! - [`routes`]: the OCI URL grammar, validated before anything reaches an upstream.
//! - [`evidence`]: signature material as the index stores it, and back.
//! - [`clock`]: the system clock, read here only.
//! - [`credentials`]: sealgate's own upstream credentials, as configured.
//! - [`config_error`]: the configuration error type.

pub mod access;
pub mod admin;
pub mod admin_config;
pub mod body;
pub mod cache;
pub mod clock;
pub mod config;
pub mod config_error;
pub mod content_range;
pub mod credentials;
pub mod decisions;
pub mod drift;
pub mod error;
pub mod evidence;
pub mod expiry;
pub mod facts;
pub mod fleet;
pub mod gateway;
pub mod manifest;
pub mod metrics;
pub mod pin_cache;
pub mod pull;
pub mod push;
pub mod referrers;
pub mod reload;
pub mod routes;
pub mod scrape;
pub mod server;
pub mod signatures;
pub mod state;
pub mod store_io;
pub mod store_open;
pub mod tags;
pub mod tls;
pub mod upload_sessions;
pub mod uploads;
pub mod upstream;
pub mod upstream_auth;
pub mod verdicts;
pub mod verify;
pub mod warning;

use std::sync::Arc;

use sealgate_storage::StorageError;

use crate::config::Config;
use crate::state::AppState;
use crate::upstream::Upstreams;

/// Why sealgate could not start with a valid configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The store could not be opened (locked by another process, newer schema, disk).
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The upstream client could not be built (system trust roots unreadable).
    #[error("cannot build the upstream client: {0}")]
    Upstream(#[source] std::io::Error),
}

/// Why `sealgate verify-store` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyStoreError {
    /// No directory at the configured path.
    #[error("no store at {}", .0.display())]
    Missing(std::path::PathBuf),
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] StorageError),
    /// A record does not decode.
    #[error("a record does not decode: {0}")]
    Record(#[source] StorageError),
    /// The audit chain does not verify.
    #[error("the audit log is broken: {0}")]
    Audit(#[from] sealgate_storage::AuditError),
}

/// Checks a store: every record decodes and the audit chain verifies. A sled store must be
/// stopped (sled locks its directory); a PostgreSQL one may be serving. Returns a one-line
/// summary.
pub async fn verify_store(storage: &config::StorageConfig) -> Result<String, VerifyStoreError> {
    if let Some(path) = storage.sled_path()
        && !path.is_dir()
    {
        return Err(VerifyStoreError::Missing(path.to_owned()));
    }
    let store = store_open::OpenedStore::open(storage, false).await?;
    let records = store
        .verify_records()
        .await
        .map_err(VerifyStoreError::Record)?;
    let audit = store.into_store().verify_audit().await?;
    Ok(format!(
        "store {}: {records} records decode; audit log of {} events verifies, head {}",
        store_open::OpenedStore::describe(storage),
        audit.events,
        audit.head
    ))
}

/// Opens the store (applying PostgreSQL migrations first with `migrate`) and builds the shared
/// state the server runs with.
pub async fn open(config: Config, migrate: bool) -> Result<Arc<AppState>, StartupError> {
    let store = store_open::OpenedStore::open(&config.storage, migrate)
        .await?
        .into_store();
    let upstreams =
        Upstreams::new(&config.upstreams, config.timeouts).map_err(StartupError::Upstream)?;
    // Read before the revocations: a change made in between moves it again, and the fleet
    // watcher applies it.
    let generation = store.fleet_generation().await?;
    // Revocations made through the admin API outlive restarts: they join the configured trust.
    let runtime = store.revocations().await?;
    let mut config = config;
    if !runtime.is_empty() {
        let mut policy = (*config.policy).clone();
        reload::apply_revocations(&mut policy, &runtime);
        config.policy = Arc::new(policy);
    }
    let state = AppState::new(config, upstreams, store);
    state
        .fleet
        .applied
        .store(generation, std::sync::atomic::Ordering::Release);
    state.fleet.confirm();
    Ok(Arc::new(state))
}
