//! What the router costs: `OciRequest::parse` on the request lines a registry proxy sees most
//! (a manifest by tag in containerd's mirror mode, a blob by digest, an upload chunk carrying
//! the upstream's opaque session state). hyper hands the handler a parsed `Uri`, so the bench
//! starts from one too.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Uri};
use sealgate::routes::{OciRequest, OciRoute};

/// A layer digest of the length every sha256 digest has.
const LAYER: &str = "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("OciRequest::parse");
    let manifest: Uri = "/v2/library/nginx/manifests/1.27.3-alpine?ns=docker.io"
        .parse()
        .expect("uri");
    let blob: Uri = format!("/v2/team/platform/api-gateway/blobs/{LAYER}")
        .parse()
        .expect("uri");
    // distribution's `Location` for an upload session: a UUID and `_state`, an HMAC-signed,
    // base64url-encoded JSON blob (about 150 bytes) the proxy must pass back untouched.
    let state = "k3f9QzJ1mX0bN2pV8sR4tW6yA7cE5gH1iL3oU9qZ2xD4vB6nM8lK0jF2hG4sA6dQ8wE0rT2yU4iO6p\
                 ZxCvBnMaSdFgHjKl1234567890_-QwErTyUiOpAsDfGhJkLzXcVbNm0987654321qazwsxedcrfvtgby";
    let patch: Uri = format!(
        "/v2/team/platform/api-gateway/blobs/uploads/1b4a7c5e-2a3f-4c2b-9a8c-0d9f5e6b7a8c\
         ?_state={state}%3D%3D"
    )
    .parse()
    .expect("uri");

    let cases = [
        ("GET manifest by tag, ?ns=", Method::GET, manifest),
        ("GET blob by digest", Method::GET, blob),
        (
            "PATCH upload with the upstream's _state",
            Method::PATCH,
            patch,
        ),
    ];
    for (name, method, uri) in &cases {
        // The lines are valid: what is measured is the success path, not an early refusal.
        let parsed = OciRequest::parse(method, uri).expect("parses");
        assert!(!matches!(parsed.route, OciRoute::Base | OciRoute::Catalog));
        group.bench_function(*name, |b| {
            b.iter(|| OciRequest::parse(black_box(method), black_box(uri)).expect("parses"))
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
