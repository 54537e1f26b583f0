use super::*;
use crate::config::{RawKey, RawPki, RawRevokedCert, RawRevokedKey};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A loader over the fixture directory, recording nothing outside it.
fn fixtures() -> impl FnMut(&str) -> Result<Vec<u8>, LoadError> {
    |path: &str| {
        std::fs::read(format!("{FIXTURES}/{path}")).map_err(|source| LoadError {
            path: path.into(),
            source,
        })
    }
}

fn keys(names: &[&str]) -> RawTrust {
    RawTrust {
        keys: names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    RawKey {
                        path: format!("cosign-legacy/connaisseur-testimage/keys/{n}.pub"),
                        rsa_scheme: Default::default(),
                        trusted_root: None,
                    },
                )
            })
            .collect(),
        ..RawTrust::default()
    }
}

fn scope(repositories: Option<&str>, signers: &[&str]) -> RawScope {
    RawScope {
        repositories: repositories.map(str::to_owned),
        signers: signers.iter().map(|s| (*s).to_owned()).collect(),
        ..RawScope::default()
    }
}

fn build(trust: &RawTrust, policy: &RawPolicy) -> Result<Policy, PolicyError> {
    Policy::build(trust, policy, &mut fixtures(), 7)
}

fn build_err(trust: &RawTrust, policy: &RawPolicy) -> PolicyError {
    build(trust, policy).unwrap_err()
}

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

#[test]
fn the_most_specific_scope_wins() {
    let policy = RawPolicy {
        default: scope(None, &["alice"]),
        scopes: vec![
            scope(Some("prod/**"), &["alice", "bob"]),
            scope(Some("prod/api"), &["bob"]),
            scope(Some("team-*/api"), &["charlie"]),
        ],
    };
    let p = build(&keys(&["alice", "bob", "charlie"]), &policy).unwrap();
    assert_eq!(p.scope_for(&repo("prod/api")).label(), "prod/api");
    assert_eq!(p.scope_for(&repo("prod/web/x")).label(), "prod/**");
    assert_eq!(p.scope_for(&repo("team-a/api")).label(), "team-*/api");
    assert_eq!(p.scope_for(&repo("team-a/b/api")).label(), "default");
    assert_eq!(p.scope_for(&repo("dev/x")).label(), "default");
    assert_eq!(p.generation(), 7);
}

#[test]
fn mutable_tag_patterns_only_matter_when_tags_are_immutable() {
    let mut raw = scope(None, &["alice"]);
    raw.mutable_tags = vec!["latest*".to_owned()];
    let p = build(
        &keys(&["alice"]),
        &RawPolicy {
            default: raw.clone(),
            scopes: vec![],
        },
    )
    .unwrap();
    let scope = p.scope_for(&repo("x"));
    assert!(scope.tag_is_mutable(&"latest-dev".parse().unwrap()));
    assert!(!scope.tag_is_mutable(&"v1".parse().unwrap()));
    raw.immutable_tags = false;
    let p = build(
        &keys(&["alice"]),
        &RawPolicy {
            default: raw,
            scopes: vec![],
        },
    )
    .unwrap();
    assert!(
        p.scope_for(&repo("x"))
            .tag_is_mutable(&"v1".parse().unwrap())
    );
}

#[test]
fn bad_policy_names_the_key() {
    let trust = keys(&["alice"]);
    let cases: Vec<(RawPolicy, &str)> = vec![
        (
            RawPolicy {
                default: scope(None, &["mallory"]),
                scopes: vec![],
            },
            "policy.default.signers[0]",
        ),
        (
            RawPolicy {
                default: scope(Some("x/**"), &["alice"]),
                scopes: vec![],
            },
            "policy.default.repositories",
        ),
        (
            RawPolicy {
                default: scope(None, &["alice"]),
                scopes: vec![scope(None, &["alice"])],
            },
            "policy.scope[0].repositories",
        ),
        (
            RawPolicy {
                default: scope(None, &["alice"]),
                scopes: vec![
                    scope(Some("a/**"), &["alice"]),
                    scope(Some("a/**"), &["alice"]),
                ],
            },
            "policy.scope[1].repositories",
        ),
        (
            RawPolicy {
                default: scope(None, &["alice", "alice"]),
                scopes: vec![],
            },
            "policy.default.signers",
        ),
        (
            RawPolicy {
                default: RawScope {
                    require: Some(RawRequire::Threshold(2)),
                    ..scope(None, &["alice"])
                },
                scopes: vec![],
            },
            "policy.default.require",
        ),
        (
            RawPolicy {
                default: scope(None, &["alice"]),
                scopes: vec![scope(Some("a/**"), &[])],
            },
            "policy.scope[0].signers",
        ),
        (
            RawPolicy {
                default: scope(None, &["alice"]),
                scopes: vec![scope(Some("a/***"), &["alice"])],
            },
            "policy.scope[0].repositories",
        ),
    ];
    for (policy, key) in cases {
        assert_eq!(build_err(&trust, &policy).key, key);
    }
}

#[test]
fn bad_trust_material_names_the_key_and_file() {
    let policy = RawPolicy::default();
    let mut trust = keys(&["alice"]);
    trust.keys.get_mut("alice").unwrap().path = "nope.pub".to_owned();
    let e = build_err(&trust, &policy);
    assert_eq!(e.key, "trust.keys.alice.path");
    assert!(e.message.contains("nope.pub"), "{e}");

    let mut trust = keys(&[]);
    trust.keys.insert(
        "cert-not-key".to_owned(),
        RawKey {
            path: "cosign-pki/containers-image-pki/pki_root_crts.pem".to_owned(),
            rsa_scheme: Default::default(),
            trusted_root: None,
        },
    );
    let e = build_err(&trust, &policy);
    assert_eq!(e.key, "trust.keys.cert-not-key.path");
    assert!(e.message.contains("pki_root_crts.pem"), "{e}");

    let pki = |roots: &str, crls: &[&str]| RawPki {
        roots: roots.to_owned(),
        intermediates: None,
        crls: crls.iter().map(|s| (*s).to_owned()).collect(),
        eku: Default::default(),
        signing_time: Default::default(),
        trusted_root: None,
        identity: Default::default(),
    };
    let mut trust = RawTrust::default();
    trust.pki.insert(
        "corp".to_owned(),
        pki("pki/notation-crl/root.crt", &["pki/notation-crl/leaf.crl"]),
    );
    // A CRL of an issuing CA the bundle does not hold (it travels in the signatures' chains):
    // usable, and said at load.
    let p = build(&trust, &policy).unwrap();
    assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
    assert!(
        p.warnings()[0]
            .starts_with("trust.pki.corp.crls[0]: pki/notation-crl/leaf.crl: CRL issued by"),
        "{:?}",
        p.warnings()
    );

    // A self-signed leaf configured as a root is not a CA.
    let mut trust = RawTrust::default();
    trust.pki.insert(
        "e2e".to_owned(),
        pki("notation/e2e/truststore/e2e.crt", &[]),
    );
    let e = build_err(&trust, &policy);
    assert_eq!(e.key, "trust.pki.e2e.roots");
    assert!(e.message.contains("not a CA"), "{e}");

    let mut trust = RawTrust::default();
    trust
        .pki
        .insert("corp".to_owned(), pki("pki/notation-crl/root.crt", &[]));
    trust.pki.get_mut("corp").unwrap().identity.san_email = Some(String::new());
    assert_eq!(
        build_err(&trust, &policy).key,
        "trust.pki.corp.identity.san_email"
    );

    let mut trust = keys(&["alice"]);
    trust
        .keys
        .insert("bad name!".to_owned(), trust.keys["alice"].clone());
    assert_eq!(build_err(&trust, &policy).key, "trust.keys.bad name!");
}

#[test]
fn revocations_are_validated_and_looked_up() {
    let mut trust = keys(&["alice"]);
    let alice = PublicKey::from_pem(
        &fixtures()("cosign-legacy/connaisseur-testimage/keys/alice.pub").unwrap(),
        Default::default(),
    )
    .unwrap();
    trust.revoked_keys.push(RawRevokedKey {
        fingerprint: alice.fingerprint().to_string(),
        reason: "key leaked".to_owned(),
        at: "2026-05-01T00:00:00Z".to_owned(),
    });
    trust.revoked_certs.push(RawRevokedCert {
        issuer: "CN=Example CA".to_owned(),
        serial: "00:1A:2b".to_owned(),
        reason: "superseded".to_owned(),
        at: "2026-06-01T00:00:00Z".to_owned(),
    });
    let p = build(
        &trust,
        &RawPolicy {
            default: scope(None, &["alice"]),
            scopes: vec![],
        },
    )
    .unwrap();
    assert_eq!(
        p.revocations().key(alice.fingerprint()).unwrap().reason,
        "key leaked"
    );
    assert!(p.revocations().cert("CN=Example CA", "1a2b").is_some());
    assert!(p.revocations().cert("CN=Example CA", "1a2c").is_none());

    let mut bad = trust.clone();
    bad.revoked_keys[0].fingerprint = "abc".to_owned();
    assert_eq!(
        build_err(&bad, &RawPolicy::default()).key,
        "trust.revoked_keys[0].fingerprint"
    );
    let mut bad = trust.clone();
    bad.revoked_keys[0].at = "yesterday".to_owned();
    assert_eq!(
        build_err(&bad, &RawPolicy::default()).key,
        "trust.revoked_keys[0].at"
    );
    let mut bad = trust.clone();
    bad.revoked_certs[0].reason = " ".to_owned();
    assert_eq!(
        build_err(&bad, &RawPolicy::default()).key,
        "trust.revoked_certs[0].reason"
    );
    let mut bad = trust;
    bad.revoked_certs[0].serial = "xyz".to_owned();
    assert_eq!(
        build_err(&bad, &RawPolicy::default()).key,
        "trust.revoked_certs[0].serial"
    );
}

#[test]
fn policy_tables_deserialise_from_toml_shapes() {
    let json = serde_json::json!({
        "default": {"signers": ["alice"], "require": "all", "mode": "warn", "quarantine_ttl": "2h", "unsigned_push": "quarantine"},
        "scope": [{"repositories": "prod/**", "signers": ["alice"], "require": 1}]
    });
    let raw: RawPolicy = serde_json::from_value(json).unwrap();
    let p = build(&keys(&["alice"]), &raw).unwrap();
    let default = p.scope_for(&repo("x"));
    assert_eq!(default.mode, Mode::Warn);
    assert_eq!(default.require, Require::All);
    assert_eq!(default.quarantine_ttl, Duration::from_secs(7200));
    assert_eq!(p.scope_for(&repo("prod/a")).require, Require::AtLeast(1));
    let unknown = serde_json::json!({"default": {"signer": ["alice"]}});
    assert!(
        serde_json::from_value::<RawPolicy>(unknown)
            .unwrap_err()
            .to_string()
            .contains("signer")
    );
}

#[test]
fn r14_signature_predicate_types_default_to_cosign_and_are_validated() {
    use crate::statement::{COSIGN_SIGN_PREDICATE, SignaturePredicates};
    let json = serde_json::json!({
        "default": {"signers": ["alice"]},
        "scope": [{"repositories": "prod/**", "signers": ["alice"],
                   "signature_predicate_types": [COSIGN_SIGN_PREDICATE, "https://slsa.dev/provenance/v1"]}]
    });
    let raw: RawPolicy = serde_json::from_value(json).unwrap();
    let p = build(&keys(&["alice"]), &raw).unwrap();
    assert_eq!(
        p.scope_for(&repo("x")).signature_predicates,
        SignaturePredicates::cosign()
    );
    assert_eq!(
        p.scope_for(&repo("prod/a")).signature_predicates,
        SignaturePredicates::Only(vec![
            COSIGN_SIGN_PREDICATE.to_owned(),
            "https://slsa.dev/provenance/v1".to_owned()
        ])
    );
    let with = |list: &[&str]| RawPolicy {
        default: scope(None, &["alice"]),
        scopes: vec![RawScope {
            signature_predicate_types: list.iter().map(|s| (*s).to_owned()).collect(),
            ..scope(Some("prod/**"), &["alice"])
        }],
    };
    let empty = build_err(&keys(&["alice"]), &with(&[]));
    assert_eq!(empty.key, "policy.scope[0].signature_predicate_types");
    assert!(empty.message.contains("list at least one"), "{empty}");
    for (list, key, says) in [
        (&["" as &str][..], "[0]", "not an absolute URI"),
        (
            &[COSIGN_SIGN_PREDICATE, "slsa/v1"],
            "[1]",
            "not an absolute URI",
        ),
        (&["https://x/ y"], "[0]", "not an absolute URI"),
        (&["1https://x"], "[0]", "not an absolute URI"),
        (&["https:"], "[0]", "not an absolute URI"),
        (
            &[COSIGN_SIGN_PREDICATE, COSIGN_SIGN_PREDICATE],
            "[1]",
            "listed twice",
        ),
    ] {
        let e = build_err(&keys(&["alice"]), &with(list));
        assert_eq!(
            e.key,
            format!("policy.scope[0].signature_predicate_types{key}"),
            "{list:?}"
        );
        assert!(e.message.contains(says), "{list:?}: {e}");
    }
    // Not a URL scheme list: any absolute URI is a predicateType (urn: too).
    build(&keys(&["alice"]), &with(&["urn:example:sbom"])).unwrap();
}
