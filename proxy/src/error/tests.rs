use http_body_util::BodyExt as _;

use super::*;

async fn body_text(response: Response<ProxyBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn only_delta_seconds_within_bounds_are_passed_on() {
    let value = |s: &'static str| HeaderValue::from_static(s);
    assert_eq!(usable_retry_after(Some(&value("120"))), Some(120));
    assert_eq!(usable_retry_after(Some(&value(" 0 "))), Some(0));
    assert_eq!(usable_retry_after(Some(&value("3600"))), Some(3600));
    assert_eq!(usable_retry_after(Some(&value("3601"))), None);
    assert_eq!(usable_retry_after(Some(&value("99999999999999"))), None);
    assert_eq!(usable_retry_after(Some(&value("-1"))), None);
    assert_eq!(
        usable_retry_after(Some(&value("Wed, 21 Oct 2015 07:28:00 GMT"))),
        None
    );
    assert_eq!(usable_retry_after(Some(&value(""))), None);
    assert_eq!(usable_retry_after(None), None);
}

#[tokio::test]
async fn r11_an_upstream_server_error_is_a_bad_gateway_naming_it() {
    for upstream_status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::GATEWAY_TIMEOUT,
        StatusCode::NOT_IMPLEMENTED,
    ] {
        let error = ProxyError::UpstreamStatus {
            upstream: "hub".to_owned(),
            status: upstream_status,
            retry_after: None,
        };
        assert_eq!(
            error.classify(),
            (StatusCode::BAD_GATEWAY, OciErrorCode::Unavailable)
        );
        let response = error.response();
        assert_eq!(response.headers()[header::RETRY_AFTER], DEFAULT_RETRY_AFTER);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_text(response).await;
        assert!(body.contains("\"UNAVAILABLE\""), "{body}");
        assert!(body.contains("upstream hub"), "{body}");
        assert!(
            body.contains(&upstream_status.as_u16().to_string()),
            "{body}"
        );
    }
}

#[test]
fn r11_an_upstream_503_is_502_with_its_retry_after() {
    let error = ProxyError::UpstreamStatus {
        upstream: "hub".to_owned(),
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: Some(42),
    };
    let response = error.response();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()[header::RETRY_AFTER], "42");
}

#[tokio::test]
async fn r11_a_store_that_cannot_write_is_unavailable_and_says_nothing_internal() {
    let error = ProxyError::Store(sealgate_storage::StorageError::Unavailable {
        path: "/var/lib/sealgate/store".into(),
        reason: "store I/O failed: No space left on device (os error 28)".to_owned(),
    });
    assert_eq!(
        error.classify(),
        (StatusCode::SERVICE_UNAVAILABLE, OciErrorCode::Unavailable)
    );
    let response = error.into_response();
    assert_eq!(response.headers()[header::RETRY_AFTER], DEFAULT_RETRY_AFTER);
    let body = body_text(response).await;
    assert!(body.contains("\"UNAVAILABLE\""), "{body}");
    for internal in ["/var/lib", "os error", "No space"] {
        assert!(!body.contains(internal), "{internal} in {body}");
    }
}

#[test]
fn a_corrupt_store_stays_an_internal_error() {
    let error = ProxyError::Store(sealgate_storage::StorageError::Corrupt {
        tree: "pins",
        what: "bad record".to_owned(),
    });
    assert_eq!(
        error.classify(),
        (StatusCode::INTERNAL_SERVER_ERROR, OciErrorCode::Unsupported)
    );
}

#[test]
fn error_codes_keep_their_wire_spelling() {
    let wire = |code: OciErrorCode| serde_json::to_value(code).unwrap();
    for (code, text) in [
        (OciErrorCode::Denied, "DENIED"),
        (OciErrorCode::Unsupported, "UNSUPPORTED"),
        (OciErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN"),
        (OciErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID"),
        (
            OciErrorCode::Spec(ErrorCode::ManifestBlobUnknown),
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            OciErrorCode::Spec(ErrorCode::TooManyRequests),
            "TOOMANYREQUESTS",
        ),
        (OciErrorCode::TagInvalid, "TAG_INVALID"),
        (OciErrorCode::Unavailable, "UNAVAILABLE"),
        (OciErrorCode::NotFound, "NOT_FOUND"),
    ] {
        assert_eq!(wire(code), text);
    }
}
