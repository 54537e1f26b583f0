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
use crate::store_io::blocking;

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
    let upstream = source.upstream.config.name.clone();
    let repository = source.name.clone();
    let d = digest.clone();
    let has_children = shape.manifests.is_some();
    blocking(&source.state.store, move |s| {
        if !blobs.is_empty() {
            s.record_blobs(&d, kind, &blobs)?;
        }
        if has_children {
            s.record_index(&d, &children)?;
        }
        if let Some((subject, referrer)) = referrer {
            s.record_referrer(&upstream, &repository, &subject, referrer)?;
        }
        Ok(())
    })
    .await?;
    if has_children {
        // Children's verdicts may now come from this index.
        for child in shape.children() {
            source.state.pull.verdicts.invalidate(&child);
        }
    }
    Ok(())
}
