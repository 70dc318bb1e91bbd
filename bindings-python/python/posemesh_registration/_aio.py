"""The asyncio registrar: coroutines over the native calls.

Each method is a coroutine (``asyncio.create_task`` and ``TaskGroup.create_task``
take it, and nothing starts until it is awaited). The native part runs the
operation on its own runtime and hands the result back through
``loop.call_soon_threadsafe``; a closed loop is skipped, and nothing reaches
Python once the interpreter is exiting. Cancelling a coroutine abandons its
operation and returns once it has ended.
"""

from ._native import AsyncRegistrar as _NativeAsyncRegistrar

__all__ = ["AsyncRegistrar"]


def _settle(future, failed, value):
    if future.done():  # cancelled meanwhile
        return
    if failed:
        future.set_exception(value)
    else:
        future.set_result(value)


async def _call(start, *args):
    import asyncio  # here: importing the package stays cheap

    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def done(failed, value):
        try:
            loop.call_soon_threadsafe(_settle, future, failed, value)
        except RuntimeError:  # the loop is closed: nobody waits for this any more
            pass

    call = start(done, *args)
    try:
        return await future
    finally:
        call.cancel()  # nothing if it ended; else abandons it and waits for its end


class AsyncRegistrar(_NativeAsyncRegistrar):
    """Registers a posemesh node with a Domain Discovery Service and keeps it
    registered, with an asyncio API.

    Same arguments as ``Registrar``. ``await register_once()`` makes sure the
    node is registered (``"registered"`` or ``"adopted"``); ``await
    run_forever()`` runs the loop until cancelled; ``start()`` and ``await
    stop()`` run it in the background, as does ``async with
    AsyncRegistrar(...) as registrar:``; ``async for status in
    registrar.statuses():`` follows the status. Every method returning an
    awaitable is a coroutine; cancelling it abandons its in-flight request
    cleanly.
    """

    __slots__ = ()

    async def register_once(self):
        """Makes sure the node is registered now: ``"registered"`` or ``"adopted"``;
        raises like ``Registrar.register_once()``. Cancelling it abandons the request."""
        return await _call(self._register_once)

    async def token(self):
        """A valid ``AccessToken`` for the node's own DDS calls: registers first when
        no loop runs, signs in when no token is at hand (one sign-in however many
        tasks ask), and keeps it fresh from then on. Raises like
        ``register_once()``. Bound it with ``asyncio.timeout`` if a running loop
        may never register."""
        return await _call(self._token)

    async def run_forever(self):
        """Runs the registration loop until cancelled or until ``stop()``. Raises
        ``StateError`` if it already runs. Once a cancellation has been awaited
        the loop has ended (``is_running`` is False)."""
        await _call(self._run_forever)

    async def stop(self):
        """Stops the loop (a waiting ``register_once()`` raises ``StateError``, and
        ``statuses()`` iterators end) and waits until it has wound down."""
        await _call(self._stop)

    async def wait_until_registered(self, timeout=None):
        """Waits until the status is ``"registered"``, ``timeout`` seconds pass
        (default: no limit) or ``stop()`` is called. Returns whether it is registered."""
        return await _call(self._wait_until_registered, timeout)

    async def statuses(self):
        """The current status, then every change (``"disconnected"``,
        ``"registering"``, ``"registered"``), until ``stop()`` is called::

            async for status in registrar.statuses():
                ...
        """
        stream = self._statuses()
        while True:
            status = await _call(stream._next)
            if status is None:
                return
            yield status

    async def __aenter__(self):
        """Starts the background loop."""
        self.start()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        """Stops the background loop."""
        await self.stop()
