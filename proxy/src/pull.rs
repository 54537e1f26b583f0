//! The pull gate: manifest GET/HEAD and blob GET.
//!
//! - A tag is answered with the manifest of its **pinned** digest, re-verified against the
//!   trust in force; a tag sealgate has not pinned is resolved in the upstream, verified with
//!   the signatures found there, and pinned when admitted (trust on first verified use).
//! - A digest is served when it is admitted (signed, or a child of a signed index) or when it
//!   is a signature manifest sealgate itself verified for a subject admitted now (clients need
//!   it to verify for themselves); never on its shape alone.
//! - The upstream's tag is compared with the pin now and then; a moved tag is drift: reported
//!   (audit, log, counter), never followed unless the scope says so and the new digest is admitted.
//! - With `gate_blobs`, a blob is served only when a manifest listing it is admitted, or it is a
//!   layer of a signature manifest sealgate verified for an admitted subject.
//!
//! Enforce refuses with 403 and the reason; warn serves with a `Warning` header; audit serves.
//! Each computed verdict is audited once, not every retry of a refused pull.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sealgate_policies::gate::{
    BlobFacts, BlobPlan, GateEvent, PinFact, PullFacts, PullKind, PullPlan, Report, TagRole,
    TagRoute, decide_blob, decide_pull, gates_blobs, pinned_missing, route_tag,
};
use sealgate_policies::oci::{Digest, Reference, RepoName, Tag};
use sealgate_policies::verdict::{Admitted, Verdict};
use sealgate_storage::{AuditEvent, ManifestKind, PinKey, PinOutcome, PinRequest};

use crate::body::{ProxyBody, empty, full};
use crate::cache::{CachedManifest, CachedVerdict, ManifestKey, VerdictKey};
use crate::clock::now;
use crate::decisions::{audit_event, log_gate_decision};
use crate::error::ProxyError;
use crate::manifest::{ManifestShape, sha256_digest};
use crate::push::pin_tag;
use crate::signatures::{MANIFEST_ACCEPT, Source};
use crate::state::AppState;
use crate::store_io::{held_fact, index_parents};
use crate::upstream::{Buffered, Upstream};
use crate::verdicts::{Discovery, verdict, verify_signature_manifest};
use crate::warning::warning;

/// One manifest or blob pull.
pub struct Pull<'a> {
    /// Shared state (owned, so drift checks can outlive the request).
    pub state: &'a Arc<AppState>,
    /// The upstream the request goes to.
    pub upstream: &'a Upstream,
    /// Repository.
    pub name: &'a RepoName,
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// GET or HEAD.
    pub method: &'a Method,
    /// Who pulls (gateway auth, or a client certificate), as the audit log records it.
    pub identity: Option<&'a str>,
}

/// A manifest fetched from the upstream, or the upstream's refusal to relay as is (401 with its
/// challenge, 404).
enum Fetched {
    Manifest(Arc<CachedManifest>, Digest),
    Relay(Buffered),
}

impl Pull<'_> {
    fn source(&self) -> Source<'_> {
        Source {
            state: self.state,
            upstream: self.upstream,
            name: self.name,
            authorization: self.headers.get(header::AUTHORIZATION),
        }
    }

    /// The client's credentials as far as the upstream sees them (see [`ManifestKey`]).
    fn credential(&self) -> Option<u64> {
        if self.upstream.config.auth.is_some() {
            return None;
        }
        let authorization = self.headers.get(header::AUTHORIZATION)?;
        Some(
            self.state
                .pull
                .manifests
                .credential(authorization.as_bytes()),
        )
    }

    fn request_id(&self) -> Option<String> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn key(&self, tag: &Tag) -> PinKey {
        PinKey {
            upstream: self.upstream.config.name.clone(),
            repository: self.name.clone(),
            tag: tag.clone(),
        }
    }

    /// The audit event of a pull gate's decision about this pull.
    fn gate_event(&self, event: &GateEvent) -> AuditEvent {
        audit_event(
            event,
            &self.upstream.config.name,
            self.name,
            self.identity,
            self.request_id(),
        )
    }

    /// The manifest `reference` from the cache or the upstream. Fetched by tag, the client's
    /// `Accept` lines go upstream (they choose among a tag's representations); by digest, any
    /// manifest type is accepted, since the bytes are fixed by the digest.
    async fn fetch(&self, reference: &str) -> Result<Fetched, ProxyError> {
        let by_digest = reference.parse::<Digest>().ok();
        let cache_key = |digest: Digest| ManifestKey {
            upstream: self.upstream.config.name.clone(),
            repository: self.name.clone(),
            digest,
            credential: self.credential(),
        };
        if let Some(digest) = &by_digest
            && let Some(cached) = self.state.pull.manifests.get(&cache_key(digest.clone()))
        {
            return Ok(Fetched::Manifest(cached, digest.clone()));
        }
        let source = self.source();
        let mut headers = HeaderMap::new();
        if by_digest.is_none() {
            for accept in self.headers.get_all(header::ACCEPT) {
                headers.append(header::ACCEPT, accept.clone());
            }
        }
        if headers.is_empty() {
            headers = source.headers(header::ACCEPT, MANIFEST_ACCEPT);
        } else if let Some(auth) = self.headers.get(header::AUTHORIZATION) {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        let fetched = source
            .get(
                Method::GET,
                &format!("manifests/{reference}"),
                &headers,
                self.state.config.max_manifest_bytes,
            )
            .await?;
        if !fetched.status.is_success() {
            return Ok(Fetched::Relay(fetched));
        }
        let digest = sha256_digest(&fetched.body);
        let claimed = fetched
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok());
        let mismatch = by_digest.as_ref().is_some_and(|d| *d != digest)
            || claimed.is_some_and(|c| c != digest.as_str());
        if mismatch {
            return Err(ProxyError::UpstreamBody {
                upstream: self.upstream.config.name.clone(),
                why: format!("manifest {reference} does not hash to the digest it was served as"),
            });
        }
        let shape = ManifestShape::parse(&fetched.body).map_err(|e| ProxyError::UpstreamBody {
            upstream: self.upstream.config.name.clone(),
            why: format!("manifest {reference}: {e}"),
        })?;
        crate::facts::record(&source, &digest, &shape, fetched.body.len()).await?;
        // The type the verified bytes declare, never the upstream's header: a Content-Type that
        // contradicts the bytes would make clients read them as another kind of document.
        let media_type = shape.content_type().to_owned();
        let cached = self.state.pull.manifests.insert(
            cache_key(digest.clone()),
            CachedManifest {
                media_type,
                body: fetched.body,
            },
        );
        Ok(Fetched::Manifest(cached, digest))
    }

    /// The verdict on `digest` pulled by `tag`, from the cache or computed (with the upstream's
    /// signatures) under the trust in force.
    async fn cached_verdict(
        &self,
        digest: &Digest,
        tag: Option<&Tag>,
        manifest: Option<&Bytes>,
    ) -> Result<CachedVerdict, ProxyError> {
        let policy = self.state.policy();
        let key = VerdictKey {
            upstream: self.upstream.config.name.clone(),
            repository: self.name.clone(),
            digest: digest.clone(),
            tag: tag.cloned(),
            generation: policy.generation(),
        };
        let source = self.source();
        self.state
            .pull
            .verdicts
            .get_or_compute(&key, || {
                verdict(&source, &policy, digest, tag, manifest, Discovery::Upstream)
            })
            .await
    }

    /// The verdict on `digest` (cached), decided by the pull gate
    /// ([`decide_pull`]), and the decision reported as the plan says: every admitted pull
    /// counted, anything else logged, and audited once per computed verdict. A refusal is
    /// `Err(Denied)`; otherwise the plan to carry out, with the verdict it was made on.
    async fn decide(
        &self,
        reference: &str,
        digest: &Digest,
        kind: PullKind<'_>,
        manifest: &CachedManifest,
    ) -> Result<(Arc<Verdict>, PullPlan), ProxyError> {
        let tag = match kind {
            PullKind::Pinned(tag) | PullKind::FirstPull(tag) => Some(tag),
            _ => None,
        };
        let cached = self
            .cached_verdict(digest, tag, Some(&manifest.body))
            .await?;
        self.decide_on(reference, digest, kind, cached).await
    }

    /// [`Pull::decide`] on a verdict already at hand.
    async fn decide_on(
        &self,
        reference: &str,
        digest: &Digest,
        kind: PullKind<'_>,
        cached: CachedVerdict,
    ) -> Result<(Arc<Verdict>, PullPlan), ProxyError> {
        let verdict = cached.verdict;
        let parents = index_parents(&self.state.store, &verdict, digest).await?;
        let plan = decide_pull(&PullFacts {
            repository: self.name,
            reference,
            digest,
            kind,
            // Served before a verdict is asked for ([`verified_signature`]).
            verified_signature: false,
            verdict: Some(&verdict),
            index_parents: &parents,
            first_report: cached.first_report,
        });
        let (event, report) = match &plan {
            PullPlan::Serve { event, report, .. } | PullPlan::Refuse { event, report, .. } => {
                (event, *report)
            }
            PullPlan::PinAndServe { event, .. } => (event, Report::Count),
            // The verdict was given: no other plan can come here; refuse rather than serve.
            _ => {
                return Err(ProxyError::Denied(format!(
                    "{}:{reference} ({digest}) is not admitted: {}",
                    self.name,
                    verdict.explain()
                )));
            }
        };
        match report {
            Report::Count => {
                // Every admitted pull is counted; logging each one is left to debug level.
                self.state.metrics.decision(
                    event.action.as_str(),
                    event.outcome.as_str(),
                    event.reason,
                    &verdict.scope,
                );
                tracing::debug!(target: "sealgate::decision", repository = %self.name, reference, %digest, "pull admitted");
            }
            Report::Log { persist } => {
                let record = self.gate_event(event);
                log_gate_decision(&self.state.metrics, &record, event.reason, &verdict.scope);
                if persist {
                    self.state.store.append_audit(record).await?;
                }
            }
        }
        match plan {
            // The client is told the plan's message; the refusal keeps its typed decision.
            PullPlan::Refuse { message, event, .. } => {
                Err(ProxyError::refused(GateEvent { message, ..event }))
            }
            plan => Ok((verdict, plan)),
        }
    }

    fn respond(
        &self,
        digest: &Digest,
        manifest: &CachedManifest,
        warn: Option<&str>,
    ) -> Response<ProxyBody> {
        let body = if *self.method == Method::HEAD {
            empty()
        } else {
            full(manifest.body.clone())
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&manifest.media_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(manifest.body.len()),
        );
        if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
            headers.insert("docker-content-digest", v);
        }
        match warn {
            Some(message) => warning(response, message),
            None => response,
        }
    }
}

/// `GET|HEAD /v2/<name>/manifests/<reference>` (end-3).
pub async fn get_manifest(
    pull: &Pull<'_>,
    reference: &Reference,
) -> Result<Response<ProxyBody>, ProxyError> {
    match reference {
        Reference::Digest(digest) => by_digest(pull, digest).await,
        Reference::Tag(tag) => match TagRole::of(tag) {
            TagRole::Image => by_tag(pull, tag).await,
            role => attachment(pull, tag, role.cosign_subject()).await,
        },
    }
}

async fn by_digest(pull: &Pull<'_>, digest: &Digest) -> Result<Response<ProxyBody>, ProxyError> {
    let (manifest, digest) = match pull.fetch(digest.as_str()).await? {
        Fetched::Manifest(m, d) => (m, d),
        Fetched::Relay(upstream) => return Ok(relay(upstream)),
    };
    serve_digest(pull, digest.as_str(), &digest, &manifest, None).await
}

/// A digest, whatever named it, is served only with a verdict: a signature manifest that
/// sealgate verified for a subject admitted now ([`verified_signature`]), anything else by its
/// own verdict (refused in enforce unless it is signed itself). `tag_subject` is the subject a
/// cosign attachment tag names.
async fn serve_digest(
    pull: &Pull<'_>,
    reference: &str,
    digest: &Digest,
    manifest: &CachedManifest,
    tag_subject: Option<&Digest>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if verified_signature(pull, digest, manifest, tag_subject).await? {
        return Ok(pull.respond(digest, manifest, None));
    }
    let (_, plan) = pull
        .decide(reference, digest, PullKind::Digest, manifest)
        .await?;
    Ok(pull.respond(digest, manifest, served_warning(&plan)))
}

/// Whether `manifest` (digest `digest`) is signature material sealgate verified itself, in this
/// repository, for a subject that is admitted now. Its shape alone proves nothing (any image
/// can label its layers as signatures), so it must be recorded as verified; one that is not
/// (added in the upstream, or recorded by an older sealgate) is verified now when it names a
/// subject (`tag_subject`, or its own `subject`) that is admitted, and recorded if it passes.
async fn verified_signature(
    pull: &Pull<'_>,
    digest: &Digest,
    manifest: &CachedManifest,
    tag_subject: Option<&Digest>,
) -> Result<bool, ProxyError> {
    let Ok(shape) = ManifestShape::parse(&manifest.body) else {
        return Ok(false);
    };
    if !shape.is_signature() {
        return Ok(false);
    }
    let recorded = pull
        .state
        .store
        .signature_manifest_subjects(&pull.upstream.config.name, pull.name, digest)
        .await?;
    for signed in &recorded {
        if subject_admitted(pull, &signed.subject).await?.is_some() {
            return Ok(true);
        }
    }
    let named = tag_subject.cloned().or_else(|| {
        shape
            .subject
            .as_ref()
            .and_then(|s| s.digest.parse::<Digest>().ok())
    });
    let Some(subject) = named else {
        return Ok(false);
    };
    // Verified for it already, and it is not admitted: nothing to gain by verifying again.
    if recorded.iter().any(|r| r.subject == subject)
        || subject_admitted(pull, &subject).await?.is_none()
    {
        return Ok(false);
    }
    let policy = pull.state.policy();
    verify_signature_manifest(
        &pull.source(),
        &policy,
        &subject,
        digest,
        &manifest.body,
        &shape,
    )
    .await
}

/// The proof that `subject` is admitted now in this repository, if it is: its verdict (cached),
/// computed with its manifest's bytes (from the cache or the upstream) so that bundles over the
/// artifact count. Not admitted when the upstream does not have it.
async fn subject_admitted(
    pull: &Pull<'_>,
    subject: &Digest,
) -> Result<Option<Admitted>, ProxyError> {
    let manifest = match pull.fetch(subject.as_str()).await? {
        Fetched::Manifest(m, _) => m,
        Fetched::Relay(_) => return Ok(None),
    };
    let cached = pull
        .cached_verdict(subject, None, Some(&manifest.body))
        .await?;
    Ok(cached.verdict.admitted().cloned())
}

/// cosign's `.sig`/`.att`/`.sbom` tags and the referrers fallback tag: never pinned (they grow
/// as signatures are added). What an attachment tag holds is served like any digest
/// ([`serve_digest`]): as a signature sealgate verified for the admitted image the tag names, or
/// by its own verdict. The fallback tag's referrers index is served as it is, which is safe: an
/// index runs nothing, it is unsigned so it admits none of the children it lists, and a client
/// fetches each of them by digest, through [`serve_digest`].
/// `subject`: the image a cosign tag names (`None` for the fallback tag).
async fn attachment(
    pull: &Pull<'_>,
    tag: &Tag,
    subject: Option<&Digest>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (manifest, digest) = match pull.fetch(tag.as_str()).await? {
        Fetched::Manifest(m, d) => (m, d),
        Fetched::Relay(upstream) => return Ok(relay(upstream)),
    };
    let referrers_index = subject.is_none()
        && ManifestShape::parse(&manifest.body).is_ok_and(|s| {
            s.manifests
                .as_ref()
                .is_some_and(|m| m.iter().all(|d| d.artifact_type.is_some()))
        });
    if referrers_index {
        return Ok(pull.respond(&digest, &manifest, None));
    }
    serve_digest(pull, tag.as_str(), &digest, &manifest, subject).await
}

async fn by_tag(pull: &Pull<'_>, tag: &Tag) -> Result<Response<ProxyBody>, ProxyError> {
    let key = pull.key(tag);
    let route = match tag_route(pull, &key).await {
        Ok(route) => route,
        Err(e) => return stale_or(pull, &key, e),
    };
    match route {
        TagRoute::Pinned(pinned) => {
            crate::drift::check_drift_when_due(pull.state, pull.headers, &key, &pinned);
            serve_pinned(pull, &key, &pinned).await
        }
        // A quarantined tag gets 404 saying why, not the upstream's bare 404.
        TagRoute::Pending { message } => Err(ProxyError::Pending(message)),
        TagRoute::FirstPull => first_pull(pull, &key).await,
    }
}

/// Where a pull of `key` goes. The pin comes from this replica's pin cache while fresh
/// ([`crate::pin_cache`]) and the fleet generation was read within the last second (else a
/// change made on another replica could be missed: the store is read, and fails closed when
/// out of reach), else from the store; a pin found is cached, an absent one never is. A held
/// push matters only to a tag with no pin, so it is read only then.
async fn tag_route(pull: &Pull<'_>, key: &PinKey) -> Result<TagRoute, ProxyError> {
    let pins = &pull.state.pull.pins;
    if pull.state.fleet.in_sync()
        && let Some(pin) = pins.fresh(key)
    {
        return Ok(route_tag(pull.name, &key.tag, Some(&pin), None));
    }
    let store = &pull.state.store;
    let pin = store.get_pin(key).await?.map(|p| PinFact {
        digest: p.digest,
        signers: p.signers,
    });
    let held = match &pin {
        Some(pin) => {
            pins.read(key, pin);
            None
        }
        None => store.pending(key).await?.as_ref().map(held_fact),
    };
    Ok(route_tag(pull.name, &key.tag, pin.as_ref(), held.as_ref()))
}

/// `error` from the pull of pinned `key`, or, when it is the store out of reach and
/// `storage.stale_reads` allows, the answer this replica last served for the pin
/// ([`crate::pin_cache::PinCache::stale`]): logged and counted.
fn stale_or(
    pull: &Pull<'_>,
    key: &PinKey,
    error: ProxyError,
) -> Result<Response<ProxyBody>, ProxyError> {
    let ProxyError::Store(e) = &error else {
        return Err(error);
    };
    if !e.is_transient() {
        return Err(error);
    }
    pull.state.fleet.unconfirm();
    let generation = pull.state.policy().generation();
    match pull
        .state
        .pull
        .pins
        .stale(key, pull.credential(), generation)
    {
        Some(answer) => {
            tracing::warn!(
                repository = %pull.name,
                tag = %key.tag,
                digest = %answer.digest,
                pin_age_ms = answer.age.as_millis() as u64,
                error = %e,
                "store out of reach: pull served from the last-known pin and verdict (storage.stale_reads)"
            );
            Ok(pull.respond(&answer.digest, &answer.manifest, None))
        }
        None => Err(error),
    }
}

/// The pinned digest of `key`, re-verified under the trust in force. A store out of reach
/// while fetching or verifying falls back to a stale answer ([`stale_or`]); once decided, a
/// failure is the answer (a refusal is never replaced by an older admission).
async fn serve_pinned(
    pull: &Pull<'_>,
    key: &PinKey,
    pinned: &Digest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let tag = &key.tag;
    let manifest = match pull.fetch(pinned.as_str()).await {
        Ok(Fetched::Manifest(m, _)) => m,
        Ok(Fetched::Relay(upstream)) if upstream.status == StatusCode::NOT_FOUND => {
            return Err(ProxyError::ManifestUnknown(pinned_missing(
                pull.name, tag, pinned,
            )));
        }
        Ok(Fetched::Relay(upstream)) => return Ok(relay(upstream)),
        Err(e) => return stale_or(pull, key, e),
    };
    // Read before the verdict: what is served is recorded under the older of the two.
    let generation = pull.state.policy().generation();
    let cached = match pull
        .cached_verdict(pinned, Some(tag), Some(&manifest.body))
        .await
    {
        Ok(cached) => cached,
        Err(e) => return stale_or(pull, key, e),
    };
    let (verdict, plan) = pull
        .decide_on(tag.as_str(), pinned, PullKind::Pinned(tag), cached)
        .await?;
    if verdict.admitted().is_some() {
        pull.state
            .pull
            .pins
            .served(key, pinned, &manifest, pull.credential(), generation);
    }
    Ok(pull.respond(pinned, &manifest, served_warning(&plan)))
}

/// A tag sealgate has no pin for: resolved in the upstream, verified with the signatures found
/// there, and pinned if admitted, so that the upstream's tag can never move under it later.
async fn first_pull(pull: &Pull<'_>, key: &PinKey) -> Result<Response<ProxyBody>, ProxyError> {
    let tag = &key.tag;
    let (manifest, digest) = match pull.fetch(tag.as_str()).await? {
        Fetched::Manifest(m, d) => (m, d),
        Fetched::Relay(upstream) => return Ok(relay(upstream)),
    };
    let (verdict, plan) = pull
        .decide(tag.as_str(), &digest, PullKind::FirstPull(tag), &manifest)
        .await?;
    let (proof, pin_event) = match plan {
        PullPlan::PinAndServe {
            proof, pin_event, ..
        } => (proof, pin_event),
        // Served by warn or audit mode, unpinned: only admitted content is pinned.
        plan => return Ok(pull.respond(&digest, &manifest, served_warning(&plan))),
    };
    let _guard = pull.state.tag_locks.lock(key).await?;
    let pin = PinRequest::admitted(proof, now().as_secs(), None, pin_event.signers.clone());
    let record = pull.gate_event(&pin_event);
    log_gate_decision(
        &pull.state.metrics,
        &record,
        pin_event.reason,
        &verdict.scope,
    );
    let pinned = pin_tag(pull.state, key, pin, false, &pin_event, record).await?;
    match pinned.outcome {
        PinOutcome::Conflict { existing } => {
            // Pinned by a push (or another pull) meanwhile: the pin wins.
            drop(_guard);
            serve_pinned(pull, key, &existing.digest).await
        }
        _ => Ok(pull.respond(&digest, &manifest, None)),
    }
}

/// The `Warning` header a served pull carries (warn mode), if any.
fn served_warning(plan: &PullPlan) -> Option<&str> {
    match plan {
        PullPlan::Serve { warning, .. } => warning.as_deref(),
        _ => None,
    }
}

/// An upstream answer passed on as it came (status, challenge, error body).
fn relay(upstream: Buffered) -> Response<ProxyBody> {
    let mut response = Response::new(full(upstream.body));
    *response.status_mut() = upstream.status;
    for name in [
        header::CONTENT_TYPE,
        header::WWW_AUTHENTICATE,
        header::RETRY_AFTER,
    ] {
        for value in upstream.headers.get_all(&name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// With `gate_blobs`, a blob is served only when a manifest listing it is admitted, or when it
/// is a layer blob sealgate itself read (and checked against its digest) while verifying a
/// signature manifest of a subject admitted now (clients such as cosign fetch the payloads to
/// verify for themselves). A manifest's kind says nothing here: a signature-shaped manifest
/// sealgate did not verify opens no blob, and a verified one opens only its layers, not its
/// config. Returns a warning to add in warn mode.
pub async fn check_blob(pull: &Pull<'_>, digest: &Digest) -> Result<Option<String>, ProxyError> {
    let policy = pull.state.policy();
    let scope = policy.scope_for(pull.name);
    if !gates_blobs(scope) {
        return Ok(None);
    }
    let owners = pull.state.store.blob_owners(digest).await?;
    let admitted_owner = admitted_owner(pull, digest, &owners).await?;
    match decide_blob(&BlobFacts {
        repository: pull.name,
        digest,
        scope,
        owners: owners.len(),
        admitted_owner: admitted_owner.as_ref(),
    }) {
        BlobPlan::Refuse { message } => Err(ProxyError::Denied(message)),
        BlobPlan::Warn { message } => Ok(Some(message)),
        // Served: ungated, owned by an admitted manifest, or let through by audit mode.
        BlobPlan::Ungated | BlobPlan::Serve { .. } | BlobPlan::Audit => Ok(None),
        // A plan this step does not know: refused rather than served.
        _ => Err(ProxyError::Denied(format!(
            "blob {digest} of {} was not admitted",
            pull.name
        ))),
    }
}

/// The proof of the first owner found admitted: a manifest listing the blob, or the subject of
/// a signature manifest sealgate verified whose layer it is.
async fn admitted_owner(
    pull: &Pull<'_>,
    digest: &Digest,
    owners: &[(Digest, ManifestKind)],
) -> Result<Option<Admitted>, ProxyError> {
    for (manifest, _) in owners {
        let verified = pull
            .state
            .store
            .signature_manifest_subjects(&pull.upstream.config.name, pull.name, manifest)
            .await?;
        for signed in verified.iter().filter(|s| s.layers.contains(digest)) {
            if let Some(proof) = subject_admitted(pull, &signed.subject).await? {
                return Ok(Some(proof));
            }
        }
        let cached = pull.cached_verdict(manifest, None, None).await?;
        if let Some(proof) = cached.verdict.admitted() {
            return Ok(Some(proof.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_answers_keep_the_challenge() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"https://auth.example/token\""),
        );
        headers.insert("x-internal", HeaderValue::from_static("dropped"));
        let response = relay(Buffered {
            status: StatusCode::UNAUTHORIZED,
            headers,
            body: Bytes::from_static(b"{}"),
        });
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(!response.headers().contains_key("x-internal"));
    }
}
