//! In-memory caches of the pull gate.
//!
//! - [`ManifestCache`]: manifest bytes by digest. Content-addressed (the digest is computed
//!   here from the bytes), so an entry can never be wrong, only absent; bounded in bytes. Keyed
//!   also by upstream, repository and the client's credentials, so the cache never serves a
//!   manifest to a request the upstream would have refused (another repository, no token).
//! - [`VerdictCache`]: verdicts by (upstream, repository, digest, tag, trust generation). A trust
//!   change bumps the generation, so old verdicts are never looked up again; a TTL bounds how
//!   late time-based changes (a certificate expiring) are seen. Concurrent requests for the
//!   same key wait for one computation.

use std::collections::VecDeque;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use sealgate_policies::oci::{Digest, RepoName, Tag};
use sealgate_policies::verdict::Verdict;

/// A manifest as served: its media type and exact bytes.
#[derive(Debug)]
pub struct CachedManifest {
    /// `Content-Type` to serve it with.
    pub media_type: String,
    /// The bytes whose sha256 is the key.
    pub body: Bytes,
}

/// Where a cached manifest was fetched, and with which client credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestKey {
    /// Upstream name.
    pub upstream: String,
    /// Repository.
    pub repository: RepoName,
    /// The manifest's digest.
    pub digest: Digest,
    /// [`ManifestCache::credential`] of the client's `Authorization` when it was passed
    /// upstream; `None` for anonymous requests and for upstreams with sealgate's own credentials.
    pub credential: Option<u64>,
}

/// Manifests by [`ManifestKey`], bounded by their total size. Eviction is first-in first-out:
/// entries are immutable and small next to the bound, and a re-fetch costs one upstream GET.
pub struct ManifestCache {
    entries: DashMap<ManifestKey, Arc<CachedManifest>>,
    order: Mutex<VecDeque<(ManifestKey, usize)>>,
    bytes: AtomicUsize,
    capacity: usize,
    /// Keyed per process, so credential fingerprints cannot be precomputed or collided on purpose.
    hasher: RandomState,
    /// Lookups answered from memory, and not (for `/metrics`).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ManifestCache {
    /// A cache holding at most `capacity` bytes of manifests (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            bytes: AtomicUsize::new(0),
            capacity,
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A fingerprint of a client's credentials (an `Authorization` value), for [`ManifestKey`].
    pub fn credential(&self, authorization: &[u8]) -> u64 {
        self.hasher.hash_one(authorization)
    }

    /// The manifest of `key`, if cached.
    pub fn get(&self, key: &ManifestKey) -> Option<Arc<CachedManifest>> {
        let found = self.entries.get(key).map(|e| e.value().clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Lookups so far: (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Caches `manifest` under `key`. The caller has checked that the key's digest is the
    /// sha256 of the bytes. Manifests larger than an eighth of the bound are not cached, so that
    /// one cannot evict everything else.
    pub fn insert(&self, key: ManifestKey, manifest: CachedManifest) -> Arc<CachedManifest> {
        let size = manifest.body.len();
        let manifest = Arc::new(manifest);
        if size > self.capacity / 8 || self.entries.contains_key(&key) {
            return manifest;
        }
        let Ok(mut order) = self.order.lock() else {
            return manifest;
        };
        self.entries.insert(key.clone(), manifest.clone());
        order.push_back((key, size));
        let mut total = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        while total > self.capacity {
            let Some((old, old_size)) = order.pop_front() else {
                break;
            };
            self.entries.remove(&old);
            total = self.bytes.fetch_sub(old_size, Ordering::Relaxed) - old_size;
        }
        manifest
    }

    /// Drops every entry of `digest` (the manifest was deleted upstream through sealgate).
    pub fn remove_digest(&self, digest: &Digest) {
        let Ok(mut order) = self.order.lock() else {
            return;
        };
        order.retain(|(key, size)| {
            if key.digest != *digest {
                return true;
            }
            self.entries.remove(key);
            self.bytes.fetch_sub(*size, Ordering::Relaxed);
            false
        });
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// What a verdict is about. The tag is part of it because a signed `docker-reference` may name
/// a tag; the generation because trust changes must not reuse old verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerdictKey {
    /// Upstream name.
    pub upstream: String,
    /// Repository.
    pub repository: RepoName,
    /// The manifest.
    pub digest: Digest,
    /// The tag it was pulled by, if any.
    pub tag: Option<Tag>,
    /// The trust generation it is computed under.
    pub generation: u64,
}

struct Slot {
    verdict: tokio::sync::OnceCell<Arc<Verdict>>,
    created: Instant,
    reported: AtomicBool,
}

/// A verdict from the cache.
#[derive(Debug, Clone)]
pub struct CachedVerdict {
    /// The verdict.
    pub verdict: Arc<Verdict>,
    /// True for exactly one caller per computed verdict: the one that should audit it (so that
    /// a node retrying a refused pull does not write an audit record per retry).
    pub first_report: bool,
}

/// Verdicts by [`VerdictKey`], reused for `ttl`, with concurrent computations coalesced.
pub struct VerdictCache {
    entries: DashMap<VerdictKey, Arc<Slot>>,
    ttl: Duration,
    max_entries: usize,
    /// [`VerdictCache::get_or_compute`] calls answered without computing (also by waiting for
    /// another caller's computation), and those that computed.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerdictCache {
    /// A cache reusing verdicts for `ttl` (zero: computed on every request, still coalesced)
    /// and holding at most about `max_entries`.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            entries: DashMap::new(),
            ttl,
            max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached verdict for `key` if it is fresh, without computing one.
    pub fn lookup(&self, key: &VerdictKey) -> Option<CachedVerdict> {
        let slot = self.entries.get(key)?.value().clone();
        if slot.created.elapsed() >= self.ttl {
            return None;
        }
        let verdict = slot.verdict.get()?.clone();
        Some(CachedVerdict {
            verdict,
            first_report: !slot.reported.swap(true, Ordering::AcqRel),
        })
    }

    /// The verdict for `key`: cached if fresh, else computed by `compute`. Callers arriving
    /// while it is computed wait for that computation instead of starting their own. An error
    /// is returned to the caller whose computation failed and not cached; a waiting caller then
    /// tries itself.
    pub async fn get_or_compute<E, F, Fut>(
        &self,
        key: &VerdictKey,
        compute: F,
    ) -> Result<CachedVerdict, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Verdict, E>>,
    {
        let slot = self.slot(key);
        let mut computed = false;
        let verdict = slot
            .verdict
            .get_or_try_init(|| async {
                computed = true;
                compute().await.map(Arc::new)
            })
            .await?
            .clone();
        let counter = if computed { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(CachedVerdict {
            verdict,
            first_report: !slot.reported.swap(true, Ordering::AcqRel),
        })
    }

    /// The slot for `key`, replacing a stale one.
    fn slot(&self, key: &VerdictKey) -> Arc<Slot> {
        if let Some(slot) = self.entries.get(key)
            && slot.created.elapsed() < self.ttl
        {
            return slot.value().clone();
        }
        if self.entries.len() >= self.max_entries {
            self.evict();
        }
        let fresh = Arc::new(Slot {
            verdict: tokio::sync::OnceCell::new(),
            created: Instant::now(),
            reported: AtomicBool::new(false),
        });
        let mut entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| fresh.clone());
        // Another request may have replaced the stale slot first: share its computation.
        if entry.created.elapsed() >= self.ttl {
            *entry = fresh;
        }
        entry.value().clone()
    }

    /// Drops stale entries, and everything if that is not enough (a burst of distinct keys).
    fn evict(&self) {
        self.entries
            .retain(|_, slot| slot.created.elapsed() < self.ttl);
        if self.entries.len() >= self.max_entries {
            self.entries.clear();
        }
    }

    /// Forgets every verdict on `digest`: its evidence changed (a signature arrived, an index
    /// listing it was seen), so the next request computes a new one.
    pub fn invalidate(&self, digest: &Digest) {
        self.entries.retain(|key, _| key.digest != *digest);
    }

    /// Forgets everything (trust was reloaded; old generations are never looked up again).
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// [`VerdictCache::get_or_compute`] calls so far: (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Entries held (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use sealgate_policies::config::Mode;
    use sealgate_policies::verdict::{Decision, DenyReason};

    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", hex::encode([n; 32])).parse().unwrap()
    }

    fn key(n: u8, generation: u64) -> VerdictKey {
        VerdictKey {
            upstream: "u".into(),
            repository: "r".parse().unwrap(),
            digest: digest(n),
            tag: None,
            generation,
        }
    }

    fn verdict(generation: u64) -> Verdict {
        Verdict {
            scope: "default".into(),
            mode: Mode::Enforce,
            decision: Decision::Deny(DenyReason::Unsigned),
            satisfied: vec![],
            failures: vec![],
            generation,
        }
    }

    fn manifest_key(n: u8) -> ManifestKey {
        ManifestKey {
            upstream: "u".into(),
            repository: "r".parse().unwrap(),
            digest: digest(n),
            credential: None,
        }
    }

    #[test]
    fn manifest_cache_is_bounded_and_evicts_oldest_first() {
        let cache = ManifestCache::new(800);
        for n in 0..10u8 {
            cache.insert(
                manifest_key(n),
                CachedManifest {
                    media_type: "m".into(),
                    body: Bytes::from(vec![n; 100]),
                },
            );
        }
        assert!(cache.size() <= 800, "{}", cache.size());
        assert!(
            cache.get(&manifest_key(0)).is_none(),
            "the oldest went first"
        );
        assert_eq!(cache.get(&manifest_key(9)).unwrap().body[0], 9);
        // Another repository, or other credentials, do not see it.
        let other_repo = ManifestKey {
            repository: "other".parse().unwrap(),
            ..manifest_key(9)
        };
        assert!(cache.get(&other_repo).is_none());
        let with_token = ManifestKey {
            credential: Some(cache.credential(b"Bearer abc")),
            ..manifest_key(9)
        };
        assert!(cache.get(&with_token).is_none());
        let held = cache.size();
        cache.remove_digest(&digest(9));
        assert!(cache.get(&manifest_key(9)).is_none());
        assert_eq!(cache.size(), held - 100);
        assert_ne!(
            cache.credential(b"Bearer abc"),
            cache.credential(b"Bearer abd")
        );
        // Too large for the bound: served to the caller, not cached.
        let big = cache.insert(
            manifest_key(42),
            CachedManifest {
                media_type: "m".into(),
                body: Bytes::from(vec![0; 101]),
            },
        );
        assert_eq!(big.body.len(), 101);
        assert!(cache.get(&manifest_key(42)).is_none());
        let off = ManifestCache::new(0);
        off.insert(
            manifest_key(1),
            CachedManifest {
                media_type: "m".into(),
                body: Bytes::from_static(b"x"),
            },
        );
        assert!(off.get(&manifest_key(1)).is_none());
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_computation_and_one_report() {
        let cache = Arc::new(VerdictCache::new(Duration::from_secs(60), 100));
        let computed = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let computed = computed.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(&key(1, 1), || async move {
                        computed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(verdict(1))
                    })
                    .await
                    .unwrap()
            }));
        }
        let mut reports = 0;
        for task in tasks {
            let got = task.await.unwrap();
            assert_eq!(got.verdict.generation, 1);
            reports += u32::from(got.first_report);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(reports, 1);
        assert_eq!(
            cache.stats(),
            (19, 1),
            "one computed, the others waited for it"
        );
        assert!(cache.lookup(&key(1, 1)).is_some());
        assert!(
            cache.lookup(&key(1, 2)).is_none(),
            "another generation is another verdict"
        );
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_stale_verdicts_are_recomputed() {
        let cache = VerdictCache::new(Duration::from_millis(30), 100);
        let failed = cache
            .get_or_compute(&key(1, 1), || async { Err::<Verdict, _>("upstream down") })
            .await;
        assert_eq!(failed.unwrap_err(), "upstream down");
        let computed = AtomicU32::new(0);
        let compute = || async {
            computed.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(verdict(1))
        };
        cache.get_or_compute(&key(1, 1), compute).await.unwrap();
        cache.get_or_compute(&key(1, 1), compute).await.unwrap();
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(cache.lookup(&key(1, 1)).is_none(), "stale");
        let again = cache.get_or_compute(&key(1, 1), compute).await.unwrap();
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert!(again.first_report, "a recomputed verdict is reported again");
    }

    #[tokio::test]
    async fn the_entry_count_stays_bounded() {
        let cache = VerdictCache::new(Duration::from_secs(60), 10);
        for n in 0..50u8 {
            cache
                .get_or_compute(&key(n, 1), || async { Ok::<_, ()>(verdict(1)) })
                .await
                .unwrap();
        }
        assert!(cache.len() <= 10, "{}", cache.len());
    }
}
