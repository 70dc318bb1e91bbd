//! `PrivateKey`: a node's secp256k1 key and the protocol's three signatures.

use crate::convert;
use crate::error::{Error, Result};
use posemesh_registration_core::PrivateKey as CoreKey;
use wasm_bindgen::prelude::*;

/// A node's secp256k1 private key. It stays inside the WebAssembly memory: `toString()`,
/// `JSON.stringify` and `util.inspect` show only its Ethereum address. `free()` (or the
/// garbage collector) drops it, zeroising its bytes.
#[wasm_bindgen]
pub struct PrivateKey {
    pub(crate) inner: CoreKey,
}

#[wasm_bindgen]
impl PrivateKey {
    /// Loads a key from hex: surrounding whitespace trimmed, one optional `0x`, 64 hex
    /// digits of a valid secp256k1 scalar. Throws a `KeyError` (`key_not_hex`,
    /// `key_wrong_length`, `key_out_of_range`) whose message never contains the input.
    /// Anything but a string throws a `PosemeshError` (`invalid_argument`).
    // A `JsValue` rather than `&str`: wasm-bindgen's string passing assumes a string, and a
    // number or an object reached the module as an out-of-bounds read (a trap).
    #[wasm_bindgen(js_name = fromHex)]
    pub fn from_hex(
        #[wasm_bindgen(unchecked_param_type = "string")] hex: JsValue,
    ) -> std::result::Result<PrivateKey, JsValue> {
        let Some(hex) = hex.as_string() else {
            return Err(
                Error::argument("PrivateKey.fromHex needs a string of 64 hex digits").into(),
            );
        };
        let inner = CoreKey::from_hex(&hex).map_err(Error::from)?;
        Ok(PrivateKey { inner })
    }

    /// Loads a key from its 32 raw bytes (a `Uint8Array`, another typed array or an
    /// `ArrayBuffer`). Throws a `KeyError` like `fromHex`, a `PosemeshError`
    /// (`invalid_argument`) for anything else.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(
        #[wasm_bindgen(unchecked_param_type = "ArrayBuffer | ArrayBufferView")] bytes: JsValue,
    ) -> std::result::Result<PrivateKey, JsValue> {
        if bytes.as_string().is_some() {
            return Err(Error::argument(
                "PrivateKey.fromBytes needs a Uint8Array (use fromHex for hex)",
            )
            .into());
        }
        let bytes = convert::bytes(&bytes, "bytes")?;
        let inner = CoreKey::from_bytes(&bytes).map_err(Error::from)?;
        Ok(PrivateKey { inner })
    }

    /// The uncompressed public key `04 ‖ X ‖ Y`: 130 lowercase hex digits, no `0x`.
    #[wasm_bindgen(getter = publicKeyHex)]
    pub fn public_key_hex(&self) -> String {
        self.inner.public_key_hex()
    }

    /// The Ethereum address: `0x` and 40 lowercase hex digits.
    #[wasm_bindgen(getter = ethAddress)]
    pub fn eth_address(&self) -> String {
        self.inner.eth_address()
    }

    /// The legacy registration signature over `message` (a string is signed as UTF-8):
    /// `keccak256(message)`, `r ‖ s ‖ v` with v ∈ {0, 1}, 130 lowercase hex digits.
    #[wasm_bindgen(js_name = signRegistration)]
    pub fn sign_registration(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: JsValue,
    ) -> std::result::Result<String, JsValue> {
        Ok(self.inner.sign_registration(&message_bytes(&message)?))
    }

    /// The EIP-191 (`personal_sign`) signature over `message`: `0x` + `r ‖ s ‖ v` with
    /// v ∈ {27, 28}.
    #[wasm_bindgen(js_name = signEip191)]
    pub fn sign_eip191(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: JsValue,
    ) -> std::result::Result<String, JsValue> {
        Ok(self.inner.sign_eip191(&message_bytes(&message)?))
    }

    /// A compact signature over `sha256(message)`: `r ‖ s`, 128 lowercase hex digits.
    #[wasm_bindgen(js_name = signCompact)]
    pub fn sign_compact(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: JsValue,
    ) -> std::result::Result<String, JsValue> {
        Ok(self.inner.sign_compact(&message_bytes(&message)?))
    }

    /// `PrivateKey(<redacted>, 0x…)`: never the key.
    #[wasm_bindgen(js_name = toString)]
    #[allow(clippy::inherent_to_string)]
    pub fn to_string_js(&self) -> String {
        self.inner.to_string()
    }

    /// What `JSON.stringify` shows: the same as `toString()`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.inner.to_string()
    }
}

fn message_bytes(message: &JsValue) -> Result<Vec<u8>> {
    if message.as_string().is_none() && !message.is_instance_of::<js_sys::Uint8Array>() {
        return Err(Error::argument("message must be a string or a Uint8Array"));
    }
    convert::bytes(message, "message")
}
