//! Request dispatch: health endpoints, the OCI route parser, then the upstream.
//!
//! Manifest PUTs, and DELETEs of manifests and blobs, go through the push gate
//! ([`crate::push`]); everything else is passed through: blob bodies stream, manifest bodies are
//! read with a cap.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use crate::body::{Direction, ProxyBody, Transfer, full, json_response, stream};
use crate::error::ProxyError;
use crate::pull::Pull;
use crate::push::Push;
use crate::routes::{OciRequest, OciRoute};
use crate::signatures::Source;
use crate::state::AppState;
use crate::upstream::Forward;

/// Handles one request; every error becomes an OCI error response here. Each request is
/// counted and timed (to its response head) by endpoint kind.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ProxyBody> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let mut route = crate::metrics::ROUTE_OTHER;
    let response = match dispatch(&state, req, &mut route).await {
        Ok(response) => response,
        Err(e) => {
            if e.is_store_failure() {
                state.metrics.store_failure();
                state.fleet.unconfirm();
            }
            e.into_response()
        }
    };
    state
        .metrics
        .request(route, &method, response.status(), started.elapsed());
    response
}

/// `route` is set to the request's endpoint kind as soon as it is known (for the metrics).
async fn dispatch(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    route: &mut &'static str,
) -> Result<Response<ProxyBody>, ProxyError> {
    match req.uri().path() {
        "/healthz" => {
            *route = crate::metrics::ROUTE_HEALTH;
            return Ok(healthz(req.method()));
        }
        "/readyz" => {
            *route = crate::metrics::ROUTE_HEALTH;
            return Ok(readyz(state, req.method()).await);
        }
        "/metrics" => {
            *route = crate::metrics::ROUTE_METRICS;
            return Ok(metrics(state, req.method()).await);
        }
        _ => {}
    }
    let mut oci = OciRequest::parse(req.method(), req.uri())?;
    *route = crate::metrics::route_label(&oci.route);
    let (mut parts, body) = req.into_parts();
    // Who asks, and whether they may: before anything reaches the gates or an upstream.
    let identity = crate::access::check(&state.access.load(), &mut parts, &mut oci)?;
    let upstream = state.upstreams.select(oci.ns.as_deref())?;
    let idle = state.config.timeouts.idle;
    let mut warning = None;
    let mut whole_blob = None;
    let transfer = |direction, expected| Transfer {
        direction,
        request_id: request_id(&parts.headers),
        expected,
        cuts: state.metrics.cuts().clone(),
    };
    let push_for = |name| Push {
        state,
        upstream,
        name,
        headers: &parts.headers,
        ns: oci.ns.as_deref(),
        identity: identity.as_deref(),
    };
    let pull_for = |name| Pull {
        state,
        upstream,
        name,
        headers: &parts.headers,
        method: &parts.method,
        identity: identity.as_deref(),
    };
    match &oci.route {
        OciRoute::PutManifest { name, reference } => {
            let manifest =
                read_manifest(body, &parts.headers, state.config.max_manifest_bytes, idle).await?;
            let push = push_for(name);
            return crate::push::put_manifest(&push, reference, manifest).await;
        }
        OciRoute::DeleteManifest { name, reference } => {
            let push = push_for(name);
            return crate::push::delete_manifest(&push, reference).await;
        }
        OciRoute::DeleteBlob { name, digest } => {
            let push = push_for(name);
            return crate::push::delete_blob(&push, digest).await;
        }
        OciRoute::GetManifest { name, reference } => {
            let pull = pull_for(name);
            return crate::pull::get_manifest(&pull, reference).await;
        }
        OciRoute::GetBlob { name, digest } => {
            let pull = pull_for(name);
            warning = crate::pull::check_blob(&pull, digest).await?;
            whole_blob = Some(digest);
        }
        OciRoute::ListReferrers { name, digest } => {
            let source = Source {
                state,
                upstream,
                name,
                authorization: parts.headers.get(header::AUTHORIZATION),
            };
            let artifact_type =
                crate::referrers::artifact_type_filter(oci.upstream_query.as_deref());
            return crate::referrers::list(&source, digest, artifact_type.as_deref()).await;
        }
        OciRoute::PatchUpload { name, id }
        | OciRoute::FinishUpload { name, id }
        | OciRoute::UploadStatus { name, id }
        | OciRoute::CancelUpload { name, id } => {
            let session = crate::uploads::SessionRequest {
                state,
                upstream,
                name,
                id,
                method: parts.method.clone(),
                path: parts.uri.path(),
                headers: &parts.headers,
                query: oci.upstream_query.as_deref(),
                ns: oci.ns.as_deref(),
            };
            let body = crate::body::watch(
                stream(body, idle),
                transfer(Direction::Upload, content_length(&parts.headers)),
            );
            return crate::uploads::handle(&session, body).await;
        }
        OciRoute::ListTags { name } => {
            if let Some(page) = crate::tags::PageRequest::from_query(oci.upstream_query.as_deref())
            {
                let list = crate::tags::ListTags {
                    state,
                    upstream,
                    name,
                    headers: &parts.headers,
                    ns: oci.ns.as_deref(),
                    query: oci.upstream_query.as_deref(),
                };
                return crate::tags::list(&list, &page).await;
            }
        }
        _ => {}
    }
    let body = crate::body::watch(
        stream(body, idle),
        transfer(Direction::Upload, content_length(&parts.headers)),
    );
    let method = parts.method.clone();
    let forward = Forward {
        method: parts.method.clone(),
        path: parts.uri.path(),
        query: oci.upstream_query.as_deref(),
        headers: &parts.headers,
        ns: oci.ns.as_deref(),
    };
    let response = state.upstreams.forward(upstream, forward, body).await?;
    let response = watch_download(response, &method, whole_blob, |expected| {
        transfer(Direction::Download, expected)
    })
    .map_err(|e| ProxyError::UpstreamBody {
        upstream: upstream.config.name.clone(),
        why: e.to_string(),
    })?;
    Ok(match warning {
        Some(message) => crate::warning::warning(response, &message),
        None => response,
    })
}

/// The request's `x-request-id` (set by the service stack when the client sent none).
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// A `Content-Length` header's value.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Watches a downloaded body to its end (see [`crate::body::watch`]); a whole blob
/// (`GET /v2/<name>/blobs/<digest>` answered 200) is checked against `blob`, its digest, as it
/// streams. A blob announced empty that is not the empty blob is refused before any byte goes
/// out (and counted as a cut).
fn watch_download(
    response: Response<ProxyBody>,
    method: &Method,
    blob: Option<&sealgate_policies::oci::Digest>,
    transfer: impl FnOnce(Option<u64>) -> Transfer,
) -> Result<Response<ProxyBody>, crate::body::DigestMismatch> {
    let streams = *method == Method::GET
        && matches!(
            response.status(),
            StatusCode::OK | StatusCode::PARTIAL_CONTENT
        );
    if !streams {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let transfer = transfer(content_length(&parts.headers));
    let body = match blob {
        Some(digest) if parts.status == StatusCode::OK => crate::body::verify_digest(body, digest)
            .inspect_err(|_| {
                transfer
                    .cuts
                    .cut(Direction::Download, crate::body::CutReason::DigestMismatch);
            })?,
        _ => body,
    };
    Ok(Response::from_parts(
        parts,
        crate::body::watch(body, transfer),
    ))
}

/// Reads a manifest body into memory, refusing it before reading when `Content-Length` already
/// says it is too large, and as soon as the cap is passed otherwise (chunked bodies).
async fn read_manifest(
    body: Incoming,
    headers: &HeaderMap,
    cap: usize,
    idle: std::time::Duration,
) -> Result<Bytes, ProxyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(ProxyError::ManifestTooLarge { limit: cap });
    }
    let mut body = stream(body, idle);
    let mut manifest = BytesMut::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ProxyError::ClientBody)?;
        if let Ok(data) = frame.into_data() {
            if manifest.len() + data.len() > cap {
                return Err(ProxyError::ManifestTooLarge { limit: cap });
            }
            manifest.extend_from_slice(&data);
        }
    }
    Ok(manifest.freeze())
}

fn healthz(method: &Method) -> Response<ProxyBody> {
    if *method != Method::GET && *method != Method::HEAD {
        return ProxyError::MethodNotAllowed {
            endpoint: "/healthz",
        }
        .into_response();
    }
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// Ready when the store reads and writes (a small write is flushed) and every upstream answers
/// `GET /v2/`.
async fn readyz(state: &AppState, method: &Method) -> Response<ProxyBody> {
    if *method != Method::GET && *method != Method::HEAD {
        return ProxyError::MethodNotAllowed {
            endpoint: "/readyz",
        }
        .into_response();
    }
    // A write-and-flush probe (see `Store::health`): a store failure closes readiness until a
    // write succeeds again.
    let store = match state.store.health().await {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let mut ready = store == "ok";
    let checks = state
        .upstreams
        .all()
        .iter()
        .map(|u| async move { (u.config.name.clone(), state.upstreams.is_ready(u).await) });
    let mut upstreams = serde_json::Map::new();
    for (name, result) in futures_util::future::join_all(checks).await {
        ready &= result.is_ok();
        let answer = result.map_or_else(|why| why.to_string(), |()| "ok".to_owned());
        upstreams.insert(name, json!(answer));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        &json!({"status": if ready { "ready" } else { "not ready" }, "store": store, "upstreams": upstreams}),
    )
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(state: &Arc<AppState>, method: &Method) -> Response<ProxyBody> {
    if *method != Method::GET && *method != Method::HEAD {
        return ProxyError::MethodNotAllowed {
            endpoint: "/metrics",
        }
        .into_response();
    }
    let body = if *method == Method::HEAD {
        crate::body::empty()
    } else {
        full(crate::scrape::render(state).await)
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}
