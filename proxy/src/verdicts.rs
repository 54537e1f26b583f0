//! Verdicts on digests against the trust in force: the signatures the index holds, the ones the
//! upstream holds (for content that never came through sealgate), and the indexes that list the
//! digest (a signed index admits its children).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use http::header;
use oci_spec::image::Descriptor;
use sealgate_policies::cosign::Subject;
use sealgate_policies::oci::{Digest, Tag};
use sealgate_policies::policy::Policy;
use sealgate_policies::statement::SignaturePredicates;
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Evidence, Verdict, evaluate};
use sealgate_storage::{ManifestKind, SignatureRecord, SignedSubject};

use crate::clock::now;
use crate::error::ProxyError;
use crate::evidence;
use crate::manifest::{ManifestShape, sha256_digest};
pub use crate::metrics::Discovery;
use crate::referrers::upstream_referrers;
use crate::signatures::{
    Bounded, Budget, LayerEvidence, MANIFEST_ACCEPT, MAX_DISCOVERY_BYTES, MAX_SIGNATURE_BYTES,
    Source, layer_evidence, record_for,
};

/// Most referrers of one digest read from an upstream while looking for signatures: enough for
/// several signers and attestations, bounded so that a hostile upstream cannot make one pull
/// fetch thousands of manifests.
const MAX_DISCOVERED_REFERRERS: usize = 16;

/// Artifact types of referrers that can carry signatures sealgate verifies.
const SIGNATURE_ARTIFACT_PREFIXES: [&str; 2] = [
    "application/vnd.dev.cosign.artifact.sig",
    "application/vnd.dev.sigstore.bundle",
];

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
    // Two reads, never one transaction.
    let records = state.store.signatures(digest).await?;
    let parents = state.store.indexes_containing(digest).await?;
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
        let predicates = &policy.scope_for(source.name).signature_predicates;
        let discovered = discover(source, digest, observed, &known, predicates).await?;
        if !discovered.found.is_empty() {
            let stored = evidence.len();
            let found = &discovered.found;
            evidence.extend(found.iter().map(|(_, layer)| layer.evidence.clone()));
            own = evaluate(policy, &subject, &evidence, observed);
            if own.admitted().is_some() {
                let mut records = Vec::new();
                // The signature manifests whose layers admitted the digest: served from now on.
                let mut verified: BTreeMap<Digest, SignedSubject> = BTreeMap::new();
                for s in &own.satisfied {
                    let Some((manifest_digest, layer)) =
                        s.evidence.checked_sub(stored).and_then(|i| found.get(i))
                    else {
                        continue;
                    };
                    records.push(record_for(digest, manifest_digest, layer, s, observed));
                    verified
                        .entry(manifest_digest.clone())
                        .or_insert_with(|| SignedSubject {
                            subject: digest.clone(),
                            layers: discovered
                                .layers_read
                                .get(manifest_digest)
                                .cloned()
                                .unwrap_or_default(),
                        });
                }
                record_verified(source, records, verified).await?;
                return Ok(own);
            }
        }
    }
    for parent in parents {
        let records = state.store.signatures(&parent).await?;
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

/// Writes the signature records of layers that satisfied a signer, and the signature manifests
/// they came from as verified signature manifests of their subject in `source`'s repository.
async fn record_verified(
    source: &Source<'_>,
    records: Vec<SignatureRecord>,
    manifests: BTreeMap<Digest, SignedSubject>,
) -> Result<(), ProxyError> {
    let store = &source.state.store;
    // One transaction per record, in this order (as before: never one for all).
    for record in records {
        store.record_signature(record).await?;
    }
    for (manifest, signed) in &manifests {
        store
            .record_signature_manifest(&source.upstream.config.name, source.name, manifest, signed)
            .await?;
    }
    Ok(())
}

/// Verifies `body` (a manifest with digest `manifest_digest`, parsed as `shape`, read from
/// `source`'s repository) as a signature manifest of `subject` under `policy`, with the same
/// bounds as signature intake. Each layer that satisfies a signer is recorded, and the manifest
/// with it as a verified signature manifest of `subject`; returns whether any did. Used when a
/// pull asks for a signature manifest sealgate has not verified yet (added in the upstream, or
/// recorded by an older sealgate) whose subject is admitted.
pub async fn verify_signature_manifest(
    source: &Source<'_>,
    policy: &Policy,
    subject: &Digest,
    manifest_digest: &Digest,
    body: &[u8],
    shape: &ManifestShape,
) -> Result<bool, ProxyError> {
    let about_subject = shape
        .subject
        .as_ref()
        .is_none_or(|s| s.digest == subject.as_str());
    if !shape.has_verifiable_signatures() || !about_subject {
        return Ok(false);
    }
    let mut budget = Budget::new(MAX_SIGNATURE_BYTES);
    let blobs = match source.signature_blobs(shape, &mut budget).await {
        Ok(blobs) => blobs,
        Err(ProxyError::ManifestInvalid(why)) => {
            tracing::debug!(%subject, %manifest_digest, %why, "signature manifest not verified");
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let observed = now();
    let origin = format!("{manifest_digest} (in the upstream)");
    let Ok(layers) = layer_evidence(body, shape, &blobs, observed, &origin, |_| false) else {
        return Ok(false);
    };
    let subject_of = Subject {
        repository: source.name.clone(),
        digest: subject.clone(),
        tag: None,
    };
    let records: Vec<SignatureRecord> = layers
        .iter()
        .filter_map(|layer| {
            let verdict = evaluate(
                policy,
                &subject_of,
                std::slice::from_ref(&layer.evidence),
                observed,
            );
            let satisfied = verdict.satisfied.first()?;
            Some(record_for(
                subject,
                manifest_digest,
                layer,
                satisfied,
                observed,
            ))
        })
        .collect();
    if records.is_empty() {
        return Ok(false);
    }
    let verified = BTreeMap::from([(
        manifest_digest.clone(),
        SignedSubject {
            subject: subject.clone(),
            layers: blobs.digests(),
        },
    )]);
    record_verified(source, records, verified).await?;
    // The subject's verdict may count the new signatures.
    source.state.pull.verdicts.invalidate(subject);
    Ok(true)
}

/// What a pull-time discovery found: evidence with the signature manifest it came from, and the
/// layer blobs read from each manifest.
#[derive(Default)]
struct Discovered {
    found: Vec<(Digest, LayerEvidence)>,
    layers_read: HashMap<Digest, Vec<Digest>>,
}

/// Signature layers the upstream holds for `digest` (other than the `known` ones): its cosign
/// `.sig` tag and its signature referrers (the upstream's referrers API, or the fallback tag).
/// Referrers annotated as bundles of a statement `predicates` does not take as a signature
/// (attestations) are not fetched, so they cannot crowd signatures out of the first
/// [`MAX_DISCOVERED_REFERRERS`]; the annotation is unsigned, so it only ever skips: what is
/// fetched is judged by its signed statement. Manifests that are not signatures of `digest` are
/// skipped; a signature whose blobs are missing or too large is skipped too (it cannot be
/// verified, and it is not sealgate's to repair). Everything read (manifests and blobs) comes
/// out of one [`MAX_DISCOVERY_BYTES`] budget, each manifest's blobs out of at most
/// [`MAX_SIGNATURE_BYTES`] of it, and manifests are examined one at a time, so a hostile
/// upstream cannot make a pull hold more.
async fn discover(
    source: &Source<'_>,
    digest: &Digest,
    observed: UnixTime,
    known: &[(Digest, usize)],
    predicates: &SignaturePredicates,
) -> Result<Discovered, ProxyError> {
    let mut budget = Budget::new(MAX_DISCOVERY_BYTES);
    let mut references = vec![format!("sha256-{}.sig", digest.hex())];
    let referrers = upstream_referrers(source, digest).await?;
    references.extend(
        referrers
            .iter()
            .filter(|d| {
                d.artifact_type().as_ref().is_some_and(|t| {
                    SIGNATURE_ARTIFACT_PREFIXES
                        .iter()
                        .any(|p| t.as_ref().starts_with(p))
                })
            })
            .filter(|d| !annotated_attestation(d, predicates))
            .take(MAX_DISCOVERED_REFERRERS)
            .filter_map(|d| d.digest().as_ref().parse::<Digest>().ok())
            .map(|d| d.to_string()),
    );
    let mut out = Discovered::default();
    for reference in references {
        if budget.left() == 0 {
            tracing::debug!(%digest, "signature discovery stopped: its budget is spent");
            break;
        }
        let Some(body) = discovered_manifest(source, &reference, &mut budget).await? else {
            continue;
        };
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
        let mut blob_budget = Budget::new(MAX_SIGNATURE_BYTES.min(budget.left()));
        let blobs = source.signature_blobs(&shape, &mut blob_budget).await;
        budget.spend(blob_budget.limit() - blob_budget.left());
        let blobs = match blobs {
            Ok(blobs) => blobs,
            Err(ProxyError::ManifestInvalid(why)) => {
                tracing::debug!(%digest, %manifest_digest, %why, "signature in the upstream skipped");
                continue;
            }
            Err(e) => return Err(e),
        };
        let read = blobs.digests();
        source
            .state
            .store
            .record_blobs(&manifest_digest, ManifestKind::Signature, &read)
            .await?;
        let origin = format!("{manifest_digest} (in the upstream)");
        match layer_evidence(&body, &shape, &blobs, observed, &origin, |index| {
            known.contains(&(manifest_digest.clone(), index))
        }) {
            Ok(layers) => {
                out.found
                    .extend(layers.into_iter().map(|l| (manifest_digest.clone(), l)));
                out.layers_read.insert(manifest_digest, read);
            }
            Err(e) => {
                tracing::debug!(%digest, %manifest_digest, error = %e, "signature in the upstream skipped");
            }
        }
    }
    Ok(out)
}

/// Annotation cosign v3 puts on a bundle referrer: its statement's predicateType (unsigned).
const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// Whether a referrer says it is a bundle of a statement `predicates` does not take as a
/// signature. Only for skipping: it admits nothing.
fn annotated_attestation(referrer: &Descriptor, predicates: &SignaturePredicates) -> bool {
    let SignaturePredicates::Only(accepted) = predicates else {
        return false;
    };
    referrer
        .annotations()
        .as_ref()
        .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
        .is_some_and(|p| !accepted.contains(p))
}

/// A signature manifest (`.sig` tag or referrer digest) read within what is left of `budget`;
/// `None` when the upstream does not have it or it does not fit. A manifest fetched by digest
/// must hash to it.
async fn discovered_manifest(
    source: &Source<'_>,
    reference: &str,
    budget: &mut Budget,
) -> Result<Option<Bytes>, ProxyError> {
    let headers = source.headers(header::ACCEPT, MANIFEST_ACCEPT);
    let cap = source.state.config.max_manifest_bytes.min(budget.left());
    let read = match source
        .get_bounded(&format!("manifests/{reference}"), &headers, cap)
        .await?
    {
        Bounded::TooLarge => {
            tracing::debug!(%reference, cap, "signature manifest in the upstream skipped: too large");
            return Ok(None);
        }
        Bounded::Read(read) => read,
    };
    if read.status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !read.status.is_success() {
        return Err(ProxyError::UpstreamBody {
            upstream: source.upstream.config.name.clone(),
            why: format!("GET manifest {reference} answered {}", read.status),
        });
    }
    budget.spend(read.body.len());
    if let Ok(digest) = reference.parse::<Digest>()
        && sha256_digest(&read.body) != digest
    {
        return Err(ProxyError::UpstreamBody {
            upstream: source.upstream.config.name.clone(),
            why: format!("manifest {digest} does not hash to its digest"),
        });
    }
    Ok(Some(read.body))
}
