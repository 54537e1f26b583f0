//! The OCI URL grammar: a request line becomes an [`OciRequest`] or a [`RouteError`], before
//! anything reaches an upstream.
//!
//! The path is split into segments and read from the right, because repository names contain
//! `/` and the last segments say which endpoint it is. Nothing is percent-decoded: `%2e%2e` is a
//! name component with characters outside the grammar, not `..`. Endpoint IDs (`end-3`) are the
//! distribution spec's:
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints>.

use std::fmt;

use http::{Method, Uri};
use sealgate_policies::oci::{Digest, OciIdError, Reference, RepoName, Tag};

/// Longest upload session id accepted. distribution uses UUIDs; other registries use opaque
/// tokens, so leave room.
const MAX_UPLOAD_ID_LEN: usize = 512;

/// An upload session id, as handed out by the upstream in `Location`. Opaque, but restricted to
/// URL-safe characters so it cannot smuggle path segments or encodings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// The id as it appears in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn parse(s: &str) -> Result<Self, RouteError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_UPLOAD_ID_LEN
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'~')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(RouteError::UploadId {
                why: "upload ids are 1-512 characters of [A-Za-z0-9._=~-]",
            })
        }
    }
}

/// One OCI endpoint, with its validated parts. Variants are per method so that the gates can
/// match on exactly the operations they govern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRoute {
    /// end-1: `GET|HEAD /v2/`
    Base,
    /// `GET /v2/_catalog` (not in the spec's endpoint table, but served by distribution)
    Catalog,
    /// end-3: `GET|HEAD /v2/<name>/manifests/<reference>`
    GetManifest {
        /// Repository.
        name: RepoName,
        /// Tag or digest.
        reference: Reference,
    },
    /// end-7: `PUT /v2/<name>/manifests/<reference>`
    PutManifest {
        /// Repository.
        name: RepoName,
        /// Tag or digest.
        reference: Reference,
    },
    /// end-9: `DELETE /v2/<name>/manifests/<reference>`
    DeleteManifest {
        /// Repository.
        name: RepoName,
        /// Tag or digest.
        reference: Reference,
    },
    /// end-2: `GET|HEAD /v2/<name>/blobs/<digest>`
    GetBlob {
        /// Repository.
        name: RepoName,
        /// Blob digest.
        digest: Digest,
    },
    /// end-10: `DELETE /v2/<name>/blobs/<digest>`
    DeleteBlob {
        /// Repository.
        name: RepoName,
        /// Blob digest.
        digest: Digest,
    },
    /// end-4a, end-4b (`?digest=`), end-11 (`?mount=&from=`): `POST /v2/<name>/blobs/uploads/`
    StartUpload {
        /// Repository.
        name: RepoName,
    },
    /// end-5: `PATCH /v2/<name>/blobs/uploads/<id>`
    PatchUpload {
        /// Repository.
        name: RepoName,
        /// Session.
        id: UploadId,
    },
    /// end-6: `PUT /v2/<name>/blobs/uploads/<id>?digest=`
    FinishUpload {
        /// Repository.
        name: RepoName,
        /// Session.
        id: UploadId,
    },
    /// end-13: `GET /v2/<name>/blobs/uploads/<id>`
    UploadStatus {
        /// Repository.
        name: RepoName,
        /// Session.
        id: UploadId,
    },
    /// `DELETE /v2/<name>/blobs/uploads/<id>` (cancel; distribution supports it)
    CancelUpload {
        /// Repository.
        name: RepoName,
        /// Session.
        id: UploadId,
    },
    /// end-8a, end-8b: `GET /v2/<name>/tags/list`
    ListTags {
        /// Repository.
        name: RepoName,
    },
    /// end-12a, end-12b: `GET /v2/<name>/referrers/<digest>`
    ListReferrers {
        /// Repository.
        name: RepoName,
        /// Subject digest.
        digest: Digest,
    },
}

/// A parsed request: the route, the mirror namespace, and the query to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRequest {
    /// The endpoint.
    pub route: OciRoute,
    /// `?ns=<registry>` (containerd mirror mode), validated as a host[:port].
    pub ns: Option<String>,
    /// The query forwarded upstream: only the parameters the endpoint defines, validated and
    /// re-encoded; for upload sessions, the upstream's own opaque state as well. Never `ns`.
    pub upstream_query: Option<String>,
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A name, tag or digest outside the grammar.
    #[error(transparent)]
    Id(#[from] OciIdError),
    /// An upload session id with unexpected characters.
    #[error("invalid upload id: {why}")]
    UploadId {
        /// The rule it broke.
        why: &'static str,
    },
    /// A query parameter with an invalid value, or given twice.
    #[error("invalid query parameter {param:?}: {why}")]
    Query {
        /// The parameter.
        param: String,
        /// What was wrong.
        why: String,
    },
    /// A manifest read (`GET`/`HEAD`) by a reference outside the grammar: nothing can be stored
    /// under it, so it is unknown (end-3 fails with 404) rather than a bad request. A `PUT` or
    /// `DELETE` with such a reference stays [`RouteError::Id`].
    #[error("manifest unknown: {0}")]
    ManifestUnknown(#[source] OciIdError),
    /// No OCI endpoint has this path.
    #[error("no such endpoint; sealgate serves the OCI distribution API under /v2/")]
    NotFound,
    /// The endpoint exists but not with this method.
    #[error("{method} is not supported on this endpoint")]
    MethodNotAllowed {
        /// The refused method.
        method: Method,
    },
}

/// Which endpoint family a path names, before the method is looked at.
enum Shape<'a> {
    Base,
    Catalog,
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Tags(&'a str),
    Referrers(&'a str, &'a str),
}

fn shape(path: &str) -> Result<Shape<'_>, RouteError> {
    let rest = match path {
        "/v2" | "/v2/" => return Ok(Shape::Base),
        "/v2/_catalog" => return Ok(Shape::Catalog),
        _ => path.strip_prefix("/v2/").ok_or(RouteError::NotFound)?,
    };
    // Names never end with '/', so at most the last segment may be empty (`uploads/`).
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    // The name is everything before the endpoint's own segments; it is a byte prefix of `rest`.
    let name_before = |k: usize| {
        let len: usize = segments[..k].iter().map(|s| s.len() + 1).sum::<usize>();
        &rest[..len.saturating_sub(1)]
    };
    let at = |i: usize| segments.get(i).copied();
    if n >= 3 && at(n - 2) == Some("tags") && at(n - 1) == Some("list") {
        return Ok(Shape::Tags(name_before(n - 2)));
    }
    if n >= 3 && at(n - 3) == Some("blobs") && at(n - 2) == Some("uploads") {
        let id = segments[n - 1];
        let name = name_before(n - 3);
        return Ok(if id.is_empty() {
            Shape::UploadStart(name)
        } else {
            Shape::Upload(name, id)
        });
    }
    if n >= 3 && at(n - 2) == Some("blobs") && at(n - 1) == Some("uploads") {
        return Ok(Shape::UploadStart(name_before(n - 2)));
    }
    if n >= 2 {
        let last = segments[n - 1];
        let name = name_before(n - 2);
        match segments[n - 2] {
            "manifests" => return Ok(Shape::Manifest(name, last)),
            "blobs" => return Ok(Shape::Blob(name, last)),
            "referrers" => return Ok(Shape::Referrers(name, last)),
            _ => {}
        }
    }
    Err(RouteError::NotFound)
}

impl OciRequest {
    /// Parses and validates a request line.
    pub fn parse(method: &Method, uri: &Uri) -> Result<Self, RouteError> {
        let route = OciRoute::parse(method, uri.path())?;
        let mut query = Query::parse(uri.query().unwrap_or(""))?;
        let ns = query.take("ns");
        if let Some(ns) = &ns
            && !is_valid_namespace(ns)
        {
            return Err(query_error(
                "ns",
                "must be a registry host such as docker.io",
            ));
        }
        let upstream_query = route.upstream_query(query)?;
        Ok(Self {
            route,
            ns,
            upstream_query,
        })
    }
}

fn allowed(method: &Method, allowed: &[Method]) -> Result<(), RouteError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(RouteError::MethodNotAllowed {
            method: method.clone(),
        })
    }
}

impl OciRoute {
    /// Parses the path of a request made with `method`.
    pub fn parse(method: &Method, path: &str) -> Result<Self, RouteError> {
        use Method as M;
        Ok(match shape(path)? {
            Shape::Base => {
                allowed(method, &[M::GET, M::HEAD])?;
                Self::Base
            }
            Shape::Catalog => {
                allowed(method, &[M::GET])?;
                Self::Catalog
            }
            Shape::Manifest(name, reference) => {
                allowed(method, &[M::GET, M::HEAD, M::PUT, M::DELETE])?;
                let name = name.parse()?;
                let reads = matches!(*method, M::GET | M::HEAD);
                let reference = reference.parse().map_err(|e| {
                    if reads {
                        RouteError::ManifestUnknown(e)
                    } else {
                        RouteError::Id(e)
                    }
                })?;
                match *method {
                    M::PUT => Self::PutManifest { name, reference },
                    M::DELETE => Self::DeleteManifest { name, reference },
                    _ => Self::GetManifest { name, reference },
                }
            }
            Shape::Blob(name, digest) => {
                allowed(method, &[M::GET, M::HEAD, M::DELETE])?;
                let name = name.parse()?;
                let digest = digest.parse()?;
                if *method == M::DELETE {
                    Self::DeleteBlob { name, digest }
                } else {
                    Self::GetBlob { name, digest }
                }
            }
            Shape::UploadStart(name) => {
                allowed(method, &[M::POST])?;
                Self::StartUpload {
                    name: name.parse()?,
                }
            }
            Shape::Upload(name, id) => {
                allowed(method, &[M::GET, M::PATCH, M::PUT, M::DELETE])?;
                let name = name.parse()?;
                let id = UploadId::parse(id)?;
                match *method {
                    M::PATCH => Self::PatchUpload { name, id },
                    M::PUT => Self::FinishUpload { name, id },
                    M::DELETE => Self::CancelUpload { name, id },
                    _ => Self::UploadStatus { name, id },
                }
            }
            Shape::Tags(name) => {
                allowed(method, &[M::GET])?;
                Self::ListTags {
                    name: name.parse()?,
                }
            }
            Shape::Referrers(name, digest) => {
                allowed(method, &[M::GET])?;
                Self::ListReferrers {
                    name: name.parse()?,
                    digest: digest.parse()?,
                }
            }
        })
    }

    /// The repository the route concerns, if any.
    pub fn name(&self) -> Option<&RepoName> {
        match self {
            Self::Base | Self::Catalog => None,
            Self::GetManifest { name, .. }
            | Self::PutManifest { name, .. }
            | Self::DeleteManifest { name, .. }
            | Self::GetBlob { name, .. }
            | Self::DeleteBlob { name, .. }
            | Self::StartUpload { name }
            | Self::PatchUpload { name, .. }
            | Self::FinishUpload { name, .. }
            | Self::UploadStatus { name, .. }
            | Self::CancelUpload { name, .. }
            | Self::ListTags { name }
            | Self::ListReferrers { name, .. } => Some(name),
        }
    }

    /// Validates the parameters this endpoint defines and drops the rest.
    fn upstream_query(&self, mut query: Query) -> Result<Option<String>, RouteError> {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let mut keep = |key: &str, value: String| {
            out.append_pair(key, &value);
        };
        match self {
            Self::Base
            | Self::GetManifest { .. }
            | Self::PutManifest { .. }
            | Self::DeleteManifest { .. }
            | Self::GetBlob { .. }
            | Self::DeleteBlob { .. } => {}
            Self::StartUpload { .. } => {
                for key in ["digest", "mount"] {
                    if let Some(v) = query.take(key) {
                        parse_param::<Digest>(key, &v)?;
                        keep(key, v);
                    }
                }
                if let Some(v) = query.take("from") {
                    parse_param::<RepoName>("from", &v)?;
                    keep("from", v);
                }
            }
            // The session's query is the upstream's own state (`_state` in distribution): the
            // spec makes upload locations opaque, so it goes back untouched, `digest` checked.
            Self::PatchUpload { .. }
            | Self::FinishUpload { .. }
            | Self::UploadStatus { .. }
            | Self::CancelUpload { .. } => {
                for (key, value) in query.pairs.drain(..) {
                    if key == "digest" {
                        parse_param::<Digest>("digest", &value)?;
                    }
                    keep(&key, value);
                }
            }
            Self::ListTags { .. } | Self::Catalog => {
                if let Some(v) = query.take("n") {
                    if v.parse::<u32>().is_err() {
                        return Err(query_error("n", "must be a non-negative integer"));
                    }
                    keep("n", v);
                }
                if let Some(v) = query.take("last") {
                    if matches!(self, Self::Catalog) {
                        parse_param::<RepoName>("last", &v)?;
                    } else {
                        parse_param::<Tag>("last", &v)?;
                    }
                    keep("last", v);
                }
            }
            Self::ListReferrers { .. } => {
                if let Some(v) = query.take("artifactType") {
                    if !is_media_type(&v) {
                        return Err(query_error(
                            "artifactType",
                            "must be a media type type/subtype",
                        ));
                    }
                    keep("artifactType", v);
                }
            }
        }
        let encoded = out.finish();
        Ok((!encoded.is_empty()).then_some(encoded))
    }
}

fn parse_param<T: std::str::FromStr<Err = OciIdError>>(
    key: &str,
    value: &str,
) -> Result<T, RouteError> {
    value.parse::<T>().map_err(|e| query_error(key, e))
}

fn query_error(param: &str, why: impl fmt::Display) -> RouteError {
    RouteError::Query {
        param: param.to_owned(),
        why: why.to_string(),
    }
}

/// RFC 6838 `type/subtype` (with `+suffix`), as used by `artifactType`.
fn is_media_type(s: &str) -> bool {
    let restricted = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    matches!(s.split_once('/'), Some((t, sub)) if restricted(t) && restricted(sub))
}

/// Decoded query pairs. A parameter given twice is refused: two `digest` values would let the
/// proxy and the upstream each read a different one.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str) -> Result<Self, RouteError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(query_error(&key, "given more than once"));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    fn take(&mut self, key: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(k, _)| k == key)?;
        Some(self.pairs.remove(i).1)
    }
}

/// A `?ns=` value: a registry host, optionally with a port (`docker.io`, `registry.local:5000`).
pub fn is_valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 253
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && ns.parse::<http::uri::Authority>().is_ok()
}

#[cfg(test)]
mod tests;
