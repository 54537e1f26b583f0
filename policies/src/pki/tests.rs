use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber, date_time_ymd,
};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// 2026-11-27, inside every generated certificate's validity.
const NOW: UnixTime = UnixTime(1_795_756_528);

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

/// A CA made in the test: its certificate and the issuer handle that signs with its key.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    params
}

fn root(cn: &str) -> Ca {
    let params = ca_params(cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let params = ca_params(cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct LeafSpec {
    eku: Vec<ExtendedKeyUsagePurpose>,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
    serial: u64,
}

impl Default for LeafSpec {
    fn default() -> Self {
        Self {
            eku: vec![ExtendedKeyUsagePurpose::CodeSigning],
            not_before: (2025, 1, 1),
            not_after: (2030, 1, 1),
            serial: 0x1001,
        }
    }
}

fn leaf(spec: LeafSpec, parent: &Ca) -> CertificateInfo {
    let mut params = CertificateParams::new(vec!["build.example.com".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "ci signer");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.extended_key_usages = spec.eku;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = date_time_ymd(spec.not_before.0, spec.not_before.1, spec.not_before.2);
    params.not_after = date_time_ymd(spec.not_after.0, spec.not_after.1, spec.not_after.2);
    params.serial_number = Some(SerialNumber::from(spec.serial));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    CertificateInfo::from_der(cert.der()).unwrap()
}

fn crl(issuer: &Ca, revoked: &[u64], next_update: (i32, u8, u8)) -> String {
    CertificateRevocationListParams {
        this_update: date_time_ymd(2025, 1, 1),
        next_update: date_time_ymd(next_update.0, next_update.1, next_update.2),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|&serial| RevokedCertParams {
                serial_number: SerialNumber::from(serial),
                revocation_time: date_time_ymd(2025, 6, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer.issuer)
    .unwrap()
    .pem()
    .unwrap()
}

/// root -> intermediate, the bundle holding only the root (the intermediate is presented).
fn two_level() -> (Ca, Ca, CaBundle) {
    let root = root("Example Root");
    let inter = intermediate("Example Signing CA", &root);
    let bundle = CaBundle::from_pem(root.pem.as_bytes(), None).unwrap();
    (root, inter, bundle)
}

fn info(pem: &str) -> CertificateInfo {
    CertificateInfo::from_pem(pem.as_bytes()).unwrap()
}

#[test]
fn a_code_signing_leaf_chains_through_a_presented_intermediate() {
    let (_, inter, bundle) = two_level();
    let leaf = leaf(LeafSpec::default(), &inter);
    bundle.verify(&leaf, &[info(&inter.pem)], NOW).unwrap();
    // Without the intermediate there is no path.
    assert_eq!(
        bundle.verify(&leaf, &[], NOW),
        Err(ChainError::UnknownIssuer)
    );
}

#[test]
fn configured_intermediates_complete_the_path() {
    let root = root("Example Root");
    let inter = intermediate("Example Signing CA", &root);
    let bundle = CaBundle::from_pem(root.pem.as_bytes(), Some(inter.pem.as_bytes())).unwrap();
    bundle
        .verify(&leaf(LeafSpec::default(), &inter), &[], NOW)
        .unwrap();
}

#[test]
fn the_codesigning_eku_is_required() {
    let (_, inter, bundle) = two_level();
    let chain = [info(&inter.pem)];
    let no_eku = leaf(
        LeafSpec {
            eku: vec![],
            ..LeafSpec::default()
        },
        &inter,
    );
    let server = leaf(
        LeafSpec {
            eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            ..LeafSpec::default()
        },
        &inter,
    );
    for leaf in [&no_eku, &server] {
        assert_eq!(
            bundle.verify(leaf, &chain, NOW),
            Err(ChainError::NoCodeSigningEku)
        );
    }
    // If-present accepts a leaf without EKU, never one whose EKU excludes code signing.
    let lenient = bundle.with_eku_policy(EkuPolicy::IfPresent);
    lenient.verify(&no_eku, &chain, NOW).unwrap();
    assert_eq!(
        lenient.verify(&server, &chain, NOW),
        Err(ChainError::NoCodeSigningEku)
    );
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let (_, inter, bundle) = two_level();
    let chain = [info(&inter.pem)];
    let expired = leaf(
        LeafSpec {
            not_before: (2021, 1, 1),
            not_after: (2022, 1, 1),
            ..LeafSpec::default()
        },
        &inter,
    );
    assert!(matches!(
        bundle.verify(&expired, &chain, NOW),
        Err(ChainError::Expired { at: NOW, .. })
    ));
    // The same certificate is fine at a signing time inside its validity.
    bundle
        .verify(&expired, &chain, UnixTime(1_625_000_000))
        .unwrap();
    let future = leaf(
        LeafSpec {
            not_before: (2035, 1, 1),
            not_after: (2036, 1, 1),
            ..LeafSpec::default()
        },
        &inter,
    );
    assert!(matches!(
        bundle.verify(&future, &chain, NOW),
        Err(ChainError::NotYetValid { .. })
    ));
}

#[test]
fn another_root_is_not_trusted() {
    let (_, inter, _) = two_level();
    let other = CaBundle::from_pem(root("Other Root").pem.as_bytes(), None).unwrap();
    let leaf = leaf(LeafSpec::default(), &inter);
    assert_eq!(
        other.verify(&leaf, &[info(&inter.pem)], NOW),
        Err(ChainError::UnknownIssuer)
    );
}

#[test]
fn a_self_signed_leaf_is_not_trusted_even_as_its_own_root() {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "self");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    assert!(matches!(
        CaBundle::from_pem(pem.as_bytes(), None),
        Err(PkiError::NotCa { .. })
    ));
    let (_, _, bundle) = two_level();
    assert_eq!(
        bundle.verify(&info(&pem), &[], NOW),
        Err(ChainError::UnknownIssuer)
    );
}

#[test]
fn a_ca_cannot_be_the_signer() {
    let (_, inter, bundle) = two_level();
    assert_eq!(
        bundle.verify(&info(&inter.pem), &[], NOW),
        Err(ChainError::CaAsLeaf)
    );
}

#[test]
fn crls_revoke_leaves_and_intermediates() {
    let (root, inter, mut bundle) = two_level();
    let chain = [info(&inter.pem)];
    let good = leaf(LeafSpec::default(), &inter);
    let revoked = leaf(
        LeafSpec {
            serial: 0x2002,
            ..LeafSpec::default()
        },
        &inter,
    );
    // The bundle holds only the root: a CRL of the intermediate applies to chains that carry
    // it (cosign's chain annotation), verified with the intermediate's key there.
    let inter_crl = crl(&inter, &[0x2002], (2030, 1, 1));
    let mut presented = CaBundle::from_pem(root.pem.as_bytes(), None).unwrap();
    assert_eq!(
        presented.add_crl(inter_crl.as_bytes()),
        Ok(CrlIssuer::Presented {
            issuer: "CN=Example Signing CA".to_owned()
        })
    );
    presented.verify(&good, &chain, NOW).unwrap();
    assert_eq!(
        presented.verify(&revoked, &chain, NOW),
        Err(ChainError::Revoked)
    );
    let mut with_inter =
        CaBundle::from_pem(root.pem.as_bytes(), Some(inter.pem.as_bytes())).unwrap();
    assert_eq!(
        with_inter.add_crl(inter_crl.as_bytes()),
        Ok(CrlIssuer::Bundle)
    );
    with_inter.verify(&good, &[], NOW).unwrap();
    assert_eq!(
        with_inter.verify(&revoked, &[], NOW),
        Err(ChainError::Revoked)
    );
    // The root revokes the intermediate: everything under it falls.
    let serial = u64::from_str_radix(&info(&inter.pem).serial, 16).ok();
    if let Some(serial) = serial {
        bundle
            .add_crl(crl(&root, &[serial], (2030, 1, 1)).as_bytes())
            .unwrap();
        assert_eq!(bundle.verify(&good, &chain, NOW), Err(ChainError::Revoked));
    }
}

#[test]
fn an_expired_crl_closes_the_gate() {
    let root = root("Example Root");
    let inter = intermediate("Example Signing CA", &root);
    let mut bundle = CaBundle::from_pem(root.pem.as_bytes(), Some(inter.pem.as_bytes())).unwrap();
    bundle
        .add_crl(crl(&inter, &[], (2026, 1, 1)).as_bytes())
        .unwrap();
    let leaf = leaf(LeafSpec::default(), &inter);
    assert!(matches!(
        bundle.verify(&leaf, &[], NOW),
        Err(ChainError::CrlExpired { .. })
    ));
}

#[test]
fn a_crl_signed_by_another_key_is_refused_at_load() {
    let real = root("Example Root");
    let impostor = root("Example Root"); // same name, other key
    let mut bundle = CaBundle::from_pem(real.pem.as_bytes(), None).unwrap();
    assert!(matches!(
        bundle.add_crl(crl(&impostor, &[], (2030, 1, 1)).as_bytes()),
        Err(PkiError::CrlSignature { .. })
    ));
    assert!(matches!(
        bundle.add_crl(b"garbage"),
        Err(PkiError::CrlMalformed(_))
    ));
}

#[test]
fn a_ca_restricted_away_from_code_signing_is_refused_at_load() {
    let mut params = ca_params("TLS only CA");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let pem = params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    assert!(matches!(
        CaBundle::from_pem(pem.as_bytes(), None),
        Err(PkiError::NoCodeSigningUse { .. })
    ));
    assert!(matches!(
        CaBundle::from_pem(b"", None),
        Err(PkiError::NoRoots)
    ));
}

#[test]
fn the_cosign_byo_pki_fixture_chains_to_the_linuxera_root() {
    let dir = "cosign-pki/containers-image-pki";
    let roots = fixture(&format!("{dir}/pki_root_crts.pem"));
    let inters = fixture(&format!("{dir}/pki_intermediate_crts.pem"));
    let annotations: serde_json::Value =
        serde_json::from_slice(&fixture(&format!("{dir}/signature-1.annotations.json"))).unwrap();
    let leaf = CertificateInfo::from_pem(
        annotations["dev.sigstore.cosign/certificate"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert!(
        leaf.san_emails.contains(&"qiwan@redhat.com".to_owned()),
        "{leaf:?}"
    );
    assert!(leaf.san_dns.contains(&"myhost.example.com".to_owned()));
    let chain = CertificateInfo::all_from_pem(
        annotations["dev.sigstore.cosign/chain"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    // The leaf has no EKU extension at all: refused by default, accepted where the operator
    // chose Go's semantics (what containers/image, which made this fixture, accepts).
    assert!(!leaf.has_eku);
    let strict = CaBundle::from_pem(&roots, Some(&inters)).unwrap();
    assert_eq!(
        strict.verify(&leaf, &[], NOW),
        Err(ChainError::NoCodeSigningEku)
    );
    // Only roots configured: the chain annotation supplies the intermediate.
    let roots_only = CaBundle::from_pem(&roots, None)
        .unwrap()
        .with_eku_policy(EkuPolicy::IfPresent);
    roots_only.verify(&leaf, &chain, NOW).unwrap();
    assert_eq!(
        roots_only.verify(&leaf, &[], NOW),
        Err(ChainError::UnknownIssuer)
    );
    // Intermediates configured: no chain annotation needed.
    let full = strict.with_eku_policy(EkuPolicy::IfPresent);
    full.verify(&leaf, &[], NOW).unwrap();
}

#[test]
fn notation_crl_fixtures_load_and_stale_ones_are_refused() {
    let chain =
        CertificateInfo::all_from_pem(&fixture("pki/notation-crl/certchain_with_crl.pem")).unwrap();
    assert_eq!(chain.len(), 3);
    let root_pem = fixture("pki/notation-crl/root.crt");
    let inter_pem = crate::crypto::pem_blocks(
        &fixture("pki/notation-crl/certchain_with_crl.pem"),
        "CERTIFICATE",
    )
    .unwrap();
    let inter = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &inter_pem[1])
    );
    let mut bundle = CaBundle::from_pem(&root_pem, Some(inter.as_bytes())).unwrap();
    bundle
        .add_crl(&fixture("pki/notation-crl/intermediate.crl"))
        .unwrap();
    bundle
        .add_crl(&fixture("pki/notation-crl/leaf.crl"))
        .unwrap();
    assert!(matches!(
        bundle.add_crl(&fixture("pki/notation-crl/leaf_expired.crl")),
        Err(PkiError::CrlSignature { .. })
    ));
    // notation's leaf has no EKU extension; sealgate requires codeSigning.
    assert_eq!(
        bundle.verify(&chain[0], &[], NOW),
        Err(ChainError::NoCodeSigningEku)
    );
}

#[test]
fn a_ca_without_key_cert_sign_issues_nothing() {
    let root = root("Example Root");
    let mut params = ca_params("Signing-only CA");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &root.issuer).unwrap();
    let bad = Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    };
    // Configured: refused at load.
    assert!(matches!(
        CaBundle::from_pem(root.pem.as_bytes(), Some(bad.pem.as_bytes())),
        Err(PkiError::NoCertSign { .. })
    ));
    // Presented with the signature: refused on the path (OpenSSL refuses it too).
    let bundle = CaBundle::from_pem(root.pem.as_bytes(), None).unwrap();
    let signer = leaf(LeafSpec::default(), &bad);
    assert!(matches!(
        bundle.verify(&signer, &[info(&bad.pem)], NOW),
        Err(ChainError::NoCertSign { .. })
    ));
    // A root without keyCertSign is refused at load.
    let mut params = ca_params("Signing-only Root");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    assert!(matches!(
        CaBundle::from_pem(pem.as_bytes(), None),
        Err(PkiError::NoCertSign { .. })
    ));
}

#[test]
fn a_crl_of_a_presented_intermediate_must_be_signed_by_the_one_on_the_path() {
    let root = root("Example Root");
    let inter = intermediate("Example Signing CA", &root);
    // Same name, another key: its CRL names the real intermediate's issuer but cannot verify.
    let impostor = intermediate("Example Signing CA", &root);
    let mut bundle = CaBundle::from_pem(root.pem.as_bytes(), None).unwrap();
    bundle
        .add_crl(crl(&impostor, &[], (2030, 1, 1)).as_bytes())
        .unwrap();
    let signer = leaf(LeafSpec::default(), &inter);
    // Fails closed: a CRL for this issuer is loaded, and it does not verify with its key.
    assert!(bundle.verify(&signer, &[info(&inter.pem)], NOW).is_err());
    // An expired one closes the gate too.
    let mut bundle = CaBundle::from_pem(root.pem.as_bytes(), None).unwrap();
    bundle
        .add_crl(crl(&inter, &[], (2026, 1, 1)).as_bytes())
        .unwrap();
    assert!(matches!(
        bundle.verify(&signer, &[info(&inter.pem)], NOW),
        Err(ChainError::CrlExpired { .. })
    ));
}

#[test]
fn configured_ca_signatures_are_checked_once_and_change_no_answer() {
    let anchor = root("Example Root");
    let inter = intermediate("Example Signing CA", &anchor);
    let mut bundle = CaBundle::from_pem(anchor.pem.as_bytes(), Some(inter.pem.as_bytes())).unwrap();
    bundle
        .add_crl(crl(&inter, &[0x2002], (2030, 1, 1)).as_bytes())
        .unwrap();
    let good = leaf(LeafSpec::default(), &inter);
    let revoked = leaf(
        LeafSpec {
            serial: 0x2002,
            ..LeafSpec::default()
        },
        &inter,
    );
    assert_eq!(bundle.memo.remembered(), 0);
    for _ in 0..2 {
        bundle.verify(&good, &[], NOW).unwrap();
        assert_eq!(bundle.verify(&revoked, &[], NOW), Err(ChainError::Revoked));
    }
    // The intermediate's signature by the root and the CRL's by the intermediate; never a leaf's.
    assert_eq!(bundle.memo.remembered(), 2);

    // With the memo warm, a look-alike intermediate (same name, its own key, signed by another
    // root) and its leaf still get nowhere, presented or not.
    let impostor = intermediate("Example Signing CA", &root("Example Root"));
    let forged = leaf(LeafSpec::default(), &impostor);
    assert!(bundle.verify(&forged, &[], NOW).is_err());
    assert!(bundle.verify(&forged, &[info(&impostor.pem)], NOW).is_err());
    // A clone answers the same and keeps what was learnt.
    let clone = bundle.clone();
    clone.verify(&good, &[], NOW).unwrap();
    assert!(clone.verify(&forged, &[], NOW).is_err());
    assert_eq!(clone.memo.remembered(), 2);
}
