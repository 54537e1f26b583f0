//! Prometheus metrics: `GET /metrics` in the text exposition format (version 0.0.4).
//!
//! Counters and histograms are atomics updated on the request path; gauges (pending tags, store
//! size, certificate expiry, …) are computed when scraped. Every label takes values from a set
//! bounded by the code or the configuration: routes are endpoint kinds, reasons are
//! [`Reason`]s, scopes and upstreams are configured names. Repository names, tags and digests are
//! never labels (they are unbounded); they are in the decision log lines instead.
//!
//! The format is small enough to write by hand (`# HELP`, `# TYPE`, samples; histograms as
//! cumulative `_bucket{le=…}`, `_sum`, `_count`), which keeps a metrics crate out of the build:
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.
//! `docs/metrics.md` lists every metric.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use http::{Method, StatusCode};

use crate::body::TransferCuts;
use crate::routes::OciRoute;

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request latency buckets, seconds: a cached manifest answer (sub-millisecond) to a slow
/// upstream (the default response timeout is 30 s).
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Verification buckets, seconds: a key signature checked against the index (tens of
/// microseconds) to a discovery of signatures in a slow upstream.
const VERIFICATION_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// A latency histogram: one atomic per bucket, so observing is a few relaxed increments.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (`le`), ascending; the `+Inf` bucket is implicit.
    bounds: &'static [f64],
    /// Observations per bucket, not cumulative; the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    /// Sum of observations, nanoseconds (584 years before it wraps).
    sum_nanos: AtomicU64,
}

/// A histogram read at one moment, as exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound, cumulative count) per bucket, `+Inf` last (`f64::INFINITY`).
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations, seconds.
    pub sum: f64,
    /// Number of observations (equal to the `+Inf` bucket).
    pub count: u64,
}

impl Histogram {
    /// An empty histogram with these ascending upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // The first bucket whose bound is >= the value (`le` is inclusive).
        let index = self.bounds.partition_point(|&bound| bound < seconds);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The cumulative view. The count is the sum of the buckets read, so `+Inf` and `_count`
    /// always agree, even while other threads observe.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter())
            .map(|(bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (bound, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            count: cumulative,
        }
    }
}

/// Counters by a small label tuple. Lookups of existing series take a shard read lock and one
/// atomic add; a new series is inserted once.
pub(crate) struct CounterVec<K>(DashMap<K, AtomicU64>);

impl<K: Hash + Eq + Clone> CounterVec<K> {
    fn new() -> Self {
        Self(DashMap::new())
    }

    fn inc(&self, key: K) {
        if let Some(counter) = self.0.get(&key) {
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.0
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn values(&self) -> Vec<(K, u64)> {
        self.0
            .iter()
            .map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed)))
            .collect()
    }
}

/// Histograms by a small label tuple.
pub(crate) struct HistogramVec<K> {
    bounds: &'static [f64],
    series: DashMap<K, Histogram>,
}

impl<K: Hash + Eq + Clone> HistogramVec<K> {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            series: DashMap::new(),
        }
    }

    fn observe(&self, key: K, elapsed: Duration) {
        if let Some(histogram) = self.series.get(&key) {
            histogram.observe(elapsed);
            return;
        }
        self.series
            .entry(key)
            .or_insert_with(|| Histogram::new(self.bounds))
            .observe(elapsed);
    }

    pub(crate) fn snapshots(&self) -> Vec<(K, HistogramSnapshot)> {
        self.series
            .iter()
            .map(|e| (e.key().clone(), e.value().snapshot()))
            .collect()
    }
}

/// Why a decision went the way it did, as a bounded label: the gate's own typed reason, whose
/// `as_str` is the label value. The free-text reason stays in the log line and the audit event.
pub use sealgate_policies::gate::ReasonCode as Reason;

/// Audit actions and outcomes, as labels: the literals the gates write. Anything else (a new
/// action not listed here yet) is counted as `other` rather than becoming a label by itself.
const ACTIONS: &[&str] = &[
    "push",
    "signature",
    "quarantine",
    "promote",
    "expire",
    "pull",
    "pin",
    "drift",
    "follow-drift",
    "clear-pending",
    "delete",
    "retire-pin",
];
const OUTCOMES: &[&str] = &["allow", "deny", "warn", "audit", "quarantine", "drift"];

fn known(value: &str, set: &[&'static str]) -> &'static str {
    set.iter()
        .find(|&&known| known == value)
        .copied()
        .unwrap_or("other")
}

/// The `route` label of a parsed request: the OCI endpoint kind, never the repository.
pub fn route_label(route: &OciRoute) -> &'static str {
    match route {
        OciRoute::Base => "base",
        OciRoute::Catalog => "catalog",
        OciRoute::GetManifest { .. } => "manifest_get",
        OciRoute::PutManifest { .. } => "manifest_put",
        OciRoute::DeleteManifest { .. } => "manifest_delete",
        OciRoute::GetBlob { .. } => "blob_get",
        OciRoute::DeleteBlob { .. } => "blob_delete",
        OciRoute::StartUpload { .. }
        | OciRoute::PatchUpload { .. }
        | OciRoute::FinishUpload { .. }
        | OciRoute::UploadStatus { .. }
        | OciRoute::CancelUpload { .. } => "upload",
        OciRoute::ListTags { .. } => "tags",
        OciRoute::ListReferrers { .. } => "referrers",
    }
}

/// `route` of `/healthz` and `/readyz`.
pub const ROUTE_HEALTH: &str = "health";
/// `route` of `/metrics`.
pub const ROUTE_METRICS: &str = "metrics";
/// `route` of anything that is not an endpoint (refused by the route parser).
pub const ROUTE_OTHER: &str = "other";

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Where to look for evidence besides the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// The index only (the push gate: signatures arrive through sealgate).
    IndexOnly,
    /// The index, then the upstream's `.sig` tag and referrers (the pull gate).
    Upstream,
}

/// The process-wide counters and histograms of the request path.
pub struct Metrics {
    /// When the process started, seconds since the epoch.
    pub(crate) start_time: f64,
    pub(crate) requests: CounterVec<(&'static str, &'static str, u16)>,
    pub(crate) request_duration: HistogramVec<&'static str>,
    /// By scope, then (action, outcome, reason): scope names are looked up without allocating.
    pub(crate) decisions: DashMap<String, CounterVec<(&'static str, &'static str, Reason)>>,
    pub(crate) verification: HistogramVec<&'static str>,
    /// Streamed transfers cut before their end; shared with the bodies that report them.
    pub(crate) cuts: Arc<TransferCuts>,
    /// Client connections.
    pub(crate) connections: ConnectionCounters,
    /// Requests that failed because the store did.
    pub(crate) store_failures: AtomicU64,
}

/// Client connections: open, refused over `limits.max_connections`, closed while idle.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    pub(crate) open: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
}

impl ConnectionCounters {
    /// A connection was accepted and is served.
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A served connection ended.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection over the limit was accepted and closed at once; returns the count so far.
    pub fn refused(&self) -> u64 {
        self.refused.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A connection with no request in flight for the idle timeout was closed.
    pub fn idle_closed(&self) {
        self.idle_closed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics, with the start time taken now.
    pub fn new() -> Self {
        Self {
            start_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            requests: CounterVec::new(),
            request_duration: HistogramVec::new(REQUEST_BUCKETS),
            decisions: DashMap::new(),
            verification: HistogramVec::new(VERIFICATION_BUCKETS),
            cuts: Arc::default(),
            connections: ConnectionCounters::default(),
            store_failures: AtomicU64::new(0),
        }
    }

    /// Where streamed bodies count their cuts.
    pub fn cuts(&self) -> &Arc<TransferCuts> {
        &self.cuts
    }

    /// Client connection counters.
    pub fn connections(&self) -> &ConnectionCounters {
        &self.connections
    }

    /// One request failed because the store did.
    pub fn store_failure(&self) {
        self.store_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// One request answered: `elapsed` runs until the response head was ready (a streamed
    /// body is not included).
    pub fn request(
        &self,
        route: &'static str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        self.requests
            .inc((route, method_label(method), status.as_u16()));
        self.request_duration.observe(route, elapsed);
    }

    /// One gate decision (every one, also admitted pulls, which are logged at debug only).
    pub fn decision(&self, action: &str, outcome: &str, reason: Reason, scope: &str) {
        let key = (known(action, ACTIONS), known(outcome, OUTCOMES), reason);
        if let Some(series) = self.decisions.get(scope) {
            series.inc(key);
            return;
        }
        self.decisions
            .entry(scope.to_owned())
            .or_insert_with(CounterVec::new)
            .inc(key);
    }

    /// One verdict computed (not served from the cache).
    pub fn verification(&self, discovery: Discovery, elapsed: Duration) {
        let label = match discovery {
            Discovery::IndexOnly => "index",
            Discovery::Upstream => "upstream",
        };
        self.verification.observe(label, elapsed);
    }
}

/// How one upstream request ended, as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// Response headers arrived with this status.
    Status(StatusCode),
    /// No response headers within the response timeout.
    Timeout,
    /// Connection refused, reset, TLS failure, DNS: no response at all.
    Unreachable,
}

impl UpstreamOutcome {
    pub(crate) const LABELS: [&'static str; 7] =
        ["1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "unreachable"];

    fn index(self) -> usize {
        match self {
            Self::Status(status) => usize::from(status.as_u16() / 100).clamp(1, 5) - 1,
            Self::Timeout => 5,
            Self::Unreachable => 6,
        }
    }
}

/// Per-upstream request counters and latency. The upstreams are fixed at start, so the map is
/// built once and read without locks.
pub struct UpstreamMetrics {
    pub(crate) by_name: HashMap<String, UpstreamSeries>,
}

pub(crate) struct UpstreamSeries {
    pub(crate) outcomes: [AtomicU64; 7],
    pub(crate) duration: Histogram,
}

impl UpstreamMetrics {
    /// Series for each of these upstream names.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            by_name: names
                .into_iter()
                .map(|name| {
                    (
                        name.to_owned(),
                        UpstreamSeries {
                            outcomes: Default::default(),
                            duration: Histogram::new(REQUEST_BUCKETS),
                        },
                    )
                })
                .collect(),
        }
    }

    /// One request to `upstream`, timed to its response headers (or the error).
    pub fn observe(&self, upstream: &str, outcome: UpstreamOutcome, elapsed: Duration) {
        if let Some(series) = self.by_name.get(upstream) {
            series.outcomes[outcome.index()].fetch_add(1, Ordering::Relaxed);
            series.duration.observe(elapsed);
        }
    }
}

/// Writes the exposition text: one `# HELP` and `# TYPE` per family, then its samples.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// The samples of one histogram series: cumulative buckets, `+Inf`, sum and count.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        for (bound, count) in &h.buckets {
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(*bound));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(h.sum));
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", h.count);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<f64>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label(value));
    }
    if let Some(bound) = le {
        if !labels.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "le=\"{}\"", format_value(bound));
    }
    out.push('}');
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
pub fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str(r"\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str(r"\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` spelled as Prometheus does.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests;
