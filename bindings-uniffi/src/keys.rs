//! The node's secp256k1 key and the protocol's three signatures.

use crate::error::RegistrationError;
use posemesh_registration_core as core;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A node's secp256k1 private key.
///
/// `toString()` / `description` / `debugDescription` show the Ethereum
/// address only, never the key; the key bytes are zeroised when the object is
/// destroyed (call `close()`/`destroy()` in Kotlin to do it promptly).
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct NodeKey {
    pub(crate) inner: core::PrivateKey,
}

#[uniffi::export]
impl NodeKey {
    /// Loads a key from hex: surrounding whitespace trimmed, one optional
    /// `0x`, exactly 64 hex digits (either case), a valid secp256k1 scalar.
    /// Throws `InvalidKey`, whose message never contains the input.
    #[uniffi::constructor]
    pub fn from_hex(hex: String) -> Result<Arc<Self>, RegistrationError> {
        let hex = Zeroizing::new(hex);
        Ok(Arc::new(NodeKey {
            inner: core::PrivateKey::from_hex(&hex)?,
        }))
    }

    /// Loads a key from its 32 raw bytes (e.g. from the Keychain or Keystore).
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>, RegistrationError> {
        let bytes = Zeroizing::new(bytes);
        Ok(Arc::new(NodeKey {
            inner: core::PrivateKey::from_bytes(&bytes)?,
        }))
    }

    /// A new random key from the operating system's randomness. Store it with
    /// `exportPrivateKeyBytes()` if the node must keep its identity.
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<Self>, RegistrationError> {
        let inner =
            posemesh_registration::generate_key().map_err(|err| RegistrationError::Unexpected {
                detail: format!("no OS randomness: {err}"),
            })?;
        Ok(Arc::new(NodeKey { inner }))
    }

    /// The 32 secret bytes, for the app to store the key itself (Keychain,
    /// Android Keystore-wrapped storage). Handle with care; never log them.
    pub fn export_private_key_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes().to_vec()
    }

    /// The uncompressed public key `04 ‖ X ‖ Y` as 130 lowercase hex digits.
    pub fn public_key_hex(&self) -> String {
        self.inner.public_key_hex()
    }

    /// The Ethereum address, `0x` and 40 lowercase hex digits.
    pub fn eth_address(&self) -> String {
        self.inner.eth_address()
    }

    /// The legacy registration signature over the UTF-8 bytes of `message`:
    /// `keccak256`, `r ‖ s ‖ v` with v ∈ {0, 1}, 130 lowercase hex digits.
    pub fn sign_registration(&self, message: String) -> String {
        self.inner.sign_registration(message.as_bytes())
    }

    /// The EIP-191 (`personal_sign`) signature over the UTF-8 bytes of
    /// `message`: v ∈ {27, 28}, `0x` and 130 lowercase hex digits.
    pub fn sign_eip191(&self, message: String) -> String {
        self.inner.sign_eip191(message.as_bytes())
    }

    /// The compact signature `r ‖ s` over `sha256(message)`, 128 lowercase hex digits.
    pub fn sign_compact(&self, message: String) -> String {
        self.inner.sign_compact(message.as_bytes())
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "PrivateKey(<redacted>, 0x…)"
        write!(f, "Node{}", self.inner)
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("key", &core::secret::REDACTED)
            .field("address", &self.inner.eth_address())
            .finish()
    }
}

/// A signer the app keeps: a wallet SDK, a key wrapped by the Android
/// Keystore or held in the Secure Enclave's reach, a remote signing service.
/// The library never sees the key: it asks for the address and for EIP-191
/// (`personal_sign`) signatures, which is all the wallet flow needs.
///
/// Used by `walletRegistrationRequestSigned` (the signed step of the wallet
/// flow). `personalSign` is `suspend`/`async`, so it may show a prompt or ask
/// a server. Whatever it throws fails the call with that error (anything but
/// `RegistrationException`/`RegistrationError` becomes `Unexpected`).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// The signer's Ethereum address, `0x` and 40 hex digits (any case).
    fn address(&self) -> Result<String, RegistrationError>;
    /// The EIP-191 `personal_sign` signature of `message` (the library
    /// passes the message bytes; the signer prefixes
    /// `"\x19Ethereum Signed Message:\n" + length` and hashes with keccak256):
    /// 65 bytes `r ‖ s ‖ v`, v in {27, 28} or {0, 1}.
    async fn personal_sign(&self, message: Vec<u8>) -> Result<Vec<u8>, RegistrationError>;
}

/// Asks the app's `signer` for its address and its signature of the message
/// `message_for(address)`, checked by the core's rule (65 bytes, recovering
/// to that address). Returns the message and the signature as the DDS takes it.
pub(crate) async fn app_signature(
    signer: &dyn Signer,
    message_for: impl FnOnce(&str) -> String,
) -> Result<(String, String), RegistrationError> {
    let address = core::keys::parse_eth_address(&signer.address()?).ok_or_else(|| {
        RegistrationError::InvalidInput {
            reason: "the signer's address is not 0x and 40 hex digits".into(),
        }
    })?;
    let message = message_for(&address);
    let signature = signer.personal_sign(message.clone().into_bytes()).await?;
    let signature = core::keys::accept_eip191_signature(message.as_bytes(), &signature, &address)
        .map_err(|err| RegistrationError::InvalidInput {
        reason: format!("the signer's signature is unusable: {err}"),
    })?;
    Ok((message, signature))
}

/// The public key (uncompressed, hex) that made a legacy registration
/// signature over `message`: what a DDS checks.
#[uniffi::export]
pub fn recover_registration_signer(
    message: String,
    signature_hex: String,
) -> Result<String, RegistrationError> {
    core::keys::recover_registration_signer(message.as_bytes(), &signature_hex).map_err(|err| {
        RegistrationError::InvalidInput {
            reason: err.to_string(),
        }
    })
}

/// The Ethereum address that made an EIP-191 signature over `message`.
#[uniffi::export]
pub fn recover_eip191_signer(
    message: String,
    signature_hex: String,
) -> Result<String, RegistrationError> {
    core::keys::recover_eip191_signer(message.as_bytes(), &signature_hex).map_err(|err| {
        RegistrationError::InvalidInput {
            reason: err.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";

    /// An app signer over a key the library is never given.
    struct AppSigner {
        key: core::PrivateKey,
        v_offset: u8,
        address: Option<String>,
    }

    #[async_trait::async_trait]
    impl Signer for AppSigner {
        fn address(&self) -> Result<String, RegistrationError> {
            Ok(self
                .address
                .clone()
                .unwrap_or_else(|| self.key.eth_address().to_uppercase().replace("0X", "0x")))
        }
        async fn personal_sign(&self, message: Vec<u8>) -> Result<Vec<u8>, RegistrationError> {
            let hex = self.key.sign_eip191(&message);
            let mut bytes: Vec<u8> = (2..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            bytes[64] -= self.v_offset;
            Ok(bytes)
        }
    }

    fn sign(signer: &AppSigner) -> Result<(String, String), RegistrationError> {
        let runtime = crate::tasks::runtime().unwrap();
        runtime.block_on(app_signature(signer, |address| {
            format!("sign in as {address}")
        }))
    }

    #[test]
    fn app_signers_sign_for_their_address_only() {
        let key = core::PrivateKey::from_hex(KEY).unwrap();
        let address = key.eth_address();
        // v as 27/28 or 0/1, the address in any case: both accepted, normalised.
        for v_offset in [0, 27] {
            let signer = AppSigner {
                key: key.clone(),
                v_offset,
                address: None,
            };
            let (message, signature) = sign(&signer).unwrap();
            assert_eq!(message, format!("sign in as {address}"));
            assert_eq!(signature, key.sign_eip191(message.as_bytes()));
        }
        // A signature that recovers to another address is refused.
        let impostor = AppSigner {
            key: core::PrivateKey::from_hex(&KEY.replace('4', "5")).unwrap(),
            v_offset: 0,
            address: Some(address.clone()),
        };
        let err = sign(&impostor).err().unwrap();
        assert!(err.to_string().contains("recovers to"), "{err}");
        let bad = AppSigner {
            key,
            v_offset: 0,
            address: Some("0x1234".into()),
        };
        assert!(matches!(
            sign(&bad),
            Err(RegistrationError::InvalidInput { .. })
        ));
    }
}
