//! `[admin]`: where the admin API ([`crate::admin`]) listens and what it accepts as a credential.
//!
//! The admin API never shares the client listener. It is on only when it has a credential: a
//! bearer token (from a file, never inline) and/or client certificates from a CA (mTLS, which
//! needs `cert`/`key`). Without either it stays off: an admin API without a credential is not an
//! option.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config_error::ConfigError;

/// Shortest admin token accepted: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 32;

/// `[admin]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address of the admin listener (loopback by default).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// File whose first line is the admin bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle: admin clients presenting a certificate it issued are admitted (mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// PEM certificate chain of the admin listener (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of the admin listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            token_file: None,
            client_ca: None,
            cert: None,
            key: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:5051".to_owned()
}

/// The admin listener, validated.
#[derive(Clone)]
pub struct AdminConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// sha256 of the bearer token, if one is configured (the token itself is not kept).
    pub token_sha256: Option<[u8; 32]>,
    /// TLS (with client-certificate verification when `client_ca` is set).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether client certificates from `client_ca` are a credential.
    pub mtls: bool,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token", &self.token_sha256.map(|_| "<set>"))
            .field("tls", &self.tls.is_some())
            .field("mtls", &self.mtls)
            .finish()
    }
}

fn invalid(key: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: format!("admin.{key}"),
        message: message.to_string(),
    }
}

/// Why the admin token file is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The token file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Its first line is too short to be a secret.
    #[error(
        "{} holds a token of {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
        path.display()
    )]
    TooShort {
        /// The token file.
        path: PathBuf,
        /// The token's length.
        len: usize,
    },
}

/// Reads the admin token from `path`: its first line, trimmed.
pub fn read_token(path: &Path) -> Result<String, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < MIN_TOKEN_LEN {
        return Err(TokenFileError::TooShort {
            path: path.to_owned(),
            len: token.len(),
        });
    }
    Ok(token)
}

/// Validates `[admin]`; `None` when no credential is configured (the admin API stays off).
pub fn build(raw: &RawAdmin, base: &Path) -> Result<Option<AdminConfig>, ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|e| {
        invalid(
            "listen",
            format_args!(
                "{:?} is not ip:port ({e}); e.g. \"127.0.0.1:5051\"",
                raw.listen
            ),
        )
    })?;
    let token_sha256 = match &raw.token_file {
        Some(path) => {
            let token = read_token(&base.join(path)).map_err(|e| invalid("token_file", e))?;
            Some(Sha256::digest(token.as_bytes()).into())
        }
        None => None,
    };
    let tls = match (&raw.cert, &raw.key) {
        (Some(cert), Some(key)) => Some(build_tls(
            &base.join(cert),
            &base.join(key),
            raw.client_ca.as_ref().map(|ca| base.join(ca)).as_deref(),
        )?),
        (None, None) => None,
        _ => return Err(invalid("cert", "cert and key are set together")),
    };
    if raw.client_ca.is_some() && tls.is_none() {
        return Err(invalid(
            "client_ca",
            "client certificates need TLS on the admin listener: set admin.cert and admin.key",
        ));
    }
    if token_sha256.is_none() && raw.client_ca.is_none() {
        return Ok(None);
    }
    Ok(Some(AdminConfig {
        listen,
        token_sha256,
        tls,
        mtls: raw.client_ca.is_some(),
    }))
}

fn build_tls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid("cert", format_args!("cannot read {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            "cert",
            format_args!("{} holds no CERTIFICATE block", cert.display()),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid("key", format_args!("cannot read {}: {e}", key.display())))?;
    let provider = Arc::new(crate::tls::provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("cert", e))?;
    let builder = match client_ca {
        // Optional at the TLS layer: a client without a certificate may still present the
        // token; the handler decides.
        Some(ca) => builder.with_client_cert_verifier(crate::tls::client_verifier(
            ca,
            "admin.client_ca",
            crate::tls::ClientAuth::Optional,
            provider,
        )?),
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| invalid("key", format_args!("does not match admin.cert: {e}")))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(token_file: Option<&Path>) -> RawAdmin {
        RawAdmin {
            token_file: token_file.map(Path::to_owned),
            ..RawAdmin::default()
        }
    }

    #[test]
    fn without_a_credential_the_admin_api_is_off() {
        let dir = tempfile::tempdir().unwrap();
        assert!(build(&raw(None), dir.path()).unwrap().is_none());
    }

    #[test]
    fn the_token_is_read_and_only_its_digest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let token = "a".repeat(MIN_TOKEN_LEN);
        std::fs::write(dir.path().join("t"), format!("{token}\nignored\n")).unwrap();
        let admin = build(&raw(Some(Path::new("t"))), dir.path())
            .unwrap()
            .unwrap();
        let expected: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        assert_eq!(admin.token_sha256, Some(expected));
        assert_eq!(admin.listen, "127.0.0.1:5051".parse().unwrap());
        assert!(!format!("{admin:?}").contains(&token));
    }

    #[test]
    fn bad_admin_settings_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("short"), "tooshort\n").unwrap();
        let cases: Vec<(RawAdmin, &str)> = vec![
            (raw(Some(Path::new("short"))), "admin.token_file"),
            (raw(Some(Path::new("missing"))), "admin.token_file"),
            (
                RawAdmin {
                    listen: "everywhere".into(),
                    ..RawAdmin::default()
                },
                "admin.listen",
            ),
            (
                RawAdmin {
                    client_ca: Some("ca.pem".into()),
                    ..RawAdmin::default()
                },
                "admin.client_ca",
            ),
            (
                RawAdmin {
                    cert: Some("c.pem".into()),
                    ..RawAdmin::default()
                },
                "admin.cert",
            ),
        ];
        for (raw, key) in cases {
            let e = build(&raw, dir.path()).unwrap_err().to_string();
            assert!(e.starts_with(key), "{key}: {e}");
        }
    }
}
