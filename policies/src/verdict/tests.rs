use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    date_time_ymd,
};

use super::*;
use crate::config::{
    RawKey, RawPki, RawPolicy, RawRequire, RawRevokedCert, RawRevokedKey, RawScope, RawTrust,
    RequireWord,
};
use crate::cosign::{SIMPLE_SIGNING_MEDIA_TYPE, parse_signature_manifest};
use crate::oci::Digest;
use crate::policy::LoadError;
use crate::statement::{COSIGN_SIGN_PREDICATE, SignaturePredicates, StatementRefusal};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const NOW: UnixTime = UnixTime(1_795_756_528);
const CONNAISSEUR: &str = "cosign-legacy/connaisseur-testimage";
const ABC_IMAGE: &str = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";
const ALICE_IMAGE: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

fn read(path: &str) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path)
        .or_else(|_| std::fs::read(format!("{FIXTURES}/{path}")))
        .map_err(|source| LoadError {
            path: path.into(),
            source,
        })
}

fn key_trust(names: &[&str]) -> RawTrust {
    RawTrust {
        keys: names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    RawKey {
                        path: format!("{CONNAISSEUR}/keys/{n}.pub"),
                        rsa_scheme: Default::default(),
                        trusted_root: None,
                    },
                )
            })
            .collect(),
        ..RawTrust::default()
    }
}

fn policy(trust: &RawTrust, default: RawScope) -> Policy {
    Policy::build(
        trust,
        &RawPolicy {
            default,
            scopes: vec![],
        },
        &mut read,
        3,
    )
    .unwrap()
}

fn scope(signers: &[&str], require: Option<RawRequire>) -> RawScope {
    RawScope {
        signers: signers.iter().map(|s| (*s).to_owned()).collect(),
        require,
        ..RawScope::default()
    }
}

fn subject(repository: &str, digest: &str) -> Subject {
    Subject {
        repository: repository.parse().unwrap(),
        digest: digest.parse().unwrap(),
        tag: None,
    }
}

fn connaisseur_evidence(image: &str) -> Vec<Evidence> {
    let hex = image.strip_prefix("sha256:").unwrap();
    let manifest = read(&format!("{CONNAISSEUR}/manifests/sha256-{hex}.sig.json")).unwrap();
    let blob = |d: &Digest| {
        read(&format!("{CONNAISSEUR}/blobs/sha256/{}", d.hex()))
            .ok()
            .map(bytes::Bytes::from)
    };
    parse_signature_manifest(&manifest, &blob)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, s)| Evidence::Cosign {
            signature: s.unwrap(),
            observed: NOW,
            source: format!("layer {i}"),
        })
        .collect()
}

const TESTIMAGE: &str = "securesystemsengineering/testimage";

#[test]
fn thresholds_count_distinct_trusted_signers() {
    let evidence = connaisseur_evidence(ABC_IMAGE);
    let subject = subject(TESTIMAGE, ABC_IMAGE);
    // {alice, bob} with threshold 2: admitted.
    let p = policy(
        &key_trust(&["alice", "bob"]),
        scope(&["alice", "bob"], Some(RawRequire::Threshold(2))),
    );
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(v.admitted().is_some(), "{}", v.explain());
    assert_eq!(v.satisfied.len(), 2);
    // Decided after bob's layer: charlie's is not looked at.
    assert!(v.failures.is_empty(), "{:?}", v.failures);
    // Without the decision it is, and reported: it satisfied no trusted signer.
    let p3 = policy(
        &key_trust(&["alice", "bob", "default"]),
        scope(&["alice", "bob", "default"], Some(RawRequire::Threshold(3))),
    );
    let v3 = evaluate(&p3, &subject, &evidence, NOW);
    assert_eq!(v3.failures.len(), 3, "{:?}", v3.failures);
    assert!(v3.failures.iter().all(|f| f.source == "layer 2"
        && f.reason == FailureReason::Signature(SignatureFailure::SignatureMismatch)));
    assert_eq!(v.generation, 3);
    // Threshold 3 over {alice, bob, default}: default signed nothing.
    let p = policy(
        &key_trust(&["alice", "bob", "default"]),
        scope(&["alice", "bob", "default"], Some(RawRequire::Threshold(3))),
    );
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert_eq!(
        v.decision,
        Decision::Deny(DenyReason::NotEnoughSigners {
            needed: 3,
            missing: vec!["default".to_owned()]
        })
    );
    // all = every listed signer.
    let p = policy(
        &key_trust(&["alice", "bob", "charlie"]),
        scope(
            &["alice", "bob", "charlie"],
            Some(RawRequire::Word(RequireWord::All)),
        ),
    );
    assert!(evaluate(&p, &subject, &evidence, NOW).admitted().is_some());
}

#[test]
fn a_single_signature_by_an_untrusted_key_explains_itself() {
    let p = policy(&key_trust(&["bob"]), scope(&["bob"], None));
    let v = evaluate(
        &p,
        &subject(TESTIMAGE, ALICE_IMAGE),
        &connaisseur_evidence(ALICE_IMAGE),
        NOW,
    );
    assert!(v.admitted().is_none());
    assert_eq!(v.failures.len(), 1);
    assert_eq!(
        v.failures[0].reason,
        FailureReason::Signature(SignatureFailure::SignatureMismatch)
    );
    assert!(
        v.explain()
            .contains("layer 0 vs bob: signature does not verify"),
        "{}",
        v.explain()
    );
    assert!(!v.proceeds());
}

#[test]
fn no_evidence_is_unsigned_and_modes_decide_whether_it_proceeds() {
    let subject = subject(TESTIMAGE, ALICE_IMAGE);
    for (mode, proceeds) in [
        (Mode::Enforce, false),
        (Mode::Warn, true),
        (Mode::Audit, true),
    ] {
        let p = policy(
            &key_trust(&["alice"]),
            RawScope {
                mode,
                ..scope(&["alice"], None)
            },
        );
        let v = evaluate(&p, &subject, &[], NOW);
        assert_eq!(v.decision, Decision::Deny(DenyReason::Unsigned));
        assert_eq!(v.proceeds(), proceeds, "{mode:?}");
    }
    let p = policy(
        &key_trust(&[]),
        RawScope {
            mode: Mode::Warn,
            ..scope(&[], None)
        },
    );
    assert_eq!(
        evaluate(&p, &subject, &connaisseur_evidence(ALICE_IMAGE), NOW).decision,
        Decision::Deny(DenyReason::NoSigners)
    );
}

#[test]
fn a_revoked_key_never_verifies() {
    let mut trust = key_trust(&["alice"]);
    let alice = crate::crypto::PublicKey::from_pem(
        &read(&format!("{CONNAISSEUR}/keys/alice.pub")).unwrap(),
        Default::default(),
    )
    .unwrap();
    trust.revoked_keys.push(RawRevokedKey {
        fingerprint: alice.fingerprint().to_string(),
        reason: "ci-2024 key leaked".to_owned(),
        at: "2026-05-01T00:00:00Z".to_owned(),
    });
    let p = policy(&trust, scope(&["alice"], None));
    let v = evaluate(
        &p,
        &subject(TESTIMAGE, ALICE_IMAGE),
        &connaisseur_evidence(ALICE_IMAGE),
        NOW,
    );
    assert!(v.admitted().is_none());
    assert!(
        matches!(&v.failures[0].reason, FailureReason::KeyRevoked { revocation, .. } if revocation.reason == "ci-2024 key leaked")
    );
    assert!(
        v.explain()
            .contains("revoked on 2026-05-01T00:00:00Z (ci-2024 key leaked)"),
        "{}",
        v.explain()
    );
}

/// A generated PKI: a root, a code-signing leaf valid in 2025 only, and a signature by the
/// leaf over a simple-signing payload for `image`.
struct GeneratedPki {
    dir: tempfile::TempDir,
    signature: crate::cosign::CosignSignature,
    leaf_serial: String,
    issuer: String,
}

fn generated_pki(image: &str, repository: &str) -> GeneratedPki {
    let mut root_params = CertificateParams::new(vec![]).unwrap();
    root_params
        .distinguished_name
        .push(DnType::CommonName, "Generated Root");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_key = KeyPair::generate().unwrap();
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root_params, root_key);
    let mut leaf_params = CertificateParams::new(vec![]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "release signer");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    leaf_params.not_before = date_time_ymd(2025, 1, 1);
    leaf_params.not_after = date_time_ymd(2026, 1, 1);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"registry.example/{repository}"}},"image":{{"docker-manifest-digest":"{image}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &leaf_key.serialize_der())
            .unwrap();
    let sig = signer
        .sign(&SystemRandom::new(), payload.as_bytes())
        .unwrap();
    let annotations = BTreeMap::from([
        (
            crate::cosign::ANNOTATION_SIGNATURE.to_owned(),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig.as_ref()),
        ),
        (crate::cosign::ANNOTATION_CERTIFICATE.to_owned(), leaf.pem()),
    ]);
    let signature = crate::cosign::CosignSignature::from_layer(
        SIMPLE_SIGNING_MEDIA_TYPE,
        payload.into_bytes(),
        &annotations,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), root.pem()).unwrap();
    let info = CertificateInfo::from_pem(leaf.pem().as_bytes()).unwrap();
    GeneratedPki {
        dir,
        signature,
        leaf_serial: info.serial,
        issuer: info.issuer,
    }
}

fn pki_trust(g: &GeneratedPki, signing_time: SigningTime) -> RawTrust {
    let mut trust = RawTrust::default();
    trust.pki.insert(
        "release".to_owned(),
        RawPki {
            roots: g.dir.path().join("root.pem").to_str().unwrap().to_owned(),
            intermediates: None,
            crls: vec![],
            eku: Default::default(),
            signing_time,
            trusted_root: None,
            identity: crate::config::RawIdentity {
                subject: Some("CN=release signer".to_owned()),
                ..Default::default()
            },
        },
    );
    trust
}

#[test]
fn certificate_validity_is_checked_at_the_observed_time_or_now() {
    let g = generated_pki(ALICE_IMAGE, "team/app");
    let subject = subject("team/app", ALICE_IMAGE);
    // Observed mid-2025, while the certificate was valid: still admitted after it expired.
    let observed_2025 = UnixTime(1_750_000_000);
    let evidence = [Evidence::Cosign {
        signature: g.signature.clone(),
        observed: observed_2025,
        source: "sig".to_owned(),
    }];
    let p = policy(
        &pki_trust(&g, SigningTime::Observed),
        scope(&["release"], None),
    );
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(v.admitted().is_some(), "{}", v.explain());
    assert!(
        matches!(&v.satisfied[0].identity, SignerIdentity::Certificate { subject, .. } if subject == "CN=release signer")
    );
    // Checked at "now" (2026-11), the certificate has expired.
    let p = policy(&pki_trust(&g, SigningTime::Now), scope(&["release"], None));
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(matches!(
        &v.failures[0].reason,
        FailureReason::Signature(SignatureFailure::Chain(
            crate::pki::ChainError::Expired { .. }
        ))
    ));
}

#[test]
fn a_revoked_certificate_never_verifies() {
    let g = generated_pki(ALICE_IMAGE, "team/app");
    let mut trust = pki_trust(&g, SigningTime::Observed);
    trust.revoked_certs.push(RawRevokedCert {
        issuer: g.issuer.clone(),
        serial: g.leaf_serial.to_uppercase(),
        reason: "signer left".to_owned(),
        at: "2025-09-01T00:00:00Z".to_owned(),
    });
    let p = policy(&trust, scope(&["release"], None));
    let evidence = [Evidence::Cosign {
        signature: g.signature.clone(),
        observed: UnixTime(1_750_000_000),
        source: "sig".to_owned(),
    }];
    let v = evaluate(&p, &subject("team/app", ALICE_IMAGE), &evidence, NOW);
    assert!(v.admitted().is_none());
    assert!(
        matches!(&v.failures[0].reason, FailureReason::CertRevoked { serial, .. } if *serial == g.leaf_serial)
    );
}

/// The fulcio-rekor keyless signature seen through an enterprise-PKI signer whose root is the
/// Fulcio root: the certificate expired in 2023, so only a log-proven signing time admits it.
fn fulcio_as_pki(
    signing_time: SigningTime,
    trusted_root: Option<&str>,
) -> Result<Policy, crate::policy::PolicyError> {
    let mut trust = RawTrust::default();
    trust.pki.insert(
        "fulcio".to_owned(),
        RawPki {
            roots: "cosign-keyless/trust/fulcio_v1.crt.pem".to_owned(),
            intermediates: None,
            crls: vec![],
            eku: Default::default(),
            signing_time,
            trusted_root: trusted_root.map(str::to_owned),
            identity: crate::config::RawIdentity {
                san_email: Some("mitr@redhat.com".to_owned()),
                ..Default::default()
            },
        },
    );
    Policy::build(
        &trust,
        &RawPolicy {
            default: scope(&["fulcio"], None),
            scopes: vec![],
        },
        &mut read,
        1,
    )
}

fn fulcio_rekor_evidence(drop_bundle: bool) -> (Subject, Vec<Evidence>) {
    let dir = "cosign-keyless/containers-image-fulcio-rekor";
    let mut annotations: BTreeMap<String, String> =
        serde_json::from_slice(&read(&format!("{dir}/signature-1.annotations.json")).unwrap())
            .unwrap();
    if drop_bundle {
        annotations.remove(crate::cosign::ANNOTATION_BUNDLE);
    }
    let payload = read(&format!("{dir}/signature-1.payload.json")).unwrap();
    let signature = crate::cosign::CosignSignature::from_layer(
        SIMPLE_SIGNING_MEDIA_TYPE,
        payload,
        &annotations,
    )
    .unwrap();
    let manifest = read(&format!("{dir}/manifest.json")).unwrap();
    let digest = Digest::from_hash(
        crate::oci::DigestAlgorithm::Sha256,
        &<sha2::Sha256 as sha2::Digest>::digest(&manifest),
    )
    .unwrap();
    let subject = Subject {
        repository: "cosign-signed/fulcio-rekor-1".parse().unwrap(),
        digest,
        tag: None,
    };
    (
        subject,
        vec![Evidence::Cosign {
            signature,
            observed: NOW,
            source: "signature-1".to_owned(),
        }],
    )
}

#[test]
fn pki_signing_time_can_be_proven_by_the_transparency_log() {
    const ROOT: &str = "bundle-v0.3/trusted_root.public-good.json";
    let (subject, evidence) = fulcio_rekor_evidence(false);
    let p = fulcio_as_pki(SigningTime::Tlog, Some(ROOT)).unwrap();
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(v.admitted().is_some(), "{}", v.explain());
    // Observed now (2026), the ten-minute certificate of 2023 has long expired.
    let p = fulcio_as_pki(SigningTime::Observed, None).unwrap();
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(matches!(
        &v.failures[0].reason,
        FailureReason::Signature(SignatureFailure::Chain(
            crate::pki::ChainError::Expired { .. }
        ))
    ));
    // No log entry, no proven time.
    let (subject, no_bundle) = fulcio_rekor_evidence(true);
    let p = fulcio_as_pki(SigningTime::Tlog, Some(ROOT)).unwrap();
    let v = evaluate(&p, &subject, &no_bundle, NOW);
    assert_eq!(
        v.failures[0].reason,
        FailureReason::Signature(SignatureFailure::TlogMissing)
    );
    // And the configuration must say which logs prove times.
    assert_eq!(
        fulcio_as_pki(SigningTime::Tlog, None).unwrap_err().key,
        "trust.pki.fulcio.trusted_root"
    );
}

#[test]
fn outcomes_follow_mode_and_unsigned_push() {
    use crate::config::UnsignedPush;
    let subject = subject(TESTIMAGE, ALICE_IMAGE);
    let outcome = |mode: Mode, unsigned_push: UnsignedPush, evidence: &[Evidence]| {
        let p = policy(
            &key_trust(&["alice"]),
            RawScope {
                mode,
                unsigned_push,
                ..scope(&["alice"], None)
            },
        );
        let v = evaluate(&p, &subject, evidence, NOW);
        (
            v.push_outcome(p.scope_for(&subject.repository)),
            v.pull_outcome(),
        )
    };
    let signed = connaisseur_evidence(ALICE_IMAGE);
    assert_eq!(
        outcome(Mode::Enforce, UnsignedPush::Reject, &signed),
        (Outcome::Admit, Outcome::Admit)
    );
    assert_eq!(
        outcome(Mode::Enforce, UnsignedPush::Reject, &[]),
        (Outcome::Reject, Outcome::Reject)
    );
    assert_eq!(
        outcome(Mode::Enforce, UnsignedPush::Quarantine, &[]),
        (
            Outcome::Quarantine {
                ttl: std::time::Duration::from_secs(86_400)
            },
            Outcome::Reject
        )
    );
    assert_eq!(
        outcome(Mode::Warn, UnsignedPush::Quarantine, &[]),
        (Outcome::AllowWithWarning, Outcome::AllowWithWarning)
    );
    assert_eq!(
        outcome(Mode::Audit, UnsignedPush::Reject, &[]),
        (Outcome::AllowAudited, Outcome::AllowAudited)
    );
}

#[test]
fn r11_one_key_under_two_names_is_a_configuration_error() {
    let mut trust = key_trust(&["alice"]);
    let same = trust.keys["alice"].clone();
    trust.keys.insert("alice-again".to_owned(), same);
    let err = Policy::build(
        &trust,
        &RawPolicy {
            default: scope(&["alice", "alice-again"], Some(RawRequire::Threshold(2))),
            scopes: vec![],
        },
        &mut read,
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("same key"), "{err}");
}

#[test]
fn r11_overlapping_identities_count_once_towards_a_threshold() {
    let g = generated_pki(ALICE_IMAGE, "team/app");
    let mut trust = pki_trust(&g, SigningTime::Observed);
    // A second signer whose identity glob also matches the release certificate.
    let mut broad = trust.pki["release"].clone();
    broad.identity.subject = Some("CN=*".to_owned());
    trust.pki.insert("anyone".to_owned(), broad);
    let p = policy(
        &trust,
        scope(&["release", "anyone"], Some(RawRequire::Threshold(2))),
    );
    let subject = subject("team/app", ALICE_IMAGE);
    let layer = |source: &str| Evidence::Cosign {
        signature: g.signature.clone(),
        observed: UnixTime(1_750_000_000),
        source: source.to_owned(),
    };
    // One signature, and the same signature twice (two layers): one signer either way.
    for evidence in [
        vec![layer("layer 0")],
        vec![layer("layer 0"), layer("layer 1")],
    ] {
        let v = evaluate(&p, &subject, &evidence, NOW);
        assert!(v.admitted().is_none(), "{}", v.explain());
        assert_eq!(v.satisfied.len(), 1, "{:?}", v.satisfied);
        assert!(
            matches!(
                &v.decision,
                Decision::Deny(DenyReason::NotEnoughSigners { needed: 2, .. })
            ),
            "{:?}",
            v.decision
        );
    }
    // With `require = any` the same signature admits, as before.
    let p = policy(&trust, scope(&["release", "anyone"], None));
    assert!(
        evaluate(&p, &subject, &[layer("layer 0")], NOW)
            .admitted()
            .is_some()
    );
}

#[test]
fn r11_thresholds_match_signers_to_distinct_identities() {
    let cert = |san: &str, serial: &str| SignerIdentity::Certificate {
        subject: String::new(),
        san: Some(san.to_owned()),
        issuer: "CN=ca".to_owned(),
        serial: serial.to_owned(),
        not_after: NOW,
    };
    let pair = |signer: &str, san: &str, evidence: usize| Satisfied {
        signer: signer.to_owned(),
        identity: cert(san, "1"),
        evidence,
    };
    let signers = ["broad".to_owned(), "narrow".to_owned()];
    // x satisfies both signers, y only the broad one: a greedy count would give x to the broad
    // signer and stop at one; the matching gives y to broad and x to narrow.
    let verified = vec![
        pair("broad", "x@example.com", 0),
        pair("narrow", "x@example.com", 0),
        pair("broad", "y@example.com", 1),
    ];
    let matched = distinct_signers(&signers, verified);
    let got: Vec<(&str, usize)> = matched
        .iter()
        .map(|s| (s.signer.as_str(), s.evidence))
        .collect();
    assert_eq!(got, [("broad", 1), ("narrow", 0)]);
    // Two certificates for one identity (keyless signs with a fresh one each time) are one.
    let verified = vec![
        pair("broad", "x@example.com", 0),
        Satisfied {
            identity: cert("x@example.com", "2"),
            ..pair("narrow", "x@example.com", 1)
        },
    ];
    assert_eq!(distinct_signers(&signers, verified).len(), 1);
}

#[test]
fn evaluation_stops_once_decided_and_looks_at_bounded_evidence() {
    let subject = subject(TESTIMAGE, ALICE_IMAGE);
    let unusable = |i: usize| Evidence::Unusable {
        reason: SignatureFailure::SignatureEncoding,
        source: format!("junk {i}"),
    };
    let p = policy(
        &key_trust(&["alice", "bob"]),
        scope(&["alice", "bob"], None),
    );
    // alice's signature first: admitted, and the junk after it costs nothing.
    let mut evidence = connaisseur_evidence(ALICE_IMAGE);
    evidence.extend((0..1000).map(unusable));
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(v.admitted().is_some(), "{}", v.explain());
    assert!(v.failures.is_empty(), "{:?}", v.failures);
    // Junk first: only MAX_EVIDENCE pieces are looked at, so alice's signature after them is
    // not; refused.
    let mut evidence: Vec<Evidence> = (0..MAX_EVIDENCE).map(unusable).collect();
    evidence.extend(connaisseur_evidence(ALICE_IMAGE));
    let v = evaluate(&p, &subject, &evidence, NOW);
    assert!(v.admitted().is_none());
    assert_eq!(v.failures.len(), MAX_EVIDENCE * 2);
}

const KUBEWARDEN: &str = "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json";
const KUBEWARDEN_IMAGE: &str =
    "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const ATTESTATION: &str = "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json";
const ATTESTATION_IMAGE: &str =
    "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
const ATTESTATION_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";

fn bundle_evidence(path: &str) -> Evidence {
    let bundle = crate::bundle::SigstoreBundle::from_json(&read(path).unwrap()).unwrap();
    Evidence::Bundle {
        bundle: Box::new(bundle),
        artifact: None,
        observed: NOW,
        source: path.rsplit('/').next().unwrap().to_owned(),
    }
}

/// The two OCI fixtures' keyless identities, as signers `kubewarden` and `cody`.
fn keyless_trust() -> RawTrust {
    let mut trust = RawTrust::default();
    for (name, san, issuer) in [
        (
            "kubewarden",
            "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/*",
            "https://token.actions.githubusercontent.com",
        ),
        ("cody", "cody@soyland.com", "https://github.com/login/oauth"),
    ] {
        trust.keyless.insert(
            name.to_owned(),
            crate::config::RawKeyless {
                trusted_root: "bundle-v0.3/trusted_root.public-good.json".to_owned(),
                san: san.to_owned(),
                issuer: issuer.to_owned(),
            },
        );
    }
    trust
}

fn predicates(signers: &[&str], predicates: &[&str]) -> RawScope {
    RawScope {
        signature_predicate_types: predicates.iter().map(|p| (*p).to_owned()).collect(),
        ..scope(signers, None)
    }
}

#[test]
fn r14_an_attestation_by_the_trusted_identity_is_not_the_images_signature() {
    let trust = keyless_trust();
    let attested = subject("team/app", ATTESTATION_IMAGE);
    let evidence = [bundle_evidence(ATTESTATION)];
    // The gate's default: cosign v3's image-signature predicate only.
    let verdict = evaluate(
        &policy(&trust, scope(&["cody"], None)),
        &attested,
        &evidence,
        NOW,
    );
    assert!(verdict.admitted().is_none(), "{}", verdict.explain());
    assert!(matches!(
        verdict.failures[0].reason,
        FailureReason::Statement(StatementRefusal::Attestation { .. })
    ));
    assert!(
        verdict.explain().contains(
            "statement predicateType \"https://cosign.sigstore.dev/attestation/v1\" is an \
             attestation, not an image signature (scope \"default\" accepts: \
             https://sigstore.dev/cosign/sign/v1)"
        ),
        "{}",
        verdict.explain()
    );
    // A scope that takes that predicate as a signature admits it.
    let taken = policy(
        &trust,
        predicates(&["cody"], &[SLSA, ATTESTATION_PREDICATE]),
    );
    let verdict = evaluate(&taken, &attested, &evidence, NOW);
    assert!(verdict.admitted().is_some(), "{}", verdict.explain());
    // And `Any` (sealgate verify's flags) takes every statement.
    let mut any = policy(&trust, scope(&["cody"], None));
    any.set_signature_predicates(&SignaturePredicates::Any);
    assert!(
        evaluate(&any, &attested, &evidence, NOW)
            .admitted()
            .is_some()
    );
}

#[test]
fn r14_a_cosign_v3_signature_admits_beside_a_refused_attestation() {
    let trust = keyless_trust();
    let image = subject("team/app", KUBEWARDEN_IMAGE);
    let policy = policy(&trust, scope(&["cody", "kubewarden"], None));
    let alone = evaluate(&policy, &image, &[bundle_evidence(KUBEWARDEN)], NOW);
    assert_eq!(
        alone.satisfied[0].signer,
        "kubewarden",
        "{}",
        alone.explain()
    );
    // The attestation satisfies nobody; the signature still admits.
    let evidence = [bundle_evidence(ATTESTATION), bundle_evidence(KUBEWARDEN)];
    let verdict = evaluate(&policy, &image, &evidence, NOW);
    assert!(verdict.admitted().is_some(), "{}", verdict.explain());
    assert_eq!(verdict.satisfied.len(), 1);
    assert_eq!(verdict.satisfied[0].evidence, 1);
}

/// A key-signed DSSE bundle over `statement` (no log entry: the key signer requires none).
fn key_signed_statement(pair: &EcdsaKeyPair, statement: &str) -> Evidence {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let pae =
        sigstore_verify::types::dsse::pae("application/vnd.in-toto+json", statement.as_bytes());
    let sig = pair.sign(&SystemRandom::new(), &pae).unwrap();
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "ci"}},
        "dsseEnvelope": {
            "payload": b64(statement.as_bytes()),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": b64(sig.as_ref()), "keyid": ""}],
        },
    });
    let bundle = crate::bundle::SigstoreBundle::from_json(json.to_string().as_bytes()).unwrap();
    Evidence::Bundle {
        bundle: Box::new(bundle),
        artifact: None,
        observed: NOW,
        source: "statement".to_owned(),
    }
}

#[test]
fn r14_statement_predicates_decide_for_key_signed_bundles_too() {
    let key = KeyPair::generate().unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der()).unwrap();
    let pem = key.public_key_pem();
    let mut trust = RawTrust::default();
    trust.keys.insert(
        "ci".to_owned(),
        RawKey {
            path: "ci.pub".to_owned(),
            rsa_scheme: Default::default(),
            trusted_root: None,
        },
    );
    let build = |default: RawScope| {
        let mut load = |_: &str| Ok(pem.clone().into_bytes());
        Policy::build(
            &trust,
            &RawPolicy {
                default,
                scopes: vec![],
            },
            &mut load,
            1,
        )
        .unwrap()
    };
    let image = subject("team/app", ALICE_IMAGE);
    let statement = |predicates: &str| {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],{predicates},"predicate":{{}}}}"#,
            image.digest.hex()
        )
    };
    let cosign = format!(r#""predicateType":"{COSIGN_SIGN_PREDICATE}""#);
    let slsa = format!(r#""predicateType":"{SLSA}""#);
    let default = build(scope(&["ci"], None));
    let slsa_scope = build(predicates(&["ci"], &[SLSA]));
    let decide = |policy: &Policy, statement: &str| {
        evaluate(
            policy,
            &image,
            &[key_signed_statement(&pair, statement)],
            NOW,
        )
    };
    assert!(decide(&default, &statement(&cosign)).admitted().is_some());
    let provenance = statement(&slsa);
    let refused = decide(&default, &provenance);
    assert!(
        refused.explain().contains("is an attestation"),
        "{}",
        refused.explain()
    );
    assert!(decide(&slsa_scope, &provenance).admitted().is_some());
    assert!(
        decide(&slsa_scope, &statement(&cosign))
            .admitted()
            .is_none()
    );
    // Signed, but read one way by serde_json (the last copy) and another by other parsers.
    for twice in [format!("{slsa},{cosign}"), format!("{cosign},{slsa}")] {
        for policy in [&default, &slsa_scope] {
            let verdict = decide(policy, &statement(&twice));
            assert!(verdict.admitted().is_none(), "{}", verdict.explain());
            assert!(
                verdict
                    .explain()
                    .contains("duplicate key \"predicateType\""),
                "{}",
                verdict.explain()
            );
        }
    }
}

#[test]
fn a_keyless_bundle_for_someone_else_costs_no_signature_checks() {
    // The attestation, its statement accepted, against a signer of another identity, on a
    // subject it does not name: refused for the identity, before anything is verified (else
    // the statement's subject would be the reason).
    let trust = keyless_trust();
    let wrong_subject = subject("team/app", KUBEWARDEN_IMAGE);
    let evidence = [bundle_evidence(ATTESTATION)];
    let verdict = evaluate(
        &policy(
            &trust,
            predicates(&["kubewarden"], &[ATTESTATION_PREDICATE]),
        ),
        &wrong_subject,
        &evidence,
        NOW,
    );
    assert!(verdict.admitted().is_none(), "{}", verdict.explain());
    assert!(
        matches!(
            verdict.failures[0].reason,
            FailureReason::Signature(SignatureFailure::Identity(_))
        ),
        "{}",
        verdict.explain()
    );
}
