use super::*;
use base64::Engine as _;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn public_good_json() -> Value {
    serde_json::from_slice(&fixture("bundle-v0.3/trusted_root.public-good.json")).unwrap()
}

fn parse_value(v: &Value) -> Result<TrustedRoot, TrustedRootError> {
    TrustedRoot::from_json(&serde_json::to_vec(v).unwrap())
}

fn rekor_pub() -> PublicKey {
    PublicKey::from_pem(&fixture("cosign-keyless/trust/rekor.pub"), RsaScheme::Pkcs1).unwrap()
}

const REKOR_V1_LOG_ID: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
const REKOR_V2_LOG_ID: &str = "cf1199155bddd051268d1f16ac5c0c75c009f6fb5a63f4177f8e18d7051e3fa0";

#[test]
fn public_good_root_parses() {
    let root =
        TrustedRoot::from_json(&fixture("bundle-v0.3/trusted_root.public-good.json")).unwrap();
    assert!(root.skipped.is_empty(), "{:?}", root.skipped);

    assert_eq!(root.certificate_authorities.len(), 2);
    let old = &root.certificate_authorities[0];
    assert_eq!(old.uri.as_deref(), Some("https://fulcio.sigstore.dev"));
    assert_eq!(old.subject, "CN=sigstore,O=sigstore.dev");
    assert_eq!(old.chain.len(), 1);
    // "2022-12-31T23:59:59.999Z": the fraction is dropped from an end, never rounded up.
    assert_eq!(
        old.valid_for,
        Validity {
            start: UnixTime(1_615_087_229),
            end: Some(UnixTime(1_672_531_199)),
        }
    );
    let current = &root.certificate_authorities[1];
    assert_eq!(current.chain.len(), 2, "intermediate then root");
    assert_eq!(current.valid_for.end, None);

    assert_eq!(root.tlogs.len(), 2);
    let v1 = &root.tlogs[0];
    assert_eq!(v1.base_url, "https://rekor.sigstore.dev");
    assert_eq!(hex::encode(&v1.log_id), REKOR_V1_LOG_ID);
    assert_eq!(v1.key.algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(v1.valid_for.start, UnixTime(1_610_452_407));
    assert_eq!(v1.key, rekor_pub(), "the same key as cosign's rekor.pub");
    let v2 = &root.tlogs[1];
    assert_eq!(v2.base_url, "https://log2025-1.rekor.sigstore.dev");
    assert_eq!(v2.key.algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(hex::encode(&v2.log_id), REKOR_V2_LOG_ID);
    assert_eq!(v2.valid_for.start, UnixTime(1_758_585_600));

    assert_eq!(root.ctlogs.len(), 2);
    assert!(
        root.ctlogs
            .iter()
            .all(|l| l.key.algorithm() == KeyAlgorithm::EcdsaP256)
    );

    assert_eq!(root.timestamp_authorities.len(), 1);
    let tsa = &root.timestamp_authorities[0];
    assert_eq!(tsa.subject, "CN=sigstore-tsa-selfsigned,O=sigstore.dev");
    assert_eq!(tsa.chain.len(), 2);
    assert_eq!(tsa.valid_for.start, UnixTime(1_751_587_200));

    let v1_id = hex::decode(REKOR_V1_LOG_ID).unwrap();
    assert_eq!(root.tlog_by_id(&v1_id).unwrap().base_url, v1.base_url);
    assert!(root.tlog_by_id(&[0; 32]).is_none());
    assert!(root.ctlog_by_id(&v1_id).is_none(), "a tlog is not a CT log");
    let ct_id = root.ctlogs[1].log_id.clone();
    assert_eq!(
        root.ctlog_by_id(&ct_id).unwrap().base_url,
        "https://ctfe.sigstore.dev/2022"
    );
}

/// Rekor v1 and CT log IDs are SHA-256 of the key's SPKI; Rekor v2's is the signed-note key ID.
#[test]
fn log_ids_are_derived_as_the_logs_derive_them() {
    let root =
        TrustedRoot::from_json(&fixture("bundle-v0.3/trusted_root.public-good.json")).unwrap();
    for log in root.tlogs.iter().take(1).chain(&root.ctlogs) {
        assert_eq!(
            log.log_id,
            TransparencyLog::from_public_key(log.key.clone()).log_id,
            "{}",
            log.base_url
        );
    }
    let v2 = &root.tlogs[1];
    assert_ne!(
        v2.log_id,
        TransparencyLog::from_public_key(v2.key.clone()).log_id
    );
    assert_eq!(
        crate::tlog::note_key_hint("log2025-1.rekor.sigstore.dev", &v2.key).unwrap(),
        v2.log_id[..4]
    );
}

#[test]
fn rekor_pub_becomes_a_log_with_the_rekor_v1_id() {
    let log = TransparencyLog::from_public_key(rekor_pub());
    assert_eq!(hex::encode(&log.log_id), REKOR_V1_LOG_ID);
    assert_eq!(log.valid_for, Validity::ALWAYS);
    assert!(log.valid_for.contains(UnixTime(0)));
    assert!(log.valid_for.contains(UnixTime(u64::MAX)));
}

#[test]
fn conformance_trusted_roots_parse() {
    let dir = format!("{FIXTURES}/bundle-v0.3/conformance");
    let mut seen = 0;
    for case in std::fs::read_dir(&dir).unwrap() {
        let path = case.unwrap().path().join("trusted_root.json");
        if !path.exists() {
            continue;
        }
        seen += 1;
        let root = TrustedRoot::from_json(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            root.skipped.is_empty(),
            "{}: {:?}",
            path.display(),
            root.skipped
        );
        assert!(!root.tlogs.is_empty());
        assert!(!root.certificate_authorities.is_empty());
    }
    assert_eq!(seen, 8);
}

/// Staging roots still carry a CT log key as a bare PKCS#1 RSAPublicKey (`PKCS1_RSA_PKCS1V5`),
/// GitHub's TSA has no `uri`, and ends may be written with microseconds or as `null`.
#[test]
fn conformance_root_quirks() {
    let root = TrustedRoot::from_json(&fixture(
        "bundle-v0.3/conformance/invalid-ct-key_fail/trusted_root.json",
    ))
    .unwrap();
    assert_eq!(root.ctlogs.len(), 3);
    assert_eq!(root.ctlogs[0].key.algorithm(), KeyAlgorithm::RsaPkcs1);
    assert_eq!(
        root.ctlogs[0].log_id,
        TransparencyLog::from_public_key(root.ctlogs[0].key.clone()).log_id,
        "the wrapped SPKI hashes to the CT log ID"
    );
    assert_eq!(root.timestamp_authorities[0].uri, None);
    assert_eq!(root.timestamp_authorities[0].chain.len(), 3);

    let root = TrustedRoot::from_json(&fixture(
        "bundle-v0.3/conformance/trust-root-tlog-validity-end-inclusive/trusted_root.json",
    ))
    .unwrap();
    assert_eq!(root.tlogs[0].valid_for.end, Some(UnixTime(1_689_177_396)));
    assert_eq!(root.tlogs[1].valid_for.end, None, "\"end\": null");
    assert_eq!(
        root.ctlogs[0].valid_for.end.unwrap().to_string(),
        "2022-10-31T23:59:59Z"
    );
}

#[test]
fn validity_is_inclusive_at_both_ends() {
    let v = Validity {
        start: UnixTime(100),
        end: Some(UnixTime(200)),
    };
    assert!(!v.contains(UnixTime(99)));
    assert!(v.contains(UnixTime(100)));
    assert!(v.contains(UnixTime(200)));
    assert!(!v.contains(UnixTime(201)));
    assert_eq!(v.to_string(), "1970-01-01T00:01:40Z..=1970-01-01T00:03:20Z");
}

#[test]
fn fractional_start_rounds_up() {
    let mut root = public_good_json();
    root["tlogs"][0]["publicKey"]["validFor"] = json!({"start": "2021-01-12T11:53:27.001Z"});
    let parsed = parse_value(&root).unwrap();
    assert_eq!(parsed.tlogs[0].valid_for.start, UnixTime(1_610_452_408));
    root["tlogs"][0]["publicKey"]["validFor"] = json!({"start": "2021-01-12T11:53:27.000Z"});
    let parsed = parse_value(&root).unwrap();
    assert_eq!(parsed.tlogs[0].valid_for.start, UnixTime(1_610_452_407));
}

#[test]
fn rfc3339_parser() {
    let ok = |s: &str| protojson::rfc3339(s).map(|(t, frac)| (t.0, frac));
    assert_eq!(ok("1970-01-01T00:00:00Z"), Some((0, false)));
    assert_eq!(ok("2021-10-07T13:56:59.000Z"), Some((1_633_615_019, false)));
    assert_eq!(ok("2021-10-07T13:56:59.5Z"), Some((1_633_615_019, true)));
    assert_eq!(
        ok("2021-10-07T13:56:59.123456789Z"),
        Some((1_633_615_019, true))
    );
    assert_eq!(ok("2021-10-07t13:56:59z"), Some((1_633_615_019, false)));
    assert_eq!(
        ok("2021-10-07T15:56:59+02:00"),
        Some((1_633_615_019, false))
    );
    assert_eq!(
        ok("2021-10-07T08:26:59-05:30"),
        Some((1_633_615_019, false))
    );
    assert_eq!(ok("2000-02-29T12:34:56Z"), Some((951_827_696, false)));
    assert_eq!(ok("2100-03-01T00:00:00Z"), Some((4_107_542_400, false)));
    assert_eq!(ok("9999-12-31T23:59:59Z"), Some((253_402_300_799, false)));
    // Round trip through the crate's own formatter.
    for t in [0, 951_827_696, 1_795_756_528, 4_107_542_400] {
        assert_eq!(ok(&UnixTime(t).to_string()), Some((t, false)));
    }
    for bad in [
        "",
        "2021-10-07",
        "2021-10-07T13:56:59",             // no zone
        "2021-10-07 13:56:59Z",            // space
        "2021-13-07T13:56:59Z",            // month 13
        "2021-00-07T13:56:59Z",            // month 0
        "2021-02-29T00:00:00Z",            // not a leap year
        "2100-02-29T00:00:00Z",            // century, not a leap year
        "2021-04-31T00:00:00Z",            // April has 30 days
        "2021-10-00T00:00:00Z",            // day 0
        "2021-10-07T24:00:00Z",            // hour 24
        "2021-10-07T23:60:00Z",            // minute 60
        "2016-12-31T23:59:60Z",            // leap second (protobuf excludes them)
        "2021-10-07T13:56:59.Z",           // empty fraction
        "2021-10-07T13:56:59.1234567890Z", // ten fraction digits
        "2021-10-07T13:56:59Zjunk",
        "2021-10-07T13:56:59+2:00",
        "2021-10-07T13:56:59+24:00",
        "1969-12-31T23:59:59Z",      // before the epoch
        "1970-01-01T00:30:00+01:00", // before the epoch once the offset applies
        "+021-10-07T13:56:59Z",
        "2021-1é-07T13:56:59Z",
        "２０２１-10-07T13:56:59Z",
    ] {
        assert_eq!(ok(bad), None, "{bad:?}");
    }
}

#[test]
fn unsupported_log_keys_are_skipped_with_a_note() {
    let p521 = String::from_utf8(fixture("generated/p521.pub")).unwrap();
    let p521_der = crate::crypto::pem_block(p521.as_bytes(), "PUBLIC KEY").unwrap();
    let mut root = public_good_json();
    let mut extra = root["tlogs"][0].clone();
    extra["baseUrl"] = json!("https://p521.example");
    extra["publicKey"]["rawBytes"] =
        json!(base64::engine::general_purpose::STANDARD.encode(&p521_der));
    extra["publicKey"]["keyDetails"] = json!("PKIX_ECDSA_P521_SHA_512");
    let mut pqc = root["tlogs"][0].clone();
    pqc["baseUrl"] = json!("https://mldsa.example");
    pqc["publicKey"]["keyDetails"] = json!("ML_DSA_65");
    let mut sha384 = root["tlogs"][0].clone();
    sha384["baseUrl"] = json!("https://sha384.example");
    sha384["hashAlgorithm"] = json!("SHA2_384");
    let mut liar = root["tlogs"][0].clone();
    liar["baseUrl"] = json!("https://liar.example");
    liar["publicKey"]["keyDetails"] = json!("PKIX_ED25519");
    // An unspecified key type is read from the SPKI.
    let mut unspecified = root["tlogs"][0].clone();
    unspecified["baseUrl"] = json!("https://unspecified.example");
    unspecified["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("keyDetails");
    for log in [extra.clone(), pqc, sha384, liar, unspecified] {
        root["tlogs"].as_array_mut().unwrap().push(log);
    }
    // A P-521 CT log is skipped the same way.
    extra["baseUrl"] = json!("https://ct-p521.example");
    root["ctlogs"].as_array_mut().unwrap().push(extra);

    let parsed = parse_value(&root).unwrap();
    assert_eq!(parsed.tlogs.len(), 3, "{:?}", parsed.skipped);
    assert_eq!(parsed.tlogs[2].base_url, "https://unspecified.example");
    assert_eq!(parsed.tlogs[2].key.algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(parsed.ctlogs.len(), 2);
    assert_eq!(parsed.skipped.len(), 5, "{:?}", parsed.skipped);
    let notes = parsed.skipped.join("\n");
    for needle in [
        "tlogs[2] (https://p521.example): unsupported key type PKIX_ECDSA_P521_SHA_512",
        "tlogs[3] (https://mldsa.example): unsupported key type ML_DSA_65",
        "tlogs[4] (https://sha384.example): unsupported hash algorithm SHA2_384",
        "tlogs[5] (https://liar.example): keyDetails PKIX_ED25519 but the key is ecdsa-p256",
        "ctlogs[2] (https://ct-p521.example): unsupported key type",
    ] {
        assert!(notes.contains(needle), "{needle:?} not in\n{notes}");
    }
}

#[test]
fn no_usable_tlog_fails_the_file() {
    let mut root = public_good_json();
    for log in root["tlogs"].as_array_mut().unwrap() {
        log["publicKey"]["keyDetails"] = json!("LMS_SHA256");
    }
    match parse_value(&root) {
        Err(TrustedRootError::NoUsableTlog { skipped }) => assert_eq!(skipped.len(), 2),
        other => panic!("{other:?}"),
    }
    root["tlogs"] = json!([]);
    assert_eq!(
        parse_value(&root),
        Err(TrustedRootError::NoUsableTlog { skipped: vec![] })
    );
    let mut root = public_good_json();
    root.as_object_mut().unwrap().remove("tlogs");
    assert!(matches!(
        parse_value(&root),
        Err(TrustedRootError::NoUsableTlog { .. })
    ));
}

#[test]
fn media_types() {
    let mut root = public_good_json();
    root["mediaType"] = json!("application/vnd.dev.sigstore.trustedroot.v0.2+json");
    assert!(parse_value(&root).is_ok());
    root["mediaType"] = json!("application/vnd.dev.sigstore.trustedroot+json;version=0.9");
    assert_eq!(
        parse_value(&root),
        Err(TrustedRootError::UnsupportedMediaType(
            "application/vnd.dev.sigstore.trustedroot+json;version=0.9".to_owned()
        ))
    );
    root.as_object_mut().unwrap().remove("mediaType");
    assert_eq!(
        parse_value(&root),
        Err(TrustedRootError::UnsupportedMediaType(String::new()))
    );
}

/// Applies `edit` to the public-good root and returns the parse error.
fn broken(edit: impl FnOnce(&mut Value)) -> TrustedRootError {
    let mut root = public_good_json();
    edit(&mut root);
    parse_value(&root).unwrap_err()
}

#[test]
fn malformed_roots_give_typed_errors() {
    let raw = fixture("bundle-v0.3/trusted_root.public-good.json");
    for cut in [0, 1, raw.len() / 3, raw.len() / 2, raw.len() - 2] {
        assert!(
            matches!(
                TrustedRoot::from_json(&raw[..cut]),
                Err(TrustedRootError::Json(_))
            ),
            "truncated at {cut}"
        );
    }
    assert!(matches!(
        TrustedRoot::from_json(b"[]"),
        Err(TrustedRootError::Json(_))
    ));
    assert!(matches!(
        broken(|r| r["tlogs"] = json!({"not": "a list"})),
        TrustedRootError::Json(_)
    ));
    assert!(matches!(
        broken(|r| r["tlogs"][0]["publicKey"]["rawBytes"] = json!(42)),
        TrustedRootError::Json(_)
    ));
    assert_eq!(
        broken(|r| r["tlogs"][0]["publicKey"]["rawBytes"] = json!("not base64!")),
        TrustedRootError::Base64 {
            what: "tlogs[0].publicKey.rawBytes".to_owned()
        }
    );
    assert_eq!(
        broken(|r| r["tlogs"][1]["logId"]["keyId"] = json!("%%%")),
        TrustedRootError::Base64 {
            what: "tlogs[1].logId.keyId".to_owned()
        }
    );
    assert_eq!(
        broken(|r| {
            r["tlogs"][0].as_object_mut().unwrap().remove("logId");
        }),
        TrustedRootError::Missing {
            what: "tlogs[0].logId.keyId".to_owned()
        }
    );
    assert_eq!(
        broken(|r| {
            r["ctlogs"][0].as_object_mut().unwrap().remove("publicKey");
        }),
        TrustedRootError::Missing {
            what: "ctlogs[0].publicKey".to_owned()
        }
    );
    assert!(matches!(
        broken(|r| r["tlogs"][0]["publicKey"]["rawBytes"] = json!("MAUGAytlcAMhAA==")),
        TrustedRootError::Key { .. }
    ));
    assert_eq!(
        broken(|r| r["tlogs"][0]["publicKey"]["validFor"]["start"] = json!("yesterday")),
        TrustedRootError::Time {
            what: "tlogs[0].publicKey.validFor.start".to_owned(),
            value: "yesterday".to_owned()
        }
    );
    assert_eq!(
        broken(
            |r| r["certificateAuthorities"][0]["validFor"]["end"] = json!("2020-01-01T00:00:00Z")
        ),
        TrustedRootError::InvalidValidity {
            what: "certificateAuthorities[0].validFor".to_owned()
        }
    );
    assert!(matches!(
        broken(|r| r["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"] =
            json!("AAAA")),
        TrustedRootError::Certificate { what, .. }
            if what == "certificateAuthorities[1].certChain.certificates[0]"
    ));
    assert!(matches!(
        broken(|r| r["timestampAuthorities"][0]["certChain"]["certificates"] = json!([])),
        TrustedRootError::Certificate { what, .. } if what == "timestampAuthorities[0].certChain"
    ));
    assert!(matches!(
        broken(|r| r["certificateAuthorities"][0]["validFor"]["start"] = json!(1_615_087_229)),
        TrustedRootError::Json(_)
    ));
}
