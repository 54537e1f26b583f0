//! Several replicas on one store: each follows the fleet generation, registers itself, and the
//! admin API and `/metrics` report replicas whose configuration differs from the others'.
//!
//! The store's fleet generation moves with every change another replica must apply: a runtime
//! revocation (in the revocation's transaction), a reload asked of a replica
//! ([`crate::reload::announce`]), and a write that moves or removes a pin
//! ([`pins_changed`]). One counter, not one per kind: the watcher stays at one indexed read
//! per poll, and the writes that move it are rare (pins are create-if-absent; only mutable-tag
//! moves, retirements and deletes change one), so the price, every replica re-reading its
//! trust and dropping its caches, is paid seldom.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sealgate_storage::{AuditEvent, PinKey, ReplicaInfo, StorageError};

use crate::config::EnvSource;
use crate::state::AppState;

/// How often the watcher reads the fleet generation: changes reach every replica's next pull
/// in well under a second.
pub const POLL: Duration = Duration::from_millis(200);

/// How often a replica registers itself again.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A replica not seen for this long is not counted as live (six missed heartbeats).
pub const LIVE_WITHIN_SECS: u64 = 30;

/// Follows the fleet generation until the process ends ([`apply_if_moved`] every [`POLL`]).
pub async fn watch(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        apply_if_moved(&state).await;
    }
}

/// Reads the fleet generation once; when it moved past the one applied here, re-reads the
/// trust as a reload does (the configuration file and the runtime revocations, under a new
/// local generation, verdicts dropped) and drops the pin cache. Never announces the reload
/// (the change came from the fleet). A store out of reach is logged once per outage.
/// Returns whether a change was applied.
pub async fn apply_if_moved(state: &Arc<AppState>) -> bool {
    let generation = match state.store.fleet_generation().await {
        Ok(generation) => {
            state.fleet.confirm();
            if state.fleet.store_down.swap(false, Ordering::AcqRel) {
                tracing::info!("fleet: the store answers again");
            }
            generation
        }
        Err(e) => {
            state.fleet.unconfirm();
            if !state.fleet.store_down.swap(true, Ordering::AcqRel) {
                tracing::warn!(error = %e, "fleet: cannot read the fleet generation; retrying");
            }
            return false;
        }
    };
    if state.fleet.applied.load(Ordering::Acquire) == generation {
        return false;
    }
    {
        // A change this replica is making itself (a revocation, under this lock) is marked
        // applied before the lock is released: checked again under it, it is not re-applied.
        let _guard = state.trust_lock.lock().await;
        if state.fleet.applied.load(Ordering::Acquire) == generation {
            return false;
        }
    }
    // Pins moved or removed elsewhere must be read again.
    state.pull.pins.clear();
    let applied = match &state.config.source_file {
        Some(file) => {
            let (s, f) = (state.clone(), file.clone());
            let reloaded = tokio::task::spawn_blocking(move || {
                crate::reload::reload(&s, &f, &EnvSource::Process)
            })
            .await;
            match reloaded {
                Ok(Ok(summary)) => {
                    tracing::info!(generation, "fleet: trust re-read: {summary}");
                    Ok(())
                }
                Ok(Err(why)) => {
                    tracing::error!(
                        generation,
                        "fleet: reload refused, applying the runtime revocations only: {why}"
                    );
                    refresh_revocations(state).await
                }
                Err(e) => {
                    tracing::error!("fleet: reload task failed: {e}");
                    refresh_revocations(state).await
                }
            }
        }
        None => refresh_revocations(state).await,
    };
    match applied {
        Ok(()) => {
            state.fleet.applied.store(generation, Ordering::Release);
            state.fleet.trust_changed.notify_one();
            true
        }
        // Left unapplied: the next poll tries again.
        Err(e) => {
            tracing::warn!(error = %e, "fleet: cannot read the runtime revocations; retrying");
            false
        }
    }
}

/// The trust in force plus every runtime revocation in the store, under a new generation;
/// cached verdicts dropped.
async fn refresh_revocations(state: &AppState) -> Result<(), StorageError> {
    let _guard = state.trust_lock.lock().await;
    let runtime = state.store.revocations().await?;
    let mut policy = (*state.policy()).clone();
    crate::reload::apply_revocations(&mut policy, &runtime);
    policy.set_generation(policy.generation() + 1);
    state.policy.store(Arc::new(policy));
    state.pull.verdicts.clear();
    Ok(())
}

/// After this replica moved or removed the pin of `key` (audited by `event`'s write): forgets
/// it here and moves the fleet generation so that every other replica reads it again within
/// [`POLL`]. A store that fails here leaves the others' caches to expire (at most
/// `pull.verdict_ttl`); the write itself stands, so it is logged, not returned.
pub async fn pins_changed(state: &AppState, key: &PinKey, event: AuditEvent) {
    state.pull.pins.forget(key);
    match state.store.bump_generation(event).await {
        Ok((generation, _)) => {
            // Nothing to re-read here for it, unless another change came in between.
            let _ = state.fleet.applied.compare_exchange(
                generation.saturating_sub(1),
                generation,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        Err(e) => tracing::warn!(
            error = %e,
            "pin change not announced to the other replicas; their cached pin expires with \
             pull.verdict_ttl"
        ),
    }
}

/// After this replica moved the fleet generation by one and applied the change itself (a
/// revocation, under the trust lock): marks the generation applied, unless another replica
/// moved it too meanwhile (the watcher then applies both). A store that fails here leaves it to
/// the watcher.
pub async fn applied_own_change(state: &AppState) {
    if let Ok(generation) = state.store.fleet_generation().await {
        let _ = state.fleet.applied.compare_exchange(
            generation.saturating_sub(1),
            generation,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

/// The audit event announcing a pin change of `key` to the fleet.
pub fn pins_changed_event(key: &PinKey, why: &str, identity: Option<String>) -> AuditEvent {
    AuditEvent {
        at: crate::clock::now().as_secs(),
        action: "fleet-pin-change".to_owned(),
        outcome: "allow".to_owned(),
        upstream: key.upstream.clone(),
        repository: key.repository.to_string(),
        reference: key.tag.to_string(),
        digest: None,
        reason: format!("cached pins of the tag dropped on every replica: {why}"),
        identity,
        signers: vec![],
        request_id: None,
    }
}

/// This replica's id: `HOSTNAME` (the pod name in Kubernetes) or a random one, with the
/// listen address (two processes on one host differ by it).
pub fn replica_id(state: &AppState) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(random_id);
    format!("{host}@{}", state.config.listen)
}

fn random_id() -> String {
    let mut bytes = [0u8; 6];
    // Filling only fails where the OS has no randomness; the address still tells apart.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    format!("replica-{}", hex::encode(bytes))
}

/// Registers this replica as `id` now, every [`HEARTBEAT`] and whenever its trust changed,
/// until the process ends, with the digests in force. A failing store is logged once per
/// outage.
pub async fn heartbeat(state: Arc<AppState>, id: String) {
    let started_at = crate::clock::now()
        .as_secs()
        .saturating_sub(state.started.elapsed().as_secs());
    let mut down = false;
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.fleet.trust_changed.notified() => {}
        }
        match register(&state, &id, started_at).await {
            Ok(()) if down => {
                down = false;
                tracing::info!(replica = %id, "fleet: registered again");
            }
            Ok(()) => {}
            Err(e) if !down => {
                down = true;
                tracing::warn!(replica = %id, error = %e, "fleet: cannot register; retrying");
            }
            Err(_) => {}
        }
    }
}

async fn register(state: &AppState, id: &str, started_at: u64) -> Result<(), StorageError> {
    let revocations = state.store.revocations().await?;
    let digests = state
        .trust_digests
        .load()
        .with_runtime(&crate::reload::revocations_json(&revocations));
    state
        .store
        .register_replica(ReplicaInfo {
            id: id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            policy_digest: digests.policy,
            trust_digest: digests.trust,
            started_at,
            last_seen: crate::clock::now().as_secs(),
        })
        .await
}

/// A replica as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    /// As registered.
    pub info: ReplicaInfo,
    /// Seconds since it last registered.
    pub seen_ago: u64,
    /// Seen within [`LIVE_WITHIN_SECS`].
    pub live: bool,
    /// Live, and its policy or trust digest is not the one most live replicas have (or no
    /// digest is held by more than half of them).
    pub drifted: bool,
}

/// The replicas as of `now`, drift flagged: for the policy digest and the trust digest each,
/// the value more than half the live replicas hold; a live replica holding another one (or any
/// one, when no value has such a majority) has drifted. Replicas not live are never drifted.
pub fn fleet_view(replicas: Vec<ReplicaInfo>, now: u64) -> Vec<ReplicaView> {
    let live = |r: &ReplicaInfo| now.saturating_sub(r.last_seen) <= LIVE_WITHIN_SECS;
    let majority = |digest: fn(&ReplicaInfo) -> &str| -> Option<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut total = 0;
        for r in replicas.iter().filter(|r| live(r)) {
            *counts.entry(digest(r)).or_default() += 1;
            total += 1;
        }
        counts
            .into_iter()
            .find(|(_, n)| *n * 2 > total)
            .map(|(value, _)| value.to_owned())
    };
    let policy = majority(|r| &r.policy_digest);
    let trust = majority(|r| &r.trust_digest);
    replicas
        .into_iter()
        .map(|info| {
            let is_live = live(&info);
            let drifted = is_live
                && (policy.as_deref() != Some(info.policy_digest.as_str())
                    || trust.as_deref() != Some(info.trust_digest.as_str()));
            ReplicaView {
                seen_ago: now.saturating_sub(info.last_seen),
                live: is_live,
                drifted,
                info,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(id: &str, policy: &str, trust: &str, last_seen: u64) -> ReplicaInfo {
        ReplicaInfo {
            id: id.into(),
            version: "0.1.0".into(),
            policy_digest: policy.into(),
            trust_digest: trust.into(),
            started_at: 0,
            last_seen,
        }
    }

    #[test]
    fn the_replica_whose_digest_differs_from_the_majority_is_drifted() {
        let view = fleet_view(
            vec![
                replica("a", "p1", "t1", 1000),
                replica("b", "p1", "t1", 995),
                replica("c", "p1", "t2", 990),
                // Long gone: neither counted nor flagged.
                replica("d", "p9", "t9", 100),
            ],
            1000,
        );
        let flags: Vec<(&str, bool, bool)> = view
            .iter()
            .map(|v| (v.info.id.as_str(), v.live, v.drifted))
            .collect();
        assert_eq!(
            flags,
            [
                ("a", true, false),
                ("b", true, false),
                ("c", true, true),
                ("d", false, false)
            ]
        );
        assert_eq!(view[2].seen_ago, 10);
    }

    #[test]
    fn without_a_majority_every_live_replica_is_drifted() {
        let view = fleet_view(
            vec![replica("a", "p1", "t1", 50), replica("b", "p2", "t1", 50)],
            60,
        );
        assert!(view.iter().all(|v| v.drifted));
        let agreed = fleet_view(
            vec![replica("a", "p1", "t1", 50), replica("b", "p1", "t1", 50)],
            60,
        );
        assert!(agreed.iter().all(|v| !v.drifted));
    }
}
