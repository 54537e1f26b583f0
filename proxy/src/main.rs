//! The `sealgate` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sealgate::config::{Config, EnvSource, LogFormat, RawConfig, StorageConfig, build_storage};

/// Exit status for a configuration that does not validate (EX_USAGE).
const EXIT_BAD_CONFIG: u8 = 64;

/// A registry-side reverse proxy that enforces signed pushes and pulls.
///
/// sealgate sits in front of an OCI registry. Configuration comes from a TOML file; any key can
/// be overridden by an environment variable SEALGATE_<KEY>, with `__` between nested keys
/// (SEALGATE_LISTEN, SEALGATE_STORAGE__PATH). See docs/configuration.md for every key.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy until SIGTERM or Ctrl-C, then drain in-flight requests. SIGHUP re-reads
    /// [trust], [policy], [auth] and the [tls] certificate files and applies them at once, or
    /// changes nothing and logs why.
    Serve {
        /// The configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Log line format; overrides `log.format`. RUST_LOG overrides `log.level`.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// With storage.backend = "postgres": apply the schema migrations the database lacks
        /// before serving (as `sealgate migrate` does). Without it, a database that is not
        /// migrated is refused.
        #[arg(long)]
        migrate: bool,
    },
    /// Verify signatures offline, with no registry: prints the verdict and every reason.
    Verify(Box<sealgate::verify::VerifyArgs>),
    /// Check the store: every record decodes and the audit log's hash chain is intact. A sled
    /// store must be stopped; a PostgreSQL one may be serving. Exits 0 when it is, 1 (naming
    /// the first broken record) otherwise.
    VerifyStore {
        /// The configuration file (TOML) whose `[storage]` to check.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Apply the PostgreSQL schema migrations the database lacks (storage.backend = "postgres"),
    /// in one transaction; safe to run from several replicas at once. Run it with the new binary
    /// before rolling replicas to it. Exits 0 when the schema is up to date.
    Migrate {
        /// The configuration file (TOML) whose `[storage]` to migrate.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Move a store between backends (sled to PostgreSQL and back): every pin and its history,
    /// signature record, revocation, quarantined tag and the audit chain, which still verifies.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Talk to a running sealgate's admin API: status, pins, audit, revoke, reload, retire-pin.
    Admin(Box<sealgate::admin::client::AdminArgs>),
    /// Validate the configuration and print the effective values (file + environment).
    /// Exits 0 when valid, 64 with a message naming the bad key otherwise.
    CheckConfig {
        /// The configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Write every entry of the configured store to a file (JSON lines). Stop sealgate first
    /// (sled locks its directory; on PostgreSQL, a store written meanwhile may not verify).
    Export {
        /// The configuration file (TOML) whose `[storage]` to read.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The export file to write (replaced if it exists).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Read an export into the configured store, which must be empty (a new sled directory, or
    /// a database just migrated). Every record and the audit chain are checked first; nothing
    /// is kept if they do not verify.
    Import {
        /// The configuration file (TOML) whose `[storage]` to write.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The export file to read.
        #[arg(short, long, value_name = "FILE")]
        input: PathBuf,
    },
}

/// `[storage]` of the configuration file, for the commands that work on the store alone. A
/// relative sled path is read relative to the configuration file here (as `verify-store`
/// always has), so these commands find the store wherever they are run from.
fn storage_of(config: &std::path::Path) -> Result<StorageConfig, ExitCode> {
    let base = config.parent().unwrap_or(std::path::Path::new("."));
    match RawConfig::load(config, &EnvSource::Process)
        .and_then(|raw| build_storage(&raw.storage, base, &EnvSource::Process))
    {
        Ok(StorageConfig::Sled { path }) => Ok(StorageConfig::Sled {
            path: base.join(path),
        }),
        Ok(storage) => Ok(storage),
        Err(e) => Err(bad_config(config, &e)),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Verify(args) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            ExitCode::from(sealgate::verify::run(
                &args,
                sealgate_policies::time::UnixTime(now),
            ))
        }
        Command::Admin(args) => sealgate::admin::client::run(&args),
        Command::VerifyStore { config } => match storage_of(&config) {
            Ok(storage) => run_store_command("verify-store", sealgate::verify_store(&storage)),
            Err(code) => code,
        },
        Command::Migrate { config } => match storage_of(&config) {
            Ok(storage) => run_store_command("migrate", sealgate::store_open::migrate(&storage)),
            Err(code) => code,
        },
        Command::Store(StoreCommand::Export { config, output }) => match storage_of(&config) {
            Ok(storage) => run_store_command(
                "store export",
                sealgate::store_open::export(&storage, &output),
            ),
            Err(code) => code,
        },
        Command::Store(StoreCommand::Import { config, input }) => match storage_of(&config) {
            Ok(storage) => run_store_command(
                "store import",
                sealgate::store_open::import(&storage, &input),
            ),
            Err(code) => code,
        },
        Command::CheckConfig { config } => {
            let base = config.parent().unwrap_or(std::path::Path::new("."));
            match RawConfig::load(&config, &EnvSource::Process).and_then(|raw| {
                let built = Config::build(&raw, base)?;
                Ok((raw, built))
            }) {
                Ok((raw, built)) => {
                    // Usable, but worth saying (a CRL of a CA only signatures carry).
                    for warning in built.policy.warnings() {
                        eprintln!("sealgate: warning: {warning}");
                    }
                    print!("{}", raw.to_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => bad_config(&config, &e),
            }
        }
        Command::Serve {
            config,
            log_format,
            migrate,
        } => {
            let loaded = match Config::load(&config, &EnvSource::Process) {
                Ok(c) => c,
                Err(e) => return bad_config(&config, &e),
            };
            init_tracing(log_format.unwrap_or(loaded.log.format), &loaded.log.level);
            for warning in loaded.policy.warnings() {
                tracing::warn!("{warning}");
            }
            match serve(loaded, config, migrate) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("sealgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs a command on the store on a one-thread runtime and prints its summary.
fn run_store_command<E: std::fmt::Display>(
    name: &str,
    command: impl std::future::Future<Output = Result<String, E>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sealgate {name}: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sealgate {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bad_config(file: &std::path::Path, e: &sealgate::config::ConfigError) -> ExitCode {
    eprintln!("sealgate: invalid configuration ({}): {e}", file.display());
    ExitCode::from(EXIT_BAD_CONFIG)
}

fn init_tracing(format: LogFormat, level: &str) {
    // An empty RUST_LOG counts as unset: it would otherwise silence everything below ERROR.
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| level.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[tokio::main]
async fn serve(config: Config, file: PathBuf, migrate: bool) -> anyhow::Result<()> {
    let listen = config.listen;
    let grace = config.timeouts.shutdown_grace;
    let tls = config.tls.clone();
    let state = sealgate::open(config, migrate)
        .await
        .context("cannot start")?;
    // Quarantined tags are dropped (and audited) soon after their TTL: the sweep runs every
    // half of the shortest TTL, between once a second and twice a minute.
    let shortest_ttl = state
        .config
        .policy
        .scopes()
        .map(|s| s.quarantine_ttl)
        .min()
        .unwrap_or(std::time::Duration::from_secs(60));
    let sweep = (shortest_ttl / 2).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(30),
    );
    tokio::spawn(sealgate::expiry::expire_pending_loop(state.clone(), sweep));
    tokio::spawn(sealgate::reload::on_sighup(state.clone(), file));
    // Changes made on other replicas sharing the store, and this replica's registration.
    tokio::spawn(sealgate::fleet::watch(state.clone()));
    let replica = sealgate::fleet::replica_id(&state);
    tracing::info!(%replica, "fleet: registering");
    tokio::spawn(sealgate::fleet::heartbeat(state.clone(), replica));
    match state.config.admin.clone() {
        Some(admin) => {
            let (admin_listener, admin_addr) = sealgate::admin::bind(&admin)
                .await
                .with_context(|| format!("cannot listen on {} (admin.listen)", admin.listen))?;
            tracing::info!(listen = %admin_addr, tls = admin.tls.is_some(), mtls = admin.mtls, "admin API serving");
            tokio::spawn(sealgate::admin::serve(
                admin_listener,
                state.clone(),
                admin,
                sealgate::server::shutdown_signal(),
            ));
        }
        None => tracing::info!(
            "admin API off: set admin.token_file (or admin.client_ca with admin.cert/key) to enable it"
        ),
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(
        %listen,
        tls = tls.is_some(),
        upstreams = ?state.upstreams.all().iter().map(|u| &u.config.name).collect::<Vec<_>>(),
        version = env!("CARGO_PKG_VERSION"),
        "sealgate serving"
    );
    sealgate::server::serve(
        listener,
        state,
        tls,
        grace,
        sealgate::server::shutdown_signal(),
    )
    .await;
    Ok(())
}
