use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber, date_time_ymd,
};

use super::*;
use crate::config::{RawKey, RawKeyless, RawPki, RawPolicy, RawTrust};
use crate::policy::LoadError;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const PUBLIC_GOOD: &str = "bundle-v0.3/trusted_root.public-good.json";
/// 2026-11-27T05:15:28Z.
const NOW: UnixTime = UnixTime(1_795_756_528);

/// A CA certificate made here, PEM, with the issuer handle that signs with its key.
fn ca(
    cn: &str,
    serial: u64,
    not_after: (i32, u8, u8),
    parent: Option<&Issuer<'static, KeyPair>>,
) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
    let key = KeyPair::generate().unwrap();
    let cert = match parent {
        Some(parent) => params.signed_by(&key, parent).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    (cert.pem(), Issuer::new(params, key))
}

/// Loads from memory first, then from the fixture directory.
fn loader(files: BTreeMap<String, Vec<u8>>) -> impl FnMut(&str) -> Result<Vec<u8>, LoadError> {
    move |path: &str| match files.get(path) {
        Some(bytes) => Ok(bytes.clone()),
        None => std::fs::read(format!("{FIXTURES}/{path}")).map_err(|source| LoadError {
            path: path.into(),
            source,
        }),
    }
}

fn pki(roots: &str, intermediates: Option<&str>, trusted_root: Option<&str>) -> RawPki {
    RawPki {
        roots: roots.to_owned(),
        intermediates: intermediates.map(str::to_owned),
        crls: vec![],
        eku: Default::default(),
        signing_time: Default::default(),
        trusted_root: trusted_root.map(str::to_owned),
        identity: Default::default(),
    }
}

fn key(name: &str, trusted_root: Option<&str>) -> RawKey {
    RawKey {
        path: format!("cosign-legacy/connaisseur-testimage/keys/{name}.pub"),
        rsa_scheme: Default::default(),
        trusted_root: trusted_root.map(str::to_owned),
    }
}

/// `corp`: a generated root (serial 0x0a, until 2040) and intermediate (0x0b, 2035-06-01);
/// `release`: keyless on the public-good trusted root; `ci`: a key logged in that root;
/// `plain`: a bare key (another one).
fn policy() -> Policy {
    let (root_pem, root) = ca("Corp Root", 0x0a, (2040, 1, 1), None);
    let (inter_pem, _) = ca("Corp Signing CA", 0x0b, (2035, 6, 1), Some(&root));
    let files = BTreeMap::from([
        ("roots.pem".to_owned(), root_pem.into_bytes()),
        ("inter.pem".to_owned(), inter_pem.into_bytes()),
    ]);
    let mut trust = RawTrust::default();
    trust
        .pki
        .insert("corp".to_owned(), pki("roots.pem", Some("inter.pem"), None));
    trust.keyless.insert(
        "release".to_owned(),
        RawKeyless {
            trusted_root: PUBLIC_GOOD.to_owned(),
            san: "https://github.com/example/*".to_owned(),
            issuer: "https://token.actions.githubusercontent.com".to_owned(),
        },
    );
    trust
        .keys
        .insert("ci".to_owned(), key("alice", Some(PUBLIC_GOOD)));
    // Another key: one key under two names is refused (it would count twice).
    trust.keys.insert("plain".to_owned(), key("bob", None));
    Policy::build(&trust, &RawPolicy::default(), &mut loader(files), 1).unwrap()
}

#[test]
fn pki_roots_and_intermediates_are_listed_with_their_expiry() {
    let certs = policy().trust_certificates();
    let corp: Vec<&TrustCertificate> = certs.iter().filter(|c| c.signer == "corp").collect();
    assert_eq!(corp.len(), 2, "{corp:#?}");
    assert_eq!(corp[0].role, TrustRole::Root);
    assert_eq!(corp[0].subject, "O=Example,CN=Corp Root");
    assert_eq!(corp[0].issuer, corp[0].subject);
    assert_eq!(corp[0].serial, "0a");
    assert_eq!(corp[0].not_after, UnixTime(2_208_988_800), "2040-01-01");
    assert_eq!(corp[1].role, TrustRole::Intermediate);
    assert_eq!(corp[1].subject, "O=Example,CN=Corp Signing CA");
    assert_eq!(corp[1].issuer, "O=Example,CN=Corp Root");
    assert_eq!(corp[1].serial, "0b");
    assert_eq!(corp[1].not_after, UnixTime(2_064_268_800), "2035-06-01");
    assert_eq!(corp[1].not_before, UnixTime(1_577_836_800), "2020-01-01");
    assert_eq!(
        corp[1].seconds_to_expiry(NOW),
        2_064_268_800 - 1_795_756_528
    );
}

#[test]
fn a_keyless_signer_lists_its_fulcio_and_timestamp_chains_once_each() {
    let certs = policy().trust_certificates();
    let release: Vec<&TrustCertificate> = certs.iter().filter(|c| c.signer == "release").collect();
    let fulcio: Vec<(&str, &str, u64)> = release
        .iter()
        .filter(|c| c.role == TrustRole::FulcioCa)
        .map(|c| (c.subject.as_str(), c.serial.as_str(), c.not_after.as_secs()))
        .collect();
    // Two CAs in the file: the 2021 root alone, then intermediate + the 2022 root.
    assert_eq!(
        fulcio,
        [
            (
                "CN=sigstore,O=sigstore.dev",
                "3559036680a2a1f3c3b32edd7e6ea078b6ee87",
                1_929_583_229
            ),
            (
                "CN=sigstore-intermediate,O=sigstore.dev",
                "b9d58957e75346eb25ab264641eb9ff5277da4",
                1_948_975_018
            ),
            (
                "CN=sigstore,O=sigstore.dev",
                "b64d00f15dc473f08de0e5a03c326028403bfe",
                1_948_975_018
            ),
        ]
    );
    let tsa: Vec<&str> = release
        .iter()
        .filter(|c| c.role == TrustRole::TimestampAuthority)
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        tsa,
        [
            "CN=sigstore-tsa,O=sigstore.dev",
            "CN=sigstore-tsa-selfsigned,O=sigstore.dev"
        ]
    );
    assert!(
        release
            .iter()
            .all(|c| c.not_after == UnixTime(2_059_455_583) || c.role == TrustRole::FulcioCa),
        "both TSA certificates end 2035-04-06"
    );
    assert_eq!(release.len(), 5);
}

#[test]
fn keys_list_only_the_timestamp_authorities_of_their_trusted_root() {
    let certs = policy().trust_certificates();
    let ci: Vec<TrustRole> = certs
        .iter()
        .filter(|c| c.signer == "ci")
        .map(|c| c.role)
        .collect();
    assert_eq!(ci, [TrustRole::TimestampAuthority; 2]);
    assert!(
        certs.iter().all(|c| c.signer != "plain"),
        "keys do not expire"
    );
    // Signers in name order.
    let signers: Vec<&str> = certs.iter().map(|c| c.signer.as_str()).collect();
    let mut sorted = signers.clone();
    sorted.sort_unstable();
    assert_eq!(signers, sorted);
}

#[test]
fn the_cosign_byo_pki_fixture_is_listed() {
    let mut trust = RawTrust::default();
    trust.pki.insert(
        "byo".to_owned(),
        pki(
            "cosign-pki/containers-image-pki/pki_root_crts.pem",
            None,
            None,
        ),
    );
    let policy = Policy::build(
        &trust,
        &RawPolicy::default(),
        &mut loader(BTreeMap::new()),
        1,
    )
    .unwrap();
    let certs = policy.trust_certificates();
    assert!(!certs.is_empty());
    assert!(
        certs
            .iter()
            .all(|c| c.role == TrustRole::Root && c.signer == "byo")
    );
    assert!(
        certs
            .iter()
            .all(|c| !c.serial.is_empty() && !c.subject.is_empty())
    );
}

#[test]
fn expiry_arithmetic_is_signed() {
    let cert = TrustCertificate {
        signer: "s".into(),
        role: TrustRole::Root,
        subject: "CN=x".into(),
        issuer: "CN=x".into(),
        serial: "1".into(),
        not_before: UnixTime(0),
        not_after: UnixTime(1_000),
    };
    assert_eq!(cert.seconds_to_expiry(UnixTime(400)), 600);
    assert_eq!(cert.seconds_to_expiry(UnixTime(1_600)), -600);
    assert!(!cert.expires_within(UnixTime(400), 600));
    assert!(cert.expires_within(UnixTime(401), 600));
    assert!(cert.expires_within(UnixTime(2_000), 0), "expired already");
    assert_eq!(
        TrustRole::TimestampAuthority.to_string(),
        "timestamp_authority"
    );
}
