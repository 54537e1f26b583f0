//! SIGTERM drains: a download in flight when the signal arrives still completes, whole and
//! correct, and the process then exits 0.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use sealgate_integration_tests::{
    GeneratedBody, Registry, Sealgate, empty_body, oci, send_streaming,
};
use sha2::{Digest as _, Sha256};

/// Far more than socket buffers hold, so the transfer is still running when SIGTERM arrives.
const BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// The reader pauses this long after every `PAUSE_EVERY` bytes: a slow client.
const PAUSE: Duration = Duration::from_millis(100);
const PAUSE_EVERY: u64 = 4 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_download_finish_then_exits_zero() {
    let registry = Registry::start().await;
    let mut sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .shutdown_grace(Duration::from_secs(30))
        .start()
        .await;
    let name = "it/drain";
    // Straight into the registry: only the download is under test here.
    let digest = oci::push_generated_blob(
        &registry.url(),
        name,
        GeneratedBody::new(0x5eed, BLOB_BYTES),
    )
    .await;

    let response = send_streaming(
        Method::GET,
        &format!("{}/v2/{name}/blobs/{digest}", sealgate.base_url()),
        &[],
        empty_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut next_pause = PAUSE_EVERY;
    let mut signalled_at = None;
    let started = Instant::now();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(30), body.frame())
        .await
        .expect("the download stalled")
    {
        let frame = frame.unwrap_or_else(|e| {
            panic!(
                "download broke after {received} bytes (SIGTERM {}): {e}\n--- sealgate log\n{}",
                if signalled_at.is_some() {
                    "sent"
                } else {
                    "not yet sent"
                },
                sealgate.stderr_log()
            )
        });
        let Ok(data) = frame.into_data() else {
            continue;
        };
        hasher.update(&data);
        received += data.len() as u64;
        if signalled_at.is_none() {
            sealgate.terminate();
            signalled_at = Some(Instant::now());
        }
        if received >= next_pause {
            tokio::time::sleep(PAUSE).await;
            next_pause += PAUSE_EVERY;
        }
    }
    let drained = signalled_at.expect("at least one frame arrived").elapsed();
    eprintln!(
        "download of {received} bytes finished {drained:.2?} after SIGTERM (total {:.2?})",
        started.elapsed()
    );
    assert_eq!(received, BLOB_BYTES, "the in-flight download was cut short");
    assert_eq!(format!("sha256:{}", hex::encode(hasher.finalize())), digest);
    assert!(
        drained > Duration::from_secs(1),
        "the download outlived SIGTERM by only {drained:?}: the test did not exercise draining"
    );

    let status = sealgate
        .wait_exit(Duration::from_secs(35))
        .await
        .unwrap_or_else(|| {
            panic!(
                "sealgate still runs after draining; log:\n{}",
                sealgate.stderr_log()
            )
        });
    assert!(
        status.success(),
        "sealgate exited with {status}; log:\n{}",
        sealgate.stderr_log()
    );
}
