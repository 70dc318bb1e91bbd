//! A wallet-flow node whose key the host keeps (a wallet SDK, a hardware key):
//! the shared driver asks its `RemoteSigner` for each attempt's signature,
//! never under the registrar's locks, under the request timeout. Against the conformance DDS
//! on loopback.

mod common;

use common::{fresh_key, fresh_secret, recorder, Dds};
use futures_util::FutureExt;
use posemesh_registration::core::{Flow, RegistrarConfig};
use posemesh_registration::shared_driver::BoxFuture;
use posemesh_registration::{
    AttemptOutcome, Driver, DriverError, Event, FileStore, PrivateKey, RegisterOnceError,
    RemoteSigner, Secret, Status,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

fn config(dds: &str, secret: &str) -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        dds,
        Flow::from_options(None, None).unwrap(),
        "1.0.0",
        vec!["/capture/scan/v1".into()],
        Secret::new(secret.to_owned()),
    )
    .unwrap();
    config.request_timeout = Duration::from_secs(1);
    config
}

/// A signer over a key the driver is never given. While it signs it reads
/// the driver it signs for: that would deadlock if signing ran under the
/// registrar's lock.
struct Wallet {
    key: PrivateKey,
    signed: AtomicUsize,
    driver: OnceLock<Driver>,
    seen_status: Mutex<Option<Status>>,
}

impl RemoteSigner for Wallet {
    fn personal_sign(&self, message: String) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            if let Some(driver) = self.driver.get() {
                *self.seen_status.lock().unwrap() = Some(driver.status());
                let _ = driver.snapshot();
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // a wallet prompt
            self.signed.fetch_add(1, Ordering::SeqCst);
            let signature = self.key.sign_eip191(message.as_bytes());
            Ok(hex::decode(signature.trim_start_matches("0x")).unwrap())
        })
    }
}

impl Wallet {
    fn new(key: PrivateKey) -> Arc<Wallet> {
        Arc::new(Wallet {
            key,
            signed: AtomicUsize::new(0),
            driver: OnceLock::new(),
            seen_status: Mutex::new(None),
        })
    }
}

/// A signer that never answers.
struct Silent;

impl RemoteSigner for Silent {
    fn personal_sign(&self, _message: String) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_signer_registers_the_node_without_handing_over_its_key() {
    let dds = Dds::start().await;
    let (key, _) = fresh_key();
    let address = key.eth_address();
    let wallet = Wallet::new(key);
    let driver = posemesh_registration::builder_with_remote_signer(
        config(dds.url(), &fresh_secret()),
        address.to_ascii_uppercase().replacen("0X", "0x", 1),
        wallet.clone(),
    )
    .unwrap()
    .build()
    .await
    .unwrap();
    wallet.driver.set(driver.clone()).ok().unwrap();
    assert_eq!(driver.address(), address);
    assert_eq!(driver.public_key_hex(), None, "no key, no public key");

    let outcome = tokio::time::timeout(Duration::from_secs(10), driver.register_once())
        .await
        .expect("register_once ended");
    assert_eq!(outcome, Ok(AttemptOutcome::Registered));
    assert_eq!(wallet.signed.load(Ordering::SeqCst), 1);
    assert_eq!(
        *wallet.seen_status.lock().unwrap(),
        Some(Status::Registering),
        "the signer could read the driver while it signed"
    );
    let readout = dds.readout().await;
    let accepted: Vec<_> = readout["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/internal/v1/nodes/register-wallet" && r["accepted"] == true)
        .collect();
    assert_eq!(accepted.len(), 1, "{readout}");
    assert_eq!(accepted[0]["address"], address.as_str());

    // A tick (cron triggers, edge workers) signs through the same path.
    driver.register_again();
    let report = driver.tick().await;
    assert_eq!(report.status, Status::Registered);
    assert_eq!(wallet.signed.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_stored_registration_is_adopted_without_asking_the_signer() {
    let dds = Dds::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (key, _) = fresh_key();
    let address = key.eth_address();
    let wallet = Wallet::new(key);
    let secret = fresh_secret();
    let start = || async {
        posemesh_registration::builder_with_remote_signer(
            config(dds.url(), &secret),
            address.clone(),
            wallet.clone(),
        )
        .unwrap()
        .store(Arc::new(FileStore::new(&state)))
        .build()
        .await
        .unwrap()
    };
    assert_eq!(
        start().await.register_once().await,
        Ok(AttemptOutcome::Registered)
    );
    // The process restarts: same state file, same signer.
    let restarted = start().await;
    assert_eq!(restarted.status(), Status::Registered);
    assert_eq!(restarted.register_once().await, Ok(AttemptOutcome::Adopted));
    assert_eq!(wallet.signed.load(Ordering::SeqCst), 1, "no second prompt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_that_never_answers_fails_the_attempt_at_the_request_timeout() {
    let dds = Dds::start().await;
    let address = fresh_key().0.eth_address();
    let (events, on_event) = recorder();
    let driver = posemesh_registration::builder_with_remote_signer(
        config(dds.url(), &fresh_secret()),
        address,
        Arc::new(Silent),
    )
    .unwrap()
    .events(on_event)
    .build()
    .await
    .unwrap();
    let once = tokio::time::timeout(Duration::from_secs(5), driver.register_once())
        .await
        .expect("register_once ended at the request timeout");
    match once {
        Err(RegisterOnceError::Failed(failure)) => assert!(
            failure
                .message
                .contains("no signature within the request timeout"),
            "{failure}"
        ),
        other => panic!("expected a failed attempt, got {other:?}"),
    }
    // A tick does not hang on it either.
    let report = tokio::time::timeout(Duration::from_secs(5), driver.tick())
        .await
        .expect("the tick ended");
    assert_ne!(report.status, Status::Registered);
    let failures = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::RegistrationFailed { .. }))
        .count();
    assert_eq!(failures, 2, "one failed attempt each");
}

#[test]
fn a_remote_signer_is_refused_for_the_legacy_flow() {
    let address = fresh_key().0.eth_address();
    let legacy = RegistrarConfig::new(
        "http://127.0.0.1:9",
        Flow::from_options(Some("legacy"), Some("http://127.0.0.1:8")).unwrap(),
        "1.0.0",
        vec!["/capture/v1".into()],
        Secret::new("s3cret".to_owned()),
    )
    .unwrap();
    let built =
        posemesh_registration::builder_with_remote_signer(legacy, address, Arc::new(Silent))
            .unwrap()
            .build()
            .now_or_never()
            .expect("refused before the store is read");
    match built {
        Err(DriverError::Config(err)) => assert_eq!(err.code(), "remote_signer_needs_wallet"),
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("a legacy driver with a remote signer was built"),
    }
}
