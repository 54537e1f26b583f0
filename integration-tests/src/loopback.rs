//! The in-process HTTP server the fake upstreams share: HTTP/1.1 and h2c on
//! `127.0.0.1:<free port>`, each request answered by a plain function. Dropping it stops the
//! server and closes every connection.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running server (see the module docs).
#[derive(Debug)]
pub(crate) struct LoopbackServer {
    addr: SocketAddr,
    /// The accept loop; it owns the connection tasks, so aborting it ends them too.
    server: JoinHandle<()>,
}

impl LoopbackServer {
    /// Binds and serves every request with `answer`; `what` names the server in a bind failure.
    /// Must be called inside a tokio runtime.
    pub(crate) async fn start<B, F>(what: &str, answer: F) -> Self
    where
        F: Fn(&Request<Incoming>) -> Response<B> + Send + Sync + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|e| panic!("bind the {what}: {e}"));
        let addr = listener.local_addr().expect("local_addr of a bound socket");
        let answer = Arc::new(answer);
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let answer = Arc::clone(&answer);
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = answer(&req);
                    async move { Ok::<_, Infallible>(response) }
                });
                connections.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { addr, server }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
