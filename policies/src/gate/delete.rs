//! Deletes of content a pinned or held tag needs.

use std::collections::BTreeSet;

use super::event::{Action, AuditOutcome, GateEvent, ReasonCode};
use crate::config::Mode;
use crate::oci::Digest;
use crate::oci::Tag;
use crate::policy::Scope;

/// A tag that needs the content a delete would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The tag.
    pub tag: Tag,
    /// The digest it is pinned to, or held for.
    pub digest: Digest,
    /// Pinned (else held in quarantine).
    pub pinned: bool,
    /// It names the deleted content itself (not an index listing it, nor a manifest listing a
    /// deleted blob): a successful delete orphans it ([`orphaned`]).
    pub direct: bool,
}

impl Guard {
    /// `tag pinned to digest` / `tag held for digest`.
    pub fn describe(&self) -> String {
        let how = if self.pinned { "pinned to" } else { "held for" };
        format!("{} {how} {}", self.tag, self.digest)
    }
}

/// What a delete is decided on.
#[derive(Debug, Clone, Copy)]
pub struct DeleteFacts<'a> {
    /// The scope governing the repository.
    pub scope: &'a Scope,
    /// What is deleted, in words (`tag n:t`, `manifest n@d`, `blob d of n`).
    pub what: &'a str,
    /// The reference as the request named it.
    pub reference: &'a str,
    /// The content concerned (the digest deleted, or for a tag, what it names).
    pub digest: Option<&'a Digest>,
    /// The tags that need it.
    pub guards: &'a [Guard],
}

/// What to do with a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeletePlan {
    /// Nothing pinned or held needs it: forward.
    Unprotected,
    /// Protected, but the scope allows it: audit, forward, retire what it orphans.
    Allow {
        /// The audit event.
        event: GateEvent,
    },
    /// Refuse (405 UNSUPPORTED with `event.message`), audited.
    Refuse {
        /// The refusal.
        event: GateEvent,
    },
}

/// Decides a delete: content a pinned or held tag needs is deleted only in an audit scope
/// where every tag involved may move.
pub fn decide_delete(facts: &DeleteFacts<'_>) -> DeletePlan {
    let DeleteFacts {
        scope,
        what,
        guards,
        ..
    } = *facts;
    if guards.is_empty() {
        return DeletePlan::Unprotected;
    }
    let needed = guards
        .iter()
        .map(Guard::describe)
        .collect::<Vec<_>>()
        .join(", ");
    let mut why = Vec::new();
    match scope.mode {
        Mode::Audit => {}
        Mode::Warn => why.push(format!("the scope {} is in warn mode", scope.label())),
        Mode::Enforce => why.push(format!("the scope {} is in enforce mode", scope.label())),
    }
    let fixed: BTreeSet<&str> = guards
        .iter()
        .filter(|g| !scope.tag_is_mutable(&g.tag))
        .map(|g| g.tag.as_str())
        .collect();
    if !fixed.is_empty() {
        why.push(format!(
            "tags are immutable here ({})",
            fixed.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let event = |outcome, message| GateEvent {
        action: Action::Delete,
        outcome,
        reason: ReasonCode::Protected,
        message,
        reference: facts.reference.to_owned(),
        digest: facts.digest.cloned(),
        signers: Vec::new(),
    };
    if why.is_empty() {
        DeletePlan::Allow {
            event: event(
                AuditOutcome::Audit,
                format!(
                    "{what} deleted, needed by {needed}: allowed in the audit scope {}, where these \
                     tags may move",
                    scope.label()
                ),
            ),
        }
    } else {
        DeletePlan::Refuse {
            event: event(
                AuditOutcome::Deny,
                format!(
                    "{what} is not deleted: {needed} needs it, and {}. Deleting what a pinned or \
                     held tag needs is allowed only in a scope with mode = \"audit\" whose tags \
                     may move; an administrator can retire a pin first (sealgate admin retire-pin)",
                    why.join(", and ")
                ),
            ),
        }
    }
}

/// The event of a pin retired, or a held push dropped, because `what` was deleted through
/// sealgate in the audit scope `scope` (a [`Guard::direct`] one).
pub fn orphaned(what: &str, scope: &str, guard: &Guard) -> GateEvent {
    let (action, message) = if guard.pinned {
        (
            Action::RetirePin,
            format!(
                "{what} was deleted through sealgate (audit scope {scope}); the pin is retired and \
                 the tag is free"
            ),
        )
    } else {
        (
            Action::ClearPending,
            format!(
                "{what} was deleted through sealgate (audit scope {scope}); the held push is dropped"
            ),
        )
    };
    GateEvent::new(
        action,
        AuditOutcome::Allow,
        ReasonCode::PinOrphaned,
        guard.tag.as_str(),
        &guard.digest,
        message,
    )
}
