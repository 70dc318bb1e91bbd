//! A Python object with `load()` and `save(bytes)` as the driver's store (the
//! native file and memory stores are used as they are).

use crate::logbridge::with_python;
use posemesh_registration::{Store, StoreError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use std::io;

/// A Python object with `load() -> bytes | None` and `save(data: bytes) -> None`.
///
/// Called from the runtime's threads (with the GIL taken for the call).
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
