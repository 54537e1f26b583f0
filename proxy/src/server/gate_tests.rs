//! The gates driven in process through [`service`], the whole router, over a [`MemStore`]: no
//! socket to sealgate and no registry. The upstream is a few fixed answers served on
//! `127.0.0.1:0`, which records what reached it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use sealgate_storage::{MemStore, PinKey, Store};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use super::*;
use crate::config::{Config, EnvSource};
use crate::upstream::Upstreams;

/// The cosign public key the scopes below require (nothing here is signed with it).
pub(super) const ALICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../policies/tests/fixtures/cosign-legacy/connaisseur-testimage/keys/alice.pub"
);

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// An image manifest no one signed, and its digest.
pub(super) fn unsigned_manifest() -> (Bytes, String) {
    let blob = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}}]}}"#,
        blob(1),
        blob(2)
    );
    let body = Bytes::from(body);
    let digest = digest_of(&body);
    (body, digest)
}

pub(super) fn digest_of(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// An upstream answering GET and HEAD of the scripted paths (200 with the manifest type) and a
/// PUT to one (201), `/v2/` with 200 and anything else with 404 `MANIFEST_UNKNOWN`; every
/// request is recorded as `METHOD path`.
pub(super) struct Upstream {
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub(super) async fn start(script: HashMap<String, Bytes>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script, log) = (Arc::new(script), Arc::clone(&seen));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                let answer = service_fn(move |req: Request<Incoming>| {
                    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
                    log.lock().unwrap().push(format!("{method} {path}"));
                    let found = script.get(&path).cloned();
                    async move {
                        let response = match (path.as_str(), found) {
                            ("/v2/", _) => Response::new(Full::new(Bytes::from_static(b"{}"))),
                            // A push of a scripted manifest is taken, as a registry would.
                            (_, Some(body)) if method == Method::PUT => Response::builder()
                                .status(StatusCode::CREATED)
                                .header("docker-content-digest", digest_of(&body))
                                .header("location", path.as_str())
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                            (_, Some(body)) => Response::builder()
                                .header("content-type", MANIFEST_TYPE)
                                .header("content-length", body.len())
                                .body(Full::new(if method == Method::HEAD {
                                    Bytes::new()
                                } else {
                                    body
                                }))
                                .unwrap(),
                            (_, None) => Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(
                                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#,
                                )))
                                .unwrap(),
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), answer)
                        .await;
                });
            }
        });
        Self { addr, seen, server }
    }

    pub(super) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// sealgate in front of `upstream` (named `local`) over a fresh [`MemStore`], with the default
/// scope in `mode`, requiring `alice`.
fn gate(upstream: &Upstream, mode: &str) -> (Arc<AppState>, Arc<MemStore>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealgate.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:5050\"\n[storage]\npath = \"unused\"\n[[upstream]]\nname = \
             \"local\"\nurl = \"http://{}\"\n[trust.keys.alice]\npath = \"{ALICE}\"\n\
             [policy.default]\nmode = \"{mode}\"\nsigners = [\"alice\"]\n",
            upstream.addr
        ),
    )
    .unwrap();
    let config = Config::load(&file, &EnvSource::Map(Default::default())).unwrap();
    let upstreams = Upstreams::new(&config.upstreams, config.timeouts).unwrap();
    let store = Arc::new(MemStore::new());
    let state = AppState::new(config, upstreams, Arc::clone(&store) as Arc<dyn Store>);
    (Arc::new(state), store)
}

/// Sends one request through [`service`] over an in-memory connection; the status, the
/// `Content-Type` and the body.
pub(super) async fn send(
    state: &Arc<AppState>,
    method: Method,
    path: &str,
    body: Bytes,
) -> (StatusCode, Option<String>, Bytes) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let service = TowerToHyperService::new(super::service(Arc::clone(state)));
    tokio::spawn(async move {
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(server), service)
            .await;
    });
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sealgate.test")
        .header("content-type", MANIFEST_TYPE)
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, body)
}

fn key(tag: &str) -> PinKey {
    PinKey {
        upstream: "local".to_owned(),
        repository: "team/app".parse().unwrap(),
        tag: tag.parse().unwrap(),
    }
}

/// The OCI error code of a refusal.
fn error_code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_unsigned_push_to_an_enforce_scope_is_refused_and_nothing_is_pinned() {
    let upstream = Upstream::start(HashMap::new()).await;
    let (state, store) = gate(&upstream, "enforce");
    let (manifest, digest) = unsigned_manifest();

    let (status, _, body) = send(&state, Method::PUT, "/v2/team/app/manifests/v1", manifest).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "DENIED");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("is not signed by the signers this repository requires (alice)"),
        "{text}"
    );
    assert_eq!(store.get_pin(&key("v1")).await.unwrap(), None);
    assert_eq!(store.all_pins().await.unwrap(), []);
    assert_eq!(store.pending(&key("v1")).await.unwrap(), None);
    // The refusal is audited; the upstream never got the manifest.
    let audit = store.audit(0, 10).await.unwrap();
    let last = audit.last().expect("the refusal is audited");
    assert_eq!(
        (last.event.action.as_str(), last.event.outcome.as_str()),
        ("push", "deny")
    );
    assert_eq!(last.event.digest.as_deref(), Some(digest.as_str()));
    let seen = upstream.seen();
    assert!(!seen.iter().any(|r| r.starts_with("PUT")), "{seen:?}");
}

/// The other side of the first test, so that its empty store means something: an audit scope
/// lets the same push through, and the tag is pinned to the digest pushed.
#[tokio::test]
async fn an_unsigned_push_to_an_audit_scope_is_forwarded_and_pinned() {
    let (manifest, digest) = unsigned_manifest();
    let upstream = Upstream::start(HashMap::from([(
        "/v2/team/app/manifests/v1".to_owned(),
        manifest.clone(),
    )]))
    .await;
    let (state, store) = gate(&upstream, "audit");

    let (status, _, _) = send(&state, Method::PUT, "/v2/team/app/manifests/v1", manifest).await;
    assert_eq!(status, StatusCode::CREATED);
    let pin = store.get_pin(&key("v1")).await.unwrap().expect("pinned");
    assert_eq!(pin.digest.as_str(), digest);
    assert_eq!(pin.signers, Vec::<String>::new());
    assert!(
        upstream
            .seen()
            .contains(&"PUT /v2/team/app/manifests/v1".to_owned()),
        "{:?}",
        upstream.seen()
    );
}

#[tokio::test]
async fn a_first_pull_of_an_unsigned_tag_in_an_enforce_scope_is_refused_and_not_pinned() {
    let (manifest, digest) = unsigned_manifest();
    let upstream = Upstream::start(HashMap::from([
        ("/v2/team/app/manifests/v1".to_owned(), manifest.clone()),
        (format!("/v2/team/app/manifests/{digest}"), manifest),
    ]))
    .await;
    let (state, store) = gate(&upstream, "enforce");

    let (status, _, body) = send(
        &state,
        Method::GET,
        "/v2/team/app/manifests/v1",
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "DENIED");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(&format!("team/app:v1 ({digest}) is not admitted")),
        "{text}"
    );
    assert_eq!(store.get_pin(&key("v1")).await.unwrap(), None);
}

#[tokio::test]
async fn a_first_pull_of_an_unsigned_tag_in_an_audit_scope_is_served_but_not_pinned() {
    let (manifest, digest) = unsigned_manifest();
    let upstream = Upstream::start(HashMap::from([
        ("/v2/team/app/manifests/v1".to_owned(), manifest.clone()),
        (format!("/v2/team/app/manifests/{digest}"), manifest.clone()),
    ]))
    .await;
    let (state, store) = gate(&upstream, "audit");

    let (status, content_type, body) = send(
        &state,
        Method::GET,
        "/v2/team/app/manifests/v1",
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(MANIFEST_TYPE));
    assert_eq!(body, manifest);
    // Only admitted content is pinned: the upstream's tag may still move.
    assert_eq!(store.get_pin(&key("v1")).await.unwrap(), None);
}

#[tokio::test]
async fn a_pull_of_a_tag_the_upstream_does_not_have_is_unknown_and_not_pinned() {
    let upstream = Upstream::start(HashMap::new()).await;
    let (state, store) = gate(&upstream, "enforce");

    let (status, _, body) = send(
        &state,
        Method::GET,
        "/v2/team/app/manifests/v9",
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "MANIFEST_UNKNOWN");
    assert_eq!(store.all_pins().await.unwrap(), []);
}
