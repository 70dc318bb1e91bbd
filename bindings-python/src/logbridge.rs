//! Events → the standard `logging` module, logger `posemesh_registration`.
//!
//! Each record's message is `"<event name>: <text>"` and its `extra` carries
//! `event` (the reference's event name) plus the event's fields, named as in
//! the core's schema. Events never hold a secret (the core's `Event` type
//! has none to give).

use posemesh_registration::core::{FieldValue, Origin};
use posemesh_registration::{Event, EventSink, Level};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Set by the `atexit` hook: from then on no Rust thread calls into Python.
pub(crate) static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Rust threads inside [`with_python`] (attached, or waiting to attach).
static ATTACHING: AtomicUsize = AtomicUsize::new(0);

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
}

/// Runs `f` attached to the interpreter, unless it is shutting down. Every
/// call from a Rust thread into Python goes through here: a thread attaching
/// while CPython finalizes crashes the process (CPython < 3.13 lets it take
/// the GIL and then ends the thread with `pthread_exit`, which cannot unwind
/// through Rust frames), and [`begin_shutdown`] with [`wait_for_callers`] make
/// sure none does.
pub(crate) fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            ATTACHING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // Announce first, then check: the flag is set before the announced threads
    // are waited for, so a thread either sees the flag or is waited for.
    ATTACHING.fetch_add(1, Ordering::SeqCst);
    let _leave = Leave;
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        return None;
    }
    Python::try_attach(f)
}

/// From now on no Rust thread calls into Python, and a thread released from
/// [`detach`] other than this one never comes back. Run first in the
/// `atexit` hook: before the loops are stopped, since stopping them releases
/// the threads blocked in their calls.
pub(crate) fn begin_shutdown() {
    *EXITING_THREAD.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current().id());
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
}

/// Waits (GIL released, at most `limit`) for the Rust threads already calling
/// into Python to return. Run last in the `atexit` hook, before the
/// interpreter finalizes.
pub(crate) fn wait_for_callers(py: Python<'_>, limit: Duration) {
    let deadline = Instant::now() + limit;
    py.detach(|| {
        while ATTACHING.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// The thread that ran the `atexit` hook (and finalizes the interpreter).
static EXITING_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

/// Runs `f` with the GIL released, like `py.detach`, except that once the
/// interpreter is exiting a thread other than the exiting one never comes
/// back: it sleeps until the process ends. Re-attaching is what CPython
/// (before 3.14) answers by ending the thread with `pthread_exit`, which
/// cannot unwind through Rust frames (a daemon thread blocked in
/// `Registrar.register_once()` at exit crashed the process that way).
pub(crate) fn detach<T: Send>(py: Python<'_>, f: impl Send + FnOnce() -> T) -> T {
    py.detach(|| {
        let result = f();
        if SHUTTING_DOWN.load(Ordering::SeqCst) {
            let exiting = *EXITING_THREAD.lock().unwrap_or_else(|e| e.into_inner());
            if exiting != Some(std::thread::current().id()) {
                loop {
                    std::thread::park();
                }
            }
        }
        result
    })
}

/// In the child of `os.fork()`: the parent's threads that were about to
/// call into Python do not exist here.
pub(crate) fn after_fork_in_child() {
    ATTACHING.store(0, Ordering::SeqCst);
}

/// One record: `event: message` at `level`, with `extra={"event": event, ...}`,
/// and the Rust file, line and thread that raised it in place of Python's.
struct Record<'a> {
    level: u8,
    event: &'a str,
    message: String,
    fields: Vec<(&'static str, Extra)>,
    origin: Origin,
}

fn log(record: Record<'_>) {
    with_python(|py| {
        if let Err(err) = log_attached(py, record) {
            err.write_unraisable(py, None);
        }
    });
}

fn log_attached(py: Python<'_>, record: Record<'_>) -> PyResult<()> {
    let logger = logger(py)?;
    if !logger
        .call_method1("isEnabledFor", (record.level,))?
        .is_truthy()?
    {
        return Ok(());
    }
    let extra = PyDict::new(py);
    extra.set_item("event", record.event)?;
    for (key, value) in record.fields {
        match value {
            Extra::Str(s) => extra.set_item(key, s)?,
            Extra::Int(i) => extra.set_item(key, i)?,
        }
    }
    // makeRecord(name, level, fn, lno, msg, args, exc_info, func, extra):
    // what `logger.log` would do, naming the Rust source rather than logging's.
    let args = (record.event, record.message);
    let made = logger.call_method1(
        "makeRecord",
        (
            LOGGER_NAME,
            record.level,
            record.origin.file(),
            record.origin.line(),
            "%s: %s",
            args,
            py.None(),
            py.None(),
            extra,
        ),
    )?;
    // A Rust thread is a "Dummy-N" to Python: give its Rust name instead.
    let python_name: String = made.getattr("threadName")?.extract().unwrap_or_default();
    if let (true, Some(thread)) = (
        python_name.starts_with("Dummy-"),
        std::thread::current().name(),
    ) {
        made.setattr("threadName", thread)?;
    }
    logger.call_method1("handle", (made,))?;
    Ok(())
}

/// What identifies a registrar on each of its records.
pub(crate) struct Context {
    /// The DDS base URL.
    pub(crate) dds_url: String,
    /// The node's public 0x address (never a key).
    pub(crate) address: String,
}

/// Gives the package's logger a `NullHandler` (once), so that without any
/// logging configuration its warnings are not printed by `logging.lastResort`.
pub(crate) fn prepare_logger(py: Python<'_>) -> PyResult<()> {
    logger(py).map(drop)
}

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    Ok(LOGGER
        .get_or_try_init(py, || -> PyResult<_> {
            let logging = py.import("logging")?;
            let logger = logging.call_method1("getLogger", (LOGGER_NAME,))?;
            logger.call_method1("addHandler", (logging.getattr("NullHandler")?.call0()?,))?;
            Ok(logger.unbind())
        })?
        .bind(py))
}

/// Logs a registrar event, with the registrar's `posemesh_dds_url` and
/// `posemesh_address` on the record.
pub(crate) fn log_event(event: &Event, origin: Origin, context: &Context) {
    let level = match event.level() {
        Level::Debug => DEBUG,
        Level::Info => INFO,
        Level::Warn => WARNING,
    };
    let message = event.to_string();
    let mut fields = fields_of(event);
    fields.push(("posemesh_dds_url", Extra::Str(context.dds_url.clone())));
    fields.push(("posemesh_address", Extra::Str(context.address.clone())));
    log(Record {
        level,
        event: event.name(),
        message,
        fields,
        origin,
    });
}

/// The registrar's events, as records of the package's logger.
pub(crate) struct RecordSink(pub(crate) Context);

impl EventSink for RecordSink {
    fn event(&self, event: &Event) {
        self.event_at(event, std::panic::Location::caller());
    }

    fn event_at(&self, event: &Event, origin: Origin) {
        log_event(event, origin, &self.0);
    }
}

/// The core's fields ([`Event::fields`]: the schema every binding shares),
/// as the record's extras: the same names (`from_` for `from`, a Python
/// keyword) and units (milliseconds, counts, text).
fn fields_of(event: &Event) -> Vec<(&'static str, Extra)> {
    event
        .fields()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                FieldValue::Int(n) => Extra::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                FieldValue::Text(text) => Extra::Str(text),
            };
            (python_name(name), value)
        })
        .collect()
}

/// A field's name on a Python record: the schema's, with a trailing
/// underscore for a Python keyword (PEP 8), so `record.from_` reads.
pub(crate) fn python_name(name: &'static str) -> &'static str {
    match name {
        "from" => "from_",
        name => name,
    }
}
