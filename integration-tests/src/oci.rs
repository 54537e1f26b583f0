//! Small OCI distribution-API steps over the HTTP helpers, for tests that set up content without a
//! registry client, or check what a registry (or sealgate) holds.

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::client::{GeneratedBody, send, send_streaming};
use crate::{MANIFEST_ACCEPT, OCI_MANIFEST, sha256_digest};

/// `HEAD <base>/v2/<name>/manifests/<reference>` with every manifest `Accept` line; returns the
/// `Docker-Content-Digest`. Fails the test unless the answer is 200 with that header.
pub async fn manifest_digest(base_url: &str, name: &str, reference: &str) -> String {
    let url = format!("{base_url}/v2/{name}/manifests/{reference}");
    let reply = send(Method::HEAD, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::OK, "HEAD {url}: {reply:?}");
    reply
        .header("docker-content-digest")
        .unwrap_or_else(|| panic!("HEAD {url} has no Docker-Content-Digest: {reply:?}"))
        .to_owned()
}

/// `GET <base>/v2/<name>/manifests/<reference>` with every manifest `Accept` line; returns the raw
/// bytes. Fails the test unless the answer is 200.
pub async fn fetch_manifest(base_url: &str, name: &str, reference: &str) -> Bytes {
    let url = format!("{base_url}/v2/{name}/manifests/{reference}");
    let reply = send(Method::GET, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::OK, "GET {url}: {}", reply.text());
    reply.body
}

/// `GET <base>/v2/<name>/blobs/<digest>`; returns the bytes. Fails the test unless 200.
pub async fn fetch_blob(base_url: &str, name: &str, digest: &str) -> Bytes {
    let url = format!("{base_url}/v2/{name}/blobs/{digest}");
    let reply = send(Method::GET, &url, &[], Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::OK, "GET {url}: {}", reply.text());
    reply.body
}

/// Resolves a `Location` header against `base_url`: absolute URLs stay, `/v2/...` gets the base.
pub fn resolve_location(base_url: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base_url}{location}")
    } else {
        location.to_owned()
    }
}

/// Appends `key=value` to `url` with `?` or `&` as needed.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

/// `<base>/v2/<name>/blobs/uploads/`, where a blob upload of `name` starts.
pub fn uploads_url(base_url: &str, name: &str) -> String {
    format!("{base_url}/v2/{name}/blobs/uploads/")
}

/// `POST <start_url>` (an [`uploads_url`], perhaps with a query) to open an upload session;
/// returns the `Location` of the session as the server sent it, relative or absolute. Fails the
/// test unless the answer is 202 with a `Location`.
pub async fn open_upload(start_url: &str) -> String {
    let reply = send(Method::POST, start_url, &[], Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "POST {start_url}: {}",
        reply.text()
    );
    reply
        .header("location")
        .unwrap_or_else(|| panic!("POST {start_url} returned no Location: {reply:?}"))
        .to_owned()
}

/// Opens an upload session for a blob of `name` ([`open_upload`] on its [`uploads_url`]);
/// returns the session's absolute URL, for the `PATCH`/`PUT` that follow.
pub async fn start_upload(base_url: &str, name: &str) -> String {
    let location = open_upload(&uploads_url(base_url, name)).await;
    resolve_location(base_url, &location)
}

/// Uploads `bytes` as a blob of `name` in two steps (`POST uploads/`, then `PUT ?digest=` with
/// the body), the way distribution 2.8 accepts a monolithic upload; returns the digest.
pub async fn push_blob(base_url: &str, name: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let finish = with_query(&start_upload(base_url, name).await, "digest", &digest);
    let reply = send(
        Method::PUT,
        &finish,
        &[("content-type", "application/octet-stream")],
        Bytes::copy_from_slice(bytes),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "PUT {finish}: {}",
        reply.text()
    );
    digest
}

/// Uploads the blobs of a one-layer image unique to `salt` and returns its manifest (not yet
/// pushed) and the manifest's digest.
pub async fn tiny_image(base_url: &str, name: &str, salt: &str) -> (String, Bytes) {
    let layer = crate::tar_layer(&[("salt.txt", salt.as_bytes())]);
    let layer_digest = push_blob(base_url, name, &layer).await;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .expect("JSON serialises");
    let config_digest = push_blob(base_url, name, &config).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .expect("JSON serialises");
    (sha256_digest(&manifest), Bytes::from(manifest))
}

/// `PUT /v2/<name>/manifests/<reference>` with an OCI manifest; the reply, whatever it is.
pub async fn put_manifest(
    base_url: &str,
    name: &str,
    reference: &str,
    manifest: &Bytes,
) -> crate::Reply {
    let url = format!("{base_url}/v2/{name}/manifests/{reference}");
    send(
        Method::PUT,
        &url,
        &[("content-type", OCI_MANIFEST)],
        manifest.clone(),
    )
    .await
}

/// Pushes a one-layer image unique to `salt` under `reference`; returns its manifest digest.
pub async fn push_tiny_image(base_url: &str, name: &str, reference: &str, salt: &str) -> String {
    let (digest, manifest) = tiny_image(base_url, name, salt).await;
    let reply = put_manifest(base_url, name, reference, &manifest).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "PUT {base_url}/v2/{name}/manifests/{reference}: {}",
        reply.text()
    );
    digest
}

/// Uploads a generated body as a blob of `name` (`POST uploads/`, then a streaming
/// `PUT ?digest=`), holding one chunk at a time; returns the digest. The digest has to be in the
/// URL before the body goes out, so the generator runs once to compute it and once to upload.
pub async fn push_generated_blob(base_url: &str, name: &str, body: GeneratedBody) -> String {
    let digest = body.digest();
    let length = body.length().to_string();
    let finish = with_query(&start_upload(base_url, name).await, "digest", &digest);
    let response = send_streaming(
        Method::PUT,
        &finish,
        &[
            ("content-type", "application/octet-stream"),
            ("content-length", &length),
        ],
        body.boxed(),
    )
    .await;
    let status = response.status();
    let text = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_else(|e| format!("<body unreadable: {e}>"));
    assert_eq!(status, StatusCode::CREATED, "PUT {finish}: {text}");
    digest
}
