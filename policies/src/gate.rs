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
//! - [`decide_promote`], [`superseded`], [`expired`]: held pushes released or dropped.
//! - [`decide_delete`], [`orphaned`]: deletes of content a pinned or held tag needs.
//!
//! Every plan that makes content pullable carries an [`Admitted`](crate::verdict::Admitted)
//! proof bound to the digest it admits (or, where a warn/audit scope lets unverified content
//! through, a [`PinWarrant`] that says so); every plan carries its [`GateEvent`]: the typed action, outcome and reason of the
//! audit event, the decision log line and the metrics label, and the message a client sees.
//! Message texts are the ones the proxy sends today, word for word.

mod delete;
mod event;
mod held;
mod proof;
mod pull;
mod push;
mod tag;
#[cfg(test)]
mod tests;

pub use delete::{DeleteFacts, DeletePlan, Guard, decide_delete, orphaned};
pub use event::{Action, AuditOutcome, GateEvent, ReasonCode};
pub use held::{PromoteFacts, PromotePlan, decide_promote, expired, superseded};
pub use proof::PinWarrant;
pub use pull::{
    BlobFacts, BlobPlan, DriftFacts, DriftPlan, FollowPlan, PullFacts, PullKind, PullPlan, Report,
    TagRoute, decide_blob, decide_drift, decide_follow, decide_pull, gates_blobs, pinned_missing,
    route_tag,
};
pub use push::{
    LayerCheck, PushFacts, PushPlan, SignatureFacts, SignaturePlan, decide_push, decide_signatures,
    fallback_stranger, pinned_meanwhile, summarise,
};
pub use tag::{HeldFact, ManifestFacts, Misfit, PinFact, TagRole, is_runnable_layer};
