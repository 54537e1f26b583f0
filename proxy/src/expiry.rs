//! The quarantine expiry loop: held (quarantined) pushes whose TTL passed are dropped, each with
//! an audit event and a decision line.

use std::sync::Arc;
use std::time::Duration;

use sealgate_policies::gate::expired;
use sealgate_storage::AuditEvent;

use crate::clock::now;
use crate::decisions::{audit_event, log_gate_decision};
use crate::state::AppState;
use crate::store_io::{blocking, held_fact};

/// Drops quarantined tags whose TTL passed, with an audit event each; runs until the process ends.
pub async fn expire_pending_loop(state: Arc<AppState>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let at = now();
        let policy = state.policy();
        let st = state.clone();
        let result = blocking(&state.store, move |s| {
            for pending in s.expired_pending(at.as_secs())? {
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
                if let Some((_, record)) = s.remove_pending(&pending.key, record)? {
                    let scope = policy.scope_for(&pending.key.repository).label();
                    log_gate_decision(&st.metrics, &record.event, event.reason, scope);
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "expiring quarantined tags failed");
        }
    }
}
