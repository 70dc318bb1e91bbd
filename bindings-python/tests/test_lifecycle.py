"""What Python developers expect of the process around a registrar: a clean
interpreter exit whatever was cancelled or left running, coroutines that asyncio
accepts, and registrars that work in a forked child."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

import posemesh_registration as pr

from conftest import Dds, new_key, new_secret

CAPABILITIES = ["/reconstruction/global-refinement/v1"]

# Run to its end by a child interpreter: pytest keeps this interpreter alive,
# so a crash while the interpreter finalizes only shows in a child.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import posemesh_registration as pr

    url, case = sys.argv[1], sys.argv[2]

    def options():
        return dict(dds_url=url, node_version="1.0.0", capabilities=["/c/v1"],
                    registration_secret="child-" + pr.PrivateKey.generate().eth_address,
                    private_key=pr.PrivateKey.generate(), request_timeout=60)

    async def main():
        registrar = pr.AsyncRegistrar(**options())
        if case == "register_once":
            try:
                await asyncio.wait_for(registrar.register_once(), 0.5)
            except asyncio.TimeoutError:
                pass
        elif case == "run_forever":
            try:
                await asyncio.wait_for(registrar.run_forever(), 0.5)
            except asyncio.TimeoutError:
                pass
        elif case == "running":
            registrar.start()
            pr.Registrar(**options()).start()
            await asyncio.sleep(0.5)
        elif case == "pending_task":
            # Still waiting for the DDS when asyncio.run() cancels it.
            asyncio.get_running_loop().create_task(registrar.register_once())
            await asyncio.sleep(0.5)

    if case.startswith("daemon_"):
        # A daemon thread blocked in a call when the main thread ends.
        import threading, time
        registrar = pr.Registrar(**options())
        call = registrar.register_once if case == "daemon_register_once" else registrar.run_forever

        def run():
            try:
                call()
            except pr.RegistrationError:
                pass

        threading.Thread(target=run, daemon=True).start()
        time.sleep(0.5)
    else:
        asyncio.run(main())
    """
)


def exits_cleanly(dds: Dds, case: str, runs: int = 5) -> None:
    for run in range(runs):
        # The DDS answers in 3 s: the child exits while its requests are in flight.
        dds.faults(*[{"status": 200, "delay_ms": 3000}] * 4)
        result = subprocess.run(
            [sys.executable, "-c", CHILD, dds.url, case],
            capture_output=True,
            text=True,
            timeout=60,
        )
        dds.clear_faults()
        assert "Fatal Python error" not in result.stderr, result.stderr
        assert result.returncode == 0, f"run {run}: exit code {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr


def test_exit_after_cancelled_register_once_does_not_crash(dds: Dds) -> None:
    exits_cleanly(dds, "register_once")


def test_exit_after_cancelled_run_forever_does_not_crash(dds: Dds) -> None:
    exits_cleanly(dds, "run_forever")


def test_exit_with_registrars_running_does_not_crash(dds: Dds) -> None:
    exits_cleanly(dds, "running")


def test_exit_with_a_pending_register_once_task_does_not_crash(dds: Dds) -> None:
    exits_cleanly(dds, "pending_task")


def test_exit_with_daemon_threads_in_blocking_calls_does_not_crash(dds: Dds) -> None:
    exits_cleanly(dds, "daemon_register_once", runs=3)
    exits_cleanly(dds, "daemon_run_forever", runs=3)


def make(dds: Dds, **kwargs) -> pr.AsyncRegistrar:
    options = dict(
        dds_url=dds.url,
        node_version="2.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    options.update(kwargs)
    return pr.AsyncRegistrar(**options)


@pytest.mark.asyncio
async def test_async_methods_are_coroutines_for_create_task(dds: Dds) -> None:
    registrar = make(dds)
    once = registrar.register_once()
    assert asyncio.iscoroutine(once)
    assert await asyncio.create_task(once) == "registered"
    for awaitable in (registrar.wait_until_registered(timeout=1), registrar.stop()):
        assert asyncio.iscoroutine(awaitable)
        await asyncio.create_task(awaitable)


@pytest.mark.asyncio
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
async def test_async_methods_work_in_a_task_group(dds: Dds) -> None:
    registrar = make(dds)
    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
        first = group.create_task(registrar.register_once())
        second = group.create_task(registrar.wait_until_registered(timeout=10))
    assert first.result() == "registered" and second.result() is True


@pytest.mark.asyncio
async def test_register_once_never_awaited_sends_nothing(dds: Dds) -> None:
    registrar = make(dds)
    never_awaited = registrar.register_once()
    await asyncio.sleep(0.3)
    assert dds.readout()["received"] == []
    assert registrar.status == "disconnected"
    never_awaited.close()


@pytest.mark.asyncio
async def test_cancelled_run_forever_has_ended_once_the_cancellation_is_awaited(dds: Dds) -> None:
    registrar = make(dds)
    task = asyncio.create_task(registrar.run_forever())
    assert await registrar.wait_until_registered(timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # No sleep: the loop has ended by now.
    assert not registrar.is_running
    assert await registrar.register_once() == "adopted"
    registrar.start()  # not "already running"
    await registrar.stop()
    # The same with the request in flight (the DDS answers in 60 s).
    registrar.register_again()
    dds.faults({"status": 200, "delay_ms": 60000})
    task = asyncio.create_task(registrar.run_forever())
    deadline = time.monotonic() + 10
    while dds.readout()["faults_queued"] != 0:
        assert time.monotonic() < deadline, "the request never reached the DDS"
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not registrar.is_running
    dds.clear_faults()
    assert await asyncio.wait_for(registrar.register_once(), 10) == "registered"


def wait_child(pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def fork() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork with threads
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_registrar_works_in_a_forked_child(dds: Dds) -> None:
    options = dict(dds_url=dds.url, node_version="2.0.0", capabilities=CAPABILITIES,
                   registration_secret=new_secret())
    parent = pr.Registrar(private_key=new_key(), **options)
    assert parent.register_once() == "registered"  # the runtime and its threads exist
    child_key = new_key()
    pid = fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            blocking = pr.Registrar(private_key=child_key, **options)
            code = 2
            if blocking.register_once() == "registered":
                code = 3

                async def main() -> str:
                    return await make(dds).register_once()

                if asyncio.run(main()) == "registered":
                    code = 0
        finally:
            os._exit(code)
    assert wait_child(pid) == 0
    addresses = [entry["address"] for entry in dds.accepted("/internal/v1/nodes/register-wallet")]
    assert child_key.eth_address in addresses and len(addresses) == 3
    # The parent carries on.
    parent.register_again()
    assert parent.register_once() == "registered"
