//! The `Warning` response header: how sealgate tells a client what it let through in warn mode.

use http::{HeaderValue, Response, header};

use crate::body::ProxyBody;

/// Appends `message` to `response` as a `Warning: 299 - "…"` header (quotes and backslashes
/// replaced, at most 1000 characters); a message that is not a valid header value is dropped.
pub(crate) fn warning(mut response: Response<ProxyBody>, message: &str) -> Response<ProxyBody> {
    let text = format!(
        "299 - \"{}\"",
        message
            .replace(['"', '\\'], "'")
            .chars()
            .take(1000)
            .collect::<String>()
    );
    if let Ok(v) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::WARNING, v);
    }
    response
}
