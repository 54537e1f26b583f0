//! podman (Debian's 4.3) as a client, with everything it reads and writes in a temp dir: its
//! image storage (vfs, so no kernel overlay or fuse is needed), `registries.conf` marking the
//! loopback registries insecure (plain HTTP), a `containers.conf` without an events log and a
//! signature policy that accepts anything (signatures are sealgate's job here). The machine's
//! `/etc/containers` is not read for any of these.
//!
//! containers/image still keeps its blob-info cache under `/var/lib/containers/cache` when run as
//! root, as skopeo does; it is a cache of digests, not configuration.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::Command;

use crate::tools::require_tool;

/// How long one podman command may take before the test fails.
const PODMAN_TIMEOUT: Duration = Duration::from_secs(180);

/// A podman with its own storage and configuration.
#[derive(Debug)]
pub struct Podman {
    bin: PathBuf,
    dir: TempDir,
}

impl Podman {
    /// A podman that treats each of `hosts` (`127.0.0.1:<port>`) as an insecure registry.
    /// Fails the test with the install command when podman is missing.
    pub fn new(hosts: &[&str]) -> Self {
        let bin = require_tool(
            "podman",
            "apt-get install -y podman (scripts/install-deps.sh test)",
        );
        let dir = tempfile::Builder::new()
            .prefix("it-podman-")
            .tempdir()
            .expect("create a temp dir for podman");
        let root = dir.path();
        let quote = |p: &Path| serde_json::to_string(&p.display().to_string()).expect("a string");
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = {}\nrunroot = {}\n",
                quote(&root.join("graph")),
                quote(&root.join("run"))
            ),
        )
        .expect("write storage.conf");
        let mut registries = String::from("unqualified-search-registries = []\n");
        for host in hosts {
            registries.push_str(&format!(
                "\n[[registry]]\nlocation = {}\ninsecure = true\n",
                serde_json::to_string(host).expect("a string")
            ));
        }
        std::fs::write(root.join("registries.conf"), registries).expect("write registries.conf");
        std::fs::write(
            root.join("containers.conf"),
            "[engine]\nevents_logger = \"none\"\n",
        )
        .expect("write containers.conf");
        std::fs::write(
            root.join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("write policy.json");
        std::fs::create_dir_all(root.join("tmp")).expect("create podman's tmp");
        Self { bin, dir }
    }

    /// The signature policy file, for `--signature-policy` (push, pull).
    pub fn policy(&self) -> PathBuf {
        self.dir.path().join("policy.json")
    }

    /// Runs `podman <args>` with this podman's storage and configuration; returns its output,
    /// whatever the exit status.
    pub async fn run(&self, args: &[&str]) -> Output {
        let root = self.dir.path();
        let mut command = Command::new(&self.bin);
        command
            .arg("--root")
            .arg(root.join("graph"))
            .arg("--runroot")
            .arg(root.join("run"))
            .arg("--storage-driver=vfs")
            .args(args)
            .env("CONTAINERS_STORAGE_CONF", root.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", root.join("registries.conf"))
            .env("CONTAINERS_CONF", root.join("containers.conf"))
            .env("TMPDIR", root.join("tmp"))
            .kill_on_drop(true);
        tokio::time::timeout(PODMAN_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("podman {args:?} did not finish within {PODMAN_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("cannot run podman {args:?}: {e}"))
    }

    /// Runs `podman <args>`; returns its stdout, or fails the test with its output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "podman {args:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Makes a one-layer image unique to `salt` in this podman's storage, named `reference`
    /// (`podman import` of a tar: nothing is pulled).
    pub async fn import_image(&self, reference: &str, salt: &str) {
        let tar = self
            .dir
            .path()
            .join("tmp")
            .join(format!("{}.tar", crate::unique_salt()));
        std::fs::write(&tar, crate::tar_layer(&[("salt.txt", salt.as_bytes())]))
            .expect("write the image's tar");
        let tar = tar.display().to_string();
        self.ok(&["import", &tar, reference]).await;
    }

    /// `podman push --signature-policy … <reference>`; the output, whatever the exit status.
    pub async fn push(&self, reference: &str) -> Output {
        let policy = self.policy().display().to_string();
        self.run(&["push", "--signature-policy", &policy, reference])
            .await
    }

    /// `podman pull --signature-policy … <reference>`; the output, whatever the exit status.
    pub async fn pull(&self, reference: &str) -> Output {
        let policy = self.policy().display().to_string();
        self.run(&["pull", "--signature-policy", &policy, reference])
            .await
    }

    /// The registry digest podman recorded for `reference` (`podman image inspect`).
    pub async fn digest(&self, reference: &str) -> String {
        self.ok(&["image", "inspect", "--format", "{{.Digest}}", reference])
            .await
            .trim()
            .to_owned()
    }
}
