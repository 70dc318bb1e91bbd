//! The shared tokio runtime, and `Job`: a future running on it that a Python
//! thread can wait for (GIL released, Ctrl-C honoured) or cancel.

use crate::errors::Error;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::{oneshot, Notify};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime every registrar and every awaitable runs on, built on first use
/// (not at import) and shared with `pyo3-async-runtimes`.
pub(crate) fn runtime() -> Result<&'static Runtime, Error> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("posemesh-registration")
        .enable_all()
        .build()
        .map_err(|err| Error::State(format!("cannot start the async runtime: {err}")))?;
    // Another thread may have won the race; use whichever got stored.
    let runtime = match RUNTIME.set(built) {
        Ok(()) => RUNTIME.get().expect("just set"),
        Err(_unused) => RUNTIME.get().expect("set by the other thread"),
    };
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime);
    Ok(runtime)
}

enum State<T> {
    Running,
    /// `None`: cancelled (or the future panicked).
    Finished(Option<T>),
    Taken,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    finished: Condvar,
    notify: Notify,
}

impl<T> Shared<T> {
    fn finish(&self, value: Option<T>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, State::Running) {
            *state = State::Finished(value);
        }
        drop(state);
        self.finished.notify_all();
        self.notify.notify_waiters();
    }

    fn is_running(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Running
        )
    }

    fn take(&self) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, State::Taken) {
            State::Finished(value) => value,
            State::Running => {
                *state = State::Running;
                None
            }
            State::Taken => None,
        }
    }
}

/// Marks the job finished even if its future panics.
struct FinishOnDrop<T>(Arc<Shared<T>>);

impl<T> Drop for FinishOnDrop<T> {
    fn drop(&mut self) {
        self.0.finish(None);
    }
}

/// A spawned future. Dropping the `Job` cancels it.
pub(crate) struct Job<T> {
    shared: Arc<Shared<T>>,
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

/// How a blocking wait ended.
pub(crate) enum Waited<T> {
    /// The future finished with this value.
    Done(T),
    /// It was cancelled (or panicked) before finishing.
    Cancelled,
    /// The timeout passed first; it is still running.
    TimedOut,
}

impl<T: Send + 'static> Job<T> {
    /// Spawns `future` on the shared runtime.
    pub(crate) fn spawn(future: impl Future<Output = T> + Send + 'static) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Running),
            finished: Condvar::new(),
            notify: Notify::new(),
        });
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        let guard = FinishOnDrop(shared.clone());
        runtime()?.spawn(async move {
            let guard = guard;
            let mut future = Box::pin(future);
            // A dropped sender cancels too: a forgotten job does not run on.
            let value = tokio::select! {
                biased;
                _ = cancel_rx => None,
                value = &mut future => Some(value),
            };
            // Run the future's cleanup (an abandoned request is reported to the
            // registrar) before anyone is told the job is over.
            drop(future);
            guard.0.finish(value);
        });
        Ok(Job {
            shared,
            cancel: Mutex::new(Some(cancel_tx)),
        })
    }

    /// Asks the future to stop (it is dropped at its next suspension point).
    pub(crate) fn cancel(&self) {
        if let Some(tx) = self.cancel.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    /// Whether the future is still running.
    pub(crate) fn is_running(&self) -> bool {
        self.shared.is_running()
    }

    /// Waits with the GIL released, checking for signals (Ctrl-C) every 50 ms.
    /// A signal's exception cancels the job, waits for its cleanup, and is returned.
    pub(crate) fn wait_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Waited<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut step = Duration::from_millis(50);
            if let Some(deadline) = deadline {
                step = step.min(deadline.saturating_duration_since(Instant::now()));
            }
            let running = py.detach(|| self.block_while_running(step));
            if !running {
                return Ok(match self.shared.take() {
                    Some(value) => Waited::Done(value),
                    None => Waited::Cancelled,
                });
            }
            if let Err(err) = py.check_signals() {
                self.cancel();
                py.detach(|| self.block_while_running(Duration::from_secs(10)));
                return Err(err);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Waited::TimedOut);
            }
        }
    }

    /// Blocks (no GIL) up to `limit` while the job runs; returns whether it still does.
    fn block_while_running(&self, limit: Duration) -> bool {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = self
            .shared
            .finished
            .wait_timeout_while(state, limit, |s| matches!(s, State::Running))
            .unwrap_or_else(|e| e.into_inner());
        matches!(*state, State::Running)
    }

    /// Waits asynchronously until the job is over; `None` if it was cancelled.
    pub(crate) async fn wait(&self) -> Option<T> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.shared.is_running() {
                return self.shared.take();
            }
            notified.await;
        }
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.cancel.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}
