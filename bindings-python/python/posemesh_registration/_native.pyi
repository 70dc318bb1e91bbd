"""Native part of the `posemesh_registration` package; import that package instead."""

import datetime
from collections.abc import Iterable, Mapping
from types import TracebackType
from os import PathLike
from typing import Any, Callable, Optional, Union, final

from typing_extensions import Self, TypeAlias, disjoint_base

from ._errors import RegistrationError
from ._types import FailureKind, Flow, Outcome, StateArg, Status
from .asgi import RegistrationApp

__all__ = [
    "EVENT_FIELDS",
    "__version__",
    "_Call",
    "_StatusStream",
    "_after_fork_in_child",
    "_shutdown",
    "_stop_all",
    "AccessToken",
    "AsyncRegistrar",
    "BaseRegistrar",
    "DdsCredentials",
    "Failure",
    "HttpRequest",
    "PrivateKey",
    "Registrar",
    "build_registration_request",
    "build_siwe_nonce_request",
    "build_wallet_registration_request",
    "classify_response",
    "format_timestamp",
]

__version__: str
EVENT_FIELDS: Mapping[str, tuple[str, ...]]
"""The event schema every binding shares: for each event name, the fields its
log records may carry (as record attributes: `record.attempt`, `record.from_`), in
order; a field that does not apply is left out. Times are milliseconds."""

_BytesLike: TypeAlias = Union[bytes, bytearray, memoryview]
_HeaderPart: TypeAlias = Union[str, bytes]
_Headers: TypeAlias = Union[Mapping[str, str], Iterable[tuple[_HeaderPart, _HeaderPart]], None]
_KeyLike: TypeAlias = Union["PrivateKey", str, bytes]
_Path: TypeAlias = Union[str, "PathLike[str]"]
_Done: TypeAlias = Callable[[bool, object], None]

@final
class _Call:
    """An operation in progress for an awaitable."""

    def cancel(self) -> None:
        """Abandons the operation unless it has ended; returns once it has ended."""
    @property
    def done(self) -> bool:
        """Whether the result has been handed over."""

@final
class _StatusStream:
    """Status changes of one registrar."""

    def _next(self, done: _Done) -> _Call: ...

@final
class PrivateKey:
    """A node's secp256k1 private key; repr() shows the address, never the key."""

    @classmethod
    def from_hex(cls, text: str) -> PrivateKey:
        """Loads a key from hex (whitespace trimmed, one optional 0x). Raises InvalidKeyError."""
    @classmethod
    def from_bytes(cls, data: _BytesLike) -> PrivateKey:
        """Loads a key from its 32 raw bytes. Raises InvalidKeyError."""
    @classmethod
    def generate(cls) -> PrivateKey:
        """A new random key from the operating system's randomness."""
    def to_bytes(self) -> bytes:
        """The 32 secret bytes. Keep them out of logs."""
    @property
    def public_key_hex(self) -> str:
        """The uncompressed public key, 130 lowercase hex digits."""
    @property
    def public_key_bytes(self) -> bytes:
        """The uncompressed public key, 65 bytes."""
    @property
    def eth_address(self) -> str:
        """The Ethereum address, 0x and 40 lowercase hex digits."""
    def sign_registration(self, message: Union[str, _BytesLike]) -> str:
        """keccak256 signature r||s||v (v in {0, 1}), 130 lowercase hex digits."""
    def sign_eip191(self, message: Union[str, _BytesLike]) -> str:
        """EIP-191 personal_sign signature (v = 27/28), 0x-prefixed."""
    def sign_compact(self, message: Union[str, _BytesLike]) -> str:
        """sha256 compact signature r||s, 128 lowercase hex digits."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class HttpRequest:
    """An HTTP request to send to the DDS; repr() shows the body's length only.

    Send it without following redirects (requests: allow_redirects=False): a 307
    or 308 would carry the body, with the credentials, to another host."""

    @property
    def method(self) -> str:
        """The HTTP method ("POST")."""
    @property
    def url(self) -> str:
        """The full URL."""
    @property
    def headers(self) -> list[tuple[str, str]]:
        """Header names (lower case) and values."""
    @property
    def body(self) -> bytes:
        """The exact body bytes (compact JSON)."""
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Failure:
    """A classified failed answer (or no answer) from the DDS."""

    @property
    def kind(self) -> FailureKind:
        """"conflict", "retry_fast" or "retry_later"."""
    @property
    def status(self) -> Optional[int]:
        """The HTTP status, if there was an answer."""
    @property
    def retry_after(self) -> Optional[float]:
        """The server's Retry-After in seconds (capped by the core, at an hour), if any."""
    @property
    def message(self) -> str:
        """A one-line description that is safe to log (the reference's format)."""
    @property
    def hint(self) -> Optional[str]:
        """What to do, for a 409 (another instance with the same wallet), a 402
        (the wallet lacks the stake) or a legacy registration refused while the
        DDS's Date is more than 10 s from this machine's clock; str() gives the
        message followed by it."""
    def to_exception(self) -> RegistrationError:
        """The exception Registrar.register_once() raises for this failure."""

@final
class DdsCredentials:
    """What the DDS handed the node in its callback; repr() hides the secret."""

    @property
    def id(self) -> str:
        """The node's id at the DDS."""
    @property
    def organization_id(self) -> Optional[str]:
        """The node's organisation, if the DDS said."""
    @property
    def secret(self) -> str:
        """The secret the DDS issued to the node. Keep it out of logs."""

@final
class AccessToken:
    """A bearer token for the node's own DDS calls; repr() hides it."""

    def expose(self) -> str:
        """The token itself. Keep it out of logs."""
    @property
    def expires_at(self) -> datetime.datetime:
        """When the DDS said it expires (UTC)."""

@disjoint_base
class BaseRegistrar:
    """What Registrar and AsyncRegistrar share: configuration, status, DDS callbacks."""

    @property
    def status(self) -> Status:
        """"disconnected", "registering" or "registered"."""
    @property
    def is_running(self) -> bool:
        """Whether the registration loop runs."""
    @property
    def flow(self) -> Flow:
        """"wallet" or "legacy"."""
    @property
    def dds_url(self) -> str:
        """The DDS base URL (normalised)."""
    @property
    def node_url(self) -> Optional[str]:
        """The node's public URL (legacy flow)."""
    @property
    def eth_address(self) -> str:
        """The node's Ethereum address."""
    @property
    def public_key_hex(self) -> str:
        """The node's uncompressed public key in hex."""
    @property
    def state_error(self) -> Optional[str]:
        """Why the stored state was set aside at start, if it was."""
    @property
    def credentials(self) -> Optional[DdsCredentials]:
        """The id, organisation and secret from the DDS callback, once received."""
    def start(self) -> None:
        """Starts the registration loop in the background."""
    def register_again(self) -> None:
        """Registers again now, whatever is stored, without stopping a running loop."""
    def token_refused(self, token: Union[AccessToken, str]) -> None:
        """Reports that the DDS refused this token (a 401): the next token() signs in anew."""
    def metrics(self) -> dict[str, Any]:
        """The operator metrics: status, attempts by result, consecutive failures, times in ms,
        health checks, callbacks accepted and refused by status, lock contention, sign-ins."""
    def prometheus_text(self) -> str:
        """The metrics in the Prometheus text format."""
    def _statuses(self) -> _StatusStream: ...
    def handle_node_request(
        self,
        method: str,
        path: str,
        headers: _Headers = None,
        body: Union[str, _BytesLike, None] = None,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Serves a request the DDS made to the node; returns (status, headers, body)."""
    def asgi_app(self, *, manage_registrar: bool = False) -> RegistrationApp:
        """An ASGI application serving the DDS callbacks through this registrar."""

@final
class Registrar(BaseRegistrar):
    """Registers a node with a DDS and keeps it registered (blocking API)."""

    def __new__(
        cls,
        *,
        dds_url: str,
        node_version: str,
        capabilities: Iterable[str],
        registration_secret: str,
        private_key: _KeyLike,
        node_url: Optional[str] = None,
        flow: Optional[Flow] = None,
        interval: float = 60.0,
        max_retry: Optional[int] = None,
        request_timeout: float = 30.0,
        state: StateArg = None,
        seed: Optional[int] = None,
        proxy: Optional[str] = None,
        env_proxy: bool = True,
        ca_bundle: Optional[_Path] = None,
        siwe_domains: Optional[Iterable[str]] = None,
        allow_plaintext_dds: bool = False,
    ) -> Self: ...
    def register_once(self) -> Outcome:
        """Makes sure the node is registered: "registered" or "adopted"; raises on failure."""
    def run_forever(self) -> None:
        """Runs the registration loop in this thread until stop() or Ctrl-C."""
    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops the background loop and waits for it to wind down (from a
        logging handler of this package's logger: asks it to stop, returns at once)."""
    def token(self, timeout: Optional[float] = None) -> AccessToken:
        """A valid access token for the node's own DDS calls (signs in if needed);
        raises like register_once(), or TimeoutError after timeout seconds."""
    def wait_until_registered(self, timeout: Optional[float] = None) -> bool:
        """Blocks until registered, timeout, or stop(); returns whether registered."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> None: ...

class AsyncRegistrar(BaseRegistrar):
    """The native part of posemesh_registration.AsyncRegistrar (use that one)."""

    def __new__(
        cls,
        *,
        dds_url: str,
        node_version: str,
        capabilities: Iterable[str],
        registration_secret: str,
        private_key: _KeyLike,
        node_url: Optional[str] = None,
        flow: Optional[Flow] = None,
        interval: float = 60.0,
        max_retry: Optional[int] = None,
        request_timeout: float = 30.0,
        state: StateArg = None,
        seed: Optional[int] = None,
        proxy: Optional[str] = None,
        env_proxy: bool = True,
        ca_bundle: Optional[_Path] = None,
        siwe_domains: Optional[Iterable[str]] = None,
        allow_plaintext_dds: bool = False,
    ) -> Self: ...
    def _register_once(self, done: _Done) -> _Call: ...
    def _token(self, done: _Done) -> _Call: ...
    def _run_forever(self, done: _Done) -> _Call: ...
    def _stop(self, done: _Done) -> _Call: ...
    def _wait_until_registered(self, done: _Done, timeout: Optional[float] = None) -> _Call: ...

def build_registration_request(
    *,
    dds_url: str,
    node_url: str,
    node_version: str,
    capabilities: Iterable[str],
    registration_secret: str,
    private_key: _KeyLike,
    timestamp_ns: Optional[int] = None,
    allow_plaintext_dds: bool = False,
) -> HttpRequest:
    """The legacy registration request, signed over node_url + timestamp.

    Raises InvalidUrlError for an http:// DDS that is not loopback unless
    allow_plaintext_dds=True, as the registrar does.
    """

def build_siwe_nonce_request(
    *, dds_url: str, private_key: _KeyLike, allow_plaintext_dds: bool = False
) -> HttpRequest:
    """Step 1 of the wallet flow: ask for a SIWE nonce."""

def build_wallet_registration_request(
    *,
    dds_url: str,
    challenge: Union[str, _BytesLike, Mapping[str, object]],
    node_version: str,
    capabilities: Iterable[str],
    registration_secret: str,
    private_key: _KeyLike,
    siwe_domains: Optional[Iterable[str]] = None,
    allow_plaintext_dds: bool = False,
) -> HttpRequest:
    """Step 2 of the wallet flow: the EIP-191 signed registration.

    Raises ValueError, signing nothing, for a challenge the registrar refuses: a
    domain other than the DDS's (or one of ``siwe_domains``), or a field with a
    line break or control character.
    """

def classify_response(
    endpoint: str,
    status: int,
    headers: _Headers = None,
    body: Union[str, _BytesLike, None] = None,
    *,
    now_ns: Optional[int] = None,
) -> Optional[Failure]:
    """None for a 2xx answer, else the classified Failure."""

def format_timestamp(timestamp_ns: Optional[int] = None) -> str:
    """The RFC 3339 timestamp (nine fractional digits, Z) a registration signs."""

def _shutdown() -> None:
    """Stops every loop and silences callbacks (atexit hook)."""

def _after_fork_in_child() -> None:
    """Forgets the parent's runtime and loops (os.register_at_fork hook)."""

def _stop_all() -> int:
    """Stops every background loop; returns how many were running."""
