use super::*;
use crate::Store;
use crate::layout::keys;

#[test]
fn open_creates_the_directory_and_records_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/store");
    let store = SledStore::open(&path).unwrap();
    assert!(path.is_dir());
    assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
    assert!(store.size_on_disk().unwrap() > 0);
}

#[test]
fn reopening_keeps_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
}

fn set_schema(store: &SledStore, raw: &[u8]) {
    let meta = store.engine.backend.tree(Tree::Meta);
    meta.insert(keys::SCHEMA_VERSION, raw).unwrap();
    store.engine.backend.db.flush().unwrap();
}

#[test]
fn a_store_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, &(SCHEMA_VERSION + 1).to_be_bytes());
    }
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[test]
fn an_older_store_is_stamped_with_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, &0u32.to_be_bytes());
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
}

#[test]
fn a_corrupt_schema_version_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        set_schema(&store, b"\x01");
    }
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StorageError::Corrupt { tree: "meta", .. })
    ));
}

#[test]
fn a_path_that_is_a_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        SledStore::open(&file),
        Err(StorageError::Open { .. })
    ));
}

#[test]
fn a_store_in_use_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let second = SledStore::open(dir.path());
    assert!(matches!(second, Err(StorageError::Open { .. })));
}
