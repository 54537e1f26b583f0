//! The typed audit event of a decision: action, outcome and reason labels, and the message.

use std::fmt;

use crate::cosign::SignatureFailure;
use crate::oci::Digest;
use crate::pki::ChainError;
use crate::statement::StatementRefusal;
use crate::verdict::{Decision, DenyReason, FailureReason, Verdict};

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
/// line). The same values as the proxy's metrics reasons; exhaustive, so that the proxy's
/// mapping to its metrics label fails to compile when a reason is added here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A DSSE statement whose `predicateType` the scope does not take as an image signature (an
    /// SBOM, provenance): an attestation.
    Attestation,
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
            Self::Attestation => "attestation",
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
            FailureReason::Statement(StatementRefusal::Attestation { .. }) => {
                return Some(Self::Attestation);
            }
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
            SignatureFailure::CaNotValidAt { .. } | SignatureFailure::Fulcio(_) => {
                Self::UntrustedChain
            }
            SignatureFailure::Identity(_) => Self::IdentityMismatch,
            SignatureFailure::DigestMismatch { .. }
            | SignatureFailure::ReferenceMismatch { .. } => Self::WrongSubject,
            SignatureFailure::TlogMissing
            | SignatureFailure::Tlog(_)
            | SignatureFailure::NoLoggedTime
            | SignatureFailure::Sct(_) => Self::Transparency,
            SignatureFailure::Timestamp(_) | SignatureFailure::SignedAfter { .. } => {
                Self::Timestamp
            }
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
            Self::Attestation => 9,
            Self::NotEnoughSigners => 10,
            Self::InvalidSignature => 11,
            _ => 12,
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
    pub(super) fn new(
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

    pub(super) fn signed_by(mut self, signers: Vec<String>) -> Self {
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
