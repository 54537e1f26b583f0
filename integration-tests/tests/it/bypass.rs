//! Issue 11, breaks 1 and 2, against the real registry: no digest is served without a verdict
//! (signature-shaped manifests included), manifests that Go's `encoding/json` (containerd,
//! skopeo, distribution) reads differently from sealgate are refused at push and from the
//! upstream, `gate_blobs` does not open for signature-shaped manifests, signature intake and
//! pull-time discovery run in bounded memory, and a manifest is served with the media type its
//! bytes declare.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::{
    CosignKey, SIMPLE_SIGNING, push_signature, push_signature_referrer, push_signed_tiny_image,
};
use sealgate_integration_tests::{
    DOCKER_MANIFEST, MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST, Registry, Reply, ScriptedAnswer,
    ScriptedUpstream, Sealgate, oci, send, sha256_digest, tar_layer, unique_salt,
};

/// A runnable layer's media type, as Go clients would read it.
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Peak RSS growth allowed while hostile signature manifests are refused (see README, "What the
/// push gate does"). Before issue 11 one such push took sealgate from 12 MiB to 1.36 GiB.
const MAX_RSS_GROWTH_KIB: u64 = 32 * 1024;

/// Enforce everywhere, `ci` the only signer; `gate_blobs` as asked.
fn policy(dir: &Path, ci: &CosignKey, gate_blobs: bool) -> String {
    format!(
        r#"
[trust.keys.ci]
path = "{}"
[policy.default]
mode = "enforce"
signers = ["ci"]
gate_blobs = {gate_blobs}
"#,
        ci.write_public(dir, "ci").display(),
    )
}

async fn gated(dir: &Path, ci: &CosignKey, gate_blobs: bool) -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy(dir, ci, gate_blobs))
        .start()
        .await;
    (registry, sealgate)
}

async fn get(url: &str) -> Reply {
    send(Method::GET, url, &MANIFEST_ACCEPT, Bytes::new()).await
}

async fn head(url: &str) -> Reply {
    send(Method::HEAD, url, &MANIFEST_ACCEPT, Bytes::new()).await
}

async fn put(url: &str, body: &[u8]) -> Reply {
    send(
        Method::PUT,
        url,
        &[("content-type", OCI_MANIFEST)],
        Bytes::copy_from_slice(body),
    )
    .await
}

/// A runnable layer and an image config pushed to `base`: (config descriptor as JSON text,
/// layer digest, layer size).
async fn runnable_parts(base: &str, name: &str) -> (String, String, usize) {
    let script = format!("#!/bin/sh\necho unsigned code {}\n", unique_salt());
    let layer = tar_layer(&[("bin/run.sh", script.as_bytes())]);
    let layer_digest = oci::push_blob(base, name, &layer).await;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/run.sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .expect("JSON");
    let config_digest = oci::push_blob(base, name, &config).await;
    let config_descriptor = format!(
        r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}}"#,
        config.len()
    );
    (config_descriptor, layer_digest, layer.len())
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// A well-formed manifest whose only layer is a runnable tar labelled as a cosign payload.
fn labelled_as_signature(config: &str, layer: &str, size: usize) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{}]}}"#,
        descriptor(SIMPLE_SIGNING, layer, size)
    )
}

/// Manifests that serde and Go's `encoding/json` read differently: sealgate's parser sees a
/// layer labelled as a cosign simple-signing payload, Go sees the same blob as a runnable tar.
fn disagreeing_manifests(config: &str, layer: &str, size: usize) -> Vec<(&'static str, String)> {
    let sig = descriptor(SIMPLE_SIGNING, layer, size);
    let tar = descriptor(TAR, layer, size);
    let head = format!(r#""schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config}"#);
    vec![
        (
            "case-variant duplicate key",
            format!(r#"{{{head},"layers":[{sig}],"Layers":[{tar}]}}"#),
        ),
        (
            "exact duplicate key",
            format!(r#"{{{head},"layers":[{sig}],"layers":[{tar}]}}"#),
        ),
        (
            "key folding to `layers` (U+017F, escaped)",
            format!(r#"{{{head},"layers":[{sig}],"layer\u017f":[{tar}]}}"#),
        ),
        (
            "key folding to `layers` (U+017F, raw)",
            format!("{{{head},\"layers\":[{sig}],\"layer\u{17f}\":[{tar}]}}"),
        ),
        (
            "case-variant key in a descriptor",
            format!(
                r#"{{{head},"layers":[{{"mediaType":"{SIMPLE_SIGNING}","MediaType":"{TAR}","digest":"{layer}","size":{size}}}]}}"#
            ),
        ),
    ]
}

/// At most 400 characters of `reply`'s body, for failure messages (refusals can be long).
fn short(reply: &Reply) -> String {
    reply.text().chars().take(400).collect()
}

fn sig_tag(digest: &str) -> String {
    format!("sha256-{}.sig", digest.trim_start_matches("sha256:"))
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_an_unsigned_manifest_labelled_as_a_signature_is_not_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (config, layer, size) = runnable_parts(&base, name).await;
    let manifest = labelled_as_signature(&config, &layer, size);
    let digest = sha256_digest(manifest.as_bytes());
    // Pushed by digest through sealgate: content-addressed, so accepted...
    let pushed = put(
        &format!("{base}/v2/{name}/manifests/{digest}"),
        manifest.as_bytes(),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", short(&pushed));
    // ...but never served without a verdict.
    let url = format!("{base}/v2/{name}/manifests/{digest}");
    let refused = get(&url).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", short(&refused));
    assert_eq!(refused.oci_error_codes(), ["DENIED"]);
    assert_eq!(head(&url).await.status, StatusCode::FORBIDDEN);

    // Under a `.sig` tag (of an admitted image) or an `.att` tag, written straight into the
    // registry: sealgate never verified it as a signature, so it is an unsigned digest.
    let (signed, _) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    let hex = signed.trim_start_matches("sha256:");
    for tag in [format!("sha256-{hex}.sig"), format!("sha256-{hex}.att")] {
        // `.sig` is the admitted image's real signature: overwrite it in the registry.
        let written = put(
            &format!("{direct}/v2/{name}/manifests/{tag}"),
            manifest.as_bytes(),
        )
        .await;
        assert_eq!(written.status, StatusCode::CREATED, "{}", short(&written));
        let url = format!("{base}/v2/{name}/manifests/{tag}");
        let refused = get(&url).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{tag}: {}",
            short(&refused)
        );
        assert_eq!(head(&url).await.status, StatusCode::FORBIDDEN, "{tag}");
    }
    // The admitted image itself is still served.
    let image = get(&format!("{base}/v2/{name}/manifests/v1")).await;
    assert_eq!(image.status, StatusCode::OK, "{}", short(&image));
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_manifests_go_reads_differently_are_refused_at_push() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (config, layer, size) = runnable_parts(&base, name).await;
    for (what, manifest) in disagreeing_manifests(&config, &layer, size) {
        let digest = sha256_digest(manifest.as_bytes());
        for reference in [digest.as_str(), "v1", &sig_tag(&digest)] {
            let refused = put(
                &format!("{base}/v2/{name}/manifests/{reference}"),
                manifest.as_bytes(),
            )
            .await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{what} as {reference}: {}",
                short(&refused)
            );
            assert_eq!(refused.oci_error_codes(), ["MANIFEST_INVALID"], "{what}");
        }
        // Nothing reached the registry.
        let absent = get(&format!("{direct}/v2/{name}/manifests/{digest}")).await;
        assert_eq!(absent.status, StatusCode::NOT_FOUND, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_manifests_go_reads_differently_are_not_served_from_the_upstream() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (config, layer, size) = runnable_parts(&direct, name).await;
    let (signed, _) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    for (index, (what, manifest)) in disagreeing_manifests(&config, &layer, size)
        .into_iter()
        .enumerate()
    {
        let digest = sha256_digest(manifest.as_bytes());
        let tag = format!("odd{index}");
        for reference in [digest.as_str(), tag.as_str(), &sig_tag(&signed)] {
            // distribution (Go) takes it.
            let written = put(
                &format!("{direct}/v2/{name}/manifests/{reference}"),
                manifest.as_bytes(),
            )
            .await;
            assert_eq!(
                written.status,
                StatusCode::CREATED,
                "{what}: {}",
                short(&written)
            );
            let url = format!("{base}/v2/{name}/manifests/{reference}");
            for reply in [get(&url).await, head(&url).await] {
                assert_eq!(
                    reply.status,
                    StatusCode::BAD_GATEWAY,
                    "{what} as {reference}: {}",
                    short(&reply)
                );
                assert!(reply.header("docker-content-digest").is_none(), "{what}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_gate_blobs_does_not_open_for_signature_shaped_manifests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, true).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (config, layer, size) = runnable_parts(&direct, name).await;
    let mut manifests = vec![labelled_as_signature(&config, &layer, size)];
    manifests.extend(
        disagreeing_manifests(&config, &layer, size)
            .into_iter()
            .map(|(_, m)| m),
    );
    for manifest in &manifests {
        let digest = sha256_digest(manifest.as_bytes());
        let written = put(
            &format!("{direct}/v2/{name}/manifests/{digest}"),
            manifest.as_bytes(),
        )
        .await;
        assert_eq!(written.status, StatusCode::CREATED, "{}", short(&written));
        // sealgate sees each one (and refuses it).
        let seen = get(&format!("{base}/v2/{name}/manifests/{digest}")).await;
        assert!(
            seen.status == StatusCode::FORBIDDEN || seen.status == StatusCode::BAD_GATEWAY,
            "{}",
            short(&seen)
        );
    }
    let config_digest = serde_json::from_str::<serde_json::Value>(&config).expect("JSON")["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    for blob in [layer.as_str(), config_digest.as_str()] {
        let url = format!("{base}/v2/{name}/blobs/{blob}");
        for reply in [
            send(Method::GET, &url, &[], Bytes::new()).await,
            send(Method::HEAD, &url, &[], Bytes::new()).await,
        ] {
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{blob}: {}",
                short(&reply)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_verified_cosign_signatures_are_still_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, true).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/api");
    let payload_of = |manifest: &[u8]| -> String {
        let doc: serde_json::Value = serde_json::from_slice(manifest).expect("JSON");
        doc["layers"][0]["digest"]
            .as_str()
            .expect("payload digest")
            .to_owned()
    };
    let served = |url: String| async move {
        let got = get(&url).await;
        assert_eq!(got.status, StatusCode::OK, "GET {url}: {}", short(&got));
        assert_eq!(head(&url).await.status, StatusCode::OK, "HEAD {url}");
        got
    };
    let blob_served = |url: String| async move {
        let got = send(Method::GET, &url, &[], Bytes::new()).await;
        assert_eq!(got.status, StatusCode::OK, "GET {url}: {}", short(&got));
    };

    // Pushed through sealgate: verified at intake.
    let (digest, manifest) = push_signed_tiny_image(&base, name, "v1", &ci).await;
    let sig = served(format!("{base}/v2/{name}/manifests/{}", sig_tag(&digest))).await;
    assert_eq!(sig.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        sig.body,
        oci::fetch_manifest(&direct, name, &sig_tag(&digest)).await
    );
    let sig_digest = sha256_digest(&sig.body);
    served(format!("{base}/v2/{name}/manifests/{sig_digest}")).await;
    blob_served(format!("{base}/v2/{name}/blobs/{}", payload_of(&sig.body))).await;

    // cosign's OCI 1.1 mode: a referrer pushed by digest.
    let layer = ci.sign(&format!("registry.example/{name}"), &digest);
    let (referrer, reply) =
        push_signature_referrer(&base, name, &digest, manifest.len(), &layer).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", short(&reply));
    let got = served(format!("{base}/v2/{name}/manifests/{referrer}")).await;
    blob_served(format!("{base}/v2/{name}/blobs/{}", payload_of(&got.body))).await;

    // A signature added in the registry directly (cosign appends a layer): verified when it is
    // first asked for, since its subject is admitted.
    let second = ci.sign(&format!("registry.example/{name}"), &digest);
    let appended = push_signature(&direct, name, &digest, &[layer.clone(), second]).await;
    assert_eq!(appended.status, StatusCode::CREATED, "{}", short(&appended));
    let grown = served(format!("{base}/v2/{name}/manifests/{}", sig_tag(&digest))).await;
    assert_ne!(grown.body, sig.body, "the registry's new .sig is served");
    served(format!(
        "{base}/v2/{name}/manifests/{}",
        sha256_digest(&grown.body)
    ))
    .await;

    // Mirrored content: image and signature straight into the registry, verified on the first
    // pull; its signature is then served by tag and by digest.
    let mirrored = "prod/mirrored";
    let image = oci::push_tiny_image(&direct, mirrored, "v1", &unique_salt()).await;
    let pushed = push_signature(
        &direct,
        mirrored,
        &image,
        &[ci.sign(&format!("docker.io/{mirrored}:v1"), &image)],
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", short(&pushed));
    served(format!("{base}/v2/{mirrored}/manifests/v1")).await;
    let sig = served(format!(
        "{base}/v2/{mirrored}/manifests/{}",
        sig_tag(&image)
    ))
    .await;
    served(format!(
        "{base}/v2/{mirrored}/manifests/{}",
        sha256_digest(&sig.body)
    ))
    .await;
    blob_served(format!(
        "{base}/v2/{mirrored}/blobs/{}",
        payload_of(&sig.body)
    ))
    .await;

    // A signature by a key sealgate does not trust, of an image that is not admitted: refused.
    let stranger = oci::push_tiny_image(&direct, mirrored, "v2", &unique_salt()).await;
    let pushed = push_signature(
        &direct,
        mirrored,
        &stranger,
        &[CosignKey::generate().sign(&format!("docker.io/{mirrored}:v2"), &stranger)],
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", short(&pushed));
    let refused = get(&format!(
        "{base}/v2/{mirrored}/manifests/{}",
        sig_tag(&stranger)
    ))
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", short(&refused));
}

/// A fake cosign signature annotation (valid base64, verifies against nothing).
fn fake_signature(n: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("not a signature {n}"))
}

/// A `.sig` manifest listing `layers` simple-signing layers (blob, declared size) in order.
fn signature_manifest(layers: &[(String, usize)]) -> Vec<u8> {
    let descriptors: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(n, (digest, size))| {
            serde_json::json!({
                "mediaType": SIMPLE_SIGNING,
                "digest": digest,
                "size": size,
                "annotations": {"dev.cosignproject.cosign/signature": fake_signature(n)},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": sha256_digest(b"{}")},
        "layers": descriptors,
    }))
    .expect("JSON")
}

/// `len` bytes unique to this run.
fn filler(len: usize) -> Vec<u8> {
    unique_salt()
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// Hostile `.sig` manifests for `blob` (1 MiB) and `small` (distinct blobs under the payload
/// cap): the issue's 400 layers of one 1 MiB blob, 100 such layers (under the layer cap), 100
/// layers lying about that blob's size, and 100 distinct blobs adding up to more than a
/// manifest's budget.
fn hostile_signature_manifests(blob: &str, small: &[(String, usize)]) -> Vec<(String, Vec<u8>)> {
    let mib = 1024 * 1024;
    vec![
        (
            "400 layers of one 1 MiB blob".to_owned(),
            signature_manifest(&vec![(blob.to_owned(), mib); 400]),
        ),
        (
            "100 layers of one 1 MiB blob".to_owned(),
            signature_manifest(&vec![(blob.to_owned(), mib); 100]),
        ),
        (
            "100 layers of one 1 MiB blob declared as 300 bytes".to_owned(),
            signature_manifest(&vec![(blob.to_owned(), 300); 100]),
        ),
        (
            format!("{} distinct blobs", small.len()),
            signature_manifest(small),
        ),
    ]
}

/// Pushes a 1 MiB blob and 100 distinct 60 KiB blobs to `direct`.
async fn hostile_blobs(direct: &str, name: &str) -> (String, Vec<(String, usize)>) {
    // The config every hostile `.sig` names (distribution checks it exists).
    oci::push_blob(direct, name, b"{}").await;
    let blob = oci::push_blob(direct, name, &filler(1024 * 1024)).await;
    let mut small = Vec::new();
    for _ in 0..100 {
        let bytes = filler(60 * 1024);
        small.push((oci::push_blob(direct, name, &bytes).await, bytes.len()));
    }
    (blob, small)
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_signature_intake_memory_is_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (subject, manifest) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, &subject, &manifest).await;
    let (blob, small) = hostile_blobs(&direct, name).await;
    let before = sealgate.peak_rss_kib();
    let mut took = Vec::new();
    for (what, body) in hostile_signature_manifests(&blob, &small) {
        let started = Instant::now();
        let refused = put(
            &format!("{base}/v2/{name}/manifests/{}", sig_tag(&subject)),
            &body,
        )
        .await;
        assert!(
            refused.status == StatusCode::BAD_REQUEST || refused.status == StatusCode::FORBIDDEN,
            "{what}: {} {}",
            refused.status,
            short(&refused)
        );
        eprintln!(
            "{what}: {} in {:?}: {}",
            refused.status,
            started.elapsed(),
            short(&refused)
        );
        took.push((what, started.elapsed()));
    }
    let after = sealgate.peak_rss_kib();
    eprintln!("peak RSS {before} KiB before, {after} KiB after the hostile pushes");
    assert!(
        after.saturating_sub(before) <= MAX_RSS_GROWTH_KIB,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    for (what, elapsed) in took {
        assert!(elapsed < Duration::from_secs(10), "{what}: {elapsed:?}");
    }
    // Nothing was forwarded.
    let absent = get(&format!(
        "{direct}/v2/{name}/manifests/{}",
        sig_tag(&subject)
    ))
    .await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_pull_time_discovery_memory_is_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let (blob, small) = hostile_blobs(&direct, name).await;
    let before = sealgate.peak_rss_kib();
    let mut took = Vec::new();
    for (index, (what, body)) in hostile_signature_manifests(&blob, &small)
        .into_iter()
        .enumerate()
    {
        // A hostile upstream holds the image and a `.sig` built to exhaust memory.
        let tag = format!("v{index}");
        let subject = oci::push_tiny_image(&direct, name, &tag, &unique_salt()).await;
        let written = put(
            &format!("{direct}/v2/{name}/manifests/{}", sig_tag(&subject)),
            &body,
        )
        .await;
        assert_eq!(
            written.status,
            StatusCode::CREATED,
            "{what}: {}",
            short(&written)
        );
        let started = Instant::now();
        let refused = get(&format!("{base}/v2/{name}/manifests/{tag}")).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{what}: {}",
            short(&refused)
        );
        eprintln!(
            "{what}: {} in {:?}: {}",
            refused.status,
            started.elapsed(),
            short(&refused)
        );
        took.push((what, started.elapsed()));
    }
    let after = sealgate.peak_rss_kib();
    eprintln!("peak RSS {before} KiB before, {after} KiB after the hostile pulls");
    assert!(
        after.saturating_sub(before) <= MAX_RSS_GROWTH_KIB,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    for (what, elapsed) in took {
        assert!(elapsed < Duration::from_secs(10), "{what}: {elapsed:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_signature_manifest_with_thousands_of_layers_is_refused_quickly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, false).await;
    let (base, direct, name) = (sealgate.base_url(), registry.url(), "prod/app");
    let subject = oci::push_tiny_image(&direct, name, "v1", &unique_salt()).await;
    oci::push_blob(&direct, name, b"{}").await;
    let payload = filler(300);
    let blob = oci::push_blob(&direct, name, &payload).await;
    let body = signature_manifest(&vec![(blob, payload.len()); 15_000]);
    assert!(
        body.len() > 3 * 1024 * 1024 && body.len() < 4 * 1024 * 1024,
        "{} bytes: near the default manifest cap",
        body.len()
    );
    let started = Instant::now();
    let refused = put(
        &format!("{base}/v2/{name}/manifests/{}", sig_tag(&subject)),
        &body,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        short(&refused)
    );
    assert_eq!(refused.oci_error_codes(), ["MANIFEST_INVALID"]);
    let text = short(&refused);
    assert!(
        text.contains("15000 layers") && text.contains("at most"),
        "{text}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_manifest_content_type_comes_from_the_verified_bytes() {
    let config = format!(
        r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}}"#,
        sha256_digest(b"{}")
    );
    // (bytes, the upstream's Content-Type, what sealgate must serve)
    let cases = [
        (
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[]}}"#
            ),
            "text/html; charset=utf-8",
            OCI_MANIFEST,
        ),
        (
            r#"{"schemaVersion":2,"manifests":[]}"#.to_owned(),
            DOCKER_MANIFEST,
            OCI_INDEX,
        ),
        (
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{config},"layers":[]}}"#
            ),
            OCI_INDEX,
            DOCKER_MANIFEST,
        ),
    ];
    let mut script = HashMap::new();
    for (index, (body, upstream_type, _)) in cases.iter().enumerate() {
        let digest = sha256_digest(body.as_bytes());
        let answer = ScriptedAnswer::ok(upstream_type, body.clone().into_bytes())
            .with_header("docker-content-digest", &digest);
        script.insert(format!("/v2/lab/app/manifests/{digest}"), answer.clone());
        script.insert(format!("/v2/lab/app/manifests/t{index}"), answer);
    }
    let upstream = ScriptedUpstream::start(script).await;
    let sealgate = Sealgate::builder()
        .upstream("local", &upstream.url(), &[])
        .trust_policy("[policy.default]\nmode = \"audit\"\n")
        .start()
        .await;
    let base = sealgate.base_url();
    for (index, (body, upstream_type, expected)) in cases.iter().enumerate() {
        let digest = sha256_digest(body.as_bytes());
        for reference in [digest, format!("t{index}")] {
            let url = format!("{base}/v2/lab/app/manifests/{reference}");
            let got = get(&url).await;
            assert_eq!(got.status, StatusCode::OK, "{reference}: {}", short(&got));
            assert_eq!(got.body.as_ref(), body.as_bytes());
            assert_eq!(
                got.header("content-type"),
                Some(*expected),
                "{reference}: the upstream said {upstream_type}"
            );
            let headed = head(&url).await;
            assert_eq!(headed.status, StatusCode::OK);
            assert_eq!(headed.header("content-type"), Some(*expected));
        }
    }
}
