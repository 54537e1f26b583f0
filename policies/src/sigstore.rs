//! Keyless (Fulcio + Rekor) verification and sigstore bundle verification, offline.
//!
//! A keyless signature is trusted when: its Rekor entry verifies against a log of the trusted
//! root (SET and/or inclusion proof with a signed checkpoint) and records this signature, this
//! certificate and this payload; the certificate chains to a Fulcio CA of the trusted root *at
//! the integrated time* (Fulcio certificates live ten minutes); its SAN and OIDC issuer match
//! the signer's identity; and the certificate's key verifies the signature.

use sha2::{Digest as _, Sha256};

use crate::bundle::{BundleContent, SigstoreBundle, VerificationMaterial};
use crate::cosign::{
    CosignSignature, ReferenceRule, SignatureFailure, SimpleSigning, Subject, check_payload,
};
use crate::crypto::PublicKey;
use crate::glob::Glob;
use crate::identity::{IdentityField, IdentityMismatch};
use crate::oci::{Digest, DigestAlgorithm};
use crate::pki::{CaBundle, PkiError};
use crate::time::UnixTime;
use crate::tlog::{HashAlgorithm, LoggedVerifier, TlogBody, TlogEntry, TlogPolicy, verify_entry};
use crate::trusted_root::{TrustedRoot, Validity};
use crate::x509::CertificateInfo;

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A trusted root made ready for verification: its logs, and each Fulcio CA as its own CA
/// bundle with its validity window.
#[derive(Debug, Clone)]
pub struct SigstoreTrust {
    root: TrustedRoot,
    /// One bundle per Fulcio CA: a certificate is trusted at a time when it chains through the
    /// certificates of a CA whose window holds that time (the verified path decides, never a
    /// name: a retired CA's intermediate may copy a current one's subject).
    fulcio: Vec<(CaBundle, Validity)>,
}

impl SigstoreTrust {
    /// Prepares `root`. Each Fulcio chain becomes a CA bundle: its self-signed certificates are
    /// roots (the last certificate when none is), the rest intermediates.
    pub fn new(root: TrustedRoot) -> Result<Self, PkiError> {
        let mut fulcio = Vec::new();
        for ca in &root.certificate_authorities {
            let mut roots = Vec::new();
            let mut intermediates = Vec::new();
            for der in &ca.chain {
                let cert = CertificateInfo::from_der(der)?;
                if cert.subject == cert.issuer {
                    roots.push(cert);
                } else {
                    intermediates.push(cert);
                }
            }
            if roots.is_empty()
                && let Some(last) = intermediates.pop()
            {
                roots.push(last);
            }
            if !roots.is_empty() {
                fulcio.push((
                    CaBundle::from_certificates(roots, intermediates)?,
                    ca.valid_for,
                ));
            }
        }
        Ok(Self { root, fulcio })
    }

    /// The trusted root.
    pub fn root(&self) -> &TrustedRoot {
        &self.root
    }

    /// Verifies a log entry and returns the integrated time it proves.
    fn verified_time(
        &self,
        entry: &TlogEntry,
        now: UnixTime,
    ) -> Result<UnixTime, SignatureFailure> {
        let verified = verify_entry(entry, &self.root.tlogs, now, &TlogPolicy::default())?;
        verified.integrated_time.ok_or(SignatureFailure::Tlog(
            crate::tlog::TlogError::NoSignedIntegratedTime,
        ))
    }

    /// The signing times a bundle proves: each RFC 3161 timestamp over the signature, verified
    /// against the trusted root's TSAs, and the log's integrated time when a SET vouches for it.
    /// Rekor v2 entries carry no integrated time, so they need a timestamp, at whose time the
    /// log's key must have been valid. Timestamps are ignored when the trusted root lists no TSA
    /// but the log proves a time (as cosign does); a timestamp that fails is a failure. The
    /// integrated time, when there is one, comes first.
    fn bundle_times(
        &self,
        bundle: &SigstoreBundle,
        entry: &TlogEntry,
        signature: &[u8],
        now: UnixTime,
    ) -> Result<Vec<UnixTime>, SignatureFailure> {
        let authorities = &self.root.timestamp_authorities;
        let stamped = if authorities.is_empty() {
            Vec::new()
        } else {
            bundle
                .rfc3161_timestamps
                .iter()
                .map(|token| crate::timestamp::verify_timestamp(token, signature, authorities))
                .collect::<Result<Vec<_>, _>>()?
        };
        let policy = TlogPolicy {
            require_integrated_time: stamped.is_empty(),
            ..TlogPolicy::default()
        };
        let verified = verify_entry(entry, &self.root.tlogs, now, &policy)?;
        let mut times = Vec::with_capacity(stamped.len() + 1);
        match verified.integrated_time {
            Some(t) => times.push(t),
            None => {
                for t in &stamped {
                    verified.check_log_valid_at(*t)?;
                }
            }
        }
        times.extend(stamped);
        if times.is_empty() {
            return Err(SignatureFailure::Tlog(
                crate::tlog::TlogError::NoSignedIntegratedTime,
            ));
        }
        Ok(times)
    }

    /// The times a bundle's first log entry (and its timestamps) prove, once the entry is shown
    /// to record this content and this signer.
    fn logged_times(
        &self,
        bundle: &SigstoreBundle,
        content: &SignedContent,
        signer: &Signer<'_>,
        now: UnixTime,
    ) -> Result<Vec<UnixTime>, SignatureFailure> {
        let entry = bundle
            .tlog_entries
            .first()
            .ok_or(SignatureFailure::TlogMissing)?;
        let times = self.bundle_times(bundle, entry, &content.signature, now)?;
        check_body(
            entry,
            &Sha256::digest(&content.message),
            &content.logged_digest,
            &content.signature,
            signer,
        )?;
        Ok(times)
    }

    /// Requires a verified SCT (RFC 6962) in a Fulcio certificate when the trusted root lists
    /// CT logs: proof the certificate was publicly logged when issued. The issuer is whichever
    /// certificate of that subject (presented or trusted) the SCT verifies with; the chain itself
    /// is checked separately.
    fn check_scts(
        &self,
        leaf: &CertificateInfo,
        presented: &[CertificateInfo],
    ) -> Result<(), SignatureFailure> {
        if self.root.ctlogs.is_empty() {
            return Ok(());
        }
        let trusted = self
            .fulcio
            .iter()
            .flat_map(|(f, _)| f.intermediates().iter().chain(f.roots()));
        let mut first_error = None;
        for issuer in presented
            .iter()
            .chain(trusted)
            .filter(|c| c.subject == leaf.issuer)
        {
            match crate::sct::require_scts(leaf, issuer, &self.root.ctlogs, 1) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.map_or(
            SignatureFailure::Chain(crate::pki::ChainError::UnknownIssuer),
            SignatureFailure::Sct,
        ))
    }

    /// Chains `leaf` to a Fulcio CA at `at`, through that CA's own certificates, with that CA's
    /// validity window containing `at`.
    fn check_certificate(
        &self,
        leaf: &CertificateInfo,
        presented: &[CertificateInfo],
        at: UnixTime,
    ) -> Result<(), SignatureFailure> {
        let mut outside = false;
        let mut rejected: Option<crate::pki::ChainError> = None;
        for (bundle, window) in &self.fulcio {
            match bundle.verify(leaf, presented, at) {
                Ok(()) if window.contains(at) => return Ok(()),
                Ok(()) => outside = true,
                // Another CA's "unknown issuer" says less than, say, an expiry on the path to
                // the right one; keep the most telling reason.
                Err(e) => {
                    if rejected
                        .as_ref()
                        .is_none_or(|r| *r == crate::pki::ChainError::UnknownIssuer)
                    {
                        rejected = Some(e);
                    }
                }
            }
        }
        match (outside, rejected) {
            (false, Some(e)) => Err(e.into()),
            _ => Err(SignatureFailure::CaNotValidAt { at }),
        }
    }
}

/// Who a keyless signature must come from: a SAN (e-mail or URI) and an OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessIdentity {
    /// Glob over the certificate's SAN e-mails and URIs.
    pub san: Glob,
    /// Glob over the Fulcio OIDC issuer extension.
    pub issuer: Glob,
}

impl KeylessIdentity {
    pub(crate) fn check(&self, cert: &CertificateInfo) -> Result<(), IdentityMismatch> {
        let sans: Vec<&String> = cert.san_emails.iter().chain(&cert.san_uris).collect();
        if !sans.iter().any(|s| self.san.matches(s)) {
            return Err(IdentityMismatch {
                field: if self.san.as_str().contains('@') {
                    IdentityField::SanEmail
                } else {
                    IdentityField::SanUri
                },
                expected: self.san.to_string(),
                found: sans
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        match &cert.oidc_issuer {
            Some(issuer) if self.issuer.matches(issuer) => Ok(()),
            other => Err(IdentityMismatch {
                field: IdentityField::OidcIssuer,
                expected: self.issuer.to_string(),
                found: other.clone().unwrap_or_default(),
            }),
        }
    }
}

/// A keyless or bundle signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessVerified {
    /// The signing certificate.
    pub certificate: CertificateInfo,
    /// The time the log vouches for.
    pub signed_at: UnixTime,
}

/// The body of a log entry must record this digest, this signature and this signer.
/// `signed_digest` is the digest of the bytes the signature covers (a hashedrekord records
/// it: the payload, the artifact, or a DSSE envelope's PAE on Rekor v2); `payload_digest` is the
/// digest of a DSSE payload (a dsse entry records that). For cosign layers both are the same.
fn check_body(
    entry: &TlogEntry,
    signed_digest: &[u8],
    payload_digest: &[u8],
    signature: &[u8],
    signer: &Signer<'_>,
) -> Result<(), SignatureFailure> {
    let matches_signer = |verifier: &LoggedVerifier| match (verifier, signer) {
        (LoggedVerifier::Certificate(der), Signer::Certificate(cert)) => der == &cert.der,
        (LoggedVerifier::PublicKey(spki), Signer::Certificate(cert)) => {
            spki.as_slice() == cert.public_key.spki_der()
        }
        (LoggedVerifier::PublicKey(spki), Signer::Key(key)) => spki.as_slice() == key.spki_der(),
        (LoggedVerifier::Certificate(der), Signer::Key(key)) => {
            CertificateInfo::from_der(der).is_ok_and(|c| c.public_key.spki_der() == key.spki_der())
        }
    };
    match entry.body()? {
        TlogBody::HashedRekord {
            digest: logged,
            signature: logged_sig,
            ..
        } => {
            if logged.algorithm != HashAlgorithm::Sha256 || logged.value != signed_digest {
                return Err(SignatureFailure::TlogBodyMismatch {
                    what: "payload digest",
                });
            }
            if logged_sig.signature != signature {
                return Err(SignatureFailure::TlogBodyMismatch { what: "signature" });
            }
            if !matches_signer(&logged_sig.verifier) {
                return Err(SignatureFailure::TlogBodyMismatch {
                    what: "signing key",
                });
            }
            Ok(())
        }
        TlogBody::Dsse {
            payload_hash,
            signatures,
            ..
        } => {
            if payload_hash.algorithm != HashAlgorithm::Sha256
                || payload_hash.value != payload_digest
            {
                return Err(SignatureFailure::TlogBodyMismatch {
                    what: "payload digest",
                });
            }
            if !signatures
                .iter()
                .any(|s| s.signature == signature && matches_signer(&s.verifier))
            {
                return Err(SignatureFailure::TlogBodyMismatch { what: "signature" });
            }
            Ok(())
        }
    }
}

/// Who a log entry must name as the signer.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// A certificate (keyless, PKI).
    Certificate(&'a CertificateInfo),
    /// A configured key.
    Key(&'a PublicKey),
}

/// Verifies a cosign simple-signing layer signed keyless: certificate, chain and Rekor bundle
/// annotations.
pub fn verify_cosign_keyless(
    sig: &CosignSignature,
    trust: &SigstoreTrust,
    identity: &KeylessIdentity,
    now: UnixTime,
    subject: &Subject,
    rule: &ReferenceRule,
) -> Result<(SimpleSigning, KeylessVerified), SignatureFailure> {
    // First, as the cheap filter: a certificate for someone else costs no signature checks.
    identity.check(&sig.certificate()?)?;
    verify_cosign_keyless_layer(sig, trust, now, subject, rule)
}

/// [`verify_cosign_keyless`] without the identity check: what does not depend on the signer,
/// so one decision does it once per layer and trusted root, however many signers ask.
pub(crate) fn verify_cosign_keyless_layer(
    sig: &CosignSignature,
    trust: &SigstoreTrust,
    now: UnixTime,
    subject: &Subject,
    rule: &ReferenceRule,
) -> Result<(SimpleSigning, KeylessVerified), SignatureFailure> {
    let leaf = sig.certificate()?;
    let chain = sig.chain()?;
    let signed_at = verify_cosign_tlog(sig, Signer::Certificate(&leaf), trust, now)?;
    trust.check_certificate(&leaf, &chain, signed_at)?;
    trust.check_scts(&leaf, &chain)?;
    leaf.public_key
        .verify(&sig.payload, &sig.signature)
        .map_err(|_| SignatureFailure::SignatureMismatch)?;
    let payload = check_payload(&sig.payload, subject, rule)?;
    Ok((
        payload,
        KeylessVerified {
            certificate: leaf,
            signed_at,
        },
    ))
}

/// Verifies the Rekor evidence of a cosign layer (the `dev.sigstore.cosign/bundle` annotation)
/// and that the entry records this payload, signature and signer; returns the integrated time.
/// Used for keys whose signatures must be logged, PKI signers timed by the log, and keyless.
pub fn verify_cosign_tlog(
    sig: &CosignSignature,
    signer: Signer<'_>,
    trust: &SigstoreTrust,
    now: UnixTime,
) -> Result<UnixTime, SignatureFailure> {
    let annotation = sig
        .rekor_bundle
        .as_deref()
        .ok_or(SignatureFailure::TlogMissing)?;
    let entry = TlogEntry::from_cosign_bundle_annotation(annotation)?;
    let signed_at = trust.verified_time(&entry, now)?;
    let digest = Sha256::digest(&sig.payload);
    check_body(&entry, &digest, &digest, &sig.signature, &signer)?;
    Ok(signed_at)
}

/// How a bundle's signature is to be trusted.
#[derive(Debug, Clone, Copy)]
pub enum BundleSigner<'a> {
    /// A configured key; `tlog` when its transparency-log evidence is required.
    Key {
        /// The key.
        key: &'a PublicKey,
        /// The trusted root whose logs must record the signature, if required.
        tlog: Option<&'a SigstoreTrust>,
    },
    /// Fulcio + Rekor of a trusted root, and an identity.
    Keyless {
        /// The trusted root.
        trust: &'a SigstoreTrust,
        /// Who must have signed.
        identity: &'a KeylessIdentity,
    },
}

/// What a bundle signature verified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleVerified {
    /// By a configured key, with the log time when a log was required.
    Key {
        /// The integrated time, when verified.
        signed_at: Option<UnixTime>,
    },
    /// Keyless.
    Keyless(Box<KeylessVerified>),
}

/// Verifies a sigstore bundle as a signature over `subject` (an image manifest digest).
/// `artifact` is the image manifest itself, needed when the bundle signs the artifact bytes
/// (message signatures); DSSE bundles sign an in-toto statement naming the digest.
pub fn verify_bundle(
    bundle: &SigstoreBundle,
    artifact: Option<&[u8]>,
    subject: &Digest,
    signer: BundleSigner<'_>,
    now: UnixTime,
) -> Result<BundleVerified, SignatureFailure> {
    let content = signed_content(bundle, artifact, subject)?;
    match signer {
        BundleSigner::Key { key, tlog } => {
            if !matches!(
                bundle.verification_material,
                VerificationMaterial::PublicKey { .. }
            ) {
                return Err(SignatureFailure::MaterialMismatch {
                    expected: "a public key",
                    found: "a certificate",
                });
            }
            key.verify(&content.message, &content.signature)
                .map_err(|_| SignatureFailure::SignatureMismatch)?;
            let signed_at = match tlog {
                Some(trust) => trust
                    .logged_times(bundle, &content, &Signer::Key(key), now)?
                    .first()
                    .copied(),
                None => None,
            };
            Ok(BundleVerified::Key { signed_at })
        }
        BundleSigner::Keyless { trust, identity } => {
            let (leaf, presented) = match &bundle.verification_material {
                VerificationMaterial::Certificate(der) => {
                    (CertificateInfo::from_der(der)?, Vec::new())
                }
                VerificationMaterial::X509Chain(chain) => {
                    if chain.len() > crate::cosign::MAX_CHAIN_CERTIFICATES {
                        return Err(SignatureFailure::ChainTooLong(chain.len()));
                    }
                    let mut certs = chain
                        .iter()
                        .map(|d| CertificateInfo::from_der(d))
                        .collect::<Result<Vec<_>, _>>()?;
                    if certs.is_empty() {
                        return Err(SignatureFailure::NoCertificate);
                    }
                    let leaf = certs.remove(0);
                    if certs.iter().any(|c| c.is_ca && c.subject == c.issuer) {
                        return Err(SignatureFailure::PresentedRoot);
                    }
                    (leaf, certs)
                }
                VerificationMaterial::PublicKey { .. } => {
                    return Err(SignatureFailure::MaterialMismatch {
                        expected: "a Fulcio certificate",
                        found: "a public key hint",
                    });
                }
            };
            let times = trust.logged_times(bundle, &content, &Signer::Certificate(&leaf), now)?;
            // The certificate must have been valid at every time the evidence proves.
            for at in &times {
                trust.check_certificate(&leaf, &presented, *at)?;
            }
            let signed_at = times[0];
            trust.check_scts(&leaf, &presented)?;
            identity.check(&leaf)?;
            leaf.public_key
                .verify(&content.message, &content.signature)
                .map_err(|_| SignatureFailure::SignatureMismatch)?;
            Ok(BundleVerified::Keyless(Box::new(KeylessVerified {
                certificate: leaf,
                signed_at,
            })))
        }
    }
}

/// What a bundle signs: the bytes the signature covers, the signature, and the digest the log
/// records for them.
struct SignedContent {
    message: Vec<u8>,
    signature: Vec<u8>,
    logged_digest: Vec<u8>,
}

/// The bytes the bundle's signature covers, the signature, and the digest the log records.
fn signed_content(
    bundle: &SigstoreBundle,
    artifact: Option<&[u8]>,
    subject: &Digest,
) -> Result<SignedContent, SignatureFailure> {
    if subject.algorithm() != DigestAlgorithm::Sha256 {
        return Err(SignatureFailure::Bundle(
            "only sha256 subjects are supported".to_owned(),
        ));
    }
    let subject_hex = subject.hex();
    match &bundle.content {
        BundleContent::MessageSignature {
            digest_algorithm,
            digest,
            signature,
        } => {
            let artifact = artifact.ok_or(SignatureFailure::ArtifactRequired)?;
            let actual = Sha256::digest(artifact);
            if hex::encode(actual) != subject_hex {
                return Err(SignatureFailure::DigestMismatch {
                    signed: format!("sha256:{}", hex::encode(actual)),
                    subject: subject.to_string(),
                });
            }
            if *digest_algorithm != HashAlgorithm::Sha256 || digest.as_slice() != actual.as_slice()
            {
                return Err(SignatureFailure::DigestMismatch {
                    signed: format!("{}:{}", digest_algorithm.as_str(), hex::encode(digest)),
                    subject: subject.to_string(),
                });
            }
            Ok(SignedContent {
                message: artifact.to_vec(),
                signature: signature.clone(),
                logged_digest: actual.to_vec(),
            })
        }
        BundleContent::Dsse(envelope) => {
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(SignatureFailure::Statement(format!(
                    "payload type {:?}, expected {IN_TOTO_PAYLOAD_TYPE}",
                    envelope.payload_type
                )));
            }
            let [signature] = envelope.signatures.as_slice() else {
                return Err(SignatureFailure::Statement(format!(
                    "{} signatures; exactly one is expected",
                    envelope.signatures.len()
                )));
            };
            check_statement(&envelope.payload, subject_hex)?;
            Ok(SignedContent {
                message: envelope.pae(),
                signature: signature.sig.clone(),
                logged_digest: Sha256::digest(&envelope.payload).to_vec(),
            })
        }
    }
}

/// The statement must be in-toto and list the subject's sha256 among its subjects.
fn check_statement(payload: &[u8], subject_hex: &str) -> Result<(), SignatureFailure> {
    #[derive(serde::Deserialize)]
    struct Statement {
        #[serde(rename = "_type")]
        kind: String,
        #[serde(default)]
        subject: Vec<StatementSubject>,
    }
    #[derive(serde::Deserialize)]
    struct StatementSubject {
        #[serde(default)]
        digest: std::collections::BTreeMap<String, String>,
    }
    let statement: Statement = serde_json::from_slice(payload)
        .map_err(|e| SignatureFailure::Statement(format!("not an in-toto statement: {e}")))?;
    if !statement.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(SignatureFailure::Statement(format!(
            "_type {:?} is not an in-toto statement",
            statement.kind
        )));
    }
    let digests: Vec<&String> = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.get("sha256"))
        .collect();
    if digests.iter().any(|d| d.as_str() == subject_hex) {
        Ok(())
    } else {
        Err(SignatureFailure::DigestMismatch {
            signed: digests
                .iter()
                .map(|d| format!("sha256:{d}"))
                .collect::<Vec<_>>()
                .join(", "),
            subject: format!("sha256:{subject_hex}"),
        })
    }
}

#[cfg(test)]
mod tests;
