//! The low-level API: build the exact requests of both flows, classify the DDS's answers,
//! format timestamps. For hosts that want to send requests themselves.

use crate::convert::{self, Options};
use crate::error::{Error, FailureDetail, Result};
use crate::key::PrivateKey;
use js_sys::Object;
use posemesh_registration_core::registrar::{parse_dds_url, Options as CoreOptions};
use posemesh_registration_core::request::{
    checked_siwe_nonce_request, legacy_registration_request, wallet_registration_request,
};
use posemesh_registration_core::response::{classify_response, MAX_RESPONSE_BODY};
use posemesh_registration_core::{
    HttpRequest, HttpResponse, RegistrarConfig, SiweChallenge, UnixTime,
};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeRequest)]
    fn make_request(method: &str, url: &str, headers: &Object, body: &str) -> JsValue;
}

/// Converts a core request into the JavaScript `HttpRequest` object.
pub(crate) fn to_js_request(request: &HttpRequest) -> JsValue {
    let headers = Object::new();
    for (name, value) in &request.headers {
        let _ = js_sys::Reflect::set(&headers, &name.into(), &value.into());
    }
    // Core bodies are serde_json output: always UTF-8.
    let body = String::from_utf8_lossy(&request.body);
    make_request(request.method.as_str(), &request.url, &headers, &body)
}

/// A string argument. Parameters are `JsValue`s checked here, never `&str`: wasm-bindgen's
/// string passing assumes a string, and anything else trapped inside the module.
fn string_argument(value: &JsValue, name: &str) -> Result<String> {
    value
        .as_string()
        .ok_or_else(|| Error::argument(format!("{name} must be a string")))
}

/// The request's options, checked by the core's rules for the low-level builders
/// (`Options::request_config`: the registrar's, with the same messages).
fn checked(options: &Options<'_>, node_url: Option<String>) -> Result<RegistrarConfig> {
    let options = CoreOptions {
        dds_url: options.required_string("ddsUrl")?,
        node_url,
        version: options.required_string("version")?,
        capabilities: options.strings("capabilities")?,
        credentials: options.required_string("registrationCredentials")?.into(),
        siwe_domains: options.strings("siweDomains")?,
        allow_plaintext_dds: options.flag("allowPlaintextDds")?,
        ..CoreOptions::default()
    };
    Ok(options.request_config()?)
}

/// Builds the signed legacy registration, `POST {ddsUrl}/internal/v1/nodes/register`,
/// exactly as the reference sends it. Throws a `ConfigError` for an invalid URL (a plaintext
/// DDS that is not loopback without `allowPlaintextDds` included), blank version or missing
/// option; the capabilities are sent as given.
#[wasm_bindgen(js_name = buildRegistrationRequest, unchecked_return_type = "HttpRequest")]
pub fn build_registration_request(
    key: &PrivateKey,
    #[wasm_bindgen(unchecked_param_type = "RegistrationRequestOptions")] options: JsValue,
) -> std::result::Result<JsValue, JsValue> {
    let options = Options::new(&options, "options")?;
    let node_url = options.required_string("nodeUrl")?;
    let config = checked(&options, Some(node_url.clone()))?;
    let timestamp = convert::time(
        &options.get("timestamp")?.unwrap_or(JsValue::UNDEFINED),
        crate::host::now,
    )?;
    let request = legacy_registration_request(
        &config.dds_url,
        &node_url,
        &config.node,
        &key.inner,
        timestamp,
    );
    Ok(to_js_request(&request))
}

/// Builds SIWE step 1, `POST {ddsUrl}/internal/v1/auth/siwe/request` for `address`
/// (the node's `0x` address, `key.ethAddress`; sent in lowercase). Throws a
/// `PosemeshError` (`invalid_argument`) for an address that is not `0x` and 40 hex digits,
/// a `ConfigError` for a DDS URL the registrar refuses (`options.allowPlaintextDds` as there).
#[wasm_bindgen(js_name = buildSiweNonceRequest, unchecked_return_type = "HttpRequest")]
pub fn build_siwe_nonce_request(
    #[wasm_bindgen(unchecked_param_type = "string")] dds_url: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] address: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "SiweNonceRequestOptions")] options: JsValue,
) -> std::result::Result<JsValue, JsValue> {
    let dds_url = string_argument(&dds_url, "ddsUrl")?;
    let address = string_argument(&address, "address")?;
    let allow_plaintext = Options::new(&options, "options")?.flag("allowPlaintextDds")?;
    let dds = parse_dds_url(&dds_url, allow_plaintext).map_err(Error::from)?;
    let request = checked_siwe_nonce_request(&dds, &address)
        .map_err(|err| Error::argument(err.to_string()))?;
    Ok(to_js_request(&request))
}

fn challenge(value: &JsValue) -> Result<SiweChallenge> {
    let bytes = if value.as_string().is_some() || value.is_instance_of::<js_sys::Uint8Array>() {
        convert::bytes(value, "challenge")?
    } else if value.is_object() {
        js_sys::JSON::stringify(value)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or_else(|| Error::argument("challenge cannot be serialised as JSON"))?
            .into_bytes()
    } else {
        return Err(Error::argument(
            "challenge must be an object, a JSON string or JSON bytes",
        ));
    };
    Ok(SiweChallenge::parse(&bytes)?)
}

/// The EIP-4361 message the node signs for `challenge`, in the reference's exact layout.
/// Throws a `PosemeshError` (`invalid_challenge`) for a malformed challenge.
#[wasm_bindgen(js_name = siweMessage)]
pub fn siwe_message(
    #[wasm_bindgen(unchecked_param_type = "SiweChallenge | string | Uint8Array")]
    challenge_value: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] address: JsValue,
) -> std::result::Result<String, JsValue> {
    let address = string_argument(&address, "address")?;
    Ok(challenge(&challenge_value)?.message(&address))
}

/// Builds SIWE step 2: signs the challenge (EIP-191) and returns
/// `POST {ddsUrl}/internal/v1/nodes/register-wallet`.
#[wasm_bindgen(js_name = buildWalletRegistrationRequest, unchecked_return_type = "HttpRequest")]
pub fn build_wallet_registration_request(
    key: &PrivateKey,
    #[wasm_bindgen(unchecked_param_type = "WalletRequestOptions")] options: JsValue,
) -> std::result::Result<JsValue, JsValue> {
    let options = Options::new(&options, "options")?;
    let config = checked(&options, None)?;
    let challenge_value = options
        .get("challenge")?
        .ok_or_else(|| Error::option("options.challenge is required"))?;
    let challenge = challenge(&challenge_value)?;
    let request = wallet_registration_request(
        &config.dds_url,
        &challenge,
        &config.siwe_domains,
        &config.node,
        &key.inner,
    )
    .map_err(Error::from)?;
    Ok(to_js_request(&request))
}

/// Classifies the DDS's answer to a request sent to `endpoint` (the URL, used in the
/// message): `{ ok: true }` for 2xx, else the failure class, status, `Retry-After` and a
/// message safe to log. `now` (default: now) resolves an HTTP-date `Retry-After`.
#[wasm_bindgen(js_name = classifyResponse, unchecked_return_type = "Classification")]
pub fn classify(
    #[wasm_bindgen(unchecked_param_type = "string")] endpoint: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ResponseLike")] response: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "TimeInput")] now: JsValue,
) -> std::result::Result<JsValue, JsValue> {
    let endpoint = string_argument(&endpoint, "endpoint")?;
    let options = Options::new(&response, "response")?;
    let status = options
        .count("status")?
        .filter(|s| *s == 0 || (100..=999).contains(s))
        .ok_or_else(|| Error::argument("response.status must be 0 or an HTTP status (100-999)"))?;
    // 0 is what a browser reports for a redirect `fetch` did not follow (`redirect:
    // "manual"`, `type: "opaqueredirect"`): classified as the redirect it is.
    let status = if status == 0 {
        convert::OPAQUE_REDIRECT_STATUS
    } else {
        status as u16
    };
    let headers = convert::headers(&options.get("headers")?.unwrap_or(JsValue::UNDEFINED))?;
    let mut body = match options.get("body")? {
        Some(body) => convert::bytes(&body, "response.body")?,
        None => Vec::new(),
    };
    body.truncate(MAX_RESPONSE_BODY);
    let now = convert::time(&now, crate::host::now)?;
    let response = HttpResponse {
        status,
        headers,
        body,
    };
    let result = convert::Obj::new();
    let result = match classify_response(&endpoint, &response, now) {
        Ok(()) => {
            result.set("ok", true);
            result
        }
        Err(failure) => {
            result.set("ok", false);
            FailureDetail::new(&failure).fill(result)
        }
    };
    Ok(result.into_js())
}

/// Formats a time as the protocol signs it: RFC 3339 UTC with nine fractional digits and
/// `Z` (`2024-01-02T03:04:05.006007008Z`). Default: now.
#[wasm_bindgen(js_name = formatTimestamp)]
pub fn format_timestamp(
    #[wasm_bindgen(unchecked_optional_param_type = "TimeInput")] time: JsValue,
) -> std::result::Result<String, JsValue> {
    let time: UnixTime = convert::time(&time, crate::host::now)?;
    Ok(time.to_rfc3339_nanos())
}
