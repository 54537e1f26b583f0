//! Held (quarantined) pushes after the push: released by a signature, dropped when their tag is
//! pinned or their hold expires.

use super::event::{Action, AuditOutcome, GateEvent, ReasonCode};
use super::proof::{resolve_proof, signer_names};
use super::tag::{HeldFact, PinFact};
use crate::oci::{Digest, RepoName, Tag};
use crate::policy::Scope;
use crate::time::UnixTime;
use crate::verdict::{Admitted, Verdict};

/// What the release of a held push is decided on, read under the tag's lock.
#[derive(Debug, Clone, Copy)]
pub struct PromoteFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The held tag.
    pub tag: &'a Tag,
    /// The digest a signature just arrived for (the held one, as it was read before the lock).
    pub subject: &'a Digest,
    /// The scope governing the repository.
    pub scope: &'a Scope,
    /// The verdict on `subject`, from the manifest the upstream holds.
    pub verdict: &'a Verdict,
    /// The tag's held push now.
    pub held: Option<&'a HeldFact>,
    /// The tag's pin now.
    pub pin: Option<&'a PinFact>,
    /// The indexes recorded as listing `subject`: a verdict admitting one of them admits it
    /// (a signed index admits its children), as it does on a push.
    pub index_parents: &'a [Digest],
}

/// What to do with a held push once its digest may be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromotePlan {
    /// Not admitted yet, or the hold changed meanwhile: leave it.
    Wait,
    /// Signed, but its tag is pinned to another digest and may not move: drop the held push.
    Drop {
        /// The `clear-pending` event.
        event: GateEvent,
    },
    /// Push the manifest under the tag upstream, then pin it, releasing the hold.
    Release {
        /// The proof for the released digest.
        proof: Admitted,
        /// The tag may move later.
        mutable: bool,
        /// The pin's audit event.
        event: GateEvent,
        /// The audit event of the released hold.
        released: GateEvent,
    },
}

/// Decides the release of a held push: only an admitted digest is released, only while it is
/// still the one held, and never over an immutable pin of another digest (the registry's tag
/// would move under the pin).
pub fn decide_promote(facts: &PromoteFacts<'_>) -> PromotePlan {
    let PromoteFacts {
        repository: name,
        tag,
        subject,
        verdict,
        ..
    } = *facts;
    let Some(proof) = resolve_proof(verdict, subject, facts.index_parents) else {
        return PromotePlan::Wait;
    };
    if facts.held.is_none_or(|h| h.digest != *subject) {
        return PromotePlan::Wait;
    }
    let mutable = facts.scope.tag_is_mutable(tag);
    let event = |outcome, reason, message| {
        GateEvent::new(
            Action::Promote,
            outcome,
            reason,
            tag.as_str(),
            subject,
            message,
        )
        .signed_by(signer_names(verdict))
    };
    if let Some(pin) = facts.pin
        && pin.digest != *subject
        && !mutable
    {
        return PromotePlan::Drop {
            event: GateEvent {
                action: Action::ClearPending,
                ..event(
                    AuditOutcome::Deny,
                    ReasonCode::PendingSuperseded,
                    format!(
                        "signed, but {name}:{tag} is pinned to {} and tags are immutable here; the \
                         held push is dropped",
                        pin.digest
                    ),
                )
            },
        };
    }
    PromotePlan::Release {
        proof,
        mutable,
        event: event(
            AuditOutcome::Allow,
            ReasonCode::Admitted,
            format!("signed; tag released: {}", verdict.explain()),
        ),
        released: event(
            AuditOutcome::Allow,
            ReasonCode::Admitted,
            "no longer pending".to_owned(),
        ),
    }
}

/// The `clear-pending` event of a held push dropped because its tag was pinned by `pinned`
/// (the pin's own event): once a tag is pinned, an unsigned push held before must not keep it
/// answering "awaits a signature", nor be promoted over the pin later.
pub fn superseded(pinned: &GateEvent, held: &HeldFact) -> GateEvent {
    GateEvent {
        action: Action::ClearPending,
        outcome: AuditOutcome::Deny,
        reason: ReasonCode::PendingSuperseded,
        message: format!(
            "the held push of {} (by {}) is dropped: the tag is pinned ({} of {})",
            held.digest,
            held.pushed_by
                .as_deref()
                .unwrap_or("an unidentified client"),
            pinned.action,
            pinned.digest.as_ref().map_or("-", Digest::as_str)
        ),
        reference: pinned.reference.clone(),
        digest: Some(held.digest.clone()),
        signers: Vec::new(),
    }
}

/// The `expire` event of a held push whose hold ended without a valid signature, if it has
/// ended at `now`.
pub fn expired(tag: &Tag, held: &HeldFact, now: UnixTime) -> Option<GateEvent> {
    (held.expires_at <= now.as_secs()).then(|| {
        GateEvent::new(
            Action::Expire,
            AuditOutcome::Deny,
            ReasonCode::QuarantineExpired,
            tag.as_str(),
            &held.digest,
            format!(
                "no valid signature arrived before {}",
                UnixTime(held.expires_at)
            ),
        )
    })
}
