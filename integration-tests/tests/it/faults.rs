//! Upstream trouble: a registry that goes away and comes back, and one that never answers. sealgate
//! must fail fast with an OCI error, report itself unready, and recover without a restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::{
    MANIFEST_ACCEPT, RecordingUpstream, Reply, Sealgate, UpstreamBehaviour, oci,
    registry_behind_sealgate, send, unique_salt,
};

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
