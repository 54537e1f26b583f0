//! Throwaway certificates: self-signed ones for sealgate's TLS listener, and a small CA issuing
//! server certificates (a TLS upstream registry) and client certificates (mTLS).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

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

/// A self-signed certificate for `127.0.0.1` and `localhost` with subject `CN=<common_name>`,
/// written to `<stem>.pem` and `<stem>.key` in `dir`; the subject tells certificates apart.
pub fn self_signed_cert_named(dir: &Path, stem: &str, common_name: &str) -> SelfSignedCert {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("certificate parameters");
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().expect("generate a key");
    let cert = params.self_signed(&key).expect("self-sign");
    write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
}

fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key_pem: &str) -> SelfSignedCert {
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, cert_pem).expect("write a certificate");
    std::fs::write(&key, key_pem).expect("write a key");
    SelfSignedCert { cert, key }
}

/// A CA for tests. Its certificate is written to `<name>-ca.pem`; the certificates it issues
/// are PEM pairs like [`SelfSignedCert`] (leaf only; trust the CA file).
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate (PEM), what clients or servers must trust.
    pub cert: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("cert", &self.cert).finish()
    }
}

impl TestCa {
    /// A new CA `CN=<name>`, its certificate written into `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-sign the CA");
        let cert = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert, issuer.pem()).expect("write the CA certificate");
        Self { issuer, cert }
    }

    fn issue(
        &self,
        dir: &Path,
        stem: &str,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
    ) -> SelfSignedCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("generate a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("issue a certificate");
        write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
    }

    /// A server certificate for `127.0.0.1` and `localhost`, `CN=<common_name>`.
    pub fn server_cert(&self, dir: &Path, stem: &str, common_name: &str) -> SelfSignedCert {
        self.issue(
            dir,
            stem,
            common_name,
            vec![
                SanType::IpAddress(Ipv4Addr::LOCALHOST.into()),
                SanType::DnsName("localhost".try_into().expect("a DNS name")),
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate `CN=<common_name>` (sealgate names it `cn:<common_name>`).
    pub fn client_cert(&self, dir: &Path, stem: &str, common_name: &str) -> SelfSignedCert {
        self.issue(
            dir,
            stem,
            common_name,
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}
