//! The quarantine expiry loop: held (quarantined) pushes whose TTL passed are dropped, each with
//! an audit event and a decision line.

use std::sync::Arc;
use std::time::Duration;

use sealgate_policies::time::UnixTime;
use sealgate_storage::AuditEvent;

use crate::clock::now;
use crate::decisions::log_gate_decision;
use crate::metrics::Reason;
use crate::state::AppState;
use crate::store_io::blocking;

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
                let event = AuditEvent {
                    at: at.as_secs(),
                    action: "expire".to_owned(),
                    outcome: "deny".to_owned(),
                    upstream: pending.key.upstream.clone(),
                    repository: pending.key.repository.to_string(),
                    reference: pending.key.tag.to_string(),
                    digest: Some(pending.digest.to_string()),
                    reason: format!(
                        "no valid signature arrived before {}",
                        UnixTime(pending.expires_at)
                    ),
                    identity: pending.pushed_by.clone(),
                    signers: vec![],
                    request_id: None,
                };
                // Logged the moment it is durable, like every other decision.
                if let Some((_, record)) = s.remove_pending(&pending.key, event)? {
                    let scope = policy.scope_for(&pending.key.repository).label();
                    log_gate_decision(&st.metrics, &record.event, Reason::QuarantineExpired, scope);
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
