"""A tiny ASGI application serving the DDS's calls to a node."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Union

from ._native import AsyncRegistrar, Registrar

__all__ = ["RegistrationApp", "app"]

BODY_READ_LIMIT: float

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

class RegistrationApp:
    """ASGI 3 application answering the DDS's requests to a node through a registrar."""

    registrar: Union[Registrar, AsyncRegistrar]
    manage_registrar: bool
    body_read_limit: float
    def __init__(
        self,
        registrar: Union[Registrar, AsyncRegistrar],
        *,
        manage_registrar: bool = False,
        body_read_limit: float = ...,
    ) -> None: ...
    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None: ...

def app(
    registrar: Union[Registrar, AsyncRegistrar],
    *,
    manage_registrar: bool = False,
    body_read_limit: float = ...,
) -> RegistrationApp:
    """Returns an ASGI application serving the DDS callbacks through registrar.

    A request whose body has not arrived within body_read_limit seconds is answered
    408; at most 2 MiB + 1 byte of a body is read."""
