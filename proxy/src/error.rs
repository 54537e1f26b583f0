//! The proxy's error type and the only place that maps errors to OCI error responses.
//!
//! Conversions never log; [`ProxyError::into_response`] is the one boundary where an error
//! becomes a response, and it logs once: client errors at `debug`, internal ones at `error`
//! with their source chain. Internals never go into the body. The admin API's answers come
//! from the same mapping ([`ProxyError::into_admin_response`]), in its own JSON shape.

use std::error::Error as StdError;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
pub use oci_spec::distribution::ErrorCode;
use sealgate_policies::gate::GateEvent;
use sealgate_policies::oci::OciIdError;
use serde::Serialize;

use crate::body::{ProxyBody, full, json_response};
use crate::content_range::ContentRangeError;
use crate::routes::RouteError;

mod admin;

pub use admin::AdminError;

/// The realm of sealgate's `WWW-Authenticate: Basic` challenge in gateway mode.
pub const REALM: &str = "sealgate";

/// The admin API's `WWW-Authenticate` challenge.
const ADMIN_CHALLENGE: &str = "Bearer realm=\"sealgate-admin\"";

/// An error code on the wire: one of the distribution spec's fourteen (oci-spec's [`ErrorCode`]),
/// or one of the codes CNCF distribution also sends and clients understand, which oci-spec lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum OciErrorCode {
    /// distribution's `TAG_INVALID`: a tag outside the grammar.
    TagInvalid,
    /// distribution's `UNAVAILABLE`: the upstream could not be reached or did not answer.
    Unavailable,
    /// No such endpoint. The spec has no code for it; distribution answers 404 `NOT_FOUND`
    /// without a body, we keep the JSON shape so clients print the message.
    NotFound,
    /// A code of the distribution spec, spelt as oci-spec spells it.
    #[serde(untagged)]
    Spec(ErrorCode),
}

// Named like the enum variants they replaced, so call sites read `OciErrorCode::Denied` whichever
// enum defines the code.
#[allow(non_upper_case_globals)]
impl OciErrorCode {
    /// code-2
    pub const BlobUploadInvalid: Self = Self::Spec(ErrorCode::BlobUploadInvalid);
    /// code-4
    pub const DigestInvalid: Self = Self::Spec(ErrorCode::DigestInvalid);
    /// code-6
    pub const ManifestInvalid: Self = Self::Spec(ErrorCode::ManifestInvalid);
    /// code-7
    pub const ManifestUnknown: Self = Self::Spec(ErrorCode::ManifestUnknown);
    /// code-8
    pub const NameInvalid: Self = Self::Spec(ErrorCode::NameInvalid);
    /// code-10
    pub const SizeInvalid: Self = Self::Spec(ErrorCode::SizeInvalid);
    /// code-11
    pub const Unauthorized: Self = Self::Spec(ErrorCode::Unauthorized);
    /// code-12
    pub const Denied: Self = Self::Spec(ErrorCode::Denied);
    /// code-13
    pub const Unsupported: Self = Self::Spec(ErrorCode::Unsupported);
}

/// Everything that can make a request fail in the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The URL did not parse as an OCI route.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The manifest body is larger than `limits.max_manifest_bytes`.
    #[error("manifest body is larger than the limit of {limit} bytes (limits.max_manifest_bytes)")]
    ManifestTooLarge {
        /// The configured cap.
        limit: usize,
    },
    /// The client's body could not be read (reset, idle timeout).
    #[error("reading the request body failed: {0}")]
    ClientBody(#[source] Box<dyn StdError + Send + Sync>),
    /// `?ns=` names a registry no upstream is configured for.
    #[error(
        "namespace {ns:?} is not served here: no [[upstream]] lists it in `namespaces`; \
         the request was not forwarded"
    )]
    UnknownNamespace {
        /// The refused namespace.
        ns: String,
    },
    /// The upstream could not be reached or broke the connection.
    #[error("upstream {upstream} is unreachable")]
    UpstreamUnreachable {
        /// The upstream's name.
        upstream: String,
        /// The transport error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The upstream did not send response headers within `timeouts.response`.
    #[error("upstream {upstream} did not answer within {after:?} (timeouts.response)")]
    UpstreamTimeout {
        /// The upstream's name.
        upstream: String,
        /// The configured timeout.
        after: std::time::Duration,
    },
    /// The request to the upstream could not be built (a bug, or a header hyper refuses).
    #[error("cannot build the upstream request: {0}")]
    UpstreamRequest(#[source] http::Error),
    /// The upstream sent a body larger than sealgate reads into memory, or broke it off.
    #[error("upstream {upstream} sent an unusable body: {why}")]
    UpstreamBody {
        /// The upstream's name.
        upstream: String,
        /// What was wrong.
        why: String,
    },
    /// The manifest is not JSON of a known shape.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest's bytes do not hash to the digest in the URL.
    #[error("manifest digest is {computed}, not {requested} as the URL says")]
    DigestMismatch {
        /// Digest of the bytes received.
        computed: String,
        /// Digest in the URL.
        requested: String,
    },
    /// A chunk whose `Content-Range` does not start where the upload is (out of order, or
    /// sent again). Answered 416 with the upload's `Range` and `Location`.
    #[error(
        "chunk starts at byte {start} but the upload is at byte {offset}; chunks go in order \
         (GET the upload's Location for its status)"
    )]
    ChunkOutOfOrder {
        /// First byte of the refused chunk.
        start: u64,
        /// Where the upload is, as the upstream says.
        offset: u64,
    },
    /// A chunk's `Content-Range` is not `<first byte>-<last byte>`.
    #[error(transparent)]
    ContentRangeInvalid(#[from] ContentRangeError),
    /// The tag exists only in quarantine.
    #[error("{0}")]
    Pending(String),
    /// A manifest sealgate would serve is not in the upstream (a pin whose image was deleted).
    #[error("{0}")]
    ManifestUnknown(String),
    /// Refused by policy (an access rule, …): the message says why and what to do.
    #[error("{0}")]
    Denied(String),
    /// Refused by the push or pull gate: its typed decision, whose message the client is told.
    #[error("{}", .0.message)]
    Refused(Box<GateEvent>),
    /// A DELETE that is not carried out: content a pinned or held tag needs, in a scope that
    /// protects it, or a tag the upstream cannot delete. The spec's answer to a delete that is
    /// not allowed is 405 (end-9, end-10).
    #[error("{0}")]
    DeleteNotAllowed(String),
    /// Gateway mode: the request carries no identity sealgate accepts. Answered with a
    /// `WWW-Authenticate: Basic` challenge.
    #[error("{0}")]
    Unauthorized(String),
    /// The TLS handshake with the upstream failed (its certificate is not trusted, …).
    #[error(
        "upstream {upstream}: TLS handshake failed: {why}; if the upstream's certificate comes          from a private CA, name its bundle in that [[upstream]]'s `ca`"
    )]
    UpstreamTls {
        /// The upstream's name.
        upstream: String,
        /// rustls' reason.
        why: String,
    },
    /// The upstream answered with a server error (5xx). Its body (often an HTML page) is not
    /// relayed: the client gets an OCI error naming the upstream and its status.
    #[error("upstream {upstream} answered {status}; its body is not relayed")]
    UpstreamStatus {
        /// The upstream's name.
        upstream: String,
        /// What it answered.
        status: StatusCode,
        /// Its `Retry-After` in seconds, kept when it answered 503 with a usable one (the client
        /// gets 502, as for every upstream server error, and the upstream's back-off).
        retry_after: Option<u32>,
    },
    /// The index could not be read or written: fail closed.
    #[error("the signature index failed: {0}")]
    Store(#[from] sealgate_storage::StorageError),
    /// Another replica held the tag's lease for longer than a push may take: come back later.
    #[error("tag {tag} is being written by another sealgate replica; retry")]
    TagBusy {
        /// The tag.
        tag: String,
    },
    /// A background task (file I/O on a blocking thread) did not finish.
    #[error("internal task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// A response sealgate builds itself (the referrers index) could not be encoded.
    #[error("encoding {what} failed: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// One of sealgate's own endpoints (`/healthz`, `/readyz`, `/metrics`) asked with a method
    /// other than `GET` or `HEAD`.
    #[error("use GET {endpoint}")]
    MethodNotAllowed {
        /// The endpoint's path.
        endpoint: &'static str,
    },
    /// A client mistake on the admin API.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl ProxyError {
    /// The one mapping from errors to status and OCI code.
    pub fn classify(&self) -> (StatusCode, OciErrorCode) {
        match self {
            Self::Route(e) => match e {
                RouteError::Id(OciIdError::Name { .. }) => {
                    (StatusCode::BAD_REQUEST, OciErrorCode::NameInvalid)
                }
                RouteError::Id(OciIdError::Tag { .. }) => {
                    (StatusCode::BAD_REQUEST, OciErrorCode::TagInvalid)
                }
                RouteError::Id(OciIdError::Digest { .. }) => {
                    (StatusCode::BAD_REQUEST, OciErrorCode::DigestInvalid)
                }
                RouteError::Id(_) => (StatusCode::BAD_REQUEST, OciErrorCode::Unsupported),
                RouteError::UploadId { .. } => {
                    (StatusCode::BAD_REQUEST, OciErrorCode::BlobUploadInvalid)
                }
                RouteError::Query { .. } => (StatusCode::BAD_REQUEST, OciErrorCode::Unsupported),
                RouteError::ManifestUnknown(_) => {
                    (StatusCode::NOT_FOUND, OciErrorCode::ManifestUnknown)
                }
                RouteError::NotFound => (StatusCode::NOT_FOUND, OciErrorCode::NotFound),
                RouteError::MethodNotAllowed { .. } => {
                    (StatusCode::METHOD_NOT_ALLOWED, OciErrorCode::Unsupported)
                }
            },
            Self::ManifestTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, OciErrorCode::SizeInvalid)
            }
            Self::ClientBody(_) => (StatusCode::BAD_REQUEST, OciErrorCode::SizeInvalid),
            Self::UnknownNamespace { .. } => (StatusCode::FORBIDDEN, OciErrorCode::Denied),
            Self::UpstreamUnreachable { .. } | Self::UpstreamTls { .. } => {
                (StatusCode::BAD_GATEWAY, OciErrorCode::Unavailable)
            }
            Self::UpstreamTimeout { .. } | Self::TagBusy { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, OciErrorCode::Unavailable)
            }
            // Every upstream server error is a bad gateway for sealgate's client; an upstream
            // 503's sane Retry-After goes with it (see `into_response`).
            Self::UpstreamStatus { .. } => (StatusCode::BAD_GATEWAY, OciErrorCode::Unavailable),
            // A full or failing disk: the store reopens by itself once writes succeed, so the
            // client is told to come back rather than that something is broken for good.
            Self::Store(e) if e.is_transient() => {
                (StatusCode::SERVICE_UNAVAILABLE, OciErrorCode::Unavailable)
            }
            Self::UpstreamRequest(_) | Self::Store(_) | Self::Task(_) | Self::Encode { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, OciErrorCode::Unsupported)
            }
            Self::UpstreamBody { .. } => (StatusCode::BAD_GATEWAY, OciErrorCode::Unavailable),
            Self::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, OciErrorCode::ManifestInvalid),
            Self::DigestMismatch { .. } => (StatusCode::BAD_REQUEST, OciErrorCode::DigestInvalid),
            Self::ChunkOutOfOrder { .. } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                OciErrorCode::BlobUploadInvalid,
            ),
            Self::ContentRangeInvalid(_) => {
                (StatusCode::BAD_REQUEST, OciErrorCode::BlobUploadInvalid)
            }
            Self::Denied(_) | Self::Refused(_) => (StatusCode::FORBIDDEN, OciErrorCode::Denied),
            Self::DeleteNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, OciErrorCode::Unsupported)
            }
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, OciErrorCode::Unauthorized),
            Self::Pending(_) | Self::ManifestUnknown(_) => {
                (StatusCode::NOT_FOUND, OciErrorCode::ManifestUnknown)
            }
            Self::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, OciErrorCode::Unsupported)
            }
            // The admin API's answers carry no OCI code (see `into_admin_response`).
            Self::Admin(e) => (e.status(), OciErrorCode::Unsupported),
        }
    }

    /// The gate's refusal, as the client is told it.
    pub fn refused(event: GateEvent) -> Self {
        Self::Refused(Box::new(event))
    }

    /// Whether the store failed (counted in `/metrics`).
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Store(_))
    }

    /// Turns the error into the OCI JSON response, logging it once.
    pub fn into_response(self) -> Response<ProxyBody> {
        self.log();
        self.response()
    }

    /// The admin API's answer: `{"error": message}` with the status, message and `Retry-After`
    /// of the same mapping, logged once like [`Self::into_response`].
    pub fn into_admin_response(self) -> Response<ProxyBody> {
        self.log();
        let status = self.classify().0;
        let mut response = json_response(
            status,
            &serde_json::json!({ "error": self.public_message(status) }),
        );
        if let Self::Admin(AdminError::NoCredential) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(ADMIN_CHALLENGE),
            );
        }
        self.add_retry_after(status, &mut response);
        response
    }

    /// The OCI JSON response of the error, without logging it: for answers built on the way
    /// (an upstream's 5xx replaced, which the caller logs) rather than at the boundary.
    pub fn response(&self) -> Response<ProxyBody> {
        let (status, code) = self.classify();
        let mut response = error_response(status, code, &self.public_message(status));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = format!("Basic realm=\"{}\"", REALM);
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        self.add_retry_after(status, &mut response);
        response
    }

    /// Client errors at `debug`, internal ones at `error` with their source chain.
    fn log(&self) {
        let status = self.classify().0;
        if status.is_server_error() {
            tracing::error!(error = %ErrorChain(self), %status, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request refused");
        }
    }

    /// What the client is told. 502/503 messages name the upstream and the timeout, which the
    /// operator needs; any other internal error keeps its details in the log only, and so does
    /// a store failure (its message names paths and the OS error).
    fn public_message(&self, status: StatusCode) -> String {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error; the request was not completed (see sealgate's log)".to_owned()
        } else if let Self::Store(_) = self {
            "sealgate's store cannot be written right now; the request was not completed, retry \
             later (see sealgate's log)"
                .to_owned()
        } else {
            self.to_string()
        }
    }

    /// Every 502 and 503 says when to come back: an upstream 503's own sane value, or
    /// sealgate's.
    fn add_retry_after(&self, status: StatusCode, response: &mut Response<ProxyBody>) {
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::BAD_GATEWAY {
            let retry_after = match self {
                Self::UpstreamStatus {
                    retry_after: Some(seconds),
                    ..
                } => HeaderValue::from(*seconds),
                _ => HeaderValue::from_static(DEFAULT_RETRY_AFTER),
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
    }
}

/// `Retry-After` (seconds) of sealgate's own 502 and 503 answers.
const DEFAULT_RETRY_AFTER: &str = "5";

/// Longest upstream `Retry-After` passed on, in seconds; a longer one is replaced by
/// sealgate's own, so that an upstream cannot park clients for days.
pub const MAX_RETRY_AFTER: u32 = 3600;

/// The upstream's `Retry-After` worth passing on: delta-seconds up to [`MAX_RETRY_AFTER`]. An
/// HTTP-date, a larger value or garbage gives `None` (sealgate's own value is sent instead).
pub fn usable_retry_after(value: Option<&HeaderValue>) -> Option<u32> {
    let text = value?.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|s| *s <= MAX_RETRY_AFTER)
}

/// Builds an OCI error response: `{"errors":[{"code","message","detail"}]}`.
pub fn error_response(
    status: StatusCode,
    code: OciErrorCode,
    message: &str,
) -> Response<ProxyBody> {
    #[derive(Serialize)]
    struct Body<'a> {
        errors: [Entry<'a>; 1],
    }
    #[derive(Serialize)]
    struct Entry<'a> {
        code: OciErrorCode,
        message: &'a str,
        detail: serde_json::Value,
    }
    let body = Body {
        errors: [Entry {
            code,
            message,
            detail: serde_json::Value::Null,
        }],
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"errors\":[]}".to_vec());
    let mut response = Response::new(full(Bytes::from(json)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Displays an error with its whole source chain, for logs.
struct ErrorChain<'a>(&'a dyn StdError);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
