//! containerd 1.6 as a node: a private daemon (root, state and socket in a temp dir) that pulls
//! through a mirror configured with `hosts.toml`, driven with `ctr`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::child::ChildProcess;
use crate::tools::require_tool;

/// How long the daemon may take to answer on its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ctr` namespace the tests use.
const NAMESPACE: &str = "test";

/// `shared/examples/containerd/config.toml` with `@DIR@` to replace: no TCP, the native snapshotter
/// (no overlayfs privileges needed), hosts.toml mirrors from `@DIR@/certs.d`.
const CONFIG_TEMPLATE: &str = r#"version = 2
root = "@DIR@/root"
state = "@DIR@/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "@DIR@/containerd.sock"
[ttrpc]
  address = "@DIR@/containerd.sock.ttrpc"
[debug]
  address = "@DIR@/debug.sock"
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "@DIR@/certs.d"
"#;

/// A private containerd daemon, killed and reaped on drop.
#[derive(Debug)]
pub struct Containerd {
    /// The daemon; declared first so it stops before `dir` is removed.
    process: ChildProcess,
    /// Root, state, sockets, certs.d and log.
    dir: TempDir,
}

impl Containerd {
    /// Starts the daemon and waits until `ctr version` gets an answer over its socket.
    pub async fn start() -> Self {
        let containerd = require_tool("containerd", "apt-get install -y containerd");
        require_tool("ctr", "apt-get install -y containerd");
        let dir = tempfile::Builder::new()
            .prefix("it-containerd-")
            .tempdir()
            .expect("create a temp dir for containerd");
        let config = CONFIG_TEMPLATE.replace("@DIR@", &dir.path().display().to_string());
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("write containerd config");
        std::fs::create_dir_all(dir.path().join("certs.d")).expect("create certs.d");
        let mut command = Command::new(containerd);
        command.arg("--config").arg(&config_path);
        let mut process =
            ChildProcess::spawn("containerd", command, &dir.path().join("containerd.log"));
        let socket = dir.path().join("containerd.sock");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = process.try_exit_status() {
                panic!(
                    "containerd exited with {status}; its log:\n{}",
                    process.log()
                );
            }
            if socket.exists() {
                let answered = tokio::process::Command::new("ctr")
                    .arg("-a")
                    .arg(&socket)
                    .arg("version")
                    .output()
                    .await
                    .is_ok_and(|out| out.status.success());
                if answered {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {} within {READY_TIMEOUT:?}; its log:\n{}",
                socket.display(),
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { process, dir }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The `--hosts-dir` directory (`certs.d`).
    pub fn hosts_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Writes `certs.d/<registry>/hosts.toml` sending pulls of `registry` (e.g. `docker.io`) to
    /// `mirror_url` (e.g. `http://127.0.0.1:5050`), with `server` on a dead local address: a 404
    /// from the mirror then fails the pull instead of silently falling back to the real registry.
    pub fn mirror(&self, registry: &str, mirror_url: &str) {
        let dir = self.hosts_dir().join(registry);
        std::fs::create_dir_all(&dir).expect("create certs.d/<registry>");
        let hosts = format!(
            "server = \"http://127.0.0.1:9\"\n\n[host.\"{mirror_url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        std::fs::write(dir.join("hosts.toml"), hosts).expect("write hosts.toml");
    }

    /// Writes `certs.d/<registry>/hosts.toml` the way the README tells operators to: `server`
    /// and the only host are both sealgate, so nothing can bypass it.
    pub fn gate_only(&self, registry: &str, sealgate_url: &str) {
        let dir = self.hosts_dir().join(registry);
        std::fs::create_dir_all(&dir).expect("create certs.d/<registry>");
        let hosts = format!(
            "server = \"{sealgate_url}\"\n\n[host.\"{sealgate_url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        std::fs::write(dir.join("hosts.toml"), hosts).expect("write hosts.toml");
    }

    /// Runs `ctr -a <socket> -n test <args>` and returns its stdout; fails the test with ctr's
    /// output and the daemon's log tail if it fails.
    pub async fn ctr(&self, args: &[&str]) -> String {
        let mut command = tokio::process::Command::new("ctr");
        command
            .arg("-a")
            .arg(self.socket())
            .args(["-n", NAMESPACE])
            .args(args);
        let output = command
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"));
        if !output.status.success() {
            let log = self.process.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "ctr {args:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}\n--- containerd log (last 40 lines, newest first)\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                tail.join("\n")
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Like [`Containerd::pull`], for pulls that may be refused: `Err` carries ctr's stderr.
    pub async fn try_pull(&self, reference: &str) -> Result<String, String> {
        let output = tokio::process::Command::new("ctr")
            .arg("-a")
            .arg(self.socket())
            .args([
                "-n",
                NAMESPACE,
                "images",
                "pull",
                "--snapshotter",
                "native",
                "--hosts-dir",
            ])
            .arg(self.hosts_dir())
            .arg(reference)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"));
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `ctr images pull --snapshotter native --hosts-dir <certs.d> <reference>` (pull and unpack).
    pub async fn pull(&self, reference: &str) -> String {
        let hosts_dir = self.hosts_dir().display().to_string();
        self.ctr(&[
            "images",
            "pull",
            "--snapshotter",
            "native",
            "--hosts-dir",
            &hosts_dir,
            reference,
        ])
        .await
    }

    /// The digest `ctr images ls` shows for `reference`, if containerd has it.
    pub async fn image_digest(&self, reference: &str) -> Option<String> {
        let listing = self.ctr(&["images", "ls"]).await;
        listing.lines().skip(1).find_map(|line| {
            let mut columns = line.split_whitespace();
            (columns.next()? == reference)
                .then(|| columns.nth(1))
                .flatten()
                .map(str::to_owned)
        })
    }

    /// The temp dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
