//! The calls' tasks and the handles the app holds on them: each driver
//! operation runs as a native `Call` on the library's one tokio runtime,
//! abandoned when the awaiting call goes away; a `CancelToken`
//! ends calls on demand; a `StatusWatch` reads status changes one at a time;
//! a `RegistrationLoop` is what `start()` returns.

use crate::error::RegistrationError;
use crate::registrar::RegistrationStatus;
use posemesh_registration::{Background, Call, CallEnded, Driver, ABANDON_WAIT};
use posemesh_registration_core::Status;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::runtime::Runtime;

/// The one runtime all registrars' tasks run on (native's shared one).
pub(crate) fn runtime() -> Result<&'static Runtime, RegistrationError> {
    posemesh_registration::shared_runtime().map_err(|err| RegistrationError::Unexpected {
        detail: format!("cannot start the async runtime: {err}"),
    })
}

/// Waits for `future` on this (non-async) thread: an app's thread (the
/// blocking constructors) or a blocking-pool thread of the runtime (the
/// suspending constructor builds there).
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, RegistrationError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(tokio::task::block_in_place(|| handle.block_on(future))),
        Err(_) => Ok(runtime()?.block_on(future)),
    }
}

/// Awaits `call`'s result. When the awaiting call goes away (a cancelled
/// coroutine or `Task`), `call` goes with it and is abandoned: its driver
/// future has been dropped by the time the cancelled call returns.
pub(crate) async fn joined<T: Send + 'static>(call: Call<T>) -> Result<T, RegistrationError> {
    call.join().await.map_err(|ended| match ended {
        CallEnded::Abandoned => RegistrationError::Stopped,
        CallEnded::Panicked => RegistrationError::Unexpected {
            detail: ended.to_string(),
        },
    })
}

/// Runs `future` as a [`Call`] on the library's runtime and awaits it ([`joined`]).
pub(crate) async fn on_runtime<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, RegistrationError> {
    joined(Call::spawn(runtime()?.handle(), future)).await
}

/// Cancels the registrar calls it is passed to (`registerOnceWith`,
/// `runWith`, `StatusWatch.next`): they then end at once with the `Stopped`
/// error (`null`/`nil` for `next`), their in-flight request dropped. The
/// Swift package's hand-written layer cancels one when its `Task` is
/// cancelled (`withTaskCancellationHandler`). Once cancelled, it stays so.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct CancelToken {
    cancelled: tokio::sync::watch::Sender<bool>,
}

#[uniffi::export]
impl CancelToken {
    /// A token that is not cancelled yet.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(CancelToken {
            cancelled: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Cancels every call the token was passed to, and every later one.
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }

    /// Whether `cancel()` was called.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }
}

impl CancelToken {
    /// Completes once the token is cancelled.
    async fn cancelled(&self) {
        let mut receiver = self.cancelled.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

impl fmt::Display for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_cancelled() {
            "cancelled"
        } else {
            "not cancelled"
        };
        write!(f, "CancelToken({state})")
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `future`, or `Err(Stopped)` as soon as `cancel` is cancelled (dropping
/// `future`, which aborts its task and the request in flight).
pub(crate) async fn unless_cancelled<T>(
    cancel: Option<Arc<CancelToken>>,
    future: impl Future<Output = Result<T, RegistrationError>>,
) -> Result<T, RegistrationError> {
    let Some(cancel) = cancel else {
        return future.await;
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(RegistrationError::Stopped),
        result = future => result,
    }
}

/// The registrar's status changes, one at a time, none missed: what the
/// Kotlin `statusFlow`/`statusChanges` and the Swift `statusUpdates` read.
/// Made by `Registrar.watchStatus()`. Its first value is the status when it
/// was made; then each new status. Keeps only the registrar's shared state
/// alive, not its loop.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct StatusWatch {
    statuses: futures_util::lock::Mutex<futures_util::stream::BoxStream<'static, Status>>,
    closed: CancelToken,
    /// The last status handed out, to skip repeats.
    last: Mutex<Option<RegistrationStatus>>,
}

impl StatusWatch {
    /// Watches `driver`'s status from now on.
    pub(crate) fn of(driver: &Driver) -> Self {
        // The registrar's whole life: across stops and starts, until it is closed.
        let statuses = futures_util::StreamExt::boxed(driver.status_stream_until_closed());
        StatusWatch {
            statuses: futures_util::lock::Mutex::new(statuses),
            closed: CancelToken {
                cancelled: tokio::sync::watch::Sender::new(false),
            },
            last: Mutex::new(None),
        }
    }
}

#[uniffi::export]
impl StatusWatch {
    /// The next status: the current one on the first call, then each
    /// change, waiting for it. `null`/`nil` once `cancel()` was called (or
    /// `cancel` was cancelled) or the registrar was closed. Calls are served
    /// one at a time.
    pub async fn next(&self, cancel: Option<Arc<CancelToken>>) -> Option<RegistrationStatus> {
        let next = async {
            let mut statuses = self.statuses.lock().await;
            loop {
                let status =
                    RegistrationStatus::from(futures_util::StreamExt::next(&mut *statuses).await?);
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if *last != Some(status) {
                    *last = Some(status);
                    return Some(status);
                }
            }
        };
        let closed = async {
            match &cancel {
                Some(cancel) => {
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = self.closed.cancelled() => {}
                    }
                }
                None => self.closed.cancelled().await,
            }
        };
        tokio::select! {
            biased;
            _ = closed => None,
            status = next => status,
        }
    }

    /// Ends the watch: a waiting and every later `next()` returns `null`/`nil`.
    pub fn cancel(&self) {
        self.closed.cancel();
    }
}

impl fmt::Display for StatusWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last {
            Some(status) => write!(f, "StatusWatch(last {status:?})"),
            None => write!(f, "StatusWatch(nothing read yet)"),
        }
    }
}

impl fmt::Debug for StatusWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The background loop `Registrar.start()` started. `cancel()` (Kotlin also
/// `close()`, patched in by `generate.sh`; `use {}` works) stops it and
/// returns once it has ended. Letting the handle be garbage-collected (or
/// released, in Swift) does **not** stop the loop: a started registrar keeps
/// its node registered until `cancel()`, `Registrar.stop()` or
/// `Registrar.close()`.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct RegistrationLoop {
    driver: Driver,
    task: Background,
}

impl RegistrationLoop {
    pub(crate) fn new(driver: Driver, task: Background) -> Self {
        RegistrationLoop { driver, task }
    }
}

#[uniffi::export]
impl RegistrationLoop {
    /// Stops the loop (and its in-flight request; a waiting `registerOnce()`
    /// throws `Stopped`) and returns once it has ended. Does nothing if it
    /// has ended already.
    pub fn cancel(&self) {
        if self.task.is_active() {
            self.driver.stop();
        }
        self.task.wait_ended(ABANDON_WAIT);
    }

    /// Whether the loop still runs.
    pub fn is_active(&self) -> bool {
        self.task.is_active()
    }
}

impl fmt::Display for RegistrationLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_active() { "running" } else { "ended" };
        write!(
            f,
            "RegistrationLoop(node {}, {state})",
            self.driver.address()
        )
    }
}

impl fmt::Debug for RegistrationLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
