use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    SerialNumber, date_time_ymd,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::Value;

use super::*;
use crate::crypto::{PublicKey, RsaScheme};
use crate::trusted_root::TrustedRoot;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// `https://ctfe.sigstore.dev/2022` in the public-good trusted root (`3T0wasbH…`).
const CTFE_2022: &str = "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e";
/// `http://tesseract` in `bundle-with-sct-with-extensions/trusted_root.json` (`LKXNJ6iU…`).
const TESSERACT: &str = "2ca5cd27a89484c38e74868d2d3bde1e7852afe7e2771e6f89c7bd667dfcf8ef";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

fn trusted_root(path: &str) -> TrustedRoot {
    TrustedRoot::from_json(&fixture(path)).unwrap()
}

fn public_good() -> TrustedRoot {
    trusted_root("bundle-v0.3/trusted_root.public-good.json")
}

fn log_id(hex_id: &str) -> [u8; 32] {
    hex::decode(hex_id).unwrap().try_into().unwrap()
}

fn verified(hex_id: &str, timestamp_ms: u64) -> Vec<VerifiedSct> {
    vec![VerifiedSct {
        log_id: log_id(hex_id),
        timestamp_ms,
    }]
}

/// The certificate of `root`'s Fulcio CAs that issued `leaf` (matched by subject).
fn fulcio_issuer(root: &TrustedRoot, leaf: &CertificateInfo) -> CertificateInfo {
    root.certificate_authorities
        .iter()
        .flat_map(|ca| &ca.chain)
        .map(|der| CertificateInfo::from_der(der).unwrap())
        .find(|cert| cert.subject == leaf.issuer)
        .unwrap()
}

/// Leaf and issuer from cosign's `dev.sigstore.cosign/{certificate,chain}` annotations.
fn from_annotations(annotations: &Value) -> (CertificateInfo, CertificateInfo) {
    let pem = |key: &str| annotations[key].as_str().unwrap().as_bytes().to_vec();
    let leaf = CertificateInfo::from_pem(&pem("dev.sigstore.cosign/certificate")).unwrap();
    let chain = CertificateInfo::all_from_pem(&pem("dev.sigstore.cosign/chain")).unwrap();
    (leaf, chain.into_iter().next().unwrap())
}

fn connaisseur() -> (CertificateInfo, CertificateInfo) {
    let manifest = fixture_json(
        "cosign-keyless/connaisseur-rekor-test/manifests/\
         sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json",
    );
    from_annotations(&manifest["layers"][0]["annotations"])
}

/// The leaf certificate of a bundle (v0.3 `certificate`, or v0.1 `x509CertificateChain`).
fn bundle_leaf(path: &str) -> CertificateInfo {
    let bundle = fixture_json(path);
    let material = &bundle["verificationMaterial"];
    let b64 = material["certificate"]["rawBytes"]
        .as_str()
        .or_else(|| material["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str())
        .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    CertificateInfo::from_der(&der).unwrap()
}

// --- real Fulcio certificates -------------------------------------------------------------------

#[test]
fn connaisseur_keyless_leaf_sct_verifies() {
    let (leaf, issuer) = connaisseur();
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &public_good().ctlogs),
        Ok(verified(CTFE_2022, 1_717_082_290_907))
    );
}

#[test]
fn containers_image_fulcio_rekor_sct_verifies() {
    let annotations =
        fixture_json("cosign-keyless/containers-image-fulcio-rekor/signature-1.annotations.json");
    let (leaf, issuer) = from_annotations(&annotations);
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &public_good().ctlogs),
        Ok(verified(CTFE_2022, 1_674_247_891_374))
    );
}

#[test]
fn containers_image_rekor_pieces_sct_verifies() {
    let dir = "cosign-keyless/containers-image-rekor-pieces";
    let leaf = CertificateInfo::from_pem(&fixture(&format!("{dir}/rekor-cert"))).unwrap();
    let chain = CertificateInfo::all_from_pem(&fixture(&format!("{dir}/fulcio-chain"))).unwrap();
    assert_eq!(
        verify_embedded_scts(&leaf, &chain[0], &public_good().ctlogs),
        Ok(verified(CTFE_2022, 1_670_870_898_437))
    );
}

#[test]
fn bundle_certificates_scts_verify() {
    let root = public_good();
    for (path, timestamp_ms) in [
        (
            "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json",
            1_775_719_409_615,
        ),
        (
            "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json",
            1_740_770_291_145,
        ),
        (
            "bundle-v0.3/conformance/happy-path-v0.3/bundle.sigstore.json",
            1_710_869_186_470,
        ),
    ] {
        let leaf = bundle_leaf(path);
        let issuer = fulcio_issuer(&root, &leaf);
        assert_eq!(
            verify_embedded_scts(&leaf, &issuer, &root.ctlogs),
            Ok(verified(CTFE_2022, timestamp_ms)),
            "{path}"
        );
        assert_eq!(
            require_scts(&leaf, &issuer, &root.ctlogs, 1),
            Ok(verified(CTFE_2022, timestamp_ms)),
            "{path}"
        );
    }
}

#[test]
fn conformance_invalid_ct_key_is_an_unknown_log() {
    let dir = "bundle-v0.3/conformance/invalid-ct-key_fail";
    let root = trusted_root(&format!("{dir}/trusted_root.json"));
    let leaf = bundle_leaf(&format!("{dir}/bundle.sigstore.json"));
    let issuer = fulcio_issuer(&root, &leaf);
    // The SCT names the production 2022 log; this root holds only staging CT logs.
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &root.ctlogs),
        Err(SctError::UnknownLog {
            log_id: CTFE_2022.to_owned()
        })
    );
    // The same certificate verifies against the root that does hold that log.
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &public_good().ctlogs),
        Ok(verified(CTFE_2022, 1_689_177_395_979))
    );
}

#[test]
fn conformance_sct_with_extensions_verifies() {
    let dir = "bundle-v0.3/conformance/bundle-with-sct-with-extensions";
    let root = trusted_root(&format!("{dir}/trusted_root.json"));
    let leaf = bundle_leaf(&format!("{dir}/bundle.sigstore.json"));
    let issuer = fulcio_issuer(&root, &leaf);
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &root.ctlogs),
        Ok(verified(TESSERACT, 1_768_517_364_925))
    );
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &public_good().ctlogs),
        Err(SctError::UnknownLog {
            log_id: TESSERACT.to_owned()
        })
    );
}

#[test]
fn certificate_without_sct_extension() {
    let (_, intermediate) = connaisseur();
    let root =
        CertificateInfo::from_pem(&fixture("cosign-keyless/trust/fulcio_v1.crt.pem")).unwrap();
    let ctlogs = public_good().ctlogs;
    assert_eq!(
        verify_embedded_scts(&intermediate, &root, &ctlogs),
        Err(SctError::NoSctExtension)
    );
    assert_eq!(
        require_scts(&intermediate, &root, &ctlogs, 1),
        Err(SctError::NoSctExtension)
    );
    // Nothing required: nothing to fail.
    assert_eq!(require_scts(&intermediate, &root, &ctlogs, 0), Ok(vec![]));
}

/// Where the TLS SCT list of `leaf` sits in its DER.
fn sct_list_range(leaf: &CertificateInfo) -> std::ops::Range<usize> {
    let list = split_leaf(&leaf.der).unwrap().sct_list;
    let start = leaf
        .der
        .windows(list.len())
        .position(|w| w == list.as_slice())
        .unwrap();
    start..start + list.len()
}

fn with_der(leaf: &CertificateInfo, der: Vec<u8>) -> CertificateInfo {
    CertificateInfo {
        der,
        ..leaf.clone()
    }
}

#[test]
fn flipped_signature_byte_is_signature_invalid() {
    let (leaf, issuer) = connaisseur();
    let mut der = leaf.der.clone();
    // One SCT, so the list ends with its signature; the last byte is the end of ECDSA's `s`.
    let last = sct_list_range(&leaf).end - 1;
    der[last] ^= 0x01;
    assert_eq!(
        verify_embedded_scts(&with_der(&leaf, der), &issuer, &public_good().ctlogs),
        Err(SctError::SignatureInvalid {
            log_id: CTFE_2022.to_owned()
        })
    );
}

#[test]
fn wrong_issuer_is_signature_invalid() {
    let (leaf, _) = connaisseur();
    let fulcio_root =
        CertificateInfo::from_pem(&fixture("cosign-keyless/trust/fulcio_v1.crt.pem")).unwrap();
    assert_eq!(
        verify_embedded_scts(&leaf, &fulcio_root, &public_good().ctlogs),
        Err(SctError::SignatureInvalid {
            log_id: CTFE_2022.to_owned()
        })
    );
}

#[test]
fn log_key_with_matching_id_but_other_key_is_signature_invalid() {
    let (leaf, issuer) = connaisseur();
    let (other, _) = test_signer();
    let impostor = TransparencyLog {
        log_id: log_id(CTFE_2022).to_vec(),
        ..TransparencyLog::from_public_key(other)
    };
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, std::slice::from_ref(&impostor)),
        Err(SctError::SignatureInvalid {
            log_id: CTFE_2022.to_owned()
        })
    );
    // Two logs share the ID: the one whose key verifies wins.
    let mut ctlogs = vec![impostor];
    ctlogs.extend(public_good().ctlogs);
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &ctlogs),
        Ok(verified(CTFE_2022, 1_717_082_290_907))
    );
}

#[test]
fn algorithm_that_does_not_fit_the_log_key() {
    let (leaf, issuer) = connaisseur();
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let p384 = PublicKey::from_pem(pair.public_key_pem().as_bytes(), RsaScheme::Pkcs1).unwrap();
    let log = TransparencyLog {
        log_id: log_id(CTFE_2022).to_vec(),
        ..TransparencyLog::from_public_key(p384)
    };
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &[log]),
        Err(SctError::UnsupportedAlgorithm {
            log_id: CTFE_2022.to_owned(),
            hash: 4,
            signature: 3,
            key: KeyAlgorithm::EcdsaP384,
        })
    );
}

#[test]
fn sct_outside_the_log_window() {
    let (leaf, issuer) = connaisseur();
    let mut ctlogs = public_good().ctlogs;
    let window = Validity {
        start: UnixTime(1_600_000_000),
        end: Some(UnixTime(1_717_082_289)),
    };
    for log in &mut ctlogs {
        log.valid_for = window;
    }
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &ctlogs),
        Err(SctError::OutsideLogWindow {
            log_id: CTFE_2022.to_owned(),
            at: UnixTime(1_717_082_290),
            window,
        })
    );
    // Both ends are inclusive, in whole seconds.
    for log in &mut ctlogs {
        log.valid_for.end = Some(UnixTime(1_717_082_290));
    }
    assert_eq!(
        verify_embedded_scts(&leaf, &issuer, &ctlogs),
        Ok(verified(CTFE_2022, 1_717_082_290_907))
    );
}

#[test]
fn threshold_above_the_verified_count() {
    let (leaf, issuer) = connaisseur();
    assert_eq!(
        require_scts(&leaf, &issuer, &public_good().ctlogs, 2),
        Err(SctError::BelowThreshold {
            verified: 1,
            required: 2
        })
    );
}

#[test]
fn bad_sct_list_framing_in_a_real_certificate_is_malformed() {
    let (leaf, issuer) = connaisseur();
    let ctlogs = public_good().ctlogs;
    let range = sct_list_range(&leaf);
    let list = split_leaf(&leaf.der).unwrap().sct_list;
    let signature_len = parse_sct(parse_sct_list(&list).unwrap()[0])
        .unwrap()
        .signature
        .len();
    // The outer `sct_list<1..2^16-1>` length, the first `SerializedSCT` length, and the SCT's
    // `signature` length, each made longer than the bytes that follow.
    let signature_len_at = range.end - signature_len - 2;
    for at in [range.start, range.start + 2, signature_len_at] {
        let mut der = leaf.der.clone();
        der[at] = 0xff;
        let got = verify_embedded_scts(&with_der(&leaf, der), &issuer, &ctlogs);
        assert!(
            matches!(got, Err(SctError::Malformed { .. })),
            "byte {at}: {got:?}"
        );
    }
}

#[test]
fn every_single_byte_change_to_the_tbs_is_refused_without_panicking() {
    let (leaf, issuer) = connaisseur();
    let ctlogs = public_good().ctlogs;
    let tbs_len = tbs_of(&leaf.der).unwrap().to_der().unwrap().len();
    let header_len = leaf.der.len() - AnyRef::from_der(&leaf.der).unwrap().value().len();
    for at in header_len..header_len + tbs_len {
        let mut der = leaf.der.clone();
        der[at] ^= 0xff;
        let got = verify_embedded_scts(&with_der(&leaf, der), &issuer, &ctlogs);
        assert!(got.is_err(), "byte {at} changed, still verified");
    }
    // Bytes after the TBS (signature algorithm and signature) are not covered by the SCT.
    for at in header_len + tbs_len..leaf.der.len() {
        let mut der = leaf.der.clone();
        der[at] ^= 0xff;
        let _ = verify_embedded_scts(&with_der(&leaf, der), &issuer, &ctlogs);
    }
}

#[test]
fn truncated_or_garbage_tls_is_malformed() {
    let (leaf, _) = connaisseur();
    let list = split_leaf(&leaf.der).unwrap().sct_list;
    for n in 0..list.len() {
        assert!(
            matches!(parse_sct_list(&list[..n]), Err(SctError::Malformed { .. })),
            "truncated to {n}"
        );
    }
    let mut trailing = list.clone();
    trailing.push(0);
    assert!(matches!(
        parse_sct_list(&trailing),
        Err(SctError::Malformed { .. })
    ));
    for garbage in [
        &b""[..],
        b"\x00",
        b"\x00\x00",
        b"\x00\x02\x00\x00",
        b"garbage",
    ] {
        assert!(
            matches!(parse_sct_list(garbage), Err(SctError::Malformed { .. })),
            "{garbage:?}"
        );
    }
    // One SCT cut short inside its own (correct) length: the SCT, not the list, is malformed.
    let items = parse_sct_list(&list).unwrap();
    let sct = items[0];
    for n in 0..sct.len() {
        assert!(
            matches!(parse_sct(&sct[..n]), Err(SctError::Malformed { .. })),
            "SCT truncated to {n}"
        );
    }
    assert_eq!(
        parse_sct(&[1, 2, 3]).err(),
        Some(SctError::UnsupportedVersion { version: 1 })
    );
}

// --- generated CA, leaf and CT log ----------------------------------------------------------

const SCT_LIST_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const AT_MS: u64 = 1_735_689_600_123;

fn test_signer() -> (PublicKey, EcdsaKeyPair) {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = PublicKey::from_pem(pair.public_key_pem().as_bytes(), RsaScheme::Pkcs1).unwrap();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pair.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap();
    (key, signer)
}

/// A CT log made in the test: its trusted-root entry and its signing key.
struct TestLog {
    log: TransparencyLog,
    signer: EcdsaKeyPair,
}

impl TestLog {
    fn new() -> Self {
        let (key, signer) = test_signer();
        Self {
            log: TransparencyLog::from_public_key(key),
            signer,
        }
    }

    fn id(&self) -> [u8; 32] {
        self.log.log_id.as_slice().try_into().unwrap()
    }

    /// A TLS-encoded v1 SCT over the precertificate entry.
    fn sct(&self, timestamp_ms: u64, extensions: &[u8], entry: &Entry<'_>) -> Vec<u8> {
        let fields = Sct {
            log_id: self.id(),
            timestamp_ms,
            extensions,
            hash_algorithm: 4,
            signature_algorithm: 3,
            signature: &[],
        };
        let message = signed_data(&fields, entry.tbs, entry.issuer_key_hash);
        let signature = self.signer.sign(&SystemRandom::new(), &message).unwrap();
        encode_sct(0, &fields, signature.as_ref())
    }
}

/// What a log signs for a precertificate.
struct Entry<'a> {
    tbs: &'a [u8],
    issuer_key_hash: &'a [u8; 32],
}

fn vec16(bytes: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn encode_sct(version: u8, sct: &Sct<'_>, signature: &[u8]) -> Vec<u8> {
    let mut out = vec![version];
    out.extend_from_slice(&sct.log_id);
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend(vec16(sct.extensions));
    out.extend([sct.hash_algorithm, sct.signature_algorithm]);
    out.extend(vec16(signature));
    out
}

fn encode_list(scts: &[Vec<u8>]) -> Vec<u8> {
    vec16(&scts.iter().flat_map(|sct| vec16(sct)).collect::<Vec<_>>())
}

struct TestCa {
    cert: CertificateInfo,
    issuer: Issuer<'static, KeyPair>,
}

fn test_ca() -> TestCa {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "test fulcio");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCa {
        cert: CertificateInfo::from_der(cert.der()).unwrap(),
        issuer: Issuer::new(params, key),
    }
}

/// Issues a leaf whose SCT-list extension holds `extension_value` (the DER of its extnValue).
fn issue_leaf(ca: &TestCa, key: &KeyPair, extension_value: Vec<u8>) -> CertificateInfo {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.serial_number = Some(SerialNumber::from(0x5c7_u64));
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2025, 1, 2);
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        SCT_LIST_OID,
        extension_value,
    )];
    let cert = params.signed_by(key, &ca.issuer).unwrap();
    CertificateInfo::from_der(cert.der()).unwrap()
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    encode(Tag::OctetString, bytes).unwrap()
}

/// Issues a leaf carrying the SCTs `make` returns for its precertificate entry: a first leaf
/// with a placeholder list gives the TBS, and the final leaf must rebuild to that same TBS.
fn leaf_with_scts(ca: &TestCa, make: impl Fn(&Entry<'_>) -> Vec<Vec<u8>>) -> CertificateInfo {
    let key = KeyPair::generate().unwrap();
    let placeholder = issue_leaf(ca, &key, octet_string(&[0, 0]));
    let tbs = split_leaf(&placeholder.der).unwrap().tbs;
    let issuer_key_hash: [u8; 32] = Sha256::digest(ca.cert.public_key.spki_der()).into();
    let scts = make(&Entry {
        tbs: &tbs,
        issuer_key_hash: &issuer_key_hash,
    });
    let leaf = issue_leaf(ca, &key, octet_string(&encode_list(&scts)));
    assert_eq!(split_leaf(&leaf.der).unwrap().tbs, tbs);
    leaf
}

#[test]
fn generated_leaf_with_several_logs_and_thresholds() {
    let ca = test_ca();
    let (a, b, unknown) = (TestLog::new(), TestLog::new(), TestLog::new());
    let leaf = leaf_with_scts(&ca, |e| {
        vec![
            a.sct(AT_MS, b"", e),
            unknown.sct(AT_MS + 1, b"", e),
            b.sct(AT_MS + 2, b"\x00\x00\x05\x00\x00\x00\x00\x07", e),
        ]
    });
    let ctlogs = [a.log.clone(), b.log.clone()];
    let both = vec![
        VerifiedSct {
            log_id: a.id(),
            timestamp_ms: AT_MS,
        },
        VerifiedSct {
            log_id: b.id(),
            timestamp_ms: AT_MS + 2,
        },
    ];
    // The SCT from a log this root does not know is dropped, not fatal.
    assert_eq!(
        verify_embedded_scts(&leaf, &ca.cert, &ctlogs),
        Ok(both.clone())
    );
    assert_eq!(require_scts(&leaf, &ca.cert, &ctlogs, 2), Ok(both));
    // A third would have to come from the unknown log.
    assert_eq!(
        require_scts(&leaf, &ca.cert, &ctlogs, 3),
        Err(SctError::UnknownLog {
            log_id: hex::encode(unknown.id())
        })
    );
    assert_eq!(
        verify_embedded_scts(&leaf, &ca.cert, &[]),
        Err(SctError::UnknownLog {
            log_id: hex::encode(a.id())
        })
    );
}

#[test]
fn generated_leaf_threshold_counts_distinct_logs() {
    let ca = test_ca();
    let log = TestLog::new();
    let leaf = leaf_with_scts(&ca, |e| {
        vec![log.sct(AT_MS, b"", e), log.sct(AT_MS + 1, b"", e)]
    });
    let ctlogs = std::slice::from_ref(&log.log);
    let first = vec![VerifiedSct {
        log_id: log.id(),
        timestamp_ms: AT_MS,
    }];
    assert_eq!(require_scts(&leaf, &ca.cert, ctlogs, 1), Ok(first));
    assert_eq!(
        require_scts(&leaf, &ca.cert, ctlogs, 2),
        Err(SctError::BelowThreshold {
            verified: 1,
            required: 2
        })
    );
}

#[test]
fn generated_leaf_most_specific_error_wins() {
    let ca = test_ca();
    let (known, unknown) = (TestLog::new(), TestLog::new());
    let leaf = leaf_with_scts(&ca, |e| {
        // Signed over other extensions than the ones embedded: the signature breaks.
        let mut tampered = known.sct(AT_MS, b"\x01", e);
        let signed_len = tampered.len();
        tampered[1 + 32 + 8 + 2] = 0x02;
        assert_eq!(tampered.len(), signed_len);
        vec![unknown.sct(AT_MS, b"", e), tampered]
    });
    assert_eq!(
        verify_embedded_scts(&leaf, &ca.cert, std::slice::from_ref(&known.log)),
        Err(SctError::SignatureInvalid {
            log_id: hex::encode(known.id())
        })
    );
}

#[test]
fn generated_leaf_with_unknown_versions() {
    let ca = test_ca();
    let log = TestLog::new();
    let v2 = |e: &Entry<'_>| {
        let mut sct = log.sct(AT_MS, b"", e);
        sct[0] = 1;
        sct
    };
    let only_v2 = leaf_with_scts(&ca, |e| vec![v2(e)]);
    assert_eq!(
        verify_embedded_scts(&only_v2, &ca.cert, std::slice::from_ref(&log.log)),
        Err(SctError::UnsupportedVersion { version: 1 })
    );
    let mixed = leaf_with_scts(&ca, |e| vec![v2(e), log.sct(AT_MS, b"", e)]);
    assert_eq!(
        verify_embedded_scts(&mixed, &ca.cert, std::slice::from_ref(&log.log)),
        Ok(vec![VerifiedSct {
            log_id: log.id(),
            timestamp_ms: AT_MS
        }])
    );
}

#[test]
fn generated_leaf_with_garbage_extension_is_malformed() {
    let ca = test_ca();
    let log = TestLog::new();
    let key = KeyPair::generate().unwrap();
    for value in [
        octet_string(b"garbage"),
        octet_string(&[]),
        octet_string(&[0x00, 0x03, 0x00, 0x01, 0x00]),
        b"not an OCTET STRING".to_vec(),
    ] {
        let leaf = issue_leaf(&ca, &key, value.clone());
        let got = verify_embedded_scts(&leaf, &ca.cert, std::slice::from_ref(&log.log));
        assert!(
            matches!(got, Err(SctError::Malformed { .. })),
            "{value:?}: {got:?}"
        );
    }
}

#[test]
fn verified_sct_display_and_seconds() {
    let sct = VerifiedSct {
        log_id: log_id(CTFE_2022),
        timestamp_ms: 1_717_082_290_907,
    };
    assert_eq!(sct.timestamp(), UnixTime(1_717_082_290));
    assert_eq!(
        sct.to_string(),
        format!("SCT from CT log {CTFE_2022} at 2024-05-30T15:18:10Z")
    );
}
