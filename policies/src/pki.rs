//! Enterprise PKI: CA bundles (roots plus optional intermediates), CRLs, and the chain check a
//! signing certificate must pass: a path to a configured root, valid at the given time, the
//! codeSigning EKU, and not revoked by any loaded CRL. Path building is webpki's.

use std::sync::Arc;

use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_cert::crl::CertificateList;

use crate::time::UnixTime;
use crate::x509::{CODE_SIGNING_OID_BYTES, CertError, CertificateInfo};

mod memo;
use memo::SignatureMemo;

/// The signature algorithms certificate paths may use: webpki's default set (ECDSA P-256/P-384,
/// Ed25519, RSA PKCS#1 and PSS), computed by aws-lc-rs.
pub(crate) static VERIFICATION_ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = {
    use webpki::aws_lc_rs as a;
    &[
        a::ECDSA_P256_SHA256,
        a::ECDSA_P256_SHA384,
        a::ECDSA_P384_SHA256,
        a::ECDSA_P384_SHA384,
        a::ED25519,
        a::RSA_PKCS1_2048_8192_SHA256,
        a::RSA_PKCS1_2048_8192_SHA384,
        a::RSA_PKCS1_2048_8192_SHA512,
        a::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        a::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        a::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        a::RSA_PKCS1_3072_8192_SHA384,
        a::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        a::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        a::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    ]
};

/// Trust material that cannot be loaded (reported by `check-config`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A certificate in the bundle does not parse.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The bundle holds no root certificate.
    #[error("no CERTIFICATE in the roots file")]
    NoRoots,
    /// A root or intermediate is not a CA (`basicConstraints cA=TRUE` missing).
    #[error("{subject} is not a CA certificate (basicConstraints cA is not set)")]
    NotCa {
        /// Its subject.
        subject: String,
    },
    /// A CA whose keyUsage lacks keyCertSign may not issue certificates (RFC 5280 §6.1.4).
    #[error("{subject} is a CA whose keyUsage lacks keyCertSign: it cannot issue certificates")]
    NoCertSign {
        /// Its subject.
        subject: String,
    },
    /// A CA whose extended key usage excludes code signing cannot issue signing certificates.
    #[error("{subject} restricts its extended key usage and does not allow codeSigning")]
    NoCodeSigningUse {
        /// Its subject.
        subject: String,
    },
    /// A root cannot be used as a webpki trust anchor.
    #[error("{subject} cannot be a trust anchor: {why}")]
    Anchor {
        /// Its subject.
        subject: String,
        /// webpki's reason.
        why: String,
    },
    /// A CRL does not parse (PEM `X509 CRL` or DER).
    #[error("malformed CRL: {0}")]
    CrlMalformed(String),
    /// A CRL's signature does not verify with its issuer's key.
    #[error("CRL issued by {issuer} is not signed by that CA's key")]
    CrlSignature {
        /// The CRL's issuer.
        issuer: String,
    },
}

/// Why a signing certificate does not chain to a trusted root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The certificate (or one above it) had expired at the time checked.
    #[error("certificate expired: not after {not_after}, checked at {at}")]
    Expired {
        /// End of validity.
        not_after: UnixTime,
        /// The time checked.
        at: UnixTime,
    },
    /// The certificate (or one above it) was not valid yet at the time checked.
    #[error("certificate not valid yet: not before {not_before}, checked at {at}")]
    NotYetValid {
        /// Start of validity.
        not_before: UnixTime,
        /// The time checked.
        at: UnixTime,
    },
    /// No path to a configured root.
    #[error("certificate does not chain to a trusted root")]
    UnknownIssuer,
    /// A certificate on the path is listed in a CRL.
    #[error("certificate is revoked by a CRL of its issuer")]
    Revoked,
    /// The leaf lacks the codeSigning extended key usage.
    #[error("certificate lacks the codeSigning extended key usage")]
    NoCodeSigningEku,
    /// A signature on the path is wrong.
    #[error("a certificate on the path has an invalid signature")]
    BadSignature,
    /// A CRL needed for the path is past its nextUpdate.
    #[error("the CRL covering this certificate expired at {next_update}; load a fresh one")]
    CrlExpired {
        /// The CRL's nextUpdate.
        next_update: UnixTime,
    },
    /// A CA on the path has a keyUsage without keyCertSign (RFC 5280 §6.1.4; webpki does not
    /// check it).
    #[error("{subject} issued a certificate on the path but its keyUsage lacks keyCertSign")]
    NoCertSign {
        /// The CA's subject.
        subject: String,
    },
    /// A CA certificate was presented as the signer.
    #[error("a CA certificate cannot sign artifacts")]
    CaAsLeaf,
    /// Any other path-building failure, with webpki's words.
    #[error("certificate path rejected: {0}")]
    Other(String),
}

/// What a signing certificate must say about its extended key usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EkuPolicy {
    /// The leaf must carry an EKU extension listing codeSigning (the default).
    #[default]
    Required,
    /// A leaf without any EKU extension is accepted; one with EKU must list codeSigning. This is
    /// what Go's x509 (and so cosign and containers/image) accepts; some enterprise CAs issue
    /// signing certificates without EKU.
    IfPresent,
}

/// Who issued a CRL added to a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlIssuer {
    /// A root or intermediate of the bundle, whose key verified the CRL.
    Bundle,
    /// A CA the bundle does not hold: the CRL applies only to chains that carry it, and is
    /// verified there. A CRL no signature's chain reaches revokes nothing, so loading one is
    /// worth a warning.
    Presented {
        /// The CRL's issuer.
        issuer: String,
    },
}

/// A configured PKI root: its CA certificates and CRLs.
#[derive(Debug, Clone)]
pub struct CaBundle {
    roots: Vec<CertificateInfo>,
    intermediates: Vec<CertificateInfo>,
    /// The roots as webpki trust anchors.
    anchors: Vec<TrustAnchor<'static>>,
    /// Shared, not cloned per verification (a CRL can list thousands of serials).
    crls: Vec<Arc<CertRevocationList<'static>>>,
    eku: EkuPolicy,
    /// The configured intermediates' and CRLs' signatures, checked once per load (clones share it).
    memo: Arc<SignatureMemo>,
}

impl CaBundle {
    /// Builds a bundle from PEM roots and optional PEM intermediates, checking that each is a CA
    /// whose EKU (if it has one) allows code signing.
    pub fn from_pem(roots: &[u8], intermediates: Option<&[u8]>) -> Result<Self, PkiError> {
        let roots = CertificateInfo::all_from_pem(roots)?;
        let intermediates = match intermediates {
            Some(pem) => CertificateInfo::all_from_pem(pem)?,
            None => Vec::new(),
        };
        Self::from_certificates(roots, intermediates)
    }

    /// Builds a bundle from parsed certificates (a sigstore trusted root's Fulcio chains).
    pub fn from_certificates(
        roots: Vec<CertificateInfo>,
        intermediates: Vec<CertificateInfo>,
    ) -> Result<Self, PkiError> {
        if roots.is_empty() {
            return Err(PkiError::NoRoots);
        }
        for ca in roots.iter().chain(&intermediates) {
            check_ca(ca)?;
        }
        // Every root must be usable as an anchor: found now rather than at the first push, and
        // parsed once rather than on every verification.
        let anchors = roots
            .iter()
            .map(|root| {
                let der = CertificateDer::from(root.der.as_slice());
                webpki::anchor_from_trusted_cert(&der)
                    .map(|a| a.to_owned())
                    .map_err(|e| PkiError::Anchor {
                        subject: root.subject.clone(),
                        why: format!("{e:?}"),
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut memo = SignatureMemo::default();
        for ca in &intermediates {
            // Parsed at load already; a certificate that does not re-encode is just not watched.
            if let Ok(cert) = x509_cert::Certificate::from_der(&ca.der)
                && let Ok(tbs) = cert.tbs_certificate().to_der()
                && let Some(signature) = cert.signature().as_bytes()
            {
                memo.watch(&tbs, signature);
            }
        }
        Ok(Self {
            roots,
            intermediates,
            anchors,
            crls: Vec::new(),
            eku: EkuPolicy::Required,
            memo: Arc::new(memo),
        })
    }

    /// Sets what the leaf's EKU must say.
    pub fn with_eku_policy(mut self, eku: EkuPolicy) -> Self {
        self.eku = eku;
        self
    }

    /// Roots of the bundle.
    pub fn roots(&self) -> &[CertificateInfo] {
        &self.roots
    }

    /// Configured intermediates.
    pub fn intermediates(&self) -> &[CertificateInfo] {
        &self.intermediates
    }

    /// Adds a CRL (PEM `X509 CRL` or DER). One issued by a certificate of the bundle must be
    /// signed by it. One issued by another CA is kept for signatures whose chain carries that CA
    /// (enterprise PKIs publish a CRL per issuing CA, and cosign carries the chain): it applies
    /// when its issuer is on the verified path of a certificate, its signature verified with
    /// that CA's key there (webpki), and is then as binding as any other.
    pub fn add_crl(&mut self, bytes: &[u8]) -> Result<CrlIssuer, PkiError> {
        let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            crate::crypto::pem_block(bytes, "X509 CRL")
                .map_err(|e| PkiError::CrlMalformed(e.to_string()))?
        } else {
            bytes.to_vec()
        };
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der)
            .map_err(|e| PkiError::CrlMalformed(e.to_string()))?;
        let issuer = crl.tbs_cert_list.issuer.to_string();
        let tbs = crl
            .tbs_cert_list
            .to_der()
            .map_err(|e| PkiError::CrlMalformed(e.to_string()))?;
        let signature = crl
            .signature
            .as_bytes()
            .ok_or_else(|| PkiError::CrlMalformed("signature has unused bits".to_owned()))?;
        let mut candidates = self
            .roots
            .iter()
            .chain(&self.intermediates)
            .filter(|c| c.subject == issuer)
            .peekable();
        let found = if candidates.peek().is_none() {
            CrlIssuer::Presented { issuer }
        } else if candidates.any(|ca| ca.public_key.verify(&tbs, signature).is_ok()) {
            CrlIssuer::Bundle
        } else {
            return Err(PkiError::CrlSignature { issuer });
        };
        let owned = OwnedCertRevocationList::from_der(&der)
            .map_err(|e| PkiError::CrlMalformed(format!("{e:?}")))?;
        self.crls.push(Arc::new(CertRevocationList::Owned(owned)));
        Arc::make_mut(&mut self.memo).watch(&tbs, signature);
        Ok(found)
    }

    /// Checks that `leaf` chains to a root at `at`, with codeSigning and no revocation.
    /// `presented` are intermediates that came with the signature (cosign's chain annotation);
    /// a presented root is ignored unless it is also configured.
    pub fn verify(
        &self,
        leaf: &CertificateInfo,
        presented: &[CertificateInfo],
        at: UnixTime,
    ) -> Result<(), ChainError> {
        if leaf.is_ca {
            return Err(ChainError::CaAsLeaf);
        }
        // webpki applies one EKU rule to every certificate on the path. The leaf's rule is
        // checked here; CAs may omit EKU but must not exclude codeSigning.
        let leaf_ok = match self.eku {
            EkuPolicy::Required => leaf.code_signing,
            EkuPolicy::IfPresent => leaf.code_signing || !leaf.has_eku,
        };
        if !leaf_ok {
            return Err(ChainError::NoCodeSigningEku);
        }
        let intermediates: Vec<CertificateDer<'_>> = self
            .intermediates
            .iter()
            .chain(presented)
            .map(|c| CertificateDer::from(c.der.as_slice()))
            .collect();
        let leaf_der = CertificateDer::from(leaf.der.as_slice());
        let end_entity =
            EndEntityCert::try_from(&leaf_der).map_err(|e| ChainError::Other(format!("{e:?}")))?;
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().map(|c| &**c).collect();
        // A certificate whose issuer published no CRL here is not refused for that; a CRL that
        // is loaded must be current (failure closes the gate).
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .with_expiration_policy(ExpirationPolicy::Enforce)
                .build()
        });
        let algs = self.memo.wrap(VERIFICATION_ALGS);
        let algs: Vec<&dyn rustls_pki_types::SignatureVerificationAlgorithm> =
            algs.iter().map(|a| a as _).collect();
        let path = end_entity
            .verify_for_usage(
                &algs,
                &self.anchors,
                &intermediates,
                at.to_webpki(),
                KeyUsage::required_if_present(CODE_SIGNING_OID_BYTES),
                revocation,
                None,
            )
            .map_err(|e| chain_error(e, at))?;
        // Roots and configured intermediates were checked at load; a presented one here.
        for cert in path.intermediate_certificates() {
            let der = cert.der();
            if let Some(ca) = presented.iter().find(|c| c.der.as_slice() == der.as_ref())
                && !ca.cert_sign
            {
                return Err(ChainError::NoCertSign {
                    subject: ca.subject.clone(),
                });
            }
        }
        Ok(())
    }
}

fn check_ca(ca: &CertificateInfo) -> Result<(), PkiError> {
    if !ca.is_ca {
        return Err(PkiError::NotCa {
            subject: ca.subject.clone(),
        });
    }
    if !ca.cert_sign {
        return Err(PkiError::NoCertSign {
            subject: ca.subject.clone(),
        });
    }
    if ca.has_eku && !ca.code_signing {
        return Err(PkiError::NoCodeSigningUse {
            subject: ca.subject.clone(),
        });
    }
    Ok(())
}

fn secs(t: rustls_pki_types::UnixTime) -> UnixTime {
    UnixTime(t.as_secs())
}

/// webpki's path-building errors as typed reasons.
pub(crate) fn chain_error(e: webpki::Error, at: UnixTime) -> ChainError {
    use webpki::Error as E;
    match e {
        E::CertExpired { not_after, .. } => ChainError::Expired {
            not_after: secs(not_after),
            at,
        },
        E::CertNotValidYet { not_before, .. } => ChainError::NotYetValid {
            not_before: secs(not_before),
            at,
        },
        E::UnknownIssuer => ChainError::UnknownIssuer,
        E::CertRevoked => ChainError::Revoked,
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => ChainError::NoCodeSigningEku,
        E::InvalidSignatureForPublicKey => ChainError::BadSignature,
        E::CrlExpired { next_update, .. } => ChainError::CrlExpired {
            next_update: secs(next_update),
        },
        E::CaUsedAsEndEntity => ChainError::CaAsLeaf,
        other => ChainError::Other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests;
