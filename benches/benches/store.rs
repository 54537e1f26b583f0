//! What the store costs at scale: a pin lookup among 1,000,000 pins (criterion's mean, and the
//! percentiles of single lookups, which criterion does not report), opening that store, a
//! durable audit append (sled) next to the in-memory cost of the same append (`MemStore`), and
//! how long lookups wait while an import (`pin_batch`) runs; and the store's part of a request
//! on PostgreSQL next to sled (`backends`): an audit append, the pin of a new tag (a push
//! decision's write) and the lookup of an existing pin, against a real PostgreSQL 15 started by
//! `sealgate_storage::testing::PgServer`, durable (`fsync=on`) and, for reference, not.
//!
//! The 1,000,000-pin store is built once with `Store::pin_batch` (10,000 pins per call) and
//! kept in `target/bench-store-1m` (or under `$CARGO_TARGET_DIR`), with a marker file written
//! last, so reruns reuse it; delete the directory to rebuild it. Under `cargo test --benches`
//! (criterion's test mode) the same code runs once over 10,000 pins in a temporary directory.

use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use sealgate_policies::gate::PinWarrant;
use sealgate_storage::testing::PgServer;
use sealgate_storage::{
    AuditEvent, MemStore, PgStore, PinKey, PinOutcome, PinRequest, SCHEMA_VERSION, SledStore,
    StorageError, Store,
};

thread_local! {
    /// The store's API is async (and sled's flush runs on a runtime's blocking pool): each
    /// thread waits for it on a runtime of its own, so threads that call the store at once
    /// (`import_stalls`) never take turns on one.
    /// (`enable_all`: PgStore needs its network and timers.)
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
}

/// Runs a store call to its end on this thread's runtime.
fn wait<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Pins per `pin_batch` call while building the store.
const CHUNK: u64 = 10_000;
/// Lookups timed one by one for the percentiles.
const SAMPLES: usize = 100_000;

/// Whether criterion measures (`cargo bench`), rather than running each bench once as a test
/// (`cargo test --benches`, `cargo bench -- --test`) or listing them.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

/// Pin number `n`: 1,000 repositories of 1,000 tags each, under 40 teams.
fn pin_key(n: u64) -> PinKey {
    let (repository, tag) = (n / 1000, n % 1000);
    PinKey {
        upstream: "hub".to_owned(),
        repository: format!("team{:02}/service-{repository:03}", repository % 40)
            .parse()
            .expect("name"),
        tag: format!("v1.{tag}.0").parse().expect("tag"),
    }
}

/// The import of pin number `n`, with a warrant no gate decided: the benches measure storing.
fn pin(n: u64) -> PinRequest {
    PinRequest::new(
        PinWarrant::unverified(&format!("sha256:{n:064x}").parse().expect("digest")),
        1_700_000_000 + n,
        Some("ci@example.com".to_owned()),
        vec!["release".to_owned()],
    )
}

fn event(n: u64, action: &str) -> AuditEvent {
    let key = pin_key(n);
    AuditEvent {
        at: 1_700_000_000 + n,
        action: action.to_owned(),
        outcome: "allow".to_owned(),
        upstream: key.upstream,
        repository: key.repository.as_str().to_owned(),
        reference: key.tag.as_str().to_owned(),
        digest: Some(format!("sha256:{n:064x}")),
        reason: "imported from the previous gate".to_owned(),
        identity: Some("admin".to_owned()),
        signers: vec!["release".to_owned()],
        request_id: None,
    }
}

/// A small deterministic generator (xorshift64*), so every run looks up the same keys.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Opens a store a moment after its previous handle was dropped: sled's flusher may still hold
/// the directory's lock, so a lock error is retried. Returns the store and how long the open
/// that succeeded took (failed attempts are not counted).
fn open_timed(path: &Path) -> (SledStore, Duration) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let start = Instant::now();
        match SledStore::open(path) {
            Ok(store) => return (store, start.elapsed()),
            Err(StorageError::Open { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("open {}: {e}", path.display()),
        }
    }
}

/// The store of `pins` pins, and a directory guard to keep (the temporary one in test mode).
struct BigStore {
    path: PathBuf,
    pins: u64,
    _temp: Option<tempfile::TempDir>,
}

impl BigStore {
    fn get() -> Self {
        if !benchmarking() {
            let temp = tempfile::tempdir().expect("temp dir");
            let path = temp.path().join("store");
            build(&path, 10_000);
            return Self {
                path,
                pins: 10_000,
                _temp: Some(temp),
            };
        }
        const PINS: u64 = 1_000_000;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let path = target.join("bench-store-1m");
        let marker = target.join("bench-store-1m.done");
        let expected = format!("{PINS} pins, schema {SCHEMA_VERSION}\n");
        if std::fs::read_to_string(&marker).ok().as_deref() == Some(expected.as_str()) {
            println!("reusing the store of {PINS} pins in {}", path.display());
        } else {
            // Half-built or from another layout: start over.
            let _ = std::fs::remove_file(&marker);
            if path.exists() {
                std::fs::remove_dir_all(&path).expect("remove the old store");
            }
            build(&path, PINS);
            std::fs::write(&marker, expected).expect("marker");
        }
        Self {
            path,
            pins: PINS,
            _temp: None,
        }
    }
}

/// Imports `pins` pins into a new store at `path` with `pin_batch`, then reopens it once: the
/// first open after the import replays sled's whole log (sled writes its snapshot on open).
fn build(path: &Path, pins: u64) {
    let started = Instant::now();
    let store = SledStore::open(path).expect("open");
    let mut chunk_times = Vec::new();
    for first in (0..pins).step_by(CHUNK as usize) {
        let entries: Vec<_> = (first..(first + CHUNK).min(pins))
            .map(|n| (pin_key(n), pin(n), event(n, "import")))
            .collect();
        let start = Instant::now();
        let results = wait(store.pin_batch(entries)).expect("pin_batch");
        chunk_times.push(start.elapsed());
        assert!(results.iter().all(|(o, _)| *o == PinOutcome::Created));
        if chunk_times.len() % 10 == 0 {
            print!(".");
            let _ = std::io::stdout().flush();
        }
    }
    let report = wait(store.verify_audit()).expect("chain verifies");
    assert_eq!(report.events, pins);
    let size = store.size_on_disk().expect("size");
    drop(store);
    chunk_times.sort();
    println!(
        "\nbuilt {pins} pins in {:.1?} ({:.1?} per pin_batch of {CHUNK}: median; slowest \
         {:.1?}), {} MiB on disk",
        started.elapsed(),
        chunk_times[chunk_times.len() / 2],
        chunk_times[chunk_times.len() - 1],
        size / (1024 * 1024),
    );
    let (store, took) = open_timed(path);
    println!(
        "first open after the import (replays the log written since the last open): {took:.1?}"
    );
    drop(store);
}

/// Times `SAMPLES` single lookups of random existing pins and prints their percentiles.
fn lookup_percentiles(store: &SledStore, keys: &[PinKey], label: &str) {
    let samples = if benchmarking() { SAMPLES } else { 1_000 };
    let mut times: Vec<Duration> = Vec::with_capacity(samples);
    for key in keys.iter().cycle().take(samples) {
        let start = Instant::now();
        let found = wait(store.get_pin(black_box(key))).expect("get_pin");
        times.push(start.elapsed());
        assert!(found.is_some());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "get_pin, {label}, {samples} single lookups: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  \
         p99.9 {:.2?}  max {:.2?}",
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        times[times.len() - 1],
    );
}

fn big_store(c: &mut Criterion) {
    let big = BigStore::get();
    // Random existing keys, built before any timing (a `PinKey` is validated when built).
    let mut rng = Rng(0x5ea1_6a7e);
    let keys: Vec<PinKey> = (0..SAMPLES).map(|_| pin_key(rng.below(big.pins))).collect();

    {
        let (store, took) = open_timed(&big.path);
        println!("open before the lookups: {took:.1?}");
        // Freshly opened: sled pages the tree in as lookups reach it (from the OS page cache,
        // since the store was just built or read).
        lookup_percentiles(&store, &keys, "first pass after open");
        lookup_percentiles(&store, &keys, "second pass");
        let mut group = c.benchmark_group(format!("store of {} pins", big.pins));
        group.bench_function("get_pin (random existing keys)", |b| {
            let mut next = keys.iter().cycle();
            b.iter(|| {
                let key = next.next().expect("cycle");
                wait(store.get_pin(black_box(key))).expect("get_pin")
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group(format!("store of {} pins", big.pins));
    // Each open is tens of milliseconds or more: ten samples of one open each.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("SledStore::open", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (store, took) = open_timed(&big.path);
                total += took;
                // Dropped outside the timing: the next open waits for its lock, untimed.
                drop(store);
            }
            total
        })
    });
    group.finish();
}

fn audit_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = SledStore::open(dir.path()).expect("open");
    let mem = MemStore::new();
    let mut group = c.benchmark_group("append_audit");
    // A durable append is a flush (an fsync) each: milliseconds, so fewer, flat samples.
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    // One event, cloned per append (the API takes it by value), so building it is not timed.
    let pull = event(42, "pull");
    group.bench_function("SledStore (durable: flush per append)", |b| {
        b.iter(|| wait(sled.append_audit(black_box(pull.clone()))).expect("append"))
    });
    group.bench_function("MemStore (the same append in memory)", |b| {
        b.iter(|| wait(mem.append_audit(black_box(pull.clone()))).expect("append"))
    });
    // For comparison, without sealgate's transaction, JSON and hash: sled itself, writing one
    // value of an audit record's size (about 480 bytes) and flushing as the store does after
    // every write. The label stays fixed so that criterion compares runs.
    let record_len = serde_json::to_vec(&wait(sled.append_audit(pull.clone())).expect("append"))
        .expect("json")
        .len();
    let raw = sled::open(dir.path().join("raw-sled")).expect("raw sled");
    let value = vec![b'x'; record_len];
    let mut seq = 0u64;
    group.bench_function(
        "reference: raw sled insert of an audit record's size + Db::flush",
        |b| {
            b.iter(|| {
                seq += 1;
                raw.insert(seq.to_be_bytes(), value.as_slice())
                    .expect("insert");
                raw.flush().expect("flush")
            })
        },
    );
    // And what the disk charges for a real fsync, without sled: a small write to a file in the
    // same directory and `fdatasync`.
    let mut file = std::fs::File::create(dir.path().join("fsync-probe")).expect("probe file");
    group.bench_function("reference: 512-byte write + fdatasync, same disk", |b| {
        b.iter(|| {
            file.write_all(&[b'x'; 512]).expect("write");
            file.sync_data().expect("fdatasync")
        })
    });
    group.finish();
    wait(sled.verify_audit()).expect("the chain stays intact");
}

/// What an import does to the request path: sled 0.34 runs reads under the read side of the
/// process-wide lock its transactions write under, so `get_pin` waits while a `pin_batch`
/// transaction runs. Prints the longest lookup seen during one batch of each size.
fn import_stalls(_: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("open");
    let existing = 20_000;
    for first in (0..existing).step_by(CHUNK as usize) {
        wait(
            store.pin_batch(
                (first..first + CHUNK)
                    .map(|n| (pin_key(n), pin(n), event(n, "import")))
                    .collect(),
            ),
        )
        .expect("pin_batch");
    }
    let sizes: &[u64] = if benchmarking() {
        &[100, 1_000, 10_000]
    } else {
        &[100]
    };
    let mut next = existing;
    for &size in sizes {
        let entries: Vec<_> = (next..next + size)
            .map(|n| (pin_key(n), pin(n), event(n, "import")))
            .collect();
        next += size;
        let done = AtomicBool::new(false);
        let (batch, longest, lookups) = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut rng = Rng(7);
                let (mut longest, mut lookups) = (Duration::ZERO, 0u64);
                let keys: Vec<PinKey> = (0..1000).map(|_| pin_key(rng.below(existing))).collect();
                for key in keys.iter().cycle() {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    let start = Instant::now();
                    wait(store.get_pin(key)).expect("get_pin");
                    longest = longest.max(start.elapsed());
                    lookups += 1;
                }
                (longest, lookups)
            });
            // Let the reader get going first.
            std::thread::sleep(Duration::from_millis(20));
            let start = Instant::now();
            wait(store.pin_batch(entries)).expect("pin_batch");
            let batch = start.elapsed();
            std::thread::sleep(Duration::from_millis(20));
            done.store(true, Ordering::Relaxed);
            let (longest, lookups) = reader.join().expect("reader");
            (batch, longest, lookups)
        });
        println!(
            "pin_batch of {size}: {batch:.1?}; meanwhile the longest get_pin took {longest:.1?} \
             ({lookups} lookups)"
        );
    }
}

/// The three store calls of a request, on one backend: an audit append, the pin of a new tag
/// (create-if-absent and its audit event, in one transaction: the store's part of a push
/// decision) and the lookup of an existing pin (a pull whose pin is not cached).
fn store_calls<S: Store>(c: &mut Criterion, label: &str, store: &S) {
    let existing: u64 = 1_000;
    wait(
        store.pin_batch(
            (0..existing)
                .map(|n| (pin_key(n), pin(n), event(n, "import")))
                .collect(),
        ),
    )
    .expect("pin_batch");
    let mut group = c.benchmark_group(format!("store calls, {label}"));
    // Durable writes are milliseconds each: fewer, flat samples.
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let pull = event(42, "pull");
    group.bench_function("append_audit", |b| {
        b.iter(|| wait(store.append_audit(black_box(pull.clone()))).expect("append"))
    });
    // A new tag per iteration, built outside the timing (keys above the existing ones).
    let mut next = existing;
    group.bench_function("pin (new tag, immutable)", |b| {
        b.iter_batched(
            || {
                next += 1;
                (pin_key(next), pin(next), event(next, "push"))
            },
            |(key, request, event)| {
                let (outcome, _) = wait(store.pin(&key, request, false, event)).expect("pin");
                assert_eq!(outcome, PinOutcome::Created);
            },
            BatchSize::SmallInput,
        )
    });
    let mut rng = Rng(0x0dd5);
    let keys: Vec<PinKey> = (0..1_000).map(|_| pin_key(rng.below(existing))).collect();
    let mut cycle = keys.iter().cycle();
    group.bench_function("get_pin (existing tag)", |b| {
        b.iter(|| {
            let key = cycle.next().expect("cycle");
            wait(store.get_pin(black_box(key)))
                .expect("get_pin")
                .expect("pinned")
        })
    });
    group.finish();
    wait(store.verify_audit()).expect("the chain stays intact");
}

/// The same calls on sled (durable: a flush per write) and on PostgreSQL 15 over loopback
/// (a pool of 8, `synchronous_commit` on), with `fsync` on and then off: off shows what the
/// round trips and the server's work cost without the disk.
fn backends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = SledStore::open(dir.path()).expect("open");
    store_calls(c, "SledStore", &sled);
    drop(sled);

    // One server each way: `fsync` is fixed when it starts.
    for (fsync, label) in [(true, "PgStore (fsync on)"), (false, "PgStore (fsync off)")] {
        let server = if fsync {
            PgServer::start_durable()
        } else {
            PgServer::start()
        }
        .expect("start PostgreSQL (postgresql-15 installed?)");
        let options = wait(server.migrated_database()).expect("database");
        let pg = wait(PgStore::connect(options)).expect("connect");
        store_calls(c, label, &pg);
    }
}

criterion_group!(benches, big_store, audit_append, import_stalls, backends);
criterion_main!(benches);
