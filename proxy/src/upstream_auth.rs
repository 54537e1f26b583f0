//! sealgate's own credentials for an upstream (`[upstream.auth]`), and the handshake that turns
//! them into an `Authorization` header: HTTP Basic, or a bearer token from the realm the upstream
//! names in its `WWW-Authenticate` challenge, as the distribution token spec describes
//! (<https://distribution.github.io/distribution/spec/auth/token/>).
//!
//! Passwords and tokens are held in [`Secret`] or in header values marked sensitive. `Secret` has
//! no `Display` and its `Debug` prints no value, and nothing here puts either into a log line or
//! an error: logs name the upstream and the realm, never what was sent to them.
//!
//! The HTTP calls themselves (probe, token request) go through the upstream client
//! (`AuthCalls`, implemented in [`crate::upstream`]), so they use the same pooled client and
//! timeouts as forwarded requests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::uri::Scheme;
use http::{Method, Request, StatusCode, Uri};
use tokio::time::Instant;

use crate::body::ProxyBody;
pub use crate::credentials::{Credentials, Secret};
use crate::error::ProxyError;

/// The calls the handshake makes to an upstream (probing `/v2/`, asking the realm for a token).
/// The upstream client makes them ([`crate::upstream`] implements this for one upstream), so the
/// handshake does not import the client that holds it.
pub(crate) trait AuthCalls: Sync {
    /// `GET /v2/` on the upstream, without credentials: its status and headers.
    fn probe(&self) -> impl Future<Output = Result<(StatusCode, HeaderMap), ProxyError>> + Send;

    /// Sends `request` through the pooled client to `upstream`, reading at most `cap` bytes of
    /// the answer.
    fn fetch(
        &self,
        upstream: &str,
        request: Request<ProxyBody>,
        cap: usize,
    ) -> impl Future<Output = Result<(StatusCode, bytes::Bytes), ProxyError>> + Send;
}

/// Largest token response read into memory; distribution's are a few KiB.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// Token lifetime when the response has no `expires_in`, per the token spec.
const DEFAULT_EXPIRES_IN: u64 = 60;

/// Most tokens kept per upstream: a mirror of many repositories would otherwise grow the cache
/// (one entry per scope) without bound.
const MAX_CACHED_TOKENS: usize = 1024;

/// What an upstream's `WWW-Authenticate` asks for, reduced to the schemes sealgate answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// HTTP Basic: send the credentials with every request.
    Basic,
    /// The token flow: get a token from `realm`, then send it.
    Bearer(BearerChallenge),
}

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    /// The token endpoint, an absolute URL chosen by the upstream.
    pub(crate) realm: String,
    /// The `service` to ask the token for, when the upstream names one.
    pub(crate) service: Option<String>,
    /// The scopes the refused request needed (`repository:a/b:pull,push`), one per entry.
    pub(crate) scopes: Vec<String>,
}

/// Why a `WWW-Authenticate` header cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChallengeError {
    /// The 401 carries no `WWW-Authenticate`.
    #[error("the 401 has no WWW-Authenticate header")]
    Missing,
    /// The header is not a list of challenges.
    #[error("WWW-Authenticate does not parse: {0}")]
    Malformed(&'static str),
    /// A `Bearer` challenge without a usable realm.
    #[error("the Bearer challenge names no realm")]
    NoRealm,
    /// Only schemes sealgate does not answer (Digest, Negotiate, …).
    #[error("WWW-Authenticate offers neither Basic nor Bearer")]
    Unsupported,
}

/// One challenge as written: scheme and parameters (names lower-cased).
#[derive(Debug)]
struct RawChallenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl RawChallenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the challenges of a 401: every `WWW-Authenticate` line, each a comma-separated list of
/// challenges (RFC 9110 §11.6.1). `Bearer` wins over `Basic` when both are offered, as the token
/// flow does not send the password to the registry itself.
pub(crate) fn challenge_from(headers: &HeaderMap) -> Result<Challenge, ChallengeError> {
    let mut challenges = Vec::new();
    let mut malformed = None;
    let mut seen = false;
    for value in headers.get_all(header::WWW_AUTHENTICATE) {
        seen = true;
        let Ok(text) = value.to_str() else {
            malformed = Some("not visible ASCII");
            continue;
        };
        let (parsed, error) = parse_challenges(text);
        challenges.extend(parsed);
        malformed = malformed.or(error);
    }
    if !seen {
        return Err(ChallengeError::Missing);
    }
    let mut bearer_without_realm = false;
    for c in challenges
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    {
        match c.param("realm") {
            Some(realm) if !realm.is_empty() => {
                return Ok(Challenge::Bearer(BearerChallenge {
                    realm: realm.to_owned(),
                    service: c.param("service").filter(|s| !s.is_empty()).map(Into::into),
                    // distribution joins several scopes with spaces in one `scope` parameter.
                    scopes: c
                        .params
                        .iter()
                        .filter(|(n, _)| n == "scope")
                        .flat_map(|(_, v)| v.split_whitespace())
                        .map(str::to_owned)
                        .collect(),
                }));
            }
            _ => bearer_without_realm = true,
        }
    }
    if challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
    {
        return Ok(Challenge::Basic);
    }
    match malformed {
        _ if bearer_without_realm => Err(ChallengeError::NoRealm),
        Some(why) => Err(ChallengeError::Malformed(why)),
        None => Err(ChallengeError::Unsupported),
    }
}

/// Parses one header value into challenges. Stops at the first syntax error and returns the
/// challenges completed before it, with the error, so that a well-formed `Bearer` survives an
/// unrelated scheme that sealgate would not use anyway.
fn parse_challenges(value: &str) -> (Vec<RawChallenge>, Option<&'static str>) {
    let mut out = Vec::new();
    let mut c = Cursor {
        s: value.as_bytes(),
        pos: 0,
    };
    loop {
        c.skip_separators();
        if c.at_end() {
            return (out, None);
        }
        match c.challenge() {
            Ok(challenge) => out.push(challenge),
            Err(why) => return (out, Some(why)),
        }
    }
}

/// A position in a header value.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        let taken = self.s.get(start..self.pos)?;
        if taken.is_empty() {
            return None;
        }
        std::str::from_utf8(taken).ok()
    }

    /// `token` of RFC 9110 §5.6.2.
    fn token(&mut self) -> Option<&'a str> {
        self.take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }

    /// `quoted-string`, with `\` escapes resolved.
    fn quoted(&mut self) -> Result<String, &'static str> {
        if !self.eat(b'"') {
            return Err("expected '\"'");
        }
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(value).map_err(|_| "quoted string is not UTF-8");
                }
                Some(b'\\') => {
                    let escaped = self.s.get(self.pos + 1).copied();
                    let Some(escaped) = escaped else {
                        return Err("unterminated quoted string");
                    };
                    value.push(escaped);
                    self.pos += 2;
                }
                Some(b) => {
                    value.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// Whether a `name=` parameter starts here (as opposed to the next challenge's scheme).
    fn param_ahead(&mut self) -> bool {
        let start = self.pos;
        let ahead = self.token().is_some() && {
            self.skip_ws();
            self.peek() == Some(b'=')
        };
        self.pos = start;
        ahead
    }

    /// A `token68` (RFC 9110 §11.2) directly after the scheme, as Negotiate sends: skipped.
    fn skip_token68(&mut self) -> bool {
        let start = self.pos;
        let body = self.take_while(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        while self.eat(b'=') {}
        let end = self.pos;
        self.skip_ws();
        if body.is_some() && matches!(self.peek(), None | Some(b',')) {
            self.pos = end;
            true
        } else {
            self.pos = start;
            false
        }
    }

    fn challenge(&mut self) -> Result<RawChallenge, &'static str> {
        let scheme = self.token().ok_or("expected an auth scheme")?.to_owned();
        let mut params = Vec::new();
        self.skip_ws();
        if self.skip_token68() {
            return Ok(RawChallenge { scheme, params });
        }
        let mut first = true;
        loop {
            self.skip_ws();
            if self.at_end() {
                break;
            }
            if self.peek() == Some(b',') {
                let mark = self.pos;
                self.skip_separators();
                if self.at_end() {
                    break;
                }
                if first || !self.param_ahead() {
                    // The next challenge begins here.
                    self.pos = mark;
                    break;
                }
            } else if !first {
                return Err("expected ',' between parameters");
            }
            first = false;
            let name = self.token().ok_or("expected a parameter name")?;
            self.skip_ws();
            if !self.eat(b'=') {
                return Err("expected '=' after a parameter name");
            }
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                // Lenient: an unquoted URL is not a token, but its meaning is clear.
                self.take_while(|b| !matches!(b, b',' | b' ' | b'\t' | b'"'))
                    .ok_or("expected a parameter value")?
                    .to_owned()
            };
            params.push((name.to_ascii_lowercase(), value));
        }
        Ok(RawChallenge { scheme, params })
    }
}

/// The scopes a request needs, derived from its path the way distribution derives them, so that
/// a token can be fetched *before* a request whose body cannot be sent twice:
/// `repository:<name>:pull` to read, `:pull,push` to write, `:delete` to delete,
/// `registry:catalog:*` for the catalog, none for `/v2/`.
pub(crate) fn scopes_for(method: &Method, path: &str) -> Vec<String> {
    let Some(rest) = path.strip_prefix("/v2") else {
        return Vec::new();
    };
    if rest == "/_catalog" {
        return vec!["registry:catalog:*".to_owned()];
    }
    // Repository names contain `/`; the endpoint is the right-most marker (as the router reads
    // paths from the right). Nothing after it contains `/` but `uploads/<id>`.
    let end = ["/manifests/", "/blobs/", "/tags/list", "/referrers/"]
        .iter()
        .filter_map(|marker| rest.rfind(marker))
        .max();
    let name = match end.and_then(|end| rest.get(1..end)) {
        Some(name) if !name.is_empty() => name,
        _ => return Vec::new(),
    };
    let actions = match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "pull,push",
    };
    vec![format!("repository:{name}:{actions}")]
}

/// The cache key of a set of scopes: order does not matter.
fn scope_key(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(" ")
}

/// Why no token could be had. Carries no secret: the realm is logged beside it, the response
/// body never is.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("the realm is {0}")]
    Realm(&'static str),
    #[error("the token endpoint is unreachable: {0}")]
    Unreachable(String),
    #[error("the token endpoint answered {0}")]
    Refused(StatusCode),
    #[error("the token response is unusable: {0}")]
    Response(&'static str),
}

/// `GET <realm>?service=…&scope=…&scope=…`; the realm's own query is kept.
fn token_uri(realm: &str, service: Option<&str>, scopes: &[String]) -> Result<Uri, TokenError> {
    let uri: Uri = realm.parse().map_err(|_| TokenError::Realm("not a URL"))?;
    let scheme = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        _ => return Err(TokenError::Realm("not an http:// or https:// URL")),
    };
    let Some(authority) = uri.authority() else {
        return Err(TokenError::Realm("a URL without a host"));
    };
    if authority.as_str().contains('@') {
        return Err(TokenError::Realm("a URL with credentials in it"));
    }
    let mut query = form_urlencoded::Serializer::new(uri.query().unwrap_or_default().to_owned());
    if let Some(service) = service {
        query.append_pair("service", service);
    }
    for scope in scopes {
        query.append_pair("scope", scope);
    }
    let query = query.finish();
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    let target = if query.is_empty() {
        format!("{scheme}://{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}?{query}")
    };
    target.parse().map_err(|_| TokenError::Realm("not a URL"))
}

/// The token endpoint's JSON. Only what sealgate uses; unknown fields are ignored.
#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// A number per the spec; anything else counts as absent.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The `Authorization` value and how long to cache it: until a little before it expires, so that
/// a token is never sent in its last seconds.
fn parse_token_response(body: &[u8]) -> Result<(HeaderValue, Duration), TokenError> {
    // serde's message could quote a value of the body: it is not passed on.
    let parsed: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| TokenError::Response("not a JSON object of the token spec"))?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or(TokenError::Response(
            "it has neither token nor access_token",
        ))?;
    let mut header = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| TokenError::Response("the token is not a valid header value"))?;
    header.set_sensitive(true);
    let expires_in = parsed
        .expires_in
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let margin = (expires_in / 10).clamp(1, 30);
    Ok((
        header,
        Duration::from_secs(expires_in - margin.min(expires_in)),
    ))
}

/// What sealgate has learnt about how an upstream authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Handshake {
    /// Nothing yet: the next 401 (or a probe of `/v2/`) tells.
    Unknown,
    /// `/v2/` answered without asking for credentials.
    Open,
    /// It asked for Basic.
    Basic,
    /// It asked for tokens from this realm and service.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A token ready to send, and when to stop sending it.
struct CachedToken {
    header: HeaderValue,
    until: Instant,
}

struct AuthState {
    handshake: Handshake,
    /// By [`scope_key`].
    tokens: HashMap<String, CachedToken>,
}

/// The credentials of one upstream and what its handshake has taught sealgate: the scheme it
/// asks for, and tokens per scope. Shared by every request to that upstream.
pub(crate) struct Authenticator {
    /// The upstream's name, for logs.
    upstream: String,
    /// `Basic …` of the credentials, marked sensitive; `None` only if it could not be encoded.
    basic: Option<HeaderValue>,
    state: Mutex<AuthState>,
    /// Serialises probes and token requests, so that a burst of requests for a new scope costs
    /// one token request; held across the request, released before the upstream request.
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("upstream", &self.upstream)
            .field("handshake", &self.lock().handshake)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Credentials for the upstream named `upstream`.
    pub(crate) fn new(upstream: &str, credentials: &Credentials) -> Self {
        Self {
            upstream: upstream.to_owned(),
            basic: credentials.basic_header(),
            state: Mutex::new(AuthState {
                handshake: Handshake::Unknown,
                tokens: HashMap::new(),
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AuthState> {
        // The state is a cache: a panic elsewhere while it was held leaves nothing unsafe.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handshake(&self) -> Handshake {
        self.lock().handshake.clone()
    }

    fn cached(&self, key: &str) -> Option<HeaderValue> {
        let state = self.lock();
        let token = state.tokens.get(key)?;
        (Instant::now() < token.until).then(|| token.header.clone())
    }

    fn remember_token(&self, key: String, header: HeaderValue, lifetime: Duration) {
        let mut state = self.lock();
        if state.tokens.len() >= MAX_CACHED_TOKENS {
            let now = Instant::now();
            state.tokens.retain(|_, t| now < t.until);
            if state.tokens.len() >= MAX_CACHED_TOKENS {
                state.tokens.clear();
            }
        }
        state.tokens.insert(
            key,
            CachedToken {
                header,
                until: Instant::now() + lifetime,
            },
        );
    }

    fn learn(&self, challenge: &Challenge) {
        let handshake = match challenge {
            Challenge::Basic => Handshake::Basic,
            Challenge::Bearer(b) => Handshake::Bearer {
                realm: b.realm.clone(),
                service: b.service.clone(),
            },
        };
        let mut state = self.lock();
        if state.handshake != handshake {
            tracing::debug!(upstream = %self.upstream, ?handshake, "upstream authentication learnt");
            // Tokens of another realm or service are worthless here.
            state.tokens.clear();
            state.handshake = handshake;
        }
    }

    /// A 401 to a request that cannot be sent again (its body streamed): remembers what the
    /// upstream asked for, so that the next requests carry credentials from the start.
    pub(crate) fn learn_from(&self, headers: &HeaderMap) {
        match challenge_from(headers) {
            Ok(challenge) => self.learn(&challenge),
            Err(e) => {
                tracing::warn!(upstream = %self.upstream, error = %e, "upstream refused sealgate with a challenge it cannot answer");
            }
        }
    }

    /// The `Authorization` to send first: Basic for a Basic upstream, a cached (or freshly
    /// fetched) token for the request's scopes for a Bearer one, none while nothing is known.
    /// A request whose body streams cannot be retried after a 401, so when nothing is known yet
    /// `/v2/` is probed first to learn the scheme.
    pub(crate) async fn preauthorize(
        &self,
        calls: &impl AuthCalls,
        scopes: &[String],
        streamed: bool,
    ) -> Option<HeaderValue> {
        if streamed && self.handshake() == Handshake::Unknown {
            self.probe(calls).await;
        }
        match self.handshake() {
            Handshake::Unknown | Handshake::Open => None,
            Handshake::Basic => self.basic.clone(),
            Handshake::Bearer { realm, service } => {
                let key = scope_key(scopes);
                if let Some(token) = self.cached(&key) {
                    return Some(token);
                }
                let _fetching = self.fetching.lock().await;
                if let Some(token) = self.cached(&key) {
                    return Some(token);
                }
                self.fetch_token(calls, &realm, service.as_deref(), scopes)
                    .await
            }
        }
    }

    /// After a 401 to a request that can be sent again: learns the challenge and returns the
    /// `Authorization` to retry with, or `None` when a retry cannot help (the same Basic
    /// credentials were just refused, the challenge is unusable, no token could be had).
    pub(crate) async fn answer(
        &self,
        calls: &impl AuthCalls,
        headers: &HeaderMap,
        sent: Option<&HeaderValue>,
    ) -> Option<HeaderValue> {
        let challenge = match challenge_from(headers) {
            Ok(challenge) => challenge,
            Err(e) => {
                tracing::warn!(upstream = %self.upstream, error = %e, "upstream refused sealgate with a challenge it cannot answer; its 401 goes to the client");
                return None;
            }
        };
        self.learn(&challenge);
        match challenge {
            Challenge::Basic => {
                let basic = self.basic.clone()?;
                if sent == Some(&basic) {
                    tracing::warn!(upstream = %self.upstream, "upstream refused sealgate's Basic credentials (upstream.auth); its 401 goes to the client");
                    return None;
                }
                Some(basic)
            }
            Challenge::Bearer(bearer) => {
                let key = scope_key(&bearer.scopes);
                let _fetching = self.fetching.lock().await;
                // Another request may have fetched a fresh token while this one waited.
                if let Some(token) = self.cached(&key)
                    && Some(&token) != sent
                {
                    return Some(token);
                }
                self.fetch_token(
                    calls,
                    &bearer.realm,
                    bearer.service.as_deref(),
                    &bearer.scopes,
                )
                .await
            }
        }
    }

    /// `GET /v2/` without credentials, to learn the scheme before a request that cannot be
    /// retried. A transport failure leaves the scheme unknown (the request itself will fail).
    async fn probe(&self, calls: &impl AuthCalls) {
        let _fetching = self.fetching.lock().await;
        if self.handshake() != Handshake::Unknown {
            return;
        }
        match calls.probe().await {
            Ok((StatusCode::UNAUTHORIZED, headers)) => match challenge_from(&headers) {
                Ok(challenge) => self.learn(&challenge),
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream, error = %e, "upstream's GET /v2/ challenge cannot be answered");
                    self.lock().handshake = Handshake::Open;
                }
            },
            Ok(_) => self.lock().handshake = Handshake::Open,
            Err(e) => {
                tracing::debug!(upstream = %self.upstream, error = %e, "probing GET /v2/ failed");
            }
        }
    }

    /// Asks `realm` for a token covering `scopes` with the Basic credentials, and caches it.
    /// Failures are logged (upstream, realm, why: never a secret) and give `None`, so the
    /// upstream's 401 reaches the client.
    async fn fetch_token(
        &self,
        calls: &impl AuthCalls,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Option<HeaderValue> {
        match self.request_token(calls, realm, service, scopes).await {
            Ok((header, lifetime)) => {
                tracing::debug!(upstream = %self.upstream, realm, scope = ?scopes, ?lifetime, "token obtained");
                self.remember_token(scope_key(scopes), header.clone(), lifetime);
                Some(header)
            }
            Err(e) => {
                tracing::warn!(upstream = %self.upstream, realm, scope = ?scopes, error = %e, "cannot get a token for the upstream; its 401 goes to the client");
                None
            }
        }
    }

    async fn request_token(
        &self,
        calls: &impl AuthCalls,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<(HeaderValue, Duration), TokenError> {
        let uri = token_uri(realm, service, scopes)?;
        let mut request = Request::get(uri).header(header::ACCEPT, "application/json");
        if let Some(basic) = &self.basic {
            request = request.header(header::AUTHORIZATION, basic.clone());
        }
        let request = request
            .body(crate::body::empty())
            .map_err(|_| TokenError::Realm("not a usable URL"))?;
        let (status, body) = calls
            .fetch(&self.upstream, request, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| TokenError::Unreachable(error_chain(&e)))?;
        if status != StatusCode::OK {
            return Err(TokenError::Refused(status));
        }
        parse_token_response(&body)
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}

#[cfg(test)]
mod tests;
