"""Exceptions raised by posemesh_registration."""

from typing import Literal, Optional

class RegistrationError(Exception):
    """Base class of every error this package raises on purpose."""

class InvalidKeyError(RegistrationError, ValueError):
    """A private key is not 32 bytes of hex or not a valid secp256k1 scalar."""

class ConfigError(RegistrationError, ValueError):
    """A registrar or request argument is invalid."""

class InvalidUrlError(ConfigError):
    """The DDS URL or the node URL is not a usable http(s) URL, or a plaintext DDS URL
    that is not loopback without allow_plaintext_dds=True."""

class DdsRejectedError(RegistrationError):
    """The DDS answered a registration with an error status."""

    status: Optional[int]
    kind: Literal["conflict", "retry_fast", "retry_later"]
    retry_after: Optional[float]
    hint: Optional[str]
    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        kind: Literal["conflict", "retry_fast", "retry_later"] = "retry_later",
        retry_after: Optional[float] = None,
        hint: Optional[str] = None,
    ) -> None: ...

class ConflictError(DdsRejectedError):
    """The DDS answered 409: the node is registered elsewhere."""

    def __init__(
        self,
        message: str,
        status: Optional[int] = 409,
        kind: Literal["conflict", "retry_fast", "retry_later"] = "conflict",
        retry_after: Optional[float] = None,
        hint: Optional[str] = None,
    ) -> None: ...

class TransportError(RegistrationError, ConnectionError):
    """No usable answer from the DDS."""

    kind: Literal["retry_fast"]
    retry_after: Optional[float]
    def __init__(self, message: str, retry_after: Optional[float] = None) -> None: ...

class StateError(RegistrationError):
    """The registrar cannot do this now, or its state store failed."""
