//! What else the app supplies: a [`SnapshotStore`] for the registration state
//! and a [`Logger`] for events, with the adapters the native driver needs.

use crate::error::RegistrationError;
use posemesh_registration::core::{Event, Level};
use posemesh_registration::{Store, StoreError};
use std::io;
use std::sync::Arc;

/// Where the app keeps the registration snapshot between runs
/// (SharedPreferences, DataStore, the Keychain, a file).
///
/// The snapshot is small opaque bytes (JSON). In the legacy flow it holds the
/// secret the DDS issued to the node, so prefer encrypted storage
/// (EncryptedSharedPreferences, the Keychain). Called synchronously from a
/// background thread after each state change: keep it quick. Save atomically
/// if you can (a crash should leave the old or the new bytes).
///
/// A corrupt or unreadable snapshot is not fatal: the registrar reports it
/// (see `RegistrarInfo.recoveredFrom`) and registers afresh.
#[uniffi::export(with_foreign)]
pub trait SnapshotStore: Send + Sync {
    /// The bytes saved last, or `null`/`nil` if nothing was saved yet.
    fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError>;
    /// Replaces the saved bytes.
    fn save(&self, snapshot: Vec<u8>) -> Result<(), RegistrationError>;
}

/// Lets the native driver persist through an app's [`SnapshotStore`].
pub(crate) struct ForeignStore {
    store: Arc<dyn SnapshotStore>,
}

impl ForeignStore {
    pub(crate) fn new(store: Arc<dyn SnapshotStore>) -> Self {
        ForeignStore { store }
    }
}

const FOREIGN_STORE_NAME: &str = "the app's snapshot store";

fn store_error(action: &'static str, err: RegistrationError) -> StoreError {
    let detail = match err {
        RegistrationError::Store { detail } => detail,
        other => other.to_string(),
    };
    StoreError::new(action, FOREIGN_STORE_NAME, io::Error::other(detail))
}

impl Store for ForeignStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store
            .load()
            .map_err(|err| store_error("cannot load from", err))
    }

    fn save(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.store
            .save(bytes.to_vec())
            .map_err(|err| store_error("cannot save to", err))
    }
}

/// How loud an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Diagnostic detail (lock busy, health probes, repeated failures).
    Debug,
    /// Normal progress (loop started, status changes, registered).
    Info,
    /// Something failed.
    Warn,
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
        }
    }
}

/// Something the registrar did, for the app's log. Never carries a private
/// key, registration credentials or a DDS secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogEvent {
    /// A stable event name: `registration.loop.start`, `status.transition`,
    /// `registration.success`, `registration.error`, `registration.conflict`,
    /// `registration.max_retry_reached`, `healthcheck.expired`,
    /// `healthcheck.touch`, `registration.callback`, `lock.acquired`, …
    pub name: String,
    /// How loud it is.
    pub level: LogLevel,
    /// A human-readable line.
    pub message: String,
}

impl From<&Event> for LogEvent {
    fn from(event: &Event) -> Self {
        LogEvent {
            name: event.name().to_owned(),
            level: event.level().into(),
            message: event.to_string(),
        }
    }
}

/// Receives the registrar's events (Logcat, `os.Logger`, your analytics).
/// Called synchronously from a background thread: keep it quick. Whatever it
/// throws is ignored.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One event.
    fn log(&self, event: LogEvent) -> Result<(), RegistrationError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct FailingStore;
    impl SnapshotStore for FailingStore {
        fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError> {
            Err(RegistrationError::Store {
                detail: "disk on fire".into(),
            })
        }
        fn save(&self, _: Vec<u8>) -> Result<(), RegistrationError> {
            Err(RegistrationError::Unexpected {
                detail: "boom".into(),
            })
        }
    }

    #[test]
    fn store_errors_keep_the_app_detail() {
        let store = ForeignStore::new(Arc::new(FailingStore));
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("disk on fire") && err.contains(FOREIGN_STORE_NAME),
            "{err}"
        );
        let err = store.save(b"{}").unwrap_err().to_string();
        assert!(err.contains("boom"), "{err}");
    }

    #[derive(Default)]
    struct MemoryStore(Mutex<Option<Vec<u8>>>);
    impl SnapshotStore for MemoryStore {
        fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn save(&self, snapshot: Vec<u8>) -> Result<(), RegistrationError> {
            *self.0.lock().unwrap() = Some(snapshot);
            Ok(())
        }
    }

    #[test]
    fn store_round_trips() {
        let store = ForeignStore::new(Arc::new(MemoryStore::default()));
        assert_eq!(store.load().unwrap(), None);
        store.save(b"abc").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"abc"[..]));
    }
}
