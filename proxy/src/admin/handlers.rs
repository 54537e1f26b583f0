//! The admin API's endpoints (see the table in [`super`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sealgate_policies::crypto::Fingerprint;
use sealgate_policies::gate::{Action, AuditOutcome};
use sealgate_policies::glob::Glob;
use sealgate_policies::oci::{Digest, RepoName, Tag};
use sealgate_policies::policy::Policy;
use sealgate_policies::time::UnixTime;
use sealgate_storage::{AuditEvent, Pin, PinKey, RevokedSigner, StoredRevocation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{ProxyBody, json_response};
use crate::clock::now;
use crate::decisions::log_decision;
use crate::error::{AdminError, ProxyError};
use crate::signatures::Source;
use crate::state::AppState;
use crate::verdicts::{Discovery, verdict};

/// Who is calling the admin API, as the audit log records it.
#[derive(Debug, Clone)]
pub struct AdminIdentity(pub String);

/// Largest request body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

/// Certificates whose expiry is this close are listed by `status`.
const EXPIRY_WARNING_SECS: u64 = 30 * 24 * 3600;

/// Most audit events one query returns.
const MAX_AUDIT_PAGE: usize = 10_000;

pub(super) async fn handle(
    state: &Arc<AppState>,
    identity: AdminIdentity,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let result = match (&method, path.as_str()) {
        (&Method::GET, "/admin/v1/status") => status(state).await,
        (&Method::GET, "/admin/v1/pins") => pins(state, &query).await,
        (&Method::GET, "/admin/v1/pin") => pin(state, &query).await,
        (&Method::GET, "/admin/v1/audit") => audit(state, &query).await,
        (&Method::GET, "/admin/v1/audit/verify") => audit_verify(state).await,
        (&Method::GET, "/admin/v1/revocations") => list_revocations(state).await,
        (&Method::POST, "/admin/v1/revocations") => match body(req).await {
            Ok(body) => revoke(state, &identity, &body).await,
            Err(e) => Err(e),
        },
        (&Method::POST, "/admin/v1/reload") => reload(state, &identity).await,
        (&Method::POST, "/admin/v1/retire-pin") => match body(req).await {
            Ok(body) => retire_pin(state, &identity, &body).await,
            Err(e) => Err(e),
        },
        (_, p) if p.starts_with("/admin/v1/") => Err(AdminError::NoEndpoint {
            method: method.clone(),
            path: p.to_owned(),
        }
        .into()),
        _ => Err(AdminError::OutsideApi.into()),
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => e.into_admin_response(),
    }
}

async fn body(req: Request<Incoming>) -> Result<Value, ProxyError> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|source| AdminError::Body {
            limit: MAX_BODY,
            source,
        })?
        .to_bytes();
    Ok(serde_json::from_slice(&bytes).map_err(AdminError::NotJson)?)
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A repository glob (`prod/**`) for `repository`, a text glob for anything else.
fn glob_param(query: &[(String, String)], name: &'static str) -> Result<Option<Glob>, AdminError> {
    param(query, name)
        .map(|g| {
            let glob = if name == "repository" {
                Glob::path(g)
            } else {
                Glob::text(g)
            };
            glob.map_err(|source| AdminError::Glob {
                param: name,
                source,
            })
        })
        .transpose()
}

/// A time given as RFC 3339 or as seconds since the epoch.
fn time_param(query: &[(String, String)], name: &'static str) -> Result<Option<u64>, AdminError> {
    param(query, name)
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .or_else(|| UnixTime::parse_rfc3339(v).map(UnixTime::as_secs))
                .ok_or_else(|| AdminError::Time {
                    param: name,
                    value: v.to_owned(),
                })
        })
        .transpose()
}

fn time_text(secs: u64) -> String {
    UnixTime(secs).to_string()
}

fn pin_json(key: &PinKey, pin: &Pin) -> Value {
    json!({
        "upstream": key.upstream,
        "repository": key.repository.as_str(),
        "tag": key.tag.as_str(),
        "digest": pin.digest.as_str(),
        "pinned_at": time_text(pin.pinned_at),
        "pushed_by": pin.pushed_by,
        "signers": pin.signers,
        "history": pin.history.iter().map(|m| json!({
            "digest": m.digest.as_str(),
            "replaced_at": time_text(m.replaced_at),
        })).collect::<Vec<_>>(),
    })
}

async fn status(state: &Arc<AppState>) -> Result<Value, ProxyError> {
    // Separate reads, in this order (never one transaction): a status, not a snapshot.
    let store = &state.store;
    let pins = store.all_pins().await?;
    // Signer certificates of pinned content: their expiry is what breaks pulls later.
    let digests: BTreeSet<Digest> = pins.iter().map(|(_, p)| p.digest.clone()).collect();
    let mut certificates = Vec::new();
    for digest in &digests {
        for record in store.signatures(digest).await? {
            if let Some(cert) = record.certificate {
                certificates.push((record.signer, cert));
            }
        }
    }
    let size = store.size_on_disk().await?;
    let pins = pins.len();
    let pending = store.expired_pending(u64::MAX).await?.len();
    let revocations = store.revocations().await?;
    let policy = state.policy();
    let digests = state
        .trust_digests
        .load()
        .with_runtime(&crate::reload::revocations_json(&revocations));
    let now_secs = now().as_secs();
    let replicas: Vec<Value> = crate::fleet::fleet_view(store.replicas().await?, now_secs)
        .into_iter()
        .map(|r| {
            json!({
                "id": r.info.id,
                "version": r.info.version,
                "policy_digest": r.info.policy_digest,
                "trust_digest": r.info.trust_digest,
                "started_at": time_text(r.info.started_at),
                "last_seen": time_text(r.info.last_seen),
                "last_seen_seconds_ago": r.seen_ago,
                "live": r.live,
                "drifted": r.drifted,
            })
        })
        .collect();
    let mut expiring: Vec<Value> = Vec::new();
    for cert in policy.trust_certificates() {
        let not_after = cert.not_after.as_secs();
        if not_after <= now_secs + EXPIRY_WARNING_SECS {
            expiring.push(json!({
                "signer": cert.signer,
                "role": cert.role.to_string(),
                "subject": cert.subject,
                "serial": cert.serial,
                "not_after": time_text(not_after),
                "expired": not_after <= now_secs,
            }));
        }
    }
    let mut seen = BTreeSet::new();
    for (signer, cert) in certificates {
        if cert.not_after <= now_secs + EXPIRY_WARNING_SECS
            && seen.insert((cert.issuer.clone(), cert.serial.clone()))
        {
            expiring.push(json!({
                "signer": signer,
                "role": "signing certificate",
                "subject": cert.subject,
                "serial": cert.serial,
                "not_after": time_text(cert.not_after),
                "expired": cert.not_after <= now_secs,
            }));
        }
    }
    let scopes: Vec<Value> = policy
        .scopes()
        .map(|scope| {
            json!({
                "repositories": scope.label(),
                "mode": format!("{:?}", scope.mode).to_lowercase(),
                "signers": scope.signers,
                "require": format!("{:?}", scope.require).to_lowercase(),
                "immutable_tags": scope.immutable_tags,
                "unsigned_push": format!("{:?}", scope.unsigned_push).to_lowercase(),
                "gate_blobs": scope.gate_blobs,
                "follow_drift": scope.follow_drift,
            })
        })
        .collect();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "store_size_bytes": size,
        "pins": pins,
        "pending_tags": pending,
        "trust_generation": policy.generation(),
        "policy_digest": digests.policy,
        "trust_digest": digests.trust,
        "runtime_revocations": revocations.len(),
        "upstreams": state.upstreams.all().iter().map(|u| json!({
            "name": u.config.name,
            "namespaces": u.config.namespaces,
        })).collect::<Vec<_>>(),
        "scopes": scopes,
        "certificates_expiring_within_30_days": expiring,
        "fleet_generation_applied": state.fleet.applied.load(std::sync::atomic::Ordering::Relaxed),
        "replicas": replicas,
    }))
}

async fn pins(state: &Arc<AppState>, query: &[(String, String)]) -> Result<Value, ProxyError> {
    let repository = glob_param(query, "repository")?;
    let tag = glob_param(query, "tag")?;
    let upstream = param(query, "upstream").map(str::to_owned);
    let signer = param(query, "signer").map(str::to_owned);
    let all = state.store.all_pins().await?;
    let listed: Vec<Value> = all
        .iter()
        .filter(|(key, pin)| {
            upstream.as_ref().is_none_or(|u| key.upstream == *u)
                && repository
                    .as_ref()
                    .is_none_or(|g| g.matches(key.repository.as_str()))
                && tag.as_ref().is_none_or(|g| g.matches(key.tag.as_str()))
                && signer.as_ref().is_none_or(|s| pin.signers.contains(s))
        })
        .map(|(key, pin)| pin_json(key, pin))
        .collect();
    Ok(json!({ "pins": listed }))
}

/// The pin key named by `upstream` (default: the first upstream), `repository` and `tag`.
fn pin_key(
    state: &AppState,
    upstream: Option<&str>,
    repository: Option<&str>,
    tag: Option<&str>,
) -> Result<PinKey, AdminError> {
    let upstream = match upstream {
        Some(name) => state
            .upstreams
            .named(name)
            .ok_or_else(|| AdminError::NoSuchUpstream(name.to_owned()))?,
        None => state
            .upstreams
            .all()
            .first()
            .ok_or(AdminError::NoUpstream)?,
    };
    let repository: RepoName = repository
        .ok_or(AdminError::Required("repository"))?
        .parse()
        .map_err(AdminError::Repository)?;
    let tag: Tag = tag
        .ok_or(AdminError::Required("tag"))?
        .parse()
        .map_err(AdminError::Tag)?;
    Ok(PinKey {
        upstream: upstream.config.name.clone(),
        repository,
        tag,
    })
}

async fn pin(state: &Arc<AppState>, query: &[(String, String)]) -> Result<Value, ProxyError> {
    let key = pin_key(
        state,
        param(query, "upstream"),
        param(query, "repository"),
        param(query, "tag"),
    )?;
    let Some(pin) = state.store.get_pin(&key).await? else {
        return Err(AdminError::NotPinned(key).into());
    };
    let policy = state.policy();
    let now_verdict = verdict_of(state, &policy, &key, &pin.digest).await?;
    let mut value = pin_json(&key, &pin);
    value["verdict"] = json!({
        "admitted": now_verdict.as_ref().is_some_and(|v| v.admitted().is_some()),
        "explanation": now_verdict.map(|v| v.explain()),
        "trust_generation": policy.generation(),
    });
    Ok(value)
}

/// The verdict on a pinned digest from the index alone (no upstream request): what a pull
/// would be told once the pull gate's cache expires. `None` if the pin's upstream is gone from
/// the configuration.
async fn verdict_of(
    state: &Arc<AppState>,
    policy: &Policy,
    key: &PinKey,
    digest: &Digest,
) -> Result<Option<sealgate_policies::verdict::Verdict>, ProxyError> {
    let Some(upstream) = state.upstreams.named(&key.upstream) else {
        return Ok(None);
    };
    let source = Source {
        state,
        upstream,
        name: &key.repository,
        authorization: None,
    };
    Ok(Some(
        verdict(
            &source,
            policy,
            digest,
            Some(&key.tag),
            None,
            Discovery::IndexOnly,
        )
        .await?,
    ))
}

async fn audit(state: &Arc<AppState>, query: &[(String, String)]) -> Result<Value, ProxyError> {
    let since = time_param(query, "since")?;
    let until = time_param(query, "until")?;
    let repository = glob_param(query, "repository")?;
    let action = param(query, "action").map(str::to_owned);
    let outcome = param(query, "outcome").map(str::to_owned);
    let after: u64 = match param(query, "after") {
        Some(v) => v.parse().map_err(|_| AdminError::After(v.to_owned()))?,
        None => 0,
    };
    let limit: usize = match param(query, "limit") {
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
            .ok_or(AdminError::Limit {
                max: MAX_AUDIT_PAGE,
            })?,
        None => 100,
    };
    let matches = move |e: &AuditEvent| {
        since.is_none_or(|t| e.at >= t)
            && until.is_none_or(|t| e.at <= t)
            && repository.as_ref().is_none_or(|g| g.matches(&e.repository))
            && action.as_ref().is_none_or(|a| e.action == *a)
            && outcome.as_ref().is_none_or(|o| e.outcome == *o)
    };
    let mut events = Vec::new();
    let mut next = None;
    let mut cursor = after;
    'pages: loop {
        let page = state.store.audit(cursor, 1000).await?;
        let Some(last) = page.last() else {
            break;
        };
        cursor = last.seq;
        for record in page {
            if matches(&record.event) {
                events.push(record);
                if events.len() == limit {
                    next = events.last().map(|r| r.seq);
                    break 'pages;
                }
            }
        }
    }
    let events: Vec<Value> = events
        .iter()
        .map(|r| {
            let mut event = serde_json::to_value(&r.event).unwrap_or(Value::Null);
            event["seq"] = json!(r.seq);
            event["time"] = json!(time_text(r.event.at));
            event["hash"] = json!(r.hash);
            event
        })
        .collect();
    Ok(json!({ "events": events, "next_after": next }))
}

async fn audit_verify(state: &Arc<AppState>) -> Result<Value, ProxyError> {
    Ok(match state.store.verify_audit().await {
        Ok(report) => json!({"ok": true, "events": report.events, "head": report.head}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    })
}

async fn list_revocations(state: &Arc<AppState>) -> Result<Value, ProxyError> {
    let stored = state.store.revocations().await?;
    Ok(json!({ "revocations": crate::reload::revocations_json(&stored) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    /// A key fingerprint (`sha256:<hex>`).
    key: Option<String>,
    /// A certificate's issuer DN…
    issuer: Option<String>,
    /// …and serial (hex).
    serial: Option<String>,
    reason: String,
    /// RFC 3339; default now.
    at: Option<String>,
}

/// Revokes a key or certificate: recorded in the store (durable, audited), applied to the
/// trust in force under a new generation (the next pull sees it), and answered with the blast
/// radius: every pinned tag that was admitted before and is not any more.
async fn revoke(
    state: &Arc<AppState>,
    identity: &AdminIdentity,
    body: &Value,
) -> Result<Value, ProxyError> {
    let request: RevokeRequest =
        serde_json::from_value(body.clone()).map_err(AdminError::RevokeShape)?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(AdminError::Reason.into());
    }
    let at = match &request.at {
        Some(text) => UnixTime::parse_rfc3339(text).ok_or_else(|| AdminError::At(text.clone()))?,
        None => now(),
    };
    let signer = match (&request.key, &request.issuer, &request.serial) {
        (Some(key), None, None) => {
            let fingerprint =
                Fingerprint::parse(key.trim()).ok_or_else(|| AdminError::Key(key.clone()))?;
            RevokedSigner::Key {
                fingerprint: fingerprint.to_string(),
            }
        }
        (None, Some(issuer), Some(serial)) => {
            let serial = serial.trim().to_owned();
            if issuer.trim().is_empty()
                || serial.is_empty()
                || !serial
                    .trim_start_matches("0x")
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':')
            {
                return Err(AdminError::IssuerSerial.into());
            }
            RevokedSigner::Cert {
                issuer: issuer.trim().to_owned(),
                serial,
            }
        }
        _ => return Err(AdminError::KeyOrCert.into()),
    };
    let revocation = StoredRevocation {
        signer,
        reason,
        at: at.as_secs(),
        by: Some(identity.0.clone()),
    };
    // One trust change at a time: generations must not interleave.
    let _guard = state.trust_lock.lock().await;
    let before = state.policy();
    let mut after = (*before).clone();
    crate::reload::apply_revocations(&mut after, std::slice::from_ref(&revocation));
    after.set_generation(before.generation() + 1);
    let radius = blast_radius(state, &before, &after).await?;
    let event = AuditEvent {
        at: now().as_secs(),
        action: "revoke".to_owned(),
        outcome: "revoke".to_owned(),
        upstream: String::new(),
        repository: String::new(),
        reference: String::new(),
        digest: None,
        reason: format!(
            "{} revoked: {} (blast radius: {} pinned tag(s))",
            crate::reload::revoked_signer_text(&revocation.signer),
            revocation.reason,
            radius.len()
        ),
        identity: Some(identity.0.clone()),
        signers: vec![],
        request_id: None,
    };
    log_decision(&event);
    let (new, record) = state
        .store
        .record_revocation(revocation.clone(), event)
        .await?;
    let generation = after.generation();
    state.policy.store(Arc::new(after));
    state.pull.verdicts.clear();
    // Applied here now: the watcher must not apply it again (still under the trust lock).
    crate::fleet::applied_own_change(state).await;
    state.fleet.trust_changed.notify_one();
    Ok(json!({
        "revocation": crate::reload::revocations_json(std::slice::from_ref(&revocation)),
        "new": new,
        "audit_seq": record.seq,
        "trust_generation": generation,
        "blast_radius": radius,
    }))
}

/// Pinned tags admitted under `before` and not under `after`.
async fn blast_radius(
    state: &Arc<AppState>,
    before: &Policy,
    after: &Policy,
) -> Result<Vec<Value>, ProxyError> {
    let pins = state.store.all_pins().await?;
    let mut affected = Vec::new();
    for (key, pin) in &pins {
        let was = verdict_of(state, before, key, &pin.digest).await?;
        if was.as_ref().is_none_or(|v| v.admitted().is_none()) {
            continue;
        }
        let now_verdict = verdict_of(state, after, key, &pin.digest).await?;
        if let Some(verdict) = now_verdict.filter(|v| v.admitted().is_none()) {
            affected.push(json!({
                "upstream": key.upstream,
                "repository": key.repository.as_str(),
                "tag": key.tag.as_str(),
                "digest": pin.digest.as_str(),
                "reason": verdict.explain(),
            }));
        }
    }
    Ok(affected)
}

async fn reload(state: &Arc<AppState>, identity: &AdminIdentity) -> Result<Value, ProxyError> {
    let Some(file) = state.config.source_file.clone() else {
        return Err(AdminError::NoConfigFile.into());
    };
    let s = state.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        crate::reload::reload(&s, &file, &crate::config::EnvSource::Process)
    })
    .await
    .map_err(ProxyError::Task)?;
    match outcome {
        Ok(summary) => {
            tracing::info!("reloaded (admin API): {summary}");
            crate::reload::announce(state, Some(identity.0.clone()), &summary).await;
            Ok(json!({ "applied": true, "summary": summary }))
        }
        Err(why) => {
            tracing::error!("reload refused (admin API), nothing changed: {why}");
            // A store that cannot be read is the store's failure, not the file's.
            Err(match why {
                crate::reload::ReloadError::Store(e) => ProxyError::Store(e),
                why => AdminError::ReloadRefused(Box::new(why)).into(),
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetireRequest {
    upstream: Option<String>,
    repository: String,
    tag: String,
    reason: String,
}

/// Frees a tag: the pin is removed and the removal audited; the next push (or verified pull)
/// of the tag pins it again.
async fn retire_pin(
    state: &Arc<AppState>,
    identity: &AdminIdentity,
    body: &Value,
) -> Result<Value, ProxyError> {
    let request: RetireRequest =
        serde_json::from_value(body.clone()).map_err(AdminError::RetireShape)?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(AdminError::Reason.into());
    }
    let key = pin_key(
        state,
        request.upstream.as_deref(),
        Some(&request.repository),
        Some(&request.tag),
    )?;
    let _guard = state.tag_locks.lock(&key).await?;
    let event = AuditEvent {
        at: now().as_secs(),
        action: Action::RetirePin.as_str().to_owned(),
        outcome: AuditOutcome::Allow.as_str().to_owned(),
        upstream: key.upstream.clone(),
        repository: key.repository.to_string(),
        reference: key.tag.to_string(),
        digest: None,
        reason: format!("pin retired by an administrator: {reason}"),
        identity: Some(identity.0.clone()),
        signers: vec![],
        request_id: None,
    };
    let retired = state.store.retire_pin(&key, event).await?;
    match retired {
        Some((pin, record)) => {
            log_decision(&record.event);
            crate::fleet::pins_changed(
                state,
                &key,
                crate::fleet::pins_changed_event(&key, "retired", Some(identity.0.clone())),
            )
            .await;
            Ok(json!({
                "retired": pin_json(&key, &pin),
                "audit_seq": record.seq,
            }))
        }
        None => Err(AdminError::NotPinned(key).into()),
    }
}
