//! `PrivateKey::from_hex` on any text: never panics; an accepted key
//! round-trips through its bytes, and neither the key's `Debug`/`Display` nor
//! a refusal's message shows the key's hex digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::PrivateKey;

/// Any 16 consecutive hex digits of the secret showing up is a leak.
const WINDOW: usize = 16;

fn assert_no_window(secret_hex: &str, shown: &str) {
    let shown = shown.to_ascii_lowercase();
    if secret_hex.len() < WINDOW {
        return;
    }
    for start in 0..=secret_hex.len() - WINDOW {
        let window = &secret_hex[start..start + WINDOW];
        assert!(
            !shown.contains(window),
            "key digits {window} shown in {shown:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The longest run of hex digits in the input, lower-cased: what a leak would show.
    let input_hex: String = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .max_by_key(|run| run.len())
        .unwrap_or("")
        .to_ascii_lowercase();

    match PrivateKey::from_hex(&text) {
        Ok(key) => {
            let bytes = key.to_bytes();
            let core = hex::encode(&bytes[..]);
            // The 64-digit core of the input is exactly the key.
            let trimmed = text.trim();
            let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
            assert_eq!(digits.to_ascii_lowercase(), core);

            let again = PrivateKey::from_bytes(&bytes[..]).expect("to_bytes must load again");
            assert_eq!(&again.to_bytes()[..], &bytes[..]);
            assert_eq!(again.public_key_hex(), key.public_key_hex());
            let from_core = PrivateKey::from_hex(&core).expect("lower-case core must load");
            assert_eq!(&from_core.to_bytes()[..], &bytes[..]);

            let public = key.public_key_bytes();
            assert_eq!(public[0], 4);
            let address = key.eth_address();
            assert!(address.starts_with("0x") && address.len() == 42);

            for shown in [format!("{key:?}"), format!("{key}")] {
                assert_no_window(&core, &shown);
                assert!(shown.contains(&address), "{shown}");
            }
        }
        Err(err) => {
            for shown in [format!("{err:?}"), err.to_string()] {
                assert_no_window(&input_hex, &shown);
            }
        }
    }

    // Raw bytes, when there are 32 of them.
    if data.len() == 32 {
        if let Ok(key) = PrivateKey::from_bytes(data) {
            assert_eq!(&key.to_bytes()[..], data);
            let mut raw = [0u8; 32];
            raw.copy_from_slice(data);
            let random = PrivateKey::from_random_bytes(raw).expect("same bytes, same answer");
            assert_eq!(&random.to_bytes()[..], data);
            assert_no_window(&hex::encode(data), &format!("{key:?} {key}"));
        } else {
            let mut raw = [0u8; 32];
            raw.copy_from_slice(data);
            assert!(PrivateKey::from_random_bytes(raw).is_err());
        }
    }
});
