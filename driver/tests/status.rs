//! Status streams and waits end with `stop()`: a consumer (Python's `async for`
//! over `statuses()`, Kotlin's `statusChanges()`, Swift's `statusUpdates`)
//! never outlives the loop it follows, even when it began after the stop.

mod common;

use common::{key, legacy_config, Answering, NoStore, SimClock};

use futures_executor::block_on;
use futures_util::future::{select, Either};
use futures_util::{FutureExt, StreamExt};
use posemesh_registration_core::Status;
use posemesh_registration_driver::{Driver, Runtime};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

fn driver(runtime: Arc<dyn Runtime>) -> Driver {
    block_on(
        Driver::builder(
            legacy_config(),
            key(),
            Arc::new(Answering(200)),
            Arc::new(NoStore),
            runtime,
        )
        .build(),
    )
    .unwrap()
}

/// `wanted`, with the loop `run` driven alongside (it must not end first).
fn alongside<F: Future, T>(run: &mut Pin<Box<F>>, wanted: impl Future<Output = T>) -> T {
    match block_on(select(run.as_mut(), pin!(wanted))) {
        Either::Right((value, _)) => value,
        Either::Left(_) => panic!("the loop ended first"),
    }
}

#[test]
fn a_stream_follows_the_loop_and_ends_at_stop() {
    let driver = driver(Arc::new(SimClock::starting_now()));
    let mut statuses = driver.status_stream();
    let mut run = Box::pin(driver.run());
    assert!(run.as_mut().now_or_never().is_none(), "the loop runs");
    let seen: Vec<Status> = (0..3)
        .map(|_| alongside(&mut run, statuses.next()).expect("a status"))
        .collect();
    assert_eq!(
        seen,
        [
            Status::Disconnected,
            Status::Registering,
            Status::Registered
        ]
    );
    driver.stop();
    block_on(run).unwrap();
    // What came before the stop is still told; then the stream ends.
    let rest = statuses.collect::<Vec<_>>().now_or_never();
    assert!(rest.is_some(), "stop() ends the stream");
}

#[test]
fn a_stream_tells_the_status_the_stop_leads_to_then_ends() {
    let runtime = Arc::new(SimClock::starting_now());
    let driver = block_on(
        Driver::builder(
            legacy_config(),
            key(),
            Arc::new(Answering(503)),
            Arc::new(NoStore),
            runtime,
        )
        .build(),
    )
    .unwrap();
    let statuses = driver.status_stream();
    let mut run = Box::pin(driver.run());
    assert!(run.as_mut().now_or_never().is_none(), "the loop runs");
    assert!(alongside(
        &mut run,
        driver.wait_for_status(Status::Registering, None)
    ));
    // The loop keeps retrying; its stop ends the attempt: nothing is trying any more.
    driver.stop();
    block_on(run).unwrap();
    let seen = statuses.collect::<Vec<_>>().now_or_never().expect("ended");
    assert_eq!(seen.last(), Some(&Status::Disconnected), "{seen:?}");
}

#[test]
fn a_stream_until_closed_follows_stops_and_starts() {
    let driver = driver(Arc::new(SimClock::starting_now()));
    let mut statuses = driver.status_stream_until_closed();
    for _ in 0..2 {
        let mut run = Box::pin(driver.run());
        assert!(alongside(
            &mut run,
            driver.wait_for_status(Status::Registered, None)
        ));
        driver.stop();
        block_on(run).unwrap();
        driver.register_again(); // so the next loop registers again, through Registering
    }
    let mut seen = Vec::new();
    while let Some(Some(status)) = statuses.next().now_or_never() {
        seen.push(status);
    }
    assert_eq!(seen.first(), Some(&Status::Disconnected));
    assert!(
        seen.iter().filter(|s| **s == Status::Registering).count() >= 2,
        "{seen:?}"
    );
    assert_eq!(
        statuses.next().now_or_never(),
        None,
        "still open after two stops"
    );
    driver.close_status_streams();
    assert_eq!(statuses.next().now_or_never(), Some(None));
    let opened_after = driver.status_stream_until_closed().collect::<Vec<_>>();
    assert_eq!(opened_after.now_or_never().map(|s| s.len()), Some(1));
}

#[test]
fn a_stream_opened_after_stop_gives_the_status_and_ends_until_the_loop_runs_again() {
    let driver = driver(Arc::new(SimClock::starting_now()));
    driver.stop();
    let after_stop = driver.status_stream().collect::<Vec<_>>().now_or_never();
    assert_eq!(after_stop, Some(vec![Status::Disconnected]), "ends at once");

    let mut run = Box::pin(driver.run());
    assert!(run.as_mut().now_or_never().is_none(), "the loop runs again");
    assert!(alongside(
        &mut run,
        driver.wait_for_status(Status::Registered, None)
    ));
    let mut statuses = driver.status_stream();
    assert_eq!(block_on(statuses.next()), Some(Status::Registered));
    assert!(
        statuses.next().now_or_never().is_none(),
        "a stream of a running loop waits for the next change"
    );
    driver.stop();
    block_on(run).unwrap();
    assert_eq!(statuses.next().now_or_never(), Some(None));
}

#[test]
fn waiting_for_a_status_ends_with_stop_or_the_timeout() {
    let driver = driver(Arc::new(SimClock::starting_now()));
    let limit = Some(Duration::from_secs(5));
    assert!(
        !block_on(driver.wait_for_status(Status::Registered, limit)),
        "nothing runs: the timeout ends the wait"
    );

    let mut waiting = Box::pin(driver.wait_for_status(Status::Registered, None));
    assert!(waiting.as_mut().now_or_never().is_none(), "waits");
    driver.stop();
    assert_eq!(waiting.now_or_never(), Some(false), "stop() ends the wait");

    let mut run = Box::pin(driver.run());
    assert!(run.as_mut().now_or_never().is_none(), "the loop runs");
    assert!(alongside(
        &mut run,
        driver.wait_for_status(Status::Registered, limit)
    ));
    driver.stop();
    block_on(run).unwrap();
}
