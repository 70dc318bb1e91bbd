"""Register a posemesh node with the Domain Discovery Service (DDS) and keep it registered.

High level: :class:`Registrar` (blocking, or in a background thread) and
:class:`AsyncRegistrar` (asyncio) run the registration loop, with HTTP done in
Rust. Serve the DDS's calls to the node with ``registrar.handle_node_request()``
or the ASGI app of :mod:`posemesh_registration.asgi`.

Low level (bring your own HTTP): :class:`PrivateKey`,
:func:`build_registration_request`, :func:`build_siwe_nonce_request`,
:func:`build_wallet_registration_request` and :func:`classify_response`.

Events are logged to the standard :mod:`logging` logger ``posemesh_registration``
(``extra={"event": <name>}``); nothing logged, raised or repr'd contains a key or
a secret.
"""

import atexit as _atexit
import os as _os

from ._errors import (
    ConfigError,
    ConflictError,
    DdsRejectedError,
    InvalidKeyError,
    InvalidUrlError,
    RegistrationError,
    StateError,
    TransportError,
)
from ._aio import AsyncRegistrar
from ._native import (
    EVENT_FIELDS,
    AccessToken,
    BaseRegistrar,
    DdsCredentials,
    Failure,
    HttpRequest,
    PrivateKey,
    Registrar,
    __version__,
    build_registration_request,
    build_siwe_nonce_request,
    build_wallet_registration_request,
    classify_response,
    format_timestamp,
)
from ._native import _after_fork_in_child, _shutdown

# Stop background loops, and stop Rust threads from calling into Python, before
# the interpreter finalizes.
_atexit.register(_shutdown)
# A forked child (gunicorn --preload, multiprocessing) builds its own runtime.
_os.register_at_fork(after_in_child=_after_fork_in_child)
del _atexit, _os, _shutdown, _after_fork_in_child

_TYPES = frozenset(["FailureKind", "Flow", "Outcome", "StateArg", "StateStore", "Status"])


def __getattr__(name):
    # Typing helpers load `typing` only when asked for (import time matters).
    if name in _TYPES:
        from . import _types

        return getattr(_types, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

__all__ = [
    "EVENT_FIELDS",
    "AccessToken",
    "AsyncRegistrar",
    "BaseRegistrar",
    "ConfigError",
    "ConflictError",
    "DdsCredentials",
    "DdsRejectedError",
    "Failure",
    "FailureKind",
    "Flow",
    "HttpRequest",
    "InvalidKeyError",
    "InvalidUrlError",
    "Outcome",
    "PrivateKey",
    "Registrar",
    "RegistrationError",
    "StateArg",
    "StateError",
    "StateStore",
    "Status",
    "TransportError",
    "__version__",
    "build_registration_request",
    "build_siwe_nonce_request",
    "build_wallet_registration_request",
    "classify_response",
    "format_timestamp",
]
