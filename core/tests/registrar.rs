//! The registrar driven in simulated time. Expected times follow from the
//! reference loop's rules (PROTOCOL.md), not from running the code:
//! first check 1 s after start; TTL = 60 s here; backoff `min(2ⁿ, 60) s × [0.8, 1.2)`;
//! a registered legacy node re-checks just after `last health check + TTL`
//! (TTL + 1 ms) and retries 1 s after noticing the expiry.

mod common;

use common::*;
use posemesh_registration_core::response::FailureClass;
use posemesh_registration_core::{
    keys, request, AttemptOutcome, Event, Flow, Level, LockOutcome, Output, PrivateKey, Registrar,
    RequestId, SiweChallenge, Snapshot, StaleReason, Status, TransportErrorKind, UnixTime,
};
use serde_json::Value;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

fn failed_event(outputs: &[Output]) -> (u32, Duration, bool, posemesh_registration_core::Failure) {
    let found: Vec<_> = events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            Event::RegistrationFailed {
                failure,
                attempt,
                retry_in,
                warn,
                ..
            } => Some((attempt, retry_in, warn, failure)),
            _ => None,
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one registration.error in {outputs:?}"
    );
    found.into_iter().next().unwrap()
}

fn assert_in(delay: Duration, low: f64, high: f64, what: &str) {
    let d = delay.as_secs_f64();
    assert!(
        d >= low && d < high,
        "{what}: {d} s is not in [{low}, {high})"
    );
}

/// The delay after the n-th consecutive fast failure: [0.8, 1.2) × min(2ⁿ, 60) s.
fn assert_backoff(delay: Duration, n: u32) {
    let base = if n >= 6 { 60.0 } else { f64::from(1u32 << n) };
    assert_in(
        delay,
        0.8 * base,
        1.2 * base,
        &format!("backoff after failure {n}"),
    );
}

fn body_json(request: &posemesh_registration_core::OutgoingRequest) -> Value {
    serde_json::from_slice(&request.request.body).expect("request body is JSON")
}

/// Starts a legacy registrar and answers its first request with 200 at t0 + 1 s.
fn registered_sim(config: posemesh_registration_core::RegistrarConfig) -> Sim {
    let wallet = config.flow == Flow::Wallet;
    let mut sim = Sim::new(config, None);
    sim.run_until_transmit(secs(2));
    if wallet {
        sim.respond(200, &[], &challenge_json("n0nce42x"));
    }
    sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
    sim
}

// ------------------------------------------------------------------ first registration

/// Drains the outputs up to the first `Wait`.
fn until_wait(registrar: &mut Registrar) -> Vec<Output> {
    std::iter::from_fn(|| match registrar.poll_output() {
        Output::Wait(_) => None,
        output => Some(output),
    })
    .collect()
}

#[test]
fn loop_start_is_reported_only_when_a_loop_runs() {
    // A host making one-off attempts (register once, a cron tick) runs no loop.
    let mut registrar = Registrar::new(legacy_config(), key(), None, t0(), 1);
    registrar.set_looping(false);
    assert!(!event_names(&until_wait(&mut registrar)).contains(&"registration.loop.start"));
    registrar.set_looping(false);
    assert!(until_wait(&mut registrar).is_empty());
    // Then a loop starts, stops and starts again: one report each time.
    for _ in 0..2 {
        registrar.set_looping(true);
        registrar.set_looping(true);
        assert_eq!(
            events(&until_wait(&mut registrar)),
            [Event::LoopStarted { ttl: TTL }]
        );
        registrar.set_looping(false);
    }
}

#[test]
fn first_registration() {
    let mut sim = Sim::new(legacy_config(), None);
    assert_eq!(
        events(&sim.log.iter().map(|r| r.output.clone()).collect::<Vec<_>>()),
        [Event::LoopStarted { ttl: TTL }]
    );
    assert_eq!(sim.wake, t0() + secs(1));
    assert_eq!(sim.reg.status(), Status::Disconnected);

    // Nothing happens before the first second is over.
    sim.now = t0() + secs(1) - Duration::from_nanos(1);
    assert!(sim.timeout().is_empty());

    let outs = sim.advance_to_wake();
    assert_eq!(sim.now, t0() + secs(1));
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1);
    let request = &sent[0].request;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url, "http://dds.test/internal/v1/nodes/register");
    let body = body_json(&sent[0]);
    assert_eq!(body["url"], NODE_URL);
    assert_eq!(body["registration_credentials"], REG_SECRET);
    // Signed at the send time: 1700000001 s = 2023-11-14T22:13:21Z.
    assert_eq!(body["timestamp"], "2023-11-14T22:13:21.000000000Z");
    let signer = keys::recover_registration_signer(
        format!("{NODE_URL}2023-11-14T22:13:21.000000000Z").as_bytes(),
        body["signature"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(signer, key().public_key_hex());
    assert_eq!(sim.reg.status(), Status::Registering);
    assert!(sim.reg.has_request_in_flight());
    assert_eq!(sent[0].timeout, secs(30));

    sim.elapse(ms(250));
    let answered_at = sim.now;
    let outs = sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
    assert!(!sim.reg.has_request_in_flight());
    let registered: Vec<_> = events(&outs)
        .into_iter()
        .filter(|e| matches!(e, Event::Registered { .. }))
        .collect();
    assert_eq!(registered, [Event::Registered { elapsed: ms(250) }]);
    let stored = persists(&outs);
    let last = stored.last().expect("the result is persisted");
    assert_eq!(last.status, Status::Registered);
    assert_eq!(last.last_health_check, Some(answered_at));
    assert_eq!(last.attempt, 0);
    assert_eq!(sim.wake, answered_at + TTL + ms(1));

    let transitions: Vec<Event> = sim
        .events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.name() == "status.transition")
        .collect();
    assert_eq!(
        transitions,
        [
            Event::StatusChanged {
                from: Status::Disconnected,
                to: Status::Registering
            },
            Event::StatusChanged {
                from: Status::Registering,
                to: Status::Registered
            },
        ]
    );
    let names: Vec<&str> = sim.events().iter().map(|(_, e)| e.name()).collect();
    assert_eq!(
        names,
        [
            "registration.loop.start",
            "status.transition",
            "registration.attempt",
            "status.transition",
            "registration.success"
        ]
    );
}

// ------------------------------------------------------------------ backoff

#[test]
fn http_failures_back_off_exponentially() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let mut factors = Vec::new();
    for n in 1..=10u32 {
        let outs = sim.respond(503, &[], b"service unavailable");
        let (attempt, retry_in, warn, failure) = failed_event(&outs);
        assert_eq!(attempt, n);
        assert!(warn);
        assert_eq!(failure.class, FailureClass::RetryFast);
        assert_eq!(failure.status, Some(503));
        assert!(
            failure.message.contains("status 503"),
            "{}",
            failure.message
        );
        assert!(failure.message.contains("service unavailable"));
        let failed_at = sim.now;
        sim.run_until_transmit(secs(100));
        let delay = sim.now.saturating_since(failed_at);
        assert_backoff(delay, n);
        assert_eq!(delay, retry_in, "the event announces the real delay");
        factors.push(delay.as_secs_f64() / f64::from(1u32 << n.min(6)).min(60.0));
    }
    assert_eq!(sim.reg.status(), Status::Registering);
    // Jittered: not one fixed factor.
    factors.sort_by(f64::total_cmp);
    factors.dedup();
    assert!(factors.len() > 5, "no jitter: {factors:?}");
}

#[test]
fn transport_failures_back_off_exponentially() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let kinds = [
        TransportErrorKind::Timeout,
        TransportErrorKind::Connect,
        TransportErrorKind::Io,
        TransportErrorKind::Other,
    ];
    for n in 1..=9u32 {
        let outs = sim.fail_transport(kinds[n as usize % kinds.len()]);
        let (attempt, retry_in, _, failure) = failed_event(&outs);
        assert_eq!(attempt, n);
        assert_eq!(failure.class, FailureClass::RetryFast);
        assert_eq!(failure.status, None);
        let failed_at = sim.now;
        sim.run_until_transmit(secs(100));
        let delay = sim.now.saturating_since(failed_at);
        assert_backoff(delay, n);
        assert_eq!(delay, retry_in);
    }
}

#[test]
fn success_resets_the_attempt_counter() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    for n in 1..=3 {
        let outs = sim.respond(500, &[], b"");
        assert_eq!(failed_event(&outs).0, n);
        sim.run_until_transmit(secs(20));
    }
    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.snapshot().attempt, 0);
    // Let it expire, fail again: attempt 1 and a 2 s backoff.
    sim.run_until_transmit(TTL + secs(5));
    let outs = sim.respond(500, &[], b"");
    assert_eq!(failed_event(&outs).0, 1);
    let failed_at = sim.now;
    sim.run_until_transmit(secs(5));
    assert_backoff(sim.now.saturating_since(failed_at), 1);
}

// ------------------------------------------------------------------ retry cap

#[test]
fn retry_cap_pauses_a_full_ttl() {
    let mut config = legacy_config();
    config.max_retry = Some(3);
    let mut sim = Sim::new(config, None);
    sim.run_until_transmit(secs(2));
    for round in 0..2 {
        for n in 1..=2u32 {
            let outs = sim.respond(503, &[], b"");
            let (attempt, _, _, _) = failed_event(&outs);
            assert_eq!(attempt, n, "round {round}");
            assert!(!event_names(&outs).contains(&"registration.max_retry_reached"));
            let failed_at = sim.now;
            sim.run_until_transmit(secs(10));
            assert_backoff(sim.now.saturating_since(failed_at), n);
        }
        let outs = sim.respond(503, &[], b"");
        let (attempt, retry_in, _, _) = failed_event(&outs);
        assert_eq!(attempt, 3);
        assert_eq!(retry_in, TTL);
        let names = event_names(&outs);
        let error_at = names
            .iter()
            .position(|n| *n == "registration.error")
            .unwrap();
        let cap_at = names
            .iter()
            .position(|n| *n == "registration.max_retry_reached")
            .expect("max_retry_reached after the 3rd failure");
        assert!(error_at < cap_at);
        assert!(events(&outs).contains(&Event::MaxRetryReached { max_retry: 3 }));
        assert_eq!(sim.reg.snapshot().attempt, 0, "counter reset");
        let failed_at = sim.now;
        sim.run_until_transmit(TTL + secs(1));
        assert_eq!(sim.now, failed_at + TTL, "next attempt exactly a TTL later");
    }
}

#[test]
fn retry_cap_of_zero_pauses_after_every_failure() {
    // The reference: `max_retry >= 0 && attempt >= max_retry` after attempt += 1,
    // so 0 pauses a full TTL after every failure.
    let mut config = legacy_config();
    config.max_retry = Some(0);
    let mut sim = Sim::new(config, None);
    sim.run_until_transmit(secs(2));
    for _ in 0..4 {
        let outs = sim.fail_transport(TransportErrorKind::Connect);
        let (attempt, retry_in, _, _) = failed_event(&outs);
        assert_eq!(attempt, 1);
        assert_eq!(retry_in, TTL);
        assert!(events(&outs).contains(&Event::MaxRetryReached { max_retry: 0 }));
        let failed_at = sim.now;
        sim.run_until_transmit(TTL + secs(1));
        assert_eq!(sim.now, failed_at + TTL);
    }
}

// ------------------------------------------------------------------ health-check TTL

#[test]
fn legacy_registration_expires_without_health_checks() {
    let mut sim = registered_sim(legacy_config());
    let registered_at = t0() + secs(1);
    // Quiet up to the TTL itself.
    let outs = sim.run_until(registered_at + TTL);
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(sim.reg.status(), Status::Registered);

    let outs = sim.advance_to_wake();
    assert_eq!(sim.now, registered_at + TTL + ms(1));
    assert_eq!(
        events(&outs),
        [
            Event::HealthCheckExpired {
                since_last: Some(TTL + ms(1))
            },
            Event::StatusChanged {
                from: Status::Registered,
                to: Status::Registering
            },
        ]
    );
    assert!(transmits(&outs).is_empty());
    assert_eq!(persists(&outs).last().unwrap().status, Status::Registering);
    let expired_at = sim.now;
    let request = sim.run_until_transmit(secs(2));
    assert_eq!(sim.now, expired_at + secs(1));
    assert!(request.request.url.ends_with("/internal/v1/nodes/register"));
}

#[test]
fn dds_health_checks_keep_it_registered() {
    let mut sim = registered_sim(legacy_config());
    let registered_at = t0() + secs(1);
    let mut last_check = registered_at;
    for i in 1..=20u64 {
        let at = registered_at + secs(30 * i);
        sim.run_until(at);
        assert!(sim.reg.handle_health_check("DDS v1.0", sim.now));
        sim.drain();
        assert_eq!(sim.reg.snapshot().last_health_check, Some(at));
        assert_eq!(sim.wake, at + TTL + ms(1));
        last_check = at;
    }
    assert_eq!(sim.transmits().len(), 1, "no new registration in 10 TTLs");
    assert!(sim
        .events()
        .iter()
        .all(|(_, e)| e.name() != "healthcheck.expired"));
    assert_eq!(sim.reg.status(), Status::Registered);

    // A probe that is not the DDS does not count.
    sim.run_until(last_check + secs(30));
    assert!(!sim.reg.handle_health_check("curl/8", sim.now));
    assert!(sim.drain().is_empty());
    assert_eq!(sim.reg.snapshot().last_health_check, Some(last_check));

    sim.run_until_transmit(TTL + secs(2));
    let (expired_at, _) = sim
        .events()
        .into_iter()
        .find(|(_, e)| e.name() == "healthcheck.expired")
        .unwrap();
    assert_eq!(expired_at, last_check + TTL + ms(1));
    assert_eq!(sim.now, expired_at + secs(1));
}

// ------------------------------------------------------------------ stored snapshots

#[test]
fn unknown_stored_status_resets_then_registers() {
    let snapshot = Snapshot::decode(br#"{"status":"weird"}"#).unwrap();
    assert_eq!(snapshot.status, Status::Disconnected);
    assert_eq!(snapshot.unknown_status.as_deref(), Some("weird"));
    let mut sim = Sim::new(legacy_config(), Some(snapshot));
    let first: Vec<Output> = sim.log.iter().map(|r| r.output.clone()).collect();
    assert_eq!(
        events(&first),
        [
            Event::LoopStarted { ttl: TTL },
            Event::UnknownStatus {
                stored: "weird".into()
            }
        ]
    );
    assert_eq!(
        Event::UnknownStatus {
            stored: "weird".into()
        }
        .level(),
        Level::Warn
    );
    let stored = persists(&first);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, Status::Disconnected);
    assert_eq!(stored[0].unknown_status, None);

    sim.run_until_transmit(secs(2));
    assert_eq!(sim.now, t0() + secs(1));
    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.status(), Status::Registered);
}

#[test]
fn reference_v0_snapshot_loads() {
    let at = T0_SECS - 10;
    let snapshot = Snapshot::decode(
        format!(r#"{{"status":"registered","last_healthcheck":{at}}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(snapshot.status, Status::Registered);
    assert_eq!(
        snapshot.last_health_check,
        Some(UnixTime::from_secs_nanos(at, 0))
    );
    let mut sim = Sim::new(legacy_config(), Some(snapshot));
    // It loads, but it does not say what was registered (version, capabilities,
    // URL): the node registers again at its first check, although the stored
    // health check is fresh.
    let logged: Vec<Output> = sim.log.iter().map(|r| r.output.clone()).collect();
    let stale: Vec<_> = events(&logged)
        .into_iter()
        .filter(|e| e.name() == "registration.stale")
        .collect();
    assert_eq!(stale.len(), 1);
    assert!(
        stale[0].to_string().contains("does not record"),
        "{}",
        stale[0]
    );
    assert_eq!(sim.reg.status(), Status::Registering);
    sim.run_until_transmit(secs(2));
}

#[test]
fn stored_attempt_counter_resumes() {
    let snapshot = Snapshot {
        status: Status::Registering,
        attempt: 4,
        ..Snapshot::default()
    };
    let mut sim = Sim::new(legacy_config(), Some(snapshot));
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(503, &[], b"");
    assert_eq!(failed_event(&outs).0, 5);
    let failed_at = sim.now;
    sim.run_until_transmit(secs(60));
    assert_backoff(sim.now.saturating_since(failed_at), 5);
}

// ------------------------------------------------------------------ wallet flow

#[test]
fn wallet_flow_registers_and_renews_every_ttl() {
    let mut sim = Sim::new(wallet_config(), None);
    let nonce_request = sim.run_until_transmit(secs(2));
    // At once: nothing needs to be up first (the legacy flow waits a second
    // for the node's server: `first_registration`).
    assert_eq!(sim.now, t0());
    assert_eq!(nonce_request.request.method.as_str(), "POST");
    assert_eq!(
        nonce_request.request.url,
        "http://dds.test/internal/v1/auth/siwe/request"
    );
    assert_eq!(
        nonce_request.request.body,
        format!(r#"{{"wallet":"{KEY_ADDRESS}"}}"#).as_bytes()
    );

    sim.elapse(ms(100));
    let outs = sim.respond(200, &[], &challenge_json("n0nce42x"));
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1, "the wallet registration follows at once");
    assert_ne!(sent[0].id, nonce_request.id);
    assert_eq!(
        sent[0].request.url,
        "http://dds.test/internal/v1/nodes/register-wallet"
    );
    let body = body_json(&sent[0]);
    let message = body["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "dds.test wants you to sign in with your Ethereum account:\n{KEY_ADDRESS}\n\nURI: http://dds.test\nVersion: 1\nChain ID: 1\nNonce: n0nce42x\nIssued At: 2023-11-14T22:13:21Z"
        )
    );
    let signer =
        keys::recover_eip191_signer(message.as_bytes(), body["signature"].as_str().unwrap())
            .unwrap();
    assert_eq!(signer, KEY_ADDRESS);
    assert_eq!(body["registration_credentials"], REG_SECRET);
    assert_eq!(body["version"], "1.2.3");
    assert_eq!(sim.reg.status(), Status::Registering);

    sim.elapse(ms(100));
    let outs = sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
    assert!(events(&outs).contains(&Event::Registered { elapsed: ms(200) }));

    // Renewed every TTL, staying registered: no health check ever comes in
    // this flow, and a DDS that dropped the node hears from it again.
    let registered_at = sim.now;
    for round in 1..=3u32 {
        let renewal = sim.run_until_transmit(TTL * 2);
        assert!(renewal.request.url.ends_with("/siwe/request"));
        let since = sim.now.saturating_since(registered_at);
        assert!(
            since > TTL * round && since <= TTL * round + ms(10),
            "renewal {round} after {since:?}"
        );
        assert_eq!(
            sim.reg.status(),
            Status::Registered,
            "registered while renewing"
        );
        sim.respond(200, &[], &challenge_json("n0nce42y"));
        let outs = sim.respond(200, &[], b"{}");
        assert!(event_names(&outs).iter().all(|n| *n != "status.transition"));
    }
    // A failed renewal is retried with backoff, and the node stays registered.
    sim.run_until_transmit(TTL * 2);
    let outs = sim.respond(503, &[], b"down");
    assert!(event_names(&outs).contains(&"registration.error"));
    let failed_at = sim.now;
    sim.run_until_transmit(secs(5));
    assert!(sim.now.saturating_since(failed_at) <= ms(2400));
    assert_eq!(sim.reg.status(), Status::Registered);
    assert!(event_names(&sim.drain())
        .iter()
        .all(|n| *n != "healthcheck.expired"));
}

#[test]
fn wallet_flow_bad_challenges_retry_fast() {
    let mut sim = Sim::new(wallet_config(), None);
    sim.run_until_transmit(secs(2));
    let bad: [&[u8]; 4] = [
        &challenge_json(""),
        b"not json",
        br#"{"nonce":"abcdefgh"}"#,
        br#"{"nonce":"abcdefgh","domain":"d","uri":"u","version":"1","chainId":"one","issuedAt":"x"}"#,
    ];
    for (i, body) in bad.iter().enumerate() {
        let n = i as u32 + 1;
        let outs = sim.respond(200, &[], body);
        assert!(
            transmits(&outs).is_empty(),
            "no wallet registration on a bad challenge"
        );
        let (attempt, _, _, failure) = failed_event(&outs);
        assert_eq!(attempt, n);
        assert_eq!(failure.class, FailureClass::RetryFast);
        assert!(failure.message.contains("/internal/v1/auth/siwe/request"));
        let failed_at = sim.now;
        let next = sim.run_until_transmit(secs(20));
        assert!(next.request.url.ends_with("/internal/v1/auth/siwe/request"));
        assert_backoff(sim.now.saturating_since(failed_at), n);
    }
    let (_, _, _, empty) = {
        let mut sim = Sim::new(wallet_config(), None);
        sim.run_until_transmit(secs(2));
        let outs = sim.respond(200, &[], &challenge_json(""));
        failed_event(&outs)
    };
    assert!(empty.message.contains("empty nonce"), "{}", empty.message);
}

#[test]
fn wallet_flow_failure_of_either_step_backs_off() {
    let mut sim = Sim::new(wallet_config(), None);
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(503, &[], b"");
    assert_eq!(failed_event(&outs).0, 1);
    let failed_at = sim.now;
    sim.run_until_transmit(secs(5));
    assert_backoff(sim.now.saturating_since(failed_at), 1);
    sim.respond(200, &[], &challenge_json("abcdefgh"));
    let outs = sim.respond(502, &[], b"bad gateway");
    let (attempt, _, _, failure) = failed_event(&outs);
    assert_eq!(attempt, 2);
    assert!(failure
        .message
        .contains("/internal/v1/nodes/register-wallet"));
    let failed_at = sim.now;
    let next = sim.run_until_transmit(secs(10));
    assert!(
        next.request.url.ends_with("/siwe/request"),
        "a new attempt starts with a nonce"
    );
    assert_backoff(sim.now.saturating_since(failed_at), 2);
}

// ------------------------------------------------------------------ 409 and other 4xx

#[test]
fn conflict_waits_a_ttl_and_resets_the_counter() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(503, &[], b"");
    sim.run_until_transmit(secs(5));
    let outs = sim.respond(409, &[], b"already registered");
    let conflicts: Vec<_> = events(&outs)
        .into_iter()
        .filter(|e| matches!(e, Event::Conflict { .. }))
        .collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].name(), "registration.conflict");
    assert!(!event_names(&outs).contains(&"registration.error"));
    assert_eq!(sim.reg.snapshot().attempt, 0);
    let failed_at = sim.now;
    sim.run_until_transmit(TTL + secs(1));
    assert_eq!(sim.now, failed_at + TTL);
    let outs = sim.respond(503, &[], b"");
    assert_eq!(
        failed_event(&outs).0,
        1,
        "counter was reset by the conflict"
    );
}

#[test]
fn repeated_conflicts_warn_at_most_every_180_s() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let first = sim.now;
    for k in 0..8u64 {
        assert_eq!(sim.now, first + TTL * k as u32);
        let outs = sim.respond(409, &[], b"conflict");
        let conflict = events(&outs)
            .into_iter()
            .find(|e| matches!(e, Event::Conflict { .. }))
            .unwrap();
        let Event::Conflict {
            blocked_for, warn, ..
        } = &conflict
        else {
            unreachable!()
        };
        // Conflicts at 0, 60, 120, 180, … s: warnings at 0, 180, 360 s.
        let expect_warn = k % 3 == 0;
        assert_eq!(*warn, expect_warn, "conflict {k}");
        assert_eq!(
            conflict.level(),
            if expect_warn {
                Level::Warn
            } else {
                Level::Debug
            },
            "conflict {k}"
        );
        assert_eq!(*blocked_for, TTL * k as u32);
        sim.run_until_transmit(TTL + secs(1));
    }
}

#[test]
fn other_client_errors_retry_after_a_ttl_with_rate_limited_warnings() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let statuses = [400u16, 401, 403, 422, 400, 401, 403, 422];
    let first = sim.now;
    for (k, status) in statuses.into_iter().enumerate() {
        assert_eq!(sim.now, first + TTL * k as u32);
        let outs = sim.respond(status, &[], b"refused");
        let (attempt, retry_in, warn, failure) = failed_event(&outs);
        assert_eq!(failure.class, FailureClass::RetryLater, "{status}");
        assert_eq!(failure.status, Some(status));
        // Numbered as its `registration.attempt` said: the count restarts after each.
        assert_eq!(attempt, 1, "{status}");
        assert_eq!(retry_in, TTL);
        let expect_warn = k % 3 == 0;
        assert_eq!(warn, expect_warn, "answer {k} ({status})");
        let event = events(&outs)
            .into_iter()
            .find(|e| e.name() == "registration.error")
            .unwrap();
        assert_eq!(
            event.level(),
            if expect_warn {
                Level::Warn
            } else {
                Level::Debug
            }
        );
        let failed_at = sim.now;
        sim.run_until_transmit(TTL + secs(1));
        assert_eq!(sim.now, failed_at + TTL, "{status}");
    }
}

#[test]
fn client_error_resets_the_fast_failure_counter() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(500, &[], b"");
    sim.run_until_transmit(secs(5));
    sim.respond(500, &[], b"");
    sim.run_until_transmit(secs(10));
    sim.respond(403, &[], b"");
    sim.run_until_transmit(TTL + secs(1));
    let outs = sim.respond(500, &[], b"");
    assert_eq!(failed_event(&outs).0, 1);
}

// ------------------------------------------------------------------ Retry-After

fn first_failure_delay(status: u16, retry_after: &str) -> (Duration, Duration) {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    assert_eq!(sim.now, t0() + secs(1));
    let outs = sim.respond(status, &[("Retry-After", retry_after)], b"");
    let (_, retry_in, _, _) = failed_event(&outs);
    let failed_at = sim.now;
    sim.run_until_transmit(secs(3700));
    (sim.now.saturating_since(failed_at), retry_in)
}

#[test]
fn retry_after_seconds_is_honoured() {
    for status in [429, 503] {
        let (delay, announced) = first_failure_delay(status, "7");
        assert_in(delay, 7.0, 8.0, &format!("{status} Retry-After: 7"));
        assert_eq!(delay, announced);
    }
}

#[test]
fn retry_after_http_date_is_honoured() {
    // Answered at 1700000001 s = Tue, 14 Nov 2023 22:13:21 GMT; 30 s later:
    let (delay, _) = first_failure_delay(503, "Tue, 14 Nov 2023 22:13:51 GMT");
    assert_in(delay, 30.0, 31.0, "HTTP-date 30 s ahead");
}

#[test]
fn retry_after_is_capped_at_an_hour() {
    let (delay, _) = first_failure_delay(429, "100000");
    assert_in(delay, 3600.0, 3601.0, "Retry-After: 100000");
}

#[test]
fn garbage_retry_after_means_normal_backoff() {
    for value in ["soon", "", "-5", "1.5"] {
        let (delay, _) = first_failure_delay(503, value);
        assert_backoff(delay, 1);
    }
}

#[test]
fn retry_after_is_a_floor_for_slow_retries() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(409, &[("retry-after", "120")], b"");
    let failed_at = sim.now;
    sim.run_until_transmit(secs(200));
    assert_eq!(sim.now, failed_at + secs(120));
    // But never shortens the full interval.
    sim.respond(403, &[("retry-after", "5")], b"");
    let failed_at = sim.now;
    sim.run_until_transmit(secs(200));
    assert_eq!(sim.now, failed_at + TTL);
}

// ------------------------------------------------------------------ lock

#[test]
fn lock_busy_rechecks_after_a_ttl() {
    let mut sim = Sim::new(lock_config(), None);
    let outs = sim.advance_to_event();
    assert_eq!(kinds(&outs), ["acquire_lock"]);
    assert!(!sim.reg.has_request_in_flight());
    let outs = sim.lock(LockOutcome::Busy);
    assert_eq!(event_names(&outs), ["lock.busy"]);
    assert!(transmits(&outs).is_empty());
    // Meanwhile it reads the shared snapshot every second (nothing stored here).
    let outs = sim.advance_to_event();
    assert_eq!(sim.now, t0() + secs(1) + TTL);
    assert_eq!(kinds(&outs), ["acquire_lock"]);
    // A lock that cannot be taken at all is a failed attempt (so a register
    // once ends), with the host's message; the loop tries again after a TTL.
    let outs = sim.lock(LockOutcome::Failed("lock file unreadable".into()));
    let evs = events(&outs);
    assert_eq!(event_names(&outs), ["lock.error", "registration.error"]);
    assert_eq!(evs[0].level(), Level::Warn);
    let failure = evs[1].attempt_result().unwrap().unwrap_err();
    assert_eq!(
        failure.message,
        "could not take the registration lock: lock file unreadable"
    );
    assert!(persists(&outs).is_empty(), "not the lock holder: no write");
    assert!(sim.transmits().is_empty());
    let outs = sim.advance_to_event();
    assert_eq!(sim.now, t0() + secs(1) + TTL * 2);
    assert_eq!(kinds(&outs), ["acquire_lock"]);
}

#[test]
fn lock_acquired_then_released_after_persisting_the_result() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_event();
    let outs = sim.lock(LockOutcome::Acquired { fresh: None });
    assert!(event_names(&outs).contains(&"lock.acquired"));
    assert_eq!(transmits(&outs).len(), 1);
    assert!(!kinds(&outs).contains(&"release_lock".to_owned()));

    let outs = sim.respond(503, &[], b"");
    let k = kinds(&outs);
    let persist = k.iter().rposition(|x| x == "persist").expect("persisted");
    let release = k
        .iter()
        .position(|x| x == "release_lock")
        .expect("released");
    assert!(persist < release, "{k:?}");
    assert_eq!(k.iter().filter(|x| *x == "release_lock").count(), 1);

    let outs = sim.advance_to_event();
    assert_eq!(kinds(&outs), ["acquire_lock"]);
    sim.lock(LockOutcome::Acquired { fresh: None });
    let outs = sim.respond(200, &[], b"");
    let k = kinds(&outs);
    let persist = k.iter().rposition(|x| x == "persist").unwrap();
    let release = k.iter().position(|x| x == "release_lock").unwrap();
    assert!(persist < release, "{k:?}");
    assert_eq!(persists(&outs).last().unwrap().status, Status::Registered);
}

#[test]
fn lock_with_a_fresh_registration_is_adopted() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_event();
    let checked = t0() - secs(10);
    let fresh = Snapshot {
        status: Status::Registered,
        last_health_check: Some(checked),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        ..Snapshot::default()
    };
    let outs = sim.lock(LockOutcome::Acquired { fresh: Some(fresh) });
    assert!(transmits(&outs).is_empty());
    assert!(event_names(&outs).contains(&"registration.adopted"));
    assert!(kinds(&outs).contains(&"release_lock".to_owned()));
    assert_eq!(sim.reg.status(), Status::Registered);
    assert_eq!(sim.reg.snapshot().last_health_check, Some(checked));
    // Without credentials it watches the shared snapshot for them; its next
    // check is just after the TTL lapses.
    let outs = sim.advance_to_event();
    assert_eq!(sim.now, checked + TTL + ms(1));
    assert_eq!(kinds(&outs), ["acquire_lock"]);
}

#[test]
fn lock_with_a_registration_for_another_configuration_registers() {
    // A sibling (or this node before an upgrade) registered version 1.0.0 with
    // fewer capabilities: fresh, but not what this node is. Register anew.
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    let mut old = legacy_config().registered_as(KEY_ADDRESS);
    old.version = "1.0.0".into();
    old.capabilities.clear();
    let fresh = Snapshot {
        status: Status::Registered,
        last_health_check: Some(t0() - secs(10)),
        registered_as: Some(old),
        ..Snapshot::default()
    };
    let outs = sim.lock(LockOutcome::Acquired { fresh: Some(fresh) });
    assert_eq!(transmits(&outs).len(), 1);
    let body: Value = serde_json::from_slice(&transmits(&outs)[0].request.body).unwrap();
    assert_eq!(body["version"], "1.2.3");
}

#[test]
fn lock_with_a_stale_registration_registers() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    let fresh = Snapshot {
        status: Status::Registered,
        last_health_check: Some(t0() - secs(120)),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        ..Snapshot::default()
    };
    let outs = sim.lock(LockOutcome::Acquired { fresh: Some(fresh) });
    assert_eq!(transmits(&outs).len(), 1);
}

#[test]
fn a_registration_made_while_waiting_for_the_lock_is_adopted_whatever_its_age() {
    // Siblings share one state file. This one found the lock busy, and by the
    // time it looked again (late: a busy machine) the holder's registration
    // was more than a TTL old. It is the registration this one waited for.
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    let busy_at = sim.now;
    sim.lock(LockOutcome::Busy);
    let registered_at = busy_at + secs(1);
    sim.elapse(TTL * 2);
    sim.timeout();
    let sibling = Snapshot {
        status: Status::Registered,
        last_health_check: Some(registered_at),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        ..Snapshot::default()
    };
    let outs = sim.lock(LockOutcome::Acquired {
        fresh: Some(sibling.clone()),
    });
    assert!(transmits(&outs).is_empty(), "registered again");
    assert!(event_names(&outs).contains(&"registration.adopted"));

    // The same snapshot, made before the wait began, is stale: register.
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    sim.lock(LockOutcome::Busy);
    sim.elapse(TTL * 2);
    sim.timeout();
    let before = Snapshot {
        last_health_check: Some(busy_at - secs(1)),
        ..sibling
    };
    let outs = sim.lock(LockOutcome::Acquired {
        fresh: Some(before),
    });
    assert_eq!(transmits(&outs).len(), 1);
}

#[test]
fn unanswered_lock_does_not_spin() {
    // A host whose lock attempt hangs: the registrar must not ask to be woken at
    // a deadline that has already passed (the harness asserts that in `timeout`).
    let mut sim = Sim::new(lock_config(), None);
    let outs = sim.advance_to_event();
    assert_eq!(kinds(&outs), ["acquire_lock"]);
    sim.run_until(t0() + TTL * 5);
    assert!(sim.transmits().is_empty());
    // It asks again rather than waiting forever for the lost answer …
    let asked = kinds(&sim.log.iter().map(|r| r.output.clone()).collect::<Vec<_>>())
        .iter()
        .filter(|k| *k == "acquire_lock")
        .count();
    assert!(asked >= 2, "asked for the lock {asked} time(s)");
    // … and registers once the host answers.
    while !sim.lock_requested {
        sim.advance_to_event();
    }
    let outs = sim.lock(LockOutcome::Acquired { fresh: None });
    assert_eq!(transmits(&outs).len(), 1);
}

// ------------------------------------------------------------------ one request at a time

#[test]
fn never_two_requests_in_flight() {
    let mut sim = Sim::new(legacy_config(), None);
    let request = sim.run_until_transmit(secs(2));
    for _ in 0..10 {
        sim.elapse(secs(1));
        sim.timeout();
        sim.reg.register_now(sim.now);
        sim.drain(); // panics on a second transmit
        assert!(sim.reg.has_request_in_flight());
    }
    assert_eq!(sim.transmits().len(), 1);

    // A response to some other id changes nothing.
    let before = sim.reg.snapshot();
    let wrong = RequestId(request.id.0 + 1);
    sim.reg.handle_response(
        wrong,
        Ok(posemesh_registration_core::HttpResponse {
            status: 200,
            ..Default::default()
        }),
        sim.now,
    );
    let outs = sim.drain();
    assert_eq!(events(&outs), [Event::StaleResponse { id: wrong }]);
    assert_eq!(events(&outs)[0].name(), "response.ignored");
    assert_eq!(sim.reg.snapshot(), before);
    assert_eq!(sim.reg.status(), Status::Registering);
    assert!(sim.reg.has_request_in_flight());

    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.status(), Status::Registered);
    // The same (now old) id again: ignored.
    let before = sim.reg.snapshot();
    sim.reg.handle_response(
        request.id,
        Ok(posemesh_registration_core::HttpResponse {
            status: 503,
            ..Default::default()
        }),
        sim.now,
    );
    let outs = sim.drain();
    assert_eq!(events(&outs), [Event::StaleResponse { id: request.id }]);
    assert_eq!(sim.reg.snapshot(), before);
    assert_eq!(sim.reg.status(), Status::Registered);
}

#[test]
fn request_timeout_is_a_fast_failure() {
    let mut config = legacy_config();
    config.request_timeout = secs(10);
    let mut sim = Sim::new(config, None);
    let request = sim.run_until_transmit(secs(2));
    let sent = sim.now;
    assert_eq!(request.timeout, secs(10));
    assert_eq!(sim.wake, sent + secs(10));
    sim.now = sent + secs(10) - Duration::from_nanos(1);
    assert!(sim.timeout().is_empty());
    assert!(sim.reg.has_request_in_flight());

    let outs = sim.advance_to_wake();
    assert_eq!(sim.now, sent + secs(10));
    let (attempt, _, _, failure) = failed_event(&outs);
    assert_eq!(attempt, 1);
    assert_eq!(failure.class, FailureClass::RetryFast);
    assert_eq!(failure.status, None);
    assert!(failure.message.contains("timed out"), "{}", failure.message);
    assert!(!sim.reg.has_request_in_flight());
    let failed_at = sim.now;
    sim.run_until_transmit(secs(5));
    assert_backoff(sim.now.saturating_since(failed_at), 1);

    // The late answer to the timed-out request is ignored.
    let before = sim.reg.snapshot();
    sim.reg.handle_response(
        request.id,
        Ok(posemesh_registration_core::HttpResponse {
            status: 200,
            ..Default::default()
        }),
        sim.now,
    );
    let outs = sim.drain();
    assert_eq!(events(&outs), [Event::StaleResponse { id: request.id }]);
    assert_eq!(sim.reg.snapshot(), before);
}

/// Runs `sim` until its registrar transmits (within `limit`), granting the
/// lock whenever it is asked for.
fn run_until_transmit_granting_lock(sim: &mut Sim, limit: Duration) {
    let end = sim.now + limit;
    while sim.in_flight.is_none() {
        if sim.lock_requested {
            sim.lock(LockOutcome::Acquired { fresh: None });
            continue;
        }
        assert!(sim.wake <= end, "no transmit before {end:?}");
        sim.advance_to_wake();
    }
}

/// The wall clock set back (NTP correcting a device that booted with a
/// clock ahead, a user setting the time, a restored VM) must not stop the
/// registrar for as long as it jumped: every wait keeps its length, counted
/// from the registrar's last call (it cannot know how much of the jump was
/// time passing), so a lapsed health check is noticed within a TTL.
#[test]
fn a_clock_set_back_keeps_every_wait_its_length() {
    let back = Duration::from_secs(6 * 3600);
    for config in [legacy_config(), wallet_config(), lock_config()] {
        let wallet = config.flow == Flow::Wallet;
        // Registered, then set back: the next check still comes within a TTL,
        // and a lapsed health check is noticed.
        let mut sim = Sim::new(config.clone(), None);
        run_until_transmit_granting_lock(&mut sim, secs(2));
        if wallet {
            sim.respond(200, &[], &challenge_json("n0nce42x"));
        }
        sim.respond(200, &[], b"{}");
        assert_eq!(sim.reg.status(), Status::Registered);
        sim.run_until(sim.now + secs(10));
        sim.now = sim.now - back;
        sim.timeout();
        let set_back_at = sim.now;
        if !wallet {
            sim.run_until(set_back_at + TTL + ms(1));
            let expired = sim.events().into_iter().any(|(at, event)| {
                at >= set_back_at && matches!(event, Event::HealthCheckExpired { .. })
            });
            assert!(
                expired || sim.lock_requested,
                "the lapsed health check went unnoticed"
            );
        }
        run_until_transmit_granting_lock(&mut sim, TTL + secs(2));

        // In backoff: the retry keeps its delay.
        let mut sim = Sim::new(config.clone(), None);
        run_until_transmit_granting_lock(&mut sim, secs(2));
        let (_, retry_in, _, _) = failed_event(&sim.respond(503, &[], b""));
        sim.now = sim.now - back;
        sim.timeout();
        let set_back_at = sim.now;
        run_until_transmit_granting_lock(&mut sim, secs(3));
        assert!(
            sim.now.saturating_since(set_back_at) <= retry_in,
            "wallet {wallet}"
        );

        // A request in flight still times out after its own timeout.
        let mut sim = Sim::new(config, None);
        run_until_transmit_granting_lock(&mut sim, secs(2));
        let timeout = sim.in_flight.as_ref().unwrap().0.timeout;
        sim.now = sim.now - back;
        sim.timeout();
        assert!(
            sim.wake <= sim.now + timeout,
            "wallet {wallet}: {:?}",
            sim.wake
        );
        sim.now = sim.now + timeout;
        let outs = sim.timeout();
        assert_eq!(
            failed_event(&outs).3.class,
            FailureClass::RetryFast,
            "wallet {wallet}"
        );
    }
}

/// A registration stored before the clock was set back is stamped in the
/// (new clock's) future: how long ago it was confirmed is unknown, so it
/// confirms nothing. A restart on it, or a sibling reading it, registers
/// again rather than calling it fresh until the clock catches up.
#[test]
fn a_registration_stamped_in_the_future_is_not_taken_as_fresh() {
    let back = Duration::from_secs(6 * 3600);
    for config in [legacy_config(), wallet_config(), lock_config()] {
        let registered_by = if config.use_lock {
            legacy_config()
        } else {
            config.clone()
        };
        let sim = registered_sim(registered_by);
        let stored = sim.reg.snapshot();
        let restart_at = sim.now + secs(2) - back;
        let mut restarted = Sim::with_seed(config.clone(), Some(stored.clone()), 7, restart_at);
        assert!(
            restarted
                .events()
                .iter()
                .any(|(_, e)| matches!(e, Event::StoredRegistrationStale { .. })),
            "{:?}: kept as fresh",
            config.flow
        );
        run_until_transmit_granting_lock(&mut restarted, secs(3));
    }
    // A sibling finds it in the shared snapshot: not taken over.
    let stored = registered_sim(legacy_config()).reg.snapshot();
    let mut sibling = Sim::with_seed(lock_config(), None, 7, t0() - back);
    sibling.reg.observe_shared(Some(stored), sibling.now);
    sibling.drain();
    assert_ne!(sibling.reg.status(), Status::Registered);
}

#[test]
fn register_now_on_a_fresh_registration_adopts_it_without_a_request() {
    let mut sim = registered_sim(legacy_config());
    sim.elapse(secs(5));
    sim.reg.register_now(sim.now);
    let outs = sim.drain();
    assert!(transmits(&outs).is_empty());
    let adopted: Vec<_> = events(&outs)
        .into_iter()
        .filter_map(|e| e.attempt_result().map(|r| r.map_err(Clone::clone)))
        .collect();
    assert_eq!(adopted, [Ok(AttemptOutcome::Adopted)]);
    assert_eq!(sim.reg.status(), Status::Registered);
}

#[test]
fn register_again_sends_a_registration_whatever_is_stored() {
    let mut sim = registered_sim(legacy_config());
    sim.elapse(secs(5));
    sim.reg.register_again(sim.now);
    let outs = sim.drain();
    assert_eq!(transmits(&outs).len(), 1);
    assert!(event_names(&outs).contains(&"registration.rearm"));
    assert!(events(&outs).contains(&Event::StatusChanged {
        from: Status::Registered,
        to: Status::Registering
    }));
}

#[test]
fn register_again_under_the_lock_does_not_adopt_the_stored_registration() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    sim.lock(LockOutcome::Acquired { fresh: None });
    sim.respond(200, &[], b"");
    let stored = sim.reg.snapshot();
    assert_eq!(stored.status, Status::Registered);
    sim.elapse(secs(2));
    sim.reg.register_again(sim.now);
    sim.drain();
    let outs = sim.lock(LockOutcome::Acquired {
        fresh: Some(stored),
    });
    assert_eq!(
        transmits(&outs).len(),
        1,
        "the DDS said it lost us: ask again"
    );
}

#[test]
fn register_now_ends_while_another_process_keeps_the_lock() {
    let mut sim = Sim::new(lock_config(), None);
    sim.elapse(secs(1));
    sim.reg.register_now(sim.now);
    sim.drain();
    let started = sim.now;
    let mut result = None;
    for _ in 0..10_000 {
        let outs = sim.lock(LockOutcome::Busy);
        if let Some(r) = events(&outs)
            .iter()
            .find_map(|e| e.attempt_result().map(|r| r.map_err(Clone::clone)))
        {
            result = Some(r);
            break;
        }
        assert!(
            sim.wake <= sim.now + secs(1),
            "a waiting register_now looks again within a second"
        );
        sim.advance_to_wake();
    }
    let failure = result.expect("register_now ended").unwrap_err();
    assert!(
        failure.message.contains("lock stayed held"),
        "{}",
        failure.message
    );
    // clamp(2 × 60 s, 30 s, 600 s) = 120 s.
    let waited = sim.now.saturating_since(started);
    assert!(waited >= secs(120) && waited <= secs(122), "{waited:?}");
}

#[test]
fn register_now_adopts_a_sibling_registration_found_under_the_lock() {
    let mut sim = Sim::new(lock_config(), None);
    sim.elapse(secs(1));
    sim.reg.register_now(sim.now);
    sim.drain();
    let fresh = Snapshot {
        status: Status::Registered,
        last_health_check: Some(sim.now - secs(3)),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        ..Snapshot::default()
    };
    let outs = sim.lock(LockOutcome::Acquired { fresh: Some(fresh) });
    assert!(transmits(&outs).is_empty());
    let results: Vec<_> = events(&outs)
        .iter()
        .filter_map(|e| e.attempt_result().map(|r| r.map_err(Clone::clone)))
        .collect();
    assert_eq!(results, [Ok(AttemptOutcome::Adopted)]);
}

#[test]
fn restart_with_a_new_version_registers_again() {
    for config in [legacy_config(), wallet_config()] {
        let sim = registered_sim(config.clone());
        let stored = sim.reg.snapshot();
        assert!(stored.registered_as.is_some());
        let mut upgraded = config.clone();
        upgraded.node.version = "2.0.0".into();
        upgraded.node.capabilities.push("/new/capability/v1".into());
        let mut restarted = Sim::with_seed(upgraded, Some(stored.clone()), 7, sim.now + secs(2));
        let logged: Vec<Output> = restarted.log.iter().map(|r| r.output.clone()).collect();
        let stale: Vec<_> = events(&logged)
            .into_iter()
            .filter_map(|e| match e {
                Event::StoredRegistrationStale { reason } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            stale,
            [StaleReason::Changed {
                fields: "version, capabilities".into()
            }]
        );
        restarted.run_until_transmit(secs(2));
        // The same configuration, restarted within a TTL: taken over, nothing sent.
        let mut same = Sim::with_seed(config, Some(stored), 7, sim.now + secs(2));
        same.run_until(sim.now + secs(10));
        assert!(same.transmits().is_empty());
        assert_eq!(same.reg.status(), Status::Registered);
    }
}

/// A restarted node that keeps a fresh registration says so once, as one
/// whose registration went stale says that: by `registration.adopted` at its
/// first check, or as the answer of a `register_now` called at once.
#[test]
fn a_restart_on_fresh_state_reports_the_registration_it_took_over_once() {
    // A shared state file holds what a lone registrar would have stored.
    let configs = [
        (legacy_config(), legacy_config()),
        (wallet_config(), wallet_config()),
        (lock_config(), legacy_config()),
    ];
    for (config, registered_by) in configs {
        let sim = registered_sim(registered_by);
        let stored = sim.reg.snapshot();
        let restart_at = sim.now + secs(2);
        let adopted = |sim: &Sim| -> Vec<Event> {
            sim.events()
                .into_iter()
                .map(|(_, e)| e)
                .filter(|e| matches!(e, Event::Adopted { .. }))
                .collect()
        };

        let mut looping = Sim::with_seed(config.clone(), Some(stored.clone()), 7, restart_at);
        looping.run_until(restart_at + secs(3));
        assert!(looping.transmits().is_empty(), "{:?}", config.flow);
        let reported = adopted(&looping);
        let [Event::Adopted { age }] = reported.as_slice() else {
            panic!("{:?}: {reported:?}", config.flow);
        };
        // Confirmed when the attempt succeeded, two seconds (and the first
        // check's delay) before.
        assert!(*age >= secs(2) && *age <= secs(4), "{age:?}");

        let mut once = Sim::with_seed(config.clone(), Some(stored), 7, restart_at);
        once.reg.register_now(once.now);
        once.run_until(restart_at + secs(3));
        assert_eq!(adopted(&once).len(), 1, "{:?}", config.flow);
    }
}

/// Credentials name a node at the DDS that issued them: registered with
/// another DDS, a restarted node no longer reports (or stores) them; an
/// upgrade at the same DDS keeps them.
#[test]
fn credentials_of_another_dds_are_dropped_once_registered_elsewhere() {
    for config in [legacy_config(), wallet_config()] {
        let sim = registered_sim(config.clone());
        let mut stored = sim.reg.snapshot();
        stored.credentials = Some(posemesh_registration_core::DdsCredentials {
            id: "node-7".into(),
            secret: "issued-by-the-old-dds".into(),
            organization_id: None,
        });
        let later = sim.now + secs(2);
        let mut upgraded = config.clone();
        upgraded.node.version = "2.0.0".into();
        let mut moved = config.clone();
        moved.dds_url =
            posemesh_registration_core::url::BaseUrl::parse("http://127.0.0.1:9").unwrap();
        for (changed, kept) in [(upgraded, true), (moved, false)] {
            let wallet = changed.flow == Flow::Wallet;
            let dds = changed.dds_url.clone();
            let mut restarted = Sim::with_seed(changed, Some(stored.clone()), 7, later);
            assert!(restarted.reg.credentials().is_some(), "kept until replaced");
            restarted.run_until_transmit(secs(2));
            if wallet {
                let challenge = serde_json::json!({
                    "nonce": "abcdefgh", "domain": dds.authority(), "uri": dds.as_str(),
                    "version": "1", "chainId": 1, "issuedAt": "2023-11-14T22:13:21Z",
                });
                restarted.respond(200, &[], challenge.to_string().as_bytes());
            }
            restarted.respond(200, &[], b"{}");
            assert_eq!(restarted.reg.status(), Status::Registered);
            assert_eq!(restarted.reg.credentials().is_some(), kept, "{dds}");
            assert_eq!(restarted.reg.snapshot().credentials.is_some(), kept);
        }
    }
}

#[test]
fn restart_after_more_than_a_ttl_registers_again_in_the_wallet_flow() {
    let sim = registered_sim(wallet_config());
    let stored = sim.reg.snapshot();
    let mut restarted = Sim::with_seed(wallet_config(), Some(stored), 7, sim.now + TTL + secs(1));
    assert_eq!(restarted.reg.status(), Status::Registering);
    restarted.run_until_transmit(secs(2));
}

// ------------------------------------------------------------------ callbacks

const CALLBACK: &str = "/internal/v1/registrations";

fn json_body(response: &posemesh_registration_core::NodeResponse) -> Value {
    serde_json::from_slice(&response.body).expect("node response is JSON")
}

#[test]
fn callback_is_committed_only_when_the_attempt_succeeds() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.elapse(ms(500));
    let (response, outs) = sim.node_request(
        "POST",
        CALLBACK,
        &[("content-type", "application/json")],
        br#"{"id":"n1","secret":"s3cr3t","organization_id":"org-7"}"#,
    );
    assert_eq!(response.status, 200);
    assert_eq!(json_body(&response), serde_json::json!({"ok": true}));
    assert_eq!(
        events(&outs)
            .into_iter()
            .find(|e| e.name() == "registration.callback"),
        Some(Event::CallbackAccepted {
            id: "n1".into(),
            organization_id: Some("org-7".into()),
            secret_len: 6
        })
    );
    // Held, not committed: the attempt has not succeeded yet.
    assert!(sim.reg.credentials().is_none());
    assert!(persists(&outs).iter().all(|p| p.credentials.is_none()));
    assert_ne!(sim.reg.status(), Status::Registered);

    let outs = sim.respond(200, &[], b"");
    let credentials = sim.reg.credentials().expect("committed on success");
    assert_eq!(credentials.id, "n1");
    assert_eq!(credentials.secret.expose(), "s3cr3t");
    assert_eq!(credentials.organization_id.as_deref(), Some("org-7"));
    let last = persists(&outs).pop().expect("persisted");
    assert_eq!(last.credentials.as_ref().unwrap().secret.expose(), "s3cr3t");
    assert_eq!(last.status, Status::Registered);

    // The same callback delivered again is fine; a different one is refused
    // and reported as a possible forgery.
    let (again, _) = sim.node_request(
        "POST",
        CALLBACK,
        &[],
        br#"{"id":"n1","secret":"s3cr3t","organization_id":"org-7"}"#,
    );
    assert_eq!(again.status, 200);
    let before = sim.reg.snapshot();
    let (response, outs) =
        sim.node_request("POST", CALLBACK, &[], br#"{"id":"n2","secret":"other"}"#);
    assert_eq!(response.status, 409);
    assert_eq!(sim.reg.snapshot(), before);
    assert!(event_names(&outs).contains(&"registration.callback.conflict"));
    assert!(event_names(&outs).contains(&"registration.callback.rejected"));
}

#[test]
fn callback_of_a_failed_attempt_is_dropped_and_later_ones_refused() {
    for failure in [503u16, 403, 409] {
        let mut sim = Sim::new(legacy_config(), None);
        sim.run_until_transmit(secs(2));
        let (response, _) =
            sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"forged"}"#);
        assert_eq!(response.status, 200, "in the window of an attempt");
        sim.respond(failure, &[], b"");
        assert!(sim.reg.credentials().is_none(), "{failure}");
        assert_ne!(sim.reg.status(), Status::Registered, "{failure}");
        // After the failure, the window is closed.
        let before = sim.reg.snapshot();
        let (response, outs) =
            sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"forged"}"#);
        assert_eq!(response.status, 409, "{failure}");
        assert_eq!(sim.reg.snapshot(), before);
        assert!(persists(&outs).is_empty());
        assert!(sim
            .reg
            .snapshot()
            .encode()
            .windows(6)
            .all(|w| w != b"forged"));
    }
}

#[test]
fn callback_after_success_is_accepted_within_the_grace_only() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(200, &[], b"");
    sim.elapse(secs(29));
    let (response, outs) =
        sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"late"}"#);
    assert_eq!(response.status, 200);
    assert_eq!(sim.reg.credentials().unwrap().secret.expose(), "late");
    assert!(persists(&outs).last().unwrap().credentials.is_some());

    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(200, &[], b"");
    sim.elapse(secs(31));
    let (response, _) = sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"late"}"#);
    assert_eq!(response.status, 409);
    assert!(sim.reg.credentials().is_none());
}

#[test]
fn wallet_flow_refuses_callbacks() {
    let mut sim = Sim::new(wallet_config(), None);
    sim.run_until_transmit(secs(2));
    let (response, _) = sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"s"}"#);
    assert_eq!(response.status, 409);
}

#[test]
fn callback_without_a_pending_attempt_is_refused() {
    let mut sim = Sim::new(legacy_config(), None);
    let before = sim.reg.snapshot();
    let (response, outs) =
        sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"s3cr3t"}"#);
    assert_eq!(response.status, 409);
    assert!(json_body(&response)["error"].is_string());
    assert_eq!(sim.reg.snapshot(), before);
    assert_eq!(sim.reg.status(), Status::Disconnected);
    assert!(sim.reg.credentials().is_none());
    assert!(persists(&outs).is_empty());
    let rejected = events(&outs);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].level(), Level::Warn);
}

#[test]
fn callback_window_closes() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(503, &[], b"");
    // Every attempt reopens the window; keep the registrar quiet for 600 s.
    sim.run_until_transmit(secs(5));
    let started = sim.now;
    sim.respond(403, &[("retry-after", "600")], b"");
    sim.run_until(started + secs(301));
    let before = sim.reg.snapshot();
    let (response, _) =
        sim.node_request("POST", CALLBACK, &[], br#"{"id":"n1","secret":"s3cr3t"}"#);
    assert_eq!(response.status, 409);
    assert_eq!(sim.reg.snapshot(), before);
}

#[test]
fn malformed_callbacks_are_refused_and_change_nothing() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let long_secret = "x".repeat(4097);
    let too_long = format!(r#"{{"id":"n1","secret":"{long_secret}"}}"#);
    let mut huge = br#"{"id":"n1","secret":"s","pad":""#.to_vec();
    let limit = posemesh_registration_core::callback::MAX_CALLBACK_BODY;
    huge.resize(limit + 1 - 2, b'a');
    huge.extend_from_slice(b"\"}");
    assert_eq!(huge.len(), limit + 1);
    let cases: Vec<(&[u8], u16)> = vec![
        (br#"{"id":"","secret":"s3cr3t"}"#, 422),
        (br#"{"id":"   ","secret":"s3cr3t"}"#, 422),
        (br#"{"secret":"s3cr3t"}"#, 422),
        (br#"{"id":"n1","secret":""}"#, 422),
        (br#"{"id":"n1","secret":" \t "}"#, 422),
        (br#"{"id":"n1"}"#, 422),
        (too_long.as_bytes(), 403),
        (b"{not json", 400),
        (b"", 400),
        (br#"{"id":1,"secret":"s3cr3t"}"#, 400),
        (&huge, 413),
    ];
    for (body, status) in cases {
        let before = sim.reg.snapshot();
        let (response, outs) = sim.node_request("POST", CALLBACK, &[], body);
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert!(json_body(&response)["error"].is_string());
        assert_eq!(sim.reg.snapshot(), before);
        assert!(persists(&outs).is_empty());
        assert!(sim.reg.credentials().is_none());
    }
    // A secret of exactly 4096 bytes is fine, and rejections did not use up the
    // window. The reference accepts up to 2 MB (axum's default limit), so a large
    // organisation's `lighthouses_in_domains` and `domains` (about 1 MiB here,
    // of any JSON shape, ignored) are accepted too.
    let lighthouse =
        serde_json::json!({"domain_id": "d".repeat(36), "poses": [vec![0.123_456_789; 16]]});
    let ok = serde_json::json!({
        "id": "n1",
        "secret": "x".repeat(4096),
        "organization_id": null,
        "lighthouses_in_domains": vec![lighthouse; 4000],
        "domains": vec![serde_json::json!({"id": "d".repeat(36), "name": "a domain"}); 4000],
    })
    .to_string();
    assert!(ok.len() > 1024 * 1024 && ok.len() < limit, "{}", ok.len());
    let (response, _) = sim.node_request("POST", CALLBACK, &[], ok.as_bytes());
    assert_eq!(response.status, 200);
    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.credentials().unwrap().secret.len(), 4096);
}

#[test]
fn health_endpoint_and_routing() {
    let mut sim = registered_sim(legacy_config());
    sim.elapse(secs(20));
    let (response, outs) = sim.node_request("GET", "/health", &[("User-Agent", "DDS v2")], b"");
    assert_eq!(response.status, 200);
    assert_eq!(sim.reg.snapshot().last_health_check, Some(sim.now));
    assert!(event_names(&outs).contains(&"healthcheck.touch"));
    assert_eq!(sim.wake, sim.now + TTL + ms(1));

    sim.elapse(secs(20));
    let checked = sim.reg.snapshot().last_health_check;
    let (response, _) = sim.node_request(
        "GET",
        "/health?probe=1",
        &[("user-agent", "kube-probe/1.29")],
        b"",
    );
    assert_eq!(response.status, 200, "always 200");
    assert_eq!(sim.reg.snapshot().last_health_check, checked, "not the DDS");
    let (response, _) = sim.node_request("GET", "/health", &[], b"");
    assert_eq!(response.status, 200);
    assert_eq!(sim.reg.snapshot().last_health_check, checked);

    let (response, _) = sim.node_request("get", "/health", &[("USER-AGENT", "DDS v3")], b"");
    assert_eq!(response.status, 200);
    assert_eq!(sim.reg.snapshot().last_health_check, Some(sim.now));

    let before = sim.reg.snapshot();
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("POST", "/", 404),
        ("GET", CALLBACK, 405),
        ("PUT", CALLBACK, 405),
        ("POST", "/health", 405),
        ("DELETE", "/health", 405),
    ] {
        let (response, _) = sim.node_request(method, path, &[("User-Agent", "DDS v2")], b"{}");
        assert_eq!(response.status, status, "{method} {path}");
        assert!(json_body(&response)["error"].is_string());
    }
    assert_eq!(sim.reg.snapshot(), before);
}

/// The DDS calls `{node URL}/health` and `{node URL}/internal/v1/registrations`:
/// a node whose URL has a path (a gateway routing by path) is called under
/// it. Both that and the bare route (a proxy that strips the path) are served;
/// a path that only starts alike is not.
#[test]
fn a_node_url_with_a_path_is_called_under_it() {
    let mut config = legacy_config();
    config.flow = Flow::Legacy {
        node_url: "https://gateway.example.com/nodes/n7/".into(),
    };
    assert_eq!(config.flow.node_path(), Some("/nodes/n7"));
    assert_eq!(Flow::Wallet.node_path(), None);
    let mut sim = Sim::new(config, None);
    sim.run_until_transmit(secs(2));
    let (response, _) = sim.node_request(
        "POST",
        "/nodes/n7/internal/v1/registrations",
        &[],
        br#"{"id":"n1","secret":"s3cr3t"}"#,
    );
    assert_eq!(response.status, 200);
    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.credentials().expect("committed").id, "n1");

    for path in ["/nodes/n7/health?probe=1", "/health"] {
        sim.elapse(secs(5));
        let (response, _) = sim.node_request("GET", path, &[("User-Agent", "DDS v2")], b"");
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            sim.reg.snapshot().last_health_check,
            Some(sim.now),
            "{path}"
        );
    }
    for path in [
        "/nodes/n7x/health",
        "/nodes/n7",
        "/nodes/health",
        "/nodes/n7/n7/health",
    ] {
        let (response, _) = sim.node_request("GET", path, &[("User-Agent", "DDS v2")], b"");
        assert_eq!(response.status, 404, "{path}");
    }
}

// ------------------------------------------------------------------ determinism

fn scripted_run(seed: u64) -> Vec<Record> {
    let mut sim = Sim::with_seed(legacy_config(), None, seed, t0());
    sim.run_until_transmit(secs(2));
    for _ in 0..5 {
        sim.respond(503, &[], b"busy");
        sim.run_until_transmit(secs(100));
    }
    sim.fail_transport(TransportErrorKind::Connect);
    sim.run_until_transmit(secs(100));
    sim.respond(429, &[("Retry-After", "7")], b"");
    sim.run_until_transmit(secs(100));
    sim.elapse(ms(40));
    sim.respond(200, &[], b"");
    sim.run_until_transmit(TTL * 2);
    sim.respond(200, &[], b"");
    sim.run_until(sim.now + TTL * 3);
    sim.log
}

#[test]
fn same_seed_same_outputs() {
    let a = scripted_run(7);
    let b = scripted_run(7);
    assert!(a.len() > 20);
    assert_eq!(a, b);
}

#[test]
fn different_seeds_different_jitter() {
    let a = scripted_run(7);
    let b = scripted_run(8);
    let times = |log: &[Record]| -> Vec<UnixTime> {
        log.iter()
            .filter(|r| matches!(r.output, Output::Transmit(_)))
            .map(|r| r.at)
            .collect()
    };
    assert_eq!(times(&a).len(), times(&b).len());
    assert_ne!(times(&a), times(&b));
}

#[test]
fn largest_accepted_callback_still_persists_readably() {
    // Whatever callback the registrar accepts ends up in the snapshot; the host
    // must be able to read that snapshot back after a restart. The largest: a
    // body at its limit, whose id, organisation and secret are at theirs.
    use posemesh_registration_core::callback::{MAX_CALLBACK_BODY, MAX_ID_BYTES, MAX_SECRET_BYTES};
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let callback = |pad: usize| {
        serde_json::json!({
            "id": "i".repeat(MAX_ID_BYTES),
            "secret": "s".repeat(MAX_SECRET_BYTES),
            "organization_id": "o".repeat(MAX_ID_BYTES),
            "lighthouses_in_domains": "l".repeat(pad),
        })
        .to_string()
        .into_bytes()
    };
    let body = callback(MAX_CALLBACK_BODY - callback(0).len());
    assert_eq!(body.len(), MAX_CALLBACK_BODY);
    let (response, _) = sim.node_request("POST", CALLBACK, &[], &body);
    assert_eq!(response.status, 200);
    let outs = sim.respond(200, &[], b"");
    let stored = persists(&outs).pop().unwrap();
    assert!(stored.credentials.is_some());
    let decoded = Snapshot::decode(&stored.encode()).expect("persisted snapshot decodes");
    assert_eq!(decoded, stored);
}

#[test]
fn late_lock_answer_is_handed_back() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_event();
    assert!(sim.lock_requested);
    // No answer within a TTL: a lock error, and a new check a TTL later.
    let outs = sim.advance_to_event();
    assert_eq!(sim.now, t0() + secs(1) + TTL);
    assert_eq!(event_names(&outs), ["lock.error", "registration.error"]);
    assert_eq!(sim.reg.status(), Status::Disconnected);
    // The answer finally arrives: the lock goes straight back, nothing is sent.
    sim.elapse(secs(5));
    let outs = sim.lock(LockOutcome::Acquired { fresh: None });
    assert_eq!(kinds(&outs), ["release_lock"]);
    assert!(sim.transmits().is_empty());
}

#[test]
fn extreme_configuration_values_do_not_panic() {
    let mut config = lock_config();
    config.register_interval = Duration::MAX;
    config.request_timeout = Duration::MAX;
    assert_eq!(config.ttl(), Duration::MAX);
    assert_eq!(config.lock_stale_after(), secs(600));
    let mut sim = Sim::new(config, None);
    sim.advance_to_event();
    sim.lock(LockOutcome::Acquired { fresh: None });
    sim.respond(503, &[], b"");
    sim.advance_to_event();
    sim.lock(LockOutcome::Acquired { fresh: None });
    sim.respond(200, &[], b"");
    assert_eq!(sim.reg.status(), Status::Registered);

    let mut config = legacy_config();
    config.register_interval = Duration::ZERO;
    assert_eq!(config.ttl(), secs(1), "TTL is at least one second");
    assert_eq!(config.lock_stale_after(), secs(30));
    config.register_interval = secs(200);
    assert_eq!(config.lock_stale_after(), secs(400));
    config.register_interval = secs(400);
    assert_eq!(config.lock_stale_after(), secs(600));
}

#[test]
fn extreme_times_do_not_panic() {
    let end = UnixTime::from_secs_nanos(u64::MAX, u32::MAX);
    assert_eq!(end, UnixTime::from_duration_since_epoch(Duration::MAX));
    let mut sim = Sim::with_seed(legacy_config(), None, SEED, end - secs(5));
    sim.run_until_transmit(secs(2));
    sim.respond(503, &[], b"");
    sim.advance_to_wake();
}

/// A check that runs late (the host slept past it) must still give the host a
/// whole TTL to answer the lock request, not time it out at once.
#[test]
fn a_late_check_still_waits_for_the_lock_answer() {
    let mut config = legacy_config();
    config.use_lock = true;
    let mut registrar = posemesh_registration_core::Registrar::new(config, key(), None, t0(), 1);
    while !matches!(registrar.poll_output(), Output::Wait(_)) {}
    let late = t0() + secs(600);
    registrar.handle_timeout(late);
    let mut asked = false;
    let wake = loop {
        match registrar.poll_output() {
            Output::AcquireLock => asked = true,
            Output::Wait(at) => break at,
            _ => {}
        }
    };
    assert!(asked);
    assert!(
        wake > late,
        "the lock deadline {wake:?} is already past at {late:?}"
    );
    registrar.handle_lock(LockOutcome::Acquired { fresh: None }, late + secs(1));
    assert!(
        registrar.has_request_in_flight(),
        "the lock answer was refused as late"
    );
}

// ------------------------------------------------------------------ a hostile DDS

/// The low-level builder keeps the registrar's promise: what the registrar
/// refuses to sign, `wallet_registration_request` refuses too, with the same
/// reason, and a domain the configuration trusts is accepted by both.
#[test]
fn the_low_level_wallet_builder_refuses_what_the_registrar_refuses() {
    let config = wallet_config();
    let key = PrivateKey::from_hex(KEY_HEX).unwrap();
    for (domain, uri, nonce, why) in refused_challenges() {
        let challenge = SiweChallenge::parse(&challenge(domain, uri, nonce)).unwrap();
        let err = request::wallet_registration_request(
            &config.dds_url,
            &challenge,
            &[],
            &config.node,
            &key,
        )
        .expect_err(&format!("{domain:?} {uri:?} {nonce:?} was signed"));
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
    let trusted = SiweChallenge::parse(&challenge(
        "dds.public.example",
        "https://dds.public.example/",
        "abcdefgh",
    ))
    .unwrap();
    let build = |also: &[String]| {
        request::wallet_registration_request(&config.dds_url, &trusted, also, &config.node, &key)
    };
    assert!(build(&[]).is_err(), "not trusted unless configured");
    assert!(build(&["dds.public.example".into()]).is_ok());
}

fn challenge(domain: &str, uri: &str, nonce: &str) -> Vec<u8> {
    serde_json::json!({
        "nonce": nonce, "domain": domain, "uri": uri, "version": "1",
        "chainId": 1, "issuedAt": "2023-11-14T22:13:21Z",
    })
    .to_string()
    .into_bytes()
}

/// Challenges the node must never sign: domain, URI, nonce, and why (in the message).
fn refused_challenges() -> [(&'static str, &'static str, &'static str, &'static str); 9] {
    [
        (
            "evil.example",
            "https://evil.example",
            "abcdefgh",
            "not the DDS",
        ),
        (
            "dds.test.evil.example",
            "http://dds.test.evil.example",
            "abcdefgh",
            "not the DDS",
        ),
        (
            "dds.test:9999",
            "http://dds.test:9999",
            "abcdefgh",
            "not the DDS",
        ),
        (
            "dds.test",
            "https://evil.example/login",
            "abcdefgh",
            "URI is not on domain",
        ),
        (
            "dds.test\nURI: https://evil.example",
            "http://dds.test",
            "abcdefgh",
            "line break",
        ),
        (
            "dds.test",
            "http://dds.test\u{1b}[2K",
            "abcdefgh",
            "line break",
        ),
        (
            "dds.test:443",
            "http://dds.test:443",
            "abcdefgh",
            "not the DDS",
        ),
        ("dds.test", "http://dds.test", "abc\tdefgh", "line break"),
        (
            "dds.test",
            "http://dds.test",
            "abcd\u{2028}efgh",
            "line break",
        ),
    ]
}

#[test]
fn foreign_siwe_challenges_are_never_signed() {
    for (domain, uri, nonce, why) in refused_challenges() {
        let mut sim = Sim::new(wallet_config(), None);
        sim.run_until_transmit(secs(2));
        let outs = sim.respond(200, &[], &challenge(domain, uri, nonce));
        assert!(
            transmits(&outs).is_empty(),
            "{domain:?} {uri:?} {nonce:?} was signed"
        );
        let (_, _, _, failure) = failed_event(&outs);
        assert!(failure.message.contains(why), "{why}: {}", failure.message);
        assert!(
            !failure.message.chars().any(char::is_control),
            "{}",
            failure.message
        );
    }
    // A domain the configuration names is trusted; the DDS's own always is.
    let mut config = wallet_config();
    config.siwe_domains = vec!["dds.public.example".into()];
    // The DDS URL is http://dds.test: its default port may be named too. The
    // nonce is the DDS's business (PROTOCOL: non-empty), as in the reference.
    for (domain, uri, nonce) in [
        (
            "dds.public.example",
            "https://dds.public.example/",
            "abcdefgh",
        ),
        ("dds.test", "http://dds.test/siwe", "abcdefgh"),
        ("DDS.TEST", "https://dds.test:8443/", "abcdefgh"),
        ("dds.test:80", "http://dds.test:80/", "abcdefgh"),
        (
            "dds.test",
            "http://dds.test",
            "0f8e2b1c-4d3a-4b5e-9f6a-7c8d9e0a1b2c",
        ),
        ("dds.test", "http://dds.test", "n1"),
    ] {
        let mut sim = Sim::new(config.clone(), None);
        sim.run_until_transmit(secs(2));
        let outs = sim.respond(200, &[], &challenge(domain, uri, nonce));
        assert_eq!(transmits(&outs).len(), 1, "{domain} {uri} {nonce}");
        let message = body_json(&transmits(&outs)[0])["message"].clone();
        assert!(
            message
                .as_str()
                .unwrap()
                .contains(&format!("\nNonce: {nonce}\n")),
            "{message}"
        );
    }
    // Bad chain id, version or time.
    for body in [
        br#"{"nonce":"abcdefgh","domain":"dds.test","uri":"http://dds.test","version":"1","chainId":0,"issuedAt":"2023-11-14T22:13:21Z"}"#.as_slice(),
        br#"{"nonce":"abcdefgh","domain":"dds.test","uri":"http://dds.test","version":"2","chainId":1,"issuedAt":"2023-11-14T22:13:21Z"}"#,
        br#"{"nonce":"abcdefgh","domain":"dds.test","uri":"http://dds.test","version":"1","chainId":1,"issuedAt":"yesterday"}"#,
    ] {
        let mut sim = Sim::new(wallet_config(), None);
        sim.run_until_transmit(secs(2));
        let outs = sim.respond(200, &[], body);
        assert!(transmits(&outs).is_empty());
    }
}

/// A loopback DDS (a local server, a tunnel) may name itself `localhost`,
/// `127.0.0.1` or `[::1]`, on its own port or none, as test servers written
/// after the reference's own tests do; another port or any public name stays
/// foreign, and a remote DDS never gets the loopback names.
#[test]
fn a_loopback_dds_may_name_itself_by_any_loopback_name() {
    let check = |dds: &str, domain: &str| {
        let dds = posemesh_registration_core::BaseUrl::parse(dds).unwrap();
        let uri = format!("http://{domain}/");
        let challenge =
            posemesh_registration_core::SiweChallenge::parse(&challenge(domain, &uri, "abcdefgh"))
                .unwrap();
        challenge.validate(&dds, &[])
    };
    for (dds, domain) in [
        ("http://127.0.0.1:8080", "localhost"),
        ("http://127.0.0.1:8080", "LOCALHOST:8080"),
        ("http://127.0.0.1:8080", "[::1]:8080"),
        ("http://127.0.0.1:8080", "127.0.0.2"),
        ("http://127.0.0.1:8080", "dds.localhost:8080"),
        ("http://[::1]:9000", "127.0.0.1:9000"),
        ("http://localhost", "127.0.0.1:80"),
        ("https://localhost", "localhost:443"),
    ] {
        assert_eq!(check(dds, domain), Ok(()), "{dds} naming itself {domain}");
    }
    for (dds, domain) in [
        ("http://127.0.0.1:8080", "localhost:3000"),
        ("http://127.0.0.1:8080", "[::1]:80"),
        ("http://127.0.0.1:8080", "dds.example.com"),
        ("http://127.0.0.1:8080", "localhost.example.com:8080"),
        ("http://127.0.0.1:8080", "10.0.0.1:8080"),
        ("http://localhost", "127.0.0.1:8080"),
        ("https://dds.test", "localhost"),
        ("https://dds.test", "127.0.0.1:443"),
    ] {
        assert!(
            matches!(
                check(dds, domain),
                Err(posemesh_registration_core::request::ChallengeError::ForeignDomain { .. })
            ),
            "{dds} signed for {domain}"
        );
    }
}

#[test]
fn echoed_credentials_and_escapes_never_leave_the_core() {
    let echo = |pad: usize| {
        format!(
            "{}{{\"detail\":\"bad\",\"input\":{{\"registration_credentials\":\"{REG_SECRET}\",\"key\":\"{KEY_HEX}\",\"upper\":\"{}\"}}}}\x1b[31m\nforged log line",
            "p".repeat(pad),
            KEY_HEX.to_uppercase()
        )
    };
    // Wherever the secret falls relative to the 512-byte snippet cut.
    for pad in [0, 380, 400, 440, 450, 455, 480, 500, 511] {
        let mut sim = Sim::new(legacy_config(), None);
        sim.run_until_transmit(secs(2));
        let outs = sim.respond(422, &[], echo(pad).as_bytes());
        let (_, _, _, failure) = failed_event(&outs);
        let text = failure.message.clone();
        for needle in [
            REG_SECRET,
            "registration-cred",
            "credentials-1",
            &KEY_HEX[..8],
            &KEY_HEX.to_uppercase()[..8],
            "\x1b",
            "\n",
        ] {
            assert!(!text.contains(needle), "pad {pad}: {needle:?} in {text}");
        }
        for event in events(&outs) {
            let shown = format!("{event} {event:?}");
            assert!(!shown.contains(REG_SECRET), "{shown}");
        }
    }
}

#[test]
fn redirects_are_failures_that_name_the_other_host() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(
        307,
        &[("Location", "https://collector.evil.example:8443/steal")],
        b"",
    );
    let (attempt, retry_in, _, failure) = failed_event(&outs);
    assert_eq!(failure.class, FailureClass::RetryLater);
    assert_eq!((attempt, retry_in), (1, TTL));
    assert!(
        failure
            .message
            .contains("redirect to host collector.evil.example not followed"),
        "{}",
        failure.message
    );
    assert!(transmits(&outs).is_empty());
}

#[test]
fn retry_after_zero_keeps_the_backoff() {
    for value in ["0", "1", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let mut sim = Sim::new(legacy_config(), None);
        sim.run_until_transmit(secs(2));
        for n in 1..=5u32 {
            sim.respond(503, &[("Retry-After", value)], b"");
            let failed_at = sim.now;
            sim.run_until_transmit(secs(120));
            assert_backoff(sim.now.saturating_since(failed_at), n);
        }
    }
    // A longer Retry-After still wins over the backoff.
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    sim.respond(503, &[("Retry-After", "30")], b"");
    let failed_at = sim.now;
    sim.run_until_transmit(secs(120));
    let waited = sim.now.saturating_since(failed_at);
    assert!(waited >= secs(30) && waited < secs(31), "{waited:?}");
}

/// DESIGN: `Retry-After` never makes a node retry faster than its backoff.
/// A proxy answering every 503 with `Retry-After: 5` after an outage must not
/// turn a fleet's 60 s backoff into a 5 s one; a short hint is a floor too.
#[test]
fn retry_after_never_shortens_the_backoff_and_is_itself_a_floor() {
    let mut sim = Sim::new(legacy_config(), None);
    sim.run_until_transmit(secs(2));
    for n in 1..=6u32 {
        sim.respond(503, &[], b"");
        let failed_at = sim.now;
        sim.run_until_transmit(secs(120));
        assert_backoff(sim.now.saturating_since(failed_at), n);
    }
    for n in 7..=9u32 {
        sim.respond(503, &[("Retry-After", "5")], b"");
        let failed_at = sim.now;
        sim.run_until_transmit(secs(120));
        assert_backoff(sim.now.saturating_since(failed_at), n);
    }
    // Attempt 1's backoff is 1.6 to 2.4 s: `Retry-After: 2` is never undercut.
    for seed in 0..20 {
        let mut sim = Sim::with_seed(legacy_config(), None, seed, t0());
        sim.run_until_transmit(secs(2));
        sim.respond(429, &[("Retry-After", "2")], b"");
        let failed_at = sim.now;
        sim.run_until_transmit(secs(120));
        let waited = sim.now.saturating_since(failed_at);
        assert!(
            waited >= secs(2) && waited < secs(3),
            "seed {seed}: {waited:?}"
        );
    }
}

#[test]
fn probes_persist_at_most_every_quarter_ttl() {
    let mut sim = registered_sim(legacy_config());
    let mut persisted = 0;
    // One probe a second for a minute.
    for _ in 0..60 {
        sim.elapse(secs(1));
        let (_, outs) = sim.node_request("GET", "/health", &[("User-Agent", "DDS v1")], b"");
        persisted += persists(&outs).len();
    }
    // TTL 60 s: at most one write per 15 s.
    assert!((4..=5).contains(&persisted), "{persisted} writes");
    assert_eq!(sim.reg.status(), Status::Registered);
    assert_eq!(sim.reg.snapshot().last_health_check, Some(sim.now));
}

#[test]
fn a_worker_that_is_not_registered_never_writes_on_a_probe() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    sim.lock(LockOutcome::Busy);
    let (response, outs) = sim.node_request("GET", "/health", &[("User-Agent", "DDS v1")], b"");
    assert_eq!(response.status, 200);
    assert!(persists(&outs).is_empty());
}

#[test]
fn config_rules() {
    use posemesh_registration_core::ConfigError;
    let mut config = legacy_config();
    assert_eq!(config.validate(), Ok(()));
    config.request_timeout = Duration::ZERO;
    assert_eq!(config.validate(), Err(ConfigError::ZeroRequestTimeout));
    let mut config = legacy_config();
    config.register_interval = ms(999);
    assert_eq!(config.validate(), Err(ConfigError::IntervalTooShort));
    for good in ["dds.example.com", "dds.example.com:443", "[::1]:8080"] {
        let mut config = wallet_config();
        config.siwe_domains = vec![good.into()];
        assert_eq!(config.validate(), Ok(()), "{good}");
    }
    for bad in [
        "",
        "https://dds.example.com",
        "dds.example.com/",
        "a b",
        "u@dds",
    ] {
        let mut config = wallet_config();
        config.siwe_domains = vec!["dds.example.com".into(), bad.into()];
        assert_eq!(config.validate(), Err(ConfigError::SiweDomain), "{bad:?}");
    }
    let new = |caps: Vec<String>, secret: &str| {
        posemesh_registration_core::RegistrarConfig::new(
            DDS,
            Flow::Wallet,
            "1",
            caps,
            secret.into(),
        )
        .map(|_| ())
    };
    let mut no_secret = posemesh_registration_core::RegistrarConfig::new(
        DDS,
        Flow::Wallet,
        "1",
        vec!["/a".into()],
        "".into(),
    )
    .unwrap();
    no_secret.allow_plaintext_dds = true;
    assert_eq!(no_secret.validate(), Err(ConfigError::EmptyCredentials));
    // A secret too short to redact safely: one letter would be cut out of
    // every word of every message that is redacted of it.
    for (secret, ok) in [("e", false), ("abc", false), ("ab€", true), ("abcd", true)] {
        let mut config = no_secret.clone();
        config.node.credentials = secret.into();
        let expected = if ok {
            Ok(())
        } else {
            Err(ConfigError::ShortCredentials)
        };
        assert_eq!(config.validate(), expected, "{secret:?}");
    }
    assert_eq!(ConfigError::ShortCredentials.code(), "short_credentials");
    assert_eq!(
        new(vec![" ".into()], "s"),
        Err(ConfigError::BlankCapability)
    );
    assert_eq!(new(vec![], "s"), Err(ConfigError::NoCapabilities));
}

#[test]
fn flow_options_have_one_rule() {
    use posemesh_registration_core::registrar::{count_option, duration_option, TimeUnit};
    use posemesh_registration_core::ConfigError;
    assert_eq!(Flow::from_options(None, None), Ok(Flow::Wallet));
    assert_eq!(
        Flow::from_options(Some("wallet"), Some("")),
        Ok(Flow::Wallet)
    );
    assert_eq!(
        Flow::from_options(None, Some("http://127.0.0.1:1")),
        Err(ConfigError::NodeUrlWithWallet)
    );
    assert_eq!(
        Flow::from_options(Some("legacy"), Some("http://127.0.0.1:1")),
        Ok(Flow::Legacy {
            node_url: "http://127.0.0.1:1".into()
        })
    );
    assert_eq!(
        Flow::from_options(Some("legacy"), None),
        Err(ConfigError::MissingNodeUrl)
    );
    assert_eq!(
        Flow::from_options(Some("siwe"), None),
        Err(ConfigError::UnknownFlow)
    );
    // A builder's options: a node URL without a flow is the legacy request it signs;
    // a registrar's keep the one rule (the wallet flow takes no node URL).
    let with_node_url = || posemesh_registration_core::registrar::Options {
        dds_url: "http://127.0.0.1:1".into(),
        node_url: Some("http://127.0.0.1:2".into()),
        version: "1.0.0".into(),
        capabilities: vec!["/a/v1".into()],
        credentials: "registration-credentials".into(),
        ..Default::default()
    };
    assert_eq!(
        with_node_url().request_config().map(|c| c.flow),
        Ok(Flow::Legacy {
            node_url: "http://127.0.0.1:2".into()
        })
    );
    assert_eq!(
        with_node_url().config().map(|c| c.flow),
        Err(ConfigError::NodeUrlWithWallet)
    );
    // Numbers, one rule for every binding: named in errors as the caller spells them.
    let seconds = |value| duration_option("interval", value, TimeUnit::Seconds);
    let millis = |value| duration_option("requestTimeoutMs", value, TimeUnit::Millis);
    assert_eq!(
        seconds(-1.0),
        Ok(Duration::ZERO),
        "validate() refuses it by its rule"
    );
    assert_eq!(seconds(1.5), Ok(ms(1500)));
    assert_eq!(seconds(1e300), Ok(secs(365 * 24 * 3600)), "a year at most");
    assert_eq!(millis(-0.5), Ok(Duration::ZERO));
    assert_eq!(millis(1500.0), Ok(ms(1500)));
    for refused in [
        seconds(f64::NAN),
        seconds(f64::INFINITY),
        seconds(f64::NEG_INFINITY),
    ] {
        let err = refused.unwrap_err();
        assert_eq!(err.code(), "invalid_option");
        assert_eq!(
            err.to_string(),
            "interval must be a finite number of seconds"
        );
    }
    for value in [0.5, f64::NAN, f64::INFINITY, 1e300] {
        assert_eq!(
            millis(value).unwrap_err().to_string(),
            "requestTimeoutMs must be a whole number of milliseconds"
        );
    }
    assert_eq!(count_option("maxRetry", 3.0), Ok(3));
    for value in [-1.0, 0.5, f64::NAN, 4294967296.0] {
        let err = count_option("max_retry", value).unwrap_err();
        assert!(err.to_string().starts_with("max_retry must be"), "{err}");
    }
}

#[test]
fn events_carry_upstreams_fields() {
    use posemesh_registration_core::FieldValue::{Int, Text};
    let mut sim = Sim::new(legacy_config(), None);
    let outs = sim.run_until_transmit(secs(2));
    let _ = outs;
    let logged: Vec<Output> = sim.log.iter().map(|r| r.output.clone()).collect();
    let started = events(&logged)
        .into_iter()
        .find(|e| e.name() == "registration.attempt")
        .expect("one line per attempt");
    assert!(started.to_string().starts_with("Registering node with DDS"));
    assert_eq!(started.fields()[0], ("attempt", Int(1)));
    let outs = sim.respond(503, &[], b"busy");
    let failed = events(&outs)
        .into_iter()
        .find(|e| e.name() == "registration.error")
        .unwrap();
    let fields = failed.fields();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("attempt"), Some(Int(1)));
    assert_eq!(get("status"), Some(Text("503 Service Unavailable".into())));
    assert!(matches!(get("error"), Some(Text(e)) if e.contains("busy")));
    assert!(matches!(get("retry_in_ms"), Some(Int(ms)) if (1600..=2400).contains(&ms)));
    sim.run_until_transmit(secs(5));
    let outs = sim.respond(200, &[], b"");
    let ok = events(&outs)
        .into_iter()
        .find(|e| e.name() == "registration.success")
        .unwrap();
    assert_eq!(ok.fields()[0].0, "elapsed_ms");
}

/// Anyone who reaches the node's port can post callbacks as often as they like: each is
/// refused and reported, but as a warning at most once per WARN_INTERVAL, the next warning
/// counting those reported at debug level in between.
#[test]
fn rejected_callbacks_warn_at_most_once_per_interval() {
    use posemesh_registration_core::registrar::WARN_INTERVAL;
    let mut sim = Sim::new(legacy_config(), None);
    let forged = br#"{"id":"forged","secret":"forged-secret"}"#;
    let post = |sim: &mut Sim| {
        let (response, outs) = sim.node_request("POST", CALLBACK, &[], forged);
        assert_eq!(response.status, 409, "no attempt is pending");
        let rejected: Vec<(Level, u32)> = events(&outs)
            .into_iter()
            .filter_map(|e| match &e {
                Event::CallbackRejected { suppressed, .. } => Some((e.level(), *suppressed)),
                _ => None,
            })
            .collect();
        assert_eq!(rejected.len(), 1, "each refusal is reported");
        rejected[0]
    };
    assert_eq!(post(&mut sim), (Level::Warn, 0));
    for _ in 0..4 {
        sim.elapse(secs(1));
        assert_eq!(post(&mut sim), (Level::Debug, 0));
    }
    sim.elapse(WARN_INTERVAL);
    assert_eq!(
        post(&mut sim),
        (Level::Warn, 4),
        "the next warning counts the quiet ones"
    );
    assert_eq!(post(&mut sim).0, Level::Debug);
}

#[test]
fn wallet_renewal_under_a_shared_snapshot_takes_the_lock_and_stays_registered() {
    let mut config = wallet_config();
    config.use_lock = true;
    let mut sim = Sim::new(config, None);
    // Register under the lock.
    for _ in 0..10 {
        if sim.lock_requested {
            break;
        }
        sim.advance_to_event();
    }
    assert!(sim.lock_requested, "the first attempt asks for the lock");
    sim.lock(LockOutcome::Acquired { fresh: None });
    sim.respond(200, &[], &challenge_json("n0nce1"));
    sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
    let registered = sim.reg.snapshot();

    // A TTL later the renewal asks for the lock again; the stored snapshot is
    // this worker's own, older than a TTL: it renews, still registered.
    let mut outs = Vec::new();
    while !sim.lock_requested {
        outs.extend(sim.advance_to_event());
    }
    let outs_lock = sim.lock(LockOutcome::Acquired {
        fresh: Some(registered),
    });
    outs.extend(outs_lock);
    assert!(
        sim.in_flight.is_some(),
        "the renewal's nonce request: {outs:?}"
    );
    let names = event_names(&outs);
    assert!(!names.contains(&"healthcheck.expired"), "{names:?}");
    assert!(!names.contains(&"status.transition"), "{names:?}");
    assert_eq!(sim.reg.status(), Status::Registered);
    sim.respond(200, &[], &challenge_json("n0nce2"));
    let outs = sim.respond(200, &[], b"{}");
    assert!(event_names(&outs).contains(&"registration.success"));
    assert!(outs.contains(&Output::ReleaseLock), "{outs:?}");
}
