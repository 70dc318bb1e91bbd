"""Exceptions raised by posemesh_registration. None of their messages contains a key or a secret."""


class RegistrationError(Exception):
    """Base class of every error this package raises on purpose."""

    __module__ = "posemesh_registration"


class InvalidKeyError(RegistrationError, ValueError):
    """A private key is not 32 bytes of hex or not a valid secp256k1 scalar.

    The message never repeats the input.
    """

    __module__ = "posemesh_registration"


class ConfigError(RegistrationError, ValueError):
    """A registrar or request argument is invalid (version, capabilities, flow, interval...)."""

    __module__ = "posemesh_registration"


class InvalidUrlError(ConfigError):
    """The DDS URL or the node URL is not a usable http(s) URL, or the DDS URL is
    ``http://`` to a host that is not loopback without ``allow_plaintext_dds=True``.

    The message never repeats the URL (it could carry credentials).
    """

    __module__ = "posemesh_registration"


class DdsRejectedError(RegistrationError):
    """The DDS answered a registration with an error status, or with an answer
    the registrar refuses as it stands (a SIWE challenge naming another domain:
    ``status`` is then ``None`` and ``kind`` ``"retry_later"``).

    ``status`` is the HTTP status, ``kind`` what a loop does about it
    (``"retry_fast"`` for 408, 429 and 5xx; ``"retry_later"`` for other 4xx;
    ``"conflict"`` for 409), ``retry_after`` the server's ``Retry-After`` in
    seconds, if any, and ``hint`` what to do when the status has a usual cause
    (409: another instance registered with the same wallet; 402: the wallet
    lacks the stake the network requires; a legacy registration refused while
    the DDS's clock differs from this machine's), also at the end of the message.
    """

    __module__ = "posemesh_registration"

    def __init__(self, message, status=None, kind="retry_later", retry_after=None, hint=None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.retry_after = retry_after
        self.hint = hint

    def __reduce__(self):
        return (
            type(self),
            (str(self), self.status, self.kind, self.retry_after, self.hint),
        )


class ConflictError(DdsRejectedError):
    """The DDS answered 409: the node is registered elsewhere (another online node)."""

    __module__ = "posemesh_registration"

    def __init__(self, message, status=409, kind="conflict", retry_after=None, hint=None):
        super().__init__(message, status, kind, retry_after, hint)


class TransportError(RegistrationError, ConnectionError):
    """No usable answer from the DDS: connection refused or broken, timeout, or an unreadable reply."""

    __module__ = "posemesh_registration"

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.kind = "retry_fast"
        self.retry_after = retry_after

    def __reduce__(self):
        return (type(self), (str(self), self.retry_after))


class StateError(RegistrationError):
    """The registrar cannot do this now (its loop already runs) or its state store failed."""

    __module__ = "posemesh_registration"
