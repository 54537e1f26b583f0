//! The pins this replica read, so that a hot pinned tag is not read from the store on every
//! pull, and what it last served for them (for `storage.stale_reads`).
//!
//! A pin is read again at least every `pull.verdict_ttl` (the most the pull path may trust a
//! read for), and the whole cache is dropped when the fleet's generation moves
//! ([`crate::fleet`]): every write that moves or removes a pin on any replica moves it. An
//! absent pin is never cached: the tag's first pin must be seen at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use sealgate_policies::gate::PinFact;
use sealgate_policies::oci::Digest;
use sealgate_storage::PinKey;

use crate::cache::CachedManifest;

/// Pins held at most (each a few hundred bytes); past it the cache is dropped whole.
const MAX_PINS: usize = 100_000;

/// A pin as read from the store, and when.
struct KnownPin {
    pin: PinFact,
    read_at: Instant,
    served: Option<Served>,
}

/// The last admitted answer for a pin: what a stale read serves.
struct Served {
    manifest: Arc<CachedManifest>,
    /// The credential it was fetched with ([`crate::cache::ManifestKey`]): another caller's
    /// bytes are never served without the upstream's say.
    credential: Option<u64>,
    /// The trust generation it was admitted under: one later revocation or reload voids it.
    generation: u64,
    at: Instant,
}

/// What a stale read serves: the pinned digest and its manifest.
pub struct StaleAnswer {
    /// The pinned digest.
    pub digest: Digest,
    /// Its manifest, as last served.
    pub manifest: Arc<CachedManifest>,
    /// How long ago the pin was last read from the store.
    pub age: Duration,
}

/// The per-replica pin cache.
pub struct PinCache {
    pins: DashMap<PinKey, KnownPin>,
    ttl: Duration,
    stale_reads: Option<Duration>,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
}

impl PinCache {
    /// A cache trusting a read for `ttl` (zero: never) and serving stale answers for
    /// `stale_reads` when the store is out of reach (`None`: never).
    pub fn new(ttl: Duration, stale_reads: Option<Duration>) -> Self {
        Self {
            pins: DashMap::new(),
            ttl,
            stale_reads,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
        }
    }

    /// The pin of `key` if it was read less than the TTL ago.
    pub fn fresh(&self, key: &PinKey) -> Option<PinFact> {
        let found = self
            .pins
            .get(key)
            .filter(|known| known.read_at.elapsed() < self.ttl)
            .map(|known| known.pin.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Records `pin`, just read from the store. What was served for the same digest is kept.
    pub fn read(&self, key: &PinKey, pin: &PinFact) {
        if self.ttl.is_zero() && self.stale_reads.is_none() {
            return;
        }
        if self.pins.len() >= MAX_PINS {
            self.pins.clear();
        }
        let read_at = Instant::now();
        self.pins
            .entry(key.clone())
            .and_modify(|known| {
                if known.pin.digest != pin.digest {
                    known.served = None;
                }
                known.pin = pin.clone();
                known.read_at = read_at;
            })
            .or_insert_with(|| KnownPin {
                pin: pin.clone(),
                read_at,
                served: None,
            });
    }

    /// Records that `manifest` was served, admitted under trust `generation`, for the pin of
    /// `key` to `digest`. Kept only with `stale_reads` on.
    pub fn served(
        &self,
        key: &PinKey,
        digest: &Digest,
        manifest: &Arc<CachedManifest>,
        credential: Option<u64>,
        generation: u64,
    ) {
        if self.stale_reads.is_none() {
            return;
        }
        if let Some(mut known) = self.pins.get_mut(key)
            && known.pin.digest == *digest
        {
            known.served = Some(Served {
                manifest: Arc::clone(manifest),
                credential,
                generation,
                at: Instant::now(),
            });
        }
    }

    /// The last admitted answer for `key`, if `stale_reads` is on, the pin was read from the
    /// store and admitted under trust `generation` within it, for the same `credential`.
    /// Counted as served stale.
    pub fn stale(
        &self,
        key: &PinKey,
        credential: Option<u64>,
        generation: u64,
    ) -> Option<StaleAnswer> {
        let limit = self.stale_reads?;
        let known = self.pins.get(key)?;
        let served = known.served.as_ref()?;
        let age = known.read_at.elapsed();
        let usable = age <= limit
            && served.at.elapsed() <= limit
            && served.generation == generation
            && served.credential == credential;
        if !usable {
            return None;
        }
        self.stale_served.fetch_add(1, Ordering::Relaxed);
        Some(StaleAnswer {
            digest: known.pin.digest.clone(),
            manifest: Arc::clone(&served.manifest),
            age,
        })
    }

    /// Forgets `key` (this replica moved or removed its pin).
    pub fn forget(&self, key: &PinKey) {
        self.pins.remove(key);
    }

    /// Forgets every pin (the fleet's generation moved).
    pub fn clear(&self) {
        self.pins.clear();
    }

    /// Pins held.
    pub fn len(&self) -> usize {
        self.pins.len()
    }

    /// Whether no pin is held.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }

    /// [`PinCache::fresh`] lookups so far: (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Pulls served stale so far.
    pub fn stale_served(&self) -> u64 {
        self.stale_served.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag: &str) -> PinKey {
        PinKey {
            upstream: "local".into(),
            repository: "app".parse().unwrap(),
            tag: tag.parse().unwrap(),
        }
    }

    fn pin(n: u8) -> PinFact {
        PinFact {
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32))
                .parse()
                .unwrap(),
            signers: vec!["alice".into()],
        }
    }

    fn manifest() -> Arc<CachedManifest> {
        Arc::new(CachedManifest {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            body: bytes::Bytes::from_static(b"{}"),
        })
    }

    #[test]
    fn a_read_pin_is_fresh_for_the_ttl_then_read_again() {
        let cache = PinCache::new(Duration::from_millis(50), None);
        assert!(cache.fresh(&key("v1")).is_none(), "nothing read yet");
        cache.read(&key("v1"), &pin(1));
        assert_eq!(cache.fresh(&key("v1")), Some(pin(1)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.fresh(&key("v1")).is_none(), "past the ttl");
        assert_eq!(cache.stats(), (1, 2));
    }

    #[test]
    fn forget_and_clear_drop_pins() {
        let cache = PinCache::new(Duration::from_secs(60), None);
        cache.read(&key("v1"), &pin(1));
        cache.read(&key("v2"), &pin(2));
        cache.forget(&key("v1"));
        assert!(cache.fresh(&key("v1")).is_none());
        assert_eq!(cache.fresh(&key("v2")), Some(pin(2)));
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_zero_ttl_without_stale_reads_keeps_nothing() {
        let cache = PinCache::new(Duration::ZERO, None);
        cache.read(&key("v1"), &pin(1));
        assert!(cache.is_empty());
    }

    #[test]
    fn stale_answers_need_stale_reads_the_same_generation_and_credential_and_a_recent_read() {
        let off = PinCache::new(Duration::from_secs(60), None);
        off.read(&key("v1"), &pin(1));
        off.served(&key("v1"), &pin(1).digest, &manifest(), None, 1);
        assert!(off.stale(&key("v1"), None, 1).is_none(), "off by default");

        let cache = PinCache::new(Duration::from_secs(60), Some(Duration::from_millis(100)));
        cache.read(&key("v1"), &pin(1));
        assert!(cache.stale(&key("v1"), None, 1).is_none(), "never served");
        cache.served(&key("v1"), &pin(1).digest, &manifest(), Some(7), 1);
        assert!(cache.stale(&key("v1"), Some(7), 2).is_none(), "trust moved");
        assert!(
            cache.stale(&key("v1"), None, 1).is_none(),
            "another credential"
        );
        let answer = cache.stale(&key("v1"), Some(7), 1).expect("served stale");
        assert_eq!(answer.digest, pin(1).digest);
        assert_eq!(cache.stale_served(), 1);
        // The pin moved: what was served for the old digest is not served for it.
        cache.read(&key("v1"), &pin(2));
        assert!(cache.stale(&key("v1"), Some(7), 1).is_none());
        cache.served(&key("v1"), &pin(2).digest, &manifest(), Some(7), 1);
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            cache.stale(&key("v1"), Some(7), 1).is_none(),
            "read too long ago"
        );
    }
}
