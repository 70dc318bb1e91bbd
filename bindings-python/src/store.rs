//! A Python object with `load()` and `save(bytes)` as the driver's store (the
//! native file and memory stores are used as they are).

use crate::logbridge::with_python;
use posemesh_registration::{off_async_workers, BoxFuture, SnapshotStore, StoreError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use std::sync::Arc;

/// A Python object with `load() -> bytes | None` and `save(data: bytes) -> None`.
///
/// `load` runs where the driver asks (when the registrar is built, on the
/// constructor's thread); `save` on the runtime's blocking pool, never on an
/// async worker. Each takes the GIL for the call.
pub(crate) struct PyStore {
    object: Arc<Py<PyAny>>,
}

impl PyStore {
    pub(crate) fn new(object: Py<PyAny>) -> Self {
        PyStore {
            object: Arc::new(object),
        }
    }

    fn error(action: &'static str, detail: String) -> StoreError {
        StoreError(format!("{action} the Python state store: {detail}"))
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

impl SnapshotStore for PyStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(self.load_now()))
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let object = self.object.clone();
        let saving = off_async_workers(move || PyStore::save_now(&object, &bytes));
        Box::pin(async move {
            saving
                .await
                .unwrap_or_else(|| Err(PyStore::error("save() panicked in", "(no detail)".into())))
        })
    }
}

impl PyStore {
    fn load_now(&self) -> Result<Option<Vec<u8>>, StoreError> {
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

    fn save_now(object: &Py<PyAny>, bytes: &[u8]) -> Result<(), StoreError> {
        with_python(|py| {
            object
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
