//! A driver inherited by the child of `fork()`: the parent's loop is gone
//! (threads do not survive a fork) but its lock on the driver and its
//! "running" flag were copied. After `after_fork_in_child` the driver says it
//! is not running and registers when asked. (Its own test binary: the fork
//! generation is process-wide.)

mod common;

use common::{key, legacy_config, Clock};

use futures_executor::block_on;
use futures_util::FutureExt;
use posemesh_registration_core::{AttemptOutcome, HttpRequest, HttpResponse, TransportError};
use posemesh_registration_driver::{
    after_fork_in_child, BoxFuture, Driver, SnapshotStore, StoreError, Transport,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers every registration 200 at once, counting them.
#[derive(Default)]
struct Dds(AtomicUsize);

impl Transport for Dds {
    fn send(
        &self,
        _: HttpRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        })))
    }
}

#[derive(Default)]
struct Memory(Mutex<Option<Vec<u8>>>);

impl SnapshotStore for Memory {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.0.lock().unwrap().clone())))
    }
    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        *self.0.lock().unwrap() = Some(bytes);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[test]
fn a_driver_whose_loop_was_left_in_the_parent_works_again_in_the_child() {
    let config = legacy_config();
    let key = key();
    let dds = Arc::new(Dds::default());
    let driver = block_on(
        Driver::builder(
            config,
            key,
            dds.clone(),
            Arc::new(Memory::default()),
            Arc::new(Clock),
        )
        .build(),
    )
    .unwrap();

    // The parent's loop: started, holding the driver, then never polled again
    // (its thread does not exist in the child).
    let mut parent_loop = Box::pin(driver.run());
    assert!(parent_loop.as_mut().now_or_never().is_none());
    assert!(driver.is_running());
    // Without the fork's notice a second loop is refused and a register-once
    // waits for the loop that will never run.
    assert!(block_on(driver.run()).is_err());
    assert!(driver.register_once().now_or_never().is_none());

    after_fork_in_child();
    assert!(!driver.is_running(), "the parent's loop does not run here");
    let outcome = block_on(driver.register_once()).expect("registers in the child");
    assert!(matches!(
        outcome,
        AttemptOutcome::Registered | AttemptOutcome::Adopted
    ));
    // And a loop can be started again.
    let mut child_loop = Box::pin(driver.run());
    assert!(child_loop.as_mut().now_or_never().is_none());
    assert!(driver.is_running());
    drop(child_loop);
    std::mem::forget(parent_loop);
}
