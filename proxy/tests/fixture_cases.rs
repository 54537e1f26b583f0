//! Every case of the shared fixture set (`policies/tests/fixtures/cases.json`: real signatures
//! made by cosign, containers/image and sigstore clients) run through `sealgate verify`, with
//! the expected result and, for refusals, the reason. Cases the engine cannot express yet are
//! listed in `NOT_EXPRESSIBLE` with why; the test fails if a case is neither run nor listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use base64::Engine as _;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/tests/fixtures");
const PUBLIC_GOOD: &str = "bundle-v0.3/trusted_root.public-good.json";
const SIGSTORE_JSON_MAGIC: &[u8] = b"\x00sigstore-json\n";

/// Cases (or parts of cases) sealgate does not verify yet, and why.
const NOT_EXPRESSIBLE: &[(&str, &str)] = &[
    (
        "notation/",
        "notation JWS/COSE envelopes are not a format sealgate verifies (cosign and sigstore bundles are)",
    ),
    (
        "pki/notation-core-go-delta-crl",
        "delta CRLs are CRL parser edge cases; sealgate refuses delta CRLs (webpki)",
    ),
    (
        "pki/notation-core-go-tsa-chain",
        "a bare TSA chain, not a signature; sealgate verifies TSAs from a trusted root (policies' timestamp tests use the sigstore and GlobalSign TSAs)",
    ),
    (
        "pki/notation-crl",
        "exercised by policies' unit tests on CaBundle (the notation leaf has no EKU and is not a cosign signer)",
    ),
];

/// What `sealgate verify` must say.
enum Expect {
    Admitted,
    /// Refused, and the output contains this text.
    Refused(&'static str),
    /// The trust given cannot be used at all (exit 2), and the output says this.
    UnusableTrust(&'static str),
}

fn fixture(path: &str) -> String {
    format!("{FIXTURES}/{path}")
}

fn run(args: &[String]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("verify")
        .args(args)
        .output()
        .expect("run sealgate verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn check(case: &str, args: Vec<String>, expect: Expect, failures: &mut Vec<String>) {
    let (code, output) = run(&args);
    let ok = match &expect {
        Expect::Admitted => code == 0,
        Expect::Refused(reason) => code == 1 && output.contains(reason),
        Expect::UnusableTrust(reason) => code == 2 && output.contains(reason),
    };
    if !ok {
        let want = match expect {
            Expect::Admitted => "admitted (exit 0)".to_owned(),
            Expect::Refused(r) => format!("refused (exit 1) because {r:?}"),
            Expect::UnusableTrust(r) => format!("unusable trust (exit 2) because {r:?}"),
        };
        failures.push(format!(
            "{case}: expected {want}, got exit {code}:\n{output}\nargs: {args:?}"
        ));
    }
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Writes a containers/image sigstore-json signature file.
fn sigstore_json(
    dir: &Path,
    name: &str,
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
) -> String {
    let body = serde_json::json!({
        "mimeType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "payload": base64::engine::general_purpose::STANDARD.encode(payload),
        "annotations": annotations,
    });
    let mut bytes = SIGSTORE_JSON_MAGIC.to_vec();
    bytes.extend_from_slice(body.to_string().as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write sigstore-json");
    path.to_str().expect("utf-8 temp path").to_owned()
}

/// The decoded payload and annotations of a containers/image signature, with some annotations
/// removed, written back as a new signature file.
fn without_annotations(dir: &Path, signature: &str, drop: &[&str]) -> String {
    let payload = std::fs::read(fixture(&format!("{signature}.payload.json"))).expect("payload");
    let mut annotations: BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(fixture(&format!("{signature}.annotations.json"))).expect("annotations"),
    )
    .expect("annotations JSON");
    for key in drop {
        assert!(
            annotations.remove(*key).is_some(),
            "{signature} has no {key}"
        );
    }
    sigstore_json(
        dir,
        &format!("dropped-{}", drop.join("-").replace('/', "_")),
        &payload,
        &annotations,
    )
}

fn keyless(identity: &str, issuer: &str) -> Vec<String> {
    args(&[
        "--trusted-root",
        &fixture(PUBLIC_GOOD),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ])
}

fn cosign_cases(dir: &Path, failures: &mut Vec<String>) -> BTreeSet<&'static str> {
    let connaisseur = |p: &str| fixture(&format!("cosign-legacy/connaisseur-testimage/{p}"));
    let alice_image = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";
    let abc_image = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";
    let sig_of = |image: &str| connaisseur(&format!("manifests/sha256-{}.sig.json", &image[7..]));
    let blobs = || -> Vec<String> {
        std::fs::read_dir(connaisseur("blobs/sha256"))
            .expect("blobs")
            .map(|e| e.expect("entry").path().to_str().expect("utf-8").to_owned())
            .collect()
    };
    let testimage = "securesystemsengineering/testimage";

    // cosign-legacy/connaisseur/alice
    for (key, expect) in [
        ("alice", Expect::Admitted),
        ("bob", Expect::Refused("signature does not verify")),
        ("default", Expect::Refused("signature does not verify")),
    ] {
        let mut a = args(&[
            "--key",
            &connaisseur(&format!("keys/{key}.pub")),
            "--repository",
            testimage,
            "--digest",
            alice_image,
            &sig_of(alice_image),
        ]);
        a.extend(blobs());
        check(
            &format!("connaisseur/alice with {key}"),
            a,
            expect,
            failures,
        );
    }

    // cosign-legacy/connaisseur/alice-bob-charlie: thresholds need a configuration.
    let threshold = |signers: &[&str], require: u32| {
        let mut toml = String::new();
        for s in ["alice", "bob", "charlie", "default"] {
            toml.push_str(&format!(
                "[trust.keys.{s}]\npath = \"{}\"\n",
                connaisseur(&format!("keys/{s}.pub"))
            ));
        }
        let list: Vec<String> = signers.iter().map(|s| format!("\"{s}\"")).collect();
        toml.push_str(&format!(
            "[policy.default]\nsigners = [{}]\nrequire = {require}\n[storage]\npath = \"unused\"\n[[upstream]]\nname = \"x\"\nurl = \"http://127.0.0.1:1\"\n",
            list.join(", ")
        ));
        let path = dir.join(format!("threshold-{}-{require}.toml", signers.join("-")));
        std::fs::write(&path, toml).expect("write config");
        let mut a = args(&[
            "--config",
            path.to_str().expect("utf-8"),
            "--repository",
            testimage,
            "--digest",
            abc_image,
            &sig_of(abc_image),
        ]);
        a.extend(blobs());
        a
    };
    check(
        "alice-bob-charlie threshold 2 of {alice,bob}",
        threshold(&["alice", "bob"], 2),
        Expect::Admitted,
        failures,
    );
    // "threshold 3 over {alice,bob}" is a configuration error here (3 > 2 signers); the same
    // question with a third, non-signing trusted key is refused.
    check(
        "alice-bob-charlie threshold 3 of {alice,bob,default}",
        threshold(&["alice", "bob", "default"], 3),
        Expect::Refused("missing default"),
        failures,
    );
    let mut a = args(&[
        "--key",
        &connaisseur("keys/charlie.pub"),
        "--repository",
        testimage,
        "--digest",
        abc_image,
        &sig_of(abc_image),
    ]);
    a.extend(blobs());
    check(
        "alice-bob-charlie with charlie",
        a,
        Expect::Admitted,
        failures,
    );

    // containers/image key signatures.
    let ci = |p: &str| fixture(&format!("cosign-legacy/containers-image/{p}"));
    let key_valid = |key: &str, repo: &str, tag: Option<&str>, artifact: &str, sig: &str| {
        let mut a = args(&[
            "--key",
            &ci(&format!("keys/{key}.pub")),
            "--repository",
            repo,
            "--artifact",
            artifact,
            sig,
        ]);
        if let Some(t) = tag {
            a.extend(args(&["--tag", t]));
        }
        a
    };
    let manifest = ci("key-valid/manifest.json");
    for sig in ["signature-1", "signature-2"] {
        let s = ci(&format!("key-valid/{sig}"));
        check(
            &format!("key-valid {sig} with cosign"),
            key_valid("cosign", "cosign-signed-single-sample", None, &manifest, &s),
            Expect::Admitted,
            failures,
        );
        check(
            &format!("key-valid {sig} with cosign2"),
            key_valid(
                "cosign2",
                "cosign-signed-single-sample",
                None,
                &manifest,
                &s,
            ),
            Expect::Refused("signature does not verify"),
            failures,
        );
    }
    check(
        "key-valid against the modified manifest",
        key_valid(
            "cosign",
            "cosign-signed-single-sample",
            None,
            &ci("negative/modified-manifest.json"),
            &ci("key-valid/signature-1"),
        ),
        Expect::Refused("signature is for sha256:634a8f35"),
        failures,
    );
    check(
        "key-valid for this/does-not:match",
        key_valid(
            "cosign",
            "this/does-not",
            Some("match"),
            &manifest,
            &ci("key-valid/signature-1"),
        ),
        Expect::Refused("signature names"),
        failures,
    );
    let tagged = ci("key-valid-with-tag/manifest.json");
    let tagged_sig = ci("key-valid-with-tag/signature-1");
    check(
        "key-valid-with-tag :tag",
        key_valid("cosign", "skopeo-signed", Some("tag"), &tagged, &tagged_sig),
        Expect::Admitted,
        failures,
    );
    check(
        "key-valid-with-tag :othertag",
        key_valid(
            "cosign",
            "skopeo-signed",
            Some("othertag"),
            &tagged,
            &tagged_sig,
        ),
        Expect::Refused("expected repository \"skopeo-signed:othertag\""),
        failures,
    );

    // Key + Rekor.
    let rekor_manifest = ci("key-rekor-valid/manifest.json");
    let rekor_sig = ci("key-rekor-valid/signature-1");
    let with_root = |key: &str, root: &str| {
        let mut a = key_valid(
            key,
            "cosign-signed/key-1",
            None,
            &rekor_manifest,
            &rekor_sig,
        );
        a.extend(args(&["--trusted-root", &fixture(root)]));
        a
    };
    check(
        "key-rekor-valid with cosign2 + Rekor",
        with_root("cosign2", PUBLIC_GOOD),
        Expect::Admitted,
        failures,
    );
    // Another instance's log key (sigstore staging) cannot vouch for this SET.
    check(
        "key-rekor-valid against a non-Rekor log key",
        with_root(
            "cosign2",
            "bundle-v0.3/conformance/managed-key-and-trusted-root/trusted_root.json",
        ),
        Expect::Refused("transparency log"),
        failures,
    );
    check(
        "key-rekor-valid with cosign",
        with_root("cosign", PUBLIC_GOOD),
        Expect::Refused("signature does not verify"),
        failures,
    );
    let no_bundle = without_annotations(
        dir,
        "cosign-legacy/containers-image/key-rekor-valid/signature-1",
        &["dev.sigstore.cosign/bundle"],
    );
    let mut a = key_valid(
        "cosign2",
        "cosign-signed/key-1",
        None,
        &rekor_manifest,
        &no_bundle,
    );
    a.extend(args(&["--trusted-root", &fixture(PUBLIC_GOOD)]));
    check(
        "key-rekor-valid without its bundle while Rekor is required",
        a,
        Expect::Refused("no transparency-log"),
        failures,
    );

    // Negative containers/image signatures.
    for key in ["cosign", "cosign2"] {
        check(
            &format!("unknown-cosign-key with {key}"),
            key_valid(
                key,
                "cosign-signed-single-sample",
                None,
                &manifest,
                &ci("negative/unknown-cosign-key.signature"),
            ),
            Expect::Refused("signature does not verify"),
            failures,
        );
    }
    check(
        "other-attachment",
        key_valid(
            "cosign",
            "cosign-signed-single-sample",
            None,
            &manifest,
            &ci("negative/other-attachment.signature"),
        ),
        Expect::Refused("layer media type is \"text/plain\""),
        failures,
    );

    // Keyless cosign signatures (trust: fulcio_v1 + rekor.pub, both in the public-good root).
    let ck = |p: &str| fixture(&format!("cosign-keyless/connaisseur-rekor-test/{p}"));
    let ck_image = "sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee";
    let ck_args = |identity: &str, issuer: &str| {
        let mut a = keyless(identity, issuer);
        a.extend(args(&[
            "--repository",
            "phbelitz/rekor-test",
            "--digest",
            ck_image,
            &ck(&format!("manifests/sha256-{}.sig.json", &ck_image[7..])),
        ]));
        a.push(ck(
            "blobs/sha256/897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065",
        ));
        a
    };
    check(
        "connaisseur-rekor-test philipp/github",
        ck_args("*philipp*", "*github*"),
        Expect::Admitted,
        failures,
    );
    check(
        "connaisseur-rekor-test bob@gmail.com/google",
        ck_args("bob@gmail.com", "https://accounts.google.com"),
        Expect::Refused("does not match \"bob@gmail.com\""),
        failures,
    );

    let fr = |p: &str| fixture(&format!("cosign-keyless/containers-image-fulcio-rekor/{p}"));
    let fr_args = |identity: &str, sig: &str| {
        let mut a = keyless(identity, "https://github.com/login/oauth");
        a.extend(args(&[
            "--repository",
            "cosign-signed/fulcio-rekor-1",
            "--artifact",
            &fr("manifest.json"),
            sig,
        ]));
        a
    };
    check(
        "fulcio-rekor",
        fr_args("mitr@redhat.com", &fr("signature-1")),
        Expect::Admitted,
        failures,
    );
    let base = "cosign-keyless/containers-image-fulcio-rekor/signature-1";
    check(
        "fulcio-rekor without its bundle",
        fr_args(
            "mitr@redhat.com",
            &without_annotations(dir, base, &["dev.sigstore.cosign/bundle"]),
        ),
        Expect::Refused("no transparency-log"),
        failures,
    );
    check(
        "fulcio-rekor with another identity",
        fr_args("this-does-not-match@example.com", &fr("signature-1")),
        Expect::Refused("does not match"),
        failures,
    );
    // Without the chain annotation the public-good root still holds the Fulcio intermediate
    // (the fixture's "valid only if the intermediate itself is trusted"): admitted.
    check(
        "fulcio-rekor without its chain, intermediate trusted",
        fr_args(
            "mitr@redhat.com",
            &without_annotations(dir, base, &["dev.sigstore.cosign/chain"]),
        ),
        Expect::Admitted,
        failures,
    );

    // The raw pieces of one keyless signature, assembled into a layer.
    let rp = |p: &str| {
        std::fs::read(fixture(&format!(
            "cosign-keyless/containers-image-rekor-pieces/{p}"
        )))
        .expect("piece")
    };
    let text = |p: &str| {
        String::from_utf8(rp(p))
            .expect("utf-8 piece")
            .trim()
            .to_owned()
    };
    let annotations = BTreeMap::from([
        (
            "dev.cosignproject.cosign/signature".to_owned(),
            text("rekor-sig"),
        ),
        (
            "dev.sigstore.cosign/certificate".to_owned(),
            text("rekor-cert"),
        ),
        ("dev.sigstore.cosign/chain".to_owned(), text("fulcio-chain")),
        ("dev.sigstore.cosign/bundle".to_owned(), text("rekor-set")),
    ]);
    let payload = rp("rekor-payload");
    let digest = serde_json::from_slice::<serde_json::Value>(&payload).expect("payload JSON")["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let layer = sigstore_json(dir, "rekor-pieces", &payload, &annotations);
    let mut a = keyless("mitr@redhat.com", "https://github.com/login/oauth");
    a.extend(args(&[
        "--repository",
        "test-repo-2100826901021538654/alpine",
        "--digest",
        &digest,
        &layer,
    ]));
    check("rekor-pieces", a, Expect::Admitted, failures);

    // BYO PKI.
    let pki = |p: &str| fixture(&format!("cosign-pki/containers-image-pki/{p}"));
    let both = dir.join("pki-both.pem");
    let mut pem = std::fs::read(pki("pki_root_crts.pem")).expect("roots");
    pem.extend(std::fs::read(pki("pki_intermediate_crts.pem")).expect("intermediates"));
    std::fs::write(&both, pem).expect("write");
    let pki_args = |ca: &str, sig: &str| {
        args(&[
            "--ca",
            ca,
            "--allow-missing-eku",
            "--certificate-identity",
            "qiwan@redhat.com",
            "--repository",
            "test",
            "--artifact",
            &pki("manifest.json"),
            sig,
        ])
    };
    let pki_base = "cosign-pki/containers-image-pki/signature-1";
    check(
        "pki",
        pki_args(both.to_str().expect("utf-8"), &pki("signature-1")),
        Expect::Admitted,
        failures,
    );
    check(
        "pki without chain, roots only",
        pki_args(
            &pki("pki_root_crts.pem"),
            &without_annotations(dir, pki_base, &["dev.sigstore.cosign/chain"]),
        ),
        Expect::Refused("does not chain to a trusted root"),
        failures,
    );
    check(
        "pki without certificate",
        pki_args(
            &pki("pki_root_crts.pem"),
            &without_annotations(dir, pki_base, &["dev.sigstore.cosign/certificate"]),
        ),
        Expect::Refused("no signing certificate"),
        failures,
    );

    BTreeSet::from([
        "cosign-legacy/connaisseur/alice",
        "cosign-legacy/connaisseur/alice-bob-charlie",
        "cosign-legacy/containers-image/key-valid",
        "cosign-legacy/containers-image/key-valid-with-tag",
        "cosign-legacy/containers-image/key-rekor-valid",
        "cosign-legacy/containers-image/negative",
        "cosign-keyless/connaisseur-rekor-test",
        "cosign-keyless/containers-image-fulcio-rekor",
        "cosign-keyless/containers-image-rekor-pieces",
        "cosign-pki/containers-image-pki",
    ])
}

/// The OCI bundles and the conformance bundles, driven by cases.json itself.
fn bundle_cases(cases: &[serde_json::Value], failures: &mut Vec<String>) -> BTreeSet<String> {
    // The specific reason each refusal must give.
    let reasons: BTreeMap<&str, &str> = BTreeMap::from([
        ("signature-mismatch_fail", "signature does not verify"),
        ("wrong-material_fail", "signature is for"),
        ("message-digest-mismatch_fail", "signature is for"),
        ("set-invalid-signature_fail", "transparency log"),
        ("inclusion-proof-corrupted-hash_fail", "transparency log"),
        ("invalid-inclusion-proof_fail", "has no checkpoint"),
        ("checkpoint-bad-keyhint_fail", "transparency log"),
        ("checkpoint-wrong-roothash_fail", "transparency log"),
        ("invalid-checkpoint-signature_fail", "transparency log"),
        ("incorrect-public-key_fail", "transparency log"),
        ("bundle-from-wrong-instance_fail", "transparency log"),
        ("dsse-invalid-sig_fail", "signature does not verify"),
        (
            "dsse-mismatch-sig_fail",
            "log entry does not match the bundle",
        ),
        (
            "dsse-mismatch-envelope_fail",
            "log entry does not match the bundle: DSSE payload hash mismatch",
        ),
        (
            "wrong-hashedrekord-entry_fail",
            "log entry does not match the bundle",
        ),
        ("integrated-time-in-future_fail", "CertExpired"),
        ("bundle-with-root-cert_fail", "includes a root certificate"),
        ("rekor2-no-timestamp_fail", "no verified timestamp"),
        (
            "rekor2-timestamp-payload-mismatch_fail",
            "timestamp: invalid RFC 3161 timestamp: TSA timestamp verification failed: Timestamp message hash mismatch",
        ),
        ("invalid-ct-key_fail", "certificate transparency"),
    ]);
    let mut ran = BTreeSet::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        if !id.starts_with("bundle-v0.3/") || NOT_EXPRESSIBLE.iter().any(|(p, _)| id.starts_with(p))
        {
            continue;
        }
        let s = |k: &str| case[k].as_str().map(str::to_owned);
        let bundle = fixture(&s("bundle").expect("bundle"));
        let mut a = match (s("public_key"), s("certificate_identity")) {
            (Some(key), _) => {
                let mut a = args(&["--key", &fixture(&key)]);
                a.extend(args(&[
                    "--trusted-root",
                    &fixture(&s("trusted_root").unwrap_or_else(|| PUBLIC_GOOD.to_owned())),
                ]));
                a
            }
            (None, Some(identity)) => args(&[
                "--trusted-root",
                &fixture(&s("trusted_root").unwrap_or_else(|| PUBLIC_GOOD.to_owned())),
                "--certificate-identity",
                &identity,
                "--certificate-oidc-issuer",
                &s("certificate_oidc_issuer").expect("issuer"),
            ]),
            (None, None) => panic!("{id}: neither key nor identity"),
        };
        a.extend(args(&["--repository", "conformance"]));
        match (s("artifact"), s("subject_digest")) {
            (Some(artifact), _) => a.extend(args(&["--artifact", &fixture(&artifact)])),
            (None, Some(digest)) => a.extend(args(&["--digest", &digest])),
            (None, None) => panic!("{id}: no artifact or digest"),
        }
        a.push(bundle);
        let short = id.rsplit('/').next().expect("name");
        match &case["expected"] {
            serde_json::Value::String(e) if e == "valid" => {
                check(id, a, Expect::Admitted, failures)
            }
            // The corrupted key.pub is trust that cannot be loaded: a usage error naming it.
            serde_json::Value::String(e)
                if e == "invalid" && short == "managed-key-wrong-key_fail" =>
            {
                check(
                    id,
                    a,
                    Expect::UnusableTrust("not a PEM public key"),
                    failures,
                );
            }
            serde_json::Value::String(e) if e == "invalid" => {
                let reason = reasons
                    .get(short)
                    .unwrap_or_else(|| panic!("{id}: no expected reason listed"));
                check(id, a, Expect::Refused(reason), failures);
            }
            serde_json::Value::Array(entries) => {
                // The OCI bundles: valid as given; refused for another identity or digest.
                assert_eq!(entries[0]["result"], "valid", "{id}");
                check(id, a.clone(), Expect::Admitted, failures);
                let mut other_identity = a.clone();
                if let Some(i) = other_identity
                    .iter()
                    .position(|x| x == "--certificate-identity")
                {
                    other_identity[i + 1] = "someone-else@example.com".to_owned();
                    check(
                        &format!("{id} other identity"),
                        other_identity,
                        Expect::Refused("does not match"),
                        failures,
                    );
                }
                if let Some(i) = a.iter().position(|x| x == "--digest") {
                    let mut other_digest = a.clone();
                    other_digest[i + 1] = format!("sha256:{}", "1".repeat(64));
                    check(
                        &format!("{id} other digest"),
                        other_digest,
                        Expect::Refused("signature is for"),
                        failures,
                    );
                }
            }
            other => panic!("{id}: unexpected expectation {other}"),
        }
        ran.insert(id.to_owned());
    }
    ran
}

#[test]
fn every_fixture_case_gives_its_expected_result() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(fixture("cases.json")).expect("cases.json"))
            .expect("cases.json is JSON");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let mut ran: BTreeSet<String> = cosign_cases(dir.path(), &mut failures)
        .into_iter()
        .map(str::to_owned)
        .collect();
    ran.extend(bundle_cases(&cases, &mut failures));

    let unaccounted: Vec<&str> = cases
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .filter(|id| !ran.contains(*id) && !NOT_EXPRESSIBLE.iter().any(|(p, _)| id.starts_with(p)))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "cases neither run nor listed as not expressible: {unaccounted:?}"
    );
    assert!(
        failures.is_empty(),
        "{} fixture expectation(s) not met:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{} fixture cases run through sealgate verify; {} listed as not expressible",
        ran.len(),
        cases.len() - ran.len()
    );
}
