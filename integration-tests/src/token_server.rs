//! A token server of the distribution token spec, for a [`crate::Registry`] started with
//! [`crate::RegistryAuth::Token`]: <https://distribution.github.io/distribution/spec/auth/token/>.
//!
//! `GET /token?service=…&scope=…` with HTTP Basic credentials answers
//! `{"token": <JWT>, "access_token": <JWT>, "expires_in": 300}`. The JWT is what distribution
//! verifies: header `{"typ":"JWT","alg":"ES256","x5c":[<DER of the signing certificate>]}`, claims
//! `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti` and `access` (everything asked for is granted),
//! signed with ECDSA P-256 as JOSE wants it (raw `r||s`, base64url without padding). The signing
//! certificate is self-signed; its PEM is the registry's `rootcertbundle`.
//!
//! It counts requests so that tests can check that clients cache tokens, and keeps the tokens it
//! issued so that tests can check they never reach a log.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Lifetime of the tokens issued, in seconds.
const TOKEN_LIFETIME: u64 = 300;

/// What the server shares with its connections.
struct State {
    username: String,
    password: String,
    service: String,
    issuer: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// base64 (standard, padded: RFC 7515 §4.1.6) of the signing certificate's DER.
    x5c: String,
    /// Every request, successful or not: its query.
    requests: Mutex<Vec<String>>,
    /// Every token issued.
    issued: Mutex<Vec<String>>,
}

/// A token server on `127.0.0.1:<free port>` granting every scope to one user. Dropping it stops
/// the server and closes its connections.
pub struct TokenServer {
    addr: SocketAddr,
    root_cert_pem: String,
    state: Arc<State>,
    /// The accept loop; it owns the connection tasks, so aborting it ends them too.
    server: JoinHandle<()>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Starts a server issuing tokens for `service` with issuer `issuer` to `username` with
    /// `password`. Must be called inside a tokio runtime.
    pub async fn start(username: &str, password: &str, service: &str, issuer: &str) -> Self {
        let signing_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate a P-256 key");
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("certificate params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sealgate it token signer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params
            .self_signed(&signing_key)
            .expect("self-sign the token signer");
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &signing_key.serialize_der(),
        )
        .expect("aws-lc-rs reads rcgen's PKCS#8");
        let state = Arc::new(State {
            username: username.to_owned(),
            password: password.to_owned(),
            service: service.to_owned(),
            issuer: issuer.to_owned(),
            key,
            rng,
            x5c: STANDARD.encode(cert.der()),
            requests: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
        });

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the token server");
        let addr = listener.local_addr().expect("local_addr of a bound socket");
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let service = service_fn(move |req: Request<Incoming>| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(answer(&state, &req)) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            root_cert_pem: cert.pem(),
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>/token`, the registry's `realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// PEM of the signing certificate: the registry's `rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// How many token requests arrived (refused ones included).
    pub fn requests(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// The query of every token request, in order.
    pub fn request_queries(&self) -> Vec<String> {
        lock(&self.state.requests).clone()
    }

    /// Every token issued so far.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.state.issued).clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = json_response(
        status,
        &json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"it-token-server\""),
        );
    }
    response
}

fn answer(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or_default().to_owned();
    lock(&state.requests).push(query.clone());
    if req.uri().path() != "/token" {
        return refuse(StatusCode::NOT_FOUND, "only /token is served here");
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", state.username, state.password))
    );
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return refuse(StatusCode::UNAUTHORIZED, "wrong or missing credentials");
    }
    let mut service = None;
    let mut access = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "service" => service = Some(value.into_owned()),
            "scope" => access.extend(parse_scope(&value)),
            _ => {}
        }
    }
    if service.as_deref() != Some(state.service.as_str()) {
        return refuse(StatusCode::BAD_REQUEST, "unknown service");
    }
    let token = sign(state, &access);
    lock(&state.issued).push(token.clone());
    json_response(
        StatusCode::OK,
        &json!({"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME}),
    )
}

/// `repository:<name>:<actions>` (the name may hold `:` with a registry port) or
/// `registry:catalog:*`, as an `access` claim entry.
fn parse_scope(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

/// A compact JWS of the claims, signed ES256.
fn sign(state: &State, access: &[serde_json::Value]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [state.x5c]});
    let claims = json!({
        "iss": state.issuer,
        "sub": state.username,
        "aud": state.service,
        "exp": now + TOKEN_LIFETIME,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": crate::unique_salt(),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = state
        .key
        .sign(&state.rng, signing_input.as_bytes())
        .expect("ECDSA signing with a valid key");
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}
