//! PostgreSQL-only behaviour, on a real server: schema and migrations, the replaying
//! transaction, several handles ("replicas") on one database, a database restart. The engine's
//! own tests run over PostgreSQL too (`engine::tests::pg_backend`).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::engine::{Backend, Tx, TxError};
use crate::layout::trees::Tree;
use crate::testing::PgServer;

/// A server and a fresh, migrated database on it.
async fn migrated() -> (PgServer, PgOptions) {
    let server = PgServer::start().expect("start PostgreSQL");
    let options = server
        .migrated_database()
        .await
        .expect("a migrated database");
    (server, options)
}

fn backend(options: &PgOptions) -> PgBackend {
    PgBackend::new(options).unwrap()
}

/// Adds 1 to a big-endian counter under `key` of the meta tree.
async fn increment(backend: &PgBackend, key: &[u8]) -> u64 {
    backend
        .transaction(&|tx: &dyn Tx| {
            let now = match tx.get(Tree::Meta, key)? {
                Some(raw) => {
                    u64::from_be_bytes(raw.try_into().map_err(|_| StorageError::Corrupt {
                        tree: "meta",
                        what: "not a counter".to_owned(),
                    })?)
                }
                None => 0,
            };
            tx.insert(Tree::Meta, key, (now + 1).to_be_bytes().to_vec())?;
            Ok(now + 1)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_is_idempotent_and_records_its_versions() {
    let server = PgServer::start().unwrap();
    let database = server.create_database().await.unwrap();
    let options = server.options(&database);
    let first = PgStore::migrate(&options).await.unwrap();
    assert_eq!(
        first,
        MigrationReport {
            from: 0,
            to: SCHEMA_LATEST,
            applied: (1..=SCHEMA_LATEST).collect(),
        }
    );
    let second = PgStore::migrate(&options).await.unwrap();
    assert_eq!(
        second,
        MigrationReport {
            from: SCHEMA_LATEST,
            to: SCHEMA_LATEST,
            applied: Vec::new(),
        }
    );
    PgStore::connect(options).await.unwrap();
}

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let server = PgServer::start().unwrap();
    let database = server.create_database().await.unwrap();
    let options = server.options(&database);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let options = options.clone();
            tokio::spawn(async move { PgStore::migrate(&options).await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.await.unwrap().unwrap().applied);
    }
    assert_eq!(applied, (1..=SCHEMA_LATEST).collect::<Vec<_>>());
}

#[tokio::test]
async fn connect_refuses_a_database_not_migrated_or_migrated_by_a_newer_binary() {
    let server = PgServer::start().unwrap();
    let database = server.create_database().await.unwrap();
    let options = server.options(&database);
    let error = PgStore::connect(options.clone()).await.unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::DatabaseNotMigrated {
                found: 0,
                required: SCHEMA_REQUIRED
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("sealgate migrate --config"),
        "{error}"
    );

    PgStore::migrate(&options).await.unwrap();
    let client = backend(&options).client().await.unwrap();
    client
        .execute(
            "INSERT INTO sealgate_schema_migrations (version, name) VALUES ($1, 'from the future')",
            &[&i32::try_from(SCHEMA_LATEST + 1).unwrap()],
        )
        .await
        .unwrap();
    let error = PgStore::connect(options.clone()).await.unwrap_err();
    assert!(
        matches!(error, StorageError::DatabaseSchemaTooNew { found, supported }
            if found == SCHEMA_LATEST + 1 && supported == SCHEMA_LATEST),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let error = PgStore::migrate(&options).await.unwrap_err();
    assert!(
        matches!(error, StorageError::DatabaseSchemaTooNew { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_transaction_replays_until_every_read_is_fetched_and_writes_once() {
    let (_server, options) = migrated().await;
    let backend = backend(&options);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let body = |tx: &dyn Tx| -> Result<Vec<Option<Vec<u8>>>, TxError> {
        runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tx.insert(Tree::Pins, b"a", b"1".to_vec())?;
        // Its own write, then three keys the database has not been asked for.
        let own = tx.get(Tree::Pins, b"a")?;
        let b = tx.get(Tree::Pins, b"b")?;
        let c = tx.get(Tree::Audit, b"c")?;
        tx.remove(Tree::Pins, b"a")?;
        tx.insert(Tree::Pending, b"d", b"4".to_vec())?;
        let gone = tx.get(Tree::Pins, b"a")?;
        Ok(vec![own, b, c, gone])
    };
    let read = backend.transaction(&body).await.unwrap();
    assert_eq!(read, vec![Some(b"1".to_vec()), None, None, None]);
    // A run that finds which keys it reads (both answered as absent), one statement fetching
    // them, and the run that completed.
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(backend.get(Tree::Pins, b"a").await.unwrap(), None);
    assert_eq!(
        backend.get(Tree::Pending, b"d").await.unwrap(),
        Some(b"4".to_vec())
    );
}

#[tokio::test]
async fn a_body_sees_each_fetched_value_and_reads_that_depend_on_one_take_another_run() {
    let (_server, options) = migrated().await;
    let backend = backend(&options);
    backend
        .transaction(&|tx: &dyn Tx| {
            tx.insert(Tree::Meta, b"next", b"second".to_vec())?;
            tx.insert(Tree::Pins, b"second", b"found".to_vec())
        })
        .await
        .unwrap();
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let body = |tx: &dyn Tx| -> Result<Option<Vec<u8>>, TxError> {
        runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Which key is read second depends on the value of the first.
        let next = tx.get(Tree::Meta, b"next")?.unwrap_or_default();
        let value = tx.get(Tree::Pins, &next)?;
        tx.insert(Tree::Pending, b"copy", value.clone().unwrap_or_default())?;
        Ok(value)
    };
    assert_eq!(
        backend.transaction(&body).await.unwrap(),
        Some(b"found".to_vec())
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(
        backend.get(Tree::Pending, b"copy").await.unwrap(),
        Some(b"found".to_vec())
    );

    // A thousand independent reads take one statement and two runs, not a thousand.
    runs.store(0, std::sync::atomic::Ordering::Relaxed);
    let many = |tx: &dyn Tx| -> Result<usize, TxError> {
        runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut present = 0;
        for n in 0..1000u64 {
            present += usize::from(tx.get(Tree::Pins, &n.to_be_bytes())?.is_some());
        }
        Ok(present)
    };
    assert_eq!(backend.transaction(&many).await.unwrap(), 0);
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_failed_body_writes_nothing() {
    let (_server, options) = migrated().await;
    let backend = backend(&options);
    let error = backend
        .transaction(&|tx: &dyn Tx| -> Result<(), TxError> {
            tx.insert(Tree::Pins, b"k", b"v".to_vec())?;
            tx.get(Tree::Pins, b"other")?;
            Err(TxError::Store(StorageError::ImportRefused("no".to_owned())))
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::ImportRefused(_)), "{error:?}");
    assert_eq!(backend.get(Tree::Pins, b"k").await.unwrap(), None);
}

#[tokio::test]
async fn a_body_reading_too_many_keys_fails_closed() {
    let (_server, options) = migrated().await;
    let backend = backend(&options);
    let error = backend
        .transaction(&|tx: &dyn Tx| -> Result<(), TxError> {
            for n in 0..=MAX_TX_READS as u64 {
                tx.get(Tree::Pins, &n.to_be_bytes())?;
            }
            tx.insert(Tree::Pins, b"k", b"v".to_vec())
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("more than"), "{error}");
    assert_eq!(backend.get(Tree::Pins, b"k").await.unwrap(), None);
}

#[tokio::test]
async fn scans_follow_prefix_start_and_limit_in_byte_order() {
    let (_server, options) = migrated().await;
    let backend = backend(&options);
    let keys: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"a\x00".to_vec(),
        b"ab".to_vec(),
        b"a\xff".to_vec(),
        b"a\xff\xff".to_vec(),
        b"b".to_vec(),
        vec![0xff],
        vec![0xff, 0x01],
    ];
    let writes = keys.clone();
    backend
        .transaction(&|tx: &dyn Tx| {
            for key in &writes {
                tx.insert(Tree::Referrers, key, key.clone())?;
            }
            // Another tree's key, which no scan of this tree shows.
            tx.insert(Tree::Pins, b"a", b"x".to_vec())
        })
        .await
        .unwrap();
    let scan = |prefix: &'static [u8], from: &'static [u8], limit| {
        let backend = backend.clone();
        async move {
            backend
                .scan(Tree::Referrers, prefix, from, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|(key, value)| {
                    assert_eq!(key, value);
                    key
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(scan(b"", b"", 100).await, keys);
    assert_eq!(scan(b"a", b"", 100).await, keys[..5].to_vec());
    assert_eq!(scan(b"a\xff", b"", 100).await, keys[3..5].to_vec());
    assert_eq!(scan(b"\xff", b"", 100).await, keys[6..].to_vec());
    assert_eq!(scan(b"a", b"a\x01", 2).await, keys[2..4].to_vec());
    assert_eq!(scan(b"", b"b", 1).await, keys[5..6].to_vec());
}

#[tokio::test]
async fn two_replicas_serialise_their_writers() {
    let (_server, options) = migrated().await;
    let replicas = [backend(&options), backend(&options)];
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let backend = replicas[n % 2].clone();
            tokio::spawn(async move { increment(&backend, b"counter").await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    // Every increment saw every earlier one: no lost update across the two pools.
    assert_eq!(seen, (1..=40).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_stopped_database_is_unavailable_and_the_same_handle_recovers() {
    let (server, options) = migrated().await;
    let backend = backend(&options);
    assert_eq!(increment(&backend, b"n").await, 1);
    let server = Arc::new(server);
    let stopping = Arc::clone(&server);
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();

    let error = backend.get(Tree::Meta, b"n").await.unwrap_err();
    assert!(
        matches!(error, StorageError::DatabaseUnavailable { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    let error = backend
        .transaction(&|tx: &dyn Tx| tx.insert(Tree::Meta, b"m", b"1".to_vec()))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");

    let starting = Arc::clone(&server);
    tokio::task::spawn_blocking(move || starting.start_again())
        .await
        .unwrap()
        .unwrap();
    // The pool's connections died with the server; new ones are opened on demand.
    assert_eq!(increment(&backend, b"n").await, 2);
    assert_eq!(backend.get(Tree::Meta, b"m").await.unwrap(), None);
    tokio::time::timeout(Duration::from_secs(5), backend.size_on_disk())
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn the_password_is_never_printed() {
    let options = PgOptions {
        url: "postgres://sealgate:hunter2@db:5432/sealgate?password=hunter3".to_owned(),
        password: Some("hunter4".to_owned()),
        pool_size: 4,
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(1),
        sslmode: SslMode::VerifyFull,
        ca_file: None,
    };
    let printed = format!("{options:?}");
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(
        printed.contains("sealgate:<redacted>@db:5432/sealgate"),
        "{printed}"
    );
    assert_eq!(
        redact_url("host=db user=u password=secret dbname=x"),
        "host=db user=u password=<redacted>"
    );
}

#[test]
fn sslmodes_parse_by_their_libpq_names() {
    for mode in [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyFull,
    ] {
        assert_eq!(mode.as_str().parse::<SslMode>().unwrap(), mode);
    }
    assert!(matches!(
        "verify-ca".parse::<SslMode>(),
        Err(StorageError::InvalidOptions(_))
    ));
}

#[test]
fn a_ca_file_without_verify_full_is_refused() {
    let options = PgOptions {
        url: "postgres://u@db/x".to_owned(),
        password: None,
        pool_size: 1,
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(1),
        sslmode: SslMode::Require,
        ca_file: Some("/etc/ssl/db-ca.pem".into()),
    };
    assert!(matches!(
        PgBackend::new(&options),
        Err(StorageError::InvalidOptions(_))
    ));
}

/// A CA, and a server certificate and key it issued for `san` (PEM).
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki(san: rcgen::SanType) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![san];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca: issuer.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn localhost() -> rcgen::SanType {
    rcgen::SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}

/// Whether the store's connections to the database are encrypted.
async fn encrypted(options: &PgOptions) -> Result<bool, StorageError> {
    let client = backend(options).client().await?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_encrypt_and_verify_full_checks_the_ca_and_the_name() {
    let issued = pki(localhost());
    let server = PgServer::start_with_tls(&issued.cert, &issued.key).unwrap();
    let database = server.create_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca = write("ca.pem", &issued.ca);
    let with = |sslmode, ca_file: Option<&std::path::Path>| PgOptions {
        sslmode,
        ca_file: ca_file.map(ToOwned::to_owned),
        ..server.options(&database)
    };

    assert!(
        encrypted(&with(SslMode::VerifyFull, Some(&ca)))
            .await
            .unwrap()
    );
    assert!(encrypted(&with(SslMode::Require, None)).await.unwrap());
    assert!(encrypted(&with(SslMode::Prefer, None)).await.unwrap());
    assert!(!encrypted(&with(SslMode::Disable, None)).await.unwrap());

    // Another CA's certificate, or the right CA's for another name, is refused.
    let stranger = write("stranger.pem", &pki(localhost()).ca);
    let error = encrypted(&with(SslMode::VerifyFull, Some(&stranger)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::DatabaseUnavailable { .. }),
        "{error:?}"
    );
    let misnamed = pki(rcgen::SanType::DnsName("db.example".try_into().unwrap()));
    let misnamed_server = PgServer::start_with_tls(&misnamed.cert, &misnamed.key).unwrap();
    let misnamed_ca = write("misnamed.pem", &misnamed.ca);
    let options = PgOptions {
        sslmode: SslMode::VerifyFull,
        ca_file: Some(misnamed_ca),
        ..misnamed_server.options("postgres")
    };
    assert!(encrypted(&options).await.is_err());
}

#[tokio::test]
async fn tls_required_from_a_server_without_it_is_refused() {
    let server = PgServer::start().unwrap();
    let options = PgOptions {
        sslmode: SslMode::Require,
        ..server.options("postgres")
    };
    let error = encrypted(&options).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let options = PgOptions {
        sslmode: SslMode::Prefer,
        ..server.options("postgres")
    };
    assert!(!encrypted(&options).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waiting_past_the_statement_timeout_is_unavailable_and_readers_never_wait() {
    let (_server, options) = migrated().await;
    let options = PgOptions {
        statement_timeout: Duration::from_millis(300),
        ..options
    };
    let store = backend(&options);
    store
        .transaction(&|tx: &dyn Tx| tx.insert(Tree::Pins, b"k", b"1".to_vec()))
        .await
        .unwrap();
    // Another replica's writer holds the lock (a slow transaction).
    let mut holder = backend(&options).client().await.unwrap();
    let held = holder.transaction().await.unwrap();
    held.query(
        "SELECT id FROM sealgate_writer WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await
    .unwrap();

    let error = store
        .transaction(&|tx: &dyn Tx| tx.insert(Tree::Pins, b"k", b"2".to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::DatabaseUnavailable {
                context: "waiting for the writer lock",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        store.get(Tree::Pins, b"k").await.unwrap(),
        Some(b"1".to_vec())
    );
    held.rollback().await.unwrap();
    store
        .transaction(&|tx: &dyn Tx| tx.insert(Tree::Pins, b"k", b"2".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        store.get(Tree::Pins, b"k").await.unwrap(),
        Some(b"2".to_vec())
    );
}
