//! The node's DDS session: a bearer token from signing in with the node's
//! key, refreshed at 75 % of its lifetime, retried three times, replaced when
//! refused, and a new registration when the DDS no longer knows the node.

mod common;

use common::*;
use posemesh_registration_core::registrar::session::{
    parse_verify_answer, REFRESH_JITTER, SIGN_IN_PAUSE,
};
use posemesh_registration_core::{
    keys, Event, Output, Registrar, Status, UnixTime, SIGN_IN_RETRIES, SIWE_VERIFY_PATH,
};
use serde_json::Value;

/// The wallet flow, renewing only every 4 h: the renewals (every interval)
/// stay out of the sign-ins these tests follow.
fn config() -> posemesh_registration_core::RegistrarConfig {
    let mut config = wallet_config();
    config.register_interval = secs(4 * 3600);
    config
}

/// A wallet-flow registrar, registered, with a token asked for.
fn registered() -> Sim {
    let mut sim = Sim::new(config(), None);
    register(&mut sim);
    assert_eq!(sim.reg.access_token(sim.now), None, "nothing signed in yet");
    sim.drain();
    sim
}

/// Answers a wallet registration in flight: the challenge, then 200.
fn register(sim: &mut Sim) {
    sim.run_until_transmit(secs(2));
    sim.respond(200, &[], &challenge_json("regn0nce1"));
    sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
}

fn token_json(token: &str, expires_at: UnixTime) -> Vec<u8> {
    format!(r#"{{"access_token":"{token}","access_expires_at":"{expires_at}"}}"#).into_bytes()
}

/// Answers the sign-in's challenge; returns the verify request's JSON body.
fn answer_challenge(sim: &mut Sim) -> Value {
    let request = sim.in_flight.as_ref().expect("a sign-in").0.clone();
    assert!(
        request
            .request
            .url
            .ends_with("/internal/v1/auth/siwe/request"),
        "a sign-in starts with the SIWE challenge: {}",
        request.request.url
    );
    let outs = sim.respond(200, &[], &challenge_json("sessn0nce"));
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1, "{outs:?}");
    assert_eq!(
        sent[0].request.url,
        format!("{DDS}{SIWE_VERIFY_PATH}"),
        "then verify"
    );
    serde_json::from_slice(&sent[0].request.body).unwrap()
}

fn sign_in(sim: &mut Sim, token: &str, lifetime: std::time::Duration) -> Vec<Output> {
    sim.run_until_transmit(secs(120));
    answer_challenge(sim);
    let expires_at = sim.now + lifetime;
    sim.respond(200, &[], &token_json(token, expires_at))
}

fn session_failures(outputs: &[Output]) -> Vec<Event> {
    events(outputs)
        .into_iter()
        .filter(|e| matches!(e, Event::SessionFailed { .. }))
        .collect()
}

#[test]
fn signs_in_with_the_node_key_once_registered_and_asked() {
    let mut sim = Sim::new(config(), None);
    // Asked before registering: the sign-in waits for the registration.
    assert_eq!(sim.reg.access_token(sim.now), None);
    sim.run_until_transmit(secs(2));
    assert!(sim
        .in_flight
        .as_ref()
        .unwrap()
        .0
        .request
        .url
        .ends_with("/siwe/request"));
    sim.respond(200, &[], &challenge_json("regn0nce1"));
    let outs = sim.respond(200, &[], b"{}");
    // Registered: the sign-in follows at once.
    assert!(
        transmits(&outs)
            .iter()
            .any(|t| t.request.url.ends_with("/siwe/request")),
        "{outs:?}"
    );
    let body = answer_challenge(&mut sim);
    assert_eq!(body["address"], KEY_ADDRESS);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Nonce: sessn0nce"), "{message}");
    assert!(message.contains(&format!("\n{KEY_ADDRESS}\n")), "{message}");
    let signature =
        hex::decode(body["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    keys::accept_eip191_signature(message.as_bytes(), &signature, KEY_ADDRESS)
        .expect("signed EIP-191 by the node's key");

    let outs = sim.respond(200, &[], &token_json("tok-1", sim.now + secs(3600)));
    assert!(events(&outs).contains(&Event::SessionSignedIn {
        expires_in: secs(3600)
    }));
    let token = sim.reg.access_token(sim.now).expect("a token");
    assert_eq!(token.expose(), "tok-1");
    assert_eq!(token.expires_at(), sim.now + secs(3600));
}

#[test]
fn never_signs_in_unless_asked() {
    let mut sim = Sim::new(config(), None);
    register(&mut sim);
    let outs = sim.run_until(sim.now + secs(3 * 3600));
    assert!(
        !transmits(&outs)
            .iter()
            .any(|t| t.request.url.ends_with(SIWE_VERIFY_PATH)),
        "{outs:?}"
    );
}

#[test]
fn refreshes_at_three_quarters_of_the_lifetime_with_at_most_half_a_second_of_jitter() {
    for seed in 0..20 {
        let mut sim = Sim::with_seed(config(), None, seed, t0());
        register(&mut sim);
        sim.reg.access_token(sim.now);
        sim.drain();
        sign_in(&mut sim, "tok-1", secs(3600));
        let signed_in = sim.now;
        // The token stays usable (and the same) until the refresh.
        let next = sim.run_until_transmit(secs(3600));
        let refreshed_after = sim.now.saturating_since(signed_in);
        assert!(next.request.url.ends_with("/siwe/request"));
        assert!(
            refreshed_after >= secs(2700) && refreshed_after <= secs(2700) + REFRESH_JITTER,
            "seed {seed}: refreshed {refreshed_after:?} after signing in"
        );
        // While the refresh runs a looping host still gets the old token.
        assert_eq!(sim.reg.access_token(sim.now).unwrap().expose(), "tok-1");
        answer_challenge(&mut sim);
        sim.respond(200, &[], &token_json("tok-2", sim.now + secs(3600)));
        assert_eq!(sim.reg.access_token(sim.now).unwrap().expose(), "tok-2");
    }
}

#[test]
fn a_short_lived_token_is_refreshed_before_it_expires() {
    let mut sim = registered();
    sign_in(&mut sim, "tok-1", ms(800));
    let signed_in = sim.now;
    sim.run_until_transmit(secs(1));
    assert!(
        sim.now.saturating_since(signed_in) < ms(800),
        "jitter never passes the expiry"
    );
}

#[test]
fn a_failed_sign_in_is_retried_three_times_then_the_round_fails() {
    let mut sim = registered();
    let mut failures = Vec::new();
    let mut tried_at = Vec::new();
    for _ in 0..=SIGN_IN_RETRIES {
        sim.run_until_transmit(secs(120));
        tried_at.push(sim.now);
        answer_challenge(&mut sim);
        let outs = sim.respond(500, &[], br#"{"error":"boom"}"#);
        failures.extend(session_failures(&outs));
    }
    assert_eq!(failures.len(), 4);
    for (n, failure) in failures.iter().enumerate() {
        let Event::SessionFailed {
            attempt,
            ends_round,
            failure,
            ..
        } = failure
        else {
            unreachable!()
        };
        assert_eq!(*attempt as usize, n + 1);
        assert_eq!(*ends_round, n == 3, "the fourth failure ends the round");
        assert_eq!(failure.status, Some(500));
    }
    assert!(failures[3].session_result().unwrap().is_err());
    assert!(
        failures[2].session_result().is_none(),
        "waiters keep waiting during retries"
    );
    // Backoff 1 s, 2 s, 4 s (× 0.8..1.2) between tries.
    for (n, pair) in tried_at.windows(2).enumerate() {
        let gap = pair[1].saturating_since(pair[0]).as_secs_f64();
        let base = f64::from(1u32 << n);
        assert!(
            gap >= base * 0.8 && gap <= base * 1.2 + 0.01,
            "gap {n}: {gap}"
        );
    }
    // The next round starts after the pause...
    let failed_at = sim.now;
    sim.run_until_transmit(SIGN_IN_PAUSE + secs(1));
    assert_eq!(sim.now.saturating_since(failed_at), SIGN_IN_PAUSE);
}

#[test]
fn asked_again_after_a_failed_round_tries_at_once() {
    let mut sim = registered();
    for _ in 0..=SIGN_IN_RETRIES {
        sim.run_until_transmit(secs(120));
        answer_challenge(&mut sim);
        sim.respond(503, &[], b"down");
    }
    sim.elapse(secs(1));
    assert_eq!(sim.reg.access_token(sim.now), None);
    let outs = sim.drain();
    assert_eq!(transmits(&outs).len(), 1, "a new round at once: {outs:?}");
}

#[test]
fn retry_after_is_a_floor_for_the_next_sign_in() {
    let mut sim = registered();
    sim.run_until_transmit(secs(2));
    answer_challenge(&mut sim);
    let failed_at = sim.now;
    sim.respond(503, &[("retry-after", "30")], b"busy");
    sim.run_until_transmit(secs(60));
    assert!(sim.now.saturating_since(failed_at) >= secs(30));
}

#[test]
fn forbidden_or_not_found_from_verify_registers_again_then_signs_in() {
    for status in [403, 404] {
        let mut sim = registered();
        sim.run_until_transmit(secs(2));
        answer_challenge(&mut sim);
        let outs = sim.respond(status, &[], br#"{"error":"unknown node"}"#);
        let names = event_names(&outs);
        assert!(names.contains(&"session.error"), "{names:?}");
        assert!(names.contains(&"registration.rearm"), "{names:?}");
        assert_ne!(sim.reg.status(), Status::Registered, "{status}");
        // The registration comes first, then the sign-in.
        let next = sim.run_until_transmit(secs(2));
        assert!(next.request.url.ends_with("/siwe/request"));
        sim.respond(200, &[], &challenge_json("regn0nce2"));
        assert!(sim
            .in_flight
            .as_ref()
            .unwrap()
            .0
            .request
            .url
            .ends_with("/register-wallet"));
        let outs = sim.respond(200, &[], b"{}");
        assert_eq!(sim.reg.status(), Status::Registered);
        assert!(
            transmits(&outs)
                .iter()
                .any(|t| t.request.url.ends_with("/siwe/request")),
            "{outs:?}"
        );
    }
}

#[test]
fn a_refused_token_is_replaced_by_one_sign_in_however_many_report_it() {
    let mut sim = registered();
    sign_in(&mut sim, "tok-1", secs(3600));
    sim.elapse(secs(5));
    sim.reg.access_token_refused("some-other-token", sim.now);
    assert!(
        transmits(&sim.drain()).is_empty(),
        "another token is ignored"
    );
    for _ in 0..100 {
        sim.reg.access_token_refused("tok-1", sim.now);
    }
    assert_eq!(
        sim.reg.access_token(sim.now),
        None,
        "the refused token is gone"
    );
    let outs = sim.drain();
    assert_eq!(transmits(&outs).len(), 1, "one sign-in: {outs:?}");
    answer_challenge(&mut sim);
    sim.respond(200, &[], &token_json("tok-2", sim.now + secs(3600)));
    // A late report of the old token changes nothing.
    sim.reg.access_token_refused("tok-1", sim.now);
    assert_eq!(sim.reg.access_token(sim.now).unwrap().expose(), "tok-2");
}

#[test]
fn a_host_without_a_loop_gets_no_token_once_the_refresh_is_due() {
    let mut sim = registered();
    sign_in(&mut sim, "tok-1", secs(100));
    sim.reg.set_looping(false);
    sim.elapse(secs(74));
    assert!(sim.reg.access_token(sim.now).is_some());
    sim.elapse(secs(2));
    assert_eq!(
        sim.reg.access_token(sim.now),
        None,
        "it drives the refresh itself"
    );
}

#[test]
fn unusable_answers_fail_the_sign_in() {
    let cases: [&[u8]; 5] = [
        br#"{"access_expires_at":"2030-01-01T00:00:00Z"}"#,
        br#"{"access_token":"","access_expires_at":"2030-01-01T00:00:00Z"}"#,
        br#"{"access_token":"t"}"#,
        br#"{"access_token":"t","access_expires_at":"tomorrow"}"#,
        b"not json",
    ];
    for body in cases {
        let mut sim = registered();
        sim.run_until_transmit(secs(2));
        answer_challenge(&mut sim);
        let outs = sim.respond(200, &[], body);
        assert_eq!(
            session_failures(&outs).len(),
            1,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(sim.reg.access_token(sim.now), None);
    }
    // Older servers name the expiry `expires_at`.
    let token = parse_verify_answer(br#"{"access_token":"t","expires_at":"2030-01-01T00:00:00Z"}"#)
        .unwrap();
    assert_eq!(
        token.expires_at(),
        UnixTime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap()
    );
    // A token already expired (the clocks are apart) is no token.
    let mut sim = registered();
    sim.run_until_transmit(secs(2));
    answer_challenge(&mut sim);
    let outs = sim.respond(200, &[], &token_json("t", sim.now));
    assert_eq!(session_failures(&outs).len(), 1);
}

#[test]
fn the_token_is_never_shown() {
    let mut sim = registered();
    sim.run_until_transmit(secs(2));
    answer_challenge(&mut sim);
    // A server that echoes a token in an error body.
    let outs = sim.respond(500, &[], br#"{"access_token":"tok-echoed-secret"}"#);
    let shown = format!(
        "{outs:?} {:?}",
        events(&outs)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert!(!shown.contains("tok-echoed-secret"), "{shown}");
    let outs = sign_in(&mut sim, "tok-very-secret", secs(3600));
    let token = sim.reg.access_token(sim.now).unwrap();
    let shown = format!(
        "{outs:?} {:?} {token:?} {token} {:?} {:?}",
        events(&outs)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        sim.reg,
        sim.reg.snapshot()
    );
    assert!(!shown.contains("tok-very-secret"), "{shown}");
    assert!(!String::from_utf8_lossy(&sim.reg.snapshot().encode()).contains("tok-very-secret"));
}

#[test]
fn a_remote_signer_signs_the_sign_in() {
    let reg = Registrar::with_remote_signer(config(), KEY_ADDRESS, None, t0(), SEED).unwrap();
    let mut sim = Sim::from_registrar(reg, t0());
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(200, &[], &challenge_json("regn0nce1"));
    let sign = |outs: &[Output]| {
        outs.iter()
            .find_map(|o| match o {
                Output::Sign(request) => Some(request.clone()),
                _ => None,
            })
            .expect("asks the signer")
    };
    let asked = sign(&outs);
    let signature = hex::decode(
        key()
            .sign_eip191(asked.message.as_bytes())
            .trim_start_matches("0x"),
    )
    .unwrap();
    sim.reg.handle_signature(asked.id, Ok(signature), sim.now);
    sim.drain();
    sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.access_token(sim.now), None);
    sim.drain();
    let outs = sim.respond(200, &[], &challenge_json("sessn0nce"));
    let asked = sign(&outs);
    assert!(asked.message.contains("Nonce: sessn0nce"));
    // A signature by another key is refused like a failed sign-in.
    let other = posemesh_registration_core::PrivateKey::from_bytes(&[7; 32]).unwrap();
    let forged = hex::decode(
        other
            .sign_eip191(asked.message.as_bytes())
            .trim_start_matches("0x"),
    )
    .unwrap();
    sim.reg.handle_signature(asked.id, Ok(forged), sim.now);
    let outs = sim.drain();
    assert_eq!(session_failures(&outs).len(), 1, "{outs:?}");
    assert!(transmits(&outs).is_empty());
}

#[test]
fn an_unanswered_verify_times_out_and_is_retried() {
    let mut sim = registered();
    sim.run_until_transmit(secs(2));
    answer_challenge(&mut sim);
    let outs = sim.advance_to_wake();
    assert_eq!(session_failures(&outs).len(), 1, "{outs:?}");
    sim.run_until_transmit(secs(3));
}
