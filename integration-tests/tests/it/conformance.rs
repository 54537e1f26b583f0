//! Where sealgate is more conformant to the OCI distribution spec than the registry behind it
//! (distribution 2.8), each behaviour the spec's conformance suite checks, driven by hand:
//! manifest reads by an invalid reference are unknown (404), `tags/list` honours `n` and `last`
//! with a `Link` to the next page, and chunks out of order get 416 and leave the upload usable.
//! The scope is the permissive one the conformance run used (audit, mutable tags).

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::oci::{self, resolve_location, with_query};
use sealgate_integration_tests::{
    RecordingUpstream, Registry, Reply, Sealgate, UpstreamBehaviour, send, sha256_digest,
    unique_salt,
};
use serde_json::json;

/// The scope of the conformance run: nothing is enforced and tags may move.
const PERMISSIVE: &str = "\n[policy.default]\nmode = \"audit\"\nimmutable_tags = false\n";

/// A registry with a permissive sealgate in front, also serving `?ns=docker.io`.
async fn permissive_pair() -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &["docker.io"])
        .trust_policy(PERMISSIVE)
        .start()
        .await;
    (registry, sealgate)
}

/// The tags of a `tags/list` answer, in the order given.
fn listed(reply: &Reply) -> Vec<String> {
    reply.json()["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags array: {}", reply.text()))
        .iter()
        .map(|t| t.as_str().expect("tags are strings").to_owned())
        .collect()
}

/// The target of a `Link: <target>; rel="next"` header.
fn next_target(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    assert!(link.ends_with("; rel=\"next\""), "Link: {link}");
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .map(|(target, _)| target.to_owned())
        .unwrap_or_else(|| panic!("Link is not <target>; rel=\"next\": {link}"));
    Some(target)
}

async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], Bytes::new()).await
}

/// The spec's suite reads `.INVALID_MANIFEST_NAME` and expects 404 (end-3 fails with 404):
/// nothing can be stored under a reference outside the grammar. A push with it stays a bad
/// request. Without the fix sealgate answered 400 `TAG_INVALID` to reads too.
#[tokio::test(flavor = "multi_thread")]
async fn r11_manifest_read_by_an_invalid_reference_is_unknown() {
    let (_registry, sealgate) = permissive_pair().await;
    let base = sealgate.base_url();
    let url = format!("{base}/v2/it/conformance/manifests/.INVALID_MANIFEST_NAME");
    let reply = send(
        Method::GET,
        &url,
        &sealgate_integration_tests::MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET: {}", reply.text());
    assert_eq!(reply.oci_error_codes(), ["MANIFEST_UNKNOWN"]);
    let head = send(Method::HEAD, &url, &[], Bytes::new()).await;
    assert_eq!(head.status, StatusCode::NOT_FOUND, "HEAD");
    let (_, manifest) = oci::tiny_image(&base, "it/conformance", &unique_salt()).await;
    let put = oci::put_manifest(&base, "it/conformance", ".INVALID_MANIFEST_NAME", &manifest).await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST, "PUT: {}", put.text());
    assert_eq!(put.oci_error_codes(), ["TAG_INVALID"]);

    // Answered by sealgate: the upstream never hears of it.
    let recorder = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let gate = Sealgate::builder()
        .upstream("recorder", &recorder.url(), &[])
        .trust_policy(PERMISSIVE)
        .start()
        .await;
    let before = recorder.count();
    for method in [Method::GET, Method::HEAD] {
        let url = format!("{}/v2/a/manifests/-bad", gate.base_url());
        let reply = send(method.clone(), &url, &[], Bytes::new()).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {url}");
    }
    assert_eq!(
        recorder.count(),
        before,
        "reads of invalid references were forwarded"
    );
}

/// distribution 2.8 ignores `n` and `last` on `tags/list` (and lists tags in no particular
/// order). sealgate pages the list itself: sorted, `n` at most, after `last` exclusively, with a
/// `Link` to the next page while more remain, `ns` kept in mirror mode.
#[tokio::test(flavor = "multi_thread")]
async fn r11_tag_list_is_paginated_with_a_link_to_the_next_page() {
    let (_registry, sealgate) = permissive_pair().await;
    let base = sealgate.base_url();
    let name = "it/conformance-tags";
    let (_, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let tags = ["b", "9", "A", "c", "_x", "10", "a"];
    for tag in tags {
        let reply = oci::put_manifest(&base, name, tag, &manifest).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "PUT {tag}: {}",
            reply.text()
        );
    }
    let mut sorted: Vec<String> = tags.iter().map(|&t| t.to_owned()).collect();
    sorted.sort_unstable();

    let first = get(&format!("{base}/v2/{name}/tags/list?n=3")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["name"], name);
    assert_eq!(listed(&first), ["10", "9", "A"]);
    assert_eq!(
        next_target(&first).as_deref(),
        Some(format!("/v2/{name}/tags/list?n=3&last=A").as_str())
    );

    // Following the links walks the whole list once, in order, three at most per page.
    let mut walked = Vec::new();
    let mut next = Some(format!("/v2/{name}/tags/list?n=3"));
    let mut pages = 0;
    while let Some(target) = next {
        pages += 1;
        assert!(pages <= 5, "the links do not end");
        let page = get(&format!("{base}{target}")).await;
        assert_eq!(page.status, StatusCode::OK, "{target}: {}", page.text());
        let got = listed(&page);
        assert!(got.len() <= 3, "{target}: {got:?}");
        walked.extend(got);
        next = next_target(&page);
    }
    assert_eq!(walked, sorted);
    assert_eq!(pages, 3);

    let exact = get(&format!("{base}/v2/{name}/tags/list?n=2&last=a")).await;
    assert_eq!(listed(&exact), ["b", "c"]);
    assert_eq!(next_target(&exact), None, "nothing remains after c");
    let after = get(&format!("{base}/v2/{name}/tags/list?last=A")).await;
    assert_eq!(listed(&after), ["_x", "a", "b", "c"]);
    assert_eq!(next_target(&after), None);
    let none = get(&format!("{base}/v2/{name}/tags/list?n=0")).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["tags"], json!([]));
    assert_eq!(none.header("link"), None, "n=0 must not have a Link");

    // Mirror mode: the next page goes to the same upstream.
    let mirrored = get(&format!("{base}/v2/{name}/tags/list?n=4&ns=docker.io")).await;
    assert_eq!(listed(&mirrored), ["10", "9", "A", "_x"]);
    let target = next_target(&mirrored).expect("a next page");
    assert!(target.contains("ns=docker.io"), "Link lost ns=: {target}");
    let rest = get(&format!("{base}{target}")).await;
    assert_eq!(listed(&rest), ["a", "b", "c"]);

    // Bad paging parameters are refused before anything is forwarded; an unknown repository
    // is the upstream's 404.
    for query in ["n=abc", "n=-1", "last=.bad"] {
        let reply = get(&format!("{base}/v2/{name}/tags/list?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.text()
        );
        assert!(
            !reply.oci_error_codes().is_empty(),
            "{query}: {}",
            reply.text()
        );
    }
    let unknown = get(&format!("{base}/v2/it/never-pushed/tags/list?n=2")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.oci_error_codes(), ["NAME_UNKNOWN"]);

    // Without n and last the list is the registry's, as before.
    let whole = get(&format!("{base}/v2/{name}/tags/list")).await;
    let mut all = listed(&whole);
    all.sort_unstable();
    assert_eq!(all, sorted);
}

/// `len` bytes that differ on every run.
fn unique_bytes(len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 71);
    let mut block = sha256_digest(unique_salt().as_bytes()).into_bytes();
    while bytes.len() < len {
        bytes.extend_from_slice(&block);
        block = sha256_digest(&block).into_bytes();
    }
    bytes.truncate(len);
    bytes
}

/// `PATCH <url>` with `chunk` as bytes `range` (`<first>-<last>`) of the upload.
async fn patch(url: &str, range: &str, chunk: &[u8]) -> Reply {
    send(
        Method::PATCH,
        url,
        &[
            ("content-type", "application/octet-stream"),
            ("content-range", range),
        ],
        Bytes::copy_from_slice(chunk),
    )
    .await
}

/// The `Location` of `reply`, absolute against `base`.
fn location(base: &str, reply: &Reply) -> String {
    let location = reply
        .header("location")
        .unwrap_or_else(|| panic!("no Location: {reply:?}"));
    assert!(
        location.starts_with("/v2/"),
        "Location must stay relative: {location}"
    );
    resolve_location(base, location)
}

/// The conformance suite's chunked-upload flow. distribution 2.8 appends an out-of-order chunk
/// (202), and a request with the session's superseded `Location` (a retried chunk, a status
/// check after a 416) makes it cancel the upload. Through sealgate: 416 without forwarding, a
/// status of 204 with `Range` and `Location`, and the upload completes.
#[tokio::test(flavor = "multi_thread")]
async fn r11_out_of_order_chunks_get_416_and_the_upload_survives() {
    let (_registry, sealgate) = permissive_pair().await;
    let base = sealgate.base_url();
    let name = "it/conformance-chunks";
    let blob = unique_bytes(2 * 1000);
    let (chunk1, chunk2) = blob.split_at(1000);
    let started = oci::start_upload(&base, name).await;

    let malformed = patch(&started, "bytes=nonsense", chunk1).await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text()
    );
    assert_eq!(malformed.oci_error_codes(), ["BLOB_UPLOAD_INVALID"]);

    let early = patch(&started, "1000-1999", chunk2).await;
    assert_eq!(
        early.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "out of order: {}",
        early.text()
    );
    assert_eq!(early.oci_error_codes(), ["BLOB_UPLOAD_INVALID"]);
    assert_eq!(early.header("range"), Some("0-0"), "{early:?}");
    location(&base, &early);
    let status = get(&started).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT, "{}", status.text());
    assert_eq!(status.header("range"), Some("0-0"), "nothing was written");

    let first = patch(&started, "0-999", chunk1).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    assert_eq!(first.header("range"), Some("0-999"));
    let after_first = location(&base, &first);

    // The suite retries the first chunk with the first Location: now superseded.
    let retried = patch(&started, "0-999", chunk1).await;
    assert_eq!(
        retried.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "repeated chunk: {}",
        retried.text()
    );
    assert_eq!(retried.header("range"), Some("0-999"));
    let stale = get(&started).await;
    assert_eq!(stale.status, StatusCode::NO_CONTENT, "{}", stale.text());
    assert_eq!(stale.header("range"), Some("0-999"));
    let resumed = location(&base, &stale);
    // Also with the current Location, a repeated chunk is refused.
    let repeated = patch(&after_first, "0-999", chunk1).await;
    assert_eq!(
        repeated.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "{}",
        repeated.text()
    );

    let second = patch(&resumed, "1000-1999", chunk2).await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.text());
    assert_eq!(second.header("range"), Some("0-1999"));
    let digest = sha256_digest(&blob);
    let finish = with_query(&location(&base, &second), "digest", &digest);
    let closed = send(
        Method::PUT,
        &finish,
        &[("content-type", "application/octet-stream")],
        Bytes::new(),
    )
    .await;
    assert_eq!(closed.status, StatusCode::CREATED, "{}", closed.text());
    assert_eq!(oci::fetch_blob(&base, name, &digest).await, blob);
}

/// The offset comes from the upstream, not from what one sealgate saw: a second sealgate in
/// front of the same registry, which never saw the session, refuses a repeated chunk and takes
/// the next one.
#[tokio::test(flavor = "multi_thread")]
async fn r11_chunk_order_is_checked_against_the_upstream_by_any_replica() {
    let registry = Registry::start().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            Sealgate::builder()
                .upstream("local", &registry.url(), &[])
                .trust_policy(PERMISSIVE)
                .start()
                .await,
        );
    }
    let (a, b) = (replicas[0].base_url(), replicas[1].base_url());
    let name = "it/conformance-replicas";
    let blob = unique_bytes(3 * 512);
    let (chunk1, rest) = blob.split_at(512);
    let (chunk2, chunk3) = rest.split_at(512);

    let started = oci::start_upload(&a, name).await;
    let first = patch(&started, "0-511", chunk1).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    let on_b = location(&b, &first);
    let repeated = patch(&on_b, "0-511", chunk1).await;
    assert_eq!(
        repeated.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "replica b forwarded a repeated chunk: {}",
        repeated.text()
    );
    assert_eq!(repeated.header("range"), Some("0-511"));
    let skipped = patch(&on_b, "1024-1535", chunk3).await;
    assert_eq!(
        skipped.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "{}",
        skipped.text()
    );
    let second = patch(&on_b, "512-1023", chunk2).await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.text());
    let third = patch(&location(&a, &second), "1024-1535", chunk3).await;
    assert_eq!(third.status, StatusCode::ACCEPTED, "{}", third.text());
    let digest = sha256_digest(&blob);
    let finish = with_query(&location(&b, &third), "digest", &digest);
    let closed = send(Method::PUT, &finish, &[], Bytes::new()).await;
    assert_eq!(closed.status, StatusCode::CREATED, "{}", closed.text());
    assert_eq!(oci::fetch_blob(&registry.url(), name, &digest).await, blob);
}
