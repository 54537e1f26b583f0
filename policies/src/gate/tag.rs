//! What a tag is for, and what sealgate holds about it: its pin and its held push.

use super::event::Action;
use crate::oci::{Digest, Tag};

/// What a tag is for, by its name. cosign's tags and the referrers fallback tag hold material
/// about the image `sha256:<hex>` they name; they are never pinned, so they must never hold an
/// image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRole {
    /// An ordinary tag: pinned, and its image verified.
    Image,
    /// `sha256-<hex>.sig`: cosign signatures of the digest.
    Signatures(Digest),
    /// `sha256-<hex>.att` / `.sbom`: cosign attestations or SBOMs of the digest.
    Attachment(Digest),
    /// `sha256-<hex>`: the referrers API's fallback index for the digest (OCI 1.1).
    ReferrersFallback(Digest),
}

impl TagRole {
    /// The role of `tag`.
    pub fn of(tag: &Tag) -> Self {
        let Some(rest) = tag.as_str().strip_prefix("sha256-") else {
            return Self::Image;
        };
        let (hex, suffix) = rest.split_at(rest.len().min(64));
        let Ok(digest) = format!("sha256:{hex}").parse::<Digest>() else {
            return Self::Image;
        };
        match suffix {
            ".sig" => Self::Signatures(digest),
            ".att" | ".sbom" => Self::Attachment(digest),
            "" => Self::ReferrersFallback(digest),
            _ => Self::Image,
        }
    }

    /// The audit action of a refused write to a tag of this role.
    pub fn action(&self) -> Action {
        match self {
            Self::Signatures(_) => Action::Signature,
            _ => Action::Push,
        }
    }
}

/// The pin a tag has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinFact {
    /// The digest the tag is pinned to.
    pub digest: Digest,
    /// The signers recorded on the pin.
    pub signers: Vec<String>,
}

/// A push held in quarantine for a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldFact {
    /// The digest held.
    pub digest: Digest,
    /// Who pushed it (`None`: unidentified).
    pub pushed_by: Option<String>,
    /// When the hold ends (seconds since the epoch).
    pub expires_at: u64,
}
