//! The key-value backend over PostgreSQL: a pool, the statements, the replaying transaction.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::{
    Connect, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::Socket;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

use super::{PgOptions, SslMode, tls};
use crate::engine::{Backend, Entries, StrayUnread, Tx, TxBody, TxError};
use crate::layout::trees::Tree;
use crate::{BackendError, StorageError};

/// Keys one transaction body may read. The values fetched are held for the transaction, and
/// every run of the body repeats its reads, so a body reading more is refused (it fails
/// closed) rather than left to hold the writer lock of every replica for long.
pub const MAX_TX_READS: usize = 10_000;

/// Attempts of one transaction that failed before its COMMIT was sent (a serialization failure
/// or deadlock reported by the server, a pooled connection found broken): nothing was written,
/// so it is run again.
const MAX_ATTEMPTS: u32 = 5;

const LOCK_WRITER: &str = "SELECT id FROM sealgate_writer WHERE id = 1 FOR UPDATE";
const GET: &str = "SELECT value FROM sealgate_entries WHERE tree = $1 AND key = $2";
const GET_MANY: &str = "SELECT tree, key, value FROM sealgate_entries \
     WHERE (tree, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))";
const SCAN_BOUNDED: &str = "SELECT key, value FROM sealgate_entries \
     WHERE tree = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4";
const SCAN_OPEN: &str = "SELECT key, value FROM sealgate_entries \
     WHERE tree = $1 AND key >= $2 ORDER BY key LIMIT $3";
const UPSERT: &str = "INSERT INTO sealgate_entries (tree, key, value) \
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE: &str = "DELETE FROM sealgate_entries \
     WHERE (tree, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))";
const SIZE: &str = "SELECT pg_total_relation_size('sealgate_entries')::bigint";

/// The pool of one store handle (one replica). Clones share it.
#[derive(Clone)]
pub(crate) struct PgBackend {
    pool: Pool,
}

impl fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgBackend")
            .field("size", &status.size)
            .field("max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

/// A client error as the store's: `Display` shows the server's message too (tokio-postgres
/// keeps it in the source).
#[derive(Debug)]
struct PgError(String);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgError {}

impl PgError {
    fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        Self(text)
    }
}

/// What a failed statement means for the transaction that ran it.
enum Failure {
    /// Nothing was committed and running it again may succeed.
    Retry(StorageError),
    /// Give up with this error.
    Fail(StorageError),
}

/// The database could not do it now (see [`StorageError::DatabaseUnavailable`]).
pub(super) fn unavailable(
    context: &'static str,
    e: &(dyn std::error::Error + 'static),
) -> StorageError {
    StorageError::DatabaseUnavailable {
        context,
        source: BackendError::device(PgError::of(e)),
    }
}

/// A client error as the store's error: the server out of reach or overloaded is
/// [`StorageError::DatabaseUnavailable`], anything else (a bug, a missing table) is not
/// transient.
pub(super) fn store_error(context: &'static str, e: &tokio_postgres::Error) -> StorageError {
    if is_unavailable(e) {
        unavailable(context, e)
    } else {
        StorageError::Io(BackendError::other(PgError::of(e)))
    }
}

fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else {
        // No answer from a server: refused, broken, timed out, or a failed TLS handshake.
        return true;
    };
    let class = &code.code()[..2];
    // 08: connection exceptions; 53: insufficient resources (disk full, too many connections);
    // 57: operator intervention (statement timeout, shutdown, not accepting connections yet);
    // 25006: a read-only transaction (a standby after a failover); 55P03: lock not available.
    matches!(class, "08" | "53" | "57")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || is_conflict(e)
}

/// A transaction the server aborted so that it can be run again.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A pooled connection found dead (the server restarted since it was opened): nothing reached
/// the server, so the statement can be sent again on another connection.
fn is_broken_connection(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.code() == Some(&SqlState::ADMIN_SHUTDOWN)
}

fn pool_error(context: &'static str, e: PoolError) -> StorageError {
    match e {
        PoolError::Backend(e) => store_error(context, &e),
        other => unavailable(context, &other),
    }
}

/// A failed statement of a transaction not committed yet.
fn failure(context: &'static str, e: &tokio_postgres::Error) -> Failure {
    let error = store_error(context, e);
    if is_conflict(e) || is_broken_connection(e) {
        Failure::Retry(error)
    } else {
        Failure::Fail(error)
    }
}

/// The smallest key greater than every key starting with `prefix`; `None` when there is none
/// (an empty prefix, or one of only `0xff` bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Values by key, one map per tree in [`Tree::ALL`] order: fetched ones (`None`: absent), or a
/// run's writes (`None`: removed).
type Slots = Vec<HashMap<Vec<u8>, Option<Vec<u8>>>>;

fn slots() -> Slots {
    vec![HashMap::new(); Tree::ALL.len()]
}

/// One run of a transaction body: its writes, over the values fetched so far.
struct Replay<'a> {
    fetched: &'a Slots,
    writes: RefCell<Slots>,
    /// Keys read that were not fetched yet, each answered as absent: the run only finds out
    /// which keys the body reads, and is discarded.
    unread: RefCell<BTreeSet<(usize, Vec<u8>)>>,
    /// Keys the run may note before it is stopped: what [`MAX_TX_READS`] leaves.
    budget: usize,
}

impl Tx for Replay<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        if let Some(written) = self.writes.borrow()[tree.index()].get(key) {
            return Ok(written.clone());
        }
        if let Some(value) = self.fetched[tree.index()].get(key) {
            return Ok(value.clone());
        }
        let mut unread = self.unread.borrow_mut();
        unread.insert((tree.index(), key.to_vec()));
        if unread.len() > self.budget {
            // More than may ever be fetched: stop here, the transaction fails.
            return Err(TxError::Unread);
        }
        Ok(None)
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), TxError> {
        self.writes.borrow_mut()[tree.index()].insert(key.to_vec(), Some(value));
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError> {
        self.writes.borrow_mut()[tree.index()].insert(key.to_vec(), None);
        Ok(())
    }
}

/// How one run of a body ended.
enum Run<R> {
    /// It read keys not fetched yet.
    Unread(BTreeSet<(usize, Vec<u8>)>),
    /// It completed with these writes, every read answered from the database.
    Done(R, Slots),
    /// It failed.
    Failed(StorageError),
    /// It asked to be run again.
    Again,
}

fn run<R>(body: &TxBody<'_, R>, fetched: &Slots, budget: usize) -> Run<R> {
    let replay = Replay {
        fetched,
        writes: RefCell::new(slots()),
        unread: RefCell::new(BTreeSet::new()),
        budget,
    };
    let result = body(&replay);
    // Whatever the body made of it (a result, an error), a run that read an unfetched key saw
    // a view that never existed: only the keys it read count.
    let unread = replay.unread.into_inner();
    if !unread.is_empty() {
        return Run::Unread(unread);
    }
    match result {
        Ok(value) => Run::Done(value, replay.writes.into_inner()),
        Err(TxError::Store(e)) => Run::Failed(e),
        Err(TxError::Conflict) => Run::Again,
        // Only this view reports an unread key, and it noted it: a body made this up.
        Err(TxError::Unread) => Run::Failed(StrayUnread.into()),
    }
}

impl PgBackend {
    pub(super) fn new(options: &PgOptions) -> Result<Self, StorageError> {
        let mut config: tokio_postgres::Config = options.url.parse().map_err(|e| {
            StorageError::InvalidOptions(format!("the database URL is malformed: {e}"))
        })?;
        if let Some(password) = &options.password {
            config.password(password);
        }
        if options.pool_size == 0 {
            return Err(StorageError::InvalidOptions(
                "the pool size must be at least 1".to_owned(),
            ));
        }
        let statement_ms = options.statement_timeout.as_millis().max(1);
        config
            .connect_timeout(options.connect_timeout)
            .application_name("sealgate")
            .options(format!("-c statement_timeout={statement_ms}"))
            .keepalives_idle(std::time::Duration::from_secs(30))
            .ssl_mode(match options.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
            });
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // Connections are opened and driven on the runtime that opened the store, whichever
        // thread or runtime later borrows them from the pool.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StorageError::InvalidOptions("a database store needs a tokio runtime".to_owned())
        })?;
        let manager = match tls::connector(options)? {
            Some(tls) => Manager::from_connect(config, ConnectOn { tls, runtime }, manager_config),
            None => Manager::from_connect(
                config,
                ConnectOn {
                    tls: tokio_postgres::NoTls,
                    runtime,
                },
                manager_config,
            ),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StorageError::InvalidOptions(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A pooled connection.
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool
            .get()
            .await
            .map_err(|e| pool_error("connecting", e))
    }

    /// Runs a read-only query, again on a new connection if the pooled one was broken.
    async fn query(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.client().await?;
            let result = match client.prepare_cached(sql).await {
                Ok(statement) => client.query(&statement, params).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(rows) => return Ok(rows),
                Err(e) if attempt < MAX_ATTEMPTS && is_broken_connection(&e) => {
                    // Dropped broken: the pool does not hand it out again.
                    drop(client);
                }
                Err(e) => return Err(store_error(context, &e)),
            }
        }
    }

    async fn attempt<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, Failure> {
        let mut client = self.client().await.map_err(Failure::Fail)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| failure("beginning a transaction", &e))?;
        let locked = tx
            .query(LOCK_WRITER, &[])
            .await
            .map_err(|e| failure("waiting for the writer lock", &e))?;
        if locked.is_empty() {
            return Err(Failure::Fail(StorageError::DatabaseNotMigrated {
                found: 0,
                required: super::SCHEMA_REQUIRED,
            }));
        }
        let mut fetched = slots();
        let mut reads = 0usize;
        let mut runs = 0usize;
        let (result, writes) = loop {
            runs += 1;
            // Each run but the last fetches a key at least, so this bounds them too.
            if runs > MAX_TX_READS + 1 {
                return Err(Failure::Fail(too_many_reads()));
            }
            match run(body, &fetched, MAX_TX_READS - reads) {
                Run::Unread(keys) => {
                    reads += keys.len();
                    if reads > MAX_TX_READS {
                        return Err(Failure::Fail(too_many_reads()));
                    }
                    fetch(&tx, keys, &mut fetched).await?;
                }
                Run::Done(result, writes) => break (result, writes),
                Run::Failed(e) => return Err(Failure::Fail(e)),
                Run::Again => {}
            }
        };
        apply(&tx, writes).await?;
        tx.commit().await.map_err(|e| {
            if is_conflict(&e) {
                // The server rolled it back: nothing was written.
                Failure::Retry(store_error("committing", &e))
            } else if e.code().is_some() {
                Failure::Fail(store_error("committing", &e))
            } else {
                // The answer to COMMIT was lost: the write may or may not be there. It is
                // reported as failed, never acknowledged.
                Failure::Fail(unavailable("committing; the outcome is unknown", &e))
            }
        })?;
        Ok(result)
    }
}

/// Opens connections on `runtime`, where their I/O and their connection task then run.
struct ConnectOn<T> {
    tls: T,
    runtime: tokio::runtime::Handle,
}

type Opened = Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>;

async fn open<T>(config: tokio_postgres::Config, tls: T) -> Opened
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %PgError::of(&e), "database connection closed");
        }
    });
    Ok((client, task))
}

impl<T> Connect for ConnectOn<T>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Pin<Box<dyn Future<Output = Opened> + Send + '_>> {
        let (config, tls) = (config.clone(), self.tls.clone());
        let opened = self.runtime.spawn(open(config.clone(), tls.clone()));
        Box::pin(async move {
            match opened.await {
                Ok(opened) => opened,
                // The store's runtime is shutting down: open it on the caller's.
                Err(_) => open(config, tls).await,
            }
        })
    }
}

/// The engine's view of the database.
#[async_trait::async_trait]
impl Backend for PgBackend {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.query("reading", GET, &[&tree.name(), &key]).await?;
        rows.first()
            .map(|row| row.try_get::<_, Vec<u8>>(0))
            .transpose()
            .map_err(|e| store_error("reading", &e))
    }

    async fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let start = from.max(prefix);
        let limit = limit_param(limit);
        let rows = match prefix_end(prefix) {
            Some(end) => {
                self.query(
                    "scanning",
                    SCAN_BOUNDED,
                    &[&tree.name(), &start, &end, &limit],
                )
                .await?
            }
            None => {
                self.query("scanning", SCAN_OPEN, &[&tree.name(), &start, &limit])
                    .await?
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| store_error("scanning", &e))
    }

    /// See the module docs of [`super`]: the writer lock, the replays, the commit.
    async fn transaction<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(body).await {
                Ok(result) => return Ok(result),
                Err(Failure::Retry(e)) if attempt >= MAX_ATTEMPTS => return Err(e),
                Err(Failure::Retry(e)) => {
                    tracing::debug!(error = %e, attempt, "database transaction retried");
                }
                Err(Failure::Fail(e)) => return Err(e),
            }
        }
    }

    /// A commit is durable when it returns (the server's `synchronous_commit`).
    async fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Every replica on the database writes it.
    fn shared(&self) -> bool {
        true
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        let rows = self.query("measuring the table", SIZE, &[]).await?;
        let bytes: i64 = rows
            .first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(|e| store_error("measuring the table", &e))?
            .unwrap_or(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

fn too_many_reads() -> StorageError {
    StorageError::Io(BackendError::other(PgError(format!(
        "a transaction read more than {MAX_TX_READS} keys; split the operation"
    ))))
}

/// Reads `keys` inside the transaction, in one statement, into `fetched` (absent ones as
/// `None`).
async fn fetch(
    tx: &deadpool_postgres::Transaction<'_>,
    keys: BTreeSet<(usize, Vec<u8>)>,
    fetched: &mut Slots,
) -> Result<(), Failure> {
    let trees: Vec<&str> = keys
        .iter()
        .map(|(tree, _)| Tree::ALL[*tree].name())
        .collect();
    let names: Vec<&[u8]> = keys.iter().map(|(_, key)| key.as_slice()).collect();
    let statement = tx
        .prepare_cached(GET_MANY)
        .await
        .map_err(|e| failure("reading", &e))?;
    let rows = tx
        .query(&statement, &[&trees, &names])
        .await
        .map_err(|e| failure("reading", &e))?;
    let mut found = slots();
    for row in rows {
        let (tree, key, value): (&str, Vec<u8>, Vec<u8>) = (
            row.try_get(0).map_err(|e| failure("reading", &e))?,
            row.try_get(1).map_err(|e| failure("reading", &e))?,
            row.try_get(2).map_err(|e| failure("reading", &e))?,
        );
        if let Some(tree) = Tree::ALL.iter().position(|t| t.name() == tree) {
            found[tree].insert(key, Some(value));
        }
    }
    for (tree, key) in keys {
        let value = found[tree].remove(&key).flatten();
        fetched[tree].insert(key, value);
    }
    Ok(())
}

/// Applies a run's writes: one upsert and one delete, pipelined.
async fn apply(tx: &deadpool_postgres::Transaction<'_>, writes: Slots) -> Result<(), Failure> {
    let mut upserts: (Vec<&str>, Vec<Vec<u8>>, Vec<Vec<u8>>) = Default::default();
    let mut deletes: (Vec<&str>, Vec<Vec<u8>>) = Default::default();
    let written = Tree::ALL.iter().zip(writes).flat_map(|(tree, writes)| {
        writes
            .into_iter()
            .map(|(key, value)| (tree.name(), key, value))
    });
    for (name, key, value) in written {
        match value {
            Some(value) => {
                upserts.0.push(name);
                upserts.1.push(key);
                upserts.2.push(value);
            }
            None => {
                deletes.0.push(name);
                deletes.1.push(key);
            }
        }
    }
    let upsert = async {
        if upserts.0.is_empty() {
            return Ok(0);
        }
        tx.execute(UPSERT, &[&upserts.0, &upserts.1, &upserts.2])
            .await
    };
    let delete = async {
        if deletes.0.is_empty() {
            return Ok(0);
        }
        tx.execute(DELETE, &[&deletes.0, &deletes.1]).await
    };
    tokio::try_join!(upsert, delete).map_err(|e| failure("writing", &e))?;
    Ok(())
}
