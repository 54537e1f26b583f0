//! Re-reading `[trust]` and `[policy]` without a restart (SIGHUP).
//!
//! The whole file is read and validated again; the new policy replaces the old one in a single
//! swap, under the next trust generation, so no cached verdict from before is used after. A
//! file that does not validate, or that changes a section only a restart can apply (listen
//! address, storage, upstreams, limits, timeouts, TLS, `[pull]`), changes nothing and says why.

use std::path::Path;
use std::sync::Arc;

use crate::config::{EnvSource, RawConfig, build_policy};
use crate::gateway::AppState;

/// Reloads trust and policy from `file`. Returns a one-line summary, or why nothing changed.
pub fn reload(state: &AppState, file: &Path, env: &EnvSource) -> Result<String, String> {
    let raw = RawConfig::load(file, env).map_err(|e| e.to_string())?;
    let base = file.parent().unwrap_or(Path::new("."));
    // Validates every section, as at start.
    crate::config::Config::build_with_env(&raw, base, env).map_err(|e| e.to_string())?;
    if raw.restart_only_sections() != state.config.restart_only {
        return Err(
            "sections other than [trust], [policy] and [log] changed; those take effect on restart \
             (nothing was reloaded)"
                .to_owned(),
        );
    }
    let current = state.policy();
    let generation = current.generation() + 1;
    let policy = build_policy(&raw, base, generation).map_err(|e| e.to_string())?;
    let summary = format!(
        "trust generation {generation}: {} signer(s), {} scope(s), {} revoked key(s), {} revoked certificate(s)",
        policy.signers().count(),
        policy.scopes().count(),
        raw.trust.revoked_keys.len(),
        raw.trust.revoked_certs.len()
    );
    state.policy.store(Arc::new(policy));
    // Verdicts of older generations are never looked up again; free them now.
    state.pull.verdicts.clear();
    Ok(summary)
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
            Ok(Ok(summary)) => tracing::info!(file = %file.display(), "reloaded: {summary}"),
            Ok(Err(why)) => {
                tracing::error!(file = %file.display(), "reload refused, nothing changed: {why}")
            }
            Err(e) => tracing::error!("reload task failed: {e}"),
        }
    }
}
