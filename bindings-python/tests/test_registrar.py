"""The blocking Registrar against the conformance DDS over loopback HTTP."""

from __future__ import annotations

import math
import os
import threading
import time

import pytest

import posemesh_registration as pr

from conftest import Dds, NodeServer, events, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]


def make(dds: Dds, node_url: str | None = "http://127.0.0.1:9", **kwargs) -> pr.Registrar:
    options = dict(
        dds_url=dds.url,
        node_url=node_url,
        flow="legacy",
        node_version="1.2.3",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    options.update(kwargs)
    return pr.Registrar(**options)


def test_register_once_legacy(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    registrar = make(dds, private_key=key)
    assert registrar.status == "disconnected"
    registrar.register_once()
    assert registrar.status == "registered"
    [entry] = dds.accepted()
    assert entry["public_key"] == key.public_key_hex
    assert entry["node_url"] == "http://127.0.0.1:9"
    assert entry["version"] == "1.2.3"
    assert entry["capabilities"] == CAPABILITIES
    names = [r.event for r in events(caplog)]
    assert "registration.success" in names
    assert "status.transition" in names
    success = events(caplog, "registration.success")[0]
    assert success.getMessage().startswith("registration.success: ")
    assert success.levelname == "INFO"


def test_register_once_wallet(dds: Dds) -> None:
    key = new_key()
    registrar = make(dds, node_url=None, flow="wallet", private_key=key)
    registrar.register_once()
    assert registrar.status == "registered"
    [entry] = dds.accepted("/internal/v1/nodes/register-wallet")
    assert entry["address"] == key.eth_address
    assert entry["capabilities"] == CAPABILITIES
    assert len(dds.accepted("/internal/v1/auth/siwe/request")) == 1


def test_conflict_raises_conflict_error(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    dds.faults({"status": 409, "body": "node already registered elsewhere"})
    registrar = make(dds)
    with pytest.raises(pr.ConflictError) as info:
        registrar.register_once()
    error = info.value
    assert isinstance(error, pr.DdsRejectedError) and isinstance(error, pr.RegistrationError)
    assert error.status == 409 and error.kind == "conflict"
    assert "409" in str(error) and "node already registered elsewhere" in str(error)
    assert registrar.status != "registered"
    assert events(caplog, "registration.conflict")
    # The registrar is idle again: the next attempt goes through.
    registrar.register_once()
    assert registrar.status == "registered"


@pytest.mark.parametrize(
    "status,kind", [(503, "retry_fast"), (429, "retry_fast"), (400, "retry_later"), (403, "retry_later")]
)
def test_error_statuses_raise_dds_rejected(dds: Dds, status: int, kind: str) -> None:
    dds.faults({"status": status, "retry_after": "7"})
    with pytest.raises(pr.DdsRejectedError) as info:
        make(dds).register_once()
    assert not isinstance(info.value, pr.ConflictError)
    assert (info.value.status, info.value.kind, info.value.retry_after) == (status, kind, 7.0)


def test_empty_registration_secret_is_refused_before_any_request(dds: Dds) -> None:
    """The core refuses it (the DDS would answer 403): nothing is sent."""
    with pytest.raises(pr.ConfigError, match="registration credentials must not be empty"):
        make(dds, registration_secret="")
    assert dds.readout()["received"] == []


def test_unreachable_dds_raises_transport_error() -> None:
    # A port that was just free: nothing listens there.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    registrar = pr.Registrar(
        dds_url="http://127.0.0.1:%d" % port,
        node_url="http://127.0.0.1:9",
        flow="legacy",
        node_version="1.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    with pytest.raises(pr.TransportError) as info:
        registrar.register_once()
    assert isinstance(info.value, ConnectionError)
    assert info.value.kind == "retry_fast"


def test_dropped_connection_and_non_utf8_body(dds: Dds) -> None:
    dds.faults({"status": 200, "drop": True})
    with pytest.raises(pr.TransportError):
        make(dds).register_once()
    dds.faults({"status": 500, "non_utf8": True})
    with pytest.raises(pr.DdsRejectedError) as info:
        make(dds).register_once()
    assert info.value.status == 500 and "\ufffd" in str(info.value)


def test_loop_until_registered_with_asgi_app_on_uvicorn(
    dds: Dds, node_server: NodeServer, caplog: pytest.LogCaptureFixture
) -> None:
    registrar = make(dds, node_url=node_server.url, interval=5)
    node_server.serve_in_thread(registrar.asgi_app())
    registrar.start()
    try:
        assert registrar.is_running
        assert registrar.wait_until_registered(timeout=20)
        # The DDS called back with id and secret, and its health probes reach the node.
        readout = wait_for(
            lambda: (r := dds.readout())["callbacks"] and r["health_probes"] and r,
            what="callback and health probe",
        )
        [callback] = readout["callbacks"]
        assert callback["status"] == 200 and callback["node_url"] == node_server.url
        assert all(p["status"] == 200 for p in readout["health_probes"])
        credentials = wait_for(lambda: registrar.credentials, what="credentials")
        assert credentials.id == callback["id"]
        assert credentials.organization_id == "mock-org"
        assert credentials.secret in readout["issued_secrets"]
        assert "secret=<redacted>" in repr(credentials)
        wait_for(lambda: events(caplog, "healthcheck.touch"), what="health check event")
        assert events(caplog, "registration.callback")
        with pytest.raises(pr.StateError, match="already running"):
            registrar.start()
        # Next to the running loop, register_once joins it instead of failing.
        assert registrar.register_once() in ("registered", "adopted")
    finally:
        registrar.stop()
    assert not registrar.is_running
    assert registrar.status == "registered"


def test_context_manager_runs_the_loop(dds: Dds) -> None:
    with make(dds) as registrar:
        assert registrar.is_running
        assert registrar.wait_until_registered(timeout=0) is False
        assert registrar.wait_until_registered(timeout=20)
        assert registrar.wait_until_registered(timeout=0) is True
    assert not registrar.is_running


def test_outage_then_recovery_backs_off_exponentially(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    dds.faults(*[{"status": 503, "path": "/internal/v1/nodes/register"}] * 3)
    registrar = make(dds, seed=7)
    started = time.monotonic()
    registrar.start()
    try:
        assert registrar.wait_until_registered(timeout=40)
    finally:
        registrar.stop()
    elapsed = time.monotonic() - started
    failures = events(caplog, "registration.error")
    assert [r.attempt for r in failures] == [1, 2, 3]
    assert [r.status for r in failures] == ["503 Service Unavailable"] * 3
    # min(2^n, 60) s with ±20 % jitter.
    for record, base in zip(failures, (2, 4, 8)):
        assert 800 * base <= record.retry_in_ms <= 1200 * base
    assert elapsed >= 1 + sum(0.8 * b for b in (2, 4, 8)) - 0.5
    received = dds.readout()["received"]
    assert [r["status"] for r in received] == [503, 503, 503, 200]
    assert events(caplog, "registration.success")


def test_retry_after_is_honoured(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    dds.faults({"status": 503, "retry_after": "3"})
    registrar = make(dds)
    registrar.start()
    try:
        failed_at = wait_for(lambda: events(caplog, "registration.error") and time.monotonic(),
                             what="the first failure")
        assert registrar.wait_until_registered(timeout=15)
        registered_at = time.monotonic()
    finally:
        registrar.stop()
    [failure] = events(caplog, "registration.error")
    # Retry-After (3 s) is later than the first backoff (1.6 to 2.4 s): it wins, plus up to 1 s of spread.
    assert 3000 <= failure.retry_in_ms < 4000
    assert registered_at - failed_at >= 2.9


def test_max_retry_pauses_for_the_interval(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    dds.faults({"status": 503}, {"status": 503})
    registrar = make(dds, interval=1, max_retry=1)
    registrar.start()
    try:
        assert registrar.wait_until_registered(timeout=15)
    finally:
        registrar.stop()
    assert len(events(caplog, "registration.max_retry_reached")) == 2
    assert all(r.retry_in_ms == 1000 for r in events(caplog, "registration.error"))


def test_stop_mid_request_leaves_a_clean_registrar(dds: Dds) -> None:
    dds.faults({"status": 200, "delay_ms": 20000})
    registrar = make(dds, request_timeout=60)
    registrar.start()
    wait_for(lambda: dds.readout()["max_concurrent"] >= 1, what="the request to be in flight")
    started = time.monotonic()
    registrar.stop()
    assert time.monotonic() - started < 5
    assert not registrar.is_running
    dds.clear_faults()
    started = time.monotonic()
    registrar.register_once()  # not stuck behind the abandoned request's 60 s timeout
    assert time.monotonic() - started < 5
    assert registrar.status == "registered"


def test_run_forever_until_stopped_from_another_thread(dds: Dds) -> None:
    registrar = make(dds)
    errors: list = []

    def run() -> None:
        try:
            registrar.run_forever()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert registrar.wait_until_registered(timeout=20)
    assert registrar.is_running
    registrar.stop()
    thread.join(10)
    assert not thread.is_alive() and errors == []


def test_started_loop_survives_losing_the_reference(dds: Dds) -> None:
    """Like a started thread, a started loop keeps running without a reference,
    until stopped (here: the same hook interpreter exit uses, minus silencing logs)."""
    import gc

    from posemesh_registration import _native

    registrar = make(dds)
    registrar.start()
    del registrar
    gc.collect()
    wait_for(lambda: dds.accepted(), timeout=20, what="a registration from the unreferenced registrar")
    assert _native._stop_all() == 1
    assert _native._stop_all() == 0


def test_gil_is_released_while_waiting(dds: Dds) -> None:
    """Other Python threads keep running while register_once() waits on the DDS."""
    dds.faults({"status": 200, "delay_ms": 1500, "pass_through": True})
    registrar = make(dds)
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        registrar.register_once()
    finally:
        done.set()
        counter.join()
    assert ticks > 200  # ~1500 if the GIL is free; 0-1 if it were held


def test_ctrl_c_interrupts_a_blocking_call(dds: Dds, tmp_path) -> None:
    import signal
    import subprocess
    import sys

    dds.faults({"status": 200, "delay_ms": 30000})
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import signal, sys, posemesh_registration as pr\n"
        # What a shell gives a program it starts: Ctrl-C neither ignored nor
        # blocked, whatever this test process inherited (both pass through exec).
        "print('inherited', signal.getsignal(signal.SIGINT),\n"
        "      signal.pthread_sigmask(signal.SIG_BLOCK, []), file=sys.stderr, flush=True)\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])\n"
        "r = pr.Registrar(dds_url=sys.argv[1], node_url='http://127.0.0.1:9', flow='legacy', node_version='1',\n"
        "                 capabilities=['/c'], registration_secret='s3cret', private_key=pr.PrivateKey.generate())\n"
        "print('waiting', flush=True)\n"
        "try:\n"
        "    r.register_once()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', r.status, r.is_running, flush=True)\n"
        "    sys.exit(3)\n"
    )
    # faulthandler: if the child hangs, SIGABRT makes it print every thread's stack.
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    process = subprocess.Popen([sys.executable, str(script), dds.url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == "waiting"
    wait_for(lambda: dds.readout()["faults_queued"] == 0, what="the request to reach the DDS")
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _, stderr = process.communicate(timeout=10)
        pytest.fail(f"the child did not exit within 10 s of SIGINT; its threads:\n{stderr}")
    assert code == 3, process.stderr.read()
    assert time.monotonic() - started < 3
    # The abandoned attempt left nothing registering.
    assert process.stdout.read().split() == ["interrupted", "disconnected", "False"]


def test_extreme_arguments_do_not_crash(dds: Dds) -> None:
    registrar = make(dds, interval=1e18, request_timeout=1e18, seed=2**64 - 1, max_retry=2**32 - 1)
    registrar.register_once()
    assert registrar.status == "registered"
    with pytest.raises(pr.ConfigError):
        make(dds, max_retry=2**32)
    with pytest.raises(OverflowError):
        make(dds, seed=2**64)
    # Beyond a year is a year (the core's rule for seconds from a binding); infinity is no number.
    make(dds, interval=1e300)
    with pytest.raises(pr.ConfigError, match="request_timeout must be a finite number of seconds"):
        make(dds, request_timeout=math.inf)
    with pytest.raises(pr.ConfigError, match="^timeout must be a finite number of seconds$"):
        registrar.wait_until_registered(timeout=math.nan)
    assert registrar.handle_node_request("\u00e9\x00", "/\x00" * 1000, [("\u00e9", "\u00e9")], b"\xff")[0] == 404


def test_interpreter_exits_cleanly_with_a_running_loop(dds: Dds, tmp_path) -> None:
    """A started loop (and a DDS that is slow to answer) does not hold up or crash exit."""
    import subprocess
    import sys

    dds.faults({"status": 200, "delay_ms": 30000})
    script = tmp_path / "exiting.py"
    script.write_text(
        "import logging, sys, posemesh_registration as pr\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "r = pr.Registrar(dds_url=sys.argv[1], node_url='http://127.0.0.1:9', flow='legacy', node_version='1',\n"
        "                 capabilities=['/c'], registration_secret='s3cret', private_key=pr.PrivateKey.generate())\n"
        "r.start()\n"
        "import time; time.sleep(1.5)\n"
        "print('exiting', flush=True)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script), dds.url], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exiting"
    assert time.monotonic() - started < 10
    assert "Fatal" not in result.stderr and "panic" not in result.stderr.lower()
    assert "registration.loop.start" in result.stderr
