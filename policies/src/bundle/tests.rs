use super::*;
use crate::crypto::{PublicKey, RsaScheme};
use crate::tlog::{LoggedVerifier, TlogBody};
use der::Decode as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn conformance_path(case: &str) -> String {
    format!("bundle-v0.3/conformance/{case}/bundle.sigstore.json")
}

fn bundle(path: &str) -> SigstoreBundle {
    SigstoreBundle::from_json(&fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cert_key(der: &[u8]) -> PublicKey {
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    PublicKey::from_spki(
        cert.tbs_certificate().subject_public_key_info(),
        RsaScheme::Pkcs1,
    )
    .unwrap()
}

/// Every bundle in the fixtures, with its version, material kind, content kind and RFC 3161
/// timestamp count.
#[test]
fn every_fixture_bundle_parses() {
    let expected: &[(&str, BundleVersion, &str, &str, usize)] = &[
        (
            "bundle-from-wrong-instance_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "bundle-with-root-cert_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "bundle-with-sct-with-extensions",
            BundleVersion::V0_3,
            "cert",
            "message",
            1,
        ),
        (
            "checkpoint-bad-keyhint_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "checkpoint-wrong-roothash_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "dsse-invalid-sig_fail",
            BundleVersion::V0_3,
            "cert",
            "dsse",
            0,
        ),
        (
            "dsse-mismatch-envelope_fail",
            BundleVersion::V0_3,
            "cert",
            "dsse",
            0,
        ),
        (
            "dsse-mismatch-sig_fail",
            BundleVersion::V0_3,
            "cert",
            "dsse",
            0,
        ),
        (
            "happy-path-intoto-in-dsse-v3",
            BundleVersion::V0_3,
            "cert",
            "dsse",
            0,
        ),
        ("happy-path-v0.3", BundleVersion::V0_3, "cert", "message", 0),
        (
            "happy-path-v0.3-new-mediaType",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "inclusion-proof-corrupted-hash_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "incorrect-public-key_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "integrated-time-in-future_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "invalid-checkpoint-signature_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "invalid-ct-key_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "managed-key-and-trusted-root",
            BundleVersion::V0_3,
            "key",
            "message",
            0,
        ),
        (
            "managed-key-happy-path",
            BundleVersion::V0_3,
            "key",
            "message",
            1,
        ),
        (
            "managed-key-wrong-key_fail",
            BundleVersion::V0_3,
            "key",
            "message",
            1,
        ),
        (
            "message-digest-mismatch_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "rekor2-dsse-happy-path",
            BundleVersion::V0_3,
            "cert",
            "dsse",
            1,
        ),
        (
            "rekor2-happy-path",
            BundleVersion::V0_3,
            "cert",
            "message",
            1,
        ),
        (
            "rekor2-no-timestamp_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "rekor2-timestamp-payload-mismatch_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            1,
        ),
        (
            "set-invalid-signature_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "signature-mismatch_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "trust-root-tlog-validity-end-inclusive",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
        (
            "wrong-hashedrekord-entry_fail",
            BundleVersion::V0_3,
            "cert",
            "message",
            0,
        ),
        (
            "wrong-material_fail",
            BundleVersion::V0_1,
            "chain",
            "message",
            0,
        ),
    ];
    let mut paths: Vec<(String, BundleVersion, &str, &str, usize)> = expected
        .iter()
        .map(|(case, v, m, c, t)| (conformance_path(case), *v, *m, *c, *t))
        .collect();
    for oci in [
        "kubewarden-controller-v1.34.0.sigstore.json",
        "cosign-oci-attestation.sigstore.json",
    ] {
        let ts = usize::from(oci.starts_with("kubewarden"));
        paths.push((
            format!("bundle-v0.3/oci/{oci}"),
            BundleVersion::V0_3,
            "cert",
            "dsse",
            ts,
        ));
    }
    // Every bundle file in the fixtures is listed (the v0.2 one is refused below).
    let on_disk = std::fs::read_dir(format!("{FIXTURES}/bundle-v0.3/conformance"))
        .unwrap()
        .filter(|d| {
            d.as_ref()
                .unwrap()
                .path()
                .join("bundle.sigstore.json")
                .exists()
        })
        .count();
    assert_eq!(on_disk, expected.len() + 1);

    for (path, version, material, content, timestamps) in paths {
        let b = bundle(&path);
        assert_eq!(b.version, version, "{path}");
        let found = match &b.verification_material {
            VerificationMaterial::Certificate(der) => {
                x509_cert::Certificate::from_der(der).unwrap();
                "cert"
            }
            VerificationMaterial::X509Chain(chain) => {
                assert!(!chain.is_empty());
                "chain"
            }
            VerificationMaterial::PublicKey { .. } => "key",
        };
        assert_eq!(found, material, "{path}");
        let found = match &b.content {
            BundleContent::MessageSignature { .. } => "message",
            BundleContent::Dsse(_) => "dsse",
        };
        assert_eq!(found, content, "{path}");
        assert_eq!(b.rfc3161_timestamps.len(), timestamps, "{path}");
        assert_eq!(b.tlog_entries.len(), 1, "{path}");
    }
}

/// v0.2+ requires an inclusion proof with a checkpoint for every entry.
#[test]
fn v02_bundle_without_checkpoint_is_refused() {
    assert_eq!(
        SigstoreBundle::from_json(&fixture(&conformance_path("invalid-inclusion-proof_fail"))),
        Err(BundleError::MissingCheckpoint {
            entry: 0,
            version: BundleVersion::V0_2
        })
    );
}

#[test]
fn message_signature_bundle_binds_artifact_signature_and_certificate() {
    let b = bundle(&conformance_path("happy-path-v0.3"));
    let artifact = fixture("bundle-v0.3/conformance/a.txt");
    let BundleContent::MessageSignature {
        digest_algorithm,
        digest,
        signature,
    } = &b.content
    else {
        panic!("not a message signature");
    };
    assert_eq!(*digest_algorithm, HashAlgorithm::Sha256);
    assert_eq!(*digest, Sha256::digest(&artifact).to_vec());
    let VerificationMaterial::Certificate(cert) = &b.verification_material else {
        panic!("not a certificate");
    };
    cert_key(cert).verify(&artifact, signature).unwrap();
    let Ok(TlogBody::HashedRekord {
        digest: logged_digest,
        signature: logged,
        ..
    }) = b.tlog_entries[0].body()
    else {
        panic!("not a hashedrekord");
    };
    assert_eq!(logged_digest.value, *digest);
    assert_eq!(logged.signature, *signature);
    assert_eq!(logged.verifier, LoggedVerifier::Certificate(cert.clone()));
}

#[test]
fn managed_key_bundle_names_its_key_by_hint() {
    let b = bundle(&conformance_path("managed-key-happy-path"));
    assert_eq!(
        b.verification_material,
        VerificationMaterial::PublicKey {
            hint: "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk=".to_owned()
        }
    );
    let key = PublicKey::from_pem(
        &fixture("bundle-v0.3/conformance/managed-key-happy-path/key.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    let BundleContent::MessageSignature { signature, .. } = &b.content else {
        panic!("not a message signature");
    };
    key.verify(&fixture("bundle-v0.3/conformance/a.txt"), signature)
        .unwrap();
}

/// cosign v3's image signature: an in-toto statement in DSSE, signed over the PAE.
#[test]
fn dsse_bundle_signature_is_over_the_pae_and_logged() {
    for path in [
        "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json",
        "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json",
        &conformance_path("happy-path-intoto-in-dsse-v3"),
    ] {
        let b = bundle(path);
        let BundleContent::Dsse(env) = &b.content else {
            panic!("{path}: not DSSE");
        };
        assert_eq!(env.payload_type, "application/vnd.in-toto+json");
        assert_eq!(env.signatures.len(), 1);
        assert_eq!(env.signatures[0].keyid, "");
        let VerificationMaterial::Certificate(cert) = &b.verification_material else {
            panic!("{path}: not a certificate");
        };
        cert_key(cert)
            .verify(&env.pae(), &env.signatures[0].sig)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let Ok(TlogBody::Dsse {
            payload_hash,
            signatures,
            ..
        }) = b.tlog_entries[0].body()
        else {
            panic!("{path}: not a dsse entry");
        };
        assert_eq!(payload_hash.value, Sha256::digest(&env.payload).to_vec());
        assert_eq!(signatures[0].signature, env.signatures[0].sig);
        assert_eq!(
            signatures[0].verifier,
            LoggedVerifier::Certificate(cert.clone())
        );
    }
    let b = bundle("bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json");
    let BundleContent::Dsse(env) = &b.content else {
        unreachable!()
    };
    let statement: Value = serde_json::from_slice(&env.payload).unwrap();
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        "c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"
    );
}

/// Rekor v2 logs a DSSE envelope as hashedrekord 0.0.2 over the digest of its PAE.
#[test]
fn rekor_v2_logs_dsse_as_a_hash_of_the_pae() {
    let b = bundle(&conformance_path("rekor2-dsse-happy-path"));
    let BundleContent::Dsse(env) = &b.content else {
        panic!("not DSSE");
    };
    let Ok(TlogBody::HashedRekord {
        version,
        digest,
        signature,
    }) = b.tlog_entries[0].body()
    else {
        panic!("not a hashedrekord");
    };
    assert_eq!(version, "0.0.2");
    assert_eq!(digest.value, Sha256::digest(env.pae()).to_vec());
    assert_eq!(signature.signature, env.signatures[0].sig);
    let VerificationMaterial::Certificate(cert) = &b.verification_material else {
        panic!("not a certificate");
    };
    assert_eq!(
        signature.verifier,
        LoggedVerifier::Certificate(cert.clone())
    );
    cert_key(cert)
        .verify(&env.pae(), &env.signatures[0].sig)
        .unwrap();
}

/// What the bundle parser hands over is enough for the caller to catch the DSSE `_fail` cases.
#[test]
fn dsse_mismatches_are_visible_to_the_caller() {
    let parts = |case: &str| {
        let b = bundle(&conformance_path(case));
        let BundleContent::Dsse(env) = b.content.clone() else {
            panic!("{case}: not DSSE");
        };
        let Ok(TlogBody::Dsse {
            payload_hash,
            signatures,
            ..
        }) = b.tlog_entries[0].body()
        else {
            panic!("{case}: not a dsse entry");
        };
        let VerificationMaterial::Certificate(cert) = b.verification_material else {
            panic!("{case}: not a certificate");
        };
        (env, payload_hash, signatures, cert_key(&cert))
    };
    let (env, payload_hash, _, _) = parts("dsse-mismatch-envelope_fail");
    assert_ne!(payload_hash.value, Sha256::digest(&env.payload).to_vec());
    let (env, _, logged, key) = parts("dsse-mismatch-sig_fail");
    key.verify(&env.pae(), &env.signatures[0].sig).unwrap();
    assert_ne!(logged[0].signature, env.signatures[0].sig);
    let (env, _, _, key) = parts("dsse-invalid-sig_fail");
    assert!(key.verify(&env.pae(), &env.signatures[0].sig).is_err());
}

#[test]
fn pae_matches_the_dsse_spec() {
    // The example in the DSSE protocol document.
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    // Lengths are byte counts, not character counts, and the body is not escaped.
    assert_eq!(
        pae("t\u{e9}", b"a b\n\x00"),
        b"DSSEv1 3 t\xc3\xa9 5 a b\n\x00".to_vec()
    );
    let env = DsseEnvelope {
        payload: b"{}".to_vec(),
        payload_type: "application/vnd.in-toto+json".to_owned(),
        signatures: vec![],
    };
    assert_eq!(env.pae(), b"DSSEv1 28 application/vnd.in-toto+json 2 {}");
}

fn happy() -> Value {
    serde_json::from_slice(&fixture(&conformance_path("happy-path-v0.3"))).unwrap()
}

fn v01() -> Value {
    serde_json::from_slice(&fixture(&conformance_path("set-invalid-signature_fail"))).unwrap()
}

fn parse(v: &Value) -> Result<SigstoreBundle, BundleError> {
    SigstoreBundle::from_json(&serde_json::to_vec(v).unwrap())
}

fn edited(mut v: Value, edit: impl FnOnce(&mut Value)) -> Result<SigstoreBundle, BundleError> {
    edit(&mut v);
    parse(&v)
}

#[test]
fn version_rules() {
    // v0.3 takes a single certificate, not a chain; v0.1 and v0.2 the other way round.
    let chain = v01()["verificationMaterial"]["x509CertificateChain"].clone();
    assert_eq!(
        edited(happy(), |v| {
            let m = v["verificationMaterial"].as_object_mut().unwrap();
            m.remove("certificate");
            m.insert("x509CertificateChain".to_owned(), chain);
        }),
        Err(BundleError::MaterialNotAllowed {
            material: "x509CertificateChain",
            version: BundleVersion::V0_3
        })
    );
    let cert = happy()["verificationMaterial"]["certificate"].clone();
    for media_type in [
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    ] {
        let version = if media_type.ends_with("0.1") {
            BundleVersion::V0_1
        } else {
            BundleVersion::V0_2
        };
        assert_eq!(
            edited(happy(), |v| {
                v["mediaType"] = json!(media_type);
                v["verificationMaterial"]["certificate"] = cert.clone();
            }),
            Err(BundleError::MaterialNotAllowed {
                material: "certificate",
                version
            })
        );
    }
    // v0.1 requires the SET; v0.2+ the inclusion proof.
    assert_eq!(
        edited(v01(), |v| {
            v["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionPromise");
        }),
        Err(BundleError::MissingInclusionPromise { entry: 0 })
    );
    assert!(
        edited(v01(), |v| {
            v["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionProof");
        })
        .is_ok(),
        "v0.1 needs no inclusion proof"
    );
    assert_eq!(
        edited(happy(), |v| {
            v["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionProof");
        }),
        Err(BundleError::MissingInclusionProof {
            entry: 0,
            version: BundleVersion::V0_3
        })
    );
    assert!(
        edited(happy(), |v| {
            v["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionPromise");
        })
        .is_ok(),
        "v0.3 needs no SET"
    );
    // v0.2 with a checkpoint is fine.
    let mut v = v01();
    v["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.2");
    assert_eq!(parse(&v).unwrap().version, BundleVersion::V0_2);
    // A bundle may carry no tlog entry at all (a TSA-only bundle); the caller decides.
    let b = edited(happy(), |v| {
        v["verificationMaterial"]["tlogEntries"] = json!([])
    })
    .unwrap();
    assert!(b.tlog_entries.is_empty());
}

#[test]
fn media_types() {
    for bad in [
        json!("application/vnd.dev.sigstore.bundle+json;version=0.4"),
        json!("application/vnd.dev.sigstore.bundle.v0.3+json "),
        json!("application/json"),
    ] {
        assert_eq!(
            edited(happy(), |v| v["mediaType"] = bad.clone()),
            Err(BundleError::UnsupportedMediaType(
                bad.as_str().unwrap().to_owned()
            ))
        );
    }
    assert_eq!(
        edited(happy(), |v| {
            v.as_object_mut().unwrap().remove("mediaType");
        }),
        Err(BundleError::UnsupportedMediaType(String::new()))
    );
    assert!(matches!(
        edited(happy(), |v| v["mediaType"] = json!(3)),
        Err(BundleError::Json(_))
    ));
}

#[test]
fn hostile_bundles_give_typed_errors() {
    let missing = |field| Err(BundleError::Missing { field });
    assert_eq!(
        edited(happy(), |v| {
            v.as_object_mut().unwrap().remove("messageSignature");
        }),
        missing("messageSignature|dsseEnvelope")
    );
    let dsse = serde_json::from_slice::<Value>(&fixture(
        "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json",
    ))
    .unwrap()["dsseEnvelope"]
        .clone();
    assert_eq!(
        edited(happy(), |v| v["dsseEnvelope"] = dsse.clone()),
        Err(BundleError::Ambiguous { what: "content" })
    );
    assert_eq!(
        edited(happy(), |v| v["verificationMaterial"]["publicKey"] =
            json!({"hint": "x"})),
        Err(BundleError::Ambiguous {
            what: "verificationMaterial"
        })
    );
    assert_eq!(
        edited(happy(), |v| {
            v["verificationMaterial"]
                .as_object_mut()
                .unwrap()
                .remove("certificate");
        }),
        missing("verificationMaterial.certificate|x509CertificateChain|publicKey")
    );
    assert_eq!(
        edited(happy(), |v| {
            v.as_object_mut().unwrap().remove("verificationMaterial");
        }),
        missing("verificationMaterial")
    );
    assert_eq!(
        edited(
            happy(),
            |v| v["verificationMaterial"]["certificate"]["rawBytes"] = json!("!!not base64!!")
        ),
        Err(BundleError::Base64 {
            field: "verificationMaterial.certificate.rawBytes"
        })
    );
    assert_eq!(
        edited(
            happy(),
            |v| v["verificationMaterial"]["certificate"]["rawBytes"] = json!("")
        ),
        missing("verificationMaterial.certificate.rawBytes")
    );
    assert_eq!(
        edited(v01(), |v| v["verificationMaterial"]["x509CertificateChain"]
            ["certificates"] = json!([])),
        missing("verificationMaterial.x509CertificateChain.certificates")
    );
    assert_eq!(
        edited(
            happy(),
            |v| v["messageSignature"]["messageDigest"]["digest"] = json!("AAAA")
        ),
        Err(BundleError::MessageDigest(
            "3 bytes for SHA2_256".to_owned()
        ))
    );
    assert_eq!(
        edited(
            happy(),
            |v| v["messageSignature"]["messageDigest"]["algorithm"] = json!("MD5")
        ),
        Err(BundleError::MessageDigest(
            "unsupported algorithm \"MD5\"".to_owned()
        ))
    );
    assert_eq!(
        edited(happy(), |v| {
            v["messageSignature"]
                .as_object_mut()
                .unwrap()
                .remove("signature");
        }),
        missing("messageSignature.signature")
    );
    assert_eq!(
        edited(happy(), |v| {
            v["messageSignature"]
                .as_object_mut()
                .unwrap()
                .remove("messageDigest");
        }),
        missing("messageSignature.messageDigest")
    );
    assert!(matches!(
        edited(happy(), |v| v["messageSignature"]["signature"] =
            json!(["a"])),
        Err(BundleError::Json(_))
    ));

    // DSSE.
    let att = || -> Value {
        serde_json::from_slice(&fixture(
            "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json",
        ))
        .unwrap()
    };
    assert_eq!(
        edited(att(), |v| v["dsseEnvelope"]["signatures"] = json!([])),
        missing("dsseEnvelope.signatures")
    );
    assert_eq!(
        edited(att(), |v| v["dsseEnvelope"]["signatures"][0]["sig"] =
            json!("%")),
        Err(BundleError::Base64 {
            field: "dsseEnvelope.signatures[].sig"
        })
    );
    assert_eq!(
        edited(att(), |v| v["dsseEnvelope"]["payload"] = json!("%")),
        Err(BundleError::Base64 {
            field: "dsseEnvelope.payload"
        })
    );
    assert_eq!(
        edited(att(), |v| v["dsseEnvelope"]["payloadType"] = json!("")),
        missing("dsseEnvelope.payloadType")
    );
    assert!(matches!(
        edited(att(), |v| v["dsseEnvelope"]["signatures"] =
            json!({"sig": "AAAA"})),
        Err(BundleError::Json(_))
    ));
    // An empty payload is legal DSSE.
    let b = edited(att(), |v| v["dsseEnvelope"]["payload"] = json!("")).unwrap();
    let BundleContent::Dsse(env) = b.content else {
        unreachable!()
    };
    assert!(env.payload.is_empty());

    // Tlog entries: errors carry the entry's index and the tlog error.
    let entry_error = |edit: &dyn Fn(&mut Value)| match edited(happy(), |v| {
        edit(&mut v["verificationMaterial"]["tlogEntries"][0]);
    }) {
        Err(BundleError::TlogEntry {
            entry: 0,
            source: TlogError::Malformed { what },
        }) => what,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        entry_error(&|e| e["canonicalizedBody"] = json!("***")),
        "canonicalizedBody is not base64"
    );
    assert_eq!(
        entry_error(&|e| e["inclusionProof"]["rootHash"] = json!("AAAA")),
        "inclusionProof.rootHash is 3 bytes, a SHA-256 hash is 32"
    );
    for huge in [
        json!("184467440737095516150"),
        json!(1.8e19),
        json!(-1),
        json!("12a"),
    ] {
        assert!(matches!(
            edited(
                happy(),
                |v| v["verificationMaterial"]["tlogEntries"][0]["logIndex"] = huge.clone()
            ),
            Err(BundleError::Json(_))
        ));
    }
    assert!(matches!(
        edited(happy(), |v| v["verificationMaterial"]["tlogEntries"] =
            json!("x")),
        Err(BundleError::Json(_))
    ));
    assert_eq!(
        edited(
            happy(),
            |v| v["verificationMaterial"]["timestampVerificationData"] =
                json!({"rfc3161Timestamps": [{"signedTimestamp": "@@"}]})
        ),
        Err(BundleError::Base64 {
            field: "timestampVerificationData.rfc3161Timestamps[].signedTimestamp"
        })
    );
    assert!(matches!(
        SigstoreBundle::from_json(b"\xff\xfe{}"),
        Err(BundleError::Json(_))
    ));
    assert!(matches!(
        SigstoreBundle::from_json(&[b'['; 10_000]),
        Err(BundleError::Json(_))
    ));
}

/// Truncated and bit-flipped bundles never panic; truncated ones are never JSON.
#[test]
fn damaged_bundles_never_panic() {
    for path in [
        "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json".to_owned(),
        conformance_path("rekor2-dsse-happy-path"),
        conformance_path("set-invalid-signature_fail"),
    ] {
        let root = crate::trusted_root::TrustedRoot::from_json(&fixture(
            "bundle-v0.3/trusted_root.public-good.json",
        ))
        .unwrap();
        let raw = fixture(&path);
        for cut in (0..raw.len()).step_by(41) {
            assert!(
                matches!(
                    SigstoreBundle::from_json(&raw[..cut]),
                    Err(BundleError::Json(_))
                ),
                "{path} cut at {cut}"
            );
        }
        let mut outcomes = [0usize; 2];
        for at in (0..raw.len()).step_by(7) {
            for replacement in [b'"', b'0', b'A', b'}', b'-', 0xff] {
                let mut damaged = raw.clone();
                damaged[at] = replacement;
                let parsed = SigstoreBundle::from_json(&damaged);
                outcomes[usize::from(parsed.is_ok())] += 1;
                if let Ok(b) = parsed {
                    // Whatever parses, the evidence checks run to a verdict without panicking.
                    for e in &b.tlog_entries {
                        let _ = e.body();
                        let _ = crate::tlog::verify_entry(
                            e,
                            &root.tlogs,
                            crate::time::UnixTime(1_795_737_600),
                            &crate::tlog::TlogPolicy::default(),
                        );
                    }
                }
            }
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{path}: {outcomes:?}");
    }
}
