//! Keyless (Fulcio + Rekor) and sigstore bundle verification, offline, on the sigstore project's
//! own verifier (`sigstore-verify`: bundles, Rekor SETs, inclusion proofs and checkpoints, RFC
//! 3161 timestamps, SCTs, Fulcio chains with their validity windows, trusted roots).
//!
//! What stays here is what that verifier does not express, kept small:
//!
//! - cosign's legacy `.sig` layers: the certificate, chain and `dev.sigstore.cosign/bundle`
//!   annotations are restated as the v0.1 bundle they are (a message signature over the
//!   simple-signing payload, its Rekor entry with an inclusion promise) and verified as one;
//! - identities as globs (the verifier matches exact strings), checked on sealgate's own reading
//!   of the certificate;
//! - what sealgate refuses beyond it: CA certificates without keyCertSign (webpki does not look
//!   at keyUsage), roots presented by a bundle, chains longer than
//!   [`crate::cosign::MAX_CHAIN_CERTIFICATES`], a key signer whose logged signature proves no
//!   time, evidence dated after the evaluation time, and an in-toto statement that does not name
//!   the image;
//! - BYO-PKI signers timed by the log: the verifier proves the entry and its time for the
//!   certificate (its chain skipped), [`crate::pki`] then checks the chain at that time.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{
    Artifact, Bundle, DerPublicKey, HashAlgorithm, Sha256Hash, SignatureContent,
    VerificationMaterialContent,
};
use sigstore_verify::{
    CertificateError, PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
};

use crate::bundle::SigstoreBundle;
use crate::cosign::{
    CosignSignature, ReferenceRule, SignatureFailure, SimpleSigning, Subject, check_payload,
};
use crate::crypto::PublicKey;
use crate::glob::Glob;
use crate::identity::{IdentityField, IdentityMismatch};
use crate::oci::{Digest, DigestAlgorithm};
use crate::pki::ChainError;
use crate::time::UnixTime;
use crate::x509::CertificateInfo;

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Why a `trusted_root.json` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrustRootError(String);

/// The certificates of one authority of a trusted root (a Fulcio CA or a timestamp authority),
/// DER, leaf-most first, as listed for expiry monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityChain {
    /// The chain's certificates.
    pub certificates: Vec<Vec<u8>>,
}

/// A trusted root made ready for verification, once per load: its CAs parsed into trust
/// anchors with their validity windows, its log and CT keys decoded.
pub struct SigstoreTrust {
    verifier: Verifier,
    fulcio: Vec<AuthorityChain>,
    timestamping: Vec<AuthorityChain>,
    has_ctlogs: bool,
    warnings: Vec<String>,
}

impl fmt::Debug for SigstoreTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigstoreTrust")
            .field("fulcio_cas", &self.fulcio.len())
            .field("timestamp_authorities", &self.timestamping.len())
            .field("ctlogs", &self.has_ctlogs)
            .finish_non_exhaustive()
    }
}

/// The subject of a CA certificate in `chain` whose keyUsage lacks keyCertSign (RFC 5280
/// §6.1.4 (n): such a CA issues nothing), if there is one.
fn lacks_cert_sign(chain: &[Vec<u8>]) -> Result<Option<String>, TrustRootError> {
    for der in chain {
        let cert = CertificateInfo::from_der(der).map_err(|e| TrustRootError(e.to_string()))?;
        if cert.is_ca && !cert.cert_sign {
            return Ok(Some(cert.subject));
        }
    }
    Ok(None)
}

/// The authorities whose chains may issue, each with its chain; the others are named in
/// `warnings` (webpki, which checks the paths, does not look at keyUsage).
fn issuing<T>(
    authorities: Vec<T>,
    chain_of: impl Fn(&T) -> Vec<Vec<u8>>,
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<(Vec<T>, Vec<AuthorityChain>), TrustRootError> {
    let mut kept = (Vec::new(), Vec::new());
    for authority in authorities {
        let certificates = chain_of(&authority);
        match lacks_cert_sign(&certificates)? {
            Some(subject) => warnings.push(format!(
                "{what} CA {subject:?} lacks keyCertSign; it is left out (it issues nothing)"
            )),
            None => {
                kept.0.push(authority);
                kept.1.push(AuthorityChain { certificates });
            }
        }
    }
    Ok(kept)
}

impl SigstoreTrust {
    /// Reads a `trusted_root.json` (never fetched). A Fulcio CA or timestamp authority with a CA
    /// certificate that may not sign certificates is left out, with a warning: it issues
    /// nothing.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustRootError> {
        let text = std::str::from_utf8(json)
            .map_err(|_| TrustRootError("trusted root is not UTF-8".to_owned()))?;
        let mut root = TrustedRoot::from_json(text)
            .map_err(|e| TrustRootError(format!("trusted root: {e}")))?;
        let mut warnings = Vec::new();
        let der = |certs: &[sigstore_verify::trust_root::trusted_root::CertificateEntry]| {
            certs
                .iter()
                .map(|c| c.raw_bytes.as_bytes().to_vec())
                .collect()
        };
        let (cas, fulcio) = issuing(
            std::mem::take(&mut root.certificate_authorities),
            |ca| der(&ca.cert_chain.certificates),
            "Fulcio",
            &mut warnings,
        )?;
        let (tsas, timestamping) = issuing(
            std::mem::take(&mut root.timestamp_authorities),
            |tsa| der(&tsa.cert_chain.certificates),
            "timestamp authority",
            &mut warnings,
        )?;
        root.certificate_authorities = cas;
        root.timestamp_authorities = tsas;
        let verifier = Verifier::new(&root).map_err(|e| TrustRootError(e.to_string()))?;
        Ok(Self {
            verifier,
            fulcio,
            timestamping,
            has_ctlogs: !root.ctlogs.is_empty(),
            warnings,
        })
    }

    /// The Fulcio CA chains trusted for keyless signatures.
    pub fn certificate_authorities(&self) -> &[AuthorityChain] {
        &self.fulcio
    }

    /// The RFC 3161 timestamp authority chains.
    pub fn timestamp_authorities(&self) -> &[AuthorityChain] {
        &self.timestamping
    }

    /// What was left out of the trusted root when it was read, and why.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The policy for a Fulcio certificate: chain, SCT when the root lists CT logs (as cosign
    /// does), log; any identity (sealgate matches identities as globs itself).
    fn keyless_policy(&self) -> VerificationPolicy {
        let policy = VerificationPolicy::any_identity();
        if self.has_ctlogs {
            policy
        } else {
            policy.skip_sct()
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
    /// Whether `cert` names this identity.
    pub fn check(&self, cert: &CertificateInfo) -> Result<(), IdentityMismatch> {
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
    /// The time the log (or a timestamp authority) vouches for.
    pub signed_at: UnixTime,
}

/// Who a log entry must name as the signer.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// A certificate (keyless, PKI).
    Certificate(&'a CertificateInfo),
    /// A configured key.
    Key(&'a PublicKey),
}

/// Says why sigstore-verify refused, in sealgate's terms.
fn failure(e: sigstore_verify::Error) -> SignatureFailure {
    use sigstore_verify::Error;
    use sigstore_verify::bundle::Error as BundleShape;
    match e {
        Error::SignatureInvalid(_) => SignatureFailure::SignatureMismatch,
        Error::TransparencyLog(e) => SignatureFailure::Tlog(e),
        Error::Timestamp(e) => SignatureFailure::Timestamp(e),
        Error::Certificate(CertificateError::NoValidAuthority { time }) => {
            SignatureFailure::CaNotValidAt {
                at: UnixTime(u64::try_from(time.as_second()).unwrap_or(0)),
            }
        }
        Error::Certificate(CertificateError::Sct(detail)) => SignatureFailure::Sct(detail),
        Error::Certificate(e) => SignatureFailure::Fulcio(e.to_string()),
        // sealgate binds the artifact itself first (message digest, statement subject), so
        // what the verifier still finds is a log entry recording another artifact.
        Error::ArtifactMismatch(detail) => {
            SignatureFailure::Tlog(sigstore_verify::TransparencyLogError::EntryMismatch(detail))
        }
        // Shape rules on the log evidence (a v0.1 bundle without its promise, a proof without
        // its checkpoint or disagreeing with it) are transparency-log failures.
        Error::Bundle(
            e @ (BundleShape::MissingInclusionPromise(_)
            | BundleShape::MissingInclusionProof(_)
            | BundleShape::MissingSigningTimeEvidence
            | BundleShape::MissingCheckpoint
            | BundleShape::LogIndexOutOfRange { .. }
            | BundleShape::CheckpointRootMismatch),
        ) => SignatureFailure::Tlog(sigstore_verify::TransparencyLogError::InclusionProof(
            e.to_string(),
        )),
        other => SignatureFailure::Bundle(other.to_string()),
    }
}

/// The signing time `result` proves (the log's integrated time when there is one, as cosign
/// takes it, else the first verified timestamp), once no proven time lies after `now`: evidence
/// cannot be dated after the evaluation.
fn proven_time(result: &VerificationResult, now: UnixTime) -> Result<UnixTime, SignatureFailure> {
    let seconds = |t: i64| UnixTime(u64::try_from(t).unwrap_or(0));
    let times = result
        .integrated_time()
        .into_iter()
        .chain(result.verified_timestamps().iter().copied())
        .map(|t| seconds(t.as_second()));
    let mut first = None;
    for t in times {
        if t > now {
            return Err(SignatureFailure::SignedAfter { at: t, now });
        }
        first.get_or_insert(t);
    }
    first.ok_or(SignatureFailure::NoLoggedTime)
}

/// Refuses presented CA certificates that may not sign certificates: webpki builds the path
/// without looking at keyUsage.
fn check_presented(chain: &[CertificateInfo]) -> Result<(), SignatureFailure> {
    match chain.iter().find(|c| c.is_ca && !c.cert_sign) {
        Some(c) => Err(ChainError::NoCertSign {
            subject: c.subject.clone(),
        }
        .into()),
        None => Ok(()),
    }
}

/// The v0.1 bundle a cosign layer's annotations amount to: a message signature over the
/// simple-signing payload, the certificate chain (or the key, by hint), and the Rekor entry of
/// `dev.sigstore.cosign/bundle` with its inclusion promise.
fn layer_bundle(
    sig: &CosignSignature,
    certificates: Option<Vec<&[u8]>>,
) -> Result<Bundle, SignatureFailure> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Annotation {
        signed_entry_timestamp: String,
        payload: AnnotationPayload,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AnnotationPayload {
        body: String,
        integrated_time: i64,
        log_index: i64,
        #[serde(rename = "logID")]
        log_id: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        kind: String,
        api_version: String,
    }
    let bad = |what: String| {
        SignatureFailure::Tlog(sigstore_verify::TransparencyLogError::MalformedEntry(what))
    };
    let annotation = sig
        .rekor_bundle
        .as_deref()
        .ok_or(SignatureFailure::TlogMissing)?;
    let annotation: Annotation = serde_json::from_str(annotation)
        .map_err(|e| bad(format!("dev.sigstore.cosign/bundle: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64
        .decode(&annotation.payload.body)
        .map_err(|_| bad("the entry body is not base64".to_owned()))?;
    let kind: Body = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the entry body is not a Rekor entry: {e}")))?;
    let log_id =
        hex::decode(&annotation.payload.log_id).map_err(|_| bad("logID is not hex".to_owned()))?;
    let mut material = match certificates {
        Some(chain) => serde_json::json!({"x509CertificateChain": {"certificates": chain
            .iter()
            .map(|der| serde_json::json!({"rawBytes": b64.encode(der)}))
            .collect::<Vec<_>>()}}),
        None => serde_json::json!({"publicKey": {"hint": "cosign"}}),
    };
    material["tlogEntries"] = serde_json::json!([{
        "logIndex": annotation.payload.log_index.to_string(),
        "logId": {"keyId": b64.encode(log_id)},
        "kindVersion": {"kind": kind.kind, "version": kind.api_version},
        "integratedTime": annotation.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": annotation.signed_entry_timestamp},
        "canonicalizedBody": annotation.payload.body,
    }]);
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": b64.encode(Sha256::digest(&sig.payload)),
            },
            "signature": b64.encode(&sig.signature),
        },
    });
    Bundle::from_json(&bundle.to_string()).map_err(|e| bad(e.to_string()))
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
    check_presented(&chain)?;
    let certificates = std::iter::once(leaf.der.as_slice())
        .chain(chain.iter().map(|c| c.der.as_slice()))
        .collect();
    let bundle = layer_bundle(sig, Some(certificates))?;
    let result = trust
        .verifier
        .verify(sig.payload.as_ref(), &bundle, &trust.keyless_policy())
        .map_err(failure)?;
    let signed_at = logged_time(&result, now)?;
    let payload = check_payload(&sig.payload, subject, rule)?;
    Ok((
        payload,
        KeylessVerified {
            certificate: leaf,
            signed_at,
        },
    ))
}

/// The integrated time a layer's log entry proves (a legacy layer has no timestamps).
fn logged_time(result: &VerificationResult, now: UnixTime) -> Result<UnixTime, SignatureFailure> {
    if result.integrated_time().is_none() {
        return Err(SignatureFailure::NoLoggedTime);
    }
    proven_time(result, now)
}

/// Verifies the Rekor evidence of a cosign layer (the `dev.sigstore.cosign/bundle` annotation)
/// and that the entry records this payload, signature and signer; returns the integrated time.
/// Used for keys whose signatures must be logged and PKI signers timed by the log (whose chain
/// [`crate::pki`] checks at the time returned).
pub fn verify_cosign_tlog(
    sig: &CosignSignature,
    signer: Signer<'_>,
    trust: &SigstoreTrust,
    now: UnixTime,
) -> Result<UnixTime, SignatureFailure> {
    let result = match signer {
        Signer::Key(key) => {
            let bundle = layer_bundle(sig, None)?;
            let policy =
                PublicKeyVerificationPolicy::new(DerPublicKey::new(key.spki_der().to_vec()));
            trust
                .verifier
                .verify(sig.payload.as_ref(), &bundle, &policy)
        }
        Signer::Certificate(cert) => {
            let bundle = layer_bundle(sig, Some(vec![cert.der.as_slice()]))?;
            let policy = VerificationPolicy::any_identity().skip_certificate_chain();
            trust
                .verifier
                .verify(sig.payload.as_ref(), &bundle, &policy)
        }
    }
    .map_err(failure)?;
    logged_time(&result, now)
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
        /// The earliest time the log or a timestamp authority vouches for, when verified.
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
    match signer {
        BundleSigner::Key { key, tlog } => {
            verify_bundle_key(bundle, artifact, subject, key, tlog, now)
        }
        BundleSigner::Keyless { trust, identity } => {
            let verified = verify_bundle_keyless(bundle, artifact, subject, trust, now)?;
            identity.check(&verified.certificate)?;
            Ok(BundleVerified::Keyless(Box::new(verified)))
        }
    }
}

fn verify_bundle_key(
    bundle: &SigstoreBundle,
    artifact: Option<&[u8]>,
    subject: &Digest,
    key: &PublicKey,
    tlog: Option<&SigstoreTrust>,
    now: UnixTime,
) -> Result<BundleVerified, SignatureFailure> {
    let inner = bundle.inner();
    if !matches!(
        inner.verification_material.content,
        VerificationMaterialContent::PublicKey(_)
    ) {
        return Err(SignatureFailure::MaterialMismatch {
            expected: "a public key",
            found: "a certificate",
        });
    }
    let target = signed_target(inner, artifact, subject)?;
    let Some(trust) = tlog else {
        // No log required: the signature alone, with sealgate's reading of the configured key
        // (its RSA scheme included); entries and timestamps the bundle carries prove nothing
        // this signer needs.
        let (message, signature) = match &inner.content {
            SignatureContent::MessageSignature(m) => (
                artifact.ok_or(SignatureFailure::ArtifactRequired)?.to_vec(),
                m.signature.as_bytes(),
            ),
            SignatureContent::DsseEnvelope(e) => (e.pae(), e.signature.sig.as_bytes()),
            _ => {
                return Err(SignatureFailure::Bundle(
                    "unsupported bundle content".to_owned(),
                ));
            }
        };
        key.verify(&message, signature)
            .map_err(|_| SignatureFailure::SignatureMismatch)?;
        return Ok(BundleVerified::Key { signed_at: None });
    };
    if inner.verification_material.tlog_entries.is_empty() {
        return Err(SignatureFailure::TlogMissing);
    }
    let result = trust
        .verifier
        .verify(
            target,
            inner,
            &PublicKeyVerificationPolicy::new(DerPublicKey::new(key.spki_der().to_vec())),
        )
        .map_err(failure)?;
    // sigstore-verify takes an inclusion proof alone as enough for a key; a signer whose
    // signatures must be logged needs the time the log (SET) or a TSA vouches for.
    Ok(BundleVerified::Key {
        signed_at: Some(proven_time(&result, now)?),
    })
}

/// A keyless bundle's signing certificate and the certificates presented with it (v0.1/v0.2
/// chains), parsed: at most [`crate::cosign::MAX_CHAIN_CERTIFICATES`], no root among them.
pub(crate) fn bundle_certificates(
    bundle: &SigstoreBundle,
) -> Result<(CertificateInfo, Vec<CertificateInfo>), SignatureFailure> {
    match &bundle.inner().verification_material.content {
        VerificationMaterialContent::Certificate(c) => Ok((
            CertificateInfo::from_der(c.raw_bytes.as_bytes())?,
            Vec::new(),
        )),
        VerificationMaterialContent::X509CertificateChain { certificates } => {
            if certificates.len() > crate::cosign::MAX_CHAIN_CERTIFICATES {
                return Err(SignatureFailure::ChainTooLong(certificates.len()));
            }
            let mut certs = certificates
                .iter()
                .map(|c| CertificateInfo::from_der(c.raw_bytes.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            if certs.is_empty() {
                return Err(SignatureFailure::NoCertificate);
            }
            let leaf = certs.remove(0);
            if certs.iter().any(|c| c.is_ca && c.subject == c.issuer) {
                return Err(SignatureFailure::PresentedRoot);
            }
            Ok((leaf, certs))
        }
        _ => Err(SignatureFailure::MaterialMismatch {
            expected: "a Fulcio certificate",
            found: "a public key hint",
        }),
    }
}

/// Verifies a keyless bundle without the identity check: what does not depend on the signer.
pub(crate) fn verify_bundle_keyless(
    bundle: &SigstoreBundle,
    artifact: Option<&[u8]>,
    subject: &Digest,
    trust: &SigstoreTrust,
    now: UnixTime,
) -> Result<KeylessVerified, SignatureFailure> {
    let inner = bundle.inner();
    let (leaf, presented) = bundle_certificates(bundle)?;
    check_presented(&presented)?;
    let target = signed_target(inner, artifact, subject)?;
    let result = trust
        .verifier
        .verify(target, inner, &trust.keyless_policy())
        .map_err(failure)?;
    Ok(KeylessVerified {
        certificate: leaf,
        signed_at: proven_time(&result, now)?,
    })
}

/// What the bundle's signature must cover, after sealgate's own binding checks: the image
/// manifest's bytes for a message signature (whose digest must be the subject), the subject
/// digest for an in-toto statement (which must name it).
fn signed_target<'a>(
    bundle: &Bundle,
    artifact: Option<&'a [u8]>,
    subject: &Digest,
) -> Result<Artifact<'a>, SignatureFailure> {
    if subject.algorithm() != DigestAlgorithm::Sha256 {
        return Err(SignatureFailure::Bundle(
            "only sha256 subjects are supported".to_owned(),
        ));
    }
    match &bundle.content {
        SignatureContent::MessageSignature(m) => {
            let artifact = artifact.ok_or(SignatureFailure::ArtifactRequired)?;
            let actual = Sha256::digest(artifact);
            if hex::encode(actual) != subject.hex() {
                return Err(SignatureFailure::DigestMismatch {
                    signed: format!("sha256:{}", hex::encode(actual)),
                    subject: subject.to_string(),
                });
            }
            // The digest the bundle declares (and the log records) must be the image's, too.
            if let Some(declared) = &m.message_digest
                && (declared.algorithm != HashAlgorithm::Sha2256
                    || declared.digest.as_bytes() != actual.as_slice())
            {
                return Err(SignatureFailure::DigestMismatch {
                    signed: format!(
                        "{:?}:{}",
                        declared.algorithm,
                        hex::encode(declared.digest.as_bytes())
                    ),
                    subject: subject.to_string(),
                });
            }
            Ok(Artifact::from(artifact))
        }
        SignatureContent::DsseEnvelope(envelope) => {
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(SignatureFailure::Statement(format!(
                    "payload type {:?}, expected {IN_TOTO_PAYLOAD_TYPE}",
                    envelope.payload_type
                )));
            }
            check_statement(envelope.payload.as_bytes(), subject.hex())?;
            let digest = Sha256Hash::from_hex(subject.hex())
                .map_err(|e| SignatureFailure::Bundle(e.to_string()))?;
            Ok(Artifact::from(digest))
        }
        _ => Err(SignatureFailure::Bundle(
            "unsupported bundle content".to_owned(),
        )),
    }
}

/// The statement must be in-toto and list the subject's sha256 among its subjects, read by the
/// same strict parser as its predicate ([`crate::statement::parse_statement`]).
fn check_statement(payload: &[u8], subject_hex: &str) -> Result<(), SignatureFailure> {
    let statement = crate::statement::parse_statement(payload)
        .map_err(|e| SignatureFailure::Statement(e.to_string()))?;
    if !statement.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(SignatureFailure::Statement(format!(
            "_type {:?} is not an in-toto statement",
            statement.kind
        )));
    }
    if statement.subject_sha256.iter().any(|d| d == subject_hex) {
        Ok(())
    } else {
        Err(SignatureFailure::DigestMismatch {
            signed: statement
                .subject_sha256
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
