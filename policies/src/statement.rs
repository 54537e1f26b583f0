//! Which in-toto statements are image signatures. cosign v3 signs an image with a DSSE statement
//! whose `predicateType` is [`COSIGN_SIGN_PREDICATE`]; a statement with any other predicate (an
//! SBOM, SLSA provenance) is an attestation *about* the image, made with the same tools and often
//! the same CI identity, and must not count as its signature. The rule is decided on the signed
//! statement (the DSSE payload the signature covers), never on a referrer's annotations.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::bundle::{BundleContent, SigstoreBundle};

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
    match &bundle.content {
        BundleContent::Dsse(envelope) => Some(&envelope.payload),
        BundleContent::MessageSignature { .. } => None,
    }
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

/// The `predicateType` of an in-toto statement (a JSON object). Refused: more than
/// [`MAX_STATEMENT_BYTES`], anything but an object, a missing or non-string `_type` or
/// `predicateType`, and any of `_type`, `predicateType` or `subject` given twice or spelled in
/// another case (parsers disagree on which copy wins: Go's encoding/json matches keys without
/// regard to case and keeps the last).
pub fn predicate_type(payload: &[u8]) -> Result<String, StatementRefusal> {
    if payload.len() > MAX_STATEMENT_BYTES {
        return Err(StatementRefusal::Malformed(format!(
            "{} bytes, more than {MAX_STATEMENT_BYTES}",
            payload.len()
        )));
    }
    let head: Head =
        serde_json::from_slice(payload).map_err(|e| StatementRefusal::Malformed(e.to_string()))?;
    Ok(head.predicate_type)
}

/// The top-level keys of a statement that decide what it is.
struct Head {
    predicate_type: String,
}

/// Keys watched for duplicates, in the order of `seen` below.
const WATCHED: [&str; 3] = ["_type", "predicateType", "subject"];

/// Case-folds like Go's `strings.EqualFold` for these keys (`ſ` folds to `s`, `K` to `k`).
fn fold(key: &str) -> String {
    key.to_uppercase().to_lowercase()
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A map visitor only: a derived struct would also take a JSON array by position.
        struct HeadVisitor;
        impl<'de> Visitor<'de> for HeadVisitor {
            type Value = Head;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an in-toto statement (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                let mut seen = [false; WATCHED.len()];
                let mut kind: Option<String> = None;
                let mut predicate_type: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let folded = fold(&key);
                    let Some(i) = WATCHED.iter().position(|w| fold(w) == folded) else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    let name = WATCHED[i];
                    if key != name {
                        return Err(de::Error::custom(format_args!(
                            "key {key:?} is {name:?} in another case"
                        )));
                    }
                    if std::mem::replace(&mut seen[i], true) {
                        return Err(de::Error::custom(format_args!("duplicate key {name:?}")));
                    }
                    match i {
                        0 => kind = Some(map.next_value()?),
                        1 => predicate_type = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if kind.is_none() {
                    return Err(de::Error::missing_field("_type"));
                }
                let predicate_type =
                    predicate_type.ok_or_else(|| de::Error::missing_field("predicateType"))?;
                Ok(Head { predicate_type })
            }
        }
        deserializer.deserialize_map(HeadVisitor)
    }
}

#[cfg(test)]
mod tests;
