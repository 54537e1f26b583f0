//! What a hot pull costs in memory lookups: a cached verdict and a cached manifest, as the pull
//! gate asks for them on every request (the lookups go through the same async entry point the
//! gate uses; with the verdict cached, its future is ready on the first poll).

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use sealgate::cache::{CachedManifest, ManifestCache, ManifestKey, VerdictCache, VerdictKey};
use sealgate_policies::config::Mode;
use sealgate_policies::oci::Digest;
use sealgate_policies::verdict::{Decision, DenyReason, Verdict};

fn digest(n: u32) -> Digest {
    format!("sha256:{n:064x}").parse().expect("digest")
}

fn verdict_key(n: u32) -> VerdictKey {
    VerdictKey {
        upstream: "hub".into(),
        repository: "library/nginx".parse().expect("name"),
        digest: digest(n),
        tag: Some("1.27".parse().expect("tag")),
        generation: 7,
    }
}

fn verdict() -> Verdict {
    Verdict {
        scope: "default".into(),
        mode: Mode::Enforce,
        decision: Decision::Deny(DenyReason::Unsigned),
        satisfied: vec![],
        failures: vec![],
        generation: 7,
    }
}

/// Polls a future that must complete without waiting.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cached lookup must not wait"),
    }
}

fn cached_verdict(c: &mut Criterion) {
    let cache = VerdictCache::new(Duration::from_secs(3600), 200_000);
    // 100,000 verdicts held, as a busy mirror would.
    for n in 0..100_000 {
        ready(cache.get_or_compute(&verdict_key(n), || async { Ok::<_, ()>(verdict()) }))
            .expect("computed");
    }
    let hot = verdict_key(4242);
    c.bench_function("cached verdict lookup (100k held)", |b| {
        b.iter(|| {
            let got =
                ready(cache.get_or_compute(black_box(&hot), || async { Err::<Verdict, ()>(()) }))
                    .expect("cached");
            black_box(got.verdict.generation)
        })
    });
}

fn cached_manifest(c: &mut Criterion) {
    let cache = ManifestCache::new(64 * 1024 * 1024);
    let key = |n: u32| ManifestKey {
        upstream: "hub".into(),
        repository: "library/nginx".parse().expect("name"),
        digest: digest(n),
        credential: None,
    };
    for n in 0..10_000 {
        cache.insert(
            key(n),
            CachedManifest {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                body: Bytes::from(vec![b'{'; 1500]),
            },
        );
    }
    let hot = key(4242);
    c.bench_function("cached manifest lookup (10k held)", |b| {
        b.iter(|| {
            let got: Arc<CachedManifest> = cache.get(black_box(&hot)).expect("cached");
            black_box(got.body.len())
        })
    });
}

criterion_group!(benches, cached_verdict, cached_manifest);
criterion_main!(benches);
