//! The push gate's decisions: a manifest pushed by tag, and signature intake.

use super::event::{Action, AuditOutcome, GateEvent, ReasonCode};
use super::proof::{PinWarrant, resolve_proof, signer_names};
use super::tag::{HeldFact, ManifestFacts, PinFact, TagRole};
use crate::config::{Mode, UnsignedPush};
use crate::oci::{Digest, RepoName, Tag};
use crate::policy::Scope;
use crate::time::UnixTime;
use crate::verdict::{Admitted, Verdict};

/// What a manifest push by tag is decided on.
#[derive(Debug, Clone, Copy)]
pub struct PushFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The tag pushed.
    pub tag: &'a Tag,
    /// The digest of the bytes received.
    pub digest: &'a Digest,
    /// The scope governing the repository.
    pub scope: &'a Scope,
    /// Who pushes (`None`: unidentified).
    pub identity: Option<&'a str>,
    /// What the manifest is, for the tag's role ([`TagRole::admits`]).
    pub manifest: ManifestFacts<'a>,
    /// The tag's pin.
    pub pin: Option<&'a PinFact>,
    /// The push held for the tag.
    pub held: Option<&'a HeldFact>,
    /// The verdict on the digest, once computed (`None`: not yet).
    pub verdict: Option<&'a Verdict>,
    /// The indexes recorded as listing the digest: a verdict admitting one of them admits it.
    pub index_parents: &'a [Digest],
    /// The time.
    pub now: UnixTime,
}

/// What to do with a manifest push by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushPlan {
    /// Refuse (403 DENIED with `event.message`), audited.
    Refuse {
        /// The refusal.
        event: GateEvent,
    },
    /// The digest the tag is pinned to, again: forward it, change nothing, audit.
    Repush {
        /// The audit event.
        event: GateEvent,
    },
    /// Only the verdict is missing: compute it and decide again.
    Verify,
    /// A tag about an image (cosign's `.sig`, `.att`, `.sbom`, the referrers fallback tag),
    /// holding material its role admits. It is never pinned: `.sig` tags and attachments
    /// carrying signatures go through signature intake ([`decide_signatures`]), the fallback
    /// tag lists only referrers seen here ([`fallback_stranger`]), anything else is forwarded.
    Material(TagRole),
    /// Forward under the tag, then pin it.
    Pin {
        /// What lets the tag be pinned to the digest.
        warrant: PinWarrant,
        /// The tag may move later.
        mutable: bool,
        /// The pin's audit event.
        event: GateEvent,
        /// The `Warning` header to add (warn mode).
        warning: Option<String>,
    },
    /// Forward by digest only and hold the tag until the digest is signed.
    Quarantine {
        /// When the hold ends.
        expires_at: u64,
        /// The audit event; its message is also the `Warning` header.
        event: GateEvent,
    },
}

/// Decides a manifest push by tag: the tag's role (what it may hold), then for an image tag
/// its pin (immutability, idempotent re-push, mutable tags), then the verdict (admit, reject
/// or quarantine, or warn/audit).
pub fn decide_push(facts: &PushFacts<'_>) -> PushPlan {
    let PushFacts {
        repository: name,
        tag,
        digest,
        scope,
        ..
    } = *facts;
    let role = TagRole::of(tag);
    let refuse = |action, reason, message| PushPlan::Refuse {
        event: GateEvent::new(
            action,
            AuditOutcome::Deny,
            reason,
            tag.as_str(),
            digest,
            message,
        ),
    };
    if let Err(misfit) = role.admits(name, tag, &facts.manifest) {
        return refuse(role.action(), misfit.reason, misfit.message);
    }
    if role != TagRole::Image {
        return PushPlan::Material(role);
    }
    let mutable = scope.tag_is_mutable(tag);
    if let Some(pin) = facts.pin {
        if pin.digest == *digest {
            return PushPlan::Repush {
                event: GateEvent::new(
                    Action::Push,
                    AuditOutcome::Allow,
                    ReasonCode::SameDigest,
                    tag.as_str(),
                    digest,
                    "same digest as the pin".to_owned(),
                )
                .signed_by(pin.signers.clone()),
            };
        }
        if !mutable {
            return refuse(
                Action::Push,
                ReasonCode::TagPinned,
                format!(
                    "tag {name}:{tag} is pinned to {} and tags are immutable here; push this image \
                     under a new tag (or ask an administrator to retire the pin)",
                    pin.digest
                ),
            );
        }
    }
    let Some(verdict) = facts.verdict else {
        return PushPlan::Verify;
    };
    let code = ReasonCode::of_verdict(verdict);
    let pin = |admitted: Option<Admitted>, outcome, warning| PushPlan::Pin {
        warrant: PinWarrant::new(digest, admitted, verdict.mode),
        mutable,
        event: GateEvent::new(
            Action::Push,
            outcome,
            code,
            tag.as_str(),
            digest,
            verdict.explain(),
        )
        .signed_by(signer_names(verdict)),
        warning,
    };
    match (verdict.admitted(), verdict.mode) {
        (Some(_), _) => match resolve_proof(verdict, digest, facts.index_parents) {
            Some(proof) => pin(Some(proof), AuditOutcome::Allow, None),
            // A verdict about another digest: nothing here is admitted by it.
            None => refuse(
                Action::Push,
                ReasonCode::WrongSubject,
                format!(
                    "{name}:{tag} ({digest}) was not verified: the verdict given admits {}",
                    verdict.admitted_digest().map_or("-", |d| d.as_str())
                ),
            ),
        },
        (None, Mode::Warn) => pin(
            None,
            AuditOutcome::Warn,
            Some(format!(
                "not admitted, allowed by warn mode: {}",
                verdict.explain()
            )),
        ),
        (None, Mode::Audit) => pin(None, AuditOutcome::Audit, None),
        (None, Mode::Enforce) => match scope.unsigned_push {
            UnsignedPush::Reject => refuse(
                Action::Push,
                code,
                format!(
                    "{name}:{tag} ({digest}) is not signed by the signers this repository requires \
                     ({}). Push the image by digest, sign that digest (e.g. cosign sign \
                     {name}@{digest}), then push the tag again. Details: {}",
                    scope.signers.join(", "),
                    verdict.explain()
                ),
            ),
            UnsignedPush::Quarantine => quarantine(facts, verdict, code),
        },
    }
}

/// An unsigned push in a quarantine scope. A live held push of another digest is replaced only
/// by the identity that made it: otherwise anyone allowed to push could swap CI's held image
/// for theirs just before CI signs it.
fn quarantine(facts: &PushFacts<'_>, verdict: &Verdict, code: ReasonCode) -> PushPlan {
    let PushFacts {
        repository: name,
        tag,
        digest,
        ..
    } = *facts;
    if let Some(held) = facts.held
        && held.digest != *digest
        && held.expires_at > facts.now.as_secs()
        && held.pushed_by.as_deref() != facts.identity
    {
        return PushPlan::Refuse {
            event: GateEvent::new(
                Action::Quarantine,
                AuditOutcome::Deny,
                ReasonCode::HeldForAnother,
                tag.as_str(),
                digest,
                format!(
                    "{name}:{tag} is held for {} (pushed by {}) until {}; only that pusher may \
                     replace it. Sign that digest, wait until it expires, or push a signed image: \
                     a signed push pins the tag",
                    held.digest,
                    held.pushed_by
                        .as_deref()
                        .unwrap_or("an unidentified client"),
                    UnixTime(held.expires_at)
                ),
            ),
        };
    }
    let expires_at = facts
        .now
        .as_secs()
        .saturating_add(facts.scope.quarantine_ttl.as_secs());
    PushPlan::Quarantine {
        expires_at,
        event: GateEvent::new(
            Action::Quarantine,
            AuditOutcome::Quarantine,
            code,
            tag.as_str(),
            digest,
            format!(
                "{name}:{tag} is held until {digest} is signed (until {}); sign it and the tag \
                 appears. {}",
                UnixTime(expires_at),
                verdict.explain()
            ),
        ),
    }
}

/// The refusal when a tag was pinned by another request between the decision and the pin
/// (cannot happen under the tag's lock; the proxy fails closed if it does).
pub fn pinned_meanwhile(name: &RepoName, tag: &Tag, existing: &Digest) -> String {
    format!("tag {name}:{tag} was pinned to {existing} meanwhile")
}

/// One signature layer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerCheck {
    /// It satisfied this signer.
    Accepted {
        /// The signer's name.
        signer: String,
    },
    /// It satisfied nobody.
    Refused {
        /// The layer's verdict, explained.
        explanation: String,
        /// Its reason label.
        reason: ReasonCode,
    },
}

impl LayerCheck {
    /// The check of a layer from its own verdict (evaluated with that layer alone).
    pub fn of_verdict(verdict: &Verdict) -> Self {
        match verdict.satisfied.first() {
            Some(s) => Self::Accepted {
                signer: s.signer.clone(),
            },
            None => Self::Refused {
                explanation: verdict.explain(),
                reason: ReasonCode::of_verdict(verdict),
            },
        }
    }
}

/// What signature intake (a `.sig` tag, or a referrer carrying signatures) is decided on.
#[derive(Debug, Clone, Copy)]
pub struct SignatureFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The tag or digest the manifest is pushed under, as the request named it.
    pub reference: &'a str,
    /// The image the signatures are about.
    pub subject: &'a Digest,
    /// The scope's mode.
    pub mode: Mode,
    /// Layers the `.sig` tag held before (empty for a referrer).
    pub previous: &'a [Digest],
    /// The new manifest's layers (by identity; unparsable ones left out).
    pub layers: &'a [Digest],
    /// Each layer not accepted before, checked (`None`: not yet).
    pub checks: Option<&'a [LayerCheck]>,
}

/// What to do with signature intake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignaturePlan {
    /// Refuse (403 DENIED with `event.message`), audited.
    Refuse {
        /// The refusal.
        event: GateEvent,
    },
    /// Append-only holds: verify the new layers and decide again.
    Verify,
    /// Forward, record the accepted layers, audit, promote held tags.
    Accept {
        /// The audit event.
        event: GateEvent,
        /// The `Warning` header to add (layers refused in warn mode).
        warning: Option<String>,
    },
}

/// Decides signature intake: `.sig` tags only grow; in enforce mode every new layer must
/// satisfy a signer, elsewhere refused layers are let through with a warning or audit.
pub fn decide_signatures(facts: &SignatureFacts<'_>) -> SignaturePlan {
    let SignatureFacts {
        repository: name,
        reference,
        subject,
        ..
    } = *facts;
    if facts.previous.iter().any(|d| !facts.layers.contains(d)) {
        return SignaturePlan::Refuse {
            event: GateEvent::new(
                Action::Signature,
                AuditOutcome::Deny,
                ReasonCode::AppendOnly,
                reference,
                subject,
                format!(
                    "{name}:{reference} is append-only: the new manifest drops an earlier signature \
                     layer; keep every earlier layer and add yours"
                ),
            ),
        };
    }
    let Some(checks) = facts.checks else {
        return SignaturePlan::Verify;
    };
    let mut signers = Vec::new();
    let mut refused = Vec::new();
    let mut reasons = Vec::new();
    for check in checks {
        match check {
            LayerCheck::Accepted { signer } => signers.push(signer.clone()),
            LayerCheck::Refused {
                explanation,
                reason,
            } => {
                refused.push(explanation.clone());
                reasons.push(*reason);
            }
        }
    }
    let code = ReasonCode::most_telling(reasons).unwrap_or(ReasonCode::SignatureVerified);
    if !refused.is_empty() && facts.mode == Mode::Enforce {
        return SignaturePlan::Refuse {
            event: GateEvent::new(
                Action::Signature,
                AuditOutcome::Deny,
                code,
                reference,
                subject,
                format!(
                    "signature for {name}@{subject} refused: {}",
                    summarise(&refused)
                ),
            )
            .signed_by(signers),
        };
    }
    let (outcome, message) = if refused.is_empty() {
        (
            AuditOutcome::Allow,
            format!("signature layers verified for {subject}"),
        )
    } else {
        (
            AuditOutcome::Warn,
            format!(
                "accepted by {:?} mode despite: {}",
                facts.mode,
                summarise(&refused)
            ),
        )
    };
    let warning = (!refused.is_empty() && facts.mode != Mode::Audit).then(|| message.clone());
    SignaturePlan::Accept {
        event: GateEvent::new(
            Action::Signature,
            outcome,
            code,
            reference,
            subject,
            message,
        )
        .signed_by(signers),
        warning,
    }
}

/// The first few refusal reasons, and how many more there are: a manifest may hold hundreds of
/// refused layers, and the message goes to the client, the log and the audit event.
pub fn summarise(refused: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = refused
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if refused.len() > SHOWN {
        text.push_str(&format!(
            "; and {} more layer(s) refused",
            refused.len() - SHOWN
        ));
    }
    text
}

/// The refusal of a referrers fallback index (under `tag`, about `subject`) listing `stranger`,
/// a manifest sealgate did not see pushed as a referrer of `subject`: the tag lists referrers,
/// not an arbitrary manifest that a client reading it would pick as an image.
pub fn fallback_stranger(
    name: &RepoName,
    tag: &Tag,
    digest: &Digest,
    subject: &Digest,
    stranger: &Digest,
) -> GateEvent {
    GateEvent::new(
        Action::Push,
        AuditOutcome::Deny,
        ReasonCode::NotForThisTag,
        tag.as_str(),
        digest,
        format!(
            "{name}:{tag} is the referrers fallback tag of {subject}, and {stranger} is not a \
             referrer of it pushed here: push each referrer (a manifest whose subject is \
             {subject}) before the index that lists it"
        ),
    )
}
