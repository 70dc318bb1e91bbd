//! secp256k1 keys and the three signature formats the DDS protocol uses.
//!
//! All signatures are deterministic (RFC 6979) and low-S, so the same key and
//! message give the same bytes as libsecp256k1, `eth-keys` or `@noble/secp256k1`.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha2::Sha256;
use sha3::{Digest, Keccak256};
use std::fmt;
use zeroize::Zeroizing;

/// Why a private key was refused. Never carries the input itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not hexadecimal (after trimming and one optional `0x`).
    #[error("private key is not valid hex (expected 64 hex digits, optionally prefixed by 0x)")]
    NotHex,
    /// The key does not have 32 bytes.
    #[error("private key must be 32 bytes, got {0}")]
    WrongLength(usize),
    /// The hex text does not have 64 digits.
    #[error("private key must be 64 hex digits (32 bytes), got {0} digits")]
    WrongHexLength(usize),
    /// Zero or not below the curve order.
    #[error("private key is not a valid secp256k1 scalar (zero or not below the curve order)")]
    OutOfRange,
}

/// Why a signature could not be checked or recovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not hex, or the wrong number of bytes.
    #[error("signature is malformed: {0}")]
    Malformed(&'static str),
    /// Well formed, but no public key recovers from it.
    #[error("signature does not verify")]
    Invalid,
    /// A valid signature, by another key than the one expected.
    #[error("signature recovers to {recovered}, not to {expected}")]
    WrongSigner {
        /// The address the signature recovers to.
        recovered: String,
        /// The address it should have recovered to.
        expected: String,
    },
}

/// A node's secp256k1 private key.
///
/// `Debug` and `Display` never show the key, and its bytes are zeroised on drop
/// (k256's `SigningKey` does that itself).
#[derive(Clone)]
pub struct PrivateKey {
    signing: SigningKey,
}

impl PrivateKey {
    /// Loads a key from hex the way the reference does: surrounding whitespace
    /// trimmed, one optional `0x`, exactly 32 bytes, a valid scalar.
    /// Upper-case hex digits are accepted.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex);
        }
        if digits.len() != 64 {
            return Err(KeyError::WrongHexLength(digits.len()));
        }
        let bytes = Zeroizing::new(hex::decode(digits).map_err(|_| KeyError::NotHex)?);
        Self::from_bytes(&bytes)
    }

    /// Loads a key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::WrongLength(bytes.len()));
        }
        let signing = SigningKey::from_slice(bytes).map_err(|_| KeyError::OutOfRange)?;
        Ok(PrivateKey { signing })
    }

    /// A key from 32 bytes of host randomness, retrying the (astronomically
    /// rare) out-of-range case is the caller's job: this returns the error.
    pub fn from_random_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes);
        Self::from_bytes(&bytes[..])
    }

    /// The 32 secret bytes, for a host that must store the key itself.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.signing.to_bytes());
        out
    }

    /// The uncompressed SEC1 public key `04 ‖ X ‖ Y` (65 bytes).
    pub fn public_key_bytes(&self) -> [u8; 65] {
        uncompressed(self.signing.verifying_key())
    }

    /// The uncompressed public key as 130 lowercase hex digits, no `0x`.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key_bytes())
    }

    /// The Ethereum address: `0x` and the last 20 bytes of `keccak256(X ‖ Y)`.
    pub fn eth_address(&self) -> String {
        eth_address_of(&self.public_key_bytes())
    }

    /// The legacy registration signature: `keccak256(message)` with no prefix,
    /// `r ‖ s ‖ v` with v ∈ {0, 1}, 130 lowercase hex digits.
    pub fn sign_registration(&self, message: &[u8]) -> String {
        hex::encode(self.sign_recoverable(&keccak256(message), 0))
    }

    /// The EIP-191 `personal_sign` signature: v = recovery id + 27, `0x`-prefixed.
    pub fn sign_eip191(&self, message: &[u8]) -> String {
        format!(
            "0x{}",
            hex::encode(self.sign_recoverable(&eip191_hash(message), 27))
        )
    }

    /// A compact `r ‖ s` signature over `sha256(message)`, 128 lowercase hex digits.
    pub fn sign_compact(&self, message: &[u8]) -> String {
        let digest = Sha256::digest(message);
        let (signature, _) = self.sign_prehash(&digest);
        hex::encode(signature.to_bytes())
    }

    fn sign_recoverable(&self, prehash: &[u8; 32], v_offset: u8) -> [u8; 65] {
        let (signature, recovery_id) = self.sign_prehash(prehash);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = recovery_id.to_byte() + v_offset;
        out
    }

    fn sign_prehash(&self, prehash: &[u8]) -> (Signature, RecoveryId) {
        self.signing.sign_prehash_recoverable(prehash)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key", &crate::secret::REDACTED)
            .field("address", &self.eth_address())
            .finish()
    }
}

impl fmt::Display for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({}, {})",
            crate::secret::REDACTED,
            self.eth_address()
        )
    }
}

/// What the protocol needs from a node's key. [`PrivateKey`] implements it; a
/// host whose key lives elsewhere (an HSM, a hardware wallet) can implement it
/// too, as long as it produces the same deterministic signatures.
pub trait Signer: Send + Sync {
    /// The uncompressed public key as 130 lowercase hex digits.
    fn public_key_hex(&self) -> String;
    /// The `0x` Ethereum address.
    fn eth_address(&self) -> String;
    /// The legacy registration signature (see [`PrivateKey::sign_registration`]).
    fn sign_registration(&self, message: &[u8]) -> String;
    /// The EIP-191 signature (see [`PrivateKey::sign_eip191`]).
    fn sign_eip191(&self, message: &[u8]) -> String;
}

impl Signer for PrivateKey {
    fn public_key_hex(&self) -> String {
        PrivateKey::public_key_hex(self)
    }
    fn eth_address(&self) -> String {
        PrivateKey::eth_address(self)
    }
    fn sign_registration(&self, message: &[u8]) -> String {
        PrivateKey::sign_registration(self, message)
    }
    fn sign_eip191(&self, message: &[u8]) -> String {
        PrivateKey::sign_eip191(self, message)
    }
}

impl<T: Signer + ?Sized> Signer for &T {
    fn public_key_hex(&self) -> String {
        (**self).public_key_hex()
    }
    fn eth_address(&self) -> String {
        (**self).eth_address()
    }
    fn sign_registration(&self, message: &[u8]) -> String {
        (**self).sign_registration(message)
    }
    fn sign_eip191(&self, message: &[u8]) -> String {
        (**self).sign_eip191(message)
    }
}

/// `keccak256(data)`: the original Keccak-256 (Ethereum), not SHA3-256.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 digest of a message:
/// `keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message)`.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// Recovers the uncompressed public key (lowercase hex) that made a legacy
/// registration signature over `message`. This is what a DDS checks.
pub fn recover_registration_signer(
    message: &[u8],
    signature_hex: &str,
) -> Result<String, SignatureError> {
    let key = recover(&keccak256(message), signature_hex, 0)?;
    Ok(hex::encode(uncompressed(&key)))
}

/// Recovers the Ethereum address that made an EIP-191 signature over `message`.
pub fn recover_eip191_signer(
    message: &[u8],
    signature_hex: &str,
) -> Result<String, SignatureError> {
    let key = recover(&eip191_hash(message), signature_hex, 27)?;
    Ok(eth_address_of(&uncompressed(&key)))
}

/// An Ethereum address as `0x` and 40 lowercase hex digits, from `text` in
/// any case (surrounding spaces ignored); `None` if it is not one.
pub fn parse_eth_address(text: &str) -> Option<String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.strip_prefix("0x")?;
    (digits.len() == 40 && digits.bytes().all(|b| b.is_ascii_hexdigit())).then_some(lower)
}

/// Checks an EIP-191 signature of `message` made outside this library (a
/// wallet, a hardware-backed key): 65 bytes `r ‖ s ‖ v`, v in {0, 1} or
/// {27, 28}, that recovers to `address`. Returns it as
/// [`PrivateKey::sign_eip191`] writes it (`0x`, v as 27 or 28), the form the
/// DDS takes.
pub fn accept_eip191_signature(
    message: &[u8],
    signature: &[u8],
    address: &str,
) -> Result<String, SignatureError> {
    let mut bytes: [u8; 65] = signature
        .try_into()
        .map_err(|_| SignatureError::Malformed("expected 65 bytes r ‖ s ‖ v"))?;
    if bytes[64] < 27 {
        bytes[64] = bytes[64].saturating_add(27);
    }
    let signature_hex = format!("0x{}", hex::encode(bytes));
    let recovered = recover_eip191_signer(message, &signature_hex)?;
    let expected = parse_eth_address(address).unwrap_or_default();
    if recovered == expected {
        Ok(signature_hex)
    } else {
        Err(SignatureError::WrongSigner {
            recovered,
            expected: address.to_owned(),
        })
    }
}

/// The Ethereum address of an uncompressed public key given as hex.
pub fn eth_address_from_public_key_hex(public_key_hex: &str) -> Result<String, SignatureError> {
    let bytes = hex::decode(public_key_hex)
        .map_err(|_| SignatureError::Malformed("public key is not hex"))?;
    let key = VerifyingKey::from_sec1_bytes(&bytes)
        .map_err(|_| SignatureError::Malformed("not a secp256k1 public key"))?;
    Ok(eth_address_of(&uncompressed(&key)))
}

fn recover(
    prehash: &[u8; 32],
    signature_hex: &str,
    v_offset: u8,
) -> Result<VerifyingKey, SignatureError> {
    let digits = signature_hex.strip_prefix("0x").unwrap_or(signature_hex);
    let bytes = hex::decode(digits).map_err(|_| SignatureError::Malformed("not hex"))?;
    if bytes.len() != 65 {
        return Err(SignatureError::Malformed("expected 65 bytes r ‖ s ‖ v"));
    }
    let v = bytes[64]
        .checked_sub(v_offset)
        .filter(|v| *v <= 1)
        .ok_or(SignatureError::Malformed("recovery byte out of range"))?;
    let signature = Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::Invalid)?;
    // A DDS should only accept canonical (low-S) signatures, as libsecp256k1 produces.
    if signature.normalize_s() != signature {
        return Err(SignatureError::Invalid);
    }
    let recovery_id = RecoveryId::from_byte(v).ok_or(SignatureError::Invalid)?;
    VerifyingKey::recover_from_prehash(prehash, &signature, recovery_id)
        .map_err(|_| SignatureError::Invalid)
}

fn uncompressed(key: &VerifyingKey) -> [u8; 65] {
    let point = key.to_sec1_point(false);
    let mut out = [0u8; 65];
    out.copy_from_slice(point.as_bytes());
    out
}

fn eth_address_of(uncompressed: &[u8; 65]) -> String {
    let hash = keccak256(&uncompressed[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}
