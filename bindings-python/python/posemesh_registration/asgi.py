"""A tiny ASGI application serving the DDS's calls to a node.

It answers ``POST /internal/v1/registrations`` (the DDS hands over the node's
id and secret) and ``GET /health`` (the DDS's probe) through
``registrar.handle_node_request()``, also under the node URL's own path
(where the DDS calls a node whose URL has one); any other path is 404. Serve it on its own
(``uvicorn.run(registrar.asgi_app(), ...)``) or mount it in Starlette/FastAPI::

    app = FastAPI()
    app.mount("/posemesh", registrar.asgi_app())   # node_url = "https://host/posemesh"

Mounted under a prefix, the node URL given to the registrar must include it.
"""

import asyncio

__all__ = ["RegistrationApp", "app"]

# One byte over the core's callback limit is enough for it to answer 413.
_MAX_BODY = 2 * 1024 * 1024 + 1
# How long a caller has to send its whole body (the DDS sends a few hundred bytes at
# once), as the Rust router allows; a client that trickles it must not hold a worker.
BODY_READ_LIMIT = 30.0
_LATE_BODY = (408, [("content-type", "application/json")],
              b'{"error":"the request body did not arrive in time"}')


class RegistrationApp:
    """ASGI 3 application answering the DDS's requests to a node through a registrar.

    With ``manage_registrar=True`` it also starts the registrar's background loop
    on the ASGI ``lifespan`` startup event and stops it on shutdown (servers send
    lifespan events to the top-level app only, not to mounted ones).
    """

    def __init__(self, registrar, *, manage_registrar=False, body_read_limit=BODY_READ_LIMIT):
        self.registrar = registrar
        self.manage_registrar = manage_registrar
        self.body_read_limit = body_read_limit

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

    async def _read_body(self, receive):
        """The body, read up to one byte over the limit (then no further), or None if
        the client went away."""
        body = bytearray()
        more = True
        while more and len(body) < _MAX_BODY:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")[: _MAX_BODY - len(body)]
            more = message.get("more_body", False)
        return bytes(body)

    async def _http(self, scope, receive, send):
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (e.g. trio): the server's own limits apply
            body = await self._read_body(receive)
            late = False
        else:
            try:
                body = await asyncio.wait_for(self._read_body(receive), self.body_read_limit)
                late = False
            except asyncio.TimeoutError:
                body, late = b"", True
        if body is None:
            return
        if late:
            await self._answer(send, *_LATE_BODY)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        request = (scope["method"], path, scope.get("headers") or [], body)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (e.g. trio): the call is short anyway
            status, headers, payload = self.registrar.handle_node_request(*request)
        else:
            # Off the event loop: it may write the state file or call a Python store.
            status, headers, payload = await loop.run_in_executor(
                None, self.registrar.handle_node_request, *request
            )
        await self._answer(send, status, headers, payload)

    @staticmethod
    async def _answer(send, status, headers, payload):
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


def app(registrar, *, manage_registrar=False, body_read_limit=BODY_READ_LIMIT):
    """Returns an ASGI application serving the DDS callbacks through ``registrar``
    (a :class:`~posemesh_registration.Registrar` or
    :class:`~posemesh_registration.AsyncRegistrar`). A request whose body has not
    arrived within ``body_read_limit`` seconds is answered 408; at most 2 MiB + 1
    byte of a body is read."""
    return RegistrationApp(registrar, manage_registrar=manage_registrar,
                           body_read_limit=body_read_limit)
