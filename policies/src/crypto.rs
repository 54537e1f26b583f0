//! Public keys and signature checks: ECDSA P-256 / P-384, Ed25519, RSA PKCS#1 v1.5 and PSS.
//!
//! Keys are SubjectPublicKeyInfo (PEM `PUBLIC KEY` or DER, the format cosign writes). The math is
//! aws-lc-rs's; this module only maps SPKI algorithms to its verification algorithms and gives each
//! key a stable fingerprint.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest as _, Sha256};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// The signature scheme a key verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384 (cosign and sigstore pick SHA-384 for this curve).
    EcdsaP384,
    /// Ed25519 over the message itself.
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512, keys of 2048 to 8192 bits.
    RsaPkcs1,
    /// RSA-PSS with SHA-256, SHA-384 or SHA-512, keys of 2048 to 8192 bits.
    RsaPss,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
            Self::RsaPkcs1 => "rsa-pkcs1v15",
            Self::RsaPss => "rsa-pss",
        })
    }
}

/// How an RSA key's signatures are padded. SPKI `rsaEncryption` does not say, so the
/// configuration does; cosign signs with PKCS#1 v1.5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RsaScheme {
    /// PKCS#1 v1.5.
    #[default]
    Pkcs1,
    /// PSS (salt length = hash length).
    Pss,
}

/// `sha256:<hex>` of a key's DER SubjectPublicKeyInfo: stable across PEM formatting.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Fingerprint of DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(der))))
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses `sha256:<64 hex>`, the only form sealgate prints.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("sha256:")?;
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No `PUBLIC KEY` PEM block, or the PEM is malformed.
    #[error("not a PEM public key: {0}")]
    Pem(PemError),
    /// The DER SubjectPublicKeyInfo does not parse.
    #[error("malformed SubjectPublicKeyInfo: {0}")]
    Der(String),
    /// An algorithm or curve sealgate does not verify with.
    #[error("unsupported key algorithm {0} (ECDSA P-256/P-384, Ed25519 and RSA are supported)")]
    Unsupported(String),
    /// An RSA key outside 2048..=8192 bits.
    #[error("RSA key of {0} bits; 2048 to 8192 bits are accepted")]
    RsaSize(usize),
}

/// A signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify with this key")]
pub struct BadSignature;

/// A verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    /// The key bits aws-lc-rs takes: an uncompressed point, 32 Ed25519 bytes, or DER RSAPublicKey.
    raw: Vec<u8>,
    spki_der: Vec<u8>,
    fingerprint: Fingerprint,
    /// The key as aws-lc-rs holds it for the scheme's first algorithm, made at the first
    /// verification: a configured key is not parsed again for every signature.
    parsed: Parsed,
}

/// A lazily parsed key; it follows from `raw`, so it takes no part in equality.
#[derive(Clone, Default)]
struct Parsed(OnceLock<Option<ParsedPublicKey>>);

impl PartialEq for Parsed {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Parsed {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` block (the first one in `pem`).
    pub fn from_pem(pem: &[u8], rsa: RsaScheme) -> Result<Self, KeyError> {
        let der = pem_block(pem, "PUBLIC KEY").map_err(KeyError::Pem)?;
        Self::from_spki_der(&der, rsa)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8], rsa: RsaScheme) -> Result<Self, KeyError> {
        let spki =
            SubjectPublicKeyInfoOwned::from_der(der).map_err(|e| KeyError::Der(e.to_string()))?;
        Self::from_spki(&spki, rsa)
    }

    /// Builds a key from a parsed SubjectPublicKeyInfo (as found in a certificate).
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned, rsa: RsaScheme) -> Result<Self, KeyError> {
        let der = spki.to_der().map_err(|e| KeyError::Der(e.to_string()))?;
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Der("public key BIT STRING has unused bits".to_owned()))?
            .to_vec();
        let oid = spki.algorithm.oid;
        let algorithm = if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Der("EC key without a named curve".to_owned()))?;
            match curve {
                c if c == OID_P256 => KeyAlgorithm::EcdsaP256,
                c if c == OID_P384 => KeyAlgorithm::EcdsaP384,
                other => return Err(KeyError::Unsupported(format!("EC curve {other}"))),
            }
        } else if oid == OID_ED25519 {
            if raw.len() != 32 {
                return Err(KeyError::Der(format!("Ed25519 key of {} bytes", raw.len())));
            }
            KeyAlgorithm::Ed25519
        } else if oid == OID_RSA || oid == OID_RSA_PSS {
            let bits = rsa_modulus_bits(&raw)?;
            if !(2048..=8192).contains(&bits) {
                return Err(KeyError::RsaSize(bits));
            }
            if oid == OID_RSA_PSS || rsa == RsaScheme::Pss {
                KeyAlgorithm::RsaPss
            } else {
                KeyAlgorithm::RsaPkcs1
            }
        } else {
            return Err(KeyError::Unsupported(oid.to_string()));
        };
        Ok(Self {
            algorithm,
            raw,
            fingerprint: Fingerprint::of_der(&der),
            spki_der: der,
            parsed: Parsed::default(),
        })
    }

    /// The scheme.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// `sha256:` of the DER SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Checks `sig` over `message`. ECDSA signatures may be ASN.1 DER (what cosign writes) or
    /// fixed-width `r||s`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), BadSignature> {
        let candidates: &[&'static dyn VerificationAlgorithm] = match self.algorithm {
            KeyAlgorithm::EcdsaP256 => &[
                &signature::ECDSA_P256_SHA256_ASN1,
                &signature::ECDSA_P256_SHA256_FIXED,
            ],
            KeyAlgorithm::EcdsaP384 => &[
                &signature::ECDSA_P384_SHA384_ASN1,
                &signature::ECDSA_P384_SHA384_FIXED,
            ],
            KeyAlgorithm::Ed25519 => &[&signature::ED25519],
            KeyAlgorithm::RsaPkcs1 => &[
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA384,
                &signature::RSA_PKCS1_2048_8192_SHA512,
            ],
            KeyAlgorithm::RsaPss => &[
                &signature::RSA_PSS_2048_8192_SHA256,
                &signature::RSA_PSS_2048_8192_SHA384,
                &signature::RSA_PSS_2048_8192_SHA512,
            ],
        };
        let (first, others) = candidates.split_first().ok_or(BadSignature)?;
        // The first algorithm is the common case (cosign's DER ECDSA, PKCS#1 SHA-256); the
        // others are tried as before, unparsed.
        let parsed = self
            .parsed
            .0
            .get_or_init(|| ParsedPublicKey::new(*first, &self.raw).ok());
        let first_ok = match parsed {
            Some(key) => key.verify_sig(message, sig).is_ok(),
            None => UnparsedPublicKey::new(*first, &self.raw)
                .verify(message, sig)
                .is_ok(),
        };
        (first_ok
            || others.iter().any(|alg| {
                UnparsedPublicKey::new(*alg, &self.raw)
                    .verify(message, sig)
                    .is_ok()
            }))
        .then_some(())
        .ok_or(BadSignature)
    }
}

/// Bits of the modulus of a DER RSAPublicKey `SEQUENCE { n INTEGER, e INTEGER }`.
fn rsa_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    use der::asn1::UintRef;
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        #[allow(dead_code)]
        public_exponent: UintRef<'a>,
    }
    let key =
        RsaPublicKey::from_der(der).map_err(|e| KeyError::Der(format!("RSAPublicKey: {e}")))?;
    let n = key.modulus.as_bytes();
    let leading = n.first().map_or(8, |b| b.leading_zeros() as usize);
    Ok(n.len() * 8 - leading)
}

/// PEM text that does not hold the block asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// The bytes are not text.
    #[error("PEM is not UTF-8 text")]
    NotText,
    /// No block with the label.
    #[error("no -----BEGIN {0}----- block")]
    NoBlock(String),
    /// A block without its END line.
    #[error("unterminated -----BEGIN {0}-----")]
    Unterminated(String),
    /// A block whose body is not base64.
    #[error("bad base64 in {label} block: {source}")]
    Base64 {
        /// The block's label.
        label: String,
        /// Why.
        source: base64::DecodeError,
    },
}

/// Decodes the first PEM block labelled `label` (other blocks are skipped).
pub(crate) fn pem_block(pem: &[u8], label: &str) -> Result<Vec<u8>, PemError> {
    pem_blocks(pem, label)?
        .into_iter()
        .next()
        .ok_or_else(|| PemError::NoBlock(label.to_owned()))
}

/// Decodes every PEM block labelled `label`, in order. Other labels are skipped, so a bundle
/// file with comments or other objects still reads.
pub(crate) fn pem_blocks(pem: &[u8], label: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let text = std::str::from_utf8(pem).map_err(|_| PemError::NotText)?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body_start = start + begin.len();
        let Some(stop) = rest[body_start..].find(&end) else {
            return Err(PemError::Unterminated(label.to_owned()));
        };
        let body: String = rest[body_start..body_start + stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|source| PemError::Base64 {
                label: label.to_owned(),
                source,
            })?;
        blocks.push(der);
        rest = &rest[body_start + stop + end.len()..];
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests;
