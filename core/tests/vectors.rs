//! The shared known-answer vectors in `tests/vectors/` (generated independently
//! with coincurve, eth-keys and eth-account; see `tests/vectors/README.md`).
//!
//! Every entry of every section is checked, and each section must have entries:
//! an emptied or renamed section fails instead of passing vacuously.

use posemesh_registration_core::keys::{self, KeyError};
use posemesh_registration_core::registrar::session::siwe_verify_request;
use posemesh_registration_core::request::{self, Method};
use posemesh_registration_core::{BaseUrl, NodeDescription, PrivateKey, SiweChallenge, UnixTime};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn load(name: &str) -> Value {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn section<'a>(doc: &'a Value, name: &str) -> &'a [Value] {
    doc.get(name)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("section {name:?} missing or not an array"))
}

fn s<'a>(entry: &'a Value, field: &str) -> &'a str {
    entry
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("field {field:?} missing or not a string in {entry}"))
}

fn u(entry: &Value, field: &str) -> u64 {
    entry
        .get(field)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("field {field:?} missing or not an integer in {entry}"))
}

fn strings(entry: &Value, field: &str) -> Vec<String> {
    entry
        .get(field)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("field {field:?} missing or not an array in {entry}"))
        .iter()
        .map(|v| v.as_str().expect("string item").to_owned())
        .collect()
}

fn key(hex_text: &str) -> PrivateKey {
    PrivateKey::from_hex(hex_text).unwrap_or_else(|e| panic!("vector key refused: {e}"))
}

// ---------------------------------------------------------------- keys.json

#[test]
fn known_answer_key() {
    let key =
        PrivateKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90")
            .unwrap();
    assert_eq!(
        key.eth_address(),
        "0xfdbb6caf01414300c16ea14859fec7736d95355f"
    );
}

#[test]
fn keys_valid() {
    let doc = load("keys.json");
    let mut checked = 0;
    for entry in section(&doc, "valid") {
        let private_hex = s(entry, "private_key_hex");
        let expected_public = s(entry, "public_key_hex");
        let expected_address = s(entry, "eth_address");

        let from_hex = key(private_hex);
        assert_eq!(from_hex.public_key_hex(), expected_public, "{private_hex}");
        assert_eq!(from_hex.eth_address(), expected_address, "{private_hex}");
        assert_eq!(hex::encode(*from_hex.to_bytes()), private_hex);
        assert_eq!(hex::encode(from_hex.public_key_bytes()), expected_public);

        let bytes = hex::decode(private_hex).unwrap();
        let from_bytes = PrivateKey::from_bytes(&bytes).unwrap();
        assert_eq!(from_bytes.public_key_hex(), expected_public);
        assert_eq!(from_bytes.eth_address(), expected_address);

        // The address also follows from the public key alone.
        assert_eq!(
            keys::eth_address_from_public_key_hex(expected_public).unwrap(),
            expected_address
        );
        checked += 1;
    }
    assert!(checked > 0, "keys.json `valid` is empty");
}

#[test]
fn keys_invalid() {
    let doc = load("keys.json");
    let mut checked = 0;
    for entry in section(&doc, "invalid") {
        let input = s(entry, "input");
        let reason = s(entry, "reason");
        let err: KeyError = match PrivateKey::from_hex(input) {
            Ok(_) => panic!("accepted an invalid key ({reason}): {input:?}"),
            Err(err) => err,
        };
        let display = err.to_string();
        let debug = format!("{err:?}");
        assert!(!display.is_empty());
        if input.len() >= 8 {
            for text in [&display, &debug] {
                assert!(
                    !text.contains(input) && !text.contains(input.trim()),
                    "error text echoes the input ({reason}): {text}"
                );
                // Nor any 8-character window of it.
                for window in input.as_bytes().windows(8) {
                    if let Ok(w) = std::str::from_utf8(window) {
                        if w.chars().all(|c| c.is_ascii_hexdigit()) {
                            assert!(!text.contains(w), "error text echoes {w:?}: {text}");
                        }
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "keys.json `invalid` is empty");
}

#[test]
fn keys_valid_spellings() {
    let doc = load("keys.json");
    let mut checked = 0;
    for entry in section(&doc, "valid_spellings") {
        let input = s(entry, "input");
        let canonical = s(entry, "private_key_hex");
        let loaded = PrivateKey::from_hex(input)
            .unwrap_or_else(|e| panic!("refused spelling {input:?}: {e}"));
        assert_eq!(hex::encode(*loaded.to_bytes()), canonical, "{input:?}");
        assert_eq!(loaded.public_key_hex(), key(canonical).public_key_hex());
        checked += 1;
    }
    assert!(checked > 0, "keys.json `valid_spellings` is empty");
}

// ---------------------------------------------------------- signatures.json

#[test]
fn signatures_registration() {
    let doc = load("signatures.json");
    let mut checked = 0;
    for entry in section(&doc, "registration") {
        let key = key(s(entry, "private_key_hex"));
        let message = s(entry, "message");
        let expected = s(entry, "signature_hex");
        assert_eq!(
            hex::encode(keys::keccak256(message.as_bytes())),
            s(entry, "keccak256_hex"),
            "keccak256 of {message:?}"
        );
        assert_eq!(
            key.sign_registration(message.as_bytes()),
            expected,
            "{message:?}"
        );
        assert_eq!(
            keys::recover_registration_signer(message.as_bytes(), expected).unwrap(),
            key.public_key_hex()
        );
        checked += 1;
    }
    assert!(checked > 0, "signatures.json `registration` is empty");
}

#[test]
fn signatures_eip191() {
    let doc = load("signatures.json");
    let mut checked = 0;
    for entry in section(&doc, "eip191") {
        let key = key(s(entry, "private_key_hex"));
        let message = s(entry, "message");
        let expected = s(entry, "signature_hex");
        assert_eq!(key.sign_eip191(message.as_bytes()), expected, "{message:?}");
        assert_eq!(
            keys::recover_eip191_signer(message.as_bytes(), expected).unwrap(),
            key.eth_address()
        );
        checked += 1;
    }
    assert!(checked > 0, "signatures.json `eip191` is empty");
}

#[test]
fn signatures_compact() {
    let doc = load("signatures.json");
    let mut checked = 0;
    for entry in section(&doc, "compact") {
        let key = key(s(entry, "private_key_hex"));
        let message = s(entry, "message");
        assert_eq!(
            hex::encode(Sha256::digest(message.as_bytes())),
            s(entry, "sha256_hex"),
            "sha256 of {message:?}"
        );
        assert_eq!(
            key.sign_compact(message.as_bytes()),
            s(entry, "signature_hex"),
            "{message:?}"
        );
        checked += 1;
    }
    assert!(checked > 0, "signatures.json `compact` is empty");
}

// ---------------------------------------------------------- timestamps.json

#[test]
fn timestamps() {
    let doc = load("timestamps.json");
    let mut checked = 0;
    for entry in section(&doc, "cases") {
        let secs = u(entry, "seconds");
        let nanos = u32::try_from(u(entry, "nanos")).unwrap();
        let expected = s(entry, "rfc3339");
        let time = UnixTime::from_secs_nanos(secs, nanos);
        assert_eq!(time.to_rfc3339_nanos(), expected, "({secs}, {nanos})");
        assert_eq!(UnixTime::parse_rfc3339(expected), Some(time), "{expected}");
        checked += 1;
    }
    assert!(checked > 0, "timestamps.json `cases` is empty");
}

// ------------------------------------------------------------ requests.json

#[test]
fn requests_legacy() {
    let doc = load("requests.json");
    let mut checked = 0;
    for entry in section(&doc, "legacy") {
        let name = s(entry, "name");
        let expected = &entry["expected"];
        let dds = BaseUrl::parse(s(entry, "dds_base_url")).unwrap();
        let node = NodeDescription {
            version: s(entry, "node_version").to_owned(),
            capabilities: strings(entry, "capabilities"),
            credentials: s(entry, "registration_credentials").into(),
        };
        let key = key(s(entry, "private_key_hex"));
        let now = UnixTime::from_secs_nanos(
            u(entry, "timestamp_seconds"),
            u32::try_from(u(entry, "timestamp_nanos")).unwrap(),
        );
        let node_url = s(entry, "node_url");
        let req = request::legacy_registration_request(&dds, node_url, &node, &key, now);

        assert_eq!(req.method, Method::Post, "{name}");
        assert_eq!(req.method.as_str(), s(expected, "method"), "{name}");
        assert_eq!(req.url, s(expected, "url"), "{name}");
        let content_types: Vec<&str> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(content_types, [s(expected, "content_type")], "{name}");
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            s(expected, "body"),
            "{name}: body differs"
        );
        assert_eq!(req.body, s(expected, "body").as_bytes(), "{name}");

        // The signature in the body is over the expected signed message.
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let signed = s(expected, "signed_message");
        assert_eq!(
            keys::recover_registration_signer(signed.as_bytes(), s(&body, "signature")).unwrap(),
            key.public_key_hex(),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked > 0, "requests.json `legacy` is empty");
}

#[test]
fn requests_siwe() {
    let doc = load("requests.json");
    let mut checked = 0;
    for entry in section(&doc, "siwe") {
        let name = s(entry, "name");
        let expected = &entry["expected"];
        let dds = BaseUrl::parse(s(entry, "dds_base_url")).unwrap();
        let key = key(s(entry, "private_key_hex"));
        let address = key.eth_address();

        let nonce_req = request::siwe_nonce_request(&dds, &address);
        let expected_nonce = &expected["nonce_request"];
        assert_eq!(
            nonce_req.method.as_str(),
            s(expected_nonce, "method"),
            "{name}"
        );
        assert_eq!(nonce_req.url, s(expected_nonce, "url"), "{name}");
        assert_eq!(
            nonce_req.body,
            s(expected_nonce, "body").as_bytes(),
            "{name}"
        );

        let challenge_bytes = serde_json::to_vec(&entry["challenge"]).unwrap();
        let challenge = SiweChallenge::parse(&challenge_bytes)
            .unwrap_or_else(|e| panic!("{name}: challenge refused: {e}"));
        assert_eq!(
            challenge.message(&address),
            s(expected, "message"),
            "{name}"
        );

        let node = NodeDescription {
            version: s(entry, "node_version").to_owned(),
            capabilities: strings(entry, "capabilities"),
            credentials: s(entry, "registration_credentials").into(),
        };
        let register =
            request::wallet_registration_request(&dds, &challenge, &[], &node, &key).unwrap();
        let expected_register = &expected["register"];
        assert_eq!(
            register.method.as_str(),
            s(expected_register, "method"),
            "{name}"
        );
        assert_eq!(register.url, s(expected_register, "url"), "{name}");
        assert_eq!(
            std::str::from_utf8(&register.body).unwrap(),
            s(expected_register, "body"),
            "{name}: body differs"
        );
        let body: Value = serde_json::from_slice(&register.body).unwrap();
        assert_eq!(s(&body, "signature"), s(expected, "signature"), "{name}");
        assert_eq!(
            key.sign_eip191(s(expected, "message").as_bytes()),
            s(expected, "signature"),
            "{name}"
        );

        // The session's sign-in sends the same signed message to verify.
        let message = challenge.message(&address);
        let signature = key.sign_eip191(message.as_bytes());
        let sign_in = siwe_verify_request(&dds, &address, &message, &signature);
        let expected_sign_in = &expected["sign_in"];
        assert_eq!(
            sign_in.method.as_str(),
            s(expected_sign_in, "method"),
            "{name}"
        );
        assert_eq!(sign_in.url, s(expected_sign_in, "url"), "{name}");
        assert_eq!(
            std::str::from_utf8(&sign_in.body).unwrap(),
            s(expected_sign_in, "body"),
            "{name}: sign-in body differs"
        );
        checked += 1;
    }
    assert!(checked > 0, "requests.json `siwe` is empty");
}
