//! No secret in any `Debug`, `Display` or error text: the private key (in any
//! spelling), the registration credentials, the secret the DDS hands over.

mod common;

use common::*;
use posemesh_registration_core::callback::{parse_registration_callback, CallbackRejection};
use posemesh_registration_core::request::{self, ChallengeError};
use posemesh_registration_core::snapshot::MAX_SNAPSHOT_BYTES;
use posemesh_registration_core::{
    BaseUrl, ConfigError, DdsCredentials, Flow, KeyError, LockOutcome, NodeDescription, Output,
    PrivateKey, RegistrarConfig, RegistrationCallback, Secret, SiweChallenge, Snapshot,
    SnapshotError, TransportErrorKind,
};
use std::fmt::{Debug, Display};

const SECRET_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
const REG_CREDENTIALS: &str = "regcred-Zq8vX1-never-print";
const DDS_SECRET: &str = "dds-cb-secret-K7yw3R-never-print";

fn forbidden() -> Vec<String> {
    let upper = SECRET_KEY.to_uppercase();
    vec![
        SECRET_KEY.to_owned(),
        upper.clone(),
        format!("0x{SECRET_KEY}"),
        format!("0x{upper}"),
        // Any sizeable piece of the key.
        SECRET_KEY[..16].to_owned(),
        SECRET_KEY[24..40].to_owned(),
        SECRET_KEY[48..].to_owned(),
        upper[..16].to_owned(),
        REG_CREDENTIALS.to_owned(),
        DDS_SECRET.to_owned(),
        "never-print".to_owned(),
    ]
}

fn check_text(what: &str, text: &str) {
    for needle in forbidden() {
        assert!(!text.contains(&needle), "{what} shows {needle:?}: {text}");
    }
}

fn check_debug(what: &str, value: &impl Debug) {
    check_text(what, &format!("{value:?}"));
    check_text(what, &format!("{value:#?}"));
}

fn check_both(what: &str, value: &(impl Debug + Display)) {
    check_debug(what, value);
    check_text(what, &value.to_string());
}

fn the_key() -> PrivateKey {
    PrivateKey::from_hex(SECRET_KEY).unwrap()
}

fn node() -> NodeDescription {
    NodeDescription {
        version: "1.2.3".into(),
        capabilities: vec!["/reconstruction/global-refinement/v1".into()],
        credentials: REG_CREDENTIALS.into(),
    }
}

fn config(flow: Flow) -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        "https://dds.example.com",
        flow,
        "1.2.3",
        vec!["/reconstruction/global-refinement/v1".into()],
        REG_CREDENTIALS.into(),
    )
    .unwrap();
    config.use_lock = true;
    config.max_retry = Some(2);
    // The shared challenge names dds.test: a domain the configuration trusts.
    config.siwe_domains = vec!["dds.test".into()];
    config
}

fn legacy() -> Flow {
    Flow::Legacy {
        node_url: "https://node.example.com".into(),
    }
}

#[test]
fn the_test_can_see_a_leak() {
    // Guard against a vacuous check: the forbidden strings are where they must be.
    let key = the_key();
    assert_eq!(hex::encode(*key.to_bytes()), SECRET_KEY);
    let body = request::legacy_registration_request(
        &BaseUrl::parse("https://dds.example.com").unwrap(),
        "https://node.example.com",
        &node(),
        &key,
        t0(),
    )
    .body;
    assert!(String::from_utf8(body).unwrap().contains(REG_CREDENTIALS));
    let result = std::panic::catch_unwind(|| check_text("probe", &format!("x{SECRET_KEY}x")));
    assert!(result.is_err());
    let result = std::panic::catch_unwind(|| check_text("probe", &SECRET_KEY.to_uppercase()));
    assert!(result.is_err());
}

#[test]
fn values_holding_secrets() {
    let key = the_key();
    check_both("PrivateKey", &key);
    assert!(
        format!("{key:?}").contains(&key.eth_address()),
        "Debug still identifies the key"
    );

    let secret = Secret::new(REG_CREDENTIALS);
    check_both("Secret", &secret);
    check_debug("NodeDescription", &node());

    let legacy_config = config(legacy());
    check_debug("RegistrarConfig", &legacy_config);
    check_debug("RegistrarConfig (wallet)", &config(Flow::Wallet));

    let credentials = DdsCredentials {
        id: "node-1".into(),
        secret: DDS_SECRET.into(),
        organization_id: Some("org".into()),
    };
    check_debug("DdsCredentials", &credentials);
    let snapshot = Snapshot {
        credentials: Some(credentials.clone()),
        ..Snapshot::default()
    };
    check_debug("Snapshot", &snapshot);
    check_debug(
        "Output::Persist",
        &Output::Persist(Box::new(snapshot.clone())),
    );
    check_debug(
        "LockOutcome",
        &LockOutcome::Acquired {
            fresh: Some(snapshot),
        },
    );

    let callback =
        parse_registration_callback(format!(r#"{{"id":"n1","secret":"{DDS_SECRET}"}}"#).as_bytes())
            .unwrap();
    let _: &RegistrationCallback = &callback;
    check_debug("RegistrationCallback", &callback);

    let dds = BaseUrl::parse("https://dds.example.com").unwrap();
    let legacy_request =
        request::legacy_registration_request(&dds, "https://node.example.com", &node(), &key, t0());
    check_debug("HttpRequest (legacy)", &legacy_request);
    let challenge = SiweChallenge::parse(&challenge_json("nonce-1")).unwrap();
    // The challenge names dds.test: the builder signs it only for that DDS.
    let wallet_request = request::wallet_registration_request(
        &BaseUrl::parse(DDS).unwrap(),
        &challenge,
        &[],
        &node(),
        &key,
    )
    .unwrap();
    check_debug("HttpRequest (wallet)", &wallet_request);
    check_debug(
        "HttpRequest (nonce)",
        &request::siwe_nonce_request(&dds, &key.eth_address()),
    );

    let registrar =
        posemesh_registration_core::Registrar::new(legacy_config, key, None, t0(), SEED);
    check_debug("Registrar", &registrar);
}

/// Runs to the next request, granting the lock on the way.
fn step(sim: &mut Sim) {
    while !sim.lock_requested && sim.in_flight.is_none() {
        sim.advance_to_wake();
    }
    if sim.lock_requested {
        sim.lock(LockOutcome::Acquired { fresh: None });
    }
    assert!(sim.in_flight.is_some());
}

/// A full run through both flows: every output, every event's Display.
#[test]
fn everything_a_run_outputs() {
    for flow in [legacy(), Flow::Wallet] {
        let wallet = flow == Flow::Wallet;
        let mut sim = Sim::with_key(config(flow), the_key(), None, SEED, t0());
        step(&mut sim);
        sim.respond(503, &[("Retry-After", "2")], b"service unavailable");
        step(&mut sim);
        sim.fail_transport(TransportErrorKind::Timeout);
        step(&mut sim);
        sim.respond(409, &[], b"registered elsewhere");
        step(&mut sim);
        sim.respond(403, &[], b"forbidden");
        step(&mut sim);
        if wallet {
            sim.respond(200, &[], b"{\"nonce\":\"\"}");
            step(&mut sim);
            sim.respond(200, &[], &challenge_json("nonce2abc"));
        }
        // The DDS calls back with the secret (legacy only), a second, different
        // callback is refused, then the registration succeeds.
        let (response, _) = sim.node_request(
            "POST",
            "/internal/v1/registrations",
            &[],
            format!(r#"{{"id":"n1","secret":"{DDS_SECRET}","organization_id":"org"}}"#).as_bytes(),
        );
        assert_eq!(response.status, if wallet { 409 } else { 200 });
        check_debug("NodeResponse", &response);
        let (response, _) = sim.node_request(
            "POST",
            "/internal/v1/registrations",
            &[],
            format!(r#"{{"id":"n1","secret":"{DDS_SECRET}-forged"}}"#).as_bytes(),
        );
        assert_eq!(response.status, 409);
        check_debug("NodeResponse (rejected)", &response);
        sim.respond(200, &[], b"{}");
        sim.node_request("GET", "/health", &[("User-Agent", "DDS v1")], b"");
        sim.run_until(sim.now + secs(300));
        if sim.lock_requested {
            sim.lock(LockOutcome::Busy);
        }
        sim.reg
            .handle_lock(LockOutcome::Failed("lock error".into()), sim.now);
        sim.drain();
        check_debug("Registrar after the run", &sim.reg);
        check_debug("snapshot", &sim.reg.snapshot());
        if !wallet {
            assert_eq!(
                sim.reg.credentials().unwrap().secret.expose(),
                DDS_SECRET,
                "the run did store the secret"
            );
        }

        let mut seen = std::collections::BTreeSet::new();
        for record in &sim.log {
            check_debug("output", &record.output);
            if let Output::Event(event, _) = &record.output {
                check_both(event.name(), event);
                seen.insert(event.name());
            }
        }
        for name in [
            "registration.loop.start",
            "lock.acquired",
            "status.transition",
            "registration.error",
            "registration.conflict",
            "registration.callback.rejected",
            "registration.success",
            "healthcheck.touch",
        ]
        .into_iter()
        .chain((!wallet).then_some("registration.callback"))
        .chain((!wallet).then_some("registration.callback.conflict"))
        {
            assert!(
                seen.contains(name),
                "the run never produced {name}: {seen:?}"
            );
        }
        assert!(sim.transmits().len() >= 5);
    }
}

#[test]
fn key_errors() {
    let inputs = [
        format!("{SECRET_KEY}zz"),
        format!("zz{SECRET_KEY}"),
        format!("{SECRET_KEY}0"),
        format!("{SECRET_KEY}00"),
        SECRET_KEY[..63].to_owned(),
        format!("0x0x{SECRET_KEY}"),
        format!("{} {}", &SECRET_KEY[..32], &SECRET_KEY[32..]),
        format!("{REG_CREDENTIALS}{SECRET_KEY}"),
        SECRET_KEY.replace('a', "g"),
    ];
    for input in inputs {
        let err: KeyError = PrivateKey::from_hex(&input).unwrap_err();
        check_both("KeyError", &err);
    }
    let err = PrivateKey::from_bytes(&[0xff; 32]).unwrap_err();
    check_both("KeyError", &err);
}

#[test]
fn config_errors() {
    let bad_dds = [
        format!("https://user:{REG_CREDENTIALS}@dds.example.com"),
        format!("ftp://{REG_CREDENTIALS}"),
        format!("https://dds.example.com/{REG_CREDENTIALS} x"),
        format!("https://dds.example.com/?{REG_CREDENTIALS}"),
        format!("https://dds.example.com/#{SECRET_KEY}"),
        REG_CREDENTIALS.to_owned(),
    ];
    for dds in bad_dds {
        let err: ConfigError =
            RegistrarConfig::new(&dds, legacy(), "1.0.0", vec![], REG_CREDENTIALS.into())
                .unwrap_err();
        check_both("ConfigError (dds)", &err);
    }
    for node_url in [
        format!("https://{REG_CREDENTIALS}:{SECRET_KEY}@node.example.com"),
        SECRET_KEY.to_owned(),
        format!("https://node.example.com/\n{REG_CREDENTIALS}"),
    ] {
        let err = RegistrarConfig::new(
            "https://dds.example.com",
            Flow::Legacy { node_url },
            "1.0.0",
            vec![],
            REG_CREDENTIALS.into(),
        )
        .unwrap_err();
        check_both("ConfigError (node)", &err);
    }
    for (flow, version) in [(Flow::Wallet, "1.0.0"), (legacy(), "  ")] {
        let err = RegistrarConfig::new(
            "https://dds.example.com",
            flow,
            version,
            vec![],
            REG_CREDENTIALS.into(),
        )
        .unwrap_err();
        check_both("ConfigError", &err);
    }
}

#[test]
fn snapshot_errors() {
    let inputs = [
        format!(r#"{{"version":1,"credentials":{{"id":"x","secret":"{DDS_SECRET}"#),
        format!(r#"{{"version":1,"credentials":{{"id":"x","secret":["{DDS_SECRET}"]}}}}"#),
        format!(r#"{{"version":1,"credentials":{{"id":"x","secret":{{"{DDS_SECRET}":1}}}}}}"#),
        format!(r#"{{"version":"{DDS_SECRET}"}}"#),
        format!(r#"{{"status":"registered","attempt":"{REG_CREDENTIALS}"}}"#),
        format!(r#"{{"status":"registered"}}{SECRET_KEY}"#),
        DDS_SECRET.to_owned(),
        format!(r#""{DDS_SECRET}""#),
        format!(
            "{{\"a\":\"{}\"}}",
            DDS_SECRET.repeat(MAX_SNAPSHOT_BYTES / DDS_SECRET.len() + 1)
        ),
    ];
    for input in inputs {
        let err: SnapshotError = Snapshot::decode(input.as_bytes()).unwrap_err();
        check_both("SnapshotError", &err);
    }
}

#[test]
fn callback_rejections() {
    let huge_secret = DDS_SECRET.repeat(200);
    let inputs = [
        format!(r#"{{"id":"n1","secret":"{DDS_SECRET}""#),
        format!(r#"{{"id":"n1","secret":["{DDS_SECRET}"]}}"#),
        format!(r#"{{"id":5,"secret":"{DDS_SECRET}"}}"#),
        format!(r#"{{"id":"","secret":"{DDS_SECRET}"}}"#),
        format!(r#"{{"id":"{DDS_SECRET}","secret":""}}"#),
        format!(r#"{{"id":"n1","secret":"{huge_secret}"}}"#),
        format!(
            r#"{{"id":"n1","secret":"{DDS_SECRET}","organization_id":{{"x":"{REG_CREDENTIALS}"}}}}"#
        ),
        format!("{DDS_SECRET}{}", " ".repeat(70_000)),
        DDS_SECRET.to_owned(),
    ];
    for input in inputs {
        let err: CallbackRejection = parse_registration_callback(input.as_bytes()).unwrap_err();
        check_both("CallbackRejection", &err);
    }
    // And what the registrar answers and logs for them.
    let mut sim = Sim::new(legacy_config(), None);
    let (response, outputs) = sim.node_request(
        "POST",
        "/internal/v1/registrations",
        &[],
        format!(r#"{{"id":"n1","secret":"{DDS_SECRET}"}}"#).as_bytes(),
    );
    assert_eq!(response.status, 409);
    check_text(
        "node response body",
        &String::from_utf8_lossy(&response.body),
    );
    for output in outputs {
        check_debug("output", &output);
        if let Output::Event(event, _) = output {
            check_both("event", &event);
        }
    }
}

#[test]
fn challenge_errors() {
    let inputs = [
        format!(r#"{{"nonce":"{DDS_SECRET}""#),
        format!(r#"{{"nonce":"{DDS_SECRET}","domain":5}}"#),
        format!(r#"{{"nonce":["{DDS_SECRET}"]}}"#),
        format!(
            r#"{{"nonce":"","domain":"{DDS_SECRET}","uri":"u","version":"1","chainId":1,"issuedAt":"t"}}"#
        ),
        DDS_SECRET.to_owned(),
    ];
    for input in inputs {
        let err: ChallengeError = SiweChallenge::parse(input.as_bytes()).unwrap_err();
        check_both("ChallengeError", &err);
    }
}
