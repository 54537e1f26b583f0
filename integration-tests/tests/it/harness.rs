//! The harness against the real registry alone, without sealgate: when these fail, the environment
//! or the harness is broken, not the proxy.

use http::{Method, StatusCode};
use sealgate_integration_tests::{Containerd, Registry, oci, push_sample_image, skopeo_raw_digest};

/// skopeo reads the layouts `OciLayout` writes, and the registry serves the result; a stopped
/// registry refuses connections and a restarted one still has the content.
#[tokio::test(flavor = "multi_thread")]
async fn registry_accepts_skopeo_copies_of_generated_layouts_and_survives_restart() {
    let mut registry = Registry::start().await;
    let target = format!("docker://{}/harness/image:v1", registry.host());
    let image = push_sample_image(3, &target).await;
    let pushed = oci::manifest_digest(&registry.url(), "harness/image", "v1").await;
    assert_eq!(
        skopeo_raw_digest(&["--tls-verify=false"], &target).await,
        pushed,
        "inspect --raw hashes to the HEAD digest"
    );
    eprintln!(
        "layout manifest {} -> pushed manifest {pushed}",
        image.manifest_digest
    );

    registry.stop();
    let refused = sealgate_integration_tests::try_send(
        Method::GET,
        &format!("{}/v2/", registry.url()),
        &[],
        "",
    )
    .await;
    assert!(
        refused.is_err(),
        "a stopped registry must not answer: {refused:?}"
    );
    registry.restart().await;
    assert_eq!(
        oci::manifest_digest(&registry.url(), "harness/image", "v1").await,
        pushed
    );
    let reply =
        sealgate_integration_tests::send(Method::GET, &format!("{}/v2/", registry.url()), &[], "")
            .await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// containerd pulls from the registry directly through a hosts.toml mirror entry.
#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_directly_from_the_registry_via_hosts_toml() {
    let registry = Registry::start().await;
    let containerd = Containerd::start().await;
    push_sample_image(2, &format!("docker://{}/demo/app:v1", registry.host())).await;
    let pushed = oci::manifest_digest(&registry.url(), "demo/app", "v1").await;
    containerd.mirror("docker.io", &registry.url());
    containerd.pull("docker.io/demo/app:v1").await;
    assert_eq!(
        containerd
            .image_digest("docker.io/demo/app:v1")
            .await
            .as_deref(),
        Some(pushed.as_str())
    );
}
