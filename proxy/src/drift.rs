//! Drift: a pinned tag whose upstream tag has moved (or gone). Checked in the background when a
//! pull is answered from the pin, at most once per `pull.drift_check_interval`; reported once per
//! moved digest (for the whole fleet on one store: [`sealgate_storage::Store::record_drift_once`]),
//! and followed (the pin moved) only where the scope says so and the new digest is
//! admitted. The I/O is here; what to do is decided by [`decide_drift`] and [`decide_follow`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sealgate_policies::gate::{DriftFacts, DriftPlan, FollowPlan, decide_drift, decide_follow};
use sealgate_policies::oci::Digest;
use sealgate_storage::{PinKey, PinRequest};

use crate::clock::now;
use crate::decisions::{audit_event, log_gate_decision};
use crate::error::ProxyError;
use crate::manifest::sha256_digest;
use crate::push::pin_tag;
use crate::signatures::{MANIFEST_ACCEPT, Source};
use crate::state::AppState;
use crate::store_io::index_parents;
use crate::verdicts::{Discovery, verdict};

/// Starts a drift check of `key` in the background when the last one is older than
/// `pull.drift_check_interval`: the pull is answered from the pin without waiting.
pub(crate) fn check_drift_when_due(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    key: &PinKey,
    pinned: &Digest,
) {
    let interval = state.config.pull.drift_check_interval;
    let due = state
        .pull
        .drift_checked
        .get(key)
        .is_none_or(|at| at.elapsed() >= interval);
    if !due {
        return;
    }
    state.pull.drift_checked.insert(key.clone(), Instant::now());
    let state = state.clone();
    let key = key.clone();
    let pinned = pinned.clone();
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    tokio::spawn(async move {
        if let Err(e) = check_drift(&state, &key, &pinned, authorization.as_ref()).await {
            tracing::warn!(upstream = %key.upstream, repository = %key.repository, tag = %key.tag, error = %e, "drift check failed");
        }
    });
}

async fn check_drift(
    state: &Arc<AppState>,
    key: &PinKey,
    pinned: &Digest,
    authorization: Option<&HeaderValue>,
) -> Result<(), ProxyError> {
    let Some(upstream) = state.upstreams.named(&key.upstream) else {
        return Ok(());
    };
    let source = Source {
        state,
        upstream,
        name: &key.repository,
        authorization,
    };
    let headers = source.headers(header::ACCEPT, MANIFEST_ACCEPT);
    let head = source
        .get(Method::HEAD, &format!("manifests/{}", key.tag), &headers, 0)
        .await?;
    let current = match head.status {
        StatusCode::NOT_FOUND => None,
        status if status.is_success() => {
            let claimed = head
                .headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            match claimed {
                Some(d) => Some(d),
                None => match source.manifest(key.tag.as_str()).await? {
                    Some(fetched) => Some(sha256_digest(&fetched.body)),
                    None => None,
                },
            }
        }
        status => {
            tracing::debug!(tag = %key.tag, %status, "drift check: the upstream did not answer the tag");
            return Ok(());
        }
    };
    let policy = state.policy();
    let scope = policy.scope_for(&key.repository);
    // One report per moved digest, also when checks of the same tag overlap: the state seen is
    // recorded as it is read.
    let seen = current.as_ref().map_or("absent", |d| d.as_str()).to_owned();
    let already_reported = current.as_ref() != Some(pinned)
        && state.pull.drift_reported.insert(key.clone(), seen.clone()) == Some(seen);
    let plan = decide_drift(&DriftFacts {
        repository: &key.repository,
        tag: &key.tag,
        pinned,
        current: current.as_ref(),
        already_reported,
        follow_drift: scope.follow_drift,
    });
    let (event, follow) = match plan {
        DriftPlan::InSync => {
            state.pull.drift_reported.remove(key);
            return Ok(());
        }
        DriftPlan::Report { event, follow } => (event, follow),
        // Reported before, or a plan this check does not know: nothing to do.
        _ => return Ok(()),
    };
    let record = audit_event(&event, &key.upstream, &key.repository, None, None);
    // Once for every replica on the store: the one that records the move reports it (and
    // follows it); the others find it recorded and stay quiet. A tag gone from the upstream has
    // no digest to record, so each replica that sees it reports it.
    let reported = match &current {
        Some(moved_to) => {
            state
                .store
                .record_drift_once(key, moved_to, record.clone())
                .await?
        }
        None => {
            state.store.append_audit(record.clone()).await?;
            true
        }
    };
    if !reported {
        return Ok(());
    }
    state.pull.drift_events.fetch_add(1, Ordering::Relaxed);
    log_gate_decision(&state.metrics, &record, event.reason, scope.label());
    if let Some(moved_to) = follow {
        follow_drift(&source, key, pinned, &moved_to).await?;
    }
    Ok(())
}

/// Moves the pin to the upstream's new digest, only if that digest is admitted
/// ([`decide_follow`]); the old digest stays in the pin's history.
async fn follow_drift(
    source: &Source<'_>,
    key: &PinKey,
    pinned: &Digest,
    moved_to: &Digest,
) -> Result<(), ProxyError> {
    let Some(fetched) = source.manifest(moved_to.as_str()).await? else {
        return Ok(());
    };
    let policy = source.state.policy();
    let verdict = verdict(
        source,
        &policy,
        moved_to,
        Some(&key.tag),
        Some(&fetched.body),
        Discovery::Upstream,
    )
    .await?;
    let parents = index_parents(&source.state.store, &verdict, moved_to).await?;
    let (proof, event) = match decide_follow(&key.tag, pinned, moved_to, &verdict, &parents) {
        FollowPlan::Move { proof, event } => (proof, event),
        FollowPlan::Stay { reason } => {
            tracing::warn!(tag = %key.tag, %moved_to, %reason, "drift not followed: the new digest is not admitted");
            return Ok(());
        }
        // A plan this step does not know: the pin stays.
        _ => return Ok(()),
    };
    let _guard = source.state.tag_locks.lock(key).await?;
    let pin = PinRequest::admitted(proof, now().as_secs(), None, event.signers.clone());
    let record = audit_event(&event, &key.upstream, &key.repository, None, None);
    log_gate_decision(&source.state.metrics, &record, event.reason, &verdict.scope);
    pin_tag(source.state, key, pin, true, &event, record).await?;
    source.state.pull.drift_reported.remove(key);
    Ok(())
}
