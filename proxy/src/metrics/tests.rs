use sealgate_policies::config::Mode;
use sealgate_policies::cosign::SignatureFailure;
use sealgate_policies::crypto::Fingerprint;
use sealgate_policies::pki::ChainError;
use sealgate_policies::policy::Revocation;
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{
    Decision, DenyReason, EvidenceFailure, FailureReason, Satisfied, SignerIdentity, Verdict,
};

use super::*;
use sealgate_policies::gate::ReasonCode;

#[test]
fn label_values_escape_backslash_quote_and_newline() {
    assert_eq!(escape_label("plain"), "plain");
    assert_eq!(escape_label(r"a\b"), r"a\\b");
    assert_eq!(escape_label("say \"hi\""), r#"say \"hi\""#);
    assert_eq!(escape_label("two\nlines"), r"two\nlines");
    assert_eq!(escape_label("\\\"\n"), r#"\\\"\n"#);
    let mut x = Exposition::default();
    x.family("m", "gauge", "Help with a \\ and a\nnewline.");
    x.sample("m", &[("subject", "CN=a\\b,O=\"x\"\n")], 1.0);
    assert_eq!(
        x.finish(),
        "# HELP m Help with a \\\\ and a\\nnewline.\n# TYPE m gauge\n\
         m{subject=\"CN=a\\\\b,O=\\\"x\\\"\\n\"} 1\n"
    );
}

#[test]
fn values_are_written_as_prometheus_reads_them() {
    assert_eq!(format_value(1.0), "1");
    assert_eq!(format_value(0.5), "0.5");
    assert_eq!(format_value(-86_400.0), "-86400");
    assert_eq!(format_value(0.00005), "0.00005");
    assert_eq!(format_value(1_795_756_528.25), "1795756528.25");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(f64::NAN), "NaN");
}

#[test]
fn histogram_buckets_are_cumulative_and_end_with_inf() {
    static BOUNDS: &[f64] = &[0.001, 0.01, 1.0];
    let h = Histogram::new(BOUNDS);
    h.observe(Duration::from_micros(30));
    // On a bound: `le` is inclusive.
    h.observe(Duration::from_millis(1));
    h.observe(Duration::from_millis(500));
    h.observe(Duration::from_secs(100));
    let snapshot = h.snapshot();
    assert_eq!(
        snapshot.buckets,
        [(0.001, 2), (0.01, 2), (1.0, 3), (f64::INFINITY, 4)]
    );
    assert_eq!(snapshot.count, 4);
    assert!((snapshot.sum - 100.50103).abs() < 1e-9, "{}", snapshot.sum);

    let mut x = Exposition::default();
    x.family("t_seconds", "histogram", "T.");
    x.histogram("t_seconds", &[("route", "manifest_get")], &snapshot);
    x.histogram("t_seconds", &[], &Histogram::new(BOUNDS).snapshot());
    assert_eq!(
        x.finish(),
        "# HELP t_seconds T.\n# TYPE t_seconds histogram\n\
         t_seconds_bucket{route=\"manifest_get\",le=\"0.001\"} 2\n\
         t_seconds_bucket{route=\"manifest_get\",le=\"0.01\"} 2\n\
         t_seconds_bucket{route=\"manifest_get\",le=\"1\"} 3\n\
         t_seconds_bucket{route=\"manifest_get\",le=\"+Inf\"} 4\n\
         t_seconds_sum{route=\"manifest_get\"} 100.50103\n\
         t_seconds_count{route=\"manifest_get\"} 4\n\
         t_seconds_bucket{le=\"0.001\"} 0\n\
         t_seconds_bucket{le=\"0.01\"} 0\n\
         t_seconds_bucket{le=\"1\"} 0\n\
         t_seconds_bucket{le=\"+Inf\"} 0\n\
         t_seconds_sum 0\n\
         t_seconds_count 0\n"
    );
}

#[test]
fn the_bucket_bounds_ascend() {
    for bounds in [REQUEST_BUCKETS, VERIFICATION_BUCKETS] {
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
    }
    assert_eq!(VERIFICATION_BUCKETS.first(), Some(&0.00005));
    assert_eq!(VERIFICATION_BUCKETS.last(), Some(&5.0));
}

fn verdict(decision: Decision, satisfied: usize, failures: Vec<FailureReason>) -> Verdict {
    Verdict {
        scope: "prod/**".into(),
        mode: Mode::Enforce,
        decision,
        satisfied: (0..satisfied)
            .map(|i| Satisfied {
                signer: format!("s{i}"),
                identity: SignerIdentity::Key {
                    fingerprint: Fingerprint::of_der(b"k"),
                },
                evidence: i,
            })
            .collect(),
        failures: failures
            .into_iter()
            .enumerate()
            .map(|(i, reason)| EvidenceFailure {
                evidence: i,
                source: "sha256-….sig layer 0".into(),
                signer: "ci".into(),
                reason,
            })
            .collect(),
        generation: 1,
    }
}

fn not_enough() -> Decision {
    Decision::Deny(DenyReason::NotEnoughSigners {
        needed: 2,
        missing: vec!["ops".into()],
    })
}

/// The label of a verdict's reason, as the gates give it.
fn label(verdict: &Verdict) -> Reason {
    ReasonCode::of_verdict(verdict)
}

#[test]
fn decision_reasons_are_bounded_and_name_the_telling_failure() {
    let unsigned = verdict(Decision::Deny(DenyReason::Unsigned), 0, vec![]);
    assert_eq!(label(&unsigned), Reason::Unsigned);
    let no_signers = verdict(Decision::Deny(DenyReason::NoSigners), 0, vec![]);
    assert_eq!(label(&no_signers).as_str(), "no_signers");

    let mismatch = || FailureReason::Signature(SignatureFailure::SignatureMismatch);
    let revoked = FailureReason::KeyRevoked {
        fingerprint: Fingerprint::of_der(b"k"),
        revocation: Revocation {
            reason: "leaked".into(),
            at: UnixTime(0),
        },
    };
    // A mismatch against another signer's key says nothing; the revocation does.
    let v = verdict(not_enough(), 0, vec![mismatch(), revoked, mismatch()]);
    assert_eq!(label(&v), Reason::Revoked);
    let expired = FailureReason::Signature(SignatureFailure::Chain(ChainError::Expired {
        not_after: UnixTime(1),
        at: UnixTime(2),
    }));
    let v = verdict(not_enough(), 0, vec![expired]);
    assert_eq!(label(&v).as_str(), "expired");
    let crl = FailureReason::Signature(SignatureFailure::Chain(ChainError::Revoked));
    assert_eq!(label(&verdict(not_enough(), 0, vec![crl])), Reason::Revoked);
    let other_image = FailureReason::Signature(SignatureFailure::DigestMismatch {
        signed: "a".into(),
        subject: "b".into(),
    });
    assert_eq!(
        label(&verdict(not_enough(), 0, vec![other_image])).as_str(),
        "wrong_subject"
    );
    // Only mismatches: nothing verified at all, or some signers but not enough.
    let v = verdict(not_enough(), 0, vec![mismatch()]);
    assert_eq!(label(&v).as_str(), "invalid_signature");
    let v = verdict(not_enough(), 1, vec![mismatch()]);
    assert_eq!(label(&v).as_str(), "not_enough_signers");
    let v = verdict(not_enough(), 1, vec![]);
    assert_eq!(label(&v), Reason::NotEnoughSigners);
    assert_eq!(
        ReasonCode::most_telling([
            ReasonCode::InvalidSignature,
            ReasonCode::Expired,
            ReasonCode::Timestamp
        ]),
        Some(ReasonCode::Expired)
    );
    assert_eq!(ReasonCode::most_telling([]), None);
}

#[test]
fn decisions_are_counted_by_bounded_labels() {
    let m = Metrics::new();
    m.decision("push", "deny", Reason::TagPinned, "prod/**");
    m.decision("push", "deny", Reason::TagPinned, "prod/**");
    m.decision("pull", "allow", Reason::Admitted, "default");
    // Not a known action or outcome: counted, under `other`.
    m.decision("push; DROP TABLE", "maybe", Reason::Admitted, "default");
    let prod = m
        .decisions
        .get("prod/**")
        .map(|s| s.values())
        .unwrap_or_default();
    assert_eq!(prod, [(("push", "deny", Reason::TagPinned), 2)]);
    let mut default = m
        .decisions
        .get("default")
        .map(|s| s.values())
        .unwrap_or_default();
    default.sort_by_key(|(k, _)| k.0);
    assert_eq!(
        default,
        [
            (("other", "other", Reason::Admitted), 1),
            (("pull", "allow", Reason::Admitted), 1)
        ]
    );
}

#[test]
fn requests_are_counted_by_route_method_and_status() {
    let m = Metrics::new();
    for _ in 0..3 {
        m.request(
            "manifest_get",
            &Method::GET,
            StatusCode::OK,
            Duration::from_micros(300),
        );
    }
    m.request(
        "manifest_get",
        &Method::from_bytes(b"BREW").unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        Duration::from_micros(10),
    );
    let mut requests = m.requests.values();
    requests.sort();
    assert_eq!(
        requests,
        [
            (("manifest_get", "GET", 200), 3),
            (("manifest_get", "other", 405), 1)
        ]
    );
    let durations = m.request_duration.snapshots();
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].1.count, 4);
}

#[test]
fn upstream_outcomes_are_classes_or_failures() {
    let u = UpstreamMetrics::new(["hub", "ghcr"]);
    u.observe(
        "hub",
        UpstreamOutcome::Status(StatusCode::OK),
        Duration::from_millis(3),
    );
    u.observe(
        "hub",
        UpstreamOutcome::Status(StatusCode::BAD_GATEWAY),
        Duration::from_millis(3),
    );
    u.observe("hub", UpstreamOutcome::Timeout, Duration::from_secs(30));
    u.observe(
        "ghcr",
        UpstreamOutcome::Unreachable,
        Duration::from_millis(1),
    );
    // Not configured: ignored rather than creating a series.
    u.observe(
        "elsewhere",
        UpstreamOutcome::Timeout,
        Duration::from_secs(1),
    );
    let counts = |name: &str| -> Vec<(&str, u64)> {
        UpstreamOutcome::LABELS
            .iter()
            .copied()
            .zip(
                u.by_name[name]
                    .outcomes
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed)),
            )
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    assert_eq!(counts("hub"), [("2xx", 1), ("5xx", 1), ("timeout", 1)]);
    assert_eq!(counts("ghcr"), [("unreachable", 1)]);
    assert_eq!(u.by_name.len(), 2);
    assert_eq!(u.by_name["hub"].duration.snapshot().count, 3);
}

#[test]
fn routes_are_endpoint_kinds() {
    let parse = |method: Method, path: &str| {
        let uri: http::Uri = path.parse().unwrap();
        route_label(
            &crate::routes::OciRequest::parse(&method, &uri)
                .unwrap()
                .route,
        )
    };
    assert_eq!(parse(Method::GET, "/v2/"), "base");
    assert_eq!(parse(Method::HEAD, "/v2/a/b/manifests/v1"), "manifest_get");
    assert_eq!(parse(Method::PUT, "/v2/a/manifests/v1"), "manifest_put");
    assert_eq!(parse(Method::POST, "/v2/a/blobs/uploads/"), "upload");
    assert_eq!(
        parse(
            Method::GET,
            &format!("/v2/a/blobs/sha256:{}", "0".repeat(64))
        ),
        "blob_get"
    );
    assert_eq!(parse(Method::GET, "/v2/a/tags/list"), "tags");
}
