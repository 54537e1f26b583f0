//! A throwaway self-signed certificate for sealgate's TLS listener.

use std::path::{Path, PathBuf};

/// PEM files of a self-signed certificate valid for `127.0.0.1` and `localhost`.
#[derive(Debug, Clone)]
pub struct SelfSignedCert {
    /// The certificate (also the CA clients must trust).
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
}

/// Generates a certificate for `127.0.0.1` and `localhost` and writes `cert.pem` and `key.pem`
/// into `dir`.
pub fn self_signed_cert(dir: &Path) -> SelfSignedCert {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("generate a self-signed cert");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert.pem");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key.pem");
    SelfSignedCert { cert, key }
}
