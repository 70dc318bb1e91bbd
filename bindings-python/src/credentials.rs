//! The DDS's callback credentials as Python sees them: their secret hidden
//! from `repr()` and from pickling.

use crate::convert::{pyrepr, pyrepr_opt};
use posemesh_registration::core::DdsCredentials;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// What the DDS handed the node in its callback: `id`, `organization_id` and
/// `secret`. `repr()` never shows the secret.
#[pyclass(frozen, name = "DdsCredentials", module = "posemesh_registration")]
pub(crate) struct PyDdsCredentials {
    pub(crate) credentials: DdsCredentials,
}

#[pymethods]
impl PyDdsCredentials {
    /// The node's id at the DDS.
    #[getter]
    fn id(&self) -> &str {
        &self.credentials.id
    }

    /// The node's organisation, if the DDS said.
    #[getter]
    fn organization_id(&self) -> Option<&str> {
        self.credentials.organization_id.as_deref()
    }

    /// The secret the DDS issued to the node. Keep it out of logs.
    #[getter]
    fn secret(&self) -> &str {
        self.credentials.secret.expose()
    }

    fn __repr__(&self) -> String {
        format!(
            "DdsCredentials(id={}, organization_id={}, secret=<redacted>)",
            pyrepr(&self.credentials.id),
            pyrepr_opt(self.credentials.organization_id.as_deref())
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Not picklable: a pickle would carry the secret in clear.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "DdsCredentials cannot be pickled (it would write the secret in clear)",
        ))
    }
}
