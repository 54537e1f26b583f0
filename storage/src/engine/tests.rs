//! Behaviour of every operation, run against every backend (`sled_backend::*`, `mem_backend::*`,
//! `pg_backend::*`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use sealgate_policies::gate::PinWarrant;
use sealgate_policies::oci::{Digest, RepoName};

use super::*;
use crate::mem_store::MemBackend;
use crate::testing::PgServer;
use crate::{
    CertFacts, MemStore, PgStore, ReplicaInfo, SignatureFormat, SignatureRecord, SignedSubject,
    SledStore, StorageError, Store,
};

// ---- fixtures ------------------------------------------------------------------------------

/// Raw access to a store's trees, for tampering.
trait Harness: Store {
    async fn poke(&self, tree: Tree, key: &[u8], value: Option<Vec<u8>>);
    async fn peek(&self, tree: Tree, key: &[u8]) -> Option<Vec<u8>>;
    async fn check_records(&self) -> Result<u64, StorageError>;
}

async fn poke<B: Backend>(engine: &Engine<B>, tree: Tree, key: &[u8], value: Option<Vec<u8>>) {
    engine
        .backend
        .transaction(&|tx| match &value {
            Some(v) => tx.insert(tree, key, v.clone()),
            None => tx.remove(tree, key),
        })
        .await
        .unwrap();
}

impl Harness for SledStore {
    async fn poke(&self, tree: Tree, key: &[u8], value: Option<Vec<u8>>) {
        poke(self.engine(), tree, key, value).await;
    }
    async fn peek(&self, tree: Tree, key: &[u8]) -> Option<Vec<u8>> {
        self.engine().backend.get(tree, key).await.unwrap()
    }
    async fn check_records(&self) -> Result<u64, StorageError> {
        self.verify_records().await
    }
}

impl Harness for PgStore {
    async fn poke(&self, tree: Tree, key: &[u8], value: Option<Vec<u8>>) {
        poke(self.engine(), tree, key, value).await;
    }
    async fn peek(&self, tree: Tree, key: &[u8]) -> Option<Vec<u8>> {
        self.engine().backend.get(tree, key).await.unwrap()
    }
    async fn check_records(&self) -> Result<u64, StorageError> {
        self.verify_records().await
    }
}

/// A PostgreSQL server of the test's own, and a store on a migrated database of it. The test
/// runs on a multi-threaded runtime: the store's connections are driven by it while the racing
/// tests block the test's thread on their own threads.
async fn pg_store() -> (PgServer, PgStore) {
    let server = PgServer::start().expect("start PostgreSQL");
    let options = server
        .migrated_database()
        .await
        .expect("a migrated database");
    let store = PgStore::connect(options).await.expect("connect");
    (server, store)
}

impl Harness for MemStore {
    async fn poke(&self, tree: Tree, key: &[u8], value: Option<Vec<u8>>) {
        poke(self.engine(), tree, key, value).await;
    }
    async fn peek(&self, tree: Tree, key: &[u8]) -> Option<Vec<u8>> {
        self.engine().backend.get(tree, key).await.unwrap()
    }
    async fn check_records(&self) -> Result<u64, StorageError> {
        self.verify_records().await
    }
}

/// Runs each listed test function on a fresh sled store, a fresh in-memory store and a store on
/// a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sled_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = crate::SledStore::open(dir.path()).unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod mem_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&crate::MemStore::new()).await;
                }
            )*
        }
        mod pg_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_server, store) = super::pg_store().await;
                    super::$name(&store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    immutable_pin_outcomes_and_their_audit_events,
    mutable_pin_moves_keep_history_oldest_first,
    pin_history_is_capped,
    pins_list_by_upstream_and_repository_without_prefix_confusion,
    all_pins_lists_every_upstream_in_name_order,
    retire_pin_removes_the_pin_and_audits_only_a_removal,
    a_retired_tag_can_be_pinned_again_to_another_digest,
    pin_batch_creates_keeps_and_reports_conflicts_like_pin,
    pin_batch_builds_the_chain_pins_one_at_a_time_would,
    pin_batch_writes_all_or_nothing,
    an_empty_pin_batch_writes_nothing,
    pin_batch_racing_single_pins_leaves_one_winner_per_tag,
    fifty_racing_pushes_to_one_immutable_tag_have_one_winner,
    pin_model_check_against_random_operations,
    signatures_dedupe_and_keep_first_observed_at,
    sig_tag_layers_are_replaced_whole,
    index_relations_follow_the_latest_record,
    record_index_skips_identical_children_and_still_follows_changes,
    blob_owners_list_every_manifest_with_its_kind,
    referrers_are_scoped_to_their_upstream_repository_and_subject,
    referrers_dedupe_and_follow_the_latest_descriptor,
    signature_manifests_are_scoped_and_only_grow,
    pending_lifecycle_and_digest_index,
    pending_expiry_boundary,
    pinning_a_held_tag_clears_its_pending_entry_in_the_same_transaction,
    pinning_a_tag_without_a_pending_entry_audits_only_the_pin,
    a_failed_clearing_leaves_neither_pin_nor_removal,
    revocations_round_trip_and_replace_one_record_per_signer,
    revocations_list_keys_first_then_certificates_in_key_order,
    audit_appends_chain_and_page,
    verify_on_an_empty_log,
    verify_finds_a_gap,
    verify_finds_an_edited_byte,
    verify_finds_a_reordering,
    verify_finds_a_truncated_log_and_a_rolled_back_head,
    verify_finds_a_corrupt_head_and_corrupt_records,
    append_never_overwrites_a_record_past_the_head,
    corrupt_records_are_errors_not_panics,
    random_bytes_in_every_tree_never_panic,
    a_record_from_a_newer_binary_is_a_version_error,
    verify_records_decodes_a_healthy_store,
    verify_tolerates_appends_running_at_the_same_time,
    size_grows_with_data,
    fleet_generation_moves_with_every_revocation_and_bump,
    drift_is_reported_once_per_tag_and_digest,
    racing_replicas_report_a_drift_once,
    replicas_are_upserted_and_listed_in_id_order,
    a_tag_lease_has_one_holder_until_it_is_released_or_expires,
    corrupt_fleet_records_are_errors_not_panics,
);

/// Runs a store call to its end on the calling thread. The racing tests call the store from
/// several OS threads at once, as the proxy's multi-threaded runtime does. Timers are on, as
/// in the proxy: the PostgreSQL pool times its waits for a connection.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

fn digest(n: u64) -> Digest {
    format!("sha256:{n:064x}").parse().unwrap()
}

fn digest512(n: u64) -> Digest {
    format!("sha512:{n:0128x}").parse().unwrap()
}

fn repo(name: &str) -> RepoName {
    name.parse().unwrap()
}

fn key(upstream: &str, repository: &str, tag: &str) -> PinKey {
    PinKey {
        upstream: upstream.to_owned(),
        repository: repo(repository),
        tag: tag.parse().unwrap(),
    }
}

fn pin_of(d: u64, at: UnixSecs) -> Pin {
    Pin {
        digest: digest(d),
        pinned_at: at,
        pushed_by: Some("ci@example.com".to_owned()),
        signers: vec!["release".to_owned()],
        history: Vec::new(),
    }
}

/// A request to pin `pin` (its history aside: the store keeps that), with a warrant no gate
/// decided: the store's tests are about storing, not deciding.
fn request(pin: Pin) -> PinRequest {
    PinRequest::new(
        PinWarrant::unverified(&pin.digest),
        pin.pinned_at,
        pin.pushed_by,
        pin.signers,
    )
}

/// A request to pin what [`pin_of`] describes.
fn req_of(d: u64, at: UnixSecs) -> PinRequest {
    request(pin_of(d, at))
}

fn event(action: &str, reason: &str) -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        action: action.to_owned(),
        outcome: "allow".to_owned(),
        upstream: "hub".to_owned(),
        repository: "team/app".to_owned(),
        reference: "v1".to_owned(),
        digest: None,
        reason: reason.to_owned(),
        identity: Some("ci@example.com".to_owned()),
        signers: vec!["release".to_owned()],
        request_id: Some("req-1".to_owned()),
    }
}

fn signature(subject: u64, manifest: u64, layer: u32, observed_at: UnixSecs) -> SignatureRecord {
    SignatureRecord {
        subject: digest(subject),
        format: SignatureFormat::CosignLayer,
        signature_manifest: digest(manifest),
        layer_index: layer,
        signer: "release".to_owned(),
        key_fingerprint: Some("SHA256:abc".to_owned()),
        certificate: Some(CertFacts {
            subject: "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1"
                .to_owned(),
            issuer: "https://token.actions.githubusercontent.com".to_owned(),
            serial: "0a1b".to_owned(),
            not_after: 1_700_000_600,
        }),
        observed_at,
        evidence: (0..=255).collect(),
    }
}

fn referrer_of(digest: Digest) -> Referrer {
    Referrer {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        size: 1000 + digest.hex().len() as u64,
        digest,
        artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".to_owned()),
        annotations: BTreeMap::from([(
            "org.opencontainers.image.created".to_owned(),
            "2024-01-01T00:00:00Z".to_owned(),
        )]),
    }
}

fn referrer(d: u64) -> Referrer {
    referrer_of(digest(d))
}

fn pending_tag(k: &PinKey, d: u64, expires_at: UnixSecs) -> PendingTag {
    PendingTag {
        key: k.clone(),
        digest: digest(d),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        expires_at,
        pushed_by: None,
    }
}

fn key_revocation(fingerprint: &str, reason: &str) -> StoredRevocation {
    StoredRevocation {
        signer: RevokedSigner::Key {
            fingerprint: fingerprint.to_owned(),
        },
        reason: reason.to_owned(),
        at: 1_700_000_000,
        by: Some("admin@example.com".to_owned()),
    }
}

fn cert_revocation(issuer: &str, serial: &str, reason: &str) -> StoredRevocation {
    StoredRevocation {
        signer: RevokedSigner::Cert {
            issuer: issuer.to_owned(),
            serial: serial.to_owned(),
        },
        reason: reason.to_owned(),
        at: 1_700_000_100,
        by: None,
    }
}

/// A small deterministic generator (xorshift64*), so "random" tests reproduce exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn append_n(store: &impl Store, n: u64) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for i in 1..=n {
        records.push(
            store
                .append_audit(event("pull", &format!("event {i}")))
                .await
                .unwrap(),
        );
    }
    records
}

// ---- pins ----------------------------------------------------------------------------------

async fn immutable_pin_outcomes_and_their_audit_events(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    assert_eq!(store.get_pin(&k).await.unwrap(), None);

    let (outcome, first) = store
        .pin(&k, req_of(1, 100), false, event("push", "created"))
        .await
        .unwrap();
    assert_eq!(outcome, PinOutcome::Created);
    assert_eq!(first.seq, 1);
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 100)));

    let (outcome, second) = store
        .pin(&k, req_of(1, 200), false, event("push", "same digest"))
        .await
        .unwrap();
    assert_eq!(outcome, PinOutcome::Unchanged);
    assert_eq!(second.seq, 2);
    // Unchanged keeps the stored pin, including when it was first pinned.
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 100)));

    let (outcome, third) = store
        .pin(&k, req_of(2, 300), false, event("push", "conflict"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PinOutcome::Conflict {
            existing: pin_of(1, 100)
        }
    );
    assert_eq!(third.seq, 3);
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 100)));

    // Every outcome was audited, in order, with the caller's event.
    let reasons: Vec<String> = store
        .audit(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.reason)
        .collect();
    assert_eq!(reasons, ["created", "same digest", "conflict"]);
    assert_eq!(store.verify_audit().await.unwrap().events, 3);
}

async fn mutable_pin_moves_keep_history_oldest_first(store: &impl Harness) {
    let k = key("hub", "team/app", "latest");
    let (o, _) = store
        .pin(&k, req_of(1, 100), true, event("push", "a"))
        .await
        .unwrap();
    assert_eq!(o, PinOutcome::Created);
    let (o, _) = store
        .pin(&k, req_of(1, 150), true, event("push", "a again"))
        .await
        .unwrap();
    assert_eq!(o, PinOutcome::Unchanged);
    let (o, _) = store
        .pin(&k, req_of(2, 200), true, event("push", "b"))
        .await
        .unwrap();
    assert_eq!(
        o,
        PinOutcome::Moved {
            previous: digest(1)
        }
    );
    // The history is the store's: a request carries none.
    let (o, _) = store
        .pin(&k, req_of(3, 300), true, event("push", "c"))
        .await
        .unwrap();
    assert_eq!(
        o,
        PinOutcome::Moved {
            previous: digest(2)
        }
    );
    let stored = store.get_pin(&k).await.unwrap().unwrap();
    assert_eq!(stored.digest, digest(3));
    assert_eq!(stored.pinned_at, 300);
    assert_eq!(
        stored.history,
        [
            PinMove {
                digest: digest(1),
                replaced_at: 200
            },
            PinMove {
                digest: digest(2),
                replaced_at: 300
            },
        ]
    );
    assert_eq!(store.verify_audit().await.unwrap().events, 4);
}

async fn pin_history_is_capped(store: &impl Harness) {
    let k = key("hub", "team/app", "latest");
    let moves = MAX_PIN_HISTORY as u64 + 5;
    for i in 0..=moves {
        store
            .pin(&k, req_of(i, i), true, event("push", "move"))
            .await
            .unwrap();
    }
    let stored = store.get_pin(&k).await.unwrap().unwrap();
    assert_eq!(stored.digest, digest(moves));
    assert_eq!(stored.history.len(), MAX_PIN_HISTORY);
    // The oldest were dropped; the newest move is last.
    assert_eq!(
        stored.history[0].digest,
        digest(moves - MAX_PIN_HISTORY as u64)
    );
    assert_eq!(
        stored.history[MAX_PIN_HISTORY - 1].digest,
        digest(moves - 1)
    );
}

async fn pins_list_by_upstream_and_repository_without_prefix_confusion(store: &impl Harness) {
    let keys = [
        key("hub", "a", "v1"),
        key("hub", "a", "v2"),
        key("hub", "a/b", "v1"),
        key("hub", "ab", "v1"),
        key("hub2", "a", "v1"),
        key("hu", "a", "v1"),
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .pin(k, req_of(i as u64, 1), false, event("push", "p"))
            .await
            .unwrap();
    }
    let listed = async |upstream: &str, repository: Option<&str>| -> Vec<PinKey> {
        let repository = repository.map(repo);
        store
            .pins(upstream, repository.as_ref())
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(
        listed("hub", Some("a")).await,
        [keys[0].clone(), keys[1].clone()]
    );
    assert_eq!(listed("hub", Some("a/b")).await, [keys[2].clone()]);
    assert_eq!(
        listed("hub", None).await,
        [
            keys[0].clone(),
            keys[1].clone(),
            keys[2].clone(),
            keys[3].clone()
        ]
    );
    assert_eq!(listed("hub2", None).await, [keys[4].clone()]);
    assert_eq!(listed("hu", None).await, [keys[5].clone()]);
    assert!(listed("h", None).await.is_empty());
    let (_, pin) = &store.pins("hub", Some(&repo("ab"))).await.unwrap()[0];
    assert_eq!(pin.digest, digest(3));
}

async fn all_pins_lists_every_upstream_in_name_order(store: &impl Harness) {
    assert!(store.all_pins().await.unwrap().is_empty());
    // Recorded out of order, with names whose stored keys sort otherwise (length first: `b`
    // before `aa`, `hu` before `hub`).
    let keys = [
        key("hub", "team/app", "v2"),
        key("b", "a", "v1"),
        key("hub", "a/b", "v1"),
        key("aa", "z", "v1"),
        key("hub", "ab", "v1"),
        key("hub", "a", "v10"),
        key("hub", "a", "v9"),
        key("hu", "a", "v1"),
        key("hub2", "a", "v1"),
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .pin(k, req_of(i as u64, 1), false, event("push", "p"))
            .await
            .unwrap();
    }
    let all = store.all_pins().await.unwrap();
    let listed: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|(k, _)| (k.upstream.as_str(), k.repository.as_str(), k.tag.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("aa", "z", "v1"),
            ("b", "a", "v1"),
            ("hu", "a", "v1"),
            ("hub", "a", "v10"),
            ("hub", "a", "v9"),
            ("hub", "a/b", "v1"),
            ("hub", "ab", "v1"),
            ("hub", "team/app", "v2"),
            ("hub2", "a", "v1"),
        ]
    );
    // Each with its own pin.
    for (k, pin) in &all {
        let i = keys.iter().position(|x| x == k).unwrap();
        assert_eq!(*pin, pin_of(i as u64, 1));
    }
    // The same pins as the per-upstream listing, upstream by upstream.
    let hub: Vec<_> = all
        .iter()
        .filter(|(k, _)| k.upstream == "hub")
        .cloned()
        .collect();
    assert_eq!(hub, store.pins("hub", None).await.unwrap());
    // A retired pin is gone from the listing.
    store
        .retire_pin(&keys[1], event("retire", "r"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.all_pins().await.unwrap().len(), keys.len() - 1);
    assert!(
        store
            .all_pins()
            .await
            .unwrap()
            .iter()
            .all(|(k, _)| k.upstream != "b")
    );
}

async fn retire_pin_removes_the_pin_and_audits_only_a_removal(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    let neighbour = key("hub", "team/app", "v2");
    // Retiring a tag that was never pinned: nothing removed, nothing audited.
    assert_eq!(
        store.retire_pin(&k, event("retire", "none")).await.unwrap(),
        None
    );
    assert_eq!(store.verify_audit().await.unwrap().events, 0);

    store
        .pin(&k, req_of(1, 100), true, event("push", "a"))
        .await
        .unwrap();
    store
        .pin(&k, req_of(2, 200), true, event("push", "b"))
        .await
        .unwrap();
    store
        .pin(&neighbour, req_of(3, 100), false, event("push", "c"))
        .await
        .unwrap();
    store
        .put_pending(pending_tag(&k, 4, 1000), event("quarantine", "q"))
        .await
        .unwrap();
    store.set_sig_tag_layers(&k, &[digest(5)]).await.unwrap();
    let pinned = store.get_pin(&k).await.unwrap().unwrap();

    let (retired, record) = store
        .retire_pin(&k, event("retire", "leaked"))
        .await
        .unwrap()
        .unwrap();
    // The whole pin comes back, history included; the record is the caller's event.
    assert_eq!(retired, pinned);
    assert_eq!(retired.history.len(), 1);
    assert_eq!(record.seq, 5);
    assert_eq!(record.event, event("retire", "leaked"));
    assert_eq!(store.get_pin(&k).await.unwrap(), None);
    // Only that pin: the neighbour, and the tag's pending entry and `.sig` layers, stay.
    assert_eq!(
        store.get_pin(&neighbour).await.unwrap(),
        Some(pin_of(3, 100))
    );
    assert_eq!(
        store.pending(&k).await.unwrap(),
        Some(pending_tag(&k, 4, 1000))
    );
    assert_eq!(store.sig_tag_layers(&k).await.unwrap(), [digest(5)]);

    // Retiring it again: nothing left to remove, so no audit record.
    assert_eq!(
        store
            .retire_pin(&k, event("retire", "again"))
            .await
            .unwrap(),
        None
    );
    let log = store.audit(0, 10).await.unwrap();
    assert_eq!(log.len(), 5);
    assert_eq!(log[4].event.reason, "leaked");
    assert_eq!(store.verify_audit().await.unwrap().events, 5);
    store.check_records().await.unwrap();
}

async fn a_retired_tag_can_be_pinned_again_to_another_digest(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    store
        .pin(&k, req_of(1, 100), false, event("push", "first"))
        .await
        .unwrap();
    // Immutable: another digest conflicts while the pin stands.
    let (outcome, _) = store
        .pin(&k, req_of(2, 200), false, event("push", "refused"))
        .await
        .unwrap();
    assert!(matches!(outcome, PinOutcome::Conflict { .. }));

    store
        .retire_pin(&k, event("retire", "rebuilt"))
        .await
        .unwrap()
        .unwrap();
    let (outcome, record) = store
        .pin(&k, req_of(2, 300), false, event("push", "second"))
        .await
        .unwrap();
    assert_eq!(outcome, PinOutcome::Created);
    assert_eq!(record.seq, 4);
    // A fresh pin: the retired one's digest is not carried into its history.
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(2, 300)));
    let reasons: Vec<String> = store
        .audit(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.reason)
        .collect();
    assert_eq!(reasons, ["first", "refused", "rebuilt", "second"]);
    assert_eq!(store.verify_audit().await.unwrap().events, 4);
    store.check_records().await.unwrap();
}

/// An import entry: pin `d` at `at`, with an event naming the tag.
fn import(k: &PinKey, d: u64, at: UnixSecs) -> (PinKey, PinRequest, AuditEvent) {
    let mut e = event("import", &format!("{}:{} -> {d}", k.repository, k.tag));
    e.reference = k.tag.as_str().to_owned();
    (k.clone(), req_of(d, at), e)
}

async fn pin_batch_creates_keeps_and_reports_conflicts_like_pin(store: &impl Harness) {
    let (a, b, c) = (
        key("hub", "team/app", "v1"),
        key("hub", "team/app", "v2"),
        key("hub", "team/other", "v1"),
    );
    store
        .pin(&a, req_of(1, 100), false, event("push", "before"))
        .await
        .unwrap();

    let batch = vec![
        import(&b, 2, 200),
        import(&a, 1, 200), // the same digest: kept as stored
        import(&a, 9, 200), // another digest: refused, the stored pin stays
        import(&c, 3, 200),
        import(&c, 4, 300), // decided against the entry before it in this batch
    ];
    let results = store.pin_batch(batch.clone()).await.unwrap();
    let outcomes: Vec<&PinOutcome> = results.iter().map(|(o, _)| o).collect();
    assert_eq!(
        outcomes,
        [
            &PinOutcome::Created,
            &PinOutcome::Unchanged,
            &PinOutcome::Conflict {
                existing: pin_of(1, 100)
            },
            &PinOutcome::Created,
            &PinOutcome::Conflict {
                existing: pin_of(3, 200)
            },
        ]
    );
    assert_eq!(store.get_pin(&a).await.unwrap(), Some(pin_of(1, 100)));
    assert_eq!(store.get_pin(&b).await.unwrap(), Some(pin_of(2, 200)));
    assert_eq!(store.get_pin(&c).await.unwrap(), Some(pin_of(3, 200)));

    // One audit record per entry, conflicts included, in order, after the earlier push.
    let seqs: Vec<u64> = results.iter().map(|(_, r)| r.seq).collect();
    assert_eq!(seqs, [2, 3, 4, 5, 6]);
    let log = store.audit(0, 10).await.unwrap();
    assert_eq!(log.len(), 6);
    for ((_, returned), (stored, (_, _, event))) in results.iter().zip(log[1..].iter().zip(&batch))
    {
        assert_eq!(returned, stored);
        assert_eq!(&stored.event, event);
    }
    assert_eq!(store.verify_audit().await.unwrap().events, 6);
    store.check_records().await.unwrap();
}

async fn pin_batch_builds_the_chain_pins_one_at_a_time_would(store: &impl Harness) {
    let batch: Vec<_> = (0..50)
        .map(|i| import(&key("hub", &format!("team/app{}", i % 7), "v1"), i, i))
        .collect();
    let one_at_a_time = MemStore::new();
    let mut expected: Vec<(PinOutcome, AuditRecord)> = Vec::new();
    for (k, pin, event) in &batch {
        expected.push(
            one_at_a_time
                .pin(k, pin.clone(), false, event.clone())
                .await
                .unwrap(),
        );
    }
    assert_eq!(store.pin_batch(batch).await.unwrap(), expected);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        one_at_a_time.verify_audit().await.unwrap()
    );
    assert_eq!(
        store.all_pins().await.unwrap(),
        one_at_a_time.all_pins().await.unwrap()
    );
}

async fn pin_batch_writes_all_or_nothing(store: &impl Harness) {
    let (good, broken, later) = (
        key("hub", "team/app", "v1"),
        key("hub", "team/app", "v2"),
        key("hub", "team/app", "v3"),
    );
    store.append_audit(event("pull", "before")).await.unwrap();
    let head = store.verify_audit().await.unwrap();
    // A stored pin that does not decode fails its entry, and with it the whole batch.
    store
        .poke(Tree::Pins, &keys::pin(&broken), Some(b"not a pin".to_vec()))
        .await;
    let err = store
        .pin_batch(vec![
            import(&good, 1, 1),
            import(&broken, 2, 1),
            import(&later, 3, 1),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { tree: "pins", .. }),
        "{err}"
    );
    assert_eq!(store.get_pin(&good).await.unwrap(), None);
    assert_eq!(store.get_pin(&later).await.unwrap(), None);
    assert_eq!(store.verify_audit().await.unwrap(), head);
    assert_eq!(store.audit(0, 10).await.unwrap().len(), 1);
}

async fn an_empty_pin_batch_writes_nothing(store: &impl Harness) {
    assert_eq!(store.pin_batch(Vec::new()).await.unwrap(), []);
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    assert_eq!(store.all_pins().await.unwrap(), []);
}

async fn pin_batch_racing_single_pins_leaves_one_winner_per_tag(store: &impl Harness) {
    const TAGS: u64 = 200;
    let tag = |i: u64| key("hub", "team/app", &format!("v{i}"));
    let barrier = Barrier::new(2);
    let (batch, singles) = std::thread::scope(|s| {
        let batch = s.spawn(|| {
            barrier.wait();
            block_on(store.pin_batch((0..TAGS).map(|i| import(&tag(i), 1, 1)).collect())).unwrap()
        });
        let singles = s.spawn(|| {
            barrier.wait();
            block_on(async {
                let mut outcomes = Vec::new();
                for i in (0..TAGS).rev() {
                    let pinned = store
                        .pin(&tag(i), req_of(2, 2), false, event("push", "single"))
                        .await;
                    outcomes.push(pinned.unwrap().0);
                }
                outcomes
            })
        });
        (batch.join().unwrap(), singles.join().unwrap())
    });
    for (i, (from_batch, single)) in batch.iter().zip(singles.iter().rev()).enumerate() {
        let stored = store.get_pin(&tag(i as u64)).await.unwrap().unwrap();
        // Exactly one of the two created the pin, and the other was refused with it.
        match (&from_batch.0, single) {
            (PinOutcome::Created, PinOutcome::Conflict { existing })
            | (PinOutcome::Conflict { existing }, PinOutcome::Created) => {
                assert_eq!(*existing, stored);
            }
            other => panic!("tag {i}: {other:?}"),
        }
    }
    assert_eq!(store.verify_audit().await.unwrap().events, 2 * TAGS);
}

async fn fifty_racing_pushes_to_one_immutable_tag_have_one_winner(store: &impl Harness) {
    const RACERS: u64 = 50;
    let k = key("hub", "team/app", "v1");
    let barrier = Barrier::new(RACERS as usize);
    let outcomes: Vec<(u64, PinOutcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (k, barrier) = (&k, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (outcome, _) = block_on(store.pin(
                        k,
                        req_of(i, i),
                        false,
                        event("push", &format!("racer {i}")),
                    ))
                    .unwrap();
                    (i, outcome)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u64> = outcomes
        .iter()
        .filter(|(_, o)| *o == PinOutcome::Created)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    let stored = store.get_pin(&k).await.unwrap().unwrap();
    assert_eq!(stored.digest, digest(winner));
    for (i, outcome) in &outcomes {
        if *i != winner {
            assert_eq!(
                *outcome,
                PinOutcome::Conflict {
                    existing: stored.clone()
                }
            );
        }
    }
    // Fifty decisions, fifty audit records, one chain.
    let report = store.verify_audit().await.unwrap();
    assert_eq!(report.events, RACERS);
    let records = store.audit(0, 100).await.unwrap();
    assert_eq!(records.len(), RACERS as usize);
    assert_eq!(records[0].event.reason, format!("racer {winner}"));
}

async fn pin_model_check_against_random_operations(store: &impl Harness) {
    let mut rng = Rng(0x5ea1_6a7e);
    let keys = [
        key("hub", "a", "v1"),
        key("hub", "a", "latest"),
        key("hub", "b/c", "v1"),
        key("other", "a", "v1"),
    ];
    let mut model: HashMap<usize, Pin> = HashMap::new();
    for step in 0..300u64 {
        let which = rng.below(keys.len() as u64) as usize;
        let mutable = rng.below(2) == 0;
        let new = pin_of(rng.below(4), step);
        let (outcome, record) = store
            .pin(
                &keys[which],
                request(new.clone()),
                mutable,
                event("push", "model"),
            )
            .await
            .unwrap();
        assert_eq!(record.seq, step + 1);
        let expected = match model.get(&which).cloned() {
            None => {
                model.insert(which, new);
                PinOutcome::Created
            }
            Some(old) if old.digest == new.digest => PinOutcome::Unchanged,
            Some(old) if !mutable => PinOutcome::Conflict { existing: old },
            Some(old) => {
                let mut moved = new.clone();
                moved.history = old.history.clone();
                moved.history.push(PinMove {
                    digest: old.digest.clone(),
                    replaced_at: new.pinned_at,
                });
                model.insert(which, moved);
                PinOutcome::Moved {
                    previous: old.digest,
                }
            }
        };
        assert_eq!(outcome, expected, "step {step}");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(store.get_pin(k).await.unwrap(), model.get(&i).cloned());
    }
    assert_eq!(store.verify_audit().await.unwrap().events, 300);
    store.check_records().await.unwrap();
}

// ---- signatures, .sig tags, indexes --------------------------------------------------------

async fn signatures_dedupe_and_keep_first_observed_at(store: &impl Harness) {
    assert!(
        store
            .record_signature(signature(1, 10, 0, 100))
            .await
            .unwrap()
    );
    // The same signature seen again later, verified by another signer name.
    let mut again = signature(1, 10, 0, 500);
    again.signer = "renamed".to_owned();
    assert!(!store.record_signature(again).await.unwrap());
    // Identical re-record: not new, nothing to write.
    assert!(
        !store
            .record_signature(signature(1, 10, 0, 900))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_signature(signature(1, 10, 256, 600))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_signature(signature(1, 10, 2, 700))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_signature(signature(1, 9, 0, 800))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_signature(signature(2, 10, 0, 800))
            .await
            .unwrap()
    );

    let found = store.signatures(&digest(1)).await.unwrap();
    let ids: Vec<(Digest, u32, UnixSecs)> = found
        .iter()
        .map(|r| (r.signature_manifest.clone(), r.layer_index, r.observed_at))
        .collect();
    assert_eq!(
        ids,
        [
            (digest(9), 0, 800),
            (digest(10), 0, 100),
            (digest(10), 2, 700),
            (digest(10), 256, 600),
        ]
    );
    assert_eq!(
        found[1].signer, "release",
        "the last re-record wins for other fields"
    );
    assert_eq!(found[1].evidence, (0..=255).collect::<Vec<u8>>());
    assert_eq!(store.signatures(&digest(2)).await.unwrap().len(), 1);
    assert!(store.signatures(&digest(3)).await.unwrap().is_empty());
    // Signatures are facts, not decisions: no audit records.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
}

async fn sig_tag_layers_are_replaced_whole(store: &impl Harness) {
    let k = key("hub", "team/app", "sha256-abc.sig");
    let other = key("hub", "team/app2", "sha256-abc.sig");
    assert!(store.sig_tag_layers(&k).await.unwrap().is_empty());
    store.set_sig_tag_layers(&k, &[digest(1)]).await.unwrap();
    store
        .set_sig_tag_layers(&k, &[digest(1), digest(2)])
        .await
        .unwrap();
    store
        .set_sig_tag_layers(&other, &[digest(7)])
        .await
        .unwrap();
    assert_eq!(
        store.sig_tag_layers(&k).await.unwrap(),
        [digest(1), digest(2)]
    );
    assert_eq!(store.sig_tag_layers(&other).await.unwrap(), [digest(7)]);
    store.set_sig_tag_layers(&k, &[]).await.unwrap();
    assert!(store.sig_tag_layers(&k).await.unwrap().is_empty());
}

async fn index_relations_follow_the_latest_record(store: &impl Harness) {
    store
        .record_index(&digest(100), &[digest(1), digest(2), digest(2)])
        .await
        .unwrap();
    store
        .record_index(&digest(200), &[digest(2)])
        .await
        .unwrap();
    assert_eq!(
        store.indexes_containing(&digest(1)).await.unwrap(),
        [digest(100)]
    );
    assert_eq!(
        store.indexes_containing(&digest(2)).await.unwrap(),
        [digest(100), digest(200)]
    );
    assert!(
        store
            .indexes_containing(&digest(3))
            .await
            .unwrap()
            .is_empty()
    );
    // Idempotent.
    store
        .record_index(&digest(200), &[digest(2)])
        .await
        .unwrap();
    assert_eq!(store.indexes_containing(&digest(2)).await.unwrap().len(), 2);
    // Re-recorded with other children: the relations follow.
    store
        .record_index(&digest(100), &[digest(1)])
        .await
        .unwrap();
    assert_eq!(
        store.indexes_containing(&digest(2)).await.unwrap(),
        [digest(200)]
    );
    assert_eq!(
        store.indexes_containing(&digest(1)).await.unwrap(),
        [digest(100)]
    );
    store.check_records().await.unwrap();
}

async fn record_index_skips_identical_children_and_still_follows_changes(store: &impl Harness) {
    let index = digest(100);
    let recorded = async || -> Vec<Digest> {
        let raw = store
            .peek(Tree::IndexChildren, &keys::index_children(&index))
            .await
            .unwrap();
        codec::decode::<IndexChildren>(Tree::IndexChildren, &raw)
            .unwrap()
            .children
    };
    store
        .record_index(&index, &[digest(2), digest(1), digest(2)])
        .await
        .unwrap();
    assert_eq!(
        recorded().await,
        [digest(1), digest(2)],
        "deduplicated, sorted"
    );
    // The same children in another order, with duplicates: already recorded.
    store
        .record_index(&index, &[digest(1), digest(2)])
        .await
        .unwrap();
    store
        .record_index(&index, &[digest(2), digest(2), digest(1)])
        .await
        .unwrap();
    assert_eq!(recorded().await, [digest(1), digest(2)]);
    assert_eq!(
        store.indexes_containing(&digest(1)).await.unwrap(),
        [digest(100)]
    );
    assert_eq!(
        store.indexes_containing(&digest(2)).await.unwrap(),
        [digest(100)]
    );
    // A subset is a change, not "already recorded": the relations follow it.
    store.record_index(&index, &[digest(1)]).await.unwrap();
    assert_eq!(recorded().await, [digest(1)]);
    assert!(
        store
            .indexes_containing(&digest(2))
            .await
            .unwrap()
            .is_empty()
    );
    // And back to the larger set.
    store
        .record_index(&index, &[digest(1), digest(2)])
        .await
        .unwrap();
    assert_eq!(
        store.indexes_containing(&digest(2)).await.unwrap(),
        [digest(100)]
    );
    // No children at all, twice.
    store.record_index(&digest(200), &[]).await.unwrap();
    store.record_index(&digest(200), &[]).await.unwrap();
    assert_eq!(
        store.indexes_containing(&digest(1)).await.unwrap(),
        [digest(100)]
    );
    store.check_records().await.unwrap();
}

// ---- blob owners and referrers -------------------------------------------------------------

async fn blob_owners_list_every_manifest_with_its_kind(store: &impl Harness) {
    use ManifestKind::{Image, Signature};
    let (config, layer, shared) = (digest(1), digest(2), digest(3));
    let (image, sig, big) = (digest(20), digest(10), digest512(5));
    store
        .record_blobs(
            &image,
            Image,
            &[config.clone(), layer.clone(), shared.clone(), layer.clone()],
        )
        .await
        .unwrap();
    store
        .record_blobs(&big, Image, std::slice::from_ref(&shared))
        .await
        .unwrap();
    store
        .record_blobs(&sig, Signature, std::slice::from_ref(&shared))
        .await
        .unwrap();
    assert_eq!(
        store.blob_owners(&config).await.unwrap(),
        [(image.clone(), Image)]
    );
    assert_eq!(
        store.blob_owners(&layer).await.unwrap(),
        [(image.clone(), Image)]
    );
    // In digest order, whatever the order of recording; sha256 before sha512.
    assert_eq!(
        store.blob_owners(&shared).await.unwrap(),
        [
            (sig.clone(), Signature),
            (image.clone(), Image),
            (big.clone(), Image)
        ]
    );
    assert!(store.blob_owners(&digest(4)).await.unwrap().is_empty());
    assert!(
        store.blob_owners(&image).await.unwrap().is_empty(),
        "a manifest is not its own blob"
    );

    // Idempotent, and a subset of what is recorded is recorded.
    store
        .record_blobs(&image, Image, &[layer.clone(), config.clone()])
        .await
        .unwrap();
    store.record_blobs(&image, Image, &[]).await.unwrap();
    assert_eq!(
        store.blob_owners(&layer).await.unwrap(),
        [(image.clone(), Image)]
    );
    // Recorded with another kind: the latest kind wins, for the blobs given.
    store
        .record_blobs(&image, Signature, std::slice::from_ref(&layer))
        .await
        .unwrap();
    assert_eq!(
        store.blob_owners(&layer).await.unwrap(),
        [(image.clone(), Signature)]
    );
    assert_eq!(store.blob_owners(&config).await.unwrap(), [(image, Image)]);
    // Facts, not decisions: no audit records.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    store.check_records().await.unwrap();
}

async fn referrers_are_scoped_to_their_upstream_repository_and_subject(store: &impl Harness) {
    let subject = digest(1);
    let record = async |upstream: &str, repository: &str, subject: &Digest, referrer: Referrer| {
        store
            .record_referrer(upstream, &repo(repository), subject, referrer)
            .await
            .unwrap()
    };
    let listed = async |upstream: &str, repository: &str, subject: &Digest| -> Vec<Digest> {
        store
            .referrers(upstream, &repo(repository), subject)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.digest)
            .collect()
    };
    assert!(record("hub", "a", &subject, referrer(20)).await);
    assert!(record("hub", "a", &subject, referrer_of(digest512(5))).await);
    assert!(record("hub", "a", &subject, referrer(10)).await);
    assert!(record("hub", "a/b", &subject, referrer(30)).await);
    assert!(record("hub", "ab", &subject, referrer(31)).await);
    assert!(record("hub2", "a", &subject, referrer(40)).await);
    assert!(record("hu", "a", &subject, referrer(41)).await);
    assert!(record("hub", "a", &digest(2), referrer(50)).await);

    // Referrer-digest order, whatever the order of recording; sha256 before sha512.
    assert_eq!(
        listed("hub", "a", &subject).await,
        [digest(10), digest(20), digest512(5)]
    );
    assert_eq!(
        store.referrers("hub", &repo("a"), &subject).await.unwrap()[0],
        referrer(10),
        "the whole descriptor comes back"
    );
    // Repository `a` does not see `a/b`'s or `ab`'s, nor they `a`'s.
    assert_eq!(listed("hub", "a/b", &subject).await, [digest(30)]);
    assert_eq!(listed("hub", "ab", &subject).await, [digest(31)]);
    // Another upstream's are not seen, whichever is a string prefix of the other.
    assert_eq!(listed("hub2", "a", &subject).await, [digest(40)]);
    assert_eq!(listed("hu", "a", &subject).await, [digest(41)]);
    assert!(listed("h", "a", &subject).await.is_empty());
    // Another subject's are not seen.
    assert_eq!(listed("hub", "a", &digest(2)).await, [digest(50)]);
    assert!(listed("hub", "a", &digest(3)).await.is_empty());
    assert!(listed("hub", "b", &subject).await.is_empty());
    // Facts, not decisions: no audit records.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    store.check_records().await.unwrap();
}

async fn referrers_dedupe_and_follow_the_latest_descriptor(store: &impl Harness) {
    let (upstream, repository, subject) = ("hub", repo("team/app"), digest(1));
    let record = async |referrer: Referrer| {
        store
            .record_referrer(upstream, &repository, &subject, referrer)
            .await
            .unwrap()
    };
    assert!(record(referrer(10)).await);
    assert!(
        !record(referrer(10)).await,
        "the same referrer again is not new"
    );
    assert_eq!(
        store
            .referrers(upstream, &repository, &subject)
            .await
            .unwrap(),
        [referrer(10)]
    );
    let mut changed = referrer(10);
    changed.artifact_type = None;
    changed
        .annotations
        .insert("dev.sigstore.bundle.content".to_owned(), "dsse".to_owned());
    assert!(!record(changed.clone()).await, "same digest: not new");
    assert_eq!(
        store
            .referrers(upstream, &repository, &subject)
            .await
            .unwrap(),
        [changed]
    );
    // The same referrer of another subject is another fact.
    assert!(
        store
            .record_referrer(upstream, &repository, &digest(2), referrer(10))
            .await
            .unwrap()
    );
    store.check_records().await.unwrap();
}

async fn signature_manifests_are_scoped_and_only_grow(store: &impl Harness) {
    let manifest = digest(7);
    let signed = |subject: u64, layers: &[u64]| SignedSubject {
        subject: digest(subject),
        layers: layers.iter().map(|&l| digest(l)).collect(),
    };
    let record = async |upstream: &str, repository: &str, manifest: &Digest, s: SignedSubject| {
        store
            .record_signature_manifest(upstream, &repo(repository), manifest, &s)
            .await
            .unwrap()
    };
    let subjects = async |upstream: &str, repository: &str, manifest: &Digest| {
        store
            .signature_manifest_subjects(upstream, &repo(repository), manifest)
            .await
            .unwrap()
    };
    assert!(subjects("hub", "a", &manifest).await.is_empty());
    assert!(record("hub", "a", &manifest, signed(2, &[11, 10])).await);
    assert!(record("hub", "a", &manifest, signed(1, &[10])).await);
    assert!(
        record(
            "hub",
            "a",
            &manifest,
            SignedSubject {
                subject: digest512(3),
                layers: vec![],
            }
        )
        .await,
        "a subject with no layers read is still a fact"
    );
    // Subject-digest order (sha256 before sha512); layers sorted, no duplicates.
    assert_eq!(
        subjects("hub", "a", &manifest).await,
        [
            signed(1, &[10]),
            signed(2, &[10, 11]),
            SignedSubject {
                subject: digest512(3),
                layers: vec![]
            }
        ]
    );
    // Recording a subset again changes nothing; new layers are added, none removed.
    assert!(!record("hub", "a", &manifest, signed(2, &[10])).await);
    assert!(!record("hub", "a", &manifest, signed(2, &[12])).await);
    assert_eq!(
        subjects("hub", "a", &manifest).await[1],
        signed(2, &[10, 11, 12])
    );
    // Only exactly that upstream, repository and manifest.
    for (upstream, repository, m) in [
        ("hub", "a/b", &manifest),
        ("hub", "ab", &manifest),
        ("hub2", "a", &manifest),
        ("hu", "a", &manifest),
        ("hub", "a", &digest(8)),
        ("hub", "a", &digest(1)),
    ] {
        assert!(
            subjects(upstream, repository, m).await.is_empty(),
            "{upstream} {repository} {m}"
        );
    }
    assert!(record("hub", "a/b", &manifest, signed(1, &[10])).await);
    assert_eq!(subjects("hub", "a/b", &manifest).await, [signed(1, &[10])]);
    assert_eq!(subjects("hub", "a", &manifest).await.len(), 3);
    // Facts, not decisions: no audit records.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    store.check_records().await.unwrap();
}

// ---- quarantine ----------------------------------------------------------------------------

async fn pending_lifecycle_and_digest_index(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    let k2 = key("hub", "team/other", "v1");
    assert_eq!(store.pending(&k).await.unwrap(), None);
    assert_eq!(
        store
            .remove_pending(&k, event("promote", "nothing"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.verify_audit().await.unwrap().events,
        0,
        "no entry, no audit"
    );

    let rec = store
        .put_pending(pending_tag(&k, 1, 1000), event("quarantine", "q1"))
        .await
        .unwrap();
    assert_eq!(rec.seq, 1);
    store
        .put_pending(pending_tag(&k2, 1, 1000), event("quarantine", "q2"))
        .await
        .unwrap();
    assert_eq!(
        store.pending(&k).await.unwrap(),
        Some(pending_tag(&k, 1, 1000))
    );
    assert_eq!(store.pending_for_digest(&digest(1)).await.unwrap().len(), 2);

    // Re-pointing a pending tag moves it in the digest index.
    store
        .put_pending(pending_tag(&k, 2, 2000), event("quarantine", "q3"))
        .await
        .unwrap();
    assert_eq!(
        store.pending_for_digest(&digest(1)).await.unwrap(),
        [pending_tag(&k2, 1, 1000)]
    );
    assert_eq!(
        store.pending_for_digest(&digest(2)).await.unwrap(),
        [pending_tag(&k, 2, 2000)]
    );

    let (removed, rec) = store
        .remove_pending(&k, event("promote", "signed"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed, pending_tag(&k, 2, 2000));
    assert_eq!(rec.seq, 4);
    assert_eq!(rec.event.reason, "signed");
    assert_eq!(store.pending(&k).await.unwrap(), None);
    assert!(
        store
            .pending_for_digest(&digest(2))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .remove_pending(&k, event("promote", "again"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.verify_audit().await.unwrap().events, 4);
    store.check_records().await.unwrap();
}

async fn pinning_a_held_tag_clears_its_pending_entry_in_the_same_transaction(store: &impl Harness) {
    let k = key("hub", "team/app", "v2");
    let neighbour = key("hub", "team/app", "v3");
    // An unsigned push held first (the squatter), another tag held for the same digest.
    store
        .put_pending(pending_tag(&k, 7, 1000), event("quarantine", "squat"))
        .await
        .unwrap();
    store
        .put_pending(
            pending_tag(&neighbour, 7, 1000),
            event("quarantine", "other"),
        )
        .await
        .unwrap();
    let cleared_event = |p: &PendingTag| {
        let mut e = event("clear-pending", "superseded by a pin");
        e.digest = Some(p.digest.to_string());
        e
    };
    let done = store
        .pin_clearing_pending(
            &k,
            req_of(1, 100),
            false,
            event("push", "signed"),
            &cleared_event,
        )
        .await
        .unwrap();
    assert_eq!(done.outcome, PinOutcome::Created);
    assert_eq!(done.record.seq, 3);
    assert_eq!(done.record.event.reason, "signed");
    let (pending, record) = done.cleared.expect("the held entry is cleared");
    assert_eq!(pending, pending_tag(&k, 7, 1000));
    // Audited after the pin, naming the digest that was held.
    assert_eq!(record.seq, 4);
    assert_eq!(record.event.action, "clear-pending");
    assert_eq!(record.event.digest, Some(digest(7).to_string()));
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 100)));
    assert_eq!(store.pending(&k).await.unwrap(), None);
    // The digest index forgets this tag only: promoting digest 7 later cannot reach v2.
    assert_eq!(
        store.pending_for_digest(&digest(7)).await.unwrap(),
        [pending_tag(&neighbour, 7, 1000)]
    );
    assert!(store.expired_pending(u64::MAX).await.unwrap().len() == 1);

    // A pin that conflicts still clears: the tag stays pinned, and an immutable pinned tag's
    // held entry could never be promoted.
    store
        .put_pending(pending_tag(&k, 8, 1000), event("quarantine", "again"))
        .await
        .unwrap();
    let done = store
        .pin_clearing_pending(
            &k,
            req_of(9, 200),
            false,
            event("pull", "x"),
            &cleared_event,
        )
        .await
        .unwrap();
    assert!(matches!(done.outcome, PinOutcome::Conflict { .. }));
    assert_eq!(done.cleared.map(|(p, _)| p.digest), Some(digest(8)));
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 100)));
    assert_eq!(store.pending(&k).await.unwrap(), None);
    assert_eq!(store.verify_audit().await.unwrap().events, 7);
    store.check_records().await.unwrap();
}

async fn pinning_a_tag_without_a_pending_entry_audits_only_the_pin(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    let never = |_: &PendingTag| -> AuditEvent { panic!("no entry, no event") };
    let done = store
        .pin_clearing_pending(&k, req_of(1, 100), true, event("push", "a"), &never)
        .await
        .unwrap();
    assert_eq!((done.outcome, done.cleared), (PinOutcome::Created, None));
    let done = store
        .pin_clearing_pending(&k, req_of(2, 200), true, event("push", "b"), &never)
        .await
        .unwrap();
    assert_eq!(
        done.outcome,
        PinOutcome::Moved {
            previous: digest(1)
        }
    );
    assert_eq!(store.verify_audit().await.unwrap().events, 2);
    store.check_records().await.unwrap();
}

async fn a_failed_clearing_leaves_neither_pin_nor_removal(store: &impl Harness) {
    let k = key("hub", "team/app", "v2");
    store
        .put_pending(pending_tag(&k, 7, 1000), event("quarantine", "held"))
        .await
        .unwrap();
    // The clearing's audit record (seq 3, after the pin's) cannot be written: a record already
    // sits there. The whole transaction must fail, the pin included.
    store
        .poke(Tree::Audit, &keys::audit(3), Some(b"occupied".to_vec()))
        .await;
    let result = store
        .pin_clearing_pending(&k, req_of(1, 100), false, event("push", "signed"), &|_| {
            event("clear-pending", "x")
        })
        .await;
    assert!(
        matches!(result, Err(StorageError::Corrupt { tree: "audit", .. })),
        "{result:?}"
    );
    assert_eq!(store.get_pin(&k).await.unwrap(), None);
    assert_eq!(
        store.pending(&k).await.unwrap(),
        Some(pending_tag(&k, 7, 1000))
    );
    assert_eq!(
        store.peek(Tree::Audit, &keys::audit(2)).await,
        None,
        "not even the pin's record"
    );
}

async fn pending_expiry_boundary(store: &impl Harness) {
    for (i, expires_at) in [(1u64, 100u64), (2, 200), (3, 300)] {
        let k = key("hub", "team/app", &format!("v{i}"));
        store
            .put_pending(pending_tag(&k, i, expires_at), event("quarantine", "q"))
            .await
            .unwrap();
    }
    let expired = async |now| -> Vec<UnixSecs> {
        let mut at: Vec<_> = store
            .expired_pending(now)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.expires_at)
            .collect();
        at.sort_unstable();
        at
    };
    assert!(expired(99).await.is_empty());
    assert_eq!(
        expired(100).await,
        [100],
        "expired from the second it expires"
    );
    assert_eq!(expired(250).await, [100, 200]);
    assert_eq!(expired(u64::MAX).await, [100, 200, 300]);
}

// ---- revocations ---------------------------------------------------------------------------

async fn revocations_round_trip_and_replace_one_record_per_signer(store: &impl Harness) {
    assert!(store.revocations().await.unwrap().is_empty());
    let fingerprint = format!("sha256:{}", "ab".repeat(32));
    let key = key_revocation(&fingerprint, "leaked");
    let cert = cert_revocation("CN=Example CA", "1a2b", "mis-issued");

    let (new, first) = store
        .record_revocation(key.clone(), event("revoke", "key"))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(first.seq, 1);
    assert_eq!(first.event, event("revoke", "key"));
    let (new, _) = store
        .record_revocation(cert.clone(), event("revoke", "cert"))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(
        store.revocations().await.unwrap(),
        [key.clone(), cert.clone()]
    );

    // The same signer again: its record is replaced whole, and the change is audited.
    let mut restated = key.clone();
    restated.reason = "leaked on the CI runner".to_owned();
    restated.at = 1_700_000_500;
    restated.by = None;
    let (new, third) = store
        .record_revocation(restated.clone(), event("revoke", "key again"))
        .await
        .unwrap();
    assert!(!new);
    assert_eq!(third.seq, 3);
    assert_eq!(
        store.revocations().await.unwrap(),
        [restated.clone(), cert.clone()]
    );
    // An identical restatement is still a decision, so still audited.
    let (new, fourth) = store
        .record_revocation(restated.clone(), event("revoke", "identical"))
        .await
        .unwrap();
    assert!(!new);
    assert_eq!(fourth.seq, 4);

    // Stored as given: no normalisation, nothing rejected. A serial with leading zeros or
    // upper case, or an empty name, is another signer.
    let odd = [
        cert_revocation("CN=Example CA", "01A2B", "as typed"),
        cert_revocation("", "", "empty"),
        key_revocation("", "empty"),
        cert_revocation("CN=Example CA", "1a2b", "x"),
    ];
    let mut news = Vec::new();
    for r in &odd {
        news.push(
            store
                .record_revocation(r.clone(), event("revoke", "odd"))
                .await
                .unwrap()
                .0,
        );
    }
    assert_eq!(news, [true, true, true, false]);
    let listed = store.revocations().await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.contains(&odd[0]) && listed.contains(&odd[1]) && listed.contains(&odd[2]));
    assert!(listed.contains(&odd[3]), "the last record of a signer wins");
    assert!(!listed.contains(&cert));

    assert_eq!(store.verify_audit().await.unwrap().events, 8);
    store.check_records().await.unwrap();
}

async fn revocations_list_keys_first_then_certificates_in_key_order(store: &impl Harness) {
    // Recorded out of order, with names whose stored keys sort otherwise (length first).
    let recorded = [
        cert_revocation("CN=Z", "1", "c1"),
        key_revocation("sha256:ff", "k1"),
        cert_revocation("CN=Example CA", "ff", "c2"),
        cert_revocation("CN=Example CA", "1", "c3"),
        key_revocation("sha256:0000", "k2"),
        cert_revocation("CN=Example CA", "10", "c4"),
        key_revocation("sha256:1", "k3"),
    ];
    for r in &recorded {
        store
            .record_revocation(r.clone(), event("revoke", &r.reason))
            .await
            .unwrap();
    }
    let reasons: Vec<String> = store
        .revocations()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(reasons, ["k2", "k3", "k1", "c3", "c4", "c2", "c1"]);
    // Revoking changes no pin.
    assert!(store.all_pins().await.unwrap().is_empty());
    assert_eq!(
        store.verify_audit().await.unwrap().events,
        recorded.len() as u64
    );
}

// ---- audit ---------------------------------------------------------------------------------

async fn audit_appends_chain_and_page(store: &impl Harness) {
    let records = append_n(store, 5).await;
    assert_eq!(records[0].prev_hash, "0".repeat(64));
    for pair in records.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(store.audit(0, 2).await.unwrap(), records[..2]);
    assert_eq!(store.audit(2, 10).await.unwrap(), records[2..]);
    assert!(store.audit(5, 10).await.unwrap().is_empty());
    assert!(store.audit(u64::MAX, 10).await.unwrap().is_empty());
    assert!(store.audit(0, 0).await.unwrap().is_empty());
    let report = store.verify_audit().await.unwrap();
    assert_eq!(report.events, 5);
    assert_eq!(report.head, records[4].hash);
}

async fn verify_on_an_empty_log(store: &impl Harness) {
    let report = store.verify_audit().await.unwrap();
    assert_eq!(report.events, 0);
    assert_eq!(report.head, "0".repeat(64));
}

async fn verify_finds_a_gap(store: &impl Harness) {
    append_n(store, 5).await;
    store.poke(Tree::Audit, &keys::audit(3), None).await;
    assert!(
        matches!(
            store.verify_audit().await,
            Err(AuditError::Gap {
                expected: 3,
                found: 4
            })
        ),
        "{:?}",
        store.verify_audit().await
    );
    store.poke(Tree::Audit, &keys::audit(1), None).await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::Gap {
            expected: 1,
            found: 2
        })
    ));
}

async fn verify_finds_an_edited_byte(store: &impl Harness) {
    append_n(store, 5).await;
    let mut raw = store.peek(Tree::Audit, &keys::audit(2)).await.unwrap();
    let at = raw
        .windows(7)
        .position(|w| w == b"event 2")
        .expect("the reason is stored");
    raw[at] = b'E';
    store.poke(Tree::Audit, &keys::audit(2), Some(raw)).await;
    assert!(
        matches!(
            store.verify_audit().await,
            Err(AuditError::Edited { seq: 2 })
        ),
        "{:?}",
        store.verify_audit().await
    );
    // The edited record still decodes: only the chain tells.
    assert_eq!(store.audit(1, 1).await.unwrap()[0].event.reason, "Event 2");
}

async fn verify_finds_a_reordering(store: &impl Harness) {
    append_n(store, 5).await;
    let two = store.peek(Tree::Audit, &keys::audit(2)).await.unwrap();
    let three = store.peek(Tree::Audit, &keys::audit(3)).await.unwrap();
    store.poke(Tree::Audit, &keys::audit(2), Some(three)).await;
    store.poke(Tree::Audit, &keys::audit(3), Some(two)).await;
    assert!(
        matches!(
            store.verify_audit().await,
            Err(AuditError::Reordered { seq: 2, found: 3 })
        ),
        "{:?}",
        store.verify_audit().await
    );
}

async fn verify_finds_a_truncated_log_and_a_rolled_back_head(store: &impl Harness) {
    append_n(store, 5).await;
    // What the head was after record 3.
    let three = store.audit(2, 1).await.unwrap().remove(0);
    let mut hash = [0u8; 32];
    hex::decode_to_slice(&three.hash, &mut hash).unwrap();
    let head_after_3 = codec::encode_head(&AuditHead { seq: 3, hash }).unwrap();
    let head_now = store.peek(Tree::Meta, keys::AUDIT_HEAD).await.unwrap();

    // The head rolled back while the records stay: records past the head.
    store
        .poke(Tree::Meta, keys::AUDIT_HEAD, Some(head_after_3))
        .await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::HeadMismatch)
    ));

    // The log's tail cut off while the head stays.
    store
        .poke(Tree::Meta, keys::AUDIT_HEAD, Some(head_now))
        .await;
    store.verify_audit().await.unwrap();
    store.poke(Tree::Audit, &keys::audit(5), None).await;
    store.poke(Tree::Audit, &keys::audit(4), None).await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::HeadMismatch)
    ));

    // The head gone altogether while records exist.
    store.poke(Tree::Meta, keys::AUDIT_HEAD, None).await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::HeadMismatch)
    ));
}

async fn verify_finds_a_corrupt_head_and_corrupt_records(store: &impl Harness) {
    append_n(store, 3).await;
    let head = store.peek(Tree::Meta, keys::AUDIT_HEAD).await.unwrap();
    // A head cut short on disk.
    store
        .poke(
            Tree::Meta,
            keys::AUDIT_HEAD,
            Some(head[..head.len() / 2].to_vec()),
        )
        .await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::Storage(StorageError::Corrupt {
            tree: "meta",
            ..
        }))
    ));
    store.poke(Tree::Meta, keys::AUDIT_HEAD, Some(head)).await;

    // A record cut short.
    let two = store.peek(Tree::Audit, &keys::audit(2)).await.unwrap();
    store
        .poke(Tree::Audit, &keys::audit(2), Some(two[..10].to_vec()))
        .await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::Corrupt { seq: 2, .. })
    ));
    assert!(matches!(
        store.audit(0, 10).await,
        Err(StorageError::Corrupt { tree: "audit", .. })
    ));
    store.poke(Tree::Audit, &keys::audit(2), Some(two)).await;

    // A key that is not a sequence number.
    store.poke(Tree::Audit, b"junk", Some(b"{}".to_vec())).await;
    assert!(matches!(
        store.verify_audit().await,
        Err(AuditError::Corrupt { .. })
    ));
}

async fn append_never_overwrites_a_record_past_the_head(store: &impl Harness) {
    append_n(store, 2).await;
    let record_2 = store.peek(Tree::Audit, &keys::audit(2)).await.unwrap();
    store.poke(Tree::Meta, keys::AUDIT_HEAD, None).await;
    store
        .append_audit(event("pull", "restarts the chain at 1?"))
        .await
        .unwrap_err();
    let k = key("hub", "team/app", "v1");
    assert!(matches!(
        store.pin(&k, req_of(1, 1), false, event("push", "x")).await,
        Err(StorageError::Corrupt { tree: "audit", .. })
    ));
    // Nothing was written: not the pin, not the record.
    assert_eq!(store.get_pin(&k).await.unwrap(), None);
    assert_eq!(
        store.peek(Tree::Audit, &keys::audit(2)).await,
        Some(record_2)
    );
}

// ---- corruption and versions ---------------------------------------------------------------

async fn corrupt_records_are_errors_not_panics(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    let garbage = Some(b"\xff\x00not json".to_vec());
    store
        .poke(Tree::Pins, &keys::pin(&k), garbage.clone())
        .await;
    store
        .poke(
            Tree::Signatures,
            &keys::signature(&digest(1), &digest(2), 0),
            garbage.clone(),
        )
        .await;
    store
        .poke(Tree::SigTags, &keys::pin(&k), garbage.clone())
        .await;
    store
        .poke(Tree::Pending, &keys::pin(&k), garbage.clone())
        .await;
    store
        .poke(
            Tree::IndexParents,
            &keys::index_parents_of(&digest(1)),
            Some(Vec::new()),
        )
        .await;
    store
        .poke(
            Tree::BlobOwners,
            &keys::blob_owner(&digest(1), &digest(2)),
            garbage.clone(),
        )
        .await;
    let (upstream, repository) = (k.upstream.as_str(), &k.repository);
    store
        .poke(
            Tree::Referrers,
            &keys::referrer(upstream, repository, &digest(1), &digest(2)),
            garbage.clone(),
        )
        .await;
    // A well-formed referrer under another referrer's key.
    store
        .poke(
            Tree::Referrers,
            &keys::referrer(upstream, repository, &digest(3), &digest(4)),
            Some(codec::encode(Tree::Referrers, &referrer(5)).unwrap()),
        )
        .await;
    store
        .poke(
            Tree::SignatureManifests,
            &keys::signature_manifest(upstream, repository, &digest(1), &digest(2)),
            garbage.clone(),
        )
        .await;
    let revoked = key_revocation("sha256:ab", "leaked");
    store
        .poke(
            Tree::Revocations,
            &keys::revocation(&revoked.signer),
            garbage.clone(),
        )
        .await;

    let is_corrupt = |r: Result<(), StorageError>, tree: &str| match r {
        Err(StorageError::Corrupt { tree: t, .. }) if t == tree => {}
        other => panic!("expected corruption in {tree}, got {other:?}"),
    };
    is_corrupt(store.get_pin(&k).await.map(drop), "pins");
    is_corrupt(store.pins("hub", None).await.map(drop), "pins");
    is_corrupt(
        store
            .pin(&k, req_of(1, 1), false, event("push", "x"))
            .await
            .map(drop),
        "pins",
    );
    is_corrupt(store.signatures(&digest(1)).await.map(drop), "signatures");
    is_corrupt(
        store
            .record_signature(signature(1, 2, 0, 1))
            .await
            .map(drop),
        "signatures",
    );
    is_corrupt(store.sig_tag_layers(&k).await.map(drop), "sig_tags");
    is_corrupt(
        store
            .signature_manifest_subjects(upstream, repository, &digest(1))
            .await
            .map(drop),
        "signature_manifests",
    );
    is_corrupt(
        store
            .record_signature_manifest(
                upstream,
                repository,
                &digest(1),
                &SignedSubject {
                    subject: digest(2),
                    layers: vec![digest(3)],
                },
            )
            .await
            .map(drop),
        "signature_manifests",
    );
    is_corrupt(store.pending(&k).await.map(drop), "pending");
    is_corrupt(store.expired_pending(0).await.map(drop), "pending");
    is_corrupt(
        store
            .put_pending(pending_tag(&k, 1, 1), event("quarantine", "x"))
            .await
            .map(drop),
        "pending",
    );
    is_corrupt(
        store
            .remove_pending(&k, event("promote", "x"))
            .await
            .map(drop),
        "pending",
    );
    is_corrupt(
        store.indexes_containing(&digest(1)).await.map(drop),
        "index_parents",
    );
    is_corrupt(store.blob_owners(&digest(1)).await.map(drop), "blob_owners");
    is_corrupt(
        store
            .record_blobs(&digest(2), ManifestKind::Image, &[digest(1)])
            .await,
        "blob_owners",
    );
    is_corrupt(
        store
            .referrers(upstream, repository, &digest(1))
            .await
            .map(drop),
        "referrers",
    );
    is_corrupt(
        store
            .record_referrer(upstream, repository, &digest(1), referrer(2))
            .await
            .map(drop),
        "referrers",
    );
    is_corrupt(
        store
            .referrers(upstream, repository, &digest(3))
            .await
            .map(drop),
        "referrers",
    );
    is_corrupt(store.all_pins().await.map(drop), "pins");
    is_corrupt(
        store.retire_pin(&k, event("retire", "x")).await.map(drop),
        "pins",
    );
    is_corrupt(store.revocations().await.map(drop), "revocations");
    is_corrupt(
        store
            .record_revocation(revoked.clone(), event("revoke", "x"))
            .await
            .map(drop),
        "revocations",
    );
    assert!(matches!(
        store.check_records().await,
        Err(StorageError::Corrupt { .. })
    ));
    // The failed writes wrote nothing, not even their audit events.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    assert!(
        store.peek(Tree::Pins, &keys::pin(&k)).await.is_some(),
        "not retired"
    );

    // A well-formed revocation under another signer's key, and a key of an unknown kind.
    let other = cert_revocation("CN=Example CA", "1a2b", "x");
    store
        .poke(
            Tree::Revocations,
            &keys::revocation(&revoked.signer),
            Some(codec::encode(Tree::Revocations, &other).unwrap()),
        )
        .await;
    is_corrupt(store.revocations().await.map(drop), "revocations");
    is_corrupt(
        store
            .record_revocation(revoked.clone(), event("revoke", "x"))
            .await
            .map(drop),
        "revocations",
    );
    store
        .poke(Tree::Revocations, &keys::revocation(&revoked.signer), None)
        .await;
    store
        .record_revocation(other, event("revoke", "x"))
        .await
        .unwrap();
    let mut unknown_kind = keys::upstream_prefix("serial");
    unknown_kind.extend_from_slice(&keys::upstream_prefix("1a2b"));
    store
        .poke(
            Tree::Revocations,
            &unknown_kind,
            Some(codec::encode(Tree::Revocations, &revoked).unwrap()),
        )
        .await;
    is_corrupt(store.revocations().await.map(drop), "revocations");

    // A key that is not well-formed in a listed tree.
    store.poke(Tree::Pins, &keys::pin(&k), None).await;
    let mut bad_key = keys::upstream_prefix("hub");
    bad_key.extend_from_slice(&[0, 0, 0, 9, b'x']);
    store
        .poke(
            Tree::Pins,
            &bad_key,
            Some(codec::encode(Tree::Pins, &pin_of(1, 1)).unwrap()),
        )
        .await;
    is_corrupt(store.pins("hub", None).await.map(drop), "pins");
}

async fn random_bytes_in_every_tree_never_panic(store: &impl Harness) {
    let mut rng = Rng(0xbad_5eed);
    let k = key("hub", "team/app", "v1");
    for round in 0..200 {
        let len = rng.below(64) as usize;
        let mut value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Sometimes start like a real record, so decoding gets further.
        if round % 3 == 0 {
            value.splice(0..0, *b"{\"v\":1,");
        }
        let tree = Tree::ALL[rng.below(Tree::ALL.len() as u64) as usize];
        let key = match tree {
            Tree::Meta => keys::AUDIT_HEAD.to_vec(),
            Tree::Audit => keys::audit(1 + rng.below(3)).to_vec(),
            Tree::Signatures => keys::signature(&digest(1), &digest(2), 0),
            Tree::IndexChildren => keys::index_children(&digest(1)),
            Tree::IndexParents => keys::index_parent(&digest(1), &digest(2)),
            Tree::BlobOwners => keys::blob_owner(&digest(1), &digest(2)),
            Tree::Referrers => keys::referrer("hub", &k.repository, &digest(1), &digest(2)),
            Tree::SignatureManifests => {
                keys::signature_manifest("hub", &k.repository, &digest(1), &digest(2))
            }
            Tree::PendingByDigest => keys::pending_by_digest(&digest(1), &k),
            Tree::Revocations if round % 2 == 0 => {
                keys::revocation(&key_revocation("sha256:ab", "r").signer)
            }
            Tree::Revocations => keys::revocation(&cert_revocation("CN=CA", "1", "r").signer),
            Tree::Pins | Tree::SigTags | Tree::Pending => keys::pin(&k),
            Tree::Fleet => keys::FLEET_GENERATION.to_vec(),
            Tree::DriftReports => keys::drift_report(&k, &digest(2)),
            Tree::Replicas => keys::replica("replica-a"),
            Tree::TagLeases => keys::pin(&k),
        };
        store.poke(tree, &key, Some(value)).await;
        // Whatever each returns, none panics.
        let _ = store.get_pin(&k).await;
        let _ = store.pins("hub", None).await;
        let _ = store.signatures(&digest(1)).await;
        let _ = store.sig_tag_layers(&k).await;
        let _ = store.indexes_containing(&digest(1)).await;
        let _ = store.blob_owners(&digest(1)).await;
        let _ = store.referrers("hub", &k.repository, &digest(1)).await;
        let _ = store
            .signature_manifest_subjects("hub", &k.repository, &digest(1))
            .await;
        let _ = store.pending(&k).await;
        let _ = store.pending_for_digest(&digest(1)).await;
        let _ = store.expired_pending(u64::MAX).await;
        let _ = store.all_pins().await;
        let _ = store.revocations().await;
        let _ = store.size_on_disk().await;
        let _ = store.audit(0, 10).await;
        let _ = store.verify_audit().await;
        let _ = store.check_records().await;
        let _ = store.append_audit(event("pull", "x")).await;
        let _ = store.pin(&k, req_of(1, 1), true, event("push", "x")).await;
        let _ = store.record_signature(signature(1, 2, 0, 1)).await;
        let _ = store
            .put_pending(pending_tag(&k, 1, 1), event("quarantine", "x"))
            .await;
        let _ = store.remove_pending(&k, event("promote", "x")).await;
        let _ = store.record_index(&digest(1), &[digest(2)]).await;
        let _ = store
            .record_blobs(&digest(2), ManifestKind::Signature, &[digest(1)])
            .await;
        let _ = store
            .record_referrer("hub", &k.repository, &digest(1), referrer(2))
            .await;
        let _ = store
            .record_signature_manifest(
                "hub",
                &k.repository,
                &digest(1),
                &SignedSubject {
                    subject: digest(2),
                    layers: vec![digest(3)],
                },
            )
            .await;
        let _ = store
            .record_revocation(key_revocation("sha256:ab", "r"), event("revoke", "x"))
            .await;
        let _ = store
            .record_revocation(cert_revocation("CN=CA", "1", "r"), event("revoke", "x"))
            .await;
        let _ = store.retire_pin(&k, event("retire", "x")).await;
        let _ = store.fleet_generation().await;
        let _ = store.bump_generation(event("reload", "x")).await;
        let _ = store
            .record_drift_once(&k, &digest(2), event("drift", "x"))
            .await;
        let _ = store.register_replica(replica("replica-a", 1)).await;
        let _ = store.replicas().await;
    }
}

async fn a_record_from_a_newer_binary_is_a_version_error(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    store
        .pin(&k, req_of(1, 1), false, event("push", "x"))
        .await
        .unwrap();
    let raw = store.peek(Tree::Pins, &keys::pin(&k)).await.unwrap();
    let newer = String::from_utf8(raw)
        .unwrap()
        .replacen("\"v\":1", "\"v\":2", 1);
    store
        .poke(Tree::Pins, &keys::pin(&k), Some(newer.into_bytes()))
        .await;
    assert!(matches!(
        store.get_pin(&k).await,
        Err(StorageError::RecordVersion {
            tree: "pins",
            found: 2,
            supported: 1
        })
    ));

    store
        .poke(
            Tree::BlobOwners,
            &keys::blob_owner(&digest(1), &digest(2)),
            Some(br#"{"v":2,"kind":"attestation"}"#.to_vec()),
        )
        .await;
    assert!(matches!(
        store.blob_owners(&digest(1)).await,
        Err(StorageError::RecordVersion {
            tree: "blob_owners",
            found: 2,
            ..
        })
    ));
    store
        .poke(
            Tree::Referrers,
            &keys::referrer("hub", &k.repository, &digest(1), &digest(2)),
            Some(br#"{"v":2}"#.to_vec()),
        )
        .await;
    assert!(matches!(
        store.referrers("hub", &k.repository, &digest(1)).await,
        Err(StorageError::RecordVersion {
            tree: "referrers",
            found: 2,
            ..
        })
    ));
    let revoked = key_revocation("sha256:ab", "r");
    store
        .poke(
            Tree::Revocations,
            &keys::revocation(&revoked.signer),
            Some(br#"{"v":2,"signer":"anything"}"#.to_vec()),
        )
        .await;
    assert!(matches!(
        store.revocations().await,
        Err(StorageError::RecordVersion {
            tree: "revocations",
            found: 2,
            ..
        })
    ));
    // Nor is it overwritten by a binary that cannot read it.
    assert!(matches!(
        store.record_revocation(revoked, event("revoke", "x")).await,
        Err(StorageError::RecordVersion {
            tree: "revocations",
            ..
        })
    ));
}

async fn verify_records_decodes_a_healthy_store(store: &impl Harness) {
    let k = key("hub", "team/app", "v1");
    store
        .pin(&k, req_of(1, 1), false, event("push", "x"))
        .await
        .unwrap();
    store.record_signature(signature(1, 2, 0, 1)).await.unwrap();
    store.set_sig_tag_layers(&k, &[digest(3)]).await.unwrap();
    store.record_index(&digest(4), &[digest(1)]).await.unwrap();
    store
        .record_blobs(&digest(1), ManifestKind::Image, &[digest(6), digest(7)])
        .await
        .unwrap();
    store
        .record_referrer("hub", &k.repository, &digest(1), referrer(2))
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
    store
        .record_drift_once(&k, &digest(8), event("drift", "d"))
        .await
        .unwrap();
    store
        .register_replica(replica("replica-a", 1))
        .await
        .unwrap();
    // meta: schema + head; pins 1; signatures 1; sig_tags 1; index 1 + 1; blob owners 2;
    // referrers 1; pending 1 + 1; revocations 2; fleet generation 1; drift reports 1;
    // replicas 1; audit 5.
    assert_eq!(
        store.check_records().await.unwrap(),
        2 + 1 + 1 + 1 + 2 + 2 + 1 + 2 + 2 + 1 + 1 + 1 + 5
    );
}

async fn verify_tolerates_appends_running_at_the_same_time(store: &impl Harness) {
    append_n(store, 600).await;
    std::thread::scope(|s| {
        s.spawn(|| block_on(append_n(store, 200)));
        s.spawn(|| {
            block_on(async {
                for _ in 0..20 {
                    let report = store.verify_audit().await.unwrap();
                    assert!(report.events >= 600);
                }
            })
        });
    });
    assert_eq!(store.verify_audit().await.unwrap().events, 800);
}

async fn size_grows_with_data(store: &impl Harness) {
    let empty = store.size_on_disk().await.unwrap();
    // About 2 MiB of records: past anything a backend sets aside up front. Noise, so that a
    // backend compressing its values (PostgreSQL does) holds as many bytes as it is given.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..256u64 {
        let mut record = signature(i, 1_000 + i, 0, i);
        record.evidence = (0..8 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        store.record_signature(record).await.unwrap();
    }
    let full = store.size_on_disk().await.unwrap();
    assert!(
        full > empty,
        "{empty} bytes empty, {full} with 2 MiB of records"
    );
    assert!(full >= 2 * 1024 * 1024, "{full} bytes for 2 MiB of records");
}

// ---- fleet ---------------------------------------------------------------------------------

fn replica(id: &str, seen: UnixSecs) -> ReplicaInfo {
    ReplicaInfo {
        id: id.to_owned(),
        version: "0.1.0".to_owned(),
        policy_digest: "sha256:aa".to_owned(),
        trust_digest: "sha256:bb".to_owned(),
        started_at: 1,
        last_seen: seen,
    }
}

async fn fleet_generation_moves_with_every_revocation_and_bump(store: &impl Harness) {
    assert_eq!(store.fleet_generation().await.unwrap(), 0);
    let revoked = key_revocation("sha256:ab", "r");
    store
        .record_revocation(revoked.clone(), event("revoke", "a"))
        .await
        .unwrap();
    assert_eq!(store.fleet_generation().await.unwrap(), 1);
    // A restated revocation changes the trust in force too (reason, time).
    store
        .record_revocation(revoked, event("revoke", "b"))
        .await
        .unwrap();
    assert_eq!(store.fleet_generation().await.unwrap(), 2);
    let (generation, record) = store.bump_generation(event("reload", "c")).await.unwrap();
    assert_eq!(generation, 3);
    assert_eq!(store.fleet_generation().await.unwrap(), 3);
    // Each move is audited with its change, one chain.
    assert_eq!(record.seq, 3);
    assert_eq!(record.event.action, "reload");
    assert_eq!(store.verify_audit().await.unwrap().events, 3);
    // Other writes leave it alone.
    store.append_audit(event("pull", "d")).await.unwrap();
    let k = key("hub", "team/app", "v1");
    store
        .pin(&k, req_of(1, 1), false, event("push", "e"))
        .await
        .unwrap();
    assert_eq!(store.fleet_generation().await.unwrap(), 3);
    assert!(store.check_records().await.is_ok());
}

async fn drift_is_reported_once_per_tag_and_digest(store: &impl Harness) {
    let (v1, v2) = (key("hub", "team/app", "v1"), key("hub", "team/app", "v2"));
    assert!(
        store
            .record_drift_once(&v1, &digest(2), event("drift", "a"))
            .await
            .unwrap()
    );
    // The same move seen again (by this replica or another): nothing written, nothing audited.
    assert!(
        !store
            .record_drift_once(&v1, &digest(2), event("drift", "again"))
            .await
            .unwrap()
    );
    // Another digest for the same tag, or the same digest for another tag, is news.
    assert!(
        store
            .record_drift_once(&v1, &digest(3), event("drift", "b"))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_drift_once(&v2, &digest(2), event("drift", "c"))
            .await
            .unwrap()
    );
    let reasons: Vec<String> = store
        .audit(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.reason)
        .collect();
    assert_eq!(reasons, ["a", "b", "c"]);
    assert!(store.check_records().await.is_ok());
}

async fn racing_replicas_report_a_drift_once(store: &impl Harness) {
    const REPLICAS: usize = 8;
    let k = key("hub", "team/app", "v1");
    let barrier = Barrier::new(REPLICAS);
    let reported: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..REPLICAS)
            .map(|i| {
                let (k, barrier) = (&k, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    block_on(store.record_drift_once(
                        k,
                        &digest(9),
                        event("drift", &format!("replica {i}")),
                    ))
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reported.iter().filter(|r| **r).count(), 1, "{reported:?}");
    assert_eq!(store.verify_audit().await.unwrap().events, 1);
}

async fn replicas_are_upserted_and_listed_in_id_order(store: &impl Harness) {
    assert_eq!(store.replicas().await.unwrap(), []);
    // Ids of different lengths: listed by id, not by key order.
    for id in ["replica-bb", "replica-a", "replica-c"] {
        store.register_replica(replica(id, 10)).await.unwrap();
    }
    let mut moved = replica("replica-a", 20);
    moved.trust_digest = "sha256:cc".to_owned();
    store.register_replica(moved.clone()).await.unwrap();
    let listed = store.replicas().await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["replica-a", "replica-bb", "replica-c"]
    );
    assert_eq!(listed[0], moved, "the heartbeat replaced the record");
    // A heartbeat decides nothing: not audited.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    assert!(store.check_records().await.is_ok());
}

async fn a_tag_lease_has_one_holder_until_it_is_released_or_expires(store: &impl Harness) {
    let tag = key("hub", "team/app", "v1");
    let other_tag = key("hub", "team/app", "v2");
    assert!(
        store
            .acquire_tag_lease(&tag, "a", 1_000, 500)
            .await
            .unwrap()
    );
    // Another holder waits until a's lease is released or has expired; other tags are free.
    assert!(
        !store
            .acquire_tag_lease(&tag, "b", 1_200, 500)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_tag_lease(&other_tag, "b", 1_200, 500)
            .await
            .unwrap()
    );
    // The holder renews its own lease.
    assert!(
        store
            .acquire_tag_lease(&tag, "a", 1_400, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_tag_lease(&tag, "b", 1_600, 500)
            .await
            .unwrap()
    );
    // Releasing someone else's lease leaves it alone; the holder's release frees the tag.
    store.release_tag_lease(&tag, "b").await.unwrap();
    assert!(
        !store
            .acquire_tag_lease(&tag, "b", 1_700, 500)
            .await
            .unwrap()
    );
    store.release_tag_lease(&tag, "a").await.unwrap();
    assert!(
        store
            .acquire_tag_lease(&tag, "b", 1_700, 500)
            .await
            .unwrap()
    );
    // An expired lease (a holder that died) is taken over.
    assert!(
        store
            .acquire_tag_lease(&tag, "c", 2_201, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_tag_lease(&tag, "b", 2_300, 500)
            .await
            .unwrap()
    );
    // Leases decide nothing: not audited; the records decode.
    assert_eq!(store.verify_audit().await.unwrap().events, 0);
    assert!(store.check_records().await.is_ok());
}

async fn corrupt_fleet_records_are_errors_not_panics(store: &impl Harness) {
    let is_corrupt = |r: Result<(), StorageError>, tree: &str| match r {
        Err(StorageError::Corrupt { tree: t, .. }) if t == tree => {}
        other => panic!("expected corruption in {tree}, got {other:?}"),
    };
    store
        .poke(Tree::Fleet, keys::FLEET_GENERATION, Some(vec![1, 2, 3]))
        .await;
    is_corrupt(store.fleet_generation().await.map(drop), "fleet");
    is_corrupt(
        store.bump_generation(event("reload", "x")).await.map(drop),
        "fleet",
    );
    assert_eq!(
        store.verify_audit().await.unwrap().events,
        0,
        "a failed bump audits nothing"
    );
    is_corrupt(store.check_records().await.map(drop), "fleet");
    store.poke(Tree::Fleet, keys::FLEET_GENERATION, None).await;

    // A replica's record filed under another id.
    let value = codec::encode(Tree::Replicas, &replica("replica-a", 1)).unwrap();
    store
        .poke(Tree::Replicas, &keys::replica("replica-b"), Some(value))
        .await;
    is_corrupt(store.replicas().await.map(drop), "replicas");
    is_corrupt(store.check_records().await.map(drop), "replicas");
    store
        .poke(Tree::Replicas, &keys::replica("replica-b"), None)
        .await;

    // A drift report that carries a value, or whose key is not a tag and a digest.
    let k = key("hub", "team/app", "v1");
    store
        .poke(
            Tree::DriftReports,
            &keys::drift_report(&k, &digest(2)),
            Some(vec![1]),
        )
        .await;
    is_corrupt(store.check_records().await.map(drop), "drift_reports");
    store
        .poke(
            Tree::DriftReports,
            &keys::drift_report(&k, &digest(2)),
            None,
        )
        .await;
    store
        .poke(Tree::DriftReports, &keys::pin(&k), Some(Vec::new()))
        .await;
    is_corrupt(store.check_records().await.map(drop), "drift_reports");
}

// ---- backend-specific ----------------------------------------------------------------------

#[tokio::test]
async fn both_backends_build_the_same_hash_chain() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    let mem = MemStore::new();
    let k = key("hub", "team/app", "v1");
    for store in [&sled as &dyn Store, &mem] {
        store
            .pin(&k, req_of(1, 1), false, event("push", "a"))
            .await
            .unwrap();
        store.append_audit(event("pull", "b")).await.unwrap();
        store
            .put_pending(pending_tag(&k, 2, 3), event("quarantine", "c"))
            .await
            .unwrap();
    }
    assert_eq!(
        sled.audit(0, 10).await.unwrap(),
        mem.audit(0, 10).await.unwrap()
    );
    assert_eq!(
        sled.verify_audit().await.unwrap().head,
        mem.verify_audit().await.unwrap().head
    );
}

/// Opens a sled store a test has just dropped. sled's flusher may hold the directory's lock for
/// a moment after the last handle is dropped, so a lock error is retried (bounded).
fn reopen(path: &std::path::Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledStore::open(path) {
            Err(StorageError::Open { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

#[tokio::test]
async fn sled_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("hub", "team/app", "v1");
    let head = {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .pin(&k, req_of(1, 1), false, event("push", "a"))
            .await
            .unwrap();
        store.record_signature(signature(1, 2, 0, 1)).await.unwrap();
        store
            .record_blobs(&digest(1), ManifestKind::Image, &[digest(3)])
            .await
            .unwrap();
        store
            .record_referrer("hub", &k.repository, &digest(1), referrer(2))
            .await
            .unwrap();
        store.verify_audit().await.unwrap().head
    };
    let store = reopen(dir.path());
    assert_eq!(store.get_pin(&k).await.unwrap(), Some(pin_of(1, 1)));
    assert_eq!(store.signatures(&digest(1)).await.unwrap().len(), 1);
    assert_eq!(
        store.blob_owners(&digest(3)).await.unwrap(),
        [(digest(1), ManifestKind::Image)]
    );
    assert_eq!(
        store
            .referrers("hub", &k.repository, &digest(1))
            .await
            .unwrap(),
        [referrer(2)]
    );
    assert_eq!(store.verify_audit().await.unwrap().head, head);
    // The chain continues where it stopped.
    assert_eq!(store.append_audit(event("pull", "b")).await.unwrap().seq, 2);
}

#[tokio::test]
async fn mem_store_clones_share_data() {
    let a = MemStore::new();
    let b = a.clone();
    a.append_audit(event("pull", "x")).await.unwrap();
    assert_eq!(b.verify_audit().await.unwrap().events, 1);
    assert_eq!(
        b.health().await.unwrap().schema_version,
        crate::SCHEMA_VERSION
    );
}

#[tokio::test]
async fn stores_are_usable_as_shared_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let stores: [std::sync::Arc<dyn Store>; 2] = [
        std::sync::Arc::new(SledStore::open(dir.path()).unwrap()),
        std::sync::Arc::new(MemStore::new()),
    ];
    for store in stores {
        assert_eq!(
            store.health().await.unwrap().schema_version,
            crate::SCHEMA_VERSION
        );
        store.flush().await.unwrap();
    }
}

#[tokio::test]
async fn indexes_are_listed_in_digest_order_across_algorithms() {
    let store = MemStore::new();
    let sha512: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
    let sha256_high: Digest = format!("sha256:{}", "f".repeat(64)).parse().unwrap();
    store.record_index(&sha512, &[digest(1)]).await.unwrap();
    store
        .record_index(&sha256_high, &[digest(1)])
        .await
        .unwrap();
    store.record_index(&digest(9), &[digest(1)]).await.unwrap();
    let found = store.indexes_containing(&digest(1)).await.unwrap();
    assert_eq!(found, [digest(9), sha256_high, sha512]);
}

/// The in-memory backend, counting the transactions and flushes that reach it. With
/// `stale_reads`, reads outside a transaction see nothing, as if another writer recorded the
/// same facts between the engine's first look and its transaction.
#[derive(Default)]
struct Counting {
    inner: MemBackend,
    stale_reads: bool,
    transactions: AtomicUsize,
    flushes: AtomicUsize,
}

impl Counting {
    /// Transactions and flushes since the last call.
    fn take(&self) -> (usize, usize) {
        (
            self.transactions.swap(0, Ordering::SeqCst),
            self.flushes.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait::async_trait]
impl Backend for Counting {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if self.stale_reads {
            return Ok(None);
        }
        self.inner.get(tree, key).await
    }

    async fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        self.inner.scan(tree, prefix, from, limit).await
    }

    async fn transaction<R: Send>(&self, body: &TxBody<'_, R>) -> Result<R, StorageError> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.transaction(body).await
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.inner.flush().await
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.inner.size_on_disk().await
    }
}

#[tokio::test]
async fn retiring_an_unpinned_tag_does_not_flush_and_every_revocation_does() {
    let engine = Engine::new(Counting::default());
    let counts = || engine.backend.take();
    let k = key("hub", "team/app", "v1");
    assert_eq!(
        engine.retire_pin(&k, event("retire", "x")).await.unwrap(),
        None
    );
    assert_eq!(counts(), (1, 0), "looked in a transaction, wrote nothing");
    engine
        .pin(&k, req_of(1, 1), false, event("push", "x"))
        .await
        .unwrap();
    counts();
    assert!(
        engine
            .retire_pin(&k, event("retire", "x"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(counts(), (1, 1));
    // A revocation is a decision and always audited, so always written and flushed.
    let revoked = key_revocation("sha256:ab", "r");
    engine
        .record_revocation(revoked.clone(), event("revoke", "x"))
        .await
        .unwrap();
    engine
        .record_revocation(revoked, event("revoke", "x"))
        .await
        .unwrap();
    assert_eq!(counts(), (2, 2));
    engine.revocations().await.unwrap();
    engine.all_pins().await.unwrap();
    engine.backend.size_on_disk().await.unwrap();
    assert_eq!(counts(), (0, 0), "reads never write");
}

#[tokio::test]
async fn a_drift_reported_before_opens_no_transaction_and_fleet_writes_flush() {
    let engine = Engine::new(Counting::default());
    let k = key("hub", "team/app", "v1");
    assert!(
        engine
            .record_drift_once(&k, &digest(2), event("drift", "x"))
            .await
            .unwrap()
    );
    assert_eq!(engine.backend.take(), (1, 1));
    assert!(
        !engine
            .record_drift_once(&k, &digest(2), event("drift", "x"))
            .await
            .unwrap()
    );
    assert_eq!(engine.backend.take(), (0, 0), "seen before: no transaction");
    engine.bump_generation(event("reload", "x")).await.unwrap();
    assert_eq!(engine.backend.take(), (1, 1));
    engine
        .register_replica(replica("replica-a", 1))
        .await
        .unwrap();
    assert_eq!(engine.backend.take(), (1, 1));
    engine.fleet_generation().await.unwrap();
    engine.replicas().await.unwrap();
    assert_eq!(engine.backend.take(), (0, 0), "reads never write");
}

/// The digest pinned is the warrant's: a request carries no digest of its own (and, as the
/// doc tests of [`PinRequest`] show, cannot be built from a bare digest or a [`Pin`]).
#[tokio::test]
async fn a_pin_request_pins_the_digest_of_its_warrant() {
    let warrant = PinWarrant::unverified(&digest(7));
    let request = PinRequest::new(warrant.clone(), 5, Some("ci".to_owned()), vec![]);
    assert_eq!(request.digest(), warrant.digest());
    assert_eq!(request.pin().history, []);

    let store = MemStore::new();
    let k = key("hub", "team/app", "v1");
    store
        .pin_clearing_pending(&k, request, false, event("push", "x"), &|_| {
            event("clear-pending", "x")
        })
        .await
        .unwrap();
    let stored = store.get_pin(&k).await.unwrap().unwrap();
    assert_eq!(&stored.digest, warrant.digest());
    assert_eq!(
        (stored.pinned_at, stored.pushed_by.as_deref()),
        (5, Some("ci"))
    );
}

#[tokio::test]
async fn a_pin_batch_is_one_transaction_and_one_flush() {
    let engine = Engine::new(Counting::default());
    let entries: Vec<_> = (0..100)
        .map(|i| import(&key("hub", "team/app", &format!("v{i}")), i, i))
        .collect();
    engine.pin_batch(entries.clone()).await.unwrap();
    assert_eq!(engine.backend.take(), (1, 1));
    // All refused or unchanged now, yet each is a decision: audited, so written and flushed.
    engine.pin_batch(entries).await.unwrap();
    assert_eq!(engine.backend.take(), (1, 1));
    engine.pin_batch(Vec::new()).await.unwrap();
    assert_eq!(engine.backend.take(), (0, 0), "an empty batch");
    assert_eq!(engine.verify_audit().await.unwrap().events, 200);
}

#[tokio::test]
async fn a_large_pin_batch_survives_reopening() {
    const PINS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let tag = |i: u64| {
        key(
            "hub",
            &format!("team/app{}", i / 100),
            &format!("v{}", i % 100),
        )
    };
    let head = {
        let store = SledStore::open(dir.path()).unwrap();
        let results = store
            .pin_batch((0..PINS).map(|i| import(&tag(i), i, i)).collect())
            .await
            .unwrap();
        assert!(results.iter().all(|(o, _)| *o == PinOutcome::Created));
        store.verify_audit().await.unwrap()
    };
    let store = reopen(dir.path());
    assert_eq!(store.verify_audit().await.unwrap(), head);
    assert_eq!(head.events, PINS);
    assert_eq!(
        store.get_pin(&tag(4242)).await.unwrap(),
        Some(pin_of(4242, 4242))
    );
    assert_eq!(store.all_pins().await.unwrap().len(), PINS as usize);
    assert!(store.verify_records().await.unwrap() > 2 * PINS);
}

#[tokio::test]
async fn facts_already_recorded_write_nothing_and_do_not_flush() {
    use ManifestKind::{Image, Signature};
    let engine = Engine::new(Counting::default());
    let counts = || engine.backend.take();
    let (upstream, repository) = ("hub", repo("team/app"));

    engine
        .record_blobs(&digest(10), Image, &[digest(1), digest(2)])
        .await
        .unwrap();
    assert_eq!(counts(), (1, 1));
    engine
        .record_blobs(&digest(10), Image, &[digest(2), digest(1), digest(1)])
        .await
        .unwrap();
    engine
        .record_blobs(&digest(10), Image, &[digest(1)])
        .await
        .unwrap();
    engine.record_blobs(&digest(10), Image, &[]).await.unwrap();
    assert_eq!(counts(), (0, 0), "no transaction, no flush");
    engine
        .record_blobs(&digest(10), Image, &[digest(1), digest(3)])
        .await
        .unwrap();
    assert_eq!(counts(), (1, 1), "one blob is new");
    engine
        .record_blobs(&digest(10), Signature, &[digest(1)])
        .await
        .unwrap();
    assert_eq!(counts(), (1, 1), "another kind is a change");

    engine
        .record_index(&digest(100), &[digest(1), digest(2)])
        .await
        .unwrap();
    assert_eq!(counts(), (1, 1));
    engine
        .record_index(&digest(100), &[digest(2), digest(1), digest(2)])
        .await
        .unwrap();
    assert_eq!(counts(), (0, 0), "the same children");
    engine
        .record_index(&digest(100), &[digest(1)])
        .await
        .unwrap();
    assert_eq!(counts(), (1, 1), "other children");

    assert!(
        engine
            .record_referrer(upstream, &repository, &digest(1), referrer(10))
            .await
            .unwrap()
    );
    assert_eq!(counts(), (1, 1));
    assert!(
        !engine
            .record_referrer(upstream, &repository, &digest(1), referrer(10))
            .await
            .unwrap()
    );
    assert_eq!(counts(), (0, 0), "the same referrer");
    let mut changed = referrer(10);
    changed.size += 1;
    assert!(
        !engine
            .record_referrer(upstream, &repository, &digest(1), changed)
            .await
            .unwrap()
    );
    assert_eq!(counts(), (1, 1), "another descriptor");

    engine.blob_owners(&digest(1)).await.unwrap();
    engine.indexes_containing(&digest(1)).await.unwrap();
    engine
        .referrers(upstream, &repository, &digest(1))
        .await
        .unwrap();
    assert_eq!(counts(), (0, 0), "reads never write");
}

#[tokio::test]
async fn facts_recorded_by_a_racing_writer_are_not_written_again() {
    use ManifestKind::Image;
    let inner = MemBackend::default();
    let writer = Engine::new(Counting {
        inner: inner.clone(),
        ..Counting::default()
    });
    // Its first look misses what `writer` records, so it goes on to a transaction.
    let late = Engine::new(Counting {
        inner,
        stale_reads: true,
        ..Counting::default()
    });
    let (upstream, repository) = ("hub", repo("team/app"));
    writer
        .record_blobs(&digest(10), Image, &[digest(1)])
        .await
        .unwrap();
    writer
        .record_index(&digest(100), &[digest(1)])
        .await
        .unwrap();
    assert!(
        writer
            .record_referrer(upstream, &repository, &digest(1), referrer(10))
            .await
            .unwrap()
    );

    late.record_blobs(&digest(10), Image, &[digest(1)])
        .await
        .unwrap();
    late.record_index(&digest(100), &[digest(1)]).await.unwrap();
    assert!(
        !late
            .record_referrer(upstream, &repository, &digest(1), referrer(10))
            .await
            .unwrap(),
        "the racing writer's referrer was first"
    );
    assert_eq!(
        late.backend.take(),
        (3, 0),
        "checked again, nothing flushed"
    );
    assert_eq!(
        writer.blob_owners(&digest(1)).await.unwrap(),
        [(digest(10), Image)]
    );
}

mod moving;
mod replicas;
