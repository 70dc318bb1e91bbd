//! tokio as the driver's [`Runtime`]: the wall clock (or one that moves with
//! tokio's pausable clock, for tests), tokio timers and tasks, OS randomness;
//! a loop run in the background ([`spawn_loop`]); blocking work kept off the
//! async workers ([`off_async_workers`]); and the one runtime the Python and
//! Kotlin/Swift libraries share ([`shared_runtime`]).

use posemesh_registration_core::UnixTime;
use posemesh_registration_driver::{BoxFuture, Driver, DriverError, Runtime};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
            None => {
                // A clock set before 1970 is treated as the epoch rather than a panic.
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO);
                UnixTime::from_duration_since_epoch(since_epoch)
            }
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
    let (alive, ended) = tokio::sync::watch::channel(());
    let first = {
        let _entered = runtime.enter();
        let waker = futures_util::task::noop_waker();
        run.as_mut().poll(&mut Context::from_waker(&waker))
    };
    match first {
        // Stopped before it began: an ended handle (`alive` drops here).
        Poll::Ready(result) => result?,
        Poll::Pending => {
            runtime.spawn(async move {
                let _alive = alive;
                let _ = run.await;
            });
        }
    }
    Ok(Background { ended })
}

/// A loop started by [`spawn_loop`]. Cheap to clone.
#[derive(Clone)]
pub struct Background {
    /// Closed when the loop's task has ended.
    ended: tokio::sync::watch::Receiver<()>,
}

impl Background {
    /// Whether the loop's task is still running.
    pub fn is_active(&self) -> bool {
        self.ended.has_changed().is_ok()
    }

    /// Resolves once the loop's task has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        while ended.changed().await.is_ok() {}
    }

    /// Blocks the calling thread (never a runtime worker) until the loop's task
    /// has ended or `timeout` has passed; returns whether it ended.
    pub fn wait_ended(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.is_active() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        !self.is_active()
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
