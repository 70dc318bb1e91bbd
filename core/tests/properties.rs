//! Property tests: backoff bounds, one request at a time under arbitrary host
//! behaviour, and no panics on anything a DDS, a disk or a user can hand in.

mod common;

use common::*;
use posemesh_registration_core::callback::parse_registration_callback;
use posemesh_registration_core::response::{self, FailureClass, SNIPPET_MAX_BYTES};
use posemesh_registration_core::{
    keys, CallbackSlot, DdsCredentials, EarlierCallback, HttpResponse, LockOutcome, Output,
    PrivateKey, RegisteredAs, RegistrarConfig, RequestId, Snapshot, Status, TransportError,
    TransportErrorKind, UnixTime,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::time::Duration;

const REGISTER_ENDPOINT: &str = "http://dds.test/internal/v1/nodes/register";

fn base_secs(n: u32) -> f64 {
    if n >= 6 {
        60.0
    } else {
        f64::from(1u32 << n)
    }
}

// ------------------------------------------------------------------ backoff

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The delay after the n-th consecutive fast failure, for n anywhere in
    /// 1..200 (reached by resuming a stored attempt counter).
    #[test]
    fn backoff_is_bounded(seed in any::<u64>(), prior in 0u32..199, more in 1u32..4) {
        let snapshot = Snapshot { status: Status::Registering, attempt: prior, ..Snapshot::default() };
        // The wallet flow's first step signs nothing, which keeps this fast.
        let mut sim = Sim::with_seed(wallet_config(), Some(snapshot), seed, t0());
        sim.run_until_transmit(secs(2));
        for i in 0..more {
            let n = prior + i + 1;
            if n >= 200 {
                break;
            }
            sim.respond(503, &[], b"");
            let failed_at = sim.now;
            sim.run_until_transmit(secs(100));
            let delay = sim.now.saturating_since(failed_at).as_secs_f64();
            let base = base_secs(n);
            prop_assert!(delay >= 0.8 * base && delay <= 1.2 * base,
                "failure {}: {} s outside [0.8, 1.2] × {} s", n, delay, base);
        }
    }

    /// The same from a fresh start, every consecutive failure.
    #[test]
    fn backoff_sequence_is_bounded(seed in any::<u64>(), failures in 1u32..12, transport in any::<bool>()) {
        let mut sim = Sim::with_seed(wallet_config(), None, seed, t0());
        sim.run_until_transmit(secs(2));
        for n in 1..=failures {
            if transport {
                sim.fail_transport(TransportErrorKind::Connect);
            } else {
                sim.respond(500, &[], b"");
            }
            let failed_at = sim.now;
            sim.run_until_transmit(secs(100));
            let delay = sim.now.saturating_since(failed_at).as_secs_f64();
            let base = base_secs(n);
            prop_assert!(delay >= 0.8 * base && delay <= 1.2 * base,
                "failure {}: {} s outside [0.8, 1.2] × {} s", n, delay, base);
        }
    }
}

// ------------------------------------------------------------------ random hosts

#[derive(Debug, Clone)]
enum Answer {
    Status(u16, Option<String>, Vec<u8>),
    Challenge(String),
    Transport(TransportErrorKind),
}

#[derive(Debug, Clone)]
enum Op {
    /// Let time pass, waking the registrar at each deadline on the way.
    Advance(u64),
    /// Sleep until the next deadline.
    SleepToWake,
    /// Call `handle_timeout` without moving the clock.
    Poke,
    /// Answer the request in flight (if any).
    Answer(Answer),
    /// Answer some request id (old, current or future).
    AnswerId(u64, u16),
    HealthCheck(String),
    Callback(Vec<u8>),
    ValidCallback,
    NodeRequest(String, String),
    RegisterNow,
    /// Answer the lock, asked for or not: 0 acquired, 1 acquired with a fresh
    /// registration, 2 busy, 3 failed.
    Lock(u8),
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        (
            prop_oneof![
                Just(200u16),
                Just(204),
                Just(409),
                Just(429),
                Just(503),
                Just(400),
                100u16..600
            ],
            proptest::option::of(prop_oneof![
                Just("0".to_owned()),
                Just("3".to_owned()),
                Just("100000".to_owned()),
                "[ -~]{0,12}"
            ]),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(s, ra, b)| Answer::Status(s, ra, b)),
        "[a-z0-9]{0,8}".prop_map(Answer::Challenge),
        prop_oneof![
            Just(TransportErrorKind::Timeout),
            Just(TransportErrorKind::Connect),
            Just(TransportErrorKind::Io),
            Just(TransportErrorKind::Other)
        ]
        .prop_map(Answer::Transport),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop_oneof![0u64..2_000, 0u64..120_000, 0u64..900_000].prop_map(Op::Advance),
        3 => Just(Op::SleepToWake),
        1 => Just(Op::Poke),
        6 => answer().prop_map(Op::Answer),
        1 => (0u64..8, any::<u16>()).prop_map(|(id, s)| Op::AnswerId(id, s)),
        2 => prop_oneof![Just("DDS v1".to_owned()), Just("curl/8".to_owned()), ".{0,8}"]
            .prop_map(Op::HealthCheck),
        1 => vec(any::<u8>(), 0..64).prop_map(Op::Callback),
        1 => Just(Op::ValidCallback),
        1 => (
            prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), "[A-Za-z]{0,6}"],
            prop_oneof![
                Just("/health".to_owned()),
                Just("/internal/v1/registrations".to_owned()),
                "/[a-z/?]{0,12}"
            ]
        )
            .prop_map(|(m, p)| Op::NodeRequest(m, p)),
        1 => Just(Op::RegisterNow),
        3 => (0u8..4).prop_map(Op::Lock),
    ]
}

fn config() -> impl Strategy<Value = RegistrarConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u32..5),
        prop_oneof![Just(0u64), 1u64..5, Just(60), 30u64..400],
        1u64..60,
    )
        .prop_map(|(wallet, use_lock, max_retry, interval, timeout)| {
            let mut config = if wallet {
                wallet_config()
            } else {
                legacy_config()
            };
            config.use_lock = use_lock;
            config.max_retry = max_retry;
            config.register_interval = secs(interval);
            config.request_timeout = secs(timeout);
            config
        })
}

/// What the host knows about the lock, checked against every output.
struct HostLock {
    held: bool,
}

impl HostLock {
    fn observe(&mut self, use_lock: bool, outputs: &[Output]) -> Result<(), TestCaseError> {
        for output in outputs {
            match output {
                Output::ReleaseLock => {
                    prop_assert!(self.held, "ReleaseLock for a lock the host does not hold");
                    self.held = false;
                }
                Output::Transmit(_) if use_lock => {
                    prop_assert!(self.held, "a request sent without holding the lock");
                }
                Output::AcquireLock => prop_assert!(use_lock, "AcquireLock without use_lock"),
                // Under a shared snapshot only the lock holder writes it whole;
                // others merge what they learned under the lock.
                Output::Persist(_) if use_lock => {
                    prop_assert!(self.held, "a shared snapshot written without the lock");
                }
                Output::ShareState | Output::LoadShared => {
                    prop_assert!(use_lock && !self.held, "{output:?} from the lock holder");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn run_ops(config: RegistrarConfig, seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let use_lock = config.use_lock;
    let mut sim = Sim::with_seed(config, None, seed, t0());
    let mut lock = HostLock { held: false };
    for op in ops {
        // `Sim` panics on a second Transmit while one is unanswered and on a
        // wake-up deadline that does not move past `now`.
        let outputs = match op {
            Op::Advance(ms) => {
                let until = sim.now + Duration::from_millis(ms);
                sim.run_until(until)
            }
            Op::SleepToWake => sim.advance_to_wake(),
            Op::Poke => sim.timeout(),
            Op::Answer(answer) => {
                if sim.in_flight.is_none() {
                    continue;
                }
                match answer {
                    Answer::Status(status, retry_after, body) => {
                        let headers: Vec<(&str, &str)> = retry_after
                            .as_deref()
                            .map(|v| ("Retry-After", v))
                            .into_iter()
                            .collect();
                        sim.respond(status, &headers, &body)
                    }
                    Answer::Challenge(nonce) => sim.respond(200, &[], &challenge_json(&nonce)),
                    Answer::Transport(kind) => sim.fail_transport(kind),
                }
            }
            Op::AnswerId(id, status) => {
                let id = RequestId(id);
                if sim.in_flight.as_ref().is_some_and(|(r, _)| r.id == id) {
                    sim.in_flight = None;
                }
                let response = HttpResponse {
                    status,
                    ..HttpResponse::default()
                };
                sim.reg.handle_response(id, Ok(response), sim.now);
                sim.drain()
            }
            Op::HealthCheck(user_agent) => {
                let counted = sim.reg.handle_health_check(&user_agent, sim.now);
                prop_assert_eq!(counted, user_agent.starts_with("DDS v"));
                sim.drain()
            }
            Op::Callback(body) => {
                sim.node_request("POST", "/internal/v1/registrations", &[], &body)
                    .1
            }
            Op::ValidCallback => {
                sim.node_request(
                    "POST",
                    "/internal/v1/registrations",
                    &[],
                    br#"{"id":"n1","secret":"s3cr3t"}"#,
                )
                .1
            }
            Op::NodeRequest(method, path) => {
                let (response, outputs) =
                    sim.node_request(&method, &path, &[("user-agent", "DDS v9")], b"{}");
                prop_assert!(matches!(response.status, 200 | 400 | 404 | 405 | 409 | 422));
                outputs
            }
            Op::RegisterNow => {
                sim.reg.register_now(sim.now);
                sim.drain()
            }
            Op::Lock(kind) => {
                let outcome = match kind {
                    0 => LockOutcome::Acquired { fresh: None },
                    1 => LockOutcome::Acquired {
                        fresh: Some(Snapshot {
                            status: Status::Registered,
                            last_health_check: Some(sim.now),
                            ..Snapshot::default()
                        }),
                    },
                    2 => LockOutcome::Busy,
                    _ => LockOutcome::Failed("lock unavailable".into()),
                };
                if matches!(outcome, LockOutcome::Acquired { .. }) {
                    lock.held = true;
                }
                sim.lock(outcome)
            }
        };
        lock.observe(use_lock, &outputs)?;
        prop_assert_eq!(sim.reg.has_request_in_flight(), sim.in_flight.is_some());
        prop_assert!(
            sim.wake >= sim.now,
            "wake {:?} before now {:?}",
            sim.wake,
            sim.now
        );
        for event in events(&outputs) {
            // Displays and names never panic either.
            let _ = (event.to_string(), event.name(), event.level());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn one_request_at_a_time(config in config(), seed in any::<u64>(), ops in vec(op(), 1..60)) {
        run_ops(config, seed, ops)?;
    }
}

// ------------------------------------------------------------------ response bytes

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Retry-After".to_owned()),
        Just("retry-after".to_owned()),
        Just("RETRY-AFTER".to_owned()),
        Just("content-type".to_owned()),
        "[A-Za-z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}",
        " ?-?[0-9]{1,4} ?",
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        Just("Sun, 06 Nov 2094 08:49:37 GMT".to_owned()),
        "(Mon|Tue|Fri), [0-9]{1,2} (Jan|Feb|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC|\\+0100)",
        ".{0,40}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        // Multi-byte characters and line breaks around the 512-byte cut.
        (
            0usize..520,
            vec(
                prop_oneof![
                    Just("é"),
                    Just("😀"),
                    Just("€"),
                    Just("\n"),
                    Just("\r\n"),
                    Just("a")
                ],
                1..40
            )
        )
            .prop_map(|(pad, tail)| {
                let mut text = "x".repeat(pad);
                for piece in tail {
                    text.push_str(piece);
                }
                text.into_bytes()
            }),
        ".{0,600}".prop_map(String::into_bytes),
    ]
}

/// The snippet as specified, computed independently: the body as text (invalid
/// UTF-8 replaced), line breaks as spaces, the longest whole-character prefix
/// of at most 512 bytes.
fn expected_snippet(body: &[u8]) -> String {
    // Line breaks and tabs read as spaces; other control characters and
    // direction overrides (terminal and log-forging material) as U+FFFD.
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control()
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{200E}'
                || c == '\u{200F}' =>
            {
                '\u{FFFD}'
            }
            c => c,
        })
        .collect();
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > SNIPPET_MAX_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn classify_response_never_panics(
        status in 0u16..=999,
        headers in vec((header_name(), header_value()), 0..4),
        body in body(),
        now_secs in 0u64..4_000_000_000,
    ) {
        let response = HttpResponse { status, headers, body: body.clone() };
        let now = UnixTime::from_secs_nanos(now_secs, 0);
        match response::classify_response(REGISTER_ENDPOINT, &response, now) {
            Ok(()) => prop_assert!((200..300).contains(&status)),
            Err(failure) => {
                prop_assert!(!(200..300).contains(&status));
                prop_assert_eq!(failure.status, Some(status));
                // PROTOCOL.md: 409 conflict; 408, 429, 5xx fast; other 4xx after the
                // full interval. 1xx is no final answer: transient. A redirect is
                // never followed: the full interval. Numbers that are no HTTP
                // status at all are treated as refusals.
                let expected_class = match status {
                    409 => FailureClass::Conflict,
                    408 | 429 | 500..=599 | 100..=199 => FailureClass::RetryFast,
                    _ => FailureClass::RetryLater,
                };
                prop_assert_eq!(failure.class, expected_class);
                if let Some(wait) = failure.retry_after {
                    prop_assert!(wait <= Duration::from_secs(3600));
                }
                prop_assert!(!failure.message.chars().any(char::is_control));
                if (300..400).contains(&status) {
                    let prefix = format!(
                        "registration failed: status {status}, endpoint {REGISTER_ENDPOINT}: redirect to "
                    );
                    prop_assert!(failure.message.starts_with(&prefix), "{}", failure.message);
                    prop_assert!(failure.message.ends_with(" not followed (check the DDS URL)"));
                    return Ok(());
                }
                let prefix = format!(
                    "registration failed: status {status}, endpoint {REGISTER_ENDPOINT}, body_snippet: "
                );
                prop_assert!(failure.message.starts_with(&prefix), "{}", failure.message);
                let snippet = &failure.message[prefix.len()..];
                prop_assert!(snippet.len() <= SNIPPET_MAX_BYTES);
                prop_assert!(!failure.message.contains(['\n', '\r']));
                prop_assert_eq!(snippet, expected_snippet(&body));
            }
        }
    }

    /// `truncate_utf8` keeps the longest whole-character prefix that fits:
    /// checked against a prefix grown one character at a time.
    #[test]
    fn truncation_keeps_the_longest_whole_character_prefix(
        text in "[a-zé€😀 ]{0,40}",
        max in 0usize..100,
    ) {
        let mut expected = String::new();
        for c in text.chars() {
            if expected.len() + c.len_utf8() > max {
                break;
            }
            expected.push(c);
        }
        prop_assert_eq!(response::truncate_utf8(&text, max), expected);
    }

    /// A secret-bearing field's value never reaches the message, even though
    /// `classify_response` knows no secret: however it is spaced, escaped or cut.
    #[test]
    fn secret_field_values_never_reach_a_message(
        before in "[a-z{}\\[\\]:, é]{0,40}",
        name in prop_oneof![Just("secret"), Just("registration_credentials")],
        spaces in ("[ \t\n]{0,2}", "[ \t\n]{0,2}"),
        value in "[A-Za-z0-9_é-]{10,30}",
        escaped in prop_oneof![Just(""), Just("\\\""), Just("\\\\")],
        after in prop_oneof![Just(None), "[a-z{}\\[\\]:,\" é\\\\]{0,40}".prop_map(Some)],
    ) {
        let mut body = format!("{before}\"{name}\"{}:{}\"{escaped}{value}", spaces.0, spaces.1);
        if let Some(after) = &after {
            body.push('"');
            body.push_str(after);
        }
        let response = HttpResponse { status: 500, headers: Vec::new(), body: body.into_bytes() };
        let failure = response::classify_response(REGISTER_ENDPOINT, &response, UnixTime::EPOCH)
            .expect_err("500 is a failure");
        prop_assert!(!failure.message.contains(&value), "{}", failure.message);
    }

    #[test]
    fn transport_error_messages_are_bounded(detail in ".{0,700}", kind in 0u8..4) {
        let kind = [
            TransportErrorKind::Timeout,
            TransportErrorKind::Connect,
            TransportErrorKind::Io,
            TransportErrorKind::Other,
        ][kind as usize];
        let failure = response::classify_transport_error(REGISTER_ENDPOINT, &TransportError::new(kind, detail));
        prop_assert_eq!(failure.class, FailureClass::RetryFast);
        prop_assert!(!failure.message.chars().any(char::is_control));
        prop_assert!(failure.message.len() <= 64 + REGISTER_ENDPOINT.len() + SNIPPET_MAX_BYTES);
    }
}

fn challenge_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        body(),
        (
            ".{0,20}",
            ".{0,20}",
            ".{0,20}",
            ".{0,5}",
            any::<i64>(),
            ".{0,30}"
        )
            .prop_map(|(nonce, domain, uri, version, chain_id, issued_at)| {
                serde_json::to_vec(&serde_json::json!({
                    "nonce": nonce, "domain": domain, "uri": uri, "version": version,
                    "chainId": chain_id, "issuedAt": issued_at,
                }))
                .unwrap()
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Anything in answer to the SIWE nonce request: no panic, a bounded one-line
    /// message on failure, a correctly signed registration on success.
    #[test]
    fn wallet_flow_survives_any_answer(
        status in prop_oneof![Just(200u16), 0u16..=999],
        headers in vec((header_name(), header_value()), 0..3),
        body in challenge_value(),
    ) {
        let mut sim = Sim::new(wallet_config(), None);
        sim.run_until_transmit(secs(2));
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let outputs = sim.respond(status, &headers, &body);
        for event in events(&outputs) {
            if let Some(Err(failure)) = event.attempt_result() {
                prop_assert!(!failure.message.contains(['\n', '\r']));
                prop_assert!(failure.message.len() <= 200 + SNIPPET_MAX_BYTES, "{}", failure.message.len());
            }
        }
        if let Some(sent) = transmits(&outputs).first() {
            prop_assert!((200..300).contains(&status));
            let body: serde_json::Value = serde_json::from_slice(&sent.request.body).unwrap();
            let message = body["message"].as_str().unwrap();
            let signer = keys::recover_eip191_signer(message.as_bytes(), body["signature"].as_str().unwrap()).unwrap();
            prop_assert_eq!(signer, KEY_ADDRESS);
        } else {
            prop_assert!(events(&outputs)
                .iter()
                .any(|e| e.attempt_result().is_some_and(|r| r.is_err())));
        }
    }
}

// ------------------------------------------------------------------ snapshots, callbacks, keys

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        prop_oneof![
            Just(Status::Disconnected),
            Just(Status::Registering),
            Just(Status::Registered)
        ],
        proptest::option::of(any::<u64>()),
        any::<u32>(),
        proptest::option::of((".{0,40}", ".{0,80}", proptest::option::of(".{0,20}"))),
        proptest::option::of((
            ".{0,40}",
            any::<bool>(),
            proptest::collection::vec(".{0,20}", 0..3),
        )),
    )
        .prop_map(
            |(status, ms, attempt, credentials, registered_as)| Snapshot {
                status,
                last_health_check: ms.map(UnixTime::from_millis),
                attempt,
                credentials: credentials.map(|(id, secret, organization_id)| DdsCredentials {
                    id,
                    secret: secret.into(),
                    organization_id,
                }),
                unknown_status: None,
                registered_as: registered_as.map(|(text, legacy, capabilities)| RegisteredAs {
                    dds_url: text.clone(),
                    flow: if legacy { "legacy" } else { "wallet" }.into(),
                    address: text.clone(),
                    node_url: legacy.then(|| text.clone()),
                    version: text,
                    capabilities,
                }),
                callback: ms.filter(|ms| ms % 2 == 0).map(|ms| CallbackSlot {
                    attempt: ms / 3,
                    until: UnixTime::from_millis(ms),
                    taken: (ms % 4 == 0).then(|| format!("{ms:032x}")),
                }),
                earlier_callback: ms.filter(|ms| ms % 3 == 0).map(|ms| EarlierCallback {
                    attempt: ms / 5,
                    taken: format!("{ms:032x}"),
                }),
            },
        )
}

fn json_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..512),
        "\\{(\"(version|status|last_health_check_ms|last_healthcheck|attempt|credentials|id|secret)\":(-?[0-9]{1,22}|\"[a-z]{0,10}\"|null|true|\\{\\}|\\[\\]),?){0,6}\\}?"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn snapshot_decode_never_panics(bytes in json_like()) {
        let _ = Snapshot::decode(&bytes);
    }

    #[test]
    fn snapshot_round_trips(snapshot in snapshot()) {
        let encoded = snapshot.encode();
        prop_assert_eq!(Snapshot::decode(&encoded), Ok(snapshot));
    }

    #[test]
    fn callback_parse_never_panics(bytes in prop_oneof![
        vec(any::<u8>(), 0..512),
        "\\{(\"(id|secret|organization_id|domains)\":(\"[ -~]{0,10}\"|[0-9]{1,5}|null|\\[\\]),?){0,4}\\}?"
            .prop_map(String::into_bytes),
    ]) {
        if let Ok(callback) = parse_registration_callback(&bytes) {
            prop_assert!(!callback.id.trim().is_empty());
            prop_assert!(!callback.secret.expose().trim().is_empty());
            prop_assert!(callback.secret.len() <= 4096);
        }
    }

    #[test]
    fn key_from_hex_never_panics(text in prop_oneof![".{0,80}", "(0x)?[0-9a-fA-F]{0,70}", "\\s*(0x)?[0-9a-f]{64}\\s*"]) {
        let _ = PrivateKey::from_hex(&text);
    }
}

/// secp256k1's group order n, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn scalar_bytes() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        any::<[u8; 32]>(),
        // Near zero and near the order.
        (any::<u8>(), 0usize..32).prop_map(|(b, at)| {
            let mut bytes = [0u8; 32];
            bytes[at] = b;
            bytes
        }),
        (any::<u8>(), 16usize..32).prop_map(|(b, at)| {
            let mut bytes = ORDER;
            bytes[at] = bytes[at].wrapping_add(b % 3).wrapping_sub(1);
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn key_hex_round_trips(bytes in scalar_bytes(), upper in any::<bool>(), prefix in any::<bool>()) {
        let valid = bytes != [0u8; 32] && bytes < ORDER;
        prop_assert_eq!(PrivateKey::from_bytes(&bytes).is_ok(), valid);
        let mut text = hex::encode(bytes);
        if upper {
            text = text.to_uppercase();
        }
        if prefix {
            text = format!("0x{text}");
        }
        match PrivateKey::from_hex(&text) {
            Ok(key) => {
                prop_assert!(valid);
                prop_assert_eq!(*key.to_bytes(), bytes);
            }
            Err(_) => prop_assert!(!valid),
        }
    }
}
