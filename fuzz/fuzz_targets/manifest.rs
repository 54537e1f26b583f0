//! Manifest and index parsing, including the check that Go's encoding/json (containerd, skopeo,
//! distribution) would read the same bytes the same way: nothing panics, and what is accepted
//! reads back with the same shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::manifest::{ManifestShape, agreement};

fuzz_target!(|data: &[u8]| {
    let agreed = agreement::check(data).is_ok();
    let Ok(shape) = ManifestShape::parse(data) else {
        return;
    };
    // Nothing is parsed that the agreement check refused.
    assert!(agreed);
    let _ = shape.is_signature();
    let _ = shape.has_verifiable_signatures();
    let _ = shape.blobs();
    let _ = shape.children();
    let _ = shape.content_type();
    // (Not asserted: that serde_json::Value reads it too. A number out of f64's range in a field
    // neither parser binds, e.g. `"e":[9…9e9…9]`, is skipped by both the manifest parser and Go,
    // but refused by Value: the fuzzer found it; it is a seed now.)
});
