//! The push gate: manifest PUTs and DELETEs.
//!
//! - A tag points at one digest forever (unless the scope lists it as mutable): a push of
//!   another digest is refused, the same digest again is fine.
//! - A manifest pushed by tag must be signed by the scope's signers; otherwise it is refused or,
//!   in a quarantine scope, stored by digest only while the tag waits for its signature.
//! - Signatures (cosign `.sig` tags, OCI 1.1 referrers with cosign layers or sigstore bundles)
//!   are verified before they are forwarded and recorded in the index; `.sig` tags only grow.
//! - Pushes by digest are content-addressed and create no tag; indexes record their children.
//!
//! Per tag, check-forward-pin runs under a lock, so two racing pushes of different digests
//! cannot both reach the upstream: one is pinned, the other refused.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use sealgate_policies::cosign::Subject;
use sealgate_policies::gate::{
    GateEvent, LayerCheck, ManifestFacts, PromoteFacts, PromotePlan, PushFacts, PushPlan,
    SignatureFacts, SignaturePlan, TagRole, decide_promote, decide_push, decide_signatures,
    fallback_stranger, pinned_meanwhile, superseded,
};
use sealgate_policies::oci::{Digest, Reference};
use sealgate_policies::policy::Scope;
use sealgate_policies::verdict::{Verdict, evaluate};
use sealgate_storage::{
    AuditEvent, PendingTag, PinKey, PinOutcome, PinRequest, PinnedTag, SignedSubject,
};

use crate::body::{ProxyBody, empty};
use crate::clock::now;
use crate::decisions::{audit_event, log_gate_decision};
use crate::error::ProxyError;
use crate::manifest::{Descriptor, ManifestShape, sha256_digest};
use crate::signatures::{
    Budget, MAX_SIGNATURE_BYTES, check_layer_count, layer_evidence, record_for,
};
use crate::state::AppState;
use crate::store_io::{held_fact, index_parents, tag_facts};
use crate::warning::warning;

mod delete;
mod request;

pub use delete::{delete_blob, delete_manifest};
pub use request::Push;

/// Pins `key` and drops a held (quarantined) push of the tag in the same transaction
/// ([`Store::pin_clearing_pending`]): once a tag is pinned, an unsigned push held before must
/// not keep it answering "awaits a signature", nor be promoted over the pin later. The drop is
/// audited (`clear-pending`, naming the held digest) and logged once durable. Every pin made in
/// the request path goes through here (push, first verified pull, followed drift). `event` is
/// the pin's decision, `record` its audit event.
///
/// [`Store::pin_clearing_pending`]: sealgate_storage::Store::pin_clearing_pending
pub(crate) async fn pin_tag(
    state: &AppState,
    key: &PinKey,
    pin: PinRequest,
    mutable: bool,
    event: &GateEvent,
    record: AuditEvent,
) -> Result<PinnedTag, ProxyError> {
    pin_releasing(state, key, pin, mutable, event, record, None).await
}

/// [`pin_tag`], releasing the held push of `released` (the digest, and the event of its
/// release) where it is still the one held.
async fn pin_releasing(
    state: &AppState,
    key: &PinKey,
    pin: PinRequest,
    mutable: bool,
    event: &GateEvent,
    record: AuditEvent,
    released: Option<(Digest, GateEvent)>,
) -> Result<PinnedTag, ProxyError> {
    let base = record.clone();
    let done = state
        .store
        .pin_clearing_pending(key, pin, mutable, record, &|held| AuditEvent {
            at: base.at,
            ..audit_event(
                &cleared(event, released.as_ref(), held),
                &key.upstream,
                &key.repository,
                base.identity.as_deref(),
                base.request_id.clone(),
            )
        })
        .await?;
    if let PinOutcome::Moved { previous } = &done.outcome {
        let why = format!("the tag moved from {previous}");
        crate::fleet::pins_changed(
            state,
            key,
            crate::fleet::pins_changed_event(key, &why, base.identity.clone()),
        )
        .await;
    }
    // Logged once durable; the pin itself is logged by its caller.
    if let Some((held, record)) = &done.cleared {
        let policy = state.policy();
        let scope = policy.scope_for(&key.repository).label();
        let reason = cleared(event, released.as_ref(), held).reason;
        log_gate_decision(&state.metrics, &record.event, reason, scope);
    }
    Ok(done)
}

/// The event of the held push a pin (`pinned`) cleared: its release, when it is the one
/// `released` names, or else its drop ([`superseded`]).
fn cleared(
    pinned: &GateEvent,
    released: Option<&(Digest, GateEvent)>,
    held: &PendingTag,
) -> GateEvent {
    match released {
        Some((digest, done)) if held.digest == *digest => done.clone(),
        _ => superseded(pinned, &held_fact(held)),
    }
}

/// `PUT /v2/<name>/manifests/<reference>` (end-7), with `body` already read under the cap.
pub async fn put_manifest(
    push: &Push<'_>,
    reference: &Reference,
    body: Bytes,
) -> Result<Response<ProxyBody>, ProxyError> {
    let digest = sha256_digest(&body);
    if let Reference::Digest(requested) = reference
        && *requested != digest
    {
        return Err(ProxyError::DigestMismatch {
            computed: digest.to_string(),
            requested: requested.to_string(),
        });
    }
    let manifest = ManifestShape::parse(&body)?;
    let size = body.len();
    let response = gate_manifest(push, reference, &manifest, body, &digest).await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    if let Err(e) = crate::facts::record(&push.source(), &digest, &manifest, size).await {
        // The push is done (forwarded, its tag pinned): answering 503 now would tell the
        // client that a pinned tag failed. Blob and child facts are recorded again by the next
        // pull that fetches the manifest. A referrer's fact is not (the registry has no
        // referrers API), so that push fails.
        if manifest.subject.is_some() {
            return Err(e);
        }
        tracing::warn!(error = %e, %digest, "push accepted, but its facts were not recorded (a pull records them)");
    }
    let mut response = response;
    if let Some(subject) = &manifest.subject
        && let Ok(v) = HeaderValue::from_str(&subject.digest)
    {
        // sealgate answers the referrers API, so clients need not maintain the fallback tag.
        response.headers_mut().insert("oci-subject", v);
    }
    Ok(response)
}

async fn gate_manifest(
    push: &Push<'_>,
    reference: &Reference,
    manifest: &ManifestShape,
    body: Bytes,
    digest: &Digest,
) -> Result<Response<ProxyBody>, ProxyError> {
    // A subject that is no digest is refused before anything is forwarded, whatever the tag.
    if let Some(subject) = &manifest.subject {
        subject.parsed_digest("subject")?;
    }
    let signature_subject = signature_subject(manifest)?;
    match reference {
        // By digest nothing moves: OCI 1.1 referrers carrying signatures are verified and
        // recorded, anything else is content-addressed and stored as it is.
        Reference::Digest(_) => match &signature_subject {
            Some(subject) => {
                intake_signatures(push, subject, reference, manifest, body, digest, None).await
            }
            None => push.forward_manifest(digest.as_str(), body).await,
        },
        Reference::Tag(tag) => {
            let key = PinKey {
                upstream: push.upstream.config.name.clone(),
                repository: push.name.clone(),
                tag: tag.clone(),
            };
            push_tag(
                push,
                &key,
                manifest,
                signature_subject.as_ref(),
                body,
                digest,
            )
            .await
        }
    }
}

/// The subject of a manifest that carries signatures sealgate verifies (an OCI 1.1 referrer
/// with cosign layers or sigstore bundles); `None` for anything else.
fn signature_subject(manifest: &ManifestShape) -> Result<Option<Digest>, ProxyError> {
    match &manifest.subject {
        Some(subject) if manifest.has_verifiable_signatures() => {
            subject.parsed_digest("subject").map(Some)
        }
        _ => Ok(None),
    }
}

/// What the tag roles read from a manifest ([`TagRole::admits`]): `doc` is its bytes as JSON
/// (`Null` if they are not), `layer_media_types` its layers' media types.
fn manifest_facts<'a>(
    manifest: &'a ManifestShape,
    doc: &serde_json::Value,
    signature_subject: Option<&'a Digest>,
    layer_media_types: &'a [&'a str],
) -> ManifestFacts<'a> {
    let listed = doc.get("manifests").and_then(serde_json::Value::as_array);
    ManifestFacts {
        signature_subject,
        subject: manifest.subject.as_ref().map(|s| s.digest.as_str()),
        schema2: doc.get("schemaVersion").and_then(serde_json::Value::as_u64) == Some(2)
            && doc.get("fsLayers").is_none(),
        lists_manifests: manifest.manifests.is_some() || listed.is_some(),
        referrers_list: manifest.layers.is_empty()
            && manifest.config.is_none()
            && listed.is_some_and(|list| {
                list.iter().all(|d| {
                    d.get("artifactType")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|t| !t.is_empty())
                        && d.get("platform").is_none()
                })
            }),
        is_signature: manifest.is_signature(),
        layer_media_types,
    }
}

/// A manifest pushed by tag, in three steps: gather the facts (what the manifest is; for an
/// image tag its pin and held push, read under its lock; the verdict when the gate asks for
/// it), let [`decide_push`] decide once, carry out its plan.
async fn push_tag(
    push: &Push<'_>,
    key: &PinKey,
    manifest: &ManifestShape,
    signature_subject: Option<&Digest>,
    body: Bytes,
    digest: &Digest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let tag = &key.tag;
    let policy = push.state.policy();
    let scope = policy.scope_for(push.name);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let media_types: Vec<&str> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    // Only image tags are pinned: the tags about an image are decided by what they hold.
    let (_guard, (pin, held)) = if TagRole::of(tag) == TagRole::Image {
        let guard = push.state.tag_locks.lock(key).await?;
        (Some(guard), tag_facts(&push.state.store, key).await?)
    } else {
        (None, (None, None))
    };
    // Declared before the facts that borrow them; computed only when the gate asks.
    let verdict: Verdict;
    let parents: Vec<Digest>;
    let mut facts = PushFacts {
        repository: push.name,
        tag,
        digest,
        scope,
        identity: push.identity,
        manifest: manifest_facts(manifest, &doc, signature_subject, &media_types),
        pin: pin.as_ref(),
        held: held.as_ref(),
        verdict: None,
        index_parents: &[],
        now: now(),
    };
    let mut plan = decide_push(&facts);
    if plan == PushPlan::Verify {
        verdict = push.verdict(digest, Some(tag), Some(&body)).await?;
        parents = index_parents(&push.state.store, &verdict, digest).await?;
        facts.verdict = Some(&verdict);
        facts.index_parents = &parents;
        facts.now = now();
        plan = decide_push(&facts);
    }
    carry_out(push, key, manifest, body, digest, plan).await
}

/// Carries out the push gate's plan for a manifest pushed by tag; for an image tag the caller
/// holds the tag's lock. The audit event, the decision line and the metrics label all come
/// from the plan's [`GateEvent`].
async fn carry_out(
    push: &Push<'_>,
    key: &PinKey,
    manifest: &ManifestShape,
    body: Bytes,
    digest: &Digest,
    plan: PushPlan,
) -> Result<Response<ProxyBody>, ProxyError> {
    let tag = &key.tag;
    match plan {
        PushPlan::Refuse { event } => Err(push.refuse_gate(&event).await),
        PushPlan::Repush { event } => {
            // Idempotent re-push: the upstream gets it again (harmless), nothing changes here.
            let response = push.forward_manifest(tag.as_str(), body).await?;
            push.audit_gate(&event).await?;
            Ok(response)
        }
        PushPlan::Material(role) => material(push, key, role, manifest, body, digest).await,
        PushPlan::Pin {
            warrant,
            mutable,
            event,
            warning: warn,
        } => {
            let response = push.forward_manifest(tag.as_str(), body).await?;
            if !response.status().is_success() {
                return Ok(response);
            }
            let pin = PinRequest::new(
                warrant,
                now().as_secs(),
                push.identity.map(str::to_owned),
                event.signers.clone(),
            );
            let record = push.gate_event(&event);
            push.decided(&record, event.reason);
            let pinned = pin_tag(push.state, key, pin, mutable, &event, record).await?;
            if let PinOutcome::Conflict { existing } = pinned.outcome {
                // Cannot happen under the tag lock; fail closed if it does.
                return Err(ProxyError::Denied(pinned_meanwhile(
                    push.name,
                    tag,
                    &existing.digest,
                )));
            }
            Ok(match warn {
                Some(text) => warning(response, &text),
                None => response,
            })
        }
        PushPlan::Quarantine { expires_at, event } => {
            quarantine(push, key, body, digest, expires_at, &event).await
        }
        // Verify is answered before carrying out: a plan that cannot come here refuses rather
        // than forwards.
        _ => Err(not_verified(push, key, digest)),
    }
}

/// The refusal of a plan that cannot come where it came (fail closed).
fn not_verified(push: &Push<'_>, key: &PinKey, digest: &Digest) -> ProxyError {
    ProxyError::Denied(format!(
        "{}:{} ({digest}) was not verified",
        push.name, key.tag
    ))
}

/// A tag about an image, holding material its role admits: `.sig` tags and attachments
/// carrying signatures go through signature intake; the referrers fallback tag lists only
/// referrers seen here ([`fallback_stranger`]); any other attachment is forwarded as it is.
async fn material(
    push: &Push<'_>,
    key: &PinKey,
    role: TagRole,
    manifest: &ManifestShape,
    body: Bytes,
    digest: &Digest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let tag = &key.tag;
    let reference = Reference::Tag(tag.clone());
    match role {
        TagRole::Signatures(subject) => {
            let sig_tag = Some(key.clone());
            intake_signatures(push, &subject, &reference, manifest, body, digest, sig_tag).await
        }
        TagRole::Attachment(subject) if manifest.has_verifiable_signatures() => {
            intake_signatures(push, &subject, &reference, manifest, body, digest, None).await
        }
        TagRole::Attachment(_) => push.forward_manifest(tag.as_str(), body).await,
        TagRole::ReferrersFallback(subject) => {
            let known = push
                .state
                .store
                .referrers(&push.upstream.config.name, push.name, &subject)
                .await?;
            let mut listed = Vec::new();
            for descriptor in manifest.manifests.iter().flatten() {
                listed.push(descriptor.parsed_digest("manifests[]")?);
            }
            if let Some(stranger) = listed
                .into_iter()
                .find(|child| !known.iter().any(|r| r.digest == *child))
            {
                let event = fallback_stranger(push.name, tag, digest, &subject, &stranger);
                return Err(push.refuse_gate(&event).await);
            }
            push.forward_manifest(tag.as_str(), body).await
        }
        // An image tag holds no material: never forwarded unpinned.
        TagRole::Image => Err(not_verified(push, key, digest)),
    }
}

/// Stores the manifest upstream by digest only; the tag waits for a signature until
/// `expires_at`. The caller holds the tag's lock.
///
/// Whether a live held push of another digest may be replaced is the gate's
/// ([`decide_push`]): only by the identity that made it. Where sealgate knows no identities
/// (passthrough without client certificates) every pusher is the same unknown one, and the last
/// push is held.
async fn quarantine(
    push: &Push<'_>,
    key: &PinKey,
    body: Bytes,
    digest: &Digest,
    expires_at: u64,
    event: &GateEvent,
) -> Result<Response<ProxyBody>, ProxyError> {
    let response = push.forward_manifest(digest.as_str(), body).await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    let pending = PendingTag {
        key: key.clone(),
        digest: digest.clone(),
        media_type: push.content_type(),
        expires_at,
        pushed_by: push.identity.map(str::to_owned),
    };
    let record = push.gate_event(event);
    push.decided(&record, event.reason);
    push.state.store.put_pending(pending, record).await?;
    let mut held = Response::new(empty());
    *held.status_mut() = StatusCode::CREATED;
    if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
        held.headers_mut().insert("docker-content-digest", v);
    }
    Ok(warning(held, &event.message))
}

/// Verifies the signatures of a `.sig` tag or a referrer manifest, records the valid ones and
/// forwards the manifest; then promotes tags waiting for this signature. Decided by
/// [`decide_signatures`]: once on the layers (append-only), once on their checks.
async fn intake_signatures(
    push: &Push<'_>,
    subject: &Digest,
    reference: &Reference,
    manifest: &ManifestShape,
    body: Bytes,
    manifest_digest: &Digest,
    sig_tag: Option<PinKey>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let policy = push.state.policy();
    let scope = policy.scope_for(push.name);
    let reference_text = reference.to_string();
    // Bounded before anything is done per layer: a 4 MiB manifest can list ~20,000 layers.
    check_layer_count(manifest)?;
    // One entry per layer, in order (`None` for a layer whose digest does not parse).
    let layer_ids: Vec<Option<Digest>> = manifest
        .layers
        .iter()
        .map(Descriptor::layer_identity)
        .collect();
    let layer_digests: Vec<Digest> = layer_ids.iter().flatten().cloned().collect();
    // `.sig` tags only grow: cosign appends a signature by re-pushing the tag with one more layer.
    let previous = match &sig_tag {
        Some(key) => push.state.store.sig_tag_layers(key).await?,
        None => Vec::new(),
    };
    let mut facts = SignatureFacts {
        repository: push.name,
        reference: &reference_text,
        subject,
        mode: scope.mode,
        previous: &previous,
        layers: &layer_digests,
        checks: None,
    };
    if let SignaturePlan::Refuse { event } = decide_signatures(&facts) {
        return Err(push.refuse_gate(&event).await);
    }
    let source = push.source();
    // Every verifiable layer's blob, each distinct one fetched once, within one budget (layers
    // verified before are read too, so the manifest's record names all its blobs).
    let blobs = source
        .signature_blobs(manifest, &mut Budget::new(MAX_SIGNATURE_BYTES))
        .await?;
    let observed = now();
    let subject_of = Subject {
        repository: push.name.clone(),
        digest: subject.clone(),
        tag: None,
    };
    // Layers accepted before are not checked again.
    let layers = layer_evidence(
        &body,
        manifest,
        &blobs,
        observed,
        &reference_text,
        |index| {
            layer_ids
                .get(index)
                .and_then(Option::as_ref)
                .is_some_and(|id| previous.contains(id))
        },
    )?;
    let mut checks = Vec::new();
    let mut records = Vec::new();
    for layer in &layers {
        let verdict = evaluate(
            &policy,
            &subject_of,
            std::slice::from_ref(&layer.evidence),
            observed,
        );
        if let Some(satisfied) = verdict.satisfied.first() {
            records.push(record_for(
                subject,
                manifest_digest,
                layer,
                satisfied,
                observed,
            ));
        }
        checks.push(LayerCheck::of_verdict(&verdict));
    }
    facts.checks = Some(&checks);
    let (event, warn) = match decide_signatures(&facts) {
        SignaturePlan::Accept { event, warning } => (event, warning),
        SignaturePlan::Refuse { event } => return Err(push.refuse_gate(&event).await),
        // The checks were given: a plan that cannot come here refuses rather than forwards.
        _ => {
            return Err(ProxyError::Denied(format!(
                "signature for {}@{subject} was not verified",
                push.name
            )));
        }
    };
    let upstream_reference = match reference {
        Reference::Tag(t) => t.to_string(),
        Reference::Digest(_) => manifest_digest.to_string(),
    };
    let response = push.forward_manifest(&upstream_reference, body).await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    // Verified here: pulls may serve this manifest (and its layer blobs) while the subject is
    // admitted. Only when a layer was verified now; an append that only re-lists earlier layers
    // (or adds attestations) is verified again if a pull asks for it.
    let verified = (!records.is_empty()).then(|| SignedSubject {
        subject: subject.clone(),
        layers: blobs.digests(),
    });
    let store = &push.state.store;
    // One transaction per fact, in this order (never one for all of them).
    for record in records {
        store.record_signature(record).await?;
    }
    if let Some(key) = &sig_tag {
        store.set_sig_tag_layers(key, &layer_digests).await?;
    }
    if let Some(signed) = verified {
        store
            .record_signature_manifest(
                &push.upstream.config.name,
                push.name,
                manifest_digest,
                &signed,
            )
            .await?;
    }
    // Pulls of the subject must see the new evidence now, not when a cached verdict expires.
    push.state.pull.verdicts.invalidate(subject);
    push.audit_gate(&event).await?;
    promote(push, subject).await?;
    Ok(match warn {
        Some(text) => warning(response, &text),
        None => response,
    })
}

/// Tags waiting for `subject` in this repository become real once it is admitted: the manifest
/// is pushed under the tag and pinned. For each held tag: gather the facts (the manifest the
/// upstream holds, its verdict; the hold and the pin under the tag's lock), let
/// [`decide_promote`] decide, carry out its plan.
async fn promote(push: &Push<'_>, subject: &Digest) -> Result<(), ProxyError> {
    let waiting = push.state.store.pending_for_digest(subject).await?;
    for pending in waiting {
        if pending.key.repository != *push.name || pending.key.upstream != push.upstream.config.name
        {
            continue;
        }
        let policy = push.state.policy();
        let scope: &Scope = policy.scope_for(push.name);
        let headers = push.source().headers(header::ACCEPT, &pending.media_type);
        let path = format!("/v2/{}/manifests/{subject}", push.name);
        let fetched = push
            .state
            .upstreams
            .request_buffered(
                push.upstream,
                Method::GET,
                &path,
                &headers,
                Bytes::new(),
                push.state.config.max_manifest_bytes,
            )
            .await?;
        if !fetched.status.is_success() || sha256_digest(&fetched.body) != *subject {
            tracing::warn!(%subject, status = %fetched.status, "cannot promote: the held manifest is not in the upstream");
            continue;
        }
        let tag = pending.key.tag.clone();
        let verdict = push
            .verdict(subject, Some(&tag), Some(&fetched.body))
            .await?;
        let parents = index_parents(&push.state.store, &verdict, subject).await?;
        let _guard = push.state.tag_locks.lock(&pending.key).await?;
        // Under the tag's lock, before the registry's tag is touched: the entry may have been
        // cleared or replaced meanwhile, or the tag pinned by a signed push.
        let (pinned, held) = tag_facts(&push.state.store, &pending.key).await?;
        let plan = decide_promote(&PromoteFacts {
            repository: push.name,
            tag: &tag,
            subject,
            scope,
            verdict: &verdict,
            held: held.as_ref(),
            pin: pinned.as_ref(),
            index_parents: &parents,
        });
        let (proof, mutable, pin_event, done_event) = match plan {
            PromotePlan::Drop { event } => {
                let record = push.gate_event(&event);
                if let Some((_, record)) = push
                    .state
                    .store
                    .remove_pending(&pending.key, record)
                    .await?
                {
                    log_gate_decision(
                        &push.state.metrics,
                        &record.event,
                        event.reason,
                        scope.label(),
                    );
                }
                continue;
            }
            PromotePlan::Release {
                proof,
                mutable,
                event,
                released,
            } => (proof, mutable, event, released),
            // Wait, or a plan this loop does not know: nothing is released.
            _ => continue,
        };
        let put_headers = push
            .source()
            .headers(header::CONTENT_TYPE, &pending.media_type);
        let put_path = format!("/v2/{}/manifests/{tag}", push.name);
        let put = push
            .state
            .upstreams
            .request_buffered(
                push.upstream,
                Method::PUT,
                &put_path,
                &put_headers,
                fetched.body.clone(),
                64 * 1024,
            )
            .await?;
        if !put.status.is_success() {
            tracing::warn!(%subject, %tag, status = %put.status, "cannot promote: the upstream refused the tag");
            continue;
        }
        let pin = PinRequest::admitted(
            proof,
            now().as_secs(),
            pending.pushed_by.clone(),
            pin_event.signers.clone(),
        );
        let record = push.gate_event(&pin_event);
        log_gate_decision(
            &push.state.metrics,
            &record,
            pin_event.reason,
            scope.label(),
        );
        // The entry released is the one read above (the lock keeps it); should it differ, it is
        // dropped as any held push a pin supersedes.
        let released = Some((subject.clone(), done_event));
        pin_releasing(
            push.state,
            &pending.key,
            pin,
            mutable,
            &pin_event,
            record,
            released,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sealgate_policies::gate::ReasonCode;

    use super::*;

    /// The gate's role check on the facts read from `body`.
    fn admits(tag: &str, body: &str) -> Result<(), (String, ReasonCode)> {
        let manifest = ManifestShape::parse(body.as_bytes()).unwrap();
        let doc = serde_json::from_str(body).unwrap_or_default();
        let subject = signature_subject(&manifest).unwrap();
        let media_types: Vec<&str> = manifest
            .layers
            .iter()
            .map(|l| l.media_type.as_str())
            .collect();
        let facts = manifest_facts(&manifest, &doc, subject.as_ref(), &media_types);
        TagRole::of(&tag.parse().unwrap())
            .admits(&"team/app".parse().unwrap(), &tag.parse().unwrap(), &facts)
            .map_err(|misfit| (misfit.message, misfit.reason))
    }

    #[test]
    fn material_tags_never_hold_an_image() {
        let hex = "a".repeat(64);
        let b = format!("sha256:{}", "b".repeat(64));
        let sig = format!("sha256-{hex}.sig");
        let att = format!("sha256-{hex}.att");
        let fallback = format!("sha256-{hex}");
        let layer = |media_type: &str| {
            format!(
                r#"{{"schemaVersion":2,"layers":[{{"mediaType":"{media_type}","digest":"{b}"}}]}}"#
            )
        };
        let simple = layer("application/vnd.dev.cosign.simplesigning.v1+json");
        assert_eq!(admits(&sig, &simple), Ok(()));
        assert_eq!(
            admits(&att, &layer("application/vnd.dsse.envelope.v1+json")),
            Ok(())
        );
        assert_eq!(admits(&att, &layer("text/spdx+json")), Ok(()));
        for runnable in [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "Application/VND.OCI.Image.Layer.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
            "",
        ] {
            for tag in [&sig, &att] {
                let (message, reason) = admits(tag, &layer(runnable)).unwrap_err();
                assert_eq!(reason, ReasonCode::NotForThisTag, "{runnable:?}");
                assert!(
                    message.starts_with(&format!("team/app:{tag} ")),
                    "{message}"
                );
            }
        }
        // A signature with one runnable layer among its signature layers is no signature.
        let mixed = format!(
            r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{b}"}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{b}"}}]}}"#
        );
        assert!(admits(&sig, &mixed).is_err());
        // Indexes: never under cosign's tags; under the fallback tag only a referrers list.
        let index = |descriptor: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{descriptor}]}}"#
            )
        };
        let referrer = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":1,"artifactType":"application/vnd.example"}}"#
        );
        let platform = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}}"#
        );
        let both = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":1,"artifactType":"x","platform":{{"architecture":"amd64","os":"linux"}}}}"#
        );
        assert_eq!(admits(&fallback, &index(&referrer)), Ok(()));
        assert_eq!(admits(&fallback, &index("")), Ok(()), "an empty list");
        for bad in [&platform, &both] {
            assert!(admits(&fallback, &index(bad)).is_err(), "{bad}");
        }
        assert!(admits(&fallback, &simple).is_err(), "not an index");
        for tag in [&sig, &att] {
            assert!(admits(tag, &index(&referrer)).is_err(), "{tag}");
        }
        // Schema 1, or no schema version, is refused under these tags.
        assert!(admits(&att, r#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
        assert!(admits(&att, r#"{"layers":[]}"#).is_err());
    }

    #[test]
    fn material_tags_hold_material_about_their_own_digest_only() {
        let hex = "a".repeat(64);
        let other = format!("sha256:{}", "c".repeat(64));
        let with_subject = |subject: &str| {
            format!(
                r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{other}"}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{subject}","size":1}}}}"#
            )
        };
        for tag in [format!("sha256-{hex}.sig"), format!("sha256-{hex}.att")] {
            assert_eq!(
                admits(&tag, &with_subject(&format!("sha256:{hex}"))),
                Ok(())
            );
            let (_, reason) = admits(&tag, &with_subject(&other)).unwrap_err();
            assert_eq!(reason, ReasonCode::WrongSubject);
        }
        // A signature referrer is not pushed under an image tag; an image is.
        let (message, reason) = admits("v1", &with_subject(&other)).unwrap_err();
        assert_eq!(reason, ReasonCode::NotForThisTag);
        assert!(
            message.contains(&format!("sha256-{}.sig", "c".repeat(64))),
            "{message}"
        );
        let image = format!(
            r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{other}"}}]}}"#
        );
        assert_eq!(admits("v1", &image), Ok(()));
    }

    #[test]
    fn r12_every_gate_reason_is_a_documented_metrics_label() {
        use sealgate_policies::gate::ReasonCode as C;
        let docs = include_str!("../../docs/metrics.md");
        // The reason table: from its header to the first blank line after it.
        let table = &docs[docs.find("| reason | when |").unwrap()..];
        let table = &table[..table.find("\n\n").unwrap_or(table.len())];
        let mut seen = std::collections::HashSet::new();
        for code in [
            C::Admitted,
            C::SameDigest,
            C::SignatureVerified,
            C::Unsigned,
            C::NoSigners,
            C::NotEnoughSigners,
            C::InvalidSignature,
            C::Attestation,
            C::Revoked,
            C::Expired,
            C::NotYetValid,
            C::CrlExpired,
            C::UntrustedChain,
            C::IdentityMismatch,
            C::WrongSubject,
            C::Transparency,
            C::Timestamp,
            C::TagPinned,
            C::AppendOnly,
            C::QuarantineExpired,
            C::UpstreamMoved,
            C::UpstreamMissing,
            C::NotForThisTag,
            C::PendingSuperseded,
            C::HeldForAnother,
            C::Protected,
            C::PinOrphaned,
        ] {
            let label = code.as_str();
            assert!(seen.insert(label), "{code:?}: label {label} given twice");
            assert!(
                table.contains(&format!("`{label}`")),
                "{code:?}: label {label} is not in docs/metrics.md"
            );
        }
    }

    #[test]
    fn signature_manifests_are_recognised_by_their_layers() {
        let sig = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:00"}]}"#,
        )
        .unwrap();
        assert!(sig.is_signature());
        let image = ManifestShape::parse(
            br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00"}]}"#,
        )
        .unwrap();
        assert!(!image.is_signature());
        assert!(matches!(
            ManifestShape::parse(b"nope"),
            Err(ProxyError::ManifestInvalid(_))
        ));
    }
}
