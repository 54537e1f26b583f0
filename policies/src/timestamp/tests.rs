use base64::Engine as _;
use der::Encode as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, SigningKey as _, date_time_ymd,
};
use serde_json::Value;

use super::*;
use crate::bundle::{BundleContent, SigstoreBundle};
use crate::trusted_root::TrustedRoot;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const NOTATION: &str = "notation/notation-go/timestamp";
const KUBEWARDEN: &str = "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json";
const PUBLIC_GOOD: &str = "bundle-v0.3/trusted_root.public-good.json";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn time(rfc3339: &str) -> UnixTime {
    UnixTime::parse_rfc3339(rfc3339).unwrap()
}

fn trusted_root(path: &str) -> TrustedRoot {
    TrustedRoot::from_json(&fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A bundle's first RFC 3161 token and the bytes it imprints: the message signature, or the
/// DSSE envelope's signature.
fn sigstore_timestamp(bundle_path: &str) -> (Vec<u8>, Vec<u8>) {
    let bundle = SigstoreBundle::from_json(&fixture(bundle_path)).unwrap();
    let token = bundle
        .rfc3161_timestamps
        .first()
        .expect("a timestamp")
        .clone();
    let signed = match bundle.content {
        BundleContent::MessageSignature { signature, .. } => signature,
        BundleContent::Dsse(envelope) => envelope.signatures[0].sig.clone(),
    };
    (token, signed)
}

fn conformance(case: &str) -> (Vec<u8>, Vec<u8>, TrustedRoot) {
    let dir = format!("bundle-v0.3/conformance/{case}");
    let (token, signed) = sigstore_timestamp(&format!("{dir}/bundle.sigstore.json"));
    (
        token,
        signed,
        trusted_root(&format!("{dir}/trusted_root.json")),
    )
}

fn kubewarden() -> (Vec<u8>, Vec<u8>, TrustedRoot) {
    let (token, signed) = sigstore_timestamp(KUBEWARDEN);
    (token, signed, trusted_root(PUBLIC_GOOD))
}

fn globalsign_root() -> Vec<CertificateInfo> {
    let path = format!("{NOTATION}/truststore/x509/tsa/test-timestamp/globalsignRoot.cer");
    vec![CertificateInfo::from_der_or_pem(&fixture(&path)).unwrap()]
}

/// A notation JWS envelope's signature bytes and its `io.cncf.notary.timestampSignature`.
fn jws(name: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let json: Value =
        serde_json::from_slice(&fixture(&format!("{NOTATION}/sigEnv/{name}"))).unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(json["signature"].as_str().unwrap())
        .unwrap();
    let token = json["header"]["io.cncf.notary.timestampSignature"]
        .as_str()
        .map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        });
    (signature, token)
}

// --- sigstore bundles ---------------------------------------------------------------------------

#[test]
fn kubewarden_token_parses() {
    let (token, signed, _) = kubewarden();
    let token = TimestampToken::from_der(&token).unwrap();
    assert_eq!(token.gen_time(), time("2026-04-09T07:23:29Z"));
    assert_eq!(token.message_imprint().algorithm, HashAlgorithm::Sha256);
    assert_eq!(
        token.message_imprint().digest,
        digest(HashAlgorithm::Sha256, &signed)
    );
    assert_eq!(token.serial(), "db3e11cdb04ddc7040b4fda10cecfbaa9d0c99ba");
    assert_eq!(token.policy(), "1.3.6.1.4.1.57264.2");
    assert_eq!(token.nonce(), None);
    // The sigstore TSA does not embed its certificate: the trusted root supplies it.
    assert!(token.certificates().is_empty());
    let signer = token.signer();
    assert_eq!(
        signer.id(),
        SignerId::IssuerAndSerial {
            issuer: "CN=sigstore-tsa-selfsigned,O=sigstore.dev".to_owned(),
            serial: "3a13542f0c9061eebcc1432fcb8a8e8b2a238b0c".to_owned(),
        }
    );
    assert_eq!(signer.digest_algorithm(), HashAlgorithm::Sha256);
    assert_eq!(signer.signature_algorithm(), "1.2.840.10045.4.3.2");
    assert_eq!(signer.signed_attributes_der().unwrap()[0], 0x31);
}

#[test]
fn kubewarden_timestamp_verifies_over_the_dsse_signature() {
    let (token, signed, root) = kubewarden();
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Ok(time("2026-04-09T07:23:29Z"))
    );
}

#[test]
fn kubewarden_timestamp_is_not_over_the_payload_or_pae() {
    let bundle = SigstoreBundle::from_json(&fixture(KUBEWARDEN)).unwrap();
    let BundleContent::Dsse(envelope) = &bundle.content else {
        panic!("kubewarden is a DSSE bundle");
    };
    let root = trusted_root(PUBLIC_GOOD);
    for wrong in [envelope.payload.clone(), envelope.pae()] {
        assert_eq!(
            verify_timestamp(
                &bundle.rfc3161_timestamps[0],
                &wrong,
                &root.timestamp_authorities
            ),
            Err(TimestampError::ImprintMismatch)
        );
    }
}

#[test]
fn kubewarden_flipped_signature_byte_is_imprint_mismatch() {
    let (token, mut signed, root) = kubewarden();
    signed[10] ^= 0x01;
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::ImprintMismatch)
    );
}

#[test]
fn trusted_root_without_tsa_is_no_authority() {
    let (token, signed, mut root) = kubewarden();
    root.timestamp_authorities.clear();
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::NoAuthority)
    );
    let parsed = TimestampToken::from_der(&token).unwrap();
    assert_eq!(
        parsed.verify(&signed, &[]),
        Err(TimestampError::NoAuthority)
    );
    assert_eq!(
        verify_timestamp_with_roots(&token, &signed, &[], &[]),
        Err(TimestampError::NoAuthority)
    );
}

#[test]
fn gen_time_outside_the_authority_window_is_refused() {
    let (token, signed, root) = kubewarden();
    let gen_time = time("2026-04-09T07:23:29Z");
    let mut tsa = root.timestamp_authorities[0].clone();
    // Ended one second before the stamp.
    tsa.valid_for.end = Some(UnixTime(gen_time.0 - 1));
    assert_eq!(
        verify_timestamp(&token, &signed, std::slice::from_ref(&tsa)),
        Err(TimestampError::OutsideAuthorityWindow {
            gen_time,
            valid_for: tsa.valid_for
        })
    );
    // Both ends are inclusive.
    tsa.valid_for.end = Some(gen_time);
    assert_eq!(
        verify_timestamp(&token, &signed, std::slice::from_ref(&tsa)),
        Ok(gen_time)
    );
    tsa.valid_for = Validity {
        start: UnixTime(gen_time.0 + 1),
        end: None,
    };
    assert!(matches!(
        verify_timestamp(&token, &signed, std::slice::from_ref(&tsa)),
        Err(TimestampError::OutsideAuthorityWindow { .. })
    ));
}

#[test]
fn token_from_another_tsa_is_refused() {
    // kubewarden's token embeds no certificate, and the staging chain holds another leaf.
    let (token, signed, _) = kubewarden();
    let staging = trusted_root("bundle-v0.3/conformance/rekor2-happy-path/trusted_root.json");
    assert_eq!(
        verify_timestamp(&token, &signed, &staging.timestamp_authorities),
        Err(TimestampError::SignerNotFound)
    );
    // rekor2-happy-path's token embeds its (staging) leaf. Its issuer has the same name as the
    // production root, `CN=sigstore-tsa-selfsigned,O=sigstore.dev`, but another key.
    let (token, signed, _) = conformance("rekor2-happy-path");
    let production = trusted_root(PUBLIC_GOOD);
    assert_eq!(
        verify_timestamp(&token, &signed, &production.timestamp_authorities),
        Err(TimestampError::ChainInvalid(ChainError::BadSignature))
    );
}

#[test]
fn conformance_timestamps_verify_against_their_trusted_roots() {
    for (case, expected) in [
        ("rekor2-happy-path", "2025-06-12T12:02:20Z"),
        ("rekor2-dsse-happy-path", "2026-05-13T19:23:33Z"),
        ("bundle-with-sct-with-extensions", "2026-01-15T22:49:26Z"),
    ] {
        let (token, signed, root) = conformance(case);
        assert_eq!(
            verify_timestamp(&token, &signed, &root.timestamp_authorities),
            Ok(time(expected)),
            "{case}"
        );
    }
    // A managed-key bundle with no trusted root of its own: the production one.
    let (token, signed) =
        sigstore_timestamp("bundle-v0.3/conformance/managed-key-happy-path/bundle.sigstore.json");
    assert_eq!(
        verify_timestamp(
            &token,
            &signed,
            &trusted_root(PUBLIC_GOOD).timestamp_authorities
        ),
        Ok(time("2025-12-18T17:04:39Z"))
    );
}

#[test]
fn rekor2_timestamp_payload_mismatch_is_imprint_mismatch() {
    let (token, signed, root) = conformance("rekor2-timestamp-payload-mismatch_fail");
    // The token itself is authentic: only its imprint is over another bundle's signature.
    let parsed = TimestampToken::from_der(&token).unwrap();
    assert_eq!(parsed.gen_time(), time("2025-07-15T10:12:52Z"));
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::ImprintMismatch)
    );
}

#[test]
fn rekor2_no_timestamp_has_none() {
    let bundle = SigstoreBundle::from_json(&fixture(
        "bundle-v0.3/conformance/rekor2-no-timestamp_fail/bundle.sigstore.json",
    ))
    .unwrap();
    assert!(bundle.rfc3161_timestamps.is_empty());
}

// --- mutations of a real token ------------------------------------------------------------------

/// The position of the `n`th (0-based) occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8], n: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(n)
        .unwrap_or_else(|| panic!("occurrence {n} of {needle:02x?}"))
        .0
}

#[test]
fn edited_tst_info_is_message_digest_mismatch() {
    let (mut token, signed, root) = kubewarden();
    let at = find(&token, b"20260409072329Z", 0);
    token[at + 3] = b'7'; // 2027
    let parsed = TimestampToken::from_der(&token).unwrap();
    assert_eq!(parsed.gen_time(), time("2027-04-09T07:23:29Z"));
    assert_eq!(
        parsed.verify(&signed, &root.timestamp_authorities),
        Err(TimestampError::MessageDigestMismatch)
    );
}

#[test]
fn edited_signature_is_signature_invalid() {
    let (mut token, signed, root) = kubewarden();
    // The ECDSA signature is the token's last TLV; its last byte is the end of `s`.
    let last = token.len() - 1;
    token[last] ^= 0x01;
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::SignatureInvalid)
    );
}

#[test]
fn edited_content_type_attribute_is_content_type_mismatch() {
    let (mut token, signed, root) = kubewarden();
    let tst_info_oid = OID_TST_INFO.to_der().unwrap();
    // The first occurrence is eContentType, the second the content-type attribute.
    let at = find(&token, &tst_info_oid, 1);
    let last = at + tst_info_oid.len() - 1;
    token[last] = 0x05;
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::ContentTypeMismatch {
            found: "1.2.840.113549.1.9.16.1.5".to_owned()
        })
    );
}

#[test]
fn renamed_message_digest_attribute_is_missing() {
    let (mut token, signed, root) = kubewarden();
    let md_oid = OID_MESSAGE_DIGEST.to_der().unwrap();
    let at = find(&token, &md_oid, 0);
    token[at + md_oid.len() - 1] = 0x07; // 1.2.840.113549.1.9.7, challengePassword
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::MissingSignedAttribute {
            which: "message-digest"
        })
    );
}

#[test]
fn edited_signer_serial_is_signer_not_found() {
    let (mut token, signed, root) = kubewarden();
    let serial = hex::decode("3a13542f0c9061eebcc1432fcb8a8e8b2a238b0c").unwrap();
    // The SignerInfo's sid; the ESS attribute repeats it later.
    let at = find(&token, &serial, 0);
    token[at + 5] ^= 0x01;
    assert_eq!(
        verify_timestamp(&token, &signed, &root.timestamp_authorities),
        Err(TimestampError::SignerNotFound)
    );
}

// --- notation -----------------------------------------------------------------------------------

#[test]
fn notation_jws_timestamps_verify_with_the_globalsign_root() {
    for (name, expected) in [
        ("jwsWithTimestamp.sig", "2024-06-18T06:29:37Z"),
        ("jwsExpiredWithTimestamp.sig", "2024-06-18T07:21:42Z"),
        ("timestampBeforeNotBefore.sig", "2024-06-19T09:30:14Z"),
    ] {
        let (signature, token) = jws(name);
        let token = token.expect("a countersignature");
        assert_eq!(
            verify_timestamp_with_roots(&token, &signature, &globalsign_root(), &[]),
            Ok(time(expected)),
            "{name}"
        );
        // The imprint is over the signature, not over anything else.
        assert_eq!(
            verify_timestamp_with_roots(&token, b"payload", &globalsign_root(), &[]),
            Err(TimestampError::ImprintMismatch),
            "{name}"
        );
    }
}

#[test]
fn notation_token_embeds_the_globalsign_chain() {
    let (_, token) = jws("jwsWithTimestamp.sig");
    let token = TimestampToken::from_der(&token.unwrap()).unwrap();
    assert_eq!(token.certificates().len(), 3);
    assert_eq!(
        token.signer().id(),
        SignerId::IssuerAndSerial {
            issuer: "CN=GlobalSign Timestamping CA - SHA384 - G4,O=GlobalSign nv-sa,C=BE"
                .to_owned(),
            serial: "0119757471c992d744dfa596ebb97015".to_owned(),
        }
    );
    assert_eq!(
        token.signer().signature_algorithm(),
        "1.2.840.113549.1.1.11"
    );
}

#[test]
fn notation_without_timestamp_has_none() {
    let (_, token) = jws("withoutTimestamp.sig");
    assert_eq!(token, None);
}

#[test]
fn notation_without_tsa_root_is_chain_invalid() {
    // Trusting an unrelated root: the embedded chain leads nowhere.
    let (signature, token) = jws("jwsWithTimestamp.sig");
    let unrelated = CertificateInfo::from_der(&fixture(
        "pki/notation-core-go-tsa-chain/timestamp_root.crt",
    ))
    .unwrap();
    assert_eq!(
        verify_timestamp_with_roots(&token.unwrap(), &signature, &[unrelated], &[]),
        Err(TimestampError::ChainInvalid(ChainError::UnknownIssuer))
    );
}

/// Upstream swaps these into `withoutTimestamp.sig`; each fails for its own reason.
#[test]
fn notation_countersignature_variants_fail_as_upstream_says() {
    let (signature, none) = jws("withoutTimestamp.sig");
    assert!(none.is_none());
    let roots = globalsign_root();
    let check = |file: &str| {
        let token = fixture(&format!("{NOTATION}/countersignature/{file}"));
        verify_timestamp_with_roots(&token, &signature, &roots, &[])
    };
    // Authentic (GlobalSign, 2021-09-17) but over other bytes.
    assert_eq!(
        check("TimeStampToken.p7s"),
        Err(TimestampError::ImprintMismatch)
    );
    let token = fixture(&format!("{NOTATION}/countersignature/TimeStampToken.p7s"));
    assert_eq!(
        TimestampToken::from_der(&token).unwrap().gen_time(),
        time("2021-09-17T14:09:10Z")
    );
    // genTime removed from the TSTInfo.
    assert!(
        matches!(
            check("TimeStampTokenWithInvalidTSTInfo.p7s"),
            Err(TimestampError::Malformed {
                what: "TSTInfo",
                ..
            })
        ),
        "{:?}",
        check("TimeStampTokenWithInvalidTSTInfo.p7s")
    );
    // eContentType id-data.
    assert_eq!(
        check("TimeStampTokenWithInvalideContentType.p7s"),
        Err(TimestampError::NotTstInfo {
            content_type: "1.2.840.113549.1.7.1".to_owned()
        })
    );
    // No certificates, and the trust store holds only the root.
    assert_eq!(
        check("TimeStampTokenWithoutCertificate.p7s"),
        Err(TimestampError::SignerNotFound)
    );
}

/// Just enough CBOR to take a COSE_Sign1 apart (definite lengths only).
#[derive(Debug, Clone, PartialEq)]
enum Cbor {
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    Simple(u64),
}

fn cbor(input: &mut &[u8]) -> Cbor {
    let mut take = |n: usize| -> Vec<u8> {
        let (head, rest) = input.split_at(n);
        *input = rest;
        head.to_vec()
    };
    let first = take(1)[0];
    let info = first & 0x1f;
    let arg = match info {
        0..=23 => u64::from(info),
        24..=27 => take(1 << (info - 24))
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        _ => panic!("indefinite CBOR length"),
    };
    let len = usize::try_from(arg).unwrap();
    match first >> 5 {
        0 => Cbor::Int(i128::from(arg)),
        1 => Cbor::Int(-1 - i128::from(arg)),
        2 => Cbor::Bytes(take(len)),
        3 => Cbor::Text(String::from_utf8(take(len)).unwrap()),
        4 => Cbor::Array((0..len).map(|_| cbor(input)).collect()),
        5 => Cbor::Map((0..len).map(|_| (cbor(input), cbor(input))).collect()),
        6 => Cbor::Tag(arg, Box::new(cbor(input))),
        _ => Cbor::Simple(arg),
    }
}

/// A notation COSE_Sign1 envelope's signature and its `io.cncf.notary.timestampSignature`.
fn cose(name: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let bytes = fixture(&format!("{NOTATION}/sigEnv/{name}"));
    let mut input = bytes.as_slice();
    let Cbor::Tag(18, sign1) = cbor(&mut input) else {
        panic!("{name}: not a COSE_Sign1");
    };
    assert!(input.is_empty());
    let Cbor::Array(parts) = *sign1 else {
        panic!("{name}: COSE_Sign1 is not an array");
    };
    let [
        _protected,
        Cbor::Map(unprotected),
        _payload,
        Cbor::Bytes(signature),
    ] = parts.as_slice()
    else {
        panic!("{name}: unexpected COSE_Sign1 shape");
    };
    let token = unprotected.iter().find_map(|(k, v)| match (k, v) {
        (Cbor::Text(k), Cbor::Bytes(v)) if k == "io.cncf.notary.timestampSignature" => {
            Some(v.clone())
        }
        _ => None,
    });
    (signature.clone(), token)
}

#[test]
fn notation_cose_timestamps_verify_with_the_globalsign_root() {
    for (name, expected) in [
        ("coseWithTimestamp.sig", "2024-06-18T06:27:16Z"),
        ("coseExpiredWithTimestamp.sig", "2024-06-18T07:21:12Z"),
        ("timestampAfterNotAfter.sig", "2024-06-19T09:35:58Z"),
    ] {
        let (signature, token) = cose(name);
        let token = token.expect("a countersignature");
        assert_eq!(
            verify_timestamp_with_roots(&token, &signature, &globalsign_root(), &[]),
            Ok(time(expected)),
            "{name}"
        );
    }
}

// --- hostile input ------------------------------------------------------------------------------

fn malformed(result: Result<TimestampToken, TimestampError>) -> bool {
    matches!(result, Err(TimestampError::Malformed { .. }))
}

#[test]
fn every_truncation_is_malformed() {
    let (kubewarden, _, _) = kubewarden();
    let (_, globalsign) = jws("jwsWithTimestamp.sig");
    for token in [kubewarden, globalsign.unwrap()] {
        for len in 0..token.len() {
            assert!(malformed(TimestampToken::from_der(&token[..len])), "{len}");
        }
        let mut trailing = token.clone();
        trailing.push(0);
        assert!(malformed(TimestampToken::from_der(&trailing)));
    }
}

#[test]
fn wrong_tags_and_lengths_are_malformed() {
    let hostile: &[&[u8]] = &[
        &[],
        &[0x30],
        &[0x30, 0x00],
        &[0x31, 0x00],
        &[0x04, 0x02, 0x30, 0x00],
        // Indefinite length (BER).
        &[0x30, 0x80, 0x06, 0x01, 0x00, 0x00, 0x00],
        // 4 GiB, 2^64 and a nine-byte length.
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06],
        &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x89, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
        // Non-minimal length.
        &[0x30, 0x81, 0x02, 0x30, 0x00],
        // A ContentInfo that is not signedData, and one whose content is empty.
        &[
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        ],
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0,
            0x00,
        ],
        // A TimeStampResp granted but with no token.
        &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00],
        // Deep nesting.
        &[0x30, 0x06, 0x30, 0x04, 0x30, 0x02, 0x30, 0x00],
    ];
    for der in hostile {
        assert!(malformed(TimestampToken::from_der(der)), "{der:02x?}");
    }
    let mut deep = Vec::new();
    for _ in 0..200 {
        let mut outer = vec![0x30];
        outer.extend(length(deep.len()));
        outer.extend(deep);
        deep = outer;
    }
    assert!(malformed(TimestampToken::from_der(&deep)));
}

#[test]
fn huge_inner_length_is_malformed() {
    let (mut token, _, _) = kubewarden();
    // eContent's OCTET STRING header `04 81 a5` claims 4 GiB instead.
    let at = find(&token, &[0x04, 0x81, 0xa5, 0x30], 0);
    token.splice(at + 1..at + 3, [0x84, 0xff, 0xff, 0xff, 0xff]);
    assert!(malformed(TimestampToken::from_der(&token)));
}

#[test]
fn rejected_response_is_typed() {
    // TimeStampResp { status { rejection(2) } } with no token.
    assert_eq!(
        TimestampToken::from_der(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]),
        Err(TimestampError::Rejected { status: 2 })
    );
}

/// Every single-byte edit of a real token: no panic, and anything still accepted is the same
/// timestamp (only unsigned framing such as the PKIStatus or the digestAlgorithms set can change).
#[test]
fn byte_flips_never_panic_nor_change_the_time() {
    let (token, signed, root) = kubewarden();
    let original = TimestampToken::from_der(&token).unwrap();
    let mut accepted = 0;
    for i in 0..token.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut edited = token.clone();
            edited[i] ^= mask;
            let Ok(parsed) = TimestampToken::from_der(&edited) else {
                continue;
            };
            if let Ok(t) = parsed.verify(&signed, &root.timestamp_authorities) {
                accepted += 1;
                assert_eq!(t, original.gen_time());
                assert_eq!(parsed.tst_info_der(), original.tst_info_der());
                assert_eq!(parsed.message_imprint(), original.message_imprint());
            }
        }
    }
    // Found: the PKIStatus (granted -> grantedWithMods), the SignedData and SignerInfo versions,
    // the digestAlgorithms set, and the certificates tag (an empty set either way).
    assert!(accepted < token.len() / 10, "{accepted} edits accepted");
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let len = usize::try_from(next() % 64).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if let Some(first) = bytes.first_mut() {
            *first = 0x30;
        }
        assert!(TimestampToken::from_der(&bytes).is_err());
    }
}

// --- synthetic tokens, for what no fixture shows ------------------------------------------------

fn length(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let content = parts.concat();
    let mut out = vec![tag];
    out.extend(length(content.len()));
    out.extend(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, parts)
}

fn oid(o: ObjectIdentifier) -> Vec<u8> {
    o.to_der().unwrap()
}

fn int(n: u32) -> Vec<u8> {
    n.to_der().unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Eku {
    CriticalTimeStamping,
    NonCritical,
    Absent,
    CodeSigningOnly,
    TimeStampingAndCodeSigning,
}

/// A TSA made in the test: a root and a P-256 leaf valid 2024..2030.
struct Tsa {
    root: CertificateInfo,
    leaf: Vec<u8>,
    key: KeyPair,
}

fn tsa(eku: Eku) -> Tsa {
    tsa_with_root_usages(eku, vec![KeyUsagePurpose::KeyCertSign])
}

fn tsa_with_root_usages(eku: Eku, root_usages: Vec<KeyUsagePurpose>) -> Tsa {
    let mut root_params = CertificateParams::new(vec![]).unwrap();
    root_params
        .distinguished_name
        .push(DnType::CommonName, "Test TSA Root");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = root_usages;
    root_params.not_before = date_time_ymd(2020, 1, 1);
    root_params.not_after = date_time_ymd(2040, 1, 1);
    let root_key = KeyPair::generate().unwrap();
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root_params, root_key);

    let mut params = CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test TSA");
    params.is_ca = IsCa::ExplicitNoCa; // also makes rcgen write a subjectKeyIdentifier
    params.not_before = date_time_ymd(2024, 1, 1);
    params.not_after = date_time_ymd(2030, 1, 1);
    params.serial_number = Some(SerialNumber::from(0x7a5u64));
    let purposes = |ps: &[ObjectIdentifier]| {
        let ids: Vec<Vec<u8>> = ps.iter().map(|p| oid(*p)).collect();
        let refs: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
        let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], seq(&refs));
        ext.set_criticality(true);
        ext
    };
    let code_signing = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
    match eku {
        Eku::CriticalTimeStamping => {
            params.custom_extensions = vec![purposes(&[OID_TIME_STAMPING])]
        }
        Eku::NonCritical => {
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::TimeStamping];
        }
        Eku::Absent => {}
        Eku::CodeSigningOnly => params.custom_extensions = vec![purposes(&[code_signing])],
        Eku::TimeStampingAndCodeSigning => {
            params.custom_extensions = vec![purposes(&[OID_TIME_STAMPING, code_signing])];
        }
    }
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    Tsa {
        root: CertificateInfo::from_der(root.der()).unwrap(),
        leaf: leaf.der().to_vec(),
        key,
    }
}

/// What to put in a synthetic token.
struct Spec {
    gen_time: &'static str,
    imprinted: &'static [u8],
    content_type: Option<ObjectIdentifier>,
    message_digest: bool,
    /// An ESS signing-certificate-v2 attribute hashing these bytes.
    ess_over: Option<Vec<u8>>,
    embed_certificate: bool,
    sid_by_key_id: bool,
    /// Whether the SignerInfo carries signed attributes at all.
    signed_attributes: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            gen_time: "20250601120000Z",
            imprinted: b"signature bytes",
            content_type: Some(OID_TST_INFO),
            message_digest: true,
            ess_over: None,
            embed_certificate: true,
            sid_by_key_id: false,
            signed_attributes: true,
        }
    }
}

fn token(tsa: &Tsa, spec: &Spec) -> Vec<u8> {
    let sha256 = seq(&[&oid(OID_SHA256)]);
    let tst_info = seq(&[
        &int(1),
        &oid(ObjectIdentifier::new_unwrap("1.2.3.4")),
        &seq(&[
            &sha256,
            &tlv(0x04, &[&digest(HashAlgorithm::Sha256, spec.imprinted)]),
        ]),
        &int(42),
        &tlv(0x18, &[spec.gen_time.as_bytes()]),
    ]);
    let mut attrs = Vec::new();
    if let Some(ct) = spec.content_type {
        attrs.push(seq(&[&oid(OID_CONTENT_TYPE), &tlv(0x31, &[&oid(ct)])]));
    }
    if spec.message_digest {
        let md = digest(HashAlgorithm::Sha256, &tst_info);
        attrs.push(seq(&[
            &oid(OID_MESSAGE_DIGEST),
            &tlv(0x31, &[&tlv(0x04, &[&md])]),
        ]));
    }
    if let Some(cert) = &spec.ess_over {
        let hash = digest(HashAlgorithm::Sha256, cert);
        let ess = seq(&[&seq(&[&seq(&[&tlv(0x04, &[&hash])])])]);
        attrs.push(seq(&[
            &oid(OID_SIGNING_CERTIFICATE_V2),
            &tlv(0x31, &[&ess]),
        ]));
    }
    let attrs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
    let signature = tsa.key.sign(&tlv(0x31, &attrs)).unwrap();

    let leaf = Certificate::from_der(&tsa.leaf).unwrap();
    let tbs = leaf.tbs_certificate();
    let sid = if spec.sid_by_key_id {
        let (_, ski) = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        tlv(0x80, &[ski.0.as_bytes()])
    } else {
        seq(&[
            &tbs.issuer().to_der().unwrap(),
            &tlv(0x02, &[tbs.serial_number().as_bytes()]),
        ])
    };
    let signer_info = seq(&[
        &int(if spec.sid_by_key_id { 3 } else { 1 }),
        &sid,
        &sha256,
        &if spec.signed_attributes {
            tlv(0xa0, &attrs)
        } else {
            Vec::new()
        },
        &seq(&[&oid(OID_ECDSA_SHA256)]),
        &tlv(0x04, &[&signature]),
    ]);
    let certificates = if spec.embed_certificate {
        tlv(0xa0, &[&tsa.leaf])
    } else {
        Vec::new()
    };
    let signed_data = seq(&[
        &int(3),
        &tlv(0x31, &[&sha256]),
        &seq(&[&oid(OID_TST_INFO), &tlv(0xa0, &[&tlv(0x04, &[&tst_info])])]),
        &certificates,
        &tlv(0x31, &[&signer_info]),
    ]);
    seq(&[&oid(OID_SIGNED_DATA), &tlv(0xa0, &[&signed_data])])
}

fn verify_synthetic(tsa: &Tsa, spec: &Spec) -> Result<UnixTime, TimestampError> {
    verify_timestamp_with_roots(
        &token(tsa, spec),
        spec.imprinted,
        std::slice::from_ref(&tsa.root),
        &[],
    )
}

#[test]
fn synthetic_token_verifies() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    let noon = time("2025-06-01T12:00:00Z");
    assert_eq!(verify_synthetic(&tsa, &Spec::default()), Ok(noon));
    // Found by subject key identifier instead of issuer and serial.
    let by_key_id = Spec {
        sid_by_key_id: true,
        ..Spec::default()
    };
    assert_eq!(verify_synthetic(&tsa, &by_key_id), Ok(noon));
    // A fraction of a second is dropped.
    let fraction = Spec {
        gen_time: "20250601120000.25Z",
        ..Spec::default()
    };
    assert_eq!(verify_synthetic(&tsa, &fraction), Ok(noon));
    // A matching ESS signing-certificate-v2 attribute.
    let ess = Spec {
        ess_over: Some(tsa.leaf.clone()),
        ..Spec::default()
    };
    assert_eq!(verify_synthetic(&tsa, &ess), Ok(noon));
    // Wrapped in a TimeStampResp.
    let resp = seq(&[&seq(&[&int(0)]), &token(&tsa, &Spec::default())]);
    assert_eq!(
        verify_timestamp_with_roots(
            &resp,
            b"signature bytes",
            std::slice::from_ref(&tsa.root),
            &[]
        ),
        Ok(noon)
    );
}

#[test]
fn synthetic_token_with_a_trusted_root_style_authority() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    let spec = Spec {
        embed_certificate: false,
        ..Spec::default()
    };
    let mut authority = CertificateAuthority {
        uri: None,
        subject: "CN=Test TSA".to_owned(),
        chain: vec![tsa.leaf.clone(), tsa.root.der.clone()],
        valid_for: Validity::ALWAYS,
    };
    let der = token(&tsa, &spec);
    assert_eq!(
        verify_timestamp(&der, spec.imprinted, std::slice::from_ref(&authority)),
        Ok(time("2025-06-01T12:00:00Z"))
    );
    // Neither the token nor the trust material holds the leaf.
    assert_eq!(
        verify_timestamp_with_roots(&der, spec.imprinted, std::slice::from_ref(&tsa.root), &[]),
        Err(TimestampError::SignerNotFound)
    );
    authority.valid_for.start = time("2026-01-01T00:00:00Z");
    assert!(matches!(
        verify_timestamp(&der, spec.imprinted, std::slice::from_ref(&authority)),
        Err(TimestampError::OutsideAuthorityWindow { .. })
    ));
}

#[test]
fn tsa_certificate_eku_must_be_timestamping_only_and_critical() {
    for (eku, expected) in [
        (Eku::Absent, TimestampError::NoTimeStampingEku),
        (Eku::CodeSigningOnly, TimestampError::NoTimeStampingEku),
        (Eku::NonCritical, TimestampError::TimeStampingEkuNotCritical),
        (
            Eku::TimeStampingAndCodeSigning,
            TimestampError::TimeStampingEkuNotExclusive,
        ),
    ] {
        assert_eq!(verify_synthetic(&tsa(eku), &Spec::default()), Err(expected));
    }
}

#[test]
fn missing_signed_attributes_are_typed() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    let no_content_type = Spec {
        content_type: None,
        ..Spec::default()
    };
    assert_eq!(
        verify_synthetic(&tsa, &no_content_type),
        Err(TimestampError::MissingSignedAttribute {
            which: "content-type"
        })
    );
    let no_digest = Spec {
        message_digest: false,
        ..Spec::default()
    };
    assert_eq!(
        verify_synthetic(&tsa, &no_digest),
        Err(TimestampError::MissingSignedAttribute {
            which: "message-digest"
        })
    );
    let bare = Spec {
        signed_attributes: false,
        ..Spec::default()
    };
    assert_eq!(
        verify_synthetic(&tsa, &bare),
        Err(TimestampError::MissingSignedAttribute {
            which: "signedAttrs"
        })
    );
    let data = Spec {
        content_type: Some(ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1")),
        ..Spec::default()
    };
    assert_eq!(
        verify_synthetic(&tsa, &data),
        Err(TimestampError::ContentTypeMismatch {
            found: "1.2.840.113549.1.7.1".to_owned()
        })
    );
}

#[test]
fn ess_attribute_naming_another_certificate_is_refused() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    let other = Spec {
        ess_over: Some(tsa.root.der.clone()),
        ..Spec::default()
    };
    assert_eq!(
        verify_synthetic(&tsa, &other),
        Err(TimestampError::SigningCertificateMismatch)
    );
}

#[test]
fn chain_is_checked_at_gen_time() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    let late = Spec {
        gen_time: "20310101000000Z",
        ..Spec::default()
    };
    assert!(matches!(
        verify_synthetic(&tsa, &late),
        Err(TimestampError::ChainInvalid(ChainError::Expired { at, .. }))
            if at == time("2031-01-01T00:00:00Z")
    ));
    let early = Spec {
        gen_time: "20230101000000Z",
        ..Spec::default()
    };
    assert!(matches!(
        verify_synthetic(&tsa, &early),
        Err(TimestampError::ChainInvalid(ChainError::NotYetValid { .. }))
    ));
    // Another root of the same name.
    let stranger = self::tsa(Eku::CriticalTimeStamping);
    assert_eq!(
        verify_timestamp_with_roots(
            &token(&tsa, &Spec::default()),
            b"signature bytes",
            &[stranger.root],
            &[]
        ),
        Err(TimestampError::ChainInvalid(ChainError::BadSignature))
    );
}

#[test]
fn bad_gen_times_are_malformed() {
    let tsa = tsa(Eku::CriticalTimeStamping);
    for gen_time in [
        "20250601120000",
        "20250601120000+0100",
        "20250601120000.Z",
        "20250601120000.50Z",
        "202506011200Z",
        "20251301120000Z",
        "2025060112000aZ",
    ] {
        let spec = Spec {
            gen_time,
            ..Spec::default()
        };
        assert!(
            matches!(
                TimestampToken::from_der(&token(&tsa, &spec)),
                Err(TimestampError::Malformed {
                    what: "genTime",
                    ..
                })
            ),
            "{gen_time}"
        );
    }
}

#[test]
fn a_tsa_root_without_key_cert_sign_issues_nothing() {
    let tsa = tsa_with_root_usages(
        Eku::CriticalTimeStamping,
        vec![KeyUsagePurpose::DigitalSignature],
    );
    assert!(matches!(
        verify_synthetic(&tsa, &Spec::default()),
        Err(TimestampError::ChainInvalid(ChainError::NoCertSign { .. }))
    ));
}
