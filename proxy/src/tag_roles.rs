//! The cosign tag grammar: what a tag is for, by its name (`sha256-<hex>.sig`, `.att`, `.sbom`,
//! the referrers fallback tag `sha256-<hex>`, or an image tag).

use sealgate_policies::oci::{Digest, Tag};

/// What a tag is for, by its name. cosign's tags and the referrers fallback tag hold material
/// about the image `sha256:<hex>` they name; they are never pinned, so they must never hold an
/// image: a runnable image under an unpinned tag is what the pin exists to prevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagRole {
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
    /// The role of `tag`, by its name.
    pub(crate) fn of(tag: &Tag) -> Self {
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
}

/// `sha256-<hex>.sig`: cosign's signature tag for the image `sha256:<hex>`.
pub(crate) fn cosign_signature_subject(tag: &Tag) -> Option<Digest> {
    match TagRole::of(tag) {
        TagRole::Signatures(subject) => Some(subject),
        _ => None,
    }
}

/// The image a cosign attachment tag (`sha256-<hex>.sig`, `.att`, `.sbom`) is about; `None`
/// for image tags and the referrers fallback tag.
pub(crate) fn attachment_subject(tag: &Tag) -> Option<Digest> {
    match TagRole::of(tag) {
        TagRole::Signatures(subject) | TagRole::Attachment(subject) => Some(subject),
        _ => None,
    }
}

/// `sha256-<hex>` (the referrers fallback index) and cosign's other attachments
/// (`.att`, `.sbom`): they describe an image, they are not images, and are not pinned.
pub(crate) fn is_attachment_tag(tag: &Tag) -> bool {
    matches!(
        TagRole::of(tag),
        TagRole::Attachment(_) | TagRole::ReferrersFallback(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_tags_are_recognised() {
        let hex = "a".repeat(64);
        let sig: Tag = format!("sha256-{hex}.sig").parse().unwrap();
        assert_eq!(cosign_signature_subject(&sig).unwrap().hex(), hex);
        for attachment in [
            format!("sha256-{hex}"),
            format!("sha256-{hex}.att"),
            format!("sha256-{hex}.sbom"),
        ] {
            assert!(
                is_attachment_tag(&attachment.parse().unwrap()),
                "{attachment}"
            );
        }
        for other in [
            "v1",
            "sha256-abc.sig",
            "sha256-abc",
            &format!("sha256-{hex}.exe"),
        ] {
            let tag: Tag = other.parse().unwrap();
            assert!(!is_attachment_tag(&tag), "{other}");
            if other != format!("sha256-{hex}.sig") {
                assert!(cosign_signature_subject(&tag).is_none() || other.ends_with(".sig"));
            }
        }
        assert!(cosign_signature_subject(&"sha256-abc.sig".parse().unwrap()).is_none());
    }
}
