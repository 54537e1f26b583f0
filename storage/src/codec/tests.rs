//! Golden bytes: what version 1 records look like on disk. If one of these stops decoding, a
//! newer binary can no longer read an older store: add a version instead of changing v1.

use std::collections::BTreeMap;

use super::*;
use crate::{PendingTag, Pin, PinKey, PinMove, Referrer, RevokedSigner, StoredRevocation};

const D1: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const D2: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000002";

fn d(s: &str) -> Digest {
    s.parse().unwrap()
}

fn golden_event() -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        action: "push".into(),
        outcome: "allow".into(),
        upstream: "hub".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        digest: Some(D1.into()),
        reason: "signed by release".into(),
        identity: None,
        signers: vec!["release".into()],
        request_id: None,
    }
}

/// The first record of a log holding [`golden_event`], byte for byte as v1 writes it.
const GOLDEN_AUDIT_1: &str = concat!(
    r#"{"v":1,"seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","#,
    r#""hash":"f47ad803fc1af1288b6ec5a4f2487bc6ad8429eb092870493975e4f9a1cdcf63","#,
    r#""event":{"v":1,"at":1700000000,"action":"push","outcome":"allow","upstream":"hub","#,
    r#""repository":"team/app","reference":"v1","#,
    r#""digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","#,
    r#""reason":"signed by release","identity":null,"signers":["release"],"request_id":null}}"#,
);

#[test]
fn v1_pin_is_written_in_its_documented_shape() {
    let pin = Pin {
        digest: d(D1),
        pinned_at: 1,
        pushed_by: None,
        signers: vec!["s".into()],
        history: vec![PinMove {
            digest: d(D2),
            replaced_at: 0,
        }],
    };
    let expected = format!(
        r#"{{"v":1,"digest":"{D1}","pinned_at":1,"pushed_by":null,"signers":["s"],"history":[{{"digest":"{D2}","replaced_at":0}}]}}"#
    );
    assert_eq!(
        String::from_utf8(encode(Tree::Pins, &pin).unwrap()).unwrap(),
        expected
    );
    assert_eq!(decode::<Pin>(Tree::Pins, expected.as_bytes()).unwrap(), pin);
}

#[test]
fn v1_blob_owner_is_written_in_its_documented_shape() {
    for (kind, expected) in [
        (ManifestKind::Image, r#"{"v":1,"kind":"image"}"#),
        (ManifestKind::Signature, r#"{"v":1,"kind":"signature"}"#),
    ] {
        assert_eq!(
            String::from_utf8(encode(Tree::BlobOwners, &BlobOwner { kind }).unwrap()).unwrap(),
            expected
        );
        assert_eq!(
            decode::<BlobOwner>(Tree::BlobOwners, expected.as_bytes())
                .unwrap()
                .kind,
            kind
        );
    }
}

#[test]
fn v1_signature_manifest_is_written_in_its_documented_shape() {
    let layers = SignatureManifestLayers {
        layers: vec![d(D1), d(D2)],
    };
    let expected = format!(r#"{{"v":1,"layers":["{D1}","{D2}"]}}"#);
    assert_eq!(
        String::from_utf8(encode(Tree::SignatureManifests, &layers).unwrap()).unwrap(),
        expected
    );
    let decoded: SignatureManifestLayers =
        decode(Tree::SignatureManifests, expected.as_bytes()).unwrap();
    assert_eq!(decoded.layers, [d(D1), d(D2)]);
}

#[test]
fn v1_referrer_is_written_in_its_documented_shape() {
    let referrer = Referrer {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: d(D2),
        size: 1234,
        artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".into()),
        annotations: BTreeMap::from([
            (
                "org.opencontainers.image.created".into(),
                "2024-01-01T00:00:00Z".into(),
            ),
            ("dev.sigstore.bundle.content".into(), "dsse-envelope".into()),
        ]),
    };
    let expected = format!(
        r#"{{"v":1,"media_type":"application/vnd.oci.image.manifest.v1+json","digest":"{D2}","size":1234,"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
    );
    assert_eq!(
        String::from_utf8(encode(Tree::Referrers, &referrer).unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        decode::<Referrer>(Tree::Referrers, expected.as_bytes()).unwrap(),
        referrer
    );
    // No artifact type, no annotations.
    let bare = Referrer {
        artifact_type: None,
        annotations: BTreeMap::new(),
        ..referrer
    };
    let expected = format!(
        r#"{{"v":1,"media_type":"application/vnd.oci.image.manifest.v1+json","digest":"{D2}","size":1234,"artifact_type":null,"annotations":{{}}}}"#
    );
    assert_eq!(
        String::from_utf8(encode(Tree::Referrers, &bare).unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        decode::<Referrer>(Tree::Referrers, expected.as_bytes()).unwrap(),
        bare
    );
}

#[test]
fn v1_revocation_is_written_in_its_documented_shape() {
    let key = StoredRevocation {
        signer: RevokedSigner::Key {
            fingerprint: format!("sha256:{}", "ab".repeat(32)),
        },
        reason: "ci-2024 key leaked".into(),
        at: 1_700_000_000,
        by: Some("admin@example.com".into()),
    };
    let expected = format!(
        r#"{{"v":1,"signer":{{"Key":{{"fingerprint":"sha256:{}"}}}},"reason":"ci-2024 key leaked","at":1700000000,"by":"admin@example.com"}}"#,
        "ab".repeat(32)
    );
    assert_eq!(
        String::from_utf8(encode(Tree::Revocations, &key).unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        decode::<StoredRevocation>(Tree::Revocations, expected.as_bytes()).unwrap(),
        key
    );

    let cert = StoredRevocation {
        signer: RevokedSigner::Cert {
            issuer: "CN=Example CA,O=Example\\, Inc.".into(),
            serial: "1a2b".into(),
        },
        reason: "mis-issued".into(),
        at: 0,
        by: None,
    };
    let expected = r#"{"v":1,"signer":{"Cert":{"issuer":"CN=Example CA,O=Example\\, Inc.","serial":"1a2b"}},"reason":"mis-issued","at":0,"by":null}"#;
    assert_eq!(
        String::from_utf8(encode(Tree::Revocations, &cert).unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        decode::<StoredRevocation>(Tree::Revocations, expected.as_bytes()).unwrap(),
        cert
    );
}

#[test]
fn v1_records_as_an_older_binary_may_have_written_them_decode() {
    // Fields in another order, whitespace, optional fields absent: still v1.
    let pin =
        format!(r#"{{ "history": [], "signers": [], "pinned_at": 7, "digest": "{D1}", "v": 1 }}"#);
    let pin: Pin = decode(Tree::Pins, pin.as_bytes()).unwrap();
    assert_eq!(pin.pushed_by, None);
    assert_eq!(pin.pinned_at, 7);

    let pending = format!(
        r#"{{"v":1,"key":{{"upstream":"hub","repository":"team/app","tag":"v1"}},"digest":"{D2}","media_type":"application/vnd.oci.image.manifest.v1+json","expires_at":99}}"#
    );
    let pending: PendingTag = decode(Tree::Pending, pending.as_bytes()).unwrap();
    assert_eq!(
        pending.key,
        PinKey {
            upstream: "hub".into(),
            repository: "team/app".parse().unwrap(),
            tag: "v1".parse().unwrap(),
        }
    );
    assert_eq!(pending.pushed_by, None);

    let signature = format!(
        r#"{{"v":1,"subject":"{D1}","format":"SigstoreBundle","signature_manifest":"{D2}","layer_index":3,"signer":"keyless","certificate":{{"subject":"me@example.com","issuer":"https://accounts.example.com","serial":"01","not_after":5}},"observed_at":4,"evidence":"AAEC/w=="}}"#
    );
    let signature = decode_signature(signature.as_bytes()).unwrap();
    assert_eq!(signature.format, SignatureFormat::SigstoreBundle);
    assert_eq!(signature.key_fingerprint, None);
    assert_eq!(signature.evidence, [0, 1, 2, 255]);
    assert_eq!(signature.certificate.unwrap().not_after, 5);

    let layers: SigTagLayers = decode(
        Tree::SigTags,
        format!(r#"{{"v":1,"layers":["{D1}"]}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(layers.layers, [d(D1)]);
    let children: IndexChildren = decode(
        Tree::IndexChildren,
        format!(r#"{{"v":1,"children":["{D1}","{D2}"]}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(children.children, [d(D1), d(D2)]);

    let owner: BlobOwner =
        decode(Tree::BlobOwners, br#"{ "kind" : "signature", "v" : 1 }"#).unwrap();
    assert_eq!(owner.kind, ManifestKind::Signature);
    let referrer: Referrer = decode(
        Tree::Referrers,
        format!(
            r#"{{"annotations":{{}},"size":7,"digest":"{D1}","media_type":"application/vnd.oci.image.manifest.v1+json","v":1}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(referrer.artifact_type, None, "absent optional field");
    assert_eq!(referrer.size, 7);

    let revocation: StoredRevocation = decode(
        Tree::Revocations,
        br#"{ "at": 5, "reason": "r", "signer": { "Cert": { "serial": "1", "issuer": "CN=x" } }, "v": 1 }"#,
    )
    .unwrap();
    assert_eq!(
        revocation.signer,
        RevokedSigner::Cert {
            issuer: "CN=x".into(),
            serial: "1".into()
        }
    );
    assert_eq!(revocation.by, None, "absent optional field");

    let head = decode_head(
        br#"{"v":1,"seq":1,"hash":"f47ad803fc1af1288b6ec5a4f2487bc6ad8429eb092870493975e4f9a1cdcf63"}"#,
    )
    .unwrap();
    assert_eq!(head.seq, 1);

    let stored = decode_audit(GOLDEN_AUDIT_1.as_bytes()).unwrap();
    assert!(stored.hash_matches(&GENESIS, 1));
    assert_eq!(stored.hash, head.hash);
    assert_eq!(stored.into_record().unwrap().event, golden_event());
}

#[test]
fn the_audit_hash_is_the_documented_function_of_the_stored_bytes() {
    let (bytes, head, record) = encode_audit(&AuditHead::GENESIS, &golden_event()).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), GOLDEN_AUDIT_1);
    // Recomputed here from the layout documentation, independently of `chain_hash`:
    // sha256(32 zero bytes ‖ 1 as u64 big-endian ‖ the "event" object's bytes).
    let event_start = GOLDEN_AUDIT_1.find(r#""event":"#).unwrap() + r#""event":"#.len();
    let event_bytes = &GOLDEN_AUDIT_1.as_bytes()[event_start..GOLDEN_AUDIT_1.len() - 1];
    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(1u64.to_be_bytes());
    hasher.update(event_bytes);
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(head.hash, expected);
    assert_eq!(record.hash, hex::encode(expected));
    assert_eq!(record.prev_hash, "0".repeat(64));
    // And the next record chains from it.
    let (_, next, second) = encode_audit(&head, &golden_event()).unwrap();
    assert_eq!(next.seq, 2);
    assert_eq!(second.prev_hash, record.hash);
}

#[test]
fn a_stored_event_is_hashed_as_stored_not_as_reserialised() {
    // Whitespace inside the stored event: a re-serialising verifier would hash other bytes.
    let spaced = GOLDEN_AUDIT_1.replace(r#""event":{"v":1,"#, r#""event":{ "v":1, "#);
    let stored = decode_audit(spaced.as_bytes()).unwrap();
    assert!(!stored.hash_matches(&GENESIS, 1));
    assert_eq!(stored.event().unwrap(), golden_event());
}

#[test]
fn versions_other_than_1_are_refused_by_number() {
    let newer = format!(r#"{{"v":2,"digest":"{D1}"}}"#);
    assert!(matches!(
        decode::<Pin>(Tree::Pins, newer.as_bytes()),
        Err(StorageError::RecordVersion {
            tree: "pins",
            found: 2,
            supported: 1
        })
    ));
    assert!(matches!(
        decode::<Pin>(Tree::Pins, br#"{"v":0}"#),
        Err(StorageError::RecordVersion { found: 0, .. })
    ));
    // The version is checked before the body: a v2 body need not look like v1.
    assert!(matches!(
        decode_audit(br#"{"v":7,"anything":true}"#),
        Err(StorageError::RecordVersion {
            tree: "audit",
            found: 7,
            ..
        })
    ));
}

#[test]
fn malformed_records_are_corrupt() {
    let corrupt = |bytes: &[u8]| {
        matches!(
            decode::<Pin>(Tree::Pins, bytes),
            Err(StorageError::Corrupt { tree: "pins", .. })
        )
    };
    assert!(corrupt(b""));
    assert!(corrupt(b"\xff\xfe"));
    assert!(corrupt(b"[1,2]"));
    assert!(corrupt(br#"{"digest":"x"}"#), "no version");
    assert!(corrupt(br#"{"v":"1"}"#), "version not a number");
    assert!(corrupt(br#"{"v":-1}"#));
    assert!(corrupt(br#"{"v":1}"#), "fields missing");
    // Validation runs on decode: a digest outside the grammar is not accepted from disk.
    assert!(corrupt(
        br#"{"v":1,"digest":"md5:abc","pinned_at":1,"pushed_by":null,"signers":[],"history":[]}"#
    ));
    assert!(matches!(
        decode_signature(
            format!(
                r#"{{"v":1,"subject":"{D1}","format":"CosignLayer","signature_manifest":"{D2}","layer_index":0,"signer":"s","observed_at":1,"evidence":"not base64!"}}"#
            )
            .as_bytes()
        ),
        Err(StorageError::Corrupt {
            tree: "signatures",
            ..
        })
    ));
    assert!(matches!(
        decode_head(br#"{"v":1,"seq":1,"hash":"abc"}"#),
        Err(StorageError::Corrupt { tree: "meta", .. })
    ));
    let bad_owner = |bytes: &[u8]| {
        matches!(
            decode::<BlobOwner>(Tree::BlobOwners, bytes),
            Err(StorageError::Corrupt {
                tree: "blob_owners",
                ..
            })
        )
    };
    assert!(
        bad_owner(br#"{"v":1,"kind":"attestation"}"#),
        "unknown kind"
    );
    assert!(
        bad_owner(br#"{"v":1,"kind":"Image"}"#),
        "kinds are lower case"
    );
    assert!(bad_owner(br#"{"v":1}"#));
    let bad_referrer = |bytes: &str| {
        matches!(
            decode::<Referrer>(Tree::Referrers, bytes.as_bytes()),
            Err(StorageError::Corrupt {
                tree: "referrers",
                ..
            })
        )
    };
    assert!(bad_referrer(
        r#"{"v":1,"media_type":"m","digest":"sha256:abc","size":1,"artifact_type":null,"annotations":{}}"#
    ));
    assert!(bad_referrer(&format!(
        r#"{{"v":1,"media_type":"m","digest":"{D1}","size":-1,"artifact_type":null,"annotations":{{}}}}"#
    )));
    assert!(bad_referrer(&format!(
        r#"{{"v":1,"media_type":"m","digest":"{D1}","size":1,"artifact_type":null,"annotations":{{"k":1}}}}"#
    )));
    let bad_revocation = |bytes: &str| {
        matches!(
            decode::<StoredRevocation>(Tree::Revocations, bytes.as_bytes()),
            Err(StorageError::Corrupt {
                tree: "revocations",
                ..
            })
        )
    };
    assert!(
        bad_revocation(
            r#"{"v":1,"signer":{"Fingerprint":{"fingerprint":"f"}},"reason":"r","at":1,"by":null}"#
        ),
        "unknown kind"
    );
    assert!(
        bad_revocation(
            r#"{"v":1,"signer":{"key":{"fingerprint":"f"}},"reason":"r","at":1,"by":null}"#
        ),
        "variants are capitalised"
    );
    assert!(
        bad_revocation(r#"{"v":1,"signer":{"Cert":{"issuer":"i"}},"reason":"r","at":1}"#),
        "no serial"
    );
    assert!(bad_revocation(
        r#"{"v":1,"signer":{"Key":{"fingerprint":"f"}},"reason":"r","at":-1}"#
    ));
    assert!(bad_revocation(
        r#"{"v":1,"signer":"Key","reason":"r","at":1}"#
    ));
}

#[test]
fn evidence_roundtrips_any_bytes() {
    let record = SignatureRecord {
        subject: d(D1),
        format: SignatureFormat::CosignLayer,
        signature_manifest: d(D2),
        layer_index: u32::MAX,
        signer: "s".into(),
        key_fingerprint: None,
        certificate: None,
        observed_at: 0,
        evidence: (0..=255).rev().chain(0..=255).collect(),
    };
    assert_eq!(
        decode_signature(&encode_signature(&record).unwrap()).unwrap(),
        record
    );
}

#[test]
fn the_audit_sequence_cannot_wrap() {
    let head = AuditHead {
        seq: u64::MAX,
        hash: GENESIS,
    };
    assert!(matches!(
        encode_audit(&head, &golden_event()),
        Err(StorageError::Corrupt { .. })
    ));
}
