//! The tokio runtime (native's, one per process) and waiting on it from a
//! Python thread: GIL released, Ctrl-C honoured.

use crate::errors::Error;
use posemesh_registration::{Background, Call};
use pyo3::prelude::*;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// The runtime every registrar and every awaitable of this process runs on
/// (native's shared one, rebuilt in a forked child). Call it attached to
/// Python, so that no other thread holds it while `os.fork()` runs.
pub(crate) fn runtime() -> &'static Runtime {
    posemesh_registration::shared_runtime().expect("cannot start the tokio runtime")
}

/// Whether this thread is one of the runtime's own: a logging handler or a
/// state store the registrar called runs there. Blocking on the runtime from it
/// would panic (tokio refuses to nest) or wait for the very task it holds up.
pub(crate) fn inside_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// The error for a blocking call made from one of the registrar's callbacks.
pub(crate) fn refuse_inside_runtime(call: &str) -> PyErr {
    Error::State(format!(
        "{call} cannot block inside the registrar's own callback (a logging handler or a \
         state store); call it from another thread"
    ))
    .into()
}

/// Blocks until `task` has ended, with the GIL released, checking for
/// signals every 50 ms: `Ok(false)` if `timeout` passed first, a signal's
/// exception (Ctrl-C's `KeyboardInterrupt`) as the error.
pub(crate) fn wait_ended(
    py: Python<'_>,
    task: &Background,
    timeout: Option<Duration>,
) -> PyResult<bool> {
    if inside_runtime() {
        return Err(refuse_inside_runtime("this call"));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut step = Duration::from_millis(50);
        if let Some(deadline) = deadline {
            step = step.min(deadline.saturating_duration_since(Instant::now()));
        }
        if crate::logbridge::detach(py, || task.wait_ended(step)) {
            return Ok(true);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

/// Runs `future` on the runtime as a native `Call` and waits for it
/// ([`wait_ended`]). `None` if `timeout` passed first. A signal's exception
/// (or the timeout) abandons the call, and returns once its future is
/// dropped (an abandoned request is then reported to the registrar).
pub(crate) fn wait<T: Send + 'static>(
    py: Python<'_>,
    future: impl Future<Output = T> + Send + 'static,
    timeout: Option<Duration>,
) -> PyResult<Option<T>> {
    if inside_runtime() {
        return Err(refuse_inside_runtime("this call"));
    }
    let mut call = Call::spawn(runtime().handle(), future);
    let ended = wait_ended(py, &call.handle(), timeout);
    if let Ok(true) = ended {
        let result = crate::logbridge::detach(py, || runtime().block_on(call.join()));
        return result
            .map(Some)
            .map_err(|err| Error::State(format!("the operation ended early: {err}")).into());
    }
    crate::logbridge::detach(py, || call.abandon());
    ended.map(|_| None)
}
