//! A fake upstream that records every request reaching it. Only for tests where a real registry
//! cannot misbehave on demand: proving that refused input is never forwarded, and stalling.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// What the fake upstream does with a request after recording it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamBehaviour {
    /// Answer `200 OK` with the JSON body `{}`.
    AnswerOk,
    /// Accept the request and never answer (the connection stays open until the fake is dropped).
    Stall,
}

/// One request as the fake upstream received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// Every header line (grouped by name); a repeated name appears once per line.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// All values of header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// One line for failure messages: method, URI and header names with value sizes (values
    /// can be huge in hostile-input tests).
    pub fn summary(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}[{} bytes]", value.len()))
            .collect();
        format!("{} {} ({})", self.method, self.uri, headers.join(", "))
    }
}

/// An in-process HTTP/1.1 + h2c server on `127.0.0.1:<free port>` that records requests.
/// Dropping it stops the server and closes every connection, including stalled ones.
#[derive(Debug)]
pub struct RecordingUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    /// The accept loop; it owns the connection tasks, so aborting it ends them too.
    server: JoinHandle<()>,
}

impl RecordingUpstream {
    /// Binds and serves with `behaviour`. Must be called inside a tokio runtime.
    pub async fn start(behaviour: UpstreamBehaviour) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the recording upstream");
        let addr = listener.local_addr().expect("local_addr of a bound socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = Arc::clone(&recorded);
                let service = service_fn(move |req: Request<Incoming>| {
                    let recorded = Arc::clone(&recorded);
                    async move {
                        record(&recorded, &req);
                        if behaviour == UpstreamBehaviour::Stall {
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .header("docker-distribution-api-version", "registry/2.0")
                                .body(Full::new(Bytes::from_static(b"{}")))
                                .expect("a static response is valid"),
                        )
                    }
                });
                connections.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            requests,
            server,
        }
    }

    /// `http://127.0.0.1:<port>`, the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many requests have arrived.
    pub fn count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

fn record(into: &Mutex<Vec<RecordedRequest>>, req: &Request<Incoming>) {
    let entry = RecordedRequest {
        method: req.method().to_string(),
        uri: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().to_string(), ToString::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    into.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(entry);
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}
