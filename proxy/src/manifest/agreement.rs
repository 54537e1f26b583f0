//! Agreement with Go's `encoding/json`, which containerd, CRI-O, skopeo and distribution read
//! manifests with.
//!
//! sealgate reads a manifest with serde; the node that runs it reads the same bytes with Go. Where
//! the two parsers disagree, sealgate could judge one document (say, a cosign signature) while the
//! node runs another (a tar layer). [`check`] refuses every manifest on which they could disagree,
//! before anything else reads it:
//!
//! - **Duplicate keys** in any object (compared after unescaping): Go keeps the last, serde's
//!   derived structs refuse known fields twice and ignore unknown ones.
//! - **Case-folded keys**: Go binds a key to a struct field whose name equals it under
//!   `bytes.EqualFold` (ASCII case plus Unicode simple folding: `ſ` U+017F is `s`, `K` U+212A is
//!   `k`) when no field has exactly that name; serde matches exactly. In the objects Go decodes
//!   into structs (the manifest or index, its descriptors, a descriptor's platform), a key that
//!   folds to a known field name without being it is refused. Map values (`annotations`) keep
//!   their keys as they are in both parsers, so only duplicates matter there.
//! - **Text**: invalid UTF-8 and unpaired surrogate escapes (Go reads U+FFFD, serde refuses or
//!   skips); raw control characters; anything outside RFC 8259 (both refuse, so does this).
//! - **Numbers**: `size` and `schemaVersion` must be integers from 0 to 2^63-1 (Go reads an
//!   `int64`, serde a `u64`; a fraction or an exponent is an error for both, a negative size only
//!   for serde).
//! - **Depth**: more than [`MAX_DEPTH`] levels (serde stops at 128, Go at 10,000).
//! - **Ambiguous kind** (CVE-2021-41190): `manifests` together with `layers` or `config`, or a
//!   `mediaType` that names the other kind: a Go client picks the kind from the media type,
//!   sealgate from the fields.
//!
//! `null` needs no rule: Go treats it as absent, and serde either does too (`Option` fields) or
//! refuses it (fields that are not optional), which is refusal, not disagreement.

use std::collections::HashSet;

/// Deepest nesting accepted. A manifest nests five levels (`layers[].platform."os.features"[]`).
pub const MAX_DEPTH: usize = 32;

/// Field names Go clients bind in manifests, indexes, descriptors and platforms (OCI image-spec
/// 1.1, Docker schema 2, Docker schema 1). Every object decoded into a struct is checked against
/// all of them, which is stricter than per-struct lists and never looser.
const KNOWN_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
    "blobs",
    "digest",
    "size",
    "urls",
    "data",
    "platform",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "features",
    "name",
    "tag",
    "fsLayers",
    "blobSum",
    "history",
    "v1Compatibility",
    "signatures",
];

/// Media types of an index (a list of manifests).
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Media types of an image manifest (config and layers).
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Longest key quoted in an error message.
const QUOTED_KEY_CHARS: usize = 64;

/// Why a document may be read differently by Go and by sealgate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disagreement {
    /// Not JSON (RFC 8259).
    #[error("not JSON at byte {offset}: {what}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The top-level value is not an object.
    #[error("the top-level value is not a JSON object")]
    NotAnObject,
    /// A string holds bytes that are not UTF-8.
    #[error("invalid UTF-8 at byte {offset} (Go would read it as U+FFFD)")]
    InvalidUtf8 {
        /// Byte offset of the bad sequence.
        offset: usize,
    },
    /// A `\u` escape of half a surrogate pair.
    #[error("unpaired UTF-16 surrogate escape at byte {offset} (Go would read it as U+FFFD)")]
    LoneSurrogate {
        /// Byte offset of the escape.
        offset: usize,
    },
    /// A key appears twice in one object.
    #[error("key {key:?} appears twice in one object (byte {offset}); Go keeps the last")]
    DuplicateKey {
        /// The key, unescaped (shortened when long).
        key: String,
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// A key Go binds to a field it does not spell.
    #[error(
        "key {key:?} (byte {offset}) is not {field:?}, but Go's case-insensitive matching reads it as {field:?}"
    )]
    FoldedKey {
        /// The key, unescaped (shortened when long).
        key: String,
        /// The field Go binds it to.
        field: &'static str,
        /// Byte offset of the key.
        offset: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// `size` or `schemaVersion` is not an integer both parsers read alike.
    #[error("{field:?} at byte {offset} must be an integer from 0 to 2^63-1")]
    Integer {
        /// The field.
        field: &'static str,
        /// Byte offset of the value.
        offset: usize,
    },
    /// An index and an image manifest at once.
    #[error(
        "the document has both `manifests` and `{other}`: it is an index and an image manifest at once"
    )]
    Ambiguous {
        /// `layers` or `config`.
        other: &'static str,
    },
    /// The `mediaType` names the other kind of document.
    #[error("mediaType {media_type:?} does not fit a document with `{field}`")]
    MediaTypeMismatch {
        /// The declared media type.
        media_type: String,
        /// The field that contradicts it.
        field: &'static str,
    },
}

/// Checks that Go's `encoding/json` and sealgate's serde read `bytes` (a manifest or an index)
/// alike; see the module documentation for the rules. Runs in time linear in the input and
/// never panics, whatever the bytes.
pub fn check(bytes: &[u8]) -> Result<(), Disagreement> {
    let mut reader = Reader { bytes, pos: 0 };
    reader.whitespace();
    match reader.peek() {
        Some(b'{') => {}
        Some(_) => return Err(Disagreement::NotAnObject),
        None => return Err(reader.syntax("empty document")),
    }
    let root = reader.object(Context::Root, 1)?;
    reader.whitespace();
    if reader.pos != bytes.len() {
        return Err(reader.syntax("data after the top-level object"));
    }
    root.check_kind()
}

/// Whether Go's case-insensitive field matching (`bytes.EqualFold`) takes `key` for `field`, an
/// ASCII name. U+017F and U+212A are the only characters outside ASCII whose simple case folding
/// reaches an ASCII letter (Unicode `CaseFolding.txt`, status C and S), so comparing them and
/// ASCII case-insensitively is the whole of `EqualFold` here.
pub fn go_equal_fold(key: &str, field: &str) -> bool {
    let mut chars = key.chars();
    for f in field.bytes() {
        let same = match chars.next() {
            Some('\u{17F}') => f.eq_ignore_ascii_case(&b's'),
            Some('\u{212A}') => f.eq_ignore_ascii_case(&b'k'),
            Some(c) if c.is_ascii() => f.eq_ignore_ascii_case(&(c as u8)),
            _ => false,
        };
        if !same {
            return false;
        }
    }
    chars.next().is_none()
}

/// What kind of object a position holds, for the key rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// The manifest or index itself.
    Root,
    /// A descriptor (`config`, `subject`, an entry of `layers`, `manifests`, `blobs`).
    Descriptor,
    /// A descriptor's `platform`.
    Platform,
    /// A map (`annotations`): keys are data.
    Map,
    /// Anything neither parser binds: only JSON well-formedness and duplicates matter.
    Other,
}

impl Context {
    /// Go decodes objects at this position into a struct, matching keys case-insensitively.
    fn is_struct(self) -> bool {
        matches!(self, Self::Root | Self::Descriptor | Self::Platform)
    }

    /// The context of the value under `key` (of the elements, for an array).
    fn child(self, key: &str) -> Self {
        match (self, key) {
            (Self::Root, "config" | "subject" | "layers" | "manifests" | "blobs") => {
                Self::Descriptor
            }
            (Self::Descriptor, "platform") => Self::Platform,
            (Self::Root | Self::Descriptor, "annotations") => Self::Map,
            _ => Self::Other,
        }
    }
}

/// What the top-level object says about its kind.
#[derive(Default)]
struct RootFacts {
    media_type: Option<String>,
    manifests: bool,
    layers: bool,
    config: bool,
}

impl RootFacts {
    fn check_kind(&self) -> Result<(), Disagreement> {
        if self.manifests {
            for (present, other) in [(self.layers, "layers"), (self.config, "config")] {
                if present {
                    return Err(Disagreement::Ambiguous { other });
                }
            }
        }
        let Some(media_type) = &self.media_type else {
            return Ok(());
        };
        let contradiction = if INDEX_TYPES.contains(&media_type.as_str()) {
            [(self.layers, "layers"), (self.config, "config")]
                .into_iter()
                .find_map(|(present, field)| present.then_some(field))
        } else if MANIFEST_TYPES.contains(&media_type.as_str()) {
            self.manifests.then_some("manifests")
        } else {
            None
        };
        match contradiction {
            Some(field) => Err(Disagreement::MediaTypeMismatch {
                media_type: shorten(media_type),
                field,
            }),
            None => Ok(()),
        }
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(QUOTED_KEY_CHARS).collect()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn syntax(&self, what: &'static str) -> Disagreement {
        Disagreement::Syntax {
            offset: self.pos,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Disagreement> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, context: Context, depth: usize) -> Result<(), Disagreement> {
        match self.peek() {
            Some(b'{') => self.object(context, depth + 1).map(drop),
            Some(b'[') => self.array(context, depth + 1),
            Some(b'"') => self.string(false).map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Disagreement> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn array(&mut self, context: Context, depth: usize) -> Result<(), Disagreement> {
        if depth > MAX_DEPTH {
            return Err(Disagreement::TooDeep);
        }
        self.expect(b'[', "expected `[`")?;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            self.value(context, depth)?;
            self.whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b']') => return Ok(()),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.syntax("expected `,` or `]`"));
                }
            }
        }
    }

    fn object(&mut self, context: Context, depth: usize) -> Result<RootFacts, Disagreement> {
        if depth > MAX_DEPTH {
            return Err(Disagreement::TooDeep);
        }
        self.expect(b'{', "expected `{`")?;
        let mut facts = RootFacts::default();
        let mut keys: HashSet<String> = HashSet::new();
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(facts);
        }
        loop {
            self.whitespace();
            let offset = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key"));
            }
            let key = self.string(true)?.unwrap_or_default();
            if context.is_struct()
                && let Some(field) = KNOWN_FIELDS
                    .iter()
                    .copied()
                    .find(|f| *f != key && go_equal_fold(&key, f))
            {
                return Err(Disagreement::FoldedKey {
                    key: shorten(&key),
                    field,
                    offset,
                });
            }
            if !keys.insert(key.clone()) {
                return Err(Disagreement::DuplicateKey {
                    key: shorten(&key),
                    offset,
                });
            }
            self.whitespace();
            self.expect(b':', "expected `:`")?;
            self.whitespace();
            let integer = match key.as_str() {
                "size" => Some("size"),
                "schemaVersion" => Some("schemaVersion"),
                _ => None,
            };
            if context.is_struct()
                && let Some(field) = integer
            {
                self.integer(field)?;
            } else if context == Context::Root && key == "mediaType" && self.peek() == Some(b'"') {
                facts.media_type = self.string(true)?;
            } else {
                self.value(context.child(&key), depth)?;
            }
            if context == Context::Root {
                match key.as_str() {
                    "manifests" => facts.manifests = true,
                    "layers" => facts.layers = true,
                    "config" => facts.config = true,
                    _ => {}
                }
            }
            self.whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => return Ok(facts),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.syntax("expected `,` or `}`"));
                }
            }
        }
    }

    /// An integer both parsers read alike (`null` too: both treat it as absent, or serde
    /// refuses it).
    fn integer(&mut self, field: &'static str) -> Result<(), Disagreement> {
        let offset = self.pos;
        if self.peek() == Some(b'n') {
            return self.literal(b"null");
        }
        let bad = Disagreement::Integer { field, offset };
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(bad);
        }
        let text = self.number()?;
        match text.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(()),
            _ => Err(bad),
        }
    }

    /// A number as RFC 8259 spells it; returns its text.
    fn number(&mut self) -> Result<&str, Disagreement> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        // Only ASCII was consumed.
        std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|_| self.syntax("invalid number"))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    /// A string; decoded (escapes resolved) when `decode`, else only checked.
    fn string(&mut self, decode: bool) -> Result<Option<String>, Disagreement> {
        self.expect(b'"', "expected a string")?;
        let mut out = decode.then(String::new);
        loop {
            let offset = self.pos;
            let Some(b) = self.next() else {
                return Err(self.syntax("unterminated string"));
            };
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let c = self.escape(offset)?;
                    if let Some(out) = &mut out {
                        out.push(c);
                    }
                }
                0x00..=0x1F => {
                    self.pos = offset;
                    return Err(self.syntax("control character in a string"));
                }
                0x20..=0x7F => {
                    if let Some(out) = &mut out {
                        out.push(char::from(b));
                    }
                }
                _ => {
                    let width = match b {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => return Err(Disagreement::InvalidUtf8 { offset }),
                    };
                    let sequence = self
                        .bytes
                        .get(offset..offset + width)
                        .and_then(|s| std::str::from_utf8(s).ok())
                        .ok_or(Disagreement::InvalidUtf8 { offset })?;
                    self.pos = offset + width;
                    if let Some(out) = &mut out {
                        out.push_str(sequence);
                    }
                }
            }
        }
    }

    /// The character of the escape whose backslash is at `offset` (already consumed).
    fn escape(&mut self, offset: usize) -> Result<char, Disagreement> {
        let c = match self.next() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.peek() != Some(b'\\') || self.bytes.get(self.pos + 1) != Some(&b'u')
                        {
                            return Err(Disagreement::LoneSurrogate { offset });
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Disagreement::LoneSurrogate { offset });
                        }
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        char::from_u32(code).ok_or(Disagreement::LoneSurrogate { offset })?
                    }
                    0xDC00..=0xDFFF => return Err(Disagreement::LoneSurrogate { offset }),
                    _ => char::from_u32(u32::from(unit))
                        .ok_or(Disagreement::LoneSurrogate { offset })?,
                }
            }
            _ => {
                self.pos = offset;
                return Err(self.syntax("invalid escape"));
            }
        };
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u16, Disagreement> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.syntax("invalid \\u escape"))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.syntax("invalid \\u escape"));
        }
        let unit = u16::from_str_radix(text, 16).map_err(|_| self.syntax("invalid \\u escape"))?;
        self.pos += 4;
        Ok(unit)
    }
}

#[cfg(test)]
mod tests;
