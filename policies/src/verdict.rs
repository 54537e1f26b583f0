//! Evaluation: evidence (signatures the proxy found) against a scope's signers, giving a
//! [`Verdict`] that says who signed, what failed and why, and the decision.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::bundle::SigstoreBundle;
use crate::config::{Mode, SigningTime, UnsignedPush};
use crate::cosign::{CosignSignature, SignatureFailure, Subject, verify_with_key, verify_with_pki};
use crate::crypto::Fingerprint;
use crate::oci::Digest;
use crate::policy::{Policy, Revocation, Scope, SignerKind};
use crate::sigstore::{
    BundleSigner, KeylessVerified, Signer as LoggedSigner, bundle_certificates, verify_bundle,
    verify_bundle_keyless, verify_cosign_keyless_layer, verify_cosign_tlog,
};
use crate::statement::{StatementRefusal, check_bundle};
use crate::time::UnixTime;
use crate::x509::CertificateInfo;

/// One piece of evidence the proxy found for a subject.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Evidence {
    /// A cosign simple-signing layer.
    Cosign {
        /// The decoded layer.
        signature: CosignSignature,
        /// When sealgate first saw it (from its index).
        observed: UnixTime,
        /// Where it came from, for messages (`sha256-….sig layer 1`).
        source: String,
    },
    /// Something offered as a signature that could not even be read (a layer of the wrong
    /// media type, a payload blob that does not match its digest). It satisfies nobody, and
    /// the verdict says why.
    Unusable {
        /// What is wrong with it.
        reason: SignatureFailure,
        /// Where it came from.
        source: String,
    },
    /// A sigstore bundle (cosign v3's format, stored as an OCI referrer).
    Bundle {
        /// The parsed bundle.
        bundle: Box<SigstoreBundle>,
        /// The image manifest bytes, for bundles that sign the artifact itself.
        artifact: Option<Vec<u8>>,
        /// When sealgate first saw it.
        observed: UnixTime,
        /// Where it came from.
        source: String,
    },
}

impl Evidence {
    fn source(&self) -> &str {
        match self {
            Self::Cosign { source, .. }
            | Self::Bundle { source, .. }
            | Self::Unusable { source, .. } => source,
        }
    }
}

/// Proof that a subject was admitted, bound to the digest it admits. Only this crate can make
/// one (the field is private; [`evaluate`] mints it when enough signers verified), so code that
/// must only handle admitted content can ask for it. A clone admits the same digest, never
/// another: there is no way to rebind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    digest: Digest,
}

impl Admitted {
    /// The digest this proof admits.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether this proof admits `digest`.
    pub fn admits(&self, digest: &Digest) -> bool {
        self.digest == *digest
    }

    /// The proof for `child`, a manifest the admitted index lists: a signed index admits its
    /// children. Only the gate mints it, from the proxy's record that the index lists `child`.
    pub(crate) fn child(&self, child: &Digest) -> Self {
        Self {
            digest: child.clone(),
        }
    }

    /// A proof minted without verification, for tests of code that takes one.
    #[cfg(test)]
    pub(crate) fn for_tests(digest: &Digest) -> Self {
        Self {
            digest: digest.clone(),
        }
    }
}

/// Who a satisfied signer turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerIdentity {
    /// A key, by fingerprint.
    Key {
        /// `sha256:` of the SPKI.
        fingerprint: Fingerprint,
    },
    /// A certificate.
    Certificate {
        /// Subject DN (empty for Fulcio certificates).
        subject: String,
        /// The first SAN e-mail or URI (the identity of a Fulcio certificate).
        san: Option<String>,
        /// Issuer DN.
        issuer: String,
        /// Serial (hex).
        serial: String,
        /// End of validity.
        not_after: UnixTime,
    },
}

impl fmt::Display for SignerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { fingerprint } => write!(f, "key {fingerprint}"),
            Self::Certificate {
                subject,
                san,
                serial,
                ..
            } => {
                let name = if subject.is_empty() {
                    san.as_deref().unwrap_or("(no subject)")
                } else {
                    subject
                };
                write!(f, "certificate {name} (serial {serial})")
            }
        }
    }
}

/// A signer whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Satisfied {
    /// The signer's configured name.
    pub signer: String,
    /// Its key or certificate.
    pub identity: SignerIdentity,
    /// Index of the evidence that satisfied it.
    pub evidence: usize,
}

/// Why a piece of evidence did not satisfy a signer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The signature itself failed (see the inner reason).
    #[error(transparent)]
    Signature(#[from] SignatureFailure),
    /// It verified, but with a key that has been revoked.
    #[error("signed by key {fingerprint}, revoked on {} ({})", revocation.at, revocation.reason)]
    KeyRevoked {
        /// The key.
        fingerprint: Fingerprint,
        /// Why and when.
        revocation: Revocation,
    },
    /// It verified, but a certificate on its path has been revoked.
    #[error("certificate {serial} of {issuer} revoked on {} ({})", revocation.at, revocation.reason)]
    CertRevoked {
        /// Issuer DN.
        issuer: String,
        /// Serial (hex).
        serial: String,
        /// Why and when.
        revocation: Revocation,
    },
    /// The scope names a signer the policy does not define (a configuration race).
    #[error("signer {0:?} is not defined")]
    UnknownSigner(String),
    /// A DSSE statement that is not an image signature in this scope (an attestation, by its
    /// `predicateType`), or whose predicate cannot be read unambiguously.
    #[error(transparent)]
    Statement(#[from] StatementRefusal),
}

/// A failed (evidence, signer) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFailure {
    /// Index into the evidence given.
    pub evidence: usize,
    /// Where that evidence came from.
    pub source: String,
    /// The signer it was checked against.
    pub signer: String,
    /// Why it failed.
    pub reason: FailureReason,
}

/// Why a subject was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// No signature at all was found.
    Unsigned,
    /// The scope lists no signers, so nothing can be admitted.
    NoSigners,
    /// Signatures exist, but not from enough of the scope's signers.
    NotEnoughSigners {
        /// How many distinct signers are required.
        needed: usize,
        /// The scope's signers that did not sign validly.
        missing: Vec<String>,
    },
}

/// Allowed or not, before the scope's mode is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admitted.
    Allow(Admitted),
    /// Not admitted.
    Deny(DenyReason),
}

/// What the gate does with a verdict, once the scope's mode and unsigned-push rule apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Admitted: serve or accept.
    Admit,
    /// Refuse (403 DENIED with the explanation).
    Reject,
    /// Keep the manifest by digest only; hold the tag until a signature arrives or `ttl` passes.
    Quarantine {
        /// How long the tag waits.
        ttl: std::time::Duration,
    },
    /// Not admitted, let through with an OCI `Warning` header and an audit event (warn mode).
    AllowWithWarning,
    /// Not admitted, let through with an audit event only (audit mode).
    AllowAudited,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The scope that governed it.
    pub scope: String,
    /// enforce / warn / audit.
    pub mode: Mode,
    /// Admitted or why not.
    pub decision: Decision,
    /// Signers satisfied (one entry per distinct signer).
    pub satisfied: Vec<Satisfied>,
    /// What failed, for evidence that satisfied nobody.
    pub failures: Vec<EvidenceFailure>,
    /// The trust generation it was computed under.
    pub generation: u64,
}

impl Verdict {
    /// Whether the subject was admitted.
    pub fn admitted(&self) -> Option<&Admitted> {
        match &self.decision {
            Decision::Allow(a) => Some(a),
            Decision::Deny(_) => None,
        }
    }

    /// The digest this verdict admits (the subject evaluated: for a child of a signed index,
    /// the index), if it admits one.
    pub fn admitted_digest(&self) -> Option<&Digest> {
        self.admitted().map(Admitted::digest)
    }

    /// Whether the request goes ahead: admitted, or a warn/audit scope.
    pub fn proceeds(&self) -> bool {
        self.admitted().is_some() || self.mode != Mode::Enforce
    }

    /// What a push of this subject by tag gets, under `scope`: admitted; refused or held in
    /// quarantine (enforce); or let through unverified with a warning or an audit event.
    pub fn push_outcome(&self, scope: &Scope) -> Outcome {
        match (&self.decision, self.mode) {
            (Decision::Allow(_), _) => Outcome::Admit,
            (Decision::Deny(_), Mode::Warn) => Outcome::AllowWithWarning,
            (Decision::Deny(_), Mode::Audit) => Outcome::AllowAudited,
            (Decision::Deny(_), Mode::Enforce) => match scope.unsigned_push {
                UnsignedPush::Reject => Outcome::Reject,
                UnsignedPush::Quarantine => Outcome::Quarantine {
                    ttl: scope.quarantine_ttl,
                },
            },
        }
    }

    /// What a pull of this subject gets: never quarantine, since a pull cannot wait.
    pub fn pull_outcome(&self) -> Outcome {
        match (&self.decision, self.mode) {
            (Decision::Allow(_), _) => Outcome::Admit,
            (Decision::Deny(_), Mode::Warn) => Outcome::AllowWithWarning,
            (Decision::Deny(_), Mode::Audit) => Outcome::AllowAudited,
            (Decision::Deny(_), Mode::Enforce) => Outcome::Reject,
        }
    }

    /// One line a person can act on.
    pub fn explain(&self) -> String {
        match &self.decision {
            Decision::Allow(_) => {
                let who: Vec<String> = self
                    .satisfied
                    .iter()
                    .map(|s| format!("{} ({})", s.signer, s.identity))
                    .collect();
                format!(
                    "admitted by scope {:?}: signed by {}",
                    self.scope,
                    who.join(", ")
                )
            }
            Decision::Deny(reason) => {
                let head = match reason {
                    DenyReason::Unsigned => "no signature found".to_owned(),
                    DenyReason::NoSigners => format!("scope {:?} lists no signers", self.scope),
                    DenyReason::NotEnoughSigners { needed, missing } => format!(
                        "needs {needed} distinct valid signer(s) of scope {:?} (one key or \
                         certificate identity counts once); missing {}",
                        self.scope,
                        missing.join(", ")
                    ),
                };
                let details: Vec<String> = self
                    .failures
                    .iter()
                    .map(|f| format!("{} vs {}: {}", f.source, f.signer, f.reason))
                    .collect();
                if details.is_empty() {
                    head
                } else {
                    format!("{head}; {}", details.join("; "))
                }
            }
        }
    }
}

/// Most pieces of evidence evaluated per subject; the rest are not looked at. With the caps on
/// layers and chains this bounds the work of one decision (see docs/trust.md).
pub const MAX_EVIDENCE: usize = 32;

/// Evaluates `evidence` for `subject` under `policy` at `now`. Pure and deterministic. Stops
/// once enough distinct signers are satisfied, and looks at no more than [`MAX_EVIDENCE`]
/// pieces of evidence.
pub fn evaluate(
    policy: &Policy,
    subject: &Subject,
    evidence: &[Evidence],
    now: UnixTime,
) -> Verdict {
    let scope = policy.scope_for(&subject.repository);
    // Every (signer, evidence) pair that verified; thresholds are counted from these below.
    let mut verified: Vec<Satisfied> = Vec::new();
    let mut failures = Vec::new();
    let needed = scope.require.needed(scope.signers.len());
    let mut memo = Memo::default();
    for (index, ev) in evidence.iter().enumerate().take(MAX_EVIDENCE) {
        let mut this_failures = Vec::new();
        let mut any = false;
        // What a statement is does not depend on the signer: an attestation is refused for
        // every signer, before any signature is checked.
        let statement = match ev {
            Evidence::Bundle { bundle, .. } => {
                check_bundle(bundle, &scope.signature_predicates, scope.label())
            }
            Evidence::Cosign { .. } | Evidence::Unusable { .. } => Ok(()),
        };
        for name in &scope.signers {
            let checked = statement
                .clone()
                .map_err(FailureReason::from)
                .and_then(|()| {
                    check(
                        policy,
                        name,
                        (index, ev),
                        subject,
                        &scope.reference,
                        now,
                        &mut memo,
                    )
                });
            match checked {
                Ok(identity) => {
                    any = true;
                    verified.push(Satisfied {
                        signer: name.clone(),
                        identity,
                        evidence: index,
                    });
                }
                Err(reason) => this_failures.push(EvidenceFailure {
                    evidence: index,
                    source: ev.source().to_owned(),
                    signer: name.clone(),
                    reason,
                }),
            }
        }
        // Evidence that satisfied a signer explains itself; the others' failures are noise
        // (a layer by alice does not verify with bob's key). Revocations are never noise.
        if any {
            failures.extend(this_failures.into_iter().filter(|f| {
                matches!(
                    f.reason,
                    FailureReason::KeyRevoked { .. } | FailureReason::CertRevoked { .. }
                )
            }));
        } else {
            failures.extend(this_failures);
        }
        // Decided: more evidence cannot change an admission.
        if any
            && !scope.signers.is_empty()
            && distinct_signers(&scope.signers, verified.clone()).len() >= needed
        {
            break;
        }
    }
    let satisfied = distinct_signers(&scope.signers, verified);
    let decision = if scope.signers.is_empty() {
        Decision::Deny(DenyReason::NoSigners)
    } else if satisfied.len() >= needed {
        Decision::Allow(Admitted {
            digest: subject.digest.clone(),
        })
    } else if evidence.is_empty() {
        Decision::Deny(DenyReason::Unsigned)
    } else {
        let done: BTreeSet<&str> = satisfied.iter().map(|s| s.signer.as_str()).collect();
        Decision::Deny(DenyReason::NotEnoughSigners {
            needed,
            missing: scope
                .signers
                .iter()
                .filter(|s| !done.contains(s.as_str()))
                .cloned()
                .collect(),
        })
    };
    Verdict {
        scope: scope.label().to_owned(),
        mode: scope.mode,
        decision,
        satisfied,
        failures,
        generation: policy.generation(),
    }
}

/// Who stands behind a signature, for counting thresholds: a key, or a certificate's identity
/// (its SAN, else its subject). Two certificates for the same identity (keyless signing makes a
/// new one each time) are one signer, whatever issued them.
fn signer_identity_key(identity: &SignerIdentity) -> String {
    match identity {
        SignerIdentity::Key { fingerprint } => format!("key {fingerprint}"),
        SignerIdentity::Certificate { subject, san, .. } => match san {
            Some(san) => format!("san {san}"),
            None => format!("subject {subject}"),
        },
    }
}

/// The largest set of configured signers that distinct evidence satisfies: each signer is
/// matched to a different key or certificate identity, so one signature (or one key configured
/// under two names, or one identity matching two overlapping globs) counts once. A maximum
/// bipartite matching (augmenting paths; signers are few), in the scope's signer order.
fn distinct_signers(signers: &[String], verified: Vec<Satisfied>) -> Vec<Satisfied> {
    let mut identities: Vec<String> = Vec::new();
    // edges[s]: (identity index, the first verified pair of signer s with that identity)
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); signers.len()];
    for (pair, v) in verified.iter().enumerate() {
        let key = signer_identity_key(&v.identity);
        let id = match identities.iter().position(|k| *k == key) {
            Some(id) => id,
            None => {
                identities.push(key);
                identities.len() - 1
            }
        };
        if let Some(s) = signers.iter().position(|n| *n == v.signer)
            && !edges[s].iter().any(|(i, _)| *i == id)
        {
            edges[s].push((id, pair));
        }
    }
    // owner[identity] = (signer, pair) currently matched to it
    let mut owner: Vec<Option<(usize, usize)>> = vec![None; identities.len()];
    fn augment(
        s: usize,
        edges: &[Vec<(usize, usize)>],
        owner: &mut [Option<(usize, usize)>],
        seen: &mut [bool],
    ) -> bool {
        for &(id, pair) in &edges[s] {
            if seen[id] {
                continue;
            }
            seen[id] = true;
            let free = match owner[id] {
                None => true,
                Some((other, _)) => augment(other, edges, owner, seen),
            };
            if free {
                owner[id] = Some((s, pair));
                return true;
            }
        }
        false
    }
    for s in 0..signers.len() {
        let mut seen = vec![false; identities.len()];
        augment(s, &edges, &mut owner, &mut seen);
    }
    let mut matched: Vec<(usize, usize)> = owner.into_iter().flatten().collect();
    matched.sort_unstable();
    let mut verified: Vec<Option<Satisfied>> = verified.into_iter().map(Some).collect();
    matched
        .into_iter()
        .filter_map(|(_, pair)| verified[pair].take())
        .collect()
}

/// What one decision verified already: the signer-independent part of a keyless layer or
/// bundle, by (evidence index, trusted root): each certificate, log entry and signature is
/// verified once per decision. Several keyless signers of one trusted root (overlapping
/// identity globs) then cost one chain, log and signature check per layer, not one each.
#[derive(Default)]
struct Memo {
    keyless: BTreeMap<(usize, usize), Result<KeylessVerified, SignatureFailure>>,
}

/// Checks one piece of evidence (with its index) against one signer, revocations included.
fn check(
    policy: &Policy,
    name: &str,
    (index, evidence): (usize, &Evidence),
    subject: &Subject,
    rule: &crate::cosign::ReferenceRule,
    now: UnixTime,
    memo: &mut Memo,
) -> Result<SignerIdentity, FailureReason> {
    let signer = policy
        .signer(name)
        .ok_or_else(|| FailureReason::UnknownSigner(name.to_owned()))?;
    let revocations = policy.revocations();
    let key_revoked = |key: &crate::crypto::PublicKey| match revocations.key(key.fingerprint()) {
        Some(r) => Err(FailureReason::KeyRevoked {
            fingerprint: key.fingerprint().clone(),
            revocation: r.clone(),
        }),
        None => Ok(()),
    };
    // The leaf and every certificate presented or configured above it.
    let cert_revoked = |certs: &mut dyn Iterator<Item = &CertificateInfo>| {
        for cert in certs {
            if let Some(r) = revocations.cert(&cert.issuer, &cert.serial) {
                return Err(FailureReason::CertRevoked {
                    issuer: cert.issuer.clone(),
                    serial: cert.serial.clone(),
                    revocation: r.clone(),
                });
            }
        }
        Ok(())
    };
    let certificate_identity = |leaf: &CertificateInfo| SignerIdentity::Certificate {
        subject: leaf.subject.clone(),
        san: leaf.san_emails.iter().chain(&leaf.san_uris).next().cloned(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        not_after: leaf.not_after,
    };
    match (&signer.kind, evidence) {
        (_, Evidence::Unusable { reason, .. }) => Err(reason.clone().into()),
        (SignerKind::Key { key, tlog }, Evidence::Cosign { signature, .. }) => {
            verify_with_key(signature, key, subject, rule)?;
            if let Some(trust) = tlog {
                verify_cosign_tlog(signature, LoggedSigner::Key(key), trust, now)?;
            }
            key_revoked(key)?;
            Ok(SignerIdentity::Key {
                fingerprint: key.fingerprint().clone(),
            })
        }
        (
            SignerKind::Pki {
                bundle,
                identity,
                signing_time,
                tlog,
            },
            Evidence::Cosign {
                signature,
                observed,
                ..
            },
        ) => {
            let at = match (signing_time, tlog) {
                (SigningTime::Observed, _) => *observed,
                (SigningTime::Now, _) => now,
                (SigningTime::Tlog, Some(trust)) => {
                    let leaf = signature.certificate()?;
                    verify_cosign_tlog(signature, LoggedSigner::Certificate(&leaf), trust, now)?
                }
                // Policy::build refuses tlog timing without a trusted root; fail closed anyway.
                (SigningTime::Tlog, None) => return Err(SignatureFailure::TlogMissing.into()),
            };
            let certified = verify_with_pki(signature, bundle, identity, at, subject, rule)?;
            let leaf = &certified.certificate;
            key_revoked(&leaf.public_key)?;
            let chain = signature.chain()?;
            cert_revoked(
                &mut std::iter::once(leaf)
                    .chain(&chain)
                    .chain(bundle.intermediates()),
            )?;
            Ok(certificate_identity(leaf))
        }
        (SignerKind::Keyless { trust, identity }, Evidence::Cosign { signature, .. }) => {
            identity
                .check(&signature.certificate()?)
                .map_err(SignatureFailure::from)?;
            let verified = memo
                .keyless
                .entry((index, std::sync::Arc::as_ptr(trust) as usize))
                .or_insert_with(|| {
                    verify_cosign_keyless_layer(signature, trust, now, subject, rule)
                        .map(|(_, verified)| verified)
                })
                .clone()?;
            key_revoked(&verified.certificate.public_key)?;
            let chain = signature.chain()?;
            cert_revoked(&mut std::iter::once(&verified.certificate).chain(&chain))?;
            Ok(certificate_identity(&verified.certificate))
        }
        (
            SignerKind::Key { key, tlog },
            Evidence::Bundle {
                bundle, artifact, ..
            },
        ) => {
            let signer = BundleSigner::Key {
                key,
                tlog: tlog.as_deref(),
            };
            verify_bundle(bundle, artifact.as_deref(), &subject.digest, signer, now)?;
            key_revoked(key)?;
            Ok(SignerIdentity::Key {
                fingerprint: key.fingerprint().clone(),
            })
        }
        (
            SignerKind::Keyless { trust, identity },
            Evidence::Bundle {
                bundle, artifact, ..
            },
        ) => {
            // First, as the cheap filter: a certificate for someone else costs no signature
            // checks (as for cosign layers).
            identity
                .check(&bundle_certificates(bundle)?.0)
                .map_err(SignatureFailure::from)?;
            let verified = memo
                .keyless
                .entry((index, std::sync::Arc::as_ptr(trust) as usize))
                .or_insert_with(|| {
                    verify_bundle_keyless(bundle, artifact.as_deref(), &subject.digest, trust, now)
                })
                .clone()?;
            key_revoked(&verified.certificate.public_key)?;
            cert_revoked(&mut std::iter::once(&verified.certificate))?;
            Ok(certificate_identity(&verified.certificate))
        }
        (SignerKind::Pki { .. }, Evidence::Bundle { .. }) => {
            Err(SignatureFailure::MaterialMismatch {
                expected: "a cosign signature (PKI signers verify cosign certificate annotations)",
                found: "a sigstore bundle",
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests;
