//! `DELETE` of manifests (end-9) and blobs (end-10).
//!
//! Deleting content that a pinned or held tag needs would leave a signed image unpullable, or a
//! pin naming a digest that is gone. Such a delete is refused with 405 `UNSUPPORTED`, the spec's
//! answer to a delete that is not allowed, unless the scope is `mode = "audit"` and every tag
//! involved may move (`immutable_tags = false`, or the tag matches `mutable_tags`). There it
//! goes through, audited, and the pins or held pushes it orphans are retired, each with its
//! own audit event.
//!
//! What protects a manifest digest (its "guards"): the tags pinned to it, the tags pinned to an
//! index that lists it (directly or through nested indexes), and the tags held in quarantine
//! for either. A blob is protected by the guards of every manifest that lists it (config or
//! layer).
//!
//! Deleting a tag: distribution cannot do it and answers 400 `DIGEST_INVALID`; sealgate answers
//! 405 `UNSUPPORTED`, which the spec allows for registries that do not delete tags. An upstream
//! that can delete tags is relayed as it answers.

use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt as _;
use sealgate_policies::gate::{DeleteFacts, DeletePlan, Guard, decide_delete, orphaned};
use sealgate_policies::oci::{Digest, Reference, RepoName, Tag};
use sealgate_storage::{PinKey, StorageError, Store};

use super::request::Push;
use crate::body::{ProxyBody, empty, full};
use crate::decisions::log_gate_decision;
use crate::error::ProxyError;
use crate::upstream::Forward;

/// Indexes above a manifest followed at most (nested indexes are rare; the walk is bounded,
/// and a walk cut short protects the manifest with every pin of its repository).
const MAX_ANCESTORS: usize = 256;

/// The most of an upstream's error body read to recognise its code.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The guards of manifest `digest` in one repository: tags pinned or held for it or for an
/// index above it. `pins` are the repository's pins.
async fn manifest_guards(
    store: &dyn Store,
    (upstream, repository): (&str, &RepoName),
    pins: &[(PinKey, sealgate_storage::Pin)],
    digest: &Digest,
    direct: bool,
) -> Result<Vec<Guard>, StorageError> {
    // Indexes listing it, and the indexes listing those, breadth first and bounded.
    let mut ancestors: Vec<Digest> = Vec::new();
    let mut frontier = vec![digest.clone()];
    // Anyone may push indexes by digest: past the bound, which pins need it is unknown, so
    // every pin of the repository counts as needing it (the delete fails closed).
    let mut cut = false;
    while let Some(next) = frontier.pop() {
        for parent in store.indexes_containing(&next).await? {
            if parent == *digest || ancestors.contains(&parent) {
                continue;
            }
            if ancestors.len() >= MAX_ANCESTORS {
                cut = true;
                frontier.clear();
                break;
            }
            ancestors.push(parent.clone());
            frontier.push(parent);
        }
    }
    let mut guards = Vec::new();
    for (pin_key, pin) in pins {
        let itself = pin.digest == *digest;
        if itself || cut || ancestors.contains(&pin.digest) {
            guards.push(Guard {
                tag: pin_key.tag.clone(),
                digest: pin.digest.clone(),
                pinned: true,
                direct: direct && itself,
            });
        }
    }
    for held_for in std::iter::once(digest).chain(&ancestors) {
        for pending in store.pending_for_digest(held_for).await? {
            if pending.key.upstream == upstream && pending.key.repository == *repository {
                guards.push(Guard {
                    tag: pending.key.tag.clone(),
                    digest: pending.digest.clone(),
                    pinned: false,
                    direct: direct && held_for == digest,
                });
            }
        }
    }
    Ok(guards)
}

/// What a delete removes.
#[derive(Debug, Clone)]
enum Target {
    /// A manifest, by tag or digest.
    Manifest(Reference),
    /// A blob.
    Blob(Digest),
}

impl Target {
    fn path(&self, name: &RepoName) -> String {
        match self {
            Self::Manifest(reference) => format!("/v2/{name}/manifests/{reference}"),
            Self::Blob(digest) => format!("/v2/{name}/blobs/{digest}"),
        }
    }

    fn reference(&self) -> String {
        match self {
            Self::Manifest(reference) => reference.to_string(),
            Self::Blob(digest) => digest.to_string(),
        }
    }

    fn what(&self, name: &RepoName) -> String {
        match self {
            Self::Manifest(Reference::Tag(tag)) => format!("tag {name}:{tag}"),
            Self::Manifest(Reference::Digest(digest)) => format!("manifest {name}@{digest}"),
            Self::Blob(digest) => format!("blob {digest} of {name}"),
        }
    }
}

/// The tags that need what `target` names, read from the store.
async fn guards(push: &Push<'_>, target: &Target) -> Result<Vec<Guard>, ProxyError> {
    let upstream = &push.upstream.config.name;
    let repository = push.name;
    // Separate reads, never one transaction (they were not before either).
    let s = push.state.store.as_ref();
    let pins = s.pins(upstream, Some(repository)).await?;
    let here = (upstream.as_str(), repository);
    match target {
        Target::Manifest(Reference::Tag(tag)) => {
            // A tag delete removes the tag only: its own pin or held push is what it touches.
            let tag_key = PinKey {
                upstream: upstream.clone(),
                repository: repository.clone(),
                tag: tag.clone(),
            };
            let mut guards = Vec::new();
            if let Some(pin) = s.get_pin(&tag_key).await? {
                guards.push(Guard {
                    tag: tag.clone(),
                    digest: pin.digest,
                    pinned: true,
                    direct: true,
                });
            }
            if let Some(pending) = s.pending(&tag_key).await? {
                guards.push(Guard {
                    tag: tag.clone(),
                    digest: pending.digest,
                    pinned: false,
                    direct: true,
                });
            }
            Ok(guards)
        }
        Target::Manifest(Reference::Digest(digest)) => {
            Ok(manifest_guards(s, here, &pins, digest, true).await?)
        }
        Target::Blob(blob) => {
            let mut guards = Vec::new();
            for (manifest, _) in s.blob_owners(blob).await? {
                for guard in manifest_guards(s, here, &pins, &manifest, false).await? {
                    if !guards.contains(&guard) {
                        guards.push(guard);
                    }
                }
            }
            Ok(guards)
        }
    }
}

/// `DELETE /v2/<name>/manifests/<reference>` (end-9).
pub async fn delete_manifest(
    push: &Push<'_>,
    reference: &Reference,
) -> Result<Response<ProxyBody>, ProxyError> {
    let target = Target::Manifest(reference.clone());
    let guards = check(push, &target).await?;
    let response = forward(push, &target).await?;
    let response = match reference {
        Reference::Tag(tag) => tag_delete_answer(push, tag, response).await?,
        Reference::Digest(_) => response,
    };
    if response.status().is_success() {
        if let Reference::Digest(digest) = reference {
            // Not served from memory once the registry has deleted it.
            push.state.pull.manifests.remove_digest(digest);
        }
        retire_orphans(push, &target, &guards).await?;
    }
    Ok(response)
}

/// `DELETE /v2/<name>/blobs/<digest>` (end-10).
pub async fn delete_blob(
    push: &Push<'_>,
    digest: &Digest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let target = Target::Blob(digest.clone());
    check(push, &target).await?;
    forward(push, &target).await
}

/// Refuses (405, audited) a delete of protected content where the scope protects it; audits
/// one it allows ([`decide_delete`]). Returns the guards, for what a successful delete orphans.
async fn check(push: &Push<'_>, target: &Target) -> Result<Vec<Guard>, ProxyError> {
    let guards = guards(push, target).await?;
    let policy = push.state.policy();
    let what = target.what(push.name);
    let reference = target.reference();
    let plan = decide_delete(&DeleteFacts {
        scope: policy.scope_for(push.name),
        what: &what,
        reference: &reference,
        digest: match target {
            Target::Manifest(Reference::Digest(d)) | Target::Blob(d) => Some(d),
            Target::Manifest(Reference::Tag(_)) => guards.first().map(|g| &g.digest),
        },
        guards: &guards,
    });
    match plan {
        DeletePlan::Unprotected => Ok(guards),
        DeletePlan::Allow { event } => {
            push.audit_gate(&event).await?;
            Ok(guards)
        }
        DeletePlan::Refuse { event } => {
            push.audit_gate(&event).await?;
            Err(ProxyError::DeleteNotAllowed(event.message))
        }
        // A plan this delete does not know: refused rather than forwarded.
        _ => Err(ProxyError::DeleteNotAllowed(format!(
            "{what} is not deleted"
        ))),
    }
}

/// Sends the DELETE upstream with the client's headers.
async fn forward(push: &Push<'_>, target: &Target) -> Result<Response<ProxyBody>, ProxyError> {
    let path = target.path(push.name);
    let forward = Forward {
        method: Method::DELETE,
        path: &path,
        query: None,
        headers: push.headers,
        ns: push.ns,
    };
    push.state
        .upstreams
        .forward(push.upstream, forward, empty())
        .await
}

/// distribution answers a tag delete with 400 `DIGEST_INVALID` (it reads the tag as a digest);
/// the spec's answer for a registry that does not delete tags is 405 `UNSUPPORTED`. Any other
/// answer is relayed as it came.
async fn tag_delete_answer(
    push: &Push<'_>,
    tag: &Tag,
    response: Response<ProxyBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if response.status() != StatusCode::BAD_REQUEST {
        return Ok(response);
    }
    let (parts, mut body) = response.into_parts();
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ProxyError::UpstreamBody {
            upstream: push.upstream.config.name.clone(),
            why: format!("error body of a tag delete: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > MAX_ERROR_BODY {
                return Err(ProxyError::UpstreamBody {
                    upstream: push.upstream.config.name.clone(),
                    why: format!("error body of a tag delete is over {MAX_ERROR_BODY} bytes"),
                });
            }
            read.extend_from_slice(&data);
        }
    }
    let read: Bytes = read.freeze();
    if error_codes(&read).iter().any(|c| c == "DIGEST_INVALID") {
        return Err(ProxyError::DeleteNotAllowed(format!(
            "tag {}:{tag} is not deleted: the registry does not delete tags (it answered 400 \
             DIGEST_INVALID). Delete the manifest by digest instead, which removes the tags that \
             point at it",
            push.name
        )));
    }
    Ok(Response::from_parts(parts, full(read)))
}

/// The `code`s of an OCI error body; empty when it is not one.
fn error_codes(body: &[u8]) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    doc.get("errors")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("code").and_then(serde_json::Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// After a successful delete: retires the pins, and drops the held pushes, that named what was
/// deleted, each with an audit event. Under each tag's lock, and only if the tag still names
/// the same digest (a push may have re-pinned it meanwhile).
async fn retire_orphans(
    push: &Push<'_>,
    target: &Target,
    guards: &[Guard],
) -> Result<(), ProxyError> {
    let policy = push.state.policy();
    let scope = policy.scope_for(push.name).label().to_owned();
    let what = target.what(push.name);
    for guard in guards.iter().filter(|g| g.direct) {
        let key = PinKey {
            upstream: push.upstream.config.name.clone(),
            repository: push.name.clone(),
            tag: guard.tag.clone(),
        };
        let _lock = push.state.tag_locks.lock(&key).await?;
        let event = orphaned(&what, &scope, guard);
        let record = push.gate_event(&event);
        let s = &push.state.store;
        // A read, then a write: two transactions, as before; the tag's lock keeps them
        // together.
        let record = if guard.pinned {
            match s.get_pin(&key).await? {
                Some(pin) if pin.digest == guard.digest => {
                    let identity = record.identity.clone();
                    let retired = s.retire_pin(&key, record).await?.map(|(_, r)| r);
                    if retired.is_some() {
                        let why = "its manifest was deleted";
                        let event = crate::fleet::pins_changed_event(&key, why, identity);
                        crate::fleet::pins_changed(push.state, &key, event).await;
                    }
                    retired
                }
                _ => None,
            }
        } else {
            match s.pending(&key).await? {
                Some(held) if held.digest == guard.digest => {
                    s.remove_pending(&key, record).await?.map(|(_, r)| r)
                }
                _ => None,
            }
        };
        if let Some(record) = record {
            log_gate_decision(&push.state.metrics, &record.event, event.reason, &scope);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sealgate_storage::AuditEvent;

    use super::*;

    #[test]
    fn upstream_error_codes_are_read_from_oci_bodies_only() {
        assert_eq!(
            error_codes(br#"{"errors":[{"code":"DIGEST_INVALID","message":"x"}]}"#),
            ["DIGEST_INVALID"]
        );
        assert!(error_codes(b"<html>400</html>").is_empty());
        assert!(error_codes(br#"{"errors":"DIGEST_INVALID"}"#).is_empty());
    }

    #[tokio::test]
    async fn r11_a_manifest_listed_by_too_many_indexes_is_protected_by_every_pin() {
        let store = sealgate_storage::MemStore::new();
        let digest = |n: u32| -> Digest { format!("sha256:{n:064x}").parse().unwrap() };
        let child = digest(1);
        // Anyone can push indexes by digest: more of them list the child than the walk
        // follows, and the pinned one is among the last.
        let indexes: Vec<Digest> = (0..MAX_ANCESTORS as u32 + 40)
            .map(|i| digest(1000 + i))
            .collect();
        for index in &indexes {
            store
                .record_index(index, std::slice::from_ref(&child))
                .await
                .unwrap();
        }
        let repository: RepoName = "team/app".parse().unwrap();
        let key = PinKey {
            upstream: "local".to_owned(),
            repository: repository.clone(),
            tag: "v1".parse().unwrap(),
        };
        let pin = sealgate_storage::PinRequest::new(
            sealgate_policies::gate::PinWarrant::unverified(indexes.last().unwrap()),
            1,
            None,
            vec![],
        );
        let event = AuditEvent {
            at: 1,
            action: "push".to_owned(),
            outcome: "allow".to_owned(),
            upstream: "local".to_owned(),
            repository: repository.to_string(),
            reference: "v1".to_owned(),
            digest: None,
            reason: String::new(),
            identity: None,
            signers: vec![],
            request_id: None,
        };
        store.pin(&key, pin, false, event).await.unwrap();
        let pins = store.pins("local", Some(&repository)).await.unwrap();
        let guards = manifest_guards(&store, ("local", &repository), &pins, &child, true)
            .await
            .unwrap();
        assert_eq!(
            guards.iter().map(|g| g.tag.as_str()).collect::<Vec<_>>(),
            ["v1"],
            "a walk cut short must fail closed"
        );
    }
}
