//! Validated OCI identifiers: repository names, tags, digests and references.
//!
//! Each type is built only through `FromStr` / `TryFrom<String>` (serde goes through the same
//! check), so a value of one of these types has passed the distribution-spec grammar:
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>.
//! Validation works on the raw bytes of the URL path: nothing is percent-decoded first, so
//! `%2e%2e` is simply a name with characters outside the grammar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest repository name accepted. The spec lets registries cap it; 255 is what distribution
/// and most clients assume for `host/name` together.
pub const MAX_NAME_LEN: usize = 255;

/// Longest tag (spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OciIdError {
    /// The repository name breaks the spec grammar.
    #[error("invalid repository name {value:?}: {why}")]
    Name {
        /// The refused input, shortened for display.
        value: String,
        /// Which rule it broke.
        why: &'static str,
    },
    /// The tag breaks the spec grammar.
    #[error("invalid tag {value:?}: {why}")]
    Tag {
        /// The refused input, shortened for display.
        value: String,
        /// Which rule it broke.
        why: &'static str,
    },
    /// The digest is malformed or uses an algorithm sealgate cannot verify.
    #[error("invalid digest {value:?}: {why}")]
    Digest {
        /// The refused input, shortened for display.
        value: String,
        /// Which rule it broke.
        why: &'static str,
    },
}

/// Keeps refused input readable in error messages and logs: hostile input can be megabytes long.
fn shorten(value: &str) -> String {
    const KEEP: usize = 80;
    if value.len() <= KEEP {
        return value.to_owned();
    }
    let mut end = KEEP;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// A repository name: `<component>(/<component>)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName(String);

impl RepoName {
    /// The name as it appears in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One path component of a repository name.
fn check_name_component(component: &[u8]) -> Result<(), &'static str> {
    if component.is_empty() {
        return Err("empty path component (leading, trailing or double '/')");
    }
    if !is_lower_alnum(component[0]) || !is_lower_alnum(component[component.len() - 1]) {
        return Err("each path component must start and end with [a-z0-9]");
    }
    let mut i = 0;
    while i < component.len() {
        let b = component[i];
        if is_lower_alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: exactly one '.', one or two '_', or any number of '-'.
        let run_start = i;
        while i < component.len() && !is_lower_alnum(component[i]) {
            i += 1;
        }
        let run = &component[run_start..i];
        let ok = run == b"." || run == b"_" || run == b"__" || run.iter().all(|&c| c == b'-');
        if !ok {
            return Err("only [a-z0-9] separated by '.', '_', '__' or '-' are allowed");
        }
    }
    Ok(())
}

impl FromStr for RepoName {
    type Err = OciIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |why| OciIdError::Name {
            value: shorten(s),
            why,
        };
        if s.is_empty() {
            return Err(fail("empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(fail("longer than 255 characters"));
        }
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(fail("repository names must be lower case"));
        }
        if s.contains('%') {
            return Err(fail(
                "percent-encoded characters are not allowed (nothing is decoded)",
            ));
        }
        for component in s.as_bytes().split(|&b| b == b'/') {
            check_name_component(component).map_err(fail)?;
        }
        Ok(Self(s.to_owned()))
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// The tag as it appears in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = OciIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |why| OciIdError::Tag {
            value: shorten(s),
            why,
        };
        let bytes = s.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(fail("empty"));
        };
        if bytes.len() > MAX_TAG_LEN {
            return Err(fail("longer than 128 characters"));
        }
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return Err(fail("must start with [a-zA-Z0-9_]"));
        }
        if !bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(fail("only [a-zA-Z0-9._-] are allowed"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// Digest algorithms sealgate can verify content against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256, the algorithm every registry supports.
    Sha256,
    /// SHA-512, registered in the image spec.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name in a digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the lower-case hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest `<algorithm>:<lower-case hex>`, with the length the algorithm requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    algorithm: DigestAlgorithm,
    /// The whole `algorithm:hex` string, kept so that display and URLs need no allocation.
    full: String,
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lower-case hex part.
    pub fn hex(&self) -> &str {
        &self.full[self.algorithm.as_str().len() + 1..]
    }

    /// `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Builds a digest from an algorithm and the raw hash bytes it produced.
    pub fn from_hash(algorithm: DigestAlgorithm, hash: &[u8]) -> Result<Self, OciIdError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut full = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        full.push_str(algorithm.as_str());
        full.push(':');
        for b in hash {
            full.push(HEX[usize::from(b >> 4)] as char);
            full.push(HEX[usize::from(b & 0xf)] as char);
        }
        full.parse()
    }
}

impl FromStr for Digest {
    type Err = OciIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |why| OciIdError::Digest {
            value: shorten(s),
            why,
        };
        let Some((algo, hex)) = s.split_once(':') else {
            return Err(fail("expected <algorithm>:<hex>"));
        };
        let algorithm = match algo {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => {
                return Err(fail(
                    "unsupported algorithm (sha256 and sha512 are accepted)",
                ));
            }
        };
        if hex.len() != algorithm.hex_len() {
            return Err(fail(match algorithm {
                DigestAlgorithm::Sha256 => "sha256 needs 64 hex characters",
                DigestAlgorithm::Sha512 => "sha512 needs 128 hex characters",
            }));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(fail("the hex part must be lower-case [0-9a-f]"));
        }
        Ok(Self {
            algorithm,
            full: s.to_owned(),
        })
    }
}

/// What a manifest URL points at: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `/manifests/<tag>`
    Tag(Tag),
    /// `/manifests/<digest>`
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = OciIdError;

    /// A reference containing ':' can only be a digest (':' is outside the tag grammar).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Self::Digest)
        } else {
            s.parse().map(Self::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => t.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

/// Display, `TryFrom<String>` and `Into<String>` for the string-backed identifiers.
macro_rules! string_id {
    ($($ty:ident),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl TryFrom<String> for $ty {
            type Error = OciIdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.as_str().to_owned()
            }
        }
    )*};
}
string_id!(RepoName, Tag, Digest);

#[cfg(test)]
mod tests;
