use std::collections::HashSet;

use sealgate_policies::oci::{Digest, RepoName};

use super::keys;
use super::trees::{self, Tree};
use crate::{PinKey, RevokedSigner};

fn key(upstream: &str, repository: &str, tag: &str) -> PinKey {
    PinKey {
        upstream: upstream.to_owned(),
        repository: repository.parse().unwrap(),
        tag: tag.parse().unwrap(),
    }
}

fn digest(n: u64) -> Digest {
    format!("sha256:{n:064x}").parse().unwrap()
}

fn revoked_key(fingerprint: &str) -> RevokedSigner {
    RevokedSigner::Key {
        fingerprint: fingerprint.to_owned(),
    }
}

fn revoked_cert(issuer: &str, serial: &str) -> RevokedSigner {
    RevokedSigner::Cert {
        issuer: issuer.to_owned(),
        serial: serial.to_owned(),
    }
}

#[test]
fn every_tree_is_listed_once_in_order() {
    let names: HashSet<&str> = Tree::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), Tree::ALL.len());
    for (i, tree) in Tree::ALL.iter().enumerate() {
        assert_eq!(tree.index(), i);
    }
    assert_eq!(Tree::Meta.name(), trees::META);
}

#[test]
fn pin_keys_are_unambiguous_whatever_the_upstream_holds() {
    // Shifting a component boundary changes the key.
    let a = keys::pin(&key("a/b", "c", "d"));
    let b = keys::pin(&key("a", "b/c", "d"));
    assert_ne!(a, b);
    // Separator-looking bytes in the free-form upstream name are just bytes.
    let odd = key("up\0\0\0\u{3}stream", "team/app", "v1");
    assert_eq!(keys::parse_pin("pins", &keys::pin(&odd)).unwrap(), odd);
    let distinct: HashSet<Vec<u8>> = [
        key("", "a", "b"),
        key("a", "a", "b"),
        key("a", "a/a", "b"),
        key("a", "aa", "b"),
        key("a\0", "a", "b"),
    ]
    .iter()
    .map(keys::pin)
    .collect();
    assert_eq!(distinct.len(), 5);
}

#[test]
fn revocation_keys_are_unambiguous_whatever_the_names_hold() {
    let signers = [
        revoked_key("sha256:ab"),
        revoked_key(""),
        // A fingerprint that looks like a certificate's components is still a fingerprint.
        revoked_key("cert"),
        revoked_cert("sha256:ab", ""),
        revoked_cert("a", "bc"),
        revoked_cert("ab", "c"),
        revoked_cert("", ""),
        revoked_cert("CN=CA\0\0\0\u{1}", "1"),
    ];
    let distinct: HashSet<Vec<u8>> = signers.iter().map(keys::revocation).collect();
    assert_eq!(distinct.len(), signers.len());
    for signer in &signers {
        assert_eq!(
            keys::parse_revocation("revocations", &keys::revocation(signer)).unwrap(),
            *signer
        );
    }
    // The kind is the first component, so the two kinds occupy separate key ranges.
    let mut key_prefix = Vec::new();
    key_prefix.extend_from_slice(&3u32.to_be_bytes());
    key_prefix.extend_from_slice(keys::REVOKED_KEY);
    assert!(keys::revocation(&revoked_key("x")).starts_with(&key_prefix));
    assert!(!keys::revocation(&revoked_cert("x", "1")).starts_with(&key_prefix));
}

#[test]
fn prefixes_match_whole_components_only() {
    let a = "a".parse().unwrap();
    let prefix = keys::repository_prefix("hub", &a);
    assert!(keys::pin(&key("hub", "a", "v1")).starts_with(&prefix));
    assert!(!keys::pin(&key("hub", "a/b", "v1")).starts_with(&prefix));
    assert!(!keys::pin(&key("hub", "ab", "v1")).starts_with(&prefix));
    let upstream = keys::upstream_prefix("hub");
    assert!(!keys::pin(&key("hub2", "a", "v1")).starts_with(&upstream));
    assert!(!keys::pin(&key("hu", "ba", "v1")).starts_with(&upstream));
    let sigs = keys::signatures_of(&digest(1));
    assert!(keys::signature(&digest(1), &digest(2), 0).starts_with(&sigs));
    assert!(!keys::signature(&digest(2), &digest(1), 0).starts_with(&sigs));
    let owners = keys::blob_owners_of(&digest(1));
    assert!(keys::blob_owner(&digest(1), &digest(2)).starts_with(&owners));
    assert!(!keys::blob_owner(&digest(2), &digest(1)).starts_with(&owners));
    let referrers = keys::referrers_of("hub", &a, &digest(1));
    let referrer = |upstream: &str, repository: &str, subject: u64| {
        keys::referrer(
            upstream,
            &repository.parse().unwrap(),
            &digest(subject),
            &digest(9),
        )
    };
    assert!(referrer("hub", "a", 1).starts_with(&referrers));
    assert!(!referrer("hub", "a/b", 1).starts_with(&referrers));
    assert!(!referrer("hub", "ab", 1).starts_with(&referrers));
    assert!(!referrer("hub2", "a", 1).starts_with(&referrers));
    assert!(!referrer("hu", "a", 1).starts_with(&referrers));
    assert!(!referrer("hub", "a", 2).starts_with(&referrers));
    let verified = keys::signature_manifest_prefix("hub", &a, &digest(1));
    let signature_manifest = |upstream: &str, repository: &str, manifest: u64| {
        keys::signature_manifest(
            upstream,
            &repository.parse().unwrap(),
            &digest(manifest),
            &digest(9),
        )
    };
    assert!(signature_manifest("hub", "a", 1).starts_with(&verified));
    assert!(!signature_manifest("hub", "a/b", 1).starts_with(&verified));
    assert!(!signature_manifest("hub", "ab", 1).starts_with(&verified));
    assert!(!signature_manifest("hub2", "a", 1).starts_with(&verified));
    assert!(!signature_manifest("hub", "a", 2).starts_with(&verified));
}

#[test]
fn numbers_in_keys_sort_numerically() {
    let s = |i| keys::signature(&digest(1), &digest(2), i);
    assert!(s(1) < s(2) && s(2) < s(256) && s(256) < s(u32::MAX));
    assert!(keys::audit(9) < keys::audit(10));
    assert!(keys::audit(255) < keys::audit(256));
}

#[test]
fn keys_read_back() {
    let k = key("hub", "team/app", "v1");
    assert_eq!(
        keys::parse_signature("signatures", &keys::signature(&digest(1), &digest(2), 7)).unwrap(),
        (digest(1), digest(2), 7)
    );
    assert_eq!(
        keys::parse_pending_by_digest("p", &keys::pending_by_digest(&digest(3), &k)).unwrap(),
        (digest(3), k)
    );
    assert_eq!(
        keys::parse_index_parent("i", &keys::index_parent(&digest(4), &digest(5))).unwrap(),
        (digest(4), digest(5))
    );
    assert_eq!(
        keys::parse_digest("i", &keys::index_children(&digest(6))).unwrap(),
        digest(6)
    );
    assert_eq!(
        keys::parse_blob_owner("b", &keys::blob_owner(&digest(7), &digest(8))).unwrap(),
        (digest(7), digest(8))
    );
    let upstream = "up\0stream";
    let repository: RepoName = "team/app".parse().unwrap();
    assert_eq!(
        keys::parse_referrer(
            "r",
            &keys::referrer(upstream, &repository, &digest(9), &digest(10))
        )
        .unwrap(),
        keys::ReferrerKey {
            upstream: upstream.to_owned(),
            repository: repository.clone(),
            subject: digest(9),
            referrer: digest(10),
        }
    );
    assert_eq!(
        keys::parse_signature_manifest(
            "s",
            &keys::signature_manifest(upstream, &repository, &digest(11), &digest(12))
        )
        .unwrap(),
        keys::SignatureManifestKey {
            upstream: upstream.to_owned(),
            repository,
            manifest: digest(11),
            subject: digest(12),
        }
    );
    assert_eq!(keys::parse_audit(&keys::audit(42)), Some(42));
    assert_eq!(keys::parse_audit(b"short"), None);
}

#[test]
fn malformed_keys_are_rejected_not_misread() {
    let good = keys::pin(&key("hub", "team/app", "v1"));
    assert!(keys::split(&good[..good.len() - 1]).is_none(), "truncated");
    assert!(keys::split(&[0, 0, 0]).is_none(), "partial length");
    assert!(
        keys::split(&[0xff, 0xff, 0xff, 0xff, 1]).is_none(),
        "length past the end"
    );
    assert!(keys::parse_pin("pins", &good[..good.len() - 1]).is_err());
    // Well-formed components that fail the OCI grammar.
    let mut bad = keys::upstream_prefix("hub");
    bad.extend_from_slice(&keys::upstream_prefix("Team/App"));
    bad.extend_from_slice(&keys::upstream_prefix("v1"));
    assert!(keys::parse_pin("pins", &bad).is_err());
    assert!(keys::parse_signature("s", &keys::pin(&key("hub", "a", "b"))).is_err());
    assert!(keys::parse_referrer("r", &keys::pin(&key("hub", "a", "b"))).is_err());
    assert!(keys::parse_blob_owner("b", &keys::signatures_of(&digest(1))).is_err());
    // A revocation key of an unknown kind, or with the wrong number of components.
    let revocation = |components: &[&str]| {
        let mut key = Vec::new();
        for c in components {
            key.extend_from_slice(&keys::upstream_prefix(c));
        }
        keys::parse_revocation("revocations", &key)
    };
    assert!(revocation(&["key", "sha256:ab"]).is_ok());
    assert!(revocation(&["cert", "CN=CA", "1"]).is_ok());
    assert!(revocation(&["fingerprint", "sha256:ab"]).is_err());
    assert!(revocation(&["KEY", "sha256:ab"]).is_err());
    assert!(revocation(&["key"]).is_err());
    assert!(revocation(&["key", "a", "b"]).is_err());
    assert!(revocation(&["cert", "CN=CA"]).is_err());
    assert!(revocation(&["cert", "CN=CA", "1", "2"]).is_err());
    assert!(revocation(&[]).is_err());
    assert!(keys::parse_revocation("r", &[0xff, 0, 0, 0]).is_err());
    let not_utf8 = [0, 0, 0, 3, b'k', b'e', b'y', 0, 0, 0, 1, 0xff];
    assert!(keys::parse_revocation("r", &not_utf8).is_err());
}
