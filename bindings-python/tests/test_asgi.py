"""The DDS callbacks: framework-free handle_node_request(), the ASGI app in
process (httpx), and mounted in Starlette/FastAPI served by uvicorn."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import posemesh_registration as pr
from posemesh_registration.asgi import RegistrationApp, app as asgi_app

from conftest import Dds, NodeServer, events, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]
DDS_UA = "DDS v1.2.3 (test)"


def make(dds_url: str = "http://127.0.0.1:9", node_url: str = "http://127.0.0.1:9", cls=pr.Registrar, **kw):
    options = dict(dds_url=dds_url, node_url=node_url, flow="legacy", node_version="1.0.0", capabilities=CAPABILITIES,
                   registration_secret=new_secret(), private_key=new_key())
    options.update(kw)
    return cls(**options)


def test_handle_node_request_framework_free(caplog: pytest.LogCaptureFixture) -> None:
    registrar = make()
    status, headers, body = registrar.handle_node_request("GET", "/health", {"User-Agent": DDS_UA}, b"")
    assert status == 200 and json.loads(body) == {"ok": True}
    assert ("content-type", "application/json") in headers
    assert events(caplog, "healthcheck.touch")
    # ASGI-style byte headers, query strings and HEAD work too.
    assert registrar.handle_node_request("HEAD", "/health?x=1", [(b"user-agent", DDS_UA.encode())])[0] == 200
    assert registrar.handle_node_request("GET", "/nope")[0] == 404
    assert registrar.handle_node_request("DELETE", "/health")[0] == 405
    # No registration pending: a callback is refused (forged callbacks change nothing).
    secret = new_secret()
    status, _, body = registrar.handle_node_request(
        "POST", "/internal/v1/registrations", [], json.dumps({"id": "n1", "secret": secret}).encode()
    )
    assert status == 409 and registrar.credentials is None
    assert registrar.handle_node_request("POST", "/internal/v1/registrations", None, b"{")[0] == 400
    assert registrar.handle_node_request("POST", "/internal/v1/registrations", None, b"x" * (2 * 1024 * 1024 + 1))[0] == 413
    rejected = events(caplog, "registration.callback.rejected")
    assert rejected and rejected[0].levelname == "WARNING"
    with pytest.raises(TypeError):
        registrar.handle_node_request("GET", "/health", 42)
    with pytest.raises(TypeError):
        registrar.handle_node_request("GET", "/health", None, 42)


@pytest.mark.asyncio
async def test_asgi_app_in_process() -> None:
    registrar = make(cls=pr.AsyncRegistrar)
    app = registrar.asgi_app()
    assert isinstance(app, RegistrationApp)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        health = await client.get("/health", headers={"user-agent": DDS_UA})
        assert health.status_code == 200 and health.json() == {"ok": True}
        assert health.headers["content-type"] == "application/json"
        assert (await client.get("/elsewhere")).status_code == 404
        callback = await client.post("/internal/v1/registrations", json={"id": "x", "secret": ""})
        assert callback.status_code in (409, 422)
        big = await client.post("/internal/v1/registrations", content=b"{" * (2 * 1024 * 1024 + 1))
        assert big.status_code == 413


@pytest.mark.asyncio
async def test_lifespan_manages_the_registrar(dds: Dds) -> None:
    registrar = make(dds.url, cls=pr.AsyncRegistrar)
    app = asgi_app(registrar, manage_registrar=True)
    sent: list = []
    queue: asyncio.Queue = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: dict) -> None:
        sent.append(message["type"])

    task = asyncio.ensure_future(app({"type": "lifespan"}, queue.get, send))
    assert await registrar.wait_until_registered(timeout=20)
    assert registrar.is_running and sent == ["lifespan.startup.complete"]
    await queue.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 10)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not registrar.is_running


def _check_registered_via_callbacks(dds: Dds, registrar, node_url: str) -> None:
    wait_for(lambda: registrar.status == "registered", timeout=20, what="registration")
    readout = wait_for(lambda: (r := dds.readout())["callbacks"] and r["health_probes"] and r,
                       what="the DDS's callback and probes")
    assert readout["callbacks"][0]["node_url"] == node_url
    assert readout["callbacks"][0]["status"] == 200
    wait_for(lambda: any(p["status"] == 200 for p in dds.readout()["health_probes"]), what="a 200 probe")
    assert wait_for(lambda: registrar.credentials, what="credentials").organization_id == "mock-org"


def test_fastapi_mounts_the_app_under_a_prefix(dds: Dds, node_server: NodeServer) -> None:
    """The README's FastAPI recipe: an AsyncRegistrar run by the app's lifespan."""
    node_url = node_server.url + "/posemesh"
    registrar = make(dds.url, node_url, interval=5, cls=pr.AsyncRegistrar)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with registrar:
            yield

    api = FastAPI(lifespan=lifespan)

    @api.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    api.mount("/posemesh", registrar.asgi_app())
    node_server.serve_in_thread(api, lifespan="on")
    _check_registered_via_callbacks(dds, registrar, node_url)
    assert registrar.is_running
    with httpx.Client(base_url=node_server.url, trust_env=False) as client:
        assert client.get("/hello").json() == {"hello": "world"}
        assert client.get("/posemesh/health").status_code == 200
        assert client.get("/health").status_code == 404  # FastAPI's own 404
    node_server.close()
    assert not registrar.is_running


def test_starlette_mounts_the_app_at_the_root(dds: Dds, node_server: NodeServer) -> None:
    registrar = make(dds.url, node_server.url, interval=5)
    app = Starlette(routes=[
        Route("/hello", lambda request: PlainTextResponse("hi")),
        Mount("/", app=asgi_app(registrar)),
    ])
    node_server.serve_in_thread(app)
    with registrar:
        _check_registered_via_callbacks(dds, registrar, node_server.url)
        with httpx.Client(base_url=node_server.url, trust_env=False) as client:
            assert client.get("/hello").text == "hi"


def test_uvicorn_serves_the_app_with_lifespan(dds: Dds, node_server: NodeServer) -> None:
    """uvicorn runs the app alone; its lifespan starts and stops the registrar."""
    registrar = make(dds.url, node_server.url, interval=5)
    node_server.serve_in_thread(registrar.asgi_app(manage_registrar=True), lifespan="on")
    _check_registered_via_callbacks(dds, registrar, node_server.url)
    assert registrar.is_running
    node_server.close()
    assert not registrar.is_running


@pytest.mark.asyncio
async def test_asgi_app_gives_a_body_its_deadline_and_reads_no_further_than_the_cap() -> None:
    """A client that trickles its body cannot hold a worker, nor one that sends without end."""
    app = RegistrationApp(make(), body_read_limit=0.2)
    scope = {"type": "http", "method": "POST", "path": "/internal/v1/registrations", "headers": []}
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def trickle() -> dict:  # a byte every 50 ms, never the last
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    await asyncio.wait_for(app(scope, trickle, send), 5)
    assert sent[0]["status"] == 408, sent

    sent.clear()
    received = 0

    async def flood() -> dict:  # 256 KiB at a time, never the last
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b" " * (256 * 1024), "more_body": True}

    await asyncio.wait_for(app(scope, flood, send), 5)
    assert sent[0]["status"] == 413, sent
    assert received == 9, "read no further than 2 MiB and one byte"
