"""A tiny ASGI application serving the DDS's calls to a node.

It answers ``POST /internal/v1/registrations`` (the DDS hands over the node's
id and secret) and ``GET /health`` (the DDS's probe) through
``registrar.handle_node_request()``; any other path is 404. Serve it on its own
(``uvicorn.run(registrar.asgi_app(), ...)``) or mount it in Starlette/FastAPI::

    app = FastAPI()
    app.mount("/posemesh", registrar.asgi_app())   # node_url = "https://host/posemesh"

Mounted under a prefix, the node URL given to the registrar must include it.
"""

import asyncio

__all__ = ["RegistrationApp", "app"]

# One byte over the core's callback limit is enough for it to answer 413.
_MAX_BODY = 2 * 1024 * 1024 + 1


class RegistrationApp:
    """ASGI 3 application answering the DDS's requests to a node through a registrar.

    With ``manage_registrar=True`` it also starts the registrar's background loop
    on the ASGI ``lifespan`` startup event and stops it on shutdown (servers send
    lifespan events to the top-level app only, not to mounted ones).
    """

    def __init__(self, registrar, *, manage_registrar=False):
        self.registrar = registrar
        self.manage_registrar = manage_registrar

    def __repr__(self):
        return "RegistrationApp(%r, manage_registrar=%r)" % (self.registrar, self.manage_registrar)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError("unsupported ASGI scope type %r" % (kind,))

    async def _http(self, scope, receive, send):
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if len(body) < _MAX_BODY:
                body += chunk[: _MAX_BODY - len(body)]
            more = message.get("more_body", False)
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        request = (scope["method"], path, scope.get("headers") or [], bytes(body))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (e.g. trio): the call is short anyway
            status, headers, payload = self.registrar.handle_node_request(*request)
        else:
            # Off the event loop: it may write the state file or call a Python store.
            status, headers, payload = await loop.run_in_executor(
                None, self.registrar.handle_node_request, *request
            )
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        raw_headers.append((b"content-length", str(len(payload)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.manage_registrar and not self.registrar.is_running:
                        self.registrar.start()
                except Exception as exc:  # report to the server, which then exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.manage_registrar:
                    await self._stop_registrar()
                await send({"type": "lifespan.shutdown.complete"})
                return


    async def _stop_registrar(self):
        from . import AsyncRegistrar

        if isinstance(self.registrar, AsyncRegistrar):
            await self.registrar.stop()
        else:  # Registrar.stop() blocks while the loop winds down
            await asyncio.get_running_loop().run_in_executor(None, self.registrar.stop)


def app(registrar, *, manage_registrar=False):
    """Returns an ASGI application serving the DDS callbacks through ``registrar``
    (a :class:`~posemesh_registration.Registrar` or
    :class:`~posemesh_registration.AsyncRegistrar`)."""
    return RegistrationApp(registrar, manage_registrar=manage_registrar)
