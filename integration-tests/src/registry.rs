//! The real upstream: Debian's `docker-registry` (CNCF distribution 2.8).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tempfile::TempDir;

use crate::child::ChildProcess;
use crate::tools::require_tool;

/// How long the registry may take to answer `GET /v2/` after start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A `docker-registry` on `127.0.0.1:<free port>` with filesystem storage in its own temp dir and
/// deletes enabled (as `shared/examples/registry-config.yml`). Killed and reaped on drop; the temp
/// dir goes with it.
#[derive(Debug)]
pub struct Registry {
    /// The running registry, `None` while stopped. Declared first so that it is killed before
    /// `dir` is removed (fields drop in declaration order).
    process: Option<ChildProcess>,
    /// The port; kept across `stop`/`restart` so sealgate's upstream URL stays valid.
    port: u16,
    /// The config file the registry was started with.
    config_path: PathBuf,
    /// Everything the registry owns on disk.
    dir: TempDir,
}

impl Registry {
    /// Starts a registry and waits until `GET /v2/` answers 200.
    pub async fn start() -> Self {
        require_tool("docker-registry", "apt-get install -y docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("it-registry-")
            .tempdir()
            .expect("create a temp dir for the registry");
        let port = crate::free_port();
        let storage = dir.path().join("storage");
        let config_path = dir.path().join("config.yml");
        // Loopback only, temp storage, deletes enabled, quiet: errors still reach the log.
        let config = format!(
            "version: 0.1\n\
             log: {{level: error, accesslog: {{disabled: true}}}}\n\
             storage:\n  \
               cache: {{blobdescriptor: inmemory}}\n  \
               filesystem: {{rootdirectory: \"{}\"}}\n  \
               delete: {{enabled: true}}\n\
             http: {{addr: \"127.0.0.1:{port}\"}}\n",
            storage.display()
        );
        std::fs::write(&config_path, config).expect("write registry config");
        let mut registry = Self {
            process: None,
            port,
            config_path,
            dir,
        };
        registry.spawn_and_wait().await;
        registry
    }

    async fn spawn_and_wait(&mut self) {
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&self.config_path);
        let log = self.dir.path().join("registry.log");
        let mut process = ChildProcess::spawn("docker-registry", command, &log);
        let url = format!("{}/v2/", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = process.try_exit_status() {
                panic!(
                    "docker-registry exited with {status} before answering; its log:\n{}",
                    process.log()
                );
            }
            let answered = crate::try_send(Method::GET, &url, &[], "")
                .await
                .is_ok_and(|reply| reply.status == StatusCode::OK);
            if answered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer GET {url} within {READY_TIMEOUT:?}; its log:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.process = Some(process);
    }

    /// `http://127.0.0.1:<port>`, the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:<port>`, for `docker://` references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the registry (SIGKILL, reaped) and keeps its storage for [`Registry::restart`].
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the registry again on the same port with the same storage; waits until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn_and_wait().await;
    }

    /// The registry's log so far (errors only: it runs at `level: error`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}
