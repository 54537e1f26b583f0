//! Configuration, loaded in two phases.
//!
//! [`RawConfig`] is what serde reads from the TOML file and `SEALGATE_*` environment variables; it
//! is only validated. [`Config`] holds the built objects (socket addresses, parsed upstream URLs,
//! the rustls server config). Every key is documented in `docs/configuration.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use rustls_pki_types::CertificateDer;
use sealgate_policies::config::{RawPolicy, RawTrust};
use sealgate_policies::policy::{LoadError, Policy};
use serde::{Deserialize, Serialize};

mod storage;

pub use crate::config_error::ConfigError;
use crate::credentials::{Credentials, Secret};
use crate::routes::is_valid_namespace;
pub use crate::tls::RawTls;
pub use storage::{
    Backend as StorageBackend, PASSWORD_ENV as STORAGE_PASSWORD_ENV, PostgresConfig, RawStorage,
    SslMode, StorageConfig, build as build_storage,
};

/// Prefix of environment variables that override file keys (`SEALGATE_LISTEN`,
/// `SEALGATE_STORAGE__PATH`: `__` separates nested keys).
pub const ENV_PREFIX: &str = "SEALGATE";

/// Default cap on a manifest body read into memory (4 MiB, as distribution).
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Highest value accepted for `limits.max_manifest_bytes`: manifests are held in memory.
pub const MAX_MANIFEST_BYTES_CEILING: u64 = 64 * 1024 * 1024;

/// Default of `limits.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Highest value accepted for `limits.max_connections`.
pub const MAX_CONNECTIONS_CEILING: usize = 1 << 20;

/// The configuration as written: serde from the file and the environment, not yet validated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address sealgate serves on.
    #[serde(default = "defaults::listen")]
    pub listen: String,
    /// The store: sled (one replica) or PostgreSQL (several).
    pub storage: RawStorage,
    /// Registries behind sealgate; the first is used for requests without `?ns=`.
    #[serde(default)]
    pub upstream: Vec<RawUpstream>,
    /// Size limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// Timeouts towards upstreams and for shutdown.
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// TLS serving; plain HTTP (HTTP/1.1 and h2c) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawTls>,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
    /// Signers and revocations (`[trust.keys.*]`, `[trust.pki.*]`, `[[trust.revoked_*]]`).
    #[serde(default)]
    pub trust: RawTrust,
    /// Scopes (`[policy.default]`, `[[policy.scope]]`).
    #[serde(default)]
    pub policy: RawPolicy,
    /// `[pull]`: the pull gate's caches and drift checks.
    #[serde(default)]
    pub pull: RawPull,
    /// `[admin]`: the admin API's listener and credentials.
    #[serde(default)]
    pub admin: crate::admin_config::RawAdmin,
    /// `[auth]`: who authenticates clients (the upstream, or sealgate) and `[[auth.rule]]`s.
    #[serde(default)]
    pub auth: crate::access::RawAuth,
}

/// Longest `pull.verdict_ttl` accepted.
pub const MAX_VERDICT_TTL: Duration = Duration::from_secs(3600);

/// `[pull]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPull {
    /// How often, at most, a pinned tag is compared with the upstream's tag (drift); `"0s"`
    /// compares on every pull.
    #[serde(default = "defaults::drift_check_interval", with = "humantime_serde")]
    pub drift_check_interval: Duration,
    /// How long a verdict is reused. A trust change (reload) invalidates verdicts at once; the
    /// TTL bounds how late time-based changes (a certificate expiring) are seen.
    #[serde(default = "defaults::verdict_ttl", with = "humantime_serde")]
    pub verdict_ttl: Duration,
    /// Memory bound, in bytes, of the cache of verified manifests (content-addressed).
    #[serde(default = "defaults::manifest_cache_bytes")]
    pub manifest_cache_bytes: u64,
}

impl Default for RawPull {
    fn default() -> Self {
        Self {
            drift_check_interval: defaults::drift_check_interval(),
            verdict_ttl: defaults::verdict_ttl(),
            manifest_cache_bytes: defaults::manifest_cache_bytes(),
        }
    }
}

/// One `[[upstream]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Short name used in logs, errors and metrics.
    pub name: String,
    /// Base URL of the registry (`http://host:port` or `https://host`), without a path.
    pub url: String,
    /// `?ns=` values (mirror mode, containerd `hosts.toml`) routed to this upstream.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// `[upstream.auth]`: sealgate's own credentials for this upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawUpstreamAuth>,
    /// PEM bundle of CAs trusted for this upstream's TLS, in addition to the system roots;
    /// relative to the configuration file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// `[upstream.auth]` under one `[[upstream]]`. It names where the password is, never the password
/// itself, so the raw configuration can be printed (`check-config`) without leaking it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamAuth {
    /// The user sealgate authenticates as.
    pub username: String,
    /// A file holding the password (one trailing newline is ignored); relative to the
    /// configuration file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest manifest body accepted on push, in bytes.
    #[serde(default = "defaults::max_manifest_bytes")]
    pub max_manifest_bytes: u64,
    /// Most client connections served at once; more are accepted and closed at once.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// `[timeouts]`, as humantime strings (`"5s"`, `"2m"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// Time to establish a TCP (and TLS) connection to an upstream.
    #[serde(default = "defaults::connect", with = "humantime_serde")]
    pub connect: Duration,
    /// Time for an upstream to send response headers.
    #[serde(default = "defaults::response", with = "humantime_serde")]
    pub response: Duration,
    /// Longest silence while a body streams, in either direction.
    #[serde(default = "defaults::idle", with = "humantime_serde")]
    pub idle: Duration,
    /// How long shutdown waits for in-flight requests before closing them.
    #[serde(default = "defaults::shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// A client connection without a request in flight for this long is closed (also one that
    /// never sent a request).
    #[serde(default = "defaults::client_idle", with = "humantime_serde")]
    pub client_idle: Duration,
    /// How often an HTTP/2 client is sent a PING while its connection is open; one not
    /// answered in 20 s closes the connection. `"0s"`: no PINGs.
    #[serde(default = "defaults::client_keepalive", with = "humantime_serde")]
    pub client_keepalive: Duration,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        Self {
            connect: defaults::connect(),
            response: defaults::response(),
            idle: defaults::idle(),
            shutdown_grace: defaults::shutdown_grace(),
            client_idle: defaults::client_idle(),
            client_keepalive: defaults::client_keepalive(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter (`info`, `sealgate=debug,hyper=warn`); `RUST_LOG` wins when set.
    #[serde(default = "defaults::log_level")]
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: defaults::log_level(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

mod defaults {
    use std::time::Duration;

    pub(super) fn listen() -> String {
        "127.0.0.1:5050".to_owned()
    }
    pub(super) fn max_manifest_bytes() -> u64 {
        super::DEFAULT_MAX_MANIFEST_BYTES
    }
    pub(super) fn connect() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn response() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn idle() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn shutdown_grace() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn max_connections() -> usize {
        super::DEFAULT_MAX_CONNECTIONS
    }
    pub(super) fn client_idle() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn client_keepalive() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn drift_check_interval() -> Duration {
        Duration::from_secs(300)
    }
    pub(super) fn verdict_ttl() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn manifest_cache_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub(super) fn log_level() -> String {
        "info".to_owned()
    }
}

fn invalid(key: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.to_string(),
    }
}

/// Where `SEALGATE_*` overrides come from. The process environment in production; a map in tests,
/// so that no test mutates the environment of the process.
#[derive(Debug, Clone, Default)]
pub enum EnvSource {
    /// Read the process environment.
    #[default]
    Process,
    /// Use these variables instead.
    Map(BTreeMap<String, String>),
}

impl EnvSource {
    /// The value of variable `name`, if set and valid UTF-8.
    pub fn var(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        }
    }
}

impl RawConfig {
    /// Reads `file` (TOML), then applies `SEALGATE_*` overrides from `env`.
    pub fn load(file: &Path, env: &EnvSource) -> Result<Self, ConfigError> {
        if !file.is_file() {
            return Err(invalid(
                "--config",
                format_args!("{} is not a readable file", file.display()),
            ));
        }
        // The database password is a secret, not a key: read by `[storage]`'s validation, never
        // part of the configuration `check-config` prints.
        let variables = match env {
            EnvSource::Process => std::env::vars().collect::<Vec<_>>(),
            EnvSource::Map(map) => map.clone().into_iter().collect(),
        };
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(
                variables
                    .into_iter()
                    .filter(|(name, _)| name != STORAGE_PASSWORD_ENV)
                    .collect(),
            ));
        let loaded = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(environment)
            .build()?;
        Ok(loaded.try_deserialize()?)
    }

    /// The sections a reload cannot change, rendered as TOML for comparison.
    pub fn restart_only_sections(&self) -> String {
        let mut copy = self.clone();
        copy.trust = RawTrust::default();
        copy.policy = RawPolicy::default();
        copy.log = RawLog::default();
        // `[auth]` (rules, the tokens file) is applied by a reload too.
        copy.auth = crate::access::RawAuth::default();
        copy.to_toml()
    }

    /// The effective configuration as TOML, for `check-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// A validated upstream registry.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Its configured name.
    pub name: String,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host:port`.
    pub authority: Authority,
    /// `?ns=` values routed to it.
    pub namespaces: Vec<String>,
    /// sealgate's own credentials for it, read at load; `None` passes the client's through.
    pub auth: Option<Credentials>,
    /// CA certificates trusted for its TLS besides the system roots (`ca`), read at load.
    pub ca: Vec<CertificateDer<'static>>,
}

/// Timeouts, validated.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// See [`RawTimeouts::connect`].
    pub connect: Duration,
    /// See [`RawTimeouts::response`].
    pub response: Duration,
    /// See [`RawTimeouts::idle`].
    pub idle: Duration,
    /// See [`RawTimeouts::shutdown_grace`].
    pub shutdown_grace: Duration,
}

/// How client connections are bounded, validated.
#[derive(Debug, Clone, Copy)]
pub struct ClientConnections {
    /// See [`RawLimits::max_connections`].
    pub max: usize,
    /// See [`RawTimeouts::client_idle`].
    pub idle: Duration,
    /// See [`RawTimeouts::client_keepalive`]; `None` when off.
    pub keepalive: Option<Duration>,
}

/// The built configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    /// Address to bind.
    pub listen: SocketAddr,
    /// The store.
    pub storage: StorageConfig,
    /// Upstreams in configuration order; the first is the default.
    pub upstreams: Vec<UpstreamConfig>,
    /// Manifest body cap in bytes.
    pub max_manifest_bytes: usize,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Client connection limit and timeouts.
    pub connections: ClientConnections,
    /// rustls server configuration when `[tls]` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The certificate `tls` serves, replaced by a reload or when its files change.
    pub tls_cert: Option<Arc<crate::tls::ReloadingCert>>,
    /// `[auth]`, built: the one in force is [`crate::state::AppState::access`].
    pub access: Arc<crate::access::Access>,
    /// Logging.
    pub log: RawLog,
    /// The compiled trust policy.
    pub policy: Arc<Policy>,
    /// The pull gate's settings.
    pub pull: RawPull,
    /// Everything but `[trust]`, `[policy]` and `[log]`, as TOML: a reload may change only those
    /// three, so a reload whose other sections differ from this is refused.
    pub restart_only: String,
    /// Digests of the policy and trust configuration, as started.
    pub digests: TrustDigests,
    /// The admin listener, when configured with a credential.
    pub admin: Option<crate::admin_config::AdminConfig>,
    /// The file it was loaded from ([`Config::load`]), for reloads.
    pub source_file: Option<PathBuf>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("storage", &self.storage)
            .field("upstreams", &self.upstreams)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field("timeouts", &self.timeouts)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.access.mode())
            .finish()
    }
}

impl Config {
    /// Loads and validates in one step. Files named in `[trust]` are relative to the directory
    /// of `file`.
    pub fn load(file: &Path, env: &EnvSource) -> Result<Self, ConfigError> {
        let mut config = Self::build_with_env(
            &RawConfig::load(file, env)?,
            file.parent().unwrap_or(Path::new(".")),
            env,
        )?;
        config.source_file = Some(file.to_owned());
        Ok(config)
    }

    /// [`Config::build`] reading `password_env` variables from the process environment.
    pub fn build(raw: &RawConfig, base: &Path) -> Result<Self, ConfigError> {
        Self::build_with_env(raw, base, &EnvSource::Process)
    }

    /// Validates `raw` and builds the objects the server needs; relative trust paths are read
    /// from `base`.
    pub fn build_with_env(
        raw: &RawConfig,
        base: &Path,
        env: &EnvSource,
    ) -> Result<Self, ConfigError> {
        let listen = raw.listen.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen",
                format_args!(
                    "{:?} is not ip:port ({e}); e.g. \"127.0.0.1:5050\"",
                    raw.listen
                ),
            )
        })?;
        let storage = storage::build(&raw.storage, base, env)?;
        let upstreams = build_upstreams(&raw.upstream, base, env)?;
        let max = raw.limits.max_manifest_bytes;
        if max == 0 || max > MAX_MANIFEST_BYTES_CEILING {
            return Err(invalid(
                "limits.max_manifest_bytes",
                format_args!("{max} is out of range 1..={MAX_MANIFEST_BYTES_CEILING}"),
            ));
        }
        let t = &raw.timeouts;
        for (key, value) in [
            ("timeouts.connect", t.connect),
            ("timeouts.response", t.response),
            ("timeouts.idle", t.idle),
            ("timeouts.client_idle", t.client_idle),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        let max_connections = raw.limits.max_connections;
        if max_connections == 0 || max_connections > MAX_CONNECTIONS_CEILING {
            return Err(invalid(
                "limits.max_connections",
                format_args!("{max_connections} is out of range 1..={MAX_CONNECTIONS_CEILING}"),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&raw.log.level) {
            return Err(invalid(
                "log.level",
                format_args!("not a tracing filter: {e}"),
            ));
        }
        if raw.pull.verdict_ttl > MAX_VERDICT_TTL {
            return Err(invalid(
                "pull.verdict_ttl",
                format_args!(
                    "{} is longer than {}: a certificate that expires would stay admitted that long",
                    humantime::format_duration(raw.pull.verdict_ttl),
                    humantime::format_duration(MAX_VERDICT_TTL)
                ),
            ));
        }
        let tls = raw
            .tls
            .as_ref()
            .map(|t| crate::tls::build(t, base))
            .transpose()?;
        let access = crate::access::Access::build(
            &raw.auth,
            base,
            tls.as_ref().is_some_and(|t| t.client_auth.is_some()),
        )?;
        let (policy, digests) = build_trust(raw, base, 1)?;
        let admin = crate::admin_config::build(&raw.admin, base)?;
        Ok(Self {
            listen,
            storage,
            upstreams,
            max_manifest_bytes: usize::try_from(max).unwrap_or(usize::MAX),
            timeouts: Timeouts {
                connect: t.connect,
                response: t.response,
                idle: t.idle,
                shutdown_grace: t.shutdown_grace,
            },
            connections: ClientConnections {
                max: max_connections,
                idle: t.client_idle,
                keepalive: Some(t.client_keepalive).filter(|k| !k.is_zero()),
            },
            tls_cert: tls.as_ref().map(|t| t.cert.clone()),
            tls: tls.map(|t| t.config),
            access: Arc::new(access),
            log: raw.log.clone(),
            policy: Arc::new(policy),
            pull: raw.pull.clone(),
            restart_only: raw.restart_only_sections(),
            digests,
            admin,
            source_file: None,
        })
    }
}

/// Compiles `[trust]` and `[policy]`, reading the files they name (relative to `base`).
pub fn build_policy(raw: &RawConfig, base: &Path, generation: u64) -> Result<Policy, ConfigError> {
    build_trust(raw, base, generation).map(|(policy, _)| policy)
}

/// What identifies a trust configuration, so that two sealgates can be compared: digests of
/// `[policy]` and of `[trust]` with every file it names replaced by the sha256 of its content
/// (the same material under other paths gives the same digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustDigests {
    /// `sha256:` of the canonical JSON of `[policy]`.
    pub policy: String,
    /// `sha256:` of the canonical JSON of `[trust]`, file paths replaced by content digests.
    pub trust: String,
    /// The trust part before runtime revocations are added (see [`TrustDigests::with_runtime`]).
    trust_document: serde_json::Value,
}

impl TrustDigests {
    /// The trust digest once runtime revocations (the admin API's, kept in the store) are part
    /// of the trust in force; `revocations` must be in a stable order.
    pub fn with_runtime(&self, revocations: &serde_json::Value) -> Self {
        let mut document = serde_json::Map::new();
        document.insert("config".into(), self.trust_document.clone());
        document.insert("runtime_revocations".into(), revocations.clone());
        Self {
            trust: json_digest(&serde_json::Value::Object(document)),
            ..self.clone()
        }
    }
}

fn json_digest(value: &serde_json::Value) -> String {
    // serde_json maps are sorted by key, so this rendering is canonical.
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(value.to_string().as_bytes()))
    )
}

/// [`build_policy`], plus the digests that identify the result.
pub fn build_trust(
    raw: &RawConfig,
    base: &Path,
    generation: u64,
) -> Result<(Policy, TrustDigests), ConfigError> {
    let mut contents: BTreeMap<String, String> = BTreeMap::new();
    let mut load = |path: &str| {
        let full = base.join(path);
        let bytes = std::fs::read(&full).map_err(|source| LoadError { path: full, source })?;
        contents.insert(
            path.to_owned(),
            json_digest(&serde_json::Value::String(hex::encode(&bytes))),
        );
        Ok(bytes)
    };
    let policy = Policy::build(&raw.trust, &raw.policy, &mut load, generation)
        .map_err(|e| invalid(e.key, e.message))?;
    let mut trust = serde_json::to_value(&raw.trust).map_err(|e| invalid("trust", e))?;
    replace_paths(&mut trust, &contents);
    let policy_json = serde_json::to_value(&raw.policy).map_err(|e| invalid("policy", e))?;
    let digests = TrustDigests {
        policy: json_digest(&policy_json),
        trust: json_digest(&trust),
        trust_document: trust,
    };
    Ok((policy, digests))
}

/// Replaces every string that names a loaded file by that file's content digest.
fn replace_paths(value: &mut serde_json::Value, contents: &BTreeMap<String, String>) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(digest) = contents.get(s.as_str()) {
                *s = digest.clone();
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                replace_paths(item, contents);
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                replace_paths(item, contents);
            }
        }
        _ => {}
    }
}

fn build_upstreams(
    raw: &[RawUpstream],
    base: &Path,
    env: &EnvSource,
) -> Result<Vec<UpstreamConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(invalid(
            "upstream",
            "at least one [[upstream]] with name and url is required",
        ));
    }
    let mut names = HashSet::new();
    let mut namespaces = HashSet::new();
    // Registry identity -> (index, name, url) of the first upstream naming it.
    let mut registries: HashMap<(String, u16), (usize, &str, &str)> = HashMap::new();
    let mut built = Vec::with_capacity(raw.len());
    for (i, up) in raw.iter().enumerate() {
        let key = |field: &str| format!("upstream[{i}].{field}");
        let name_ok = !up.name.is_empty()
            && up.name.len() <= 63
            && up
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(invalid(
                key("name"),
                format_args!("{:?}: use 1-63 characters of [A-Za-z0-9._-]", up.name),
            ));
        }
        if !names.insert(up.name.as_str()) {
            return Err(invalid(
                key("name"),
                format_args!("{:?} is used twice", up.name),
            ));
        }
        let uri = up.url.parse::<Uri>().map_err(|e| {
            invalid(
                key("url"),
                format_args!(
                    "{:?} is not a URL ({e}); e.g. \"http://127.0.0.1:5000\"",
                    up.url
                ),
            )
        })?;
        let scheme = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
            _ => {
                return Err(invalid(
                    key("url"),
                    format_args!("{:?} must start with http:// or https://", up.url),
                ));
            }
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(invalid(
                key("url"),
                format_args!("{:?} has no host", up.url),
            ));
        };
        if authority.as_str().contains('@') {
            return Err(invalid(
                key("url"),
                "credentials in the URL are not accepted; they would end up in logs",
            ));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid(
                key("url"),
                format_args!(
                    "{:?} must be a base URL without path or query (sealgate adds /v2/...)",
                    up.url
                ),
            ));
        }
        // Pins are keyed by upstream name: one registry under two names would have two sets of
        // pins, and a tag pinned through one name could be re-pointed through the other.
        if let Some((first, first_name, first_url)) = registries.insert(
            registry_identity(&scheme, &authority),
            (i, &up.name, &up.url),
        ) {
            return Err(invalid(
                key("url"),
                format_args!(
                    "{:?} (upstream {:?}) is the same registry as upstream[{first}].url {first_url:?} \
                     (upstream {first_name:?}): its pins would not protect tags pushed through the \
                     other name; keep one [[upstream]] and list every namespace on it",
                    up.url, up.name
                ),
            ));
        }
        for (j, ns) in up.namespaces.iter().enumerate() {
            if !is_valid_namespace(ns) {
                return Err(invalid(
                    format!("upstream[{i}].namespaces[{j}]"),
                    format_args!("{ns:?} is not a registry host such as \"docker.io\""),
                ));
            }
            if !namespaces.insert(ns.as_str()) {
                return Err(invalid(
                    format!("upstream[{i}].namespaces[{j}]"),
                    format_args!("{ns:?} is already routed to another upstream"),
                ));
            }
        }
        let auth = up
            .auth
            .as_ref()
            .map(|auth| build_upstream_auth(auth, &format!("upstream[{i}].auth"), base, env))
            .transpose()?;
        let ca = match &up.ca {
            Some(path) => crate::tls::read_ca_bundle(&base.join(path), &key("ca"))?,
            None => Vec::new(),
        };
        built.push(UpstreamConfig {
            name: up.name.clone(),
            scheme,
            authority,
            namespaces: up.namespaces.clone(),
            auth,
            ca,
        });
    }
    Ok(built)
}

/// What makes two upstream URLs the same registry: the host without case or a trailing dot,
/// and the port with the scheme's default filled in. The scheme itself is left out: one
/// host and port cannot be two registries, one over http and one over https. (Paths are
/// refused already; two names of one host, or a host and its address, are not detected.)
fn registry_identity(scheme: &Scheme, authority: &Authority) -> (String, u16) {
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    let default_port = if scheme.as_str().eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    (host, authority.port_u16().unwrap_or(default_port))
}

/// Reads the password of one `[upstream.auth]` now, so that a missing secret stops the start
/// instead of failing requests later. Errors name the file or the variable, never the value.
fn build_upstream_auth(
    raw: &RawUpstreamAuth,
    key: &str,
    base: &Path,
    env: &EnvSource,
) -> Result<Credentials, ConfigError> {
    let username = &raw.username;
    if username.is_empty() {
        return Err(invalid(format!("{key}.username"), "must not be empty"));
    }
    // RFC 7617: the user-id of Basic credentials cannot contain a colon.
    if username.contains(':') || username.chars().any(char::is_control) {
        return Err(invalid(
            format!("{key}.username"),
            format_args!("{username:?} must not contain ':' or control characters"),
        ));
    }
    let password = match (&raw.password_file, &raw.password_env) {
        (Some(file), None) => {
            let full = base.join(file);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                invalid(
                    format!("{key}.password_file"),
                    format_args!("cannot read {}: {e}", full.display()),
                )
            })?;
            // Secret files are usually written with `echo`: a trailing newline is not part of
            // the password.
            let password = text
                .strip_suffix('\n')
                .map(|p| p.strip_suffix('\r').unwrap_or(p))
                .unwrap_or(&text);
            if password.is_empty() {
                return Err(invalid(
                    format!("{key}.password_file"),
                    format_args!("{} is empty", full.display()),
                ));
            }
            password.to_owned()
        }
        (None, Some(var)) => match env.var(var) {
            Some(value) if !value.is_empty() => value,
            _ => {
                return Err(invalid(
                    format!("{key}.password_env"),
                    format_args!("environment variable {var:?} is not set or is empty"),
                ));
            }
        },
        _ => {
            return Err(invalid(
                key,
                "set exactly one of password_file or password_env",
            ));
        }
    };
    Ok(Credentials::new(username.clone(), Secret::new(password)))
}

#[cfg(test)]
mod tests;
