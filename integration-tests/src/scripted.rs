//! A fake upstream that answers from a fixed script: exact bytes and headers per path, 404 for
//! anything else. Only for tests where a real registry cannot be made to lie (a manifest served
//! with a `Content-Type` that contradicts its bytes).

use std::collections::HashMap;

use crate::loopback::LoopbackServer;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

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
    server: LoopbackServer,
}

impl ScriptedUpstream {
    /// Binds and serves `script` (path without query → answer). Must run inside a tokio runtime.
    pub async fn start(script: HashMap<String, ScriptedAnswer>) -> Self {
        Self {
            server: LoopbackServer::start("scripted upstream", move |req| answer(&script, req))
                .await,
        }
    }

    /// `http://127.0.0.1:<port>`, the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        self.server.url()
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
