"""The behaviour table every binding passes (docs/behaviour.md), one test per
scenario, against the conformance DDS (or a local stand-in) over loopback."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

import posemesh_registration as pr

from conftest import Dds, events, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]
WALLET = "/internal/v1/nodes/register-wallet"
SIWE = "/internal/v1/auth/siwe/request"
LEGACY = "/internal/v1/nodes/register"


def options(dds_url: str, **kwargs) -> dict:
    """A wallet-flow configuration (the default flow) with a fresh key and secret."""
    base = dict(
        dds_url=dds_url,
        node_version="1.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    base.update(kwargs)
    return base


def requests_to(dds: Dds, path: str) -> list:
    return [r for r in dds.readout()["received"] if r["path"] == path]


def in_flight(dds: Dds) -> None:
    """Waits until the DDS took the queued fault: the request is in flight."""
    wait_for(lambda: dds.readout()["faults_queued"] == 0, what="the request to reach the DDS")


# --- register_once ---------------------------------------------------------


def test_register_once_registers(dds: Dds) -> None:
    key = new_key()
    registrar = pr.Registrar(**options(dds.url, private_key=key))
    assert registrar.status == "disconnected"
    assert registrar.register_once() == "registered"
    assert registrar.status == "registered"
    [entry] = dds.accepted(WALLET)
    assert entry["address"] == key.eth_address
    assert len(requests_to(dds, SIWE)) == 1


@pytest.mark.asyncio
async def test_register_once_registers_async(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds.url))
    assert await registrar.register_once() == "registered"
    assert registrar.status == "registered"
    assert len(dds.accepted(WALLET)) == 1


def test_register_once_adopts_a_fresh_matching_registration(dds: Dds, tmp_path: Path) -> None:
    config = options(dds.url, state=tmp_path / "state.json")
    assert pr.Registrar(**config).register_once() == "registered"
    received = len(dds.readout()["received"])

    restarted = pr.Registrar(**config)
    assert restarted.register_once() == "adopted"
    assert restarted.status == "registered"
    assert len(dds.readout()["received"]) == received  # no request at all
    assert len(dds.accepted(WALLET)) == 1


@pytest.mark.asyncio
async def test_register_once_adopts_a_fresh_matching_registration_async(
    dds: Dds, tmp_path: Path
) -> None:
    config = options(dds.url, state=tmp_path / "state.json")
    assert await pr.AsyncRegistrar(**config).register_once() == "registered"
    assert await pr.AsyncRegistrar(**config).register_once() == "adopted"
    assert len(dds.accepted(WALLET)) == 1


def test_restart_reports_the_kept_registration(
    dds: Dds, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = options(dds.url, state=tmp_path / "state.json")
    assert pr.Registrar(**config).register_once() == "registered"
    received = len(dds.readout()["received"])
    caplog.clear()

    restarted = pr.Registrar(**config)
    restarted.start()
    try:
        wait_for(lambda: events(caplog, "registration.adopted"), timeout=5, what="adoption")
        time.sleep(0.3)  # room for a second report, which must not come
    finally:
        restarted.stop()
    [adopted] = events(caplog, "registration.adopted")
    assert adopted.age_ms >= 0
    assert restarted.status == "registered"
    assert len(dds.readout()["received"]) == received  # no request at all


def test_upgrade_registers_again(dds: Dds, tmp_path: Path) -> None:
    config = options(dds.url, state=tmp_path / "state.json")
    assert pr.Registrar(**config).register_once() == "registered"

    upgraded = dict(config, node_version="2.0.0", capabilities=CAPABILITIES + ["/new/capability/v1"])
    assert pr.Registrar(**upgraded).register_once() == "registered"
    first, second = dds.accepted(WALLET)
    assert first["version"] == "1.0.0"
    assert second["version"] == "2.0.0"
    assert second["capabilities"] == CAPABILITIES + ["/new/capability/v1"]


def test_second_register_once_joins_the_first(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 1000, "pass_through": True, "path": WALLET})
    registrar = pr.Registrar(**options(dds.url))
    results: list = []
    first = threading.Thread(target=lambda: results.append(registrar.register_once()))
    first.start()
    in_flight(dds)
    results.append(registrar.register_once())
    first.join(10)
    assert results == ["registered", "registered"]
    assert len(requests_to(dds, WALLET)) == 1  # one attempt on the wire
    assert len(requests_to(dds, SIWE)) == 1


@pytest.mark.asyncio
async def test_second_register_once_joins_the_first_async(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 1000, "pass_through": True, "path": WALLET})
    registrar = pr.AsyncRegistrar(**options(dds.url))
    results = await asyncio.gather(registrar.register_once(), registrar.register_once())
    assert results == ["registered", "registered"]
    assert len(requests_to(dds, WALLET)) == 1
    assert len(requests_to(dds, SIWE)) == 1


def test_second_register_once_shares_a_failure(dds: Dds) -> None:
    dds.faults({"status": 409, "delay_ms": 1000, "path": WALLET})
    registrar = pr.Registrar(**options(dds.url))
    errors: list = []

    def attempt() -> None:
        try:
            registrar.register_once()
        except pr.RegistrationError as error:
            errors.append(error)

    first = threading.Thread(target=attempt)
    first.start()
    in_flight(dds)
    attempt()
    first.join(10)
    assert [type(e) for e in errors] == [pr.ConflictError, pr.ConflictError]
    assert len(requests_to(dds, WALLET)) == 1


def test_register_once_next_to_a_running_loop_joins_it(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 1000, "pass_through": True, "path": WALLET})
    registrar = pr.Registrar(**options(dds.url))
    registrar.start()
    try:
        in_flight(dds)
        assert registrar.register_once() == "registered"  # no error
        assert registrar.is_running
    finally:
        registrar.stop()
    assert len(requests_to(dds, WALLET)) == 1


@pytest.mark.asyncio
async def test_register_once_next_to_a_running_loop_joins_it_async(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 1000, "pass_through": True, "path": WALLET})
    registrar = pr.AsyncRegistrar(**options(dds.url))
    registrar.start()
    try:
        assert await registrar.register_once() == "registered"
        assert registrar.is_running
    finally:
        await registrar.stop()
    assert len(requests_to(dds, WALLET)) == 1


# --- the loop ----------------------------------------------------------------


def test_run_twice_is_an_error(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds.url))
    registrar.start()
    try:
        with pytest.raises(pr.StateError, match="already running"):
            registrar.start()
        with pytest.raises(pr.StateError, match="already running"):
            registrar.run_forever()
        assert registrar.is_running  # the first loop is untouched
    finally:
        registrar.stop()
    assert not registrar.is_running
    registrar.start()  # stopped, it can run again
    registrar.stop()


@pytest.mark.asyncio
async def test_run_twice_is_an_error_async(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds.url))
    registrar.start()
    try:
        with pytest.raises(pr.StateError, match="already running"):
            registrar.start()
        with pytest.raises(pr.StateError, match="already running"):
            await registrar.run_forever()
        assert registrar.is_running
    finally:
        await registrar.stop()
    assert not registrar.is_running


def test_stop_during_an_attempt(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 20000, "path": WALLET})
    registrar = pr.Registrar(**options(dds.url, request_timeout=60))
    registrar.start()
    errors: list = []

    def attempt() -> None:
        try:
            registrar.register_once()
        except pr.StateError as error:
            errors.append(error)

    waiting = threading.Thread(target=attempt)
    waiting.start()
    in_flight(dds)
    started = time.monotonic()
    registrar.stop()
    waiting.join(5)
    assert time.monotonic() - started < 5
    assert not registrar.is_running
    [error] = errors
    assert "stopped" in str(error)


@pytest.mark.asyncio
async def test_cancel_register_once(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 60000, "path": WALLET})
    registrar = pr.AsyncRegistrar(**options(dds.url, request_timeout=120))
    task = asyncio.ensure_future(registrar.register_once())
    deadline = time.monotonic() + 10
    while dds.readout()["faults_queued"] != 0:
        assert time.monotonic() < deadline, "the request never reached the DDS"
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    assert await asyncio.wait_for(registrar.register_once(), timeout=10) == "registered"
    assert time.monotonic() - started < 5


def test_register_again_rearms_a_running_registrar(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds.url))
    registrar.start()
    try:
        assert registrar.wait_until_registered(timeout=20)
        assert len(dds.accepted(WALLET)) == 1
        registrar.register_again()
        wait_for(lambda: len(dds.accepted(WALLET)) == 2, what="a second registration")
        assert registrar.is_running
        assert registrar.wait_until_registered(timeout=20)
    finally:
        registrar.stop()


@pytest.mark.asyncio
async def test_register_again_rearms_a_running_registrar_async(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds.url))
    async with registrar:
        assert await registrar.wait_until_registered(timeout=20)
        registrar.register_again()
        deadline = time.monotonic() + 15
        while len(dds.accepted(WALLET)) < 2:
            assert time.monotonic() < deadline, "no second registration"
            await asyncio.sleep(0.05)
        assert registrar.is_running


def test_retry_after_zero_keeps_the_backoff(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    dds.faults({"status": 503, "retry_after": "0", "path": WALLET})
    registrar = pr.Registrar(**options(dds.url))
    registrar.start()
    try:
        assert registrar.wait_until_registered(timeout=20)
    finally:
        registrar.stop()
    [failure] = events(caplog, "registration.error")
    [success] = events(caplog, "registration.success")
    assert failure.retry_in_ms >= 1600
    assert success.created - failure.created >= 1.6
    assert [r["status"] for r in requests_to(dds, WALLET)] == [503, 200]


# --- configuration -------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, -1, -0.5])
def test_zero_or_negative_timeout_is_refused(timeout: float) -> None:
    for cls in (pr.Registrar, pr.AsyncRegistrar):
        with pytest.raises(pr.ConfigError) as info:
            cls(**options("http://127.0.0.1:9", request_timeout=timeout))
        assert str(info.value) == "request timeout must be greater than zero"


@pytest.mark.parametrize("secret", ["s", "abc"])
def test_short_credentials_are_refused(secret: str) -> None:
    for cls in (pr.Registrar, pr.AsyncRegistrar):
        with pytest.raises(pr.ConfigError) as info:
            cls(**options("http://127.0.0.1:9", registration_secret=secret))
        assert str(info.value) == "registration credentials must be at least 4 bytes"
    pr.Registrar(**options("http://127.0.0.1:9", registration_secret="abcd"))


@pytest.mark.parametrize("interval", [0, -1, 0.5, 0.999])
def test_interval_under_a_second_is_refused(interval: float) -> None:
    for cls in (pr.Registrar, pr.AsyncRegistrar):
        with pytest.raises(pr.ConfigError) as info:
            cls(**options("http://127.0.0.1:9", interval=interval))
        assert str(info.value) == "registration interval must be at least 1 second"
    pr.Registrar(**options("http://127.0.0.1:9", interval=1))  # one second is enough


def test_wallet_is_the_default_flow(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds.url))
    assert registrar.flow == "wallet" and registrar.node_url is None
    assert "flow='wallet'" in repr(registrar)
    assert registrar.register_once() == "registered"
    assert len(dds.accepted(WALLET)) == 1 and requests_to(dds, LEGACY) == []
    legacy = pr.Registrar(**options(dds.url, flow="legacy", node_url="http://127.0.0.1:9"))
    assert legacy.flow == "legacy" and legacy.node_url == "http://127.0.0.1:9"


def test_wallet_config_with_a_node_url_is_refused() -> None:
    for changes in (dict(node_url="http://127.0.0.1:9"), dict(flow="wallet", node_url="http://127.0.0.1:9")):
        with pytest.raises(pr.ConfigError, match="the wallet flow takes no node URL"):
            pr.Registrar(**options("http://127.0.0.1:9", **changes))
        with pytest.raises(pr.ConfigError, match="the wallet flow takes no node URL"):
            pr.AsyncRegistrar(**options("http://127.0.0.1:9", **changes))
    with pytest.raises(pr.ConfigError, match="the legacy flow needs a node URL"):
        pr.Registrar(**options("http://127.0.0.1:9", flow="legacy"))


# --- state -------------------------------------------------------------------------


def test_failed_save_is_reported(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    class FailingStore:
        def load(self) -> Optional[bytes]:
            return None

        def save(self, data: bytes) -> None:
            raise OSError("disk full")

    registrar = pr.Registrar(**options(dds.url, state=FailingStore()))
    assert registrar.register_once() == "registered"  # registering does not depend on persisting
    [first, *_] = events(caplog, "state.save.error")
    assert first.levelno == logging.WARNING
    assert "OSError: disk full" in first.getMessage()


def test_corrupt_state_is_set_aside(dds: Dds, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b'{"status": "registered", "last_health_check_ms": "oops"')
    registrar = pr.Registrar(**options(dds.url, state=state))
    [record] = events(caplog, "state.corrupt")
    assert record.levelno == logging.WARNING and str(state) in record.getMessage()
    # The store says where the bytes went: the record's field and its message.
    assert record.moved_to == str(tmp_path / "state.json.corrupt") in record.getMessage()
    assert registrar.state_error is not None and "corrupt" in registrar.state_error
    assert (tmp_path / "state.json.corrupt").exists()
    assert registrar.register_once() == "registered"  # afresh
    assert json.loads(state.read_bytes())["status"] == "registered"
    assert len(dds.accepted(WALLET)) == 1


# --- what the network says -------------------------------------------------------


class LocalServer:
    """A stdlib HTTP server on loopback answering every POST with `answer(body)`
    -> (status, headers, body), and recording what it received."""

    def __init__(self, answer) -> None:
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append((self.path, body))
                status, headers, payload = answer(body)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def local_servers() -> Iterator[list]:
    servers: list = []
    yield servers
    for server in servers:
        server.close()


def test_redirect_is_not_followed(local_servers: list) -> None:
    target = LocalServer(lambda body: (200, [], b"{}"))
    local_servers.append(target)
    location = "http://localhost:%d/internal/v1/nodes/register" % target.port
    redirecting = LocalServer(lambda body: (307, [("location", location)], b""))
    local_servers.append(redirecting)
    for flow in ({}, dict(flow="legacy", node_url="http://127.0.0.1:9")):
        registrar = pr.Registrar(**options(redirecting.url, **flow))
        with pytest.raises(pr.DdsRejectedError) as info:
            registrar.register_once()
        assert info.value.status == 307
        assert "redirect to host localhost" in str(info.value)
    assert target.received == []  # the other host received nothing
    assert len(redirecting.received) == 2


def test_echoed_secret_is_redacted(local_servers: list, caplog: pytest.LogCaptureFixture) -> None:
    echo = LocalServer(lambda body: (422, [("content-type", "application/json")], body))
    local_servers.append(echo)
    key, secret = new_key(), new_secret()
    key_hex = key.to_bytes().hex()
    registrar = pr.Registrar(**options(echo.url, flow="legacy", node_url="http://127.0.0.1:9",
                                       private_key=key, registration_secret=secret))
    with pytest.raises(pr.DdsRejectedError) as info:
        registrar.register_once()
    [(_, sent)] = echo.received
    assert json.loads(sent)["registration_credentials"] == secret  # and it was echoed back
    error = info.value
    assert error.status == 422
    texts = [str(error), repr(error), repr(error.args), repr(registrar)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(vars(r)) for r in caplog.records]
    assert events(caplog, "registration.error")
    for text in texts:
        assert secret not in text and json.dumps(secret)[1:-1] not in text
        assert key_hex not in text.lower()
