//! The gates' decisions, one row per behaviour of the README's "What the push gate does" and
//! "What the pull gate does": facts in, the plan out, no socket and no registry. The expected
//! messages are written out in full: they are what the proxy sends today.
//!
//! README behaviour → where (`push`/`pull`/`sig`/`blob`/`drift`/`release`/`delete`: the
//! `*_table` tests; "…": a row's name; other names are tests). Push gate:
//! - another digest to a pinned tag refused → push "immutable tag pinned to another digest"
//! - same digest again is fine → push "same digest as the pin"
//! - `mutable_tags` move, to verified digests only → push "mutable_tags: …", "immutable_tags…"
//! - a tag push needs the scope's signers → push "new tag: verdict first", "signed push pins"
//! - else refused with instructions → push "unsigned push rejected"
//! - or, with quarantine, held by digest → push "unsigned push quarantined"
//! - a held tag pulled: 404 "awaits a signature" → r12_a_pinned_tag_is_answered_before_a_…
//! - the tag appears once signed → release "signed: released"; r12_a_signed_index_releases_…
//! - dropped after `quarantine_ttl` → push_plans_carry_what_the_…; held_pushes_dropped_say_why
//! - a signed push pins, drops the hold → push "a signed push pins over…"; held_pushes_dropped_…
//! - a hold is replaced only by its pusher → push "held for another pusher" and the 3 rows after it
//! - a pinned tag answers from its pin → push "quarantine scope, …" (2), "warn mode does not…";
//!   release "never released over an immutable pin…"; r12_a_pinned_tag_is_answered_before_…
//! - warn/audit modes → push "warn mode", "audit mode", "warn mode, revoked…", "audit mode, …"
//! - revoked/expired signers → push "revoked signer", "expired signer…", "quarantine…, revoked…"
//! - `.sig` tags are append-only → sig "append-only: …" (2)
//! - signature layers: enforce refuses, warn/audit accept → sig (the other 4 rows)
//! - `.sig` holds its own digest's signatures only → r12_tag_roles_…: "material about another…"
//! - a signed index admits its children → push "child of a signed index"; r12_a_proof_for_…
//! - material tags never hold a runnable image → push "an image under a .sig tag", "an SBOM…",
//!   "an image under the referrers fallback tag"; r12_tag_roles_admit_only_their_material
//! - no signature manifest under an image tag → push "a signature referrer under an image tag…",
//!   "a subjectless signature manifest…", "signatures under their .sig tag…"
//! - deletes of what a pin or hold needs: 405 unless audit + mutable → r12_protected_deletes_table
//! - orphaned pins retired, holds dropped → held_pushes_dropped_say_why
//! - a decision is one log line and one audit event → labels_and_lines_come_from_one_value
//! - an unpinned tag is re-verified, pinned if admitted → pull "first verified pull pins", "first
//!   pull of an unsigned mirrored tag…"; push "new tag: verdict first"
//!
//! Pull gate:
//! - a tag serves its pinned digest → r12_a_pinned_tag_is_…; pull "pinned tag, re-verified…"
//! - re-evaluated under the trust now (revoked, expired, signer unlisted, policy change) →
//!   r12_pinned_pulls_are_re_evaluated_under_the_trust_in_force (real `evaluate`); pull "pinned
//!   tag whose signer was revoked since…", "pinned tag whose certificate expired since…"
//! - `warn` serves with a Warning, `audit` serves → pull "… warn scope…", "… audit scope…",
//!   "audit serves, logged"; r12_pinned_pulls_are_re_evaluated_…
//! - each computed refusal audited once → pull (the cached refusal after the rows)
//! - mirrored content pinned on its first admitted pull → pull "first …" (3)
//! - drift: reported once per moved digest, the pin still served → drift
//! - `follow_drift` moves the pin only to an admitted digest → drift (decide_follow)
//! - by digest: admitted, or a signed index's child → pull "by digest, admitted…", "child of…"
//! - a signature sealgate verified for an admitted image → pull "a signature manifest sealgate…"
//! - looking like a signature is not enough (`.att` too) → pull "a .sig tag sealgate did not
//!   verify…", "an attestation sealgate cannot verify…"
//! - `gate_blobs` → blob (with "a layer of a verified signature manifest…")
//!
//! Not gate decisions, tested elsewhere: Go-agreement refusals (manifest::agreement), signature
//! bounds (proxy signatures.rs), store durability and full disks, pushes by digest creating no
//! tag, media types, referrers, caches, reload, gateway auth.

use std::time::Duration;

use super::*;
use crate::config::{
    Mode, RawKey, RawPolicy, RawRequire, RawRevokedKey, RawScope, RawTrust, RequireWord,
    UnsignedPush,
};
use crate::cosign::{SignatureFailure, Subject, parse_signature_manifest};
use crate::crypto::{Fingerprint, PublicKey};
use crate::glob::Glob;
use crate::oci::{Digest, RepoName, Tag};
use crate::pki::ChainError;
use crate::policy::Scope;
use crate::policy::{LoadError, Policy, Require, Revocation};
use crate::time::UnixTime;
use crate::verdict::{Admitted, Decision, DenyReason, Evidence, FailureReason, Verdict, evaluate};
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
        signature_predicates: crate::statement::SignaturePredicates::cosign(),
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

const ATT_TAG: &str = "sha256-0000000000000000000000000000000000000000000000000000000000000001.att";

const SBOM_TAG: &str =
    "sha256-0000000000000000000000000000000000000000000000000000000000000001.sbom";

/// The referrers fallback tag of digest 1.
const FALLBACK_TAG: &str =
    "sha256-0000000000000000000000000000000000000000000000000000000000000001";

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

/// An SBOM: material about an image, no runnable layer.
const SBOM_MANIFEST: ManifestFacts<'static> = ManifestFacts {
    layer_media_types: &["text/spdx+json"],
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
    let revoked_held = format!(
        "team/app:v1 is held until {d2} is signed (until {until}); sign it and the tag appears. {}",
        revoked(Mode::Enforce).explain()
    );
    let pinned_elsewhere = format!(
        "tag team/app:v1 is pinned to {} and tags are immutable here; push this image under a new tag (or ask an administrator to retire the pin)",
        d(1)
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
                    Some(&pinned_elsewhere),
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
        // A pinned tag is always answered from its pin: neither quarantine nor warn mode moves
        // an immutable one, and a hold on a mutable one leaves the pin in place.
        PushRow {
            pin: pinned_to(1),
            ..push_row(
                "quarantine scope, immutable pin of another digest: refused, not held",
                scope(Mode::Enforce, UnsignedPush::Quarantine, &[]),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::TagPinned)),
                    Some(&pinned_elsewhere),
                    None,
                ),
            )
        },
        PushRow {
            pin: pinned_to(1),
            ..push_row(
                "quarantine scope, mutable pinned tag: the unsigned digest is held",
                scope(Mode::Enforce, UnsignedPush::Quarantine, &["*"]),
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
            pin: pinned_to(1),
            ..push_row(
                "warn mode does not move an immutable pin",
                scope(Mode::Warn, UnsignedPush::Reject, &[]),
                Some(admitted(&d2, Mode::Warn)),
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::TagPinned)),
                    Some(&pinned_elsewhere),
                    None,
                ),
            )
        },
        // Warn and audit let a revoked signer through, saying so; quarantine is enforce's only.
        push_row(
            "warn mode, revoked signer: pinned with a warning",
            scope(Mode::Warn, UnsignedPush::Quarantine, &[]),
            Some(revoked(Mode::Warn)),
            expect(
                "pin",
                Some((A::Push, O::Warn, R::Revoked)),
                Some(&revoked(Mode::Warn).explain()),
                Some(&format!(
                    "not admitted, allowed by warn mode: {}",
                    revoked(Mode::Warn).explain()
                )),
            ),
        ),
        push_row(
            "audit mode, expired signer: pinned, audited",
            scope(Mode::Audit, UnsignedPush::Quarantine, &[]),
            Some(expired(Mode::Audit)),
            expect(
                "pin",
                Some((A::Push, O::Audit, R::Expired)),
                Some(&expired(Mode::Audit).explain()),
                None,
            ),
        ),
        push_row(
            "quarantine scope, revoked signer: held like an unsigned push",
            scope(Mode::Enforce, UnsignedPush::Quarantine, &[]),
            Some(revoked(Mode::Enforce)),
            expect(
                "quarantine",
                Some((A::Quarantine, O::Quarantine, R::Revoked)),
                Some(&revoked_held),
                Some(&revoked_held),
            ),
        ),
        // Tags about an image hold material, never an image, and are never pinned.
        PushRow {
            tag: SBOM_TAG,
            manifest: SBOM_MANIFEST,
            ..push_row(
                "an SBOM under its .sbom tag: forwarded, never pinned",
                enforce(),
                None,
                expect("material", None, None, None),
            )
        },
        PushRow {
            tag: FALLBACK_TAG,
            manifest: IMAGE_MANIFEST,
            ..push_row(
                "an image under the referrers fallback tag",
                enforce(),
                None,
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::NotForThisTag)),
                    Some(&format!(
                        "team/app:{FALLBACK_TAG} is the referrers fallback tag of {}: it holds an image index listing referrers (each with an artifactType, none with a platform), never an image",
                        d(1)
                    )),
                    None,
                ),
            )
        },
        // A signature manifest naming no subject is not told from an image by its shape: under
        // an image tag it goes through the pin, verified as an image.
        PushRow {
            manifest: SIGNATURE_MANIFEST,
            ..push_row(
                "a subjectless signature manifest under an image tag: verified like an image",
                enforce(),
                Some(unsigned(Mode::Enforce)),
                expect(
                    "refuse",
                    Some((A::Push, O::Deny, R::Unsigned)),
                    Some(&rejected("no signature found")),
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
        // Pinned tags are re-evaluated under the trust now: enforce refuses, warn serves with a
        // Warning, audit serves; each computed refusal is logged and audited.
        Row {
            kind: PullKind::Pinned(&v1),
            reference: "v1",
            ..row(
                "pinned tag whose certificate expired since: refused",
                Some(expired(Mode::Enforce)),
                (
                    expect(
                        "refuse",
                        Some((A::Pull, O::Deny, R::Expired)),
                        Some(&denied("v1", &expired(Mode::Enforce))),
                        None,
                    ),
                    logged,
                    None,
                ),
            )
        },
        Row {
            kind: PullKind::Pinned(&v1),
            reference: "v1",
            ..row(
                "pinned tag, revoked signer, warn scope: served with a warning",
                Some(revoked(Mode::Warn)),
                (
                    expect(
                        "serve",
                        Some((A::Pull, O::Warn, R::Revoked)),
                        Some(&revoked(Mode::Warn).explain()),
                        Some(&format!(
                            "not admitted, served by warn mode: {}",
                            revoked(Mode::Warn).explain()
                        )),
                    ),
                    logged,
                    None,
                ),
            )
        },
        Row {
            kind: PullKind::Pinned(&v1),
            reference: "v1",
            ..row(
                "pinned tag, revoked signer, audit scope: served, audited",
                Some(revoked(Mode::Audit)),
                (
                    expect(
                        "serve",
                        Some((A::Pull, O::Audit, R::Revoked)),
                        Some(&revoked(Mode::Audit).explain()),
                        None,
                    ),
                    logged,
                    None,
                ),
            )
        },
        // Content that never came through sealgate is pinned only once admitted.
        Row {
            kind: PullKind::FirstPull(&v1),
            reference: "v1",
            ..row(
                "first pull of an unsigned mirrored tag: refused, not pinned",
                Some(unsigned(Mode::Enforce)),
                (
                    expect(
                        "refuse",
                        Some((A::Pull, O::Deny, R::Unsigned)),
                        Some(&denied("v1", &unsigned(Mode::Enforce))),
                        None,
                    ),
                    logged,
                    None,
                ),
            )
        },
        // Looking like a signature is not enough: what sealgate did not verify for an admitted
        // image needs a verdict of its own, cosign's attachment tags too.
        Row {
            reference: SIG_TAG,
            ..row(
                "a .sig tag sealgate did not verify: refused like any unsigned manifest",
                Some(unsigned(Mode::Enforce)),
                (
                    expect(
                        "refuse",
                        Some((A::Pull, O::Deny, R::Unsigned)),
                        Some(&denied(SIG_TAG, &unsigned(Mode::Enforce))),
                        None,
                    ),
                    logged,
                    None,
                ),
            )
        },
        Row {
            reference: ATT_TAG,
            ..row(
                "an attestation sealgate cannot verify, warn scope: served with a warning",
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
    // The proof the proxy hands over for a signature layer: its admitted subject's.
    let signed_subject = Admitted::for_tests(&d(1));
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
        (
            "a layer of a verified signature manifest of an admitted image",
            gated(Mode::Enforce),
            Some(&signed_subject),
            BlobPlan::Serve {
                proof: signed_subject.clone(),
            },
        ),
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
        check(None, true, false),
        DriftPlan::Reported,
        "a missing tag is audited once too"
    );
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

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const CONNAISSEUR: &str = "cosign-legacy/connaisseur-testimage";
/// An image of `securesystemsengineering/testimage` signed by alice's key, and only by it.
const ALICE_IMAGE: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

fn fixture(path: &str) -> Result<Vec<u8>, LoadError> {
    std::fs::read(format!("{FIXTURES}/{path}")).map_err(|source| LoadError {
        path: path.into(),
        source,
    })
}

/// The cosign signatures found for `ALICE_IMAGE`, as the proxy hands them over.
fn alice_evidence() -> Vec<Evidence> {
    let hex = ALICE_IMAGE.trim_start_matches("sha256:");
    let manifest = fixture(&format!("{CONNAISSEUR}/manifests/sha256-{hex}.sig.json")).unwrap();
    let blob = |d: &Digest| {
        fixture(&format!("{CONNAISSEUR}/blobs/sha256/{}", d.hex()))
            .ok()
            .map(bytes::Bytes::from)
    };
    parse_signature_manifest(&manifest, &blob)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, s)| Evidence::Cosign {
            signature: s.unwrap(),
            observed: NOW,
            source: format!("layer {i}"),
        })
        .collect()
}

/// The trust now: the connaisseur keys `names`, alice's revoked when `revoke_alice`.
fn trust_now(names: &[&str], revoke_alice: bool) -> RawTrust {
    let key_path = |n: &str| format!("{CONNAISSEUR}/keys/{n}.pub");
    let mut trust = RawTrust {
        keys: names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    RawKey {
                        path: key_path(n),
                        rsa_scheme: Default::default(),
                        trusted_root: None,
                    },
                )
            })
            .collect(),
        ..RawTrust::default()
    };
    if revoke_alice {
        let alice =
            PublicKey::from_pem(&fixture(&key_path("alice")).unwrap(), Default::default()).unwrap();
        trust.revoked_keys.push(RawRevokedKey {
            fingerprint: alice.fingerprint().to_string(),
            reason: "key leaked".to_owned(),
            at: "2026-05-01T00:00:00Z".to_owned(),
        });
    }
    trust
}

/// A row of the re-evaluation table: name, the trust's keys, alice revoked, the scope's
/// signers, `require`, mode, the plan's kind, outcome and reason, a phrase of what the client
/// is told (the refusal, else the warning).
type TrustRow<'a> = (
    &'a str,
    &'a [&'a str],
    bool,
    &'a [&'a str],
    Option<RawRequire>,
    Mode,
    &'a str,
    AuditOutcome,
    ReasonCode,
    Option<&'a str>,
);

/// A pull of a pinned tag with the verdict `evaluate` gives under the trust in force now, not
/// a hand-made one: the pin made under yesterday's trust counts for nothing.
#[test]
fn r12_pinned_pulls_are_re_evaluated_under_the_trust_in_force() {
    use AuditOutcome as O;
    use ReasonCode as R;
    let (name, v1): (RepoName, Tag) = (
        "securesystemsengineering/testimage".parse().unwrap(),
        tag("v1"),
    );
    let digest: Digest = ALICE_IMAGE.parse().unwrap();
    let evidence = alice_evidence();
    let revoked = "revoked on 2026-05-01T00:00:00Z (key leaked)";
    let all = || Some(RawRequire::Word(RequireWord::All));
    let rows: Vec<TrustRow<'_>> = vec![
        (
            "the trust it was pinned under: served",
            &["alice"],
            false,
            &["alice"],
            None,
            Mode::Enforce,
            "serve",
            O::Allow,
            R::Admitted,
            None,
        ),
        (
            "alice's key revoked since: refused, naming the revocation",
            &["alice"],
            true,
            &["alice"],
            None,
            Mode::Enforce,
            "refuse",
            O::Deny,
            R::Revoked,
            Some(revoked),
        ),
        (
            "alice no longer listed: refused",
            &["alice", "bob"],
            false,
            &["bob"],
            None,
            Mode::Enforce,
            "refuse",
            O::Deny,
            R::InvalidSignature,
            Some("vs bob: signature does not verify"),
        ),
        (
            "policy change, alice and bob both required: refused",
            &["alice", "bob"],
            false,
            &["alice", "bob"],
            all(),
            Mode::Enforce,
            "refuse",
            O::Deny,
            R::NotEnoughSigners,
            Some("missing bob"),
        ),
        (
            "revoked, warn scope: served with a warning",
            &["alice"],
            true,
            &["alice"],
            None,
            Mode::Warn,
            "serve",
            O::Warn,
            R::Revoked,
            Some(revoked),
        ),
        (
            "revoked, audit scope: served",
            &["alice"],
            true,
            &["alice"],
            None,
            Mode::Audit,
            "serve",
            O::Audit,
            R::Revoked,
            None,
        ),
    ];
    for (what, keys, revoke, signers, require, mode, kind, outcome, reason, told) in rows {
        let default = RawScope {
            signers: signers.iter().map(|s| (*s).to_owned()).collect(),
            require,
            mode,
            ..RawScope::default()
        };
        let policy = Policy::build(
            &trust_now(keys, revoke),
            &RawPolicy {
                default,
                scopes: vec![],
            },
            &mut fixture,
            2,
        )
        .unwrap();
        let subject = Subject {
            repository: name.clone(),
            digest: digest.clone(),
            tag: None,
        };
        let verdict = evaluate(&policy, &subject, &evidence, NOW);
        let plan = decide_pull(&PullFacts {
            repository: &name,
            reference: "v1",
            digest: &digest,
            kind: PullKind::Pinned(&v1),
            verified_signature: false,
            verdict: Some(&verdict),
            index_parents: &[],
            first_report: true,
        });
        let (seen, report, proof) = seen_pull(&plan);
        assert_eq!(seen.kind, kind, "{what}: {plan:?}");
        let (_, got_outcome, got_reason) = seen.labels.unwrap();
        assert_eq!((got_outcome, got_reason), (outcome, reason), "{what}");
        assert_eq!(proof.is_some(), outcome == O::Allow, "{what}");
        assert_eq!(
            report,
            Some(if outcome == O::Allow {
                Report::Count
            } else {
                Report::Log { persist: true }
            }),
            "{what}"
        );
        let client = match &plan {
            PullPlan::Refuse { message, .. } => Some(message.as_str()),
            PullPlan::Serve { warning, .. } => warning.as_deref(),
            _ => None,
        };
        match told {
            Some(phrase) => {
                let client = client.unwrap_or_default();
                assert!(client.contains(phrase), "{what}: {client}");
            }
            None => assert_eq!(client, None, "{what}"),
        }
    }
}

#[test]
fn r14_an_attestation_is_labelled_as_such_unless_something_tells_more() {
    let attestation = FailureReason::Statement(crate::statement::StatementRefusal::Attestation {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        scope: "default".into(),
        accepted: vec![crate::statement::COSIGN_SIGN_PREDICATE.into()],
    });
    let verdict = failed(Mode::Enforce, attestation);
    assert_eq!(ReasonCode::of_verdict(&verdict), ReasonCode::Attestation);
    assert_eq!(ReasonCode::Attestation.to_string(), "attestation");
    let check = LayerCheck::of_verdict(&verdict);
    assert!(
        matches!(&check, LayerCheck::Refused { reason: ReasonCode::Attestation, explanation }
            if explanation.contains("is an attestation, not an image signature")),
        "{check:?}"
    );
    assert_eq!(
        ReasonCode::most_telling([ReasonCode::InvalidSignature, ReasonCode::Attestation]),
        Some(ReasonCode::Attestation)
    );
    assert_eq!(
        ReasonCode::most_telling([ReasonCode::Attestation, ReasonCode::IdentityMismatch]),
        Some(ReasonCode::IdentityMismatch)
    );
    // A statement that cannot be read is an invalid signature, not an attestation.
    let malformed = FailureReason::Statement(crate::statement::StatementRefusal::Malformed(
        "duplicate key \"predicateType\"".into(),
    ));
    assert_eq!(
        ReasonCode::of_verdict(&failed(Mode::Enforce, malformed)),
        ReasonCode::InvalidSignature
    );
}
