//! A fake upstream that misbehaves on purpose, for the fault tests: server errors with HTML
//! bodies, and bodies that stop halfway. Only for what a real registry cannot be made to do on
//! demand.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loopback::LoopbackServer;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// How a [`FaultyUpstream`] answers every request but `GET /v2/` (which gets 200, so sealgate's
/// readiness does not depend on the fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This status with an HTML error page (as a load balancer or a crashed registry sends),
    /// and `Retry-After` when given.
    ServerError {
        /// The status (5xx).
        status: u16,
        /// The `Retry-After` value, if any.
        retry_after: Option<&'static str>,
    },
    /// 200 announcing `announced` bytes (`Content-Length`), then `sent` bytes, then silence with
    /// the connection held open.
    StallMidBody {
        /// The `Content-Length` announced.
        announced: u64,
        /// The bytes actually sent before stalling.
        sent: usize,
    },
}

/// The HTML page of [`Fault::ServerError`] answers.
pub const ERROR_PAGE: &str =
    "<html><head><title>Internal Server Error</title></head><body><h1>Oops</h1></body></html>";

/// An in-process HTTP/1.1 + h2c server on `127.0.0.1:<free port>` answering with a [`Fault`].
/// Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct FaultyUpstream {
    server: LoopbackServer,
}

impl FaultyUpstream {
    /// Binds and serves with `fault`. Must be called inside a tokio runtime.
    pub async fn start(fault: Fault) -> Self {
        Self {
            server: LoopbackServer::start("faulty upstream", move |req| answer(fault, req)).await,
        }
    }

    /// `http://127.0.0.1:<port>`, the upstream URL for sealgate's config.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

fn answer(fault: Fault, req: &Request<Incoming>) -> Response<FaultBody> {
    let builder = Response::builder().header("docker-distribution-api-version", "registry/2.0");
    if req.uri().path() == "/v2/" {
        return builder
            .header("content-type", "application/json")
            .body(FaultBody::whole(Bytes::from_static(b"{}")))
            .expect("a static response is valid");
    }
    match fault {
        Fault::ServerError {
            status,
            retry_after,
        } => {
            let mut builder = builder
                .status(StatusCode::from_u16(status).expect("a valid status"))
                .header("content-type", "text/html");
            if let Some(value) = retry_after {
                builder = builder.header("retry-after", value);
            }
            builder
                .body(FaultBody::whole(Bytes::from_static(ERROR_PAGE.as_bytes())))
                .expect("a static response is valid")
        }
        Fault::StallMidBody { announced, sent } => builder
            .header("content-type", "application/octet-stream")
            .body(FaultBody {
                first: Some(Bytes::from(vec![b'x'; sent])),
                announced,
                stall: true,
            })
            .expect("a static response is valid"),
    }
}

/// One frame, then the end or (stalling) nothing ever again.
struct FaultBody {
    first: Option<Bytes>,
    announced: u64,
    stall: bool,
}

impl FaultBody {
    fn whole(bytes: Bytes) -> Self {
        Self {
            announced: bytes.len() as u64,
            first: Some(bytes),
            stall: false,
        }
    }
}

impl Body for FaultBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.first.take() {
            Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            // Never woken again: the connection stays open and silent.
            None if this.stall => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.stall && self.first.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.announced)
    }
}
