//! Facts a manifest's bytes state: the blobs it lists, an index's children, the subject a
//! referrer points at. Content-addressed, so true forever; the gates evaluate them later against
//! the trust in force (a blob is served if a manifest listing it is admitted, a child if its
//! index is). The [`ManifestKind`] recorded with the blobs is the manifest's shape, which the
//! pusher chooses: information only, it opens nothing (see `pull::check_blob`).

use sealgate_policies::oci::Digest;
use sealgate_storage::ManifestKind;

use crate::error::ProxyError;
use crate::manifest::ManifestShape;
use crate::signatures::Source;

/// Records what a manifest's bytes say (blobs it lists, children, the subject it refers to):
/// facts, not trust; verdicts use them later against the trust in force.
pub async fn record(
    source: &Source<'_>,
    digest: &Digest,
    shape: &ManifestShape,
    size: usize,
) -> Result<(), ProxyError> {
    let kind = if shape.is_signature() {
        ManifestKind::Signature
    } else {
        ManifestKind::Image
    };
    let blobs = shape.blobs();
    let children = shape.children();
    let referrer = match &shape.subject {
        Some(subject) => Some((
            subject.parsed_digest("subject")?,
            shape.referrer(digest.clone(), size as u64),
        )),
        None => None,
    };
    let store = &source.state.store;
    let has_children = shape.manifests.is_some();
    // Three facts, each its own transaction (as they always were), in this order.
    if !blobs.is_empty() {
        store.record_blobs(digest, kind, &blobs).await?;
    }
    if has_children {
        store.record_index(digest, &children).await?;
    }
    if let Some((subject, referrer)) = referrer {
        store
            .record_referrer(
                &source.upstream.config.name,
                source.name,
                &subject,
                referrer,
            )
            .await?;
    }
    if has_children {
        // Children's verdicts may now come from this index.
        for child in shape.children() {
            source.state.pull.verdicts.invalidate(&child);
        }
    }
    Ok(())
}
