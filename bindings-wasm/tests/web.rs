//! Unit tests of the bindings, run by wasm-bindgen-test in Node and in headless Chromium
//! (`bindings-wasm/test.sh` runs both). They call the exported API the way the generated
//! JavaScript does, and check what JavaScript sees: error classes and codes, redaction,
//! object shapes, and the registrar driven by real timers and `fetch`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Promise, Reflect, Uint8Array, JSON};
use posemesh_registration_wasm::requests::{
    build_registration_request, build_siwe_nonce_request, build_wallet_registration_request,
    classify, format_timestamp, siwe_message,
};
use posemesh_registration_wasm::{PrivateKey, Registrar};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const ADDRESS: &str = "0xfdbb6caf01414300c16ea14859fec7736d95355f";
/// Nothing listens there: every request fails to connect, quickly.
const DEAD_DDS: &str = "http://127.0.0.1:1";

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    type MemoryStorage;
    #[wasm_bindgen(constructor)]
    fn new(initial: JsValue) -> MemoryStorage;
}

fn key() -> PrivateKey {
    PrivateKey::from_hex(KEY.into()).expect("known key")
}

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).expect("readable property")
}

fn get_str(object: &JsValue, name: &str) -> String {
    get(object, name)
        .as_string()
        .unwrap_or_else(|| panic!("{name} is not a string"))
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in pairs {
        Reflect::set(&object, &(*name).into(), value).unwrap();
    }
    object.into()
}

fn strings(items: &[&str]) -> JsValue {
    items
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

fn stringify(value: &JsValue) -> String {
    JSON::stringify(value).unwrap().as_string().unwrap()
}

/// Checks a thrown value: an `Error` of class `name` with `code`, whose message does not
/// contain `secret`.
fn assert_error(error: &JsValue, name: &str, code: &str, secret: &str) {
    assert!(error.is_instance_of::<js_sys::Error>(), "not an Error");
    assert_eq!(get_str(error, "name"), name);
    assert_eq!(get_str(error, "code"), code);
    let message = get_str(error, "message");
    assert!(!message.is_empty());
    if !secret.is_empty() {
        assert!(
            !message.contains(secret),
            "message leaks the input: {message}"
        );
    }
}

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn legacy_options(extra: &[(&str, JsValue)]) -> JsValue {
    let mut pairs = vec![
        ("ddsUrl", DEAD_DDS.into()),
        ("flow", "legacy".into()),
        ("nodeUrl", "http://127.0.0.1:2".into()),
        ("version", "1.2.3".into()),
        (
            "capabilities",
            strings(&["/reconstruction/global-refinement/v1"]),
        ),
        ("registrationCredentials", "secret-credentials-123".into()),
        ("requestTimeoutMs", 5_000.into()),
        ("seed", 7.into()),
    ];
    pairs.extend(extra.iter().cloned());
    object(&pairs)
}

#[wasm_bindgen_test]
fn key_known_answer() {
    let key = key();
    assert_eq!(key.eth_address(), ADDRESS);
    assert_eq!(key.public_key_hex().len(), 130);
    assert!(key.public_key_hex().starts_with("04"));
    // tests/vectors/signatures.json, registration over "hello".
    assert_eq!(
        key.sign_registration("hello".into()).unwrap(),
        "90e3a653f834735107024195de9fd0824f3602a46ba9917ad726f4826644b1da1348d671908e52d378a679ed5057e2a60148643c78ee5e392bc44b35e379ee2a01"
    );
    // Bytes and strings sign the same.
    let bytes: JsValue = Uint8Array::from(&b"hello"[..]).into();
    assert_eq!(
        key.sign_eip191(bytes.clone()).unwrap(),
        key.sign_eip191("hello".into()).unwrap()
    );
    assert_eq!(key.sign_compact(bytes).unwrap().len(), 128);
    let err = key.sign_compact(JsValue::from(42)).unwrap_err();
    assert_error(&err, "PosemeshError", "invalid_argument", "");
}

#[wasm_bindgen_test]
fn key_errors_are_key_errors_without_the_input() {
    let not_hex = format!("zz{}", &KEY[2..]);
    let cases = [
        (not_hex.as_str(), "key_not_hex"),
        ("4c0883a69102937d", "key_wrong_length"),
        ("", "key_wrong_length"),
        (&"0".repeat(64), "key_out_of_range"),
        (
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            "key_out_of_range",
        ),
    ];
    for (input, code) in cases {
        let err = PrivateKey::from_hex(input.into()).err().expect("refused");
        assert_error(&err, "KeyError", code, input);
    }
    let err = PrivateKey::from_bytes(Uint8Array::from(&[1u8; 31][..]).into())
        .err()
        .expect("refused");
    assert_error(&err, "KeyError", "key_wrong_length", "");
}

#[wasm_bindgen_test]
fn arguments_of_the_wrong_type_are_refused_not_trapped() {
    let values = [
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::from(123),
        Object::new().into(),
        JsValue::TRUE,
    ];
    for value in values {
        let err = PrivateKey::from_hex(value.clone()).err().expect("refused");
        assert_error(&err, "PosemeshError", "invalid_argument", "");
        let err = PrivateKey::from_bytes(value.clone())
            .err()
            .expect("refused");
        assert_error(&err, "PosemeshError", "invalid_argument", "");
        let err = build_siwe_nonce_request(value.clone(), ADDRESS.into(), JsValue::UNDEFINED)
            .unwrap_err();
        assert_error(&err, "PosemeshError", "invalid_argument", "");
        let err =
            classify(value, object(&[("status", 200.into())]), JsValue::UNDEFINED).unwrap_err();
        assert_error(&err, "PosemeshError", "invalid_argument", "");
    }
    // Hex as bytes is refused too (fromHex is for hex).
    let err = PrivateKey::from_bytes(KEY.into()).err().expect("refused");
    assert_error(&err, "PosemeshError", "invalid_argument", KEY);
}

#[wasm_bindgen_test]
fn key_never_shows_itself() {
    let key = key();
    for shown in [key.to_string_js(), key.to_json()] {
        assert!(shown.contains(ADDRESS));
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}

#[wasm_bindgen_test]
fn legacy_request_matches_the_vector() {
    // tests/vectors/requests.json, legacy "basic_https".
    let options = object(&[
        ("ddsUrl", "https://dds.example.com".into()),
        ("nodeUrl", "https://node.example.com".into()),
        ("version", "1.2.3".into()),
        (
            "capabilities",
            strings(&["/reconstruction/global-refinement/v1"]),
        ),
        ("registrationCredentials", "secret-123".into()),
        (
            "timestamp",
            object(&[
                ("seconds", 1_704_164_645.into()),
                ("nanos", 6_007_008.into()),
            ]),
        ),
    ]);
    let request = build_registration_request(&key(), options).unwrap();
    assert_eq!(get_str(&request, "method"), "POST");
    assert_eq!(
        get_str(&request, "url"),
        "https://dds.example.com/internal/v1/nodes/register"
    );
    assert_eq!(
        get_str(&get(&request, "headers"), "content-type"),
        "application/json"
    );
    assert_eq!(
        get_str(&request, "body"),
        "{\"url\":\"https://node.example.com\",\"version\":\"1.2.3\",\"registration_credentials\":\"secret-123\",\"signature\":\"2846a219946231d4f42be226a900929f7e95fa0132c0632fb1d0668340552b821466d55aa1ebd6c1ac95465fb055144007a065327227c5873eb62febdd4db2dd01\",\"timestamp\":\"2024-01-02T03:04:05.006007008Z\",\"public_key\":\"04dcf38eee255236909937e905451bb018ae8f86a18e0429331031e711cbea76938585a30d9abac63d65fe4af4a32b86f8335180b1b24a82595a9b0a4582b8e033\",\"capabilities\":[\"/reconstruction/global-refinement/v1\"]}"
    );
    // The credentials stay out of JSON.stringify and toString.
    let json = stringify(&request);
    assert!(!json.contains("secret-123"), "{json}");
    assert!(json.contains("<redacted>"));
    let to_string: js_sys::Function = get(&request, "toString").unchecked_into();
    let text = to_string.call0(&request).unwrap().as_string().unwrap();
    assert!(!text.contains("secret-123"), "{text}");
}

#[wasm_bindgen_test]
fn request_options_are_checked() {
    let err = build_registration_request(&key(), JsValue::from(3)).unwrap_err();
    assert_error(&err, "ConfigError", "invalid_option", "");
    let options = object(&[
        ("ddsUrl", "https://user:pw@dds.example.com".into()),
        ("nodeUrl", "https://node.example.com".into()),
        ("version", "1".into()),
        ("registrationCredentials", "s".into()),
    ]);
    let err = build_registration_request(&key(), options).unwrap_err();
    assert_error(&err, "ConfigError", "invalid_dds_url", "user:pw");
    let options = object(&[
        ("ddsUrl", "https://dds.example.com".into()),
        ("nodeUrl", "https://node.example.com".into()),
        ("version", "1".into()),
        ("registrationCredentials", 1234567.into()),
    ]);
    let err = build_registration_request(&key(), options).unwrap_err();
    assert_error(&err, "ConfigError", "invalid_option", "1234567");
    let options = object(&[
        ("ddsUrl", "https://dds.example.com".into()),
        ("nodeUrl", "https://node.example.com".into()),
        ("version", "1".into()),
        ("registrationCredentials", "s".into()),
        ("timestamp", (-5).into()),
    ]);
    let err = build_registration_request(&key(), options).unwrap_err();
    assert_error(&err, "PosemeshError", "invalid_argument", "");
}

#[wasm_bindgen_test]
fn wallet_flow_requests() {
    let nonce = build_siwe_nonce_request(
        "https://dds.example.com/".into(),
        ADDRESS.into(),
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(
        get_str(&nonce, "url"),
        "https://dds.example.com/internal/v1/auth/siwe/request"
    );
    assert_eq!(
        get_str(&nonce, "body"),
        format!("{{\"wallet\":\"{ADDRESS}\"}}")
    );
    let challenge = object(&[
        ("nonce", "abc12345".into()),
        ("domain", "dds.example.com".into()),
        ("uri", "https://dds.example.com".into()),
        ("version", "1".into()),
        ("chainId", 1.into()),
        ("issuedAt", "2026-01-01T00:00:00Z".into()),
    ]);
    let message = siwe_message(challenge.clone(), ADDRESS.into()).unwrap();
    assert!(message.starts_with("dds.example.com wants you to sign in"));
    let options = object(&[
        ("ddsUrl", "https://dds.example.com".into()),
        ("challenge", challenge.clone()),
        ("version", "1.2.3".into()),
        (
            "capabilities",
            strings(&["/reconstruction/global-refinement/v1"]),
        ),
        ("registrationCredentials", "node-registration-secret".into()),
    ]);
    let request = build_wallet_registration_request(&key(), options).unwrap();
    // tests/vectors/requests.json, siwe "mainnet_chain_1".
    assert!(get_str(&request, "body").contains("\"signature\":\"0x47586f9eea2a3b4aed0067b9c617a6b9ebdf895d8e8094d6605e30d7560a75b03045fda7690ca061ad85f4561f63842a77dd436d902d4855b5c638b249da111e1b\""));
    // The challenge may also be the body text; an empty nonce is refused.
    let text = stringify(&challenge).replace("abc12345", "");
    let err = siwe_message(text.into(), ADDRESS.into()).unwrap_err();
    assert_error(&err, "PosemeshError", "invalid_challenge", "");
}

#[wasm_bindgen_test]
fn classify_responses() {
    let endpoint = "https://dds.example.com/internal/v1/nodes/register";
    let ok = classify(
        endpoint.into(),
        object(&[("status", 204.into())]),
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(get(&ok, "ok"), JsValue::TRUE);
    let cases = [
        (409, "conflict"),
        (503, "retry_fast"),
        (429, "retry_fast"),
        (403, "retry_later"),
    ];
    for (status, class) in cases {
        let headers = object(&[("Retry-After", "7".into())]);
        let response = object(&[
            ("status", status.into()),
            ("headers", headers),
            ("body", "line one\nline two".into()),
        ]);
        let result = classify(endpoint.into(), response, JsValue::UNDEFINED).unwrap();
        assert_eq!(get(&result, "ok"), JsValue::FALSE);
        assert_eq!(get_str(&result, "failureClass"), class);
        assert_eq!(get(&result, "status").as_f64(), Some(f64::from(status)));
        assert_eq!(get(&result, "retryAfterMs").as_f64(), Some(7000.0));
        let message = get_str(&result, "message");
        assert!(message.contains("line one line two"), "{message}");
    }
    // Headers as [name, value] pairs; bodies as bytes.
    let pairs: JsValue = [strings(&["retry-after", "3"])]
        .iter()
        .collect::<Array>()
        .into();
    let body: JsValue = Uint8Array::from(&[0xff, 0xfe, b'x'][..]).into();
    let response = object(&[("status", 502.into()), ("headers", pairs), ("body", body)]);
    let result = classify(endpoint.into(), response, JsValue::UNDEFINED).unwrap();
    assert_eq!(get(&result, "retryAfterMs").as_f64(), Some(3000.0));
    let err = classify(
        endpoint.into(),
        object(&[("status", 42.into())]),
        JsValue::UNDEFINED,
    )
    .unwrap_err();
    assert_error(&err, "PosemeshError", "invalid_argument", "");
}

#[wasm_bindgen_test]
fn timestamps() {
    let at = |s: f64, n: f64| object(&[("seconds", s.into()), ("nanos", n.into())]);
    assert_eq!(
        format_timestamp(at(1_704_164_645.0, 6_007_008.0)).unwrap(),
        "2024-01-02T03:04:05.006007008Z"
    );
    assert_eq!(
        format_timestamp(js_sys::Date::new(&0.into()).into()).unwrap(),
        "1970-01-01T00:00:00.000000000Z"
    );
    assert_eq!(
        format_timestamp(1_500.into()).unwrap(),
        "1970-01-01T00:00:01.500000000Z"
    );
    for bad in [
        at(-1.0, 0.0),
        at(1.0, 1e9),
        JsValue::from(f64::NAN),
        "now".into(),
    ] {
        let err = format_timestamp(bad).unwrap_err();
        assert_error(&err, "PosemeshError", "invalid_argument", "");
    }
}

#[wasm_bindgen_test]
fn registrar_options_are_checked() {
    let cases: Vec<(JsValue, &str)> = vec![
        (
            legacy_options(&[("ddsUrl", "ftp://dds".into())]),
            "invalid_dds_url",
        ),
        (
            legacy_options(&[("nodeUrl", JsValue::UNDEFINED)]),
            "missing_node_url",
        ),
        (
            legacy_options(&[("flow", "wallet".into())]),
            "node_url_with_wallet",
        ),
        (
            legacy_options(&[("flow", JsValue::UNDEFINED)]),
            "node_url_with_wallet",
        ),
        (
            legacy_options(&[("requestTimeoutMs", 0.into())]),
            "zero_request_timeout",
        ),
        (
            legacy_options(&[("registerIntervalMs", 999.into())]),
            "interval_too_short",
        ),
        (
            legacy_options(&[("nodeUrl", "node.example.com".into())]),
            "invalid_node_url",
        ),
        (legacy_options(&[("version", " ".into())]), "empty_version"),
        (
            legacy_options(&[
                ("flow", "wallet".into()),
                ("nodeUrl", JsValue::UNDEFINED),
                ("capabilities", strings(&[])),
            ]),
            "no_capabilities",
        ),
        (
            legacy_options(&[("flow", "carrier-pigeon".into())]),
            "unknown_flow",
        ),
        (
            legacy_options(&[("ddsUrl", "http://dds.example.com".into())]),
            "plaintext_dds",
        ),
        (
            legacy_options(&[("capabilities", strings(&["c"]))]),
            "capability_not_a_path",
        ),
        (
            legacy_options(&[("registerIntervalMs", (-1).into())]),
            "interval_too_short",
        ),
        (
            legacy_options(&[("requestTimeoutMs", "soon".into())]),
            "invalid_option",
        ),
        (
            legacy_options(&[("maxRetry", 1.5.into())]),
            "invalid_option",
        ),
        (
            legacy_options(&[("storage", object(&[("load", JsValue::TRUE)]))]),
            "invalid_option",
        ),
        (
            legacy_options(&[("onEvent", "log".into())]),
            "invalid_option",
        ),
    ];
    for (options, code) in cases {
        let err = Registrar::new(&key(), options).err().expect("refused");
        assert_error(&err, "ConfigError", code, "secret-credentials-123");
    }
}

#[wasm_bindgen_test]
fn registrar_never_shows_a_secret() {
    let registrar = Registrar::new(&key(), legacy_options(&[])).unwrap();
    assert_eq!(registrar.status(), "disconnected");
    assert_eq!(registrar.address(), ADDRESS);
    let shown = registrar.to_string_js();
    assert!(shown.contains(ADDRESS));
    assert!(!shown.contains("secret-credentials-123"));
    assert!(!shown.contains(KEY));
}

#[wasm_bindgen_test]
async fn handle_callback_routes_the_dds_requests() {
    let registrar = Registrar::new(&key(), legacy_options(&[])).unwrap();
    let request = |url: &str, init: JsValue| -> JsValue {
        web_sys::Request::new_with_str_and_init(url, init.unchecked_ref())
            .unwrap()
            .into()
    };
    let status_of = |response: &JsValue| get(response, "status").as_f64().unwrap();

    let headers = object(&[("user-agent", "DDS v1.0".into())]);
    let health = request("http://node/health", object(&[("headers", headers)]));
    let response = settle(registrar.handle_callback(health)).await.unwrap();
    assert_eq!(status_of(&response), 200.0);

    let other = request("http://node/elsewhere", JsValue::UNDEFINED);
    let response = settle(registrar.handle_callback(other)).await.unwrap();
    assert_eq!(status_of(&response), 404.0);

    // No attempt is pending: a callback is refused and changes nothing.
    let body = r#"{"id":"node-1","secret":"dds-secret-abc"}"#;
    let init = object(&[("method", "POST".into()), ("body", body.into())]);
    let callback = request("http://node/internal/v1/registrations", init);
    let response = settle(registrar.handle_callback(callback)).await.unwrap();
    assert_eq!(status_of(&response), 409.0);
    assert_eq!(registrar.status(), "disconnected");
    assert!(registrar.node_id().is_none());

    let err = settle(registrar.handle_callback("not a request".into()))
        .await
        .unwrap_err();
    assert_error(&err, "PosemeshError", "invalid_argument", "");
}

#[wasm_bindgen_test]
async fn tick_attempts_persists_and_reports_failure() {
    let storage: JsValue = MemoryStorage::new(JsValue::NULL).into();
    let events = Array::new();
    let sink = events.clone();
    let on_event = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        sink.push(&event);
    });
    let options = legacy_options(&[
        ("storage", storage.clone()),
        ("onEvent", on_event.as_ref().clone()),
    ]);
    let registrar = Registrar::new(&key(), options).unwrap();

    let result = settle(registrar.tick(JsValue::UNDEFINED, JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&result, "attempted"), JsValue::TRUE);
    // Nothing is trying after a failed tick (no loop): not a stale "registering".
    assert_eq!(get_str(&result, "status"), "disconnected");
    let error = get(&result, "error");
    assert_error(
        &error,
        "RegistrationError",
        "registration_unavailable",
        "secret-credentials-123",
    );
    assert_eq!(get_str(&error, "failureClass"), "retry_fast");
    assert!(get(&result, "nextCheckAt").as_f64().unwrap() > js_sys::Date::now());

    // The snapshot went to the storage.
    let load: js_sys::Function = get(&storage, "load").unchecked_into();
    let stored = settle(load.call0(&storage).unwrap().unchecked_into())
        .await
        .unwrap();
    let stored = String::from_utf8(Uint8Array::new(&stored).to_vec()).unwrap();
    assert!(stored.contains("\"status\":\"disconnected\""), "{stored}");
    assert!(stored.contains("\"attempt\":1"), "{stored}");

    // Events came in order, with the failure, and without the credentials.
    let names: Vec<String> = events.iter().map(|e| get_str(&e, "name")).collect();
    assert!(names.contains(&"status.transition".to_owned()), "{names:?}");
    // The failure, then back to "disconnected".
    let n = names.len();
    assert_eq!(
        names[n - 2..],
        ["registration.error", "status.transition"],
        "{names:?}"
    );
    for event in events.iter() {
        assert!(!stringify(&event).contains("secret-credentials-123"));
    }
    let failed = events.get(events.length() - 2);
    assert_eq!(get(&failed, "attempt").as_f64(), Some(1.0));
    // The core's fields, camelCased: the same schema as every runtime.
    assert_eq!(get_str(&failed, "failureClass"), "retry_fast");
    assert!(get(&failed, "failure").is_undefined());
    // No retry is coming without the loop: none is promised.
    assert!(get(&failed, "retryInMs").is_undefined());
    assert!(!get_str(&failed, "message").contains("retrying"));
    let last = events.get(events.length() - 1);
    assert_eq!(get_str(&last, "to"), "disconnected");
    assert!(!registrar.running());
}

#[wasm_bindgen_test]
async fn tick_within_the_ttl_does_nothing() {
    let now = js_sys::Date::now();
    let snapshot = format!(
        concat!(
            r#"{{"version":1,"status":"registered","last_health_check_ms":{},"attempt":0,"#,
            r#""registered_as":{{"dds_url":"{}","flow":"legacy","address":"{}","#,
            r#""node_url":"http://127.0.0.1:2","version":"1.2.3","#,
            r#""capabilities":["/reconstruction/global-refinement/v1"]}}}}"#
        ),
        now as u64, DEAD_DDS, ADDRESS
    );
    let storage: JsValue = MemoryStorage::new(Uint8Array::from(snapshot.as_bytes()).into()).into();
    let options = legacy_options(&[("storage", storage)]);
    let registrar = Registrar::new(&key(), options).unwrap();
    let result = settle(registrar.tick(JsValue::from(now + 1_000.0), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&result, "attempted"), JsValue::FALSE);
    assert_eq!(get_str(&result, "status"), "registered");
    assert_eq!(get(&result, "error"), JsValue::NULL);
    // Due right after the 60 s TTL lapses.
    let next = get(&result, "nextCheckAt").as_f64().unwrap();
    assert!(
        (now + 60_000.0..now + 61_000.0).contains(&next),
        "{next} vs {now}"
    );
}

#[wasm_bindgen_test]
async fn a_corrupt_snapshot_is_reported_and_replaced() {
    let storage: JsValue = MemoryStorage::new(Uint8Array::from(&b"{not json"[..]).into()).into();
    let events = Array::new();
    let sink = events.clone();
    let on_event = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        sink.push(&event);
    });
    let options = legacy_options(&[("storage", storage), ("onEvent", on_event.as_ref().clone())]);
    let registrar = Registrar::new(&key(), options).unwrap();
    let result = settle(registrar.tick(JsValue::UNDEFINED, JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&result, "attempted"), JsValue::TRUE);
    let names: Vec<String> = events.iter().map(|e| get_str(&e, "name")).collect();
    assert!(names.contains(&"state.corrupt".to_owned()), "{names:?}");
}

#[wasm_bindgen_test]
async fn storage_failures_are_storage_errors() {
    let failing = Closure::<dyn Fn() -> JsValue>::new(|| {
        Promise::reject(&js_sys::Error::new("disk on fire").into()).into()
    });
    let storage = object(&[
        ("load", failing.as_ref().clone()),
        ("save", failing.as_ref().clone()),
    ]);
    let registrar = Registrar::new(&key(), legacy_options(&[("storage", storage)])).unwrap();
    let err = settle(registrar.tick(JsValue::UNDEFINED, JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(&err, "StorageError", "storage_load_failed", "");
    assert!(get_str(&err, "message").contains("disk on fire"));
    let err = settle(registrar.start(JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(&err, "StorageError", "storage_load_failed", "");
    assert!(!registrar.running());
}

#[wasm_bindgen_test]
async fn start_stop_and_busy() {
    let registrar = Registrar::new(&key(), legacy_options(&[])).unwrap();
    settle(registrar.start(JsValue::UNDEFINED)).await.unwrap();
    assert!(registrar.running());
    // Next to the loop, registerOnce joins its attempt (the DDS is dead: it fails).
    let err = settle(registrar.register_once(JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(&err, "RegistrationError", "registration_unavailable", "");
    let err = settle(registrar.tick(JsValue::UNDEFINED, JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(&err, "StateError", "already_running", "");
    let err = settle(registrar.start(JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(&err, "StateError", "already_running", "");
    settle(registrar.stop()).await.unwrap();
    assert!(!registrar.running());
    // Stopped twice is fine; and it can start again.
    settle(registrar.stop()).await.unwrap();
    settle(registrar.start(JsValue::UNDEFINED)).await.unwrap();
    settle(registrar.stop()).await.unwrap();
}

#[wasm_bindgen_test]
async fn register_once_rejects_with_the_classified_failure() {
    let registrar = Registrar::new(&key(), legacy_options(&[])).unwrap();
    let err = settle(registrar.register_once(JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_error(
        &err,
        "RegistrationError",
        "registration_unavailable",
        "secret-credentials-123",
    );
    // Nothing will retry it (no loop): not a stale "registering".
    assert_eq!(registrar.status(), "disconnected");
    assert!(!registrar.running());
}
