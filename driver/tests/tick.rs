//! `tick()` reports what it did: whether it attempted, how the attempt
//! ended, and a failed save. Hosts (the npm package's cron trigger) report
//! these as they are, with no counters or event watching of their own.

mod common;

use common::{key, legacy_config, Clock};

use futures_executor::block_on;
use posemesh_registration_core::{
    AttemptOutcome, HttpRequest, HttpResponse, Status, TransportError,
};
use posemesh_registration_driver::{BoxFuture, Driver, SnapshotStore, StoreError, Transport};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers registrations with the statuses queued, then 200.
#[derive(Default)]
struct Dds(Mutex<VecDeque<u16>>);

impl Transport for Dds {
    fn send(
        &self,
        _: HttpRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let status = self.0.lock().unwrap().pop_front().unwrap_or(200);
        Box::pin(std::future::ready(Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        })))
    }
}

/// Saves fail while `full` is set.
#[derive(Default)]
struct Disk {
    full: AtomicBool,
}

impl SnapshotStore for Disk {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    fn save(&self, _: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = if self.full.load(Ordering::SeqCst) {
            Err(StoreError("no space left on device".into()))
        } else {
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }
}

#[test]
fn a_tick_reports_its_attempt_its_result_and_a_failed_save() {
    let config = legacy_config();
    let key = key();
    let dds = Arc::new(Dds(Mutex::new(VecDeque::from([503]))));
    let disk = Arc::new(Disk::default());
    let driver =
        block_on(Driver::builder(config, key, dds, disk.clone(), Arc::new(Clock)).build()).unwrap();

    let failed = block_on(driver.tick());
    assert!(failed.attempted);
    let failure = failed.result.expect("an attempt ended").unwrap_err();
    assert_eq!(failure.status, Some(503));
    assert_eq!(failed.save_error, None);

    // Not registered: each tick attempts (a cron trigger has no loop to retry).
    let registered = block_on(driver.tick());
    assert!(registered.attempted);
    assert_eq!(registered.result, Some(Ok(AttemptOutcome::Registered)));
    assert_eq!(registered.status, Status::Registered);

    // Registered and not due: nothing attempted, nothing to report.
    let idle = block_on(driver.tick());
    assert!(!idle.attempted);
    assert_eq!((idle.result, idle.save_error), (None, None));

    // Due again (register_again), with a full disk: registered, and the save's failure told.
    disk.full.store(true, Ordering::SeqCst);
    driver.register_again();
    let again = block_on(driver.tick());
    assert!(again.attempted);
    assert_eq!(again.result, Some(Ok(AttemptOutcome::Registered)));
    let error = again.save_error.expect("the failed save");
    assert!(error.contains("no space left on device"), "{error}");
}
