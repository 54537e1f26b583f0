use super::*;
use crate::crypto::RsaScheme;
use crate::trusted_root::TrustedRoot;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// 2026-11-27T00:00:00Z, the day the fixtures were checked.
const NOW: UnixTime = UnixTime(1_795_737_600);
const REKOR_V1_LOG_ID: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

fn rekor_log() -> TransparencyLog {
    let key =
        PublicKey::from_pem(&fixture("cosign-keyless/trust/rekor.pub"), RsaScheme::Pkcs1).unwrap();
    TransparencyLog::from_public_key(key)
}

fn public_good() -> TrustedRoot {
    TrustedRoot::from_json(&fixture("bundle-v0.3/trusted_root.public-good.json")).unwrap()
}

fn relaxed() -> TlogPolicy {
    TlogPolicy {
        require_integrated_time: false,
        ..TlogPolicy::default()
    }
}

// --- cosign `dev.sigstore.cosign/bundle` annotations (SET only) ---------------------------------

/// (name, annotation JSON, expected log index, expected integrated time)
fn cosign_annotations() -> Vec<(&'static str, String, u64, u64)> {
    let annotation = |v: &Value| v["dev.sigstore.cosign/bundle"].as_str().unwrap().to_owned();
    let connaisseur = fixture_json(
        "cosign-keyless/connaisseur-rekor-test/manifests/sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json",
    );
    vec![
        (
            "cosign-legacy/containers-image/key-rekor-valid",
            annotation(&fixture_json(
                "cosign-legacy/containers-image/key-rekor-valid/signature-1.annotations.json",
            )),
            11_608_800,
            1_674_251_859,
        ),
        (
            "cosign-keyless/connaisseur-rekor-test",
            annotation(&connaisseur["layers"][0]["annotations"]),
            98_235_800,
            1_717_082_297,
        ),
        (
            "cosign-keyless/containers-image-fulcio-rekor",
            annotation(&fixture_json(
                "cosign-keyless/containers-image-fulcio-rekor/signature-1.annotations.json",
            )),
            11_605_770,
            1_674_247_893,
        ),
        (
            "cosign-keyless/containers-image-rekor-pieces",
            String::from_utf8(fixture(
                "cosign-keyless/containers-image-rekor-pieces/rekor-set",
            ))
            .unwrap(),
            8_949_589,
            1_670_870_899,
        ),
    ]
}

#[test]
fn cosign_bundle_annotations_verify_with_rekor_pub() {
    let rekor = rekor_log();
    let root = public_good();
    for (name, annotation, index, time) in cosign_annotations() {
        let entry = TlogEntry::from_cosign_bundle_annotation(&annotation)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(entry.log_index, index, "{name}");
        assert_eq!(hex::encode(&entry.log_id), REKOR_V1_LOG_ID, "{name}");
        assert_eq!(entry.integrated_time, Some(UnixTime(time)), "{name}");
        assert_eq!(
            (entry.kind.as_str(), entry.version.as_str()),
            ("hashedrekord", "0.0.1")
        );
        assert!(entry.inclusion_proof.is_none());
        verify_set(&entry, &rekor).unwrap_or_else(|e| panic!("{name}: {e}"));

        let verified = verify_entry(
            &entry,
            std::slice::from_ref(&rekor),
            NOW,
            &TlogPolicy::default(),
        )
        .unwrap();
        assert_eq!(verified.integrated_time, Some(UnixTime(time)));
        assert_eq!(verified.log_index, index);
        assert!(verified.set_verified && !verified.inclusion_verified);
        // The public-good trusted root names the same key, with a validity window.
        let verified = verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()).unwrap();
        assert_eq!(verified.integrated_time, Some(UnixTime(time)));

        // A SET is no inclusion proof.
        let strict = TlogPolicy {
            require_inclusion_proof: true,
            ..TlogPolicy::default()
        };
        assert_eq!(
            verify_entry(&entry, &root.tlogs, NOW, &strict),
            Err(TlogError::MissingInclusionProof)
        );
        assert!(matches!(entry.body(), Ok(TlogBody::HashedRekord { .. })));
    }
}

/// The body the SET covers binds the payload digest, the signature and the signer's key.
#[test]
fn key_rekor_valid_body_binds_payload_signature_and_key() {
    let annotations =
        fixture_json("cosign-legacy/containers-image/key-rekor-valid/signature-1.annotations.json");
    let entry = TlogEntry::from_cosign_bundle_annotation(
        annotations["dev.sigstore.cosign/bundle"].as_str().unwrap(),
    )
    .unwrap();
    let payload =
        fixture("cosign-legacy/containers-image/key-rekor-valid/signature-1.payload.json");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(
            annotations["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let key = PublicKey::from_pem(
        &fixture("cosign-legacy/containers-image/keys/cosign2.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    let TlogBody::HashedRekord {
        version,
        digest,
        signature: logged,
    } = entry.body().unwrap()
    else {
        panic!("not a hashedrekord");
    };
    assert_eq!(version, "0.0.1");
    assert_eq!(digest.algorithm, HashAlgorithm::Sha256);
    assert_eq!(digest.value, Sha256::digest(&payload).to_vec());
    assert_eq!(logged.signature, signature);
    assert_eq!(
        logged.verifier,
        LoggedVerifier::PublicKey(key.spki_der().to_vec())
    );
    key.verify(&payload, &signature).unwrap();
}

#[test]
fn keyless_body_carries_the_certificate() {
    let annotations =
        fixture_json("cosign-keyless/containers-image-fulcio-rekor/signature-1.annotations.json");
    let entry = TlogEntry::from_cosign_bundle_annotation(
        annotations["dev.sigstore.cosign/bundle"].as_str().unwrap(),
    )
    .unwrap();
    let cert = crate::crypto::pem_block(
        annotations["dev.sigstore.cosign/certificate"]
            .as_str()
            .unwrap()
            .as_bytes(),
        "CERTIFICATE",
    )
    .unwrap();
    let Ok(TlogBody::HashedRekord { signature, .. }) = entry.body() else {
        panic!("not a hashedrekord");
    };
    assert_eq!(signature.verifier, LoggedVerifier::Certificate(cert));
}

fn key_rekor_valid_entry() -> TlogEntry {
    let annotations =
        fixture_json("cosign-legacy/containers-image/key-rekor-valid/signature-1.annotations.json");
    TlogEntry::from_cosign_bundle_annotation(
        annotations["dev.sigstore.cosign/bundle"].as_str().unwrap(),
    )
    .unwrap()
}

fn generated_p256() -> (PublicKey, EcdsaKeyPair) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = PublicKey::from_pem(pair.public_key_pem().as_bytes(), RsaScheme::Pkcs1).unwrap();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pair.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap();
    (key, signer)
}

#[test]
fn tampered_sets_are_refused() {
    let rekor = rekor_log();
    let good = key_rekor_valid_entry();
    verify_set(&good, &rekor).unwrap();

    let mut e = good.clone();
    e.canonicalized_body[40] ^= 1;
    assert_eq!(verify_set(&e, &rekor), Err(TlogError::SetInvalid), "body");

    let mut e = good.clone();
    e.integrated_time = Some(UnixTime(1_674_251_860));
    assert_eq!(
        verify_set(&e, &rekor),
        Err(TlogError::SetInvalid),
        "integrated time"
    );

    let mut e = good.clone();
    e.log_index += 1;
    assert_eq!(
        verify_set(&e, &rekor),
        Err(TlogError::SetInvalid),
        "log index"
    );

    for at in [10, 40] {
        let mut e = good.clone();
        e.signed_entry_timestamp.as_mut().unwrap()[at] ^= 0x80;
        assert_eq!(
            verify_set(&e, &rekor),
            Err(TlogError::SetInvalid),
            "SET byte {at}"
        );
    }

    let mut e = good.clone();
    e.signed_entry_timestamp = None;
    assert_eq!(verify_set(&e, &rekor), Err(TlogError::MissingSet));
    assert_eq!(
        verify_entry(
            &e,
            std::slice::from_ref(&rekor),
            NOW,
            &TlogPolicy::default()
        ),
        Err(TlogError::NoLogEvidence)
    );

    let mut e = good.clone();
    e.integrated_time = None;
    assert!(matches!(
        verify_set(&e, &rekor),
        Err(TlogError::Malformed { .. })
    ));

    // Through verify_entry a tampered SET is refused the same way.
    let mut e = good;
    e.canonicalized_body[40] ^= 1;
    assert_eq!(
        verify_entry(&e, &[rekor], NOW, &TlogPolicy::default()),
        Err(TlogError::SetInvalid)
    );
}

#[test]
fn a_different_key_is_refused() {
    let entry = key_rekor_valid_entry();
    let (key, _) = generated_p256();
    let other = TransparencyLog::from_public_key(key.clone());
    assert_eq!(
        verify_set(&entry, &other),
        Err(TlogError::LogIdMismatch {
            entry: REKOR_V1_LOG_ID.to_owned(),
            log: hex::encode(&other.log_id),
        })
    );
    assert_eq!(
        verify_entry(&entry, &[other], NOW, &TlogPolicy::default()),
        Err(TlogError::UnknownLog {
            log_id: REKOR_V1_LOG_ID.to_owned()
        })
    );
    // A log that claims Rekor's ID but holds another key.
    let impostor = TransparencyLog { key, ..rekor_log() };
    assert_eq!(verify_set(&entry, &impostor), Err(TlogError::SetInvalid));
    // cosign.pub is a real key, but not Rekor's (cases.json: "SET does not verify with a
    // non-Rekor key").
    let cosign = TransparencyLog {
        key: PublicKey::from_pem(
            &fixture("cosign-legacy/containers-image/keys/cosign.pub"),
            RsaScheme::Pkcs1,
        )
        .unwrap(),
        ..rekor_log()
    };
    assert_eq!(verify_set(&entry, &cosign), Err(TlogError::SetInvalid));
}

#[test]
fn times_are_checked() {
    let entry = key_rekor_valid_entry();
    let integrated = UnixTime(1_674_251_859);
    let rekor = rekor_log();

    // Integrated after now.
    let before = UnixTime(integrated.0 - 1);
    assert_eq!(
        verify_entry(
            &entry,
            std::slice::from_ref(&rekor),
            before,
            &TlogPolicy::default()
        ),
        Err(TlogError::IntegratedTimeInFuture {
            integrated,
            now: before
        })
    );
    let skewed = TlogPolicy {
        max_clock_skew: 1,
        ..TlogPolicy::default()
    };
    assert!(verify_entry(&entry, std::slice::from_ref(&rekor), before, &skewed).is_ok());
    assert!(
        verify_entry(
            &entry,
            std::slice::from_ref(&rekor),
            integrated,
            &TlogPolicy::default()
        )
        .is_ok()
    );

    // The log key's window must hold the integrated time, both ends inclusive.
    let window = |start: u64, end: Option<u64>| TransparencyLog {
        valid_for: Validity {
            start: UnixTime(start),
            end: end.map(UnixTime),
        },
        ..rekor_log()
    };
    let ok = |log: TransparencyLog| verify_entry(&entry, &[log], NOW, &TlogPolicy::default());
    assert!(ok(window(integrated.0, Some(integrated.0))).is_ok());
    assert_eq!(
        ok(window(integrated.0 + 1, None)),
        Err(TlogError::LogKeyNotValidAt { time: integrated })
    );
    assert_eq!(
        ok(window(0, Some(integrated.0 - 1))),
        Err(TlogError::LogKeyNotValidAt { time: integrated })
    );
    // Two windows for one log ID: either may hold the time.
    let logs = [window(0, Some(100)), window(integrated.0, None)];
    assert!(verify_entry(&entry, &logs, NOW, &TlogPolicy::default()).is_ok());
}

/// A SET made here over the canonical JSON verifies, and the same bytes in another key order do
/// not: the canonical form is what is signed.
#[test]
fn set_payload_is_canonical_json() {
    let (key, signer) = generated_p256();
    let log = TransparencyLog::from_public_key(key);
    let body = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#.to_vec();
    let canonical = format!(
        r#"{{"body":"{}","integratedTime":1700000000,"logID":"{}","logIndex":7}}"#,
        base64::engine::general_purpose::STANDARD.encode(&body),
        hex::encode(&log.log_id)
    );
    let sign = |msg: &str| {
        signer
            .sign(&SystemRandom::new(), msg.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec()
    };
    let mut entry = TlogEntry {
        log_index: 7,
        log_id: log.log_id.clone(),
        kind: "hashedrekord".to_owned(),
        version: "0.0.1".to_owned(),
        integrated_time: Some(UnixTime(1_700_000_000)),
        canonicalized_body: body,
        signed_entry_timestamp: Some(sign(&canonical)),
        inclusion_proof: None,
    };
    verify_set(&entry, &log).unwrap();
    let reordered = canonical
        .replace(r#""logIndex":7"#, "")
        .replace(r#"{"body""#, r#"{"logIndex":7,"body""#);
    entry.signed_entry_timestamp = Some(sign(&reordered.replace(",}", "}")));
    assert_eq!(verify_set(&entry, &log), Err(TlogError::SetInvalid));
}

// --- sigstore bundle entries --------------------------------------------------------------------

fn conformance_dir(case: &str) -> String {
    if case.starts_with("oci/") {
        format!("bundle-v0.3/{case}")
    } else {
        format!("bundle-v0.3/conformance/{case}/bundle.sigstore.json")
    }
}

/// The case's first tlog entry (parsed on its own, not through the bundle parser) and the
/// trusted root it is checked against.
fn conformance(case: &str) -> (TlogEntry, TrustedRoot) {
    let bundle = fixture_json(&conformance_dir(case));
    let entry_json = serde_json::to_vec(&bundle["verificationMaterial"]["tlogEntries"][0]).unwrap();
    let entry = TlogEntry::from_bundle_json(&entry_json).unwrap_or_else(|e| panic!("{case}: {e}"));
    let own = format!("{FIXTURES}/bundle-v0.3/conformance/{case}/trusted_root.json");
    let root = match std::fs::read(own) {
        Ok(json) => TrustedRoot::from_json(&json).unwrap(),
        Err(_) => public_good(),
    };
    (entry, root)
}

fn verify_case(case: &str, policy: &TlogPolicy) -> Result<VerifiedEntry, TlogError> {
    let (entry, root) = conformance(case);
    verify_entry(&entry, &root.tlogs, NOW, policy)
}

/// Rekor v1 entries whose SET, inclusion proof and checkpoint all verify. The `_fail` cases among
/// them are refused for other reasons (the artifact signature, the body binding, the certificate
/// chain or SCT, or the certificate's validity at the integrated time), which the caller checks.
#[test]
fn rekor_v1_entries_verify() {
    for case in [
        "happy-path-v0.3",
        "happy-path-v0.3-new-mediaType",
        "happy-path-intoto-in-dsse-v3",
        "managed-key-happy-path",
        "managed-key-and-trusted-root",
        "trust-root-tlog-validity-end-inclusive",
        "oci/kubewarden-controller-v1.34.0.sigstore.json",
        "oci/cosign-oci-attestation.sigstore.json",
        "signature-mismatch_fail",
        "wrong-material_fail",
        "message-digest-mismatch_fail",
        "wrong-hashedrekord-entry_fail",
        "dsse-invalid-sig_fail",
        "dsse-mismatch-sig_fail",
        "dsse-mismatch-envelope_fail",
        "invalid-ct-key_fail",
        "managed-key-wrong-key_fail",
        "integrated-time-in-future_fail",
    ] {
        let (entry, root) = conformance(case);
        let strict = TlogPolicy {
            require_set: true,
            require_inclusion_proof: true,
            ..TlogPolicy::default()
        };
        let verified = verify_entry(&entry, &root.tlogs, NOW, &strict)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            verified.set_verified && verified.inclusion_verified,
            "{case}"
        );
        assert_eq!(verified.integrated_time, entry.integrated_time, "{case}");
        let log = root.tlog_by_id(&entry.log_id).unwrap();
        verify_set(&entry, log).unwrap();
        verify_inclusion_proof(&entry, log).unwrap();
        entry.body().unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

#[test]
fn validity_end_is_inclusive() {
    let (entry, mut root) = conformance("trust-root-tlog-validity-end-inclusive");
    let end = root.tlogs[0].valid_for.end.unwrap();
    assert_eq!(
        entry.integrated_time,
        Some(end),
        "integrated exactly at the end"
    );
    assert!(verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()).is_ok());
    root.tlogs[0].valid_for.end = Some(UnixTime(end.0 - 1));
    assert_eq!(
        verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()),
        Err(TlogError::LogKeyNotValidAt { time: end })
    );
}

/// The conformance case is about the *certificate*: it expired (2026-05-07T15:28:10Z) before the
/// entry was integrated (15:34:11). The log evidence itself is sound, so at the fixtures' date it
/// verifies and yields the integrated time the certificate check needs; checked at a `now` before
/// the integration, the entry is refused as being from the future.
#[test]
fn integrated_time_in_future() {
    let (entry, root) = conformance("integrated-time-in-future_fail");
    let integrated = UnixTime(1_778_168_051);
    let cert_not_after = UnixTime(1_778_167_690);
    let verified = verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()).unwrap();
    assert_eq!(verified.integrated_time, Some(integrated));
    assert!(verified.integrated_time.unwrap() > cert_not_after);
    assert_eq!(
        verify_entry(&entry, &root.tlogs, cert_not_after, &TlogPolicy::default()),
        Err(TlogError::IntegratedTimeInFuture {
            integrated,
            now: cert_not_after
        })
    );
}

#[test]
fn conformance_log_failures_have_their_own_errors() {
    let policy = TlogPolicy::default();
    assert_eq!(
        verify_case("set-invalid-signature_fail", &policy),
        Err(TlogError::SetInvalid)
    );
    assert!(matches!(
        verify_case("inclusion-proof-corrupted-hash_fail", &policy),
        Err(TlogError::InclusionProofMismatch { .. })
    ));
    assert!(matches!(
        verify_case("invalid-inclusion-proof_fail", &policy),
        Err(TlogError::InclusionProofMismatch { .. })
    ));
    assert!(matches!(
        verify_case("checkpoint-bad-keyhint_fail", &policy),
        Err(TlogError::CheckpointKeyHintUnknown { hints }) if hints == "c4d23d6a"
    ));
    assert_eq!(
        verify_case("invalid-checkpoint-signature_fail", &policy),
        Err(TlogError::CheckpointSignatureInvalid)
    );
    assert_eq!(
        verify_case("checkpoint-wrong-roothash_fail", &policy),
        Err(TlogError::CheckpointRootMismatch {
            checkpoint_size: 75_610_772,
            proof_size: 23_083_062
        })
    );
    // The body was altered after logging, so neither the SET nor the proof holds; the SET is
    // checked first.
    assert_eq!(
        verify_case("incorrect-public-key_fail", &policy),
        Err(TlogError::SetInvalid)
    );
    let (entry, root) = conformance("incorrect-public-key_fail");
    let log = root.tlog_by_id(&entry.log_id).unwrap();
    assert!(matches!(
        verify_inclusion_proof(&entry, log),
        Err(TlogError::InclusionProofMismatch { .. })
    ));
    // Signed by the staging Rekor, which the production root does not trust.
    assert_eq!(
        verify_case("bundle-from-wrong-instance_fail", &policy),
        Err(TlogError::UnknownLog {
            log_id: "d32f30a3c32d639c2b762205a21c7bb07788e68283a4ae6f42118723a1bea496".to_owned()
        })
    );
}

/// Each failing case, checked piece by piece: only the defect the case is about fails.
#[test]
fn conformance_failures_piece_by_piece() {
    let pieces = |case: &str| {
        let (entry, root) = conformance(case);
        let log = root.tlog_by_id(&entry.log_id).unwrap().clone();
        (
            verify_set(&entry, &log),
            verify_inclusion_proof(&entry, &log),
        )
    };
    let (set, proof) = pieces("set-invalid-signature_fail");
    assert_eq!((set, proof), (Err(TlogError::SetInvalid), Ok(())));
    let (set, proof) = pieces("inclusion-proof-corrupted-hash_fail");
    assert_eq!(set, Ok(()));
    assert!(matches!(
        proof,
        Err(TlogError::InclusionProofMismatch { .. })
    ));
    let (set, proof) = pieces("checkpoint-bad-keyhint_fail");
    assert_eq!(set, Ok(()));
    assert!(matches!(
        proof,
        Err(TlogError::CheckpointKeyHintUnknown { .. })
    ));
    let (set, proof) = pieces("invalid-checkpoint-signature_fail");
    assert_eq!(
        (set, proof),
        (Ok(()), Err(TlogError::CheckpointSignatureInvalid))
    );
    let (set, proof) = pieces("checkpoint-wrong-roothash_fail");
    assert_eq!(set, Ok(()));
    assert!(matches!(
        proof,
        Err(TlogError::CheckpointRootMismatch { .. })
    ));
}

/// A bundle v0.1 proof without a checkpoint is no evidence (its root is unsigned), but the SET
/// still is.
#[test]
fn proof_without_checkpoint() {
    let (entry, root) = conformance("bundle-with-root-cert_fail");
    assert!(entry.inclusion_proof.as_ref().unwrap().checkpoint.is_none());
    let verified = verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()).unwrap();
    assert!(verified.set_verified && !verified.inclusion_verified);
    let log = root.tlog_by_id(&entry.log_id).unwrap();
    assert_eq!(
        verify_inclusion_proof(&entry, log),
        Err(TlogError::MissingCheckpoint)
    );
    let strict = TlogPolicy {
        require_inclusion_proof: true,
        ..TlogPolicy::default()
    };
    assert_eq!(
        verify_entry(&entry, &root.tlogs, NOW, &strict),
        Err(TlogError::MissingCheckpoint)
    );
    let mut no_set = entry;
    no_set.signed_entry_timestamp = None;
    assert_eq!(
        verify_entry(&no_set, &root.tlogs, NOW, &TlogPolicy::default()),
        Err(TlogError::NoLogEvidence)
    );
}

/// Rekor v2: Ed25519 checkpoints (with witness cosignatures in one case), no SET and no
/// integrated time. The default policy refuses them for want of a signed time; with the time
/// left to an RFC 3161 timestamp they verify, and the caller checks the log's window at that
/// time. (The times below are merely inside each log's window; RFC 3161 parsing is not here.)
#[test]
fn rekor_v2_entries_verify_by_inclusion_proof() {
    for (case, time_in_window) in [
        ("rekor2-happy-path", 1_749_729_736),
        ("rekor2-dsse-happy-path", 1_767_000_000),
        ("bundle-with-sct-with-extensions", 1_768_600_000),
        ("rekor2-no-timestamp_fail", 1_749_729_736),
        ("rekor2-timestamp-payload-mismatch_fail", 1_750_000_000),
    ] {
        let (entry, root) = conformance(case);
        assert_eq!(entry.integrated_time, None, "{case}");
        assert_eq!(entry.signed_entry_timestamp, None, "{case}");
        assert_eq!(
            verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()),
            Err(TlogError::NoSignedIntegratedTime),
            "{case}"
        );
        let verified = verify_entry(&entry, &root.tlogs, NOW, &relaxed())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            verified.inclusion_verified && !verified.set_verified,
            "{case}"
        );
        assert_eq!(verified.integrated_time, None);
        verified
            .check_log_valid_at(UnixTime(time_in_window))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            verified.check_log_valid_at(UnixTime(1_600_000_000)),
            Err(TlogError::LogKeyNotValidAt {
                time: UnixTime(1_600_000_000)
            })
        );
        let log = root.tlog_by_id(&entry.log_id).unwrap();
        assert_eq!(log.key.algorithm(), KeyAlgorithm::Ed25519);
        let body = entry.body().unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(body.kind_version(), ("hashedrekord", "0.0.2"));
        let strict = TlogPolicy {
            require_set: true,
            ..relaxed()
        };
        assert_eq!(
            verify_entry(&entry, &root.tlogs, NOW, &strict),
            Err(TlogError::MissingSet)
        );
    }
}

#[test]
fn witness_cosignatures_are_ignored() {
    let (entry, _) = conformance("rekor2-dsse-happy-path");
    let envelope = entry
        .inclusion_proof
        .as_ref()
        .unwrap()
        .checkpoint
        .clone()
        .unwrap();
    let checkpoint = Checkpoint::parse(&envelope).unwrap();
    assert_eq!(checkpoint.origin, "log2025-alpha3.rekor.sigstage.dev");
    assert_eq!(checkpoint.size, 4_026_479);
    assert_eq!(checkpoint.signatures.len(), 4);
    assert_eq!(checkpoint.signatures[1].name, "witness.stagemole.eu");
    assert_eq!(hex::encode(checkpoint.signatures[0].key_hint), "d3d3a70c");
    assert!(checkpoint.signed_text().ends_with("=\n"));
}

#[test]
fn ed25519_key_hint_depends_on_the_name() {
    let (entry, root) = conformance("rekor2-happy-path");
    let log = root.tlog_by_id(&entry.log_id).unwrap();
    let hint = note_key_hint("log2025-alpha1.rekor.sigstage.dev", &log.key).unwrap();
    assert_eq!(hint[..], log.log_id[..4]);
    assert_ne!(
        note_key_hint("log2025-alpha2.rekor.sigstage.dev", &log.key),
        Some(hint)
    );
    // ECDSA hints do not depend on the name.
    let rekor = rekor_log();
    assert_eq!(
        note_key_hint("a", &rekor.key),
        note_key_hint("b", &rekor.key)
    );
    assert_eq!(
        note_key_hint("a", &rekor.key).unwrap()[..],
        rekor.log_id[..4]
    );
}

#[test]
fn every_bundle_entry_body_parses() {
    let dir = format!("{FIXTURES}/bundle-v0.3/conformance");
    let mut kinds = std::collections::BTreeSet::new();
    for case in std::fs::read_dir(&dir).unwrap() {
        let case = case.unwrap().file_name().into_string().unwrap();
        if !std::path::Path::new(&format!("{dir}/{case}/bundle.sigstore.json")).exists() {
            continue;
        }
        let (entry, _) = conformance(&case);
        let body = entry.body().unwrap_or_else(|e| panic!("{case}: {e}"));
        let (kind, version) = body.kind_version();
        kinds.insert(format!("{kind}/{version}"));
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["dsse/0.0.1", "hashedrekord/0.0.1", "hashedrekord/0.0.2"]
    );
}

// --- Merkle trees -------------------------------------------------------------------------------

/// RFC 6962 §2.1 MTH over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 §2.1.1 PATH(m, D[n]).
fn audit_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut path, sibling) = if m < k {
        (audit_path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (audit_path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// The largest power of two below `n`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[test]
fn inclusion_proofs_match_the_rfc_6962_definition() {
    let leaves: Vec<[u8; 32]> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for n in 1..=leaves.len() {
        let tree = &leaves[..n];
        let root = mth(tree);
        for (m, leaf) in tree.iter().enumerate() {
            let path = audit_path(m, tree);
            let (m, n) = (m as u64, n as u64);
            assert_eq!(
                root_from_inclusion_proof(m, n, *leaf, &path).unwrap(),
                root,
                "leaf {m} of {n}"
            );
            // Another leaf, or the right leaf with a path one hash too long or too short.
            if n > 1 {
                let other = leaves[((m + 1) % n) as usize];
                assert_ne!(root_from_inclusion_proof(m, n, other, &path).unwrap(), root);
                assert!(matches!(
                    root_from_inclusion_proof(m, n, *leaf, &path[..path.len() - 1]),
                    Err(TlogError::InclusionProofInvalid { .. })
                ));
            }
            let mut long = path.clone();
            long.push([0; 32]);
            assert!(matches!(
                root_from_inclusion_proof(m, n, *leaf, &long),
                Err(TlogError::InclusionProofInvalid { .. })
            ));
        }
    }
    assert!(matches!(
        root_from_inclusion_proof(5, 5, leaves[0], &[]),
        Err(TlogError::InclusionProofInvalid { .. })
    ));
    assert!(matches!(
        root_from_inclusion_proof(0, 0, leaves[0], &[]),
        Err(TlogError::InclusionProofInvalid { .. })
    ));
    // The last leaf of the largest tree: 63 levels, and no arithmetic overflow on the way.
    assert!(root_from_inclusion_proof(u64::MAX - 1, u64::MAX, leaves[0], &[[0; 32]; 63]).is_ok());
    assert!(matches!(
        root_from_inclusion_proof(u64::MAX - 1, u64::MAX, leaves[0], &[[0; 32]; 64]),
        Err(TlogError::InclusionProofInvalid { .. })
    ));
    assert!(matches!(
        root_from_inclusion_proof(u64::MAX, u64::MAX, leaves[0], &[]),
        Err(TlogError::InclusionProofInvalid { .. })
    ));
}

/// A whole log made here: a 7-leaf tree, an Ed25519 note signed by the log and by a witness.
#[test]
fn a_generated_ed25519_log_verifies() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let signer = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pair.serialize_der()).unwrap();
    let key = PublicKey::from_pem(pair.public_key_pem().as_bytes(), RsaScheme::Pkcs1).unwrap();
    let name = "log.example";
    let mut key_id_input = format!("{name}\n\x01").into_bytes();
    key_id_input.extend_from_slice(signer.public_key().as_ref());
    let log = TransparencyLog {
        base_url: format!("https://{name}"),
        log_id: Sha256::digest(&key_id_input).to_vec(),
        key,
        valid_for: Validity::ALWAYS,
    };
    let bodies: Vec<Vec<u8>> = (0..7)
        .map(|i| format!("{{\"n\":{i}}}").into_bytes())
        .collect();
    let leaves: Vec<[u8; 32]> = bodies.iter().map(|b| leaf_hash(b)).collect();
    let root = mth(&leaves);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let text = format!("{name}\n7\n{}\n", b64(&root));
    let note_sig = |hint: &[u8], sig: &[u8]| b64(&[hint, sig].concat());
    let log_line = note_sig(&log.log_id[..4], signer.sign(text.as_bytes()).as_ref());
    let witness_line = note_sig(&[1, 2, 3, 4], &[9; 64]);
    let envelope =
        format!("{text}\n\u{2014} witness.example {witness_line}\n\u{2014} {name} {log_line}\n");
    let entry = TlogEntry {
        log_index: 3,
        log_id: log.log_id.clone(),
        kind: "test".to_owned(),
        version: "0.0.1".to_owned(),
        integrated_time: None,
        canonicalized_body: bodies[3].clone(),
        signed_entry_timestamp: None,
        inclusion_proof: Some(InclusionProof {
            log_index: 3,
            root_hash: root,
            tree_size: 7,
            hashes: audit_path(3, &leaves),
            checkpoint: Some(envelope.clone()),
        }),
    };
    verify_inclusion_proof(&entry, &log).unwrap();
    let verified = verify_entry(&entry, std::slice::from_ref(&log), NOW, &relaxed()).unwrap();
    assert!(verified.inclusion_verified);

    // The log's line signed under another name has another hint.
    let renamed = envelope.replace(&format!("\u{2014} {name} "), "\u{2014} other.example ");
    let mut e = entry.clone();
    e.inclusion_proof.as_mut().unwrap().checkpoint = Some(renamed);
    assert!(matches!(
        verify_inclusion_proof(&e, &log),
        Err(TlogError::CheckpointKeyHintUnknown { hints }) if hints.contains("01020304")
    ));
    // A note whose text was altered after signing.
    let mut e = entry.clone();
    e.inclusion_proof.as_mut().unwrap().checkpoint =
        Some(envelope.replacen(name, "log.exampl3", 1));
    assert_eq!(
        verify_inclusion_proof(&e, &log),
        Err(TlogError::CheckpointSignatureInvalid)
    );
    // Another leaf at the same position.
    let mut e = entry;
    e.canonicalized_body = bodies[4].clone();
    assert!(matches!(
        verify_inclusion_proof(&e, &log),
        Err(TlogError::InclusionProofMismatch { .. })
    ));
}

// --- hostile input ------------------------------------------------------------------------------

#[test]
fn malformed_checkpoints() {
    let root = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let sig = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
    let good = format!("origin\n5\n{root}\n\n\u{2014} origin {sig}\n");
    let parsed = Checkpoint::parse(&good).unwrap();
    assert_eq!(parsed.size, 5);
    assert_eq!(parsed.signatures[0].key_hint, [1; 4]);
    assert_eq!(parsed.signatures[0].signature, [1; 16]);

    let too_many = format!(
        "origin\n5\n{root}\n\n{}",
        format!("\u{2014} o {sig}\n").repeat(101)
    );
    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 4]);
    for bad in [
        String::new(),
        "\n\n".to_owned(),
        format!("origin\n5\n{root}\n\u{2014} origin {sig}\n"), // no blank line
        format!("\n5\n{root}\n\n\u{2014} origin {sig}\n"),     // no origin
        format!("origin\n-5\n{root}\n\n\u{2014} origin {sig}\n"),
        format!("origin\n+5\n{root}\n\n\u{2014} origin {sig}\n"),
        format!("origin\n99999999999999999999999\n{root}\n\n\u{2014} origin {sig}\n"),
        format!("origin\n5\nAAAA\n\n\u{2014} origin {sig}\n"), // short root
        format!("origin\n5\n{root}!\n\n\u{2014} origin {sig}\n"),
        format!("origin\n5\n\n\n\u{2014} origin {sig}\n"),
        format!("origin\n5\n{root}\n\n\u{2014} origin {sig}"), // no final newline
        format!("origin\n5\n{root}\n\n- origin {sig}\n"),      // hyphen, not em dash
        format!("origin\n5\n{root}\n\n\u{2014} origin\n"),
        format!("origin\n5\n{root}\n\n\u{2014}  {sig}\n"),
        format!("origin\n5\n{root}\n\n\u{2014} origin {sig} extra\n"),
        format!("origin\n5\n{root}\n\n\u{2014} origin %%%%\n"),
        format!("origin\n5\n{root}\n\n\u{2014} origin {short}\n"), // hint only
        format!("origin\n5\n{root}\n\n\n"),
        too_many,
    ] {
        assert!(
            matches!(
                Checkpoint::parse(&bad),
                Err(TlogError::CheckpointMalformed { .. })
            ),
            "{bad:?}"
        );
    }
    // Through an entry, a malformed checkpoint is reported as such.
    let (mut entry, root) = conformance("happy-path-v0.3");
    entry.inclusion_proof.as_mut().unwrap().checkpoint = Some("garbage".to_owned());
    assert!(matches!(
        verify_entry(&entry, &root.tlogs, NOW, &TlogPolicy::default()),
        Err(TlogError::CheckpointMalformed { .. })
    ));
}

fn happy_entry_json() -> Value {
    fixture_json(&conformance_dir("happy-path-v0.3"))["verificationMaterial"]["tlogEntries"][0]
        .clone()
}

fn parse_entry(v: &Value) -> Result<TlogEntry, TlogError> {
    TlogEntry::from_bundle_json(&serde_json::to_vec(v).unwrap())
}

/// Applies `edit` to the happy-path entry and returns the `Malformed` message.
fn malformed_by(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = happy_entry_json();
    edit(&mut v);
    match parse_entry(&v) {
        Err(TlogError::Malformed { what }) => what,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_entry_json() {
    assert!(parse_entry(&happy_entry_json()).is_ok());
    let raw = serde_json::to_vec(&happy_entry_json()).unwrap();
    for cut in [0, 1, 10, raw.len() / 2, raw.len() - 1] {
        assert!(
            matches!(
                TlogEntry::from_bundle_json(&raw[..cut]),
                Err(TlogError::Malformed { .. })
            ),
            "cut at {cut}"
        );
    }
    // Numbers: strings or JSON numbers, never negative, fractional, or beyond u64.
    for bad in [
        json!("-1"),
        json!("+1"),
        json!(""),
        json!("1e3"),
        json!("18446744073709551616"),
        json!("99999999999999999999999"),
        json!(-5),
        json!(12.5),
        json!(1e30),
        json!(true),
        json!([1]),
    ] {
        let what = malformed_by(|v| v["logIndex"] = bad.clone());
        assert!(what.starts_with("tlog entry JSON"), "{bad}: {what}");
        let what = malformed_by(|v| v["inclusionProof"]["treeSize"] = bad.clone());
        assert!(what.starts_with("tlog entry JSON"), "{bad}: {what}");
    }
    let mut v = happy_entry_json();
    v["logIndex"] = json!(18_446_744_073_709_551_615u64);
    assert_eq!(parse_entry(&v).unwrap().log_index, u64::MAX);
    v["integratedTime"] = json!("0");
    assert_eq!(parse_entry(&v).unwrap().integrated_time, None);

    assert_eq!(
        malformed_by(|v| v["canonicalizedBody"] = json!("not*base64")),
        "canonicalizedBody is not base64"
    );
    assert_eq!(
        malformed_by(|v| v["canonicalizedBody"] = json!("")),
        "canonicalizedBody is empty"
    );
    assert_eq!(
        malformed_by(|v| {
            v.as_object_mut().unwrap().remove("canonicalizedBody");
        }),
        "canonicalizedBody is missing"
    );
    assert_eq!(
        malformed_by(|v| v["logId"]["keyId"] = json!("")),
        "logId.keyId is empty"
    );
    assert_eq!(
        malformed_by(|v| {
            v.as_object_mut().unwrap().remove("kindVersion");
        }),
        "kindVersion is missing"
    );
    assert_eq!(
        malformed_by(|v| v["kindVersion"]["kind"] = json!("")),
        "kindVersion.kind or .version is missing"
    );
    assert_eq!(
        malformed_by(|v| v["inclusionPromise"]["signedEntryTimestamp"] = json!("@@")),
        "inclusionPromise.signedEntryTimestamp is not base64"
    );
    assert_eq!(
        malformed_by(|v| v["inclusionProof"]["rootHash"] = json!("AAAA")),
        "inclusionProof.rootHash is 3 bytes, a SHA-256 hash is 32"
    );
    assert_eq!(
        malformed_by(|v| v["inclusionProof"]["hashes"][2] = json!("AAAA")),
        "inclusionProof.hashes[] is 3 bytes, a SHA-256 hash is 32"
    );
    assert_eq!(
        malformed_by(|v| {
            v["inclusionProof"]["hashes"] =
                json!(vec!["1J7hRIEGvYdAyzEs+GhAE9L+38oHye3BhalgoQRZoo4="; 65]);
        }),
        "inclusionProof has 65 hashes, at most 64 make sense"
    );
    assert_eq!(
        malformed_by(|v| {
            v["inclusionProof"]
                .as_object_mut()
                .unwrap()
                .remove("treeSize");
        }),
        "inclusionProof.treeSize is missing"
    );
    let what = malformed_by(|v| v["inclusionProof"]["hashes"] = json!("not a list"));
    assert!(what.starts_with("tlog entry JSON"), "{what}");
}

#[test]
fn hostile_cosign_annotations() {
    let good = cosign_annotations().remove(0).1;
    assert!(TlogEntry::from_cosign_bundle_annotation(&good).is_ok());
    let value: Value = serde_json::from_str(&good).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = value.clone();
        edit(&mut v);
        match TlogEntry::from_cosign_bundle_annotation(&v.to_string()) {
            Err(TlogError::Malformed { what }) => what,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        with(&|v| {
            v.as_object_mut().unwrap().remove("SignedEntryTimestamp");
        }),
        "SignedEntryTimestamp is missing"
    );
    assert_eq!(
        with(&|v| v["Payload"]["logID"] = json!("c0d23d6z")),
        "Payload.logID is not hex"
    );
    assert_eq!(
        with(&|v| v["Payload"]["logID"] = json!("")),
        "Payload.logID is empty"
    );
    assert_eq!(
        with(&|v| {
            v["Payload"]
                .as_object_mut()
                .unwrap()
                .remove("integratedTime");
        }),
        "Payload.integratedTime is missing"
    );
    assert!(
        with(&|v| v["Payload"]["body"] = json!("bm90IGpzb24=")).starts_with("body is not JSON")
    );
    assert_eq!(
        with(&|v| v["Payload"]["body"] = json!("e30=")),
        "body has no kind or apiVersion"
    );
    assert!(with(&|v| v["Payload"]["logIndex"] = json!(-1)).starts_with("cosign bundle"));
    assert!(matches!(
        TlogEntry::from_cosign_bundle_annotation("{\"SignedEntryTimestamp\":"),
        Err(TlogError::Malformed { .. })
    ));
    assert!(matches!(
        TlogEntry::from_cosign_bundle_annotation("null"),
        Err(TlogError::Malformed { .. })
    ));
}

fn body_json(v: &Value) -> Result<TlogBody, TlogError> {
    TlogBody::parse(&serde_json::to_vec(v).unwrap())
}

#[test]
fn hostile_bodies() {
    let (entry, _) = conformance("happy-path-v0.3");
    let good: Value = serde_json::from_slice(&entry.canonicalized_body).unwrap();
    assert!(body_json(&good).is_ok());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        body_json(&v)
    };
    assert_eq!(
        broken(&|v| v["kind"] = json!("rekord")),
        Err(TlogError::UnsupportedBody {
            kind: "rekord".to_owned(),
            version: "0.0.1".to_owned()
        })
    );
    assert_eq!(
        broken(&|v| v["apiVersion"] = json!("0.0.9")),
        Err(TlogError::UnsupportedBody {
            kind: "hashedrekord".to_owned(),
            version: "0.0.9".to_owned()
        })
    );
    let malformed = |r: Result<TlogBody, TlogError>| match r {
        Err(TlogError::Malformed { what }) => what,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        malformed(broken(
            &|v| v["spec"]["data"]["hash"]["value"] = json!("abc")
        )),
        "spec.data.hash.value is not hex"
    );
    assert_eq!(
        malformed(broken(
            &|v| v["spec"]["data"]["hash"]["value"] = json!("abcd")
        )),
        "spec.data.hash.value is 2 bytes, sha256 is 32"
    );
    assert_eq!(
        malformed(broken(
            &|v| v["spec"]["data"]["hash"]["algorithm"] = json!("md5")
        )),
        "spec.data.hash.algorithm: unsupported digest algorithm \"md5\""
    );
    assert_eq!(
        malformed(broken(&|v| v["spec"]["signature"]["content"] = json!(""))),
        "spec.signature.content is empty"
    );
    assert_eq!(
        malformed(broken(
            &|v| v["spec"]["signature"]["publicKey"]["content"] = json!("bm90IGEgUEVN")
        )),
        "spec.signature.publicKey.content must be exactly one PEM certificate or public key"
    );
    assert!(
        malformed(broken(&|v| v["spec"]["signature"] = json!("text")))
            .starts_with("hashedrekord spec")
    );
    assert_eq!(
        malformed(broken(&|v| {
            v.as_object_mut().unwrap().remove("spec");
        })),
        "body has no spec"
    );
    assert!(malformed(TlogBody::parse(b"\xff\xfe")).starts_with("body is not JSON"));

    // Mismatch between the entry's kindVersion and its body.
    let mut e = entry;
    e.version = "0.0.2".to_owned();
    assert!(malformed(e.body()).contains("but the entry says hashedrekord 0.0.2"));

    // dsse and hashedrekord 0.0.2 bodies.
    let (dsse, _) = conformance("happy-path-intoto-in-dsse-v3");
    let good: Value = serde_json::from_slice(&dsse.canonicalized_body).unwrap();
    let mut v = good.clone();
    v["spec"]["signatures"] = json!([]);
    assert_eq!(malformed(body_json(&v)), "spec.signatures is empty");
    let mut v = good;
    v["spec"]["payloadHash"]["value"] = json!("00");
    assert_eq!(
        malformed(body_json(&v)),
        "spec.payloadHash.value is 1 bytes, sha256 is 32"
    );
    let (v2, _) = conformance("rekor2-happy-path");
    let good: Value = serde_json::from_slice(&v2.canonicalized_body).unwrap();
    let mut v = good.clone();
    v["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"] =
        json!({"rawBytes": "AAAA"});
    assert_eq!(
        malformed(body_json(&v)),
        "verifier must hold exactly one of publicKey and x509Certificate"
    );
    let mut v = good;
    v["spec"]["hashedRekordV002"]["data"]["digest"] = json!("AAAA");
    assert_eq!(
        malformed(body_json(&v)),
        "data.digest is 3 bytes, sha256 is 32"
    );
}
