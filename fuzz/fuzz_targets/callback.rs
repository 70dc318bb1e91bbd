//! The DDS's calls to the node on any bytes: `callback::parse_registration_callback`,
//! and a legacy-flow registrar's `handle_node_request` for
//! `POST /internal/v1/registrations` (the bytes as body), `GET /health` (the
//! bytes as User-Agent) and an arbitrary method and path. Never panics, answers
//! only 200/400/403/404/405/409/413/422, a callback is accepted only while a
//! registration is pending, and a refused callback changes nothing. The same
//! for a sibling worker sharing the snapshot: it accepts only within the
//! stored window, and its callback reaches the shared snapshot only then.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::callback::{
    parse_registration_callback, CallbackRejection, MAX_CALLBACK_BODY, MAX_SECRET_BYTES,
};
use posemesh_registration_core::{
    Flow, Output, PrivateKey, Registrar, RegistrarConfig, Signer, Snapshot, UnixTime,
};
use std::sync::{Arc, OnceLock};

const KEY_HEX: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const ALLOWED: [u16; 8] = [200, 400, 403, 404, 405, 409, 413, 422];
const METHODS: [&str; 8] = ["GET", "POST", "HEAD", "PUT", "DELETE", "post", "get", ""];
const PATHS: [&str; 6] = [
    "/internal/v1/registrations",
    "/health",
    "/internal/v1/registrations?x=1",
    "/health?",
    "/",
    "",
];

/// The fixed key's identity with canned signatures: real signing would take
/// most of the time per input, and this target is about the node's endpoints.
struct FixedKey {
    public_key_hex: String,
    eth_address: String,
}

impl Signer for FixedKey {
    fn public_key_hex(&self) -> String {
        self.public_key_hex.clone()
    }
    fn eth_address(&self) -> String {
        self.eth_address.clone()
    }
    fn sign_registration(&self, _message: &[u8]) -> String {
        "ab".repeat(65)
    }
    fn sign_eip191(&self, _message: &[u8]) -> String {
        format!("0x{}", "cd".repeat(65))
    }
}

fn key() -> Arc<dyn Signer> {
    static KEY: OnceLock<Arc<FixedKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = PrivateKey::from_hex(KEY_HEX).unwrap();
        Arc::new(FixedKey {
            public_key_hex: key.public_key_hex(),
            eth_address: key.eth_address(),
        })
    })
    .clone()
}

fn drain(registrar: &mut Registrar) {
    for _ in 0..64 {
        if let Output::Wait(_) = registrar.poll_output() {
            return;
        }
    }
    panic!("registrar never asked to wait");
}

/// The attempt's request: the first (and only) one this registrar sent.
fn in_flight_id(registrar: &Registrar) -> posemesh_registration_core::RequestId {
    assert!(registrar.has_request_in_flight());
    posemesh_registration_core::RequestId(1)
}

fn ok_response() -> posemesh_registration_core::HttpResponse {
    posemesh_registration_core::HttpResponse {
        status: 200,
        ..Default::default()
    }
}

fn state(registrar: &Registrar) -> Snapshot {
    registrar.snapshot()
}

fuzz_target!(|data: &[u8]| {
    // The parser alone.
    let parsed = parse_registration_callback(data);
    match &parsed {
        Ok(cb) => {
            assert!(!cb.id.trim().is_empty());
            assert!(!cb.secret.expose().trim().is_empty());
            assert!(cb.secret.len() <= MAX_SECRET_BYTES);
            // Debug does not depend on the secret.
            let mut other = cb.clone();
            other.secret = "x".into();
            assert_eq!(format!("{cb:?}"), format!("{other:?}"));
        }
        Err(rejection) => {
            assert!(ALLOWED.contains(&rejection.status()));
            assert_ne!(rejection.status(), 200);
            if let CallbackRejection::Malformed(why) = rejection {
                assert!(why.is_ascii() && why.len() < 120, "{why}");
            }
        }
    }

    // The last byte steers: a JSON body ends in `}` (odd: pending) or in
    // whitespace (even: no registration pending); 0xff: oversize.
    let flags = data.last().copied().unwrap_or(0);
    let start = UnixTime::from_secs_nanos(1_700_000_000, 0);
    let config = RegistrarConfig::new(
        "http://127.0.0.1:8080",
        Flow::Legacy {
            node_url: "http://127.0.0.1:9090".into(),
        },
        "1.2.3",
        vec!["/reconstruction/global-refinement/v1".into()],
        "registration-secret".into(),
    )
    .unwrap();
    let mut registrar = Registrar::with_signer(config, key(), None, start, u64::from(flags));
    drain(&mut registrar);
    // Odd: start an attempt first, so that a callback is expected.
    let pending = flags & 1 == 1;
    let mut now = start;
    if pending {
        now = start + std::time::Duration::from_secs(1);
        registrar.handle_timeout(now);
        assert!(registrar.has_request_in_flight());
        drain(&mut registrar);
    }

    // 0xff: an oversize body (413) made of the input repeated.
    let body: Vec<u8> = if flags == 0xff {
        // (`repeat` copies with memcpy: an instrumented byte loop would cost
        // most of the time.)
        data.repeat(MAX_CALLBACK_BODY / data.len() + 1)
    } else {
        data.to_vec()
    };

    let before = state(&registrar);
    let response =
        registrar.handle_node_request("POST", "/internal/v1/registrations", &[], &body, now);
    assert!(ALLOWED.contains(&response.status), "{}", response.status);
    assert!(std::str::from_utf8(&response.body).is_ok());
    if body.len() > MAX_CALLBACK_BODY {
        assert_eq!(response.status, 413);
    }
    if response.status == 200 {
        assert!(pending, "callback accepted while none was pending");
        let expected = parse_registration_callback(&body).expect("accepted, so it parses");
        // Held until the attempt succeeds: nothing is committed yet.
        assert!(registrar.credentials().is_none(), "committed before success");
        // The same callback again is fine; a different one is refused.
        let again =
            registrar.handle_node_request("POST", "/internal/v1/registrations", &[], &body, now);
        assert_eq!(again.status, 200);
        let other = format!(r#"{{"id":"other","secret":"x{}"}}"#, expected.secret.len());
        let forged = registrar.handle_node_request(
            "POST",
            "/internal/v1/registrations",
            &[],
            other.as_bytes(),
            now,
        );
        assert_eq!(forged.status, 409);
        drain(&mut registrar);
        // The attempt succeeds: the first callback's credentials are committed.
        let id = in_flight_id(&registrar);
        registrar.handle_response(id, Ok(ok_response()), now);
        let stored = registrar.credentials().expect("credentials stored");
        assert_eq!(stored.id, expected.id);
        assert_eq!(stored.secret, expected.secret);
        assert_eq!(stored.organization_id, expected.organization_id);
    } else {
        assert_eq!(
            state(&registrar),
            before,
            "a refused callback changed the state"
        );
        if !pending && flags != 0xff {
            // Everything that parses is refused as not pending.
            assert_eq!(parsed.is_ok(), response.status == 409);
        }
    }
    drain(&mut registrar);

    // The bytes as the health probe's User-Agent.
    let agent = String::from_utf8_lossy(data).into_owned();
    let headers = vec![("User-Agent".to_owned(), agent.clone())];
    let response = registrar.handle_node_request("GET", "/health", &headers, b"", now);
    assert_eq!(response.status, 200);
    let counted = registrar.snapshot().last_health_check == Some(now);
    if agent.starts_with("DDS v") {
        assert!(counted, "DDS probe not counted");
    }
    drain(&mut registrar);

    // A sibling worker (shared snapshot, lock not held); bit 1 of the last
    // byte: whether the holder's stored window is open.
    let open = flags & 2 == 2;
    let mut shared_config = registrar.config().clone();
    shared_config.use_lock = true;
    let mut sibling = Registrar::with_signer(shared_config, key(), None, start, 7);
    drain(&mut sibling);
    let stored = Snapshot {
        status: posemesh_registration_core::Status::Registered,
        last_health_check: Some(now),
        registered_as: Some(registrar.config().registered_as(&key().eth_address())),
        callback: Some(posemesh_registration_core::CallbackSlot {
            attempt: 1,
            until: if open {
                now + std::time::Duration::from_secs(30)
            } else {
                now - std::time::Duration::from_millis(1)
            },
            taken: None,
        }),
        ..Snapshot::default()
    };
    let before = sibling.snapshot();
    let response = sibling.handle_node_request_shared(
        "POST",
        "/internal/v1/registrations",
        &[],
        &body,
        Some(&stored),
        now,
    );
    assert!(ALLOWED.contains(&response.status), "{}", response.status);
    let merged = sibling.merge_shared(Some(stored.clone()), now);
    if response.status == 200 {
        assert!(open, "accepted outside the holder's window");
        let expected = parse_registration_callback(&body).expect("accepted, so it parses");
        let merged = merged.expect("merged");
        assert_eq!(merged.credentials.as_ref().map(|c| &c.secret), Some(&expected.secret));
        let taken = merged.callback.as_ref().and_then(|slot| slot.taken.clone());
        let fingerprint = merged.credentials.as_ref().map(|c| c.fingerprint());
        assert_eq!(taken, fingerprint, "the slot is taken");
    } else {
        assert_eq!(sibling.snapshot(), before, "a refused callback changed the state");
        assert!(merged.is_none_or(|m| m.credentials.is_none()));
    }
    drain(&mut sibling);

    // An arbitrary method and path (bytes 1 and 2 pick them; the rest is the body).
    if data.len() >= 3 {
        let method = METHODS[usize::from(data[1]) % METHODS.len()];
        let path = if data[2] & 0x80 == 0 {
            PATHS[usize::from(data[2]) % PATHS.len()].to_owned()
        } else {
            String::from_utf8_lossy(&data[3..]).into_owned()
        };
        let response = registrar.handle_node_request(method, &path, &headers, &data[3..], now);
        assert!(ALLOWED.contains(&response.status), "{}", response.status);
        drain(&mut registrar);
    }
});
