//! containerd as a cluster node, pulling through sealgate as its `hosts.toml` mirror (`?ns=`).

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::{
    Containerd, MANIFEST_ACCEPT, oci, push_sample_image, registry_behind_sealgate, send,
};

/// containerd 1.6 resolves with `HEAD manifests/<tag>?ns=docker.io` and fails with "content size
/// of zero" unless that HEAD carries the real Content-Length; then it fetches the manifest by
/// digest and every blob, all with `?ns=`. `server` points at a dead local address, so nothing
/// can succeed by falling back around sealgate.
#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_and_unpacks_through_sealgate_as_a_mirror() {
    let (registry, sealgate) = registry_behind_sealgate(&["docker.io"]).await;
    let containerd = Containerd::start().await;

    push_sample_image(3, &format!("docker://{}/demo/app:v1", sealgate.host())).await;
    let pushed = oci::manifest_digest(&registry.url(), "demo/app", "v1").await;

    // What containerd's resolver will ask first, checked here for a precise message: the HEAD
    // must carry the digest and the manifest's real length.
    let manifest_url = format!(
        "{}/v2/demo/app/manifests/v1?ns=docker.io",
        sealgate.base_url()
    );
    let head = send(Method::HEAD, &manifest_url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK, "HEAD {manifest_url}: {head:?}");
    assert_eq!(head.header("docker-content-digest"), Some(pushed.as_str()));
    let manifest = oci::fetch_manifest(&registry.url(), "demo/app", "v1").await;
    assert_eq!(
        head.header("content-length"),
        Some(manifest.len().to_string().as_str()),
        "HEAD must carry the manifest's Content-Length or containerd fails with \"content size of zero\""
    );

    containerd.mirror("docker.io", &sealgate.base_url());
    // A real `images pull`: resolve, fetch, and unpack into the native snapshotter.
    let output = containerd.pull("docker.io/demo/app:v1").await;
    assert!(
        output.contains("done"),
        "ctr images pull did not report completion:\n{output}\n--- sealgate log\n{}",
        sealgate.stderr_log()
    );
    assert_eq!(
        containerd
            .image_digest("docker.io/demo/app:v1")
            .await
            .as_deref(),
        Some(pushed.as_str()),
        "containerd holds another digest than the one pushed"
    );
}
