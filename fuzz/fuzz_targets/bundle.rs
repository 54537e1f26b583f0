//! sigstore bundles (v0.1-v0.3, message signature and DSSE) as read from a referrer layer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_policies::bundle::SigstoreBundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = SigstoreBundle::from_json(data) {
        let _ = format!("{bundle:?}");
    }
});
