"""AsyncRegistrar (asyncio) against the conformance DDS, including cancellation."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import posemesh_registration as pr

from conftest import Dds, NodeServer, events, new_key, new_secret

CAPABILITIES = ["/reconstruction/global-refinement/v1"]


def make(dds: Dds, node_url: str | None = "http://127.0.0.1:9", **kwargs) -> pr.AsyncRegistrar:
    options = dict(
        dds_url=dds.url,
        node_url=node_url,
        flow="legacy",
        node_version="2.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    options.update(kwargs)
    return pr.AsyncRegistrar(**options)


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def python_threads() -> set:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_register_once(dds: Dds) -> None:
    key = new_key()
    registrar = make(dds, private_key=key)
    result = await registrar.register_once()
    assert result == "registered"
    assert registrar.status == "registered"
    [entry] = dds.accepted()
    assert entry["public_key"] == key.public_key_hex and entry["version"] == "2.0.0"


@pytest.mark.asyncio
async def test_register_once_wallet_and_errors(dds: Dds) -> None:
    registrar = make(dds, node_url=None, flow="wallet")
    await registrar.register_once()
    assert registrar.status == "registered"
    # Registered, a call adopts; register_again() makes the next call go to the DDS.
    assert await registrar.register_once() == "adopted"
    registrar.register_again()
    dds.faults({"status": 409})
    with pytest.raises(pr.ConflictError) as info:
        await registrar.register_once()
    assert info.value.status == 409
    dds.faults({"status": 502, "retry_after": "5"})
    with pytest.raises(pr.DdsRejectedError) as rejected:
        await registrar.register_once()
    assert (rejected.value.status, rejected.value.retry_after) == (502, 5.0)


@pytest.mark.asyncio
async def test_concurrent_register_once_calls_share_one_attempt(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 1000, "pass_through": True})
    registrar = make(dds)
    started = time.monotonic()
    results = await asyncio.gather(registrar.register_once(), registrar.register_once())
    assert time.monotonic() - started >= 0.9
    assert results == ["registered", "registered"]
    received = dds.readout()["received"]
    assert [r["accepted"] for r in received] == [True]
    # While the loop runs, a one-off call joins it instead of failing.
    registrar.start()
    try:
        assert await registrar.register_once() in ("registered", "adopted")
    finally:
        await registrar.stop()


@pytest.mark.asyncio
async def test_cancel_mid_request_leaks_nothing(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    registrar = make(dds, request_timeout=120)
    await registrar.register_once()  # warm up the runtime and connection pool
    threads_before, py_threads_before = os_threads(), python_threads()

    for _ in range(5):
        dds.faults({"status": 200, "delay_ms": 60000})
        registrar.register_again()  # registered: without it, the call adopts
        task = asyncio.ensure_future(registrar.register_once())
        # The DDS takes the fault when this request arrives: then it is in flight.
        deadline = time.monotonic() + 10
        while dds.readout()["faults_queued"] != 0:
            assert time.monotonic() < deadline, "the request never reached the DDS"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Clean state: not stuck on the abandoned request, not "running".
        assert not registrar.is_running
        dds.clear_faults()
        started = time.monotonic()
        await asyncio.wait_for(registrar.register_once(), timeout=10)
        assert time.monotonic() - started < 5
        assert registrar.status == "registered"

    await asyncio.sleep(0.5)
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()
    assert python_threads() == py_threads_before
    # Five cancellations did not leave a thread each behind.
    assert os_threads() <= threads_before + 2
    # Each cancellation was reported to the registrar (the event's name is the core's business).
    abandoned = [r for r in events(caplog) if "abandoned" in r.getMessage()]
    assert len(abandoned) == 5


@pytest.mark.asyncio
async def test_wait_for_timeout_cancels_cleanly(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 60000})
    registrar = make(dds)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(registrar.register_once(), timeout=0.5)
    dds.clear_faults()
    await asyncio.wait_for(registrar.register_once(), timeout=10)


@pytest.mark.asyncio
async def test_async_with_and_asgi_app_on_uvicorn(dds: Dds, node_server: NodeServer) -> None:
    registrar = make(dds, node_url=node_server.url, interval=5)
    server_task = await node_server.serve_in_task(registrar.asgi_app())
    try:
        async with registrar as running:
            assert running is registrar
            assert registrar.is_running
            assert await registrar.wait_until_registered(timeout=20)
            deadline = time.monotonic() + 15
            while not (dds.readout()["health_probes"] and registrar.credentials):
                assert time.monotonic() < deadline, "no callback/probe reached the node"
                await asyncio.sleep(0.1)
            readout = dds.readout()
            assert readout["callbacks"][0]["status"] == 200
            assert registrar.credentials.secret in readout["issued_secrets"]
        assert not registrar.is_running
    finally:
        node_server.server.should_exit = True
        await server_task


@pytest.mark.asyncio
async def test_run_forever_is_cancellable(dds: Dds) -> None:
    registrar = make(dds)
    task = asyncio.ensure_future(registrar.run_forever())
    assert await registrar.wait_until_registered(timeout=20)
    assert registrar.is_running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert not registrar.is_running


@pytest.mark.asyncio
async def test_start_and_stop(dds: Dds) -> None:
    registrar = make(dds)
    registrar.start()
    with pytest.raises(pr.StateError):
        registrar.start()
    assert await registrar.wait_until_registered(timeout=20)
    assert await registrar.wait_until_registered(timeout=0) is True
    await registrar.stop()
    assert not registrar.is_running
    await registrar.stop()  # idempotent


@pytest.mark.asyncio
async def test_wait_until_registered_times_out(dds: Dds) -> None:
    dds.faults(*[{"status": 503}] * 5)
    registrar = make(dds)
    started = time.monotonic()
    assert await registrar.wait_until_registered(timeout=0.3) is False
    assert 0.25 <= time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_awaited_results_never_wait_on_the_task_handing_them_over(dds: Dds) -> None:
    # Two calls hand results over at once (a status stream's next status and an
    # attempt's outcome), each from a runtime thread that must take the GIL to
    # do so. Finishing one awaitable must not wait, holding the GIL, for a task
    # still handing its result over: each such wait stalled for the wind-down limit.
    registrar = make(dds, node_url=None, flow="wallet")
    seen: list = []

    async def follow() -> None:
        async for status in registrar.statuses():
            seen.append(status)

    async def attempts() -> None:
        for _ in range(10):
            registrar.register_again()
            assert await registrar.register_once() == "registered"

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(attempts(), 8)
    await registrar.stop()
    await asyncio.wait_for(follower, 5)
    assert seen.count("registered") == 10
