//! Certificates, CA bundles, CRLs and sigstore trusted roots: the first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_policies::pki::CaBundle;
use sealgate_policies::sigstore::SigstoreTrust;
use sealgate_policies::x509::CertificateInfo;

/// A self-signed CA (the fixtures' containers-image PKI root), for CRLs to be checked against.
const ROOT: &[u8] = include_bytes!(
    "../../policies/tests/fixtures/cosign-pki/containers-image-pki/pki_root_crts.pem"
);

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 4 {
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
        _ => {
            let _ = SigstoreTrust::from_json(input);
        }
    }
});
