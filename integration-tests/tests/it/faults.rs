//! Faults: a registry that goes away (also mid-blob) and comes back, one that never answers,
//! answers HTML server errors, stops mid-body or serves bytes that do not match their digest; a
//! full disk under sealgate's store; idle and surplus client connections. sealgate must fail
//! fast with an OCI error, never hand out a complete body it should not, leave a trace (a log
//! line and a metric) of every cut, report itself unready, and recover without a restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use sealgate_integration_tests::{
    ERROR_PAGE, Fault, FaultyUpstream, GeneratedBody, MANIFEST_ACCEPT, RecordingUpstream, Registry,
    Reply, Sealgate, Tmpfs, UpstreamBehaviour, empty_body, oci, read_body_hashed,
    registry_behind_sealgate, send, send_streaming, sha256_digest, unique_salt,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long a request may take to fail when the upstream is down: a refused connection is instant.
const PROMPT_FAILURE: Duration = Duration::from_secs(10);

async fn readyz(sealgate: &Sealgate) -> Reply {
    send(
        Method::GET,
        &format!("{}/readyz", sealgate.base_url()),
        &[],
        Bytes::new(),
    )
    .await
}

fn assert_unavailable(reply: &Reply, what: &str) {
    assert!(
        matches!(
            reply.status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
        ),
        "{what}: expected 502 or 503, got {} {}",
        reply.status,
        reply.text()
    );
    assert_eq!(
        reply.oci_error_codes(),
        ["UNAVAILABLE"],
        "{what}: {}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_upstream_gives_unavailable_promptly_and_recovery_follows_restart() {
    let (mut registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let digest = oci::push_tiny_image(&base, "it/fault", "v1", &unique_salt()).await;
    let ready = readyz(&sealgate).await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "readyz with the registry up: {}",
        ready.text()
    );

    registry.stop();
    let manifest_url = format!("{base}/v2/it/fault/manifests/v1");
    let blob_url = format!("{base}/v2/it/fault/blobs/{digest}");
    for (what, url) in [("manifest GET", &manifest_url), ("blob GET", &blob_url)] {
        let started = Instant::now();
        let reply = send(Method::GET, url, &MANIFEST_ACCEPT, Bytes::new()).await;
        let took = started.elapsed();
        eprintln!(
            "{what} with the upstream down: {} in {took:.2?}",
            reply.status
        );
        assert_unavailable(&reply, what);
        assert!(took < PROMPT_FAILURE, "{what} took {took:?} to fail");
    }
    let started = Instant::now();
    let unready = readyz(&sealgate).await;
    assert_eq!(
        unready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "readyz with the registry down: {}",
        unready.text()
    );
    assert!(
        started.elapsed() < PROMPT_FAILURE,
        "readyz took {:?}",
        started.elapsed()
    );

    registry.restart().await;
    // Readiness is the signal a load balancer waits for; once it is back, requests must work.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = readyz(&sealgate).await;
        if ready.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz stayed {} after the registry came back: {}",
            ready.status,
            ready.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = send(Method::GET, &manifest_url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "after restart: {}",
        reply.text()
    );
    assert_eq!(
        oci::manifest_digest(&base, "it/fault", "v1").await,
        oci::manifest_digest(&registry.url(), "it/fault", "v1").await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_upstream_is_cut_off_by_the_response_timeout() {
    let upstream = RecordingUpstream::start(UpstreamBehaviour::Stall).await;
    let sealgate = Sealgate::builder()
        .upstream("stalling", &upstream.url(), &[])
        .response_timeout(Duration::from_secs(1))
        .start()
        .await;

    let started = Instant::now();
    let reply = send(
        Method::GET,
        &format!("{}/v2/it/stall/manifests/latest", sealgate.base_url()),
        &MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await;
    let took = started.elapsed();
    eprintln!(
        "stalled upstream with response = 1s: {} after {took:.2?}",
        reply.status
    );
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert_eq!(reply.oci_error_codes(), ["UNAVAILABLE"], "{}", reply.text());
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}, before the 1 s timeout could have fired"
    );
    assert!(
        took < Duration::from_secs(5),
        "a 1 s response timeout took {took:?}"
    );
    assert!(
        upstream.count() >= 1,
        "the request never reached the stalling upstream"
    );
}

/// The value of the sample `series` (`name{label="value",…}` exactly as exposed, or a bare
/// name) in sealgate's `/metrics`; 0 when absent.
async fn metric(sealgate: &Sealgate, series: &str) -> f64 {
    let reply = send(
        Method::GET,
        &format!("{}/metrics", sealgate.base_url()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply
        .text()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Reads `body` to its end or first error, at most `within`: the bytes received and whether it
/// ended cleanly (a complete body).
async fn read_to_end_or_error(body: hyper::body::Incoming, within: Duration) -> (u64, bool) {
    let mut body = body;
    let mut received = 0u64;
    let outcome = tokio::time::timeout(within, async {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        received += data.len() as u64;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    })
    .await;
    match outcome {
        Ok(complete) => (received, complete),
        Err(_) => panic!("the body neither ended nor failed within {within:?} ({received} bytes)"),
    }
}

/// A `transfer cut` (or digest) log line naming `request_id` and `reason`.
async fn wait_for_cut_line(sealgate: &Sealgate, request_id: &str, reason: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = sealgate.stderr_log();
        // Text logs quote string fields (`reason="idle"`); JSON would too.
        let field = format!("reason=\"{reason}\"");
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(request_id) && l.contains(&field) && l.contains("sent="))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no cut line for {request_id} with reason {reason}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CUT_BLOB_BYTES: u64 = 128 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn r11_upstream_killed_mid_blob_cuts_the_download_and_leaves_a_trace() {
    let (mut registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(11, |d| d.as_nanos() as u64);
    let digest =
        oci::push_generated_blob(&base, "it/cut", GeneratedBody::new(seed, CUT_BLOB_BYTES)).await;
    let url = format!("{base}/v2/it/cut/blobs/{digest}");

    let response = send_streaming(
        Method::GET,
        &url,
        &[("x-request-id", "it-cut-upstream")],
        empty_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = 0u64;
    while received < 1024 * 1024 {
        let frame = body.frame().await.expect("more body").expect("a frame");
        received += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    registry.stop();
    let (rest, complete) = read_to_end_or_error(body, Duration::from_secs(60)).await;
    let received = received + rest;
    eprintln!("upstream killed after 1 MiB: the client got {received} of {CUT_BLOB_BYTES} bytes");
    assert!(
        !complete,
        "the client saw a complete body after the upstream died"
    );
    assert!(received < CUT_BLOB_BYTES);

    let line = wait_for_cut_line(&sealgate, "it-cut-upstream", "upstream").await;
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!("expected={CUT_BLOB_BYTES}")),
        "{line}"
    );
    assert!(
        metric(
            &sealgate,
            r#"sealgate_transfers_cut_total{direction="download",reason="upstream"}"#
        )
        .await
            >= 1.0
    );

    // Back again: ready, and the whole blob comes through (and passes the digest check).
    registry.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while readyz(&sealgate).await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "readyz did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = send_streaming(Method::GET, &url, &[], empty_body()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (hashed, length) = read_body_hashed(response.into_body())
        .await
        .expect("the whole blob after the restart");
    assert_eq!((hashed, length), (digest, CUT_BLOB_BYTES));
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_blob_that_does_not_match_its_digest_never_arrives_whole() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let length: u64 = 4 * 1024 * 1024;
    let digest =
        oci::push_generated_blob(&base, "it/corrupt", GeneratedBody::new(0x5eed_0b1b, length))
            .await;
    // The registry's copy rots: one byte in the middle changes, the length stays.
    let path = registry.blob_data_path(&digest);
    let mut bytes = std::fs::read(&path).expect("read the stored blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt the stored blob");
    // The registry serves the rotten bytes whole: sealgate is what stops them.
    let direct = send(
        Method::GET,
        &format!("{}/v2/it/corrupt/blobs/{digest}", registry.url()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(direct.status, StatusCode::OK);
    assert_eq!(direct.body.len() as u64, length);
    assert_ne!(sha256_digest(&direct.body), digest);

    let response = send_streaming(
        Method::GET,
        &format!("{base}/v2/it/corrupt/blobs/{digest}"),
        &[("x-request-id", "it-digest-mismatch")],
        empty_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (received, complete) =
        read_to_end_or_error(response.into_body(), Duration::from_secs(30)).await;
    eprintln!("corrupt blob: the client got {received} of {length} bytes");
    assert!(
        !complete,
        "a blob that does not match its digest arrived whole"
    );
    assert!(received < length);
    let line = wait_for_cut_line(&sealgate, "it-digest-mismatch", "digest_mismatch").await;
    assert!(line.contains("does not match its digest"), "{line}");
    assert!(
        metric(
            &sealgate,
            r#"sealgate_transfers_cut_total{direction="download",reason="digest_mismatch"}"#
        )
        .await
            >= 1.0
    );
    // A range is not a whole blob: it is passed on (the client checks the assembled blob).
    let range = send(
        Method::GET,
        &format!("{base}/v2/it/corrupt/blobs/{digest}"),
        &[("range", "bytes=0-99")],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        range.status,
        StatusCode::PARTIAL_CONTENT,
        "{}",
        range.text()
    );
    assert_eq!(range.body.len(), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_an_upstream_server_error_page_becomes_an_oci_error() {
    let upstream = FaultyUpstream::start(Fault::ServerError {
        status: 500,
        retry_after: None,
    })
    .await;
    let sealgate = Sealgate::builder()
        .upstream("flaky", &upstream.url(), &[])
        .start()
        .await;
    let base = sealgate.base_url();
    let digest = sha256_digest(b"some blob");
    for (what, method, url) in [
        (
            "manifest GET",
            Method::GET,
            format!("{base}/v2/it/flaky/manifests/v1"),
        ),
        (
            "blob GET",
            Method::GET,
            format!("{base}/v2/it/flaky/blobs/{digest}"),
        ),
        (
            "upload POST",
            Method::POST,
            format!("{base}/v2/it/flaky/blobs/uploads/"),
        ),
        ("tags", Method::GET, format!("{base}/v2/it/flaky/tags/list")),
    ] {
        let started = Instant::now();
        let reply = send(method, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
        assert!(
            started.elapsed() < PROMPT_FAILURE,
            "{what} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            reply.status,
            StatusCode::BAD_GATEWAY,
            "{what}: {}",
            reply.text()
        );
        assert_eq!(
            reply.oci_error_codes(),
            ["UNAVAILABLE"],
            "{what}: {}",
            reply.text()
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        assert!(reply.header("retry-after").is_some(), "{what}");
        let text = reply.text();
        assert!(
            !text.contains("<html") && !text.contains(ERROR_PAGE),
            "{what}: {text}"
        );
        assert!(
            text.contains("flaky") && text.contains("500"),
            "{what}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_an_upstream_503_is_502_with_its_sane_retry_after() {
    for (given, expected) in [(Some("120"), "120"), (Some("999999"), "5"), (None, "5")] {
        let upstream = FaultyUpstream::start(Fault::ServerError {
            status: 503,
            retry_after: given,
        })
        .await;
        let sealgate = Sealgate::builder()
            .upstream("busy", &upstream.url(), &[])
            .start()
            .await;
        let reply = send(
            Method::GET,
            &format!("{}/v2/it/busy/manifests/v1", sealgate.base_url()),
            &MANIFEST_ACCEPT,
            Bytes::new(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
        assert_eq!(reply.oci_error_codes(), ["UNAVAILABLE"], "{}", reply.text());
        assert!(reply.text().contains("503"), "{}", reply.text());
        assert_eq!(
            reply.header("retry-after"),
            Some(expected),
            "upstream sent {given:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_body_stalled_midway_is_cut_at_the_idle_timeout_with_a_trace() {
    let announced: u64 = 1024 * 1024;
    let upstream = FaultyUpstream::start(Fault::StallMidBody {
        announced,
        sent: 64 * 1024,
    })
    .await;
    let sealgate = Sealgate::builder()
        .upstream("stalling", &upstream.url(), &[])
        .idle_timeout(Duration::from_secs(1))
        .start()
        .await;
    // Not a blob URL (no digest check): the bytes flow until the stall.
    let started = Instant::now();
    let response = send_streaming(
        Method::GET,
        &format!("{}/v2/it/stall/tags/list", sealgate.base_url()),
        &[("x-request-id", "it-idle-cut")],
        empty_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (received, complete) =
        read_to_end_or_error(response.into_body(), Duration::from_secs(20)).await;
    let took = started.elapsed();
    eprintln!("stalled body: {received} of {announced} bytes, cut after {took:.2?}");
    assert!(!complete && received < announced);
    assert!(took < Duration::from_secs(10), "the idle cut took {took:?}");
    let line = wait_for_cut_line(&sealgate, "it-idle-cut", "idle").await;
    assert!(line.contains(&format!("expected={announced}")), "{line}");
    assert!(line.contains("sent=65536"), "{line}");
    assert!(
        metric(
            &sealgate,
            r#"sealgate_transfers_cut_total{direction="download",reason="idle"}"#
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_client_abort_mid_blob_leaves_a_trace() {
    let (_registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let digest = oci::push_generated_blob(
        &base,
        "it/abort",
        GeneratedBody::new(0xab0b7, CUT_BLOB_BYTES),
    )
    .await;
    let response = send_streaming(
        Method::GET,
        &format!("{base}/v2/it/abort/blobs/{digest}"),
        &[("x-request-id", "it-client-abort")],
        empty_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    body.frame().await.expect("a first frame").expect("data");
    drop(body);
    wait_for_cut_line(&sealgate, "it-client-abort", "client").await;
    assert!(
        metric(
            &sealgate,
            r#"sealgate_transfers_cut_total{direction="download",reason="client"}"#
        )
        .await
            >= 1.0
    );
}

/// How long until the server ends `stream` (EOF or reset), reading and dropping whatever it
/// sends; panics if it is still open after `limit`.
async fn closed_after(mut stream: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("the connection is still open after {limit:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends one HTTP/1.1 request on `stream` and reads its response head and (small) body.
async fn http1_exchange(stream: &mut TcpStream, path: &str) -> String {
    try_http1_exchange(stream, path)
        .await
        .expect("read the answer")
}

/// [`http1_exchange`], with the connection's I/O error (a reset) returned.
async fn try_http1_exchange(stream: &mut TcpStream, path: &str) -> std::io::Result<String> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: sealgate\r\n\r\n").as_bytes())
        .await?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")?;
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        // `/healthz` answers a small JSON object with a Content-Length.
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&received).into_owned())
}

const CLIENT_IDLE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn r11_idle_client_connections_are_closed_after_the_idle_time() {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .env("SEALGATE_TIMEOUTS__CLIENT_IDLE", "2s")
        .start()
        .await;
    let limit = Duration::from_secs(15);
    // An h2c client that sends the preface and then nothing; one that sends nothing at all;
    // an HTTP/1.1 client that keeps its connection after one request.
    let mut h2c = TcpStream::connect(sealgate.addr()).await.expect("connect");
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write the preface");
    let silent = TcpStream::connect(sealgate.addr()).await.expect("connect");
    let mut keep_alive = TcpStream::connect(sealgate.addr()).await.expect("connect");
    let answer = http1_exchange(&mut keep_alive, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (h2c, silent, keep_alive) = tokio::join!(
        closed_after(h2c, limit),
        closed_after(silent, limit),
        closed_after(keep_alive, limit)
    );
    eprintln!(
        "closed after: h2c preface {h2c:.2?}, silent {silent:.2?}, keep-alive {keep_alive:.2?}"
    );
    for (what, took) in [
        ("h2c preface", h2c),
        ("silent", silent),
        ("keep-alive", keep_alive),
    ] {
        assert!(
            took >= CLIENT_IDLE - Duration::from_millis(300),
            "{what} closed after {took:?}"
        );
        // The idle time, the close grace (1 s) and slack for a busy machine.
        assert!(
            took <= CLIENT_IDLE + Duration::from_secs(4),
            "{what} closed after {took:?}"
        );
    }
    assert!(metric(&sealgate, "sealgate_connections_idle_closed_total").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_connections_over_the_limit_are_closed_at_once_and_counted() {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .env("SEALGATE_LIMITS__MAX_CONNECTIONS", "4")
        .start()
        .await;
    // Four connections, each served once and kept. The harness's own readiness probe may
    // still hold a slot for a moment after start, so a connection reset here is retried.
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.len() < 4 {
        let mut stream = TcpStream::connect(sealgate.addr()).await.expect("connect");
        match try_http1_exchange(&mut stream, "/healthz").await {
            Ok(answer) if !answer.is_empty() => {
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                held.push(stream);
            }
            refused => {
                assert!(
                    Instant::now() < deadline,
                    "no free slot for 10 s: {refused:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // The fifth is accepted and closed without an answer.
    let mut fifth = TcpStream::connect(sealgate.addr()).await.expect("connect");
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: sealgate\r\n\r\n")
        .await;
    let mut received = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), fifth.read(&mut buf)).await {
            Err(_) => panic!("a connection over the limit was left open"),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        received.is_empty(),
        "a connection over the limit was answered: {}",
        String::from_utf8_lossy(&received)
    );
    // The held ones are still served.
    let answer = http1_exchange(&mut held[0], "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Slots come back when connections end.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let scrape = sealgate_integration_tests::try_send(
            Method::GET,
            &format!("{}/metrics", sealgate.base_url()),
            &[],
            "",
        )
        .await;
        if let Ok(reply) = scrape {
            break reply
                .text()
                .lines()
                .find_map(|l| l.strip_prefix("sealgate_connections_refused_total "))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        assert!(Instant::now() < deadline, "no slot came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused >= 1.0, "refused = {refused}");
    sealgate
        .wait_for_log("connection limit reached", Duration::from_secs(5))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn r11_a_full_disk_answers_503_and_recovers_without_restart() {
    // Declared before sealgate, so it is unmounted after sealgate stopped.
    let disk = Tmpfs::mount("16m");
    let registry = Registry::start().await;
    let store = disk.path().join("store");
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .env("SEALGATE_STORAGE__PATH", &store.display().to_string())
        .start()
        .await;
    let base = sealgate.base_url();
    let name = "it/disk";
    oci::push_tiny_image(&base, name, "before", &unique_salt()).await;
    assert_eq!(readyz(&sealgate).await.status, StatusCode::OK);

    let filler = disk.fill();
    // Pushes until one is refused (sled's log may still take a write or two); every 201 is an
    // acknowledged pin that must survive.
    let mut acknowledged = vec!["before".to_owned()];
    let mut refused = None;
    for i in 0..20 {
        let tag = format!("full-{i}");
        let (_, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
        let reply = oci::put_manifest(&base, name, &tag, &manifest).await;
        match reply.status {
            StatusCode::CREATED => acknowledged.push(tag),
            _ => {
                refused = Some((tag, reply));
                break;
            }
        }
    }
    let (failed_tag, reply) = refused.expect("a push onto a full disk was acknowledged 20 times");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert_eq!(reply.oci_error_codes(), ["UNAVAILABLE"], "{}", reply.text());
    assert!(reply.header("retry-after").is_some());
    let text = reply.text();
    for internal in [
        store.display().to_string(),
        "os error".to_owned(),
        "sled".to_owned(),
    ] {
        assert!(!text.contains(&internal), "{internal} in {text}");
    }
    let unready = readyz(&sealgate).await;
    assert_eq!(
        unready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        unready.text()
    );
    assert!(metric(&sealgate, "sealgate_store_failures_total").await >= 1.0);
    // Closed, the store answers nothing: a pull of a pinned tag fails closed, never from a
    // store that lost a write.
    let pull = send(
        Method::GET,
        &format!("{base}/v2/{name}/manifests/before"),
        &MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        pull.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        pull.text()
    );

    std::fs::remove_file(filler).expect("free the disk");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = readyz(&sealgate).await;
        if ready.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz stayed {} after the disk was freed: {}",
            ready.status,
            ready.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The refused push left no pin: another image takes the tag.
    let other = oci::push_tiny_image(&base, name, &failed_tag, &unique_salt()).await;
    assert_eq!(oci::manifest_digest(&base, name, &failed_tag).await, other);
    // Every acknowledged pin is there: another image is refused under each.
    for tag in &acknowledged {
        let (_, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
        let reply = oci::put_manifest(&base, name, tag, &manifest).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{tag}: {}",
            reply.text()
        );
    }
    eprintln!(
        "disk full: {} push(es) acknowledged after filling, {failed_tag} refused 503; recovered",
        acknowledged.len() - 1
    );
}
