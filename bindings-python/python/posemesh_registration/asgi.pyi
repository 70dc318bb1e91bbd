"""A tiny ASGI application serving the DDS's calls to a node."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Union

from ._native import AsyncRegistrar, Registrar

__all__ = ["RegistrationApp", "app"]

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

class RegistrationApp:
    """ASGI 3 application answering the DDS's requests to a node through a registrar."""

    registrar: Union[Registrar, AsyncRegistrar]
    manage_registrar: bool
    def __init__(
        self, registrar: Union[Registrar, AsyncRegistrar], *, manage_registrar: bool = False
    ) -> None: ...
    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None: ...

def app(registrar: Union[Registrar, AsyncRegistrar], *, manage_registrar: bool = False) -> RegistrationApp:
    """Returns an ASGI application serving the DDS callbacks through registrar."""
