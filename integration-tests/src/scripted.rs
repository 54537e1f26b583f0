//! A fake upstream that answers from a fixed script: exact bytes and headers per path, 404 for
//! anything else. Only for tests where a real registry cannot be made to lie (a manifest served
//! with a `Content-Type` that contradicts its bytes).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// One scripted answer: status, headers, body (HEAD gets the headers and no body).
#[derive(Debug, Clone)]
pub struct ScriptedAnswer {
    /// Status code.
    pub status: StatusCode,
    /// Header lines, sent as given.
    pub headers: Vec<(String, String)>,
    /// The body of a GET.
    pub body: Bytes,
}

impl ScriptedAnswer {
    /// `200 OK` with `body` and the given `Content-Type` (and `Content-Length`).
    pub fn ok(content_type: &str, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        Self {
            status: StatusCode::OK,
            headers: vec![
                ("content-type".to_owned(), content_type.to_owned()),
                ("content-length".to_owned(), body.len().to_string()),
            ],
            body,
        }
    }

    /// Adds a header line.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// An in-process HTTP/1.1 + h2c server on `127.0.0.1:<free port>` answering GET and HEAD of
/// scripted paths; `/v2/` answers 200, anything else 404 with an OCI error body. Dropping it
/// stops the server.
#[derive(Debug)]
pub struct ScriptedUpstream {
    addr: SocketAddr,
    /// The accept loop; it owns the connection tasks, so aborting it ends them too.
    server: JoinHandle<()>,
}

impl ScriptedUpstream {
    /// Binds and serves `script` (path without query → answer). Must run inside a tokio runtime.
    pub async fn start(script: HashMap<String, ScriptedAnswer>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the scripted upstream");
        let addr = listener.local_addr().expect("local_addr of a bound socket");
        let script = Arc::new(script);
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let script = Arc::clone(&script);
                let service = service_fn(move |req: Request<Incoming>| {
                    let script = Arc::clone(&script);
                    async move { Ok::<_, Infallible>(answer(&script, &req)) }
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

    /// `http://127.0.0.1:<port>`, the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn answer(
    script: &HashMap<String, ScriptedAnswer>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let found = if path == "/v2/" {
        Some(ScriptedAnswer::ok(
            "application/json",
            Bytes::from_static(b"{}"),
        ))
    } else {
        script.get(path).cloned()
    };
    let answer = found.unwrap_or_else(|| ScriptedAnswer {
        status: StatusCode::NOT_FOUND,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: Bytes::from_static(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"not in the script"}]}"#,
        ),
    });
    let mut builder = Response::builder()
        .status(answer.status)
        .header("docker-distribution-api-version", "registry/2.0");
    for (name, value) in &answer.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        answer.body
    };
    builder
        .body(Full::new(body))
        .expect("scripted headers are valid")
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}
