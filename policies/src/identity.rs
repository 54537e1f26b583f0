//! Identity constraints on a signing certificate: subject DN, SAN e-mail / URI / DNS, and the
//! Fulcio OIDC issuer, each a glob. Every configured constraint must hold.

use crate::glob::Glob;
use crate::x509::CertificateInfo;

/// Which certificate field a constraint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityField {
    /// The subject DN (RFC 4514 string, e.g. `CN=ci,O=Example`).
    Subject,
    /// An `rfc822Name` SAN.
    SanEmail,
    /// A `uniformResourceIdentifier` SAN.
    SanUri,
    /// A `dNSName` SAN.
    SanDns,
    /// Fulcio's OIDC issuer extension.
    OidcIssuer,
}

impl std::fmt::Display for IdentityField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Subject => "subject",
            Self::SanEmail => "SAN e-mail",
            Self::SanUri => "SAN URI",
            Self::SanDns => "SAN DNS name",
            Self::OidcIssuer => "OIDC issuer",
        })
    }
}

/// A certificate whose identity is not the one required.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate {field} {found:?} does not match {expected:?}")]
pub struct IdentityMismatch {
    /// The field.
    pub field: IdentityField,
    /// The configured pattern.
    pub expected: String,
    /// What the certificate holds (values joined with `, `; empty when absent).
    pub found: String,
}

/// Constraints on a certificate's identity; unset ones are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityConstraints {
    /// Pattern for the subject DN.
    pub subject: Option<Glob>,
    /// Pattern one SAN e-mail must match.
    pub san_email: Option<Glob>,
    /// Pattern one SAN URI must match.
    pub san_uri: Option<Glob>,
    /// Pattern one SAN DNS name must match.
    pub san_dns: Option<Glob>,
    /// Pattern the OIDC issuer must match.
    pub oidc_issuer: Option<Glob>,
}

impl IdentityConstraints {
    /// Whether nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Checks every configured constraint against `cert`.
    pub fn check(&self, cert: &CertificateInfo) -> Result<(), IdentityMismatch> {
        let subject = std::slice::from_ref(&cert.subject);
        let issuer: &[String] = cert.oidc_issuer.as_slice();
        let checks: [(IdentityField, &Option<Glob>, &[String]); 5] = [
            (IdentityField::Subject, &self.subject, subject),
            (IdentityField::SanEmail, &self.san_email, &cert.san_emails),
            (IdentityField::SanUri, &self.san_uri, &cert.san_uris),
            (IdentityField::SanDns, &self.san_dns, &cert.san_dns),
            (IdentityField::OidcIssuer, &self.oidc_issuer, issuer),
        ];
        for (field, pattern, values) in checks {
            if let Some(pattern) = pattern
                && !values.iter().any(|v| pattern.matches(v))
            {
                return Err(IdentityMismatch {
                    field,
                    expected: pattern.to_string(),
                    found: values.join(", "),
                });
            }
        }
        Ok(())
    }
}
