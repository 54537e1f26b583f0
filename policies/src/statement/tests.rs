use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const SIGNATURE: &str = "bundle-v0.3/oci/kubewarden-controller-v1.34.0.sigstore.json";
const ATTESTATION: &str = "bundle-v0.3/oci/cosign-oci-attestation.sigstore.json";
const MESSAGE: &str = "bundle-v0.3/conformance/happy-path-v0.3/bundle.sigstore.json";

fn bundle(path: &str) -> SigstoreBundle {
    let json = std::fs::read(format!("{FIXTURES}/{path}")).unwrap();
    SigstoreBundle::from_json(&json).unwrap()
}

fn malformed(payload: &str) -> String {
    match predicate_type(payload.as_bytes()) {
        Err(StatementRefusal::Malformed(why)) => why,
        other => panic!("{payload}: {other:?}"),
    }
}

#[test]
fn cosign_v3_signatures_pass_and_attestations_are_named_as_such() {
    let cosign = SignaturePredicates::cosign();
    assert_eq!(check_bundle(&bundle(SIGNATURE), &cosign, "prod/**"), Ok(()));
    let refused = check_bundle(&bundle(ATTESTATION), &cosign, "prod/**").unwrap_err();
    assert_eq!(
        refused.to_string(),
        "statement predicateType \"https://cosign.sigstore.dev/attestation/v1\" is an \
         attestation, not an image signature (scope \"prod/**\" accepts: \
         https://sigstore.dev/cosign/sign/v1)"
    );
    // A scope that lists the attestation's predicate takes it; `Any` takes everything.
    let both = SignaturePredicates::Only(vec![
        COSIGN_SIGN_PREDICATE.to_owned(),
        "https://cosign.sigstore.dev/attestation/v1".to_owned(),
    ]);
    assert_eq!(check_bundle(&bundle(ATTESTATION), &both, "default"), Ok(()));
    assert_eq!(
        check_bundle(&bundle(ATTESTATION), &SignaturePredicates::Any, "default"),
        Ok(())
    );
}

#[test]
fn message_signatures_have_no_predicate_and_pass() {
    let message = bundle(MESSAGE);
    assert!(signed_statement(&message).is_none());
    assert_eq!(
        check_bundle(&message, &SignaturePredicates::cosign(), "default"),
        Ok(())
    );
}

#[test]
fn the_predicate_is_read_from_the_signed_payload() {
    assert_eq!(
        predicate_type(signed_statement(&bundle(SIGNATURE)).unwrap()),
        Ok(COSIGN_SIGN_PREDICATE.to_owned())
    );
    assert_eq!(
        predicate_type(
            br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicate":{"predicateType":"x"},"predicateType":"https://slsa.dev/provenance/v1"}"#
        ),
        Ok("https://slsa.dev/provenance/v1".to_owned())
    );
    // JSON escapes in keys are decoded, as every parser does.
    assert_eq!(
        predicate_type(br#"{"_type":"t","predicate\u0054ype":"p"}"#),
        Ok("p".to_owned())
    );
}

#[test]
fn statements_parsers_could_read_differently_are_refused() {
    let cases = [
        // serde_json keeps the last copy of a key, other parsers the first.
        (
            r#"{"_type":"t","predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://sigstore.dev/cosign/sign/v1","subject":[]}"#,
            "duplicate key \"predicateType\"",
        ),
        (
            r#"{"_type":"t","_type":"t","predicateType":"p"}"#,
            "duplicate key \"_type\"",
        ),
        (
            r#"{"_type":"t","predicateType":"p","subject":[],"subject":[]}"#,
            "duplicate key \"subject\"",
        ),
        // Go's encoding/json matches keys without regard to case, and keeps the last.
        (
            r#"{"_type":"t","predicateType":"https://sigstore.dev/cosign/sign/v1","PredicateType":"https://slsa.dev/provenance/v1"}"#,
            "key \"PredicateType\" is \"predicateType\" in another case",
        ),
        // ſ (U+017F) folds to s in Go.
        (
            r#"{"_type":"t","predicateType":"p","ſubject":[]}"#,
            "key \"ſubject\" is \"subject\" in another case",
        ),
        // A derived struct would read an array by position.
        (
            r#"["https://in-toto.io/Statement/v1","https://sigstore.dev/cosign/sign/v1",[]]"#,
            "an in-toto statement (a JSON object)",
        ),
        (r#"{"_type":"t"}"#, "missing field `predicateType`"),
        (r#"{"predicateType":"p"}"#, "missing field `_type`"),
        (r#"{"_type":"t","predicateType":7}"#, "expected a string"),
        (
            r#"{"_type":"t","predicateType":"p"} x"#,
            "trailing characters",
        ),
    ];
    for (payload, why) in cases {
        let got = malformed(payload);
        assert!(got.contains(why), "{payload}: {got}");
    }
    // Other keys may repeat: nothing here reads them.
    assert_eq!(
        predicate_type(br#"{"_type":"t","predicateType":"p","predicate":1,"predicate":2}"#),
        Ok("p".to_owned())
    );
    // Values skipped are skipped without recursion: deep nesting costs no stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        predicate_type(
            format!(r#"{{"_type":"t","predicateType":"p","predicate":{deep}}}"#).as_bytes()
        ),
        Ok("p".to_owned())
    );
    // A subject is read, so one nested that deep is refused (serde_json's depth limit), not
    // a stack overflow.
    malformed(&format!(
        r#"{{"_type":"t","predicateType":"p","subject":{deep}}}"#
    ));
    let big = format!(
        r#"{{"_type":"t","predicateType":"p","predicate":"{}"}}"#,
        "a".repeat(MAX_STATEMENT_BYTES)
    );
    assert!(malformed(&big).contains("more than"));
}

#[test]
fn subjects_are_read_by_the_same_strict_parser() {
    let t = r#""_type":"https://in-toto.io/Statement/v1","predicateType":"p""#;
    let parsed = parse_statement(
        format!(r#"{{{t},"subject":[{{"name":"a","digest":{{"sha256":"aa","sha512":"bb"}}}},{{"digest":{{"sha512":"cc"}}}}]}}"#)
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.subject_sha256, vec!["aa".to_owned()]);
    assert_eq!(parsed.predicate_type, "p");
    // Go keeps the last of two digests, serde's map the last too, others the first: refused.
    let twice = format!(r#"{{{t},"subject":[{{"digest":{{"sha256":"aa","sha256":"bb"}}}}]}}"#);
    assert!(malformed(&twice).contains("duplicate key \"sha256\""));
    let case = format!(r#"{{{t},"subject":[{{"Digest":{{"sha256":"aa"}}}}]}}"#);
    assert!(malformed(&case).contains("another case"));
    // A subject or statement given as an array (by position) is not an object.
    let positional = format!(r#"{{{t},"subject":[["a",{{"sha256":"aa"}}]]}}"#);
    malformed(&positional);
    malformed(r#"["https://in-toto.io/Statement/v1","p",[]]"#);
}
