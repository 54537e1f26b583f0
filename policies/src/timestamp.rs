//! RFC 3161 timestamps: a TimeStampToken (CMS `SignedData` over a `TSTInfo`) proves that a TSA
//! saw some bytes at `genTime`. Sigstore bundles carry them in
//! `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`, notation
//! envelopes in the unprotected header `io.cncf.notary.timestampSignature`; in both the message
//! imprint is over the *signature bytes* being timestamped.
//!
//! [`TimestampToken::from_der`] parses (a bare token, or a whole `TimeStampResp`);
//! [`verify_timestamp`] and [`verify_timestamp_with_roots`] check, in this order:
//!
//! 1. the signed attributes carry content-type = id-ct-TSTInfo and message-digest = hash of the
//!    encapsulated `TSTInfo` (RFC 5652 §5.4, §11);
//! 2. the signer certificate, found by the SignerInfo's issuer and serial or subject key identifier
//!    among the token's certificates and the authorities' chains, verifies the signature over the
//!    DER of the signed attributes (the `[0] IMPLICIT` tag re-tagged as `SET OF`);
//! 3. an ESS signing-certificate(-v2) attribute, when present, names that certificate;
//! 4. the certificate's extended key usage is timeStamping only, and critical (RFC 3161 §2.3);
//! 5. it chains to an authority's root at `genTime` (webpki), and `genTime` lies in the
//!    authority's validity window;
//! 6. last, the message imprint equals the hash of the bytes the caller says were timestamped.
//!
//! The imprint comes last on purpose: `ImprintMismatch` then means "an authentic timestamp, but
//! over other bytes", which is the useful diagnosis for a swapped timestamp.
//!
//! The parser is written against the DER reader directly rather than a CMS crate: the only `cms`
//! release built on der 0.8 is a release candidate, no `TSTInfo` crate is, and verification needs
//! the exact bytes of the signed attributes and of the `TSTInfo`, which a decode/re-encode round
//! trip would not guarantee. BER (indefinite lengths) is refused as malformed.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::spki::AlgorithmIdentifierRef;

use crate::crypto::{KeyAlgorithm, KeyError, PublicKey, RsaScheme};
use crate::pki::ChainError;
use crate::time::UnixTime;
use crate::tlog::HashAlgorithm;
use crate::trusted_root::{CertificateAuthority, Validity};
use crate::x509::{CertificateInfo, serial_hex};

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo.
const OID_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// ESS signing-certificate (RFC 2634, SHA-1 certificate hash).
const OID_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// ESS signing-certificate-v2 (RFC 5035).
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// id-kp-timeStamping.
const OID_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Its DER value bytes, as webpki's `KeyUsage` takes them.
const TIME_STAMPING_OID_BYTES: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The bytes are not a DER TimeStampToken or TimeStampResp (truncated, wrong tags, bad
    /// lengths, BER, a missing field, a `TSTInfo` that does not parse).
    #[error("malformed timestamp: {what}: {why}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What was wrong with it.
        why: String,
    },
    /// A TimeStampResp whose status is neither granted (0) nor grantedWithMods (1).
    #[error("the TSA did not grant the timestamp (PKIStatus {status})")]
    Rejected {
        /// The PKIStatus value.
        status: u32,
    },
    /// The SignedData encapsulates something other than a `TSTInfo`.
    #[error("the signed content is {content_type}, not id-ct-TSTInfo")]
    NotTstInfo {
        /// The eContentType found, dotted.
        content_type: String,
    },
    /// A digest algorithm other than SHA-256, SHA-384 or SHA-512 (imprint, signer digest or
    /// ESS certificate hash).
    #[error("unsupported hash algorithm {oid} (SHA-256, SHA-384 and SHA-512 are supported)")]
    UnsupportedHash {
        /// The algorithm's OID, dotted.
        oid: String,
    },
    /// The SignerInfo's signature algorithm is unknown or does not fit the signer's key.
    #[error("unsupported signature algorithm {what}")]
    UnsupportedSignatureAlgorithm {
        /// The algorithm and, where relevant, the key it was paired with.
        what: String,
    },
    /// The message imprint is not the hash of the bytes said to be timestamped.
    #[error("the timestamp's message imprint is not the hash of the timestamped bytes")]
    ImprintMismatch,
    /// A signed attribute CMS and RFC 3161 require is absent (`signedAttrs` itself, content-type
    /// or message-digest).
    #[error("the timestamp's signer info lacks the {which} signed attribute")]
    MissingSignedAttribute {
        /// Which attribute.
        which: &'static str,
    },
    /// The message-digest signed attribute is not the hash of the `TSTInfo`.
    #[error("the message-digest signed attribute does not match the TSTInfo")]
    MessageDigestMismatch,
    /// The content-type signed attribute is not id-ct-TSTInfo.
    #[error("the content-type signed attribute is {found}, not id-ct-TSTInfo")]
    ContentTypeMismatch {
        /// The content type the attribute names, dotted.
        found: String,
    },
    /// No certificate in the token or the authorities' chains matches the SignerInfo.
    #[error("the timestamp's signing certificate is neither in the token nor in a TSA chain")]
    SignerNotFound,
    /// The signing certificate's key cannot be used.
    #[error("the timestamp's signing certificate key: {0}")]
    SignerKey(#[source] KeyError),
    /// The signature over the signed attributes does not verify with the signer's key.
    #[error("the timestamp's signature does not verify with its signing certificate")]
    SignatureInvalid,
    /// The ESS signing-certificate attribute names a different certificate than the signer's.
    #[error("the ESS signing-certificate attribute does not name the signing certificate")]
    SigningCertificateMismatch,
    /// The signing certificate does not chain to an authority's root at `genTime`.
    #[error("the timestamp's signing certificate: {0}")]
    ChainInvalid(#[source] ChainError),
    /// The signing certificate has no extended key usage extension, or it lacks timeStamping.
    #[error("the timestamp's signing certificate lacks the timeStamping extended key usage")]
    NoTimeStampingEku,
    /// The timeStamping extended key usage is not marked critical (RFC 3161 §2.3 requires it).
    #[error("the timestamp's signing certificate has a non-critical extended key usage")]
    TimeStampingEkuNotCritical,
    /// The extended key usage lists purposes besides timeStamping (RFC 3161 §2.3 allows only
    /// timeStamping).
    #[error("the timestamp's signing certificate has extended key usages besides timeStamping")]
    TimeStampingEkuNotExclusive,
    /// The certificate chains to an authority, but `genTime` lies outside its validity window.
    #[error("timestamp {gen_time} lies outside the timestamp authority's window {valid_for}")]
    OutsideAuthorityWindow {
        /// The timestamp's time.
        gen_time: UnixTime,
        /// The window of the authority the certificate chains to.
        valid_for: Validity,
    },
    /// No timestamp authority is configured, so no timestamp can be trusted.
    #[error("no timestamp authority is trusted")]
    NoAuthority,
}

/// What the TSA stamped: a hash of the timestamped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageImprint {
    /// The hash algorithm.
    pub algorithm: HashAlgorithm,
    /// The hash.
    pub digest: Vec<u8>,
}

/// How the SignerInfo names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerId {
    /// `issuerAndSerialNumber`.
    IssuerAndSerial {
        /// Issuer DN (RFC 4514 string).
        issuer: String,
        /// Serial number, lower-case hex without leading zeros.
        serial: String,
    },
    /// `subjectKeyIdentifier`.
    SubjectKeyId(Vec<u8>),
}

/// The identifier in the form certificates are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sid {
    IssuerSerial { issuer: Name, serial: Vec<u8> },
    SubjectKeyId(Vec<u8>),
}

impl Sid {
    fn matches(&self, cert: &Certificate) -> bool {
        let tbs = cert.tbs_certificate();
        match self {
            Self::IssuerSerial { issuer, serial } => {
                tbs.issuer() == issuer
                    && serial_hex(tbs.serial_number().as_bytes()) == serial_hex(serial)
            }
            Self::SubjectKeyId(id) => matches!(
                tbs.get_extension::<SubjectKeyIdentifier>(),
                Ok(Some((_, ski))) if ski.0.as_bytes() == id.as_slice()
            ),
        }
    }
}

/// An ESS certificate identifier: the hash of the signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EssCertId {
    /// signing-certificate: SHA-1.
    V1(Vec<u8>),
    /// signing-certificate-v2.
    V2 {
        algorithm: HashAlgorithm,
        hash: Vec<u8>,
    },
}

/// The signed attributes sealgate reads, and their DER as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignedAttributes {
    /// DER `SET OF Attribute`: the `[0] IMPLICIT` encoding re-tagged, which is what is signed
    /// (RFC 5652 §5.4).
    der: Vec<u8>,
    content_type: Option<ObjectIdentifier>,
    message_digest: Option<Vec<u8>>,
    signing_certificates: Vec<EssCertId>,
}

/// The token's single SignerInfo (RFC 3161 §2.4.2 allows only the TSA's signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    sid: Sid,
    digest_algorithm: HashAlgorithm,
    signature_algorithm: ObjectIdentifier,
    signature: Vec<u8>,
    signed_attributes: Option<SignedAttributes>,
}

impl SignerInfo {
    /// How the signer names its certificate.
    pub fn id(&self) -> SignerId {
        match &self.sid {
            Sid::IssuerSerial { issuer, serial } => SignerId::IssuerAndSerial {
                issuer: issuer.to_string(),
                serial: serial_hex(serial),
            },
            Sid::SubjectKeyId(id) => SignerId::SubjectKeyId(id.clone()),
        }
    }

    /// The digest algorithm of the message-digest attribute and the signature.
    pub fn digest_algorithm(&self) -> HashAlgorithm {
        self.digest_algorithm
    }

    /// The signature algorithm's OID, dotted.
    pub fn signature_algorithm(&self) -> String {
        self.signature_algorithm.to_string()
    }

    /// The signature over [`Self::signed_attributes_der`].
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The DER `SET OF Attribute` the signature is over, if the signer has signed attributes.
    pub fn signed_attributes_der(&self) -> Option<&[u8]> {
        self.signed_attributes.as_ref().map(|a| a.der.as_slice())
    }
}

/// A parsed RFC 3161 TimeStampToken. Parsing checks the shape only; see [`Self::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampToken {
    gen_time: UnixTime,
    message_imprint: MessageImprint,
    serial: Vec<u8>,
    policy: ObjectIdentifier,
    nonce: Option<Vec<u8>>,
    certificates: Vec<Vec<u8>>,
    signer: SignerInfo,
    /// The DER `TSTInfo`, exactly as encapsulated (the message-digest attribute is over it).
    tst_info: Vec<u8>,
}

impl TimestampToken {
    /// Parses a DER TimeStampToken (a CMS `ContentInfo`), or a `TimeStampResp` holding one
    /// (its status must be granted or grantedWithMods).
    pub fn from_der(der: &[u8]) -> Result<Self, TimestampError> {
        let content_info = unwrap_response(der)?;
        let signed_data = signed_data_of(content_info)?;
        parse_signed_data(signed_data)
    }

    /// When the TSA says it saw the imprint. Fractions of a second are dropped.
    pub fn gen_time(&self) -> UnixTime {
        self.gen_time
    }

    /// What was timestamped.
    pub fn message_imprint(&self) -> &MessageImprint {
        &self.message_imprint
    }

    /// The TSA's serial number for this token, lower-case hex without leading zeros.
    pub fn serial(&self) -> String {
        serial_hex(&self.serial)
    }

    /// The TSA policy the token was issued under, dotted.
    pub fn policy(&self) -> String {
        self.policy.to_string()
    }

    /// The request's nonce, echoed (big-endian INTEGER bytes), if any.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// The DER certificates embedded in the token (possibly none).
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The TSA's SignerInfo.
    pub fn signer(&self) -> &SignerInfo {
        &self.signer
    }

    /// The DER `TSTInfo` as signed.
    pub fn tst_info_der(&self) -> &[u8] {
        &self.tst_info
    }

    /// Verifies the token over `signed_bytes` against a sigstore trusted root's timestamp
    /// authorities: each chain's last certificate is its root; the others are candidate signers
    /// and intermediates, as are the token's own certificates. Returns `genTime`.
    pub fn verify(
        &self,
        signed_bytes: &[u8],
        authorities: &[CertificateAuthority],
    ) -> Result<UnixTime, TimestampError> {
        let trust: Vec<Trust<'_>> = authorities
            .iter()
            .filter_map(|ca| {
                let (root, others) = ca.chain.split_last()?;
                Some(Trust {
                    roots: vec![root.as_slice()],
                    others: others.iter().map(Vec::as_slice).collect(),
                    valid_for: ca.valid_for,
                })
            })
            .collect();
        self.verify_with(signed_bytes, &trust)
    }

    /// Verifies the token over `signed_bytes` against explicit TSA roots (a notation `tsa` trust
    /// store) and optional intermediates, with no validity window beyond the certificates' own.
    /// Returns `genTime`.
    pub fn verify_with_roots(
        &self,
        signed_bytes: &[u8],
        roots: &[CertificateInfo],
        intermediates: &[CertificateInfo],
    ) -> Result<UnixTime, TimestampError> {
        if roots.is_empty() {
            return Err(TimestampError::NoAuthority);
        }
        let trust = Trust {
            roots: roots.iter().map(|c| c.der.as_slice()).collect(),
            others: intermediates.iter().map(|c| c.der.as_slice()).collect(),
            valid_for: Validity::ALWAYS,
        };
        self.verify_with(signed_bytes, std::slice::from_ref(&trust))
    }

    fn verify_with(
        &self,
        signed_bytes: &[u8],
        trust: &[Trust<'_>],
    ) -> Result<UnixTime, TimestampError> {
        if trust.is_empty() {
            return Err(TimestampError::NoAuthority);
        }
        let attrs = self.check_signed_attributes()?;
        let (signer_der, signer) = self.find_signer(&attrs.der, trust)?;
        check_ess(attrs, signer_der)?;
        check_time_stamping_eku(&signer)?;
        self.check_chain(signer_der, trust)?;
        if digest(self.message_imprint.algorithm, signed_bytes) != self.message_imprint.digest {
            return Err(TimestampError::ImprintMismatch);
        }
        Ok(self.gen_time)
    }

    /// content-type and message-digest (RFC 5652 §11.1, §11.2).
    fn check_signed_attributes(&self) -> Result<&SignedAttributes, TimestampError> {
        let attrs = self.signer.signed_attributes.as_ref().ok_or(
            TimestampError::MissingSignedAttribute {
                which: "signedAttrs",
            },
        )?;
        match attrs.content_type {
            None => {
                return Err(TimestampError::MissingSignedAttribute {
                    which: "content-type",
                });
            }
            Some(ct) if ct != OID_TST_INFO => {
                return Err(TimestampError::ContentTypeMismatch {
                    found: ct.to_string(),
                });
            }
            Some(_) => {}
        }
        let md = attrs
            .message_digest
            .as_ref()
            .ok_or(TimestampError::MissingSignedAttribute {
                which: "message-digest",
            })?;
        if *md != digest(self.signer.digest_algorithm, &self.tst_info) {
            return Err(TimestampError::MessageDigestMismatch);
        }
        Ok(attrs)
    }

    /// The certificate the SignerInfo names whose key verifies the signature over `signed`, as
    /// DER and parsed.
    fn find_signer<'t>(
        &'t self,
        signed: &[u8],
        trust: &[Trust<'t>],
    ) -> Result<(&'t [u8], Certificate), TimestampError> {
        let candidates = self
            .certificates
            .iter()
            .map(Vec::as_slice)
            .chain(trust.iter().flat_map(|t| t.others.iter().copied()));
        let mut failure = None;
        for der in candidates {
            // Certificates the token carries but that do not parse are not the signer's.
            let Ok(cert) = Certificate::from_der(der) else {
                continue;
            };
            if !self.signer.sid.matches(&cert) {
                continue;
            }
            match verify_signature(&cert, &self.signer, signed) {
                Ok(()) => return Ok((der, cert)),
                Err(e) => failure = Some(e),
            }
        }
        Err(failure.unwrap_or(TimestampError::SignerNotFound))
    }

    /// A path from the signer to some authority's root at `genTime`, inside that authority's
    /// window.
    fn check_chain(&self, leaf_der: &[u8], trust: &[Trust<'_>]) -> Result<(), TimestampError> {
        let leaf = CertificateDer::from(leaf_der);
        let end_entity = EndEntityCert::try_from(&leaf)
            .map_err(|e| TimestampError::ChainInvalid(ChainError::Other(format!("{e:?}"))))?;
        let at = self.gen_time;
        let mut outside = None;
        let mut rejected: Option<ChainError> = None;
        for authority in trust {
            let (anchors, anchor_ders): (Vec<TrustAnchor<'static>>, Vec<&[u8]>) = authority
                .roots
                .iter()
                .filter_map(|der| {
                    webpki::anchor_from_trusted_cert(&CertificateDer::from(*der))
                        .ok()
                        .map(|a| (a.to_owned(), *der))
                })
                .unzip();
            let intermediates: Vec<CertificateDer<'_>> = authority
                .others
                .iter()
                .copied()
                .chain(self.certificates.iter().map(Vec::as_slice))
                .map(CertificateDer::from)
                .collect();
            // webpki applies the EKU rule to every certificate on the path: CAs may omit EKU but
            // must not exclude timeStamping. The leaf's stricter rule was checked already.
            let verified = end_entity.verify_for_usage(
                crate::pki::VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                at.to_webpki(),
                KeyUsage::required_if_present(TIME_STAMPING_OID_BYTES),
                None,
                None,
            );
            // webpki does not read the keyUsage of issuers: every CA on the path, the root
            // included, must be allowed to sign certificates (RFC 5280 §6.1.4).
            let verified = verified.map_err(|e| chain_error(e, at)).and_then(|path| {
                let anchor = anchors
                    .iter()
                    .position(|a| std::ptr::eq(a, path.anchor()))
                    .map(|i| anchor_ders[i]);
                let cas = path
                    .intermediate_certificates()
                    .map(|c| c.der().as_ref().to_vec())
                    .chain(anchor.map(<[u8]>::to_vec));
                for der in cas {
                    match CertificateInfo::from_der(&der) {
                        Ok(ca) if ca.cert_sign => {}
                        Ok(ca) => {
                            return Err(ChainError::NoCertSign {
                                subject: ca.subject,
                            });
                        }
                        Err(e) => return Err(ChainError::Other(e.to_string())),
                    }
                }
                Ok(())
            });
            match verified {
                Ok(()) if authority.valid_for.contains(at) => return Ok(()),
                Ok(_) => outside = Some(authority.valid_for),
                // An unrelated authority's "unknown issuer" says less than, say, an expiry on
                // the path to the right one; keep the most telling reason.
                Err(e) => {
                    if rejected.is_none() || matches!(rejected, Some(ChainError::UnknownIssuer)) {
                        rejected = Some(e);
                    }
                }
            }
        }
        Err(match (outside, rejected) {
            (Some(valid_for), _) => TimestampError::OutsideAuthorityWindow {
                gen_time: at,
                valid_for,
            },
            (None, Some(e)) => TimestampError::ChainInvalid(e),
            (None, None) => TimestampError::NoAuthority,
        })
    }
}

/// Parses `token_der` (a TimeStampToken or TimeStampResp) and verifies it over `signed_bytes`
/// against a trusted root's `timestamp_authorities`. Returns `genTime`.
pub fn verify_timestamp(
    token_der: &[u8],
    signed_bytes: &[u8],
    authorities: &[CertificateAuthority],
) -> Result<UnixTime, TimestampError> {
    if authorities.is_empty() {
        return Err(TimestampError::NoAuthority);
    }
    TimestampToken::from_der(token_der)?.verify(signed_bytes, authorities)
}

/// Parses `token_der` and verifies it over `signed_bytes` against explicit TSA roots and
/// intermediates (notation's `tsa` trust store). Returns `genTime`.
pub fn verify_timestamp_with_roots(
    token_der: &[u8],
    signed_bytes: &[u8],
    roots: &[CertificateInfo],
    intermediates: &[CertificateInfo],
) -> Result<UnixTime, TimestampError> {
    if roots.is_empty() {
        return Err(TimestampError::NoAuthority);
    }
    TimestampToken::from_der(token_der)?.verify_with_roots(signed_bytes, roots, intermediates)
}

/// One authority, borrowed: its roots, the other certificates of its chain, and its window.
struct Trust<'t> {
    roots: Vec<&'t [u8]>,
    others: Vec<&'t [u8]>,
    valid_for: Validity,
}

// --- verification steps -------------------------------------------------------------------------

fn verify_signature(
    cert: &Certificate,
    signer: &SignerInfo,
    message: &[u8],
) -> Result<(), TimestampError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let key = PublicKey::from_spki(spki, RsaScheme::Pkcs1).map_err(TimestampError::SignerKey)?;
    let raw = spki
        .subject_public_key
        .as_bytes()
        .ok_or(TimestampError::SignerKey(KeyError::Der(
            "public key BIT STRING has unused bits".to_owned(),
        )))?;
    let algorithm = ring_algorithm(
        key.algorithm(),
        signer.signature_algorithm,
        signer.digest_algorithm,
    )?;
    UnparsedPublicKey::new(algorithm, raw)
        .verify(message, &signer.signature)
        .map_err(|_| TimestampError::SignatureInvalid)
}

/// The ring algorithm for a CMS signature algorithm and key. The hash is the one the signature
/// algorithm names, or the SignerInfo's digest algorithm for bare key algorithms
/// (`rsaEncryption`, `id-ecPublicKey`, RSASSA-PSS).
fn ring_algorithm(
    key: KeyAlgorithm,
    oid: ObjectIdentifier,
    digest: HashAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm, TimestampError> {
    use HashAlgorithm as H;
    #[derive(Clone, Copy)]
    enum Family {
        Pkcs1,
        Pss,
        Ecdsa,
        Ed25519,
    }
    let (family, hash) = match oid {
        o if o == OID_RSA_ENCRYPTION => (Family::Pkcs1, digest),
        o if o == OID_SHA256_WITH_RSA => (Family::Pkcs1, H::Sha256),
        o if o == OID_SHA384_WITH_RSA => (Family::Pkcs1, H::Sha384),
        o if o == OID_SHA512_WITH_RSA => (Family::Pkcs1, H::Sha512),
        o if o == OID_RSASSA_PSS => (Family::Pss, digest),
        o if o == OID_EC_PUBLIC_KEY => (Family::Ecdsa, digest),
        o if o == OID_ECDSA_SHA256 => (Family::Ecdsa, H::Sha256),
        o if o == OID_ECDSA_SHA384 => (Family::Ecdsa, H::Sha384),
        o if o == OID_ECDSA_SHA512 => (Family::Ecdsa, H::Sha512),
        o if o == OID_ED25519 => (Family::Ed25519, digest),
        other => {
            return Err(TimestampError::UnsupportedSignatureAlgorithm {
                what: other.to_string(),
            });
        }
    };
    let rsa = matches!(key, KeyAlgorithm::RsaPkcs1 | KeyAlgorithm::RsaPss);
    Ok(match (family, key, hash) {
        (Family::Pkcs1, _, H::Sha256) if rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        (Family::Pkcs1, _, H::Sha384) if rsa => &signature::RSA_PKCS1_2048_8192_SHA384,
        (Family::Pkcs1, _, H::Sha512) if rsa => &signature::RSA_PKCS1_2048_8192_SHA512,
        (Family::Pss, _, H::Sha256) if rsa => &signature::RSA_PSS_2048_8192_SHA256,
        (Family::Pss, _, H::Sha384) if rsa => &signature::RSA_PSS_2048_8192_SHA384,
        (Family::Pss, _, H::Sha512) if rsa => &signature::RSA_PSS_2048_8192_SHA512,
        (Family::Ecdsa, KeyAlgorithm::EcdsaP256, H::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (Family::Ecdsa, KeyAlgorithm::EcdsaP256, H::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (Family::Ecdsa, KeyAlgorithm::EcdsaP384, H::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (Family::Ecdsa, KeyAlgorithm::EcdsaP384, H::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (Family::Ed25519, KeyAlgorithm::Ed25519, _) => &signature::ED25519,
        _ => {
            return Err(TimestampError::UnsupportedSignatureAlgorithm {
                what: format!("{oid} with a {key} key and {}", hash.as_str()),
            });
        }
    })
}

/// An ESS signing-certificate attribute, if present, must hash to the signer's certificate: it
/// binds the certificate into the signature (RFC 5035 §1).
fn check_ess(attrs: &SignedAttributes, cert_der: &[u8]) -> Result<(), TimestampError> {
    for id in &attrs.signing_certificates {
        let ok = match id {
            EssCertId::V1(hash) => {
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der)
                    .as_ref()
                    == hash.as_slice()
            }
            EssCertId::V2 { algorithm, hash } => digest(*algorithm, cert_der) == *hash,
        };
        if !ok {
            return Err(TimestampError::SigningCertificateMismatch);
        }
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA certificate has exactly one, critical, extended key usage:
/// timeStamping. (OpenSSL's `ts -verify` and notation enforce the same.)
fn check_time_stamping_eku(cert: &Certificate) -> Result<(), TimestampError> {
    let (critical, eku) = cert
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .map_err(mal("signing certificate extendedKeyUsage"))?
        .ok_or(TimestampError::NoTimeStampingEku)?;
    if !eku.0.contains(&OID_TIME_STAMPING) {
        return Err(TimestampError::NoTimeStampingEku);
    }
    if !critical {
        return Err(TimestampError::TimeStampingEkuNotCritical);
    }
    if eku.0.iter().any(|p| *p != OID_TIME_STAMPING) {
        return Err(TimestampError::TimeStampingEkuNotExclusive);
    }
    Ok(())
}

/// webpki's reasons as [`ChainError`]s; only the EKU one reads differently for a TSA path.
fn chain_error(e: webpki::Error, at: UnixTime) -> ChainError {
    match e {
        #[allow(deprecated)]
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
            ChainError::Other("an issuing CA's extended key usage excludes timeStamping".to_owned())
        }
        other => crate::pki::chain_error(other, at),
    }
}

fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
    }
}

fn hash_algorithm(oid: ObjectIdentifier) -> Result<HashAlgorithm, TimestampError> {
    match oid {
        o if o == OID_SHA256 => Ok(HashAlgorithm::Sha256),
        o if o == OID_SHA384 => Ok(HashAlgorithm::Sha384),
        o if o == OID_SHA512 => Ok(HashAlgorithm::Sha512),
        other => Err(TimestampError::UnsupportedHash {
            oid: other.to_string(),
        }),
    }
}

// --- parsing ------------------------------------------------------------------------------------
//
// ASN.1 from RFC 5652 (CMS), RFC 3161 (TSP), RFC 2634 and RFC 5035 (ESS).

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }`
/// or a bare `TimeStampToken ::= ContentInfo`; tells them apart by the first field.
fn unwrap_response(der: &[u8]) -> Result<AnyRef<'_>, TimestampError> {
    const WHAT: &str = "TimeStampToken";
    let outer = AnyRef::from_der(der).map_err(mal(WHAT))?;
    let mut fields = Fields::new(outer, Tag::Sequence, WHAT)?;
    match fields.peek_tag() {
        Some(Tag::ObjectIdentifier) => Ok(outer),
        Some(Tag::Sequence) => {
            let mut status = Fields::new(fields.next()?, Tag::Sequence, "PKIStatusInfo")?;
            let status: u32 = status.decode()?;
            // 0 granted, 1 grantedWithMods (RFC 3161 §2.4.2).
            if status > 1 {
                return Err(TimestampError::Rejected { status });
            }
            let token = fields.next_tagged(Tag::Sequence)?;
            fields.finish()?;
            Ok(token)
        }
        _ => Err(TimestampError::Malformed {
            what: WHAT,
            why: "neither a ContentInfo nor a TimeStampResp".to_owned(),
        }),
    }
}

/// `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`, signedData only.
fn signed_data_of(content_info: AnyRef<'_>) -> Result<AnyRef<'_>, TimestampError> {
    const WHAT: &str = "ContentInfo";
    let mut fields = Fields::new(content_info, Tag::Sequence, WHAT)?;
    let content_type: ObjectIdentifier = fields.decode()?;
    if content_type != OID_SIGNED_DATA {
        return Err(TimestampError::Malformed {
            what: WHAT,
            why: format!("content type {content_type}, not signedData"),
        });
    }
    let content = fields.explicit(0)?;
    fields.finish()?;
    Ok(content)
}

/// ```text
/// SignedData ::= SEQUENCE {
///   version CMSVersion, digestAlgorithms SET OF AlgorithmIdentifier,
///   encapContentInfo EncapsulatedContentInfo,
///   certificates [0] IMPLICIT CertificateSet OPTIONAL,
///   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///   signerInfos SET OF SignerInfo }
/// EncapsulatedContentInfo ::= SEQUENCE { eContentType OID, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
/// ```
fn parse_signed_data(signed_data: AnyRef<'_>) -> Result<TimestampToken, TimestampError> {
    let mut fields = Fields::new(signed_data, Tag::Sequence, "SignedData")?;
    let _version: u32 = fields.decode()?;
    fields.next_tagged(Tag::Set)?;
    let encap = fields.next_tagged(Tag::Sequence)?;
    let certificate_set = fields.optional(context(0, true))?;
    let _crls = fields.optional(context(1, true))?;
    let signer_infos = fields.next_tagged(Tag::Set)?;
    fields.finish()?;

    let mut encap = Fields::new(encap, Tag::Sequence, "EncapsulatedContentInfo")?;
    let content_type: ObjectIdentifier = encap.decode()?;
    if content_type != OID_TST_INFO {
        return Err(TimestampError::NotTstInfo {
            content_type: content_type.to_string(),
        });
    }
    let e_content = encap.explicit(0)?;
    encap.finish()?;
    if e_content.tag() != Tag::OctetString {
        return Err(unexpected("eContent", Tag::OctetString, e_content.tag()));
    }
    let tst_info = e_content.value();

    let mut certificates = Vec::new();
    if let Some(set) = certificate_set {
        let mut set = Fields::of_value(set.value(), "certificates")?;
        while !set.is_finished() {
            let (choice, raw) = set.next_raw()?;
            // Other CertificateChoices (attribute certificates, …) are not signers.
            if choice.tag() == Tag::Sequence {
                certificates.push(raw.to_vec());
            }
        }
    }

    let mut signer_infos = Fields::new(signer_infos, Tag::Set, "signerInfos")?;
    let signer = parse_signer_info(signer_infos.next()?)?;
    if !signer_infos.is_finished() {
        return Err(TimestampError::Malformed {
            what: "signerInfos",
            why: "more than one SignerInfo; RFC 3161 allows only the TSA's".to_owned(),
        });
    }

    let tst = parse_tst_info(tst_info)?;
    Ok(TimestampToken {
        gen_time: tst.gen_time,
        message_imprint: tst.message_imprint,
        serial: tst.serial,
        policy: tst.policy,
        nonce: tst.nonce,
        certificates,
        signer,
        tst_info: tst_info.to_vec(),
    })
}

/// ```text
/// SignerInfo ::= SEQUENCE {
///   version CMSVersion,
///   sid SignerIdentifier,  -- issuerAndSerialNumber SEQUENCE | subjectKeyIdentifier [0] IMPLICIT
///   digestAlgorithm AlgorithmIdentifier,
///   signedAttrs [0] IMPLICIT SET OF Attribute OPTIONAL,
///   signatureAlgorithm AlgorithmIdentifier,
///   signature OCTET STRING,
///   unsignedAttrs [1] IMPLICIT SET OF Attribute OPTIONAL }
/// ```
fn parse_signer_info(signer_info: AnyRef<'_>) -> Result<SignerInfo, TimestampError> {
    const WHAT: &str = "SignerInfo";
    let mut fields = Fields::new(signer_info, Tag::Sequence, WHAT)?;
    let _version: u32 = fields.decode()?;
    let sid = fields.next()?;
    let sid = if sid.tag() == Tag::Sequence {
        let mut ias = Fields::new(sid, Tag::Sequence, "issuerAndSerialNumber")?;
        let issuer: Name = ias.decode()?;
        let serial = ias.next_tagged(Tag::Integer)?.value().to_vec();
        ias.finish()?;
        Sid::IssuerSerial { issuer, serial }
    } else if sid.tag() == context(0, false) {
        Sid::SubjectKeyId(sid.value().to_vec())
    } else {
        return Err(unexpected(WHAT, Tag::Sequence, sid.tag()));
    };
    let digest_algorithm = hash_algorithm(fields.decode::<AlgorithmIdentifierRef<'_>>()?.oid)?;
    let signed_attributes = if fields.peek_tag() == Some(context(0, true)) {
        let (attrs, raw) = fields.next_raw()?;
        Some(parse_signed_attributes(attrs, raw)?)
    } else {
        None
    };
    let signature_algorithm = fields.decode::<AlgorithmIdentifierRef<'_>>()?.oid;
    let signature = fields.next_tagged(Tag::OctetString)?.value().to_vec();
    let _unsigned = fields.optional(context(1, true))?;
    fields.finish()?;
    Ok(SignerInfo {
        sid,
        digest_algorithm,
        signature_algorithm,
        signature,
        signed_attributes,
    })
}

/// `Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }`. content-type and
/// message-digest must appear once with one value (RFC 5652 §11); unknown attributes are kept in
/// the signed bytes and otherwise ignored.
fn parse_signed_attributes(
    attrs: AnyRef<'_>,
    raw: &[u8],
) -> Result<SignedAttributes, TimestampError> {
    const WHAT: &str = "signedAttrs";
    let mut der = raw.to_vec();
    // The signature covers the attributes with an explicit SET OF tag, not the [0] IMPLICIT tag
    // they are transmitted with (RFC 5652 §5.4). [0] constructed is always the one byte 0xA0.
    if let Some(tag) = der.first_mut() {
        *tag = 0x31;
    }
    let mut parsed = SignedAttributes {
        der,
        content_type: None,
        message_digest: None,
        signing_certificates: Vec::new(),
    };
    let mut seen = Vec::new();
    let mut fields = Fields::of_value(attrs.value(), WHAT)?;
    while !fields.is_finished() {
        let mut attr = Fields::new(fields.next()?, Tag::Sequence, "signed attribute")?;
        let oid: ObjectIdentifier = attr.decode()?;
        let values = attr.next_tagged(Tag::Set)?;
        attr.finish()?;
        if seen.contains(&oid) {
            return Err(TimestampError::Malformed {
                what: WHAT,
                why: format!("attribute {oid} appears twice"),
            });
        }
        seen.push(oid);
        if oid == OID_CONTENT_TYPE {
            let value = single_value(values)?;
            parsed.content_type = Some(value.decode_as().map_err(mal("content-type attribute"))?);
        } else if oid == OID_MESSAGE_DIGEST {
            let value = single_value(values)?;
            if value.tag() != Tag::OctetString {
                return Err(unexpected(
                    "message-digest attribute",
                    Tag::OctetString,
                    value.tag(),
                ));
            }
            parsed.message_digest = Some(value.value().to_vec());
        } else if oid == OID_SIGNING_CERTIFICATE {
            parsed
                .signing_certificates
                .push(parse_ess(single_value(values)?, false)?);
        } else if oid == OID_SIGNING_CERTIFICATE_V2 {
            parsed
                .signing_certificates
                .push(parse_ess(single_value(values)?, true)?);
        }
    }
    Ok(parsed)
}

fn single_value(values: AnyRef<'_>) -> Result<AnyRef<'_>, TimestampError> {
    let mut values = Fields::new(values, Tag::Set, "attribute values")?;
    let value = values.next()?;
    if !values.is_finished() {
        return Err(TimestampError::Malformed {
            what: "attribute values",
            why: "more than one value".to_owned(),
        });
    }
    Ok(value)
}

/// The first certificate identifier of an ESS signing-certificate attribute; it names the
/// signing certificate (RFC 2634 §5.4, RFC 5035 §3).
///
/// ```text
/// SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies … OPTIONAL }
/// ESSCertID   ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial IssuerSerial OPTIONAL }
/// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256,
///                            certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }
/// ```
fn parse_ess(value: AnyRef<'_>, v2: bool) -> Result<EssCertId, TimestampError> {
    const WHAT: &str = "ESS signing-certificate attribute";
    let mut outer = Fields::new(value, Tag::Sequence, WHAT)?;
    let mut certs = Fields::new(outer.next()?, Tag::Sequence, WHAT)?;
    let mut first = Fields::new(certs.next()?, Tag::Sequence, WHAT)?;
    if !v2 {
        return Ok(EssCertId::V1(
            first.next_tagged(Tag::OctetString)?.value().to_vec(),
        ));
    }
    let algorithm = if first.peek_tag() == Some(Tag::Sequence) {
        hash_algorithm(first.decode::<AlgorithmIdentifierRef<'_>>()?.oid)?
    } else {
        HashAlgorithm::Sha256
    };
    let hash = first.next_tagged(Tag::OctetString)?.value().to_vec();
    Ok(EssCertId::V2 { algorithm, hash })
}

struct TstInfo {
    gen_time: UnixTime,
    message_imprint: MessageImprint,
    serial: Vec<u8>,
    policy: ObjectIdentifier,
    nonce: Option<Vec<u8>>,
}

/// ```text
/// TSTInfo ::= SEQUENCE {
///   version INTEGER { v1(1) }, policy TSAPolicyId,
///   messageImprint SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING },
///   serialNumber INTEGER, genTime GeneralizedTime,
///   accuracy Accuracy OPTIONAL, ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL,
///   tsa [0] GeneralName OPTIONAL, extensions [1] IMPLICIT Extensions OPTIONAL }
/// ```
fn parse_tst_info(der: &[u8]) -> Result<TstInfo, TimestampError> {
    const WHAT: &str = "TSTInfo";
    let tst = AnyRef::from_der(der).map_err(mal(WHAT))?;
    let mut fields = Fields::new(tst, Tag::Sequence, WHAT)?;
    let version: u32 = fields.decode()?;
    if version != 1 {
        return Err(TimestampError::Malformed {
            what: WHAT,
            why: format!("version {version}, not 1"),
        });
    }
    let policy: ObjectIdentifier = fields.decode()?;
    let mut imprint = Fields::new(fields.next()?, Tag::Sequence, "messageImprint")?;
    let algorithm = hash_algorithm(imprint.decode::<AlgorithmIdentifierRef<'_>>()?.oid)?;
    let hashed = imprint.next_tagged(Tag::OctetString)?.value().to_vec();
    imprint.finish()?;
    let serial = fields.next_tagged(Tag::Integer)?.value().to_vec();
    let gen_time = generalized_time(fields.next_tagged(Tag::GeneralizedTime)?.value())?;
    let _accuracy = fields.optional(Tag::Sequence)?;
    let _ordering = fields.optional(Tag::Boolean)?;
    let nonce = fields
        .optional(Tag::Integer)?
        .map(|nonce| nonce.value().to_vec());
    let _tsa = fields.optional(context(0, true))?;
    let _extensions = fields.optional(context(1, true))?;
    fields.finish()?;
    Ok(TstInfo {
        gen_time,
        message_imprint: MessageImprint {
            algorithm,
            digest: hashed,
        },
        serial,
        policy,
        nonce,
    })
}

/// `YYYYMMDDhhmmss[.f…]Z` (RFC 3161 §2.4.2: UTC, fraction optional). der's `GeneralizedTime`
/// refuses fractions, which TSAs may send, hence this. The fraction is dropped.
fn generalized_time(value: &[u8]) -> Result<UnixTime, TimestampError> {
    let bad = || TimestampError::Malformed {
        what: "genTime",
        why: format!(
            "not a UTC GeneralizedTime: {:?}",
            String::from_utf8_lossy(value)
        ),
    };
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (digits, rest) = text.split_at_checked(14).ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let fraction = rest.strip_suffix('Z').ok_or_else(bad)?;
    if !fraction.is_empty() {
        let f = fraction.strip_prefix('.').ok_or_else(bad)?;
        // DER: at least one digit, no trailing zero.
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) || f.ends_with('0') {
            return Err(bad());
        }
    }
    let part = |range: std::ops::Range<usize>| digits.get(range).ok_or_else(bad);
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(8..10)?,
        part(10..12)?,
        part(12..14)?
    );
    UnixTime::parse_rfc3339(&rfc3339).ok_or_else(bad)
}

/// Reads the fields inside one constructed value, naming `what` in every error.
struct Fields<'a> {
    reader: SliceReader<'a>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    /// The fields of `any`, which must carry `tag`.
    fn new(any: AnyRef<'a>, tag: Tag, what: &'static str) -> Result<Self, TimestampError> {
        if any.tag() != tag {
            return Err(unexpected(what, tag, any.tag()));
        }
        Self::of_value(any.value(), what)
    }

    /// The TLVs in `bytes`.
    fn of_value(bytes: &'a [u8], what: &'static str) -> Result<Self, TimestampError> {
        Ok(Self {
            reader: SliceReader::new(bytes).map_err(mal(what))?,
            what,
        })
    }

    fn is_finished(&self) -> bool {
        self.reader.is_finished()
    }

    fn peek_tag(&self) -> Option<Tag> {
        if self.is_finished() {
            return None;
        }
        Tag::peek(&self.reader).ok()
    }

    /// The next TLV and its raw bytes.
    fn next_raw(&mut self) -> Result<(AnyRef<'a>, &'a [u8]), TimestampError> {
        if self.is_finished() {
            return Err(TimestampError::Malformed {
                what: self.what,
                why: "a required field is missing".to_owned(),
            });
        }
        let raw = self.reader.tlv_bytes().map_err(mal(self.what))?;
        let any = AnyRef::from_der(raw).map_err(mal(self.what))?;
        Ok((any, raw))
    }

    fn next(&mut self) -> Result<AnyRef<'a>, TimestampError> {
        self.next_raw().map(|(any, _)| any)
    }

    fn next_tagged(&mut self, tag: Tag) -> Result<AnyRef<'a>, TimestampError> {
        let any = self.next()?;
        if any.tag() != tag {
            return Err(unexpected(self.what, tag, any.tag()));
        }
        Ok(any)
    }

    /// The next TLV if it carries `tag`.
    fn optional(&mut self, tag: Tag) -> Result<Option<AnyRef<'a>>, TimestampError> {
        if self.peek_tag() == Some(tag) {
            self.next().map(Some)
        } else {
            Ok(None)
        }
    }

    /// `[n] EXPLICIT`: the single TLV inside.
    fn explicit(&mut self, n: u32) -> Result<AnyRef<'a>, TimestampError> {
        let wrapper = self.next_tagged(context(n, true))?;
        AnyRef::from_der(wrapper.value()).map_err(mal(self.what))
    }

    fn decode<T: Decode<'a, Error = der::Error>>(&mut self) -> Result<T, TimestampError> {
        self.reader.decode().map_err(mal(self.what))
    }

    fn finish(self) -> Result<(), TimestampError> {
        if self.is_finished() {
            Ok(())
        } else {
            Err(TimestampError::Malformed {
                what: self.what,
                why: "unexpected trailing fields".to_owned(),
            })
        }
    }
}

fn context(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number),
    }
}

fn mal(what: &'static str) -> impl Fn(der::Error) -> TimestampError {
    move |e| TimestampError::Malformed {
        what,
        why: e.to_string(),
    }
}

fn unexpected(what: &'static str, expected: Tag, found: Tag) -> TimestampError {
    TimestampError::Malformed {
        what,
        why: format!("expected {expected}, found {found}"),
    }
}

#[cfg(test)]
mod tests;
