use super::*;
use crate::crypto::RsaScheme;
use crate::glob::Glob;
use crate::pki::EkuPolicy;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const NOW: UnixTime = UnixTime(1_795_756_528);
const CONNAISSEUR: &str = "cosign-legacy/connaisseur-testimage";
const CI: &str = "cosign-legacy/containers-image";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn key(path: &str) -> PublicKey {
    PublicKey::from_pem(&fixture(path), RsaScheme::Pkcs1).unwrap()
}

fn subject(repository: &str, digest: &str, tag: Option<&str>) -> Subject {
    Subject {
        repository: repository.parse().unwrap(),
        digest: digest.parse().unwrap(),
        tag: tag.map(|t| t.parse().unwrap()),
    }
}

/// Blobs of the connaisseur dump, looked up by digest like the proxy would.
fn connaisseur_blob(digest: &Digest) -> Option<bytes::Bytes> {
    std::fs::read(format!(
        "{FIXTURES}/{CONNAISSEUR}/blobs/sha256/{}",
        digest.hex()
    ))
    .ok()
    .map(bytes::Bytes::from)
}

fn connaisseur_signatures(image_digest: &str) -> Vec<CosignSignature> {
    let hex = image_digest.strip_prefix("sha256:").unwrap();
    let manifest = fixture(&format!("{CONNAISSEUR}/manifests/sha256-{hex}.sig.json"));
    parse_signature_manifest(&manifest, &connaisseur_blob)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// A containers/image "sigstore-json" dump, decoded into the layer it stands for.
fn containers_image_signature(dir: &str, name: &str) -> CosignSignature {
    let payload = fixture(&format!("{dir}/{name}.payload.json"));
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&fixture(&format!("{dir}/{name}.annotations.json"))).unwrap();
    CosignSignature::from_layer(SIMPLE_SIGNING_MEDIA_TYPE, payload, &annotations).unwrap()
}

fn digest_of(path: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(fixture(path))))
}

const ALICE_IMAGE: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";
const ABC_IMAGE: &str = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";
const TESTIMAGE: &str = "securesystemsengineering/testimage";

#[test]
fn connaisseur_alice_signature_verifies_only_with_alice() {
    let sigs = connaisseur_signatures(ALICE_IMAGE);
    assert_eq!(sigs.len(), 1);
    let subject = subject(TESTIMAGE, ALICE_IMAGE, None);
    let rule = ReferenceRule::default();
    let payload = verify_with_key(
        &sigs[0],
        &key(&format!("{CONNAISSEUR}/keys/alice.pub")),
        &subject,
        &rule,
    )
    .unwrap();
    assert_eq!(
        payload.docker_reference,
        "index.docker.io/securesystemsengineering/testimage"
    );
    for other in ["bob", "charlie", "default"] {
        assert_eq!(
            verify_with_key(
                &sigs[0],
                &key(&format!("{CONNAISSEUR}/keys/{other}.pub")),
                &subject,
                &rule
            ),
            Err(SignatureFailure::SignatureMismatch),
            "{other}"
        );
    }
}

#[test]
fn each_of_three_layers_verifies_with_exactly_one_key() {
    let sigs = connaisseur_signatures(ABC_IMAGE);
    assert_eq!(sigs.len(), 3);
    let subject = subject(TESTIMAGE, ABC_IMAGE, None);
    for signer in ["alice", "bob", "charlie"] {
        let key = key(&format!("{CONNAISSEUR}/keys/{signer}.pub"));
        let verified = sigs
            .iter()
            .filter(|s| verify_with_key(s, &key, &subject, &ReferenceRule::default()).is_ok())
            .count();
        assert_eq!(verified, 1, "{signer}");
    }
}

#[test]
fn a_signature_cannot_be_replayed_onto_another_digest_or_repository() {
    let sig = &connaisseur_signatures(ALICE_IMAGE)[0];
    let alice = key(&format!("{CONNAISSEUR}/keys/alice.pub"));
    let rule = ReferenceRule::default();
    assert!(matches!(
        verify_with_key(sig, &alice, &subject(TESTIMAGE, ABC_IMAGE, None), &rule),
        Err(SignatureFailure::DigestMismatch { .. })
    ));
    assert!(matches!(
        verify_with_key(
            sig,
            &alice,
            &subject("other/image", ALICE_IMAGE, None),
            &rule
        ),
        Err(SignatureFailure::ReferenceMismatch { .. })
    ));
    // A mirror that stores the image under another path remaps it explicitly.
    let remap = ReferenceRule {
        remap: Some(("mirror/".to_owned(), String::new())),
    };
    verify_with_key(
        sig,
        &alice,
        &subject(
            "mirror/securesystemsengineering/testimage",
            ALICE_IMAGE,
            None,
        ),
        &remap,
    )
    .unwrap();
}

#[test]
fn r11_layers_share_their_blob_and_oversized_payloads_are_refused_unhashed() {
    let payload = bytes::Bytes::from_static(br#"{"critical":{}}"#);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&payload)));
    let layer = format!(
        r#"{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{digest}","annotations":{{"{ANNOTATION_SIGNATURE}":"AAAA"}}}}"#
    );
    let manifest = format!(r#"{{"layers":[{}]}}"#, vec![layer; 50].join(","));
    let shared = payload.clone();
    let results = parse_signature_manifest(manifest.as_bytes(), &|_| Some(shared.clone())).unwrap();
    assert_eq!(results.len(), 50);
    for result in results {
        // The same allocation, not 50 copies of it.
        assert_eq!(result.unwrap().payload.as_ptr(), payload.as_ptr());
    }
    // No signature annotation: refused as such, without the blob.
    let unsigned = format!(
        r#"{{"layers":[{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{digest}"}}]}}"#
    );
    assert_eq!(
        parse_signature_manifest(unsigned.as_bytes(), &|_| panic!("no blob is needed")).unwrap(),
        [Err(SignatureFailure::SignatureEncoding)]
    );
    // Larger than any payload: refused without hashing (the digest would not match either).
    let huge = bytes::Bytes::from(vec![b' '; MAX_PAYLOAD_BYTES + 1]);
    let results = parse_signature_manifest(manifest.as_bytes(), &|_| Some(huge.clone())).unwrap();
    assert!(results.iter().all(
        |r| matches!(r, Err(SignatureFailure::PayloadMalformed(m)) if m.contains("more than"))
    ));
}

#[test]
fn tampered_manifests_and_blobs_are_refused_per_layer() {
    let hex = ALICE_IMAGE.strip_prefix("sha256:").unwrap();
    let manifest = fixture(&format!("{CONNAISSEUR}/manifests/sha256-{hex}.sig.json"));
    // A blob that does not hash to its layer digest.
    let wrong_blob = |_: &Digest| Some(bytes::Bytes::from_static(b"{}"));
    let results = parse_signature_manifest(&manifest, &wrong_blob).unwrap();
    assert!(matches!(
        results[0],
        Err(SignatureFailure::PayloadTampered { .. })
    ));
    let results = parse_signature_manifest(&manifest, &|_| None).unwrap();
    assert!(matches!(
        results[0],
        Err(SignatureFailure::PayloadMissing { .. })
    ));
    assert!(matches!(
        parse_signature_manifest(b"{", &connaisseur_blob),
        Err(ManifestError::Malformed(_))
    ));
    assert_eq!(
        parse_signature_manifest(br#"{"schemaVersion":2,"layers":[]}"#, &connaisseur_blob),
        Err(ManifestError::NoLayers)
    );
    // A flipped byte in the signature annotation.
    let text = String::from_utf8(manifest)
        .unwrap()
        .replace("MEUCIQCsrBIJ", "MEUCIQCsrBIK");
    let sig = parse_signature_manifest(text.as_bytes(), &connaisseur_blob)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(
        verify_with_key(
            &sig,
            &key(&format!("{CONNAISSEUR}/keys/alice.pub")),
            &subject(TESTIMAGE, ALICE_IMAGE, None),
            &ReferenceRule::default()
        ),
        Err(SignatureFailure::SignatureMismatch)
    );
}

#[test]
fn containers_image_key_signatures_follow_the_fixture_expectations() {
    let dir = format!("{CI}/key-valid");
    let image = digest_of(&format!("{dir}/manifest.json"));
    let subject = subject("cosign-signed-single-sample", &image, None);
    let rule = ReferenceRule::default();
    let cosign = key(&format!("{CI}/keys/cosign.pub"));
    for name in ["signature-1", "signature-2"] {
        verify_with_key(
            &containers_image_signature(&dir, name),
            &cosign,
            &subject,
            &rule,
        )
        .unwrap();
        assert_eq!(
            verify_with_key(
                &containers_image_signature(&dir, name),
                &key(&format!("{CI}/keys/cosign2.pub")),
                &subject,
                &rule
            ),
            Err(SignatureFailure::SignatureMismatch)
        );
    }
    let modified = digest_of(&format!("{CI}/negative/modified-manifest.json"));
    assert!(matches!(
        verify_with_key(
            &containers_image_signature(&dir, "signature-1"),
            &cosign,
            &Subject {
                digest: modified.parse().unwrap(),
                ..subject.clone()
            },
            &rule
        ),
        Err(SignatureFailure::DigestMismatch { .. })
    ));
    assert!(matches!(
        verify_with_key(
            &containers_image_signature(&dir, "signature-1"),
            &cosign,
            &Subject {
                repository: "other".parse().unwrap(),
                ..subject
            },
            &rule
        ),
        Err(SignatureFailure::ReferenceMismatch { .. })
    ));
}

#[test]
fn a_signed_tag_must_match_the_tag_pushed() {
    let dir = format!("{CI}/key-valid-with-tag");
    let image = digest_of(&format!("{dir}/manifest.json"));
    let sig = containers_image_signature(&dir, "signature-1");
    let cosign = key(&format!("{CI}/keys/cosign.pub"));
    let rule = ReferenceRule::default();
    verify_with_key(
        &sig,
        &cosign,
        &subject("skopeo-signed", &image, Some("tag")),
        &rule,
    )
    .unwrap();
    // Pull by digest: no tag to compare.
    verify_with_key(
        &sig,
        &cosign,
        &subject("skopeo-signed", &image, None),
        &rule,
    )
    .unwrap();
    assert!(matches!(
        verify_with_key(
            &sig,
            &cosign,
            &subject("skopeo-signed", &image, Some("othertag")),
            &rule
        ),
        Err(SignatureFailure::ReferenceMismatch { .. })
    ));
}

#[test]
fn negative_fixtures_fail_for_their_stated_reasons() {
    let image = digest_of(&format!("{CI}/key-valid/manifest.json"));
    let subject = subject("cosign-signed-single-sample", &image, None);
    let unknown =
        containers_image_signature(&format!("{CI}/negative"), "unknown-cosign-key.signature");
    for key_name in ["cosign", "cosign2"] {
        assert_eq!(
            verify_with_key(
                &unknown,
                &key(&format!("{CI}/keys/{key_name}.pub")),
                &subject,
                &ReferenceRule::default()
            ),
            Err(SignatureFailure::SignatureMismatch)
        );
    }
    let annotations: BTreeMap<String, String> = serde_json::from_slice(&fixture(&format!(
        "{CI}/negative/other-attachment.signature.annotations.json"
    )))
    .unwrap();
    let payload = fixture(&format!(
        "{CI}/negative/other-attachment.signature.payload.json"
    ));
    assert!(matches!(
        CosignSignature::from_layer("text/plain", payload.clone(), &annotations),
        Err(SignatureFailure::WrongMediaType { .. })
    ));
    // Even taken as simple signing, its (copied) signature does not cover this payload.
    let relabelled =
        CosignSignature::from_layer(SIMPLE_SIGNING_MEDIA_TYPE, payload, &annotations).unwrap();
    assert_eq!(
        verify_with_key(
            &relabelled,
            &key(&format!("{CI}/keys/cosign.pub")),
            &subject,
            &ReferenceRule::default()
        ),
        Err(SignatureFailure::SignatureMismatch)
    );
}

#[test]
fn payload_checks_refuse_other_documents() {
    let s = subject("a", ALICE_IMAGE, None);
    let rule = ReferenceRule::default();
    assert!(matches!(
        check_payload(b"not json", &s, &rule),
        Err(SignatureFailure::PayloadMalformed(_))
    ));
    let wrong_type = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"a"}},"image":{{"docker-manifest-digest":"{ALICE_IMAGE}"}},"type":"atomic container signature"}}}}"#
    );
    assert!(matches!(
        check_payload(wrong_type.as_bytes(), &s, &rule),
        Err(SignatureFailure::PayloadType { .. })
    ));
    assert!(matches!(
        check_payload(&vec![b' '; MAX_PAYLOAD_BYTES + 1], &s, &rule),
        Err(SignatureFailure::PayloadMalformed(_))
    ));
}

#[test]
fn references_are_normalised_like_docker_does() {
    assert_eq!(
        split_reference("alpine"),
        ("library/alpine".to_owned(), None)
    );
    assert_eq!(
        split_reference("docker.io/alpine:3"),
        ("library/alpine".to_owned(), Some("3"))
    );
    assert_eq!(
        split_reference("localhost:5000/a/b:v1"),
        ("a/b".to_owned(), Some("v1"))
    );
    assert_eq!(
        split_reference("reg.example/a@sha256:00"),
        ("a".to_owned(), None)
    );
    assert_eq!(split_reference("team/app"), ("team/app".to_owned(), None));
}

#[test]
fn byo_pki_signature_verifies_with_the_configured_root_and_identity() {
    let dir = "cosign-pki/containers-image-pki";
    let image = digest_of(&format!("{dir}/manifest.json"));
    let subject = subject("test", &image, None);
    let sig = containers_image_signature(dir, "signature-1");
    let roots = fixture(&format!("{dir}/pki_root_crts.pem"));
    // The fixture's leaf carries no EKU: accepted only under the if-present policy.
    let bundle = CaBundle::from_pem(&roots, None)
        .unwrap()
        .with_eku_policy(EkuPolicy::IfPresent);
    let identity = IdentityConstraints {
        san_email: Some(Glob::text("qiwan@redhat.com").unwrap()),
        san_dns: Some(Glob::text("*.example.com").unwrap()),
        ..IdentityConstraints::default()
    };
    let rule = ReferenceRule::default();
    let ok = verify_with_pki(&sig, &bundle, &identity, NOW, &subject, &rule).unwrap();
    assert!(
        ok.certificate.subject.contains("Team A Cosign Certificate"),
        "{}",
        ok.certificate.subject
    );

    let wrong_identity = IdentityConstraints {
        san_email: Some(Glob::text("*@example.com").unwrap()),
        ..IdentityConstraints::default()
    };
    assert!(matches!(
        verify_with_pki(&sig, &bundle, &wrong_identity, NOW, &subject, &rule),
        Err(SignatureFailure::Identity(IdentityMismatch {
            field: crate::identity::IdentityField::SanEmail,
            ..
        }))
    ));
    let no_cert = CosignSignature {
        certificate_pem: None,
        ..sig.clone()
    };
    assert_eq!(
        verify_with_pki(&no_cert, &bundle, &identity, NOW, &subject, &rule),
        Err(SignatureFailure::NoCertificate)
    );
    let no_chain = CosignSignature {
        chain_pem: None,
        ..sig.clone()
    };
    assert_eq!(
        verify_with_pki(&no_chain, &bundle, &identity, NOW, &subject, &rule),
        Err(SignatureFailure::Chain(ChainError::UnknownIssuer))
    );
    let with_inters = CaBundle::from_pem(
        &roots,
        Some(&fixture(&format!("{dir}/pki_intermediate_crts.pem"))),
    )
    .unwrap()
    .with_eku_policy(EkuPolicy::IfPresent);
    verify_with_pki(&no_chain, &with_inters, &identity, NOW, &subject, &rule).unwrap();
    // Under the default EKU policy the same signature is refused, with the reason.
    let strict = CaBundle::from_pem(&roots, None).unwrap();
    assert_eq!(
        verify_with_pki(&sig, &strict, &identity, NOW, &subject, &rule),
        Err(SignatureFailure::Chain(ChainError::NoCodeSigningEku))
    );
}

#[test]
fn referrers_mode_manifests_carry_the_same_layers() {
    // cosign's OCI 1.1 mode: the same simple-signing layers in a manifest with `subject` and
    // an artifactType, found through the referrers API instead of the .sig tag.
    let hex = ALICE_IMAGE.strip_prefix("sha256:").unwrap();
    let legacy: serde_json::Value = serde_json::from_slice(&fixture(&format!(
        "{CONNAISSEUR}/manifests/sha256-{hex}.sig.json"
    )))
    .unwrap();
    let referrer = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": legacy["layers"],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 100, "digest": ALICE_IMAGE},
    });
    let sigs =
        parse_signature_manifest(referrer.to_string().as_bytes(), &connaisseur_blob).unwrap();
    let sig = sigs.into_iter().next().unwrap().unwrap();
    verify_with_key(
        &sig,
        &key(&format!("{CONNAISSEUR}/keys/alice.pub")),
        &subject(TESTIMAGE, ALICE_IMAGE, None),
        &ReferenceRule::default(),
    )
    .unwrap();
}

#[test]
fn layers_and_chains_are_bounded() {
    let layer = serde_json::json!({
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": format!("sha256:{}", "0".repeat(64)),
        "annotations": { ANNOTATION_SIGNATURE: "AAAA" },
    });
    let manifest = |n: usize| {
        serde_json::to_vec(&serde_json::json!({ "layers": vec![layer.clone(); n] })).unwrap()
    };
    let none = |_: &Digest| None;
    assert_eq!(
        parse_signature_manifest(&manifest(MAX_SIGNATURE_LAYERS), &none)
            .unwrap()
            .len(),
        MAX_SIGNATURE_LAYERS
    );
    assert_eq!(
        parse_signature_manifest(&manifest(MAX_SIGNATURE_LAYERS + 1), &none).err(),
        Some(ManifestError::TooManyLayers(MAX_SIGNATURE_LAYERS + 1))
    );
    // A chain annotation of junk certificates is refused by count, before any is parsed.
    let mut sig = connaisseur_signatures(
        "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81",
    )
    .remove(0);
    sig.chain_pem = Some(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            .repeat(MAX_CHAIN_CERTIFICATES + 1),
    );
    assert_eq!(
        sig.chain().err(),
        Some(SignatureFailure::ChainTooLong(MAX_CHAIN_CERTIFICATES + 1))
    );
}
