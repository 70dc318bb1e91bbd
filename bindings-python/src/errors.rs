//! Rust errors → the exception classes of `posemesh_registration._errors`.
//!
//! The classes are plain Python (so they can also derive from `ValueError` or
//! `ConnectionError`); they are looked up once, on the first error. No message
//! built here ever contains a key or a secret: the core's error types do not
//! carry them.

use posemesh_registration::core::registrar::ConfigError;
use posemesh_registration::core::{KeyError, UrlError};
use posemesh_registration::{DriverError, Failure, FailureClass, RegisterOnceError, StoreError};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// An error on its way to Python.
#[derive(Debug)]
pub(crate) enum Error {
    /// `InvalidKeyError`
    InvalidKey(String),
    /// `ConfigError`
    Config(String),
    /// `InvalidUrlError`
    InvalidUrl(String),
    /// `DdsRejectedError` (or `ConflictError` for the conflict class); the
    /// message is the failure's text, its hint included.
    Rejected {
        message: String,
        status: Option<u16>,
        kind: FailureClass,
        retry_after: Option<f64>,
        hint: Option<&'static str>,
    },
    /// `TransportError`
    Transport {
        message: String,
        retry_after: Option<f64>,
    },
    /// `StateError`
    State(String),
}

impl Error {
    /// The exception for a failed registration attempt.
    pub(crate) fn from_failure(failure: &Failure) -> Error {
        let retry_after = failure.retry_after.map(|d| d.as_secs_f64());
        // No HTTP status and retried fast: nothing usable came back (connection,
        // timeout, an unreadable answer). A conflict always has its 409; an
        // answer refused as it stands (a SIWE challenge for another domain) is
        // retried later, like a refusal.
        if failure.status.is_some() || failure.class != FailureClass::RetryFast {
            Error::Rejected {
                message: failure.to_string(),
                status: failure.status,
                kind: failure.class,
                retry_after,
                hint: failure.hint(),
            }
        } else {
            Error::Transport {
                message: failure.message.clone(),
                retry_after,
            }
        }
    }

    fn class_and_kwargs<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(&'static str, String, Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        let (class, message) = match self {
            Error::InvalidKey(m) => ("InvalidKeyError", m.clone()),
            Error::Config(m) => ("ConfigError", m.clone()),
            Error::InvalidUrl(m) => ("InvalidUrlError", m.clone()),
            Error::State(m) => ("StateError", m.clone()),
            Error::Rejected {
                message,
                status,
                kind,
                retry_after,
                hint,
            } => {
                kwargs.set_item("status", *status)?;
                kwargs.set_item("kind", kind.as_str())?;
                kwargs.set_item("retry_after", *retry_after)?;
                kwargs.set_item("hint", *hint)?;
                let class = if *kind == FailureClass::Conflict {
                    "ConflictError"
                } else {
                    "DdsRejectedError"
                };
                (class, message.clone())
            }
            Error::Transport {
                message,
                retry_after,
            } => {
                kwargs.set_item("retry_after", *retry_after)?;
                ("TransportError", message.clone())
            }
        };
        Ok((class, message, kwargs))
    }

    /// The Python exception. Falls back to `RuntimeError` if the package's
    /// exception module cannot be imported (a broken installation).
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let built = (|| -> PyResult<PyErr> {
            let (class, message, kwargs) = self.class_and_kwargs(py)?;
            let errors = ERRORS
                .get_or_try_init(py, || {
                    py.import("posemesh_registration._errors")
                        .map(Bound::unbind)
                })?
                .bind(py);
            let instance = errors.getattr(class)?.call((message,), Some(&kwargs))?;
            Ok(PyErr::from_value(instance))
        })();
        built.unwrap_or_else(|err| {
            PyRuntimeError::new_err(format!(
                "posemesh_registration: cannot build exception ({err}); original error: {}",
                self.plain_message()
            ))
        })
    }

    fn plain_message(&self) -> String {
        match self {
            Error::InvalidKey(m) | Error::Config(m) | Error::InvalidUrl(m) | Error::State(m) => {
                m.clone()
            }
            Error::Rejected { message, .. } | Error::Transport { message, .. } => message.clone(),
        }
    }
}

/// `posemesh_registration._errors`, imported on the first error.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        Python::attach(|py| err.into_pyerr(py))
    }
}

impl From<KeyError> for Error {
    fn from(err: KeyError) -> Error {
        Error::InvalidKey(err.to_string())
    }
}

impl From<UrlError> for Error {
    fn from(err: UrlError) -> Error {
        Error::InvalidUrl(err.to_string())
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Error {
        match err {
            ConfigError::DdsUrl(_) | ConfigError::NodeUrl(_) | ConfigError::PlaintextDds => {
                Error::InvalidUrl(err.to_string())
            }
            _ => Error::Config(err.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Error {
        Error::State(err.to_string())
    }
}

impl From<DriverError> for Error {
    fn from(err: DriverError) -> Error {
        match err {
            DriverError::Config(err) => err.into(),
            DriverError::Http(message) => Error::Transport {
                message,
                retry_after: None,
            },
            other => Error::State(other.to_string()),
        }
    }
}

impl From<RegisterOnceError> for Error {
    fn from(err: RegisterOnceError) -> Error {
        match err {
            RegisterOnceError::Failed(failure) => Error::from_failure(&failure),
            RegisterOnceError::Driver(err) => err.into(),
        }
    }
}
