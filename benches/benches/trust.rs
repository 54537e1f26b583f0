//! What trust decisions cost: one signature check of each kind, and a whole evaluation.
//! Inputs are the real fixtures in `policies/tests/fixtures` and a generated PKI with a CRL.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber,
    date_time_ymd,
};
use sealgate_policies::bundle::SigstoreBundle;
use sealgate_policies::config::{RawKey, RawKeyless, RawPolicy, RawRequire, RawScope, RawTrust};
use sealgate_policies::cosign::{
    CosignSignature, ReferenceRule, SIMPLE_SIGNING_MEDIA_TYPE, Subject, parse_signature_manifest,
    verify_with_key,
};
use sealgate_policies::crypto::{PublicKey, RsaScheme};
use sealgate_policies::glob::Glob;
use sealgate_policies::oci::Digest;
use sealgate_policies::pki::CaBundle;
use sealgate_policies::policy::{LoadError, Policy};
use sealgate_policies::sigstore::{
    BundleSigner, KeylessIdentity, SigstoreTrust, verify_bundle, verify_cosign_keyless,
};
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Evidence, evaluate};
use sealgate_policies::x509::CertificateInfo;
use sha2::Digest as _;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/tests/fixtures");
const NOW: UnixTime = UnixTime(1_795_756_528);
const CONNAISSEUR: &str = "cosign-legacy/connaisseur-testimage";
const ABC_IMAGE: &str = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture")
}

fn connaisseur_layers(image: &str) -> Vec<CosignSignature> {
    let manifest = fixture(&format!(
        "{CONNAISSEUR}/manifests/sha256-{}.sig.json",
        &image[7..]
    ));
    let blob = |d: &Digest| {
        std::fs::read(format!("{FIXTURES}/{CONNAISSEUR}/blobs/sha256/{}", d.hex()))
            .ok()
            .map(bytes::Bytes::from)
    };
    parse_signature_manifest(&manifest, &blob)
        .expect("manifest")
        .into_iter()
        .map(|l| l.expect("layer"))
        .collect()
}

fn subject(repository: &str, digest: &str) -> Subject {
    Subject {
        repository: repository.parse().expect("name"),
        digest: digest.parse().expect("digest"),
        tag: None,
    }
}

fn cosign_key(c: &mut Criterion) {
    let image = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";
    let layer = connaisseur_layers(image).remove(0);
    let key = PublicKey::from_pem(
        &fixture(&format!("{CONNAISSEUR}/keys/alice.pub")),
        RsaScheme::Pkcs1,
    )
    .expect("key");
    let subject = subject("securesystemsengineering/testimage", image);
    let rule = ReferenceRule::default();
    c.bench_function("cosign key signature (ECDSA P-256) + payload checks", |b| {
        b.iter(|| verify_with_key(black_box(&layer), &key, &subject, &rule).expect("verifies"))
    });
}

fn pki_chain_with_crl(c: &mut Criterion) {
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(vec![]).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    };
    let root_key = KeyPair::generate().expect("key");
    let root_params = ca("Bench Root");
    let root = root_params.self_signed(&root_key).expect("root");
    let root_issuer = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate().expect("key");
    let inter_params = ca("Bench Signing CA");
    let inter = inter_params
        .signed_by(&inter_key, &root_issuer)
        .expect("intermediate");
    let inter_issuer = Issuer::new(inter_params, inter_key);
    let mut leaf_params = CertificateParams::new(vec![]).expect("params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "bench signer");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let leaf = leaf_params
        .signed_by(&KeyPair::generate().expect("key"), &inter_issuer)
        .expect("leaf");
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2025, 1, 1),
        next_update: date_time_ymd(2030, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: (0..100u64)
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(0x10_0000 + s),
                revocation_time: date_time_ymd(2025, 6, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&inter_issuer)
    .expect("crl");
    let mut bundle =
        CaBundle::from_pem(root.pem().as_bytes(), Some(inter.pem().as_bytes())).expect("bundle");
    bundle
        .add_crl(crl.pem().expect("pem").as_bytes())
        .expect("crl loads");
    let leaf = CertificateInfo::from_der(leaf.der()).expect("leaf");
    c.bench_function(
        "PKI chain root->intermediate->leaf + CRL of 100 entries",
        |b| b.iter(|| bundle.verify(black_box(&leaf), &[], NOW).expect("chains")),
    );
}

fn public_good() -> SigstoreTrust {
    SigstoreTrust::from_json(&fixture("bundle-v0.3/trusted_root.public-good.json")).expect("trust")
}

fn keyless(c: &mut Criterion) {
    let trust = public_good();
    let bundle = SigstoreBundle::from_json(&fixture(
        "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json",
    ))
    .expect("bundle");
    let digest: Digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"
        .parse()
        .expect("digest");
    let identity = KeylessIdentity {
        san: Glob::text("https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/*").expect("glob"),
        issuer: Glob::text("https://token.actions.githubusercontent.com").expect("glob"),
    };
    c.bench_function(
        "keyless bundle v0.3 (DSSE, Rekor SET + inclusion proof, Fulcio chain)",
        |b| {
            b.iter(|| {
                verify_bundle(
                    black_box(&bundle),
                    None,
                    &digest,
                    BundleSigner::Keyless {
                        trust: &trust,
                        identity: &identity,
                    },
                    NOW,
                )
                .expect("verifies")
            })
        },
    );

    let dir = "cosign-keyless/containers-image-fulcio-rekor";
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&fixture(&format!("{dir}/signature-1.annotations.json")))
            .expect("annotations");
    let layer = CosignSignature::from_layer(
        SIMPLE_SIGNING_MEDIA_TYPE,
        fixture(&format!("{dir}/signature-1.payload.json")),
        &annotations,
    )
    .expect("layer");
    let manifest = fixture(&format!("{dir}/manifest.json"));
    let digest = format!(
        "sha256:{}",
        sha2::Sha256::digest(&manifest)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let subject = subject("cosign-signed/fulcio-rekor-1", &digest);
    let identity = KeylessIdentity {
        san: Glob::text("mitr@redhat.com").expect("glob"),
        issuer: Glob::text("https://github.com/login/oauth").expect("glob"),
    };
    c.bench_function(
        "keyless cosign layer (certificate, chain, Rekor SET)",
        |b| {
            b.iter(|| {
                verify_cosign_keyless(
                    black_box(&layer),
                    &trust,
                    &identity,
                    NOW,
                    &subject,
                    &ReferenceRule::default(),
                )
                .expect("verifies")
            })
        },
    );
}

fn evaluation(c: &mut Criterion) {
    let mut trust = RawTrust::default();
    for name in ["alice", "bob"] {
        trust.keys.insert(
            name.to_owned(),
            RawKey {
                path: format!("{CONNAISSEUR}/keys/{name}.pub"),
                rsa_scheme: RsaScheme::Pkcs1,
                trusted_root: None,
            },
        );
    }
    let policy = RawPolicy {
        default: RawScope {
            signers: vec!["alice".to_owned(), "bob".to_owned()],
            require: Some(RawRequire::Threshold(2)),
            ..RawScope::default()
        },
        scopes: vec![],
    };
    let mut load = |p: &str| {
        std::fs::read(format!("{FIXTURES}/{p}")).map_err(|source| LoadError {
            path: p.into(),
            source,
        })
    };
    let policy = Policy::build(&trust, &policy, &mut load, 1).expect("policy");
    let evidence: Vec<Evidence> = connaisseur_layers(ABC_IMAGE)
        .into_iter()
        .enumerate()
        .map(|(i, signature)| Evidence::Cosign {
            signature,
            observed: NOW,
            source: format!("layer {i}"),
        })
        .collect();
    let subject = subject("securesystemsengineering/testimage", ABC_IMAGE);
    c.bench_function("evaluate: 3 layers x 2 key signers, threshold 2", |b| {
        b.iter(|| {
            assert!(
                evaluate(&policy, black_box(&subject), &evidence, NOW)
                    .admitted()
                    .is_some()
            )
        })
    });
}

/// The most work one decision may cost: MAX_EVIDENCE keyless layers, each verified up to its
/// last check (the payload names another image) against three keyless signers whose globs all
/// match its identity.
fn worst_case(c: &mut Criterion) {
    let mut trust = RawTrust::default();
    for (name, san) in [
        ("exact", "mitr@redhat.com"),
        ("domain", "*@redhat.com"),
        ("any", "*"),
    ] {
        trust.keyless.insert(
            name.to_owned(),
            RawKeyless {
                trusted_root: "bundle-v0.3/trusted_root.public-good.json".to_owned(),
                san: san.to_owned(),
                issuer: "https://github.com/login/oauth".to_owned(),
            },
        );
    }
    let policy = RawPolicy {
        default: RawScope {
            signers: vec!["exact".to_owned(), "domain".to_owned(), "any".to_owned()],
            ..RawScope::default()
        },
        scopes: vec![],
    };
    let mut load = |p: &str| {
        std::fs::read(format!("{FIXTURES}/{p}")).map_err(|source| LoadError {
            path: p.into(),
            source,
        })
    };
    let policy = Policy::build(&trust, &policy, &mut load, 1).expect("policy");
    let dir = "cosign-keyless/containers-image-fulcio-rekor";
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&fixture(&format!("{dir}/signature-1.annotations.json")))
            .expect("annotations");
    let layer = CosignSignature::from_layer(
        SIMPLE_SIGNING_MEDIA_TYPE,
        fixture(&format!("{dir}/signature-1.payload.json")),
        &annotations,
    )
    .expect("layer");
    // Far more than evaluated: the rest are never looked at.
    let evidence: Vec<Evidence> = (0..1000)
        .map(|i| Evidence::Cosign {
            signature: layer.clone(),
            observed: NOW,
            source: format!("layer {i}"),
        })
        .collect();
    let subject = subject(
        "cosign-signed/fulcio-rekor-1",
        &format!("sha256:{}", "1".repeat(64)),
    );
    c.bench_function(
        "evaluate worst case: 32 keyless layers x 3 matching keyless signers, all refused",
        |b| {
            b.iter(|| {
                assert!(
                    evaluate(&policy, black_box(&subject), &evidence, NOW)
                        .admitted()
                        .is_none()
                )
            })
        },
    );
}

criterion_group!(
    trust_benches,
    cosign_key,
    pki_chain_with_crl,
    keyless,
    evaluation,
    worst_case
);
criterion_main!(trust_benches);
