//! skopeo pushing and pulling whole images through sealgate, compared with the same copy made
//! directly to the registry: a pass-through proxy must not change a single digest.

use sealgate_integration_tests::{
    OCI_INDEX, OciLayout, Platform, oci, registry_behind_sealgate, sample_layer, sha256_digest,
    skopeo, skopeo_push, skopeo_raw_digest, unique_salt,
};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn multi_layer_image_round_trips_through_sealgate_with_identical_digests() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let work = tempfile::tempdir().expect("temp dir");
    let mut source = OciLayout::new(&work.path().join("source"));
    source.add_sample_image("v1", 4);

    let via_ref = format!("docker://{}/it/multi:v1", sealgate.host());
    let direct_ref = format!("docker://{}/it/multi-direct:v1", registry.host());
    for destination in [&via_ref, &direct_ref] {
        skopeo_push(&source.reference("v1"), destination).await;
    }

    // skopeo gzips the uncompressed layers on the way to a registry, so the pushed manifest is not
    // the layout's; it is deterministic, so both copies must agree byte for byte.
    let via = oci::manifest_digest(&sealgate.base_url(), "it/multi", "v1").await;
    let direct = oci::manifest_digest(&registry.url(), "it/multi-direct", "v1").await;
    assert_eq!(
        via, direct,
        "the copy through sealgate differs from the direct copy"
    );
    assert_eq!(
        oci::manifest_digest(&registry.url(), "it/multi", "v1").await,
        via,
        "sealgate reports a digest other than what the registry stored"
    );
    assert_eq!(
        skopeo_raw_digest(&["--tls-verify=false"], &via_ref).await,
        via,
        "inspect --raw through sealgate"
    );

    // Out again through sealgate into a fresh layout: same manifest, same layer bytes.
    let copy_back = OciLayout::new(&work.path().join("copy-back"));
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &via_ref,
        &copy_back.reference("v1"),
    ])
    .await;
    assert_eq!(
        OciLayout::tagged_digest(copy_back.dir(), "v1").as_deref(),
        Some(via.as_str()),
        "the image copied back out has another manifest digest"
    );
    let manifest: Value =
        serde_json::from_slice(&copy_back.read_blob(&via)).expect("manifest is JSON");
    let layers = manifest["layers"].as_array().expect("manifest has layers");
    assert_eq!(layers.len(), 4);
    for layer in layers {
        let digest = layer["digest"].as_str().expect("layer digest");
        let copied = copy_back.read_blob(digest);
        assert_eq!(
            sha256_digest(&copied),
            digest,
            "copied layer {digest} is corrupt"
        );
        let in_registry = oci::fetch_blob(&registry.url(), "it/multi", digest).await;
        assert!(
            copied == in_registry,
            "layer {digest} differs from the registry's"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_arch_index_copies_with_all_and_children_resolve_by_digest() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let work = tempfile::tempdir().expect("temp dir");
    let salt = unique_salt();
    let mut source = OciLayout::new(&work.path().join("source"));
    let amd64 = source.image(
        (0..2)
            .map(|i| sample_layer(&format!("{salt}-amd64"), i))
            .collect(),
        Platform::linux_amd64(),
    );
    let arm64 = source.image(
        (0..2)
            .map(|i| sample_layer(&format!("{salt}-arm64"), i))
            .collect(),
        Platform::linux_arm64(),
    );
    source.add_index("multiarch", &[amd64, arm64]);

    let via_ref = format!("docker://{}/it/index:v1", sealgate.host());
    let direct_ref = format!("docker://{}/it/index-direct:v1", registry.host());
    // --all: children by digest, then the index by tag.
    let reference = source.reference("multiarch");
    for destination in [&via_ref, &direct_ref] {
        skopeo(&[
            "copy",
            "--all",
            &reference,
            destination,
            "--dest-tls-verify=false",
        ])
        .await;
    }

    let via = oci::manifest_digest(&sealgate.base_url(), "it/index", "v1").await;
    let direct = oci::manifest_digest(&registry.url(), "it/index-direct", "v1").await;
    assert_eq!(
        via, direct,
        "the index copied through sealgate differs from the direct copy"
    );
    assert_eq!(
        skopeo_raw_digest(&["--tls-verify=false"], &via_ref).await,
        via,
        "inspect --raw through sealgate"
    );

    let index_bytes = oci::fetch_manifest(&sealgate.base_url(), "it/index", "v1").await;
    assert_eq!(sha256_digest(&index_bytes), via);
    let index: Value = serde_json::from_slice(&index_bytes).expect("index is JSON");
    assert_eq!(index["mediaType"], OCI_INDEX);
    let children = index["manifests"]
        .as_array()
        .expect("index lists manifests");
    let mut architectures: Vec<&str> = children
        .iter()
        .map(|c| c["platform"]["architecture"].as_str().expect("platform"))
        .collect();
    architectures.sort_unstable();
    assert_eq!(architectures, ["amd64", "arm64"]);

    for child in children {
        let digest = child["digest"].as_str().expect("child digest");
        let architecture = child["platform"]["architecture"].as_str().expect("arch");
        let bytes = oci::fetch_manifest(&sealgate.base_url(), "it/index", digest).await;
        assert_eq!(
            sha256_digest(&bytes),
            digest,
            "child {architecture} by digest"
        );
        assert_eq!(
            oci::manifest_digest(&sealgate.base_url(), "it/index", digest).await,
            digest
        );
        let manifest: Value = serde_json::from_slice(&bytes).expect("child is JSON");
        let config_digest = manifest["config"]["digest"].as_str().expect("config");
        let config = oci::fetch_blob(&sealgate.base_url(), "it/index", config_digest).await;
        let config: Value = serde_json::from_slice(&config).expect("config is JSON");
        assert_eq!(
            config["architecture"], architecture,
            "child config matches its platform"
        );
    }
}
