//! Regressions of issue 11's adversarial review (breaks 3 to 6) and the delete semantics, each
//! against the real registry: the registry's own state is read directly where the break is about
//! it, not only what sealgate answers.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::{
    CosignKey, SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING, SignatureLayer, push_signature,
    push_signed_tiny_image,
};
use sealgate_integration_tests::{
    MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST, RecordingUpstream, Registry, Sealgate,
    UpstreamBehaviour, oci, send, sha256_digest, unique_salt,
};
use serde_json::{Value, json};

const TOKEN: &str = "it-admin-token-breaks-0123456789abcdef0123";

/// One gate with a scope per behaviour:
/// - `prod/**`: enforce, `ci` required, immutable tags;
/// - `held/**`: enforce, unsigned pushes quarantined, `latest` mutable;
/// - `open/**`: audit with mutable tags (the permissive scope of the conformance run);
/// - `loose/**`: warn with mutable tags;
/// - everything else: the default scope, audit with immutable tags.
async fn gated(dir: &Path, ci: &CosignKey) -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let policy = format!(
        r#"
[trust.keys.ci]
path = "{}"
[policy.default]
mode = "audit"
[[policy.scope]]
repositories = "prod/**"
signers = ["ci"]
[[policy.scope]]
repositories = "held/**"
signers = ["ci"]
unsigned_push = "quarantine"
quarantine_ttl = "1h"
mutable_tags = ["latest"]
[[policy.scope]]
repositories = "open/**"
mode = "audit"
immutable_tags = false
[[policy.scope]]
repositories = "loose/**"
mode = "warn"
signers = ["ci"]
immutable_tags = false
"#,
        ci.write_public(dir, "ci").display()
    );
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy)
        .admin_token(TOKEN)
        .start()
        .await;
    (registry, sealgate)
}

/// The registry's own answer for `name:reference` (sealgate bypassed): its digest, or `None`
/// when the registry does not have it.
async fn registry_digest(registry: &Registry, name: &str, reference: &str) -> Option<String> {
    let url = format!("{}/v2/{name}/manifests/{reference}", registry.url());
    let reply = send(Method::HEAD, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    match reply.status {
        StatusCode::OK => reply.header("docker-content-digest").map(str::to_owned),
        StatusCode::NOT_FOUND => None,
        other => panic!("HEAD {url}: {other}"),
    }
}

/// Whether the registry itself still links blob `digest` into `name`.
async fn registry_has_blob(registry: &Registry, name: &str, digest: &str) -> bool {
    let url = format!("{}/v2/{name}/blobs/{digest}", registry.url());
    let reply = send(Method::HEAD, &url, &[], Bytes::new()).await;
    match reply.status {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("HEAD {url}: {other}"),
    }
}

async fn delete(
    base: &str,
    name: &str,
    what: &str,
    reference: &str,
) -> sealgate_integration_tests::Reply {
    send(
        Method::DELETE,
        &format!("{base}/v2/{name}/{what}/{reference}"),
        &[],
        Bytes::new(),
    )
    .await
}

async fn admin_get(sealgate: &Sealgate, path: &str) -> (StatusCode, Value) {
    let reply = send(
        Method::GET,
        &format!("{}{path}", sealgate.admin_url()),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    (reply.status, reply.json())
}

/// Audit events with `action` about `repository`.
async fn audited(sealgate: &Sealgate, action: &str, repository: &str) -> Vec<Value> {
    let (status, audit) = admin_get(
        sealgate,
        &format!("/admin/v1/audit?action={action}&repository={repository}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["events"].as_array().cloned().unwrap_or_default()
}

/// A cosign OCI 1.1 signature manifest for `subject` (its payload and config blobs uploaded
/// through `base`), not pushed yet.
async fn signature_referrer(
    base: &str,
    name: &str,
    subject: &str,
    subject_len: usize,
    layer: &SignatureLayer,
) -> Bytes {
    let config_digest = oci::push_blob(base, name, b"{}").await;
    let payload_digest = oci::push_blob(base, name, &layer.payload).await;
    Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": config_digest},
            "layers": [{"mediaType": SIMPLE_SIGNING, "size": layer.payload.len(), "digest": payload_digest,
                        "annotations": {"dev.cosignproject.cosign/signature": layer.signature}}],
            "subject": {"mediaType": OCI_MANIFEST, "size": subject_len, "digest": subject},
        }))
        .expect("JSON"),
    )
}

/// An OCI index listing `children` (digest, size) for linux/amd64.
fn platform_index(children: &[(&str, usize)]) -> Bytes {
    let manifests: Vec<Value> = children
        .iter()
        .map(|(digest, size)| {
            json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                   "platform": {"architecture": "amd64", "os": "linux"}})
        })
        .collect();
    Bytes::from(
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
        .expect("JSON"),
    )
}

async fn put(
    base: &str,
    name: &str,
    reference: &str,
    body: &Bytes,
    content_type: &str,
) -> sealgate_integration_tests::Reply {
    send(
        Method::PUT,
        &format!("{base}/v2/{name}/manifests/{reference}"),
        &[("content-type", content_type)],
        body.clone(),
    )
    .await
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The config and layer digests of an image manifest.
fn blobs_of(manifest: &[u8]) -> (String, String) {
    let doc: Value = serde_json::from_slice(manifest).expect("manifest JSON");
    (
        doc["config"]["digest"].as_str().expect("config").to_owned(),
        doc["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_owned(),
    )
}

// ---- break 3: every write to a tag goes through the pin logic --------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_signature_manifest_cannot_move_a_pinned_tag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "prod/app";
    let (digest, manifest) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    // A valid signature of the pinned image, shaped as an OCI 1.1 referrer: it verifies, but
    // its place is its own digest, not an image tag.
    let referrer = signature_referrer(
        &base,
        name,
        &digest,
        manifest.len(),
        &ci.sign(&format!("registry.example/{name}"), &digest),
    )
    .await;
    let moved = put(&base, name, "v1", &referrer, OCI_MANIFEST).await;
    assert_eq!(moved.status, StatusCode::FORBIDDEN, "{}", moved.text());
    assert_eq!(moved.oci_error_codes(), ["DENIED"], "{}", moved.text());
    assert_eq!(
        registry_digest(&registry, name, "v1").await.as_deref(),
        Some(digest.as_str()),
        "the registry's own v1 still names the pinned digest"
    );
    // Nor does it create a tag sealgate never pinned.
    let fresh = put(&base, name, "v9", &referrer, OCI_MANIFEST).await;
    assert_eq!(fresh.status, StatusCode::FORBIDDEN, "{}", fresh.text());
    assert_eq!(registry_digest(&registry, name, "v9").await, None);
    // By its own digest it is what cosign pushes, and accepted.
    let by_digest = put(
        &base,
        name,
        &sha256_digest(&referrer),
        &referrer,
        OCI_MANIFEST,
    )
    .await;
    assert_eq!(
        by_digest.status,
        StatusCode::CREATED,
        "{}",
        by_digest.text()
    );
    assert_eq!(oci::manifest_digest(&base, name, "v1").await, digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_sig_tag_holds_only_signatures_of_its_own_digest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "prod/sig";
    let (first, _) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    let (second, second_manifest) = push_signed_tiny_image(&base, name, "v2", &ci).await;
    let first_sig = format!("sha256-{}.sig", hex(&first));
    let before = registry_digest(&registry, name, &first_sig)
        .await
        .expect("the first image's .sig tag");
    // A valid signature of the second image under the first one's .sig tag would replace the
    // first image's signatures there (the append-only check was skipped).
    let other = signature_referrer(
        &base,
        name,
        &second,
        second_manifest.len(),
        &ci.sign(&format!("registry.example/{name}"), &second),
    )
    .await;
    let replaced = put(&base, name, &first_sig, &other, OCI_MANIFEST).await;
    assert_eq!(
        replaced.status,
        StatusCode::FORBIDDEN,
        "{}",
        replaced.text()
    );
    assert_eq!(
        registry_digest(&registry, name, &first_sig).await,
        Some(before),
        "the registry's .sig tag is untouched"
    );
    // The same manifest with the right subject, under the right tag, keeping the earlier layer
    // out: the append-only check now applies to it and refuses it.
    let own = signature_referrer(
        &base,
        name,
        &first,
        1,
        &ci.sign(&format!("registry.example/{name}"), &first),
    )
    .await;
    let dropped = put(&base, name, &first_sig, &own, OCI_MANIFEST).await;
    assert_eq!(dropped.status, StatusCode::FORBIDDEN, "{}", dropped.text());
    assert!(dropped.text().contains("append-only"), "{}", dropped.text());

    // A runnable image under a .sig tag is refused, even where unsigned pushes are audited.
    let (image, image_manifest) = oci::tiny_image(&base, "scratch/sig", &unique_salt()).await;
    let tag = format!("sha256-{}.sig", hex(&image));
    let runnable = put(&base, "scratch/sig", &tag, &image_manifest, OCI_MANIFEST).await;
    assert_eq!(
        runnable.status,
        StatusCode::FORBIDDEN,
        "{}",
        runnable.text()
    );
    assert_eq!(registry_digest(&registry, "scratch/sig", &tag).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_attachment_tags_never_hold_a_runnable_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "prod/attach";
    let (image, image_manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let child = put(&base, name, &image, &image_manifest, OCI_MANIFEST).await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.text());
    let index = platform_index(&[(&image, image_manifest.len())]);
    for suffix in ["", ".att", ".sbom"] {
        let tag = format!("sha256-{}{suffix}", hex(&image));
        for (what, body, content_type) in [
            ("image", &image_manifest, OCI_MANIFEST),
            ("platform index", &index, OCI_INDEX),
        ] {
            let reply = put(&base, name, &tag, body, content_type).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{what} under {tag}: {}",
                reply.text()
            );
            assert_eq!(registry_digest(&registry, name, &tag).await, None, "{tag}");
        }
    }
    // What the tags are for still goes through: an attestation of the image under `.att` …
    let envelope_bytes = br#"{"payloadType":"x","payload":"","signatures":[]}"#;
    let envelope = oci::push_blob(&base, name, envelope_bytes).await;
    let config = oci::push_blob(&base, name, b"{}").await;
    let attestation = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": config},
            "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json", "size": envelope_bytes.len(), "digest": envelope}],
            "subject": {"mediaType": OCI_MANIFEST, "size": image_manifest.len(), "digest": image},
        }))
        .expect("JSON"),
    );
    let att = format!("sha256-{}.att", hex(&image));
    let reply = put(&base, name, &att, &attestation, OCI_MANIFEST).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    // … and a referrers index under the fallback tag.
    let referrers = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "size": attestation.len(),
                           "digest": sha256_digest(&attestation),
                           "artifactType": "application/vnd.dsse.envelope.v1+json"}],
        }))
        .expect("JSON"),
    );
    let fallback = format!("sha256-{}", hex(&image));
    // Listing a manifest that is no referrer of the image (the image itself, described as an
    // artifact) is refused.
    let stranger = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "size": image_manifest.len(), "digest": image,
                           "artifactType": "application/vnd.example.sbom"}],
        }))
        .expect("JSON"),
    );
    let reply = put(&base, name, &fallback, &stranger, OCI_INDEX).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    assert_eq!(registry_digest(&registry, name, &fallback).await, None);
    let reply = put(&base, name, &fallback, &referrers, OCI_INDEX).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        registry_digest(&registry, name, &fallback).await,
        Some(sha256_digest(&referrers))
    );
}

// ---- break 4: quarantine squatting ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_signed_push_clears_a_squatted_quarantine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "held/app";
    // Someone pushes an unsigned image to v2 before CI does: held, waiting for a signature.
    let (squat, squat_manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let held = oci::put_manifest(&base, name, "v2", &squat_manifest).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
    // CI's signed push of v2 is pinned …
    let (digest, _) = push_signed_tiny_image(&base, name, "v2", &ci).await;
    assert_eq!(
        registry_digest(&registry, name, "v2").await,
        Some(digest.clone())
    );
    // … and answered at once, not "awaits a signature" until the quarantine TTL.
    assert_eq!(oci::manifest_digest(&base, name, "v2").await, digest);
    let cleared = audited(&sealgate, "clear-pending", name).await;
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_eq!(cleared[0]["digest"], squat.as_str(), "{cleared:?}");
    // Signing the squatter's image later does not move the tag either.
    let late = push_signature(
        &base,
        name,
        &squat,
        &[ci.sign(&format!("registry.example/{name}"), &squat)],
    )
    .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.text());
    assert_eq!(oci::manifest_digest(&base, name, "v2").await, digest);
    assert_eq!(registry_digest(&registry, name, "v2").await, Some(digest));
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_pinned_tag_is_answered_before_a_held_push() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (_registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "held/mutable";
    let (digest, _) = push_signed_tiny_image(&base, name, "latest", &ci).await;
    // `latest` may move, so an unsigned push of it is held rather than refused …
    let (_, unsigned) = oci::tiny_image(&base, name, &unique_salt()).await;
    let held = oci::put_manifest(&base, name, "latest", &unsigned).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
    // … but the tag keeps answering its pin meanwhile.
    assert_eq!(oci::manifest_digest(&base, name, "latest").await, digest);
}

/// Basic credentials for `identity` with a fresh token, and its line in a tokens file.
fn gateway_token(identity: &str) -> (String, String) {
    use base64::Engine as _;
    let token = format!("{identity}-{}", unique_salt());
    let entry = format!(
        "[[token]]\nidentity = \"{identity}\"\nsha256 = \"{}\"\n",
        hex(&sha256_digest(token.as_bytes()))
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{identity}:{token}"));
    (format!("Basic {basic}"), entry)
}

/// Uploads a one-layer image unique to this call as `authorization`; returns its digest and
/// manifest (not pushed).
async fn image_as(base: &str, name: &str, authorization: &str) -> (String, Bytes) {
    let auth = [("authorization", authorization)];
    let mut digests = Vec::new();
    let layer = sealgate_integration_tests::tar_layer(&[("salt.txt", unique_salt().as_bytes())]);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    for blob in [&layer[..], &config[..]] {
        let start = send(
            Method::POST,
            &oci::uploads_url(base, name),
            &auth,
            Bytes::new(),
        )
        .await;
        assert_eq!(start.status, StatusCode::ACCEPTED, "{}", start.text());
        let location = oci::resolve_location(base, start.header("location").expect("Location"));
        let digest = sha256_digest(blob);
        let finish = send(
            Method::PUT,
            &oci::with_query(&location, "digest", &digest),
            &[auth[0], ("content-type", "application/octet-stream")],
            Bytes::copy_from_slice(blob),
        )
        .await;
        assert_eq!(finish.status, StatusCode::CREATED, "{}", finish.text());
        digests.push(digest);
    }
    let manifest = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": digests[1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": layer.len(), "digest": digests[0]}],
        }))
        .expect("JSON"),
    );
    (sha256_digest(&manifest), manifest)
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_held_push_is_replaced_only_by_its_pusher() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::start().await;
    let (ci, ci_entry) = gateway_token("ci");
    let (dev, dev_entry) = gateway_token("dev");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, format!("{ci_entry}{dev_entry}")).expect("write tokens");
    let key = CosignKey::generate();
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&format!(
            "[trust.keys.ci]\npath = {:?}\n[[policy.scope]]\nrepositories = \"held/**\"\nsigners = [\"ci\"]\n\
             unsigned_push = \"quarantine\"\nquarantine_ttl = \"1h\"\n",
            key.write_public(dir.path(), "ci").display().to_string()
        ))
        .auth(&format!(
            "[auth]\nmode = \"gateway\"\ntokens_file = {:?}\n[[auth.rule]]\nrepositories = \"held/**\"\n\
             identities = [\"ci\", \"dev\"]\nactions = [\"push\", \"pull\"]\n",
            tokens.display().to_string()
        ))
        .start()
        .await;
    let base = sealgate.base_url();
    let name = "held/app";
    let put_as = |authorization: &str, manifest: &Bytes| {
        let url = format!("{base}/v2/{name}/manifests/v3");
        let headers = [
            ("authorization", authorization.to_owned()),
            ("content-type", OCI_MANIFEST.to_owned()),
        ];
        let manifest = manifest.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(Method::PUT, &url, &headers, manifest).await
        }
    };
    let held_for = |authorization: String| {
        let url = format!("{base}/v2/{name}/manifests/v3");
        async move {
            let reply = send(
                Method::GET,
                &url,
                &[
                    ("authorization", authorization.as_str()),
                    ("accept", OCI_MANIFEST),
                ],
                Bytes::new(),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
            reply.text()
        }
    };
    // CI's unsigned push is held, waiting for its signature.
    let (first, first_manifest) = image_as(&base, name, &ci).await;
    let held = put_as(&ci, &first_manifest).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
    // Another pusher cannot swap it for theirs.
    let (_, swap) = image_as(&base, name, &dev).await;
    let refused = put_as(&dev, &swap).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(
        refused.text().contains(&first) && refused.text().contains("pushed by ci"),
        "{}",
        refused.text()
    );
    assert!(held_for(ci.clone()).await.contains(&first));
    // CI itself may replace its held push.
    let (second, second_manifest) = image_as(&base, name, &ci).await;
    let replaced = put_as(&ci, &second_manifest).await;
    assert_eq!(replaced.status, StatusCode::CREATED, "{}", replaced.text());
    assert!(held_for(ci.clone()).await.contains(&second));
}

// ---- break 5: blobs of pinned images ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r11_blobs_of_pinned_or_held_images_cannot_be_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "prod/blobs";
    let (_, manifest) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    let (config, layer) = blobs_of(&manifest);
    for blob in [&layer, &config] {
        let reply = delete(&base, name, "blobs", blob).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{}",
            reply.text()
        );
        assert_eq!(reply.oci_error_codes(), ["UNSUPPORTED"], "{}", reply.text());
        assert!(
            reply.text().contains("v1"),
            "names the pinned tag: {}",
            reply.text()
        );
        assert!(registry_has_blob(&registry, name, blob).await, "{blob}");
    }
    // A child of a pinned index.
    let (child, child_manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let (_, child_layer) = blobs_of(&child_manifest);
    assert_eq!(
        put(&base, name, &child, &child_manifest, OCI_MANIFEST)
            .await
            .status,
        StatusCode::CREATED
    );
    let index = platform_index(&[(&child, child_manifest.len())]);
    let index_digest = sha256_digest(&index);
    assert_eq!(
        put(&base, name, &index_digest, &index, OCI_INDEX)
            .await
            .status,
        StatusCode::CREATED
    );
    let signed = push_signature(
        &base,
        name,
        &index_digest,
        &[ci.sign(&format!("registry.example/{name}"), &index_digest)],
    )
    .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text());
    let tagged = put(&base, name, "multi", &index, OCI_INDEX).await;
    assert_eq!(tagged.status, StatusCode::CREATED, "{}", tagged.text());
    let reply = delete(&base, name, "blobs", &child_layer).await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text()
    );
    assert!(registry_has_blob(&registry, name, &child_layer).await);
    // A held (quarantined) image's blobs.
    let (_, held_manifest) = oci::tiny_image(&base, "held/blobs", &unique_salt()).await;
    let held = oci::put_manifest(&base, "held/blobs", "v1", &held_manifest).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
    let (_, held_layer) = blobs_of(&held_manifest);
    let reply = delete(&base, "held/blobs", "blobs", &held_layer).await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text()
    );
    assert!(registry_has_blob(&registry, "held/blobs", &held_layer).await);
    // A blob no pinned or held manifest lists is deleted as before.
    let loose = oci::push_blob(&base, name, unique_salt().as_bytes()).await;
    let reply = delete(&base, name, "blobs", &loose).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert!(!registry_has_blob(&registry, name, &loose).await);
    // The pinned images still pull whole.
    assert!(!oci::fetch_blob(&base, name, &layer).await.is_empty());
}

// ---- break 6: one registry under two names ----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r11_the_same_registry_under_two_upstream_names_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sealgate.toml");
    std::fs::write(
        &config,
        r#"
listen = "127.0.0.1:0"
[storage]
path = "./data"
[[upstream]]
name = "first"
url = "http://registry.example:80"
[[upstream]]
name = "second"
url = "HTTP://Registry.Example/"
namespaces = ["docker.io"]
"#,
    )
    .expect("write config");
    for command in ["check-config", "serve"] {
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(sealgate_integration_tests::sealgate_binary())
                .args([command, "--config"])
                .arg(&config)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("sealgate exits")
        .expect("run sealgate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{command}: {stderr}");
        assert!(
            stderr.contains("upstream[1].url")
                && stderr.contains("\"first\"")
                && stderr.contains("\"second\""),
            "{command} names both upstreams: {stderr}"
        );
    }
}

// ---- delete semantics -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r11_deleting_a_pinned_manifest_in_a_permissive_scope_retires_its_pin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    let name = "open/app";
    let digest = oci::push_tiny_image(&base, name, "v1", &unique_salt()).await;
    let (status, _) = admin_get(
        &sealgate,
        &format!("/admin/v1/pin?repository={name}&tag=v1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "pinned by the audited push");
    let reply = delete(&base, name, "manifests", &digest).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert_eq!(registry_digest(&registry, name, &digest).await, None);
    let (status, pin) = admin_get(
        &sealgate,
        &format!("/admin/v1/pin?repository={name}&tag=v1"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the orphaned pin is retired: {pin}"
    );
    let deletes = audited(&sealgate, "delete", name).await;
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0]["outcome"], "audit", "{deletes:?}");
    let retired = audited(&sealgate, "retire-pin", name).await;
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(retired[0]["digest"], digest.as_str(), "{retired:?}");
    assert_eq!(retired[0]["reference"], "v1", "{retired:?}");
    // The blobs of a pinned image may go too, audited.
    let second = oci::push_tiny_image(&base, name, "v2", &unique_salt()).await;
    let (config, _) = blobs_of(&oci::fetch_manifest(&registry.url(), name, &second).await);
    let reply = delete(&base, name, "blobs", &config).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert!(!registry_has_blob(&registry, name, &config).await);
    assert_eq!(audited(&sealgate, "delete", name).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_deleting_a_pinned_manifest_is_405_where_the_scope_protects_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    // Enforce with immutable tags; audit with immutable tags (default); warn with mutable tags.
    let enforced = push_signed_tiny_image(&base, "prod/keep", "v1", &ci)
        .await
        .0;
    let audited_immutable = oci::push_tiny_image(&base, "plain/keep", "v1", &unique_salt()).await;
    let warned = push_signed_tiny_image(&base, "loose/keep", "v1", &ci)
        .await
        .0;
    for (name, digest, why) in [
        ("prod/keep", &enforced, "immutable"),
        ("plain/keep", &audited_immutable, "immutable"),
        ("loose/keep", &warned, "warn"),
    ] {
        for reference in [digest.as_str(), "v1"] {
            let reply = delete(&base, name, "manifests", reference).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{name}@{reference}: {}",
                reply.text()
            );
            assert_eq!(reply.oci_error_codes(), ["UNSUPPORTED"], "{}", reply.text());
            assert!(reply.text().contains("pinned"), "{}", reply.text());
            assert!(reply.text().contains(why), "says why: {}", reply.text());
        }
        assert_eq!(
            registry_digest(&registry, name, "v1").await.as_deref(),
            Some(digest.as_str())
        );
        let (status, _) = admin_get(
            &sealgate,
            &format!("/admin/v1/pin?repository={name}&tag=v1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: the pin stays");
        let refusals = audited(&sealgate, "delete", name).await;
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(
            refusals.iter().all(|e| e["outcome"] == "deny"),
            "{refusals:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_delete_by_tag_answers_405_unsupported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci).await;
    let base = sealgate.base_url();
    // A tag sealgate never pinned (pushed to the registry directly): distribution cannot delete
    // tags and says 400 DIGEST_INVALID; the spec's answer is 405 UNSUPPORTED.
    let direct = oci::push_tiny_image(&registry.url(), "open/direct", "v1", &unique_salt()).await;
    let reply = delete(&base, "open/direct", "manifests", "v1").await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text()
    );
    assert_eq!(reply.oci_error_codes(), ["UNSUPPORTED"], "{}", reply.text());
    assert!(
        reply.text().contains("by digest"),
        "says what works: {}",
        reply.text()
    );
    assert_eq!(
        registry_digest(&registry, "open/direct", "v1").await,
        Some(direct)
    );
    // A pinned tag in the permissive scope: the registry refuses the same way, and the pin
    // stays, since nothing was deleted.
    let pinned = oci::push_tiny_image(&base, "open/tagged", "v1", &unique_salt()).await;
    let reply = delete(&base, "open/tagged", "manifests", "v1").await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text()
    );
    assert_eq!(reply.oci_error_codes(), ["UNSUPPORTED"], "{}", reply.text());
    assert_eq!(
        registry_digest(&registry, "open/tagged", "v1").await,
        Some(pinned.clone())
    );
    let (status, _) = admin_get(&sealgate, "/admin/v1/pin?repository=open/tagged&tag=v1").await;
    assert_eq!(status, StatusCode::OK, "the pin stays");
    assert_eq!(
        oci::manifest_digest(&base, "open/tagged", "v1").await,
        pinned
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_an_upstream_that_deletes_tags_is_relayed_and_the_pin_retired() {
    // distribution cannot delete a tag; a registry that can is stood in for by a fake that
    // answers every request 200.
    let upstream = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let sealgate = Sealgate::builder()
        .upstream("fake", &upstream.url(), &[])
        .trust_policy(
            "[policy.default]\nmode = \"audit\"\n[[policy.scope]]\nrepositories = \"open/**\"\nmode = \"audit\"\nimmutable_tags = false\n",
        )
        .admin_token(TOKEN)
        .start()
        .await;
    let base = sealgate.base_url();
    let manifest = Bytes::from_static(
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#,
    );
    let pushed = put(&base, "open/app", "v1", &manifest, OCI_MANIFEST).await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text());
    let (status, _) = admin_get(&sealgate, "/admin/v1/pin?repository=open/app&tag=v1").await;
    assert_eq!(status, StatusCode::OK);
    let reply = delete(&base, "open/app", "manifests", "v1").await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the upstream's answer: {}",
        reply.text()
    );
    let (status, _) = admin_get(&sealgate, "/admin/v1/pin?repository=open/app&tag=v1").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the pin of the deleted tag is retired"
    );
    assert!(
        upstream
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.uri == "/v2/open/app/manifests/v1")
    );
    // Elsewhere (the default scope: immutable tags) a pinned tag is not even forwarded.
    let pushed = put(&base, "plain/app", "v1", &manifest, OCI_MANIFEST).await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text());
    let reply = delete(&base, "plain/app", "manifests", "v1").await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text()
    );
    assert!(
        !upstream
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.uri == "/v2/plain/app/manifests/v1")
    );
}
