//! Where a Python registrar keeps its state: the native file store, memory, or
//! any Python object with `load()` and `save(bytes)`.

use crate::logbridge::{self, with_python, Extra};
use posemesh_registration::{FileStore, MemoryStore, Store, StoreError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use std::io;

/// A Python object with `load() -> bytes | None` and `save(data: bytes) -> None`.
///
/// Called from the registrar's worker thread while it holds its internal
/// lock: the object must not call back into the registrar.
pub(crate) struct PyStore {
    object: Py<PyAny>,
}

impl PyStore {
    pub(crate) fn new(object: Py<PyAny>) -> Self {
        PyStore { object }
    }

    fn error(action: &'static str, detail: String) -> StoreError {
        StoreError::new(action, "the Python state store", io::Error::other(detail))
    }

    fn describe_exception(py: Python<'_>, err: &PyErr) -> String {
        let name = err
            .get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "Exception".into());
        format!("{name}: {}", err.value(py))
    }
}

impl Store for PyStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StoreError> {
        with_python(|py| {
            let value = self.object.bind(py).call_method0("load").map_err(|err| {
                Self::error("load() failed in", Self::describe_exception(py, &err))
            })?;
            if value.is_none() {
                return Ok(None);
            }
            if let Ok(bytes) = value.cast::<PyBytes>() {
                return Ok(Some(bytes.as_bytes().to_vec()));
            }
            if let Ok(array) = value.cast::<PyByteArray>() {
                return Ok(Some(array.to_vec()));
            }
            Err(Self::error(
                "load() returned neither bytes nor None in",
                format!("got {}", crate::convert::type_name(&value)),
            ))
        })
        .unwrap_or_else(|| {
            Err(Self::error(
                "cannot call",
                "the interpreter is shutting down".into(),
            ))
        })
    }

    fn save(&self, bytes: &[u8]) -> Result<(), StoreError> {
        with_python(|py| {
            self.object
                .bind(py)
                .call_method1("save", (PyBytes::new(py, bytes),))
                .map(drop)
                .map_err(|err| Self::error("save() failed in", Self::describe_exception(py, &err)))
        })
        .unwrap_or_else(|| {
            Err(Self::error(
                "cannot call",
                "the interpreter is shutting down".into(),
            ))
        })
    }
}

/// Which store, for messages.
pub(crate) enum StoreKind {
    Memory,
    File(String),
    Python,
}

/// Wraps a store so that a failed save reaches Python's `logging` as
/// `state.save.error` (the native driver reports it only through `tracing`).
pub(crate) struct LoggedStore {
    inner: Box<dyn Store>,
}

impl LoggedStore {
    pub(crate) fn memory() -> Self {
        LoggedStore {
            inner: Box::new(MemoryStore::new()),
        }
    }

    pub(crate) fn file(store: FileStore) -> Self {
        LoggedStore {
            inner: Box::new(store),
        }
    }

    pub(crate) fn python(store: PyStore) -> Self {
        LoggedStore {
            inner: Box::new(store),
        }
    }
}

impl Store for LoggedStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.load()
    }

    fn save(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let result = self.inner.save(bytes);
        if let Err(err) = &result {
            logbridge::log(
                logbridge::WARNING,
                "state.save.error",
                &format!("could not persist registration state: {err}"),
                vec![("error", Extra::Str(err.to_string()))],
            );
        }
        result
    }

    fn uses_lock(&self) -> bool {
        self.inner.uses_lock()
    }

    fn try_lock(&self) -> Result<bool, StoreError> {
        self.inner.try_lock()
    }

    fn unlock(&self) {
        self.inner.unlock()
    }

    fn set_aside_corrupt(&self) {
        self.inner.set_aside_corrupt()
    }
}
