//! Listener, TLS, the tower stack, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, debug, info, warn};

use crate::body::ProxyBody;
use crate::gateway::{AppState, handle};
use crate::tls::{PeerIdentity, peer_identity};

/// A client must finish sending request headers within this time (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request header block accepted, on HTTP/1.1 and HTTP/2 alike.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A TLS handshake must finish within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Request ids from a process-wide counter: unique, cheap, and sortable in logs.
#[derive(Clone, Default)]
struct CountingRequestId(Arc<AtomicU64>);

impl MakeRequestId for CountingRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("sg-{n:x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The tower stack around [`handle`]; tests and `serve` use the same one.
pub fn service(
    state: Arc<AppState>,
) -> impl tower::Service<
    Request<Incoming>,
    Response = http::Response<ProxyBody>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        // Back to one body type, so the stack can be named and tested.
        .map_response(|r: http::Response<_>| r.map(BodyExt::boxed))
        // Outermost: give every request an id (or keep the client's) before anything logs.
        .layer(SetRequestIdLayer::x_request_id(CountingRequestId::default()))
        // One span per request carrying the id; one line when the response starts.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Echo the id to the client so a refused push can be matched with the log line.
        .layer(PropagateRequestIdLayer::x_request_id())
        .service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(state, req).await) }
        })
}

/// The span of one request: its id, method and path. The query is left out: upload URLs carry
/// the upstream's opaque state and some registries put signed tokens there.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
}

/// Serves on `listener` until `shutdown` completes, then stops accepting and waits up to
/// `grace` for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // The read buffer bounds the request head: a header block over 64 KiB gets 431 on
        // HTTP/1.1, as the same limit refuses it on HTTP/2.
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    // New handshakes get a replaced certificate: its files are compared while serving.
    let cert_watch = state
        .config
        .tls_cert
        .clone()
        .filter(|_| tls.is_some())
        .map(|cert| tokio::spawn(crate::tls::watch(cert)));
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let svc = service(state);
    tokio::pin!(shutdown);
    while let Some((stream, peer)) = accept(&listener, shutdown.as_mut()).await {
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            service: svc.clone(),
            watcher: graceful.watcher(),
            peer,
        };
        match &acceptor {
            None => tokio::spawn(connection.serve(TokioIo::new(stream), None)),
            Some(acceptor) => tokio::spawn(connection.serve_tls(acceptor.clone(), stream)),
        };
    }
    drop(listener);
    if let Some(task) = cert_watch {
        task.abort();
    }
    info!(
        connections = graceful.count(),
        "shutting down: draining in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => info!("all connections drained"),
        () = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing the remaining connections"),
    }
}

/// The next connection on `listener`, or `None` once `shutdown` has completed.
pub(crate) async fn accept(
    listener: &TcpListener,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => return Some(pair),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => return None,
        }
    }
}

/// One accepted connection, before it is served.
struct Connection<S> {
    builder: auto::Builder<TokioExecutor>,
    /// The tower stack; the connection's client identity is added to each request before it.
    service: S,
    /// Keeps the connection counted until it ends, so shutdown waits for it.
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl<S, B> Connection<S>
where
    S: tower::Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<crate::body::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::body::BoxError>,
{
    async fn serve<I>(self, io: TokioIo<I>, identity: Option<PeerIdentity>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        // Set here, from the handshake, and nowhere else: no header can claim an identity.
        let service = self.service.map_request(move |mut req: Request<Incoming>| {
            if let Some(identity) = &identity {
                req.extensions_mut().insert(identity.clone());
            }
            req
        });
        let conn = self
            .builder
            .serve_connection(io, TowerToHyperService::new(service))
            .into_owned();
        if let Err(e) = self.watcher.watch(conn).await {
            debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }

    async fn serve_tls(self, acceptor: TlsAcceptor, stream: TcpStream) {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                // Verified by rustls (tls.client_ca) when present.
                let identity = peer_identity(tls.get_ref().1.peer_certificates());
                self.serve(TokioIo::new(tls), identity).await
            }
            Ok(Err(e)) => debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
            Err(_) => debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C received"),
        () = term => info!("SIGTERM received"),
    }
}
