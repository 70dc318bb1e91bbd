//! Core's JSON reader against serde_json with derived types, the reader it
//! replaced: on any bytes, the callback body, the SIWE challenge and the
//! sign-in answer are each accepted exactly when serde_json accepts them, with
//! the same values. (core/tests/json_reading.rs does the same for generated
//! documents, the snapshot included.) A struct written as an array, which
//! serde's derive also reads, is refused on purpose and skipped here.
#![no_main]

#[path = "../../core/tests/oracle/mod.rs"]
mod oracle;

use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::callback::{parse_registration_callback, CallbackRejection};
use posemesh_registration_core::registrar::session::parse_verify_answer;
use posemesh_registration_core::request::ChallengeError;
use posemesh_registration_core::SiweChallenge;

fuzz_target!(|bytes: &[u8]| {
    if serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.is_array()) {
        return;
    }
    let oracle = serde_json::from_slice::<oracle::CallbackBody>(bytes);
    match parse_registration_callback(bytes) {
        Ok(callback) => {
            let oracle = oracle.expect("core read a callback serde_json refuses");
            assert_eq!(callback.id, oracle.id);
            assert_eq!(callback.secret.expose(), oracle.secret);
            assert_eq!(callback.organization_id, oracle.organization_id);
        }
        Err(CallbackRejection::Malformed(_)) => assert!(oracle.is_err(), "core refused a callback"),
        Err(_) => {}
    }

    let oracle = serde_json::from_slice::<SiweChallenge>(bytes);
    match SiweChallenge::parse(bytes) {
        Ok(challenge) => assert_eq!(Some(challenge), oracle.ok()),
        Err(ChallengeError::EmptyNonce) => assert!(oracle.is_ok_and(|c| c.nonce.is_empty())),
        Err(_) => assert!(oracle.is_err(), "core refused a challenge"),
    }

    let oracle = serde_json::from_slice::<oracle::SignInAnswer>(bytes);
    match parse_verify_answer(bytes) {
        Ok(token) => assert_eq!(oracle.ok().and_then(|a| a.access_token).as_deref(), Some(token.expose())),
        Err(message) if message.starts_with("verify answer: ") => {
            assert!(oracle.is_err(), "core refused an answer: {message}")
        }
        Err(_) => assert!(oracle.is_ok(), "core read an answer serde_json refuses"),
    }
});
