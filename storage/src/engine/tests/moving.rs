//! Moving a store between backends: `export_entries` on one, `import_entries` on another.

use super::*;
use crate::trees;

/// What the proxy reads of a store, to compare two.
type Content = (
    Vec<(PinKey, Pin)>,
    Vec<SignatureRecord>,
    Vec<StoredRevocation>,
    Vec<Digest>,
    Option<PendingTag>,
    Vec<AuditRecord>,
    AuditReport,
);

/// A store with something in every tree: pins (one moved, with history), signatures, a `.sig`
/// tag, an index, blobs, a referrer, a signature manifest, a pending tag, revocations of both
/// kinds, and the audit log of it all.
async fn fill(store: &impl Store) {
    let (k1, k2) = (
        key("hub", "team/app", "v1"),
        key("hub", "team/app", "latest"),
    );
    store
        .pin(&k1, req_of(1, 1), false, event("push", "v1"))
        .await
        .unwrap();
    for (d, at) in [(10, 10), (11, 20), (12, 30)] {
        store
            .pin(&k2, req_of(d, at), true, event("push", "latest"))
            .await
            .unwrap();
    }
    store.record_signature(signature(1, 2, 0, 1)).await.unwrap();
    store.set_sig_tag_layers(&k1, &[digest(3)]).await.unwrap();
    store.record_index(&digest(4), &[digest(1)]).await.unwrap();
    store
        .record_blobs(&digest(1), ManifestKind::Image, &[digest(6), digest(7)])
        .await
        .unwrap();
    store
        .record_referrer("hub", &k1.repository, &digest(1), referrer(2))
        .await
        .unwrap();
    let signed = SignedSubject {
        subject: digest(1),
        layers: vec![digest(8)],
    };
    store
        .record_signature_manifest("hub", &k1.repository, &digest(2), &signed)
        .await
        .unwrap();
    store
        .put_pending(
            pending_tag(&key("hub", "team/app", "v2"), 5, 9),
            event("quarantine", "q"),
        )
        .await
        .unwrap();
    store
        .record_revocation(key_revocation("sha256:ab", "k"), event("revoke", "k"))
        .await
        .unwrap();
    store
        .record_revocation(cert_revocation("CN=CA", "1", "c"), event("revoke", "c"))
        .await
        .unwrap();
    append_n(store, 3).await;
}

async fn content(store: &impl Store) -> Content {
    (
        store.all_pins().await.unwrap(),
        store.signatures(&digest(1)).await.unwrap(),
        store.revocations().await.unwrap(),
        store
            .sig_tag_layers(&key("hub", "team/app", "v1"))
            .await
            .unwrap(),
        store.pending(&key("hub", "team/app", "v2")).await.unwrap(),
        store.audit(0, 100).await.unwrap(),
        store.verify_audit().await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_from_sled_to_postgres_and_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(&dir.path().join("before")).unwrap();
    fill(&sled).await;
    let exported = sled.export_entries().await.unwrap();
    let expected = content(&sled).await;

    let (_server, pg) = pg_store().await;
    let report = pg.import_entries(exported.clone()).await.unwrap();
    // Every entry but the schema version, which the store has of its own.
    assert_eq!(report.entries, exported.len() as u64 - 1);
    assert_eq!(report.audit, sled.verify_audit().await.unwrap());
    assert_eq!(content(&pg).await, expected);
    assert_eq!(pg.export_entries().await.unwrap(), exported);
    pg.verify_records().await.unwrap();
    let history = pg
        .get_pin(&key("hub", "team/app", "latest"))
        .await
        .unwrap()
        .unwrap()
        .history;
    assert_eq!(history.len(), 2);

    let back = SledStore::open(&dir.path().join("after")).unwrap();
    back.import_entries(pg.export_entries().await.unwrap())
        .await
        .unwrap();
    assert_eq!(content(&back).await, expected);
    assert_eq!(back.export_entries().await.unwrap(), exported);
    back.verify_records().await.unwrap();
}

fn refused(result: Result<ImportReport, StorageError>, why: &str) {
    match result {
        Err(StorageError::ImportRefused(reason)) => assert!(reason.contains(why), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_import_is_refused_whole_unless_it_makes_a_valid_store_in_an_empty_one() {
    let source = MemStore::new();
    fill(&source).await;
    let exported = source.export_entries().await.unwrap();
    let target = MemStore::new();
    let empty = target.export_entries().await.unwrap();

    // An edited audit event still decodes, but breaks the chain: written, checked, undone.
    let mut edited = exported.clone();
    let record = edited
        .iter_mut()
        .find(|entry| entry.tree == trees::AUDIT)
        .unwrap();
    let text = String::from_utf8(record.value.clone()).unwrap();
    record.value = text.replacen("\"push\"", "\"pull\"", 1).into_bytes();
    assert_ne!(record.value.as_slice(), text.as_bytes());
    refused(target.import_entries(edited).await, "audit chain");
    assert_eq!(target.export_entries().await.unwrap(), empty);

    let mut unknown = exported.clone();
    unknown[0].tree = "nonsense".to_owned();
    refused(target.import_entries(unknown).await, "unknown tree");

    let mut twice = exported.clone();
    twice.push(exported[1].clone());
    refused(target.import_entries(twice).await, "twice");

    let mut undecodable = exported.clone();
    let pin = undecodable
        .iter_mut()
        .find(|entry| entry.tree == trees::PINS)
        .unwrap();
    pin.value = b"{not json".to_vec();
    refused(target.import_entries(undecodable).await, "does not decode");

    let mut newer = exported.clone();
    let version = newer
        .iter_mut()
        .find(|entry| entry.tree == trees::META && entry.key == keys::SCHEMA_VERSION)
        .unwrap();
    version.value = (SCHEMA_VERSION + 1).to_be_bytes().to_vec();
    refused(target.import_entries(newer).await, "newer");
    assert_eq!(target.export_entries().await.unwrap(), empty);

    // The export as it is imports, once.
    target.import_entries(exported.clone()).await.unwrap();
    assert_eq!(target.export_entries().await.unwrap(), exported);
    refused(target.import_entries(exported).await, "not empty");
}
