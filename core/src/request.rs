//! The HTTP requests a node sends to the DDS, as plain data.
//!
//! The host sends them with whatever HTTP client its runtime has. Bodies are
//! the exact bytes the reference crate sends (serde_json, fields in its order).

use crate::json::{self, Reader};
use crate::keys::Signer;
use crate::secret::Secret;
use crate::time::UnixTime;
use crate::url::BaseUrl;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Path of the legacy registration endpoint.
pub const LEGACY_REGISTER_PATH: &str = "/internal/v1/nodes/register";
/// Path of the SIWE nonce request.
pub const SIWE_REQUEST_PATH: &str = "/internal/v1/auth/siwe/request";
/// Path of the wallet registration endpoint.
pub const WALLET_REGISTER_PATH: &str = "/internal/v1/nodes/register-wallet";

/// HTTP method of an outgoing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name, `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// An HTTP request for the host to send.
///
/// `Debug` shows the body's length only: a registration body carries the
/// registration credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST` for every DDS call.
    pub method: Method,
    /// The full URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body bytes, sent as they are.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// What a node tells the DDS about itself, in either flow.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's software version.
    pub version: String,
    /// Capability paths, e.g. `/reconstruction/global-refinement/v1`.
    pub capabilities: Vec<String>,
    /// The registration credentials sent with each registration.
    pub credentials: Secret,
}

impl fmt::Debug for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDescription")
            .field("version", &self.version)
            .field("capabilities", &self.capabilities)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Serialize)]
struct LegacyBody<'a> {
    url: &'a str,
    version: &'a str,
    registration_credentials: &'a str,
    signature: &'a str,
    timestamp: &'a str,
    public_key: &'a str,
    capabilities: &'a [String],
}

/// The legacy registration: `POST {dds}/internal/v1/nodes/register`, signed over
/// `node_url ‖ timestamp` with the timestamp taken from `now`.
pub fn legacy_registration_request<S: Signer + ?Sized>(
    dds: &BaseUrl,
    node_url: &str,
    node: &NodeDescription,
    key: &S,
    now: UnixTime,
) -> HttpRequest {
    let timestamp = now.to_rfc3339_nanos();
    let signature = key.sign_registration(format!("{node_url}{timestamp}").as_bytes());
    let public_key = key.public_key_hex();
    json_post(
        dds.endpoint(LEGACY_REGISTER_PATH),
        &LegacyBody {
            url: node_url,
            version: &node.version,
            registration_credentials: node.credentials.expose(),
            signature: &signature,
            timestamp: &timestamp,
            public_key: &public_key,
            capabilities: &node.capabilities,
        },
    )
}

/// SIWE step 1 for an address given from outside: `wallet` must be `0x` and 40
/// hex digits (any case, sent in lowercase, as the registrar sends its own).
pub fn checked_siwe_nonce_request(
    dds: &BaseUrl,
    wallet: &str,
) -> Result<HttpRequest, InvalidAddress> {
    let wallet = crate::keys::parse_eth_address(wallet).ok_or(InvalidAddress)?;
    Ok(siwe_nonce_request(dds, &wallet))
}

/// An address that is not `0x` and 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the wallet address is not 0x and 40 hex digits")]
pub struct InvalidAddress;

/// SIWE step 1: ask the DDS for a nonce for `wallet` (an `0x` address).
pub fn siwe_nonce_request(dds: &BaseUrl, wallet: &str) -> HttpRequest {
    #[derive(Serialize)]
    struct Body<'a> {
        wallet: &'a str,
    }
    json_post(dds.endpoint(SIWE_REQUEST_PATH), &Body { wallet })
}

/// What the DDS answers to a SIWE nonce request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(rename = "chainId")]
    pub chain_id: i64,
    /// When the DDS issued the nonce (RFC 3339, copied verbatim).
    #[serde(rename = "issuedAt")]
    pub issued_at: String,
}

/// Why a SIWE challenge could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Not JSON, or a field missing or of the wrong type.
    #[error("SIWE challenge is malformed: {0}")]
    Malformed(String),
    /// The nonce is empty.
    #[error("SIWE challenge has an empty nonce")]
    EmptyNonce,
    /// A field holds a line break or another control character, which would
    /// let it rewrite the signed message.
    #[error("SIWE challenge field `{0}` contains a line break or control character")]
    ControlCharacter(&'static str),
    /// The challenge names another site: signing it would sign in there.
    #[error("SIWE challenge is for domain {found}, not the DDS ({expected}); refusing to sign")]
    ForeignDomain {
        /// The domain the challenge named (sanitised, shortened).
        found: String,
        /// The DDS URL's authority.
        expected: String,
    },
    /// The URI is not on the challenge's domain.
    #[error("SIWE challenge URI is not on domain {0}; refusing to sign")]
    ForeignUri(String),
    /// The chain id is not a positive number.
    #[error("SIWE challenge chain id must be a positive number")]
    BadChainId,
    /// `issuedAt` is not an RFC 3339 time.
    #[error("SIWE challenge issuedAt is not an RFC 3339 time")]
    BadIssuedAt,
    /// A version other than `1`.
    #[error("SIWE challenge version must be 1")]
    BadVersion,
}

impl SiweChallenge {
    /// Reads the DDS's answer to [`siwe_nonce_request`].
    pub fn parse(body: &[u8]) -> Result<Self, ChallengeError> {
        let challenge = json::read(body, Self::read)
            .map_err(|err| ChallengeError::Malformed(err.to_string()))?;
        if challenge.nonce.is_empty() {
            return Err(ChallengeError::EmptyNonce);
        }
        Ok(challenge)
    }

    fn read(r: &mut Reader<'_>) -> json::Result<Self> {
        let (mut nonce, mut domain, mut uri, mut version) = (None, None, None, None);
        let (mut chain_id, mut issued_at) = (None, None);
        r.object(&mut |r, key| match key {
            "nonce" => r.once(&mut nonce, Reader::string),
            "domain" => r.once(&mut domain, Reader::string),
            "uri" => r.once(&mut uri, Reader::string),
            "version" => r.once(&mut version, Reader::string),
            "chainId" => r.once(&mut chain_id, |r| r.integer()),
            "issuedAt" => r.once(&mut issued_at, Reader::string),
            _ => Ok(false),
        })?;
        let missing = || r.invalid();
        Ok(SiweChallenge {
            nonce: nonce.ok_or_else(missing)?,
            domain: domain.ok_or_else(missing)?,
            uri: uri.ok_or_else(missing)?,
            version: version.ok_or_else(missing)?,
            chain_id: chain_id.ok_or_else(missing)?,
            issued_at: issued_at.ok_or_else(missing)?,
        })
    }

    /// Checks the challenge before anything is signed: its domain is the DDS
    /// URL's authority (host, host and port, or host and the scheme's default
    /// port; for a loopback DDS any loopback name on its port or none) or one
    /// of `also_trusted`, its URI is on that domain, no field can
    /// break the message's lines, the chain id is a positive number,
    /// `issuedAt` an RFC 3339 time and the version 1. The nonce is the DDS's
    /// own business: any non-empty one is signed, as the reference does
    /// (EIP-4361's letters and digits are not required; a UUID is fine).
    pub fn validate(&self, dds: &BaseUrl, also_trusted: &[String]) -> Result<(), ChallengeError> {
        if self.nonce.is_empty() {
            return Err(ChallengeError::EmptyNonce);
        }
        let fields: [(&'static str, &str); 5] = [
            ("domain", &self.domain),
            ("uri", &self.uri),
            ("version", &self.version),
            ("nonce", &self.nonce),
            ("issuedAt", &self.issued_at),
        ];
        for (name, value) in fields {
            if value
                .chars()
                .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
            {
                return Err(ChallengeError::ControlCharacter(name));
            }
        }
        if self.chain_id < 1 {
            return Err(ChallengeError::BadChainId);
        }
        if self.version != "1" {
            return Err(ChallengeError::BadVersion);
        }
        if UnixTime::parse_rfc3339(&self.issued_at).is_none() {
            return Err(ChallengeError::BadIssuedAt);
        }
        let authority = dds.authority();
        let domain = self.domain.to_ascii_lowercase();
        let trusted = domain == authority
            || domain == dds.host()
            || domain == format!("{}:{}", dds.host(), dds.default_port())
            || names_the_same_loopback(dds, &domain)
            || also_trusted.iter().any(|d| d.eq_ignore_ascii_case(&domain));
        if !trusted {
            return Err(ChallengeError::ForeignDomain {
                found: crate::redact::short_text(&self.domain, 100),
                expected: authority,
            });
        }
        let uri_authority = crate::url::url_authority(&self.uri).map(str::to_ascii_lowercase);
        let on_domain = uri_authority.as_deref().is_some_and(|a| {
            a == domain
                || crate::url::host_of_authority(a) == crate::url::host_of_authority(&domain)
        });
        if !on_domain {
            return Err(ChallengeError::ForeignUri(crate::redact::short_text(
                &self.domain,
                100,
            )));
        }
        Ok(())
    }

    /// The EIP-4361 message the node signs, in the reference's exact layout.
    pub fn message(&self, address: &str) -> String {
        format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\nURI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.domain, address, self.uri, self.version, self.chain_id, self.nonce, self.issued_at
        )
    }
}

/// `localhost`, `127.0.0.1` and `[::1]` all name this machine: a loopback DDS
/// (a local server, or a tunnel to the DDS) may call itself by any of them,
/// without a port or with the one the node talks to. Another port is another
/// server, and a public name is another site: neither is signed for.
fn names_the_same_loopback(dds: &BaseUrl, domain: &str) -> bool {
    use crate::url::{host_of_authority, is_loopback_host, port_of_authority};
    dds.is_loopback()
        && is_loopback_host(host_of_authority(domain))
        && port_of_authority(domain).is_none_or(|port| port == dds.port().to_string())
}

#[derive(Serialize)]
struct WalletBody<'a> {
    message: &'a str,
    signature: &'a str,
    registration_credentials: &'a str,
    capabilities: &'a [String],
    version: &'a str,
}

/// SIWE step 2: check the challenge as the registrar does
/// ([`SiweChallenge::validate`]: the DDS's own domain or one of `also_trusted`,
/// no field that could rewrite the message's lines), sign it (EIP-191) and
/// register: `POST {dds}/internal/v1/nodes/register-wallet`. Nothing is signed
/// for a challenge the registrar would refuse.
pub fn wallet_registration_request<S: Signer + ?Sized>(
    dds: &BaseUrl,
    challenge: &SiweChallenge,
    also_trusted: &[String],
    node: &NodeDescription,
    key: &S,
) -> Result<HttpRequest, ChallengeError> {
    challenge.validate(dds, also_trusted)?;
    let message = challenge.message(&key.eth_address());
    let signature = key.sign_eip191(message.as_bytes());
    Ok(wallet_registration_request_signed(
        dds, &message, &signature, node,
    ))
}

/// SIWE step 2 with a signature made elsewhere: `signature` must be the
/// EIP-191 signature of `message` as [`Signer::sign_eip191`] writes it (see
/// [`crate::keys::accept_eip191_signature`]).
pub fn wallet_registration_request_signed(
    dds: &BaseUrl,
    message: &str,
    signature: &str,
    node: &NodeDescription,
) -> HttpRequest {
    json_post(
        dds.endpoint(WALLET_REGISTER_PATH),
        &WalletBody {
            message,
            signature,
            registration_credentials: node.credentials.expose(),
            capabilities: &node.capabilities,
            version: &node.version,
        },
    )
}

pub(crate) fn json_post(url: String, body: &impl Serialize) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        // Serialising plain strings and string lists into a Vec cannot fail.
        body: serde_json::to_vec(body).expect("string fields always serialise"),
    }
}
