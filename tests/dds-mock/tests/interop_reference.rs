//! Compatibility with the reference client, `posemesh-node-registration`
//! (0.1.5: legacy flow; 0.2.1: wallet flow): its requests must be accepted by
//! the conformance DDS, and our core must produce the same bytes it does.

use legacy::crypto as ref_crypto;
use posemesh_dds_mock::MockConfig;
use posemesh_node_registration_legacy as legacy;
use posemesh_node_registration_wallet as wallet;
use posemesh_registration_core::request::{legacy_registration_request, NodeDescription};
use posemesh_registration_core::{BaseUrl, PrivateKey, Secret, UnixTime};
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn readout(url: &str) -> serde_json::Value {
    let text = client()
        .get(format!("{url}/_control/registrations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Deterministic keys without a random source: keccak-like spread via the index.
fn key_hex(i: u32) -> String {
    format!("{:08x}{}", i + 1, "5a".repeat(28))
}

#[tokio::test]
async fn the_reference_legacy_client_is_accepted_and_called_back() {
    // The reference's own callback router plays the node.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum07_serve(listener).await;
    });
    let mock = posemesh_dds_mock::start(MockConfig::default())
        .await
        .unwrap();
    let sk = ref_crypto::load_secp256k1_privhex(&key_hex(1)).unwrap();
    let caps = vec!["/reconstruction/global-refinement/v1".to_string()];
    legacy::register::register_once(
        mock.url(),
        &node_url,
        "0.1.5",
        "ref-secret",
        &sk,
        &client(),
        &caps,
    )
    .await
    .expect("the conformance DDS accepts the reference client");
    let mut called_back = false;
    for _ in 0..50 {
        let out = readout(mock.url()).await;
        if out["callbacks"]
            .as_array()
            .unwrap()
            .first()
            .is_some_and(|c| c["status"] == 200)
        {
            called_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        called_back,
        "the reference node did not accept our DDS's callback"
    );
    let out = readout(mock.url()).await;
    assert_eq!(out["received"][0]["accepted"], true);
    assert_eq!(
        out["received"][0]["public_key"],
        ref_crypto::secp256k1_pubkey_uncompressed_hex(&sk)
    );
}

/// Serves the reference crate's own DDS-callback router (axum 0.7).
async fn axum07_serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum07::serve(listener, legacy::http::router_dds(legacy::http::DdsState)).await
}

#[tokio::test]
async fn the_reference_wallet_client_is_accepted() {
    let mock = posemesh_dds_mock::start(MockConfig::default())
        .await
        .unwrap();
    let sk = wallet::crypto::load_secp256k1_privhex(&key_hex(2)).unwrap();
    let caps = vec!["/reconstruction/global-refinement/v1".to_string()];
    let attempt =
        wallet::register::register_once(mock.url(), "0.2.1", "ref-secret", &sk, &client(), &caps)
            .await;
    assert!(format!("{attempt:?}").contains("Registered"), "{attempt:?}");
    let out = readout(mock.url()).await;
    let accepted: Vec<_> = out["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].clone(), r["accepted"].clone()))
        .collect();
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        out["received"][1]["path"],
        "/internal/v1/nodes/register-wallet"
    );
    assert_eq!(out["received"][1]["accepted"], true);
    assert_eq!(
        out["received"][1]["address"],
        wallet::crypto::derive_eth_address(&sk)
    );
}

#[test]
fn core_signs_exactly_as_the_reference() {
    for i in 0..64u32 {
        let hex = key_hex(i * 7919);
        let ours = PrivateKey::from_hex(&hex).unwrap();
        let theirs = wallet::crypto::load_secp256k1_privhex(&hex).unwrap();
        let message = format!("https://node-{i}.example.com2024-01-02T03:04:05.{i:09}Z");
        assert_eq!(
            ours.public_key_hex(),
            wallet::crypto::secp256k1_pubkey_uncompressed_hex(&theirs)
        );
        assert_eq!(
            ours.eth_address(),
            wallet::crypto::derive_eth_address(&theirs)
        );
        assert_eq!(
            ours.sign_registration(message.as_bytes()),
            wallet::crypto::sign_recoverable_keccak_hex(&theirs, message.as_bytes())
        );
        assert_eq!(
            ours.sign_eip191(message.as_bytes()),
            wallet::crypto::sign_eip191_recoverable_hex(&theirs, &message)
        );
        assert_eq!(
            ours.sign_compact(message.as_bytes()),
            wallet::crypto::sign_compact_hex(&theirs, message.as_bytes())
        );
    }
}

#[test]
fn core_builds_the_reference_legacy_body_byte_for_byte() {
    let hex = key_hex(42);
    let key = PrivateKey::from_hex(&hex).unwrap();
    let sk = ref_crypto::load_secp256k1_privhex(&hex).unwrap();
    let node_url = "https://node.example.com:8443/base";
    let now = UnixTime::from_secs_nanos(1_704_164_645, 6_007_008);
    let timestamp = ref_crypto::format_timestamp_nanos(
        chrono::DateTime::from_timestamp(1_704_164_645, 6_007_008).unwrap(),
    );
    assert_eq!(timestamp, now.to_rfc3339_nanos());
    let caps = vec!["/a/v1".to_string(), "/b \"quoted\" ü/v2".to_string()];
    let secret = "sécret \"with\" \\ escapes\n";
    let reference = legacy::register::NodeRegistrationRequest {
        url: node_url.into(),
        version: "1.2.3".into(),
        registration_credentials: secret.into(),
        signature: ref_crypto::sign_recoverable_keccak_hex(
            &sk,
            format!("{node_url}{timestamp}").as_bytes(),
        ),
        timestamp,
        public_key: ref_crypto::secp256k1_pubkey_uncompressed_hex(&sk),
        capabilities: caps.clone(),
    };
    let node = NodeDescription {
        version: "1.2.3".into(),
        capabilities: caps,
        credentials: Secret::new(secret),
    };
    let ours = legacy_registration_request(
        &BaseUrl::parse("https://dds.example.com//").unwrap(),
        node_url,
        &node,
        &key,
        now,
    );
    assert_eq!(
        ours.url,
        "https://dds.example.com/internal/v1/nodes/register"
    );
    assert_eq!(
        String::from_utf8(ours.body).unwrap(),
        serde_json::to_string(&reference).unwrap()
    );
}
