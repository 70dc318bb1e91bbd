//! What a DDS checks in a registration, written against libsecp256k1 so that
//! it is independent of the client code under test.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, Secp256k1};
use serde::Deserialize;
use sha3::{Digest, Keccak256};
use std::time::Duration;

/// A refused registration: the status a DDS answers and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status.
    pub status: u16,
    /// Reason, sent as the body's `error`.
    pub reason: String,
}

fn reject(status: u16, reason: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason: reason.into(),
    }
}

/// A legacy registration body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyRegistration {
    pub url: String,
    pub version: String,
    pub registration_credentials: String,
    pub signature: String,
    pub timestamp: String,
    pub public_key: String,
    pub capabilities: Vec<String>,
}

/// A wallet registration body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletRegistration {
    pub message: String,
    pub signature: String,
    pub registration_credentials: String,
    pub capabilities: Vec<String>,
    pub version: String,
}

/// The fields of a SIWE message the DDS cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweFields {
    pub domain: String,
    pub address: String,
    pub uri: String,
    pub version: String,
    pub chain_id: String,
    pub nonce: String,
    pub issued_at: String,
}

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Parses a JSON body strictly: 400 for anything malformed.
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|e| reject(400, format!("malformed body: {e}")))
}

/// Checks a legacy registration at wall-clock `now`; returns the signer's public key.
pub fn verify_legacy(
    reg: &LegacyRegistration,
    now: chrono::DateTime<chrono::Utc>,
    max_age: Duration,
    max_future: Duration,
) -> Result<(), Rejection> {
    // Capabilities may be empty here: PROTOCOL.md requires them only in the
    // wallet flow, and the reference's legacy client sends whatever it has.
    if reg.url.is_empty() || reg.version.is_empty() {
        return Err(reject(422, "url and version are required"));
    }
    check_timestamp_format(&reg.timestamp)?;
    let ts = chrono::DateTime::parse_from_rfc3339(&reg.timestamp)
        .map_err(|_| reject(400, "timestamp is not RFC 3339"))?
        .with_timezone(&chrono::Utc);
    let age = now.signed_duration_since(ts);
    if age > chrono::Duration::from_std(max_age).expect("small") {
        return Err(reject(401, "timestamp too old"));
    }
    if -age > chrono::Duration::from_std(max_future).expect("small") {
        return Err(reject(401, "timestamp in the future"));
    }
    if !is_lower_hex(&reg.public_key, 130) || !reg.public_key.starts_with("04") {
        return Err(reject(
            400,
            "public_key must be 130 lowercase hex digits starting 04",
        ));
    }
    let message = format!("{}{}", reg.url, reg.timestamp);
    let signer = recover(&keccak256(message.as_bytes()), &reg.signature, 0)?;
    if hex::encode(signer.serialize_uncompressed()) != reg.public_key {
        return Err(reject(401, "signature does not match public_key"));
    }
    Ok(())
}

/// The reference's timestamp shape: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
fn check_timestamp_format(ts: &str) -> Result<(), Rejection> {
    let ok = ts.len() == 30
        && ts.ends_with('Z')
        && ts.as_bytes()[19] == b'.'
        && ts[20..29].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(reject(
            400,
            "timestamp must be RFC 3339 UTC with nine fractional digits and Z",
        ))
    }
}

/// Parses the EIP-4361 message in the reference's exact layout.
pub fn parse_siwe(message: &str) -> Result<SiweFields, Rejection> {
    let bad = || reject(400, "SIWE message does not have the expected layout");
    let lines: Vec<&str> = message.split('\n').collect();
    if lines.len() != 8 || !lines[2].is_empty() {
        return Err(bad());
    }
    let domain = lines[0]
        .strip_suffix(" wants you to sign in with your Ethereum account:")
        .ok_or_else(bad)?;
    let field =
        |line: &str, prefix: &str| line.strip_prefix(prefix).map(str::to_owned).ok_or_else(bad);
    Ok(SiweFields {
        domain: domain.to_owned(),
        address: lines[1].to_owned(),
        uri: field(lines[3], "URI: ")?,
        version: field(lines[4], "Version: ")?,
        chain_id: field(lines[5], "Chain ID: ")?,
        nonce: field(lines[6], "Nonce: ")?,
        issued_at: field(lines[7], "Issued At: ")?,
    })
}

/// Checks an EIP-191 signature over `message` was made by `address`.
pub fn verify_eip191(message: &str, signature: &str, address: &str) -> Result<(), Rejection> {
    let mut data = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    data.extend_from_slice(message.as_bytes());
    let signer = recover(
        &keccak256(&data),
        signature
            .strip_prefix("0x")
            .ok_or_else(|| reject(400, "signature must start with 0x"))?,
        27,
    )?;
    if eth_address(&signer) != address {
        return Err(reject(401, "signature does not match wallet"));
    }
    Ok(())
}

/// The address of a legacy registration's public key (hex, uncompressed).
pub fn legacy_address(public_key_hex: &str) -> Option<String> {
    let bytes = hex::decode(public_key_hex).ok()?;
    PublicKey::from_slice(&bytes)
        .ok()
        .map(|key| eth_address(&key))
}

pub fn eth_address(key: &PublicKey) -> String {
    let hash = keccak256(&key.serialize_uncompressed()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

pub fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn recover(prehash: &[u8; 32], signature_hex: &str, v_offset: u8) -> Result<PublicKey, Rejection> {
    if !is_lower_hex(signature_hex, 130) {
        return Err(reject(400, "signature must be 130 lowercase hex digits"));
    }
    let bytes = hex::decode(signature_hex).map_err(|_| reject(400, "signature is not hex"))?;
    let v = bytes[64]
        .checked_sub(v_offset)
        .filter(|v| *v <= 1)
        .ok_or_else(|| reject(401, "bad recovery id"))?;
    let id = RecoveryId::from_i32(i32::from(v)).map_err(|_| reject(401, "bad recovery id"))?;
    let sig = RecoverableSignature::from_compact(&bytes[..64], id)
        .map_err(|_| reject(401, "invalid signature"))?;
    // Only canonical low-S signatures, as libsecp256k1 makes them.
    let mut normal = sig.to_standard();
    normal.normalize_s();
    if normal != sig.to_standard() {
        return Err(reject(401, "signature is not low-S"));
    }
    let message = Message::from_digest_slice(prehash).expect("32 bytes");
    Secp256k1::verification_only()
        .recover_ecdsa(&message, &sig)
        .map_err(|_| reject(401, "signature does not recover"))
}
