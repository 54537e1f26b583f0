//! cosign signature manifests and layers: the manifest, its simple-signing payloads and the
//! signature/certificate/chain/bundle annotations. The input is split at the first NUL into a
//! manifest and one blob that every layer digest resolves to (checked against the digest, so
//! mostly refused: the layer path is reached through `from_layer` below as well).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use sealgate_policies::cosign::{
    CosignSignature, SIMPLE_SIGNING_MEDIA_TYPE, parse_signature_manifest,
};

fuzz_target!(|data: &[u8]| {
    let (manifest, blob) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let shared = bytes::Bytes::copy_from_slice(blob);
    let lookup = |_: &sealgate_policies::oci::Digest| Some(shared.clone());
    let _ = parse_signature_manifest(manifest, &lookup);
    // A layer: the manifest part as annotations (JSON map), the rest as the payload.
    if let Ok(annotations) = serde_json::from_slice::<BTreeMap<String, String>>(manifest) {
        if let Ok(signature) =
            CosignSignature::from_layer(SIMPLE_SIGNING_MEDIA_TYPE, blob.to_vec(), &annotations)
        {
            let _ = format!("{signature:?}");
        }
    }
});
