//! TLS to the database (rustls with aws-lc-rs, as the rest of sealgate), by [`SslMode`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{PgOptions, SslMode};
use crate::StorageError;

fn invalid(what: String) -> StorageError {
    StorageError::InvalidOptions(what)
}

/// The TLS connector for `options`; `None` for [`SslMode::Disable`].
pub(super) fn connector(options: &PgOptions) -> Result<Option<MakeRustlsConnect>, StorageError> {
    if options.ca_file.is_some() && options.sslmode != SslMode::VerifyFull {
        // A CA file that nothing checks would only look like protection.
        return Err(invalid(format!(
            "a CA file is used only with sslmode verify-full, not {}",
            options.sslmode
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    let config = match options.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unauthenticated {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(options)?)
            .with_no_client_auth(),
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// The CAs of `ca_file`, or the system's.
fn roots(options: &PgOptions) -> Result<rustls::RootCertStore, StorageError> {
    let mut roots = rustls::RootCertStore::empty();
    match &options.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("cannot read the CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(invalid(format!(
                    "the CA file {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    invalid(format!(
                        "a certificate of {} is unusable: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(invalid(
                    "sslmode verify-full without a CA file needs the system's CA certificates, \
                     and none were found"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(roots)
}

/// libpq's `prefer` and `require`: the channel is encrypted, the server not authenticated. The
/// handshake's signatures are still checked (against the certificate presented).
#[derive(Debug)]
struct Unauthenticated {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Unauthenticated {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
