//! Signed certificate timestamps (SCTs, RFC 6962) embedded in certificates, verified offline.
//!
//! Fulcio logs each certificate to a certificate-transparency (CT) log before it issues it. It
//! submits a *precertificate*, gets back an SCT (the log's signed promise to publish the entry)
//! and embeds the SCT list in the final certificate, extension 1.3.6.1.4.1.11129.2.4.2
//! ([RFC 6962 §3.3](https://www.rfc-editor.org/rfc/rfc6962#section-3.3)). An SCT that verifies
//! with a CT log key of the trusted root shows that the certificate was logged. Monitors can then
//! find a mis-issued certificate.
//!
//! The log signed the precertificate, not the final certificate, so the signed data is rebuilt
//! ([RFC 6962 §3.2](https://www.rfc-editor.org/rfc/rfc6962#section-3.2)) from two parts: the
//! leaf's TBSCertificate without the SCT-list extension, and SHA-256 of the issuer's
//! SubjectPublicKeyInfo. The TBS is rebuilt at the DER level. Every other field and extension
//! keeps its exact bytes, and only the lengths of the enclosing structures change. Re-encoding a
//! parsed certificate could change bytes the log signed. The issuer is the CA that issued the
//! final certificate, even when a precertificate-signing certificate signed the precertificate
//! (§3.2 builds `issuer_key_hash` and the TBS from the final issuer).
//!
//! An SCT is trusted when all of these hold:
//! - its log ID names a CT log of the trusted root;
//! - its declared algorithm fits that log's key;
//! - the key verifies the signature;
//! - its timestamp falls in the log key's validity window.
//!
//! A certificate may carry SCTs from logs this root does not know. Such SCTs do not count, and
//! they do not fail the certificate by themselves. [`require_scts`] sets how many must verify,
//! following sigstore-go's `VerifySignedCertificateTimestamp`.
//!
//! Hostile input never panics. Every TLS length prefix is checked against the bytes left, and
//! there is no unchecked indexing.

use std::fmt;

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use sha2::{Digest as _, Sha256};
use x509_cert::ext::Extension;

use crate::crypto::KeyAlgorithm;
use crate::time::UnixTime;
use crate::trusted_root::{TransparencyLog, Validity};
use crate::x509::CertificateInfo;

/// The embedded SCT list extension (RFC 6962 §3.3).
pub const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// `Version v1(0)`, the only SCT version RFC 6962 defines.
const SCT_V1: u8 = 0;
/// `SignatureType certificate_timestamp(0)`.
const SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType precert_entry(1)`, a two-byte enum.
const ENTRY_TYPE_PRECERT: u16 = 1;
/// The largest `opaque tbs_certificate<1..2^24-1>`.
const MAX_TBS_LEN: usize = (1 << 24) - 1;

/// Why embedded SCTs did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SctError {
    /// The certificate has no embedded SCT list extension.
    #[error("certificate has no embedded SCT list (extension {OID_SCT_LIST})")]
    NoSctExtension,
    /// The certificate, the extension, the TLS-encoded list or one SCT is malformed: a bad length
    /// prefix, truncated or trailing bytes, an empty list, or DER that does not parse.
    #[error("malformed SCT data: {what}")]
    Malformed {
        /// What is wrong, and where.
        what: String,
    },
    /// An SCT has a version other than v1. Its layout is unknown, so it cannot be checked.
    #[error("SCT version {version} is not supported (only v1)")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// No CT log of the trusted root has this log ID.
    #[error("SCT from unknown CT log {log_id}")]
    UnknownLog {
        /// The SCT's log ID, hex.
        log_id: String,
    },
    /// The SCT's declared hash and signature algorithms do not fit the log's key, or sealgate
    /// cannot verify that pair.
    #[error(
        "SCT from CT log {log_id} declares hash {hash} / signature {signature}, which its {key} key \
         does not verify"
    )]
    UnsupportedAlgorithm {
        /// The log ID, hex.
        log_id: String,
        /// TLS `HashAlgorithm` code (4 = SHA-256, 5 = SHA-384).
        hash: u8,
        /// TLS `SignatureAlgorithm` code (1 = RSA, 3 = ECDSA, 7 = Ed25519).
        signature: u8,
        /// The log key's algorithm.
        key: KeyAlgorithm,
    },
    /// The log's key does not verify the SCT over the rebuilt precertificate entry. Causes are a
    /// forged or altered SCT, a changed certificate, or the wrong issuer.
    #[error("SCT signature from CT log {log_id} does not verify")]
    SignatureInvalid {
        /// The log ID, hex.
        log_id: String,
    },
    /// The SCT verifies, but its timestamp lies outside the validity window of the log's key.
    #[error("SCT from CT log {log_id} is dated {at}, outside the log key's window {window}")]
    OutsideLogWindow {
        /// The log ID, hex.
        log_id: String,
        /// The SCT timestamp, in whole seconds.
        at: UnixTime,
        /// When the log key may be trusted.
        window: Validity,
    },
    /// Every SCT verified, but fewer than the policy requires.
    #[error("{verified} SCT(s) verified, {required} required")]
    BelowThreshold {
        /// How many verified.
        verified: usize,
        /// How many the policy requires.
        required: usize,
    },
}

impl SctError {
    /// How far verification got before this error: a higher rank is more specific. This ranks
    /// failures when no SCT verifies. For example, "the known log's signature fails" says more
    /// than "an unknown log".
    fn rank(&self) -> u8 {
        match self {
            Self::NoSctExtension | Self::BelowThreshold { .. } => 0,
            Self::UnsupportedVersion { .. } => 1,
            Self::Malformed { .. } => 2,
            Self::UnknownLog { .. } => 3,
            Self::UnsupportedAlgorithm { .. } => 4,
            Self::SignatureInvalid { .. } => 5,
            Self::OutsideLogWindow { .. } => 6,
        }
    }
}

/// An SCT that verified with a CT log of the trusted root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifiedSct {
    /// The log's ID: SHA-256 of its key's DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// When the log promised to publish the entry, in milliseconds since the epoch.
    pub timestamp_ms: u64,
}

impl VerifiedSct {
    /// The timestamp, in whole seconds.
    pub fn timestamp(&self) -> UnixTime {
        UnixTime(self.timestamp_ms / 1000)
    }
}

impl fmt::Display for VerifiedSct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCT from CT log {} at {}",
            hex::encode(self.log_id),
            self.timestamp()
        )
    }
}

/// Verifies the SCTs embedded in `leaf`. `issuer` is the certificate that issued `leaf`, and
/// `ctlogs` are the CT logs of the trusted root ([`crate::trusted_root::TrustedRoot::ctlogs`]).
///
/// Returns the SCTs that verify, one per log, when at least one does. SCTs that fail are dropped, such as one
/// from a log the root does not know. When none verifies, this returns the most specific failure.
/// A missing extension gives [`SctError::NoSctExtension`], and a list that cannot be framed gives
/// [`SctError::Malformed`]. This is [`require_scts`] with a threshold of 1.
pub fn verify_embedded_scts(
    leaf: &CertificateInfo,
    issuer: &CertificateInfo,
    ctlogs: &[TransparencyLog],
) -> Result<Vec<VerifiedSct>, SctError> {
    require_scts(leaf, issuer, ctlogs, 1)
}

/// Policy check: SCTs embedded in `leaf` from at least `threshold` distinct CT logs must verify
/// (see [`verify_embedded_scts`] for the arguments).
///
/// On success it returns the verified SCTs, one per log (the first in list order). Otherwise it returns the most specific failure among
/// the SCTs that did not verify. If all of them verified but there are too few, it returns
/// [`SctError::BelowThreshold`]. A `threshold` of 0 requires nothing, so it succeeds even
/// without the extension, possibly with an empty list.
pub fn require_scts(
    leaf: &CertificateInfo,
    issuer: &CertificateInfo,
    ctlogs: &[TransparencyLog],
    threshold: usize,
) -> Result<Vec<VerifiedSct>, SctError> {
    let outcomes = match check_all(leaf, issuer, ctlogs) {
        Ok(outcomes) => outcomes,
        Err(_) if threshold == 0 => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut verified = Vec::new();
    let mut worst: Option<SctError> = None;
    for outcome in outcomes {
        match outcome {
            // The threshold counts logs: a second SCT from a log already counted adds nothing.
            Ok(sct)
                if verified
                    .iter()
                    .any(|v: &VerifiedSct| v.log_id == sct.log_id) => {}
            Ok(sct) => verified.push(sct),
            // Ties keep the first failure, in list order.
            Err(e) if worst.as_ref().is_none_or(|w| e.rank() > w.rank()) => worst = Some(e),
            Err(_) => {}
        }
    }
    if verified.len() >= threshold {
        return Ok(verified);
    }
    Err(worst.unwrap_or(SctError::BelowThreshold {
        verified: verified.len(),
        required: threshold,
    }))
}

/// Checks every SCT of `leaf`, one outcome each, in list order. The outer error covers problems
/// that stop all checks: no extension, malformed certificates, or a list that cannot be framed.
fn check_all(
    leaf: &CertificateInfo,
    issuer: &CertificateInfo,
    ctlogs: &[TransparencyLog],
) -> Result<Vec<Result<VerifiedSct, SctError>>, SctError> {
    let Precert { sct_list, tbs } = split_leaf(&leaf.der)?;
    let serialized = parse_sct_list(&sct_list)?;
    if tbs.is_empty() || tbs.len() > MAX_TBS_LEN {
        return Err(malformed(format!(
            "precertificate TBS of {} bytes does not fit tbs_certificate<1..2^24-1>",
            tbs.len()
        )));
    }
    let issuer_key_hash: [u8; 32] = Sha256::digest(spki_tlv(&issuer.der)?).into();
    Ok(serialized
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let sct = parse_sct(bytes).map_err(|e| match e {
                SctError::Malformed { what } => malformed(format!("SCT {i}: {what}")),
                other => other,
            })?;
            check_one(&sct, &tbs, &issuer_key_hash, ctlogs)
        })
        .collect())
}

/// Checks one SCT against every trusted log with its ID (normally one).
fn check_one(
    sct: &Sct<'_>,
    tbs: &[u8],
    issuer_key_hash: &[u8; 32],
    ctlogs: &[TransparencyLog],
) -> Result<VerifiedSct, SctError> {
    let log_id = hex::encode(sct.log_id);
    let message = signed_data(sct, tbs, issuer_key_hash);
    let mut worst: Option<SctError> = None;
    for log in ctlogs.iter().filter(|l| l.log_id == sct.log_id) {
        let outcome = check_with_log(sct, &message, log, &log_id);
        match outcome {
            Ok(()) => {
                return Ok(VerifiedSct {
                    log_id: sct.log_id,
                    timestamp_ms: sct.timestamp_ms,
                });
            }
            Err(e) if worst.as_ref().is_none_or(|w| e.rank() > w.rank()) => worst = Some(e),
            Err(_) => {}
        }
    }
    Err(worst.unwrap_or(SctError::UnknownLog { log_id }))
}

fn check_with_log(
    sct: &Sct<'_>,
    message: &[u8],
    log: &TransparencyLog,
    log_id: &str,
) -> Result<(), SctError> {
    let key = log.key.algorithm();
    if !algorithm_fits(key, sct.hash_algorithm, sct.signature_algorithm) {
        return Err(SctError::UnsupportedAlgorithm {
            log_id: log_id.to_owned(),
            hash: sct.hash_algorithm,
            signature: sct.signature_algorithm,
            key,
        });
    }
    log.key
        .verify(message, sct.signature)
        .map_err(|_| SctError::SignatureInvalid {
            log_id: log_id.to_owned(),
        })?;
    // The window is checked only after the signature verifies. An out-of-window error then means
    // the log really signed this timestamp, not that someone wrote an odd date into a forgery.
    let at = UnixTime(sct.timestamp_ms / 1000);
    if !log.valid_for.contains(at) {
        return Err(SctError::OutsideLogWindow {
            log_id: log_id.to_owned(),
            at,
            window: log.valid_for,
        });
    }
    Ok(())
}

/// Whether the TLS `SignatureAndHashAlgorithm` an SCT declares is one the log's key verifies.
/// RFC 6962 §2.1.4 allows ECDSA P-256/SHA-256 and RSA PKCS#1 v1.5/SHA-256. P-384 with SHA-384 and
/// Ed25519 (RFC 8422 `ed25519(7)`, hash `intrinsic(8)`) are accepted for logs that use them.
fn algorithm_fits(key: KeyAlgorithm, hash: u8, signature: u8) -> bool {
    const SHA256: u8 = 4;
    const SHA384: u8 = 5;
    const SHA512: u8 = 6;
    const INTRINSIC: u8 = 8;
    const RSA: u8 = 1;
    const ECDSA: u8 = 3;
    const ED25519: u8 = 7;
    matches!(
        (key, hash, signature),
        (KeyAlgorithm::EcdsaP256, SHA256, ECDSA)
            | (KeyAlgorithm::EcdsaP384, SHA384, ECDSA)
            | (KeyAlgorithm::RsaPkcs1, SHA256 | SHA384 | SHA512, RSA)
            | (KeyAlgorithm::Ed25519, INTRINSIC, ED25519)
    )
}

/// The RFC 6962 §3.2 `digitally-signed` input for a precertificate entry.
fn signed_data(sct: &Sct<'_>, tbs: &[u8], issuer_key_hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 1 + 8 + 2 + 32 + 3 + tbs.len() + 2 + sct.extensions.len());
    out.push(SCT_V1);
    out.push(SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP);
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&ENTRY_TYPE_PRECERT.to_be_bytes());
    out.extend_from_slice(issuer_key_hash);
    // check_all has bounded tbs to 2^24-1 and parse_sct bounded extensions to 2^16-1, so the low
    // bytes are the whole length.
    let tbs_len = tbs.len().to_be_bytes();
    out.extend_from_slice(tbs_len.get(tbs_len.len() - 3..).unwrap_or_default());
    out.extend_from_slice(tbs);
    let ext_len = sct.extensions.len().to_be_bytes();
    out.extend_from_slice(ext_len.get(ext_len.len() - 2..).unwrap_or_default());
    out.extend_from_slice(sct.extensions);
    out
}

// --- TLS: SignedCertificateTimestampList and SignedCertificateTimestamp ------------------------

/// One v1 SCT as encoded (RFC 6962 §3.2), borrowing from the list.
struct Sct<'a> {
    log_id: [u8; 32],
    timestamp_ms: u64,
    /// `CtExtensions extensions<0..2^16-1>`, opaque. They are signed as they are. Static CT
    /// (c2sp.org/static-ct-api) puts the leaf index here.
    extensions: &'a [u8],
    hash_algorithm: u8,
    signature_algorithm: u8,
    signature: &'a [u8],
}

/// Splits `SignedCertificateTimestampList { SerializedSCT sct_list<1..2^16-1> }` into its
/// `opaque SerializedSCT<1..2^16-1>` items.
fn parse_sct_list(tls: &[u8]) -> Result<Vec<&[u8]>, SctError> {
    let mut outer = TlsReader::new(tls);
    let list = outer
        .vec16()
        .map_err(|e| malformed(format!("SCT list: {e}")))?;
    outer
        .finish()
        .map_err(|e| malformed(format!("SCT list: {e}")))?;
    if list.is_empty() {
        return Err(malformed("SCT list is empty".to_owned()));
    }
    let mut items = TlsReader::new(list);
    let mut out = Vec::new();
    while !items.is_empty() {
        let sct = items
            .vec16()
            .map_err(|e| malformed(format!("SCT {}: {e}", out.len())))?;
        if sct.is_empty() {
            return Err(malformed(format!("SCT {} is empty", out.len())));
        }
        out.push(sct);
    }
    Ok(out)
}

/// Parses one `SignedCertificateTimestamp`.
fn parse_sct(bytes: &[u8]) -> Result<Sct<'_>, SctError> {
    let mut r = TlsReader::new(bytes);
    let field = |what: &'static str| move |e: &'static str| malformed(format!("{what}: {e}"));
    let version = r.u8().map_err(field("version"))?;
    if version != SCT_V1 {
        return Err(SctError::UnsupportedVersion { version });
    }
    let log_id: [u8; 32] = r
        .bytes(32)
        .map_err(field("log_id"))?
        .try_into()
        .map_err(|_| malformed("log_id: not 32 bytes".to_owned()))?;
    let timestamp_ms = r.u64().map_err(field("timestamp"))?;
    let extensions = r.vec16().map_err(field("extensions"))?;
    let hash_algorithm = r.u8().map_err(field("hash algorithm"))?;
    let signature_algorithm = r.u8().map_err(field("signature algorithm"))?;
    let signature = r.vec16().map_err(field("signature"))?;
    r.finish().map_err(field("signature"))?;
    Ok(Sct {
        log_id,
        timestamp_ms,
        extensions,
        hash_algorithm,
        signature_algorithm,
        signature,
    })
}

/// A bounds-checked cursor over TLS presentation-language bytes (RFC 5246 §4).
struct TlsReader<'a> {
    rest: &'a [u8],
}

impl<'a> TlsReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.rest.len() {
            return Err("truncated");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.bytes(N)?.try_into().map_err(|_| "truncated")
    }

    /// `opaque x<0..2^16-1>`: a two-byte length, then that many bytes.
    fn vec16(&mut self) -> Result<&'a [u8], &'static str> {
        let len = u16::from_be_bytes(self.array::<2>()?);
        self.bytes(usize::from(len))
            .map_err(|_| "length prefix exceeds the bytes left")
    }

    fn finish(&self) -> Result<(), &'static str> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes")
        }
    }
}

// --- DER: the precertificate TBS ------------------------------------------------------------

/// What the SCTs sign over, taken from the leaf.
struct Precert {
    /// The TLS bytes inside the SCT-list extension's inner OCTET STRING.
    sct_list: Vec<u8>,
    /// The leaf's TBSCertificate without the SCT-list extension, DER.
    tbs: Vec<u8>,
}

/// `extensions [3] EXPLICIT Extensions OPTIONAL` in TBSCertificate.
const TAG_EXTENSIONS: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(3),
};

/// `version [0] EXPLICIT Version DEFAULT v1` in TBSCertificate.
const TAG_VERSION: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};

/// Finds the SCT list in `cert_der` and rebuilds the TBS without it. No other byte changes.
fn split_leaf(cert_der: &[u8]) -> Result<Precert, SctError> {
    let der_err = |e: der::Error| malformed(format!("certificate: {e}"));
    let tbs = tbs_of(cert_der)?;
    let mut fields = Vec::new();
    let mut sct_list: Option<Vec<u8>> = None;
    for field in der_items(tbs.value()).map_err(der_err)? {
        if field.any.tag() != TAG_EXTENSIONS {
            fields.extend_from_slice(field.raw);
            continue;
        }
        let extensions = AnyRef::from_der(field.any.value()).map_err(der_err)?;
        if extensions.tag() != Tag::Sequence {
            return Err(malformed(
                "certificate: extensions are not a SEQUENCE".to_owned(),
            ));
        }
        let mut kept = Vec::new();
        for ext in der_items(extensions.value()).map_err(der_err)? {
            let parsed = Extension::from_der(ext.raw).map_err(der_err)?;
            if parsed.extn_id != OID_SCT_LIST {
                kept.extend_from_slice(ext.raw);
                continue;
            }
            if sct_list.is_some() {
                return Err(malformed(
                    "certificate: more than one SCT list extension".to_owned(),
                ));
            }
            let inner = <&OctetStringRef>::from_der(parsed.extn_value.as_bytes())
                .map_err(|e| malformed(format!("SCT list extension: {e}")))?;
            sct_list = Some(inner.as_bytes().to_vec());
        }
        // An empty Extensions SEQUENCE is not allowed (SIZE (1..MAX)); with nothing left the
        // field is left out, as certificate-transparency-go does.
        if !kept.is_empty() {
            let seq = encode(Tag::Sequence, &kept).map_err(der_err)?;
            fields.extend_from_slice(&encode(TAG_EXTENSIONS, &seq).map_err(der_err)?);
        }
    }
    let sct_list = sct_list.ok_or(SctError::NoSctExtension)?;
    let tbs = encode(tbs.tag(), &fields).map_err(der_err)?;
    Ok(Precert { sct_list, tbs })
}

/// The raw DER SubjectPublicKeyInfo of a certificate, exactly as written in it.
fn spki_tlv(cert_der: &[u8]) -> Result<Vec<u8>, SctError> {
    let der_err = |e: der::Error| malformed(format!("issuer certificate: {e}"));
    let tbs = tbs_of(cert_der).map_err(|e| match e {
        SctError::Malformed { what } => malformed(format!("issuer {what}")),
        other => other,
    })?;
    let fields = der_items(tbs.value()).map_err(der_err)?;
    // [0] version, serial, signature, issuer, validity, subject, SPKI. The version is optional.
    let skip = match fields.first() {
        Some(f) if f.any.tag() == TAG_VERSION => 6,
        _ => 5,
    };
    let spki = fields
        .get(skip)
        .filter(|f| f.any.tag() == Tag::Sequence)
        .ok_or_else(|| malformed("issuer certificate: no SubjectPublicKeyInfo".to_owned()))?;
    Ok(spki.raw.to_vec())
}

/// The TBSCertificate of a DER `Certificate ::= SEQUENCE { tbsCertificate, … }`.
fn tbs_of(cert_der: &[u8]) -> Result<AnyRef<'_>, SctError> {
    let der_err = |e: der::Error| malformed(format!("certificate: {e}"));
    let cert = AnyRef::from_der(cert_der).map_err(der_err)?;
    let tbs = der_items(cert.value())
        .map_err(der_err)?
        .into_iter()
        .next()
        .ok_or_else(|| malformed("certificate: empty".to_owned()))?
        .any;
    if cert.tag() != Tag::Sequence || tbs.tag() != Tag::Sequence {
        return Err(malformed(
            "certificate: not a SEQUENCE starting with a TBSCertificate".to_owned(),
        ));
    }
    Ok(tbs)
}

/// One DER element: parsed, and its exact bytes.
struct Tlv<'a> {
    any: AnyRef<'a>,
    raw: &'a [u8],
}

/// The elements of a constructed value, in order.
fn der_items(value: &[u8]) -> der::Result<Vec<Tlv<'_>>> {
    let mut reader = SliceReader::new(value)?;
    let mut items = Vec::new();
    while !reader.is_finished() {
        let raw = reader.tlv_bytes()?;
        items.push(Tlv {
            any: AnyRef::from_der(raw)?,
            raw,
        });
    }
    Ok(items)
}

fn encode(tag: Tag, value: &[u8]) -> der::Result<Vec<u8>> {
    AnyRef::new(tag, value)?.to_der()
}

fn malformed(what: String) -> SctError {
    SctError::Malformed { what }
}

#[cfg(test)]
mod tests;
