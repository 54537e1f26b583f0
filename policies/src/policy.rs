//! The compiled policy: named signers, revocations, and repository scopes, validated at load.
//! Built once per configuration (re)load; every verdict carries its generation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    Mode, RawIdentity, RawPolicy, RawRequire, RawScope, RawTrust, RequireWord, SigningTime,
    UnsignedPush,
};
use crate::cosign::ReferenceRule;
use crate::crypto::{Fingerprint, PublicKey};
use crate::glob::Glob;
use crate::identity::IdentityConstraints;
use crate::oci::{RepoName, Tag};
use crate::pki::CaBundle;
use crate::sigstore::{KeylessIdentity, SigstoreTrust};
use crate::statement::SignaturePredicates;
use crate::time::UnixTime;

/// Trust material or policy that cannot be used, naming the key (and file) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    /// Dotted configuration key (`trust.pki.corp.crls[0]`).
    pub key: String,
    /// What is wrong, with the file when one is involved.
    pub message: String,
}

fn error(key: impl Into<String>, message: impl fmt::Display) -> PolicyError {
    PolicyError {
        key: key.into(),
        message: message.to_string(),
    }
}

/// A file named in the configuration that the caller's [`Loader`] could not read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct LoadError {
    /// The file, as the caller resolved it.
    pub path: PathBuf,
    /// Why it could not be read.
    pub source: std::io::Error,
}

/// Reads a file named in the configuration. Supplied by the caller so that this crate does no
/// I/O.
pub type Loader<'a> = dyn FnMut(&str) -> Result<Vec<u8>, LoadError> + 'a;

/// What kind of signer a name stands for, and its material.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignerKind {
    /// A public key, and the trusted root whose logs must record its signatures, if required.
    Key {
        /// The key.
        key: PublicKey,
        /// Rekor evidence required against this root.
        tlog: Option<Arc<SigstoreTrust>>,
    },
    /// Fulcio + Rekor: a certificate for an OIDC identity, logged in Rekor.
    Keyless {
        /// The trusted root.
        trust: Arc<SigstoreTrust>,
        /// Who must have signed.
        identity: KeylessIdentity,
    },
    /// An enterprise CA bundle with identity constraints.
    Pki {
        /// Roots, intermediates, CRLs.
        bundle: CaBundle,
        /// Who the certificate must name.
        identity: IdentityConstraints,
        /// When validity is checked.
        signing_time: SigningTime,
        /// The logs that prove signing times, for [`SigningTime::Tlog`].
        tlog: Option<Arc<SigstoreTrust>>,
    },
}

/// A named signer.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Its configured name (`ci-2024`).
    pub name: String,
    /// Its material.
    pub kind: SignerKind,
}

/// Why something was revoked, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The operator's reason.
    pub reason: String,
    /// When it was revoked.
    pub at: UnixTime,
}

/// Explicitly revoked keys and certificates. A revoked signer never verifies.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    keys: BTreeMap<Fingerprint, Revocation>,
    /// (issuer DN, serial hex without leading zeros)
    certs: BTreeMap<(String, String), Revocation>,
}

impl Revocations {
    /// The revocation of a key, if any.
    pub fn key(&self, fingerprint: &Fingerprint) -> Option<&Revocation> {
        self.keys.get(fingerprint)
    }

    /// The revocation of a certificate, if any.
    pub fn cert(&self, issuer: &str, serial: &str) -> Option<&Revocation> {
        self.certs
            .get(&(issuer.to_owned(), normalise_serial(serial)))
    }

    /// Adds a key revocation (the admin API does this at run time).
    pub fn revoke_key(&mut self, fingerprint: Fingerprint, revocation: Revocation) {
        self.keys.insert(fingerprint, revocation);
    }

    /// Adds a certificate revocation.
    pub fn revoke_cert(&mut self, issuer: &str, serial: &str, revocation: Revocation) {
        self.certs
            .insert((issuer.to_owned(), normalise_serial(serial)), revocation);
    }
}

fn normalise_serial(serial: &str) -> String {
    let lower = serial
        .trim()
        .trim_start_matches("0x")
        .replace(':', "")
        .to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// How many of a scope's signers must be satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// At least one.
    Any,
    /// Every listed signer.
    All,
    /// At least N distinct signers.
    AtLeast(usize),
}

impl Require {
    /// How many distinct signers that is, out of `listed`.
    pub fn needed(self, listed: usize) -> usize {
        match self {
            Self::Any => 1,
            Self::All => listed,
            Self::AtLeast(n) => n,
        }
    }
}

/// One repository scope, compiled.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The repository glob; `None` for the default scope.
    pub repositories: Option<Glob>,
    /// enforce / warn / audit.
    pub mode: Mode,
    /// Names of the signers accepted here.
    pub signers: Vec<String>,
    /// How many must have signed.
    pub require: Require,
    /// Tags are immutable.
    pub immutable_tags: bool,
    /// Tags that may move anyway.
    pub mutable_tags: Vec<Glob>,
    /// What an unsigned push by tag gets.
    pub unsigned_push: UnsignedPush,
    /// Quarantine TTL.
    pub quarantine_ttl: Duration,
    /// Serve only blobs of admitted manifests.
    pub gate_blobs: bool,
    /// Move a pin after upstream drift when the new digest is admitted.
    pub follow_drift: bool,
    /// How payload references are matched.
    pub reference: ReferenceRule,
    /// Which DSSE statements count as image signatures (by `predicateType`).
    pub signature_predicates: SignaturePredicates,
}

impl Scope {
    /// The scope's name in messages: its glob, or `default`.
    pub fn label(&self) -> &str {
        self.repositories.as_ref().map_or("default", Glob::as_str)
    }

    /// Whether `tag` may move in this scope.
    pub fn tag_is_mutable(&self, tag: &Tag) -> bool {
        !self.immutable_tags || self.mutable_tags.iter().any(|g| g.matches(tag.as_str()))
    }
}

/// The whole compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    signers: BTreeMap<String, Signer>,
    revocations: Revocations,
    /// Most specific first.
    scopes: Vec<Scope>,
    default: Scope,
    generation: u64,
    /// Usable but worth saying at load (`check-config`, reload).
    warnings: Vec<String>,
}

impl Policy {
    /// Validates the configuration and loads the files it names. `generation` distinguishes
    /// this trust configuration from the previous one (caches key on it).
    pub fn build(
        trust: &RawTrust,
        policy: &RawPolicy,
        load: &mut Loader<'_>,
        generation: u64,
    ) -> Result<Self, PolicyError> {
        let mut signers = BTreeMap::new();
        let mut warnings = Vec::new();
        // One parsed trusted root per file, shared by the signers that name it.
        let mut roots: BTreeMap<String, Arc<SigstoreTrust>> = BTreeMap::new();
        let mut root = |key: &str,
                        path: &str,
                        load: &mut Loader<'_>|
         -> Result<Arc<SigstoreTrust>, PolicyError> {
            if let Some(r) = roots.get(path) {
                return Ok(r.clone());
            }
            let json = load(path).map_err(|e| error(key, e))?;
            let trust = Arc::new(
                SigstoreTrust::from_json(&json)
                    .map_err(|e| error(key, format_args!("{path}: {e}")))?,
            );
            roots.insert(path.to_owned(), trust.clone());
            Ok(trust)
        };
        for (name, raw) in &trust.keys {
            check_signer_name(&format!("trust.keys.{name}"), name)?;
            let key_path = format!("trust.keys.{name}.path");
            let pem = load(&raw.path).map_err(|e| error(&key_path, e))?;
            let key = PublicKey::from_pem(&pem, raw.rsa_scheme)
                .map_err(|e| error(&key_path, format_args!("{}: {e}", raw.path)))?;
            let tlog = match &raw.trusted_root {
                Some(path) => Some(root(
                    &format!("trust.keys.{name}.trusted_root"),
                    path,
                    load,
                )?),
                None => None,
            };
            signers.insert(
                name.clone(),
                Signer {
                    name: name.clone(),
                    kind: SignerKind::Key { key, tlog },
                },
            );
        }
        // One key is one signer: under two names it would count twice towards `require`.
        let mut by_key: BTreeMap<&Fingerprint, &str> = BTreeMap::new();
        for signer in signers.values() {
            if let SignerKind::Key { key, .. } = &signer.kind
                && let Some(other) = by_key.insert(key.fingerprint(), &signer.name)
            {
                return Err(error(
                    format!("trust.keys.{}", signer.name),
                    format_args!(
                        "the same key ({}) is already configured as signer {other:?}; one key is \
                         one signer (give it one name)",
                        key.fingerprint()
                    ),
                ));
            }
        }
        for (name, raw) in &trust.keyless {
            let prefix = format!("trust.keyless.{name}");
            check_signer_name(&prefix, name)?;
            let trust = root(&format!("{prefix}.trusted_root"), &raw.trusted_root, load)?;
            let identity = KeylessIdentity {
                san: Glob::text(&raw.san).map_err(|e| error(format!("{prefix}.san"), e))?,
                issuer: Glob::text(&raw.issuer)
                    .map_err(|e| error(format!("{prefix}.issuer"), e))?,
            };
            if signers.contains_key(name) {
                return Err(error(&prefix, "a signer of this name is already defined"));
            }
            signers.insert(
                name.clone(),
                Signer {
                    name: name.clone(),
                    kind: SignerKind::Keyless { trust, identity },
                },
            );
        }
        for (name, raw) in &trust.pki {
            let prefix = format!("trust.pki.{name}");
            check_signer_name(&prefix, name)?;
            if signers.contains_key(name) {
                return Err(error(&prefix, "a signer of this name is already defined"));
            }
            let roots = load(&raw.roots).map_err(|e| error(format!("{prefix}.roots"), e))?;
            let intermediates = match &raw.intermediates {
                Some(path) => {
                    Some(load(path).map_err(|e| error(format!("{prefix}.intermediates"), e))?)
                }
                None => None,
            };
            let mut bundle = CaBundle::from_pem(&roots, intermediates.as_deref())
                .map_err(|e| {
                    error(
                        format!("{prefix}.roots"),
                        format_args!("{}: {e}", raw.roots),
                    )
                })?
                .with_eku_policy(raw.eku);
            for (i, path) in raw.crls.iter().enumerate() {
                let key = format!("{prefix}.crls[{i}]");
                let crl = load(path).map_err(|e| error(&key, e))?;
                let issuer = bundle
                    .add_crl(&crl)
                    .map_err(|e| error(&key, format_args!("{path}: {e}")))?;
                if let crate::pki::CrlIssuer::Presented { issuer } = issuer {
                    warnings.push(format!(
                        "{key}: {path}: CRL issued by {issuer}, which this bundle does not hold; \
                         it revokes only certificates whose signature's chain carries {issuer}"
                    ));
                }
            }
            let identity = identity(&format!("{prefix}.identity"), &raw.identity)?;
            let tlog = match (&raw.trusted_root, raw.signing_time) {
                (Some(path), _) => Some(root(&format!("{prefix}.trusted_root"), path, load)?),
                (None, SigningTime::Tlog) => {
                    return Err(error(
                        format!("{prefix}.trusted_root"),
                        "signing_time = \"tlog\" needs the trusted_root.json whose logs prove signing times",
                    ));
                }
                (None, _) => None,
            };
            signers.insert(
                name.clone(),
                Signer {
                    name: name.clone(),
                    kind: SignerKind::Pki {
                        bundle,
                        identity,
                        signing_time: raw.signing_time,
                        tlog,
                    },
                },
            );
        }
        let mut revocations = Revocations::default();
        for (i, r) in trust.revoked_keys.iter().enumerate() {
            let key = format!("trust.revoked_keys[{i}]");
            let fingerprint = Fingerprint::parse(&r.fingerprint).ok_or_else(|| {
                error(
                    format!("{key}.fingerprint"),
                    format_args!("{:?} is not sha256:<64 hex>", r.fingerprint),
                )
            })?;
            revocations.revoke_key(fingerprint, revocation(&key, &r.reason, &r.at)?);
        }
        for (i, r) in trust.revoked_certs.iter().enumerate() {
            let key = format!("trust.revoked_certs[{i}]");
            if r.serial.is_empty()
                || !r
                    .serial
                    .trim_start_matches("0x")
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':')
            {
                return Err(error(
                    format!("{key}.serial"),
                    format_args!("{:?} is not a hex serial number", r.serial),
                ));
            }
            revocations.revoke_cert(&r.issuer, &r.serial, revocation(&key, &r.reason, &r.at)?);
        }
        let default = scope("policy.default", &policy.default, &signers, true)?;
        let mut scopes = Vec::with_capacity(policy.scopes.len());
        let mut seen = BTreeSet::new();
        for (i, raw) in policy.scopes.iter().enumerate() {
            let key = format!("policy.scope[{i}]");
            let scope = scope(&key, raw, &signers, false)?;
            if !seen.insert(scope.label().to_owned()) {
                return Err(error(
                    format!("{key}.repositories"),
                    format_args!("{:?} is used by another scope", scope.label()),
                ));
            }
            scopes.push(scope);
        }
        // Most specific first; equal specificity keeps configuration order (stable sort).
        scopes.sort_by_key(|s| {
            std::cmp::Reverse(s.repositories.as_ref().map_or(0, Glob::specificity))
        });
        for (path, trust) in &roots {
            warnings.extend(trust.warnings().iter().map(|w| format!("{path}: {w}")));
        }
        Ok(Self {
            signers,
            revocations,
            scopes,
            default,
            generation,
            warnings,
        })
    }

    /// The scope governing `repository`: the most specific matching glob, or the default.
    pub fn scope_for(&self, repository: &RepoName) -> &Scope {
        self.scopes
            .iter()
            .find(|s| {
                s.repositories
                    .as_ref()
                    .is_some_and(|g| g.matches(repository.as_str()))
            })
            .unwrap_or(&self.default)
    }

    /// Every scope, the default last.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.iter().chain(std::iter::once(&self.default))
    }

    /// A signer by name.
    pub fn signer(&self, name: &str) -> Option<&Signer> {
        self.signers.get(name)
    }

    /// Every signer.
    pub fn signers(&self) -> impl Iterator<Item = &Signer> {
        self.signers.values()
    }

    /// The revocations in force.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Mutable revocations, for the admin API; bump the generation after changing them.
    pub fn revocations_mut(&mut self) -> &mut Revocations {
        &mut self.revocations
    }

    /// What loading found usable but worth saying (a CRL whose issuer no configured CA is:
    /// it applies only to chains that carry that CA).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// This trust configuration's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Makes every scope accept DSSE statements of `predicates` as image signatures, whatever
    /// the configuration said: `sealgate verify`'s trust flags, which build no scopes from a
    /// file, accept any statement unless `--predicate-type` is given.
    pub fn set_signature_predicates(&mut self, predicates: &SignaturePredicates) {
        for scope in self
            .scopes
            .iter_mut()
            .chain(std::iter::once(&mut self.default))
        {
            scope.signature_predicates = predicates.clone();
        }
    }

    /// Sets a new generation (after a revocation changed trust).
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

fn check_signer_name(key: &str, name: &str) -> Result<(), PolicyError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(error(
            key,
            "signer names are 1-64 characters of [A-Za-z0-9._-]",
        ))
    }
}

fn revocation(key: &str, reason: &str, at: &str) -> Result<Revocation, PolicyError> {
    if reason.trim().is_empty() {
        return Err(error(
            format!("{key}.reason"),
            "say why, for the people who will be refused",
        ));
    }
    let at = UnixTime::parse_rfc3339(at).ok_or_else(|| {
        error(
            format!("{key}.at"),
            format_args!("{at:?} is not an RFC 3339 time"),
        )
    })?;
    Ok(Revocation {
        reason: reason.to_owned(),
        at,
    })
}

fn identity(key: &str, raw: &RawIdentity) -> Result<IdentityConstraints, PolicyError> {
    let glob = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|p| Glob::text(p).map_err(|e| error(format!("{key}.{field}"), e)))
            .transpose()
    };
    Ok(IdentityConstraints {
        subject: glob("subject", &raw.subject)?,
        san_email: glob("san_email", &raw.san_email)?,
        san_uri: glob("san_uri", &raw.san_uri)?,
        san_dns: glob("san_dns", &raw.san_dns)?,
        oidc_issuer: None,
    })
}

fn scope(
    key: &str,
    raw: &RawScope,
    signers: &BTreeMap<String, Signer>,
    is_default: bool,
) -> Result<Scope, PolicyError> {
    let repositories = match (&raw.repositories, is_default) {
        (Some(_), true) => {
            return Err(error(
                format!("{key}.repositories"),
                "the default scope applies to every repository not matched by a scope; remove this key",
            ));
        }
        (None, false) => {
            return Err(error(
                format!("{key}.repositories"),
                "each [[policy.scope]] needs a repository glob such as \"prod/**\"",
            ));
        }
        (Some(g), false) => {
            Some(Glob::path(g).map_err(|e| error(format!("{key}.repositories"), e))?)
        }
        (None, true) => None,
    };
    for (i, name) in raw.signers.iter().enumerate() {
        if !signers.contains_key(name) {
            let known: Vec<&str> = signers.keys().map(String::as_str).collect();
            return Err(error(
                format!("{key}.signers[{i}]"),
                format_args!("unknown signer {name:?}; defined: {known:?}"),
            ));
        }
    }
    let unique: BTreeSet<&String> = raw.signers.iter().collect();
    if unique.len() != raw.signers.len() {
        return Err(error(format!("{key}.signers"), "a signer is listed twice"));
    }
    let require = match raw.require {
        None | Some(RawRequire::Word(RequireWord::Any)) => Require::Any,
        Some(RawRequire::Word(RequireWord::All)) => Require::All,
        Some(RawRequire::Threshold(n)) => {
            let n = n as usize;
            if n == 0 || n > raw.signers.len() {
                return Err(error(
                    format!("{key}.require"),
                    format_args!(
                        "{n} is not between 1 and the {} listed signers",
                        raw.signers.len()
                    ),
                ));
            }
            Require::AtLeast(n)
        }
    };
    if raw.mode == Mode::Enforce
        && raw.signers.is_empty()
        && raw.unsigned_push == UnsignedPush::Reject
        && !is_default
    {
        // An enforcing scope without signers admits nothing; say so at load rather than at push.
        return Err(error(
            format!("{key}.signers"),
            "an enforce scope needs at least one signer (or mode = \"warn\" / \"audit\")",
        ));
    }
    let mutable_tags = raw
        .mutable_tags
        .iter()
        .enumerate()
        .map(|(i, p)| Glob::text(p).map_err(|e| error(format!("{key}.mutable_tags[{i}]"), e)))
        .collect::<Result<_, _>>()?;
    if raw.quarantine_ttl.is_zero() && raw.unsigned_push == UnsignedPush::Quarantine {
        return Err(error(
            format!("{key}.quarantine_ttl"),
            "must be greater than zero",
        ));
    }
    let signature_predicates = signature_predicates(
        &format!("{key}.signature_predicate_types"),
        &raw.signature_predicate_types,
    )?;
    Ok(Scope {
        repositories,
        mode: raw.mode,
        signers: raw.signers.clone(),
        require,
        immutable_tags: raw.immutable_tags,
        mutable_tags,
        unsigned_push: raw.unsigned_push,
        quarantine_ttl: raw.quarantine_ttl,
        gate_blobs: raw.gate_blobs,
        follow_drift: raw.follow_drift,
        reference: ReferenceRule {
            remap: raw
                .remap
                .as_ref()
                .map(|r| (r.prefix.clone(), r.signed_prefix.clone())),
        },
        signature_predicates,
    })
}

/// A scope's `signature_predicate_types`: at least one, each an absolute URI (compared exactly,
/// as cosign does), none twice.
fn signature_predicates(key: &str, raw: &[String]) -> Result<SignaturePredicates, PolicyError> {
    if raw.is_empty() {
        return Err(error(
            key,
            format_args!(
                "an empty list admits no DSSE statement as a signature; list at least one \
                 predicateType (cosign v3 image signatures: {:?})",
                crate::statement::COSIGN_SIGN_PREDICATE
            ),
        ));
    }
    for (i, uri) in raw.iter().enumerate() {
        if !is_absolute_uri(uri) {
            return Err(error(
                format!("{key}[{i}]"),
                format_args!(
                    "{uri:?} is not an absolute URI (a predicateType such as \
                     \"https://slsa.dev/provenance/v1\")"
                ),
            ));
        }
        if raw[..i].contains(uri) {
            return Err(error(
                format!("{key}[{i}]"),
                format_args!("{uri:?} is listed twice"),
            ));
        }
    }
    Ok(SignaturePredicates::Only(raw.to_vec()))
}

/// RFC 3986 `absolute-URI`, loosely: a scheme, a colon, then something, with no whitespace or
/// control characters (which no predicateType has and which would hide in messages).
fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && uri.len() <= 2048
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests;
