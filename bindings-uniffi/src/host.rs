//! What else the app supplies: a [`SnapshotStore`] for the registration state
//! and a [`Logger`] for events, with the adapters the driver needs.

use crate::error::RegistrationError;
use posemesh_registration::core::{Event, FieldValue, Level};
use posemesh_registration::{BoxFuture, SnapshotStore as DriverStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Where the app keeps the registration snapshot between runs (DataStore,
/// EncryptedSharedPreferences, the Keychain, a file).
///
/// Both methods are `suspend` (Kotlin) / `async` (Swift): do the I/O however
/// the platform wants it (`withContext(Dispatchers.IO)`, an actor). They run
/// in a coroutine / `Task` uniffi starts, never on the thread that called the
/// registrar and never while the registrar holds its state lock: `load` once
/// when the registrar is built, `save` after each state change, one call at
/// a time, in order. Don't hop to the main thread inside them if the
/// registrar was built there with the blocking constructor (use
/// `Registrar.create`, which suspends instead).
///
/// The snapshot is small opaque bytes (JSON). In the legacy flow it holds the
/// secret the DDS issued to the node, so keep it in encrypted storage. Save
/// atomically if you can (a crash should leave the old or the new bytes).
/// Whatever `save` throws is reported as a `state.save.error` event (it never
/// counts as saved, and it does not stop registration); what `load` throws
/// fails the constructor with the `Store` error.
///
/// A corrupt or unreadable snapshot is not fatal: the registrar reports it
/// (see `RegistrarInfo.recoveredFrom`) and registers afresh.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SnapshotStore: Send + Sync {
    /// The bytes saved last, or `null`/`nil` if nothing was saved yet.
    async fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError>;
    /// Replaces the saved bytes.
    async fn save(&self, snapshot: Vec<u8>) -> Result<(), RegistrationError>;
}

/// An app's [`SnapshotStore`] as the driver's store: each call awaits the
/// app's coroutine / `Task`.
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
    StoreError(format!("{action} {FOREIGN_STORE_NAME}: {detail}"))
}

impl DriverStore for ForeignStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let loaded = self.store.load().await;
            loaded.map_err(|err| store_error("cannot load from", err))
        })
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let saved = self.store.save(bytes).await;
            saved.map_err(|err| store_error("cannot save to", err))
        })
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
    /// The event's fields, named as in every runtime (the event schema:
    /// `status.transition` has `from` and `to`, `registration.error` has
    /// `attempt`, `error`, `failure_class`, `retry_in_ms` and `status`, …);
    /// times in milliseconds. A field that does not apply is absent.
    pub fields: HashMap<String, EventField>,
}

/// A value in [`LogEvent::fields`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum EventField {
    /// A count or a number of milliseconds.
    Number {
        /// The value.
        value: i64,
    },
    /// Text.
    Text {
        /// The value.
        value: String,
    },
}

impl From<&Event> for LogEvent {
    fn from(event: &Event) -> Self {
        let fields = event.fields().into_iter().map(|(name, value)| {
            let value = match value {
                FieldValue::Int(n) => EventField::Number {
                    value: i64::try_from(n).unwrap_or(i64::MAX),
                },
                FieldValue::Text(value) => EventField::Text { value },
            };
            (name.to_owned(), value)
        });
        LogEvent {
            name: event.name().to_owned(),
            level: event.level().into(),
            message: event.to_string(),
            fields: fields.collect(),
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
    use futures_util::FutureExt;
    use std::sync::Mutex;

    /// These stores answer at once.
    fn block_on<T>(future: BoxFuture<'_, T>) -> T {
        future.now_or_never().expect("answered at once")
    }

    struct FailingStore;
    #[async_trait::async_trait]
    impl SnapshotStore for FailingStore {
        async fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError> {
            Err(RegistrationError::Store {
                detail: "disk on fire".into(),
            })
        }
        async fn save(&self, _: Vec<u8>) -> Result<(), RegistrationError> {
            Err(RegistrationError::Unexpected {
                detail: "boom".into(),
            })
        }
    }

    #[test]
    fn store_errors_keep_the_app_detail() {
        let store = ForeignStore::new(Arc::new(FailingStore));
        let err = block_on(DriverStore::load(&store)).unwrap_err().to_string();
        assert!(
            err.contains("disk on fire") && err.contains(FOREIGN_STORE_NAME),
            "{err}"
        );
        let err = block_on(DriverStore::save(&store, b"{}".to_vec()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("boom"), "{err}");
    }

    #[derive(Default)]
    struct MemoryStore(Mutex<Option<Vec<u8>>>);
    #[async_trait::async_trait]
    impl SnapshotStore for MemoryStore {
        async fn load(&self) -> Result<Option<Vec<u8>>, RegistrationError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn save(&self, snapshot: Vec<u8>) -> Result<(), RegistrationError> {
            *self.0.lock().unwrap() = Some(snapshot);
            Ok(())
        }
    }

    #[test]
    fn store_round_trips() {
        let store = ForeignStore::new(Arc::new(MemoryStore::default()));
        assert_eq!(block_on(DriverStore::load(&store)).unwrap(), None);
        block_on(DriverStore::save(&store, b"abc".to_vec())).unwrap();
        let loaded = block_on(DriverStore::load(&store)).unwrap();
        assert_eq!(loaded.as_deref(), Some(&b"abc"[..]));
    }
}
