//! Decision logging: every gate decision (and every administrator's action) is one log line,
//! target `sealgate::decision`; gate decisions are also counted in the metrics.

use sealgate_policies::gate::GateEvent;
use sealgate_policies::oci::RepoName;
use sealgate_storage::AuditEvent;

use crate::clock::now;
use crate::metrics::{Metrics, Reason};

/// The audit event of a gate's decision: the gate's typed event (action, outcome, message,
/// reference, digest, signers) with what only the proxy knows about the request.
pub(crate) fn audit_event(
    event: &GateEvent,
    upstream: &str,
    repository: &RepoName,
    identity: Option<&str>,
    request_id: Option<String>,
) -> AuditEvent {
    AuditEvent {
        at: now().as_secs(),
        action: event.action.as_str().to_owned(),
        outcome: event.outcome.as_str().to_owned(),
        upstream: upstream.to_owned(),
        repository: repository.to_string(),
        reference: event.reference.clone(),
        digest: event.digest.as_ref().map(ToString::to_string),
        reason: event.message.clone(),
        identity: identity.map(str::to_owned),
        signers: event.signers.clone(),
        request_id,
    }
}

/// Logs a decision that is not a gate's (an administrator's action): one line, target
/// `sealgate::decision`, like [`log_gate_decision`] but not counted in the metrics.
pub(crate) fn log_decision(event: &AuditEvent) {
    emit_decision(event, "-", "-");
}

/// Logs a gate decision (one line, target `sealgate::decision`; with `--log-format json`, one
/// JSON object) and counts it in `sealgate_decisions_total`. `reason` is the bounded label;
/// the event's free-text reason is logged in full. Every gate decision goes through here.
pub(crate) fn log_gate_decision(
    metrics: &Metrics,
    event: &AuditEvent,
    reason: Reason,
    scope: &str,
) {
    metrics.decision(&event.action, &event.outcome, reason, scope);
    emit_decision(event, scope, reason.as_str());
}

fn emit_decision(event: &AuditEvent, scope: &str, reason_code: &str) {
    // The free-text reason stays last: `grep … | sed 's/^.*reason=//'` reads it whole.
    tracing::info!(
        target: "sealgate::decision",
        request_id = event.request_id.as_deref().unwrap_or("-"),
        action = %event.action,
        outcome = %event.outcome,
        upstream = %event.upstream,
        repository = %event.repository,
        reference = %event.reference,
        digest = event.digest.as_deref().unwrap_or("-"),
        signers = %signers_text(&event.signers),
        identity = event.identity.as_deref().unwrap_or("-"),
        scope,
        reason_code,
        reason = %event.reason,
        "decision"
    );
}

/// Signer names separated by commas, `-` for none (a plain string in JSON logs as in text).
fn signers_text(signers: &[String]) -> String {
    if signers.is_empty() {
        "-".to_owned()
    } else {
        signers.join(",")
    }
}
