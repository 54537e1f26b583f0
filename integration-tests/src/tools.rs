//! External command-line tools: presence checks and runs that fail loudly with their output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::{ImageDescriptor, OciLayout, sha256_digest};

/// How long one tool invocation may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// The absolute path of executable `name` on `PATH`.
///
/// A missing tool fails the test with `install` in the message: these tests exist to exercise the
/// real tools, and skipping silently would report a pass that proved nothing.
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!("required tool `{name}` is not on PATH; install it with: {install}")
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `command` to completion; returns its stdout, or fails the test with the command line,
/// exit status, stdout and stderr.
pub async fn run_tool(command: &mut Command) -> String {
    let description = format!("{:?}", command.as_std());
    command.kill_on_drop(true);
    let output = tokio::time::timeout(TOOL_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{description} did not finish within {TOOL_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{description} failed with {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    stdout
}

/// Runs `skopeo --insecure-policy <args>` and returns its stdout.
///
/// `--insecure-policy` keeps the tests independent of `/etc/containers/policy.json`; signature
/// policy is sealgate's job here, not skopeo's.
pub async fn skopeo(args: &[&str]) -> String {
    let skopeo = require_tool("skopeo", "apt-get install -y skopeo");
    run_tool(Command::new(skopeo).arg("--insecure-policy").args(args)).await
}

/// The digest of the manifest `skopeo inspect --raw <options> <reference>` prints, `options`
/// being how to reach the registry (`--tls-verify=false` for plain HTTP, `--cert-dir <dir>`).
pub async fn skopeo_raw_digest(options: &[&str], reference: &str) -> String {
    let args: Vec<&str> = ["inspect", "--raw"]
        .into_iter()
        .chain(options.iter().copied())
        .chain([reference])
        .collect();
    sha256_digest(skopeo(&args).await.as_bytes())
}

/// `skopeo copy <source> <destination> --dest-tls-verify=false`: copies an image to a
/// plain-HTTP registry (or sealgate), `destination` being `docker://<host>/<name>:<tag>`.
pub async fn skopeo_push(source: &str, destination: &str) -> String {
    skopeo(&["copy", source, destination, "--dest-tls-verify=false"]).await
}

/// Writes a fresh image of `layers` sample layers ([`OciLayout::add_sample_image`]) into a
/// temporary layout and pushes it with [`skopeo_push`] to `destination`; returns what was written.
pub async fn push_sample_image(layers: usize, destination: &str) -> ImageDescriptor {
    let work = tempfile::tempdir().expect("temp dir");
    let mut layout = OciLayout::new(&work.path().join("layout"));
    let image = layout.add_sample_image("v1", layers);
    skopeo_push(&layout.reference("v1"), destination).await;
    image
}
