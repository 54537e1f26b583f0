//! The binary under test: `sealgate serve --config <file>`, configured per test.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use rustix::process::Signal;
use tempfile::TempDir;

use crate::Registry;
use crate::child::ChildProcess;

/// How long sealgate may take to answer `/healthz` after it was spawned.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long drop waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(3);

/// Environment variable naming the binary to test, instead of `<target>/debug/sealgate`.
const BIN_ENV: &str = "IT_SEALGATE_BIN";

/// Environment variable that overrides `[log] level` for every sealgate a test starts
/// (`IT_SEALGATE_LOG=debug`); deliberately not `SEALGATE_*`, which sealgate itself reads.
const LOG_ENV: &str = "IT_SEALGATE_LOG";

/// The sealgate binary: `$IT_SEALGATE_BIN`, else `<target dir>/debug/sealgate` where the target
/// dir is `$CARGO_TARGET_DIR` (relative to the workspace) or `<workspace>/target`.
///
/// Panics with the build command when the file is missing: the tests never build it themselves.
pub fn sealgate_binary() -> PathBuf {
    let path = match std::env::var_os(BIN_ENV) {
        Some(bin) => PathBuf::from(bin),
        None => {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the crate lives inside the workspace");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
            target.join("debug").join("sealgate")
        }
    };
    assert!(
        path.is_file(),
        "sealgate binary not found at {}; run `cargo build -p sealgate` first",
        path.display()
    );
    path
}

/// Starts a [`Registry`] and a [`Sealgate`] whose only upstream (`local`) is that registry,
/// serving `namespaces` (`&[]` for none); the usual pair for tests that go through sealgate.
pub async fn registry_behind_sealgate(namespaces: &[&str]) -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), namespaces)
        .start()
        .await;
    (registry, sealgate)
}

/// One `[[upstream]]` entry.
#[derive(Debug, Clone)]
struct UpstreamEntry {
    name: String,
    url: String,
    namespaces: Vec<String>,
    /// `[upstream.auth]`: user name and where the password is.
    auth: Option<(String, PasswordSource)>,
    /// `ca`: a PEM bundle trusted for this upstream's TLS.
    ca: Option<PathBuf>,
}

/// Where sealgate reads an upstream password from (`[upstream.auth]`).
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// `password_file`.
    File(PathBuf),
    /// `password_env`: the variable's name; set it with [`SealgateBuilder::env`].
    Env(String),
}

/// Configures and starts a [`Sealgate`]. Unset keys are left out of the file, so sealgate's own
/// defaults apply.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SealgateBuilder {
    upstreams: Vec<UpstreamEntry>,
    tls: Option<(PathBuf, PathBuf)>,
    max_manifest_bytes: Option<u64>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    shutdown_grace: Option<Duration>,
    log_level: Option<String>,
    /// `log.format`; `text` when unset.
    log_format: Option<String>,
    /// `[trust]` / `[policy]` tables, verbatim; `None` means the pass-through default below.
    trust_policy: Option<String>,
    /// Environment variables set for the sealgate process.
    env: Vec<(String, String)>,
    /// `[admin]` with this bearer token (written to a file) on a free loopback port.
    admin_token: Option<String>,
    /// `tls.reload_interval`.
    tls_reload_interval: Option<Duration>,
    /// `tls.client_ca` and `tls.client_auth`.
    tls_client_auth: Option<(PathBuf, String)>,
    /// The client certificate and key the readiness probe presents (`client_auth = "required"`).
    probe_client_cert: Option<(PathBuf, PathBuf)>,
    /// `[auth]` (and `[[auth.rule]]`) tables, verbatim.
    auth: Option<String>,
    /// `storage.backend = "postgres"` on this URL (no password in it); sled in the temp dir
    /// when unset.
    postgres_url: Option<String>,
}

/// Variable sealgate reads the database password from (`storage.password_file` unset).
const STORAGE_PASSWORD_ENV: &str = "SEALGATE_STORAGE_PASSWORD";

/// The policy of tests that exercise the pass-through: nothing is signed, so the default scope
/// audits instead of enforcing (tags stay immutable).
const PASS_THROUGH_POLICY: &str = "\n[policy.default]\nmode = \"audit\"\n";

impl SealgateBuilder {
    /// Replaces the pass-through policy with these `[trust]` / `[policy]` tables (TOML).
    pub fn trust_policy(mut self, toml: &str) -> Self {
        self.trust_policy = Some(toml.to_owned());
        self
    }

    /// Adds an `[[upstream]]`; the first one added receives requests without `?ns=`.
    pub fn upstream(mut self, name: &str, url: &str, namespaces: &[&str]) -> Self {
        self.upstreams.push(UpstreamEntry {
            name: name.to_owned(),
            url: url.to_owned(),
            namespaces: namespaces.iter().map(|&ns| ns.to_owned()).collect(),
            auth: None,
            ca: None,
        });
        self
    }

    /// Makes the upstream added last trust the CAs in this PEM bundle (`ca`).
    pub fn upstream_ca(mut self, bundle: &Path) -> Self {
        let last = self
            .upstreams
            .last_mut()
            .expect("add an upstream before its CA bundle");
        last.ca = Some(bundle.to_owned());
        self
    }

    /// `tls.reload_interval`: how often sealgate compares its certificate files.
    pub fn tls_reload_interval(mut self, interval: Duration) -> Self {
        self.tls_reload_interval = Some(interval);
        self
    }

    /// `tls.client_ca` (a PEM bundle) and `tls.client_auth` (`"optional"` or `"required"`).
    pub fn tls_client_auth(mut self, client_ca: &Path, mode: &str) -> Self {
        self.tls_client_auth = Some((client_ca.to_owned(), mode.to_owned()));
        self
    }

    /// The client certificate the readiness probe presents, for `client_auth = "required"`.
    pub fn probe_client_cert(mut self, cert: &Path, key: &Path) -> Self {
        self.probe_client_cert = Some((cert.to_owned(), key.to_owned()));
        self
    }

    /// The `[auth]` section (with its `[[auth.rule]]` tables), verbatim TOML.
    pub fn auth(mut self, toml: &str) -> Self {
        self.auth = Some(toml.to_owned());
        self
    }

    /// Gives the upstream added last sealgate's own credentials (`[upstream.auth]`).
    pub fn upstream_auth(mut self, username: &str, password: PasswordSource) -> Self {
        let last = self
            .upstreams
            .last_mut()
            .expect("add an upstream before its credentials");
        last.auth = Some((username.to_owned(), password));
        self
    }

    /// Turns the admin API on, on a free loopback port, with this bearer token (written to a
    /// file `admin.token_file` names).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.to_owned());
        self
    }

    /// Sets an environment variable for the sealgate process (the one `password_env` names).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Serves HTTPS with this PEM certificate chain and key.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_owned(), key.to_owned()));
        self
    }

    /// Stores in PostgreSQL instead of sled: `storage.backend = "postgres"`, `url` (without a
    /// password), `sslmode = "disable"`, the password in `SEALGATE_STORAGE_PASSWORD`. sealgate
    /// is started with `serve --migrate`, so replicas started together race on the schema.
    pub fn postgres(mut self, url: &str, password: &str) -> Self {
        self.postgres_url = Some(url.to_owned());
        self.env(STORAGE_PASSWORD_ENV, password)
    }

    /// `limits.max_manifest_bytes`.
    pub fn max_manifest_bytes(mut self, bytes: u64) -> Self {
        self.max_manifest_bytes = Some(bytes);
        self
    }

    /// `timeouts.connect`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// `timeouts.response`: how long the upstream may take to send headers.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// `timeouts.idle`.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// `timeouts.shutdown_grace`.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// `log.level` (a tracing filter); `$IT_SEALGATE_LOG` overrides it.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self
    }

    /// `log.format` (`json`: one JSON object per log line, as `serve --log-format json`).
    pub fn log_format(mut self, format: &str) -> Self {
        self.log_format = Some(format.to_owned());
        self
    }

    fn render_config(&self, listen: SocketAddr, storage: &Path) -> String {
        let mut toml = format!("listen = {}\n\n[storage]\n", quote(&listen.to_string()));
        match &self.postgres_url {
            Some(url) => toml.push_str(&format!(
                "backend = \"postgres\"\nurl = {}\nsslmode = \"disable\"\n",
                quote(url)
            )),
            None => toml.push_str(&format!(
                "path = {}\n",
                quote(&storage.display().to_string())
            )),
        }
        if let Some(max) = self.max_manifest_bytes {
            toml.push_str(&format!("\n[limits]\nmax_manifest_bytes = {max}\n"));
        }
        let timeouts = [
            ("connect", self.connect_timeout),
            ("response", self.response_timeout),
            ("idle", self.idle_timeout),
            ("shutdown_grace", self.shutdown_grace),
        ];
        if timeouts.iter().any(|(_, t)| t.is_some()) {
            toml.push_str("\n[timeouts]\n");
            for (key, timeout) in timeouts {
                if let Some(t) = timeout {
                    toml.push_str(&format!("{key} = \"{}ms\"\n", t.as_millis()));
                }
            }
        }
        let level = std::env::var(LOG_ENV)
            .ok()
            .or_else(|| self.log_level.clone())
            .unwrap_or_else(|| "info".to_owned());
        toml.push_str(&format!(
            "\n[log]\nlevel = {}\nformat = {}\n",
            quote(&level),
            quote(self.log_format.as_deref().unwrap_or("text"))
        ));
        if let Some((cert, key)) = &self.tls {
            toml.push_str(&format!(
                "\n[tls]\ncert = {}\nkey = {}\n",
                quote(&cert.display().to_string()),
                quote(&key.display().to_string())
            ));
            if let Some(interval) = self.tls_reload_interval {
                toml.push_str(&format!(
                    "reload_interval = \"{}ms\"\n",
                    interval.as_millis()
                ));
            }
            if let Some((ca, mode)) = &self.tls_client_auth {
                toml.push_str(&format!(
                    "client_ca = {}\nclient_auth = {}\n",
                    quote(&ca.display().to_string()),
                    quote(mode)
                ));
            }
        }
        toml.push_str(self.trust_policy.as_deref().unwrap_or(PASS_THROUGH_POLICY));
        toml.push('\n');
        if let Some(auth) = &self.auth {
            toml.push('\n');
            toml.push_str(auth);
            toml.push('\n');
        }
        for up in &self.upstreams {
            let namespaces: Vec<String> = up.namespaces.iter().map(|ns| quote(ns)).collect();
            toml.push_str(&format!(
                "\n[[upstream]]\nname = {}\nurl = {}\nnamespaces = [{}]\n",
                quote(&up.name),
                quote(&up.url),
                namespaces.join(", ")
            ));
            if let Some(ca) = &up.ca {
                toml.push_str(&format!("ca = {}\n", quote(&ca.display().to_string())));
            }
            if let Some((username, password)) = &up.auth {
                let (key, value) = match password {
                    PasswordSource::File(path) => ("password_file", path.display().to_string()),
                    PasswordSource::Env(var) => ("password_env", var.clone()),
                };
                toml.push_str(&format!(
                    "[upstream.auth]\nusername = {}\n{key} = {}\n",
                    quote(username),
                    quote(&value)
                ));
            }
        }
        toml
    }

    /// Writes the config into a fresh temp dir, spawns sealgate and waits until `/healthz`
    /// answers 200. Panics with sealgate's output if it exits or never becomes healthy.
    ///
    /// A port found free can be taken by another test process before sealgate binds it; a start
    /// that fails with "Address already in use" is tried again on fresh ports (twice at most).
    pub async fn start(self) -> Sealgate {
        assert!(
            !self.upstreams.is_empty(),
            "configure at least one upstream with SealgateBuilder::upstream"
        );
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut sealgate = self.spawn();
            match sealgate.wait_healthy().await {
                Ok(()) => return sealgate,
                Err(Unhealthy::PortTaken) if attempts < 3 => continue,
                Err(unhealthy) => panic!("{}", sealgate.explain(&unhealthy)),
            }
        }
    }

    /// Writes the config into a fresh temp dir with fresh ports and spawns sealgate.
    fn spawn(&self) -> Sealgate {
        let dir = tempfile::Builder::new()
            .prefix("it-sealgate-")
            .tempdir()
            .expect("create a temp dir for sealgate");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, crate::free_port()));
        let mut config = self.render_config(addr, &dir.path().join("store"));
        let admin = self.admin_token.as_ref().map(|token| {
            let token_file = dir.path().join("admin.token");
            std::fs::write(&token_file, format!("{token}\n")).expect("write the admin token");
            let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, crate::free_port()));
            config.push_str(&format!(
                "\n[admin]\nlisten = {}\ntoken_file = {}\n",
                quote(&admin.to_string()),
                quote(&token_file.display().to_string())
            ));
            admin
        });
        let config_path = dir.path().join("sealgate.toml");
        std::fs::write(&config_path, &config).expect("write sealgate config");
        let migrate = self.postgres_url.is_some();
        let process = spawn_serve(
            &config_path,
            &self.env,
            migrate,
            &dir.path().join("sealgate.log"),
        );
        Sealgate {
            process,
            addr,
            tls_cert: self.tls.as_ref().map(|(cert, _)| cert.clone()),
            probe_client_cert: self.probe_client_cert.clone(),
            config,
            dir,
            admin,
            env: self.env.clone(),
            migrate,
            restarts: 0,
        }
    }
}

/// Why sealgate did not become healthy.
#[derive(Debug)]
enum Unhealthy {
    /// It exited because a port it was given had been taken in the meantime.
    PortTaken,
    /// It exited with this status.
    Exited(std::process::ExitStatus),
    /// It did not answer `/healthz` with 200 in time.
    Timeout(String),
}

/// Spawns `sealgate serve --config <config>` (with `--migrate` if asked) with a clean
/// environment plus `env`.
fn spawn_serve(config: &Path, env: &[(String, String)], migrate: bool, log: &Path) -> ChildProcess {
    let mut command = Command::new(sealgate_binary());
    command.arg("serve").arg("--config").arg(config);
    if migrate {
        command.arg("--migrate");
    }
    // sealgate refuses unknown SEALGATE_* keys and lets RUST_LOG override the configured
    // level: neither may leak in from the developer's shell.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SEALGATE_") {
            command.env_remove(&key);
        }
    }
    command.env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    ChildProcess::spawn("sealgate", command, log)
}

/// A TOML basic string. JSON string escapes are valid TOML basic-string escapes.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A running sealgate. Dropping it sends SIGTERM, then SIGKILL after a few seconds, and reaps it.
#[derive(Debug)]
pub struct Sealgate {
    /// The process; declared first so it is stopped before `dir` (its store) is removed.
    process: ChildProcess,
    /// Where it listens.
    addr: SocketAddr,
    /// The certificate it serves when TLS is on; the readiness probe trusts exactly it.
    tls_cert: Option<PathBuf>,
    /// The client certificate and key the readiness probe presents, if any.
    probe_client_cert: Option<(PathBuf, PathBuf)>,
    /// The config file's text, for failure messages.
    config: String,
    /// Config, store and log.
    dir: TempDir,
    /// The admin listener, when the builder turned it on.
    admin: Option<SocketAddr>,
    /// Environment of the process, for restarts and the commands run on its config.
    env: Vec<(String, String)>,
    /// Whether it is started with `serve --migrate` (PostgreSQL).
    migrate: bool,
    /// How often it was restarted (each run logs to its own file).
    restarts: u32,
}

impl Sealgate {
    /// A builder with no upstream yet.
    pub fn builder() -> SealgateBuilder {
        SealgateBuilder::default()
    }

    async fn wait_healthy(&mut self) -> Result<(), Unhealthy> {
        let url = format!("{}/healthz", self.base_url());
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        loop {
            if let Some(status) = self.process.try_exit_status() {
                return Err(if self.process.log().contains("Address already in use") {
                    Unhealthy::PortTaken
                } else {
                    Unhealthy::Exited(status)
                });
            }
            if self.probe_healthz(&url).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Unhealthy::Timeout(url));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A failure message with the config and the output.
    fn explain(&self, unhealthy: &Unhealthy) -> String {
        let what = match unhealthy {
            Unhealthy::PortTaken => {
                "sealgate could not bind its ports (taken on every attempt)".to_owned()
            }
            Unhealthy::Exited(status) => {
                format!("sealgate exited with {status} before becoming healthy")
            }
            Unhealthy::Timeout(url) => {
                format!("sealgate did not answer GET {url} with 200 within {HEALTHY_TIMEOUT:?}")
            }
        };
        format!(
            "{what}\n--- config\n{}\n--- output\n{}",
            self.config,
            self.process.log()
        )
    }

    async fn probe_healthz(&self, url: &str) -> bool {
        match &self.tls_cert {
            None => crate::try_send(Method::GET, url, &[], "")
                .await
                .is_ok_and(|reply| reply.status == StatusCode::OK),
            // The helper client speaks plain HTTP only; curl checks the real certificate.
            Some(cert) => {
                let mut curl = tokio::process::Command::new("curl");
                curl.args(["-sf", "-o", "/dev/null", "--max-time", "2", "--cacert"])
                    .arg(cert);
                if let Some((client_cert, client_key)) = &self.probe_client_cert {
                    curl.arg("--cert")
                        .arg(client_cert)
                        .arg("--key")
                        .arg(client_key);
                }
                curl.arg(url).status().await.is_ok_and(|s| s.success())
            }
        }
    }

    /// `http://127.0.0.1:<port>` (or `https://` with TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, for `docker://` references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Current resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS")
    }

    /// Peak resident set size in KiB since start (`VmHWM`, the high-water mark).
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM")
    }

    fn proc_status_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }

    /// Everything sealgate wrote to stdout and stderr so far; print it when a test fails.
    pub fn stderr_log(&self) -> String {
        self.process.log()
    }

    /// The config file sealgate was started with.
    pub fn config_text(&self) -> &str {
        &self.config
    }

    /// Replaces the config file with `config` and sends SIGHUP, then waits (up to 10 s) for
    /// sealgate to log the outcome. Returns the log line: `reloaded: …` or `reload refused …`.
    pub async fn reload(&mut self, config: &str) -> String {
        let before = self.stderr_log().len();
        std::fs::write(self.dir.path().join("sealgate.toml"), config)
            .expect("write sealgate config");
        self.config = config.to_owned();
        self.process.signal(Signal::HUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr_log();
            if let Some(line) = log
                .get(before..)
                .unwrap_or("")
                .lines()
                .find(|l| l.contains("reloaded: ") || l.contains("reload refused"))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "sealgate logged no reload outcome within 10 s:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `timeout` for a log line containing `needle`; returns it, or panics with the
    /// log. For decisions sealgate makes in the background (drift checks, quarantine expiry).
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.stderr_log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin API's base URL (`http://127.0.0.1:<port>`), when it is on.
    pub fn admin_url(&self) -> String {
        format!(
            "http://{}",
            self.admin
                .expect("start sealgate with SealgateBuilder::admin_token")
        )
    }

    /// The config file sealgate runs with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sealgate.toml")
    }

    /// Runs `sealgate admin --config <its config> <args>` and returns its output.
    pub async fn admin_cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(sealgate_binary())
            .arg("admin")
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_remove("SEALGATE_ADMIN_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("run sealgate admin")
    }

    /// Runs `sealgate verify-store --config <its config>` (with its environment: the database
    /// password) and returns its output. A sled store must be stopped first; PostgreSQL need not.
    pub async fn verify_store(&self) -> std::process::Output {
        tokio::process::Command::new(sealgate_binary())
            .arg("verify-store")
            .arg("--config")
            .arg(self.config_path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("run sealgate verify-store")
    }

    /// Stops sealgate (SIGTERM, waiting for it to exit) and starts it again on the same config
    /// and store; waits until it is healthy.
    pub async fn restart(&mut self) {
        self.terminate();
        assert!(
            self.wait_exit(Duration::from_secs(20)).await.is_some(),
            "sealgate did not stop for a restart"
        );
        self.restarts += 1;
        let log = self
            .dir
            .path()
            .join(format!("sealgate-{}.log", self.restarts));
        self.process = spawn_serve(&self.config_path(), &self.env, self.migrate, &log);
        if let Err(unhealthy) = self.wait_healthy().await {
            panic!("after a restart: {}", self.explain(&unhealthy));
        }
    }

    /// The directory holding config, store and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL (no shutdown at all: a crashed replica) and reaps it.
    pub fn kill(&mut self) {
        if self.process.try_exit_status().is_none() {
            self.process.kill();
        }
    }

    /// Sends SIGTERM (graceful shutdown) without waiting.
    pub fn terminate(&self) {
        self.process.signal(Signal::TERM);
    }

    /// Waits (asynchronously) up to `timeout` for the process to exit; `None` if it still runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.try_exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.try_exit_status().is_none()
    }
}

impl Drop for Sealgate {
    fn drop(&mut self) {
        if self.process.try_exit_status().is_none() {
            self.process.terminate(DROP_GRACE);
        }
    }
}
