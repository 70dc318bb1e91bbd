//! Awaitables: an operation runs as a task on the runtime and hands its result
//! to a Python callable (the package's `_aio` module passes one that settles
//! an asyncio future through `loop.call_soon_threadsafe`, and does nothing once
//! the loop is closed).
//!
//! The result reaches Python only through [`with_python`], so a task that ends
//! after the `atexit` hook (a request abandoned by a cancelled call, say) never
//! touches the finalizing interpreter. Cancelling aborts the task and returns
//! once it has ended, so a cancelled call leaves nothing running.

use crate::errors::Error;
use crate::logbridge::with_python;
use crate::registrar::DEFAULT_STOP_TIMEOUT;
use crate::runtime::runtime;
use posemesh_registration::Call;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What cancelling does besides aborting the task; returns what to wait for.
pub(crate) type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// An operation in progress for an awaitable; `cancel()` abandons it.
#[pyclass(frozen, name = "_Call", module = "posemesh_registration._native")]
pub(crate) struct PyCall {
    call: Mutex<Option<Call<()>>>,
    cleanup: Mutex<Option<Cleanup>>,
    /// Set before the result is handed over: cancelling is then a no-op.
    settled: Arc<AtomicBool>,
}

#[pymethods]
impl PyCall {
    /// Abandons the operation unless it has ended, and returns once its task
    /// (and any clean-up) has ended, with the GIL released.
    fn cancel(&self, py: Python<'_>) {
        let call = self.call.lock().unwrap_or_else(|e| e.into_inner()).take();
        let cleanup = self
            .cleanup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut call) = call else { return };
        if self.settled.load(Ordering::SeqCst) {
            // Handing its result over (it may wait for the GIL): it ends by itself.
            return call.detach();
        }
        let after = cleanup.map(|cleanup| cleanup());
        // From a logging handler this only aborts: waiting would hold up the runtime.
        crate::logbridge::detach(py, || call.abandon());
        if let Some(after) = after.filter(|_| !crate::runtime::inside_runtime()) {
            crate::logbridge::detach(py, || {
                runtime().block_on(async {
                    let _ = tokio::time::timeout(DEFAULT_STOP_TIMEOUT, after).await;
                })
            });
        }
    }

    /// Whether the result has been handed over.
    #[getter]
    fn done(&self) -> bool {
        self.settled.load(Ordering::SeqCst)
    }
}

/// The awaitable is gone, its result handed over or not: the call runs on,
/// as a dropped `asyncio` future's callback would (only `cancel()`
/// abandons). Abandoning here could wait, holding the GIL, for the very
/// task that is handing its result to Python.
impl Drop for PyCall {
    fn drop(&mut self) {
        if let Some(call) = self
            .call
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            call.detach();
        }
    }
}

/// Runs `future` on the runtime; its result goes to `done(failed, value)`
/// (`value` the result, or the exception when `failed`).
pub(crate) fn spawn<T, F>(done: Py<PyAny>, future: F, cleanup: Option<Cleanup>) -> PyCall
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let settled = Arc::new(AtomicBool::new(false));
    let flag = settled.clone();
    let call = Call::spawn(runtime().handle(), async move {
        let result = future.await;
        flag.store(true, Ordering::SeqCst);
        with_python(move |py| {
            let (failed, value) = match result {
                Ok(value) => match value.into_bound_py_any(py) {
                    Ok(value) => (false, value.unbind()),
                    Err(err) => (true, err.into_value(py).into_any()),
                },
                Err(err) => (true, err.into_pyerr(py).into_value(py).into_any()),
            };
            if let Err(err) = done.call1(py, (failed, value)) {
                err.write_unraisable(py, None);
            }
        });
    });
    PyCall {
        call: Mutex::new(Some(call)),
        cleanup: Mutex::new(cleanup),
        settled,
    }
}
