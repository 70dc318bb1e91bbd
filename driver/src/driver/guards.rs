//! What a dropped or ended operation leaves behind: the loop's end
//! (`RunGuard`) and an abandoned request (`AbandonOnDrop`), both finishing
//! the outputs they leave.

use super::*;

/// Marks the loop as ended however `run` ends (returned or dropped).
pub(super) struct RunGuard(pub(super) Driver);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let shared = &self.0.shared;
        lock(&shared.registrar).set_looping(false);
        shared.run_active.store(false, Ordering::Release);
        // A status the loop's end changed is published (and its event reported) now.
        finish_outputs(&self.0);
    }
}

/// Carries out the outputs a dropped or ended operation left: here when that
/// needs no waiting (a lock release and an event, on the thread that dropped
/// the future: a host's logger is not called from another thread while its
/// interpreter may be shutting down), in the background otherwise.
fn finish_outputs(driver: &Driver) {
    let runtime = driver.shared.runtime.clone();
    let driver = driver.clone();
    let mut finish: BoxFuture<'static, ()> = Box::pin(async move {
        let transmits = driver.flush().await;
        lock(&driver.shared.stashed).extend(transmits);
        end_streams_unless_running(&driver);
    });
    if (&mut finish).now_or_never().is_none() {
        runtime.spawn(finish);
    }
}

pub(super) struct AbandonOnDrop(pub(super) Driver);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        let driver = &self.0;
        let now = driver.shared.runtime.now();
        let abandoned = {
            let mut registrar = lock(&driver.shared.registrar);
            let in_flight = registrar.has_request_in_flight();
            if in_flight {
                registrar.cancel_request(now);
            }
            in_flight
        };
        if abandoned {
            finish_outputs(driver);
        } else {
            end_streams_unless_running(driver);
        }
    }
}

/// After a stop, once its last status is out: a loop's end does it in
/// [`RunGuard`], after the loop's own last status.
fn end_streams_unless_running(driver: &Driver) {
    if !driver.shared.run_active.load(Ordering::Acquire) {
        driver.end_streams_if_stopped();
    }
}
