//! Listener, TLS, the tower stack, connection limits, and graceful shutdown.
//!
//! Client connections are bounded in number (`limits.max_connections`: one over the limit is
//! accepted and closed at once, counted, and logged at most every [`REFUSAL_LOG_INTERVAL`]) and
//! in idleness (`timeouts.client_idle`: a connection with no request in flight for that long is
//! closed, on HTTP/1.1 and HTTP/2 alike, also one that never sent a request, such as an h2c
//! preface followed by silence). HTTP/2 clients are sent PINGs (`timeouts.client_keepalive`), so
//! a peer that vanished mid-stream is noticed.

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
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, debug, info, warn};

use crate::body::ProxyBody;
use crate::gateway::handle;
use crate::state::AppState;
use crate::tls::{PeerIdentity, peer_identity};

/// A client must finish sending request headers within this time (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request header block accepted, on HTTP/1.1 and HTTP/2 alike.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A TLS handshake must finish within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/2 PING not answered within this time closes the connection.
const KEEPALIVE_ACK_TIMEOUT: Duration = Duration::from_secs(20);

/// Once a connection is being closed (idle, or shutdown), how long it may stay without a
/// request in flight before it is dropped: a peer that never answers the close (a half-done
/// HTTP/2 handshake) must not hold it open.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Refused connections are logged at most this often (with the number refused since).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

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
    let limits = state.config.connections;
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
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(KEEPALIVE_ACK_TIMEOUT);
    // New handshakes get a replaced certificate: its files are compared while serving.
    let cert_watch = state
        .config
        .tls_cert
        .clone()
        .filter(|_| tls.is_some())
        .map(|cert| tokio::spawn(crate::tls::watch(cert)));
    let acceptor = tls.map(TlsAcceptor::from);
    // One permit per connection served: the limit, and (all permits back) the end of draining.
    let slots = Arc::new(Semaphore::new(limits.max));
    let (stop, stopping) = watch::channel(false);
    let svc = service(state.clone());
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    while let Some((stream, peer)) = accept(&listener, shutdown.as_mut()).await {
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Closed at once: the client fails fast (and retries, or goes to another replica)
            // rather than wait in the kernel's backlog for a slot that may not come.
            drop(stream);
            refusals.note(&state, limits.max);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            service: svc.clone(),
            stopping: stopping.clone(),
            idle: limits.idle,
            peer,
            open: OpenConnection::new(slot, state.clone()),
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
        connections = limits.max - slots.available_permits(),
        "shutting down: draining in-flight requests"
    );
    let _ = stop.send(true);
    let all = u32::try_from(limits.max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => info!("all connections drained"),
        () = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing the remaining connections"),
    }
}

/// Connections refused over the limit since the last log line.
#[derive(Default)]
struct Refusals {
    last_logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl Refusals {
    fn note(&mut self, state: &AppState, limit: usize) {
        let total = state.metrics.connections().refused();
        self.unlogged += 1;
        if self
            .last_logged
            .is_some_and(|at| at.elapsed() < REFUSAL_LOG_INTERVAL)
        {
            return;
        }
        warn!(
            refused = self.unlogged,
            total,
            limit,
            "connection limit reached (limits.max_connections): connections over it are closed at once"
        );
        self.last_logged = Some(std::time::Instant::now());
        self.unlogged = 0;
    }
}

/// A served connection's slot and its place in the open-connections gauge, both given back
/// when the connection's task ends (or is dropped at the end of the grace period).
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
    state: Arc<AppState>,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit, state: Arc<AppState>) -> Self {
        state.metrics.connections().opened();
        Self { _slot: slot, state }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.state.metrics.connections().closed();
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
    /// Turns true when the server shuts down: the connection finishes its requests and ends.
    stopping: watch::Receiver<bool>,
    /// `timeouts.client_idle`.
    idle: Duration,
    peer: SocketAddr,
    /// Holds the connection's slot until it ends.
    open: OpenConnection,
}

impl<S, B> Connection<S>
where
    S: tower::Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<crate::body::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::body::BoxError>,
{
    async fn serve<I>(mut self, io: TokioIo<I>, identity: Option<PeerIdentity>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::default();
        // Set here, from the handshake, and nowhere else: no header can claim an identity.
        let service = self.service.map_request(move |mut req: Request<Incoming>| {
            if let Some(identity) = &identity {
                req.extensions_mut().insert(identity.clone());
            }
            req
        });
        let tracked = {
            let activity = activity.clone();
            tower::service_fn(move |req: Request<Incoming>| {
                // In flight from its head until its response body is done or dropped.
                let in_flight = activity.start();
                let call = service.clone().oneshot(req);
                async move {
                    let response = call.await?;
                    Ok::<_, S::Error>(response.map(|body| InFlightBody {
                        inner: body,
                        _in_flight: in_flight,
                    }))
                }
            })
        };
        let conn = self
            .builder
            .serve_connection(io, TowerToHyperService::new(tracked));
        tokio::pin!(conn);
        let mut closing = false;
        let ended = loop {
            tokio::select! {
                ended = conn.as_mut() => break ended,
                _ = self.stopping.wait_for(|stop| *stop), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = activity.idle_for(self.idle), if !closing => {
                    closing = true;
                    self.open.state.metrics.connections().idle_closed();
                    debug!(peer = %self.peer, idle = ?self.idle, "closing an idle connection (timeouts.client_idle)");
                    conn.as_mut().graceful_shutdown();
                }
                () = activity.idle_for(CLOSE_GRACE), if closing => {
                    debug!(peer = %self.peer, "dropping a closed connection the peer did not end");
                    return;
                }
            }
        };
        if let Err(e) = ended {
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

/// Requests in flight on one connection.
#[derive(Clone, Default)]
struct Activity(Arc<watch::Sender<usize>>);

impl Activity {
    /// One more request in flight, until the guard is dropped.
    fn start(&self) -> InFlight {
        self.0.send_modify(|n| *n += 1);
        InFlight(self.clone())
    }

    /// Completes once no request has been in flight for `idle` (at once counting from now if
    /// none is).
    async fn idle_for(&self, idle: Duration) {
        let mut requests = self.0.subscribe();
        loop {
            // The sender lives in `self`: neither wait can fail.
            let _ = requests.wait_for(|n| *n == 0).await;
            if tokio::time::timeout(idle, requests.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// A request in flight; see [`Activity::start`].
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until it is done.
    struct InFlightBody<B> {
        #[pin]
        inner: B,
        _in_flight: InFlight,
    }
}

impl<B: http_body::Body> http_body::Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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

#[cfg(test)]
mod gate_tests;

#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod tests;
