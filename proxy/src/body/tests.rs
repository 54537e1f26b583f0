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

/// A body of these frames, then (optionally) an error instead of its end.
fn frames(chunks: &[&'static [u8]], then_fail: bool) -> ProxyBody {
    let mut items: Vec<Result<Frame<Bytes>, BoxError>> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from_static(c))))
        .collect();
    if then_fail {
        items.push(Err("connection reset by peer".into()));
    }
    StreamBody::new(futures_util::stream::iter(items)).boxed()
}

fn digest_of(bytes: &[u8]) -> Digest {
    Digest::from_hash(DigestAlgorithm::Sha256, &sha2::Sha256::digest(bytes)).unwrap()
}

/// Polls `body` to its end or first error: the bytes received and the error, if any.
async fn drain(mut body: ProxyBody) -> (Vec<u8>, Option<BoxError>) {
    let mut received = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    received.extend_from_slice(&data);
                }
            }
            Err(e) => return (received, Some(e)),
        }
    }
    (received, None)
}

#[tokio::test]
async fn r11_a_blob_that_matches_its_digest_streams_whole() {
    let chunks: &[&[u8]] = &[b"layer ", b"bytes ", b"in three frames"];
    let digest = digest_of(b"layer bytes in three frames");
    let body = verify_digest(frames(chunks, false), &digest).unwrap();
    let (received, error) = drain(body).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(received, b"layer bytes in three frames");
}

#[tokio::test]
async fn r11_a_blob_that_does_not_match_never_arrives_whole() {
    let chunks: &[&[u8]] = &[b"substituted ", b"bytes ", b"end"];
    let digest = digest_of(b"the real layer bytes");
    let body = verify_digest(frames(chunks, false), &digest).unwrap();
    let (received, error) = drain(body).await;
    let error = error.expect("a mismatching blob must end with an error");
    assert!(error.is::<DigestMismatch>(), "{error}");
    // Everything but the held-back last frame went out; the client never sees the end.
    assert_eq!(received, b"substituted bytes ");
}

#[tokio::test]
async fn r11_a_one_frame_mismatching_blob_sends_nothing() {
    let digest = digest_of(b"expected");
    let body = verify_digest(frames(&[b"unexpected"], false), &digest).unwrap();
    let (received, error) = drain(body).await;
    assert!(received.is_empty());
    assert!(error.unwrap().is::<DigestMismatch>());
}

#[tokio::test]
async fn r11_an_empty_answer_for_a_non_empty_blob_is_refused_before_sending() {
    let digest = digest_of(b"not empty");
    assert!(verify_digest(empty(), &digest).is_err());
    let empty_digest = digest_of(b"");
    let (received, error) = drain(verify_digest(empty(), &empty_digest).unwrap()).await;
    assert!(received.is_empty() && error.is_none());
}

#[tokio::test]
async fn a_sha512_blob_is_checked_with_sha512() {
    let digest = Digest::from_hash(DigestAlgorithm::Sha512, &sha2::Sha512::digest(b"abc")).unwrap();
    let (received, error) =
        drain(verify_digest(frames(&[b"a", b"bc"], false), &digest).unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(received, b"abc");
    let (_, error) = drain(verify_digest(frames(&[b"a", b"bd"], false), &digest).unwrap()).await;
    assert!(error.unwrap().is::<DigestMismatch>());
}

#[tokio::test]
async fn an_upstream_error_is_passed_on_and_the_held_frame_dropped() {
    let digest = digest_of(b"abcdef");
    let body = verify_digest(frames(&[b"ab", b"cd"], true), &digest).unwrap();
    let (received, error) = drain(body).await;
    assert_eq!(received, b"ab");
    assert!(!error.unwrap().is::<DigestMismatch>());
}

fn transfer(direction: Direction, expected: Option<u64>, cuts: &Arc<TransferCuts>) -> Transfer {
    Transfer {
        direction,
        request_id: "sg-test".to_owned(),
        expected,
        cuts: cuts.clone(),
    }
}

#[tokio::test]
async fn r11_cut_transfers_are_counted_by_reason() {
    let cuts = Arc::new(TransferCuts::default());
    // The upstream resets mid-body.
    let body = watch(
        frames(&[b"abc"], true),
        transfer(Direction::Download, Some(10), &cuts),
    );
    assert!(drain(body).await.1.is_some());
    assert_eq!(cuts.count(Direction::Download, CutReason::Upstream), 1);
    // A broken upload is the client's.
    let body = watch(
        frames(&[b"abc"], true),
        transfer(Direction::Upload, Some(10), &cuts),
    );
    assert!(drain(body).await.1.is_some());
    assert_eq!(cuts.count(Direction::Upload, CutReason::Client), 1);
    // A digest mismatch says so.
    let digest = digest_of(b"other");
    let body = watch(
        verify_digest(frames(&[b"a", b"b"], false), &digest).unwrap(),
        transfer(Direction::Download, Some(2), &cuts),
    );
    assert!(drain(body).await.1.is_some());
    assert_eq!(
        cuts.count(Direction::Download, CutReason::DigestMismatch),
        1
    );
    // The client goes away: the download is dropped half read.
    let mut body = watch(
        frames(&[b"abc", b"def"], false),
        transfer(Direction::Download, Some(6), &cuts),
    );
    body.frame().await.unwrap().unwrap();
    drop(body);
    assert_eq!(cuts.count(Direction::Download, CutReason::Client), 1);
    // Complete transfers, and an upload the upstream did not read, are not cuts.
    let body = watch(
        frames(&[b"abc", b"def"], false),
        transfer(Direction::Download, Some(6), &cuts),
    );
    assert!(drain(body).await.1.is_none());
    drop(watch(
        frames(&[b"abc"], false),
        transfer(Direction::Upload, Some(3), &cuts),
    ));
    let total: u64 = [Direction::Download, Direction::Upload]
        .into_iter()
        .flat_map(|d| CutReason::ALL.map(|r| cuts.count(d, r)))
        .sum();
    assert_eq!(total, 4);
}

#[tokio::test(start_paused = true)]
async fn r11_an_idle_cut_is_counted_as_idle() {
    let cuts = Arc::new(TransferCuts::default());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
    let silent = StreamBody::new(tokio_stream_from(rx));
    let body = watch(
        stream(silent, Duration::from_secs(5)),
        transfer(Direction::Download, None, &cuts),
    );
    tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
        .await
        .unwrap();
    let (received, error) = drain(body).await;
    assert_eq!(received, b"a");
    assert!(error.unwrap().is::<IdleTimedOut>());
    assert_eq!(cuts.count(Direction::Download, CutReason::Idle), 1);
    drop(tx);
}
