//! tokio as the driver's [`Runtime`]: the wall clock (or one that moves with
//! tokio's pausable clock, for tests), tokio timers and tasks, OS randomness;
//! a loop run in the background ([`spawn_loop`]); blocking work kept off the
//! async workers ([`off_async_workers`]); and the one runtime the Python and
//! Kotlin/Swift libraries share ([`shared_runtime`]).

use posemesh_registration_core::UnixTime;
use posemesh_registration_driver::{BoxFuture, Driver, DriverError, Runtime};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A host clock's reading as the core's time: a clock set before 1970 reads
/// as the epoch rather than a panic.
pub fn unix_time(time: SystemTime) -> UnixTime {
    UnixTime::from_duration_since_epoch(time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
}

/// The core's time for a host API (the epoch where the platform cannot hold it).
pub fn system_time(time: UnixTime) -> SystemTime {
    UNIX_EPOCH
        .checked_add(time.since_epoch())
        .unwrap_or(UNIX_EPOCH)
}

/// tokio's timers and tasks, with wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime {
    /// `None`: the system clock. Otherwise the wall time read when tokio's
    /// clock read the instant: time then moves with tokio's clock.
    paused_from: Option<(UnixTime, tokio::time::Instant)>,
}

impl TokioRuntime {
    /// The system clock.
    pub fn new() -> Self {
        TokioRuntime::default()
    }

    /// Wall-clock time that reads `start` now and advances with tokio's
    /// clock, so that tests under `tokio::time::pause` move both together.
    pub fn with_tokio_clock(start: UnixTime) -> Self {
        TokioRuntime {
            paused_from: Some((start, tokio::time::Instant::now())),
        }
    }
}

impl Runtime for TokioRuntime {
    fn now(&self) -> UnixTime {
        match self.paused_from {
            Some((start, at)) => start + at.elapsed(),
            None => unix_time(SystemTime::now()),
        }
    }

    fn sleep_until(&self, deadline: UnixTime) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(deadline.saturating_since(self.now())))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            // Dropped outside any runtime (at exit, say): finish on a thread
            // of its own rather than leave the lock held.
            Err(_) => {
                let _ = std::thread::Builder::new()
                    .name("posemesh-registration-cleanup".into())
                    .spawn(move || {
                        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                        {
                            rt.block_on(task);
                        }
                    });
            }
        }
    }

    fn random_seed(&self) -> u64 {
        getrandom::u64().unwrap_or(0x5EED)
    }
}

/// Runs blocking work (a file save and its two fsyncs, a call into a host
/// language) on tokio's blocking pool when called on a multi-threaded
/// runtime, so it never holds up an async worker; in place otherwise.
pub fn off_async_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> BoxFuture<'static, Option<T>> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => {
            // `None` only if the work panicked.
            Box::pin(async move { handle.spawn_blocking(work).await.ok() })
        }
        _ => Box::pin(std::future::ready(Some(work()))),
    }
}

/// Runs `driver`'s loop in the background on `runtime` and returns its handle.
///
/// The loop's first step runs before this returns, on the calling thread, so
/// that "already running" is this call's error and
/// [`Driver::is_running`] holds once it returns. Stop it with
/// [`Driver::stop`]; dropping the handle leaves it running, like a thread.
pub fn spawn_loop(
    driver: &Driver,
    runtime: &tokio::runtime::Handle,
) -> Result<Background, DriverError> {
    let driver = driver.clone();
    let mut run: BoxFuture<'static, Result<(), DriverError>> =
        Box::pin(async move { driver.run().await });
    let (background, marker) = Background::new();
    let first = {
        let _entered = runtime.enter();
        let waker = futures_util::task::noop_waker();
        run.as_mut().poll(&mut Context::from_waker(&waker))
    };
    match first {
        // Stopped before it began: an ended handle (`marker` drops here).
        Poll::Ready(result) => result?,
        Poll::Pending => {
            runtime.spawn(Marked {
                future: run,
                _marker: marker,
            });
        }
    }
    Ok(background)
}

/// How long abandoning a [`Call`] waits for its task to end: the time its
/// current step takes (a host callback in progress), short enough for an
/// app's UI thread that cancelled a coroutine.
pub const ABANDON_WAIT: Duration = Duration::from_secs(2);

/// A task started by [`spawn_loop`] or [`Call::spawn`]: whether it still
/// runs, and waiting for its end from async code or from a host's thread.
/// Cheap to clone.
#[derive(Clone)]
pub struct Background {
    state: Arc<EndState>,
}

struct EndState {
    ended: Mutex<bool>,
    changed: Condvar,
    notify: tokio::sync::Notify,
    /// The process whose runtime runs the task: in a forked child the task
    /// does not exist, so there it has ended.
    owner: u32,
}

/// Marks its task ended when dropped: it lives in the task's future, so
/// the task ends it however it ends (returned, panicked or aborted).
struct EndMarker(Arc<EndState>);

impl Drop for EndMarker {
    fn drop(&mut self) {
        *self.0.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.changed.notify_all();
        self.0.notify.notify_waiters();
    }
}

/// A task's future and its end marker: fields drop in order, so the future
/// (its request, its guards) is gone before the end is told, however early
/// the task is aborted.
struct Marked<F: ?Sized> {
    future: Pin<Box<F>>,
    _marker: EndMarker,
}

impl<F: Future + ?Sized> Future for Marked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl Background {
    fn new() -> (Background, EndMarker) {
        let state = Arc::new(EndState {
            ended: Mutex::new(false),
            changed: Condvar::new(),
            notify: tokio::sync::Notify::new(),
            owner: std::process::id(),
        });
        (
            Background {
                state: state.clone(),
            },
            EndMarker(state),
        )
    }

    /// Whether the task is still running (never in a forked child: the
    /// parent's tasks do not run there).
    pub fn is_active(&self) -> bool {
        !self.in_forked_child() && !*self.state.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_forked_child(&self) -> bool {
        self.state.owner != std::process::id()
    }

    /// Resolves once the task has ended.
    pub async fn ended(&self) {
        loop {
            let notified = self.state.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so an end in between is not missed.
            notified.as_mut().enable();
            if !self.is_active() {
                return;
            }
            notified.await;
        }
    }

    /// Blocks the calling thread (never a runtime worker) until the task
    /// has ended or `timeout` has passed; returns whether it ended.
    pub fn wait_ended(&self, timeout: Duration) -> bool {
        if self.in_forked_child() {
            return true;
        }
        let ended = self.state.ended.lock().unwrap_or_else(|e| e.into_inner());
        let (ended, _) = self
            .state
            .changed
            .wait_timeout_while(ended, timeout, |ended| !*ended)
            .unwrap_or_else(|e| e.into_inner());
        *ended
    }
}

/// One driver call (`register_once`, `access_token`, `run`…) running as a
/// task on the runtime, for a host whose cancellation is not the dropping of
/// a Rust future: a Python awaitable's `cancel()`, a Kotlin coroutine or a
/// Swift `Task` that goes away. Abandoning it ([`Call::abandon`], or dropping
/// it) aborts the task and waits for its end, so that once that returns the
/// driver's future has been dropped: its request abandoned, the loop marked
/// stopped, the status told. That wait blocks the thread that drops the
/// call: a host that holds a lock the task may need (Python's GIL) releases
/// it first, or [`Call::detach`]es a call whose result it no longer wants.
pub struct Call<T> {
    task: Option<tokio::task::JoinHandle<T>>,
    done: Background,
}

/// Why a [`Call`] gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallEnded {
    /// It was abandoned.
    #[error("the call was abandoned")]
    Abandoned,
    /// The task panicked (a bug; the panic's message went to stderr).
    #[error("internal error in the registration task")]
    Panicked,
}

impl<T: Send + 'static> Call<T> {
    /// Starts `future` on `runtime`.
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        let (done, marker) = Background::new();
        let task = runtime.spawn(Marked {
            future: Box::pin(future),
            _marker: marker,
        });
        Call {
            task: Some(task),
            done,
        }
    }

    /// The call's result, once it has ended.
    pub async fn join(mut self) -> Result<T, CallEnded> {
        let task = self.task.as_mut().ok_or(CallEnded::Abandoned)?;
        let result = task.await;
        self.task = None;
        result.map_err(|err| match err.is_panic() {
            true => CallEnded::Panicked,
            false => CallEnded::Abandoned,
        })
    }
}

impl<T> Call<T> {
    /// Blocks the calling thread until the call has ended or `timeout` has
    /// passed; returns whether it ended.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.done.wait_ended(timeout)
    }

    /// The call's task, to wait for its end elsewhere.
    pub fn handle(&self) -> Background {
        self.done.clone()
    }

    /// Whether the call is still running.
    pub fn is_active(&self) -> bool {
        self.done.is_active()
    }

    /// Lets the call run on with nobody to abandon it (a host object that
    /// only hands the result over, dropped while the call ends).
    pub fn detach(mut self) {
        self.task = None;
    }

    /// Aborts the call and, on a host's thread, waits (at most
    /// [`ABANDON_WAIT`]) for its task to end. On one of the runtime's own
    /// threads (a host callback the driver called) it only aborts: waiting
    /// there would hold up the task it waits for.
    pub fn abandon(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            if tokio::runtime::Handle::try_current().is_err() {
                self.done.wait_ended(ABANDON_WAIT);
            }
        }
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The runtime and the id of the process that built it.
static SHARED: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);

/// The process's shared runtime (two worker threads), built on first use:
/// the Python and Kotlin/Swift libraries run every driver and every call of
/// a process on it.
///
/// It belongs to the process that built it: after `fork()` the child has
/// none of its threads, so the child builds its own on first use, and the
/// parent's is leaked there (dropping it would wait for threads that do not
/// exist in the child). Call it from a thread the host knows is not racing a
/// `fork()` (Python: one attached to the interpreter).
pub fn shared_runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    let pid = std::process::id();
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    match *slot {
        Some((owner, runtime)) if owner == pid => Ok(runtime),
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("posemesh-registration")
                .enable_all()
                .build()?;
            let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
            *slot = Some((pid, runtime));
            Ok(runtime)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 704 164 645 s is 2024-01-02T03:04:05Z (`date -u -d @1704164645`).
    #[test]
    fn host_clock_readings_convert_both_ways() {
        let t = UNIX_EPOCH + Duration::new(1_704_164_645, 6_007_008);
        assert_eq!(
            unix_time(t).to_rfc3339_nanos(),
            "2024-01-02T03:04:05.006007008Z"
        );
        assert_eq!(system_time(unix_time(t)), t);
        assert_eq!(
            unix_time(UNIX_EPOCH - Duration::from_secs(5)),
            UnixTime::EPOCH
        );
    }
}
