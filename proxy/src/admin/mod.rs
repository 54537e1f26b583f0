//! The admin API: a separate listener (loopback by default), guarded by a bearer token compared
//! in constant time or by a client certificate from a configured CA. Without a credential every
//! request gets 401 and nothing else.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/v1/status` | version, uptime, store size, policy and trust digests, scopes, certificates expiring within 30 days |
//! | GET | `/admin/v1/pins` | pins, filtered by `upstream`, `repository` / `tag` globs, `signer` |
//! | GET | `/admin/v1/pin` | one pin (`upstream`, `repository`, `tag`) with its history and current verdict |
//! | GET | `/admin/v1/audit` | audit events by `since`/`until`, `repository`, `action`, `outcome`; paged by `after` |
//! | GET | `/admin/v1/audit/verify` | walks the hash chain |
//! | GET | `/admin/v1/revocations` | revocations made at run time |
//! | POST | `/admin/v1/revocations` | revoke a key or a certificate; answers with the blast radius |
//! | POST | `/admin/v1/reload` | re-read trust and policy (as SIGHUP) |
//! | POST | `/admin/v1/retire-pin` | free a tag (audited) |
//!
//! `sealgate admin …` ([`client`]) calls these and prints tables or JSON.

pub mod client;

mod handlers;

pub use handlers::AdminIdentity;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::admin_config::AdminConfig;
use crate::body::ProxyBody;
use crate::error::{AdminError, ProxyError};
use crate::state::AppState;

/// A handshake or request head must arrive within this time.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the admin API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    admin: AdminConfig,
    shutdown: impl Future<Output = ()>,
) {
    let admin = Arc::new(admin);
    let acceptor = admin.tls.clone().map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(ADMIN_TIMEOUT);
    tokio::pin!(shutdown);
    while let Some((stream, peer)) = crate::server::accept(&listener, shutdown.as_mut()).await {
        let state = state.clone();
        let admin = admin.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => {
                    let service = service(state, admin, None);
                    if let Err(e) = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        debug!(%peer, error = %e, "admin connection ended with an error");
                    }
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(ADMIN_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                debug!(%peer, error = %e, "admin TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                    // The verifier accepted any certificate presented: it chains to client_ca.
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|leaf| certificate_identity(leaf.as_ref()));
                    let service = service(state, admin, identity);
                    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
                        debug!(%peer, error = %e, "admin connection ended with an error");
                    }
                }
            }
        });
    }
    info!("admin listener closed");
}

fn service(
    state: Arc<AppState>,
    admin: Arc<AdminConfig>,
    certificate: Option<String>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ProxyBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<ProxyBody>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req| {
        let state = state.clone();
        let admin = admin.clone();
        let certificate = certificate.clone();
        async move {
            let response = match authenticate(&admin, certificate.as_deref(), &req) {
                Some(identity) => handlers::handle(&state, identity, req).await,
                None => unauthorized(),
            };
            Ok::<_, Infallible>(response)
        }
    })
}

/// The caller's identity if it presented a credential: a client certificate from `client_ca`
/// (mTLS), or the bearer token.
fn authenticate<B>(
    admin: &AdminConfig,
    certificate: Option<&str>,
    req: &Request<B>,
) -> Option<AdminIdentity> {
    if admin.mtls
        && let Some(subject) = certificate
    {
        return Some(AdminIdentity(format!("cert:{subject}")));
    }
    let expected = admin.token_sha256?;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Equal-length digests compared in constant time: the time taken says nothing about the token.
    bool::from(subtle::ConstantTimeEq::ct_eq(&presented[..], &expected[..]))
        .then(|| AdminIdentity("admin-token".to_owned()))
}

/// The subject DN of a DER certificate, as the audit log names the caller.
fn certificate_identity(der: &[u8]) -> String {
    sealgate_policies::x509::CertificateInfo::from_der(der)
        .map(|info| info.subject)
        .unwrap_or_else(|_| "unparsable certificate".to_owned())
}

fn unauthorized() -> Response<ProxyBody> {
    ProxyError::from(AdminError::NoCredential).into_admin_response()
}

/// Binds the admin listener; the caller runs [`serve`] on it.
pub async fn bind(admin: &AdminConfig) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(admin.listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
