//! Why the admin API refuses a request: its client mistakes, each answered with the status and
//! message the `sealgate admin` client prints. Internal failures are [`super::ProxyError`]'s
//! other variants and keep their details in the log.

use std::error::Error as StdError;

use http::{Method, StatusCode};
use sealgate_policies::glob::GlobError;
use sealgate_policies::oci::OciIdError;
use sealgate_storage::PinKey;

/// An admin request that cannot be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No admin credential: answered with a `WWW-Authenticate: Bearer` challenge.
    #[error(
        "the admin API needs a credential: Authorization: Bearer <admin token>, or a client \
         certificate from admin.client_ca"
    )]
    NoCredential,
    /// A path under `/admin/v1/` that names no endpoint (or not with this method).
    #[error("no admin endpoint {method} {path}")]
    NoEndpoint {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
    },
    /// A path outside `/admin/v1/`.
    #[error("the admin API lives under /admin/v1/")]
    OutsideApi,
    /// The body could not be read, or is larger than the admin API reads.
    #[error("cannot read the request body (at most {limit} bytes): {source}")]
    Body {
        /// The largest body read.
        limit: usize,
        /// Why reading stopped.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// A glob parameter that does not parse.
    #[error("{param}: {source}")]
    Glob {
        /// The query parameter.
        param: &'static str,
        /// Why.
        source: GlobError,
    },
    /// A time parameter that is neither RFC 3339 nor epoch seconds.
    #[error("{param}: {value:?} is not RFC 3339 or epoch seconds")]
    Time {
        /// The query parameter.
        param: &'static str,
        /// Its value.
        value: String,
    },
    /// `upstream` names no configured upstream.
    #[error("no upstream named {0:?}")]
    NoSuchUpstream(String),
    /// No upstream is configured, so none is the default.
    #[error("no upstream is configured")]
    NoUpstream,
    /// A required parameter is missing.
    #[error("{0} is required")]
    Required(&'static str),
    /// `repository` is not a repository name.
    #[error("repository: {0}")]
    Repository(OciIdError),
    /// `tag` is not a tag.
    #[error("tag: {0}")]
    Tag(OciIdError),
    /// `after` is not a sequence number.
    #[error("after: {0:?} is not a sequence number")]
    After(String),
    /// `limit` is out of range.
    #[error("limit: 1..={max}")]
    Limit {
        /// The largest page.
        max: usize,
    },
    /// A revocation body of the wrong shape.
    #[error("expected {{\"key\"|\"issuer\"+\"serial\", \"reason\", \"at\"?}}: {0}")]
    RevokeShape(serde_json::Error),
    /// A retire-pin body of the wrong shape.
    #[error("expected {{\"repository\", \"tag\", \"reason\", \"upstream\"?}}: {0}")]
    RetireShape(serde_json::Error),
    /// The reason recorded in the audit log is empty or too long.
    #[error("reason: 1 to 1000 characters, for the audit log")]
    Reason,
    /// `at` is not RFC 3339.
    #[error("at: {0:?} is not RFC 3339")]
    At(String),
    /// `key` is not a key fingerprint.
    #[error("key: {0:?} is not a fingerprint (sha256:<64 hex>, as `sealgate verify` prints it)")]
    Key(String),
    /// A certificate revocation without a usable issuer and serial.
    #[error("issuer (RFC 4514 DN) and serial (hex) are required")]
    IssuerSerial,
    /// A revocation naming both or neither of a key and a certificate.
    #[error("name either key, or issuer and serial")]
    KeyOrCert,
    /// The tag is not pinned.
    #[error("{}:{} is not pinned (upstream {})", .0.repository, .0.tag, .0.upstream)]
    NotPinned(PinKey),
    /// A reload asked of a sealgate started without a configuration file.
    #[error("sealgate was not started from a configuration file")]
    NoConfigFile,
    /// The configuration file did not reload; nothing changed.
    #[error("nothing changed: {0}")]
    ReloadRefused(Box<dyn StdError + Send + Sync>),
}

impl AdminError {
    /// The status the admin API answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoCredential => StatusCode::UNAUTHORIZED,
            Self::NoEndpoint { .. } | Self::OutsideApi | Self::NotPinned(_) => {
                StatusCode::NOT_FOUND
            }
            Self::NoConfigFile => StatusCode::CONFLICT,
            Self::ReloadRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Body { .. }
            | Self::NotJson(_)
            | Self::Glob { .. }
            | Self::Time { .. }
            | Self::NoSuchUpstream(_)
            | Self::NoUpstream
            | Self::Required(_)
            | Self::Repository(_)
            | Self::Tag(_)
            | Self::After(_)
            | Self::Limit { .. }
            | Self::RevokeShape(_)
            | Self::RetireShape(_)
            | Self::Reason
            | Self::At(_)
            | Self::Key(_)
            | Self::IssuerSerial
            | Self::KeyOrCert => StatusCode::BAD_REQUEST,
        }
    }
}
