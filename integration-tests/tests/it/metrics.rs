//! `/metrics` after real traffic, read with Prometheus' own Python parser (`prometheus_client`,
//! in `.venv-ci` from `scripts/install-deps.sh test`), and the JSON decision log lines of the
//! same run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, StatusCode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber, date_time_ymd,
};
use sealgate_integration_tests::cosign::{CosignKey, push_signature};
use sealgate_integration_tests::{MANIFEST_ACCEPT, Registry, Sealgate, oci, send, unique_salt};
use tokio::io::AsyncWriteExt as _;

/// 2036-01-01T00:00:00Z and 2031-06-01T00:00:00Z: the generated root's and intermediate's end.
const ROOT_NOT_AFTER: i64 = 2_082_758_400;
const INTERMEDIATE_NOT_AFTER: i64 = 1_938_038_400;
/// The public-good trusted root's TSA certificates end 2035-04-06T06:59:43Z.
const TSA_NOT_AFTER: i64 = 2_059_455_583;

/// Parses the exposition text on stdin with `prometheus_client`, checks what the parser leaves
/// to the producer (a HELP and a TYPE per family, no series twice, histogram buckets ascending,
/// cumulative and ending at +Inf = _count), and prints the samples as JSON.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
samples, seen, histograms = [], set(), {}
for family in text_string_to_metric_families(text):
    if family.type not in ("counter", "gauge", "histogram"):
        sys.exit(f"{family.name}: no TYPE ({family.type})")
    if not family.documentation:
        sys.exit(f"{family.name}: no HELP")
    for s in family.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in seen:
            sys.exit(f"series twice: {key}")
        seen.add(key)
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
        if family.type == "histogram":
            series = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            h = histograms.setdefault((family.name, series), {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                h["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                h["count"] = s.value
for (name, series), h in histograms.items():
    b = h["buckets"]
    if not b or not math.isinf(b[-1][0]):
        sys.exit(f"{name}{series}: no +Inf bucket")
    if any(x[0] >= y[0] or x[1] > y[1] for x, y in zip(b, b[1:])):
        sys.exit(f"{name}{series}: buckets not ascending and cumulative: {b}")
    if b[-1][1] != h["count"]:
        sys.exit(f"{name}{series}: +Inf {b[-1][1]} != _count {h['count']}")
json.dump({"samples": samples, "histograms": len(histograms)}, sys.stdout)
"#;

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of one scrape.
struct Scrape(Vec<Sample>);

impl Scrape {
    /// Samples named `name` whose labels include every pair of `labels`.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.0
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample `name{labels…}`; panics when there is none or several.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.find(name, labels);
        assert_eq!(
            found.len(),
            1,
            "{name}{labels:?}: expected one sample, found {found:#?}"
        );
        found[0].value
    }

    /// The sum of every sample `name{labels…}` (0 when there is none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_owned()
}

/// Runs the text through Prometheus' Python parser; panics with its complaint.
async fn parse_with_prometheus_client(text: &str) -> Scrape {
    let python = workspace().join(".venv-ci/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/install-deps.sh test (it installs prometheus-client there)",
        python.display()
    );
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(PARSE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python parser");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("write the metrics");
    drop(stdin);
    let output = child.wait_with_output().await.expect("the parser ran");
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n--- text\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(parsed["histograms"].as_u64().is_some_and(|n| n >= 3));
    let samples = parsed["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_owned(),
            labels: s["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_owned()))
                .collect(),
            value: s["value"].as_f64().expect("value"),
        })
        .collect();
    Scrape(samples)
}

/// A root (until 2036) and an intermediate (until mid-2031), written as PEM into `dir`.
fn write_ca_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let params = |cn: &str, serial: u64, not_after: (i32, u8, u8)| {
        let mut params = CertificateParams::new(vec![]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(SerialNumber::from(serial));
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
        params
    };
    let root_params = params("Metrics Test Root", 0x5e, (2036, 1, 1));
    let root_key = KeyPair::generate().expect("key");
    let root = root_params.self_signed(&root_key).expect("root");
    let issuer = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate().expect("key");
    let inter = params("Metrics \"Test\" CA", 0x5f, (2031, 6, 1))
        .signed_by(&inter_key, &issuer)
        .expect("intermediate");
    let roots = dir.join("roots.pem");
    let intermediates = dir.join("intermediates.pem");
    std::fs::write(&roots, root.pem()).expect("write roots");
    std::fs::write(&intermediates, inter.pem()).expect("write intermediates");
    (roots, intermediates)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .try_into()
        .expect("seconds fit")
}

async fn get(url: &str) -> sealgate_integration_tests::Reply {
    send(Method::GET, url, &MANIFEST_ACCEPT, Bytes::new()).await
}

/// Signed push, refused pushes (unsigned, moved tag), pulls (admitted, warned, refused) and a
/// drift, then one scrape: every count is the one the traffic made, the expiry gauges match
/// the configured certificates, and each decision is one JSON log line.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_traffic_and_parse_with_prometheus_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let (roots, intermediates) = write_ca_bundle(dir.path());
    let trusted_root =
        workspace().join("policies/tests/fixtures/bundle-v0.3/trusted_root.public-good.json");
    let quote = |p: &Path| serde_json::to_string(&p.display().to_string()).expect("a string");
    let policy = format!(
        r#"
[trust.keys.ci]
path = {ci}

[trust.pki.corp]
roots = {roots}
intermediates = {intermediates}
identity.subject = "CN=build-*"

[trust.keyless.release]
trusted_root = {trusted_root}
san = "https://github.com/example/*"
issuer = "https://token.actions.githubusercontent.com"

[policy.default]
mode = "enforce"
signers = ["ci"]

[[policy.scope]]
repositories = "lab/**"
mode = "warn"
signers = ["ci"]

[pull]
drift_check_interval = "0s"
"#,
        ci = quote(&ci.write_public(dir.path(), "ci")),
        roots = quote(&roots),
        intermediates = quote(&intermediates),
        trusted_root = quote(&trusted_root),
    );
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy)
        .log_format("json")
        .start()
        .await;
    let base = sealgate.base_url();
    let direct = registry.url();

    // A signed push: by digest, the signature, then the tag.
    let name = "prod/api";
    let (digest, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let by_digest = oci::put_manifest(&base, name, &digest, &manifest).await;
    assert_eq!(by_digest.status, StatusCode::CREATED);
    let signed = push_signature(
        &base,
        name,
        &digest,
        &[ci.sign(&format!("registry.example/{name}"), &digest)],
    )
    .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text());
    let tagged = oci::put_manifest(&base, name, "v1", &manifest).await;
    assert_eq!(tagged.status, StatusCode::CREATED, "{}", tagged.text());
    // Refused: an unsigned tag, and another digest under the pinned tag.
    let (unsigned, unsigned_manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
    let refused = oci::put_manifest(&base, name, "v2", &unsigned_manifest).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let refused_id = refused
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    let moved = oci::put_manifest(&base, name, "v1", &unsigned_manifest).await;
    assert_eq!(moved.status, StatusCode::FORBIDDEN, "{}", moved.text());

    // Pulls: admitted three times (the first also checks the upstream's tag: unchanged).
    let url = format!("{base}/v2/{name}/manifests/v1");
    let first = get(&url).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    // The upstream's tag moves behind sealgate's back: drift, reported once.
    let (_, other) = oci::tiny_image(&direct, name, &unique_salt()).await;
    oci::put_manifest(&direct, name, "v1", &other).await;
    for _ in 0..2 {
        let again = get(&url).await;
        assert_eq!(again.header("docker-content-digest"), Some(digest.as_str()));
    }
    sealgate
        .wait_for_log(r#""action":"drift""#, Duration::from_secs(10))
        .await;
    // Refused in the enforcing scope, warned in the lab's.
    let (_, stray) = oci::tiny_image(&direct, "prod/unsigned", &unique_salt()).await;
    oci::put_manifest(&direct, "prod/unsigned", "v1", &stray).await;
    let denied = get(&format!("{base}/v2/prod/unsigned/manifests/v1")).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let (_, lab) = oci::tiny_image(&direct, "lab/tool", &unique_salt()).await;
    oci::put_manifest(&direct, "lab/tool", "v1", &lab).await;
    let warned = get(&format!("{base}/v2/lab/tool/manifests/v1")).await;
    assert_eq!(warned.status, StatusCode::OK);
    assert!(warned.header("warning").is_some());

    let scraped = get(&format!("{base}/metrics")).await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert_eq!(
        scraped.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let head = send(Method::HEAD, &format!("{base}/metrics"), &[], Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    let post = send(Method::POST, &format!("{base}/metrics"), &[], Bytes::new()).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    let text = scraped.text();
    let m = parse_with_prometheus_client(&text).await;
    let scraped_at = now();

    // Decisions, by action, outcome, reason and scope.
    let decisions = |action: &str, outcome: &str, reason: &str, scope: &str| {
        m.sum(
            "sealgate_decisions_total",
            &[
                ("action", action),
                ("outcome", outcome),
                ("reason", reason),
                ("scope", scope),
            ],
        )
    };
    assert_eq!(
        decisions("signature", "allow", "signature_verified", "default"),
        1.0
    );
    assert_eq!(decisions("push", "allow", "admitted", "default"), 1.0);
    assert_eq!(decisions("push", "deny", "unsigned", "default"), 1.0);
    assert_eq!(decisions("push", "deny", "tag_pinned", "default"), 1.0);
    assert_eq!(
        m.sum(
            "sealgate_decisions_total",
            &[("action", "push"), ("outcome", "deny")]
        ),
        2.0
    );
    assert_eq!(decisions("pull", "allow", "admitted", "default"), 3.0);
    assert_eq!(decisions("pull", "deny", "unsigned", "default"), 1.0);
    assert_eq!(decisions("pull", "warn", "unsigned", "lab/**"), 1.0);
    assert_eq!(
        decisions("drift", "drift", "upstream_moved", "default"),
        1.0
    );
    assert_eq!(m.value("sealgate_drift_events_total", &[]), 1.0);

    // Requests by endpoint kind, and their latency histogram.
    let manifest_gets = m.value(
        "sealgate_requests_total",
        &[
            ("route", "manifest_get"),
            ("method", "GET"),
            ("status", "200"),
        ],
    );
    assert!(manifest_gets >= 4.0, "{manifest_gets}");
    assert_eq!(
        m.value(
            "sealgate_requests_total",
            &[
                ("route", "manifest_put"),
                ("method", "PUT"),
                ("status", "403")
            ]
        ),
        2.0
    );
    assert!(
        m.value(
            "sealgate_requests_total",
            &[
                ("route", "manifest_put"),
                ("method", "PUT"),
                ("status", "201")
            ]
        ) >= 3.0
    );
    assert!(m.sum("sealgate_requests_total", &[("route", "upload")]) >= 4.0);
    assert_eq!(
        m.value(
            "sealgate_request_duration_seconds_count",
            &[("route", "manifest_get")]
        ),
        m.sum("sealgate_requests_total", &[("route", "manifest_get")])
    );
    assert!(
        m.value(
            "sealgate_request_duration_seconds_sum",
            &[("route", "manifest_get")]
        ) > 0.0
    );

    // Verification, caches, upstream.
    assert!(
        m.value(
            "sealgate_verification_duration_seconds_count",
            &[("discovery", "index")]
        ) >= 1.0
    );
    assert!(
        m.value(
            "sealgate_verification_duration_seconds_count",
            &[("discovery", "upstream")]
        ) >= 3.0
    );
    let cache = |cache: &str, result: &str| {
        m.value(
            "sealgate_cache_requests_total",
            &[("cache", cache), ("result", result)],
        )
    };
    assert!(
        cache("verdict", "hit") >= 2.0,
        "repeated pulls of v1 reuse its verdict"
    );
    assert!(cache("verdict", "miss") >= 3.0);
    assert!(
        cache("manifest", "hit") >= 2.0,
        "the pinned manifest is served from memory"
    );
    assert!(m.value("sealgate_manifest_cache_bytes", &[]) > 0.0);
    let upstream_ok = m.value(
        "sealgate_upstream_requests_total",
        &[("upstream", "local"), ("outcome", "2xx")],
    );
    assert!(upstream_ok >= 10.0, "{upstream_ok}");
    assert_eq!(
        m.value(
            "sealgate_upstream_duration_seconds_count",
            &[("upstream", "local")]
        ),
        m.sum("sealgate_upstream_requests_total", &[("upstream", "local")])
    );
    assert!(
        m.find(
            "sealgate_upstream_requests_total",
            &[("outcome", "unreachable")]
        )
        .is_empty()
    );

    // Gauges.
    assert_eq!(m.value("sealgate_pending_tags", &[]), 0.0);
    assert!(m.value("sealgate_store_size_bytes", &[]) > 0.0);
    assert_eq!(m.value("sealgate_trust_generation", &[]), 1.0);
    assert_eq!(
        m.value(
            "sealgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let started = m.value("sealgate_start_time_seconds", &[]);
    assert!(
        (scraped_at - 600) as f64 <= started && started <= (scraped_at + 1) as f64,
        "{started}"
    );

    // Certificate expiry: the generated root and intermediate, the trusted root's chains.
    let expiry =
        |labels: &[(&str, &str)]| m.value("sealgate_trust_certificate_expiry_seconds", labels);
    let near = |value: f64, not_after: i64| {
        let expected = (not_after - scraped_at) as f64;
        assert!(
            expected <= value && value <= expected + 60.0,
            "{value} is not {not_after} - now ({expected})"
        );
    };
    near(
        expiry(&[
            ("signer", "corp"),
            ("role", "root"),
            ("subject", "CN=Metrics Test Root"),
            ("serial", "5e"),
        ]),
        ROOT_NOT_AFTER,
    );
    near(
        expiry(&[
            ("signer", "corp"),
            ("role", "intermediate"),
            // RFC 4514 escapes the quotes; the exposition escapes the backslashes and quotes.
            ("subject", r#"CN=Metrics \"Test\" CA"#),
            ("serial", "5f"),
        ]),
        INTERMEDIATE_NOT_AFTER,
    );
    assert!(
        text.contains(r#"subject="CN=Metrics \\\"Test\\\" CA""#),
        "backslash and quote are escaped in the text"
    );
    let release = m.find(
        "sealgate_trust_certificate_expiry_seconds",
        &[("signer", "release")],
    );
    let roles = |role: &str| release.iter().filter(|s| s.labels["role"] == role).count();
    assert_eq!(roles("fulcio_ca"), 3, "{release:#?}");
    assert_eq!(roles("timestamp_authority"), 2, "{release:#?}");
    near(
        expiry(&[
            ("signer", "release"),
            ("role", "timestamp_authority"),
            ("subject", "CN=sigstore-tsa,O=sigstore.dev"),
        ]),
        TSA_NOT_AFTER,
    );
    assert!(
        m.find(
            "sealgate_trust_certificate_expiry_seconds",
            &[("signer", "ci")]
        )
        .is_empty(),
        "a key does not expire"
    );

    // The decision log: one JSON object per line, each with what a person needs to find it.
    let log = sealgate.stderr_log();
    let decisions: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| line.contains("sealgate::decision"))
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
        })
        .collect();
    for field in [
        "request_id",
        "action",
        "outcome",
        "upstream",
        "repository",
        "reference",
        "digest",
        "signers",
        "scope",
        "reason_code",
        "reason",
    ] {
        for line in &decisions {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
    }
    let of = |action: &str, outcome: &str, reason_code: &str| -> Vec<&serde_json::Value> {
        decisions
            .iter()
            .filter(|d| {
                d["action"] == action && d["outcome"] == outcome && d["reason_code"] == reason_code
            })
            .collect()
    };
    let unsigned_push = of("push", "deny", "unsigned");
    assert_eq!(unsigned_push.len(), 1, "{decisions:#?}");
    let line = unsigned_push[0];
    assert_eq!(line["target"], "sealgate::decision");
    assert_eq!(
        line["request_id"],
        refused_id.as_str(),
        "matches the client's X-Request-Id"
    );
    assert_eq!(line["repository"], name);
    assert_eq!(line["reference"], "v2");
    assert_eq!(line["digest"], unsigned.as_str());
    assert_eq!(line["scope"], "default");
    assert_eq!(line["signers"], "-");
    assert!(
        line["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no signature found")),
        "{line}"
    );
    let admitted = of("push", "allow", "admitted");
    assert_eq!(admitted.len(), 1, "{decisions:#?}");
    assert_eq!(admitted[0]["signers"], "ci");
    assert_eq!(admitted[0]["digest"], digest.as_str());
    assert_eq!(of("drift", "drift", "upstream_moved").len(), 1);
    assert_eq!(of("pull", "warn", "unsigned")[0]["scope"], "lab/**");
    assert_eq!(
        decisions.len(),
        // signature, push, 2 refused pushes, drift, refused pull, warned pull
        7,
        "one line per decision (admitted pulls are logged at debug): {decisions:#?}"
    );
}
