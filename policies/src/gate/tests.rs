//! The gates' decisions, one row per behaviour of the README's "What the push gate does" and
//! "What the pull gate does": facts in, the plan out, no socket and no registry. The expected
//! messages are written out in full: they are what the proxy sends today.

use std::time::Duration;

use super::*;
use crate::config::{Mode, UnsignedPush};
use crate::cosign::SignatureFailure;
use crate::crypto::Fingerprint;
use crate::glob::Glob;
use crate::oci::{Digest, RepoName, Tag};
use crate::pki::ChainError;
use crate::policy::Scope;
use crate::policy::{Require, Revocation};
use crate::time::UnixTime;
use crate::verdict::{Admitted, Decision, DenyReason, FailureReason, Verdict};
use crate::verdict::{EvidenceFailure, Satisfied, SignerIdentity};

const NOW: UnixTime = UnixTime(1_800_000_000);
const TTL: u64 = 3600;

fn d(n: u8) -> Digest {
    format!("sha256:{n:064x}").parse().unwrap()
}

fn repo() -> RepoName {
    "team/app".parse().unwrap()
}

fn tag(t: &str) -> Tag {
    t.parse().unwrap()
}

fn key() -> Fingerprint {
    Fingerprint::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap()
}

/// A scope: `mode`, what an unsigned push gets, immutable tags unless `mutable` lists globs
/// (`["*"]`: every tag may move).
fn scope(mode: Mode, unsigned: UnsignedPush, mutable: &[&str]) -> Scope {
    Scope {
        repositories: None,
        mode,
        signers: vec!["ci".into(), "release".into()],
        require: Require::Any,
        immutable_tags: mutable != ["*"],
        mutable_tags: mutable
            .iter()
            .filter(|g| **g != "*")
            .map(|g| Glob::text(g).unwrap())
            .collect(),
        unsigned_push: unsigned,
        quarantine_ttl: Duration::from_secs(TTL),
        gate_blobs: false,
        follow_drift: false,
        reference: Default::default(),
    }
}

fn enforce() -> Scope {
    scope(Mode::Enforce, UnsignedPush::Reject, &[])
}

/// A verdict admitting `digest` (signed by `ci`).
fn admitted(digest: &Digest, mode: Mode) -> Verdict {
    Verdict {
        scope: "default".into(),
        mode,
        decision: Decision::Allow(Admitted::for_tests(digest)),
        satisfied: vec![Satisfied {
            signer: "ci".into(),
            identity: SignerIdentity::Key { fingerprint: key() },
            evidence: 0,
        }],
        failures: vec![],
        generation: 1,
    }
}

const ADMITTED: &str = "admitted by scope \"default\": signed by ci (key sha256:abababababababababababababababababababababababababababababababab)";

fn unsigned(mode: Mode) -> Verdict {
    Verdict {
        scope: "default".into(),
        mode,
        decision: Decision::Deny(DenyReason::Unsigned),
        satisfied: vec![],
        failures: vec![],
        generation: 1,
    }
}

/// A verdict denied because the only signature failed with `reason` for both signers.
fn failed(mode: Mode, reason: FailureReason) -> Verdict {
    Verdict {
        scope: "default".into(),
        mode,
        decision: Decision::Deny(DenyReason::NotEnoughSigners {
            needed: 1,
            missing: vec!["ci".into(), "release".into()],
        }),
        satisfied: vec![],
        failures: ["ci", "release"]
            .into_iter()
            .map(|signer| EvidenceFailure {
                evidence: 0,
                source: "sha256-x.sig layer 0".into(),
                signer: signer.into(),
                reason: reason.clone(),
            })
            .collect(),
        generation: 1,
    }
}

fn revoked(mode: Mode) -> Verdict {
    failed(
        mode,
        FailureReason::KeyRevoked {
            fingerprint: key(),
            revocation: Revocation {
                reason: "leaked".into(),
                at: UnixTime(1_700_000_000),
            },
        },
    )
}

fn expired(mode: Mode) -> Verdict {
    failed(
        mode,
        FailureReason::Signature(SignatureFailure::Chain(ChainError::Expired {
            not_after: UnixTime(1_700_000_000),
            at: NOW,
        })),
    )
}

/// A plan reduced to what a row checks: its kind, its event's labels, its message, its warning.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    labels: Option<(Action, AuditOutcome, ReasonCode)>,
    message: Option<String>,
    warning: Option<String>,
}

fn labels(e: &GateEvent) -> Option<(Action, AuditOutcome, ReasonCode)> {
    Some((e.action, e.outcome, e.reason))
}

fn seen(kind: &'static str, event: Option<&GateEvent>, warning: Option<&String>) -> Seen {
    Seen {
        kind,
        labels: event.and_then(labels),
        message: event.map(|e| e.message.clone()),
        warning: warning.cloned(),
    }
}

fn seen_push(plan: &PushPlan) -> Seen {
    match plan {
        PushPlan::Refuse { event } => seen("refuse", Some(event), None),
        PushPlan::Repush { event } => seen("repush", Some(event), None),
        PushPlan::Verify => seen("verify", None, None),
        PushPlan::Material(_) => seen("material", None, None),
        PushPlan::Pin { event, warning, .. } => seen("pin", Some(event), warning.as_ref()),
        PushPlan::Quarantine { event, .. } => seen("quarantine", Some(event), Some(&event.message)),
    }
}

fn expect(
    kind: &'static str,
    labels: Option<(Action, AuditOutcome, ReasonCode)>,
    message: Option<&str>,
    warning: Option<&str>,
) -> Seen {
    Seen {
        kind,
        labels,
        message: message.map(str::to_owned),
        warning: warning.map(str::to_owned),
    }
}

struct PushRow {
    name: &'static str,
    scope: Scope,
    tag: &'static str,
    digest: Digest,
    identity: Option<&'static str>,
    manifest: ManifestFacts<'static>,
    pin: Option<PinFact>,
    held: Option<HeldFact>,
    verdict: Option<Verdict>,
    parents: Vec<Digest>,
    expect: Seen,
}

fn push_row(name: &'static str, scope: Scope, verdict: Option<Verdict>, expect: Seen) -> PushRow {
    PushRow {
        name,
        scope,
        tag: "v1",
        digest: d(2),
        identity: Some("ci"),
        manifest: IMAGE_MANIFEST,
        pin: None,
        held: None,
        verdict,
        parents: vec![],
        expect,
    }
}

fn pinned_to(n: u8) -> Option<PinFact> {
    Some(PinFact {
        digest: d(n),
        signers: vec!["ci".into()],
    })
}

fn held_by(n: u8, by: Option<&str>, expires_at: u64) -> Option<HeldFact> {
    Some(HeldFact {
        digest: d(n),
        pushed_by: by.map(str::to_owned),
        expires_at,
    })
}

const SIG_TAG: &str = "sha256-0000000000000000000000000000000000000000000000000000000000000001.sig";

/// An image: one runnable layer.
const IMAGE_MANIFEST: ManifestFacts<'static> = ManifestFacts {
    signature_subject: None,
    subject: None,
    schema2: true,
    lists_manifests: false,
    referrers_list: false,
    is_signature: false,
    layer_media_types: &["application/vnd.oci.image.layer.v1.tar+gzip"],
};

/// A cosign signature manifest.
const SIGNATURE_MANIFEST: ManifestFacts<'static> = ManifestFacts {
    is_signature: true,
    layer_media_types: &["application/vnd.dev.cosign.simplesigning.v1+json"],
    ..IMAGE_MANIFEST
};

/// An OCI 1.1 signature referrer of digest 1.
fn signature_referrer() -> ManifestFacts<'static> {
    static SUBJECT: std::sync::LazyLock<Digest> = std::sync::LazyLock::new(|| d(1));
    ManifestFacts {
        signature_subject: Some(&SUBJECT),
        subject: Some(SUBJECT.as_str()),
        ..SIGNATURE_MANIFEST
    }
}

fn run_push(row: &PushRow) -> PushPlan {
    let (name, tag) = (repo(), tag(row.tag));
    decide_push(&PushFacts {
        repository: &name,
        tag: &tag,
        digest: &row.digest,
        scope: &row.scope,
        identity: row.identity,
        manifest: row.manifest,
        pin: row.pin.as_ref(),
        held: row.held.as_ref(),
        verdict: row.verdict.as_ref(),
        index_parents: &row.parents,
        now: NOW,
    })
}

/// What an unsigned push of `team/app:v1` (digest 2) is told in a reject scope.
fn rejected(details: &str) -> String {
    let d2 = d(2);
    format!(
        "team/app:v1 ({d2}) is not signed by the signers this repository requires (ci, release). Push the image by digest, sign that digest (e.g. cosign sign team/app@{d2}), then push the tag again. Details: {details}"
    )
}

#[test]
fn push_gate_table() {
    use Action as A;
    use AuditOutcome as O;
    use ReasonCode as R;
    let d2 = d(2);
    let quarantine_scope = scope(Mode::Enforce, UnsignedPush::Quarantine, &[]);
    let until = UnixTime(NOW.as_secs() + TTL);
    let held_message = format!(
        "team/app:v1 is held until {d2} is signed (until {until}); sign it and the tag appears. no signature found"
    );
    let rows = vec![
        // Immutability: a pinned tag never moves to another digest.
        PushRow {
            pin: pinned_to(1),
            ..push_row(
                "immutable tag pinned to another digest",
                enforce(),
                Some(admitted(&d2, Mode::Enforce)),
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::TagPinned)),
                    Some(&format!(
                        "tag team/app:v1 is pinned to {} and tags are immutable here; push this image under a new tag (or ask an administrator to retire the pin)",
                        d(1)
                    )),
                    None,
                ),
            )
        },
        // Idempotent re-push: the same digest again changes nothing, even unverified.
        PushRow {
            pin: pinned_to(2),
            ..push_row(
                "same digest as the pin",
                enforce(),
                None,
                expect(
                    "repush",
                    Some((A::Push, O::Allow, R::SameDigest)),
                    Some("same digest as the pin"),
                    None,
                ),
            )
        },
        // Mutable tags move, but only to what is verified.
        PushRow {
            pin: pinned_to(1),
            tag: "latest",
            ..push_row(
                "mutable_tags: pinned tag moves, verdict first",
                scope(Mode::Enforce, UnsignedPush::Reject, &["latest"]),
                None,
                expect("verify", None, None, None),
            )
        },
        PushRow {
            pin: pinned_to(1),
            tag: "latest",
            ..push_row(
                "mutable_tags: admitted digest pinned",
                scope(Mode::Enforce, UnsignedPush::Reject, &["latest"]),
                Some(admitted(&d2, Mode::Enforce)),
                expect(
                    "pin",
                    Some((A::Push, O::Allow, R::Admitted)),
                    Some(ADMITTED),
                    None,
                ),
            )
        },
        PushRow {
            pin: pinned_to(1),
            ..push_row(
                "immutable_tags = false: unsigned digest still refused",
                scope(Mode::Enforce, UnsignedPush::Reject, &["*"]),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::Unsigned)),
                    Some(&rejected("no signature found")),
                    None,
                ),
            )
        },
        push_row(
            "new tag: verdict first",
            enforce(),
            None,
            expect("verify", None, None, None),
        ),
        push_row(
            "signed push pins",
            enforce(),
            Some(admitted(&d2, Mode::Enforce)),
            expect(
                "pin",
                Some((A::Push, O::Allow, R::Admitted)),
                Some(ADMITTED),
                None,
            ),
        ),
        // Reject vs quarantine.
        push_row(
            "unsigned push rejected",
            enforce(),
            Some(unsigned(Mode::Enforce)),
            expect(
                "refuse",
                Some((A::Push, O::Deny, R::Unsigned)),
                Some(&rejected("no signature found")),
                None,
            ),
        ),
        push_row(
            "unsigned push quarantined",
            quarantine_scope.clone(),
            Some(unsigned(Mode::Enforce)),
            expect(
                "quarantine",
                Some((A::Quarantine, O::Quarantine, R::Unsigned)),
                Some(&held_message),
                Some(&held_message),
            ),
        ),
        // Warn and audit modes let unverified pushes through, and pin them.
        push_row(
            "warn mode",
            scope(Mode::Warn, UnsignedPush::Reject, &[]),
            Some(unsigned(Mode::Warn)),
            expect(
                "pin",
                Some((A::Push, O::Warn, R::Unsigned)),
                Some("no signature found"),
                Some("not admitted, allowed by warn mode: no signature found"),
            ),
        ),
        push_row(
            "audit mode",
            scope(Mode::Audit, UnsignedPush::Reject, &[]),
            Some(unsigned(Mode::Audit)),
            expect(
                "pin",
                Some((A::Push, O::Audit, R::Unsigned)),
                Some("no signature found"),
                None,
            ),
        ),
        // Revoked and expired signers admit nothing, and say so in the label.
        push_row(
            "revoked signer",
            enforce(),
            Some(revoked(Mode::Enforce)),
            expect(
                "refuse",
                Some((A::Push, O::Deny, R::Revoked)),
                Some(&rejected(&revoked(Mode::Enforce).explain())),
                None,
            ),
        ),
        push_row(
            "expired signer certificate",
            enforce(),
            Some(expired(Mode::Enforce)),
            expect(
                "refuse",
                Some((A::Push, O::Deny, R::Expired)),
                Some(&rejected(&expired(Mode::Enforce).explain())),
                None,
            ),
        ),
        // Issue 11: a held push is replaced only by its pusher.
        PushRow {
            identity: Some("mallory"),
            held: held_by(9, Some("ci"), NOW.as_secs() + 60),
            ..push_row(
                "held for another pusher",
                quarantine_scope.clone(),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "refuse",
                    Some((A::Quarantine, O::Deny, R::HeldForAnother)),
                    Some(&format!(
                        "team/app:v1 is held for {} (pushed by ci) until {}; only that pusher may replace it. Sign that digest, wait until it expires, or push a signed image: a signed push pins the tag",
                        d(9),
                        UnixTime(NOW.as_secs() + 60)
                    )),
                    None,
                ),
            )
        },
        PushRow {
            identity: None,
            held: held_by(9, None, NOW.as_secs() + 60),
            ..push_row(
                "held by an unidentified client, replaced by one (passthrough)",
                quarantine_scope.clone(),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "quarantine",
                    Some((A::Quarantine, O::Quarantine, R::Unsigned)),
                    Some(&held_message),
                    Some(&held_message),
                ),
            )
        },
        PushRow {
            held: held_by(9, Some("ci"), NOW.as_secs() + 60),
            ..push_row(
                "held push replaced by its pusher",
                quarantine_scope.clone(),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "quarantine",
                    Some((A::Quarantine, O::Quarantine, R::Unsigned)),
                    Some(&held_message),
                    Some(&held_message),
                ),
            )
        },
        PushRow {
            identity: Some("mallory"),
            held: held_by(9, Some("ci"), NOW.as_secs()),
            ..push_row(
                "an expired hold is anyone's",
                quarantine_scope.clone(),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "quarantine",
                    Some((A::Quarantine, O::Quarantine, R::Unsigned)),
                    Some(&held_message),
                    Some(&held_message),
                ),
            )
        },
        PushRow {
            identity: Some("mallory"),
            held: held_by(9, Some("ci"), NOW.as_secs() + 60),
            ..push_row(
                "a signed push pins over another's hold",
                quarantine_scope,
                Some(admitted(&d2, Mode::Enforce)),
                expect(
                    "pin",
                    Some((A::Push, O::Allow, R::Admitted)),
                    Some(ADMITTED),
                    None,
                ),
            )
        },
        // Issue 11: tag roles. The shape check's refusal is audited under the role's action,
        // before the pin is looked at.
        PushRow {
            tag: SIG_TAG,
            manifest: IMAGE_MANIFEST,
            ..push_row(
                "an image under a .sig tag",
                enforce(),
                None,
                expect(
                    "refuse",
                    Some((A::Signature, O::Deny, R::NotForThisTag)),
                    Some(&format!(
                        "team/app:{SIG_TAG} holds cosign signatures of {}: every layer must be signature material (simple signing, a sigstore bundle or a DSSE envelope)",
                        d(1)
                    )),
                    None,
                ),
            )
        },
        PushRow {
            pin: pinned_to(2),
            manifest: signature_referrer(),
            ..push_row(
                "a signature referrer under an image tag, before the pin is looked at",
                enforce(),
                None,
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::NotForThisTag)),
                    Some(&format!(
                        "team/app:v1 is an image tag, and this is a signature manifest for {}: push it by digest (cosign's OCI 1.1 mode) or under its cosign tag sha256-{}.sig",
                        d(1),
                        d(1).hex()
                    )),
                    None,
                ),
            )
        },
        PushRow {
            tag: SIG_TAG,
            manifest: SIGNATURE_MANIFEST,
            ..push_row(
                "signatures under their .sig tag: signature intake, never pinned",
                enforce(),
                None,
                expect("material", None, None, None),
            )
        },
        // Signed index children: the index's signatures admit what it lists.
        PushRow {
            parents: vec![d(7)],
            ..push_row(
                "child of a signed index",
                enforce(),
                Some(admitted(&d(7), Mode::Enforce)),
                expect(
                    "pin",
                    Some((A::Push, O::Allow, R::Admitted)),
                    Some(ADMITTED),
                    None,
                ),
            )
        },
    ];
    for row in &rows {
        let plan = run_push(row);
        assert_eq!(seen_push(&plan), row.expect, "{}", row.name);
        if let PushPlan::Pin { warrant, event, .. } = &plan {
            assert_eq!(warrant.digest(), &row.digest, "{}", row.name);
            assert_eq!(event.digest.as_ref(), Some(&row.digest), "{}", row.name);
            let verified = row.verdict.as_ref().unwrap().admitted().is_some();
            assert_eq!(warrant.admitted().is_some(), verified, "{}", row.name);
            if let Some(proof) = warrant.admitted() {
                assert!(proof.admits(&row.digest), "{}", row.name);
            }
        }
    }
}

#[test]
fn push_plans_carry_what_the_proxy_acts_on() {
    let row = PushRow {
        pin: pinned_to(1),
        tag: "latest",
        ..push_row(
            "",
            scope(Mode::Enforce, UnsignedPush::Reject, &["lat*"]),
            Some(admitted(&d(2), Mode::Enforce)),
            expect("", None, None, None),
        )
    };
    match run_push(&row) {
        PushPlan::Pin { mutable, event, .. } => {
            assert!(mutable);
            assert_eq!(event.signers, ["ci"]);
            assert_eq!(event.reference, "latest");
        }
        other => panic!("{other:?}"),
    }
    let quarantine = PushRow {
        ..push_row(
            "",
            scope(Mode::Enforce, UnsignedPush::Quarantine, &[]),
            Some(unsigned(Mode::Enforce)),
            expect("", None, None, None),
        )
    };
    match run_push(&quarantine) {
        PushPlan::Quarantine { expires_at, event } => {
            assert_eq!(expires_at, NOW.as_secs() + TTL);
            assert!(event.signers.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let repush = PushRow {
        pin: pinned_to(2),
        ..push_row("", enforce(), None, expect("", None, None, None))
    };
    match run_push(&repush) {
        PushPlan::Repush { event } => assert_eq!(event.signers, ["ci"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pinned_meanwhile(&repo(), &tag("v1"), &d(1)),
        format!("tag team/app:v1 was pinned to {} meanwhile", d(1))
    );
}

/// What a row of the signature table is: name, mode, earlier layers, new layers, checks, plan.
type SignatureRow<'a> = (
    &'a str,
    Mode,
    Vec<Digest>,
    Vec<Digest>,
    Option<&'a [LayerCheck]>,
    Seen,
);

/// What a row of the delete table is: name, scope, guards, the event's outcome and message.
type DeleteRow<'a> = (&'a str, Scope, &'a [Guard], Option<(AuditOutcome, String)>);

fn run_signatures(
    mode: Mode,
    previous: &[Digest],
    layers: &[Digest],
    checks: Option<&[LayerCheck]>,
) -> SignaturePlan {
    let name = repo();
    let subject = d(1);
    decide_signatures(&SignatureFacts {
        repository: &name,
        reference: "sha256-x.sig",
        subject: &subject,
        mode,
        previous,
        layers,
        checks,
    })
}

fn seen_signatures(plan: &SignaturePlan) -> Seen {
    match plan {
        SignaturePlan::Refuse { event } => seen("refuse", Some(event), None),
        SignaturePlan::Verify => seen("verify", None, None),
        SignaturePlan::Accept { event, warning } => seen("accept", Some(event), warning.as_ref()),
    }
}

#[test]
fn signature_intake_table() {
    use Action as A;
    use AuditOutcome as O;
    use ReasonCode as R;
    let ok = LayerCheck::Accepted {
        signer: "ci".into(),
    };
    let bad = |why: &str, reason| LayerCheck::Refused {
        explanation: why.into(),
        reason,
    };
    let subject = d(1);
    let mixed = [
        ok.clone(),
        bad("wrong key", R::InvalidSignature),
        bad("revoked", R::Revoked),
    ];
    let rows: Vec<SignatureRow<'_>> = vec![
        (
            "append-only: an earlier layer dropped",
            Mode::Audit,
            vec![d(10), d(11)],
            vec![d(10), d(12)],
            Some(&[]),
            expect(
                "refuse",
                Some((A::Signature, O::Deny, R::AppendOnly)),
                Some(
                    "team/app:sha256-x.sig is append-only: the new manifest drops an earlier signature layer; keep every earlier layer and add yours",
                ),
                None,
            ),
        ),
        (
            "append-only: a layer added, then verified",
            Mode::Enforce,
            vec![d(10)],
            vec![d(10), d(12)],
            None,
            expect("verify", None, None, None),
        ),
        (
            "every new layer verified",
            Mode::Enforce,
            vec![],
            vec![d(12)],
            Some(std::slice::from_ref(&ok)),
            expect(
                "accept",
                Some((A::Signature, O::Allow, R::SignatureVerified)),
                Some(&format!("signature layers verified for {subject}")),
                None,
            ),
        ),
        (
            "enforce refuses a manifest with a refused layer, naming the most telling reason",
            Mode::Enforce,
            vec![],
            vec![d(12), d(13), d(14)],
            Some(&mixed),
            expect(
                "refuse",
                Some((A::Signature, O::Deny, R::Revoked)),
                Some(&format!(
                    "signature for team/app@{subject} refused: wrong key; revoked"
                )),
                None,
            ),
        ),
        (
            "warn accepts with a warning",
            Mode::Warn,
            vec![],
            vec![d(12), d(13), d(14)],
            Some(&mixed),
            expect(
                "accept",
                Some((A::Signature, O::Warn, R::Revoked)),
                Some("accepted by Warn mode despite: wrong key; revoked"),
                Some("accepted by Warn mode despite: wrong key; revoked"),
            ),
        ),
        (
            "audit accepts without a warning",
            Mode::Audit,
            vec![],
            vec![d(12), d(13), d(14)],
            Some(&mixed),
            expect(
                "accept",
                Some((A::Signature, O::Warn, R::Revoked)),
                Some("accepted by Audit mode despite: wrong key; revoked"),
                None,
            ),
        ),
    ];
    for (name, mode, previous, layers, checks, expected) in rows {
        let plan = run_signatures(mode, &previous, &layers, checks);
        assert_eq!(seen_signatures(&plan), expected, "{name}");
    }
    // The signers that verified are named even on a refusal.
    match run_signatures(Mode::Enforce, &[], &[d(12)], Some(&mixed)) {
        SignaturePlan::Refuse { event } => assert_eq!(event.signers, ["ci"]),
        other => panic!("{other:?}"),
    }
    let many: Vec<String> = (0..400).map(|i| format!("layer {i} bad")).collect();
    assert_eq!(
        summarise(&many),
        "layer 0 bad; layer 1 bad; layer 2 bad; and 397 more layer(s) refused"
    );
}

#[test]
fn r12_a_pinned_tag_is_answered_before_a_pending_one() {
    let (name, v1) = (repo(), tag("v1"));
    let pin = pinned_to(1).unwrap();
    let held = held_by(9, Some("ci"), NOW.as_secs() + 60).unwrap();
    assert_eq!(
        route_tag(&name, &v1, Some(&pin), Some(&held)),
        TagRoute::Pinned(d(1))
    );
    assert_eq!(
        route_tag(&name, &v1, None, Some(&held)),
        TagRoute::Pending {
            message: format!(
                "team/app:v1 awaits a signature: {} was pushed but is not signed yet (held until {})",
                d(9),
                UnixTime(NOW.as_secs() + 60)
            )
        }
    );
    assert_eq!(route_tag(&name, &v1, None, None), TagRoute::FirstPull);
    assert_eq!(
        pinned_missing(&name, &v1, &d(1)),
        format!(
            "team/app:v1 is pinned to {}, which the upstream no longer has; push that image again by digest",
            d(1)
        )
    );
}

fn seen_pull(plan: &PullPlan) -> (Seen, Option<Report>, Option<Digest>) {
    match plan {
        PullPlan::ServeSignature => (seen("signature", None, None), None, None),
        PullPlan::Verify => (seen("verify", None, None), None, None),
        PullPlan::Serve {
            proof,
            warning,
            event,
            report,
        } => (
            seen("serve", Some(event), warning.as_ref()),
            Some(*report),
            proof.as_ref().map(|p| p.digest().clone()),
        ),
        PullPlan::PinAndServe {
            proof, pin_event, ..
        } => (
            seen("pin", Some(pin_event), None),
            None,
            Some(proof.digest().clone()),
        ),
        PullPlan::Refuse {
            message,
            event,
            report,
        } => {
            let mut s = seen("refuse", Some(event), None);
            s.message = Some(message.clone());
            (s, Some(*report), None)
        }
    }
}

#[test]
fn pull_gate_table() {
    use Action as A;
    use AuditOutcome as O;
    use ReasonCode as R;
    let (d2, v1) = (d(2), tag("v1"));
    let logged = Some(Report::Log { persist: true });
    struct Row<'a> {
        name: &'a str,
        kind: PullKind<'a>,
        reference: &'a str,
        verified_signature: bool,
        verdict: Option<Verdict>,
        parents: Vec<Digest>,
        expect: (Seen, Option<Report>, Option<Digest>),
    }
    let denied = |reference: &str, verdict: &Verdict| {
        format!(
            "team/app:{reference} ({d2}) is not admitted: {}",
            verdict.explain()
        )
    };
    // Admitted: served with a proof for the digest served, counted but not logged.
    let served = || {
        (
            expect(
                "serve",
                Some((A::Pull, O::Allow, R::Admitted)),
                Some(ADMITTED),
                None,
            ),
            Some(Report::Count),
            Some(d2.clone()),
        )
    };
    let row = |name, verdict, expect| Row {
        name,
        kind: PullKind::Digest,
        reference: d2.as_str(),
        verified_signature: false,
        verdict,
        parents: vec![],
        expect,
    };
    let rows = vec![
        Row {
            verified_signature: true,
            ..row(
                "a signature manifest sealgate verified, for an admitted subject",
                None,
                (seen("signature", None, None), None, None),
            )
        },
        row(
            "by digest: verdict first",
            None,
            (seen("verify", None, None), None, None),
        ),
        row(
            "by digest, admitted: counted, not logged",
            Some(admitted(&d2, Mode::Enforce)),
            served(),
        ),
        Row {
            kind: PullKind::Pinned(&v1),
            reference: "v1",
            ..row(
                "pinned tag, re-verified and admitted",
                Some(admitted(&d2, Mode::Enforce)),
                served(),
            )
        },
        Row {
            kind: PullKind::Pinned(&v1),
            reference: "v1",
            ..row(
                "pinned tag whose signer was revoked since: refused",
                Some(revoked(Mode::Enforce)),
                (
                    expect(
                        "refuse",
                        Some((A::Pull, O::Deny, R::Revoked)),
                        Some(&denied("v1", &revoked(Mode::Enforce))),
                        None,
                    ),
                    logged,
                    None,
                ),
            )
        },
        Row {
            kind: PullKind::FirstPull(&v1),
            reference: "v1",
            ..row(
                "first verified pull pins",
                Some(admitted(&d2, Mode::Enforce)),
                (
                    expect(
                        "pin",
                        Some((A::Pin, O::Allow, R::Admitted)),
                        Some(&format!("pinned on first verified pull: {ADMITTED}")),
                        None,
                    ),
                    None,
                    Some(d2.clone()),
                ),
            )
        },
        Row {
            kind: PullKind::FirstPull(&v1),
            reference: "v1",
            ..row(
                "first pull in warn mode: served with a warning, not pinned",
                Some(unsigned(Mode::Warn)),
                (
                    expect(
                        "serve",
                        Some((A::Pull, O::Warn, R::Unsigned)),
                        Some("no signature found"),
                        Some("not admitted, served by warn mode: no signature found"),
                    ),
                    logged,
                    None,
                ),
            )
        },
        row(
            "enforce refuses unsigned",
            Some(unsigned(Mode::Enforce)),
            (
                expect(
                    "refuse",
                    Some((A::Pull, O::Deny, R::Unsigned)),
                    Some(&denied(d2.as_str(), &unsigned(Mode::Enforce))),
                    None,
                ),
                logged,
                None,
            ),
        ),
        row(
            "audit serves, logged",
            Some(unsigned(Mode::Audit)),
            (
                expect(
                    "serve",
                    Some((A::Pull, O::Audit, R::Unsigned)),
                    Some("no signature found"),
                    None,
                ),
                logged,
                None,
            ),
        ),
        row(
            "expired certificate",
            Some(expired(Mode::Enforce)),
            (
                expect(
                    "refuse",
                    Some((A::Pull, O::Deny, R::Expired)),
                    Some(&denied(d2.as_str(), &expired(Mode::Enforce))),
                    None,
                ),
                logged,
                None,
            ),
        ),
        Row {
            parents: vec![d(7)],
            ..row(
                "child of a signed index, admitted by the index",
                Some(admitted(&d(7), Mode::Enforce)),
                served(),
            )
        },
    ];
    for row in &rows {
        let name = repo();
        let plan = decide_pull(&PullFacts {
            repository: &name,
            reference: row.reference,
            digest: &d2,
            kind: row.kind,
            verified_signature: row.verified_signature,
            verdict: row.verdict.as_ref(),
            index_parents: &row.parents,
            first_report: true,
        });
        assert_eq!(seen_pull(&plan), row.expect, "{}", row.name);
    }
    // A refusal served from a cached verdict is logged but not audited again.
    let name = repo();
    let verdict = unsigned(Mode::Enforce);
    let plan = decide_pull(&PullFacts {
        repository: &name,
        reference: "v1",
        digest: &d2,
        kind: PullKind::Pinned(&v1),
        verified_signature: false,
        verdict: Some(&verdict),
        index_parents: &[],
        first_report: false,
    });
    assert_eq!(seen_pull(&plan).1, Some(Report::Log { persist: false }));
}

#[test]
fn blob_gate_table() {
    let name = repo();
    let blob = d(5);
    let owner = Admitted::for_tests(&d(2));
    let message = format!(
        "blob {blob} of team/app belongs to no admitted manifest (2 known); pull it through a signed image"
    );
    let gated = |mode| Scope {
        gate_blobs: true,
        ..scope(mode, UnsignedPush::Reject, &[])
    };
    let rows: Vec<(&str, Scope, Option<&Admitted>, BlobPlan)> = vec![
        ("gate_blobs off", enforce(), None, BlobPlan::Ungated),
        (
            "a manifest listing it is admitted",
            gated(Mode::Enforce),
            Some(&owner),
            BlobPlan::Serve {
                proof: owner.clone(),
            },
        ),
        (
            "enforce refuses an orphan blob",
            gated(Mode::Enforce),
            None,
            BlobPlan::Refuse {
                message: message.clone(),
            },
        ),
        (
            "warn serves it with a warning",
            gated(Mode::Warn),
            None,
            BlobPlan::Warn {
                message: message.clone(),
            },
        ),
        ("audit serves it", gated(Mode::Audit), None, BlobPlan::Audit),
    ];
    for (what, scope, admitted_owner, expected) in rows {
        let plan = decide_blob(&BlobFacts {
            repository: &name,
            digest: &blob,
            scope: &scope,
            owners: 2,
            admitted_owner,
        });
        assert_eq!(plan, expected, "{what}");
        assert_eq!(gates_blobs(&scope), !matches!(plan, BlobPlan::Ungated));
    }
}

#[test]
fn drift_table() {
    let (name, v1, pinned, moved) = (repo(), tag("v1"), d(1), d(3));
    let check = |current: Option<&Digest>, reported, follow_drift| {
        decide_drift(&DriftFacts {
            repository: &name,
            tag: &v1,
            pinned: &pinned,
            current,
            already_reported: reported,
            follow_drift,
        })
    };
    let moved_event = GateEvent {
        action: Action::Drift,
        outcome: AuditOutcome::Drift,
        reason: ReasonCode::UpstreamMoved,
        message: format!(
            "the upstream's team/app:v1 moved to {moved}; sealgate keeps serving the pinned {pinned}"
        ),
        reference: "v1".into(),
        digest: Some(pinned.clone()),
        signers: vec![],
    };
    assert_eq!(check(Some(&pinned), true, true), DriftPlan::InSync);
    assert_eq!(check(Some(&moved), true, true), DriftPlan::Reported);
    assert_eq!(
        check(Some(&moved), false, false),
        DriftPlan::Report {
            event: moved_event.clone(),
            follow: None
        },
        "reported, never followed without follow_drift"
    );
    assert_eq!(
        check(Some(&moved), false, true),
        DriftPlan::Report {
            event: moved_event,
            follow: Some(moved.clone())
        },
        "followed with follow_drift, once verified"
    );
    match check(None, false, true) {
        DriftPlan::Report { event, follow } => {
            assert_eq!(event.reason, ReasonCode::UpstreamMissing);
            assert_eq!(
                event.message,
                format!(
                    "the upstream no longer has team/app:v1; sealgate keeps serving the pinned {pinned}"
                )
            );
            assert_eq!(follow, None, "a missing tag is nothing to follow");
        }
        other => panic!("{other:?}"),
    }
    // Following: only an admitted new digest moves the pin.
    match decide_follow(&v1, &pinned, &moved, &admitted(&moved, Mode::Enforce), &[]) {
        FollowPlan::Move { proof, event } => {
            assert!(proof.admits(&moved));
            assert_eq!(
                (event.action, event.outcome, event.reason),
                (
                    Action::FollowDrift,
                    AuditOutcome::Allow,
                    ReasonCode::Admitted
                )
            );
            assert_eq!(
                event.message,
                format!("pin moved from {pinned}: {ADMITTED}")
            );
            assert_eq!(event.signers, ["ci"]);
        }
        other => panic!("{other:?}"),
    }
    for verdict in [
        unsigned(Mode::Audit),
        unsigned(Mode::Warn),
        revoked(Mode::Enforce),
    ] {
        assert_eq!(
            decide_follow(&v1, &pinned, &moved, &verdict, &[]),
            FollowPlan::Stay {
                reason: verdict.explain()
            }
        );
    }
    // The new digest is a child of a signed index: followed, as a pull admits it.
    let index = d(7);
    let by_index = admitted(&index, Mode::Enforce);
    match decide_follow(
        &v1,
        &pinned,
        &moved,
        &by_index,
        std::slice::from_ref(&index),
    ) {
        FollowPlan::Move { proof, event } => {
            assert!(proof.admits(&moved) && !proof.admits(&index));
            assert_eq!(event.digest, Some(moved.clone()));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            decide_follow(&v1, &pinned, &moved, &by_index, &[d(9)]),
            FollowPlan::Stay { .. }
        ),
        "an index not recorded as listing it admits nothing here"
    );
}

#[test]
fn r12_protected_deletes_table() {
    let guard = |t: &str, pinned| Guard {
        tag: tag(t),
        digest: d(1),
        pinned,
        direct: true,
    };
    let what = format!("manifest team/app@{}", d(1));
    let needed = format!("v1 pinned to {}, dev-1 held for {}", d(1), d(1));
    let refused = |why: &str| {
        format!(
            "{what} is not deleted: {needed} needs it, and {why}. Deleting what a pinned or held tag needs is allowed only in a scope with mode = \"audit\" whose tags may move; an administrator can retire a pin first (sealgate admin retire-pin)"
        )
    };
    let guards = [guard("v1", true), guard("dev-1", false)];
    let rows: Vec<DeleteRow<'_>> = vec![
        ("nothing needs it", enforce(), &[], None),
        (
            "enforce",
            scope(Mode::Enforce, UnsignedPush::Reject, &["*"]),
            &guards,
            Some((
                AuditOutcome::Deny,
                refused("the scope default is in enforce mode"),
            )),
        ),
        (
            "warn, immutable",
            scope(Mode::Warn, UnsignedPush::Reject, &[]),
            &guards,
            Some((
                AuditOutcome::Deny,
                refused(
                    "the scope default is in warn mode, and tags are immutable here (dev-1, v1)",
                ),
            )),
        ),
        (
            "warn, every tag may move: refused for the mode alone",
            scope(Mode::Warn, UnsignedPush::Reject, &["*"]),
            &guards,
            Some((
                AuditOutcome::Deny,
                refused("the scope default is in warn mode"),
            )),
        ),
        (
            "audit, but v1 may not move",
            scope(Mode::Audit, UnsignedPush::Reject, &["dev-*"]),
            &guards,
            Some((AuditOutcome::Deny, refused("tags are immutable here (v1)"))),
        ),
        (
            "audit, every tag may move",
            scope(Mode::Audit, UnsignedPush::Reject, &["*"]),
            &guards,
            Some((
                AuditOutcome::Audit,
                format!(
                    "{what} deleted, needed by {needed}: allowed in the audit scope default, where these tags may move"
                ),
            )),
        ),
    ];
    for (name, scope, guards, expected) in rows {
        let plan = decide_delete(&DeleteFacts {
            scope: &scope,
            what: &what,
            reference: d(1).as_str(),
            digest: Some(&d(1)),
            guards,
        });
        let got = match &plan {
            DeletePlan::Unprotected => None,
            DeletePlan::Allow { event } | DeletePlan::Refuse { event } => {
                assert_eq!(event.action, Action::Delete, "{name}");
                assert_eq!(event.reason, ReasonCode::Protected, "{name}");
                assert_eq!(event.digest, Some(d(1)), "{name}");
                Some((event.outcome, event.message.clone()))
            }
        };
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            matches!(plan, DeletePlan::Refuse { .. }),
            matches!(&got, Some((AuditOutcome::Deny, _))),
            "{name}"
        );
    }
}

#[test]
fn r12_a_proof_for_one_digest_admits_no_other() {
    let (a, b) = (d(1), d(2));
    let proof = Admitted::for_tests(&a);
    assert!(proof.admits(&a));
    assert!(!proof.admits(&b));
    assert_eq!(proof.clone().digest(), &a, "a clone admits the same digest");
    // A verdict admitting `a`, handed to the gate for `b`, admits nothing there.
    let verdict = admitted(&a, Mode::Enforce);
    assert_eq!(verdict.admitted_digest(), Some(&a));
    let row = push_row(
        "",
        enforce(),
        Some(verdict.clone()),
        expect("", None, None, None),
    );
    let row = PushRow {
        digest: b.clone(),
        ..row
    };
    match run_push(&row) {
        PushPlan::Refuse { event } => {
            assert_eq!(event.reason, ReasonCode::WrongSubject);
            assert_eq!(event.outcome, AuditOutcome::Deny);
        }
        other => panic!("a proof for {a} pinned {b}: {other:?}"),
    }
    // Not in a warn scope either: the mode lets unverified content through, it does not turn
    // another digest's proof into one for this digest.
    let row = PushRow {
        digest: b.clone(),
        ..push_row(
            "",
            scope(Mode::Warn, UnsignedPush::Reject, &[]),
            Some(admitted(&a, Mode::Warn)),
            expect("", None, None, None),
        )
    };
    assert!(matches!(run_push(&row), PushPlan::Refuse { .. }));
    let name = repo();
    let pull = |parents: &[Digest]| {
        decide_pull(&PullFacts {
            repository: &name,
            reference: b.as_str(),
            digest: &b,
            kind: PullKind::FirstPull(&"v1".parse().unwrap()),
            verified_signature: false,
            verdict: Some(&verdict),
            index_parents: parents,
            first_report: true,
        })
    };
    assert!(matches!(pull(&[]), PullPlan::Refuse { .. }));
    assert!(matches!(pull(&[d(9)]), PullPlan::Refuse { .. }));
    match pull(std::slice::from_ref(&a)) {
        PullPlan::PinAndServe { proof, .. } => assert!(proof.admits(&b) && !proof.admits(&a)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decide_follow(&tag("v1"), &d(3), &b, &verdict, &[]),
        FollowPlan::Stay { .. }
    ));
    assert!(matches!(
        decide_follow(&tag("v1"), &d(3), &b, &verdict, std::slice::from_ref(&a)),
        FollowPlan::Move { .. }
    ));
}

#[test]
fn labels_and_lines_come_from_one_value() {
    let event = GateEvent {
        action: Action::FollowDrift,
        outcome: AuditOutcome::Quarantine,
        reason: ReasonCode::HeldForAnother,
        message: "why".into(),
        reference: "v1".into(),
        digest: None,
        signers: vec![],
    };
    assert_eq!(event.action.to_string(), "follow-drift");
    assert_eq!(event.outcome.to_string(), "quarantine");
    assert_eq!(event.reason.to_string(), "held_for_another");
    assert_eq!(
        event.to_string(),
        "follow-drift quarantine (held_for_another): why"
    );
    assert_eq!(
        ReasonCode::most_telling([ReasonCode::InvalidSignature, ReasonCode::Expired]),
        Some(ReasonCode::Expired)
    );
    assert_eq!(
        ReasonCode::of_verdict(&revoked(Mode::Enforce)),
        ReasonCode::Revoked
    );
}

#[test]
fn tag_roles_are_read_from_the_name() {
    let hex = "a".repeat(64);
    let digest: Digest = format!("sha256:{hex}").parse().unwrap();
    let role = |t: &str| TagRole::of(&tag(t));
    assert_eq!(
        role(&format!("sha256-{hex}.sig")),
        TagRole::Signatures(digest.clone())
    );
    assert_eq!(
        role(&format!("sha256-{hex}.sig")).action(),
        Action::Signature
    );
    assert_eq!(
        role(&format!("sha256-{hex}.sbom")),
        TagRole::Attachment(digest.clone())
    );
    assert_eq!(
        role(&format!("sha256-{hex}")),
        TagRole::ReferrersFallback(digest.clone())
    );
    for image in [
        "v1",
        "sha256-abc.sig",
        "sha256-abc",
        &format!("sha256-{hex}.exe"),
        &format!("sha256-{hex}a"),
        &format!("sha256-{}", "A".repeat(64)),
    ] {
        assert_eq!(role(image), TagRole::Image, "{image}");
        assert_eq!(role(image).action(), Action::Push);
    }
    // cosign's tags name the image they are about; the fallback tag and image tags do not.
    for kind in ["sig", "att", "sbom"] {
        assert_eq!(
            role(&format!("sha256-{hex}.{kind}")).cosign_subject(),
            Some(&digest),
            "{kind}"
        );
    }
    for other in [
        format!("sha256-{hex}"),
        "v1".to_owned(),
        "sha256-ab.sig".to_owned(),
    ] {
        assert_eq!(role(&other).cosign_subject(), None, "{other}");
    }
}

/// A row of the release table: name, scope, verdict, the hold and the pin now, the plan.
type PromoteRow<'a> = (
    &'a str,
    &'a Scope,
    Verdict,
    Option<HeldFact>,
    Option<PinFact>,
    Seen,
);

#[test]
fn held_push_release_table() {
    use Action as A;
    use AuditOutcome as O;
    use ReasonCode as R;
    let (name, v1, subject) = (repo(), tag("v1"), d(2));
    let held = |n| held_by(n, Some("ci"), NOW.as_secs() + 60);
    let quarantine_scope = scope(Mode::Enforce, UnsignedPush::Quarantine, &[]);
    let mutable_scope = scope(Mode::Enforce, UnsignedPush::Quarantine, &["*"]);
    let rows: Vec<PromoteRow<'_>> = vec![
        (
            "not signed yet",
            &quarantine_scope,
            unsigned(Mode::Enforce),
            held(2),
            None,
            expect("wait", None, None, None),
        ),
        (
            "not signed yet, in audit mode: a pull would serve it, a release needs a signature",
            &quarantine_scope,
            unsigned(Mode::Audit),
            held(2),
            None,
            expect("wait", None, None, None),
        ),
        (
            "signed: released",
            &quarantine_scope,
            admitted(&subject, Mode::Enforce),
            held(2),
            None,
            expect(
                "release",
                Some((A::Promote, O::Allow, R::Admitted)),
                Some(&format!("signed; tag released: {ADMITTED}")),
                None,
            ),
        ),
        (
            "the hold was replaced meanwhile",
            &quarantine_scope,
            admitted(&subject, Mode::Enforce),
            held(3),
            None,
            expect("wait", None, None, None),
        ),
        (
            "the hold was cleared meanwhile",
            &quarantine_scope,
            admitted(&subject, Mode::Enforce),
            None,
            None,
            expect("wait", None, None, None),
        ),
        (
            "never released over an immutable pin of another digest",
            &quarantine_scope,
            admitted(&subject, Mode::Enforce),
            held(2),
            pinned_to(1),
            expect(
                "drop",
                Some((A::ClearPending, O::Deny, R::PendingSuperseded)),
                Some(&format!(
                    "signed, but team/app:v1 is pinned to {} and tags are immutable here; the held push is dropped",
                    d(1)
                )),
                None,
            ),
        ),
        (
            "released over the pin of a tag that may move",
            &mutable_scope,
            admitted(&subject, Mode::Enforce),
            held(2),
            pinned_to(1),
            expect(
                "release",
                Some((A::Promote, O::Allow, R::Admitted)),
                Some(&format!("signed; tag released: {ADMITTED}")),
                None,
            ),
        ),
        (
            "a verdict about another digest releases nothing",
            &quarantine_scope,
            admitted(&d(7), Mode::Enforce),
            held(2),
            None,
            expect("wait", None, None, None),
        ),
    ];
    for (what, scope, verdict, held, pin, expected) in rows {
        let plan = decide_promote(&PromoteFacts {
            repository: &name,
            tag: &v1,
            subject: &subject,
            scope,
            verdict: &verdict,
            held: held.as_ref(),
            pin: pin.as_ref(),
            index_parents: &[],
        });
        let got = match &plan {
            PromotePlan::Wait => seen("wait", None, None),
            PromotePlan::Drop { event } => seen("drop", Some(event), None),
            PromotePlan::Release {
                proof,
                event,
                released,
                mutable,
            } => {
                assert!(proof.admits(&subject), "{what}");
                assert_eq!(*mutable, scope.tag_is_mutable(&v1), "{what}");
                assert_eq!(released.message, "no longer pending", "{what}");
                assert_eq!(event.signers, ["ci"], "{what}");
                seen("release", Some(event), None)
            }
        };
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn r12_a_signed_index_releases_its_held_child() {
    let (name, v1, child, index) = (repo(), tag("v1"), d(2), d(5));
    let scope = scope(Mode::Enforce, UnsignedPush::Quarantine, &[]);
    let verdict = admitted(&index, Mode::Enforce);
    let held = held_by(2, Some("ci"), NOW.as_secs() + 60);
    let decide = |parents: &[Digest]| {
        decide_promote(&PromoteFacts {
            repository: &name,
            tag: &v1,
            subject: &child,
            scope: &scope,
            verdict: &verdict,
            held: held.as_ref(),
            pin: None,
            index_parents: parents,
        })
    };
    match decide(std::slice::from_ref(&index)) {
        PromotePlan::Release { proof, .. } => assert!(proof.admits(&child)),
        other => panic!("{other:?}"),
    }
    // The same verdict, for a digest no recorded index lists, releases nothing.
    assert_eq!(decide(&[d(6)]), PromotePlan::Wait);
}

#[test]
fn held_pushes_dropped_say_why() {
    let v1 = tag("v1");
    let pin_event = GateEvent {
        action: Action::Pin,
        outcome: AuditOutcome::Allow,
        reason: ReasonCode::Admitted,
        message: "pinned".into(),
        reference: "v1".into(),
        digest: Some(d(1)),
        signers: vec!["ci".into()],
    };
    let held = held_by(9, None, NOW.as_secs()).unwrap();
    let dropped = superseded(&pin_event, &held);
    assert_eq!(
        (dropped.action, dropped.outcome, dropped.reason),
        (
            Action::ClearPending,
            AuditOutcome::Deny,
            ReasonCode::PendingSuperseded
        )
    );
    assert_eq!(
        dropped.message,
        format!(
            "the held push of {} (by an unidentified client) is dropped: the tag is pinned (pin of {})",
            d(9),
            d(1)
        )
    );
    assert_eq!(dropped.digest, Some(d(9)));
    assert_eq!(
        crate::gate::expired(&v1, &held, UnixTime(NOW.as_secs() - 1)),
        None
    );
    let gone = crate::gate::expired(&v1, &held, NOW).unwrap();
    assert_eq!(
        (gone.action, gone.outcome, gone.reason),
        (
            Action::Expire,
            AuditOutcome::Deny,
            ReasonCode::QuarantineExpired
        )
    );
    assert_eq!(
        gone.message,
        format!("no valid signature arrived before {NOW}")
    );
    let what = format!("manifest team/app@{}", d(1));
    let pinned = Guard {
        tag: v1.clone(),
        digest: d(1),
        pinned: true,
        direct: true,
    };
    let retired = orphaned(&what, "default", &pinned);
    assert_eq!(
        (retired.action, retired.reason),
        (Action::RetirePin, ReasonCode::PinOrphaned)
    );
    assert_eq!(
        retired.message,
        format!(
            "{what} was deleted through sealgate (audit scope default); the pin is retired and the tag is free"
        )
    );
    let cleared = orphaned(
        &what,
        "default",
        &Guard {
            pinned: false,
            ..pinned
        },
    );
    assert_eq!(cleared.action, Action::ClearPending);
    assert_eq!(
        cleared.message,
        format!(
            "{what} was deleted through sealgate (audit scope default); the held push is dropped"
        )
    );
    let fallback = tag(&format!("sha256-{}", "0".repeat(63) + "1"));
    let stranger = fallback_stranger(&repo(), &fallback, &d(5), &d(1), &d(6));
    assert_eq!(stranger.reason, ReasonCode::NotForThisTag);
    assert_eq!(
        stranger.message,
        format!(
            "team/app:{fallback} is the referrers fallback tag of {}, and {} is not a referrer of it pushed here: push each referrer (a manifest whose subject is {}) before the index that lists it",
            d(1),
            d(6),
            d(1)
        )
    );
}

#[test]
fn runnable_layers_are_told_by_their_media_type() {
    for runnable in [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "Application/VND.OCI.Image.Layer.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        "application/vnd.oci.image.layer.v1.tar; foo=bar",
        "",
    ] {
        assert!(is_runnable_layer(runnable), "{runnable:?}");
    }
    for material in [
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "application/vnd.dsse.envelope.v1+json",
        "text/spdx+json",
    ] {
        assert!(!is_runnable_layer(material), "{material:?}");
    }
}

#[test]
fn r12_tag_roles_admit_only_their_material() {
    let name = repo();
    let hex = "a".repeat(64);
    let about: Digest = format!("sha256:{hex}").parse().unwrap();
    let other = d(12);
    let (sig, att, fallback) = (
        format!("sha256-{hex}.sig"),
        format!("sha256-{hex}.att"),
        format!("sha256-{hex}"),
    );
    const SIGNING: &[&str] = &["application/vnd.dev.cosign.simplesigning.v1+json"];
    const SBOM: &[&str] = &["text/spdx+json"];
    const IMAGE: &[&str] = &["application/vnd.oci.image.layer.v1.tar+gzip"];
    let material = |layers: &'static [&'static str], is_signature| ManifestFacts {
        schema2: true,
        is_signature,
        layer_media_types: layers,
        ..ManifestFacts::default()
    };
    let not_for = |t: &str, why: String| {
        Err(Misfit {
            message: format!("team/app:{t} {why}"),
            reason: ReasonCode::NotForThisTag,
        })
    };
    let other_subject = other.to_string();
    let rows: Vec<(&str, &str, ManifestFacts<'_>, Result<(), Misfit>)> = vec![
        (
            "signatures under .sig",
            &sig,
            material(SIGNING, true),
            Ok(()),
        ),
        ("an SBOM under .att", &att, material(SBOM, false), Ok(())),
        (
            "an image under .att",
            &att,
            material(IMAGE, false),
            not_for(
                &att,
                format!(
                    "holds material about {about}, never a runnable image: layer 0 has media type \"application/vnd.oci.image.layer.v1.tar+gzip\"; push images under an image tag, where they are pinned and verified"
                ),
            ),
        ),
        (
            "an image under .sig",
            &sig,
            material(IMAGE, false),
            not_for(
                &sig,
                format!(
                    "holds cosign signatures of {about}: every layer must be signature material (simple signing, a sigstore bundle or a DSSE envelope)"
                ),
            ),
        ),
        (
            "an index under .sig",
            &sig,
            ManifestFacts {
                lists_manifests: true,
                referrers_list: true,
                ..material(&[], false)
            },
            not_for(
                &sig,
                format!(
                    "holds material about {about} (signatures, attestations, SBOMs), never an index of images"
                ),
            ),
        ),
        (
            "schema 1 under .att",
            &att,
            ManifestFacts {
                schema2: false,
                ..material(SBOM, false)
            },
            not_for(
                &att,
                format!(
                    "holds material about {about}; only schema 2 (OCI or Docker v2) manifests are accepted here"
                ),
            ),
        ),
        (
            "a referrers list under the fallback tag",
            &fallback,
            ManifestFacts {
                lists_manifests: true,
                referrers_list: true,
                ..material(&[], false)
            },
            Ok(()),
        ),
        (
            "an index of images under the fallback tag",
            &fallback,
            ManifestFacts {
                lists_manifests: true,
                ..material(&[], false)
            },
            not_for(
                &fallback,
                format!(
                    "is the referrers fallback tag of {about}: it holds an image index listing referrers (each with an artifactType, none with a platform), never an image"
                ),
            ),
        ),
        (
            "material about another image",
            &sig,
            ManifestFacts {
                subject: Some(&other_subject),
                ..material(SIGNING, true)
            },
            Err(Misfit {
                message: format!(
                    "team/app:{sig} holds material about {about}, but this manifest's subject is {other}; push it by digest, or under the tag of its own subject"
                ),
                reason: ReasonCode::WrongSubject,
            }),
        ),
        (
            "material about its own image",
            &sig,
            ManifestFacts {
                subject: Some(about.as_str()),
                ..material(SIGNING, true)
            },
            Ok(()),
        ),
        (
            "an image under an image tag",
            "v1",
            material(IMAGE, false),
            Ok(()),
        ),
        (
            "a signature referrer under an image tag",
            "v1",
            ManifestFacts {
                signature_subject: Some(&other),
                subject: Some(&other_subject),
                ..material(SIGNING, true)
            },
            not_for(
                "v1",
                format!(
                    "is an image tag, and this is a signature manifest for {other}: push it by digest (cosign's OCI 1.1 mode) or under its cosign tag sha256-{}.sig",
                    other.hex()
                ),
            ),
        ),
    ];
    for (what, t, manifest, expected) in rows {
        let t = tag(t);
        assert_eq!(
            TagRole::of(&t).admits(&name, &t, &manifest),
            expected,
            "{what}"
        );
    }
}
