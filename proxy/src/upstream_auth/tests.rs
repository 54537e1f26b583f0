use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::uri::Authority;
use http::{Response, header};
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};

use super::*;
use crate::body::ProxyBody;
use crate::config::{Timeouts, UpstreamConfig};
use crate::upstream::Forward;
use crate::upstream::Upstreams;

fn headers(lines: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        map.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(line).unwrap(),
        );
    }
    map
}

fn challenge(lines: &[&str]) -> Result<Challenge, ChallengeError> {
    challenge_from(&headers(lines))
}

fn bearer(realm: &str, service: Option<&str>, scopes: &[&str]) -> Challenge {
    Challenge::Bearer(BearerChallenge {
        realm: realm.to_owned(),
        service: service.map(str::to_owned),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[test]
fn challenges_of_registries_in_the_wild_parse() {
    // distribution with token auth: a comma inside the quoted scope.
    assert_eq!(
        challenge(&[
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
        ]),
        Ok(bearer(
            "https://auth.docker.io/token",
            Some("registry.docker.io"),
            &["repository:samalba/my-app:pull,push"]
        ))
    );
    // Several scopes joined by a space, spaces around separators, scheme and names in any case.
    assert_eq!(
        challenge(&[
            r#"bEaReR  REALM = "http://127.0.0.1:9/token" , Service="svc", scope="repository:a:pull repository:b/c:pull,push""#
        ]),
        Ok(bearer(
            "http://127.0.0.1:9/token",
            Some("svc"),
            &["repository:a:pull", "repository:b/c:pull,push"]
        ))
    );
    // No scope (a challenge to `GET /v2/`), escaped quotes, an unquoted URL.
    assert_eq!(
        challenge(&[r#"Bearer realm="http://h/t\"x\\",service="s""#]),
        Ok(bearer(r#"http://h/t"x\"#, Some("s"), &[]))
    );
    assert_eq!(
        challenge(&["Bearer realm=http://h/token"]),
        Ok(bearer("http://h/token", None, &[]))
    );
    assert_eq!(
        challenge(&[r#"Basic realm="basic-realm""#]),
        Ok(Challenge::Basic)
    );
    assert_eq!(challenge(&["basic"]), Ok(Challenge::Basic));
}

#[test]
fn bearer_wins_over_basic_across_lists_and_lines() {
    let expected = bearer("https://a/t", Some("s"), &[]);
    for lines in [
        &[r#"Basic realm="x", Bearer realm="https://a/t",service="s""#][..],
        &[
            r#"Basic realm="x""#,
            r#"Bearer realm="https://a/t", service="s""#,
        ][..],
        &[r#"Negotiate abc+/def==, Bearer realm="https://a/t",service="s""#][..],
        &[r#"Basic, Bearer realm="https://a/t",service="s""#][..],
    ] {
        assert_eq!(challenge(lines), Ok(expected.clone()), "{lines:?}");
    }
}

#[test]
fn malformed_or_unusable_challenges_are_errors() {
    assert_eq!(challenge(&[]), Err(ChallengeError::Missing));
    assert_eq!(
        challenge(&[r#"Bearer service="s",scope="repository:a:pull""#]),
        Err(ChallengeError::NoRealm)
    );
    assert_eq!(
        challenge(&[r#"Bearer realm="""#]),
        Err(ChallengeError::NoRealm)
    );
    assert!(matches!(
        challenge(&[r#"Bearer realm="http://h/token"#]),
        Err(ChallengeError::Malformed(_))
    ));
    for garbage in ["=,=", r#"Bearer realm="a" service="b""#, "\"quoted\""] {
        assert!(
            matches!(challenge(&[garbage]), Err(ChallengeError::Malformed(_))),
            "{garbage}: {:?}",
            challenge(&[garbage])
        );
    }
    assert_eq!(
        challenge(&[r#"Digest realm="r", nonce="n""#]),
        Err(ChallengeError::Unsupported)
    );
    assert_eq!(challenge(&["", " , "]), Err(ChallengeError::Unsupported));
    // A broken scheme after a good Bearer does not lose the Bearer.
    assert_eq!(
        challenge(&[r#"Bearer realm="https://a/t", Digest nonce="unterminated"#]),
        Ok(bearer("https://a/t", None, &[]))
    );
    let mut not_ascii = HeaderMap::new();
    not_ascii.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_bytes(b"Bearer realm=\"\xff\"").unwrap(),
    );
    assert!(matches!(
        challenge_from(&not_ascii),
        Err(ChallengeError::Malformed(_))
    ));
}

#[test]
fn scopes_are_derived_from_the_path_as_distribution_does() {
    let cases: &[(Method, &str, &[&str])] = &[
        (Method::GET, "/v2/", &[]),
        (Method::GET, "/v2/_catalog", &["registry:catalog:*"]),
        (
            Method::GET,
            "/v2/a/b/manifests/v1",
            &["repository:a/b:pull"],
        ),
        (
            Method::HEAD,
            "/v2/library/alpine/blobs/sha256:ab",
            &["repository:library/alpine:pull"],
        ),
        (
            Method::PUT,
            "/v2/a/manifests/v1",
            &["repository:a:pull,push"],
        ),
        (
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            &["repository:team/app:pull,push"],
        ),
        (
            Method::PATCH,
            "/v2/a/blobs/blobs/uploads/0f-1",
            &["repository:a/blobs:pull,push"],
        ),
        (
            Method::GET,
            "/v2/blobs/manifests/v1",
            &["repository:blobs:pull"],
        ),
        (
            Method::GET,
            "/v2/x/tags/list/manifests/v1",
            &["repository:x/tags/list:pull"],
        ),
        (Method::GET, "/v2/a/tags/list", &["repository:a:pull"]),
        (
            Method::GET,
            "/v2/a/referrers/sha256:ab",
            &["repository:a:pull"],
        ),
        (
            Method::DELETE,
            "/v2/a/manifests/sha256:ab",
            &["repository:a:delete"],
        ),
        (Method::GET, "/healthz", &[]),
        (Method::GET, "/v2/manifests/v1", &[]),
    ];
    for (method, path, expected) in cases {
        assert_eq!(scopes_for(method, path), *expected, "{method} {path}");
    }
}

#[test]
fn the_scope_key_ignores_order_and_repeats() {
    let a = scope_key(&["b".to_owned(), "a".to_owned(), "b".to_owned()]);
    assert_eq!(a, scope_key(&["a".to_owned(), "b".to_owned()]));
    assert_eq!(scope_key(&[]), "");
}

#[test]
fn token_urls_keep_the_realm_query_and_repeat_scope() {
    let scopes = [
        "repository:a/b:pull,push".to_owned(),
        "repository:c:pull".to_owned(),
    ];
    let uri = token_uri("https://auth.example/token?x=1", Some("reg"), &scopes).unwrap();
    assert_eq!(
        uri.to_string(),
        "https://auth.example/token?x=1&service=reg&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull"
    );
    assert_eq!(
        token_uri("http://127.0.0.1:8/", None, &[])
            .unwrap()
            .to_string(),
        "http://127.0.0.1:8/"
    );
    for bad in [
        "ftp://a/token",
        "/token",
        "token",
        "http://user:pw@a/token",
        "http://a b/",
    ] {
        assert!(
            matches!(token_uri(bad, None, &[]), Err(TokenError::Realm(_))),
            "{bad}"
        );
    }
}

#[test]
fn token_responses_give_a_header_and_a_lifetime_short_of_expiry() {
    let (header, lifetime) =
        parse_token_response(br#"{"token":"abc.def","expires_in":300,"issued_at":"x"}"#).unwrap();
    assert_eq!(header, "Bearer abc.def");
    assert!(header.is_sensitive());
    assert_eq!(lifetime, Duration::from_secs(270));
    // access_token (OAuth2 shape) and the spec's default of 60 s.
    let (header, lifetime) = parse_token_response(br#"{"access_token":"t"}"#).unwrap();
    assert_eq!(header, "Bearer t");
    assert_eq!(lifetime, Duration::from_secs(54));
    let (_, lifetime) = parse_token_response(br#"{"token":"t","expires_in":"soon"}"#).unwrap();
    assert_eq!(lifetime, Duration::from_secs(54));
    let (_, lifetime) = parse_token_response(br#"{"token":"t","expires_in":1}"#).unwrap();
    assert_eq!(lifetime, Duration::ZERO);
    let (_, lifetime) = parse_token_response(br#"{"token":"t","expires_in":3600}"#).unwrap();
    assert_eq!(lifetime, Duration::from_secs(3570));
    for bad in [
        &b"not json"[..],
        br#"{"token":""}"#,
        br#"{}"#,
        br#"{"token":"a\nb"}"#,
        br#"{"token":42}"#,
        br#"[]"#,
    ] {
        let e = parse_token_response(bad).unwrap_err();
        assert!(matches!(e, TokenError::Response(_)), "{e}");
    }
}

#[test]
fn secrets_never_format() {
    let secret = Secret::new("hunter2".to_owned());
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    let credentials = Credentials::new("ci-bot".to_owned(), secret);
    let shown = format!("{credentials:?} {credentials:#?}");
    assert!(shown.contains("ci-bot"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let basic = credentials.basic_header().unwrap();
    assert!(basic.is_sensitive());
    assert_eq!(
        basic,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ci-bot:hunter2")
        )
    );
    let auth = Authenticator::new("hub", &credentials);
    auth.remember_token(
        String::new(),
        HeaderValue::from_static("Bearer tok-secret"),
        Duration::from_secs(60),
    );
    let shown = format!("{auth:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("tok-secret") && !shown.contains("Y2ktYm90"),
        "{shown}"
    );
}

#[tokio::test]
async fn cached_tokens_expire_and_the_cache_stays_bounded() {
    let auth = Authenticator::new("hub", &creds("pw"));
    auth.remember_token(
        "a".to_owned(),
        HeaderValue::from_static("Bearer a"),
        Duration::ZERO,
    );
    assert_eq!(auth.cached("a"), None);
    auth.remember_token(
        "b".to_owned(),
        HeaderValue::from_static("Bearer b"),
        Duration::from_secs(60),
    );
    assert_eq!(auth.cached("b").unwrap(), "Bearer b");
    for i in 0..MAX_CACHED_TOKENS + 5 {
        auth.remember_token(
            format!("k{i}"),
            HeaderValue::from_static("Bearer k"),
            Duration::from_secs(60),
        );
    }
    assert!(auth.lock().tokens.len() <= MAX_CACHED_TOKENS);
    // A new realm makes every cached token worthless.
    auth.learn(&bearer("http://other/token", None, &[]));
    assert!(auth.lock().tokens.is_empty());
}

// ---- the flow, against an in-process registry and token endpoint ----

const USER: &str = "ci-bot";
const PASSWORD: &str = "hunter2";

fn creds(password: &str) -> Credentials {
    Credentials::new(USER.to_owned(), Secret::new(password.to_owned()))
}

fn basic_of(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// How the fake registry authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Tokens from `/token`, which wants Basic `ci-bot:hunter2`.
    Bearer,
    /// Basic `ci-bot:hunter2` on every request.
    Basic,
    /// A Bearer challenge without realm.
    NoRealm,
    /// No authentication at all.
    Open,
}

#[derive(Debug, Default)]
struct Seen {
    /// Method, path and `Authorization` of each registry request.
    registry: Vec<(Method, String, Option<String>)>,
    /// Query of each token request.
    tokens: Vec<String>,
}

struct Fake {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Fake {
    async fn start(mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let server = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = Arc::clone(&shared);
                let service = hyper::service::service_fn(move |req| {
                    fake_answer(req, addr, mode, Arc::clone(&seen))
                });
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
                );
            }
        });
        Self { addr, seen, server }
    }

    fn upstreams(&self, credentials: Option<Credentials>) -> Upstreams {
        let config = UpstreamConfig {
            name: "fake".to_owned(),
            scheme: Scheme::HTTP,
            authority: Authority::try_from(self.addr.to_string()).unwrap(),
            namespaces: vec![],
            auth: credentials,
            ca: Vec::new(),
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(1),
        };
        Upstreams::new(&[config], timeouts).unwrap()
    }

    fn registry(&self) -> Vec<(Method, String, Option<String>)> {
        self.seen.lock().unwrap().registry.clone()
    }

    fn tokens(&self) -> Vec<String> {
        self.seen.lock().unwrap().tokens.clone()
    }
}

async fn fake_answer(
    req: http::Request<Incoming>,
    addr: SocketAddr,
    mode: Mode,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, www: Option<String>, body: &str| {
        let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
        *response.status_mut() = status;
        if let Some(www) = www {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::try_from(www).unwrap(),
            );
        }
        Ok(response)
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if path == "/token" {
        let count = {
            let mut seen = seen.lock().unwrap();
            seen.tokens.push(req.uri().query().unwrap_or("").to_owned());
            seen.tokens.len()
        };
        if auth.as_deref() != Some(basic_of(USER, PASSWORD).as_str()) {
            return reply(StatusCode::UNAUTHORIZED, None, "{}");
        }
        return reply(
            StatusCode::OK,
            None,
            &format!(r#"{{"token":"tok-{count}","expires_in":300}}"#),
        );
    }
    // Read the whole body, as a registry does, before answering.
    let _ = req.into_body().collect().await;
    seen.lock()
        .unwrap()
        .registry
        .push((method.clone(), path.clone(), auth.clone()));
    let ok = if method == Method::GET || method == Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let scope = if path == "/v2/" {
        String::new()
    } else if method == Method::GET {
        ",scope=\"repository:a:pull\"".to_owned()
    } else {
        ",scope=\"repository:a:pull,push\"".to_owned()
    };
    match mode {
        Mode::Open => reply(ok, None, "{}"),
        Mode::Bearer
            if auth
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer tok-")) =>
        {
            reply(ok, None, "{}")
        }
        Mode::Bearer => reply(
            StatusCode::UNAUTHORIZED,
            Some(format!(
                r#"Bearer realm="http://{addr}/token",service="fake"{scope}"#
            )),
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        ),
        Mode::Basic if auth.as_deref() == Some(basic_of(USER, PASSWORD).as_str()) => {
            reply(ok, None, "{}")
        }
        Mode::Basic => reply(
            StatusCode::UNAUTHORIZED,
            Some(r#"Basic realm="fake""#.to_owned()),
            "{}",
        ),
        Mode::NoRealm => reply(
            StatusCode::UNAUTHORIZED,
            Some(r#"Bearer service="fake""#.to_owned()),
            "{}",
        ),
    }
}

async fn send(
    upstreams: &Upstreams,
    method: Method,
    path: &str,
    client_auth: Option<&str>,
    body: ProxyBody,
) -> StatusCode {
    let mut headers = HeaderMap::new();
    if let Some(auth) = client_auth {
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
    }
    let forward = Forward {
        method,
        path,
        query: None,
        headers: &headers,
        ns: None,
    };
    let upstream = &upstreams.all()[0];
    let response = upstreams.forward(upstream, forward, body).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

/// A body that is not known to be complete up front, as a client's upload is.
fn streamed(data: &'static [u8]) -> ProxyBody {
    let frames =
        futures_util::stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(data)))]);
    crate::body::stream(StreamBody::new(frames), Duration::from_secs(10))
}

#[tokio::test]
async fn bearer_tokens_replace_the_clients_credentials_and_are_cached() {
    let fake = Fake::start(Mode::Bearer).await;
    let upstreams = fake.upstreams(Some(creds(PASSWORD)));
    let path = "/v2/a/manifests/v1";
    let status = send(
        &upstreams,
        Method::GET,
        path,
        Some("Bearer client-token"),
        crate::body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let registry = fake.registry();
    assert_eq!(registry.len(), 2, "{registry:?}");
    // The client's credentials never reach the upstream: first anonymous, then sealgate's token.
    assert_eq!(registry[0].2, None);
    assert_eq!(registry[1].2.as_deref(), Some("Bearer tok-1"));
    assert_eq!(fake.tokens(), ["service=fake&scope=repository%3Aa%3Apull"]);

    for _ in 0..10 {
        let status = send(
            &upstreams,
            Method::GET,
            path,
            Some("Bearer client-token"),
            crate::body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(fake.tokens().len(), 1, "the pull token is cached");
    let registry = fake.registry();
    assert_eq!(registry.len(), 12, "no more challenges: {registry:?}");
    assert!(
        registry[2..]
            .iter()
            .all(|(_, _, a)| a.as_deref() == Some("Bearer tok-1"))
    );

    // A streamed upload cannot be retried: it goes out with a push token fetched beforehand.
    let status = send(
        &upstreams,
        Method::PUT,
        "/v2/a/blobs/uploads/u1",
        None,
        streamed(b"layer"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let registry = fake.registry();
    assert_eq!(registry.len(), 13, "{registry:?}");
    assert_eq!(registry[12].2.as_deref(), Some("Bearer tok-2"));
    assert_eq!(
        fake.tokens()[1],
        "service=fake&scope=repository%3Aa%3Apull%2Cpush"
    );
}

#[tokio::test]
async fn a_first_streamed_request_probes_v2_to_learn_the_scheme() {
    let fake = Fake::start(Mode::Bearer).await;
    let upstreams = fake.upstreams(Some(creds(PASSWORD)));
    let status = send(
        &upstreams,
        Method::PUT,
        "/v2/a/blobs/uploads/u1",
        Some("Basic Y2xpZW50"),
        streamed(b"layer"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let registry = fake.registry();
    assert_eq!(
        registry,
        [
            (Method::GET, "/v2/".to_owned(), None),
            (
                Method::PUT,
                "/v2/a/blobs/uploads/u1".to_owned(),
                Some("Bearer tok-1".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn basic_upstreams_get_basic_after_the_first_challenge() {
    let fake = Fake::start(Mode::Basic).await;
    let upstreams = fake.upstreams(Some(creds(PASSWORD)));
    assert_eq!(
        send(
            &upstreams,
            Method::GET,
            "/v2/",
            Some("Bearer client"),
            crate::body::empty()
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &upstreams,
            Method::PATCH,
            "/v2/a/blobs/uploads/u1",
            None,
            streamed(b"x")
        )
        .await,
        StatusCode::CREATED
    );
    let basic = basic_of(USER, PASSWORD);
    let registry = fake.registry();
    assert_eq!(registry.len(), 3, "{registry:?}");
    assert_eq!(registry[0].2, None);
    assert_eq!(registry[1].2.as_deref(), Some(basic.as_str()));
    assert_eq!(registry[2].2.as_deref(), Some(basic.as_str()));
    assert!(fake.tokens().is_empty());
}

#[tokio::test]
async fn refused_credentials_return_the_401_after_one_retry() {
    let fake = Fake::start(Mode::Basic).await;
    let upstreams = fake.upstreams(Some(creds("wrong")));
    for _ in 0..2 {
        let status = send(
            &upstreams,
            Method::GET,
            "/v2/a/manifests/v1",
            None,
            crate::body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // First: anonymous, then Basic (refused). Second: Basic straight away, refused, no retry.
    assert_eq!(fake.registry().len(), 3, "{:?}", fake.registry());

    let fake = Fake::start(Mode::Bearer).await;
    let upstreams = fake.upstreams(Some(creds("wrong")));
    let status = send(
        &upstreams,
        Method::GET,
        "/v2/a/manifests/v1",
        None,
        crate::body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.registry().len(), 1, "no token, no retry");
    assert_eq!(fake.tokens().len(), 1);
    let status = send(
        &upstreams,
        Method::PUT,
        "/v2/a/blobs/uploads/u",
        None,
        streamed(b"x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unusable_challenge_returns_the_401() {
    let fake = Fake::start(Mode::NoRealm).await;
    let upstreams = fake.upstreams(Some(creds(PASSWORD)));
    let status = send(
        &upstreams,
        Method::GET,
        "/v2/a/manifests/v1",
        None,
        crate::body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = send(
        &upstreams,
        Method::PUT,
        "/v2/a/blobs/uploads/u",
        None,
        streamed(b"x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(fake.tokens().is_empty());
}

#[tokio::test]
async fn without_credentials_the_clients_authorization_passes_through() {
    let fake = Fake::start(Mode::Open).await;
    let upstreams = fake.upstreams(None);
    let status = send(
        &upstreams,
        Method::GET,
        "/v2/a/manifests/v1",
        Some("Bearer client"),
        crate::body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let status = send(
        &upstreams,
        Method::PUT,
        "/v2/a/blobs/uploads/u",
        Some("Bearer client"),
        streamed(b"x"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let registry = fake.registry();
    assert_eq!(registry.len(), 2);
    assert!(
        registry
            .iter()
            .all(|(_, _, a)| a.as_deref() == Some("Bearer client"))
    );
}
