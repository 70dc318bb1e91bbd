//! Every failure reaches JavaScript as an instance of one of the `Error` subclasses in
//! `js/support.js`, with a stable `code`. Messages come from core's error types, which
//! never echo keys, secrets or URLs.

use posemesh_registration_core::registrar::ConfigError;
use posemesh_registration_core::request::ChallengeError;
use posemesh_registration_core::{Failure, FailureClass, KeyError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(
        kind: &str,
        code: &str,
        message: &str,
        details: JsValue,
        cause: JsValue,
    ) -> JsValue;
}

/// Which JavaScript class an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `PosemeshError` itself: a malformed argument.
    Base,
    /// `KeyError`
    Key,
    /// `ConfigError`
    Config,
    /// `RegistrationError`
    Registration,
    /// `StorageError`
    Storage,
    /// `StateError`
    State,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Key => "key",
            Kind::Config => "config",
            Kind::Registration => "registration",
            Kind::Storage => "storage",
            Kind::State => "state",
        }
    }
}

/// An error on its way to JavaScript.
#[derive(Debug)]
pub(crate) struct Error {
    kind: Kind,
    code: &'static str,
    message: String,
    /// Boxed: errors travel in every `Result` of the binding, and are rarely this one.
    details: Option<Box<FailureDetail>>,
    /// The JavaScript error behind it (`fetch`'s `TypeError`), as the error's `cause`.
    cause: Option<JsValue>,
}

impl Error {
    pub(crate) fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            code,
            message: message.into(),
            details: None,
            cause: None,
        }
    }

    /// A malformed argument (`PosemeshError`, code `invalid_argument`).
    pub(crate) fn argument(message: impl Into<String>) -> Self {
        Error::new(Kind::Base, "invalid_argument", message)
    }

    /// A malformed option (`ConfigError`, code `invalid_option`).
    pub(crate) fn option(message: impl Into<String>) -> Self {
        Error::new(Kind::Config, "invalid_option", message)
    }

    pub(crate) fn state(code: &'static str, message: impl Into<String>) -> Self {
        Error::new(Kind::State, code, message)
    }

    pub(crate) fn storage(code: &'static str, message: impl Into<String>) -> Self {
        Error::new(Kind::Storage, code, message)
    }

    /// A failed registration attempt, with its class, status, `Retry-After` and hint. The
    /// message is the core's text, already free of secrets: the reference's message, then
    /// `(hint: …)` for a 409, a 402 or a clock the DDS disagrees with.
    pub(crate) fn registration(failure: &Failure) -> Self {
        let code = match failure.class {
            FailureClass::Conflict => "registration_conflict",
            FailureClass::RetryLater => "registration_rejected",
            FailureClass::RetryFast => "registration_unavailable",
        };
        Error {
            kind: Kind::Registration,
            code,
            details: Some(Box::new(FailureDetail::new(failure))),
            message: failure.to_string(),
            cause: None,
        }
    }

    /// The JavaScript error behind this one (`fetch`'s rejection), kept as `cause`.
    pub(crate) fn with_cause(mut self, cause: Option<JsValue>) -> Self {
        self.cause = cause;
        self
    }

    /// The JavaScript error object.
    pub(crate) fn into_js(self) -> JsValue {
        let details = self.details.as_ref().map_or(JsValue::UNDEFINED, |d| {
            let details = d.fill(crate::convert::Obj::new());
            // The error's own text (the hint after the failure's message), which the details'
            // `message` would otherwise replace.
            details.set("message", self.message.as_str());
            details.into_js()
        });
        let cause = self.cause.unwrap_or(JsValue::UNDEFINED);
        make_error(self.kind.as_str(), self.code, &self.message, details, cause)
    }
}

impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        error.into_js()
    }
}

impl From<KeyError> for Error {
    fn from(error: KeyError) -> Self {
        let code = match error {
            KeyError::NotHex => "key_not_hex",
            KeyError::WrongLength(_) | KeyError::WrongHexLength(_) => "key_wrong_length",
            KeyError::OutOfRange => "key_out_of_range",
        };
        Error::new(Kind::Key, code, error.to_string())
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::new(Kind::Config, error.code(), error.to_string())
    }
}

impl From<ChallengeError> for Error {
    fn from(error: ChallengeError) -> Self {
        Error::new(Kind::Base, "invalid_challenge", error.to_string())
    }
}

/// A classified failure as JavaScript sees it (in events, errors and `classifyResponse`):
/// `{ failureClass, status?, retryAfterMs?, message, hint? }`.
#[derive(Debug, Clone)]
pub(crate) struct FailureDetail {
    /// `conflict`, `retry_fast` or `retry_later`.
    pub failure_class: &'static str,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The server's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<f64>,
    /// What went wrong, safe to log (the reference's format).
    pub message: String,
    /// What to do, for a 409, a 402 or a clock the DDS disagrees with (the core's `Failure::hint`).
    pub hint: Option<&'static str>,
}

impl FailureDetail {
    pub(crate) fn new(failure: &Failure) -> Self {
        FailureDetail {
            failure_class: failure.class.as_str(),
            status: failure.status,
            retry_after_ms: failure.retry_after.map(crate::convert::millis),
            message: failure.message.clone(),
            hint: failure.hint(),
        }
    }

    /// Adds the fields to `obj` (after whatever it already has).
    pub(crate) fn fill(&self, obj: crate::convert::Obj) -> crate::convert::Obj {
        obj.set("failureClass", self.failure_class)
            .set_some("status", self.status)
            .set_some("retryAfterMs", self.retry_after_ms)
            .set("message", self.message.as_str())
            .set_some("hint", self.hint);
        obj
    }
}

/// Shorthand for the bindings' results.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
