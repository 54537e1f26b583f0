//! sealgate's own credentials for an upstream (`[upstream.auth]`) as the configuration holds
//! them: a user name and a [`Secret`] that no `Debug` or `Display` can leak. The handshake that
//! uses them is [`crate::upstream_auth`].

use std::fmt;

use base64::Engine as _;
use http::header::HeaderValue;

/// A password or a token. Its `Debug` shows no value and it has no `Display`, so formatting a
/// configuration or an error cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A user name and password sealgate presents to one upstream.
#[derive(Debug, Clone)]
pub struct Credentials {
    username: String,
    password: Secret,
}

impl Credentials {
    /// Credentials of `username` (already validated: non-empty, no `:`).
    pub fn new(username: String, password: Secret) -> Self {
        Self { username, password }
    }

    /// The user name (not a secret).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, for tests that check what was read.
    #[cfg(test)]
    pub(crate) fn password(&self) -> &Secret {
        &self.password
    }

    /// `Basic base64(user:password)` (RFC 7617), marked sensitive so that HTTP/2 never indexes it
    /// and `Debug` of the header map hides it.
    pub(crate) fn basic_header(&self) -> Option<HeaderValue> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.username,
            self.password.expose()
        ));
        let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}
