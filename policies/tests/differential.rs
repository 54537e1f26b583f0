//! Differential test: every sigstore bundle fixture, and mutated copies of each (the bypass
//! classes of public advisories: proofs removed, media type downgraded, timestamps dropped,
//! signatures duplicated or flipped), through sealgate's bundle verification and through the
//! sigstore project's own verifier (`sigstore-verify`). Both must admit or refuse alike.

use std::collections::BTreeMap;

use base64::Engine as _;
use sealgate_policies::bundle::SigstoreBundle;
use sealgate_policies::crypto::{PublicKey, RsaScheme};
use sealgate_policies::glob::Glob;
use sealgate_policies::oci::{Digest, DigestAlgorithm};
use sealgate_policies::sigstore::{BundleSigner, KeylessIdentity, SigstoreTrust, verify_bundle};
use sealgate_policies::time::UnixTime;
use serde_json::Value;
use sha2::Digest as _;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const PUBLIC_GOOD: &str = "bundle-v0.3/trusted_root.public-good.json";
/// 2026-11-27, as the fixtures were checked.
const NOW: UnixTime = UnixTime(1_795_756_528);

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture")
}

/// Named edits of a bundle's JSON; `None` when the edit does not apply to this bundle.
type Mutation = (&'static str, fn(&mut Value) -> Option<()>);

fn first_entry(b: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    b.get_mut("verificationMaterial")?
        .get_mut("tlogEntries")?
        .get_mut(0)?
        .as_object_mut()
}

fn flip_b64(v: &mut Value) -> Option<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(v.as_str()?).ok()?;
    let last = bytes.last_mut()?;
    *last ^= 1;
    *v = Value::String(b64.encode(bytes));
    Some(())
}

const MUTATIONS: &[Mutation] = &[
    ("as given", |_| Some(())),
    ("media type downgraded to v0.1", |b| {
        b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
        Some(())
    }),
    ("inclusion proof removed", |b| {
        first_entry(b)?.remove("inclusionProof").map(|_| ())
    }),
    ("inclusion promise (SET) removed", |b| {
        first_entry(b)?.remove("inclusionPromise").map(|_| ())
    }),
    ("tlog entries removed", |b| {
        b["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
        Some(())
    }),
    ("RFC 3161 timestamps removed", |b| {
        b.get_mut("verificationMaterial")?
            .as_object_mut()?
            .remove("timestampVerificationData")
            .map(|_| ())
    }),
    ("integrated time moved", |b| {
        let t = first_entry(b)?.get_mut("integratedTime")?;
        let n: i64 = t.as_str()?.parse().ok()?;
        *t = Value::String((n + 3600).to_string());
        Some(())
    }),
    ("signature flipped", |b| {
        if let Some(sig) = b.pointer_mut("/messageSignature/signature") {
            return flip_b64(sig);
        }
        flip_b64(b.pointer_mut("/dsseEnvelope/signatures/0/sig")?)
    }),
    ("DSSE signature duplicated", |b| {
        let sigs = b.pointer_mut("/dsseEnvelope/signatures")?.as_array_mut()?;
        let first = sigs.first()?.clone();
        sigs.push(first);
        Some(())
    }),
    ("DSSE payload with a second subject", |b| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b.pointer_mut("/dsseEnvelope/payload")?;
        let mut statement: Value =
            serde_json::from_slice(&b64.decode(payload.as_str()?).ok()?).ok()?;
        let subjects = statement.get_mut("subject")?.as_array_mut()?;
        subjects.push(serde_json::json!({"name": "other", "digest": {"sha256": "1".repeat(64)}}));
        *payload = Value::String(b64.encode(serde_json::to_vec(&statement).ok()?));
        Some(())
    }),
];

/// How one case is to be verified.
struct Case {
    id: String,
    bundle: Value,
    trusted_root: Vec<u8>,
    /// Expected valid by cases.json.
    valid: bool,
    key: Option<Vec<u8>>,
    identity: Option<(String, String)>,
    artifact: Option<Vec<u8>>,
    digest: Digest,
}

fn cases() -> Vec<Case> {
    let cases: Vec<Value> = serde_json::from_slice(&read("cases.json")).expect("cases.json");
    let mut out = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        if !id.starts_with("bundle-v0.3/") {
            continue;
        }
        let s = |k: &str| case[k].as_str().map(str::to_owned);
        let key = s("public_key").map(|p| read(&p));
        // A corrupt key is configuration neither verifier accepts; nothing to compare.
        if key
            .as_ref()
            .is_some_and(|k| PublicKey::from_pem(k, RsaScheme::Pkcs1).is_err())
        {
            continue;
        }
        let artifact = s("artifact").map(|p| read(&p));
        let digest = match (&artifact, s("subject_digest")) {
            (Some(a), _) => Digest::from_hash(DigestAlgorithm::Sha256, &sha2::Sha256::digest(a))
                .expect("digest"),
            (None, Some(d)) => d.parse().expect("digest"),
            (None, None) => panic!("{id}: no artifact or digest"),
        };
        out.push(Case {
            id: id.to_owned(),
            bundle: serde_json::from_slice(&read(&s("bundle").expect("bundle"))).expect("JSON"),
            trusted_root: read(&s("trusted_root").unwrap_or_else(|| PUBLIC_GOOD.to_owned())),
            valid: case["expected"] == "valid" || case["expected"][0]["result"] == "valid",
            key,
            identity: s("certificate_identity").zip(s("certificate_oidc_issuer")),
            artifact,
            digest,
        });
    }
    out
}

fn sealgate_admits(case: &Case, bundle: &[u8]) -> Result<(), String> {
    let bundle = SigstoreBundle::from_json(bundle).map_err(|e| e.to_string())?;
    let trust = SigstoreTrust::from_json(&case.trusted_root).map_err(|e| e.to_string())?;
    let key;
    let identity;
    let signer = match (&case.key, &case.identity) {
        (Some(pem), _) => {
            key = PublicKey::from_pem(pem, RsaScheme::Pkcs1).map_err(|e| e.to_string())?;
            BundleSigner::Key {
                key: &key,
                tlog: Some(&trust),
            }
        }
        (None, Some((san, issuer))) => {
            identity = KeylessIdentity {
                san: Glob::text(san).map_err(|e| e.to_string())?,
                issuer: Glob::text(issuer).map_err(|e| e.to_string())?,
            };
            BundleSigner::Keyless {
                trust: &trust,
                identity: &identity,
            }
        }
        (None, None) => return Err("no signer".to_owned()),
    };
    verify_bundle(&bundle, case.artifact.as_deref(), &case.digest, signer, NOW)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn sigstore_admits(case: &Case, bundle: &str) -> Result<(), String> {
    let bundle = Bundle::from_json(bundle).map_err(|e| e.to_string())?;
    let root_json = String::from_utf8(case.trusted_root.clone()).map_err(|e| e.to_string())?;
    let root = sigstore_verify::trust_root::TrustedRoot::from_json(&root_json)
        .map_err(|e| e.to_string())?;
    let artifact = match &case.artifact {
        Some(bytes) => Artifact::from(bytes),
        None => Artifact::from(Sha256Hash::from_hex(case.digest.hex()).map_err(|e| e.to_string())?),
    };
    let result = match (&case.key, &case.identity) {
        (Some(pem), _) => {
            let key = DerPublicKey::from_pem(std::str::from_utf8(pem).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            sigstore_verify::verify(
                artifact,
                &bundle,
                &PublicKeyVerificationPolicy::new(key),
                &root,
            )
        }
        (None, Some((san, issuer))) => sigstore_verify::verify(
            artifact,
            &bundle,
            &VerificationPolicy::new(san.as_str(), issuer.as_str()),
            &root,
        ),
        (None, None) => return Err("no signer".to_owned()),
    };
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// Where sealgate is stricter than sigstore-verify, and why; (case suffix, mutation). sealgate
/// admitting what sigstore-verify refuses is never listed: that fails the test.
const STRICTER: &[(&str, &str, &str)] = &[(
    "managed-key-and-trusted-root",
    "inclusion promise (SET) removed",
    "a key signer whose signatures must be logged needs a time the log vouches for (SET or \
         RFC 3161 timestamp); sigstore-verify accepts an inclusion proof alone for keys",
)];

#[test]
fn sealgate_and_sigstore_verify_agree_on_every_bundle_and_mutation() {
    let mut disagreements = Vec::new();
    let mut compared = BTreeMap::new();
    let mut stricter_seen = std::collections::BTreeSet::new();
    for case in cases() {
        for (name, mutate) in MUTATIONS {
            let mut bundle = case.bundle.clone();
            if mutate(&mut bundle).is_none() {
                continue;
            }
            let json = serde_json::to_string(&bundle).expect("JSON");
            let ours = sealgate_admits(&case, json.as_bytes());
            let theirs = sigstore_admits(&case, &json);
            *compared.entry(*name).or_insert(0) += 1;
            let known = STRICTER
                .iter()
                .any(|(id, m, _)| case.id.ends_with(id) && m == name);
            if known && ours.is_err() && theirs.is_ok() {
                stricter_seen.insert(*name);
            }
            if ours.is_ok() != theirs.is_ok() && !(known && ours.is_err()) {
                disagreements.push(format!(
                    "{} / {name}: sealgate {ours:?}, sigstore-verify {theirs:?}",
                    case.id
                ));
            }
        }
    }
    eprintln!("compared: {compared:?}");
    // A listed difference that no longer occurs is stale: the list says only what is true.
    for (_, name, why) in STRICTER {
        assert!(
            stricter_seen.contains(name),
            "not seen any more: {name}: {why}"
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// The bypass classes of public advisories, on every bundle the fixtures call valid: each edit
/// must be refused, by sealgate and by sigstore-verify.
#[test]
fn bypass_classes_are_refused_by_both() {
    let cases = cases();
    let entries_of = |id: &str| {
        cases
            .iter()
            .find(|c| c.id.ends_with(id))
            .map(|c| c.bundle["verificationMaterial"]["tlogEntries"].clone())
            .expect("case")
    };
    let other_hashedrekord = entries_of("happy-path-v0.3");
    let other_dsse = entries_of("happy-path-intoto-in-dsse-v3");
    let public_good: Value = serde_json::from_slice(&read(PUBLIC_GOOD)).expect("JSON");
    let mut checked = 0;
    let mut admitted = Vec::new();
    for case in cases.iter().filter(|c| c.valid) {
        let mut edits: Vec<(&str, Value, Vec<u8>)> = Vec::new();
        let root = case.trusted_root.clone();
        // A log entry not bound to this artifact, signature and key: another genuine entry.
        let mut b = case.bundle.clone();
        let same = b["verificationMaterial"]["tlogEntries"] == other_hashedrekord;
        b["verificationMaterial"]["tlogEntries"] = if same || b.get("dsseEnvelope").is_some() {
            if b["verificationMaterial"]["tlogEntries"] == other_dsse {
                other_hashedrekord.clone()
            } else {
                other_dsse.clone()
            }
        } else {
            other_hashedrekord.clone()
        };
        edits.push(("log entry of another signature", b, root.clone()));
        // An unexpected key: the certificate swapped for a public-key hint (keyless signer),
        // or the bundle checked against another configured key (key signer, below).
        if case.identity.is_some() && case.key.is_none() {
            let mut b = case.bundle.clone();
            let vm = b["verificationMaterial"].as_object_mut().expect("material");
            vm.remove("certificate");
            vm.remove("x509CertificateChain");
            vm.insert("publicKey".into(), serde_json::json!({"hint": "attacker"}));
            edits.push(("certificate replaced by a key hint", b, root.clone()));
        }
        // The media type rewritten to v0.1 to skip the proof, whose hash is corrupted.
        let mut b = case.bundle.clone();
        b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
        if let Some(hash) =
            b.pointer_mut("/verificationMaterial/tlogEntries/0/inclusionProof/rootHash")
            && flip_b64(hash).is_some()
        {
            edits.push(("media type downgraded, proof corrupted", b, root.clone()));
        }
        // A timestamp checked against an authority that did not issue it.
        if case
            .bundle
            .pointer("/verificationMaterial/timestampVerificationData")
            .is_some()
        {
            let mut r: Value = serde_json::from_slice(&root).expect("root JSON");
            if r["timestampAuthorities"] != public_good["timestampAuthorities"] {
                r["timestampAuthorities"] = public_good["timestampAuthorities"].clone();
                let has_integrated_time = case
                    .bundle
                    .pointer("/verificationMaterial/tlogEntries/0/inclusionPromise")
                    .is_some();
                if !has_integrated_time {
                    edits.push((
                        "timestamp of another authority",
                        case.bundle.clone(),
                        serde_json::to_vec(&r).expect("JSON"),
                    ));
                }
            }
        }
        // DSSE with several signatures; an in-toto statement given a second subject.
        for (name, mutate) in MUTATIONS {
            if name.starts_with("DSSE") || *name == "signature flipped" {
                let mut b = case.bundle.clone();
                if mutate(&mut b).is_some() {
                    edits.push((name, b, root.clone()));
                }
            }
        }
        for (name, bundle, trusted_root) in edits {
            let edited = Case {
                id: case.id.clone(),
                bundle: Value::Null,
                trusted_root,
                valid: false,
                key: case.key.clone(),
                identity: case.identity.clone(),
                artifact: case.artifact.clone(),
                digest: case.digest.clone(),
            };
            let json = serde_json::to_string(&bundle).expect("JSON");
            let ours = sealgate_admits(&edited, json.as_bytes());
            let theirs = sigstore_admits(&edited, &json);
            checked += 1;
            if ours.is_ok() || theirs.is_ok() {
                admitted.push(format!(
                    "{} / {name}: sealgate {ours:?}, sigstore-verify {theirs:?}",
                    case.id
                ));
            }
        }
        // Another key than the one that signed.
        if case.key.is_some() {
            let edited = Case {
                id: case.id.clone(),
                bundle: Value::Null,
                trusted_root: root.clone(),
                valid: false,
                key: Some(read("cosign-legacy/connaisseur-testimage/keys/alice.pub")),
                identity: None,
                artifact: case.artifact.clone(),
                digest: case.digest.clone(),
            };
            let json = serde_json::to_string(&case.bundle).expect("JSON");
            let ours = sealgate_admits(&edited, json.as_bytes());
            let theirs = sigstore_admits(&edited, &json);
            checked += 1;
            if ours.is_ok() || theirs.is_ok() {
                admitted.push(format!(
                    "{} / another key: sealgate {ours:?}, sigstore-verify {theirs:?}",
                    case.id
                ));
            }
        }
    }
    eprintln!("{checked} bypass attempts checked");
    assert!(checked > 20, "only {checked} bypass attempts");
    assert!(admitted.is_empty(), "admitted:\n{}", admitted.join("\n"));
}
