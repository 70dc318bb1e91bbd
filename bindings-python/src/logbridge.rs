//! Events → the standard `logging` module, logger `posemesh_registration`.
//!
//! Each record's message is `"<event name>: <text>"` and its `extra` carries
//! `event` (the reference's event name) plus a few typed fields. Events never
//! hold a secret (the core's `Event` type has none to give).

use posemesh_registration::{Event, Level};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the `atexit` hook: from then on no Rust thread calls into Python.
pub(crate) static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The name of the logger every record goes to.
pub(crate) const LOGGER_NAME: &str = "posemesh_registration";

/// Python's level numbers.
pub(crate) const DEBUG: u8 = 10;
pub(crate) const INFO: u8 = 20;
pub(crate) const WARNING: u8 = 30;

/// A value for a record's `extra`.
pub(crate) enum Extra {
    Str(String),
    Int(i64),
    Float(f64),
    None,
}

/// Runs `f` attached to the interpreter, unless it is shutting down.
pub(crate) fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        return None;
    }
    Python::try_attach(f)
}

/// Logs `event: message` at `level` with `extra={"event": event, ...}`.
pub(crate) fn log(level: u8, event: &str, message: &str, fields: Vec<(&'static str, Extra)>) {
    with_python(|py| {
        if let Err(err) = log_attached(py, level, event, message, fields) {
            err.write_unraisable(py, None);
        }
    });
}

fn log_attached(
    py: Python<'_>,
    level: u8,
    event: &str,
    message: &str,
    fields: Vec<(&'static str, Extra)>,
) -> PyResult<()> {
    let logger = LOGGER
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("logging")?
                .call_method1("getLogger", (LOGGER_NAME,))?
                .unbind())
        })?
        .bind(py);
    if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
        return Ok(());
    }
    let extra = PyDict::new(py);
    extra.set_item("event", event)?;
    for (key, value) in fields {
        match value {
            Extra::Str(s) => extra.set_item(key, s)?,
            Extra::Int(i) => extra.set_item(key, i)?,
            Extra::Float(f) => extra.set_item(key, f)?,
            Extra::None => extra.set_item(key, py.None())?,
        }
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("extra", extra)?;
    logger.call_method("log", (level, "%s: %s", event, message), Some(&kwargs))?;
    Ok(())
}

/// Logs a registrar event. `state_file` names the state file in the message
/// of a state that was set aside.
pub(crate) fn log_event(event: &Event, state_file: Option<&str>) {
    let level = match event.level() {
        Level::Debug => DEBUG,
        Level::Info => INFO,
        Level::Warn => WARNING,
    };
    let mut message = event.to_string();
    if let (Event::StateCorrupt { .. }, Some(path)) = (event, state_file) {
        message.push_str(&format!(" (state file {path}, moved to {path}.corrupt)"));
    }
    log(level, event.name(), &message, fields_of(event));
}

fn fields_of(event: &Event) -> Vec<(&'static str, Extra)> {
    let status = |s: Option<u16>| s.map_or(Extra::None, |s| Extra::Int(i64::from(s)));
    match event {
        Event::StatusChanged { from, to } => vec![
            ("status_from", Extra::Str(from.as_str().into())),
            ("status_to", Extra::Str(to.as_str().into())),
        ],
        Event::Registered { elapsed } => {
            vec![("elapsed", Extra::Float(elapsed.as_secs_f64()))]
        }
        Event::RegistrationFailed {
            failure,
            attempt,
            retry_in,
            ..
        } => vec![
            ("http_status", status(failure.status)),
            ("failure_kind", Extra::Str(failure.class.as_str().into())),
            ("attempt", Extra::Int(i64::from(*attempt))),
            ("retry_in", Extra::Float(retry_in.as_secs_f64())),
        ],
        Event::Conflict {
            failure,
            blocked_for,
            ..
        } => vec![
            ("http_status", status(failure.status)),
            ("failure_kind", Extra::Str(failure.class.as_str().into())),
            ("blocked_for", Extra::Float(blocked_for.as_secs_f64())),
        ],
        Event::MaxRetryReached { max_retry } => {
            vec![("max_retry", Extra::Int(i64::from(*max_retry)))]
        }
        Event::CallbackAccepted {
            id,
            organization_id,
            ..
        } => vec![
            ("node_id", Extra::Str(id.clone())),
            (
                "organization_id",
                organization_id.clone().map_or(Extra::None, Extra::Str),
            ),
        ],
        Event::CallbackRejected { status, .. } => {
            vec![("http_status", Extra::Int(i64::from(*status)))]
        }
        _ => Vec::new(),
    }
}
