//! The one tokio runtime (pyo3-async-runtimes' own, which also runs every
//! awaitable) and waiting on it from a Python thread: GIL released, Ctrl-C
//! honoured.

use crate::errors::Error;
use pyo3::prelude::*;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Configures the runtime; it is built on first use, not at import.
pub(crate) fn configure() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(2)
        .thread_name("posemesh-registration")
        .enable_all();
    pyo3_async_runtimes::tokio::init(builder);
}

/// The runtime every registrar and every awaitable runs on.
pub(crate) fn runtime() -> &'static Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
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
        let joined = py.detach(|| {
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
            py.detach(|| {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
                })
            });
            return interrupted.map_or(Ok(None), Err);
        }
    }
}
