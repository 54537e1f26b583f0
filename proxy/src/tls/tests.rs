use std::net::{Ipv4Addr, SocketAddr};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// A CA that issues server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(cn: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, key PEM, DER) of a leaf with `cn` (none when `None`) and `sans`.
    fn leaf(
        &self,
        cn: Option<&str>,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String, Vec<u8>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn server(&self, cn: &str) -> (String, String, Vec<u8>) {
        self.leaf(
            Some(cn),
            vec![SanType::IpAddress(Ipv4Addr::LOCALHOST.into())],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, cn: &str) -> (String, String, Vec<u8>) {
        self.leaf(Some(cn), vec![], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

#[test]
fn the_identity_of_a_certificate_is_its_cn_else_its_first_san() {
    let ca = Ca::new("Test CA");
    let client = |cn: Option<&str>, sans: Vec<SanType>| {
        let (_, _, der) = ca.leaf(cn, sans, ExtendedKeyUsagePurpose::ClientAuth);
        certificate_identity(&der)
    };
    assert_eq!(
        client(Some("build-7"), vec![dns("ci.example")]).as_deref(),
        Some("cn:build-7")
    );
    assert_eq!(
        client(
            None,
            vec![
                dns("ci.example"),
                SanType::URI("spiffe://example.org/ci".try_into().unwrap()),
            ]
        )
        .as_deref(),
        Some("uri:spiffe://example.org/ci"),
        "URI SANs come before DNS SANs"
    );
    assert_eq!(
        client(None, vec![dns("node-1.example")]).as_deref(),
        Some("dns:node-1.example")
    );
    assert_eq!(
        client(
            None,
            vec![SanType::Rfc822Name("ci@example.com".try_into().unwrap())]
        )
        .as_deref(),
        Some("email:ci@example.com")
    );
    assert_eq!(client(None, vec![]), None, "nothing to name it by");
    // A CN with a control character is not an identity; the SAN is used instead.
    assert_eq!(
        client(Some("evil\nname"), vec![dns("ok.example")]).as_deref(),
        Some("dns:ok.example")
    );
    assert_eq!(certificate_identity(b"not DER"), None);
    assert_eq!(peer_identity(None), None);
    let (_, _, der) = ca.client("ci");
    assert_eq!(
        peer_identity(Some(&[CertificateDer::from(der)])),
        Some(PeerIdentity("cn:ci".to_owned()))
    );
}

#[test]
fn a_summary_names_subject_serial_and_expiry() {
    let ca = Ca::new("Test CA");
    let (_, _, der) = ca.server("sealgate-a");
    let summary = CertSummary::of(&der).unwrap();
    assert_eq!(summary.subject, "CN=sealgate-a");
    assert!(!summary.serial.is_empty());
    assert!(summary.not_after.as_secs() > 0);
    assert_eq!(CertSummary::of(b"junk"), None);
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn served_subject(cert: &ReloadingCert) -> String {
    CertSummary::of(&cert.current.load().cert[0])
        .unwrap()
        .subject
}

#[test]
fn a_changed_pair_replaces_the_certificate_and_a_broken_one_never_does() {
    let ca = Ca::new("Test CA");
    let files = Files::new();
    let (cert_a, key_a, _) = ca.server("sealgate-a");
    let cert = files.write("cert.pem", &cert_a);
    let key = files.write("key.pem", &key_a);
    let reloading = ReloadingCert::load(&cert, &key, Duration::from_secs(1)).unwrap();
    assert_eq!(served_subject(&reloading), "CN=sealgate-a");
    assert_eq!(reloading.reload().unwrap(), Reloaded::Unchanged);

    // The certificate is written before the key: the pair does not match, the old one stays.
    let (cert_b, key_b, _) = ca.server("sealgate-b");
    files.write("cert.pem", &cert_b);
    let e = reloading.reload().unwrap_err();
    assert_eq!(e.key, "tls.key", "{e}");
    assert!(e.message.contains("does not match"), "{e}");
    assert_eq!(served_subject(&reloading), "CN=sealgate-a");

    // Both in place: replaced.
    files.write("key.pem", &key_b);
    match reloading.reload().unwrap() {
        Reloaded::Replaced(Some(summary)) => assert_eq!(summary.subject, "CN=sealgate-b"),
        other => panic!("{other:?}"),
    }
    assert_eq!(served_subject(&reloading), "CN=sealgate-b");
    assert_eq!(reloading.summary().unwrap().subject, "CN=sealgate-b");

    // Garbage and a missing file name their key; the pair in use stays.
    files.write("cert.pem", "not pem");
    let e = reloading.reload().unwrap_err();
    assert_eq!(e.key, "tls.cert", "{e}");
    std::fs::remove_file(files.path("key.pem")).unwrap();
    let e = reloading.reload().unwrap_err();
    assert_eq!(e.key, "tls.key", "{e}");
    assert!(e.message.contains("cannot read"), "{e}");
    assert_eq!(served_subject(&reloading), "CN=sealgate-b");
}

#[test]
fn ca_bundles_are_checked() {
    let files = Files::new();
    let e = read_ca_bundle(&files.path("nope.pem"), "upstream[0].ca").unwrap_err();
    assert_eq!(e.key, "upstream[0].ca");
    assert!(e.message.contains("nope.pem"), "{e}");
    let empty = files.write("empty.pem", "no certificates here\n");
    let e = read_ca_bundle(&empty, "tls.client_ca").unwrap_err();
    assert!(e.message.contains("no CERTIFICATE"), "{e}");
    let ca = Ca::new("Test CA");
    let good = files.write("ca.pem", &format!("{}{}", ca.pem(), Ca::new("Other").pem()));
    assert_eq!(read_ca_bundle(&good, "tls.client_ca").unwrap().len(), 2);
}

fn raw_tls(cert: PathBuf, key: PathBuf) -> RawTls {
    RawTls {
        cert,
        key,
        reload_interval: Duration::from_secs(30),
        client_ca: None,
        client_auth: None,
    }
}

#[test]
fn tls_settings_are_validated() {
    let ca = Ca::new("Test CA");
    let files = Files::new();
    let (cert, key, _) = ca.server("sealgate");
    files.write("cert.pem", &cert);
    files.write("key.pem", &key);
    files.write("clients.pem", &ca.pem());
    // Relative paths are read from `base`.
    let mut raw = raw_tls("cert.pem".into(), "key.pem".into());
    let built = build(&raw, files.dir.path()).unwrap();
    assert_eq!(built.client_auth, None);
    assert_eq!(built.config.alpn_protocols[0], b"h2");

    raw.client_auth = Some(ClientAuth::Optional);
    let e = build(&raw, files.dir.path()).unwrap_err().to_string();
    assert!(e.starts_with("tls.client_auth"), "{e}");

    raw.client_ca = Some("clients.pem".into());
    raw.client_auth = None;
    let built = build(&raw, files.dir.path()).unwrap();
    assert_eq!(built.client_auth, Some(ClientAuth::Required), "the default");

    raw.reload_interval = Duration::from_millis(200);
    let e = build(&raw, files.dir.path()).unwrap_err().to_string();
    assert!(e.starts_with("tls.reload_interval"), "{e}");
    raw.reload_interval = Duration::ZERO;
    assert!(build(&raw, files.dir.path()).is_ok(), "0s: SIGHUP only");

    raw.client_ca = Some("missing.pem".into());
    let e = build(&raw, files.dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with("tls.client_ca") && e.contains("missing.pem"),
        "{e}"
    );
}

/// Serves TLS handshakes with `config` on a loopback port; each connection answers with the
/// identity rustls verified ("-" for none) and closes.
async fn identity_server(config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let identity = peer_identity(tls.get_ref().1.peer_certificates())
                        .map_or_else(|| "-".to_owned(), |p| p.0);
                    let _ = tls.write_all(identity.as_bytes()).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connects trusting `server_ca`, presenting `client` (cert PEM, key PEM) if given. Returns the
/// served certificate's subject and what the server said, or the error.
async fn connect(
    addr: SocketAddr,
    server_ca: &str,
    client: Option<(&str, &str)>,
) -> Result<(String, String), String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server_ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let subject = CertSummary::of(&tls.get_ref().1.peer_certificates().unwrap()[0])
        .unwrap()
        .subject;
    let mut said = String::new();
    // TLS 1.3: a refused client certificate shows up as an alert on the first read.
    tls.read_to_string(&mut said)
        .await
        .map_err(|e| e.to_string())?;
    Ok((subject, said))
}

#[tokio::test]
async fn handshakes_see_a_reloaded_certificate_and_verify_client_certificates() {
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let other_ca = Ca::new("Other CA");
    let files = Files::new();
    let (cert_a, key_a, _) = server_ca.server("sealgate-a");
    files.write("cert.pem", &cert_a);
    files.write("key.pem", &key_a);
    files.write("clients.pem", &client_ca.pem());
    let mut raw = raw_tls("cert.pem".into(), "key.pem".into());
    raw.client_ca = Some("clients.pem".into());
    raw.client_auth = Some(ClientAuth::Optional);
    let built = build(&raw, files.dir.path()).unwrap();
    let addr = identity_server(built.config.clone()).await;
    let ca = server_ca.pem();

    let (ci_cert, ci_key, _) = client_ca.client("ci");
    assert_eq!(
        connect(addr, &ca, Some((&ci_cert, &ci_key))).await.unwrap(),
        ("CN=sealgate-a".to_owned(), "cn:ci".to_owned())
    );
    assert_eq!(
        connect(addr, &ca, None).await.unwrap().1,
        "-",
        "optional: no certificate, no identity"
    );
    let (rogue_cert, rogue_key, _) = other_ca.client("ci");
    assert!(
        connect(addr, &ca, Some((&rogue_cert, &rogue_key)))
            .await
            .is_err(),
        "a certificate from another CA is refused"
    );

    let (cert_b, key_b, _) = server_ca.server("sealgate-b");
    files.write("cert.pem", &cert_b);
    files.write("key.pem", &key_b);
    assert!(matches!(
        built.cert.reload().unwrap(),
        Reloaded::Replaced(_)
    ));
    assert_eq!(
        connect(addr, &ca, Some((&ci_cert, &ci_key)))
            .await
            .unwrap()
            .0,
        "CN=sealgate-b",
        "a new handshake gets the new certificate"
    );

    // Required: the handshake fails without a certificate.
    raw.client_auth = Some(ClientAuth::Required);
    let required = build(&raw, files.dir.path()).unwrap();
    let addr = identity_server(required.config.clone()).await;
    assert!(connect(addr, &ca, None).await.is_err());
    assert_eq!(
        connect(addr, &ca, Some((&ci_cert, &ci_key)))
            .await
            .unwrap()
            .1,
        "cn:ci"
    );
}

#[tokio::test(start_paused = true)]
async fn the_watch_picks_up_changed_files() {
    let ca = Ca::new("Test CA");
    let files = Files::new();
    let (cert_a, key_a, _) = ca.server("sealgate-a");
    let cert = files.write("cert.pem", &cert_a);
    let key = files.write("key.pem", &key_a);
    let reloading = Arc::new(ReloadingCert::load(&cert, &key, Duration::from_secs(30)).unwrap());
    let task = tokio::spawn(watch(reloading.clone()));
    let (cert_b, key_b, _) = ca.server("sealgate-b");
    files.write("cert.pem", &cert_b);
    files.write("key.pem", &key_b);
    // Not before the interval has passed.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(served_subject(&reloading), "CN=sealgate-a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while served_subject(&reloading) != "CN=sealgate-b" {
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    task.abort();
}
