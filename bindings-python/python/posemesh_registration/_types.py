"""Typing helpers, imported on first use (so importing the package stays fast)."""

from os import PathLike
from typing import Literal, Optional, Protocol, Union, runtime_checkable

__all__ = ["FailureKind", "Flow", "Outcome", "StateArg", "StateStore", "Status"]

# Spelled as unions of one-value Literals: the same type for checkers, and a
# runtime object that mypy.stubtest recognises as a union.

#: Where a registration stands.
Status = Union[Literal["disconnected"], Literal["registering"], Literal["registered"]]

#: Which registration protocol a registrar speaks.
Flow = Union[Literal["wallet"], Literal["legacy"]]

#: How ``register_once()`` made sure the node is registered.
Outcome = Union[Literal["registered"], Literal["adopted"]]

#: What to do about a failed attempt.
FailureKind = Union[Literal["conflict"], Literal["retry_fast"], Literal["retry_later"]]


@runtime_checkable
class StateStore(Protocol):
    """Any object that can hold the registration state (opaque bytes), e.g. a
    database row or a key-value store. Called from the registrar's worker thread;
    must not call back into the registrar."""

    def load(self) -> Optional[bytes]:
        """The stored bytes, or None if nothing was stored yet."""
        ...

    def save(self, data: bytes, /) -> None:
        """Replaces the stored bytes (atomically, if the store can)."""
        ...


#: What ``Registrar(state=...)`` accepts: a file path, a StateStore, or None (memory).
StateArg = Union[str, "PathLike[str]", StateStore, None]
