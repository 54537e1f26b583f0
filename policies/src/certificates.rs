//! The certificates a trust configuration relies on, listed for expiry monitoring: the roots and
//! intermediates of each `[trust.pki.*]` bundle, and the Fulcio CA and timestamp-authority
//! certificates of the `trusted_root.json` files signers name.
//!
//! Nothing here decides anything; it reads what [`Policy::build`] loaded, so that the proxy can
//! export "seconds until this certificate expires" and the admin API can list what expires soon.

use std::fmt;

use der::Decode as _;
use x509_cert::Certificate;

use crate::policy::{Policy, SignerKind};
use crate::sigstore::AuthorityChain;
use crate::time::UnixTime;
use crate::x509::{CertificateInfo, serial_hex};

/// What a certificate is to the signer it is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TrustRole {
    /// A root of a `[trust.pki.*]` bundle (a trust anchor).
    Root,
    /// A configured intermediate of a `[trust.pki.*]` bundle.
    Intermediate,
    /// A certificate of a Fulcio CA chain in a `trusted_root.json` (keyless signers).
    FulcioCa,
    /// A certificate of an RFC 3161 timestamp authority chain in a `trusted_root.json`.
    TimestampAuthority,
}

impl TrustRole {
    /// A short, stable name: `root`, `intermediate`, `fulcio_ca`, `timestamp_authority` (used
    /// as a metric label, so it never changes).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
            Self::FulcioCa => "fulcio_ca",
            Self::TimestampAuthority => "timestamp_authority",
        }
    }
}

impl fmt::Display for TrustRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One certificate of the trust configuration, as [`Policy::trust_certificates`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustCertificate {
    /// The configured name of the signer that relies on it (a certificate shared by several
    /// signers, such as one trusted root's, is listed once per signer).
    pub signer: String,
    /// What it is to that signer.
    pub role: TrustRole,
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
}

impl TrustCertificate {
    /// Seconds from `now` until the certificate expires; negative once it has.
    pub fn seconds_to_expiry(&self, now: UnixTime) -> i64 {
        let not_after = i64::try_from(self.not_after.as_secs()).unwrap_or(i64::MAX);
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        not_after.saturating_sub(now)
    }

    /// Whether it expires before `now + within` seconds (or has expired already).
    pub fn expires_within(&self, now: UnixTime, within: u64) -> bool {
        self.not_after.as_secs() < now.as_secs().saturating_add(within)
    }
}

impl Policy {
    /// Every certificate the trust configuration relies on, signer by signer (in name order):
    ///
    /// - `[trust.pki.*]`: the bundle's roots, then its configured intermediates;
    /// - `[trust.keyless.*]`: the Fulcio CA chains and timestamp-authority chains of its
    ///   `trusted_root.json`;
    /// - a key or PKI signer with a `trusted_root`: that root's timestamp-authority chains (its
    ///   Fulcio CAs play no part in verifying those signers).
    ///
    /// Public keys have no expiry and are not listed. A certificate appears once per signer and
    /// role even when a trusted root repeats it in several chains. Historical CAs that a trusted
    /// root keeps for old signatures are listed too, and may have expired.
    pub fn trust_certificates(&self) -> Vec<TrustCertificate> {
        let mut out = Vec::new();
        for signer in self.signers() {
            let mut list = Listing {
                signer: &signer.name,
                seen: Vec::new(),
                out: &mut out,
            };
            match &signer.kind {
                SignerKind::Pki { bundle, tlog, .. } => {
                    for cert in bundle.roots() {
                        list.info(TrustRole::Root, cert);
                    }
                    for cert in bundle.intermediates() {
                        list.info(TrustRole::Intermediate, cert);
                    }
                    if let Some(trust) = tlog {
                        list.authorities(
                            TrustRole::TimestampAuthority,
                            trust.timestamp_authorities(),
                        );
                    }
                }
                SignerKind::Keyless { trust, .. } => {
                    list.authorities(TrustRole::FulcioCa, trust.certificate_authorities());
                    list.authorities(TrustRole::TimestampAuthority, trust.timestamp_authorities());
                }
                SignerKind::Key {
                    tlog: Some(trust), ..
                } => list.authorities(TrustRole::TimestampAuthority, trust.timestamp_authorities()),
                SignerKind::Key { tlog: None, .. } => {}
            }
        }
        out
    }
}

/// Collects one signer's certificates, skipping repeats.
struct Listing<'a> {
    signer: &'a str,
    /// (role, DER) already listed for this signer.
    seen: Vec<(TrustRole, Vec<u8>)>,
    out: &'a mut Vec<TrustCertificate>,
}

impl Listing<'_> {
    fn first_time(&mut self, role: TrustRole, der: &[u8]) -> bool {
        if self.seen.iter().any(|(r, d)| *r == role && d == der) {
            return false;
        }
        self.seen.push((role, der.to_vec()));
        true
    }

    fn info(&mut self, role: TrustRole, cert: &CertificateInfo) {
        if !self.first_time(role, &cert.der) {
            return;
        }
        self.out.push(TrustCertificate {
            signer: self.signer.to_owned(),
            role,
            subject: cert.subject.clone(),
            issuer: cert.issuer.clone(),
            serial: cert.serial.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
        });
    }

    fn authorities(&mut self, role: TrustRole, authorities: &[AuthorityChain]) {
        for der in authorities.iter().flat_map(|ca| &ca.certificates) {
            if !self.first_time(role, der) {
                continue;
            }
            // The trusted root parsed every certificate when it was loaded; only the names and
            // validity are read here (a TSA key sealgate cannot use still has an expiry).
            let Ok(cert) = Certificate::from_der(der) else {
                continue;
            };
            let tbs = cert.tbs_certificate();
            let validity = tbs.validity();
            self.out.push(TrustCertificate {
                signer: self.signer.to_owned(),
                role,
                subject: tbs.subject().to_string(),
                issuer: tbs.issuer().to_string(),
                serial: serial_hex(tbs.serial_number().as_bytes()),
                not_before: UnixTime(validity.not_before.to_unix_duration().as_secs()),
                not_after: UnixTime(validity.not_after.to_unix_duration().as_secs()),
            });
        }
    }
}

#[cfg(test)]
mod tests;
