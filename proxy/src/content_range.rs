//! The `Content-Range` of an upload chunk, parsed before the chunk goes anywhere.

/// A `Content-Range` of a chunk: first and last byte, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// Offset of the chunk's first byte in the blob.
    pub start: u64,
    /// Offset of its last byte.
    pub end: u64,
}

/// A chunk's `Content-Range` that is not `<first byte>-<last byte>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentRangeError {
    /// The header's value is not visible ASCII.
    #[error("Content-Range is not text")]
    NotText,
    /// The value does not parse, or its first byte is after its last.
    #[error("Content-Range {0:?} is not <first byte>-<last byte> (inclusive, first <= last)")]
    Malformed(String),
}

/// Parses the spec's `^[0-9]+-[0-9]+$`; the RFC 9110 forms (`bytes 0-9/*`, `bytes=0-9`) are
/// read too.
pub fn parse_content_range(value: &str) -> Result<ChunkRange, ContentRangeError> {
    let spec = value
        .strip_prefix("bytes=")
        .or_else(|| value.strip_prefix("bytes "))
        .unwrap_or(value);
    let spec = spec.split_once('/').map_or(spec, |(range, _total)| range);
    let number = |s: &str| {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let parsed = spec
        .split_once('-')
        .and_then(|(start, end)| Some((number(start)?, number(end)?)));
    match parsed {
        Some((start, end)) if start <= end => Ok(ChunkRange { start, end }),
        _ => Err(ContentRangeError::Malformed(value.to_owned())),
    }
}
