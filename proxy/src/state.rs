//! Application state: what every request handler shares (configuration and policy in force,
//! the store, the upstreams, the caches, the counters, the per-tag push locks). It sits below
//! every handler and imports none of them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use sealgate_policies::policy::Policy;
use sealgate_storage::{PinKey, Store};
use tokio::sync::Mutex;

use crate::access::Access;
use crate::cache::{ManifestCache, VerdictCache};
use crate::config::{Config, RawPull, TrustDigests};
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::pin_cache::PinCache;
use crate::upload_sessions::UploadSessions;
use crate::upstream::Upstreams;

/// How long a tag lease lasts unless renewed: how long a replica killed while writing a tag
/// blocks that tag for the others. Its holder renews it every third of that while it works.
const TAG_LEASE_TTL: Duration = Duration::from_secs(15);

/// Everything a request handler needs, shared by all connections.
pub struct AppState {
    /// The validated configuration, as started. Its `policy` is the policy at start; the one in
    /// force is [`AppState::policy`].
    pub config: Arc<Config>,
    /// The trust policy in force, swapped whole by a reload.
    pub policy: ArcSwap<Policy>,
    /// `[auth]` in force (mode, tokens, rules), swapped whole by a reload.
    pub access: ArcSwap<Access>,
    /// The pull gate's caches.
    pub pull: PullState,
    /// Digests of the trust configuration in force (swapped with the policy by a reload).
    pub trust_digests: ArcSwap<TrustDigests>,
    /// Serialises trust changes (reloads, revocations), so generations never interleave.
    pub trust_lock: tokio::sync::Mutex<()>,
    /// When the process started serving.
    pub started: std::time::Instant,
    /// Upstream registries and the pooled client.
    pub upstreams: Upstreams,
    /// The index.
    pub store: Arc<dyn Store>,
    /// Serialises pushes to the same tag (check, forward, pin).
    pub tag_locks: TagLocks,
    /// Request, decision and verification counters for `/metrics`.
    pub metrics: Metrics,
    /// Upload session states the upstream superseded (see [`crate::uploads`]).
    pub uploads: UploadSessions,
    /// This replica's place in the fleet sharing the store.
    pub fleet: FleetState,
}

impl AppState {
    /// Builds the state around an opened store.
    pub fn new(config: Config, upstreams: Upstreams, store: Arc<dyn Store>) -> Self {
        Self {
            policy: ArcSwap::new(config.policy.clone()),
            access: ArcSwap::new(config.access.clone()),
            pull: PullState::new(&config.pull, config.storage.stale_reads()),
            trust_digests: ArcSwap::from_pointee(config.digests.clone()),
            trust_lock: tokio::sync::Mutex::new(()),
            started: std::time::Instant::now(),
            config: Arc::new(config),
            upstreams,
            tag_locks: TagLocks::new(store.clone(), TAG_LEASE_TTL),
            store,
            metrics: Metrics::new(),
            uploads: UploadSessions::default(),
            fleet: FleetState::new(),
        }
    }

    /// The trust policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }
}

/// Locks serialising the writers of a tag (check, forward upstream, pin): striped mutexes within
/// this process and, on a store shared by several replicas, the store's fleet-wide tag lease, so
/// that two replicas never both forward a push to one tag and then find out which pinned.
pub struct TagLocks {
    stripes: Vec<Mutex<()>>,
    store: Arc<dyn Store>,
    /// This process's name on leases: unique per start, so a lease left by a killed process is
    /// not mistaken for ours.
    holder: String,
    /// How long a lease lasts without renewal.
    lease_ttl: Duration,
}

/// How long to wait between tries for a tag another replica holds.
const LEASE_RETRY: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(200));

/// Held while a tag is written; renews the fleet lease while held and gives it back when
/// dropped.
pub struct TagGuard<'a> {
    _local: tokio::sync::MutexGuard<'a, ()>,
    lease: Option<(Arc<dyn Store>, PinKey, String)>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TagGuard<'_> {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if let Some((store, key, holder)) = self.lease.take() {
            // Dropped in async code that cannot wait here; a lease not given back (the store
            // failed, the runtime is shutting down) expires by itself.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = store.release_tag_lease(&key, &holder).await {
                        tracing::warn!(tag = %key.tag, "tag lease not released (it will expire): {e}");
                    }
                });
            }
        }
    }
}

impl TagLocks {
    /// Locks over `store`; `lease_ttl` bounds how long a dead replica's lease blocks a tag.
    pub fn new(store: Arc<dyn Store>, lease_ttl: Duration) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        Self {
            stripes: (0..256).map(|_| Mutex::new(())).collect(),
            store,
            holder: format!("{host}/{}/{started:x}", std::process::id()),
            lease_ttl,
        }
    }

    /// Waits for the tag: this process's stripe, then (on a shared store) the fleet lease. Fails
    /// when the store fails, or when another replica keeps the tag longer than a lease lasts.
    pub(crate) async fn lock(&self, key: &PinKey) -> Result<TagGuard<'_>, ProxyError> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let stripe = (h.finish() as usize) % self.stripes.len();
        let local = self.stripes[stripe].lock().await;
        if !self.store.shared() {
            return Ok(TagGuard {
                _local: local,
                lease: None,
                renewal: None,
            });
        }
        let ttl_ms = u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        // A lease that is not renewed expires within a TTL; one renewed past that is a holder
        // stuck on this tag, and the client is better told to retry.
        let give_up = Instant::now() + self.lease_ttl * 2;
        let mut pause = LEASE_RETRY.0;
        loop {
            let now_ms = epoch_millis();
            if self
                .store
                .acquire_tag_lease(key, &self.holder, now_ms, ttl_ms)
                .await?
            {
                return Ok(TagGuard {
                    _local: local,
                    lease: Some((self.store.clone(), key.clone(), self.holder.clone())),
                    renewal: Some(tokio::spawn(renew(
                        self.store.clone(),
                        key.clone(),
                        self.holder.clone(),
                        self.lease_ttl,
                    ))),
                });
            }
            if Instant::now() >= give_up {
                return Err(ProxyError::TagBusy {
                    tag: key.tag.to_string(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LEASE_RETRY.1);
        }
    }
}

/// Keeps a held lease from expiring, every third of its TTL, until aborted by the guard.
async fn renew(store: Arc<dyn Store>, key: PinKey, holder: String, ttl: Duration) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(ttl / 3).await;
        match store
            .acquire_tag_lease(&key, &holder, epoch_millis(), ttl_ms)
            .await
        {
            Ok(true) => {}
            // Only if renewals failed for a whole TTL: the pin's create-if-absent still decides
            // which push pins, but another replica may have forwarded to the tag meanwhile.
            Ok(false) => {
                tracing::warn!(tag = %key.tag, "tag lease lost to another replica");
                return;
            }
            Err(e) => tracing::warn!(tag = %key.tag, "tag lease not renewed: {e}"),
        }
    }
}

fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Verdicts held at most (each a few hundred bytes).
const MAX_VERDICTS: usize = 100_000;

/// The pull gate's in-memory state.
pub struct PullState {
    /// Verified manifests by digest.
    pub manifests: ManifestCache,
    /// Verdicts by digest and trust generation.
    pub verdicts: VerdictCache,
    /// When each pinned tag was last compared with the upstream.
    pub(crate) drift_checked: DashMap<PinKey, Instant>,
    /// The upstream digest last reported as drift, per tag (reported once, not every check).
    pub(crate) drift_reported: DashMap<PinKey, String>,
    /// Drift events reported since start.
    pub drift_events: AtomicU64,
    /// Pins read from the store (and what was last served for them).
    pub pins: PinCache,
}

impl PullState {
    /// Empty caches sized by `[pull]`; `stale_reads` is `storage.stale_reads`.
    pub fn new(settings: &RawPull, stale_reads: Option<std::time::Duration>) -> Self {
        Self {
            manifests: ManifestCache::new(
                usize::try_from(settings.manifest_cache_bytes).unwrap_or(usize::MAX),
            ),
            verdicts: VerdictCache::new(settings.verdict_ttl, MAX_VERDICTS),
            drift_checked: DashMap::new(),
            drift_reported: DashMap::new(),
            drift_events: AtomicU64::new(0),
            pins: PinCache::new(settings.verdict_ttl, stale_reads),
        }
    }
}

/// The fleet generation (moved by trust changes and pin moves on any replica) this replica
/// has applied, and when the store last confirmed it.
pub struct FleetState {
    /// The generation last applied ([`crate::fleet`]).
    pub applied: AtomicU64,
    /// Whether the watcher found the store out of reach (logged once per outage).
    pub store_down: std::sync::atomic::AtomicBool,
    /// Woken when the trust in force changed, so the replica registers its new digests at once.
    pub trust_changed: tokio::sync::Notify,
    /// Milliseconds after `epoch` (plus one; 0: never) of the last generation read.
    confirmed: AtomicU64,
    epoch: Instant,
}

/// How recently the generation must have been read for this replica's caches of store reads
/// (pins) to be used: past it, a change made elsewhere may be missed, so the store is read
/// (and its failure answered) instead.
pub const IN_SYNC_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

impl FleetState {
    fn new() -> Self {
        Self {
            applied: AtomicU64::new(0),
            store_down: std::sync::atomic::AtomicBool::new(false),
            trust_changed: tokio::sync::Notify::new(),
            confirmed: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Records that the store answered the generation just now.
    pub fn confirm(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.confirmed
            .store(ms.saturating_add(1), std::sync::atomic::Ordering::Release);
    }

    /// Records that the store failed: until the generation is read again, nothing cached from
    /// it is used (a replica cut off from the store fails closed at once, not a second later).
    pub fn unconfirm(&self) {
        self.confirmed
            .store(0, std::sync::atomic::Ordering::Release);
    }

    /// Whether the generation was read within [`IN_SYNC_WITHIN`].
    pub fn in_sync(&self) -> bool {
        let confirmed = self.confirmed.load(std::sync::atomic::Ordering::Acquire);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        confirmed != 0
            && now.saturating_add(1).saturating_sub(confirmed)
                <= u64::try_from(IN_SYNC_WITHIN.as_millis()).unwrap_or(u64::MAX)
    }
}
