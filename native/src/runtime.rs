//! The tokio runtime for hosts that have none of their own: the Python and
//! Kotlin/Swift libraries run every driver and every call of a process on it.

use std::sync::Mutex;
use tokio::runtime::Runtime;

/// The runtime and the id of the process that built it.
static SHARED: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The process's shared runtime (two worker threads), built on first use.
///
/// It belongs to the process that built it: after `fork()` the child has
/// none of its threads, so the child builds its own on first use, and the
/// parent's is leaked there (dropping it would wait for threads that do not
/// exist in the child). Call it from a thread the host knows is not racing a
/// `fork()` (Python: one attached to the interpreter).
pub fn shared_runtime() -> std::io::Result<&'static Runtime> {
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
            let runtime: &'static Runtime = Box::leak(Box::new(runtime));
            *slot = Some((pid, runtime));
            Ok(runtime)
        }
    }
}
