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

#[tokio::test]
async fn a_store_failure_on_the_admin_api_is_unavailable_and_says_nothing_internal() {
    let error = ProxyError::Store(sealgate_storage::StorageError::Unavailable {
        path: "/var/lib/sealgate/store".into(),
        reason: "store I/O failed: No space left on device (os error 28)".to_owned(),
    });
    let response = error.into_admin_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], DEFAULT_RETRY_AFTER);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("retry later"), "{message}");
    for internal in ["/var/lib", "os error", "No space"] {
        assert!(!message.contains(internal), "{internal} in {message}");
    }
}

#[tokio::test]
async fn an_internal_error_on_the_admin_api_keeps_its_text_in_the_log() {
    let corrupt = ProxyError::Store(sealgate_storage::StorageError::Corrupt {
        tree: "pins",
        what: "bad record at key 0x42".to_owned(),
    });
    let panicked = tokio::task::spawn_blocking(|| panic!("secret panic text"))
        .await
        .unwrap_err();
    for (error, internal) in [
        (corrupt, "0x42"),
        (ProxyError::Task(panicked), "secret panic text"),
    ] {
        let response = error.into_admin_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = body_text(response).await;
        assert_eq!(
            body,
            r#"{"error":"internal error; the request was not completed (see sealgate's log)"}"#
        );
        assert!(!body.contains(internal), "{body}");
    }
}

#[tokio::test]
async fn admin_client_mistakes_keep_their_status_and_message() {
    let key = sealgate_storage::PinKey {
        upstream: "hub".to_owned(),
        repository: "prod/app".parse().unwrap(),
        tag: "v1".parse().unwrap(),
    };
    let cases: [(AdminError, StatusCode, &str); 5] = [
        (
            AdminError::NotPinned(key),
            StatusCode::NOT_FOUND,
            "prod/app:v1 is not pinned (upstream hub)",
        ),
        (
            AdminError::NoEndpoint {
                method: http::Method::GET,
                path: "/admin/v1/nope".to_owned(),
            },
            StatusCode::NOT_FOUND,
            "no admin endpoint GET /admin/v1/nope",
        ),
        (
            AdminError::Key("abc".to_owned()),
            StatusCode::BAD_REQUEST,
            "key: \"abc\" is not a fingerprint (sha256:<64 hex>, as `sealgate verify` prints it)",
        ),
        (
            AdminError::NoConfigFile,
            StatusCode::CONFLICT,
            "sealgate was not started from a configuration file",
        ),
        (
            AdminError::ReloadRefused("bad file".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing changed: bad file",
        ),
    ];
    for (error, status, message) in cases {
        let response = ProxyError::from(error).into_admin_response();
        assert_eq!(response.status(), status);
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body, serde_json::json!({ "error": message }));
    }
}

#[tokio::test]
async fn a_wrong_method_on_sealgates_own_endpoints_is_405_unsupported() {
    let response = ProxyError::MethodNotAllowed {
        endpoint: "/healthz",
    }
    .into_response();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        body_text(response).await,
        r#"{"errors":[{"code":"UNSUPPORTED","message":"use GET /healthz","detail":null}]}"#
    );
}

#[test]
fn a_malformed_content_range_reads_as_before() {
    let error = ProxyError::from(crate::content_range::ContentRangeError::Malformed(
        "5-1".to_owned(),
    ));
    assert_eq!(
        error.classify(),
        (StatusCode::BAD_REQUEST, OciErrorCode::BlobUploadInvalid)
    );
    assert_eq!(
        error.to_string(),
        "Content-Range \"5-1\" is not <first byte>-<last byte> (inclusive, first <= last)"
    );
}

#[tokio::test]
async fn the_admin_api_without_a_credential_is_challenged_for_a_bearer_token() {
    let response = ProxyError::from(AdminError::NoCredential).into_admin_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"sealgate-admin\""
    );
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(
        body["error"],
        "the admin API needs a credential: Authorization: Bearer <admin token>, or a client \
         certificate from admin.client_ca"
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
