//! A wallet-flow registrar whose key the host keeps (a wallet SDK, a
//! hardware-backed key): it asks for the one signature an attempt needs with
//! `Output::Sign` and never signs itself.

mod common;

use common::*;
use posemesh_registration_core::{
    keys, ConfigError, Event, FailureClass, Output, Registrar, RegistrarConfig, SignRequest, Status,
};
use serde_json::Value;

fn remote_sim(config: RegistrarConfig) -> Sim {
    let reg = Registrar::with_remote_signer(config, KEY_ADDRESS, None, t0(), SEED).unwrap();
    Sim::from_registrar(reg, t0())
}

fn sign_requests(outputs: &[Output]) -> Vec<SignRequest> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Sign(request) => Some(request.clone()),
            _ => None,
        })
        .collect()
}

/// Runs to the signing step: the nonce request, then the challenge.
fn ask_for_signature(sim: &mut Sim) -> SignRequest {
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(200, &[], &challenge_json("n0nce42x"));
    assert!(
        transmits(&outs).is_empty(),
        "nothing is sent before the signature"
    );
    let asked = sign_requests(&outs);
    assert_eq!(asked.len(), 1, "one signature per attempt: {outs:?}");
    asked.into_iter().next().unwrap()
}

fn failure_of(outputs: &[Output]) -> posemesh_registration_core::Failure {
    events(outputs)
        .into_iter()
        .find_map(|e| match e {
            Event::RegistrationFailed { failure, .. } => Some(failure),
            _ => None,
        })
        .expect("the attempt fails")
}

#[test]
fn a_remote_signer_signs_the_siwe_message_and_the_dds_gets_its_signature() {
    let mut sim = remote_sim(wallet_config());
    assert_eq!(sim.reg.address(), KEY_ADDRESS);
    assert!(sim.reg.signer().is_none(), "the registrar holds no key");
    let asked = ask_for_signature(&mut sim);
    assert!(
        asked.message.contains(&format!("\n{KEY_ADDRESS}\n")),
        "the message names the signer's address: {}",
        asked.message
    );
    assert!(asked.message.contains("Nonce: n0nce42x"));
    assert_eq!(asked.timeout, wallet_config().request_timeout);

    // The host's signer (here a key the registrar never saw) answers with
    // v as 0/1, as some wallets do.
    let mut signature = hex::decode(
        key()
            .sign_eip191(asked.message.as_bytes())
            .trim_start_matches("0x"),
    )
    .unwrap();
    signature[64] -= 27;
    sim.reg.handle_signature(asked.id, Ok(signature), sim.now);
    let outs = sim.drain();
    let sent = transmits(&outs);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].request.url,
        "http://dds.test/internal/v1/nodes/register-wallet"
    );
    let body: Value = serde_json::from_slice(&sent[0].request.body).unwrap();
    assert_eq!(body["message"], asked.message.as_str());
    let sent_signature = body["signature"].as_str().unwrap();
    assert!(
        sent_signature.ends_with("1b") || sent_signature.ends_with("1c"),
        "v as 27/28"
    );
    assert_eq!(
        keys::recover_eip191_signer(asked.message.as_bytes(), sent_signature).unwrap(),
        KEY_ADDRESS
    );
    assert_eq!(body["registration_credentials"], REG_SECRET);

    let outs = sim.respond(200, &[], b"{}");
    assert_eq!(sim.reg.status(), Status::Registered);
    assert!(event_names(&outs).contains(&"registration.success"));
}

#[test]
fn a_signature_by_another_key_fails_the_attempt_and_nothing_is_sent() {
    let mut sim = remote_sim(wallet_config());
    let asked = ask_for_signature(&mut sim);
    let other = posemesh_registration_core::PrivateKey::from_bytes(&[7; 32]).unwrap();
    let forged = hex::decode(
        other
            .sign_eip191(asked.message.as_bytes())
            .trim_start_matches("0x"),
    )
    .unwrap();
    sim.reg.handle_signature(asked.id, Ok(forged), sim.now);
    let outs = sim.drain();
    assert!(
        transmits(&outs).is_empty(),
        "a foreign signature is never sent"
    );
    let failure = failure_of(&outs);
    assert_eq!(failure.class, FailureClass::RetryFast);
    assert!(
        failure.message.contains(&other.eth_address()),
        "{}",
        failure.message
    );
    assert_eq!(sim.reg.status(), Status::Registering);
    // The next attempt starts over, with a fresh nonce and a new request for a signature.
    let asked_again = ask_for_signature(&mut sim);
    assert_ne!(asked_again.id, asked.id);
}

#[test]
fn a_refusal_or_a_malformed_signature_fails_the_attempt_with_its_reason() {
    for (answer, expected) in [
        (Err("the user declined".to_owned()), "the user declined"),
        (Ok(vec![1, 2, 3]), "65 bytes"),
        (Ok(vec![0; 65]), "signature"),
    ] {
        let mut sim = remote_sim(wallet_config());
        let asked = ask_for_signature(&mut sim);
        sim.reg.handle_signature(asked.id, answer, sim.now);
        let outs = sim.drain();
        assert!(transmits(&outs).is_empty());
        let failure = failure_of(&outs);
        assert!(
            failure
                .message
                .starts_with("the remote signer did not sign: ")
                && failure.message.contains(expected),
            "{}",
            failure.message
        );
    }
}

#[test]
fn a_signer_that_never_answers_times_out_like_a_request_and_its_late_answer_is_ignored() {
    let mut sim = remote_sim(wallet_config());
    let asked = ask_for_signature(&mut sim);
    assert!(sim.reg.has_request_in_flight());
    assert_eq!(
        sim.wake,
        sim.now + asked.timeout,
        "woken at the signer's deadline"
    );
    let outs = sim.advance_to_wake();
    let failure = failure_of(&outs);
    assert!(failure
        .message
        .contains("no signature within the request timeout"));
    assert!(!sim.reg.has_request_in_flight());

    let signature = hex::decode(
        key()
            .sign_eip191(asked.message.as_bytes())
            .trim_start_matches("0x"),
    )
    .unwrap();
    sim.reg.handle_signature(asked.id, Ok(signature), sim.now);
    let outs = sim.drain();
    assert!(transmits(&outs).is_empty());
    assert_eq!(event_names(&outs), vec!["response.ignored"]);
}

#[test]
fn a_response_is_never_taken_for_a_signature_nor_a_signature_for_a_response() {
    let mut sim = remote_sim(wallet_config());
    let asked = ask_for_signature(&mut sim);
    // An HTTP answer with the signing step's id is stale.
    sim.reg.handle_response(
        asked.id,
        Ok(posemesh_registration_core::HttpResponse {
            status: 200,
            headers: vec![],
            body: b"{}".to_vec(),
        }),
        sim.now,
    );
    let outs = sim.drain();
    assert_eq!(event_names(&outs), vec!["response.ignored"]);
    assert_eq!(sim.reg.status(), Status::Registering);
    assert!(
        sim.reg.has_request_in_flight(),
        "still waiting for the signature"
    );
}

#[test]
fn a_remote_signer_is_refused_for_the_legacy_flow_and_for_a_malformed_address() {
    let legacy = Registrar::with_remote_signer(legacy_config(), KEY_ADDRESS, None, t0(), SEED);
    assert_eq!(legacy.err(), Some(ConfigError::RemoteSignerNeedsWallet));
    for address in [
        "",
        "0x1234",
        "fdbb6caf01414300c16ea14859fec7736d95355f",
        "0xzz",
    ] {
        let built = Registrar::with_remote_signer(wallet_config(), address, None, t0(), SEED);
        assert_eq!(built.err(), Some(ConfigError::SignerAddress), "{address:?}");
    }
    // Any case, surrounding spaces: the address the DDS sees is lowercase.
    let upper = format!("  0x{}  ", KEY_ADDRESS[2..].to_ascii_uppercase());
    let reg = Registrar::with_remote_signer(wallet_config(), &upper, None, t0(), SEED).unwrap();
    assert_eq!(reg.address(), KEY_ADDRESS);
}

#[test]
fn a_signers_refusal_never_shows_the_registration_credentials() {
    let mut sim = remote_sim(wallet_config());
    let asked = ask_for_signature(&mut sim);
    let reason = format!("wallet rejected a request carrying {REG_SECRET}");
    sim.reg.handle_signature(asked.id, Err(reason), sim.now);
    let outs = sim.drain();
    let failure = failure_of(&outs);
    assert!(
        failure.message.contains("wallet rejected"),
        "{}",
        failure.message
    );
    for event in events(&outs) {
        for shown in [event.to_string(), format!("{event:?}")] {
            assert!(!shown.contains(REG_SECRET), "{shown}");
        }
    }
}
