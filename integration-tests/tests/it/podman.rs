//! podman (Debian's 4.3, containers/image like skopeo but with its own storage and
//! `registries.conf`) pushing and pulling through sealgate: an image round-trips in audit mode;
//! in enforce mode an unsigned push is refused with sealgate's message, a signed image pulls and
//! an unsigned one put straight into the registry does not.

use std::path::Path;

use sealgate_integration_tests::cosign::{CosignKey, push_signed_tiny_image};
use sealgate_integration_tests::{
    Podman, Registry, Sealgate, oci, registry_behind_sealgate, unique_salt,
};

/// Enforce for `prod/**` with `ci` the only signer; audit elsewhere.
fn enforce_prod(dir: &Path, ci: &CosignKey) -> String {
    format!(
        r#"
[trust.keys.ci]
path = "{}"
[policy.default]
mode = "audit"
[[policy.scope]]
repositories = "prod/**"
signers = ["ci"]
"#,
        ci.write_public(dir, "ci").display()
    )
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_pushes_and_pulls_through_sealgate() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let host = sealgate.host();
    let podman = Podman::new(&[&host]);
    let image = format!("{host}/it/podman:v1");
    podman.import_image(&image, &unique_salt()).await;
    let pushed = podman.push(&image).await;
    assert!(pushed.status.success(), "podman push: {}", stderr(&pushed));

    // The registry holds what podman pushed, under the tag.
    let digest = oci::manifest_digest(&registry.url(), "it/podman", "v1").await;
    // Pulled back through sealgate into empty storage: the same manifest.
    podman.ok(&["rmi", "--all", "--force"]).await;
    let pulled = podman.pull(&image).await;
    assert!(pulled.status.success(), "podman pull: {}", stderr(&pulled));
    assert_eq!(podman.digest(&image).await, digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_unsigned_push_is_refused_and_only_signed_images_pull_in_enforce_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&enforce_prod(dir.path(), &ci))
        .start()
        .await;
    let host = sealgate.host();
    let podman = Podman::new(&[&host]);

    let unsigned = format!("{host}/prod/app:v1");
    podman.import_image(&unsigned, &unique_salt()).await;
    let refused = podman.push(&unsigned).await;
    let message = stderr(&refused);
    assert!(
        !refused.status.success(),
        "the unsigned push must fail: {message}"
    );
    assert!(
        message.contains("not signed by the signers this repository requires"),
        "podman shows sealgate's message: {message}"
    );
    let direct = sealgate_integration_tests::send(
        http::Method::GET,
        &format!("{}/v2/prod/app/manifests/v1", registry.url()),
        &sealgate_integration_tests::MANIFEST_ACCEPT,
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(
        direct.status,
        http::StatusCode::NOT_FOUND,
        "the tag reached the registry"
    );

    // Signed (the way the push gate wants it), then pulled by podman through sealgate.
    let base = sealgate.base_url();
    let (digest, _) = push_signed_tiny_image(&base, "prod/app", "v2", &ci).await;
    let signed = format!("{host}/prod/app:v2");
    let pulled = podman.pull(&signed).await;
    assert!(pulled.status.success(), "podman pull: {}", stderr(&pulled));
    assert_eq!(podman.digest(&signed).await, digest);

    // Put straight into the registry, never signed: podman cannot pull it through sealgate.
    let rogue = oci::push_tiny_image(&registry.url(), "prod/app", "rogue", &unique_salt()).await;
    let blocked = podman.pull(&format!("{host}/prod/app:rogue")).await;
    let message = stderr(&blocked);
    assert!(
        !blocked.status.success(),
        "the unsigned pull must fail: {message}"
    );
    assert!(
        message.contains("no signature found"),
        "podman shows sealgate's message: {message}"
    );
    let images = podman
        .ok(&["images", "--digests", "--format", "{{.Digest}}"])
        .await;
    assert!(!images.contains(&rogue), "{images}");
}
