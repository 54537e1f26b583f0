//! The listener's TLS: a certificate that is replaced without a restart, and client certificates
//! whose identity becomes the request's.
//!
//! rustls asks [`ReloadingCert`] for the certificate of every new handshake. Replacing what it
//! holds (SIGHUP, or the files changing on disk, checked every `tls.reload_interval`) changes what
//! new connections see; established connections keep the one they negotiated. A pair that does
//! not load (unreadable, not PEM, a key that does not match the certificate) never replaces a
//! working one: rotations that write the certificate and the key one after the other are picked
//! up once both are in place.
//!
//! Client certificates (`tls.client_ca`) are verified by rustls' `WebPkiClientVerifier` during
//! the handshake; [`certificate_identity`] names the verified certificate (`cn:<CN>`, else
//! `uri:`, `dns:` or `email:` of its first such SAN) and the server puts that name on every
//! request of the connection as a [`PeerIdentity`] extension.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sealgate_policies::time::UnixTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::config_error::ConfigError;

/// `[tls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain, leaf first; relative to the configuration file's directory.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); relative to the configuration file's directory.
    pub key: PathBuf,
    /// How often `cert` and `key` are compared with the pair in use (and a changed pair loaded);
    /// `"0s"`: only on SIGHUP.
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
    /// PEM bundle of the CAs client certificates must chain to; no client certificates when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// `optional` or `required` (the default when `client_ca` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
}

/// `[tls] reload_interval` when absent.
fn default_reload_interval() -> Duration {
    Duration::from_secs(30)
}

/// Longest identity taken from a certificate; longer names are not identities anyone configures.
const MAX_IDENTITY_LEN: usize = 256;

/// `tls.client_auth`: whether a client certificate is required when `tls.client_ca` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A certificate is verified when sent; clients without one are let in (tokens, or the
    /// upstream's own authentication in passthrough mode).
    Optional,
    /// The handshake fails without a certificate from `tls.client_ca`.
    Required,
}

/// A TLS file that cannot be used: the configuration key it belongs to and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsFileError {
    /// Dotted key (`tls.cert`, `upstream[0].ca`).
    pub key: String,
    /// What is wrong, naming the file.
    pub message: String,
}

impl TlsFileError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl From<TlsFileError> for ConfigError {
    fn from(e: TlsFileError) -> Self {
        ConfigError::Invalid {
            key: e.key,
            message: e.message,
        }
    }
}

/// The identity of the verified client certificate of a connection, put on each of its requests
/// as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity(pub String);

/// What the logs say about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// End of validity.
    pub not_after: UnixTime,
}

impl CertSummary {
    /// Reads the summary of a DER certificate; `None` when it does not parse.
    pub fn of(der: &[u8]) -> Option<Self> {
        let cert = Certificate::from_der(der).ok()?;
        let tbs = cert.tbs_certificate();
        Some(Self {
            subject: tbs.subject().to_string(),
            serial: sealgate_policies::x509::serial_hex(tbs.serial_number().as_bytes()),
            not_after: UnixTime(tbs.validity().not_after.to_unix_duration().as_secs()),
        })
    }
}

/// The identity sealgate gives a verified client certificate: `cn:<common name>`, or when the
/// subject has no CN, `uri:`, `dns:` or `email:` followed by the first SAN of that type (in that
/// order). `None` when the certificate names nothing usable (no such field, control characters,
/// longer than 256 bytes).
pub fn certificate_identity(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = cert.tbs_certificate();
    let usable =
        |s: &str| !s.is_empty() && s.len() <= MAX_IDENTITY_LEN && !s.contains(char::is_control);
    if let Ok(Some(cn)) = tbs.subject().common_name() {
        let cn = cn.value();
        if usable(&cn) {
            return Some(format!("cn:{cn}"));
        }
    }
    let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() else {
        return None;
    };
    let first = |prefix: &str, pick: &dyn Fn(&GeneralName) -> Option<String>| {
        san.0
            .iter()
            .filter_map(pick)
            .find(|v| usable(v))
            .map(|v| format!("{prefix}:{v}"))
    };
    first("uri", &|n| match n {
        GeneralName::UniformResourceIdentifier(v) => Some(v.to_string()),
        _ => None,
    })
    .or_else(|| {
        first("dns", &|n| match n {
            GeneralName::DnsName(v) => Some(v.to_string()),
            _ => None,
        })
    })
    .or_else(|| {
        first("email", &|n| match n {
            GeneralName::Rfc822Name(v) => Some(v.to_string()),
            _ => None,
        })
    })
}

/// The identity of a connection's verified client certificate (its first, the end entity).
pub fn peer_identity(certificates: Option<&[CertificateDer<'_>]>) -> Option<PeerIdentity> {
    certificates?
        .first()
        .and_then(|der| certificate_identity(der))
        .map(PeerIdentity)
}

/// A certificate and key read from their files, checked to belong together.
struct LoadedPair {
    key: Arc<CertifiedKey>,
    stamp: [u8; 32],
    summary: Option<CertSummary>,
}

/// What the files of the pair in use hash to: the reload check compares contents, not times,
/// so a rewrite within the same second (or a restored mtime) is still seen.
fn stamp(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsFileError> {
    let read = |path: &Path, k: &str| {
        std::fs::read(path)
            .map_err(|e| TlsFileError::new(k, format!("cannot read {}: {e}", path.display())))
    };
    Ok((read(cert, "tls.cert")?, read(key, "tls.key")?))
}

fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
) -> Result<LoadedPair, TlsFileError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsFileError::new(
                "tls.cert",
                format!("cannot read PEM certificates from {}: {e}", cert.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(TlsFileError::new(
            "tls.cert",
            format!("{} holds no CERTIFICATE block", cert.display()),
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsFileError::new(
            "tls.key",
            format!("cannot read a PEM private key from {}: {e}", key.display()),
        )
    })?;
    let summary = CertSummary::of(&chain[0]);
    let certified = CertifiedKey::from_der(chain, private, &provider()).map_err(|e| {
        TlsFileError::new(
            "tls.key",
            format!(
                "{} does not match the certificate in {} or is unusable: {e}",
                key.display(),
                cert.display()
            ),
        )
    })?;
    Ok(LoadedPair {
        key: Arc::new(certified),
        stamp: stamp(cert_pem, key_pem),
        summary,
    })
}

/// The crypto provider of every TLS connection sealgate makes or accepts (sealgate-storage names the
/// same for the database): aws-lc-rs, which also checks signatures, so one crypto library ships.
pub(crate) fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// What [`ReloadingCert::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The files hold the pair in use; nothing changed.
    Unchanged,
    /// New handshakes now get this certificate.
    Replaced(Option<CertSummary>),
}

/// The listener's certificate and key, replaceable while serving.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    /// What new handshakes get.
    current: ArcSwap<CertifiedKey>,
    /// The stamp and summary of `current`; held while reloading, so that a SIGHUP and the file
    /// watch never interleave.
    loaded: Mutex<([u8; 32], Option<CertSummary>)>,
    /// How often the files are compared with the pair in use; zero: only on SIGHUP.
    pub reload_interval: Duration,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Reads and checks the pair now.
    pub fn load(cert: &Path, key: &Path, reload_interval: Duration) -> Result<Self, TlsFileError> {
        let (cert_pem, key_pem) = read_pair(cert, key)?;
        let pair = parse_pair(&cert_pem, &key_pem, cert, key)?;
        Ok(Self {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            current: ArcSwap::new(pair.key),
            loaded: Mutex::new((pair.stamp, pair.summary)),
            reload_interval,
        })
    }

    /// Reads the files again and, when they hold another pair that loads, serves it to new
    /// handshakes. On error the pair in use stays. Blocking (file reads).
    pub fn reload(&self) -> Result<Reloaded, TlsFileError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let (cert_pem, key_pem) = read_pair(&self.cert_path, &self.key_path)?;
        if stamp(&cert_pem, &key_pem) == loaded.0 {
            return Ok(Reloaded::Unchanged);
        }
        let pair = parse_pair(&cert_pem, &key_pem, &self.cert_path, &self.key_path)?;
        self.current.store(pair.key);
        *loaded = (pair.stamp, pair.summary.clone());
        Ok(Reloaded::Replaced(pair.summary))
    }

    /// The certificate in use.
    pub fn summary(&self) -> Option<CertSummary> {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Logs a replaced certificate: one line with what new connections now get.
pub fn log_reloaded(trigger: &str, summary: Option<&CertSummary>) {
    match summary {
        Some(s) => tracing::info!(
            trigger,
            subject = %s.subject,
            serial = %s.serial,
            not_after = %s.not_after,
            "tls certificate reloaded"
        ),
        None => tracing::info!(trigger, "tls certificate reloaded"),
    }
}

/// Compares the files with the pair in use every `reload_interval` and swaps in a changed pair;
/// runs until the process ends (or returns at once when the interval is zero). A pair that does
/// not load is logged once per distinct error and retried on the next tick.
pub async fn watch(cert: Arc<ReloadingCert>) {
    let every = cert.reload_interval;
    if every.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick completes at once; the pair was just loaded.
    ticks.tick().await;
    let mut last_error: Option<String> = None;
    loop {
        ticks.tick().await;
        let c = cert.clone();
        match tokio::task::spawn_blocking(move || c.reload()).await {
            Ok(Ok(Reloaded::Unchanged)) => last_error = None,
            Ok(Ok(Reloaded::Replaced(summary))) => {
                last_error = None;
                log_reloaded("file change", summary.as_ref());
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                if last_error.as_deref() != Some(why.as_str()) {
                    tracing::warn!(error = %why, "tls certificate files changed but do not load; still serving the previous certificate");
                    last_error = Some(why);
                }
            }
            Err(e) => tracing::error!(error = %e, "tls certificate reload task failed"),
        }
    }
}

/// Reads a PEM bundle of CA certificates for `key`, each checked to be usable as a trust anchor.
pub fn read_ca_bundle(
    path: &Path,
    key: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = std::fs::read(path)
        .map_err(|e| TlsFileError::new(key, format!("cannot read {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsFileError::new(
                key,
                format!("cannot read PEM certificates from {}: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(TlsFileError::new(
            key,
            format!("{} holds no CERTIFICATE block", path.display()),
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            TlsFileError::new(
                key,
                format!(
                    "certificate {} of {} is not usable as a trust anchor: {e}",
                    i + 1,
                    path.display()
                ),
            )
        })?;
    }
    Ok(certs)
}

/// Verifies client certificates against the CAs in `ca`, the file configuration key `key`
/// names (`tls.client_ca`, `admin.client_ca`).
pub(crate) fn client_verifier(
    ca: &Path,
    key: &str,
    mode: ClientAuth,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsFileError> {
    let mut roots = RootCertStore::empty();
    for cert in read_ca_bundle(ca, key)? {
        // Checked by `read_ca_bundle`.
        roots
            .add(cert)
            .map_err(|e| TlsFileError::new(key, e.to_string()))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match mode {
        ClientAuth::Optional => builder.allow_unauthenticated(),
        ClientAuth::Required => builder,
    };
    builder
        .build()
        .map_err(|e| TlsFileError::new(key, format!("{}: {e}", ca.display())))
}

/// The built `[tls]`: the rustls configuration and the certificate it serves.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The rustls server configuration (ALPN `h2`, `http/1.1`).
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate, replaceable while serving.
    pub cert: Arc<ReloadingCert>,
    /// Whether client certificates are verified (`tls.client_ca` set).
    pub client_auth: Option<ClientAuth>,
}

/// Builds `[tls]`: reads the pair and the client CA bundle (paths relative to `base`).
pub fn build(raw: &RawTls, base: &Path) -> Result<ServerTls, ConfigError> {
    if raw.client_auth.is_some() && raw.client_ca.is_none() {
        return Err(TlsFileError::new(
            "tls.client_auth",
            "is set but tls.client_ca is not; name the CA bundle client certificates must chain to",
        )
        .into());
    }
    let interval = raw.reload_interval;
    if !interval.is_zero() && interval < Duration::from_secs(1) {
        return Err(TlsFileError::new(
            "tls.reload_interval",
            format!(
                "{} is shorter than 1s; use \"0s\" to reload on SIGHUP only",
                humantime::format_duration(interval)
            ),
        )
        .into());
    }
    let cert = Arc::new(ReloadingCert::load(
        &base.join(&raw.cert),
        &base.join(&raw.key),
        interval,
    )?);
    let provider = Arc::new(provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError::new("tls", e.to_string()))?;
    // Set with a CA: required unless configured otherwise (asking for a CA and then letting
    // everyone in must be explicit).
    let client_auth = raw
        .client_ca
        .as_ref()
        .map(|_| raw.client_auth.unwrap_or(ClientAuth::Required));
    let builder = match (&raw.client_ca, client_auth) {
        (Some(ca), Some(mode)) => builder.with_client_cert_verifier(client_verifier(
            &base.join(ca),
            "tls.client_ca",
            mode,
            provider,
        )?),
        _ => builder.with_no_client_auth(),
    };
    let mut server = builder.with_cert_resolver(cert.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(server),
        cert,
        client_auth,
    })
}

#[cfg(test)]
mod tests;
