//! Certificates, CA bundles, CRLs and sigstore trusted roots: the first byte picks the parser.
//! The last arm configures the input as intermediates and checks a real leaf twice: the answer
//! must not change once the bundle has remembered its intermediates' signatures.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealgate_policies::pki::{CaBundle, EkuPolicy};
use sealgate_policies::sigstore::SigstoreTrust;
use sealgate_policies::time::UnixTime;
use sealgate_policies::x509::CertificateInfo;

/// The leaf of the same fixture, from its cosign certificate annotation.
const ANNOTATIONS: &[u8] = include_bytes!(
    "../../policies/tests/fixtures/cosign-pki/containers-image-pki/signature-1.annotations.json"
);

fn leaf() -> &'static CertificateInfo {
    static LEAF: OnceLock<CertificateInfo> = OnceLock::new();
    LEAF.get_or_init(|| {
        let annotations: serde_json::Value = serde_json::from_slice(ANNOTATIONS).expect("JSON");
        let pem = annotations["dev.sigstore.cosign/certificate"]
            .as_str()
            .expect("certificate annotation");
        CertificateInfo::from_pem(pem.as_bytes()).expect("fixture leaf")
    })
}

/// A self-signed CA (the fixtures' containers-image PKI root), for CRLs to be checked against.
const ROOT: &[u8] = include_bytes!(
    "../../policies/tests/fixtures/cosign-pki/containers-image-pki/pki_root_crts.pem"
);

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let _ = CertificateInfo::from_der_or_pem(input);
        }
        1 => {
            let _ = CaBundle::from_pem(input, None);
        }
        2 => {
            if let Ok(mut bundle) = CaBundle::from_pem(ROOT, None) {
                let _ = bundle.add_crl(input);
            }
        }
        3 => {
            let _ = SigstoreTrust::from_json(input);
        }
        _ => {
            if let Ok(bundle) = CaBundle::from_pem(ROOT, Some(input)) {
                let bundle = bundle.with_eku_policy(EkuPolicy::IfPresent);
                let at = UnixTime(1_795_756_528);
                let first = bundle.verify(leaf(), &[], at);
                assert_eq!(first, bundle.verify(leaf(), &[], at));
            }
        }
    }
});
