//! A real PostgreSQL server for tests (feature `test-util`): Debian's binaries, a fresh cluster in
//! a temporary directory, listening on a free 127.0.0.1 port, as an unprivileged user.
//!
//! PostgreSQL refuses to run as root and CI runs as root, so the harness runs `initdb` and
//! `postgres` as the `postgres` system user (`setpriv`, which execs: the child is `postgres`
//! itself, so signals reach it) and hands the directory to that user. Each test asks for a
//! database of its own ([`PgServer::create_database`]); the server can be stopped and started
//! again on the same port and data (a database restart under load), and is stopped and its
//! directory removed on drop.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::StorageError;
use crate::pg_store::{PgOptions, PgStore, SslMode};

/// How long a start may take before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stop may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped) PostgreSQL cluster owned by the test.
#[derive(Debug)]
pub struct PgServer {
    /// Data (`data/`), socket and log; removed on drop.
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as, when the harness runs as root.
    run_as: Option<RunAs>,
    /// Server settings (`-c name=value`).
    settings: Vec<String>,
    /// The running `postgres`; `None` while stopped.
    child: Mutex<Option<Child>>,
    /// Names the next database of [`PgServer::create_database`].
    next_database: AtomicU32,
}

#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl PgServer {
    /// Creates a cluster with `initdb` (trust authentication, user `postgres`) and starts it.
    /// Blocking: call it before the runtime is busy, or from `spawn_blocking`.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(None, false)
    }

    /// [`PgServer::start`] with `fsync` on, as a deployment runs it: for measuring durable
    /// writes (the benches), where [`PgServer::start`]'s `fsync=off` would flatter them.
    pub fn start_durable() -> std::io::Result<Self> {
        Self::start_with(None, true)
    }

    /// [`PgServer::start`], with TLS offered (and plain connections still accepted) under
    /// this certificate chain and key, both PEM.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> std::io::Result<Self> {
        Self::start_with(Some((cert_pem, key_pem)), false)
    }

    fn start_with(tls: Option<(&str, &str)>, durable: bool) -> std::io::Result<Self> {
        let bin = find_bin()?;
        let run_as = if rustix::process::geteuid().is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new().prefix("sealgate-pg-").tempdir()?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid))?;
        }
        let data = dir.path().join("data");
        let output = command(&bin.join("initdb"), run_as)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .arg("--no-instructions")
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let mut settings = vec![
            // Tests do not survive a power loss; they do survive a restart (a clean shutdown
            // writes everything), which is what they exercise.
            format!("fsync={}", if durable { "on" } else { "off" }),
            "max_connections=200".to_owned(),
        ];
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_path, cert)?;
            std::fs::write(&key_path, key)?;
            // The server refuses a key others can read.
            std::fs::set_permissions(
                &key_path,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )?;
            if let Some(user) = run_as {
                for path in [&cert_path, &key_path] {
                    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
                }
            }
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", cert_path.display()));
            settings.push(format!("ssl_key_file={}", key_path.display()));
        }
        let server = Self {
            dir,
            bin,
            port: free_port()?,
            run_as,
            settings,
            child: Mutex::new(None),
            next_database: AtomicU32::new(1),
        };
        server.start_again()?;
        Ok(server)
    }

    /// The port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of `database` on this server, as user `postgres` (no password: trust).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Options for a store on `database`: a small pool, short timeouts, no TLS.
    pub fn options(&self, database: &str) -> PgOptions {
        PgOptions {
            url: self.url(database),
            password: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            sslmode: SslMode::Disable,
            ca_file: None,
        }
    }

    /// Creates a new, empty database and returns its name.
    pub async fn create_database(&self) -> std::io::Result<String> {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("sealgate_test_{n}");
        let url = format!("{}?connect_timeout=10", self.url("postgres"));
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(std::io::Error::other)?;
        let task = tokio::spawn(connection);
        let result = client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(std::io::Error::other);
        drop(client);
        let _ = task.await;
        result.map(|()| name)
    }

    /// A new database, migrated ([`PgStore::migrate`]): the options of a store on it.
    pub async fn migrated_database(&self) -> Result<PgOptions, StorageError> {
        let database = self
            .create_database()
            .await
            .map_err(|e| StorageError::InvalidOptions(format!("creating a database: {e}")))?;
        let options = self.options(&database);
        PgStore::migrate(&options).await?;
        Ok(options)
    }

    /// Starts the server again after [`PgServer::stop`] (same port, same data) and waits until
    /// it accepts connections. Does nothing if it runs.
    pub fn start_again(&self) -> std::io::Result<()> {
        let mut child = self.lock();
        if child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.log_path())?;
        let mut spawned = command(&self.bin.join("postgres"), self.run_as)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-k")
            .arg(self.dir.path())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(self.settings.iter().flat_map(|setting| ["-c", setting]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = spawned.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "postgres exited ({status}): {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                )));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()?;
            if ready.success() {
                break;
            }
            if Instant::now() > deadline {
                let _ = spawned.kill();
                let _ = spawned.wait();
                return Err(std::io::Error::other("postgres did not start in time"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        *child = Some(spawned);
        Ok(())
    }

    /// Stops the server (a fast shutdown: open connections are closed) and waits for it to
    /// exit. Does nothing if it is stopped.
    pub fn stop(&self) {
        let mut child = self.lock();
        if let Some(mut running) = child.take() {
            stop(&mut running);
        }
    }

    /// The server's log (the current run's).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        // The temporary directory removes itself after this.
    }
}

/// SIGINT (fast shutdown), then SIGKILL if it does not exit in time.
fn stop(child: &mut Child) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `program`, run as `user` if given.
fn command(program: &Path, user: Option<RunAs>) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .args(["--clear-groups", "--"])
                .arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The newest of Debian's `/usr/lib/postgresql/<major>/bin`.
fn find_bin() -> std::io::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no PostgreSQL server in /usr/lib/postgresql/*/bin: install Debian's `postgresql`",
        )
    })
}

/// The `postgres` system user's uid and gid.
fn postgres_user() -> std::io::Result<RunAs> {
    let id = |flag: &str| -> std::io::Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                std::io::Error::other("no `postgres` user to run the server as (root cannot)")
            })
    };
    Ok(RunAs {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

/// A TCP port on `127.0.0.1` that nothing listened on a moment ago and that this process has not
/// handed out before.
///
/// The port is released before it is returned. The kernel may offer the same ephemeral port to
/// two binds in a row, so ports already handed out are remembered and skipped: two servers of one
/// test never get the same port. Another process can still take it in between; the harnesses
/// retry a start that fails with "address in use".
pub fn free_port() -> std::io::Result<u16> {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
}
