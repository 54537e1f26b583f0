//! Which in-toto statements are image signatures. cosign v3 signs an image with a DSSE statement
//! whose `predicateType` is [`COSIGN_SIGN_PREDICATE`]; a statement with any other predicate (an
//! SBOM, SLSA provenance) is an attestation *about* the image, made with the same tools and often
//! the same CI identity, and must not count as its signature. The rule is decided on the signed
//! statement (the DSSE payload the signature covers), never on a referrer's annotations.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::bundle::SigstoreBundle;

/// The predicate of a cosign v3 image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Largest statement read: the proxy reads a bundle of at most 1 MiB, which holds no larger
/// payload.
pub const MAX_STATEMENT_BYTES: usize = 1024 * 1024;

/// Which statement predicates a scope accepts as image signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignaturePredicates {
    /// Any statement (`sealgate verify` without `--config` or `--predicate-type`).
    Any,
    /// Only statements with one of these `predicateType` URIs (compared exactly).
    Only(Vec<String>),
}

impl SignaturePredicates {
    /// The gate's default: cosign v3's image-signature predicate only.
    pub fn cosign() -> Self {
        Self::Only(vec![COSIGN_SIGN_PREDICATE.to_owned()])
    }
}

/// Why a DSSE statement does not count as an image signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatementRefusal {
    /// A well-formed statement whose predicate the scope does not accept: an attestation.
    #[error(
        "statement predicateType {predicate_type:?} is an attestation, not an image signature \
         (scope {scope:?} accepts: {})",
        accepted.join(", ")
    )]
    Attestation {
        /// The statement's predicate.
        predicate_type: String,
        /// The scope's label.
        scope: String,
        /// The predicates the scope accepts.
        accepted: Vec<String>,
    },
    /// The payload cannot be read as a statement whose predicate every parser agrees on.
    #[error("in-toto statement refused: {0}")]
    Malformed(String),
}

/// The in-toto statement a bundle's signature covers: the DSSE payload, or `None` for a message
/// signature (which signs the image manifest itself and has no predicate). The one place that
/// reads the bundle's content for this module.
pub fn signed_statement(bundle: &SigstoreBundle) -> Option<&[u8]> {
    bundle.dsse_payload().map(|(_, payload)| payload)
}

/// Whether `bundle` may count as an image signature under `accepted` (in `scope`): message
/// signatures always, DSSE statements only with an accepted `predicateType`.
pub fn check_bundle(
    bundle: &SigstoreBundle,
    accepted: &SignaturePredicates,
    scope: &str,
) -> Result<(), StatementRefusal> {
    let (SignaturePredicates::Only(list), Some(payload)) = (accepted, signed_statement(bundle))
    else {
        return Ok(());
    };
    let predicate_type = predicate_type(payload)?;
    if list.contains(&predicate_type) {
        Ok(())
    } else {
        Err(StatementRefusal::Attestation {
            predicate_type,
            scope: scope.to_owned(),
            accepted: list.clone(),
        })
    }
}

/// The `predicateType` of an in-toto statement (a JSON object); see [`parse_statement`].
pub fn predicate_type(payload: &[u8]) -> Result<String, StatementRefusal> {
    parse_statement(payload).map(|s| s.predicate_type)
}

/// What sealgate reads of an in-toto statement: its type, its predicate and the sha256 digests
/// of its subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `_type`.
    pub kind: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// Each subject's `digest.sha256`, when it has one.
    pub subject_sha256: Vec<String>,
}

/// Reads an in-toto statement, the one parser for every decision on it. Refused: more than
/// [`MAX_STATEMENT_BYTES`], anything but objects where the format has objects (a derived
/// struct would take an array by position), a missing or non-string `_type` or
/// `predicateType`, and any of `_type`, `predicateType`, `subject`, a subject's `digest` or a
/// digest's `sha256` given twice or spelled in another case (parsers disagree on which copy
/// wins: Go's encoding/json matches struct keys without regard to case and keeps the last).
pub fn parse_statement(payload: &[u8]) -> Result<Statement, StatementRefusal> {
    if payload.len() > MAX_STATEMENT_BYTES {
        return Err(StatementRefusal::Malformed(format!(
            "{} bytes, more than {MAX_STATEMENT_BYTES}",
            payload.len()
        )));
    }
    serde_json::from_slice(payload).map_err(|e| StatementRefusal::Malformed(e.to_string()))
}

/// Case-folds like Go's `strings.EqualFold` for these keys (`ſ` folds to `s`, `K` to `k`).
fn fold(key: &str) -> String {
    key.to_uppercase().to_lowercase()
}

/// Which of `watched` `key` is, refusing it in another case or a second time; `None` for a key
/// not watched (its value is for the caller to skip).
fn watched_key<E: de::Error>(
    key: &str,
    watched: &[&'static str],
    seen: &mut [bool],
) -> Result<Option<usize>, E> {
    let folded = fold(key);
    let Some(i) = watched.iter().position(|w| fold(w) == folded) else {
        return Ok(None);
    };
    let name = watched[i];
    if key != name {
        return Err(E::custom(format_args!(
            "key {key:?} is {name:?} in another case"
        )));
    }
    if std::mem::replace(&mut seen[i], true) {
        return Err(E::custom(format_args!("duplicate key {name:?}")));
    }
    Ok(Some(i))
}

/// The value of the one key of an object that matters (`name`, watched as [`watched_key`] does);
/// every other key is skipped.
fn only_key<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
    name: &'static str,
) -> Result<Option<T>, A::Error> {
    let mut seen = [false];
    let mut value = None;
    while let Some(key) = map.next_key::<String>()? {
        match watched_key(&key, &[name], &mut seen)? {
            Some(_) => value = Some(map.next_value()?),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(value)
}

impl<'de> Deserialize<'de> for Statement {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatementVisitor;
        impl<'de> Visitor<'de> for StatementVisitor {
            type Value = Statement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an in-toto statement (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Statement, A::Error> {
                const WATCHED: [&str; 3] = ["_type", "predicateType", "subject"];
                let mut seen = [false; WATCHED.len()];
                let mut kind: Option<String> = None;
                let mut predicate_type: Option<String> = None;
                let mut subjects: Vec<Subject> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match watched_key(&key, &WATCHED, &mut seen)? {
                        Some(0) => kind = Some(map.next_value()?),
                        Some(1) => predicate_type = Some(map.next_value()?),
                        Some(_) => subjects = map.next_value()?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Statement {
                    kind: kind.ok_or_else(|| de::Error::missing_field("_type"))?,
                    predicate_type: predicate_type
                        .ok_or_else(|| de::Error::missing_field("predicateType"))?,
                    subject_sha256: subjects.into_iter().filter_map(|s| s.sha256).collect(),
                })
            }
        }
        deserializer.deserialize_map(StatementVisitor)
    }
}

/// One subject: its `digest.sha256`, if any.
struct Subject {
    sha256: Option<String>,
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SubjectVisitor;
        impl<'de> Visitor<'de> for SubjectVisitor {
            type Value = Subject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an in-toto subject (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Subject, A::Error> {
                let digest: Option<Sha256Of> = only_key(map, "digest")?;
                Ok(Subject {
                    sha256: digest.and_then(|d| d.0),
                })
            }
        }
        deserializer.deserialize_map(SubjectVisitor)
    }
}

/// A subject's digest set: its `sha256`, if any.
struct Sha256Of(Option<String>);

impl<'de> Deserialize<'de> for Sha256Of {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DigestVisitor;
        impl<'de> Visitor<'de> for DigestVisitor {
            type Value = Sha256Of;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a digest set (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Sha256Of, A::Error> {
                Ok(Sha256Of(only_key(map, "sha256")?))
            }
        }
        deserializer.deserialize_map(DigestVisitor)
    }
}

#[cfg(test)]
mod tests;
