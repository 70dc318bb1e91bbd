"""The asyncio registrar: coroutines over the native calls."""

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Optional, final

from typing_extensions import Self

from ._native import AccessToken
from ._native import AsyncRegistrar as _NativeAsyncRegistrar
from ._types import Outcome, Status

__all__ = ["AsyncRegistrar"]

@final
class AsyncRegistrar(_NativeAsyncRegistrar):
    """Registers a node with a DDS and keeps it registered (asyncio API)."""

    async def register_once(self) -> Outcome:
        """Makes sure the node is registered: "registered" or "adopted"; raises on failure."""
    async def token(self) -> AccessToken:
        """A valid access token for the node's own DDS calls (signs in if needed)."""
    async def run_forever(self) -> None:
        """Runs the registration loop until cancelled or stop()."""
    async def stop(self) -> None:
        """Stops the background loop and waits for it to wind down."""
    async def wait_until_registered(self, timeout: Optional[float] = None) -> bool:
        """Waits until registered, timeout, or stop(); returns whether registered."""
    def statuses(self) -> AsyncIterator[Status]:
        """The current status, then every change, until stop()."""
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> None: ...
