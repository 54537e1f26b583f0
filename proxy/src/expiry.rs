//! The quarantine expiry loop: held (quarantined) pushes whose TTL passed are dropped, each with
//! an audit event and a decision line.

use std::sync::Arc;
use std::time::Duration;

use sealgate_policies::gate::expired;
use sealgate_policies::time::UnixTime;
use sealgate_storage::AuditEvent;

use crate::clock::now;
use crate::decisions::{audit_event, log_gate_decision};
use crate::error::ProxyError;
use crate::state::AppState;
use crate::store_io::held_fact;

/// Drops quarantined tags whose TTL passed, with an audit event each; runs until the process ends.
pub async fn expire_pending_loop(state: Arc<AppState>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        if let Err(e) = expire_once(&state, now()).await {
            tracing::error!(error = %e, "expiring quarantined tags failed");
        }
    }
}

/// One sweep at `at`: each expired tag is removed with its audit event in its own transaction
/// (a sweep never was one transaction), so a tag removed meanwhile is skipped, not audited.
async fn expire_once(state: &AppState, at: UnixTime) -> Result<(), ProxyError> {
    let policy = state.policy();
    for pending in state.store.expired_pending(at.as_secs()).await? {
        let Some(event) = expired(&pending.key.tag, &held_fact(&pending), at) else {
            continue;
        };
        let record = AuditEvent {
            at: at.as_secs(),
            ..audit_event(
                &event,
                &pending.key.upstream,
                &pending.key.repository,
                pending.pushed_by.as_deref(),
                None,
            )
        };
        // Logged the moment it is durable, like every other decision.
        if let Some((_, record)) = state.store.remove_pending(&pending.key, record).await? {
            let scope = policy.scope_for(&pending.key.repository).label();
            log_gate_decision(&state.metrics, &record.event, event.reason, scope);
        }
    }
    Ok(())
}
