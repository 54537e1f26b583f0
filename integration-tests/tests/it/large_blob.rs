//! A blob far larger than any sensible buffer goes up and comes back through sealgate intact, and
//! sealgate's memory does not grow with it: bodies must stream, never be collected.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::{
    GeneratedBody, empty_body, oci, read_body_hashed, registry_behind_sealgate, send,
    send_streaming,
};

const BLOB_BYTES: u64 = 256 * 1024 * 1024;
/// Peak-RSS growth allowed over the whole round trip: a fraction of the blob, room for buffers.
const MAX_PEAK_GROWTH_KIB: u64 = 64 * 1024;
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread")]
async fn blob_of_256_mib_streams_both_ways_with_bounded_memory() {
    let (_registry, sealgate) = registry_behind_sealgate(&[]).await;
    let base = sealgate.base_url();
    let name = "it/large";
    // A seed from the clock: the registry must never have seen this content before.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let body = GeneratedBody::new(seed, BLOB_BYTES);

    // Warm up the listener and the upstream pool so the baseline includes their fixed cost.
    let warm = send(Method::GET, &format!("{base}/v2/"), &[], Bytes::new()).await;
    assert_eq!(warm.status, StatusCode::OK, "{}", warm.text());
    let peak_before = sealgate.peak_rss_kib();
    let rss_before = sealgate.rss_kib();

    let round_trip = async {
        let started = Instant::now();
        let digest = oci::push_generated_blob(&base, name, body).await;
        let upload = started.elapsed();

        let started = Instant::now();
        let response = send_streaming(
            Method::GET,
            &format!("{base}/v2/{name}/blobs/{digest}"),
            &[],
            empty_body(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()),
            Some(BLOB_BYTES.to_string().as_str())
        );
        let (downloaded, length) = read_body_hashed(response.into_body())
            .await
            .expect("download through sealgate");
        (digest, downloaded, length, upload, started.elapsed())
    };
    let (digest, downloaded, length, upload, download) =
        tokio::time::timeout(ROUND_TRIP_TIMEOUT, round_trip)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "256 MiB round trip took over {ROUND_TRIP_TIMEOUT:?}; sealgate log:\n{}",
                    sealgate.stderr_log()
                )
            });
    assert_eq!(length, BLOB_BYTES, "downloaded length");
    assert_eq!(
        downloaded, digest,
        "downloaded content differs from the upload"
    );

    let peak_after = sealgate.peak_rss_kib();
    let growth = peak_after.saturating_sub(peak_before);
    let mib_per_s = |d: Duration| (BLOB_BYTES as f64 / 1048576.0) / d.as_secs_f64();
    eprintln!(
        "256 MiB through sealgate: upload {upload:.2?} ({:.0} MiB/s), download {download:.2?} ({:.0} MiB/s); \
         sealgate VmHWM {peak_before} KiB -> {peak_after} KiB (growth {growth} KiB), VmRSS before {rss_before} KiB, after {} KiB",
        mib_per_s(upload),
        mib_per_s(download),
        sealgate.rss_kib(),
    );
    assert!(
        growth < MAX_PEAK_GROWTH_KIB,
        "sealgate's peak RSS grew by {growth} KiB moving a 256 MiB blob (limit {MAX_PEAK_GROWTH_KIB} KiB): \
         a body is being buffered"
    );
}
