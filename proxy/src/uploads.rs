//! Upload sessions (end-5, end-6, end-13, end-14): chunk order and superseded session states.
//!
//! The spec: "Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the
//! registry MUST respond with a `416 Requested Range Not Satisfiable` code", and a `GET` of the
//! session then answers 204 with `Range` and `Location`
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks>).
//! distribution 2.8 does neither: it appends a chunk wherever its `Content-Range` starts, and a
//! request carrying a *superseded* session state (the `_state` of an earlier `Location`: a client
//! retrying a chunk, or asking for the status after a 416) makes it cancel the whole upload.
//!
//! So, for a `PATCH` with `Content-Range`, sealgate asks the upstream where the upload is (a
//! `GET` of the session) and answers 416 itself, with the upstream's `Range` and `Location`,
//! when the chunk does not start there; the chunk is not forwarded and the upload stays usable.
//! The offset always comes from the upstream, so any replica can check any chunk.
//!
//! A superseded state, though, cannot be recognised from the upstream without destroying the
//! upload (any request carrying it cancels it), and not from the state itself (it is opaque and
//! signed). [`UploadSessions`](crate::upload_sessions::UploadSessions) remembers, per session,
//! the state the upstream last handed out and digests of the ones it replaced; a request carrying
//! a replaced one is sent upstream with the current one instead. Only states the upstream itself
//! superseded are ever replaced, so a replica that has not seen a session forwards what it is
//! given, as before.

use http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use http_body_util::BodyExt as _;
use sealgate_policies::oci::RepoName;

use crate::body::ProxyBody;
use crate::content_range::{ChunkRange, ContentRangeError, parse_content_range};
use crate::error::ProxyError;
use crate::routes::UploadId;
use crate::state::AppState;
use crate::upload_sessions::SessionKey;
use crate::upstream::{Forward, Upstream};

/// How much of a refused chunk is read and dropped before answering, so that the client gets
/// the answer instead of a reset connection; a larger body gets the answer and the connection
/// is closed.
const MAX_DRAIN: u64 = 64 * 1024 * 1024;

/// A request to an upload session, as the route parser validated it.
pub struct SessionRequest<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The upstream holding the session.
    pub upstream: &'a Upstream,
    /// The repository.
    pub name: &'a RepoName,
    /// The session.
    pub id: &'a UploadId,
    /// `PATCH`, `PUT`, `GET` or `DELETE`.
    pub method: Method,
    /// The validated path (`/v2/<name>/blobs/uploads/<id>`).
    pub path: &'a str,
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// The validated query: the session state, and `digest` on the closing `PUT`.
    pub query: Option<&'a str>,
    /// `?ns=` of the request, kept in rewritten `Location`s.
    pub ns: Option<&'a str>,
}

/// The upload's offset read from a `Range: 0-<last byte>` answer, as the smallest and largest
/// value it may be: distribution answers `0-0` both for an empty upload and for a one-byte one.
pub fn offset_from_range(value: &str) -> Option<(u64, u64)> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let (start, end) = value.split_once('-')?;
    if start != "0" || end.is_empty() || !end.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let end: u64 = end.parse().ok()?;
    Some(if end == 0 {
        (0, 1)
    } else {
        (end.checked_add(1)?, end.checked_add(1)?)
    })
}

/// The session state in a query: every parameter but `digest` (the closing `PUT`'s) and `ns`
/// (sealgate's own), in their order, re-encoded.
fn session_state(query: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != "digest" && key != "ns" {
            out.append_pair(&key, &value);
        }
    }
    out.finish()
}

/// `state` with the parameters of `query` that are not state (`digest`) appended.
fn with_request_parameters(state: &str, query: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(state.to_owned());
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "digest" {
            out.append_pair(&key, &value);
        }
    }
    out.finish()
}

impl SessionRequest<'_> {
    fn key(&self) -> SessionKey {
        SessionKey {
            upstream: self.upstream.config.name.clone(),
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }

    /// The session state in the `Location` of an upstream answer, when it names this session.
    fn handed_out(&self, response: &Response<ProxyBody>) -> Option<String> {
        let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
        let uri: Uri = location.parse().ok()?;
        (uri.path() == self.path).then(|| session_state(uri.query()))
    }

    /// `GET` of the session upstream with `state`: the upstream's answer, body dropped.
    async fn status(&self, state: &str) -> Result<Response<ProxyBody>, ProxyError> {
        // Only the credentials: the client's headers describe its `PATCH` body.
        let mut headers = HeaderMap::new();
        if let Some(auth) = self.headers.get(header::AUTHORIZATION) {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        let forward = Forward {
            method: Method::GET,
            path: self.path,
            query: (!state.is_empty()).then_some(state),
            headers: &headers,
            ns: self.ns,
        };
        self.state
            .upstreams
            .forward(self.upstream, forward, crate::body::empty())
            .await
    }
}

/// Handles `PATCH`, `PUT`, `GET` and `DELETE` of an upload session.
/// `body` is the client's, already bounded by the idle timeout and watched for cuts.
pub async fn handle(
    req: &SessionRequest<'_>,
    body: ProxyBody,
) -> Result<Response<ProxyBody>, ProxyError> {
    let sessions = &req.state.uploads;
    let key = req.key();
    let asked = session_state(req.query);
    // A state the upstream replaced would make it cancel the upload: send the current one.
    let state = sessions.replacement(&key, &asked).unwrap_or(asked);
    let chunk = match (&req.method, req.headers.get(header::CONTENT_RANGE)) {
        (&Method::PATCH, Some(value)) => {
            let parsed = value
                .to_str()
                .map_err(|_| ContentRangeError::NotText)
                .and_then(parse_content_range);
            match parsed {
                Ok(range) => Some(range),
                Err(why) => {
                    drain(body).await;
                    return Err(ProxyError::ContentRangeInvalid(why));
                }
            }
        }
        _ => None,
    };
    if let Some(range) = chunk {
        let status = req.status(&state).await?;
        if !status.status().is_success() {
            // The session is unknown or broken upstream: its answer says so.
            drain(body).await;
            return Ok(status);
        }
        let range_header = status.headers().get(header::RANGE).cloned();
        let offset = range_header
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(offset_from_range)
            .map(|(low, high)| match sessions.offset_of(&key, &state) {
                Some(known) if (low..=high).contains(&known) => (known, known),
                _ => (low, high),
            });
        // An upstream whose status sealgate cannot read gets the chunk as before: the order
        // check is for conformance; the blob's digest is verified when the upload closes.
        if let Some((low, high)) = offset
            && !(low..=high).contains(&range.start)
        {
            drain(body).await;
            let mut response = ProxyError::ChunkOutOfOrder {
                start: range.start,
                offset: low,
            }
            .into_response();
            let headers = response.headers_mut();
            if let Some(location) = status.headers().get(header::LOCATION) {
                headers.insert(header::LOCATION, location.clone());
            }
            if let Some(range) = range_header {
                headers.insert(header::RANGE, range);
            }
            return Ok(response);
        }
    }
    let query = with_request_parameters(&state, req.query);
    let forward = Forward {
        method: req.method.clone(),
        path: req.path,
        query: (!query.is_empty()).then_some(query.as_str()),
        headers: req.headers,
        ns: req.ns,
    };
    let response = req
        .state
        .upstreams
        .forward(req.upstream, forward, body)
        .await?;
    let status = response.status();
    match req.method {
        Method::PUT | Method::DELETE if status.is_success() => sessions.finished(&key),
        Method::PATCH if status == StatusCode::ACCEPTED => {
            if let Some(current) = req.handed_out(&response) {
                let offset = response
                    .headers()
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(offset_from_range)
                    .and_then(|(low, high)| match chunk {
                        _ if low == high => Some(low),
                        // `0-0` after a one-byte first chunk.
                        Some(ChunkRange { start: 0, end: 0 }) => Some(1),
                        _ => None,
                    });
                sessions.advanced(key, &state, current, offset);
            }
        }
        _ => {}
    }
    Ok(response)
}

/// Reads and drops up to [`MAX_DRAIN`] bytes of a request body that is refused.
async fn drain(mut body: ProxyBody) {
    let mut read = 0u64;
    while read <= MAX_DRAIN {
        match body.frame().await {
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_in_the_spec_form_and_the_rfc_forms() {
        assert_eq!(
            parse_content_range("0-4"),
            Ok(ChunkRange { start: 0, end: 4 })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Ok(ChunkRange { start: 5, end: 9 })
        );
        assert_eq!(
            parse_content_range("bytes=5-9"),
            Ok(ChunkRange { start: 5, end: 9 })
        );
        for bad in [
            "",
            "-",
            "5-",
            "-5",
            "9-5",
            "a-b",
            "0x1-2",
            "+1-2",
            "1-2-3",
            " 1-2",
            "99999999999999999999-1",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn offsets_from_range_answers() {
        assert_eq!(offset_from_range("0-4"), Some((5, 5)));
        // distribution: empty and one byte look alike.
        assert_eq!(offset_from_range("0-0"), Some((0, 1)));
        assert_eq!(offset_from_range("1-4"), None);
        assert_eq!(offset_from_range("0-"), None);
        assert_eq!(offset_from_range("bytes=0-4"), Some((5, 5)));
        assert_eq!(offset_from_range("bytes 0-4/*"), None);
        assert_eq!(offset_from_range(&format!("0-{}", u64::MAX)), None);
    }

    #[test]
    fn the_session_state_leaves_out_digest_and_ns() {
        assert_eq!(
            session_state(Some("_state=ab%3D%3D&digest=sha256%3A00&ns=docker.io")),
            "_state=ab%3D%3D"
        );
        assert_eq!(session_state(None), "");
        assert_eq!(
            with_request_parameters("_state=cd", Some("_state=ab&digest=sha256%3A00")),
            "_state=cd&digest=sha256%3A00"
        );
    }
}
