//! The gates' decisions, pure: the proxy gathers the facts (scope, the tag's role, the pin and
//! the held push, earlier `.sig` layers, the verdict, the request), calls one function here,
//! and carries out the plan it gets back. Nothing here does I/O or reads the clock: `now` is a
//! fact like any other.
//!
//! - [`decide_push`]: a manifest pushed by tag (immutability, idempotent re-push, mutable tags,
//!   reject vs quarantine, a push held for another pusher, warn/audit modes).
//! - [`decide_signatures`]: a `.sig` tag or a signature referrer (append-only, refused layers).
//! - [`route_tag`], [`decide_pull`]: a manifest pulled (the pin before a held push, first
//!   verified pull, signed index children, warn/audit modes).
//! - [`decide_blob`]: blob pulls under `gate_blobs`.
//! - [`decide_drift`], [`decide_follow`]: an upstream tag that moved, reported and followed.
//! - [`decide_delete`]: deletes of content a pinned or held tag needs.
//!
//! Every plan that makes content pullable carries an [`Admitted`] proof bound to the digest it
//! admits (or, where a warn/audit scope lets unverified content through, a [`PinWarrant`] that
//! says so); every plan carries its [`GateEvent`]: the typed action, outcome and reason of the
//! audit event, the decision log line and the metrics label, and the message a client sees.
//! Message texts are the ones the proxy sends today, word for word.

use std::collections::BTreeSet;
use std::fmt;

use crate::config::{Mode, UnsignedPush};
use crate::cosign::SignatureFailure;
use crate::oci::{Digest, RepoName, Tag};
use crate::pki::ChainError;
use crate::policy::Scope;
use crate::time::UnixTime;
use crate::verdict::{Admitted, Decision, DenyReason, FailureReason, Verdict};

#[cfg(test)]
mod tests;

/// What a decision is about: the audit event's `action` and the metrics' `action` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A manifest pushed (or refused) under a tag.
    Push,
    /// Signature intake: a `.sig` tag or a signature referrer.
    Signature,
    /// An unsigned push held until it is signed.
    Quarantine,
    /// A held push released by its signature.
    Promote,
    /// A held push whose TTL passed.
    Expire,
    /// A manifest pulled.
    Pull,
    /// A tag pinned on its first verified pull.
    Pin,
    /// The upstream's tag moved away from the pin.
    Drift,
    /// The pin moved to the upstream's new, admitted digest.
    FollowDrift,
    /// A held push dropped.
    ClearPending,
    /// A delete of protected content.
    Delete,
    /// A pin retired (its content was deleted, or an administrator retired it).
    RetirePin,
}

impl Action {
    /// The label (and the audit event's `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Signature => "signature",
            Self::Quarantine => "quarantine",
            Self::Promote => "promote",
            Self::Expire => "expire",
            Self::Pull => "pull",
            Self::Pin => "pin",
            Self::Drift => "drift",
            Self::FollowDrift => "follow-drift",
            Self::ClearPending => "clear-pending",
            Self::Delete => "delete",
            Self::RetirePin => "retire-pin",
        }
    }
}

/// What came of a decision: the audit event's `outcome` and the metrics' `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditOutcome {
    /// Admitted, or allowed.
    Allow,
    /// Refused.
    Deny,
    /// Not admitted, let through by warn mode.
    Warn,
    /// Not admitted, let through by audit mode.
    Audit,
    /// Held until signed.
    Quarantine,
    /// The upstream moved.
    Drift,
}

impl AuditOutcome {
    /// The label (and the audit event's `outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Warn => "warn",
            Self::Audit => "audit",
            Self::Quarantine => "quarantine",
            Self::Drift => "drift",
        }
    }
}

/// Why, as a bounded label (`reason` of `sealgate_decisions_total`, `reason_code` of the log
/// line). The same values as the proxy's metrics reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// Signed by enough of the scope's signers.
    Admitted,
    /// The same digest pushed again under its pinned tag.
    SameDigest,
    /// A signature manifest whose layers all verified.
    SignatureVerified,
    /// No signature at all.
    Unsigned,
    /// The scope lists no signers.
    NoSigners,
    /// Some signers satisfied, not enough of them.
    NotEnoughSigners,
    /// Signatures that verify for none of the scope's signers.
    InvalidSignature,
    /// A revoked key or certificate.
    Revoked,
    /// A certificate on the path had expired at the time checked.
    Expired,
    /// A certificate on the path was not valid yet at the time checked.
    NotYetValid,
    /// A loaded CRL is past its nextUpdate.
    CrlExpired,
    /// The certificate does not chain to a configured root (or a CA is misused).
    UntrustedChain,
    /// The certificate names another identity than the signer requires.
    IdentityMismatch,
    /// The signature (or the material under a tag) is for another digest.
    WrongSubject,
    /// Transparency-log or certificate-transparency evidence missing or invalid.
    Transparency,
    /// An RFC 3161 timestamp that does not verify.
    Timestamp,
    /// The tag is pinned to another digest and tags are immutable.
    TagPinned,
    /// A cosign `.sig` tag re-pushed without an earlier layer.
    AppendOnly,
    /// A quarantined tag whose TTL passed without a valid signature.
    QuarantineExpired,
    /// The upstream's tag now names another digest.
    UpstreamMoved,
    /// The upstream no longer has the pinned tag.
    UpstreamMissing,
    /// A manifest of a kind its tag may not hold.
    NotForThisTag,
    /// A held push dropped because its tag was pinned meanwhile.
    PendingSuperseded,
    /// An unsigned push of a tag held for another pusher's digest.
    HeldForAnother,
    /// A delete of content a pinned or held tag needs.
    Protected,
    /// A pin retired because its manifest or tag was deleted.
    PinOrphaned,
}

impl ReasonCode {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::SameDigest => "same_digest",
            Self::SignatureVerified => "signature_verified",
            Self::Unsigned => "unsigned",
            Self::NoSigners => "no_signers",
            Self::NotEnoughSigners => "not_enough_signers",
            Self::InvalidSignature => "invalid_signature",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::CrlExpired => "crl_expired",
            Self::UntrustedChain => "untrusted_chain",
            Self::IdentityMismatch => "identity_mismatch",
            Self::WrongSubject => "wrong_subject",
            Self::Transparency => "transparency",
            Self::Timestamp => "timestamp",
            Self::TagPinned => "tag_pinned",
            Self::AppendOnly => "append_only",
            Self::QuarantineExpired => "quarantine_expired",
            Self::UpstreamMoved => "upstream_moved",
            Self::UpstreamMissing => "upstream_missing",
            Self::NotForThisTag => "not_for_this_tag",
            Self::PendingSuperseded => "pending_superseded",
            Self::HeldForAnother => "held_for_another",
            Self::Protected => "protected",
            Self::PinOrphaned => "pin_orphaned",
        }
    }

    /// The reason of a verdict: admitted, or why not. When signatures failed, the most telling
    /// failure names it (a revoked key says more than the mismatches against other signers).
    pub fn of_verdict(verdict: &Verdict) -> Self {
        match &verdict.decision {
            Decision::Allow(_) => Self::Admitted,
            Decision::Deny(DenyReason::Unsigned) => Self::Unsigned,
            Decision::Deny(DenyReason::NoSigners) => Self::NoSigners,
            Decision::Deny(_) => {
                let specific = Self::most_telling(
                    verdict
                        .failures
                        .iter()
                        .filter_map(|f| Self::of_failure(&f.reason)),
                );
                match specific {
                    Some(reason) => reason,
                    None if verdict.satisfied.is_empty() => Self::InvalidSignature,
                    None => Self::NotEnoughSigners,
                }
            }
        }
    }

    /// The specific reason a signature failed, or `None` when it merely does not verify for a
    /// signer (another signer's key, bad bytes).
    fn of_failure(failure: &FailureReason) -> Option<Self> {
        let signature = match failure {
            FailureReason::KeyRevoked { .. } | FailureReason::CertRevoked { .. } => {
                return Some(Self::Revoked);
            }
            FailureReason::Signature(s) => s,
            _ => return None,
        };
        Some(match signature {
            SignatureFailure::Chain(chain) => match chain {
                ChainError::Revoked => Self::Revoked,
                ChainError::Expired { .. } => Self::Expired,
                ChainError::NotYetValid { .. } => Self::NotYetValid,
                ChainError::CrlExpired { .. } => Self::CrlExpired,
                _ => Self::UntrustedChain,
            },
            SignatureFailure::CaNotValidAt { .. } => Self::UntrustedChain,
            SignatureFailure::Identity(_) => Self::IdentityMismatch,
            SignatureFailure::DigestMismatch { .. }
            | SignatureFailure::ReferenceMismatch { .. } => Self::WrongSubject,
            SignatureFailure::TlogMissing
            | SignatureFailure::Tlog(_)
            | SignatureFailure::TlogBodyMismatch { .. }
            | SignatureFailure::Sct(_) => Self::Transparency,
            SignatureFailure::Timestamp(_) => Self::Timestamp,
            _ => return None,
        })
    }

    /// The most telling of several reasons (revocation first), if any.
    pub fn most_telling(reasons: impl IntoIterator<Item = Self>) -> Option<Self> {
        reasons.into_iter().min_by_key(|r| r.rank())
    }

    /// Lower is more telling.
    fn rank(self) -> u8 {
        match self {
            Self::Revoked => 0,
            Self::Expired => 1,
            Self::NotYetValid => 2,
            Self::CrlExpired => 3,
            Self::IdentityMismatch => 4,
            Self::WrongSubject => 5,
            Self::UntrustedChain => 6,
            Self::Transparency => 7,
            Self::Timestamp => 8,
            Self::NotEnoughSigners => 9,
            Self::InvalidSignature => 10,
            _ => 11,
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(Action, AuditOutcome, ReasonCode);

/// One decision as the audit log, the decision log line and the metrics see it. The proxy adds
/// what it alone knows (time, upstream, repository, identity, request id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateEvent {
    /// What was decided about.
    pub action: Action,
    /// What came of it.
    pub outcome: AuditOutcome,
    /// Why, as a label.
    pub reason: ReasonCode,
    /// Why, in words: the audit event's reason and, for a refusal, what the client is told.
    pub message: String,
    /// The tag or digest as the request named it.
    pub reference: String,
    /// The content concerned, when there is one.
    pub digest: Option<Digest>,
    /// The signers that verified.
    pub signers: Vec<String>,
}

impl GateEvent {
    fn new(
        action: Action,
        outcome: AuditOutcome,
        reason: ReasonCode,
        reference: impl Into<String>,
        digest: &Digest,
        message: String,
    ) -> Self {
        Self {
            action,
            outcome,
            reason,
            message,
            reference: reference.into(),
            digest: Some(digest.clone()),
            signers: Vec::new(),
        }
    }

    fn signed_by(mut self, signers: Vec<String>) -> Self {
        self.signers = signers;
        self
    }
}

impl fmt::Display for GateEvent {
    /// `action outcome (reason): message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.action, self.outcome, self.reason, self.message
        )
    }
}

/// What lets a tag be pinned to a digest: the digest was admitted (an [`Admitted`] proof for
/// it), or a warn/audit scope lets it through unverified. Only this module makes one, for the
/// digest the decision was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinWarrant {
    digest: Digest,
    admitted: Option<Admitted>,
    mode: Mode,
}

impl PinWarrant {
    /// The digest it lets be pinned.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The proof, when the digest was admitted (`None`: let through by warn or audit mode).
    pub fn admitted(&self) -> Option<&Admitted> {
        self.admitted.as_ref()
    }

    /// The mode of the scope that decided.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// The proof in `verdict` if it admits `digest` itself; a verdict about another digest admits
/// nothing here.
fn proof_for(verdict: &Verdict, digest: &Digest) -> Option<Admitted> {
    verdict.admitted().filter(|a| a.admits(digest)).cloned()
}

/// The proof for `digest` from `verdict`: its own, or, when the verdict admits one of the
/// indexes recorded as listing `digest` (`parents`), the child's (a signed index admits its
/// children). Any other verdict admits nothing here.
fn resolve_proof(verdict: &Verdict, digest: &Digest, parents: &[Digest]) -> Option<Admitted> {
    let admitted = verdict.admitted()?;
    if admitted.admits(digest) {
        Some(admitted.clone())
    } else if parents.contains(admitted.digest()) {
        Some(admitted.child(digest))
    } else {
        None
    }
}

/// What a tag is for, by its name. cosign's tags and the referrers fallback tag hold material
/// about the image `sha256:<hex>` they name; they are never pinned, so they must never hold an
/// image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRole {
    /// An ordinary tag: pinned, and its image verified.
    Image,
    /// `sha256-<hex>.sig`: cosign signatures of the digest.
    Signatures(Digest),
    /// `sha256-<hex>.att` / `.sbom`: cosign attestations or SBOMs of the digest.
    Attachment(Digest),
    /// `sha256-<hex>`: the referrers API's fallback index for the digest (OCI 1.1).
    ReferrersFallback(Digest),
}

impl TagRole {
    /// The role of `tag`.
    pub fn of(tag: &Tag) -> Self {
        let Some(rest) = tag.as_str().strip_prefix("sha256-") else {
            return Self::Image;
        };
        let (hex, suffix) = rest.split_at(rest.len().min(64));
        let Ok(digest) = format!("sha256:{hex}").parse::<Digest>() else {
            return Self::Image;
        };
        match suffix {
            ".sig" => Self::Signatures(digest),
            ".att" | ".sbom" => Self::Attachment(digest),
            "" => Self::ReferrersFallback(digest),
            _ => Self::Image,
        }
    }

    /// The audit action of a refused write to a tag of this role.
    pub fn action(&self) -> Action {
        match self {
            Self::Signatures(_) => Action::Signature,
            _ => Action::Push,
        }
    }
}

/// A manifest the tag's role does not admit (the proxy's shape check of the bytes, which
/// reads the manifest): what the client is told, and the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The refusal, starting with `name:tag`.
    pub message: String,
    /// `NotForThisTag` or `WrongSubject`.
    pub reason: ReasonCode,
}

/// The pin a tag has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinFact {
    /// The digest the tag is pinned to.
    pub digest: Digest,
    /// The signers recorded on the pin.
    pub signers: Vec<String>,
}

/// A push held in quarantine for a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldFact {
    /// The digest held.
    pub digest: Digest,
    /// Who pushed it (`None`: unidentified).
    pub pushed_by: Option<String>,
    /// When the hold ends (seconds since the epoch).
    pub expires_at: u64,
}

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
    /// The tag's role refused the manifest (the shape check), if it did.
    pub misfit: Option<&'a Misfit>,
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

/// Decides a manifest push by tag: the tag's role, then its pin (immutability, idempotent
/// re-push, mutable tags), then the verdict (admit, reject or quarantine, or warn/audit).
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
    if let Some(misfit) = facts.misfit {
        return refuse(role.action(), misfit.reason, misfit.message.clone());
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
        warrant: PinWarrant {
            digest: digest.clone(),
            admitted,
            mode: verdict.mode,
        },
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

fn signer_names(verdict: &Verdict) -> Vec<String> {
    verdict.satisfied.iter().map(|s| s.signer.clone()).collect()
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

/// How a pull of a tag is answered, from the tag's pin and held push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRoute {
    /// Serve the pinned digest (and check drift when due).
    Pinned(Digest),
    /// 404 saying why: the tag waits for a signature.
    Pending {
        /// What the client is told.
        message: String,
    },
    /// No pin: resolve the tag in the upstream, verify, pin if admitted.
    FirstPull,
}

/// Routes a pull of `tag`: the pin first, since a push held in quarantine (an unsigned push
/// of a mutable tag, or one that raced a signed push) never hides the image the tag is pinned
/// to.
pub fn route_tag(
    name: &RepoName,
    tag: &Tag,
    pin: Option<&PinFact>,
    held: Option<&HeldFact>,
) -> TagRoute {
    if let Some(pin) = pin {
        return TagRoute::Pinned(pin.digest.clone());
    }
    match held {
        Some(held) => TagRoute::Pending {
            message: format!(
                "{name}:{tag} awaits a signature: {} was pushed but is not signed yet (held until {})",
                held.digest,
                UnixTime(held.expires_at)
            ),
        },
        None => TagRoute::FirstPull,
    }
}

/// The answer (404 MANIFEST_UNKNOWN) when a pinned digest is gone from the upstream.
pub fn pinned_missing(name: &RepoName, tag: &Tag, pinned: &Digest) -> String {
    format!(
        "{name}:{tag} is pinned to {pinned}, which the upstream no longer has; push that image \
         again by digest"
    )
}

/// How a manifest is being pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind<'a> {
    /// By digest, or what an attachment tag holds.
    Digest,
    /// By a pinned tag.
    Pinned(&'a Tag),
    /// By a tag sealgate has not pinned yet: pinned if admitted.
    FirstPull(&'a Tag),
}

/// What a manifest pull is decided on.
#[derive(Debug, Clone, Copy)]
pub struct PullFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The reference as the request named it (tag or digest), for messages.
    pub reference: &'a str,
    /// The digest served.
    pub digest: &'a Digest,
    /// How it is pulled.
    pub kind: PullKind<'a>,
    /// It is a signature manifest sealgate verified for a subject admitted now (served
    /// without a verdict of its own).
    pub verified_signature: bool,
    /// The verdict on the digest, once computed (`None`: not yet).
    pub verdict: Option<&'a Verdict>,
    /// The indexes recorded as listing the digest: a verdict admitting one of them admits it.
    pub index_parents: &'a [Digest],
    /// The verdict was just computed (not a cached one): a refusal is audited once, not on
    /// every retry.
    pub first_report: bool,
}

/// How a pull decision is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Counted in the metrics only (every admitted pull; logged at debug level).
    Count,
    /// Logged and counted; appended to the audit log when `persist`.
    Log {
        /// Append to the audit log too.
        persist: bool,
    },
}

/// What to do with a manifest pull.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullPlan {
    /// A signature manifest sealgate verified for an admitted subject: serve it.
    ServeSignature,
    /// Only the verdict is missing: compute it and decide again.
    Verify,
    /// Serve it.
    Serve {
        /// The proof, when admitted (`None`: let through by warn or audit mode).
        proof: Option<Admitted>,
        /// The `Warning` header to add (warn mode).
        warning: Option<String>,
        /// The decision.
        event: GateEvent,
        /// How it is reported.
        report: Report,
    },
    /// Admitted on its first pull by tag: pin the tag, then serve (the pin wins a race: if
    /// the tag was pinned meanwhile, serve that pin instead).
    PinAndServe {
        /// The proof, bound to the digest pinned.
        proof: Admitted,
        /// The pull's decision (counted).
        event: GateEvent,
        /// The pin's audit event.
        pin_event: GateEvent,
    },
    /// Refuse (403 DENIED with `message`).
    Refuse {
        /// What the client is told.
        message: String,
        /// The decision.
        event: GateEvent,
        /// How it is reported.
        report: Report,
    },
}

/// Decides a manifest pull: a verified signature manifest is served; anything else by its
/// verdict under the scope's mode (enforce refuses, warn serves with a warning, audit serves);
/// an admitted first pull by tag pins the tag.
pub fn decide_pull(facts: &PullFacts<'_>) -> PullPlan {
    if facts.verified_signature {
        return PullPlan::ServeSignature;
    }
    let Some(verdict) = facts.verdict else {
        return PullPlan::Verify;
    };
    let (name, reference, digest) = (facts.repository, facts.reference, facts.digest);
    let proof = resolve_proof(verdict, digest, facts.index_parents);
    // A verdict that admits another digest is a bug in the caller: refused in every mode.
    let wrong_subject = proof.is_none() && verdict.admitted().is_some();
    let outcome = match (&proof, verdict.mode) {
        (Some(_), _) => AuditOutcome::Allow,
        (None, _) if wrong_subject => AuditOutcome::Deny,
        (None, Mode::Warn) => AuditOutcome::Warn,
        (None, Mode::Audit) => AuditOutcome::Audit,
        (None, Mode::Enforce) => AuditOutcome::Deny,
    };
    let code = if wrong_subject {
        ReasonCode::WrongSubject
    } else {
        ReasonCode::of_verdict(verdict)
    };
    let explain = match (&proof, verdict.admitted_digest()) {
        (None, Some(other)) => format!("the verdict given admits {other}, not this digest"),
        _ => verdict.explain(),
    };
    let event = GateEvent::new(
        Action::Pull,
        outcome,
        code,
        reference,
        digest,
        explain.clone(),
    )
    .signed_by(signer_names(verdict));
    let logged = Report::Log {
        persist: facts.first_report,
    };
    match proof {
        Some(proof) => match facts.kind {
            PullKind::FirstPull(tag) => PullPlan::PinAndServe {
                proof,
                pin_event: GateEvent {
                    action: Action::Pin,
                    reference: tag.to_string(),
                    message: format!("pinned on first verified pull: {explain}"),
                    ..event.clone()
                },
                event,
            },
            _ => PullPlan::Serve {
                proof: Some(proof),
                warning: None,
                event,
                report: Report::Count,
            },
        },
        None => match outcome {
            AuditOutcome::Warn => PullPlan::Serve {
                proof: None,
                warning: Some(format!("not admitted, served by warn mode: {explain}")),
                event,
                report: logged,
            },
            AuditOutcome::Audit => PullPlan::Serve {
                proof: None,
                warning: None,
                event,
                report: logged,
            },
            _ => PullPlan::Refuse {
                message: format!("{name}:{reference} ({digest}) is not admitted: {explain}"),
                event,
                report: logged,
            },
        },
    }
}

/// What a blob pull is decided on (only asked when the scope has `gate_blobs`; see
/// [`decide_blob`]).
#[derive(Debug, Clone, Copy)]
pub struct BlobFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The blob.
    pub digest: &'a Digest,
    /// The scope governing the repository.
    pub scope: &'a Scope,
    /// How many manifests are known to list it.
    pub owners: usize,
    /// The proof of an admitted manifest that lists it (or of the admitted subject of a
    /// verified signature manifest whose layer it is), if one was found.
    pub admitted_owner: Option<&'a Admitted>,
}

/// What to do with a blob pull.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobPlan {
    /// The scope does not gate blobs: serve.
    Ungated,
    /// An admitted manifest needs it: serve.
    Serve {
        /// The owner's proof.
        proof: Admitted,
    },
    /// Serve with this `Warning` header (warn mode).
    Warn {
        /// The warning.
        message: String,
    },
    /// Serve (audit mode).
    Audit,
    /// Refuse (403 DENIED).
    Refuse {
        /// What the client is told.
        message: String,
    },
}

/// Whether the scope gates blobs at all (the proxy gathers owners only then).
pub fn gates_blobs(scope: &Scope) -> bool {
    scope.gate_blobs
}

/// Decides a blob pull under `gate_blobs`: served when a manifest listing it is admitted (or
/// it is a layer of a verified signature of an admitted subject); otherwise by the mode.
pub fn decide_blob(facts: &BlobFacts<'_>) -> BlobPlan {
    if !facts.scope.gate_blobs {
        return BlobPlan::Ungated;
    }
    if let Some(proof) = facts.admitted_owner {
        return BlobPlan::Serve {
            proof: proof.clone(),
        };
    }
    let message = format!(
        "blob {} of {} belongs to no admitted manifest ({} known); pull it through a signed image",
        facts.digest, facts.repository, facts.owners
    );
    match facts.scope.mode {
        Mode::Enforce => BlobPlan::Refuse { message },
        Mode::Warn => BlobPlan::Warn { message },
        Mode::Audit => BlobPlan::Audit,
    }
}

/// What a drift check found.
#[derive(Debug, Clone, Copy)]
pub struct DriftFacts<'a> {
    /// The repository.
    pub repository: &'a RepoName,
    /// The pinned tag.
    pub tag: &'a Tag,
    /// The digest it is pinned to.
    pub pinned: &'a Digest,
    /// What the upstream's tag names now (`None`: the upstream no longer has it).
    pub current: Option<&'a Digest>,
    /// The same upstream state was reported already.
    pub already_reported: bool,
    /// The scope's `follow_drift`.
    pub follow_drift: bool,
}

/// What to do after a drift check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriftPlan {
    /// The upstream still names the pin (forget an earlier report).
    InSync,
    /// Moved, and reported before: nothing to do.
    Reported,
    /// Report it (audit, log, counter); then, if `follow`, verify that digest and decide with
    /// [`decide_follow`].
    Report {
        /// The drift event.
        event: GateEvent,
        /// The digest to follow, when the scope follows drift.
        follow: Option<Digest>,
    },
}

/// Decides a drift check: the pin is never moved by the report itself.
pub fn decide_drift(facts: &DriftFacts<'_>) -> DriftPlan {
    let DriftFacts {
        repository,
        tag,
        pinned,
        ..
    } = *facts;
    if facts.current == Some(pinned) {
        return DriftPlan::InSync;
    }
    if facts.already_reported {
        return DriftPlan::Reported;
    }
    let (reason, message) = match facts.current {
        Some(d) => (
            ReasonCode::UpstreamMoved,
            format!(
                "the upstream's {repository}:{tag} moved to {d}; sealgate keeps serving the pinned \
                 {pinned}"
            ),
        ),
        None => (
            ReasonCode::UpstreamMissing,
            format!(
                "the upstream no longer has {repository}:{tag}; sealgate keeps serving the pinned \
                 {pinned}"
            ),
        ),
    };
    DriftPlan::Report {
        event: GateEvent::new(
            Action::Drift,
            AuditOutcome::Drift,
            reason,
            tag.as_str(),
            pinned,
            message,
        ),
        follow: facts.current.filter(|_| facts.follow_drift).cloned(),
    }
}

/// What to do with a drifted tag the scope follows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FollowPlan {
    /// Move the pin (the tag stays mutable for it); the old digest stays in the history.
    Move {
        /// The proof for the new digest.
        proof: Admitted,
        /// The audit event.
        event: GateEvent,
    },
    /// The new digest is not admitted: the pin stays (logged as a warning).
    Stay {
        /// Why, for the warning.
        reason: String,
    },
}

/// Decides following drift of `tag` from `pinned` to `moved_to`, by `verdict` on `moved_to`:
/// only an admitted digest is followed, in every mode.
pub fn decide_follow(
    tag: &Tag,
    pinned: &Digest,
    moved_to: &Digest,
    verdict: &Verdict,
) -> FollowPlan {
    match proof_for(verdict, moved_to) {
        Some(proof) => FollowPlan::Move {
            proof,
            event: GateEvent::new(
                Action::FollowDrift,
                AuditOutcome::Allow,
                ReasonCode::Admitted,
                tag.as_str(),
                moved_to,
                format!("pin moved from {pinned}: {}", verdict.explain()),
            )
            .signed_by(signer_names(verdict)),
        },
        None => FollowPlan::Stay {
            reason: verdict.explain(),
        },
    }
}

/// A tag that needs the content a delete would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The tag.
    pub tag: Tag,
    /// The digest it is pinned to, or held for.
    pub digest: Digest,
    /// Pinned (else held in quarantine).
    pub pinned: bool,
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
