use super::*;
use crate::layout::keys;
use crate::{AuditEvent, Pin, PinKey, PinRequest, RevokedSigner, Store, StoredRevocation};
use sealgate_policies::gate::PinWarrant;

#[tokio::test]
async fn open_creates_the_directory_and_records_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/store");
    let store = SledStore::open(&path).unwrap();
    assert!(path.is_dir());
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
    assert!(store.size_on_disk().unwrap() > 0);
}

#[tokio::test]
async fn reopening_keeps_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
}

/// Opens a store a test has just dropped. sled's background flusher may still hold the
/// directory's lock for a moment after the last handle is dropped, so a lock error is retried
/// (bounded); any other outcome is returned as is.
fn reopen(path: &std::path::Path) -> Result<SledStore, StorageError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledStore::open(path) {
            Err(StorageError::Open { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn set_schema(store: &SledStore, raw: &[u8]) {
    store
        .engine
        .backend
        .with(|open, _| {
            open.tree(Tree::Meta)
                .insert(keys::SCHEMA_VERSION, raw)
                .map_err(io)?;
            open.db.flush().map_err(io)?;
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_store_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, &(SCHEMA_VERSION + 1).to_be_bytes());
    }
    let err = reopen(dir.path()).unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[tokio::test]
async fn an_older_store_is_stamped_with_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, &0u32.to_be_bytes());
    }
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_store_from_before_the_fact_trees_opens_with_them_empty() {
    use sealgate_policies::oci::Digest;

    use crate::{ManifestKind, Referrer};

    let dir = tempfile::tempdir().unwrap();
    {
        // A schema-1 store as a binary without `blob_owners` and `referrers` left it.
        let db = sled::open(dir.path()).unwrap();
        for tree in Tree::ALL {
            if !matches!(tree, Tree::BlobOwners | Tree::Referrers) {
                db.open_tree(tree.name()).unwrap();
            }
        }
        db.open_tree(Tree::Meta.name())
            .unwrap()
            .insert(keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        assert!(!db.tree_names().iter().any(|n| n == b"referrers"));
    }
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
    let d = |n: u64| -> Digest { format!("sha256:{n:064x}").parse().unwrap() };
    let repository = "team/app".parse().unwrap();
    assert!(store.blob_owners(&d(1)).await.unwrap().is_empty());
    assert!(
        store
            .referrers("hub", &repository, &d(1))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .record_blobs(&d(2), ManifestKind::Image, &[d(1)])
        .await
        .unwrap();
    let referrer = Referrer {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        digest: d(3),
        size: 1,
        artifact_type: None,
        annotations: Default::default(),
    };
    assert!(
        store
            .record_referrer("hub", &repository, &d(1), referrer.clone())
            .await
            .unwrap()
    );
    assert_eq!(
        store.blob_owners(&d(1)).await.unwrap(),
        [(d(2), ManifestKind::Image)]
    );
    assert_eq!(
        store.referrers("hub", &repository, &d(1)).await.unwrap(),
        [referrer]
    );
    store.verify_records().await.unwrap();
}

fn admin_event(action: &str) -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        action: action.to_owned(),
        outcome: "allow".to_owned(),
        upstream: "hub".to_owned(),
        repository: "team/app".to_owned(),
        reference: "v1".to_owned(),
        digest: None,
        reason: action.to_owned(),
        identity: Some("admin@example.com".to_owned()),
        signers: Vec::new(),
        request_id: None,
    }
}

fn revocations() -> [StoredRevocation; 2] {
    [
        StoredRevocation {
            signer: RevokedSigner::Key {
                fingerprint: format!("sha256:{}", "ab".repeat(32)),
            },
            reason: "leaked".to_owned(),
            at: 1_700_000_000,
            by: Some("admin@example.com".to_owned()),
        },
        StoredRevocation {
            signer: RevokedSigner::Cert {
                issuer: "CN=Example CA".to_owned(),
                serial: "1a2b".to_owned(),
            },
            reason: "mis-issued".to_owned(),
            at: 1_700_000_100,
            by: None,
        },
    ]
}

#[tokio::test]
async fn revocations_and_retirements_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let kept = PinKey {
        upstream: "hub".to_owned(),
        repository: "team/app".parse().unwrap(),
        tag: "v2".parse().unwrap(),
    };
    let retired = PinKey {
        tag: "v1".parse().unwrap(),
        ..kept.clone()
    };
    let pin = Pin {
        digest: format!("sha256:{}", "0".repeat(64)).parse().unwrap(),
        pinned_at: 1,
        pushed_by: None,
        signers: vec!["release".to_owned()],
        history: Vec::new(),
    };
    let [key, cert] = revocations();
    let mut replaced = key.clone();
    replaced.reason = "leaked, confirmed".to_owned();
    let head = {
        let store = SledStore::open(dir.path()).unwrap();
        for k in [&kept, &retired] {
            store
                .pin(k, request(pin.clone()), false, admin_event("push"))
                .await
                .unwrap();
        }
        store
            .retire_pin(&retired, admin_event("retire"))
            .await
            .unwrap()
            .unwrap();
        store
            .record_revocation(cert.clone(), admin_event("revoke"))
            .await
            .unwrap();
        store
            .record_revocation(key, admin_event("revoke"))
            .await
            .unwrap();
        store
            .record_revocation(replaced.clone(), admin_event("revoke"))
            .await
            .unwrap();
        store.verify_audit().await.unwrap().head
    };
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.revocations().await.unwrap(), [replaced, cert]);
    assert_eq!(store.get_pin(&retired).await.unwrap(), None);
    assert_eq!(store.all_pins().await.unwrap(), [(kept, pin)]);
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.events, report.head), (6, head));
    store.verify_records().await.unwrap();
}

#[tokio::test]
async fn a_store_from_before_the_revocations_tree_opens_with_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A schema-1 store as a binary without `revocations` left it.
        let db = sled::open(dir.path()).unwrap();
        for tree in Tree::ALL {
            if tree != Tree::Revocations {
                db.open_tree(tree.name()).unwrap();
            }
        }
        db.open_tree(Tree::Meta.name())
            .unwrap()
            .insert(keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        assert!(!db.tree_names().iter().any(|n| n == b"revocations"));
    }
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
    assert!(store.revocations().await.unwrap().is_empty());
    let [key, _] = revocations();
    let (new, record) = store
        .record_revocation(key.clone(), admin_event("revoke"))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(record.seq, 1);
    assert_eq!(store.revocations().await.unwrap(), [key]);
    store.verify_records().await.unwrap();
}

#[tokio::test]
async fn a_store_from_before_the_fleet_trees_opens_with_them_empty() {
    let fleet = [
        Tree::Fleet,
        Tree::DriftReports,
        Tree::Replicas,
        Tree::TagLeases,
    ];
    let dir = tempfile::tempdir().unwrap();
    {
        // A schema-1 store as a binary without the fleet trees left it.
        let db = sled::open(dir.path()).unwrap();
        for tree in Tree::ALL {
            if !fleet.contains(&tree) {
                db.open_tree(tree.name()).unwrap();
            }
        }
        db.open_tree(Tree::Meta.name())
            .unwrap()
            .insert(keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = reopen(dir.path()).unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, SCHEMA_VERSION);
    assert_eq!(store.fleet_generation().await.unwrap(), 0);
    assert!(store.replicas().await.unwrap().is_empty());
    let [key, _] = revocations();
    store
        .record_revocation(key, admin_event("revoke"))
        .await
        .unwrap();
    assert_eq!(store.fleet_generation().await.unwrap(), 1);
    store.verify_records().await.unwrap();
}

#[tokio::test]
async fn size_on_disk_is_the_same_with_or_without_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let before = SledStore::size_on_disk(&store).unwrap();
    let via_trait = <SledStore as Store>::size_on_disk(&store).await.unwrap();
    let after = SledStore::size_on_disk(&store).unwrap();
    assert!(before > 0);
    // The same number, unless sled's background flusher grew the file in between.
    assert!(
        before <= via_trait && via_trait <= after,
        "{before} {via_trait} {after}"
    );
}

#[tokio::test]
async fn a_corrupt_schema_version_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, b"\x01");
    }
    let reopened = reopen(dir.path());
    assert!(
        matches!(reopened, Err(StorageError::Corrupt { tree: "meta", .. })),
        "{:?}",
        reopened.err()
    );
}

#[tokio::test]
async fn a_path_that_is_a_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        SledStore::open(&file),
        Err(StorageError::Open { .. })
    ));
}

#[tokio::test]
async fn a_store_in_use_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let second = SledStore::open(dir.path());
    assert!(matches!(second, Err(StorageError::Open { .. })));
}

/// A tmpfs of `size` mounted on a fresh temp dir, unmounted on drop (also when a test panics).
/// Mounting needs root: the test fails, saying so, rather than skip the case.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "this test needs a small full disk: mounting a tmpfs on {} failed (run the tests as \
             root): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write as _;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn pin_key(tag: &str) -> PinKey {
    PinKey {
        upstream: "hub".to_owned(),
        repository: "team/app".parse().unwrap(),
        tag: tag.parse().unwrap(),
    }
}

/// A request to pin `pin`, with a warrant no gate decided: these tests are about storing.
fn request(pin: Pin) -> PinRequest {
    PinRequest::new(
        PinWarrant::unverified(&pin.digest),
        pin.pinned_at,
        pin.pushed_by,
        pin.signers,
    )
}

fn pin_of(n: u8) -> Pin {
    Pin {
        digest: format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap(),
        pinned_at: 1,
        pushed_by: None,
        signers: vec!["release".to_owned()],
        history: Vec::new(),
    }
}

/// r11: a full disk failed every write until restart (sled keeps its first I/O error) and left
/// the failed write readable. Now the store closes, refuses reads and writes while it cannot
/// reopen, and reopens by itself once space is back, without the write that failed.
#[tokio::test]
async fn r11_a_full_disk_closes_the_store_and_it_reopens_once_space_is_back() {
    let disk = Tmpfs::mount("4m");
    let path = disk.path().join("store");
    let store = SledStore::open(&path).unwrap();
    store
        .pin(
            &pin_key("before"),
            request(pin_of(1)),
            false,
            admin_event("push"),
        )
        .await
        .unwrap();
    let filler = disk.fill();

    // Pins (with their audit events) until one fails: sled's segment may still have room for a
    // few.
    let mut failed = None;
    let mut acknowledged = vec![("before".to_owned(), pin_of(1))];
    for i in 0..200u8 {
        let tag = format!("during{i}");
        match store
            .pin(
                &pin_key(&tag),
                request(pin_of(i)),
                false,
                admin_event("push"),
            )
            .await
        {
            Ok(_) => acknowledged.push((tag, pin_of(i))),
            Err(e) => {
                failed = Some((tag, e));
                break;
            }
        }
    }
    let (failed_tag, error) = failed.expect("a pin on a full disk must fail");
    assert!(error.is_transient(), "{error}");
    assert!(
        !store.is_open(),
        "the database that lost a write stays open"
    );
    // While the disk is full: no read of the lost write, no write, no readiness.
    let read = store.get_pin(&pin_key(&failed_tag)).await;
    assert!(
        matches!(read, Err(StorageError::Unavailable { .. })),
        "{read:?}"
    );
    assert!(store.health().await.is_err());
    assert!(
        store
            .pin(
                &pin_key("blocked"),
                request(pin_of(2)),
                false,
                admin_event("push")
            )
            .await
            .unwrap_err()
            .is_transient()
    );

    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(REOPEN_INTERVAL);
    assert_eq!(
        store.health().await.unwrap().schema_version,
        SCHEMA_VERSION,
        "the store did not reopen once space was back"
    );
    assert!(store.is_open());
    assert_eq!(
        store.get_pin(&pin_key(&failed_tag)).await.unwrap(),
        None,
        "the pin whose write failed is in the store"
    );
    for (tag, pin) in &acknowledged {
        assert_eq!(
            store.get_pin(&pin_key(tag)).await.unwrap().as_ref(),
            Some(pin),
            "acknowledged pin {tag} lost"
        );
    }
    store
        .pin(
            &pin_key("after"),
            request(pin_of(3)),
            false,
            admin_event("push"),
        )
        .await
        .unwrap();
    let report = store.verify_audit().await.unwrap();
    store.verify_records().await.unwrap();
    // One event per acknowledged pin, none for the failed one.
    let pins = store.all_pins().await.unwrap();
    assert_eq!(report.events, pins.len() as u64, "{pins:?}");
    drop(store);
    let reopened = reopen(&path).unwrap();
    assert_eq!(
        reopened.get_pin(&pin_key("after")).await.unwrap(),
        Some(pin_of(3))
    );
}

/// Compiles only if no `From<sled::…>` conversion exists for `T`: with one, the call below is
/// ambiguous between the two impls (the `assert_not_impl_any!` of `static_assertions`).
trait AmbiguousIfFrom<Source, Marker> {
    fn check() {}
}
impl<T: ?Sized, Source> AmbiguousIfFrom<Source, ()> for T {}
impl<T: From<Source>, Source> AmbiguousIfFrom<Source, u8> for T {}

/// The public errors name no sled type (compile-level): nothing converts sled's errors into
/// them, which would put sled in the crate's API, and the backend's error is held as storage's
/// own `BackendError`; the engine's transaction error is storage's too. At run time a sled
/// error still reads as it did when it was the source itself, and only an I/O error is
/// transient (it closes the database).
#[tokio::test]
async fn r12_the_public_errors_name_no_sled_type_and_read_as_before() {
    <StorageError as AmbiguousIfFrom<sled::Error, _>>::check();
    <crate::AuditError as AmbiguousIfFrom<sled::Error, _>>::check();
    <BackendError as AmbiguousIfFrom<sled::Error, _>>::check();
    <TxError as AmbiguousIfFrom<UnabortableTransactionError, _>>::check();

    let chain = |e: &StorageError| {
        let mut out = vec![e.to_string()];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            out.push(s.to_string());
            source = s.source();
        }
        out
    };
    let disk = || sled::Error::Io(std::io::Error::other("No space left on device"));
    let error = io(disk());
    let StorageError::Io(inner) = &error else {
        panic!("{error:?}")
    };
    let _: &BackendError = inner;
    assert_eq!(
        chain(&error),
        [format!("store I/O failed: {}", disk()), disk().to_string()]
    );
    assert!(error.is_transient() && error.closes_store());

    let bug = || sled::Error::Unsupported("x".to_owned());
    let error = io(bug());
    assert_eq!(
        chain(&error),
        [format!("store I/O failed: {}", bug()), bug().to_string()]
    );
    assert!(!error.is_transient() && !error.closes_store());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let error = SledStore::open(&file).unwrap_err();
    let StorageError::Open { source, .. } = &error else {
        panic!("{error:?}")
    };
    let _: &BackendError = source;
    assert!(
        chain(&error)[0].starts_with(&format!("cannot open the store at {}: ", file.display())),
        "{error}"
    );
}
