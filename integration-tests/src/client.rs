//! HTTP helpers: a buffered request/response helper over hyper-util's legacy client, a streaming
//! variant for bodies too large to hold, a generated body, and raw bytes over a socket for requests
//! that real clients would normalise (`..`, `//`, oversized headers).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The request body type of the helpers: anything that yields `Bytes`.
pub type TestBody = BoxBody<Bytes, io::Error>;

/// How long a buffered request may take before the helper gives up: no test may hang.
const BUFFERED_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long [`send_streaming`] waits for response headers, request body upload included.
pub const STREAMING_HEADERS_TIMEOUT: Duration = Duration::from_secs(180);

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// The first value of header `name` as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The OCI error codes in the body (see [`crate::oci_error_codes`]).
    pub fn oci_error_codes(&self) -> Vec<String> {
        crate::oci_error_codes(&self.body)
    }
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> Request<TestBody> {
    let mut builder = Request::builder().method(method).uri(url);
    // `append`, not `insert`: repeated names (several `Accept` lines) must all go out.
    let map = builder.headers_mut().expect("a fresh builder has headers");
    for (name, value) in headers {
        map.append(
            http::header::HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            http::HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    builder
        .body(body)
        .unwrap_or_else(|e| panic!("cannot build a request for {url}: {e}"))
}

/// An empty request body for [`send_streaming`].
pub fn empty_body() -> TestBody {
    full(Bytes::new())
}

fn full(body: impl Into<Bytes>) -> TestBody {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Sends one request over HTTP/1.1 and reads the whole response; `Err` describes a transport
/// failure or timeout. Each header pair becomes its own header line.
pub async fn try_send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let req = request(method.clone(), url, headers, full(body));
    let exchange = async {
        let response = client()
            .request(req)
            .await
            .map_err(|e| format!("{method} {url}: {e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(BUFFERED_REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{method} {url}: no answer within {BUFFERED_REQUEST_TIMEOUT:?}"
            ))
        })
}

/// Like [`try_send`], but a transport failure fails the test.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    try_send(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends a request with a streaming body and returns the response with its body unread, for
/// uploads and downloads too large to buffer. Response headers must arrive within
/// [`STREAMING_HEADERS_TIMEOUT`] (which includes sending the request body); reading the response
/// body is for the caller to bound.
pub async fn send_streaming(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> Response<Incoming> {
    let exchange = client().request(request(method.clone(), url, headers, body));
    tokio::time::timeout(STREAMING_HEADERS_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            panic!("{method} {url}: no response within {STREAMING_HEADERS_TIMEOUT:?}")
        })
        .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"))
}

/// Reads `body` to the end, hashing as it goes; returns (`sha256:<hex>`, length). Memory stays at
/// one frame whatever the size.
pub async fn read_body_hashed(mut body: Incoming) -> Result<(String, u64), hyper::Error> {
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            hasher.update(&data);
            length += data.len() as u64;
        }
    }
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), length))
}

/// A deterministic pseudo-random body of a fixed length, produced chunk by chunk so that a test can
/// upload hundreds of MiB while holding one chunk. The same seed always yields the same bytes, so
/// a first pass computes the digest and a second pass is the upload.
#[derive(Debug, Clone)]
pub struct GeneratedBody {
    /// xorshift64 state.
    state: u64,
    /// Bytes still to produce.
    remaining: u64,
    /// Size of each data frame.
    chunk_size: usize,
}

impl GeneratedBody {
    /// `length` bytes from `seed`, in frames of 1 MiB.
    pub fn new(seed: u64, length: u64) -> Self {
        Self {
            // xorshift must not start at zero.
            state: seed | 1,
            remaining: length,
            chunk_size: 1024 * 1024,
        }
    }

    /// How many bytes the body yields in total (what is left of it, once polling started).
    pub fn length(&self) -> u64 {
        self.remaining
    }

    /// The whole content's digest, computed by generating it once (one chunk in memory at a time).
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        let mut hasher = Sha256::new();
        while let Some(chunk) = copy.next_chunk() {
            hasher.update(&chunk);
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }

    /// The body as a request body for the helpers.
    pub fn boxed(self) -> TestBody {
        BodyExt::boxed(self)
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let len = usize::try_from(self.remaining.min(self.chunk_size as u64))
            .expect("a chunk fits in usize");
        let mut chunk = Vec::with_capacity(len + 8);
        while chunk.len() < len {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.extend_from_slice(&self.state.to_le_bytes());
        }
        chunk.truncate(len);
        self.remaining -= len as u64;
        Some(Bytes::from(chunk))
    }
}

impl Body for GeneratedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(self.get_mut().next_chunk().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        // Exact, so hyper sends Content-Length rather than chunked encoding.
        SizeHint::with_exact(self.remaining)
    }
}

/// A response read from a raw socket.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// Everything received, lossily decoded.
    pub text: String,
    /// Status code from the status line; 0 when nothing parseable came back.
    pub status: u16,
    /// The part after the blank line, as received (chunked framing not removed).
    pub body: String,
}

impl RawReply {
    /// The OCI error codes in the body, looking past chunked-encoding framing if any.
    pub fn oci_error_codes(&self) -> Vec<String> {
        let start = self.body.find('{');
        let end = self.body.rfind('}');
        match (start, end) {
            (Some(s), Some(e)) if s < e => crate::oci_error_codes(&self.body.as_bytes()[s..=e]),
            _ => Vec::new(),
        }
    }
}

/// Writes `request` as-is to `addr` and reads until the server closes the connection or stops
/// sending for a few seconds. Send `Connection: close` so the server ends the exchange.
///
/// Real clients normalise paths (`/v2/../x`), so hostile requests have to go out this way. A write
/// error is tolerated: a server may answer (and close) before an oversized request is fully sent.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            // EOF, reset or silence: the answer (if any) is complete.
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    RawReply { text, status, body }
}
