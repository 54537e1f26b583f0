//! Which upstream a request goes to, and what of it arrives there: `?ns=` selects the upstream
//! (none: the first), and path, query and every `Accept` line reach it unchanged.

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::{
    MANIFEST_ACCEPT, RecordingUpstream, Sealgate, UpstreamBehaviour, send,
};

#[tokio::test(flavor = "multi_thread")]
async fn namespace_parameter_selects_the_upstream_and_its_absence_the_first() {
    let first = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let second = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let sealgate = Sealgate::builder()
        .upstream("first", &first.url(), &["registry.example"])
        .upstream("second", &second.url(), &["docker.io"])
        .start()
        .await;
    let base = sealgate.base_url();
    let (first_baseline, second_baseline) = (first.count(), second.count());

    for (query, expect_first, expect_second) in [
        ("", 1, 0),
        ("?ns=docker.io", 1, 1),
        ("?ns=registry.example", 2, 1),
    ] {
        // tags/list passes straight through: one request per GET (manifest pulls add sealgate's
        // own signature lookups, which the pull-gate tests count).
        let url = format!("{base}/v2/library/app/tags/list{query}");
        let reply = send(Method::GET, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text());
        assert_eq!(
            (
                first.count() - first_baseline,
                second.count() - second_baseline
            ),
            (expect_first, expect_second),
            "after GET {url}: requests seen by (first, second)"
        );
    }
}

/// skopeo sends one `Accept` line per media type and distribution refuses OCI manifests unless
/// every one arrives; paging and filtering queries must arrive as sent.
#[tokio::test(flavor = "multi_thread")]
async fn accept_lines_path_and_query_reach_the_upstream_unchanged() {
    let upstream = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let sealgate = Sealgate::builder()
        .upstream("recorder", &upstream.url(), &[])
        .start()
        .await;
    let base = sealgate.base_url();
    let baseline = upstream.count();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let referrers = format!("/v2/a/b/referrers/{digest}?artifactType=application%2Fvnd.example");

    let forwarded_paths = [
        "/v2/a/b/tags/list?n=2&last=v1".to_owned(),
        "/v2/_catalog?n=5&last=a%2Fb".to_owned(),
        "/v2/a/b/manifests/v1".to_owned(),
    ];
    for path in &forwarded_paths {
        let reply = send(
            Method::GET,
            &format!("{base}{path}"),
            &MANIFEST_ACCEPT,
            Bytes::new(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }

    let forwarded = &upstream.requests()[baseline..];
    let uris: Vec<&str> = forwarded.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris[..3],
        forwarded_paths,
        "paths and queries as the upstream saw them"
    );
    // After the manifest, only sealgate's own lookups of its signatures, in the same repository.
    assert!(
        uris[3..].iter().all(|u| u.starts_with("/v2/a/b/")),
        "{uris:?}"
    );
    // Referrers are answered by sealgate: the upstream is asked for all of them, the filter is
    // applied here and said so.
    let before = upstream.count();
    let reply = send(
        Method::GET,
        &format!("{base}{referrers}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("oci-filters-applied"), Some("artifactType"));
    let asked = &upstream.requests()[before..];
    assert_eq!(asked[0].uri, format!("/v2/a/b/referrers/{digest}"));
    let accepted: Vec<&str> = forwarded[2]
        .header_values("accept")
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .collect();
    for (_, media_type) in MANIFEST_ACCEPT {
        assert!(
            accepted.contains(&media_type),
            "{media_type} was dropped: {accepted:?}"
        );
    }
}
