//! The checks Auki's newer clients make (issue 24, section 3), at the core:
//! a plaintext DDS is refused unless loopback or allowed, capabilities are
//! paths, and `409`/`402` answers say what to do.

mod common;

use common::*;
use posemesh_registration_core::registrar::{check_plaintext_dds, parse_dds_url};
use posemesh_registration_core::response::{CONFLICT_HINT, PAYMENT_REQUIRED_HINT};
use posemesh_registration_core::{BaseUrl, ConfigError, Event, Flow, RegistrarConfig, UrlError};
use std::collections::HashMap;

fn config(dds: &str, flow: Flow, capabilities: &[&str]) -> Result<RegistrarConfig, ConfigError> {
    RegistrarConfig::new(
        dds,
        flow,
        "1.2.3",
        capabilities.iter().map(|c| (*c).to_owned()).collect(),
        REG_SECRET.into(),
    )
}

fn wallet(dds: &str) -> RegistrarConfig {
    config(dds, Flow::Wallet, &["/reconstruction/global-refinement/v1"]).unwrap()
}

#[test]
fn plaintext_dds_is_refused_unless_loopback_or_allowed() {
    for refused in [
        "http://dds.example.com",
        "HTTP://dds.example.com:8080/api",
        "http://10.0.0.5",
        "http://192.168.1.20:8080",
        "http://0.0.0.0:8080",
        "http://localhost.example.com",
        "http://[2001:db8::1]",
    ] {
        let mut config = wallet(refused);
        assert_eq!(
            config.validate(),
            Err(ConfigError::PlaintextDds),
            "{refused}"
        );
        config.allow_plaintext_dds = true;
        assert_eq!(config.validate(), Ok(()), "{refused} with the opt-in");
    }
    for accepted in [
        "https://dds.example.com",
        "HTTPS://dds.example.com/api",
        "https://10.0.0.5:8443",
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://[::1]:8080",
        "http://localhost:8080",
        "http://dds.localhost",
    ] {
        assert_eq!(wallet(accepted).validate(), Ok(()), "{accepted}");
    }
    // The one rule, as the low-level builders apply it.
    let plain = BaseUrl::parse("http://dds.example.com").unwrap();
    assert_eq!(
        check_plaintext_dds(&plain, false),
        Err(ConfigError::PlaintextDds)
    );
    assert_eq!(check_plaintext_dds(&plain, true), Ok(()));
    assert_eq!(
        parse_dds_url("http://dds.example.com", false),
        Err(ConfigError::PlaintextDds)
    );
    assert_eq!(parse_dds_url("http://dds.example.com", true), Ok(plain));
    assert!(matches!(
        parse_dds_url("ftp://dds.example.com", true),
        Err(ConfigError::DdsUrl(_))
    ));
    assert!(
        !wallet("http://127.0.0.1:1").allow_plaintext_dds,
        "off by default"
    );
}

#[test]
fn the_plaintext_error_says_what_travels_and_what_to_do() {
    let err = ConfigError::PlaintextDds;
    assert_eq!(err.code(), "plaintext_dds");
    let text = err.to_string();
    for needle in [
        "signed registration request",
        "registration credentials",
        "unencrypted",
        "https://",
        "allow_plaintext_dds",
        "allowPlaintextDds",
        "--allow-plaintext-dds",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
}

#[test]
fn dds_urls_with_userinfo_a_query_or_a_fragment_are_refused() {
    for (url, error) in [
        ("https://user:pw@dds.example.com", UrlError::HasCredentials),
        ("https://user@dds.example.com", UrlError::HasCredentials),
        ("https://dds.example.com?x=1", UrlError::HasQueryOrFragment),
        ("https://dds.example.com/api?", UrlError::HasQueryOrFragment),
        ("https://dds.example.com#top", UrlError::HasQueryOrFragment),
    ] {
        assert_eq!(
            config(url, Flow::Wallet, &["/a/v1"]).map(|_| ()),
            Err(ConfigError::DdsUrl(error)),
            "{url}"
        );
    }
}

#[test]
fn capabilities_are_paths_in_both_flows() {
    let legacy = || Flow::Legacy {
        node_url: "https://node.example.com".into(),
    };
    for flow in [Flow::Wallet, legacy()] {
        for good in [
            &["/reconstruction/global-refinement/v1"][..],
            &["/splatter/colmap/v1", "/a"],
            &["/ünïcode/v1"],
        ] {
            let config = config("https://dds.example.com", flow.clone(), good).unwrap();
            assert_eq!(config.validate(), Ok(()), "{good:?}");
        }
        for (bad, expected) in [
            (&[][..], ConfigError::NoCapabilities),
            (&["c"], ConfigError::CapabilityNotAPath("c".into())),
            (
                &["/ok/v1", "reconstruction/v1"],
                ConfigError::CapabilityNotAPath("reconstruction/v1".into()),
            ),
            (
                &["/splatter colmap/v1"],
                ConfigError::CapabilityCharacter("/splatter colmap/v1".into()),
            ),
            (&["/a\tb"], ConfigError::CapabilityCharacter("/a b".into())),
            (&["/a\n"], ConfigError::CapabilityCharacter("/a ".into())),
            (
                &["/a\u{7f}"],
                ConfigError::CapabilityCharacter("/a\u{fffd}".into()),
            ),
            (
                &["/a\u{a0}b"],
                ConfigError::CapabilityCharacter("/a\u{a0}b".into()),
            ),
            (&[" /a"], ConfigError::CapabilityCharacter(" /a".into())),
        ] {
            // RegistrarConfig::new accepts what the low-level builders send
            // (legacy: an empty list too); a registrar's validate() refuses it.
            let Ok(config) = config("https://dds.example.com", flow.clone(), bad) else {
                assert!(bad.is_empty() && flow == Flow::Wallet, "{bad:?}");
                continue;
            };
            assert_eq!(
                config.validate(),
                Err(expected),
                "{bad:?} ({})",
                flow.name()
            );
        }
    }
    assert_eq!(ConfigError::NoCapabilities.code(), "no_capabilities");
    assert_eq!(ConfigError::BlankCapability.code(), "blank_capability");
    assert_eq!(
        ConfigError::CapabilityNotAPath("c".into()).code(),
        "capability_not_a_path"
    );
    assert_eq!(
        ConfigError::CapabilityCharacter("c".into()).code(),
        "invalid_capability_character"
    );
}

#[test]
fn capability_errors_name_the_capability_sanitised_and_shortened() {
    let not_a_path = ConfigError::CapabilityNotAPath("test".into()).to_string();
    assert!(not_a_path.contains("\"test\""), "{not_a_path}");
    assert!(
        not_a_path.contains("/reconstruction/global-refinement/v1"),
        "{not_a_path}"
    );
    let long = format!("x{}", "y".repeat(200));
    let config = config("https://dds.example.com", Flow::Wallet, &[&long]).unwrap();
    let err = config.validate().unwrap_err();
    assert_eq!(
        err,
        ConfigError::CapabilityNotAPath(format!("x{}…", "y".repeat(63)))
    );
    let config = config_with_escape();
    let text = config.validate().unwrap_err().to_string();
    assert!(
        !text.contains('\u{1b}'),
        "control characters are neutralised: {text}"
    );
    assert!(text.contains("\"/a\u{fffd}[2Kb\""), "{text}");
}

fn config_with_escape() -> RegistrarConfig {
    config("https://dds.example.com", Flow::Wallet, &["/a\u{1b}[2Kb"]).unwrap()
}

/// The event that ends the first attempt of `config` when the DDS answers
/// `status` with `body`, and its fields as text.
fn attempt_answered(
    config: RegistrarConfig,
    status: u16,
    body: &str,
) -> (Event, HashMap<&'static str, String>) {
    let mut sim = Sim::new(config, None);
    sim.run_until_transmit(secs(2));
    let outs = sim.respond(status, &[], body.as_bytes());
    let ended = events(&outs)
        .into_iter()
        .find(|e| e.attempt_result().is_some())
        .expect("the attempt's end");
    let fields = ended
        .fields()
        .into_iter()
        .map(|(name, value)| (name, value.to_string()))
        .collect();
    (ended, fields)
}

#[test]
fn conflict_and_payment_required_answers_carry_a_hint() {
    // (status, the attempt's event, its hint): 409, the usual cause; 402, the
    // stake the wallet lacks. The error field keeps the reference's message.
    for (config, status, name, hint) in [
        (legacy_config(), 409, "registration.conflict", CONFLICT_HINT),
        (
            wallet_config(),
            402,
            "registration.error",
            PAYMENT_REQUIRED_HINT,
        ),
    ] {
        let (event, fields) = attempt_answered(config, status, "refused");
        assert_eq!(event.name(), name);
        assert_eq!(fields.get("hint").map(String::as_str), Some(hint));
        assert!(
            fields["error"].ends_with("body_snippet: refused"),
            "{fields:?}"
        );
        assert!(event.to_string().ends_with(&format!("(hint: {hint})")));
    }
    let (_, fields) = attempt_answered(wallet_config(), 402, "");
    assert_eq!(fields["status"], "402 Payment Required");

    // Any other answer: no hint field at all.
    let (event, fields) = attempt_answered(legacy_config(), 503, "busy");
    assert_eq!(fields.get("hint"), None);
    assert!(!event.to_string().contains("hint"));
}
