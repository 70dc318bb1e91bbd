//! A store whose every call ends: a host's storage that never answers (a
//! stalled KV namespace, a network file system, a buggy adapter) must not hold
//! the loop, `stop()` or the next attempt for ever.

use crate::{BoxFuture, Runtime, SnapshotStore, StoreError};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Wraps the host's store: a call that has not ended within `limit` (the
/// configuration's request timeout) fails, or for the calls that cannot fail,
/// is given up.
pub(crate) struct BoundedStore {
    pub(crate) inner: Arc<dyn SnapshotStore>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) limit: Duration,
}

impl BoundedStore {
    /// `call`'s output, or `None` once `limit` has passed. The timer is made
    /// only when the call does not end at once: a store that answers
    /// synchronously then needs no runtime (outputs finished while dropping).
    async fn bounded<T>(&self, call: BoxFuture<'_, T>) -> Option<T> {
        let mut call = call;
        let mut timer: Option<BoxFuture<'static, ()>> = None;
        poll_fn(|cx| {
            if let Poll::Ready(done) = call.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            let timer = timer
                .get_or_insert_with(|| self.runtime.sleep_until(self.runtime.now() + self.limit));
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    fn unanswered(&self, call: &str) -> StoreError {
        StoreError(format!(
            "the store's {call}() did not end within {} s",
            self.limit.as_secs_f64()
        ))
    }
}

impl SnapshotStore for BoundedStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let loaded = self.bounded(self.inner.load()).await;
            loaded.unwrap_or_else(|| Err(self.unanswered("load")))
        })
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let saved = self.bounded(self.inner.save(bytes)).await;
            saved.unwrap_or_else(|| Err(self.unanswered("save")))
        })
    }

    fn uses_lock(&self) -> bool {
        self.inner.uses_lock()
    }

    fn try_lock(&self) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let tried = self.bounded(self.inner.try_lock()).await;
            tried.unwrap_or_else(|| Err(self.unanswered("try_lock")))
        })
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.bounded(self.inner.unlock()).await;
        })
    }

    fn set_aside_corrupt(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.bounded(self.inner.set_aside_corrupt()).await;
        })
    }
}
