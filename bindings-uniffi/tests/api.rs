//! The Kotlin/Swift library's API as Rust sees it (what uniffi exports):
//! secrets kept out of every text, statuses after failed and cancelled calls,
//! and the protocol functions' checks. The JVM suite (`tests/kotlin`) runs the
//! same API through the generated bindings.

use posemesh_registration_uniffi::protocol::*;
use posemesh_registration_uniffi::*;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const SECRET: &str = "reg-secret-do-not-print";
const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";

fn registrar() -> (Arc<NodeKey>, Arc<Registrar>) {
    let key = NodeKey::generate().unwrap();
    let config = RegistrarConfig {
        dds_url: "http://127.0.0.1:1".into(),
        flow: None,
        node_version: "1.0.0".into(),
        capabilities: vec!["/capture/scan/v1".into()],
        register_interval_seconds: None,
        max_retry: None,
        request_timeout_seconds: Some(1.0),
        siwe_domains: Vec::new(),
        allow_plaintext_dds: false,
    };
    let registrar = Registrar::new(config, key.clone(), SECRET.into(), None, None, None)
        .expect("a valid configuration");
    (key, registrar)
}

#[test]
fn new_objects_never_print_secrets() {
    let (key, registrar) = registrar();
    let key_hex: String = key
        .export_private_key_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let handle = registrar.start().unwrap();
    let watch = registrar.watch_status();
    let token = CancelToken::new();
    let texts = [
        handle.to_string(),
        format!("{handle:?}"),
        watch.to_string(),
        format!("{watch:?}"),
        token.to_string(),
        format!("{token:?}"),
        registrar.to_string(),
        format!("{registrar:?}"),
        format!("{:?}", registrar.info()),
    ];
    handle.cancel();
    assert!(!handle.is_active());
    for text in texts {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(&key_hex), "{text}");
    }
}

#[test]
fn a_failed_attempt_leaves_the_status_disconnected() {
    let (_key, registrar) = registrar();
    let runtime = posemesh_registration::shared_runtime().unwrap();
    let err = runtime.block_on(registrar.register_once()).unwrap_err();
    assert!(
        matches!(err, RegistrationError::AttemptFailed { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(SECRET));
    // The core would still say "registering"; nothing will retry it.
    assert_eq!(registrar.status(), RegistrationStatus::Disconnected);
}

#[test]
fn a_cancelled_token_ends_calls_at_once() {
    let (_key, registrar) = registrar();
    let token = CancelToken::new();
    token.cancel();
    assert!(token.is_cancelled());
    let runtime = posemesh_registration::shared_runtime().unwrap();
    let err = runtime
        .block_on(registrar.register_once_with(token.clone()))
        .unwrap_err();
    assert_eq!(err, RegistrationError::Stopped);
    let watch = registrar.watch_status();
    assert_eq!(runtime.block_on(watch.next(Some(token))), None);
    watch.cancel();
    assert_eq!(runtime.block_on(watch.next(None)), None);
}

#[test]
fn a_node_request_from_inside_a_callback_is_answered_not_blocked_on() {
    let (_key, registrar) = registrar();
    // A `Logger` or store runs on one of the runtime's threads, as this does.
    let inside = posemesh_registration::shared_runtime()
        .unwrap()
        .block_on(async {
            registrar.handle_node_request("GET".into(), "/health".into(), Vec::new(), Vec::new())
        });
    assert_eq!(inside.status, 503);
    let outside =
        registrar.handle_node_request("GET".into(), "/health".into(), Vec::new(), Vec::new());
    assert_ne!(outside.status, 503);
}

#[test]
fn callback_check_hides_the_secret() {
    let info = check_registration_callback(br#"{"id":"n1","secret":"s3cr3t"}"#.to_vec()).unwrap();
    assert_eq!(info.id, "n1");
    assert_eq!(info.secret_length, 6);
    assert!(!format!("{info:?}").contains("s3cr3t"));
    let err = check_registration_callback(br#"{"id":"","secret":"s3cr3t"}"#.to_vec()).unwrap_err();
    assert!(matches!(
        err,
        RegistrationError::CallbackRejected { status: 422, .. }
    ));
    assert!(!err.to_string().contains("s3cr3t"));
    let err = check_registration_callback(b"\xff\x00garbage".to_vec()).unwrap_err();
    assert!(matches!(
        err,
        RegistrationError::CallbackRejected { status: 400, .. }
    ));
}

#[test]
fn classification() {
    let now = SystemTime::now();
    let ok = HttpResponse {
        status: 204,
        headers: vec![],
        body: vec![],
    };
    assert_eq!(classify_response("u".into(), ok, now).unwrap(), None);
    let busy = HttpResponse {
        status: 503,
        headers: vec![HttpHeader {
            name: "Retry-After".into(),
            value: "7".into(),
        }],
        body: b"busy".to_vec(),
    };
    let failure = classify_response("u".into(), busy, now).unwrap().unwrap();
    assert_eq!(failure.failure_class, FailureClass::RetryFast);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(failure.status, Some(503));
}

#[test]
fn bad_urls_are_invalid_input() {
    let key = NodeKey::generate().unwrap();
    let err = legacy_registration_request(
        "ftp://x".into(),
        "https://node".into(),
        "1".into(),
        vec![],
        "secret".into(),
        key,
        SystemTime::now(),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, RegistrationError::InvalidInput { .. }));
}

#[test]
fn display_and_debug_never_show_the_key() {
    let key = NodeKey::from_hex(KEY.into()).unwrap();
    for text in [key.to_string(), format!("{key:?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains(&KEY[..16]), "{text}");
        assert!(
            text.contains("0xfdbb6caf01414300c16ea14859fec7736d95355f"),
            "{text}"
        );
    }
}

#[test]
fn generated_keys_round_trip_through_bytes() {
    let key = NodeKey::generate().unwrap();
    let again = NodeKey::from_bytes(key.export_private_key_bytes()).unwrap();
    assert_eq!(key.eth_address(), again.eth_address());
    assert_ne!(
        key.eth_address(),
        NodeKey::generate().unwrap().eth_address()
    );
}

#[test]
fn signatures_recover_to_the_signer() {
    let key = NodeKey::from_hex(KEY.into()).unwrap();
    let sig = key.sign_registration("hello".into());
    assert_eq!(
        recover_registration_signer("hello".into(), sig).unwrap(),
        key.public_key_hex()
    );
    let sig = key.sign_eip191("hello".into());
    assert_eq!(
        recover_eip191_signer("hello".into(), sig).unwrap(),
        key.eth_address()
    );
    assert!(matches!(
        recover_eip191_signer("hello".into(), "zz".into()),
        Err(RegistrationError::InvalidInput { .. })
    ));
}

#[test]
fn key_errors_do_not_echo_the_input() {
    let input = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f9";
    let err: RegistrationError = posemesh_registration_core::PrivateKey::from_hex(input)
        .unwrap_err()
        .into();
    assert!(!err.to_string().contains(input));
    assert!(!format!("{err:?}").contains(input));
}
