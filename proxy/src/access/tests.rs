use http::Request;

use super::*;

fn sha(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn tokens_file(entries: &[(&str, &str)]) -> String {
    entries
        .iter()
        .map(|(identity, token)| {
            format!(
                "[[token]]\nidentity = \"{identity}\"\nsha256 = \"{}\"\n",
                sha(token)
            )
        })
        .collect()
}

fn rule(repositories: &str, identities: &[&str], actions: &[&str]) -> RawRule {
    RawRule {
        repositories: repositories.to_owned(),
        identities: identities.iter().map(|s| (*s).to_owned()).collect(),
        actions: actions.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A gateway with tokens `ci` (token-ci), `reader` (token-reader) and the rules given.
fn gateway(rules: Vec<RawRule>) -> Access {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokens.toml"),
        tokens_file(&[("ci", "token-ci"), ("reader", "token-reader")]),
    )
    .unwrap();
    let raw = RawAuth {
        mode: AuthMode::Gateway,
        tokens_file: Some("tokens.toml".into()),
        rule: rules,
    };
    Access::build(&raw, dir.path(), false).unwrap()
}

fn basic(user: &str, token: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

#[test]
fn tokens_files_parse() {
    let entries = parse_tokens(&tokens_file(&[
        ("ci", "a"),
        ("ci", "b"),
        ("ops.team@example", "c"),
    ]))
    .unwrap();
    assert_eq!(
        entries.len(),
        3,
        "an identity may have several tokens (rotation)"
    );
    assert_eq!(entries[2].identity, "ops.team@example");
    // Upper-case hex is fine.
    let upper = format!(
        "[[token]]\nidentity = \"ci\"\nsha256 = \"{}\"\n",
        sha("a").to_uppercase()
    );
    assert_eq!(parse_tokens(&upper).unwrap().len(), 1);
}

#[test]
fn tokens_file_errors_say_what_is_wrong_without_the_digest() {
    let digest = sha("secret");
    let cases: Vec<(String, &str)> = vec![
        ("not toml [[".to_owned(), "TOML"),
        (String::new(), "no [[token]]"),
        (
            format!("[[token]]\nidentity = \"ci\"\nsha256 = \"{digest}\"\nextra = 1\n"),
            "extra",
        ),
        (
            format!("[[token]]\nidentity = \"cn:ci\"\nsha256 = \"{digest}\"\n"),
            "token[0].identity",
        ),
        (
            format!("[[token]]\nidentity = \"\"\nsha256 = \"{digest}\"\n"),
            "token[0].identity",
        ),
        (
            "[[token]]\nidentity = \"ci\"\nsha256 = \"the-token-itself\"\n".to_owned(),
            "token[0].sha256",
        ),
        (
            format!(
                "[[token]]\nidentity = \"ci\"\nsha256 = \"{}\"\n",
                &digest[..62]
            ),
            "not 64 hex digits",
        ),
        (
            format!(
                "[[token]]\nidentity = \"a\"\nsha256 = \"{digest}\"\n[[token]]\nidentity = \"b\"\nsha256 = \"{digest}\"\n"
            ),
            "also the token of \"a\"",
        ),
        ("[[token]]\nidentity = \"ci\"\n".to_owned(), "sha256"),
    ];
    for (text, expected) in cases {
        let e = parse_tokens(&text).unwrap_err().to_string();
        assert!(e.contains(expected), "{text:?}: {e}");
        if !text.contains("extra") {
            assert!(!e.contains(&digest), "the digest is not echoed: {e}");
        }
    }
}

#[test]
fn tokens_file_errors_name_the_entry_at_fault() {
    assert!(matches!(parse_tokens(""), Err(TokensError::Empty)));
    assert!(matches!(
        parse_tokens("not toml [["),
        Err(TokensError::Syntax(_))
    ));
    let digest = sha("secret");
    let twice = format!(
        "[[token]]\nidentity = \"a\"\nsha256 = \"{digest}\"\n[[token]]\nidentity = \"b\"\nsha256 = \"{digest}\"\n"
    );
    match parse_tokens(&twice) {
        Err(TokensError::Duplicate {
            index,
            identity,
            other,
        }) => assert_eq!((index, identity.as_str(), other.as_str()), (1, "b", "a")),
        other => panic!("{other:?}"),
    }
    let bad = "[[token]]\nidentity = \"ci\"\nsha256 = \"the-token-itself\"\n";
    assert!(matches!(
        parse_tokens(bad),
        Err(TokensError::Digest { index: 0, .. })
    ));
}

#[test]
fn tokens_authenticate_as_bearer_or_basic_with_their_identity() {
    let access = gateway(vec![rule("**", &["*"], &["pull"])]);
    assert_eq!(access.authenticate(&bearer("token-ci")).unwrap(), "ci");
    assert_eq!(access.authenticate(&basic("ci", "token-ci")).unwrap(), "ci");
    assert_eq!(
        access
            .authenticate(&basic("reader", "token-reader"))
            .unwrap(),
        "reader"
    );
    let lower = HeaderValue::from_str(&format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:token-ci")
    ))
    .unwrap();
    assert_eq!(
        access.authenticate(&lower).unwrap(),
        "ci",
        "schemes are case-insensitive"
    );
    // Someone else's token under my name, a wrong token, no token.
    assert_eq!(
        access.authenticate(&basic("reader", "token-ci")),
        Err(AuthFailure::Unknown)
    );
    assert_eq!(
        access.authenticate(&bearer("token-cj")),
        Err(AuthFailure::Unknown)
    );
    assert_eq!(
        access.authenticate(&basic("ci", "")),
        Err(AuthFailure::Malformed)
    );
    for malformed in [
        "Digest username=\"ci\"",
        "Basic !!!not-base64",
        "Bearer",
        "token-ci",
    ] {
        assert_eq!(
            access.authenticate(&HeaderValue::from_static(malformed)),
            Err(AuthFailure::Malformed),
            "{malformed}"
        );
    }
    let no_colon = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("token-ci")
    ))
    .unwrap();
    assert_eq!(access.authenticate(&no_colon), Err(AuthFailure::Malformed));
}

#[test]
fn digests_are_compared_in_constant_time_over_every_entry() {
    // The comparison is `subtle`'s: equal and unequal digests of the same length, differing in
    // the first or the last byte, all go through `ct_eq`.
    let a: [u8; 32] = Sha256::digest(b"a").into();
    let mut first = a;
    first[0] ^= 1;
    let mut last = a;
    last[31] ^= 1;
    assert!(bool::from(a.ct_eq(&a)));
    assert!(!bool::from(a.ct_eq(&first)));
    assert!(!bool::from(a.ct_eq(&last)));
    // A match in the last entry is found: the loop does not stop at the first entry.
    let dir = tempfile::tempdir().unwrap();
    let many: Vec<(String, String)> = (0..50)
        .map(|i| (format!("id{i}"), format!("token-{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    std::fs::write(dir.path().join("t.toml"), tokens_file(&refs)).unwrap();
    let raw = RawAuth {
        mode: AuthMode::Gateway,
        tokens_file: Some("t.toml".into()),
        rule: vec![rule("**", &["*"], &["pull"])],
    };
    let access = Access::build(&raw, dir.path(), false).unwrap();
    assert_eq!(access.authenticate(&bearer("token-49")).unwrap(), "id49");
    assert_eq!(access.authenticate(&bearer("token-0")).unwrap(), "id0");
}

#[test]
fn rules_grant_actions_on_repository_globs_to_identity_globs() {
    let access = gateway(vec![
        rule("prod/**", &["ci", "cn:build-*"], &["push"]),
        rule("team-*/app", &["reader"], &["pull"]),
        rule("**", &["cn:auditor"], &["catalog", "pull"]),
    ]);
    let allows = |id: &str, action: Action, repo: Option<&str>| access.allows(id, action, repo);
    assert!(allows("ci", Action::Push, Some("prod/app")));
    assert!(
        allows("ci", Action::Push, Some("prod/team/app")),
        "** crosses /"
    );
    assert!(
        allows("ci", Action::Pull, Some("prod/app")),
        "push includes pull"
    );
    assert!(!allows("ci", Action::Push, Some("production/app")));
    assert!(
        !allows("ci", Action::Push, Some("prod")),
        "prod/** is below prod/"
    );
    assert!(allows("cn:build-42", Action::Push, Some("prod/app")));
    assert!(!allows("cn:builder", Action::Push, Some("prod/app")));
    assert!(
        !allows("build-42", Action::Push, Some("prod/app")),
        "a token cannot be a cn:"
    );
    assert!(allows("reader", Action::Pull, Some("team-a/app")));
    assert!(
        !allows("reader", Action::Pull, Some("team-a/b/app")),
        "* stays in one component"
    );
    assert!(
        !allows("reader", Action::Push, Some("team-a/app")),
        "pull does not include push"
    );
    assert!(!allows("ci", Action::Catalog, None));
    assert!(allows("cn:auditor", Action::Catalog, None));
    assert!(allows("cn:auditor", Action::Pull, Some("anything/at/all")));
    assert!(!allows("cn:auditor", Action::Push, Some("anything")));
}

#[test]
fn routes_map_to_actions() {
    let action = |method: Method, path: &str| {
        let route = OciRoute::parse(&method, path).unwrap();
        action_of(&route).map(|(a, r)| (a, r.map(str::to_owned)))
    };
    use http::Method;
    let pull = |r: &str| Some((Action::Pull, Some(r.to_owned())));
    let push = |r: &str| Some((Action::Push, Some(r.to_owned())));
    assert_eq!(action(Method::GET, "/v2/"), None);
    assert_eq!(
        action(Method::GET, "/v2/_catalog"),
        Some((Action::Catalog, None))
    );
    assert_eq!(action(Method::GET, "/v2/a/b/manifests/v1"), pull("a/b"));
    assert_eq!(action(Method::HEAD, "/v2/a/manifests/v1"), pull("a"));
    let digest = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        action(Method::GET, &format!("/v2/a/blobs/{digest}")),
        pull("a")
    );
    assert_eq!(action(Method::GET, "/v2/a/tags/list"), pull("a"));
    assert_eq!(
        action(Method::GET, &format!("/v2/a/referrers/{digest}")),
        pull("a")
    );
    assert_eq!(action(Method::PUT, "/v2/a/manifests/v1"), push("a"));
    assert_eq!(action(Method::DELETE, "/v2/a/manifests/v1"), push("a"));
    assert_eq!(
        action(Method::DELETE, &format!("/v2/a/blobs/{digest}")),
        push("a")
    );
    assert_eq!(action(Method::POST, "/v2/a/blobs/uploads/"), push("a"));
    for method in [Method::PATCH, Method::PUT, Method::GET, Method::DELETE] {
        assert_eq!(action(method, "/v2/a/blobs/uploads/u-1"), push("a"));
    }
}

#[test]
fn auth_configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokens.toml"), tokens_file(&[("ci", "t")])).unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[token]]\nidentity = \"ci\"\nsha256 = \"x\"\n",
    )
    .unwrap();
    let build = |raw: RawAuth, client_ca: bool| {
        Access::build(&raw, dir.path(), client_ca)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let gw = |tokens: Option<&str>, rules: Vec<RawRule>| RawAuth {
        mode: AuthMode::Gateway,
        tokens_file: tokens.map(Into::into),
        rule: rules,
    };
    let ok_rule = || vec![rule("**", &["ci"], &["pull"])];
    assert!(build(RawAuth::default(), false).is_ok());
    assert!(build(gw(Some("tokens.toml"), ok_rule()), false).is_ok());
    assert!(
        build(gw(None, ok_rule()), true).is_ok(),
        "client certificates alone"
    );
    let cases: Vec<(RawAuth, bool, &str)> = vec![
        (
            RawAuth {
                tokens_file: Some("tokens.toml".into()),
                ..RawAuth::default()
            },
            false,
            "auth.tokens_file: is only used with auth.mode = \"gateway\"",
        ),
        (
            RawAuth {
                rule: ok_rule(),
                ..RawAuth::default()
            },
            false,
            "auth.rule: rules are only applied",
        ),
        (
            gw(None, ok_rule()),
            false,
            "auth.mode: \"gateway\" needs a way",
        ),
        (
            gw(Some("tokens.toml"), vec![]),
            false,
            "auth.rule: \"gateway\" mode needs",
        ),
        (
            gw(Some("missing.toml"), ok_rule()),
            false,
            "auth.tokens_file: cannot read",
        ),
        (gw(Some("bad.toml"), ok_rule()), false, "auth.tokens_file: "),
        (
            gw(Some("tokens.toml"), vec![rule("a/***", &["ci"], &["pull"])]),
            false,
            "auth.rule[0].repositories",
        ),
        (
            gw(Some("tokens.toml"), vec![rule("**", &[], &["pull"])]),
            false,
            "auth.rule[0].identities",
        ),
        (
            gw(
                Some("tokens.toml"),
                vec![rule("**", &["ci", ""], &["pull"])],
            ),
            false,
            "auth.rule[0].identities[1]",
        ),
        (
            gw(Some("tokens.toml"), vec![rule("**", &["ci"], &[])]),
            false,
            "auth.rule[0].actions",
        ),
        (
            gw(
                Some("tokens.toml"),
                vec![rule("**", &["ci"], &["pull", "delete"])],
            ),
            false,
            "auth.rule[0].actions[1]: \"delete\" is not an action",
        ),
        (
            gw(
                Some("tokens.toml"),
                vec![rule("prod/**", &["ci"], &["catalog"])],
            ),
            false,
            "auth.rule[0].actions[0]: \"catalog\" lists every repository",
        ),
    ];
    for (raw, client_ca, expected) in cases {
        let e = build(raw, client_ca).unwrap_err();
        assert!(e.starts_with(expected), "expected {expected:?}, got {e}");
    }
    let e = build(gw(Some("bad.toml"), ok_rule()), false).unwrap_err();
    assert!(e.contains("bad.toml: token[0].sha256"), "{e}");
    let e = build(gw(Some("missing.toml"), ok_rule()), false).unwrap_err();
    assert!(
        e.contains(&dir.path().join("missing.toml").display().to_string()),
        "{e}"
    );
}

fn parts(method: &str, uri: &str, authorization: Option<HeaderValue>) -> (Parts, OciRequest) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let oci = OciRequest::parse(&parts.method, &parts.uri).unwrap();
    (parts, oci)
}

#[test]
fn gateway_checks_authenticate_authorise_and_drop_the_clients_authorization() {
    let access = gateway(vec![
        rule("prod/**", &["ci", "cn:build-*"], &["push"]),
        rule("prod/**", &["reader"], &["pull"]),
    ]);

    let (mut p, mut oci) = parts("GET", "/v2/", None);
    let e = check(&access, &mut p, &mut oci).unwrap_err();
    assert!(matches!(e, ProxyError::Unauthorized(_)), "{e:?}");
    let response = e.into_response();
    assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"sealgate\""
    );

    let (mut p, mut oci) = parts("GET", "/v2/", Some(bearer("nope")));
    assert!(matches!(
        check(&access, &mut p, &mut oci),
        Err(ProxyError::Unauthorized(_))
    ));

    // Authenticated: `GET /v2/` needs no rule; the header is gone.
    let (mut p, mut oci) = parts("GET", "/v2/", Some(basic("ci", "token-ci")));
    assert_eq!(
        check(&access, &mut p, &mut oci).unwrap().as_deref(),
        Some("ci")
    );
    assert!(p.headers.get(header::AUTHORIZATION).is_none());

    let (mut p, mut oci) = parts(
        "PUT",
        "/v2/prod/app/manifests/v1",
        Some(basic("ci", "token-ci")),
    );
    assert_eq!(
        check(&access, &mut p, &mut oci).unwrap().as_deref(),
        Some("ci")
    );

    let (mut p, mut oci) = parts(
        "PUT",
        "/v2/prod/app/manifests/v1",
        Some(basic("reader", "token-reader")),
    );
    match check(&access, &mut p, &mut oci) {
        Err(ProxyError::Denied(message)) => assert_eq!(
            message,
            "identity reader may not push repository prod/app: no [[auth.rule]] grants it"
        ),
        other => panic!("{other:?}"),
    }
    let (mut p, mut oci) = parts("GET", "/v2/_catalog", Some(bearer("token-ci")));
    match check(&access, &mut p, &mut oci) {
        Err(ProxyError::Denied(message)) => {
            assert!(message.contains("may not catalog the catalog"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    // A client certificate's identity, when no Authorization is sent.
    let (mut p, mut oci) = parts("PUT", "/v2/prod/app/manifests/v1", None);
    p.extensions.insert(PeerIdentity("cn:build-9".to_owned()));
    assert_eq!(
        check(&access, &mut p, &mut oci).unwrap().as_deref(),
        Some("cn:build-9")
    );
    // A present but wrong Authorization is not rescued by the certificate.
    let (mut p, mut oci) = parts("PUT", "/v2/prod/app/manifests/v1", Some(bearer("nope")));
    p.extensions.insert(PeerIdentity("cn:build-9".to_owned()));
    assert!(matches!(
        check(&access, &mut p, &mut oci),
        Err(ProxyError::Unauthorized(_))
    ));
}

#[test]
fn passthrough_forwards_authorization_and_records_the_certificate_identity() {
    let access = Access::default();
    let (mut p, mut oci) = parts(
        "PUT",
        "/v2/prod/app/manifests/v1",
        Some(bearer("upstream-token")),
    );
    assert_eq!(check(&access, &mut p, &mut oci).unwrap(), None);
    assert_eq!(p.headers[header::AUTHORIZATION], "Bearer upstream-token");
    p.extensions.insert(PeerIdentity("cn:node-1".to_owned()));
    assert_eq!(
        check(&access, &mut p, &mut oci).unwrap().as_deref(),
        Some("cn:node-1")
    );
}

#[test]
fn a_mount_from_a_repository_the_identity_cannot_pull_becomes_a_plain_upload() {
    let access = gateway(vec![
        rule("team/**", &["ci"], &["push"]),
        rule("shared/**", &["ci"], &["pull"]),
    ]);
    let digest = format!("sha256:{}", "b".repeat(64));
    let query = |from: &str| {
        let (mut p, mut oci) = parts(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={digest}&from={from}"),
            Some(bearer("token-ci")),
        );
        check(&access, &mut p, &mut oci).unwrap();
        oci.upstream_query
    };
    assert_eq!(
        query("shared/base").as_deref(),
        Some(format!("mount={}&from=shared%2Fbase", digest.replace(':', "%3A")).as_str()),
        "pull on the source: the mount goes through"
    );
    assert_eq!(
        query("prod/secret"),
        None,
        "no pull on the source: plain upload"
    );
}
