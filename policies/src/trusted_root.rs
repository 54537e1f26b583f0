//! Sigstore trust material: `trusted_root.json`, which names the Fulcio CAs, the transparency logs
//! (Rekor), the certificate-transparency logs and the RFC 3161 timestamp authorities, each with
//! the time window in which it may be trusted.
//!
//! The file is the protobuf-JSON form of `dev.sigstore.trustroot.v1.TrustedRoot`
//! (<https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_trustroot.proto>), media
//! type `application/vnd.dev.sigstore.trustedroot+json;version=0.1` or
//! `application/vnd.dev.sigstore.trustedroot.v0.2+json`. It is parsed once, here; nothing past this
//! module reads the JSON again.
//!
//! A log whose key sealgate cannot verify with (P-521, LMS, ML-DSA, …) is left out with a note in
//! [`TrustedRoot::skipped`] instead of failing the whole file: the public-good root gains new key
//! types over time, and one of them must not take every other log down. Anything *malformed*
//! (bad base64, a bad timestamp, a certificate that does not parse) fails the file, because a
//! corrupted trust root is not something to guess around.

use std::fmt;

use der::Decode as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::crypto::{KeyAlgorithm, KeyError, PublicKey, RsaScheme};
use crate::time::UnixTime;

const MEDIA_TYPE_V01: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
const MEDIA_TYPE_V02: &str = "application/vnd.dev.sigstore.trustedroot.v0.2+json";

/// Why a `trusted_root.json` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedRootError {
    /// Not JSON, or a field has the wrong JSON type.
    #[error("trusted root is not JSON of the expected shape: {0}")]
    Json(String),
    /// `mediaType` is missing or names a format sealgate does not read.
    #[error("unsupported trusted root media type {0:?}")]
    UnsupportedMediaType(String),
    /// A required field is absent.
    #[error("trusted root: {what} is missing")]
    Missing {
        /// Which field, e.g. `tlogs[0].logId.keyId`.
        what: String,
    },
    /// A `bytes` field is not base64.
    #[error("trusted root: {what} is not base64")]
    Base64 {
        /// Which field.
        what: String,
    },
    /// A timestamp is not RFC 3339, or lies before 1970.
    #[error("trusted root: {what} is not an RFC 3339 timestamp: {value:?}")]
    Time {
        /// Which field.
        what: String,
        /// The text found.
        value: String,
    },
    /// A validity window ends before it starts.
    #[error("trusted root: {what} ends before it starts")]
    InvalidValidity {
        /// Which field.
        what: String,
    },
    /// A CA or TSA certificate is not DER X.509, or a chain is empty.
    #[error("trusted root: {what}: {reason}")]
    Certificate {
        /// Which certificate, e.g. `certificateAuthorities[1].certChain.certificates[0]`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A log key is malformed DER (as opposed to merely unsupported, which is skipped).
    #[error("trusted root: {what}: {source}")]
    Key {
        /// Which log key.
        what: String,
        /// The key parser's reason.
        #[source]
        source: KeyError,
    },
    /// Not one transparency log is usable, so nothing logged could ever verify.
    #[error("trusted root has no usable transparency log (skipped: {})", skipped.join("; "))]
    NoUsableTlog {
        /// Why each listed log was skipped.
        skipped: Vec<String>,
    },
}

/// A closed time window `[start, end]`; no `end` means open-ended.
///
/// Both ends are inclusive, as in sigstore's `TimeRange` (the conformance case
/// `trust-root-tlog-validity-end-inclusive` has an entry integrated exactly at `end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First second of validity.
    pub start: UnixTime,
    /// Last second of validity, if any.
    pub end: Option<UnixTime>,
}

impl Validity {
    /// Valid from the epoch on, forever: for keys configured without a window.
    pub const ALWAYS: Self = Self {
        start: UnixTime(0),
        end: None,
    };

    /// Whether `t` falls inside the window (both ends inclusive).
    pub fn contains(&self, t: UnixTime) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..={}", self.start, end),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// A Fulcio CA or an RFC 3161 timestamp authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateAuthority {
    /// Where the authority lives (absent for some private TSAs).
    pub uri: Option<String>,
    /// The subject the file names, as `CN=…,O=…` (informational; the certificates are what count).
    pub subject: String,
    /// DER certificates in file order: the leaf-most (issuing) certificate first, the root last.
    pub chain: Vec<Vec<u8>>,
    /// When certificates issued by this authority may be trusted.
    pub valid_for: Validity,
}

/// A transparency log (Rekor) or certificate-transparency log and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransparencyLog {
    /// The log's base URL (empty for a log configured from a bare key).
    pub base_url: String,
    /// The log ID entries name it by: `logId.keyId` in the file. For Rekor v1 and CT logs this is
    /// SHA-256 of the key's DER SubjectPublicKeyInfo; for Rekor v2 it is the signed-note key ID.
    pub log_id: Vec<u8>,
    /// The key the log signs SETs, checkpoints or SCTs with.
    pub key: PublicKey,
    /// When the key may be trusted.
    pub valid_for: Validity,
}

impl TransparencyLog {
    /// A log known only by its key (cosign's `rekor.pub`): the log ID is SHA-256 of the DER
    /// SubjectPublicKeyInfo, which is how Rekor v1 derives it, and the key is trusted forever.
    pub fn from_public_key(key: PublicKey) -> Self {
        Self {
            base_url: String::new(),
            log_id: Sha256::digest(key.spki_der()).to_vec(),
            key,
            valid_for: Validity::ALWAYS,
        }
    }
}

/// A parsed `trusted_root.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    /// Fulcio CAs.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<CertificateAuthority>,
    /// Transparency logs (Rekor v1 and v2). Never empty.
    pub tlogs: Vec<TransparencyLog>,
    /// Certificate-transparency logs (for SCTs).
    pub ctlogs: Vec<TransparencyLog>,
    /// Logs left out because sealgate cannot use their key, one note each, for diagnostics.
    pub skipped: Vec<String>,
}

impl TrustedRoot {
    /// Parses the protobuf-JSON form.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustedRootError> {
        let raw: RawTrustedRoot =
            serde_json::from_slice(json).map_err(|e| TrustedRootError::Json(e.to_string()))?;
        match raw.media_type.as_deref() {
            Some(MEDIA_TYPE_V01 | MEDIA_TYPE_V02) => {}
            other => {
                return Err(TrustedRootError::UnsupportedMediaType(
                    other.unwrap_or_default().to_owned(),
                ));
            }
        }
        let mut skipped = Vec::new();
        let tlogs = logs(raw.tlogs, "tlogs", &mut skipped)?;
        let ctlogs = logs(raw.ctlogs, "ctlogs", &mut skipped)?;
        if tlogs.is_empty() {
            return Err(TrustedRootError::NoUsableTlog { skipped });
        }
        Ok(Self {
            certificate_authorities: authorities(
                raw.certificate_authorities,
                "certificateAuthorities",
            )?,
            timestamp_authorities: authorities(raw.timestamp_authorities, "timestampAuthorities")?,
            tlogs,
            ctlogs,
            skipped,
        })
    }

    /// The transparency log with this log ID.
    pub fn tlog_by_id(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    /// The certificate-transparency log with this log ID.
    pub fn ctlog_by_id(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}

// --- raw protobuf-JSON shapes -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrustedRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    base_url: Option<String>,
    hash_algorithm: Option<String>,
    public_key: Option<RawPublicKey>,
    log_id: Option<RawLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: Option<String>,
    key_details: Option<String>,
    valid_for: Option<RawTimeRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct RawTimeRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    subject: Option<RawSubject>,
    uri: Option<String>,
    cert_chain: Option<RawCertChain>,
    valid_for: Option<RawTimeRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSubject {
    organization: Option<String>,
    common_name: Option<String>,
}

#[derive(Deserialize)]
struct RawCertChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: Option<String>,
}

// --- conversion ---------------------------------------------------------------------------------

fn logs(
    raw: Vec<RawLog>,
    list: &str,
    skipped: &mut Vec<String>,
) -> Result<Vec<TransparencyLog>, TrustedRootError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, log) in raw.into_iter().enumerate() {
        let what = format!("{list}[{i}]");
        match log_entry(log, &what)? {
            Ok(log) => out.push(log),
            Err(note) => skipped.push(note.to_string()),
        }
    }
    Ok(out)
}

/// A transparency log left out of the trusted root, and why (see [`TrustedRoot::skipped`]).
#[derive(Debug, thiserror::Error)]
#[error("{what} ({base_url}): {why}")]
struct SkippedLog {
    /// Where it is in the file, e.g. `tlogs[1]`.
    what: String,
    /// The log's URL.
    base_url: String,
    /// Why it is left out.
    why: SkipReason,
}

/// Why a log sealgate cannot check is left out.
#[derive(Debug, thiserror::Error)]
enum SkipReason {
    /// Its Merkle tree is not a SHA-256 one.
    #[error("unsupported hash algorithm {0}")]
    HashAlgorithm(String),
    /// Its `keyDetails` names a key type sealgate does not verify with.
    #[error("unsupported key type {0}")]
    KeyType(String),
    /// The key is well-formed but of a kind or size sealgate does not verify with.
    #[error("{0}")]
    Key(KeyError),
    /// `keyDetails` and the key disagree.
    #[error("keyDetails {details} but the key is {key}")]
    Mismatch {
        /// What `keyDetails` says.
        details: String,
        /// What the key is.
        key: String,
    },
}

/// The outer `Result` fails the file; the inner one skips this log with a note.
fn log_entry(
    raw: RawLog,
    what: &str,
) -> Result<Result<TransparencyLog, SkippedLog>, TrustedRootError> {
    let base_url = raw.base_url.unwrap_or_default();
    let skip = |why| SkippedLog {
        what: what.to_owned(),
        base_url: base_url.clone(),
        why,
    };
    let key_id = raw
        .log_id
        .and_then(|l| l.key_id)
        .ok_or_else(|| missing(format!("{what}.logId.keyId")))?;
    let log_id = protojson::bytes(&key_id).ok_or_else(|| TrustedRootError::Base64 {
        what: format!("{what}.logId.keyId"),
    })?;
    if log_id.is_empty() {
        return Err(missing(format!("{what}.logId.keyId")));
    }
    let pk = raw
        .public_key
        .ok_or_else(|| missing(format!("{what}.publicKey")))?;
    let valid_for = validity(pk.valid_for, &format!("{what}.publicKey.validFor"))?;
    let der = pk
        .raw_bytes
        .ok_or_else(|| missing(format!("{what}.publicKey.rawBytes")))
        .and_then(|b| {
            protojson::bytes(&b).ok_or_else(|| TrustedRootError::Base64 {
                what: format!("{what}.publicKey.rawBytes"),
            })
        })?;
    // Merkle trees here are RFC 6962 SHA-256 trees; a log hashing otherwise cannot be checked.
    match raw.hash_algorithm.as_deref() {
        None | Some("SHA2_256" | "HASH_ALGORITHM_UNSPECIFIED") => {}
        Some(other) => return Ok(Err(skip(SkipReason::HashAlgorithm(other.to_owned())))),
    }
    let details = pk
        .key_details
        .as_deref()
        .unwrap_or("PUBLIC_KEY_DETAILS_UNSPECIFIED");
    let Some(spec) = key_spec(details) else {
        return Ok(Err(skip(SkipReason::KeyType(details.to_owned()))));
    };
    let parsed = match spec.encoding {
        KeyEncoding::Spki => PublicKey::from_spki_der(&der, spec.rsa),
        KeyEncoding::Pkcs1 => rsa_pkcs1_key(&der, spec.rsa),
    };
    let key = match parsed {
        Ok(key) => key,
        Err(e @ (KeyError::Unsupported(_) | KeyError::RsaSize(_))) => {
            return Ok(Err(skip(SkipReason::Key(e))));
        }
        Err(source) => {
            return Err(TrustedRootError::Key {
                what: format!("{what}.publicKey.rawBytes"),
                source,
            });
        }
    };
    if let Some(expected) = spec.algorithm
        && key.algorithm() != expected
    {
        return Ok(Err(skip(SkipReason::Mismatch {
            details: details.to_owned(),
            key: key.algorithm().to_string(),
        })));
    }
    Ok(Ok(TransparencyLog {
        base_url,
        log_id,
        key,
        valid_for,
    }))
}

enum KeyEncoding {
    /// DER SubjectPublicKeyInfo (`PKIX_*`).
    Spki,
    /// DER RSAPublicKey (`PKCS1_*`, deprecated but still in staging roots).
    Pkcs1,
}

struct KeySpec {
    encoding: KeyEncoding,
    rsa: RsaScheme,
    /// What the key must turn out to be; `None` when the file does not say.
    algorithm: Option<KeyAlgorithm>,
}

/// Maps `PublicKeyDetails` names to how the key is encoded and checked. `None`: unsupported.
fn key_spec(details: &str) -> Option<KeySpec> {
    let spec = |encoding, rsa, algorithm| {
        Some(KeySpec {
            encoding,
            rsa,
            algorithm,
        })
    };
    match details {
        "PKIX_ECDSA_P256_SHA_256" => spec(
            KeyEncoding::Spki,
            RsaScheme::Pkcs1,
            Some(KeyAlgorithm::EcdsaP256),
        ),
        "PKIX_ECDSA_P384_SHA_384" => spec(
            KeyEncoding::Spki,
            RsaScheme::Pkcs1,
            Some(KeyAlgorithm::EcdsaP384),
        ),
        "PKIX_ED25519" => spec(
            KeyEncoding::Spki,
            RsaScheme::Pkcs1,
            Some(KeyAlgorithm::Ed25519),
        ),
        "PKIX_RSA_PKCS1V5"
        | "PKIX_RSA_PKCS1V15_2048_SHA256"
        | "PKIX_RSA_PKCS1V15_3072_SHA256"
        | "PKIX_RSA_PKCS1V15_4096_SHA256" => spec(
            KeyEncoding::Spki,
            RsaScheme::Pkcs1,
            Some(KeyAlgorithm::RsaPkcs1),
        ),
        "PKIX_RSA_PSS"
        | "PKIX_RSA_PSS_2048_SHA256"
        | "PKIX_RSA_PSS_3072_SHA256"
        | "PKIX_RSA_PSS_4096_SHA256" => spec(
            KeyEncoding::Spki,
            RsaScheme::Pss,
            Some(KeyAlgorithm::RsaPss),
        ),
        "PKCS1_RSA_PKCS1V5" => spec(
            KeyEncoding::Pkcs1,
            RsaScheme::Pkcs1,
            Some(KeyAlgorithm::RsaPkcs1),
        ),
        "PKCS1_RSA_PSS" => spec(
            KeyEncoding::Pkcs1,
            RsaScheme::Pss,
            Some(KeyAlgorithm::RsaPss),
        ),
        // The SPKI names the algorithm; only RSA padding is left open, and sigstore logs use
        // PKCS#1 v1.5.
        "PUBLIC_KEY_DETAILS_UNSPECIFIED" => spec(KeyEncoding::Spki, RsaScheme::Pkcs1, None),
        // P-521, Ed25519ph, HMAC, LMS, ML-DSA and anything newer.
        _ => None,
    }
}

/// Wraps a bare PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (rsaEncryption, NULL parameters).
fn rsa_pkcs1_key(pkcs1: &[u8], rsa: RsaScheme) -> Result<PublicKey, KeyError> {
    const OID_RSA: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    let null = der::asn1::Any::from(der::asn1::AnyRef::from(der::asn1::Null));
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: OID_RSA,
            parameters: Some(null),
        },
        subject_public_key: der::asn1::BitString::from_bytes(pkcs1)
            .map_err(|e| KeyError::Der(e.to_string()))?,
    };
    PublicKey::from_spki(&spki, rsa)
}

fn authorities(
    raw: Vec<RawAuthority>,
    list: &str,
) -> Result<Vec<CertificateAuthority>, TrustedRootError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, ca)| authority(ca, &format!("{list}[{i}]")))
        .collect()
}

fn authority(raw: RawAuthority, what: &str) -> Result<CertificateAuthority, TrustedRootError> {
    let certs = raw.cert_chain.map(|c| c.certificates).unwrap_or_default();
    if certs.is_empty() {
        return Err(TrustedRootError::Certificate {
            what: format!("{what}.certChain"),
            reason: "no certificates".to_owned(),
        });
    }
    let mut chain = Vec::with_capacity(certs.len());
    for (j, cert) in certs.into_iter().enumerate() {
        let field = format!("{what}.certChain.certificates[{j}]");
        let b64 = cert
            .raw_bytes
            .ok_or_else(|| missing(format!("{field}.rawBytes")))?;
        let der = protojson::bytes(&b64).ok_or_else(|| TrustedRootError::Base64 {
            what: format!("{field}.rawBytes"),
        })?;
        x509_cert::Certificate::from_der(&der).map_err(|e| TrustedRootError::Certificate {
            what: field,
            reason: format!("not a DER X.509 certificate: {e}"),
        })?;
        chain.push(der);
    }
    let subject = raw
        .subject
        .map(|s| {
            [("CN", s.common_name), ("O", s.organization)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    Ok(CertificateAuthority {
        uri: raw.uri,
        subject,
        chain,
        valid_for: validity(raw.valid_for, &format!("{what}.validFor"))?,
    })
}

/// A `TimeRange`. An absent range or start means "from the epoch" (proto3 leaves unset messages
/// out); the file's author chose not to bound it.
fn validity(raw: Option<RawTimeRange>, what: &str) -> Result<Validity, TrustedRootError> {
    let Some(raw) = raw else {
        return Ok(Validity::ALWAYS);
    };
    let time = |value: &str, field: &str| {
        protojson::rfc3339(value).ok_or_else(|| TrustedRootError::Time {
            what: format!("{what}.{field}"),
            value: value.to_owned(),
        })
    };
    // Seconds are what we compare; a fractional start rounds up and a fractional end rounds down,
    // so the window never grows.
    let start = match raw.start.as_deref() {
        Some(s) => {
            let (secs, frac) = time(s, "start")?;
            UnixTime(secs.0.saturating_add(u64::from(frac)))
        }
        None => UnixTime(0),
    };
    let end = raw
        .end
        .as_deref()
        .map(|e| time(e, "end").map(|(secs, _)| secs))
        .transpose()?;
    if end.is_some_and(|end| end < start) {
        return Err(TrustedRootError::InvalidValidity {
            what: what.to_owned(),
        });
    }
    Ok(Validity { start, end })
}

fn missing(what: String) -> TrustedRootError {
    TrustedRootError::Missing { what }
}

/// Helpers for sigstore's protobuf-JSON encoding, shared by the trusted root, bundle and log
/// entry parsers.
pub(crate) mod protojson {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

    use crate::time::UnixTime;

    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

    /// Decodes a protobuf-JSON `bytes` value: standard or URL-safe base64, padded or not (the
    /// proto3 JSON mapping accepts all four).
    pub(crate) fn bytes(s: &str) -> Option<Vec<u8>> {
        STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
    }

    /// A proto3 `int64`/`uint64`: JSON writes them as decimal strings, but numbers are accepted
    /// too. Negative, fractional and out-of-range values are refused.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct U64(pub(crate) u64);

    impl<'de> serde::Deserialize<'de> for U64 {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl serde::de::Visitor<'_> for Visitor {
                type Value = U64;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an unsigned 64-bit integer, as a decimal string or a number")
                }
                fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<U64, E> {
                    Ok(U64(v))
                }
                fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<U64, E> {
                    u64::try_from(v)
                        .map(U64)
                        .map_err(|_| E::custom(format!("negative integer {v}")))
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<U64, E> {
                    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(E::custom(format!("not a decimal integer: {v:?}")));
                    }
                    v.parse()
                        .map(U64)
                        .map_err(|_| E::custom(format!("integer out of range: {v}")))
                }
            }
            d.deserialize_any(Visitor)
        }
    }

    /// Parses an RFC 3339 timestamp into whole seconds and whether a non-zero fraction was
    /// dropped; see [`UnixTime::parse_rfc3339_fraction`].
    pub(crate) fn rfc3339(s: &str) -> Option<(UnixTime, bool)> {
        UnixTime::parse_rfc3339_fraction(s)
    }
}

#[cfg(test)]
mod tests;
