//! What a tag is for, and what sealgate holds about it: its pin and its held push.

use super::event::{Action, ReasonCode};
use crate::oci::{Digest, RepoName, Tag};

/// A manifest the tag's role does not admit ([`TagRole::admits`]): what the client is told,
/// and the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The refusal, starting with `name:tag`.
    pub message: String,
    /// `NotForThisTag` or `WrongSubject`.
    pub reason: ReasonCode,
}

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

    /// The image a cosign tag (`.sig`, `.att`, `.sbom`) is about; `None` for image tags and the
    /// referrers fallback tag.
    pub fn cosign_subject(&self) -> Option<&Digest> {
        match self {
            Self::Signatures(subject) | Self::Attachment(subject) => Some(subject),
            Self::Image | Self::ReferrersFallback(_) => None,
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

/// What the role check reads from a manifest's bytes (the proxy parses them).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManifestFacts<'a> {
    /// The subject of a manifest carrying signatures sealgate verifies (an OCI 1.1 referrer
    /// with cosign layers or sigstore bundles).
    pub signature_subject: Option<&'a Digest>,
    /// Its `subject.digest`, as written.
    pub subject: Option<&'a str>,
    /// `schemaVersion` is 2 and there are no schema 1 `fsLayers`.
    pub schema2: bool,
    /// It lists manifests (an index), parsed or as written.
    pub lists_manifests: bool,
    /// An index of referrers only: no layers, no config, and every listed descriptor with a
    /// non-empty `artifactType` and no `platform`.
    pub referrers_list: bool,
    /// Every layer is signature material (simple signing, a sigstore bundle, a DSSE envelope).
    pub is_signature: bool,
    /// The layers' media types, in order.
    pub layer_media_types: &'a [&'a str],
}

/// Whether a container runtime would unpack a layer of this media type into a root filesystem:
/// OCI layers in any compression (and nondistributable ones), Docker's rootfs diffs (containerd's
/// `images.IsLayerType`), compared without parameters or case. A layer with no media type counts
/// too: its kind is unknown, so it is not taken for metadata.
pub fn is_runnable_layer(media_type: &str) -> bool {
    let base = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    base.is_empty()
        || base.starts_with("application/vnd.oci.image.layer.")
        || base.starts_with("application/vnd.docker.image.rootfs.")
}

impl TagRole {
    /// Whether a manifest may be stored under `tag` (of this role) in `name`; if not, the
    /// refusal. Image tags hold no signature referrer; the tags about an image hold schema 2
    /// material about that image only, never an image or an index of images; the referrers
    /// fallback tag holds a referrers index only.
    pub fn admits(
        &self,
        name: &RepoName,
        tag: &Tag,
        manifest: &ManifestFacts<'_>,
    ) -> Result<(), Misfit> {
        let refuse = |why: String| {
            Err(Misfit {
                message: format!("{name}:{tag} {why}"),
                reason: ReasonCode::NotForThisTag,
            })
        };
        let described = match self {
            Self::Image => {
                // A signature referrer is not an image: pinned under an image tag it would
                // move the registry's tag to something else than the image.
                if let Some(subject) = manifest.signature_subject {
                    let hex = subject.hex();
                    return refuse(format!(
                        "is an image tag, and this is a signature manifest for {subject}: push it by \
                         digest (cosign's OCI 1.1 mode) or under its cosign tag sha256-{hex}.sig"
                    ));
                }
                return Ok(());
            }
            Self::Signatures(d) | Self::Attachment(d) | Self::ReferrersFallback(d) => d,
        };
        if let Some(subject) = manifest.subject
            && subject != described.as_str()
        {
            return Err(Misfit {
                message: format!(
                    "{name}:{tag} holds material about {described}, but this manifest's subject is \
                     {subject}; push it by digest, or under the tag of its own subject"
                ),
                reason: ReasonCode::WrongSubject,
            });
        }
        if !manifest.schema2 {
            return refuse(format!(
                "holds material about {described}; only schema 2 (OCI or Docker v2) manifests are \
                 accepted here"
            ));
        }
        match self {
            Self::ReferrersFallback(_) if manifest.referrers_list => Ok(()),
            Self::ReferrersFallback(_) => refuse(format!(
                "is the referrers fallback tag of {described}: it holds an image index listing \
                 referrers (each with an artifactType, none with a platform), never an image"
            )),
            _ if manifest.lists_manifests => refuse(format!(
                "holds material about {described} (signatures, attestations, SBOMs), never an index \
                 of images"
            )),
            Self::Signatures(_) if !manifest.is_signature => refuse(format!(
                "holds cosign signatures of {described}: every layer must be signature material \
                 (simple signing, a sigstore bundle or a DSSE envelope)"
            )),
            _ => match manifest
                .layer_media_types
                .iter()
                .position(|t| is_runnable_layer(t))
            {
                Some(i) => refuse(format!(
                    "holds material about {described}, never a runnable image: layer {i} has media \
                     type {:?}; push images under an image tag, where they are pinned and verified",
                    manifest.layer_media_types[i]
                )),
                None => Ok(()),
            },
        }
    }
}
