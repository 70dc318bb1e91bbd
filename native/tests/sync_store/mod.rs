//! A store's operations, waited for on the test's thread: outside a tokio
//! runtime a `FileStore` answers at once (a save runs in place).

use futures_util::FutureExt;
use posemesh_registration::{SnapshotStore, StoreError};

#[allow(dead_code)] // each test binary uses some of them
pub trait SyncStore {
    fn load_now(&self) -> Result<Option<Vec<u8>>, StoreError>;
    fn save_now(&self, bytes: &[u8]) -> Result<(), StoreError>;
    fn try_lock_now(&self) -> Result<bool, StoreError>;
    fn unlock_now(&self);
    fn set_aside_corrupt_now(&self) -> Option<String>;
}

const AT_ONCE: &str = "a file store answers at once outside a runtime";

impl<S: SnapshotStore> SyncStore for S {
    fn load_now(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.load().now_or_never().expect(AT_ONCE)
    }
    fn save_now(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.save(bytes.to_vec()).now_or_never().expect(AT_ONCE)
    }
    fn try_lock_now(&self) -> Result<bool, StoreError> {
        self.try_lock().now_or_never().expect(AT_ONCE)
    }
    fn unlock_now(&self) {
        self.unlock().now_or_never().expect(AT_ONCE)
    }
    fn set_aside_corrupt_now(&self) -> Option<String> {
        self.set_aside_corrupt().now_or_never().expect(AT_ONCE)
    }
}
