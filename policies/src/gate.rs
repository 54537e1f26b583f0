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

use crate::config::Mode;
use crate::oci::Digest;
use crate::verdict::{Admitted, Verdict};

mod delete;
mod event;
mod pull;
mod push;
#[cfg(test)]
mod tests;

pub use delete::{DeleteFacts, DeletePlan, Guard, decide_delete};
pub use event::{Action, AuditOutcome, GateEvent, ReasonCode};
pub use pull::{
    BlobFacts, BlobPlan, DriftFacts, DriftPlan, FollowPlan, PullFacts, PullKind, PullPlan, Report,
    TagRoute, decide_blob, decide_drift, decide_follow, decide_pull, gates_blobs, pinned_missing,
    route_tag,
};
pub use push::{
    HeldFact, LayerCheck, Misfit, PinFact, PushFacts, PushPlan, SignatureFacts, SignaturePlan,
    TagRole, decide_push, decide_signatures, pinned_meanwhile, summarise,
};

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

fn signer_names(verdict: &Verdict) -> Vec<String> {
    verdict.satisfied.iter().map(|s| s.signer.clone()).collect()
}
