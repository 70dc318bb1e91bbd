//! The node's DDS session in JavaScript: `registrar.accessToken()` and the
//! `AccessToken` it resolves with. Conversion only: when to sign in, refresh
//! and give up is the core's, waiting and signing in once is the driver's.

use crate::error::Error;
use crate::registrar::Registrar;
use js_sys::{Date, Function, Promise, Reflect};
use posemesh_registration_core::AccessToken as CoreAccessToken;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A bearer token for the node's own DDS calls (`Authorization: Bearer ${token.expose()}`).
/// `toString()`, `toJSON()` and the console never show it.
#[wasm_bindgen]
pub struct AccessToken {
    token: CoreAccessToken,
}

#[wasm_bindgen]
impl AccessToken {
    /// The token itself. Keep it out of logs.
    pub fn expose(&self) -> String {
        self.token.expose().to_owned()
    }

    /// When the DDS said it expires.
    #[wasm_bindgen(getter = expiresAt)]
    pub fn expires_at(&self) -> Date {
        Date::new(&JsValue::from_f64(
            self.token.expires_at().as_millis() as f64
        ))
    }

    /// `AccessToken(<redacted>, expires …)`: never the token.
    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        self.token.to_string()
    }

    /// `JSON.stringify` gives the expiry only.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.to_string_js()
    }
}

#[wasm_bindgen]
impl Registrar {
    /// A valid access token for the node's own DDS calls: registers first when no loop
    /// runs, signs in when no token is at hand (one sign-in however many callers ask), and,
    /// with `start()`, keeps it fresh (refreshed at 75 % of its lifetime). Rejects like
    /// `registerOnce()`: a `RegistrationError` for a failed registration or a sign-in round
    /// that failed (four tries), a `StateError` (`stopped`). With `options.signal`, an abort
    /// rejects with the signal's reason; with a running loop that cannot register it waits,
    /// so give it a signal (`AbortSignal.timeout(ms)`).
    #[wasm_bindgen(js_name = accessToken, unchecked_return_type = "Promise<AccessToken>")]
    pub fn access_token(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: JsValue,
    ) -> Promise {
        self.driver_call(&options, |driver| async move {
            Ok(AccessToken {
                token: driver.access_token().await?,
            }
            .into())
        })
    }

    /// Reports that the DDS refused `token` (a 401 to one of the node's own calls): the
    /// next `accessToken()` signs in anew, once however many report it. Takes the
    /// `AccessToken` or its text.
    #[wasm_bindgen(js_name = accessTokenRefused, unchecked_return_type = "Promise<void>")]
    pub fn access_token_refused(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AccessToken | string")] token: JsValue,
    ) -> Promise {
        self.with_driver(move |driver| {
            driver.access_token_refused(&token_text(&token)?);
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The text of an `AccessToken` (through its `expose()`) or of a string.
fn token_text(token: &JsValue) -> Result<String, JsValue> {
    if let Some(text) = token.as_string() {
        return Ok(text);
    }
    let expose = Reflect::get(token, &"expose".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    expose
        .and_then(|f| f.call0(token).ok())
        .and_then(|text| text.as_string())
        .ok_or_else(|| {
            Error::argument(
                "accessTokenRefused() takes the AccessToken (or its text) the DDS refused",
            )
            .into()
        })
}
