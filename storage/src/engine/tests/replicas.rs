//! Several replicas on one PostgreSQL database: each a `PgStore` with a pool of its own, as
//! separate processes would have. The invariants hold across them: one winner per tag, one
//! audit chain, a pending entry removed once, and service resumes after a database restart.

use std::sync::Arc;

use super::*;

/// A server, and `n` stores on one migrated database of it.
async fn replicas(n: usize) -> (PgServer, Vec<PgStore>) {
    let server = PgServer::start().expect("start PostgreSQL");
    let options = server
        .migrated_database()
        .await
        .expect("a migrated database");
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(PgStore::connect(options.clone()).await.expect("connect"));
    }
    (server, stores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_pushes_over_two_replicas_have_one_winner() {
    const RACERS: u64 = 50;
    let (_server, stores) = replicas(2).await;
    let k = key("hub", "team/app", "v1");
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (store, k) = (stores[i as usize % 2].clone(), k.clone());
            tokio::spawn(async move {
                let event = event("push", &format!("racer {i}"));
                let (outcome, _) = store.pin(&k, req_of(i, i), false, event).await.unwrap();
                (i, outcome)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap());
    }
    let winners: Vec<u64> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == PinOutcome::Created)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let stored = stores[1].get_pin(&k).await.unwrap().unwrap();
    assert_eq!(stored.digest, digest(winners[0]));
    let conflicts = outcomes
        .iter()
        .filter(|(_, outcome)| {
            *outcome
                == PinOutcome::Conflict {
                    existing: stored.clone(),
                }
        })
        .count();
    assert_eq!(conflicts, RACERS as usize - 1);
    // The winning digest pushed again, on either replica, is accepted and changes nothing.
    for store in &stores {
        let (outcome, _) = store
            .pin(&k, req_of(winners[0], 99), false, event("push", "again"))
            .await
            .unwrap();
        assert_eq!(outcome, PinOutcome::Unchanged);
    }
    for store in &stores {
        assert_eq!(store.verify_audit().await.unwrap().events, RACERS + 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_both_replicas_make_one_chain() {
    let (_server, stores) = replicas(2).await;
    let writers: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { append_n(&store, 100).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for writer in writers {
        seqs.extend(writer.await.unwrap().into_iter().map(|record| record.seq));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    let reports = [
        stores[0].verify_audit().await.unwrap(),
        stores[1].verify_audit().await.unwrap(),
    ];
    assert_eq!(reports[0].events, 200);
    assert_eq!(reports[0], reports[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_tag_expires_once_when_both_replicas_sweep() {
    let (_server, stores) = replicas(2).await;
    for round in 0..10u64 {
        let k = key("hub", "team/app", &format!("v{round}"));
        stores[0]
            .put_pending(pending_tag(&k, round, 1000), event("quarantine", "held"))
            .await
            .unwrap();
        let sweeps: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, k) = (store.clone(), k.clone());
                tokio::spawn(async move {
                    store
                        .remove_pending(&k, event("expire", "quarantine ended"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut removed = 0;
        for sweep in sweeps {
            if let Some((entry, _)) = sweep.await.unwrap() {
                assert_eq!(entry, pending_tag(&k, round, 1000));
                removed += 1;
            }
        }
        assert_eq!(removed, 1, "round {round}");
    }
    let audit = stores[1].audit(0, 100).await.unwrap();
    let expired = audit
        .iter()
        .filter(|record| record.event.action == "expire")
        .count();
    assert_eq!(expired, 10);
    assert_eq!(stores[1].verify_audit().await.unwrap().events, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_fails_closed_and_the_same_store_resumes_after_a_restart() {
    let (server, stores) = replicas(1).await;
    let store = &stores[0];
    let (k1, k2) = (key("hub", "team/app", "v1"), key("hub", "team/app", "v2"));
    store
        .pin(&k1, req_of(1, 1), false, event("push", "before"))
        .await
        .unwrap();
    let server = Arc::new(server);
    let stopping = Arc::clone(&server);
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();

    let error = store
        .pin(&k2, req_of(2, 2), false, event("push", "while down"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::DatabaseUnavailable { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    let error = store.get_pin(&k1).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(store.health().await.unwrap_err().is_transient());

    let starting = Arc::clone(&server);
    tokio::task::spawn_blocking(move || starting.start_again())
        .await
        .unwrap()
        .unwrap();
    store.health().await.unwrap();
    assert_eq!(store.get_pin(&k1).await.unwrap().unwrap().digest, digest(1));
    // The push refused while the database was down left nothing behind.
    assert_eq!(store.get_pin(&k2).await.unwrap(), None);
    let (outcome, record) = store
        .pin(&k2, req_of(2, 2), false, event("push", "after"))
        .await
        .unwrap();
    assert_eq!(outcome, PinOutcome::Created);
    assert_eq!(record.seq, 2);
    assert_eq!(store.verify_audit().await.unwrap().events, 2);
}
