//! The tokio runtime (one per process, built on first use) and waiting on it
//! from a Python thread: GIL released, Ctrl-C honoured.
//!
//! The runtime belongs to the process that built it: after `os.fork()` the
//! child has none of its threads, so the child builds its own on first use
//! (the parent's is leaked there: dropping it would wait for threads that do
//! not exist in the child).

use crate::errors::Error;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// The runtime and the id of the process that built it. Only taken by threads
/// attached to Python (hence never held by another thread when `os.fork()`
/// runs, which holds the GIL).
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime every registrar and every awaitable of this process runs on.
/// Call it attached to Python.
pub(crate) fn runtime() -> &'static Runtime {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match *slot {
        Some((owner, runtime)) if owner == pid => runtime,
        // None, or the parent's after a fork: leaked here (dropping it would
        // wait for worker threads that do not exist in this process).
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("posemesh-registration")
                .enable_all()
                .build()
                .expect("cannot start the tokio runtime");
            let runtime: &'static Runtime = Box::leak(Box::new(runtime));
            *slot = Some((pid, runtime));
            runtime
        }
    }
}

/// Runs `future` on the runtime and waits for it with the GIL released,
/// checking for signals every 50 ms. `None` if `timeout` passed first. A
/// signal's exception (or the timeout) drops the future, and returns once it
/// is dropped (an abandoned request is then reported to the registrar).
pub(crate) fn wait<T: Send + 'static>(
    py: Python<'_>,
    future: impl Future<Output = T> + Send + 'static,
    timeout: Option<Duration>,
) -> PyResult<Option<T>> {
    let runtime = runtime();
    let mut task = runtime.spawn(future);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut step = Duration::from_millis(50);
        if let Some(deadline) = deadline {
            step = step.min(deadline.saturating_duration_since(Instant::now()));
        }
        let joined = crate::logbridge::detach(py, || {
            runtime.block_on(async { tokio::time::timeout(step, &mut task).await.ok() })
        });
        if let Some(joined) = joined {
            return joined
                .map(Some)
                .map_err(|err| Error::State(format!("the operation ended early: {err}")).into());
        }
        let interrupted = py.check_signals().err();
        if interrupted.is_some() || deadline.is_some_and(|d| Instant::now() >= d) {
            task.abort();
            crate::logbridge::detach(py, || {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
                })
            });
            return interrupted.map_or(Ok(None), Err);
        }
    }
}
