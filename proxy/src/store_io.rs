//! The bridge to the store: its calls are synchronous (sled flushes to disk), so the request
//! path runs them on the blocking pool.

use std::sync::Arc;

use sealgate_storage::{StorageError, Store};

use crate::error::ProxyError;

/// Runs a store operation on the blocking pool: sled flushes to disk.
pub(crate) async fn blocking<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T, ProxyError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StorageError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(ProxyError::Task)?
        .map_err(ProxyError::Store)
}
