"""`async for status in registrar.statuses()` and a `status` that is never stale."""

from __future__ import annotations

import asyncio

import pytest

import posemesh_registration as pr

from conftest import Dds, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]


def options(dds: Dds, **kwargs: object) -> dict:
    result = dict(dds_url=dds.url, node_version="2.0.0", capabilities=CAPABILITIES,
                  registration_secret=new_secret(), private_key=new_key())
    result.update(kwargs)
    return result


async def collect(registrar: pr.AsyncRegistrar, into: list) -> None:
    async for status in registrar.statuses():
        into.append(status)


@pytest.mark.asyncio
async def test_statuses_follow_transitions_and_end_on_stop(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds))
    seen: list = []
    follower = asyncio.create_task(collect(registrar, seen))
    await asyncio.sleep(0.05)
    async with registrar:
        assert await registrar.wait_until_registered(timeout=20)
    await asyncio.wait_for(follower, 5)  # ended by stop()
    assert seen == ["disconnected", "registering", "registered"]


@pytest.mark.asyncio
async def test_statuses_start_with_the_current_status(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds))
    assert await registrar.register_once() == "registered"
    statuses = registrar.statuses()
    assert await statuses.__anext__() == "registered"
    await registrar.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(statuses.__anext__(), 5)


@pytest.mark.asyncio
async def test_status_is_not_registering_after_a_failed_register_once(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds))
    seen: list = []
    follower = asyncio.create_task(collect(registrar, seen))
    await asyncio.sleep(0.05)
    dds.faults({"status": 503})
    with pytest.raises(pr.DdsRejectedError):
        await registrar.register_once()
    assert registrar.status == "disconnected"  # nothing retries it
    assert "registering" not in repr(registrar)
    await asyncio.sleep(0.1)
    assert seen == ["disconnected", "registering", "disconnected"]
    assert await registrar.register_once() == "registered"
    await asyncio.sleep(0.1)
    assert seen[-1] == "registered" and registrar.status == "registered"
    await registrar.stop()
    await asyncio.wait_for(follower, 5)


def test_blocking_status_is_not_registering_after_a_failed_register_once(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    dds.faults({"status": 502})
    with pytest.raises(pr.DdsRejectedError):
        registrar.register_once()
    assert registrar.status == "disconnected"


def test_status_is_not_registering_after_stop_while_retrying(dds: Dds) -> None:
    dds.faults(*[{"status": 503}] * 20)
    registrar = pr.Registrar(**options(dds))
    registrar.start()
    wait_for(lambda: dds.readout()["faults_queued"] < 20, what="a failed attempt")
    assert registrar.status == "registering"  # the loop retries
    registrar.stop()
    assert registrar.status == "disconnected"


@pytest.mark.asyncio
async def test_statuses_begun_after_stop_give_the_status_and_end(dds: Dds) -> None:
    registrar = pr.AsyncRegistrar(**options(dds))
    async with registrar:
        assert await registrar.wait_until_registered(timeout=20)
    seen: list = []
    await asyncio.wait_for(collect(registrar, seen), 5)
    assert seen == [registrar.status]
    async with registrar:  # a new loop: a new iterator follows it again
        follower = asyncio.create_task(collect(registrar, seen))
        assert await registrar.wait_until_registered(timeout=20)
        await asyncio.sleep(0.05)
        assert not follower.done()
    await asyncio.wait_for(follower, 5)  # ended by the second stop()
    assert seen[-1] == "registered" and len(seen) >= 2


def test_a_wait_until_registered_ends_when_stop_is_called(dds: Dds) -> None:
    import threading

    dds.faults(*[{"status": 503}] * 20)
    registrar = pr.Registrar(**options(dds))
    registrar.start()
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(registrar.wait_until_registered()))
    waiter.start()
    wait_for(lambda: dds.readout()["faults_queued"] < 20, what="a failed attempt")
    registrar.stop()
    waiter.join(10)
    assert result == [False], "stop() ends the wait, which says not registered"
