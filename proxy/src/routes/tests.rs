use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn parse(method: Method, uri: &str) -> Result<OciRequest, RouteError> {
    OciRequest::parse(&method, &uri.parse::<Uri>().unwrap())
}

fn route(method: Method, uri: &str) -> OciRoute {
    parse(method, uri).unwrap().route
}

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

#[test]
fn every_endpoint_parses() {
    let d: Digest = D.parse().unwrap();
    assert_eq!(route(Method::GET, "/v2/"), OciRoute::Base);
    assert_eq!(route(Method::HEAD, "/v2"), OciRoute::Base);
    assert_eq!(route(Method::GET, "/v2/_catalog?n=10"), OciRoute::Catalog);
    assert_eq!(
        route(Method::HEAD, "/v2/library/alpine/manifests/3.20"),
        OciRoute::GetManifest {
            name: name("library/alpine"),
            reference: Reference::Tag("3.20".parse().unwrap()),
        }
    );
    assert_eq!(
        route(Method::PUT, &format!("/v2/a/manifests/{D}")),
        OciRoute::PutManifest {
            name: name("a"),
            reference: Reference::Digest(d.clone()),
        }
    );
    assert!(matches!(
        route(Method::DELETE, "/v2/a/manifests/v1"),
        OciRoute::DeleteManifest { .. }
    ));
    assert_eq!(
        route(Method::GET, &format!("/v2/a/b/blobs/{D}")),
        OciRoute::GetBlob {
            name: name("a/b"),
            digest: d.clone(),
        }
    );
    assert!(matches!(
        route(Method::DELETE, &format!("/v2/a/blobs/{D}")),
        OciRoute::DeleteBlob { .. }
    ));
    assert_eq!(
        route(Method::POST, "/v2/a/b/blobs/uploads/"),
        OciRoute::StartUpload { name: name("a/b") }
    );
    assert_eq!(
        route(Method::POST, "/v2/a/blobs/uploads"),
        OciRoute::StartUpload { name: name("a") }
    );
    let id = "0b4d2c9e-8c1f-4a3e-9a51-6f0e2f1d7c11";
    for (method, expect) in [
        (Method::PATCH, "PatchUpload"),
        (Method::PUT, "FinishUpload"),
        (Method::GET, "UploadStatus"),
        (Method::DELETE, "CancelUpload"),
    ] {
        let r = route(method, &format!("/v2/a/blobs/uploads/{id}"));
        assert!(format!("{r:?}").starts_with(expect), "{r:?}");
        assert_eq!(r.name(), Some(&name("a")));
    }
    assert_eq!(
        route(Method::GET, "/v2/a/b/c/tags/list"),
        OciRoute::ListTags {
            name: name("a/b/c")
        }
    );
    assert_eq!(
        route(Method::GET, &format!("/v2/a/referrers/{D}")),
        OciRoute::ListReferrers {
            name: name("a"),
            digest: d,
        }
    );
}

#[test]
fn names_may_contain_endpoint_words() {
    assert_eq!(
        route(Method::GET, "/v2/manifests/blobs/manifests/v1"),
        OciRoute::GetManifest {
            name: name("manifests/blobs"),
            reference: Reference::Tag("v1".parse().unwrap()),
        }
    );
    assert_eq!(
        route(Method::GET, "/v2/tags/list/tags/list"),
        OciRoute::ListTags {
            name: name("tags/list")
        }
    );
}

fn code_of(method: Method, uri: &str) -> RouteError {
    parse(method, uri).unwrap_err()
}

#[test]
fn hostile_paths_are_refused_with_the_right_error() {
    for uri in [
        "/v2/../etc/manifests/latest",
        "/v2/a/../b/manifests/latest",
        "/v2/a/%2e%2e/b/manifests/latest",
        "/v2/a/%2E%2E/manifests/latest",
        "/v2/UPPER/manifests/latest",
        "/v2/a//b/manifests/latest",
        "/v2//manifests/latest",
        "/v2/manifests/latest",
        "/v2/a%2fb/manifests/latest",
        "/v2/a/tags/list/x/../tags/list",
    ] {
        assert!(
            matches!(
                code_of(Method::GET, uri),
                RouteError::Id(OciIdError::Name { .. })
            ),
            "{uri}: {:?}",
            parse(Method::GET, uri)
        );
    }
    for (method, uri) in [
        (Method::GET, "/v2/a/blobs/sha256:xyz"),
        (
            Method::GET,
            "/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e",
        ),
        (Method::PUT, "/v2/a/manifests/bad:tag:x"),
        (Method::DELETE, "/v2/a/manifests/bad:tag:x"),
        (Method::GET, "/v2/a/referrers/latest"),
    ] {
        assert!(
            matches!(
                code_of(method.clone(), uri),
                RouteError::Id(OciIdError::Digest { .. })
            ),
            "{method} {uri}"
        );
    }
    let long_tag = format!("/v2/a/manifests/{}", "t".repeat(200));
    for uri in [
        "/v2/a/manifests/-bad",
        "/v2/a/manifests/.x",
        long_tag.as_str(),
    ] {
        for method in [Method::PUT, Method::DELETE] {
            assert!(
                matches!(
                    code_of(method.clone(), uri),
                    RouteError::Id(OciIdError::Tag { .. })
                ),
                "{method} {uri}"
            );
        }
    }
    for uri in [
        "/",
        "/v3/x",
        "/v2/a/unknown/x",
        "/v2/a",
        "/healthz/x",
        "/v2/_catalogx",
    ] {
        assert_eq!(code_of(Method::GET, uri), RouteError::NotFound, "{uri}");
    }
    assert!(matches!(
        code_of(Method::GET, "/v2/a/blobs/uploads/..%2f..%2fx"),
        RouteError::UploadId { .. }
    ));
}

#[test]
fn methods_are_checked_per_endpoint() {
    for (method, uri) in [
        (Method::POST, "/v2/"),
        (Method::POST, "/v2/a/manifests/v1"),
        (Method::PUT, &format!("/v2/a/blobs/{D}") as &str),
        (Method::GET, "/v2/a/blobs/uploads/"),
        (Method::DELETE, "/v2/a/tags/list"),
        (Method::PATCH, "/v2/_catalog"),
    ] {
        assert!(
            matches!(
                code_of(method.clone(), uri),
                RouteError::MethodNotAllowed { .. }
            ),
            "{method} {uri}"
        );
    }
}

#[test]
fn queries_keep_only_what_the_endpoint_defines() {
    let r = parse(
        Method::POST,
        &format!("/v2/a/blobs/uploads/?mount={D}&from=other/repo&evil=1"),
    )
    .unwrap();
    assert_eq!(
        r.upstream_query.as_deref(),
        Some(format!("mount={}&from=other%2Frepo", D.replace(':', "%3A")).as_str())
    );
    let r = parse(Method::GET, "/v2/a/tags/list?n=10&last=v1&x=y").unwrap();
    assert_eq!(r.upstream_query.as_deref(), Some("n=10&last=v1"));
    let r = parse(Method::GET, "/v2/a/manifests/v1?ns=docker.io&foo=bar").unwrap();
    assert_eq!(r.ns.as_deref(), Some("docker.io"));
    assert_eq!(r.upstream_query, None);
    let r = parse(
        Method::PATCH,
        "/v2/a/blobs/uploads/abc?_state=xyz%3D%3D&ns=registry.local%3A5000",
    )
    .unwrap();
    assert_eq!(r.ns.as_deref(), Some("registry.local:5000"));
    assert_eq!(r.upstream_query.as_deref(), Some("_state=xyz%3D%3D"));
    let r = parse(
        Method::GET,
        &format!(
            "/v2/a/referrers/{D}?artifactType=application%2Fvnd.dev.cosign.artifact.sig.v1%2Bjson"
        ),
    )
    .unwrap();
    assert_eq!(
        r.upstream_query.as_deref(),
        Some("artifactType=application%2Fvnd.dev.cosign.artifact.sig.v1%2Bjson")
    );
}

#[test]
fn bad_query_values_are_refused() {
    for (method, uri, param) in [
        (
            Method::POST,
            "/v2/a/blobs/uploads/?digest=sha256:nope",
            "digest",
        ),
        (Method::POST, "/v2/a/blobs/uploads/?mount=x&from=b", "mount"),
        (
            Method::POST,
            &format!("/v2/a/blobs/uploads/?mount={D}&from=B") as &str,
            "from",
        ),
        (
            Method::PUT,
            "/v2/a/blobs/uploads/abc?digest=sha256:1",
            "digest",
        ),
        (Method::GET, "/v2/a/tags/list?n=-1", "n"),
        (Method::GET, "/v2/a/tags/list?last=a/b", "last"),
        (Method::GET, "/v2/_catalog?last=A", "last"),
        (
            Method::GET,
            &format!("/v2/a/referrers/{D}?artifactType=nope") as &str,
            "artifactType",
        ),
        (Method::GET, "/v2/a/manifests/v1?ns=evil/path", "ns"),
        (
            Method::PUT,
            &format!("/v2/a/blobs/uploads/abc?digest={D}&digest={D}") as &str,
            "digest",
        ),
    ] {
        match parse(method, uri) {
            Err(RouteError::Query { param: p, .. }) => assert_eq!(p, param, "{uri}"),
            other => panic!("{uri}: {other:?}"),
        }
    }
}

/// Reads of a manifest by a reference outside the grammar are unknown manifests (the spec's
/// end-3 fails with 404), not bad requests; writes keep the 400 of an invalid tag or digest.
#[test]
fn r11_manifest_reads_by_an_invalid_reference_are_unknown() {
    let long_tag = format!("/v2/a/manifests/{}", "t".repeat(200));
    for uri in [
        "/v2/a/manifests/.INVALID_MANIFEST_NAME",
        "/v2/a/manifests/-bad",
        "/v2/a/manifests/bad:tag:x",
        "/v2/a/manifests/sha256:xyz",
        long_tag.as_str(),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let err = code_of(method.clone(), uri);
            assert!(
                matches!(err, RouteError::ManifestUnknown(_)),
                "{method} {uri}: {err:?}"
            );
            let classified = crate::error::ProxyError::Route(err).classify();
            assert_eq!(
                classified,
                (
                    http::StatusCode::NOT_FOUND,
                    crate::error::OciErrorCode::ManifestUnknown
                ),
                "{method} {uri}"
            );
        }
        assert!(
            matches!(code_of(Method::PUT, uri), RouteError::Id(_)),
            "PUT {uri}"
        );
    }
    // The name is still checked first: a bad name is a bad request whatever the method.
    assert!(matches!(
        code_of(Method::GET, "/v2/UPPER/manifests/.x"),
        RouteError::Id(OciIdError::Name { .. })
    ));
}
