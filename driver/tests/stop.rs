//! `stop()` and what the registrar learned just before it: a callback the
//! registrar already accepted (its credentials visible to the caller) is
//! saved before the stopped loop's `run()` returns, so a node stopped and
//! restarted at once finds its credentials. (The Python binding's `stop()`
//! waits for `run()`; its restart test met this race.)

mod common;

use common::{key, legacy_config, Answering, Clock};

use futures_executor::block_on;
use futures_util::FutureExt;
use posemesh_registration_core::{AttemptOutcome, Snapshot};
use posemesh_registration_driver::{BoxFuture, Driver, SnapshotStore, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

/// A store whose saves wait while `slow` is set: a disk that takes its time.
#[derive(Default)]
struct SlowDisk {
    stored: Mutex<Option<Vec<u8>>>,
    slow: AtomicBool,
}

impl SnapshotStore for SlowDisk {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.stored.lock().unwrap().clone())))
    }
    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::poll_fn(move |cx| {
            if self.slow.load(Ordering::SeqCst) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            *self.stored.lock().unwrap() = Some(bytes.clone());
            Poll::Ready(Ok(()))
        }))
    }
}

#[test]
fn a_stopped_loop_ends_only_once_an_accepted_callback_is_saved() {
    let config = legacy_config();
    let key = key();
    let disk = Arc::new(SlowDisk::default());
    let driver = block_on(
        Driver::builder(
            config,
            key,
            Arc::new(Answering(200)),
            disk.clone(),
            Arc::new(Clock),
        )
        .build(),
    )
    .unwrap();
    assert_eq!(
        block_on(driver.register_once()).unwrap(),
        AttemptOutcome::Registered
    );

    let mut run = Box::pin(driver.run());
    assert!(run.as_mut().now_or_never().is_none(), "the loop runs");
    // The DDS calls back; the disk is slow, so the save is still under way
    // while the credentials are already visible.
    disk.slow.store(true, Ordering::SeqCst);
    let body = br#"{"id":"node-1","secret":"callback-secret-value","organization_id":"org"}"#;
    let mut callback =
        Box::pin(driver.handle_node_request("POST", "/internal/v1/registrations", &[], body));
    assert!(callback.as_mut().now_or_never().is_none(), "saving");
    assert!(driver.snapshot().credentials.is_some(), "accepted");

    driver.stop();
    assert!(
        run.as_mut().now_or_never().is_none(),
        "run() returned while the accepted callback was not saved yet"
    );
    disk.slow.store(false, Ordering::SeqCst);
    let response = block_on(callback);
    assert_eq!(response.status, 200);
    block_on(run).unwrap();
    let stored = disk.stored.lock().unwrap().clone().expect("saved");
    let stored = Snapshot::decode(&stored).expect("a valid snapshot");
    assert_eq!(stored.credentials.expect("stored").id, "node-1");
}
