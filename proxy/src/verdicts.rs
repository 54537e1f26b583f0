//! Verdicts on digests against the trust in force: the signatures the index holds, the ones the
//! upstream holds (for content that never came through sealgate), and the indexes that list the
//! digest (a signed index admits its children).

use bytes::Bytes;
use sealgate_policies::cosign::Subject;
use sealgate_policies::oci::{Digest, Tag};
use sealgate_policies::policy::Policy;
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Evidence, Verdict, evaluate};
use sealgate_storage::ManifestKind;

use crate::error::ProxyError;
use crate::evidence;
use crate::manifest::{ManifestShape, sha256_digest};
use crate::push::{blocking, now};
use crate::referrers::upstream_referrers;
use crate::signatures::{LayerEvidence, Source, layer_evidence, record_for};

/// Most referrers of one digest read from an upstream while looking for signatures: enough for
/// several signers and attestations, bounded so that a hostile upstream cannot make one pull
/// fetch thousands of manifests.
const MAX_DISCOVERED_REFERRERS: usize = 16;

/// Artifact types of referrers that can carry signatures sealgate verifies.
const SIGNATURE_ARTIFACT_PREFIXES: [&str; 2] = [
    "application/vnd.dev.cosign.artifact.sig",
    "application/vnd.dev.sigstore.bundle",
];

/// Where to look for evidence besides the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// The index only (the push gate: signatures arrive through sealgate).
    IndexOnly,
    /// The index, then the upstream's `.sig` tag and referrers (the pull gate).
    Upstream,
}

/// The verdict on `digest` in `source`'s repository under `policy` (the trust in force, loaded
/// once by the caller so that the verdict and its cache key agree on the generation): its own
/// signatures, or, for a child of a signed index, the index's. `manifest` is the subject's
/// bytes, for bundles that sign the artifact itself. Signatures found in the upstream that
/// satisfy a signer are recorded in the index, so later verdicts (and restarts) need not look
/// again. Each verdict computed is timed for `/metrics`.
pub async fn verdict(
    source: &Source<'_>,
    policy: &Policy,
    digest: &Digest,
    tag: Option<&Tag>,
    manifest: Option<&Bytes>,
    discovery: Discovery,
) -> Result<Verdict, ProxyError> {
    let started = std::time::Instant::now();
    let verdict = compute(source, policy, digest, tag, manifest, discovery).await?;
    source
        .state
        .metrics
        .verification(discovery, started.elapsed());
    Ok(verdict)
}

async fn compute(
    source: &Source<'_>,
    policy: &Policy,
    digest: &Digest,
    tag: Option<&Tag>,
    manifest: Option<&Bytes>,
    discovery: Discovery,
) -> Result<Verdict, ProxyError> {
    let state = source.state;
    let subject = Subject {
        repository: source.name.clone(),
        digest: digest.clone(),
        tag: tag.cloned(),
    };
    let d = digest.clone();
    let (records, parents) = blocking(&state.store, move |s| {
        Ok((s.signatures(&d)?, s.indexes_containing(&d)?))
    })
    .await?;
    let artifact = manifest.map(|b| b.to_vec());
    let mut evidence: Vec<Evidence> = records
        .iter()
        .map(|r| evidence::decode(r, artifact.as_deref()))
        .collect();
    let mut own = evaluate(policy, &subject, &evidence, now());
    if own.admitted().is_some() {
        return Ok(own);
    }
    if discovery == Discovery::Upstream {
        let observed = now();
        // Layers the index already holds were evaluated above; they are not counted twice.
        let known: Vec<(Digest, usize)> = records
            .iter()
            .map(|r| (r.signature_manifest.clone(), r.layer_index as usize))
            .collect();
        let found = discover(source, digest, observed, &known).await?;
        if !found.is_empty() {
            let stored = evidence.len();
            evidence.extend(found.iter().map(|(_, layer)| layer.evidence.clone()));
            own = evaluate(policy, &subject, &evidence, observed);
            if own.admitted().is_some() {
                let records: Vec<_> = own
                    .satisfied
                    .iter()
                    .filter_map(|s| {
                        let (manifest_digest, layer) =
                            found.get(s.evidence.checked_sub(stored)?)?;
                        Some(record_for(digest, manifest_digest, layer, s, observed))
                    })
                    .collect();
                blocking(&state.store, move |s| {
                    for record in records {
                        s.record_signature(record)?;
                    }
                    Ok(())
                })
                .await?;
                return Ok(own);
            }
        }
    }
    for parent in parents {
        let p = parent.clone();
        let records = blocking(&state.store, move |s| s.signatures(&p)).await?;
        let evidence: Vec<Evidence> = records.iter().map(|r| evidence::decode(r, None)).collect();
        let parent_subject = Subject {
            digest: parent,
            ..subject.clone()
        };
        let verdict = evaluate(policy, &parent_subject, &evidence, now());
        if verdict.admitted().is_some() {
            return Ok(verdict);
        }
    }
    Ok(own)
}

/// Signature layers the upstream holds for `digest` (other than the `known` ones): its cosign
/// `.sig` tag and its signature referrers (the upstream's referrers API, or the fallback tag). Manifests that are not
/// signatures of `digest` are skipped; a signature whose blobs are missing is skipped too (it
/// cannot be verified, and it is not sealgate's to repair).
async fn discover(
    source: &Source<'_>,
    digest: &Digest,
    observed: UnixTime,
    known: &[(Digest, usize)],
) -> Result<Vec<(Digest, LayerEvidence)>, ProxyError> {
    let mut manifests: Vec<Bytes> = Vec::new();
    if let Some(sig) = source
        .manifest(&format!("sha256-{}.sig", digest.hex()))
        .await?
    {
        manifests.push(sig.body);
    }
    let referrers = upstream_referrers(source, digest).await?;
    for descriptor in referrers
        .iter()
        .filter(|d| {
            d.get("artifactType")
                .and_then(|t| t.as_str())
                .is_some_and(|t| SIGNATURE_ARTIFACT_PREFIXES.iter().any(|p| t.starts_with(p)))
        })
        .take(MAX_DISCOVERED_REFERRERS)
    {
        let Some(referrer) = descriptor
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            continue;
        };
        if let Some(fetched) = source.manifest(referrer.as_str()).await? {
            manifests.push(fetched.body);
        }
    }
    let mut found = Vec::new();
    for body in manifests {
        let manifest_digest = sha256_digest(&body);
        let Ok(shape) = ManifestShape::parse(&body) else {
            continue;
        };
        let about_digest = shape
            .subject
            .as_ref()
            .is_none_or(|s| s.digest == digest.as_str());
        if !shape.has_verifiable_signatures() || !about_digest {
            continue;
        }
        let blobs = match source.signature_blobs(&shape).await {
            Ok(blobs) => blobs,
            Err(ProxyError::ManifestInvalid(why)) => {
                tracing::debug!(%digest, %manifest_digest, %why, "signature in the upstream skipped");
                continue;
            }
            Err(e) => return Err(e),
        };
        let blob_digests: Vec<Digest> = blobs.iter().map(|b| b.digest.clone()).collect();
        let md = manifest_digest.clone();
        blocking(&source.state.store, move |s| {
            s.record_blobs(&md, ManifestKind::Signature, &blob_digests)
        })
        .await?;
        let origin = format!("{manifest_digest} (in the upstream)");
        match layer_evidence(&body, &shape, &blobs, observed, &origin, |index| {
            known.contains(&(manifest_digest.clone(), index))
        }) {
            Ok(layers) => found.extend(layers.into_iter().map(|l| (manifest_digest.clone(), l))),
            Err(e) => {
                tracing::debug!(%digest, %manifest_digest, error = %e, "signature in the upstream skipped");
            }
        }
    }
    Ok(found)
}
