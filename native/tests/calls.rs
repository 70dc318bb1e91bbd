//! `Call` and `Background`: how the Python and Kotlin/Swift libraries run a
//! driver call for a host and abandon it when the host's caller goes away.

mod common;

use common::{fresh_key, wallet_config, Dds};
use posemesh_registration::{Call, CallEnded, Status};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sets its flag when dropped, slowly, as a future whose clean-up takes time.
struct SlowDrop(Arc<AtomicBool>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(300));
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A call that never ends by itself, and the flag its drop sets.
fn pending_call(runtime: &tokio::runtime::Runtime) -> (Call<()>, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SlowDrop(dropped.clone());
    let call = Call::spawn(runtime.handle(), async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    (call, dropped)
}

#[test]
fn abandoning_a_call_returns_once_its_future_is_dropped() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut call, dropped) = pending_call(&runtime);
    assert!(call.is_active());
    call.abandon();
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped before abandon returned"
    );
    assert!(!call.is_active());
}

#[test]
fn dropping_a_call_abandons_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (call, dropped) = pending_call(&runtime);
    let task = call.handle();
    drop(call);
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped before drop returned"
    );
    assert!(!task.is_active());
}

#[test]
fn a_dropped_join_abandons_the_call() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (call, dropped) = pending_call(&runtime);
    let task = call.handle();
    let joined = futures_util::FutureExt::now_or_never(call.join());
    assert!(joined.is_none(), "still running");
    assert!(dropped.load(Ordering::SeqCst) && !task.is_active());
}

#[test]
fn waiting_gives_up_at_its_timeout_and_sees_the_end() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut call, _) = pending_call(&runtime);
    assert!(!call.wait(Duration::from_millis(50)), "still running");
    let task = call.handle();
    call.abandon();
    assert!(task.wait_ended(Duration::ZERO), "ended: no wait needed");
    runtime.block_on(task.ended()); // an end already passed is not missed
}

#[test]
fn a_finished_call_hands_over_its_result_and_a_panic_is_reported() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let call = Call::spawn(runtime.handle(), async { 42 });
    assert!(call.wait(Duration::from_secs(5)));
    assert_eq!(runtime.block_on(call.join()), Ok(42));
    let call = Call::spawn(runtime.handle(), async { panic!("a bug") });
    assert_eq!(runtime.block_on(call.join()), Err(CallEnded::Panicked));
}

/// A host callback the driver calls runs on a runtime thread: abandoning a
/// call there must not wait for the runtime it would hold up.
#[test]
fn abandoning_on_a_runtime_thread_only_aborts() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut call, dropped) = pending_call(&runtime);
    let task = call.handle();
    runtime.block_on(async move {
        call.abandon();
        assert!(!dropped.load(Ordering::SeqCst), "did not wait for the drop");
    });
    assert!(task.wait_ended(Duration::from_secs(5)));
}

/// A Kotlin coroutine cancelled during an attempt: by the time the
/// cancellation returns, the attempt was abandoned and the status says so.
#[test]
fn an_abandoned_attempt_is_over_when_abandon_returns() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dds = runtime.block_on(Dds::start());
    runtime.block_on(dds.faults(json!([{"status": 200, "delay_ms": 5000, "pass_through": true}])));
    let driver = runtime
        .block_on(
            posemesh_registration::builder(wallet_config(dds.url()), fresh_key().0)
                .unwrap()
                .build(),
        )
        .unwrap();
    let attempting = driver.clone();
    let mut call = Call::spawn(
        runtime.handle(),
        async move { attempting.register_once().await },
    );
    let limit = Some(Duration::from_secs(5));
    assert!(runtime.block_on(driver.wait_for_status(Status::Registering, limit)));
    call.abandon();
    assert_eq!(driver.status(), Status::Disconnected);
    assert!(!driver.is_running());
}

#[test]
fn an_awaited_end_wakes_its_waiter() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut call, _) = pending_call(&runtime);
    let task = call.handle();
    let waiter = runtime.spawn(async move { task.ended().await });
    std::thread::sleep(Duration::from_millis(100));
    call.abandon();
    let woken =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), waiter).await });
    assert!(woken.is_ok(), "the end woke the waiting task");
}
