//! docs/behaviour.md, in Rust: the scenarios every binding's suite runs, against
//! the conformance DDS over loopback, through the native runtime of the shared
//! driver.

mod common;

use common::{fresh_key, fresh_secret, recorder, Dds};
use futures_util::FutureExt;
use posemesh_registration::core::{ConfigError, Flow, RegistrarConfig};
use posemesh_registration::{
    spawn_loop, AttemptOutcome, BoxFuture, Driver, DriverError, Event, FileStore,
    RegisterOnceError, Secret, SnapshotStore, Status, StoreError,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

const CAPABILITY: &str = "/reconstruction/global-refinement/v1";

fn wallet_config(dds: &str, version: &str, secret: &str) -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        dds,
        Flow::from_options(None, None).unwrap(),
        version,
        vec![CAPABILITY.into()],
        Secret::new(secret.to_owned()),
    )
    .unwrap();
    config.request_timeout = Duration::from_secs(5);
    config
}

/// [`new_driver`], and the events it reports.
async fn recorded_driver(dds: &Dds) -> (Arc<Mutex<Vec<Event>>>, Driver) {
    let (key, _) = fresh_key();
    let (events, handler) = recorder();
    let driver =
        posemesh_registration::builder(wallet_config(dds.url(), "1.0.0", &fresh_secret()), key)
            .unwrap()
            .events(handler)
            .build()
            .await
            .unwrap();
    (events, driver)
}

/// A wallet-flow driver for a fresh key, in memory, against `dds`.
async fn new_driver(dds: &Dds) -> Driver {
    let (key, _) = fresh_key();
    posemesh_registration::builder(wallet_config(dds.url(), "1.0.0", &fresh_secret()), key)
        .unwrap()
        .build()
        .await
        .unwrap()
}

async fn wallet_registrations(dds: &Dds) -> Vec<serde_json::Value> {
    dds.readout().await["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/internal/v1/nodes/register-wallet" && r["accepted"] == true)
        .cloned()
        .collect()
}

#[tokio::test]
async fn register_once_registers() {
    let dds = Dds::start().await;
    let driver = new_driver(&dds).await;
    assert_eq!(driver.register_once().await, Ok(AttemptOutcome::Registered));
    assert_eq!(driver.status(), Status::Registered);
    assert_eq!(wallet_registrations(&dds).await.len(), 1);
}

#[tokio::test]
async fn register_once_adopts_a_fresh_matching_registration_and_upgrade_registers_again() {
    let dds = Dds::start().await;
    let (key, _) = fresh_key();
    let secret = fresh_secret();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let start = async |version: &str| {
        posemesh_registration::builder(wallet_config(dds.url(), version, &secret), key.clone())
            .unwrap()
            .store(Arc::new(FileStore::new(&state)))
            .build()
            .await
            .unwrap()
    };
    assert_eq!(
        start("1.0.0").await.register_once().await,
        Ok(AttemptOutcome::Registered)
    );
    // register_once_adopts_a_fresh_matching_registration
    assert_eq!(
        start("1.0.0").await.register_once().await,
        Ok(AttemptOutcome::Adopted)
    );
    assert_eq!(wallet_registrations(&dds).await.len(), 1);
    // upgrade_registers_again
    assert_eq!(
        start("2.0.0").await.register_once().await,
        Ok(AttemptOutcome::Registered)
    );
    let seen = wallet_registrations(&dds).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["version"], "2.0.0");
}

/// A loop restarted on a fresh stored registration reports it once, as
/// `registration.adopted`, and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reports_the_kept_registration() {
    let dds = Dds::start().await;
    let (key, _) = fresh_key();
    let config = wallet_config(dds.url(), "1.0.0", &fresh_secret());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path().join("state.json")));
    let first = posemesh_registration::builder(config.clone(), key.clone())
        .unwrap()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(first.register_once().await, Ok(AttemptOutcome::Registered));
    drop(first);
    let received = dds.readout().await["received"].as_array().unwrap().len();

    let (events, handler) = recorder();
    let restarted = posemesh_registration::builder(config, key)
        .unwrap()
        .store(store)
        .events(handler)
        .build()
        .await
        .unwrap();
    let looping = restarted.clone();
    let run = tokio::spawn(async move { looping.run().await });
    let adopted = || {
        let events = events.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e, Event::Adopted { .. }))
            .count()
    };
    let reported = common::eventually(Duration::from_secs(5), || async { adopted() > 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    restarted.stop();
    run.await.unwrap().unwrap();
    assert!(reported, "no registration.adopted");
    assert_eq!(adopted(), 1, "{:?}", events.lock().unwrap());
    assert_eq!(restarted.status(), Status::Registered);
    let now = dds.readout().await["received"].as_array().unwrap().len();
    assert_eq!(now, received, "a request went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_register_once_joins_the_first() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 200, "delay_ms": 500, "pass_through": true, "path": "/internal/v1/nodes/register-wallet"}]))
        .await;
    let driver = new_driver(&dds).await;
    let (a, b) = tokio::join!(driver.register_once(), driver.register_once());
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert_eq!(
        wallet_registrations(&dds).await.len(),
        1,
        "one attempt on the wire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_once_next_to_a_running_loop_joins_it_and_run_twice_is_an_error() {
    let dds = Dds::start().await;
    let driver = new_driver(&dds).await;
    let looping = driver.clone();
    let run = tokio::spawn(async move { looping.run().await });
    let joined = tokio::time::timeout(Duration::from_secs(10), driver.register_once()).await;
    assert!(matches!(joined, Ok(Ok(_))), "{joined:?}");
    // run_twice_is_an_error
    assert_eq!(driver.run().await, Err(DriverError::AlreadyRunning));
    // register_again_rearms_a_running_registrar
    driver.register_again();
    let rearmed = common::eventually(Duration::from_secs(10), || async {
        wallet_registrations(&dds).await.len() == 2
    })
    .await;
    assert!(rearmed, "register_again made a second registration");
    assert!(!run.is_finished(), "the loop keeps running");
    driver.stop();
    let ended = tokio::time::timeout(Duration::from_secs(5), run).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
}

/// `spawn_loop` (what the Python and Kotlin/Swift `start()` use): "already
/// running" is the call's own error, the handle follows the task, `stop` ends it.
#[test]
fn spawn_loop_reports_already_running_at_once_and_its_handle_follows_the_loop() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dds = runtime.block_on(Dds::start());
    let driver = runtime.block_on(new_driver(&dds));
    let started = spawn_loop(&driver, runtime.handle()).unwrap();
    assert!(driver.is_running(), "running once spawn_loop returns");
    assert!(started.is_active());
    assert_eq!(
        spawn_loop(&driver, runtime.handle()).err(),
        Some(DriverError::AlreadyRunning)
    );
    let limit = Some(Duration::from_secs(10));
    let registered = runtime.block_on(driver.wait_for_status(Status::Registered, limit));
    assert!(registered, "the background loop registers");
    driver.stop();
    assert!(
        started.wait_ended(Duration::from_secs(5)),
        "stop ends the task"
    );
    assert!(!started.is_active() && !driver.is_running());
    runtime.block_on(started.ended()); // resolves once ended
                                       // Started again after a stop: a new loop.
    let again = spawn_loop(&driver, runtime.handle()).unwrap();
    assert!(again.is_active());
    driver.stop();
    assert!(again.wait_ended(Duration::from_secs(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_an_attempt() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 200, "delay_ms": 3000, "pass_through": true}]))
        .await;
    let driver = new_driver(&dds).await;
    let waiting = driver.clone();
    let once = tokio::spawn(async move { waiting.register_once().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    driver.stop();
    let result = tokio::time::timeout(Duration::from_secs(2), once).await;
    assert!(
        matches!(
            result,
            Ok(Ok(Err(RegisterOnceError::Driver(DriverError::Stopped))))
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_register_once() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 200, "delay_ms": 3000, "pass_through": true}]))
        .await;
    let driver = new_driver(&dds).await;
    let cancelled = tokio::time::timeout(Duration::from_millis(300), driver.register_once()).await;
    assert!(cancelled.is_err(), "cancelled by the timeout");
    let next = tokio::time::timeout(Duration::from_secs(10), driver.register_once()).await;
    assert_eq!(next.ok(), Some(Ok(AttemptOutcome::Registered)));
}

#[test]
fn configuration_rules_are_the_cores() {
    let dds = "http://127.0.0.1:9";
    let (key, _) = fresh_key();
    let build = |config: RegistrarConfig| {
        posemesh_registration::builder(config, key.clone())
            .unwrap()
            .build()
            .now_or_never()
            .expect("a memory store answers at once")
            .err()
    };
    // zero_or_negative_timeout_is_refused
    let mut config = wallet_config(dds, "1.0.0", "s3cret");
    let seconds = posemesh_registration::core::registrar::TimeUnit::Seconds;
    config.request_timeout =
        posemesh_registration::core::registrar::duration_option("timeout", -1.0, seconds).unwrap();
    assert_eq!(
        build(config).map(|e| e.to_string()),
        Some("invalid configuration: request timeout must be greater than zero".into())
    );
    // interval_under_a_second_is_refused
    let mut config = wallet_config(dds, "1.0.0", "s3cret");
    config.register_interval = Duration::from_millis(500);
    assert!(matches!(
        build(config),
        Some(DriverError::Config(ConfigError::IntervalTooShort))
    ));
    // short_credentials_are_refused
    for (secret, refused) in [("abc", true), ("abcd", false)] {
        let error = build(wallet_config(dds, "1.0.0", secret)).map(|e| e.to_string());
        let expected = "invalid configuration: registration credentials must be at least 4 bytes";
        assert_eq!(
            error.as_deref() == Some(expected),
            refused,
            "{secret}: {error:?}"
        );
    }
    // wallet_config_with_a_node_url_is_refused, wallet_is_the_default_flow
    assert_eq!(
        Flow::from_options(None, Some("http://127.0.0.1:1")),
        Err(ConfigError::NodeUrlWithWallet)
    );
    assert_eq!(Flow::from_options(None, None), Ok(Flow::Wallet));
    // plaintext_dds_is_refused_unless_loopback_or_allowed
    let mut plain = wallet_config("http://dds.example.com", "1.0.0", "s3cret");
    assert!(matches!(
        build(plain.clone()),
        Some(DriverError::Config(ConfigError::PlaintextDds))
    ));
    plain.allow_plaintext_dds = true;
    assert!(build(plain).is_none(), "allowed");
    assert!(build(wallet_config("http://localhost:9", "1.0.0", "s3cret")).is_none());
    // capabilities_are_paths
    for (capabilities, code) in [
        (vec![], "no_capabilities"),
        (vec!["c"], "capability_not_a_path"),
        (vec!["/a b"], "invalid_capability_character"),
    ] {
        let mut config = wallet_config(dds, "1.0.0", "s3cret");
        config.node.capabilities = capabilities.iter().map(|c| (*c).to_owned()).collect();
        match build(config) {
            Some(DriverError::Config(err)) => assert_eq!(err.code(), code, "{capabilities:?}"),
            other => panic!("{capabilities:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn conflict_and_missing_stake_say_what_to_do() {
    let dds = Dds::start().await;
    for (status, hint) in [(409, "same wallet"), (402, "lacks the stake")] {
        let (events, driver) = recorded_driver(&dds).await;
        dds.faults(json!([{ "status": status, "body": "refused" }]))
            .await;
        let Err(RegisterOnceError::Failed(failure)) = driver.register_once().await else {
            panic!("a {status} is a failure");
        };
        let advice = failure.hint().expect("a hint");
        assert!(advice.contains(hint), "{advice}");
        assert!(failure.message.ends_with("body_snippet: refused"));
        assert!(failure
            .to_string()
            .ends_with(&format!("body_snippet: refused (hint: {advice})")));
        let events = events.lock().unwrap();
        let ended = events
            .iter()
            .find(|e| e.attempt_result().is_some())
            .expect("the attempt's end");
        let fields = ended.fields();
        assert!(fields
            .iter()
            .any(|(name, value)| *name == "hint" && value.to_string() == advice));
    }
}

/// A store whose saves fail.
struct BrokenDisk;

impl SnapshotStore for BrokenDisk {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    fn save(&self, _: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let error = StoreError("cannot write /broken: disk full".into());
        Box::pin(std::future::ready(Err(error)))
    }
}

/// A store whose error echoes what it holds and breaks the line, as a careless
/// host's might.
struct EchoingDisk(String);

impl SnapshotStore for EchoingDisk {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    fn save(&self, _: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let error = StoreError(format!(
            "cannot write /echo: quota exceeded for {}\nINFO registered: forged line",
            self.0
        ));
        Box::pin(std::future::ready(Err(error)))
    }
}

#[tokio::test]
async fn a_store_error_is_reported_redacted_on_one_line() {
    let dds = Dds::start().await;
    let (key, _) = fresh_key();
    let secret = fresh_secret();
    let (events, handler) = recorder();
    let driver =
        posemesh_registration::builder(wallet_config(dds.url(), "1.0.0", &secret), key.clone())
            .unwrap()
            .store(Arc::new(EchoingDisk(secret.clone())))
            .events(handler)
            .build()
            .await
            .unwrap();
    assert!(driver.register_once().await.is_ok());
    let errors: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::StateSaveFailed { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert!(!errors.is_empty(), "the failed save is reported");
    for error in errors {
        assert!(error.contains("quota exceeded"), "{error}");
        assert!(!error.contains(&secret), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[tokio::test]
async fn failed_save_is_reported_and_corrupt_state_is_set_aside() {
    let dds = Dds::start().await;
    let (key, _) = fresh_key();
    let (events, handler) = recorder();
    let driver = posemesh_registration::builder(
        wallet_config(dds.url(), "1.0.0", &fresh_secret()),
        key.clone(),
    )
    .unwrap()
    .store(Arc::new(BrokenDisk))
    .events(handler)
    .build()
    .await
    .unwrap();
    assert!(
        driver.register_once().await.is_ok(),
        "registration completes"
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::StateSaveFailed { error } if error.contains("disk full"))));

    // corrupt_state_is_set_aside
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, b"{\"version\":1,\"status\":").unwrap();
    let (events, handler) = recorder();
    let driver =
        posemesh_registration::builder(wallet_config(dds.url(), "1.0.0", &fresh_secret()), key)
            .unwrap()
            .store(Arc::new(FileStore::new(&state)))
            .events(handler)
            .build()
            .await
            .unwrap();
    // The report names where the bytes went (the CLI's log and Kotlin's records show it).
    let aside = dir.path().join("state.json.corrupt");
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::StateCorrupt { moved_to: Some(path), .. } if *path == aside.display().to_string()
    )));
    assert!(aside.exists());
    assert_eq!(driver.register_once().await, Ok(AttemptOutcome::Registered));
}

#[tokio::test]
async fn retry_after_zero_keeps_the_backoff() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 503, "retry_after": "0"}]))
        .await;
    let (events, driver) = recorded_driver(&dds).await;
    assert!(driver.register_once().await.is_err());
    let retry_in = events.lock().unwrap().iter().find_map(|e| match e {
        Event::RegistrationFailed { retry_in, .. } => Some(*retry_in),
        _ => None,
    });
    let retry_in = retry_in.expect("a failure");
    assert!(retry_in >= Duration::from_millis(1600), "{retry_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_promises_a_retry_only_when_a_loop_will_make_it() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 503}, {"status": 503}])).await;
    let (events, driver) = recorded_driver(&dds).await;
    let failures = |events: &Mutex<Vec<Event>>| -> Vec<Event> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.name() == "registration.error")
            .cloned()
            .collect()
    };
    // register_once alone: nothing retries, and nothing says it will.
    assert!(driver.register_once().await.is_err());
    let alone = failures(&events);
    assert_eq!(alone.len(), 1);
    assert!(!alone[0].to_string().contains("retrying"), "{}", alone[0]);
    assert!(alone[0]
        .fields()
        .iter()
        .all(|(name, _)| *name != "retry_in_ms"));
    // With the loop running, the same failure says when it retries, and does.
    let looping = driver.clone();
    let run = tokio::spawn(async move { looping.run().await });
    let registered = common::eventually(Duration::from_secs(15), || async {
        wallet_registrations(&dds).await.len() == 1
    })
    .await;
    assert!(registered);
    let looped = failures(&events);
    assert_eq!(looped.len(), 2);
    assert!(
        looped[1].to_string().contains("retrying in"),
        "{}",
        looped[1]
    );
    assert!(looped[1]
        .fields()
        .iter()
        .any(|(name, _)| *name == "retry_in_ms"));
    driver.stop();
    let _ = run.await;
    // After the loop ends, failures promise nothing again.
    dds.faults(json!([{"status": 503}])).await;
    driver.register_again();
    assert!(driver.register_once().await.is_err());
    let after = failures(&events);
    assert!(!after.last().unwrap().to_string().contains("retrying"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_never_stale_after_a_failure_or_a_stop() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 503}])).await;
    let driver = new_driver(&dds).await;
    // A failed register_once with no loop: nothing is registering any more.
    assert!(driver.register_once().await.is_err());
    assert_eq!(driver.status(), Status::Disconnected);

    // A loop stopped in the middle of an attempt.
    dds.faults(json!([{"status": 200, "delay_ms": 3000, "pass_through": true}]))
        .await;
    let looping = driver.clone();
    let run = tokio::spawn(async move { looping.run().await });
    let registering = common::eventually(Duration::from_secs(5), || async {
        driver.status() == Status::Registering
    })
    .await;
    assert!(registering);
    tokio::time::sleep(Duration::from_millis(300)).await;
    driver.stop();
    let ended = tokio::time::timeout(Duration::from_secs(2), run).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    assert_eq!(driver.status(), Status::Disconnected);

    // Registered, then stopped: the DDS still knows the node.
    assert_eq!(driver.register_once().await, Ok(AttemptOutcome::Registered));
    let looping = driver.clone();
    let run = tokio::spawn(async move { looping.run().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    driver.stop();
    let _ = run.await;
    assert_eq!(driver.status(), Status::Registered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_after_a_cancelled_tick_attempts_at_once() {
    let dds = Dds::start().await;
    dds.faults(json!([{"status": 200, "delay_ms": 5000, "pass_through": true}]))
        .await;
    let driver = new_driver(&dds).await;
    let cancelled = tokio::time::timeout(Duration::from_millis(500), driver.tick()).await;
    assert!(cancelled.is_err(), "cancelled by the timeout");
    // Without abandoning the dropped request, the core would wait out its
    // 5 s timeout and this tick would do nothing.
    let report = tokio::time::timeout(Duration::from_secs(4), driver.tick())
        .await
        .expect("the tick ended");
    assert_eq!(report.status, Status::Registered);
}

/// A shared store that counts its loads.
struct CountingShared(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl SnapshotStore for CountingShared {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(None)))
    }
    fn save(&self, _: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn uses_lock(&self) -> bool {
        true
    }
}

/// With a shared store, a callback is checked against the stored snapshot: but a body that
/// is no callback at all is refused before the store is read, so garbage costs no file read.
#[tokio::test]
async fn a_shared_store_is_read_only_for_a_callback_that_parses() {
    let (key, _) = fresh_key();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let loads = || counter.load(std::sync::atomic::Ordering::SeqCst);
    let driver = posemesh_registration::builder(
        wallet_config("http://127.0.0.1:9", "1.0.0", &fresh_secret()),
        key,
    )
    .unwrap()
    .store(Arc::new(CountingShared(counter.clone())))
    .build()
    .await
    .unwrap();
    let before = loads();
    let callback = "/internal/v1/registrations";
    for garbage in [
        &b"{"[..],
        b"not json",
        br#"{"id":"n1"}"#,
        &vec![b' '; 3 * 1024 * 1024],
    ] {
        let answer = driver
            .handle_node_request("POST", callback, &[], garbage)
            .await;
        assert!(answer.status >= 400, "{}", answer.status);
    }
    assert_eq!(
        loads(),
        before,
        "no store read for bodies that are no callback"
    );
    let parses = br#"{"id":"n1","secret":"a-secret-of-the-dds"}"#;
    let answer = driver
        .handle_node_request("POST", callback, &[], parses)
        .await;
    assert_eq!(
        answer.status, 409,
        "no attempt pending here or in the stored snapshot"
    );
    assert_eq!(
        loads(),
        before + 1,
        "a callback that parses is checked against the stored one"
    );
}
