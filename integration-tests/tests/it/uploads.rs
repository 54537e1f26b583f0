//! The blob-upload and listing endpoints driven by hand through sealgate: chunked and monolithic
//! uploads, mounts, cancellation, ranges, tag lists and the catalog. Every upload follows the
//! `Location` sealgate returns, which must be relative so the client keeps talking to sealgate.

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::oci::{self, resolve_location, with_query};
use sealgate_integration_tests::{
    Reply, registry_behind_sealgate, send, sha256_digest, unique_salt,
};
use serde_json::Value;

/// `len` bytes that differ on every run.
fn unique_bytes(len: usize) -> Vec<u8> {
    let salt = unique_salt();
    let mut bytes = salt.clone().into_bytes();
    let mut block = sha256_digest(salt.as_bytes()).into_bytes();
    while bytes.len() < len {
        block = sha256_digest(&block).into_bytes();
        bytes.extend_from_slice(&block);
    }
    bytes.truncate(len);
    bytes
}

/// The `Location` of `reply`, which must be a relative `/v2/<name>/...` path: an absolute URL
/// would send the client around sealgate, straight to the upstream.
fn relative_location<'r>(reply: &'r Reply, name: &str) -> &'r str {
    let location = reply
        .header("location")
        .unwrap_or_else(|| panic!("no Location header: {reply:?}"));
    assert_relative(location, name)
}

/// `location`, after failing the test unless it is a relative `/v2/<name>/...` path.
fn assert_relative<'l>(location: &'l str, name: &str) -> &'l str {
    assert!(
        location.starts_with(&format!("/v2/{name}/")),
        "Location must be a relative path under /v2/{name}/, got {location:?}"
    );
    location
}

/// `location`, after failing the test unless it still carries the namespace, `ns=docker.io`.
fn assert_keeps_namespace(location: &str) -> &str {
    assert!(
        location.contains("ns=docker.io"),
        "Location lost ns=: {location}"
    );
    location
}

/// `PATCH <url>` with `chunk` as bytes `content_range` of the upload; fails the test unless the
/// answer is 202.
async fn patch_chunk(url: &str, content_range: &str, chunk: Bytes) -> Reply {
    let reply = send(
        Method::PATCH,
        url,
        &[
            ("content-type", "application/octet-stream"),
            ("content-range", content_range),
        ],
        chunk,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "PATCH {content_range}: {}",
        reply.text()
    );
    reply
}

/// `GET <path>` through sealgate at `base` and straight from the registry at `registry_url`.
async fn get_via_and_direct(base: &str, registry_url: &str, path: &str) -> (Reply, Reply) {
    let via = send(Method::GET, &format!("{base}{path}"), &[], Bytes::new()).await;
    let direct = send(
        Method::GET,
        &format!("{registry_url}{path}"),
        &[],
        Bytes::new(),
    )
    .await;
    (via, direct)
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_follows_relative_locations_and_lands_intact() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let name = "it/chunked";
    let blob = unique_bytes(300_007);
    let digest = sha256_digest(&blob);

    let mut location = oci::open_upload(&oci::uploads_url(&base, name)).await;
    assert_relative(&location, name);
    assert!(
        !location.contains(&registry.host()),
        "Location leaks the upstream address: {location}"
    );

    let chunk_ends = [100_000, 200_000, blob.len()];
    let mut offset = 0;
    for end in chunk_ends {
        let url = resolve_location(&base, &location);
        let content_range = format!("{offset}-{}", end - 1);
        let reply = patch_chunk(
            &url,
            &content_range,
            Bytes::copy_from_slice(&blob[offset..end]),
        )
        .await;
        // distribution 2.8 answers `Range: 0-<last>` (no `bytes=` unit).
        assert_eq!(
            reply.header("range"),
            Some(format!("0-{}", end - 1).as_str())
        );
        location = relative_location(&reply, name).to_owned();
        offset = end;
    }

    let status_url = resolve_location(&base, &location);
    let reply = send(Method::GET, &status_url, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "upload status: {}",
        reply.text()
    );
    assert_eq!(
        reply.header("range"),
        Some(format!("0-{}", blob.len() - 1).as_str())
    );
    assert!(reply.header("docker-upload-uuid").is_some(), "{reply:?}");

    let finish = with_query(&status_url, "digest", &digest);
    let reply = send(Method::PUT, &finish, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "PUT ?digest=: {}",
        reply.text()
    );
    assert_eq!(reply.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        relative_location(&reply, name),
        format!("/v2/{name}/blobs/{digest}")
    );

    let through = oci::fetch_blob(&base, name, &digest).await;
    let direct = oci::fetch_blob(&registry.url(), name, &digest).await;
    assert!(
        through == blob,
        "blob through sealgate differs from what was uploaded"
    );
    assert!(
        direct == blob,
        "blob in the registry differs from what was uploaded"
    );

    let blob_url = format!("{base}/v2/{name}/blobs/{digest}");
    let head = send(Method::HEAD, &blob_url, &[], Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-length"),
        Some(blob.len().to_string().as_str())
    );
    assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));

    // distribution 2.8 serves ranges from filesystem storage (checked: 206 + Content-Range).
    let ranged = send(
        Method::GET,
        &blob_url,
        &[("range", "bytes=10-19")],
        Bytes::new(),
    )
    .await;
    assert_eq!(ranged.status, StatusCode::PARTIAL_CONTENT, "{ranged:?}");
    assert_eq!(ranged.body.as_ref(), &blob[10..20]);
    assert_eq!(
        ranged.header("content-range"),
        Some(format!("bytes 10-19/{}", blob.len()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn monolithic_post_with_digest_completes_the_upload() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let name = "it/monolithic";
    let blob = unique_bytes(4_321);
    let digest = sha256_digest(&blob);

    let url = with_query(&oci::uploads_url(&base, name), "digest", &digest);
    let reply = send(
        Method::POST,
        &url,
        &[("content-type", "application/octet-stream")],
        Bytes::from(blob.clone()),
    )
    .await;
    // The spec lets a registry either store the body (201) or ignore it and open a session (202),
    // after which the client PUTs the body. distribution 2.8 does the latter (checked directly).
    match reply.status {
        StatusCode::CREATED => {
            assert_eq!(
                relative_location(&reply, name),
                format!("/v2/{name}/blobs/{digest}")
            );
        }
        StatusCode::ACCEPTED => {
            eprintln!(
                "POST ?digest= opened a session (202), as distribution 2.8 does; PUT follows"
            );
            let finish = with_query(
                &resolve_location(&base, relative_location(&reply, name)),
                "digest",
                &digest,
            );
            let put = send(
                Method::PUT,
                &finish,
                &[("content-type", "application/octet-stream")],
                Bytes::from(blob.clone()),
            )
            .await;
            assert_eq!(
                put.status,
                StatusCode::CREATED,
                "PUT ?digest=: {}",
                put.text()
            );
            assert_eq!(put.header("docker-content-digest"), Some(digest.as_str()));
        }
        other => panic!("POST ?digest= answered {other}: {}", reply.text()),
    }
    assert!(oci::fetch_blob(&registry.url(), name, &digest).await == blob);
    assert!(oci::fetch_blob(&base, name, &digest).await == blob);
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mount_puts_the_blob_in_the_target_repository() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let blob = unique_bytes(2_048);
    let digest = oci::push_blob(&base, "it/mount-source", &blob).await;

    let target_head = format!("{}/v2/it/mount-target/blobs/{digest}", registry.url());
    let before = send(Method::HEAD, &target_head, &[], Bytes::new()).await;
    assert_eq!(
        before.status,
        StatusCode::NOT_FOUND,
        "the target must not have it yet"
    );

    let url =
        format!("{base}/v2/it/mount-target/blobs/uploads/?mount={digest}&from=it/mount-source");
    let reply = send(Method::POST, &url, &[], Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "mount: {}", reply.text());
    assert_eq!(reply.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        relative_location(&reply, "it/mount-target"),
        format!("/v2/it/mount-target/blobs/{digest}")
    );

    let after = send(Method::HEAD, &target_head, &[], Bytes::new()).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "the registry has the mounted blob"
    );
    assert!(oci::fetch_blob(&base, "it/mount-target", &digest).await == blob);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_upload_is_unknown_afterwards() {
    let (_registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let name = "it/cancel";
    let location = oci::open_upload(&oci::uploads_url(&base, name)).await;
    let upload = resolve_location(&base, assert_relative(&location, name));

    let reply = patch_chunk(&upload, "0-9", Bytes::from_static(b"0123456789")).await;
    let upload = resolve_location(&base, relative_location(&reply, name));

    let reply = send(Method::DELETE, &upload, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "DELETE upload: {}",
        reply.text()
    );
    let reply = send(Method::GET, &upload, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "status after cancel: {}",
        reply.text()
    );
    assert_eq!(
        reply.oci_error_codes(),
        ["BLOB_UPLOAD_UNKNOWN"],
        "{}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_list_and_catalog_match_the_registry() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let salt = unique_salt();
    let name = "it/tags";
    let tags = ["latest", "v1", "v2", "v3"];
    for tag in tags {
        oci::push_tiny_image(&base, name, tag, &salt).await;
    }
    oci::push_tiny_image(&base, "it/other", "v1", &salt).await;

    let list = send(
        Method::GET,
        &format!("{base}/v2/{name}/tags/list"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let body = list.json();
    assert_eq!(body["name"], name);
    let mut listed: Vec<&str> = body["tags"]
        .as_array()
        .expect("tags array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, tags);

    // distribution 2.8 ignores n/last on tag lists (the full list); sealgate pages it (issue 11,
    // conformance.rs walks every page).
    for (query, page) in [("n=2", ["latest", "v1"]), ("n=2&last=v1", ["v2", "v3"])] {
        let path = format!("/v2/{name}/tags/list?{query}");
        let (via, direct) = get_via_and_direct(&base, &registry.url(), &path).await;
        assert_eq!(via.status, direct.status, "{path}");
        assert_eq!(via.json()["tags"], serde_json::json!(page), "{path}");
    }

    let catalog = send(
        Method::GET,
        &format!("{base}/v2/_catalog"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(catalog.status, StatusCode::OK, "{}", catalog.text());
    assert_eq!(
        catalog.json()["repositories"],
        serde_json::json!(["it/other", "it/tags"])
    );

    let (via, direct) = get_via_and_direct(&base, &registry.url(), "/v2/_catalog?n=1").await;
    assert_eq!(via.status, StatusCode::OK);
    assert_eq!(via.json(), direct.json());
    assert_eq!(via.json()["repositories"], serde_json::json!(["it/other"]));
    // The next-page link is a relative path, so following it stays on sealgate.
    let link = via
        .header("link")
        .unwrap_or_else(|| panic!("no Link header: {via:?}"));
    assert!(
        link.starts_with("</v2/_catalog?"),
        "Link must stay relative: {link}"
    );
    assert_eq!(Some(link), direct.header("link"));
}

/// In mirror mode the namespace travels with the upload: a `Location` that dropped `ns=` would
/// send the next PATCH/PUT to the default upstream instead.
#[tokio::test(flavor = "multi_thread")]
async fn upload_locations_keep_the_namespace_parameter() {
    let (registry, sealgate) = registry_behind_sealgate(&["docker.io"]).await;
    let base = sealgate.base_url();
    let name = "library/ns-upload";
    let blob = unique_bytes(1_000);
    let digest = sha256_digest(&blob);

    let start = with_query(&oci::uploads_url(&base, name), "ns", "docker.io");
    let location = oci::open_upload(&start).await;
    assert_keeps_namespace(assert_relative(&location, name));

    let reply = patch_chunk(
        &resolve_location(&base, &location),
        "0-999",
        Bytes::from(blob.clone()),
    )
    .await;
    let location = assert_keeps_namespace(relative_location(&reply, name));

    let finish = with_query(&resolve_location(&base, location), "digest", &digest);
    let reply = send(Method::PUT, &finish, &[], Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "PUT: {}", reply.text());
    assert_keeps_namespace(relative_location(&reply, name));
    assert!(oci::fetch_blob(&registry.url(), name, &digest).await == blob);
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_by_digest_pass_through() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let name = "it/delete";
    // Pushed by digest: a digest no tag is pinned to may be deleted (a pinned one may not; see
    // push_gate).
    let (manifest_digest, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let pushed = oci::put_manifest(&base, name, &manifest_digest, &manifest).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.text());
    let manifest: Value =
        serde_json::from_slice(&oci::fetch_manifest(&base, name, &manifest_digest).await)
            .expect("manifest is JSON");
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_owned();

    let manifest_url = format!("{base}/v2/{name}/manifests/{manifest_digest}");
    let reply = send(Method::DELETE, &manifest_url, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "DELETE manifest: {}",
        reply.text()
    );
    let direct = format!("{}/v2/{name}/manifests/{manifest_digest}", registry.url());
    let gone = send(
        Method::GET,
        &direct,
        &sealgate_integration_tests::MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "the registry still has the manifest"
    );
    let gone = send(
        Method::GET,
        &manifest_url,
        &sealgate_integration_tests::MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text());
    assert_eq!(
        gone.oci_error_codes(),
        ["MANIFEST_UNKNOWN"],
        "{}",
        gone.text()
    );

    let blob_url = format!("{base}/v2/{name}/blobs/{layer_digest}");
    let reply = send(Method::DELETE, &blob_url, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "DELETE blob: {}",
        reply.text()
    );
    let gone = send(Method::HEAD, &blob_url, &[], Bytes::new()).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}
