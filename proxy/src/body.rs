//! Body types. Blob bodies are streamed frame by frame in both directions, never collected;
//! [`IdleTimeout`] ends a stream whose peer has gone silent so that nothing hangs forever.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use tokio::time::{Instant, Sleep};

/// Boxed error carried by bodies.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The body type of every request sent upstream and every response sent to clients.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body that is already in memory.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Wraps a streaming body so that it fails with [`IdleTimedOut`] when no frame arrives for
/// `idle`, and boxes it.
pub fn stream<B>(inner: B, idle: Duration) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    IdleTimeout {
        inner,
        idle,
        sleep: Box::pin(tokio::time::sleep(idle)),
    }
    .boxed()
}

/// The peer sent nothing for longer than `timeouts.idle`.
#[derive(Debug, thiserror::Error)]
#[error("no data for {0:?} (timeouts.idle)")]
pub struct IdleTimedOut(pub Duration);

pin_project_lite::pin_project! {
    /// See [`stream`].
    struct IdleTimeout<B> {
        #[pin]
        inner: B,
        idle: Duration,
        sleep: Pin<Box<Sleep>>,
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep.as_mut().reset(Instant::now() + *this.idle);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(IdleTimedOut(*this.idle))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let silent = StreamBody::new(tokio_stream_from(rx));
        let mut body = stream(silent, Duration::from_secs(5));
        tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
            .await
            .unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"a"));
        // Nothing more is sent; with the clock paused, tokio advances to the deadline.
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.is::<IdleTimedOut>(), "{err}");
        drop(tx);
    }

    #[tokio::test]
    async fn a_full_body_passes_through_with_its_size() {
        let body = stream(
            Full::new(Bytes::from_static(b"hello")),
            Duration::from_secs(1),
        );
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, Bytes::from_static(b"hello"));
    }

    /// A receiver as a `Stream`, without pulling in tokio-stream for one test.
    fn tokio_stream_from<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
