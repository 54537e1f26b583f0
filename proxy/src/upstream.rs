//! The pooled client to the upstream registries, namespace routing, and header hygiene.
//!
//! Requests keep every end-to-end header (each `Accept` line, `Authorization`, `Range`, …) and
//! lose the hop-by-hop ones. Responses come back streaming; `Location` is rewritten so that
//! clients keep talking to sealgate.
//!
//! An upstream with `[upstream.auth]` never sees the client's `Authorization`: sealgate sends its
//! own (see [`crate::upstream_auth`]). A request whose body is in memory (or empty) is sent again
//! once after a 401 it can answer; a streamed body is never buffered for that, so its credentials
//! must be right the first time, from what earlier requests (or a probe of `/v2/`) taught.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;

use crate::body::{ProxyBody, full, stream};
use crate::config::{Timeouts, UpstreamConfig};
use crate::error::ProxyError;
use crate::metrics::{UpstreamMetrics, UpstreamOutcome};
use crate::upstream_auth::{AuthCalls, Authenticator, scopes_for};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `Host`, which
/// the client sets from the upstream URL, and the `X-Forwarded-*` family, which would make
/// distribution build `Location` URLs for a host it cannot know.
const NOT_FORWARDED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// How long `/readyz` waits for an upstream's `GET /v2/`.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The pooled HTTP(S) client.
type HttpsClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// One upstream registry.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Its configuration.
    pub config: UpstreamConfig,
    /// sealgate's credentials and what the upstream's challenges taught; shared by the clones.
    auth: Option<Arc<Authenticator>>,
    /// The pool its requests go through: the shared one, or with `ca`, one per distinct CA set.
    client: HttpsClient,
}

/// A request body, and whether it can be sent a second time after a 401.
enum Payload {
    /// In memory (or empty): can be sent again.
    Bytes(bytes::Bytes),
    /// Streamed from the client: sent once.
    Stream(ProxyBody),
}

impl Upstream {
    fn uri(&self, path_and_query: PathAndQuery) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.config.scheme.clone())
            .authority(self.config.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// The upstreams and their pooled clients: one shared by every upstream trusting the system
/// roots only, and one per distinct `ca` bundle.
#[derive(Clone)]
pub struct Upstreams {
    client: HttpsClient,
    upstreams: Vec<Upstream>,
    timeouts: Timeouts,
    /// Requests and latency per upstream, for `/metrics`.
    metrics: Arc<UpstreamMetrics>,
}

/// A response read whole.
#[derive(Debug)]
pub struct Buffered {
    /// Its status.
    pub status: http::StatusCode,
    /// Its headers (hop-by-hop removed).
    pub headers: HeaderMap,
    /// Its body.
    pub body: bytes::Bytes,
}

/// What [`Upstreams::forward`] needs to know about the incoming request.
#[derive(Debug)]
pub struct Forward<'a> {
    /// Method to use upstream (the client's).
    pub method: Method,
    /// Path, already validated by the route parser.
    pub path: &'a str,
    /// Validated query for the upstream.
    pub query: Option<&'a str>,
    /// The client's headers; hop-by-hop ones are dropped here.
    pub headers: &'a HeaderMap,
    /// `?ns=` of the request, carried into rewritten `Location`s.
    pub ns: Option<&'a str>,
}

impl Upstreams {
    /// Builds the pooled client. No connection is made until the first request.
    pub fn new(configs: &[UpstreamConfig], timeouts: Timeouts) -> Result<Self, std::io::Error> {
        let http = http_connector(timeouts);
        let provider = Arc::new(crate::tls::provider());
        // The system trust store is needed only for https upstreams; a container image without
        // CA certificates can still front a plain-http registry. A token realm may be https in
        // front of a plain-http registry, so credentials make the roots wanted, not required.
        let required = configs.iter().any(|c| c.scheme == Scheme::HTTPS);
        let wanted = required || configs.iter().any(|c| c.auth.is_some());
        let native = wanted.then(|| {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(Arc::clone(&provider))
        });
        let tls = match native {
            Some(Ok(tls)) => tls,
            Some(Err(e)) if required => return Err(e),
            _ => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(std::io::Error::other)?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            ),
        };
        let client = pooled(tls, http);
        // Upstreams naming the same CA bundle share a pool; a bundle's pool trusts the system
        // roots too.
        let mut with_ca: Vec<(&[CertificateDer<'static>], HttpsClient)> = Vec::new();
        let mut upstreams = Vec::with_capacity(configs.len());
        for config in configs {
            let client = if config.ca.is_empty() {
                client.clone()
            } else if let Some((_, c)) = with_ca.iter().find(|(ca, _)| *ca == config.ca.as_slice())
            {
                c.clone()
            } else {
                let c = client_with_ca(&config.ca, timeouts)?;
                with_ca.push((&config.ca, c.clone()));
                c
            };
            upstreams.push(Upstream {
                config: config.clone(),
                auth: config
                    .auth
                    .as_ref()
                    .map(|credentials| Arc::new(Authenticator::new(&config.name, credentials))),
                client,
            });
        }
        Ok(Self {
            client,
            upstreams,
            timeouts,
            metrics: Arc::new(UpstreamMetrics::new(
                configs.iter().map(|c| c.name.as_str()),
            )),
        })
    }

    /// Request counts and latency per upstream.
    pub fn metrics(&self) -> &UpstreamMetrics {
        &self.metrics
    }

    /// All upstreams, in configuration order.
    pub fn all(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// The upstream configured as `name` (pins and the admin API name upstreams).
    pub fn named(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.config.name == name)
    }

    /// The upstream for `?ns=`: the one whose `namespaces` lists it, or the first one when the
    /// request has no `ns`. An unknown namespace is refused rather than sent anywhere.
    pub fn select(&self, ns: Option<&str>) -> Result<&Upstream, ProxyError> {
        match ns {
            None => self
                .upstreams
                .first()
                .ok_or_else(|| ProxyError::UnknownNamespace { ns: String::new() }),
            Some(ns) => self
                .upstreams
                .iter()
                .find(|u| u.config.namespaces.iter().any(|n| n == ns))
                .ok_or_else(|| ProxyError::UnknownNamespace { ns: ns.to_owned() }),
        }
    }

    /// Sends one request upstream and returns its response with a streaming body.
    pub async fn forward(
        &self,
        upstream: &Upstream,
        req: Forward<'_>,
        body: ProxyBody,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        // An empty body (GET, HEAD, DELETE, `POST uploads/`) can be sent again after a challenge.
        let payload = if upstream.auth.is_some() && body.is_end_stream() {
            Payload::Bytes(bytes::Bytes::new())
        } else {
            Payload::Stream(body)
        };
        let response = self.exchange(upstream, &req, payload).await?;
        Ok(self.relay(upstream, response, req.ns))
    }

    /// Sends a request and reads the whole response, refusing bodies over `cap` bytes: for
    /// manifests and signature payloads, which the gates must inspect.
    pub async fn request_buffered(
        &self,
        upstream: &Upstream,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: bytes::Bytes,
        cap: usize,
    ) -> Result<Buffered, ProxyError> {
        let forward = Forward {
            method,
            path,
            query: None,
            headers,
            ns: None,
        };
        let response = self
            .exchange(upstream, &forward, Payload::Bytes(body))
            .await?;
        let response = self.relay(upstream, response, None);
        let (parts, body) = response.into_parts();
        let body = read_capped(body, cap)
            .await
            .map_err(|why| ProxyError::UpstreamBody {
                upstream: upstream.config.name.clone(),
                why: why.to_string(),
            })?;
        Ok(Buffered {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Builds the upstream request from `req` and sends it, with sealgate's credentials when the
    /// upstream has them.
    async fn exchange(
        &self,
        upstream: &Upstream,
        req: &Forward<'_>,
        payload: Payload,
    ) -> Result<Response<Incoming>, ProxyError> {
        let path_and_query = match req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.to_owned(),
        };
        let path_and_query = PathAndQuery::try_from(path_and_query)
            .map_err(|e| ProxyError::UpstreamRequest(e.into()))?;
        let uri = upstream
            .uri(path_and_query)
            .map_err(ProxyError::UpstreamRequest)?;
        let mut headers = HeaderMap::with_capacity(req.headers.len());
        copy_end_to_end(req.headers, &mut headers);
        let name = &upstream.config.name;
        let Some(auth) = &upstream.auth else {
            let body = match payload {
                Payload::Bytes(bytes) => full(bytes),
                Payload::Stream(body) => body,
            };
            return self
                .send(name, build(req.method.clone(), uri, headers, body)?)
                .await;
        };
        // The upstream knows sealgate, not the client: whatever the client sent is replaced.
        headers.remove(header::AUTHORIZATION);
        let with = |authorization: Option<&HeaderValue>| {
            let mut headers = headers.clone();
            if let Some(value) = authorization {
                headers.insert(header::AUTHORIZATION, value.clone());
            }
            headers
        };
        let scopes = scopes_for(&req.method, req.path);
        let streamed = matches!(payload, Payload::Stream(_));
        let sent = auth
            .preauthorize(
                &AuthCallsTo {
                    upstreams: self,
                    upstream,
                },
                &scopes,
                streamed,
            )
            .await;
        match payload {
            Payload::Stream(body) => {
                let request = build(req.method.clone(), uri, with(sent.as_ref()), body)?;
                let response = self.send(name, request).await?;
                if response.status() == StatusCode::UNAUTHORIZED {
                    auth.learn_from(response.headers());
                }
                Ok(response)
            }
            Payload::Bytes(bytes) => {
                let request = build(
                    req.method.clone(),
                    uri.clone(),
                    with(sent.as_ref()),
                    full(bytes.clone()),
                )?;
                let response = self.send(name, request).await?;
                if response.status() != StatusCode::UNAUTHORIZED {
                    return Ok(response);
                }
                let Some(retry) = auth
                    .answer(
                        &AuthCallsTo {
                            upstreams: self,
                            upstream,
                        },
                        response.headers(),
                        sent.as_ref(),
                    )
                    .await
                else {
                    return Ok(response);
                };
                let request = build(req.method.clone(), uri, with(Some(&retry)), full(bytes))?;
                self.send(name, request).await
            }
        }
    }

    /// Sends one request with the response timeout; errors name `upstream`. Every request
    /// sealgate sends upstream goes through here, so it is counted and timed here.
    async fn send(
        &self,
        upstream: &str,
        request: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout(
            self.timeouts.response,
            self.client_for(upstream).request(request),
        )
        .await;
        let outcome = match &sent {
            Err(_) => UpstreamOutcome::Timeout,
            Ok(Err(_)) => UpstreamOutcome::Unreachable,
            Ok(Ok(response)) => UpstreamOutcome::Status(response.status()),
        };
        self.metrics.observe(upstream, outcome, started.elapsed());
        sent.map_err(|_| ProxyError::UpstreamTimeout {
            upstream: upstream.to_owned(),
            after: self.timeouts.response,
        })?
        .map_err(|e| unreachable(upstream, e))
    }

    /// The pool of the upstream named `name` (token realms on its behalf use it too).
    fn client_for(&self, name: &str) -> &HttpsClient {
        self.named(name).map_or(&self.client, |u| &u.client)
    }

    /// The client's view of an upstream response: hop-by-hop headers dropped, `Location`
    /// rewritten, the body streamed with the idle timeout. A server error (5xx) becomes
    /// sealgate's OCI error instead (see [`server_error`]), for pass-through and buffered
    /// answers alike, so no upstream error page reaches a client.
    fn relay(
        &self,
        upstream: &Upstream,
        response: Response<Incoming>,
        ns: Option<&str>,
    ) -> Response<ProxyBody> {
        if response.status().is_server_error() {
            return server_error(&upstream.config.name, response.status(), response.headers());
        }
        let (mut parts, incoming) = response.into_parts();
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        copy_end_to_end(&parts.headers, &mut headers);
        if let Some(location) = headers.get(header::LOCATION)
            && let Some(rewritten) = rewrite_location(location, &upstream.config, ns)
        {
            headers.insert(header::LOCATION, rewritten);
        }
        parts.headers = headers;
        Response::from_parts(parts, stream(incoming, self.timeouts.idle))
    }

    /// `GET /v2/` without credentials: status and headers, to learn how `upstream` authenticates.
    pub(crate) async fn probe(
        &self,
        upstream: &Upstream,
    ) -> Result<(StatusCode, HeaderMap), ProxyError> {
        let uri = upstream
            .uri(PathAndQuery::from_static("/v2/"))
            .map_err(ProxyError::UpstreamRequest)?;
        let request = build(Method::GET, uri, HeaderMap::new(), crate::body::empty())?;
        let response = self.send(&upstream.config.name, request).await?;
        Ok((response.status(), response.headers().clone()))
    }

    /// Sends a request sealgate made itself (a token request on behalf of `upstream`) with the
    /// same client and timeouts, and reads at most `cap` bytes of the answer.
    pub(crate) async fn fetch(
        &self,
        upstream: &str,
        request: Request<ProxyBody>,
        cap: usize,
    ) -> Result<(StatusCode, bytes::Bytes), ProxyError> {
        let response = self.send(upstream, request).await?;
        let status = response.status();
        let body = stream(response.into_body(), self.timeouts.idle);
        let body = read_capped(body, cap)
            .await
            .map_err(|why| ProxyError::UpstreamBody {
                upstream: upstream.to_owned(),
                why: why.to_string(),
            })?;
        Ok((status, body))
    }

    /// Whether `upstream` answers `GET /v2/` (200, or 401 from a registry that wants auth).
    pub async fn is_ready(&self, upstream: &Upstream) -> Result<(), NotReady> {
        let uri = upstream.uri(PathAndQuery::from_static("/v2/"))?;
        let request = Request::get(uri).body(crate::body::empty())?;
        match tokio::time::timeout(READINESS_TIMEOUT, upstream.client.request(request)).await {
            Err(_) => Err(NotReady::Timeout(READINESS_TIMEOUT)),
            Ok(Err(e)) => Err(NotReady::Unreachable(e)),
            Ok(Ok(r))
                if r.status().is_success() || r.status() == http::StatusCode::UNAUTHORIZED =>
            {
                Ok(())
            }
            Ok(Ok(r)) => Err(NotReady::Status(r.status())),
        }
    }
}

/// Why an upstream is not ready, as `/readyz` reports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotReady {
    /// The probe request could not be built.
    #[error("{0}")]
    Request(#[from] http::Error),
    /// No answer within the readiness timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed.
    #[error("unreachable: {0}")]
    Unreachable(hyper_util::client::legacy::Error),
    /// `GET /v2/` answered neither 2xx nor 401.
    #[error("GET /v2/ answered {0}")]
    Status(StatusCode),
}

/// The answer to a client for an upstream's server error: 502 `UNAVAILABLE` naming the
/// upstream and its status; an upstream 503's `Retry-After` is kept when it is sane. The
/// upstream's body is dropped unread (an HTML page, or internals the client need not see).
fn server_error(upstream: &str, status: StatusCode, headers: &HeaderMap) -> Response<ProxyBody> {
    let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE)
        .then(|| crate::error::usable_retry_after(headers.get(header::RETRY_AFTER)))
        .flatten();
    let error = ProxyError::UpstreamStatus {
        upstream: upstream.to_owned(),
        status,
        retry_after,
    };
    let response = error.response();
    tracing::warn!(
        upstream,
        %status,
        answered = %response.status(),
        "upstream server error; answered with an OCI error instead of its body"
    );
    response
}

/// The TCP connector every pool uses.
fn http_connector(timeouts: Timeouts) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeouts.connect));
    http.set_nodelay(true);
    http
}

/// A pool over `tls` (http and https, HTTP/1.1 and h2 by ALPN).
fn pooled(
    tls: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    http: HttpConnector,
) -> HttpsClient {
    let https = tls
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .build(https)
}

/// A pool trusting `ca` in addition to the system roots. System certificates that cannot be
/// read leave `ca` trusted alone: that is what the configuration asked for.
fn client_with_ca(
    ca: &[CertificateDer<'static>],
    timeouts: Timeouts,
) -> Result<HttpsClient, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for cert in ca {
        // Checked when the configuration was loaded.
        roots.add(cert.clone()).map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(pooled(
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config),
        http_connector(timeouts),
    ))
}

/// The error for a request that got no response: a failed TLS handshake says so (and what to
/// configure), anything else is "unreachable" with its cause.
fn unreachable(upstream: &str, e: hyper_util::client::legacy::Error) -> ProxyError {
    match tls_cause(&e) {
        Some(why) => ProxyError::UpstreamTls {
            upstream: upstream.to_owned(),
            why,
        },
        None => ProxyError::UpstreamUnreachable {
            upstream: upstream.to_owned(),
            source: Box::new(e),
        },
    }
}

/// The rustls error somewhere in `e`'s chain. The connector wraps it in an `io::Error`, whose
/// `source()` skips the wrapped error, so each `io::Error` is looked into as well.
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
            if let Some(why) = tls_cause(inner) {
                return Some(why);
            }
        }
        current = err.source();
    }
    None
}

/// A request with these parts.
fn build(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: ProxyBody,
) -> Result<Request<ProxyBody>, ProxyError> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(ProxyError::UpstreamRequest)?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Why a body read whole could not be.
#[derive(Debug, thiserror::Error)]
enum CappedBodyError {
    /// The body broke off (reset, idle timeout).
    #[error("{0}")]
    Read(crate::body::BoxError),
    /// It is larger than the cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

/// Reads a body whole, failing once it passes `cap` bytes.
async fn read_capped(mut body: ProxyBody, cap: usize) -> Result<bytes::Bytes, CappedBodyError> {
    use http_body_util::BodyExt as _;
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(CappedBodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > cap {
                return Err(CappedBodyError::TooLarge(cap));
            }
            read.extend_from_slice(&data);
        }
    }
    Ok(read.freeze())
}

/// Copies every header except the hop-by-hop ones, keeping repeated headers (skopeo sends one
/// `Accept` line per media type) as separate lines.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    // `Connection: foo` makes `foo` hop-by-hop too.
    let listed: Vec<HeaderName> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for (name, value) in from {
        if NOT_FORWARDED.contains(&name.as_str()) || listed.contains(name) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// Rewrites a `Location` that points at the upstream into a relative one, so the client's next
/// request (an upload chunk, a redirect) comes back through sealgate. Locations on other hosts
/// (a storage backend's signed URL) are left alone. The request's `ns` is kept so that the
/// follow-up request reaches the same upstream.
fn rewrite_location(
    location: &HeaderValue,
    upstream: &UpstreamConfig,
    ns: Option<&str>,
) -> Option<HeaderValue> {
    let uri: Uri = location.to_str().ok()?.parse().ok()?;
    let same_upstream = match (uri.scheme(), uri.authority()) {
        (None, None) => true,
        (Some(scheme), Some(authority)) => {
            scheme == &upstream.scheme && same_authority(authority, &upstream.authority, scheme)
        }
        _ => false,
    };
    if !same_upstream {
        return None;
    }
    let path = uri.path();
    if !path.starts_with('/') {
        return None;
    }
    let mut relative = path.to_owned();
    let mut query = uri.query().map(str::to_owned);
    if let Some(ns) = ns {
        let mut q = form_urlencoded::Serializer::new(query.take().unwrap_or_default());
        q.append_pair("ns", ns);
        query = Some(q.finish());
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        relative.push('?');
        relative.push_str(&q);
    }
    HeaderValue::from_str(&relative).ok()
}

/// `host` and `host:80` are the same authority for http (443 for https).
fn same_authority(a: &Authority, b: &Authority, scheme: &Scheme) -> bool {
    let default = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    a.host().eq_ignore_ascii_case(b.host())
        && a.port_u16().unwrap_or(default) == b.port_u16().unwrap_or(default)
}

/// The handshake's calls to one upstream, made with the pooled client (see
/// [`crate::upstream_auth`]).
struct AuthCallsTo<'a> {
    upstreams: &'a Upstreams,
    upstream: &'a Upstream,
}

impl AuthCalls for AuthCallsTo<'_> {
    fn probe(&self) -> impl Future<Output = Result<(StatusCode, HeaderMap), ProxyError>> + Send {
        self.upstreams.probe(self.upstream)
    }

    fn fetch(
        &self,
        upstream: &str,
        request: Request<ProxyBody>,
        cap: usize,
    ) -> impl Future<Output = Result<(StatusCode, bytes::Bytes), ProxyError>> + Send {
        self.upstreams.fetch(upstream, request, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> UpstreamConfig {
        UpstreamConfig {
            name: "local".to_owned(),
            scheme: Scheme::HTTP,
            authority: Authority::from_static("127.0.0.1:5000"),
            namespaces: vec![],
            auth: None,
            ca: Vec::new(),
        }
    }

    fn rewrite(location: &str, ns: Option<&str>) -> Option<String> {
        rewrite_location(&HeaderValue::from_str(location).unwrap(), &upstream(), ns)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn locations_on_the_upstream_become_relative() {
        assert_eq!(
            rewrite(
                "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x%3D",
                None
            )
            .as_deref(),
            Some("/v2/a/blobs/uploads/u1?_state=x%3D")
        );
        assert_eq!(
            rewrite("/v2/a/blobs/uploads/u1?_state=x", Some("docker.io")).as_deref(),
            Some("/v2/a/blobs/uploads/u1?_state=x&ns=docker.io")
        );
        assert_eq!(
            rewrite(
                "http://127.0.0.1:5000/v2/a/blobs/sha256:ab",
                Some("docker.io")
            )
            .as_deref(),
            Some("/v2/a/blobs/sha256:ab?ns=docker.io")
        );
    }

    #[test]
    fn locations_elsewhere_are_left_alone() {
        assert_eq!(rewrite("https://storage.example/blob?sig=1", None), None);
        assert_eq!(rewrite("http://127.0.0.1:5001/v2/a", None), None);
        assert_eq!(rewrite("https://127.0.0.1:5000/v2/a", None), None);
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_and_repeated_ones_kept() {
        let mut from = HeaderMap::new();
        from.append(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        );
        from.append(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        );
        from.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        from.insert("x-secret", HeaderValue::from_static("1"));
        from.insert(header::HOST, HeaderValue::from_static("sealgate:5050"));
        from.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        from.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        from.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        assert_eq!(to.get_all(header::ACCEPT).iter().count(), 2);
        assert!(to.get("x-secret").is_none());
        assert!(to.get(header::HOST).is_none());
        assert!(to.get(header::CONNECTION).is_none());
        assert!(to.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(to.get(header::AUTHORIZATION).unwrap(), "Bearer t");
        assert_eq!(to.get(header::RANGE).unwrap(), "bytes=0-9");
    }
}
