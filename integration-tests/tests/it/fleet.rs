//! The fleet as its operator sees it: three replicas on one PostgreSQL database register
//! themselves; a reload asked of one replica (SIGHUP) makes the others re-read their own
//! configuration files within a second; a replica whose configuration differs from the others'
//! is flagged by `sealgate admin status` and counted in `/metrics`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::CosignKey;
use sealgate_integration_tests::{Registry, Sealgate, send};
use sealgate_storage::testing::PgServer;

const TOKEN: &str = "it-fleet-admin-token-0123456789abcdef";

/// How long a replica may take to register again (its heartbeat is 5 s).
const HEARTBEAT: Duration = Duration::from_secs(8);

async fn status(replica: &Sealgate) -> serde_json::Value {
    let reply = send(
        Method::GET,
        &format!("{}/admin/v1/status", replica.admin_url()),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// The replicas `status` lists, as (policy digest, drifted) by id.
fn replicas(status: &serde_json::Value) -> Vec<(String, String, bool)> {
    status["replicas"]
        .as_array()
        .expect("replicas listed")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["policy_digest"].as_str().unwrap_or_default().to_owned(),
                r["drifted"] == serde_json::json!(true),
            )
        })
        .collect()
}

/// Polls `check` on `replica`'s status every 50 ms until it holds, or panics after `within`.
async fn until(
    replica: &Sealgate,
    within: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let now = status(replica).await;
        if check(&now) {
            return now;
        }
        assert!(
            start.elapsed() < within,
            "{what} not seen within {within:?}: {now:#}\n{}",
            replica.stderr_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_on_one_replica_reaches_the_others_and_a_drifted_one_is_flagged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ci = CosignKey::generate();
    let pg = tokio::task::spawn_blocking(PgServer::start)
        .await
        .expect("task")
        .expect("start PostgreSQL (Debian's postgresql package)");
    let database = pg.create_database().await.expect("create a database");
    let registry = Registry::start().await;
    let policy = format!(
        "\n[trust.keys.ci]\npath = \"{}\"\n[policy.default]\nmode = \"audit\"\n",
        ci.write_public(dir.path(), "ci").display()
    );
    let builder = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy)
        .admin_token(TOKEN)
        .postgres(&pg.url(&database), "it-fleet-db-password");
    let (a, b, mut c) = tokio::join!(
        builder.clone().start(),
        builder.clone().start(),
        builder.start()
    );

    // Every replica registers at start; one configuration, no drift.
    let first = until(&a, HEARTBEAT, "three replicas", |s| replicas(s).len() == 3).await;
    let listed = replicas(&first);
    assert!(listed.iter().all(|(_, _, drifted)| !drifted), "{first:#}");
    let digest = first["policy_digest"].as_str().expect("digest").to_owned();
    assert!(listed.iter().all(|(_, d, _)| *d == digest), "{first:#}");
    for replica in [&a, &b, &c] {
        let id = format!("@{}", replica.addr());
        assert!(
            listed.iter().any(|(listed, _, _)| listed.ends_with(&id)),
            "{id} in {listed:?}"
        );
    }

    // The same new policy in every replica's file (a ConfigMap update), SIGHUP to c only: a
    // and b re-read their files within a second, and do not announce it again.
    let changed = |text: &str| text.replace("mode = \"audit\"", "mode = \"warn\"");
    for replica in [&a, &b] {
        std::fs::write(replica.config_path(), changed(replica.config_text())).expect("write");
    }
    let generation = first["fleet_generation_applied"]
        .as_u64()
        .expect("generation");
    let text = changed(c.config_text());
    let outcome = c.reload(&text).await;
    assert!(outcome.contains("reloaded: "), "{outcome}");
    let at = Instant::now();
    for replica in [&a, &b] {
        let now = until(replica, Duration::from_secs(1), "the reload", |s| {
            s["policy_digest"].as_str() != Some(digest.as_str())
        })
        .await;
        assert_eq!(now["fleet_generation_applied"], generation + 1, "{now:#}");
    }
    assert!(at.elapsed() < Duration::from_secs(1), "{:?}", at.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = status(&c).await;
    assert_eq!(
        settled["fleet_generation_applied"],
        generation + 1,
        "one announcement, no ping-pong: {settled:#}"
    );

    // Only c's file changes again, and c reloads: a and b re-read theirs (unchanged), so c is
    // the one replica with another policy, flagged once it has registered again.
    let drifted = text.replace("mode = \"warn\"", "mode = \"audit\"");
    let outcome = c.reload(&drifted).await;
    assert!(outcome.contains("reloaded: "), "{outcome}");
    let c_id = format!("@{}", c.addr());
    let seen = until(&a, HEARTBEAT, "c drifted", |s| {
        replicas(s)
            .iter()
            .any(|(id, _, drifted)| id.ends_with(&c_id) && *drifted)
    })
    .await;
    let flagged: Vec<_> = replicas(&seen)
        .into_iter()
        .filter(|(_, _, drifted)| *drifted)
        .collect();
    assert_eq!(flagged.len(), 1, "{seen:#}");
    let shown = a.admin_cli(&["status"]).await;
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    assert!(
        text.contains("replicas: 3 registered, 3 live, 1 drifted") && text.contains("DRIFTED"),
        "{text}"
    );
    let metrics = send(
        Method::GET,
        &format!("{}/metrics", a.base_url()),
        &[],
        Bytes::new(),
    )
    .await
    .text();
    assert!(
        metrics.contains("\nsealgate_fleet_replicas 3\n")
            && metrics.contains("\nsealgate_fleet_drifted_replicas 1\n"),
        "{metrics}"
    );
}
