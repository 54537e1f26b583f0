use super::*;

#[test]
fn names_follow_the_spec_grammar() {
    for ok in [
        "a",
        "library/alpine",
        "team-1/api",
        "a.b/c__d/e---f",
        "x/y/z/w/v/u/t/s",
        "0/9",
    ] {
        assert_eq!(ok.parse::<RepoName>().unwrap().as_str(), ok);
    }
    for bad in [
        "",
        "..",
        "a/../b",
        "a/..",
        "%2e%2e/x",
        "a/%2e%2e",
        "Library/alpine",
        "a//b",
        "/a",
        "a/",
        "a.-b",
        "a___b",
        "-a",
        "a-",
        "a b",
        "a\0b",
        "é",
    ] {
        assert!(bad.parse::<RepoName>().is_err(), "{bad:?} must be refused");
    }
    let long = "a".repeat(MAX_NAME_LEN + 1);
    assert!(long.parse::<RepoName>().is_err());
    assert!("a".repeat(MAX_NAME_LEN).parse::<RepoName>().is_ok());
}

#[test]
fn upper_case_and_encoded_names_get_a_specific_reason() {
    let err = "Foo".parse::<RepoName>().unwrap_err();
    assert!(err.to_string().contains("lower case"), "{err}");
    let err = "a/bA-c".parse::<RepoName>().unwrap_err();
    assert!(err.to_string().contains("lower case"), "{err}");
    let err = "a/%2e%2e/b".parse::<RepoName>().unwrap_err();
    assert!(err.to_string().contains("percent-encoded"), "{err}");
}

#[test]
fn tags_follow_the_spec_grammar() {
    for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", "sha256-abc.sig"] {
        assert_eq!(ok.parse::<Tag>().unwrap().as_str(), ok);
    }
    for bad in ["", ".x", "-x", "a/b", "a:b", "a b", "é"] {
        assert!(bad.parse::<Tag>().is_err(), "{bad:?} must be refused");
    }
    assert!("a".repeat(128).parse::<Tag>().is_ok());
    assert!("a".repeat(129).parse::<Tag>().is_err());
}

#[test]
fn digests_need_a_known_algorithm_and_exact_hex() {
    let hex = "a".repeat(64);
    let d: Digest = format!("sha256:{hex}").parse().unwrap();
    assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
    assert_eq!(d.hex(), hex);
    assert!(
        format!("sha512:{}", "0".repeat(128))
            .parse::<Digest>()
            .is_ok()
    );
    for bad in [
        "sha256".to_owned(),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha256:{}", "a".repeat(63)),
        format!("sha256:{}", "a".repeat(65)),
        format!("md5:{}", "a".repeat(32)),
        format!("sha256:{}g", "a".repeat(63)),
        format!("SHA256:{hex}"),
        format!("sha256:{hex}:"),
    ] {
        assert!(bad.parse::<Digest>().is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn digest_from_hash_round_trips() {
    let d = Digest::from_hash(DigestAlgorithm::Sha256, &[0xab; 32]).unwrap();
    assert_eq!(d.as_str(), format!("sha256:{}", "ab".repeat(32)));
    assert!(Digest::from_hash(DigestAlgorithm::Sha256, &[0; 31]).is_err());
}

#[test]
fn references_are_tags_or_digests() {
    assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
    let d = format!("sha256:{}", "1".repeat(64));
    assert!(matches!(d.parse::<Reference>(), Ok(Reference::Digest(_))));
    assert!(matches!(
        "sha256:xyz".parse::<Reference>(),
        Err(OciIdError::Digest { .. })
    ));
}

#[test]
fn deserialising_cannot_skip_validation() {
    assert!(serde_json::from_str::<RepoName>("\"Bad/Name\"").is_err());
    assert!(serde_json::from_str::<Digest>("\"sha256:nope\"").is_err());
    let name: RepoName = serde_json::from_str("\"ok/name\"").unwrap();
    assert_eq!(serde_json::to_string(&name).unwrap(), "\"ok/name\"");
}

#[test]
fn long_hostile_input_is_shortened_in_messages() {
    let err = "A".repeat(10_000).parse::<Tag>().unwrap_err();
    assert!(err.to_string().len() < 200);
}
