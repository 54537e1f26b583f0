//! Who may do what: `[auth]`.
//!
//! In `passthrough` mode (the default) sealgate does not authenticate clients: `Authorization`
//! goes to the upstream and its 401s come back, as a registry's own clients expect. The identity
//! of a verified client certificate (`[tls] client_ca`) is still recorded on pins and audit
//! events.
//!
//! In `gateway` mode sealgate authenticates every OCI request itself, before anything reaches the
//! gates or an upstream:
//!
//! - by a token from `tokens_file`, sent as `Authorization: Bearer <token>` or as Basic
//!   `<identity>:<token>` (what `skopeo --creds` and containerd's `hosts.toml` send). The file
//!   holds the sha256 of each token, never the token; digests are compared in constant time;
//! - else by the identity of the connection's verified client certificate.
//!
//! A present `Authorization` header wins, and must verify: a wrong token is a 401 even on a
//! connection with a client certificate. Then the identity must be granted the request's action
//! on its repository by an `[[auth.rule]]`; otherwise 403 naming identity, action and repository.
//! The client's `Authorization` is never forwarded: upstreams see sealgate's own
//! `[upstream.auth]` credentials, or no credentials at all.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use http::request::Parts;
use http::{HeaderValue, header};
use sealgate_policies::glob::Glob;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config_error::ConfigError;
use crate::error::ProxyError;
use crate::routes::{OciRequest, OciRoute};
use crate::tls::PeerIdentity;

/// Longest token identity.
const MAX_IDENTITY_LEN: usize = 64;

/// `auth.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The upstream authenticates and authorises; sealgate forwards `Authorization`.
    #[default]
    Passthrough,
    /// sealgate authenticates (tokens, client certificates) and authorises (`[[auth.rule]]`).
    Gateway,
}

/// `[auth]` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// `passthrough` (default) or `gateway`.
    #[serde(default)]
    pub mode: AuthMode,
    /// TOML file of `[[token]] identity = "…" sha256 = "<hex of sha256(token)>"`; relative to
    /// the configuration file's directory. Gateway mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_file: Option<PathBuf>,
    /// `[[auth.rule]]`: grants, in any order (a request is allowed when one rule grants it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule: Vec<RawRule>,
}

/// One `[[auth.rule]]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Repository glob (`prod/**`), as in `[[policy.scope]]`.
    pub repositories: String,
    /// Identity globs: token identities (`ci`), certificate identities (`cn:build-*`).
    pub identities: Vec<String>,
    /// `pull`, `push` (includes pull), `catalog` (only with `repositories = "**"`).
    pub actions: Vec<String>,
}

/// What a request does, for authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read: manifests, blobs, tags, referrers (GET and HEAD).
    Pull,
    /// Write: uploads, manifest PUT, DELETE of manifests and blobs.
    Push,
    /// `GET /v2/_catalog`: the names of every repository.
    Catalog,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pull" => Some(Self::Pull),
            "push" => Some(Self::Push),
            "catalog" => Some(Self::Catalog),
            _ => None,
        }
    }

    /// The action's name in rules and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Catalog => "catalog",
        }
    }
}

/// What a route asks for: the action and the repository it concerns; `None` for `GET /v2/`,
/// which needs an identity and nothing more.
pub fn action_of(route: &OciRoute) -> Option<(Action, Option<&str>)> {
    use OciRoute as R;
    Some(match route {
        R::Base => return None,
        R::Catalog => (Action::Catalog, None),
        R::GetManifest { name, .. }
        | R::GetBlob { name, .. }
        | R::ListTags { name }
        | R::ListReferrers { name, .. } => (Action::Pull, Some(name.as_str())),
        R::PutManifest { name, .. }
        | R::DeleteManifest { name, .. }
        | R::DeleteBlob { name, .. }
        | R::StartUpload { name }
        | R::PatchUpload { name, .. }
        | R::FinishUpload { name, .. }
        | R::UploadStatus { name, .. }
        | R::CancelUpload { name, .. } => (Action::Push, Some(name.as_str())),
    })
}

/// One token: who it belongs to and the sha256 of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// The identity the token authenticates.
    pub identity: String,
    sha256: [u8; 32],
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest of a token is not the token, but it need not be in logs either.
        f.debug_struct("TokenEntry")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The tokens file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    #[serde(default)]
    token: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    identity: String,
    sha256: String,
}

/// Whether `s` can be a token identity: 1-64 of `[A-Za-z0-9._@-]`. No `:` (it separates the
/// Basic user from the token, and prefixes certificate identities, which tokens cannot claim).
pub fn is_valid_token_identity(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_IDENTITY_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// A tokens file that cannot be used: which entry is wrong, never a digest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokensError {
    /// Not TOML of the `[[token]]` shape.
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    /// No `[[token]]` at all.
    #[error("holds no [[token]] entry")]
    Empty,
    /// An identity outside [`is_valid_token_identity`].
    #[error("token[{index}].identity {identity:?}: use 1-64 characters of [A-Za-z0-9._@-]")]
    Identity {
        /// Position of the entry.
        index: usize,
        /// The identity as written.
        identity: String,
    },
    /// A `sha256` that is not 64 hex digits (often the token itself, which is not echoed).
    #[error(
        "token[{index}].sha256 (identity {identity:?}) is not 64 hex digits: write the sha256 of \
         the token (printf %s \"$TOKEN\" | sha256sum), not the token"
    )]
    Digest {
        /// Position of the entry.
        index: usize,
        /// Its identity.
        identity: String,
    },
    /// Two entries with one token: it could not say who is calling.
    #[error(
        "token[{index}].sha256 (identity {identity:?}) is also the token of {other:?}; every \
         token must be distinct"
    )]
    Duplicate {
        /// Position of the later entry.
        index: usize,
        /// Its identity.
        identity: String,
        /// The identity of the earlier entry.
        other: String,
    },
}

/// Parses a tokens file.
pub fn parse_tokens(text: &str) -> Result<Vec<TokenEntry>, TokensError> {
    let raw: RawTokens = toml::from_str(text)?;
    if raw.token.is_empty() {
        return Err(TokensError::Empty);
    }
    let mut entries: Vec<TokenEntry> = Vec::with_capacity(raw.token.len());
    for (index, t) in raw.token.into_iter().enumerate() {
        if !is_valid_token_identity(&t.identity) {
            return Err(TokensError::Identity {
                index,
                identity: t.identity,
            });
        }
        let mut sha256 = [0u8; 32];
        if t.sha256.len() != 64 || hex::decode_to_slice(&t.sha256, &mut sha256).is_err() {
            return Err(TokensError::Digest {
                index,
                identity: t.identity,
            });
        }
        if let Some(other) = entries.iter().find(|e| e.sha256 == sha256) {
            return Err(TokensError::Duplicate {
                index,
                identity: t.identity,
                other: other.identity.clone(),
            });
        }
        entries.push(TokenEntry {
            identity: t.identity,
            sha256,
        });
    }
    Ok(entries)
}

/// A compiled `[[auth.rule]]`.
#[derive(Debug, Clone)]
struct Rule {
    repositories: Glob,
    identities: Vec<Glob>,
    actions: Vec<Action>,
}

impl Rule {
    fn grants(&self, identity: &str, action: Action, repository: Option<&str>) -> bool {
        // Push clients read as they write (HEAD blob, GET manifest), so push includes pull.
        let action_ok = self
            .actions
            .iter()
            .any(|a| *a == action || (*a == Action::Push && action == Action::Pull));
        let repository_ok = match repository {
            Some(r) => self.repositories.matches(r),
            // The catalog: validated to come only with `**`.
            None => true,
        };
        action_ok && repository_ok && self.identities.iter().any(|g| g.matches(identity))
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` and no client certificate.
    Missing,
    /// `Authorization` is neither `Basic` nor `Bearer`, or does not decode.
    Malformed,
    /// No token in the tokens file matches.
    Unknown,
}

/// `[auth]`, built.
#[derive(Debug, Clone, Default)]
pub struct Access {
    mode: AuthMode,
    tokens: Vec<TokenEntry>,
    rules: Vec<Rule>,
}

impl Access {
    /// Validates `[auth]` and reads the tokens file (relative to `base`). `client_ca` says
    /// whether client certificates can authenticate (`[tls] client_ca` set).
    pub fn build(raw: &RawAuth, base: &Path, client_ca: bool) -> Result<Self, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid { key, message };
        if raw.mode == AuthMode::Passthrough {
            // Rules that are never applied would look like protection.
            if raw.tokens_file.is_some() {
                return Err(invalid(
                    "auth.tokens_file".into(),
                    "is only used with auth.mode = \"gateway\"; in passthrough mode the upstream \
                     authenticates"
                        .into(),
                ));
            }
            if !raw.rule.is_empty() {
                return Err(invalid(
                    "auth.rule".into(),
                    "rules are only applied with auth.mode = \"gateway\"; in passthrough mode the \
                     upstream authorises"
                        .into(),
                ));
            }
            return Ok(Self::default());
        }
        let tokens = match &raw.tokens_file {
            Some(path) => {
                let full = base.join(path);
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    invalid(
                        "auth.tokens_file".into(),
                        format!("cannot read {}: {e}", full.display()),
                    )
                })?;
                parse_tokens(&text).map_err(|e| {
                    invalid(
                        "auth.tokens_file".into(),
                        format!("{}: {e}", full.display()),
                    )
                })?
            }
            None if client_ca => Vec::new(),
            None => {
                return Err(invalid(
                    "auth.mode".into(),
                    "\"gateway\" needs a way to authenticate clients: set auth.tokens_file, \
                     tls.client_ca, or both"
                        .into(),
                ));
            }
        };
        if raw.rule.is_empty() {
            return Err(invalid(
                "auth.rule".into(),
                "\"gateway\" mode needs at least one [[auth.rule]]; without one every request is \
                 refused"
                    .into(),
            ));
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.iter().enumerate() {
            let key = |field: &str| format!("auth.rule[{i}].{field}");
            let repositories = Glob::path(&r.repositories)
                .map_err(|e| invalid(key("repositories"), e.to_string()))?;
            if r.identities.is_empty() {
                return Err(invalid(
                    key("identities"),
                    "must list at least one identity".into(),
                ));
            }
            let identities = r
                .identities
                .iter()
                .enumerate()
                .map(|(j, id)| {
                    Glob::text(id).map_err(|e| {
                        invalid(format!("auth.rule[{i}].identities[{j}]"), e.to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if r.actions.is_empty() {
                return Err(invalid(
                    key("actions"),
                    "must list at least one of \"pull\", \"push\", \"catalog\"".into(),
                ));
            }
            let mut actions = Vec::with_capacity(r.actions.len());
            for (j, a) in r.actions.iter().enumerate() {
                let action = Action::parse(a).ok_or_else(|| {
                    invalid(
                        format!("auth.rule[{i}].actions[{j}]"),
                        format!("{a:?} is not an action; use \"pull\", \"push\" or \"catalog\""),
                    )
                })?;
                if action == Action::Catalog && r.repositories != "**" {
                    return Err(invalid(
                        format!("auth.rule[{i}].actions[{j}]"),
                        format!(
                            "\"catalog\" lists every repository name, so it is granted only by a \
                             rule with repositories = \"**\" (this one has {:?})",
                            r.repositories
                        ),
                    ));
                }
                actions.push(action);
            }
            rules.push(Rule {
                repositories,
                identities,
                actions,
            });
        }
        Ok(Self {
            mode: AuthMode::Gateway,
            tokens,
            rules,
        })
    }

    /// The mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// How many tokens the tokens file holds.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// How many rules there are.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The identity an `Authorization` header proves. Every token is compared, in constant
    /// time, so the time taken says nothing about which (if any) matched.
    pub fn authenticate(&self, authorization: &HeaderValue) -> Result<String, AuthFailure> {
        let (claimed, token) = parse_authorization(authorization).ok_or(AuthFailure::Malformed)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&TokenEntry> = None;
        for entry in &self.tokens {
            let equal = bool::from(entry.sha256.ct_eq(&digest));
            let claimed_ok = claimed.as_deref().is_none_or(|c| c == entry.identity);
            if equal && claimed_ok {
                found = Some(entry);
            }
        }
        found
            .map(|e| e.identity.clone())
            .ok_or(AuthFailure::Unknown)
    }

    /// Whether some rule grants `identity` the `action` on `repository` (`None`: the catalog).
    pub fn allows(&self, identity: &str, action: Action, repository: Option<&str>) -> bool {
        self.rules
            .iter()
            .any(|r| r.grants(identity, action, repository))
    }
}

/// `Basic base64(identity:token)` → (Some(identity), token); `Bearer token` → (None, token).
fn parse_authorization(value: &HeaderValue) -> Option<(Option<String>, String)> {
    let text = value.to_str().ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, token) = decoded.split_once(':')?;
        (!token.is_empty()).then(|| (Some(user.to_owned()), token.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        (!rest.is_empty()).then(|| (None, rest.to_owned()))
    } else {
        None
    }
}

/// Authenticates and authorises one request, before anything else looks at it. Returns the
/// identity to record (gateway: the authenticated one; passthrough: the client certificate's,
/// if any).
///
/// In gateway mode the client's `Authorization` is removed from `parts` (the upstream must not
/// see it), and a cross-repository mount from a repository the identity may not pull is turned
/// into a plain upload start, as a registry does when it cannot mount.
pub fn check(
    access: &Access,
    parts: &mut Parts,
    oci: &mut OciRequest,
) -> Result<Option<String>, ProxyError> {
    let peer = parts.extensions.get::<PeerIdentity>().map(|p| p.0.clone());
    if access.mode == AuthMode::Passthrough {
        return Ok(peer);
    }
    let identity = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => access.authenticate(value).map_err(|why| {
            ProxyError::Unauthorized(match why {
                AuthFailure::Malformed => {
                    "the Authorization header is neither Basic <identity:token> nor Bearer <token>"
                        .to_owned()
                }
                _ => "the token is not valid for this sealgate".to_owned(),
            })
        })?,
        None => peer.ok_or_else(|| {
            ProxyError::Unauthorized(
                "authentication required: send a token (Basic identity:token or Bearer) or a \
                 client certificate"
                    .to_owned(),
            )
        })?,
    };
    parts.headers.remove(header::AUTHORIZATION);
    if let Some((action, repository)) = action_of(&oci.route)
        && !access.allows(&identity, action, repository)
    {
        let on = repository.map_or_else(|| "the catalog".to_owned(), |r| format!("repository {r}"));
        tracing::info!(target: "sealgate::access", %identity, action = action.as_str(), on = %on, "access denied");
        return Err(ProxyError::Denied(format!(
            "identity {identity} may not {} {on}: no [[auth.rule]] grants it",
            action.as_str()
        )));
    }
    if let OciRoute::StartUpload { .. } = &oci.route {
        restrict_mount(access, &identity, oci);
    }
    Ok(Some(identity))
}

/// `POST uploads/?mount=<digest>&from=<repo>` reads `<repo>`: without pull there, the mount
/// parameters are dropped and the upstream starts a plain upload (202), which clients handle
/// by uploading the blob (distribution-spec, "Mounting a blob from another repository").
fn restrict_mount(access: &Access, identity: &str, oci: &mut OciRequest) {
    let Some(query) = &oci.upstream_query else {
        return;
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let Some((_, from)) = pairs.iter().find(|(k, _)| k == "from") else {
        return;
    };
    if access.allows(identity, Action::Pull, Some(from)) {
        return;
    }
    tracing::debug!(%identity, %from, "cross-repository mount without pull on the source: plain upload instead");
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if k != "from" && k != "mount" {
            out.append_pair(k, v);
        }
    }
    let rest = out.finish();
    oci.upstream_query = (!rest.is_empty()).then_some(rest);
}

#[cfg(test)]
mod tests;
