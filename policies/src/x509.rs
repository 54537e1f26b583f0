//! What sealgate reads out of an X.509 certificate: names, validity, SANs, EKU, the Fulcio OIDC
//! issuer, and the public key. Parsing is x509-cert's; chain building is webpki's (see `pki`).

use der::asn1::{Ia5String, ObjectIdentifier, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName, name::GeneralName,
};

use crate::crypto::{Fingerprint, KeyError, PublicKey, RsaScheme};
use crate::time::UnixTime;

/// id-kp-codeSigning.
pub(crate) const OID_CODE_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Its DER value bytes, as webpki's `KeyUsage::required` takes them.
pub(crate) const CODE_SIGNING_OID_BYTES: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer, raw string (deprecated but still written).
const OID_FULCIO_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer, DER UTF8String.
const OID_FULCIO_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Not PEM, or no CERTIFICATE block.
    #[error("not a PEM certificate: {0}")]
    Pem(crate::crypto::PemError),
    /// The DER does not parse as an X.509 certificate.
    #[error("malformed certificate: {0}")]
    Der(String),
    /// An extension sealgate reads is malformed.
    #[error("malformed {what} extension: {why}")]
    Extension {
        /// Which extension.
        what: &'static str,
        /// The parse error.
        why: String,
    },
    /// The certificate's key is unusable.
    #[error("certificate key: {0}")]
    Key(#[from] KeyError),
}

/// The facts sealgate uses from one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The DER bytes.
    pub der: Vec<u8>,
    /// Subject DN (RFC 4514 string).
    pub subject: String,
    /// Issuer DN (RFC 4514 string).
    pub issuer: String,
    /// Serial number, lower-case hex without leading zeros.
    pub serial: String,
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
    /// `rfc822Name` SANs.
    pub san_emails: Vec<String>,
    /// `uniformResourceIdentifier` SANs.
    pub san_uris: Vec<String>,
    /// `dNSName` SANs.
    pub san_dns: Vec<String>,
    /// Fulcio's OIDC issuer extension, when present.
    pub oidc_issuer: Option<String>,
    /// Whether an EKU extension is present and lists codeSigning.
    pub code_signing: bool,
    /// Whether an EKU extension is present at all.
    pub has_eku: bool,
    /// `basicConstraints cA=TRUE`.
    pub is_ca: bool,
    /// Whether it may sign certificates: no keyUsage extension, or one asserting keyCertSign
    /// (RFC 5280 §4.2.1.3; a CA without it issues nothing, §6.1.4 (n)).
    pub cert_sign: bool,
    /// The subject public key.
    pub public_key: PublicKey,
}

impl CertificateInfo {
    /// Parses the first CERTIFICATE block of `pem`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        let der = crate::crypto::pem_block(pem, "CERTIFICATE").map_err(CertError::Pem)?;
        Self::from_der(&der)
    }

    /// Parses every CERTIFICATE block of `pem`, in order.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        crate::crypto::pem_blocks(pem, "CERTIFICATE")
            .map_err(CertError::Pem)?
            .iter()
            .map(|der| Self::from_der(der))
            .collect()
    }

    /// Parses DER, or PEM when the bytes start with `-----BEGIN`.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, CertError> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Self::from_pem(bytes)
        } else {
            Self::from_der(bytes)
        }
    }

    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let cert = Certificate::from_der(der).map_err(|e| CertError::Der(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let mut info = Self {
            der: der.to_vec(),
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial: serial_hex(tbs.serial_number().as_bytes()),
            not_before: UnixTime(validity.not_before.to_unix_duration().as_secs()),
            not_after: UnixTime(validity.not_after.to_unix_duration().as_secs()),
            san_emails: Vec::new(),
            san_uris: Vec::new(),
            san_dns: Vec::new(),
            oidc_issuer: None,
            code_signing: false,
            has_eku: false,
            is_ca: false,
            cert_sign: true,
            public_key: PublicKey::from_spki_der(
                &tbs.subject_public_key_info()
                    .to_der()
                    .map_err(|e| CertError::Der(e.to_string()))?,
                RsaScheme::Pkcs1,
            )?,
        };
        let ext_err = |what| {
            move |e: der::Error| CertError::Extension {
                what,
                why: e.to_string(),
            }
        };
        if let Some((_, san)) = tbs
            .get_extension::<SubjectAltName>()
            .map_err(ext_err("subjectAltName"))?
        {
            for name in san.0 {
                match name {
                    GeneralName::Rfc822Name(v) => info.san_emails.push(ia5(&v)),
                    GeneralName::UniformResourceIdentifier(v) => info.san_uris.push(ia5(&v)),
                    GeneralName::DnsName(v) => info.san_dns.push(ia5(&v)),
                    _ => {}
                }
            }
        }
        if let Some((_, eku)) = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(ext_err("extendedKeyUsage"))?
        {
            info.has_eku = true;
            info.code_signing = eku.0.contains(&OID_CODE_SIGNING);
        }
        if let Some((_, bc)) = tbs
            .get_extension::<BasicConstraints>()
            .map_err(ext_err("basicConstraints"))?
        {
            info.is_ca = bc.ca;
        }
        if let Some((_, ku)) = tbs
            .get_extension::<KeyUsage>()
            .map_err(ext_err("keyUsage"))?
        {
            info.cert_sign = ku.key_cert_sign();
        }
        for ext in tbs.extensions().into_iter().flatten() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == OID_FULCIO_ISSUER_V2 {
                let s = Utf8StringRef::from_der(value).map_err(ext_err("Fulcio OIDC issuer"))?;
                info.oidc_issuer = Some(s.as_str().to_owned());
            } else if ext.extn_id == OID_FULCIO_ISSUER_V1 && info.oidc_issuer.is_none() {
                info.oidc_issuer = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        Ok(info)
    }

    /// The certificate's SHA-256 fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_der(&self.der)
    }
}

fn ia5(v: &Ia5String) -> String {
    v.to_string()
}

/// Lower-case hex without leading zero bytes, the form `revoke cert <issuer> <serial>` takes.
pub fn serial_hex(bytes: &[u8]) -> String {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => &[0],
    };
    hex::encode(trimmed)
}
