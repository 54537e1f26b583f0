//! Three sealgate replicas on one PostgreSQL database, each addressed directly (no load
//! balancer), in front of one real registry: racing pushes across replicas, a held push released
//! through another replica, a replica killed mid-push, the database restarted under load,
//! containerd pulling through two replicas in turn, and a revocation seen by the whole fleet.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::{CosignKey, push_signature, push_signed_tiny_image};
use sealgate_integration_tests::{
    Containerd, MANIFEST_ACCEPT, Registry, Reply, Sealgate, oci, push_sample_image, send, try_send,
    unique_salt,
};
use sealgate_storage::testing::PgServer;

const TOKEN: &str = "it-replicas-admin-token-0123456789abcdef";

/// The database password the replicas are given (the harness's server trusts local users, so
/// any password is accepted; the point is that sealgate reads it from the environment).
const DB_PASSWORD: &str = "it-replicas-db-password";

/// `pull.verdict_ttl` of the database-restart test: how long a replica may serve a pinned tag
/// from what it last read.
const VERDICT_TTL: Duration = Duration::from_secs(1);

/// How long a replica may take to serve again by itself after the database came back.
const RECOVERY: Duration = Duration::from_secs(30);

/// Replicas first: they are stopped before the database and the registry they use.
struct Fleet {
    replicas: Vec<Sealgate>,
    registry: Registry,
    pg: Arc<PgServer>,
    ci: CosignKey,
    _dir: tempfile::TempDir,
}

/// `ci` trusted; the default scope audits (unsigned pushes pass, tags stay immutable),
/// `prod/**` enforces `ci`, `held/**` quarantines unsigned pushes until `ci` signs; `extra`
/// (TOML tables) appended.
fn policy(dir: &Path, ci: &CosignKey, extra: &str) -> String {
    format!(
        r#"
[trust.keys.ci]
path = "{}"
[policy.default]
mode = "audit"
[[policy.scope]]
repositories = "prod/**"
signers = ["ci"]
[[policy.scope]]
repositories = "held/**"
signers = ["ci"]
unsigned_push = "quarantine"
quarantine_ttl = "1h"
{extra}
"#,
        ci.write_public(dir, "ci").display()
    )
}

impl Fleet {
    /// A fresh PostgreSQL cluster and database, a registry, and three replicas started at once
    /// (each with `serve --migrate`: they race on the schema) whose only upstream serves
    /// `namespaces`; `extra` is appended to the [`policy`].
    async fn start(namespaces: &[&str], extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ci = CosignKey::generate();
        let pg = tokio::task::spawn_blocking(PgServer::start)
            .await
            .expect("task")
            .expect("start PostgreSQL (Debian's postgresql package)");
        let database = pg.create_database().await.expect("create a database");
        let registry = Registry::start().await;
        let builder = Sealgate::builder()
            .upstream("local", &registry.url(), namespaces)
            .trust_policy(&policy(dir.path(), &ci, extra))
            .admin_token(TOKEN)
            .postgres(&pg.url(&database), DB_PASSWORD);
        let (a, b, c) = tokio::join!(
            builder.clone().start(),
            builder.clone().start(),
            builder.start()
        );
        Self {
            replicas: vec![a, b, c],
            registry,
            pg: Arc::new(pg),
            ci,
            _dir: dir,
        }
    }

    fn base(&self, replica: usize) -> String {
        self.replicas[replica].base_url()
    }

    /// The logs of every replica and of the database, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, replica) in self.replicas.iter().enumerate() {
            out.push_str(&format!("--- replica {i}\n{}\n", replica.stderr_log()));
        }
        out.push_str(&format!("--- postgres\n{}", self.pg.log()));
        out
    }
}

async fn pull(base: &str, name: &str, reference: &str) -> Reply {
    send(
        Method::GET,
        &format!("{base}/v2/{name}/manifests/{reference}"),
        &MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await
}

async fn admin_get(replica: &Sealgate, path: &str) -> serde_json::Value {
    let reply = send(
        Method::GET,
        &format!("{}{path}", replica.admin_url()),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text());
    reply.json()
}

/// Every audit event, through `replica`'s admin API (page by page).
async fn audit_events(replica: &Sealgate) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = admin_get(replica, &format!("/admin/v1/audit?after={after}&limit=100")).await;
        let listed = page["events"].as_array().expect("events").clone();
        events.extend(listed);
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return events,
        }
    }
}

/// `sealgate admin audit verify` on every running replica and `sealgate verify-store`: all
/// verify the same chain. Returns its length.
async fn assert_one_verified_chain(replicas: &[&Sealgate]) -> u64 {
    let mut seen: Option<(u64, String)> = None;
    for replica in replicas {
        let cli = replica.admin_cli(&["audit", "verify"]).await;
        let stdout = String::from_utf8_lossy(&cli.stdout).into_owned();
        assert!(
            cli.status.success() && stdout.contains("audit log intact"),
            "admin audit verify on {}: {stdout}{}",
            replica.base_url(),
            String::from_utf8_lossy(&cli.stderr)
        );
        let api = admin_get(replica, "/admin/v1/audit/verify").await;
        assert_eq!(api["ok"], true, "{api}");
        let this = (
            api["events"].as_u64().expect("events"),
            api["head"].as_str().expect("head").to_owned(),
        );
        assert!(
            stdout.contains(&format!("{} events, head {}", this.0, this.1)),
            "{stdout} vs {api}"
        );
        if let Some(first) = &seen {
            assert_eq!(first, &this, "every replica sees one chain");
        }
        seen = Some(this);
    }
    let (events, head) = seen.expect("at least one replica");
    let store = replicas[0].verify_store().await;
    let stdout = String::from_utf8_lossy(&store.stdout);
    assert!(
        store.status.success(),
        "verify-store: {stdout}{}",
        String::from_utf8_lossy(&store.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "audit log of {events} events verifies, head {head}"
        )),
        "verify-store reports the chain the replicas report ({events} events, head {head}): {stdout}"
    );
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_racing_pushes_to_one_tag_pin_exactly_one() {
    let fleet = Fleet::start(&[], "").await;
    let name = "race/app";
    let mut images = Vec::new();
    for i in 0..50 {
        images.push(oci::tiny_image(&fleet.base(i % 3), name, &unique_salt()).await);
    }
    let pushes: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, (_, manifest))| {
            let base = fleet.base(i % 3);
            let manifest = manifest.clone();
            tokio::spawn(async move { oci::put_manifest(&base, name, "v1", &manifest).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for (i, push) in pushes.into_iter().enumerate() {
        let reply = push.await.expect("task");
        match reply.status {
            StatusCode::CREATED => winners.push(images[i].0.clone()),
            StatusCode::FORBIDDEN => refusals.push(reply),
            other => panic!(
                "push {i} via replica {}: unexpected {other}: {}\n{}",
                i % 3,
                reply.text(),
                fleet.logs()
            ),
        }
    }
    assert_eq!(
        (winners.len(), refusals.len()),
        (1, 49),
        "exactly one of 50 racing pushes across 3 replicas wins"
    );
    let winner = winners.remove(0);
    for refused in &refusals {
        assert_eq!(refused.oci_error_codes(), ["DENIED"], "{}", refused.text());
        assert!(
            refused.text().contains(&format!("pinned to {winner}")),
            "a refusal names the winner: {}",
            refused.text()
        );
    }
    // Checked last, so that a failure here still shows whether the rest holds; read now,
    // because re-pushing the winner below forwards it to the upstream again.
    let upstream_after_race = oci::manifest_digest(&fleet.registry.url(), name, "v1").await;
    let manifest = &images
        .iter()
        .find(|(digest, _)| *digest == winner)
        .expect("the winner is one of ours")
        .1;
    for replica in 0..3 {
        let again = oci::put_manifest(&fleet.base(replica), name, "v1", manifest).await;
        assert_eq!(
            again.status,
            StatusCode::CREATED,
            "re-pushing the winner via replica {replica}: {}",
            again.text()
        );
        // A pinned tag pulls as the same digest on every replica.
        let pulled = pull(&fleet.base(replica), name, "v1").await;
        assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.text());
        assert_eq!(
            pulled.header("docker-content-digest"),
            Some(winner.as_str())
        );
    }
    let replicas: Vec<&Sealgate> = fleet.replicas.iter().collect();
    assert_one_verified_chain(&replicas).await;
    assert_eq!(
        upstream_after_race, winner,
        "after the race the upstream tag holds the pinned winner: no refused push reached it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_release_a_held_push_when_another_replica_receives_its_signature() {
    let fleet = Fleet::start(&[], "").await;
    let (a, b, c) = (fleet.base(0), fleet.base(1), fleet.base(2));
    let name = "held/app";
    let (digest, manifest) = oci::tiny_image(&a, name, &unique_salt()).await;
    let held = oci::put_manifest(&a, name, "v1", &manifest).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
    assert!(
        held.header("warning")
            .is_some_and(|w| w.contains("held until")),
        "{held:?}"
    );
    let waiting = pull(&c, name, "v1").await;
    assert_eq!(waiting.status, StatusCode::NOT_FOUND, "{}", waiting.text());
    assert!(
        waiting.text().contains("awaits a signature"),
        "replica C knows of the push held on A: {}",
        waiting.text()
    );

    let signed = push_signature(
        &b,
        name,
        &digest,
        &[fleet.ci.sign(&format!("registry.example/{name}"), &digest)],
    )
    .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text());
    assert_eq!(
        oci::manifest_digest(&fleet.registry.url(), name, "v1").await,
        digest,
        "the signature pushed through B released the tag held on A\n{}",
        fleet.logs()
    );
    let pulled = pull(&c, name, "v1").await;
    assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.text());
    assert_eq!(
        pulled.header("docker-content-digest"),
        Some(digest.as_str())
    );
    assert_eq!(pulled.body, manifest);
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_killed_mid_push_leave_every_acknowledged_pin_with_its_event() {
    let mut fleet = Fleet::start(&[], "").await;
    let name = "prod/crash";
    // Everything but the tag first (blobs, manifest by digest, signature), each image through
    // the replica that will tag it; then the 20 tag pushes race with the kill.
    let mut images = Vec::new();
    for i in 0..20 {
        let base = fleet.base(i % 3);
        let (digest, manifest) = oci::tiny_image(&base, name, &unique_salt()).await;
        let by_digest = oci::put_manifest(&base, name, &digest, &manifest).await;
        assert_eq!(
            by_digest.status,
            StatusCode::CREATED,
            "{}",
            by_digest.text()
        );
        let signed = push_signature(
            &base,
            name,
            &digest,
            &[fleet.ci.sign(&format!("registry.example/{name}"), &digest)],
        )
        .await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text());
        images.push((digest, manifest));
    }
    // Replica 0 is killed as soon as it acknowledges its first push: the 20 were sent at once,
    // so its others are in flight then.
    let first_ack = Arc::new(tokio::sync::Notify::new());
    let pushes: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, (_, manifest))| {
            let url = format!("{}/v2/{name}/manifests/t{i}", fleet.base(i % 3));
            let manifest = manifest.clone();
            let first_ack = Arc::clone(&first_ack);
            tokio::spawn(async move {
                let reply = try_send(
                    Method::PUT,
                    &url,
                    &[("content-type", sealgate_integration_tests::OCI_MANIFEST)],
                    manifest,
                )
                .await;
                if i % 3 == 0
                    && reply
                        .as_ref()
                        .is_ok_and(|r| r.status == StatusCode::CREATED)
                {
                    first_ack.notify_one();
                }
                reply
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), first_ack.notified())
        .await
        .expect("replica 0 acknowledges a push");
    fleet.replicas[0].kill();

    let mut acknowledged = Vec::new();
    for (i, push) in pushes.into_iter().enumerate() {
        match push.await.expect("task") {
            Ok(reply) if reply.status == StatusCode::CREATED => acknowledged.push(i),
            Ok(reply) => assert_eq!(
                i % 3,
                0,
                "push t{i} to a surviving replica failed: {} {}",
                reply.status,
                reply.text()
            ),
            Err(e) => assert_eq!(i % 3, 0, "push t{i} to a surviving replica failed: {e}"),
        }
    }
    eprintln!(
        "{} of 20 tag pushes acknowledged: {acknowledged:?}",
        acknowledged.len()
    );
    let survivor = &fleet.replicas[1];
    let events = audit_events(survivor).await;
    let pin_event = |tag: &str, digest: &str| {
        events.iter().any(|e| {
            e["repository"] == name
                && e["reference"] == tag
                && e["digest"] == digest
                && e["action"] == "push"
                && e["outcome"] == "allow"
        })
    };
    for &i in &acknowledged {
        let (digest, _) = &images[i];
        let tag = format!("t{i}");
        for replica in 1..3 {
            let pulled = pull(&fleet.base(replica), name, &tag).await;
            assert_eq!(
                pulled.status,
                StatusCode::OK,
                "acknowledged {tag} via replica {replica}: {}",
                pulled.text()
            );
            assert_eq!(
                pulled.header("docker-content-digest"),
                Some(digest.as_str())
            );
        }
        assert!(
            pin_event(&tag, digest),
            "acknowledged {tag} has its audit event: {events:#?}"
        );
    }
    let pins = admin_get(survivor, "/admin/v1/pins?repository=prod/crash").await;
    let pins = pins["pins"].as_array().expect("pins");
    for pin in pins {
        let (tag, digest) = (
            pin["tag"].as_str().expect("tag"),
            pin["digest"].as_str().expect("digest"),
        );
        assert!(
            pin_event(tag, digest),
            "pin {tag} -> {digest} without its audit event: {events:#?}"
        );
    }
    eprintln!("{} pins after the crash", pins.len());
    assert!(
        pins.len() >= acknowledged.len(),
        "{} pins for {} acknowledged pushes",
        pins.len(),
        acknowledged.len()
    );
    assert_one_verified_chain(&[&fleet.replicas[1], &fleet.replicas[2]]).await;
}

async fn readyz(base: &str) -> StatusCode {
    send(Method::GET, &format!("{base}/readyz"), &[], Bytes::new())
        .await
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_fail_closed_while_the_database_is_down_and_resume_by_themselves() {
    // A replica may trust what it read for `pull.verdict_ttl` (a hot pinned tag is not read on
    // every pull); past that, a pull needs the database.
    let ttl = format!("[pull]\nverdict_ttl = \"{}ms\"", VERDICT_TTL.as_millis());
    let fleet = Fleet::start(&[], &ttl).await;
    let name = "prod/db";
    let (pinned, _) = push_signed_tiny_image(&fleet.base(0), name, "v1", &fleet.ci).await;
    // Ready to tag while the database is down: blobs, manifest by digest and signature stored.
    let (next, next_manifest) = oci::tiny_image(&fleet.base(1), name, &unique_salt()).await;
    oci::put_manifest(&fleet.base(1), name, &next, &next_manifest).await;
    push_signature(
        &fleet.base(1),
        name,
        &next,
        &[fleet.ci.sign(&format!("registry.example/{name}"), &next)],
    )
    .await;
    for replica in 0..3 {
        assert_eq!(readyz(&fleet.base(replica)).await, StatusCode::OK);
        assert_eq!(
            pull(&fleet.base(replica), name, "v1").await.status,
            StatusCode::OK
        );
    }

    // Load across the fleet for the whole outage and recovery.
    let stop_load = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|replica| {
            let url = format!("{}/v2/{name}/manifests/v1", fleet.base(replica));
            let stop = Arc::clone(&stop_load);
            tokio::spawn(async move {
                let mut answered = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if try_send(Method::GET, &url, &MANIFEST_ACCEPT, Bytes::new())
                        .await
                        .is_ok()
                    {
                        answered += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                answered
            })
        })
        .collect();

    let pg = Arc::clone(&fleet.pg);
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("task");
    let down = Instant::now();
    for replica in 0..3 {
        let base = fleet.base(replica);
        let push = oci::put_manifest(&base, name, &format!("down{replica}"), &next_manifest).await;
        assert_eq!(
            push.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a push while the database is down, via replica {replica}: {}",
            push.text()
        );
        assert_eq!(push.oci_error_codes(), ["UNAVAILABLE"], "{}", push.text());
        // What the replica read before the outage is past the verdict TTL by now.
        if let Some(wait) = (VERDICT_TTL + Duration::from_millis(200)).checked_sub(down.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let pulled = pull(&base, name, "v1").await;
        assert_eq!(
            pulled.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a pinned tag's pull fails closed via replica {replica}: {}",
            pulled.text()
        );
        assert_eq!(
            pulled.oci_error_codes(),
            ["UNAVAILABLE"],
            "{}",
            pulled.text()
        );
        assert_eq!(readyz(&base).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(
        oci::manifest_digest(&fleet.registry.url(), name, "v1").await,
        pinned,
        "nothing moved upstream while the gate was closed"
    );

    let pg = Arc::clone(&fleet.pg);
    tokio::task::spawn_blocking(move || pg.start_again())
        .await
        .expect("task")
        .expect("restart PostgreSQL on the same port");
    let back = Instant::now();
    for replica in 0..3 {
        let base = fleet.base(replica);
        loop {
            let ready = readyz(&base).await;
            let pulled = pull(&base, name, "v1").await;
            if ready == StatusCode::OK && pulled.status == StatusCode::OK {
                assert_eq!(
                    pulled.header("docker-content-digest"),
                    Some(pinned.as_str())
                );
                break;
            }
            assert!(
                back.elapsed() < RECOVERY,
                "replica {replica} did not serve again within {RECOVERY:?} of the database's return: readyz {ready}, pull {} {}\n{}",
                pulled.status,
                pulled.text(),
                fleet.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "all replicas served again {:?} after the database came back",
        back.elapsed()
    );
    for replica in 0..3 {
        let push = oci::put_manifest(
            &fleet.base(replica),
            name,
            &format!("up{replica}"),
            &next_manifest,
        )
        .await;
        assert_eq!(
            push.status,
            StatusCode::CREATED,
            "via replica {replica}: {}",
            push.text()
        );
    }
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        assert!(
            task.await.expect("load task") > 0,
            "the load reached the replica"
        );
    }
    let replicas: Vec<&Sealgate> = fleet.replicas.iter().collect();
    assert_one_verified_chain(&replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_serve_containerd_alternately() {
    let fleet = Fleet::start(&["docker.io"], "").await;
    let containerd = Containerd::start().await;
    let registry_host = fleet.registry.host();
    // A signed public image, pushed straight to the registry: the first verified pull (through
    // whichever replica) pins it for the whole fleet.
    push_sample_image(2, &format!("docker://{registry_host}/prod/signed:v1")).await;
    let signed = oci::manifest_digest(&fleet.registry.url(), "prod/signed", "v1").await;
    push_signature(
        &fleet.registry.url(),
        "prod/signed",
        &signed,
        &[fleet.ci.sign("docker.io/prod/signed:v1", &signed)],
    )
    .await;
    let reference = "docker.io/prod/signed:v1";
    for replica in [0, 1, 0, 1] {
        // Only this replica in hosts.toml: nothing can reach the image around it.
        containerd.gate_only("docker.io", &fleet.base(replica));
        let pulled = containerd.pull(reference).await;
        assert!(
            pulled.contains("done"),
            "via replica {replica}: {pulled}\n{}",
            fleet.logs()
        );
        assert_eq!(
            containerd.image_digest(reference).await.as_deref(),
            Some(signed.as_str()),
            "via replica {replica}"
        );
        containerd.ctr(&["images", "rm", "--sync", reference]).await;
    }
    // The pin every replica now holds.
    for replica in 0..3 {
        let pulled = pull(&fleet.base(replica), "prod/signed", "v1?ns=docker.io").await;
        assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.text());
        assert_eq!(
            pulled.header("docker-content-digest"),
            Some(signed.as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_refuse_a_revoked_key_within_a_second_of_the_revocation() {
    let fleet = Fleet::start(&[], "").await;
    let name = "prod/revoked";
    push_signed_tiny_image(&fleet.base(0), name, "v1", &fleet.ci).await;
    // Warm every replica's verdict cache.
    for replica in 0..3 {
        assert_eq!(
            pull(&fleet.base(replica), name, "v1").await.status,
            StatusCode::OK
        );
    }
    let revoked = fleet.replicas[0]
        .admin_cli(&[
            "revoke",
            "key",
            &fleet.ci.fingerprint(),
            "--reason",
            "ci key leaked",
        ])
        .await;
    assert!(
        revoked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&revoked.stdout),
        String::from_utf8_lossy(&revoked.stderr)
    );
    let at = Instant::now();
    let refused = pull(&fleet.base(0), name, "v1").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    for replica in 1..3 {
        loop {
            let reply = pull(&fleet.base(replica), name, "v1").await;
            if reply.status == StatusCode::FORBIDDEN {
                assert!(reply.text().contains("ci key leaked"), "{}", reply.text());
                break;
            }
            assert!(
                at.elapsed() < Duration::from_secs(1),
                "replica {replica} still serves the revoked key's image {:?} after the revocation on replica 0: {}",
                at.elapsed(),
                reply.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `sealgate <args>` with the database password in the environment; returns the output.
async fn sealgate_cli(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(sealgate_integration_tests::sealgate_binary())
        .args(args)
        .env("SEALGATE_STORAGE_PASSWORD", DB_PASSWORD)
        .output()
        .await
        .expect("run sealgate")
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The `audit log of N events verifies, head H` part of a verify-store or import summary.
fn chain_of(text: &str) -> String {
    let at = text
        .find("audit log of ")
        .unwrap_or_else(|| panic!("no chain in {text:?}"));
    text[at..].trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_store_export_moves_sled_to_postgres_and_back_with_the_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let registry = Registry::start().await;
    let trust = policy(dir.path(), &ci, "");
    // A sled gate with a signed pin, an audit-mode pin and a runtime revocation.
    let mut sled = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&trust)
        .admin_token(TOKEN)
        .start()
        .await;
    let (signed, _) = push_signed_tiny_image(&sled.base_url(), "prod/app", "v1", &ci).await;
    let (unsigned, manifest) = oci::tiny_image(&sled.base_url(), "team/app", &unique_salt()).await;
    let put = oci::put_manifest(&sled.base_url(), "team/app", "v1", &manifest).await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    let revoked = sled
        .admin_cli(&[
            "revoke",
            "key",
            "sha256:abababababababababababababababababababababababababababababababab",
            "--reason",
            "moved along",
        ])
        .await;
    assert!(revoked.status.success(), "{}", output_text(&revoked));
    sled.terminate();
    assert!(sled.wait_exit(Duration::from_secs(20)).await.is_some());
    let sled_config = sled.config_path();
    let before = sled.verify_store().await;
    assert!(before.status.success(), "{}", output_text(&before));
    let sled_chain = chain_of(&output_text(&before));

    let export = dir.path().join("store.jsonl");
    let exported = sealgate_cli(&[
        "store",
        "export",
        "--config",
        &sled_config.display().to_string(),
        "--output",
        &export.display().to_string(),
    ])
    .await;
    assert!(exported.status.success(), "{}", output_text(&exported));

    // Into a migrated, empty PostgreSQL database.
    let pg = tokio::task::spawn_blocking(PgServer::start)
        .await
        .expect("task")
        .expect("start PostgreSQL");
    let database = pg.create_database().await.expect("database");
    let pg_config = dir.path().join("pg.toml");
    let sled_text = std::fs::read_to_string(&sled_config).expect("sled config");
    let storage_start = sled_text.find("[storage]").expect("[storage]");
    let storage_end = storage_start
        + sled_text[storage_start..]
            .find("\n\n")
            .expect("end of [storage]");
    std::fs::write(
        &pg_config,
        format!(
            "{}[storage]\nbackend = \"postgres\"\nurl = \"{}\"\nsslmode = \"disable\"{}",
            &sled_text[..storage_start],
            pg.url(&database),
            &sled_text[storage_end..]
        ),
    )
    .expect("write pg config");
    let pg_path = pg_config.display().to_string();
    let migrated = sealgate_cli(&["migrate", "--config", &pg_path]).await;
    assert!(migrated.status.success(), "{}", output_text(&migrated));
    let export_path = export.display().to_string();
    let imported = sealgate_cli(&[
        "store",
        "import",
        "--config",
        &pg_path,
        "--input",
        &export_path,
    ])
    .await;
    assert!(imported.status.success(), "{}", output_text(&imported));
    assert_eq!(chain_of(&output_text(&imported)), sled_chain);
    // A second import into the now non-empty database is refused and changes nothing.
    let again = sealgate_cli(&[
        "store",
        "import",
        "--config",
        &pg_path,
        "--input",
        &export_path,
    ])
    .await;
    assert!(!again.status.success(), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("import refused"),
        "{}",
        output_text(&again)
    );
    let verified = sealgate_cli(&["verify-store", "--config", &pg_path]).await;
    assert!(verified.status.success(), "{}", output_text(&verified));
    assert_eq!(chain_of(&output_text(&verified)), sled_chain);

    // A replica on the database serves the imported pins and keeps the revocation.
    let replica = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&trust)
        .admin_token(TOKEN)
        .postgres(&pg.url(&database), DB_PASSWORD)
        .start()
        .await;
    for (name, digest) in [("prod/app", &signed), ("team/app", &unsigned)] {
        let pulled = pull(&replica.base_url(), name, "v1").await;
        assert_eq!(pulled.status, StatusCode::OK, "{name}: {}", pulled.text());
        assert_eq!(
            pulled.header("docker-content-digest"),
            Some(digest.as_str())
        );
    }
    let revocations = admin_get(&replica, "/admin/v1/revocations").await;
    assert!(
        revocations
            .to_string()
            .contains("sha256:abababababababababababababababababababababababababababababababab"),
        "{revocations}"
    );
    drop(replica);
    // The replica may have audited what it did (its pulls); the way back carries its chain.
    let verified = sealgate_cli(&["verify-store", "--config", &pg_path]).await;
    assert!(verified.status.success(), "{}", output_text(&verified));
    let pg_chain = chain_of(&output_text(&verified));

    // And back into a new sled directory.
    let back = dir.path().join("back.jsonl");
    let back_path = back.display().to_string();
    let exported = sealgate_cli(&[
        "store", "export", "--config", &pg_path, "--output", &back_path,
    ])
    .await;
    assert!(exported.status.success(), "{}", output_text(&exported));
    let sled2_config = dir.path().join("sled2.toml");
    std::fs::write(
        &sled2_config,
        sled_text.replacen(
            &sled_text[storage_start..storage_end],
            &format!(
                "[storage]\npath = \"{}\"",
                dir.path().join("sled2").display()
            ),
            1,
        ),
    )
    .expect("write sled2 config");
    let sled2_path = sled2_config.display().to_string();
    let imported = sealgate_cli(&[
        "store",
        "import",
        "--config",
        &sled2_path,
        "--input",
        &back_path,
    ])
    .await;
    assert!(imported.status.success(), "{}", output_text(&imported));
    let verified = sealgate_cli(&["verify-store", "--config", &sled2_path]).await;
    assert!(verified.status.success(), "{}", output_text(&verified));
    assert_eq!(chain_of(&output_text(&verified)), pg_chain);
}
