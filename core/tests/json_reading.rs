//! Core reads JSON with its own small reader (`src/json.rs`), not serde_json's
//! deserializer. These tests hold it to serde_json with derived `Deserialize`
//! types, the reader it replaced: for generated and mangled documents, each of
//! the four documents core reads (a snapshot, a callback body, a SIWE
//! challenge, a sign-in answer) is accepted exactly when serde_json accepts it,
//! with the same values.

mod oracle;

use oracle::{
    CallbackBody as CallbackOracle, SignInAnswer as AnswerOracle, Stored as StoredOracle,
};
use posemesh_registration_core::callback::{parse_registration_callback, CallbackRejection};
use posemesh_registration_core::registrar::session::parse_verify_answer;
use posemesh_registration_core::{SiweChallenge, Snapshot, SnapshotError};
use proptest::collection::vec;
use proptest::prelude::*;

/// serde also reads a struct written as an array of its fields; core's reader
/// refuses that on purpose (no DDS or store writes it).
fn has_struct_as_array(bytes: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    value.is_array()
        || ["credentials", "registered_as"]
            .iter()
            .any(|key| value.get(key).is_some_and(serde_json::Value::is_array))
}

/// Compares all four readers with serde_json on `bytes`.
fn check_against_serde(bytes: &[u8]) -> Result<(), TestCaseError> {
    if has_struct_as_array(bytes) {
        return Ok(());
    }

    let oracle = serde_json::from_slice::<StoredOracle>(bytes);
    match Snapshot::decode(bytes) {
        Err(SnapshotError::Corrupt(_)) => prop_assert!(oracle.is_err(), "snapshot refused"),
        Err(SnapshotError::UnsupportedVersion { found }) => {
            prop_assert_eq!(oracle.map(|o| o.version).ok(), Some(found))
        }
        Ok(snapshot) => {
            let oracle = oracle.map_err(|e| TestCaseError::fail(format!("accepted: {e}")))?;
            prop_assert_eq!(snapshot.attempt, oracle.attempt);
            prop_assert_eq!(snapshot.credentials, oracle.credentials);
            prop_assert_eq!(snapshot.registered_as, oracle.registered_as);
            let status =
                snapshot
                    .unknown_status
                    .unwrap_or_else(|| match oracle.status.as_deref() {
                        None | Some("") => String::new(),
                        Some(_) => snapshot.status.as_str().to_owned(),
                    });
            prop_assert_eq!(status, oracle.status.unwrap_or_default());
            let health_ms = snapshot.last_health_check.map(|t| t.as_millis());
            if oracle.last_health_check_ms.is_some() {
                prop_assert_eq!(health_ms, oracle.last_health_check_ms);
            }
        }
    }

    let oracle = serde_json::from_slice::<CallbackOracle>(bytes);
    match parse_registration_callback(bytes) {
        Err(CallbackRejection::Malformed(_)) => prop_assert!(oracle.is_err(), "callback refused"),
        Err(CallbackRejection::TooLarge) => {}
        Err(_) => prop_assert!(oracle.is_ok(), "callback read but serde refused it"),
        Ok(callback) => {
            let oracle = oracle.map_err(|e| TestCaseError::fail(format!("accepted: {e}")))?;
            prop_assert_eq!(callback.id, oracle.id);
            prop_assert_eq!(callback.secret.expose(), oracle.secret);
            prop_assert_eq!(callback.organization_id, oracle.organization_id);
        }
    }

    let oracle = serde_json::from_slice::<SiweChallenge>(bytes);
    match SiweChallenge::parse(bytes) {
        Ok(challenge) => prop_assert_eq!(Some(challenge), oracle.ok()),
        Err(posemesh_registration_core::request::ChallengeError::EmptyNonce) => {
            prop_assert_eq!(oracle.ok().map(|c| c.nonce), Some(String::new()))
        }
        Err(_) => prop_assert!(oracle.is_err(), "challenge refused"),
    }

    let oracle = serde_json::from_slice::<AnswerOracle>(bytes);
    match parse_verify_answer(bytes) {
        Err(message) if message.starts_with("verify answer: ") => {
            prop_assert!(oracle.is_err(), "answer refused: {}", message)
        }
        Err(_) => prop_assert!(oracle.is_ok(), "answer read but serde refused it"),
        Ok(token) => {
            let oracle = oracle.map_err(|e| TestCaseError::fail(format!("accepted: {e}")))?;
            prop_assert_eq!(Some(token.expose().to_owned()), oracle.access_token);
            prop_assert!(oracle.access_expires_at.or(oracle.expires_at).is_some());
        }
    }
    Ok(())
}

/// Every key the four documents know, a few spelt with escapes, and strangers.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "version", "status", "last_health_check_ms", "last_healthcheck", "attempt",
            "credentials", "registered_as", "callback_until_ms", "callback_attempt",
            "callback_taken", "earlier_callback_attempt", "earlier_callback_taken", "id",
            "secret", "organization_id", "dds_url", "flow", "address", "node_url",
            "capabilities", "nonce", "domain", "uri", "chainId", "chain_id", "issuedAt",
            "access_token", "access_expires_at", "expires_at",
        ])
        .prop_map(|k| format!("\"{k}\"")),
        1 => Just(r#""\u0069d""#.to_owned()),
        1 => Just(r#""s\u0065cret""#.to_owned()),
        1 => string_literal(),
    ]
}

/// A JSON string literal, valid or not: escapes of every kind (surrogate
/// pairs, lone halves, bad hex), raw control characters, non-ASCII text.
fn string_literal() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-z0-9 ./:-]{0,6}",
        1 => prop::sample::select(vec![
            r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t", r"\u00e9", r"\u0000",
            r"\ud83d\ude00", r"\ud83d", r"\ude00", r"\ud83dx", r"\ud83d\u0041", r"\u12", r"\uzzzz",
            r"\x", "\u{1}", "\t", "é", "\u{2028}", "😀",
        ])
        .prop_map(str::to_owned),
    ];
    vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<u32>().prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "0", "-0", "1", "-1", "01", "-", "1.", ".5", "1.5", "1e3", "1E+2", "2e-1", "1e",
            "4294967295", "4294967296", "18446744073709551615", "18446744073709551616",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "1e400", "-0.0", "+1", "NaN", "Infinity",
        ])
        .prop_map(str::to_owned),
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => string_literal(),
        2 => number_literal(),
        2 => prop::sample::select(vec!["null", "true", "false", "nul", "tru", "nulll"])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            vec((key(), inner), 0..4).prop_map(|fields| object(&fields)),
        ]
    })
}

fn object(fields: &[(String, String)]) -> String {
    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", fields.join(","))
}

/// A document: an object of known and unknown fields (sometimes another
/// value), then maybe damaged: cut short, a byte changed, or whitespace added.
fn document() -> impl Strategy<Value = Vec<u8>> {
    let top = prop_oneof![
        8 => vec((key(), value()), 0..8).prop_map(|fields| object(&fields)),
        1 => value(),
    ];
    (top, 0..6u8, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(text, damage, at, byte)| {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len() + 1);
        match damage {
            0 => bytes.truncate(i),
            1 => bytes.insert(i, byte),
            2 if i < bytes.len() => bytes[i] = byte,
            3 => drop(bytes.splice(i..i, *b" \n\t\r")),
            _ => {}
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn each_document_reads_as_serde_json_reads_it(bytes in document()) {
        check_against_serde(&bytes)?;
    }
}

/// Valid documents with every field right: the comparison above also covers
/// acceptance, not only refusals.
#[test]
fn well_formed_documents_read_as_serde_json_reads_them() {
    let documents: [&[u8]; 6] = [
        br#"{"version":1,"status":"registered","last_health_check_ms":1700000000123,"attempt":2,
            "credentials":{"id":"n-1","secret":"s\u00e9cr\"et","organization_id":null},
            "registered_as":{"dds_url":"https://dds.example","flow":"wallet","address":"0xab",
            "version":"1.2.3","capabilities":["/a/v1","/b/v2"]},"future_field":{"x":[1,{"y":null}]}}"#,
        br#"{"status":"healthy","last_healthcheck":1700000000}"#,
        br#"{"id":"node-1","secret":"\ud83d\ude00","organization_id":"org"}"#,
        br#"{"nonce":"n","domain":"dds.example","uri":"https://dds.example","version":"1",
            "chainId":-9223372036854775808,"issuedAt":"2026-01-01T00:00:00Z","statement":"x"}"#,
        br#"{"access_token":"t0k","expires_at":"2026-01-01T00:00:00Z"}"#,
        b" {\"access_token\" : \"t\" , \"access_expires_at\":\"2026-01-01T00:00:00Z\"}\n",
    ];
    for bytes in documents {
        check_against_serde(bytes).unwrap();
    }
    // And each is read, not only refused alike.
    assert!(Snapshot::decode(documents[0])
        .unwrap()
        .credentials
        .is_some());
    assert_eq!(
        Snapshot::decode(documents[1])
            .unwrap()
            .unknown_status
            .as_deref(),
        Some("healthy")
    );
    assert_eq!(
        parse_registration_callback(documents[2])
            .unwrap()
            .secret
            .expose(),
        "😀"
    );
    assert_eq!(
        SiweChallenge::parse(documents[3]).unwrap().chain_id,
        i64::MIN
    );
    assert_eq!(parse_verify_answer(documents[4]).unwrap().expose(), "t0k");
    assert_eq!(parse_verify_answer(documents[5]).unwrap().expose(), "t");
}

/// Every field of every document, given each edge value in turn (numbers at
/// the limits of their type, `-0`, floats, escapes, null, other types).
#[test]
fn every_field_takes_each_edge_value_as_serde_json_does() {
    let numbers = [
        "0",
        "-0",
        "1",
        "-1",
        "01",
        "1.0",
        "1e3",
        "-0.0",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
    ];
    let others = [
        "null",
        "true",
        "{}",
        "[]",
        r#""""#,
        r#""t""#,
        r#""\u00e9\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        "\"a\u{1}\"",
        r#""\q""#,
    ];
    let templates = [
        r#"{"version":X}"#,
        r#"{"attempt":X}"#,
        r#"{"last_health_check_ms":X}"#,
        r#"{"last_healthcheck":X}"#,
        r#"{"callback_until_ms":X}"#,
        r#"{"callback_attempt":X}"#,
        r#"{"earlier_callback_attempt":X}"#,
        r#"{"status":X}"#,
        r#"{"callback_taken":X}"#,
        r#"{"credentials":{"id":X,"secret":"s"}}"#,
        r#"{"credentials":{"id":"i","secret":X}}"#,
        r#"{"credentials":{"id":"i","secret":"s","organization_id":X}}"#,
        r#"{"credentials":X}"#,
        r#"{"registered_as":X}"#,
        r#"{"registered_as":{"dds_url":"u","flow":"f","address":"a","version":"v","capabilities":[X]}}"#,
        r#"{"registered_as":{"dds_url":"u","flow":"f","address":"a","version":X,"capabilities":[]}}"#,
        r#"{"registered_as":{"dds_url":"u","flow":"f","address":"a","version":"v","capabilities":[],"node_url":X}}"#,
        r#"{"id":X,"secret":"s"}"#,
        r#"{"id":"i","secret":X}"#,
        r#"{"id":"i","secret":"s","organization_id":X}"#,
        r#"{"nonce":"n","domain":"d","uri":"u","version":"1","chainId":X,"issuedAt":"t"}"#,
        r#"{"nonce":X,"domain":"d","uri":"u","version":"1","chainId":1,"issuedAt":"t"}"#,
        r#"{"access_token":X,"expires_at":"t"}"#,
        r#"{"access_token":"t","access_expires_at":X}"#,
        r#"{"unknown":X,"id":"i","secret":"s"}"#,
    ];
    for template in templates {
        for value in numbers.iter().chain(&others) {
            let document = template.replace('X', value);
            check_against_serde(document.as_bytes()).unwrap_or_else(|e| panic!("{document}: {e}"));
        }
    }
}

/// An unknown field nested far deeper than any stack would allow recursion:
/// skipped, as serde_json skips it; the same nesting cut short is refused.
#[test]
fn a_deeply_nested_unknown_field_is_skipped_without_recursion() {
    let depth = 200_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(r#"{{"id":"n","secret":"s","extra":{nested}}}"#);
    check_against_serde(body.as_bytes()).unwrap();
    assert_eq!(
        parse_registration_callback(body.as_bytes()).unwrap().id,
        "n"
    );
    let cut = &body.as_bytes()[..body.len() - 2];
    assert!(matches!(
        parse_registration_callback(cut),
        Err(CallbackRejection::Malformed(_))
    ));
}

/// Errors say what kind of fault and where, never the input (it may hold
/// the secret).
#[test]
fn errors_name_the_fault_and_its_place_not_the_input() {
    let cases: [(&[u8], &str); 5] = [
        (
            br#"{"id":"n","secret":"hunter2""#,
            "truncated JSON at line 1 column 28",
        ),
        (
            b"{\"id\":\"n\",\n\"secret\":hunter2}",
            "invalid JSON at line 2 column 9",
        ),
        (
            br#"{"id":"n","secret":42}"#,
            "unexpected field type or value",
        ),
        (
            br#"{"id":"n","id":"m","secret":"hunter2"}"#,
            "unexpected field type or value",
        ),
        (
            br#"{"id":"n","secret":"hunter2"} x"#,
            "invalid JSON at line 1 column",
        ),
    ];
    for (body, expected) in cases {
        let Err(CallbackRejection::Malformed(message)) = parse_registration_callback(body) else {
            panic!("{} was read", String::from_utf8_lossy(body));
        };
        assert!(message.starts_with(expected), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

/// The exception, decided: serde's derive also reads a struct from an array
/// of its fields in order; no DDS or store writes that, and core refuses it.
#[test]
fn a_struct_written_as_an_array_is_refused() {
    let body = br#"["node-1","s3cret"]"#;
    assert!(serde_json::from_slice::<CallbackOracle>(body).is_ok());
    assert!(matches!(
        parse_registration_callback(body),
        Err(CallbackRejection::Malformed(_))
    ));
}
