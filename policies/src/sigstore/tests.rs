use std::collections::BTreeMap;

use super::*;
use crate::cosign::SIMPLE_SIGNING_MEDIA_TYPE;
use crate::crypto::RsaScheme;
use sigstore_verify::TransparencyLogError as TlogError;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const NOW: UnixTime = UnixTime(1_795_756_528);
const FULCIO_REKOR: &str = "cosign-keyless/containers-image-fulcio-rekor";
const CONFORMANCE_ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn trust(path: &str) -> SigstoreTrust {
    SigstoreTrust::from_json(&fixture(path)).unwrap()
}

fn public_good() -> SigstoreTrust {
    trust("bundle-v0.3/trusted_root.public-good.json")
}

fn identity(san: &str, issuer: &str) -> KeylessIdentity {
    KeylessIdentity {
        san: Glob::text(san).unwrap(),
        issuer: Glob::text(issuer).unwrap(),
    }
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_hash(DigestAlgorithm::Sha256, &Sha256::digest(bytes)).unwrap()
}

/// The fulcio-rekor keyless signature, with annotations optionally changed.
fn keyless_layer(edit: impl FnOnce(&mut BTreeMap<String, String>)) -> CosignSignature {
    let payload = fixture(&format!("{FULCIO_REKOR}/signature-1.payload.json"));
    let mut annotations: BTreeMap<String, String> = serde_json::from_slice(&fixture(&format!(
        "{FULCIO_REKOR}/signature-1.annotations.json"
    )))
    .unwrap();
    edit(&mut annotations);
    CosignSignature::from_layer(SIMPLE_SIGNING_MEDIA_TYPE, payload, &annotations).unwrap()
}

fn keyless_subject() -> Subject {
    Subject {
        repository: "cosign-signed/fulcio-rekor-1".parse().unwrap(),
        digest: sha256(&fixture(&format!("{FULCIO_REKOR}/manifest.json"))),
        tag: None,
    }
}

fn verify_keyless(
    sig: &CosignSignature,
    id: &KeylessIdentity,
) -> Result<(SimpleSigning, KeylessVerified), SignatureFailure> {
    verify_cosign_keyless(
        sig,
        &public_good(),
        id,
        NOW,
        &keyless_subject(),
        &ReferenceRule::default(),
    )
}

const GITHUB_OAUTH: &str = "https://github.com/login/oauth";

#[test]
fn a_keyless_cosign_signature_verifies_at_its_integrated_time() {
    let (payload, verified) = verify_keyless(
        &keyless_layer(|_| {}),
        &identity("mitr@redhat.com", GITHUB_OAUTH),
    )
    .unwrap();
    assert_eq!(
        payload.docker_reference,
        "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"
    );
    // The Fulcio certificate lived ten minutes in January 2023; the log time is inside it.
    assert!(
        verified.certificate.not_before <= verified.signed_at
            && verified.signed_at <= verified.certificate.not_after
    );
    assert!(verified.certificate.not_after < NOW);
}

#[test]
fn keyless_identity_and_issuer_are_both_required() {
    let sig = keyless_layer(|_| {});
    assert!(matches!(
        verify_keyless(&sig, &identity("someone@example.com", GITHUB_OAUTH)),
        Err(SignatureFailure::Identity(IdentityMismatch {
            field: IdentityField::SanEmail,
            ..
        }))
    ));
    assert!(matches!(
        verify_keyless(
            &sig,
            &identity("mitr@redhat.com", "https://accounts.google.com")
        ),
        Err(SignatureFailure::Identity(IdentityMismatch {
            field: IdentityField::OidcIssuer,
            ..
        }))
    ));
}

#[test]
fn keyless_without_log_evidence_has_no_trusted_time() {
    let sig = keyless_layer(|a| {
        a.remove(crate::cosign::ANNOTATION_BUNDLE);
    });
    assert_eq!(
        verify_keyless(&sig, &identity("mitr@redhat.com", GITHUB_OAUTH)).unwrap_err(),
        SignatureFailure::TlogMissing
    );
}

#[test]
fn keyless_evidence_tampering_is_caught_where_it_happens() {
    let id = identity("mitr@redhat.com", GITHUB_OAUTH);
    // A different valid signature annotation: the logged entry no longer records it.
    let other_sig = keyless_layer(|a| {
        let sig = a.get_mut(crate::cosign::ANNOTATION_SIGNATURE).unwrap();
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig.as_bytes())
                .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        *sig = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    });
    assert_eq!(
        verify_keyless(&other_sig, &id).unwrap_err(),
        SignatureFailure::SignatureMismatch
    );
    // A bundle annotation with a changed integrated time: the SET no longer verifies.
    let moved = keyless_layer(|a| {
        let bundle = a.get_mut(crate::cosign::ANNOTATION_BUNDLE).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(bundle).unwrap();
        let t = json["Payload"]["integratedTime"].as_u64().unwrap();
        json["Payload"]["integratedTime"] = serde_json::json!(t + 60);
        *bundle = json.to_string();
    });
    assert!(
        matches!(
            verify_keyless(&moved, &id),
            Err(SignatureFailure::Tlog(TlogError::InclusionPromise(_)))
        ),
        "{:?}",
        verify_keyless(&moved, &id)
    );
    // Garbage in the certificate annotation.
    let garbage = keyless_layer(|a| {
        a.insert(
            crate::cosign::ANNOTATION_CERTIFICATE.to_owned(),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
        );
    });
    assert!(matches!(
        verify_keyless(&garbage, &id),
        Err(SignatureFailure::Certificate(_))
    ));
}

#[test]
fn a_log_of_another_instance_cannot_vouch() {
    let staging = trust("bundle-v0.3/conformance/managed-key-and-trusted-root/trusted_root.json");
    let err = verify_cosign_keyless(
        &keyless_layer(|_| {}),
        &staging,
        &identity("mitr@redhat.com", GITHUB_OAUTH),
        NOW,
        &keyless_subject(),
        &ReferenceRule::default(),
    )
    .unwrap_err();
    assert!(
        // The staging root holds no key for the production log's ID.
        matches!(
            &err,
            SignatureFailure::Tlog(TlogError::UnknownLog { .. })
                | SignatureFailure::Tlog(TlogError::InclusionPromise(_))
        ) && err.to_string().contains("log ID"),
        "{err:?}"
    );
}

#[test]
fn key_signatures_can_be_required_in_rekor() {
    let dir = "cosign-legacy/containers-image/key-rekor-valid";
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&fixture(&format!("{dir}/signature-1.annotations.json"))).unwrap();
    let sig = CosignSignature::from_layer(
        SIMPLE_SIGNING_MEDIA_TYPE,
        fixture(&format!("{dir}/signature-1.payload.json")),
        &annotations,
    )
    .unwrap();
    let cosign2 = PublicKey::from_pem(
        &fixture("cosign-legacy/containers-image/keys/cosign2.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    let cosign = PublicKey::from_pem(
        &fixture("cosign-legacy/containers-image/keys/cosign.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    let at = verify_cosign_tlog(&sig, Signer::Key(&cosign2), &public_good(), NOW).unwrap();
    assert!(at < NOW);
    // The log entry records cosign2's key: another key's claim to it is refused.
    let err = verify_cosign_tlog(&sig, Signer::Key(&cosign), &public_good(), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureFailure::SignatureMismatch
                | SignatureFailure::Tlog(TlogError::EntryMismatch(_))
        ),
        "{err:?}"
    );
}

fn conformance(case: &str) -> SigstoreBundle {
    SigstoreBundle::from_json(&fixture(&format!(
        "bundle-v0.3/conformance/{case}/bundle.sigstore.json"
    )))
    .unwrap()
}

fn verify_conformance(case: &str, artifact: &[u8]) -> Result<BundleVerified, SignatureFailure> {
    let trust = public_good();
    let id = identity(
        CONFORMANCE_ID,
        "https://token.actions.githubusercontent.com",
    );
    verify_bundle(
        &conformance(case),
        Some(artifact),
        &sha256(artifact),
        BundleSigner::Keyless {
            trust: &trust,
            identity: &id,
        },
        NOW,
    )
}

/// Recognises the failure a case must produce.
type Expected = fn(&SignatureFailure) -> bool;

#[test]
fn conformance_bundles_give_typed_reasons() {
    let a = fixture("bundle-v0.3/conformance/a.txt");
    assert!(matches!(
        verify_conformance("happy-path-v0.3", &a),
        Ok(BundleVerified::Keyless(_))
    ));
    assert!(matches!(
        verify_conformance("happy-path-intoto-in-dsse-v3", &a),
        Ok(BundleVerified::Keyless(_))
    ));
    let cases: &[(&str, Expected)] = &[
        ("signature-mismatch_fail", |e| {
            matches!(e, SignatureFailure::SignatureMismatch)
        }),
        ("message-digest-mismatch_fail", |e| {
            matches!(e, SignatureFailure::DigestMismatch { .. })
        }),
        ("set-invalid-signature_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::InclusionPromise(_)))
        }),
        ("inclusion-proof-corrupted-hash_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::InclusionProof(_)))
        }),
        ("checkpoint-bad-keyhint_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::Checkpoint(_)))
        }),
        (
            "checkpoint-wrong-roothash_fail",
            |e| matches!(e, SignatureFailure::Tlog(TlogError::InclusionProof(m)) if m.contains("checkpoint")),
        ),
        ("invalid-checkpoint-signature_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::Checkpoint(_)))
        }),
        ("incorrect-public-key_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::InclusionPromise(_)))
        }),
        ("bundle-from-wrong-instance_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::UnknownLog { .. }))
                || matches!(e, SignatureFailure::Tlog(TlogError::InclusionPromise(m)) if m.contains("log ID"))
        }),
        ("dsse-invalid-sig_fail", |e| {
            matches!(e, SignatureFailure::SignatureMismatch)
        }),
        ("dsse-mismatch-sig_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::EntryMismatch(_)))
        }),
        ("dsse-mismatch-envelope_fail", |e| {
            matches!(e, SignatureFailure::Tlog(TlogError::EntryMismatch(_)))
        }),
        (
            "integrated-time-in-future_fail",
            |e| matches!(e, SignatureFailure::Fulcio(m) if m.contains("CertExpired")),
        ),
        ("bundle-with-root-cert_fail", |e| {
            *e == SignatureFailure::PresentedRoot
        }),
    ];
    for (case, expected) in cases {
        let artifact = std::fs::read(format!(
            "{FIXTURES}/bundle-v0.3/conformance/{case}/artifact"
        ))
        .unwrap_or_else(|_| a.clone());
        let err = verify_conformance(case, &artifact).unwrap_err();
        assert!(expected(&err), "{case}: {err:?}");
    }
    // invalid-ct-key: its own trusted root holds another CT log key, so the embedded SCT
    // cannot be verified.
    let ct_trust = trust("bundle-v0.3/conformance/invalid-ct-key_fail/trusted_root.json");
    let id = identity(
        CONFORMANCE_ID,
        "https://token.actions.githubusercontent.com",
    );
    let err = verify_bundle(
        &conformance("invalid-ct-key_fail"),
        Some(&a),
        &sha256(&a),
        BundleSigner::Keyless {
            trust: &ct_trust,
            identity: &id,
        },
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, SignatureFailure::Sct(_)), "{err:?}");
    // wrong-material: the artifact given is not the one signed.
    let wrong = fixture("bundle-v0.3/conformance/wrong-material_fail/artifact");
    let trust = public_good();
    let id = identity(
        CONFORMANCE_ID,
        "https://token.actions.githubusercontent.com",
    );
    let err = verify_bundle(
        &conformance("wrong-material_fail"),
        Some(&wrong),
        &sha256(&wrong),
        BundleSigner::Keyless {
            trust: &trust,
            identity: &id,
        },
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, SignatureFailure::DigestMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn message_signatures_need_the_artifact_and_keys_need_key_material() {
    let a = fixture("bundle-v0.3/conformance/a.txt");
    let trust = public_good();
    let id = identity(
        CONFORMANCE_ID,
        "https://token.actions.githubusercontent.com",
    );
    let bundle = conformance("happy-path-v0.3");
    assert_eq!(
        verify_bundle(
            &bundle,
            None,
            &sha256(&a),
            BundleSigner::Keyless {
                trust: &trust,
                identity: &id
            },
            NOW
        )
        .unwrap_err(),
        SignatureFailure::ArtifactRequired
    );
    let key = PublicKey::from_pem(
        &fixture("bundle-v0.3/conformance/managed-key-happy-path/key.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    assert!(matches!(
        verify_bundle(
            &bundle,
            Some(&a),
            &sha256(&a),
            BundleSigner::Key {
                key: &key,
                tlog: None
            },
            NOW
        ),
        Err(SignatureFailure::MaterialMismatch { .. })
    ));
    let managed = conformance("managed-key-happy-path");
    assert!(matches!(
        verify_bundle(
            &managed,
            Some(&a),
            &sha256(&a),
            BundleSigner::Key {
                key: &key,
                tlog: Some(&trust)
            },
            NOW
        ),
        Ok(BundleVerified::Key { signed_at: Some(_) })
    ));
    assert!(matches!(
        verify_bundle(
            &managed,
            Some(&a),
            &sha256(&a),
            BundleSigner::Keyless {
                trust: &trust,
                identity: &id
            },
            NOW
        ),
        Err(SignatureFailure::MaterialMismatch { .. })
    ));
}

#[test]
fn oci_bundles_sign_the_image_digest_through_an_in_toto_statement() {
    let bundle = SigstoreBundle::from_json(&fixture(
        "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json",
    ))
    .unwrap();
    let digest: Digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"
        .parse()
        .unwrap();
    let trust = public_good();
    let id = identity(
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/*",
        "https://token.actions.githubusercontent.com",
    );
    let signer = BundleSigner::Keyless {
        trust: &trust,
        identity: &id,
    };
    assert!(matches!(
        verify_bundle(&bundle, None, &digest, signer, NOW),
        Ok(BundleVerified::Keyless(_))
    ));
    let other: Digest = format!("sha256:{}", "2".repeat(64)).parse().unwrap();
    assert!(matches!(
        verify_bundle(&bundle, None, &other, signer, NOW),
        Err(SignatureFailure::DigestMismatch { .. })
    ));
    let not_intoto = br#"{"_type":"something else","subject":[]}"#;
    assert!(matches!(
        check_statement(not_intoto, digest.hex()),
        Err(SignatureFailure::Statement(_))
    ));
    assert!(matches!(
        check_statement(b"[", digest.hex()),
        Err(SignatureFailure::Statement(_))
    ));
}

#[test]
fn rekor_v2_entries_take_their_time_from_rfc3161_timestamps() {
    let a = fixture("bundle-v0.3/conformance/a.txt");
    let id = identity(
        CONFORMANCE_ID,
        "https://token.actions.githubusercontent.com",
    );
    let run = |case: &str| {
        let trust = trust(&format!("bundle-v0.3/conformance/{case}/trusted_root.json"));
        verify_bundle(
            &conformance(case),
            Some(&a),
            &sha256(&a),
            BundleSigner::Keyless {
                trust: &trust,
                identity: &id,
            },
            NOW,
        )
    };
    for ok in [
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
        "bundle-with-sct-with-extensions",
    ] {
        assert!(
            matches!(run(ok), Ok(BundleVerified::Keyless(_))),
            "{ok}: {:?}",
            run(ok)
        );
    }
    assert!(matches!(
        run("rekor2-no-timestamp_fail").unwrap_err(),
        SignatureFailure::Timestamp(sigstore_verify::TimestampError::NoVerifiedTimestamp(_))
    ));
    assert!(matches!(
        run("rekor2-timestamp-payload-mismatch_fail").unwrap_err(),
        SignatureFailure::Timestamp(sigstore_verify::TimestampError::Invalid(_))
    ));
}

// --- A Fulcio and a Rekor of the test's own making --------------------------------------------

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

/// A CA made in the test: its certificate and the handle that signs with its key.
struct TestCa {
    der: Vec<u8>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn test_ca(cn: &str, parent: Option<&TestCa>, usages: Vec<rcgen::KeyUsagePurpose>) -> TestCa {
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = usages;
    // As Fulcio's intermediates do; webpki requires the EKU of the path on intermediates.
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = match parent {
        Some(p) => params.signed_by(&key, &p.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    TestCa {
        der: cert.der().to_vec(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

fn ca_usages() -> Vec<rcgen::KeyUsagePurpose> {
    vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ]
}

fn signing_only() -> Vec<rcgen::KeyUsagePurpose> {
    vec![rcgen::KeyUsagePurpose::DigitalSignature]
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn pem(der: &[u8]) -> String {
    let body = b64(der)
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
}

fn ecdsa(key: &rcgen::KeyPair) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der()).unwrap()
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    key.sign(&aws_lc_rs::rand::SystemRandom::new(), message)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// A transparency log: its key signs inclusion promises.
struct TestLog {
    key: EcdsaKeyPair,
    spki: Vec<u8>,
}

impl TestLog {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            spki: rcgen::PublicKeyData::subject_public_key_info(&key),
            key: ecdsa(&key),
        }
    }

    fn id(&self) -> Vec<u8> {
        Sha256::digest(&self.spki).to_vec()
    }

    /// A trusted root with this log and one Fulcio CA per (chain, window).
    fn root(&self, cas: &[(&[&TestCa], &str, Option<&str>)]) -> SigstoreTrust {
        let authorities: Vec<_> = cas
            .iter()
            .map(|(chain, start, end)| {
                let mut valid_for = serde_json::json!({ "start": start });
                if let Some(end) = end {
                    valid_for["end"] = serde_json::json!(end);
                }
                serde_json::json!({
                    "subject": {"organization": "test", "commonName": "test"},
                    "uri": "https://fulcio.test",
                    "certChain": {"certificates": chain
                        .iter()
                        .map(|c| serde_json::json!({"rawBytes": b64(&c.der)}))
                        .collect::<Vec<_>>()},
                    "validFor": valid_for,
                })
            })
            .collect();
        let root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(&self.spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64(&self.id())},
            }],
            "certificateAuthorities": authorities,
            "ctlogs": [],
            "timestampAuthorities": [],
        });
        SigstoreTrust::from_json(root.to_string().as_bytes()).unwrap()
    }

    /// A keyless cosign layer over `test/app@subject`, signed by a fresh leaf that `ca` issues,
    /// `chain` presented in the chain annotation, logged at 2026-01-01.
    fn keyless_layer(&self, ca: &TestCa, chain: &[&TestCa]) -> (CosignSignature, Subject) {
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(
            "ci@example.com".try_into().unwrap(),
        )];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &ca.issuer).unwrap().der().to_vec();
        let subject = Subject {
            repository: "test/app".parse().unwrap(),
            digest: sha256(b"manifest"),
            tag: None,
        };
        let payload = serde_json::json!({"critical": {
            "identity": {"docker-reference": "registry.test/test/app"},
            "image": {"docker-manifest-digest": subject.digest.to_string()},
            "type": "cosign container image signature"}, "optional": null})
        .to_string();
        let signature = sign(&ecdsa(&key), payload.as_bytes());
        let body = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256",
                "value": hex::encode(Sha256::digest(payload.as_bytes()))}},
            "signature": {"content": b64(&signature),
                "publicKey": {"content": b64(pem(&leaf).as_bytes())}}}})
        .to_string();
        let integrated_time = 1_767_225_600_u64;
        // The inclusion promise signs the canonical JSON of the entry (keys sorted).
        let promised = format!(
            r#"{{"body":"{}","integratedTime":{integrated_time},"logID":"{}","logIndex":7}}"#,
            b64(body.as_bytes()),
            hex::encode(self.id())
        );
        let set = sign(&self.key, promised.as_bytes());
        let annotations = BTreeMap::from([
            (
                crate::cosign::ANNOTATION_SIGNATURE.to_owned(),
                b64(&signature),
            ),
            (crate::cosign::ANNOTATION_CERTIFICATE.to_owned(), pem(&leaf)),
            (
                crate::cosign::ANNOTATION_CHAIN.to_owned(),
                chain.iter().map(|c| pem(&c.der)).collect::<String>(),
            ),
            (
                crate::cosign::ANNOTATION_BUNDLE.to_owned(),
                serde_json::json!({"SignedEntryTimestamp": b64(&set), "Payload": {
                    "body": b64(body.as_bytes()), "integratedTime": integrated_time,
                    "logIndex": 7, "logID": hex::encode(self.id())}})
                .to_string(),
            ),
        ]);
        let layer = CosignSignature::from_layer(
            SIMPLE_SIGNING_MEDIA_TYPE,
            payload.into_bytes(),
            &annotations,
        )
        .unwrap();
        (layer, subject)
    }
}

fn verify_layer(
    trust: &SigstoreTrust,
    (layer, subject): &(CosignSignature, Subject),
) -> Result<KeylessVerified, SignatureFailure> {
    verify_cosign_keyless_layer(layer, trust, NOW, subject, &ReferenceRule::default())
        .map(|(_, verified)| verified)
}

#[test]
fn a_synthetic_keyless_layer_verifies_so_the_refusals_below_mean_something() {
    let log = TestLog::new();
    let root = test_ca("root", None, ca_usages());
    let intermediate = test_ca("fulcio intermediate", Some(&root), ca_usages());
    let trust = log.root(&[(&[&intermediate, &root], "2020-01-01T00:00:00Z", None)]);
    let verified = verify_layer(&trust, &log.keyless_layer(&intermediate, &[])).unwrap();
    assert_eq!(verified.signed_at, UnixTime(1_767_225_600));
    // Another log's promise is not this log's.
    let other = TestLog::new();
    assert!(matches!(
        verify_layer(&trust, &other.keyless_layer(&intermediate, &[])),
        Err(SignatureFailure::Tlog(_))
    ));
}

#[test]
fn a_fulcio_window_belongs_to_the_ca_that_verified_the_path_not_to_a_name() {
    let log = TestLog::new();
    let retired_root = test_ca("retired root", None, ca_usages());
    let current_root = test_ca("current root", None, ca_usages());
    let current = test_ca("fulcio intermediate", Some(&current_root), ca_usages());
    // Made by the retired root, named like the current intermediate.
    let lookalike = test_ca("fulcio intermediate", Some(&retired_root), ca_usages());
    let trust = log.root(&[
        (
            &[&retired_root],
            "2020-01-01T00:00:00Z",
            Some("2021-01-01T00:00:00Z"),
        ),
        (&[&current, &current_root], "2020-01-01T00:00:00Z", None),
    ]);
    assert!(verify_layer(&trust, &log.keyless_layer(&current, &[])).is_ok());
    let forged = verify_layer(&trust, &log.keyless_layer(&lookalike, &[&lookalike]));
    assert!(
        matches!(
            forged,
            Err(SignatureFailure::CaNotValidAt { .. } | SignatureFailure::Fulcio(_))
        ),
        "{forged:?}"
    );
}

#[test]
fn fulcio_cas_without_key_cert_sign_issue_nothing() {
    let log = TestLog::new();
    let root = test_ca("root", None, ca_usages());
    // In the trusted root: left out at load, with a warning, and what it issues is refused.
    let bad = test_ca("fulcio intermediate", Some(&root), signing_only());
    let trust = log.root(&[(&[&bad, &root], "2020-01-01T00:00:00Z", None)]);
    assert!(trust.certificate_authorities().is_empty());
    assert!(
        trust.warnings()[0].contains("keyCertSign"),
        "{:?}",
        trust.warnings()
    );
    assert!(verify_layer(&trust, &log.keyless_layer(&bad, &[])).is_err());
    // Presented with the signature, issued by a trusted root: refused on the path.
    let trust = log.root(&[(&[&root], "2020-01-01T00:00:00Z", None)]);
    let presented = test_ca("presented intermediate", Some(&root), signing_only());
    assert!(matches!(
        verify_layer(&trust, &log.keyless_layer(&presented, &[&presented])),
        Err(SignatureFailure::Chain(
            crate::pki::ChainError::NoCertSign { .. }
        ))
    ));
    // The same, allowed to sign certificates: admitted.
    let good = test_ca("presented intermediate", Some(&root), ca_usages());
    let admitted = verify_layer(&trust, &log.keyless_layer(&good, &[&good]));
    assert!(admitted.is_ok(), "{admitted:?}");
}

#[test]
fn timestamp_authorities_without_key_cert_sign_are_left_out() {
    let root = test_ca("tsa root", None, ca_usages());
    let bad = test_ca("tsa intermediate", Some(&root), signing_only());
    let good = test_ca("tsa intermediate", Some(&root), ca_usages());
    let with_tsa = |chain: &[&TestCa]| {
        let json = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [], "certificateAuthorities": [], "ctlogs": [],
            "timestampAuthorities": [{
                "subject": {"organization": "test", "commonName": "tsa"},
                "certChain": {"certificates": chain
                    .iter()
                    .map(|c| serde_json::json!({"rawBytes": b64(&c.der)}))
                    .collect::<Vec<_>>()},
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }],
        });
        SigstoreTrust::from_json(json.to_string().as_bytes()).unwrap()
    };
    let trust = with_tsa(&[&bad, &root]);
    assert!(trust.timestamp_authorities().is_empty());
    assert!(
        trust.warnings()[0].starts_with("timestamp authority CA"),
        "{:?}",
        trust.warnings()
    );
    let trust = with_tsa(&[&good, &root]);
    assert_eq!(trust.timestamp_authorities().len(), 1);
    assert!(trust.warnings().is_empty());
}
