//! The pull gate against the real registry: tags answered with pinned digests and re-verified
//! against current trust, drift, mirror pins on first verified pull, referrers served on
//! distribution 2.8, blob gating, and containerd as a node that can pull exactly the signed,
//! unrevoked images.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::{
    CosignKey, SIGNATURE_ARTIFACT_TYPE, push_signature, push_signature_referrer,
    push_signed_tiny_image as push_signed,
};
use sealgate_integration_tests::{
    Containerd, MANIFEST_ACCEPT, OciLayout, Platform, Registry, Sealgate, oci, push_sample_image,
    send, skopeo, unique_salt,
};

/// Enforce everywhere, `ci` the only signer, drift checked on every pull; `extra` is appended
/// (more scopes, revocations).
fn policy(dir: &Path, ci: &CosignKey, extra: &str) -> String {
    format!(
        r#"
[trust.keys.ci]
path = "{}"
{extra}
[policy.default]
mode = "enforce"
signers = ["ci"]

[pull]
drift_check_interval = "0s"
"#,
        ci.write_public(dir, "ci").display(),
    )
}

/// The revocation of `key` as `[trust]` lists it.
fn revoked(key: &CosignKey) -> String {
    format!(
        r#"
[[trust.revoked_keys]]
fingerprint = "{}"
reason = "key leaked"
at = "2026-01-01T00:00:00Z"
"#,
        key.fingerprint()
    )
}

async fn gated(dir: &Path, ci: &CosignKey, namespaces: &[&str]) -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), namespaces)
        .trust_policy(&policy(dir, ci, ""))
        .start()
        .await;
    (registry, sealgate)
}

async fn get(url: &str) -> sealgate_integration_tests::Reply {
    send(Method::GET, url, &MANIFEST_ACCEPT, Bytes::new()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_pull_serves_the_pinned_digest_and_head_matches_get() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (_registry, sealgate) = gated(dir.path(), &ci, &[]).await;
    let base = sealgate.base_url();
    let (digest, manifest) = push_signed(&base, "prod/api", "v1", &ci).await;
    let url = format!("{base}/v2/prod/api/manifests/v1");
    let got = get(&url).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.body, manifest, "the exact bytes of the pinned digest");
    assert_eq!(got.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        got.header("content-type"),
        Some(sealgate_integration_tests::OCI_MANIFEST)
    );
    let head = send(Method::HEAD, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(manifest.len().to_string().as_str())
    );
    assert_eq!(head.header("content-type"), got.header("content-type"));
    // By digest: admitted, served.
    let by_digest = get(&format!("{base}/v2/prod/api/manifests/{digest}")).await;
    assert_eq!(by_digest.status, StatusCode::OK, "{}", by_digest.text());
    assert_eq!(by_digest.body, manifest);
    // The signature artifact itself is served, so clients can verify for themselves.
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let sig = get(&format!("{base}/v2/prod/api/manifests/{sig_tag}")).await;
    assert_eq!(sig.status, StatusCode::OK, "{}", sig.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_digests_are_refused_and_warn_mode_serves_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let registry = Registry::start().await;
    let extra = r#"
[[policy.scope]]
repositories = "lab/**"
mode = "warn"
signers = ["ci"]
"#;
    let config = policy(dir.path(), &ci, "").replace("[pull]", &format!("{extra}\n[pull]"));
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&config)
        .start()
        .await;
    let base = sealgate.base_url();
    let direct = registry.url();
    // Pushed straight to the registry, never signed.
    let (digest, manifest) = oci::tiny_image(&direct, "prod/unsigned", &unique_salt()).await;
    oci::put_manifest(&direct, "prod/unsigned", "v1", &manifest).await;
    for reference in ["v1", digest.as_str()] {
        let refused = get(&format!("{base}/v2/prod/unsigned/manifests/{reference}")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
        assert_eq!(refused.oci_error_codes(), ["DENIED"]);
        assert!(
            refused.text().contains("no signature found"),
            "{}",
            refused.text()
        );
        let head = send(
            Method::HEAD,
            &format!("{base}/v2/prod/unsigned/manifests/{reference}"),
            &MANIFEST_ACCEPT,
            Bytes::new(),
        )
        .await;
        assert_eq!(head.status, StatusCode::FORBIDDEN);
    }
    // Each refusal is a logged decision.
    let log = sealgate.stderr_log();
    assert!(log.contains("outcome=deny"), "{log}");
    // Warn mode: served, with a Warning header that says why.
    let (_, lab) = oci::tiny_image(&direct, "lab/tool", &unique_salt()).await;
    oci::put_manifest(&direct, "lab/tool", "v1", &lab).await;
    let warned = get(&format!("{base}/v2/lab/tool/manifests/v1")).await;
    assert_eq!(warned.status, StatusCode::OK, "{}", warned.text());
    assert_eq!(warned.body, lab);
    let warning = warned.header("warning").expect("a Warning header");
    assert!(warning.starts_with("299 - "), "{warning}");
    assert!(warning.contains("no signature found"), "{warning}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_refuses_pinned_tags_after_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (_registry, mut sealgate) = gated(dir.path(), &ci, &[]).await;
    let base = sealgate.base_url();
    let (digest, _) = push_signed(&base, "prod/api", "v1", &ci).await;
    let url = format!("{base}/v2/prod/api/manifests/v1");
    assert_eq!(get(&url).await.status, StatusCode::OK, "served and cached");

    // A config that also changes a restart-only section is refused whole.
    let original = policy(dir.path(), &ci, "");
    let started = sealgate.config_text().to_owned();
    assert!(started.contains(&original), "{started}");
    let revoking = policy(dir.path(), &ci, &revoked(&ci));
    let with_restart_change = started.replace(
        &original,
        &revoking.replace("[pull]\n", "[pull]\nverdict_ttl = \"5s\"\n"),
    );
    let refused = sealgate.reload(&with_restart_change).await;
    assert!(refused.contains("reload refused"), "{refused}");
    assert!(refused.contains("restart"), "{refused}");
    assert_eq!(
        get(&url).await.status,
        StatusCode::OK,
        "nothing changed after a refused reload"
    );

    let reloaded = sealgate
        .reload(&started.replace(&original, &revoking))
        .await;
    assert!(reloaded.contains("reloaded: "), "{reloaded}");
    assert!(reloaded.contains("1 revoked key"), "{reloaded}");
    let refused = get(&url).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let text = refused.text();
    assert!(text.contains(&digest), "{text}");
    assert_eq!(
        text.matches("revoked on").count(),
        1,
        "the one signature is reported once (the index's copy, not again as found upstream): {text}"
    );
    assert!(text.contains("key leaked"), "{text}");
    // By digest too.
    let by_digest = get(&format!("{base}/v2/prod/api/manifests/{digest}")).await;
    assert_eq!(by_digest.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_upstream_tag_is_drift_and_the_pin_keeps_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, &[]).await;
    let base = sealgate.base_url();
    let (pinned, manifest) = push_signed(&base, "prod/api", "v1", &ci).await;
    // Behind sealgate's back: another image under the same tag, straight into the registry.
    let direct = registry.url();
    let (other, other_manifest) = oci::tiny_image(&direct, "prod/api", &unique_salt()).await;
    let moved = oci::put_manifest(&direct, "prod/api", "v1", &other_manifest).await;
    assert_eq!(moved.status, StatusCode::CREATED);
    assert_eq!(oci::manifest_digest(&direct, "prod/api", "v1").await, other);

    let got = get(&format!("{base}/v2/prod/api/manifests/v1")).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.header("docker-content-digest"), Some(pinned.as_str()));
    assert_eq!(got.body, manifest);
    let line = sealgate
        .wait_for_log("action=drift", Duration::from_secs(10))
        .await;
    assert!(line.contains(&format!("moved to {other}")), "{line}");
    assert!(line.contains(&pinned), "{line}");
    // Reported once per moved digest, not on every pull.
    for _ in 0..3 {
        let again = get(&format!("{base}/v2/prod/api/manifests/v1")).await;
        assert_eq!(again.header("docker-content-digest"), Some(pinned.as_str()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reports = sealgate.stderr_log().matches("action=drift").count();
    assert_eq!(reports, 1, "{}", sealgate.stderr_log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scope_may_follow_drift_to_a_signed_digest_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let registry = Registry::start().await;
    let config = policy(dir.path(), &ci, "").replace(
        "[pull]",
        "[[policy.scope]]\nrepositories = \"follow/**\"\nsigners = [\"ci\"]\nfollow_drift = true\n\n[pull]",
    );
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&config)
        .start()
        .await;
    let base = sealgate.base_url();
    let direct = registry.url();
    let name = "follow/app";
    let (first, _) = push_signed(&base, name, "v1", &ci).await;
    let url = format!("{base}/v2/{name}/manifests/v1");
    // Moved to an unsigned image: reported, not followed.
    let (unsigned, unsigned_manifest) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, "v1", &unsigned_manifest).await;
    get(&url).await;
    sealgate
        .wait_for_log(&format!("moved to {unsigned}"), Duration::from_secs(10))
        .await;
    sealgate
        .wait_for_log("drift not followed", Duration::from_secs(10))
        .await;
    assert_eq!(
        get(&url).await.header("docker-content-digest"),
        Some(first.as_str())
    );
    // Moved to a signed image (signed in the registry directly): followed.
    let (signed, signed_manifest) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, &signed, &signed_manifest).await;
    push_signature(
        &direct,
        name,
        &signed,
        &[ci.sign(&format!("registry.example/{name}"), &signed)],
    )
    .await;
    oci::put_manifest(&direct, name, "v1", &signed_manifest).await;
    get(&url).await;
    sealgate
        .wait_for_log("action=follow-drift", Duration::from_secs(10))
        .await;
    let followed = get(&url).await;
    assert_eq!(
        followed.header("docker-content-digest"),
        Some(signed.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn content_never_pushed_through_sealgate_is_verified_in_the_upstream_and_pinned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, &[]).await;
    let base = sealgate.base_url();
    let direct = registry.url();
    let name = "mirror/app";
    // Image and cosign signature straight into the registry, the way a public registry holds them.
    let (digest, manifest) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, "v1", &manifest).await;
    push_signature(
        &direct,
        name,
        &digest,
        &[ci.sign(&format!("docker.io/{name}:v1"), &digest)],
    )
    .await;
    let url = format!("{base}/v2/{name}/manifests/v1");
    let first = get(&url).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.header("docker-content-digest"), Some(digest.as_str()));
    let pin = sealgate
        .wait_for_log("pinned on first verified pull", Duration::from_secs(5))
        .await;
    assert!(pin.contains(&digest), "{pin}");
    // The upstream's tag moves; the pin stays.
    let (_, other) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, "v1", &other).await;
    let later = get(&url).await;
    assert_eq!(later.header("docker-content-digest"), Some(digest.as_str()));
    // A signature by an untrusted key does not admit anything.
    let (stranger_digest, stranger) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, "v2", &stranger).await;
    push_signature(
        &direct,
        name,
        &stranger_digest,
        &[CosignKey::generate().sign(&format!("docker.io/{name}:v2"), &stranger_digest)],
    )
    .await;
    let refused = get(&format!("{base}/v2/{name}/manifests/v2")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_are_served_on_distribution_2_8() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, &[]).await;
    let base = sealgate.base_url();
    let direct = registry.url();
    let name = "prod/referred";
    let (digest, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    oci::put_manifest(&base, name, &digest, &manifest).await;
    // The upstream has no referrers API.
    let upstream_api = get(&format!("{direct}/v2/{name}/referrers/{digest}")).await;
    assert_eq!(upstream_api.status, StatusCode::NOT_FOUND);

    let layer = ci.sign(&format!("registry.example/{name}"), &digest);
    let (signature, reply) =
        push_signature_referrer(&base, name, &digest, manifest.len(), &layer).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        reply.header("oci-subject"),
        Some(digest.as_str()),
        "sealgate tells the client it keeps the referrers"
    );
    // An SBOM-like referrer a client pushed straight to the registry, with the fallback tag
    // index the spec asks clients to maintain there.
    let sbom = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": sealgate_integration_tests::OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                       "digest": oci::push_blob(&direct, name, b"{}").await},
            "layers": [{"mediaType": "application/spdx+json", "size": 2,
                        "digest": oci::push_blob(&direct, name, b"[]").await}],
            "subject": {"mediaType": sealgate_integration_tests::OCI_MANIFEST, "size": manifest.len(), "digest": digest},
        }))
        .expect("JSON"),
    );
    let sbom_digest = sealgate_integration_tests::sha256_digest(&sbom);
    oci::put_manifest(&direct, name, &sbom_digest, &sbom).await;
    let fallback = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": sealgate_integration_tests::OCI_INDEX,
            "manifests": [{"mediaType": sealgate_integration_tests::OCI_MANIFEST, "digest": sbom_digest,
                           "size": sbom.len(), "artifactType": "application/spdx+json"}],
        }))
        .expect("JSON"),
    );
    let fallback_tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let put = send(
        Method::PUT,
        &format!("{direct}/v2/{name}/manifests/{fallback_tag}"),
        &[("content-type", sealgate_integration_tests::OCI_INDEX)],
        fallback,
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());

    let listed = get(&format!("{base}/v2/{name}/referrers/{digest}")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert_eq!(
        listed.header("content-type"),
        Some(sealgate_integration_tests::OCI_INDEX)
    );
    let index = listed.json();
    let manifests = index["manifests"].as_array().expect("manifests");
    let find = |d: &str| manifests.iter().find(|m| m["digest"] == d).cloned();
    let ours = find(&signature).expect("the signature is listed");
    assert_eq!(ours["artifactType"], SIGNATURE_ARTIFACT_TYPE);
    assert!(ours["size"].as_u64().is_some_and(|s| s > 0));
    assert!(
        find(&sbom_digest).is_some(),
        "the fallback tag's referrer is merged in"
    );
    assert_eq!(manifests.len(), 2, "{index}");
    assert!(listed.header("oci-filters-applied").is_none());

    let filtered = get(&format!(
        "{base}/v2/{name}/referrers/{digest}?artifactType=application%2Fspdx%2Bjson"
    ))
    .await;
    assert_eq!(filtered.header("oci-filters-applied"), Some("artifactType"));
    let only = filtered.json();
    assert_eq!(
        only["manifests"].as_array().map(Vec::len),
        Some(1),
        "{only}"
    );
    assert_eq!(only["manifests"][0]["digest"], sbom_digest.as_str());
    // A digest nobody refers to: an empty index, not an error.
    let (lonely, _) = oci::tiny_image(&base, name, &unique_salt()).await;
    let none = get(&format!("{base}/v2/{name}/referrers/{lonely}")).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["manifests"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_upstreams_are_selected_by_ns_and_pinned_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let hub = Registry::start().await;
    let ghcr = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("hub", &hub.url(), &["docker.io"])
        .upstream("ghcr", &ghcr.url(), &["ghcr.io"])
        .trust_policy(&policy(dir.path(), &ci, ""))
        .start()
        .await;
    let base = sealgate.base_url();
    let name = "team/app";
    let mut digests = Vec::new();
    for registry in [&hub, &ghcr] {
        let direct = registry.url();
        let (digest, manifest) = oci::tiny_image(&direct, name, &unique_salt()).await;
        oci::put_manifest(&direct, name, "v1", &manifest).await;
        push_signature(
            &direct,
            name,
            &digest,
            &[ci.sign(&format!("registry.example/{name}"), &digest)],
        )
        .await;
        digests.push(digest);
    }
    for (ns, digest) in [("docker.io", &digests[0]), ("ghcr.io", &digests[1])] {
        for _ in 0..2 {
            let got = get(&format!("{base}/v2/{name}/manifests/v1?ns={ns}")).await;
            assert_eq!(got.status, StatusCode::OK, "{ns}: {}", got.text());
            assert_eq!(
                got.header("docker-content-digest"),
                Some(digest.as_str()),
                "{ns}"
            );
        }
    }
    let unknown = get(&format!("{base}/v2/{name}/manifests/v1?ns=quay.io")).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.oci_error_codes(), ["DENIED"]);
    // Each upstream's digest is pinned under its own upstream: a digest of one upstream is not
    // served through the other's namespace.
    let crossed = get(&format!(
        "{base}/v2/{name}/manifests/{}?ns=ghcr.io",
        digests[0]
    ))
    .await;
    assert_eq!(crossed.status, StatusCode::NOT_FOUND, "{}", crossed.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn gated_blobs_are_served_only_for_admitted_manifests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let registry = Registry::start().await;
    let config = policy(dir.path(), &ci, "").replace(
        "signers = [\"ci\"]\n",
        "signers = [\"ci\"]\ngate_blobs = true\n",
    );
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&config)
        .start()
        .await;
    let base = sealgate.base_url();
    let direct = registry.url();
    let (digest, manifest) = push_signed(&base, "prod/api", "v1", &ci).await;
    let layers: serde_json::Value = serde_json::from_slice(&manifest).expect("JSON");
    let admitted_blob = layers["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned();
    let served = get(&format!("{base}/v2/prod/api/blobs/{admitted_blob}")).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.text());
    // A blob of an unsigned manifest, and a blob no manifest lists.
    let (unsigned, unsigned_manifest) = oci::tiny_image(&direct, "prod/api", &unique_salt()).await;
    oci::put_manifest(&direct, "prod/api", &unsigned, &unsigned_manifest).await;
    assert_eq!(
        get(&format!("{base}/v2/prod/api/manifests/{unsigned}"))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "sealgate sees the unsigned manifest (and records its blobs)"
    );
    let unsigned_layers: serde_json::Value =
        serde_json::from_slice(&unsigned_manifest).expect("JSON");
    let unsigned_blob = unsigned_layers["layers"][0]["digest"]
        .as_str()
        .expect("layer");
    let stray = oci::push_blob(&direct, "prod/api", unique_salt().as_bytes()).await;
    for blob in [unsigned_blob, stray.as_str()] {
        let refused = get(&format!("{base}/v2/prod/api/blobs/{blob}")).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{blob}: {}",
            refused.text()
        );
        assert!(
            refused.text().contains("no admitted manifest"),
            "{}",
            refused.text()
        );
        // The upstream has it: the refusal is sealgate's.
        assert_eq!(
            get(&format!("{direct}/v2/prod/api/blobs/{blob}"))
                .await
                .status,
            StatusCode::OK
        );
    }
    // Signature blobs stay readable for clients that verify.
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let sig: serde_json::Value =
        serde_json::from_slice(&oci::fetch_manifest(&direct, "prod/api", &sig_tag).await)
            .expect("JSON");
    let payload = sig["layers"][0]["digest"].as_str().expect("payload");
    assert_eq!(
        get(&format!("{base}/v2/prod/api/blobs/{payload}"))
            .await
            .status,
        StatusCode::OK
    );
}

/// The node's view: containerd with sealgate as its only mirror pulls the signed images (one a
/// multi-arch index), is refused the unsigned one, and after the signer's key is revoked and the
/// configuration reloaded, is refused the image it pulled before.
#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_exactly_the_signed_unrevoked_images() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, mut sealgate) = gated(dir.path(), &ci, &["docker.io"]).await;
    let direct = registry.url();
    let containerd = Containerd::start().await;
    containerd.gate_only("docker.io", &sealgate.base_url());
    let registry_host = registry.host();

    // Signed, pushed straight to the registry (a public image and its cosign signature).
    push_sample_image(2, &format!("docker://{registry_host}/demo/signed:v1")).await;
    let signed = oci::manifest_digest(&direct, "demo/signed", "v1").await;
    push_signature(
        &direct,
        "demo/signed",
        &signed,
        &[ci.sign("docker.io/demo/signed:v1", &signed)],
    )
    .await;
    // Unsigned.
    push_sample_image(2, &format!("docker://{registry_host}/demo/unsigned:v1")).await;
    // A signed multi-arch index.
    let work = tempfile::tempdir().expect("temp dir");
    let mut layout = OciLayout::new(&work.path().join("layout"));
    let salt = unique_salt();
    let amd64 = layout.image(
        vec![sealgate_integration_tests::sample_layer(&salt, 0)],
        Platform::linux_amd64(),
    );
    let arm64 = layout.image(
        vec![sealgate_integration_tests::sample_layer(&salt, 1)],
        Platform::linux_arm64(),
    );
    layout.add_index("v1", &[amd64, arm64]);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &layout.reference("v1"),
        &format!("docker://{registry_host}/demo/multi:v1"),
    ])
    .await;
    // skopeo may re-serialise the index: sign what the registry holds.
    let index = oci::manifest_digest(&direct, "demo/multi", "v1").await;
    push_signature(
        &direct,
        "demo/multi",
        &index,
        &[ci.sign("docker.io/demo/multi:v1", &index)],
    )
    .await;

    let pulled = containerd.pull("docker.io/demo/signed:v1").await;
    assert!(pulled.contains("done"), "{pulled}");
    assert_eq!(
        containerd
            .image_digest("docker.io/demo/signed:v1")
            .await
            .as_deref(),
        Some(signed.as_str())
    );
    let refused = containerd
        .try_pull("docker.io/demo/unsigned:v1")
        .await
        .expect_err("the unsigned image must not pull");
    assert!(refused.contains("403"), "{refused}");
    let multi = containerd.pull("docker.io/demo/multi:v1").await;
    assert!(multi.contains("done"), "{multi}\n{}", sealgate.stderr_log());
    assert_eq!(
        containerd
            .image_digest("docker.io/demo/multi:v1")
            .await
            .as_deref(),
        Some(index.as_str())
    );
    // `server` is a dead address, so the platform child (by digest) came through sealgate too,
    // admitted by the index's signature.

    // Revoke ci and reload: the image pulled before is refused now.
    let original = policy(dir.path(), &ci, "");
    let config = sealgate
        .config_text()
        .replace(&original, &policy(dir.path(), &ci, &revoked(&ci)));
    assert!(config.contains("revoked_keys"), "{config}");
    let reloaded = sealgate.reload(&config).await;
    assert!(reloaded.contains("reloaded: "), "{reloaded}");
    containerd
        .ctr(&["images", "rm", "docker.io/demo/signed:v1"])
        .await;
    let revoked_pull = containerd
        .try_pull("docker.io/demo/signed:v1")
        .await
        .expect_err("a revoked signer admits nothing");
    assert!(revoked_pull.contains("403"), "{revoked_pull}");
}

/// An image in the upstream with 17 attestation referrers by the trusted key, then its cosign v3
/// signature, all listed by the fallback tag (distribution 2.8); the pull status of `v1`.
/// `annotate`: each referrer carries cosign's `dev.sigstore.bundle.predicateType` annotation.
async fn pull_crowded(
    base: &str,
    direct: &str,
    name: &str,
    ci: &CosignKey,
    annotate: bool,
) -> StatusCode {
    use sealgate_integration_tests::cosign::{BUNDLE_V03, push_bundle_referrer};
    let (digest, manifest) = oci::tiny_image(direct, name, &unique_salt()).await;
    oci::put_manifest(direct, name, "v1", &manifest).await;
    let mut listed = Vec::new();
    let predicates = (0..17)
        .map(|i| format!("https://example.com/attestation/{i}"))
        .chain(["https://sigstore.dev/cosign/sign/v1".to_owned()]);
    for predicate in predicates {
        let bundle = ci.dsse_bundle(&predicate, &digest);
        let (referrer, size, reply) =
            push_bundle_referrer(direct, name, &digest, manifest.len(), &bundle, &predicate).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let mut descriptor = serde_json::json!({"mediaType": sealgate_integration_tests::OCI_MANIFEST,
            "digest": referrer, "size": size, "artifactType": BUNDLE_V03});
        if annotate {
            descriptor["annotations"] =
                serde_json::json!({"dev.sigstore.bundle.predicateType": predicate});
        }
        listed.push(descriptor);
    }
    let fallback = serde_json::json!({"schemaVersion": 2,
        "mediaType": sealgate_integration_tests::OCI_INDEX, "manifests": listed});
    let put = send(
        Method::PUT,
        &format!(
            "{direct}/v2/{name}/manifests/sha256-{}",
            digest.trim_start_matches("sha256:")
        ),
        &[("content-type", sealgate_integration_tests::OCI_INDEX)],
        Bytes::from(serde_json::to_vec(&fallback).expect("JSON")),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    get(&format!("{base}/v2/{name}/manifests/v1")).await.status
}

/// Attestations never sign the image, and the referrers cosign annotates as attestations are
/// not even fetched: they cannot push the signature out of the referrers a pull looks at.
#[tokio::test(flavor = "multi_thread")]
async fn r14_attestation_referrers_do_not_crowd_out_the_signature() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (registry, sealgate) = gated(dir.path(), &ci, &[]).await;
    let (base, direct) = (sealgate.base_url(), registry.url());
    assert_eq!(
        pull_crowded(&base, &direct, "prod/annotated", &ci, true).await,
        StatusCode::OK
    );
    // Without the annotations the first 16 referrers are fetched, judged by their signed
    // statements (attestations), and the signature is not reached.
    assert_eq!(
        pull_crowded(&base, &direct, "prod/plain", &ci, false).await,
        StatusCode::FORBIDDEN
    );
}
