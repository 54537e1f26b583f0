//! Several replicas on one store, in process: each replica is an [`AppState`] of its own over
//! the same store (a [`MemStore`], or a real PostgreSQL for the store failing under a pull),
//! driven through [`service`]. The fleet watcher is called by hand ([`fleet::apply_if_moved`])
//! where the order of events matters, and run as the task it is where its delay does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_storage::testing::PgServer;
use sealgate_storage::{AuditEvent, MemStore, PinKey, RevokedSigner, Store, StoredRevocation};

use super::gate_tests::{ALICE, Upstream, digest_of, send, unsigned_manifest};
use super::*;
use crate::config::{Config, EnvSource};
use crate::fleet;
use crate::upstream::Upstreams;

/// A replica in front of `upstream` (named `local`) over `store`, with the default scope in
/// `mode` requiring `alice`; `extra` is appended to the configuration.
fn replica(upstream: &Upstream, store: Arc<dyn Store>, mode: &str, extra: &str) -> Arc<AppState> {
    let config = config(upstream, mode, "[storage]\npath = \"unused\"\n", extra);
    let upstreams = Upstreams::new(&config.upstreams, config.timeouts).unwrap();
    Arc::new(AppState::new(config, upstreams, store))
}

fn config(upstream: &Upstream, mode: &str, storage: &str, extra: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealgate.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:5050\"\n{storage}[[upstream]]\nname = \"local\"\nurl = \
             \"http://{}\"\n[trust.keys.alice]\npath = \"{ALICE}\"\n[policy.default]\nmode = \
             \"{mode}\"\nsigners = [\"alice\"]\n{extra}",
            upstream.addr
        ),
    )
    .unwrap();
    Config::load(&file, &EnvSource::Map(Default::default())).unwrap()
}

fn key(repository: &str, tag: &str) -> PinKey {
    PinKey {
        upstream: "local".to_owned(),
        repository: repository.parse().unwrap(),
        tag: tag.parse().unwrap(),
    }
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        at: 1,
        action: action.to_owned(),
        outcome: action.to_owned(),
        upstream: String::new(),
        repository: String::new(),
        reference: String::new(),
        digest: None,
        reason: "a test".to_owned(),
        identity: None,
        signers: vec![],
        request_id: None,
    }
}

fn revocation(serial: &str) -> StoredRevocation {
    StoredRevocation {
        signer: RevokedSigner::Cert {
            issuer: "CN=test".to_owned(),
            serial: serial.to_owned(),
        },
        reason: "a test".to_owned(),
        at: 1,
        by: Some("replica a".to_owned()),
    }
}

fn tag_pulls(upstream: &Upstream, path: &str) -> usize {
    let line = format!("GET {path}");
    upstream.seen().iter().filter(|s| **s == line).count()
}

#[tokio::test]
async fn a_hot_pinned_tag_is_read_from_the_store_once_and_again_after_the_fleet_moves() {
    let (manifest, digest) = unsigned_manifest();
    let by_tag = "/v2/team/app/manifests/v1";
    let upstream = Upstream::start(HashMap::from([
        (by_tag.to_owned(), manifest.clone()),
        (format!("/v2/team/app/manifests/{digest}"), manifest.clone()),
    ]))
    .await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let a = replica(&upstream, Arc::clone(&store), "audit", "");

    let (status, _, _) = send(&a, Method::PUT, by_tag, manifest.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    // Cached pins are used only while the watcher reads the generation (here: by hand).
    assert!(!fleet::apply_if_moved(&a).await);
    for _ in 0..3 {
        let (status, _, body) = send(&a, Method::GET, by_tag, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, manifest);
    }
    // Read once, then from the cache. A pinned tag is resolved in the upstream only by the
    // drift check (once per `pull.drift_check_interval`).
    assert_eq!(a.pull.pins.stats(), (2, 1));
    let drift_checks = tag_pulls(&upstream, by_tag);
    assert!(drift_checks <= 1, "{:?}", upstream.seen());

    // Another replica retires the pin: this one goes on serving what it read (the store is not
    // asked) until the fleet's generation moves, then reads it again.
    let k = key("team/app", "v1");
    store.retire_pin(&k, event("retire-pin")).await.unwrap();
    assert!(!fleet::apply_if_moved(&a).await, "nobody announced it");
    let (status, _, _) = send(&a, Method::GET, by_tag, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tag_pulls(&upstream, by_tag),
        drift_checks,
        "served from the cached pin"
    );
    store
        .bump_generation(event("fleet-pin-change"))
        .await
        .unwrap();
    assert!(fleet::apply_if_moved(&a).await);
    assert!(a.pull.pins.is_empty());
    let (status, _, _) = send(&a, Method::GET, by_tag, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tag_pulls(&upstream, by_tag),
        drift_checks + 1,
        "no pin any more: a first pull"
    );
    // An absent pin is not cached.
    assert!(a.pull.pins.is_empty());
    assert_eq!(digest, digest_of(&manifest));
}

#[tokio::test]
async fn a_cached_pin_is_not_used_unless_the_generation_was_read_within_a_second() {
    let (manifest, digest) = unsigned_manifest();
    let by_tag = "/v2/team/app/manifests/v1";
    let upstream = Upstream::start(HashMap::from([
        (by_tag.to_owned(), manifest.clone()),
        (format!("/v2/team/app/manifests/{digest}"), manifest.clone()),
    ]))
    .await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let a = replica(&upstream, Arc::clone(&store), "audit", "");
    let (status, _, _) = send(&a, Method::PUT, by_tag, manifest.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!a.fleet.in_sync(), "never read");
    for _ in 0..2 {
        let (status, _, _) = send(&a, Method::GET, by_tag, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(a.pull.pins.stats(), (0, 0), "the store was read each time");
    fleet::apply_if_moved(&a).await;
    assert!(a.fleet.in_sync());
    tokio::time::sleep(crate::state::IN_SYNC_WITHIN + Duration::from_millis(50)).await;
    assert!(!a.fleet.in_sync(), "a watcher that stopped answering");
}

#[tokio::test]
async fn a_pin_retired_through_one_replica_is_read_again_by_the_others() {
    let (manifest, digest) = unsigned_manifest();
    let by_tag = "/v2/team/app/manifests/v1";
    let upstream = Upstream::start(HashMap::from([
        (by_tag.to_owned(), manifest.clone()),
        (format!("/v2/team/app/manifests/{digest}"), manifest.clone()),
    ]))
    .await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let a = replica(&upstream, Arc::clone(&store), "audit", "");
    let b = replica(&upstream, Arc::clone(&store), "audit", "");
    let (status, _, _) = send(&a, Method::PUT, by_tag, manifest.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = send(&b, Method::GET, by_tag, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b.pull.pins.len(), 1);

    // What the admin API's retire-pin and a delete do after the store's write.
    let k = key("team/app", "v1");
    store.retire_pin(&k, event("retire-pin")).await.unwrap();
    fleet::pins_changed(&a, &k, fleet::pins_changed_event(&k, "retired", None)).await;
    assert!(!fleet::apply_if_moved(&a).await, "a made the change");
    assert!(fleet::apply_if_moved(&b).await);
    assert!(b.pull.pins.is_empty());
}

#[tokio::test]
async fn a_revocation_and_a_reload_on_one_replica_are_applied_by_the_others_once() {
    let upstream = Upstream::start(HashMap::new()).await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let a = replica(&upstream, Arc::clone(&store), "enforce", "");
    let b = replica(&upstream, Arc::clone(&store), "enforce", "");
    assert!(!fleet::apply_if_moved(&b).await, "nothing changed yet");

    // Recorded by replica a's admin API (which applies it to a at once).
    store
        .record_revocation(revocation("01"), event("revoke"))
        .await
        .unwrap();
    let before = b.policy().generation();
    assert!(b.policy().revocations().cert("CN=test", "01").is_none());
    assert!(fleet::apply_if_moved(&b).await);
    assert_eq!(b.policy().generation(), before + 1);
    assert!(b.policy().revocations().cert("CN=test", "01").is_some());
    assert!(!fleet::apply_if_moved(&b).await, "applied once");

    // A reload asked of a is announced; a does not apply it again, b does, and b's reload
    // announces nothing (no ping-pong).
    fleet::apply_if_moved(&a).await;
    let generation = store.fleet_generation().await.unwrap();
    crate::reload::announce(&a, None, "a test").await;
    assert_eq!(store.fleet_generation().await.unwrap(), generation + 1);
    assert!(!fleet::apply_if_moved(&a).await);
    assert!(fleet::apply_if_moved(&b).await);
    assert!(!fleet::apply_if_moved(&a).await);
    assert_eq!(store.fleet_generation().await.unwrap(), generation + 1);
}

#[tokio::test]
async fn the_watcher_applies_a_revocation_made_elsewhere_within_a_second() {
    let upstream = Upstream::start(HashMap::new()).await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let b = replica(&upstream, Arc::clone(&store), "enforce", "");
    let watcher = tokio::spawn(fleet::watch(Arc::clone(&b)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = b.policy().generation();
    let start = Instant::now();
    store
        .record_revocation(revocation("02"), event("revoke"))
        .await
        .unwrap();
    while b.policy().generation() == before {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not applied in 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(b.policy().revocations().cert("CN=test", "02").is_some());
    watcher.abort();
}

#[tokio::test]
async fn replicas_register_and_the_one_with_other_digests_is_flagged() {
    let upstream = Upstream::start(HashMap::new()).await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let a = replica(&upstream, Arc::clone(&store), "enforce", "");
    let b = replica(&upstream, Arc::clone(&store), "enforce", "");
    let c = replica(&upstream, Arc::clone(&store), "audit", "");
    let tasks: Vec<_> = [("a", &a), ("b", &b), ("c", &c)]
        .into_iter()
        .map(|(id, s)| tokio::spawn(fleet::heartbeat(Arc::clone(s), id.to_owned())))
        .collect();
    let start = Instant::now();
    while store.replicas().await.unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let view = fleet::fleet_view(
        store.replicas().await.unwrap(),
        crate::clock::now().as_secs(),
    );
    let drifted: Vec<&str> = view
        .iter()
        .filter(|r| r.drifted)
        .map(|r| r.info.id.as_str())
        .collect();
    assert_eq!(drifted, ["c"], "c runs another policy");
    assert!(
        view.iter()
            .all(|r| r.live && r.info.version == env!("CARGO_PKG_VERSION"))
    );
    let metrics = crate::scrape::render(&a).await;
    assert!(
        metrics.contains("\nsealgate_fleet_replicas 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nsealgate_fleet_drifted_replicas 1\n"),
        "{metrics}"
    );
    for task in tasks {
        task.abort();
    }
}

/// The cosign-signed test image (signed by alice) and its signature, as an upstream serves
/// them under `securesystemsengineering/testimage` (the repository the signature names).
fn signed_image() -> (HashMap<String, Bytes>, Bytes) {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/tests/fixtures/cosign-legacy/connaisseur-testimage"
    );
    let read = |path: &str| Bytes::from(std::fs::read(format!("{fixtures}/{path}")).unwrap());
    let image = read("manifests/multi-cosigned-alice.json");
    let image_digest = digest_of(&image);
    let sig_tag = image_digest.replace(':', "-") + ".sig";
    let payload = "sha256:d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4";
    let repo = "/v2/securesystemsengineering/testimage";
    let script = HashMap::from([
        (format!("{repo}/manifests/v1"), image.clone()),
        (format!("{repo}/manifests/{image_digest}"), image.clone()),
        (
            format!("{repo}/manifests/{sig_tag}"),
            read(&format!("manifests/{sig_tag}.json")),
        ),
        (
            format!("{repo}/blobs/{payload}"),
            read(&format!("blobs/sha256/{}", &payload[7..])),
        ),
    ]);
    (script, image)
}

/// Two replicas on one PostgreSQL database, pins read from it on every pull (`verdict_ttl`
/// zero); the database stops: the replica with `stale_reads` serves the pinned tag it
/// admitted, the other fails closed; both serve again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_stale_reads_serve_the_last_admitted_pin_and_only_then() {
    let pg = tokio::task::spawn_blocking(PgServer::start)
        .await
        .unwrap()
        .expect("PostgreSQL (Debian's postgresql package) starts");
    let options = pg.migrated_database().await.unwrap();
    let (script, image) = signed_image();
    let upstream = Upstream::start(script).await;
    let storage = |stale: &str| {
        format!(
            "[storage]\nbackend = \"postgres\"\nurl = \"{}\"\nsslmode = \"disable\"\n\
             connect_timeout = \"1s\"\nstatement_timeout = \"2s\"\n{stale}",
            options.url
        )
    };
    let pull = "[pull]\nverdict_ttl = \"0s\"\n";
    let stale = crate::open(
        config(
            &upstream,
            "enforce",
            &storage("stale_reads = \"30s\"\n"),
            pull,
        ),
        false,
    )
    .await
    .unwrap();
    let closed = crate::open(config(&upstream, "enforce", &storage(""), pull), false)
        .await
        .unwrap();
    let by_tag = "/v2/securesystemsengineering/testimage/manifests/v1";
    // The first pull pins; the next ones read the pin and admit it again.
    for replica in [&stale, &closed, &stale, &closed] {
        let (status, _, body) = send(replica, Method::GET, by_tag, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, image);
    }

    pg.stop();
    let (status, _, body) = send(&stale, Method::GET, by_tag, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, image);
    assert_eq!(stale.pull.pins.stale_served(), 1);
    let metrics = crate::scrape::render(&stale).await;
    assert!(
        metrics.contains("\nsealgate_stale_pulls_total 1\n"),
        "{metrics}"
    );
    let (status, _, _) = send(&closed, Method::GET, by_tag, Bytes::new()).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "fail closed by default"
    );
    // A tag this replica never served has no last-known answer.
    let other = "/v2/securesystemsengineering/testimage/manifests/v2";
    let (status, _, _) = send(&stale, Method::GET, other, Bytes::new()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let _pg = tokio::task::spawn_blocking(move || {
        pg.start_again().unwrap();
        pg
    })
    .await
    .unwrap();
    for replica in [&stale, &closed] {
        let start = Instant::now();
        loop {
            let (status, _, _) = send(replica, Method::GET, by_tag, Bytes::new()).await;
            if status == StatusCode::OK {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(stale.pull.pins.stale_served(), 1, "the store answers again");
}
