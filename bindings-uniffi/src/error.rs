//! The one error type of the bindings: a sealed `RegistrationException`
//! hierarchy in Kotlin, a `RegistrationError` enum conforming to `Error` in Swift.
//!
//! No variant ever carries a private key, registration credentials or a DDS
//! secret: every text is built from core errors that redact them, or from
//! fixed phrases.

use crate::http::TransportErrorKind;
use posemesh_registration_core as core;
use posemesh_registration_core::response::truncate_utf8;
use std::time::Duration;

/// Everything that can go wrong, for the app to `catch`/`switch` on.
///
/// Its text (Kotlin `message` and `toString()`, Swift `description` and
/// `errorDescription`) is this crate's `Display`: one readable line, e.g.
/// `registration attempt failed (retry_fast): …`, never a field dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum RegistrationError {
    /// The private key was refused (never echoes the key).
    #[error("invalid private key: {reason}")]
    InvalidKey {
        /// Why, e.g. "private key must be 32 bytes, got 31".
        reason: String,
    },
    /// The registrar configuration was refused (URL, version, capabilities).
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Why.
        reason: String,
    },
    /// An argument of a protocol function was refused (URL, SIWE challenge, signature).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Why.
        reason: String,
    },
    /// A registration attempt failed: the DDS refused it or could not be reached.
    /// The text ends with the hint, when there is one.
    #[error(
        "registration attempt failed ({}): {detail}{}",
        failure_class.as_str(),
        hint.as_ref().map(|hint| format!(" (hint: {hint})")).unwrap_or_default()
    )]
    AttemptFailed {
        /// What the registrar does about it (retry soon, retry after the interval, conflict).
        failure_class: FailureClass,
        /// The HTTP status, when the DDS answered.
        status: Option<i32>,
        /// The DDS's `Retry-After`, when it sent one (capped at one hour). The
        /// registrar waits at least this long and never less than its backoff.
        retry_after: Option<Duration>,
        /// `registration failed: status S, endpoint E, body_snippet: B` or the transport error.
        detail: String,
        /// What to do, for a 409 (usually another instance registered with the same
        /// wallet), a 402 (the wallet lacks the stake the network requires) or a
        /// legacy registration refused while the DDS's clock differs from the device's.
        hint: Option<String>,
    },
    /// Thrown by an app's `HttpClient` when a request got no response.
    #[error("HTTP request failed ({}): {detail}", kind.as_str())]
    Http {
        /// Timeout, connection failure, broken connection or other.
        kind: TransportErrorKind,
        /// The client's description (no request body, please).
        detail: String,
    },
    /// Thrown by an app's `SnapshotStore`, or a failure of the built-in file store.
    #[error("snapshot store failed: {detail}")]
    Store {
        /// What failed.
        detail: String,
    },
    /// A DDS callback was refused; `status` is the HTTP status to answer.
    #[error("registration callback rejected with {status}: {reason}")]
    CallbackRejected {
        /// The HTTP status (400, 403, 409, 413, 422).
        status: i32,
        /// Why.
        reason: String,
    },
    /// `run` or `start` while the registration loop runs on the same registrar.
    #[error("the registration loop is already running on this registrar")]
    AlreadyRunning,
    /// The operation ended without a result: `stop()` was called, or the
    /// registrar was closed.
    #[error("stopped before the attempt finished")]
    Stopped,
    /// A call on an object already closed (Kotlin `close()` or `use {}`):
    /// it cannot be used again.
    #[error("{object} is closed")]
    Closed {
        /// The object's class (`Registrar`, `NodeKey`).
        object: String,
    },
    /// App code called by the library (HTTP client, store, logger) threw
    /// something other than this error type, or an internal failure.
    #[error("unexpected error: {detail}")]
    Unexpected {
        /// The description.
        detail: String,
    },
}

/// Anything else app code threw (Kotlin: any `Throwable`, `Error`s such as
/// `TODO()`'s `NotImplementedError` included; the generated Kotlin is patched
/// by `generate.sh` to catch them). Kotlin reports a stack trace: its first
/// line, the exception's class and message, is kept.
impl From<uniffi::UnexpectedUniFFICallbackError> for RegistrationError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> Self {
        let first_line = err.reason.lines().next().unwrap_or("").trim();
        let detail = if first_line.is_empty() {
            "the app's code threw an exception".to_owned()
        } else {
            truncate_utf8(first_line, 512)
        };
        RegistrationError::Unexpected { detail }
    }
}

impl From<core::KeyError> for RegistrationError {
    fn from(err: core::KeyError) -> Self {
        RegistrationError::InvalidKey {
            reason: err.to_string(),
        }
    }
}

impl From<core::ConfigError> for RegistrationError {
    fn from(err: core::ConfigError) -> Self {
        RegistrationError::InvalidConfig {
            reason: err.to_string(),
        }
    }
}

impl From<core::Failure> for RegistrationError {
    fn from(failure: core::Failure) -> Self {
        RegistrationError::AttemptFailed {
            failure_class: failure.class.into(),
            status: failure.status.map(i32::from),
            retry_after: failure.retry_after,
            hint: failure.hint().map(str::to_owned),
            detail: failure.message,
        }
    }
}

impl From<posemesh_registration::DriverError> for RegistrationError {
    fn from(err: posemesh_registration::DriverError) -> Self {
        use posemesh_registration::DriverError;
        match err {
            DriverError::Store(err) => RegistrationError::Store {
                detail: err.to_string(),
            },
            DriverError::Http(detail) => RegistrationError::Unexpected { detail },
            DriverError::AlreadyRunning => RegistrationError::AlreadyRunning,
            DriverError::Stopped => RegistrationError::Stopped,
            DriverError::Config(err) => err.into(),
        }
    }
}

impl From<posemesh_registration::RegisterOnceError> for RegistrationError {
    fn from(err: posemesh_registration::RegisterOnceError) -> Self {
        use posemesh_registration::RegisterOnceError;
        match err {
            RegisterOnceError::Failed(failure) => failure.into(),
            RegisterOnceError::Driver(err) => err.into(),
        }
    }
}

/// What the registrar does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum FailureClass {
    /// 409: the node is registered elsewhere; retried after the full interval.
    Conflict,
    /// 408, 429, 5xx, transport errors, unusable answers: retried soon with backoff.
    RetryFast,
    /// Any other 4xx: the request is refused; retried after the full interval.
    RetryLater,
}

impl FailureClass {
    /// `conflict`, `retry_fast` or `retry_later`.
    pub fn as_str(self) -> &'static str {
        core::FailureClass::from(self).as_str()
    }
}

impl From<core::FailureClass> for FailureClass {
    fn from(class: core::FailureClass) -> Self {
        match class {
            core::FailureClass::Conflict => FailureClass::Conflict,
            core::FailureClass::RetryFast => FailureClass::RetryFast,
            core::FailureClass::RetryLater => FailureClass::RetryLater,
        }
    }
}

impl From<FailureClass> for core::FailureClass {
    fn from(class: FailureClass) -> Self {
        match class {
            FailureClass::Conflict => core::FailureClass::Conflict,
            FailureClass::RetryFast => core::FailureClass::RetryFast,
            FailureClass::RetryLater => core::FailureClass::RetryLater,
        }
    }
}
