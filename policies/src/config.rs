//! The `[trust]` and `[policy]` tables of sealgate's configuration, as written. Paths are read
//! by the caller (the proxy) through a loader function, so this crate does no I/O; everything
//! is validated into a [`crate::policy::Policy`] by [`crate::policy::Policy::build`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::RsaScheme;
use crate::pki::EkuPolicy;

/// `[trust]`: named signers and revocations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    /// `[trust.keys.<name>]`: public keys.
    #[serde(default)]
    pub keys: BTreeMap<String, RawKey>,
    /// `[trust.pki.<name>]`: enterprise CA bundles.
    #[serde(default)]
    pub pki: BTreeMap<String, RawPki>,
    /// `[trust.keyless.<name>]`: Fulcio + Rekor identities from a sigstore trusted root.
    #[serde(default)]
    pub keyless: BTreeMap<String, RawKeyless>,
    /// `[[trust.revoked_keys]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_keys: Vec<RawRevokedKey>,
    /// `[[trust.revoked_certs]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_certs: Vec<RawRevokedCert>,
}

/// `[trust.keys.<name>]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// PEM public key file (cosign.pub).
    pub path: String,
    /// Padding of RSA signatures.
    #[serde(default)]
    pub rsa_scheme: RsaScheme,
    /// A sigstore `trusted_root.json`: when set, every signature by this key must also be
    /// recorded in one of its transparency logs (Rekor), verified offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<String>,
}

/// `[trust.keyless.<name>]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyless {
    /// A sigstore `trusted_root.json` (Fulcio CAs, Rekor keys), as a file: never fetched.
    pub trusted_root: String,
    /// Glob the certificate's SAN (e-mail or URI) must match, e.g.
    /// `https://github.com/org/repo/.github/workflows/release.yml@refs/tags/*`.
    pub san: String,
    /// Glob the OIDC issuer must match, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
}

/// When a certificate's validity is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningTime {
    /// At the time sealgate first observed the signature (recorded in its index); a signature
    /// made while the certificate was valid stays valid after the certificate expires.
    #[default]
    Observed,
    /// At verification time: a signature stops verifying when its certificate expires.
    Now,
    /// At the time a transparency log (Rekor, from `trusted_root`) recorded the signature; a
    /// signature without a verified log entry is refused.
    Tlog,
}

/// `[trust.pki.<name>]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPki {
    /// PEM file with the root certificate(s).
    pub roots: String,
    /// PEM file with intermediates, when signatures do not carry their chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediates: Option<String>,
    /// CRL files (PEM or DER), each issued by a root or intermediate of this bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crls: Vec<String>,
    /// What the signing certificate's EKU must say.
    #[serde(default)]
    pub eku: EkuPolicy,
    /// When certificate validity is checked.
    #[serde(default)]
    pub signing_time: SigningTime,
    /// The sigstore `trusted_root.json` whose logs prove signing times (`signing_time = "tlog"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<String>,
    /// Identity constraints (globs).
    #[serde(default)]
    pub identity: RawIdentity,
}

/// Identity constraints on a certificate; every one set must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// Subject DN pattern (`CN=ci-*,O=Example`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// SAN e-mail pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub san_email: Option<String>,
    /// SAN URI pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub san_uri: Option<String>,
    /// SAN DNS pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub san_dns: Option<String>,
}

/// `[[trust.revoked_keys]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRevokedKey {
    /// `sha256:<hex>` of the key's DER SubjectPublicKeyInfo (as `sealgate` prints it).
    pub fingerprint: String,
    /// Why (shown to people refused because of it).
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// `[[trust.revoked_certs]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRevokedCert {
    /// Issuer DN as sealgate prints it (RFC 4514).
    pub issuer: String,
    /// Serial number in hex.
    pub serial: String,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// `[policy]`: the default scope and the repository scopes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `[policy.default]`: applies to repositories no scope matches.
    #[serde(default)]
    pub default: RawScope,
    /// `[[policy.scope]]`: each with `repositories = "<glob>"`; the most specific match wins.
    #[serde(default, rename = "scope", skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<RawScope>,
}

/// How a scope acts on its decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse what is not admitted.
    #[default]
    Enforce,
    /// Allow, with an OCI `Warning` header and an audit event.
    Warn,
    /// Allow, with an audit event only.
    Audit,
}

/// How many of a scope's signers must have signed: `"any"`, `"all"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawRequire {
    /// `"any"` or `"all"`.
    Word(RequireWord),
    /// At least N distinct signers.
    Threshold(u32),
}

/// `require = "any" | "all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequireWord {
    /// One signer suffices.
    Any,
    /// Every listed signer.
    All,
}

/// What happens to a manifest pushed by tag without a valid signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsignedPush {
    /// 403 DENIED, with instructions.
    #[default]
    Reject,
    /// Stored upstream by digest, tag held pending until a signature arrives or the TTL passes.
    Quarantine,
}

/// One scope (`[policy.default]` or `[[policy.scope]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    /// Repository glob (`prod/**`, `team-*/api`); not set on the default scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<String>,
    /// enforce, warn or audit.
    #[serde(default)]
    pub mode: Mode,
    /// Names from `[trust.keys]` / `[trust.pki]` / `[trust.keyless]`.
    #[serde(default)]
    pub signers: Vec<String>,
    /// `"any"` (the default), `"all"` or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<RawRequire>,
    /// Tags point at one digest forever.
    #[serde(default = "yes")]
    pub immutable_tags: bool,
    /// Tag globs that may move (history is kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutable_tags: Vec<String>,
    /// reject or quarantine.
    #[serde(default)]
    pub unsigned_push: UnsignedPush,
    /// How long a quarantined tag waits for its signature.
    #[serde(default = "day", with = "humantime_serde")]
    pub quarantine_ttl: Duration,
    /// Serve blobs only when they belong to an admitted manifest.
    #[serde(default)]
    pub gate_blobs: bool,
    /// When the upstream's tag moved away from the pin (drift), move the pin too, but only if
    /// the new digest is admitted; the old digest stays in the pin's history.
    #[serde(default)]
    pub follow_drift: bool,
    /// Mirrored content signed under another name: subject repositories starting with `prefix`
    /// were signed as `signed_prefix` + the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remap: Option<RawRemap>,
    /// The in-toto `predicateType`s of a DSSE statement that make it an image signature here;
    /// statements with any other predicate are attestations and admit nothing. cosign v3 signs
    /// images with `https://sigstore.dev/cosign/sign/v1`, the default.
    #[serde(default = "cosign_sign_predicate")]
    pub signature_predicate_types: Vec<String>,
}

impl Default for RawScope {
    fn default() -> Self {
        Self {
            repositories: None,
            mode: Mode::Enforce,
            signers: Vec::new(),
            require: None,
            immutable_tags: true,
            mutable_tags: Vec::new(),
            unsigned_push: UnsignedPush::Reject,
            quarantine_ttl: day(),
            gate_blobs: false,
            follow_drift: false,
            remap: None,
            signature_predicate_types: cosign_sign_predicate(),
        }
    }
}

/// `remap = { prefix = "mirror/", signed_prefix = "" }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemap {
    /// Prefix of the repository in sealgate.
    pub prefix: String,
    /// Prefix it was signed under.
    pub signed_prefix: String,
}

fn cosign_sign_predicate() -> Vec<String> {
    vec![crate::statement::COSIGN_SIGN_PREDICATE.to_owned()]
}

fn yes() -> bool {
    true
}

fn day() -> Duration {
    Duration::from_secs(24 * 3600)
}
