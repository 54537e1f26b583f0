//! Re-reading `[trust]`, `[policy]` and `[auth]` without a restart (SIGHUP).
//!
//! The whole file is read and validated again; the new policy replaces the old one in a single
//! swap, under the next trust generation, so no cached verdict from before is used after. A
//! file that does not validate, or that changes a section only a restart can apply (listen
//! address, storage, upstreams, limits, timeouts, TLS, `[pull]`), changes nothing and says why.
//!
//! The files named by `[tls]` are read again too: the same paths with new contents (a renewed
//! certificate) are not a configuration change, and new handshakes get the new certificate. A
//! pair that does not load fails the validation above, so the reload changes nothing. `[auth]`
//! (its rules and the contents of its tokens file) is swapped whole.

use std::path::Path;
use std::sync::Arc;

use sealgate_policies::crypto::Fingerprint;
use sealgate_policies::policy::{Policy, Revocation};
use sealgate_policies::time::UnixTime;
use sealgate_storage::{AuditEvent, RevokedSigner, StorageError, StoredRevocation};
use serde_json::json;

use crate::config::{EnvSource, RawConfig, build_trust};
use crate::config_error::ConfigError;
use crate::state::AppState;
use crate::tls::TlsFileError;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file does not load or validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A section only a restart applies changed.
    #[error(
        "sections other than [trust], [policy], [auth] and [log] changed; those take effect on \
         restart (nothing was reloaded)"
    )]
    RestartOnly,
    /// The revocations made at run time could not be read.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The listener's certificate and key do not load.
    #[error(transparent)]
    Tls(#[from] TlsFileError),
}

/// Reloads trust and policy from `file`. Returns a one-line summary, or why nothing changed.
pub fn reload(state: &AppState, file: &Path, env: &EnvSource) -> Result<String, ReloadError> {
    let raw = RawConfig::load(file, env)?;
    let base = file.parent().unwrap_or(Path::new("."));
    // Validates every section, as at start.
    let built = crate::config::Config::build_with_env(&raw, base, env)?;
    if raw.restart_only_sections() != state.config.restart_only {
        return Err(ReloadError::RestartOnly);
    }
    // One trust change at a time (the admin API revokes under the same lock).
    let _guard = state.trust_lock.blocking_lock();
    let current = state.policy();
    let generation = current.generation() + 1;
    let (mut policy, digests) = build_trust(&raw, base, generation)?;
    // Revocations made through the admin API stay in force across reloads. Read under the
    // trust lock, so none recorded meanwhile is left out; this runs on the blocking pool (for
    // the files), where waiting for the store's future is allowed.
    let runtime = tokio::runtime::Handle::current().block_on(state.store.revocations())?;
    apply_revocations(&mut policy, &runtime);
    // The listener's certificate: the same paths (checked above), perhaps new contents.
    let tls = match &state.config.tls_cert {
        Some(cert) => match cert.reload()? {
            crate::tls::Reloaded::Replaced(summary) => {
                crate::tls::log_reloaded("reload", summary.as_ref());
                "; tls certificate reloaded"
            }
            crate::tls::Reloaded::Unchanged => "; tls certificate unchanged",
        },
        None => "",
    };
    let access = &built.access;
    let auth = match access.mode() {
        crate::access::AuthMode::Passthrough => "; auth: passthrough".to_owned(),
        crate::access::AuthMode::Gateway => format!(
            "; auth: gateway, {} token(s), {} rule(s)",
            access.token_count(),
            access.rule_count()
        ),
    };
    let summary = format!(
        "trust generation {generation}: {} signer(s), {} scope(s), {} revoked key(s), {} revoked certificate(s) \
         in the configuration, {} revocation(s) made at run time",
        policy.signers().count(),
        policy.scopes().count(),
        raw.trust.revoked_keys.len(),
        raw.trust.revoked_certs.len(),
        runtime.len()
    );
    let summary = format!("{summary}{tls}{auth}");
    state.policy.store(Arc::new(policy));
    state.access.store(built.access.clone());
    state.trust_digests.store(Arc::new(digests));
    // Verdicts of older generations are never looked up again; free them now.
    state.pull.verdicts.clear();
    Ok(summary)
}

/// Tells the other replicas sharing the store that this one reloaded (`summary`), so that
/// they reload their own configuration file too ([`crate::fleet`]): the fleet generation moves,
/// audited as `reload`. Called after a reload asked of this replica (SIGHUP, the admin API),
/// never after one the fleet watcher made (that would ping-pong). The generation this replica
/// reaches is marked applied when nothing else moved it meanwhile. A store that fails is
/// logged: this replica's reload stands, the others reload at their next change.
pub async fn announce(state: &AppState, identity: Option<String>, summary: &str) {
    state.fleet.trust_changed.notify_one();
    let event = AuditEvent {
        at: crate::clock::now().as_secs(),
        action: "reload".to_owned(),
        outcome: "reload".to_owned(),
        upstream: String::new(),
        repository: String::new(),
        reference: String::new(),
        digest: None,
        reason: format!("configuration reloaded: {summary}"),
        identity,
        signers: vec![],
        request_id: None,
    };
    match state.store.bump_generation(event).await {
        Ok((generation, _)) => {
            // Already applied here: skip it, unless another change came in between.
            let _ = state.fleet.applied.compare_exchange(
                generation.saturating_sub(1),
                generation,
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
            );
        }
        Err(e) => tracing::error!(
            error = %e,
            "reload applied here but not announced to the other replicas (the store failed)"
        ),
    }
}

/// Adds revocations made at run time (kept in the store) to a policy built from the
/// configuration.
pub fn apply_revocations(policy: &mut Policy, stored: &[StoredRevocation]) {
    for revocation in stored {
        let entry = Revocation {
            reason: revocation.reason.clone(),
            at: UnixTime(revocation.at),
        };
        match &revocation.signer {
            RevokedSigner::Key { fingerprint } => {
                // Stored only after parsing; one that no longer parses names no key.
                if let Some(fingerprint) = Fingerprint::parse(fingerprint) {
                    policy.revocations_mut().revoke_key(fingerprint, entry);
                }
            }
            RevokedSigner::Cert { issuer, serial } => {
                policy.revocations_mut().revoke_cert(issuer, serial, entry);
            }
        }
    }
}

/// How a revocation names its signer, for people.
pub fn revoked_signer_text(signer: &RevokedSigner) -> String {
    match signer {
        RevokedSigner::Key { fingerprint } => format!("key {fingerprint}"),
        RevokedSigner::Cert { issuer, serial } => format!("certificate {serial} of {issuer}"),
    }
}

/// Runtime revocations as the admin API shows them (and as the trust digest covers them).
pub fn revocations_json(stored: &[StoredRevocation]) -> serde_json::Value {
    serde_json::Value::Array(
        stored
            .iter()
            .map(|r| {
                let mut value = match &r.signer {
                    RevokedSigner::Key { fingerprint } => json!({ "key": fingerprint }),
                    RevokedSigner::Cert { issuer, serial } => {
                        json!({ "issuer": issuer, "serial": serial })
                    }
                };
                value["reason"] = json!(r.reason);
                value["at"] = json!(UnixTime(r.at).to_string());
                value["by"] = json!(r.by);
                value
            })
            .collect(),
    )
}

/// Reloads on every SIGHUP until the process ends, logging the outcome.
#[cfg(unix)]
pub async fn on_sighup(state: Arc<AppState>, file: std::path::PathBuf) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::error!("cannot listen for SIGHUP; reload needs a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        let s = state.clone();
        let f = file.clone();
        // Reading key files and CRLs is blocking I/O.
        let outcome =
            tokio::task::spawn_blocking(move || reload(&s, &f, &EnvSource::Process)).await;
        match outcome {
            Ok(Ok(summary)) => {
                tracing::info!(file = %file.display(), "reloaded: {summary}");
                announce(&state, Some("SIGHUP".to_owned()), &summary).await;
            }
            Ok(Err(why)) => {
                tracing::error!(file = %file.display(), "reload refused, nothing changed: {why}")
            }
            Err(e) => tracing::error!("reload task failed: {e}"),
        }
    }
}
