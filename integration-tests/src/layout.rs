//! Writes OCI image layouts in pure Rust, so tests push fresh, known content with skopeo
//! (`oci:<dir>:<tag>`). Format: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{OCI_INDEX, OCI_MANIFEST, sha256_digest, unique_salt};

/// Media type of an uncompressed layer.
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of an image config.
const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation that names a tag in `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OS/architecture pair, as in an index's `platform` and an image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
    /// `variant`, e.g. `v8` for arm64.
    pub variant: Option<String>,
}

impl Platform {
    /// linux/amd64.
    pub fn linux_amd64() -> Self {
        Self {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }

    /// linux/arm64/v8.
    pub fn linux_arm64() -> Self {
        Self {
            os: "linux".to_owned(),
            architecture: "arm64".to_owned(),
            variant: Some("v8".to_owned()),
        }
    }

    fn to_json(&self) -> Value {
        let mut platform = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

/// What [`OciLayout::add_image`] wrote: enough to find the image again and to check a copy of it.
#[derive(Debug, Clone)]
pub struct ImageDescriptor {
    /// Digest of the manifest bytes.
    pub manifest_digest: String,
    /// Size of the manifest in bytes.
    pub manifest_size: u64,
    /// Digest of the config blob.
    pub config_digest: String,
    /// Digests of the layer blobs, in order.
    pub layer_digests: Vec<String>,
    /// The platform the config declares.
    pub platform: Platform,
}

/// An OCI image layout being written to a directory: `oci-layout`, `index.json` and
/// `blobs/sha256/<hex>`. `index.json` is rewritten after every tagged addition.
#[derive(Debug)]
pub struct OciLayout {
    dir: PathBuf,
    /// `index.json` `manifests` entries, each carrying a tag annotation.
    tagged: Vec<Value>,
}

impl OciLayout {
    /// Creates (or empties the index of) a layout at `dir`.
    pub fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir.join("blobs").join("sha256")).expect("create the layout dirs");
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write oci-layout");
        let layout = Self {
            dir: dir.to_owned(),
            tagged: Vec::new(),
        };
        layout.write_index();
        layout
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `oci:<dir>:<tag>`, the skopeo reference of a tag in this layout.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    /// Writes `bytes` as a blob; returns its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> (String, u64) {
        let digest = sha256_digest(bytes);
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        fs::write(self.dir.join("blobs").join("sha256").join(hex), bytes).expect("write a blob");
        (digest, bytes.len() as u64)
    }

    /// The bytes of blob `digest`.
    pub fn read_blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let path = self.dir.join("blobs").join("sha256").join(hex);
        fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Writes an image (uncompressed tar layers, a config whose `rootfs.diff_ids` are the layers'
    /// digests, and a manifest) without tagging it, e.g. to become a child of an index.
    pub fn image(&mut self, layers: Vec<Vec<u8>>, platform: Platform) -> ImageDescriptor {
        let mut layer_descriptors = Vec::new();
        let mut layer_digests = Vec::new();
        for layer in &layers {
            let (digest, size) = self.write_blob(layer);
            layer_descriptors.push(json!({"mediaType": LAYER_TAR, "digest": digest, "size": size}));
            layer_digests.push(digest);
        }
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            // Uncompressed layers: each diff_id is the layer digest itself.
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        let (config_digest, config_size) = self.write_blob(&to_bytes(&config));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": IMAGE_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layer_descriptors,
        });
        let (manifest_digest, manifest_size) = self.write_blob(&to_bytes(&manifest));
        ImageDescriptor {
            manifest_digest,
            manifest_size,
            config_digest,
            layer_digests,
            platform,
        }
    }

    /// Writes an image and tags it `tag` in `index.json`.
    pub fn add_image(
        &mut self,
        tag: &str,
        layers: Vec<Vec<u8>>,
        platform: Platform,
    ) -> ImageDescriptor {
        let image = self.image(layers, platform);
        self.tag(
            tag,
            OCI_MANIFEST,
            &image.manifest_digest,
            image.manifest_size,
        );
        image
    }

    /// Writes a linux/amd64 image of `layers` [`sample_layer`]s, salted with a fresh
    /// [`unique_salt`] so no registry has seen them, and tags it `tag`.
    pub fn add_sample_image(&mut self, tag: &str, layers: usize) -> ImageDescriptor {
        let salt = unique_salt();
        self.add_image(
            tag,
            (0..layers).map(|i| sample_layer(&salt, i)).collect(),
            Platform::linux_amd64(),
        )
    }

    /// Writes an image index over `images` (written before with [`OciLayout::image`]) and tags it
    /// `tag`; returns the index digest.
    pub fn add_index(&mut self, tag: &str, images: &[ImageDescriptor]) -> String {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": image.manifest_digest,
                    "size": image.manifest_size,
                    "platform": image.platform.to_json(),
                })
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let (digest, size) = self.write_blob(&to_bytes(&index));
        self.tag(tag, OCI_INDEX, &digest, size);
        digest
    }

    fn tag(&mut self, tag: &str, media_type: &str, digest: &str, size: u64) {
        self.tagged
            .retain(|entry| entry["annotations"][REF_NAME] != tag);
        self.tagged.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {REF_NAME: tag},
        }));
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.tagged});
        fs::write(self.dir.join("index.json"), to_bytes(&index)).expect("write index.json");
    }

    /// The digest `index.json` records for `tag` in the layout at `dir` (for example one skopeo
    /// wrote), or `None`.
    pub fn tagged_digest(dir: &Path, tag: &str) -> Option<String> {
        let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).ok()?).ok()?;
        index["manifests"]
            .as_array()?
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .and_then(|m| m["digest"].as_str())
            .map(str::to_owned)
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialise")
}

/// An uncompressed tar archive of regular files (mode 0644, mtime 0), for a layer.
pub fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, *contents)
            .expect("append to an in-memory tar");
    }
    builder.into_inner().expect("finish an in-memory tar")
}

/// A layer of three small files whose contents depend on `salt` and `index`, so that layers differ
/// from each other and from every earlier test run.
pub fn sample_layer(salt: &str, index: usize) -> Vec<u8> {
    let readme = format!("layer {index} of a sealgate integration test, salt {salt}\n");
    let data: Vec<u8> = sha256_digest(readme.as_bytes())
        .bytes()
        .cycle()
        .take(4096 + index)
        .collect();
    let script = format!("#!/bin/sh\necho layer-{index}-{salt}\n");
    tar_layer(&[
        (&format!("layer{index}/README"), readme.as_bytes()),
        (&format!("layer{index}/data.bin"), &data),
        (&format!("usr/local/bin/hello{index}"), script.as_bytes()),
    ])
}
