//! What the gates read from the store, as their facts. The store's calls are async and
//! awaited where they are made; each is its own transaction.

use std::sync::Arc;

use sealgate_policies::gate::{HeldFact, PinFact};
use sealgate_policies::oci::Digest;
use sealgate_policies::verdict::Verdict;
use sealgate_storage::{PendingTag, PinKey, Store};

use crate::error::ProxyError;

/// A tag's pin and held push, as the gates read them (under the tag's lock where it matters).
pub(crate) async fn tag_facts(
    store: &Arc<dyn Store>,
    key: &PinKey,
) -> Result<(Option<PinFact>, Option<HeldFact>), ProxyError> {
    // Two reads, not one transaction (they never were): callers that need them to agree
    // hold the tag's lock.
    let pin = store.get_pin(key).await?;
    let held = store.pending(key).await?;
    Ok((
        pin.map(|p| PinFact {
            digest: p.digest,
            signers: p.signers,
        }),
        held.as_ref().map(held_fact),
    ))
}

/// A held push, as the gates read it.
pub(crate) fn held_fact(held: &PendingTag) -> HeldFact {
    HeldFact {
        digest: held.digest.clone(),
        pushed_by: held.pushed_by.clone(),
        expires_at: held.expires_at,
    }
}

/// The indexes recorded as listing `digest`, read when `verdict` admits another digest: such a
/// verdict admits `digest` only if it is about one of them (a signed index admits its
/// children).
pub(crate) async fn index_parents(
    store: &Arc<dyn Store>,
    verdict: &Verdict,
    digest: &Digest,
) -> Result<Vec<Digest>, ProxyError> {
    match verdict.admitted_digest() {
        Some(admitted) if admitted != digest => Ok(store.indexes_containing(digest).await?),
        _ => Ok(Vec::new()),
    }
}
