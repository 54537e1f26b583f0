//! The real upstream: Debian's `docker-registry` (CNCF distribution 2.8).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tempfile::TempDir;

use crate::child::ChildProcess;
use crate::tools::require_tool;

/// How long the registry may take to answer `GET /v2/` after start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How a [`Registry`] authenticates its clients.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// Anyone may push and pull.
    None,
    /// HTTP Basic against an htpasswd file (bcrypt hashes only: distribution refuses the others).
    Htpasswd {
        /// The realm of the `Basic` challenge.
        realm: String,
        /// The file's content, `user:$2y$…` lines.
        htpasswd: String,
    },
    /// Bearer tokens from a token server (distribution's `auth: token`), e.g. a
    /// [`crate::token_server::TokenServer`].
    Token {
        /// The token endpoint, absolute (`http://127.0.0.1:<port>/token`).
        realm: String,
        /// The `service` the tokens are for (their `aud`).
        service: String,
        /// The `iss` the tokens must carry.
        issuer: String,
        /// PEM of the certificate(s) whose keys sign the tokens.
        root_cert_pem: String,
    },
}

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
    /// What `GET /v2/` answers once the registry is up: 200, or 401 when it wants credentials.
    ready_status: StatusCode,
    /// With TLS: the CA bundle that verifies its certificate (the readiness probe trusts it).
    tls_ca: Option<PathBuf>,
    /// Everything the registry owns on disk.
    dir: TempDir,
}

impl Registry {
    /// Starts a registry and waits until `GET /v2/` answers 200.
    pub async fn start() -> Self {
        Self::start_with_auth(RegistryAuth::None).await
    }

    /// Starts a registry that authenticates its clients as `auth` says, and waits until
    /// `GET /v2/` answers (200, or 401 with credentials required).
    pub async fn start_with_auth(auth: RegistryAuth) -> Self {
        Self::start_with(auth, None).await
    }

    /// Starts a registry serving HTTPS (`http.tls`) with the certificate `cert` and key `key`,
    /// which `ca` verifies; [`Registry::url`] is then `https://127.0.0.1:<port>`.
    pub async fn start_with_tls(auth: RegistryAuth, cert: &Path, key: &Path, ca: &Path) -> Self {
        Self::start_with(auth, Some((cert, key, ca))).await
    }

    async fn start_with(auth: RegistryAuth, tls: Option<(&Path, &Path, &Path)>) -> Self {
        require_tool("docker-registry", "apt-get install -y docker-registry");
        // A port found free can be taken by another test process before the registry binds it:
        // try again on a fresh port and directory (twice at most).
        for _ in 0..2 {
            let mut registry = Self::configure(&auth, tls);
            if registry.spawn_and_wait().await == Started::Yes {
                return registry;
            }
        }
        let mut registry = Self::configure(&auth, tls);
        registry.start_or_panic().await;
        registry
    }

    /// A registry (not yet started) on a free port, its config and storage in a fresh temp dir.
    fn configure(auth: &RegistryAuth, tls: Option<(&Path, &Path, &Path)>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("it-registry-")
            .tempdir()
            .expect("create a temp dir for the registry");
        let port = crate::free_port();
        let storage = dir.path().join("storage");
        let config_path = dir.path().join("config.yml");
        let (auth_yaml, ready_status) = auth_config(auth, dir.path());
        // Loopback only, temp storage, deletes enabled, quiet: errors still reach the log.
        let mut config = format!(
            "version: 0.1\n\
             log: {{level: error, accesslog: {{disabled: true}}}}\n\
             storage:\n  \
               cache: {{blobdescriptor: inmemory}}\n  \
               filesystem: {{rootdirectory: \"{}\"}}\n  \
               delete: {{enabled: true}}\n\
             http: {{addr: \"127.0.0.1:{port}\"{}}}\n",
            storage.display(),
            tls.map(|(cert, key, _)| format!(
                ", tls: {{certificate: \"{}\", key: \"{}\"}}",
                cert.display(),
                key.display()
            ))
            .unwrap_or_default()
        );
        config.push_str(&auth_yaml);
        std::fs::write(&config_path, config).expect("write registry config");
        Self {
            process: None,
            port,
            config_path,
            ready_status,
            tls_ca: tls.map(|(_, _, ca)| ca.to_owned()),
            dir,
        }
    }

    /// Starts the registry and waits until it answers. Panics with its log if it exits or never
    /// answers, except when it exits because its port was taken: then [`Started::PortTaken`].
    async fn spawn_and_wait(&mut self) -> Started {
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&self.config_path);
        let log = self.dir.path().join("registry.log");
        let mut process = ChildProcess::spawn("docker-registry", command, &log);
        let url = format!("{}/v2/", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = process.try_exit_status() {
                let log = process.log();
                if log.contains("address already in use") {
                    return Started::PortTaken;
                }
                panic!("docker-registry exited with {status} before answering; its log:\n{log}");
            }
            let answered = match &self.tls_ca {
                None => crate::try_send(Method::GET, &url, &[], "")
                    .await
                    .is_ok_and(|reply| reply.status == self.ready_status),
                // The helper client speaks plain HTTP only; curl checks the certificate.
                Some(ca) => tokio::process::Command::new("curl")
                    .args([
                        "-s",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "--max-time",
                        "2",
                    ])
                    .arg("--cacert")
                    .arg(ca)
                    .arg(&url)
                    .output()
                    .await
                    .is_ok_and(|out| out.stdout == self.ready_status.as_str().as_bytes()),
            };
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
        Started::Yes
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS), the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
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
        self.start_or_panic().await;
    }

    async fn start_or_panic(&mut self) {
        if self.spawn_and_wait().await == Started::PortTaken {
            panic!(
                "docker-registry could not bind 127.0.0.1:{}; its log:\n{}",
                self.port,
                self.log()
            );
        }
    }

    /// The file holding blob `digest` (`sha256:<hex>`) in the registry's filesystem storage, for
    /// tests that corrupt what the registry serves.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's log so far (errors only: it runs at `level: error`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

/// Whether [`Registry::spawn_and_wait`] got the registry answering.
#[derive(Debug, PartialEq, Eq)]
enum Started {
    Yes,
    /// It exited because its port had been taken in the meantime.
    PortTaken,
}

/// The `auth:` section for `auth` (files it names are written into `dir`) and the status of an
/// anonymous `GET /v2/` once the registry is up.
fn auth_config(auth: &RegistryAuth, dir: &Path) -> (String, StatusCode) {
    // JSON strings are valid YAML double-quoted scalars.
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    match auth {
        RegistryAuth::None => (String::new(), StatusCode::OK),
        RegistryAuth::Htpasswd { realm, htpasswd } => {
            let path = dir.join("htpasswd");
            std::fs::write(&path, htpasswd).expect("write htpasswd");
            let yaml = format!(
                "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                quote(realm),
                quote(&path.display().to_string())
            );
            (yaml, StatusCode::UNAUTHORIZED)
        }
        RegistryAuth::Token {
            realm,
            service,
            issuer,
            root_cert_pem,
        } => {
            let path = dir.join("token-signers.pem");
            std::fs::write(&path, root_cert_pem).expect("write the token root bundle");
            let yaml = format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                quote(realm),
                quote(service),
                quote(issuer),
                quote(&path.display().to_string())
            );
            (yaml, StatusCode::UNAUTHORIZED)
        }
    }
}
