//! The bridge to the store: its calls are synchronous (sled flushes to disk), so the request
//! path runs them on the blocking pool; and what the gates read from it, as their facts.

use std::sync::Arc;

use sealgate_policies::gate::{HeldFact, PinFact};
use sealgate_policies::oci::Digest;
use sealgate_policies::verdict::Verdict;
use sealgate_storage::{PendingTag, PinKey, StorageError, Store};

use crate::error::ProxyError;

/// Runs a store operation on the blocking pool: sled flushes to disk.
pub(crate) async fn blocking<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T, ProxyError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StorageError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(ProxyError::Task)?
        .map_err(ProxyError::Store)
}

/// A tag's pin and held push, as the gates read them (under the tag's lock where it matters).
pub(crate) async fn tag_facts(
    store: &Arc<dyn Store>,
    key: &PinKey,
) -> Result<(Option<PinFact>, Option<HeldFact>), ProxyError> {
    let k = key.clone();
    let (pin, held) = blocking(store, move |s| Ok((s.get_pin(&k)?, s.pending(&k)?))).await?;
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
        Some(admitted) if admitted != digest => {
            let d = digest.clone();
            blocking(store, move |s| s.indexes_containing(&d)).await
        }
        _ => Ok(Vec::new()),
    }
}
