//! The node's DDS session in Python: the `AccessToken` a registrar's
//! `token()` returns. The rules (when to sign in, refresh, give up) are the
//! core's; this file only converts.

use posemesh_registration::AccessToken;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// A bearer token for the node's own DDS calls (`Authorization: Bearer
/// <token.expose()>`), and when it expires. `repr()` never shows it, and it
/// cannot be pickled.
#[pyclass(frozen, name = "AccessToken", module = "posemesh_registration")]
pub(crate) struct PyAccessToken {
    pub(crate) token: AccessToken,
}

#[pymethods]
impl PyAccessToken {
    /// The token itself. Keep it out of logs.
    fn expose(&self) -> &str {
        self.token.expose()
    }

    /// When the DDS said it expires: an aware `datetime` in UTC.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let secs = self.token.expires_at().since_epoch().as_secs_f64();
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (secs, utc))
    }

    fn __repr__(&self) -> String {
        format!(
            "AccessToken(token=<redacted>, expires_at={})",
            self.token.expires_at()
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Not picklable: a pickle would carry the token in clear.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "AccessToken cannot be pickled (it would write the token in clear)",
        ))
    }
}

/// The token a caller reports refused: an `AccessToken` or its text.
pub(crate) fn refused_token(token: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(token) = token.cast::<PyAccessToken>() {
        return Ok(token.get().token.expose().to_owned());
    }
    token.extract::<String>().map_err(|_| {
        PyTypeError::new_err("token_refused() takes the AccessToken (or its text) the DDS refused")
    })
}
