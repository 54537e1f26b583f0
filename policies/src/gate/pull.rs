//! The pull gate's decisions: manifests (by tag, pinned or first pulled, and by digest),
//! blobs under `gate_blobs`, and drift.

use super::event::{Action, AuditOutcome, GateEvent, ReasonCode};
use super::proof::{resolve_proof, signer_names};
use super::tag::{HeldFact, PinFact};
use crate::config::Mode;
use crate::oci::Digest;
use crate::oci::{RepoName, Tag};
use crate::policy::Scope;
use crate::time::UnixTime;
use crate::verdict::{Admitted, Verdict};

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
/// only an admitted digest is followed, in every mode; a verdict admitting one of the indexes
/// recorded as listing it (`index_parents`) admits it, as on a pull.
pub fn decide_follow(
    tag: &Tag,
    pinned: &Digest,
    moved_to: &Digest,
    verdict: &Verdict,
    index_parents: &[Digest],
) -> FollowPlan {
    match resolve_proof(verdict, moved_to, index_parents) {
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
