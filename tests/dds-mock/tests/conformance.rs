//! The conformance DDS refuses what a DDS must refuse, and its fault
//! injection and read-out behave as documented.

use posemesh_dds_mock::MockConfig;
use posemesh_registration::{Flow, RegistrarConfig, Status};
use posemesh_registration_core::request::{
    legacy_registration_request, siwe_nonce_request, wallet_registration_request,
    wallet_registration_request_signed, NodeDescription,
};
use posemesh_registration_core::{
    BaseUrl, HttpRequest, PrivateKey, Secret, SiweChallenge, UnixTime,
};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const OTHER_KEY: &str = "e331b6d69882b4ed5bb7f55b585d7d0f7dc3aeca4a3deee8d16bde3eca51aace";

fn now() -> UnixTime {
    UnixTime::from_duration_since_epoch(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
}

fn node(credentials: &str, capabilities: &[&str]) -> NodeDescription {
    NodeDescription {
        version: "1.0.0".into(),
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        credentials: Secret::new(credentials),
    }
}

async fn send(request: &HttpRequest) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(&request.url)
        .header("content-type", "application/json")
        .body(request.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

fn legacy(dds: &str, key: &str, at: UnixTime, node: &NodeDescription) -> HttpRequest {
    legacy_registration_request(
        &BaseUrl::parse(dds).unwrap(),
        "https://node.example.com",
        node,
        &PrivateKey::from_hex(key).unwrap(),
        at,
    )
}

#[tokio::test]
async fn legacy_registrations_are_verified() {
    let mock = posemesh_dds_mock::start(MockConfig {
        credentials: Some("right".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let dds = mock.url();
    let good = node("right", &["/cap/v1"]);
    assert_eq!(send(&legacy(dds, KEY, now(), &good)).await.0, 200);
    assert_eq!(
        send(&legacy(dds, KEY, now() - Duration::from_secs(120), &good))
            .await
            .0,
        401,
        "stale"
    );
    assert_eq!(
        send(&legacy(dds, KEY, now() + Duration::from_secs(3600), &good))
            .await
            .0,
        401,
        "future"
    );
    assert_eq!(
        send(&legacy(dds, KEY, now(), &node("wrong", &["/cap/v1"])))
            .await
            .0,
        403,
        "credentials"
    );
    // PROTOCOL.md asks for capabilities only in the wallet flow.
    assert_eq!(
        send(&legacy(dds, KEY, now(), &node("right", &[]))).await.0,
        200,
        "a legacy node without capabilities"
    );

    // A signature by another key over the same message, with the first key's public key.
    let mut forged = legacy(dds, KEY, now(), &good);
    let mut body: Value = serde_json::from_slice(&forged.body).unwrap();
    let other = legacy(dds, OTHER_KEY, now(), &good);
    let other: Value = serde_json::from_slice(&other.body).unwrap();
    body["signature"] = other["signature"].clone();
    body["timestamp"] = other["timestamp"].clone();
    forged.body = body.to_string().into_bytes();
    let (status, answer) = send(&forged).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("signature does not match public_key"))
    );

    // A message changed after signing.
    let mut tampered: Value = serde_json::from_slice(&legacy(dds, KEY, now(), &good).body).unwrap();
    tampered["url"] = json!("https://evil.example.com");
    let mut request = legacy(dds, KEY, now(), &good);
    request.body = tampered.to_string().into_bytes();
    assert_eq!(send(&request).await.0, 401);

    // Malformed bodies.
    request.body = b"{not json".to_vec();
    assert_eq!(send(&request).await.0, 400);
    request.body = br#"{"url":"https://node.example.com"}"#.to_vec();
    assert_eq!(send(&request).await.0, 400);

    let readout: Value = reqwest::get(format!("{dds}/_control/registrations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accepted = readout["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["accepted"] == true)
        .count();
    assert_eq!(accepted, 2);
    // Not loopback: never called back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let readout: Value = reqwest::get(format!("{dds}/_control/registrations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readout["callbacks"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn siwe_nonces_are_single_use_and_bound_to_the_wallet() {
    let mock = posemesh_dds_mock::start(MockConfig::default())
        .await
        .unwrap();
    let dds = BaseUrl::parse(mock.url()).unwrap();
    let key = PrivateKey::from_hex(KEY).unwrap();
    let other = PrivateKey::from_hex(OTHER_KEY).unwrap();
    let description = node("creds", &["/cap/v1"]);

    let (status, challenge) = send(&siwe_nonce_request(&dds, &key.eth_address())).await;
    assert_eq!(status, 200);
    let challenge = SiweChallenge::parse(challenge.to_string().as_bytes()).unwrap();
    // Signed by another key: the signature does not match the wallet in the message.
    let mut forged =
        wallet_registration_request(&dds, &challenge, &[], &description, &other).unwrap();
    let mut body: Value = serde_json::from_slice(&forged.body).unwrap();
    body["message"] = json!(challenge.message(&key.eth_address()));
    forged.body = body.to_string().into_bytes();
    assert_eq!(send(&forged).await.0, 401);
    // The nonce was consumed by that attempt.
    let honest = wallet_registration_request(&dds, &challenge, &[], &description, &key).unwrap();
    assert_eq!(send(&honest).await.0, 401);

    // The right nonce and key, but a field of the message changed: refused.
    for change in [
        |c: &mut SiweChallenge| c.version = "2".into(),
        |c: &mut SiweChallenge| c.domain = "evil.example".into(),
        |c: &mut SiweChallenge| c.chain_id = 8453,
        |c: &mut SiweChallenge| c.issued_at = "2020-01-01T00:00:00Z".into(),
    ] {
        let (_, issued) = send(&siwe_nonce_request(&dds, &key.eth_address())).await;
        let mut changed = SiweChallenge::parse(issued.to_string().as_bytes()).unwrap();
        change(&mut changed);
        // Signed as it is: a client that does not check the challenge (ours refuses
        // the changed version and domain before signing).
        let message = changed.message(&key.eth_address());
        let signature = key.sign_eip191(message.as_bytes());
        let request = wallet_registration_request_signed(&dds, &message, &signature, &description);
        let (status, answer) = send(&request).await;
        assert_eq!(status, 401, "{changed:?}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("not for this DDS"),
            "{answer}"
        );
    }

    let (_, fresh) = send(&siwe_nonce_request(&dds, &key.eth_address())).await;
    let fresh = SiweChallenge::parse(fresh.to_string().as_bytes()).unwrap();
    let request = wallet_registration_request(&dds, &fresh, &[], &description, &key).unwrap();
    assert_eq!(send(&request).await.0, 200);
    assert_eq!(send(&request).await.0, 401, "replayed");
    let bad_wallet = siwe_nonce_request(&dds, "0xNOTHEX");
    assert_eq!(send(&bad_wallet).await.0, 400);
}

#[tokio::test]
async fn faults_apply_in_order_and_by_path() {
    let mock = posemesh_dds_mock::start(MockConfig::default())
        .await
        .unwrap();
    let dds = mock.url();
    let client = reqwest::Client::new();
    client
        .post(format!("{dds}/_control/faults"))
        .header("content-type", "application/json")
        .body(
            json!({"faults": [
                {"status": 503, "path": "/internal/v1/auth/siwe/request"},
                {"status": 429, "retry_after": "3"},
                {"status": 500},
            ]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let good = node("c", &["/cap/v1"]);
    let first = client
        .post(format!("{dds}/internal/v1/nodes/register"))
        .body(legacy(dds, KEY, now(), &good).body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "3");
    assert_eq!(send(&legacy(dds, KEY, now(), &good)).await.0, 500);
    assert_eq!(
        send(&legacy(dds, KEY, now(), &good)).await.0,
        200,
        "the siwe-only fault is still queued"
    );
    let siwe = siwe_nonce_request(
        &BaseUrl::parse(dds).unwrap(),
        &PrivateKey::from_hex(KEY).unwrap().eth_address(),
    );
    assert_eq!(send(&siwe).await.0, 503);
    assert_eq!(send(&siwe).await.0, 200);
}

#[tokio::test]
async fn listens_on_loopback_only() {
    let refused = posemesh_dds_mock::start(MockConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    })
    .await;
    assert!(refused.is_err());
    assert!(posemesh_dds_mock::is_loopback_host("127.0.0.1"));
    assert!(posemesh_dds_mock::is_loopback_host("[::1]"));
    assert!(posemesh_dds_mock::is_loopback_host("localhost"));
    assert!(!posemesh_dds_mock::is_loopback_host("10.0.0.1"));
    assert!(!posemesh_dds_mock::is_loopback_host("node.example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_wallet_flow_registers_end_to_end() {
    let mock = posemesh_dds_mock::start(MockConfig::default())
        .await
        .unwrap();
    let config = RegistrarConfig::new(
        mock.url(),
        Flow::Wallet,
        "2.0.0",
        vec!["/cap/v1".into()],
        "creds".into(),
    )
    .unwrap();
    let driver = posemesh_registration::builder(config, PrivateKey::from_hex(KEY).unwrap())
        .unwrap()
        .build()
        .await
        .unwrap();
    driver.register_once().await.unwrap();
    assert_eq!(driver.status(), Status::Registered);
    let readout: Value = reqwest::get(format!("{}/_control/registrations", mock.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        readout["received"][1]["path"],
        "/internal/v1/nodes/register-wallet"
    );
    assert_eq!(
        readout["received"][1]["address"],
        "0xfdbb6caf01414300c16ea14859fec7736d95355f"
    );
}

#[tokio::test]
async fn over_capacity_answers_book_a_slot_that_is_honoured() {
    let mock = posemesh_dds_mock::start(MockConfig {
        capacity: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let dds = mock.url();
    let good = node("c", &["/cap/v1"]);
    // Fill this second, then one more client is over capacity.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for key in [KEY, OTHER_KEY] {
        let response = reqwest::Client::new()
            .post(format!("{dds}/internal/v1/nodes/register"))
            .body(legacy(dds, key, now(), &good).body)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if let Some(value) = response.headers().get("retry-after") {
            retry_after = Some(value.to_str().unwrap().to_owned());
        }
    }
    // Both may land in different seconds; at most one is turned away.
    if statuses == [200, 200] {
        return;
    }
    assert_eq!(statuses, [200, 503]);
    let wait =
        posemesh_registration_core::response::parse_retry_after(&retry_after.unwrap(), now())
            .unwrap();
    // Booked at least 3 s ahead (clients ignore shorter Retry-After values).
    assert!(
        wait >= Duration::from_secs(2) && wait <= Duration::from_secs(4),
        "{wait:?}"
    );
    // Back in the booked second, the same client is served.
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(send(&legacy(dds, OTHER_KEY, now(), &good)).await.0, 200);
}
