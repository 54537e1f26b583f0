use super::*;

const SIG: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn layer(media_type: &str) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"sha256:{}","size":3}}"#,
        "a".repeat(64)
    )
}

fn manifest(rest: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}{rest}}}"#,
        layer("application/vnd.oci.image.config.v1+json")
    )
}

fn refused(doc: &str) -> Disagreement {
    check(doc.as_bytes()).expect_err(doc)
}

#[test]
fn ordinary_manifests_indexes_and_signatures_agree() {
    let annotations = r#","annotations":{"org.opencontainers.image.created":"2026","Org.Opencontainers.Image.Created":"x","layers":"not a field here"}"#;
    for doc in [
        manifest(&format!(r#","layers":[{}]"#, layer(TAR))),
        manifest(&format!(r#","layers":[{}]{annotations}"#, layer(SIG))),
        // Whitespace anywhere JSON allows it, escapes that unescape to the exact field name.
        format!(
            " \n{{ \"schemaVersion\" : 2 ,\t\"l\\u0061yers\" :\r[ {} ] }} \n",
            layer(TAR)
        ),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":9,"platform":{"architecture":"amd64","os":"linux","os.features":["a"],"variant":"v8"}}]}"#.to_owned(),
        // Unknown fields, nested anything, non-ASCII text in values, surrogate pairs.
        manifest(r#","x-extra":{"Layers":[1,2.5e-3,-0,true,false,null],"a":"caf\u00e9 \ud83d\ude00 ✓"}"#),
        // `null` is absent to both parsers.
        r#"{"schemaVersion":2,"subject":null,"config":null,"size":null}"#.to_owned(),
        // Docker schema 1 (no mediaType).
        r#"{"schemaVersion":1,"name":"a","tag":"v1","fsLayers":[{"blobSum":"sha256:00"}],"history":[{"v1Compatibility":"{}"}]}"#.to_owned(),
        "{}".to_owned(),
    ] {
        assert_eq!(check(doc.as_bytes()), Ok(()), "{doc}");
    }
}

#[test]
fn duplicate_keys_are_refused_in_every_object_after_unescaping() {
    for (doc, key) in [
        (
            manifest(&format!(
                r#","layers":[{}],"layers":[{}]"#,
                layer(SIG),
                layer(TAR)
            )),
            "layers",
        ),
        (
            manifest(&format!(
                r#","layers":[{}],"l\u0061yers":[{}]"#,
                layer(SIG),
                layer(TAR)
            )),
            "layers",
        ),
        (
            manifest(&format!(
                r#","layers":[{{"mediaType":"{SIG}","mediaType":"{TAR}","digest":"sha256:00"}}]"#
            )),
            "mediaType",
        ),
        // Maps and objects no parser binds are checked too.
        (manifest(r#","annotations":{"k":"1","k":"2"}"#), "k"),
        (manifest(r#","x":[{"deep":{"a":1,"\u0061":2}}]"#), "a"),
    ] {
        match refused(&doc) {
            Disagreement::DuplicateKey { key: found, .. } => assert_eq!(found, key, "{doc}"),
            other => panic!("{doc}: {other:?}"),
        }
    }
}

#[test]
fn keys_go_folds_to_a_field_are_refused_where_go_binds_structs() {
    for (doc, field) in [
        (manifest(&format!(r#","layers":[{}],"Layers":[{}]"#, layer(SIG), layer(TAR))), "layers"),
        (manifest(&format!(r#","LAYERS":[{}]"#, layer(TAR))), "layers"),
        // U+017F LATIN SMALL LETTER LONG S folds to `s`, escaped or raw.
        (manifest(&format!(r#","layer\u017f":[{}]"#, layer(TAR))), "layers"),
        (manifest(&format!("{},\"layer\u{17f}\":[{}]", "", layer(TAR))), "layers"),
        (manifest(&format!(r#","\u017fubject":{}"#, layer(TAR))), "subject"),
        // In a descriptor, and in a platform.
        (
            manifest(&format!(
                r#","layers":[{{"mediaType":"{SIG}","MediaType":"{TAR}","digest":"sha256:00"}}]"#
            )),
            "mediaType",
        ),
        (
            r#"{"manifests":[{"digest":"sha256:00","platform":{"architecture":"arm64","ARCHITECTURE":"amd64"}}]}"#.to_owned(),
            "architecture",
        ),
        (r#"{"SchemaVersion":2}"#.to_owned(), "schemaVersion"),
        (r#"{"config":{"Digest":"sha256:00"}}"#.to_owned(), "digest"),
    ] {
        match refused(&doc) {
            Disagreement::FoldedKey { field: found, .. } => assert_eq!(found, field, "{doc}"),
            other => panic!("{doc}: {other:?}"),
        }
    }
    // Annotations are a map in both parsers: keys are data, exact.
    assert_eq!(
        check(manifest(r#","annotations":{"Layers":"x","layerſ":"y"}"#).as_bytes()),
        Ok(())
    );
}

#[test]
fn go_equal_fold_is_unicode_simple_folding_for_ascii_names() {
    assert!(go_equal_fold("layers", "layers"));
    assert!(go_equal_fold("LaYeRs", "layers"));
    assert!(go_equal_fold("layer\u{17F}", "layers"));
    assert!(go_equal_fold("\u{17F}IZE", "size"));
    // U+212A KELVIN SIGN folds to `k`.
    assert!(go_equal_fold("\u{212A}ey", "key"));
    assert!(go_equal_fold("os.VERSION", "os.version"));
    for (key, field) in [
        ("layer", "layers"),
        ("layerss", "layers"),
        ("layer\u{17F}s", "layers"),
        // U+0130 and U+0131 fold to themselves in Go (its caseOrbit table), not to `i`.
        ("\u{130}mage", "image"),
        ("\u{131}mage", "image"),
        // U+212B ANGSTROM SIGN folds to å, not to an ASCII letter.
        ("\u{212B}", "a"),
        ("os_version", "os.version"),
        ("", "os"),
    ] {
        assert!(!go_equal_fold(key, field), "{key:?} vs {field:?}");
    }
}

#[test]
fn text_serde_and_go_read_differently_is_refused() {
    let mut invalid_utf8 = manifest(r#","annotations":{"k":"AB"}"#).into_bytes();
    let at = invalid_utf8.iter().position(|&b| b == b'A').unwrap();
    invalid_utf8[at] = 0xFF;
    assert!(matches!(
        check(&invalid_utf8),
        Err(Disagreement::InvalidUtf8 { offset }) if offset == at
    ));
    // Invalid UTF-8 in a key, an overlong encoding, a truncated sequence, a UTF-16 surrogate
    // encoded as UTF-8.
    for bad in [
        &b"{\"lay\xc3ers\":1}"[..],
        b"{\"a\":\"\xc0\xaf\"}",
        b"{\"a\":\"\xe2\x82\"}",
        b"{\"a\":\"\xed\xa0\x80\"}",
        b"{\"a\":\"\xf5\x80\x80\x80\"}",
    ] {
        assert!(
            matches!(check(bad), Err(Disagreement::InvalidUtf8 { .. })),
            "{bad:?}: {:?}",
            check(bad)
        );
    }
    for lone in [
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\ud800x"}"#,
        r#"{"a":"\ud800\u0041"}"#,
        r#"{"a":"\udc00"}"#,
        r#"{"\udfff":1}"#,
    ] {
        assert!(
            matches!(refused(lone), Disagreement::LoneSurrogate { .. }),
            "{lone}"
        );
    }
}

#[test]
fn sizes_and_versions_must_be_integers_both_parsers_read() {
    for ok in ["0", "3", "-0", "9223372036854775807", "null"] {
        let doc = format!(r#"{{"config":{{"digest":"sha256:00","size":{ok}}},"schemaVersion":2}}"#);
        assert_eq!(check(doc.as_bytes()), Ok(()), "{doc}");
    }
    for bad in [
        "-1",
        "1.0",
        "1e3",
        "9223372036854775808",
        "\"3\"",
        "true",
        "[]",
    ] {
        let doc = format!(r#"{{"config":{{"digest":"sha256:00","size":{bad}}}}}"#);
        assert!(
            matches!(refused(&doc), Disagreement::Integer { field: "size", .. }),
            "{doc}"
        );
    }
    assert!(matches!(
        refused(r#"{"schemaVersion":2.0}"#),
        Disagreement::Integer {
            field: "schemaVersion",
            ..
        }
    ));
    // Elsewhere, numbers are data.
    assert_eq!(
        check(br#"{"annotations":{"size":"x"},"x":{"size":1.5}}"#),
        Ok(())
    );
}

#[test]
fn ambiguous_kinds_are_refused() {
    let manifests = r#""manifests":[]"#;
    assert_eq!(
        refused(&format!(r#"{{{manifests},"layers":[]}}"#)),
        Disagreement::Ambiguous { other: "layers" }
    );
    assert_eq!(
        refused(&format!(r#"{{"config":{},{manifests}}}"#, layer(TAR))),
        Disagreement::Ambiguous { other: "config" }
    );
    assert!(matches!(
        refused(r#"{"mediaType":"application/vnd.oci.image.index.v1+json","layers":[]}"#),
        Disagreement::MediaTypeMismatch {
            field: "layers",
            ..
        }
    ));
    assert!(matches!(
        refused(
            r#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","config":{"digest":"sha256:00"}}"#
        ),
        Disagreement::MediaTypeMismatch {
            field: "config",
            ..
        }
    ));
    assert!(matches!(
        refused(
            r#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","manifests":[]}"#
        ),
        Disagreement::MediaTypeMismatch {
            field: "manifests",
            ..
        }
    ));
    // Only the top level's fields count.
    assert_eq!(
        check(br#"{"manifests":[{"digest":"sha256:00","layers":[]}],"x":{"config":1}}"#),
        Ok(())
    );
}

#[test]
fn anything_outside_json_is_refused() {
    for bad in [
        "",
        " ",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":[1,]}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":NaN}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"unterminated}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "\u{feff}{}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":[1 2]}",
    ] {
        let found = check(bad.as_bytes());
        assert!(
            matches!(
                found,
                Err(Disagreement::Syntax { .. } | Disagreement::NotAnObject)
            ),
            "{bad:?}: {found:?}"
        );
    }
    for not_object in ["[]", "1", "\"a\"", "null", "true"] {
        assert_eq!(
            refused(not_object),
            Disagreement::NotAnObject,
            "{not_object}"
        );
    }
}

#[test]
fn depth_is_bounded_without_recursing_past_it() {
    let nested = |depth: usize| {
        format!(
            "{{\"x\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    assert_eq!(check(nested(MAX_DEPTH).as_bytes()), Ok(()));
    assert_eq!(
        check(nested(MAX_DEPTH + 1).as_bytes()),
        Err(Disagreement::TooDeep)
    );
    // A million open brackets: refused at the limit, no stack overflow.
    let deep = format!("{{\"x\":{}", "[".repeat(1_000_000));
    assert_eq!(check(deep.as_bytes()), Err(Disagreement::TooDeep));
}

#[test]
fn whatever_the_check_accepts_serde_json_accepts_too() {
    // The check never accepts what serde_json refuses as JSON (so serde's view is always
    // defined), whatever the bytes: a small exhaustive walk over short inputs.
    let alphabet: &[u8] = b"{}[]\":,a1 \\u";
    let mut doc = Vec::new();
    fn walk(doc: &mut Vec<u8>, alphabet: &[u8], left: usize) {
        if check(doc).is_ok() {
            assert!(
                serde_json::from_slice::<serde_json::Value>(doc).is_ok(),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
        if left == 0 {
            return;
        }
        for &b in alphabet {
            doc.push(b);
            walk(doc, alphabet, left - 1);
            doc.pop();
        }
    }
    walk(&mut doc, alphabet, 6);
}
