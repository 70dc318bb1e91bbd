//! `PrivateKey`: a secp256k1 key whose `repr()` never shows it.

use crate::convert::{bytes_arg, pyrepr, type_name};
use crate::errors::Error;
use posemesh_registration::PrivateKey;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyType};
use zeroize::Zeroizing;

/// A node's secp256k1 private key.
///
/// Create one with `PrivateKey.from_hex()`, `PrivateKey.from_bytes()` or
/// `PrivateKey.generate()`. `repr()` and `str()` show the Ethereum address,
/// never the key, and the key cannot be pickled. Signatures are deterministic
/// (RFC 6979) and low-S, byte for byte what libsecp256k1 produces.
#[pyclass(frozen, name = "PrivateKey", module = "posemesh_registration")]
pub(crate) struct PyPrivateKey {
    pub(crate) key: PrivateKey,
    public_key_hex: String,
    address: String,
}

impl PyPrivateKey {
    pub(crate) fn new(key: PrivateKey) -> Self {
        PyPrivateKey {
            public_key_hex: key.public_key_hex(),
            address: key.eth_address(),
            key,
        }
    }

    /// A key from a `PrivateKey`, a hex `str` or 32 raw `bytes`.
    pub(crate) fn from_any(obj: &Bound<'_, PyAny>) -> PyResult<PrivateKey> {
        if let Ok(key) = obj.cast::<PyPrivateKey>() {
            return Ok(key.get().key.clone());
        }
        if let Ok(text) = obj.cast::<PyString>() {
            return Ok(
                PrivateKey::from_hex(&Zeroizing::new(text.to_cow()?.into_owned()))
                    .map_err(Error::from)?,
            );
        }
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(PrivateKey::from_bytes(bytes.as_bytes()).map_err(Error::from)?);
        }
        Err(PyTypeError::new_err(format!(
            "private_key must be a PrivateKey, a hex str or 32 bytes, not {}",
            type_name(obj)
        )))
    }
}

#[pymethods]
impl PyPrivateKey {
    /// Loads a key from hex: surrounding whitespace is trimmed, one `0x` prefix
    /// is allowed, upper-case digits are accepted; it must be 32 bytes and a valid
    /// secp256k1 scalar. Raises `InvalidKeyError` (whose message never repeats the input).
    #[classmethod]
    fn from_hex(_cls: &Bound<'_, PyType>, text: &Bound<'_, PyAny>) -> PyResult<Self> {
        let text = text.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "PrivateKey.from_hex() takes a str, not {}",
                type_name(text)
            ))
        })?;
        let key = PrivateKey::from_hex(&Zeroizing::new(text.to_cow()?.into_owned()))
            .map_err(Error::from)?;
        Ok(Self::new(key))
    }

    /// Loads a key from its 32 raw bytes. Raises `InvalidKeyError`.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = Zeroizing::new(bytes_arg(data, "data", false)?);
        let key = PrivateKey::from_bytes(&bytes).map_err(Error::from)?;
        Ok(Self::new(key))
    }

    /// A new random key from the operating system's randomness.
    #[classmethod]
    fn generate(_cls: &Bound<'_, PyType>, py: Python<'_>) -> PyResult<Self> {
        let key =
            crate::logbridge::detach(py, posemesh_registration::generate_key).map_err(|err| {
                Error::State(format!("no randomness from the operating system: {err}"))
            })?;
        Ok(Self::new(key))
    }

    /// The 32 secret bytes, for a host that must store a generated key itself.
    /// Keep them out of logs.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.to_bytes()[..])
    }

    /// The uncompressed SEC1 public key `04 ‖ X ‖ Y` as 130 lowercase hex digits.
    #[getter]
    fn public_key_hex(&self) -> &str {
        &self.public_key_hex
    }

    /// The uncompressed SEC1 public key as 65 bytes.
    #[getter]
    fn public_key_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.public_key_bytes())
    }

    /// The Ethereum address: `0x` and 40 lowercase hex digits.
    #[getter]
    fn eth_address(&self) -> &str {
        &self.address
    }

    /// The legacy registration signature over `message` (`str` is signed as UTF-8):
    /// `keccak256(message)`, `r ‖ s ‖ v` with v in {0, 1}, 130 lowercase hex digits.
    fn sign_registration(&self, message: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self
            .key
            .sign_registration(&bytes_arg(message, "message", true)?))
    }

    /// The EIP-191 (`personal_sign`) signature over `message`: v = 27 or 28,
    /// `0x` and 130 lowercase hex digits.
    fn sign_eip191(&self, message: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self.key.sign_eip191(&bytes_arg(message, "message", true)?))
    }

    /// A compact `r ‖ s` signature over `sha256(message)`: 128 lowercase hex digits.
    fn sign_compact(&self, message: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self.key.sign_compact(&bytes_arg(message, "message", true)?))
    }

    fn __repr__(&self) -> String {
        format!("PrivateKey(<redacted>, address={})", pyrepr(&self.address))
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Keys are equal when their public keys are.
    fn __eq__(&self, other: &Bound<'_, PyPrivateKey>) -> bool {
        other.get().public_key_hex == self.public_key_hex
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.public_key_hex.hash(&mut hasher);
        hasher.finish()
    }

    /// Keys are not picklable: a pickle would carry the secret in clear.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "PrivateKey cannot be pickled (it would write the secret key in clear)",
        ))
    }
}
