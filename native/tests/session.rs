//! The node's DDS session against the conformance DDS: a token its check
//! endpoint accepts, refreshed before it expires, one sign-in for a hundred
//! callers, a new registration when verify says the node is gone, and the
//! token in no log.

mod common;

use common::{assert_logs_free_of, eventually, fresh_key, recorder, wallet_config, Dds};
use posemesh_registration::{Driver, Event, RegisterOnceError};
use serde_json::json;
use std::time::Duration;

async fn wallet_driver(dds: &Dds) -> Driver {
    posemesh_registration::builder(wallet_config(dds.url()), fresh_key().0)
        .unwrap()
        .build()
        .await
        .unwrap()
}

async fn sign_ins(dds: &Dds) -> u64 {
    dds.readout().await["sign_ins"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_callers_share_one_sign_in_and_the_dds_accepts_the_token() {
    let dds = Dds::start().await;
    let driver = wallet_driver(&dds).await;
    let calls = (0..100).map(|_| {
        let driver = driver.clone();
        tokio::spawn(async move { driver.access_token().await })
    });
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap().expose().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(sign_ins(&dds).await, 1);
    assert_eq!(dds.check_token(&tokens[0]).await, 200);
    assert_eq!(dds.check_token("not-a-token").await, 401);
    assert_logs_free_of(&[&tokens[0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_loop_refreshes_a_short_lived_token_before_it_expires() {
    let dds = Dds::start().await;
    dds.token_lifetime(Duration::from_secs(2)).await;
    let (events, sink) = recorder();
    let config = wallet_config(dds.url());
    let driver = posemesh_registration::builder(config, fresh_key().0)
        .unwrap()
        .events(sink)
        .build()
        .await
        .unwrap();
    let background =
        posemesh_registration::spawn_loop(&driver, &tokio::runtime::Handle::current()).unwrap();
    let first = driver.access_token().await.unwrap();
    // Every token handed out while the loop runs is one the DDS accepts.
    for _ in 0..20 {
        let token = driver.access_token().await.unwrap();
        assert_eq!(dds.check_token(token.expose()).await, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let latest = driver.access_token().await.unwrap();
    assert_ne!(latest.expose(), first.expose(), "refreshed within 4 s");
    assert!(sign_ins(&dds).await >= 2);
    drop(background);
    let signed_in = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::SessionSignedIn { .. }))
        .count();
    assert!(signed_in >= 2, "each sign-in is reported");
    assert_logs_free_of(&[first.expose(), latest.expose()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_from_verify_leads_to_a_new_registration() {
    let dds = Dds::start().await;
    let driver = wallet_driver(&dds).await;
    driver.register_once().await.unwrap();
    dds.faults(json!([{ "status": 403, "path": "/internal/v1/auth/siwe/verify" }]))
        .await;
    let token = driver.access_token().await.unwrap();
    assert_eq!(dds.check_token(token.expose()).await, 200);
    assert_eq!(dds.accepted().await, 3, "two registrations and one sign-in");
    let registrations = dds.readout().await["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["accepted"] == true && r["path"] == "/internal/v1/nodes/register-wallet")
        .count();
    assert_eq!(registrations, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_replaced_and_a_failed_round_is_an_error() {
    let dds = Dds::start().await;
    let driver = wallet_driver(&dds).await;
    let first = driver.access_token().await.unwrap();
    driver.access_token_refused(first.expose());
    let second = driver.access_token().await.unwrap();
    assert_ne!(first.expose(), second.expose());
    // On a failure, what the DDS received says where a third sign-in came from.
    let readout = dds.readout().await;
    assert_eq!(readout["sign_ins"], 2, "{:#}", readout["received"]);

    driver.access_token_refused(second.expose());
    let fault = json!({ "status": 500, "path": "/internal/v1/auth/siwe/verify" });
    dds.faults(json!([fault.clone(), fault.clone(), fault.clone(), fault]))
        .await;
    match driver.access_token().await {
        Err(RegisterOnceError::Failed(failure)) => assert_eq!(failure.status, Some(500)),
        other => panic!("expected the round's failure, got {other:?}"),
    }
    assert!(
        eventually(Duration::from_secs(1), || async {
            dds.readout().await["faults_queued"] == 0
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_registration_is_renewed_every_interval() {
    let dds = Dds::start().await;
    let mut config = wallet_config(dds.url());
    config.register_interval = Duration::from_secs(1);
    let driver = posemesh_registration::builder(config, fresh_key().0)
        .unwrap()
        .build()
        .await
        .unwrap();
    let background =
        posemesh_registration::spawn_loop(&driver, &tokio::runtime::Handle::current()).unwrap();
    let renewed = eventually(Duration::from_secs(5), || async {
        let readout = dds.readout().await;
        readout["received"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["accepted"] == true && r["path"] == "/internal/v1/nodes/register-wallet")
            .count()
            >= 3
    })
    .await;
    assert!(renewed, "registered, then renewed every second");
    assert_eq!(driver.status(), posemesh_registration::Status::Registered);
    drop(background);
}
