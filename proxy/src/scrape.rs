//! `/metrics`: the page a scrape reads, rendered from the application state (the counters of
//! [`crate::metrics`], the caches, the upstreams, the store's gauges). Above the state, so
//! `metrics` itself stays below it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::body::{CutReason, Direction};
use crate::metrics::{Exposition, UpstreamOutcome};
use crate::state::AppState;

/// What is computed at scrape time, off the request path.
#[derive(Default)]
struct Gauges {
    pending_tags: Option<usize>,
    store_bytes: Option<u64>,
    /// Live replicas and, of those, drifted ones ([`crate::fleet::fleet_view`]).
    fleet: Option<(usize, usize)>,
}

/// The whole `/metrics` body for `state`. A store read that fails leaves its gauge out (and is
/// logged) rather than failing the scrape.
pub async fn render(state: &Arc<AppState>) -> String {
    let pending = state.store.expired_pending(u64::MAX).await.map(|p| p.len());
    let size = state.store.size_on_disk().await;
    let fleet = state.store.replicas().await.map(|replicas| {
        let view = crate::fleet::fleet_view(replicas, crate::clock::now().as_secs());
        (
            view.iter().filter(|r| r.live).count(),
            view.iter().filter(|r| r.drifted).count(),
        )
    });
    let gauges = Gauges {
        fleet: fleet
            .inspect_err(|e| tracing::warn!(error = %e, "metrics: cannot list the replicas"))
            .ok(),
        pending_tags: pending
            .inspect_err(|e| tracing::warn!(error = %e, "metrics: cannot count pending tags"))
            .ok(),
        store_bytes: size
            .inspect_err(|e| tracing::warn!(error = %e, "metrics: cannot size the store"))
            .ok(),
    };
    exposition(state, &gauges)
}

fn sorted<K: Ord, V>(mut v: Vec<(K, V)>) -> Vec<(K, V)> {
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn exposition(state: &AppState, gauges: &Gauges) -> String {
    let m = &state.metrics;
    let mut x = Exposition::default();

    x.family(
        "sealgate_build_info",
        "gauge",
        "Always 1; the version of the running sealgate.",
    );
    x.sample(
        "sealgate_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    x.family(
        "sealgate_start_time_seconds",
        "gauge",
        "When the process started, seconds since the Unix epoch.",
    );
    x.sample("sealgate_start_time_seconds", &[], m.start_time);

    x.family(
        "sealgate_requests_total",
        "counter",
        "Requests answered, by endpoint kind, method and status code.",
    );
    for ((route, method, status), n) in sorted(m.requests.values()) {
        let status = status.to_string();
        x.sample(
            "sealgate_requests_total",
            &[("route", route), ("method", method), ("status", &status)],
            n as f64,
        );
    }
    x.family(
        "sealgate_request_duration_seconds",
        "histogram",
        "Time from request to response head, by endpoint kind (streamed bodies not included).",
    );
    for (route, h) in sorted(m.request_duration.snapshots()) {
        x.histogram("sealgate_request_duration_seconds", &[("route", route)], &h);
    }

    x.family(
        "sealgate_decisions_total",
        "counter",
        "Gate decisions, by action, outcome, reason and policy scope.",
    );
    let mut decisions = Vec::new();
    for scope in m.decisions.iter() {
        for ((action, outcome, reason), n) in scope.value().values() {
            decisions.push(((scope.key().clone(), action, outcome, reason.as_str()), n));
        }
    }
    for ((scope, action, outcome, reason), n) in sorted(decisions) {
        x.sample(
            "sealgate_decisions_total",
            &[
                ("action", action),
                ("outcome", outcome),
                ("reason", reason),
                ("scope", &scope),
            ],
            n as f64,
        );
    }
    x.family(
        "sealgate_verification_duration_seconds",
        "histogram",
        "Time to compute a verdict (cache misses only); discovery=upstream includes looking for \
         signatures in the upstream.",
    );
    for (discovery, h) in sorted(m.verification.snapshots()) {
        x.histogram(
            "sealgate_verification_duration_seconds",
            &[("discovery", discovery)],
            &h,
        );
    }

    x.family(
        "sealgate_cache_requests_total",
        "counter",
        "Lookups in the pull gate's caches, by cache and result.",
    );
    let (manifest_hits, manifest_misses) = state.pull.manifests.stats();
    let (verdict_hits, verdict_misses) = state.pull.verdicts.stats();
    let (pin_hits, pin_misses) = state.pull.pins.stats();
    for (cache, result, n) in [
        ("manifest", "hit", manifest_hits),
        ("manifest", "miss", manifest_misses),
        ("verdict", "hit", verdict_hits),
        ("verdict", "miss", verdict_misses),
        ("pin", "hit", pin_hits),
        ("pin", "miss", pin_misses),
    ] {
        x.sample(
            "sealgate_cache_requests_total",
            &[("cache", cache), ("result", result)],
            n as f64,
        );
    }
    x.family(
        "sealgate_manifest_cache_bytes",
        "gauge",
        "Bytes of manifests held in memory.",
    );
    x.sample(
        "sealgate_manifest_cache_bytes",
        &[],
        state.pull.manifests.size() as f64,
    );
    x.family(
        "sealgate_verdict_cache_entries",
        "gauge",
        "Verdicts held in memory (fresh or stale).",
    );
    x.sample(
        "sealgate_verdict_cache_entries",
        &[],
        state.pull.verdicts.len() as f64,
    );

    let upstreams = state.upstreams.metrics();
    x.family(
        "sealgate_upstream_requests_total",
        "counter",
        "Requests sealgate sent upstream, by upstream and outcome (status class, timeout, \
         unreachable).",
    );
    for (name, series) in sorted(upstreams.by_name.iter().collect()) {
        for (label, counter) in UpstreamOutcome::LABELS.iter().zip(&series.outcomes) {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                x.sample(
                    "sealgate_upstream_requests_total",
                    &[("upstream", name), ("outcome", label)],
                    n as f64,
                );
            }
        }
    }
    x.family(
        "sealgate_upstream_duration_seconds",
        "histogram",
        "Time until an upstream's response headers (or the error), by upstream.",
    );
    for (name, series) in sorted(upstreams.by_name.iter().collect()) {
        x.histogram(
            "sealgate_upstream_duration_seconds",
            &[("upstream", name)],
            &series.duration.snapshot(),
        );
    }

    x.family(
        "sealgate_transfers_cut_total",
        "counter",
        "Streamed bodies that ended before their end, by direction (download: to the client, \
         upload: to the upstream) and reason (upstream, client, idle, digest_mismatch).",
    );
    for direction in [Direction::Download, Direction::Upload] {
        for reason in CutReason::ALL {
            x.sample(
                "sealgate_transfers_cut_total",
                &[
                    ("direction", direction.as_str()),
                    ("reason", reason.as_str()),
                ],
                m.cuts.count(direction, reason) as f64,
            );
        }
    }
    let connections = &m.connections;
    x.family(
        "sealgate_connections_open",
        "gauge",
        "Client connections being served (the admin listener's not included).",
    );
    x.sample(
        "sealgate_connections_open",
        &[],
        connections.open.load(Ordering::Relaxed) as f64,
    );
    x.family(
        "sealgate_connections_refused_total",
        "counter",
        "Client connections over limits.max_connections, accepted and closed at once.",
    );
    x.sample(
        "sealgate_connections_refused_total",
        &[],
        connections.refused.load(Ordering::Relaxed) as f64,
    );
    x.family(
        "sealgate_connections_idle_closed_total",
        "counter",
        "Client connections closed after timeouts.client_idle without a request in flight.",
    );
    x.sample(
        "sealgate_connections_idle_closed_total",
        &[],
        connections.idle_closed.load(Ordering::Relaxed) as f64,
    );
    x.family(
        "sealgate_store_failures_total",
        "counter",
        "Requests that failed because the store did (a full disk: the store closes itself and \
         reopens once writes succeed again).",
    );
    x.sample(
        "sealgate_store_failures_total",
        &[],
        m.store_failures.load(Ordering::Relaxed) as f64,
    );

    x.family(
        "sealgate_drift_events_total",
        "counter",
        "Pinned tags found moved (or gone) in the upstream since start, each move reported once.",
    );
    x.sample(
        "sealgate_drift_events_total",
        &[],
        state.pull.drift_events.load(Ordering::Relaxed) as f64,
    );
    if let Some(n) = gauges.pending_tags {
        x.family(
            "sealgate_pending_tags",
            "gauge",
            "Tags held in quarantine, waiting for a signature.",
        );
        x.sample("sealgate_pending_tags", &[], n as f64);
    }
    if let Some(bytes) = gauges.store_bytes {
        x.family(
            "sealgate_store_size_bytes",
            "gauge",
            "Size of the store on disk.",
        );
        x.sample("sealgate_store_size_bytes", &[], bytes as f64);
    }

    if let Some((live, drifted)) = gauges.fleet {
        x.family(
            "sealgate_fleet_replicas",
            "gauge",
            "Replicas registered in the store and seen within the last 30 s (this one included).",
        );
        x.sample("sealgate_fleet_replicas", &[], live as f64);
        x.family(
            "sealgate_fleet_drifted_replicas",
            "gauge",
            "Live replicas whose policy or trust digest differs from the majority's.",
        );
        x.sample("sealgate_fleet_drifted_replicas", &[], drifted as f64);
    }
    x.family(
        "sealgate_fleet_generation_applied",
        "gauge",
        "The store's fleet generation (moved by revocations, reloads and pin moves on any \
         replica) this replica has applied.",
    );
    x.sample(
        "sealgate_fleet_generation_applied",
        &[],
        state.fleet.applied.load(Ordering::Relaxed) as f64,
    );
    x.family(
        "sealgate_pin_cache_entries",
        "gauge",
        "Pins held in this replica's pin cache.",
    );
    x.sample(
        "sealgate_pin_cache_entries",
        &[],
        state.pull.pins.len() as f64,
    );
    x.family(
        "sealgate_stale_pulls_total",
        "counter",
        "Pulls of pinned tags served from the last-known pin and verdict while the store was \
         out of reach (storage.stale_reads).",
    );
    x.sample(
        "sealgate_stale_pulls_total",
        &[],
        state.pull.pins.stale_served() as f64,
    );

    let policy = state.policy();
    x.family(
        "sealgate_trust_generation",
        "gauge",
        "Generation of the trust configuration in force (bumped by each reload or revocation).",
    );
    x.sample("sealgate_trust_generation", &[], policy.generation() as f64);
    x.family(
        "sealgate_trust_certificate_expiry_seconds",
        "gauge",
        "Seconds until each certificate of the trust configuration expires (negative once \
         expired).",
    );
    let now = crate::clock::now();
    let mut seen = std::collections::HashSet::new();
    for cert in policy.trust_certificates() {
        // One series per label set, even if two certificates share subject and serial.
        if !seen.insert((
            cert.signer.clone(),
            cert.role,
            cert.subject.clone(),
            cert.serial.clone(),
        )) {
            continue;
        }
        x.sample(
            "sealgate_trust_certificate_expiry_seconds",
            &[
                ("signer", &cert.signer),
                ("role", cert.role.as_str()),
                ("subject", &cert.subject),
                ("serial", &cert.serial),
            ],
            cert.seconds_to_expiry(now) as f64,
        );
    }
    x.finish()
}
