//! The protocol's building blocks, for apps that send the requests themselves
//! (or want to check what the registrar sends): timestamps, the legacy and
//! SIWE requests, response classification, the DDS callback.
//!
//! The [`crate::Registrar`] uses all of these internally; most apps need none.

use crate::error::{FailureClass, RegistrationError};
use crate::http::{HttpRequest, HttpResponse, TransportErrorKind};
use crate::keys::{app_signature, NodeKey, Signer};
use posemesh_registration::core::{self as core, request, response, Secret};
use posemesh_registration::unix_time;
use posemesh_registration_core::callback;
use posemesh_registration_core::registrar::DEFAULT_REQUEST_TIMEOUT;
use posemesh_registration_core::registrar::{parse_dds_url, Options};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn invalid_input(err: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::InvalidInput {
        reason: err.to_string(),
    }
}

/// A request's arguments, checked by the core's rules for the low-level
/// builders (`Options::request_config`: the registrar's, with the same
/// messages). The capabilities are sent as given.
fn checked(
    dds_url: &str,
    node_url: Option<String>,
    version: &str,
    capabilities: Vec<String>,
    credentials: String,
    siwe_domains: Vec<String>,
    allow_plaintext_dds: bool,
) -> Result<core::RegistrarConfig, RegistrationError> {
    let options = Options {
        dds_url: dds_url.to_owned(),
        node_url,
        version: version.to_owned(),
        capabilities,
        credentials: Secret::new(credentials),
        siwe_domains,
        allow_plaintext_dds,
        ..Options::default()
    };
    options.request_config().map_err(invalid_input)
}

/// The timestamp the legacy registration signs: RFC 3339 in UTC with nine
/// fractional digits and `Z`, e.g. `2024-01-02T03:04:05.006007008Z`.
#[uniffi::export]
pub fn rfc3339_timestamp(time: SystemTime) -> String {
    unix_time(time).to_rfc3339_nanos()
}

/// The legacy registration request, `POST {ddsUrl}/internal/v1/nodes/register`,
/// signed over `nodeUrl ‖ timestamp` with the timestamp taken from `time`.
/// `InvalidInput` for an `http://` DDS that is not loopback unless
/// `allowPlaintextDds`, as the registrar refuses it.
#[uniffi::export(default(allow_plaintext_dds = false))]
#[allow(clippy::too_many_arguments)] // as Kotlin and Swift callers name them
pub fn legacy_registration_request(
    dds_url: String,
    node_url: String,
    node_version: String,
    capabilities: Vec<String>,
    registration_credentials: String,
    key: Arc<NodeKey>,
    time: SystemTime,
    allow_plaintext_dds: bool,
) -> Result<Arc<HttpRequest>, RegistrationError> {
    let config = checked(
        &dds_url,
        Some(node_url.clone()),
        &node_version,
        capabilities,
        registration_credentials,
        Vec::new(),
        allow_plaintext_dds,
    )?;
    let request = request::legacy_registration_request(
        &config.dds_url,
        &node_url,
        &config.node,
        &key.inner,
        unix_time(time),
    );
    Ok(HttpRequest::new(request, DEFAULT_REQUEST_TIMEOUT))
}

/// SIWE step 1: `POST {ddsUrl}/internal/v1/auth/siwe/request` asking a nonce for `wallet`
/// (`0x` and 40 hex digits, sent in lowercase; `InvalidInput` otherwise, or for
/// a plaintext DDS as in `legacyRegistrationRequest`).
#[uniffi::export(default(allow_plaintext_dds = false))]
pub fn siwe_nonce_request(
    dds_url: String,
    wallet: String,
    allow_plaintext_dds: bool,
) -> Result<Arc<HttpRequest>, RegistrationError> {
    let dds = parse_dds_url(&dds_url, allow_plaintext_dds).map_err(invalid_input)?;
    let request = request::checked_siwe_nonce_request(&dds, &wallet).map_err(invalid_input)?;
    Ok(HttpRequest::new(request, DEFAULT_REQUEST_TIMEOUT))
}

/// The DDS's answer to the nonce request.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SiweChallenge {
    /// Single-use nonce; never empty.
    pub nonce: String,
    /// The domain asking for the signature.
    pub domain: String,
    /// The URI of the sign-in.
    pub uri: String,
    /// SIWE message version.
    pub version: String,
    /// EIP-155 chain id.
    pub chain_id: i64,
    /// When the DDS issued the nonce (RFC 3339, kept verbatim).
    pub issued_at: String,
}

impl From<request::SiweChallenge> for SiweChallenge {
    fn from(c: request::SiweChallenge) -> Self {
        SiweChallenge {
            nonce: c.nonce,
            domain: c.domain,
            uri: c.uri,
            version: c.version,
            chain_id: c.chain_id,
            issued_at: c.issued_at,
        }
    }
}

impl From<SiweChallenge> for request::SiweChallenge {
    fn from(c: SiweChallenge) -> Self {
        request::SiweChallenge {
            nonce: c.nonce,
            domain: c.domain,
            uri: c.uri,
            version: c.version,
            chain_id: c.chain_id,
            issued_at: c.issued_at,
        }
    }
}

/// Reads the body of the DDS's answer to `siweNonceRequest`.
#[uniffi::export]
pub fn parse_siwe_challenge(body: Vec<u8>) -> Result<SiweChallenge, RegistrationError> {
    request::SiweChallenge::parse(&body)
        .map(Into::into)
        .map_err(|err| RegistrationError::InvalidInput {
            reason: err.to_string(),
        })
}

/// The EIP-4361 message the node signs for `challenge` as `address`.
#[uniffi::export]
pub fn siwe_message(challenge: SiweChallenge, address: String) -> String {
    request::SiweChallenge::from(challenge).message(&address)
}

/// SIWE step 2's arguments, checked as the registrar checks them: its
/// configuration rules (the SIWE domains included) and the challenge (the DDS's
/// own domain or one of `siwe_domains`, a nonce, no field that could rewrite the
/// message's lines). Nothing is signed before this passes.
fn wallet_step(
    dds_url: &str,
    challenge: SiweChallenge,
    node_version: &str,
    capabilities: Vec<String>,
    registration_credentials: String,
    siwe_domains: Vec<String>,
    allow_plaintext_dds: bool,
) -> Result<(core::RegistrarConfig, request::SiweChallenge), RegistrationError> {
    let config = checked(
        dds_url,
        None,
        node_version,
        capabilities,
        registration_credentials,
        siwe_domains,
        allow_plaintext_dds,
    )?;
    let challenge = request::SiweChallenge::from(challenge);
    challenge
        .validate(&config.dds_url, &config.siwe_domains)
        .map_err(invalid_input)?;
    Ok((config, challenge))
}

/// SIWE step 2: the signed `POST {ddsUrl}/internal/v1/nodes/register-wallet`.
/// `InvalidInput`, with nothing signed, for a challenge the registrar refuses: a
/// domain other than the DDS's or one of `siweDomains`, a field with a line
/// break or control character; or for a plaintext DDS as in `legacyRegistrationRequest`.
#[uniffi::export(default(siwe_domains = [], allow_plaintext_dds = false))]
#[allow(clippy::too_many_arguments)] // as Kotlin and Swift callers name them
pub fn wallet_registration_request(
    dds_url: String,
    challenge: SiweChallenge,
    node_version: String,
    capabilities: Vec<String>,
    registration_credentials: String,
    key: Arc<NodeKey>,
    siwe_domains: Vec<String>,
    allow_plaintext_dds: bool,
) -> Result<Arc<HttpRequest>, RegistrationError> {
    let (config, challenge) = wallet_step(
        &dds_url,
        challenge,
        &node_version,
        capabilities,
        registration_credentials,
        siwe_domains,
        allow_plaintext_dds,
    )?;
    let request = request::wallet_registration_request(
        &config.dds_url,
        &challenge,
        &config.siwe_domains,
        &config.node,
        &key.inner,
    )
    .map_err(invalid_input)?;
    Ok(HttpRequest::new(request, DEFAULT_REQUEST_TIMEOUT))
}

/// SIWE step 2 signed by the app's [`Signer`] (a wallet SDK, a
/// Keystore-wrapped key): the library never sees the key. Asks the signer for
/// its address and its `personal_sign` of the SIWE message, checks that the
/// signature recovers to that address, and builds the same request as
/// `walletRegistrationRequest`, after the same checks of the challenge (the
/// signer is not asked to sign a challenge the registrar refuses). Step 1 is
/// `siweNonceRequest(ddsUrl, signer.address())`.
#[uniffi::export(default(siwe_domains = [], allow_plaintext_dds = false))]
#[allow(clippy::too_many_arguments)] // as Kotlin and Swift callers name them
pub async fn wallet_registration_request_signed(
    dds_url: String,
    challenge: SiweChallenge,
    node_version: String,
    capabilities: Vec<String>,
    registration_credentials: String,
    signer: Arc<dyn Signer>,
    siwe_domains: Vec<String>,
    allow_plaintext_dds: bool,
) -> Result<Arc<HttpRequest>, RegistrationError> {
    let (config, challenge) = wallet_step(
        &dds_url,
        challenge,
        &node_version,
        capabilities,
        registration_credentials,
        siwe_domains,
        allow_plaintext_dds,
    )?;
    let (message, signature) =
        app_signature(&*signer, |address| challenge.message(address)).await?;
    let request = request::wallet_registration_request_signed(
        &config.dds_url,
        &message,
        &signature,
        &config.node,
    );
    Ok(HttpRequest::new(request, DEFAULT_REQUEST_TIMEOUT))
}

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Failure {
    /// What to do about it.
    pub failure_class: FailureClass,
    /// The HTTP status, when there was a response.
    pub status: Option<i32>,
    /// The server's `Retry-After`, capped at one hour.
    pub retry_after: Option<Duration>,
    /// A one-line description safe to log (at most 512 bytes of the body).
    pub detail: String,
    /// What to do, for a 409 (usually another instance registered with the
    /// same wallet), a 402 (the wallet lacks the stake the network requires) or
    /// a legacy registration refused while the DDS's clock differs from the device's.
    #[uniffi(default = None)]
    pub hint: Option<String>,
}

impl From<core::Failure> for Failure {
    fn from(f: core::Failure) -> Self {
        Failure {
            failure_class: f.class.into(),
            status: f.status.map(i32::from),
            retry_after: f.retry_after,
            hint: f.hint().map(str::to_owned),
            detail: f.message,
        }
    }
}

/// Classifies the DDS's response to a request sent to `endpoint` (a URL):
/// `null`/`nil` for 2xx, otherwise the failure. `now` resolves an HTTP-date
/// `Retry-After`. Throws `InvalidInput` for a status outside 100 to 999.
#[uniffi::export]
pub fn classify_response(
    endpoint: String,
    response: HttpResponse,
    now: SystemTime,
) -> Result<Option<Failure>, RegistrationError> {
    Ok(
        response::classify_response(&endpoint, &response.try_into()?, unix_time(now))
            .err()
            .map(Into::into),
    )
}

/// Classifies a request to `endpoint` that got no response.
#[uniffi::export]
pub fn classify_transport_error(
    endpoint: String,
    kind: TransportErrorKind,
    detail: String,
) -> Failure {
    response::classify_transport_error(&endpoint, &core::TransportError::new(kind.into(), detail))
        .into()
}

/// What a valid DDS callback (`POST /internal/v1/registrations`) says,
/// without the secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrationCallbackInfo {
    /// The node's id at the DDS.
    pub id: String,
    /// Its organisation, if given.
    pub organization_id: Option<String>,
    /// Length of the secret in bytes.
    pub secret_length: u32,
}

/// Checks a DDS callback body as the registrar would (blank id or secret:
/// 422, secret over 4096 bytes: 403, malformed: 400, over 2 MiB: 413) and
/// throws `CallbackRejected` with the status to answer. To apply a callback,
/// pass the request to `Registrar.handleNodeRequest` instead.
#[uniffi::export]
pub fn check_registration_callback(
    body: Vec<u8>,
) -> Result<RegistrationCallbackInfo, RegistrationError> {
    let cb = callback::parse_registration_callback(&body).map_err(|rejection| {
        RegistrationError::CallbackRejected {
            status: i32::from(rejection.status()),
            reason: rejection.to_string(),
        }
    })?;
    Ok(RegistrationCallbackInfo {
        id: cb.id,
        organization_id: cb.organization_id,
        secret_length: u32::try_from(cb.secret.len()).unwrap_or(u32::MAX),
    })
}

/// Whether a `User-Agent` is the DDS's health probe (`DDS v…`).
#[uniffi::export]
pub fn is_dds_user_agent(user_agent: String) -> bool {
    callback::is_dds_user_agent(&user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use posemesh_registration::system_time;
    use std::time::UNIX_EPOCH;

    #[test]
    fn times_before_the_epoch_clamp() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_timestamp(before), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_704_164_645, 6_007_008);
        assert_eq!(rfc3339_timestamp(t), "2024-01-02T03:04:05.006007008Z");
        assert_eq!(system_time(unix_time(t)), t);
    }
}
